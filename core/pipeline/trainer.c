/* trainer.c - one backbone, a set of task heads, one optimizer, a loader over
 * a union of sets: L = sum_i w_i L_i (or, learned, sum_i exp(-s_i) L_i + s_i:
 * must/weighting.h), each example counting for the tasks it has labels of
 * (the loader's has[] bits; the plugins mask the rest).
 *
 * Resume is exact for the same thread count: a batch depends only on
 * (seed, epoch, index), so the trainer restarts the loader at the epoch of
 * the saved step and skips the batches already used; the checkpoint holds
 * the weights, BN statistics and optimizer state.
 *
 * Over N MPI ranks (mpirun; dp.c, docs/scale-out.md) each rank takes its
 * slice of the global batch one process would take; each task's loss is
 * weighed by the rank's share of what the whole batch counts, the
 * gradients are averaged, and rank 0 alone writes the checkpoints and
 * curves, which hold the one model every rank has; so a checkpoint made
 * with N ranks resumes with any number. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "must/checkpoint.h"
#include "must/io.h"
#include "must/labels.h"
#include "must/ops.h"
#include "must/optim.h"
#include "must/weighting.h"
#include "base/dist-impl.h"
#include "engine/engine-impl.h"
#include "pipeline-impl.h"

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

/* Seconds since the epoch, for the event files' wall_time. */
static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The unit's event file beside its curve (tensorboard = true). */
typedef struct tbfile {
    pl_tb tb;
    char *path;     /* NULL: no event file */
} tbfile;

