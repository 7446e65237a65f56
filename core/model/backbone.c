/* backbone.c - the ResNet trunk (torchvision's layout and names) and the
 * backbone handle that ties it to the FPN. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model-impl.h"

void must_backbone_config_default(must_backbone_config *c)
{
    memset(c, 0, sizeof *c);
    c->depth = 50;
    c->width = 1.0f;
    c->in_channels = 3;
    c->stem_kernel = 7;
    c->stem_stride = 2;
    c->stem_pool = 1;
    c->fpn_channels = 256;
    c->fpn_min_level = 3;
    c->fpn_max_level = 7;
    c->fpn_bn = 0;
    c->bn_momentum = 0.1f;
    c->bn_eps = 1e-5f;
    c->seed = 1;
}

/* Blocks per stage and block kind, as torchvision's resnet18 .. resnet152. */
static int stage_layout(int depth, int n[4], int *bottleneck)
{
    static const struct {
        int depth, n[4], bottleneck;
    } t[] = {{18, {2, 2, 2, 2}, 0},  {34, {3, 4, 6, 3}, 0},  {50, {3, 4, 6, 3}, 1},
             {101, {3, 4, 23, 3}, 1}, {152, {3, 8, 36, 3}, 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].depth == depth) {
            memcpy(n, t[i].n, sizeof t[i].n);
            *bottleneck = t[i].bottleneck;
            return 0;
        }
    return -1;
}

static int scaled(int base, float width)
{
    long v = lroundf((float)base * width);
    return v < 1 ? 1 : (int)v;
}

static int check_config(const must_backbone_config *c, must_err *err)
{
    int n[4], bneck = 0;
    if (stage_layout(c->depth, n, &bneck) != 0)
        return must_err_set(err, MUST_EINVAL, "backbone: depth %d (18, 34, 50, 101 or 152)",
                            c->depth);
    if (!(c->width > 0.0f) || c->width > 16.0f)
        return must_err_set(err, MUST_EINVAL, "backbone: width %g (0 < width <= 16)",
                            (double)c->width);
    if (c->in_channels < 1 || c->in_channels > 64)
        return must_err_set(err, MUST_EINVAL, "backbone: in_channels %d (1..64)",
                            c->in_channels);
    if (c->stem_kernel < 1 || c->stem_kernel > 11 || c->stem_kernel % 2 == 0)
        return must_err_set(err, MUST_EINVAL, "backbone: stem_kernel %d (odd, 1..11)",
                            c->stem_kernel);
    if (c->stem_stride < 1 || c->stem_stride > 4)
        return must_err_set(err, MUST_EINVAL, "backbone: stem_stride %d (1..4)",
                            c->stem_stride);
    if (c->fpn_channels < 0 || c->fpn_channels > 4096)
        return must_err_set(err, MUST_EINVAL, "backbone: fpn_channels %d (0..4096)",
                            c->fpn_channels);
    if (c->fpn_channels > 0 &&
        (c->fpn_min_level < 3 || c->fpn_min_level > 5 || c->fpn_max_level < 5 ||
         c->fpn_max_level > 7))
        return must_err_set(err, MUST_EINVAL,
                            "backbone: FPN levels %d..%d (lowest 3..5, highest 5..7)",
                            c->fpn_min_level, c->fpn_max_level);
    if (!(c->bn_momentum >= 0.0f && c->bn_momentum <= 1.0f) || !(c->bn_eps > 0.0f))
        return must_err_set(err, MUST_EINVAL, "backbone: bn_momentum %g (0..1), bn_eps %g (> 0)",
                            (double)c->bn_momentum, (double)c->bn_eps);
    return MUST_OK;
}

