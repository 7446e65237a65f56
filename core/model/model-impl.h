/* model-impl.h - building blocks shared by the backbone, the FPN and the
 * reference heads: a convolution and a batch norm that know their own
 * geometry, so that one description serves construction, forward and the
 * FLOP count. */
#ifndef MUST_MODEL_IMPL_H
#define MUST_MODEL_IMPL_H

#include "must/model.h"
#include "must/ops.h"

typedef struct mconv {
    must_tensor *w;   /* (cout, cin, k, k) */
    must_tensor *b;   /* (cout) or NULL */
    int cin, cout, k, stride, pad;
} mconv;

typedef struct mbn {
    must_tensor *gamma, *beta, *mean, *var; /* (C) each */
} mbn;

/* Declares `name.weight` (and `name.bias` when bias) in p; pad = k / 2.
 * Returns -1 when the set refuses the tensor (out of memory). */
int mconv_add(must_params *p, mconv *c, const char *name, int cin, int cout, int k, int stride,
              int bias);
/* Declares `name.weight`, `name.bias`, `name.running_mean`, `name.running_var`. */
int mbn_add(must_params *p, mbn *b, const char *name, int c);

must_tensor *mconv_fwd(must_ctx *ctx, const mconv *c, must_tensor *x);

/* Fused ops (core/model/model_ops.c).  y = act(bn(x) + res): batch norm in the
 * context's mode (training: batch statistics, running ones updated with
 * PyTorch's unbiased rule; eval: running statistics), plus res (same shape
 * as x, or NULL), then a ReLU when relu.  One op on the tape. */
must_tensor *mop_bn_act(must_ctx *ctx, must_tensor *x, const mbn *bn, must_tensor *res,
                        int relu, float momentum, float eps);
/* mop_bn_act(mconv_fwd(c, x), ...): in inference (eval mode, gradients off)
 * one op, the batch norm folded into the convolution's output chunks
 * (must_conv2d_bn_act), with the same bits; otherwise the two ops. */
must_tensor *mconv_bn_act(must_ctx *ctx, const mconv *c, must_tensor *x, const mbn *bn,
                          must_tensor *res, int relu, float momentum, float eps);
/* The sum of the n maps (N, C, h_i, w_i), each resized bilinearly
 * (align_corners = false, PyTorch's values) to oh x ow, added in order. */
must_tensor *mop_resize_sum(must_ctx *ctx, int n, must_tensor *const *xs, int oh, int ow);

/* Output size of c on an h x w input (updated in place) and its FLOPs per
 * image (2 x multiply-adds). */
double mconv_flops(const mconv *c, int *h, int *w);
int mconv_out(int in, int k, int stride, int pad);

/* Initialises every tensor of p by its role, in declaration order: conv
 * weights (4-d) Kaiming normal (fan-in), linear weights (2-d) uniform
 * +-1/sqrt(fan-in) as PyTorch, BN weights and running_var 1, the rest 0. */
void model_init_params(must_params *p, must_rng *r);

/* Trainable elements of p whose names start with prefix. */
size_t model_numel_prefix(const must_params *p, const char *prefix);

/* ---- the backbone's insides (core/model/backbone.c, core/model/fpn.c) ---- */

typedef struct mblock {
    mconv conv[3];
    mbn bn[3];
    int nconv;        /* 2: basic block, 3: bottleneck */
    int has_down;
    mconv down;       /* layerN.M.downsample.0 */
    mbn down_bn;      /* layerN.M.downsample.1 */
} mblock;

typedef struct mfpn {
    int min_level, max_level, channels, bn;
    mconv lateral[6];  /* indexed by level; 3..5 used */
    mconv output[8];   /* 3..5: output convs; 6, 7: the stride-2 convs */
    mbn norm[8];       /* 3..7 when bn */
} mfpn;

struct must_backbone {
    must_backbone_config cfg;
    must_params *params;
    mconv stem;
    mbn stem_bn;
    mblock *blocks[4];
    int nblocks[4];
    int stage_channels[4];    /* C2..C5 */
    int has_fpn;
    mfpn fpn;
};

/* fpn.c: declares the FPN's tensors; runs it on C3..C5 for the P levels in
 * want (P2 included); counts its FLOPs given C-level sizes. */
int mfpn_add(must_params *p, mfpn *f, const must_backbone_config *c, const int *stage_channels);
int mfpn_forward(const mfpn *f, must_ctx *ctx, must_tensor *const *c, unsigned want,
                 float momentum, float eps, must_tensor **out);
double mfpn_flops(const mfpn *f, const int *ch, const int *cw, unsigned want);

#endif
