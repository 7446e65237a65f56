/* run.c - `must run`: the experiment as units of work in a run directory.
 *
 * Every unit (a dataset, a teacher, the pseudo labels of one set, the
 * student, the multi-task baseline, one representation on one downstream
 * task) has a directory and a hash of exactly the settings it reads plus
 * the hashes of the units it reads from.  DIR/hash names the settings a
 * unit was started with, DIR/done (written last) says it finished.  A unit
 * whose hash changed is wiped and redone; one that was cut off resumes
 * (the trainer from its last checkpoint, the labeller from its last shard);
 * a finished one is skipped.  docs/experiments.md lists what each hash
 * covers. */
#define _XOPEN_SOURCE 700
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "must/world.h"
#include "pipeline-impl.h"
#include "run-impl.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void hex(uint64_t h, char buf[17])
{
    snprintf(buf, 17, "%016" PRIx64, h);
}

/* 1 when the unit in dir finished with this hash. */
static int unit_done(const char *dir, uint64_t h)
{
    char *p = must_path_join(dir, "done");
    char *text = NULL, want[17];
    size_t len;
    must_err e = {0};
    int ok = p && must_file_exists(p) && must_file_read(p, &text, &len, &e) == MUST_OK;
    hex(h, want);
    ok = ok && strncmp(text, want, 16) == 0;
    free(text);
    free(p);
    return ok;
}

/* Prepares dir for a unit with hash h: an unfinished unit of the same hash
 * is kept (to resume); anything else there is removed. */
static int unit_begin(const char *dir, uint64_t h, const char *what, must_err *err)
{
    char *p = must_path_join(dir, "hash");
    char *text = NULL, want[17];
    size_t len;
    must_err e = {0};
    hex(h, want);
    if (!p)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    int same = must_file_exists(p) && must_file_read(p, &text, &len, &e) == MUST_OK &&
               strncmp(text, want, 16) == 0;
    free(text);
    if (!same && must_file_exists(p)) {
        printf("[%s] settings changed: redoing it\n", what);
        rm_rf(dir);
    } else if (same)
        printf("[%s] resuming\n", what);
    int rc = must_mkdir_p(dir, err);
    if (!rc && !same)
        rc = must_file_write_atomic(p, want, 16, err);
    free(p);
    return rc;
}

