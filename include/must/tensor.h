/* must/tensor.h - float32 NCHW tensors, the per-step context, parameters.
 *
 * Three kinds of memory, each with one owner:
 *  - parameters (and their gradients, and buffers such as BN running stats)
 *    live in flat per-module blocks owned by a must_params;
 *  - activations, their gradients and whatever an op saves for backward live
 *    in the context's arena, which must_ctx_reset() empties after the update;
 *  - one scratch buffer per context serves im2col and other temporaries.
 *
 * The tensor struct is public (as ggml's is) because kernels, in the core and
 * in plugins, read shapes and data directly.  Contexts and parameter sets are
 * opaque.
 */
#ifndef MUST_TENSOR_H
#define MUST_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "must/error.h"
#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MUST_MAX_DIMS 4

/* Tensor flags. */
enum {
    MUST_T_PARAM = 1u << 0,    /* a trainable parameter (lives in a must_params) */
    MUST_T_BUFFER = 1u << 1,   /* saved with the model, never trained (BN running stats) */
    MUST_T_NO_DECAY = 1u << 2, /* excluded from weight decay when the optimizer is told to */
    MUST_T_REQ_GRAD = 1u << 3  /* a gradient flows into this tensor */
};

typedef struct must_tensor {
    int ndim;
    int shape[MUST_MAX_DIMS]; /* outermost first: (N, C, H, W) */
    size_t numel;
    float *data;
    float *grad;              /* same shape as data; NULL when no gradient flows here */
    const char *name;         /* parameters: the checkpoint name; activations: the op */
    unsigned flags;
} must_tensor;

/* (N, C, H, W) accessors for 4-d tensors, with 1 for missing leading dims. */
static inline int must_tensor_dim(const must_tensor *t, int i)
{
    return i < t->ndim ? t->shape[i] : 1;
}

/* Formats a shape as "(2, 3, 8, 8)" into buf; returns buf. */
MUST_API char *must_shape_str(const must_tensor *t, char *buf, size_t len);
/* 1 when a and b have the same ndim and shape. */
MUST_API int must_shape_eq(const must_tensor *a, const must_tensor *b);

/* ------------------------------------------------------------------------ */
/* The context: arena, tape, scratch, mode, sticky error.                  */

typedef struct must_ctx must_ctx;

/* threads <= 0 means one per core.  Returns NULL only when out of memory. */
MUST_API must_ctx *must_ctx_new(int threads);
MUST_API void must_ctx_free(must_ctx *ctx);

/* Forgets the tape and every activation; keeps the arena's memory for the
 * next step.  Call after the optimizer update.  Clears the sticky error. */
MUST_API void must_ctx_reset(must_ctx *ctx);

/* With grad off (inference), ops record nothing on the tape. Default on. */
MUST_API void must_ctx_set_grad(must_ctx *ctx, int enabled);
MUST_API int must_ctx_grad(const must_ctx *ctx);
/* Training mode: batch norm uses batch statistics and updates running ones.
 * Default on. */
MUST_API void must_ctx_set_training(must_ctx *ctx, int training);
MUST_API int must_ctx_training(const must_ctx *ctx);
MUST_API int must_ctx_threads(const must_ctx *ctx);

/* The sticky error: the first op that fails records its message here and
 * returns NULL; every later op given a NULL input returns NULL at once, so a
 * forward pass can be written straight through and checked once. */
MUST_API const must_err *must_ctx_error(const must_ctx *ctx);
MUST_API int must_ctx_fail(must_ctx *ctx, int code, const char *fmt, ...) MUST_PRINTF(3, 4);

/* A new activation in the arena; data uninitialised (zeroed for _zeros). */
MUST_API must_tensor *must_tensor_new(must_ctx *ctx, int ndim, const int *shape);
MUST_API must_tensor *must_tensor_new4(must_ctx *ctx, int n, int c, int h, int w);
MUST_API must_tensor *must_tensor_zeros(must_ctx *ctx, int ndim, const int *shape);
/* Raw arena memory, 64-byte aligned, valid until must_ctx_reset(). */
MUST_API void *must_ctx_alloc(must_ctx *ctx, size_t bytes);
/* The shared scratch buffer, at least nfloats long, valid until the next
 * call to must_ctx_scratch (it may move). */
