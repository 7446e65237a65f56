/* match.c - matching boxes (anchors, proposals) to ground truth, and sampling
 * the matched boxes that a loss sees. */
#include "config.h"

#include <stdlib.h>

#include "det-impl.h"

int det_match(const float *box, int n, const must_box *gt, int ngt, float hi, float lo,
              int low_quality, int8_t *label, int *match, float *iou)
{
    if (ngt <= 0) {
        for (int j = 0; j < n; j++) {
            label[j] = DET_NEG;
            match[j] = -1;
            if (iou)
                iou[j] = 0.0f;
        }
        return MUST_OK;
    }
    /* Ground truth as flat boxes followed by each one's best IoU: on the
     * stack for the usual handful, allocated for a crowded image. */
    float gbuf[64 * 5], *g = ngt <= 64 ? gbuf : malloc((size_t)ngt * 5 * sizeof(float));
    if (!g)
        return MUST_ENOMEM;
    float *gbest = g + 4 * (size_t)ngt;
    for (int k = 0; k < ngt; k++) {
        g[4 * k] = gt[k].x0;
        g[4 * k + 1] = gt[k].y0;
        g[4 * k + 2] = gt[k].x1;
        g[4 * k + 3] = gt[k].y1;
        gbest[k] = 0.0f;
    }
    for (int j = 0; j < n; j++) {
        const float *b = box + 4 * (size_t)j;
        float best = -1.0f;
        int arg = -1;
        for (int k = 0; k < ngt; k++) {
            float v = det_iou(b, g + 4 * k);
            if (v > best) { /* strict: the first of equal ground truths wins */
                best = v;
                arg = k;
            }
            if (v > gbest[k])
                gbest[k] = v;
        }
        match[j] = arg;
        label[j] = best >= hi ? DET_POS : best < lo ? DET_NEG : DET_IGNORE;
        if (iou)
            iou[j] = best;
    }
    /* Recomputing the non-positives' IoUs costs less than an n x ngt table:
     * most pairs are disjoint, which det_iou sees after two comparisons. */
    if (low_quality)
        for (int j = 0; j < n; j++) {
            if (label[j] == DET_POS)
                continue;
            const float *b = box + 4 * (size_t)j;
            for (int k = 0; k < ngt; k++)
                if (gbest[k] > 0.0f && det_iou(b, g + 4 * k) == gbest[k]) {
                    label[j] = DET_POS;
                    break;
                }
        }
    if (g != gbuf)
        free(g);
    return MUST_OK;
}

/* Moves a random k of the m indices in v to its front. */
static void pick(int *v, int m, int k, must_rng *r, det_uniform_fn uni)
{
    for (int i = 0; i < k; i++) {
        int j = i + (int)(uni(r) * (float)(m - i));
        if (j >= m)
            j = m - 1;
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

int det_sample(int8_t *label, int n, int num, float pos_frac, must_rng *r, det_uniform_fn uni,
               int *npos_out)
{
    int *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx)
        return MUST_ENOMEM;
    /* Positives from the front of idx, negatives from the back. */
    int np = 0, nn = 0;
    for (int j = 0; j < n; j++)
        if (label[j] == DET_POS)
            idx[np++] = j;
        else if (label[j] == DET_NEG)
            idx[n - 1 - nn++] = j;
    int kp = (int)((float)num * pos_frac);
    kp = kp < np ? kp : np;
    int kn = num - kp < nn ? num - kp : nn;
    pick(idx, np, kp, r, uni);
    pick(idx + n - nn, nn, kn, r, uni);
    for (int j = 0; j < n; j++)
        label[j] = DET_IGNORE;
    for (int i = 0; i < kp; i++)
        label[idx[i]] = DET_POS;
    for (int i = 0; i < kn; i++)
        label[idx[n - nn + i]] = DET_NEG;
    free(idx);
    if (npos_out)
        *npos_out = kp;
    return kp + kn;
}
