/*
 * resolver.c - DNS lookups through libunbound: the context (forwarders,
 * cache bound, DNSSEC), asynchronous queries waited for under the
 * thread's deadline, and the mapping of unbound's results to
 * struct resolver_answer. See resolver.h for the contract.
 *
 * Untrusted input: DNS messages, parsed and (with dns.dnssec) validated
 * by unbound; the RDATA it returns is decoded by resolver_rdata.c. Names
 * we ask are checked first (resolver_name_ok). Text from unbound that
 * reaches a detail line (why_bogus) is made printable.
 *
 * Answer cache. unbound's own cache answers a repeated name without the
 * network, but reaching it costs a round trip through its thread (a pipe
 * each way, fcntl calls around every pipe message, a condition variable):
 * measured, ~30 system calls per lookup, several lookups per message. A
 * definitive answer (records, NODATA, NXDOMAIN; never a temporary one) is
 * therefore also kept here, decoded, under its TTL as unbound gave it
 * (bounded by dns.cache_ttl, negative answers by RESOLVER_NEG_TTL_MAX as
 * unbound's), at most RESOLVER_CACHE_MAX answers of at most
 * RESOLVER_CACHE_BYTES decoded bytes each (larger ones go to unbound every
 * time): 16 MiB at worst. dns.cache_ttl = 0 keeps nothing;
 * resolver_cache_flush() empties both caches.
 *
 * Memory: struct resolver owns its ub_ctx. A struct query is shared by
 * the asking thread and unbound's callback: the asker frees it, except
 * when it gave up (deadline) and ub_cancel() could no longer stop the
 * callback; then the callback frees it (q->abandoned, under r->lock).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <syslog.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "dns/resolver.h"
#include "dns/resolver_int.h"
#include "base/cache.h"
#include "base/util.h"

#define RESOLVER_NS_TEXT 64
#define RESOLVER_CACHE_MAX 2048	      /* answers kept in front of unbound */
#define RESOLVER_CACHE_BYTES (8 * 1024) /* decoded bytes of one kept answer */
#define RESOLVER_KEY_MAX (RESOLVER_NAME_MAX + 8)

/* One lookup under way (see the memory note above). */
struct query {
	struct resolver *r;
	bool done, abandoned;
	int err;
	struct ub_result *res;
};

struct resolver {
	char fwd[RESOLVER_MAX_NS][RESOLVER_NS_TEXT]; /* unbound's "addr@port" */
	size_t n_ns;
	unsigned timeout_ms;
	unsigned cache_ttl;
	bool dnssec;
	char anchor[512];
	pthread_rwlock_t ctx_lock; /* lookups read; resolver_cache_flush() swaps */
	struct ub_ctx *ctx;
	pthread_mutex_t lock;	     /* driving, queries' done/abandoned */
	pthread_cond_t cond;	     /* an answer arrived, or the driver left */
	bool driving;		     /* a thread is reading unbound's answer pipe */
	struct resolver_stats stats; /* updated with __atomic builtins */
	struct bw_cache *answers;    /* decoded definitive answers; NULL: none */
};

static __thread resolver_progress_fn tl_progress;
static __thread void *tl_progress_ctx;

static void detail(struct resolver_answer *a, const char *fmt, ...) BW_PRINTF(2, 3);
static void answer_free(void *v);

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
	b->deadline_ms = (uint64_t)bw_mono_ms() + r->timeout_ms;
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
	uint64_t now = (uint64_t)bw_mono_ms();
	return b->deadline_ms > now ? (unsigned)(b->deadline_ms - now) : 0;
}

/* Lowercase name of a status, for details and events. */
const char *
resolver_status_name(enum resolver_status st)
{
	static const char *const names[] = {
	    [RESOLVER_OK] = "ok",
	    [RESOLVER_NODATA] = "nodata",
	    [RESOLVER_NXDOMAIN] = "nxdomain",
	    [RESOLVER_SERVFAIL] = "servfail",
	    [RESOLVER_TIMEOUT] = "timeout",
	    [RESOLVER_BADNAME] = "badname",
	    [RESOLVER_ERROR] = "error",
	    [RESOLVER_BOGUS] = "bogus",
	};
	if ((unsigned)st < sizeof(names) / sizeof(names[0]) && names[st] != NULL)
		return names[st];
	return "error";
}

