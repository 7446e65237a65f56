/* ops_conv.c - 2-d convolution: im2col + GEMM over the whole batch.
 *
 * The GEMM's N dimension is the batch's output pixels, J = B*Ho*Wo, so a deep
 * layer with a 4x4 map still hands BLAS a wide matrix, not one per image.  The
 * columns are walked in chunks small enough that a chunk of im2col rows
 * (K x nc floats) stays in a core's cache between im2col writing it and the
 * GEMM reading it.  The whole im2col matrix of a stride-4 head conv at 128^2
 * is 75 MB; sending it to DRAM and back cost as much as a quarter of the
 * GEMM's time, and a cache-resident operand also makes the GEMM itself faster
 * (OpenBLAS on the project machines: 80 GFLOP/s with N = 128 in L2, 57 with
 * N = 32768 streamed).
 *
 * Chunks never straddle images.  Where an image is about a chunk or more, a
 * chunk is a band of its output rows, and the band is a plain strided matrix
 * in y and dy (and in x and dx for a 1x1 stride-1 conv), so the GEMMs read
 * and write those in place: no scatter, no gather, and for 1x1 convs no
 * im2col or col2im at all.  Chunks of several small images go through
 * (Cout, columns) buffers instead: the forward scatters them into NCHW
 * adding the bias, backward first gathers dy into that order once.
 *
 * Backward recomputes each chunk's im2col from x rather than saving the
 * forward's: saving would write K*J floats to DRAM and read them back, while
 * recomputing reads x (kh*kw times smaller) and writes a cache-resident chunk.
 *
 * Threads.  OpenBLAS rounds differently when a product is cut differently
 * (the same element of C can differ in its last bits between one call and
 * two half-width calls), so every GEMM here covers a piece of the problem
 * fixed by the shape alone, and threads only choose which pieces they run:
 * the results are the same bit for bit with any thread count.  Forward, each
 * thread takes whole chunks in its own buffer, or, when the batch is one
 * chunk, blocks of output channels.  Backward, each takes groups of images
 * (with a dW partial each, summed in group order) or blocks of input channels
 * (see conv2d_bw), and works through all their chunks with no barrier in
 * between.  The pieces are handed out dynamically: which thread runs one
 * changes nothing in its result, and a thread that the OS preempts on a busy
 * machine leaves its next pieces to the others.  The must_sgemm(NULL, ...)
 * calls inside parallel regions are one-thread BLAS calls (gemm.c pins
 * OpenBLAS to one thread), which is what must_sgemm itself does for its
 * split: one pool of threads.
 *
 * im2col copies, per kernel tap, runs of whole output rows: with stride 1 and
 * same-size output a run of rows reads one contiguous stretch of the input
 * plane (one memcpy, then the padding columns patched); maps with rows too
 * short for that go through a table of input offsets.
 */
#include "config.h"

#include <omp.h>
#include <string.h>

#include "engine-impl.h"

/* Bytes of im2col rows per chunk: a Zen core's L2 (512 KiB), so that the
 * chunk is still close when the GEMM packs it.  Smaller chunks measured no
 * faster: every GEMM call packs the weights again, and the per-row work of
 * im2col is spread over fewer columns. */
#define CHUNK_BYTES (512u << 10)
/* Fewest columns per chunk, for the same reason. */
#define CHUNK_MIN_COLS 256
/* Output channels per GEMM when the whole batch is one chunk. */
#define OUT_BLOCK 64
/* Backward cuts the input channels into at least BLOCKS_MIN blocks (so that
 * threads have work to share) of about BLOCK_ROWS im2col rows. */
#define BLOCKS_MIN 4
#define BLOCK_ROWS 512
/* Or into at most IMAGE_GROUPS groups of images (enough for two threads to
 * even out when one is preempted), when the groups' dW partials fit in
 * PARTIALS_MAX floats. */
#define IMAGE_GROUPS 8
#define PARTIALS_MAX (4u << 20)
/* Convolutions with fewer im2col elements than this run on one thread: a
 * fork costs more than it saves. */
#define PAR_MIN 32768

typedef struct conv_geom {
    int B, C, H, W;  /* input (B, C, H, W) */
    int O, kh, kw;   /* weights (O, C, kh, kw) */
    int s, pad, d;   /* stride, padding, dilation */
    int Ho, Wo;
    int K;           /* C * kh * kw: the GEMM's reduction length */
    size_t P, J;     /* Ho * Wo; B * P */
    int pointwise;   /* 1x1, stride 1, pad 0: im2col is a plain layout copy */
    int same;        /* stride 1 and Wo == W: an im2col row is a shifted plane */
    /* Small output maps: per tap (ki, kj), the plane offset each output pixel
     * reads, -1 on padding (see small_table); NULL otherwise. */
    const int32_t *tab;
} conv_geom;

static void geom_from(conv_geom *g, const must_tensor *x, const must_tensor *w, int s, int pad,
                      int d)
{
    g->B = x->shape[0];
    g->C = x->shape[1];
    g->H = x->shape[2];
    g->W = x->shape[3];
    g->O = w->shape[0];
    g->kh = w->shape[2];
    g->kw = w->shape[3];
    g->s = s;
    g->pad = pad;
    g->d = d;
    g->Ho = (g->H + 2 * pad - d * (g->kh - 1) - 1) / s + 1;
    g->Wo = (g->W + 2 * pad - d * (g->kw - 1) - 1) / s + 1;
    g->K = g->C * g->kh * g->kw;
    g->P = (size_t)g->Ho * g->Wo;
    g->J = (size_t)g->B * g->P;
    g->pointwise = g->kh == 1 && g->kw == 1 && s == 1 && pad == 0;
    g->same = s == 1 && g->Wo == g->W;
    g->tab = NULL;
}

