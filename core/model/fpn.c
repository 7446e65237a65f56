/* fpn.c - the feature pyramid on C3..C5 (Lin et al. 2017, RetinaNet's P6/P7)
 * and the parameter-free P2 fusion of the MuST paper (§3.2).
 *
 * Names (documented in docs/model.md): fpn.lateral<l>.{weight,bias} 1x1,
 * fpn.output<l>.{weight,bias} 3x3 for l = min..5, fpn.p6 / fpn.p7 the
 * stride-2 3x3 convs, and fpn.bn<l>.* when batch norm is on (the convs it
 * follows then have no bias). */
#include "config.h"

#include <stdio.h>

#include "model-impl.h"

#define PBIT(l) MUST_LEVEL_BIT(MUST_P2 + (l) - 2)

int mfpn_add(must_params *p, mfpn *f, const must_backbone_config *c, const int *stage_channels)
{
    char name[32];
    int rc = 0, ch = c->fpn_channels, bias = !c->fpn_bn;
    f->min_level = c->fpn_min_level;
    f->max_level = c->fpn_max_level;
    f->channels = ch;
    f->bn = c->fpn_bn;
    for (int l = f->min_level; l <= 5; l++) {
        snprintf(name, sizeof name, "fpn.lateral%d", l);
        rc |= mconv_add(p, &f->lateral[l], name, stage_channels[l - 2], ch, 1, 1, 1);
    }
    for (int l = f->min_level; l <= f->max_level; l++) {
        if (l <= 5)
            snprintf(name, sizeof name, "fpn.output%d", l);
        else
            snprintf(name, sizeof name, "fpn.p%d", l);
        rc |= mconv_add(p, &f->output[l], name, ch, ch, 3, l <= 5 ? 1 : 2, bias);
        if (f->bn) {
            snprintf(name, sizeof name, "fpn.bn%d", l);
            rc |= mbn_add(p, &f->norm[l], name, ch);
        }
    }
    return rc;
}

/* Which FPN outputs `want` needs: need[l] for l = 3..7, and the lowest
 * lateral of the top-down chain (6 when nothing runs). */
static int plan(const mfpn *f, unsigned want, int need[8])
{
    int all = (want & MUST_LEVEL_BIT(MUST_P2)) != 0;
    for (int l = 0; l < 8; l++)
        need[l] = l >= f->min_level && l <= f->max_level && (all || (want & PBIT(l)));
    /* P7 is made from P6, P6 from P5. */
    if (need[7])
        need[6] = 1;
    if (need[6])
        need[5] = 1;
    int lo = 6;
    for (int l = 5; l >= f->min_level; l--)
        if (need[l])
            lo = l;
    return lo;
}

int mfpn_forward(const mfpn *f, must_ctx *ctx, must_tensor *const *c, unsigned want,
                 float momentum, float eps, must_tensor **out)
{
    int need[8];
    int lo = plan(f, want, need);
    if (lo > 5)
        return MUST_OK;
    for (int l = lo; l <= 5; l++)
        if (!c[l - 2])
            return must_ctx_error(ctx)->code ? must_ctx_error(ctx)->code
                                             : must_ctx_fail(ctx, MUST_EINVAL, "fpn: no C%d", l);
    if ((want & MUST_LEVEL_BIT(MUST_P2)) && !c[0])
        return must_ctx_error(ctx)->code ? must_ctx_error(ctx)->code
                                         : must_ctx_fail(ctx, MUST_EINVAL, "fpn: no C2");
    must_tensor *inner[6] = {NULL}, *p[8] = {NULL};
    inner[5] = mconv_fwd(ctx, &f->lateral[5], c[3]);
    for (int l = 4; l >= lo; l--) {
        must_tensor *cl = c[l - 2];
        must_tensor *up = inner[l + 1]
                              ? must_op_resize_nearest(ctx, inner[l + 1], cl->shape[2],
                                                       cl->shape[3])
                              : NULL;
        inner[l] = must_op_add(ctx, mconv_fwd(ctx, &f->lateral[l], cl), up);
    }
    for (int l = lo; l <= f->max_level; l++) {
        if (!need[l])
            continue;
        must_tensor *src = l <= 5 ? inner[l] : l == 6 ? p[5] : must_op_relu(ctx, p[6]);
        p[l] = f->bn ? mconv_bn_act(ctx, &f->output[l], src, &f->norm[l], NULL, 0, momentum, eps)
                     : mconv_fwd(ctx, &f->output[l], src);
    }
    for (int l = 3; l <= 7; l++)
        out[MUST_P2 + l - 2] = p[l];
    if (want & MUST_LEVEL_BIT(MUST_P2)) {
        out[MUST_P2] = mop_resize_sum(ctx, f->max_level - f->min_level + 1, p + f->min_level,
                                      c[0]->shape[2], c[0]->shape[3]);
    }
    return must_ctx_error(ctx)->code;
}

double mfpn_flops(const mfpn *f, const int *ch, const int *cw, unsigned want)
{
    int need[8];
    int lo = plan(f, want, need);
    if (lo > 5)
        return 0.0;
    double fl = 0.0;
    int ph = 0, pw = 0;
    for (int l = lo; l <= 5; l++) {
        int h = ch[l - 2], w = cw[l - 2];
        fl += mconv_flops(&f->lateral[l], &h, &w);
        if (need[l])
            fl += mconv_flops(&f->output[l], &h, &w);
        ph = h;
        pw = w;
    }
    for (int l = 6; l <= 7; l++)
        if (need[l])
            fl += mconv_flops(&f->output[l], &ph, &pw);
    return fl;
}