/* A status a retry could change: maps to `dns-error`. */
bool
resolver_status_temporary(enum resolver_status st)
{
	return st == RESOLVER_SERVFAIL || st == RESOLVER_TIMEOUT || st == RESOLVER_ERROR ||
	       st == RESOLVER_BOGUS;
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

/* Whether answers are DNSSEC-validated. */
bool
resolver_dnssec(const struct resolver *r)
{
	return r->dnssec;
}

/* A snapshot of the counters. */
void
resolver_get_stats(struct resolver *r, struct resolver_stats *st)
{
	st->queries = __atomic_load_n(&r->stats.queries, __ATOMIC_RELAXED);
	st->timeouts = __atomic_load_n(&r->stats.timeouts, __ATOMIC_RELAXED);
	st->servfails = __atomic_load_n(&r->stats.servfails, __ATOMIC_RELAXED);
	st->bogus = __atomic_load_n(&r->stats.bogus, __ATOMIC_RELAXED);
	st->secure = __atomic_load_n(&r->stats.secure, __ATOMIC_RELAXED);
	st->cached = __atomic_load_n(&r->stats.cached, __ATOMIC_RELAXED);
}

/* ---- configuration ------------------------------------------------------ */

/* Parse "ADDR", "ADDR:PORT" or "[V6]:PORT" (numeric) into unbound's
 * "ADDR@PORT" form in out[RESOLVER_NS_TEXT]. */
static int
ns_parse(const char *spec, char *out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];
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
	} else if (bw_strlcpy(host, spec, sizeof(host)) >= sizeof(host)) {
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
	if (inet_pton(AF_INET, host, bin) != 1 && inet_pton(AF_INET6, host, bin) != 1)
		goto bad;
	snprintf(out, RESOLVER_NS_TEXT, "%s@%lu", host, port); /* fits: 45 + 6 */
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
	char out[RESOLVER_NS_TEXT];
	return ns_parse(spec, out, err, errlen);
}

/* Set one unbound option ("name:" form); -1 with a reason on failure. */
static int
set_opt(struct ub_ctx *ctx, const char *opt, const char *val, char *err, size_t errlen)
{
	int rc = ub_ctx_set_option(ctx, opt, val);
	if (rc != 0) {
		snprintf(err, errlen, "unbound option %s %s: %s", opt, val, ub_strerror(rc));
		return -1;
	}
	return 0;
}

/* libunbound initialises and destroys library-global locks while it
 * creates and deletes a context (TSan: pthread_mutex_init in one thread's
 * flush against pthread_mutex_destroy in another's): contexts are made and
 * deleted one at a time, process-wide. Lookups do not take this lock. */
static pthread_mutex_t ctx_life = PTHREAD_MUTEX_INITIALIZER;

/* Delete an unbound context under ctx_life. */
static void
ctx_delete(struct ub_ctx *ctx)
{
	pthread_mutex_lock(&ctx_life);
	ub_ctx_delete(ctx);
	pthread_mutex_unlock(&ctx_life);
}

