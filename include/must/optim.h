/* must/optim.h - SGD and AdamW over parameter sets, learning-rate schedules,
 * gradient clipping by global norm.
 *
 * An optimizer is built over an array of must_params sets (the backbone and
 * each task's head) and updates only their trainable tensors (MUST_T_PARAM);
 * buffers such as BN running statistics are never touched.  The update rules
 * follow PyTorch's torch.optim.SGD and torch.optim.AdamW so that learning
 * rates and weight decays from the paper and from PyTorch recipes carry over:
 *
 *   SGD:   g' = g + wd * w                       (unless the tensor is excluded)
 *          buf = g' on the first step, else mu * buf + (1 - dampening) * g'
 *          d = nesterov ? g' + mu * buf : buf     (d = g' when mu = 0)
 *          w -= lr * d
 *   AdamW: w *= 1 - lr * wd                      (decoupled; unless excluded)
 *          m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
 *          w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *
 * Results are bit-identical for identical inputs and do not depend on the
 * thread count: the update is elementwise and the global norm is summed in a
 * fixed order of fixed chunks.
 */
#ifndef MUST_OPTIM_H
#define MUST_OPTIM_H

#include <stddef.h>

#include "must/export.h"
#include "must/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum must_optim_kind { MUST_OPTIM_SGD = 0, MUST_OPTIM_ADAMW = 1 };

/* What the learning rate does after the warm-up. */
enum must_sched_kind {
    MUST_SCHED_CONSTANT = 0, /* base lr */
    MUST_SCHED_COSINE = 1,   /* half a cosine from base lr to final_lr at total_steps */
    MUST_SCHED_STEP = 2      /* times gamma at each milestone, or every step_every steps */
};

#define MUST_OPTIM_MAX_MILESTONES 16

typedef struct must_optim_config {
    int kind;               /* enum must_optim_kind */
    double lr;              /* base learning rate */
    double weight_decay;
    /* 1: tensors flagged MUST_T_NO_DECAY (BN weights and biases, conv and
     * linear biases) get no weight decay.  0: every trainable tensor does. */
    int no_decay_exclude;
    /* SGD */
    double momentum;
    double dampening;
    int nesterov;           /* needs momentum > 0 and dampening = 0 */
    /* AdamW */
    double beta1, beta2, eps;
    /* Clip the global gradient norm (over every set) to this; <= 0: no
     * clipping (the norm is still computed, reported and checked finite). */
    double clip_norm;

    /* The schedule.  lr(step) = base(step) * warmup(step), where step counts
     * the updates already made (the first update uses step 0) and
     *   warmup(step) = warmup_start + (1 - warmup_start) * step / warmup_steps
     *                  for step < warmup_steps, else 1;
     *   base(step)   = lr                                         constant
     *                = final_lr + (lr - final_lr) (1 + cos(pi p)) / 2   cosine,
     *                  p = (step - warmup_steps) / (total_steps - warmup_steps)
     *                  clamped to [0, 1]
     *                = lr * gamma^k                               step, k = the
     *                  number of milestones <= step, or step / step_every. */
    int sched;              /* enum must_sched_kind */
    long warmup_steps;      /* 0: no warm-up */
    double warmup_start;    /* factor at step 0; 0 = warm up from zero */
    long total_steps;       /* cosine: where the decay ends */
    double final_lr;        /* cosine: lr at total_steps and after */
    double gamma;           /* step decay factor */
    long step_every;        /* step decay every k steps (0: use milestones) */
    long milestones[MUST_OPTIM_MAX_MILESTONES]; /* ascending */
    int n_milestones;

    int threads;            /* <= 0: one per core */
} must_optim_config;

/* Fills c with PyTorch's defaults for the kind: SGD lr 0.1 (PyTorch has no
 * default), momentum 0, no decay; AdamW lr 1e-3, betas (0.9, 0.999), eps
 * 1e-8, weight decay 1e-2.  Constant schedule, no warm-up, no clipping,
 * gamma 0.1, no_decay_exclude 1. */
MUST_API void must_optim_config_default(must_optim_config *c, int kind);

typedef struct must_optim must_optim;

/* Builds an optimizer over nsets allocated parameter sets (it keeps the
 * pointers; the sets must outlive it).  Allocates its state vectors, zeroed.
 * Checks the configuration (lr >= 0, betas in [0, 1), milestones ascending,
 * ...) and returns NULL with the reason in err.  Free with must_optim_free. */
MUST_API must_optim *must_optim_new(const must_optim_config *cfg, must_params *const *sets,
                                    int nsets,
                                    must_err *err);
MUST_API void must_optim_free(must_optim *opt);

MUST_API const must_optim_config *must_optim_get_config(const must_optim *opt);

/* The learning rate of the update made at `step`: a pure function of the
 * configuration and the step. */
MUST_API double must_optim_lr(const must_optim *opt, long step);
/* The same, for a configuration without an optimizer. */
MUST_API double must_optim_sched_lr(const must_optim_config *cfg, long step);

typedef struct must_optim_report {
    long step;          /* the step this update was made at */
    double lr;          /* the learning rate used */
    double grad_norm;   /* global L2 norm of the gradients, before clipping */
    int clipped;        /* 1 when the gradients were scaled down */
} must_optim_report;

/* One update from the gradients currently in the sets' gradient blocks:
 * computes the global norm, clips (scaling the gradients in place, as
 * torch.nn.utils.clip_grad_norm_ does), updates every trainable value and
 * advances the step.  A non-finite norm returns MUST_ENUMERIC and changes
 * nothing (no update, step not advanced).  rep may be NULL.  The gradients
 * are not zeroed. */
MUST_API int must_optim_step(must_optim *opt, must_optim_report *rep, must_err *err);

/* Updates made so far. */
MUST_API long must_optim_get_step(const must_optim *opt);
MUST_API void must_optim_set_step(must_optim *opt, long step);

/* The global L2 norm of the sets' gradients, summed in a fixed order. */
MUST_API double must_optim_grad_norm(const must_optim *opt);

/* ---- State for an exact resume -----------------------------------------
 * The state is the step count and one vector per trainable tensor and kind:
 * "momentum.<tensor name>" (SGD with momentum), "exp_avg.<tensor name>" and
 * "exp_avg_sq.<tensor name>" (AdamW).  Each vector has the tensor's shape.
 * SGD without momentum has no vectors. */
typedef struct must_optim_state {
    const char *name;          /* owned by the optimizer */
    const must_tensor *param;  /* the tensor the vector belongs to */
    float *data;               /* param->numel floats, writable for restore */
} must_optim_state;

/* "sgd" or "adamw". */
MUST_API const char *must_optim_kind_name(int kind);
MUST_API int must_optim_state_count(const must_optim *opt);
/* i in [0, count); NULL outside. */
MUST_API const must_optim_state *must_optim_state_get(const must_optim *opt, int i);
MUST_API const must_optim_state *must_optim_state_find(const must_optim *opt, const char *name);

#ifdef __cplusplus
}
#endif
#endif
