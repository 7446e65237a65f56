/* cmd_bench.c - `must bench KIND`: speed lives in benchmarks, never in tests. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

static const struct {
    const char *name;
    must_cmd_fn fn;
    const char *summary;
} kinds[] = {
    {"data", must_bench_data, "loader: decode + augment images/s per worker"},
    {"world", must_bench_world, "renders world images: images/s at 64 and 128 pixels"},
    {"ops", must_bench_ops, "conv2d forward/backward speed against plain sgemm"},
    {"train", must_bench_train, "training steps of the reference model (vs PyTorch)"},
    {"label", must_bench_label, "inference batches of the reference model (vs PyTorch)"},
    {NULL, NULL, NULL}, /* placeholder: every bench adds its line above this one */
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: must bench KIND [options]\n\nkinds:\n");
    for (int i = 0; kinds[i].name; i++)
        fprintf(fp, "  %-8s %s\n", kinds[i].name, kinds[i].summary);
    fprintf(fp, "\nEach prints one JSON line per measurement; 'must bench KIND --help'\n"
                "(or 'must bench help KIND') lists its options.\n");
}

int must_cmd_bench(int argc, char **argv)
{
    /* `must bench help KIND` is `must bench KIND --help` */
    int help = argc >= 2 && strcmp(argv[1], "help") == 0;
    if (argc < 2 || must_cli_is_help(argv[1]) || (help && argc == 2)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *name = argv[help ? 2 : 1];
    char *sub[] = {(char *)name, "--help", NULL};
    for (int i = 0; kinds[i].name; i++)
        if (strcmp(kinds[i].name, name) == 0)
            return help ? kinds[i].fn(2, sub) : kinds[i].fn(argc - 1, argv + 1);
    char names[128];
    size_t n = 0;
    names[0] = '\0';
    for (int i = 0; kinds[i].name && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", kinds[i].name);
    return must_cli_usage_error("bench", "unknown benchmark '%s' (%s)", name, names);
}
