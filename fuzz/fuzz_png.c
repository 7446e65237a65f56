/* fuzz_png.c - a PNG file from a stranger (an image of a set, a label map):
 * every PNG reader of core/data on the same input.  must_png_read at 8
 * and 16 bits as gray and RGB (one depth fails at once: depths are never
 * converted), must_png_read_index (palette indices, png_index.c),
 * must_png_info, and must_image_read_scaled with the size the header
 * states and with another (a set's declared size).  The pixel limit is
 * lowered to 2^18 so that a header's claim costs little time. */
#include "config.h"

#include "fuzz-util.h"
#include "data/image-impl.h"
#include "data/png-impl.h"
#include "must/image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    must_image_set_max_pixels((size_t)1 << 18);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file("png", data, size);
    must_err err = {0};
    must_image img;
    int w = 0, h = 0, c = 0, d = 0;
    int info = must_png_info(path, &w, &h, &c, &d, &err);
    for (int depth = 8; depth <= 16; depth += 8)
        for (int ch = 1; ch <= 3; ch += 2) {
            if (must_png_read(path, &img, ch, depth, &err) == MUST_OK) {
                /* The header and the pixels must agree. */
                if (info != MUST_OK || img.width != w || img.height != h || depth != d)
                    abort();
                must_image_free(&img);
            }
        }
    int paletted = 0;
    if (must_png_read_index(path, &img, &paletted, &err) == MUST_OK)
        must_image_free(&img);
    float scale = 0;
    int fw = 0, fh = 0;
    if (must_image_read_scaled(path, &img, 3, 0.25f, info == MUST_OK ? w : 0, h, &scale, &fw,
                               &fh, &err) == MUST_OK)
        must_image_free(&img);
    if (info == MUST_OK &&
        must_image_read_scaled(path, &img, 1, 1.0f, w + 1, h, NULL, NULL, NULL, &err) == MUST_OK)
        abort(); /* a size other than the declared one must be refused */
    return 0;
}
