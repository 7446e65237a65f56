/* fuzz_ini.c - the INI reader every configuration goes through
 * (core/base/ini.c over inih): the text read without and with continuation
 * lines, once with a sink that collects every problem and goes on, once
 * with one that stops at the first; then every section and key looked up
 * again, which must find what was read. */
#include "config.h"

#include "fuzz-util.h"
#include "base/ini-impl.h"

static int go_on(void *user, int line, const char *msg)
{
    (void)line;
    ++*(long *)user;
    if (!msg || strlen(msg) >= MUST_ERR_MSG_MAX + 200)
        abort();
    return 0;
}

static void lookup_all(const must_ini *ini)
{
    for (int s = 0; s < ini->nsec; s++) {
        const must_ini_section *sec = &ini->sec[s];
        if (sec->first < 0 || sec->n < 0 || sec->first + sec->n > ini->nent)
            abort();
        /* Sections are unique (a repeat is a problem), so the first found
         * by name is this one. */
        if (must_ini_find_section(ini, sec->name) != s)
            abort();
        for (int k = 0; k < sec->n; k++) {
            const must_ini_entry *e = &ini->ent[sec->first + k];
            if (!e->key || !e->value || must_ini_get(ini, s, e->key) != e)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    for (unsigned flags = 0; flags <= MUST_INI_CONTINUATION; flags++) {
        must_err err = {0};
        long problems = 0;
        must_ini ini;
        must_ini_sink all = {.fn = go_on, .user = &problems, .err = &err, .code = MUST_EINVAL,
                             .file = "fuzz.ini"};
        if (must_ini_read(&ini, text, flags, &all) == MUST_OK)
            lookup_all(&ini);
        must_ini_free(&ini);
        must_ini_sink first = must_ini_first_error("fuzz.ini", MUST_EINVAL, &err);
        int rc = must_ini_read(&ini, text, flags, &first);
        if (rc == MUST_OK && problems)
            abort(); /* a problem the collecting sink saw must stop this one */
        if (rc == MUST_OK)
            lookup_all(&ini);
        must_ini_free(&ini);
    }
    free(text);
    return 0;
}
