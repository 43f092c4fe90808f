/* cmd_generate: `kvbench generate` — one prompt through the engine, FullKV or one compressed
 * variant, printing the text (or a JSON object with ids and kept-token counts). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/chat.h"
#include "util/util.h"
#include "harness/cli/cli_engine.h"
#include "harness/cli/commands.h"
#include "harness/cli/gen_extras.h"
#include "harness/cli/options.h"
#include "harness/sweep/tp_launch.h"

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

/* The prompt as the model sees it: wrapped in the chat format (native: the tokenizer's own) and
 * tokenized, BOS as the tokenizer's own setting says (HF add_special_tokens=True: Llama-3 adds it,
 * SmolLM2 does not) unless the wrapped text already begins with it. Returns 0, or the exit status
 * with an error printed. */
static int encode_prompt(const tokenizer *tok, const char *chat, const char *prompt, int **ids, int *n, int *add_bos)
{
    chat_format cf = CHAT_NONE;
    if (!strcmp(chat, "native")) cf = chat_detect(tok);
    else if (chat_format_parse(chat, &cf) != KV_OK) {
        fprintf(stderr, "kvbench: error: --chat expects native, none, llama3 or chatml, got '%s'\n", chat);
        return 2;
    }
    char *text = cf == CHAT_NONE ? kv_strdup(prompt) : chat_wrap(cf, prompt);
    int bos = tokenizer_bos_id(tok), rc = 0;
    *add_bos = 0;
    if (tokenizer_add_bos(tok)) {
        char *bos_text = NULL;
        size_t bl = 0;
        tokenizer_decode(tok, &bos, 1, 0, 0, &bos_text, &bl);
        *add_bos = !(bos_text && bl && !strncmp(text, bos_text, bl));
        free(bos_text);
    }
    if (tokenizer_encode(tok, text, strlen(text), *add_bos, ids, n) != KV_OK) {
        fprintf(stderr, "kvbench: error: tokenizing the prompt: %s\n", kv_lasterr());
        rc = 1;
    }
    free(text);
    return rc;
}

/* The generated text, or with --json the object of its ids, counts and settings. */
static void print_result(engine *e, const gen_result *res, int prompt_tokens, int add_bos, const int *stops,
                         int n_stops, int as_json)
{
    char *out = NULL;
    size_t out_len = 0;
    tokenizer_decode(engine_tokenizer(e), res->ids, res->n_ids, 1, 1, &out, &out_len);
    if (!as_json) {
        fwrite(out, 1, out_len, stdout);
        putchar('\n');
        if (res->recall_layer)
            fprintf(stderr, "attention recall: %.4f over %d decode steps\n", res->recall, res->n_recall_steps);
        free(out);
        return;
    }
    json_t *o = json_object(), *arr = json_array();
    for (int i = 0; i < res->n_ids; i++) json_array_append_new(arr, json_integer(res->ids[i]));
    json_object_set_new(o, "text", json_stringn(out, out_len));
    json_object_set_new(o, "ids", arr);
    json_object_set_new(o, "prompt_tokens", json_integer(prompt_tokens));
    json_object_set_new(o, "kept_tokens", json_real(res->kept_mean));
    json_object_set_new(o, "add_bos", json_boolean(add_bos));
    json_t *st = json_array();
    for (int i = 0; i < n_stops; i++) json_array_append_new(st, json_integer(stops[i]));
    json_object_set_new(o, "stop_ids", st);
    engine_memory mem;
    engine_memory_info(e, &mem);
    json_object_set_new(o, "weights", json_string(mem.formats));
    json_object_set_new(o, "activations", json_string(mem.activations));
    json_object_set_new(o, "weight_bytes", json_integer((json_int_t)mem.weight_bytes));
    json_object_set_new(o, "scratch_peak_bytes", json_integer((json_int_t)mem.scratch_peak_bytes));
    gen_json_recall(o, res, engine_config(e)->n_layers);
    char *js = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    printf("%s\n", js);
    free(js);
    json_decref(o);
    free(out);
}

