/* rpn.c - the region proposal network: two shared 3x3 convs over every
 * level, objectness and box deltas per anchor, its loss over sampled
 * anchors, and the proposals it hands the box head. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "det-impl.h"

int det_rpn_declare(det_head *h, must_err *err)
{
    const must_host *H = det_host;
    const unsigned W = MUST_T_PARAM, B = MUST_T_PARAM | MUST_T_NO_DECAY;
    int C = h->C, A = h->A;
    int conv[4] = {C, C, 3, 3}, bc[1] = {C}, ow[4] = {A, C, 1, 1}, ob[1] = {A},
        dw[4] = {4 * A, C, 1, 1}, db[1] = {4 * A};
    h->rpn_w[0] = H->params_add(h->params, "rpn.conv0.weight", 4, conv, W);
    h->rpn_b[0] = H->params_add(h->params, "rpn.conv0.bias", 1, bc, B);
    h->rpn_w[1] = H->params_add(h->params, "rpn.conv1.weight", 4, conv, W);
    h->rpn_b[1] = H->params_add(h->params, "rpn.conv1.bias", 1, bc, B);
    h->obj_w = H->params_add(h->params, "rpn.objectness.weight", 4, ow, W);
    h->obj_b = H->params_add(h->params, "rpn.objectness.bias", 1, ob, B);
    h->del_w = H->params_add(h->params, "rpn.deltas.weight", 4, dw, W);
    h->del_b = H->params_add(h->params, "rpn.deltas.bias", 1, db, B);
    if (!h->rpn_w[0] || !h->rpn_b[0] || !h->rpn_w[1] || !h->rpn_b[1] || !h->obj_w ||
        !h->obj_b || !h->del_w || !h->del_b)
        return det_err(err, MUST_ENOMEM, "detection: out of memory declaring the RPN");
    return MUST_OK;
}

void det_rpn_init(det_head *h, must_rng *r)
{
    /* Detectron2's StandardRPNHead: N(0, 0.01) weights, zero biases. */
    const must_host *H = det_host;
    for (int k = 0; k < 2; k++) {
        det_init_normal(h->rpn_w[k], r, 0.01f);
        H->init_const(h->rpn_b[k], 0.0f);
    }
    det_init_normal(h->obj_w, r, 0.01f);
    H->init_const(h->obj_b, 0.0f);
    det_init_normal(h->del_w, r, 0.01f);
    H->init_const(h->del_b, 0.0f);
}

int det_rpn_forward(det_head *h, must_ctx *ctx, det_pred *p)
{
    const must_host *H = det_host;
    must_tensor *obj[MUST_NLEVELS], *del[MUST_NLEVELS];
    for (int l = 0; l < h->nlev; l++) {
        must_tensor *x = p->feat[l];
        if (!x)
            return H->ctx_error(ctx)->code;
        int N = x->shape[0], hw = x->shape[2] * x->shape[3];
        for (int k = 0; k < 2; k++)
            x = H->relu(ctx, H->conv2d(ctx, x, h->rpn_w[k], h->rpn_b[k], 1, 1, 1));
        /* (N, A, H, W) and (N, 4A, H, W) flattened per image, so that the
         * levels join along one axis in anchor order. */
        int so[4] = {N, h->A * hw, 1, 1}, sd[4] = {N, 4 * h->A * hw, 1, 1};
        obj[l] = H->reshape(ctx, H->conv2d(ctx, x, h->obj_w, h->obj_b, 1, 0, 1), 4, so);
        del[l] = H->reshape(ctx, H->conv2d(ctx, x, h->del_w, h->del_b, 1, 0, 1), 4, sd);
    }
    p->obj = h->nlev == 1 ? obj[0] : H->concat(ctx, h->nlev, obj);
    p->del = h->nlev == 1 ? del[0] : H->concat(ctx, h->nlev, del);
    return p->obj && p->del ? MUST_OK : H->ctx_error(ctx)->code;
}

/* Delta k of anchor u (within level l) in image i's row of p->del. */
static inline float *delta_at(float *row, const det_anchor_level *lv, int u, int k)
{
    int hw = lv->h * lv->w;
    return row + 4 * (size_t)lv->offset + (size_t)(4 * (u / hw) + k) * hw + u % hw;
}

/* One thread's working space for image_proposals. */
typedef struct prop_scratch {
    int *order, *keep, *corder;
    float *lbox, *lscore, *cbox, *cscore;
} prop_scratch;

static void scratch_free(prop_scratch *s)
{
    free(s->order), free(s->keep), free(s->corder);
    free(s->lbox), free(s->lscore), free(s->cbox), free(s->cscore);
}

