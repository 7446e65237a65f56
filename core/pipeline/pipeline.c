/* pipeline.c - the public face of a run (must/pipeline.h): opening one,
 * its events, and the stages in order. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/checkpoint.h"
#include "must/io.h"
#include "base/dist-impl.h"
#include "run-impl.h"

static const char *const stage_names[MUST_NSTAGES] = {"teachers", "label", "student",
                                                      "transfer", "report"};

const char *must_stage_name(int stage)
{
    return stage >= 0 && stage < MUST_NSTAGES ? stage_names[stage] : NULL;
}

int must_stage_parse(const char *name)
{
    for (int s = 0; name && s < MUST_NSTAGES; s++)
        if (strcmp(stage_names[s], name) == 0)
            return s;
    return -1;
}

int must_run_open(const must_experiment *e, const char *dir, must_run **out, must_err *err)
{
    *out = NULL;
    if (!e || !dir || !*dir)
        return must_err_set(err, MUST_EINVAL, "must_run_open: no experiment or no directory");
    run_state *r;
    int rc = run_state_new(e, dir, &r, err);
    if (!rc)
        rc = run_needs_compute(r, err);
    if (rc) {
        run_state_free(r);
        return rc;
    }
    run_hash_inputs(r);
    if (e->nseeds && (rc = run_seeds_open(r, err))) {
        must_run_close(r);
        return rc;
    }
    *out = r;
    return MUST_OK;
}

void must_run_close(must_run *r)
{
    if (!r)
        return;
    run_seeds_close(r);
    run_unlock(r);
    run_state_free(r);
}

int must_run_lock(must_run *r, must_err *err)
{
    return run_lock(r, err);
}

void must_run_set_events(must_run *r, must_event_fn fn, void *user)
{
    r->events.fn = fn;
    r->events.user = user;
    for (int i = 0; i < r->nseed_runs; i++)
        must_run_set_events(r->seed_runs[i], fn, user);
}

const char *must_run_dir(const must_run *r)
{
    return r->out;
}

void must_run_set_readonly(must_run *r, int on)
{
    r->readonly = on;
    for (int i = 0; i < r->nseed_runs; i++)
        r->seed_runs[i]->readonly = on;
}

/* With seeds = ...: fn on each seed's run in turn, said first. */
static int each_seed(must_run *r, int (*fn)(must_run *, void *, must_err *), void *arg,
                     must_err *err)
{
    int rc = run_lock(r, err);
    for (int i = 0; i < r->nseed_runs && !rc; i++) {
        pl_say(&r->events, "[seed %ld] %d of %d: %s", r->e->seeds[i], i + 1, r->nseed_runs,
               r->seed_runs[i]->out);
        rc = fn(r->seed_runs[i], arg, err);
    }
    return rc;
}

int must_run_record(must_run *r, must_err *err)
{
    int rc = run_lock(r, err);
    if (rc)
        return rc;
    int mine = run_rank0_begin();
    char *cfg = mine ? must_path_join(r->out, "experiment.ini") : NULL;
    if (mine && !(rc = must_mkdir_p(r->out, err)))
        rc = cfg ? must_file_write_atomic(cfg, r->e->text, strlen(r->e->text), err)
                 : must_err_set(err, MUST_ENOMEM, "out of memory");
    free(cfg);
    return run_rank0_end(mine, rc, err);
}

typedef struct plan_arg {
    int verbose, todo;
} plan_arg;

static int plan_one(must_run *r, void *arg, must_err *err)
{
    plan_arg *a = arg;
    int n = 0, rc = must_run_plan(r, a->verbose, &n, err);
    a->todo += n;
    return rc;
}

int must_run_plan(must_run *r, int verbose, int *todo, must_err *err)
{
    if (r->nseed_runs) {
        plan_arg a = {verbose, 0};
        int rc = each_seed(r, plan_one, &a, err);
        if (todo)
            *todo = a.todo;
        return rc;
    }
    int rc = run_needs_check(r, err);
    if (!rc)
        rc = run_check_inits(r, err);
    if (rc)
        return rc;
    int left = run_plan(r, verbose);
    if (todo)
        *todo = left;
    return MUST_OK;
}

static int stage_one(must_run *r, void *arg, must_err *err)
{
    return must_run_stage(r, *(int *)arg, err);
}

int must_run_stage(must_run *r, int stage, must_err *err)
{
    const must_experiment *e = r->e;
    int rc = MUST_OK;
    if (stage < MUST_STAGE_ALL || stage >= MUST_NSTAGES)
        return must_err_set(err, MUST_EINVAL, "must_run_stage: no stage %d", stage);
    if (r->nseed_runs) {
        rc = each_seed(r, stage_one, &stage, err);
        if (!rc && (stage == MUST_STAGE_ALL || stage == MUST_STAGE_REPORT))
            rc = run_seeds_report(r, err);
        return rc;
    }
    if ((rc = run_lock(r, err)))
        return rc;
    int all = stage == MUST_STAGE_ALL;
    if (all) {
        run_plan(r, 0);
        r->clock.total = run_plan_work(r);
        r->clock.done = 0;
        r->clock.t0 = pl_now();
        r->events.clock = &r->clock;
    }
    if (all || stage == MUST_STAGE_STUDENT)
        rc = run_needs_check(r, err);
    if (!rc)
        rc = run_check_inits(r, err);
    if (!rc && (all || stage == MUST_STAGE_TRANSFER || stage == MUST_STAGE_REPORT))
        rc = run_check_files(r, err);
    /* A whole run does what its [compare] rows need; a stage asked for by
     * name does all of its units. */
    if (!rc && (all || stage == MUST_STAGE_TEACHERS))
        for (int t = 0; t < e->nteachers && !rc; t++)
            if (!all || r->need_teacher[t])
                rc = run_teacher(r, t, err);
    if (!rc && (all || stage == MUST_STAGE_LABEL))
        rc = run_labels(r, all, err);
    if (!rc && (all || stage == MUST_STAGE_STUDENT))
        rc = run_students(r, all, err);
    if (!rc && stage == MUST_STAGE_TRANSFER)
        rc = run_transfers(r, err);
    if (!rc && (all || stage == MUST_STAGE_REPORT))
        rc = run_report(r, err);
    r->events.clock = NULL;
    return rc;
}

