/* bench_world.c - `must bench world`: rendering speed in images per second. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "bench.h"
#include "cli.h"
#include "must/world.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: must bench world [--size S] [--threads N] [--count N] [--domain NAME]\n"
                "\n"
                "Renders images (image and every label, in memory, no files) and prints\n"
                "one JSON line per size: {\"bench\":\"world\",...,\"img_s\":...}.\n"
                "  --size S     one size (default: 64 and 128)\n"
                "  --threads N  threads, one image each at a time (default: one per core)\n"
                "  --count N    images per size (default 400 at 64, scaled by area)\n"
                "  --domain D   the domain to draw from (default: unlabelled, the mixture)\n");
}

static int run(const must_world_domain *d, int size, int threads, int count)
{
    int failed = 0;
    must_err first = {0};
    double t0 = must_bench_now();
#pragma omp parallel num_threads(threads)
    {
        must_world_frame f;
        must_err e = {0};
        int ok = must_world_frame_alloc(&f, size, &e) == MUST_OK;
#pragma omp for schedule(dynamic, 2)
        for (int i = 0; i < count; i++) {
            if (!ok || must_world_render_index(d, 0, (uint64_t)i, &f, NULL, &e)) {
#pragma omp critical(bench_world_err)
                if (!failed++)
                    first = e;
                ok = 0;
            }
        }
        must_world_frame_free(&f);
    }
    double dt = must_bench_now() - t0;
    if (failed) {
        fprintf(stderr, "must bench world: %s\n", first.msg);
        return 1;
    }
    printf("{\"bench\":\"world\",\"domain\":\"%s\",\"size\":%d,\"threads\":%d,\"images\":%d,"
           "\"seconds\":%.3f,\"img_s\":%.1f,\"peak_rss_mib\":%.1f}\n",
           must_world_domain_name(d), size, threads, count, dt, count / dt,
           must_bench_peak_rss_mib());
    fflush(stdout);
    return 0;
}

int must_bench_world(int argc, char **argv)
{
    const char *cmd = "bench world", *name = "unlabelled";
    int size = 0, threads = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (must_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--size") == 0) {
            if ((size = must_cli_int(cmd, a, v, 8, 1024)) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if ((threads = must_cli_int(cmd, a, v, 1, 1024)) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--count") == 0) {
            if ((count = must_cli_int(cmd, a, v, 1, 1000000)) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--domain") == 0) {
            if (!v)
                return must_cli_usage_error(cmd, "--domain needs a value");
            name = v, i++;
        } else {
            return must_cli_usage_error(cmd, "unknown option '%s'", a);
        }
    }
#ifdef _OPENMP
    if (threads <= 0)
        threads = omp_get_num_procs();
#else
    threads = 1;
#endif
    must_err err = {0};
    must_world_domain *d;
    if (must_world_domain_load(name, &d, &err)) {
        fprintf(stderr, "must %s: %s\n", cmd, err.msg);
        return 1;
    }
    static const int sizes[2] = {64, 128};
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        int s = size ? size : sizes[k];
        int n = count ? count : (int)(400.0 * 64 * 64 / ((double)s * s) + 0.5);
        if (n < 8)
            n = 8;
        rc = run(d, s, threads, n);
        if (size)
            break;
    }
    must_world_domain_free(d);
    return rc;
}