/* most: anchors of the largest level; cap: candidates kept over all levels. */
static int scratch_alloc(prop_scratch *s, int most, int cap)
{
    size_t m = (size_t)most, c = (size_t)(cap ? cap : 1);
    *s = (prop_scratch){malloc(m * sizeof(int)), malloc(m * sizeof(int)),
                        malloc(c * sizeof(int)),  malloc(m * 4 * sizeof(float)),
                        malloc(m * sizeof(float)), malloc(c * 4 * sizeof(float)),
                        malloc(c * sizeof(float))};
    return s->order && s->keep && s->corder && s->lbox && s->lscore && s->cbox && s->cscore
               ? MUST_OK
               : MUST_ENOMEM;
}

/* Image i's proposals: per level the top `pre` anchors by objectness,
 * decoded and clipped, NMS within the level (Detectron2's batched NMS by
 * level), then the best `post` over all levels into out (4 floats each),
 * their number into *np.  Reads p, writes only s, out and *np: images run on
 * any thread. */
static int image_proposals(const det_head *h, const det_pred *p, int i, int pre, int post,
                           prop_scratch *s, float *out, int *np, double *tnms)
{
    const det_config *c = &h->cfg;
    const det_anchors *an = &p->anchors;
    const float *srow = p->obj->data + (size_t)i * an->total;
    float *drow = p->del->data + (size_t)i * 4 * an->total;
    int nc = 0;
    for (int l = 0; l < an->nlev; l++) {
        const det_anchor_level *lv = &an->lev[l];
        int nl = an->A * lv->h * lv->w, k = pre < nl ? pre : nl, m = 0;
        if (det_argsort_desc(srow + lv->offset, nl, s->order))
            return MUST_ENOMEM;
        for (int q = 0; q < k; q++) {
            int u = s->order[q];
            float d[4], *b = s->lbox + 4 * (size_t)m;
            for (int e = 0; e < 4; e++)
                d[e] = *delta_at(drow, lv, u, e);
            det_box_decode(an->box + 4 * (size_t)(lv->offset + u), d, DET_RPN_WEIGHTS, b);
            det_box_clip(b, (float)p->in_w, (float)p->in_h);
            if (b[2] > b[0] && b[3] > b[1])
                s->lscore[m++] = srow[lv->offset + u];
        }
        double tn = det_now();
        int nk = det_nms(s->lbox, s->lscore, m, c->rpn_nms, 0, s->keep);
        *tnms += det_now() - tn;
        if (nk < 0)
            return MUST_ENOMEM;
        for (int q = 0; q < nk; q++, nc++) {
            memcpy(s->cbox + 4 * (size_t)nc, s->lbox + 4 * (size_t)s->keep[q], 4 * sizeof(float));
            s->cscore[nc] = s->lscore[s->keep[q]];
        }
    }
    if (det_argsort_desc(s->cscore, nc, s->corder))
        return MUST_ENOMEM;
    *np = post < nc ? post : nc;
    for (int q = 0; q < *np; q++)
        memcpy(out + 4 * (size_t)q, s->cbox + 4 * (size_t)s->corder[q], 4 * sizeof(float));
    return MUST_OK;
}

/* Proposals for every image of the batch, the images shared by the
 * context's threads (each with scratch of its own; the sort and NMS were a
 * serial stretch of every detection step), then copied into the context's
 * arena in image order by one thread. */
int det_rpn_proposals(det_head *h, det_pred *p, int train)
{
    const must_host *H = det_host;
    const det_config *c = &h->cfg;
    const det_anchors *an = &p->anchors;
    int pre = train ? c->rpn_pre_nms_topk_train : c->rpn_pre_nms_topk_test;
    int post = train ? c->rpn_post_nms_topk_train : c->rpn_post_nms_topk_test;
    int most = 1;
    for (int l = 0; l < an->nlev; l++) {
        int nl = an->A * an->lev[l].h * an->lev[l].w;
        most = nl > most ? nl : most;
    }
    int cap = an->nlev * (pre < most ? pre : most);
    int room = post < cap ? post : cap; /* proposals an image can have */
    room = room > 0 ? room : 1;
    p->nprop = H->ctx_alloc(p->ctx, (size_t)p->n * sizeof *p->nprop);
    p->prop = H->ctx_alloc(p->ctx, (size_t)p->n * sizeof *p->prop);
    float *staged = malloc((size_t)(p->n ? p->n : 1) * room * 4 * sizeof(float));
    if (!p->nprop || !p->prop || !staged) {
        free(staged);
        return H->ctx_fail(p->ctx, MUST_ENOMEM, "detection: out of memory for proposals");
    }
    double t0 = det_now(), tnms = 0.0;
    int failed = 0;
    const int T = p->n > 1 ? H->ctx_threads(p->ctx) : 1;
#pragma omp parallel num_threads(T) reduction(+ : tnms) if (T > 1)
    {
        prop_scratch s;
        int ok = scratch_alloc(&s, most, cap) == MUST_OK;
#pragma omp for schedule(dynamic)
        for (int i = 0; i < p->n; i++)
            if (!ok || image_proposals(h, p, i, pre, post, &s, staged + (size_t)i * room * 4,
                                       &p->nprop[i], &tnms) != MUST_OK) {
#pragma omp atomic write
                failed = 1;
            }
        scratch_free(&s);
    }
    for (int i = 0; !failed && i < p->n; i++) {
        int np = p->nprop[i];
        p->prop[i] = H->ctx_alloc(p->ctx, (size_t)(np ? np : 1) * 4 * sizeof(float));
        if (!p->prop[i]) {
            free(staged);
            return H->ctx_error(p->ctx)->code;
        }
        memcpy(p->prop[i], staged + (size_t)i * room * 4, (size_t)np * 4 * sizeof(float));
    }
    free(staged);
    if (failed)
        return H->ctx_fail(p->ctx, MUST_ENOMEM, "detection: out of memory for proposals");
    h->timers.proposals += det_now() - t0;
    h->timers.nms += tnms;
    return MUST_OK;
}

