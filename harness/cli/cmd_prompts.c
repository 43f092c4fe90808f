/* cmd_prompts: `kvbench prompts` — the final prompt ids of a LongBench data file as the
 * reference builds them (template, optional chat wrapper, BOS, middle truncation), one JSONL line
 * per sample, streaming the input. --text prints the formatted prompt instead, for hashing. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/cli/commands.h"
#include "harness/cli/options.h"
#include "harness/longbench/longbench.h"

static int emit(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!s) return KV_ERR;
    puts(s);
    free(s);
    return KV_OK;
}

int cmd_prompts(int argc, char **argv)
{
    const char *task = NULL, *data = NULL, *tok_path = NULL, *chat_name = "none";
    int max_tokens = 0, text_only = 0;
    const cli_opt opts[] = {
        {"--task", "TASK", OPT_STR, &task, 0, "one of the 16 English LongBench tasks"},
        {"--data", "FILE", OPT_STR, &data, 0, "LongBench v1 JSONL (input, context, answers, length, dataset,\n"
                                              "language, all_classes, _id)"},
        {"--tokenizer", "PATH", OPT_STR, &tok_path, 0, "HF model folder, tokenizer.json or .gguf"},
        {"--chat", "none|llama3", OPT_STR, &chat_name, 0, "wrapper (default none; the reference wraps Llama-3.1/3.3 only)"},
        {"--max-prompt-tokens", "N", OPT_INT, &max_tokens, 1,
         "truncate the middle above N tokens, BOS counted (default: no limit;\n"
         "the reference uses 7950 for Llama-3-8B, 127500 for 3.1/3.3)"},
        {"--text", NULL, OPT_FLAG, &text_only, 0, "print {\"index\", \"_id\", \"text\"}: the prompt text before tokenizing"},
        {0},
    };
    const cli_spec spec = {
        .name = "prompts",
        .usage = "kvbench prompts --task TASK --data FILE.jsonl --tokenizer PATH [--chat none|llama3]\n"
                 "                       [--max-prompt-tokens N] [--text]",
        .about = "Prints {\"index\", \"_id\", \"ids\", \"add_bos\"} per sample: the final prompt ids after the task\n"
                 "template, the chat wrapper and the reference's middle truncation, tokenised with the\n"
                 "tokenizer's own special-token setting (add_bos: whether it prepended BOS; Llama-3 does,\n"
                 "SmolLM2 does not). Standard error names where that setting came from.",
        .opts = opts,
    };
    int prc = cli_parse(&spec, argc, argv);
    if (prc != CLI_OK) return cli_exit(prc);
    if (!task || !data || (!tok_path && !text_only)) {
        fprintf(stderr, "kvbench: error: missing %s (prompts): expected --task, --data and --tokenizer\n",
                !task ? "--task" : !data ? "--data" : "--tokenizer");
        return 2;
    }
    const lb_task *t = lb_task_find(task);
    if (!t) {
        fprintf(stderr, "kvbench: error: unknown task '%s' (--task): expected one of", task);
        for (int i = 0; i < LB_N_TASKS; i++) fprintf(stderr, "%s%s", i ? ", " : " ", lb_tasks[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    chat_format chat;
    if (chat_format_parse(chat_name, &chat) || (chat != CHAT_NONE && chat != CHAT_LLAMA3)) {
        fprintf(stderr, "kvbench: error: unknown chat wrapper '%s' (--chat): expected none or llama3\n", chat_name);
        return 2;
    }
    tokenizer *tok = NULL;
    if (!text_only && tokenizer_load(tok_path, &tok)) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 1;
    }
    if (tok)
        fprintf(stderr, "kvbench prompts: BOS %s (%s)\n",
                tokenizer_add_bos(tok) ? "prepended" : "not prepended", tokenizer_add_bos_source(tok));
    lb_reader *r;
    if (lb_reader_open(data, &r)) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        if (tok) tokenizer_free(tok);
        return 1;
    }
    lb_sample s;
    int rc, index = 0, status = 0;
    while ((rc = lb_reader_next(r, &s)) == 1) {
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer(index));
        json_object_set_new(o, "_id", json_string(s.id));
        if (text_only) {
            char *p = lb_prompt_format(t, &s);
            if (chat != CHAT_NONE) {
                char *w = chat_wrap(chat, p);
                free(p);
                p = w;
            }
            json_object_set_new(o, "text", json_string(p));
            free(p);
        } else {
            lb_prompt pr;
            if (lb_prompt_build(tok, t, &s, chat, max_tokens, &pr)) {
                fprintf(stderr, "kvbench: error: %s (%s:%ld): expected a prompt the tokenizer can encode\n",
                        kv_lasterr(), data, s.line);
                json_decref(o);
                lb_sample_free(&s);
                status = 1;
                break;
            }
            json_t *ids = json_array();
            for (int i = 0; i < pr.n; i++) json_array_append_new(ids, json_integer(pr.ids[i]));
            json_object_set_new(o, "ids", ids);
            json_object_set_new(o, "add_bos", json_boolean(tokenizer_add_bos(tok)));
            lb_prompt_free(&pr);
        }
        lb_sample_free(&s);
        if (emit(o)) {
            fprintf(stderr, "kvbench: error: cannot write JSON (stdout): out of memory\n");
            status = 1;
            break;
        }
        index++;
    }
    if (rc == KV_ERR) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        status = 1;
    }
    lb_reader_close(r);
    if (tok) tokenizer_free(tok);
    return status;
}
