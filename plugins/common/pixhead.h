/* pixhead.h - the pixel-wise head the segmentation, depth and normal
 * plugins share (the paper's §3.2): on the fused P2, three 3x3 convs each
 * with batch norm and ReLU, then a 1x1 prediction conv, its output resized
 * bilinearly to the input size.  Compiled into each plugin, so that every
 * plugin stays one self-contained .so that links against nothing. */
#ifndef MUST_PLUGIN_PIXHEAD_H
#define MUST_PLUGIN_PIXHEAD_H

#include "must/task.h"
#include "plugin-util.h"

typedef struct pixhead {
    const must_host *h;
    must_params *p;
    must_tensor *w[3];                          /* (width, cin | width, 3, 3) */
    must_tensor *gamma[3], *beta[3], *rmean[3], *rvar[3]; /* (width) */
    must_tensor *ow, *ob;                       /* (cout, width, 1, 1), (cout) */
    int cin, width, cout;
} pixhead;

/* Parameter names (after env->prefix) follow torch_reference.py's
 * PixelHead, as the reference model's do: body.{0,3,6}.weight for the
 * convs, body.{1,4,7}.{weight,bias,running_mean,running_var} for their
 * batch norms, out.{weight,bias} for the prediction.  `task` names the
 * plugin in errors. */
int pixhead_new(pixhead *ph, const must_host *h, const must_task_env *env, int width, int cout,
                const char *task, must_err *err);
void pixhead_free(pixhead *ph);

/* levels[MUST_P2] (N, cin, h, w) -> (N, cout, in_h, in_w) on the tape. */
must_tensor *pixhead_forward(const pixhead *ph, must_ctx *ctx,
                             must_tensor *const levels[MUST_NLEVELS], int in_h, int in_w);

/* Checks that a prediction (N, C, H, W) fits the batch: N = b->n and
 * H = W = b->size; sets err (naming the task) otherwise. */
int pixhead_check_batch(const must_host *h, const must_tensor *pred, const must_batch *b,
                        const char *task, must_err *err);

#endif