static int add_block(must_params *p, mblock *b, int stage, int idx, int inplanes, int planes,
                     int stride, int bottleneck)
{
    char name[64];
    int rc = 0, out = bottleneck ? 4 * planes : planes;
    /* Like torchvision >= 0.4 ("ResNet v1.5"), a bottleneck strides in its
     * 3x3 conv, not its first 1x1. */
    if (bottleneck) {
        b->nconv = 3;
        int cin[3] = {inplanes, planes, planes}, cout[3] = {planes, planes, out};
        int k[3] = {1, 3, 1}, s[3] = {1, stride, 1};
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "layer%d.%d.conv%d", stage + 1, idx, i + 1);
            rc |= mconv_add(p, &b->conv[i], name, cin[i], cout[i], k[i], s[i], 0);
            snprintf(name, sizeof name, "layer%d.%d.bn%d", stage + 1, idx, i + 1);
            rc |= mbn_add(p, &b->bn[i], name, cout[i]);
        }
    } else {
        b->nconv = 2;
        for (int i = 0; i < 2; i++) {
            snprintf(name, sizeof name, "layer%d.%d.conv%d", stage + 1, idx, i + 1);
            rc |= mconv_add(p, &b->conv[i], name, i ? planes : inplanes, planes, 3,
                            i ? 1 : stride, 0);
            snprintf(name, sizeof name, "layer%d.%d.bn%d", stage + 1, idx, i + 1);
            rc |= mbn_add(p, &b->bn[i], name, planes);
        }
    }
    b->has_down = stride != 1 || inplanes != out;
    if (b->has_down) {
        snprintf(name, sizeof name, "layer%d.%d.downsample.0", stage + 1, idx);
        rc |= mconv_add(p, &b->down, name, inplanes, out, 1, stride, 0);
        snprintf(name, sizeof name, "layer%d.%d.downsample.1", stage + 1, idx);
        rc |= mbn_add(p, &b->down_bn, name, out);
    }
    return rc;
}

must_backbone *must_backbone_new(const must_backbone_config *c, must_err *err)
{
    must_backbone_config def;
    if (!c) {
        must_backbone_config_default(&def);
        c = &def;
    }
    if (check_config(c, err) != MUST_OK)
        return NULL;
    must_backbone *bb = calloc(1, sizeof *bb);
    if (!bb) {
        must_err_set(err, MUST_ENOMEM, "backbone: out of memory");
        return NULL;
    }
    bb->cfg = *c;
    bb->params = must_params_new("");
    int n[4], bneck = 0, rc = bb->params ? 0 : -1;
    stage_layout(c->depth, n, &bneck);
    int inplanes = scaled(64, c->width);
    if (!rc) {
        rc |= mconv_add(bb->params, &bb->stem, "conv1", c->in_channels, inplanes,
                        c->stem_kernel, c->stem_stride, 0);
        rc |= mbn_add(bb->params, &bb->stem_bn, "bn1", inplanes);
    }
    for (int s = 0; s < 4 && !rc; s++) {
        int planes = scaled(64 << s, c->width);
        bb->nblocks[s] = n[s];
        bb->blocks[s] = calloc((size_t)n[s], sizeof(mblock));
        if (!bb->blocks[s]) {
            rc = -1;
            break;
        }
        for (int i = 0; i < n[s] && !rc; i++) {
            rc |= add_block(bb->params, &bb->blocks[s][i], s, i, inplanes, planes,
                            i == 0 && s > 0 ? 2 : 1, bneck);
            inplanes = bneck ? 4 * planes : planes;
        }
        bb->stage_channels[s] = inplanes;
    }
    if (!rc && c->fpn_channels > 0) {
        bb->has_fpn = 1;
        rc |= mfpn_add(bb->params, &bb->fpn, c, bb->stage_channels);
    }
    if (rc || must_params_alloc(bb->params, err) != MUST_OK) {
        if (rc)
            must_err_set(err, MUST_ENOMEM, "backbone: out of memory");
        must_backbone_free(bb);
        return NULL;
    }
    must_backbone_init(bb, c->seed);
    return bb;
}

void must_backbone_free(must_backbone *bb)
{
    if (!bb)
        return;
    for (int s = 0; s < 4; s++)
        free(bb->blocks[s]);
    must_params_free(bb->params);
    free(bb);
}

void must_backbone_init(must_backbone *bb, uint64_t seed)
{
    must_rng r;
    must_rng_seed(&r, seed);
    model_init_params(bb->params, &r);
}

