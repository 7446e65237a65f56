/* run-impl.h - a run's units of work and its report (private).
 *
 * Files, lowest first (each calls only those above it in this list, and
 * the ones of pipeline-impl.h):
 *   unit.c      the run's state, paths, datasets, a unit's hash/done files
 *   lock.c      one writer per run directory
 *   hash.c      the canonical text of each unit's settings, hashed
 *   needs.c     which units the [compare] rows need
 *   labelled.c  the pseudo-labelled parts, class maps, the hidden truth
 *   quality.c   pseudo labels scored against the hidden truth
 *   teacher_eval.c  each teacher's score on its own val split
 *   units.c     teachers, pseudo labels, students
 *   transfer.c  a representation fine-tuned on a downstream task
 *   plan.c      what is still to do
 *   curves.c    loss curves and the sweeps' validation curves, as pictures
 *   figures.c   Figures 2, 4 and 5
 *   intervals.c the paired bootstrap intervals of each transfer cell
 *   report.c    collecting every result; report_files.c writes them
 *   seeds.c     seeds = ...: one run per seed and the report over them
 *   pipeline.c  the public API (must/pipeline.h)
 */
#ifndef MUST_RUN_IMPL_H
#define MUST_RUN_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "must/dataset.h"
#include "must/experiment.h"
#include "must/pipeline.h"
#include "pipeline-impl.h"

struct must_run {
    const must_experiment *e;
    char *out;
    pl_out events;
    must_dataset **sets;        /* per [data.X], opened on demand */
    uint64_t *data_hash, *teacher_hash;
    must_dataset **labelled;    /* the pseudo-labelled shards */
    int *labelled_set;          /* each shard's [label] set (index into label.data) */
    int nlabelled;
    /* What a whole run needs (needs.c): per teacher, per [label] set, per
     * student section, per [data.X]. */
    unsigned char *need_teacher, *need_label, *need_variant, *need_data;
    unsigned char need_student, need_multitask, need_simclr;
    int readonly;               /* render nothing (must_run_set_readonly) */
    pl_clock clock;             /* a whole run's work (must_run_stage) */
    int lock_fd;                /* RUN/.lock held (lock.c); -1: not locked */
    /* seeds = ... (seeds.c): the top run holds one run per seed, each in
     * RUN/seed-N with its own copy of the experiment (seed = N) and RUN as
     * its data_root, so that every seed reads the same RUN/data. */
    struct must_run **seed_runs;
    must_experiment **seed_exps;
    int nseed_runs;
    char *data_root;            /* where data/ lives; NULL: out */
    /* The init files' hashes (path and bytes), read once by run_hash_inputs:
     * fh_path[i] is the experiment's own pointer. */
    const char **fh_path;
    uint64_t *fh_hash;
    int nfh;
};
typedef struct must_run run_state;

#define RUN_MAX_METRICS 16

/* One representation on one downstream task, at the point chosen on val. */
typedef struct run_result {
    char metric[64];            /* the headline */
    int lower_better;
    double val, test;           /* the headline at the chosen point */
    double lr;
    long steps;
    int nmetrics;
    char metric_names[RUN_MAX_METRICS][32];
    double test_all[RUN_MAX_METRICS];
} run_result;

/* Pseudo-label quality of one teacher on one labelled set. */
enum { RUN_Q_OK = 0, RUN_Q_NO_TRUTH, RUN_Q_CANNOT, RUN_Q_CLASSES, RUN_Q_EMPTY, RUN_Q_UNUSED };
typedef struct run_quality {
    char set[72], teacher[72], task[72], plugin[72];
    int status;                 /* RUN_Q_* */
    long images;                /* images scored */
    double coverage;            /* % of truth-labelled pixels the pseudo labels label; < 0: n/a */
    double vocab;               /* % of the truth's labels (images, boxes, pixels) whose class
                                 * the teacher knows; < 0: n/a */
    int nmetrics;               /* 0 unless scored */
    char metric_names[RUN_MAX_METRICS][32];
    int lower_better[RUN_MAX_METRICS];
    double values[RUN_MAX_METRICS];
} run_quality;

/* ---- unit.c ------------------------------------------------------------- */

/* The state of a run in `out`; the hashes of its inputs are left to
 * run_hash_inputs (hash.c). */
