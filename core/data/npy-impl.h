/* npy-impl.h - NumPy's .npy files of float32 and float64 arrays (private).
 *
 * The format, versions 1.0, 2.0 and 3.0: the magic bytes "\x93NUMPY", a
 * major and a minor version byte, the header's length (2 bytes little-endian
 * in 1.0, 4 bytes in 2.0 and 3.0), the header (a Python dict literal with
 * the keys 'descr', 'fortran_order' and 'shape', padded with blanks and
 * ended by a newline), then the array's bytes in C or Fortran order.
 *
 * Read here: dtypes '<f4', '>f4', '<f8' and '>f8', any number of
 * dimensions up to NPY_MAXDIM, either order (a Fortran-order array is
 * transposed into C order).  Every length and offset in the file is checked
 * before it is used; problems are MUST_EFORMAT errors that name the file
 * and, in the header, the byte where parsing stopped. */
#ifndef MUST_NPY_IMPL_H
#define MUST_NPY_IMPL_H

#include <stddef.h>

#include "must/error.h"

#define NPY_MAXDIM 32            /* numpy's own limit in its 1.x releases */
#define NPY_HEADER_MAX 10000     /* a float array's header is under 200 bytes */

typedef struct npy_array {
    int major, minor;            /* the format version */
    char descr[8];               /* the dtype as written, e.g. "<f4" */
    int fortran_order;           /* as written; data is C order either way */
    int ndim;                    /* 0 for a scalar */
    size_t shape[NPY_MAXDIM];
    size_t count;                /* elements: the product of shape (1 when ndim is 0) */
    double *data;                /* count values in C order, NULL when count is 0 */
} npy_array;

/* Parses the len bytes of a .npy file; name is what messages call it.  On
 * success *a owns data (npy_free); on failure *a holds nothing. */
int npy_parse(const char *name, const unsigned char *buf, size_t len, npy_array *a,
              must_err *err);
/* Reads and parses the file at path. */
int npy_read(const char *path, npy_array *a, must_err *err);
void npy_free(npy_array *a);

/* The shape as Python writes it, "(480, 640)", into buf. */
void npy_shape_str(const npy_array *a, char *buf, size_t len);

#endif