const must_backbone_config *must_backbone_config_of(const must_backbone *bb)
{
    return &bb->cfg;
}

must_params *must_backbone_params(const must_backbone *bb) { return bb->params; }

static const char *const module_names[MUST_BACKBONE_NMODULES] = {
    "stem", "layer1", "layer2", "layer3", "layer4", "fpn"};
static const char *const module_prefix[MUST_BACKBONE_NMODULES] = {
    NULL, "layer1.", "layer2.", "layer3.", "layer4.", "fpn."};

const char *must_backbone_module_name(int i)
{
    return i >= 0 && i < MUST_BACKBONE_NMODULES ? module_names[i] : NULL;
}

size_t must_backbone_module_numel(const must_backbone *bb, int i)
{
    if (i < 0 || i >= MUST_BACKBONE_NMODULES)
        return 0;
    if (i == 0)
        return model_numel_prefix(bb->params, "conv1.") + model_numel_prefix(bb->params, "bn1.");
    return model_numel_prefix(bb->params, module_prefix[i]);
}

/* Strides of C2..C5: the stem's, the pool's, then 1, 2, 2, 2 per stage. */
static void stage_strides(const must_backbone_config *c, int st[4])
{
    int s = c->stem_stride * (c->stem_pool ? 2 : 1);
    for (int i = 0; i < 4; i++) {
        if (i > 0)
            s *= 2;
        st[i] = s;
    }
}

void must_backbone_features(const must_backbone *bb, must_feature_desc *d)
{
    memset(d, 0, sizeof *d);
    int st[4];
    stage_strides(&bb->cfg, st);
    for (int i = 0; i < 4; i++) {
        d->present |= MUST_LEVEL_BIT(MUST_C2 + i);
        d->channels[MUST_C2 + i] = bb->stage_channels[i];
        d->stride[MUST_C2 + i] = st[i];
    }
    if (!bb->has_fpn)
        return;
    for (int l = bb->fpn.min_level; l <= bb->fpn.max_level; l++) {
        int lv = MUST_P2 + (l - 2);
        d->present |= MUST_LEVEL_BIT(lv);
        d->channels[lv] = bb->fpn.channels;
        d->stride[lv] = l <= 5 ? st[l - 2] : st[3] << (l - 5);
    }
    d->present |= MUST_LEVEL_BIT(MUST_P2);
    d->channels[MUST_P2] = bb->fpn.channels;
    d->stride[MUST_P2] = st[0];
}

/* The deepest stage (0..3 for C2..C5) that `want` needs; -1 for none. */
static int deepest_stage(unsigned want)
{
    const unsigned p_levels = MUST_LEVEL_BIT(MUST_P2) | MUST_LEVEL_BIT(MUST_P3) |
                              MUST_LEVEL_BIT(MUST_P4) | MUST_LEVEL_BIT(MUST_P5) |
                              MUST_LEVEL_BIT(MUST_P6) | MUST_LEVEL_BIT(MUST_P7);
    if (want & p_levels)
        return 3;
    for (int s = 3; s >= 0; s--)
        if (want & MUST_LEVEL_BIT(MUST_C2 + s))
            return s;
    return -1;
}

static double block_flops(const mblock *b, int *h, int *w)
{
    int h0 = *h, w0 = *w;
    double f = 0.0;
    for (int i = 0; i < b->nconv; i++)
        f += mconv_flops(&b->conv[i], h, w);
    if (b->has_down)
        f += mconv_flops(&b->down, &h0, &w0);
    return f;
}

