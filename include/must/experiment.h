/* must/experiment.h - an experiment INI file (docs/experiments.md): the
 * backbone, the datasets, the tasks, the teachers, pseudo-labelling, the
 * student (and the supervised multi-task baseline), the representations to
 * compare and the transfer tasks.
 *
 * The parsed experiment is plain data, read-only after must_exp_load:
 * every key has a default, every error names the file, the line, the
 * section and the key.  Unknown and duplicate keys are errors.  The keys
 * of a [task.NAME] section other than `plugin` belong to the plugin: they
 * are checked against its option table at load (the plugin is loaded), so
 * a misspelt option fails before anything runs.
 */
#ifndef MUST_EXPERIMENT_H
#define MUST_EXPERIMENT_H

#include <stdint.h>

#include "must/augment.h"
#include "must/error.h"
#include "must/export.h"
#include "must/model.h"
#include "must/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MUST_EXP_NAME_MAX 64
#define MUST_EXP_MAX_LIST 32

/* One key as written in the file (its line for messages). */
typedef struct must_exp_kv {
    char *key, *value;
    int line;
    int pseudo_only;   /* a plugin option that shapes pseudo labels only (MUST_OPT_PSEUDO) */
} must_exp_kv;

/* [data.NAME]: a dataset directory, or images rendered from a world domain
 * into RUN/data/NAME. */
typedef struct must_exp_data {
    char name[MUST_EXP_NAME_MAX + 1];
    char *path;        /* an existing dataset (relative paths: to the INI's directory) */
    char *world;       /* a world domain (must/world.h) */
    int count;         /* world: images (0: the domain's count) */
    int size;          /* world: S (default: [experiment] image_size) */
    uint64_t seed;     /* world: seed (default: [experiment] seed) */
    int line;
} must_exp_data;

/* [task.NAME]: a plugin and its options. */
typedef struct must_exp_task {
    char name[MUST_EXP_NAME_MAX + 1];
    char plugin[MUST_EXP_NAME_MAX + 1]; /* default: NAME */
    int kind;                           /* the plugin's label kind */
    must_exp_kv *opts;                  /* the plugin's keys, in file order */
    int nopts;
    int line;
} must_exp_task;

/* The keys every training section shares. */
typedef struct must_exp_train {
    long steps;          /* optimizer updates */
    int batch;
    must_optim_config optim; /* optimizer, lr, momentum, weight_decay, schedule, warmup, clip */
    int augment;         /* 1: the loader's random augmentation */
    long checkpoint_every; /* steps between checkpoints (0: steps / 4) */
    int sync_bn;         /* over MPI ranks: batch norm's statistics of the global batch */
} must_exp_train;

/* A representation: a row to compare ([compare] representations) or the
 * weights a model starts from (`init` of a teacher or student section). */
enum must_rep_kind {
    MUST_REP_RANDOM = 0,     /* "random" */
    MUST_REP_TEACHER = 1,    /* "supervised:<teacher>" */
    MUST_REP_MULTITASK = 2,  /* "multitask" */
    MUST_REP_STUDENT = 3,    /* "must", "must:<student>" */
    MUST_REP_FILE = 4,       /* "file:<path>" */
    MUST_REP_SIMCLR = 5      /* "simclr": the [simclr] section's model */
};
typedef struct must_exp_rep {
    char label[MUST_EXP_NAME_MAX * 2 + 16]; /* as written: "supervised:cls" */
    int kind;
    int teacher;         /* MUST_REP_TEACHER */
    int student;         /* MUST_REP_STUDENT: index into variants, -1 for [student] */
    char *path;          /* MUST_REP_FILE (resolved) */
} must_exp_rep;

/* [teacher.NAME]: one task trained on one labelled set. */
typedef struct must_exp_teacher {
    char name[MUST_EXP_NAME_MAX + 1];
    int task;            /* index into tasks */
    int data;            /* index into data */
    must_exp_train train;
    int line;
    must_exp_rep init;   /* backbone weights to start from (MUST_REP_RANDOM: none) */
} must_exp_teacher;

/* paper: the rule of the paper's §3.3; equal: 1; uncertainty: learned
 * per-task weights exp(-s_i) (must/weighting.h). */
enum must_exp_weighting { MUST_WEIGHT_PAPER = 0, MUST_WEIGHT_EQUAL = 1, MUST_WEIGHT_UNCERTAINTY = 2 };

/* [student], [student.NAME] and [multitask]: a multi-task model over a
 * union of sets.  Named students are further MuST students (the paper's
 * Table 3 adds one teacher's pseudo labels at a time): representation
 * `must:NAME`, run directory RUN/student-NAME/. */
