/* generate.c - writing a domain's images and labels as a dataset.
 *
 * Layout: docs/dataset-format.md, plus DIR/.world/params, the domain, seed
 * and size the directory was made with.  Images are rendered in parallel,
 * each from (domain, seed, index) alone.  Each file is written atomically,
 * the image after its label maps, so an image whose files all exist is
 * finished and a rerun skips it.  The text labels (classes and boxes) are
 * not kept per image: at the end a labels-only render, several times
 * cheaper than the first, gives them again, and they, the split lists and
 * finally dataset.ini are written.  A run cut off anywhere leaves no
 * dataset.ini (a rerun removes a stale one before it renders).  Under
 * mpirun the images are rendered in shares, one per rank (see
 * must_world_generate). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "must/image.h"
#include "base/dist-impl.h"
#include "base/io-impl.h"
#include "must/io.h"
#include "world-impl.h"

#define MAX_COUNT 1000000 /* ids are six digits */
#define PATH_LEN 4096
#define DEPTH_SCALE 0.001f

static const char *const task_dir[5] = {NULL, NULL, "segmentation", "depth", "normal"};

/* A growing string for the text files. */
typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) MUST_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? 2 * b->cap : 4096;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static int sb_write(sbuf *b, const char *path, must_err *err)
{
    if (b->oom)
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
    return must_file_write_atomic(path, b->s ? b->s : "", b->n, err);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void image_id(char *id, int index) { snprintf(id, 16, "%06d", index); }

/* ------------------------------------------------------------------------ */
/* One image. */

typedef struct gen {
    const must_world_domain *d;
    const char *dir;
    const must_world_gen_opts *o;
    unsigned tasks;        /* labels beside the images */
    unsigned truth_tasks;  /* labels under truth/ (0 when none) */
} gen;

static void label_path(char *buf, const char *dir, int truth, int task, const char *id)
{
    snprintf(buf, PATH_LEN, "%s%s/labels/%s/%s.png", dir, truth ? "/truth" : "", task_dir[task],
             id);
}

static int finished(const gen *g, int index)
{
    char id[16], p[PATH_LEN];
    image_id(id, index);
    snprintf(p, sizeof p, "%s/images/%s.png", g->dir, id);
    if (!must_png_complete(p))
        return 0;
    for (int t = 2; t < 5; t++) {
        if (g->tasks & (1u << t)) {
            label_path(p, g->dir, 0, t, id);
            if (!must_png_complete(p))
                return 0;
        }
        if (g->truth_tasks & (1u << t)) {
            label_path(p, g->dir, 1, t, id);
            if (!must_png_complete(p))
                return 0;
        }
    }
    return 1;
}

/* Per-thread buffers. */
typedef struct work {
    must_world_frame f;
    uint8_t *seg;
    uint16_t *depth, *normal;
} work;

static void seg_map(const gen *g, const must_world_frame *f, int voids, uint8_t *out)
{
    int S = f->size;
    for (int q = 0; q < S * S; q++)
        out[q] = (uint8_t)must_world_domain_seg_class(g->d, f->semantic[q]);
    if (!voids)
        return;
    /* Pascal's void band: pixels within `voids` of another surface where
     * either side is an object */
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            int a = f->instance[i * S + j], v = 0;
            for (int y = i - voids; y <= i + voids && !v; y++)
                for (int x = j - voids; x <= j + voids && !v; x++) {
                    if (y < 0 || y >= S || x < 0 || x >= S)
                        continue;
                    int b = f->instance[y * S + x];
                    v = a != b;
                }
            if (v)
                out[i * S + j] = 255;
        }
}

static void depth_map(const must_world_frame *f, uint16_t *out)
{
    for (int q = 0; q < f->size * f->size; q++) {
        float z = f->depth[q];
        if (z <= 0.0f) {
            out[q] = 0;
            continue;
        }
        float u = z / DEPTH_SCALE + 0.5f;
        out[q] = u >= 65535.0f ? 65535 : (u < 1.0f ? 1 : (uint16_t)u);
    }
}

