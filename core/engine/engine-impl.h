/* engine-impl.h - private engine structures shared by the core's op files. */
#ifndef MUST_ENGINE_IMPL_H
#define MUST_ENGINE_IMPL_H

#include <stddef.h>

#include "must/ops.h"
#include "must/tensor.h"

typedef struct must_chunk {
    char *base;
    size_t size, used;
    struct must_chunk *next;
} must_chunk;

struct must_ctx {
    must_chunk *chunks;   /* arena: a list of blocks, reused after reset */
    must_chunk *cur;
    must_node **tape;
    size_t tape_len, tape_cap;
    float *scratch;
    size_t scratch_len;
    int grad_enabled;
    int training;
    int threads;
    must_err err;
    /* Data parallel (core/pipeline/trainer.c): batch norm's statistics
     * summed over the ranks in training; what the loss ops counted. */
    int sync_bn;
    double loss_count;
    int loss_ops;
    /* The gradient blocks of the current backward, for reuse (ctx.c: a
     * gradient lives from its first writer to its producer). */
    struct must_gblock *gblock;
    int n_gblock, cap_gblock;
};

/* ---- data-parallel hooks (ctx.c) -------------------------------------
 * With sync_bn on, a batch norm in training mode sums its per-channel
 * statistics over the ranks (forward: the moments; backward: the sums of
 * dy and dy x_hat), so that N ranks normalise with the statistics of the
 * whole global batch, as one process does. */
void must_ctx_set_sync_bn(must_ctx *ctx, int on);
/* 1 when this batch norm must sum over the ranks (training, sync_bn, more
 * than one rank). */
int must_ctx_bn_synced(const must_ctx *ctx);
/* Sums v over the ranks; on failure sets the context's error and returns
 * it. */
int must_ctx_bn_sum(must_ctx *ctx, double *v, size_t n);
/* The statistics of the whole batch from each rank's, per channel: every
 * rank's count, means and sums of squared deviations from its means (C
 * each), combined in rank order by Chan et al.'s pairwise update, which
 * keeps the precision of each rank's own shifted sums.  On return they are
 * the whole batch's (the same on every rank). */
int must_ctx_bn_combine(must_ctx *ctx, int C, double *mean, double *m2, double *count);
/* Every loss op adds what its mean divides by (positions or mask weight);
 * a trainer reads it per task to weigh each rank's mean by its share of
 * the global count (core/pipeline/trainer.c). */
void must_ctx_loss_counted(must_ctx *ctx, double count);
/* The count and the number of loss ops since the last call, which resets
 * them. */
int must_ctx_loss_take(must_ctx *ctx, double *count);

/* Pins OpenBLAS to one thread: our OpenMP loops own the cores, since two
 * thread pools at once made training several times slower
 * (docs/design-notes.md). */
void must_threads_init(void);

/* gemm_avx512.c: 1 when the CPU (and the OS) run AVX-512, so that
 * must_gemm_own can be called. */
int must_gemm_own_available(void);
/* Row-major single-threaded sgemm, BLAS's meaning of every argument;
 * -1 (nothing written) when the packing buffers cannot be allocated or the
 * build has no AVX-512 kernel. */
int must_gemm_own(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* 1 when must_sgemm runs must_gemm_own: AVX-512 present and MUST_GEMM is
 * not "openblas" (gemm.c). */
int must_gemm_uses_own(void);

/* For ops: 1 when any input is NULL (the sticky error already set). */
static inline int must_any_null2(const void *a, const void *b) { return !a || !b; }

/* Copies n values into the arena (labels and masks ops keep for backward). */
void *must_ctx_dup(must_ctx *ctx, const void *src, size_t bytes);

/* Shape mismatch error naming the op and both shapes. */
/* y[i] = act(x[i] * k + b (+ r[i])) over n values (x may be y; the ReLU
 * a select: NaN -> 0, as the engine's relu): batch norm with its constants
 * folded.  The model's bn_act and must_conv2d_bn_act both use it, so that
 * the fused inference gives the unfused op's bits. */
static inline void must_affine_act(const float *x, const float *r, float *y, size_t n, float k,
                                   float b, int relu)
{
    if (r && relu) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float v = x[i] * k + b + r[i];
            y[i] = v > 0.0f ? v : 0.0f;
        }
    } else if (r) {
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] * k + b + r[i];
    } else if (relu) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float v = x[i] * k + b;
            y[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] * k + b;
    }
}

/* Inference's convolution + batch norm + residual + ReLU in one op
 * (core/model's mconv_bn_act; gradients must be off): y = act(conv(x) * k[o]
 * + shift[o] (+ res)), each output chunk finished while it is in cache; the
 * same bits as must_op_conv2d followed by the model's bn_act in evaluation
 * mode.  No tape node. */
must_tensor *must_conv2d_bn_act(must_ctx *ctx, must_tensor *x, must_tensor *w, must_tensor *b,
                                int stride, int pad, const float *k, const float *shift,
                                must_tensor *res, int relu);

must_tensor *must_shape_fail(must_ctx *ctx, const char *op, const must_tensor *a,
                             const must_tensor *b);

/* A one-element output tensor. */
must_tensor *must_scalar_new(must_ctx *ctx);

#endif
