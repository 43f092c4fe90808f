/* test_cli: the shared option parser of the commands (harness/cli/options.h): flags, values in
 * both spellings, integer bounds, the one positional, method knobs, the error status of each bad
 * form, and --help generated from the same table (every option listed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli/cli_engine.h"
#include "harness/cli/options.h"
#include "tests/check.h"

typedef struct {
    const char *out, *pos;
    int n, flag, unflag;
    cli_engine_args ea;
} vals;

/* Parse a space-separated command line against a small table; stderr is silenced for the errors. */
static int parse(const char *line, vals *v, int knobs)
{
    static char buf[512];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof buf, "cmd %s", line);
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " ")) argv[argc++] = t;
    memset(v, 0, sizeof *v);
    v->unflag = 1;
    const cli_opt opts[] = {
        {"--output", "DIR", OPT_STR, &v->out, 0, "where"},
        {"--n", "N", OPT_INT, &v->n, 1, "a positive count\nsecond line"},
        {"--flag", NULL, OPT_FLAG, &v->flag, 0, "a flag"},
        {"--no-unflag", NULL, OPT_UNFLAG, &v->unflag, 0, "clears"},
        {0},
    };
    cli_spec s = {.name = "cmd", .usage = "kvbench cmd X [options]", .opts = opts, .positional = &v->pos,
                  .knobs = knobs ? &v->ea : NULL};
    fflush(stderr);
    int saved = dup(2);
    FILE *null = freopen("/dev/null", "w", stderr);
    (void)null;
    int rc = cli_parse(&s, argc, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    return rc;
}

static void test_parse(void)
{
    vals v;
    CHECK(parse("x --output d --n 3 --flag --no-unflag", &v, 0) == CLI_OK && !strcmp(v.pos, "x") &&
              !strcmp(v.out, "d") && v.n == 3 && v.flag == 1 && v.unflag == 0,
          "flags, values, positional");
    CHECK(parse("--output=d --n=4 x", &v, 0) == CLI_OK && !strcmp(v.out, "d") && v.n == 4, "--name=VALUE");
    CHECK(parse("--n 0", &v, 0) == CLI_ERR, "below the minimum");
    CHECK(parse("--n 3x", &v, 0) == CLI_ERR, "not an integer");
    CHECK(parse("--output", &v, 0) == CLI_ERR, "a value missing");
    CHECK(parse("--bogus 1", &v, 0) == CLI_ERR, "unknown option");
    CHECK(parse("x y", &v, 0) == CLI_ERR, "a second positional");
    CHECK(parse("--flag=1", &v, 0) == CLI_ERR, "a flag with a value");
    CHECK(parse("--window 32 --pooling avg", &v, 1) == CLI_OK && v.ea.n_knobs == 2 &&
              !strcmp(v.ea.knob_name[1], "pooling") && !strcmp(v.ea.knob_value[0], "32"),
          "method knobs");
    CHECK(parse("-w 32", &v, 1) == CLI_ERR, "a single-dash word is no knob");
    CHECK(parse("--window", &v, 1) == CLI_ERR, "a knob without a value");
}

static void test_help(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_engine_args ea = {0};
    cli_opt eng[CLI_ENGINE_N_OPTS + 1];
    cli_engine_options(&ea, eng);
    const cli_opt opts[] = {{"--json", NULL, OPT_FLAG, &ea.threads, 0, "json"}, {0}};
    cli_spec s = {.name = "g", .usage = "kvbench g", .about = "About.", .opts = opts, .more = eng, .knobs = &ea};
    cli_help(&s, f);
    fclose(f);
    int missing = !strstr(text, "usage: kvbench g") || !strstr(text, "--json") || !strstr(text, "--KNOB VALUE");
    for (int i = 0; eng[i].name; i++) missing += !strstr(text, eng[i].name);
    CHECK(missing == 0, "help lists every option of both tables:\n%s", text);
    free(text);
}

int main(void)
{
    test_parse();
    test_help();
    return check_report("test_cli");
}
