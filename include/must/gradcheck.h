/* must/gradcheck.h - compare analytic gradients with central differences.
 *
 * For op and plugin authors: a new op is correct when its backward agrees
 * with (f(x + eps) - f(x - eps)) / 2 eps at every checked point.
 */
#ifndef MUST_GRADCHECK_H
#define MUST_GRADCHECK_H

#include "must/export.h"
#include "must/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Builds a one-element loss from the tensors of the checked parameter set
 * (captured through user).  Called many times; must be deterministic. */
typedef must_tensor *(*must_loss_fn)(must_ctx *ctx, void *user);

typedef struct must_gradcheck_opts {
    float eps;        /* step; default 1e-3 */
    float tol;        /* |analytic - numeric| / max(|analytic|, |numeric|, 1); default 1e-2 */
    int max_points;   /* per tensor; 0 = every element; default 64 (sampled) */
    uint64_t seed;    /* which points are sampled */
} must_gradcheck_opts;

/* Checks every trainable tensor of `inputs` element by element.  Points
 * whose one-sided differences disagree (a kink such as ReLU at 0 lies
 * within eps) are skipped; more than a quarter skipped is a failure.
 * Returns MUST_OK, or MUST_ENUMERIC with the tensor, index and both values
 * in err. */
MUST_API int must_gradcheck(must_ctx *ctx, must_loss_fn fn, void *user, must_params *inputs,
                            const must_gradcheck_opts *opts, must_err *err);

/* The whole-model check: perturbs every trainable value of the n sets along
 * one random direction d and compares the directional derivative with
 * <grad, d>. */
MUST_API int must_gradcheck_dir(must_ctx *ctx, must_loss_fn fn, void *user,
                                must_params *const *sets,
                                int n, const must_gradcheck_opts *opts, must_err *err);

#ifdef __cplusplus
}
#endif
#endif