static int save(const must_experiment *e, must_params *const *sets, int nsets,
                const must_optim *opt, const char *path, long step, const csvbuf *csv,
                const char *csv_path, const char *card, const tbfile *tb, must_err *err)
{
    if (!must_dist_writer())
        return MUST_OK; /* over several ranks rank 0 writes the one model they share */
    must_ckpt_save_opts so = {0};
    so.optim = opt;
    so.config = e->text;
    so.step = step;
    so.model = card;
    /* The curve first: a kill between the two writes then leaves a CSV
     * ahead of the checkpoint, which a resume trims to the checkpoint's step
     * (csv_reload); the other order left a checkpoint ahead of its curve,
     * and the resumed CSV lacked the steps in between. */
    int rc = csv ? must_file_write_atomic(csv_path, csv->s, csv->len, err) : MUST_OK;
    if (!rc && tb && tb->path)
        rc = pl_tb_write(&tb->tb, tb->path, err);
    if (!rc)
        rc = must_ckpt_save(path, sets, nsets, &so, err);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Training, in named steps over one state. */

typedef struct trainer {
    const must_experiment *e;
    pl_model *m;
    const pl_train_opts *o;
    char *resume, *final, *csv_path;
    must_ctx *ctx;
    must_optim *opt;
    must_loader *L;
    /* The model's sets, then (learned weighting) the log-variances: trained
     * and saved for resume with the model, left out of the final weights,
     * which are a representation. */
    must_params *lv, *sets[PL_MAX_TASKS + 2];
    int nsets;
    csvbuf csv;
    long start, last_saved;
    char *card;     /* the model card every checkpoint carries */
    tbfile tb;
    int dp, rank;   /* ranks training together (1: one process), and this one */
    char what[160]; /* "teacher seg: step 12", naming the step's collectives */
} trainer;

/* What one step computed. */
typedef struct step_out {
    double lval[PL_MAX_TASKS]; /* each task's loss */
    double wval[PL_MAX_TASKS]; /* the weight it had (learned: before the update) */
    double total, lr;
    int stop;       /* over several ranks: some rank was asked to stop */
} step_out;

static void trainer_free(trainer *t)
{
    free(t->csv.s);
    must_loader_free(t->L);
    must_optim_free(t->opt);
    must_params_free(t->lv);
    must_ctx_free(t->ctx);
    free(t->resume);
    free(t->final);
    free(t->csv_path);
    free(t->card);
    pl_tb_free(&t->tb.tb);
    free(t->tb.path);
}

/* Paths, the context, the learned weights' parameters, the optimizer. */
static int trainer_init(trainer *t, must_err *err)
{
    const pl_train_opts *o = t->o;
    pl_model *m = t->m;
    t->resume = must_path_join(o->dir, "resume.safetensors");
    t->final = must_path_join(o->dir, "model.safetensors");
    t->csv_path = must_path_join(o->dir, "loss.csv");
    t->ctx = must_ctx_new(t->e->threads);
    t->card = pl_card_json(m);
    t->last_saved = -1;
    if (t->e->tensorboard && !(t->tb.path = must_path_join(o->dir, PL_TB_FILE)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    t->nsets = m->nsets;
    memcpy(t->sets, m->sets, (size_t)m->nsets * sizeof *t->sets);
    if (!t->resume || !t->final || !t->csv_path || !t->ctx || !t->card)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    t->dp = pl_dp_size();
    t->rank = pl_dp_rank();
    if (t->dp > 1 && o->train->batch % t->dp) {
        must_dist_set_agreed();
        return must_err_set(err, MUST_EINVAL, "%s: a batch of %d does not split over %d ranks: "
                            "give a batch that %d divides", o->stage, o->train->batch, t->dp,
                            t->dp);
    }
    must_ctx_set_sync_bn(t->ctx, o->train->sync_bn);
    int rc = must_dist_writer() ? must_mkdir_p(o->dir, err) : MUST_OK;
    if (rc)
        return rc;
    if (o->log_var0) {
        const char *names[PL_MAX_TASKS];
        for (int i = 0; i < m->ntasks; i++)
            names[i] = must_task_name(m->task[i]);
        if (!(t->lv = must_weighting_params(m->ntasks, names, o->log_var0, err)))
            return err && err->code ? err->code : MUST_EINVAL;
        t->sets[t->nsets++] = t->lv;
    }
    must_optim_config oc = o->train->optim;
    oc.threads = t->e->threads;
    oc.total_steps = o->train->steps;
    if (!(t->opt = must_optim_new(&oc, t->sets, t->nsets, err)))
        return err && err->code ? err->code : MUST_EINVAL;
    return MUST_OK;
}

/* Picks up dir/resume.safetensors and the curve up to its step.  Over
 * several ranks rank 0 reads it and every rank starts from rank 0's state,
 * resumed or fresh (dp.c). */
static int trainer_resume(trainer *t, must_err *err)
{
    const pl_train_opts *o = t->o;
    long here[2] = {must_dist_writer() && must_file_exists(t->resume), 0};
    int rc = MUST_OK;
    if (here[0]) {
        must_ckpt_load_opts lo = {0};
        lo.optim = t->opt;
        must_ckpt_report rep = {0};
        if ((rc = must_ckpt_load(t->resume, t->sets, t->nsets, &lo, &rep, err)))
            must_err_prefix(err, "%s: resuming", o->stage);
        here[1] = rep.step > 0 ? rep.step : 0;
        must_ckpt_report_free(&rep);
    }
    if (!(rc = must_dist_agree(rc, err)) &&
        !(rc = must_dist_bcast(here, sizeof here, "sharing the step to resume at", err)))
        rc = pl_dp_bcast_state(t->sets, t->nsets, t->opt, NULL, err);
    if (rc || !here[0])
        return rc;
    t->start = here[1];
    t->last_saved = t->start;
    if (t->start > o->train->steps)
        t->start = o->train->steps;
    if (csv_reload(&t->csv, t->csv_path, t->start) ||
        (t->tb.path && pl_tb_reload(&t->tb.tb, t->tb.path, t->start)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    pl_say(o->out, "[%s] resuming at step %ld of %ld", o->stage, t->start, o->train->steps);
    return MUST_OK;
}

/* step,lr,loss,TASK...[,weight_TASK...] */
static int trainer_csv_header(trainer *t, must_err *err)
{
    if (t->tb.path && t->tb.tb.len == 0 && pl_tb_version(&t->tb.tb, wall_now()))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    if (t->csv.len)
        return MUST_OK;
    char head[1024] = "step,lr,loss";
    size_t u = strlen(head);
    for (int i = 0; i < t->m->ntasks; i++)
        u += (size_t)snprintf(head + u, sizeof head - u, ",%s", must_task_name(t->m->task[i]));
    for (int i = 0; t->lv && i < t->m->ntasks; i++)
        u += (size_t)snprintf(head + u, sizeof head - u, ",weight_%s",
                              must_task_name(t->m->task[i]));
    snprintf(head + u, sizeof head - u, "\n");
    return csv_add(&t->csv, head) ? must_err_set(err, MUST_ENOMEM, "out of memory") : MUST_OK;
}

/* The loader, at the batch that follows step `start`: a batch depends only
 * on (seed, epoch, index), so it starts at the saved step's epoch and skips
 * the batches of that epoch already used. */
static int trainer_loader(trainer *t, must_err *err)
{
    const pl_train_opts *o = t->o;
    must_loader_opts lo;
    pl_loader_train(t->e, o->train, o->sampling, o->seed, &lo);
    if (t->dp > 1) {
        /* This rank's slice of each global batch (must/sampler.h). */
        lo.batch = o->train->batch / t->dp;
        lo.sampler.rank = t->rank;
        lo.sampler.world = t->dp;
    }
    /* Self-supervised training: images only, each twice in its batch. */
    if (o->views == 2) {
        lo.views = 2;
        lo.batch *= 2;
    }
    if (o->aug)
        lo.aug = *o->aug;
    if (o->images_only)
        lo.tasks = MUST_LOADER_IMAGES_ONLY;
    int rc = must_loader_new(o->sets, o->nsets, &lo, &t->L, err);
    if (rc)
        return rc;
    uint64_t bpe = must_loader_batches_per_epoch(t->L);
    if (bpe == 0)
        return must_err_set(err, MUST_EINVAL, "%s: the training sets give no full batch of %d",
                            o->stage, o->train->batch);
    if ((uint64_t)t->start >= bpe) {
        must_loader_free(t->L);
        t->L = NULL;
        lo.first_epoch = (uint64_t)t->start / bpe;
        if ((rc = must_loader_new(o->sets, o->nsets, &lo, &t->L, err)))
            return rc;
    }
    const must_batch *b;
    for (uint64_t k = 0; k < (uint64_t)t->start % bpe; k++)
        if ((rc = must_loader_next(t->L, &b, err)) != 1)
            return rc ? rc : must_err_set(err, MUST_EINVAL, "%s: the loader ended early",
                                          o->stage);
    return MUST_OK;
}

/* "stopped, the last good checkpoint (step N) is PATH" */
static const char *last_good(const trainer *t)
{
    return t->last_saved >= 0 ? t->resume : "(none yet)";
}

/* Over several ranks: each task's loss l_r is this rank's mean over its
 * slice, counting c_r (positions, pixels, examples: what the loss op
 * divides by).  One process takes the mean over the whole batch, in which
 * rank r's mean weighs c_r / C (C: the sum over the ranks); so l_r is
 * scaled by N c_r / C before backward, and the mean of the ranks'
 * gradients is the whole batch's gradient, also where ranks count
 * differently (ignored pixels, examples without the task's labels).  A
 * task whose loss is not one engine loss op on every rank (detection's
 * sum of four; a plugin's own op) cannot be weighed so: its ranks' means
 * count alike, as in PyTorch's DDP.  The same collective gives every
 * rank the whole batch's losses and whether some rank was asked to stop. */
static int dp_losses(trainer *t, long step, const double *cnt, const int *ops, step_out *so,
                     must_tensor **ls, must_err *err)
{
    int T = t->m->ntasks, N = t->dp;
    double v[4 * PL_MAX_TASKS + 1];
    for (int i = 0; i < T; i++) {
        int one = ops[i] == 1;
        v[i] = one ? cnt[i] : 0.0;
        v[T + i] = one;
        v[2 * T + i] = one ? cnt[i] * so->lval[i] : 0.0;
        v[3 * T + i] = so->lval[i];
    }
    v[4 * T] = pl_interrupted();
    snprintf(t->what, sizeof t->what, "%s: step %ld", t->o->stage, step + 1);
    int rc = must_dist_sum_d(v, 4 * (size_t)T + 1, t->what, err);
    for (int i = 0; i < T && !rc; i++) {
        double alpha = 1.0, C = v[i];
        if (v[T + i] == N) {
            alpha = C > 0 ? N * cnt[i] / C : 0.0;
            so->lval[i] = C > 0 ? v[2 * T + i] / C : 0.0;
        } else {
            so->lval[i] = v[3 * T + i] / N;
        }
        if (alpha != 1.0 && !(ls[i] = must_op_scale(t->ctx, ls[i], (float)alpha)))
            rc = must_err_set(err, MUST_EINVAL, "%s: %s", t->what, must_ctx_error(t->ctx)->msg);
    }
    so->stop = v[4 * T] > 0;
    return rc;
}

/* Forward, every task's loss, their weighted sum. */
static int step_losses(trainer *t, long step, const must_batch *b, step_out *so,
                       must_tensor **total, must_err *err)
{
    const pl_train_opts *o = t->o;
    pl_model *m = t->m;
    void *preds[PL_MAX_TASKS];
    must_tensor *ls[PL_MAX_TASKS];
    double cnt[PL_MAX_TASKS];
    int ops[PL_MAX_TASKS], rc;
    *total = NULL;
    if (pl_model_forward(m, t->ctx, b, preds))
        return must_err_set(err, MUST_EINVAL, "%s: step %ld: %s", o->stage, step + 1,
                            must_ctx_error(t->ctx)->msg);
    for (int i = 0; i < m->ntasks; i++) {
        must_ctx_loss_take(t->ctx, &cnt[i]);
        must_tensor *l = must_task_loss(m->task[i], t->ctx, preds[i], b, NULL);
        if (!l)
            return must_err_set(err, MUST_EINVAL, "%s: step %ld: %s", o->stage, step + 1,
                                must_ctx_error(t->ctx)->msg);
        ops[i] = must_ctx_loss_take(t->ctx, &cnt[i]);
        so->lval[i] = l->data[0];
        ls[i] = l;
    }
    if (t->dp > 1 && (rc = dp_losses(t, step, cnt, ops, so, ls, err)))
        return rc;
    for (int i = 0; i < m->ntasks; i++) {
        must_tensor *l = ls[i];
        if (!isfinite(so->lval[i])) {
            if (t->dp > 1)
                must_dist_set_agreed(); /* the whole batch's loss: the same everywhere */
            return must_err_set(err, MUST_ENUMERIC,
                                "%s: the loss of task '%s' is %g at step %ld; stopped, the "
                                "last good checkpoint (step %ld) is %s",
                                o->stage, must_task_name(m->task[i]), so->lval[i], step + 1,
                                t->last_saved, last_good(t));
        }
        so->wval[i] = t->lv ? must_weighting_weight(t->lv, i) : o->weights[i];
        if (!t->lv) {
            must_tensor *wl = must_op_scale(t->ctx, l, (float)o->weights[i]);
            *total = *total ? must_op_add(t->ctx, *total, wl) : wl;
        }
    }
    if (t->lv)
        *total = must_weighting_total(t->ctx, m->ntasks, ls, t->lv);
    if (!*total || must_ctx_error(t->ctx)->code)
        return must_err_set(err, MUST_EINVAL, "%s: step %ld: %s", o->stage, step + 1,
                            must_ctx_error(t->ctx)->code ? must_ctx_error(t->ctx)->msg
                                                         : "no tasks");
    return MUST_OK;
}

/* Over several ranks, after backward: the gradients' mean, and the whole
 * batch's total loss (the mean of the ranks' weighted totals). */
static int dp_gradients(trainer *t, step_out *so, must_err *err)
{
    int rc = pl_dp_average_grads(t->sets, t->nsets, t->what, err);
    if (!rc)
        rc = must_dist_sum_d(&so->total, 1, t->what, err);
    so->total /= t->dp;
    return rc;
}

/* One optimizer step on batch b: the losses, backward, the update. */
static int train_step(trainer *t, long step, const must_batch *b, step_out *so, must_err *err)
{
    const pl_train_opts *o = t->o;
    must_ctx_reset(t->ctx);
    must_ctx_set_training(t->ctx, 1);
    must_ctx_set_grad(t->ctx, 1);
    for (int s = 0; s < t->nsets; s++)
        must_params_zero_grad(t->sets[s]);
    must_tensor *total;
    int rc = step_losses(t, step, b, so, &total, err);
    if (rc)
        return rc;
    if ((total->flags & MUST_T_REQ_GRAD) && (rc = must_backward(t->ctx, total)))
        return must_err_set(err, rc, "%s: step %ld: backward: %s", o->stage, step + 1,
                            must_ctx_error(t->ctx)->msg);
    so->total = total->data[0];
    if (t->dp > 1 && (rc = dp_gradients(t, so, err)))
        return rc;
    must_optim_report orp;
    if ((rc = must_optim_step(t->opt, &orp, err))) {
        if (t->dp > 1)
            must_dist_set_agreed(); /* the same gradients on every rank */
        if (rc == MUST_ENUMERIC) {
            /* Finite losses, non-finite gradients: name every task's loss,
             * as the culprit cannot be told apart. */
            char ltxt[1024];
            loss_text(t->m, so->lval, ltxt, sizeof ltxt);
            return must_err_set(err, MUST_ENUMERIC,
                                "%s: the gradients are not finite at step %ld (the loss of "
                                "%s); stopped, the last good checkpoint (step %ld) is %s",
                                o->stage, step + 1, ltxt, t->last_saved, last_good(t));
        }
        must_err_prefix(err, "%s: step %ld; stopped, the last good checkpoint (step %ld) is %s",
                        o->stage, step + 1, t->last_saved, last_good(t));
        return rc;
    }
    so->lr = orp.lr;
    /* Batch norm per rank: the running statistics, averaged, stay equal. */
    if (t->dp > 1 && !o->train->sync_bn)
        return pl_dp_average_buffers(t->sets, t->nsets, t->what, err);
    return MUST_OK;
}

/* The step's scalars for TensorBoard: the total loss, the learning rate,
 * each task's loss and learned weight, tagged as loss.csv names them. */
static int tb_step(trainer *t, long step, const step_out *so)
{
    double w = wall_now();
    int rc = pl_tb_scalar(&t->tb.tb, w, step, "loss", (float)so->total);
    if (!rc)
        rc = pl_tb_scalar(&t->tb.tb, w, step, "lr", (float)so->lr);
    for (int i = 0; i < t->m->ntasks && !rc; i++) {
        char tag[96];
        snprintf(tag, sizeof tag, "loss/%s", must_task_name(t->m->task[i]));
        rc = pl_tb_scalar(&t->tb.tb, w, step, tag, (float)so->lval[i]);
        if (!rc && t->lv) {
            snprintf(tag, sizeof tag, "weight/%s", must_task_name(t->m->task[i]));
            rc = pl_tb_scalar(&t->tb.tb, w, step, tag, (float)so->wval[i]);
        }
    }
    return rc;
}

/* The step's row of the curve, and its progress event. */
static int record_step(trainer *t, long step, const step_out *so, double ips, pl_progress *pr,
                       must_err *err)
{
    pl_model *m = t->m;
    char row[2048], detail[1024] = "";
    size_t u = (size_t)snprintf(row, sizeof row, "%ld,%.6g,%.6g", step + 1, so->lr, so->total);
    size_t du = 0;
    for (int i = 0; i < m->ntasks; i++) {
        u += (size_t)snprintf(row + u, sizeof row - u, ",%.6g", so->lval[i]);
        du += (size_t)snprintf(detail + du, sizeof detail - du, "%s%s %.4f", i ? " " : "",
                               must_task_name(m->task[i]), so->lval[i]);
    }
    for (int i = 0; t->lv && i < m->ntasks; i++) {
        u += (size_t)snprintf(row + u, sizeof row - u, ",%.6g", so->wval[i]);
        du += (size_t)snprintf(detail + du, sizeof detail - du, "%s%s %.3g",
                               i ? " " : " | weights ", must_task_name(m->task[i]), so->wval[i]);
    }
    snprintf(row + u, sizeof row - u, "\n");
    if (csv_add(&t->csv, row) || (t->tb.path && tb_step(t, step + 1, so)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    pl_progress_step(pr, step + 1, detail, ips);
    return MUST_OK;
}

/* After step `step`: a checkpoint every checkpoint_every steps, from finite
 * weights only (a weight gone bad stops the run first). */
static int after_step(trainer *t, long step, const step_out *so, must_err *err)
{
    const must_exp_train *tr = t->o->train;
    int ckpt = (step + 1) % tr->checkpoint_every == 0 && step + 1 < tr->steps;
    const char *bad = ckpt || step + 1 == tr->steps ? nonfinite_tensor(t->sets, t->nsets) : NULL;
    if (bad && t->dp > 1)
        must_dist_set_agreed(); /* the ranks' weights are the same (pl_dp_check) */
    if (bad) {
        char ltxt[1024];
        loss_text(t->m, so->lval, ltxt, sizeof ltxt);
        return must_err_set(err, MUST_ENUMERIC,
                            "%s: %s is not finite after step %ld (the loss of %s); stopped, "
                            "the last good checkpoint (step %ld) is %s",
                            t->o->stage, bad, step + 1, ltxt, t->last_saved, last_good(t));
    }
    if (!ckpt)
        return MUST_OK;
    int rc = pl_dp_check(t->sets, t->nsets, t->opt, t->o->stage, step + 1, err);
    if (!rc)
        rc = save(t->e, t->sets, t->nsets, t->opt, t->resume, step + 1, &t->csv, t->csv_path,
                  t->card, &t->tb, err);
    if (!rc)
        t->last_saved = step + 1;
    return rc;
}

/* An interrupt: the checkpoint of the step reached (unless it has one),
 * and an error that says how to go on. */
static int stop_here(trainer *t, long step, must_err *err)
{
    int rc = MUST_OK;
    if (t->last_saved != step &&
        !(rc = save(t->e, t->sets, t->nsets, t->opt, t->resume, step, &t->csv, t->csv_path,
                    t->card, &t->tb, err)))
        t->last_saved = step;
    if (rc)
        return rc;
    if (t->dp > 1)
        must_dist_set_agreed(); /* every rank stops at this step (dp_losses) */
    return must_err_set(err, MUST_EINTR,
                        "%s: stopped on request at step %ld of %ld, saved in %s; the same "
                        "command resumes from there",
                        t->o->stage, step, t->o->train->steps, t->resume);
}

/* The steps from start to the end, milestones on the way. */
static int trainer_loop(trainer *t, must_err *err)
{
    const pl_train_opts *o = t->o;
    int mi = 0, rc = MUST_OK;
    while (mi < o->nmilestones && o->milestones[mi] <= t->start)
        mi++;
    pl_progress pr;
    pl_progress_start(&pr, o->out, o->stage, o->train->steps, t->start, o->train->batch);
    double t_last = pl_now();
    long images = 0;
    for (long step = t->start; step < o->train->steps; step++) {
        const must_batch *b;
        step_out so;
        if ((rc = must_loader_next(t->L, &b, err)) != 1)
            return rc ? rc : must_err_set(err, MUST_EINVAL, "%s: the loader ended early",
                                          o->stage);
        if ((rc = train_step(t, step, b, &so, err)))
            return rc;
        images += (long)(b->views == 2 ? b->n / 2 : b->n) * t->dp; /* images, not views */
        if ((rc = record_step(t, step, &so, images / (pl_now() - t_last + 1e-9), &pr, err)))
            return rc;
        if (mi < o->nmilestones && o->milestones[mi] == step + 1) {
            if ((rc = o->at_milestone(o->user, step + 1, t->m, err)))
                return rc;
            mi++;
        }
        if ((rc = after_step(t, step, &so, err)))
            return rc;
        if ((t->dp > 1 ? so.stop : pl_interrupted()) && step + 1 < o->train->steps)
            return stop_here(t, step + 1, err);
    }
    pl_progress_end(&pr);
    return MUST_OK;
}

/* Over several ranks: how much of the training loop the collectives took
 * (waiting for the slowest rank included), for docs/scale-out.md's model. */
static void dp_say_stats(const trainer *t, double t0)
{
    must_dist_stats st;
    must_dist_get_stats(&st);
    double el = pl_now() - t0;
    long steps = t->o->train->steps - t->start;
    pl_say(t->o->out, "[%s] %d ranks: %.1f%% of %.2f s in collectives (%ld calls, %.2f MB per "
           "rank and step)", t->o->stage, t->dp, el > 0 ? 100.0 * st.seconds / el : 0.0, el,
           st.calls, steps > 0 ? st.bytes / 1e6 / (double)steps : 0.0);
}

int pl_train(const must_experiment *e, pl_model *m, const pl_train_opts *o, must_err *err)
{
    trainer t = {0};
    t.e = e;
    t.m = m;
    t.o = o;
    int rc = trainer_init(&t, err);
    if (!rc)
        rc = trainer_resume(&t, err);
    if (!rc)
        rc = trainer_csv_header(&t, err);
    if (!rc)
        rc = trainer_loader(&t, err);
    double t0 = pl_now();
    must_dist_reset_stats();
    if (!rc)
        rc = trainer_loop(&t, err);
    if (!rc && t.dp > 1)
        dp_say_stats(&t, t0);
    if (!rc && t.lv) {
        char line[1024];
        size_t u = (size_t)snprintf(line, sizeof line, "[%s] learned loss weights:", o->stage);
        for (int i = 0; i < m->ntasks && u < sizeof line; i++)
            u += (size_t)snprintf(line + u, sizeof line - u, " %s %.4g",
                                  must_task_name(m->task[i]), must_weighting_weight(t.lv, i));
        pl_say(o->out, "%s", line);
    }
    /* The final weights carry no optimizer state: they are a representation. */
    if (!rc)
        rc = pl_dp_check(t.sets, t.nsets, t.opt, o->stage, o->train->steps, err);
    if (!rc && !(rc = save(e, m->sets, m->nsets, NULL, t.final, o->train->steps, &t.csv,
                           t.csv_path, t.card, &t.tb, err)) && must_dist_writer())
        remove(t.resume);
    trainer_free(&t);
    return rc;
}
