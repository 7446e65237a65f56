/* voc.c - a Pascal VOC year folder (VOCdevkit/VOC2012) to a detection
 * and/or segmentation set: which images (each kind's lists or folder,
 * joined), their splits, the images looked for and every annotation read
 * and checked, and only then the set written.  The pieces are in
 * voc-impl.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "import-impl.h"
#include "voc-impl.h"
#include "must/image.h"
#include "must/io.h"
#include "must/sampler.h"

#define DET MUST_LABEL_BIT(MUST_LABEL_DETECTION)
#define SEG MUST_LABEL_BIT(MUST_LABEL_SEGMENTATION)
#define NAMED 5 /* names a message lists; the rest are counted */

void must_import_voc_defaults(must_voc_opts *o)
{
    memset(o, 0, sizeof *o);
    must_import_defaults(&o->common);
}

/* The first NAMED of some names, for a message, and how many there were. */
typedef struct namelist {
    char buf[NAMED * 96];
    size_t len;
    long n;
    char more[48];    /* " and 3 more", made by names_more */
} namelist;

static void names_add(namelist *l, const char *name)
{
    if (l->n++ < NAMED && l->len < sizeof l->buf)
        l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s%s",
                                   l->len ? ", " : "", name);
}

static const char *names_more(namelist *l)
{
    l->more[0] = '\0';
    if (l->n > NAMED)
        snprintf(l->more, sizeof l->more, " and %ld more", l->n - NAMED);
    return l->more;
}

typedef struct voc_item {
    const char *id;   /* into the job's ids */
    int split;
    char *image;      /* DIR/JPEGImages/<id>.jpg */
    int w, h;         /* the image's, from its file */
    must_boxes boxes;
} voc_item;

typedef struct voc_job {
    const char *dir;
    const must_voc_opts *o;
    must_voc_counts *c;
    unsigned tasks;
    voc_ids ids[2];   /* detection's, segmentation's (empty when not imported) */
    int n;
    voc_item *items;  /* the images to write, in id order */
    namelist no_ann, no_mask; /* the images left out, noted once all is read */
} voc_job;

/* DIR/sub is a folder. */
static int is_dir(const char *dir, const char *sub)
{
    char *p = must_path_join(dir, sub);
    struct stat st;
    int ok = p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    return ok;
}