static void normal_map(const must_world_frame *f, uint16_t *out)
{
    for (int q = 0; q < f->size * f->size; q++) {
        const float *n = &f->normal[3 * q];
        if (n[0] == 0.0f && n[1] == 0.0f && n[2] == 0.0f) {
            out[3 * q] = out[3 * q + 1] = out[3 * q + 2] = 0;
            continue;
        }
        for (int c = 0; c < 3; c++) {
            float v = (n[c] + 1.0f) * 0.5f * 65534.0f + 0.5f;
            v = v < 0.0f ? 0.0f : (v > 65534.0f ? 65534.0f : v);
            out[3 * q + c] = (uint16_t)((int)v + 1);
        }
    }
}

static int write_png(const char *path, int S, int ch, int depth, void *px, must_err *err)
{
    must_image im = {S, S, ch, depth, px};
    return must_png_write_nosync(path, &im, err);
}

static int write_labels(const gen *g, work *w, const char *id, int truth, unsigned tasks,
                        must_err *err)
{
    char p[PATH_LEN];
    int S = w->f.size, rc = 0;
    if (tasks & MUST_WORLD_SEGMENTATION) {
        seg_map(g, &w->f, truth ? 0 : must_world_domain_void_edges(g->d), w->seg);
        label_path(p, g->dir, truth, 2, id);
        rc = write_png(p, S, 1, 8, w->seg, err);
    }
    if (!rc && (tasks & MUST_WORLD_DEPTH)) {
        label_path(p, g->dir, truth, 3, id);
        rc = write_png(p, S, 1, 16, w->depth, err);
    }
    if (!rc && (tasks & MUST_WORLD_NORMAL)) {
        label_path(p, g->dir, truth, 4, id);
        rc = write_png(p, S, 3, 16, w->normal, err);
    }
    return rc;
}

static int make_image(const gen *g, work *w, int index, must_err *err)
{
    char id[16], p[PATH_LEN];
    image_id(id, index);
    int rc = must_world_render_index(g->d, g->o->seed, (uint64_t)index, &w->f, NULL, err);
    if (rc)
        return rc;
    const must_world_frame *f = &w->f;
    depth_map(f, w->depth);
    normal_map(f, w->normal);
    rc = write_labels(g, w, id, 0, g->tasks, err);
    if (!rc && g->truth_tasks)
        rc = write_labels(g, w, id, 1, g->truth_tasks, err);
    if (rc)
        return rc;
    snprintf(p, sizeof p, "%s/images/%s.png", g->dir, id);
    return write_png(p, f->size, 3, 8, f->rgb, err);
}

/* ------------------------------------------------------------------------ */
/* Directories, the params record, the final files. */

static int mkdirs(const gen *g, must_err *err)
{
    static const char *const base[] = {"", "/images", "/splits", "/.world"};
    char p[PATH_LEN];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", g->dir, base[i]);
        int rc = must_mkdir_p(p, err);
        if (rc)
            return rc;
    }
    for (int truth = 0; truth < 2; truth++) {
        unsigned t = truth ? g->truth_tasks : g->tasks;
        if (truth && !t)
            break;
        if (truth) {
            snprintf(p, sizeof p, "%s/truth/splits", g->dir);
            int rc = must_mkdir_p(p, err);
            if (rc)
                return rc;
            /* the truth set shares the images: a relative link keeps the
             * set movable */
            snprintf(p, sizeof p, "%s/truth/images", g->dir);
            struct stat st;
            if (lstat(p, &st) != 0 && symlink("../images", p) != 0)
                return must_err_set(err, MUST_EIO, "%s: cannot link to ../images: %s", p,
                                    strerror(errno));
        }
        if (t) {
            snprintf(p, sizeof p, "%s%s/labels", g->dir, truth ? "/truth" : "");
            int rc = must_mkdir_p(p, err);
            for (int k = 2; !rc && k < 5; k++)
                if (t & (1u << k)) {
                    snprintf(p, sizeof p, "%s%s/labels/%s", g->dir, truth ? "/truth" : "",
                             task_dir[k]);
                    rc = must_mkdir_p(p, err);
                }
            if (rc)
                return rc;
        }
    }
    return MUST_OK;
}

