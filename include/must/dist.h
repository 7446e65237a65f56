/* must/dist.h - one command over several MPI ranks (`mpirun -np N must ...`).
 *
 * A program calls must_dist_init first and must_dist_finalize last.  In a
 * build with Open MPI (must_dist_available) started by mpirun, init starts
 * MPI and the library's commands split their work over the ranks:
 * data-parallel training, pseudo-labelling parts, rendered images, imported
 * images, transfer cells (docs/scale-out.md).  Anywhere else - started
 * without mpirun, or built without MPI - it starts nothing and everything
 * runs as rank 0 of 1, as before.  The library never needs init: without
 * it, it is one rank.
 *
 * Errors over several ranks: a command that fails on every rank at the
 * same point (a stop on request, a non-finite loss, a refused lock, a file
 * every rank found missing) fails the same way everywhere, and
 * must_dist_error_agreed says so: rank 0 reports it and every rank ends
 * normally.  An error of one rank alone leaves the others waiting for it:
 * that rank reports it, naming itself, and ends the whole job with
 * must_dist_abort.  A rank that dies ends the job through mpirun; one that
 * hangs is found by the others' time-out (MUST_DIST_TIMEOUT seconds in a
 * collective, 900 by default, 0 for none), which names it and ends the job.
 */
#ifndef MUST_DIST_H
#define MUST_DIST_H

#include "must/error.h"
#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this build has MPI. */
MUST_API int must_dist_available(void);
/* The MPI library ("Open MPI v4.1.4, ..."), or "" without MPI. */
MUST_API const char *must_dist_library(void);

/* Starts MPI when the process was started by mpirun; else nothing.  Safe to
 * call once; argc and argv may be NULL. */
MUST_API int must_dist_init(int *argc, char ***argv, must_err *err);
/* Ends MPI when init started it (every rank must call it). */
MUST_API void must_dist_finalize(void);

/* This process's rank and the number of ranks (0 and 1 without MPI). */
MUST_API int must_dist_rank(void);
MUST_API int must_dist_size(void);

/* 1 when the last failure was agreed by every rank (see above). */
MUST_API int must_dist_error_agreed(void);
/* Ends every rank of the job with status (MPI_Abort); exit(status) when
 * there is no MPI job. */
MUST_API void must_dist_abort(int status);

/* The time spent in collectives since init (or the last reset), for
 * benchmarks: calls, seconds, bytes reduced or broadcast. */
typedef struct must_dist_stats {
    long calls;
    double seconds;
    double bytes;
} must_dist_stats;
MUST_API void must_dist_get_stats(must_dist_stats *s);
MUST_API void must_dist_reset_stats(void);

#ifdef __cplusplus
}
#endif
#endif
