/* ctx.c - the per-step context: arena, tape, scratch and backward. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/dist-impl.h"
#include "engine-impl.h"

#define ARENA_CHUNK (64u << 20)
#define ALIGN 64

static must_chunk *chunk_new(size_t size)
{
    must_chunk *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (posix_memalign((void **)&c->base, ALIGN, size) != 0) {
        free(c);
        return NULL;
    }
    c->size = size;
    return c;
}

must_ctx *must_ctx_new(int threads)
{
    must_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    if (threads <= 0) {
        /* Ranks of one machine (mpirun -np N) share its cores. */
        long n = sysconf(_SC_NPROCESSORS_ONLN) / must_dist_local_size();
        threads = n > 0 ? (int)n : 1;
    }
    ctx->threads = threads;
    ctx->grad_enabled = 1;
    ctx->training = 1;
    must_threads_init();
    return ctx;
}

void must_ctx_free(must_ctx *ctx)
{
    if (!ctx)
        return;
    for (must_chunk *c = ctx->chunks, *n; c; c = n) {
        n = c->next;
        free(c->base);
        free(c);
    }
    free(ctx->tape);
    free(ctx->scratch);
    free(ctx->gblock);
    free(ctx);
}

void must_ctx_reset(must_ctx *ctx)
{
    for (must_chunk *c = ctx->chunks; c; c = c->next)
        c->used = 0;
    ctx->cur = ctx->chunks;
    ctx->tape_len = 0;
    ctx->loss_count = 0.0;
    ctx->loss_ops = 0;
    must_err_clear(&ctx->err);
}

void must_ctx_set_grad(must_ctx *ctx, int enabled) { ctx->grad_enabled = enabled != 0; }
int must_ctx_grad(const must_ctx *ctx) { return ctx->grad_enabled; }
void must_ctx_set_training(must_ctx *ctx, int training) { ctx->training = training != 0; }
int must_ctx_training(const must_ctx *ctx) { return ctx->training; }
int must_ctx_threads(const must_ctx *ctx) { return ctx->threads; }
const must_err *must_ctx_error(const must_ctx *ctx) { return &ctx->err; }

void must_ctx_set_sync_bn(must_ctx *ctx, int on) { ctx->sync_bn = on != 0; }

int must_ctx_bn_synced(const must_ctx *ctx)
{
    return ctx->sync_bn && ctx->training && must_dist_group_size() > 1;
}

int must_ctx_bn_sum(must_ctx *ctx, double *v, size_t n)
{
    must_err e = {0};
    if (must_dist_sum_d(v, n, "batch norm statistics", &e))
        return must_ctx_fail(ctx, e.code, "%s", e.msg);
    return MUST_OK;
}

int must_ctx_bn_combine(must_ctx *ctx, int C, double *mean, double *m2, double *count)
{
    int n = must_dist_group_size();
    size_t k = 2 * (size_t)C + 1;
    double *mine = must_ctx_alloc(ctx, k * sizeof *mine);
    double *all = mine ? must_ctx_alloc(ctx, (size_t)n * k * sizeof *all) : NULL;
    if (!all)
        return ctx->err.code;
    mine[0] = *count;
    memcpy(mine + 1, mean, (size_t)C * sizeof *mean);
    memcpy(mine + 1 + C, m2, (size_t)C * sizeof *m2);
    must_err e = {0};
    if (must_dist_gather_d(mine, k, all, "batch norm statistics", &e))
        return must_ctx_fail(ctx, e.code, "%s", e.msg);
    for (int c = 0; c < C; c++) {
        double na = 0, ma = 0, qa = 0;
        for (int r = 0; r < n; r++) {
            const double *s = all + (size_t)r * k;
            double nb = s[0], mb = s[1 + c], qb = s[1 + C + c], nt = na + nb;
            if (nb <= 0)
                continue;
            double d = mb - ma;
            ma += d * nb / nt;
            qa += qb + d * d * na * nb / nt;
            na = nt;
        }
        mean[c] = ma;
        m2[c] = qa;
    }
    double total = 0;
    for (int r = 0; r < n; r++)
        total += all[(size_t)r * k];
    *count = total;
    return MUST_OK;
}

