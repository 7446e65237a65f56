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
    /* The gradient blocks of the current backward, for reuse (ctx.c: a
     * gradient lives from its first writer to its producer). */
    struct must_gblock *gblock;
    int n_gblock, cap_gblock;
};

/* Pins OpenBLAS to one thread: our OpenMP loops own the cores, since two
 * thread pools at once made training several times slower
 * (docs/design-notes.md). */
void must_threads_init(void);

/* For ops: 1 when any input is NULL (the sticky error already set). */
static inline int must_any_null2(const void *a, const void *b) { return !a || !b; }

/* Copies n values into the arena (labels and masks ops keep for backward). */
void *must_ctx_dup(must_ctx *ctx, const void *src, size_t bytes);

/* Shape mismatch error naming the op and both shapes. */
must_tensor *must_shape_fail(must_ctx *ctx, const char *op, const must_tensor *a,
                             const must_tensor *b);

/* A one-element output tensor. */
must_tensor *must_scalar_new(must_ctx *ctx);

#endif
