/* fault.c - the MUST_FAULT test hook (fault-impl.h says what it does). */
#define _GNU_SOURCE /* fopencookie */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "fault-impl.h"

enum { OFF, FAIL, COUNT, TRACE };

static const char *const op_name[3] = {"write", "fsync", "rename"};

static struct {
    int mode;
    int kind;   /* the kind counted for N, or -1 for every kind */
    long n;     /* the operation that fails (1-based) */
    int sticky; /* and every one after it */
    int errnum;
    int kill;   /* SIGKILL instead of an error: a crash at that point */
} cfg;

static atomic_long seen[3], total;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void report(void)
{
    fprintf(stderr, "must: MUST_FAULT: %ld operations: %ld writes, %ld fsyncs, %ld renames\n",
            atomic_load(&total), atomic_load(&seen[0]), atomic_load(&seen[1]),
            atomic_load(&seen[2]));
}

/* [KIND:]N[+][,eio|,kill] */
static int parse_fail(const char *s)
{
    cfg.kind = -1;
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(op_name[k]);
        if (strncmp(s, op_name[k], l) == 0 && s[l] == ':') {
            cfg.kind = k;
            s += l + 1;
        }
    }
    char *end;
    errno = 0;
    cfg.n = strtol(s, &end, 10);
    if (errno || end == s || cfg.n < 1)
        return -1;
    if (*end == '+') {
        cfg.sticky = 1;
        end++;
    }
    cfg.errnum = ENOSPC;
    if (strcmp(end, ",eio") == 0)
        cfg.errnum = EIO;
    else if (strcmp(end, ",kill") == 0)
        cfg.kill = 1;
    else if (*end)
        return -1;
    return 0;
}

static void init(void)
{
    const char *s = getenv("MUST_FAULT");
    if (!s || !*s)
        return;
    if (strcmp(s, "count") == 0)
        cfg.mode = COUNT;
    else if (strcmp(s, "trace") == 0)
        cfg.mode = TRACE;
    else if (parse_fail(s) == 0)
        cfg.mode = FAIL;
    else {
        /* A test that set it means to test something: say so, do not guess. */
        fprintf(stderr, "must: MUST_FAULT=%s not understood (N, KIND:N, N+, N,eio, N,kill, count, "
                        "trace); ignored\n", s);
        return;
    }
    atexit(report);
}

static int enabled(void)
{
    pthread_once(&once, init);
    return cfg.mode != OFF;
}

int must_fault_inject(must_fault_op op, const char *path)
{
    if (!enabled())
        return 0;
    long k = atomic_fetch_add(&seen[op], 1) + 1;
    long t = atomic_fetch_add(&total, 1) + 1;
    if (cfg.mode == TRACE)
        fprintf(stderr, "must: MUST_FAULT: operation %ld (%s %ld) on %s\n", t, op_name[op], k,
                path);
    if (cfg.mode != FAIL || (cfg.kind >= 0 && cfg.kind != (int)op))
        return 0;
    long i = cfg.kind >= 0 ? k : t;
    if (i < cfg.n || (i > cfg.n && !cfg.sticky))
        return 0;
    if (cfg.kill) {
        fprintf(stderr, "must: MUST_FAULT: operation %ld (%s %ld) on %s: killed\n", t,
                op_name[op], k, path);
        raise(SIGKILL);
    }
    fprintf(stderr, "must: MUST_FAULT: operation %ld (%s %ld) on %s fails: %s\n", t,
            op_name[op], k, path, strerror(cfg.errnum));
    errno = cfg.errnum;
    return -1;
}

/* The counting stream: the real descriptor and the name for the messages. */
typedef struct cookie {
    int fd;
    char path[];
} cookie;

static ssize_t ck_write(void *c, const char *buf, size_t len)
{
    cookie *ck = c;
    if (must_fault_inject(MUST_FAULT_WRITE, ck->path))
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t k = write(ck->fd, buf + done, len - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return done ? (ssize_t)done : -1;
        done += (size_t)k;
    }
    return (ssize_t)done;
}

static int ck_close(void *c)
{
    cookie *ck = c;
    int r = close(ck->fd);
    free(ck);
    return r;
}

FILE *must_fault_fopen(const char *path)
{
    if (!enabled())
        return fopen(path, "wb");
    size_t n = strlen(path);
    cookie *ck = malloc(sizeof *ck + n + 1);
    if (!ck) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(ck->path, path, n + 1);
    ck->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    FILE *fp = NULL;
    if (ck->fd >= 0) {
        cookie_io_functions_t io = {.write = ck_write, .close = ck_close};
        fp = fopencookie(ck, "wb", io);
        if (!fp) {
            int e = errno;
            close(ck->fd);
            errno = e;
        }
    }
    if (!fp)
        free(ck);
    return fp;
}

int must_fault_fsync(FILE *fp, const char *path)
{
    if (must_fault_inject(MUST_FAULT_FSYNC, path))
        return -1;
    int fd = fileno(fp);
    if (fd >= 0)
        return fsync(fd);
    /* A counting stream has no descriptor to give; a second one on the same
     * file syncs the same data (fsync is per file, not per descriptor). */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd), e = errno;
    close(fd);
    errno = e;
    return r;
}

int must_fault_rename(const char *from, const char *to)
{
    if (must_fault_inject(MUST_FAULT_RENAME, to))
        return -1;
    return rename(from, to);
}
