/* roihead.c - the Fast R-CNN box head: RoIs sampled from the proposals and
 * the ground truth, pooled by RoIAlign from their FPN level, four 3x3 convs
 * and one fc, class logits and class-specific box deltas; its loss, and
 * the detections it makes at inference. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "det-impl.h"

int det_roi_declare(det_head *h, must_err *err)
{
    const must_host *H = det_host;
    const unsigned W = MUST_T_PARAM, B = MUST_T_PARAM | MUST_T_NO_DECAY;
    static const char *const wn[4] = {"roi.conv0.weight", "roi.conv1.weight", "roi.conv2.weight",
                                      "roi.conv3.weight"};
    static const char *const bn[4] = {"roi.conv0.bias", "roi.conv1.bias", "roi.conv2.bias",
                                      "roi.conv3.bias"};
    int P = h->cfg.roi_size, K = h->K, ok = 1;
    for (int k = 0; k < 4; k++) {
        int ws[4] = {h->hc, k ? h->hc : h->C, 3, 3}, bs[1] = {h->hc};
        h->conv_w[k] = H->params_add(h->params, wn[k], 4, ws, W);
        h->conv_b[k] = H->params_add(h->params, bn[k], 1, bs, B);
        ok &= h->conv_w[k] && h->conv_b[k];
    }
    int fw[2] = {h->fc, h->hc * P * P}, fb[1] = {h->fc}, cw[2] = {K + 1, h->fc}, cb[1] = {K + 1},
        bw[2] = {4 * K, h->fc}, bb[1] = {4 * K};
    h->fc_w = H->params_add(h->params, "roi.fc.weight", 2, fw, W);
    h->fc_b = H->params_add(h->params, "roi.fc.bias", 1, fb, B);
    h->cls_w = H->params_add(h->params, "roi.cls.weight", 2, cw, W);
    h->cls_b = H->params_add(h->params, "roi.cls.bias", 1, cb, B);
    h->box_w = H->params_add(h->params, "roi.box.weight", 2, bw, W);
    h->box_b = H->params_add(h->params, "roi.box.bias", 1, bb, B);
    if (!ok || !h->fc_w || !h->fc_b || !h->cls_w || !h->cls_b || !h->box_w || !h->box_b)
        return det_err(err, MUST_ENOMEM, "detection: out of memory declaring the box head");
    return MUST_OK;
}

void det_roi_init(det_head *h, must_rng *r)
{
    /* Kaiming for the convs and the fc (they feed ReLUs), Detectron2's
     * N(0, 0.01) class and N(0, 0.001) box predictors, zero biases. */
    const must_host *H = det_host;
    for (int k = 0; k < 4; k++) {
        H->init_kaiming(h->conv_w[k], r);
        H->init_const(h->conv_b[k], 0.0f);
    }
    H->init_kaiming(h->fc_w, r);
    H->init_const(h->fc_b, 0.0f);
    det_init_normal(h->cls_w, r, 0.01f);
    H->init_const(h->cls_b, 0.0f);
    det_init_normal(h->box_w, r, 0.001f);
    H->init_const(h->box_b, 0.0f);
}

int det_roi_forward(det_head *h, must_ctx *ctx, det_pred *p, const det_roi *roi, int R,
                    must_tensor **cls, must_tensor **box)
{
    const must_host *H = det_host;
    must_tensor *x = det_roialign(ctx, h->nlev, p->feat, h->stride, roi, R, h->cfg.roi_size,
                                  h->cfg.roi_sampling); // (R, C, P, P)
    for (int k = 0; k < 4; k++)
        x = H->relu(ctx, H->conv2d(ctx, x, h->conv_w[k], h->conv_b[k], 1, 1, 1)); // (R, hc, P, P)
    x = H->relu(ctx, H->linear(ctx, H->flatten(ctx, x), h->fc_w, h->fc_b)); // (R, fc)
    *cls = H->linear(ctx, x, h->cls_w, h->cls_b); // (R, K + 1)
    *box = H->linear(ctx, x, h->box_w, h->box_b); // (R, 4K)
    return *cls && *box ? MUST_OK : H->ctx_error(ctx)->code;
}

static inline int roi_slot(const det_head *h, const float *box)
{
    return det_roi_level(box, h->cfg.roi_canonical_level, h->canonical, h->pyr[0],
                         h->pyr[h->nlev - 1]) -
           h->pyr[0];
}

