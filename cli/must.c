/* must.c - the `must` program: one binary, many subcommands. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/dist.h"
#include "must/plugin.h"
#include "must/version.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const must_cmd commands[] = {
    {"help", cmd_help, "show the commands, or one command's help"},
    {"version", cmd_version, "print the program's and the library's versions"},
    {"bench", must_cmd_bench, "benchmarks: speed measured, one JSON line each"},
    {"dataset", must_cmd_dataset, "check a dataset directory, or draw its labels"},
    {"import", must_cmd_import, "a dataset from another layout: imagefolder, images, coco, depth..."},
    {"export", must_cmd_export, "write a dataset's labels in another format (coco)"},
    {"inspect", must_cmd_inspect, "list the tensors and metadata of a safetensors file"},
    {"world", must_cmd_world, "the built-in world: list domains, generate datasets"},
    {"features", must_cmd_features, "backbone feature maps of PNG or JPEG images, to safetensors"},
    {"model", must_cmd_model, "the backbone's architecture: parameters and GFLOP per module"},
    {"plugins", must_cmd_plugins, "list the task plugins found, with their metrics and options"},
    {"run", must_cmd_run, "run an experiment: teachers, pseudo labels, student, transfer, report"},
    {"train", must_cmd_train, "train one model of an experiment (a teacher or the student)"},
    {"label", must_cmd_label, "pseudo-label an experiment's unlabelled sets with its teachers"},
    {"eval", must_cmd_eval, "evaluate a checkpoint on a dataset split"},
    {"predict", must_cmd_predict, "apply a trained model to images: labels, overlays, JSON"},
    {"demo", must_cmd_demo, "the whole MuST pipeline on the built-in world (--quick: minutes)"},
};
#define NCMD (int)(sizeof commands / sizeof commands[0])

static void overview(FILE *fp)
{
    fprintf(fp, "usage: must <command> [options]\n\ncommands:\n");
    for (int i = 0; i < NCMD; i++)
        fprintf(fp, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\n'must help COMMAND' or 'must COMMAND --help' describes one command.\n"
                "The manual: must(1) (every command), must-experiment(5) (experiment files),\n"
                "must-dataset(5) (the dataset format).\n");
}

static const must_cmd *find(const char *name)
{
    for (int i = 0; i < NCMD; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static const char help_help[] =
    "usage: must help [COMMAND [SUBCOMMAND]]\n\n"
    "Without COMMAND, lists the commands.  With one, prints its help as\n"
    "'must COMMAND --help' does; with a subcommand too (must help import coco),\n"
    "as 'must COMMAND SUBCOMMAND --help' does.  Commands made of subcommands\n"
    "(bench, dataset, export, import, world) also take 'help' in a subcommand's\n"
    "place: 'must world help' and 'must world help generate'.\n\n"
    "The manual pages say more: must(1) describes every command and option,\n"
    "must-experiment(5) the experiment files, must-dataset(5) the dataset format.\n"
    "The documents: " MUST_DOC_DIR "/README.md and " MUST_DOC_DIR "/docs/.\n";

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        overview(stdout);
        return 0;
    }
    if (must_cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        fputs(help_help, stdout);
        return 0;
    }
    const must_cmd *c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "must help: unknown command '%s'\n", argv[1]);
        overview(stderr);
        return 2;
    }
    if (argc > 3)
        return must_cli_usage_error("help", "give a command and at most one subcommand");
    /* must help CMD [SUB]: must CMD [SUB] --help */
    char *sub[] = {argv[1], argc > 2 ? argv[2] : "--help", "--help", NULL};
    return c->fn(argc, sub);
}

/* The program's version is that of the headers it was compiled with; the
 * library's is what must_version() says at run time. */
static int cmd_version(int argc, char **argv)
{
    if (argc > 1 && must_cli_is_help(argv[1])) {
        printf("usage: must version\n\n"
               "Prints the program's version, the version of the libmust it runs with,\n"
               "whether this build reads Pascal VOC (must import voc needs libxml2)\n"
               "and whether it runs over MPI ranks (mpirun -np N must ...).\n"
               "'must --version' and 'must -V' print the same.\n");
        return 0;
    }
    if (argc > 1)
        return must_cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("must %s\n", MUST_VERSION_STRING);
    printf("libmust %s\n", must_version());
#ifdef HAVE_LIBXML2
    printf("must import voc (libxml2): yes\n");
#else
    printf("must import voc (libxml2): no\n");
#endif
    if (must_dist_available())
        printf("mpi: %s, %d rank%s\n", must_dist_library(), must_dist_size(),
               must_dist_size() > 1 ? "s" : "");
    else
        printf("mpi: no (built without Open MPI: one rank)\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        overview(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return cmd_version(1, argv + 1);
    if (must_cli_is_help(argv[1]))
        return cmd_help(1, argv + 1);
    /* A file over `ulimit -f` makes write() fail with EFBIG, reported with
     * the file's name like any full disk, instead of killing us with SIGXFSZ. */
    signal(SIGXFSZ, SIG_IGN);
    const must_cmd *c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "must: unknown command '%s'\n", argv[1]);
        overview(stderr);
        return 2;
    }
    /* A set whose dataset.ini names a plugin's label kind loads that
     * plugin (must/plugin.h). */
    must_plugin_autoload_kinds(1);
    /* Under mpirun every rank runs the command (must/dist.h). */
    must_err derr = {0};
    if (must_dist_init(&argc, &argv, &derr)) {
        fprintf(stderr, "must: %s\n", derr.msg);
        return 1;
    }
    int rc = c->fn(argc - 1, argv + 1);
    must_dist_finalize();
    return rc;
}
