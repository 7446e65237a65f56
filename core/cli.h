/* cli.h - the `must` program's subcommands (private to the program). */
#ifndef MUST_CLI_H
#define MUST_CLI_H

/* A subcommand gets argv after its own name (argv[0] is the command name)
 * and returns the process exit status: 0 ok, 1 failure, 2 usage error. */
typedef int (*must_cmd_fn)(int argc, char **argv);

typedef struct must_cmd {
    const char *name;
    must_cmd_fn fn;
    const char *summary;
} must_cmd;

/* Each command file defines one of these; core/must.c lists them. */
int must_cmd_bench(int argc, char **argv);
int must_cmd_demo(int argc, char **argv);
int must_cmd_dataset(int argc, char **argv);
int must_cmd_import(int argc, char **argv);
int must_cmd_inspect(int argc, char **argv);
int must_cmd_world(int argc, char **argv);
int must_cmd_world_preview(int argc, char **argv); /* `must world preview` */
int must_cmd_model(int argc, char **argv);
int must_cmd_features(int argc, char **argv);
int must_cmd_plugins(int argc, char **argv);
int must_cmd_run(int argc, char **argv);
int must_cmd_train(int argc, char **argv);
int must_cmd_label(int argc, char **argv);
int must_cmd_eval(int argc, char **argv);

/* Shared helpers for commands. */
int must_cli_usage_error(const char *cmd, const char *fmt, ...);
/* 1 when arg is -h or --help. */
int must_cli_is_help(const char *arg);
/* Parses a positive int option value; on error prints and returns -1. */
int must_cli_int(const char *cmd, const char *opt, const char *val, int lo, int hi);

#endif
