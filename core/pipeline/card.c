/* card.c - a checkpoint's model card: what it takes to use the weights
 * without the experiment that made them (metadata "must.model", JSON; the
 * keys are in docs/checkpoints.md).  `must predict` and `must features
 * --checkpoint` rebuild the model from it. */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "must/augment.h"
#include "must/checkpoint.h"
#include "must/safetensors.h"
#include "pipeline-impl.h"

#define CARD_FORMAT "must-model-1"

static json_t *backbone_json(const must_backbone_config *b)
{
    return json_pack("{s:i, s:f, s:i, s:i, s:i, s:b, s:i, s:i, s:i, s:b, s:f, s:f, s:I}", "depth",
                     b->depth, "width", (double)b->width, "in_channels", b->in_channels,
                     "stem_kernel", b->stem_kernel, "stem_stride", b->stem_stride, "stem_pool",
                     b->stem_pool, "fpn_channels", b->fpn_channels, "fpn_min_level",
                     b->fpn_min_level, "fpn_max_level", b->fpn_max_level, "fpn_bn", b->fpn_bn,
                     "bn_momentum", (double)b->bn_momentum, "bn_eps", (double)b->bn_eps, "seed",
                     (json_int_t)b->seed);
}

static json_t *head_json(const pl_model *m, int i)
{
    const pl_head_desc *d = &m->desc[i];
    json_t *opts = json_object(), *classes = json_array();
    for (int k = 0; opts && k < d->nopts; k++)
        json_object_set_new(opts, d->keys[k], json_string(d->values[k]));
    for (int c = 0; classes && c < d->nclasses; c++)
        json_array_append_new(classes, json_string(d->classes[c]));
    int kind = must_task_get_ops(m->task[i])->label_kind;
    const char *kname = kind == MUST_TASK_NO_KIND ? "none" : must_label_kind_name(kind);
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", d->name, "plugin", d->plugin, "kind",
                     kname ? kname : "?", "options", opts, "classes", classes);
}

