/* unit.c - a run's state and its units of work on disk.
 *
 * Every unit (a dataset, a teacher, the pseudo labels of one set, a
 * student, one representation on one downstream task) has a directory and
 * a hash of exactly the settings it reads plus the hashes of the units it
 * reads from (hash.c).  DIR/hash names the settings a unit was started
 * with, DIR/done (written last) says it finished.  A unit whose hash
 * changed is wiped and redone; one that was cut off resumes (the trainer
 * from its last checkpoint, the labeller from its last shard); a finished
 * one is skipped.  docs/experiments.md lists what each hash covers.
 *
 * Over several MPI ranks every rank walks the same units in the same order
 * and reads the same files; rank 0 alone changes a unit's files (hash,
 * done, wiping), between two collectives, so that no rank reads a file
 * while it changes (docs/scale-out.md). */
#define _XOPEN_SOURCE 700
#include "config.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/io.h"
#include "must/world.h"
#include "base/dist-impl.h"
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

int run_unit_done(const char *dir, uint64_t h)
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

int run_rank0_begin(void)
{
    if (!must_dist_writer())
        return 0;
    must_dist_solo_begin();
    return 1;
}

int run_rank0_end(int mine, int rc, must_err *err)
{
    if (mine)
        must_dist_solo_end();
    return must_dist_agree(rc, err);
}

/* Rank 0's part of run_unit_begin. */
static int unit_begin(run_state *r, const char *dir, uint64_t h, const char *what, must_err *err)
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
        pl_say(&r->events, "[%s] settings changed: redoing it", what);
        rm_rf(dir);
    } else if (same)
        pl_say(&r->events, "[%s] resuming", what);
    int rc = must_mkdir_p(dir, err);
    if (!rc && !same)
        rc = must_file_write_atomic(p, want, 16, err);
    free(p);
    return rc;
}

int run_unit_begin(run_state *r, const char *dir, uint64_t h, const char *what, must_err *err)
{
    /* Every rank has read the unit's state before rank 0 changes it, and
     * sees it changed after. */
    int rc = must_dist_barrier(what, err);
    if (rc)
        return rc;
    if (must_dist_writer())
        rc = unit_begin(r, dir, h, what, err);
    return must_dist_agree(rc, err);
}

int run_unit_finish(const char *dir, uint64_t h, must_err *err)
{
    char *p = must_path_join(dir, "done"), want[17];
    hex(h, want);
    int rc = !p                ? must_err_set(err, MUST_ENOMEM, "out of memory")
             : must_dist_writer() ? must_file_write_atomic(p, want, 16, err)
                                : MUST_OK;
    free(p);
    return must_dist_agree(rc, err);
}

int run_done_at(const run_state *r, uint64_t h, const char *a, const char *b, const char *c)
{
    char *dir = run_path(r, a, b, c);
    int d = dir && run_unit_done(dir, h);
    free(dir);
    return d;
}

int run_state_new(const must_experiment *e, const char *out, run_state **rp, must_err *err)
{
    run_state *r = calloc(1, sizeof *r);
    *rp = r;
    if (!r)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    r->e = e;
    r->lock_fd = -1;
    r->out = strdup(out);
    r->sets = calloc((size_t)e->ndata + 1, sizeof *r->sets);
    r->data_hash = calloc((size_t)e->ndata + 1, sizeof *r->data_hash);
    r->teacher_hash = calloc((size_t)e->nteachers + 1, sizeof *r->teacher_hash);
    if (!r->out || !r->sets || !r->data_hash || !r->teacher_hash)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    return MUST_OK;
}

void run_state_free(run_state *r)
{
    if (!r)
        return;
    if (r->sets)
        for (int i = 0; i < r->e->ndata; i++)
            must_dataset_close(r->sets[i]);
    for (int i = 0; i < r->nlabelled; i++)
        must_dataset_close(r->labelled[i]);
    free(r->labelled);
    free(r->labelled_set);
    free(r->need_teacher);
    free(r->need_label);
    free(r->need_variant);
    free(r->need_data);
    free(r->sets);
    free(r->data_hash);
    free(r->teacher_hash);
    free(r->out);
    free(r->data_root);
    free(r->fh_path);
    free(r->fh_hash);
    free(r);
}

char *run_path(const run_state *r, const char *a, const char *b, const char *c)
{
    char buf[4096];
    const char *root = r->data_root && strcmp(a, "data") == 0 ? r->data_root : r->out;
    snprintf(buf, sizeof buf, "%s/%s%s%s%s%s", root, a, b ? "/" : "", b ? b : "", c ? "/" : "",
             c ? c : "");
    return strdup(buf);
}

/* Renders world set i into dir/set (a unit of its own). */
static int render_set(run_state *r, int i, const char *dir, must_err *err)
{
    const must_exp_data *d = &r->e->data[i];
    char what[128];
    snprintf(what, sizeof what, "data %s", d->name);
    must_world_domain *dom = NULL;
    int rc;
    if ((rc = run_unit_begin(r, dir, r->data_hash[i], what, err)) ||
        (rc = must_world_domain_load(d->world, &dom, err)))
        return rc;
    must_world_gen_opts go = {0};
    go.count = d->count ? d->count : must_world_domain_default_count(dom);
    go.size = d->size;
    go.seed = d->seed;
    go.threads = r->e->threads;
    go.truth = 1;
    go.quiet = 1;
    char *set = must_path_join(dir, "set");
    pl_say(&r->events, "[data %s] rendering %d images of '%s' at %dx%d", d->name, go.count,
           d->world, go.size, go.size);
    rc = set ? must_world_generate(dom, set, &go, NULL, err)
             : must_err_set(err, MUST_ENOMEM, "out of memory");
    free(set);
    must_world_domain_free(dom);
    return rc ? rc : run_unit_finish(dir, r->data_hash[i], err);
}

int run_dataset(run_state *r, int i, must_dataset **out, must_err *err)
{
    const must_exp_data *d = &r->e->data[i];
    if (r->sets[i]) {
        *out = r->sets[i];
        return MUST_OK;
    }
    int rc = MUST_OK;
    if (d->world) {
        char *dir = run_path(r, "data", d->name, NULL);
        char *set = dir ? must_path_join(dir, "set") : NULL;
        if (!set)
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        else if (!run_unit_done(dir, r->data_hash[i]) && r->readonly)
            rc = must_err_set(err, MUST_ENOTFOUND,
                              "not rendered in %s, and this command writes nothing (render it "
                              "with must run, or name another run directory)", r->out);
        else if (!run_unit_done(dir, r->data_hash[i]))
            rc = render_set(r, i, dir, err);
        if (!rc)
            rc = must_dataset_open(set, &r->sets[i], err);
        free(set);
        free(dir);
    } else
        rc = must_dataset_open(d->path, &r->sets[i], err);
    if (rc)
        must_err_prefix(err, "[data.%s]", d->name);
    /* Every rank opens its sets alike; a failure stops all of them. */
    if ((rc = must_dist_agree(rc, err)) && r->sets[i]) {
        must_dataset_close(r->sets[i]);
        r->sets[i] = NULL;
    }
    *out = r->sets[i];
    return rc;
}
