/*
 * resolver.c - the DNS stub resolver behind SPF and DMARC (see resolver.h
 * for the contract: statuses, deadline, progress, threads).
 *
 * A query is built by hand (header, QNAME, QTYPE, QCLASS IN, an EDNS0 OPT
 * record advertising RESOLVER_UDP_PAYLOAD bytes, RD set), sent over UDP to
 * the nameservers in turn, one resend slot every max(RESOLVER_MIN_TRY_MS,
 * timeout / 2n), until an answer matches (source address and port of a
 * server we asked, ID, QR, the question echoed byte for byte modulo case)
 * or the deadline passes. A truncated answer is fetched again over TCP from
 * the same server under the same deadline. A server answering FORMERR to
 * EDNS is asked once more without it. SERVFAIL/REFUSED/NOTIMP/FORMERR
 * rule that server out; when every server is ruled out the status is
 * SERVFAIL at once, otherwise the others still have until the deadline.
 *
 * The wire format (building queries, matching and decoding answers) is
 * in resolver_wire.c.
 *
 * Cache: a chained hash table keyed by (lowercased name, type) holding OK,
 * NODATA and NXDOMAIN answers for min(record TTL, cache_ttl) seconds
 * (negative answers: min(SOA TTL, SOA minimum) or RESOLVER_NEG_TTL,
 * bounded by cache_ttl). Temporary failures are never cached. When full,
 * expired entries go first, then the oldest insertion. The mutex is held
 * only to copy an entry; lookups run without it (two threads may fetch the
 * same name at the same time; the second insert replaces the first).
 *
 * Memory: struct resolver and its cache are owned by the caller of
 * resolver_new(); answers are owned by whoever passed them in.
 */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns/resolver.h"
#include "dns/resolver_int.h"
#include "base/util.h"

#define RESOLVER_NS_TEXT 64
#define RESOLVER_CACHE_BUCKETS 4096 /* power of two */
#define RESOLVER_RESOLV_CONF_MAX 3  /* like glibc's MAXNS */

struct ns {
	struct sockaddr_storage sa;
	socklen_t salen;
	char text[RESOLVER_NS_TEXT];
};

struct cache_ent {
	struct cache_ent *next;		 /* hash chain */
	struct cache_ent *older, *newer; /* insertion order */
	uint64_t expires_ms;
	uint16_t type;
	enum resolver_status status;
	int rcode;
	size_t n;
	struct resolver_rr *rr; /* data pointers unset; off valid */
	unsigned char *data;
	size_t data_len;
	char name[]; /* lowercased */
};

struct resolver {
	struct ns ns[RESOLVER_MAX_NS];
	size_t n_ns;
	unsigned timeout_ms;
	unsigned cache_ttl;
	pthread_mutex_t lock; /* cache and nothing else */
	struct cache_ent **buckets;
	struct cache_ent *oldest, *newest;
	size_t n_cached;
	struct resolver_stats stats; /* updated with __atomic builtins */
};

static __thread resolver_progress_fn tl_progress;
static __thread void *tl_progress_ctx;

static void detail(struct resolver_answer *a, const char *fmt, ...) BW_PRINTF(2, 3);

/* Monotonic milliseconds. */
static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Format the answer's one-line detail (advisory text: truncation is fine). */
static void
detail(struct resolver_answer *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->detail, sizeof(a->detail), fmt, ap); /* advisory text: truncation ok */
	va_end(ap);
}