/* Short output rows go through a table: walking them row by row spends more
 * on bookkeeping than on copying their few floats.  Measured here: a same-size
 * 3x3 conv is faster by rows from 8 wide, a strided one only from 16. */
#define SMALL_ROW_SAME 4
#define SMALL_ROW 8
#define SMALL_MAP 1024

/* Sets g->tab for a small output map (arena memory; shared read-only by the
 * threads).  Returns -1 when out of memory. */
static int small_table(must_ctx *ctx, conv_geom *g)
{
    if (g->pointwise || g->Wo > (g->same ? SMALL_ROW_SAME : SMALL_ROW) || g->P > SMALL_MAP)
        return 0;
    const int kk = g->kh * g->kw;
    int32_t *t = must_ctx_alloc(ctx, (size_t)kk * g->P * sizeof *t);
    if (!t)
        return -1;
    for (int q = 0; q < kk; q++)
        for (int oh = 0; oh < g->Ho; oh++)
            for (int ow = 0; ow < g->Wo; ow++) {
                int ih = oh * g->s - g->pad + q / g->kw * g->d;
                int iw = ow * g->s - g->pad + q % g->kw * g->d;
                int in = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W;
                t[((size_t)q * g->Ho + oh) * g->Wo + ow] = in ? ih * g->W + iw : -1;
            }
    g->tab = t;
    return 0;
}

/* How the batch's J columns are cut into chunks, from the shape alone (the
 * weight gradient is summed chunk by chunk, so the cut must not depend on the
 * thread count).  Chunks never straddle images: either a chunk is a band of
 * whole output rows of one image (per_image > 0 bands per image), or it holds
 * `images` whole images.  A band lies in y, dy and, for 1x1 convs, x as a
 * plain strided matrix, so the GEMMs read and write those in place. */
typedef struct chunks {
    size_t count, max_cols;
    int per_image, images;
} chunks;

static chunks chunk_plan(const conv_geom *g)
{
    size_t target = CHUNK_BYTES / ((size_t)g->K * sizeof(float));
    if (target < CHUNK_MIN_COLS)
        target = CHUNK_MIN_COLS;
    chunks c = {0, 0, 0, 0};
    if (2 * g->P > target) {
        size_t m = (g->P + target - 1) / target;
        c.per_image = m > (size_t)g->Ho ? g->Ho : (int)m;
        c.count = (size_t)g->B * c.per_image;
        c.max_cols = (size_t)((g->Ho + c.per_image - 1) / c.per_image) * g->Wo;
    } else {
        size_t k = target / g->P;
        c.images = k > (size_t)g->B ? g->B : (int)k;
        c.count = ((size_t)g->B + c.images - 1) / c.images;
        c.max_cols = (size_t)c.images * g->P;
    }
    return c;
}