/* Tokenize, generate and print (rank 0) one prompt on an open engine; returns the exit status. */
static int generate_one(engine *e, const variant *v, const char *chat, const char *prompt, const char *stop_extra,
                        int max_new, int as_json, const gen_extra_opts *x)
{
    const tokenizer *tok = engine_tokenizer(e);
    int *ids = NULL, n = 0, add_bos;
    int rc = encode_prompt(tok, chat, prompt, &ids, &n, &add_bos);
    if (rc) {
        free(ids);
        return rc;
    }
    int stops[GEN_MAX_STOP_IDS], n_stops = collect_stop_ids(tok, stop_extra, stops);
    if (n_stops < 0) {
        free(ids);
        return 2;
    }
    gen_params gp = {.max_new_tokens = max_new, .stop_ids = stops, .n_stop_ids = n_stops, .mask_first = 1,
                     .attention_recall = x->recall, .keep_views = x->kept_out != NULL};
    gen_result res;
    gen_timing tm = {0};
    if (engine_generate(e, ids, n, v, 1, &gp, &res, &tm) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        free(ids);
        return 1;
    }
    if (x->transfers && tp_launch_rank() == 0)
        fprintf(stderr, "transfers: prefill %llu bytes to host, %llu to device; decode %llu to host, %llu to device\n",
                tm.prefill_to_host, tm.prefill_to_device, tm.decode_to_host, tm.decode_to_device);
    if (x->transfers && tp_launch_rank() == 0) /* 0 without tensor parallelism */
        fprintf(stderr, "transfers: selection all-gathered %llu bytes over the tensor-parallel group\n",
                tm.prefill_tp_gather);
    const int n_layers = engine_config(e)->n_layers;
    if (x->kept_out && tp_launch_rank() == 0 && gen_kept_out(x->kept_out, v, &res, n, n_layers) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        rc = 1;
    }
    if (!rc && tp_launch_rank() == 0) print_result(e, &res, n, add_bos, stops, n_stops, as_json);
    gen_result_free(&res);
    free(ids);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    cli_engine_args ea = {0};
    const char *prompt = NULL, *prompt_file = NULL, *chat = "native", *stop_extra = NULL;
    int max_new = 64, as_json = 0;
    gen_extra_opts x = {0};
    const cli_opt opts[] = {
        {"--prompt", "TEXT", OPT_STR, &prompt, 0, "the prompt"},
        {"--prompt-file", "F", OPT_STR, &prompt_file, 0, "read the prompt from a file"},
        {"--max-new-tokens", "N", OPT_INT, &max_new, 1, "default 64"},
        {"--chat", "FORMAT", OPT_STR, &chat, 0, "native (default: the model's own chat format), none, llama3, chatml"},
        {"--stop-ids", "I,J,...", OPT_STR, &stop_extra, 0,
         "extra stop ids (default: the tokenizer's eos_token_id only, as the reference; e.g. SmolLM2's "
         "<|endoftext|> is 0)"},
        {"--json", NULL, OPT_FLAG, &as_json, 0,
         "print {\"text\", \"ids\", \"prompt_tokens\", \"kept_tokens\", \"add_bos\", \"stop_ids\", \"weights\" "
         "(formats held), \"activations\", \"weight_bytes\", \"scratch_peak_bytes\" (rank 0's shard under TP)} (and the recall "
         "fields with --attention-recall)"},
        {"--attention-recall", NULL, OPT_FLAG, &x.recall, 0,
         "measure the attention recall of every decode step (README: attention recall); printed to stderr, or "
         "\"recall\", \"recall_layer\", \"recall_steps\" with --json"},
        {"--transfers", NULL, OPT_FLAG, &x.transfers, 0,
         "print the prompt's host<->backend bytes (prefill with statistics and selection; decode) to stderr"},
        {"--kept-out", "F.h5", OPT_STR, &x.kept_out, 0, "write the variant's kept positions per layer and head to F.h5"},
        {0},
    };
    cli_opt eng_opts[CLI_ENGINE_N_OPTS + 1];
    cli_engine_options(&ea, eng_opts);
    const cli_spec spec = {
        .name = "generate",
        .usage = "kvbench generate --model PATH (--prompt TEXT | --prompt-file F) [options]",
        .about = "Greedy generation from one prompt (EOS masked at the first step).",
        .opts = opts, .more = eng_opts, .knobs = &ea,
    };
    int prc = cli_parse(&spec, argc, argv);
    if (prc != CLI_OK) return cli_exit(prc);
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
    int rc = generate_one(e, &v, chat, prompt, stop_extra, max_new, as_json, &x);
    free(file_text);
    cli_engine_close(e);
    return rc;
}
