/* must/import.h - datasets in other layouts, written in must's dataset
 * format (docs/dataset-format.md): `must import FORMAT ...` calls these.
 *
 * An importer writes through the dataset writer, so a set that is cut off
 * is never taken for a finished one (dataset.ini is written last).  Every
 * problem in the input names the file and the place in it.  Notes (a class
 * without images, files skipped) reach the caller through opts->note. */
#ifndef MUST_IMPORT_H
#define MUST_IMPORT_H

#include <stdint.h>

#include "must/dataset.h"
#include "must/error.h"
#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What every importer takes. */
typedef struct must_import_opts {
    const char *name;   /* the set's name; NULL: OUT's last path component */
    /* Seeded splits, for formats without splits of their own: per class
     * (or over the whole set), a fraction `test` goes to test, then `val`
     * to val, the rest to train; the same input and seed always give the
     * same split. */
    double val, test;
    uint64_t seed;
    /* A line for the user (no newline), or NULL to drop notes. */
    void (*note)(void *user, const char *line);
    void *user;
} must_import_opts;

/* val = test = 0.1, seed 0, no name, no notes. */
MUST_API void must_import_defaults(must_import_opts *o);

/* What an import wrote. */
typedef struct must_import_counts {
    long images;               /* images written */
    long split[MUST_NSPLITS];  /* of them, per split */
    int classes;               /* classes of the set's (first) class-bearing task */
    long skipped;              /* input files that are not images of a known kind */
} must_import_counts;

/* DIR/<class>/<image> to a classification set: classes are the
 * subdirectories in byte order, image ids <class>_<stem>; PNG and JPEG files
 * (by their names: .png, .jpg, .jpeg in any case) are taken, as they are
 * (a JPEG stays a JPEG), anything else is skipped and counted; a class
 * without images is a note, a folder without any an error.  Splits:
 * seeded, per class. */
MUST_API int must_import_imagefolder(const char *dir, const char *out,
                                     const must_import_opts *o, must_import_counts *c,
                                     must_err *err);

/* Every PNG and JPEG file under DIR, at any depth, to a set without labels
 * (tasks =): an unlabelled pool like the paper's JFT or ImageNet images
 * for the teachers to pseudo-label.  Files are taken in byte order of their
 * paths below DIR; an image's id is that path without the extension, with
 * '/' and every other character outside A-Z a-z 0-9 _ - . made '_' (a/b
 * c.jpg: a_b_c), and two files of one id are an error naming both.  Dot
 * files and folders are left out; other files are skipped and counted;
 * no image at all is an error.  Splits: seeded, over the whole set;
 * c->classes is 0. */
MUST_API int must_import_images(const char *dir, const char *out, const must_import_opts *o,
                                must_import_counts *c, must_err *err);

#ifdef __cplusplus
}
#endif
#endif
