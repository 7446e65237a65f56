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
    if (!order || det_argsort_desc(score, n, order)) {
        free(order);
        return MUST_ENOMEM;
    }
    /* order[] doubles as the candidate list: suppressed entries become -1. */
    int nk = 0;
    for (int a = 0; a < n && (max_keep <= 0 || nk < max_keep); a++) {
        if (order[a] < 0)
            continue;
        const float *ba = box + 4 * (size_t)order[a];
        keep[nk++] = order[a];
        for (int b = a + 1; b < n; b++)
            if (order[b] >= 0 && det_iou(ba, box + 4 * (size_t)order[b]) > thr)
                order[b] = -1;
    }
    free(order);
    return nk;
}
