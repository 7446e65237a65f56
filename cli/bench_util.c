/* bench_util.c - clocks, memory figures and the shared options of the
 * benchmarks. */
#include "config.h"

#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "cli.h"

double must_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the whole process (every thread): on a shared machine the
 * wall clock also counts other processes' turns, this does not. */
double must_bench_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int must_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double must_bench_peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

int must_bench_steps_opt(const char *cmd, int argc, char **argv, int *i, must_bench_steps *o)
{
    static const struct {
        const char *name;
        size_t off;
        int lo, hi;
    } opts[] = {
        {"--size", offsetof(must_bench_steps, size), 8, 4096},
        {"--batch", offsetof(must_bench_steps, batch), 1, 4096},
        {"--threads", offsetof(must_bench_steps, threads), 1, 1024},
        {"--steps", offsetof(must_bench_steps, steps), 1, 100000},
        {"--warmup", offsetof(must_bench_steps, warmup), 0, 100000},
    };
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        if (strcmp(a, opts[k].name) != 0)
            continue;
        int n = must_cli_int(cmd, a, v, opts[k].lo, opts[k].hi);
        if (n < 0)
            return 2;
        *(int *)((char *)o + opts[k].off) = n;
        ++*i;
        return 1;
    }
    return 0;
}
