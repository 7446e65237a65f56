/* roialign.c - multi-level RoIAlign, an op the plugin registers on the tape.
 *
 * Mask R-CNN's RoIAlign in Detectron2's "aligned" form: a box in input
 * pixels maps to feature coordinates as x * (1 / stride) - 0.5, so that
 * feature cell x is centred on input pixel (x + 0.5) stride (the anchors'
 * convention).  The box is cut into out x out bins; each bin averages a
 * grid of sampling x sampling bilinear samples at the centres of its
 * sub-cells (sampling <= 0: ceil(bin size) per side, Detectron2's adaptive
 * rule).  A sample more than one cell outside the map reads 0; one within a
 * cell of the edge reads the edge.  The output is linear in the features,
 * so the backward scatters each output gradient back to the four cells
 * each sample read, with the same weights.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "det-impl.h"

int det_roi_level(const float *box, int k0, float canonical, int kmin, int kmax)
{
    float s = sqrtf(det_box_area(box));
    int k = (int)floorf((float)k0 + log2f(s / canonical + 1e-8f));
    return k < kmin ? kmin : k > kmax ? kmax : k;
}

/* One bilinear read: four cells of a plane and their weights, already
 * divided by the number of samples in the bin. */
typedef struct tap {
    int off[4];
    float w[4];
} tap;

typedef struct ra_saved {
    det_roi *roi;
    float stride[MUST_NLEVELS];
    int nlev, R, out, sampling;
} ra_saved;

/* Samples per side of a bin of size bin (cells). */
static inline int grid_of(int sampling, float bin)
{
    if (sampling > 0)
        return sampling;
    int g = (int)ceilf(bin);
    return g < 1 ? 1 : g;
}

/* A RoI's corner and bin size in feature cells.  The one place they are
 * worked out, so that the tap buffer's size (max_taps) and its filling
 * (roi_taps) cannot disagree by a rounding. */
static inline void roi_bins(const det_roi *r, float scale, int out, float *y0, float *x0,
                            float *bh, float *bw)
{
    *y0 = r->box[1] * scale - 0.5f;
    *x0 = r->box[0] * scale - 0.5f;
    *bh = (r->box[3] * scale - 0.5f - *y0) / (float)out;
    *bw = (r->box[2] * scale - 0.5f - *x0) / (float)out;
}

/* The taps of one RoI on an h x w plane: out * out bins of gy * gx samples,
 * bin-major.  Returns the number of samples per bin. */
static int roi_taps(const det_roi *r, float scale, int h, int w, int out, int sampling, tap *t)
{
    float y0, x0, bh, bw;
    roi_bins(r, scale, out, &y0, &x0, &bh, &bw);
    int gy = grid_of(sampling, bh), gx = grid_of(sampling, bw);
    float inv = 1.0f / (float)(gy * gx);
    for (int py = 0; py < out; py++)
        for (int px = 0; px < out; px++)
            for (int iy = 0; iy < gy; iy++)
                for (int ix = 0; ix < gx; ix++, t++) {
                    float y = y0 + (float)py * bh + ((float)iy + 0.5f) * bh / (float)gy;
                    float x = x0 + (float)px * bw + ((float)ix + 0.5f) * bw / (float)gx;
                    if (y < -1.0f || y > (float)h || x < -1.0f || x > (float)w) {
                        *t = (tap){{0, 0, 0, 0}, {0, 0, 0, 0}};
                        continue;
                    }
                    y = y < 0.0f ? 0.0f : y;
                    x = x < 0.0f ? 0.0f : x;
                    int yl = (int)y, xl = (int)x, yh, xh;
                    if (yl >= h - 1) {
                        yl = yh = h - 1;
                        y = (float)yl;
                    } else {
                        yh = yl + 1;
                    }
                    if (xl >= w - 1) {
                        xl = xh = w - 1;
                        x = (float)xl;
                    } else {
                        xh = xl + 1;
                    }
                    float ly = y - (float)yl, lx = x - (float)xl, hy = 1.0f - ly, hx = 1.0f - lx;
                    *t = (tap){{yl * w + xl, yl * w + xh, yh * w + xl, yh * w + xh},
                               {hy * hx * inv, hy * lx * inv, ly * hx * inv, ly * lx * inv}};
                }
    return gy * gx;
}

/* The most taps any RoI needs (the buffer each thread holds). */
static size_t max_taps(const ra_saved *s)
{
    size_t most = 1;
    for (int i = 0; i < s->R; i++) {
        float y0, x0, bh, bw;
        roi_bins(&s->roi[i], 1.0f / s->stride[s->roi[i].level], s->out, &y0, &x0, &bh, &bw);
        size_t n = (size_t)s->out * s->out * grid_of(s->sampling, bh) * grid_of(s->sampling, bw);
        most = n > most ? n : most;
    }
    return most;
}

