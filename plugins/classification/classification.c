/* classification.c - the classification task plugin: a linear layer on
 * globally pooled C5 (the paper's §3.2, torchvision's ResNet head);
 * cross-entropy on hard labels and on soft distributions; pseudo labels
 * are the softmax distribution (with a temperature) or its one-hot argmax;
 * metrics top-1 and top-5 accuracy in percent.
 *
 * The prediction (what forward returns) is the logits tensor (N, K). */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "must/task.h"
#include "../common/plugin-util.h"

#define KIND MUST_LABEL_CLASSIFICATION
#define TOPK 5

static const must_host *H;

typedef struct cls_config {
    float temperature;
    int hard;
} cls_config;

static const must_task_option options[] = {
    {"temperature", MUST_OPT_FLOAT | MUST_OPT_PSEUDO, offsetof(cls_config, temperature), "1",
     "softmax temperature of the soft pseudo labels", NULL, 0.01, 100},
    {"hard", MUST_OPT_BOOL | MUST_OPT_PSEUDO, offsetof(cls_config, hard), "false",
     "pseudo labels are the one-hot argmax instead of the distribution", NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const char *const metrics[] = {"top1", "top5", NULL};

typedef struct cls_head {
    cls_config cfg;
    must_params *p;
    must_tensor *w, *b; /* (K, C), (K): "fc" as torchvision names it */
    int k;
} cls_head;

static int head_new(const must_host *h, const void *config, const must_task_env *env,
                    void **out, must_err *err)
{
    const must_feature_desc *f = env->features;
    if (!(f->present & MUST_LEVEL_BIT(MUST_C5)) || f->channels[MUST_C5] <= 0)
        return h->err_set(err, MUST_EINVAL, "classification head reads C5, which this "
                                            "backbone lacks");
    if (env->nclasses < 2)
        return h->err_set(err, MUST_EINVAL, "classification needs at least 2 classes, not %d",
                          env->nclasses);
    cls_head *c = calloc(1, sizeof *c);
    if (!c)
        return h->err_set(err, MUST_ENOMEM, "classification head: out of memory");
    memcpy(&c->cfg, config, sizeof c->cfg);
    c->k = env->nclasses;
    int cin = f->channels[MUST_C5], ws[2] = {c->k, cin}, bs[1] = {c->k};
    int rc = MUST_ENOMEM;
    if (!(c->p = h->params_new(env->prefix)) ||
        !(c->w = h->params_add(c->p, "fc.weight", 2, ws, MUST_T_PARAM)) ||
        !(c->b = h->params_add(c->p, "fc.bias", 1, bs, MUST_T_PARAM | MUST_T_NO_DECAY))) {
        h->err_set(err, MUST_ENOMEM, "classification head: out of memory");
        goto fail;
    }
    if ((rc = h->params_alloc(c->p, err)))
        goto fail;
    must_rng r;
    h->rng_seed(&r, env->seed);
    plugin_init_linear(h, &r, c->w, c->b);
    *out = c;
    return MUST_OK;
fail:
    if (c->p)
        h->params_free(c->p);
    free(c);
    return rc;
}

static void head_free(void *head)
{
    cls_head *c = head;
    if (c->p)
        H->params_free(c->p);
    free(c);
}

static must_params *head_params(void *head)
{
    return ((cls_head *)head)->p;
}

static unsigned head_levels(void *head)
{
    (void)head;
    return MUST_LEVEL_BIT(MUST_C5);
}

static void *forward(void *head, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS],
                     int in_h, int in_w)
{
    cls_head *c = head;
    (void)in_h;
    (void)in_w;
    must_tensor *x = H->global_avgpool(ctx, levels[MUST_C5]); // (N, C)
    return H->linear(ctx, x, c->w, c->b);                      // (N, K)
}

static int check_batch(const cls_head *c, must_ctx *ctx, const must_tensor *logits,
                       const must_batch *b, must_err *err)
{
    if (!(b->tasks & MUST_LABEL_BIT(KIND)) || !b->cls_soft || !b->cls)
        return ctx ? H->ctx_fail(ctx, MUST_EINVAL, "classification: the batch carries no "
                                                   "classification labels")
                   : H->err_set(err, MUST_EINVAL, "classification: the batch carries no "
                                                  "classification labels");
    if (b->ncls != c->k || logits->ndim != 2 || logits->shape[0] != b->n ||
        logits->shape[1] != c->k)
        return ctx ? H->ctx_fail(ctx, MUST_ESHAPE,
                                 "classification: head of %d classes, batch of %d examples "
                                 "with %d classes",
                                 c->k, b->n, b->ncls)
                   : H->err_set(err, MUST_ESHAPE,
                                "classification: head of %d classes, batch of %d examples "
                                "with %d classes",
                                c->k, b->n, b->ncls);
    return MUST_OK;
}

/* One op serves hard and soft labels: the loader collates a hard label as
 * its one-hot row, and soft cross-entropy against a one-hot row is the
 * hard cross-entropy exactly. */
static must_tensor *loss(void *head, must_ctx *ctx, void *pred, const must_batch *b,
                         const float *example_mask)
{
    cls_head *c = head;
    must_tensor *logits = pred;
    if (check_batch(c, ctx, logits, b, NULL))
        return NULL;
    float *mask = H->ctx_alloc(ctx, (size_t)b->n * sizeof(float));
    if (!mask)
        return NULL;
    for (int i = 0; i < b->n; i++)
        mask[i] = plugin_counts(b, example_mask, i, KIND) ? 1.0f : 0.0f;
    return H->soft_cross_entropy(ctx, logits, b->cls_soft, mask);
}

/* softmax(z / T) in double, written as floats. */
static void softmax(const float *z, int k, double t, float *p)
{
    double m = z[0], s = 0.0;
    for (int j = 1; j < k; j++)
        m = z[j] > m ? z[j] : m;
    for (int j = 0; j < k; j++)
        s += exp(((double)z[j] - m) / t);
    for (int j = 0; j < k; j++)
        p[j] = (float)(exp(((double)z[j] - m) / t) / s);
}

static int argmax(const float *z, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (z[j] > z[best])
            best = j;
    return best;
}

static int pseudo_label(void *head, void *pred, const must_batch *b, int i, must_labels *out,
                        must_err *err)
{
    cls_head *c = head;
    must_tensor *logits = pred;
    if (logits->ndim != 2 || logits->shape[1] != c->k || i >= logits->shape[0])
        return H->err_set(err, MUST_ESHAPE, "classification: no example %d in the prediction",
                          i);
    (void)b;
    const float *z = logits->data + (size_t)i * c->k;
    if (c->cfg.hard) {
        out->cls = argmax(z, c->k);
    } else {
        float *p = malloc((size_t)c->k * sizeof *p);
        if (!p)
            return H->err_set(err, MUST_ENOMEM, "classification: out of memory");
        softmax(z, c->k, c->cfg.temperature, p);
        int rc = H->labels_set_soft(out, c->k, p, err);
        free(p);
        if (rc)
            return rc;
        out->cls = -1;
    }
    out->has |= MUST_LABEL_BIT(KIND);
    return MUST_OK;
}

typedef struct cls_eval {
    cls_head *c;
    long n, hit[2];
} cls_eval;

static void *eval_begin(void *head, must_err *err)
{
    cls_eval *e = calloc(1, sizeof *e);
    if (!e)
        H->err_set(err, MUST_ENOMEM, "classification: out of memory");
    else
        e->c = head;
    return e;
}

static int eval_merge(void *into, const void *from, must_err *err)
{
    (void)err;
    cls_eval *a = into;
    const cls_eval *b = from;
    a->n += b->n;
    a->hit[0] += b->hit[0];
    a->hit[1] += b->hit[1];
    return MUST_OK;
}

/* The rank of class t among the logits, ties broken as argmax breaks them
 * (the lower index first), so that top-1 agrees with the argmax and a
 * constant prediction is not counted right for every class. */
static int rank_of(const float *z, int k, int t)
{
    int r = 0;
    for (int j = 0; j < k; j++)
        r += z[j] > z[t] || (z[j] == z[t] && j < t);
    return r;
}

static int eval_add(void *state, void *pred, const must_batch *b, must_err *err)
{
    cls_eval *e = state;
    must_tensor *logits = pred;
    int rc = check_batch(e->c, NULL, logits, b, err);
    if (rc)
        return rc;
    int k = e->c->k, top = k < TOPK ? k : TOPK;
    for (int i = 0; i < b->n; i++) {
        if (!plugin_counts(b, NULL, i, KIND))
            continue;
        /* A soft label is judged by its most probable class. */
        int t = b->cls[i] >= 0 ? b->cls[i] : argmax(b->cls_soft + (size_t)i * k, k);
        if (t >= k)
            return H->err_set(err, MUST_EINVAL, "classification: class %d out of range 0..%d",
                              t, k - 1);
        int r = rank_of(logits->data + (size_t)i * k, k, t);
        e->n++;
        e->hit[0] += r < 1;
        e->hit[1] += r < top;
    }
    return MUST_OK;
}

/* A label is scored as logits equal to its distribution (one-hot for a
 * hard class), ranked as eval_add ranks logits. */
static int eval_add_labels(void *state, const must_labels *guess, const must_batch *b,
                           must_err *err)
{
    cls_eval *e = state;
    int k = e->c->k, top = k < TOPK ? k : TOPK;
    if (!b->cls || !b->cls_soft || b->ncls != k)
        return H->err_set(err, MUST_EINVAL, "classification: the batch carries no %d-class "
                                            "labels", k);
    float *row = malloc((size_t)k * sizeof *row);
    if (!row)
        return H->err_set(err, MUST_ENOMEM, "classification: out of memory");
    int rc = MUST_OK;
    for (int i = 0; i < b->n && !rc; i++) {
        const must_labels *g = &guess[i];
        if (!plugin_counts(b, NULL, i, KIND) || !(g->has & MUST_LABEL_BIT(KIND)))
            continue;
        int t = b->cls[i] >= 0 ? b->cls[i] : argmax(b->cls_soft + (size_t)i * k, k);
        if (g->soft && g->nsoft != k)
            rc = H->err_set(err, MUST_EINVAL, "classification: a soft label of %d classes, "
                                              "not %d", g->nsoft, k);
        else if (!g->soft && (g->cls < 0 || g->cls >= k))
            rc = H->err_set(err, MUST_EINVAL, "classification: class %d out of range 0..%d",
                            g->cls, k - 1);
        else if (t < 0 || t >= k)
            rc = H->err_set(err, MUST_EINVAL, "classification: class %d out of range 0..%d",
                            t, k - 1);
        if (rc)
            break;
        for (int j = 0; j < k; j++)
            row[j] = g->soft ? g->soft[j] : (float)(j == g->cls);
        int r = rank_of(row, k, t);
        e->n++;
        e->hit[0] += r < 1;
        e->hit[1] += r < top;
    }
    free(row);
    return rc;
}

static int eval_end(void *state, double *values, must_err *err)
{
    cls_eval *e = state;
    int rc = MUST_OK;
    if (e->n == 0)
        rc = H->err_set(err, MUST_EINVAL, "classification: no example with a label was "
                                          "evaluated");
    else
        for (int m = 0; m < 2; m++)
            values[m] = 100.0 * (double)e->hit[m] / (double)e->n;
    free(e);
    return rc;
}

/* A square of the class colour in the top-left corner for a label, the
 * top-right one for a prediction. */
static int draw(void *head, must_image *img, const must_labels *label, void *pred,
                const must_batch *b, int i, must_err *err)
{
    (void)b;
    (void)err;
    int cls = -1, s = img->width / 6 > 2 ? img->width / 6 : 2;
    if (pred) {
        cls_head *c = head;
        cls = argmax(((must_tensor *)pred)->data + (size_t)i * c->k, c->k);
    } else if (label->has & MUST_LABEL_BIT(KIND)) {
        cls = label->cls >= 0 ? label->cls : label->soft ? argmax(label->soft, label->nsoft) : -1;
    }
    if (cls < 0)
        return MUST_OK;
    unsigned char col[3];
    plugin_class_colour(cls, col);
    int x0 = pred ? img->width - s : 0;
    for (int y = 0; y < s && y < img->height; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x0 + s && x < img->width; x++)
            plugin_blend(img, x, y, col, 1.0f);
    return MUST_OK;
}

MUST_TASK_PLUGIN(H,
                 .name = "classification",
                 .version = PACKAGE_VERSION,
                 .summary = "linear layer on pooled C5; cross-entropy on hard or soft labels; "
                            "soft pseudo labels",
                 .label_kind = KIND,
                 .metrics = metrics,
                 .lower_better = NULL,
                 .options = options,
                 .config_size = sizeof(cls_config),
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
                 .eval_add_labels = eval_add_labels);
