/* must/dataset.h - dataset directories (docs/dataset-format.md): read, write, check.
 *
 * A dataset is opened whole: dataset.ini, the list of images/, the split
 * lists and the small text label stores (classification.txt,
 * detection.txt) are read and checked at open and kept in memory; the PNG
 * label maps are read per example.  An open dataset is read-only, so any
 * number of loader threads may call must_dataset_load() on it at once.
 *
 * Errors name the dataset, the file and the line, e.g.
 *   dataset "world-det": DIR/labels/detection.txt:12: box of 'img3': class 7 out of range 0..2
 */
#ifndef MUST_DATASET_H
#define MUST_DATASET_H

#include <stddef.h>

#include "must/error.h"
#include "must/export.h"
#include "must/image.h"
#include "must/labels.h"

#ifdef __cplusplus
extern "C" {
#endif

enum must_label_source { MUST_SOURCE_SUPERVISED = 0, MUST_SOURCE_PSEUDO = 1 };

enum must_split { MUST_SPLIT_TRAIN = 0, MUST_SPLIT_VAL = 1, MUST_SPLIT_TEST = 2, MUST_NSPLITS = 3 };

/* "train", "val", "test"; and back (-1 when unknown). */
MUST_API const char *must_split_name(int split);
MUST_API int must_split_parse(const char *name);

#define MUST_ID_MAX 64

/* 1 when id is a valid image id: 1-64 of A-Z a-z 0-9 _ - . not starting with '.'. */
MUST_API int must_dataset_id_valid(const char *id);

/* ------------------------------------------------------------------------ */
/* Reading. */

typedef struct must_dataset must_dataset;

/* Opens DIR; on success *out owns everything (must_dataset_close).  Stops
 * at the first problem; must_dataset_check() lists them all. */
MUST_API int must_dataset_open(const char *dir, must_dataset **out, must_err *err);
MUST_API void must_dataset_close(must_dataset *ds);

MUST_API const char *must_dataset_dir(const must_dataset *ds);
MUST_API const char *must_dataset_name(const must_dataset *ds);
/* Kinds present, as MUST_LABEL_BIT(kind) bits. */
MUST_API unsigned must_dataset_tasks(const must_dataset *ds);
/* Number of images; they are numbered 0..count-1 in byte order of their ids. */
MUST_API int must_dataset_count(const must_dataset *ds);
MUST_API const char *must_dataset_id(const must_dataset *ds, int index);
/* The index of an id, or -1. */
MUST_API int must_dataset_find(const must_dataset *ds, const char *id);
/* The width and height declared in dataset.ini, 0 when not declared. */
MUST_API void must_dataset_size(const must_dataset *ds, int *width, int *height);

/* Per task: the classes (classification, detection, segmentation; 0 for
 * depth and normal), the provenance, and for pseudo labels the teacher
 * checkpoint (NULL for supervised). */
MUST_API int must_dataset_nclasses(const must_dataset *ds, int kind);
MUST_API const char *must_dataset_class_name(const must_dataset *ds, int kind, int cls);
MUST_API int must_dataset_source(const must_dataset *ds, int kind);
MUST_API const char *must_dataset_teacher(const must_dataset *ds, int kind);
/* The classes' ids in the set they came from (dataset.ini's `ids`: one per
 * class, distinct), or NULL when the set does not say. */
MUST_API const int *must_dataset_class_ids(const must_dataset *ds, int kind);
/* Metres per stored depth unit (0 when the set has no depth). */
MUST_API float must_dataset_depth_scale(const must_dataset *ds);
/* A registered kind's [<kind>] keys as the set gives them (must/kinds.h:
 * the codec's keys_size bytes), NULL when the set lacks the kind or the
 * codec has no keys. */
MUST_API const void *must_dataset_kind_conf(const must_dataset *ds, int kind);

/* The images of a split, as indices in file order.  A split without a
 * list file is empty. */
MUST_API int must_dataset_split(const must_dataset *ds, int split, const int **indices);

/* Path of an image (images/<id>.png or images/<id>.jpg, whichever the set
 * has) or of its label file of a kind stored per image (the built-in maps;
 * a registered kind with a file store: labels/<kind>/<id><ext>), malloc'd;
 * NULL for another kind. */
MUST_API char *must_dataset_image_path(const must_dataset *ds, int index);
MUST_API char *must_dataset_label_path(const must_dataset *ds, int kind, int index);

/* Reads image `index` (PNG or JPEG, decoded in full) as float RGB
 * (3, H, W) in [0, 1] into *image, and the labels of the kinds in `want`
 * that the set carries into *labels (init'd by the caller; label->has says
 * which came).  Every label map must have the image's size.  Either output
 * may be NULL.  Thread-safe. */
MUST_API int must_dataset_load(const must_dataset *ds, int index, unsigned want, must_map *image,
                               must_labels *labels, must_err *err);

/* The cached text labels: the hard class (or -1 when soft; then *soft
 * points at K values) and the boxes of image index. */
MUST_API int must_dataset_cls(const must_dataset *ds, int index, const float **soft);
MUST_API const must_boxes *must_dataset_boxes(const must_dataset *ds, int index);

/* ------------------------------------------------------------------------ */
/* Checking: every problem, then a summary per task. */

/* Called once per problem (is_problem = 1) and once per summary line
 * (is_problem = 0); lines carry no "\n". */
typedef void (*must_dataset_report_fn)(void *user, int is_problem, const char *line);

/* Validates DIR completely: the ini, every image decodes, every label file
 * exists, decodes and has its image's size, class ids in range, boxes
 * inside their image, normals of unit length, split lists name existing
 * images at most once.  Sets *problems to the number found (0 = good) and
 * returns MUST_OK when the check itself ran; a negative status only when it
 * could not run at all (out of memory). */
MUST_API int must_dataset_check(const char *dir, must_dataset_report_fn report, void *user,
                                int *problems, must_err *err);

/* A contact sheet (`must dataset show`): one row per image, the image with
 * its boxes and class, then each map label it has (segmentation over the
 * image, depth as a colour ramp, normals as RGB), written as a PNG. */
typedef struct must_sheet_opts {
    int start; /* the first image: of the split, or of the whole set */
    int count; /* rows (default 8) */
    int split; /* MUST_SPLIT_*, or -1 for the whole set (default) */
    int tile;  /* tile side in pixels (default 128) */
} must_sheet_opts;
MUST_API void must_sheet_defaults(must_sheet_opts *o);
/* Draws the sheet into png_path (atomically); *rows (may be NULL) gets the
 * number of images drawn.  An empty range is an error naming the set. */
MUST_API int must_dataset_draw_sheet(must_dataset *ds, const must_sheet_opts *o,
                                     const char *png_path, int *rows, must_err *err);

/* ------------------------------------------------------------------------ */
/* Writing.  The writer creates DIR, writes each image and its label maps as
 * they are added, keeps the text labels and split lists in memory, and at
 * commit writes them and finally dataset.ini, each atomically: a directory
 * without dataset.ini is an unfinished set that nothing reads. */

typedef struct must_task_spec {
    int nclasses;               /* classification, detection, segmentation */
    const char *const *classes; /* nclasses names (no ',' ';' '#' or line ends) */
    int source;                 /* MUST_SOURCE_* */
    const char *teacher;        /* the checkpoint, required when source is pseudo */
    const char *threshold;      /* optional note on how pseudo labels were made, or NULL */
    /* Optional, classification/detection/segmentation: nclasses distinct
     * ids that the classes had in the set they came from (COCO's category
     * ids), written as `ids`, so that an export gives them back; or NULL. */
    const int *ids;
} must_task_spec;

typedef struct must_dataset_spec {
    const char *name;
    unsigned tasks;             /* MUST_LABEL_BIT(kind) bits: built-in or registered kinds */
    must_task_spec task[MUST_LABEL_MAX_KINDS];
    float depth_scale;          /* metres per unit; 0 means 0.001 */
    /* A registered kind's [<kind>] keys (must/kinds.h), a struct of its
     * codec's keys_size bytes (must_dataset_kind_conf of a set gives one);
     * NULL: the keys' defaults. */
    const void *kind_conf[MUST_LABEL_MAX_KINDS];
} must_dataset_spec;

typedef struct must_dataset_writer must_dataset_writer;

/* Refuses a DIR that already holds a dataset.ini.  Leftover images and
 * label maps of an earlier, unfinished writer in DIR are removed at commit. */
MUST_API int must_dataset_writer_new(const char *dir, const must_dataset_spec *spec,
                                     must_dataset_writer **out, must_err *err);
/* Adds one image (8-bit gray or RGB) under `id` to split (MUST_SPLIT_* or -1
 * for none) with its labels: exactly the kinds of the spec, maps of the
 * image's size, class ids in range.  Boxes are clipped to the image. */
MUST_API int must_dataset_writer_add(must_dataset_writer *w, const char *id, int split,
                                     const must_image *img, const must_labels *labels,
                                     must_err *err);
/* The same, copying an existing PNG or JPEG file byte for byte, never
 * re-encoded: a JPEG (by its first bytes, whatever its name) becomes
 * images/<id>.jpg, a PNG images/<id>.png.  The file is decoded once to
 * check it (a JPEG at 1/8 scale, which still reads all of its data). */
MUST_API int must_dataset_writer_add_file(must_dataset_writer *w, const char *id, int split,
                                          const char *path, const must_labels *labels,
                                          must_err *err);
/* Shares w over the MPI ranks of `mpirun -np N` (must/dist.h): every rank
 * makes the same calls in the same order, with the same ids and labels, and
 * the k-th image added is checked and written, with its label maps, by rank
 * k mod N alone; commit waits for every rank and rank 0 writes the text
 * files, so that the set is the one a single process writes, byte for byte.
 * Without MPI, or in one rank, nothing changes. */
MUST_API void must_dataset_writer_share(must_dataset_writer *w);
/* Writes the label files, split lists and dataset.ini; frees w either way. */
MUST_API int must_dataset_writer_commit(must_dataset_writer *w, must_err *err);
/* Frees w; DIR stays unfinished (no dataset.ini). */
MUST_API void must_dataset_writer_abort(must_dataset_writer *w);

/* Adding a kind to a set that exists: fn gives image `index`'s label of the
 * kind (into out, initialised; it sets the kind's bit and the label, an
 * image of the set's own size for a map, and may read the set, its other
 * kinds included, to make it).  Every image gets one. */
typedef int (*must_dataset_label_fn)(void *user, const must_dataset *ds, int index,
                                     must_labels *out, must_err *err);
/* Writes kind `kind` (built in or registered, one the set lacks) into the
 * set at DIR, its provenance and keys from spec->task[kind] and
 * spec->kind_conf[kind] (spec->depth_scale for depth; the rest of spec is
 * not read): the labels go to the kind's store as the writer writes them,
 * then dataset.ini is written again, whole and atomically, with the kind
 * in `tasks` and its section (comments of the old file are not kept).
 * Until that rename the set reads as before; a run cut off before it
 * leaves files that the next run overwrites.  Images, splits and the other
 * kinds' labels are not touched. */
MUST_API int must_dataset_add_kind(const char *dir, int kind, const must_dataset_spec *spec,
                                   must_dataset_label_fn fn, void *user, must_err *err);

#ifdef __cplusplus
}
#endif
#endif
