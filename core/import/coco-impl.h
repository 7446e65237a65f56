/* coco-impl.h - the COCO importer's pieces (private): masks from polygons
 * and run-length encodings (coco_mask.c), the annotation files read and
 * checked (coco_read.c).  The format is the one COCO's authors define
 * (cocodataset.org/#format-data and their cocoapi). */
#ifndef MUST_COCO_IMPL_H
#define MUST_COCO_IMPL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "must/import.h"

/* ------------------------------------------------------------------------ */
/* Masks (coco_mask.c): h * w bytes, row-major.  The fills set pixels to 1
 * (never clear one, so parts of one instance add up) and widen *win to
 * cover every pixel they set. */

/* Where the pixels set so far lie: [x0, x1) x [y0, y1); empty when x0 >= x1. */
typedef struct coco_win {
    int x0, y0, x1, y1;
} coco_win;

/* An empty window. */
void coco_win_empty(coco_win *win);

/* One polygon part, n points xy = x0 y0 x1 y1 ... in pixels (the image's
 * top left corner is 0, 0; pixel (i, j) covers [j, j+1) x [i, i+1)).  A
 * pixel is set when its centre (j + 0.5, i + 0.5) lies inside (even-odd
 * rule), as in cocoapi's rasteriser (its rleFrPoly samples each column at
 * its centre).  A centre exactly on an edge counts as inside when the
 * inside lies above or to the left of it: cocoapi, which rounds the points
 * half up to 1/5 pixel, does the same on edges along the pixel grid (right
 * and bottom edges through centres are in, left and top ones out).  On
 * slanted edges its 1/5-pixel steps decide instead: on random outlines 0.2%
 * of the pixels differ, each with its centre within 0.25 pixel of an edge.
 * Fewer than 3 points set nothing.  MUST_ENOMEM is the only failure. */
int coco_poly_fill(uint8_t *mask, int w, int h, const double *xy, int n, coco_win *win);

/* An uncompressed RLE: m runs over the pixels in column-major order (down
 * the first column, then the next), alternately 0 and 1, starting with 0.
 * The runs must add up to w * h.  Errors say what is wrong, not where (the
 * caller names the file and the JSON path). */
int coco_rle_fill(uint8_t *mask, int w, int h, const uint32_t *counts, size_t m, coco_win *win,
                  must_err *err);

/* COCO's compressed counts string (cocoapi's rleToString): each run is
 * written as its difference from the run two before it (from the fourth run
 * on), in 5-bit groups, low first, each a character '0' + group, + 32 when
 * more groups follow; the last group's bit 4 is the sign.  *counts is
 * malloc'd. */
int coco_rle_decode(const char *s, uint32_t **counts, size_t *m, must_err *err);
/* The inverse (malloc'd, NULL when out of memory): for tests and writers. */
char *coco_rle_encode(const uint32_t *counts, size_t m);

/* ------------------------------------------------------------------------ */
/* The annotation files (coco_read.c), read whole and checked before
 * anything is written. */

typedef struct coco_image {
    long long id;          /* images[].id */
    const char *file_name; /* into the JSON */
    int width, height;
    int src, index;        /* its file and images[index] there */
    char sid[MUST_ID_MAX + 1]; /* the set's id: file_name without its extension */
    int first, nann;       /* its annotations: db->order[first .. first + nann) */
} coco_image;

typedef struct coco_ann {
    int image;             /* into db->images */
    int cls;               /* class: the category's rank in ascending id order */
    double box[4];         /* bbox: x y w h (when read) */
    int crowd;             /* iscrowd */
    const json_t *seg;     /* segmentation, or NULL */
    int src, index;        /* its file and annotations[index] there */
} coco_ann;

typedef struct coco_db {
    int nsrc;
    json_t **roots;        /* each file's JSON */
    const char **paths;    /* each file's name */
    int ncats;
    int *cat_ids;          /* ascending */
    const char **cat_names;
    int nimages;
    coco_image *images;
    long nanns;
    coco_ann *anns;
    long *order;           /* annotations grouped by image, in file order */
} coco_db;

/* Reads and checks the files: categories (merged, ascending id), images,
 * and annotations (a bbox checked when need_box).  Errors name the file and
 * the JSON path, or jansson's line and column.  On an error db holds
 * nothing (coco_db_free on it is harmless); else coco_db_free it. */
int coco_db_read(coco_db *db, const must_coco_source *src, int nsrc, int need_box,
                 must_err *err);
void coco_db_free(coco_db *db);

/* Sets the pixels of annotation a's segmentation (polygons, or an RLE of
 * counts or of a compressed string) in mask (its image's size), widening
 * *win; *has = 0 when it has none.  Errors name the file and JSON path. */
int coco_ann_mask(const coco_db *db, const coco_ann *a, uint8_t *mask, coco_win *win,
                  int *has, must_err *err);

#endif
