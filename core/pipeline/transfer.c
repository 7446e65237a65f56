/* transfer.c - one representation fine-tuned end to end on one downstream
 * task, over a sweep of learning rates and step counts; the point is
 * chosen on the val split and reported on test.  A representation is
 * random init, a teacher, a student, the multi-task baseline or a file.
 * Over several MPI ranks the cells (representation x downstream task) are
 * spread over the ranks, each trained and evaluated by one rank alone
 * (run_transfers_spread). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault-impl.h"
#include "must/checkpoint.h"
#include "must/io.h"
#include "base/dist-impl.h"
#include "run-impl.h"

void run_rep_dirname(const must_exp_rep *rep, char *buf, size_t len)
{
    if (rep->kind == MUST_REP_FILE) {
        /* A path makes a poor folder name: the file's stem and a short
         * hash of the whole path, so that two model.safetensors differ. */
        const char *base = strrchr(rep->path, '/');
        base = base ? base + 1 : rep->path;
        const char *dot = strrchr(base, '.');
        int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
        snprintf(buf, len, "file-%.*s-%08x", stem > 48 ? 48 : stem, base,
                 (unsigned)(pl_hash(0, rep->path) >> 32));
    } else {
        snprintf(buf, len, "%s", rep->label);
    }
    for (char *c = buf; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            *c = '-';
}

void run_lr_dirname(const must_exp_transfer *tr, int li, char *buf, size_t len)
{
    int clash = 0;
    char a[40], b[40];
    snprintf(a, sizeof a, "%g", tr->lrs[li]);
    for (int j = 0; j < tr->nlr && !clash; j++) {
        snprintf(b, sizeof b, "%g", tr->lrs[j]);
        clash = j != li && strcmp(a, b) == 0;
    }
    if (clash)
        snprintf(buf, len, "lr-%.17g", tr->lrs[li]);
    else
        snprintf(buf, len, "lr-%s", a);
}


typedef struct sweep_ctx {
    const must_experiment *e;
    int ti;
    must_dataset *ds;
    const char *dir;
    int nmetrics;
} sweep_ctx;

/* Saves val and test metrics after `step` updates, as one line each. */
/* The weights after `step` updates, kept until the sweep has chosen: the
 * chosen point's become the unit's model.safetensors (keep_chosen). */
static int save_snapshot(const char *dir, long step, const pl_model *m, must_err *err)
{
    char name[64];
    snprintf(name, sizeof name, "model-%ld.safetensors", step);
    char *path = must_path_join(dir, name), *card = pl_card_json(m);
    must_ckpt_save_opts so = {0};
    so.step = step;
    so.model = card;
    int rc = path && card ? must_ckpt_save(path, m->sets, m->nsets, &so, err)
                          : must_err_set(err, MUST_ENOMEM, "out of memory");
    free(path);
    free(card);
    return rc;
}

static int at_milestone(void *user, long step, pl_model *m, must_err *err)
{
    sweep_ctx *c = user;
    double val[64], test[64];
    /* The snapshot first: a milestone whose eval file is there has its
     * weights too. */
    int rc = save_snapshot(c->dir, step, m, err);
    if (!rc)
        rc = pl_evaluate(c->e, m, 0, c->ds, MUST_SPLIT_VAL, val, err);
    if (!rc)
        rc = pl_evaluate(c->e, m, 0, c->ds, MUST_SPLIT_TEST, test, err);
    if (rc)
        return rc;
    char name[64], text[4096];
    size_t u = (size_t)snprintf(text, sizeof text, "metrics");
    for (int i = 0; i < c->nmetrics; i++)
        u += (size_t)snprintf(text + u, sizeof text - u, " %s", must_task_metric_name(m->task[0], i));
    u += (size_t)snprintf(text + u, sizeof text - u, "\n");
    for (int i = 0; i < c->nmetrics; i++)
        u += (size_t)snprintf(text + u, sizeof text - u, "%s%.9g", i ? " " : "val ", val[i]);
    u += (size_t)snprintf(text + u, sizeof text - u, "\n");
    for (int i = 0; i < c->nmetrics; i++)
        u += (size_t)snprintf(text + u, sizeof text - u, "%s%.9g", i ? " " : "test ", test[i]);
    u += (size_t)snprintf(text + u, sizeof text - u, "\n");
    snprintf(name, sizeof name, "eval-%ld.txt", step);
    char *p = must_path_join(c->dir, name);
    rc = p ? must_file_write_atomic(p, text, u, err)
           : must_err_set(err, MUST_ENOMEM, "out of memory");
    free(p);
    return rc;
}

