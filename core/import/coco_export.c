/* coco_export.c - a set's boxes as a COCO annotation file: images,
 * categories (their ids from dataset.ini's `ids` when the set came from
 * COCO) and one annotation per box, with its score when the boxes carry
 * scores.  The inverse of must_import_coco's boxes. */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import-impl.h"
#include "must/io.h"

#define DET MUST_LABEL_DETECTION

/* The fewest digits (6 to 9) that read back to the float v, as a double. */
static double shortest(float v)
{
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    return strtod(buf, NULL);
}

/* A float as JSON: a whole number as an integer, anything else with the
 * fewest digits that read back to the same float (at most 9; the file is
 * dumped with 9 significant digits, which prints such a number as it is). */
static json_t *num(float v)
{
    if (v == floorf(v) && fabsf(v) < 1e15f)
        return json_integer((json_int_t)v);
    return json_real(shortest(v));
}

/* The width x1 - x0 with the fewest digits that give x1 back when an
 * importer adds it to x0 as written (num) in double and rounds to float, as
 * must_import_coco does: import -> export -> import keeps every box.  9
 * digits always do for 0 <= x0 < x1: they miss the difference by at most
 * 5e-9 of it, less than half a float step at x1. */
static json_t *extent(float x0, float x1)
{
    double a = x0 == floorf(x0) ? (double)x0 : shortest(x0), d = (double)x1 - a;
    if (d == floor(d) && fabs(d) < 1e15)
        return json_integer((json_int_t)d);
    char buf[40];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if ((float)(a + strtod(buf, NULL)) == x1)
            break;
    }
    return json_real(strtod(buf, NULL));
}

/* obj[key] = v, taking v; -1 when v is NULL or out of memory. */
static int put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0 ? 0 : -1;
}

