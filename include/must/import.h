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

/* ------------------------------------------------------------------------ */
/* COCO (cocodataset.org/#format-data): object instances to a detection and
 * segmentation set, and a set's boxes back to a COCO file. */

/* One annotation file (instances_val2017.json) and the directory its
 * images' file_names are relative to. */
typedef struct must_coco_source {
    const char *annotations;
    const char *images;
    int split; /* MUST_SPLIT_* for all its images, or -1: the seeded split */
} must_coco_source;

typedef struct must_coco_opts {
    must_import_opts common; /* name; the seeded split of sources without one; notes */
    unsigned tasks;          /* MUST_LABEL_BIT of detection and/or segmentation */
    int skip_missing;        /* images not there are skipped and counted, not an error */
} must_coco_opts;

/* must_import_defaults, both tasks, missing images an error. */
MUST_API void must_import_coco_defaults(must_coco_opts *o);

typedef struct must_coco_counts {
    must_import_counts common; /* images, per split, classes (the categories);
                                * skipped: images missing and skipped */
    long annotations;          /* annotations of the images written */
    long boxes;                /* boxes written */
    long clipped;              /* of them, cut to their image */
    long dropped;              /* boxes left out: no area (after clipping) */
    long crowd;                /* iscrowd annotations: difficult boxes, ignored pixels */
    long unmasked;             /* annotations without a segmentation (nothing painted) */
} must_coco_counts;

/* The sources' images (all of them, with or without annotations) into the
 * set OUT: detection boxes from bbox, clipped to the image (x, y, w, h to
 * x0 y0 x1 y1); classes the categories of all files in ascending id, the
 * ids kept in dataset.ini; a segmentation class map (0 background, 1 + the
 * class) painted from the instances' polygons or RLEs, larger instances
 * first; crowd regions are difficult boxes and ignored pixels (255).  Image
 * ids are the file_names without extension; images are copied as they are.
 * The files are read and checked whole before anything is written; a
 * problem names the file and the JSON path, missing images are named (the
 * first few) and counted.  o NULL: the defaults; c may be NULL. */
MUST_API int must_import_coco(const must_coco_source *src, int nsrc, const char *out,
                              const must_coco_opts *o, must_coco_counts *c, must_err *err);

typedef struct must_coco_export_counts {
    long images;
    int categories;
    long annotations;
    int scores; /* 1 when the annotations carry scores */
} must_coco_export_counts;

/* The detection labels of the set SET as a COCO file OUT (written
 * atomically): images (id, file_name, width, height), categories (the ids
 * the set kept from COCO, else 1..K) and an annotation per box (bbox x y w
 * h, area, iscrowd = difficult, and score for pseudo labels or scores
 * below 1).  Image ids are the numbers the set's ids end with when all do
 * and differ (COCO's file names), else 1..N.  c may be NULL. */
MUST_API int must_export_coco(const char *set, const char *out, must_coco_export_counts *c,
                              must_err *err);
/* Images in one folder, a per-pixel label map for each in another, paired
 * by file stem (images/0001.jpg with depth/0001.npy): what
 * must_import_depth and must_import_normals take besides must_import_opts. */
typedef struct must_import_maps {
    const char *images;     /* the images: .png, .jpg, .jpeg (any case), copied as they are */
    const char *maps;       /* the label maps, each with its image's stem */
    /* 0: an image without a map, or a map without an image, is an error
     * that lists them; 1: they are left out, and a note lists them. */
    int skip_unpaired;
    /* Depth: metres per unit of 16-bit PNG input, and of the set's store
     * (dataset.ini's [depth] scale); 0 means 0.001. */
    double scale;
    /* Normals: the axes of the source's vectors in must's camera frame,
     * "x-right,y-up,z-camera" (docs/dataset-format.md, "Importing depth and
     * normals"); NULL means must's own, x-right,y-down,z-forward. */
    const char *convention;
} must_import_maps;

/* No folders, skip_unpaired 0, scale 0.001, must's convention. */
MUST_API void must_import_maps_defaults(must_import_maps *m);

