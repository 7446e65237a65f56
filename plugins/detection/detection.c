/* detection.c - the detection task plugin: options, head construction, the
 * vtable (forward, loss, pseudo labels, evaluation, drawing) and the entry
 * point.  The model is Mask R-CNN's box branch on the FPN (the MuST paper's
 * §3.2): an RPN with two hidden convs on P3..P7 and a Fast R-CNN head with
 * four convs and one fc on RoIAlign features.  docs/detection.md has the
 * details and the defaults' reasons. */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "det-impl.h"

#define OPT(name, type, member, def, help, lo, hi) \
    {name, type, offsetof(det_config, member), def, help, NULL, lo, hi}

static const must_task_option options[] = {
    OPT("levels", MUST_OPT_STRING, levels, "P3,P4,P5,P6,P7",
        "FPN levels the RPN and RoIAlign read, consecutive (P2..P7)", 0, 0),
    OPT("anchor_scale", MUST_OPT_FLOAT, anchor_scale, "4",
        "anchor side on each level = this x the level's stride (32..512 on P3..P7)", 0.01, 1e4),
    OPT("anchor_sizes", MUST_OPT_STRING, anchor_sizes, "",
        "explicit anchor sides in pixels, one per level (overrides anchor_scale)", 0, 0),
    OPT("anchor_ratios", MUST_OPT_STRING, anchor_ratios, "0.5,1,2",
        "anchor aspect ratios height/width, at most 8", 0, 0),
    OPT("anchor_octave_scales", MUST_OPT_INT, anchor_octave_scales, "1",
        "anchor sizes per octave: side x 2^(i/n), i < n (RetinaNet uses 3)", 1, 4),
    OPT("rpn_batch", MUST_OPT_INT, rpn_batch, "256", "anchors sampled per image for the RPN loss",
        1, 1e6),
    OPT("rpn_pos_fraction", MUST_OPT_FLOAT, rpn_pos_fraction, "0.5",
        "at most this share of the sampled anchors positive", 0, 1),
    OPT("rpn_pos_iou", MUST_OPT_FLOAT, rpn_pos_iou, "0.7", "anchor positive at IoU >= this", 0,
        1),
    OPT("rpn_neg_iou", MUST_OPT_FLOAT, rpn_neg_iou, "0.3", "anchor negative at IoU < this", 0,
        1),
    OPT("rpn_nms", MUST_OPT_FLOAT, rpn_nms, "0.7", "NMS IoU among proposals of a level", 0, 1),
    OPT("rpn_pre_nms_topk_train", MUST_OPT_INT, rpn_pre_nms_topk_train, "2000",
        "best anchors per level before NMS, training", 1, 1e6),
    OPT("rpn_pre_nms_topk_test", MUST_OPT_INT, rpn_pre_nms_topk_test, "1000",
        "best anchors per level before NMS, inference", 1, 1e6),
    OPT("rpn_post_nms_topk_train", MUST_OPT_INT, rpn_post_nms_topk_train, "1000",
        "proposals kept per image after NMS, training", 1, 1e6),
    OPT("rpn_post_nms_topk_test", MUST_OPT_INT, rpn_post_nms_topk_test, "1000",
        "proposals kept per image after NMS, inference", 1, 1e6),
    OPT("roi_batch", MUST_OPT_INT, roi_batch, "512", "RoIs sampled per image for the box head",
        1, 1e6),
    OPT("roi_pos_fraction", MUST_OPT_FLOAT, roi_pos_fraction, "0.25",
        "at most this share of the sampled RoIs foreground", 0, 1),
    OPT("roi_fg_iou", MUST_OPT_FLOAT, roi_fg_iou, "0.5",
        "RoI foreground at IoU >= this, background below", 0, 1),
    OPT("roi_size", MUST_OPT_INT, roi_size, "7", "RoIAlign output side", 1, 32),
    OPT("roi_sampling", MUST_OPT_INT, roi_sampling, "2",
        "RoIAlign samples per bin side (0: adaptive)", 0, 16),
    OPT("roi_canonical_level", MUST_OPT_INT, roi_canonical_level, "4",
        "k0 of the level rule k = floor(k0 + log2(sqrt(wh) / canonical))", 2, 7),
    OPT("roi_canonical_size", MUST_OPT_FLOAT, roi_canonical_size, "0",
        "canonical box side in pixels (0: roi_size x the stride of level k0)", 0, 1e5),
    OPT("head_channels", MUST_OPT_INT, head_channels, "0",
        "channels of the box head's convs (0: the features')", 0, 4096),
    OPT("head_fc", MUST_OPT_INT, head_fc, "1024", "width of the box head's fc", 1, 65536),
    OPT("smooth_l1_beta", MUST_OPT_FLOAT, smooth_l1_beta, "0.1111111",
        "beta of the smooth L1 box losses (1/9, torchvision's)", 1e-4, 10),
    OPT("score_threshold", MUST_OPT_FLOAT, score_threshold, "0.05",
        "detections scoring at most this are dropped", 0, 1),
    OPT("nms", MUST_OPT_FLOAT, nms, "0.5", "per-class NMS IoU of the detections", 0, 1),
    OPT("max_detections", MUST_OPT_INT, max_detections, "100", "detections kept per image", 1,
        1e6),
    OPT("pseudo_threshold", MUST_OPT_FLOAT | MUST_OPT_PSEUDO, pseudo_threshold, "0.5",
        "pseudo labels (and drawn predictions): detections scoring >= this", 0, 1),
    OPT("voc_11point", MUST_OPT_BOOL, voc_11point, "false",
        "AP50 by VOC2007's 11 points instead of all points", 0, 0),
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};
#undef OPT

