#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "must/error.h"

int must_err_set(must_err *e, int code, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int must_err_prefix(must_err *e, const char *fmt, ...)
{
    if (!e)
        return MUST_EINVAL;
    char head[MUST_ERR_MSG_MAX], old[MUST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t k = 0, cap = sizeof e->msg - 1;
    for (const char *s = head; *s && k < cap; s++)
        e->msg[k++] = *s;
    for (const char *s = ": "; *s && k < cap; s++)
        e->msg[k++] = *s;
    for (const char *s = old; *s && k < cap; s++)
        e->msg[k++] = *s;
    e->msg[k] = '\0';
    return e->code;
}

void must_err_clear(must_err *e)
{
    if (e) {
        e->code = MUST_OK;
        e->msg[0] = '\0';
    }
}

const char *must_status_str(int code)
{
    switch (code) {
    case MUST_OK: return "ok";
    case MUST_EINVAL: return "bad argument";
    case MUST_ENOMEM: return "out of memory";
    case MUST_EIO: return "input/output error";
    case MUST_EFORMAT: return "malformed input";
    case MUST_ESHAPE: return "shape mismatch";
    case MUST_ENOTFOUND: return "not found";
    case MUST_ENUMERIC: return "non-finite number";
    case MUST_EABI: return "plugin ABI mismatch";
    case MUST_EINTR: return "stopped on request";
    case MUST_ELIMIT: return "beyond a limit";
    default: return "unknown error";
    }
}
