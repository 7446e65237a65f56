/* test_loader.c - batches: identical whatever the worker count, missing tasks
 * masked, epochs covered, errors surfaced. */
#include "config.h"

#include <math.h>
#include <unistd.h>

#include "must/loader.h"
#include "testutil.h"
#include "datautil.h"

#define CLS_DEPTH (MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION) | MUST_LABEL_BIT(MUST_LABEL_DEPTH))

static must_dataset *sets[2];

static void setup(void)
{
    must_err e = {0};
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s", du_dir("ld_full"));
    ck_assert_msg(du_make_set(a, "full", 23, 20, 14, MUST_LABEL_ALL, &e) == MUST_OK, "%s", e.msg);
    snprintf(b, sizeof b, "%s", du_dir("ld_part"));
    ck_assert_msg(du_make_set(b, "part", 9, 12, 18, CLS_DEPTH, &e) == MUST_OK, "%s", e.msg);
    ck_assert_msg(must_dataset_open(a, &sets[0], &e) == MUST_OK, "%s", e.msg);
    ck_assert_msg(must_dataset_open(b, &sets[1], &e) == MUST_OK, "%s", e.msg);
}

static void teardown(void)
{
    must_dataset_close(sets[0]);
    must_dataset_close(sets[1]);
}

static must_loader_opts opts(int workers)
{
    must_loader_opts o;
    must_loader_defaults(&o);
    o.size = 16;
    o.batch = 5;
    o.workers = workers;
    o.split = -1;
    o.sampler.seed = 11;
    o.epochs = 2;
    o.drop_last = 0;
    return o;
}

/* Everything a batch holds, flattened, so that batches compare byte for byte. */
static size_t batch_bytes(const must_batch *b, char **out)
{
    const int B = 5, S = b->size;
    const size_t px = (size_t)S * S;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
#define PUT(ptr, len)                        \
    do {                                     \
        memcpy(buf + n, (ptr), (len));       \
        n += (len);                          \
    } while (0)
    PUT(&b->n, sizeof b->n);
    PUT(&b->epoch, sizeof b->epoch);
    PUT(&b->index, sizeof b->index);
    PUT(b->images, (size_t)B * 3 * px * sizeof(float));
    PUT(b->has, (size_t)B * sizeof *b->has);
    PUT(b->dataset, (size_t)B * sizeof *b->dataset);
    PUT(b->example, (size_t)B * sizeof *b->example);
    PUT(b->tf, (size_t)B * sizeof *b->tf);
    PUT(b->cls, (size_t)B * sizeof *b->cls);
    PUT(b->cls_soft, (size_t)B * b->ncls * sizeof *b->cls_soft);
    for (int k = 0; k < B; k++) {
        PUT(&b->boxes[k].n, sizeof(int));
        if (b->boxes[k].n)
            PUT(b->boxes[k].v, (size_t)b->boxes[k].n * sizeof(must_box));
    }
    PUT(b->seg, (size_t)B * px * sizeof *b->seg);
    PUT(b->depth, (size_t)B * px * sizeof *b->depth);
    PUT(b->normal, (size_t)B * 3 * px * sizeof *b->normal);
    PUT(b->normal_valid, (size_t)B * px);
#undef PUT
    ck_assert_uint_le(n, cap);
    *out = buf;
    return n;
}

START_TEST(same_batches_with_0_1_2_workers)
{
    char *ref[32] = {0};
    size_t reflen[32] = {0};
    int nref = 0;
    const int cfg[4][2] = {{0, 0}, {1, 0}, {2, 0}, {2, 2}}; /* workers, queue */
    for (int c = 0; c < 4; c++) {
        must_loader_opts o = opts(cfg[c][0]);
        o.queue = cfg[c][1];
        must_loader *L;
        must_err e = {0};
        ck_assert_msg(must_loader_new(sets, 2, &o, &L, &e) == MUST_OK, "%s", e.msg);
        ck_assert_uint_eq(must_loader_batches_per_epoch(L), 7); /* 32 examples, 5 a batch */
        ck_assert_uint_eq(must_loader_tasks(L), MUST_LABEL_ALL);
        const must_batch *b;
        int i = 0, rc;
        while ((rc = must_loader_next(L, &b, &e)) == 1) {
            char *bytes;
            size_t len = batch_bytes(b, &bytes);
            ck_assert_int_lt(i, 32);
            ck_assert_uint_eq(b->epoch, (uint64_t)(i / 7));
            ck_assert_uint_eq(b->index, (uint64_t)(i % 7));
            ck_assert_int_eq(b->n, i % 7 == 6 ? 2 : 5);
            if (c == 0) {
                ref[i] = bytes;
                reflen[i] = len;
                nref++;
            } else {
                ck_assert_uint_eq(len, reflen[i]);
                ck_assert_msg(memcmp(bytes, ref[i], len) == 0,
                              "batch %d differs with %d workers", i, cfg[c][0]);
                free(bytes);
            }
            i++;
        }
        ck_assert_msg(rc == 0, "%s", e.msg);
        ck_assert_int_eq(i, 14);
        ck_assert_int_eq(must_loader_next(L, &b, &e), 0); /* stays at the end */
        must_loader_free(L);
    }
    /* The two epochs differ (reshuffled, re-augmented). */
    ck_assert_int_ne(memcmp(ref[0], ref[7], reflen[0]), 0);
    for (int i = 0; i < nref; i++)
        free(ref[i]);
}
END_TEST

