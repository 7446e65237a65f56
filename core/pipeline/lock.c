/* lock.c - one writer per run directory: an exclusive flock on RUN/.lock,
 * which the kernel releases when the holder exits, killed or not, so a
 * lock never outlives its process.  The file holds the holder's PID for
 * the message a second writer gets.  Over several MPI ranks rank 0 holds it
 * for all of them (they write only under its direction, unit.c), and every
 * rank gets its answer. */
#define _DEFAULT_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/io-impl.h"
#include "must/io.h"
#include "base/dist-impl.h"
#include "run-impl.h"

/* lock_fd of a rank whose rank 0 holds the lock. */
#define HELD_BY_RANK0 (-2)

static int lock_here(run_state *r, must_err *err)
{
    int rc = must_mkdir_p(r->out, err);
    char *path = rc ? NULL : must_path_join(r->out, ".lock");
    if (rc || !path) {
        free(path);
        return rc ? rc : must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = must_err_set(err, MUST_EIO, "%s: cannot open: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int why = errno; /* before pread may change it */
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        rc = why == EWOULDBLOCK
                 ? must_err_set(err, MUST_EIO,
                                "%s is in use by process %s (another must writing into it); "
                                "wait for it to end, or give another run directory",
                                r->out, pid[0] ? pid : "?")
                 : must_err_set(err, MUST_EIO, "%s: cannot lock: %s", path, strerror(why));
        close(fd);
        free(path);
        return rc;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        rc = must_err_set(err, MUST_EIO, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        free(path);
        return rc;
    }
    free(path);
    r->lock_fd = fd;
    /* Holding the lock, every temporary under RUN is a killed writer's. */
    if (must_io_remove_temps(r->out) < 0)
        return must_err_set(err, MUST_EIO, "%s: cannot remove the temporary files (NAME.tmp.PID) "
                                           "a killed run left", r->out);
    return MUST_OK;
}

int run_lock(run_state *r, must_err *err)
{
    if (r->lock_fd >= 0 || r->lock_fd == HELD_BY_RANK0)
        return MUST_OK;
    int rc = must_dist_writer() ? lock_here(r, err) : MUST_OK;
    if (!(rc = must_dist_agree(rc, err)) && r->lock_fd < 0)
        r->lock_fd = HELD_BY_RANK0;
    return rc;
}

void run_unlock(run_state *r)
{
    if (r->lock_fd >= 0)
        close(r->lock_fd); /* releases the flock */
    r->lock_fd = -1;
}
