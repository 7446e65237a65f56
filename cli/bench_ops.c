/* bench_ops.c - `must bench ops`: convolution speed against plain sgemm.
 *
 * For every conv shape of the reference model (must/refmodel.h) it
 * times the op's forward and backward and a plain sgemm of the forward's
 * M = Cout, N = B*Ho*Wo, K = Cin*k*k run the same way (must_sgemm, the same
 * threads), and prints one JSON line per shape.  A last line weighs every
 * shape by how often the model uses it: the fraction of sgemm speed that the
 * model's convolutions reach, forward and backward together.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "must/ops.h"

typedef struct conv_case {
    const char *name;
    int cin, cout, k, stride, div; /* input side = size / div */
    int bias, dx, count;           /* dx: the input needs a gradient */
} conv_case;

/* The reference model's convolutions: count = how many use the shape. */
static const conv_case cases[] = {
    {"stem", 3, 32, 7, 2, 1, 0, 0, 1},
    {"c2", 32, 32, 3, 1, 4, 0, 1, 4},
    {"c3_in", 32, 64, 3, 2, 4, 0, 1, 1},
    {"c3_down", 32, 64, 1, 2, 4, 0, 1, 1},
    {"c3", 64, 64, 3, 1, 8, 0, 1, 3},
    {"c4_in", 64, 128, 3, 2, 8, 0, 1, 1},
    {"c4_down", 64, 128, 1, 2, 8, 0, 1, 1},
    {"c4", 128, 128, 3, 1, 16, 0, 1, 3},
    {"c5_in", 128, 256, 3, 2, 16, 0, 1, 1},
    {"c5_down", 128, 256, 1, 2, 16, 0, 1, 1},
    {"c5", 256, 256, 3, 1, 32, 0, 1, 3},
    {"lat3", 64, 64, 1, 1, 8, 1, 1, 1},
    {"lat4", 128, 64, 1, 1, 16, 1, 1, 1},
    {"lat5", 256, 64, 1, 1, 32, 1, 1, 1},
    {"fpn3", 64, 64, 3, 1, 8, 1, 1, 1},
    {"fpn4", 64, 64, 3, 1, 16, 1, 1, 1},
    {"fpn5", 64, 64, 3, 1, 32, 1, 1, 1},
    {"p6", 64, 64, 3, 2, 32, 1, 1, 1},
    {"p7", 64, 64, 3, 2, 64, 1, 1, 1},
    {"head", 64, 64, 3, 1, 4, 0, 1, 6},
    {"head_seg", 64, 10, 1, 1, 4, 1, 1, 1},
    {"head_depth", 64, 1, 1, 1, 4, 1, 1, 1},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static int use_min; /* --stat min: the fastest rep, for machines shared with other jobs */

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, must_bench_cmp_double);
    if (use_min)
        return v[0];
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* n floats in [-0.5, 0.5) from a cheap hash: filling 75 MB operands with the
 * library's normal generator took longer than the timing itself. */
static float *randbuf(size_t n, uint32_t seed)
{
    float *p = NULL;
    if (posix_memalign((void **)&p, 64, (n ? n : 1) * sizeof(float)) != 0)
        return NULL;
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        p[i] = (float)(s >> 8) * (1.0f / 16777216.0f) - 0.5f;
    }
    return p;
}

typedef struct conv_times {
    double fwd, bwd, gemm; /* median seconds */
    double flops;          /* forward GEMM FLOPs: 2 M N K */
} conv_times;

