/* must/weighting.h - learned uncertainty weighting of task losses (Kendall,
 * Gal and Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses",
 * CVPR 2018): one learnable log-variance s_i = log sigma_i^2 per task and
 *
 *   L = sum_i ( exp(-s_i) L_i + s_i ).
 *
 * exp(-s_i) is task i's effective weight.  For a fixed L_i the term is
 * smallest at s_i = log L_i, so the weights settle where every weighted loss
 * is about 1.  This is the paper's form with the regression task's factors
 * 1/2 dropped (its regression term is half of ours: the same minimum, half
 * the gradient), one form for every task, as classification, detection and
 * segmentation have no principled 1/2 (docs/experiments.md).
 *
 * The log-variances are ordinary parameters: a set the optimizer trains
 * (with no weight decay) and a checkpoint saves, so a resumed run restores
 * them exactly. */
#ifndef MUST_WEIGHTING_H
#define MUST_WEIGHTING_H

#include "must/export.h"
#include "must/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The prefix of the set's tensors: "loss.log_var.<task>". */
#define MUST_WEIGHTING_PREFIX "loss."

/* A parameter set with one trainable one-element tensor "log_var.<name>"
 * per task (flagged MUST_T_NO_DECAY), allocated and set to s0[i] (s0 NULL:
 * 0).  Returns NULL with the reason in err (a non-finite s0, a name too
 * long, out of memory).  Free with must_params_free. */
MUST_API must_params *must_weighting_params(int n, const char *const *names, const double *s0,
                                            must_err *err);

/* exp(-s) * loss + s for one-element loss and log_var, recorded for
 * autodiff: d/dloss = exp(-s), d/ds = 1 - exp(-s) * loss.  An op: NULL
 * inputs give NULL, a bad shape sets the context's sticky error. */
MUST_API must_tensor *must_weighting_term(must_ctx *ctx, must_tensor *loss, must_tensor *log_var);

/* sum_i must_weighting_term(losses[i], log_var i of p): the total loss. */
MUST_API must_tensor *must_weighting_total(must_ctx *ctx, int n, must_tensor *const *losses,
                                           const must_params *p);

/* Task i's effective weight exp(-s_i) now. */
MUST_API double must_weighting_weight(const must_params *p, int i);

#ifdef __cplusplus
}
#endif
#endif
