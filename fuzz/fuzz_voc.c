/* fuzz_voc.c - a Pascal VOC annotation file from a stranger (must import
 * voc): voc_xml_read (core/import/voc_xml.c, libxml2), then its objects as
 * must's boxes on the image size it states (voc_labels.c), or on 500 x 375
 * when it states none.  Without libxml2 in the build the reader only says
 * so, and this target tests that. */
#include "config.h"

#include "fuzz-util.h"
#include "import/voc-impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file("voc", data, size);
    voc_annotation a;
    must_err err = {0};
    if (voc_xml_read(path, &a, &err) != MUST_OK) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    if (a.nobj < 0 || (a.nobj && !a.obj) || strlen(a.filename) >= sizeof a.filename)
        abort();
    int w = a.width > 0 ? a.width : 500, h = a.height > 0 ? a.height : 375;
    must_boxes boxes = {0};
    voc_box_counts c = {0};
    if (voc_boxes(path, &a, w, h, &boxes, &c, &err) == MUST_OK)
        for (int i = 0; i < boxes.n; i++) {
            const must_box *bx = &boxes.v[i];
            if (!(bx->x0 >= 0 && bx->y0 >= 0 && bx->x1 <= w && bx->y1 <= h) ||
                bx->cls < 0 || bx->cls >= VOC_NCLASSES)
                abort(); /* clipped into the image, a class of the 20 */
        }
    must_boxes_free(&boxes);
    voc_annotation_free(&a);
    return 0;
}
