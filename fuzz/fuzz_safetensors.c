/* fuzz_safetensors.c - a safetensors file from a stranger (a checkpoint,
 * torchvision weights): must_st_open, then every tensor it lists converted
 * to float and, for integer dtypes, to int64, each looked up by its name,
 * and the metadata read.  The open checks the whole header and the data's
 * coverage, so every tensor's bytes lie in the file: numel floats are at
 * most four times the file's size. */
#include "config.h"

#include "fuzz-util.h"
#include "must/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file("st", data, size);
    must_err err = {0};
    must_st *st;
    if (must_st_open(path, &st, &err) != MUST_OK)
        return 0;
    for (int i = 0; i < must_st_count(st); i++) {
        const must_st_tensor *t = must_st_get(st, i);
        if (!t || !t->name || t->end < t->begin || t->end - t->begin > must_st_file_size(st))
            abort();
        if (!must_st_find(st, t->name))
            abort();
        size_t n = t->numel ? t->numel : 1;
        float *f = malloc(n * sizeof *f);
        int64_t *v = malloc(n * sizeof *v);
        if (!f || !v)
            abort();
        must_st_to_f32(st, t, f, &err);
        must_st_to_i64(st, t, v, &err);
        free(f);
        free(v);
    }
    for (int i = 0; i < must_st_meta_count(st); i++) {
        const char *k = must_st_meta_key(st, i);
        if (!k || !must_st_meta_value(st, i) || !must_st_meta(st, k))
            abort();
    }
    must_st_close(st);
    return 0;
}