/* Bump a statistics counter (relaxed atomics: numbers for tests and logs). */
static void
stat_add(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Call the thread's progress callback, if any. */
static void
progress(void)
{
	if (tl_progress != NULL)
		tl_progress(tl_progress_ctx);
}

/* Set the calling thread's progress callback. */
void
resolver_set_progress(resolver_progress_fn fn, void *ctx)
{
	tl_progress = fn;
	tl_progress_ctx = ctx;
}

/* Start a budget: now + the timeout. */
void
resolver_budget_start(struct resolver_budget *b, const struct resolver *r)
{
	b->deadline_ms = now_ms() + r->timeout_ms;
}

/* Whether b holds a deadline. */
bool
resolver_budget_started(const struct resolver_budget *b)
{
	return b != NULL && b->deadline_ms != 0;
}

/* Milliseconds left before b's deadline. */
unsigned
resolver_budget_left_ms(const struct resolver *r, const struct resolver_budget *b)
{
	if (!resolver_budget_started(b))
		return r->timeout_ms;
	uint64_t now = now_ms();
	return b->deadline_ms > now ? (unsigned)(b->deadline_ms - now) : 0;
}

/* Lowercase name of a status, for details and events. */
const char *
resolver_status_name(enum resolver_status st)
{
	switch (st) {
	case RESOLVER_OK:
		return "ok";
	case RESOLVER_NODATA:
		return "nodata";
	case RESOLVER_NXDOMAIN:
		return "nxdomain";
	case RESOLVER_SERVFAIL:
		return "servfail";
	case RESOLVER_TIMEOUT:
		return "timeout";
	case RESOLVER_BADNAME:
		return "badname";
	case RESOLVER_ERROR:
		return "error";
	}
	return "error";
}

/* A status a retry could change: maps to `dns-error`. */
bool
resolver_status_temporary(enum resolver_status st)
{
	return st == RESOLVER_SERVFAIL || st == RESOLVER_TIMEOUT || st == RESOLVER_ERROR;
}

/* The configured timeout in seconds. */
unsigned
resolver_timeout(const struct resolver *r)
{
	return r->timeout_ms / 1000u;
}

/* The configured cache bound in seconds (0: no cache). */
unsigned
resolver_cache_ttl(const struct resolver *r)
{
	return r->cache_ttl;
}

/* A snapshot of the counters. */
void
resolver_get_stats(struct resolver *r, struct resolver_stats *st)
{
	st->queries = __atomic_load_n(&r->stats.queries, __ATOMIC_RELAXED);
	st->cache_hits = __atomic_load_n(&r->stats.cache_hits, __ATOMIC_RELAXED);
	st->sent = __atomic_load_n(&r->stats.sent, __ATOMIC_RELAXED);
	st->timeouts = __atomic_load_n(&r->stats.timeouts, __ATOMIC_RELAXED);
	st->servfails = __atomic_load_n(&r->stats.servfails, __ATOMIC_RELAXED);
	st->tcp = __atomic_load_n(&r->stats.tcp, __ATOMIC_RELAXED);
}

/* ---- configuration ------------------------------------------------------ */

/* Parse "ADDR", "ADDR:PORT" or "[V6]:PORT" (numeric) into ns. */
static int
ns_parse(const char *spec, struct ns *ns, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s = NULL;
	size_t hl;
	const char *colon = strchr(spec, ':');

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			goto bad;
		hl = (size_t)(close - spec - 1);
		if (hl == 0 || hl >= sizeof(host))
			goto bad;
		memcpy(host, spec + 1, hl);
		host[hl] = '\0';
		if (close[1] == ':')
			port_s = close + 2;
	} else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		hl = (size_t)(colon - spec); /* v4:port */
		if (hl == 0 || hl >= sizeof(host))
			goto bad;
		memcpy(host, spec, hl);
		host[hl] = '\0';
		port_s = colon + 1;
	} else {
		if (bw_strlcpy(host, spec, sizeof(host)) >= sizeof(host))
			goto bad; /* bare v4 or v6 */
	}

	unsigned long port = 53;
	if (port_s != NULL) {
		char *end;
		if (*port_s == '\0' || !isdigit((unsigned char)*port_s))
			goto bad;
		errno = 0;
		port = strtoul(port_s, &end, 10);
		if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
			goto bad;
	}

	memset(ns, 0, sizeof(*ns));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ns->sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ns->sa;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		ns->salen = sizeof(*s4);
		snprintf(ns->text, sizeof(ns->text), "%s:%lu", host, port);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		ns->salen = sizeof(*s6);
		snprintf(ns->text, sizeof(ns->text), "[%s]:%lu", host, port);
	} else {
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "dns.nameservers: \"%s\" is not ADDR, ADDR:PORT or [ADDR]:PORT",
		 spec);
	return -1;
}

