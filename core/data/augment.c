/* augment.c - joint geometric transforms of an image and its labels; photometric jitter. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment-impl.h"
#include "must/kinds.h"

static const float img_mean[3] = {MUST_IMAGE_MEAN_R, MUST_IMAGE_MEAN_G, MUST_IMAGE_MEAN_B};
static const float img_std[3] = {MUST_IMAGE_STD_R, MUST_IMAGE_STD_G, MUST_IMAGE_STD_B};

void must_aug_defaults(must_aug_opts *o)
{
    o->scale_min = 0.8f;
    o->scale_max = 1.25f;
    o->hflip = 1;
    o->brightness = 0.2f;
    o->contrast = 0.2f;
    o->saturation = 0.2f;
    o->grey = 0.0f;
    o->blur = 0.0f;
}

void must_aug_fit(int src_w, int src_h, int size, must_aug_tf *tf)
{
    int longer = src_w > src_h ? src_w : src_h;
    tf->x0 = 0.0f;
    tf->y0 = 0.0f;
    tf->s = (float)size / (float)(longer > 0 ? longer : 1);
    tf->out_w = size;
    tf->out_h = size;
    tf->flip = 0;
}

void must_aug_sample(must_rng *r, int src_w, int src_h, int size, const must_aug_opts *o,
                     must_aug_tf *tf)
{
    must_aug_fit(src_w, src_h, size, tf);
    /* Every draw happens whatever the options, so that the stream, and with
     * it every later choice, does not depend on which jitters are on. */
    float u = must_rng_uniform(r), ux = must_rng_uniform(r), uy = must_rng_uniform(r),
          uf = must_rng_uniform(r);
    float scale = o->scale_min + (o->scale_max - o->scale_min) * u;
    if (!(scale > 0.0f))
        scale = 1.0f;
    tf->s *= scale;
    float sw = (float)src_w * tf->s, sh = (float)src_h * tf->s;
    /* Offsets in output pixels, then back to source pixels. */
    float ox = sw > (float)size ? floorf(ux * (sw - (float)size + 1.0f)) : 0.0f;
    float oy = sh > (float)size ? floorf(uy * (sh - (float)size + 1.0f)) : 0.0f;
    ox = fminf(ox, fmaxf(sw - (float)size, 0.0f));
    oy = fminf(oy, fmaxf(sh - (float)size, 0.0f));
    tf->x0 = ox / tf->s;
    tf->y0 = oy / tf->s;
    tf->flip = o->hflip && uf < 0.5f;
}

/* Bilinear resampling where source points from lim_w, lim_h on count as
 * outside (the source's own size, or the stored image's edge in a reduced
 * decode, whose last pixel may reach past it). */
static int resample_bilinear(const must_map *src, const must_aug_tf *tf, const float *fill,
                             float lim_w, float lim_h, must_map *dst, must_err *err)
{
    int ow = tf->out_w, oh = tf->out_h, w = src->width, h = src->height, c = src->channels;
    int rc = must_map_alloc(dst, c, oh, ow, err);
    if (rc)
        return rc;
    int *xi = malloc(2 * (size_t)ow * sizeof *xi), *yi = malloc(2 * (size_t)oh * sizeof *yi);
    float *xw = malloc((size_t)ow * sizeof *xw), *yw = malloc((size_t)oh * sizeof *yw);
    if (!xi || !yi || !xw || !yw) {
        free(xi);
        free(yi);
        free(xw);
        free(yw);
        must_map_free(dst);
        return must_err_set(err, MUST_ENOMEM, "out of memory resampling an image");
    }
    /* Per column and row: the two source neighbours and the weight of the
     * second, or -1 for a sample point outside the source. */
    for (int u = 0; u < ow; u++) {
        float p = tf->x0 + ((float)u + 0.5f) / tf->s;
        if (!(p >= 0.0f && p < lim_w)) {
            xi[2 * u] = -1;
            continue;
        }
        float q = p - 0.5f, f = floorf(q);
        int a = (int)f;
        xw[u] = q - f;
        xi[2 * u] = a < 0 ? 0 : a;
        xi[2 * u + 1] = a + 1 > w - 1 ? w - 1 : a + 1;
    }
    for (int v = 0; v < oh; v++) {
        float p = tf->y0 + ((float)v + 0.5f) / tf->s;
        if (!(p >= 0.0f && p < lim_h)) {
            yi[2 * v] = -1;
            continue;
        }
        float q = p - 0.5f, f = floorf(q);
        int a = (int)f;
        yw[v] = q - f;
        yi[2 * v] = a < 0 ? 0 : a;
        yi[2 * v + 1] = a + 1 > h - 1 ? h - 1 : a + 1;
    }
    for (int ch = 0; ch < c; ch++) {
        const float *sp = src->data + (size_t)ch * w * h;
        float *dp = dst->data + (size_t)ch * ow * oh;
        float fv = fill ? fill[ch] : 0.0f;
        for (int v = 0; v < oh; v++) {
            float *row = dp + (size_t)v * ow;
            if (yi[2 * v] < 0) {
                for (int u = 0; u < ow; u++)
                    row[u] = fv;
                continue;
            }
            const float *r0 = sp + (size_t)yi[2 * v] * w, *r1 = sp + (size_t)yi[2 * v + 1] * w;
            float b = yw[v];
            for (int u = 0; u < ow; u++) {
                if (xi[2 * u] < 0) {
                    row[u] = fv;
                    continue;
                }
                int x0 = xi[2 * u], x1 = xi[2 * u + 1];
                float a = xw[u];
                float top = r0[x0] + a * (r0[x1] - r0[x0]);
                float bot = r1[x0] + a * (r1[x1] - r1[x0]);
                row[u] = top + b * (bot - top);
            }
        }
    }
    free(xi);
    free(yi);
    free(xw);
    free(yw);
    return MUST_OK;
}

