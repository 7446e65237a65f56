/* ap.c - Pascal VOC and COCO average precision over a whole dataset (the
 * rules are in det-impl.h). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "det-impl.h"

/* Where an image's boxes start in the appended arrays. */
typedef struct span {
    int g, d;
} span;

struct det_eval {
    int nclasses, nimages;
    /* Every image's boxes, appended; image i owns gt[at[i].g .. at[i + 1].g)
     * and det[at[i].d .. at[i + 1].d). */
    must_box *gt, *det;
    int ngt, gcap, ndet, dcap;
    span *at; /* nimages + 1 */
    int icap;
};

det_eval *det_eval_new(int nclasses, must_err *err)
{
    det_eval *e = calloc(1, sizeof *e);
    if (e)
        e->at = calloc(1, sizeof *e->at);
    if (!e || !e->at) {
        det_eval_free(e);
        det_err(err, MUST_ENOMEM, "detection eval: out of memory");
        return NULL;
    }
    e->nclasses = nclasses;
    e->icap = 1;
    return e;
}

void det_eval_free(det_eval *e)
{
    if (!e)
        return;
    free(e->gt);
    free(e->det);
    free(e->at);
    free(e);
}

int det_eval_images(const det_eval *e) { return e->nimages; }

static int grow(void **v, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *p = realloc(*v, (size_t)c * elem);
    if (!p)
        return -1;
    *v = p;
    *cap = c;
    return 0;
}

static int check_cls(const must_box *b, int n, int k, const char *what, must_err *err)
{
    for (int i = 0; i < n; i++)
        if (b[i].cls < 0 || b[i].cls >= k)
            return det_err(err, MUST_EINVAL, "detection eval: %s box %d has class %d, not in 0..%d",
                           what, i, b[i].cls, k - 1);
    return MUST_OK;
}

int det_eval_image(det_eval *e, const must_box *gt, int ngt, const must_box *det, int ndet,
                   must_err *err)
{
    int rc = check_cls(gt, ngt, e->nclasses, "ground-truth", err);
    if (rc || (rc = check_cls(det, ndet, e->nclasses, "detected", err)))
        return rc;
    if (grow((void **)&e->gt, &e->gcap, e->ngt + ngt, sizeof *gt) ||
        grow((void **)&e->det, &e->dcap, e->ndet + ndet, sizeof *det) ||
        grow((void **)&e->at, &e->icap, e->nimages + 2, sizeof *e->at))
        return det_err(err, MUST_ENOMEM, "detection eval: out of memory at image %d", e->nimages);
    if (ngt)
        memcpy(e->gt + e->ngt, gt, (size_t)ngt * sizeof *gt);
    if (ndet)
        memcpy(e->det + e->ndet, det, (size_t)ndet * sizeof *det);
    e->ngt += ngt;
    e->ndet += ndet;
    e->at[++e->nimages] = (span){e->ngt, e->ndet};
    return MUST_OK;
}

int det_eval_merge(det_eval *into, const det_eval *from, must_err *err)
{
    for (int i = 0; i < from->nimages; i++) {
        span a = from->at[i], b = from->at[i + 1];
        int rc = det_eval_image(into, from->gt + a.g, b.g - a.g, from->det + a.d, b.d - a.d, err);
        if (rc)
            return rc;
    }
    return MUST_OK;
}

/* ---- the two AP rules ---------------------------------------------------- */

double det_ap_voc(const double *rec, const double *prec, int n, int voc11)
{
    if (voc11) {
        /* The devkit's np.arange(0, 1.1, 0.1): thresholds i * 0.1. */
        double ap = 0.0;
        for (int i = 0; i <= 10; i++) {
            double t = i * 0.1, p = 0.0;
            for (int j = 0; j < n; j++)
                if (rec[j] >= t && prec[j] > p)
                    p = prec[j];
            ap += p / 11.0;
        }
        return ap;
    }
    /* Area under the envelope, between sentinels (0, 0) and (1, 0). */
    double ap = 0.0, env = 0.0;
    for (int j = n - 1; j >= 0; j--) {
        env = prec[j] > env ? prec[j] : env;
        double r0 = j > 0 ? rec[j - 1] : 0.0;
        ap += (rec[j] - r0) * env;
    }
    return ap;
}

double det_ap_coco101(const double *rec, const double *prec, int n)
{
    double *env = malloc((size_t)(n ? n : 1) * sizeof *env);
    if (!env)
        return NAN;
    for (int j = n - 1; j >= 0; j--)
        env[j] = j == n - 1 || prec[j] > env[j + 1] ? prec[j] : env[j + 1];
    /* COCO's np.linspace(0, 1, 101): r * 0.01, the last exactly 1; each
     * reads the envelope at the first point whose recall reaches it. */
    double sum = 0.0;
    int j = 0;
    for (int r = 0; r <= 100; r++) {
        double t = r == 100 ? 1.0 : r * 0.01;
        while (j < n && rec[j] < t)
            j++;
        if (j == n)
            break;
        sum += env[j];
    }
    free(env);
    return sum / 101.0;
}