/* Validate one dns.nameservers entry. */
int
resolver_nameserver_check(const char *spec, char *err, size_t errlen)
{
	struct ns ns;
	return ns_parse(spec, &ns, err, errlen);
}

/* Fill r->ns from the nameserver lines of resolv.conf. */
static int
ns_from_resolv_conf(struct resolver *r, char *err, size_t errlen)
{
	FILE *f = fopen(RESOLVER_RESOLV_CONF, "re");
	char line[512];
	if (f != NULL) {
		while (r->n_ns < RESOLVER_RESOLV_CONF_MAX && fgets(line, sizeof(line), f) != NULL) {
			char *tok = strtok(line, " \t\r\n");
			if (tok == NULL || strcmp(tok, "nameserver") != 0)
				continue;
			tok = strtok(NULL, " \t\r\n");
			if (tok == NULL)
				continue;
			char *pct = strchr(tok, '%'); /* fe80::1%eth0: scope ids unsupported */
			if (pct != NULL)
				continue;
			if (ns_parse(tok, &r->ns[r->n_ns], err, errlen) == 0)
				r->n_ns++;
		}
		fclose(f);
	}
	if (r->n_ns == 0) /* glibc's default too */
		return ns_parse("127.0.0.1", &r->ns[r->n_ns++], err, errlen);
	return 0;
}

/* Build a resolver from the dns.* settings. */
struct resolver *
resolver_new(const char *const *nameservers, size_t n, unsigned timeout_s, unsigned cache_ttl,
	     char *err, size_t errlen)
{
	struct resolver *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (n > RESOLVER_MAX_NS) {
		snprintf(err, errlen, "dns.nameservers: at most %d servers", RESOLVER_MAX_NS);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		if (ns_parse(nameservers[i], &r->ns[i], err, errlen) != 0)
			goto fail;
		r->n_ns++;
	}
	if (n == 0 && ns_from_resolv_conf(r, err, errlen) != 0)
		goto fail;
	if (timeout_s == 0)
		timeout_s = RESOLVER_DEFAULT_TIMEOUT;
	if (timeout_s > 3600)
		timeout_s = 3600;
	r->timeout_ms = timeout_s * 1000u;
	r->cache_ttl = cache_ttl;
	r->buckets = calloc(RESOLVER_CACHE_BUCKETS, sizeof(*r->buckets));
	if (r->buckets == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		snprintf(err, errlen, "pthread_mutex_init failed");
		free(r->buckets);
		goto fail;
	}
	return r;
fail:
	free(r);
	return NULL;
}

/* Free one cache entry and its records. */
static void
cache_ent_free(struct cache_ent *e)
{
	free(e->rr);
	free(e->data);
	free(e);
}

/* Drop every cached answer (caller holds the lock). */
static void
cache_clear_locked(struct resolver *r)
{
	struct cache_ent *e = r->oldest;
	while (e != NULL) {
		struct cache_ent *next = e->newer;
		cache_ent_free(e);
		e = next;
	}
	memset(r->buckets, 0, RESOLVER_CACHE_BUCKETS * sizeof(*r->buckets));
	r->oldest = r->newest = NULL;
	r->n_cached = 0;
}

/* Drop every cached answer. */
void
resolver_cache_flush(struct resolver *r)
{
	pthread_mutex_lock(&r->lock);
	cache_clear_locked(r);
	pthread_mutex_unlock(&r->lock);
}

/* Free the resolver and its cache (no query may be running). */
void
resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	resolver_cache_flush(r);
	pthread_mutex_destroy(&r->lock);
	free(r->buckets);
	free(r);
}