double must_backbone_flops(const must_backbone *bb, int h, int w, unsigned want,
                           double *per_module)
{
    double mod[MUST_BACKBONE_NMODULES] = {0};
    int last = deepest_stage(want);
    int ch[4] = {0}, cw[4] = {0};
    if (last >= 0) {
        mod[0] = mconv_flops(&bb->stem, &h, &w);
        if (bb->cfg.stem_pool) {
            h = mconv_out(h, 3, 2, 1);
            w = mconv_out(w, 3, 2, 1);
        }
    }
    for (int s = 0; s <= last; s++) {
        for (int i = 0; i < bb->nblocks[s]; i++)
            mod[1 + s] += block_flops(&bb->blocks[s][i], &h, &w);
        ch[s] = h;
        cw[s] = w;
    }
    if (last >= 0 && (h <= 0 || w <= 0))
        return 0.0;
    if (bb->has_fpn)
        mod[5] = mfpn_flops(&bb->fpn, ch, cw, want);
    double total = 0.0;
    for (int i = 0; i < MUST_BACKBONE_NMODULES; i++) {
        total += mod[i];
        if (per_module)
            per_module[i] = mod[i];
    }
    return total;
}

static must_tensor *block_fwd(must_ctx *ctx, const mblock *b, must_tensor *x, float mom,
                              float eps)
{
    must_tensor *skip =
        b->has_down ? mconv_bn_act(ctx, &b->down, x, &b->down_bn, NULL, 0, mom, eps) : x;
    must_tensor *y = x;
    for (int i = 0; i < b->nconv; i++) {
        int last = i + 1 == b->nconv;
        /* The last BN takes the shortcut and the block's ReLU with it. */
        y = mconv_bn_act(ctx, &b->conv[i], y, &b->bn[i], last ? skip : NULL, 1, mom, eps);
    }
    return y;
}

int must_backbone_forward(must_backbone *bb, must_ctx *ctx, must_tensor *x, unsigned want,
                          must_tensor *out[MUST_NLEVELS])
{
    for (int i = 0; i < MUST_NLEVELS; i++)
        out[i] = NULL;
    if (must_ctx_error(ctx)->code)
        return must_ctx_error(ctx)->code;
    if (!x)
        return must_ctx_fail(ctx, MUST_EINVAL, "backbone: no input");
    must_feature_desc d;
    must_backbone_features(bb, &d);
    unsigned missing = want & ~d.present;
    if (missing) {
        for (int i = 0; i < MUST_NLEVELS; i++)
            if (missing & MUST_LEVEL_BIT(i))
                return must_ctx_fail(ctx, MUST_EINVAL,
                                     "backbone: level %s requested but this backbone has %s",
                                     must_level_name(i),
                                     bb->has_fpn ? "no such level" : "no FPN");
    }
    if (x->ndim != 4 || x->shape[1] != bb->cfg.in_channels) {
        char s[64];
        return must_ctx_fail(ctx, MUST_ESHAPE,
                             "backbone: input %s, expected (N, %d, H, W)",
                             must_shape_str(x, s, sizeof s), bb->cfg.in_channels);
    }
    const float mom = bb->cfg.bn_momentum, eps = bb->cfg.bn_eps;
    int last = deepest_stage(want);
    if (last < 0)
        return MUST_OK;
    must_tensor *c[4] = {NULL};
    must_tensor *y = mconv_bn_act(ctx, &bb->stem, x, &bb->stem_bn, NULL, 1, mom, eps);
    if (bb->cfg.stem_pool)
        y = must_op_maxpool(ctx, y, 3, 2, 1);
    for (int s = 0; s <= last; s++) {
        for (int i = 0; i < bb->nblocks[s]; i++)
            y = block_fwd(ctx, &bb->blocks[s][i], y, mom, eps);
        c[s] = y;
    }
    for (int s = 0; s < 4; s++)
        if (want & MUST_LEVEL_BIT(MUST_C2 + s))
            out[MUST_C2 + s] = c[s];
    if (bb->has_fpn && (want & ~0xfu) && !must_ctx_error(ctx)->code) {
        must_tensor *p[MUST_NLEVELS] = {NULL};
        mfpn_forward(&bb->fpn, ctx, c, want, mom, eps, p);
        for (int i = MUST_P2; i < MUST_NLEVELS; i++)
            if (want & MUST_LEVEL_BIT(i))
                out[i] = p[i];
    }
    int rc = must_ctx_error(ctx)->code;
    if (rc)
        for (int i = 0; i < MUST_NLEVELS; i++)
            out[i] = NULL;
    return rc;
}
