/* run-impl.h - `must run`'s units of work and its report (private). */
#ifndef MUST_RUN_IMPL_H
#define MUST_RUN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "must/dataset.h"
#include "must/experiment.h"

enum { RUN_TEACHERS = 0, RUN_LABEL, RUN_STUDENT, RUN_TRANSFER, RUN_REPORT };

typedef struct run_state {
    const must_experiment *e;
    char *out;
    must_dataset **sets;        /* per [data.X], opened on demand */
    uint64_t *data_hash, *teacher_hash;
    must_dataset **labelled;    /* the pseudo-labelled shards */
    int *labelled_set;          /* each shard's [label] set (index into label.data) */
    int nlabelled;
} run_state;

#define RUN_MAX_METRICS 16
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
enum { RUN_Q_OK = 0, RUN_Q_NO_TRUTH, RUN_Q_CANNOT, RUN_Q_CLASSES, RUN_Q_EMPTY };
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

int run_open(run_state *r, const must_experiment *e, const char *out, must_err *err);
/* Writes out/experiment.ini: only for commands that add to the run, so that
 * `must eval` with another file does not rewrite the record of what ran. */
int run_record(run_state *r, must_err *err);
void run_close(run_state *r);
/* out/a[/b[/c]], malloc'd. */
char *run_path(const run_state *r, const char *a, const char *b, const char *c);
int run_dataset(run_state *r, int i, must_dataset **out, must_err *err);
int run_teacher(run_state *r, int t, must_err *err);
int run_label(run_state *r, must_err *err);
int run_student(run_state *r, must_err *err);
/* Prints how many units of each kind are still to do (after, when verbose,
 * one line per unit to do), from the hashes the units check. */
void run_plan(run_state *r, int verbose);
int run_transfer_one(run_state *r, int rep, int transfer, run_result *res, must_err *err);
void run_rep_dirname(const must_exp_rep *rep, char *buf, size_t len);
/* Every representation on every downstream task (what is not done yet). */
int run_transfers(run_state *r, must_err *err);
/* Checks that every file:<path> representation loads as a backbone, so that
 * a wrong path fails before hours of training rather than after. */
int run_check_files(run_state *r, must_err *err);
/* Runs every transfer unit not done yet (and what they need) and writes
 * report.md, results.json, results.csv and the figures. */
int run_report(run_state *r, must_err *err);
/* Scores each labelling teacher's pseudo labels on [label] set li against
 * the set's hidden truth (q: room for e->label.nteachers), from the cache
 * RUN/label/SET/quality.txt when there, else computed and cached. */
int run_quality_set(run_state *r, int li, run_quality *q, must_err *err);
const char *run_quality_status_text(int status);
void run_quality_print(const run_quality *q, int n);
/* The pseudo-labelled parts of [label] set li, opened (at least one). */
int run_labelled_parts(run_state *r, int li, must_dataset ***parts, int *n, must_err *err);
void run_labelled_parts_free(must_dataset **parts, int n);
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
/* The figures (PNG, atomically): Figure 2, pseudo labels on a few images
 * of the first [label] set; Figure 4, the student's predictions on a few of
 * its test images; each beside the hidden truth when the set has one.
 * *made = 0 when there is nothing to draw (no labels, no student). */
int run_fig2(run_state *r, const char *path, int *made, must_err *err);
int run_fig4(run_state *r, const char *path, int *made, must_err *err);
/* stage < 0: everything. */
int run_all(run_state *r, int stage, must_err *err);

#endif
