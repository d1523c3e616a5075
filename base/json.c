/*
 * json.c - bounded, escaping JSON line builder (struct jbuf).
 *
 * Escaping: '"' and '\\' are escaped, control characters and DEL become
 * \u00XX, well-formed UTF-8 passes through, and every byte of a malformed
 * sequence becomes \u00XX (so the output is always valid UTF-8 JSON).
 * The line is bounded by EVENT_LINE_MAX; space for closing brackets is
 * reserved so a cut line still parses.
 */
#include "config.h"

#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "base/json.h"

#define CLOSE_RESERVE 64 /* bytes kept for closing brackets, flag and newline */

/* Raw append; false (and truncated) when it would eat into the reserve. */
static bool
put(struct jbuf *j, const char *s, size_t n)
{
	if (j->len + n + CLOSE_RESERVE > sizeof(j->buf)) {
		j->truncated = true;
		return false;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	return true;
}

/* Bytes that go out as they are: printable ASCII but '"' and '\\'. */
static const unsigned char plain[256] = {
#define P4(x) x, x, x, x
#define P16(x) P4(x), P4(x), P4(x), P4(x)
	/* 0x00-0x1f control */ P16(0), P16(0),
	/* 0x20-0x2f */ 1, 1, 0 /* " */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	/* 0x30-0x3f */ P16(1),
	/* 0x40-0x4f */ P16(1),
	/* 0x50-0x5f */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* \ */, 1, 1, 1,
	/* 0x60-0x6f */ P16(1),
	/* 0x70-0x7f */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* DEL */,
	/* 0x80-0xff: UTF-8, checked sequence by sequence */
	P16(0), P16(0), P16(0), P16(0), P16(0), P16(0), P16(0), P16(0),
#undef P16
#undef P4
};

/*
 * Bytes at p that are plain, counted eight at a time (SWAR): a word is plain
 * when no byte is below 0x20, none has the top bit, none is DEL, '"' or '\\'.
 * Stops at the first word holding any other byte; the caller finishes the
 * run byte by byte.
 */
static size_t
plain_run8(const unsigned char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		uint64_t lt20 = (v - ones * 0x20) & ~v;	      /* high bit set: byte < 0x20 */
		uint64_t del = v ^ (ones * 0x7f), quo = v ^ (ones * '"'), bsl = v ^ (ones * '\\');
		uint64_t zero = ((del - ones) & ~del) | ((quo - ones) & ~quo) | ((bsl - ones) & ~bsl);
		if (((lt20 | zero) & high) != 0 || (v & high) != 0)
			break;
	}
	return i;
}

/*
 * Escaped string with quotes; sets truncated when it does not fit. Runs of
 * plain bytes are found a word (then a table look-up) at a time and copied
 * whole; the common value (all plain) is one scan and one copy.
 */
static void
put_string(struct jbuf *j, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t run = plain_run8(p, n);
	while (run < n && plain[p[run]])
		run++;
	if (run == n) { /* nothing to escape: quotes and bytes in one go */
		if (j->len + n + 2 + CLOSE_RESERVE > sizeof(j->buf)) {
			j->truncated = true;
			return;
		}
		j->buf[j->len] = '"';
		memcpy(j->buf + j->len + 1, s, n);
		j->buf[j->len + 1 + n] = '"';
		j->len += n + 2;
		return;
	}
	put(j, "\"", 1);
	for (size_t i = 0; i < n && !j->truncated;) {
		unsigned char c = p[i];
		char esc[8];
		size_t k;
		if (plain[c]) {
			size_t e = i + 1 + plain_run8(p + i + 1, n - i - 1);
			while (e < n && plain[p[e]])
				e++;
			put(j, s + i, e - i);
			i = e;
			continue;
		} else if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			k = 2;
		} else if (c >= 0x80 && (k = bw_utf8_len(p + i, n - i)) != 0) {
			put(j, s + i, k);
			i += k;
			continue;
		} else { /* control, DEL, malformed UTF-8 byte */
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			k = 6;
		}
		put(j, esc, k);
		i++;
	}
	put(j, "\"", 1);
}

/*
 * Start a member: remembers where it began so end_member() can take back a
 * member that did not fit whole. Returns false when the line is already full.
 */
static bool
begin_member(struct jbuf *j, const char *key, size_t *mark)
{
	if (j->truncated)
		return false;
	*mark = j->len;
	size_t kl = key != NULL ? strlen(key) : 0;
	if (j->len + kl + 4 + CLOSE_RESERVE > sizeof(j->buf)) {
		j->truncated = true;
		return true; /* end_member() takes the member back */
	}
	char *o = j->buf + j->len;
	if (!j->first)
		*o++ = ',';
	if (key != NULL) { /* ,"key": in one go: keys need no escaping (event.h) */
		*o++ = '"';
		memcpy(o, key, kl);
		o += kl;
		*o++ = '"';
		*o++ = ':';
	}
	j->len = (size_t)(o - j->buf);
	return true;
}

