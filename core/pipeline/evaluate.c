/* evaluate.c - one head's metrics over one split of a set, through its
 * plugin's evaluator (begin / add / end). */
#include "config.h"

#include <string.h>

#include "pipeline-impl.h"

int pl_evaluate(const must_experiment *e, pl_model *m, int t, must_dataset *ds, int split,
                double *values, must_err *err)
{
    /* What a wrong --task or --data would otherwise report as a batch
     * without labels, named by the set. */
    int kind = must_task_get_ops(m->task[t])->label_kind;
    const int *idx;
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
    must_task_eval *ev = NULL;
    int rc = ctx ? MUST_OK : must_err_set(err, MUST_ENOMEM, "out of memory");
    if (!rc)
        rc = must_loader_new(&ds, 1, &lo, &L, err);
    if (!rc)
        rc = must_task_eval_begin(m->task[t], &ev, err);
    if (rc)
        goto out;
    must_ctx_set_training(ctx, 0);
    must_ctx_set_grad(ctx, 0);
    const must_batch *b;
    int got;
    while ((got = must_loader_next(L, &b, err)) == 1) {
        must_ctx_reset(ctx);
        void *preds[PL_MAX_TASKS] = {0};
        /* Only head t runs: the others may lack the levels' inputs. */
        int S = b->size;
        must_tensor *x = must_tensor_new4(ctx, b->n, 3, S, S);
        must_tensor *lv[MUST_NLEVELS];
        if (x)
            memcpy(x->data, b->images, x->numel * sizeof(float));
        if (!x || must_backbone_forward(m->bb, ctx, x, must_task_levels(m->task[t]), lv) ||
            !(preds[t] = must_task_forward(m->task[t], ctx, lv, S, S))) {
            rc = must_err_set(err, MUST_EINVAL, "evaluating '%s' on %s: %s",
                              must_task_name(m->task[t]), must_dataset_name(ds),
                              must_ctx_error(ctx)->msg);
            goto out;
        }
        if ((rc = must_task_eval_add(ev, preds[t], b, err)))
            goto out;
    }
    if (got < 0) {
        rc = got;
        goto out;
    }
    rc = must_task_eval_end(ev, values, err);
    ev = NULL;
out:
    if (ev)
        must_task_eval_end(ev, NULL, NULL);
    must_loader_free(L);
    must_ctx_free(ctx);
    return rc;
}
