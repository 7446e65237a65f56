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
    qsort(v, (size_t)n, sizeof *v, by_score_desc);
    for (int i = 0; i < n; i++)
        idx[i] = v[i].i;
    free(v);
    return MUST_OK;
}

int det_nms(const float *box, const float *score, int n, float thr, int max_keep, int *keep)
{
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    float *area = malloc((size_t)(n ? n : 1) * sizeof *area);
    if (!order || !area || det_argsort_desc(score, n, order)) {
        free(order);
        free(area);
        return MUST_ENOMEM;
    }
    for (int i = 0; i < n; i++)
        area[i] = det_box_area(box + 4 * (size_t)i);
    /* order[] doubles as the candidate list: suppressed entries become -1.
     * IoU > thr is tested as inter > thr (union) to spare a division per
     * pair: this loop is the proposals' O(n^2). */
    int nk = 0;
    for (int a = 0; a < n && (max_keep <= 0 || nk < max_keep); a++) {
        if (order[a] < 0)
            continue;
        int ia = order[a];
        const float *ba = box + 4 * (size_t)ia;
        keep[nk++] = ia;
        for (int b = a + 1; b < n; b++) {
            int ib = order[b];
            if (ib < 0)
                continue;
            const float *bb = box + 4 * (size_t)ib;
            float iw = DET_MIN(ba[2], bb[2]) - DET_MAX(ba[0], bb[0]);
            float ih = DET_MIN(ba[3], bb[3]) - DET_MAX(ba[1], bb[1]);
            if (iw <= 0.0f || ih <= 0.0f)
                continue;
            float inter = iw * ih;
            if (inter > thr * (area[ia] + area[ib] - inter))
                order[b] = -1;
        }
    }
    free(order);
    free(area);
    return nk;
}
