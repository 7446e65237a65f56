/* fault-impl.h - a test hook: the Nth write, fsync or rename of an output
 * file fails as if the disk were full (private to libmust).
 *
 * io.c's atomic files (and the few other places that sync or rename an
 * output) go through these functions.  Without MUST_FAULT in the
 * environment they are fopen, fsync and rename plus one test of a flag read
 * once.  With it, io.c's temporaries are written through a stream that
 * counts the writes its buffer makes to the file (so that libpng's and
 * fprintf's writes are counted like fwrite's: a preloaded write() would not
 * see glibc's own), and every operation draws a number from one counter
 * shared by all threads:
 *
 *   MUST_FAULT=N         the Nth operation (write, fsync or rename) fails
 *   MUST_FAULT=KIND:N    the Nth of one kind: write, fsync or rename
 *   MUST_FAULT=N+        the Nth and every later one (a disk that stays full)
 *   ...,eio              with EIO instead of ENOSPC
 *   ...,kill             the process kills itself (SIGKILL) at that point
 *                        instead: a crash between two file operations
 *   MUST_FAULT=count     nothing fails; at exit the totals go to stderr
 *   MUST_FAULT=trace     nothing fails; every operation is printed
 *
 * An injected failure is announced on stderr ("must: MUST_FAULT: write 12
 * of PATH fails: ...") and the count is printed at exit, so that a sweep
 * (tests/fault_sweep.sh) knows which file it hit and how many operations a
 * run made.  docs/crash-safety.md describes the sweeps. */
#ifndef MUST_FAULT_IMPL_H
#define MUST_FAULT_IMPL_H

#include <stdio.h>

typedef enum must_fault_op {
    MUST_FAULT_WRITE,
    MUST_FAULT_FSYNC,
    MUST_FAULT_RENAME,
} must_fault_op;

/* fopen(path, "wb"), or with MUST_FAULT set a stream whose writes count. */
FILE *must_fault_fopen(const char *path);
/* fsync of the file fp writes (path is its name), counted: 0 or -1, errno. */
int must_fault_fsync(FILE *fp, const char *path);
/* rename(from, to), counted: 0 or -1 with errno set. */
int must_fault_rename(const char *from, const char *to);
/* Counts one operation of kind op on path (a name for the messages): 0, or
 * -1 with errno set when it is the one to fail.  For operations the
 * functions above do not cover (syncing a whole filesystem). */
int must_fault_inject(must_fault_op op, const char *path);

#endif