must_tensor *det_roi_loss(det_head *h, must_ctx *ctx, det_pred *p, const must_batch *b,
                          const float *mask, int *nrois)
{
    const must_host *H = det_host;
    const det_config *c = &h->cfg;
    int N = p->n, K = h->K, most = 1, cap = 0;
    *nrois = 0;
    for (int i = 0; i < N; i++) {
        if (!plugin_counts(b, mask, i, MUST_LABEL_DETECTION))
            continue;
        int nc = p->nprop[i] + (b->boxes ? b->boxes[i].n : 0);
        most = nc > most ? nc : most;
        cap += nc < c->roi_batch ? nc : c->roi_batch;
    }
    if (!cap)
        return NULL;
    /* On the heap: RoIAlign and the loss ops keep their own copies. */
    det_roi *roi = malloc((size_t)cap * sizeof *roi);
    int32_t *lab = malloc((size_t)cap * sizeof *lab);
    float *bt = calloc((size_t)cap * 4 * K, sizeof *bt), *bm = calloc((size_t)cap * 4 * K, sizeof *bm);
    float *cand = malloc((size_t)most * 4 * sizeof *cand);
    int8_t *ml = malloc((size_t)most);
    int *match = malloc((size_t)most * sizeof *match);
    must_tensor *loss = NULL;
    if (!roi || !lab || !bt || !bm || !cand || !ml || !match) {
        H->ctx_fail(ctx, MUST_ENOMEM, "detection: out of memory sampling RoIs");
        goto out;
    }
    double t0 = det_now();
    int R = 0, nfg = 0;
    for (int i = 0; i < N; i++) {
        if (!plugin_counts(b, mask, i, MUST_LABEL_DETECTION))
            continue;
        const must_box *gt = b->boxes ? b->boxes[i].v : NULL;
        int ngt = b->boxes ? b->boxes[i].n : 0, np = p->nprop[i], nc = np + ngt;
        /* The ground truth joins the proposals, so every object has at least
         * one perfect RoI from the first step on (Detectron2's rule). */
        memcpy(cand, p->prop[i], (size_t)np * 4 * sizeof *cand);
        for (int g = 0; g < ngt; g++) {
            float *q = cand + 4 * (size_t)(np + g);
            q[0] = gt[g].x0, q[1] = gt[g].y0, q[2] = gt[g].x1, q[3] = gt[g].y1;
        }
        must_rng r;
        int ns = det_match(cand, nc, gt, ngt, c->roi_fg_iou, c->roi_fg_iou, 0, ml, match, NULL);
        if (ns == MUST_OK) {
            det_rng(&r, h->seed, b, i, 1);
            ns = det_sample(ml, nc, c->roi_batch, c->roi_pos_fraction, &r, H->rng_uniform, NULL);
        }
        if (ns < 0) {
            H->ctx_fail(ctx, MUST_ENOMEM, "detection: out of memory sampling RoIs");
            goto out;
        }
        for (int j = 0; j < nc; j++) {
            if (ml[j] == DET_IGNORE)
                continue;
            const float *q = cand + 4 * (size_t)j;
            roi[R] = (det_roi){{q[0], q[1], q[2], q[3]}, i, roi_slot(h, q)};
            lab[R] = K;
            if (ml[j] == DET_POS) {
                const must_box *g = &gt[match[j]];
                float gb[4] = {g->x0, g->y0, g->x1, g->y1};
                lab[R] = g->cls;
                if (g->cls >= 0 && g->cls < K) {
                    float *t = bt + (size_t)R * 4 * K + 4 * g->cls;
                    det_box_encode(q, gb, DET_ROI_WEIGHTS, t);
                    for (int e = 0; e < 4; e++)
                        bm[(size_t)R * 4 * K + 4 * g->cls + e] = 1.0f;
                    nfg++;
                }
            }
            R++;
        }
    }
    h->timers.match += det_now() - t0;
    *nrois = R;
    if (!R)
        goto out;
    must_tensor *cls, *box;
    if (det_roi_forward(h, ctx, p, roi, R, &cls, &box))
        goto out;
    /* Cross-entropy over the sampled RoIs; the smooth L1 of the foreground's
     * class deltas summed and divided by the RoIs sampled, as for the RPN. */
    loss = H->cross_entropy(ctx, cls, lab, -1);
    if (nfg > 0)
        loss = H->add(ctx, loss,
                      H->scale(ctx, H->huber(ctx, box, bt, bm, c->smooth_l1_beta),
                               (float)(4.0 * nfg / R / c->smooth_l1_beta)));
out:
    free(roi);
    free(lab);
    free(bt);
    free(bm);
    free(cand);
    free(ml);
    free(match);
    return loss;
}

