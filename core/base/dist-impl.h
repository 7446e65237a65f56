/* dist-impl.h - the collectives the library's layers use (private; the
 * public half is must/dist.h).  core/base/dist.c is the only file that
 * includes mpi.h; without MPI, or in one rank, or in a solo scope, each of
 * these is a no-op that returns MUST_OK.
 *
 * Every rank must call the collectives in the same order.  `what` names the
 * point ("teacher seg: step 12") for the time-out's message: a collective
 * that waits longer than MUST_DIST_TIMEOUT seconds asks the other ranks
 * where they are, names those that do not answer, and ends the job (a rank
 * that hangs cannot be stopped any other way).  Other failures (MPI's own)
 * return MUST_EIO. */
#ifndef MUST_DIST_IMPL_H
#define MUST_DIST_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "must/dist.h"

/* The rank and size the caller works in: 0 and 1 inside a solo scope
 * (must_dist_rank and must_dist_size are the same outside one). */
int must_dist_group_rank(void);
int must_dist_group_size(void);
/* 1 on the rank that writes a shared output (rank 0 of the group). */
int must_dist_writer(void);
/* Ranks on this machine (mpirun's local size), for a default thread count. */
int must_dist_local_size(void);

/* In place: v = the sum of every rank's v. */
int must_dist_sum_f(float *v, size_t n, const char *what, must_err *err);
int must_dist_sum_d(double *v, size_t n, const char *what, must_err *err);
/* Every rank's buf = rank 0's. */
int must_dist_bcast(void *buf, size_t bytes, const char *what, must_err *err);
int must_dist_barrier(const char *what, must_err *err);
/* Every rank's 64-bit value side by side: all[r] = rank r's v (all: size
 * entries). */
int must_dist_gather_u64(uint64_t v, uint64_t *all, const char *what, must_err *err);
/* Every rank's n doubles side by side: all[r n .. r n + n) = rank r's v
 * (all: size x n entries). */
int must_dist_gather_d(const double *v, size_t n, double *all, const char *what, must_err *err);

/* Agrees on a status: every rank passes its own; when any failed, every
 * rank returns the failure of the lowest failed rank with its message
 * (prefixed "rank R: " on the others) and the error counts as agreed. */
int must_dist_agree(int rc, must_err *err);
/* Marks the error being returned as the same on every rank (a decision
 * every rank took from the same reduced values). */
void must_dist_set_agreed(void);

/* A solo scope: until the matching end, this rank works alone, as rank 0
 * of 1 (the transfer sweep's cells, one rank each).  Nests. */
void must_dist_solo_begin(void);
void must_dist_solo_end(void);

#endif
