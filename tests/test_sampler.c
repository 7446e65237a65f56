/* test_sampler.c - union sampler: proportions, determinism, shards. */
#include "config.h"

#include <math.h>

#include "must/sampler.h"
#include "must/tensor.h"
#include "testutil.h"

static must_sampler *make(const size_t *sizes, int n, int mode, uint64_t seed, int rank,
                          int world)
{
    must_sampler_opts o = {.mode = mode, .shuffle = 1, .seed = seed, .rank = rank, .world = world};
    must_sampler *s;
    must_err e = {0};
    ck_assert_msg(must_sampler_new(sizes, n, &o, &s, &e) == MUST_OK, "%s", e.msg);
    return s;
}

START_TEST(permutation_is_a_bijection)
{
    static const size_t ns[] = {1, 2, 3, 7, 64, 100, 1000, 4097};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        size_t n = ns[k];
        char *seen = calloc(n, 1);
        int moved = 0;
        for (size_t i = 0; i < n; i++) {
            size_t p = must_permute(12345, n, i);
            ck_assert_uint_lt(p, n);
            ck_assert_int_eq(seen[p], 0);
            seen[p] = 1;
            moved += p != i;
        }
        if (n >= 64)
            ck_assert_int_gt(moved, (int)n / 2); /* it does shuffle */
        free(seen);
    }
}
END_TEST

/* Union mode: an epoch is every example once; positions fall on the sets in
 * proportion to their sizes. */
START_TEST(union_mode_proportions)
{
    const size_t sizes[3] = {1000, 300, 50}, N = 1350;
    must_sampler *s = make(sizes, 3, MUST_SAMPLE_UNION, 42, 0, 1);
    ck_assert_uint_eq(must_sampler_total(s), N);
    ck_assert_uint_eq(must_sampler_len(s), N);
    /* One epoch: each example exactly once. */
    char *seen = calloc(N, 1);
    for (size_t i = 0; i < N; i++) {
        must_sample x;
        must_sampler_get(s, 0, i, &x);
        ck_assert_uint_eq(x.pos, i);
        size_t flat = x.index + (x.dataset > 0 ? 1000 : 0) + (x.dataset > 1 ? 300 : 0);
        ck_assert_uint_lt(x.index, sizes[x.dataset]);
        ck_assert_int_eq(seen[flat], 0);
        seen[flat] = 1;
    }
    free(seen);
    /* The first 100 positions of 300 epochs: 30000 draws.  Each set's share
     * is within 5 standard deviations (binomial; sampling without
     * replacement is tighter still) of its size share. */
    long count[3] = {0};
    const int E = 300, K = 100;
    for (int e = 0; e < E; e++)
        for (int i = 0; i < K; i++) {
            must_sample x;
            must_sampler_get(s, (uint64_t)e, (size_t)i, &x);
            count[x.dataset]++;
        }
    for (int d = 0; d < 3; d++) {
        double p = (double)sizes[d] / N, n = (double)E * K;
        double sd = sqrt(n * p * (1 - p));
        ck_assert_msg(fabs((double)count[d] - n * p) < 5 * sd, "set %d: %ld draws, expected %.0f "
                      "+- %.0f", d, count[d], n * p, 5 * sd);
    }
    must_sampler_free(s);
}
END_TEST

/* Balanced mode: each set with probability 1/3 whatever its size; each set
 * walked whole before it repeats. */
START_TEST(balanced_mode_proportions)
{
    const size_t sizes[3] = {1000, 300, 50}, N = 1350;
    must_sampler *s = make(sizes, 3, MUST_SAMPLE_BALANCED, 7, 0, 1);
    ck_assert_uint_eq(must_sampler_len(s), N);
    long count[3] = {0};
    /* Random windows of 30 positions over many epochs: 20000 windows. */
    must_rng r;
    must_rng_seed(&r, 1);
    const int windows = 2000, K = 30;
    for (int w = 0; w < windows; w++) {
        uint64_t e = must_rng_below(&r, 50);
        size_t start = must_rng_below(&r, (uint32_t)(N - K));
        for (int i = 0; i < K; i++) {
            must_sample x;
            must_sampler_get(s, e, start + (size_t)i, &x);
            ck_assert_uint_lt(x.index, sizes[x.dataset]);
            count[x.dataset]++;
        }
    }
    for (int d = 0; d < 3; d++) {
        double n = (double)windows * K, p = 1.0 / 3.0, sd = sqrt(n * p * (1 - p));
        ck_assert_msg(fabs((double)count[d] - n * p) < 5 * sd, "set %d: %ld draws, expected %.0f",
                      d, count[d], n * p);
    }
    /* The small set's first 50 visits are all of its 50 examples; the next
     * 50 again all of them, in another order. */
    char seen[2][50] = {{0}};
    int visits = 0, differ = 0, first[50];
    for (size_t i = 0; visits < 100; i++) {
        must_sample x;
        must_sampler_get(s, i / N, i % N, &x);
        if (x.dataset != 2)
            continue;
        int pass = visits / 50;
        ck_assert_int_eq(seen[pass][x.index], 0);
        seen[pass][x.index] = 1;
        if (pass == 0)
            first[visits] = (int)x.index;
        else
            differ += first[visits - 50] != (int)x.index;
        visits++;
    }
    ck_assert_int_gt(differ, 0);
    must_sampler_free(s);
}
END_TEST