/* views = 2 (SimCLR's two views): a batch of 6 is 3 images, rows k and
 * k + n the same image and set, augmented apart; the epoch counts batches
 * of 3 images; the views' order of images is the one-view loader's. */
START_TEST(two_views_pair_rows_k_and_k_plus_n)
{
    must_loader_opts o = opts(1), one = opts(1);
    o.batch = 6;
    o.views = 2;
    one.batch = 3;
    must_loader *L, *L1;
    must_err e = {0};
    ck_assert_msg(must_loader_new(sets, 2, &o, &L, &e) == MUST_OK, "%s", e.msg);
    ck_assert_msg(must_loader_new(sets, 2, &one, &L1, &e) == MUST_OK, "%s", e.msg);
    ck_assert_uint_eq(must_loader_batches_per_epoch(L), 11); /* 32 images, 3 a batch */
    const must_batch *b, *b1;
    int batches = 0, apart = 0, rc;
    const size_t px3 = 3 * 16 * 16;
    while ((rc = must_loader_next(L, &b, &e)) == 1) {
        ck_assert_int_eq(must_loader_next(L1, &b1, &e), 1);
        int n = b1->n;
        ck_assert_int_eq(b->n, 2 * n);
        for (int k = 0; k < n; k++) {
            ck_assert_int_eq(b->example[k], b1->example[k]);
            ck_assert_int_eq(b->example[n + k], b->example[k]);
            ck_assert_int_eq(b->dataset[n + k], b->dataset[k]);
            /* The first view is the one-view loader's example. */
            ck_assert(memcmp(b->images + k * px3, b1->images + k * px3, px3 * sizeof(float)) ==
                      0);
            apart += memcmp(b->images + k * px3, b->images + (n + k) * px3,
                            px3 * sizeof(float)) != 0;
        }
        batches++;
    }
    ck_assert_msg(rc == 0, "%s", e.msg);
    ck_assert_int_eq(batches, 22);
    ck_assert_int_gt(apart, 0);
    must_loader_free(L);
    must_loader_free(L1);
    o.batch = 5; /* odd: no whole pairs */
    ck_assert_int_eq(must_loader_new(sets, 2, &o, &L, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "2 views of batch 5"));
}
END_TEST

START_TEST(epoch_covers_every_example_with_masks)
{
    must_loader_opts o = opts(2);
    o.epochs = 1;
    must_loader *L;
    must_err e = {0};
    ck_assert_msg(must_loader_new(sets, 2, &o, &L, &e) == MUST_OK, "%s", e.msg);
    int seen[2][23] = {{0}};
    const must_batch *b;
    const size_t px = 16 * 16;
    int soft_rows = 0;
    while (must_loader_next(L, &b, &e) == 1) {
        for (int k = 0; k < b->n; k++) {
            int d = b->dataset[k], x = b->example[k];
            ck_assert_int_ge(d, 0);
            seen[d][x]++;
            unsigned want = d == 0 ? MUST_LABEL_ALL : CLS_DEPTH;
            ck_assert_uint_eq(b->has[k], want);
            /* classification: hard rows one-hot, soft rows a distribution */
            const float *row = b->cls_soft + (size_t)k * 3;
            ck_assert_float_near(row[0] + row[1] + row[2], 1.0, 1e-6);
            if (b->cls[k] >= 0)
                ck_assert_float_eq(row[b->cls[k]], 1.0f);
            else
                soft_rows++;
            if (d == 1) { /* no detection, segmentation, normals: all masked */
                ck_assert_int_eq(b->boxes[k].n, 0);
                for (size_t p = 0; p < px; p++) {
                    ck_assert_int_eq(b->seg[k * px + p], 255);
                    ck_assert_int_eq(b->normal_valid[k * px + p], 0);
                }
            } else {
                /* every box inside the S x S window */
                for (int j = 0; j < b->boxes[k].n; j++) {
                    const must_box *x0 = &b->boxes[k].v[j];
                    ck_assert(x0->x0 >= 0 && x0->x1 <= 16 && x0->x0 < x0->x1);
                    ck_assert(x0->y0 >= 0 && x0->y1 <= 16 && x0->y0 < x0->y1);
                }
                int valid = 0;
                for (size_t p = 0; p < px; p++) {
                    int32_t v = b->seg[k * px + p];
                    ck_assert(v == 255 || (v >= 0 && v < 3));
                    if (b->normal_valid[k * px + p]) {
                        valid++;
                        double len = 0;
                        for (int c = 0; c < 3; c++) {
                            float n = b->normal[(k * 3 + c) * px + p];
                            len += (double)n * n;
                        }
                        ck_assert_float_near(sqrt(len), 1.0, 1e-3);
                    }
                }
                ck_assert_int_gt(valid, 0);
            }
            /* depth: metres from the codec (1 + x / 8) or 0 */
            for (size_t p = 0; p < px; p++) {
                float z = b->depth[k * px + p];
                ck_assert(z == 0.0f || (z >= 1.0f && z < 4.0f));
            }
        }
        /* rows past n (the last, partial batch) are ignore-filled */
        for (int k = b->n; k < 5; k++) {
            ck_assert_uint_eq(b->has[k], 0);
            ck_assert_int_eq(b->dataset[k], -1);
        }
    }
    for (int i = 0; i < 23; i++)
        ck_assert_int_eq(seen[0][i], 1);
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(seen[1][i], 1);
    ck_assert_int_eq(soft_rows, 4 + 1); /* ids 4, 9, 14, 19 of the first set; 4 of the second */
    must_loader_free(L);
}
END_TEST

