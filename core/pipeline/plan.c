/* plan.c - what a run still has to do, from the same hashes the units
 * check (`must run --dry-run`): nothing is trained or written. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run-impl.h"

/* rep_source's hash without training anything; 0 when the representation
 * is not trained yet (its transfers are then all to do). */
static int rep_peek(run_state *r, int ri, uint64_t *h)
{
    const must_experiment *e = r->e;
    const must_exp_rep *rep = &e->reps[ri];
    switch (rep->kind) {
    case MUST_REP_RANDOM:
        *h = pl_hash(run_hash_common(e), "random");
        return 1;
    case MUST_REP_TEACHER:
        *h = r->teacher_hash[rep->teacher];
        return run_done_at(r, *h, "teachers", e->teachers[rep->teacher].name, NULL);
    case MUST_REP_MULTITASK:
    case MUST_REP_SIMCLR:
    case MUST_REP_STUDENT: {
        const must_exp_student *st = must_exp_rep_student(e, rep);
        char nm[MUST_EXP_NAME_MAX + 16];
        run_multi_dirname(e, st, nm, sizeof nm);
        return run_done_at(r, run_hash_multi(r, st), nm, NULL, NULL) &&
               run_hash_student_rep(r, nm, h);
    }
    case MUST_REP_FILE: {
        must_err e2 = {0};
        return run_hash_file_rep(rep->path, h, &e2) == MUST_OK;
    }
    }
    return 0;
}


/* What the walk adds up: units per kind, done or not, and the work left
 * in image-steps (a training step counts its batch; a labelled image a
 * third of one per teacher, as a forward pass is about a third of a step). */
typedef struct plan_acc {
    int todo[RUN_NUNIT_KINDS], all[RUN_NUNIT_KINDS];
    double work;
    int verbose;
} plan_acc;

/* Counts a unit of kind k (done or not) and, when verbose, says the
 * directory (under RUN) of one to do: a/b. */
static void plan_unit(const run_state *r, plan_acc *acc, int k, int done, double work,
                      const char *a, const char *b)
{
    acc->all[k]++;
    if (done)
        return;
    acc->todo[k]++;
    acc->work += work;
    if (acc->verbose)
        pl_say(&r->events, "  %s%s%s", a, b ? "/" : "", b ? b : "");
}

/* Images of [data.X] i, for the labelling's share of the work: the open
 * set's, else the world count asked for (0: a guess of the domains'). */
static double set_images(const run_state *r, int i)
{
    if (r->sets[i])
        return must_dataset_count(r->sets[i]);
    const must_exp_data *d = &r->e->data[i];
    return d->world && d->count ? d->count : 1000.0;
}

static double train_work(const must_exp_train *t)
{
    return (double)t->steps * (double)t->batch;
}

static void plan_walk(run_state *r, plan_acc *acc)
{
    const must_experiment *e = r->e;
    for (int i = 0; i < e->ndata; i++)
        if (e->data[i].world && r->need_data[i])
            plan_unit(r, acc, RUN_U_DATA,
                      run_done_at(r, r->data_hash[i], "data", e->data[i].name, NULL), 0, "data",
                      e->data[i].name);
    for (int t = 0; t < e->nteachers; t++)
        if (r->need_teacher[t])
            plan_unit(r, acc, RUN_U_TEACHER,
                      run_done_at(r, r->teacher_hash[t], "teachers", e->teachers[t].name, NULL),
                      train_work(&e->teachers[t].train), "teachers", e->teachers[t].name);
    for (int li = 0; li < e->label.ndata; li++) {
        if (!r->need_label[li])
            continue;
        const char *nm = e->data[e->label.data[li]].name;
        int done = run_done_at(r, run_hash_label(r, li, NULL), "label", nm, NULL);
        double work = set_images(r, e->label.data[li]) * e->label.nteachers / 3.0;
        plan_unit(r, acc, RUN_U_LABEL, done, work, "label", nm);
    }
    /* [student], every [student.NAME], then [multitask] and [simclr] when
     * given (a [simclr] step reads each image twice). */
    for (int i = 0; i < run_nmulti(e); i++) {
        const must_exp_student *st = run_multi_at(e, i);
        if (!run_needs_multi(r, st))
            continue;
        char nm[MUST_EXP_NAME_MAX + 16];
        run_multi_dirname(e, st, nm, sizeof nm);
        int done = run_done_at(r, run_hash_multi(r, st), nm, NULL, NULL);
        plan_unit(r, acc, RUN_U_STUDENT, done,
                  train_work(&st->train) * (st == &e->simclr ? 2 : 1), nm, NULL);
    }
    for (int ri = 0; ri < e->nreps; ri++) {
        uint64_t rh = 0;
        int ready = rep_peek(r, ri, &rh);
        char repdir[160];
        run_rep_dirname(&e->reps[ri], repdir, sizeof repdir);
        for (int ti = 0; ti < e->ntransfers; ti++) {
            const must_exp_transfer *tr = &e->transfers[ti];
            int done =
                ready && run_done_at(r, run_hash_transfer(r, ti, rh), "transfer", repdir, tr->name);
            char at[256];
            snprintf(at, sizeof at, "transfer/%s", repdir);
            plan_unit(r, acc, RUN_U_TRANSFER, done, train_work(&tr->train) * tr->nlr, at,
                      tr->name);
        }
    }
}

void run_plan_count(run_state *r, int todo[RUN_NUNIT_KINDS], int all[RUN_NUNIT_KINDS])
{
    plan_acc acc = {0};
    plan_walk(r, &acc);
    memcpy(todo, acc.todo, sizeof acc.todo);
    memcpy(all, acc.all, sizeof acc.all);
}

double run_plan_work(run_state *r)
{
    plan_acc acc = {0};
    plan_walk(r, &acc);
    return acc.work;
}

int run_plan(run_state *r, int verbose)
{
    const must_experiment *e = r->e;
    int todo[RUN_NUNIT_KINDS], all[RUN_NUNIT_KINDS];
    run_plan_count(r, todo, all);
    static const char *what[5] = {"data sets", "teachers", "label sets", "students",
                                  "transfer cells"};
    int left = todo[0] + todo[1] + todo[2] + todo[3] + todo[4];
    char line[1024];
    size_t u = (size_t)snprintf(line, sizeof line, "[run] %s into %s: ", e->name, r->out);
    if (!left)
        snprintf(line + u, sizeof line - u, "every unit is done; the report only");
    for (int k = 0, any = 0; k < 5 && left && u < sizeof line; k++)
        if (all[k]) {
            u += (size_t)snprintf(line + u, sizeof line - u, "%s%d of %d %s",
                                  any ? ", " : "to do ", todo[k], all[k], what[k]);
            any = 1;
        }
    pl_say(&r->events, "%s", line);
    if (verbose) {
        plan_acc acc = {0};
        acc.verbose = 1;
        plan_walk(r, &acc);
    }
    return left;
}

