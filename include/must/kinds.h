/* must/kinds.h - label kinds: the five built in and those task plugins define.
 *
 * A label kind is what one task's labels are: how a set stores them
 * (docs/dataset-format.md), how they sit in memory (must_labels) and in a
 * batch (must_batch), how they follow the augmentation's geometry, and
 * what `must dataset check` says of them.  Kinds are small indices into a
 * process-wide registry:
 *
 *   0..4   the built-in kinds (must/labels.h), always there;
 *   5..    kinds registered by name (must_label_kind_register), each at the
 *          next free index up to MUST_LABEL_MAX_KINDS - 1.  A task plugin
 *          that brings its own kind (must_task_ops.codec, must/task.h) has
 *          it registered under the plugin's name when it is loaded.
 *
 * An index is only good in the process that assigned it (it depends on the
 * order plugins were loaded in): files name kinds, never number them.  A
 * registration is for the life of the process: labels, sets and batches of
 * the kind call its codec for as long as they live.
 *
 * The data layer handles every kind through the registry: opening a set
 * (dataset.ini's sections and the stores), writing one, checking one,
 * augmenting and collating go over the kinds a set or an example carries
 * and take each kind's handlers from its entry.  The five built-in kinds'
 * handlers are the core's functions of must/labels.h and must/augment.h,
 * kept beside the code that calls them (the layering rule of
 * docs/architecture.md: no two files call each other, so the registry
 * itself sits below them all and holds names and codecs only).  A
 * registered kind's handlers are its must_label_codec below: the core keeps
 * its labels as opaque objects in must_labels.ext[kind] and its batch
 * storage in must_batch.ext[kind], and reaches them only through the codec.
 * docs/plugins.md walks through writing one.
 */
#ifndef MUST_KINDS_H
#define MUST_KINDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "must/augment.h"
#include "must/conf.h"
#include "must/error.h"
#include "must/export.h"
#include "must/labels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a kind's labels live in a set. */
enum must_label_store {
    MUST_STORE_FILES = 1, /* labels/<kind>/<id><ext>: one file per image, every image has one */
    MUST_STORE_TEXT = 2   /* labels/<kind>.txt: lines "<id> <fields>", any number per image */
};

/* What a codec's store callbacks are told about one image's label. */
typedef struct must_label_file {
    const char *path;  /* MUST_STORE_FILES: DIR/labels/<kind>/<id><ext>; text: DIR/labels/<kind>.txt */
    const char *id;    /* the image's id */
    int width, height; /* the image's size; 0 x 0 when not known (a text line read at open, in
                        * a set that declares no size) */
    const void *conf;  /* the set's [<kind>] keys: keys_size bytes, filled per `keys` (defaults
                        * where the section is silent); NULL when the codec has no keys */
    int kind;          /* the kind's index in this process */
} must_label_file;

/* Tallies a codec keeps over a whole set for `must dataset check`. */
#define MUST_LABEL_TALLY 8

/* A registered kind's codec.  Every callback gets and returns the kind's
 * label objects, whose layout only the codec knows; the core owns the ones
 * it is given (frees them with `free`).  Callbacks return MUST_OK or a
 * negative status with a message in err (the core adds the dataset, file
 * and line).  struct_size lets the codec grow: members past it read as
 * NULL. */
