/* pseudolabel.c - pseudo-labelling: every teacher over every image, in inference
 * mode, batched; supervised labels kept where the set has them, pseudo
 * labels for the missing kinds (the paper's §3.1).  The output is cut into
 * shards, each a complete dataset committed on its own (dataset.ini last),
 * so a run that is cut off redoes at most one shard.  Over N MPI ranks rank
 * r labels shards r, r + N, ...: a shard's bytes depend only on its images
 * and the teachers, so the parts are those one process writes. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/augment.h"
#include "must/checkpoint.h"
#include "must/image.h"
#include "must/io.h"
#include "base/dist-impl.h"
#include "pipeline-impl.h"

/* A young teacher may predict depths the 16-bit format cannot hold: they
 * become the largest storable depth rather than failing the whole set. */
static void clamp_depth(must_map *m, float scale)
{
    float hi = 65535.0f * scale;
    size_t n = (size_t)m->channels * m->height * m->width;
    for (size_t i = 0; i < n; i++)
        if (!(m->data[i] >= 0.0f))
            m->data[i] = 0.0f;
        else if (m->data[i] > hi)
            m->data[i] = hi;
}

/* The state of one labelling: the teachers' models and the spec of the
 * sets it writes. */
typedef struct labeller {
    const must_experiment *e;
    const pl_label_job *job;
    pl_model models[PL_MAX_TASKS];
    int kind_of[PL_MAX_TASKS], nm;
    must_dataset_spec spec;
    const char *names[PL_MAX_TASKS][256];
    char thr[PL_MAX_TASKS][256];
    char name[160];
    int *split_of;  /* each image's split in the set labelled */
    int S, B, shard;  /* S: the size the teachers see */
    int native;       /* 1: the set's images are all S x S and labelled as they are */
    must_ctx *ctx;
    pl_progress pr;
    double t0;
    int done;       /* images labelled or found labelled */
} labeller;

/* Teacher i's model from its checkpoint, and its kind's entry in the spec
 * (classes, provenance, the plugin options that shaped the labels). */
static int add_teacher(labeller *lb, int i, must_err *err)
{
    const must_experiment *e = lb->e;
    const pl_label_job *job = lb->job;
    const must_exp_teacher *t = &e->teachers[job->teachers[i]];
    must_dataset *tset = job->teacher_sets[i];
    pl_head h = {&e->tasks[t->task], tset};
    int rc = pl_model_new(e, &h, 1, &lb->models[i], err);
    if (rc)
        return rc;
    lb->nm = i + 1;
    must_ckpt_load_opts lo = {0};
    if ((rc = must_ckpt_load(job->teacher_ckpt[i], lb->models[i].sets, lb->models[i].nsets, &lo,
                             NULL, err)))
        return rc;
    int k = lb->kind_of[i] = must_task_get_ops(lb->models[i].task[0])->label_kind;
    int nc = must_dataset_nclasses(tset, k);
    for (int c = 0; c < nc && c < 256; c++)
        lb->names[i][c] = must_dataset_class_name(tset, k, c);
    if ((must_dataset_tasks(job->unl) & MUST_LABEL_BIT(k)) && nc &&
        must_dataset_nclasses(job->unl, k) != nc)
        return must_err_set(err, MUST_EINVAL,
                            "dataset '%s' has %s labels with %d classes, teacher '%s' %d: they "
                            "must agree to share a label file",
                            must_dataset_name(job->unl), must_label_kind_name(k),
                            must_dataset_nclasses(job->unl, k), t->name, nc);
    must_dataset_spec *spec = &lb->spec;
    spec->tasks |= MUST_LABEL_BIT(k);
    if (k == MUST_LABEL_DEPTH)
        spec->depth_scale = must_dataset_depth_scale(tset);
    spec->task[k].nclasses = nc;
    spec->task[k].classes = nc ? lb->names[i] : NULL;
    /* A set imported from COCO keeps its category ids through labelling,
     * so that an export of the pseudo labels gives them back. */
    spec->task[k].ids = must_dataset_class_ids(tset, k);
    /* A kind of a plugin's keeps its teacher set's keys (how its labels
     * were made), as a depth keeps the scale. */
    spec->kind_conf[k] = must_dataset_kind_conf(tset, k);
    spec->task[k].source = MUST_SOURCE_PSEUDO;
    spec->task[k].teacher = job->teacher_ckpt[i];
    size_t u = (size_t)snprintf(lb->thr[i], sizeof lb->thr[i], "teacher %s", t->name);
    const must_exp_task *ts = &e->tasks[t->task];
    for (int o = 0; o < ts->nopts && u < sizeof lb->thr[i]; o++)
        u += (size_t)snprintf(lb->thr[i] + u, sizeof lb->thr[i] - u, " %s=%s", ts->opts[o].key,
                              ts->opts[o].value);
    spec->task[k].threshold = lb->thr[i];
    return MUST_OK;
}

