/* main: the kvbench executable — dispatches to one subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli/commands.h"
#include "harness/cli/wait_policy.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, "run a sweep (under mpirun/srun every rank takes part); resumes by default"},
    {"plan", cmd_plan, "print a sweep's grid, work items, roles and estimated cost; runs nothing"},
    {"reduce", cmd_reduce, "rebuild summary.h5, tables.md, scores.csv and plots from item files"},
    {"verify", cmd_verify, "check a result store: every item file and summary.h5 against them"},
    {"show", cmd_show, "inspect a result store (md, csv or json; per-sample predictions)"},
    {"generate", cmd_generate, "generate from one prompt, optionally with a KV-cache method"},
    {"tokenize", cmd_tokenize, "JSONL {\"text\"} on stdin -> {\"ids\"} (or --decode the reverse)"},
    {"prompts", cmd_prompts, "LongBench prompt ids after template, chat wrapper and truncation"},
    {"score", cmd_score, "score LongBench prediction files or a KVCache-Factory results folder"},
    {"bench", cmd_bench, "engine throughput: prefill and decode tok/s next to the roofline"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: kvbench COMMAND [options]   (kvbench COMMAND --help for details)\n\n"
               "KV-cache compression benchmarks on LongBench: one prefill per prompt, every\n"
               "method's cache derived from it, all variants decoded as one batch.\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    wait_policy_default(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "kvbench: error: unknown command '%s' (expected one of:", argv[1]);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(stderr, " %s", commands[i].name);
    fprintf(stderr, ")\n");
    return 2;
}