MUST_API float *must_ctx_scratch(must_ctx *ctx, size_t nfloats);
/* Bytes the arena holds (for reporting). */
MUST_API size_t must_ctx_arena_bytes(const must_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* The tape.  An op that supports autodiff computes its output, then calls
 * must_tape_record().  When grad mode is on and any input carries
 * MUST_T_REQ_GRAD, the node is appended and the output marked; otherwise it
 * returns NULL and nothing is recorded.  Plugins register their own ops
 * (RoIAlign) with the same call.                                            */

#define MUST_NODE_MAX_IN 6

typedef struct must_node must_node;
typedef void (*must_backward_fn)(must_ctx *ctx, must_node *node);

struct must_node {
    const char *op;
    must_backward_fn backward;
    must_tensor *out;
    must_tensor *in[MUST_NODE_MAX_IN];
    int n_in;
    int iarg[8];         /* small integer arguments (stride, padding, ...) */
    float farg[4];       /* small float arguments (eps, delta, ...) */
    void *saved;         /* arena memory the op keeps for backward */
};

MUST_API must_node *must_tape_record(must_ctx *ctx, const char *op, must_backward_fn fn,
                                     must_tensor *out, int n_in, must_tensor *const *in);
/* The nodes recorded since the last reset, oldest first (for tools that
 * time or inspect single ops; NULL past the end). */
MUST_API size_t must_tape_len(const must_ctx *ctx);
MUST_API must_node *must_tape_node(const must_ctx *ctx, size_t i);

/* Seeds d(loss)/d(loss) = 1 and runs the tape backwards.  loss must hold one
 * element.  Backward functions accumulate (+=) into input gradients, so
 * gradients from several heads fan in to a shared backbone.  Parameter
 * gradients accumulate across calls until must_params_zero_grad(). */
MUST_API int must_backward(must_ctx *ctx, must_tensor *loss);

/* ------------------------------------------------------------------------ */
/* Parameter sets: one flat block of values and one of gradients per module. */

typedef struct must_params must_params;

MUST_API must_params *must_params_new(const char *prefix);
/* Declares a tensor named prefix + name.  The returned pointer stays valid
 * for the set's life; its data and grad are carved by must_params_alloc().
 * flags: MUST_T_PARAM (trainable), MUST_T_BUFFER, optionally MUST_T_NO_DECAY. */
MUST_API must_tensor *must_params_add(must_params *p, const char *name, int ndim, const int *shape,
                                      unsigned flags);
MUST_API must_tensor *must_params_add4(must_params *p, const char *name, int n, int c, int h, int w,
                                       unsigned flags);
MUST_API int must_params_alloc(must_params *p, must_err *err);
MUST_API void must_params_free(must_params *p);

MUST_API int must_params_count(const must_params *p);
MUST_API must_tensor *must_params_get(const must_params *p, int i);
MUST_API must_tensor *must_params_find(const must_params *p, const char *name);
/* Elements in trainable parameters (trainable_only) or in everything. */
MUST_API size_t must_params_numel(const must_params *p, int trainable_only);
/* The flat blocks: every trainable value, then every buffer value. */
MUST_API float *must_params_data(const must_params *p);
MUST_API float *must_params_grad(const must_params *p);
MUST_API void must_params_zero_grad(must_params *p);
MUST_API const char *must_params_prefix(const must_params *p);

/* ------------------------------------------------------------------------ */
/* Deterministic random numbers (xoshiro256**), the same on every machine.   */

typedef struct must_rng {
    uint64_t s[4];
} must_rng;

MUST_API void must_rng_seed(must_rng *r, uint64_t seed);
MUST_API uint64_t must_rng_u64(must_rng *r);
MUST_API uint32_t must_rng_below(must_rng *r, uint32_t n);  /* uniform in [0, n) */
MUST_API float must_rng_uniform(must_rng *r);               /* uniform in [0, 1) */
MUST_API float must_rng_normal(must_rng *r);                /* standard normal */

/* Initialisers for parameters. */
MUST_API void must_init_const(must_tensor *t, float v);
MUST_API void must_init_uniform(must_tensor *t, must_rng *r, float lo, float hi);
/* He/Kaiming normal with std = sqrt(2 / fan_in), fan_in from the shape
 * (C * kH * kW for conv weights, in-features for linear). */
MUST_API void must_init_kaiming(must_tensor *t, must_rng *r);

#ifdef __cplusplus
}
#endif
#endif
