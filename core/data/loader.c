/* loader.c - decode, augment and collate batches; worker threads fill a ring of slots. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "augment-impl.h"
#include "dataset-impl.h"
#include "must/kinds.h"
#include "must/loader.h"

enum { SLOT_FREE, SLOT_BUSY, SLOT_READY };

typedef struct slot {
    must_batch b;
    uint64_t job;
    int state;
    int rc;
    must_err err;
} slot;

struct must_loader {
    must_loader_opts o;
    int nsets;
    must_dataset **sets;
    const int **index;       /* (nsets) split lists, or NULL for every image */
    must_sampler *sampler;
    unsigned tasks;
    int ncls;
    uint64_t per_epoch;      /* batches */
    size_t len;              /* this rank's examples per epoch */
    uint64_t end;            /* batches in all, UINT64_MAX when endless */

    pthread_mutex_t mu;
    pthread_cond_t work, ready;
    pthread_t *threads;
    int nthreads;
    int stop;
    uint64_t next_job, next_out;
    slot *slots;
    int nslots;
    slot *held;              /* delivered to the caller, freed at the next call */
    int failed;
    must_err fail_err;
};

void must_loader_defaults(must_loader_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = 64;
    o->batch = 16;
    o->workers = 2;
    o->split = MUST_SPLIT_TRAIN;
    o->sampler.mode = MUST_SAMPLE_UNION;
    o->sampler.shuffle = 1;
    o->sampler.world = 1;
    o->augment = 1;
    must_aug_defaults(&o->aug);
    o->drop_last = 1;
    o->views = 1;
}

/* ------------------------------------------------------------------------ */
/* Collation, kind by kind: the built-in kinds' entries are this file's
 * code over their members of must_batch, a registered kind's its codec
 * over must_batch.ext[kind] (must/kinds.h). */

/* Allocates kind k's storage for B examples of S x S. */
static int kind_alloc(must_batch *b, int k, int B, int S)
{
    size_t px = (size_t)S * S;
    switch (k) {
    case MUST_LABEL_CLASSIFICATION:
        b->cls = malloc((size_t)B * sizeof *b->cls);
        b->cls_soft = malloc((size_t)B * (size_t)b->ncls * sizeof *b->cls_soft);
        return b->cls && b->cls_soft ? MUST_OK : MUST_ENOMEM;
    case MUST_LABEL_DETECTION:
        return (b->boxes = calloc((size_t)B, sizeof *b->boxes)) ? MUST_OK : MUST_ENOMEM;
    case MUST_LABEL_SEGMENTATION:
        return (b->seg = malloc((size_t)B * px * sizeof *b->seg)) ? MUST_OK : MUST_ENOMEM;
    case MUST_LABEL_DEPTH:
        return (b->depth = malloc((size_t)B * px * sizeof *b->depth)) ? MUST_OK : MUST_ENOMEM;
    case MUST_LABEL_NORMAL:
        b->normal = malloc((size_t)B * 3 * px * sizeof *b->normal);
        b->normal_valid = malloc((size_t)B * px);
        return b->normal && b->normal_valid ? MUST_OK : MUST_ENOMEM;
    }
    const must_label_codec *c = must_label_kind_codec(k);
    must_err e = {0};
    return c && (b->ext[k] = c->batch_new(B, S, &e)) ? MUST_OK : MUST_ENOMEM;
}

static void kind_free(must_batch *b, int k, int B)
{
    const must_label_codec *c = k >= MUST_LABEL_NKINDS ? must_label_kind_codec(k) : NULL;
    switch (k) {
    case MUST_LABEL_CLASSIFICATION:
        free(b->cls);
        free(b->cls_soft);
        break;
    case MUST_LABEL_DETECTION:
        if (b->boxes)
            for (int i = 0; i < B; i++)
                must_boxes_free(&b->boxes[i]);
        free(b->boxes);
        break;
    case MUST_LABEL_SEGMENTATION:
        free(b->seg);
        break;
    case MUST_LABEL_DEPTH:
        free(b->depth);
        break;
    case MUST_LABEL_NORMAL:
        free(b->normal);
        free(b->normal_valid);
        break;
    default:
        if (c && b->ext[k])
            c->batch_free(b->ext[k]);
    }
}