/* Each image's split, from the set's split lists (-1: in none). */
static int splits_of(labeller *lb, must_err *err)
{
    must_dataset *unl = lb->job->unl;
    int N = must_dataset_count(unl);
    lb->split_of = malloc((size_t)(N > 0 ? N : 1) * sizeof *lb->split_of);
    if (!lb->split_of)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int i = 0; i < N; i++)
        lb->split_of[i] = -1;
    for (int s = 0; s < MUST_NSPLITS; s++) {
        const int *idx;
        int n = must_dataset_split(unl, s, &idx);
        for (int i = 0; i < n; i++)
            lb->split_of[idx[i]] = s;
    }
    return MUST_OK;
}

/* Example i of batch b: the set's own labels, pseudo labels for the kinds
 * it lacks, added to the writer. */
static int label_example(labeller *lb, const must_batch *b, int i, void **preds,
                         must_dataset_writer *w, must_err *err)
{
    must_dataset *unl = lb->job->unl;
    int idx = b->example[i];
    must_labels lab, pl;
    must_labels_init(&lab);
    must_labels_init(&pl);
    char *img = must_dataset_image_path(unl, idx);
    int rc = img ? must_dataset_load(unl, idx, lb->spec.tasks, NULL, &lab, err)
                 : must_err_set(err, MUST_ENOMEM, "out of memory");
    int iw = 0, ih = 0;
    if (rc == MUST_OK && !lb->native)
        rc = must_image_info(img, NULL, &iw, &ih, NULL, NULL, err);
    for (int t = 0; t < lb->nm && rc == MUST_OK; t++) {
        if (lab.has & MUST_LABEL_BIT(lb->kind_of[t]))
            continue; /* supervised labels stay */
        rc = must_task_pseudo_label(lb->models[t].task[0], preds[t], b, i, &pl, err);
        if (rc == MUST_OK && !lb->native)
            rc = must_aug_unfit_labels(&pl, &b->tf[i], iw, ih, err);
        if (rc == MUST_OK && lb->kind_of[t] == MUST_LABEL_DEPTH)
            clamp_depth(&pl.depth, lb->spec.depth_scale);
        if (rc == MUST_OK)
            must_labels_move(&lab, &pl, lb->kind_of[t]);
        must_labels_free(&pl);
    }
    if (rc == MUST_OK)
        rc = must_dataset_writer_add_file(w, must_dataset_id(unl, idx), lb->split_of[idx], img,
                                          &lab, err);
    free(img);
    must_labels_free(&lab);
    return rc;
}

/* Every teacher on one batch, then each example written. */
static int label_batch(labeller *lb, const must_batch *b, must_dataset_writer *w, must_err *err)
{
    void *preds[PL_MAX_TASKS];
    must_ctx_reset(lb->ctx);
    for (int t = 0; t < lb->nm; t++) {
        void *pp[1];
        if (pl_model_forward(&lb->models[t], lb->ctx, b, pp))
            return must_err_set(err, MUST_EINVAL, "label: %s", must_ctx_error(lb->ctx)->msg);
        preds[t] = pp[0];
    }
    int rc = MUST_OK;
    for (int i = 0; i < b->n && rc == MUST_OK; i++)
        rc = label_example(lb, b, i, preds, w, err);
    return rc;
}

/* Shard p: images [p * shard, (p + 1) * shard) into out_dir/part-NNN,
 * committed whole; skipped when it already is. */