/* The kinds to import: the caller's, or those DIR has; their folders. */
static int pick_tasks(voc_job *j, must_err *err)
{
    const char *dir = j->dir;
    unsigned t = j->o->tasks;
    if (t & ~(DET | SEG))
        return must_err_set(err, MUST_EINVAL, "Pascal VOC gives detection and segmentation "
                            "labels (task mask 0x%x)", t);
    if (!is_dir(dir, "."))
        return must_err_set(err, MUST_ENOTFOUND, "%s: no such folder", dir);
    int ann = is_dir(dir, "Annotations"), seg = is_dir(dir, "SegmentationClass");
    if (!t)
        t = (ann ? DET : 0) | (seg ? SEG : 0);
    if (!t)
        return must_err_set(err, MUST_ENOTFOUND, "%s: has neither Annotations/ nor "
                            "SegmentationClass/: not a VOC year folder (such as "
                            "VOCdevkit/VOC2012)", dir);
    if (((t & DET) && !ann) || ((t & SEG) && !seg))
        return must_err_set(err, MUST_ENOTFOUND, "%s/%s: no such folder, which %s needs", dir,
                            (t & DET) && !ann ? "Annotations" : "SegmentationClass",
                            (t & DET) && !ann ? "detection" : "segmentation");
    if (!is_dir(dir, "JPEGImages"))
        return must_err_set(err, MUST_ENOTFOUND, "%s/JPEGImages: no such folder", dir);
    j->tasks = t;
    return MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* Which images, and their splits. */

/* The split of an image from its places in the two kinds (ia, ib; -1 when
 * not there): a list's over none, train or val over trainval alone; two
 * lists that disagree are an error naming both. */
static int join_split(const voc_job *j, int ia, int ib, int *split, must_err *err)
{
    const voc_ids *a = &j->ids[0], *b = &j->ids[1];
    int sa = ia >= 0 ? a->split[ia] : VOC_SPLIT_SEEDED;
    int sb = ib >= 0 ? b->split[ib] : VOC_SPLIT_SEEDED;
    if (sa == VOC_SPLIT_SEEDED || sa == sb || (sa == VOC_SPLIT_TRAINVAL && sb != MUST_SPLIT_TEST))
        *split = sb == VOC_SPLIT_SEEDED ? sa : sb;
    else if (sb == VOC_SPLIT_SEEDED || (sb == VOC_SPLIT_TRAINVAL && sa != MUST_SPLIT_TEST))
        *split = sa;
    else
        return must_err_set(err, MUST_EFORMAT, "%s/%s/%s:%ld: '%s' is in another split in "
                            "%s/%s/%s:%ld: an image has one split", j->dir, a->lists,
                            voc_list_name(sa), a->line[ia], a->id[ia], j->dir, b->lists,
                            voc_list_name(sb), b->line[ib]);
    return MUST_OK;
}

/* Notes on the images left out for want of a kind's label: without the
 * file, or (when the kind has lists) not listed with it. */
static void note_left_out(voc_job *j)
{
    static const char *const what[2] = {"an annotation (Annotations/<id>.xml",
                                        "a mask (SegmentationClass/<id>.png"};
    static const char *const other[2] = {"segmentation", "detection"};
    namelist *left[2] = {&j->no_ann, &j->no_mask};
    for (int k = 0; k < 2; k++) {
        if (!left[k]->n)
            continue;
        char hint[96] = "";
        if (j->tasks == (DET | SEG))
            snprintf(hint, sizeof hint, " (a set has every label of its kinds: --tasks %s "
                     "imports them)", other[k]);
        imp_note(&j->o->common, "left out %ld image%s without %s%s%s): %s%s%s", left[k]->n,
                 left[k]->n == 1 ? "" : "s", what[k], j->ids[k].listed ? ", listed in " : "",
                 j->ids[k].listed ? j->ids[k].lists : "", left[k]->buf, names_more(left[k]),
                 hint);
    }
}

/* The images that have a label of every kind imported, in id order (a
 * merge of the kinds' sorted ids), with their splits. */
static int select_items(voc_job *j, must_err *err)
{
    const voc_ids *a = &j->ids[0], *b = &j->ids[1];
    if (!(j->items = calloc((size_t)(a->n + b->n + 1), sizeof *j->items)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    namelist *no_ann = &j->no_ann, *no_mask = &j->no_mask;
    int i = 0, k = 0, rc = MUST_OK;
    while (!rc && (i < a->n || k < b->n)) {
        int cmp = i >= a->n ? 1 : k >= b->n ? -1 : strcmp(a->id[i], b->id[k]);
        int ia = cmp <= 0 ? i++ : -1, ib = cmp >= 0 ? k++ : -1;
        const char *id = ia >= 0 ? a->id[ia] : b->id[ib];
        int has_det = !(j->tasks & DET) || (ia >= 0 && a->has[ia]);
        int has_seg = !(j->tasks & SEG) || (ib >= 0 && b->has[ib]);
        if (!has_det)
            names_add(no_ann, id);
        if (!has_seg)
            names_add(no_mask, id);
        if (!has_det || !has_seg)
            continue;
        j->items[j->n].id = id;
        if (!(rc = join_split(j, ia, ib, &j->items[j->n].split, err)))
            j->n++;
    }
    j->c->no_annotation = no_ann->n;
    j->c->no_mask = no_mask->n;
    if (rc)
        return rc;
    if (!j->n)
        return must_err_set(err, MUST_ENOTFOUND, "%s: no image has %s", j->dir,
                            j->tasks == (DET | SEG) ? "both an annotation and a mask (--tasks "
                            "picks one kind)" : j->tasks & DET ? "an annotation" : "a mask");
    return MUST_OK;
}

/* JPEGImages/<id>.jpg of each image; the missing ones are an error that
 * names the first few, or left out and counted (skip_missing). */
static int find_images(voc_job *j, must_err *err)
{
    namelist missing = {0};
    int kept = 0;
    for (int i = 0; i < j->n; i++) {
        voc_item it = j->items[i];
        char rel[MUST_ID_MAX + 32];
        snprintf(rel, sizeof rel, "JPEGImages/%s.jpg", it.id);
        if (!(it.image = must_path_join(j->dir, rel))) {
            j->n = kept; /* the slots past it own nothing */
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        }
        if (must_file_exists(it.image)) {
            j->items[kept++] = it;
            continue;
        }
        names_add(&missing, it.image);
        free(it.image);
    }
    int total = j->n;
    j->n = kept;
    if (!missing.n)
        return MUST_OK;
    if (!j->o->skip_missing)
        return must_err_set(err, MUST_ENOTFOUND, "%ld of the %d images are missing: %s%s "
                            "(skip_missing leaves them out)", missing.n, total, missing.buf,
                            names_more(&missing));
    j->c->common.skipped = missing.n;
    imp_note(&j->o->common, "skipped %ld missing images: %s%s", missing.n, missing.buf,
             names_more(&missing));
    if (!kept)
        return must_err_set(err, MUST_ENOTFOUND, "every one of the %d images is missing",
                            total);
    return MUST_OK;
}

/* The seeded splits: of the images no list names (test, val, train by the
 * fractions), and of those only trainval.txt names (val, train). */
static int seed_splits(voc_job *j, must_err *err)
{
    int *pool = malloc((size_t)(j->n ? j->n : 1) * sizeof *pool);
    if (!pool)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int pass = 0; pass < 2; pass++) {
        int which = pass ? VOC_SPLIT_TRAINVAL : VOC_SPLIT_SEEDED, n = 0;
        for (int i = 0; i < j->n; i++)
            if (j->items[i].split == which)
                pool[n++] = i;
        uint64_t key = must_hash64(j->o->common.seed, (uint64_t)pass);
        for (int r = 0; r < n; r++)
            j->items[pool[must_permute(key, (size_t)n, (size_t)r)]].split =
                imp_split_of(r, n, j->o->common.val, pass ? 0.0 : j->o->common.test);
    }
    free(pool);
    return MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* The annotations, read and checked before anything is written. */

/* What reading the annotations found worth a note: the first of each. */
typedef struct voc_findings {
    voc_box_counts boxes;
    char clipped[320];
    char filename[512];
    char size[512];
} voc_findings;

/* Annotations/<id>.xml of it into its boxes, against its image's size. */
static int read_annotation(voc_job *j, voc_item *it, voc_findings *f, must_err *err)
{
    char rel[MUST_ID_MAX + 32];
    snprintf(rel, sizeof rel, "Annotations/%s.xml", it->id);
    char *xml = must_path_join(j->dir, rel);
    if (!xml)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    voc_annotation a;
    int rc = voc_xml_read(xml, &a, err);
    char want[MUST_ID_MAX + 8];
    snprintf(want, sizeof want, "%s.jpg", it->id);
    if (!rc && a.filename[0] && strcmp(a.filename, want) != 0 && !j->c->filename_mismatch++)
        snprintf(f->filename, sizeof f->filename, "%s: '%s'", xml, a.filename);
    if (!rc && a.width && (a.width != it->w || a.height != it->h) && !j->c->size_mismatch++)
        snprintf(f->size, sizeof f->size, "%s:%ld: %dx%d, %s is %dx%d", xml, a.size_line,
                 a.width, a.height, it->image, it->w, it->h);
    long clipped = f->boxes.clipped;
    if (!rc)
        rc = voc_boxes(xml, &a, it->w, it->h, &it->boxes, &f->boxes, err);
    if (!rc && !clipped && f->boxes.clipped)
        snprintf(f->clipped, sizeof f->clipped, "%s:%ld", xml, f->boxes.clipped_line);
    voc_annotation_free(&a);
    free(xml);
    return rc;
}

static void note_findings(const voc_job *j, const voc_findings *f)
{
    const must_voc_counts *c = j->c;
    if (c->clipped)
        imp_note(&j->o->common, "clipped %ld box%s to %s image (the first: %s)", c->clipped,
                 c->clipped == 1 ? "" : "es", c->clipped == 1 ? "its" : "their", f->clipped);
    if (c->filename_mismatch)
        imp_note(&j->o->common, "%ld annotation%s name%s another image in <filename> than "
                 "<id>.jpg, which is used (the first: %s)", c->filename_mismatch,
                 c->filename_mismatch == 1 ? "" : "s", c->filename_mismatch == 1 ? "s" : "",
                 f->filename);
    if (c->size_mismatch)
        imp_note(&j->o->common, "%ld annotation%s give%s another <size> than the image's, "
                 "which is used (the first: %s)", c->size_mismatch,
                 c->size_mismatch == 1 ? "" : "s", c->size_mismatch == 1 ? "s" : "", f->size);
}

/* Each image's size; each annotation read, its boxes made. */
static int read_all(voc_job *j, must_err *err)
{
    voc_findings f;
    memset(&f, 0, sizeof f);
    int rc = MUST_OK;
    for (int i = 0; !rc && i < j->n; i++) {
        voc_item *it = &j->items[i];
        rc = must_image_info(it->image, NULL, &it->w, &it->h, NULL, NULL, err);
        if (!rc && (j->tasks & DET))
            rc = read_annotation(j, it, &f, err);
    }
    j->c->boxes = f.boxes.boxes;
    j->c->difficult = f.boxes.difficult;
    j->c->clipped = f.boxes.clipped;
    if (!rc) {
        note_left_out(j);
        note_findings(j, &f);
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The set. */

static int write_item(voc_job *j, must_dataset_writer *w, voc_item *it, must_err *err)
{
    must_labels l;
    must_labels_init(&l);
    l.has = j->tasks;
    l.boxes = it->boxes; /* taken over: freed with l */
    memset(&it->boxes, 0, sizeof it->boxes);
    int rc = MUST_OK;
    if (j->tasks & SEG) {
        char rel[MUST_ID_MAX + 32];
        snprintf(rel, sizeof rel, "SegmentationClass/%s.png", it->id);
        char *mask = must_path_join(j->dir, rel);
        long voids = 0;
        rc = mask ? voc_mask_read(mask, it->image, it->w, it->h, &l.seg, &voids, err)
                  : must_err_set(err, MUST_ENOMEM, "out of memory");
        j->c->void_pixels += voids;
        free(mask);
    }
    if (!rc)
        rc = must_dataset_writer_add_file(w, it->id, it->split, it->image, &l, err);
    must_labels_free(&l);
    return rc;
}

static int write_set(voc_job *j, const char *out, must_err *err)
{
    const char *seg_names[VOC_NCLASSES + 1] = {"background"};
    memcpy(seg_names + 1, voc_classes, sizeof voc_classes);
    must_dataset_spec spec = {.name = imp_set_name(&j->o->common, out), .tasks = j->tasks};
    spec.task[MUST_LABEL_DETECTION] =
        (must_task_spec){VOC_NCLASSES, voc_classes, MUST_SOURCE_SUPERVISED, NULL, NULL, NULL};
    spec.task[MUST_LABEL_SEGMENTATION] =
        (must_task_spec){VOC_NCLASSES + 1, seg_names, MUST_SOURCE_SUPERVISED, NULL, NULL, NULL};
    must_dataset_writer *w = NULL;
    int rc = must_dataset_writer_new(out, &spec, &w, err);
    if (!rc) /* under mpirun, each rank writes its share (must/dataset.h) */
        must_dataset_writer_share(w);
    for (int i = 0; !rc && i < j->n; i++) {
        rc = write_item(j, w, &j->items[i], err);
        if (!rc) {
            j->c->common.images++;
            j->c->common.split[j->items[i].split]++;
        }
    }
    if (!rc) {
        rc = must_dataset_writer_commit(w, err);
        w = NULL;
    }
    must_dataset_writer_abort(w); /* after an error: the set stays unfinished */
    return rc;
}

static void job_free(voc_job *j)
{
    for (int i = 0; j->items && i < j->n; i++) {
        free(j->items[i].image);
        must_boxes_free(&j->items[i].boxes);
    }
    free(j->items);
    voc_ids_free(&j->ids[0]);
    voc_ids_free(&j->ids[1]);
}

int must_import_voc(const char *dir, const char *out, const must_voc_opts *o,
                    must_voc_counts *c, must_err *err)
{
    must_voc_opts defaults;
    must_voc_counts local;
    if (!o) {
        must_import_voc_defaults(&defaults);
        o = &defaults;
    }
    if (!c)
        c = &local;
    memset(c, 0, sizeof *c);
    if (!voc_xml_available())
        return must_err_set(err, MUST_EINVAL, "this build of must has no Pascal VOC import: "
                            "it was configured without libxml2, which reads VOC's XML "
                            "annotations (on Debian: apt-get install libxml2-dev, then "
                            "configure and build must again)");
    if (o->common.val < 0 || o->common.test < 0 || o->common.val + o->common.test > 1.0)
        return must_err_set(err, MUST_EINVAL, "val %g and test %g are not fractions that "
                            "leave room for train", o->common.val, o->common.test);
    voc_job j;
    memset(&j, 0, sizeof j);
    j.dir = dir;
    j.o = o;
    j.c = c;
    int rc = pick_tasks(&j, err);
    if (!rc && (j.tasks & DET))
        rc = voc_ids_read(dir, MUST_LABEL_DETECTION, &j.ids[0], err);
    if (!rc && (j.tasks & SEG))
        rc = voc_ids_read(dir, MUST_LABEL_SEGMENTATION, &j.ids[1], err);
    if (!rc && !(rc = select_items(&j, err)) && !(rc = find_images(&j, err)) &&
        !(rc = seed_splits(&j, err)) && !(rc = read_all(&j, err))) {
        c->tasks = j.tasks;
        c->common.classes = VOC_NCLASSES;
        rc = write_set(&j, out, err);
    }
    job_free(&j);
    return rc;
}
