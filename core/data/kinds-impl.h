/* kinds-impl.h - private to libmust: how dataset.ini's kind names reach a
 * plugin that defines them.  The data layer cannot call the task layer, so
 * the task layer hands it a resolver (must_plugin_autoload_kinds). */
#ifndef MUST_KINDS_IMPL_H
#define MUST_KINDS_IMPL_H

#include <stddef.h>

#include "must/error.h"
#include "must/kinds.h"

/* Makes kind `name` known (registers it) or says why not in err. */
typedef int (*ds_kind_resolver)(const char *name, must_err *err);

/* Sets (or, with NULL, clears) the resolver. */
void ds_kinds_set_resolver(ds_kind_resolver fn);

/* The kind called name, asking the resolver when it is not registered yet;
 * -1 with why the whole reason when there is none. */
int ds_kind_resolve(const char *name, char *why, size_t whylen);

#endif
