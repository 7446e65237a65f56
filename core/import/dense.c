/* dense.c - `must import depth` and `must import normals`: images and
 * their per-pixel label maps, paired by stem (pairs.c), converted
 * (maps.c) and written through the dataset writer with a seeded split. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "import-impl.h"
#include "maps-impl.h"
#include "must/io.h"
#include "must/sampler.h"

static const char *const map_exts[] = {".png", ".npy", NULL};

void must_import_maps_defaults(must_import_maps *m)
{
    memset(m, 0, sizeof *m);
    m->scale = 0.001;
}

/* One import: the kind, how its maps are read, what they held. */
typedef struct job {
    int kind;              /* MUST_LABEL_DEPTH or MUST_LABEL_NORMAL */
    const char *what;      /* "depth map", "normal map" */
    double scale;
    imp_axes ax;
    long invalid, pixels;  /* no-data pixels of all maps, and all pixels */
} job;

/* Pair q into the writer. */
static int add_pair(must_dataset_writer *w, const must_import_maps *m, const imp_pair *q,
                    int split, job *j, must_err *err)
{
    char id[MUST_ID_MAX + 1];
    imp_make_id(id, q->stem, NULL, 0);
    char *img = must_path_join(m->images, q->image), *map = must_path_join(m->maps, q->map);
    must_labels l;
    must_labels_init(&l);
    long bad = 0;
    int rc = !img || !map ? must_err_set(err, MUST_ENOMEM, "out of memory")
             : j->kind == MUST_LABEL_DEPTH ? imp_depth_read(map, j->scale, &l.depth, &bad, err)
                                           : imp_normal_read(map, &j->ax, &l.normal, &bad, err);
    if (rc == MUST_OK) {
        const must_map *mm = j->kind == MUST_LABEL_DEPTH ? &l.depth : &l.normal;
        l.has = MUST_LABEL_BIT(j->kind);
        j->invalid += bad;
        j->pixels += (long)mm->width * mm->height;
        rc = must_dataset_writer_add_file(w, id, split, img, &l, err);
        if (rc == MUST_ESHAPE && err) {
            char why[MUST_ERR_MSG_MAX];
            snprintf(why, sizeof why, "%s", err->msg);
            must_err_set(err, MUST_ESHAPE, "%s and its %s %s differ in size (%s)", img, j->what,
                         map, why);
        } else if (rc == MUST_EINVAL && err && strstr(err->msg, "duplicate image id")) {
            must_err_set(err, MUST_EINVAL, "%s: its id '%s' is taken by an earlier image "
                         "(stems that differ only in characters outside A-Z a-z 0-9 _ - .)",
                         img, id);
        }
    }
    must_labels_free(&l);
    free(img);
    free(map);
    return rc;
}

/* The checks of what the caller asked for, before any file is read. */
static int check_args(const must_import_maps *m, const char *out, const must_import_opts *o,
                      job *j, must_err *err)
{
    if (!m || !m->images || !m->maps || !out)
        return must_err_set(err, MUST_EINVAL, "import %s: needs the images' folder, the "
                            "maps' folder and OUT", must_label_kind_name(j->kind));
    if (o->val < 0 || o->test < 0 || o->val + o->test > 1.0)
        return must_err_set(err, MUST_EINVAL, "val %g and test %g are not fractions that "
                            "leave room for train", o->val, o->test);
    j->scale = m->scale == 0.0 ? 0.001 : m->scale;
    if (!(j->scale > 0.0) || !isfinite(j->scale) || !((float)j->scale > 0.0f) ||
        !isfinite((float)j->scale))
        return must_err_set(err, MUST_EINVAL, "depth scale %g is not a positive number of "
                            "metres per unit", m->scale);
    if (j->kind == MUST_LABEL_NORMAL)
        return imp_axes_parse(m->convention, &j->ax, err);
    return MUST_OK;
}

static int import_maps(job *j, const must_import_maps *m, const char *out,
                       const must_import_opts *o, must_import_counts *c, must_err *err)
{
    must_import_opts defaults;
    if (!o) {
        must_import_defaults(&defaults);
        o = &defaults;
    }
    memset(c, 0, sizeof *c);
    imp_pairs p = {0};
    must_dataset_writer *w = NULL;
    int rc = check_args(m, out, o, j, err);
    if (!rc)
        rc = imp_pair_dirs(m->images, m->maps, map_exts, j->what, m->skip_unpaired, o, &p, err);
    if (!rc) {
        must_dataset_spec spec = {.name = imp_set_name(o, out),
                                  .tasks = MUST_LABEL_BIT(j->kind),
                                  .depth_scale = (float)j->scale};
        spec.task[j->kind].source = MUST_SOURCE_SUPERVISED;
        rc = must_dataset_writer_new(out, &spec, &w, err);
        if (!rc) /* under mpirun, each rank writes its share (must/dataset.h) */
            must_dataset_writer_share(w);
    }
    /* Test first, then val, in a seeded order of the pairs (as imagefolder
     * does per class). */
    uint64_t key = must_hash64(o->seed, (uint64_t)j->kind);
    for (int r = 0; !rc && r < p.n; r++) {
        const imp_pair *q = &p.v[must_permute(key, (size_t)p.n, (size_t)r)];
        int split = imp_split_of(r, p.n, o->val, o->test);
        rc = add_pair(w, m, q, split, j, err);
        if (!rc) {
            c->split[split]++;
            c->images++;
        }
    }
    if (!rc) {
        rc = must_dataset_writer_commit(w, err);
        w = NULL;
    }
    must_dataset_writer_abort(w);
    c->skipped = p.skipped;
    imp_pairs_free(&p);
    if (!rc && j->invalid)
        imp_note(o, "%ld of %ld pixels (%.1f%%) have no %s", j->invalid, j->pixels,
                 100.0 * (double)j->invalid / (double)j->pixels,
                 j->kind == MUST_LABEL_DEPTH ? "depth" : "valid normal");
    return rc;
}

int must_import_depth(const must_import_maps *m, const char *out, const must_import_opts *o,
                      must_import_counts *c, must_err *err)
{
    job j = {.kind = MUST_LABEL_DEPTH, .what = "depth map"};
    return import_maps(&j, m, out, o, c, err);
}

int must_import_normals(const must_import_maps *m, const char *out, const must_import_opts *o,
                        must_import_counts *c, must_err *err)
{
    job j = {.kind = MUST_LABEL_NORMAL, .what = "normal map"};
    return import_maps(&j, m, out, o, c, err);
}