START_TEST(errors_name_the_file)
{
    char *p = must_path_join(must_dataset_dir(sets[1]), "labels/depth/img005.png");
    ck_assert_int_eq(remove(p), 0);
    free(p);
    must_loader_opts o = opts(2);
    o.epochs = 1;
    must_loader *L;
    must_err e = {0};
    ck_assert_int_eq(must_loader_new(sets, 2, &o, &L, &e), MUST_OK);
    const must_batch *b;
    int rc;
    while ((rc = must_loader_next(L, &b, &e)) == 1)
        ;
    ck_assert_int_lt(rc, 0);
    ck_assert_msg(strstr(e.msg, "dataset \"part\""), "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "labels/depth/img005.png"), "%s", e.msg);
    ck_assert_int_eq(must_loader_next(L, &b, &e), rc); /* and stays failed */
    must_loader_free(L);
}
END_TEST

START_TEST(bad_configurations)
{
    must_loader_opts o = opts(1);
    must_loader *L;
    must_err e = {0};
    o.batch = 40;
    o.drop_last = 1;
    ck_assert_int_eq(must_loader_new(sets, 2, &o, &L, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "no whole batch of 40"));
    o = opts(1);
    o.size = 2;
    ck_assert_int_eq(must_loader_new(sets, 2, &o, &L, &e), MUST_EINVAL);
    /* Sets that disagree about class names cannot share a head. */
    const char *dir = du_dir("ld_other_classes");
    must_dataset_spec spec = {.name = "other", .tasks = MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)};
    static const char *const cls[3] = {"sphere", "cube", "cone"};
    spec.task[0].nclasses = 3;
    spec.task[0].classes = cls;
    must_dataset_writer *w;
    ck_assert_int_eq(must_dataset_writer_new(dir, &spec, &w, &e), MUST_OK);
    must_image img = {0};
    must_labels l;
    ck_assert_int_eq(du_example(0, 8, 8, spec.tasks, &img, &l, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_writer_add(w, "x", MUST_SPLIT_TRAIN, &img, &l, &e), MUST_OK);
    ck_assert_int_eq(must_dataset_writer_commit(w, &e), MUST_OK);
    must_image_free(&img);
    must_labels_free(&l);
    must_dataset *both[2] = {sets[0], NULL};
    ck_assert_int_eq(must_dataset_open(dir, &both[1], &e), MUST_OK);
    o = opts(1);
    ck_assert_int_eq(must_loader_new(both, 2, &o, &L, &e), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "\"full\" and \"other\" name different classification"));
    /* Limiting the tasks to depth needs no agreement. */
    o.tasks = MUST_LABEL_BIT(MUST_LABEL_DEPTH);
    ck_assert_int_eq(must_loader_new(both, 2, &o, &L, &e), MUST_OK);
    const must_batch *b;
    ck_assert_int_eq(must_loader_next(L, &b, &e), 1);
    ck_assert_ptr_null(b->cls);
    ck_assert_ptr_nonnull(b->depth);
    must_loader_free(L);
    must_dataset_close(both[1]);
}
END_TEST

START_TEST(free_while_workers_run_ahead)
{
    must_loader_opts o = opts(2);
    o.epochs = 0; /* endless */
    must_loader *L;
    must_err e = {0};
    ck_assert_int_eq(must_loader_new(sets, 2, &o, &L, &e), MUST_OK);
    const must_batch *b;
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(must_loader_next(L, &b, &e), 1);
    ck_assert_uint_eq(b->epoch, 2);
    must_loader_free(L);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, same_batches_with_0_1_2_workers);
    tcase_add_test(tc, epoch_covers_every_example_with_masks);
    tcase_add_test(tc, two_views_pair_rows_k_and_k_plus_n);
    tcase_add_test(tc, errors_name_the_file);
    tcase_add_test(tc, bad_configurations);
    tcase_add_test(tc, free_while_workers_run_ahead);
    suite_add_tcase(s, tc);
    return test_run(s);
}
