/* dist.c - every MPI call of the project (must/dist.h, dist-impl.h).
 *
 * MPI starts only when mpirun started the process (Open MPI puts
 * OMPI_COMM_WORLD_SIZE in its environment; PMI_SIZE and PMIX_RANK name
 * other launchers'): a plain `must run` never pays for MPI_Init or meets its
 * messages, and a build without MPI compiles the same functions as one
 * rank.  The library's collectives use a duplicate of MPI_COMM_WORLD with
 * errors returned, not fatal; a second duplicate carries the time-out's
 * questions, so that they never mix with the collectives' traffic.
 *
 * Why nonblocking collectives waited on by hand: MPI's blocking ones have
 * no time-out, and a rank that hangs (stopped, deadlocked, its node gone
 * quiet) would hold the others for ever.  Waiting on MPI_Test with a
 * deadline lets the waiting ranks notice, ask each other who is there, and
 * name the rank that does not answer before they end the job. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist-impl.h"

#ifdef MUST_HAVE_MPI
#include <mpi.h>
#endif

#define DEFAULT_TIMEOUT 900.0
/* Elements per MPI call: MPI counts are int. */
#define CHUNK ((size_t)1 << 28)

static struct {
    int up;             /* 1: we started MPI; 2: someone else had */
    int rank, size, local;
    int solo;           /* depth of solo scopes */
    int agreed;
    double timeout;     /* seconds; 0: wait for ever */
    unsigned long seq;  /* collectives so far, the same count on every rank */
    must_dist_stats st;
#ifdef MUST_HAVE_MPI
    MPI_Comm comm, alarm;
#endif
} D = {.size = 1, .local = 1, .timeout = DEFAULT_TIMEOUT};

#ifdef MUST_HAVE_MPI
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

int must_dist_available(void)
{
#ifdef MUST_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

const char *must_dist_library(void)
{
#ifdef MUST_HAVE_MPI
    static char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (!lib[0] && MPI_Get_library_version(lib, &len) == MPI_SUCCESS) {
        lib[strcspn(lib, ",\n")] = '\0'; /* "Open MPI v4.1.4" */
    }
    return lib;
#else
    return "";
#endif
}

int must_dist_rank(void) { return D.rank; }
int must_dist_size(void) { return D.size; }
int must_dist_group_rank(void) { return D.solo ? 0 : D.rank; }
int must_dist_group_size(void) { return D.solo ? 1 : D.size; }
int must_dist_writer(void) { return must_dist_group_rank() == 0; }
int must_dist_local_size(void) { return D.local > 0 ? D.local : 1; }
int must_dist_error_agreed(void) { return D.agreed; }
void must_dist_set_agreed(void) { D.agreed = 1; }
void must_dist_solo_begin(void) { D.solo++; }
void must_dist_solo_end(void) { D.solo -= D.solo > 0; }
void must_dist_get_stats(must_dist_stats *s) { *s = D.st; }
void must_dist_reset_stats(void) { memset(&D.st, 0, sizeof D.st); }

/* MUST_DIST_TIMEOUT: seconds, 0 for none. */
static int read_timeout(must_err *err)
{
    const char *t = getenv("MUST_DIST_TIMEOUT");
    if (!t || !*t)
        return MUST_OK;
    char *end;
    double v = strtod(t, &end);
    if (*end || !(v >= 0.0 && v <= 1e9))
        return must_err_set(err, MUST_EINVAL, "MUST_DIST_TIMEOUT=%s: give seconds >= 0 (0: no "
                            "time-out)", t);
    D.timeout = v;
    return MUST_OK;
}

#ifdef MUST_HAVE_MPI

static int launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

static int mpi_fail(int code, const char *what, must_err *err)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "MPI error %d", code);
    return must_err_set(err, MUST_EIO, "rank %d: %s: %s", D.rank, what, s);
}