typedef struct must_exp_student {
    char name[MUST_EXP_NAME_MAX + 1]; /* [student.NAME]; "" for [student], [multitask] */
    int line;
    int enabled;         /* [multitask]: present in the file */
    must_exp_train train;
    int sampling;        /* MUST_SAMPLE_UNION (student default) or _BALANCED (multitask) */
    int weighting;       /* enum must_exp_weighting */
    int nweights;        /* per-teacher overrides: weight.<teacher> = w */
    int weight_teacher[MUST_EXP_MAX_LIST];
    double weight_value[MUST_EXP_MAX_LIST];
    int weight_line[MUST_EXP_MAX_LIST];
    int teachers[MUST_EXP_MAX_LIST]; /* the tasks, named by their teachers */
    int nteachers;
    int extra[MUST_EXP_MAX_LIST];    /* student: labelled sets added to the union */
    int nextra;
    int data[MUST_EXP_MAX_LIST];     /* student: the [label] sets whose pseudo-labelled
                                      * copies make the union (empty: all of them) */
    int ndata;
    must_exp_rep init;   /* backbone weights to start from (MUST_REP_RANDOM: none) */
    /* [simclr] only (it reuses this struct: no teachers, no labels). */
    int task;            /* its [task.X]: a plugin that reads no labels ([simclr] only) */
    must_aug_opts aug;   /* SimCLR's augmentation of each of the two views */
} must_exp_student;

/* [label]: which sets get pseudo labels from which teachers. */
typedef struct must_exp_label {
    int data[MUST_EXP_MAX_LIST];
    int ndata;
    int teachers[MUST_EXP_MAX_LIST];
    int nteachers;
    int batch;
    int shard;           /* images per committed shard (resume granularity) */
} must_exp_label;

/* [transfer.NAME]: a downstream task, fine-tuned end to end per
 * representation over lr x steps, chosen on val, reported on test. */
typedef struct must_exp_transfer {
    char name[MUST_EXP_NAME_MAX + 1];
    int task, data;
    double lrs[MUST_EXP_MAX_LIST];
    int nlr;
    long steps[MUST_EXP_MAX_LIST]; /* ascending */
    int nsteps;
    must_exp_train train; /* steps = the largest of steps[] */
    int line;
} must_exp_transfer;

typedef struct must_experiment {
    char *file;          /* as given */
    char *dir;           /* its directory, for relative paths */
    char *text;          /* the whole file, for checkpoints' metadata */
    char name[MUST_EXP_NAME_MAX + 1];
    uint64_t seed;
    int threads, workers, image_size, eval_batch;
    int tensorboard;     /* event files beside loss.csv and of the report's figures */
    must_backbone_config backbone;
    must_exp_data *data;
    int ndata;
    must_exp_task *tasks;
    int ntasks;
    must_exp_teacher *teachers;
    int nteachers;
    must_exp_label label;
    must_exp_student student, multitask;
    must_exp_student *variants; /* [student.NAME] */
    int nvariants;
    must_exp_rep reps[MUST_EXP_MAX_LIST];
    int nreps;
    int baseline;        /* index into reps */
    must_exp_transfer *transfers;
    int ntransfers;
    /* seeds = 1, 2, 3: the run is repeated per seed (RUN/seed-N, sharing
     * RUN/data, whose world seeds stay `seed`'s), and the report gives
     * each cell's mean and standard deviation over them.  0: one run. */
    long seeds[MUST_EXP_MAX_LIST];
    int nseeds;
    /* [simclr]: the self-supervised baseline (representation `simclr`),
     * trained on the images of `data` (default: [label]'s sets) alone, two
     * augmented views per image; enabled when the section is present. */
    must_exp_student simclr;
} must_experiment;

/* Reads and checks an experiment.  Loads each task's plugin to check its
 * keys.  *out is freed with must_exp_free. */
MUST_API int must_exp_load(const char *path, must_experiment **out, must_err *err);
/* The same from text; `file` names it in messages and its directory
 * resolves relative paths. */
MUST_API int must_exp_parse(const char *text, const char *file, must_experiment **out,
                            must_err *err);
MUST_API void must_exp_free(must_experiment *e);
/* Replaces e's seeds with a comma-separated list ("1, 2, 3": whole,
 * ascending, at most MUST_EXP_MAX_LIST), as `must run --seeds` does. */
MUST_API int must_exp_set_seeds(must_experiment *e, const char *list, must_err *err);

/* Lookups by name; -1 when absent. */
MUST_API int must_exp_find_data(const must_experiment *e, const char *name);
MUST_API int must_exp_find_task(const must_experiment *e, const char *name);
MUST_API int must_exp_find_teacher(const must_experiment *e, const char *name);

/* A representation's section: [student], a [student.NAME], [multitask] or
 * [simclr]; NULL for the other kinds. */
MUST_API const must_exp_student *must_exp_rep_student(const must_experiment *e,
                                                      const must_exp_rep *rep);

/* The loss weight of teacher t's task in a student section: an override,
 * else the paper's rule w = (b_s * lr_t) / (b_t * lr_s), or 1 (equal).
 * With uncertainty weighting it is the initial weight exp(-s0): an
 * override (> 0), else 1, so s0 = -log w. */
MUST_API double must_exp_weight(const must_experiment *e, const must_exp_student *s, int t);

/* The documentation of every section and key: calls fn once per key with
 * its section pattern, name, default and meaning (for docs and --help). */
typedef void (*must_exp_doc_fn)(void *user, const char *section, const char *key,
                                const char *def, const char *help);
MUST_API void must_exp_describe(must_exp_doc_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
