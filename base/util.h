/*
 * util.h - small shared helpers: exiting allocators for startup/config code,
 * bounded string helpers and the process-wide diagnostic logger.
 *
 * The x* allocators exit on failure and are only for startup and config
 * loading. The per-message path uses plain malloc and unwinds on failure.
 */
#ifndef BW_UTIL_H
#define BW_UTIL_H

#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#define BW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define BW_NORETURN __attribute__((noreturn))
/* A parameter a callback signature imposes but this implementation does
 * not need: `int fn(void *arg BW_UNUSED)`. */
#define BW_UNUSED __attribute__((unused))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Diagnostics (not events): to stderr and/or syslog. */
void diag_init(const char *progname, bool to_stderr, bool to_syslog);
void diag(int prio, const char *fmt, ...) BW_PRINTF(2, 3);
void fatal(const char *fmt, ...) BW_PRINTF(1, 2) BW_NORETURN;

/* strlcpy-alike: returns strlen(src); truncation iff return >= n. */
size_t bw_strlcpy(char *dst, const char *src, size_t n);
/* Milliseconds of CLOCK_MONOTONIC (deadlines, backoffs, ages). */
long long bw_mono_ms(void);
/* ASCII lowercase in place; returns s. */
char *bw_lower(char *s);
/* true iff the ISO 8601 date "YYYY-MM-DD" (optionally "THH:MM:SSZ") parses;
 * *out is seconds since the epoch, UTC. */
bool bw_parse_date(const char *s, long long *out);
/* Length (2-4) of the well-formed, shortest-form UTF-8 sequence of a
 * scalar value at p (n bytes available), 0 when there is none. */
size_t bw_utf8_len(const unsigned char *p, size_t n);
/* The same, with the scalar value in *cp when the length is not 0. */
size_t bw_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
/* Fill buf (2*n+1 bytes) with n random bytes as lowercase hex. */
int bw_random_hex(char *buf, size_t n);

#endif