int run_read_eval(const char *dir, long step, int nm, double *val, double *test)
{
    char name[64];
    snprintf(name, sizeof name, "eval-%ld.txt", step);
    char *p = must_path_join(dir, name), *text = NULL;
    size_t len;
    must_err e = {0};
    int rc = p && must_file_read(p, &text, &len, &e) == MUST_OK ? MUST_OK : MUST_ENOTFOUND;
    free(p);
    if (rc)
        return rc;
    char *s = text;
    if (strncmp(s, "metrics", 7) == 0 && strchr(s, '\n'))
        s = strchr(s, '\n') + 1; /* the metrics' names */
    if (strncmp(s, "val ", 4))
        rc = MUST_EFORMAT;
    s += 4;
    for (int i = 0; i < nm && !rc; i++)
        val[i] = strtod(s, &s);
    s = strstr(s, "test ");
    if (!s)
        rc = MUST_EFORMAT;
    else
        s += 5;
    for (int i = 0; i < nm && !rc; i++)
        test[i] = strtod(s, &s);
    free(text);
    return rc;
}


/* Trains representation `src` (NULL: random init) at learning rate li of
 * transfer ti into ldir, saving val and test metrics at every milestone;
 * fills the metric names of res. */
static int sweep_lr(run_state *r, int ti, int li, const char *src, must_dataset *ds,
                    const char *what, const char *ldir, int finished, run_result *res,
                    int *nm, int *lower, must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_transfer *tr = &e->transfers[ti];
    pl_head head = {&e->tasks[tr->task], ds};
    pl_model m;
    int rc = pl_model_new(e, &head, 1, &m, err);
    if (rc)
        return rc;
    *nm = must_task_nmetrics(m.task[0]);
    *lower = must_task_metric_lower_better(m.task[0], 0);
    snprintf(res->metric, sizeof res->metric, "%s", must_task_metric_name(m.task[0], 0));
    for (int k = 0; k < *nm && k < RUN_MAX_METRICS; k++)
        snprintf(res->metric_names[k], sizeof res->metric_names[k], "%s",
                 must_task_metric_name(m.task[0], k));
    res->nmetrics = *nm < RUN_MAX_METRICS ? *nm : RUN_MAX_METRICS;
    char *model = must_path_join(ldir, "model.safetensors");
    if (!finished && !(model && must_file_exists(model))) {
        if (src && (rc = pl_model_load_backbone(&m, src, err))) {
            must_err_prefix(err, "%s", what);
        } else {
            must_exp_train t = tr->train;
            t.optim.lr = tr->lrs[li];
            sweep_ctx sc = {e, ti, ds, ldir, *nm};
            char stage[300];
            snprintf(stage, sizeof stage, "%s lr %g", what, tr->lrs[li]);
            pl_train_opts o = {0};
            double w = 1;
            o.stage = stage;
            o.dir = ldir;
            o.train = &t;
            o.weights = &w;
            o.sets = &ds;
            o.nsets = 1;
            o.seed = pl_hash(e->seed + 3, tr->name);
            o.milestones = tr->steps;
            o.nmilestones = tr->nsteps;
            o.at_milestone = at_milestone;
            o.user = &sc;
            o.out = &r->events;
            rc = pl_train(e, &m, &o, err);
        }
    }
    free(model);
    pl_model_free(&m);
    return rc;
}

/* The best point so far of a sweep, chosen on val. */
typedef struct best_point {
    int lr, step; /* indices; lr < 0: none yet */
    double val;
} best_point;

/* Reads learning rate li's metrics at every milestone and keeps the best. */
static int choose(const must_exp_transfer *tr, int li, const char *ldir, const char *what,
                  int nm, int lower, best_point *best, run_result *res, must_err *err)
{
    for (int si = 0; si < tr->nsteps; si++) {
        double val[64], test[64];
        if (run_read_eval(ldir, tr->steps[si], nm, val, test))
            return must_err_set(err, MUST_EFORMAT, "%s: eval-%ld.txt missing or bad in %s",
                                what, tr->steps[si], ldir);
        int better = best->lr < 0 || (lower ? val[0] < best->val : val[0] > best->val);
        if (better) {
            best->val = val[0];
            best->lr = li;
            best->step = si;
            res->val = val[0];
            res->test = test[0];
            for (int k = 0; k < res->nmetrics; k++)
                res->test_all[k] = test[k];
        }
    }
    return MUST_OK;
}

/* The chosen point's weights become dir/model.safetensors; the other
 * snapshots go.  A rerun after a kill between the two finds the model
 * there already. */
static int keep_chosen(const char *dir, const must_exp_transfer *tr, const best_point *best,
                       must_err *err)
{
    char sub[160], lrd[64];
    run_lr_dirname(tr, best->lr, lrd, sizeof lrd);
    snprintf(sub, sizeof sub, "%s/model-%ld.safetensors", lrd, tr->steps[best->step]);
    char *from = must_path_join(dir, sub), *to = must_path_join(dir, "model.safetensors");
    int rc = from && to ? MUST_OK : must_err_set(err, MUST_ENOMEM, "out of memory");
    /* Counted by the MUST_FAULT hook like an atomic file's rename. */
    if (!rc && !must_file_exists(to) && must_fault_rename(from, to) != 0)
        rc = must_err_set(err, MUST_EIO, "%s: cannot keep the chosen model (rename from %s): %s",
                          to, from, strerror(errno));
    for (int li = 0; li < tr->nlr && !rc; li++)
        for (int si = 0; si < tr->nsteps; si++) {
            run_lr_dirname(tr, li, lrd, sizeof lrd);
            snprintf(sub, sizeof sub, "%s/model-%ld.safetensors", lrd, tr->steps[si]);
            char *p = must_path_join(dir, sub);
            if (p)
                remove(p);
            free(p);
        }
    free(from);
    free(to);
    return rc;
}