/* Example i of kind k as missing: the filling its loss ignores. */
static int kind_blank(must_batch *b, int k, int i, must_err *err)
{
    size_t px = (size_t)b->size * b->size;
    switch (k) {
    case MUST_LABEL_CLASSIFICATION:
        b->cls[i] = -1;
        memset(b->cls_soft + (size_t)i * b->ncls, 0, (size_t)b->ncls * sizeof *b->cls_soft);
        return MUST_OK;
    case MUST_LABEL_DETECTION:
        b->boxes[i].n = 0;
        return MUST_OK;
    case MUST_LABEL_SEGMENTATION:
        for (size_t p = 0; p < px; p++)
            b->seg[i * px + p] = MUST_SEG_IGNORE;
        return MUST_OK;
    case MUST_LABEL_DEPTH:
        memset(b->depth + i * px, 0, px * sizeof *b->depth);
        return MUST_OK;
    case MUST_LABEL_NORMAL:
        memset(b->normal + i * 3 * px, 0, 3 * px * sizeof *b->normal);
        memset(b->normal_valid + i * px, 0, px);
        return MUST_OK;
    }
    int rc = must_label_kind_codec(k)->collate(b->ext[k], i, NULL, err);
    return rc ? must_err_prefix(err, "label kind '%s'", must_label_kind_name(k)) : MUST_OK;
}

/* Example i's label of kind k (present in l) into the batch. */
static int kind_collate(must_batch *b, int k, int i, const must_labels *l, must_err *err)
{
    size_t px = (size_t)b->size * b->size;
    switch (k) {
    case MUST_LABEL_CLASSIFICATION: {
        float *row = b->cls_soft + (size_t)i * b->ncls;
        if (l->soft) {
            memcpy(row, l->soft, (size_t)b->ncls * sizeof *row);
        } else if (l->cls >= 0 && l->cls < b->ncls) {
            b->cls[i] = l->cls;
            row[l->cls] = 1.0f;
        }
        return MUST_OK;
    }
    case MUST_LABEL_DETECTION:
        return must_boxes_copy(&b->boxes[i], &l->boxes, err);
    case MUST_LABEL_SEGMENTATION:
        for (size_t p = 0; p < px; p++)
            b->seg[i * px + p] = (int32_t)l->seg.data[p];
        return MUST_OK;
    case MUST_LABEL_DEPTH:
        memcpy(b->depth + i * px, l->depth.data, px * sizeof(float));
        return MUST_OK;
    case MUST_LABEL_NORMAL: {
        memcpy(b->normal + i * 3 * px, l->normal.data, 3 * px * sizeof(float));
        const float *nx = l->normal.data, *ny = nx + px, *nz = ny + px;
        for (size_t p = 0; p < px; p++)
            b->normal_valid[i * px + p] = nx[p] != 0.0f || ny[p] != 0.0f || nz[p] != 0.0f;
        return MUST_OK;
    }
    }
    int rc = must_label_kind_codec(k)->collate(b->ext[k], i, l->ext[k], err);
    return rc ? must_err_prefix(err, "label kind '%s'", must_label_kind_name(k)) : MUST_OK;
}

static void batch_free(must_batch *b, int B)
{
    for (int k = 0; k < MUST_LABEL_MAX_KINDS; k++)
        if (b->tasks & MUST_LABEL_BIT(k))
            kind_free(b, k, B);
    free(b->images);
    free(b->has);
    free(b->dataset);
    free(b->example);
    free(b->tf);
    memset(b, 0, sizeof *b);
}

