/* dp.c - data-parallel training over MPI ranks: what the trainer does
 * between its steps so that N ranks stay one model (docs/scale-out.md).
 *
 * Every rank holds the whole model.  Rank 0's weights, buffers and
 * optimizer state go to every rank before the first step (a fresh start or
 * a resume from rank 0's checkpoint, made with any number of ranks); each
 * step's gradients are averaged over the ranks in place, one collective per
 * parameter set (each set's gradients are one flat block, must/tensor.h),
 * so that every rank takes the same update and the optimizer's state stays
 * the same everywhere.  Without synchronised batch norm each rank's running
 * statistics follow its own slice; they are averaged after every step, so
 * that the ranks' buffers, too, stay equal.  A checksum of everything a
 * checkpoint holds, compared over the ranks before each checkpoint, stops a
 * run whose ranks drifted apart instead of saving one rank's view of it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist-impl.h"
#include "pipeline-impl.h"

int pl_dp_size(void)
{
    return must_dist_group_size();
}

int pl_dp_rank(void)
{
    return must_dist_group_rank();
}

int pl_dp_bcast_state(must_params *const *sets, int nsets, must_optim *opt, long *step,
                      must_err *err)
{
    int rc = MUST_OK;
    for (int s = 0; s < nsets && !rc; s++)
        rc = must_dist_bcast(must_params_data(sets[s]),
                             must_params_numel(sets[s], 0) * sizeof(float),
                             "sharing rank 0's weights", err);
    for (int i = 0; opt && i < must_optim_state_count(opt) && !rc; i++) {
        const must_optim_state *st = must_optim_state_get(opt, i);
        rc = must_dist_bcast(st->data, st->param->numel * sizeof(float),
                             "sharing rank 0's optimizer state", err);
    }
    long v[2] = {step ? *step : 0, opt ? must_optim_get_step(opt) : 0};
    if (!rc)
        rc = must_dist_bcast(v, sizeof v, "sharing rank 0's step", err);
    if (!rc && step)
        *step = v[0];
    if (!rc && opt)
        must_optim_set_step(opt, v[1]);
    return rc;
}

int pl_dp_average_grads(must_params *const *sets, int nsets, const char *what, must_err *err)
{
    int n = must_dist_group_size(), rc = MUST_OK;
    for (int s = 0; s < nsets && !rc; s++) {
        float *g = must_params_grad(sets[s]);
        size_t k = must_params_numel(sets[s], 1);
        if (!(rc = must_dist_sum_f(g, k, what, err)))
            for (size_t i = 0; i < k; i++)
                g[i] /= (float)n;
    }
    return rc;
}

int pl_dp_average_buffers(must_params *const *sets, int nsets, const char *what, must_err *err)
{
    int n = must_dist_group_size(), rc = MUST_OK;
    for (int s = 0; s < nsets && !rc; s++) {
        size_t tr = must_params_numel(sets[s], 1), k = must_params_numel(sets[s], 0) - tr;
        float *b = must_params_data(sets[s]) + tr; /* buffers follow the trainable block */
        if (k && !(rc = must_dist_sum_f(b, k, what, err)))
            for (size_t i = 0; i < k; i++)
                b[i] /= (float)n;
    }
    return rc;
}

/* 64-bit FNV-1a over bytes, folded into h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t pl_dp_checksum(must_params *const *sets, int nsets, const must_optim *opt)
{
    uint64_t h = 14695981039346656037ull;
    for (int s = 0; s < nsets; s++)
        h = fnv(h, must_params_data(sets[s]), must_params_numel(sets[s], 0) * sizeof(float));
    for (int i = 0; opt && i < must_optim_state_count(opt); i++) {
        const must_optim_state *st = must_optim_state_get(opt, i);
        h = fnv(h, st->data, st->param->numel * sizeof(float));
    }
    long step = opt ? must_optim_get_step(opt) : 0;
    return fnv(h, &step, sizeof step);
}

int pl_dp_check(must_params *const *sets, int nsets, const must_optim *opt, const char *stage,
                long step, must_err *err)
{
    int n = must_dist_group_size();
    if (n <= 1)
        return MUST_OK;
    uint64_t *all = calloc((size_t)n, sizeof *all);
    if (!all)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    int rc = must_dist_gather_u64(pl_dp_checksum(sets, nsets, opt), all, "comparing the ranks' "
                                  "weights", err);
    char bad[256] = "";
    for (int r = 1; r < n && !rc; r++)
        if (all[r] != all[0] && strlen(bad) < sizeof bad - 16)
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "%s%d", bad[0] ? ", " : "", r);
    free(all);
    if (rc || !bad[0])
        return rc;
    /* Every rank saw the same checksums: they all stop here, alike. */
    must_dist_set_agreed();
    return must_err_set(err, MUST_ENUMERIC,
                        "%s: the ranks' models drifted apart by step %ld (rank%s %s differ%s "
                        "from rank 0 in weights, buffers or optimizer state); stopped before "
                        "saving; the same command resumes from the last checkpoint",
                        stage, step, strchr(bad, ',') ? "s" : "", bad,
                        strchr(bad, ',') ? "" : "s");
}
