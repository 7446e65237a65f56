/* weighting.c - learned uncertainty weighting of task losses: the
 * log-variance parameters and the one-node op exp(-s) L + s (the formula
 * and why this form: must/weighting.h). */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include "engine/engine-impl.h"
#include "must/weighting.h"

must_params *must_weighting_params(int n, const char *const *names, const double *s0,
                                   must_err *err)
{
    if (n < 1) {
        must_err_set(err, MUST_EINVAL, "uncertainty weighting: no tasks");
        return NULL;
    }
    must_params *p = must_params_new(MUST_WEIGHTING_PREFIX);
    if (!p) {
        must_err_set(err, MUST_ENOMEM, "out of memory");
        return NULL;
    }
    int one = 1;
    for (int i = 0; i < n; i++) {
        char name[128];
        if ((size_t)snprintf(name, sizeof name, "log_var.%s", names[i]) >= sizeof name) {
            must_err_set(err, MUST_EINVAL, "uncertainty weighting: task name '%s' too long",
                         names[i]);
            goto fail;
        }
        if (s0 && !isfinite(s0[i])) {
            must_err_set(err, MUST_EINVAL,
                         "uncertainty weighting: initial log-variance of '%s' is %g", names[i],
                         s0[i]);
            goto fail;
        }
        if (!must_params_add(p, name, 1, &one, MUST_T_PARAM | MUST_T_NO_DECAY)) {
            must_err_set(err, MUST_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if (must_params_alloc(p, err))
        goto fail;
    for (int i = 0; i < n; i++)
        must_params_get(p, i)->data[0] = s0 ? (float)s0[i] : 0.0f;
    return p;
fail:
    must_params_free(p);
    return NULL;
}

static void term_bw(must_ctx *ctx, must_node *nd)
{
    (void)ctx;
    must_tensor *l = nd->in[0], *s = nd->in[1];
    float g = nd->out->grad[0], w = nd->farg[0];
    if (l->grad)
        l->grad[0] += g * w;
    if (s->grad)
        s->grad[0] += g * (1.0f - w * l->data[0]);
}

must_tensor *must_weighting_term(must_ctx *ctx, must_tensor *loss, must_tensor *log_var)
{
    if (!loss || !log_var)
        return NULL;
    if (loss->numel != 1 || log_var->numel != 1)
        return must_shape_fail(ctx, "weighting_term (one element each)", loss, log_var);
    must_tensor *y = must_scalar_new(ctx);
    if (!y)
        return NULL;
    /* The weight is kept for backward: the same float both passes use. */
    float w = expf(-log_var->data[0]);
    y->data[0] = w * loss->data[0] + log_var->data[0];
    must_tensor *in[2] = {loss, log_var};
    must_node *nd = must_tape_record(ctx, "weighting_term", term_bw, y, 2, in);
    if (nd)
        nd->farg[0] = w;
    return y;
}

must_tensor *must_weighting_total(must_ctx *ctx, int n, must_tensor *const *losses,
                                  const must_params *p)
{
    if (n != must_params_count(p)) {
        must_ctx_fail(ctx, MUST_EINVAL, "weighting: %d losses for %d log-variances", n,
                      must_params_count(p));
        return NULL;
    }
    must_tensor *total = NULL;
    for (int i = 0; i < n; i++) {
        must_tensor *t = must_weighting_term(ctx, losses[i], must_params_get(p, i));
        if (!t)
            return NULL;
        total = total ? must_op_add(ctx, total, t) : t;
    }
    return total;
}

double must_weighting_weight(const must_params *p, int i)
{
    const must_tensor *t = must_params_get(p, i);
    return t ? exp(-(double)t->data[0]) : NAN;
}
