/* model_opstubs.c - TEMPORARY: weak stand-ins for ops that other branches
 * are writing, so that the model code links before they land in main.  A
 * real definition overrides each of these at link time; this file goes away
 * once every op below is in main. */
#include "config.h"

#include "engine-impl.h"

#define MUST_PENDING(op)                                                                      \
    (must_ctx_fail(ctx, MUST_EINVAL, "%s: not in this build yet", op), (must_tensor *)NULL)

__attribute__((weak)) must_tensor *must_op_conv2d(must_ctx *ctx, must_tensor *x, must_tensor *w,
                                                  must_tensor *b, int stride, int pad, int dil)
{
    (void)x, (void)w, (void)b, (void)stride, (void)pad, (void)dil;
    return MUST_PENDING("conv2d");
}

__attribute__((weak)) must_tensor *must_op_batchnorm(must_ctx *ctx, must_tensor *x,
                                                     must_tensor *gamma, must_tensor *beta,
                                                     must_tensor *rm, must_tensor *rv,
                                                     float momentum, float eps)
{
    (void)x, (void)gamma, (void)beta, (void)rm, (void)rv, (void)momentum, (void)eps;
    return MUST_PENDING("batchnorm");
}

__attribute__((weak)) must_tensor *must_op_maxpool(must_ctx *ctx, must_tensor *x, int k,
                                                   int stride, int pad)
{
    (void)x, (void)k, (void)stride, (void)pad;
    return MUST_PENDING("maxpool");
}

__attribute__((weak)) must_tensor *must_op_global_avgpool(must_ctx *ctx, must_tensor *x)
{
    (void)x;
    return MUST_PENDING("global_avgpool");
}

__attribute__((weak)) must_tensor *must_op_linear(must_ctx *ctx, must_tensor *x, must_tensor *w,
                                                  must_tensor *b)
{
    (void)x, (void)w, (void)b;
    return MUST_PENDING("linear");
}