typedef struct must_label_codec {
    uint32_t struct_size;         /* sizeof(must_label_codec) */
    int store;                    /* enum must_label_store */
    const char *ext;              /* MUST_STORE_FILES: the files' extension, ".png" */
    const char *about;            /* one line: what a label is, for `must plugins` */
    const must_conf_key *keys;    /* dataset.ini's [<kind>] keys besides source, teacher and
                                   * threshold (the five MUST_CONF_* types of a plugin's
                                   * options, each with a default); NULL: none */
    size_t keys_size;             /* bytes of the struct the keys fill */

    /* Every codec. */
    void (*free)(void *label);
    int (*copy)(void **out, const void *label, must_err *err);
    /* The augmentation's geometry (must/augment.h): a label made for the
     * source image becomes the label of the window tf cuts from it, scaled
     * by tf->s and flipped left-right after the crop when tf->flip; what the
     * window shows beyond the source is unlabelled.  Replaces *label (free
     * the old object). */
    int (*transform)(void **label, const must_aug_tf *tf, must_err *err);
    /* The batch: storage for n examples of size x size (must_batch.ext[kind]
     * points at it), and example i into it.  label NULL means the example
     * lacks this kind (must_batch.has[i] says so too): fill what the loss
     * ignores.  Every example of a batch is collated each time, present or
     * not, so that a batch never shows what its storage held before. */
    void *(*batch_new)(int n, int size, must_err *err);
    void (*batch_free)(void *batch);
    int (*collate)(void *batch, int i, const void *label, must_err *err);

    /* MUST_STORE_FILES: one image's label file, read (checked against the
     * image's size and f->conf) and written (atomically: through
     * must_png_write or a temporary name and a rename). */
    int (*read)(const must_label_file *f, void **label, must_err *err);
    int (*write)(const must_label_file *f, const void *label, must_err *err);

    /* MUST_STORE_TEXT: the file is read when the set is opened.  parse gets
     * one line's fields after the id (writable, blanks around them trimmed)
     * with *label NULL for the image's first line and its object so far for
     * the next ones; after the last line it is called once with fields NULL
     * for every image that had no line, to make its empty label or refuse.
     * format writes every line of one image's label, each "<id> ...\n",
     * returning MUST_OK or MUST_EIO. */
    int (*parse)(const must_label_file *f, char *fields, void **label, must_err *err);
    int (*format)(FILE *fp, const must_label_file *f, const void *label);

    /* Optional. */

    /* The way back (must_aug_unfit_labels): a label made on the window of tf
     * moved to the source image's size src_w x src_h, a flip undone first.
     * NULL: the core composes it from transform (a flip alone, then the
     * inverse scale and offset). */
    int (*untransform)(void **label, const must_aug_tf *tf, int src_w, int src_h,
                       must_err *err);
    /* `must dataset check`: adds one image's label to tally
     * (MUST_LABEL_TALLY doubles, zero at the start), then the summary line's
     * text after "  <kind> (<source>): " from the tallies of `images`
     * labels. */
    void (*tally)(const void *label, double *tally);
    void (*summary)(const double *tally, int images, char *buf, size_t len);
} must_label_codec;

/* The members a codec must fill, up to and including `format`: a smaller
 * struct_size is refused. */
#define MUST_LABEL_CODEC_MIN_SIZE \
    (offsetof(must_label_codec, format) + sizeof(((must_label_codec *)0)->format))

/* Registers kind `name` (a plain word, [a-z0-9_]+, at most 64 bytes; not a
 * built-in kind's) with its codec, which is checked (the store's callbacks
 * present, the key table sound) and copied.  owner says who defines it
 * ("plugin file /x/boundary.so"), for messages.  *kind gets its index.
 * Refused: a name already registered (the message names both owners), a
 * full registry (MUST_LABEL_MAX_KINDS), a codec that is not complete. */
MUST_API int must_label_kind_register(const char *name, const must_label_codec *codec,
                                      const char *owner, int *kind, must_err *err);
/* One more than the highest index in use (at least MUST_LABEL_NKINDS). */
MUST_API int must_label_kind_count(void);
/* The codec of a registered kind (the registry's copy), NULL for a built-in
 * kind or an index not in use. */
MUST_API const must_label_codec *must_label_kind_codec(int kind);
/* Who defined the kind ("built in" for 0..4), NULL for an index not in
 * use. */
MUST_API const char *must_label_kind_owner(int kind);
/* Where a set keeps the kind's labels, as a path pattern:
 * "labels/segmentation/<id>.png", "labels/classification.txt".  Returns
 * MUST_OK, or MUST_EINVAL for an index not in use. */
MUST_API int must_label_kind_store(int kind, char *buf, size_t len);

/* Every kind in use, as MUST_LABEL_BIT bits. */
MUST_API unsigned must_label_kinds_all(void);

#ifdef __cplusplus
}
#endif
#endif
