/* refmodel.c - the reference multi-task model (backbone + fc + pixel heads). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model-impl.h"
#include "must/refmodel.h"

typedef struct pixhead {
    must_params *p;
    mconv conv[3];
    mbn bn[3];
    mconv out;
} pixhead;

struct must_refmodel {
    must_refmodel_config cfg;
    must_backbone *bb;
    must_params *fc;
    must_tensor *fc_w, *fc_b;   /* (K, C5 channels), (K) */
    pixhead seg, depth;
};

void must_refmodel_config_reference(must_refmodel_config *c)
{
    memset(c, 0, sizeof *c);
    must_backbone_config_default(&c->backbone);
    c->backbone.depth = 18;
    c->backbone.width = 0.5f;
    c->backbone.fpn_channels = 64;
    c->classes = 10;
    c->seg_classes = 10;
    c->depth_head = 1;
    c->head_width = 64;
}

static int pixhead_new(pixhead *h, const char *name, int cin, int width, int cout, must_rng *r,
                       must_err *err)
{
    char prefix[32], nm[32];
    snprintf(prefix, sizeof prefix, "%s.", name);
    h->p = must_params_new(prefix);
    int rc = h->p ? 0 : -1;
    for (int i = 0; i < 3 && !rc; i++) {
        snprintf(nm, sizeof nm, "body.%d", 3 * i);
        rc |= mconv_add(h->p, &h->conv[i], nm, i ? width : cin, width, 3, 1, 0);
        snprintf(nm, sizeof nm, "body.%d", 3 * i + 1);
        rc |= mbn_add(h->p, &h->bn[i], nm, width);
    }
    if (!rc)
        rc |= mconv_add(h->p, &h->out, "out", width, cout, 1, 1, 1);
    if (rc)
        return must_err_set(err, MUST_ENOMEM, "%s head: out of memory", name);
    if (must_params_alloc(h->p, err) != MUST_OK)
        return MUST_ENOMEM;
    model_init_params(h->p, r);
    return MUST_OK;
}

must_refmodel *must_refmodel_new(const must_refmodel_config *c, must_err *err)
{
    if (c->classes < 0 || c->seg_classes < 0 || c->seg_classes > 255 ||
        ((c->seg_classes || c->depth_head) && (c->head_width < 1 || c->head_width > 4096))) {
        must_err_set(err, MUST_EINVAL,
                     "reference model: classes %d, seg_classes %d (0..255), head_width %d",
                     c->classes, c->seg_classes, c->head_width);
        return NULL;
    }
    if ((c->seg_classes || c->depth_head) && c->backbone.fpn_channels <= 0) {
        must_err_set(err, MUST_EINVAL, "reference model: pixel heads need the FPN's P2");
        return NULL;
    }
    must_refmodel *m = calloc(1, sizeof *m);
    if (!m) {
        must_err_set(err, MUST_ENOMEM, "reference model: out of memory");
        return NULL;
    }
    m->cfg = *c;
    m->bb = must_backbone_new(&c->backbone, err);
    if (!m->bb)
        goto fail;
    must_feature_desc d;
    must_backbone_features(m->bb, &d);
    /* Heads draw from their own stream so that adding one leaves the
     * backbone's initial values alone. */
    must_rng r;
    must_rng_seed(&r, c->backbone.seed ^ 0x6865616473ull);
    if (c->classes > 0) {
        m->fc = must_params_new("fc.");
        if (!m->fc)
            goto nomem;
        m->fc_w = must_params_add4(m->fc, "weight", c->classes, d.channels[MUST_C5], 0, 0,
                                   MUST_T_PARAM);
        m->fc_b = must_params_add4(m->fc, "bias", c->classes, 0, 0, 0,
                                   MUST_T_PARAM | MUST_T_NO_DECAY);
        if (!m->fc_w || !m->fc_b)
            goto nomem;
        if (must_params_alloc(m->fc, err) != MUST_OK)
            goto fail;
        model_init_params(m->fc, &r);
    }
    if (c->seg_classes > 0 &&
        pixhead_new(&m->seg, "seg", d.channels[MUST_P2], c->head_width, c->seg_classes, &r,
                    err) != MUST_OK)
        goto fail;
    if (c->depth_head &&
        pixhead_new(&m->depth, "depth", d.channels[MUST_P2], c->head_width, 1, &r, err) !=
            MUST_OK)
        goto fail;
    return m;
nomem:
    must_err_set(err, MUST_ENOMEM, "reference model: out of memory");
fail:
    must_refmodel_free(m);
    return NULL;
}

void must_refmodel_free(must_refmodel *m)
{
    if (!m)
        return;
    must_backbone_free(m->bb);
    must_params_free(m->fc);
    must_params_free(m->seg.p);
    must_params_free(m->depth.p);
    free(m);
}

must_backbone *must_refmodel_backbone(const must_refmodel *m) { return m->bb; }

int must_refmodel_sets(const must_refmodel *m, must_params **sets, int max)
{
    must_params *all[4] = {must_backbone_params(m->bb), m->fc, m->seg.p, m->depth.p};
    int n = 0;
    for (int i = 0; i < 4; i++)
        if (all[i]) {
            if (n < max)
                sets[n] = all[i];
            n++;
        }
    return n;
}

static const char *const head_names[3] = {"cls", "seg", "depth"};

const char *must_refmodel_module_name(int i)
{
    if (i < MUST_BACKBONE_NMODULES)
        return must_backbone_module_name(i);
    return i < MUST_REFMODEL_NMODULES ? head_names[i - MUST_BACKBONE_NMODULES] : NULL;
}

