/* plugin-opts.h - a task's declarative option table: checking, parsing
 * INI values into the config struct, formatting them back (private). */
#ifndef MUST_PLUGIN_OPTS_H
#define MUST_PLUGIN_OPTS_H

#include <stddef.h>

#include "must/task.h"

/* Bytes an option of this type occupies in the config struct; 0 for a bad
 * type. */
size_t must_opt_size(int type);

/* Parses text into the option's member of cfg.  On failure writes why
 * (without the key) into why and returns a negative status. */
int must_opt_parse(const must_task_option *o, const char *text, void *cfg, char *why,
                   size_t whylen);

/* The member's value as INI text. */
void must_opt_format(const must_task_option *o, const void *cfg, char *buf, size_t len);

/* The type's name for listings: "int", "float", "bool", "string", "choice". */
const char *must_opt_type_name(int type);

/* Checks a plugin's table: names plain and unique, types known, members
 * inside config_size, ranges ordered, choices present, every default
 * parsing.  file names the plugin in messages. */
int must_opts_check(const must_task_option *opts, size_t config_size, const char *file,
                    must_err *err);

/* Fills cfg (config_size bytes, zeroed first) with every default. */
int must_opts_defaults(const must_task_option *opts, void *cfg, size_t config_size,
                       must_err *err);

#endif
