/* segmentation.c - the semantic segmentation task plugin: the shared pixel
 * head on the fused P2 (pixhead.h); per-pixel cross-entropy ignoring 255;
 * pseudo labels are the argmax where its probability reaches a threshold
 * (0.5, the paper's §3.1) and 255 elsewhere; metrics mean IoU over the
 * whole dataset (intersections and unions summed over every image, classes
 * absent from both prediction and ground truth skipped) and pixel
 * accuracy, in percent.
 *
 * The prediction is the logits tensor (N, K, S, S) at the batch size. */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "must/task.h"
#include "../common/plugin-util.h"
#include "../common/pixhead.h"

#define KIND MUST_LABEL_SEGMENTATION

static const must_host *H;

typedef struct seg_config {
    int channels;
    float threshold;
} seg_config;

static const must_task_option options[] = {
    {"channels", MUST_OPT_INT, offsetof(seg_config, channels), "64",
     "width of the head's three 3x3 convs", NULL, 1, 4096},
    {"threshold", MUST_OPT_FLOAT | MUST_OPT_PSEUDO, offsetof(seg_config, threshold), "0.5",
     "pseudo labels keep the argmax where its probability is at least this, else 255", NULL, 0,
     1},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const char *const metrics[] = {"miou", "pixel_acc", NULL};

/* The pixel head first, so that pixhead.h's callbacks serve it. */
typedef struct seg_head {
    pixhead ph;
    seg_config cfg;
    int k;
} seg_head;

static int head_new(const must_host *h, const void *config, const must_task_env *env,
                    void **out, must_err *err)
{
    if (env->nclasses < 2 || env->nclasses > MUST_SEG_IGNORE)
        return h->err_set(err, MUST_EINVAL,
                          "segmentation needs 2..%d classes (%d is the ignore label), not %d",
                          MUST_SEG_IGNORE, MUST_SEG_IGNORE, env->nclasses);
    const seg_config *c = config;
    int rc = pixhead_cb_head_new(h, env, sizeof(seg_head), c->channels, env->nclasses,
                                 "segmentation", out, err);
    if (rc == MUST_OK) {
        seg_head *s = *out;
        memcpy(&s->cfg, c, sizeof *c);
        s->k = env->nclasses;
    }
    return rc;
}

static int check(const seg_head *s, const must_tensor *pred, const must_batch *b, must_err *err)
{
    if (!(b->tasks & MUST_LABEL_BIT(KIND)) || !b->seg)
        return H->err_set(err, MUST_EINVAL, "segmentation: the batch carries no segmentation "
                                            "labels");
    if (pred->ndim != 4 || pred->shape[1] != s->k)
        return H->err_set(err, MUST_ESHAPE, "segmentation: prediction is not (N, %d, H, W)",
                          s->k);
    return pixhead_check_batch(H, pred, b, "segmentation", err);
}

static must_tensor *loss(void *head, must_ctx *ctx, void *pred, const must_batch *b,
                         const float *example_mask)
{
    seg_head *s = head;
    must_tensor *logits = pred; // (N, K, S, S)
    must_err e = {0};
    if (check(s, logits, b, &e)) {
        H->ctx_fail(ctx, e.code, "%s", e.msg);
        return NULL;
    }
    /* Examples that do not count become all-ignore, so that the mean runs
     * over the counted examples' labelled pixels only. */
    size_t hw = (size_t)b->size * b->size;
    int32_t *lab = H->ctx_alloc(ctx, (size_t)b->n * hw * sizeof *lab);
    if (!lab)
        return NULL;
    for (int i = 0; i < b->n; i++) {
        int on = plugin_counts(b, example_mask, i, KIND);
        for (size_t q = 0; q < hw; q++)
            lab[(size_t)i * hw + q] = on ? b->seg[(size_t)i * hw + q] : MUST_SEG_IGNORE;
    }
    return H->cross_entropy(ctx, logits, lab, MUST_SEG_IGNORE);
}

/* Argmax over the K channels at pixel q of example i, and its softmax
 * probability. */
static int pixel_argmax(const must_tensor *logits, int i, size_t q, double *prob)
{
    int k = logits->shape[1];
    size_t hw = (size_t)logits->shape[2] * logits->shape[3];
    const float *z = logits->data + (size_t)i * k * hw + q;
    int best = 0;
    for (int c = 1; c < k; c++)
        if (z[c * hw] > z[best * hw])
            best = c;
    if (prob) {
        double s = 0.0;
        for (int c = 0; c < k; c++)
            s += exp((double)z[c * hw] - (double)z[best * hw]);
        *prob = 1.0 / s;
    }
    return best;
}

static int pseudo_label(void *head, void *pred, const must_batch *b, int i, must_labels *out,
                        must_err *err)
{
    seg_head *s = head;
    must_tensor *logits = pred;
    if (logits->ndim != 4 || logits->shape[1] != s->k || i >= logits->shape[0])
        return H->err_set(err, MUST_ESHAPE, "segmentation: no example %d in the prediction", i);
    (void)b;
    int h = logits->shape[2], w = logits->shape[3];
    int rc = H->map_alloc(&out->seg, 1, h, w, err);
    if (rc)
        return rc;
    for (size_t q = 0; q < (size_t)h * w; q++) {
        double p;
        int c = pixel_argmax(logits, i, q, &p);
        out->seg.data[q] = p >= (double)s->cfg.threshold ? (float)c : (float)MUST_SEG_IGNORE;
    }
    out->has |= MUST_LABEL_BIT(KIND);
    return MUST_OK;
}

typedef struct seg_eval {
    seg_head *s;
    uint64_t *inter, *npred, *ngt; /* (K) each, over labelled pixels */
} seg_eval;

static void *eval_begin(void *head, must_err *err)
{
    seg_head *s = head;
    seg_eval *e = calloc(1, sizeof *e);
    uint64_t *v = calloc(3 * (size_t)s->k, sizeof *v);
    if (!e || !v) {
        free(e);
        free(v);
        H->err_set(err, MUST_ENOMEM, "segmentation: out of memory");
        return NULL;
    }
    e->s = s;
    e->inter = v;
    e->npred = v + s->k;
    e->ngt = v + 2 * s->k;
    return e;
}

static int eval_merge(void *into, const void *from, must_err *err)
{
    (void)err;
    seg_eval *a = into;
    const seg_eval *b = from;
    for (int k = 0; k < a->s->k; k++) {
        a->inter[k] += b->inter[k];
        a->npred[k] += b->npred[k];
        a->ngt[k] += b->ngt[k];
    }
    return MUST_OK;
}

static int eval_add(void *state, void *pred, const must_batch *b, must_err *err)
{
    seg_eval *e = state;
    must_tensor *logits = pred;
    int rc = check(e->s, logits, b, err);
    if (rc)
        return rc;
    size_t hw = (size_t)b->size * b->size;
    for (int i = 0; i < b->n; i++) {
        if (!plugin_counts(b, NULL, i, KIND))
            continue;
        for (size_t q = 0; q < hw; q++) {
            int32_t g = b->seg[(size_t)i * hw + q];
            if (g == MUST_SEG_IGNORE)
                continue;
            if (g < 0 || g >= e->s->k)
                return H->err_set(err, MUST_EINVAL,
                                  "segmentation: label %d out of range 0..%d (or 255)", (int)g,
                                  e->s->k - 1);
            int p = pixel_argmax(logits, i, q, NULL);
            e->ngt[g]++;
            e->npred[p]++;
            e->inter[p] += p == g;
        }
    }
    return MUST_OK;
}

static int eval_add_labels(void *state, const must_labels *guess, const must_batch *b,
                           must_err *err)
{
    seg_eval *e = state;
    if (!(b->tasks & MUST_LABEL_BIT(KIND)) || !b->seg)
        return H->err_set(err, MUST_EINVAL, "segmentation: the batch carries no labels");
    int S = b->size, k = e->s->k;
    size_t hw = (size_t)S * S;
    for (int i = 0; i < b->n; i++) {
        const must_labels *g = &guess[i];
        if (!plugin_counts(b, NULL, i, KIND) || !(g->has & MUST_LABEL_BIT(KIND)))
            continue;
        if (g->seg.channels != 1 || g->seg.height != S || g->seg.width != S)
            return H->err_set(err, MUST_ESHAPE, "segmentation: a label of %dx%d to score "
                                                "against a %dx%d batch", g->seg.width,
                              g->seg.height, S, S);
        for (size_t q = 0; q < hw; q++) {
            int32_t t = b->seg[(size_t)i * hw + q];
            float pv = g->seg.data[q];
            if (t == MUST_SEG_IGNORE || pv == (float)MUST_SEG_IGNORE)
                continue;
            int p = (int)pv;
            if (t < 0 || t >= k || p < 0 || p >= k || (float)p != pv)
                return H->err_set(err, MUST_EINVAL,
                                  "segmentation: label %d or %g out of range 0..%d (or 255)",
                                  (int)t, (double)pv, k - 1);
            e->ngt[t]++;
            e->npred[p]++;
            e->inter[p] += p == t;
        }
    }
    return MUST_OK;
}

static int eval_end(void *state, double *values, must_err *err)
{
    seg_eval *e = state;
    double iou = 0.0;
    uint64_t right = 0, all = 0;
    int counted = 0;
    for (int c = 0; c < e->s->k; c++) {
        uint64_t uni = e->npred[c] + e->ngt[c] - e->inter[c];
        right += e->inter[c];
        all += e->ngt[c];
        if (uni == 0)
            continue; /* absent from both: no say in the mean */
        iou += (double)e->inter[c] / (double)uni;
        counted++;
    }
    int rc = MUST_OK;
    if (all == 0) {
        rc = H->err_set(err, MUST_EINVAL, "segmentation: no labelled pixel was evaluated");
    } else {
        values[0] = 100.0 * iou / counted;
        values[1] = 100.0 * (double)right / (double)all;
    }
    free(e->inter);
    free(e);
    return rc;
}

/* Class colours at half strength over the image; ignored pixels stay. */
static int draw(void *head, must_image *img, const must_labels *label, void *pred,
                const must_batch *b, int i, must_err *err)
{
    (void)b;
    (void)head;
    int mw, mh;
    if (pred) {
        const must_tensor *logits = pred;
        mh = logits->shape[2];
        mw = logits->shape[3];
    } else {
        if (!(label->has & MUST_LABEL_BIT(KIND)))
            return MUST_OK;
        mh = label->seg.height;
        mw = label->seg.width;
    }
    if (mw <= 0 || mh <= 0)
        return H->err_set(err, MUST_EINVAL, "segmentation: empty map to draw");
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            size_t q = plugin_map_index(x, y, img->width, img->height, mw, mh);
            int c = pred ? pixel_argmax(pred, i, q, NULL) : (int)label->seg.data[q];
            if (c == MUST_SEG_IGNORE)
                continue;
            unsigned char col[3];
            plugin_class_colour(c, col);
            plugin_blend(img, x, y, col, 0.5f);
        }
    return MUST_OK;
}

MUST_TASK_PLUGIN(H,
                 .name = "segmentation",
                 .version = PACKAGE_VERSION,
                 .summary = "pixel head on P2; per-pixel cross-entropy (255 ignored); "
                            "thresholded argmax pseudo labels",
                 .label_kind = KIND,
                 .metrics = metrics,
                 .lower_better = NULL,
                 .options = options,
                 .config_size = sizeof(seg_config),
                 .head_new = head_new,
                 .head_free = pixhead_cb_head_free,
                 .head_params = pixhead_cb_head_params,
                 .head_levels = pixhead_cb_head_levels,
                 .forward = pixhead_cb_forward,
                 .loss = loss,
                 .pseudo_label = pseudo_label,
                 .eval_begin = eval_begin,
                 .eval_merge = eval_merge,
                 .eval_add = eval_add,
                 .eval_end = eval_end,
                 .draw = draw,
                 .eval_add_labels = eval_add_labels);
