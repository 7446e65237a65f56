/* pipeline-impl.h - the pipeline's working parts (private): a model of a
 * backbone and task heads, the trainer, evaluation, pseudo-labelling, and
 * the events through which they report progress.
 *
 * Files, lowest first (each calls only those above it in this list):
 * stats.c (the paired bootstrap of must/stats.h: calls no other pipeline file),
 * progress.c (events), tboard.c, model.c (backbone + heads), card.c, evaluate.c, dp.c,
 * trainer.c, pseudolabel.c; then the run's files in run-impl.h. */
#ifndef MUST_PIPELINE_IMPL_H
#define MUST_PIPELINE_IMPL_H

#include <stdint.h>

#include "must/dataset.h"
#include "must/experiment.h"
#include "must/loader.h"
#include "must/model.h"
#include "must/optim.h"
#include "must/pipeline.h"
#include "must/plugin.h"

#define PL_MAX_TASKS 8

/* ---- progress.c: events ------------------------------------------------- */

/* A whole run's work in image-steps (a training step counts its batch):
 * what the plan left to do, what is done since, and when it started; the
 * whole-run ETA comes from its pace. */
typedef struct pl_clock {
    double total, done, t0;
} pl_clock;

/* Where a run's events go; fn NULL drops them.  clock NULL: no whole-run
 * ETA (a single unit asked for by name). */
typedef struct pl_out {
    must_event_fn fn;
    void *user;
    pl_clock *clock;
} pl_out;

/* A line of text (no newline). */
void pl_say(const pl_out *o, const char *fmt, ...) MUST_PRINTF(2, 3);

/* A unit's progress: steps of total, with the rate and the ETA counted
 * from the step it (re)started at. */
typedef struct pl_progress {
    const pl_out *out;
    const char *unit;
    long total;
    long start;
    double t0;
    double per_step;  /* image-steps of the whole run's work one step is */
    long last;        /* the last step counted into the clock */
} pl_progress;
void pl_progress_start(pl_progress *p, const pl_out *out, const char *unit, long total,
                       long start, double per_step);
void pl_progress_step(pl_progress *p, long step, const char *detail, double images_per_s);
void pl_progress_end(pl_progress *p);
/* Seconds from a monotonic clock. */
double pl_now(void);
/* 1 once must_run_interrupt was called. */
int pl_interrupted(void);

/* ---- tboard.c: TensorBoard event files ---------------------------------- */

/* The records of one event file, in memory. */
typedef struct pl_tb {
    unsigned char *buf;
    size_t len, cap;
} pl_tb;
/* CRC-32C of n bytes, and TFRecord's mask of a CRC. */
uint32_t pl_crc32c(const void *p, size_t n);
uint32_t pl_crc_mask(uint32_t crc);
/* Appends one record: the file's version event (first), a scalar, a PNG
 * image (w x h, its bytes).  MUST_ENOMEM when out of memory. */
int pl_tb_version(pl_tb *t, double wall);
int pl_tb_scalar(pl_tb *t, double wall, long step, const char *tag, float v);
int pl_tb_image(pl_tb *t, double wall, long step, const char *tag, int w, int h,
                const void *png, size_t n);
/* Keeps the records of an earlier file whose step is at most upto. */
int pl_tb_reload(pl_tb *t, const char *path, long upto);
/* The records to path, atomically. */
int pl_tb_write(const pl_tb *t, const char *path, must_err *err);
void pl_tb_free(pl_tb *t);
/* The name TensorBoard looks for. */
#define PL_TB_FILE "events.out.tfevents.must"

/* ---- model.c: a backbone and its heads ---------------------------------- */

/* What a head is, without its weights: its name, its plugin and the
 * plugin's options, the names of its classes (all owned). */
typedef struct pl_head_desc {
    char name[MUST_EXP_NAME_MAX + 1], plugin[MUST_EXP_NAME_MAX + 1];
    int nopts;
    char **keys, **values;
    int nclasses;
    char **classes;
} pl_head_desc;
void pl_head_desc_free(pl_head_desc *d);

/* Parameter sets: [0] the backbone, [1 + i] head i.  bbc, image_size and
 * desc are what the model was built from (a checkpoint's model card). */
typedef struct pl_model {
    must_backbone *bb;
    must_backbone_config bbc;
    int image_size;
    must_task *task[PL_MAX_TASKS];
    pl_head_desc desc[PL_MAX_TASKS];
    int ntasks;
    unsigned levels;
    must_params *sets[PL_MAX_TASKS + 1];
    int nsets;
} pl_model;

/* A head's classes, taken from the set that carries its labels. */
typedef struct pl_head {
    const must_exp_task *spec;
    const must_dataset *classes_from;
} pl_head;

int pl_model_new(const must_experiment *e, const pl_head *heads, int n, pl_model *m,
                 must_err *err);
/* The same from head descriptions; `source` names the experiment or the
 * checkpoint in messages ("SOURCE: [task.NAME]: ..."). */
int pl_model_build(pl_model *m, const must_backbone_config *bb, int image_size,
                   const pl_head_desc *heads, int n, const char *source, must_err *err);
void pl_model_free(pl_model *m);
/* Loads the backbone's weights only (heads and optimizer entries in the
 * file are ignored). */
int pl_model_load_backbone(pl_model *m, const char *path, must_err *err);
/* Every set of m (backbone and heads) from a checkpoint, by name; tensors
 * the file has beyond m's are ignored. */
int pl_model_load(pl_model *m, const char *path, must_err *err);
/* A model's starting weights (init = ...): the backbone's tensors from
 * path, by name (ours are torchvision's ResNet names; other tensors are
 * ignored).  The FPN may be missing (a classification network has none)
 * and keeps its initialisation; any other missing tensor, a shape that
 * differs or nothing loaded is an error naming the file.  *loaded and
 * *fpn_kept count the tensors. */
