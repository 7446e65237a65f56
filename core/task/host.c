/* host.c - the table of engine functions handed to every task plugin, so
 * that a plugin links against nothing of libmust: one plugin binary serves
 * any build of the library with the same ABI (docs/plugins.md). */
#include "config.h"

#include "must/augment.h"
#include "must/dataset.h"
#include "must/image.h"
#include "must/labels.h"
#include "must/ops.h"
#include "must/tensor.h"
#include "plugin-impl.h"

static const must_host host = {
    .abi_version = MUST_TASK_ABI_VERSION,
    .struct_size = sizeof(must_host),
    .version = PACKAGE_VERSION,

    .err_set = must_err_set,
    .ctx_fail = must_ctx_fail,
    .ctx_error = must_ctx_error,
    .ctx_training = must_ctx_training,
    .ctx_threads = must_ctx_threads,
    .ctx_alloc = must_ctx_alloc,
    .tensor_new = must_tensor_new,
    .tape_record = must_tape_record,

    .params_new = must_params_new,
    .params_add = must_params_add,
    .params_alloc = must_params_alloc,
    .params_free = must_params_free,
    .rng_seed = must_rng_seed,
    .rng_uniform = must_rng_uniform,
    .init_kaiming = must_init_kaiming,
    .init_const = must_init_const,
    .init_uniform = must_init_uniform,

    .conv2d = must_op_conv2d,
    .batchnorm = must_op_batchnorm,
    .relu = must_op_relu,
    .add = must_op_add,
    .mul = must_op_mul,
    .scale = must_op_scale,
    .sigmoid = must_op_sigmoid,
    .exp = must_op_exp,
    .sum = must_op_sum,
    .mean = must_op_mean,
    .concat = must_op_concat,
    .resize_nearest = must_op_resize_nearest,
    .resize_bilinear = must_op_resize_bilinear,
    .maxpool = must_op_maxpool,
    .global_avgpool = must_op_global_avgpool,
    .linear = must_op_linear,
    .reshape = must_op_reshape,
    .flatten = must_op_flatten,
    .l2normalize = must_op_l2normalize,
    .cross_entropy = must_op_cross_entropy,
    .soft_cross_entropy = must_op_soft_cross_entropy,
    .bce_logits = must_op_bce_logits,
    .huber = must_op_huber,
    .l1 = must_op_l1,
    .l2 = must_op_l2,
    .cosine_loss = must_op_cosine_loss,

    .map_alloc = must_map_alloc,
    .map_free = must_map_free,
    .boxes_push = must_boxes_push,
    .labels_set_soft = must_labels_set_soft,
    .image_alloc = must_image_alloc,
    .image_free = must_image_free,

    .ctx_grad = must_ctx_grad,
    .shape_str = must_shape_str,
    .rng_normal = must_rng_normal,
    .rng_below = must_rng_below,
    .dataset_id = must_dataset_id,
    .dataset_nclasses = must_dataset_nclasses,
    .dataset_label_path = must_dataset_label_path,
    .png_read = must_png_read,
    .png_write = must_png_write,
    .aug_resample_nearest = must_aug_resample_nearest,
    .aug_flip_map = must_aug_flip_map,

    .nt_xent = must_op_nt_xent,
};

const must_host *must_host_table(void)
{
    return &host;
}
