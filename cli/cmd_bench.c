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
    fprintf(fp, "\nEach prints one JSON line per measurement; 'must bench KIND --help' "
                "lists its options.\n");
}

int must_cmd_bench(int argc, char **argv)
{
    if (argc < 2 || must_cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; kinds[i].name; i++)
        if (strcmp(kinds[i].name, argv[1]) == 0)
            return kinds[i].fn(argc - 1, argv + 1);
    return must_cli_usage_error("bench", "unknown benchmark '%s'", argv[1]);
}
