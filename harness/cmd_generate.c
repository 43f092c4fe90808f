/* cmd_generate: `kvbench generate` — one prompt through the engine, FullKV or one compressed
 * variant, printing the text (or a JSON object with ids and kept-token counts). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/chat.h"
#include "engine/util.h"
#include "harness/cli_engine.h"
#include "harness/commands.h"
#include "harness/tp_launch.h"

static void generate_usage(FILE *f)
{
    fprintf(f, "usage: kvbench generate --model PATH (--prompt TEXT | --prompt-file F) [options]\n\n"
               "Greedy generation from one prompt (EOS masked at the first step).\n\n"
               "  --prompt TEXT          the prompt\n"
               "  --prompt-file F        read the prompt from a file\n"
               "  --max-new-tokens N     default 64\n"
               "  --chat native|none|llama3|chatml\n"
               "                         native (default): the model's own chat format\n"
               "  --stop-ids I,J,...     extra stop ids (default: the tokenizer's eos_token_id only, as the\n"
               "                         reference; e.g. SmolLM2's <|endoftext|> is 0)\n"
               "  --json                 print {\"text\", \"ids\", \"prompt_tokens\", \"kept_tokens\", \"add_bos\",\n"
               "                         \"stop_ids\"}\n"
               "%s", cli_engine_help);
}

enum { GEN_MAX_STOP_IDS = 8 };

/* The stop set: the tokenizer's eos_token_id only, as the reference's generate(eos_token_id=...),
 * plus the ids given with --stop-ids. Returns the count, or -1 with an error printed. */
static int collect_stop_ids(const tokenizer *t, const char *extra, int *ids)
{
    int n = 0, eos = tokenizer_eos_id(t);
    if (eos >= 0) ids[n++] = eos;
    for (const char *p = extra; p && *p;) {
        char *end;
        long id = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || id < 0 || id >= tokenizer_vocab_size(t) || n == GEN_MAX_STOP_IDS) {
            fprintf(stderr, "kvbench: error: bad --stop-ids '%s': expected at most %d comma-separated token ids "
                            "in 0..%d\n", extra, GEN_MAX_STOP_IDS - 1, tokenizer_vocab_size(t) - 1);
            return -1;
        }
        int dup = 0;
        for (int k = 0; k < n; k++) dup |= ids[k] == id;
        if (!dup) ids[n++] = (int)id;
        p = *end ? end + 1 : end;
    }
    return n;
}

