/* trainer.c - one backbone, a set of task heads, one optimizer, a loader over
 * a union of sets: L = sum_i w_i L_i (or, learned, sum_i exp(-s_i) L_i + s_i:
 * must/weighting.h), each example counting for the tasks it has labels of
 * (the loader's has[] bits; the plugins mask the rest).
 *
 * Resume is exact for the same thread count: a batch depends only on
 * (seed, epoch, index), so the trainer restarts the loader at the epoch of
 * the saved step and skips the batches already used; the checkpoint holds
 * the weights, BN statistics and optimizer state. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "must/checkpoint.h"
#include "must/io.h"
#include "must/labels.h"
#include "must/ops.h"
#include "must/optim.h"
#include "must/weighting.h"
#include "pipeline-impl.h"

double pl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t pl_hash(uint64_t h, const char *s)
{
    if (!h)
        h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    h ^= 0xff; /* a separator, so that "ab"+"c" differs from "a"+"bc" */
    h *= 1099511628211ull;
    return h;
}

/* ------------------------------------------------------------------------ */
/* Progress. */

void pl_progress_start(pl_progress *p, const char *stage, long total, long start)
{
    p->stage = stage;
    p->total = total;
    p->t0 = pl_now();
    p->tty = isatty(STDOUT_FILENO);
    p->every = total / 10 > 0 ? total / 10 : 1;
    p->start = start;
}

