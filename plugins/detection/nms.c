/* nms.c - ordering by score and greedy non-maximum suppression. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "det-impl.h"

typedef struct scored {
    float s;
    int i;
} scored;

static int by_score_desc(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s < b->s ? 1 : -1;
    return (a->i > b->i) - (a->i < b->i);
}

int det_argsort_desc(const float *score, int n, int *idx)
{
    scored *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return MUST_ENOMEM;
    /* A NaN would make the order inconsistent: it sorts last. */
    for (int i = 0; i < n; i++)
        v[i] = (scored){isnan(score[i]) ? -INFINITY : score[i], i};
    if (n > 1) /* qsort's base may not be NULL, even for none */
        qsort(v, (size_t)n, sizeof *v, by_score_desc);
    for (int i = 0; i < n; i++)
        idx[i] = v[i].i;
    free(v);
    return MUST_OK;
}

int det_nms(const float *box, const float *score, int n, float thr, int max_keep, int *keep)
{
    size_t m = (size_t)(n ? n : 1);
    int *order = malloc(m * sizeof *order);
    float *v = malloc(5 * m * sizeof *v);
    unsigned char *gone = calloc(m, 1);
    if (!order || !v || !gone || det_argsort_desc(score, n, order)) {
        free(order);
        free(v);
        free(gone);
        return MUST_ENOMEM;
    }
    /* The boxes in score order as columns, so that testing one kept box
     * against all later ones is a branch-free loop the compiler vectorises:
     * this is the proposals' O(n^2).  IoU > thr is tested as
     * inter > thr * union, without a division. */
    float *x0 = v, *y0 = v + m, *x1 = v + 2 * m, *y1 = v + 3 * m, *area = v + 4 * m;
    for (int i = 0; i < n; i++) {
        const float *b = box + 4 * (size_t)order[i];
        x0[i] = b[0], y0[i] = b[1], x1[i] = b[2], y1[i] = b[3];
        area[i] = det_box_area(b);
    }
    int nk = 0;
    for (int a = 0; a < n && (max_keep <= 0 || nk < max_keep); a++) {
        if (gone[a])
            continue;
        keep[nk++] = order[a];
        const float ax0 = x0[a], ay0 = y0[a], ax1 = x1[a], ay1 = y1[a], aa = area[a];
        #pragma omp simd
        for (int b = a + 1; b < n; b++) {
            float iw = DET_MIN(ax1, x1[b]) - DET_MAX(ax0, x0[b]);
            float ih = DET_MIN(ay1, y1[b]) - DET_MAX(ay0, y0[b]);
            iw = iw > 0.0f ? iw : 0.0f;
            ih = ih > 0.0f ? ih : 0.0f;
            float inter = iw * ih;
            gone[b] |= (unsigned char)(inter > thr * (aa + area[b] - inter));
        }
    }
    free(order);
    free(v);
    free(gone);
    return nk;
}
