/* bench_train.c - `must bench train` and `must bench label`: the reference
 * model of must/refmodel.h timed as whole training steps or as
 * inference batches, for comparison with torch_reference.py on the same
 * machine in the same session. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cli.h"
#include "must/model.h"
#include "must/optim.h"
#include "must/refmodel.h"

static void usage(FILE *fp, const char *kind, int batch)
{
    fprintf(fp,
            "usage: must bench %s [--size S] [--batch B] [--threads N] [--steps K] [--warmup W]%s\n"
            "\n"
            "Times the reference model (must/refmodel.h) %s on random data and\n"
            "prints one JSON line.\n"
            "\n"
            "  --size S      input S x S (default 64; the reference sizes are 64 and 128)\n"
            "  --batch B     images per step (default %d)\n"
            "  --threads N   threads (default: one per core)\n"
            "  --steps K     timed steps, median reported (default 10)\n"
            "  --warmup W    untimed steps first (default 3)\n",
            kind,
            strcmp(kind, "train") == 0
                ? "\n                        [--tasks LIST [--opt T.KEY=VALUE]... [--experiment FILE]]"
                : "",
            strcmp(kind, "train") == 0
                ? "as whole training steps (forward, backward, SGD update)"
                : "as inference batches (BN running statistics, no tape)",
            batch);
    if (strcmp(kind, "train") == 0)
        must_bench_tasks_usage(fp);
}

static int parse(int argc, char **argv, const char *kind, must_bench_steps *o)
{
    char cmd[32];
    snprintf(cmd, sizeof cmd, "bench %s", kind);
    for (int i = 1; i < argc; i++) {
        if (must_cli_is_help(argv[i])) {
            usage(stdout, kind, o->batch);
            return 1;
        }
        int rc = must_bench_steps_opt(cmd, argc, argv, &i, o);
        if (rc == 2)
            return 2;
        if (rc == 0)
            return must_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
    }
    return 0;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, must_bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int run(int argc, char **argv, int train)
{
    const char *kind = train ? "train" : "label";
    /* --tasks (and the options that go with it) times plugin heads instead
     * of the reference model. */
    for (int i = 1; train && i < argc && !must_cli_is_help(argv[i]); i++)
        if (!strcmp(argv[i], "--tasks") || !strcmp(argv[i], "--opt") ||
            !strcmp(argv[i], "--experiment"))
            return must_bench_train_tasks(argc, argv);
    must_bench_steps o = {64, train ? 32 : 64, 0, 10, 3};
    int rc = parse(argc, argv, kind, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    must_ctx *ctx = must_ctx_new(o.threads);
    must_refmodel_config mc;
    must_refmodel_config_reference(&mc);
    must_err err = {0};
    must_refmodel *m = ctx ? must_refmodel_new(&mc, &err) : NULL;
    if (!m) {
        fprintf(stderr, "must bench %s: %s\n", kind, ctx ? err.msg : "out of memory");
        must_ctx_free(ctx);
        return 1;
    }
    int threads = must_ctx_threads(ctx);
    must_params *sets[4];
    int nsets = must_refmodel_sets(m, sets, 4);
    size_t nparams = 0;
    for (int s = 0; s < nsets; s++)
        nparams += must_params_numel(sets[s], 1);

    /* Random data, the same every run: images N(0, 1), uniform labels,
     * depth in [0, 1). */
    const int B = o.batch, S = o.size;
    size_t npix = (size_t)B * S * S;
    must_tensor x = {0};
    x.ndim = 4;
    x.shape[0] = B, x.shape[1] = 3, x.shape[2] = S, x.shape[3] = S;
    x.numel = npix * 3;
    x.data = malloc(x.numel * sizeof(float));
    int32_t *ycls = malloc((size_t)B * sizeof *ycls), *yseg = malloc(npix * sizeof *yseg);
    float *ydep = malloc(npix * sizeof *ydep);
    must_optim *opt = NULL;
    double *times = calloc((size_t)o.steps, sizeof *times);
    double *cpu = calloc((size_t)o.steps, sizeof *cpu);
    if (!x.data || !ycls || !yseg || !ydep || !times || !cpu) {
        fprintf(stderr, "must bench %s: out of memory\n", kind);
        rc = 1;
        goto out;
    }
    /* torch_reference.py's optimizer: weight decay on every parameter. */
    must_optim_config oc;
    must_optim_config_default(&oc, MUST_OPTIM_SGD);
    oc.lr = 0.01;
    oc.momentum = 0.9;
    oc.weight_decay = 1e-4;
    oc.no_decay_exclude = 0;
    oc.threads = threads;
    if (train && !(opt = must_optim_new(&oc, sets, nsets, &err))) {
        fprintf(stderr, "must bench %s: %s\n", kind, err.msg);
        rc = 1;
        goto out;
    }
    must_rng r;
    must_rng_seed(&r, 0);
    for (size_t i = 0; i < x.numel; i++)
        x.data[i] = must_rng_normal(&r);
    for (int i = 0; i < B; i++)
        ycls[i] = (int32_t)must_rng_below(&r, 10);
    for (size_t i = 0; i < npix; i++) {
        yseg[i] = (int32_t)must_rng_below(&r, 10);
        ydep[i] = must_rng_uniform(&r);
    }

    must_ctx_set_training(ctx, train);
    must_ctx_set_grad(ctx, train);
    float last_loss = 0.0f;
    for (int step = 0; step < o.warmup + o.steps; step++) {
        double t0 = must_bench_now(), c0 = must_bench_cpu_now();
        must_ctx_reset(ctx);
        if (train) {
            for (int s = 0; s < nsets; s++)
                must_params_zero_grad(sets[s]);
            must_tensor *loss = must_refmodel_loss(m, ctx, &x, ycls, yseg, ydep);
            if (loss && must_backward(ctx, loss) == MUST_OK) {
                last_loss = loss->data[0];
                if (must_optim_step(opt, NULL, &err) != MUST_OK) {
                    fprintf(stderr, "must bench %s: step %d: %s\n", kind, step, err.msg);
                    rc = 1;
                    goto out;
                }
            }
        } else {
            must_tensor *lc, *ls, *ld;
            must_refmodel_forward(m, ctx, &x, &lc, &ls, &ld);
        }
        if (must_ctx_error(ctx)->code) {
            fprintf(stderr, "must bench %s: step %d: %s\n", kind, step,
                    must_ctx_error(ctx)->msg);
            rc = 1;
            goto out;
        }
        if (step >= o.warmup) {
            times[step - o.warmup] = must_bench_now() - t0;
            cpu[step - o.warmup] = must_bench_cpu_now() - c0;
        }
    }
    double fwd = must_refmodel_flops(m, S, S, NULL);
    double med = median(times, o.steps), cpu_med = median(cpu, o.steps);
    /* A training step is counted as three forward passes (forward, and the
     * two GEMMs per layer of backward), as torch_reference.py counts it. */
    double mult = train ? 3.0 : 1.0;
    printf("{\"bench\":\"%s\",\"mode\":\"%s\",\"size\":%d,\"batch\":%d,\"threads\":%d,"
           "\"img_s\":%.2f,\"gflops\":%.2f,\"peak_rss_mib\":%.1f,\"step_ms_median\":%.2f,"
           "\"step_ms_min\":%.2f,\"step_ms_max\":%.2f,\"params\":%zu,"
           "\"fwd_gflop_per_img\":%.4f,\"cpu_ms_median\":%.2f",
           kind, train ? "train" : "infer", S, B, threads, B / med, mult * fwd * B / med / 1e9,
           must_bench_peak_rss_mib(), med * 1e3, times[0] * 1e3, times[o.steps - 1] * 1e3,
           nparams, fwd / 1e9, cpu_med * 1e3);
    if (train)
        printf(",\"loss\":%.5f", (double)last_loss);
    /* The step's own memory (activations, their gradients, scratch), apart
     * from the process's libraries and the model's parameters. */
    printf(",\"arena_mib\":%.1f}\n", must_ctx_arena_bytes(ctx) / 1048576.0);
out:
    must_optim_free(opt);
    free(times);
    free(cpu);
    free(x.data);
    free(ycls);
    free(yseg);
    free(ydep);
    must_refmodel_free(m);
    must_ctx_free(ctx);
    return rc;
}

int must_bench_train(int argc, char **argv) { return run(argc, argv, 1); }
int must_bench_label(int argc, char **argv) { return run(argc, argv, 0); }
