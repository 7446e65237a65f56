/* ckpt-model.h - the small model fuzz_checkpoint loads into, and that
 * fuzz/mkseeds saves its checkpoint seeds from: a conv, a batch norm's
 * weights and running statistics (buffers) and a linear layer, in two
 * parameter sets ("backbone." and "head."). */
#ifndef MUST_FUZZ_CKPT_MODEL_H
#define MUST_FUZZ_CKPT_MODEL_H

#include <stdlib.h>

#include "must/tensor.h"

static inline void fuzz_model_new(must_params *sets[2])
{
    sets[0] = must_params_new("backbone.");
    sets[1] = must_params_new("head.");
    if (!sets[0] || !sets[1])
        abort();
    int fc[2] = {3, 4}, bias[1] = {3};
    unsigned nd = MUST_T_PARAM | MUST_T_NO_DECAY;
    if (!must_params_add4(sets[0], "conv1.weight", 4, 1, 3, 3, MUST_T_PARAM) ||
        !must_params_add(sets[0], "bn1.weight", 1, (int[]){4}, nd) ||
        !must_params_add(sets[0], "bn1.bias", 1, (int[]){4}, nd) ||
        !must_params_add(sets[0], "bn1.running_mean", 1, (int[]){4}, MUST_T_BUFFER) ||
        !must_params_add(sets[0], "bn1.running_var", 1, (int[]){4}, MUST_T_BUFFER) ||
        !must_params_add(sets[1], "fc.weight", 2, fc, MUST_T_PARAM) ||
        !must_params_add(sets[1], "fc.bias", 1, bias, nd))
        abort();
    must_err e = {0};
    if (must_params_alloc(sets[0], &e) || must_params_alloc(sets[1], &e))
        abort();
}

#endif
