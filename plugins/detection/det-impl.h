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
 *
 * Calls between the files run one way: detection.c (options, the vtable,
 * the entry point) calls rpn.c, roihead.c and the pure pieces, and no file
 * calls it; roihead.c calls roialign.c; those call the pure pieces and
 * host.c, which calls no other file of the plugin.
 */
#ifndef MUST_DET_IMPL_H
#define MUST_DET_IMPL_H

#include <stdint.h>

#include "must/task.h"
#include "../common/plugin-util.h"

/* ---- host.c --------------------------------------------------------------- */

/* The host table: set once by must_task_init (or a test's stand-in).  Even
 * the pure pieces report errors through it (err_set), since the plugin links
 * against no library of the engine's.  host.c keeps it in a static variable
 * and hands out its address; det_host reads (and must_task_init sets) it as
 * a variable. */
const must_host **det_host_ref(void);
#define det_host (*det_host_ref())
#define det_err(err, code, ...) det_host->err_set((err), (code), __VA_ARGS__)

/* Monotonic wall time in seconds, for the head's timers. */
/* The plugin's one exported symbol (MUST_TASK_ENTRY), defined in detection.c
 * by MUST_TASK_PLUGIN; declared here for the tests, which compile the
 * plugin's files in and call it to set det_host. */
MUST_TASK_EXPORT const must_task_ops *must_task_init(const must_host *host, must_err *err);

/* Plain comparisons: fminf and fmaxf are library calls here (NaN rules), and
 * IoU runs O(n^2) times in NMS.  A NaN coordinate overlaps nothing. */
#define DET_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DET_MAX(a, b) ((a) > (b) ? (a) : (b))

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

/* ---- roialign.c ----------------------------------------------------------- */

/* One region to pool: a box in input pixels on image `batch`, read from
 * level slot `level` of the feature list given to det_roialign. */
typedef struct det_roi {
    float box[4];
    int batch, level;
} det_roi;

/* FPN's level rule k = floor(k0 + log2(sqrt(w h) / canonical)), clamped to
 * [kmin, kmax]. */
int det_roi_level(const float *box, int k0, float canonical, int kmin, int kmax);

/* RoIAlign over nlev feature maps feat[l] (N, C, H_l, W_l) at stride[l]
 * pixels: (R, C, out, out).  sampling: samples per bin side, <= 0 for
 * adaptive.  Records itself on the tape with a backward into the maps. */
must_tensor *det_roialign(must_ctx *ctx, int nlev, must_tensor *const *feat, const float *stride,
                          const det_roi *roi, int R, int out, int sampling);

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
/* Appends every image `from` holds to `into` (the same classes). */
int det_eval_merge(det_eval *into, const det_eval *from, must_err *err);
/* voc11: the 11-point VOC AP instead of all-point; max_dets per image and
 * class for COCO (100; <= 0: no limit). */
int det_eval_compute(const det_eval *e, int voc11, int max_dets, det_ap *out, must_err *err);
void det_ap_free(det_ap *ap);
void det_eval_free(det_eval *e);

/* The two AP rules over one precision/recall curve (points in detection
 * order), exposed for the tests. */
double det_ap_voc(const double *rec, const double *prec, int n, int voc11);
double det_ap_coco101(const double *rec, const double *prec, int n);

/* ---- the head (detection.c, rpn.c, roihead.c) ----------------------------- */

/* The options (detection.c's table documents each; docs/detection.md). */
typedef struct det_config {
    char levels[MUST_OPT_STRING_MAX];
    float anchor_scale;
    char anchor_sizes[MUST_OPT_STRING_MAX];
    char anchor_ratios[MUST_OPT_STRING_MAX];
    int anchor_octave_scales;
    int rpn_batch;
    float rpn_pos_fraction, rpn_pos_iou, rpn_neg_iou, rpn_nms;
    int rpn_pre_nms_topk_train, rpn_pre_nms_topk_test;
    int rpn_post_nms_topk_train, rpn_post_nms_topk_test;
    int roi_batch;
    float roi_pos_fraction, roi_fg_iou;
    int roi_size, roi_sampling, roi_canonical_level;
    float roi_canonical_size;
    int head_channels, head_fc;
    float smooth_l1_beta;
    float score_threshold, nms;
    int max_detections;
    float pseudo_threshold;
    int voc_11point;
} det_config;

/* Time spent in the pieces the issue asks about, summed over calls. */
typedef struct det_timers {
    double match;     /* anchor and RoI matching and sampling, targets */
    double proposals; /* top-k, decoding and NMS of the proposals */
    double nms;       /* NMS, of the proposals and of the detections */
} det_timers;

