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

/* The settings a run needs, checked: --task a known task, --data, --tokenizer (unless --text), a
 * chat wrapper of the reference. Returns 0, or 2 with an error printed. */
static int prompts_check(const char *task, const char *data, const char *tok_path, int text_only,
                         const char *chat_name, const lb_task **t, chat_format *chat)
{
    if (!task || !data || (!tok_path && !text_only)) {
        fprintf(stderr, "kvbench: error: missing %s (prompts): expected --task, --data and --tokenizer\n",
                !task ? "--task" : !data ? "--data" : "--tokenizer");
        return 2;
    }
    *t = lb_task_find(task);
    if (!*t) {
        fprintf(stderr, "kvbench: error: unknown task '%s' (--task): expected one of", task);
        for (int i = 0; i < LB_N_TASKS; i++) fprintf(stderr, "%s%s", i ? ", " : " ", lb_tasks[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    if (chat_format_parse(chat_name, chat) || (*chat != CHAT_NONE && *chat != CHAT_LLAMA3)) {
        fprintf(stderr, "kvbench: error: unknown chat wrapper '%s' (--chat): expected none or llama3\n", chat_name);
        return 2;
    }
    return 0;
}

/* How every sample of a run is turned into its line. */
typedef struct {
    const lb_task *t;
    const tokenizer *tok; /* NULL with --text */
    chat_format chat;
    int max_tokens;
    const char *data;
} prompts_job;

/* Sample s's JSON line: its formatted (and wrapped) text with --text, else its final ids; NULL
 * with an error printed when the prompt cannot be built. */
static json_t *sample_line(const prompts_job *j, const lb_sample *s, int index)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(index));
    json_object_set_new(o, "_id", json_string(s->id));
    if (!j->tok) {
        char *p = lb_prompt_format(j->t, s);
        if (j->chat != CHAT_NONE) {
            char *w = chat_wrap(j->chat, p);
            free(p);
            p = w;
        }
        json_object_set_new(o, "text", json_string(p));
        free(p);
        return o;
    }
    lb_prompt pr;
    if (lb_prompt_build(j->tok, j->t, s, j->chat, j->max_tokens, &pr)) {
        fprintf(stderr, "kvbench: error: %s (%s:%ld): expected a prompt the tokenizer can encode\n",
                kv_lasterr(), j->data, s->line);
        json_decref(o);
        return NULL;
    }
    json_t *ids = json_array();
    for (int i = 0; i < pr.n; i++) json_array_append_new(ids, json_integer(pr.ids[i]));
    json_object_set_new(o, "ids", ids);
    json_object_set_new(o, "add_bos", json_boolean(tokenizer_add_bos(j->tok)));
    lb_prompt_free(&pr);
    return o;
}

/* One line per sample of r, streamed; returns the exit status. */
static int stream_prompts(const prompts_job *j, lb_reader *r)
{
    lb_sample s;
    int rc, index = 0, status = 0;
    while ((rc = lb_reader_next(r, &s)) == 1) {
        json_t *o = sample_line(j, &s, index);
        lb_sample_free(&s);
        if (!o) {
            status = 1;
            break;
        }
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
    return status;
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
    const lb_task *t;
    chat_format chat;
    if (prompts_check(task, data, tok_path, text_only, chat_name, &t, &chat)) return 2;
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
    prompts_job j = {.t = t, .tok = tok, .chat = chat, .max_tokens = max_tokens, .data = data};
    int status = stream_prompts(&j, r);
    lb_reader_close(r);
    if (tok) tokenizer_free(tok);
    return status;
}