char *pl_card_json(const pl_model *m)
{
    json_t *tasks = json_array();
    for (int i = 0; tasks && i < m->ntasks; i++)
        json_array_append_new(tasks, head_json(m, i));
    json_t *norm = json_pack("{s:[f,f,f], s:[f,f,f]}", "mean", (double)MUST_IMAGE_MEAN_R,
                             (double)MUST_IMAGE_MEAN_G, (double)MUST_IMAGE_MEAN_B, "std",
                             (double)MUST_IMAGE_STD_R, (double)MUST_IMAGE_STD_G,
                             (double)MUST_IMAGE_STD_B);
    json_t *card = json_pack("{s:s, s:i, s:s, s:o, s:o, s:o}", "format", CARD_FORMAT,
                             "image_size", m->image_size, "resize", "fit-longer-side", "normalize",
                             norm, "backbone", backbone_json(&m->bbc), "tasks", tasks);
    char *text = card ? json_dumps(card, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(card);
    return text;
}

void pl_card_free(pl_card *c)
{
    for (int i = 0; i < c->ntasks; i++)
        pl_head_desc_free(&c->desc[i]);
    memset(c, 0, sizeof *c);
}

/* The backbone's keys; a key the card lacks keeps the default. */
static int read_backbone(json_t *b, must_backbone_config *c, const char *path, must_err *err)
{
    must_backbone_config_default(c);
    double width = c->width, mom = c->bn_momentum, eps = c->bn_eps;
    json_int_t seed = (json_int_t)c->seed;
    json_error_t je;
    if (json_unpack_ex(b, &je, 0, "{s?i, s?F, s?i, s?i, s?i, s?b, s?i, s?i, s?i, s?b, s?F, s?F, s?I}",
                       "depth", &c->depth, "width", &width, "in_channels", &c->in_channels,
                       "stem_kernel", &c->stem_kernel, "stem_stride", &c->stem_stride,
                       "stem_pool", &c->stem_pool, "fpn_channels", &c->fpn_channels,
                       "fpn_min_level", &c->fpn_min_level, "fpn_max_level", &c->fpn_max_level,
                       "fpn_bn", &c->fpn_bn, "bn_momentum", &mom, "bn_eps", &eps, "seed", &seed))
        return must_err_set(err, MUST_EFORMAT, "%s: model card: backbone: %s", path, je.text);
    c->width = (float)width;
    c->bn_momentum = (float)mom;
    c->bn_eps = (float)eps;
    c->seed = (uint64_t)seed;
    return MUST_OK;
}

/* tasks[i] of the card into d. */
static int read_head(json_t *t, int i, pl_head_desc *d, const char *path, must_err *err)
{
    const char *name, *plugin;
    json_t *opts = NULL, *classes = NULL;
    json_error_t je;
    if (json_unpack_ex(t, &je, 0, "{s:s, s:s, s?o, s?o}", "name", &name, "plugin", &plugin,
                       "options", &opts, "classes", &classes))
        return must_err_set(err, MUST_EFORMAT, "%s: model card: tasks[%d]: %s", path, i, je.text);
    if ((opts && !json_is_object(opts)) || (classes && !json_is_array(classes)))
        return must_err_set(err, MUST_EFORMAT,
                            "%s: model card: tasks[%d]: options must be an object, classes an "
                            "array", path, i);
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->plugin, sizeof d->plugin, "%s", plugin);
    size_t no = opts ? json_object_size(opts) : 0, nc = classes ? json_array_size(classes) : 0;
    d->keys = calloc(no + 1, sizeof *d->keys);
    d->values = calloc(no + 1, sizeof *d->values);
    d->classes = calloc(nc + 1, sizeof *d->classes);
    if (!d->keys || !d->values || !d->classes)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(opts, key, v) {
        if (!json_is_string(v))
            return must_err_set(err, MUST_EFORMAT, "%s: model card: tasks[%d].options.%s is "
                                "not a string", path, i, key);
        d->keys[d->nopts] = strdup(key);
        d->values[d->nopts] = strdup(json_string_value(v));
        if (!d->keys[d->nopts++] || !d->values[d->nopts - 1])
            return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    for (size_t c = 0; c < nc; c++) {
        json_t *s = json_array_get(classes, c);
        if (!json_is_string(s))
            return must_err_set(err, MUST_EFORMAT, "%s: model card: tasks[%d].classes[%zu] is "
                                "not a string", path, i, c);
        if (!(d->classes[d->nclasses++] = strdup(json_string_value(s))))
            return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    return MUST_OK;
}

/* The card's JSON text into c. */
static int parse_card(const char *text, const char *path, pl_card *c, must_err *err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je), *bb = NULL, *tasks = NULL;
    const char *format = NULL;
    int rc = MUST_OK;
    if (!root)
        return must_err_set(err, MUST_EFORMAT, "%s: model card: %s (line %d, column %d)", path,
                            je.text, je.line, je.column);
    if (json_unpack_ex(root, &je, 0, "{s:s, s:i, s:o, s:o}", "format", &format, "image_size",
                       &c->image_size, "backbone", &bb, "tasks", &tasks) ||
        !json_is_array(tasks))
        rc = must_err_set(err, MUST_EFORMAT, "%s: model card: %s", path,
                          json_is_array(tasks) ? je.text : "tasks must be an array");
    else if (strcmp(format, CARD_FORMAT) != 0)
        rc = must_err_set(err, MUST_EFORMAT, "%s: model card of format '%s', not '%s'", path,
                          format, CARD_FORMAT);
    else if (c->image_size < 8 || c->image_size > 4096 || json_array_size(tasks) > PL_MAX_TASKS)
        rc = must_err_set(err, MUST_EFORMAT, "%s: model card: image_size %d or %zu tasks out "
                          "of range", path, c->image_size, json_array_size(tasks));
    if (!rc)
        rc = read_backbone(bb, &c->bbc, path, err);
    for (size_t i = 0; !rc && i < json_array_size(tasks); i++, c->ntasks++)
        rc = read_head(json_array_get(tasks, i), (int)i, &c->desc[i], path, err);
    json_decref(root);
    return rc;
}

int pl_card_read(const char *path, pl_card *c, must_err *err)
{
    memset(c, 0, sizeof *c);
    must_st *st = NULL;
    int rc = must_st_open(path, &st, err);
    if (rc)
        return rc;
    const char *text = must_st_meta(st, MUST_CKPT_META_MODEL);
    if (!text)
        rc = must_err_set(err, MUST_ENOTFOUND,
                          "%s has no model card (metadata '%s'): it was not written by a "
                          "trainer of this version of must", path, MUST_CKPT_META_MODEL);
    else
        rc = parse_card(text, path, c, err);
    must_st_close(st);
    if (rc)
        pl_card_free(c);
    return rc;
}
