/* ckpt_diff.c - how far apart two safetensors files' weights are: over
 * every element of every F32 tensor in both, |a - b| / max(|a|, 1), the
 * difference relative to the value, or absolute below 1 (numpy's allclose
 * with rtol = atol = TOL: weights near zero, BN's biases after a few steps,
 * differ by rounding more than their size suggests); prints the worst
 * tensor and exits 1 when it is above TOL, 2 when the files do not hold the
 * same tensors.  BN's running statistics (names with "running_") are held to
 * BUFTOL instead: a variance over a few values at 1x1 resolution moves with
 * rounding more than any weight (docs/scale-out.md).  For
 * tests/mpi_train.sh, which compares 2 ranks with 1 process.
 *
 * usage: ckpt_diff A.safetensors B.safetensors [TOL [BUFTOL]] */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/safetensors.h"

static int load(const must_st *st, const must_st_tensor *t, float **out)
{
    must_err e = {0};
    *out = malloc((t->numel ? t->numel : 1) * sizeof **out);
    if (!*out || must_st_to_f32(st, t, *out, &e)) {
        fprintf(stderr, "ckpt_diff: %s: %s\n", t->name, e.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ckpt_diff A B [TOL]\n");
        return 2;
    }
    double tol = argc > 3 ? atof(argv[3]) : 1e-4, worst = 0, bworst = 0;
    double btol = argc > 4 ? atof(argv[4]) : tol;
    char wname[256] = "(none)", bname[256] = "(none)";
    must_st *a, *b;
    must_err e = {0};
    if (must_st_open(argv[1], &a, &e) || must_st_open(argv[2], &b, &e)) {
        fprintf(stderr, "ckpt_diff: %s\n", e.msg);
        return 2;
    }
    int n = 0, bad = 0;
    for (int i = 0; i < must_st_count(a) && !bad; i++) {
        const must_st_tensor *ta = must_st_get(a, i), *tb = must_st_find(b, ta->name);
        if (!tb || tb->numel != ta->numel) {
            fprintf(stderr, "ckpt_diff: %s: not in %s or of another size\n", ta->name, argv[2]);
            bad = 2;
            break;
        }
        if (ta->dtype != MUST_ST_F32)
            continue;
        float *x, *y;
        if (load(a, ta, &x) || load(b, tb, &y))
            return 2;
        double d = 0;
        for (size_t k = 0; k < ta->numel; k++) {
            double v = fabs((double)x[k] - (double)y[k]) / fmax(fabs((double)x[k]), 1.0);
            d = v > d || isnan(v) ? v : d;
        }
        int buf = strstr(ta->name, "running_") != NULL;
        if (!(d <= (buf ? bworst : worst))) {
            *(buf ? &bworst : &worst) = d;
            snprintf(buf ? bname : wname, sizeof wname, "%s", ta->name);
        }
        free(x);
        free(y);
        n++;
    }
    if (!bad && must_st_count(b) != must_st_count(a)) {
        fprintf(stderr, "ckpt_diff: %s has %d tensors, %s %d\n", argv[1], must_st_count(a),
                argv[2], must_st_count(b));
        bad = 2;
    }
    must_st_close(a);
    must_st_close(b);
    if (bad)
        return bad;
    printf("%d tensors; the largest relative difference of a weight %.3g is %s's, of a "
           "running statistic %.3g %s's\n", n, worst, wname, bworst, bname);
    return worst <= tol && bworst <= btol ? 0 : 1;
}
