/* voc-impl.h - the Pascal VOC importer's pieces (private): one annotation
 * file read with libxml2 (voc_xml.c), the ImageSets lists (voc_sets.c), a
 * file's boxes and a class map turned into must's labels (voc_labels.c);
 * must_import_voc (voc.c) joins them.  The layout is the VOC devkit's
 * (VOCdevkit/VOCcode/VOCinit.m names the folders and the classes). */
#ifndef MUST_VOC_IMPL_H
#define MUST_VOC_IMPL_H

#include "must/import.h"
#include "must/labels.h"

/* The 20 classes in the devkit's order (VOCopts.classes): detection class
 * k is voc_classes[k], segmentation class k + 1 (0 is the background). */
#define VOC_NCLASSES 20
extern const char *const voc_classes[VOC_NCLASSES];

/* ---- voc_xml.c ---- */

/* One <object>: its class and <bndbox> as written, VOC's 1-based inclusive
 * pixel coordinates (the devkit's VOCreadxml reads them the same way). */
typedef struct voc_object {
    int cls;                      /* index into voc_classes */
    double xmin, ymin, xmax, ymax;
    long line;                    /* of <object> */
    long coord_line[4];           /* of <xmin>, <ymin>, <xmax>, <ymax> */
    int difficult;                /* <difficult>, 0 when absent */
} voc_object;

typedef struct voc_annotation {
    char filename[256];           /* <filename> (cut at 255 bytes), "" when absent */
    int width, height;            /* <size>, 0 when absent */
    long size_line;
    int nobj;
    voc_object *obj;              /* in file order */
} voc_annotation;

/* 1 when this build reads XML (configure found libxml2). */
int voc_xml_available(void);

/* Reads Annotations/<id>.xml: the root <annotation>, its <filename>,
 * <size> and every <object> (its <name>, <difficult>, <bndbox>; other
 * elements such as <part> and <actions> are not read).  A document type
 * declaration is refused before anything in it is read (no entity is ever
 * expanded, and nothing is loaded from anywhere: no DTD, no network).
 * Errors name the file and a line: libxml2's for malformed XML, the
 * element's for a missing or repeated element, a value that is not a
 * number, or a class not among the 20.  Free with voc_annotation_free. */
int voc_xml_read(const char *path, voc_annotation *a, must_err *err);
void voc_annotation_free(voc_annotation *a);

/* ---- voc_sets.c ---- */

/* A split of the lists besides MUST_SPLIT_*: listed in trainval.txt of a
 * folder without train.txt and val.txt, so train or val by the seed. */
#define VOC_SPLIT_TRAINVAL MUST_NSPLITS
/* Not listed: the seeded split over the whole set. */
#define VOC_SPLIT_SEEDED (-1)

/* The images of one kind (MUST_LABEL_DETECTION: Annotations/<id>.xml,
 * ImageSets/Main; MUST_LABEL_SEGMENTATION: SegmentationClass/<id>.png,
 * ImageSets/Segmentation). */
typedef struct voc_ids {
    int n;
    char **id;                    /* sorted, distinct */
    int *split;                   /* MUST_SPLIT_*, VOC_SPLIT_TRAINVAL or VOC_SPLIT_SEEDED */
    long *line;                   /* where the id's split comes from: its line there */
    char *has;                    /* 1 when the id's label file is there */
    int listed;                   /* 1: from the lists; 0: every label file */
    const char *lists;            /* "ImageSets/Main" or "ImageSets/Segmentation" */
    const char *labels;           /* "Annotations" or "SegmentationClass" */
    const char *ext;              /* ".xml" or ".png" */
} voc_ids;

/* The list file (relative to DIR) an id's split comes from: "train.txt"... */
const char *voc_list_name(int split);

/* Reads the ids of kind: with any of train.txt, val.txt, test.txt and
 * trainval.txt in its ImageSets folder, the ids they list (train.txt to
 * train, val.txt to val, test.txt to test; trainval.txt is train + val as
 * in the devkit: beside train.txt or val.txt it must list exactly their
 * ids, alone its ids are VOC_SPLIT_TRAINVAL), each label file looked for;
 * without them, every label file of the folder, VOC_SPLIT_SEEDED.  An id
 * in two lists, a line that is not an image id, or lists that disagree
 * are errors naming the file and line.  Free with voc_ids_free. */
int voc_ids_read(const char *dir, int kind, voc_ids *s, must_err *err);
void voc_ids_free(voc_ids *s);

/* ---- voc_labels.c ---- */

typedef struct voc_box_counts {
    long boxes, difficult, clipped;
    long clipped_line;            /* the first clipped box's <object> line, 0 if none */
} voc_box_counts;

/* The objects of a (read from path) as must's boxes on a w x h image,
 * added to out.  VOC's coordinates are 1-based and inclusive (a box
 * xmin..xmax covers the pixels xmin to xmax, numbered from 1); must's are
 * 0-based and half-open ([x0, x1) over pixels numbered from 0), so
 * x0 = xmin - 1, x1 = xmax (and so for y).  A box reaching out of the image
 * is clipped to it and counted; xmin > xmax, or a box without a pixel in
 * the image, is an error naming the file and the coordinate's line. */
int voc_boxes(const char *path, const voc_annotation *a, int w, int h, must_boxes *out,
              voc_box_counts *c, must_err *err);

/* SegmentationClass/<id>.png (path) into seg (allocated here, 1 x h x w):
 * the palette indices (or 8-bit gray values) as classes, 0 background,
 * 1..20 the classes, 255 void (must's ignore).  A mask of another size than
 * its w x h image (named in the message), or any other value, is an error
 * naming the file (and the first such pixel).  *void_pixels (may be NULL)
 * gets the 255s. */
int voc_mask_read(const char *path, const char *image, int w, int h, must_map *seg,
                  long *void_pixels, must_err *err);

#endif
