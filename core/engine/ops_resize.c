/* ops_resize.c - nearest and bilinear resizes with PyTorch's index rules.
 *
 * Both ops compute a per-axis table once (source index and weights for each
 * output row and column), then run over the (N*C) planes in parallel: each
 * plane belongs to one thread, forward and backward, so the result does not
 * depend on the thread count.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine-impl.h"

/* Below this many output floats an OpenMP region costs more than it saves. */
#define PAR_MIN 16384

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Checks a resize's arguments; returns 0 when it may proceed. */
static int resize_check(must_ctx *ctx, const char *op, const must_tensor *x, int oh, int ow)
{
    char s[64];
    if (x->ndim != 4) {
        must_ctx_fail(ctx, MUST_ESHAPE, "%s: input shape %s is not (N, C, H, W)", op,
                      must_shape_str(x, s, sizeof s));
        return -1;
    }
    if (oh <= 0 || ow <= 0) {
        must_ctx_fail(ctx, MUST_EINVAL, "%s: output size %dx%d for input %s", op, oh, ow,
                      must_shape_str(x, s, sizeof s));
        return -1;
    }
    return 0;
}

/* PyTorch computes the ratio in float (area_pixel_compute_scale); doing the
 * same keeps every source index and weight identical to F.interpolate's. */
static float axis_scale(int in, int out) { return (float)in / (float)out; }

/* ---- nearest: src = min(floor(dst * in / out), in - 1) ---- */

static int *nearest_table(must_ctx *ctx, int in, int out)
{
    int *t = must_ctx_alloc(ctx, (size_t)out * sizeof *t);
    if (!t)
        return NULL;
    float s = axis_scale(in, out);
    for (int d = 0; d < out; d++) {
        int i = (int)floorf((float)d * s);
        t[d] = i < in - 1 ? i : in - 1;
    }
    return t;
}

struct nearest_saved {
    int *iy, *ix;
};

static void nearest_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *y = nd->out; // (N, C, H, W) <- (N, C, oh, ow)
    if (!x->grad)
        return;
    const struct nearest_saved *sv = nd->saved;
    int w = x->shape[3], oh = y->shape[2], ow = y->shape[3];
    long planes = (long)x->shape[0] * x->shape[1];
    size_t ip = (size_t)x->shape[2] * w, op = (size_t)oh * ow;
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (y->numel >= PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        float *gx = x->grad + (size_t)pl * ip;
        const float *gy = y->grad + (size_t)pl * op;
        for (int oy = 0; oy < oh; oy++) {
            float *row = gx + (size_t)sv->iy[oy] * w;
            const float *g = gy + (size_t)oy * ow;
            for (int ox = 0; ox < ow; ox++)
                row[sv->ix[ox]] += g[ox];
        }
    }
}

must_tensor *must_op_resize_nearest(must_ctx *ctx, must_tensor *x, int oh, int ow)
{
    if (!x || resize_check(ctx, "resize_nearest", x, oh, ow))
        return NULL;
    int h = x->shape[2], w = x->shape[3];
    must_tensor *y = must_tensor_new4(ctx, x->shape[0], x->shape[1], oh, ow);
    struct nearest_saved *sv = y ? must_ctx_alloc(ctx, sizeof *sv) : NULL;
    if (!sv || !(sv->iy = nearest_table(ctx, h, oh)) || !(sv->ix = nearest_table(ctx, w, ow)))
        return NULL;
    long planes = (long)x->shape[0] * x->shape[1];
    size_t ip = (size_t)h * w, op = (size_t)oh * ow;
    const int *iy = sv->iy, *ix = sv->ix;
    #pragma omp parallel for num_threads(must_ctx_threads(ctx)) schedule(static) \
        if (y->numel >= PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        const float *src = x->data + (size_t)pl * ip;
        float *dst = y->data + (size_t)pl * op;
        for (int oy = 0; oy < oh; oy++) {
            float *o = dst + (size_t)oy * ow;
            /* Upsampling repeats source rows: copy the row just made. */
            if (oy > 0 && iy[oy] == iy[oy - 1]) {
                memcpy(o, o - ow, (size_t)ow * sizeof(float));
                continue;
            }
            const float *row = src + (size_t)iy[oy] * w;
            for (int ox = 0; ox < ow; ox++)
                o[ox] = row[ix[ox]];
        }
    }
    must_node *nd = must_tape_record(ctx, "resize_nearest", nearest_bw, y, 1, &x);
    if (nd)
        nd->saved = sv;
    return y;
}

