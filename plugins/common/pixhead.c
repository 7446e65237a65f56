/* pixhead.c - the shared pixel-wise head (see pixhead.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixhead.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

int pixhead_new(pixhead *ph, const must_host *h, const must_task_env *env, int width, int cout,
                const char *task, must_err *err)
{
    memset(ph, 0, sizeof *ph);
    ph->h = h;
    const must_feature_desc *f = env->features;
    if (!(f->present & MUST_LEVEL_BIT(MUST_P2)) || f->channels[MUST_P2] <= 0)
        return h->err_set(err, MUST_EINVAL,
                          "%s head reads P2, the fused FPN level; this backbone has none "
                          "(build it with an FPN)",
                          task);
    ph->cin = f->channels[MUST_P2];
    ph->width = width;
    ph->cout = cout;
    if (!(ph->p = h->params_new(env->prefix)))
        return h->err_set(err, MUST_ENOMEM, "%s head: out of memory", task);
    const unsigned P = MUST_T_PARAM, ND = MUST_T_PARAM | MUST_T_NO_DECAY, B = MUST_T_BUFFER;
    char nm[32];
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        int wshape[4] = {width, i ? width : ph->cin, 3, 3}, c[1] = {width};
        snprintf(nm, sizeof nm, "body.%d.weight", 3 * i);
        ok &= (ph->w[i] = h->params_add(ph->p, nm, 4, wshape, P)) != NULL;
        snprintf(nm, sizeof nm, "body.%d.weight", 3 * i + 1);
        ok &= (ph->gamma[i] = h->params_add(ph->p, nm, 1, c, ND)) != NULL;
        snprintf(nm, sizeof nm, "body.%d.bias", 3 * i + 1);
        ok &= (ph->beta[i] = h->params_add(ph->p, nm, 1, c, ND)) != NULL;
        snprintf(nm, sizeof nm, "body.%d.running_mean", 3 * i + 1);
        ok &= (ph->rmean[i] = h->params_add(ph->p, nm, 1, c, B)) != NULL;
        snprintf(nm, sizeof nm, "body.%d.running_var", 3 * i + 1);
        ok &= (ph->rvar[i] = h->params_add(ph->p, nm, 1, c, B)) != NULL;
    }
    int oshape[4] = {cout, width, 1, 1}, oc[1] = {cout};
    ok &= (ph->ow = h->params_add(ph->p, "out.weight", 4, oshape, P)) != NULL;
    ok &= (ph->ob = h->params_add(ph->p, "out.bias", 1, oc, ND)) != NULL;
    if (!ok) {
        pixhead_free(ph);
        return h->err_set(err, MUST_ENOMEM, "%s head: out of memory", task);
    }
    int rc = h->params_alloc(ph->p, err);
    if (rc) {
        pixhead_free(ph);
        return rc;
    }
    /* As the backbone: Kaiming-normal convs, BN weight 1 and bias 0,
     * running mean 0 and variance 1, prediction bias 0. */
    must_rng r;
    h->rng_seed(&r, env->seed);
    for (int i = 0; i < 3; i++) {
        h->init_kaiming(ph->w[i], &r);
        h->init_const(ph->gamma[i], 1.0f);
        h->init_const(ph->beta[i], 0.0f);
        h->init_const(ph->rmean[i], 0.0f);
        h->init_const(ph->rvar[i], 1.0f);
    }
    h->init_kaiming(ph->ow, &r);
    h->init_const(ph->ob, 0.0f);
    return MUST_OK;
}

void pixhead_free(pixhead *ph)
{
    if (ph->p)
        ph->h->params_free(ph->p);
    ph->p = NULL;
}

must_tensor *pixhead_forward(const pixhead *ph, must_ctx *ctx,
                             must_tensor *const levels[MUST_NLEVELS], int in_h, int in_w)
{
    const must_host *h = ph->h;
    must_tensor *x = levels[MUST_P2]; // (N, cin, h, w)
    for (int i = 0; i < 3; i++) {
        x = h->conv2d(ctx, x, ph->w[i], NULL, 1, 1, 1);
        x = h->batchnorm(ctx, x, ph->gamma[i], ph->beta[i], ph->rmean[i], ph->rvar[i],
                         BN_MOMENTUM, BN_EPS);
        x = h->relu(ctx, x); // (N, width, h, w)
    }
    x = h->conv2d(ctx, x, ph->ow, ph->ob, 1, 0, 1);   // (N, cout, h, w)
    return h->resize_bilinear(ctx, x, in_h, in_w);    // (N, cout, in_h, in_w)
}

int pixhead_cb_head_new(const must_host *h, const must_task_env *env, size_t head_size,
                        int width, int cout, const char *task, void **out, must_err *err)
{
    pixhead *ph = calloc(1, head_size);
    if (!ph)
        return h->err_set(err, MUST_ENOMEM, "%s head: out of memory", task);
    int rc = pixhead_new(ph, h, env, width, cout, task, err);
    if (rc) {
        free(ph);
        return rc;
    }
    *out = ph;
    return MUST_OK;
}

void pixhead_cb_head_free(void *head)
{
    pixhead_free(head);
    free(head);
}

must_params *pixhead_cb_head_params(void *head)
{
    return ((pixhead *)head)->p;
}

unsigned pixhead_cb_head_levels(void *head)
{
    (void)head;
    return MUST_LEVEL_BIT(MUST_P2);
}

void *pixhead_cb_forward(void *head, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS],
                         int in_h, int in_w)
{
    return pixhead_forward(head, ctx, levels, in_h, in_w);
}

int pixhead_check_batch(const must_host *h, const must_tensor *pred, const must_batch *b,
                        const char *task, must_err *err)
{
    if (pred->ndim != 4 || pred->shape[0] != b->n || pred->shape[2] != b->size ||
        pred->shape[3] != b->size) {
        char s[64];
        return h->err_set(err, MUST_ESHAPE,
                          "%s: prediction %s does not fit a batch of %d examples of %dx%d", task,
                          h->shape_str(pred, s, sizeof s), b->n, b->size, b->size);
    }
    return MUST_OK;
}