/* Refuses a directory made with other parameters; records ours. */
static int check_params(const gen *g, must_err *err)
{
    char p[PATH_LEN], want[512];
    snprintf(want, sizeof want, "domain = %s\nseed = %llu\nsize = %d\n", must_world_domain_name(g->d),
             (unsigned long long)g->o->seed, g->o->size);
    snprintf(p, sizeof p, "%s/.world/params", g->dir);
    char *have = NULL;
    if (must_file_exists(p)) {
        int rc = must_file_read(p, &have, NULL, err);
        if (rc)
            return rc;
        int same = strcmp(have, want) == 0;
        free(have);
        if (!same)
            return must_err_set(err, MUST_EINVAL, "%s was generated with other parameters (see "
                                "%s); use a new directory", g->dir, p);
        return MUST_OK;
    }
    snprintf(p, sizeof p, "%s/dataset.ini", g->dir);
    if (must_file_exists(p))
        return must_err_set(err, MUST_EINVAL, "%s holds a dataset that `must world generate` did "
                            "not make; use a new directory", g->dir);
    snprintf(p, sizeof p, "%s/.world/params", g->dir);
    return must_file_write_atomic(p, want, strlen(want), err);
}

static void class_list(sbuf *b, const must_world_domain *d, unsigned task)
{
    const char *names[64];
    int n = must_world_domain_classes(d, task, names, 64);
    sb_printf(b, "classes = ");
    for (int i = 0; i < n; i++)
        sb_printf(b, "%s%s", i ? ", " : "", names[i]);
    sb_printf(b, "\n");
}

static int write_ini(const gen *g, int truth, must_err *err)
{
    unsigned tasks = truth ? g->truth_tasks : g->tasks;
    const must_world_domain *d = g->d;
    sbuf b = {0};
    sb_printf(&b, "# Written by `must world generate --domain %s --seed %llu`.\n",
              must_world_domain_name(d), (unsigned long long)g->o->seed);
    if (truth)
        sb_printf(&b, "# The hidden truth of the set one directory up: for measuring labels, "
                      "never for training.\n");
    sb_printf(&b, "[dataset]\nname = world-%s%s\ntasks = ", must_world_domain_name(d),
              truth ? "-truth" : "");
    int first = 1;
    for (int t = 0; t < 5; t++)
        if (tasks & (1u << t)) {
            sb_printf(&b, "%s%s", first ? "" : ", ", must_world_task_name(t));
            first = 0;
        }
    sb_printf(&b, "\ncount = %d\nwidth = %d\nheight = %d\n", g->o->count, g->o->size,
              g->o->size);
    for (int t = 0; t < 5; t++) {
        unsigned bit = 1u << t;
        if (!(tasks & bit))
            continue;
        sb_printf(&b, "\n[%s]\n", must_world_task_name(t));
        if (bit == MUST_WORLD_CLASSIFICATION || bit == MUST_WORLD_DETECTION ||
            bit == MUST_WORLD_SEGMENTATION)
            class_list(&b, d, bit);
        if (bit == MUST_WORLD_DEPTH)
            sb_printf(&b, "scale = %g\n", (double)DEPTH_SCALE);
        if (bit == MUST_WORLD_NORMAL)
            sb_printf(&b, "encoding = unit16\n");
        sb_printf(&b, "source = supervised\n");
    }
    char p[PATH_LEN];
    snprintf(p, sizeof p, "%s%s/dataset.ini", g->dir, truth ? "/truth" : "");
    int rc = sb_write(&b, p, err);
    free(b.s);
    return rc;
}

/* Called by the thread that failed: the first failure's message wins; the
 * others only stop the loop (threads read `failed` atomically). */
static void record_failure(int *failed, must_err *first, const must_err *e)
{
    int prev;
#pragma omp atomic capture
    prev = (*failed)++;
    if (prev == 0)
        *first = *e;
}

