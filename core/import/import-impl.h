/* import-impl.h - what the importers share (private). */
#ifndef MUST_IMPORT_IMPL_H
#define MUST_IMPORT_IMPL_H

#include <stddef.h>

#include "must/import.h"

/* The names in a directory (dot files left out) that are directories
 * (want_dir = 1) or regular files (0), in byte order.  Free with
 * imp_names_free. */
int imp_list_dir(const char *dir, int want_dir, char ***names, int *n, must_err *err);
void imp_names_free(char **names, int n);

/* The length of name's extension (with its dot) when it names an image
 * must reads: .png, .jpg or .jpeg in any case; else 0.  (The files are
 * picked by name; decoding then goes by content, see must_image_read.) */
size_t imp_image_ext(const char *name);

/* An image id from parts: "<a>_<first b_len characters of b>" (b NULL:
 * "<a>"), characters outside A-Z a-z 0-9 _ - . made '_'; an id past
 * MUST_ID_MAX keeps its head and a hash of a and the whole of b. */
void imp_make_id(char *id, const char *a, const char *b, size_t b_len);

/* A note through opts->note (printf-style). */
void imp_note(const must_import_opts *o, const char *fmt, ...) MUST_PRINTF(2, 3);

/* The set's name: opts->name, else out's last component. */
const char *imp_set_name(const must_import_opts *o, const char *out);

/* The split of the r-th of n items in a seeded order (test first, then
 * val, then train). */
int imp_split_of(long r, long n, double val, double test);

#endif