static const char *const metrics[] = {"AP50", "AP", "AP75", NULL};

/* ---- configuration ------------------------------------------------------- */

/* A comma-separated list of positive numbers. */
static int parse_list(const char *key, const char *s, float *out, int max, int *n, must_err *err)
{
    *n = 0;
    while (*s) {
        while (isspace((unsigned char)*s))
            s++;
        char *end;
        double v = strtod(s, &end);
        if (end == s || !(v > 0.0) || !isfinite(v))
            return det_err(err, MUST_EINVAL,
                           "detection: %s: '%s' is not a list of positive numbers", key, s);
        if (*n == max)
            return det_err(err, MUST_EINVAL, "detection: %s: more than %d values", key, max);
        out[(*n)++] = (float)v;
        s = end;
        while (isspace((unsigned char)*s))
            s++;
        if (*s == ',')
            s++;
        else if (*s)
            return det_err(err, MUST_EINVAL, "detection: %s: expected ',' at '%s'", key, s);
    }
    return MUST_OK;
}

/* "P3,P4,..." into the head's level slots; the levels must be consecutive
 * (the RoI level rule counts in steps of one) and offered by the backbone
 * with equal channels. */
static int parse_levels(det_head *h, const must_feature_desc *fd, must_err *err)
{
    const char *s = h->cfg.levels;
    h->nlev = 0;
    while (*s) {
        while (isspace((unsigned char)*s) || *s == ',')
            s++;
        if (!*s)
            break;
        if ((s[0] != 'P' && s[0] != 'p') || s[1] < '2' || s[1] > '7' ||
            (s[2] && s[2] != ',' && !isspace((unsigned char)s[2])))
            return det_err(err, MUST_EINVAL,
                           "detection: levels: '%s' is not a list of FPN levels P2..P7", s);
        int k = s[1] - '0';
        if (h->nlev && k != h->pyr[h->nlev - 1] + 1)
            return det_err(err, MUST_EINVAL,
                           "detection: levels: '%s' is not consecutive ascending P levels",
                           h->cfg.levels);
        h->pyr[h->nlev] = k;
        h->level[h->nlev++] = MUST_P2 + (k - 2);
        s += 2;
    }
    if (!h->nlev)
        return det_err(err, MUST_EINVAL, "detection: levels: none given");
    for (int l = 0; l < h->nlev; l++) {
        int lv = h->level[l];
        if (!(fd->present & MUST_LEVEL_BIT(lv)) || fd->channels[lv] <= 0 || fd->stride[lv] <= 0)
            return det_err(err, MUST_EINVAL, "detection: levels: the backbone has no P%d",
                           h->pyr[l]);
        if (l && fd->channels[lv] != h->C)
            return det_err(err, MUST_EINVAL,
                           "detection: levels: P%d has %d channels, P%d %d; the shared RPN "
                           "needs equal ones",
                           h->pyr[l], fd->channels[lv], h->pyr[0], h->C);
        h->C = fd->channels[lv];
        h->stride[l] = (float)fd->stride[lv];
    }
    return MUST_OK;
}

