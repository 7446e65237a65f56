/* gemm_avx512.c - our own single-threaded sgemm for CPUs with AVX-512.
 *
 * Why our own: on many AMD hosts (the Zen 5 of docs/performance.md among
 * them) OPENBLAS_CORETYPE=Haswell is set, so OpenBLAS runs its AVX2 kernels
 * and half of each 512-bit FMA unit stays idle.  This file is compiled for any
 * x86-64 (no -march flag); only the functions below carry
 * target("avx512f"), and gemm.c calls them after asking the CPU at run time
 * (must_gemm_own_available), so the default build still runs everywhere.
 *
 * The layout is the classic one of Goto's GEMM: op(B) is packed block by
 * block (KC x NC) into panels NR columns wide, op(A) (MC x KC) into panels
 * MR rows high, and a micro-kernel keeps an MR x NR tile of C in registers
 * (12 x 32: 24 zmm accumulators, each A value broadcast against two vectors
 * of B).  The sums over k run in a fixed order (KC blocks in turn, one FMA
 * chain per C element), whatever the caller's split of C, so results do not
 * depend on how many threads share a product. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine-impl.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MR 12
#define NR 32
/* KC x NR of B (32 KiB) is a micro-kernel's stream from L2; MR x KC of A
 * (12 KiB) stays in L1 across a row of tiles; KC x NC of B (1 MiB at most,
 * less for smaller products) is about one L2 (1 MiB on the Zen 5 cores of
 * docs/performance.md's "Our own GEMM"). */
#define KC 256
#define MC 96
#define NC 1024

int must_gemm_own_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* r[p] lane i = in[i] lane p: a 16 x 16 transpose in registers (unpack
 * pairs, then quads within 128-bit lanes, then the lanes themselves). */
__attribute__((target("avx512f"))) static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    /* r[4 i + q], 128-bit lane L: rows 4i..4i+3 of column 4 L + q. */
    for (int q = 0; q < 4; q++) {
        __m512 x0 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);
        __m512 x1 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xdd);
        __m512 y0 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
        __m512 y1 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xdd);
        t[q] = _mm512_shuffle_f32x4(x0, y0, 0x88);
        t[4 + q] = _mm512_shuffle_f32x4(x1, y1, 0x88);
        t[8 + q] = _mm512_shuffle_f32x4(x0, y0, 0xdd);
        t[12 + q] = _mm512_shuffle_f32x4(x1, y1, 0xdd);
    }
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

