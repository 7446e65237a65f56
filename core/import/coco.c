/* coco.c - COCO annotation files (object instances) to a detection and
 * segmentation set: boxes clipped to their image, a class map painted from
 * the instances' masks, crowd regions as difficult boxes and ignored
 * pixels, the files' splits or seeded ones.  The files are read and checked
 * whole first (coco_read.c), so that a bad file writes nothing. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coco-impl.h"
#include "must/image.h"
#include "import-impl.h"
#include "must/io.h"
#include "must/sampler.h"

#define DET MUST_LABEL_BIT(MUST_LABEL_DETECTION)
#define SEG MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION)
#define NAMED_MISSING 5 /* missing images named in a message; the rest are counted */

void must_import_coco_defaults(must_coco_opts *o)
{
    memset(o, 0, sizeof *o);
    must_import_defaults(&o->common);
    o->tasks = DET | SEG;
}

/* What writing the images needs besides the database. */
/* An annotation of an image (k-th) and the pixels its mask sets. */
struct ranked {
    long area;
    int k;
};

typedef struct coco_job {
    const coco_db *db;
    const must_coco_source *src;
    const must_coco_opts *o;
    must_coco_counts *c;
    uint8_t *mask;         /* scratch, zero outside a fill */
    size_t mask_size;
    struct ranked *rank;   /* an image's annotations by area */
    size_t nrank;
} coco_job;

/* ------------------------------------------------------------------------ */
/* Before writing: which images are there, and their splits. */

/* Marks the images whose file is there (keep[i] = 1); the missing ones are
 * an error naming the first few, or skipped and counted. */
static int find_missing(const coco_job *j, char *keep, must_err *err)
{
    const coco_db *db = j->db;
    char named[NAMED_MISSING * 256] = "";
    size_t len = 0;
    long missing = 0;
    for (int i = 0; i < db->nimages; i++) {
        const coco_image *im = &db->images[i];
        char *p = must_path_join(j->src[im->src].images, im->file_name);
        if (!p)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        keep[i] = (char)must_file_exists(p);
        if (!keep[i] && missing++ < NAMED_MISSING && len < sizeof named)
            len += (size_t)snprintf(named + len, sizeof named - len, "%s%s", len ? ", " : "", p);
        free(p);
    }
    if (!missing)
        return MUST_OK;
    char more[64] = "";
    if (missing > NAMED_MISSING)
        snprintf(more, sizeof more, " and %ld more", missing - NAMED_MISSING);
    if (!j->o->skip_missing)
        return must_err_set(err, MUST_ENOTFOUND, "%ld of the %d images the annotations name are "
                            "missing: %s%s (skip_missing leaves them out)", missing, db->nimages,
                            named, more);
    imp_note(&j->o->common, "skipped %ld missing images: %s%s", missing, named, more);
    j->c->common.skipped = missing;
    if (missing == db->nimages)
        return must_err_set(err, MUST_ENOTFOUND, "every one of the %d images the annotations "
                            "name is missing: %s%s", db->nimages, named, more);
    return MUST_OK;
}

static int cmp_by_sid(const void *a, const void *b)
{
    return strcmp((*(const coco_image *const *)a)->sid, (*(const coco_image *const *)b)->sid);
}

/* Each kept image's split: its file's, or for files without one a seeded
 * split over all their images in the order of the set's ids. */
static int assign_splits(const coco_job *j, const char *keep, int *split, must_err *err)
{
    const coco_db *db = j->db;
    const coco_image **pool = malloc((size_t)(db->nimages ? db->nimages : 1) * sizeof *pool);
    int n = 0;
    if (!pool)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int i = 0; i < db->nimages; i++) {
        split[i] = j->src[db->images[i].src].split;
        if (keep[i] && split[i] < 0)
            pool[n++] = &db->images[i];
    }
    /* The set's ids are distinct: any sort gives the same order. */
    if (n > 1) /* qsort's base may not be NULL, even for none */
        qsort(pool, (size_t)n, sizeof *pool, cmp_by_sid);
    uint64_t key = must_hash64(j->o->common.seed, 0);
    for (int r = 0; r < n; r++)
        split[pool[must_permute(key, (size_t)n, (size_t)r)] - db->images] =
            imp_split_of(r, n, j->o->common.val, j->o->common.test);
    free(pool);
    return MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* One image's labels. */

/* Boxes from bbox (x y w h), clipped to the image; zero-area ones left out. */
static int add_boxes(coco_job *j, const coco_image *im, must_labels *l, must_err *err)
{
    for (int k = 0; k < im->nann; k++) {
        const coco_ann *a = &j->db->anns[j->db->order[im->first + k]];
        double x0 = a->box[0], y0 = a->box[1], x1 = x0 + a->box[2], y1 = y0 + a->box[3];
        float cx0 = (float)fmax(x0, 0.0), cy0 = (float)fmax(y0, 0.0);
        float cx1 = (float)fmin(x1, (double)im->width), cy1 = (float)fmin(y1, (double)im->height);
        if (!(cx0 < cx1 && cy0 < cy1)) {
            j->c->dropped++;
            continue;
        }
        /* Clipped: the box differs from the uncut one (as floats). */
        if (cx0 != (float)x0 || cy0 != (float)y0 || cx1 != (float)x1 || cy1 != (float)y1)
            j->c->clipped++;
        must_box b = {cx0, cy0, cx1, cy1, a->cls, 1.0f, a->crowd};
        if (must_boxes_push(&l->boxes, &b, err))
            return MUST_ENOMEM;
        j->c->boxes++;
    }
    return MUST_OK;
}

