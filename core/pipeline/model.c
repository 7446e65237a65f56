/* model.c - a backbone and a set of task heads built by their plugins from
 * an experiment's [task.X] sections, and the loader options the trainer,
 * the evaluator and the labeller share. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/checkpoint.h"
#include "pipeline-impl.h"

/* A copy of what one head is: name, plugin, options and class names. */
static int desc_copy(pl_head_desc *d, const char *name, const char *plugin, int nopts,
                     const char *const *keys, const char *const *values, int nclasses,
                     const char *const *classes, must_err *err)
{
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->plugin, sizeof d->plugin, "%s", plugin);
    d->keys = calloc((size_t)nopts + 1, sizeof *d->keys);
    d->values = calloc((size_t)nopts + 1, sizeof *d->values);
    d->classes = calloc((size_t)nclasses + 1, sizeof *d->classes);
    if (!d->keys || !d->values || !d->classes)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int k = 0; k < nopts; k++, d->nopts++)
        if (!(d->keys[k] = strdup(keys[k])) || !(d->values[k] = strdup(values[k])))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int c = 0; c < nclasses; c++, d->nclasses++)
        if (!(d->classes[c] = strdup(classes[c] ? classes[c] : "")))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
    return MUST_OK;
}

void pl_head_desc_free(pl_head_desc *d)
{
    for (int k = 0; k < d->nopts; k++) {
        free(d->keys[k]);
        free(d->values[k]);
    }
    for (int c = 0; c < d->nclasses; c++)
        free(d->classes[c]);
    free(d->keys);
    free(d->values);
    free(d->classes);
    memset(d, 0, sizeof *d);
}

/* Head i: the plugin's instance, its options, built on the features. */
static int build_head(pl_model *m, int i, const pl_head_desc *d, const must_feature_desc *fd,
                      const char *source, must_err *err)
{
    char where[600];
    snprintf(where, sizeof where, "%s: [task.%s]", source, d->name);
    int rc = must_task_new(d->plugin, d->name, &m->task[i], err);
    if (rc)
        return rc;
    m->ntasks = i + 1;
    if ((rc = desc_copy(&m->desc[i], d->name, d->plugin, d->nopts, (const char *const *)d->keys,
                        (const char *const *)d->values, d->nclasses,
                        (const char *const *)d->classes, err)))
        return rc;
    for (int k = 0; k < d->nopts; k++)
        if ((rc = must_task_set(m->task[i], d->keys[k], d->values[k], where, err)))
            return rc;
    must_task_env env = {0};
    env.features = fd;
    env.nclasses = d->nclasses;
    env.class_names = d->nclasses ? (const char *const *)m->desc[i].classes : NULL;
    env.image_size = m->image_size;
    env.seed = m->bbc.seed * 1000003u + (uint64_t)i + 17;
    if ((rc = must_task_build(m->task[i], &env, err)))
        return rc;
    m->sets[m->nsets++] = must_task_params(m->task[i]);
    m->levels |= must_task_levels(m->task[i]);
    return MUST_OK;
}

int pl_model_build(pl_model *m, const must_backbone_config *bb, int image_size,
                   const pl_head_desc *heads, int n, const char *source, must_err *err)
{
    memset(m, 0, sizeof *m);
    if (n > PL_MAX_TASKS)
        return must_err_set(err, MUST_EINVAL, "more than %d tasks in one model", PL_MAX_TASKS);
    m->bbc = *bb;
    m->image_size = image_size;
    if (!(m->bb = must_backbone_new(bb, err)))
        return err ? err->code : MUST_EINVAL;
    m->sets[m->nsets++] = must_backbone_params(m->bb);
    must_feature_desc fd;
    must_backbone_features(m->bb, &fd);
    int rc = MUST_OK;
    for (int i = 0; i < n && !rc; i++)
        rc = build_head(m, i, &heads[i], &fd, source, err);
    if (rc)
        pl_model_free(m);
    return rc;
}

