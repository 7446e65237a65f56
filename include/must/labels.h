/* must/labels.h - the five built-in label kinds in memory, and their file codecs.
 *
 * The codecs are the ones docs/dataset-format.md specifies; task plugins
 * reuse them to read supervised labels and to write pseudo labels, so a
 * student reads both through one path (the paper's §3.2).  Kinds beyond
 * these five are registered at run time (must/kinds.h); their labels ride
 * in must_labels.ext[kind].
 *
 * Dense labels live in must_map, a float (C, H, W) plane whatever the file
 * stores, so that one resampling routine serves them all:
 *   segmentation (1, H, W)  class id, MUST_SEG_IGNORE = ignore
 *   depth        (1, H, W)  metres, 0 = no data
 *   normal       (3, H, W)  unit vector (x right, y down, z forward), all 0 = invalid
 */
#ifndef MUST_LABELS_H
#define MUST_LABELS_H

#include <stdint.h>
#include <stdio.h>

#include "must/error.h"
#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Label kinds are small indices; a set of kinds is a bitmask of
 * MUST_LABEL_BIT(kind).  Never test `mask & MUST_LABEL_DETECTION`.  These
 * five are built in; indices MUST_LABEL_NKINDS..MUST_LABEL_MAX_KINDS - 1
 * are given to kinds registered at run time (must/kinds.h). */
enum must_label_kind {
    MUST_LABEL_CLASSIFICATION = 0,
    MUST_LABEL_DETECTION = 1,
    MUST_LABEL_SEGMENTATION = 2,
    MUST_LABEL_DEPTH = 3,
    MUST_LABEL_NORMAL = 4,
    MUST_LABEL_NKINDS = 5
};
/* Built-in and registered kinds together: a mask of kinds fits 32 bits. */
#define MUST_LABEL_MAX_KINDS 16
#define MUST_LABEL_BIT(kind) (1u << (kind))
/* The five built-in kinds; every kind in use is must_label_kinds_all(). */
#define MUST_LABEL_ALL ((1u << MUST_LABEL_NKINDS) - 1u)

#define MUST_SEG_IGNORE 255

/* "classification", ..., or a registered kind's name; NULL for an index
 * not in use. */
MUST_API const char *must_label_kind_name(int kind);
/* The kind with that name (built in or registered), or -1. */
MUST_API int must_label_kind_parse(const char *name);

/* ------------------------------------------------------------------------ */
/* Dense maps. */

typedef struct must_map {
    int channels, height, width;
    float *data; /* (C, H, W) */
} must_map;

/* Allocates zeroed data; free with must_map_free (safe on a zeroed map). */
MUST_API int must_map_alloc(must_map *m, int channels, int height, int width, must_err *err);
MUST_API void must_map_free(must_map *m);
/* Copies src into dst (dst is allocated; free it with must_map_free). */
MUST_API int must_map_copy(must_map *dst, const must_map *src, must_err *err);

/* ------------------------------------------------------------------------ */
/* Boxes. */

typedef struct must_box {
    float x0, y0, x1, y1; /* pixels, x0 < x1, y0 < y1 */
    int cls;
    float score;          /* 1 for supervised boxes */
    int difficult;        /* Pascal's "difficult" flag: 0 or 1 */
} must_box;

typedef struct must_boxes {
    int n, cap;
    must_box *v;
} must_boxes;

MUST_API int must_boxes_push(must_boxes *b, const must_box *box, must_err *err);
/* Replaces dst's boxes by a copy of src's. */
MUST_API int must_boxes_copy(must_boxes *dst, const must_boxes *src, must_err *err);
MUST_API void must_boxes_free(must_boxes *b);

/* ------------------------------------------------------------------------ */
/* All the labels of one image. */

typedef struct must_labels {
    unsigned has;     /* MUST_LABEL_BIT(kind) for each kind present */
    int cls;          /* hard class id, or -1 when the label is soft */
    int nsoft;        /* K when soft, else 0 */
    float *soft;      /* (K) distribution, owned; NULL when hard */
    must_boxes boxes;
    must_map seg;     /* (1, H, W) */
    must_map depth;   /* (1, H, W) */
    must_map normal;  /* (3, H, W) */
    /* A registered kind's label (must/kinds.h), an object only its codec
     * knows, owned; NULL for the built-in kinds' indices and absent ones. */
    void *ext[MUST_LABEL_MAX_KINDS];
} must_labels;

