/* conf_apply.c - the keys of one INI section applied to a key table, each
 * problem named by file, line, section and key. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "conf-impl.h"

/* A key the table lacks: the owner's, or unknown. */
static int apply_extra(const must_conf_key *keys, void *base, const must_ini_entry *en,
                       const must_conf_hooks *h, must_ini_sink *sink)
{
    char why[MUST_ERR_MSG_MAX] = "";
    int taken = h && h->extra
                    ? h->extra(h->user, base, en->key, en->value, en->line, why, sizeof why)
                    : 0;
    if (taken == MUST_ENOMEM)
        return must_err_set(sink->err, MUST_ENOMEM, "%s: out of memory", sink->file);
    if (taken < 0)
        return must_ini_issue(sink, en->line, en->section, en->key, "%s", why);
    if (taken > 0)
        return MUST_OK;
    char known[600];
    must_conf_names(keys, h ? h->extra_names : NULL, known, sizeof known);
    return must_ini_issue(sink, en->line, en->section, en->key,
                          "unknown key; the keys of [%s] are: %s", en->section, known);
}

/* A key of the table: its value parsed by the engine or the owner.
 * MUST_OK, 1 when the value was bad (reported, and reading goes on), or a
 * negative status that stops. */
static int apply_value(const must_conf_key *k, void *base, const must_ini_entry *en,
                       const must_conf_hooks *h, must_ini_sink *sink)
{
    char why[MUST_ERR_MSG_MAX];
    int user = MUST_CONF_TYPE(k->type) >= MUST_CONF_USER;
    int rc = !user           ? must_conf_parse(k, en->value, base, why, sizeof why)
             : h && h->parse ? h->parse(h->user, k, base, en->value, why, sizeof why)
                             : (snprintf(why, sizeof why, "no parser for type %d", k->type),
                                MUST_EINVAL);
    if (rc == MUST_OK)
        return MUST_OK;
    if (rc == MUST_ENOMEM)
        return must_err_set(sink->err, MUST_ENOMEM, "%s: out of memory", sink->file);
    if (user)
        rc = must_ini_issue(sink, en->line, en->section, en->key, "%s", why);
    else
        rc = must_ini_issue(sink, en->line, en->section, en->key, "'%s' is %s", en->value, why);
    return rc ? rc : 1;
}

int must_conf_apply(const must_conf_key *keys, void *base, const must_ini *ini, int s,
                    const must_conf_hooks *hooks, int *lines, must_ini_sink *sink)
{
    const must_ini_section *sec = &ini->sec[s];
    for (int i = sec->first; i < sec->first + sec->n; i++) {
        const must_ini_entry *en = &ini->ent[i];
        const must_conf_key *k = must_conf_find(keys, en->key);
        int rc = k ? apply_value(k, base, en, hooks, sink) : apply_extra(keys, base, en, hooks,
                                                                         sink);
        if (k && lines)
            lines[k - keys] = rc == MUST_OK ? en->line : -en->line;
        if (rc < 0)
            return rc;
    }
    return MUST_OK;
}