int cmd_generate(int argc, char **argv)
{
    cli_engine_args ea = {0};
    const char *prompt = NULL, *prompt_file = NULL, *chat = "native", *stop_extra = NULL;
    int max_new = 64, as_json = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        int r = cli_engine_flag(&ea, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            generate_usage(stdout);
            return 0;
        } else if (!strcmp(f, "--json")) {
            as_json = 1;
        } else if (i + 1 < argc && !strcmp(f, "--prompt")) {
            prompt = argv[++i];
        } else if (i + 1 < argc && !strcmp(f, "--prompt-file")) {
            prompt_file = argv[++i];
        } else if (i + 1 < argc && !strcmp(f, "--chat")) {
            chat = argv[++i];
        } else if (i + 1 < argc && !strcmp(f, "--stop-ids")) {
            stop_extra = argv[++i];
        } else if (i + 1 < argc && !strcmp(f, "--max-new-tokens")) {
            char *end;
            max_new = (int)strtol(argv[++i], &end, 10);
            if (*end || max_new < 1) {
                fprintf(stderr, "kvbench: error: --max-new-tokens expects a positive integer, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (i + 1 < argc && !strncmp(f, "--", 2) && ea.n_knobs < METHOD_MAX_KNOBS) {
            ea.knob_name[ea.n_knobs] = f + 2; /* a method knob, checked once the method is known */
            ea.knob_value[ea.n_knobs++] = argv[++i];
        } else {
            fprintf(stderr, "kvbench: error: generate: unexpected argument '%s' (see kvbench generate --help)\n", f);
            return 2;
        }
    }
    if (!!prompt == !!prompt_file) {
        fprintf(stderr, "kvbench: error: generate needs exactly one of --prompt TEXT or --prompt-file F\n");
        return 2;
    }
    variant v;
    if (cli_engine_variant(&ea, &v) != KV_OK) return 2;
    char *file_text = NULL;
    if (prompt_file) {
        if (kv_read_file(prompt_file, &file_text, NULL) != KV_OK) {
            fprintf(stderr, "kvbench: error: --prompt-file: %s\n", kv_lasterr());
            return 2;
        }
        prompt = file_text;
    }
    engine *e;
    if (cli_engine_open(&ea, &e) != KV_OK) {
        free(file_text);
        return 1;
    }
    const tokenizer *tok = engine_tokenizer(e);
    chat_format cf = CHAT_NONE;
    if (!strcmp(chat, "native")) cf = chat_detect(tok);
    else if (chat_format_parse(chat, &cf) != KV_OK) {
        fprintf(stderr, "kvbench: error: --chat expects native, none, llama3 or chatml, got '%s'\n", chat);
        cli_engine_close(e);
        free(file_text);
        return 2;
    }
    char *text = cf == CHAT_NONE ? kv_strdup(prompt) : chat_wrap(cf, prompt);
    /* BOS as the tokenizer's own setting says (HF add_special_tokens=True: Llama-3 adds it,
     * SmolLM2 does not), unless the wrapped text already begins with it. */
    int bos = tokenizer_bos_id(tok), add_bos = 0;
    if (tokenizer_add_bos(tok)) {
        char *bos_text = NULL;
        size_t bl = 0;
        tokenizer_decode(tok, &bos, 1, 0, 0, &bos_text, &bl);
        add_bos = !(bos_text && bl && !strncmp(text, bos_text, bl));
        free(bos_text);
    }
    int *ids = NULL, n = 0, rc = 0;
    if (tokenizer_encode(tok, text, strlen(text), add_bos, &ids, &n) != KV_OK) {
        fprintf(stderr, "kvbench: error: tokenizing the prompt: %s\n", kv_lasterr());
        rc = 1;
        goto done;
    }
    int stops[GEN_MAX_STOP_IDS], n_stops = collect_stop_ids(tok, stop_extra, stops);
    if (n_stops < 0) {
        rc = 2;
        goto done;
    }
    gen_params gp = {.max_new_tokens = max_new, .stop_ids = stops, .n_stop_ids = n_stops, .mask_first = 1};
    gen_result res;
    if (engine_generate(e, ids, n, &v, 1, &gp, &res, NULL) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        rc = 1;
        goto done;
    }
    char *out = NULL;
    size_t out_len = 0;
    tokenizer_decode(tok, res.ids, res.n_ids, 1, 1, &out, &out_len);
    if (tp_launch_rank() == 0) {
        if (as_json) {
            json_t *o = json_object(), *arr = json_array();
            for (int i = 0; i < res.n_ids; i++) json_array_append_new(arr, json_integer(res.ids[i]));
            json_object_set_new(o, "text", json_stringn(out, out_len));
            json_object_set_new(o, "ids", arr);
            json_object_set_new(o, "prompt_tokens", json_integer(n));
            json_object_set_new(o, "kept_tokens", json_real(res.kept_mean));
            json_object_set_new(o, "add_bos", json_boolean(add_bos));
            json_t *st = json_array();
            for (int i = 0; i < n_stops; i++) json_array_append_new(st, json_integer(stops[i]));
            json_object_set_new(o, "stop_ids", st);
            char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
            printf("%s\n", s);
            free(s);
            json_decref(o);
        } else {
            fwrite(out, 1, out_len, stdout);
            putchar('\n');
        }
    }
    free(out);
    gen_result_free(&res);
done:
    free(ids);
    free(text);
    free(file_text);
    cli_engine_close(e);
    return rc;
}