static int configure(det_head *h, const must_task_env *env, must_err *err)
{
    det_config *c = &h->cfg;
    int rc = parse_levels(h, env->features, err);
    if (rc)
        return rc;
    det_anchor_cfg *a = &h->acfg;
    if ((rc = parse_list("anchor_ratios", c->anchor_ratios, a->ratio, DET_MAX_RATIOS,
                         &a->nratios, err)))
        return rc;
    if (!a->nratios)
        return det_err(err, MUST_EINVAL, "detection: anchor_ratios: none given");
    int ns = 0;
    if ((rc = parse_list("anchor_sizes", c->anchor_sizes, a->size, MUST_NLEVELS, &ns, err)))
        return rc;
    if (ns && ns != h->nlev)
        return det_err(err, MUST_EINVAL, "detection: anchor_sizes: %d sizes for %d levels", ns,
                       h->nlev);
    for (int l = 0; l < h->nlev && !ns; l++)
        a->size[l] = c->anchor_scale * h->stride[l];
    a->nscales = c->anchor_octave_scales;
    for (int s = 0; s < a->nscales; s++)
        a->scale[s] = exp2f((float)s / (float)a->nscales);
    h->A = a->nratios * a->nscales;
    if (c->rpn_neg_iou > c->rpn_pos_iou)
        return det_err(err, MUST_EINVAL, "detection: rpn_neg_iou %g above rpn_pos_iou %g",
                       (double)c->rpn_neg_iou, (double)c->rpn_pos_iou);
    /* The level rule's canonical size: a box of roi_size x stride(P_k0)
     * covers roi_size cells of P_k0, one per RoIAlign bin.  Each box so
     * goes to the coarsest level on which it still spans at least roi_size
     * cells (7 to 14 at the defaults), not FPN's 224 for ImageNet-sized
     * boxes, which would send every box of a 64-128 pixel image to P3. */
    float s0 = h->stride[0] * exp2f((float)(c->roi_canonical_level - h->pyr[0]));
    h->canonical = c->roi_canonical_size > 0.0f ? c->roi_canonical_size : (float)c->roi_size * s0;
    h->hc = c->head_channels ? c->head_channels : h->C;
    h->fc = c->head_fc;
    if (env->nclasses < 1)
        return det_err(err, MUST_EINVAL, "detection: the task needs at least one class");
    h->K = env->nclasses;
    if (env->class_names) {
        h->names = calloc((size_t)h->K, sizeof *h->names);
        if (!h->names)
            return det_err(err, MUST_ENOMEM, "detection: out of memory");
        for (int k = 0; k < h->K; k++) {
            const char *n = env->class_names[k] ? env->class_names[k] : "?";
            if (!(h->names[k] = malloc(strlen(n) + 1)))
                return det_err(err, MUST_ENOMEM, "detection: out of memory");
            strcpy(h->names[k], n);
        }
    }
    return MUST_OK;
}

/* ---- the vtable ---------------------------------------------------------- */

static void head_free(void *hp)
{
    det_head *h = hp;
    if (!h)
        return;
    if (h->params)
        det_host->params_free(h->params);
    det_anchors_free(&h->anchors);
    if (h->names)
        for (int k = 0; k < h->K; k++)
            free(h->names[k]);
    free(h->names);
    free(h);
}

static int head_new(const must_host *host, const void *config, const must_task_env *env,
                    void **out, must_err *err)
{
    (void)host;
    *out = NULL;
    det_head *h = calloc(1, sizeof *h);
    if (!h)
        return det_err(err, MUST_ENOMEM, "detection: out of memory");
    h->cfg = *(const det_config *)config;
    h->seed = env->seed;
    int rc = configure(h, env, err);
    if (!rc && !(h->params = det_host->params_new(env->prefix ? env->prefix : "detection.")))
        rc = det_err(err, MUST_ENOMEM, "detection: out of memory");
    if (!rc)
        rc = det_rpn_declare(h, err);
    if (!rc)
        rc = det_roi_declare(h, err);
    if (!rc)
        rc = det_host->params_alloc(h->params, err);
    if (rc) {
        head_free(h);
        return rc;
    }
    must_rng r;
    det_host->rng_seed(&r, env->seed);
    det_rpn_init(h, &r);
    det_roi_init(h, &r);
    *out = h;
    return MUST_OK;
}

static must_params *head_params(void *hp) { return ((det_head *)hp)->params; }

static unsigned head_levels(void *hp)
{
    det_head *h = hp;
    unsigned m = 0;
    for (int l = 0; l < h->nlev; l++)
        m |= MUST_LEVEL_BIT(h->level[l]);
    return m;
}

/* The anchors for these feature sizes, made again only when they change. */
static int anchors_for(det_head *h, det_pred *p)
{
    int fh[MUST_NLEVELS], fw[MUST_NLEVELS], same = h->anchors.box != NULL;
    for (int l = 0; l < h->nlev; l++) {
        fh[l] = p->feat[l]->shape[2];
        fw[l] = p->feat[l]->shape[3];
        same &= fh[l] == h->anchor_h[l] && fw[l] == h->anchor_w[l];
    }
    if (!same) {
        must_err e = {0};
        det_anchors_free(&h->anchors);
        if (det_anchors_make(&h->anchors, &h->acfg, h->nlev, fh, fw, h->stride, &e))
            return det_host->ctx_fail(p->ctx, e.code, "%s", e.msg);
        memcpy(h->anchor_h, fh, sizeof fh);
        memcpy(h->anchor_w, fw, sizeof fw);
    }
    p->anchors = h->anchors;
    size_t bytes = (size_t)h->anchors.total * 4 * sizeof(float);
    float *box = det_host->ctx_alloc(p->ctx, bytes);
    if (!box)
        return det_host->ctx_error(p->ctx)->code;
    memcpy(box, h->anchors.box, bytes);
    p->anchors.box = box;
    return MUST_OK;
}

static void *forward(void *hp, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS], int in_h,
                     int in_w)
{
    const must_host *H = det_host;
    det_head *h = hp;
    if (H->ctx_error(ctx)->code)
        return NULL;
    det_pred *p = H->ctx_alloc(ctx, sizeof *p);
    if (!p)
        return NULL;
    memset(p, 0, sizeof *p);
    p->head = h;
    p->ctx = ctx;
    p->in_h = in_h;
    p->in_w = in_w;
    for (int l = 0; l < h->nlev; l++) {
        must_tensor *x = p->feat[l] = levels[h->level[l]];
        if (!x) {
            H->ctx_fail(ctx, MUST_EINVAL, "detection: forward without level P%d", h->pyr[l]);
            return NULL;
        }
        if (x->ndim != 4 || x->shape[1] != h->C || x->shape[0] != p->feat[0]->shape[0]) {
            H->ctx_fail(ctx, MUST_ESHAPE,
                        "detection: level P%d is (%d, %d, %d, %d), expected (%d, %d, H, W)",
                        h->pyr[l], x->shape[0], x->shape[1], x->shape[2], x->shape[3],
                        p->feat[0]->shape[0], h->C);
            return NULL;
        }
    }
    p->n = p->feat[0]->shape[0];
    int training = H->ctx_training(ctx);
    if (anchors_for(h, p) || det_rpn_forward(h, ctx, p) || det_rpn_proposals(h, p, training))
        return NULL;
    /* In training the box head runs in loss(), on RoIs sampled against the
     * ground truth; at inference it runs here on the proposals. */
    if (!training && det_roi_detect(h, p))
        return NULL;
    return p;
}