int run_state_new(const must_experiment *e, const char *out, run_state **r, must_err *err);
void run_state_free(run_state *r);
/* out/a[/b[/c]], malloc'd (data/... under data_root when set). */
char *run_path(const run_state *r, const char *a, const char *b, const char *c);
/* [data.X] i, rendered from the world first when it is a world set. */
int run_dataset(run_state *r, int i, must_dataset **out, must_err *err);
/* A unit's directory: 1 when it finished with hash h. */
int run_unit_done(const char *dir, uint64_t h);
/* Prepares dir for a unit with hash h: an unfinished unit of the same hash
 * is kept (to resume); anything else there is removed. */
int run_unit_begin(run_state *r, const char *dir, uint64_t h, const char *what, must_err *err);
int run_unit_finish(const char *dir, uint64_t h, must_err *err);
/* Over several ranks, work on files rank 0 alone does (a score, a cache,
 * the report): begin returns 1 on rank 0, which then works as a rank of its
 * own; end (on every rank, with this rank's begin and status) gives every
 * rank rank 0's status. */
int run_rank0_begin(void);
int run_rank0_end(int mine, int rc, must_err *err);
/* 1 when the unit in RUN/a[/b[/c]] finished with hash h. */
int run_done_at(const run_state *r, uint64_t h, const char *a, const char *b, const char *c);

/* ---- lock.c ------------------------------------------------------------- */

/* Takes RUN/.lock (creating RUN): one process writes into a run at a time.
 * A second one is refused naming the holder's PID. */
int run_lock(run_state *r, must_err *err);
void run_unlock(run_state *r);

/* ---- hash.c ------------------------------------------------------------- */

/* 64-bit FNV-1a of s folded into h (0: start), with a separator after it. */
uint64_t pl_hash(uint64_t h, const char *s);
/* The settings every unit shares (backbone, image size, seed). */
uint64_t run_hash_common(const must_experiment *e);
/* Fills r->data_hash and r->teacher_hash. */
void run_hash_inputs(run_state *r);
/* Label unit li's hash, of the pseudo labels of the teachers in `only`
 * (NULL: all of them, the unit's own hash). */
uint64_t run_hash_label(const run_state *r, int li, const must_exp_student *only);
/* A student section's directory (student, student-NAME, multitask, simclr), whether
 * its union takes [label] set li, and its hash. */
/* The student sections in the order they train: [student], every
 * [student.NAME], [multitask], [simclr]; i in [0, run_nmulti(e)).  The last
 * two exist only when their section is in the file (run_multi_given). */
int run_nmulti(const must_experiment *e);
const must_exp_student *run_multi_at(const must_experiment *e, int i);
int run_multi_given(const must_experiment *e, const must_exp_student *s);
void run_multi_dirname(const must_experiment *e, const must_exp_student *s, char *buf,
                       size_t len);
int run_multi_takes(const must_exp_student *s, const must_experiment *e, int li);
uint64_t run_hash_multi(const run_state *r, const must_exp_student *s);
/* A trained student as a representation: its name and its done file's
 * content; 0 when unreadable. */
int run_hash_student_rep(const run_state *r, const char *dir, uint64_t *h);
/* A file as a representation: its path and its bytes. */
int run_hash_file_rep(const char *path, uint64_t *h, must_err *err);
/* Transfer ti of the representation with hash rh. */
uint64_t run_hash_transfer(const run_state *r, int ti, uint64_t rh);

/* ---- needs.c ------------------------------------------------------------ */

/* Fills r->need_*: with [transfer.X] sections, what the [compare] rows
 * need; without, every unit. */
int run_needs_compute(run_state *r, must_err *err);
/* A wanted student without tasks or datasets is an error, said before
 * anything runs (must_run_plan, and a run of the whole or the student stage). */
int run_needs_check(const run_state *r, must_err *err);
/* 1 when a whole run needs student section s. */
int run_needs_multi(const run_state *r, const must_exp_student *s);

/* ---- labelled.c --------------------------------------------------------- */

/* The pseudo-labelled parts of [label] set li, opened (at least one). */
int run_labelled_parts(run_state *r, int li, must_dataset ***parts, int *n, must_err *err);
void run_labelled_parts_free(must_dataset **parts, int n);
/* [label] set li's parts, opened into r->labelled (once). */
int run_open_labelled(run_state *r, int li, must_err *err);
/* map[c] = the index in `to` of class c of `from` (same name) or -1; known
 * (may be NULL) gets 1 for each class of `to` some class maps to.  Returns
 * the number of classes without a match. */
