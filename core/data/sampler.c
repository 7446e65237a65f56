/* sampler.c - the union sampler: keyed permutations, so any position is computable alone. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "must/sampler.h"

struct must_sampler {
    must_sampler_opts o;
    int nsets;
    size_t *size;     /* (nsets) */
    size_t *start;    /* (nsets + 1) prefix sums */
    size_t total;
};

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t must_hash64(uint64_t a, uint64_t b)
{
    return mix(a ^ mix(b ^ 0x632be59bd9b4e019ull));
}

/* A 4-round balanced Feistel network on 2h bits is a bijection of
 * [0, 4^h); walking the cycle until the value falls below n restricts it
 * to a bijection of [0, n).  4^h < 4n, so fewer than 4 steps on average. */
size_t must_permute(uint64_t key, size_t n, size_t i)
{
    if (n <= 1)
        return 0;
    int bits = 0;
    while (bits < 64 && ((size_t)1 << bits) < n)
        bits++;
    int h = (bits + 1) / 2;
    uint64_t mask = ((uint64_t)1 << h) - 1, x = i;
    do {
        uint64_t l = x >> h, r = x & mask;
        for (int round = 0; round < 4; round++) {
            uint64_t t = l ^ (must_hash64(key + (uint64_t)round, r) & mask);
            l = r;
            r = t;
        }
        x = (l << h) | r;
    } while (x >= n);
    return (size_t)x;
}

int must_sampler_new(const size_t *sizes, int nsets, const must_sampler_opts *opts,
                     must_sampler **out, must_err *err)
{
    *out = NULL;
    int world = opts->world > 0 ? opts->world : 1;
    if (nsets <= 0)
        return must_err_set(err, MUST_EINVAL, "sampler: no datasets");
    if (opts->mode != MUST_SAMPLE_UNION && opts->mode != MUST_SAMPLE_BALANCED)
        return must_err_set(err, MUST_EINVAL, "sampler: unknown mode %d", opts->mode);
    if (opts->rank < 0 || opts->rank >= world)
        return must_err_set(err, MUST_EINVAL, "sampler: rank %d out of 0..%d", opts->rank,
                            world - 1);
    for (int d = 0; d < nsets; d++)
        if (sizes[d] == 0)
            return must_err_set(err, MUST_EINVAL, "sampler: dataset %d is empty", d);
    must_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    s->size = malloc((size_t)nsets * sizeof *s->size);
    s->start = malloc((size_t)(nsets + 1) * sizeof *s->start);
    if (!s->size || !s->start) {
        must_sampler_free(s);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    s->o = *opts;
    s->o.world = world;
    s->nsets = nsets;
    memcpy(s->size, sizes, (size_t)nsets * sizeof *s->size);
    s->start[0] = 0;
    for (int d = 0; d < nsets; d++)
        s->start[d + 1] = s->start[d] + sizes[d];
    s->total = s->start[nsets];
    if (s->total < (size_t)world) {
        must_sampler_free(s);
        return must_err_set(err, MUST_EINVAL, "sampler: %zu examples cannot feed %d ranks",
                            (size_t)s->start[nsets], world);
    }
    *out = s;
    return MUST_OK;
}

void must_sampler_free(must_sampler *s)
{
    if (!s)
        return;
    free(s->size);
    free(s->start);
    free(s);
}

size_t must_sampler_total(const must_sampler *s) { return s->total; }

size_t must_sampler_len(const must_sampler *s)
{
    size_t w = (size_t)s->o.world, r = (size_t)s->o.rank;
    return s->total / w + (r < s->total % w ? 1 : 0);
}

/* Domain-separation tags for the keys. */
enum { TAG_UNION = 1, TAG_ROUND = 2, TAG_WALK = 3 };

void must_sampler_get(const must_sampler *s, uint64_t epoch, size_t i, must_sample *out)
{
    size_t pos = i * (size_t)s->o.world + (size_t)s->o.rank;
    uint64_t seed = s->o.seed;
    out->pos = pos;
    if (s->o.mode == MUST_SAMPLE_UNION) {
        size_t p = s->o.shuffle
                       ? must_permute(must_hash64(must_hash64(seed, TAG_UNION), epoch), s->total,
                                      pos)
                       : pos;
        int lo = 0, hi = s->nsets - 1; /* the last set whose start <= p */
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (s->start[mid] <= p)
                lo = mid;
            else
                hi = mid - 1;
        }
        out->dataset = lo;
        out->index = p - s->start[lo];
        return;
    }
    /* Balanced: the walk continues across epochs, so count positions from
     * the start of training. */
    uint64_t g = epoch * (uint64_t)s->total + pos, nd = (uint64_t)s->nsets;
    uint64_t round = g / nd, slot = g % nd;
    int d = (int)(s->o.shuffle
                      ? must_permute(must_hash64(must_hash64(seed, TAG_ROUND), round), (size_t)nd,
                                     (size_t)slot)
                      : slot);
    uint64_t n = s->size[d], pass = round / n, j = round % n;
    out->dataset = d;
    out->index = s->o.shuffle ? must_permute(must_hash64(must_hash64(seed, TAG_WALK),
                                                         must_hash64((uint64_t)d, pass)),
                                             (size_t)n, (size_t)j)
                              : (size_t)j;
}