/* ---- computing ----------------------------------------------------------- */

/* Scratch for one class, sized for the whole set once. */
typedef struct work {
    int *dimg;           /* (ndet) image of each detection */
    int *list;           /* (ndet) the class's detections */
    float *score;        /* (ndet) their scores */
    int *ord;            /* (ndet) an ordering of list */
    signed char *state;  /* (ndet) COCO: 1 true positive, 0 false, -1 ignored */
    double *rec, *prec;  /* (ndet) */
    unsigned char *used; /* (ngt) ground truth claimed */
    int *g;              /* (most ground truth in one image) */
} work;

static inline void coords(const must_box *b, float *c)
{
    c[0] = b->x0;
    c[1] = b->y0;
    c[2] = b->x1;
    c[3] = b->y1;
}

static inline double box_iou(const must_box *a, const must_box *b)
{
    float ca[4], cb[4];
    coords(a, ca);
    coords(b, cb);
    return det_iou(ca, cb);
}

/* VOC AP of class c (NaN without non-difficult ground truth). */
static double voc_class(const det_eval *e, int c, int voc11, work *w, int *npos_out)
{
    int npos = 0;
    for (int g = 0; g < e->ngt; g++)
        npos += e->gt[g].cls == c && !e->gt[g].difficult;
    *npos_out = npos;
    if (!npos)
        return NAN;
    int nd = 0;
    for (int d = 0; d < e->ndet; d++)
        if (e->det[d].cls == c) {
            w->score[nd] = e->det[d].score;
            w->list[nd++] = d;
        }
    if (det_argsort_desc(w->score, nd, w->ord))
        return NAN;
    memset(w->used, 0, (size_t)e->ngt);
    int tp = 0, fp = 0, np = 0;
    for (int k = 0; k < nd; k++) {
        int d = w->list[w->ord[k]], img = w->dimg[d];
        double best = -1.0;
        int arg = -1;
        for (int g = e->at[img].g; g < e->at[img + 1].g; g++) {
            double v = e->gt[g].cls == c ? box_iou(&e->det[d], &e->gt[g]) : -1.0;
            if (v > best)
                best = v, arg = g;
        }
        if (arg >= 0 && best > 0.5) {
            if (e->gt[arg].difficult)
                continue; /* neither counts nor penalises */
            if (!w->used[arg])
                w->used[arg] = 1, tp++;
            else
                fp++; /* a duplicate */
        } else {
            fp++;
        }
        w->rec[np] = (double)tp / npos;
        w->prec[np++] = (double)tp / (tp + fp);
    }
    return det_ap_voc(w->rec, w->prec, np, voc11);
}

/* COCO AP of class c at each IoU threshold (NaN without ordinary ground
 * truth).  Returns MUST_OK or MUST_ENOMEM. */
static int coco_class(const det_eval *e, int c, int max_dets, work *w, double *ap)
{
    int npig = 0;
    for (int g = 0; g < e->ngt; g++)
        npig += e->gt[g].cls == c && !e->gt[g].difficult;
    if (!npig) {
        for (int t = 0; t < DET_COCO_NTHR; t++)
            ap[t] = NAN;
        return MUST_OK;
    }
    /* list: per image, its best max_dets detections of the class by score. */
    int nl = 0;
    for (int i = 0; i < e->nimages; i++) {
        int first = nl;
        for (int d = e->at[i].d; d < e->at[i + 1].d; d++)
            if (e->det[d].cls == c) {
                w->list[nl] = d;
                w->score[nl++] = e->det[d].score;
            }
        int m = nl - first, *rank = w->ord, *tmp = w->ord + m;
        if (det_argsort_desc(w->score + first, m, rank))
            return MUST_ENOMEM;
        for (int k = 0; k < m; k++)
            tmp[k] = w->list[first + rank[k]];
        if (max_dets > 0 && m > max_dets)
            m = max_dets;
        for (int k = 0; k < m; k++) {
            w->list[first + k] = tmp[k];
            w->score[first + k] = e->det[tmp[k]].score;
        }
        nl = first + m;
    }
    /* The order over the whole set: by score, ties in list order (COCO's
     * stable mergesort). */
    int *gord = malloc((size_t)(nl ? nl : 1) * sizeof *gord);
    if (!gord || det_argsort_desc(w->score, nl, gord)) {
        free(gord);
        return MUST_ENOMEM;
    }
    for (int t = 0; t < DET_COCO_NTHR; t++) {
        double thr = 0.5 + 0.05 * t;
        memset(w->used, 0, (size_t)e->ngt);
        for (int k = 0; k < nl;) {
            int img = w->dimg[w->list[k]], end = k;
            while (end < nl && w->dimg[w->list[end]] == img)
                end++;
            /* The image's ground truth of the class, ordinary before difficult. */
            int ng = 0;
            for (int pass = 0; pass < 2; pass++)
                for (int g = e->at[img].g; g < e->at[img + 1].g; g++)
                    if (e->gt[g].cls == c && e->gt[g].difficult == pass)
                        w->g[ng++] = g;
            for (; k < end; k++) {
                const must_box *db = &e->det[w->list[k]];
                double best = thr;
                int m = -1;
                for (int q = 0; q < ng; q++) {
                    int g = w->g[q];
                    if (w->used[g])
                        continue;
                    /* Once matched to ordinary ground truth, stop at the difficult. */
                    if (m >= 0 && !e->gt[m].difficult && e->gt[g].difficult)
                        break;
                    double v = box_iou(db, &e->gt[g]);
                    if (v < best)
                        continue;
                    best = v;
                    m = g;
                }
                if (m < 0) {
                    w->state[k] = 0;
                } else {
                    w->used[m] = 1;
                    w->state[k] = e->gt[m].difficult ? -1 : 1;
                }
            }
        }
        int tp = 0, fp = 0, np = 0;
        for (int k = 0; k < nl; k++) {
            int s = w->state[gord[k]];
            if (s < 0)
                continue;
            tp += s;
            fp += !s;
            w->rec[np] = (double)tp / npig;
            w->prec[np++] = (double)tp / (tp + fp);
        }
        ap[t] = det_ap_coco101(w->rec, w->prec, np);
    }
    free(gord);
    return MUST_OK;
}