/* Keep the member, or roll it back if anything in it was cut. */
static bool
end_member(struct jbuf *j, size_t mark)
{
	if (j->truncated) {
		j->len = mark;
		return false;
	}
	j->first = false;
	return true;
}

void
jbuf_begin(struct jbuf *j)
{
	j->len = 0;
	j->truncated = false;
	j->depth = 0;
	j->skip = 0;
	j->first = true;
	j->buf[j->len++] = '{';
}

size_t
jbuf_end(struct jbuf *j)
{
	/* close whatever is still open (only after truncation) */
	while (j->depth > 0)
		j->buf[j->len++] = j->closers[--j->depth];
	if (j->truncated) {
		static const char flag[] = ",\"event.truncated\":true";
		memcpy(j->buf + j->len, flag, sizeof(flag) - 1);
		j->len += sizeof(flag) - 1;
	}
	j->buf[j->len++] = '}';
	j->buf[j->len++] = '\n';
	j->buf[j->len] = '\0';
	return j->len;
}

void
jbuf_strn(struct jbuf *j, const char *key, const char *val, size_t n)
{
	size_t mark;
	if (!begin_member(j, key, &mark))
		return;
	put_string(j, val, n);
	end_member(j, mark);
}

void
jbuf_str(struct jbuf *j, const char *key, const char *val)
{
	jbuf_strn(j, key, val ? val : "", val ? strlen(val) : 0);
}

void
jbuf_num(struct jbuf *j, const char *key, long long val)
{
	char b[24];
	size_t mark, k = sizeof(b);
	/* digits from the end; the magnitude as unsigned so LLONG_MIN works */
	unsigned long long u = val < 0 ? 0ULL - (unsigned long long)val : (unsigned long long)val;
	do
		b[--k] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (val < 0)
		b[--k] = '-';
	if (!begin_member(j, key, &mark))
		return;
	put(j, b + k, sizeof(b) - k);
	end_member(j, mark);
}

void
jbuf_raw(struct jbuf *j, const char *key, const char *val, size_t n)
{
	size_t mark;
	if (!begin_member(j, key, &mark))
		return;
	put(j, val, n);
	end_member(j, mark);
}

void
jbuf_double(struct jbuf *j, const char *key, double val)
{
	char b[32];
	size_t mark;
	int n = snprintf(b, sizeof(b), "%.6g", isfinite(val) ? val : 0.0);
	if (n <= 0 || (size_t)n >= sizeof(b) || !begin_member(j, key, &mark))
		return;
	put(j, b, (size_t)n);
	end_member(j, mark);
}

void
jbuf_bool(struct jbuf *j, const char *key, bool val)
{
	size_t mark;
	if (!begin_member(j, key, &mark))
		return;
	put(j, val ? "true" : "false", val ? 4 : 5);
	end_member(j, mark);
}

/* Open a container; nesting is bounded by closers[]. */
static void
open_container(struct jbuf *j, const char *key, char open, char close)
{
	size_t mark;
	if (j->depth == sizeof(j->closers) || !begin_member(j, key, &mark)) {
		j->skip++;
		return;
	}
	put(j, &open, 1);
	if (!end_member(j, mark)) {
		j->skip++;
		return;
	}
	j->closers[j->depth++] = close;
	j->first = true;
}

/* Close the innermost container; brackets come out of the reserve. */
static void
close_container(struct jbuf *j)
{
	if (j->skip > 0) {
		j->skip--;
		return;
	}
	j->buf[j->len++] = j->closers[--j->depth];
	j->first = false;
}

void
jbuf_array_begin(struct jbuf *j, const char *key)
{
	open_container(j, key, '[', ']');
}

void
jbuf_array_end(struct jbuf *j)
{
	close_container(j);
}

void
jbuf_object_begin(struct jbuf *j, const char *key)
{
	open_container(j, key, '{', '}');
}

void
jbuf_object_end(struct jbuf *j)
{
	close_container(j);
}

/*
 * The date and time up to the second are formatted once per second per
 * thread (gmtime_r and snprintf were a fifth of an event's instructions);
 * the milliseconds are written each time.
 */
void
jbuf_timestamp(struct jbuf *j, const char *key, long long sec, long msec)
{
	static __thread long long cached_sec = -1;
	static __thread char b[96];
	static __thread size_t blen;
	if (sec != cached_sec) {
		struct tm tm;
		time_t t = (time_t)sec;
		gmtime_r(&t, &tm);
		int n = snprintf(b, sizeof(b) - 6, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
				 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		blen = n < 0 ? 0 : (size_t)n < sizeof(b) - 6 ? (size_t)n : sizeof(b) - 7;
		cached_sec = sec;
	}
	unsigned ms = msec < 0 ? 0 : msec > 999 ? 999 : (unsigned)msec;
	b[blen] = '.';
	b[blen + 1] = (char)('0' + ms / 100);
	b[blen + 2] = (char)('0' + ms / 10 % 10);
	b[blen + 3] = (char)('0' + ms % 10);
	b[blen + 4] = 'Z';
	jbuf_strn(j, key, b, blen + 5);
}
