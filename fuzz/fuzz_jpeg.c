/* fuzz_jpeg.c - a JPEG file from a stranger (a photo of a set, an import):
 * must_jpeg_info, must_jpeg_read as RGB and as gray, must_image_read (the
 * format told from the first bytes), and the loader's reduced-scale decode
 * (must_image_read_scaled, image-impl.h) at 1/8, 3/8 and 5/8 with the
 * size the header states.  The pixel limit is lowered to 2^18 so that a
 * header's claim costs little time. */
#include "config.h"

#include "fuzz-util.h"
#include "data/image-impl.h"
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
    const char *path = fuzz_input_file("jpeg", data, size);
    must_err err = {0};
    must_image img;
    int w = 0, h = 0, c = 0, d = 0;
    int info = must_jpeg_info(path, &w, &h, &c, &d, &err);
    if (info != MUST_OK)
        return 0; /* every reader below opens the same header first */
    for (int ch = 1; ch <= 3; ch += 2)
        if (must_jpeg_read(path, &img, ch, 8, &err) == MUST_OK) {
            if (img.width != w || img.height != h)
                abort(); /* the header and the pixels must agree */
            must_image_free(&img);
        }
    if (must_image_read(path, &img, 3, 8, &err) == MUST_OK)
        must_image_free(&img);
    static const float scales[] = {0.1f, 0.3f, 0.6f};
    for (int i = 0; i < 3; i++) {
        float scale = 0;
        int fw = 0, fh = 0;
        if (must_image_read_scaled(path, &img, i == 1 ? 1 : 3, scales[i], w, h, &scale, &fw, &fh,
                                   &err) == MUST_OK) {
            if (fw != w || fh != h || img.width > w || img.height > h)
                abort();
            must_image_free(&img);
        }
    }
    return 0;
}
