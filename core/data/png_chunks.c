/* png_chunks.c - a PNG's chunk lengths checked against the file before
 * libpng reads it.  libpng allocates an ancillary chunk's whole length
 * before reading its data (tEXt, iTXt, zTXt, unknown chunks): a 125-byte
 * file whose tEXt chunk claims 1.7 GB cost 1.7 GB and seconds of zeroing
 * before libpng found the data missing (fuzz/regress/png/).  A chunk
 * stored in a file is never longer than what the file has left, so a
 * claim past the end is refused here, before any allocation. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "png-impl.h"

#define PNG_MAX_CHUNK 0x7fffffffUL /* the PNG specification's 2^31 - 1 */

static int bad(const char *path, const unsigned char *h, long pos, unsigned long len,
               long left, must_err *err)
{
    char type[5];
    for (int i = 0; i < 4; i++)
        type[i] = h[4 + i] >= 0x20 && h[4 + i] < 0x7f ? (char)h[4 + i] : '?';
    type[4] = '\0';
    return must_err_set(err, MUST_EFORMAT,
                        "%s: corrupt PNG: chunk '%s' at byte %ld claims %lu bytes, the file "
                        "has %ld left", path, type, pos, len, left < 0 ? 0 : left);
}

int must_png_check_chunks(const char *path, FILE *fp, must_err *err)
{
    struct stat st;
    if (fstat(fileno(fp), &st) != 0)
        return must_err_set(err, MUST_EIO, "%s: cannot stat: %s", path, strerror(errno));
    long size = (long)st.st_size, pos = 8; /* after the signature */
    int rc = MUST_OK;
    unsigned char h[8];
    while (pos + 8 <= size) {
        if (fseek(fp, pos, SEEK_SET) != 0 || fread(h, 1, 8, fp) != 8)
            break; /* a short read: libpng reports the file cut off */
        unsigned long len = (unsigned long)h[0] << 24 | (unsigned long)h[1] << 16 |
                            (unsigned long)h[2] << 8 | h[3];
        long left = size - pos - 12; /* after the length, type and CRC */
        if (len > PNG_MAX_CHUNK || (long)len > left) {
            rc = bad(path, h, pos, len, left, err);
            break;
        }
        if (memcmp(h + 4, "IEND", 4) == 0)
            break;
        pos += 12 + (long)len;
    }
    if (fseek(fp, 0, SEEK_SET) != 0 && !rc)
        rc = must_err_set(err, MUST_EIO, "%s: cannot seek: %s", path, strerror(errno));
    return rc;
}
