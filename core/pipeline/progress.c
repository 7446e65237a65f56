/* progress.c - the events through which the pipeline reports: lines of
 * text and each unit's progress (must/pipeline.h).  The library prints
 * nothing itself; `must` turns the events into its terminal output. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "base/dist-impl.h"
#include "pipeline-impl.h"

#include <signal.h>

static volatile sig_atomic_t interrupted;

void must_run_interrupt(void)
{
    interrupted = 1;
}

void must_run_interrupt_clear(void)
{
    interrupted = 0;
}

int pl_interrupted(void)
{
    return interrupted != 0;
}

double pl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void pl_say(const pl_out *o, const char *fmt, ...)
{
    /* Over several ranks, rank 0 speaks for all of them. */
    if (!o || !o->fn || must_dist_rank() != 0)
        return;
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    must_event ev = {0};
    ev.kind = MUST_EVENT_LINE;
    ev.text = line;
    o->fn(o->user, &ev);
}

void pl_progress_start(pl_progress *p, const pl_out *out, const char *unit, long total,
                       long start, double per_step)
{
    p->out = out;
    p->unit = unit;
    p->total = total;
    p->start = start;
    p->t0 = pl_now();
    p->per_step = per_step;
    p->last = start;
}

/* The whole run's ETA after this unit reached `step`: what is left of the
 * plan's work at the pace of the run so far. */
static double run_eta(pl_progress *p, long step)
{
    pl_clock *c = p->out ? p->out->clock : NULL;
    if (!c)
        return -1;
    c->done += (double)(step - p->last) * p->per_step;
    p->last = step;
    double el = pl_now() - c->t0, left = c->total - c->done;
    if (!(c->done > 0) || !(el > 0))
        return -1;
    double eta = (left > 0 ? left : 0) * el / c->done;
    return isfinite(eta) ? eta : -1;
}

void pl_progress_step(pl_progress *p, long step, const char *detail, double images_per_s)
{
    double reta = run_eta(p, step);
    if (!p->out || !p->out->fn || must_dist_rank() != 0)
        return;
    double el = pl_now() - p->t0;
    long done = step - p->start;
    must_event ev = {0};
    ev.kind = MUST_EVENT_PROGRESS;
    ev.unit = p->unit;
    ev.step = step;
    ev.total = p->total;
    ev.detail = detail;
    ev.images_per_s = images_per_s;
    ev.eta_s = images_per_s > 0 && done > 0 ? el / (double)done * (double)(p->total - step) : -1;
    if (!isfinite(ev.eta_s))
        ev.eta_s = -1;
    ev.run_eta_s = reta;
    p->out->fn(p->out->user, &ev);
}

void pl_progress_end(pl_progress *p)
{
    if (!p->out || !p->out->fn || must_dist_rank() != 0)
        return;
    must_event ev = {0};
    ev.kind = MUST_EVENT_PROGRESS_END;
    ev.unit = p->unit;
    ev.total = p->total;
    p->out->fn(p->out->user, &ev);
}
