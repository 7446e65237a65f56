/* version.c - the library's own version (must/version.h): the macros as
 * they were when libmust was compiled, which a program compiled against
 * other headers can compare with its own. */
#include "config.h"

#include "must/version.h"

const char *must_version(void)
{
    return MUST_VERSION_STRING;
}

int must_version_number(void)
{
    return MUST_VERSION_NUMBER;
}