static void fmt_time(double s, char *buf, size_t len)
{
    if (s < 0 || !isfinite(s))
        snprintf(buf, len, "?");
    else if (s < 60)
        snprintf(buf, len, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, len, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, len, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

void pl_progress_step(pl_progress *p, long step, const char *detail, double ips)
{
    if (!p->tty && step % p->every && step != p->total)
        return;
    double el = pl_now() - p->t0;
    char eta[32];
    long done = step - p->start;
    fmt_time(ips > 0 && done > 0 ? el / (double)done * (double)(p->total - step) : -1, eta,
             sizeof eta);
    if (p->tty)
        printf("\r\033[K[%s] %ld/%ld %s | %.1f img/s ETA %s", p->stage, step, p->total, detail,
               ips, eta);
    else
        printf("[%s] %ld/%ld %s | %.1f img/s ETA %s\n", p->stage, step, p->total, detail, ips,
               eta);
    fflush(stdout);
}

void pl_progress_end(pl_progress *p)
{
    if (p->tty) {
        printf("\n");
        fflush(stdout);
    }
}

/* ------------------------------------------------------------------------ */
/* The model. */

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

/* ------------------------------------------------------------------------ */
/* Evaluation. */

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

/* ------------------------------------------------------------------------ */
/* The loss curves: kept in memory, written whole (atomically) with every
 * checkpoint, so the CSV always matches the checkpoint beside it. */

typedef struct csvbuf {
    char *s;
    size_t len, cap;
} csvbuf;

static int csv_add(csvbuf *c, const char *line)
{
    size_t n = strlen(line);
    if (c->len + n + 1 > c->cap) {
        size_t nc = (c->cap ? 2 * c->cap : 4096) + n;
        char *ns = realloc(c->s, nc);
        if (!ns)
            return MUST_ENOMEM;
        c->s = ns;
        c->cap = nc;
    }
    memcpy(c->s + c->len, line, n + 1);
    c->len += n;
    return MUST_OK;
}

/* Keeps the header and the rows of steps < upto from an earlier run. */
static int csv_reload(csvbuf *c, const char *path, long upto)
{
    char *text;
    size_t len;
    must_err e = {0};
    if (!must_file_exists(path) || must_file_read(path, &text, &len, &e))
        return MUST_OK;
    int first = 1, rc = MUST_OK;
    for (char *line = text, *next; line && *line && rc == MUST_OK; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        char row[8192];
        snprintf(row, sizeof row, "%s\n", line);
        if (first || atol(line) <= upto)
            rc = csv_add(c, row);
        first = 0;
    }
    free(text);
    return rc;
}

/* The first tensor (parameter or buffer) holding a NaN or Inf, or NULL: a
 * checkpoint is only written from finite weights, so that the last one on
 * disk is always a good one to resume from. */
static const char *nonfinite_tensor(must_params *const *sets, int n)
{
    for (int s = 0; s < n; s++)
        for (int i = 0; i < must_params_count(sets[s]); i++) {
            const must_tensor *t = must_params_get(sets[s], i);
            for (size_t k = 0; k < t->numel; k++)
                if (!isfinite(t->data[k]))
                    return t->name;
        }
    return NULL;
}

/* "'seg' 0.5, 'depth' 1.2": every task's loss, for messages. */
static void loss_text(const pl_model *m, const double *lval, char *buf, size_t len)
{
    size_t u = 0;
    buf[0] = '\0';
    for (int i = 0; i < m->ntasks && u < len; i++)
        u += (size_t)snprintf(buf + u, len - u, "%s'%s' %g", i ? ", " : "",
                              must_task_name(m->task[i]), lval[i]);
}

static int save(const must_experiment *e, must_params *const *sets, int nsets,
                const must_optim *opt, const char *path, long step, const csvbuf *csv,
                const char *csv_path, must_err *err)
{
    must_ckpt_save_opts so = {0};
    so.optim = opt;
    so.config = e->text;
    so.step = step;
    /* The curve first: a kill between the two writes then leaves a CSV
     * ahead of the checkpoint, which a resume trims to the checkpoint's step
     * (csv_reload); the other order left a checkpoint ahead of its curve,
     * and the resumed CSV lacked the steps in between. */
    int rc = csv ? must_file_write_atomic(csv_path, csv->s, csv->len, err) : MUST_OK;
    if (!rc)
        rc = must_ckpt_save(path, sets, nsets, &so, err);
    return rc;
}

int pl_train(const must_experiment *e, pl_model *m, const pl_train_opts *o, must_err *err)
{
    const must_exp_train *tr = o->train;
    char *resume = must_path_join(o->dir, "resume.safetensors");
    char *final = must_path_join(o->dir, "model.safetensors");
    char *csv_path = must_path_join(o->dir, "loss.csv");
    must_ctx *ctx = must_ctx_new(e->threads);
    must_optim *opt = NULL;
    must_loader *L = NULL;
    csvbuf csv = {0};
    long start = 0, last_saved = -1;
    int rc = MUST_OK;
    /* The model's sets, then (learned weighting) the log-variances: trained
     * and saved for resume with the model, left out of the final weights,
     * which are a representation. */
    must_params *lv = NULL, *sets[PL_MAX_TASKS + 2];
    int nsets = m->nsets;
    memcpy(sets, m->sets, (size_t)m->nsets * sizeof *sets);
    if (!resume || !final || !csv_path || !ctx) {
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = must_mkdir_p(o->dir, err)))
        goto out;
    if (o->log_var0) {
        const char *names[PL_MAX_TASKS];
        for (int i = 0; i < m->ntasks; i++)
            names[i] = must_task_name(m->task[i]);
        if (!(lv = must_weighting_params(m->ntasks, names, o->log_var0, err))) {
            rc = err && err->code ? err->code : MUST_EINVAL;
            goto out;
        }
        sets[nsets++] = lv;
    }
    must_optim_config oc = tr->optim;
    oc.threads = e->threads;
    oc.total_steps = tr->steps;
    if (!(opt = must_optim_new(&oc, sets, nsets, err))) {
        rc = err && err->code ? err->code : MUST_EINVAL;
        goto out;
    }
    if (must_file_exists(resume)) {
        must_ckpt_load_opts lo = {0};
        lo.optim = opt;
        must_ckpt_report rep = {0};
        if ((rc = must_ckpt_load(resume, sets, nsets, &lo, &rep, err))) {
            must_err_prefix(err, "%s: resuming", o->stage);
            goto out;
        }
        start = rep.step > 0 ? rep.step : 0;
        last_saved = start;
        must_ckpt_report_free(&rep);
        if (start > tr->steps)
            start = tr->steps;
        if ((rc = csv_reload(&csv, csv_path, start)))
            goto oom;
        printf("[%s] resuming at step %ld of %ld\n", o->stage, start, tr->steps);
    }
    if (csv.len == 0) {
        char head[1024] = "step,lr,loss";
        size_t u = strlen(head);
        for (int i = 0; i < m->ntasks; i++)
            u += (size_t)snprintf(head + u, sizeof head - u, ",%s", must_task_name(m->task[i]));
        for (int i = 0; lv && i < m->ntasks; i++)
            u += (size_t)snprintf(head + u, sizeof head - u, ",weight_%s",
                                  must_task_name(m->task[i]));
        snprintf(head + u, sizeof head - u, "\n");
        if (csv_add(&csv, head))
            goto oom;
    }

    must_loader_opts lo;
    pl_loader_train(e, tr, o->sampling, o->seed, &lo);
    if ((rc = must_loader_new(o->sets, o->nsets, &lo, &L, err)))
        goto out;
    uint64_t bpe = must_loader_batches_per_epoch(L);
    if (bpe == 0) {
        rc = must_err_set(err, MUST_EINVAL, "%s: the training sets give no full batch of %d",
                          o->stage, tr->batch);
        goto out;
    }
    if ((uint64_t)start >= bpe) {
        must_loader_free(L);
        L = NULL;
        lo.first_epoch = (uint64_t)start / bpe;
        if ((rc = must_loader_new(o->sets, o->nsets, &lo, &L, err)))
            goto out;
    }
    const must_batch *b;
    for (uint64_t k = 0; k < (uint64_t)start % bpe; k++)
        if ((rc = must_loader_next(L, &b, err)) != 1)
            goto loader_end;

    int mi = 0;
    while (mi < o->nmilestones && o->milestones[mi] <= start)
        mi++;
    pl_progress pr;
    pl_progress_start(&pr, o->stage, tr->steps, start);
    double t_last = pl_now();
    long images = 0;
    for (long step = start; step < tr->steps; step++) {
        if ((rc = must_loader_next(L, &b, err)) != 1)
            goto loader_end;
        must_ctx_reset(ctx);
        must_ctx_set_training(ctx, 1);
        must_ctx_set_grad(ctx, 1);
        for (int s = 0; s < nsets; s++)
            must_params_zero_grad(sets[s]);
        void *preds[PL_MAX_TASKS];
        double lval[PL_MAX_TASKS], wval[PL_MAX_TASKS];
        must_tensor *total = NULL, *ls[PL_MAX_TASKS];
        if (pl_model_forward(m, ctx, b, preds)) {
            rc = must_err_set(err, MUST_EINVAL, "%s: step %ld: %s", o->stage, step + 1,
                              must_ctx_error(ctx)->msg);
            goto out;
        }
        for (int i = 0; i < m->ntasks; i++) {
            must_tensor *l = must_task_loss(m->task[i], ctx, preds[i], b, NULL);
            if (!l) {
                rc = must_err_set(err, MUST_EINVAL, "%s: step %ld: %s", o->stage, step + 1,
                                  must_ctx_error(ctx)->msg);
                goto out;
            }
            lval[i] = l->data[0];
            if (!isfinite(lval[i])) {
                rc = must_err_set(err, MUST_ENUMERIC,
                                  "%s: the loss of task '%s' is %g at step %ld; stopped, the "
                                  "last good checkpoint (step %ld) is %s",
                                  o->stage, must_task_name(m->task[i]), lval[i], step + 1,
                                  last_saved, last_saved >= 0 ? resume : "(none yet)");
                goto out;
            }
            ls[i] = l;
            /* The weight this step's loss uses (learned: before the update). */
            wval[i] = lv ? must_weighting_weight(lv, i) : o->weights[i];
            if (!lv) {
                must_tensor *wl = must_op_scale(ctx, l, (float)o->weights[i]);
                total = total ? must_op_add(ctx, total, wl) : wl;
            }
        }
        if (lv)
            total = must_weighting_total(ctx, m->ntasks, ls, lv);
        if (!total || must_ctx_error(ctx)->code) {
            rc = must_err_set(err, MUST_EINVAL, "%s: step %ld: %s", o->stage, step + 1,
                              must_ctx_error(ctx)->code ? must_ctx_error(ctx)->msg : "no tasks");
            goto out;
        }
        if ((total->flags & MUST_T_REQ_GRAD) && (rc = must_backward(ctx, total))) {
            rc = must_err_set(err, rc, "%s: step %ld: backward: %s", o->stage, step + 1,
                              must_ctx_error(ctx)->msg);
            goto out;
        }
        must_optim_report orp;
        if ((rc = must_optim_step(opt, &orp, err))) {
            if (rc == MUST_ENUMERIC) {
                /* Finite losses, non-finite gradients: name every task's
                 * loss, as the culprit cannot be told apart. */
                char ltxt[1024];
                loss_text(m, lval, ltxt, sizeof ltxt);
                rc = must_err_set(err, MUST_ENUMERIC,
                                  "%s: the gradients are not finite at step %ld (the loss of "
                                  "%s); stopped, the last good checkpoint (step %ld) is %s",
                                  o->stage, step + 1, ltxt, last_saved,
                                  last_saved >= 0 ? resume : "(none yet)");
            } else
                must_err_prefix(err, "%s: step %ld; stopped, the last good checkpoint (step "
                                     "%ld) is %s",
                                o->stage, step + 1, last_saved,
                                last_saved >= 0 ? resume : "(none yet)");
            goto out;
        }
        images += b->n;
        char row[2048], detail[1024] = "";
        size_t u = (size_t)snprintf(row, sizeof row, "%ld,%.6g,%.6g", step + 1, orp.lr,
                                    (double)total->data[0]);
        size_t du = 0;
        for (int i = 0; i < m->ntasks; i++) {
            u += (size_t)snprintf(row + u, sizeof row - u, ",%.6g", lval[i]);
            du += (size_t)snprintf(detail + du, sizeof detail - du, "%s%s %.4f", i ? " " : "",
                                   must_task_name(m->task[i]), lval[i]);
        }
        for (int i = 0; lv && i < m->ntasks; i++) {
            u += (size_t)snprintf(row + u, sizeof row - u, ",%.6g", wval[i]);
            du += (size_t)snprintf(detail + du, sizeof detail - du, "%s%.3g",
                                   i ? " " : " | weights ", wval[i]);
        }
        snprintf(row + u, sizeof row - u, "\n");
        if (csv_add(&csv, row))
            goto oom;
        double now = pl_now();
        pl_progress_step(&pr, step + 1, detail, images / (now - t_last + 1e-9));
        if (mi < o->nmilestones && o->milestones[mi] == step + 1) {
            if ((rc = o->at_milestone(o->user, step + 1, m, err)))
                goto out;
            mi++;
        }
        int ckpt = (step + 1) % tr->checkpoint_every == 0 && step + 1 < tr->steps;
        const char *bad = ckpt || step + 1 == tr->steps ? nonfinite_tensor(sets, nsets) : NULL;
        if (bad) {
            char ltxt[1024];
            loss_text(m, lval, ltxt, sizeof ltxt);
            rc = must_err_set(err, MUST_ENUMERIC,
                              "%s: %s is not finite after step %ld (the loss of %s); stopped, "
                              "the last good checkpoint (step %ld) is %s",
                              o->stage, bad, step + 1, ltxt, last_saved,
                              last_saved >= 0 ? resume : "(none yet)");
            goto out;
        }
        if (ckpt) {
            if ((rc = save(e, sets, nsets, opt, resume, step + 1, &csv, csv_path, err)))
                goto out;
            last_saved = step + 1;
        }
    }
    pl_progress_end(&pr);
    if (lv) {
        printf("[%s] learned loss weights:", o->stage);
        for (int i = 0; i < m->ntasks; i++)
            printf(" %s %.4g", must_task_name(m->task[i]), must_weighting_weight(lv, i));
        printf("\n");
    }
    /* The final weights carry no optimizer state: they are a representation. */
    if ((rc = save(e, m->sets, m->nsets, NULL, final, tr->steps, &csv, csv_path, err)))
        goto out;
    remove(resume);
    rc = MUST_OK;
    goto out;
loader_end:
    if (rc == 0)
        rc = must_err_set(err, MUST_EINVAL, "%s: the loader ended early", o->stage);
    goto out;
oom:
    rc = must_err_set(err, MUST_ENOMEM, "out of memory");
out:
    free(csv.s);
    must_loader_free(L);
    must_optim_free(opt);
    must_params_free(lv);
    must_ctx_free(ctx);
    free(resume);
    free(final);
    free(csv_path);
    return rc;
}