int run_class_map(const must_dataset *from, const must_dataset *to, int kind, int *map,
                  unsigned char *known);
/* Moves a label of `kind` into other classes by map (nfrom entries, into
 * nto classes): unmatched pixels become 255, unmatched boxes go, a soft
 * label keeps and renormalises the matched mass. */
int run_labels_remap(must_labels *g, int kind, const int *map, int nfrom, int nto, must_err *err);
int run_kind_has_classes(int kind);
/* DIR/truth of a set when it holds a dataset, malloc'd; else NULL. */
char *run_truth_dir(const must_dataset *ds);

/* ---- quality.c ---------------------------------------------------------- */

/* Scores each labelling teacher's pseudo labels on [label] set li against
 * the set's hidden truth (q: room for e->label.nteachers), from the cache
 * RUN/label/SET/quality.txt when there, else computed and cached. */
int run_quality_set(run_state *r, int li, run_quality *q, must_err *err);
/* The rows of a set a whole run does not label (RUN_Q_UNUSED). */
int run_quality_unused(const run_state *r, int li, run_quality *q);
const char *run_quality_status_text(int status);
/* One event line per teacher. */
void run_quality_say(const run_state *r, const run_quality *q, int n);

/* ---- units.c ------------------------------------------------------------ */

/* A representation's weights file (NULL for random init) and its hash,
 * training its model first when that is not done. */
int run_rep_source(run_state *r, const must_exp_rep *rep, char **path, uint64_t *h,
                   must_err *err);
/* Every init file of a unit the run needs exists and holds this backbone:
 * said before anything trains. */
int run_check_inits(run_state *r, must_err *err);

int run_teacher(run_state *r, int t, must_err *err);
int run_label(run_state *r, int li, must_err *err);
/* Every [label] set (needed_only: those a whole run needs). */
int run_labels(run_state *r, int needed_only, must_err *err);
int run_multi(run_state *r, const must_exp_student *s, must_err *err);
/* [student], every [student.X], [multitask], [simclr] (needed_only: those
 * a whole run needs). */
int run_students(run_state *r, int needed_only, must_err *err);

/* ---- transfer.c --------------------------------------------------------- */

/* The directory name of a representation: its label with : / . as -
 * (file: rows: file-STEM-HASH). */
void run_rep_dirname(const must_exp_rep *rep, char *buf, size_t len);
/* A learning rate's folder: lr-0.05 (all digits when two rates of the
 * sweep would print the same). */
void run_lr_dirname(const must_exp_transfer *tr, int li, char *buf, size_t len);
/* dir/eval-STEP.txt: the first nm val and test metrics; MUST_ENOTFOUND or
 * MUST_EFORMAT when missing or bad. */
int run_read_eval(const char *dir, long step, int nm, double *val, double *test);
int run_transfer_one(run_state *r, int rep, int transfer, run_result *res, must_err *err);
/* Every representation on every downstream task (what is not done yet). */
int run_transfers(run_state *r, must_err *err);
/* Over several ranks: the cells not done yet, spread over the ranks (each
 * rank trains and evaluates its cells alone), then every rank has them
 * all on disk; nothing in one rank. */
int run_transfers_spread(run_state *r, must_err *err);
/* Checks that every file:<path> representation loads as a backbone, so that
 * a wrong path fails before hours of training rather than after. */
int run_check_files(run_state *r, must_err *err);

/* ---- plan.c ------------------------------------------------------------- */

/* The kinds of unit, in the plan's order. */
enum { RUN_U_DATA, RUN_U_TEACHER, RUN_U_LABEL, RUN_U_STUDENT, RUN_U_TRANSFER, RUN_NUNIT_KINDS };
/* Units of each kind (all) and those not finished with their current hash
 * (todo). */
void run_plan_count(run_state *r, int todo[RUN_NUNIT_KINDS], int all[RUN_NUNIT_KINDS]);

/* Says how many units of each kind are still to do (and, when verbose, one
 * line per unit to do), from the hashes the units check; returns the
 * number to do. */
int run_plan(run_state *r, int verbose);
/* The work of the units still to do, in image-steps (pl_clock). */
double run_plan_work(run_state *r);

/* ---- curves.c ----------------------------------------------------------- */

#define RUN_MAX_CURVES 64
/* The curves written (RUN/curves/NAME.png): file names and titles. */
typedef struct run_curves {
    char file[RUN_MAX_CURVES][96];
    char title[RUN_MAX_CURVES][160];
    int n;
} run_curves;
/* Draws every trained unit's loss curve and each downstream task's
 * validation curves (res: the chosen points, nreps x ntransfers). */
