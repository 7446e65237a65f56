/* ini.c - INI text read through inih into sections and keys that know their
 * line (the syntax is in ini-impl.h).
 *
 * inih tells its handler neither the line number nor a section name longer
 * than 49 bytes, and reads into a buffer of 200 bytes.  So it reads through
 * our own line reader, which knows the physical line of everything it hands
 * over, strips comments, reads section lines and checks every line's
 * syntax itself (inih only returns the number of the first bad line), and
 * hands inih `key=value` lines alone, blank lines in place of the others.
 * A value too long for inih's buffer goes over in pieces, as continuation
 * lines; the reader keeps the blanks inih trims at each cut, and the
 * handler joins the pieces with exactly those. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "ini-impl.h"

/* ------------------------------------------------------------------------ */
/* Problems. */

must_ini_sink must_ini_first_error(const char *file, int code, must_err *err)
{
    must_ini_sink s = {.err = err, .code = code, .file = file};
    return s;
}

int must_ini_issue(must_ini_sink *s, int line, const char *section, const char *key,
                   const char *fmt, ...)
{
    char msg[MUST_ERR_MSG_MAX], full[MUST_ERR_MSG_MAX + 200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (section && key)
        snprintf(full, sizeof full, "[%s] %s: %s", section, key, msg);
    else if (section)
        snprintf(full, sizeof full, "[%s]: %s", section, msg);
    else
        snprintf(full, sizeof full, "%s", msg);
    if (s->fn) {
        if (!s->fn(s->user, line, full))
            return MUST_OK;
    } else if (line > 0) {
        must_err_set(s->err, s->code, "%s:%d: %s", s->file, line, full);
    } else {
        must_err_set(s->err, s->code, "%s: %s", s->file, full);
    }
    s->stopped = 1;
    return s->code;
}

/* ------------------------------------------------------------------------ */
/* The reader inih reads through. */

typedef struct reader {
    must_ini *ini;
    must_ini_sink *sink;
    unsigned flags;
    const char *p;                /* next unread byte of the text */
    int line;                     /* physical line of what was handed over last */
    int cur;                      /* current section; -1 before the first, -2 a refused one */
    int can_continue;             /* the line above was a key of cur (or its continuation) */
    const char *rest, *rest_end;  /* what is left of a value going over in pieces */
    const char *join, *gap;       /* blanks before the piece handed over, and after it */
    size_t joinlen, gaplen;
    int piece;                    /* what inih gets now continues entry `target` */
    int target;                   /* the entry pieces join; -1: drop them */
    int status;                   /* MUST_OK, or why reading stopped */
} reader;

static int blank(char c)
{
    return c != '\0' && isspace((unsigned char)c);
}

/* Records a problem at the current line; 1 when reading goes on. */
static int problem(reader *r, const char *sec, const char *key, const char *fmt, ...)
    MUST_PRINTF(4, 5);
static int problem(reader *r, const char *sec, const char *key, const char *fmt, ...)
{
    char msg[MUST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->can_continue = 0;
    r->status = must_ini_issue(r->sink, r->line, sec, key, "%s", msg);
    return r->status == MUST_OK;
}

/* The current section's name for messages, NULL outside one. */
static const char *cur_name(const reader *r)
{
    return r->cur >= 0 ? r->ini->sec[r->cur].name : NULL;
}

static int oom(reader *r)
{
    r->status = must_err_set(r->sink->err, MUST_ENOMEM, "%s: out of memory", r->sink->file);
    return 0;
}

/* The next physical line [*b, *e): without its line end, a byte order mark,
 * comments and the blanks around it.  0 at the end of the text. */
static int next_line(reader *r, const char **b, const char **e)
{
    if (!*r->p)
        return 0;
    const char *s = r->p, *nl = strchr(s, '\n');
    const char *end = nl ? nl : s + strlen(s);
    r->p = nl ? nl + 1 : end;
    if (++r->line == 1 && end - s >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    const char *q = s;
    while (q < end && blank(*q))
        q++;
    if (q < end && (*q == '#' || *q == ';'))
        end = q;
    for (const char *c = q + 1; c < end; c++)
        if ((*c == '#' || *c == ';') && blank(c[-1])) {
            end = c;
            break;
        }
    while (end > q && blank(end[-1]))
        end--;
    *b = s;
    *e = end;
    return 1;
}

/* Copies prefix and the next piece of [rest, rest_end) into buf (num bytes,
 * as inih gives it).  A cut never leaves blanks at either end of a piece:
 * they are kept as the gap before the next one. */
static char *hand_piece(reader *r, char *buf, int num, const char *prefix)
{
    size_t k = strlen(prefix), room = (size_t)num - 3 - k;
    size_t len = (size_t)(r->rest_end - r->rest), take = len < room ? len : room;
    const char *end = r->rest + take, *next = end;
    while (end > r->rest && blank(end[-1]))
        end--;
    while (next < r->rest_end && blank(*next))
        next++;
    memcpy(buf, prefix, k);
    memcpy(buf + k, r->rest, (size_t)(end - r->rest));
    k += (size_t)(end - r->rest);
    buf[k++] = '\n';
    buf[k] = '\0';
    r->gap = end;
    r->gaplen = (size_t)(next - end);
    r->rest = next < r->rest_end ? next : NULL;
    return buf;
}

static char *nothing(char *buf)
{
    buf[0] = '\n';
    buf[1] = '\0';
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Sections. */

int must_ini_find_section(const must_ini *ini, const char *name)
{
    for (int i = 0; i < ini->nsec; i++)
        if (strcmp(ini->sec[i].name, name) == 0)
            return i;
    return -1;
}

static void section_line(reader *r, const char *b, const char *e)
{
    const char *close = memchr(b, ']', (size_t)(e - b));
    r->cur = -2; /* until the line is found good: its keys are not reported again */
    if (close != e - 1) {
        problem(r, NULL, NULL, "a section line is [name] alone, not '%.*s'", (int)(e - b), b);
        return;
    }
    const char *nb = b + 1, *ne = close;
    while (nb < ne && blank(*nb))
        nb++;
    while (ne > nb && blank(ne[-1]))
        ne--;
    char *name = strndup(nb, (size_t)(ne - nb));
    if (!name) {
        oom(r);
        return;
    }
    must_ini *ini = r->ini;
    int old = must_ini_find_section(ini, name);
    if (old >= 0) {
        problem(r, name, NULL, "section given twice (first on line %d)", ini->sec[old].line);
        free(name);
        return;
    }
    if (ini->nsec == ini->capsec) {
        int cap = ini->capsec ? 2 * ini->capsec : 16;
        must_ini_section *s = realloc(ini->sec, (size_t)cap * sizeof *s);
        if (!s) {
            free(name);
            oom(r);
            return;
        }
        ini->sec = s;
        ini->capsec = cap;
    }
    ini->sec[ini->nsec] = (must_ini_section){.name = name, .line = r->line, .first = ini->nent};
    r->cur = ini->nsec++;
    r->can_continue = 0;
}

/* ------------------------------------------------------------------------ */
/* Keys. */

/* 1 when the key line [b, e) (its '=' at eq, NULL when it has none; its
 * key ends at ke) is refused, which is reported. */
static int key_refused(reader *r, const char *b, const char *e, const char *eq, const char *ke,
                       int num)
{
    /* inih would also split at a ':' (Python's configparser does). */
    if (!eq || memchr(b, ':', (size_t)(ke - b)))
        problem(r, cur_name(r), NULL,
                "syntax error: expected 'key = value' or '[section]', not '%.*s'", (int)(e - b), b);
    else if (r->cur == -1)
        problem(r, NULL, NULL, "key before the first [section]: '%.*s'", (int)(e - b), b);
    else if (ke == b)
        problem(r, cur_name(r), NULL, "empty key");
    else if (ke - b > num - 8)
        problem(r, cur_name(r), NULL, "a key longer than %d bytes", num - 8);
    else
        return 0;
    return 1;
}

/* A key line [b, e): hands inih "key=" and the value's first piece, or
 * nothing when the line is refused. */
static char *key_line(reader *r, const char *b, const char *e, char *buf, int num)
{
    if (r->cur == -2)
        return nothing(buf); /* its section line was refused, and reported */
    const char *eq = memchr(b, '=', (size_t)(e - b));
    const char *ke = eq ? eq : e;
    while (ke > b && blank(ke[-1]))
        ke--;
    if (key_refused(r, b, e, eq, ke, num))
        return nothing(buf);
    char prefix[200];
    snprintf(prefix, sizeof prefix, "%.*s=", (int)(ke - b), b);
    const char *v = eq + 1;
    while (v < e && blank(*v))
        v++;
    r->rest = v;
    r->rest_end = e;
    r->piece = 0;
    r->can_continue = 1;
    return hand_piece(r, buf, num, prefix);
}

/* inih's reader: one call, one line for inih. */
static char *read_for_inih(char *buf, int num, void *stream)
{
    reader *r = stream;
    if (r->status)
        return NULL;
    if (r->rest) {
        r->piece = 1;
        r->join = r->gap;
        r->joinlen = r->gaplen;
        return hand_piece(r, buf, num, " ");
    }
    const char *b, *e;
    if (!next_line(r, &b, &e))
        return NULL;
    const char *q = b;
    while (q < e && blank(*q))
        q++;
    if (q == e)
        return nothing(buf);
    if (q > b && r->can_continue && (r->flags & MUST_INI_CONTINUATION)) {
        r->rest = q;
        r->rest_end = e;
        r->piece = 1;
        r->join = " ";
        r->joinlen = 1;
        return hand_piece(r, buf, num, " ");
    }
    if (*q == '[') {
        section_line(r, q, e);
        return nothing(buf);
    }
    return key_line(r, q, e, buf, num);
}

static int add_entry(reader *r, const char *key, const char *value)
{
    must_ini *ini = r->ini;
    must_ini_section *s = &ini->sec[r->cur];
    r->target = -1;
    for (int i = s->first; i < s->first + s->n; i++)
        if (strcmp(ini->ent[i].key, key) == 0)
            return problem(r, s->name, key, "key given twice (first on line %d)",
                           ini->ent[i].line);
    if (ini->nent == ini->capent) {
        int cap = ini->capent ? 2 * ini->capent : 64;
        must_ini_entry *n = realloc(ini->ent, (size_t)cap * sizeof *n);
        if (!n)
            return oom(r);
        ini->ent = n;
        ini->capent = cap;
    }
    must_ini_entry *en = &ini->ent[ini->nent];
    *en = (must_ini_entry){.section = s->name, .line = r->line};
    if (!(en->key = strdup(key)) || !(en->value = strdup(value))) {
        free(en->key);
        return oom(r);
    }
    r->target = ini->nent++;
    s->n++;
    return 1;
}

/* Joins a piece (a continuation line, or the next part of a long line) to
 * the value it continues. */
static int append(reader *r, const char *piece)
{
    if (r->target < 0)
        return 1;
    must_ini_entry *en = &r->ini->ent[r->target];
    size_t a = strlen(en->value), b = strlen(piece);
    char *v = realloc(en->value, a + r->joinlen + b + 1);
    if (!v)
        return oom(r);
    memcpy(v + a, r->join, r->joinlen);
    memcpy(v + a + r->joinlen, piece, b + 1);
    en->value = v;
    return 1;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    (void)section; /* cut at 49 bytes by inih: the reader knows the whole name */
    reader *r = user;
    return r->piece ? append(r, value) : add_entry(r, name, value);
}

int must_ini_read(must_ini *ini, const char *text, unsigned flags, must_ini_sink *sink)
{
    memset(ini, 0, sizeof *ini);
    reader r = {.ini = ini, .sink = sink, .flags = flags, .p = text, .cur = -1, .target = -1};
    int rc = ini_parse_stream(read_for_inih, &r, on_key, &r);
    if (r.status)
        return r.status;
    if (rc == -2)
        return must_err_set(sink->err, MUST_ENOMEM, "%s: out of memory", sink->file);
    return MUST_OK;
}

void must_ini_free(must_ini *ini)
{
    for (int i = 0; i < ini->nent; i++) {
        free(ini->ent[i].key);
        free(ini->ent[i].value);
    }
    for (int i = 0; i < ini->nsec; i++)
        free(ini->sec[i].name);
    free(ini->ent);
    free(ini->sec);
    memset(ini, 0, sizeof *ini);
}

const must_ini_entry *must_ini_get(const must_ini *ini, int s, const char *key)
{
    if (s < 0)
        return NULL;
    for (int i = ini->sec[s].first; i < ini->sec[s].first + ini->sec[s].n; i++)
        if (strcmp(ini->ent[i].key, key) == 0)
            return &ini->ent[i];
    return NULL;
}
