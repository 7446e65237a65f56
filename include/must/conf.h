/* must/conf.h - the declarative key table: one row per configuration key,
 * naming the member of a struct that the key's INI text fills.
 *
 * One row type serves every configuration of must: a task plugin's options
 * (must/task.h, where the row is called must_task_option), the experiment
 * keys (docs/experiments.md), the keys of dataset.ini
 * (docs/dataset-format.md) and of world domains (docs/world.md).  The
 * library parses, checks, fills in and formats every table with one engine
 * (core/base/conf.c); docs/plugins.md lists what a plugin may use.
 *
 * Why the row has exactly these members: a plugin hands the loader an array
 * of rows, so the row's size and layout are part of the plugin ABI
 * (MUST_TASK_ABI_VERSION 1) and can never grow.  What the core needs beyond
 * a plugin's five types is therefore said in the type number, not in new
 * members: more types after MUST_CONF_CHOICE, a flag bit or'ed into it, and
 * from MUST_CONF_USER up the types of one table's owner, which it parses
 * itself (a reference to another section, a list of names).  The loader
 * refuses all of these in a plugin's table.
 */
#ifndef MUST_CONF_H
#define MUST_CONF_H

#include <stddef.h>

#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

enum must_conf_type {
    /* The plugin ABI's types (must/task.h calls them MUST_OPT_*). */
    MUST_CONF_INT = 1, /* int */
    MUST_CONF_FLOAT,   /* float, finite */
    MUST_CONF_BOOL,    /* int, 0 or 1; INI: true/false/yes/no/on/off/1/0 */
    MUST_CONF_STRING,  /* char[MUST_CONF_STRING_MAX] */
    MUST_CONF_CHOICE,  /* int: index of the value in `choices` */
    /* The core's own. */
    MUST_CONF_LONG,    /* long */
    MUST_CONF_U64,     /* uint64_t, written without a sign */
    MUST_CONF_DOUBLE,  /* double, finite */
    MUST_CONF_TEXT,    /* char[max + 1]: any text of min..max bytes */
    MUST_CONF_WORD,    /* char[max + 1]: empty, or a plain word [a-z0-9_-] of at most max */
    MUST_CONF_STRDUP,  /* char *: a malloc'd copy, NULL when empty; the owner frees it */
    MUST_CONF_RANGE,   /* float[2]: "LO, HI" (or one number for both), LO <= HI */
    MUST_CONF_USER = 64 /* and up: the table owner's types */
};
#define MUST_CONF_STRING_MAX 128

/* Or'ed into a row's type (the core's tables only): a MUST_CONF_CHOICE
 * that may be left empty, which stores -1 (none chosen). */
#define MUST_CONF_OPTIONAL 0x1000
/* Or'ed into a task plugin's option type (the one flag a plugin's table may
 * use): the option shapes only the pseudo labels the head makes (a
 * threshold, a temperature), not what it learns.  Changing it relabels;
 * the teacher is not trained again. */
#define MUST_CONF_PSEUDO 0x2000
/* The type without its flags. */
#define MUST_CONF_TYPE(type) ((type) & 0xfff)

/* One key.  Names are plain words ([a-z0-9_]+), unique in their table;
 * the table ends with name == NULL.  Ranges are inclusive: a number lies in
 * min..max, a TEXT or WORD has min..max bytes (max is required: the member
 * is max + 1 bytes); min == max means unbounded. */
typedef struct must_conf_key {
    const char *name;    /* INI key */
    int type;            /* enum must_conf_type, flags or'ed in */
    size_t offset;       /* offsetof(the struct, member) */
    const char *def;     /* default, written as in an INI file; NULL: none */
    const char *help;    /* one line */
    const char *choices; /* MUST_CONF_CHOICE: "l1log|ssi" */
    double min, max;     /* range (see above) */
} must_conf_key;

/* The type's name for listings: "int", "float", "bool", "string", "choice",
 * "long", "u64", "double", "text", "word", "string", "range"; "?" for
 * another. */
MUST_API const char *must_conf_type_name(int type);

#ifdef __cplusplus
}
#endif
#endif
