/* dataset-impl.h - the dataset reader's structures, shared by open and check. */
#ifndef MUST_DATASET_IMPL_H
#define MUST_DATASET_IMPL_H

#include "base/conf-impl.h"
#include "must/dataset.h"

typedef struct ds_task {
    int nclasses;
    char **classes;
    int source;
    char *teacher;     /* NULL unless pseudo */
    char *threshold;   /* as written, or NULL */
    float scale;       /* depth: metres per unit */
    int nids;          /* `ids`: the classes' ids in the set they came from, or 0 */
    int *ids;
    int nx;            /* x_ keys, kept for tools of one's own */
    char **xkeys, **xvals;
    /* A registered kind (must/kinds.h): its section's codec keys (keys_size
     * bytes, defaults where the section is silent), and for a text store
     * each image's label as parsed at open (NULL for a file store). */
    void *conf;
    void **labels;
} ds_task;

struct must_dataset {
    char *dir;
    char *name;        /* from dataset.ini; the directory until it is known */
    char *ini_path;
    unsigned tasks;
    int count_decl, count_line;   /* count = ... and its line in dataset.ini */
    int width, height;            /* declared, or 0 */
    ds_task t[MUST_LABEL_MAX_KINDS];

    int n;             /* images found in images/ */
    int listed;        /* images/ could be listed */
    char **ids;        /* sorted by strcmp */
    unsigned char *jpg;   /* (n) 1: images/<id>.jpg, 0: images/<id>.png */
    int *slots;        /* open-addressing hash of ids: index + 1, 0 = empty */
    size_t nslots;

    int *split[MUST_NSPLITS];
    int nsplit[MUST_NSPLITS];

    int *cls;          /* (n) class, -1 soft or missing */
    float *soft;       /* (n, K) when any label is soft, else NULL */
    unsigned char *has_cls;  /* (n) 1 when a classification line was read */
    must_boxes *boxes; /* (n) */
    int **box_lines;   /* (n) the detection.txt line of each box, for messages */
};

/* Where problems go: strict mode (open) stops at the first and puts it in
 * err; check mode reports every one and carries on. */
typedef struct ds_sink {
    must_err *err;
    must_dataset_report_fn report;
    void *user;
    int problems;
    int stop;
} ds_sink;

/* dataset_common.c: problems, strings, paths. */

/* Records one problem: 'dataset "NAME": PATH:LINE: message' (no ":LINE"
 * when line is 0, no "PATH:LINE: " when path is NULL because the message
 * names its file already). */
void ds_issue(const must_dataset *ds, ds_sink *s, int code, const char *path, int line,
              const char *fmt, ...) MUST_PRINTF(6, 7);

/* Reads everything but the PNGs.  Strict mode: returns the first problem's
 * status with *out NULL.  Check mode: returns MUST_OK with as much of the
 * set as could be read (NULL only when out of memory). */
int ds_read(const char *dir, ds_sink *s, must_dataset **out);

/* Parses DIR/dataset.ini into ds (name, tasks, sizes, per-task sections;
 * dataset_ini.c).  Problems go to sink; MUST_ENOMEM is the only failure. */
int ds_read_ini(must_dataset *ds, ds_sink *sink);
/* Calls fn for every key of dataset.ini: section, key, "" (no key has a
 * default), help. */
void ds_ini_describe(must_conf_doc_fn fn, void *user);

/* malloc'd copy; NULL when out of memory. */
char *ds_strdup(const char *s);
/* Strips spaces and tabs at both ends, in place. */
char *ds_trim(char *s);

/* Path helpers: DIR/images/<id>.png and DIR/labels/<kind>/<id>.png. */
char *ds_path(const must_dataset *ds, const char *sub, const char *id, const char *ext);

/* For the loader (dataset.c): the stored size of image `index`, from its
 * header alone; and must_dataset_load for a resize by min_scale, where the
 * image may come decoded at a reduced scale (*scale, as
 * must_image_read_scaled in data/image-impl.h) while the labels keep the
 * stored size, *full_w x *full_h. */
int ds_image_size(const must_dataset *ds, int index, int *w, int *h, must_err *err);
int ds_load_scaled(const must_dataset *ds, int index, unsigned want, float min_scale,
                   must_map *image, float *scale, int *full_w, int *full_h, must_labels *labels,
                   must_err *err);

#endif
