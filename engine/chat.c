/* chat: the chat wrappers of the two model families kvbench knows, as fixed strings (no jinja
 * engine): Llama-3 exactly as DESIGN §5 / KVCache-Factory writes it, and ChatML exactly as
 * SmolLM2-Instruct's chat_template renders one user message with add_generation_prompt=True
 * (its template injects a default system message when none is given; the golden
 * tests/data/smollm2_tokenizer_golden.jsonl comes from transformers' apply_chat_template). */
#include "engine/chat.h"

#include <stdio.h>
#include <string.h>

#include "util/util.h"

static const char LLAMA3_HEAD[] = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n";
static const char LLAMA3_TAIL[] = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
static const char CHATML_HEAD[] = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                                  "Hugging Face<|im_end|>\n<|im_start|>user\n";
static const char CHATML_TAIL[] = "<|im_end|>\n<|im_start|>assistant\n";

chat_format chat_detect(const tokenizer *t)
{
    const char *tmpl = tokenizer_chat_template(t);
    if (tmpl) {
        if (strstr(tmpl, "<|start_header_id|>")) return CHAT_LLAMA3;
        if (strstr(tmpl, "<|im_start|>")) return CHAT_CHATML;
        return CHAT_NONE;
    }
    /* No template: fall back on the family's special tokens. */
    if (tokenizer_token_id(t, "<|start_header_id|>") >= 0 && tokenizer_token_id(t, "<|eot_id|>") >= 0)
        return CHAT_LLAMA3;
    if (tokenizer_token_id(t, "<|im_start|>") >= 0 && tokenizer_token_id(t, "<|im_end|>") >= 0) return CHAT_CHATML;
    return CHAT_NONE;
}

char *chat_wrap(chat_format f, const char *prompt)
{
    const char *head = "", *tail = "";
    if (f == CHAT_LLAMA3) head = LLAMA3_HEAD, tail = LLAMA3_TAIL;
    else if (f == CHAT_CHATML) head = CHATML_HEAD, tail = CHATML_TAIL;
    size_t hl = strlen(head), pl = strlen(prompt), tl = strlen(tail);
    char *out = kv_malloc(hl + pl + tl + 1);
    memcpy(out, head, hl);
    memcpy(out + hl, prompt, pl);
    memcpy(out + hl + pl, tail, tl + 1);
    return out;
}

const char *chat_format_name(chat_format f)
{
    switch (f) {
    case CHAT_LLAMA3: return "llama3";
    case CHAT_CHATML: return "chatml";
    default: return "none";
    }
}

int chat_format_parse(const char *name, chat_format *out)
{
    static const chat_format all[] = {CHAT_NONE, CHAT_LLAMA3, CHAT_CHATML};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(name, chat_format_name(all[i]))) {
            *out = all[i];
            return KV_OK;
        }
    kv_seterr("unknown chat format '%s' (expected none, llama3 or chatml)", name);
    return KV_ERR;
}
