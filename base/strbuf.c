/*
 * strbuf.c - bounded append formatting over caller buffers (see strbuf.h).
 *
 * Memory: nothing allocated; the caller owns the array. Untrusted input:
 * arguments may be wire data; they are only copied, within the bound.
 * vsnprintf's result is checked every time: a negative return (encoding
 * error) or one past the room left is a cut.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "base/strbuf.h"

/* Empty text over buf. */
void
bw_sbuf_init(struct bw_sbuf *b, char *buf, size_t size)
{
	b->buf = buf;
	b->size = size;
	b->len = 0;
	b->cut = size == 0;
	if (size > 0)
		buf[0] = '\0';
}

/* Append formatted text; a cut is sticky. */
bool
bw_sbuf_vprintf(struct bw_sbuf *b, const char *fmt, va_list ap)
{
	if (b->cut)
		return false;
	size_t room = b->size - b->len;
	int n = vsnprintf(b->buf + b->len, room, fmt, ap);
	if (n < 0) {
		b->buf[b->len] = '\0'; /* nothing of a failed conversion stays */
		b->cut = true;
		return false;
	}
	if ((size_t)n >= room) {
		b->len = b->size - 1;
		b->cut = true;
		return false;
	}
	b->len += (size_t)n;
	return true;
}

/* Append formatted text. */
bool
bw_sbuf_printf(struct bw_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool ok = bw_sbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return ok;
}

/* Append sep (unless first) and s. */
bool
bw_sbuf_join(struct bw_sbuf *b, const char *sep, const char *s)
{
	return bw_sbuf_printf(b, "%s%s", b->len > 0 ? sep : "", s);
}

/* Overwrite the tail with mark when the text was cut. */
void
bw_sbuf_mark_cut(struct bw_sbuf *b, const char *mark)
{
	size_t m = strlen(mark);
	if (!b->cut || b->size == 0 || m >= b->size)
		return;
	size_t at = b->len + m < b->size ? b->len : b->size - 1 - m;
	memcpy(b->buf + at, mark, m + 1);
	b->len = at + m;
}

/* Format into buf. */
bool
bw_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct bw_sbuf b;
	bw_sbuf_init(&b, buf, size);
	return bw_sbuf_vprintf(&b, fmt, ap);
}

/* Format into buf. */
bool
bw_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool ok = bw_vfmt(buf, size, fmt, ap);
	va_end(ap);
	return ok;
}