int must_aug_resample_bilinear(const must_map *src, const must_aug_tf *tf, const float *fill,
                               must_map *dst, must_err *err)
{
    return resample_bilinear(src, tf, fill, (float)src->width, (float)src->height, dst, err);
}

int must_aug_resample_nearest(const must_map *src, const must_aug_tf *tf, float fill,
                              must_map *dst, must_err *err)
{
    int ow = tf->out_w, oh = tf->out_h, w = src->width, h = src->height, c = src->channels;
    int rc = must_map_alloc(dst, c, oh, ow, err);
    if (rc)
        return rc;
    int *xi = malloc((size_t)ow * sizeof *xi), *yi = malloc((size_t)oh * sizeof *yi);
    if (!xi || !yi) {
        free(xi);
        free(yi);
        must_map_free(dst);
        return must_err_set(err, MUST_ENOMEM, "out of memory resampling a label map");
    }
    for (int u = 0; u < ow; u++) {
        float p = floorf(tf->x0 + ((float)u + 0.5f) / tf->s);
        xi[u] = p >= 0.0f && p < (float)w ? (int)p : -1;
    }
    for (int v = 0; v < oh; v++) {
        float p = floorf(tf->y0 + ((float)v + 0.5f) / tf->s);
        yi[v] = p >= 0.0f && p < (float)h ? (int)p : -1;
    }
    for (int ch = 0; ch < c; ch++) {
        const float *sp = src->data + (size_t)ch * w * h;
        float *dp = dst->data + (size_t)ch * ow * oh;
        for (int v = 0; v < oh; v++) {
            float *row = dp + (size_t)v * ow;
            const float *sr = yi[v] >= 0 ? sp + (size_t)yi[v] * w : NULL;
            for (int u = 0; u < ow; u++)
                row[u] = sr && xi[u] >= 0 ? sr[xi[u]] : fill;
        }
    }
    free(xi);
    free(yi);
    return MUST_OK;
}

void must_aug_boxes(must_boxes *b, const must_aug_tf *tf)
{
    int k = 0;
    for (int i = 0; i < b->n; i++) {
        must_box x = b->v[i];
        x.x0 = fmaxf((x.x0 - tf->x0) * tf->s, 0.0f);
        x.y0 = fmaxf((x.y0 - tf->y0) * tf->s, 0.0f);
        x.x1 = fminf((x.x1 - tf->x0) * tf->s, (float)tf->out_w);
        x.y1 = fminf((x.y1 - tf->y0) * tf->s, (float)tf->out_h);
        if (x.x0 < x.x1 && x.y0 < x.y1)
            b->v[k++] = x;
    }
    b->n = k;
}

void must_aug_flip_map(must_map *m)
{
    int w = m->width;
    for (int r = 0; r < m->channels * m->height; r++) {
        float *row = m->data + (size_t)r * w;
        for (int a = 0, z = w - 1; a < z; a++, z--) {
            float t = row[a];
            row[a] = row[z];
            row[z] = t;
        }
    }
}

