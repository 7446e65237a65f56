/* bench.h - the benchmarks behind `must bench` (private to the program). */
#ifndef MUST_BENCH_H
#define MUST_BENCH_H

#include <stdio.h>

/* Each takes argv after "bench" (argv[0] is its own name). */
int must_bench_ops(int argc, char **argv);
int must_bench_train(int argc, char **argv);
int must_bench_label(int argc, char **argv);
/* `must bench train --tasks ...` (cli/bench_tasks.c), and its part of the
 * usage text. */
int must_bench_train_tasks(int argc, char **argv);
void must_bench_tasks_usage(FILE *fp);
int must_bench_data(int argc, char **argv);
int must_bench_world(int argc, char **argv);

/* Wall-clock seconds from a monotonic clock. */
double must_bench_now(void);
/* Peak resident set size of this process in MiB. */
double must_bench_peak_rss_mib(void);
double must_bench_cpu_now(void);                      /* every thread's CPU seconds */
int must_bench_cmp_double(const void *a, const void *b); /* qsort, ascending */

/* The options every timed-steps benchmark takes: --size, --batch, --threads,
 * --steps, --warmup. */
typedef struct must_bench_steps {
    int size, batch, threads, steps, warmup;
} must_bench_steps;
/* When argv[*i] is one of those options, parses its value (argv[*i + 1])
 * into o, advances *i past it and returns 1; returns 0 for any other
 * argument, and 2 (after a usage message naming cmd) for a bad value. */
int must_bench_steps_opt(const char *cmd, int argc, char **argv, int *i, must_bench_steps *o);

#endif
