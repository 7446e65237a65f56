/* must/predict.h - a trained model applied to images: any teacher, student or
 * fine-tuned checkpoint that a must trainer wrote (its model card says what
 * it is: backbone, heads, plugin options, classes, input size), on images of
 * any size, with predictions mapped back to each image's own size.
 *
 *     must_predictor *p;
 *     must_predictor_open("run/student/model.safetensors", 0, &p, &err);
 *     must_labels out[MUST_PREDICT_MAX_TASKS];   (one per head, initialised)
 *     must_predictor_run(p, &image, out, &err);  (image: (3, H, W) in [0, 1])
 *
 * A head's prediction is the label its plugin would make of it as a
 * teacher (its pseudo_label callback, with the plugin options the model was
 * trained with): classification a distribution over the classes, detection
 * scored boxes, segmentation a class map, depth metres, normals unit
 * vectors.  `must predict` writes them for a list of image files
 * (must_predict_files). */
#ifndef MUST_PREDICT_H
#define MUST_PREDICT_H

#include "must/error.h"
#include "must/export.h"
#include "must/image.h"
#include "must/labels.h"
#include "must/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MUST_PREDICT_MAX_TASKS 8

typedef struct must_predictor must_predictor;

/* Builds the model of checkpoint `model` from its model card (task plugins
 * loaded by name) and loads its weights.  threads <= 0: one per core.  An
 * error names the file: no card (a checkpoint of another program or an
 * older must), a plugin missing, weights that do not fit. */
MUST_API int must_predictor_open(const char *model, int threads, must_predictor **out,
                                 must_err *err);
MUST_API void must_predictor_free(must_predictor *p);

/* The checkpoint's path, as opened. */
MUST_API const char *must_predictor_path(const must_predictor *p);
/* What the model is: its input size, its heads with their label kinds and
 * classes. */
MUST_API int must_predictor_image_size(const must_predictor *p);
MUST_API int must_predictor_ntasks(const must_predictor *p);
MUST_API const char *must_predictor_task_name(const must_predictor *p, int i);
MUST_API const char *must_predictor_task_plugin(const must_predictor *p, int i);
MUST_API int must_predictor_task_kind(const must_predictor *p, int i);
MUST_API int must_predictor_nclasses(const must_predictor *p, int i);
MUST_API const char *must_predictor_class_name(const must_predictor *p, int i, int c);
/* The head named `name`, or -1. */
MUST_API int must_predictor_find(const must_predictor *p, const char *name);

/* Every head's prediction for one image ((3, H, W) in [0, 1], any size),
 * fitted to the input size as an evaluation batch is, mapped back to H x W:
 * out[i] (initialised by the caller, freed with must_labels_free) gets head
 * i's label. */
MUST_API int must_predictor_run(must_predictor *p, const must_map *image, must_labels *out,
                                must_err *err);

/* Draws head i's label over an 8-bit RGB image with its plugin's visualiser
 * (a head without one leaves the image as it is). */
MUST_API int must_predictor_draw(must_predictor *p, int i, must_image *img,
                                 const must_labels *label, must_err *err);

/* The backbone configuration and input size a checkpoint's model card
 * gives (`must features --checkpoint`); MUST_ENOTFOUND when the file has no
 * card (a torchvision ResNet, say). */
MUST_API int must_model_card_backbone(const char *model, must_backbone_config *c,
                                      int *image_size, must_err *err);

/* `must predict`: every image file in `images` through heads `tasks`
 * (names; ntasks 0: every head), written to out_dir:
 *   a dataset in must's format (dataset.ini, images/ as the files are,
 *     labels/ of each head, pseudo-labelled by `model`),
 *   overlays/<id>.png: the image, then each head's label drawn over it,
 *   predictions.json: per image its id, file, size and each head's
 *     prediction (classification: the top 5 with scores; detection: the
 *     boxes with classes and scores; maps: their label file).
 * note (may be NULL) gets one line per image written. */
MUST_API int must_predict_files(must_predictor *p, const char *const *images, int nimages,
                                const char *const *tasks, int ntasks, const char *out_dir,
                                void (*note)(void *user, const char *line), void *user,
                                must_err *err);

#ifdef __cplusplus
}
#endif
#endif