/* Chunk i: columns [*j0, *j0 + *n). */
static void chunk_span(const conv_geom *g, const chunks *c, size_t i, size_t *j0, size_t *n)
{
    if (c->per_image) {
        size_t b = i / (size_t)c->per_image;
        int q = (int)(i % (size_t)c->per_image);
        int oh0 = (int)((long)g->Ho * q / c->per_image);
        int oh1 = (int)((long)g->Ho * (q + 1) / c->per_image);
        *j0 = b * g->P + (size_t)oh0 * g->Wo;
        *n = (size_t)(oh1 - oh0) * g->Wo;
    } else {
        size_t b0 = i * (size_t)c->images;
        size_t nb = (size_t)g->B - b0 < (size_t)c->images ? (size_t)g->B - b0 : (size_t)c->images;
        *j0 = b0 * g->P;
        *n = nb * g->P;
    }
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Zeroes n floats.  n is mostly 0 to 3 (padding columns): there a memset
 * call (which GCC makes of a plain loop) costs more than the stores. */
static inline void zero(float *o, int n)
{
    if (n >= 8) {
        memset(o, 0, (size_t)n * sizeof *o);
        return;
    }
    if (n & 4) {
        o[0] = o[1] = o[2] = o[3] = 0.0f;
        o += 4;
    }
    if (n & 2) {
        o[0] = o[1] = 0.0f;
        o += 2;
    }
    if (n & 1)
        o[0] = 0.0f;
}

/* One kernel tap (c, ki, kj) of the im2col row r = (c * kh + ki) * kw + kj. */
typedef struct tap {
    int c, ki, kj;
    int shift, off; /* input row oh*s + shift, column ow*s + off */
    int lo, hi;     /* output columns [lo, hi) read inside the image */
} tap;

static inline void tap_set(const conv_geom *g, tap *t)
{
    t->shift = t->ki * g->d - g->pad;
    t->off = t->kj * g->d - g->pad;
    int lo, hi;
    if (g->s == 1) {
        lo = -t->off;
        hi = g->W - t->off;
    } else {
        lo = t->off >= 0 ? 0 : (-t->off + g->s - 1) / g->s;
        hi = g->W - t->off <= 0 ? 0 : (g->W - t->off + g->s - 1) / g->s;
    }
    t->hi = clampi(hi, 0, g->Wo);
    t->lo = clampi(lo, 0, t->hi);
}

static inline tap tap_first(const conv_geom *g, int r)
{
    const int kk = g->kh * g->kw;
    tap t;
    t.c = r / kk;
    t.ki = r % kk / g->kw;
    t.kj = r % g->kw;
    tap_set(g, &t);
    return t;
}

static inline void tap_next(const conv_geom *g, tap *t)
{
    if (++t->kj == g->kw) {
        t->kj = 0;
        if (++t->ki == g->kh) {
            t->ki = 0;
            t->c++;
        }
    }
    tap_set(g, t);
}

/* The chunk's columns [j0, j0 + n) cut into runs that stay inside one image:
 * whole output rows [oh, oh + rows) where the chunk covers them (len is then
 * rows * Wo), else part of one row from ow (rows == 0).  jj is the run's
 * first column relative to j0.  Worked out once per chunk, shared by all of
 * its im2col rows. */
typedef struct run {
    size_t b, jj;
    int oh, ow, rows, len;
} run;

/* Room for the runs of a chunk of nc columns: per image at most a partial
 * row, a block of rows and another partial row. */
static size_t runs_cap(const conv_geom *g, size_t nc)
{
    size_t cap = 3 * (nc / g->P + 2);
    return cap < nc + 2 ? cap : nc + 2;
}

/* The floats that hold runs_cap runs, 64-byte aligned. */
static size_t runs_floats(const conv_geom *g, size_t nc)
{
    return (runs_cap(g, nc) * sizeof(run) + 63) / 64 * 16;
}

static int chunk_runs(const conv_geom *g, size_t j0, size_t n, run *rs)
{
    size_t j = j0, j1 = j0 + n, b = j0 / g->P;
    int oh = (int)(j0 % g->P / (size_t)g->Wo), ow = (int)(j0 % (size_t)g->Wo), nr = 0;
    while (j < j1) {
        run *u = &rs[nr++];
        size_t left = j1 - j;
        u->b = b;
        u->jj = j - j0;
        u->oh = oh;
        u->ow = ow;
        u->rows = 0;
        if (ow == 0 && left >= (size_t)g->Wo) {
            size_t rows = left / (size_t)g->Wo;
            u->rows = rows > (size_t)(g->Ho - oh) ? g->Ho - oh : (int)rows;
            u->len = u->rows * g->Wo;
            oh += u->rows;
        } else {
            u->len = (size_t)(g->Wo - ow) < left ? g->Wo - ow : (int)left;
            if ((ow += u->len) == g->Wo) {
                ow = 0;
                oh++;
            }
        }
        if (oh == g->Ho) {
            oh = 0;
            b++;
        }
        j += (size_t)u->len;
    }
    return nr;
}

/* len output columns of row oh from ow, for tap t of one input plane. */
static inline void im2col_row(const conv_geom *g, const tap *t, const float *plane, int oh,
                              int ow, int len, float *o)
{
    const int ih = oh * g->s + t->shift;
    if (ih < 0 || ih >= g->H) {
        zero(o, len);
        return;
    }
    const int a = clampi(t->lo - ow, 0, len), e = clampi(t->hi - ow, a, len);
    zero(o, a);
    if (e > a) {
        /* input column of output ow + i is (ow + i) s + off, >= 0 for i >= a */
        const float *restrict sp = plane + (size_t)ih * g->W + ((ow + a) * g->s + t->off);
        float *restrict op = o + a;
        const int s = g->s, m = e - a;
        if (s == 1) {
            memcpy(op, sp, (size_t)m * sizeof(float));
        } else if (s == 2) {
#pragma omp simd
            for (int i = 0; i < m; i++)
                op[i] = sp[2 * i];
        } else {
            for (int i = 0; i < m; i++)
                op[i] = sp[(size_t)i * s];
        }
    }
    zero(o + e, len - e);
}

/* For stride 1 and Wo == W: output rows [oh, oh + rows) of one image read
 * input rows inside the image for [v0, v1), and those read one contiguous
 * stretch of the plane shifted by the tap's offset.  The stretch starts at
 * row v0's column lo; the rows' ends wrap over onto the padding columns,
 * which the callers patch. */
static inline size_t same_span(const conv_geom *g, const tap *t, int oh, int rows, int *v0,
                               int *v1)
{
    *v0 = clampi(-t->shift, oh, oh + rows);
    *v1 = clampi(g->H - t->shift, *v0, oh + rows);
    if (*v1 == *v0 || t->hi == t->lo)
        return 0;
    return (size_t)(*v1 - *v0 - 1) * g->W + (size_t)(t->hi - t->lo);
}

/* Rows [r0, r1) of the im2col matrix for columns [j0, j0 + n): row r is the
 * kernel tap (c, ki, kj), column j the output pixel (b, oh, ow); row r goes to
 * col + (r - r0) * n.  rs: room for runs_cap(g, n) runs. */
static void im2col_rows(const conv_geom *g, const float *x, size_t j0, size_t n, int r0, int r1,
                        float *col, run *rs)
{
    const size_t HW = (size_t)g->H * g->W, j1 = j0 + n;
    if (g->pointwise) {
        for (int r = r0; r < r1; r++) {
            float *dst = col + (size_t)(r - r0) * n;
            for (size_t j = j0; j < j1;) {
                size_t b = j / g->P, p = j % g->P;
                size_t len = g->P - p < j1 - j ? g->P - p : j1 - j;
                memcpy(dst + (j - j0), x + (b * g->C + r) * HW + p, len * sizeof(float));
                j += len;
            }
        }
        return;
    }
    if (g->tab) {
        tap t = tap_first(g, r0);
        for (int r = r0; r < r1; r++, tap_next(g, &t)) {
            const int32_t *tq = g->tab + (size_t)(t.ki * g->kw + t.kj) * g->P;
            float *dst = col + (size_t)(r - r0) * n;
            for (size_t j = j0, b = j0 / g->P, p = j0 % g->P; j < j1; b++, p = 0) {
                size_t len = g->P - p < j1 - j ? g->P - p : j1 - j;
                const float *plane = x + (b * g->C + t.c) * HW;
                float *o = dst + (j - j0);
                for (size_t i = 0; i < len; i++) {
                    int32_t at = tq[p + i];
                    o[i] = at >= 0 ? plane[at] : 0.0f;
                }
                j += len;
            }
        }
        return;
    }
    const int nr = chunk_runs(g, j0, n, rs);
    const int Wo = g->Wo;
    tap t = tap_first(g, r0);
    for (int r = r0; r < r1; r++, tap_next(g, &t)) {
        float *dst = col + (size_t)(r - r0) * n;
        for (int k = 0; k < nr; k++) {
            const run *u = &rs[k];
            const float *plane = x + (u->b * g->C + t.c) * HW;
            float *o = dst + u->jj;
            if (u->rows && g->same) {
                int v0, v1;
                size_t span = same_span(g, &t, u->oh, u->rows, &v0, &v1);
                float *ov = o + (size_t)(v0 - u->oh) * Wo;
                zero(o, (v0 - u->oh) * Wo);
                if (span)
                    memcpy(ov + t.lo, plane + (size_t)(v0 + t.shift) * g->W + t.off + t.lo,
                           span * sizeof(float));
                if (t.lo > 0 || t.hi < Wo || !span)
                    for (int q = 0; q < v1 - v0; q++) {
                        zero(ov + (size_t)q * Wo, t.lo);
                        zero(ov + (size_t)q * Wo + t.hi, Wo - t.hi);
                    }
                zero(o + (size_t)(v1 - u->oh) * Wo, (u->oh + u->rows - v1) * Wo);
            } else if (u->rows) {
                for (int q = 0; q < u->rows; q++)
                    im2col_row(g, &t, plane, u->oh + q, 0, Wo, o + (size_t)q * Wo);
            } else {
                im2col_row(g, &t, plane, u->oh, u->ow, u->len, o);
            }
        }
    }
}

/* dx row += len columns of dcol for tap t, output row oh from ow. */
static inline void col2im_row(const conv_geom *g, const tap *t, float *plane, int oh, int ow,
                              int len, const float *sp)
{
    const int ih = oh * g->s + t->shift;
    const int a = clampi(t->lo - ow, 0, len), e = clampi(t->hi - ow, a, len);
    if (ih < 0 || ih >= g->H || e <= a)
        return;
    float *restrict op = plane + (size_t)ih * g->W + ((ow + a) * g->s + t->off);
    const float *restrict q = sp + a;
    const int s = g->s, m = e - a;
    if (s == 1) {
#pragma omp simd
        for (int i = 0; i < m; i++)
            op[i] += q[i];
    } else {
        for (int i = 0; i < m; i++)
            op[(size_t)i * s] += q[i];
    }
}

/* The adjoint of im2col for input channels [c0, c1): dx += col2im(dcol),
 * with dcol's rows for channel c0 first (row stride n).  dcol is clobbered:
 * its entries that fall on padding are zeroed so that a block of rows can be
 * added as one stretch.  rs: room for runs_cap(g, n) runs. */
static void col2im_chans(const conv_geom *g, float *dcol, size_t j0, size_t n, int c0, int c1,
                         float *dx, run *rs)
{
    const size_t HW = (size_t)g->H * g->W, j1 = j0 + n;
    const int kk = g->kh * g->kw, Wo = g->Wo;
    if (g->pointwise) {
        for (int c = c0; c < c1; c++) {
            const float *srow = dcol + (size_t)(c - c0) * n;
            for (size_t j = j0; j < j1;) {
                size_t b = j / g->P, p = j % g->P;
                size_t len = g->P - p < j1 - j ? g->P - p : j1 - j;
                float *restrict o = dx + (b * g->C + c) * HW + p;
                const float *restrict sp = srow + (j - j0);
#pragma omp simd
                for (size_t i = 0; i < len; i++)
                    o[i] += sp[i];
                j += len;
            }
        }
        return;
    }
    if (g->tab) {
        tap t = tap_first(g, c0 * kk);
        for (int r = c0 * kk; r < c1 * kk; r++, tap_next(g, &t)) {
            const int32_t *tq = g->tab + (size_t)(t.ki * g->kw + t.kj) * g->P;
            const float *srow = dcol + (size_t)(r - c0 * kk) * n;
            for (size_t j = j0, b = j0 / g->P, p = j0 % g->P; j < j1; b++, p = 0) {
                size_t len = g->P - p < j1 - j ? g->P - p : j1 - j;
                float *plane = dx + (b * g->C + t.c) * HW;
                const float *sp = srow + (j - j0);
                for (size_t i = 0; i < len; i++) {
                    int32_t at = tq[p + i];
                    if (at >= 0)
                        plane[at] += sp[i];
                }
                j += len;
            }
        }
        return;
    }
    const int nr = chunk_runs(g, j0, n, rs);
    tap t = tap_first(g, c0 * kk);
    for (int r = c0 * kk; r < c1 * kk; r++, tap_next(g, &t)) {
        float *srow = dcol + (size_t)(r - c0 * kk) * n;
        for (int k = 0; k < nr; k++) {
            const run *u = &rs[k];
            float *plane = dx + (u->b * g->C + t.c) * HW;
            float *sp = srow + u->jj;
            if (u->rows && g->same) {
                int v0, v1;
                size_t span = same_span(g, &t, u->oh, u->rows, &v0, &v1);
                if (!span)
                    continue;
                float *sv = sp + (size_t)(v0 - u->oh) * Wo;
                if (t.lo > 0 || t.hi < Wo)
                    for (int q = 0; q < v1 - v0; q++) {
                        zero(sv + (size_t)q * Wo, t.lo);
                        zero(sv + (size_t)q * Wo + t.hi, Wo - t.hi);
                    }
                float *restrict op = plane + (size_t)(v0 + t.shift) * g->W + t.off + t.lo;
                const float *restrict q = sv + t.lo;
#pragma omp simd
                for (size_t i = 0; i < span; i++)
                    op[i] += q[i];
            } else if (u->rows) {
                for (int q = 0; q < u->rows; q++)
                    col2im_row(g, &t, plane, u->oh + q, 0, Wo, sp + (size_t)q * Wo);
            } else {
                col2im_row(g, &t, plane, u->oh, u->ow, u->len, sp);
            }
        }
    }
}

/* What inference does to each output after the GEMM and the bias: batch
 * norm folded to v * k[o] + b[o], a residual added, a ReLU
 * (must_conv2d_bn_act), on each chunk while it is in cache, instead of one
 * more pass over the whole output.  NULL: nothing. */
typedef struct conv_epi {
    const float *k, *b; /* per output channel */
    const float *res;   /* NULL, or shaped like the output */
    int relu;
} conv_epi;

/* y[b, o, p] = yc[o, j - j0] + bias[o] for output channels [o0, o1) and the
 * chunk's columns j = b*P + p, then the epilogue ep (may be NULL). */
static void scatter_out(const conv_geom *g, const float *yc, size_t j0, size_t n, int o0, int o1,
                        const float *bias, const conv_epi *ep, float *y)
{
    const size_t j1 = j0 + n;
    for (int o = o0; o < o1; o++) {
        const float bo = bias ? bias[o] : 0.0f;
        const float *src = yc + (size_t)o * n;
        size_t j = j0;
        while (j < j1) {
            size_t b = j / g->P, p = j % g->P;
            size_t len = g->P - p < j1 - j ? g->P - p : j1 - j;
            float *restrict dst = y + (b * g->O + o) * g->P + p;
            const float *restrict sp = src + (j - j0);
#pragma omp simd
            for (size_t i = 0; i < len; i++)
                dst[i] = sp[i] + bo;
            if (ep)
                must_affine_act(dst, ep->res ? ep->res + (dst - y) : NULL, dst, len, ep->k[o],
                                ep->b[o], ep->relu);
            j += len;
        }
    }
}

/* dyc[o, j - j0] = dy[b, o, p] for output channels [o0, o1) and the chunk's
 * columns j = b*P + p. */
static void gather_grad(const conv_geom *g, const float *dy, size_t j0, size_t n, int o0, int o1,
                        float *dyc)
{
    const size_t j1 = j0 + n;
    for (int o = o0; o < o1; o++) {
        float *dst = dyc + (size_t)o * n;
        for (size_t j = j0; j < j1;) {
            size_t b = j / g->P, p = j % g->P;
            size_t len = g->P - p < j1 - j ? g->P - p : j1 - j;
            memcpy(dst + (j - j0), dy + (b * g->O + o) * g->P + p, len * sizeof(float));
            j += len;
        }
    }
}

/* Part q [lo, hi) of n items cut into parts nearly equal parts. */
static inline void share(int n, int parts, int q, int *lo, int *hi)
{
    *lo = (int)((long)n * q / parts);
    *hi = (int)((long)n * (q + 1) / parts);
}

/* Adds bias[o] to rows [o0, o1) of an (O, n) block with row stride ld. */
static void add_bias(const float *bias, int o0, int o1, size_t n, float *y, size_t ld)
{
    for (int o = o0; o < o1; o++) {
        float *restrict yo = y + (size_t)o * ld;
        const float bo = bias[o];
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            yo[i] += bo;
    }
}

/* ---- forward ---- */

static int conv_forward(must_ctx *ctx, const conv_geom *g, const float *x, const float *w,
                        const float *bias, const conv_epi *ep, float *y)
{
    const int nt = (size_t)g->K * g->J < PAR_MIN ? 1 : must_ctx_threads(ctx);
    const chunks ch = chunk_plan(g);
    const size_t nc = ch.max_cols;

    if (ch.count > 1) {
        /* Whole chunks per thread, each in the thread's own buffer. */
        const size_t ncol = ((size_t)g->K * nc + 15) & ~(size_t)15;
        const size_t nyc = ch.per_image ? 0 : ((size_t)g->O * nc + 15) & ~(size_t)15;
        const size_t per = ncol + nyc + runs_floats(g, nc);
        float *buf = must_ctx_scratch(ctx, per * (size_t)nt);
        if (!buf)
            return -1;
#pragma omp parallel num_threads(nt)
        {
            float *col = buf + per * (size_t)omp_get_thread_num(), *yc = col + ncol;
            run *rs = (run *)(yc + nyc);
#pragma omp for schedule(dynamic)
            for (size_t i = 0; i < ch.count; i++) {
                size_t j0, n;
                chunk_span(g, &ch, i, &j0, &n);
                const size_t b = j0 / g->P, p0 = j0 % g->P;
                /* col (K, n): for a 1x1 conv's band, x itself */
                const float *cp = col;
                size_t ldc = n;
                if (g->pointwise && ch.per_image) {
                    cp = x + b * g->C * g->P + p0;
                    ldc = g->P;
                } else {
                    im2col_rows(g, x, j0, n, 0, g->K, col, rs);
                }
                if (ch.per_image) {
                    /* Y (O, n) = W (O, K) col (K, n), straight into y's band */
                    float *yb = y + b * g->O * g->P + p0;
                    must_sgemm(NULL, 0, 0, g->O, (int)n, g->K, 1.0f, w, g->K, cp, (int)ldc, 0.0f,
                               yb, (int)g->P);
                    if (bias)
                        add_bias(bias, 0, g->O, n, yb, g->P);
                    for (int o = 0; ep && o < g->O; o++) {
                        size_t at = (size_t)(yb - y) + (size_t)o * g->P;
                        must_affine_act(y + at, ep->res ? ep->res + at : NULL, y + at, n,
                                        ep->k[o], ep->b[o], ep->relu);
                    }
                } else {
                    must_sgemm(NULL, 0, 0, g->O, (int)n, g->K, 1.0f, w, g->K, cp, (int)ldc, 0.0f,
                               yc, (int)n);
                    scatter_out(g, yc, j0, n, 0, g->O, bias, ep, y);
                }
            }
        }
        return 0;
    }
    /* One chunk (a deep layer's small map): the threads share its im2col
     * rows, then blocks of output channels fixed by the shape. */
    const size_t J = g->J, ncol = ((size_t)g->K * J + 15) & ~(size_t)15;
    const size_t nyc = ((size_t)g->O * J + 15) & ~(size_t)15, nrs = runs_floats(g, J);
    float *col = must_ctx_scratch(ctx, ncol + nyc + nrs * (size_t)nt);
    if (!col)
        return -1;
    float *yc = col + ncol;
    const int oblocks = (g->O + OUT_BLOCK - 1) / OUT_BLOCK;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        share(g->K, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        run *rs = (run *)(yc + nyc + nrs * (size_t)omp_get_thread_num());
        im2col_rows(g, x, 0, J, lo, hi, col + (size_t)lo * J, rs);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int q = 0; q < oblocks; q++) {
            share(g->O, oblocks, q, &lo, &hi);
            must_sgemm(NULL, 0, 0, hi - lo, (int)J, g->K, 1.0f, w + (size_t)lo * g->K, g->K, col,
                       (int)J, 0.0f, yc + (size_t)lo * J, (int)J);
        }
#pragma omp for schedule(static)
        for (int o = 0; o < g->O; o++)
            scatter_out(g, yc, 0, J, o, o + 1, bias, ep, y);
    }
    return 0;
}

