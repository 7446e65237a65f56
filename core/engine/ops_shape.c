/* ops_shape.c - channel concatenation and per-pixel l2 normalisation. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine-impl.h"

/* Below this many floats an OpenMP region costs more than it saves. */
#define PAR_MIN 32768

/* ---- concat along dim 1 ---- */

/* Every tensor is seen as (N, C * inner): concat moves one whole block per
 * example and input, so any ndim >= 2 works the same way. */
static void concat_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *y = nd->out; // (N, sum C_i, ...)
    int n = y->shape[0];
    size_t yblock = y->numel / (size_t)n;
    size_t off = 0;
    for (int i = 0; i < nd->n_in; i++) {
        must_tensor *x = nd->in[i];
        size_t xblock = x->numel / (size_t)n;
        if (x->grad) {
            #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
                if (y->numel >= PAR_MIN)
            for (int b = 0; b < n; b++) {
                float *gx = x->grad + (size_t)b * xblock;
                const float *gy = y->grad + (size_t)b * yblock + off;
                #pragma omp simd
                for (size_t k = 0; k < xblock; k++)
                    gx[k] += gy[k];
            }
        }
        off += xblock;
    }
}

/* One tape node takes at most MUST_NODE_MAX_IN inputs. */
static must_tensor *concat_node(must_ctx *ctx, int n, must_tensor *const *xs)
{
    const must_tensor *x0 = xs[0];
    int shape[MUST_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    shape[1] = 0;
    for (int i = 0; i < n; i++)
        shape[1] += xs[i]->shape[1];
    must_tensor *y = must_tensor_new(ctx, x0->ndim, shape);
    if (!y)
        return NULL;
    int nb = x0->shape[0];
    size_t yblock = y->numel / (size_t)nb;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const must_tensor *x = xs[i];
        size_t xblock = x->numel / (size_t)nb;
        #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
            if (y->numel >= PAR_MIN)
        for (int b = 0; b < nb; b++)
            memcpy(y->data + (size_t)b * yblock + off, x->data + (size_t)b * xblock,
                   xblock * sizeof(float));
        off += xblock;
    }
    must_tape_record(ctx, "concat", concat_bw, y, n, xs);
    return y;
}

must_tensor *must_op_concat(must_ctx *ctx, int n, must_tensor *const *xs)
{
    if (n < 1 || !xs) {
        must_ctx_fail(ctx, MUST_EINVAL, "concat: %d inputs (at least 1 needed)", n);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!xs[i])
            return NULL;
    const must_tensor *x0 = xs[0];
    if (x0->ndim < 2) {
        char s[64];
        must_ctx_fail(ctx, MUST_ESHAPE, "concat: input 0 has shape %s; channels need 2 or more "
                      "dimensions", must_shape_str(x0, s, sizeof s));
        return NULL;
    }
    for (int i = 1; i < n; i++) {
        const must_tensor *x = xs[i];
        int ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++)
            ok = d == 1 || x->shape[d] == x0->shape[d];
        if (!ok) {
            char s0[64], si[64];
            must_ctx_fail(ctx, MUST_ESHAPE,
                          "concat: input %d has shape %s, input 0 %s (all but dim 1 must agree)",
                          i, must_shape_str(x, si, sizeof si), must_shape_str(x0, s0, sizeof s0));
            return NULL;
        }
    }
    if (n <= MUST_NODE_MAX_IN)
        return concat_node(ctx, n, xs);
    /* More inputs than a node holds: concatenate groups, then the groups.
     * Each level costs one extra copy, which only very wide concats pay. */
    must_tensor *groups[MUST_NODE_MAX_IN];
    int per = (n + MUST_NODE_MAX_IN - 1) / MUST_NODE_MAX_IN, ng = 0;
    for (int i = 0; i < n; i += per, ng++) {
        int k = n - i < per ? n - i : per;
        groups[ng] = must_op_concat(ctx, k, xs + i);
        if (!groups[ng])
            return NULL;
    }
    return concat_node(ctx, ng, groups);
}

/* ---- l2 normalisation along channels ---- */

/* Pixels are processed in tiles so that the channel loop reads contiguous
 * runs of each plane; every pixel's sum runs over c in order, whatever the
 * thread count. */
#define TILE 256

struct l2n_saved {
    float *den;   /* (N, H*W): max(|x|, eps) per pixel */
    float eps;
};

