#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io-impl.h"
#include "must/io.h"

int must_afile_open(must_afile *af, const char *path, must_err *err)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->path = malloc(n + 1);
    af->tmp = malloc(n + 32);
    if (!af->path || !af->tmp) {
        free(af->path);
        free(af->tmp);
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
    }
    memcpy(af->path, path, n + 1);
    /* The pid keeps two writers of the same file from sharing a temporary. */
    snprintf(af->tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp) {
        int e = errno;
        free(af->path);
        free(af->tmp);
        memset(af, 0, sizeof *af);
        return must_err_set(err, MUST_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    return MUST_OK;
}

static int commit(must_afile *af, int sync, must_err *err)
{
    int rc = MUST_OK;
    if (!af->fp)
        return must_err_set(err, MUST_EINVAL, "atomic file not open");
    if (fflush(af->fp) != 0 || ferror(af->fp) || (sync && fsync(fileno(af->fp)) != 0)) {
        rc = must_err_set(err, MUST_EIO, "%s: write failed: %s", af->path, strerror(errno));
        fclose(af->fp);
        remove(af->tmp);
    } else if (fclose(af->fp) != 0) {
        rc = must_err_set(err, MUST_EIO, "%s: close failed: %s", af->path, strerror(errno));
        remove(af->tmp);
    } else if (rename(af->tmp, af->path) != 0) {
        rc = must_err_set(err, MUST_EIO, "%s: rename failed: %s", af->path, strerror(errno));
        remove(af->tmp);
    }
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
    return rc;
}

int must_afile_commit(must_afile *af, must_err *err)
{
    return commit(af, 1, err);
}

int must_afile_commit_nosync(must_afile *af, must_err *err)
{
    return commit(af, 0, err);
}

int must_io_sync_fs(const char *dir, must_err *err)
{
#ifdef HAVE_SYNCFS
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return must_err_set(err, MUST_EIO, "%s: cannot open: %s", dir, strerror(errno));
    int r = syncfs(fd), e = errno;
    close(fd);
    if (r != 0)
        return must_err_set(err, MUST_EIO, "%s: sync failed: %s", dir, strerror(e));
#else
    (void)dir;
    (void)err;
    sync();
#endif
    return MUST_OK;
}

void must_afile_abort(must_afile *af)
{
    if (af->fp) {
        fclose(af->fp);
        remove(af->tmp);
    }
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
}

int must_file_write_atomic(const char *path, const void *buf, size_t len, must_err *err)
{
    must_afile af;
    int rc = must_afile_open(&af, path, err);
    if (rc)
        return rc;
    if (len && fwrite(buf, 1, len, af.fp) != len) {
        rc = must_err_set(err, MUST_EIO, "%s: write failed: %s", path, strerror(errno));
        must_afile_abort(&af);
        return rc;
    }
    return must_afile_commit(&af, err);
}

int must_file_read(const char *path, char **buf, size_t *len, must_err *err)
{
    *buf = NULL;
    if (len)
        *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return must_err_set(err, errno == ENOENT ? MUST_ENOTFOUND : MUST_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    if (!b) {
        fclose(fp);
        return must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
    }
    for (;;) {
        size_t got = fread(b + n, 1, cap - n, fp);
        n += got;
        if (n < cap)
            break;
        char *nb = realloc(b, 2 * cap + 1);
        if (!nb) {
            free(b);
            fclose(fp);
            return must_err_set(err, MUST_ENOMEM, "%s: out of memory", path);
        }
        b = nb;
        cap *= 2;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(b);
        return must_err_set(err, MUST_EIO, "%s: read failed", path);
    }
    b[n] = '\0';
    *buf = b;
    if (len)
        *len = n;
    return MUST_OK;
}

int must_mkdir_p(const char *path, must_err *err)
{
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            int rc = must_err_set(err, MUST_EIO, "%s: cannot create directory: %s", p, strerror(e));
            free(p);
            return rc;
        }
        p[i] = c;
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return must_err_set(err, MUST_EIO, "%s: not a directory", path);
    return MUST_OK;
}

int must_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *must_path_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, na);
    size_t k = na;
    if (na && a[na - 1] != '/')
        s[k++] = '/';
    memcpy(s + k, b, nb + 1);
    return s;
}

/* "NAME.tmp.PID": a non-empty name, ".tmp.", then digits only. */
static int is_temp(const char *name)
{
    const char *t = NULL;
    for (const char *p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp."))
        t = p;
    if (!t || t == name || !t[5])
        return 0;
    for (const char *d = t + 5; *d; d++)
        if (*d < '0' || *d > '9')
            return 0;
    return 1;
}

static long remove_temps_in(const char *dir, int depth)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    long n = 0;
    size_t dl = strlen(dir);
    struct dirent *de;
    while ((de = readdir(dp)) && n >= 0) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t len = dl + strlen(de->d_name) + 2;
        char *p = malloc(len);
        if (!p) {
            n = -1;
            break;
        }
        snprintf(p, len, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) {
            /* gone since readdir: nothing to remove */
        } else if (S_ISDIR(st.st_mode) && depth < 32) {
            long k = remove_temps_in(p, depth + 1);
            n = k < 0 ? -1 : n + k;
        } else if (S_ISREG(st.st_mode) && is_temp(de->d_name)) {
            n = remove(p) == 0 || errno == ENOENT ? n + 1 : -1;
        }
        free(p);
    }
    closedir(dp);
    return n;
}

long must_io_remove_temps(const char *dir)
{
    return remove_temps_in(dir, 0);
}
