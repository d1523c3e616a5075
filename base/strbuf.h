/*
 * strbuf.h - bounded formatting into caller buffers, with truncation
 * reported: the one "append printf to a buffer" helper of the tree.
 *
 * struct bw_sbuf wraps a caller's char array (never allocates). Appends
 * keep what fits, always NUL-terminate, and report a cut; once cut, later
 * appends are dropped, so text never resumes after a gap. A caller that
 * shows the text to people marks the cut (bw_sbuf_mark_cut) instead of
 * hiding it. Not thread-safe (one builder per thread, on its stack).
 */
#ifndef BW_STRBUF_H
#define BW_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

struct bw_sbuf {
	char *buf;
	size_t size; /* bytes of buf, NUL included; 0: every append is a cut */
	size_t len;  /* strlen(buf) */
	bool cut;    /* something did not fit */
};

/* Start an empty text in buf[size]. */
void bw_sbuf_init(struct bw_sbuf *b, char *buf, size_t size);
/* Append; false when the text did not fit whole (what fit is kept). */
bool bw_sbuf_printf(struct bw_sbuf *b, const char *fmt, ...) BW_PRINTF(2, 3);
bool bw_sbuf_vprintf(struct bw_sbuf *b, const char *fmt, va_list ap) BW_PRINTF(2, 0);
/* Append s with sep before it unless the text is empty ("a; b"). */
bool bw_sbuf_join(struct bw_sbuf *b, const char *sep, const char *s);
/* When cut, end the text with mark ("...", "~"), overwriting its tail. */
void bw_sbuf_mark_cut(struct bw_sbuf *b, const char *mark);

/* One-shot: format into buf[size]; false when cut. */
bool bw_fmt(char *buf, size_t size, const char *fmt, ...) BW_PRINTF(3, 4);
bool bw_vfmt(char *buf, size_t size, const char *fmt, va_list ap) BW_PRINTF(3, 0);

#endif
