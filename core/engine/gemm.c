/* gemm.c - one thread pool: OpenMP splits a GEMM, OpenBLAS runs single-threaded.
 *
 * Running OpenBLAS's own threads beside our OpenMP loops made training 3x
 * slower on the project machines (the two pools spin against each other), so
 * OpenBLAS is pinned to one thread and the parallelism is ours. */
#include "config.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine-impl.h"

/* Which sgemm runs: ours (gemm_avx512.c) where the CPU has AVX-512, else
 * OpenBLAS's.  MUST_GEMM=openblas forces OpenBLAS (to compare the two, or
 * where a user trusts it more).  Decided once, on first use. */
static atomic_int gemm_choice = -1;

int must_gemm_uses_own(void)
{
    int v = atomic_load(&gemm_choice);
    if (v < 0) {
        const char *env = getenv("MUST_GEMM");
        v = (!env || strcmp(env, "openblas") != 0) && must_gemm_own_available();
        atomic_store(&gemm_choice, v);
    }
    return v;
}

static void gemm_piece(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                       float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                       float *c, int ldc)
{
    if (must_gemm_uses_own() &&
        must_gemm_own(ta == CblasTrans, tb == CblasTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                      ldc) == 0)
        return;
    /* No AVX-512, forced, or no memory for the packed blocks. */
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void must_threads_init(void)
{
    static int done;
    if (!done) {
        openblas_set_num_threads(1);
        done = 1;
    }
}

void must_sgemm(const must_ctx *ctx, int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    int nt = ctx ? ctx->threads : 1;
    if (m <= 0 || n <= 0)
        return;
    if (!ctx) {
        /* The caller already cut the product into pieces of its own. */
        gemm_piece(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* OpenBLAS rounds a product cut into pieces differently from the whole,
     * so the pieces are fixed by the shape alone (at most 8 blocks of the
     * larger dimension of C, each a multiple of 16 wide): threads only pick
     * which blocks they run, and every thread count gives the same bits. */
    int split_n = n >= m;
    int len = split_n ? n : m;
    int per = (len + 7) / 8;
    per = (per + 15) & ~15;
    if (per < 64)
        per = 64;
    int blocks = (len + per - 1) / per;
    /* Small products are not worth a fork; 2 MFLOP is about 20 us here. */
    if ((double)m * n * k < 1e6)
        nt = 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int i = 0; i < blocks; i++) {
        int lo = i * per, cnt = len - lo < per ? len - lo : per;
        if (split_n) {
            const float *bb = trans_b ? b + (size_t)lo * ldb : b + lo;
            gemm_piece(ta, tb, m, cnt, k, alpha, a, lda, bb, ldb, beta, c + lo, ldc);
        } else {
            const float *aa = trans_a ? a + lo : a + (size_t)lo * lda;
            gemm_piece(ta, tb, cnt, n, k, alpha, aa, lda, b, ldb, beta, c + (size_t)lo * ldc,
                       ldc);
        }
    }
}