static int batch_alloc(must_batch *b, int B, int S, unsigned tasks, int ncls)
{
    size_t px = (size_t)S * S;
    memset(b, 0, sizeof *b);
    b->size = S;
    b->tasks = tasks;
    b->ncls = ncls;
    b->images = malloc((size_t)B * 3 * px * sizeof(float));
    b->has = malloc((size_t)B * sizeof *b->has);
    b->dataset = malloc((size_t)B * sizeof *b->dataset);
    b->example = malloc((size_t)B * sizeof *b->example);
    b->tf = malloc((size_t)B * sizeof *b->tf);
    int ok = b->images && b->has && b->dataset && b->example && b->tf;
    for (int k = 0; k < MUST_LABEL_MAX_KINDS && ok; k++)
        if (tasks & MUST_LABEL_BIT(k))
            ok = kind_alloc(b, k, B, S) == MUST_OK;
    return ok ? MUST_OK : MUST_ENOMEM;
}

/* Reads and augments one example into img, l and tf.  A JPEG is read for
 * its transform: the transform is drawn first, from the stored size in the
 * header, and the picture decoded at the smallest DCT scale n/8 that still
 * has a pixel for each one the resize samples (a 640x480 photo for 64^2
 * decodes at 1/8, 80x60), then resized exactly; labels keep the stored
 * size.  PNGs (and JPEGs with o.full_decode) take the full-size path,
 * must_dataset_load + must_aug_example, which draws from rng the same way. */
static int load_example(const must_loader *L, const must_dataset *ds, int index, must_rng *rng,
                        must_map *img, must_labels *l, must_aug_tf *tf, must_err *err)
{
    const must_aug_opts *o = L->o.augment ? &L->o.aug : NULL;
    if (!ds->jpg[index] || L->o.full_decode) {
        int rc = must_dataset_load(ds, index, L->tasks, img, l, err);
        return rc ? rc : must_aug_example(img, l, L->o.size, rng, o, tf, err);
    }
    int w, h, fw, fh;
    float scale;
    int rc = ds_image_size(ds, index, &w, &h, err);
    if (rc)
        return rc;
    if (o)
        must_aug_sample(rng, w, h, L->o.size, o, tf);
    else
        must_aug_fit(w, h, L->o.size, tf);
    if ((rc = ds_load_scaled(ds, index, L->tasks, tf->s, img, &scale, &fw, &fh, l, err)))
        return rc;
    if (fw != w || fh != h)
        return must_err_set(err, MUST_EFORMAT, "dataset \"%s\": image '%s' changed while it was "
                            "read (%dx%d, then %dx%d)", must_dataset_name(ds),
                            must_dataset_id(ds, index), w, h, fw, fh);
    return must_aug_apply(img, scale, w, h, l, tf, rng, o, err);
}

/* Reads, augments and collates example k of batch b. */
static int make_example(must_loader *L, must_batch *b, int k, uint64_t epoch, size_t i, int view,
                        must_err *err)
{
    const int S = L->o.size;
    const size_t px = (size_t)S * S;
    must_sample smp;
    must_sampler_get(L->sampler, epoch, i, &smp);
    const must_dataset *ds = L->sets[smp.dataset];
    int img_index = L->index[smp.dataset] ? L->index[smp.dataset][smp.index] : (int)smp.index;
    b->dataset[k] = smp.dataset;
    b->example[k] = img_index;
    /* The example's randomness depends on where it stands in the epoch,
     * not on which thread or rank reads it. */
    must_rng rng;
    must_rng_seed(&rng, must_hash64(must_hash64(L->o.sampler.seed ^ 0x6c6f61646572ull, epoch),
                                    smp.pos) ^ ((uint64_t)view * 0x9e3779b97f4a7c15ull));
    must_map img = {0};
    must_labels l;
    must_labels_init(&l);
    int rc = load_example(L, ds, img_index, &rng, &img, &l, &b->tf[k], err);
    if (rc) {
        must_map_free(&img);
        must_labels_free(&l);
        return rc;
    }
    memcpy(b->images + (size_t)k * 3 * px, img.data, 3 * px * sizeof(float));
    b->has[k] = l.has & L->tasks;
    for (int kk = 0; kk < MUST_LABEL_MAX_KINDS && rc == MUST_OK; kk++)
        if (b->has[k] & MUST_LABEL_BIT(kk))
            rc = kind_collate(b, kk, k, &l, err);
    must_map_free(&img);
    must_labels_free(&l);
    return rc;
}

