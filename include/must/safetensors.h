/* must/safetensors.h - read and write the safetensors format.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of
 * JSON, then one data buffer:
 *
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 *
 * with offsets relative to the start of the buffer, the buffer covered by
 * the tensors exactly (no holes, no overlaps) and every value little-endian.
 * The reader checks all of this before it hands out a single tensor; every
 * error names the file and, where one is at fault, the tensor.
 */
#ifndef MUST_SAFETENSORS_H
#define MUST_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "must/error.h"
#include "must/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every dtype the format defines. */
enum must_st_dtype {
    MUST_ST_BOOL, MUST_ST_U8, MUST_ST_I8, MUST_ST_F8_E5M2, MUST_ST_F8_E4M3,
    MUST_ST_I16, MUST_ST_U16, MUST_ST_F16, MUST_ST_BF16,
    MUST_ST_I32, MUST_ST_U32, MUST_ST_F32,
    MUST_ST_I64, MUST_ST_U64, MUST_ST_F64,
    MUST_ST_NDTYPES
};

#define MUST_ST_MAX_DIMS 8
/* The same limit as the reference implementation: a larger header is
 * refused before it is read. */
#define MUST_ST_MAX_HEADER 100000000u

/* "F32", ... ; NULL for an unknown value. */
MUST_API const char *must_st_dtype_name(int dtype);
/* Bytes per element; 0 for an unknown value. */
MUST_API size_t must_st_dtype_size(int dtype);
/* The dtype named s, or -1. */
MUST_API int must_st_dtype_parse(const char *s);

/* IEEE half and bfloat16 to float (subnormals, infinities, NaN kept). */
MUST_API float must_f16_to_f32(uint16_t h);
MUST_API float must_bf16_to_f32(uint16_t h);

/* ---- Reading ------------------------------------------------------------ */

typedef struct must_st_tensor {
    const char *name;
    int dtype;                         /* enum must_st_dtype */
    int ndim;                          /* 0 for a scalar */
    int64_t shape[MUST_ST_MAX_DIMS];
    size_t numel;                      /* product of the shape (1 for a scalar) */
    size_t begin, end;                 /* byte range in the data buffer */
    const unsigned char *data;         /* little-endian, not necessarily aligned */
} must_st_tensor;

typedef struct must_st must_st;

/* Reads and checks the whole file.  On success *out owns a copy of the
 * file; close it with must_st_close(). */
MUST_API int must_st_open(const char *path, must_st **out, must_err *err);
MUST_API void must_st_close(must_st *st);

MUST_API const char *must_st_path(const must_st *st);
/* Bytes in the file. */
MUST_API size_t must_st_file_size(const must_st *st);

/* Tensors in the order of their data in the file. */
MUST_API int must_st_count(const must_st *st);
MUST_API const must_st_tensor *must_st_get(const must_st *st, int i);
/* NULL when the file has no tensor of that name. */
MUST_API const must_st_tensor *must_st_find(const must_st *st, const char *name);

/* The "__metadata__" strings, in file order. */
MUST_API int must_st_meta_count(const must_st *st);
MUST_API const char *must_st_meta_key(const must_st *st, int i);
MUST_API const char *must_st_meta_value(const must_st *st, int i);
/* The value of key, or NULL. */
MUST_API const char *must_st_meta(const must_st *st, const char *key);

/* Copies t's numel values into out as floats, converting from any float or
 * integer dtype (F8 excepted: MUST_EFORMAT). */
MUST_API int must_st_to_f32(const must_st *st, const must_st_tensor *t, float *out, must_err *err);
/* Copies an integer or BOOL tensor into out as int64 (a U64 value above
 * INT64_MAX is refused); float dtypes are refused. */
MUST_API int must_st_to_i64(const must_st *st, const must_st_tensor *t, int64_t *out,
                            must_err *err);

/* ---- Writing ------------------------------------------------------------ */

typedef struct must_st_writer must_st_writer;

/* NULL only when out of memory. */
MUST_API must_st_writer *must_st_writer_new(void);
MUST_API void must_st_writer_free(must_st_writer *w);

/* Adds a tensor whose numel values of dtype lie at data in host byte order
 * (F32/I64 and the other multi-byte dtypes are converted to little-endian on
 * a big-endian host).  The name is copied; data is only referenced and must
 * stay valid until must_st_writer_save().  Names must be unique and must not
 * be "__metadata__". */
MUST_API int must_st_writer_add(must_st_writer *w, const char *name, int dtype, int ndim,
                                const int64_t *shape, const void *data, must_err *err);
MUST_API int must_st_writer_add_f32(must_st_writer *w, const char *name, int ndim,
                                    const int64_t *shape,
                                    const float *data, must_err *err);
/* Adds (or replaces) a metadata string; both are copied. */
MUST_API int must_st_writer_meta(must_st_writer *w, const char *key, const char *value,
                                 must_err *err);

/* Writes the file atomically (must_afile): tensors in the order added, the
 * header padded with spaces so that the data starts 8-byte aligned. */
MUST_API int must_st_writer_save(must_st_writer *w, const char *path, must_err *err);

#ifdef __cplusplus
}
#endif
#endif
