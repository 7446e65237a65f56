/* label.c - pseudo-labelling: every teacher over every image, in inference
 * mode, batched; supervised labels kept where the set has them, pseudo
 * labels for the missing kinds (the paper's §3.1).  The output is cut into
 * shards, each a complete dataset committed on its own (dataset.ini last),
 * so a run that is cut off redoes at most one shard. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/checkpoint.h"
#include "must/io.h"
#include "pipeline-impl.h"

/* Moves kind k of src into dst (src loses it). */
static void take_kind(must_labels *dst, must_labels *src, int k)
{
    switch (k) {
    case MUST_LABEL_CLASSIFICATION:
        free(dst->soft);
        dst->cls = src->cls;
        dst->nsoft = src->nsoft;
        dst->soft = src->soft;
        src->soft = NULL;
        src->nsoft = 0;
        break;
    case MUST_LABEL_DETECTION:
        must_boxes_free(&dst->boxes);
        dst->boxes = src->boxes;
        memset(&src->boxes, 0, sizeof src->boxes);
        break;
    case MUST_LABEL_SEGMENTATION:
    case MUST_LABEL_DEPTH:
    case MUST_LABEL_NORMAL: {
        must_map *d = k == MUST_LABEL_SEGMENTATION ? &dst->seg
                      : k == MUST_LABEL_DEPTH      ? &dst->depth
                                                   : &dst->normal;
        must_map *s = k == MUST_LABEL_SEGMENTATION ? &src->seg
                      : k == MUST_LABEL_DEPTH      ? &src->depth
                                                   : &src->normal;
        must_map_free(d);
        *d = *s;
        memset(s, 0, sizeof *s);
        break;
    }
    }
    dst->has |= MUST_LABEL_BIT(k);
    src->has &= ~MUST_LABEL_BIT(k);
}

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

static void free_models(pl_model *models, int n)
{
    for (int i = 0; i < n; i++)
        pl_model_free(&models[i]);
}