/* One image's text labels, as the labels-only render gives them. */
typedef struct text_labels {
    int cls;
    int n;
    int box[MUST_WORLD_MAX_OBJECTS][6]; /* x0 y0 x1 y1 class difficult */
} text_labels;

static void take_labels(const gen *g, const must_world_frame *f, text_labels *t)
{
    t->cls = must_world_domain_class_of(g->d, f->image_class);
    t->n = 0;
    float hard = must_world_domain_difficult(g->d);
    for (int k = 0; k < f->n_objects; k++) {
        const must_world_objstat *s = &f->objs[k];
        if (s->visible < f->min_pixels)
            continue;
        int *b = t->box[t->n++];
        memcpy(b, s->vbox, 4 * sizeof(int));
        b[4] = must_world_domain_class_of(g->d, s->category);
        b[5] = hard > 0.0f && (float)s->visible < hard * (float)s->silhouette;
    }
}

#define TEXT_CHUNK 2048

/* classification.txt and detection.txt, beside the images and in truth/. */
static int write_text_labels(const gen *g, int threads, must_err *err)
{
    unsigned want = (g->tasks | g->truth_tasks) &
                    (MUST_WORLD_CLASSIFICATION | MUST_WORLD_DETECTION);
    if (!want)
        return MUST_OK;
    int count = g->o->count;
    text_labels *tl = malloc(TEXT_CHUNK * sizeof *tl);
    if (!tl)
        return must_err_set(err, MUST_ENOMEM, "world generate: out of memory");
    sbuf cls = {0}, det = {0};
    int failed = 0;
    must_err first = {0};
    for (int c0 = 0; c0 < count && !failed; c0 += TEXT_CHUNK) {
        int n = count - c0 < TEXT_CHUNK ? count - c0 : TEXT_CHUNK;
#pragma omp parallel num_threads(threads)
        {
            must_world_frame f;
            must_err e = {0};
            int ok = must_world_frame_alloc(&f, g->o->size, &e) == MUST_OK;
#pragma omp for schedule(dynamic, 8)
            for (int k = 0; k < n; k++) {
                if (ok && must_world_label_index(g->d, g->o->seed, (uint64_t)(c0 + k), &f, NULL,
                                                 &e) == MUST_OK) {
                    take_labels(g, &f, &tl[k]);
                    continue;
                }
                ok = 0;
                record_failure(&failed, &first, &e);
            }
            must_world_frame_free(&f);
        }
        char id[16];
        for (int k = 0; k < n && !failed; k++) {
            image_id(id, c0 + k);
            sb_printf(&cls, "%s %d\n", id, tl[k].cls);
            for (int b = 0; b < tl[k].n; b++) {
                const int *x = tl[k].box[b];
                sb_printf(&det, "%s %d %d %d %d %d 1%s\n", id, x[0], x[1], x[2], x[3], x[4],
                          x[5] ? " 1" : "");
            }
        }
    }
    free(tl);
    int rc = MUST_OK;
    if (failed) {
        if (err)
            *err = first;
        rc = first.code ? first.code : MUST_EIO;
    }
    char p[PATH_LEN];
    for (int truth = 0; truth < 2 && !rc; truth++) {
        unsigned t = truth ? g->truth_tasks : g->tasks;
        const char *pre = truth ? "/truth" : "";
        if (!rc && (t & MUST_WORLD_CLASSIFICATION)) {
            snprintf(p, sizeof p, "%s%s/labels/classification.txt", g->dir, pre);
            rc = sb_write(&cls, p, err);
        }
        if (!rc && (t & MUST_WORLD_DETECTION)) {
            snprintf(p, sizeof p, "%s%s/labels/detection.txt", g->dir, pre);
            rc = sb_write(&det, p, err);
        }
    }
    free(cls.s);
    free(det.s);
    return rc;
}

