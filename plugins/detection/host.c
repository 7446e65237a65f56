/* host.c - the lowest layer of the detection plugin: the host table it
 * reaches the engine through, the clock its timers read and the random
 * streams and initialiser its heads draw from.  Every other file of the
 * plugin may call these; this file calls none of them, so the calls run
 * one way (det-impl.h's file order). */
#include "config.h"

#include <time.h>

#include "det-impl.h"

/* The table must_task_init was given.  Static, as every plugin keeps its
 * state: the files of the plugin share it through det_host_ref()
 * (det-impl.h's det_host), a function, so that the plugin and the test
 * programs its files are compiled into define no variable by name. */
static const must_host *host_table;

const must_host **det_host_ref(void)
{
    return &host_table;
}

double det_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void det_rng(must_rng *r, uint64_t seed, const must_batch *b, int i, int stage)
{
    uint64_t s = mix(seed);
    s = mix(s ^ (b ? b->epoch : 0));
    s = mix(s ^ (b ? b->index : 0));
    s = mix(s ^ (uint64_t)i);
    det_host->rng_seed(r, mix(s ^ (uint64_t)stage));
}

void det_init_normal(must_tensor *t, must_rng *r, float std)
{
    const must_host *H = det_host;
    for (size_t i = 0; i < t->numel; i++)
        t->data[i] = std * H->rng_normal(r);
}
