/* needs.c - which units a whole run needs.  With downstream tasks, a run
 * is for its [compare] rows: a representation needs its teacher or its
 * student, a student the pseudo labels of the sets it takes, a labelled
 * set every labelling teacher.  Units no row needs are neither planned nor
 * run (`--stage` still runs a whole stage when asked).  Without downstream
 * tasks every unit the file defines is wanted. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "run-impl.h"

/* Marks a student section and what it reads: its teachers' labelled sets
 * (the heads take their classes; the baseline trains on them), its extra
 * sets and, for a MuST student, the pseudo labels of the sets it takes. */
static void need_multi(run_state *r, const must_exp_student *s)
{
    const must_experiment *e = r->e;
    if (s == &e->simclr) {
        r->need_simclr = 1;
        for (int i = 0; i < s->ndata; i++)
            r->need_data[s->data[i]] = 1;
        return; /* images alone: no teachers, no labels */
    }
    for (int i = 0; i < s->nteachers; i++)
        r->need_data[e->teachers[s->teachers[i]].data] = 1;
    for (int i = 0; i < s->nextra; i++)
        r->need_data[s->extra[i]] = 1;
    if (s == &e->multitask) {
        r->need_multitask = 1;
        return; /* the baseline reads the teachers' labelled sets, not their models */
    }
    if (s == &e->student)
        r->need_student = 1;
    else
        r->need_variant[s - e->variants] = 1;
    for (int li = 0; li < e->label.ndata; li++)
        if (run_multi_takes(s, e, li)) {
            r->need_label[li] = 1;
            r->need_data[e->label.data[li]] = 1;
            for (int i = 0; i < e->label.nteachers; i++)
                r->need_teacher[e->label.teachers[i]] = 1;
        }
}

/* Marks the model a needed unit starts from (init = ...); 1 when that
 * was news. */
static int need_init(run_state *r, const must_exp_rep *init)
{
    const must_experiment *e = r->e;
    if (init->kind == MUST_REP_TEACHER && !r->need_teacher[init->teacher]) {
        r->need_teacher[init->teacher] = 1;
        r->need_data[e->teachers[init->teacher].data] = 1;
        return 1;
    }
    if (init->kind == MUST_REP_STUDENT || init->kind == MUST_REP_MULTITASK ||
        init->kind == MUST_REP_SIMCLR) {
        const must_exp_student *st = must_exp_rep_student(e, init);
        if (!run_needs_multi(r, st)) {
            need_multi(r, st);
            return 1;
        }
    }
    return 0;
}

/* Until nothing changes: a starting point can have one of its own. */
static void need_inits(run_state *r)
{
    const must_experiment *e = r->e;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int t = 0; t < e->nteachers; t++)
            if (r->need_teacher[t])
                changed |= need_init(r, &e->teachers[t].init);
        if (r->need_student)
            changed |= need_init(r, &e->student.init);
        for (int v = 0; v < e->nvariants; v++)
            if (r->need_variant[v])
                changed |= need_init(r, &e->variants[v].init);
        if (r->need_multitask && e->multitask.enabled)
            changed |= need_init(r, &e->multitask.init);
        if (r->need_simclr && e->simclr.enabled)
            changed |= need_init(r, &e->simclr.init);
    }
}

int run_needs_compute(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    r->need_teacher = calloc((size_t)e->nteachers + 1, 1);
    r->need_label = calloc((size_t)e->label.ndata + 1, 1);
    r->need_variant = calloc((size_t)e->nvariants + 1, 1);
    r->need_data = calloc((size_t)e->ndata + 1, 1);
    if (!r->need_teacher || !r->need_label || !r->need_variant || !r->need_data)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    if (e->ntransfers == 0) {
        memset(r->need_data, 1, (size_t)e->ndata);
        memset(r->need_teacher, 1, (size_t)e->nteachers);
        memset(r->need_label, 1, (size_t)e->label.ndata);
        memset(r->need_variant, 1, (size_t)e->nvariants);
        r->need_student = 1;
        r->need_multitask = e->multitask.enabled;
        r->need_simclr = e->simclr.enabled;
        return MUST_OK;
    }
    for (int ti = 0; ti < e->ntransfers; ti++)
        r->need_data[e->transfers[ti].data] = 1;
    for (int ri = 0; ri < e->nreps; ri++) {
        const must_exp_rep *rep = &e->reps[ri];
        if (rep->kind == MUST_REP_STUDENT || rep->kind == MUST_REP_MULTITASK ||
            rep->kind == MUST_REP_SIMCLR)
            need_multi(r, must_exp_rep_student(e, rep));
    }
    /* Every teacher needed, by a row or by the labels, reads its set. */
    for (int ri = 0; ri < e->nreps; ri++)
        if (e->reps[ri].kind == MUST_REP_TEACHER)
            r->need_teacher[e->reps[ri].teacher] = 1;
    for (int t = 0; t < e->nteachers; t++)
        if (r->need_teacher[t])
            r->need_data[e->teachers[t].data] = 1;
    need_inits(r);
    return MUST_OK;
}

int run_needs_multi(const run_state *r, const must_exp_student *s)
{
    const must_experiment *e = r->e;
    if (s == &e->multitask)
        return r->need_multitask && e->multitask.enabled;
    if (s == &e->simclr)
        return r->need_simclr && e->simclr.enabled;
    if (s == &e->student)
        return r->need_student;
    return r->need_variant[s - e->variants];
}

/* A wanted student with no tasks or nothing to train on is a mistake in
 * the file: said before anything runs (an empty file would otherwise plan
 * one student and fail only when it starts). */
static int check_multi(const run_state *r, const must_exp_student *s, must_err *err)
{
    const must_experiment *e = r->e;
    char name[MUST_EXP_NAME_MAX + 16];
    run_multi_dirname(e, s, name, sizeof name);
    if (!run_needs_multi(r, s) || s == &e->simclr)
        return MUST_OK; /* [simclr]'s task and sets are checked as the file is read */
    if (s->nteachers == 0)
        return must_err_set(err, MUST_EINVAL, "%s: [%s] has no tasks: the experiment has no "
                                              "[teacher.X] sections", e->file, name);
    int sets = s->nextra;
    if (s == &e->multitask)
        sets += s->nteachers;
    else
        for (int li = 0; li < e->label.ndata; li++)
            sets += run_multi_takes(s, e, li);
    if (sets == 0)
        return must_err_set(err, MUST_EINVAL, "%s: [%s] has no datasets to train on: give "
                                              "[label] data = ... (or extra = ...)", e->file,
                            name);
    return MUST_OK;
}

int run_needs_check(const run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int rc = check_multi(r, &e->student, err);
    for (int i = 0; !rc && i < e->nvariants; i++)
        rc = check_multi(r, &e->variants[i], err);
    if (!rc && e->multitask.enabled)
        rc = check_multi(r, &e->multitask, err);
    return rc;
}
