/* test_gemm.c - the sgemm every convolution runs on (core/engine/gemm.c and
 * gemm_avx512.c) against a sum in double: every transpose, sizes that end
 * mid-tile and mid-block in each dimension, alpha and beta (beta = 0 must not
 * read C, which holds NaN there), and must_sgemm's bits the same at 1 and 2
 * threads.  Where the CPU lacks AVX-512 the own-kernel cases say so and
 * test OpenBLAS's path alone. */
#include "config.h"

#include <math.h>

#include "engine/engine-impl.h"
#include "must/ops.h"
#include "must/tensor.h"
#include "testutil.h"

static float *filled(size_t n, unsigned seed)
{
    float *v = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 9) & 0xffff) / 32768.0f - 1.0f;
    }
    return v;
}

typedef int (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int,
                       float, float *, int);

static int via_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc)
{
    must_sgemm(NULL, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return 0;
}

/* C = alpha op(A) op(B) + beta C with padded leading dimensions, checked
 * element by element against double sums (|error| <= 1e-5 * sum |terms|). */
static void check_case(gemm_fn fn, int ta, int tb, int m, int n, int k, float alpha, float beta)
{
    int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
    size_t ra = ta ? k : m, rb = tb ? n : k;
    float *a = filled(ra * lda, 1u + m), *b = filled(rb * ldb, 7u + n);
    float *c = filled((size_t)m * ldc, 11u + k), *c0 = malloc((size_t)m * ldc * sizeof(float));
    if (beta == 0.0f)
        for (size_t i = 0; i < (size_t)m * ldc; i++)
            c[i] = NAN;
    memcpy(c0, c, (size_t)m * ldc * sizeof(float));
    ck_assert_int_eq(fn(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), 0);
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0.0, mag = 0.0;
            for (int p = 0; p < k; p++) {
                double x = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                double y = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += x * y;
                mag += fabs(x * y);
            }
            double old = beta == 0.0f ? 0.0 : c0[(size_t)i * ldc + j];
            double want = alpha * s + beta * old;
            double tol = 1e-5 * (fabs(alpha) * mag + fabs(beta * old)) + 1e-6;
            double got = c[(size_t)i * ldc + j];
            ck_assert_msg(fabs(got - want) <= tol,
                          "ta %d tb %d m %d n %d k %d: C[%d][%d] = %.7g, want %.7g", ta, tb, m, n,
                          k, i, j, got, want);
        }
        /* The padding past n is not C's: untouched. */
        for (int j = n; j < ldc; j++)
            ck_assert(memcmp(&c[(size_t)i * ldc + j], &c0[(size_t)i * ldc + j], 4) == 0);
    }
    free(a), free(b), free(c), free(c0);
}

/* m, n, k around the kernel's tile (12 x 32) and blocks (k 256, rows 96,
 * columns 1024). */
static const int shapes[][3] = {
    {1, 1, 1},    {12, 32, 8},   {13, 33, 1},  {11, 31, 257}, {25, 65, 256},
    {97, 40, 3},  {5, 1030, 20}, {96, 64, 513}, {32, 27, 300}, {64, 200, 64},
};

static void all_cases(gemm_fn fn)
{
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++) {
            check_case(fn, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f);
            check_case(fn, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], 0.5f, 1.0f);
            check_case(fn, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], -2.0f, 0.25f);
        }
}

START_TEST(own_kernel_matches_double_sums)
{
    if (!must_gemm_own_available()) {
        printf("test_gemm: this CPU has no AVX-512; own kernel not tested here\n");
        return;
    }
    all_cases(must_gemm_own);
}
END_TEST

START_TEST(sgemm_matches_double_sums)
{
    /* Whichever kernel this machine picks (MUST_GEMM=openblas forces the
     * other one; tests.am runs this suite both ways). */
    all_cases(via_sgemm);
}
END_TEST

START_TEST(own_kernel_k_zero_scales_c)
{
    if (!must_gemm_own_available())
        return;
    float c[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_int_eq(must_gemm_own(0, 0, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 0.5f, c, 3), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_float_near(c[i], 0.5f * (i + 1), 0);
}
END_TEST

START_TEST(threads_give_the_same_bits)
{
    /* A product large enough to be split: 1 and 2 threads write the same C. */
    int m = 64, n = 3000, k = 300;
    float *a = filled((size_t)m * k, 3), *b = filled((size_t)k * n, 4);
    float *c1 = calloc((size_t)m * n, sizeof(float)), *c2 = calloc((size_t)m * n, sizeof(float));
    must_ctx *one = must_ctx_new(1), *two = must_ctx_new(2);
    ck_assert_ptr_nonnull(one);
    ck_assert_ptr_nonnull(two);
    must_sgemm(one, 0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c1, n);
    must_sgemm(two, 0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c2, n);
    ck_assert(memcmp(c1, c2, (size_t)m * n * sizeof(float)) == 0);
    /* Our kernel sums k in the same order whatever part of C it is given:
     * the product cut into pieces (ctx) is the whole one (NULL) bit for
     * bit.  (OpenBLAS's pieces are fixed by the shape instead.) */
    if (must_gemm_uses_own()) {
        must_sgemm(NULL, 0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c1, n);
        ck_assert(memcmp(c1, c2, (size_t)m * n * sizeof(float)) == 0);
    }
    must_ctx_free(one);
    must_ctx_free(two);
    free(a), free(b), free(c1), free(c2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, own_kernel_matches_double_sums);
    tcase_add_test(tc, sgemm_matches_double_sums);
    tcase_add_test(tc, own_kernel_k_zero_scales_c);
    tcase_add_test(tc, threads_give_the_same_bits);
    suite_add_tcase(s, tc);
    return test_run(s);
}
