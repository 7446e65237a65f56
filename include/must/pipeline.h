/* must/pipeline.h - runs an experiment (must/experiment.h) in a run
 * directory: the teachers, the pseudo labels, the students, the transfer
 * sweep and the report, as `must run` does (docs/experiments.md).
 *
 * A run is a set of units of work, each in its own directory under the
 * run's: a dataset rendered from the world, a teacher, the pseudo labels of
 * one set, a student, one representation fine-tuned on one downstream task.
 * Each unit hashes exactly the settings it reads and the hashes of the
 * units it reads from: a finished unit is skipped, one that was cut off
 * resumes (the trainer from its last checkpoint, the labeller from its last
 * shard), one whose settings changed is redone.  Every file is written to a
 * temporary name and renamed into place.
 *
 *     must_experiment *e;
 *     must_run *r;
 *     must_err err = {0};
 *     if (must_exp_load("exp.ini", &e, &err) ||
 *         must_run_open(e, "run-exp", &r, &err))
 *         ...;
 *     must_run_set_events(r, my_progress, NULL);   (optional: silent without)
 *     int rc = must_run_stage(r, MUST_STAGE_ALL, &err);
 *     must_run_close(r);
 *     must_exp_free(e);
 *
 * The library prints nothing: what `must run` shows (unit lines, progress
 * with losses, img/s and ETA, the final tables) reaches the caller as
 * events.
 */
#ifndef MUST_PIPELINE_H
#define MUST_PIPELINE_H

#include <stddef.h>

#include "must/dataset.h"
#include "must/error.h"
#include "must/experiment.h"
#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The stages, in the order a whole run takes them. */
enum must_stage {
    MUST_STAGE_ALL = -1,     /* everything, report included */
    MUST_STAGE_TEACHERS = 0, /* every [teacher.X] */
    MUST_STAGE_LABEL,        /* pseudo labels of every [label] set */
    MUST_STAGE_STUDENT,      /* [student], every [student.X], [multitask], [simclr] */
    MUST_STAGE_TRANSFER,     /* every representation on every [transfer.X] */
    MUST_STAGE_REPORT,       /* report.md, results.json and .csv, the figures */
    MUST_NSTAGES
};
/* "teachers", "label", "student", "transfer", "report"; NULL out of range. */
MUST_API const char *must_stage_name(int stage);
/* The stage a name gives, or -1. */
MUST_API int must_stage_parse(const char *name);

/* ------------------------------------------------------------------------ */
/* Events: what a run has to say while it works.                            */

enum must_event_kind {
    MUST_EVENT_LINE = 0,     /* a line of text for the user (no newline) */
    MUST_EVENT_PROGRESS = 1, /* a unit made progress: one per step or batch */
    MUST_EVENT_PROGRESS_END = 2 /* the unit's progress is over */
};

typedef struct must_event {
    int kind;              /* enum must_event_kind */
    const char *text;      /* LINE: the line */
    const char *unit;      /* PROGRESS: "teacher cls", "label", "student" */
    long step, total;      /* PROGRESS: steps (or images) done, of total */
    const char *detail;    /* PROGRESS: each task's loss, "seg 0.5123 depth 0.2210" */
    double images_per_s;   /* PROGRESS: throughput since the unit (re)started */
    double eta_s;          /* PROGRESS: seconds left in the unit; < 0 when not known */
    double run_eta_s;      /* PROGRESS: seconds left in the whole run (a rough guess from
                            * the plan's work and the pace so far); < 0 when not known */
} must_event;

/* Called on the thread that runs the unit; the strings live for the call. */
typedef void (*must_event_fn)(void *user, const must_event *ev);

/* Asks every run of this process to stop at its next step (a training
 * step, a labelled batch) with its work saved: the unit writes its resume
 * checkpoint and the call returns MUST_EINTR, with a message saying how to
 * resume.  Async-signal-safe: a SIGINT or SIGTERM handler may call it. */
MUST_API void must_run_interrupt(void);
/* Forgets an interrupt (before a new run in the same process). */
MUST_API void must_run_interrupt_clear(void);

/* ------------------------------------------------------------------------ */
/* A run.                                                                   */

typedef struct must_run must_run;

/* Opens the run of experiment e in directory dir (created when work starts;
 * nothing is written yet).  e must outlive the run. */
MUST_API int must_run_open(const must_experiment *e, const char *dir, must_run **out,
                           must_err *err);
MUST_API void must_run_close(must_run *r);
/* fn NULL: no events (the default). */
MUST_API void must_run_set_events(must_run *r, must_event_fn fn, void *user);
MUST_API const char *must_run_dir(const must_run *r);
/* on = 1: the run writes nothing: a world set not rendered yet is an error
 * instead of a unit to do (`must eval` without --out). */
MUST_API void must_run_set_readonly(must_run *r, int on);

/* Takes DIR/.lock: one process writes into a run directory at a time; a
 * second is refused with an error naming the first's PID.  The kernel
 * releases the lock when the holder exits, however it ends.  Every
 * function below that writes takes it; must_run_close releases it. */
MUST_API int must_run_lock(must_run *r, must_err *err);

/* Copies the experiment's text to DIR/experiment.ini: the record of what
 * ran, for the commands that add to a run (not for an evaluation that only
 * reads one). */
MUST_API int must_run_record(must_run *r, must_err *err);

/* Counts the units that are not finished with their current hashes, per
 * kind, writing nothing; an event line says how many of each are to do
 * and, when verbose, one line names each such unit's directory.  todo (may
 * be NULL) gets the total. */
MUST_API int must_run_plan(must_run *r, int verbose, int *todo, must_err *err);

/* Runs one stage (and whatever it needs that is not done), or
 * MUST_STAGE_ALL: the plan line, then every stage.  A representation given
 * as file:PATH is checked to load before any training starts. */
MUST_API int must_run_stage(must_run *r, int stage, must_err *err);

/* One unit: teacher t (index into e->teachers), the pseudo labels of every
 * [label] set (training their teachers first when needed), the students
 * (every [student.X], [multitask] and [simclr] too; pseudo labels first). */
MUST_API int must_run_teacher(must_run *r, int t, must_err *err);
MUST_API int must_run_label(must_run *r, must_err *err);
MUST_API int must_run_students(must_run *r, must_err *err);

/* A metric of an evaluation. */
typedef struct must_metric {
    char name[32];
    double value;
    int lower_better;
} must_metric;

/* Evaluates checkpoint `model` (a backbone and the head of [task.X] task,
 * extra tensors ignored) on split `split` (MUST_SPLIT_*) of [data.X] data.
 * Fills out[0 .. max-1] and returns the number of metrics (>= 0), or a
 * negative status. */
MUST_API int must_run_eval(must_run *r, const char *model, int task, int data, int split,
                           must_metric *out, int max, must_err *err);

#ifdef __cplusplus
}
#endif
#endif