int pl_model_new(const must_experiment *e, const pl_head *heads, int n, pl_model *m,
                 must_err *err)
{
    if (n > PL_MAX_TASKS)
        return must_err_set(err, MUST_EINVAL, "more than %d tasks in one model", PL_MAX_TASKS);
    pl_head_desc d[PL_MAX_TASKS];
    memset(d, 0, sizeof d);
    int rc = MUST_OK, nd = 0;
    for (; nd < n && !rc; nd++) {
        const must_exp_task *s = heads[nd].spec;
        /* The label kind decides which of the set's class lists the head
         * takes; the experiment knows it from the plugin. */
        const must_dataset *ds = heads[nd].classes_from;
        int nc = ds ? must_dataset_nclasses(ds, s->kind) : 0;
        const char *names[256], *keys[64], *values[64];
        for (int c = 0; c < nc && c < 256; c++)
            names[c] = must_dataset_class_name(ds, s->kind, c);
        int no = s->nopts < 64 ? s->nopts : 64;
        for (int k = 0; k < no; k++) {
            keys[k] = s->opts[k].key;
            values[k] = s->opts[k].value;
        }
        rc = desc_copy(&d[nd], s->name, s->plugin, no, keys, values, nc < 256 ? nc : 256, names,
                       err);
    }
    if (!rc)
        rc = pl_model_build(m, &e->backbone, e->image_size, d, n, e->file, err);
    for (int i = 0; i < nd; i++)
        pl_head_desc_free(&d[i]);
    return rc;
}

void pl_model_free(pl_model *m)
{
    for (int i = 0; i < m->ntasks; i++) {
        must_task_free(m->task[i]);
        pl_head_desc_free(&m->desc[i]);
    }
    must_backbone_free(m->bb);
    memset(m, 0, sizeof *m);
}

int pl_model_load_backbone(pl_model *m, const char *path, must_err *err)
{
    must_ckpt_load_opts lo = {0};
    lo.flags = MUST_CKPT_ALLOW_UNEXPECTED;
    return must_ckpt_load(path, m->sets, 1, &lo, NULL, err);
}

int pl_model_load(pl_model *m, const char *path, must_err *err)
{
    must_ckpt_load_opts lo = {0};
    lo.flags = MUST_CKPT_ALLOW_UNEXPECTED;
    return must_ckpt_load(path, m->sets, m->nsets, &lo, NULL, err);
}

int pl_model_load_init(pl_model *m, const char *path, int *loaded, int *fpn_kept, must_err *err)
{
    must_ckpt_load_opts lo = {0};
    lo.flags = MUST_CKPT_ALLOW_UNEXPECTED | MUST_CKPT_ALLOW_MISSING;
    must_ckpt_report rep = {0};
    int rc = must_ckpt_load(path, m->sets, 1, &lo, &rep, err);
    *loaded = rep.n_loaded;
    *fpn_kept = 0;
    /* A classification network (torchvision's ResNet) has no FPN: that
     * part may be missing and keeps its initialisation.  Any other missing
     * tensor means the file is not this backbone. */
    char names[512] = "";
    size_t u = 0;
    int bad = 0;
    for (int i = 0; !rc && i < rep.n_missing; i++) {
        if (strncmp(rep.missing[i], "fpn.", 4) == 0) {
            (*fpn_kept)++;
        } else if (bad++ < 4 && u < sizeof names) {
            u += (size_t)snprintf(names + u, sizeof names - u, "%s%s", bad > 1 ? ", " : "",
                                  rep.missing[i]);
        }
    }
    if (!rc && bad)
        rc = must_err_set(err, MUST_EINVAL, "%s: lacks %d of the backbone's tensors: %s%s", path,
                          bad, names, bad > 4 ? ", ..." : "");
    if (!rc && rep.n_loaded == 0)
        rc = must_err_set(err, MUST_EINVAL, "%s: holds none of the backbone's tensors", path);
    must_ckpt_report_free(&rep);
    return rc;
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