static inline __mmask16 first_lanes(int n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* Rows [0, rows) of src (each kc floats at src + i * ld, contiguous) into
 * dst[p * width + i], lanes past rows zero: the packing of an operand whose
 * k runs along its rows, 16 x 16 blocks transposed in registers. */
__attribute__((target("avx512f"))) static void pack_transposed(const float *src, size_t ld,
                                                               int rows, int kc, float *dst,
                                                               int width)
{
    for (int i0 = 0; i0 < width; i0 += 16) {
        __mmask16 store = first_lanes(width - i0);
        for (int p0 = 0; p0 < kc; p0 += 16) {
            __mmask16 load = first_lanes(kc - p0);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i0 + i < rows
                           ? _mm512_maskz_loadu_ps(load, src + (size_t)(i0 + i) * ld + p0)
                           : _mm512_setzero_ps();
            transpose16(r);
            int np = kc - p0 < 16 ? kc - p0 : 16;
            for (int p = 0; p < np; p++)
                _mm512_mask_storeu_ps(dst + (size_t)(p0 + p) * width + i0, store, r[p]);
        }
    }
}

/* Rows [0, rows) of a k-major operand (row p of kc at src + p * ld, the
 * wanted lanes contiguous) into dst[p * width + i], lanes past rows zero. */
__attribute__((target("avx512f"))) static void pack_direct(const float *src, size_t ld, int rows,
                                                           int kc, float *dst, int width)
{
    for (int p = 0; p < kc; p++) {
        const float *s = src + (size_t)p * ld;
        float *d = dst + (size_t)p * width;
        for (int i0 = 0; i0 < width; i0 += 16)
            _mm512_mask_storeu_ps(d + i0, first_lanes(width - i0),
                                  _mm512_maskz_loadu_ps(first_lanes(rows - i0), s + i0));
    }
}

/* op(A) rows [i0, i0 + mr), k [p0, p0 + kc) into dst[p * MR + i]. */
static void pack_a(int trans, const float *a, int lda, int i0, int mr, int p0, int kc, float *dst)
{
    if (trans)
        pack_direct(a + (size_t)p0 * lda + i0, (size_t)lda, mr, kc, dst, MR);
    else
        pack_transposed(a + (size_t)i0 * lda + p0, (size_t)lda, mr, kc, dst, MR);
}

/* op(B) k [p0, p0 + kc), columns [j0, j0 + nr) into dst[p * NR + j]. */
static void pack_b(int trans, const float *b, int ldb, int p0, int kc, int j0, int nr, float *dst)
{
    if (trans)
        pack_transposed(b + (size_t)j0 * ldb + p0, (size_t)ldb, nr, kc, dst, NR);
    else
        pack_direct(b + (size_t)p0 * ldb + j0, (size_t)ldb, nr, kc, dst, NR);
}

/* C tile (mr x nr at c) = alpha * acc + (first ? beta * C : C). */
__attribute__((target("avx512f"))) static inline __m512 tile_out(__m512 acc, const float *c,
                                                                  __mmask16 m, float alpha,
                                                                  float beta, int first)
{
    __m512 va = _mm512_set1_ps(alpha);
    if (first && beta == 0.0f)
        return _mm512_mul_ps(va, acc);
    __m512 old = _mm512_maskz_loadu_ps(m, c);
    if (first && beta != 1.0f)
        old = _mm512_mul_ps(old, _mm512_set1_ps(beta));
    return _mm512_fmadd_ps(va, acc, old);
}

/* The micro-kernel for tiles of at most R rows (R = 12, 8, 4 or 1, a
 * constant once inlined): short tiles (a head's 1 or 10 output channels, the
 * last rows of a block) do not pay for twelve.  A's panel is MR wide
 * whatever R is. */
__attribute__((target("avx512f"), always_inline)) static inline void
kernel_rows(const int R, int kc, const float *pa, const float *pb, float *c, int ldc, int mr,
            int nr, float alpha, float beta, int first)
{
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < R; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(pb), b1 = _mm512_load_ps(pb + 16);
#pragma GCC unroll 12
        for (int i = 0; i < R; i++) {
            __m512 av = _mm512_set1_ps(pa[i]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
        pa += MR;
        pb += NR;
    }
    __mmask16 m0 = first_lanes(nr), m1 = first_lanes(nr - 16);
#pragma GCC unroll 12
    for (int i = 0; i < R; i++) {
        if (i < mr) {
            float *ci = c + (size_t)i * ldc;
            _mm512_mask_storeu_ps(ci, m0, tile_out(acc[i][0], ci, m0, alpha, beta, first));
            if (m1)
                _mm512_mask_storeu_ps(ci + 16, m1,
                                      tile_out(acc[i][1], ci + 16, m1, alpha, beta, first));
        }
    }
}

__attribute__((target("avx512f"))) static void kernel(int kc, const float *pa, const float *pb,
                                                      float *c, int ldc, int mr, int nr,
                                                      float alpha, float beta, int first)
{
    if (mr > 8)
        kernel_rows(12, kc, pa, pb, c, ldc, mr, nr, alpha, beta, first);
    else if (mr > 4)
        kernel_rows(8, kc, pa, pb, c, ldc, mr, nr, alpha, beta, first);
    else if (mr > 1)
        kernel_rows(4, kc, pa, pb, c, ldc, mr, nr, alpha, beta, first);
    else
        kernel_rows(1, kc, pa, pb, c, ldc, mr, nr, alpha, beta, first);
}

/* One KC x NC block of packed B against all of op(A)'s rows. */
static void block_rows(int trans_a, int m, int kc, int p0, int nc, float alpha, const float *a,
                       int lda, const float *pb, float beta, int first, float *c, int ldc,
                       float *pa)
{
    for (int i0 = 0; i0 < m; i0 += MC) {
        int mc = m - i0 < MC ? m - i0 : MC;
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = mc - ir < MR ? mc - ir : MR;
            pack_a(trans_a, a, lda, i0 + ir, mr, p0, kc, pa + (size_t)ir * kc);
        }
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = mc - ir < MR ? mc - ir : MR;
            const float *pai = pa + (size_t)ir * kc;
            for (int jr = 0; jr < nc; jr += NR) {
                int nr = nc - jr < NR ? nc - jr : NR;
                kernel(kc, pai, pb + (size_t)jr * kc, c + (size_t)(i0 + ir) * ldc + jr, ldc, mr,
                       nr, alpha, beta, first);
            }
        }
    }
}