static void roialign_bw(must_ctx *ctx, must_node *nd)
{
    const ra_saved *s = nd->saved;
    must_tensor *y = nd->out;
    int C = y->shape[1], P = s->out, PP = P * P, T = det_host->ctx_threads(ctx);
    size_t ntap = max_taps(s);
    tap *buf = det_host->ctx_alloc(ctx, (size_t)T * ntap * sizeof *buf);
    if (!buf)
        return; /* the context's error is set */
    /* Channels split over threads: each input gradient cell is written by
     * one thread only, visiting the RoIs in order, so the sums do not depend
     * on the thread count. */
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int k = 0; k < T; k++) {
        tap *t = buf + (size_t)k * ntap;
        int c0 = (int)((long)C * k / T), c1 = (int)((long)C * (k + 1) / T);
        for (int i = 0; i < s->R; i++) {
            const det_roi *r = &s->roi[i];
            must_tensor *f = nd->in[r->level];
            if (!f->grad || c0 == c1)
                continue;
            int h = f->shape[2], w = f->shape[3];
            int per = roi_taps(r, 1.0f / s->stride[r->level], h, w, P, s->sampling, t);
            for (int c = c0; c < c1; c++) {
                float *g = f->grad + ((size_t)r->batch * C + c) * h * w;
                const float *dy = y->grad + ((size_t)i * C + c) * PP;
                for (int b = 0; b < PP; b++) {
                    float d = dy[b];
                    const tap *tb = t + (size_t)b * per;
                    for (int q = 0; q < per; q++)
                        for (int j = 0; j < 4; j++)
                            g[tb[q].off[j]] += d * tb[q].w[j];
                }
            }
        }
    }
}

must_tensor *det_roialign(must_ctx *ctx, int nlev, must_tensor *const *feat, const float *stride,
                          const det_roi *roi, int R, int out, int sampling)
{
    const must_host *H = det_host;
    static const char op[] = "roialign";
    if (nlev < 1 || nlev > MUST_NODE_MAX_IN || nlev > MUST_NLEVELS) {
        H->ctx_fail(ctx, MUST_EINVAL, "%s: %d levels (1 to %d)", op, nlev, MUST_NODE_MAX_IN);
        return NULL;
    }
    for (int l = 0; l < nlev; l++)
        if (!feat[l])
            return NULL;
    int N = feat[0]->shape[0], C = feat[0]->shape[1];
    for (int l = 0; l < nlev; l++)
        if (feat[l]->ndim != 4 || feat[l]->shape[0] != N || feat[l]->shape[1] != C) {
            H->ctx_fail(ctx, MUST_ESHAPE,
                        "%s: level %d has shape (%d, %d, %d, %d), expected (%d, %d, H, W)", op, l,
                        feat[l]->shape[0], feat[l]->shape[1], feat[l]->shape[2],
                        feat[l]->shape[3], N, C);
            return NULL;
        }
    if (out < 1 || R < 1) {
        H->ctx_fail(ctx, MUST_EINVAL, "%s: output size %d, %d RoIs", op, out, R);
        return NULL;
    }
    for (int i = 0; i < R; i++)
        if (roi[i].batch < 0 || roi[i].batch >= N || roi[i].level < 0 ||
            roi[i].level >= nlev || !(roi[i].box[2] >= roi[i].box[0]) ||
            !(roi[i].box[3] >= roi[i].box[1])) {
            H->ctx_fail(ctx, MUST_EINVAL,
                        "%s: RoI %d (image %d, level %d, box %g %g %g %g) is invalid for %d "
                        "images and %d levels",
                        op, i, roi[i].batch, roi[i].level, (double)roi[i].box[0],
                        (double)roi[i].box[1], (double)roi[i].box[2], (double)roi[i].box[3], N,
                        nlev);
            return NULL;
        }
    int shape[4] = {R, C, out, out};
    must_tensor *y = H->tensor_new(ctx, 4, shape);
    ra_saved *s = y ? H->ctx_alloc(ctx, sizeof *s) : NULL;
    det_roi *copy = s ? H->ctx_alloc(ctx, (size_t)(R ? R : 1) * sizeof *copy) : NULL;
    if (!copy)
        return NULL;
    memcpy(copy, roi, (size_t)R * sizeof *roi);
    *s = (ra_saved){.roi = copy, .nlev = nlev, .R = R, .out = out, .sampling = sampling};
    memcpy(s->stride, stride, (size_t)nlev * sizeof *stride);

    int PP = out * out, T = H->ctx_threads(ctx);
    size_t ntap = max_taps(s);
    tap *buf = H->ctx_alloc(ctx, (size_t)T * ntap * sizeof *buf);
    if (!buf)
        return NULL;
    /* RoIs dealt round the threads; each works out a RoI's taps once and
     * reads every channel through them. */
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int k = 0; k < T; k++) {
        tap *t = buf + (size_t)k * ntap;
        for (int i = k; i < R; i += T) {
            const det_roi *r = &copy[i];
            const must_tensor *f = feat[r->level];
            int h = f->shape[2], w = f->shape[3];
            int per = roi_taps(r, 1.0f / stride[r->level], h, w, out, sampling, t);
            for (int c = 0; c < C; c++) {
                const float *plane = f->data + ((size_t)r->batch * C + c) * h * w;
                float *o = y->data + ((size_t)i * C + c) * PP;
                for (int b = 0; b < PP; b++) {
                    const tap *tb = t + (size_t)b * per;
                    float v = 0.0f;
                    for (int q = 0; q < per; q++)
                        v += tb[q].w[0] * plane[tb[q].off[0]] + tb[q].w[1] * plane[tb[q].off[1]] +
                             tb[q].w[2] * plane[tb[q].off[2]] + tb[q].w[3] * plane[tb[q].off[3]];
                    o[b] = v;
                }
            }
        }
    }
    must_node *nd = H->tape_record(ctx, op, roialign_bw, y, nlev, feat);
    if (nd)
        nd->saved = s;
    return y;
}