START_TEST(deterministic_by_seed)
{
    const size_t sizes[2] = {500, 200};
    for (int mode = 0; mode < 2; mode++) {
        must_sampler *a = make(sizes, 2, mode, 99, 0, 1), *b = make(sizes, 2, mode, 99, 0, 1),
                     *c = make(sizes, 2, mode, 100, 0, 1);
        int diff_seed = 0, diff_epoch = 0;
        for (size_t i = 0; i < 700; i++) {
            must_sample x, y, z, w;
            must_sampler_get(a, 3, i, &x);
            must_sampler_get(b, 3, i, &y);
            must_sampler_get(c, 3, i, &z);
            must_sampler_get(a, 4, i, &w);
            ck_assert_int_eq(x.dataset, y.dataset);
            ck_assert_uint_eq(x.index, y.index);
            diff_seed += x.dataset != z.dataset || x.index != z.index;
            diff_epoch += x.dataset != w.dataset || x.index != w.index;
        }
        ck_assert_int_gt(diff_seed, 350);
        ck_assert_int_gt(diff_epoch, 350);
        must_sampler_free(a);
        must_sampler_free(b);
        must_sampler_free(c);
    }
}
END_TEST

START_TEST(shards_are_disjoint_and_cover)
{
    const size_t sizes[3] = {101, 37, 12}, N = 150;
    for (int mode = 0; mode < 2; mode++) {
        must_sampler *all = make(sizes, 3, mode, 5, 0, 1);
        for (int world = 1; world <= 4; world++) {
            int *owner = malloc(N * sizeof *owner);
            for (size_t i = 0; i < N; i++)
                owner[i] = -1;
            size_t total = 0, minlen = N, maxlen = 0;
            for (int rank = 0; rank < world; rank++) {
                must_sampler *s = make(sizes, 3, mode, 5, rank, world);
                size_t len = must_sampler_len(s);
                total += len;
                minlen = len < minlen ? len : minlen;
                maxlen = len > maxlen ? len : maxlen;
                for (size_t i = 0; i < len; i++) {
                    must_sample x, y;
                    must_sampler_get(s, 2, i, &x);
                    ck_assert_uint_lt(x.pos, N);
                    ck_assert_int_eq(owner[x.pos], -1); /* disjoint */
                    owner[x.pos] = rank;
                    /* a rank sees what the unsharded sampler has there */
                    must_sampler_get(all, 2, x.pos, &y);
                    ck_assert_int_eq(x.dataset, y.dataset);
                    ck_assert_uint_eq(x.index, y.index);
                }
                must_sampler_free(s);
            }
            ck_assert_uint_eq(total, N); /* cover */
            for (size_t i = 0; i < N; i++)
                ck_assert_int_ge(owner[i], 0);
            ck_assert_uint_le(maxlen - minlen, 1);
            free(owner);
        }
        must_sampler_free(all);
    }
}
END_TEST

START_TEST(unshuffled_and_bad_options)
{
    const size_t sizes[2] = {3, 2};
    must_sampler_opts o = {.mode = MUST_SAMPLE_UNION, .shuffle = 0, .world = 1};
    must_sampler *s;
    must_err e = {0};
    ck_assert_int_eq(must_sampler_new(sizes, 2, &o, &s, &e), MUST_OK);
    static const int wd[5] = {0, 0, 0, 1, 1}, wi[5] = {0, 1, 2, 0, 1};
    for (int i = 0; i < 5; i++) {
        must_sample x;
        must_sampler_get(s, 9, (size_t)i, &x);
        ck_assert_int_eq(x.dataset, wd[i]);
        ck_assert_uint_eq(x.index, (size_t)wi[i]);
    }
    must_sampler_free(s);
    o.rank = 2;
    o.world = 2;
    ck_assert_int_eq(must_sampler_new(sizes, 2, &o, &s, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "rank 2"));
    o.rank = 0;
    const size_t empty[2] = {3, 0};
    ck_assert_int_eq(must_sampler_new(empty, 2, &o, &s, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "dataset 1 is empty"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("sampler");
    tcase_add_test(tc, permutation_is_a_bijection);
    tcase_add_test(tc, union_mode_proportions);
    tcase_add_test(tc, balanced_mode_proportions);
    tcase_add_test(tc, deterministic_by_seed);
    tcase_add_test(tc, shards_are_disjoint_and_cover);
    tcase_add_test(tc, unshuffled_and_bad_options);
    suite_add_tcase(s, tc);
    return test_run(s);
}