static must_tensor *loss(void *hp, must_ctx *ctx, void *pred, const must_batch *b,
                         const float *example_mask)
{
    const must_host *H = det_host;
    det_head *h = hp;
    det_pred *p = pred;
    if (!p)
        return NULL;
    if (b->n != p->n) {
        H->ctx_fail(ctx, MUST_EINVAL, "detection: loss of a batch of %d for a forward of %d",
                    b->n, p->n);
        return NULL;
    }
    must_tensor *l = det_rpn_loss(h, ctx, p, b, example_mask);
    if (!l)
        return NULL;
    int R;
    must_tensor *r = det_roi_loss(h, ctx, p, b, example_mask, &R);
    if (H->ctx_error(ctx)->code)
        return NULL;
    return R > 0 ? H->add(ctx, l, r) : l; /* no RoI sampled: the RPN's loss alone */
}

/* The context's error, as the caller's error. */
static int ctx_err(const det_pred *p, must_err *err)
{
    const must_err *e = det_host->ctx_error(p->ctx);
    return det_err(err, e->code ? e->code : MUST_EINVAL, "%s", e->code ? e->msg : "detection");
}

static int pseudo_label(void *hp, void *pred, const must_batch *b, int i, must_labels *out,
                        must_err *err)
{
    det_head *h = hp;
    det_pred *p = pred;
    (void)b;
    if (!p || i < 0 || i >= p->n)
        return det_err(err, MUST_EINVAL, "detection: pseudo label of example %d of %d", i,
                       p ? p->n : 0);
    if (det_roi_detect(h, p))
        return ctx_err(p, err);
    for (int q = 0; q < p->ndet[i]; q++)
        if (p->det[i][q].score >= h->cfg.pseudo_threshold) {
            int rc = det_host->boxes_push(&out->boxes, &p->det[i][q], err);
            if (rc)
                return rc;
        }
    out->has |= MUST_LABEL_BIT(MUST_LABEL_DETECTION);
    return MUST_OK;
}

typedef struct eval_state {
    det_head *h;
    det_eval *e;
} eval_state;

static void *eval_begin(void *hp, must_err *err)
{
    det_head *h = hp;
    eval_state *s = calloc(1, sizeof *s);
    if (!s) {
        det_err(err, MUST_ENOMEM, "detection eval: out of memory");
        return NULL;
    }
    s->h = h;
    if (!(s->e = det_eval_new(h->K, err))) {
        free(s);
        return NULL;
    }
    return s;
}

static int eval_add(void *state, void *pred, const must_batch *b, must_err *err)
{
    eval_state *s = state;
    det_pred *p = pred;
    if (!p || b->n != p->n)
        return det_err(err, MUST_EINVAL, "detection eval: a prediction that is not the batch's");
    if (det_roi_detect(s->h, p))
        return ctx_err(p, err);
    for (int i = 0; i < b->n; i++) {
        if (!plugin_counts(b, NULL, i, MUST_LABEL_DETECTION) || !b->boxes)
            continue;
        const must_boxes *g = &b->boxes[i];
        int rc = det_eval_image(s->e, g->v, g->n, p->det[i], p->ndet[i], err);
        if (rc)
            return rc;
    }
    return MUST_OK;
}

