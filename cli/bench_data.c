/* bench_data.c - `must bench data`: decode + augment + collate throughput of the loader;
 * with --jpeg, JPEG decode + augmentation of a photo, at full size and at a reduced DCT scale. */
#include "config.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "must/image.h"
#include "must/io.h"
#include "must/loader.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: must bench data [--size S] [--workers N] [--batch B] [--batches K]\n"
            "                       [--dataset DIR] [--images N]\n\n"
            "Times the loader (PNG decode, joint augmentation, collation) on a synthetic\n"
            "set with all five label kinds, written under $TMPDIR (or /tmp) and removed\n"
            "afterwards, or on DIR.  Synthetic images are 5/4 of S so that every batch\n"
            "resamples.  Without --size: 64 and 128; without --workers: 1 and 2.  Prints\n"
            "one JSON line per setting:\n"
            "  {\"bench\":\"data\",\"size\":S,\"workers\":N,\"batch\":B,\"img_s\":..,"
            "\"img_s_per_worker\":..,\"cpu_s\":..,\"img_per_cpu_s\":..}\n"
            "img_per_cpu_s (images per CPU second of all threads) is the figure to compare\n"
            "on a busy machine, where wall-clock rates depend on the other load.\n\n"
            "       must bench data --jpeg [--photo FILE] [--size S] [--workers N] [--batch B]\n"
            "                              [--batches K] [--images N]\n\n"
            "Times JPEG decode + augmentation (no labels) of a 640x480 photo through the\n"
            "loader: a synthetic one (gradients, soft shapes, texture and sensor noise, at\n"
            "quality 90; N variants, default 32), or FILE (any JPEG).  For each S (64 and 128\n"
            "without --size) it runs the reduced-scale decode (the loader's default: the\n"
            "smallest DCT scale n/8 that still has a pixel per sample of the resize), then\n"
            "the full decode; one worker unless --workers.  One JSON line each:\n"
            "  {\"bench\":\"data-jpeg\",\"size\":S,\"decode\":\"reduced\"|\"full\",...}\n");
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* A scene of a few boxes on a gradient, with labels that agree with it. */
static int synth_example(must_rng *r, int w, int h, must_image *img, must_labels *l,
                         must_err *err)
{
    int rc = must_image_alloc(img, w, h, 3, 8, err);
    if (rc)
        return rc;
    must_labels_init(l);
    l->has = MUST_LABEL_ALL;
    if ((rc = must_map_alloc(&l->seg, 1, h, w, err)) ||
        (rc = must_map_alloc(&l->depth, 1, h, w, err)) ||
        (rc = must_map_alloc(&l->normal, 3, h, w, err)))
        return rc;
    size_t n = (size_t)w * h;
    uint8_t *p = img->pixels;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            p[3 * i] = (uint8_t)(x * 255 / w);
            p[3 * i + 1] = (uint8_t)(y * 255 / h);
            p[3 * i + 2] = 96;
            l->depth.data[i] = 8.0f - 4.0f * (float)y / (float)h;
            l->normal.data[n + i] = -0.6f; /* the floor faces up */
            l->normal.data[2 * n + i] = -0.8f;
        }
    int nobj = 1 + (int)must_rng_below(r, 4);
    l->cls = -1;
    for (int o = 0; o < nobj; o++) {
        int cls = (int)must_rng_below(r, 3);
        int bw = w / 6 + (int)must_rng_below(r, (uint32_t)(w / 3)),
            bh = h / 6 + (int)must_rng_below(r, (uint32_t)(h / 3));
        int x0 = (int)must_rng_below(r, (uint32_t)(w - bw)), y0 = (int)must_rng_below(r, (uint32_t)(h - bh));
        float z = 2.0f + 4.0f * must_rng_uniform(r);
        for (int y = y0; y < y0 + bh; y++)
            for (int x = x0; x < x0 + bw; x++) {
                size_t i = (size_t)y * w + x;
                p[3 * i] = (uint8_t)(cls == 0 ? 220 : 40);
                p[3 * i + 1] = (uint8_t)(cls == 1 ? 220 : 40);
                p[3 * i + 2] = (uint8_t)(cls == 2 ? 220 : 40);
                l->seg.data[i] = (float)(1 + cls);
                l->depth.data[i] = z;
                l->normal.data[i] = 0.0f;
                l->normal.data[n + i] = 0.0f;
                l->normal.data[2 * n + i] = -1.0f;
            }
        must_box b = {(float)x0, (float)y0, (float)(x0 + bw), (float)(y0 + bh), cls, 1.0f, 0};
        if ((rc = must_boxes_push(&l->boxes, &b, err)))
            return rc;
        if (l->cls < 0)
            l->cls = cls;
    }
    return MUST_OK;
}