void must_ctx_loss_counted(must_ctx *ctx, double count)
{
    ctx->loss_count += count;
    ctx->loss_ops++;
}

int must_ctx_loss_take(must_ctx *ctx, double *count)
{
    int n = ctx->loss_ops;
    *count = ctx->loss_count;
    ctx->loss_count = 0.0;
    ctx->loss_ops = 0;
    return n;
}

int must_ctx_fail(must_ctx *ctx, int code, const char *fmt, ...)
{
    if (ctx->err.code != MUST_OK)   /* keep the first error: it is the cause */
        return ctx->err.code;
    ctx->err.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err.msg, sizeof ctx->err.msg, fmt, ap);
    va_end(ap);
    return code;
}

void *must_ctx_alloc(must_ctx *ctx, size_t bytes)
{
    bytes = (bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (bytes == 0)
        bytes = ALIGN;
    must_chunk *c = ctx->cur;
    while (c && c->size - c->used < bytes)
        c = c->next;
    if (!c) {
        c = chunk_new(bytes > ARENA_CHUNK ? bytes : ARENA_CHUNK);
        if (!c) {
            must_ctx_fail(ctx, MUST_ENOMEM, "arena: cannot allocate %zu bytes", bytes);
            return NULL;
        }
        /* Append, so that reuse after reset walks the chunks in order. */
        must_chunk **tail = &ctx->chunks;
        while (*tail)
            tail = &(*tail)->next;
        *tail = c;
    }
    ctx->cur = c;
    void *p = c->base + c->used;
    c->used += bytes;
    return p;
}

size_t must_ctx_arena_bytes(const must_ctx *ctx)
{
    size_t n = 0;
    for (const must_chunk *c = ctx->chunks; c; c = c->next)
        n += c->size;
    return n;
}

void *must_ctx_dup(must_ctx *ctx, const void *src, size_t bytes)
{
    void *p = must_ctx_alloc(ctx, bytes);
    if (p && bytes)
        memcpy(p, src, bytes);
    return p;
}

float *must_ctx_scratch(must_ctx *ctx, size_t nfloats)
{
    if (nfloats > ctx->scratch_len) {
        free(ctx->scratch);
        ctx->scratch = NULL;
        ctx->scratch_len = 0;
        if (posix_memalign((void **)&ctx->scratch, ALIGN, nfloats * sizeof(float)) != 0) {
            ctx->scratch = NULL;
            must_ctx_fail(ctx, MUST_ENOMEM, "scratch: cannot allocate %zu floats", nfloats);
            return NULL;
        }
        ctx->scratch_len = nfloats;
    }
    return ctx->scratch;
}

must_tensor *must_tensor_new(must_ctx *ctx, int ndim, const int *shape)
{
    if (ndim < 1 || ndim > MUST_MAX_DIMS) {
        must_ctx_fail(ctx, MUST_EINVAL, "tensor: %d dimensions (1..%d allowed)", ndim,
                      MUST_MAX_DIMS);
        return NULL;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) {
            must_ctx_fail(ctx, MUST_ESHAPE, "tensor: dimension %d is %d", i, shape[i]);
            return NULL;
        }
        n *= (size_t)shape[i];
    }
    must_tensor *t = must_ctx_alloc(ctx, sizeof *t);
    float *d = t ? must_ctx_alloc(ctx, n * sizeof(float)) : NULL;
    if (!d)
        return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->numel = n;
    t->data = d;
    return t;
}

must_tensor *must_tensor_new4(must_ctx *ctx, int n, int c, int h, int w)
{
    int s[4] = {n, c, h, w};
    return must_tensor_new(ctx, 4, s);
}

must_tensor *must_tensor_zeros(must_ctx *ctx, int ndim, const int *shape)
{
    must_tensor *t = must_tensor_new(ctx, ndim, shape);
    if (t)
        memset(t->data, 0, t->numel * sizeof(float));
    return t;
}

