/* must/ops.h - differentiable operations.
 *
 * Every op takes the context first, returns a new activation in the arena and
 * records itself on the tape when a gradient is needed.  On bad input (shape
 * mismatch, bad argument) it returns NULL and sets the context's sticky error
 * with the op's name and the shapes involved; given a NULL input it returns
 * NULL at once.  Shapes are written outermost first: (N, C, H, W).
 *
 * Losses return a one-element tensor: the mean over the elements they count.
 * Label and mask arrays are copied, so the caller's may be freed at once.
 */
#ifndef MUST_OPS_H
#define MUST_OPS_H

#include <stdint.h>

#include "must/export.h"
#include "must/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Convolution. x (N, Cin, H, W), w (Cout, Cin, kH, kW), b (Cout) or NULL.
 * Output (N, Cout, Ho, Wo), Ho = (H + 2 pad - dil (kH - 1) - 1) / stride + 1. */
MUST_API must_tensor *must_op_conv2d(must_ctx *ctx, must_tensor *x, must_tensor *w, must_tensor *b,
                                     int stride, int pad, int dil);

/* Batch norm over (N, H, W) per channel.  gamma, beta, running_mean and
 * running_var have shape (C).  In training mode it normalises with the batch
 * statistics and updates running = (1 - momentum) running + momentum batch
 * (unbiased variance, as PyTorch); in evaluation mode it uses running ones. */
MUST_API must_tensor *must_op_batchnorm(must_ctx *ctx, must_tensor *x, must_tensor *gamma,
                                        must_tensor *beta, must_tensor *running_mean,
                                        must_tensor *running_var, float momentum, float eps);

/* Elementwise. */
MUST_API must_tensor *must_op_relu(must_ctx *ctx, must_tensor *x);
MUST_API must_tensor *must_op_add(must_ctx *ctx, must_tensor *a, must_tensor *b);   /* same shapes */
MUST_API must_tensor *must_op_mul(must_ctx *ctx, must_tensor *a, must_tensor *b);   /* same shapes */
MUST_API must_tensor *must_op_scale(must_ctx *ctx, must_tensor *x, float s);
MUST_API must_tensor *must_op_sigmoid(must_ctx *ctx, must_tensor *x);
MUST_API must_tensor *must_op_exp(must_ctx *ctx, must_tensor *x);

/* Reductions to one element. */
MUST_API must_tensor *must_op_sum(must_ctx *ctx, must_tensor *x);
MUST_API must_tensor *must_op_mean(must_ctx *ctx, must_tensor *x);

/* Concatenation along channels (dim 1) of n tensors with equal N, H, W. */
MUST_API must_tensor *must_op_concat(must_ctx *ctx, int n, must_tensor *const *xs);

/* Resizes (N, C, H, W) to (N, C, oh, ow).  Bilinear uses align_corners =
 * false and gives the same values as PyTorch's F.interpolate. */
MUST_API must_tensor *must_op_resize_nearest(must_ctx *ctx, must_tensor *x, int oh, int ow);
MUST_API must_tensor *must_op_resize_bilinear(must_ctx *ctx, must_tensor *x, int oh, int ow);

/* Max pooling with a k x k window (padding counts as -inf). */
MUST_API must_tensor *must_op_maxpool(must_ctx *ctx, must_tensor *x, int k, int stride, int pad);
/* Global average pooling: (N, C, H, W) -> (N, C). */
MUST_API must_tensor *must_op_global_avgpool(must_ctx *ctx, must_tensor *x);

/* Linear: x (N, F), w (O, F), b (O) or NULL -> (N, O). */
MUST_API must_tensor *must_op_linear(must_ctx *ctx, must_tensor *x, must_tensor *w, must_tensor *b);

/* Same data, new shape (numel must agree).  flatten: (N, ...) -> (N, rest). */
MUST_API must_tensor *must_op_reshape(must_ctx *ctx, must_tensor *x, int ndim, const int *shape);
MUST_API must_tensor *must_op_flatten(must_ctx *ctx, must_tensor *x);

/* Unit length along channels: (N, C, H, W) -> x / max(|x|, eps). */
MUST_API must_tensor *must_op_l2normalize(must_ctx *ctx, must_tensor *x, float eps);

/* ---- losses ------------------------------------------------------------ */

/* Softmax cross-entropy with hard labels.  logits (N, K) or (N, K, H, W);
 * labels hold N or N*H*W class ids; an id equal to ignore_index is skipped.
 * The mean is over counted positions.  A position with another id outside
 * [0, K) is an error. */
MUST_API must_tensor *must_op_cross_entropy(must_ctx *ctx, must_tensor *logits,
                                            const int32_t *labels,
                                            int ignore_index);

/* Softmax cross-entropy with soft targets (N, K) rows summing to 1.
 * example_mask (N) or NULL: examples with mask 0 are skipped; the mean is
 * over the examples counted. */
MUST_API must_tensor *must_op_soft_cross_entropy(must_ctx *ctx, must_tensor *logits,
                                                 const float *targets, const float *example_mask);

/* Elementwise losses between x and a target of the same element count.
 * mask (same count) or NULL: a weight per element, 0 to skip; the mean is
 * sum(mask * loss) / sum(mask) (0 when nothing is counted). */
MUST_API must_tensor *must_op_bce_logits(must_ctx *ctx, must_tensor *x, const float *target,
                                         const float *mask);
MUST_API must_tensor *must_op_huber(must_ctx *ctx, must_tensor *x, const float *target,
                                    const float *mask,
                                    float delta);
MUST_API must_tensor *must_op_l1(must_ctx *ctx, must_tensor *x, const float *target,
                                 const float *mask);
MUST_API must_tensor *must_op_l2(must_ctx *ctx, must_tensor *x, const float *target,
                                 const float *mask);

/* Cosine loss for unit vectors: pred and target (N, 3, H, W), mask (N*H*W)
 * or NULL.  Mean over counted pixels of 1 - <pred, target>.  Give it
 * l2-normalised predictions. */
MUST_API must_tensor *must_op_cosine_loss(must_ctx *ctx, must_tensor *pred, const float *target,
                                          const float *mask);

/* SimCLR's NT-Xent loss: z (2N, D) holds two views of N images (row i and
 * row i + N are views of one image).  Rows are l2-normalised (a row shorter
 * than eps is divided by eps), similarities divided by the temperature tau,
 * and each row's cross entropy over the other 2N - 1 rows, with its other
 * view as the target, is averaged.  tau and eps must be positive. */
MUST_API must_tensor *must_op_nt_xent(must_ctx *ctx, must_tensor *z, float tau, float eps);

/* ------------------------------------------------------------------------ */
/* The GEMM every op uses.                                                  */

/* Row-major sgemm (C = alpha op(A) op(B) + beta C) spread over the context's
 * threads by splitting the columns (or rows) of C into blocks fixed by the
 * shape, so results do not depend on the thread count.  ctx NULL: one
 * thread (for calls from inside a parallel region of the caller's own). */
MUST_API void must_sgemm(const must_ctx *ctx, int trans_a, int trans_b, int m, int n, int k,
                         float alpha, const float *a, int lda, const float *b, int ldb,
                         float beta, float *c, int ldc);

#ifdef __cplusplus
}
#endif
#endif
