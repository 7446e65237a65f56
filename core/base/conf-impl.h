/* conf-impl.h - the engine over key tables (must/conf.h), private to
 * libmust: one value parsed into its member or formatted back (conf.c), a
 * whole table checked, defaulted and listed (conf_table.c), an INI
 * section's keys applied to a table with every problem named by file,
 * line, section and key (conf_apply.c). */
#ifndef MUST_CONF_IMPL_H
#define MUST_CONF_IMPL_H

#include <stddef.h>

#include "must/conf.h"
#include "must/error.h"
#include "ini-impl.h"

/* ---- one value ----------------------------------------------------------- */

/* Bytes of k's member; 0 for a type the engine does not know (a bad one,
 * or one of the owner's). */
size_t must_conf_size(const must_conf_key *k);

/* Parses text into k's member of base.  MUST_OK; MUST_EINVAL with why set
 * to what follows "'TEXT' is " in a message ("not a whole number", "out of
 * range 1..64") and the member unchanged; MUST_ENOMEM (why "out of
 * memory").  The owner's types (MUST_CONF_USER and up) are MUST_EINVAL. */
int must_conf_parse(const must_conf_key *k, const char *text, void *base, char *why,
                    size_t whylen);

/* The member's value as INI text, which parses back to the same value
 * ("?" for an owner's type). */
void must_conf_format(const must_conf_key *k, const void *base, char *buf, size_t len);

/* ---- a table -------------------------------------------------------------- */

/* What a table's owner parses itself, and the keys it takes besides the
 * table's.  Any member may be NULL. */
typedef struct must_conf_hooks {
    /* A value of an owner's type into base.  MUST_OK, or a negative status
     * with why the whole message ("no [task.x] section"); it may have
     * stored part of the value. */
    int (*parse)(void *user, const must_conf_key *k, void *base, const char *text, char *why,
                 size_t whylen);
    /* A key the table lacks, at `line`: 1 when the owner takes it, 0 when
     * it is unknown, or a negative status with why the whole message. */
    int (*extra)(void *user, void *base, const char *key, const char *value, int line, char *why,
                 size_t whylen);
    const char *extra_names; /* what extra takes, for messages: "weight.<teacher>" */
    void *user;
} must_conf_hooks;

/* For hooks: writes why as printf does and returns MUST_EINVAL. */
int must_conf_refuse(char *why, size_t whylen, const char *fmt, ...) MUST_PRINTF(3, 4);

/* Rules for must_conf_check. */
#define MUST_CONF_CHECK_ABI 1 /* a plugin's table: only the five MUST_OPT_* types,
                               * no flags, every default given */

/* Checks a table: names plain and unique, types known, members inside
 * size bytes (the owner's types aside: their size is the owner's), ranges
 * ordered, choices present, every default parsing (but the owner's).
 * Messages name the option: "option 'rate': default 'fast' is not a
 * number". */
int must_conf_check(const must_conf_key *keys, size_t size, unsigned rules, must_err *err);

/* Parses every default (hooks for the owner's types; NULL hooks skip
 * them) into base, which the caller has cleared or set up. */
int must_conf_defaults(const must_conf_key *keys, void *base, const must_conf_hooks *hooks,
                       must_err *err);

/* The row named name, or NULL. */
const must_conf_key *must_conf_find(const must_conf_key *keys, const char *name);
/* Rows before the NULL name. */
int must_conf_count(const must_conf_key *keys);
/* "a, b, c" (then extra when not NULL) into buf. */
void must_conf_names(const must_conf_key *keys, const char *extra, char *buf, size_t len);

/* ---- an INI section -------------------------------------------------------- */

/* Applies the keys of ini's section s to base, in file order: a key of the
 * table is parsed (an error reads "[SECTION] KEY: 'VALUE' is WHY", or the
 * hook's message), another goes to hooks->extra or is an unknown key (the
 * message lists the table's keys).  Problems go to sink.  lines (NULL, or
 * one int per row) gets each key's line, negated when its value was bad,
 * 0 when absent.  Returns MUST_OK when reading may go on (problems went to
 * a sink that goes on), MUST_ENOMEM, or the sink's status when it stops. */
int must_conf_apply(const must_conf_key *keys, void *base, const must_ini *ini, int s,
                    const must_conf_hooks *hooks, int *lines, must_ini_sink *sink);

/* Calls fn for every row: the section's name as documented, key, default
 * ("" for none) and help. */
typedef void (*must_conf_doc_fn)(void *user, const char *section, const char *key,
                                 const char *def, const char *help);
void must_conf_describe(const must_conf_key *keys, const char *section, must_conf_doc_fn fn,
                        void *user);

#endif
