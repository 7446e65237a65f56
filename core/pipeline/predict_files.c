/* predict_files.c - `must predict`: image files through a predictor, written
 * as a dataset of pseudo labels (so `must dataset check` and `show` work on
 * it), one overlay PNG per image and predictions.json. */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/import-impl.h"
#include "must/dataset.h"
#include "must/io.h"
#include "must/kinds.h"
#include "must/predict.h"
#include "must/task.h"

/* The heads asked for, by index; one per label kind (the dataset format
 * has one store per kind). */
typedef struct job {
    must_predictor *p;
    int head[MUST_PREDICT_MAX_TASKS], nhead;
    const char *dir;
    char *overlays;
    must_dataset_writer *w;
    json_t *images;
    void (*note)(void *user, const char *line);
    void *user;
} job;

static int pick_heads(job *j, const char *const *tasks, int ntasks, must_err *err)
{
    must_predictor *p = j->p;
    unsigned kinds = 0;
    int n = ntasks ? ntasks : must_predictor_ntasks(p);
    for (int k = 0; k < n; k++) {
        int i = ntasks ? must_predictor_find(p, tasks[k]) : k;
        if (i < 0)
            return must_err_set(err, MUST_ENOTFOUND, "the model has no head '%s'", tasks[k]);
        int kind = must_predictor_task_kind(p, i);
        if (kind == MUST_TASK_NO_KIND) {
            /* A self-supervised head (simclr) makes no labels. */
            if (ntasks)
                return must_err_set(err, MUST_EINVAL, "head '%s' makes no labels (its task "
                                    "reads none)", tasks[k]);
            continue;
        }
        if (kinds & MUST_LABEL_BIT(kind))
            return must_err_set(err, MUST_EINVAL, "two heads of kind %s: pick one with --task",
                                must_label_kind_name(kind));
        kinds |= MUST_LABEL_BIT(kind);
        j->head[j->nhead++] = i;
    }
    if (j->nhead == 0)
        return must_err_set(err, MUST_EINVAL, "no head of the model makes labels");
    return MUST_OK;
}

/* The dataset the labels go into: every picked head's kind and classes. */
static int open_writer(job *j, const char *model, must_err *err)
{
    must_dataset_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.name = "predictions";
    for (int k = 0; k < j->nhead; k++) {
        int i = j->head[k], kind = must_predictor_task_kind(j->p, i);
        const char **names = calloc((size_t)must_predictor_nclasses(j->p, i) + 1,
                                    sizeof *names);
        if (!names)
            return must_err_set(err, MUST_ENOMEM, "out of memory");
        for (int c = 0; c < must_predictor_nclasses(j->p, i); c++)
            names[c] = must_predictor_class_name(j->p, i, c);
        spec.tasks |= MUST_LABEL_BIT(kind);
        spec.task[kind].nclasses = must_predictor_nclasses(j->p, i);
        spec.task[kind].classes = names;
        spec.task[kind].source = MUST_SOURCE_PSEUDO;
        spec.task[kind].teacher = model;
    }
    int rc = must_dataset_writer_new(j->dir, &spec, &j->w, err);
    for (int k = 0; k < MUST_LABEL_MAX_KINDS; k++)
        free((void *)spec.task[k].classes);
    return rc;
}

/* The image, then each head's label over a copy of it, side by side. */
static int write_overlay(job *j, const must_image *base, must_labels *l, const char *id,
                         must_err *err)
{
    int W = base->width, H = base->height, cols = 1 + j->nhead, rc;
    must_image sheet = {0}, tile = {0};
    if ((rc = must_image_alloc(&sheet, W * cols, H, 3, 8, err)))
        return rc;
    for (int col = 0; col < cols && !rc; col++) {
        if ((rc = must_image_alloc(&tile, W, H, 3, 8, err)))
            break;
        memcpy(tile.pixels, base->pixels, must_image_bytes(base));
        if (col > 0)
            rc = must_predictor_draw(j->p, j->head[col - 1], &tile, &l[j->head[col - 1]], err);
        for (int y = 0; y < H && !rc; y++)
            memcpy((unsigned char *)sheet.pixels + 3 * ((size_t)y * W * cols + (size_t)col * W),
                   (unsigned char *)tile.pixels + 3 * (size_t)y * W, 3 * (size_t)W);
        must_image_free(&tile);
    }
    char name[MUST_ID_MAX + 8];
    snprintf(name, sizeof name, "%s.png", id);
    char *path = rc ? NULL : must_path_join(j->overlays, name);
    if (!rc)
        rc = path ? must_png_write(path, &sheet, err)
                  : must_err_set(err, MUST_ENOMEM, "out of memory");
    free(path);
    must_image_free(&sheet);
    return rc;
}