int run_draw_curves(run_state *r, const run_result *res, run_curves *out, must_err *err);

/* ---- figures.c ---------------------------------------------------------- */

/* The figures (PNG, atomically): Figure 2, pseudo labels on a few images
 * of the first [label] set; Figure 4, the student's predictions on a few of
 * its test images; each beside the hidden truth when the set has one.
 * *made = 0 when there is nothing to draw (no labels, no student).
 * Figure 5: the transfer results' relative gains over the baseline (res:
 * nreps x ntransfers). */
int run_fig2(run_state *r, const char *path, int *made, must_err *err);
int run_fig4(run_state *r, const char *path, int *made, must_err *err);
int run_fig5(const must_experiment *e, const run_result *res, const char *path, must_err *err);
/* Relative gain of x over base in percent, positive when better. */
double run_gain(const run_result *x, const run_result *base);

/* ---- teacher_eval.c ----------------------------------------------------- */

/* A teacher's own score on its set's val split. */
typedef struct run_tscore {
    int done;                   /* 1 when scored (the teacher trained, its set has a val split) */
    long images;
    int nmetrics;
    char names[RUN_MAX_METRICS][32];
    int lower[RUN_MAX_METRICS];
    double values[RUN_MAX_METRICS];
} run_tscore;
/* Teacher t's score, from RUN/teachers/NAME/val.txt or computed and
 * written there (the teacher unit does it as it finishes). */
int run_teacher_score(run_state *r, int t, run_tscore *s, must_err *err);
/* scores[t] for every teacher a whole run needs and has trained (others
 * done = 0). */
int run_teacher_scores(run_state *r, run_tscore *scores, must_err *err);

/* ---- report.c, report_files.c ------------------------------------------- */

/* Everything a report shows. */
/* A representation's difference from the baseline on one task, better
 * positive: the paired bootstrap's 95% interval over test images and seeds. */
typedef struct run_interval {
    int ok;                     /* 0: none (why says why; "" for the baseline) */
    double lo, hi;
    double diff;                /* the difference on the whole split, mean over seeds: recomputed
                                 * from the per-image states, it must equal the reports' */
    int excludes_zero;
    char why[96];
} run_interval;

typedef struct run_report_data {
    run_result *res;            /* nreps x ntransfers */
    run_quality *qual;          /* label.ndata x label.nteachers */
    int nq;
    int made2, made4;           /* figures 2 and 4 drawn */
    run_tscore *teacher;        /* per teacher */
    long *ntest;                /* per transfer: its set's test images */
    run_interval *iv;           /* nreps x ntransfers, or NULL: no intervals */
    run_curves curves;
} run_report_data;

/* Runs every transfer unit not done yet (and what they need) and writes
 * report.md, results.json, results.csv and the figures. */
int run_report(run_state *r, must_err *err);
/* What report.md shows, collected (running what is not done yet); free
 * with run_report_data_free. */
int run_report_collect(run_state *r, run_report_data *d, must_err *err);
void run_report_data_free(run_report_data *d);

/* ---- seeds.c ------------------------------------------------------------ */

/* With seeds = ...: one run state per seed under r (r->seed_runs). */
int run_seeds_open(run_state *r, must_err *err);
void run_seeds_close(run_state *r);
/* RUN/report.md, results.json and results.csv over the seeds' reports:
 * each cell's per-seed values, mean and standard deviation, and the
 * interval of its difference from the baseline. */
int run_seeds_report(run_state *r, must_err *err);

/* ---- intervals.c -------------------------------------------------------- */


/* out[ri * ntransfers + ti] for every cell, over the nruns runs of one
 * experiment's seeds (a run without seeds passes itself); res: a report's
 * results (res[ti] says whether task ti's headline is lower-better). */
int run_intervals(run_state *const *seed_runs, int nruns, const run_result *res,
                  run_interval *out, must_err *err);
/* A number as JSON: null when it is not finite. */
void run_json_num(FILE *fp, double v);
int run_report_write_md(run_state *r, const run_report_data *d, const char *path,
                        must_err *err);
int run_report_write_json(run_state *r, const run_report_data *d, const char *path,
                          must_err *err);
int run_report_write_csv(run_state *r, const run_report_data *d, const char *path,
                         must_err *err);

#endif
