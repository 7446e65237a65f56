/* ops_contrast.c - the NT-Xent loss of SimCLR (normalised temperature-scaled
 * cross entropy over the other views of a batch).
 *
 * z holds 2N projections: rows 0..N-1 are the first view of N images, rows
 * N..2N-1 the second view of the same images in the same order, so row i's
 * positive is row (i + N) mod 2N.  With u_i = z_i / max(|z_i|, eps) and
 * s_ik = <u_i, u_k> / tau,
 *
 *     L = 1/(2N) sum_i [ log sum_{k != i} exp(s_ik) - s_{i, p(i)} ].
 *
 * Backward: with P_ik the softmax of row i over k != i (P_ii = 0),
 * dL/ds_ik = (P_ik - [k = p(i)]) / 2N, so dL/du = (G + G^T) U / tau with that
 * G, and the normalisation's Jacobian gives dz_i = (du_i - u_i <u_i, du_i>) /
 * |z_i| (or du_i / eps for a row shorter than eps, which is scaled, not
 * normalised).  Rows and sums run in a fixed order: the value does not
 * depend on the thread count. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine-impl.h"

struct ntx_saved {
    float *u;     /* (M, D) normalised rows */
    float *norm;  /* (M) max(|z_i|, eps) */
    float *p;     /* (M, M) softmax of each row over the others */
    float tau, eps;
};

static void ntx_bw(must_ctx *ctx, must_node *nd)
{
    must_tensor *z = nd->in[0];
    const struct ntx_saved *sv = nd->saved;
    if (!z->grad)
        return;
    int m = z->shape[0], d = z->shape[1], half = m / 2;
    float g = nd->out->grad[0] / (float)m;
    float *gs = must_ctx_alloc(ctx, (size_t)m * m * sizeof(float));
    float *du = must_ctx_alloc(ctx, (size_t)m * d * sizeof(float));
    if (!gs || !du)
        return;
    /* G + G^T, scaled by the upstream gradient. */
    for (int i = 0; i < m; i++)
        for (int k = 0; k < m; k++) {
            float gik = sv->p[(size_t)i * m + k] - (k == (i + half) % m ? 1.0f : 0.0f);
            float gki = sv->p[(size_t)k * m + i] - (i == (k + half) % m ? 1.0f : 0.0f);
            gs[(size_t)i * m + k] = i == k ? 0.0f : g * (gik + gki);
        }
    must_sgemm(ctx, 0, 0, m, d, m, 1.0f / sv->tau, gs, m, sv->u, d, 0.0f, du, d);
    for (int i = 0; i < m; i++) {
        const float *ui = sv->u + (size_t)i * d;
        const float *dui = du + (size_t)i * d;
        float *gz = z->grad + (size_t)i * d;
        if (sv->norm[i] <= sv->eps) {
            for (int j = 0; j < d; j++)
                gz[j] += dui[j] / sv->eps;
            continue;
        }
        double dot = 0.0;
        for (int j = 0; j < d; j++)
            dot += (double)ui[j] * dui[j];
        for (int j = 0; j < d; j++)
            gz[j] += (dui[j] - ui[j] * (float)dot) / sv->norm[i];
    }
}

/* u_i = z_i / max(|z_i|, eps); norm_i = max(|z_i|, eps). */
static void normalise_rows(const float *z, int m, int d, float eps, float *u, float *norm)
{
    for (int i = 0; i < m; i++) {
        const float *zi = z + (size_t)i * d;
        double ss = 0.0;
        for (int j = 0; j < d; j++)
            ss += (double)zi[j] * zi[j];
        float n = (float)sqrt(ss);
        norm[i] = n > eps ? n : eps;
        for (int j = 0; j < d; j++)
            u[(size_t)i * d + j] = zi[j] / norm[i];
    }
}

/* Row i of s (in place): the softmax over k != i; returns the row's loss
 * log sum_{k != i} exp(s_ik) - s_{i, pos}. */
static double softmax_row(float *s, int m, int i, int pos)
{
    float mx = -INFINITY;
    for (int k = 0; k < m; k++)
        if (k != i && s[k] > mx)
            mx = s[k];
    double se = 0.0;
    for (int k = 0; k < m; k++)
        if (k != i)
            se += exp((double)s[k] - mx);
    double lse = mx + log(se);
    double loss = lse - s[pos];
    for (int k = 0; k < m; k++)
        s[k] = k == i ? 0.0f : (float)exp((double)s[k] - lse);
    return loss;
}

must_tensor *must_op_nt_xent(must_ctx *ctx, must_tensor *z, float tau, float eps)
{
    static const char op[] = "nt_xent";
    if (!z)
        return NULL;
    if (z->ndim != 2 || z->shape[0] < 2 || z->shape[0] % 2) {
        char s[64];
        must_ctx_fail(ctx, MUST_ESHAPE,
                      "%s: input shape %s: must be (2N, D), two views of N images, N >= 1", op,
                      must_shape_str(z, s, sizeof s));
        return NULL;
    }
    if (!(tau > 0.0f) || !(eps > 0.0f)) {
        must_ctx_fail(ctx, MUST_EINVAL, "%s: temperature %g and eps %g must be positive", op,
                      (double)tau, (double)eps);
        return NULL;
    }
    int m = z->shape[0], d = z->shape[1];
    must_tensor *y = must_scalar_new(ctx);
    struct ntx_saved *sv = y ? must_ctx_alloc(ctx, sizeof *sv) : NULL;
    float *u = sv ? must_ctx_alloc(ctx, (size_t)m * d * sizeof(float)) : NULL;
    float *norm = u ? must_ctx_alloc(ctx, (size_t)m * sizeof(float)) : NULL;
    float *p = norm ? must_ctx_alloc(ctx, (size_t)m * m * sizeof(float)) : NULL;
    if (!p)
        return NULL;
    normalise_rows(z->data, m, d, eps, u, norm);
    must_sgemm(ctx, 0, 1, m, m, d, 1.0f / tau, u, d, u, d, 0.0f, p, m);
    double total = 0.0;
    for (int i = 0; i < m; i++)
        total += softmax_row(p + (size_t)i * m, m, i, (i + m / 2) % m);
    y->data[0] = (float)(total / m);
    *sv = (struct ntx_saved){u, norm, p, tau, eps};
    must_node *nd = must_tape_record(ctx, op, ntx_bw, y, 1, &z);
    if (nd)
        nd->saved = sv;
    return y;
}