void must_aug_flip_normals(must_map *m)
{
    must_aug_flip_map(m);
    size_t n = (size_t)m->width * m->height;
    /* 0 - x keeps an invalid (0, 0, 0) free of a -0. */
    for (size_t i = 0; i < n; i++)
        m->data[i] = 0.0f - m->data[i];
}

void must_aug_flip_boxes(must_boxes *b, int width)
{
    for (int i = 0; i < b->n; i++) {
        float x0 = b->v[i].x0;
        b->v[i].x0 = (float)width - b->v[i].x1;
        b->v[i].x1 = (float)width - x0;
    }
}

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

void must_aug_photometric(must_map *img, must_rng *r, const must_aug_opts *o)
{
    float fb = 1.0f + o->brightness * (2.0f * must_rng_uniform(r) - 1.0f);
    float fc = 1.0f + o->contrast * (2.0f * must_rng_uniform(r) - 1.0f);
    float fs = 1.0f + o->saturation * (2.0f * must_rng_uniform(r) - 1.0f);
    if (img->channels != 3)
        return;
    size_t n = (size_t)img->width * img->height;
    float *R = img->data, *G = R + n, *B = G + n;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        R[i] = clamp01(R[i] * fb);
        G[i] = clamp01(G[i] * fb);
        B[i] = clamp01(B[i] * fb);
        sum += 0.299 * R[i] + 0.587 * G[i] + 0.114 * B[i];
    }
    float mean = n ? (float)(sum / (double)n) : 0.0f;
    for (size_t i = 0; i < n; i++) {
        float r0 = clamp01((R[i] - mean) * fc + mean);
        float g0 = clamp01((G[i] - mean) * fc + mean);
        float b0 = clamp01((B[i] - mean) * fc + mean);
        float gray = 0.299f * r0 + 0.587f * g0 + 0.114f * b0;
        R[i] = clamp01((r0 - gray) * fs + gray);
        G[i] = clamp01((g0 - gray) * fs + gray);
        B[i] = clamp01((b0 - gray) * fs + gray);
    }
    /* Drawn only when on: see must_aug_defaults. */
    if (o->grey > 0.0f && must_rng_uniform(r) < o->grey)
        for (size_t i = 0; i < n; i++)
            R[i] = G[i] = B[i] = 0.299f * R[i] + 0.587f * G[i] + 0.114f * B[i];
}

/* One pass of a normalised 1-d kernel k[-rad..rad] along rows (dx = 1) or
 * columns of every channel, edges clamped, through tmp (one plane). */
static void blur_pass(must_map *img, const float *k, int rad, int along_rows, float *tmp)
{
    const int W = img->width, H = img->height;
    const size_t n = (size_t)W * H;
    for (int c = 0; c < img->channels; c++) {
        float *p = img->data + (size_t)c * n;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float s = 0.0f;
                for (int d = -rad; d <= rad; d++) {
                    int u = along_rows ? x + d : x, v = along_rows ? y : y + d;
                    u = u < 0 ? 0 : u >= W ? W - 1 : u;
                    v = v < 0 ? 0 : v >= H ? H - 1 : v;
                    s += k[d + rad] * p[(size_t)v * W + u];
                }
                tmp[(size_t)y * W + x] = s;
            }
        memcpy(p, tmp, n * sizeof(float));
    }
}

/* SimCLR's Gaussian blur of the output window, with probability o->blur
 * (drawn only when on): sigma uniform in [0.1, 2] pixels at 224 pixels of
 * width, scaled to this width; separable, radius ceil(3 sigma). */
static int blur_maybe(must_map *img, must_rng *r, const must_aug_opts *o, must_err *err)
{
    if (!(o->blur > 0.0f))
        return MUST_OK;
    float u = must_rng_uniform(r), us = must_rng_uniform(r);
    if (u >= o->blur || img->width < 2 || img->height < 2)
        return MUST_OK;
    float sigma = (0.1f + 1.9f * us) * (float)img->width / 224.0f;
    int rad = (int)ceilf(3.0f * sigma);
    if (rad < 1)
        return MUST_OK; /* narrower than a pixel: nothing to blur */
    if (rad > 32)
        rad = 32;
    float k[65], sum = 0.0f;
    for (int d = -rad; d <= rad; d++)
        sum += k[d + rad] = expf(-0.5f * (float)(d * d) / (sigma * sigma));
    for (int d = 0; d <= 2 * rad; d++)
        k[d] /= sum;
    float *tmp = malloc((size_t)img->width * img->height * sizeof(float));
    if (!tmp)
        return must_err_set(err, MUST_ENOMEM, "augment: out of memory for a blur");
    blur_pass(img, k, rad, 1, tmp);
    blur_pass(img, k, rad, 0, tmp);
    free(tmp);
    return MUST_OK;
}