static int make_batch(must_loader *L, uint64_t job, must_batch *b, must_err *err)
{
    const int B = L->o.batch, S = L->o.size, V = L->o.views, I = B / V;
    const size_t px = (size_t)S * S;
    job += L->o.first_batch;
    uint64_t epoch = L->o.first_epoch + job / L->per_epoch, index = job % L->per_epoch;
    size_t first = (size_t)index * (size_t)I;
    int n = (int)(L->len - first < (size_t)I ? L->len - first : (size_t)I);
    b->epoch = epoch;
    b->index = index;
    /* Every array is filled in full, also past n, so that a batch's bytes
     * never depend on what the slot held before. */
    memset(b->images, 0, (size_t)B * 3 * px * sizeof(float));
    memset(b->has, 0, (size_t)B * sizeof *b->has);
    memset(b->tf, 0, (size_t)B * sizeof *b->tf);
    for (int k = 0; k < B; k++) {
        b->dataset[k] = -1;
        b->example[k] = -1;
    }
    for (int kk = 0; kk < MUST_LABEL_MAX_KINDS; kk++)
        for (int k = 0; k < B && (b->tasks & MUST_LABEL_BIT(kk)); k++) {
            int rc = kind_blank(b, kk, k, err);
            if (rc)
                return rc;
        }
    b->n = B;
    /* With two views, image k is rows k and n + k, augmented apart. */
    for (int v = 0; v < V; v++)
        for (int k = 0; k < n; k++) {
            int rc = make_example(L, b, v * n + k, epoch, first + (size_t)k, v, err);
            if (rc)
                return rc;
        }
    b->n = n * V;
    b->views = V;
    return MUST_OK;
}

