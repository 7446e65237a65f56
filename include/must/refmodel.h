/* must/refmodel.h - the reference multi-task model: the backbone plus a
 * classification fc on pooled C5 and pixel heads (segmentation, depth) on
 * the fused P2, the same network as the PyTorch peer that the benchmarks
 * compare against (docs/performance.md).  It serves `must model`, the
 * training and labelling benchmarks and the whole-network tests; a C
 * program may use it to time or check the engine.  Real task heads live in
 * the task plugins (must/task.h).
 *
 * Head names: fc.{weight,bias} (torchvision's, so a torchvision ResNet with
 * its fc loads whole); <head>.body.{0,3,6}.weight for the three 3x3 convs,
 * <head>.body.{1,4,7}.* for their batch norms and <head>.out.{weight,bias}
 * for the 1x1 prediction, as torch_reference.py's PixelHead names them. */
#ifndef MUST_REFMODEL_H
#define MUST_REFMODEL_H

#include <stdint.h>

#include "must/export.h"
#include "must/model.h"

#ifdef __cplusplus
extern "C" {
#ifdef __cplusplus
}
#endif
#endif

typedef struct must_refmodel_config {
    must_backbone_config backbone;
    int classes;      /* fc on pooled C5; 0: none */
    int seg_classes;  /* segmentation head on P2; 0: none */
    int depth_head;   /* 1: depth head (one output) on P2 */
    int head_width;   /* channels of the pixel heads' 3x3 convs; default 64 */
} must_refmodel_config;

/* The benchmarks' model: ResNet-18 at half width, FPN 64, 10 classes, a
 * 10-class segmentation head and a depth head of width 64. */
MUST_API void must_refmodel_config_reference(must_refmodel_config *c);

typedef struct must_refmodel must_refmodel;

MUST_API must_refmodel *must_refmodel_new(const must_refmodel_config *c, must_err *err);
MUST_API void must_refmodel_free(must_refmodel *m);

MUST_API must_backbone *must_refmodel_backbone(const must_refmodel *m);
/* Stores the parameter sets (backbone first, then each head present) in
 * sets[0..max-1]; returns how many there are (at most 4). */
MUST_API int must_refmodel_sets(const must_refmodel *m, must_params **sets, int max);

/* Report modules: the backbone's, then "cls", "seg", "depth". */
#define MUST_REFMODEL_NMODULES (MUST_BACKBONE_NMODULES + 3)
MUST_API const char *must_refmodel_module_name(int i);
MUST_API size_t must_refmodel_module_numel(const must_refmodel *m, int i);
/* Forward FLOPs per image at h x w (2 x multiply-adds over convolutions
 * and the fc); per_module has MUST_REFMODEL_NMODULES entries or is NULL. */
MUST_API double must_refmodel_flops(const must_refmodel *m, int h, int w, double *per_module);

/* Outputs: logits (N, classes), seg (N, seg_classes, H, W), depth
 * (N, 1, H, W), each NULL when its head is absent.  Returns MUST_OK or the
 * context's error code. */
MUST_API int must_refmodel_forward(must_refmodel *m, must_ctx *ctx, must_tensor *x,
                                   must_tensor **logits,
                                   must_tensor **seg, must_tensor **depth);

/* The summed loss of every head present: cross-entropy on cls (N labels),
 * per-pixel cross-entropy on seg (N*H*W labels, 255 ignored) and L1 on
 * depth (N*H*W targets).  NULL on error (see must_ctx_error). */
MUST_API must_tensor *must_refmodel_loss(must_refmodel *m, must_ctx *ctx, must_tensor *x,
                                         const int32_t *cls, const int32_t *seg, const float *depth);

#ifdef __cplusplus
}
#endif
#endif