static int label_part(labeller *lb, int p, must_err *err)
{
    must_dataset *unl = lb->job->unl;
    int N = must_dataset_count(unl), B = lb->B;
    char part[32];
    snprintf(part, sizeof part, "part-%03d", p);
    char *dir = must_path_join(lb->job->out_dir, part);
    char *ini = dir ? must_path_join(dir, "dataset.ini") : NULL;
    int lo_i = p * lb->shard, hi_i = lo_i + lb->shard < N ? lo_i + lb->shard : N;
    int rc = ini ? MUST_OK : must_err_set(err, MUST_ENOMEM, "out of memory");
    must_dataset_writer *w = NULL;
    must_loader *L = NULL;
    if (rc || must_file_exists(ini)) {
        lb->done += rc ? 0 : hi_i - lo_i;
        goto out;
    }
    snprintf(lb->name, sizeof lb->name, "%s-pseudo-%s", must_dataset_name(unl), part);
    lb->spec.name = lb->name;
    must_loader_opts lo;
    pl_loader_eval(lb->e, -1, lb->S, &lo);
    lo.batch = B;
    lo.first_epoch = 0;
    lo.first_batch = (uint64_t)(lo_i / B); /* a shard is whole batches */
    if ((rc = must_dataset_writer_new(dir, &lb->spec, &w, err)) ||
        (rc = must_loader_new(&unl, 1, &lo, &L, err)))
        goto out;
    const must_batch *b;
    for (int at = lo_i; at < hi_i && rc == MUST_OK; at += B) {
        if ((rc = must_loader_next(L, &b, err)) != 1) {
            rc = rc ? rc : must_err_set(err, MUST_EINVAL, "label: the loader ended early");
            break;
        }
        rc = MUST_OK;
        if (pl_interrupted()) {
            rc = must_err_set(err, MUST_EINTR,
                              "label: stopped on request with %d of %d images of %s labelled; "
                              "the same command resumes at %s",
                              lb->done, must_dataset_count(unl), must_dataset_name(unl), part);
            break;
        }
        if ((rc = label_batch(lb, b, w, err)))
            break;
        lb->done += b->n;
        /* Rank 0 speaks for every rank, which label alike. */
        long all = (long)lb->done * must_dist_group_size();
        all = all < must_dataset_count(unl) ? all : must_dataset_count(unl);
        pl_progress_step(&lb->pr, all, must_dataset_name(unl), all / (pl_now() - lb->t0 + 1e-9));
    }
    if (!rc) {
        must_loader_free(L);
        L = NULL;
        rc = must_dataset_writer_commit(w, err);
        w = NULL;
    }
out:
    if (w)
        must_dataset_writer_abort(w);
    must_loader_free(L);
    free(dir);
    free(ini);
    return rc;
}

/* The teachers, the spec, the splits, the context. */
static int labeller_init(labeller *lb, must_err *err)
{
    const pl_label_job *job = lb->job;
    int W, H, rc = MUST_OK;
    must_dataset_size(job->unl, &W, &H);
    if (job->nteachers > PL_MAX_TASKS)
        return must_err_set(err, MUST_EINVAL, "more than %d teachers", PL_MAX_TASKS);
    /* A set of square images of one declared size is labelled at that size
     * as it is; any other is fitted to the training size like an evaluation
     * batch and each image's labels moved back to its own size. */
    lb->native = W > 0 && W == H;
    lb->S = lb->native ? W : lb->e->image_size;
    for (int i = 0; i < job->nteachers && rc == MUST_OK; i++)
        rc = add_teacher(lb, i, err);
    if (rc)
        return rc;
    if (lb->spec.depth_scale <= 0)
        lb->spec.depth_scale = 0.001f;
    if (must_dataset_tasks(job->unl) & ~lb->spec.tasks)
        pl_say(job->out, "[label] %s: labels of kinds no teacher makes are not carried over",
               must_dataset_name(job->unl));
    if ((rc = splits_of(lb, err)))
        return rc;
    lb->B = lb->e->label.batch;
    lb->shard = (lb->e->label.shard + lb->B - 1) / lb->B * lb->B;
    lb->ctx = must_ctx_new(lb->e->threads);
    if (!lb->ctx)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    if ((rc = must_mkdir_p(job->out_dir, err)))
        return rc;
    must_ctx_set_training(lb->ctx, 0);
    must_ctx_set_grad(lb->ctx, 0);
    return MUST_OK;
}

int pl_label(const must_experiment *e, const pl_label_job *job, must_err *err)
{
    labeller *lb = calloc(1, sizeof *lb);
    if (!lb)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    lb->e = e;
    lb->job = job;
    int rc = labeller_init(lb, err);
    if (!rc) {
        int N = must_dataset_count(job->unl), nparts = (N + lb->shard - 1) / lb->shard;
        pl_progress_start(&lb->pr, job->out, "label", N, 0, job->nteachers / 3.0);
        lb->t0 = pl_now();
        int n = must_dist_group_size(), me = must_dist_group_rank();
        for (int p = me; p < nparts && rc == MUST_OK; p += n)
            rc = label_part(lb, p, err);
        pl_progress_end(&lb->pr);
    }
    /* Every part is there before any rank reads the set; a failure of one
     * rank, named, stops all of them. */
    rc = must_dist_agree(rc, err);
    for (int i = 0; i < lb->nm; i++)
        pl_model_free(&lb->models[i]);
    free(lb->split_of);
    must_ctx_free(lb->ctx);
    free(lb);
    return rc;
}