/* Zeroes l (nothing present, cls = -1). */
MUST_API void must_labels_init(must_labels *l);
/* Frees what l owns (registered kinds' objects through their codecs) and
 * re-initialises it. */
MUST_API void must_labels_free(must_labels *l);
/* Moves kind `kind`'s label from src into dst (dst's own label of that
 * kind is freed first); src loses it, and both `has` masks follow.
 * Nothing happens when src lacks the kind. */
MUST_API void must_labels_move(must_labels *dst, must_labels *src, int kind);
/* Copies kind `kind`'s label of src into dst in the same way, src kept. */
MUST_API int must_labels_copy_kind(must_labels *dst, const must_labels *src, int kind,
                                   must_err *err);
/* Sets a soft classification label (copies the K values). */
MUST_API int must_labels_set_soft(must_labels *l, int k, const float *p, must_err *err);

/* ------------------------------------------------------------------------ */
/* Text codecs: one line of labels/classification.txt or labels/detection.txt.
 * Parsers split `line` in place (it must be writable and hold no line end);
 * *id points into it.  Errors say what is wrong with the line but not where
 * it is: the caller prefixes the file and line (must_err_prefix). */

/* "<id> <class>" or "<id> soft p0 ... pK-1" with K = nclasses, the p's in
 * [0, 1] summing to 1 within 1e-3.  *cls = the class, or -1 for a soft
 * label whose K values go to soft[] (room for nclasses floats). */
MUST_API int must_label_parse_cls(char *line, int nclasses, const char **id, int *cls, float *soft,
                                  must_err *err);
/* "<id> x0 y0 x1 y1 class score [difficult]".  Checks 0 <= x0 < x1 and
 * 0 <= y0 < y1, the class in 0..nclasses-1, score in [0, 1], difficult 0/1;
 * the image bounds are the caller's to check (it knows the image). */
MUST_API int must_label_parse_box(char *line, int nclasses, const char **id, must_box *box,
                                  must_err *err);

/* Write one line (with its "\n").  Floats are printed with the fewest
 * digits that read back to the same float.  Return MUST_OK or MUST_EIO. */
MUST_API int must_label_write_cls(FILE *fp, const char *id, int cls, int k, const float *soft);
MUST_API int must_label_write_box(FILE *fp, const char *id, const must_box *box);

/* ------------------------------------------------------------------------ */
/* PNG codecs for the dense labels.  Readers check the stored format (8-bit
 * gray, 16-bit gray, 16-bit RGB) and name the file on any error; writers go
 * through must_png_write (atomic). */

/* 8-bit gray: value = class id, 255 = ignore.  The writer needs integers in
 * 0..255. */
MUST_API int must_label_read_seg(const char *path, must_map *m, must_err *err);
MUST_API int must_label_write_seg(const char *path, const must_map *m, must_err *err);

/* 16-bit gray: metres = value * scale, 0 = no data.  The writer rounds to the
 * nearest unit (a positive depth never rounds to 0, which would mean "no
 * data"); negative, non-finite or too large depths are errors. */
MUST_API int must_label_read_depth(const char *path, float scale, must_map *m, must_err *err);
MUST_API int must_label_write_depth(const char *path, const must_map *m, float scale,
                                    must_err *err);

/* 16-bit RGB, encoding "unit16": stored = round((n + 1) / 2 * 65534) + 1, all
 * three 0 = invalid.  The reader decodes a pixel with some but not all
 * channels 0 as invalid (must dataset check reports it).  The writer
 * normalises every non-zero vector and writes zero vectors as invalid. */
#define MUST_NORMAL_ENCODING "unit16"
MUST_API int must_label_read_normal(const char *path, must_map *m, must_err *err);
MUST_API int must_label_write_normal(const char *path, const must_map *m, must_err *err);

/* Encoding of one component, exposed for tests and checkers. */
static inline uint16_t must_normal_encode(float v)
{
    float t = (v + 1.0f) * 0.5f * 65534.0f;
    t = t < 0.0f ? 0.0f : t > 65534.0f ? 65534.0f : t;
    return (uint16_t)((uint32_t)(t + 0.5f) + 1u);
}
static inline float must_normal_decode(uint16_t s)
{
    return (float)(s - 1) * (2.0f / 65534.0f) - 1.0f;
}

#ifdef __cplusplus
}
#endif
#endif
