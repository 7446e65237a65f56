/* det-impl.h - the detection plugin's private pieces (plugins/detection/).
 *
 * Boxes are float[4] = (x0, y0, x1, y1) in continuous pixel coordinates:
 * pixel (i, j) covers [j, j + 1) x [i, i + 1), so a box's width is x1 - x0
 * (no "+ 1", as COCO and Detectron2; Pascal's devkit adds 1, which only
 * matters for boxes a few pixels wide).
 *
 * The pure pieces (boxes, anchors, matching, NMS, AP, drawing) use libc,
 * libm and det_host's err_set only, so the tests compile them straight in;
 * the pieces that build on the tape (RoIAlign, RPN, RoI head, the plugin)
 * reach the engine only through det_host, the host table must_task_init
 * was given.
 */
#ifndef MUST_DET_IMPL_H
#define MUST_DET_IMPL_H

#include <stdint.h>

#include "must/task.h"

/* The host table: set once by must_task_init (or a test's stand-in).  Even
 * the pure pieces report errors through it (err_set), since the plugin links
 * against no library of the engine's. */
extern const must_host *det_host;
#define det_err(err, code, ...) det_host->err_set((err), (code), __VA_ARGS__)

/* ---- boxes.c -------------------------------------------------------------- */

/* Deltas are clamped to this before exp (Detectron2's log(1000 / 16)), so a
 * wild prediction early in training cannot overflow. */
#define DET_DWH_CLAMP 4.1351666f

float det_box_area(const float *b);
/* Intersection over union; 0 when either box is empty. */
float det_iou(const float *a, const float *b);
/* The deltas (dx, dy, dw, dh) * w that move box src onto dst:
 *   dx = wx (cx' - cx) / w,  dw = ww log(w' / w),  likewise y and h. */
void det_box_encode(const float *src, const float *dst, const float *w, float *d);
/* The inverse: the box d moves src onto (dw, dh clamped to DET_DWH_CLAMP). */
void det_box_decode(const float *src, const float *d, const float *w, float *out);
/* Clamps to [0, width] x [0, height]. */
void det_box_clip(float *b, float width, float height);

/* ---- anchors.c ------------------------------------------------------------ */

#define DET_MAX_RATIOS 8
#define DET_MAX_SCALES 4

typedef struct det_anchor_cfg {
    float size[MUST_NLEVELS];   /* side of the ratio-1 anchor per used level (index = level slot) */
    int nratios;
    float ratio[DET_MAX_RATIOS]; /* height / width */
    int nscales;
    float scale[DET_MAX_SCALES]; /* multipliers of size (octave scales) */
} det_anchor_cfg;

typedef struct det_anchor_level {
    int h, w;      /* the feature map's size */
    int offset;    /* index of the level's first anchor */
    float stride;  /* input pixels per feature pixel */
} det_anchor_level;

/* Every anchor of an image, in the order the RPN's outputs take when each
 * level's (N, A, H, W) map is flattened and the levels are joined: level,
 * then anchor kind a = scale * nratios + ratio, then row, then column. */
typedef struct det_anchors {
    int nlev, A, total;
    det_anchor_level lev[MUST_NLEVELS];
    float *box; /* (total, 4) */
} det_anchors;

/* Lays anchors over nlev feature maps of fh[l] x fw[l] at stride[l]; the
 * centre of cell (y, x) is ((x + 0.5) stride, (y + 0.5) stride), the same
 * convention RoIAlign samples with.  a->box is malloc'd (det_anchors_free). */
int det_anchors_make(det_anchors *a, const det_anchor_cfg *cfg, int nlev, const int *fh,
                     const int *fw, const float *stride, must_err *err);
void det_anchors_free(det_anchors *a);

/* ---- match.c -------------------------------------------------------------- */

/* Labels of a matching. */
enum { DET_IGNORE = -1, DET_NEG = 0, DET_POS = 1 };

/* Matches n boxes (anchors or proposals) to ngt ground-truth boxes: a box
 * whose best IoU is >= hi is positive (match[j] = that ground truth), one
 * below lo is negative, one between is ignored.  With low_quality, every
 * ground truth also claims the boxes that overlap it most (its best IoU,
 * ties included, when above 0), so no object goes without a positive
 * (Faster R-CNN's rule; the box keeps its own best ground truth as match,
 * as Detectron2 does).  No ground truth: all negative.  iou (n) receives
 * each box's best IoU when not NULL.  Returns MUST_OK or MUST_ENOMEM. */