/* ---- bilinear, align_corners = false ----
 * src = max((dst + 0.5) * in / out - 0.5, 0); i0 = floor(src), i1 = i0 + 1
 * unless i0 is the last index; weights 1 - l and l with l = src - i0.  The
 * value is interpolated along x first, then along y, in PyTorch's order:
 * y = wy0 (wx0 a + wx1 b) + wy1 (wx0 c + wx1 d). */

struct lin_axis {
    int *i0, *i1;
    float *w0, *w1;
};

static int lin_table(must_ctx *ctx, int in, int out, struct lin_axis *t)
{
    t->i0 = must_ctx_alloc(ctx, (size_t)out * sizeof(int));
    t->i1 = t->i0 ? must_ctx_alloc(ctx, (size_t)out * sizeof(int)) : NULL;
    t->w0 = t->i1 ? must_ctx_alloc(ctx, (size_t)out * sizeof(float)) : NULL;
    t->w1 = t->w0 ? must_ctx_alloc(ctx, (size_t)out * sizeof(float)) : NULL;
    if (!t->w1)
        return -1;
    float s = axis_scale(in, out);
    for (int d = 0; d < out; d++) {
        float src = s * ((float)d + 0.5f) - 0.5f;
        if (src < 0.0f)
            src = 0.0f;
        int i0 = (int)src;
        float l = src - (float)i0;
        t->i0[d] = i0;
        t->i1[d] = i0 < in - 1 ? i0 + 1 : i0;
        t->w0[d] = 1.0f - l;
        t->w1[d] = l;
    }
    return 0;
}

struct bilinear_saved {
    struct lin_axis ay, ax;
};

/* One source row interpolated along x: out[ox] for ox < ow. */
static inline void lerp_row(const float *row, const struct lin_axis *ax, int ow, float *out)
{
    for (int ox = 0; ox < ow; ox++)
        out[ox] = ax->w0[ox] * row[ax->i0[ox]] + ax->w1[ox] * row[ax->i1[ox]];
}

/* The axis table turned around: for each source index, the output indices
 * that read it and with what weight, in increasing output order.  Backward
 * then gathers into each source element instead of scattering into it, so
 * no two updates of one element wait on each other. */
struct lin_rev {
    int *start; /* in + 1 offsets into dst and w */
    int *dst;
    float *w;
};

static int lin_reverse(must_ctx *ctx, const struct lin_axis *t, int in, int out,
                       struct lin_rev *r)
{
    r->start = must_ctx_alloc(ctx, (size_t)(in + 1) * sizeof(int));
    r->dst = r->start ? must_ctx_alloc(ctx, 2 * (size_t)out * sizeof(int)) : NULL;
    r->w = r->dst ? must_ctx_alloc(ctx, 2 * (size_t)out * sizeof(float)) : NULL;
    if (!r->w)
        return -1;
    memset(r->start, 0, (size_t)(in + 1) * sizeof(int));
    for (int d = 0; d < out; d++) {
        r->start[t->i0[d] + 1]++;
        r->start[t->i1[d] + 1]++;
    }
    for (int i = 0; i < in; i++)
        r->start[i + 1] += r->start[i];
    int *fill = must_ctx_alloc(ctx, (size_t)in * sizeof(int));
    if (!fill)
        return -1;
    memcpy(fill, r->start, (size_t)in * sizeof(int));
    for (int d = 0; d < out; d++) {
        r->dst[fill[t->i0[d]]] = d;
        r->w[fill[t->i0[d]]++] = t->w0[d];
        r->dst[fill[t->i1[d]]] = d;
        r->w[fill[t->i1[d]]++] = t->w1[d];
    }
    return 0;
}

