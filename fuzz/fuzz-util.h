/* fuzz-util.h - what every fuzz target shares (docs/fuzzing.md): a scratch
 * file or directory of its own for the input (the readers take paths), the
 * input as a C string, and plugins held loaded.
 *
 * One scratch name per process (its pid in the name), under $MUST_FUZZ_TMP,
 * else $MUST_TEST_TMP (the test suite's replay), else /dev/shm (no disk
 * traffic while fuzzing), else $TMPDIR or /tmp; removed at exit.  Each
 * target is a .c file of its own with LLVMFuzzerTestOneInput (libFuzzer's
 * entry point), linked with libFuzzer in a fuzzing build and with replay.c
 * in the test suite: the helpers here are static so that nothing clashes. */
#ifndef MUST_FUZZ_UTIL_H
#define MUST_FUZZ_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw's FTW_DEPTH and FTW_PHYS (config.h defines it too) */
#endif
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "must/plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fuzz_path_buf[4096];

static inline const char *fuzz_tmp_base(void)
{
    const char *envs[] = {"MUST_FUZZ_TMP", "MUST_TEST_TMP"};
    for (size_t i = 0; i < sizeof envs / sizeof *envs; i++) {
        const char *v = getenv(envs[i]);
        if (v && *v)
            return v;
    }
    if (access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes path and, when it is a directory, everything under it. */
static inline void fuzz_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode))
        nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    else
        remove(path);
}

static inline void fuzz_cleanup(void)
{
    if (fuzz_path_buf[0])
        fuzz_rm_tree(fuzz_path_buf);
}

/* This process's scratch path for `what` ("png", "dataset"): the same
 * string on every call; removed at exit. */
static inline const char *fuzz_scratch(const char *what)
{
    if (!fuzz_path_buf[0]) {
        snprintf(fuzz_path_buf, sizeof fuzz_path_buf, "%s/must-fuzz-%s-%ld", fuzz_tmp_base(),
                 what, (long)getpid());
        atexit(fuzz_cleanup);
    }
    return fuzz_path_buf;
}

/* Writes n bytes to path; 0 on success.  A failure here is the machine's,
 * not the reader's: the target aborts rather than fuzz nothing. */
static inline int fuzz_write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(data, 1, n, fp) != n) || fclose(fp) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
    return 0;
}

/* The input in this process's scratch file; its path. */
static inline const char *fuzz_input_file(const char *what, const uint8_t *data, size_t size)
{
    const char *path = fuzz_scratch(what);
    fuzz_write_file(path, data, size);
    return path;
}

/* The input as a NUL-terminated string (cut at its first NUL, as a C
 * string is); free it. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Points MUST_PLUGIN_PATH at the build tree's plugins (BUILDDIR/.libs,
 * this program being BUILDDIR/fuzz/NAME) unless it is set already. */
static inline void fuzz_plugin_path(void)
{
    if (getenv("MUST_PLUGIN_PATH"))
        return;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 16);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0';
    if ((slash = strrchr(exe, '/')) && strcmp(slash, "/.libs") == 0)
        *slash = '\0'; /* a libtool wrapper's real program */
    if ((slash = strrchr(exe, '/')))
        *slash = '\0';
    strcat(exe, "/.libs");
    setenv("MUST_PLUGIN_PATH", exe, 1);
}

/* Loads the built-in plugins once and keeps them loaded: a task made from
 * one then only takes a reference, where a load per input would dlopen and
 * dlclose the file each time (slow, and libFuzzer loses the plugin's
 * coverage counters with it).  Those not found are left out. */
static inline void fuzz_hold_plugins(void)
{
    static const char *const names[] = {"classification", "detection", "segmentation", "depth",
                                        "normal"};
    static must_plugin *held[sizeof names / sizeof *names];
    fuzz_plugin_path();
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!held[i]) {
            must_err e = {0};
            if (must_plugin_load(names[i], &held[i], &e) != MUST_OK)
                fprintf(stderr, "fuzz: %s\n", e.msg);
        }
}

#endif
