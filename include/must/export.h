/* must/export.h - MUST_API marks the functions libmust exports.
 *
 * The library is built with hidden visibility by default
 * (-fvisibility=hidden), so a function is visible to programs and plugins
 * only when a public header declares it with MUST_API.  Internal helpers
 * shared between the library's files stay out of its dynamic symbol table.
 */
#ifndef MUST_EXPORT_H
#define MUST_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define MUST_API __attribute__((visibility("default")))
#else
#define MUST_API
#endif

#endif