must_tensor *must_scalar_new(must_ctx *ctx)
{
    int one = 1;
    return must_tensor_new(ctx, 1, &one);
}

char *must_shape_str(const must_tensor *t, char *buf, size_t len)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "(");
    for (int i = 0; i < t->ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%d", i ? ", " : "", t->shape[i]);
    if (k < len)
        snprintf(buf + k, len - k, ")");
    return buf;
}

int must_shape_eq(const must_tensor *a, const must_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

must_tensor *must_shape_fail(must_ctx *ctx, const char *op, const must_tensor *a,
                             const must_tensor *b)
{
    char sa[64], sb[64];
    must_ctx_fail(ctx, MUST_ESHAPE, "%s: shapes %s and %s do not fit", op,
                  must_shape_str(a, sa, sizeof sa), must_shape_str(b, sb, sizeof sb));
    return NULL;
}

must_node *must_tape_record(must_ctx *ctx, const char *op, must_backward_fn fn,
                            must_tensor *out, int n_in, must_tensor *const *in)
{
    if (!ctx->grad_enabled || !out)
        return NULL;
    int need = 0;
    for (int i = 0; i < n_in; i++)
        if (in[i] && (in[i]->flags & MUST_T_REQ_GRAD))
            need = 1;
    if (!need)
        return NULL;
    if (n_in > MUST_NODE_MAX_IN) {
        must_ctx_fail(ctx, MUST_EINVAL, "%s: %d inputs (at most %d)", op, n_in,
                      MUST_NODE_MAX_IN);
        return NULL;
    }
    if (ctx->tape_len == ctx->tape_cap) {
        size_t cap = ctx->tape_cap ? 2 * ctx->tape_cap : 256;
        must_node **t = realloc(ctx->tape, cap * sizeof *t);
        if (!t) {
            must_ctx_fail(ctx, MUST_ENOMEM, "tape: out of memory");
            return NULL;
        }
        ctx->tape = t;
        ctx->tape_cap = cap;
    }
    must_node *nd = must_ctx_alloc(ctx, sizeof *nd);
    if (!nd)
        return NULL;
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->backward = fn;
    nd->out = out;
    nd->n_in = n_in;
    for (int i = 0; i < n_in; i++)
        nd->in[i] = in[i];
    out->flags |= MUST_T_REQ_GRAD;
    if (!out->name)
        out->name = op;
    ctx->tape[ctx->tape_len++] = nd;
    return nd;
}

size_t must_tape_len(const must_ctx *ctx)
{
    return ctx->tape_len;
}

must_node *must_tape_node(const must_ctx *ctx, size_t i)
{
    return i < ctx->tape_len ? ctx->tape[i] : NULL;
}

/* Activation gradients live from the first backward that writes them to the
 * backward of the op that produced the activation, which reads them last:
 * each is taken just before the first node that needs it and handed back
 * after its producer ran, so a step holds the gradients of a few layers at a
 * time rather than of every activation.  Blocks come from the arena (gone at
 * reset) and are reused best-fit, so the early layers' large gradients fit
 * into blocks the head's gradients left.  Tensors no op produced (inputs,
 * parameters) keep theirs. */
struct must_gblock {
    float *p;
    size_t cap;   /* bytes */
    int in_use;
};

/* Zeroes n floats, in 64 KiB pieces shared by the context's threads when
 * there are many (a fresh gradient of a large map, on the step's critical
 * path while the other threads would wait). */
static void zero_floats(must_ctx *ctx, float *p, size_t n)
{
    const size_t piece = 16384, pieces = (n + piece - 1) / piece;
    const int nt = pieces > 2 ? ctx->threads : 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (size_t q = 0; q < pieces; q++)
        memset(p + q * piece, 0, (q + 1 < pieces ? piece : n - q * piece) * sizeof(float));
}

static float *grad_get(must_ctx *ctx, size_t numel)
{
    size_t bytes = numel * sizeof(float);
    struct must_gblock *best = NULL;
    for (int i = 0; i < ctx->n_gblock; i++) {
        struct must_gblock *b = &ctx->gblock[i];
        if (!b->in_use && b->cap >= bytes && (!best || b->cap < best->cap))
            best = b;
    }
    if (!best) {
        if (ctx->n_gblock == ctx->cap_gblock) {
            int cap = ctx->cap_gblock ? 2 * ctx->cap_gblock : 64;
            struct must_gblock *nb = realloc(ctx->gblock, (size_t)cap * sizeof *nb);
            if (!nb) {
                must_ctx_fail(ctx, MUST_ENOMEM, "backward: out of memory");
                return NULL;
            }
            ctx->gblock = nb;
            ctx->cap_gblock = cap;
        }
        float *p = must_ctx_alloc(ctx, bytes);
        if (!p)
            return NULL;
        best = &ctx->gblock[ctx->n_gblock++];
        *best = (struct must_gblock){p, bytes, 0};
    }
    best->in_use = 1;
    zero_floats(ctx, best->p, numel);
    return best->p;
}

static void grad_put(must_ctx *ctx, const float *g)
{
    for (int i = ctx->n_gblock; i-- > 0;)
        if (ctx->gblock[i].p == g) {
            ctx->gblock[i].in_use = 0;
            return;
        }
}

/* The arena's top, to drop what a node's backward allocated for itself
 * (im2col columns, partial sums) once it has run: chunks after `cur` are
 * always empty, since allocation only moves forward until a reset. */
typedef struct {
    must_chunk *c;
    size_t used;
} arena_mark;

static arena_mark mark_get(const must_ctx *ctx)
{
    return (arena_mark){ctx->cur, ctx->cur ? ctx->cur->used : 0};
}

static void mark_pop(must_ctx *ctx, arena_mark m)
{
    if (!m.c)
        return; /* nothing was allocated before the mark: keep it simple */
    for (must_chunk *c = m.c->next; c && c->used; c = c->next)
        c->used = 0;
    m.c->used = m.used;
    ctx->cur = m.c;
}

/* Gradients for node nd's output and every input that wants one. */
static int grads_for(must_ctx *ctx, must_node *nd)
{
    for (int k = 0; k < nd->n_in; k++) {
        must_tensor *x = nd->in[k];
        if (x && (x->flags & MUST_T_REQ_GRAD) && !x->grad && !(x->grad = grad_get(ctx, x->numel)))
            return ctx->err.code;
    }
    if (!nd->out->grad && !(nd->out->grad = grad_get(ctx, nd->out->numel)))
        return ctx->err.code;
    return MUST_OK;
}

int must_backward(must_ctx *ctx, must_tensor *loss)
{
    if (ctx->err.code)
        return ctx->err.code;
    if (!loss)
        return must_ctx_fail(ctx, MUST_EINVAL, "backward: no loss");
    if (loss->numel != 1) {
        char s[64];
        return must_ctx_fail(ctx, MUST_ESHAPE, "backward: loss has shape %s, not one element",
                             must_shape_str(loss, s, sizeof s));
    }
    if (!(loss->flags & MUST_T_REQ_GRAD))
        return must_ctx_fail(ctx, MUST_EINVAL,
                             "backward: the loss does not depend on any trainable tensor");
    ctx->n_gblock = 0; /* blocks of an earlier step's arena */
    if (!loss->grad && !(loss->grad = grad_get(ctx, 1)))
        return ctx->err.code;
    loss->grad[0] += 1.0f;
    for (size_t i = ctx->tape_len; i-- > 0;) {
        must_node *nd = ctx->tape[i];
        if (grads_for(ctx, nd))
            return ctx->err.code;
        arena_mark m = mark_get(ctx);
        nd->backward(ctx, nd);
        if (ctx->err.code)
            return ctx->err.code;
        mark_pop(ctx, m);
        if (nd->out != loss) {
            grad_put(ctx, nd->out->grad);
            nd->out->grad = NULL;
        }
    }
    return MUST_OK;
}
