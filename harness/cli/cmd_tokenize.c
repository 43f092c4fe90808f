/* cmd_tokenize: `kvbench tokenize`, the tokenizer as a JSONL filter, for checking kvbench's ids
 * against another implementation line by line: {"text": ...} -> {"ids": [...]}, or with --decode
 * {"ids": [...]} -> {"text": ...}. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "util/util.h"
#include "harness/cli/commands.h"
#include "harness/cli/options.h"

static int line_error(long line, const char *what, const char *expected)
{
    fprintf(stderr, "kvbench: error: %s (stdin:%ld): expected %s\n", what, line, expected);
    return 1;
}

static int encode_line(const tokenizer *t, json_t *obj, long line, int add_bos)
{
    json_t *text = json_object_get(obj, "text");
    if (!json_is_string(text)) return line_error(line, "no \"text\" string", "{\"text\": STRING}");
    int *ids, n;
    if (tokenizer_encode(t, json_string_value(text), json_string_length(text), add_bos, &ids, &n)) {
        fprintf(stderr, "kvbench: error: %s (stdin:%ld)\n", kv_lasterr(), line);
        return 1;
    }
    fputs("{\"ids\": [", stdout);
    for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    fputs("]}\n", stdout);
    free(ids);
    return 0;
}

static int decode_line(const tokenizer *t, json_t *obj, long line, int skip_special, int cleanup)
{
    json_t *arr = json_object_get(obj, "ids");
    if (!json_is_array(arr)) return line_error(line, "no \"ids\" array", "{\"ids\": [INT, ...]}");
    size_t n = json_array_size(arr);
    int *ids = kv_malloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= tokenizer_vocab_size(t)) {
            free(ids);
            char what[96];
            snprintf(what, sizeof what, "ids[%zu] is not a token id", i);
            char expected[64];
            snprintf(expected, sizeof expected, "integers in 0..%d", tokenizer_vocab_size(t) - 1);
            return line_error(line, what, expected);
        }
        ids[i] = (int)id;
    }
    char *text;
    size_t len;
    int rc = tokenizer_decode(t, ids, (int)n, skip_special, cleanup, &text, &len);
    free(ids);
    if (rc) {
        fprintf(stderr, "kvbench: error: %s (stdin:%ld)\n", kv_lasterr(), line);
        return 1;
    }
    json_t *out = json_pack("{s:s%}", "text", text, len);
    char *s = json_dumps(out, 0); /* UTF-8 kept as is: no JSON_ENSURE_ASCII */
    puts(s);
    free(s);
    json_decref(out);
    free(text);
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    int decode = 0, add_bos = 0, skip_special = 0, cleanup = -1;
    const cli_opt opts[] = {
        {"--tokenizer", "PATH", OPT_STR, &path, 0, "an HF model directory (tokenizer.json + tokenizer_config.json), a\n"
                                                   "tokenizer.json, or a .gguf file"},
        {"--decode", NULL, OPT_FLAG, &decode, 0, "{\"ids\": [INT, ...]} -> {\"text\": STRING} instead of encoding"},
        {"--add-bos", NULL, OPT_FLAG, &add_bos, 0, "encode: prepend the BOS id"},
        {"--skip-special", NULL, OPT_FLAG, &skip_special, 0, "decode: drop special tokens (HF decode default: keep them)"},
        {"--cleanup", NULL, OPT_FLAG, &cleanup, 0, "decode: apply clean_up_tokenization_spaces (\" .\" -> \".\", \" n't\" -> \"n't\", ...)"},
        {"--no-cleanup", NULL, OPT_UNFLAG, &cleanup, 0, "decode: do not; the default is tokenizer_config.json's\n"
                                                      "clean_up_tokenization_spaces (off for a GGUF), as transformers does"},
        {0},
    };
    const cli_spec spec = {
        .name = "tokenize",
        .usage = "kvbench tokenize --tokenizer PATH [--decode] [--add-bos] [--skip-special] [--cleanup|--no-cleanup]",
        .about = "Reads JSONL on stdin, one object per line, and writes one line per input line:\n"
                 "  encode (default): {\"text\": STRING} -> {\"ids\": [INT, ...]}  (no BOS unless --add-bos)\n"
                 "  --decode:         {\"ids\": [INT, ...]} -> {\"text\": STRING}",
        .footer = "Blank lines are skipped. A line that is not the expected JSON stops with an error naming it.",
        .opts = opts, .positional_what = "input comes from stdin",
    };
    int prc = cli_parse(&spec, argc, argv);
    if (prc != CLI_OK) return cli_exit(prc);
    if (!path) {
        fprintf(stderr, "kvbench: error: no tokenizer given (tokenize): expected --tokenizer PATH\n");
        return 2;
    }
    tokenizer *t;
    if (tokenizer_load(path, &t)) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 1;
    }
    if (cleanup < 0) cleanup = tokenizer_cleanup_default(t);

    char *buf = NULL;
    size_t cap = 0;
    ssize_t got;
    long line = 0;
    int rc = 0;
    while (!rc && (got = getline(&buf, &cap, stdin)) != -1) {
        line++;
        size_t k = strspn(buf, " \t\r\n");
        if (k == (size_t)got) continue;
        json_error_t err;
        json_t *obj = json_loadb(buf, (size_t)got, JSON_ALLOW_NUL, &err);
        if (!obj || !json_is_object(obj)) {
            char what[256];
            snprintf(what, sizeof what, "not a JSON object%s%s", obj ? "" : ": ", obj ? "" : err.text);
            rc = line_error(line, what, decode ? "{\"ids\": [INT, ...]}" : "{\"text\": STRING}");
        } else rc = decode ? decode_line(t, obj, line, skip_special, cleanup) : encode_line(t, obj, line, add_bos);
        json_decref(obj);
    }
    free(buf);
    tokenizer_free(t);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "kvbench: error: cannot write the output (stdout)\n");
        return 1;
    }
    return rc;
}