/* ---- backward ---- */

/* Blocks of input channels, fixed by the shape: a block's rows of dW and of
 * dcol are each one GEMM per chunk, whichever thread runs it.  A multiple of
 * BLOCKS_MIN, so that 1, 2 or 4 threads share them evenly. */
static int channel_blocks(const conv_geom *g)
{
    int nb = (g->K + BLOCK_ROWS - 1) / BLOCK_ROWS;
    nb = (nb + BLOCKS_MIN - 1) / BLOCKS_MIN * BLOCKS_MIN;
    return nb > g->C ? g->C : nb;
}

/* Sum of dy over (b, p) for output channel o; eight fixed lanes per plane
 * (they vectorise, and the order never changes), planes summed in double. */
static double bias_grad(const conv_geom *g, const float *dy, int o)
{
    double acc = 0.0;
    for (int b = 0; b < g->B; b++) {
        const float *src = dy + ((size_t)b * g->O + o) * g->P;
        float s[8] = {0};
        size_t i = 0;
        for (; i + 8 <= g->P; i += 8)
            for (int l = 0; l < 8; l++)
                s[l] += src[i + l];
        for (; i < g->P; i++)
            s[0] += src[i];
        acc += (double)((s[0] + s[4]) + (s[1] + s[5])) + (double)((s[2] + s[6]) + (s[3] + s[7]));
    }
    return acc;
}

