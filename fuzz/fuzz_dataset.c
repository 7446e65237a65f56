/* fuzz_dataset.c - a dataset directory from a stranger (docs/dataset-
 * format.md): dataset.ini, the split lists, the text label stores and the
 * images and label maps they name, opened (must_dataset_open), every image
 * loaded with all its labels (must_dataset_load) and at a reduced scale
 * (the loader's path), then the whole set checked (must_dataset_check).
 *
 * The input is a tiny container of files separated by NUL bytes (text
 * holds none).  The first is dataset.ini; each other starts with a line
 * naming its path in the set (splits/train.txt, labels/detection.txt,
 * images/a.png, labels/depth/a.png ...) and the rest is its content, or,
 * for an image, a line that makes one (images are not what this target
 * fuzzs: fuzz_png and fuzz_jpeg do):
 *   !png W H C D V [V2]  a PNG of W x H (1..48), C channels (1 or 3), D bits
 *                        (8 or 16), every sample V, or V and V2 in a
 *                        checkerboard (class ids, depths, normals)
 *   !jpg W H C V         a baseline JPEG of that size, every sample near V
 * Paths are relative, of [A-Za-z0-9_.-/] and without "..": the set stays
 * in this process's scratch directory.  At most 32 files. */
#include "config.h"

#include "fuzz-util.h"
#include "base/io-impl.h"
#include "data/dataset-impl.h"
#include "data/image-impl.h"
#include "must/dataset.h"
#include "must/image.h"
#include "must/io.h"
#include "must/labels.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    must_image_set_max_pixels((size_t)1 << 16);
    return 0;
}

static int path_ok(const char *p)
{
    if (!*p || *p == '/' || strstr(p, "..") || strlen(p) > 200)
        return 0;
    for (; *p; p++)
        if (!(*p == '/' || *p == '.' || *p == '_' || *p == '-' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return 0;
    return 1;
}

/* "!png ..." or "!jpg ...": the image made at path. */
static void make_image(const char *path, const char *spec)
{
    int w, h, c, d = 8;
    unsigned v, v2;
    int png = strncmp(spec, "!png", 4) == 0;
    int n = png ? sscanf(spec + 4, "%d %d %d %d %u %u", &w, &h, &c, &d, &v, &v2)
                : sscanf(spec + 4, "%d %d %d %u", &w, &h, &c, &v);
    if (n < (png ? 5 : 4) || w < 1 || h < 1 || w > 48 || h > 48 || (c != 1 && c != 3) ||
        (d != 8 && d != 16))
        return;
    if (!png || n < 6)
        v2 = v;
    must_image img;
    must_err err = {0};
    if (must_image_alloc(&img, w, h, c, png ? d : 8, &err) != MUST_OK)
        abort();
    size_t per = (size_t)w * c;
    for (int y = 0; y < h; y++)
        for (size_t i = 0; i < per; i++) {
            unsigned s = ((size_t)y + i / (size_t)c) % 2 ? v2 : v;
            if (img.depth == 16)
                ((uint16_t *)img.pixels)[(size_t)y * per + i] = (uint16_t)s;
            else
                ((uint8_t *)img.pixels)[(size_t)y * per + i] = (uint8_t)s;
        }
    if (png)
        must_png_write_nosync(path, &img, &err);
    else
        must_jpeg_write(path, &img, 90, &err);
    must_image_free(&img);
}

/* One file of the container: "PATH\nCONTENT". */
static void make_file(const char *dir, const char *piece, size_t len)
{
    const char *nl = memchr(piece, '\n', len);
    if (!nl || nl == piece || (size_t)(nl - piece) > 200)
        return;
    char rel[256], path[4400];
    memcpy(rel, piece, (size_t)(nl - piece));
    rel[nl - piece] = '\0';
    if (!path_ok(rel))
        return;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    must_err err = {0};
    if (must_mkdir_p(path, &err) != MUST_OK)
        return; /* a file where a directory is wanted */
    *slash = '/';
    const char *body = nl + 1;
    size_t blen = len - (size_t)(body - piece);
    if (blen >= 4 && (strncmp(body, "!png", 4) == 0 || strncmp(body, "!jpg", 4) == 0)) {
        char spec[128];
        size_t k = blen < sizeof spec - 1 ? blen : sizeof spec - 1;
        memcpy(spec, body, k);
        spec[k] = '\0';
        make_image(path, spec);
        return;
    }
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return; /* a directory of that name */
    fwrite(body, 1, blen, fp);
    fclose(fp);
}

static void on_report(void *user, int is_problem, const char *line)
{
    if (!line || strchr(line, '\n'))
        abort(); /* lines carry no "\n" */
    *(long *)user += is_problem;
}

static void use(must_dataset *ds)
{
    int n = must_dataset_count(ds);
    for (int s = 0; s < MUST_NSPLITS; s++) {
        const int *idx;
        int k = must_dataset_split(ds, s, &idx);
        for (int i = 0; i < k; i++)
            if (idx[i] < 0 || idx[i] >= n)
                abort();
    }
    for (int i = 0; i < n && i < 16; i++) {
        must_map image = {0};
        must_labels labels;
        must_labels_init(&labels);
        must_err err = {0};
        if (must_dataset_find(ds, must_dataset_id(ds, i)) != i)
            abort();
        must_dataset_load(ds, i, MUST_LABEL_ALL, &image, &labels, &err);
        must_map_free(&image);
        must_labels_free(&labels);
        must_labels_init(&labels);
        ds_load_scaled(ds, i, MUST_LABEL_ALL, 0.3f, &image, NULL, NULL, NULL, &labels, &err);
        must_map_free(&image);
        must_labels_free(&labels);
        const float *soft;
        must_dataset_cls(ds, i, &soft);
        must_dataset_boxes(ds, i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_scratch("dataset");
    fuzz_rm_tree(dir);
    if (mkdir(dir, 0700) != 0)
        abort();
    char path[4400];
    const char *p = (const char *)data, *end = p + size;
    for (int f = 0; p <= end && f < 33; f++) {
        const char *nul = memchr(p, 0, (size_t)(end - p));
        size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);
        if (f == 0) {
            snprintf(path, sizeof path, "%s/dataset.ini", dir);
            fuzz_write_file(path, p, len);
        } else {
            make_file(dir, p, len);
        }
        if (!nul)
            break;
        p = nul + 1;
    }
    must_dataset *ds;
    must_err err = {0};
    if (must_dataset_open(dir, &ds, &err) == MUST_OK) {
        use(ds);
        must_dataset_close(ds);
    } else if (!err.msg[0]) {
        abort();
    }
    long problems = 0;
    int counted = 0;
    if (must_dataset_check(dir, on_report, &problems, &counted, &err) == MUST_OK &&
        counted != problems)
        abort(); /* the count is the problems reported */
    return 0;
}
