/* ini-impl.h - INI text read through inih into sections and keys that know
 * their line (private to libmust; every INI file of must is read here:
 * experiments, dataset.ini, world domains).
 *
 * The syntax: `[section]` lines and `key = value` lines.  A line whose first
 * non-blank character is `#` or `;` is a comment, and so is what follows a
 * `#` or `;` that comes after a blank.  Blanks around names and values do
 * not count; CRLF line ends and a UTF-8 byte order mark are accepted; a line
 * may be of any length.  With MUST_INI_CONTINUATION, a line that starts with
 * a blank continues the value of the key above it, joined with a blank;
 * without it, indentation does not count.  A key before the first section,
 * a key or section given twice, a line that is neither, a section line with
 * more than `[name]` are problems, each reported with its line. */
#ifndef MUST_INI_IMPL_H
#define MUST_INI_IMPL_H

#include "must/error.h"

/* Where problems go.  With fn, each problem's line (0: none) and message
 * ("[section] key: ..." where those apply) are passed to it, and reading
 * goes on while it returns 0.  Without fn, the first problem is set in err
 * as "FILE:LINE: MESSAGE" with code, and reading stops.  Running out of
 * memory always goes to err. */
typedef struct must_ini_sink {
    int (*fn)(void *user, int line, const char *msg);
    void *user;
    must_err *err;
    int code;          /* the status a problem stops with */
    const char *file;
    int stopped;       /* set when a problem stopped reading */
} must_ini_sink;

/* A sink that stops at the first problem, set in err with code. */
must_ini_sink must_ini_first_error(const char *file, int code, must_err *err);

/* Reports a problem at line in section (NULL: none) and key (NULL: none):
 * "[section] key: MESSAGE".  Returns MUST_OK when reading goes on, else the
 * sink's code. */
int must_ini_issue(must_ini_sink *s, int line, const char *section, const char *key,
                   const char *fmt, ...) MUST_PRINTF(5, 6);

typedef struct must_ini_entry {
    const char *section; /* the section's name (owned by the section) */
    char *key, *value;
    int line;
} must_ini_entry;

typedef struct must_ini_section {
    char *name;
    int line;
    int first, n;        /* its keys: ent[first .. first + n) */
} must_ini_section;

typedef struct must_ini {
    must_ini_section *sec;
    int nsec, capsec;
    must_ini_entry *ent;
    int nent, capent;
} must_ini;

#define MUST_INI_CONTINUATION 1 /* flags: indented lines continue a value */

/* Reads text into ini (zeroed first, freed with must_ini_free even on
 * failure).  Returns MUST_OK, MUST_ENOMEM, or the sink's code when a
 * problem stopped it. */
int must_ini_read(must_ini *ini, const char *text, unsigned flags, must_ini_sink *sink);
void must_ini_free(must_ini *ini);

/* The index of a section, or -1. */
int must_ini_find_section(const must_ini *ini, const char *name);
/* The entry of key in section s, or NULL. */
const must_ini_entry *must_ini_get(const must_ini *ini, int s, const char *key);

#endif
