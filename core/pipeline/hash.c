/* hash.c - the canonical text of the settings each unit reads, hashed
 * (64-bit FNV-1a): a unit's hash changes exactly when something it reads
 * changes, and a changed unit changes the hashes of the units that read it.
 * docs/experiments.md lists what each hash covers. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "run-impl.h"

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

static uint64_t hash_train(uint64_t h, const must_exp_train *t)
{
    char s[512];
    snprintf(s, sizeof s, "train steps=%ld batch=%d opt=%d lr=%.17g mom=%.17g wd=%.17g sched=%d "
             "warm=%ld clip=%.17g aug=%d",
             t->steps, t->batch, t->optim.kind, t->optim.lr, t->optim.momentum,
             t->optim.weight_decay, t->optim.sched, t->optim.warmup_steps, t->optim.clip_norm,
             t->augment);
    /* sync_bn changes what N ranks compute; off, the text stays as it was,
     * so that runs made before the key resume. */
    if (t->sync_bn)
        snprintf(s + strlen(s), sizeof s - strlen(s), " sync_bn=1");
    return pl_hash(h, s);
}

uint64_t run_hash_common(const must_experiment *e)
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

/* A task section: its name, plugin and the options that shape training
 * (pseudo = 0) or those that shape pseudo labels only (pseudo = 1), which
 * the label units hash instead. */
static uint64_t hash_task(uint64_t h, const must_exp_task *t, int pseudo)
{
    if (!pseudo) {
        h = pl_hash(h, t->name);
        h = pl_hash(h, t->plugin);
    }
    for (int i = 0; i < t->nopts; i++) {
        if (t->opts[i].pseudo_only != pseudo)
            continue;
        h = pl_hash(h, t->opts[i].key);
        h = pl_hash(h, t->opts[i].value);
    }
    return h;
}

static int hash_file(const char *path, uint64_t *h, must_err *err);

/* An init file's path and bytes, from the table run_hash_inputs filled
 * (read here only when the table could not be allocated). */
static uint64_t file_hash(const run_state *r, const char *path)
{
    for (int i = 0; i < r->nfh; i++)
        if (r->fh_path[i] == path)
            return r->fh_hash[i];
    uint64_t h = pl_hash(pl_hash(0, "file"), path);
    must_err ignore = {0};
    hash_file(path, &h, &ignore);
    return h;
}

/* Every init file of the experiment read and hashed once, into r's table. */
static void hash_init_files(run_state *r)
{
    const must_experiment *e = r->e;
    int n = e->nteachers + e->nvariants + 3;
    if (!(r->fh_path = calloc((size_t)n, sizeof *r->fh_path)) ||
        !(r->fh_hash = calloc((size_t)n, sizeof *r->fh_hash)))
        return;
    for (int i = -3; i < e->nteachers + e->nvariants; i++) {
        const must_exp_rep *init = i == -3            ? &e->simclr.init
                                   : i == -2          ? &e->student.init
                                   : i == -1          ? &e->multitask.init
                                   : i < e->nteachers ? &e->teachers[i].init
                                                      : &e->variants[i - e->nteachers].init;
        if (init->kind != MUST_REP_FILE)
            continue;
        r->fh_hash[r->nfh] = file_hash(r, init->path);
        r->fh_path[r->nfh++] = init->path;
    }
}

/* A model's starting weights folded into its hash: nothing for random
 * init (the hashes of runs from before `init` existed stay valid), else
 * the source model's hash, or a file's path and bytes (file_hash; an
 * unreadable file hashes by its path alone, and run_check_inits says what
 * is wrong with it before anything trains). */
static uint64_t hash_init(const run_state *r, uint64_t h, const must_exp_rep *init)
{
    const must_experiment *e = r->e;
    char s[64];
    uint64_t src = 0;
    switch (init->kind) {
    case MUST_REP_RANDOM:
        return h;
    case MUST_REP_TEACHER:
        src = r->teacher_hash[init->teacher];
        break;
    case MUST_REP_STUDENT:
    case MUST_REP_MULTITASK:
    case MUST_REP_SIMCLR:
        src = run_hash_multi(r, must_exp_rep_student(e, init));
        break;
    case MUST_REP_FILE:
        src = file_hash(r, init->path);
        break;
    }
    snprintf(s, sizeof s, "init %d %016" PRIx64, init->kind, src);
    return pl_hash(h, s);
}

static void hash_teacher(run_state *r, uint64_t c, int i, unsigned char *done);

/* Hashes first every teacher whose hash init's hash reads. */
static void hash_teachers_under(run_state *r, uint64_t c, const must_exp_rep *init,
                                unsigned char *done)
{
    const must_experiment *e = r->e;
    if (init->kind == MUST_REP_TEACHER) {
        hash_teacher(r, c, init->teacher, done);
    } else if (init->kind == MUST_REP_SIMCLR) {
        hash_teachers_under(r, c, &e->simclr.init, done);
    } else if (init->kind == MUST_REP_STUDENT || init->kind == MUST_REP_MULTITASK) {
        const must_exp_student *st = must_exp_rep_student(e, init);
        for (int j = 0; j < st->nteachers; j++)
            hash_teacher(r, c, st->teachers[j], done);
        for (int j = 0; j < e->label.nteachers; j++)
            hash_teacher(r, c, e->label.teachers[j], done);
        hash_teachers_under(r, c, &st->init, done);
    }
}

/* Teacher i's hash, after those its init reads (the parser refused
 * loops; done[] marks each teacher once, without memory to mark it the
 * order is the file's). */