int must_dist_init(int *argc, char ***argv, must_err *err)
{
    if (D.up)
        return MUST_OK;
    int rc = read_timeout(err);
    if (rc || !launched())
        return rc;
    int inited = 0, prov = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &prov) != MPI_SUCCESS)
        return must_err_set(err, MUST_EIO, "MPI_Init_thread failed");
    D.up = inited ? 2 : 1;
    MPI_Comm node;
    if (MPI_Comm_dup(MPI_COMM_WORLD, &D.comm) != MPI_SUCCESS ||
        MPI_Comm_dup(MPI_COMM_WORLD, &D.alarm) != MPI_SUCCESS)
        return must_err_set(err, MUST_EIO, "MPI_Comm_dup failed");
    MPI_Comm_set_errhandler(D.comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(D.alarm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(D.comm, &D.rank);
    MPI_Comm_size(D.comm, &D.size);
    if (MPI_Comm_split_type(D.comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_size(node, &D.local);
        MPI_Comm_free(&node);
    }
    return MUST_OK;
}

void must_dist_finalize(void)
{
    if (!D.up)
        return;
    MPI_Comm_free(&D.comm);
    MPI_Comm_free(&D.alarm);
    if (D.up == 1)
        MPI_Finalize();
    D.up = 0;
    D.rank = 0;
    D.size = D.local = 1;
}

void must_dist_abort(int status)
{
    fflush(stdout);
    fflush(stderr);
    if (D.up && D.size > 1) {
        /* mpirun forwards a rank's output on its own time and drops what
         * it has not read when the job ends: a moment for the message that
         * says why to get out (without it the time-out's went missing). */
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
        MPI_Abort(MPI_COMM_WORLD, status);
    }
    exit(status);
}

/* ---- the time-out ------------------------------------------------------ */

#define TAG_ALARM 17

/* What a waiting rank tells the others. */
typedef struct alarm_msg {
    unsigned long seq;
    char what[120];
} alarm_msg;

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* This rank's collective `what` waited too long (or another rank's did and
 * asked): tell every rank where we are, listen for their answers for a
 * while, name those that stay silent or wait elsewhere, and end the job.
 * Never returns. */
static void hang(const char *what, double waited)
{
    int n = D.size;
    alarm_msg me = {D.seq, ""}, in;
    snprintf(me.what, sizeof me.what, "%s", what);
    MPI_Request *rq = calloc((size_t)n, sizeof *rq);
    char *heard = calloc((size_t)n, 1), *elsewhere = calloc((size_t)n, 1);
    if (!rq || !heard || !elsewhere)
        must_dist_abort(1);
    for (int r = 0; r < n; r++)
        if (r != D.rank)
            MPI_Isend(&me, (int)sizeof me, MPI_BYTE, r, TAG_ALARM, D.alarm, &rq[r]);
    heard[D.rank] = 1;
    /* The healthy ranks are waiting too and answer at their next poll; a
     * rank still computing answers when it reaches a collective. */
    double grace = D.timeout / 10 < 2 ? 2 : D.timeout / 10 > 30 ? 30 : D.timeout / 10;
    int nheard = 1;
    for (double end = now_s() + grace; now_s() < end && nheard < n;) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_ALARM, D.alarm, &flag, &st);
        if (!flag) {
            sleep_s(0.01);
            continue;
        }
        MPI_Recv(&in, (int)sizeof in, MPI_BYTE, st.MPI_SOURCE, TAG_ALARM, D.alarm,
                 MPI_STATUS_IGNORE);
        nheard += !heard[st.MPI_SOURCE];
        heard[st.MPI_SOURCE] = 1;
        elsewhere[st.MPI_SOURCE] = in.seq != me.seq;
    }
    char silent[512] = "", other[512] = "";
    int first = n;
    for (int r = 0; r < n; r++) {
        char *b = !heard[r] ? silent : elsewhere[r] ? other : NULL;
        if (b)
            snprintf(b + strlen(b), 512 - strlen(b), "%s%d", *b ? ", " : "", r);
        if (heard[r] && first == n)
            first = r;
    }
    if (first == D.rank) {
        if (silent[0])
            fprintf(stderr, "must: rank %d: '%s' waited %.0f s (MUST_DIST_TIMEOUT) for rank%s "
                    "%s, which did not answer: it hangs or died; ending every rank (the same "
                    "command resumes from the last checkpoint)\n", D.rank, what, waited,
                    strchr(silent, ',') ? "s" : "", silent);
        else
            fprintf(stderr, "must: rank %d: '%s' waited %.0f s (MUST_DIST_TIMEOUT); rank%s %s "
                    "wait%s at another point: the ranks went out of step; ending every rank\n",
                    D.rank, what, waited, strchr(other, ',') ? "s" : "", other,
                    strchr(other, ',') ? "" : "s");
    } else {
        sleep_s(3.0); /* the first answering rank speaks and ends the job */
    }
    must_dist_abort(1);
}