static int unit_finish(const char *dir, uint64_t h, must_err *err)
{
    char *p = must_path_join(dir, "done"), want[17];
    hex(h, want);
    int rc = p ? must_file_write_atomic(p, want, 16, err)
               : must_err_set(err, MUST_ENOMEM, "out of memory");
    free(p);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Canonical text of the settings, for the hashes. */

static uint64_t hash_train(uint64_t h, const must_exp_train *t)
{
    char s[512];
    snprintf(s, sizeof s, "train steps=%ld batch=%d opt=%d lr=%.17g mom=%.17g wd=%.17g sched=%d "
             "warm=%ld clip=%.17g aug=%d",
             t->steps, t->batch, t->optim.kind, t->optim.lr, t->optim.momentum,
             t->optim.weight_decay, t->optim.sched, t->optim.warmup_steps, t->optim.clip_norm,
             t->augment);
    return pl_hash(h, s);
}

static uint64_t hash_common(const must_experiment *e)
{
    const must_backbone_config *b = &e->backbone;
    char s[512];
    snprintf(s, sizeof s, "backbone depth=%d width=%.9g k=%d s=%d pool=%d fpn=%d %d..%d seed=%" PRIu64
             " S=%d seed=%" PRIu64,
             b->depth, (double)b->width, b->stem_kernel, b->stem_stride, b->stem_pool,
             b->fpn_channels, b->fpn_min_level, b->fpn_max_level, b->seed, e->image_size,
             e->seed);
    return pl_hash(0, s);
}

static uint64_t hash_task(uint64_t h, const must_exp_task *t)
{
    h = pl_hash(h, t->name);
    h = pl_hash(h, t->plugin);
    for (int i = 0; i < t->nopts; i++) {
        h = pl_hash(h, t->opts[i].key);
        h = pl_hash(h, t->opts[i].value);
    }
    return h;
}

/* ------------------------------------------------------------------------ */

int run_open(run_state *r, const must_experiment *e, const char *out, must_err *err)
{
    memset(r, 0, sizeof *r);
    r->e = e;
    r->out = strdup(out);
    r->sets = calloc((size_t)e->ndata + 1, sizeof *r->sets);
    r->data_hash = calloc((size_t)e->ndata + 1, sizeof *r->data_hash);
    r->teacher_hash = calloc((size_t)e->nteachers + 1, sizeof *r->teacher_hash);
    if (!r->out || !r->sets || !r->data_hash || !r->teacher_hash)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    uint64_t c = hash_common(e);
    for (int i = 0; i < e->ndata; i++) {
        const must_exp_data *d = &e->data[i];
        char s[1024];
        if (d->world)
            snprintf(s, sizeof s, "world %s count=%d size=%d seed=%" PRIu64, d->world, d->count,
                     d->size, d->seed);
        else
            snprintf(s, sizeof s, "path %s", d->path);
        r->data_hash[i] = pl_hash(0, s);
    }
    for (int i = 0; i < e->nteachers; i++) {
        const must_exp_teacher *t = &e->teachers[i];
        uint64_t h = pl_hash(c, "teacher");
        h = pl_hash(h, t->name);
        h = hash_task(h, &e->tasks[t->task]);
        h = hash_train(h, &t->train);
        char s[32];
        snprintf(s, sizeof s, "%016" PRIx64, r->data_hash[t->data]);
        r->teacher_hash[i] = pl_hash(h, s);
    }
    return MUST_OK;
}

int run_record(run_state *r, must_err *err)
{
    int rc = must_mkdir_p(r->out, err);
    if (rc)
        return rc;
    char *cfg = must_path_join(r->out, "experiment.ini");
    rc = cfg ? must_file_write_atomic(cfg, r->e->text, strlen(r->e->text), err)
             : must_err_set(err, MUST_ENOMEM, "out of memory");
    free(cfg);
    return rc;
}

void run_close(run_state *r)
{
    if (r->sets)
        for (int i = 0; i < r->e->ndata; i++)
            must_dataset_close(r->sets[i]);
    for (int i = 0; i < r->nlabelled; i++)
        must_dataset_close(r->labelled[i]);
    free(r->labelled);
    free(r->labelled_set);
    free(r->sets);
    free(r->data_hash);
    free(r->teacher_hash);
    free(r->out);
    memset(r, 0, sizeof *r);
}

char *run_path(const run_state *r, const char *a, const char *b, const char *c)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s%s%s%s%s", r->out, a, b ? "/" : "", b ? b : "", c ? "/" : "",
             c ? c : "");
    return strdup(buf);
}

