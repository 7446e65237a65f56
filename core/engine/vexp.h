/* vexp.h - an expf that compilers can vectorise, for softmax-heavy loops.
 *
 * libm's expf is a call the vectoriser cannot inline, and the per-pixel
 * softmax of segmentation evaluates one per logit, forward and backward.
 * This one is plain float and integer arithmetic without branches, so
 * `#pragma omp simd` loops turn it into SSE/AVX code, and it gives the same
 * bits on every machine.  Within 1.5 ulp of exp on [-87, 88]
 * (tests/test_ops_misc.c checks 2).
 *
 * Float compares are avoided on purpose: with the default -ftrapping-math
 * GCC will not if-convert them, and the loop stays scalar.  The clamps
 * compare the bit patterns as integers instead (for floats of one sign the
 * order of the bits is the order of the values, reversed for negatives).
 */
#ifndef MUST_VEXP_H
#define MUST_VEXP_H

#include <stdint.h>

#define MUST_VEXP_LO ((int32_t)0xC2AE0000) /* bits of -87.0f */
#define MUST_VEXP_HI ((int32_t)0x42B00000) /* bits of 88.0f */
#define MUST_VEXP_NINF ((int32_t)0xFF800000) /* bits of -inf */
#define MUST_VEXP_PINF ((int32_t)0x7F800000) /* bits of +inf */

/* e^x.  Below -87 it returns e^-87 (1.6e-38), above 88 e^88: harmless next to
 * the 1 of a shifted softmax's largest term.  NaN gives NaN. */
static inline float must_vexpf(float x)
{
    union {
        float f;
        int32_t i;
    } u = {x};
    /* x < -87 (NaN excluded): the bits, as a negative int, exceed -87's. */
    int32_t m = -(int32_t)((u.i > MUST_VEXP_LO) & (u.i <= MUST_VEXP_NINF));
    u.i = (u.i & ~m) | (MUST_VEXP_LO & m);
    m = -(int32_t)((u.i > MUST_VEXP_HI) & (u.i <= MUST_VEXP_PINF));
    u.i = (u.i & ~m) | (MUST_VEXP_HI & m);
    x = u.f;
    /* x = n ln 2 + r, |r| <= ln 2 / 2.  Adding 1.5 * 2^23 rounds x / ln 2 to
     * an integer and leaves that integer in the low bits of t, so n is read
     * without a float-to-int conversion (undefined for NaN). */
    union {
        float f;
        uint32_t u;
    } t = {x * 1.44269504089f + 12582912.0f};
    float n = t.f - 12582912.0f;
    /* ln 2 = 0.693359375 - 2.12194440e-4: the first part has 8 significant
     * bits, so n times it is exact and r keeps its low bits. */
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    /* Taylor series of e^r to degree 7: truncation under 2e-9 for |r| <= 0.35. */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* times 2^n, built in the exponent field: n + 127 is in [1, 254]. */
    union {
        uint32_t u;
        float f;
    } s = {(t.u - 0x4B400000u + 127u) << 23};
    return p * s.f;
}

#endif
