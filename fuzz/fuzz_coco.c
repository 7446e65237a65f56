/* fuzz_coco.c - COCO annotation files from a stranger (must import coco):
 * the reader of core/import/coco_read.c and the masks of coco_mask.c,
 * through the importer's internal API (coco-impl.h), nothing written.  The
 * input is one file, or two split at the first NUL byte (JSON text holds
 * none), read together as the importer reads several (categories merged,
 * image ids per file); boxes checked, then every annotation's mask painted
 * on its image's pixels.  Image sizes are held to 2^16 pixels (the limit
 * every image size read goes through) to keep the masks small. */
#include "config.h"

#include "fuzz-util.h"
#include "import/coco-impl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    must_image_set_max_pixels((size_t)1 << 16);
    return 0;
}

static void masks(const coco_db *db)
{
    for (long i = 0; i < db->nanns; i++) {
        const coco_ann *a = &db->anns[i];
        if (a->image < 0 || a->image >= db->nimages)
            abort();
        const coco_image *im = &db->images[a->image];
        uint8_t *mask = calloc((size_t)im->width * (size_t)im->height + 1, 1);
        if (!mask)
            abort();
        coco_win win;
        coco_win_empty(&win);
        int has = 0;
        must_err err = {0};
        if (coco_ann_mask(db, a, mask, &win, &has, &err) == MUST_OK && has &&
            win.x0 < win.x1 &&
            (win.x0 < 0 || win.y0 < 0 || win.x1 > im->width || win.y1 > im->height))
            abort(); /* the window covers pixels of the image only */
        free(mask);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_scratch("coco");
    mkdir(dir, 0700);
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/a.json", dir);
    snprintf(b, sizeof b, "%s/b.json", dir);
    const uint8_t *nul = memchr(data, 0, size);
    size_t na = nul ? (size_t)(nul - data) : size;
    fuzz_write_file(a, data, na);
    must_coco_source src[2] = {{a, dir, -1}, {b, dir, MUST_SPLIT_VAL}};
    if (nul)
        fuzz_write_file(b, nul + 1, size - na - 1);
    coco_db db;
    must_err err = {0};
    if (coco_db_read(&db, src, nul ? 2 : 1, 1, &err) == MUST_OK) {
        masks(&db);
        coco_db_free(&db);
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