/* Each thread keeps its packing buffer from call to call (a convolution
 * makes hundreds of small products per step, and a fresh 1 MiB block each
 * time went to mmap and back: a third of a 1x1 convolution's backward was
 * the kernel's page handling).  Freed when the thread ends. */
static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static int buf_key_ok;

typedef struct pack_buf {
    float *p;
    size_t cap;
} pack_buf;

static void buf_free(void *v)
{
    pack_buf *b = v;
    free(b->p);
    free(b);
}

static void buf_key_make(void) { buf_key_ok = pthread_key_create(&buf_key, buf_free) == 0; }

static float *pack_space(size_t floats)
{
    pthread_once(&buf_once, buf_key_make);
    if (!buf_key_ok)
        return NULL;
    pack_buf *b = pthread_getspecific(buf_key);
    if (!b) {
        if (!(b = calloc(1, sizeof *b)))
            return NULL;
        if (pthread_setspecific(buf_key, b) != 0) {
            free(b);
            return NULL;
        }
    }
    if (b->cap < floats) {
        float *p = aligned_alloc(64, (floats * sizeof(float) + 63) & ~(size_t)63);
        if (!p)
            return NULL;
        free(b->p);
        b->p = p;
        b->cap = floats;
    }
    return b->p;
}

int must_gemm_own(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return 0;
    if (k <= 0) {
        /* Nothing to sum: C = beta C, as BLAS has it. */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
        return 0;
    }
    int kcap = k < KC ? k : KC;
    int ncap = n < NC ? (n + NR - 1) / NR * NR : NC;
    int mcap = m < MC ? (m + MR - 1) / MR * MR : MC;
    size_t floats = (size_t)kcap * ncap + (size_t)kcap * mcap;
    float *pb = pack_space(floats);
    if (!pb)
        return -1;
    float *pa = pb + (size_t)kcap * ncap;
    for (int j0 = 0; j0 < n; j0 += NC) {
        int nc = n - j0 < NC ? n - j0 : NC;
        for (int p0 = 0; p0 < k; p0 += KC) {
            int kc = k - p0 < KC ? k - p0 : KC;
            for (int jr = 0; jr < nc; jr += NR) {
                int nr = nc - jr < NR ? nc - jr : NR;
                pack_b(trans_b, b, ldb, p0, kc, j0 + jr, nr, pb + (size_t)jr * kc);
            }
            block_rows(trans_a, m, kc, p0, nc, alpha, a, lda, pb, beta, p0 == 0, c + j0, ldc, pa);
        }
    }
    return 0;
}

#else

int must_gemm_own_available(void) { return 0; }

int must_gemm_own(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
    (void)b, (void)ldb, (void)beta, (void)c, (void)ldc;
    return -1;
}

#endif