/* Fills annotation a's mask into the scratch; *win says where it lies. */
static int fill(coco_job *j, const coco_ann *a, coco_win *win, int *has, must_err *err)
{
    coco_win_empty(win);
    return coco_ann_mask(j->db, a, j->mask, win, has, err);
}

/* Pixels of the window set in the scratch: counted, painted into seg with
 * value (when seg is not NULL), cleared. */
static long sweep(coco_job *j, int w, const coco_win *win, float *seg, float value)
{
    long n = 0;
    for (int y = win->y0; y < win->y1; y++) {
        uint8_t *row = j->mask + (size_t)y * (size_t)w;
        for (int x = win->x0; x < win->x1; x++)
            if (row[x]) {
                n++;
                row[x] = 0;
                if (seg)
                    seg[(size_t)y * (size_t)w + (size_t)x] = value;
            }
    }
    return n;
}

/* Larger first; equal areas in file order. */
static int cmp_area(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->area != y->area)
        return x->area > y->area ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

/* The class map: 0 background, 1 + class for an instance, 255 for a crowd;
 * larger instances first, so that smaller ones stay on top. */
static int paint(coco_job *j, const coco_image *im, must_map *seg, must_err *err)
{
    size_t need = (size_t)im->width * (size_t)im->height;
    if (need > j->mask_size) {
        free(j->mask);
        if (!(j->mask = calloc(need, 1)))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        j->mask_size = need;
    }
    if ((size_t)im->nann > j->nrank) {
        free(j->rank);
        if (!(j->rank = malloc((size_t)im->nann * sizeof *j->rank)))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        j->nrank = (size_t)im->nann;
    }
    for (int k = 0; k < im->nann; k++) {
        coco_win win;
        int has, rc = fill(j, &j->db->anns[j->db->order[im->first + k]], &win, &has, err);
        if (rc)
            return rc;
        j->rank[k] = (struct ranked){sweep(j, im->width, &win, NULL, 0.0f), k};
        j->c->unmasked += !has;
    }
    if (im->nann > 1) /* qsort's base may not be NULL, even for none */
        qsort(j->rank, (size_t)im->nann, sizeof *j->rank, cmp_area);
    for (int k = 0; k < im->nann; k++) {
        const coco_ann *a = &j->db->anns[j->db->order[im->first + j->rank[k].k]];
        coco_win win;
        int has, rc = fill(j, a, &win, &has, err);
        if (rc)
            return rc;
        sweep(j, im->width, &win, seg->data, a->crowd ? (float)MUST_SEG_IGNORE : 1.0f + a->cls);
    }
    return MUST_OK;
}

/* Image i with its labels into the writer. */
static int write_image(coco_job *j, must_dataset_writer *w, int i, int split, must_err *err)
{
    const coco_image *im = &j->db->images[i];
    must_labels l;
    must_labels_init(&l);
    l.has = j->o->tasks;
    int rc = MUST_OK;
    if (j->o->tasks & DET)
        rc = add_boxes(j, im, &l, err);
    if (!rc && (j->o->tasks & SEG) &&
        !(rc = must_map_alloc(&l.seg, 1, im->height, im->width, err)))
        rc = paint(j, im, &l.seg, err);
    char *path = rc ? NULL : must_path_join(j->src[im->src].images, im->file_name);
    if (!rc && !path)
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    /* The file's size must be the one the annotations were made on, also
     * when no segmentation map of that size would tell. */
    int fw = 0, fh = 0;
    if (!rc && !(rc = must_image_info(path, NULL, &fw, &fh, NULL, NULL, err)) &&
        (fw != im->width || fh != im->height))
        rc = must_err_set(err, MUST_EFORMAT, "%s: images[%d]: width x height %d x %d, but %s is "
                          "%d x %d", j->db->paths[im->src], im->index, im->width, im->height,
                          path, fw, fh);
    if (!rc && (rc = must_dataset_writer_add_file(w, im->sid, split, path, &l, err)) &&
        rc != MUST_ENOMEM)
        must_err_prefix(err, "%s: images[%d] (%s)", j->db->paths[im->src], im->index, path);
    free(path);
    for (int k = 0; !rc && k < im->nann; k++)
        j->c->crowd += j->db->anns[j->db->order[im->first + k]].crowd;
    j->c->annotations += rc ? 0 : im->nann;
    must_labels_free(&l);
    return rc;
}

/* ------------------------------------------------------------------------ */

/* The set's spec: the categories in ascending id, with the ids; for
 * segmentation "background" (id 0) first. */