int run_dataset(run_state *r, int i, must_dataset **out, must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_data *d = &e->data[i];
    if (r->sets[i]) {
        *out = r->sets[i];
        return MUST_OK;
    }
    int rc = MUST_OK;
    char *dir = NULL;
    if (d->world) {
        dir = run_path(r, "data", d->name, NULL);
        if (!dir)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        if (!unit_done(dir, r->data_hash[i])) {
            char what[128];
            snprintf(what, sizeof what, "data %s", d->name);
            must_world_domain *dom = NULL;
            if ((rc = unit_begin(dir, r->data_hash[i], what, err)) ||
                (rc = must_world_domain_load(d->world, &dom, err)))
                goto out;
            must_world_gen_opts go = {0};
            go.count = d->count ? d->count : must_world_domain_default_count(dom);
            go.size = d->size;
            go.seed = d->seed;
            go.threads = e->threads;
            go.truth = 1;
            go.quiet = 1;
            char *set = must_path_join(dir, "set");
            printf("[data %s] rendering %d images of '%s' at %dx%d\n", d->name, go.count,
                   d->world, go.size, go.size);
            fflush(stdout);
            rc = set ? must_world_generate(dom, set, &go, NULL, err)
                     : must_err_set(err, MUST_ENOMEM, "out of memory");
            free(set);
            must_world_domain_free(dom);
            if (rc || (rc = unit_finish(dir, r->data_hash[i], err)))
                goto out;
        }
        char *set = must_path_join(dir, "set");
        rc = set ? must_dataset_open(set, &r->sets[i], err)
                 : must_err_set(err, MUST_ENOMEM, "out of memory");
        free(set);
    } else
        rc = must_dataset_open(d->path, &r->sets[i], err);
out:
    if (rc)
        must_err_prefix(err, "[data.%s]", d->name);
    free(dir);
    *out = r->sets[i];
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Teachers. */

int run_teacher(run_state *r, int t, must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_teacher *tc = &e->teachers[t];
    char *dir = run_path(r, "teachers", tc->name, NULL);
    char what[128];
    snprintf(what, sizeof what, "teacher %s", tc->name);
    must_dataset *ds;
    int rc = dir ? MUST_OK : must_err_set(err, MUST_ENOMEM, "out of memory");
    if (rc || unit_done(dir, r->teacher_hash[t]))
        goto out;
    if ((rc = run_dataset(r, tc->data, &ds, err)) ||
        (rc = unit_begin(dir, r->teacher_hash[t], what, err)))
        goto out;
    pl_model m;
    pl_head h = {&e->tasks[tc->task], ds};
    if ((rc = pl_model_new(e, &h, 1, &m, err)))
        goto out;
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
    rc = pl_train(e, &m, &o, err);
    pl_model_free(&m);
    if (!rc)
        rc = unit_finish(dir, r->teacher_hash[t], err);
out:
    free(dir);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Pseudo labels. */

/* The hash of label unit li's pseudo labels of the teachers in `only` (NULL:
 * all of them, the unit's own hash).  A student hashes just its teachers'
 * labels: each teacher labels independently, so adding or changing another
 * teacher relabels the set without changing what that student reads. */
static uint64_t label_hash_of(run_state *r, int li, const must_exp_student *only)
{
    const must_experiment *e = r->e;
    char s[64];
    uint64_t h = pl_hash(0, "label");
    snprintf(s, sizeof s, "%016" PRIx64 " %d %d", r->data_hash[e->label.data[li]], e->label.batch,
             e->label.shard);
    h = pl_hash(h, s);
    for (int i = 0; i < e->label.nteachers; i++) {
        int t = e->label.teachers[i], used = !only;
        for (int j = 0; only && j < only->nteachers; j++)
            used |= only->teachers[j] == t;
        if (!used)
            continue;
        snprintf(s, sizeof s, "%016" PRIx64, r->teacher_hash[t]);
        h = pl_hash(h, s);
    }
    return h;
}

static uint64_t label_hash(run_state *r, int li)
{
    return label_hash_of(r, li, NULL);
}

int run_label(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int rc = MUST_OK;
    for (int li = 0; li < e->label.ndata && rc == MUST_OK; li++) {
        const must_exp_data *d = &e->data[e->label.data[li]];
        char *dir = run_path(r, "label", d->name, NULL);
        uint64_t h = label_hash(r, li);
        char what[128];
        snprintf(what, sizeof what, "label %s", d->name);
        if (!dir)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        if (unit_done(dir, h)) {
            free(dir);
            continue;
        }
        must_dataset *unl, *tsets[PL_MAX_TASKS];
        char *ckpt[PL_MAX_TASKS] = {0};
        int nt = e->label.nteachers;
        for (int i = 0; i < nt && rc == MUST_OK; i++) {
            int t = e->label.teachers[i];
            if ((rc = run_teacher(r, t, err)) ||
                (rc = run_dataset(r, e->teachers[t].data, &tsets[i], err)))
                break;
            ckpt[i] = run_path(r, "teachers", e->teachers[t].name, "model.safetensors");
        }
        if (!rc && !(rc = run_dataset(r, e->label.data[li], &unl, err)) &&
            !(rc = unit_begin(dir, h, what, err)))
            rc = pl_label(e, unl, e->label.teachers, nt, ckpt, tsets, dir, err);
        if (!rc)
            rc = unit_finish(dir, h, err);
        run_quality q[PL_MAX_TASKS];
        if (!rc && !(rc = run_quality_set(r, li, q, err)))
            run_quality_print(q, nt);
        for (int i = 0; i < nt; i++)
            free(ckpt[i]);
        free(dir);
    }
    return rc;
}

/* The shards of every pseudo-labelled set, opened. */
static int open_labelled(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    if (r->labelled)
        return MUST_OK;
    int rc = MUST_OK;
    for (int li = 0; li < e->label.ndata && rc == MUST_OK; li++) {
        must_dataset **parts;
        int n;
        if ((rc = run_labelled_parts(r, li, &parts, &n, err)))
            break;
        must_dataset **v = realloc(r->labelled, (size_t)(r->nlabelled + n) * sizeof *v);
        int *vs = v ? realloc(r->labelled_set, (size_t)(r->nlabelled + n) * sizeof *vs) : NULL;
        if (v)
            r->labelled = v;
        if (vs)
            r->labelled_set = vs;
        if (!v || !vs) {
            run_labelled_parts_free(parts, n);
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        }
        for (int k = 0; k < n; k++) {
            r->labelled[r->nlabelled] = parts[k];
            r->labelled_set[r->nlabelled++] = li;
        }
        free(parts); /* the sets now belong to r */
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The student and the multi-task baseline. */

/* The run directory of a student section: student, multitask, student-NAME. */
static void multi_dirname(const must_experiment *e, const must_exp_student *s, char *buf,
                          size_t len)
{
    if (s == &e->multitask)
        snprintf(buf, len, "multitask");
    else if (s->name[0])
        snprintf(buf, len, "student-%s", s->name);
    else
        snprintf(buf, len, "student");
}

/* Whether a student's union takes [label] set li. */
static int multi_takes(const must_exp_student *s, const must_experiment *e, int li)
{
    if (s->ndata == 0)
        return 1;
    for (int i = 0; i < s->ndata; i++)
        if (s->data[i] == e->label.data[li])
            return 1;
    return 0;
}

static uint64_t multi_hash(run_state *r, const must_exp_student *s)
{
    const must_experiment *e = r->e;
    int baseline = s == &e->multitask;
    char name[MUST_EXP_NAME_MAX + 16];
    multi_dirname(e, s, name, sizeof name);
    uint64_t h = pl_hash(hash_common(e), name);
    h = hash_train(h, &s->train);
    char buf[128];
    snprintf(buf, sizeof buf, "sampling=%d weighting=%d", s->sampling, s->weighting);
    h = pl_hash(h, buf);
    for (int i = 0; i < s->nteachers; i++) {
        snprintf(buf, sizeof buf, "%016" PRIx64 " w=%.17g", r->teacher_hash[s->teachers[i]],
                 must_exp_weight(e, s, s->teachers[i]));
        h = pl_hash(h, buf);
    }
    if (!baseline) {
        for (int li = 0; li < e->label.ndata; li++) {
            if (!multi_takes(s, e, li))
                continue;
            snprintf(buf, sizeof buf, "%016" PRIx64, label_hash_of(r, li, s));
            h = pl_hash(h, buf);
        }
        for (int i = 0; i < s->nextra; i++) {
            snprintf(buf, sizeof buf, "%016" PRIx64, r->data_hash[s->extra[i]]);
            h = pl_hash(h, buf);
        }
    }
    return h;
}

static int run_multi(run_state *r, const must_exp_student *s, must_err *err)
{
    const must_experiment *e = r->e;
    int baseline = s == &e->multitask;
    char name[MUST_EXP_NAME_MAX + 16];
    multi_dirname(e, s, name, sizeof name);
    char *dir = run_path(r, name, NULL, NULL);
    if (!dir)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    uint64_t h = multi_hash(r, s);
    int rc = MUST_OK;
    if (unit_done(dir, h)) {
        free(dir);
        return MUST_OK;
    }
    must_dataset *sets[64];
    int nsets = 0;
    pl_head heads[PL_MAX_TASKS];
    double w[PL_MAX_TASKS], s0[PL_MAX_TASKS];
    int learned = s->weighting == MUST_WEIGHT_UNCERTAINTY;
    for (int i = 0; i < s->nteachers && !rc; i++) {
        int t = s->teachers[i];
        must_dataset *ds;
        if ((rc = run_dataset(r, e->teachers[t].data, &ds, err)))
            break;
        heads[i].spec = &e->tasks[e->teachers[t].task];
        heads[i].classes_from = ds;
        w[i] = must_exp_weight(e, s, t);
        s0[i] = -log(w[i]); /* learned: w is the initial exp(-s) */
        /* The baseline trains on the teachers' own labelled sets; it needs
         * their settings (the weights' rule), never their weights. */
        if (baseline)
            sets[nsets++] = ds;
    }
    if (!rc && !baseline) {
        if ((rc = run_label(r, err)) || (rc = open_labelled(r, err)))
            goto out;
        for (int i = 0; i < r->nlabelled && nsets < 64; i++)
            if (multi_takes(s, e, r->labelled_set[i]))
                sets[nsets++] = r->labelled[i];
        for (int i = 0; i < s->nextra && !rc && nsets < 64; i++)
            rc = run_dataset(r, s->extra[i], &sets[nsets++], err);
    }
    if (rc)
        goto out;
    if (nsets == 0) {
        rc = must_err_set(err, MUST_EINVAL, "[%s]: no datasets to train on (give [label] data)",
                          name);
        goto out;
    }
    char what[sizeof name];
    snprintf(what, sizeof what, "%s", name);
    if ((rc = unit_begin(dir, h, what, err)))
        goto out;
    printf("[%s] %d tasks over %d sets; loss weights%s:", name, s->nteachers, nsets,
           learned ? " (learned, uncertainty; initial)" : "");
    for (int i = 0; i < s->nteachers; i++)
        printf(" %s %.3g", e->teachers[s->teachers[i]].name, w[i]);
    printf("\n");
    pl_model m;
    if ((rc = pl_model_new(e, heads, s->nteachers, &m, err)))
        goto out;
    pl_train_opts o = {0};
    o.stage = what;
    o.dir = dir;
    o.train = &s->train;
    o.weights = w;
    o.log_var0 = learned ? s0 : NULL;
    o.sets = sets;
    o.nsets = nsets;
    o.sampling = s->sampling;
    o.seed = pl_hash(e->seed + 2, name);
    rc = pl_train(e, &m, &o, err);
    pl_model_free(&m);
    if (!rc)
        rc = unit_finish(dir, h, err);
out:
    free(dir);
    return rc;
}

int run_student(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int rc = run_multi(r, &e->student, err);
    for (int i = 0; i < e->nvariants && !rc; i++)
        rc = run_multi(r, &e->variants[i], err);
    if (!rc && e->multitask.enabled)
        rc = run_multi(r, &e->multitask, err);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Representations and transfer. */

void run_rep_dirname(const must_exp_rep *rep, char *buf, size_t len)
{
    snprintf(buf, len, "%s", rep->label);
    for (char *c = buf; *c; c++)
        if (*c == ':' || *c == '/' || *c == '.')
            *c = '-';
}

/* Folds a file's bytes into *h (FNV-1a): a representation file that is
 * replaced under the same name redoes its transfers. */
static int hash_file(const char *path, uint64_t *h, must_err *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return must_err_set(err, MUST_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char buf[65536];
    size_t n;
    uint64_t x = *h;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        for (size_t i = 0; i < n; i++) {
            x ^= buf[i];
            x *= 1099511628211ull;
        }
    int bad = ferror(fp);
    fclose(fp);
    if (bad)
        return must_err_set(err, MUST_EIO, "%s: read error", path);
    *h = x;
    return MUST_OK;
}

/* A trained student's hash as a representation: its name and the content of
 * its done file, which changes with every retraining.  0 when unreadable. */
static int student_rep_hash(run_state *r, const char *nm, uint64_t *h)
{
    char *done = run_path(r, nm, "done", NULL), *text = NULL;
    size_t len;
    must_err e2 = {0};
    int ok = done && must_file_read(done, &text, &len, &e2) == MUST_OK;
    *h = pl_hash(0, nm);
    if (ok)
        *h = pl_hash(*h, text);
    free(text);
    free(done);
    return ok;
}

/* A file: its path and its bytes. */
static int file_rep_hash(const char *path, uint64_t *h, must_err *err)
{
    *h = pl_hash(pl_hash(0, "file"), path);
    return hash_file(path, h, err);
}

/* The representation's weights file (NULL for random init), and its hash. */
static int rep_source(run_state *r, int ri, char **path, uint64_t *h, must_err *err)
{
    const must_experiment *e = r->e;
    const must_exp_rep *rep = &e->reps[ri];
    *path = NULL;
    int rc = MUST_OK;
    switch (rep->kind) {
    case MUST_REP_RANDOM:
        *h = pl_hash(hash_common(e), "random");
        return MUST_OK;
    case MUST_REP_TEACHER:
        rc = run_teacher(r, rep->teacher, err);
        *path = run_path(r, "teachers", e->teachers[rep->teacher].name, "model.safetensors");
        *h = r->teacher_hash[rep->teacher];
        break;
    case MUST_REP_MULTITASK:
    case MUST_REP_STUDENT: {
        const must_exp_student *st = must_exp_rep_student(e, rep);
        char nm[MUST_EXP_NAME_MAX + 16];
        multi_dirname(e, st, nm, sizeof nm);
        rc = run_multi(r, st, err);
        *path = run_path(r, nm, "model.safetensors", NULL);
        if (!rc)
            student_rep_hash(r, nm, h);
        break;
    }
    case MUST_REP_FILE:
        *path = strdup(rep->path);
        rc = file_rep_hash(rep->path, h, err);
        break;
    }
    if (!rc && !*path)
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    return rc;
}

typedef struct sweep_ctx {
    const must_experiment *e;
    int ti;
    must_dataset *ds;
    const char *dir;
    int nmetrics;
} sweep_ctx;

/* Saves val and test metrics after `step` updates, as one line each. */
static int at_milestone(void *user, long step, pl_model *m, must_err *err)
{
    sweep_ctx *c = user;
    double val[64], test[64];
    int rc = pl_evaluate(c->e, m, 0, c->ds, MUST_SPLIT_VAL, val, err);
    if (!rc)
        rc = pl_evaluate(c->e, m, 0, c->ds, MUST_SPLIT_TEST, test, err);
    if (rc)
        return rc;
    char name[64], text[4096];
    size_t u = 0;
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

static int read_eval(const char *dir, long step, int nm, double *val, double *test)
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

/* rh: the representation's hash (rep_source). */
static uint64_t transfer_hash(run_state *r, int ti, uint64_t rh)
{
    const must_experiment *e = r->e;
    const must_exp_transfer *tr = &e->transfers[ti];
    uint64_t h = pl_hash(hash_common(e), "transfer");
    h = hash_task(h, &e->tasks[tr->task]);
    h = hash_train(h, &tr->train);
    char buf[2048];
    size_t u = (size_t)snprintf(buf, sizeof buf, "%016" PRIx64 " %016" PRIx64, rh,
                                r->data_hash[tr->data]);
    for (int i = 0; i < tr->nlr && u < sizeof buf; i++)
        u += (size_t)snprintf(buf + u, sizeof buf - u, " lr%.17g", tr->lrs[i]);
    for (int i = 0; i < tr->nsteps && u < sizeof buf; i++)
        u += (size_t)snprintf(buf + u, sizeof buf - u, " s%ld", tr->steps[i]);
    return pl_hash(h, buf);
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
    if (rc || (rc = rep_source(r, ri, &src, &rh, err)) ||
        (rc = run_dataset(r, tr->data, &ds, err)))
        goto out;
    uint64_t h = transfer_hash(r, ti, rh);
    char what[256];
    snprintf(what, sizeof what, "transfer %s %s", e->reps[ri].label, tr->name);
    int finished = unit_done(dir, h);
    if (!finished && (rc = unit_begin(dir, h, what, err)))
        goto out;
    pl_head head = {&e->tasks[tr->task], ds};
    int best_lr = -1, best_s = -1, lower = 0, nm = 0;
    double best = 0;
    for (int li = 0; li < tr->nlr && !rc; li++) {
        char sub[32];
        snprintf(sub, sizeof sub, "lr%d", li);
        char *ldir = must_path_join(dir, sub);
        pl_model m;
        if (!ldir || (rc = pl_model_new(e, &head, 1, &m, err))) {
            rc = rc ? rc : must_err_set(err, MUST_ENOMEM, "out of memory");
            free(ldir);
            break;
        }
        nm = must_task_nmetrics(m.task[0]);
        lower = must_task_metric_lower_better(m.task[0], 0);
        snprintf(res->metric, sizeof res->metric, "%s", must_task_metric_name(m.task[0], 0));
        for (int k = 0; k < nm && k < RUN_MAX_METRICS; k++)
            snprintf(res->metric_names[k], sizeof res->metric_names[k], "%s",
                     must_task_metric_name(m.task[0], k));
        res->nmetrics = nm < RUN_MAX_METRICS ? nm : RUN_MAX_METRICS;
        char *model = must_path_join(ldir, "model.safetensors");
        if (!finished && !(model && must_file_exists(model))) {
            if (src && (rc = pl_model_load_backbone(&m, src, err))) {
                must_err_prefix(err, "%s", what);
            } else {
                must_exp_train t = tr->train;
                t.optim.lr = tr->lrs[li];
                sweep_ctx sc = {e, ti, ds, ldir, nm};
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
                rc = pl_train(e, &m, &o, err);
            }
        }
        free(model);
        pl_model_free(&m);
        for (int si = 0; si < tr->nsteps && !rc; si++) {
            double val[64], test[64];
            if (read_eval(ldir, tr->steps[si], nm, val, test)) {
                rc = must_err_set(err, MUST_EFORMAT, "%s: eval-%ld.txt missing or bad in %s",
                                  what, tr->steps[si], ldir);
                break;
            }
            int better = best_lr < 0 || (lower ? val[0] < best : val[0] > best);
            if (better) {
                best = val[0];
                best_lr = li;
                best_s = si;
                res->val = val[0];
                res->test = test[0];
                for (int k = 0; k < res->nmetrics; k++)
                    res->test_all[k] = test[k];
            }
        }
        free(ldir);
    }
    if (rc)
        goto out;
    res->lr = tr->lrs[best_lr];
    res->steps = tr->steps[best_s];
    res->lower_better = lower;
    if (!finished)
        rc = unit_finish(dir, h, err);
out:
    free(src);
    free(dir);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The plan: what a run will do, from the same hashes the units check. */

/* 1 when the unit in RUN/a[/b[/c]] is finished with hash h. */
static int done_at(run_state *r, uint64_t h, const char *a, const char *b, const char *c)
{
    char *dir = run_path(r, a, b, c);
    int d = dir && unit_done(dir, h);
    free(dir);
    return d;
}

/* rep_source's hash without training anything; 0 when the representation
 * is not trained yet (its transfers are then all to do). */
static int rep_peek(run_state *r, int ri, uint64_t *h)
{
    const must_experiment *e = r->e;
    const must_exp_rep *rep = &e->reps[ri];
    switch (rep->kind) {
    case MUST_REP_RANDOM:
        *h = pl_hash(hash_common(e), "random");
        return 1;
    case MUST_REP_TEACHER:
        *h = r->teacher_hash[rep->teacher];
        return done_at(r, *h, "teachers", e->teachers[rep->teacher].name, NULL);
    case MUST_REP_MULTITASK:
    case MUST_REP_STUDENT: {
        const must_exp_student *st = must_exp_rep_student(e, rep);
        char nm[MUST_EXP_NAME_MAX + 16];
        multi_dirname(e, st, nm, sizeof nm);
        return done_at(r, multi_hash(r, st), nm, NULL, NULL) && student_rep_hash(r, nm, h);
    }
    case MUST_REP_FILE: {
        must_err e2 = {0};
        return file_rep_hash(rep->path, h, &e2) == MUST_OK;
    }
    }
    return 0;
}

/* Counts a unit of kind k (done or not) and, when verbose, prints the
 * directory (under RUN) of one to do. */
static void plan_unit(int *todo, int *all, int k, int done, int verbose, const char *fmt,
                      const char *a, const char *b)
{
    all[k]++;
    if (done)
        return;
    todo[k]++;
    if (verbose) {
        printf("  ");
        printf(fmt, a, b);
        printf("\n");
    }
}

static void plan_walk(run_state *r, int *todo, int *all, int verbose)
{
    const must_experiment *e = r->e;
    for (int i = 0; i < e->ndata; i++)
        if (e->data[i].world)
            plan_unit(todo, all, 0, done_at(r, r->data_hash[i], "data", e->data[i].name, NULL),
                      verbose, "data/%s%s", e->data[i].name, "");
    for (int t = 0; t < e->nteachers; t++)
        plan_unit(todo, all, 1,
                  done_at(r, r->teacher_hash[t], "teachers", e->teachers[t].name, NULL), verbose,
                  "teachers/%s%s", e->teachers[t].name, "");
    for (int li = 0; li < e->label.ndata; li++) {
        const char *nm = e->data[e->label.data[li]].name;
        plan_unit(todo, all, 2, done_at(r, label_hash(r, li), "label", nm, NULL), verbose,
                  "label/%s%s", nm, "");
    }
    /* [student], every [student.NAME], then [multitask] when given. */
    for (int i = -1; i <= e->nvariants; i++) {
        const must_exp_student *st = i < 0 ? &e->student
                                     : i < e->nvariants ? &e->variants[i] : &e->multitask;
        if (st == &e->multitask && !e->multitask.enabled)
            continue;
        char nm[MUST_EXP_NAME_MAX + 16];
        multi_dirname(e, st, nm, sizeof nm);
        plan_unit(todo, all, 3, done_at(r, multi_hash(r, st), nm, NULL, NULL), verbose, "%s%s",
                  nm, "");
    }
    for (int ri = 0; ri < e->nreps; ri++) {
        uint64_t rh = 0;
        int ready = rep_peek(r, ri, &rh);
        char repdir[160];
        run_rep_dirname(&e->reps[ri], repdir, sizeof repdir);
        for (int ti = 0; ti < e->ntransfers; ti++) {
            const char *tn = e->transfers[ti].name;
            int done = ready && done_at(r, transfer_hash(r, ti, rh), "transfer", repdir, tn);
            plan_unit(todo, all, 4, done, verbose, "transfer/%s/%s", repdir, tn);
        }
    }
}

void run_plan(run_state *r, int verbose)
{
    const must_experiment *e = r->e;
    int todo[5] = {0}, all[5] = {0}, t2[5] = {0}, a2[5] = {0};
    plan_walk(r, todo, all, 0);
    static const char *what[5] = {"data sets", "teachers", "label sets", "students",
                                  "transfer cells"};
    int left = todo[0] + todo[1] + todo[2] + todo[3] + todo[4];
    printf("[run] %s into %s: ", e->name, r->out);
    if (!left)
        printf("every unit is done; the report only");
    for (int k = 0, any = 0; k < 5 && left; k++)
        if (all[k]) {
            printf("%s%d of %d %s", any ? ", " : "to do ", todo[k], all[k], what[k]);
            any = 1;
        }
    printf("\n");
    if (verbose)
        plan_walk(r, t2, a2, 1);
    fflush(stdout);
}

int run_transfers(run_state *r, must_err *err)
{
    const must_experiment *e = r->e;
    int rc = MUST_OK;
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

int run_all(run_state *r, int stage, must_err *err)
{
    const must_experiment *e = r->e;
    int rc = MUST_OK;
    if (stage < 0)
        run_plan(r, 0);
    if (stage < 0 || stage == RUN_TRANSFER || stage == RUN_REPORT)
        rc = run_check_files(r, err);
    if (!rc && (stage < 0 || stage == RUN_TEACHERS))
        for (int t = 0; t < e->nteachers && !rc; t++)
            rc = run_teacher(r, t, err);
    if (!rc && (stage < 0 || stage == RUN_LABEL))
        rc = run_label(r, err);
    if (!rc && (stage < 0 || stage == RUN_STUDENT))
        rc = run_student(r, err);
    if (!rc && stage == RUN_TRANSFER)
        rc = run_transfers(r, err);
    if (!rc && (stage < 0 || stage == RUN_REPORT))
        rc = run_report(r, err);
    return rc;
}