static int alarm_pending(void)
{
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, TAG_ALARM, D.alarm, &flag, MPI_STATUS_IGNORE);
    return flag;
}

/* Waits for a nonblocking collective, within the time-out. */
static int wait_req(MPI_Request *rq, const char *what, double bytes, must_err *err)
{
    double t0 = now_s();
    int rc = MPI_SUCCESS, done = 0;
    D.agreed = 0;
    if (D.timeout <= 0) {
        rc = MPI_Wait(rq, MPI_STATUS_IGNORE);
    } else {
        double deadline = t0 + D.timeout;
        for (long spin = 0; rc == MPI_SUCCESS; spin++) {
            rc = MPI_Test(rq, &done, MPI_STATUS_IGNORE);
            if (done || rc != MPI_SUCCESS)
                break;
            /* Spin a little (a collective of a step is quick), then nap
             * so that a rank waiting for a slow one leaves it the core. */
            if (spin < 2000)
                continue;
            if (spin % 64 == 0 && (alarm_pending() || now_s() > deadline))
                hang(what, now_s() - t0);
            sleep_s(spin < 20000 ? 2e-5 : 5e-4);
        }
    }
    D.seq++;
    D.st.calls++;
    D.st.seconds += now_s() - t0;
    D.st.bytes += bytes;
    return rc == MPI_SUCCESS ? MUST_OK : mpi_fail(rc, what, err);
}

static int solo(void)
{
    return D.size <= 1 || D.solo || !D.up;
}

static int sum_any(void *v, size_t n, MPI_Datatype type, size_t esize, const char *what,
                   must_err *err)
{
    int rc = MUST_OK;
    for (size_t off = 0; off < n && !rc; off += CHUNK) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        MPI_Request rq;
        int m = MPI_Iallreduce(MPI_IN_PLACE, (char *)v + off * esize, (int)k, type, MPI_SUM,
                               D.comm, &rq);
        rc = m == MPI_SUCCESS ? wait_req(&rq, what, (double)(k * esize), err)
                              : mpi_fail(m, what, err);
    }
    return rc;
}

int must_dist_sum_f(float *v, size_t n, const char *what, must_err *err)
{
    return solo() ? MUST_OK : sum_any(v, n, MPI_FLOAT, sizeof *v, what, err);
}

int must_dist_sum_d(double *v, size_t n, const char *what, must_err *err)
{
    return solo() ? MUST_OK : sum_any(v, n, MPI_DOUBLE, sizeof *v, what, err);
}

static int bcast_from(void *buf, size_t bytes, int root, const char *what, must_err *err)
{
    int rc = MUST_OK;
    for (size_t off = 0; off < bytes && !rc; off += CHUNK) {
        size_t k = bytes - off < CHUNK ? bytes - off : CHUNK;
        MPI_Request rq;
        int m = MPI_Ibcast((char *)buf + off, (int)k, MPI_BYTE, root, D.comm, &rq);
        rc = m == MPI_SUCCESS ? wait_req(&rq, what, (double)k, err) : mpi_fail(m, what, err);
    }
    return rc;
}

int must_dist_bcast(void *buf, size_t bytes, const char *what, must_err *err)
{
    return solo() ? MUST_OK : bcast_from(buf, bytes, 0, what, err);
}

