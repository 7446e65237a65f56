/* model.c - a backbone and a set of task heads built by their plugins from
 * an experiment's [task.X] sections, and the loader options the trainer,
 * the evaluator and the labeller share. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "must/checkpoint.h"
#include "pipeline-impl.h"

int pl_model_new(const must_experiment *e, const pl_head *heads, int n, pl_model *m,
                 must_err *err)
{
    memset(m, 0, sizeof *m);
    if (n > PL_MAX_TASKS)
        return must_err_set(err, MUST_EINVAL, "more than %d tasks in one model", PL_MAX_TASKS);
    if (!(m->bb = must_backbone_new(&e->backbone, err)))
        return err ? err->code : MUST_EINVAL;
    m->sets[m->nsets++] = must_backbone_params(m->bb);
    must_feature_desc fd;
    must_backbone_features(m->bb, &fd);
    int rc;
    for (int i = 0; i < n; i++) {
        const must_exp_task *s = heads[i].spec;
        if ((rc = must_task_new(s->plugin, s->name, &m->task[i], err)))
            goto fail;
        m->ntasks = i + 1;
        m->spec[i] = s;
        char where[160];
        snprintf(where, sizeof where, "%s: [task.%s]", e->file, s->name);
        for (int k = 0; k < s->nopts; k++)
            if ((rc = must_task_set(m->task[i], s->opts[k].key, s->opts[k].value, where, err)))
                goto fail;
        int kind = must_task_get_ops(m->task[i])->label_kind;
        const must_dataset *ds = heads[i].classes_from;
        int nc = ds ? must_dataset_nclasses(ds, kind) : 0;
        const char *names[256];
        for (int c = 0; c < nc && c < 256; c++)
            names[c] = must_dataset_class_name(ds, kind, c);
        must_task_env env = {0};
        env.features = &fd;
        env.nclasses = nc;
        env.class_names = nc ? names : NULL;
        env.image_size = e->image_size;
        env.seed = e->backbone.seed * 1000003u + (uint64_t)i + 17;
        if ((rc = must_task_build(m->task[i], &env, err)))
            goto fail;
        m->sets[m->nsets++] = must_task_params(m->task[i]);
        m->levels |= must_task_levels(m->task[i]);
    }
    return MUST_OK;
fail:
    pl_model_free(m);
    return rc;
}

void pl_model_free(pl_model *m)
{
    for (int i = 0; i < m->ntasks; i++)
        must_task_free(m->task[i]);
    must_backbone_free(m->bb);
    memset(m, 0, sizeof *m);
}

int pl_model_load_backbone(pl_model *m, const char *path, must_err *err)
{
    must_ckpt_load_opts lo = {0};
    lo.flags = MUST_CKPT_ALLOW_UNEXPECTED;
    return must_ckpt_load(path, m->sets, 1, &lo, NULL, err);
}

int pl_model_forward(pl_model *m, must_ctx *ctx, const must_batch *b, void **preds)
{
    int S = b->size;
    must_tensor *x = must_tensor_new4(ctx, b->n, 3, S, S);
    if (!x)
        return must_ctx_error(ctx)->code ? must_ctx_error(ctx)->code : MUST_ENOMEM;
    memcpy(x->data, b->images, x->numel * sizeof(float));
    must_tensor *lv[MUST_NLEVELS];
    int rc = must_backbone_forward(m->bb, ctx, x, m->levels, lv);
    if (rc)
        return rc;
    for (int i = 0; i < m->ntasks; i++)
        if (!(preds[i] = must_task_forward(m->task[i], ctx, lv, S, S)))
            return must_ctx_error(ctx)->code ? must_ctx_error(ctx)->code : MUST_EINVAL;
    return MUST_OK;
}

void pl_loader_train(const must_experiment *e, const must_exp_train *tr, int sampling,
                     uint64_t seed, must_loader_opts *o)
{
    must_loader_defaults(o);
    o->size = e->image_size;
    o->batch = tr->batch;
    o->workers = e->workers;
    o->sampler.mode = sampling;
    o->sampler.seed = seed;
    o->augment = tr->augment;
}

void pl_loader_eval(const must_experiment *e, int split, int size, must_loader_opts *o)
{
    must_loader_defaults(o);
    o->size = size;
    o->batch = e->eval_batch;
    o->workers = e->workers;
    o->split = split;
    o->sampler.shuffle = 0;
    o->augment = 0;
    o->epochs = 1;
    o->drop_last = 0;
}