/* Release an answer's records; the answer may be reused. */
void
resolver_answer_free(struct resolver_answer *a)
{
	if (a == NULL)
		return;
	free(a->rr);
	free(a->data);
	a->rr = NULL;
	a->data = NULL;
	a->n = 0;
	a->data_len = 0;
}

/* ---- transport ---------------------------------------------------------- */

/* Wait for events on fds until `until`, calling progress whenever
 * *next_progress passes (then RESOLVER_PROGRESS_MS later again). Returns
 * poll()'s count, 0 at `until`, -1 on error. */
static int
wait_fds(struct pollfd *pfd, nfds_t n, uint64_t until, uint64_t *next_progress)
{
	for (;;) {
		uint64_t now = now_ms();
		if (now >= *next_progress) {
			progress();
			*next_progress = now_ms() + RESOLVER_PROGRESS_MS;
		}
		if (now >= until)
			return 0;
		uint64_t end = until < *next_progress ? until : *next_progress;
		int rc = poll(pfd, n, (int)(end - now));
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc > 0)
			return rc;
	}
}

/* Read or write exactly len bytes on a non-blocking stream before until. */
static int
tcp_io(int fd, unsigned char *buf, size_t len, bool wr, uint64_t until, uint64_t *next_progress)
{
	size_t done = 0;
	while (done < len) {
		ssize_t k = wr ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
			       : recv(fd, buf + done, len - done, 0);
		if (k > 0) {
			done += (size_t)k;
			continue;
		}
		if (k == 0)
			return -1; /* peer closed */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		struct pollfd p = {.fd = fd, .events = wr ? POLLOUT : POLLIN};
		int rc = wait_fds(&p, 1, until, next_progress);
		if (rc <= 0)
			return rc == 0 ? -2 : -1;
	}
	return 0;
}

/* One query over TCP to server i. Returns the answer length, -2 at the
 * deadline, -1 on failure (reason in a->detail). */