static int make_spec(const coco_job *j, const char *out, must_dataset_spec *spec,
                     const char ***seg_names, int **seg_ids, must_err *err)
{
    const coco_db *db = j->db;
    *spec = (must_dataset_spec){.name = imp_set_name(&j->o->common, out), .tasks = j->o->tasks};
    spec->task[MUST_LABEL_DETECTION] =
        (must_task_spec){db->ncats, db->cat_names, MUST_SOURCE_SUPERVISED, NULL, NULL,
                         db->cat_ids};
    *seg_names = malloc((size_t)(db->ncats + 1) * sizeof **seg_names);
    *seg_ids = malloc((size_t)(db->ncats + 1) * sizeof **seg_ids);
    if (!*seg_names || !*seg_ids)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    int zero = 0;
    (*seg_names)[0] = "background";
    (*seg_ids)[0] = 0;
    for (int k = 0; k < db->ncats; k++) {
        (*seg_names)[k + 1] = db->cat_names[k];
        (*seg_ids)[k + 1] = db->cat_ids[k];
        zero |= db->cat_ids[k] == 0;
    }
    if (zero && (j->o->tasks & SEG))
        imp_note(&j->o->common, "a category has id 0, which segmentation's background takes: "
                 "the segmentation classes carry no ids");
    spec->task[MUST_LABEL_SEGMENTATION] =
        (must_task_spec){db->ncats + 1, *seg_names, MUST_SOURCE_SUPERVISED, NULL, NULL,
                         zero ? NULL : *seg_ids};
    return MUST_OK;
}

/* The checks of the arguments. */
static int check_args(const must_coco_source *src, int nsrc, const must_coco_opts *o,
                      must_err *err)
{
    if (!o->tasks || (o->tasks & ~(DET | SEG)))
        return must_err_set(err, MUST_EINVAL, "COCO gives detection and segmentation labels "
                            "(task mask 0x%x)", o->tasks);
    if (o->common.val < 0 || o->common.test < 0 || o->common.val + o->common.test > 1.0)
        return must_err_set(err, MUST_EINVAL, "val %g and test %g are not fractions that "
                            "leave room for train", o->common.val, o->common.test);
    for (int s = 0; s < nsrc; s++)
        if (!src[s].annotations || !src[s].images || src[s].split < -1 ||
            src[s].split >= MUST_NSPLITS)
            return must_err_set(err, MUST_EINVAL, "COCO source %d: needs an annotation file, "
                                "an images directory and a split (or -1)", s);
    return MUST_OK;
}

static int write_set(coco_job *j, const char *out, const char *keep, const int *split,
                     must_err *err)
{
    must_dataset_spec spec;
    const char **seg_names = NULL;
    int *seg_ids = NULL;
    must_dataset_writer *w = NULL;
    int rc = make_spec(j, out, &spec, &seg_names, &seg_ids, err);
    if (!rc)
        rc = must_dataset_writer_new(out, &spec, &w, err);
    if (!rc) /* under mpirun, each rank writes its share (must/dataset.h) */
        must_dataset_writer_share(w);
    for (int i = 0; !rc && i < j->db->nimages; i++) {
        if (!keep[i])
            continue;
        rc = write_image(j, w, i, split[i], err);
        if (!rc) {
            j->c->common.images++;
            j->c->common.split[split[i]]++;
        }
    }
    if (!rc) {
        rc = must_dataset_writer_commit(w, err);
        w = NULL;
    }
    must_dataset_writer_abort(w); /* after an error: the set stays unfinished */
    free(seg_names);
    free(seg_ids);
    return rc;
}

int must_import_coco(const must_coco_source *src, int nsrc, const char *out,
                     const must_coco_opts *o, must_coco_counts *c, must_err *err)
{
    must_coco_opts defaults;
    must_coco_counts local;
    if (!o) {
        must_import_coco_defaults(&defaults);
        o = &defaults;
    }
    if (!c)
        c = &local;
    memset(c, 0, sizeof *c);
    int rc = check_args(src, nsrc, o, err);
    if (rc)
        return rc;
    coco_db db;
    rc = coco_db_read(&db, src, nsrc, (o->tasks & DET) != 0, err);
    coco_job j = {.db = &db, .src = src, .o = o, .c = c};
    char *keep = rc ? NULL : malloc((size_t)(db.nimages ? db.nimages : 1));
    int *split = rc ? NULL : malloc((size_t)(db.nimages ? db.nimages : 1) * sizeof *split);
    if (!rc && (!keep || !split))
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    if (!rc && db.nimages == 0)
        rc = must_err_set(err, MUST_EFORMAT, "%s: no images", src[0].annotations);
    if (!rc)
        rc = find_missing(&j, keep, err);
    if (!rc)
        rc = assign_splits(&j, keep, split, err);
    c->common.classes = rc ? 0 : db.ncats;
    if (!rc)
        rc = write_set(&j, out, keep, split, err);
    free(keep);
    free(split);
    free(j.mask);
    free(j.rank);
    coco_db_free(&db);
    return rc;
}