/* array += v, taking v; -1 as put. */
static int push(json_t *array, json_t *v)
{
    return v && json_array_append_new(array, v) == 0 ? 0 : -1;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* The COCO image ids: the number each of the set's ids ends with, when all
 * do and no two are equal (COCO's own file names are their ids:
 * 000000397133.jpg is image 397133); else 1..N in the set's order. */
static int image_ids(const must_dataset *ds, long long *ids)
{
    int n = must_dataset_count(ds), numbered = 1;
    for (int i = 0; i < n && numbered; i++) {
        const char *id = must_dataset_id(ds, i), *d = id + strlen(id);
        while (d > id && d[-1] >= '0' && d[-1] <= '9')
            d--;
        numbered = *d && strlen(d) <= 18;
        ids[i] = numbered ? strtoll(d, NULL, 10) : 0;
    }
    if (numbered && n > 1) {
        long long *sorted = malloc((size_t)n * sizeof *sorted);
        if (!sorted)
            return MUST_ENOMEM;
        memcpy(sorted, ids, (size_t)n * sizeof *sorted);
        if (n > 1) /* qsort's base may not be NULL, even for none */
            qsort(sorted, (size_t)n, sizeof *sorted, cmp_ll);
        for (int i = 1; i < n && numbered; i++)
            numbered = sorted[i] != sorted[i - 1];
        free(sorted);
    }
    for (int i = 0; i < n && !numbered; i++)
        ids[i] = i + 1;
    return MUST_OK;
}

/* An image's size: the set's when it declares one, else its file's
 * header. */
static int image_size(const must_dataset *ds, int i, int *w, int *h, must_err *err)
{
    must_dataset_size(ds, w, h);
    if (*w > 0)
        return MUST_OK;
    char *path = must_dataset_image_path(ds, i);
    if (!path)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    int rc = must_image_info(path, NULL, w, h, NULL, NULL, err);
    free(path);
    return rc;
}

/* {"id", "file_name", "width", "height"} of image i, appended to images. */
static int image_entry(const must_dataset *ds, int i, long long id, json_t *images,
                       must_err *err)
{
    int w, h, rc = image_size(ds, i, &w, &h, err);
    if (rc)
        return rc;
    char *path = must_dataset_image_path(ds, i);
    const char *slash = path ? strrchr(path, '/') : NULL;
    json_t *o = json_object();
    int bad = !path || push(images, o) || put(o, "id", json_integer(id)) ||
              put(o, "file_name", json_string(slash ? slash + 1 : path)) ||
              put(o, "width", json_integer(w)) || put(o, "height", json_integer(h));
    free(path);
    return bad ? must_err_set(err, MUST_ENOMEM, "out of memory") : MUST_OK;
}

/* One box as an annotation: bbox x y w h, its area, iscrowd from
 * difficult, and its score when scores is set. */
static json_t *box_entry(const must_box *b, long long id, long long image, int category,
                         int scores)
{
    float w = b->x1 - b->x0, h = b->y1 - b->y0;
    json_t *o = json_object(), *bbox = json_array();
    int bad = !o || !bbox || push(bbox, num(b->x0)) || push(bbox, num(b->y0)) ||
              push(bbox, extent(b->x0, b->x1)) || push(bbox, extent(b->y0, b->y1)) || put(o, "id", json_integer(id)) ||
              put(o, "image_id", json_integer(image)) ||
              put(o, "category_id", json_integer(category)) || put(o, "bbox", json_incref(bbox)) ||
              put(o, "area", num(w * h)) || put(o, "iscrowd", json_integer(b->difficult)) ||
              (scores && put(o, "score", num(b->score)));
    json_decref(bbox);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Whether to write scores: pseudo labels, or any score below 1. */
static int has_scores(const must_dataset *ds)
{
    if (must_dataset_source(ds, DET) == MUST_SOURCE_PSEUDO)
        return 1;
    for (int i = 0; i < must_dataset_count(ds); i++) {
        const must_boxes *b = must_dataset_boxes(ds, i);
        for (int k = 0; b && k < b->n; k++)
            if (b->v[k].score < 1.0f)
                return 1;
    }
    return 0;
}

/* "categories": the set's classes with their COCO ids, or 1..K. */
static json_t *categories(const must_dataset *ds, const int *ids)
{
    json_t *cats = json_array();
    for (int k = 0; cats && k < must_dataset_nclasses(ds, DET); k++) {
        json_t *o = json_object();
        if (push(cats, o) || put(o, "id", json_integer(ids ? ids[k] : k + 1)) ||
            put(o, "name", json_string(must_dataset_class_name(ds, DET, k)))) {
            json_decref(cats);
            return NULL;
        }
    }
    return cats;
}

/* The whole file in memory. */
static int build(const must_dataset *ds, json_t *root, must_coco_export_counts *c,
                 must_err *err)
{
    int n = must_dataset_count(ds), scores = has_scores(ds);
    const int *ids = must_dataset_class_ids(ds, DET);
    long long *img = malloc((size_t)(n ? n : 1) * sizeof *img);
    json_t *images = json_array(), *anns = json_array(), *info = json_object();
    int rc = !img || !images || !anns || !info || image_ids(ds, img) ? MUST_ENOMEM : MUST_OK;
    if (!rc && (put(info, "description", json_sprintf("the set \"%s\", exported by must %s",
                                                      must_dataset_name(ds), PACKAGE_VERSION)) ||
                put(root, "info", json_incref(info)) || put(root, "images", json_incref(images)) ||
                put(root, "annotations", json_incref(anns)) ||
                put(root, "categories", categories(ds, ids))))
        rc = MUST_ENOMEM;
    for (int i = 0; !rc && i < n; i++) {
        rc = image_entry(ds, i, img[i], images, err);
        const must_boxes *b = must_dataset_boxes(ds, i);
        for (int k = 0; !rc && b && k < b->n; k++) {
            const must_box *x = &b->v[k];
            if (push(anns, box_entry(x, c->annotations + 1, img[i], ids ? ids[x->cls] : x->cls + 1,
                                     scores)))
                rc = MUST_ENOMEM;
            else
                c->annotations++;
        }
        c->images += !rc;
    }
    c->categories = must_dataset_nclasses(ds, DET);
    c->scores = scores;
    json_decref(info);
    json_decref(images);
    json_decref(anns);
    free(img);
    if (rc == MUST_ENOMEM)
        must_err_set(err, MUST_ENOMEM, "out of memory");
    return rc;
}

int must_export_coco(const char *set, const char *out, must_coco_export_counts *c, must_err *err)
{
    must_coco_export_counts local;
    if (!c)
        c = &local;
    memset(c, 0, sizeof *c);
    must_dataset *ds = NULL;
    int rc = must_dataset_open(set, &ds, err);
    if (rc)
        return rc;
    json_t *root = NULL;
    char *text = NULL;
    if (!(must_dataset_tasks(ds) & MUST_LABEL_BIT(DET)))
        rc = must_err_set(err, MUST_EINVAL, "dataset \"%s\" (%s): no detection labels to export",
                          must_dataset_name(ds), set);
    else if (!(root = json_object()))
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    else
        rc = build(ds, root, c, err);
    if (!rc && !(text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9))))
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    if (!rc) {
        size_t len = strlen(text);
        text[len] = '\n'; /* json_dumps's NUL: the file ends with a line end */
        rc = must_file_write_atomic(out, text, len + 1, err);
    }
    free(text);
    json_decref(root);
    must_dataset_close(ds);
    return rc;
}