/* Boxes of a label are scored as detections, each with its own score. */
static int eval_add_labels(void *state, const must_labels *guess, const must_batch *b,
                           must_err *err)
{
    eval_state *s = state;
    if (!b->boxes)
        return det_err(err, MUST_EINVAL, "detection eval: the batch carries no boxes");
    for (int i = 0; i < b->n; i++) {
        const must_labels *g = &guess[i];
        if (!plugin_counts(b, NULL, i, MUST_LABEL_DETECTION) ||
            !(g->has & MUST_LABEL_BIT(MUST_LABEL_DETECTION)))
            continue;
        const must_boxes *t = &b->boxes[i];
        int rc = det_eval_image(s->e, t->v, t->n, g->boxes.v, g->boxes.n, err);
        if (rc)
            return rc;
    }
    return MUST_OK;
}

static int eval_merge(void *into, const void *from, must_err *err)
{
    return det_eval_merge(((eval_state *)into)->e, ((const eval_state *)from)->e, err);
}

static int eval_end(void *state, double *values, must_err *err)
{
    eval_state *s = state;
    det_ap ap;
    int rc = det_eval_compute(s->e, s->h->cfg.voc_11point, 100, &ap, err);
    if (!rc) {
        values[0] = ap.voc;
        values[1] = ap.coco;
        values[2] = ap.coco75;
        det_ap_free(&ap);
    }
    det_eval_free(s->e);
    free(s);
    return rc;
}

static int draw(void *hp, must_image *img, const must_labels *label, void *pred,
                const must_batch *b, int i, must_err *err)
{
    (void)b;
    det_head *h = hp;
    det_pred *p = pred;
    const char *const *names = (const char *const *)h->names;
    if (!p)
        return label ? det_draw_boxes(img, label->boxes.v, label->boxes.n, names, h->K, 0, err)
                     : MUST_OK;
    if (i < 0 || i >= p->n)
        return det_err(err, MUST_EINVAL, "detection draw: example %d of %d", i, p->n);
    if (det_roi_detect(h, p))
        return ctx_err(p, err);
    /* The confident detections; img is the batch's size, as they are. */
    must_box *v = malloc((size_t)(p->ndet[i] ? p->ndet[i] : 1) * sizeof *v);
    if (!v)
        return det_err(err, MUST_ENOMEM, "detection draw: out of memory");
    int n = 0;
    for (int q = 0; q < p->ndet[i]; q++)
        if (p->det[i][q].score >= h->cfg.pseudo_threshold)
            v[n++] = p->det[i][q];
    int rc = det_draw_boxes(img, v, n, names, h->K, 1, err);
    free(v);
    return rc;
}

/* The pieces the issue asks about, by name, for `must bench train --tasks`:
 * "match" (anchor and RoI matching, sampling, targets), "nms" (of the
 * proposals and of the detections), "proposals" (top-k, decoding, clipping
 * and the proposals' NMS, so it contains part of "nms"). */
static int head_timers(void *hp, must_task_timer *out, int max, int reset)
{
    det_head *h = hp;
    const must_task_timer t[3] = {
        {"match", h->timers.match}, {"nms", h->timers.nms}, {"proposals", h->timers.proposals}};
    for (int i = 0; i < 3 && i < max; i++)
        out[i] = t[i];
    if (reset)
        memset(&h->timers, 0, sizeof h->timers);
    return 3;
}

MUST_TASK_PLUGIN(det_host,
                 .name = "detection",
                 .version = PACKAGE_VERSION,
                 .summary = "two-stage detector on P3-P7: RPN + RoIAlign + Fast R-CNN head; "
                            "VOC and COCO AP",
                 .label_kind = MUST_LABEL_DETECTION,
                 .metrics = metrics,
                 .lower_better = NULL,
                 .options = options,
                 .config_size = sizeof(det_config),
                 .head_new = head_new,
                 .head_free = head_free,
                 .head_params = head_params,
                 .head_levels = head_levels,
                 .forward = forward,
                 .loss = loss,
                 .pseudo_label = pseudo_label,
                 .eval_begin = eval_begin,
                 .eval_merge = eval_merge,
                 .eval_add = eval_add,
                 .eval_end = eval_end,
                 .draw = draw,
                 .eval_add_labels = eval_add_labels,
                 .head_timers = head_timers);
