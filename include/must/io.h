/* must/io.h - files written atomically, directories, small path helpers.
 *
 * Every output file of the project goes through must_afile: it is written to
 * a temporary name beside its destination, flushed, synced and renamed into
 * place, so that a crash leaves either the old file or the new one.  (The
 * world's rendered images skip the per-file sync, see core/base/io-impl.h: they
 * can be rendered again, and their set is synced once.)
 */
#ifndef MUST_IO_H
#define MUST_IO_H

#include <stddef.h>
#include <stdio.h>

#include "must/error.h"
#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct must_afile {
    FILE *fp;      /* write here between open and commit */
    char *path;    /* final destination (owned) */
    char *tmp;     /* temporary name beside it (owned) */
} must_afile;

/* Opens a temporary file beside path for writing. */
MUST_API int must_afile_open(must_afile *af, const char *path, must_err *err);
/* Flushes, syncs, closes and renames the temporary file onto path.  On
 * failure the temporary file is removed and the destination is untouched. */
MUST_API int must_afile_commit(must_afile *af, must_err *err);
/* Closes and removes the temporary file; the destination is untouched. */
MUST_API void must_afile_abort(must_afile *af);

/* Writes len bytes to path atomically. */
MUST_API int must_file_write_atomic(const char *path, const void *buf, size_t len, must_err *err);
/* Reads a whole file into a malloc'd buffer (NUL-terminated for text use);
 * the caller frees *buf. */
MUST_API int must_file_read(const char *path, char **buf, size_t *len, must_err *err);
/* Creates a directory and its parents (like mkdir -p). */
MUST_API int must_mkdir_p(const char *path, must_err *err);
/* 1 when path exists as a regular file, else 0. */
MUST_API int must_file_exists(const char *path);
/* Joins two path parts into a malloc'd string ("a" + "b" -> "a/b"). */
MUST_API char *must_path_join(const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif
