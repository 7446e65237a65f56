/* units.c - the units that train and label: a teacher on its labelled set,
 * the pseudo labels of a [label] set from every labelling teacher, and
 * the students (and the supervised multi-task baseline) over a union of
 * sets.  Each unit trains what it reads first when that is not done. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "run-impl.h"

int run_rep_source(run_state *r, const must_exp_rep *rep, char **path, uint64_t *h,
                   must_err *err)
{
    const must_experiment *e = r->e;
    *path = NULL;
    int rc = MUST_OK;
    switch (rep->kind) {
    case MUST_REP_RANDOM:
        *h = pl_hash(run_hash_common(e), "random");
        return MUST_OK;
    case MUST_REP_TEACHER:
        rc = run_teacher(r, rep->teacher, err);
        *path = run_path(r, "teachers", e->teachers[rep->teacher].name, "model.safetensors");
        *h = r->teacher_hash[rep->teacher];
        break;
    case MUST_REP_MULTITASK:
    case MUST_REP_SIMCLR:
    case MUST_REP_STUDENT: {
        const must_exp_student *st = must_exp_rep_student(e, rep);
        char nm[MUST_EXP_NAME_MAX + 16];
        run_multi_dirname(e, st, nm, sizeof nm);
        rc = run_multi(r, st, err);
        *path = run_path(r, nm, "model.safetensors", NULL);
        if (!rc)
            run_hash_student_rep(r, nm, h);
        break;
    }
    case MUST_REP_FILE:
        *path = strdup(rep->path);
        rc = run_hash_file_rep(rep->path, h, err);
        break;
    }
    if (!rc && !*path)
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    return rc;
}

/* Trains what init names when it is not done and, with a model, loads its
 * weights into m's backbone and says so in the log. */
static int init_model(run_state *r, const must_exp_rep *init, pl_model *m, const char *what,
                      must_err *err)
{
    if (init->kind == MUST_REP_RANDOM)
        return MUST_OK;
    char *path = NULL;
    uint64_t h;
    int loaded = 0, fpn = 0;
    int rc = run_rep_source(r, init, &path, &h, err);
    if (!rc && m && (rc = pl_model_load_init(m, path, &loaded, &fpn, err)))
        must_err_prefix(err, "[%s] init = %s", what, init->label);
    if (!rc && m)
        pl_say(&r->events, "[%s] starts from %s: %d backbone tensors%s", what, init->label,
               loaded, fpn ? ", the FPN's kept at random init (the file has none)" : "");
    free(path);
    return rc;
}

/* An init file of a unit the run needs: there, and this backbone. */
static int check_init_file(run_state *r, const must_exp_rep *init, const char *sec,
                           must_err *err)
{
    const must_experiment *e = r->e;
    if (init->kind != MUST_REP_FILE)
        return MUST_OK;
    if (!must_file_exists(init->path))
        return must_err_set(err, MUST_ENOTFOUND, "%s: [%s] init: no such file %s", e->file, sec,
                            init->path);
    pl_model m;
    int loaded, fpn, rc = pl_model_new(e, NULL, 0, &m, err);
    if (rc)
        return rc;
    if ((rc = pl_model_load_init(&m, init->path, &loaded, &fpn, err)))
        must_err_prefix(err, "%s: [%s] init", e->file, sec);
    pl_model_free(&m);
    return rc;
}

int run_check_inits(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    char sec[MUST_EXP_NAME_MAX + 16];
    int rc = MUST_OK;
    for (int t = 0; t < e->nteachers && !rc; t++) {
        snprintf(sec, sizeof sec, "teacher.%s", e->teachers[t].name);
        if (r->need_teacher[t])
            rc = check_init_file(r, &e->teachers[t].init, sec, err);
    }
    for (int i = 0; i < run_nmulti(e) && !rc; i++) {
        const must_exp_student *s = run_multi_at(e, i);
        run_multi_dirname(e, s, sec, sizeof sec);
        if (run_needs_multi(r, s))
            rc = check_init_file(r, &s->init, sec, err);
    }
    return rc;
}

int run_teacher(run_state *r, int t, must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_teacher *tc = &e->teachers[t];
    char *dir = run_path(r, "teachers", tc->name, NULL);
    char what[128];
    snprintf(what, sizeof what, "teacher %s", tc->name);
    must_dataset *ds;
    int rc = dir ? MUST_OK : must_err_set(err, MUST_ENOMEM, "out of memory");
    if (rc || run_unit_done(dir, r->teacher_hash[t]))
        goto out;
    /* What it starts from is trained before this unit begins. */
    if ((rc = init_model(r, &tc->init, NULL, what, err)) ||
        (rc = run_dataset(r, tc->data, &ds, err)) ||
        (rc = run_unit_begin(r, dir, r->teacher_hash[t], what, err)))
        goto out;
    pl_model m;
    pl_head h = {&e->tasks[tc->task], ds};
    if ((rc = pl_model_new(e, &h, 1, &m, err)))
        goto out;
    if ((rc = init_model(r, &tc->init, &m, what, err))) {
        pl_model_free(&m);
        goto out;
    }
    double w = 1.0;
    pl_train_opts o = {0};
    o.stage = what;
    o.dir = dir;
    o.train = &tc->train;
    o.weights = &w;
    o.sets = &ds;
    o.nsets = 1;
    o.sampling = 0;
    o.seed = pl_hash(e->seed + 1, tc->name);
    o.out = &r->events;
    rc = pl_train(e, &m, &o, err);
    pl_model_free(&m);
    /* Its own score on its val split belongs to the unit, for the report
     * (rank 0's to compute and write). */
    run_tscore score;
    if (!rc) {
        int mine = run_rank0_begin();
        rc = run_rank0_end(mine, mine ? run_teacher_score(r, t, &score, err) : MUST_OK, err);
    }
    if (!rc)
        rc = run_unit_finish(dir, r->teacher_hash[t], err);
out:
    free(dir);
    return rc;
}

int run_label(run_state *r, int li, must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_data *d = &e->data[e->label.data[li]];
    char *dir = run_path(r, "label", d->name, NULL);
    uint64_t h = run_hash_label(r, li, NULL);
    char what[128];
    snprintf(what, sizeof what, "label %s", d->name);
    if (!dir)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    if (run_unit_done(dir, h)) {
        free(dir);
        return MUST_OK;
    }
    must_dataset *unl, *tsets[PL_MAX_TASKS];
    char *ckpt[PL_MAX_TASKS] = {0};
    int nt = e->label.nteachers, rc = MUST_OK;
    for (int i = 0; i < nt && rc == MUST_OK; i++) {
        int t = e->label.teachers[i];
        if ((rc = run_teacher(r, t, err)) ||
            (rc = run_dataset(r, e->teachers[t].data, &tsets[i], err)))
            break;
        ckpt[i] = run_path(r, "teachers", e->teachers[t].name, "model.safetensors");
    }
    if (!rc && !(rc = run_dataset(r, e->label.data[li], &unl, err)) &&
        !(rc = run_unit_begin(r, dir, h, what, err))) {
        pl_label_job job = {unl, e->label.teachers, nt, ckpt, tsets, dir, &r->events};
        rc = pl_label(e, &job, err);
    }
    /* The scores (quality.txt, in the unit's folder) before `done`: a
     * unit marked done is not entered again, so a score that failed to
     * be written after it would stay missing.  Rank 0 scores, the ranks
     * agree on the outcome. */
    run_quality q[PL_MAX_TASKS];
    int mine = 0;
    if (!rc) {
        mine = run_rank0_begin();
        if (mine)
            rc = run_quality_set(r, li, q, err);
        rc = run_rank0_end(mine, rc, err);
    }
    if (!rc)
        rc = run_unit_finish(dir, h, err);
    if (!rc && mine)
        run_quality_say(r, q, nt);
    for (int i = 0; i < nt; i++)
        free(ckpt[i]);
    free(dir);
    return rc;
}

int run_labels(run_state *r, int needed_only, must_err *err)
{
    int rc = MUST_OK;
    for (int li = 0; li < r->e->label.ndata && rc == MUST_OK; li++)
        if (!needed_only || r->need_label[li])
            rc = run_label(r, li, err);
    return rc;
}

/* A student section's heads, loss weights and training sets. */
typedef struct multi_inputs {
    must_dataset *sets[64];
    int nsets;
    pl_head heads[PL_MAX_TASKS];
    double w[PL_MAX_TASKS], s0[PL_MAX_TASKS];
} multi_inputs;

/* [simclr]: its one head and the sets whose images it reads. */
static int simclr_gather(run_state *r, const must_exp_student *s, multi_inputs *in,
                         must_err *err)
{
    int rc = MUST_OK;
    in->heads[0].spec = &r->e->tasks[s->task];
    in->heads[0].classes_from = NULL;
    in->w[0] = 1.0;
    for (int i = 0; i < s->ndata && !rc && in->nsets < 64; i++)
        rc = run_dataset(r, s->data[i], &in->sets[in->nsets++], err);
    return rc;
}

static int multi_gather(run_state *r, const must_exp_student *s, multi_inputs *in,
                        must_err *err)
{
    const must_experiment *e = r->e;
    int baseline = s == &e->multitask, rc = MUST_OK;
    if (s == &e->simclr)
        return simclr_gather(r, s, in, err);
    for (int i = 0; i < s->nteachers && !rc; i++) {
        int t = s->teachers[i];
        must_dataset *ds;
        if ((rc = run_dataset(r, e->teachers[t].data, &ds, err)))
            break;
        in->heads[i].spec = &e->tasks[e->teachers[t].task];
        in->heads[i].classes_from = ds;
        in->w[i] = must_exp_weight(e, s, t);
        in->s0[i] = -log(in->w[i]); /* learned: w is the initial exp(-s) */
        /* The baseline trains on the teachers' own labelled sets; it needs
         * their settings (the weights' rule), never their weights. */
        if (baseline)
            in->sets[in->nsets++] = ds;
    }
    if (rc || baseline)
        return rc;
    /* The pseudo-labelled parts of the sets it takes, in the order of
     * [label]'s sets whatever was opened before. */
    for (int li = 0; li < e->label.ndata && !rc; li++) {
        if (!run_multi_takes(s, e, li))
            continue;
        if ((rc = run_label(r, li, err)) || (rc = run_open_labelled(r, li, err)))
            return rc;
        for (int i = 0; i < r->nlabelled && in->nsets < 64; i++)
            if (r->labelled_set[i] == li)
                in->sets[in->nsets++] = r->labelled[i];
    }
    for (int i = 0; i < s->nextra && !rc && in->nsets < 64; i++)
        rc = run_dataset(r, s->extra[i], &in->sets[in->nsets++], err);
    return rc;
}

/* "[student] 3 tasks over 2 sets; loss weights: cls 1 seg 0.5 depth 2" */
static void multi_say(run_state *r, const must_exp_student *s, const char *name,
                      const multi_inputs *in)
{
    char line[2048];
    if (s == &r->e->simclr) {
        pl_say(&r->events, "[simclr] task %s over %d set%s, two views per image",
               in->heads[0].spec->name, in->nsets, in->nsets == 1 ? "" : "s");
        return;
    }
    size_t u = (size_t)snprintf(line, sizeof line, "[%s] %d tasks over %d sets; loss weights%s:",
                                name, s->nteachers, in->nsets,
                                s->weighting == MUST_WEIGHT_UNCERTAINTY
                                    ? " (learned, uncertainty; initial)" : "");
    for (int i = 0; i < s->nteachers && u < sizeof line; i++)
        u += (size_t)snprintf(line + u, sizeof line - u, " %s %.3g", in->heads[i].spec->name,
                              in->w[i]);
    pl_say(&r->events, "%s", line);
}

int run_multi(run_state *r, const must_exp_student *s, must_err *err)
{
    const must_experiment *e = r->e;
    char name[MUST_EXP_NAME_MAX + 16];
    run_multi_dirname(e, s, name, sizeof name);
    char *dir = run_path(r, name, NULL, NULL);
    if (!dir)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    uint64_t h = run_hash_multi(r, s);
    if (run_unit_done(dir, h)) {
        free(dir);
        return MUST_OK;
    }
    multi_inputs in = {0};
    int rc = init_model(r, &s->init, NULL, name, err);
    if (!rc)
        rc = multi_gather(r, s, &in, err);
    if (!rc && in.nsets == 0)
        rc = must_err_set(err, MUST_EINVAL, "[%s]: no datasets to train on (give [label] data)",
                          name);
    if (rc || (rc = run_unit_begin(r, dir, h, name, err)))
        goto out;
    multi_say(r, s, name, &in);
    pl_model m;
    int simclr = s == &e->simclr;
    if ((rc = pl_model_new(e, in.heads, simclr ? 1 : s->nteachers, &m, err)))
        goto out;
    if ((rc = init_model(r, &s->init, &m, name, err))) {
        pl_model_free(&m);
        goto out;
    }
    pl_train_opts o = {0};
    o.stage = name;
    o.dir = dir;
    o.train = &s->train;
    o.weights = in.w;
    o.log_var0 = s->weighting == MUST_WEIGHT_UNCERTAINTY ? in.s0 : NULL;
    o.sets = in.sets;
    o.nsets = in.nsets;
    o.sampling = simclr ? MUST_SAMPLE_UNION : s->sampling;
    o.views = simclr ? 2 : 1;
    o.aug = simclr ? &s->aug : NULL;
    o.images_only = simclr;
    o.seed = pl_hash(e->seed + 2, name);
    o.out = &r->events;
    rc = pl_train(e, &m, &o, err);
    pl_model_free(&m);
    if (!rc)
        rc = run_unit_finish(dir, h, err);
out:
    free(dir);
    return rc;
}

int run_students(run_state *r, int needed_only, must_err *err)
{
    const must_experiment *e = r->e;
    int rc = MUST_OK;
    for (int i = 0; i < run_nmulti(e) && !rc; i++) {
        const must_exp_student *s = run_multi_at(e, i);
        if (run_multi_given(e, s) && (!needed_only || run_needs_multi(r, s)))
            rc = run_multi(r, s, err);
    }
    return rc;
}