typedef struct det_head {
    det_config cfg;
    int K;                        /* classes; the RoI head's class K is background */
    char **names;                 /* K names, or NULL */
    int nlev;                     /* feature levels read, ascending */
    int level[MUST_NLEVELS];      /* enum must_level of each slot */
    int pyr[MUST_NLEVELS];        /* pyramid number of each slot: P3 -> 3 */
    float stride[MUST_NLEVELS];
    int C;                        /* channels of every level */
    det_anchor_cfg acfg;
    int A;                        /* anchors per location */
    float canonical;              /* the RoI level rule's canonical size */
    uint64_t seed;
    must_params *params;
    /* RPN: two shared 3x3 convs, then 1x1 objectness (A) and deltas (4A). */
    must_tensor *rpn_w[2], *rpn_b[2], *obj_w, *obj_b, *del_w, *del_b;
    /* Box head: four 3x3 convs, one fc, class logits (K + 1) and class-specific deltas (4K). */
    int hc, fc;
    must_tensor *conv_w[4], *conv_b[4], *fc_w, *fc_b, *cls_w, *cls_b, *box_w, *box_b;
    /* Anchors for the last feature sizes seen. */
    det_anchors anchors;
    int anchor_h[MUST_NLEVELS], anchor_w[MUST_NLEVELS];
    det_timers timers;
} det_head;

/* A forward pass's result, in the context's arena. */
typedef struct det_pred {
    det_head *head;
    must_ctx *ctx;
    int n, in_h, in_w;
    must_tensor *feat[MUST_NLEVELS]; /* the levels read, by slot */
    must_tensor *obj;                /* (N, total, 1, 1) objectness logits, anchor order */
    must_tensor *del;                /* (N, 4 total, 1, 1) deltas, each level's (4A, H, W) block */
    det_anchors anchors;             /* a copy, its boxes in the arena */
    int *nprop;                      /* (N) proposals per image */
    float **prop;                    /* (N) -> (nprop, 4) boxes, best first */
    int have_dets;
    int *ndet;                       /* (N) detections per image, best first */
    must_box **det;
} det_pred;

/* Box coder weights: Faster R-CNN's (1, 1, 1, 1) for anchors, (10, 10, 5, 5)
 * for the box head's refinements of proposals. */
#define DET_RPN_WEIGHTS ((const float[4]){1.0f, 1.0f, 1.0f, 1.0f})
#define DET_ROI_WEIGHTS ((const float[4]){10.0f, 10.0f, 5.0f, 5.0f})

double det_now(void);
/* A deterministic stream per (seed, epoch, batch, example, stage). */
void det_rng(must_rng *r, uint64_t seed, const must_batch *b, int i, int stage);
/* N(0, std^2) values into a parameter. */
void det_init_normal(must_tensor *t, must_rng *r, float std);

/* rpn.c */
int det_rpn_declare(det_head *h, must_err *err);
void det_rpn_init(det_head *h, must_rng *r);
/* Objectness and deltas of every level into p->obj, p->del; NULL-safe. */
int det_rpn_forward(det_head *h, must_ctx *ctx, det_pred *p);
/* p->prop from p->obj and p->del (no gradient); train picks the top-k. */
int det_rpn_proposals(det_head *h, det_pred *p, int train);
/* Objectness BCE + smooth L1 over sampled anchors; NULL on error. */
must_tensor *det_rpn_loss(det_head *h, must_ctx *ctx, det_pred *p, const must_batch *b,
                          const float *mask);

/* roihead.c */
int det_roi_declare(det_head *h, must_err *err);
void det_roi_init(det_head *h, must_rng *r);
/* The box head over R RoIs: class logits (R, K + 1) and deltas (R, 4K). */
int det_roi_forward(det_head *h, must_ctx *ctx, det_pred *p, const det_roi *roi, int R,
                    must_tensor **cls, must_tensor **box);
/* Samples RoIs from proposals and ground truth and returns CE + smooth L1,
 * or NULL on error; *nrois gets the RoIs sampled (0: the loss is NULL
 * without an error). */
must_tensor *det_roi_loss(det_head *h, must_ctx *ctx, det_pred *p, const must_batch *b,
                          const float *mask, int *nrois);
/* The detections of every image (p->det), once. */
int det_roi_detect(det_head *h, det_pred *p);

/* ---- draw.c --------------------------------------------------------------- */

/* Draws boxes over an 8-bit RGB image in place: a frame in the class's
 * colour (dotted when difficult), and above it the class name (or its id
 * when names is NULL) with the score when show_score, in a 3x5 pixel font
 * small enough for 64-pixel images. */
int det_draw_boxes(must_image *img, const must_box *box, int n, const char *const *names,
                   int nclasses, int show_score, must_err *err);

#endif