size_t must_refmodel_module_numel(const must_refmodel *m, int i)
{
    if (i < MUST_BACKBONE_NMODULES)
        return must_backbone_module_numel(m->bb, i);
    must_params *p = i == MUST_BACKBONE_NMODULES       ? m->fc
                     : i == MUST_BACKBONE_NMODULES + 1 ? m->seg.p
                     : i == MUST_BACKBONE_NMODULES + 2 ? m->depth.p
                                                       : NULL;
    return p ? must_params_numel(p, 1) : 0;
}

static unsigned wanted_levels(const must_refmodel *m)
{
    unsigned want = 0;
    if (m->fc)
        want |= MUST_LEVEL_BIT(MUST_C5);
    if (m->seg.p || m->depth.p)
        want |= MUST_LEVEL_BIT(MUST_P2);
    if (!want) {
        /* No heads: the whole backbone, for reports. */
        must_feature_desc d;
        must_backbone_features(m->bb, &d);
        want = d.present;
    }
    return want;
}

static double pixhead_flops(const pixhead *h, int ph, int pw)
{
    if (!h->p)
        return 0.0;
    double f = 0.0;
    for (int i = 0; i < 3; i++)
        f += mconv_flops(&h->conv[i], &ph, &pw);
    return f + mconv_flops(&h->out, &ph, &pw);
}

double must_refmodel_flops(const must_refmodel *m, int h, int w, double *per_module)
{
    double mod[MUST_REFMODEL_NMODULES] = {0};
    double total = must_backbone_flops(m->bb, h, w, wanted_levels(m), mod);
    if (total <= 0.0)
        return 0.0;
    must_feature_desc d;
    must_backbone_features(m->bb, &d);
    if (m->fc)
        mod[MUST_BACKBONE_NMODULES] = 2.0 * m->fc_w->shape[0] * m->fc_w->shape[1];
    if (m->seg.p || m->depth.p) {
        /* P2 has C2's size: run the stem's arithmetic once more. */
        const must_backbone_config *c = must_backbone_config_of(m->bb);
        int ph = mconv_out(h, c->stem_kernel, c->stem_stride, c->stem_kernel / 2);
        int pw = mconv_out(w, c->stem_kernel, c->stem_stride, c->stem_kernel / 2);
        if (c->stem_pool) {
            ph = mconv_out(ph, 3, 2, 1);
            pw = mconv_out(pw, 3, 2, 1);
        }
        mod[MUST_BACKBONE_NMODULES + 1] = pixhead_flops(&m->seg, ph, pw);
        mod[MUST_BACKBONE_NMODULES + 2] = pixhead_flops(&m->depth, ph, pw);
    }
    total = 0.0;
    for (int i = 0; i < MUST_REFMODEL_NMODULES; i++) {
        total += mod[i];
        if (per_module)
            per_module[i] = mod[i];
    }
    return total;
}

static must_tensor *pixhead_fwd(must_ctx *ctx, const pixhead *h, must_tensor *x, int oh, int ow,
                                float mom, float eps)
{
    for (int i = 0; i < 3; i++)
        x = mconv_bn_act(ctx, &h->conv[i], x, &h->bn[i], NULL, 1, mom, eps);
    return must_op_resize_bilinear(ctx, mconv_fwd(ctx, &h->out, x), oh, ow);
}

int must_refmodel_forward(must_refmodel *m, must_ctx *ctx, must_tensor *x, must_tensor **logits,
                          must_tensor **seg, must_tensor **depth)
{
    must_tensor *f[MUST_NLEVELS];
    *logits = *seg = *depth = NULL;
    int rc = must_backbone_forward(m->bb, ctx, x, wanted_levels(m), f);
    if (rc)
        return rc;
    const must_backbone_config *c = must_backbone_config_of(m->bb);
    int oh = x->shape[2], ow = x->shape[3];
    if (m->fc)
        *logits = must_op_linear(ctx, must_op_global_avgpool(ctx, f[MUST_C5]), m->fc_w, m->fc_b);
    if (m->seg.p)
        *seg = pixhead_fwd(ctx, &m->seg, f[MUST_P2], oh, ow, c->bn_momentum, c->bn_eps);
    if (m->depth.p)
        *depth = pixhead_fwd(ctx, &m->depth, f[MUST_P2], oh, ow, c->bn_momentum, c->bn_eps);
    rc = must_ctx_error(ctx)->code;
    if (rc)
        *logits = *seg = *depth = NULL;
    return rc;
}

must_tensor *must_refmodel_loss(must_refmodel *m, must_ctx *ctx, must_tensor *x,
                                const int32_t *cls, const int32_t *seg, const float *depth)
{
    must_tensor *lc, *ls, *ld, *loss = NULL;
    if (must_refmodel_forward(m, ctx, x, &lc, &ls, &ld) != MUST_OK)
        return NULL;
    if (lc)
        loss = must_op_cross_entropy(ctx, lc, cls, -100);
    if (ls) {
        must_tensor *l = must_op_cross_entropy(ctx, ls, seg, 255);
        loss = loss ? must_op_add(ctx, loss, l) : l;
    }
    if (ld) {
        must_tensor *l = must_op_l1(ctx, ld, depth, NULL);
        loss = loss ? must_op_add(ctx, loss, l) : l;
    }
    if (!loss && !must_ctx_error(ctx)->code)
        must_ctx_fail(ctx, MUST_EINVAL, "reference model: no heads, no loss");
    return loss;
}