static ssize_t
tcp_exchange(struct resolver *r, size_t i, const unsigned char *q, size_t qlen, size_t qsec_len,
	     uint64_t deadline, unsigned char *resp, struct resolver_answer *a,
	     uint64_t *next_progress)
{
	const struct ns *ns = &r->ns[i];
	unsigned char hdr[2];
	unsigned char out[2 + RESOLVER_QUERY_MAX];
	ssize_t ret = -1;
	int fd = socket(ns->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	stat_add(&r->stats.tcp);
	a->tcp = true;
	if (fd < 0) {
		detail(a, "TCP socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&ns->sa, ns->salen) != 0 && errno != EINPROGRESS) {
		detail(a, "TCP to %s: %s", ns->text, strerror(errno));
		goto out;
	}
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int rc = wait_fds(&p, 1, deadline, next_progress);
	if (rc <= 0) {
		ret = rc == 0 ? -2 : -1;
		detail(a, "TCP connect to %s: %s", ns->text,
		       rc == 0 ? "timed out" : strerror(errno));
		goto out;
	}
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
		detail(a, "TCP connect to %s: %s", ns->text, strerror(soerr ? soerr : errno));
		goto out;
	}
	out[0] = (unsigned char)(qlen >> 8);
	out[1] = (unsigned char)qlen;
	memcpy(out + 2, q, qlen);
	stat_add(&r->stats.sent);
	if ((rc = tcp_io(fd, out, qlen + 2, true, deadline, next_progress)) != 0 ||
	    (rc = tcp_io(fd, hdr, 2, false, deadline, next_progress)) != 0) {
		ret = rc == -2 ? -2 : -1;
		detail(a, "TCP to %s: %s", ns->text, rc == -2 ? "timed out" : "connection failed");
		goto out;
	}
	size_t alen = (size_t)hdr[0] << 8 | hdr[1];
	if ((rc = tcp_io(fd, resp, alen, false, deadline, next_progress)) != 0) {
		ret = rc == -2 ? -2 : -1;
		detail(a, "TCP from %s: %s", ns->text, rc == -2 ? "timed out" : "short answer");
		goto out;
	}
	if (!resolver_wire_matches(q, qsec_len, resp, alen)) {
		detail(a, "TCP from %s: answer does not match the query", ns->text);
		goto out;
	}
	ret = (ssize_t)alen;
out:
	close(fd);
	return ret;
}

/* Index of the server that sent from sa, or -1. */
static int
ns_index(const struct resolver *r, const struct sockaddr_storage *sa)
{
	for (size_t i = 0; i < r->n_ns; i++) {
		const struct sockaddr_storage *n = &r->ns[i].sa;
		if (n->ss_family != sa->ss_family)
			continue;
		if (sa->ss_family == AF_INET) {
			const struct sockaddr_in *x = (const void *)n, *y = (const void *)sa;
			if (x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr)
				return (int)i;
		} else if (sa->ss_family == AF_INET6) {
			const struct sockaddr_in6 *x = (const void *)n, *y = (const void *)sa;
			if (x->sin6_port == y->sin6_port &&
			    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0)
				return (int)i;
		}
	}
	return -1;
}

/* The exchange: UDP to every server in turn, TCP on truncation. Returns
 * the answer length in resp (status undecided, the caller parses it), or
 * -1 with a->status (TIMEOUT, SERVFAIL, ERROR) and a->detail set. */
static ssize_t
exchange(struct resolver *r, const unsigned char *qname, size_t qname_len, uint16_t type,
	 uint64_t deadline, unsigned char *resp, struct resolver_answer *a)
{
	unsigned char q[RESOLVER_QUERY_MAX];
	unsigned char q_plain[RESOLVER_QUERY_MAX]; /* without EDNS, for FORMERR servers */
	size_t qsec_len;
	uint16_t id;
	int fds[2] = {-1, -1}; /* AF_INET, AF_INET6 */
	bool sent[RESOLVER_MAX_NS] = {false}, failed[RESOLVER_MAX_NS] = {false};
	bool plain[RESOLVER_MAX_NS] = {false};
	size_t n_failed = 0, next = 0;
	ssize_t ret = -1;
	uint64_t t_start = now_ms();
	uint64_t next_progress = t_start + RESOLVER_PROGRESS_MS;
	char lastfail[RESOLVER_DETAIL_MAX] = "";

	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
		id = (uint16_t)(now_ms() ^ (uintptr_t)&id); /* never happens on Linux >= 3.17 */
	size_t qlen = resolver_wire_query(q, id, qname, qname_len, type, true, &qsec_len);
	size_t plen = resolver_wire_query(q_plain, id, qname, qname_len, type, false, &qsec_len);

	for (size_t i = 0; i < r->n_ns; i++) {
		int fam = r->ns[i].sa.ss_family == AF_INET6;
		if (fds[fam] >= 0)
			continue;
		fds[fam] =
		    socket(r->ns[i].sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fds[fam] < 0) {
			detail(a, "UDP socket: %s", strerror(errno));
			a->status = RESOLVER_ERROR;
			goto out;
		}
	}

	uint64_t try_ms = r->timeout_ms / (2u * r->n_ns);
	if (try_ms < RESOLVER_MIN_TRY_MS)
		try_ms = RESOLVER_MIN_TRY_MS;
	uint64_t next_send = 0;

	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			break;
		if (now >= next_send) {
			/* next server that has not failed, round robin */
			size_t k;
			for (k = 0; k < r->n_ns && failed[(next + k) % r->n_ns]; k++)
				;
			size_t i = (next + k) % r->n_ns;
			next = i + 1;
			const struct ns *ns = &r->ns[i];
			int fd = fds[ns->sa.ss_family == AF_INET6];
			ssize_t s =
			    plain[i]
				? sendto(fd, q_plain, plen, 0, (const void *)&ns->sa, ns->salen)
				: sendto(fd, q, qlen, 0, (const void *)&ns->sa, ns->salen);
			stat_add(&r->stats.sent);
			if (s < 0 && errno != EAGAIN) {
				snprintf(lastfail, sizeof(lastfail), "send to %s: %s", ns->text,
					 strerror(errno));
				if (!failed[i]) {
					failed[i] = true;
					n_failed++;
				}
				if (n_failed == r->n_ns)
					goto allfailed;
				continue;
			}
			sent[i] = true;
			next_send = now + try_ms;
		}
		uint64_t until = next_send < deadline ? next_send : deadline;
		struct pollfd pfd[2];
		nfds_t np = 0;
		for (int f = 0; f < 2; f++)
			if (fds[f] >= 0)
				pfd[np++] = (struct pollfd){.fd = fds[f], .events = POLLIN};
		int rc = wait_fds(pfd, np, until, &next_progress);
		if (rc < 0) {
			detail(a, "poll: %s", strerror(errno));
			a->status = RESOLVER_ERROR;
			goto out;
		}
		if (rc == 0)
			continue;
		for (nfds_t f = 0; f < np; f++) {
			if ((pfd[f].revents & POLLIN) == 0)
				continue;
			for (;;) {
				struct sockaddr_storage from;
				socklen_t fl = sizeof(from);
				ssize_t k = recvfrom(pfd[f].fd, resp, RESOLVER_MSG_MAX, 0,
						     (struct sockaddr *)&from, &fl);
				if (k < 0)
					break; /* EAGAIN, or an ICMP error: keep waiting */
				int i = ns_index(r, &from);
				if (i < 0 || !sent[i] || failed[i] ||
				    !resolver_wire_matches(plain[i] ? q_plain : q, qsec_len, resp,
							   (size_t)k))
					continue; /* not ours: spoofed, late or stray */
				int rcode = resp[3] & 0x0f;
				if (rcode == ns_r_formerr && !plain[i]) {
					plain[i] = true; /* retry without EDNS, now */
					next = (size_t)i;
					next_send = 0;
					continue;
				}
				if (rcode != ns_r_noerror && rcode != ns_r_nxdomain) {
					snprintf(lastfail, sizeof(lastfail), "%s from %s",
						 rcode == ns_r_servfail	 ? "SERVFAIL"
						 : rcode == ns_r_refused ? "REFUSED"
						 : rcode == ns_r_formerr ? "FORMERR"
									 : "error rcode",
						 r->ns[i].text);
					failed[i] = true;
					if (++n_failed == r->n_ns)
						goto allfailed;
					next_send = 0; /* ask the next server now */
					continue;
				}
				if (resp[2] & 0x02) { /* TC: the whole answer over TCP */
					ssize_t t =
					    tcp_exchange(r, (size_t)i, plain[i] ? q_plain : q,
							 plain[i] ? plen : qlen, qsec_len, deadline,
							 resp, a, &next_progress);
					if (t >= 0) {
						ret = t;
						goto out;
					}
					bw_strlcpy(lastfail, a->detail, sizeof(lastfail));
					if (t == -2)
						goto timeout;
					failed[i] = true;
					if (++n_failed == r->n_ns)
						goto allfailed;
					next_send = 0;
					continue;
				}
				ret = k;
				goto out;
			}
		}
	}
timeout:
	a->status = RESOLVER_TIMEOUT;
	stat_add(&r->stats.timeouts);
	unsigned waited = (unsigned)(now_ms() - t_start);
	if (lastfail[0] != '\0')
		detail(a, "no usable answer within %u ms (%s)", waited, lastfail);
	else if (r->n_ns == 1)
		detail(a, "no answer from %s within %u ms", r->ns[0].text, waited);
	else
		detail(a, "no answer from %zu nameservers within %u ms", r->n_ns, waited);
	goto out;
allfailed:
	a->status = RESOLVER_SERVFAIL;
	stat_add(&r->stats.servfails);
	bw_strlcpy(a->detail, lastfail, sizeof(a->detail));
out:
	for (int f = 0; f < 2; f++)
		if (fds[f] >= 0)
			close(fds[f]);
	return ret;
}