/* A configured unbound context for r, or NULL with a reason (ctx_life held). */
static struct ub_ctx *
ctx_make_locked(const struct resolver *r, char *err, size_t errlen)
{
	char ttl[16], neg[16], first[16];
	struct ub_ctx *ctx = ub_ctx_create();
	if (ctx == NULL) {
		snprintf(err, errlen, "unbound: cannot create a context");
		return NULL;
	}
	snprintf(ttl, sizeof(ttl), "%u", r->cache_ttl);
	snprintf(neg, sizeof(neg), "%u",
		 r->cache_ttl < RESOLVER_NEG_TTL_MAX ? r->cache_ttl : RESOLVER_NEG_TTL_MAX);
	/* unbound keeps per-server timing (the infra cache) and, after a few
	 * unanswered queries, stops asking that server for a while: one name
	 * whose servers never answer would make every other lookup fail.
	 * Keep no such memory (infra-host-ttl 0). */
	/* how long unbound waits for a server before asking again, for a new
	 * server and at least for a known one (it drops late answers, and it
	 * would otherwise resend after a few RTTs of a fast server): long
	 * enough for a slow server to answer inside the budget, short enough
	 * to move on to a second server in it */
	size_t n_srv = r->n_ns > 0 ? r->n_ns : 1;
	unsigned wait_ms = (unsigned)(r->timeout_ms * 3u / (4u * n_srv));
	snprintf(first, sizeof(first), "%u", wait_ms < 376u ? 376u : wait_ms);
	int rc = ub_ctx_async(ctx, 1); /* resolve on a thread, never fork */
	if (rc != 0) {
		snprintf(err, errlen, "unbound: %s", ub_strerror(rc));
		goto fail;
	}
	if (set_opt(ctx, "do-not-query-localhost:", "no", err, errlen) != 0 ||
	    set_opt(ctx, "cache-max-ttl:", ttl, err, errlen) != 0 ||
	    set_opt(ctx, "cache-max-negative-ttl:", neg, err, errlen) != 0 ||
	    set_opt(ctx, "infra-keep-probing:", "yes", err, errlen) != 0 ||
	    set_opt(ctx, "infra-host-ttl:", "0", err, errlen) != 0 ||
	    set_opt(ctx, "unknown-server-time-limit:", first, err, errlen) != 0 ||
	    set_opt(ctx, "infra-cache-min-rtt:", first, err, errlen) != 0 ||
	    set_opt(ctx, "qname-minimisation:", "no", err, errlen) != 0 ||
	    set_opt(ctx, "module-config:", r->dnssec ? "validator iterator" : "iterator", err,
		    errlen) != 0)
		goto fail;
	for (size_t i = 0; i < r->n_ns; i++) {
		rc = ub_ctx_set_fwd(ctx, r->fwd[i]);
		if (rc != 0) {
			snprintf(err, errlen, "dns.nameservers: %s: %s", r->fwd[i],
				 ub_strerror(rc));
			goto fail;
		}
	}
	if (r->n_ns == 0 && ub_ctx_resolvconf(ctx, RESOLVER_RESOLV_CONF) != 0 &&
	    ub_ctx_set_fwd(ctx, "127.0.0.1") != 0) { /* resolv.conf(5)'s default */
		snprintf(err, errlen, "unbound: no nameserver");
		goto fail;
	}
	if (r->dnssec) {
		rc = ub_ctx_add_ta_file(ctx, r->anchor);
		if (rc != 0) {
			snprintf(err, errlen, "dns.trust_anchor %s: %s", r->anchor,
				 ub_strerror(rc));
			goto fail;
		}
	}
	/* unbound answers RFC 6761's test. and invalid. itself (NXDOMAIN):
	 * ask the servers instead, as the stub resolver did (test zones).
	 * This finalizes the context: every setting above comes first. */
	if ((rc = ub_ctx_zone_remove(ctx, "test.")) != 0 ||
	    (rc = ub_ctx_zone_remove(ctx, "invalid.")) != 0) {
		snprintf(err, errlen, "unbound: %s", ub_strerror(rc));
		goto fail;
	}
	return ctx;
fail:
	ub_ctx_delete(ctx);
	return NULL;
}

/* A configured unbound context for r, or NULL with a reason. */
static struct ub_ctx *
ctx_make(const struct resolver *r, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctx_life);
	struct ub_ctx *ctx = ctx_make_locked(r, err, errlen);
	pthread_mutex_unlock(&ctx_life);
	return ctx;
}

/* Build a resolver from the dns.* settings. */
struct resolver *
resolver_new(const struct resolver_conf *c, char *err, size_t errlen)
{
	struct resolver *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (c->n_nameservers > RESOLVER_MAX_NS) {
		snprintf(err, errlen, "dns.nameservers: at most %d servers", RESOLVER_MAX_NS);
		goto fail;
	}
	for (size_t i = 0; i < c->n_nameservers; i++)
		if (ns_parse(c->nameservers[i], r->fwd[r->n_ns++], err, errlen) != 0)
			goto fail;
	unsigned timeout_s = c->timeout_s == 0 ? RESOLVER_DEFAULT_TIMEOUT : c->timeout_s;
	if (timeout_s > 3600)
		timeout_s = 3600;
	r->timeout_ms = timeout_s * 1000u;
	r->cache_ttl = c->cache_ttl;
	r->dnssec = c->dnssec;
	if (r->dnssec) {
		const char *ta = c->trust_anchor != NULL && c->trust_anchor[0] != '\0'
				     ? c->trust_anchor
				     : RESOLVER_TRUST_ANCHOR;
		if (bw_strlcpy(r->anchor, ta, sizeof(r->anchor)) >= sizeof(r->anchor) ||
		    access(ta, R_OK) != 0) {
			snprintf(err, errlen, "dns.trust_anchor %s: cannot be read (%s)", ta,
				 strerror(errno == 0 ? ENAMETOOLONG : errno));
			goto fail;
		}
	}
	r->ctx = ctx_make(r, err, errlen);
	if (r->ctx == NULL)
		goto fail;
	if (pthread_condattr_init(&ca) != 0)
		goto fail_ctx;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int ok = pthread_cond_init(&r->cond, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok)
		goto fail_ctx;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		pthread_cond_destroy(&r->cond);
		goto fail_ctx;
	}
	if (pthread_rwlock_init(&r->ctx_lock, NULL) != 0) {
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->cond);
		goto fail_ctx;
	}
	if (r->cache_ttl > 0 && (r->answers = bw_cache_new(RESOLVER_CACHE_MAX, answer_free)) == NULL)
		diag(LOG_WARNING, "DNS: no answer cache (out of memory); unbound's alone is used");
	return r;
