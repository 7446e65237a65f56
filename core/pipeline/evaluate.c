/* evaluate.c - one head's metrics over one split of a set, through its
 * plugin's evaluator (begin / add / end). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline-impl.h"

/* Runs head t of m over the split in batches; `each` takes every batch's
 * prediction. */
typedef int (*eval_each_fn)(void *user, void *pred, const must_batch *b, must_err *err);

static int eval_batches(const must_experiment *e, pl_model *m, int t, must_dataset *ds, int split,
                        eval_each_fn each, void *user, must_err *err)
{
    /* What a wrong --task or --data would otherwise report as a batch
     * without labels, named by the set. */
    int kind = must_task_get_ops(m->task[t])->label_kind;
    const int *idx;
    if (kind == MUST_TASK_NO_KIND)
        return must_err_set(err, MUST_EINVAL, "'%s' reads no labels (self-supervised): there is "
                            "nothing to evaluate it on", must_task_name(m->task[t]));
    if (!(must_dataset_tasks(ds) & MUST_LABEL_BIT(kind)))
        return must_err_set(err, MUST_EINVAL, "%s (%s) has no %s labels to evaluate '%s' on",
                            must_dataset_name(ds), must_dataset_dir(ds),
                            must_label_kind_name(kind), must_task_name(m->task[t]));
    if (must_dataset_split(ds, split, &idx) <= 0)
        return must_err_set(err, MUST_EINVAL, "%s (%s): the %s split is empty",
                            must_dataset_name(ds), must_dataset_dir(ds), must_split_name(split));
    must_loader_opts lo;
    pl_loader_eval(e, split, e->image_size, &lo);
    lo.tasks = MUST_LABEL_BIT(kind);
    must_loader *L = NULL;
    must_ctx *ctx = must_ctx_new(e->threads);
    int rc = ctx ? MUST_OK : must_err_set(err, MUST_ENOMEM, "out of memory");
    if (!rc)
        rc = must_loader_new(&ds, 1, &lo, &L, err);
    if (rc)
        goto out;
    must_ctx_set_training(ctx, 0);
    must_ctx_set_grad(ctx, 0);
    const must_batch *b;
    int got;
    while ((got = must_loader_next(L, &b, err)) == 1) {
        must_ctx_reset(ctx);
        void *pred = NULL;
        /* Only head t runs: the others may lack the levels' inputs. */
        int S = b->size;
        must_tensor *x = must_tensor_new4(ctx, b->n, 3, S, S);
        must_tensor *lv[MUST_NLEVELS];
        if (x)
            memcpy(x->data, b->images, x->numel * sizeof(float));
        if (!x || must_backbone_forward(m->bb, ctx, x, must_task_levels(m->task[t]), lv) ||
            !(pred = must_task_forward(m->task[t], ctx, lv, S, S))) {
            rc = must_err_set(err, MUST_EINVAL, "evaluating '%s' on %s: %s",
                              must_task_name(m->task[t]), must_dataset_name(ds),
                              must_ctx_error(ctx)->msg);
            goto out;
        }
        if ((rc = each(user, pred, b, err)))
            goto out;
    }
    if (got < 0)
        rc = got;
out:
    must_loader_free(L);
    must_ctx_free(ctx);
    return rc;
}

static int add_whole(void *user, void *pred, const must_batch *b, must_err *err)
{
    return must_task_eval_add(user, pred, b, err);
}

int pl_evaluate(const must_experiment *e, pl_model *m, int t, must_dataset *ds, int split,
                double *values, must_err *err)
{
    must_task_eval *ev = NULL;
    int rc = must_task_eval_begin(m->task[t], &ev, err);
    if (!rc)
        rc = eval_batches(e, m, t, ds, split, add_whole, ev, err);
    if (rc) {
        must_task_eval_end(ev, NULL, NULL);
        return rc;
    }
    return must_task_eval_end(ev, values, err);
}

typedef struct per_image {
    must_task *t;
    const must_dataset *ds;
    const int *idx;              /* the split's images */
    int n;
    int *pos;                    /* (largest index + 1): image index -> position, or -1 */
    int npos;
    must_task_eval **states;     /* (n) by position in the split */
} per_image;

/* Each example of the batch into its own state: the batch's `has` masked
 * to that example alone (an evaluator skips examples without its kind). */
static int add_each(void *user, void *pred, const must_batch *b, must_err *err)
{
    per_image *p = user;
    unsigned *has = calloc((size_t)b->n, sizeof *has);
    if (!has)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    int rc = MUST_OK;
    for (int i = 0; i < b->n && !rc; i++) {
        int ex = b->example[i], pos = ex >= 0 && ex < p->npos ? p->pos[ex] : -1;
        if (pos < 0 || p->states[pos])
            continue;
        must_batch one = *b;
        memset(has, 0, (size_t)b->n * sizeof *has);
        has[i] = b->has[i];
        one.has = has;
        if (!(rc = must_task_eval_begin(p->t, &p->states[pos], err)))
            rc = must_task_eval_add(p->states[pos], pred, &one, err);
    }
    free(has);
    return rc;
}

int pl_evaluate_images(const must_experiment *e, pl_model *m, int t, must_dataset *ds, int split,
                       must_task_eval ***states, int *n, must_err *err)
{
    per_image p = {m->task[t], ds, NULL, 0, NULL, 0, NULL};
    *states = NULL;
    *n = 0;
    if (!must_task_can_merge(p.t))
        return must_err_set(err, MUST_EINVAL, "%s: its plugin cannot merge evaluations "
                                              "(eval_merge)", must_task_name(p.t));
    p.n = must_dataset_split(ds, split, &p.idx);
    for (int j = 0; j < p.n; j++)
        p.npos = p.idx[j] + 1 > p.npos ? p.idx[j] + 1 : p.npos;
    if (p.n > 0 && (!(p.states = calloc((size_t)p.n, sizeof *p.states)) ||
                    !(p.pos = malloc((size_t)p.npos * sizeof *p.pos)))) {
        free(p.states);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    for (int j = 0; j < p.npos; j++)
        p.pos[j] = -1;
    for (int j = 0; j < p.n; j++)
        p.pos[p.idx[j]] = j;
    int rc = eval_batches(e, m, t, ds, split, add_each, &p, err);
    free(p.pos);
    /* An image the loader did not give (none should be missing) still
     * gets an empty state, so that every position can be merged. */
    for (int j = 0; j < p.n && !rc; j++)
        if (!p.states[j])
            rc = must_task_eval_begin(p.t, &p.states[j], err);
    if (rc) {
        pl_evaluate_images_free(p.states, p.n);
        return rc;
    }
    *states = p.states;
    *n = p.n;
    return MUST_OK;
}

void pl_evaluate_images_free(must_task_eval **states, int n)
{
    for (int j = 0; states && j < n; j++)
        must_task_eval_end(states[j], NULL, NULL);
    free(states);
}