/* ---- cache -------------------------------------------------------------- */

/* FNV-1a over the lowercased name and the type. */
static size_t
cache_hash(const char *lname, uint16_t type)
{
	uint32_t h = 2166136261u;
	for (const char *p = lname; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	h ^= type;
	h *= 16777619u;
	return h & (RESOLVER_CACHE_BUCKETS - 1);
}

/* Unlink e from its chain and the age list (caller holds the lock). */
static void
cache_unlink_locked(struct resolver *r, struct cache_ent *e)
{
	struct cache_ent **pp = &r->buckets[cache_hash(e->name, e->type)];
	while (*pp != NULL && *pp != e)
		pp = &(*pp)->next;
	if (*pp == e)
		*pp = e->next;
	if (e->older)
		e->older->newer = e->newer;
	else
		r->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		r->newest = e->older;
	r->n_cached--;
}

/* Copy rr/data of an entry or answer into fresh blocks for out. */
static int
copy_records(const struct resolver_rr *rr, size_t n, const unsigned char *data, size_t dlen,
	     struct resolver_answer *out)
{
	out->rr = NULL;
	out->data = NULL;
	if (n > 0) {
		out->rr = malloc(n * sizeof(*rr));
		out->data = malloc(dlen);
		if (out->rr == NULL || out->data == NULL) {
			resolver_answer_free(out);
			return -1;
		}
		memcpy(out->rr, rr, n * sizeof(*rr));
		memcpy(out->data, data, dlen);
		for (size_t i = 0; i < n; i++)
			out->rr[i].data = out->data + out->rr[i].off;
	}
	out->n = n;
	out->data_len = n > 0 ? dlen : 0;
	return 0;
}

/* A fresh cached answer for (lname, type) copied into out, or false. */
static bool
cache_get(struct resolver *r, const char *lname, uint16_t type, struct resolver_answer *out)
{
	bool hit = false;
	uint64_t now = now_ms();
	pthread_mutex_lock(&r->lock);
	struct cache_ent *e = r->buckets[cache_hash(lname, type)];
	while (e != NULL && !(e->type == type && strcmp(e->name, lname) == 0))
		e = e->next;
	if (e != NULL && e->expires_ms <= now) {
		cache_unlink_locked(r, e);
		cache_ent_free(e);
		e = NULL;
	}
	if (e != NULL && copy_records(e->rr, e->n, e->data, e->data_len, out) == 0) {
		out->status = e->status;
		out->rcode = e->rcode;
		out->ttl = (uint32_t)((e->expires_ms - now + 999) / 1000);
		out->cached = true;
		hit = true;
	}
	pthread_mutex_unlock(&r->lock);
	return hit;
}

/* Remember an answer for min(its TTL, cache_ttl); failures are dropped
 * silently (the cache is an optimisation). */
static void
cache_put(struct resolver *r, const char *lname, uint16_t type, const struct resolver_answer *a)
{
	uint32_t ttl = a->ttl < r->cache_ttl ? a->ttl : r->cache_ttl;
	if (ttl == 0)
		return;
	size_t nl = strlen(lname);
	struct cache_ent *e = calloc(1, sizeof(*e) + nl + 1);
	if (e == NULL)
		return;
	memcpy(e->name, lname, nl + 1);
	e->type = type;
	e->status = a->status;
	e->rcode = a->rcode;
	e->expires_ms = now_ms() + (uint64_t)ttl * 1000u;
	struct resolver_answer tmp = {0};
	if (copy_records(a->rr, a->n, a->data, a->data_len, &tmp) != 0) {
		free(e);
		return;
	}
	e->rr = tmp.rr;
	e->data = tmp.data;
	e->n = tmp.n;
	e->data_len = tmp.data_len;

	pthread_mutex_lock(&r->lock);
	size_t h = cache_hash(lname, type);
	for (struct cache_ent *o = r->buckets[h]; o != NULL; o = o->next) {
		if (o->type == type && strcmp(o->name, lname) == 0) {
			cache_unlink_locked(r, o);
			cache_ent_free(o);
			break;
		}
	}
	uint64_t now = now_ms();
	while (r->n_cached >= RESOLVER_CACHE_MAX && r->oldest != NULL) {
		/* evict expired entries from the old end, else the oldest */
		struct cache_ent *victim = r->oldest;
		for (struct cache_ent *x = r->oldest; x != NULL; x = x->newer)
			if (x->expires_ms <= now) {
				victim = x;
				break;
			}
		cache_unlink_locked(r, victim);
		cache_ent_free(victim);
	}
	e->next = r->buckets[h];
	r->buckets[h] = e;
	e->older = r->newest;
	if (r->newest)
		r->newest->newer = e;
	else
		r->oldest = e;
	r->newest = e;
	r->n_cached++;
	pthread_mutex_unlock(&r->lock);
}

/* ---- the query ---------------------------------------------------------- */

/* One lookup: cache, then the servers under b's deadline (or its own). */
enum resolver_status
resolver_query_within(struct resolver *r, const struct resolver_budget *b, const char *name,
		      uint16_t type, struct resolver_answer *out)
{
	unsigned char qname[NS_MAXCDNAME + 2];
	char lname[RESOLVER_NAME_MAX + 2];
	unsigned char *resp = NULL;
	uint64_t t0 = now_ms();

	memset(out, 0, sizeof(*out));
	out->rcode = -1;
	stat_add(&r->stats.queries);

	int ql = resolver_wire_name(name, qname, sizeof(qname));
	if (ql < 0) {
		out->status = RESOLVER_BADNAME;
		detail(out, "not a valid DNS name");
		return out->status;
	}
	/* the cache key: lowercased, without a trailing dot */
	size_t nl = bw_strlcpy(lname, name, sizeof(lname));
	if (nl > 0 && lname[nl - 1] == '.')
		lname[nl - 1] = '\0';
	bw_lower(lname);

	if (r->cache_ttl > 0 && cache_get(r, lname, type, out)) {
		stat_add(&r->stats.cache_hits);
		return out->status;
	}

	uint64_t deadline = resolver_budget_started(b) ? b->deadline_ms : t0 + r->timeout_ms;
	if (deadline <= t0) {
		out->status = RESOLVER_TIMEOUT;
		detail(out, "DNS time budget of %u ms used up", r->timeout_ms);
		stat_add(&r->stats.timeouts);
		return out->status;
	}
	resp = malloc(RESOLVER_MSG_MAX);
	if (resp == NULL) {
		out->status = RESOLVER_ERROR;
		detail(out, "out of memory");
		return out->status;
	}
	ssize_t len = exchange(r, qname, (size_t)ql, type, deadline, resp, out);
	if (len >= 0) {
		bool tcp = out->tcp;
		resolver_wire_parse(resp, (size_t)len, lname, type, out);
		out->tcp = tcp;
		if (r->cache_ttl > 0 && !resolver_status_temporary(out->status))
			cache_put(r, lname, type, out);
		if (out->status == RESOLVER_SERVFAIL)
			stat_add(&r->stats.servfails);
	}
	free(resp);
	out->elapsed_ms = (unsigned)(now_ms() - t0);
	return out->status;
}

/* One lookup with a deadline of its own. */
enum resolver_status
resolver_query(struct resolver *r, const char *name, uint16_t type, struct resolver_answer *out)
{
	return resolver_query_within(r, NULL, name, type, out);
}

/* A TXT lookup within b. */
enum resolver_status
resolver_txt_within(struct resolver *r, const struct resolver_budget *b, const char *name,
		    struct resolver_answer *out)
{
	return resolver_query_within(r, b, name, RESOLVER_T_TXT, out);
}

/* A TXT lookup with a deadline of its own. */
enum resolver_status
resolver_txt(struct resolver *r, const char *name, struct resolver_answer *out)
{
	return resolver_query_within(r, NULL, name, RESOLVER_T_TXT, out);
}