/* A depth set: maps are 16-bit gray PNGs (metres = value * scale, 0 = no
 * data) or float32/float64 .npy arrays (H, W) or (H, W, 1) in metres (0,
 * NaN, +-inf = no data); stored with m->scale, a depth past 65535 units or
 * below 0 an error naming the file and pixel.  Each map has its image's
 * size, else an error names both files.  Splits: seeded over the set.
 * Image ids are the stems.  c->skipped counts files of other kinds. */
MUST_API int must_import_depth(const must_import_maps *m, const char *out,
                               const must_import_opts *o, must_import_counts *c,
                               must_err *err);

/* A normal set: maps are (H, W, 3) float32/float64 .npy arrays or RGB PNGs
 * of 8 or 16 bits (n = v / 255 or v / 65535 * 2 - 1, 0 0 0 = invalid),
 * turned from m->convention into must's frame and renormalised; zero or
 * non-finite vectors are invalid.  Otherwise as must_import_depth. */
MUST_API int must_import_normals(const must_import_maps *m, const char *out,
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


/* ------------------------------------------------------------------------ */
/* Pascal VOC (a VOCdevkit year folder such as VOCdevkit/VOC2012): boxes from
 * Annotations/<id>.xml and class maps from SegmentationClass/<id>.png, the
 * images JPEGImages/<id>.jpg.  The XML is read with libxml2, which a build
 * may lack (configure --without-libxml2): must_import_voc then fails,
 * saying so. */

typedef struct must_voc_opts {
    must_import_opts common; /* name; notes; the seeded split (val, test, seed)
                              * of images that no ImageSets list names */
    unsigned tasks;          /* MUST_LABEL_BIT of detection and/or segmentation;
                              * 0: each kind DIR has (Annotations/, SegmentationClass/) */
    int skip_missing;        /* images missing from JPEGImages are skipped and
                              * counted, not an error */
} must_voc_opts;

/* must_import_defaults, tasks 0 (what DIR has), missing images an error. */
MUST_API void must_import_voc_defaults(must_voc_opts *o);

typedef struct must_voc_counts {
    must_import_counts common; /* images, per split, classes (20); skipped:
                                * missing images skipped */
    unsigned tasks;            /* the kinds the set has */
    long boxes;                /* boxes written */
    long difficult;            /* of them, difficult (AP leaves them out) */
    long clipped;              /* of them, cut to their image */
    long no_annotation;        /* images left out: no Annotations/<id>.xml (listed
                                * in ImageSets/Main, when it has lists) */
    long no_mask;              /* images left out: no SegmentationClass/<id>.png
                                * (listed in ImageSets/Segmentation, when it has lists) */
    long filename_mismatch;    /* annotations whose <filename> is not <id>.jpg (ignored) */
    long size_mismatch;        /* annotations whose <size> is not their image's (ignored) */
    long void_pixels;          /* mask pixels 255 (void, ignored in training) */
} must_voc_counts;

/* The VOC folder DIR into the set OUT (docs/importers.md, "Pascal VOC").
 * Classes: the 20 of the devkit in its order (aeroplane ... tvmonitor);
 * segmentation's are background and the 20, 255 void.  An image is
 * JPEGImages/<id>.jpg for the id of its annotation's file name (the
 * <filename> element is not used: a mismatch is counted).  Boxes: VOC's
 * 1-based inclusive xmin..xmax become must's x0 = xmin - 1, x1 = xmax,
 * clipped to the image; <difficult> 1 makes a difficult box.  Masks: the
 * palette indices of the PNG.  Images and splits: those of
 * ImageSets/Main (detection) and ImageSets/Segmentation (segmentation)
 * when the folder has the lists (train.txt, val.txt, test.txt;
 * trainval.txt alone: train and val by the seed), else every annotation
 * (mask) with a seeded split; an image needs a label of every kind the set
 * has, the others are left out and counted.  Annotations are read and
 * checked, and images looked for, before anything is written; problems
 * name the file and the line.  o NULL: the defaults; c may be NULL. */
MUST_API int must_import_voc(const char *dir, const char *out, const must_voc_opts *o,
                             must_voc_counts *c, must_err *err);

#ifdef __cplusplus
}
#endif
#endif
