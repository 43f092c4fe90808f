/* options: the one option parser of the kvbench commands. A command describes its options as a
 * table (name, value placeholder, kind, destination, help) and cli_parse does the rest: flags,
 * `--name VALUE` and `--name=VALUE`, integer checks, one positional argument, method knobs
 * (`--KNOB VALUE` for generate and bench), -h/--help, and the errors, all in one form:
 *   kvbench: error: <what> (<command>): <expected>
 * --help is generated from the same table (cli_help), so an option and its documentation cannot
 * drift apart. */
#ifndef KV_CLI_OPTIONS_H
#define KV_CLI_OPTIONS_H

#include <stdio.h>

struct cli_engine_args;

typedef enum {
    OPT_FLAG,     /* no value: *(int *)dst = 1 */
    OPT_UNFLAG,   /* no value: *(int *)dst = 0 (--no-X beside --X) */
    OPT_STR,      /* *(const char **)dst = the value */
    OPT_INT,      /* *(int *)dst = the value, an integer >= min (and <= 2^30) */
    OPT_BUDGET,   /* *(int *)dst = a KV budget: tokens, or a fraction of the prompt (engine/method.h
                   * budget_parse); "0" when min is 0 (show: FullKV only) */
} opt_kind;

typedef struct {
    const char *name;    /* "--output"; NULL ends a table */
    const char *arg;     /* the value's placeholder in --help ("DIR"); NULL for a flag */
    opt_kind kind;
    void *dst;
    int min;             /* OPT_INT: smallest value */
    const char *help;    /* --help text; '\n' continues on an indented line */
} cli_opt;

typedef struct {
    const char *name;              /* the command, for messages ("run") */
    const char *usage;             /* the usage line(s), without "usage: " */
    const char *about;             /* text between the usage and the options (NULL: none) */
    const char *footer;            /* text after the options (NULL: none) */
    const cli_opt *opts;           /* the command's table */
    const cli_opt *more;           /* a shared table appended after it (the engine options), or NULL */
    const char **positional;       /* where the one positional argument goes; NULL: none accepted */
    const char *positional_what;   /* the error's tail for one positional too many (NULL: see --help) */
    struct cli_engine_args *knobs; /* non-NULL: any other --NAME VALUE is a method knob stored here */
} cli_spec;

enum { CLI_OK = 0, CLI_HELP = 1, CLI_ERR = 2 };

/* Parse argv[1..argc) (argv[0] is the command name). CLI_OK; CLI_HELP when --help was printed to
 * stdout (exit 0); CLI_ERR when an error line was printed to stderr (exit 2). */
int cli_parse(const cli_spec *s, int argc, char **argv);
/* The command's --help: usage, about, every option of both tables, footer. */
void cli_help(const cli_spec *s, FILE *f);
/* Exit status for a cli_parse result other than CLI_OK (0 after --help, 2 after an error). */
static inline int cli_exit(int parse_rc) { return parse_rc == CLI_HELP ? 0 : 2; }

#endif