static void hash_teacher(run_state *r, uint64_t c, int i, unsigned char *done)
{
    const must_experiment *e = r->e;
    const must_exp_teacher *t = &e->teachers[i];
    if (done) {
        if (done[i])
            return;
        done[i] = 1;
        hash_teachers_under(r, c, &t->init, done);
    }
    uint64_t h = pl_hash(c, "teacher");
    h = pl_hash(h, t->name);
    h = hash_task(h, &e->tasks[t->task], 0);
    h = hash_train(h, &t->train);
    char s[32];
    snprintf(s, sizeof s, "%016" PRIx64, r->data_hash[t->data]);
    r->teacher_hash[i] = hash_init(r, pl_hash(h, s), &t->init);
}

void run_hash_inputs(run_state *r)
{
    const must_experiment *e = r->e;
    uint64_t c = run_hash_common(e);
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
    hash_init_files(r);
    unsigned char *done = calloc((size_t)e->nteachers + 1, 1);
    for (int i = 0; i < e->nteachers; i++)
        hash_teacher(r, c, i, done);
    free(done);
}

/* A student hashes just its teachers' labels: each teacher labels
 * independently, so adding or changing another teacher relabels the set
 * without changing what that student reads. */
uint64_t run_hash_label(const run_state *r, int li, const must_exp_student *only)
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
        /* How the teacher's labels are made: its plugin's pseudo-only
         * options (an empty list hashes to nothing, as before they were). */
        h = hash_task(h, &e->tasks[e->teachers[t].task], 1);
    }
    return h;
}

int run_nmulti(const must_experiment *e) { return e->nvariants + 3; }

const must_exp_student *run_multi_at(const must_experiment *e, int i)
{
    return i == 0                  ? &e->student
           : i <= e->nvariants     ? &e->variants[i - 1]
           : i == e->nvariants + 1 ? &e->multitask
                                   : &e->simclr;
}

int run_multi_given(const must_experiment *e, const must_exp_student *s)
{
    return s == &e->multitask || s == &e->simclr ? s->enabled : 1;
}

void run_multi_dirname(const must_experiment *e, const must_exp_student *s, char *buf,
                       size_t len)
{
    if (s == &e->multitask)
        snprintf(buf, len, "multitask");
    else if (s == &e->simclr)
        snprintf(buf, len, "simclr");
    else if (s->name[0])
        snprintf(buf, len, "student-%s", s->name);
    else
        snprintf(buf, len, "student");
}

int run_multi_takes(const must_exp_student *s, const must_experiment *e, int li)
{
    if (s->ndata == 0)
        return 1;
    for (int i = 0; i < s->ndata; i++)
        if (s->data[i] == e->label.data[li])
            return 1;
    return 0;
}

/* [simclr]: its task's options, SimCLR's augmentation and the sets whose
 * images it reads (their data hashes: no labels). */
static uint64_t hash_simclr(const run_state *r, uint64_t h)
{
    const must_experiment *e = r->e;
    const must_exp_student *s = &e->simclr;
    const must_aug_opts *a = &s->aug;
    char buf[256];
    h = hash_task(h, &e->tasks[s->task], 0);
    snprintf(buf, sizeof buf, "views=2 scale=%.9g..%.9g flip=%d jitter=%.9g,%.9g,%.9g grey=%.9g "
             "blur=%.9g",
             (double)a->scale_min, (double)a->scale_max, a->hflip, (double)a->brightness,
             (double)a->contrast, (double)a->saturation, (double)a->grey, (double)a->blur);
    h = pl_hash(h, buf);
    for (int i = 0; i < s->ndata; i++) {
        snprintf(buf, sizeof buf, "%016" PRIx64, r->data_hash[s->data[i]]);
        h = pl_hash(h, buf);
    }
    return h;
}

uint64_t run_hash_multi(const run_state *r, const must_exp_student *s)
{
    const must_experiment *e = r->e;
    int baseline = s == &e->multitask;
    if (s == &e->simclr) {
        uint64_t h = hash_train(pl_hash(run_hash_common(e), "simclr"), &s->train);
        return hash_init(r, hash_simclr(r, h), &s->init);
    }
    char name[MUST_EXP_NAME_MAX + 16];
    run_multi_dirname(e, s, name, sizeof name);
    uint64_t h = pl_hash(run_hash_common(e), name);
    h = hash_train(h, &s->train);
    char buf[128];
    snprintf(buf, sizeof buf, "sampling=%d weighting=%d", s->sampling, s->weighting);
    h = pl_hash(h, buf);
    for (int i = 0; i < s->nteachers; i++) {
        snprintf(buf, sizeof buf, "%016" PRIx64 " w=%.17g", r->teacher_hash[s->teachers[i]],
                 must_exp_weight(e, s, s->teachers[i]));
        h = pl_hash(h, buf);
    }
    if (baseline)
        return hash_init(r, h, &s->init);
    for (int li = 0; li < e->label.ndata; li++) {
        if (!run_multi_takes(s, e, li))
            continue;
        snprintf(buf, sizeof buf, "%016" PRIx64, run_hash_label(r, li, s));
        h = pl_hash(h, buf);
    }
    for (int i = 0; i < s->nextra; i++) {
        snprintf(buf, sizeof buf, "%016" PRIx64, r->data_hash[s->extra[i]]);
        h = pl_hash(h, buf);
    }
    return hash_init(r, h, &s->init);
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

int run_hash_student_rep(const run_state *r, const char *nm, uint64_t *h)
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

int run_hash_file_rep(const char *path, uint64_t *h, must_err *err)
{
    *h = pl_hash(pl_hash(0, "file"), path);
    return hash_file(path, h, err);
}

uint64_t run_hash_transfer(const run_state *r, int ti, uint64_t rh)
{
    const must_experiment *e = r->e;
    const must_exp_transfer *tr = &e->transfers[ti];
    uint64_t h = pl_hash(run_hash_common(e), "transfer");
    h = hash_task(h, &e->tasks[tr->task], 0);
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
