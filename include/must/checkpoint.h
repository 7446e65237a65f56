/* must/checkpoint.h - parameter sets, optimizer state and run state in one
 * safetensors file (the scheme is in docs/checkpoints.md).
 *
 * Weights are stored under their full dotted names (torchvision's
 * "layer1.0.conv1.weight", "bn1.running_mean"), so a checkpoint is also a
 * plain weight file other tools can read.  What only a resume needs goes
 * where a weight loader does not look:
 *   "__optim__.<state>"  optimizer vectors, e.g. "__optim__.momentum.fc.weight"
 *   metadata "must.*"    step, optimizer kind and step, RNG state, config text
 */
#ifndef MUST_CHECKPOINT_H
#define MUST_CHECKPOINT_H

#include "must/export.h"
#include "must/optim.h"
#include "must/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Names under this prefix belong to the checkpoint's own state, never to a
 * model; a tensor of a set may not start with it. */
#define MUST_CKPT_OPTIM_PREFIX "__optim__."

/* Metadata keys. */
#define MUST_CKPT_META_FORMAT "must.format"       /* "must-checkpoint-1" */
#define MUST_CKPT_META_STEP "must.step"           /* decimal training step */
#define MUST_CKPT_META_OPTIM "must.optim"         /* "sgd" or "adamw" */
#define MUST_CKPT_META_OPTIM_STEP "must.optim.step" /* decimal optimizer step */
#define MUST_CKPT_META_RNG "must.rng"             /* 4 x 16 hex digits, ':'-separated */
#define MUST_CKPT_META_CONFIG "must.config"       /* the experiment's INI text */
#define MUST_CKPT_META_MODEL "must.model"         /* the model card (JSON, docs/checkpoints.md) */

typedef struct must_ckpt_save_opts {
    const must_optim *optim; /* NULL: no optimizer state */
    const must_rng *rng;     /* NULL: no RNG state */
    const char *config;      /* NULL: no config text (must be UTF-8) */
    long step;               /* < 0: no step */
    const char *model;       /* NULL: no model card (JSON text) */
} must_ckpt_save_opts;

/* Writes every tensor (parameters and buffers) of the nsets sets, and what
 * opts asks for, to path atomically.  opts may be NULL (weights only).  Two
 * tensors of the same name, or a name starting with "__", are refused. */
MUST_API int must_ckpt_save(const char *path, must_params *const *sets, int nsets,
                            const must_ckpt_save_opts *opts, must_err *err);

/* Load flags.  Strict (0) refuses a file that lacks a tensor of the sets
 * (missing) or has a weight the sets lack (unexpected). */
enum {
    MUST_CKPT_STRICT = 0,
    MUST_CKPT_ALLOW_MISSING = 1u << 0,    /* missing tensors keep their values */
    MUST_CKPT_ALLOW_UNEXPECTED = 1u << 1, /* e.g. heads when only the backbone loads */
    MUST_CKPT_ALLOW_PARTIAL = MUST_CKPT_ALLOW_MISSING | MUST_CKPT_ALLOW_UNEXPECTED
};

typedef struct must_ckpt_load_opts {
    unsigned flags;     /* MUST_CKPT_* */
    /* Restores the optimizer's step and every state vector; the file must
     * hold state of the same kind for every vector (else MUST_ENOTFOUND or
     * MUST_EINVAL).  NULL: optimizer entries are skipped. */
    must_optim *optim;
    /* Restores the generator; the file must hold one (else MUST_ENOTFOUND). */
    must_rng *rng;
} must_ckpt_load_opts;

/* What a load found.  Zero-initialise; free with must_ckpt_report_free. */
typedef struct must_ckpt_report {
    int n_loaded;       /* tensors of the sets filled from the file */
    int n_ignored;      /* num_batches_tracked entries the sets do not have */
    char **missing;     /* names in the sets, not in the file */
    int n_missing;
    char **unexpected;  /* weight names in the file, not in the sets */
    int n_unexpected;
    long step;          /* "must.step", or -1 */
    char *config;       /* "must.config", or NULL */
    int has_optim, has_rng;
    char *model;        /* "must.model", or NULL */
} must_ckpt_report;

MUST_API void must_ckpt_report_free(must_ckpt_report *r);

/* Fills the sets' tensors of the same names from path (converting F16, BF16,
 * F64 and integer data to float).  Nothing is changed unless the whole load
 * succeeds.  Refused: a shape that differs (the message has the name and
 * both shapes); in strict mode, missing or unexpected names (all listed in
 * the message).  I64 "num_batches_tracked" entries (torchvision's BN
 * counters) that the sets lack are ignored.  opts may be NULL (strict, no
 * optimizer or RNG); rep may be NULL. */
MUST_API int must_ckpt_load(const char *path, must_params *const *sets, int nsets,
                            const must_ckpt_load_opts *opts, must_ckpt_report *rep, must_err *err);

/* The RNG state as metadata text and back. */
MUST_API void must_ckpt_rng_format(const must_rng *r, char buf[68]);
MUST_API int must_ckpt_rng_parse(const char *s, must_rng *r);

#ifdef __cplusplus
}
#endif
#endif