fail_ctx:
	snprintf(err, errlen, "pthread init failed");
	ctx_delete(r->ctx);
fail:
	free(r);
	return NULL;
}

/* Swap in a fresh unbound context (empty cache) once no lookup runs. */
void
resolver_cache_flush(struct resolver *r)
{
	char err[RESOLVER_DETAIL_MAX];
	struct ub_ctx *fresh = ctx_make(r, err, sizeof(err));
	if (fresh == NULL) {
		diag(LOG_WARNING, "DNS cache not flushed: %s", err);
		return;
	}
	pthread_rwlock_wrlock(&r->ctx_lock);
	struct ub_ctx *old = r->ctx;
	r->ctx = fresh;
	pthread_rwlock_unlock(&r->ctx_lock);
	ctx_delete(old);
	if (r->answers != NULL)
		bw_cache_flush(r->answers);
}

/* Free the resolver (no query may be running). */
void
resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	ctx_delete(r->ctx);
	bw_cache_free(r->answers);
	pthread_rwlock_destroy(&r->ctx_lock);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);
}

/* ---- waiting ------------------------------------------------------------ */

/* unbound's callback: hand the result to the asker, or drop it when the
 * asker gave up. Runs on whichever thread called ub_process(). */
static void
on_answer(void *arg, int err, struct ub_result *res)
{
	struct query *q = arg;
	struct resolver *r = q->r;
	pthread_mutex_lock(&r->lock);
	if (q->abandoned) {
		pthread_mutex_unlock(&r->lock);
		ub_resolve_free(res);
		free(q);
		return;
	}
	q->err = err;
	q->res = res;
	q->done = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* An absolute CLOCK_MONOTONIC time ms milliseconds from now. */
static struct timespec
mono_after(uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000u);
	ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Wait until q is answered or the deadline passes, calling the progress
 * callback at least every RESOLVER_PROGRESS_MS. One thread at a time
 * polls unbound's pipe and runs ub_process() (which may deliver other
 * threads' answers); the others sleep on r->cond. Returns q->done; when
 * false, q is marked abandoned (caller holds the ctx read lock). */
static bool
wait_answer(struct resolver *r, struct ub_ctx *ctx, struct query *q, uint64_t deadline)
{
	uint64_t next_progress = (uint64_t)bw_mono_ms() + RESOLVER_PROGRESS_MS;
	pthread_mutex_lock(&r->lock);
	while (!q->done) {
		uint64_t now = (uint64_t)bw_mono_ms();
		if (now >= deadline)
			break;
		if (now >= next_progress) {
			pthread_mutex_unlock(&r->lock);
			progress();
			next_progress = now + RESOLVER_PROGRESS_MS;
			pthread_mutex_lock(&r->lock);
			continue;
		}
		uint64_t until = deadline < next_progress ? deadline : next_progress;
		if (!r->driving) {
			r->driving = true;
			pthread_mutex_unlock(&r->lock);
			struct pollfd pfd = {.fd = ub_fd(ctx), .events = POLLIN};
			if (poll(&pfd, 1, (int)(until - now)) > 0)
				(void)ub_process(ctx); /* callbacks take r->lock */
			pthread_mutex_lock(&r->lock);
			r->driving = false;
			pthread_cond_broadcast(&r->cond); /* someone else may drive now */
		} else {
			struct timespec ts = mono_after(until - now);
			(void)pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		}
	}
	bool done = q->done;
	if (!done)
		q->abandoned = true;
	pthread_mutex_unlock(&r->lock);
	return done;
}

/* ---- the query ---------------------------------------------------------- */

/* Copy unbound's explanation into the detail, printable only. */
static void
detail_bogus(struct resolver_answer *out, const char *why)
{
	char clean[RESOLVER_DETAIL_MAX - 32];
	size_t i = 0;
	for (; why != NULL && why[i] != '\0' && i + 1 < sizeof(clean); i++)
		clean[i] = (why[i] >= 0x20 && why[i] < 0x7f) ? why[i] : '?';
	clean[i] = '\0';
	detail(out, "DNSSEC validation failed (bogus): %s", i ? clean : "no reason given");
}

/* Map unbound's result for (name, type) into out. */
static void
fill(struct resolver *r, struct ub_result *res, const char *name, uint16_t type,
     struct resolver_answer *out)
{
	out->rcode = res->rcode;
	out->secure = res->secure != 0;
	if (res->bogus) {
		out->status = RESOLVER_BOGUS;
		out->secure = false;
		stat_add(&r->stats.bogus);
		detail_bogus(out, res->why_bogus);
		return;
	}
	if (out->secure)
		stat_add(&r->stats.secure);
	uint32_t ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
	out->ttl = ttl < r->cache_ttl ? ttl : r->cache_ttl;
	switch (res->rcode) {
	case 0:
		if (!res->havedata) {
			out->status = RESOLVER_NODATA;
			return;
		}
		size_t n = 0;
		while (res->data[n] != NULL)
			n++;
		if (resolver_rdata_decode(type, res->data, res->len, n, ttl, out) != 0) {
			out->status = RESOLVER_ERROR;
			detail(out, "out of memory");
			return;
		}
		out->status = out->n > 0 ? RESOLVER_OK : RESOLVER_NODATA;
		if (out->n == 0)
			detail(out, "%s: no record of the type decoded", name);
		return;
	case 3:
		out->status = RESOLVER_NXDOMAIN;
		return;
	default:
		out->status = RESOLVER_SERVFAIL;
		stat_add(&r->stats.servfails);
		detail(out, "%s: the nameservers failed (%s, rcode %d)", name,
		       res->rcode == 2 ? "SERVFAIL" : "error", res->rcode);
		return;
	}
}

/* ---- the answer cache --------------------------------------------------- */

static void
answer_free(void *v)
{
	struct resolver_answer *a = v;
	resolver_answer_free(a);
	free(a);
}

/* The cache key of (name, type): "type/name", lower case, no final dot. */
static bool
answer_key(const char *name, uint16_t type, char *key, size_t len)
{
	int n = snprintf(key, len, "%u/", (unsigned)type);
	if (n < 0 || (size_t)n >= len)
		return false;
	size_t i = (size_t)n, j = 0;
	for (; name[j] != '\0' && i + 1 < len; j++)
		key[i++] = (char)tolower((unsigned char)name[j]);
	if (name[j] != '\0')
		return false;
	if (i > (size_t)n + 1 && key[i - 1] == '.')
		i--;
	key[i] = '\0';
	return true;
}

/* A deep copy of a's records into out (zeroed); -1 when memory runs out. */
static int
answer_copy(const struct resolver_answer *a, struct resolver_answer *out)
{
	*out = *a;
	out->rr = NULL;
	out->data = NULL;
	if (a->n == 0)
		return 0;
	out->rr = malloc(a->n * sizeof(*a->rr));
	out->data = malloc(a->data_len > 0 ? a->data_len : 1);
	if (out->rr == NULL || out->data == NULL) {
		free(out->rr);
		free(out->data);
		memset(out, 0, sizeof(*out));
		return -1;
	}
	if (a->data_len > 0)
		memcpy(out->data, a->data, a->data_len); /* the records' NULs included */
	for (size_t i = 0; i < a->n; i++) {
		out->rr[i] = a->rr[i];
		out->rr[i].data = out->data + a->rr[i].off;
	}
	return 0;
}

/* bw_cache copy callback: the kept answer into the caller's. */
static int
answer_hit(const void *val, uint64_t expires, void *arg)
{
	(void)expires;
	return answer_copy(val, arg);
}

/* The kept answer for key, into out; false on a miss. */
static bool
cache_get(struct resolver *r, const char *key, struct resolver_answer *out)
{
	if (r->answers == NULL || !bw_cache_get(r->answers, key, (uint64_t)bw_mono_ms(), answer_hit, out))
		return false;
	out->elapsed_ms = 0;
	stat_add(&r->stats.cached);
	if (out->secure)
		stat_add(&r->stats.secure);
	return true;
}

/* Keep a definitive answer for its TTL (see the header). */
static void
cache_put(struct resolver *r, const char *key, const struct resolver_answer *a)
{
	if (r->answers == NULL || a->data_len > RESOLVER_CACHE_BYTES)
		return;
	if (a->status != RESOLVER_OK && a->status != RESOLVER_NODATA &&
	    a->status != RESOLVER_NXDOMAIN)
		return;
	uint32_t ttl = a->ttl;
	if (a->status != RESOLVER_OK && ttl > RESOLVER_NEG_TTL_MAX)
		ttl = RESOLVER_NEG_TTL_MAX;
	if (ttl == 0)
		return;
	struct resolver_answer *kept = malloc(sizeof(*kept));
	if (kept == NULL || answer_copy(a, kept) != 0) {
		free(kept);
		return; /* not kept: the next lookup asks unbound */
	}
	uint64_t now = (uint64_t)bw_mono_ms();
	(void)bw_cache_put(r->answers, key, kept, now + (uint64_t)ttl * 1000u, now);
}

/* One lookup under b's deadline (or its own). */
enum resolver_status
resolver_query_within(struct resolver *r, const struct resolver_budget *b, const char *name,
		      uint16_t type, struct resolver_answer *out)
{
	uint64_t t0 = (uint64_t)bw_mono_ms();
	int id = 0;

	memset(out, 0, sizeof(*out));
	out->rcode = -1;
	stat_add(&r->stats.queries);
	if (!resolver_name_ok(name)) {
		out->status = RESOLVER_BADNAME;
		detail(out, "not a valid DNS name");
		return out->status;
	}
	uint64_t deadline = resolver_budget_started(b) ? b->deadline_ms : t0 + r->timeout_ms;
	if (deadline <= t0) {
		out->status = RESOLVER_TIMEOUT;
		detail(out, "DNS time budget of %u ms used up", r->timeout_ms);
		stat_add(&r->stats.timeouts);
		return out->status;
	}
	char key[RESOLVER_KEY_MAX];
	bool keyed = answer_key(name, type, key, sizeof(key));
	if (keyed && cache_get(r, key, out))
		return out->status;
	struct query *q = calloc(1, sizeof(*q));
	if (q == NULL) {
		out->status = RESOLVER_ERROR;
		detail(out, "out of memory");
		return out->status;
	}
	q->r = r;
	pthread_rwlock_rdlock(&r->ctx_lock);
	struct ub_ctx *ctx = r->ctx;
	int rc = ub_resolve_async(ctx, name, type, 1 /* IN */, q, on_answer, &id);
	if (rc != 0) {
		pthread_rwlock_unlock(&r->ctx_lock);
		free(q);
		out->status = RESOLVER_ERROR;
		detail(out, "unbound: %s", ub_strerror(rc));
		return out->status;
	}
	if (!wait_answer(r, ctx, q, deadline)) {
		/* cancelled: the callback never runs, q is ours; otherwise the
		 * callback (running or to come) frees it */
		if (ub_cancel(ctx, id) == 0)
			free(q);
		pthread_rwlock_unlock(&r->ctx_lock);
		out->status = RESOLVER_TIMEOUT;
		stat_add(&r->stats.timeouts);
		detail(out, "%s: no answer within %u ms", name, (unsigned)((uint64_t)bw_mono_ms() - t0));
		out->elapsed_ms = (unsigned)((uint64_t)bw_mono_ms() - t0);
		return out->status;
	}
	pthread_rwlock_unlock(&r->ctx_lock);
	if (q->err != 0 || q->res == NULL) {
		out->status = RESOLVER_ERROR;
		detail(out, "unbound: %s", ub_strerror(q->err));
	} else {
		fill(r, q->res, name, type, out);
		if (keyed)
			cache_put(r, key, out);
	}
	ub_resolve_free(q->res);
	free(q);
	out->elapsed_ms = (unsigned)((uint64_t)bw_mono_ms() - t0);
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
