/* options: the shared option parser and --help generator of the kvbench commands (options.h). */
#include "harness/cli/options.h"

#include <stdlib.h>
#include <string.h>

#include "engine/method.h"
#include "util/util.h"
#include "harness/cli/cli_engine.h"

/* The option named by arg (which may carry "=VALUE"), in either table. */
static const cli_opt *opt_find(const cli_spec *s, const char *arg, size_t len)
{
    const cli_opt *tables[2] = {s->opts, s->more};
    for (int t = 0; t < 2; t++)
        for (const cli_opt *o = tables[t]; o && o->name; o++)
            if (strlen(o->name) == len && !strncmp(o->name, arg, len)) return o;
    return NULL;
}

static int parse_value(const cli_spec *s, const cli_opt *o, const char *v)
{
    if (o->kind == OPT_STR) {
        *(const char **)o->dst = v;
        return CLI_OK;
    }
    if (o->kind == OPT_BUDGET) {
        if ((o->min == 0 && !strcmp(v, "0") && (*(int *)o->dst = 0, 1)) || budget_parse(v, (int *)o->dst) == KV_OK)
            return CLI_OK;
        fprintf(stderr, "kvbench: error: bad value '%s' (%s %s): %s\n", v, s->name, o->name, kv_lasterr());
        return CLI_ERR;
    }
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < o->min || x > 1 << 30) {
        fprintf(stderr, "kvbench: error: bad value '%s' (%s %s): expected %s integer\n", v, s->name, o->name,
                o->min > 0 ? "a positive" : "a non-negative");
        return CLI_ERR;
    }
    *(int *)o->dst = (int)x;
    return CLI_OK;
}

int cli_parse(const cli_spec *s, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_help(s, stdout);
            return CLI_HELP;
        }
        if (a[0] != '-' || !a[1]) { /* a positional ("-" alone is one: stdin) */
            if (s->positional && !*s->positional) {
                *s->positional = a;
                continue;
            }
            if (s->positional_what)
                fprintf(stderr, "kvbench: error: unexpected argument '%s' (%s): %s\n", a, s->name, s->positional_what);
            else
                fprintf(stderr, "kvbench: error: unexpected argument '%s' (%s): see kvbench %s --help\n", a, s->name,
                        s->name);
            return CLI_ERR;
        }
        const char *eq = strncmp(a, "--", 2) ? NULL : strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const cli_opt *o = opt_find(s, a, len);
        int flag = o && (o->kind == OPT_FLAG || o->kind == OPT_UNFLAG);
        if (flag && !eq) {
            *(int *)o->dst = o->kind == OPT_FLAG;
            continue;
        }
        const char *val = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
        if (o && !flag && val) {
            if (!eq) i++;
            if (parse_value(s, o, val) != CLI_OK) return CLI_ERR;
            continue;
        }
        if (o && !flag) {
            fprintf(stderr, "kvbench: error: option '%s' needs a value (%s): expected %s %s\n", a, s->name, o->name,
                    o->arg);
            return CLI_ERR;
        }
        /* Method knobs: any other --NAME VALUE, checked once the method is known. */
        if (!o && s->knobs && !eq && val && !strncmp(a, "--", 2) && s->knobs->n_knobs < METHOD_MAX_KNOBS) {
            s->knobs->knob_name[s->knobs->n_knobs] = a + 2;
            s->knobs->knob_value[s->knobs->n_knobs++] = val;
            i++;
            continue;
        }
        fprintf(stderr, "kvbench: error: unknown argument '%s' (%s): see kvbench %s --help\n", a, s->name, s->name);
        return CLI_ERR;
    }
    return CLI_OK;
}

static void help_table(const cli_opt *o, FILE *f)
{
    for (; o && o->name; o++) {
        char head[64];
        snprintf(head, sizeof head, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-24s ", head);
        for (const char *h = o->help; *h; h++) {
            fputc(*h, f);
            if (*h == '\n') fprintf(f, "  %-24s ", "");
        }
        fputc('\n', f);
    }
}

void cli_help(const cli_spec *s, FILE *f)
{
    fprintf(f, "usage: %s\n\n", s->usage);
    if (s->about) fprintf(f, "%s\n\n", s->about);
    fprintf(f, "options:\n");
    help_table(s->opts, f);
    help_table(s->more, f);
    if (s->knobs) help_table(cli_engine_knob_help, f);
    fprintf(f, "  %-24s this help\n", "-h, --help");
    if (s->footer) fprintf(f, "\n%s\n", s->footer);
}