/* Head i's prediction as JSON. */
static json_t *head_json(job *j, int i, const must_labels *l, const char *id)
{
    int kind = must_predictor_task_kind(j->p, i);
    if (kind == MUST_LABEL_CLASSIFICATION) {
        json_t *top = json_array();
        int k = l->nsoft, used[5] = {-1, -1, -1, -1, -1};
        for (int r = 0; r < 5 && r < k; r++) {
            int best = -1;
            for (int c = 0; c < k; c++) {
                int taken = 0;
                for (int q = 0; q < r; q++)
                    taken |= used[q] == c;
                if (!taken && (best < 0 || l->soft[c] > l->soft[best]))
                    best = c;
            }
            used[r] = best;
            json_array_append_new(top, json_pack("{s:s, s:f}", "class",
                                                 must_predictor_class_name(j->p, i, best),
                                                 "score", (double)l->soft[best]));
        }
        return json_pack("{s:o}", "top5", top);
    }
    if (kind == MUST_LABEL_DETECTION) {
        json_t *boxes = json_array();
        for (int q = 0; q < l->boxes.n; q++) {
            const must_box *b = &l->boxes.v[q];
            json_array_append_new(boxes, json_pack("{s:s, s:f, s:[f,f,f,f]}", "class",
                                                   must_predictor_class_name(j->p, i, b->cls),
                                                   "score", (double)b->score, "box",
                                                   (double)b->x0, (double)b->y0, (double)b->x1,
                                                   (double)b->y1));
        }
        return json_pack("{s:o}", "boxes", boxes);
    }
    /* A map, or a registered kind's store: where the set keeps it. */
    char file[MUST_ID_MAX + 160], store[160];
    must_label_kind_store(kind, store, sizeof store);
    char *at = strstr(store, "<id>");
    if (at)
        snprintf(file, sizeof file, "%.*s%s%s", (int)(at - store), store, id, at + 4);
    else
        snprintf(file, sizeof file, "%s", store);
    return json_pack("{s:s}", "file", file);
}

/* One image: predicted, its labels added to the set, its overlay and its
 * entry in predictions.json. */
static int predict_one(job *j, const char *file, const char *id, must_err *err)
{
    must_image img = {0};
    must_map m = {0};
    must_labels l[MUST_PREDICT_MAX_TASKS], keep;
    int n = must_predictor_ntasks(j->p);
    for (int i = 0; i < n; i++)
        must_labels_init(&l[i]);
    must_labels_init(&keep);
    int rc = must_image_read(file, &img, 3, 8, err);
    if (!rc && !(rc = must_map_alloc(&m, 3, img.height, img.width, err))) {
        size_t hw = (size_t)img.width * img.height;
        for (size_t q = 0; q < hw; q++)
            for (int c = 0; c < 3; c++)
                m.data[c * hw + q] = ((unsigned char *)img.pixels)[3 * q + c] / 255.0f;
        rc = must_predictor_run(j->p, &m, l, err);
    }
    json_t *entry = rc ? NULL : json_pack("{s:s, s:s, s:i, s:i}", "id", id, "file", file,
                                          "width", img.width, "height", img.height);
    /* The set stores each picked head's label under its kind. */
    for (int k = 0; k < j->nhead && !rc; k++) {
        int i = j->head[k], kind = must_predictor_task_kind(j->p, i);
        json_object_set_new(entry, must_predictor_task_name(j->p, i), head_json(j, i, &l[i], id));
        rc = must_labels_copy_kind(&keep, &l[i], kind, err);
    }
    if (!rc)
        rc = must_dataset_writer_add_file(j->w, id, -1, file, &keep, err);
    if (!rc)
        rc = write_overlay(j, &img, l, id, err);
    if (!rc)
        json_array_append_new(j->images, json_incref(entry));
    json_decref(entry);
    if (rc)
        must_err_prefix(err, "%s", file);
    for (int i = 0; i < n; i++)
        must_labels_free(&l[i]);
    must_labels_free(&keep);
    must_map_free(&m);
    must_image_free(&img);
    return rc;
}