/* A unit asked for by name that is done already gets a word, not
 * silence. */
static int teacher_one(must_run *r, void *arg, must_err *err)
{
    return must_run_teacher(r, *(int *)arg, err);
}

int must_run_teacher(must_run *r, int t, must_err *err)
{
    if (r->nseed_runs)
        return each_seed(r, teacher_one, &t, err);
    if (t < 0 || t >= r->e->nteachers)
        return must_err_set(err, MUST_EINVAL, "%s has no teacher %d", r->e->file, t);
    const char *name = r->e->teachers[t].name;
    int rc = run_lock(r, err);
    if (rc)
        return rc;
    if (run_done_at(r, r->teacher_hash[t], "teachers", name, NULL)) {
        pl_say(&r->events, "[teacher %s] done already, with these settings: %s/teachers/%s", name,
               r->out, name);
        return MUST_OK;
    }
    return run_teacher(r, t, err);
}

static int label_one(must_run *r, void *arg, must_err *err)
{
    (void)arg;
    return must_run_label(r, err);
}

int must_run_label(must_run *r, must_err *err)
{
    if (r->nseed_runs)
        return each_seed(r, label_one, NULL, err);
    int rc = run_lock(r, err);
    if (rc)
        return rc;
    int todo[RUN_NUNIT_KINDS], all[RUN_NUNIT_KINDS];
    run_plan_count(r, todo, all);
    if (r->e->label.ndata && !todo[RUN_U_LABEL] && all[RUN_U_LABEL] == r->e->label.ndata)
        pl_say(&r->events, "[label] every set is labelled already, with these settings: %s/label",
               r->out);
    return run_labels(r, 0, err);
}

static int students_one(must_run *r, void *arg, must_err *err)
{
    (void)arg;
    return must_run_students(r, err);
}

int must_run_students(must_run *r, must_err *err)
{
    if (r->nseed_runs)
        return each_seed(r, students_one, NULL, err);
    const must_experiment *e = r->e;
    int rc = run_lock(r, err);
    if (rc)
        return rc;
    int left = 0;
    for (int i = 0; i < run_nmulti(e); i++) {
        const must_exp_student *s = run_multi_at(e, i);
        char nm[MUST_EXP_NAME_MAX + 16];
        run_multi_dirname(e, s, nm, sizeof nm);
        left |= run_multi_given(e, s) && !run_done_at(r, run_hash_multi(r, s), nm, NULL, NULL);
    }
    if (!left)
        pl_say(&r->events, "[student] every student is trained already, with these settings: %s",
               r->out);
    return run_students(r, 0, err);
}

/* Rank 0's part of must_run_eval: the model on the split. */
static int eval_here(must_run *r, const char *model, int task, must_dataset *ds, int split,
                     must_metric *out, int max, must_err *err)
{
    const must_experiment *e = r->e;
    pl_model m = {0};
    pl_head h = {&e->tasks[task], ds};
    int rc = pl_model_new(e, &h, 1, &m, err);
    if (!rc)
        rc = pl_model_load(&m, model, err);
    double v[64];
    if (!rc)
        rc = pl_evaluate(e, &m, 0, ds, split, v, err);
    int n = 0;
    for (int k = 0; !rc && k < must_task_nmetrics(m.task[0]) && k < 64 && n < max; k++, n++) {
        snprintf(out[n].name, sizeof out[n].name, "%s", must_task_metric_name(m.task[0], k));
        out[n].value = v[k];
        out[n].lower_better = must_task_metric_lower_better(m.task[0], k);
    }
    if (m.bb)
        pl_model_free(&m);
    return rc ? rc : n;
}

int must_run_eval(must_run *r, const char *model, int task, int data, int split,
                  must_metric *out, int max, must_err *err)
{
    const must_experiment *e = r->e;
    if (task < 0 || task >= e->ntasks || data < 0 || data >= e->ndata)
        return must_err_set(err, MUST_EINVAL, "%s has no task %d or no data set %d", e->file,
                            task, data);
    /* Over several ranks the set is rendered by all of them (when it must
     * be); one evaluation is rank 0's: a plugin's evaluator cannot merge
     * the states of several processes (docs/scale-out.md). */
    must_dataset *ds;
    int rc = run_dataset(r, data, &ds, err);
    if (rc)
        return rc;
    int mine = run_rank0_begin();
    int n = mine ? eval_here(r, model, task, ds, split, out, max, err) : 0;
    if ((rc = run_rank0_end(mine, n < 0 ? n : MUST_OK, err)))
        return rc;
    if ((rc = must_dist_bcast(&n, sizeof n, "sharing the metrics", err)) ||
        (rc = must_dist_bcast(out, (size_t)n * sizeof *out, "sharing the metrics", err)))
        return rc;
    return n;
}
