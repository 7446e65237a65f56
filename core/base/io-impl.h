/* io-impl.h - atomic files without the wait for the disk, for files that
 * can be made again (the world's rendered sets; private to libmust). */
#ifndef MUST_IO_IMPL_H
#define MUST_IO_IMPL_H

#include "must/image.h"
#include "must/io.h"

/* must_afile_commit without the fsync: still renamed into place whole, but
 * a crash may leave the file empty or cut short, so whoever resumes such a
 * set checks its files (must_png_complete) instead of trusting that they
 * exist, and the writer syncs the whole set once (must_io_sync_fs) before
 * it writes what marks the set finished.  A 64-pixel image spent more time
 * in its fsync than in its rendering. */
int must_afile_commit_nosync(must_afile *af, must_err *err);
int must_png_write_nosync(const char *path, const must_image *img, must_err *err);
/* 1 when path is a file that ends with a PNG's IEND chunk. */
int must_png_complete(const char *path);
/* Writes every dirty file of dir's filesystem to disk. */
int must_io_sync_fs(const char *dir, must_err *err);

/* Removes, under dir and its subdirectories, the temporaries of atomic
 * writes ("NAME.tmp.PID", must_afile_open) that a killed process left;
 * called only by a writer that owns dir (a run holding RUN/.lock, a set's
 * writer committing), for whom every such file is stale.  Symbolic links
 * are not followed.  Returns how many it removed, or -1 when one could not
 * be. */
long must_io_remove_temps(const char *dir);

#endif