int must_dist_barrier(const char *what, must_err *err)
{
    if (solo())
        return MUST_OK;
    MPI_Request rq;
    int m = MPI_Ibarrier(D.comm, &rq);
    return m == MPI_SUCCESS ? wait_req(&rq, what, 0, err) : mpi_fail(m, what, err);
}

int must_dist_gather_u64(uint64_t v, uint64_t *all, const char *what, must_err *err)
{
    if (solo()) {
        all[0] = v;
        return MUST_OK;
    }
    MPI_Request rq;
    int m = MPI_Iallgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, D.comm, &rq);
    return m == MPI_SUCCESS ? wait_req(&rq, what, 8.0 * D.size, err) : mpi_fail(m, what, err);
}

int must_dist_gather_d(const double *v, size_t n, double *all, const char *what, must_err *err)
{
    if (solo()) {
        memcpy(all, v, n * sizeof *v);
        return MUST_OK;
    }
    if (n > CHUNK)
        return must_err_set(err, MUST_EINVAL, "%s: %zu values to gather", what, n);
    MPI_Request rq;
    int m = MPI_Iallgather(v, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, D.comm, &rq);
    return m == MPI_SUCCESS ? wait_req(&rq, what, 8.0 * (double)n * D.size, err)
                            : mpi_fail(m, what, err);
}

int must_dist_agree(int rc, must_err *err)
{
    if (solo())
        return rc;
    int mine = rc ? D.rank : D.size, first = D.size;
    MPI_Request rq;
    must_err e = {0};
    int m = MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, D.comm, &rq);
    int c = m == MPI_SUCCESS ? wait_req(&rq, "agreeing on a status", sizeof mine, &e)
                             : mpi_fail(m, "agreeing on a status", &e);
    if (c) {
        if (err)
            *err = e;
        return c;
    }
    if (first == D.size)
        return MUST_OK;
    struct {
        int code;
        char msg[MUST_ERR_MSG_MAX];
    } s = {rc, ""};
    if (D.rank == first && err)
        memcpy(s.msg, err->msg, sizeof s.msg);
    if ((c = bcast_from(&s, sizeof s, first, "sharing an error", &e))) {
        if (err)
            *err = e;
        return c;
    }
    if (D.rank != first)
        must_err_set(err, s.code ? s.code : MUST_EIO, "rank %d: %s", first, s.msg);
    D.agreed = 1;
    return s.code ? s.code : MUST_EIO;
}

#else /* one rank: the same functions, doing nothing */

int must_dist_init(int *argc, char ***argv, must_err *err)
{
    (void)argc, (void)argv;
    return read_timeout(err);
}

void must_dist_finalize(void) {}

void must_dist_abort(int status)
{
    fflush(stdout);
    fflush(stderr);
    exit(status);
}

int must_dist_sum_f(float *v, size_t n, const char *what, must_err *err)
{
    (void)v, (void)n, (void)what, (void)err;
    return MUST_OK;
}

int must_dist_sum_d(double *v, size_t n, const char *what, must_err *err)
{
    (void)v, (void)n, (void)what, (void)err;
    return MUST_OK;
}

int must_dist_bcast(void *buf, size_t bytes, const char *what, must_err *err)
{
    (void)buf, (void)bytes, (void)what, (void)err;
    return MUST_OK;
}

int must_dist_barrier(const char *what, must_err *err)
{
    (void)what, (void)err;
    return MUST_OK;
}

int must_dist_gather_u64(uint64_t v, uint64_t *all, const char *what, must_err *err)
{
    (void)what, (void)err;
    all[0] = v;
    return MUST_OK;
}

int must_dist_gather_d(const double *v, size_t n, double *all, const char *what, must_err *err)
{
    (void)what, (void)err;
    memcpy(all, v, n * sizeof *v);
    return MUST_OK;
}

int must_dist_agree(int rc, must_err *err)
{
    (void)err;
    return rc;
}

#endif
