/* pixhead.h - the pixel-wise head the segmentation, depth and normal
 * plugins share (the paper's §3.2): on the fused P2, three 3x3 convs each
 * with batch norm and ReLU, then a 1x1 prediction conv, its output resized
 * bilinearly to the input size.  Compiled into each plugin, so that every
 * plugin stays one self-contained .so that links against nothing. */
#ifndef MUST_PLUGIN_PIXHEAD_H
#define MUST_PLUGIN_PIXHEAD_H

#include <stddef.h>

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

/* ---- the vtable callbacks the three pixel tasks share ------------------
 * A pixel task's head is a struct whose first member is its pixhead (C
 * lets a pointer to the struct be read as one to that member), followed by
 * what the plugin keeps of its own (its config, its class count):
 *
 *     typedef struct depth_head { pixhead ph; depth_config cfg; } depth_head;
 *
 * so that the callbacks below serve any of them directly in the ops table
 * (.head_free = pixhead_cb_head_free, ...) and the plugin's head_new is
 * pixhead_cb_head_new plus its own members. */

/* head_new's shared part: a zeroed head of head_size bytes (at least a
 * pixhead) into *out, its pixel head built for width channels and cout
 * outputs; on failure nothing is left allocated and *out is untouched. */
int pixhead_cb_head_new(const must_host *h, const must_task_env *env, size_t head_size,
                        int width, int cout, const char *task, void **out, must_err *err);
/* Frees the pixel head's parameters and the head. */
void pixhead_cb_head_free(void *head);
must_params *pixhead_cb_head_params(void *head);
/* P2, the only level the pixel head reads. */
unsigned pixhead_cb_head_levels(void *head);
/* pixhead_forward: the prediction is the (N, cout, in_h, in_w) tensor. */
void *pixhead_cb_forward(void *head, must_ctx *ctx, must_tensor *const levels[MUST_NLEVELS],
                         int in_h, int in_w);

/* Checks that a prediction (N, C, H, W) fits the batch: N = b->n and
 * H = W = b->size; sets err (naming the task) otherwise. */
int pixhead_check_batch(const must_host *h, const must_tensor *pred, const must_batch *b,
                        const char *task, must_err *err);

#endif
