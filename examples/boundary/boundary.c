/* boundary.c - an example task plugin with a label kind of its own: object
 * boundaries.  A label is a binary map the size of the image (1 where two
 * objects, or an object and the background, meet; 0 elsewhere; 255 where
 * nothing is known), stored as 8-bit PNGs under labels/boundary/.  The head
 * predicts a logit per pixel from P2, the loss is a binary cross-entropy
 * that weighs boundary pixels `pos_weight` times as much as the others
 * (they are few), the metric is the F-score of the boundary pixels, and a
 * pseudo label is the per-pixel prediction thresholded at `threshold`.
 *
 * Everything about the kind is here, in `codec`: must knows nothing of
 * boundaries.  docs/plugins.md walks through this file; the Makefile beside
 * it builds it against an installed must:
 *
 *     cc -std=c11 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags must) \
 *        -o boundary.so boundary.c
 *
 * Like every plugin it links nothing of must's: the engine comes through
 * the host table in H. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <must/task.h>

static const must_host *H;

#define UNKNOWN 255.0f /* a pixel of a label that says nothing */

/* ======================================================================== */
/* The label kind: a label is a must_map (1, H, W) of 0, 1 and 255 that the
 * plugin allocates; the core holds it as an opaque pointer and hands it
 * back to these callbacks. */

/* dataset.ini's [boundary] keys: how the labels were made. */
typedef struct bnd_keys {
    int width; /* boundary thickness in pixels */
} bnd_keys;