int pl_label(const must_experiment *e, must_dataset *unl, const int *teachers, int nteachers,
             char *const *teacher_ckpt, must_dataset *const *teacher_sets, const char *out_dir,
             must_err *err)
{
    int W, H;
    must_dataset_size(unl, &W, &H);
    if (W <= 0 || W != H)
        return must_err_set(err, MUST_EINVAL,
                            "dataset '%s': pseudo-labelling needs square images of one declared "
                            "size (dataset.ini width = height), not %dx%d",
                            must_dataset_name(unl), W, H);
    pl_model models[PL_MAX_TASKS];
    int kind_of[PL_MAX_TASKS], nm = 0, rc = MUST_OK;
    if (nteachers > PL_MAX_TASKS)
        return must_err_set(err, MUST_EINVAL, "more than %d teachers", PL_MAX_TASKS);
    must_dataset_spec spec;
    memset(&spec, 0, sizeof spec);
    char name[160];
    const char *names[PL_MAX_TASKS][256];
    char thr[PL_MAX_TASKS][256];
    for (int i = 0; i < nteachers; i++) {
        const must_exp_teacher *t = &e->teachers[teachers[i]];
        pl_head h = {&e->tasks[t->task], teacher_sets[i]};
        if ((rc = pl_model_new(e, &h, 1, &models[i], err)))
            goto out;
        nm = i + 1;
        must_ckpt_load_opts lo = {0};
        if ((rc = must_ckpt_load(teacher_ckpt[i], models[i].sets, models[i].nsets, &lo, NULL,
                                 err)))
            goto out;
        int k = kind_of[i] = must_task_get_ops(models[i].task[0])->label_kind;
        int nc = must_dataset_nclasses(teacher_sets[i], k);
        for (int c = 0; c < nc && c < 256; c++)
            names[i][c] = must_dataset_class_name(teacher_sets[i], k, c);
        if ((must_dataset_tasks(unl) & MUST_LABEL_BIT(k)) && nc) {
            if (must_dataset_nclasses(unl, k) != nc) {
                rc = must_err_set(err, MUST_EINVAL,
                                  "dataset '%s' has %s labels with %d classes, teacher '%s' "
                                  "%d: they must agree to share a label file",
                                  must_dataset_name(unl), must_label_kind_name(k),
                                  must_dataset_nclasses(unl, k), t->name, nc);
                goto out;
            }
        }
        spec.tasks |= MUST_LABEL_BIT(k);
        if (k == MUST_LABEL_DEPTH)
            spec.depth_scale = must_dataset_depth_scale(teacher_sets[i]);
        spec.task[k].nclasses = nc;
        spec.task[k].classes = nc ? names[i] : NULL;
        spec.task[k].source = MUST_SOURCE_PSEUDO;
        spec.task[k].teacher = teacher_ckpt[i];
        /* The plugin options that shaped the labels (thresholds, temperature). */
        size_t u = (size_t)snprintf(thr[i], sizeof thr[i], "teacher %s", t->name);
        const must_exp_task *ts = &e->tasks[t->task];
        for (int o = 0; o < ts->nopts && u < sizeof thr[i]; o++)
            u += (size_t)snprintf(thr[i] + u, sizeof thr[i] - u, " %s=%s", ts->opts[o].key,
                                  ts->opts[o].value);
        spec.task[k].threshold = thr[i];
    }
    if (spec.depth_scale <= 0)
        spec.depth_scale = 0.001f;
    if (must_dataset_tasks(unl) & ~spec.tasks)
        printf("[label] %s: labels of kinds no teacher makes are not carried over\n",
               must_dataset_name(unl));

    int N = must_dataset_count(unl);
    int *split_of = malloc((size_t)(N > 0 ? N : 1) * sizeof *split_of);
    if (!split_of) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < N; i++)
        split_of[i] = -1;
    for (int s = 0; s < MUST_NSPLITS; s++) {
        const int *idx;
        int n = must_dataset_split(unl, s, &idx);
        for (int i = 0; i < n; i++)
            split_of[idx[i]] = s;
    }
    int B = e->label.batch;
    int shard = (e->label.shard + B - 1) / B * B;
    int nparts = (N + shard - 1) / shard;
    must_ctx *ctx = must_ctx_new(e->threads);
    if (!ctx || (rc = must_mkdir_p(out_dir, err))) {
        rc = rc ? rc : must_err_set(err, MUST_ENOMEM, "out of memory");
        free(split_of);
        must_ctx_free(ctx);
        goto out;
    }
    must_ctx_set_training(ctx, 0);
    must_ctx_set_grad(ctx, 0);
    pl_progress pr;
    pl_progress_start(&pr, "label", N, 0);
    double t0 = pl_now();
    int done = 0;
    for (int p = 0; p < nparts && rc == MUST_OK; p++) {
        char part[32];
        snprintf(part, sizeof part, "part-%03d", p);
        char *dir = must_path_join(out_dir, part);
        char *ini = dir ? must_path_join(dir, "dataset.ini") : NULL;
        if (!ini) {
            free(dir);
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
            break;
        }
        int lo_i = p * shard, hi_i = lo_i + shard < N ? lo_i + shard : N;
        if (must_file_exists(ini)) {
            done += hi_i - lo_i;
            free(dir);
            free(ini);
            continue;
        }
        snprintf(name, sizeof name, "%s-pseudo-%s", must_dataset_name(unl), part);
        spec.name = name;
        must_dataset_writer *w = NULL;
        must_loader *L = NULL;
        must_loader_opts lo;
        pl_loader_eval(e, -1, W, &lo);
        lo.batch = B;
        lo.first_epoch = 0;
        if ((rc = must_dataset_writer_new(dir, &spec, &w, err)) ||
            (rc = must_loader_new(&unl, 1, &lo, &L, err)))
            goto part_fail;
        /* Batches of earlier shards are read and dropped: decoding is
         * cheap next to the teachers' forward passes. */
        const must_batch *b;
        for (int k = 0; k < lo_i / B; k++)
            if ((rc = must_loader_next(L, &b, err)) != 1) {
                rc = rc ? rc : must_err_set(err, MUST_EINVAL, "label: the loader ended early");
                goto part_fail;
            }
        for (int at = lo_i; at < hi_i; at += B) {
            if ((rc = must_loader_next(L, &b, err)) != 1) {
                rc = rc ? rc : must_err_set(err, MUST_EINVAL, "label: the loader ended early");
                goto part_fail;
            }
            rc = MUST_OK;
            void *preds[PL_MAX_TASKS];
            must_ctx_reset(ctx);
            for (int t = 0; t < nm; t++) {
                void *pp[1];
                if (pl_model_forward(&models[t], ctx, b, pp)) {
                    rc = must_err_set(err, MUST_EINVAL, "label: %s", must_ctx_error(ctx)->msg);
                    goto part_fail;
                }
                preds[t] = pp[0];
            }
            for (int i = 0; i < b->n && rc == MUST_OK; i++) {
                int idx = b->example[i];
                must_labels lab, pl;
                must_labels_init(&lab);
                must_labels_init(&pl);
                rc = must_dataset_load(unl, idx, spec.tasks, NULL, &lab, err);
                for (int t = 0; t < nm && rc == MUST_OK; t++) {
                    if (lab.has & MUST_LABEL_BIT(kind_of[t]))
                        continue; /* supervised labels stay */
                    rc = must_task_pseudo_label(models[t].task[0], preds[t], b, i, &pl, err);
                    if (rc == MUST_OK && kind_of[t] == MUST_LABEL_DEPTH)
                        clamp_depth(&pl.depth, spec.depth_scale);
                    if (rc == MUST_OK)
                        take_kind(&lab, &pl, kind_of[t]);
                    must_labels_free(&pl);
                }
                char *img = rc ? NULL : must_dataset_image_path(unl, idx);
                if (rc == MUST_OK && !img)
                    rc = must_err_set(err, MUST_ENOMEM, "out of memory");
                if (rc == MUST_OK)
                    rc = must_dataset_writer_add_file(w, must_dataset_id(unl, idx),
                                                      split_of[idx], img, &lab, err);
                free(img);
                must_labels_free(&lab);
            }
            if (rc)
                goto part_fail;
            done += b->n;
            pl_progress_step(&pr, done, must_dataset_name(unl), done / (pl_now() - t0 + 1e-9));
        }
        must_loader_free(L);
        L = NULL;
        rc = must_dataset_writer_commit(w, err);
        w = NULL;
    part_fail:
        if (w)
            must_dataset_writer_abort(w);
        must_loader_free(L);
        free(dir);
        free(ini);
    }
    pl_progress_end(&pr);
    free(split_of);
    must_ctx_free(ctx);
out:
    free_models(models, nm);
    return rc;
}