static void l2n_dims(const must_tensor *x, int *n, int *c, size_t *hw)
{
    *n = x->shape[0];
    *c = x->shape[1];
    *hw = x->numel / ((size_t)*n * (size_t)*c);
}

static void l2n_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *y = nd->out;
    if (!x->grad)
        return;
    const struct l2n_saved *sv = nd->saved;
    int n, c;
    size_t hw;
    l2n_dims(x, &n, &c, &hw);
    size_t tiles = (hw + TILE - 1) / TILE;
    long ntask = (long)(n * tiles);
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (x->numel >= PAR_MIN)
    for (long task = 0; task < ntask; task++) {
        size_t b = (size_t)task / tiles, p0 = ((size_t)task % tiles) * TILE;
        size_t np = hw - p0 < TILE ? hw - p0 : TILE;
        const float *den = sv->den + b * hw + p0;
        const float *yb = y->data + b * c * hw + p0, *gb = y->grad + b * c * hw + p0;
        float *gx = x->grad + b * c * hw + p0;
        float dot[TILE];
        for (size_t p = 0; p < np; p++)
            dot[p] = 0.0f;
        for (int k = 0; k < c; k++) {
            #pragma omp simd
            for (size_t p = 0; p < np; p++)
                dot[p] += gb[k * hw + p] * yb[k * hw + p];
        }
        /* Where |x| > eps, y = x / |x| and dx = (g - y <g, y>) / |x|; where
         * the floor eps wins, y = x / eps is linear and dx = g / eps. */
        for (size_t p = 0; p < np; p++)
            if (den[p] <= sv->eps)
                dot[p] = 0.0f;
        for (int k = 0; k < c; k++) {
            #pragma omp simd
            for (size_t p = 0; p < np; p++)
                gx[k * hw + p] += (gb[k * hw + p] - yb[k * hw + p] * dot[p]) / den[p];
        }
    }
}

must_tensor *must_op_l2normalize(must_ctx *ctx, must_tensor *x, float eps)
{
    if (!x)
        return NULL;
    if (x->ndim < 2) {
        char s[64];
        must_ctx_fail(ctx, MUST_ESHAPE, "l2normalize: shape %s has no channel dimension",
                      must_shape_str(x, s, sizeof s));
        return NULL;
    }
    if (!(eps > 0.0f)) {
        must_ctx_fail(ctx, MUST_EINVAL, "l2normalize: eps %g must be positive", (double)eps);
        return NULL;
    }
    int n, c;
    size_t hw;
    l2n_dims(x, &n, &c, &hw);
    must_tensor *y = must_tensor_new(ctx, x->ndim, x->shape);
    struct l2n_saved *sv = y ? must_ctx_alloc(ctx, sizeof *sv) : NULL;
    float *den = sv ? must_ctx_alloc(ctx, (size_t)n * hw * sizeof(float)) : NULL;
    if (!den)
        return NULL;
    sv->den = den;
    sv->eps = eps;
    size_t tiles = (hw + TILE - 1) / TILE;
    long ntask = (long)(n * tiles);
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (x->numel >= PAR_MIN)
    for (long task = 0; task < ntask; task++) {
        size_t b = (size_t)task / tiles, p0 = ((size_t)task % tiles) * TILE;
        size_t np = hw - p0 < TILE ? hw - p0 : TILE;
        const float *xb = x->data + b * c * hw + p0;
        float *yb = y->data + b * c * hw + p0, *d = den + b * hw + p0;
        float ss[TILE];
        for (size_t p = 0; p < np; p++)
            ss[p] = 0.0f;
        for (int k = 0; k < c; k++) {
            #pragma omp simd
            for (size_t p = 0; p < np; p++)
                ss[p] += xb[k * hw + p] * xb[k * hw + p];
        }
        for (size_t p = 0; p < np; p++) {
            float norm = sqrtf(ss[p]);
            d[p] = norm > eps ? norm : eps;
        }
        for (int k = 0; k < c; k++) {
            #pragma omp simd
            for (size_t p = 0; p < np; p++)
                yb[k * hw + p] = xb[k * hw + p] / d[p];
        }
    }
    must_node *nd = must_tape_record(ctx, "l2normalize", l2n_bw, y, 1, &x);
    if (nd)
        nd->saved = sv;
    return y;
}