/* Backward splits the work between threads in one of two ways, both fixed by
 * the shape.  Where chunks are bands of single images, by groups of images:
 * a group's dx planes are its own, and it sums its dW into a partial of its
 * own, added up in group order at the end; every GEMM keeps all K rows.
 * Where chunks hold several (small) images, by blocks of input channels: a
 * block's dW columns and dx planes are its own.  Either way a thread works
 * through all its chunks with no barrier between them, so a thread that the
 * OS preempts on a busy machine delays only its own share. */
static int image_groups(const conv_geom *g, const chunks *ch)
{
    if (!ch->per_image || g->B < 2)
        return 0;
    int groups = g->B < IMAGE_GROUPS ? g->B : IMAGE_GROUPS;
    if ((size_t)(groups - 1) * g->O * g->K > PARTIALS_MAX)
        return 0;
    return groups;
}

/* One chunk's share of backward: dW[:, r0:r0+rows] += dY col^T into dwp (row
 * stride K), and dx for channels [c0, c1).  dyc (O, n) has row stride ldy. */
static void chunk_bw(const conv_geom *g, const chunks *ch, size_t j0, size_t n,
                     const float *dyc, int ldy, const float *x, const float *w, float *dwp,
                     float *dx, int c0, int c1, float *mine, run *rs)
{
    const int kk = g->kh * g->kw, r0 = c0 * kk, rows = (c1 - c0) * kk;
    const size_t b = j0 / g->P, p0 = j0 % g->P;
    const int direct = g->pointwise && ch->per_image; /* x and dx bands in place */
    if (dwp) {
        /* dW[:, r0:r1] (O, rows) += dY (O, n) col[r0:r1]^T (n, rows) */
        const float *cp = mine;
        int ldc = (int)n;
        if (direct) {
            cp = x + (b * g->C + c0) * g->P + p0;
            ldc = (int)g->P;
        } else {
            im2col_rows(g, x, j0, n, r0, r0 + rows, mine, rs);
        }
        must_sgemm(NULL, 0, 1, g->O, rows, (int)n, 1.0f, dyc, ldy, cp, ldc, 1.0f, dwp + r0, g->K);
    }
    if (dx && direct) {
        /* dx[b, c0:c1] band (rows, n) += W[:, r0:r1]^T (rows, O) dY (O, n) */
        must_sgemm(NULL, 1, 0, rows, (int)n, g->O, 1.0f, w + r0, g->K, dyc, ldy, 1.0f,
                   dx + (b * g->C + c0) * g->P + p0, (int)g->P);
    } else if (dx) {
        /* dcol[r0:r1] (rows, n) = W[:, r0:r1]^T (rows, O) dY (O, n) */
        must_sgemm(NULL, 1, 0, rows, (int)n, g->O, 1.0f, w + r0, g->K, dyc, ldy, 0.0f, mine,
                   (int)n);
        col2im_chans(g, mine, j0, n, c0, c1, dx, rs);
    }
}