static void bilinear_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *y = nd->out; // (N, C, H, W) <- (N, C, oh, ow)
    if (!x->grad)
        return;
    const struct bilinear_saved *sv = nd->saved;
    int h = x->shape[2], w = x->shape[3], oh = y->shape[2], ow = y->shape[3];
    struct lin_rev ry, rx;
    if (lin_reverse(ctx, &sv->ay, h, oh, &ry) || lin_reverse(ctx, &sv->ax, w, ow, &rx))
        return;
    long planes = (long)x->shape[0] * x->shape[1];
    size_t ip = (size_t)h * w, op = (size_t)oh * ow;
    int nt = must_ctx_threads(ctx);
    /* The transpose of (y-pass after x-pass) is the x-pass's transpose after
     * the y-pass's: for each source row, sum the output-gradient rows that
     * read it (t, one row per thread), then gather t into the row along x. */
    float *tbuf = must_ctx_alloc(ctx, (size_t)nt * ow * sizeof(float));
    if (!tbuf)
        return;
    #pragma omp parallel for num_threads(nt) schedule(static) if (y->numel >= PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        float *t = tbuf + (size_t)thread_id() * ow;
        float *gx = x->grad + (size_t)pl * ip;
        const float *gy = y->grad + (size_t)pl * op;
        for (int iy = 0; iy < h; iy++) {
            int j0 = ry.start[iy], j1 = ry.start[iy + 1];
            if (j0 == j1)
                continue; /* downsampling skips this row */
            const float *g = gy + (size_t)ry.dst[j0] * ow;
            float wy = ry.w[j0];
            #pragma omp simd
            for (int ox = 0; ox < ow; ox++)
                t[ox] = wy * g[ox];
            for (int j = j0 + 1; j < j1; j++) {
                g = gy + (size_t)ry.dst[j] * ow;
                wy = ry.w[j];
                #pragma omp simd
                for (int ox = 0; ox < ow; ox++)
                    t[ox] += wy * g[ox];
            }
            float *row = gx + (size_t)iy * w;
            for (int ix = 0; ix < w; ix++) {
                float acc = 0.0f;
                for (int j = rx.start[ix]; j < rx.start[ix + 1]; j++)
                    acc += rx.w[j] * t[rx.dst[j]];
                row[ix] += acc;
            }
        }
    }
}

must_tensor *must_op_resize_bilinear(must_ctx *ctx, must_tensor *x, int oh, int ow)
{
    if (!x || resize_check(ctx, "resize_bilinear", x, oh, ow))
        return NULL;
    int h = x->shape[2], w = x->shape[3];
    must_tensor *y = must_tensor_new4(ctx, x->shape[0], x->shape[1], oh, ow);
    struct bilinear_saved *sv = y ? must_ctx_alloc(ctx, sizeof *sv) : NULL;
    if (!sv || lin_table(ctx, h, oh, &sv->ay) || lin_table(ctx, w, ow, &sv->ax))
        return NULL;
    const struct lin_axis *ay = &sv->ay, *ax = &sv->ax;
    int nt = must_ctx_threads(ctx);
    /* Two x-interpolated source rows per thread; as oy grows the rows it
     * needs only move forward, so each is computed about once per plane. */
    float *rbuf = must_ctx_alloc(ctx, (size_t)nt * 2 * ow * sizeof(float));
    if (!rbuf)
        return NULL;
    long planes = (long)x->shape[0] * x->shape[1];
    size_t ip = (size_t)h * w, op = (size_t)oh * ow;
    #pragma omp parallel for num_threads(nt) schedule(static) if (y->numel >= PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        float *ra = rbuf + (size_t)thread_id() * 2 * ow, *rb = ra + ow;
        int ya = -1, yb = -1; /* source rows now held in ra and rb */
        const float *src = x->data + (size_t)pl * ip;
        float *dst = y->data + (size_t)pl * op;
        for (int oy = 0; oy < oh; oy++) {
            int i0 = ay->i0[oy], i1 = ay->i1[oy];
            if (i0 != ya) {
                if (i0 == yb) { /* the lower row becomes the upper one */
                    float *tmp = ra;
                    ra = rb;
                    rb = tmp;
                    ya = yb;
                    yb = -1;
                } else {
                    lerp_row(src + (size_t)i0 * w, ax, ow, ra);
                    ya = i0;
                }
            }
            if (i1 != yb) {
                lerp_row(src + (size_t)i1 * w, ax, ow, rb);
                yb = i1;
            }
            float w0 = ay->w0[oy], w1 = ay->w1[oy];
            float *o = dst + (size_t)oy * ow;
            #pragma omp simd
            for (int ox = 0; ox < ow; ox++)
                o[ox] = w0 * ra[ox] + w1 * rb[ox];
        }
    }
    must_node *nd = must_tape_record(ctx, "resize_bilinear", bilinear_bw, y, 1, &x);
    if (nd)
        nd->saved = sv;
    return y;
}
