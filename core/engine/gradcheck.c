/* gradcheck.c - central-difference gradient checks (ggml test-backend-ops
 * grad mode; Caffe's GradientChecker for the scaled tolerance). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "must/gradcheck.h"

static void defaults(const must_gradcheck_opts *in, must_gradcheck_opts *o)
{
    o->eps = in && in->eps > 0 ? in->eps : 1e-3f;
    o->tol = in && in->tol > 0 ? in->tol : 1e-2f;
    o->max_points = in ? in->max_points : 64;
    o->seed = in ? in->seed : 1;
}

/* The loss without recording, as a double. */
static int eval(must_ctx *ctx, must_loss_fn fn, void *user, double *out, must_err *err)
{
    must_ctx_reset(ctx);
    int g = must_ctx_grad(ctx);
    must_ctx_set_grad(ctx, 0);
    must_tensor *l = fn(ctx, user);
    must_ctx_set_grad(ctx, g);
    if (!l || must_ctx_error(ctx)->code)
        return must_err_set(err, must_ctx_error(ctx)->code ? must_ctx_error(ctx)->code
                                                           : MUST_EINVAL,
                            "gradcheck: loss failed: %s", must_ctx_error(ctx)->msg);
    *out = l->data[0];
    return MUST_OK;
}

static int analytic(must_ctx *ctx, must_loss_fn fn, void *user, must_params *const *sets, int n,
                    must_err *err)
{
    for (int i = 0; i < n; i++)
        must_params_zero_grad(sets[i]);
    must_ctx_reset(ctx);
    must_tensor *l = fn(ctx, user);
    if (!l || must_backward(ctx, l) != MUST_OK)
        return must_err_set(err, must_ctx_error(ctx)->code ? must_ctx_error(ctx)->code
                                                           : MUST_EINVAL,
                            "gradcheck: backward failed: %s", must_ctx_error(ctx)->msg);
    return MUST_OK;
}

int must_gradcheck(must_ctx *ctx, must_loss_fn fn, void *user, must_params *inputs,
                   const must_gradcheck_opts *opts, must_err *err)
{
    must_gradcheck_opts o;
    defaults(opts, &o);
    int rc = analytic(ctx, fn, user, &inputs, 1, err);
    if (rc)
        return rc;
    size_t ng = must_params_numel(inputs, 1);
    float *ga = malloc((ng ? ng : 1) * sizeof(float));
    if (!ga)
        return must_err_set(err, MUST_ENOMEM, "gradcheck: out of memory");
    memcpy(ga, must_params_grad(inputs), ng * sizeof(float));
    must_rng rng;
    must_rng_seed(&rng, o.seed);
    int checked = 0, skipped = 0;
    const float *gbase = must_params_grad(inputs);
    for (int ti = 0; ti < must_params_count(inputs) && rc == MUST_OK; ti++) {
        must_tensor *t = must_params_get(inputs, ti);
        if (!(t->flags & MUST_T_PARAM))
            continue;
        size_t off = (size_t)(t->grad - gbase);
        size_t npts = (o.max_points <= 0 || (size_t)o.max_points >= t->numel) ? t->numel
                                                                               : (size_t)o.max_points;
        for (size_t p = 0; p < npts && rc == MUST_OK; p++) {
            size_t i = npts == t->numel ? p : must_rng_below(&rng, (uint32_t)t->numel);
            float x0 = t->data[i];
            double fp, fm, f0;
            t->data[i] = x0 + o.eps;
            rc = eval(ctx, fn, user, &fp, err);
            t->data[i] = x0 - o.eps;
            if (!rc)
                rc = eval(ctx, fn, user, &fm, err);
            t->data[i] = x0;
            if (!rc)
                rc = eval(ctx, fn, user, &f0, err);
            if (rc)
                break;
            double num = (fp - fm) / (2.0 * o.eps);
            double dp = (fp - f0) / o.eps, dm = (f0 - fm) / o.eps;
            double a = ga[off + i];
            double scale = fmax(fmax(fabs(a), fabs(num)), 1.0);
            if (fabs(dp - dm) > 0.5 * fmax(fmax(fabs(dp), fabs(dm)), 1.0) &&
                fabs(a - num) / scale > o.tol) {
                skipped++; /* a kink lies within eps of this point */
                continue;
            }
            checked++;
            if (!isfinite(a) || fabs(a - num) / scale > o.tol)
                rc = must_err_set(err, MUST_ENUMERIC,
                                  "gradcheck: %s[%zu]: analytic %.6g, numeric %.6g",
                                  t->name ? t->name : "?", i, a, num);
        }
    }
    free(ga);
    if (rc == MUST_OK && skipped * 3 > checked)
        rc = must_err_set(err, MUST_ENUMERIC,
                          "gradcheck: %d of %d points skipped as kinks", skipped,
                          checked + skipped);
    return rc;
}

int must_gradcheck_dir(must_ctx *ctx, must_loss_fn fn, void *user, must_params *const *sets,
                       int n, const must_gradcheck_opts *opts, must_err *err)
{
    must_gradcheck_opts o;
    defaults(opts, &o);
    int rc = analytic(ctx, fn, user, sets, n, err);
    if (rc)
        return rc;
    must_rng rng;
    must_rng_seed(&rng, o.seed);
    size_t total = 0;
    for (int s = 0; s < n; s++)
        total += must_params_numel(sets[s], 1);
    float *d = malloc((total ? total : 1) * sizeof(float));
    if (!d)
        return must_err_set(err, MUST_ENOMEM, "gradcheck: out of memory");
    double dot = 0.0, norm = 0.0;
    size_t k = 0;
    for (int s = 0; s < n; s++) {
        size_t m = must_params_numel(sets[s], 1);
        const float *g = must_params_grad(sets[s]);
        for (size_t i = 0; i < m; i++, k++) {
            d[k] = must_rng_normal(&rng);
            norm += (double)d[k] * d[k];
        }
        (void)g;
    }
    norm = sqrt(norm);
    k = 0;
    for (int s = 0; s < n; s++) {
        size_t m = must_params_numel(sets[s], 1);
        const float *g = must_params_grad(sets[s]);
        for (size_t i = 0; i < m; i++, k++) {
            d[k] = (float)(d[k] / norm);
            dot += (double)g[i] * d[k];
        }
    }
    double f[2];
    for (int side = 0; side < 2 && !rc; side++) {
        float sg = side ? -o.eps : o.eps;
        k = 0;
        for (int s = 0; s < n; s++) {
            float *x = must_params_data(sets[s]);
            size_t m = must_params_numel(sets[s], 1);
            for (size_t i = 0; i < m; i++, k++)
                x[i] += sg * d[k];
        }
        rc = eval(ctx, fn, user, &f[side], err);
        k = 0;
        for (int s = 0; s < n; s++) {
            float *x = must_params_data(sets[s]);
            size_t m = must_params_numel(sets[s], 1);
            for (size_t i = 0; i < m; i++, k++)
                x[i] -= sg * d[k];
        }
    }
    free(d);
    if (rc)
        return rc;
    double num = (f[0] - f[1]) / (2.0 * o.eps);
    double scale = fmax(fmax(fabs(dot), fabs(num)), 1.0);
    if (!isfinite(dot) || fabs(dot - num) / scale > o.tol)
        return must_err_set(err, MUST_ENUMERIC,
                            "gradcheck: directional derivative: analytic %.6g, numeric %.6g",
                            dot, num);
    return MUST_OK;
}
