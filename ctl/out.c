/*
 * out.c - bulkwardenctl's output helpers: escaping table cells, times and
 * durations, and JSON documents assembled from jbuf objects.
 *
 * Untrusted input: every string printed in a table may come from a config
 * file or from another operator's --reason (stored in the state database),
 * so it goes through out_esc(): no control character, escape sequence or
 * malformed UTF-8 reaches the terminal. JSON goes through jbuf's escaper.
 * Durations and dates come from the command line and are parsed with
 * bounds.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/verbs.h"

#define DURATION_MAX_DIGITS 9 /* "999999999d" is already far beyond the bound */

/* Length of a well-formed UTF-8 sequence at p (n bytes left) that is not a
 * C1 control (U+0080..U+009F: C2 80..C2 9F), 0 otherwise. */
static size_t
utf8_ok(const unsigned char *p, size_t n)
{
	size_t k = bw_utf8_len(p, n);
	return (k == 2 && p[0] == 0xc2 && p[1] < 0xa0) ? 0 : k;
}

const char *
out_esc(const char *s, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), o = 0;
	if (len < 8) {
		if (len > 0)
			buf[0] = '\0';
		return buf;
	}
	if (n == 0) {
		bw_strlcpy(buf, "-", len);
		return buf;
	}
	for (size_t i = 0; i < n;) {
		size_t u = p[i] >= 0x80 ? utf8_ok(p + i, n - i) : 0;
		size_t need = u ? u : (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '\\') ? 4 : 1;
		if (o + need + 4 > len) { /* room for "..." and the NUL */
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (u) {
			memcpy(buf + o, p + i, u);
			o += u;
			i += u;
		} else if (need == 4) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[p[i] >> 4];
			buf[o++] = hex[p[i] & 15];
			i++;
		} else {
			buf[o++] = (char)p[i++];
		}
	}
	buf[o] = '\0';
	return buf;
}

/* t (unix seconds) as an ISO 8601 UTC date or time; "-" for 0 or an error. */
static const char *
utc(long long t, bool date_only, char buf[CTL_TIME_MAX])
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, CTL_TIME_MAX, date_only ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		bw_strlcpy(buf, "-", CTL_TIME_MAX);
	return buf;
}

const char *
out_time(long long t, char buf[CTL_TIME_MAX])
{
	return utc(t, false, buf);
}

const char *
out_date(long long t, char buf[CTL_TIME_MAX])
{
	return utc(t, true, buf);
}

/* Seconds per unit letter, 0 if unknown. */
static long long
unit_secs(char u)
{
	switch (u) {
	case 's':
		return 1;
	case 'm':
		return 60;
	case 'h':
		return 3600;
	case 'd':
		return 86400;
	case 'w':
		return 7 * 86400;
	default:
		return 0;
	}
}

bool
out_parse_until(const char *s, long long now, long long *out, const char **why)
{
	size_t n = strlen(s), digits = 0;
	while (digits < n && s[digits] >= '0' && s[digits] <= '9')
		digits++;
	if (digits > 0 && digits == n - 1 && unit_secs(s[n - 1]) != 0) {
		if (digits > DURATION_MAX_DIGITS) {
			*why = "duration too long";
			return false;
		}
		long long v = strtoll(s, NULL, 10) * unit_secs(s[n - 1]);
		if (v <= 0) {
			*why = "a duration must be positive";
			return false;
		}
		*out = now + v;
	} else if (!bw_parse_date(s, out)) {
		*why = "expected an ISO 8601 UTC time (2026-01-20, 2026-01-20T18:00:00Z) or a "
		       "duration (90s, 30m, 2h, 7d, 1w)";
		return false;
	}
	if (*out <= now) {
		*why = "it is not in the future";
		return false;
	}
	if (*out - now > CTL_UNTIL_MAX_SECS) {
		*why = "more than ten years ahead (omit --until to suspend until reinstated)";
		return false;
	}
	return true;
}

long long
out_hour(long long now)
{
	return now - now % 3600;
}

long long
out_day(long long now)
{
	return now - now % 86400;
}

void
out_array_begin(struct out_array *a)
{
	a->any = false;
	fputs("[", stdout);
}

/* The object text of j without its trailing newline. */
static void
put_object(const struct jbuf *j)
{
	size_t n = j->len;
	if (n > 0 && j->buf[n - 1] == '\n')
		n--;
	fwrite(j->buf, 1, n, stdout);
}

void
out_array_add(struct out_array *a, const struct jbuf *j)
{
	fputs(a->any ? ",\n" : "\n", stdout);
	put_object(j);
	a->any = true;
}

void
out_array_end(struct out_array *a)
{
	fputs(a->any ? "\n]\n" : "]\n", stdout);
}

void
out_object(const struct jbuf *j)
{
	put_object(j);
	fputs("\n", stdout);
}

void
out_counts_json(struct jbuf *j, const char *key, const struct state_counts *c)
{
	jbuf_object_begin(j, key);
	state_counts_json(j, "", c);
	jbuf_object_end(j);
}
