/* must/error.h - status codes and error messages.
 *
 * Library functions never exit or abort on a caller's mistake.  They return a
 * negative MUST_E* status and, when the caller passed a must_err, a message
 * that names the file, line, key, op or tensor at fault.
 */
#ifndef MUST_ERROR_H
#define MUST_ERROR_H

#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

enum must_status {
    MUST_OK = 0,
    MUST_EINVAL = -1,    /* bad argument or configuration */
    MUST_ENOMEM = -2,    /* allocation failed */
    MUST_EIO = -3,       /* read, write or rename failed */
    MUST_EFORMAT = -4,   /* malformed or corrupt input file */
    MUST_ESHAPE = -5,    /* tensor shapes do not fit the op */
    MUST_ENOTFOUND = -6, /* file, key, plugin or tensor missing */
    MUST_ENUMERIC = -7,  /* NaN or Inf where a finite number is needed */
    MUST_EABI = -8,      /* plugin ABI mismatch */
    MUST_EINTR = -9,     /* stopped on request (must_run_interrupt); the work done is kept */
    MUST_ELIMIT = -10    /* input beyond a documented limit (image pixels, tensor bytes) */
};

#define MUST_ERR_MSG_MAX 1024

/* A caller-owned error slot; zero-initialise it (must_err e = {0}). */
typedef struct must_err {
    int code;
    char msg[MUST_ERR_MSG_MAX];
} must_err;

#if defined(__GNUC__)
#define MUST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MUST_PRINTF(a, b)
#endif

/* Records code and a formatted message in e (which may be NULL) and returns
 * code, so that `return must_err_set(err, MUST_EINVAL, "...")` reads well. */
MUST_API int must_err_set(must_err *e, int code, const char *fmt, ...) MUST_PRINTF(3, 4);

/* Prepends "prefix: " to the message already in e, for adding context such
 * as a file name while an error travels up.  Returns e->code. */
MUST_API int must_err_prefix(must_err *e, const char *fmt, ...) MUST_PRINTF(2, 3);

MUST_API void must_err_clear(must_err *e);

/* A short English name for a status code ("bad argument", ...). */
MUST_API const char *must_status_str(int code);

#ifdef __cplusplus
}
#endif
#endif