/* A stand-in for a photo: a sky-to-ground gradient, a few soft discs, a
 * fine texture and sensor noise, so that its JPEG holds about what a
 * photo's does (about 85 KB at 640x480, quality 90; every 8x8 block has
 * detail for the entropy decoder). */
static int synth_photo(must_rng *r, int w, int h, must_image *img, must_err *err)
{
    int rc = must_image_alloc(img, w, h, 3, 8, err);
    if (rc)
        return rc;
    float disc[6][6];
    for (int d = 0; d < 6; d++) {
        disc[d][0] = must_rng_uniform(r) * (float)w;
        disc[d][1] = must_rng_uniform(r) * (float)h;
        disc[d][2] = (0.05f + 0.2f * must_rng_uniform(r)) * (float)h;
        for (int c = 0; c < 3; c++)
            disc[d][3 + c] = 255.0f * must_rng_uniform(r);
    }
    uint8_t *p = img->pixels;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float t = (float)y / (float)h, v[3] = {90 + 120 * t, 140 + 40 * t, 230 - 150 * t};
            for (int d = 0; d < 6; d++) {
                float dx = (float)x - disc[d][0], dy = (float)y - disc[d][1];
                float a = 1.0f / (1.0f + expf((sqrtf(dx * dx + dy * dy) - disc[d][2]) / 3.0f));
                for (int c = 0; c < 3; c++)
                    v[c] += a * (disc[d][3 + c] - v[c]);
            }
            float tex = 12.0f * sinf(0.9f * (float)x + 0.3f * (float)y) * sinf(0.7f * (float)y);
            for (int c = 0; c < 3; c++) {
                float q = v[c] + tex + 6.0f * must_rng_normal(r);
                p[3 * ((size_t)y * w + x) + c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    return MUST_OK;
}

/* An unlabelled set of `count` photos in dir/set: the synthetic ones
 * (dir/src/photo-NN.jpg), or copies of the JPEG `photo`. */
static int make_photo_set(const char *dir, const char *photo, int count, char *set, size_t len,
                          must_err *err)
{
    must_dataset_spec spec = {.name = "bench-photos", .tasks = 0};
    char src[4200];
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(set, len, "%s/set", dir);
    int rc = must_mkdir_p(src, err);
    must_dataset_writer *w = NULL;
    if (!rc)
        rc = must_dataset_writer_new(set, &spec, &w, err);
    must_rng r;
    must_rng_seed(&r, 640480);
    for (int i = 0; i < count && rc == MUST_OK; i++) {
        char path[4300], id[32];
        snprintf(path, sizeof path, "%s/photo-%02d.jpg", src, i);
        snprintf(id, sizeof id, "photo-%02d", i);
        if (!photo) {
            must_image img = {0};
            rc = synth_photo(&r, 640, 480, &img, err);
            if (rc == MUST_OK)
                rc = must_jpeg_write(path, &img, 90, err);
            must_image_free(&img);
        }
        if (rc == MUST_OK)
            rc = must_dataset_writer_add_file(w, id, MUST_SPLIT_TRAIN, photo ? photo : path, NULL,
                                              err);
    }
    if (rc) {
        must_dataset_writer_abort(w);
        return rc;
    }
    return must_dataset_writer_commit(w, err);
}

static int make_synthetic(const char *dir, int size, int count, must_err *err)
{
    static const char *const objs[3] = {"sphere", "cube", "cylinder"};
    static const char *const segc[4] = {"background", "sphere", "cube", "cylinder"};
    must_dataset_spec spec = {.name = "bench-synthetic", .tasks = MUST_LABEL_ALL,
                              .depth_scale = 0.001f};
    for (int k = 0; k < MUST_LABEL_NKINDS; k++) {
        spec.task[k].nclasses = k == MUST_LABEL_SEGMENTATION ? 4 : 3;
        spec.task[k].classes = k == MUST_LABEL_SEGMENTATION ? segc : objs;
    }
    must_dataset_writer *w;
    int rc = must_dataset_writer_new(dir, &spec, &w, err);
    if (rc)
        return rc;
    must_rng r;
    must_rng_seed(&r, 1234);
    int side = size * 5 / 4;
    for (int i = 0; i < count && rc == MUST_OK; i++) {
        must_image img = {0};
        must_labels l;
        char id[32];
        snprintf(id, sizeof id, "s%05d", i);
        rc = synth_example(&r, side, side, &img, &l, err);
        if (rc == MUST_OK)
            rc = must_dataset_writer_add(w, id, MUST_SPLIT_TRAIN, &img, &l, err);
        must_image_free(&img);
        must_labels_free(&l);
    }
    if (rc) {
        must_dataset_writer_abort(w);
        return rc;
    }
    return must_dataset_writer_commit(w, err);
}

/* tag: the JSON line's first fields; full: the loader's full_decode. */
static int run_one(must_dataset *ds, int size, int workers, int batch, int batches,
                   const char *tag, int full)
{
    must_loader_opts o;
    must_loader_defaults(&o);
    o.full_decode = full;
    o.size = size;
    o.batch = batch;
    o.workers = workers;
    o.split = -1;
    o.epochs = 0;
    o.drop_last = 0;
    must_loader *L;
    must_err e = {0};
    if (must_loader_new(&ds, 1, &o, &L, &e)) {
        fprintf(stderr, "must bench data: %s\n", e.msg);
        return 1;
    }
    const must_batch *b;
    int rc = 0;
    long images = 0;
    /* Timed from the empty queue: a warm-up would let the workers fill the
     * queue before the clock starts and flatter the many-worker figures. */
    double t0 = must_bench_now(), c0 = must_bench_cpu_now();
    for (int i = 0; i < batches && rc == 0; i++) {
        rc = must_loader_next(L, &b, &e) == 1 ? 0 : 1;
        if (rc == 0)
            images += b->n;
    }
    double t = must_bench_now() - t0;
    must_loader_free(L); /* joins the workers: their CPU time is all counted */
    double cpu = must_bench_cpu_now() - c0;
    if (rc) {
        fprintf(stderr, "must bench data: %s\n", e.msg);
        return 1;
    }
    double ips = t > 0 ? (double)images / t : 0.0;
    printf("{%s,\"size\":%d,\"workers\":%d,\"batch\":%d,\"images\":%ld,"
           "\"seconds\":%.3f,\"img_s\":%.1f,\"img_s_per_worker\":%.1f,\"cpu_s\":%.3f,"
           "\"img_per_cpu_s\":%.1f}\n",
           tag, size, workers, batch, images, t, ips, ips / (workers ? workers : 1), cpu,
           cpu > 0 ? (double)images / cpu : 0.0);
    fflush(stdout);
    return 0;
}

/* --jpeg: the photo set in a temporary folder, then per size the loader
 * with the reduced-scale decode and with the full one. */
static int bench_jpeg(const char *photo, const int *sizes, int nsizes, int workers, int batch,
                      int batches, int count)
{
    char tmp[4096], set[4200];
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/must-bench-jpeg-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "must bench data: cannot create %s\n", tmp);
        return 1;
    }
    must_dataset *ds = NULL;
    must_err e = {0};
    int status = 0;
    if (make_photo_set(tmp, photo, count, set, sizeof set, &e) ||
        must_dataset_open(set, &ds, &e)) {
        fprintf(stderr, "must bench data: %s\n", e.msg);
        status = 1;
    }
    int w = 0, h = 0;
    char *first = status ? NULL : must_dataset_image_path(ds, 0);
    if (first && must_image_info(first, NULL, &w, &h, NULL, NULL, &e) != MUST_OK)
        w = h = 0;
    free(first);
    for (int s = 0; s < nsizes && status == 0; s++)
        for (int full = 0; full < 2 && status == 0; full++) {
            char tag[128];
            snprintf(tag, sizeof tag, "\"bench\":\"data-jpeg\",\"photo\":\"%dx%d\","
                     "\"decode\":\"%s\"", w, h, full ? "full" : "reduced");
            status = run_one(ds, sizes[s], workers, batch, batches, tag, full);
        }
    must_dataset_close(ds);
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}