int pl_model_load_init(pl_model *m, const char *path, int *loaded, int *fpn_kept,
                       must_err *err);
/* Runs the backbone and every head on b's images; preds[i] is head i's. */
int pl_model_forward(pl_model *m, must_ctx *ctx, const must_batch *b, void **preds);

/* ---- card.c: a checkpoint's model card ---------------------------------- */

/* The model card of m (JSON text, malloc'd; NULL when out of memory). */
char *pl_card_json(const pl_model *m);
/* What a card says: build the model with pl_model_build. */
typedef struct pl_card {
    must_backbone_config bbc;
    int image_size;
    pl_head_desc desc[PL_MAX_TASKS];
    int ntasks;
} pl_card;
/* Reads the card of checkpoint `path`; an error names the file when it has
 * none or a malformed one. */
int pl_card_read(const char *path, pl_card *c, must_err *err);
void pl_card_free(pl_card *c);

/* Loader options for training and for a pass over a split. */
void pl_loader_train(const must_experiment *e, const must_exp_train *tr, int sampling,
                     uint64_t seed, must_loader_opts *o);
void pl_loader_eval(const must_experiment *e, int split, int size, must_loader_opts *o);

/* ---- evaluate.c --------------------------------------------------------- */

/* Head t's metrics over a split (values: must_task_nmetrics entries). */
int pl_evaluate(const must_experiment *e, pl_model *m, int t, must_dataset *ds, int split,
                double *values, must_err *err);
/* The same split, one evaluation state per image (by position in the
 * split; an image without the task's label has an empty one), for
 * resampling the test set (must_task_eval_merge).  MUST_EINVAL when the
 * task's plugin cannot merge states.  Free with pl_evaluate_images_free. */
int pl_evaluate_images(const must_experiment *e, pl_model *m, int t, must_dataset *ds, int split,
                       must_task_eval ***states, int *n, must_err *err);
void pl_evaluate_images_free(must_task_eval **states, int n);

/* ---- dp.c: data parallel over MPI ranks ---------------------------------- */

/* The ranks this process trains with, and its rank among them (1 and 0 in
 * one process, or in a solo scope: must/dist.h). */
int pl_dp_size(void);
int pl_dp_rank(void);
/* Every rank's weights and buffers (all sets), optimizer state and step,
 * and *step (may be NULL), become rank 0's. */
int pl_dp_bcast_state(must_params *const *sets, int nsets, must_optim *opt, long *step,
                      must_err *err);
/* Each set's gradients (buffers) become their mean over the ranks. */
int pl_dp_average_grads(must_params *const *sets, int nsets, const char *what, must_err *err);
int pl_dp_average_buffers(must_params *const *sets, int nsets, const char *what, must_err *err);
/* A checksum of the sets' weights and buffers and the optimizer's state
 * and step. */
uint64_t pl_dp_checksum(must_params *const *sets, int nsets, const must_optim *opt);
/* Compares the checksums over the ranks; a difference is an error (the
 * same on every rank) naming the ranks that differ from rank 0. */
int pl_dp_check(must_params *const *sets, int nsets, const must_optim *opt, const char *stage,
                long step, must_err *err);

/* ---- trainer.c ---------------------------------------------------------- */

typedef struct pl_train_opts {
    const char *stage;          /* "teacher cls": progress and messages */
    const char *dir;            /* resume.safetensors, model.safetensors, loss.csv */
    const must_exp_train *train;
    const double *weights;      /* per head (ignored with log_var0) */
    /* Non-NULL: learned uncertainty weighting (must/weighting.h), the
     * initial log-variance per head; the log-variances train with the
     * model and go into the resume checkpoint and loss.csv (weight_TASK). */
    const double *log_var0;
    must_dataset *const *sets;
    int nsets;
    int sampling;               /* MUST_SAMPLE_* */
    uint64_t seed;
    /* Called after the update that completes step k (k in milestones),
     * before anything is saved; the model is in its state after k steps. */
    const long *milestones;
    int nmilestones;
    int (*at_milestone)(void *user, long step, pl_model *m, must_err *err);
    void *user;
    const pl_out *out;          /* events (may be NULL) */
    /* Self-supervised training ([simclr]): views = 2 puts each image in its
     * batch twice (train->batch images, 2 * batch rows); aug (NULL: the
     * loader's defaults) augments them; images_only reads no labels. */
    int views;
    const must_aug_opts *aug;
    int images_only;
} pl_train_opts;

/* Trains m (resuming from dir/resume.safetensors when there is one) and
 * writes dir/model.safetensors (weights only) at the end.  A non-finite
 * loss, gradient or weight stops it with an error naming the task(s) and
 * the step; the last checkpoint stays, and holds finite weights. */
int pl_train(const must_experiment *e, pl_model *m, const pl_train_opts *o, must_err *err);

/* ---- pseudolabel.c ------------------------------------------------------ */

/* The teachers that label one set, with their checkpoints and the sets
 * whose classes their heads take. */
typedef struct pl_label_job {
    must_dataset *unl;                 /* the set to label */
    const int *teachers;               /* indices into e->teachers */
    int nteachers;
    char *const *teacher_ckpt;         /* teacher i's model file */
    must_dataset *const *teacher_sets; /* teacher i's labelled set */
    const char *out_dir;               /* out_dir/part-NNN */
    const pl_out *out;                 /* events (may be NULL) */
} pl_label_job;

/* Pseudo-labels every image of job->unl with the teachers' models into
 * out_dir/part-NNN datasets (each committed whole; finished parts are kept
 * by a rerun). */
int pl_label(const must_experiment *e, const pl_label_job *job, must_err *err);

#endif