int det_match(const float *box, int n, const must_box *gt, int ngt, float hi, float lo,
              int low_quality, int8_t *label, int *match, float *iou);

typedef float (*det_uniform_fn)(must_rng *r);

/* Keeps a random subset of at most num labelled boxes, at most
 * num * pos_frac of them positive and negatives filling the rest; every
 * other label becomes DET_IGNORE.  Draws from r through uni.  Returns the
 * number kept, or MUST_ENOMEM. */
int det_sample(int8_t *label, int n, int num, float pos_frac, must_rng *r, det_uniform_fn uni,
               int *npos_out);

/* ---- nms.c ---------------------------------------------------------------- */

/* idx[0..n-1] = 0..n-1 ordered by descending score, ties by ascending
 * index (so every run and thread count gives the same order). */
int det_argsort_desc(const float *score, int n, int *idx);
/* Greedy non-maximum suppression: walks the boxes by descending score and
 * keeps one unless it overlaps a kept one with IoU > thr.  Writes the kept
 * indices, best first, to keep (room for n) and returns how many, at most
 * max_keep (<= 0: no limit), or MUST_ENOMEM. */
int det_nms(const float *box, const float *score, int n, float thr, int max_keep, int *keep);

/* ---- ap.c ----------------------------------------------------------------- */

/* Detection metrics over a whole dataset: images are added one at a time
 * with their ground truth and detections, all in the same coordinates.
 *
 * VOC: per class, detections sorted by score over every image; each takes
 * the ground truth of its image it overlaps most; IoU > 0.5 (the devkit's
 * strict test) and unclaimed is a true positive, claimed is a false one; a
 * difficult ground truth neither counts nor penalises (its detections are
 * dropped).  AP is the area under the precision envelope (all-point,
 * VOC2010+) or the mean of the envelope at recall 0, 0.1, .., 1 (VOC2007).
 *
 * COCO: per image and class the 100 best detections (max_dets), matched
 * greedily by score to the unclaimed ground truth of highest IoU >= t
 * (ordinary ground truth preferred over difficult, which acts as COCO's
 * "ignore"); for t = 0.50, 0.55, .., 0.95 the envelope is read at the 101
 * recall points 0, 0.01, .., 1 and averaged.
 *
 * A class without (non-difficult) ground truth has no AP and is left out of
 * the means; the means are NaN when no class has any. */
typedef struct det_eval det_eval;

#define DET_COCO_NTHR 10

typedef struct det_ap {
    int nclasses;
    int counted;       /* classes with ground truth */
    double voc;        /* mean VOC AP at IoU 0.5 (all-point or 11-point as asked) */
    double coco;       /* mean COCO AP over IoU 0.50:0.95 */
    double coco50;     /* COCO's AP at 0.50 */
    double coco75;     /* COCO's AP at 0.75 */
    /* Per class (nclasses each; NaN for a class without ground truth),
     * malloc'd by det_eval_compute, freed by det_ap_free. */
    double *voc_cls, *coco_cls;
    int *npos;         /* non-difficult ground truth per class */
} det_ap;

det_eval *det_eval_new(int nclasses, must_err *err);
/* Copies the image's ground truth and detections.  Class ids outside
 * 0..nclasses-1 are errors. */
int det_eval_image(det_eval *e, const must_box *gt, int ngt, const must_box *det, int ndet,
                   must_err *err);
int det_eval_images(const det_eval *e);
/* voc11: the 11-point VOC AP instead of all-point; max_dets per image and
 * class for COCO (100; <= 0: no limit). */
int det_eval_compute(const det_eval *e, int voc11, int max_dets, det_ap *out, must_err *err);
void det_ap_free(det_ap *ap);
void det_eval_free(det_eval *e);

/* The two AP rules over one precision/recall curve (points in detection
 * order), exposed for the tests. */
double det_ap_voc(const double *rec, const double *prec, int n, int voc11);
double det_ap_coco101(const double *rec, const double *prec, int n);

/* ---- draw.c --------------------------------------------------------------- */

/* Draws boxes over an 8-bit RGB image in place: a frame in the class's
 * colour (dotted when difficult), and above it the class name (or its id
 * when names is NULL) with the score when show_score, in a 3x5 pixel font
 * small enough for 64-pixel images. */
int det_draw_boxes(must_image *img, const must_box *box, int n, const char *const *names,
                   int nclasses, int show_score, must_err *err);

#endif