int run_transfer_one(run_state *r, int ri, int ti, run_result *res, must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_transfer *tr = &e->transfers[ti];
    char repdir[160];
    run_rep_dirname(&e->reps[ri], repdir, sizeof repdir);
    char *dir = run_path(r, "transfer", repdir, tr->name);
    char *src = NULL;
    uint64_t rh = 0;
    must_dataset *ds;
    memset(res, 0, sizeof *res);
    int rc = dir ? MUST_OK : must_err_set(err, MUST_ENOMEM, "out of memory");
    if (rc || (rc = run_rep_source(r, &r->e->reps[ri], &src, &rh, err)) ||
        (rc = run_dataset(r, tr->data, &ds, err)))
        goto out;
    uint64_t h = run_hash_transfer(r, ti, rh);
    char what[256];
    snprintf(what, sizeof what, "transfer %s %s", e->reps[ri].label, tr->name);
    int finished = run_unit_done(dir, h);
    if (!finished && (rc = run_unit_begin(r, dir, h, what, err)))
        goto out;
    best_point best = {-1, -1, 0};
    int lower = 0, nm = 0;
    for (int li = 0; li < tr->nlr && !rc; li++) {
        char sub[64];
        run_lr_dirname(tr, li, sub, sizeof sub);
        char *ldir = must_path_join(dir, sub);
        if (!ldir)
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        else if (!(rc = sweep_lr(r, ti, li, src, ds, what, ldir, finished, res, &nm, &lower, err)))
            rc = choose(tr, li, ldir, what, nm, lower, &best, res, err);
        free(ldir);
    }
    if (rc)
        goto out;
    res->lr = tr->lrs[best.lr];
    res->steps = tr->steps[best.step];
    res->lower_better = lower;
    if (!finished && !(rc = keep_chosen(dir, tr, &best, err)))
        rc = run_unit_finish(dir, h, err);
out:
    free(src);
    free(dir);
    return rc;
}

int run_transfers_spread(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int n = must_dist_group_size(), me = must_dist_group_rank(), rc = MUST_OK;
    if (n <= 1)
        return MUST_OK;
    /* What every cell reads, made by all the ranks together first: the
     * representations (teachers and students train data-parallel) and the
     * downstream sets (rendered in shares). */
    for (int ri = 0; ri < e->nreps && !rc; ri++) {
        char *src = NULL;
        uint64_t h;
        rc = run_rep_source(r, &r->e->reps[ri], &src, &h, err);
        free(src);
    }
    for (int ti = 0; ti < e->ntransfers && !rc; ti++) {
        must_dataset *ds;
        rc = run_dataset(r, e->transfers[ti].data, &ds, err);
    }
    if (rc)
        return rc;
    /* Cell k on rank k mod n, which trains, evaluates and writes it alone:
     * no two ranks touch one cell's directory. */
    must_dist_solo_begin();
    for (int k = me; k < e->nreps * e->ntransfers && !rc; k += n) {
        run_result res;
        rc = run_transfer_one(r, k / e->ntransfers, k % e->ntransfers, &res, err);
    }
    must_dist_solo_end();
    return must_dist_agree(rc, err);
}

int run_transfers(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int rc = run_transfers_spread(r, err);
    for (int ri = 0; ri < e->nreps && !rc; ri++)
        for (int ti = 0; ti < e->ntransfers && !rc; ti++) {
            run_result res;
            rc = run_transfer_one(r, ri, ti, &res, err);
        }
    return rc;
}

int run_check_files(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int rc = MUST_OK;
    for (int ri = 0; ri < e->nreps && !rc; ri++) {
        const must_exp_rep *rep = &e->reps[ri];
        if (rep->kind != MUST_REP_FILE || e->ntransfers == 0)
            continue;
        if (!must_file_exists(rep->path)) {
            rc = must_err_set(err, MUST_ENOTFOUND,
                              "%s: [compare] representations: %s: no such file %s", e->file,
                              rep->label, rep->path);
            break;
        }
        pl_model m;
        if ((rc = pl_model_new(e, NULL, 0, &m, err)))
            break;
        if ((rc = pl_model_load_backbone(&m, rep->path, err)))
            must_err_prefix(err, "%s: [compare] representations: %s", e->file, rep->label);
        pl_model_free(&m);
    }
    return rc;
}