static int time_case(const conv_case *cc, int size, int batch, int threads, int reps,
                     conv_times *t)
{
    int rc = 1;
    int h = size / cc->div < 1 ? 1 : size / cc->div;
    int pad = cc->k / 2;
    int ho = (h + 2 * pad - cc->k) / cc->stride + 1;
    must_rng r;
    must_rng_seed(&r, 7);
    must_ctx *ctx = must_ctx_new(threads);
    must_params *p = must_params_new("bench.");
    must_tensor *w = p ? must_params_add4(p, "w", cc->cout, cc->cin, cc->k, cc->k, MUST_T_PARAM)
                       : NULL;
    must_tensor *b = p && cc->bias ? must_params_add4(p, "b", cc->cout, 0, 0, 0, MUST_T_PARAM)
                                   : NULL;
    must_tensor x = {0};
    x.ndim = 4;
    x.shape[0] = batch;
    x.shape[1] = cc->cin;
    x.shape[2] = x.shape[3] = h;
    x.numel = (size_t)batch * cc->cin * h * h;
    x.data = randbuf(x.numel, 1);
    x.grad = cc->dx ? randbuf(x.numel, 2) : NULL;
    if (cc->dx)
        x.flags = MUST_T_REQ_GRAD;
    size_t M = (size_t)cc->cout, N = (size_t)batch * ho * ho, K = (size_t)cc->cin * cc->k * cc->k;
    float *gb = randbuf(K * N, 3), *gc = randbuf(M * N, 4);
    double *tf = malloc((size_t)reps * sizeof *tf), *tb = malloc((size_t)reps * sizeof *tb),
           *tg = malloc((size_t)reps * sizeof *tg);
    if (!ctx || !w || (cc->bias && !b) || must_params_alloc(p, NULL) != MUST_OK || !x.data ||
        (cc->dx && !x.grad) || !gb || !gc || !tf || !tb || !tg) {
        fprintf(stderr, "must bench ops: out of memory for %s\n", cc->name);
        goto out;
    }
    must_init_kaiming(w, &r);
    if (b)
        must_init_uniform(b, &r, -0.1f, 0.1f);
    const int warm = 2;
    for (int i = -warm; i < reps; i++) {
        must_ctx_reset(ctx);
        double t0 = must_bench_now();
        must_tensor *y = must_op_conv2d(ctx, &x, w, b, cc->stride, pad, 1);
        double t1 = must_bench_now();
        if (!y || must_tape_len(ctx) != 1) {
            fprintf(stderr, "must bench ops: %s: %s\n", cc->name, must_ctx_error(ctx)->msg);
            goto out;
        }
        must_node *nd = must_tape_node(ctx, 0);
        y->grad = must_ctx_alloc(ctx, y->numel * sizeof(float));
        if (!y->grad)
            goto out;
        for (size_t k = 0; k < y->numel; k++)
            y->grad[k] = 1e-3f * (float)(k % 7);
        double t2 = must_bench_now();
        nd->backward(ctx, nd);
        double t3 = must_bench_now();
        must_sgemm(ctx, 0, 0, (int)M, (int)N, (int)K, 1.0f, w->data, (int)K, gb, (int)N, 0.0f, gc,
                   (int)N);
        double t4 = must_bench_now();
        if (i >= 0) {
            tf[i] = t1 - t0;
            tb[i] = t3 - t2;
            tg[i] = t4 - t3;
        }
    }
    t->fwd = median(tf, reps);
    t->bwd = median(tb, reps);
    t->gemm = median(tg, reps);
    t->flops = 2.0 * (double)M * (double)N * (double)K;
    rc = 0;
out:
    free(tf);
    free(tb);
    free(tg);
    free(gb);
    free(gc);
    free(x.data);
    free(x.grad);
    must_params_free(p);
    must_ctx_free(ctx);
    return rc;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must bench ops [--threads N] [--size 64|128] [--batch B] [--reps R]\n"
            "                     [--stat median|min] [--only NAME]\n\n"
            "Times conv2d forward and backward for every conv shape of the reference model\n"
            "against a plain sgemm of the forward's M, N, K on the same threads; prints one\n"
            "JSON line per shape and a last line with the model-weighted fractions.\n\n"
            "  --threads N  threads (default: every core)\n"
            "  --size S     input side, 64 or 128 (default 64)\n"
            "  --batch B    batch size (default 32)\n"
            "  --reps R     timed repetitions after 2 warm-up ones; medians (default 5)\n"
            "  --stat S     median (default) or min: the fastest rep, on a shared machine\n"
            "  --only NAME  time only the named shape (stem, c2, ..., head, head_seg)\n");
}

