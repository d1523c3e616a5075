/*
 * util.c - exiting allocators (startup/config only), bounded string helpers,
 * date parsing and the diagnostic logger used before and beside the event log.
 *
 * Diagnostics are operator messages (startup, config errors, internal
 * failures); decisions go to the event log (log/eventlog.c), never here.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/random.h>

#include "base/util.h"

static const char *diag_prog = "bulkwarden";
static bool diag_stderr = true;
static bool diag_syslog = false;

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		fatal("out of memory (%zu bytes)", n);
	return p;
}

void *
xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (p == NULL)
		fatal("out of memory (%zu x %zu bytes)", n, m);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		fatal("out of memory (%zu bytes)", n);
	return q;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		fatal("out of memory");
	return p;
}

/* Choose where diagnostics go; syslog uses LOG_MAIL like other milters. */
void
diag_init(const char *progname, bool to_stderr, bool to_syslog)
{
	diag_prog = progname;
	diag_stderr = to_stderr;
	diag_syslog = to_syslog;
	if (to_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

static void BW_PRINTF(2, 0)
vdiag(int prio, const char *fmt, va_list ap)
{
	char buf[2048];
	vsnprintf(buf, sizeof(buf), fmt, ap); /* truncation acceptable for diagnostics */
	if (diag_stderr)
		fprintf(stderr, "%s: %s\n", diag_prog, buf);
	if (diag_syslog)
		syslog(prio, "%s", buf);
}

void
diag(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(prio, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

size_t
bw_strlcpy(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);
	if (n > 0) {
		size_t c = len < n - 1 ? len : n - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return len;
}

char *
bw_lower(char *s)
{
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

/* Parse exactly n decimal digits. */
static bool
digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * ISO 8601 calendar date "YYYY-MM-DD", optionally followed by
 * "THH:MM[:SS]" and "Z" (UTC only: registry dates are policy, not local time).
 */
bool
bw_parse_date(const char *s, long long *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (strlen(s) < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d))
		return false;
	s += 10;
	if (*s == 'T' || *s == ' ') {
		if (!digits(s + 1, 2, &h) || s[3] != ':' || !digits(s + 4, 2, &mi))
			return false;
		s += 6;
		if (*s == ':') {
			if (!digits(s + 1, 2, &sec))
				return false;
			s += 3;
		}
		if (*s == 'Z')
			s++;
	}
	if (*s != '\0')
		return false;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return false;
	/* days from civil (Howard Hinnant's algorithm) */
	int yy = y - (mo <= 2);
	long long era = yy / 400;
	long long yoe = yy - era * 400;
	long long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	long long days = era * 146097 + doe - 719468;
	*out = days * 86400 + h * 3600 + mi * 60 + sec;
	return true;
}

/*
 * Random bytes for identifiers come from a per-thread pool refilled with one
 * getrandom(2) per RANDOM_POOL bytes: an event id per message would otherwise
 * be a system call per message (measured on the refuse path). A forked child
 * starts with an empty pool, so parent and child never share bytes.
 */
#define RANDOM_POOL 384

static __thread unsigned char rnd_pool[RANDOM_POOL];
static __thread size_t rnd_left; /* unused bytes at the end of rnd_pool */
static pthread_once_t rnd_once = PTHREAD_ONCE_INIT;

static void
rnd_forget(void)
{
	rnd_left = 0; /* runs in the child, on the thread that forked */
}

static void
rnd_setup(void)
{
	pthread_atfork(NULL, NULL, rnd_forget);
}

static int
rnd_fill(void)
{
	size_t got = 0;
	pthread_once(&rnd_once, rnd_setup);
	while (got < sizeof(rnd_pool)) {
		ssize_t r = getrandom(rnd_pool + got, sizeof(rnd_pool) - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	rnd_left = sizeof(rnd_pool);
	return 0;
}

int
bw_random_hex(char *buf, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (n > 64)
		n = 64;
	for (size_t i = 0; i < n; i++) {
		if (rnd_left == 0 && rnd_fill() != 0)
			return -1;
		unsigned char b = rnd_pool[RANDOM_POOL - rnd_left];
		rnd_pool[RANDOM_POOL - rnd_left] = 0; /* used bytes do not linger */
		rnd_left--;
		buf[2 * i] = hex[b >> 4];
		buf[2 * i + 1] = hex[b & 15];
	}
	buf[2 * n] = '\0';
	return 0;
}

/* Length of the well-formed UTF-8 sequence at p (n bytes left), 0 if bad. */
size_t
bw_utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	return bw_utf8_decode(p, n, &cp);
}

/* Decode one sequence: the one UTF-8 validator (JSON escaper, address
 * parser, terminal escaping all come here). */
size_t
bw_utf8_decode(const unsigned char *p, size_t n, uint32_t *out)
{
	size_t need;
	uint32_t min;
	uint32_t cp;
	if (n == 0 || p[0] < 0xc2)
		return 0;
	if (p[0] < 0xe0) {
		need = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] < 0xf0) {
		need = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] < 0xf5) {
		need = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*out = cp;
	return need;
}

long long
bw_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