static int write_splits(const gen *g, must_err *err)
{
    static const char *const names[3] = {"train", "val", "test"};
    sbuf b[3] = {{0}, {0}, {0}};
    char id[16], p[PATH_LEN];
    for (int i = 0; i < g->o->count; i++) {
        image_id(id, i);
        sb_printf(&b[must_world_domain_split_of(g->d, (uint64_t)i)], "%s\n", id);
    }
    int rc = MUST_OK;
    for (int truth = 0; truth < 2 && !rc; truth++) {
        if (truth && !g->truth_tasks)
            break;
        for (int s = 0; s < 3 && !rc; s++) {
            snprintf(p, sizeof p, "%s%s/splits/%s.txt", g->dir, truth ? "/truth" : "", names[s]);
            rc = sb_write(&b[s], p, err);
        }
    }
    for (int s = 0; s < 3; s++)
        free(b[s].s);
    return rc;
}

/* The directories and the params record (rank 0), and whether the set in
 * dir would lose images to a smaller count. */
static int prepare(const gen *g, must_err *err)
{
    int rc = mkdirs(g, err);
    if (!rc)
        rc = check_params(g, err);
    if (rc)
        return rc;
    char p[PATH_LEN], id[16];
    image_id(id, g->o->count);
    snprintf(p, sizeof p, "%s/images/%s.png", g->dir, id);
    if (g->o->count < MAX_COUNT && must_file_exists(p))
        return must_err_set(err, MUST_EINVAL, "%s already holds more than %d images; a smaller "
                            "count would leave the rest out of the set", g->dir, g->o->count);
    return MUST_OK;
}

/* This rank's images (i mod ranks = rank) not finished yet; *left: how many
 * images every rank has left.  Rank 0 removes a killed run's NAME.tmp.PID
 * files, in the images and the label files alike (one left after the labels
 * were written would outlive a rerun that finds every image done), and when
 * any image is left, the set's dataset.ini, before any rank renders. */
static int find_todo(const gen *g, int **todo, int *ntodo, int *left, must_err *err)
{
    int n = must_dist_group_size(), me = must_dist_group_rank(), count = g->o->count;
    *todo = malloc((size_t)count * sizeof **todo);
    *ntodo = 0;
    for (int i = me; *todo && i < count; i += n)
        if (!finished(g, i))
            (*todo)[(*ntodo)++] = i;
    int rc = must_dist_agree(*todo ? MUST_OK : must_err_set(err, MUST_ENOMEM, "world generate: "
                                                             "out of memory"), err);
    double all = *ntodo;
    if (!rc)
        rc = must_dist_sum_d(&all, 1, "world generate: counting the images left", err);
    *left = (int)all;
    if (rc)
        return rc;
    if (me == 0)
        must_io_remove_temps(g->dir);
    if (me == 0 && *left) {
        char p[PATH_LEN];
        snprintf(p, sizeof p, "%s/dataset.ini", g->dir);
        remove(p);
        snprintf(p, sizeof p, "%s/truth/dataset.ini", g->dir);
        remove(p);
    }
    return must_dist_barrier("world generate: clearing the set", err);
}

/* Renders todo[0..ntodo) on `threads` threads; *done counts them. */
static int render_todo(const gen *g, const int *todo, int ntodo, int threads, int *done,
                       must_err *err)
{
    const must_world_gen_opts *opts = g->o;
    int failed = 0, ranks = must_dist_group_size(), speak = must_dist_rank() == 0;
    must_err first = {0};
    double last = now_s();
#pragma omp parallel num_threads(threads)
    {
        work w = {0};
        must_err e = {0};
        int ok = must_world_frame_alloc(&w.f, opts->size, &e) == MUST_OK;
        size_t np = (size_t)opts->size * (size_t)opts->size;
        if (ok) {
            w.seg = malloc(np);
            w.depth = malloc(np * sizeof *w.depth);
            w.normal = malloc(3 * np * sizeof *w.normal);
            ok = w.seg && w.depth && w.normal;
            if (!ok)
                must_err_set(&e, MUST_ENOMEM, "world generate: out of memory");
        }
        if (!ok)
            record_failure(&failed, &first, &e);
#pragma omp barrier
#pragma omp for schedule(dynamic, 4)
        for (int k = 0; k < ntodo; k++) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop)
                continue;
            if (make_image(g, &w, todo[k], &e)) {
                record_failure(&failed, &first, &e);
                continue;
            }
            int n;
#pragma omp atomic capture
            n = ++*done;
            if (!opts->quiet && speak) {
/* unnamed: a named section would be an exported common symbol */
#pragma omp critical
                {
                    double now = now_s();
                    if (now - last > 2.0 || n == ntodo) {
                        last = now;
                        /* over several ranks rank 0 speaks for them, each
                         * rendering a share as large as its own */
                        fprintf(stderr, "\r%s: %d/%d images%s", must_world_domain_name(g->d),
                                n * ranks, ntodo * ranks, ranks > 1 ? " (all ranks)" : "");
                        if (n == ntodo)
                            fprintf(stderr, "\n");
                    }
                }
            }
        }
        must_world_frame_free(&w.f);
        free(w.seg);
        free(w.depth);
        free(w.normal);
    }
    if (failed && err)
        *err = first;
    return failed ? (first.code ? first.code : MUST_EIO) : MUST_OK;
}