void det_ap_free(det_ap *ap)
{
    free(ap->voc_cls);
    free(ap->coco_cls);
    free(ap->npos);
    ap->voc_cls = ap->coco_cls = NULL;
    ap->npos = NULL;
}

int det_eval_compute(const det_eval *e, int voc11, int max_dets, det_ap *out, must_err *err)
{
    int K = e->nclasses, nd = e->ndet ? e->ndet : 1, maxg = 1;
    for (int i = 0; i < e->nimages; i++)
        if (e->at[i + 1].g - e->at[i].g > maxg)
            maxg = e->at[i + 1].g - e->at[i].g;
    memset(out, 0, sizeof *out);
    out->nclasses = K;
    work w = {0};
    w.dimg = malloc((size_t)nd * sizeof *w.dimg);
    w.list = malloc((size_t)nd * sizeof *w.list);
    w.score = malloc((size_t)nd * sizeof *w.score);
    w.ord = malloc((size_t)2 * nd * sizeof *w.ord);
    w.state = malloc((size_t)nd);
    w.rec = malloc((size_t)nd * sizeof *w.rec);
    w.prec = malloc((size_t)nd * sizeof *w.prec);
    w.used = malloc((size_t)(e->ngt ? e->ngt : 1));
    w.g = malloc((size_t)maxg * sizeof *w.g);
    out->voc_cls = malloc((size_t)(K ? K : 1) * sizeof *out->voc_cls);
    out->coco_cls = malloc((size_t)(K ? K : 1) * sizeof *out->coco_cls);
    out->npos = malloc((size_t)(K ? K : 1) * sizeof *out->npos);
    int rc = MUST_OK;
    if (!w.dimg || !w.list || !w.score || !w.ord || !w.state || !w.rec || !w.prec || !w.used ||
        !w.g || !out->voc_cls || !out->coco_cls || !out->npos) {
        rc = det_err(err, MUST_ENOMEM, "detection eval: out of memory for %d detections",
                     e->ndet);
        goto out;
    }
    for (int i = 0; i < e->nimages; i++)
        for (int d = e->at[i].d; d < e->at[i + 1].d; d++)
            w.dimg[d] = i;
    double voc = 0.0, coco = 0.0, c50 = 0.0, c75 = 0.0;
    for (int c = 0; c < K; c++) {
        double ap[DET_COCO_NTHR];
        out->voc_cls[c] = voc_class(e, c, voc11, &w, &out->npos[c]);
        if (coco_class(e, c, max_dets, &w, ap)) {
            rc = det_err(err, MUST_ENOMEM, "detection eval: out of memory");
            goto out;
        }
        if (!out->npos[c]) {
            out->coco_cls[c] = NAN;
            continue;
        }
        double m = 0.0;
        for (int t = 0; t < DET_COCO_NTHR; t++)
            m += ap[t];
        out->coco_cls[c] = m / DET_COCO_NTHR;
        out->counted++;
        voc += out->voc_cls[c];
        coco += out->coco_cls[c];
        c50 += ap[0];
        c75 += ap[5];
    }
    int n = out->counted;
    out->voc = n ? voc / n : NAN;
    out->coco = n ? coco / n : NAN;
    out->coco50 = n ? c50 / n : NAN;
    out->coco75 = n ? c75 / n : NAN;
out:
    free(w.dimg);
    free(w.list);
    free(w.score);
    free(w.ord);
    free(w.state);
    free(w.rec);
    free(w.prec);
    free(w.used);
    free(w.g);
    if (rc)
        det_ap_free(out);
    return rc;
}
