/* pipeline-impl.h - the pieces of the MuST pipeline (private): a model of a
 * backbone and task heads, the trainer, evaluation, pseudo-labelling and
 * the staged run. */
#ifndef MUST_PIPELINE_IMPL_H
#define MUST_PIPELINE_IMPL_H

#include <stdint.h>

#include "must/dataset.h"
#include "must/experiment.h"
#include "must/loader.h"
#include "must/model.h"
#include "must/plugin.h"

#define PL_MAX_TASKS 8

/* A backbone and its heads.  Parameter sets: [0] the backbone, [1 + i]
 * head i. */
typedef struct pl_model {
    must_backbone *bb;
    must_task *task[PL_MAX_TASKS];
    const must_exp_task *spec[PL_MAX_TASKS];
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
void pl_model_free(pl_model *m);
/* Loads the backbone's weights only (heads and optimizer entries in the
 * file are ignored). */
int pl_model_load_backbone(pl_model *m, const char *path, must_err *err);
/* Runs the backbone and every head on b's images; preds[i] is head i's. */
int pl_model_forward(pl_model *m, must_ctx *ctx, const must_batch *b, void **preds);

/* Loader options for training and for a pass over a split. */
void pl_loader_train(const must_experiment *e, const must_exp_train *tr, int sampling,
                     uint64_t seed, must_loader_opts *o);
void pl_loader_eval(const must_experiment *e, int split, int size, must_loader_opts *o);

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
} pl_train_opts;

/* Trains m (resuming from dir/resume.safetensors when there is one) and
 * writes dir/model.safetensors (weights only) at the end.  A non-finite
 * loss, gradient or weight stops it with an error naming the task(s) and
 * the step; the last checkpoint stays, and holds finite weights. */
int pl_train(const must_experiment *e, pl_model *m, const pl_train_opts *o, must_err *err);

/* Head t's metrics over a split (values: must_task_nmetrics entries). */
int pl_evaluate(const must_experiment *e, pl_model *m, int t, must_dataset *ds, int split,
                double *values, must_err *err);

/* Pseudo-labels every image of `unl` with the teachers' models into
 * out_dir/part-NNN datasets (each committed whole; finished parts are kept
 * by a rerun).  teacher_ckpt[i] is teacher i's model file. */
int pl_label(const must_experiment *e, must_dataset *unl, const int *teachers, int nteachers,
             char *const *teacher_ckpt, must_dataset *const *teacher_sets, const char *out_dir,
             must_err *err);

/* Progress output: a `\r` line on a terminal, plain lines otherwise. */
typedef struct pl_progress {
    const char *stage;
    long total;
    long start;         /* the step the run resumed from: the ETA's rate counts from it */
    double t0;
    int tty;
    long every;
} pl_progress;
void pl_progress_start(pl_progress *p, const char *stage, long total, long start);
void pl_progress_step(pl_progress *p, long step, const char *detail, double images_per_s);
void pl_progress_end(pl_progress *p);
double pl_now(void);

/* 64-bit FNV-1a, for the stage hashes. */
uint64_t pl_hash(uint64_t h, const char *s);

#endif