/* The files that make the set whole, dataset.ini last (rank 0). */
static int finish_set(const gen *g, int threads, must_err *err)
{
    int rc = write_text_labels(g, threads, err);
    if (!rc)
        rc = write_splits(g, err);
    if (!rc && g->truth_tasks)
        rc = write_ini(g, 1, err);
    if (!rc)
        rc = write_ini(g, 0, err);
    return rc;
}

/* Over several MPI ranks (must/dist.h) rank r renders the images i with
 * i mod N = r, each from (domain, seed, i) alone, so the files are those
 * one process writes; rank 0 alone makes the directories and writes the
 * set's text files, after every rank synced its images. */
int must_world_generate(const must_world_domain *d, const char *dir,
                        const must_world_gen_opts *opts, must_world_gen_stats *stats,
                        must_err *err)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (opts->count < 1 || opts->count > MAX_COUNT)
        return must_err_set(err, MUST_EINVAL, "world generate: count %d outside 1..%d",
                            opts->count, MAX_COUNT);
    if (opts->size < 8 || opts->size > 1024)
        return must_err_set(err, MUST_EINVAL, "world generate: size %d outside 8..1024",
                            opts->size);
    if (strlen(dir) > PATH_LEN - 128)
        return must_err_set(err, MUST_EINVAL, "world generate: directory name too long");
    gen g = {d, dir, opts, must_world_domain_tasks(d), 0};
    if (opts->truth || !g.tasks)
        g.truth_tasks = MUST_WORLD_ALL_TASKS;
    double t0 = now_s();
    int threads = opts->threads;
#ifdef _OPENMP
    if (threads <= 0)
        threads = omp_get_num_procs() / must_dist_local_size(); /* ranks share a machine */
    threads = threads > 0 ? threads : 1;
#else
    threads = 1;
#endif
    int rank0 = must_dist_group_rank() == 0, *todo = NULL, ntodo = 0, left = 0, done = 0;
    int rc = must_dist_agree(rank0 ? prepare(&g, err) : MUST_OK, err);
    if (!rc)
        rc = find_todo(&g, &todo, &ntodo, &left, err);
    if (!rc) {
        rc = render_todo(&g, todo, ntodo, threads, &done, err);
        /* The images went to disk without a sync each (must_png_write_nosync):
         * one sync for all of them, before the files that say the set is
         * whole; each rank syncs what it wrote. */
        if (!rc)
            rc = must_io_sync_fs(dir, err);
        rc = must_dist_agree(rc, err);
    }
    free(todo);
    if (!rc)
        rc = must_dist_agree(rank0 ? finish_set(&g, threads, err) : MUST_OK, err);
    double rendered = done;
    if (!rc)
        rc = must_dist_sum_d(&rendered, 1, "world generate: counting the images rendered", err);
    if (rc)
        return rc;
    if (stats) {
        stats->rendered = (int)rendered;
        stats->skipped = opts->count - left;
        stats->seconds = now_s() - t0;
    }
    return MUST_OK;
}