must_tensor *det_rpn_loss(det_head *h, must_ctx *ctx, det_pred *p, const must_batch *b,
                          const float *mask)
{
    const must_host *H = det_host;
    const det_config *c = &h->cfg;
    const det_anchors *an = &p->anchors;
    int N = p->n, T = an->total;
    size_t no = (size_t)N * T, nd = 4 * no;
    /* Targets and masks on the heap: the loss ops keep their own copies. */
    float *ot = calloc(no, sizeof *ot), *om = calloc(no, sizeof *om);
    float *dt = calloc(nd, sizeof *dt), *dm = calloc(nd, sizeof *dm);
    int8_t *lab = malloc((size_t)T);
    int *match = malloc((size_t)T * sizeof *match);
    must_tensor *loss = NULL;
    if (!ot || !om || !dt || !dm || !lab || !match) {
        H->ctx_fail(ctx, MUST_ENOMEM, "detection: out of memory for RPN targets");
        goto out;
    }
    double t0 = det_now();
    long nsamp = 0, npos = 0;
    for (int i = 0; i < N; i++) {
        if (!plugin_counts(b, mask, i, MUST_LABEL_DETECTION))
            continue;
        const must_box *gt = b->boxes ? b->boxes[i].v : NULL;
        int ngt = b->boxes ? b->boxes[i].n : 0;
        must_rng r;
        int np = 0, ns = det_match(an->box, T, gt, ngt, c->rpn_pos_iou, c->rpn_neg_iou, 1, lab,
                                   match, NULL);
        if (ns == MUST_OK) {
            det_rng(&r, h->seed, b, i, 0);
            ns = det_sample(lab, T, c->rpn_batch, c->rpn_pos_fraction, &r, H->rng_uniform, &np);
        }
        if (ns < 0) {
            H->ctx_fail(ctx, MUST_ENOMEM, "detection: out of memory matching anchors");
            goto out;
        }
        nsamp += ns;
        npos += np;
        float *orow = ot + (size_t)i * T, *omrow = om + (size_t)i * T;
        float *drow = dt + (size_t)i * 4 * T, *dmrow = dm + (size_t)i * 4 * T;
        for (int l = 0; l < an->nlev; l++) {
            const det_anchor_level *lv = &an->lev[l];
            int nl = an->A * lv->h * lv->w;
            for (int u = 0; u < nl; u++) {
                int j = lv->offset + u;
                if (lab[j] == DET_IGNORE)
                    continue;
                omrow[j] = 1.0f;
                if (lab[j] != DET_POS)
                    continue;
                orow[j] = 1.0f;
                const must_box *g = &gt[match[j]];
                float gb[4] = {g->x0, g->y0, g->x1, g->y1}, d[4];
                det_box_encode(an->box + 4 * (size_t)j, gb, DET_RPN_WEIGHTS, d);
                for (int e = 0; e < 4; e++) {
                    *delta_at(drow, lv, u, e) = d[e];
                    *delta_at(dmrow, lv, u, e) = 1.0f;
                }
            }
        }
    }
    h->timers.match += det_now() - t0;
    /* Both terms are sums over the sampled anchors divided by their number
     * (Detectron2's normaliser): the BCE's mean is that already; the Huber's
     * mean runs over the positives' 4 deltas, and Huber(beta) / beta is
     * Fast R-CNN's smooth L1. */
    loss = H->bce_logits(ctx, p->obj, ot, om);
    if (npos > 0)
        loss = H->add(ctx, loss,
                      H->scale(ctx, H->huber(ctx, p->del, dt, dm, c->smooth_l1_beta),
                               (float)(4.0 * npos / nsamp / c->smooth_l1_beta)));
out:
    free(ot);
    free(om);
    free(dt);
    free(dm);
    free(lab);
    free(match);
    return loss;
}
