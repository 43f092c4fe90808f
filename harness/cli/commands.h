/* commands: the subcommands of the kvbench executable, one function each, each in its own file.
 * Every command parses its own argv (argv[0] is the command name), prints --help, and returns the
 * process exit status. */
#ifndef KV_COMMANDS_H
#define KV_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_reduce(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_prompts(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_verify(int argc, char **argv);

#endif
