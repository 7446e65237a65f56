/* cli.h - the `must` program's subcommands (private to the program). */
#ifndef MUST_CLI_H
#define MUST_CLI_H

#include <stdio.h>

#include "must/error.h"

/* A subcommand gets argv after its own name (argv[0] is the command name)
 * and returns the process exit status: 0 ok, 1 failure, 2 usage error. */
typedef int (*must_cmd_fn)(int argc, char **argv);

typedef struct must_cmd {
    const char *name;
    must_cmd_fn fn;
    const char *summary;
} must_cmd;

/* Each command file defines one of these; cli/must.c lists them. */
int must_cmd_bench(int argc, char **argv);
int must_cmd_demo(int argc, char **argv);
int must_cmd_dataset(int argc, char **argv);
int must_cmd_import(int argc, char **argv);
int must_cmd_import_coco(int argc, char **argv); /* `must import coco` */
int must_cmd_import_voc(int argc, char **argv);  /* `must import voc` */
int must_cmd_export(int argc, char **argv);
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
int must_cmd_predict(int argc, char **argv);

/* Shared helpers for commands. */
int must_cli_usage_error(const char *cmd, const char *fmt, ...);
/* 1 when arg is -h or --help. */
int must_cli_is_help(const char *arg);
/* Parses a positive int option value; on error prints and returns -1. */
int must_cli_int(const char *cmd, const char *opt, const char *val, int lo, int hi);

/* One option of a command's table: its name ("--out"), its kind, where its
 * value goes (const char ** for STR, int * for FLAG, set to 1, and INT), and
 * INT's range. */
typedef enum { MUST_CLI_STR, MUST_CLI_FLAG, MUST_CLI_INT } must_cli_kind;
typedef struct must_cli_opt {
    const char *name;
    must_cli_kind kind;
    void *dst;
    int lo, hi;
} must_cli_opt;
/* Parses argv[1..argc) against opts (ended by an entry whose name is NULL);
 * arguments that are not options fill pos[0..npos) in order.  Returns 0; 1
 * for -h or --help, after printing help unless it is NULL; 2 after a usage
 * error naming cmd. */
int must_cli_parse(const char *cmd, int argc, char **argv, const must_cli_opt *opts,
                   const char **pos, int npos, const char *help);

/* A command made of subcommands (`must world list`): its table, ended by a
 * NULL name, and what each is called in the error for an unknown one
 * ("subcommand", "format"). */
typedef struct must_cli_sub {
    const char *name;
    must_cmd_fn fn;
} must_cli_sub;
/* Runs the subcommand argv[1] names with argv + 1; prints usage for none
 * (status 2) and for -h, --help or help (status 0); `help SUB` runs SUB
 * with --help. */
int must_cli_dispatch(const char *cmd, const char *what, int argc, char **argv,
                      const must_cli_sub *subs, void (*usage)(FILE *fp));

/* A command's failure, over mpirun's ranks too (must/dist.h): rc 0 gives
 * 0; an error every rank shares is printed by rank 0 alone, and gives 130
 * for a stop on request (MUST_EINTR), else 1; an error of this rank alone
 * is printed naming the rank and ends the whole job. */
int must_cli_fail(const char *cmd, int rc, const must_err *err);
/* 1 on the rank that prints a command's results (rank 0). */
int must_cli_prints(void);

#endif
