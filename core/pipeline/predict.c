/* predict.c - a checkpoint's model rebuilt from its model card and applied
 * to one image of any size (must/predict.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "must/augment.h"
#include "must/checkpoint.h"
#include "must/predict.h"
#include "pipeline-impl.h"

struct must_predictor {
    pl_model m;
    char *path;
    must_ctx *ctx;
};

void must_predictor_free(must_predictor *p)
{
    if (!p)
        return;
    pl_model_free(&p->m);
    must_ctx_free(p->ctx);
    free(p->path);
    free(p);
}

int must_predictor_open(const char *model, int threads, must_predictor **out, must_err *err)
{
    *out = NULL;
    must_predictor *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(model)) || !(p->ctx = must_ctx_new(threads))) {
        must_predictor_free(p);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    pl_card c;
    int rc = pl_card_read(model, &c, err);
    if (rc) {
        must_predictor_free(p);
        return rc;
    }
    rc = pl_model_build(&p->m, &c.bbc, c.image_size, c.desc, c.ntasks, model, err);
    pl_card_free(&c);
    if (!rc) {
        /* Every tensor of the model must be there; what else a file holds
         * (a resume file's learned loss weights) is not the model's. */
        must_ckpt_load_opts lo = {0};
        lo.flags = MUST_CKPT_ALLOW_UNEXPECTED;
        rc = must_ckpt_load(model, p->m.sets, p->m.nsets, &lo, NULL, err);
    }
    if (rc) {
        must_predictor_free(p);
        return rc;
    }
    must_ctx_set_training(p->ctx, 0);
    must_ctx_set_grad(p->ctx, 0);
    *out = p;
    return MUST_OK;
}

const char *must_predictor_path(const must_predictor *p)
{
    return p->path;
}

int must_predictor_image_size(const must_predictor *p)
{
    return p->m.image_size;
}

int must_predictor_ntasks(const must_predictor *p)
{
    return p->m.ntasks;
}

const char *must_predictor_task_name(const must_predictor *p, int i)
{
    return i >= 0 && i < p->m.ntasks ? p->m.desc[i].name : NULL;
}

const char *must_predictor_task_plugin(const must_predictor *p, int i)
{
    return i >= 0 && i < p->m.ntasks ? p->m.desc[i].plugin : NULL;
}

int must_predictor_task_kind(const must_predictor *p, int i)
{
    return i >= 0 && i < p->m.ntasks ? must_task_get_ops(p->m.task[i])->label_kind : -1;
}

int must_predictor_nclasses(const must_predictor *p, int i)
{
    return i >= 0 && i < p->m.ntasks ? p->m.desc[i].nclasses : 0;
}

const char *must_predictor_class_name(const must_predictor *p, int i, int c)
{
    if (i < 0 || i >= p->m.ntasks || c < 0 || c >= p->m.desc[i].nclasses)
        return NULL;
    return p->m.desc[i].classes[c];
}

int must_predictor_find(const must_predictor *p, const char *name)
{
    for (int i = 0; i < p->m.ntasks; i++)
        if (strcmp(p->m.desc[i].name, name) == 0)
            return i;
    return -1;
}

int must_predictor_run(must_predictor *p, const must_map *image, must_labels *out,
                       must_err *err)
{
    if (image->channels != 3 || image->width <= 0 || image->height <= 0)
        return must_err_set(err, MUST_EINVAL, "predict: an image must be RGB (3, H, W), not "
                            "(%d, %d, %d)", image->channels, image->height, image->width);
    must_map x;
    must_aug_tf tf;
    int S = p->m.image_size;
    int rc = must_map_copy(&x, image, err);
    if (!rc)
        rc = must_aug_example(&x, NULL, S, NULL, NULL, &tf, err);
    if (rc) {
        must_map_free(&x);
        return rc;
    }
    /* A batch of one, as the evaluation loader would give it. */
    unsigned has = 0;
    int example = 0, dataset = 0;
    must_batch b = {0};
    b.n = 1;
    b.size = S;
    b.images = x.data;
    b.has = &has;
    b.example = &example;
    b.dataset = &dataset;
    b.tf = &tf;
    b.cls = NULL;
    void *preds[PL_MAX_TASKS];
    must_ctx_reset(p->ctx);
    if ((rc = pl_model_forward(&p->m, p->ctx, &b, preds)))
        rc = must_err_set(err, rc, "%s: %s", p->path, must_ctx_error(p->ctx)->msg);
    for (int i = 0; i < p->m.ntasks && !rc; i++) {
        rc = must_task_pseudo_label(p->m.task[i], preds[i], &b, 0, &out[i], err);
        if (!rc)
            rc = must_aug_unfit_labels(&out[i], &tf, image->width, image->height, err);
    }
    must_map_free(&x);
    return rc;
}

int must_predictor_draw(must_predictor *p, int i, must_image *img, const must_labels *label,
                        must_err *err)
{
    if (i < 0 || i >= p->m.ntasks)
        return must_err_set(err, MUST_EINVAL, "predict: no head %d", i);
    if (!must_task_get_ops(p->m.task[i])->draw)
        return MUST_OK;
    return must_task_draw(p->m.task[i], img, label, NULL, NULL, 0, err);
}

int must_model_card_backbone(const char *model, must_backbone_config *c, int *image_size,
                             must_err *err)
{
    pl_card card;
    int rc = pl_card_read(model, &card, err);
    if (rc)
        return rc;
    *c = card.bbc;
    if (image_size)
        *image_size = card.image_size;
    pl_card_free(&card);
    return MUST_OK;
}
