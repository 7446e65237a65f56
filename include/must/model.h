/* must/model.h - the shared ResNet-FPN backbone (the paper's Figure 3).
 *
 * A ResNet (18/34 with basic blocks, 50 with bottlenecks; any width) gives
 * C2..C5; an optional FPN turns C3..C5 into P3..P7, and P2 is the
 * parameter-free fusion of every FPN level resized bilinearly to C2's size
 * and summed (the paper's §3.2).  Task heads are built from the feature
 * description and ask the forward pass for the levels they need; only the
 * layers those levels depend on run.
 *
 * Parameter names follow torchvision's ResNet exactly (conv1.weight,
 * bn1.running_mean, layer2.0.downsample.1.weight, ...), so a torchvision
 * state dict saved as safetensors loads straight into the backbone's set.
 * The FPN's names are listed in docs/model.md.
 */
#ifndef MUST_MODEL_H
#define MUST_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "must/error.h"
#include "must/export.h"
#include "must/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Feature levels.  Cn is ResNet stage n's output; Pn an FPN level; P2 the
 * fused map.  The numbers name the usual strides (level n at 2^n) but the
 * real strides follow the stem's configuration: see must_feature_desc. */
enum must_level {
    MUST_C2, MUST_C3, MUST_C4, MUST_C5,
    MUST_P2, MUST_P3, MUST_P4, MUST_P5, MUST_P6, MUST_P7,
    MUST_NLEVELS
};
#define MUST_LEVEL_BIT(l) (1u << (l))

/* "C2" .. "P7"; NULL outside the range. */
MUST_API const char *must_level_name(int level);
/* "C5" -> MUST_C5 (case-insensitive); -1 when not a level. */
MUST_API int must_level_parse(const char *name);
/* A comma-separated list ("C5,P2,P3") into a bit mask of MUST_LEVEL_BIT(). */
MUST_API int must_levels_parse(const char *list, unsigned *mask, must_err *err);

typedef struct must_backbone_config {
    int depth;          /* 18 or 34 (basic blocks), 50 (bottleneck); default 50 */
    float width;        /* multiplies the stem (64) and stage widths (64..512); default 1 */
    int in_channels;    /* default 3 */
    int stem_kernel;    /* odd; default 7 */
    int stem_stride;    /* default 2 */
    int stem_pool;      /* 1: 3x3 stride-2 max-pool after the stem (default); 0: none */
    int fpn_channels;   /* 0: no FPN; default 256 */
    int fpn_min_level;  /* lowest level with a lateral, 3..5; default 3 */
    int fpn_max_level;  /* highest level, 5..7 (P6, P7 by stride-2 convs); default 7 */
    int fpn_bn;         /* 1: batch norm after every FPN output conv; default 0 */
    float bn_momentum;  /* default 0.1 (PyTorch's) */
    float bn_eps;       /* default 1e-5 */
    uint64_t seed;      /* initialisation; default 1 */
} must_backbone_config;

/* Fills c with the defaults: ResNet-50, width 1, FPN 256 channels, P3..P7. */
MUST_API void must_backbone_config_default(must_backbone_config *c);

/* What a head can be built from: which levels exist, their channels and
 * strides (input pixels per feature pixel). */
typedef struct must_feature_desc {
    unsigned present;            /* MUST_LEVEL_BIT of every level the backbone gives */
    int channels[MUST_NLEVELS];  /* 0 where absent */
    int stride[MUST_NLEVELS];    /* 0 where absent */
} must_feature_desc;

typedef struct must_backbone must_backbone;

/* Builds and initialises a backbone (Kaiming-normal convs, BN weight 1,
 * bias 0, running_var 1; deterministic from c->seed).  c may be NULL for
 * the defaults.  Returns NULL with err filled on a bad configuration. The
 * caller frees it with must_backbone_free. */
MUST_API must_backbone *must_backbone_new(const must_backbone_config *c, must_err *err);
MUST_API void must_backbone_free(must_backbone *bb);

/* The configuration it was built from (defaults filled in). */
MUST_API const must_backbone_config *must_backbone_config_of(const must_backbone *bb);
MUST_API void must_backbone_features(const must_backbone *bb, must_feature_desc *d);

/* The backbone's parameters and buffers, owned by the backbone: hand them
 * to an optimizer or a checkpoint, do not free them. */
MUST_API must_params *must_backbone_params(const must_backbone *bb);

/* Re-initialises every tensor from seed, as must_backbone_new does. */
MUST_API void must_backbone_init(must_backbone *bb, uint64_t seed);

/* Module names for reports, in order: "stem", "layer1".."layer4", "fpn". */
#define MUST_BACKBONE_NMODULES 6
MUST_API const char *must_backbone_module_name(int i);
/* Trainable elements in module i (0..MUST_BACKBONE_NMODULES-1). */
MUST_API size_t must_backbone_module_numel(const must_backbone *bb, int i);

/* Forward FLOPs per image (2 x multiply-adds over the convolutions) for an
 * h x w input, counting only the layers that the levels in `want` need.
 * per_module (MUST_BACKBONE_NMODULES entries) may be NULL.  Returns 0 for
 * an input too small for the network. */
MUST_API double must_backbone_flops(const must_backbone *bb, int h, int w, unsigned want,
                                    double *per_module);

/* Runs x (N, in_channels, H, W) through the layers that the levels in
 * `want` need and stores each requested level in out[level] (the others
 * are set to NULL).  Outputs are activations on ctx's tape.  BN follows
 * must_ctx_training(ctx).  Returns MUST_OK or the context's error code
 * (the message is in must_ctx_error(ctx)); asking for a level the
 * backbone lacks (a P level without an FPN) is MUST_EINVAL. */
MUST_API int must_backbone_forward(must_backbone *bb, must_ctx *ctx, must_tensor *x, unsigned want,
                                   must_tensor *out[MUST_NLEVELS]);

#ifdef __cplusplus
}
#endif
#endif