static const must_conf_key keys[] = {
    {"width", MUST_OPT_INT, offsetof(bnd_keys, width), "1",
     "thickness of a boundary in pixels", NULL, 1, 8},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static must_map *map_new(int h, int w, must_err *err)
{
    must_map *m = calloc(1, sizeof *m);
    if (!m) {
        H->err_set(err, MUST_ENOMEM, "boundary: out of memory");
        return NULL;
    }
    if (H->map_alloc(m, 1, h, w, err) != MUST_OK) {
        free(m);
        return NULL;
    }
    return m;
}

static void lab_free(void *label)
{
    must_map *m = label;
    if (m)
        H->map_free(m);
    free(m);
}

static int lab_copy(void **out, const void *label, must_err *err)
{
    const must_map *s = label;
    must_map *m = map_new(s->height, s->width, err);
    if (!m)
        return MUST_ENOMEM;
    memcpy(m->data, s->data, (size_t)s->height * s->width * sizeof *m->data);
    *out = m;
    return MUST_OK;
}

/* The augmentation's geometry: nearest resampling (a boundary never
 * blends), 255 outside the image, then the flip. */
static int lab_transform(void **label, const must_aug_tf *tf, must_err *err)
{
    must_map *m = calloc(1, sizeof *m);
    if (!m)
        return H->err_set(err, MUST_ENOMEM, "boundary: out of memory");
    int rc = H->aug_resample_nearest(*label, tf, UNKNOWN, m, err);
    if (rc) {
        free(m);
        return rc;
    }
    if (tf->flip)
        H->aug_flip_map(m);
    lab_free(*label);
    *label = m;
    return MUST_OK;
}

/* A batch: targets and per-pixel "labelled" flags, (n, size, size). */
typedef struct bnd_batch {
    int n, size;
    float *target;
    float *known; /* 1 where the target says something */
} bnd_batch;

static void *batch_new(int n, int size, must_err *err)
{
    bnd_batch *b = calloc(1, sizeof *b);
    size_t px = (size_t)n * size * size;
    if (b && (b->target = calloc(px, sizeof *b->target)) &&
        (b->known = calloc(px, sizeof *b->known))) {
        b->n = n;
        b->size = size;
        return b;
    }
    if (b)
        free(b->target);
    free(b);
    H->err_set(err, MUST_ENOMEM, "boundary: out of memory");
    return NULL;
}

static void batch_free(void *batch)
{
    bnd_batch *b = batch;
    if (b) {
        free(b->target);
        free(b->known);
    }
    free(b);
}

/* Example i: its label, or "nothing known" when it has none. */
static int collate(void *batch, int i, const void *label, must_err *err)
{
    bnd_batch *b = batch;
    const must_map *m = label;
    size_t hw = (size_t)b->size * b->size;
    float *t = b->target + i * hw, *k = b->known + i * hw;
    if (m && (m->height != b->size || m->width != b->size))
        return H->err_set(err, MUST_ESHAPE, "boundary: a %dx%d label in a batch of %dx%d",
                          m->width, m->height, b->size, b->size);
    for (size_t q = 0; q < hw; q++) {
        float v = m ? m->data[q] : UNKNOWN;
        k[q] = v != UNKNOWN;
        t[q] = v == 1.0f;
    }
    return MUST_OK;
}

/* labels/boundary/<id>.png: 8-bit gray, the image's size, 0, 1 or 255. */
static int lab_read(const must_label_file *f, void **label, must_err *err)
{
    must_image img = {0};
    int rc = H->png_read(f->path, &img, 1, 8, err);
    if (rc)
        return rc;
    must_map *m = NULL;
    if (f->width && (img.width != f->width || img.height != f->height))
        rc = H->err_set(err, MUST_EFORMAT, "%s: %dx%d, its image is %dx%d", f->path, img.width,
                        img.height, f->width, f->height);
    else if (!(m = map_new(img.height, img.width, err)))
        rc = MUST_ENOMEM;
    const uint8_t *px = img.pixels;
    for (size_t q = 0; !rc && q < (size_t)img.width * img.height; q++) {
        if (px[q] > 1 && px[q] != 255)
            rc = H->err_set(err, MUST_EFORMAT, "%s: pixel (%zu, %zu) is %d; a boundary label is "
                            "0, 1 or 255", f->path, q % (size_t)img.width,
                            q / (size_t)img.width, px[q]);
        else
            m->data[q] = px[q];
    }
    H->image_free(&img);
    if (rc) {
        lab_free(m);
        return rc;
    }
    *label = m;
    return MUST_OK;
}

static int lab_write(const must_label_file *f, const void *label, must_err *err)
{
    const must_map *m = label;
    must_image img = {0};
    int rc = H->image_alloc(&img, m->width, m->height, 1, 8, err);
    if (rc)
        return rc;
    uint8_t *px = img.pixels;
    for (size_t q = 0; q < (size_t)m->width * m->height; q++)
        px[q] = m->data[q] == 1.0f ? 1 : m->data[q] == 0.0f ? 0 : 255;
    rc = H->png_write(f->path, &img, err); /* atomic */
    H->image_free(&img);
    return rc;
}

/* `must dataset check`: boundary and labelled pixels over the set. */
static void tally(const void *label, double *t)
{
    const must_map *m = label;
    for (size_t q = 0; q < (size_t)m->width * m->height; q++) {
        t[0] += 1;
        t[1] += m->data[q] != UNKNOWN;
        t[2] += m->data[q] == 1.0f;
    }
}

static void summary(const double *t, int images, char *buf, size_t len)
{
    snprintf(buf, len, "%d maps, %.1f%% of the pixels labelled, %.1f%% of those on a boundary",
             images, t[0] > 0 ? 100.0 * t[1] / t[0] : 0.0, t[1] > 0 ? 100.0 * t[2] / t[1] : 0.0);
}

static const must_label_codec codec = {
    .struct_size = sizeof(must_label_codec),
    .store = MUST_STORE_FILES,
    .ext = ".png",
    .about = "object boundaries: 8-bit PNG, 1 on a boundary, 0 off it, 255 unknown",
    .keys = keys,
    .keys_size = sizeof(bnd_keys),
    .free = lab_free,
    .copy = lab_copy,
    .transform = lab_transform,
    .batch_new = batch_new,
    .batch_free = batch_free,
    .collate = collate,
    .read = lab_read,
    .write = lab_write,
    .tally = tally,
    .summary = summary,
};

/* ======================================================================== */
/* The task: options, head, loss, pseudo labels, F-score, drawing. */

typedef struct bnd_config {
    int channels;     /* the head's width */
    float pos_weight; /* a boundary pixel's weight in the loss */
    float threshold;  /* pseudo labels: 1 where the probability reaches it */
} bnd_config;

static const must_task_option options[] = {
    {"channels", MUST_OPT_INT, offsetof(bnd_config, channels), "16",
     "width of the head's hidden layer", NULL, 1, 512},
    {"pos_weight", MUST_OPT_FLOAT, offsetof(bnd_config, pos_weight), "4",
     "weight of a boundary pixel in the loss (the others weigh 1)", NULL, 0.01, 1000},
    {"threshold", MUST_OPT_FLOAT | MUST_OPT_PSEUDO, offsetof(bnd_config, threshold), "0.5",
     "pseudo labels: a pixel is a boundary when its probability reaches this", NULL, 0, 1},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const char *const metrics[] = {"f1", "precision", "recall", NULL};

typedef struct bnd_head {
    const bnd_config *c;
    int kind; /* this process's index of the boundary kind */
    must_params *p;
    must_tensor *w1, *b1, *w2, *b2; /* 3x3 conv + ReLU, then a 1x1 conv to one logit */
} bnd_head;

static int head_new(const must_host *h, const void *config, const must_task_env *env,
                    void **out, must_err *err)
{
    const bnd_config *c = config;
    const must_feature_desc *f = env->features;
    if (!(f->present & MUST_LEVEL_BIT(MUST_P2)) || f->channels[MUST_P2] <= 0)
        return h->err_set(err, MUST_EINVAL, "boundary head reads P2; this backbone has none "
                          "(build it with an FPN)");
    bnd_head *hd = calloc(1, sizeof *hd);
    if (!hd)
        return h->err_set(err, MUST_ENOMEM, "boundary: out of memory");
    hd->c = c;
    hd->kind = env->label_kind;
    int w1[4] = {c->channels, f->channels[MUST_P2], 3, 3}, b1[1] = {c->channels};
    int w2[4] = {1, c->channels, 1, 1}, b2[1] = {1};
    if (!(hd->p = h->params_new(env->prefix)) ||
        !(hd->w1 = h->params_add(hd->p, "conv.weight", 4, w1, MUST_T_PARAM)) ||
        !(hd->b1 = h->params_add(hd->p, "conv.bias", 1, b1, MUST_T_PARAM | MUST_T_NO_DECAY)) ||
        !(hd->w2 = h->params_add(hd->p, "out.weight", 4, w2, MUST_T_PARAM)) ||
        !(hd->b2 = h->params_add(hd->p, "out.bias", 1, b2, MUST_T_PARAM | MUST_T_NO_DECAY)) ||
        h->params_alloc(hd->p, err) != MUST_OK) {
        if (hd->p)
            h->params_free(hd->p);
        free(hd);
        return h->err_set(err, MUST_ENOMEM, "boundary: out of memory");
    }
    must_rng r;
    h->rng_seed(&r, env->seed);
    h->init_kaiming(hd->w1, &r);
    h->init_const(hd->b1, 0.0f);
    h->init_kaiming(hd->w2, &r);
    h->init_const(hd->b2, -2.0f); /* boundaries are rare: start near "none" */
    *out = hd;
    return MUST_OK;
}

static void head_free(void *head)
{
    bnd_head *hd = head;
    H->params_free(hd->p);
    free(hd);
}

static must_params *head_params(void *head)
{
    return ((bnd_head *)head)->p;
}

static unsigned head_levels(void *head)
{
    (void)head;
    return MUST_LEVEL_BIT(MUST_P2);
}

/* The prediction: logits (N, 1, in_h, in_w). */
static void *forward(void *head, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS],
                     int in_h, int in_w)
{
    bnd_head *hd = head;
    must_tensor *x = H->conv2d(ctx, levels[MUST_P2], hd->w1, hd->b1, 1, 1, 1);
    x = H->conv2d(ctx, H->relu(ctx, x), hd->w2, hd->b2, 1, 0, 1);
    return H->resize_bilinear(ctx, x, in_h, in_w);
}

/* Weighted BCE: the mask carries each pixel's weight (0 where the example
 * does not count or the pixel is unknown); the mean is over the weights. */
static must_tensor *loss(void *head, must_ctx *ctx, void *pred, const must_batch *b,
                         const float *example_mask)
{
    bnd_head *hd = head;
    const bnd_batch *bb = b->ext[hd->kind];
    if (!bb) {
        H->ctx_fail(ctx, MUST_EINVAL, "boundary: the batch has no boundary labels");
        return NULL;
    }
    size_t hw = (size_t)b->size * b->size;
    float *w = H->ctx_alloc(ctx, (size_t)b->n * hw * sizeof *w);
    if (!w)
        return NULL;
    for (int i = 0; i < b->n; i++) {
        int on = (!example_mask || example_mask[i] != 0.0f) &&
                 (b->has[i] & MUST_LABEL_BIT(hd->kind));
        for (size_t q = 0; q < hw; q++) {
            size_t at = i * hw + q;
            w[at] = on && bb->known[at] ? (bb->target[at] ? hd->c->pos_weight : 1.0f) : 0.0f;
        }
    }
    return H->bce_logits(ctx, pred, bb->target, w);
}

/* Example i's pseudo label at the batch resolution (the host maps it back
 * to the image with the codec's transform). */
static int pseudo_label(void *head, void *pred, const must_batch *b, int i, must_labels *out,
                        must_err *err)
{
    bnd_head *hd = head;
    const must_tensor *z = pred;
    int S = b->size;
    must_map *m = map_new(S, S, err);
    if (!m)
        return MUST_ENOMEM;
    /* p >= t  <=>  logit >= log(t / (1 - t)) */
    float t = hd->c->threshold;
    float cut = t <= 0.0f ? -1e30f : t >= 1.0f ? 1e30f : logf(t / (1.0f - t));
    const float *zi = z->data + (size_t)i * S * S;
    for (size_t q = 0; q < (size_t)S * S; q++)
        m->data[q] = zi[q] >= cut;
    out->ext[hd->kind] = m;
    out->has |= MUST_LABEL_BIT(hd->kind);
    return MUST_OK;
}

/* F-score of the boundary pixels over the known ones. */
typedef struct bnd_eval {
    int kind;
    double tp, fp, fn;
} bnd_eval;

static void *eval_begin(void *head, must_err *err)
{
    bnd_eval *e = calloc(1, sizeof *e);
    if (!e)
        H->err_set(err, MUST_ENOMEM, "boundary: out of memory");
    else
        e->kind = ((bnd_head *)head)->kind;
    return e;
}

/* Counts example i of b against a guess: guess(q) says boundary or not, or
 * -1 for nothing said. */
static void count(bnd_eval *e, const must_batch *b, int i, const float *logit, const must_map *g)
{
    const bnd_batch *bb = b->ext[e->kind];
    size_t hw = (size_t)b->size * b->size;
    for (size_t q = 0; q < hw; q++) {
        size_t at = (size_t)i * hw + q;
        if (!bb->known[at] || (g && g->data[q] == UNKNOWN))
            continue;
        int guess = g ? g->data[q] == 1.0f : logit[q] >= 0.0f, truth = bb->target[at] != 0.0f;
        e->tp += guess && truth;
        e->fp += guess && !truth;
        e->fn += !guess && truth;
    }
}

static int eval_add(void *state, void *pred, const must_batch *b, must_err *err)
{
    bnd_eval *e = state;
    const must_tensor *z = pred;
    (void)err;
    if (!b->ext[e->kind])
        return MUST_OK;
    for (int i = 0; i < b->n; i++)
        if (b->has[i] & MUST_LABEL_BIT(e->kind))
            count(e, b, i, z->data + (size_t)i * b->size * b->size, NULL);
    return MUST_OK;
}

static int eval_add_labels(void *state, const must_labels *guess, const must_batch *b,
                           must_err *err)
{
    bnd_eval *e = state;
    if (!b->ext[e->kind])
        return MUST_OK;
    for (int i = 0; i < b->n; i++) {
        const must_map *g = guess[i].ext[e->kind];
        if (!(b->has[i] & MUST_LABEL_BIT(e->kind)) || !(guess[i].has & MUST_LABEL_BIT(e->kind)))
            continue;
        if (!g || g->height != b->size || g->width != b->size)
            return H->err_set(err, MUST_ESHAPE, "boundary: a guess that is not %dx%d", b->size,
                              b->size);
        count(e, b, i, NULL, g);
    }
    return MUST_OK;
}

static int eval_end(void *state, double *values, must_err *err)
{
    bnd_eval *e = state;
    (void)err;
    if (values) {
        double p = e->tp + e->fp > 0 ? e->tp / (e->tp + e->fp) : 0.0;
        double r = e->tp + e->fn > 0 ? e->tp / (e->tp + e->fn) : 0.0;
        values[0] = p + r > 0 ? 100.0 * 2 * p * r / (p + r) : 0.0;
        values[1] = 100.0 * p;
        values[2] = 100.0 * r;
    }
    free(e);
    return MUST_OK;
}

/* Boundaries in yellow over the image: a label's (pred NULL) or example
 * i's prediction's. */
static int draw(void *head, must_image *img, const must_labels *label, void *pred,
                const must_batch *b, int i, must_err *err)
{
    bnd_head *hd = head;
    const must_map *m = label ? label->ext[hd->kind] : NULL;
    const float *z = pred ? ((const must_tensor *)pred)->data + (size_t)i * b->size * b->size
                          : NULL;
    if (!pred && !m)
        return MUST_OK; /* no label of this kind: nothing to draw */
    int w = pred ? b->size : m->width, h = pred ? b->size : m->height;
    if (img->width != w || img->height != h || img->channels != 3)
        return H->err_set(err, MUST_ESHAPE, "boundary: drawing a %dx%d map on a %dx%d image", w,
                          h, img->width, img->height);
    uint8_t *px = img->pixels;
    for (size_t q = 0; q < (size_t)w * h; q++)
        if (pred ? z[q] >= 0.0f : m->data[q] == 1.0f) {
            px[3 * q] = 255;
            px[3 * q + 1] = 230;
            px[3 * q + 2] = 0;
        }
    return MUST_OK;
}

MUST_TASK_PLUGIN(H,
                 .name = "boundary", /* the file is boundary.so; the kind is "boundary" */
                 .version = "1.0.0",
                 .summary = "example plugin: object boundaries from P2, weighted BCE, F-score",
                 .label_kind = MUST_TASK_OWN_KIND,
                 .codec = &codec,
                 .metrics = metrics,
                 .options = options,
                 .config_size = sizeof(bnd_config),
                 .head_new = head_new,
                 .head_free = head_free,
                 .head_params = head_params,
                 .head_levels = head_levels,
                 .forward = forward,
                 .loss = loss,
                 .pseudo_label = pseudo_label,
                 .eval_begin = eval_begin,
                 .eval_add = eval_add,
                 .eval_end = eval_end,
                 .draw = draw,
                 .eval_add_labels = eval_add_labels);
