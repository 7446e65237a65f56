/* coco_read.c - COCO annotation files (cocodataset.org/#format-data) read with
 * jansson and checked whole before the importer writes anything: categories
 * merged over the files in ascending id, images and their set ids, every
 * annotation's image, category, box and crowd flag; and an annotation's
 * segmentation turned into pixels.  Every problem names the file and the
 * JSON path (annotations[12].bbox), or jansson's line and column. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco-impl.h"
#include "must/image.h"
#include "import-impl.h"

/* "FILE: PATH: message" as MUST_EFORMAT. */
static int bad(must_err *err, const char *file, const char *fmt, ...) MUST_PRINTF(3, 4);
static int bad(must_err *err, const char *file, const char *fmt, ...)
{
    char msg[MUST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return must_err_set(err, MUST_EFORMAT, "%s: %s", file, msg);
}

/* A whole number member: 0, -1 when absent (or null), -2 when not whole. */
static int get_int(const json_t *obj, const char *key, long long *v)
{
    const json_t *j = json_object_get(obj, key);
    if (!j || json_is_null(j))
        return -1;
    if (!json_is_integer(j))
        return -2;
    *v = json_integer_value(j);
    return 0;
}

/* An int member in lo..hi, or an error naming ARRAY[i].KEY. */
static int member_int(const json_t *obj, const char *key, long long lo, long long hi,
                      const char *file, const char *array, long i, long long *v, must_err *err)
{
    int r = get_int(obj, key, v);
    if (r == -1)
        return bad(err, file, "%s[%ld].%s: missing", array, i, key);
    if (r == -2 && lo == LLONG_MIN)
        return bad(err, file, "%s[%ld].%s: not a whole number", array, i, key);
    if (r == -2 || *v < lo || *v > hi)
        return bad(err, file, "%s[%ld].%s: not a whole number in %lld..%lld", array, i, key, lo,
                   hi);
    return MUST_OK;
}

void coco_db_free(coco_db *db)
{
    for (int s = 0; s < db->nsrc; s++)
        json_decref(db->roots ? db->roots[s] : NULL);
    free(db->roots);
    free(db->paths);
    free(db->cat_ids);
    free(db->cat_names);
    free(db->images);
    free(db->anns);
    free(db->order);
    memset(db, 0, sizeof *db);
}

/* The file's top level: an object with an "images" array, and
 * "categories" and "annotations" arrays when present. */
static int load_file(coco_db *db, int s, const char *path, must_err *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return must_err_set(err, errno == ENOENT ? MUST_ENOTFOUND : MUST_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    json_error_t je;
    json_t *root = json_loadf(fp, 0, &je);
    fclose(fp);
    if (!root)
        return must_err_set(err, json_error_code(&je) == json_error_out_of_memory ? MUST_ENOMEM
                            : MUST_EFORMAT, "%s:%d:%d: not valid JSON: %s", path, je.line,
                            je.column, je.text);
    db->roots[s] = root;
    db->paths[s] = path;
    if (!json_is_object(root))
        return bad(err, path, "the top level is not an object");
    if (!json_is_array(json_object_get(root, "images")))
        return bad(err, path, "images: %s", json_object_get(root, "images")
                                                ? "not an array" : "missing");
    static const char *const opt[] = {"categories", "annotations"};
    for (int k = 0; k < 2; k++) {
        const json_t *j = json_object_get(root, opt[k]);
        if (j && !json_is_array(j))
            return bad(err, path, "%s: not an array", opt[k]);
    }
    return MUST_OK;
}

/* ------------------------------------------------------------------------ */
/* Categories: every file's, merged; an id names one category everywhere. */

typedef struct cat_ref {
    int id;
    const char *name;
    int src;
    long index;
} cat_ref;

static int cmp_cat(const void *a, const void *b)
{
    const cat_ref *x = a, *y = b;
    return x->id != y->id ? (x->id < y->id ? -1 : 1)
                          : x->src != y->src ? x->src - y->src : (x->index > y->index) -
                                                                     (x->index < y->index);
}

/* Category name: what a class name of dataset.ini can hold. */
static int name_ok(const char *n)
{
    size_t len = strlen(n);
    return len && !strpbrk(n, ",;#\r\n") && n[0] != ' ' && n[len - 1] != ' ';
}

/* Each file's categories into refs (*n of them), checked one by one. */
static int collect_cats(const coco_db *db, cat_ref **refs, long *n, must_err *err)
{
    long total = 0;
    for (int s = 0; s < db->nsrc; s++)
        total += (long)json_array_size(json_object_get(db->roots[s], "categories"));
    *n = 0;
    if (!(*refs = malloc((size_t)(total ? total : 1) * sizeof **refs)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int s = 0; s < db->nsrc; s++) {
        const json_t *cats = json_object_get(db->roots[s], "categories");
        size_t i;
        const json_t *c;
        json_array_foreach(cats, i, c) {
            long long id;
            if (!json_is_object(c))
                return bad(err, db->paths[s], "categories[%zu]: not an object", i);
            int rc = member_int(c, "id", INT_MIN, INT_MAX, db->paths[s], "categories", (long)i,
                                &id, err);
            if (rc)
                return rc;
            const json_t *name = json_object_get(c, "name");
            if (!json_is_string(name))
                return bad(err, db->paths[s], "categories[%zu].name: %s", i,
                           name && !json_is_null(name) ? "not a string" : "missing");
            if (!name_ok(json_string_value(name)))
                return bad(err, db->paths[s], "categories[%zu].name: '%s' is empty, holds ',', "
                           "';', '#' or a line end, or starts or ends with a blank", i,
                           json_string_value(name));
            (*refs)[(*n)++] = (cat_ref){(int)id, json_string_value(name), s, (long)i};
        }
    }
    return MUST_OK;
}

/* The categories of all files in ascending id: one name per id, one id per
 * name. */
static int read_categories(coco_db *db, must_err *err)
{
    cat_ref *r = NULL;
    long n = 0;
    int rc = collect_cats(db, &r, &n, err);
    if (!rc && n == 0)
        rc = must_err_set(err, MUST_EFORMAT, "%s: no categories (in any annotation file)",
                          db->paths[0]);
    if (!rc && n > 1) /* qsort's base may not be NULL, even for none */
        qsort(r, (size_t)n, sizeof *r, cmp_cat);
    if (!rc && (!(db->cat_ids = malloc((size_t)n * sizeof *db->cat_ids)) ||
                !(db->cat_names = malloc((size_t)n * sizeof *db->cat_names))))
        rc = must_err_set(err, MUST_ENOMEM, "out of memory");
    for (long k = 0; !rc && k < n; k++) {
        if (db->ncats && db->cat_ids[db->ncats - 1] == r[k].id) {
            const cat_ref *f = &r[k - 1]; /* the first with this id (sorted by file, index) */
            while (f > r && f[-1].id == r[k].id)
                f--;
            if (strcmp(f->name, r[k].name) != 0)
                rc = bad(err, db->paths[r[k].src], "categories[%ld]: id %d is '%s' here but "
                         "'%s' in %s categories[%ld]", r[k].index, r[k].id, r[k].name, f->name,
                         db->paths[f->src], f->index);
            else if (r[k - 1].src == r[k].src) /* a file's own are neighbours */
                rc = bad(err, db->paths[r[k].src], "categories[%ld].id: %d is categories[%ld]'s "
                         "as well", r[k].index, r[k].id, r[k - 1].index);
            continue;
        }
        for (int j = 0; j < db->ncats && !rc; j++)
            if (strcmp(db->cat_names[j], r[k].name) == 0)
                rc = bad(err, db->paths[r[k].src], "categories[%ld].name: '%s' is also the "
                         "name of category %d", r[k].index, r[k].name, db->cat_ids[j]);
        db->cat_ids[db->ncats] = r[k].id;
        db->cat_names[db->ncats++] = r[k].name;
    }
    free(r);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Images. */

/* 1 when a file_name stays inside the images directory. */
static int name_inside(const char *f)
{
    if (!*f || f[0] == '/')
        return 0;
    for (const char *p = f; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
            return 0;
    }
    return 1;
}

/* The set's id of an image: its file_name without the extension. */
static int set_id(char *sid, const char *file_name)
{
    const char *slash = strrchr(file_name, '/'), *dot = strrchr(file_name, '.');
    size_t n = dot && (!slash || dot > slash) && dot != file_name ? (size_t)(dot - file_name)
                                                                  : strlen(file_name);
    char *stem = malloc(n + 1);
    if (!stem)
        return MUST_ENOMEM;
    memcpy(stem, file_name, n);
    stem[n] = '\0';
    imp_make_id(sid, stem, NULL, 0);
    free(stem);
    return MUST_OK;
}

static int read_image(coco_db *db, int s, long i, const json_t *o, coco_image *im, must_err *err)
{
    const char *path = db->paths[s];
    long long id, w, h;
    if (!json_is_object(o))
        return bad(err, path, "images[%ld]: not an object", i);
    int rc = member_int(o, "id", LLONG_MIN, LLONG_MAX, path, "images", i, &id, err);
    if (!rc)
        rc = member_int(o, "width", 1, 65536, path, "images", i, &w, err);
    if (!rc)
        rc = member_int(o, "height", 1, 65536, path, "images", i, &h, err);
    if (rc)
        return rc;
    /* Masks are drawn at the image's size: the header's claim is held to
     * the image readers' limit before any mask is allocated. */
    if ((unsigned long long)w * (unsigned long long)h > must_image_max_pixels())
        return must_err_set(err, MUST_ELIMIT, "%s: images[%ld]: %lldx%lld is more than the %zu "
                            "pixels an image may have (MUST_MAX_PIXELS raises the limit)",
                            path, i, w, h, must_image_max_pixels());
    const json_t *f = json_object_get(o, "file_name");
    if (!json_is_string(f))
        return bad(err, path, "images[%ld].file_name: %s", i,
                   f && !json_is_null(f) ? "not a string" : "missing");
    if (!name_inside(json_string_value(f)))
        return bad(err, path, "images[%ld].file_name: '%s' is not a path inside the images "
                   "directory", i, json_string_value(f));
    *im = (coco_image){.id = id, .file_name = json_string_value(f), .width = (int)w,
                       .height = (int)h, .src = s, .index = (int)i};
    if (set_id(im->sid, im->file_name))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    return MUST_OK;
}

static int cmp_sid(const void *a, const void *b)
{
    const coco_image *x = *(coco_image *const *)a, *y = *(coco_image *const *)b;
    int c = strcmp(x->sid, y->sid);
    return c ? c : x->src != y->src ? x->src - y->src : x->index - y->index;
}

/* No two images of the set share an id. */
static int distinct_sids(coco_db *db, must_err *err)
{
    coco_image **v = malloc((size_t)(db->nimages ? db->nimages : 1) * sizeof *v);
    if (!v)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int i = 0; i < db->nimages; i++)
        v[i] = &db->images[i];
    if (db->nimages > 1) /* qsort's base may not be NULL, even for none */
        qsort(v, (size_t)db->nimages, sizeof *v, cmp_sid);
    int rc = MUST_OK;
    for (int i = 1; i < db->nimages && !rc; i++)
        if (strcmp(v[i]->sid, v[i - 1]->sid) == 0)
            rc = bad(err, db->paths[v[i]->src], "images[%d].file_name: '%s' makes the image id "
                     "'%s', as does '%s' (%s images[%d])", v[i]->index, v[i]->file_name,
                     v[i]->sid, v[i - 1]->file_name, db->paths[v[i - 1]->src], v[i - 1]->index);
    free(v);
    return rc;
}

static int read_images(coco_db *db, must_err *err)
{
    long total = 0;
    for (int s = 0; s < db->nsrc; s++)
        total += (long)json_array_size(json_object_get(db->roots[s], "images"));
    if (total > INT_MAX / 2)
        return must_err_set(err, MUST_EINVAL, "%s: %ld images are too many", db->paths[0], total);
    if (!(db->images = calloc((size_t)(total ? total : 1), sizeof *db->images)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int s = 0; s < db->nsrc; s++) {
        size_t i;
        const json_t *o;
        json_array_foreach(json_object_get(db->roots[s], "images"), i, o) {
            int rc = read_image(db, s, (long)i, o, &db->images[db->nimages], err);
            if (rc)
                return rc;
            db->nimages++;
        }
    }
    return distinct_sids(db, err);
}

/* ------------------------------------------------------------------------ */
/* Annotations. */

/* A file's images by COCO id, for the annotations' image_id. */
typedef struct id_ref {
    long long id;
    int image;
} id_ref;

static int cmp_ref(const void *a, const void *b)
{
    long long x = ((const id_ref *)a)->id, y = ((const id_ref *)b)->id;
    return (x > y) - (x < y);
}

/* The file's images sorted by id; a repeated id is an error. */
static int index_images(const coco_db *db, int s, id_ref **refs, int *n, must_err *err)
{
    *n = 0;
    if (!(*refs = malloc((size_t)(db->nimages ? db->nimages : 1) * sizeof **refs)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int i = 0; i < db->nimages; i++)
        if (db->images[i].src == s)
            (*refs)[(*n)++] = (id_ref){db->images[i].id, i};
    if (*n > 1) /* qsort's base may not be NULL, even for none */
        qsort(*refs, (size_t)*n, sizeof **refs, cmp_ref); /* equal ids keep no order: */
    for (int k = 1; k < *n; k++)
        if ((*refs)[k].id == (*refs)[k - 1].id) {
            int a = db->images[(*refs)[k - 1].image].index, b = db->images[(*refs)[k].image].index;
            return bad(err, db->paths[s], "images[%d].id: %lld is images[%d]'s as well",
                       a > b ? a : b, (*refs)[k].id, a < b ? a : b);
        }
    return MUST_OK;
}

static int find_cat(const coco_db *db, long long id)
{
    int lo = 0, hi = db->ncats - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (db->cat_ids[mid] == id)
            return mid;
        if (db->cat_ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* bbox: 4 numbers, width and height not negative. */
static int read_box(const char *path, long i, const json_t *o, double *box, must_err *err)
{
    const json_t *b = json_object_get(o, "bbox");
    if (!b || json_is_null(b))
        return bad(err, path, "annotations[%ld].bbox: missing", i);
    if (!json_is_array(b) || json_array_size(b) != 4)
        return bad(err, path, "annotations[%ld].bbox: not an array of 4 numbers", i);
    for (int k = 0; k < 4; k++) {
        const json_t *v = json_array_get(b, (size_t)k);
        if (!json_is_number(v))
            return bad(err, path, "annotations[%ld].bbox[%d]: not a number", i, k);
        box[k] = json_number_value(v);
    }
    if (box[2] < 0.0 || box[3] < 0.0)
        return bad(err, path, "annotations[%ld].bbox: width %g and height %g cannot be "
                   "negative", i, box[2], box[3]);
    return MUST_OK;
}

static int read_ann(const coco_db *db, int s, long i, const json_t *o, const id_ref *refs,
                    int nrefs, int need_box, coco_ann *a, must_err *err)
{
    const char *path = db->paths[s];
    long long img, cat;
    if (!json_is_object(o))
        return bad(err, path, "annotations[%ld]: not an object", i);
    int rc = member_int(o, "image_id", LLONG_MIN, LLONG_MAX, path, "annotations", i, &img, err);
    if (!rc)
        rc = member_int(o, "category_id", LLONG_MIN, LLONG_MAX, path, "annotations", i, &cat,
                        err);
    if (rc)
        return rc;
    id_ref key = {img, 0}, *r = bsearch(&key, refs, (size_t)nrefs, sizeof *refs, cmp_ref);
    if (!r)
        return bad(err, path, "annotations[%ld].image_id: no image of this file has id %lld", i,
                   img);
    *a = (coco_ann){.image = r->image, .cls = find_cat(db, cat), .src = s, .index = (int)i};
    if (a->cls < 0)
        return bad(err, path, "annotations[%ld].category_id: no category has id %lld", i, cat);
    const json_t *crowd = json_object_get(o, "iscrowd");
    if (json_is_boolean(crowd))
        a->crowd = json_is_true(crowd);
    else if (crowd && !json_is_null(crowd) &&
             (!json_is_integer(crowd) || (unsigned long long)json_integer_value(crowd) > 1))
        return bad(err, path, "annotations[%ld].iscrowd: not 0 or 1", i);
    else
        a->crowd = crowd && json_is_integer(crowd) && json_integer_value(crowd) == 1;
    a->seg = json_object_get(o, "segmentation");
    if (a->seg && json_is_null(a->seg))
        a->seg = NULL;
    return need_box ? read_box(path, i, o, a->box, err) : MUST_OK;
}

/* Every file's annotations, then db->order grouping them by image. */
static int read_anns(coco_db *db, int need_box, must_err *err)
{
    long total = 0;
    for (int s = 0; s < db->nsrc; s++)
        total += (long)json_array_size(json_object_get(db->roots[s], "annotations"));
    if (!(db->anns = malloc((size_t)(total ? total : 1) * sizeof *db->anns)) ||
        !(db->order = malloc((size_t)(total ? total : 1) * sizeof *db->order)))
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (int s = 0; s < db->nsrc; s++) {
        id_ref *refs;
        int nrefs, rc = index_images(db, s, &refs, &nrefs, err);
        size_t i;
        const json_t *o;
        json_array_foreach(json_object_get(db->roots[s], "annotations"), i, o) {
            if (rc)
                break;
            rc = read_ann(db, s, (long)i, o, refs, nrefs, need_box, &db->anns[db->nanns], err);
            if (!rc)
                db->images[db->anns[db->nanns++].image].nann++;
        }
        free(refs);
        if (rc)
            return rc;
    }
    for (int i = 0, first = 0; i < db->nimages; first += db->images[i++].nann)
        db->images[i].first = first;
    int *fill = calloc((size_t)(db->nimages ? db->nimages : 1), sizeof *fill);
    if (!fill)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    for (long k = 0; k < db->nanns; k++) {
        coco_image *im = &db->images[db->anns[k].image];
        db->order[im->first + fill[db->anns[k].image]++] = k;
    }
    free(fill);
    return MUST_OK;
}

int coco_db_read(coco_db *db, const must_coco_source *src, int nsrc, int need_box,
                 must_err *err)
{
    memset(db, 0, sizeof *db);
    if (nsrc < 1)
        return must_err_set(err, MUST_EINVAL, "no COCO annotation file given");
    db->roots = calloc((size_t)nsrc, sizeof *db->roots);
    db->paths = calloc((size_t)nsrc, sizeof *db->paths);
    db->nsrc = nsrc;
    int rc = !db->roots || !db->paths ? must_err_set(err, MUST_ENOMEM, "out of memory") : MUST_OK;
    for (int s = 0; s < nsrc && !rc; s++)
        rc = load_file(db, s, src[s].annotations, err);
    if (!rc)
        rc = read_categories(db, err);
    if (!rc)
        rc = read_images(db, err);
    if (!rc)
        rc = read_anns(db, need_box, err);
    if (rc)
        coco_db_free(db); /* a refusal holds nothing (fuzz_coco found the leak) */
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Segmentations. */

/* Polygons: a list of parts, each x y x y ... */
static int poly_mask(const char *path, const coco_ann *a, const coco_image *im, uint8_t *mask,
                     coco_win *win, must_err *err)
{
    size_t p;
    const json_t *part;
    json_array_foreach(a->seg, p, part) {
        size_t n = json_array_size(part);
        if (!json_is_array(part) || n % 2)
            return bad(err, path, "annotations[%d].segmentation[%zu]: not a polygon (a list of "
                       "x, y numbers)", a->index, p);
        double *xy = malloc((n ? n : 1) * sizeof *xy);
        if (!xy)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        for (size_t k = 0; k < n; k++) {
            const json_t *v = json_array_get(part, k);
            if (!json_is_number(v)) {
                free(xy);
                return bad(err, path, "annotations[%d].segmentation[%zu][%zu]: not a number",
                           a->index, p, k);
            }
            xy[k] = json_number_value(v);
        }
        int rc = coco_poly_fill(mask, im->width, im->height, xy, (int)(n / 2), win);
        free(xy);
        if (rc)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    return MUST_OK;
}

/* An RLE object: size [h, w] of the image, counts a list or a string. */
static int rle_mask(const char *path, const coco_ann *a, const coco_image *im, uint8_t *mask,
                    coco_win *win, must_err *err)
{
    const json_t *size = json_object_get(a->seg, "size"), *cnt = json_object_get(a->seg, "counts");
    if (!json_is_array(size) || json_array_size(size) != 2 ||
        !json_is_integer(json_array_get(size, 0)) || !json_is_integer(json_array_get(size, 1)))
        return bad(err, path, "annotations[%d].segmentation.size: not [height, width]", a->index);
    long long h = json_integer_value(json_array_get(size, 0));
    long long w = json_integer_value(json_array_get(size, 1));
    if (h != im->height || w != im->width)
        return bad(err, path, "annotations[%d].segmentation.size: [%lld, %lld], but its image "
                   "(images[%d]) is %d high and %d wide", a->index, h, w, im->index, im->height,
                   im->width);
    uint32_t *c = NULL;
    size_t m = 0;
    int rc = MUST_OK;
    if (json_is_string(cnt)) {
        rc = coco_rle_decode(json_string_value(cnt), &c, &m, err);
    } else if (json_is_array(cnt)) {
        m = json_array_size(cnt);
        if (!(c = malloc((m ? m : 1) * sizeof *c)))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        for (size_t k = 0; k < m && !rc; k++) {
            const json_t *v = json_array_get(cnt, k);
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > (json_int_t)UINT32_MAX)
                rc = bad(err, path, "annotations[%d].segmentation.counts[%zu]: not a pixel "
                         "count", a->index, k);
            else
                c[k] = (uint32_t)json_integer_value(v);
        }
        if (rc) {
            free(c);
            return rc;
        }
    } else {
        return bad(err, path, "annotations[%d].segmentation.counts: %s", a->index,
                   cnt ? "neither a list of counts nor a string" : "missing");
    }
    if (!rc)
        rc = coco_rle_fill(mask, im->width, im->height, c, m, win, err);
    free(c);
    if (rc && rc != MUST_ENOMEM)
        must_err_prefix(err, "%s: annotations[%d].segmentation.counts", path, a->index);
    return rc;
}

int coco_ann_mask(const coco_db *db, const coco_ann *a, uint8_t *mask, coco_win *win,
                  int *has, must_err *err)
{
    const coco_image *im = &db->images[a->image];
    const char *path = db->paths[a->src];
    *has = a->seg && !(json_is_array(a->seg) && json_array_size(a->seg) == 0);
    if (!*has)
        return MUST_OK;
    if (json_is_array(a->seg))
        return poly_mask(path, a, im, mask, win, err);
    if (json_is_object(a->seg))
        return rle_mask(path, a, im, mask, win, err);
    return bad(err, path, "annotations[%d].segmentation: neither polygons nor an RLE object",
               a->index);
}