static void conv2d_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *x = nd->in[0], *w = nd->in[1], *bt = nd->n_in > 2 ? nd->in[2] : NULL;
    float *dx = x->grad, *dw = w->grad, *db = bt ? bt->grad : NULL;
    if (!dx && !dw && !db)
        return;
    conv_geom g;
    geom_from(&g, x, w, nd->iarg[0], nd->iarg[1], nd->iarg[2]);
    if (small_table(ctx, &g) != 0)
        return;
    const int kk = g.kh * g.kw;
    const int nt = (size_t)g.K * g.J < PAR_MIN ? 1 : must_ctx_threads(ctx);
    const chunks ch = chunk_plan(&g);
    const size_t nc = ch.max_cols;
    const int groups = image_groups(&g, &ch);
    const int nb = groups ? 1 : channel_blocks(&g);
    const size_t nmine = ((size_t)((g.C + nb - 1) / nb * kk) * nc + 15) & ~(size_t)15;
    const size_t per = nmine + runs_floats(&g, nc);
    const size_t ndy = ch.per_image ? 0 : ((size_t)g.O * g.J + 15) & ~(size_t)15;
    const size_t nwk = (size_t)g.O * g.K, npart = dw && groups > 1 ? (groups - 1) * nwk : 0;
    float *buf = must_ctx_scratch(ctx, ndy + npart + per * (size_t)nt);
    if (!buf)
        return;
    float *dyt = buf;          // (O, J) when chunks hold whole images
    float *part = buf + ndy;   // dW partials of groups 1..groups-1
    const float *dy = nd->out->grad;
    const int work = dx || dw;