int must_bench_ops(int argc, char **argv)
{
    int threads = 0, size = 64, batch = 32, reps = 5;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (must_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--threads") == 0) {
            if ((threads = must_cli_int("bench ops", a, v, 1, 1024)) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--size") == 0) {
            if ((size = must_cli_int("bench ops", a, v, 64, 128)) < 0)
                return 2;
            if (size != 64 && size != 128)
                return must_cli_usage_error("bench ops", "--size: %d is not 64 or 128", size);
            i++;
        } else if (strcmp(a, "--batch") == 0) {
            if ((batch = must_cli_int("bench ops", a, v, 1, 4096)) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--reps") == 0) {
            if ((reps = must_cli_int("bench ops", a, v, 1, 1000)) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--stat") == 0) {
            if (!v || (strcmp(v, "median") != 0 && strcmp(v, "min") != 0))
                return must_cli_usage_error("bench ops", "--stat takes median or min");
            use_min = strcmp(v, "min") == 0;
            i++;
        } else if (strcmp(a, "--only") == 0) {
            if (!v)
                return must_cli_usage_error("bench ops", "--only needs a shape name");
            only = v;
            i++;
        } else {
            return must_cli_usage_error("bench ops", "unknown option '%s'", a);
        }
    }
    must_ctx *probe = must_ctx_new(threads);
    if (!probe)
        return 1;
    threads = must_ctx_threads(probe);
    must_ctx_free(probe);

    double conv_s = 0, gemm_s = 0, fwd_s = 0, bwd_s = 0, fwd_g = 0, bwd_g = 0, flops = 0;
    for (int c = 0; c < NCASES; c++) {
        const conv_case *cc = &cases[c];
        conv_times t;
        if (only && strcmp(only, cc->name) != 0)
            continue;
        if (time_case(cc, size, batch, threads, reps, &t) != 0)
            return 1;
        double bwd_flops = (cc->dx ? 2.0 : 1.0) * t.flops;
        double gf = t.flops / t.gemm * 1e-9;
        double ff = t.flops / t.fwd * 1e-9, bf = bwd_flops / t.bwd * 1e-9;
        int h = size / cc->div < 1 ? 1 : size / cc->div;
        printf("{\"bench\":\"ops\",\"op\":\"conv2d\",\"name\":\"%s\",\"n\":%d,\"cin\":%d,"
               "\"h\":%d,\"w\":%d,\"cout\":%d,\"k\":%d,\"stride\":%d,\"bias\":%d,\"dx\":%d,"
               "\"count\":%d,\"threads\":%d,\"fwd_ms\":%.3f,\"bwd_ms\":%.3f,"
               "\"fwd_gflops\":%.2f,\"bwd_gflops\":%.2f,\"sgemm_gflops\":%.2f,"
               "\"fwd_frac\":%.3f,\"bwd_frac\":%.3f}\n",
               cc->name, batch, cc->cin, h, h, cc->cout, cc->k, cc->stride, cc->bias, cc->dx,
               cc->count, threads, 1e3 * t.fwd, 1e3 * t.bwd, ff, bf, gf, ff / gf, bf / gf);
        fflush(stdout);
        /* sgemm-equivalent seconds: what the same FLOPs take at the sgemm's rate */
        conv_s += cc->count * (t.fwd + t.bwd);
        gemm_s += cc->count * (t.flops + bwd_flops) / (gf * 1e9);
        fwd_s += cc->count * t.fwd;
        bwd_s += cc->count * t.bwd;
        fwd_g += cc->count * t.gemm;
        bwd_g += cc->count * t.gemm * bwd_flops / t.flops;
        flops += cc->count * (t.flops + bwd_flops);
    }
    printf("{\"bench\":\"ops\",\"op\":\"conv2d_model\",\"size\":%d,\"n\":%d,\"threads\":%d,"
           "\"conv_ms\":%.2f,\"gflops\":%.2f,\"fwd_frac\":%.3f,\"bwd_frac\":%.3f,"
           "\"frac\":%.3f}\n",
           size, batch, threads, 1e3 * conv_s, flops / conv_s * 1e-9, fwd_g / fwd_s,
           bwd_g / bwd_s, gemm_s / conv_s);
    return 0;
}