int det_roi_detect(det_head *h, det_pred *p)
{
    const must_host *H = det_host;
    const det_config *c = &h->cfg;
    if (p->have_dets)
        return MUST_OK;
    int N = p->n, K = h->K, R = 0, most = 1;
    for (int i = 0; i < N; i++) {
        R += p->nprop[i];
        most = p->nprop[i] > most ? p->nprop[i] : most;
    }
    p->ndet = H->ctx_alloc(p->ctx, (size_t)N * sizeof *p->ndet);
    p->det = H->ctx_alloc(p->ctx, (size_t)N * sizeof *p->det);
    if (!p->ndet || !p->det)
        return H->ctx_error(p->ctx)->code;
    memset(p->ndet, 0, (size_t)N * sizeof *p->ndet);
    memset(p->det, 0, (size_t)N * sizeof *p->det);
    if (!R) {
        p->have_dets = 1;
        return MUST_OK;
    }
    det_roi *roi = H->ctx_alloc(p->ctx, (size_t)R * sizeof *roi);
    if (!roi)
        return H->ctx_error(p->ctx)->code;
    for (int i = 0, r = 0; i < N; i++)
        for (int q = 0; q < p->nprop[i]; q++, r++) {
            const float *b = p->prop[i] + 4 * (size_t)q;
            roi[r] = (det_roi){{b[0], b[1], b[2], b[3]}, i, roi_slot(h, b)};
        }
    must_tensor *cls, *box;
    int rc = det_roi_forward(h, p->ctx, p, roi, R, &cls, &box);
    if (rc)
        return rc;
    double tnms = 0.0;
    /* Per image: every (RoI, class) scoring above the threshold, decoded;
     * NMS within each class; the best max_detections overall. */
    float *cb = malloc((size_t)most * 4 * sizeof *cb), *cs = malloc((size_t)most * sizeof *cs);
    float *prob = malloc((size_t)most * (K + 1) * sizeof *prob);
    int *keep = malloc((size_t)most * sizeof *keep);
    size_t dcap = (size_t)most * K;
    must_box *all = malloc((dcap ? dcap : 1) * sizeof *all);
    float *ascore = malloc((dcap ? dcap : 1) * sizeof *ascore);
    int *aord = malloc((dcap ? dcap : 1) * sizeof *aord);
    if (!cb || !cs || !prob || !keep || !all || !ascore || !aord) {
        rc = H->ctx_fail(p->ctx, MUST_ENOMEM, "detection: out of memory for detections");
        goto out;
    }
    for (int i = 0, r0 = 0; i < N; r0 += p->nprop[i], i++) {
        int n = p->nprop[i], na = 0;
        for (int q = 0; q < n; q++) {
            const float *z = cls->data + (size_t)(r0 + q) * (K + 1);
            float mx = z[0], sum = 0.0f, *pr = prob + (size_t)q * (K + 1);
            for (int k = 1; k <= K; k++)
                mx = z[k] > mx ? z[k] : mx;
            for (int k = 0; k <= K; k++)
                sum += pr[k] = expf(z[k] - mx);
            for (int k = 0; k <= K; k++)
                pr[k] /= sum;
        }
        for (int k = 0; k < K; k++) {
            int m = 0;
            for (int q = 0; q < n; q++) {
                float s = prob[(size_t)q * (K + 1) + k], *o = cb + 4 * (size_t)m;
                if (!(s > c->score_threshold))
                    continue;
                det_box_decode(p->prop[i] + 4 * (size_t)q,
                               box->data + (size_t)(r0 + q) * 4 * K + 4 * k, DET_ROI_WEIGHTS, o);
                det_box_clip(o, (float)p->in_w, (float)p->in_h);
                if (o[2] > o[0] && o[3] > o[1])
                    cs[m++] = s;
            }
            double tn = det_now();
            int nk = det_nms(cb, cs, m, c->nms, 0, keep);
            tnms += det_now() - tn;
            if (nk < 0) {
                rc = H->ctx_fail(p->ctx, MUST_ENOMEM, "detection: out of memory for detections");
                goto out;
            }
            for (int q = 0; q < nk; q++, na++) {
                const float *o = cb + 4 * (size_t)keep[q];
                all[na] = (must_box){o[0], o[1], o[2], o[3], k, cs[keep[q]], 0};
                ascore[na] = cs[keep[q]];
            }
        }
        if (det_argsort_desc(ascore, na, aord)) {
            rc = H->ctx_fail(p->ctx, MUST_ENOMEM, "detection: out of memory for detections");
            goto out;
        }
        int nd = c->max_detections < na ? c->max_detections : na;
        p->det[i] = H->ctx_alloc(p->ctx, (size_t)(nd ? nd : 1) * sizeof **p->det);
        if (!p->det[i]) {
            rc = H->ctx_error(p->ctx)->code;
            goto out;
        }
        for (int q = 0; q < nd; q++)
            p->det[i][q] = all[aord[q]];
        p->ndet[i] = nd;
    }
    p->have_dets = 1;
    h->timers.nms += tnms;
out:
    free(cb);
    free(cs);
    free(prob);
    free(keep);
    free(all);
    free(ascore);
    free(aord);
    return rc;
}