#pragma omp parallel num_threads(nt)
    {
        float *mine = buf + ndy + npart + per * (size_t)omp_get_thread_num();
        run *rs = (run *)(mine + nmine);
#pragma omp for schedule(static)
        for (int o = 0; o < g.O; o++) {
            if (!ch.per_image && work)
                gather_grad(&g, dy, 0, g.J, o, o + 1, dyt);
            if (db)
                db[o] += (float)bias_grad(&g, dy, o);
        }
        if (groups && work) {
#pragma omp for schedule(dynamic)
            for (int q = 0; q < groups; q++) {
                int b0, b1;
                share(g.B, groups, q, &b0, &b1);
                float *dwp = dw && q ? part + (size_t)(q - 1) * nwk : dw;
                if (dwp && q)
                    memset(dwp, 0, nwk * sizeof(float));
                for (size_t i = (size_t)b0 * ch.per_image; i < (size_t)b1 * ch.per_image; i++) {
                    size_t j0, n;
                    chunk_span(&g, &ch, i, &j0, &n);
                    const float *dyc = dy + j0 / g.P * g.O * g.P + j0 % g.P;
                    chunk_bw(&g, &ch, j0, n, dyc, (int)g.P, x->data, w->data, dwp, dx, 0, g.C,
                             mine, rs);
                }
            }
            if (npart) {
#pragma omp for schedule(static)
                for (size_t i = 0; i < nwk; i++) {
                    float v = dw[i];
                    for (int q = 1; q < groups; q++)
                        v += part[(size_t)(q - 1) * nwk + i];
                    dw[i] = v;
                }
            }
        } else if (work) {
#pragma omp for schedule(dynamic)
            for (int q = 0; q < nb; q++) {
                int c0, c1;
                share(g.C, nb, q, &c0, &c1);
                for (size_t i = 0; i < ch.count; i++) {
                    size_t j0, n;
                    chunk_span(&g, &ch, i, &j0, &n);
                    const float *dyc = ch.per_image ? dy + j0 / g.P * g.O * g.P + j0 % g.P
                                                    : dyt + j0;
                    const int ldy = (int)(ch.per_image ? g.P : g.J);
                    chunk_bw(&g, &ch, j0, n, dyc, ldy, x->data, w->data, dw, dx, c0, c1, mine,
                             rs);
                }
            }
        }
    }
}

