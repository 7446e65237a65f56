/* cmd_dataset.c - `must dataset check|show`: validate a set, or draw its labels. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "must/dataset.h"

static const char check_help[] =
    "usage: must dataset check DIR...\n\n"
    "Validates every file of each set (dataset.ini, images, splits, labels;\n"
    "must-dataset(5)), every image and label map decoded in full, prints every\n"
    "problem on stderr naming the file and line, then a summary per task on\n"
    "stdout.  Exit status 1 when any problem.\n";

static const char show_help[] =
    "usage: must dataset show DIR --out FILE.png [--count N] [--start I]\n"
    "                         [--split train|val|test] [--tile PX]\n\n"
    "Draws a contact sheet: one row per image (N, default 8, from image I of the\n"
    "split or of the whole set), the image with its boxes and class, then its\n"
    "segmentation over the image, depth and normal maps; tiles PX (default 128).\n";

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must dataset check DIR...\n"
            "       must dataset show DIR --out FILE.png [--count N] [--start I]\n"
            "                         [--split train|val|test] [--tile PX]\n\n"
            "check  validates every file of each set (must-dataset(5)) and reports every\n"
            "       problem; exit status 1 when any\n"
            "show   draws a contact sheet of the images and their labels\n\n"
            "'must dataset SUBCOMMAND --help' (or 'must dataset help SUBCOMMAND')\n"
            "describes one.\n");
}

static void print_report(void *user, int is_problem, const char *line)
{
    (void)user;
    if (is_problem)
        fprintf(stderr, "error: %s\n", line);
    else
        printf("%s\n", line);
}

static int cmd_check(int argc, char **argv)
{
    int ndirs = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        if (must_cli_is_help(argv[i])) {
            fputs(check_help, stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1])
            return must_cli_usage_error("dataset check", "unknown option '%s'", argv[i]);
    }
    for (int i = 1; i < argc; i++) {
        int problems;
        must_err e = {0};
        ndirs++;
        if (must_dataset_check(argv[i], print_report, NULL, &problems, &e)) {
            fprintf(stderr, "must dataset check: %s\n", e.msg);
            bad = 1;
            continue;
        }
        if (problems) {
            printf("%s: %d problem%s\n", argv[i], problems, problems == 1 ? "" : "s");
            bad = 1;
        } else {
            printf("%s: ok\n", argv[i]);
        }
        fflush(stdout);
    }
    if (!ndirs)
        return must_cli_usage_error("dataset check", "no dataset directory given");
    return bad;
}

static int cmd_show(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    const char *split_name = NULL;
    must_sheet_opts so;
    must_sheet_defaults(&so);
    const must_cli_opt opts[] = {{"--out", MUST_CLI_STR, &out, 0, 0},
                                 {"--count", MUST_CLI_INT, &so.count, 1, 256},
                                 {"--start", MUST_CLI_INT, &so.start, 0, 1 << 30},
                                 {"--tile", MUST_CLI_INT, &so.tile, 32, 1024},
                                 {"--split", MUST_CLI_STR, &split_name, 0, 0},
                                 {NULL, 0, NULL, 0, 0}};
    int prc = must_cli_parse("dataset show", argc, argv, opts, &dir, 1, show_help);
    if (prc)
        return prc == 1 ? 0 : prc;
    if (split_name && (so.split = must_split_parse(split_name)) < 0)
        return must_cli_usage_error("dataset show", "--split: '%s' is not train, val or test",
                                    split_name);
    if (!dir || !out)
        return must_cli_usage_error("dataset show", "needs DIR and --out FILE.png");
    must_dataset *ds;
    must_err e = {0};
    int rows = 0;
    int rc = must_dataset_open(dir, &ds, &e);
    if (!rc) {
        rc = must_dataset_draw_sheet(ds, &so, out, &rows, &e);
        must_dataset_close(ds);
    }
    if (rc) {
        fprintf(stderr, "must dataset show: %s\n", e.msg);
        return 1;
    }
    printf("%s: %d image%s of %s\n", out, rows, rows == 1 ? "" : "s", dir);
    return 0;
}

int must_cmd_dataset(int argc, char **argv)
{
    static const must_cli_sub subs[] = {{"check", cmd_check}, {"show", cmd_show}, {NULL, NULL}};
    return must_cli_dispatch("dataset", "subcommand", argc, argv, subs, usage);
}