/* A unique id from the file's stem ("name", then "name-2", ...). */
static void make_id(const char *file, char **seen, int nseen, char *id)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char name[1024], head[MUST_ID_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)stem, base);
    imp_make_id(head, name, NULL, 0);
    snprintf(id, MUST_ID_MAX + 1, "%s", head);
    for (int k = 2, clash = 1; clash; k++) {
        clash = 0;
        for (int i = 0; i < nseen && !clash; i++)
            clash = strcmp(seen[i], id) == 0;
        if (clash) {
            char suffix[16];
            int n = snprintf(suffix, sizeof suffix, "-%d", k);
            snprintf(id, MUST_ID_MAX + 1, "%.*s%s", MUST_ID_MAX - n, head, suffix);
        }
    }
}

/* predictions.json: the model, its heads, every image. */
static int write_json(job *j, const char *model, must_err *err)
{
    json_t *heads = json_array();
    for (int k = 0; k < j->nhead; k++) {
        int i = j->head[k];
        json_t *classes = json_array();
        for (int c = 0; c < must_predictor_nclasses(j->p, i); c++)
            json_array_append_new(classes, json_string(must_predictor_class_name(j->p, i, c)));
        json_array_append_new(heads, json_pack("{s:s, s:s, s:s, s:o}", "name",
                                               must_predictor_task_name(j->p, i), "plugin",
                                               must_predictor_task_plugin(j->p, i), "kind",
                                               must_label_kind_name(must_predictor_task_kind(j->p, i)),
                                               "classes", classes));
    }
    json_t *root = json_pack("{s:s, s:i, s:o, s:O}", "model", model, "image_size",
                             must_predictor_image_size(j->p), "tasks", heads, "images",
                             j->images);
    char *text = root ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER |
                                             JSON_REAL_PRECISION(6))
                      : NULL;
    json_decref(root);
    char *path = must_path_join(j->dir, "predictions.json");
    int rc = text && path ? must_file_write_atomic(path, text, strlen(text), err)
                          : must_err_set(err, MUST_ENOMEM, "out of memory");
    free(text);
    free(path);
    return rc;
}

int must_predict_files(must_predictor *p, const char *const *images, int nimages,
                       const char *const *tasks, int ntasks, const char *out_dir,
                       void (*note)(void *user, const char *line), void *user, must_err *err)
{
    job j = {.p = p, .dir = out_dir, .note = note, .user = user};
    char **ids = calloc((size_t)nimages + 1, sizeof *ids);
    j.images = json_array();
    j.overlays = must_path_join(out_dir, "overlays");
    int rc = ids && j.images && j.overlays ? MUST_OK
                                           : must_err_set(err, MUST_ENOMEM, "out of memory");
    if (!rc && nimages <= 0)
        rc = must_err_set(err, MUST_EINVAL, "predict: no image given");
    if (!rc)
        rc = pick_heads(&j, tasks, ntasks, err);
    if (!rc)
        rc = open_writer(&j, must_predictor_path(p), err);
    if (!rc)
        rc = must_mkdir_p(j.overlays, err);
    for (int k = 0; k < nimages && !rc; k++) {
        char id[MUST_ID_MAX + 1];
        make_id(images[k], ids, k, id);
        if (!(ids[k] = strdup(id)))
            rc = must_err_set(err, MUST_ENOMEM, "out of memory");
        else if (!(rc = predict_one(&j, images[k], id, err)) && note) {
            char line[4200];
            snprintf(line, sizeof line, "%s -> %s/overlays/%s.png", images[k], out_dir, id);
            note(user, line);
        }
    }
    if (!rc) {
        rc = must_dataset_writer_commit(j.w, err);
        j.w = NULL;
    }
    if (!rc)
        rc = write_json(&j, must_predictor_path(p), err);
    must_dataset_writer_abort(j.w);
    for (int k = 0; k < nimages && ids; k++)
        free(ids[k]);
    free(ids);
    free(j.overlays);
    json_decref(j.images);
    return rc;
}