/* The checks both convolutions make; 0, or -1 with the context's error. */
static int conv_check(must_ctx *ctx, const char *op, must_tensor *x, must_tensor *w,
                      must_tensor *b, int stride, int pad, int dil)
{
    if (x->ndim != 4 || w->ndim != 4 || w->shape[1] != x->shape[1]) {
        must_shape_fail(ctx, op, x, w);
        return -1;
    }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        must_shape_fail(ctx, "conv2d (bias)", w, b);
        return -1;
    }
    if (stride < 1 || pad < 0 || dil < 1) {
        must_ctx_fail(ctx, MUST_EINVAL,
                      "%s: stride %d, padding %d, dilation %d "
                      "(need stride >= 1, padding >= 0, dilation >= 1)",
                      op, stride, pad, dil);
        return -1;
    }
    if (x->shape[2] + 2 * pad < dil * (w->shape[2] - 1) + 1 ||
        x->shape[3] + 2 * pad < dil * (w->shape[3] - 1) + 1) {
        char sx[64], sw[64];
        must_ctx_fail(ctx, MUST_ESHAPE,
                      "%s: input %s is smaller than the dilated kernel of %s "
                      "(padding %d, dilation %d)",
                      op, must_shape_str(x, sx, sizeof sx), must_shape_str(w, sw, sizeof sw),
                      pad, dil);
        return -1;
    }
    return 0;
}

must_tensor *must_op_conv2d(must_ctx *ctx, must_tensor *x, must_tensor *w, must_tensor *b,
                            int stride, int pad, int dil)
{
    if (!x || !w)
        return NULL;
    if (conv_check(ctx, "conv2d", x, w, b, stride, pad, dil))
        return NULL;
    conv_geom g;
    geom_from(&g, x, w, stride, pad, dil);
    must_tensor *y = must_tensor_new4(ctx, g.B, g.O, g.Ho, g.Wo); // (B, O, Ho, Wo)
    if (!y || small_table(ctx, &g) != 0 ||
        conv_forward(ctx, &g, x->data, w->data, b ? b->data : NULL, NULL, y->data) != 0)
        return NULL;
    must_tensor *in[3] = {x, w, b};
    must_node *nd = must_tape_record(ctx, "conv2d", conv2d_bw, y, b ? 3 : 2, in);
    if (nd) {
        nd->iarg[0] = stride;
        nd->iarg[1] = pad;
        nd->iarg[2] = dil;
    }
    return y;
}

must_tensor *must_conv2d_bn_act(must_ctx *ctx, must_tensor *x, must_tensor *w, must_tensor *b,
                                int stride, int pad, const float *k, const float *shift,
                                must_tensor *res, int relu)
{
    if (!x || !w)
        return NULL;
    if (must_ctx_grad(ctx)) {
        must_ctx_fail(ctx, MUST_EINVAL, "conv2d_bn_act: inference only (gradients are on)");
        return NULL;
    }
    if (conv_check(ctx, "conv2d_bn_act", x, w, b, stride, pad, 1))
        return NULL;
    conv_geom g;
    geom_from(&g, x, w, stride, pad, 1);
    if (res && (res->ndim != 4 || res->shape[0] != g.B || res->shape[1] != g.O ||
                res->shape[2] != g.Ho || res->shape[3] != g.Wo))
        return must_shape_fail(ctx, "conv2d_bn_act (residual)", x, res);
    const conv_epi ep = {k, shift, res ? res->data : NULL, relu};
    must_tensor *y = must_tensor_new4(ctx, g.B, g.O, g.Ho, g.Wo);
    if (!y || small_table(ctx, &g) != 0 ||
        conv_forward(ctx, &g, x->data, w->data, b ? b->data : NULL, &ep, y->data) != 0)
        return NULL;
    return y;
}