void must_aug_normalize(must_map *img)
{
    size_t n = (size_t)img->width * img->height;
    for (int c = 0; c < img->channels && c < 3; c++) {
        float *p = img->data + (size_t)c * n, m = img_mean[c], is = 1.0f / img_std[c];
        for (size_t i = 0; i < n; i++)
            p[i] = (p[i] - m) * is;
    }
}

/* Resamples one label map in place through tf with fill. */
static int relabel(must_map *m, const must_aug_tf *tf, float fill, must_err *err)
{
    must_map out;
    int rc = must_aug_resample_nearest(m, tf, fill, &out, err);
    if (rc)
        return rc;
    must_map_free(m);
    *m = out;
    return MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* Labels under a transform, kind by kind: the built-in kinds' entries are
 * this file's functions, a registered kind's its codec (must/kinds.h). */

/* Built-in kind k of l through tf, flip included. */
static int builtin_transform(must_labels *l, int k, const must_aug_tf *tf, must_err *err)
{
    int rc = MUST_OK;
    switch (k) {
    case MUST_LABEL_DETECTION:
        must_aug_boxes(&l->boxes, tf);
        if (tf->flip)
            must_aug_flip_boxes(&l->boxes, tf->out_w);
        break;
    case MUST_LABEL_SEGMENTATION:
        if (!(rc = relabel(&l->seg, tf, (float)MUST_SEG_IGNORE, err)) && tf->flip)
            must_aug_flip_map(&l->seg);
        break;
    case MUST_LABEL_DEPTH:
        if (!(rc = relabel(&l->depth, tf, 0.0f, err)) && tf->flip)
            must_aug_flip_map(&l->depth);
        break;
    case MUST_LABEL_NORMAL:
        if (!(rc = relabel(&l->normal, tf, 0.0f, err)) && tf->flip)
            must_aug_flip_normals(&l->normal);
        break;
    }
    return rc; /* classification: no geometry */
}

/* A registered kind's codec, or an error naming the kind. */
static const must_label_codec *codec_of(int k, must_err *err)
{
    const must_label_codec *c = must_label_kind_codec(k);
    if (!c)
        must_err_set(err, MUST_EINVAL, "augment: label kind %d is not registered", k);
    return c;
}

static int transform_labels(must_labels *l, const must_aug_tf *tf, must_err *err)
{
    for (int k = 0; k < MUST_LABEL_MAX_KINDS; k++) {
        if (!(l->has & MUST_LABEL_BIT(k)))
            continue;
        int rc;
        if (k < MUST_LABEL_NKINDS) {
            rc = builtin_transform(l, k, tf, err);
        } else {
            const must_label_codec *c = codec_of(k, err);
            rc = c ? c->transform(&l->ext[k], tf, err) : MUST_EINVAL;
            if (rc)
                must_err_prefix(err, "label kind '%s'", must_label_kind_name(k));
        }
        if (rc)
            return rc;
    }
    return MUST_OK;
}

int must_aug_apply(must_map *img, float scale, int full_w, int full_h, must_labels *l,
                   const must_aug_tf *tf, must_rng *r, const must_aug_opts *o, must_err *err)
{
    /* Jitter the source, so that padding stays the mean colour (0 once
     * normalised) whatever the jitter. */
    if (o)
        must_aug_photometric(img, r, o);
    must_aug_tf itf = *tf;
    float lim_w = (float)img->width, lim_h = (float)img->height;
    if (scale != 1.0f) {
        /* Source point p of the stored image is point p * scale of this one. */
        itf.x0 = tf->x0 * scale;
        itf.y0 = tf->y0 * scale;
        itf.s = tf->s / scale;
        lim_w = fminf(lim_w, (float)full_w * scale);
        lim_h = fminf(lim_h, (float)full_h * scale);
    }
    must_map out;
    int rc = resample_bilinear(img, &itf, img_mean, lim_w, lim_h, &out, err);
    if (rc)
        return rc;
    must_map_free(img);
    *img = out;
    if (o && (rc = blur_maybe(img, r, o, err)))
        return rc;
    if (tf->flip)
        must_aug_flip_map(img);
    must_aug_normalize(img);
    return l ? transform_labels(l, tf, err) : MUST_OK;
}

int must_aug_example(must_map *img, must_labels *l, int size, must_rng *r,
                     const must_aug_opts *o, must_aug_tf *tf_out, must_err *err)
{
    must_aug_tf tf;
    if (o)
        must_aug_sample(r, img->width, img->height, size, o, &tf);
    else
        must_aug_fit(img->width, img->height, size, &tf);
    int rc = must_aug_apply(img, 1.0f, img->width, img->height, l, &tf, r, o, err);
    if (rc)
        return rc;
    if (tf_out)
        *tf_out = tf;
    return MUST_OK;
}

/* The inverse of tf (without flip): output pixels of the window back to
 * source pixels.  A window pixel u maps to source point x0 + (u + 0.5) / s,
 * so source point x lies at window point (x - x0) s: a transform from the
 * window with scale 1/s whose top-left corner is window point -x0 s. */
static void unfit_tf(const must_aug_tf *tf, int src_w, int src_h, must_aug_tf *inv)
{
    inv->s = 1.0f / tf->s;
    inv->x0 = -tf->x0 * tf->s;
    inv->y0 = -tf->y0 * tf->s;
    inv->out_w = src_w;
    inv->out_h = src_h;
    inv->flip = 0;
}

/* Built-in kind k of l back through tf, whose inverse is inv: the flip
 * undone first, then the inverse scale and offset. */
static int builtin_unfit(must_labels *l, int k, const must_aug_tf *tf, const must_aug_tf *inv,
                         must_err *err)
{
    switch (k) {
    case MUST_LABEL_DETECTION:
        if (tf->flip)
            must_aug_flip_boxes(&l->boxes, tf->out_w);
        must_aug_boxes(&l->boxes, inv);
        return MUST_OK;
    case MUST_LABEL_SEGMENTATION:
        if (tf->flip)
            must_aug_flip_map(&l->seg);
        return relabel(&l->seg, inv, (float)MUST_SEG_IGNORE, err);
    case MUST_LABEL_DEPTH:
        if (tf->flip)
            must_aug_flip_map(&l->depth);
        return relabel(&l->depth, inv, 0.0f, err);
    case MUST_LABEL_NORMAL:
        if (tf->flip)
            must_aug_flip_normals(&l->normal);
        return relabel(&l->normal, inv, 0.0f, err);
    }
    return MUST_OK;
}

/* A registered kind: its codec's way back, or its transform twice (the
 * flip alone on the window, then the inverse without one). */
static int registered_unfit(must_labels *l, int k, const must_aug_tf *tf, const must_aug_tf *inv,
                            must_err *err)
{
    const must_label_codec *c = codec_of(k, err);
    int rc = MUST_EINVAL;
    if (c && c->untransform) {
        rc = c->untransform(&l->ext[k], tf, inv->out_w, inv->out_h, err);
    } else if (c) {
        must_aug_tf flip = {0.0f, 0.0f, 1.0f, tf->out_w, tf->out_h, 1};
        rc = tf->flip ? c->transform(&l->ext[k], &flip, err) : MUST_OK;
        if (rc == MUST_OK)
            rc = c->transform(&l->ext[k], inv, err);
    }
    return rc ? must_err_prefix(err, "label kind '%s'", must_label_kind_name(k)) : MUST_OK;
}

int must_aug_unfit_labels(must_labels *l, const must_aug_tf *tf, int src_w, int src_h,
                          must_err *err)
{
    if (!(tf->s > 0.0f) || src_w <= 0 || src_h <= 0)
        return must_err_set(err, MUST_EINVAL, "unfit: bad transform or size %dx%d", src_w,
                            src_h);
    must_aug_tf inv;
    unfit_tf(tf, src_w, src_h, &inv);
    for (int k = 0; k < MUST_LABEL_MAX_KINDS; k++) {
        if (!(l->has & MUST_LABEL_BIT(k)))
            continue;
        int rc = k < MUST_LABEL_NKINDS ? builtin_unfit(l, k, tf, &inv, err)
                                       : registered_unfit(l, k, tf, &inv, err);
        if (rc)
            return rc;
    }
    return MUST_OK;
}