static void *worker(void *arg)
{
    must_loader *L = arg;
    pthread_mutex_lock(&L->mu);
    while (!L->stop) {
        slot *s = NULL;
        uint64_t j = L->next_job;
        if (!L->failed && j < L->end && j < L->next_out + (uint64_t)L->nslots &&
            L->slots[j % (uint64_t)L->nslots].state == SLOT_FREE)
            s = &L->slots[j % (uint64_t)L->nslots];
        if (!s) {
            pthread_cond_wait(&L->work, &L->mu);
            continue;
        }
        L->next_job++;
        s->state = SLOT_BUSY;
        s->job = j;
        pthread_mutex_unlock(&L->mu);
        must_err_clear(&s->err);
        int rc = make_batch(L, j, &s->b, &s->err);
        pthread_mutex_lock(&L->mu);
        s->rc = rc;
        s->state = SLOT_READY;
        pthread_cond_broadcast(&L->ready);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

static int same_classes(const must_dataset *a, const must_dataset *b, int kind)
{
    int n = must_dataset_nclasses(a, kind);
    if (n != must_dataset_nclasses(b, kind))
        return 0;
    for (int c = 0; c < n; c++)
        if (strcmp(must_dataset_class_name(a, kind, c), must_dataset_class_name(b, kind, c)))
            return 0;
    return 1;
}

int must_loader_new(must_dataset *const *sets, int nsets, const must_loader_opts *o,
                    must_loader **out, must_err *err)
{
    *out = NULL;
    if (nsets <= 0)
        return must_err_set(err, MUST_EINVAL, "loader: no datasets");
    if (o->size < 8 || o->size > 4096 || o->batch < 1 || o->batch > 65536 || o->workers < 0 ||
        o->workers > 256 || o->queue < 0)
        return must_err_set(err, MUST_EINVAL,
                            "loader: size %d (8..4096), batch %d (1..65536), workers %d (0..256)"
                            " or queue %d out of range", o->size, o->batch, o->workers, o->queue);
    if (o->split < -1 || o->split >= MUST_NSPLITS)
        return must_err_set(err, MUST_EINVAL, "loader: unknown split %d", o->split);
    if (o->views < 0 || o->views > 2 || (o->views == 2 && o->batch % 2))
        return must_err_set(err, MUST_EINVAL, "loader: %d views of batch %d (1, or 2 with an even "
                                              "batch)", o->views, o->batch);
    unsigned present = 0;
    for (int d = 0; d < nsets; d++)
        present |= must_dataset_tasks(sets[d]);
    unsigned tasks = present & (o->tasks ? o->tasks : must_label_kinds_all());
    /* One head per task in the student: every set must mean the same by
     * class c. */
    for (int k = MUST_LABEL_CLASSIFICATION; k <= MUST_LABEL_SEGMENTATION; k++) {
        int first = -1;
        for (int d = 0; d < nsets && (tasks & MUST_LABEL_BIT(k)); d++) {
            if (!(must_dataset_tasks(sets[d]) & MUST_LABEL_BIT(k)))
                continue;
            if (first < 0)
                first = d;
            else if (!same_classes(sets[first], sets[d], k))
                return must_err_set(err, MUST_EINVAL,
                                    "loader: datasets \"%s\" and \"%s\" name different %s "
                                    "classes", must_dataset_name(sets[first]),
                                    must_dataset_name(sets[d]), must_label_kind_name(k));
        }
    }
    must_loader *L = calloc(1, sizeof *L);
    if (!L)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    L->o = *o;
    L->nsets = nsets;
    L->tasks = tasks;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->work, NULL);
    pthread_cond_init(&L->ready, NULL);
    int rc = MUST_OK;
    L->sets = malloc((size_t)nsets * sizeof *L->sets);
    L->index = calloc((size_t)nsets, sizeof *L->index);
    size_t *sizes = malloc((size_t)nsets * sizeof *sizes);
    if (!L->sets || !L->index || !sizes) {
        free(sizes);
        must_loader_free(L);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    for (int d = 0; d < nsets; d++) {
        L->sets[d] = sets[d];
        if (o->split >= 0)
            sizes[d] = (size_t)must_dataset_split(sets[d], o->split, &L->index[d]);
        else
            sizes[d] = (size_t)must_dataset_count(sets[d]);
        if (sizes[d] == 0) {
            rc = must_err_set(err, MUST_EINVAL, "loader: dataset \"%s\" has no %s images",
                              must_dataset_name(sets[d]),
                              o->split >= 0 ? must_split_name(o->split) : "");
            break;
        }
        if ((tasks & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)) &&
            (must_dataset_tasks(sets[d]) & MUST_LABEL_BIT(MUST_LABEL_CLASSIFICATION)))
            L->ncls = must_dataset_nclasses(sets[d], MUST_LABEL_CLASSIFICATION);
    }
    if (rc == MUST_OK)
        rc = must_sampler_new(sizes, nsets, &o->sampler, &L->sampler, err);
    free(sizes);
    if (rc) {
        must_loader_free(L);
        return rc;
    }
    L->o.views = o->views == 2 ? 2 : 1; /* 0 reads as 1 */
    L->len = must_sampler_len(L->sampler);
    /* Sharded (rank r of world), a batch of B is this rank's slice of a
     * global batch of B x world, and every rank counts the epoch's global
     * batches: shard lengths differ by one, and ranks that disagreed on
     * where an epoch ends would train on different epochs. */
    size_t world = o->sampler.world > 1 ? (size_t)o->sampler.world : 1;
    size_t images = (size_t)o->batch / (size_t)L->o.views; /* distinct images a batch */
    L->per_epoch = o->drop_last ? must_sampler_total(L->sampler) / (images * world)
                                : (L->len + images - 1) / images;
    if (L->per_epoch == 0) {
        must_err_set(err, MUST_EINVAL, "loader: %zu examples per epoch make no whole batch of %d",
                     L->len, o->batch);
        must_loader_free(L);
        return MUST_EINVAL;
    }
    L->end = o->epochs ? o->epochs * L->per_epoch : UINT64_MAX;
    L->end = L->end > o->first_batch ? L->end - o->first_batch : 0;
    L->nslots = o->queue ? o->queue : 2 * o->workers + 1;
    if (L->nslots < 1)
        L->nslots = 1;
    L->slots = calloc((size_t)L->nslots, sizeof *L->slots);
    if (!L->slots) {
        must_loader_free(L);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    for (int i = 0; i < L->nslots; i++)
        if (batch_alloc(&L->slots[i].b, o->batch, o->size, tasks, L->ncls)) {
            must_err_set(err, MUST_ENOMEM, "out of memory for %d batches of %d at %d^2",
                         L->nslots, o->batch, o->size);
            must_loader_free(L);
            return MUST_ENOMEM;
        }
    L->threads = calloc((size_t)(o->workers ? o->workers : 1), sizeof *L->threads);
    if (!L->threads) {
        must_loader_free(L);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    for (int t = 0; t < o->workers; t++) {
        if (pthread_create(&L->threads[t], NULL, worker, L) != 0) {
            must_loader_free(L);
            return must_err_set(err, MUST_ENOMEM, "loader: cannot start worker thread %d", t);
        }
        L->nthreads++;
    }
    *out = L;
    return MUST_OK;
}

int must_loader_next(must_loader *L, const must_batch **out, must_err *err)
{
    *out = NULL;
    pthread_mutex_lock(&L->mu);
    if (L->held) {
        L->held->state = SLOT_FREE;
        L->held = NULL;
        pthread_cond_broadcast(&L->work);
    }
    if (L->failed) {
        pthread_mutex_unlock(&L->mu);
        if (err)
            *err = L->fail_err;
        return L->fail_err.code;
    }
    if (L->next_out >= L->end) {
        pthread_mutex_unlock(&L->mu);
        return 0;
    }
    uint64_t j = L->next_out;
    slot *s = &L->slots[j % (uint64_t)L->nslots];
    if (L->o.workers == 0) {
        s->state = SLOT_BUSY;
        s->job = j;
        L->next_job = j + 1;
        pthread_mutex_unlock(&L->mu);
        must_err_clear(&s->err);
        s->rc = make_batch(L, j, &s->b, &s->err);
        pthread_mutex_lock(&L->mu);
        s->state = SLOT_READY;
    }
    while (!(s->state == SLOT_READY && s->job == j))
        pthread_cond_wait(&L->ready, &L->mu);
    if (s->rc) {
        L->failed = 1;
        L->fail_err = s->err;
        if (!L->fail_err.code)
            L->fail_err.code = s->rc;
        s->state = SLOT_FREE;
        pthread_cond_broadcast(&L->work);
        pthread_mutex_unlock(&L->mu);
        if (err)
            *err = L->fail_err;
        return L->fail_err.code;
    }
    L->held = s;
    L->next_out++;
    pthread_cond_broadcast(&L->work);
    pthread_mutex_unlock(&L->mu);
    *out = &s->b;
    return 1;
}

uint64_t must_loader_batches_per_epoch(const must_loader *L) { return L->per_epoch; }
unsigned must_loader_tasks(const must_loader *L) { return L->tasks; }

void must_loader_free(must_loader *L)
{
    if (!L)
        return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->work);
    pthread_mutex_unlock(&L->mu);
    for (int t = 0; t < L->nthreads; t++)
        pthread_join(L->threads[t], NULL);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->work);
    pthread_cond_destroy(&L->ready);
    if (L->slots)
        for (int i = 0; i < L->nslots; i++)
            batch_free(&L->slots[i].b, L->o.batch);
    free(L->slots);
    free(L->threads);
    must_sampler_free(L->sampler);
    free(L->sets);
    free(L->index);
    free(L);
}