int must_bench_data(int argc, char **argv)
{
    int sizes[2] = {64, 128}, nsizes = 2, workers[2] = {1, 2}, nworkers = 2;
    int batch = 32, batches = 30, count = 0, jpeg = 0;
    const char *dataset = NULL, *photo = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (must_cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--size") == 0) {
            if ((sizes[0] = must_cli_int("bench data", a, v, 16, 1024)) < 0)
                return 2;
            nsizes = 1;
            i++;
        } else if (strcmp(a, "--workers") == 0) {
            if ((workers[0] = must_cli_int("bench data", a, v, 1, 256)) < 0)
                return 2;
            nworkers = 1;
            i++;
        } else if (strcmp(a, "--batch") == 0) {
            if ((batch = must_cli_int("bench data", a, v, 1, 4096)) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--batches") == 0) {
            if ((batches = must_cli_int("bench data", a, v, 1, 1 << 20)) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--images") == 0) {
            if ((count = must_cli_int("bench data", a, v, 1, 1 << 20)) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--dataset") == 0) {
            if (!v)
                return must_cli_usage_error("bench data", "--dataset needs a directory");
            dataset = v;
            i++;
        } else if (strcmp(a, "--jpeg") == 0) {
            jpeg = 1;
        } else if (strcmp(a, "--photo") == 0) {
            if (!v)
                return must_cli_usage_error("bench data", "--photo needs a JPEG file");
            photo = v;
            i++;
        } else {
            return must_cli_usage_error("bench data", "unknown option '%s'", a);
        }
    }
    if (photo && !jpeg)
        return must_cli_usage_error("bench data", "--photo goes with --jpeg");
    if (jpeg && dataset)
        return must_cli_usage_error("bench data", "--jpeg makes its own set; no --dataset");
    if (jpeg)
        return bench_jpeg(photo, sizes, nsizes, nworkers == 1 ? workers[0] : 1, batch, batches,
                          count ? count : 32);
    if (!count)
        count = 128;
    int status = 0;
    for (int s = 0; s < nsizes && status == 0; s++) {
        char tmp[4096] = "";
        must_dataset *ds = NULL;
        must_err e = {0};
        if (!dataset) {
            const char *t = getenv("TMPDIR");
            snprintf(tmp, sizeof tmp, "%s/must-bench-data-XXXXXX", t && *t ? t : "/tmp");
            if (!mkdtemp(tmp)) {
                fprintf(stderr, "must bench data: cannot create %s\n", tmp);
                return 1;
            }
            if (make_synthetic(tmp, sizes[s], count, &e)) {
                fprintf(stderr, "must bench data: %s\n", e.msg);
                nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
                return 1;
            }
        }
        if (must_dataset_open(dataset ? dataset : tmp, &ds, &e)) {
            fprintf(stderr, "must bench data: %s\n", e.msg);
            status = 1;
        }
        for (int k = 0; k < nworkers && status == 0; k++)
            status = run_one(ds, sizes[s], workers[k], batch, batches, "\"bench\":\"data\"", 0);
        must_dataset_close(ds);
        if (!dataset)
            nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    return status;
}
