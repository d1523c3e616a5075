/*
 * spf.c - SPF evaluation with libspf2 over our resolver (see spf.h).
 *
 * libspf2 reaches DNS only through an SPF_dns_server_t "layer" whose lookup
 * callback returns SPF_dns_rr_t records. Ours (layer_lookup) asks
 * dns/resolver.c and converts the answer: records -> NETDB_SUCCESS, NODATA
 * -> NO_DATA, NXDOMAIN -> HOST_NOT_FOUND, a name that cannot be asked ->
 * NO_RECOVERY, SERVFAIL/TIMEOUT/ERROR -> TRY_AGAIN, which libspf2 turns
 * into temperror and stops at. Queries for the obsolete SPF RR type (99)
 * are answered NO_DATA without asking anyone (RFC 7208 §3.1 drops it; it
 * would double every lookup). The explanation hook (get_exp) never goes to
 * DNS: exp= text is not needed to predict a result, and an attacker-chosen
 * exp= name must not spend our time budget.
 *
 * Limits. libspf2 counts DNS-querying terms per include level (a fresh
 * response per include) and has no void-lookup limit, so the layer counts
 * them for the whole evaluation (RFC 7208 §4.6.4) in a struct spf_eval that
 * spf_check() keeps on its stack and publishes in a thread-local pointer:
 * every TXT query after the first (the record itself) is an include or a
 * redirect; MX and PTR queries are mx and ptr terms; an A/AAAA query is an
 * a or exists term unless it is the next host name of the MX/PTR answer
 * just given (libspf2 resolves those names in order, right after). The
 * 11th term or the 3rd void answer to a term is not asked: the layer
 * answers TRY_AGAIN, libspf2 unwinds, and spf_check() reports permerror.
 * Approximation: a term naming the very host the previous MX/PTR answer
 * listed next is counted as that MX/PTR's address lookup.
 *
 * Cache: (domain, ip) -> result for the resolver's cache_ttl in a
 * base/cache (TTL + LRU, its own lock) of at most SPF_CACHE_MAX entries.
 *
 * Memory: the checker owns the libspf2 server, the layer and the cache;
 * each spf_check() frees its libspf2 request and response before
 * returning. Input: records come from DNS (untrusted); libspf2 parses
 * them; everything we copy into explanation is bounded and made printable.
 */
#include "config.h"

#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include <spf2/spf.h>

#include "dns/spf.h"
#include "base/cache.h"
#include "base/util.h"

#define SPF_PENDING_MAX 10     /* libspf2 resolves at most 10 MX/PTR names */
#define SPF_IP_MAX 46	       /* INET6_ADDRSTRLEN */

/* Per-evaluation state, on spf_check()'s stack. */
struct spf_eval {
	bool record_fetched; /* the first TXT query (the record) was made */
	bool aborted;	     /* a limit was hit: fail every later lookup fast */
	unsigned terms, voids;
	char limit_what[96];				      /* the lookup that crossed a limit */
	char pending[SPF_PENDING_MAX][RESOLVER_NAME_MAX + 1]; /* MX/PTR hosts */
	size_t n_pending, i_pending;
	bool dns_failed;
	char dns_detail[SPF_EXPL_MAX];
	struct resolver_budget budget; /* the caller's, or one of its own */
	unsigned answers, secure; /* DNS answers, and how many were validated */
	bool bogus;
};

struct spf_checker {
	struct resolver *res;
	SPF_dns_server_t *layer;
	SPF_server_t *server;
	struct bw_cache *cache; /* "domain ip" -> struct spf_result */
};

static __thread struct spf_eval *tl_eval;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void say(char *buf, size_t len, const char *fmt, ...) BW_PRINTF(3, 4);

/* Format into buf, then make it one printable ASCII line. */
static void
say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap); /* explanation text: truncation is fine */
	va_end(ap);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

/* RFC 7208 name of a result. */
const char *
spf_res_name(enum spf_res r)
{
	switch (r) {
	case SPF_RES_NONE:
		return "none";
	case SPF_RES_NEUTRAL:
		return "neutral";
	case SPF_RES_PASS:
		return "pass";
	case SPF_RES_FAIL:
		return "fail";
	case SPF_RES_SOFTFAIL:
		return "softfail";
	case SPF_RES_TEMPERROR:
		return "temperror";
	case SPF_RES_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

/* Name of a result class. */
const char *
spf_class_name(enum spf_class c)
{
	switch (c) {
	case SPF_CLASS_PASS:
		return "pass";
	case SPF_CLASS_POLICY:
		return "policy";
	case SPF_CLASS_BROKEN:
		return "broken";
	case SPF_CLASS_DNS:
		return "dns";
	case SPF_CLASS_INPUT:
		return "input";
	}
	return "input";
}

/* ---- libspf2 diagnostics ------------------------------------------------ */

/* libspf2 calls this on a broken invariant and must not return. */
static void __attribute__((noreturn)) log_error(const char *file, int line, const char *msg)
{
	diag(LOG_CRIT, "libspf2: %s:%d: %s", file ? file : "?", line, msg ? msg : "");
	abort();
}

/* libspf2's warnings and chatter are not for our logs (results say it). */
static void
log_quiet(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	(void)msg;
}

/* Route libspf2's diagnostics (once per process). */
static void
log_setup(void)
{
	SPF_error_handler = log_error;
	SPF_warning_handler = log_quiet;
	SPF_info_handler = log_quiet;
	SPF_debug_handler = log_quiet;
}

/* ---- the DNS layer ------------------------------------------------------ */

/* A record set with only a status (libspf2 never gets NULL but on OOM). */
static SPF_dns_rr_t *
rr_status(SPF_dns_server_t *layer, const char *domain, ns_type type, int herrno)
{
	return SPF_dns_rr_new_init(layer, domain, type, 0, herrno);
}

/* Mnemonic of an RR type for explanations. */
static const char *
type_name(ns_type t)
{
	switch ((int)t) {
	case ns_t_a:
		return "A";
	case ns_t_aaaa:
		return "AAAA";
	case ns_t_mx:
		return "MX";
	case ns_t_ptr:
		return "PTR";
	case ns_t_txt:
		return "TXT";
	default:
		return "?";
	}
}

/* Decide whether this lookup starts a DNS-querying term (see the file
 * comment) and keep the MX/PTR host queue in step. */
static bool
is_term(struct spf_eval *ev, const char *domain, ns_type type)
{
	if (type == ns_t_a || type == ns_t_aaaa) {
		if (ev->i_pending < ev->n_pending &&
		    strcasecmp(domain, ev->pending[ev->i_pending]) == 0) {
			ev->i_pending++;
			return false;
		}
		ev->n_pending = ev->i_pending = 0;
		return true;
	}
	ev->n_pending = ev->i_pending = 0;
	if (type == ns_t_txt) {
		if (!ev->record_fetched) {
			ev->record_fetched = true;
			return false;
		}
		return true;
	}
	return type == ns_t_mx || type == ns_t_ptr;
}

/* Copy the answer's records into a libspf2 record set. */
static SPF_dns_rr_t *
rr_from_answer(SPF_dns_server_t *layer, const char *domain, ns_type type,
	       const struct resolver_answer *a, struct spf_eval *ev)
{
	SPF_dns_rr_t *rr = SPF_dns_rr_new_init(layer, domain, type, (int)a->ttl, NETDB_SUCCESS);
	if (rr == NULL)
		return NULL;
	int cnt = 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct resolver_rr *x = &a->rr[i];
		size_t need = (type == ns_t_a)	    ? sizeof(struct in_addr)
			      : (type == ns_t_aaaa) ? sizeof(struct in6_addr)
						    : x->len + 1;
		if (SPF_dns_rr_buf_realloc(rr, cnt, need) != SPF_E_SUCCESS)
			break; /* out of memory: libspf2's own layer keeps what it has too */
		if (type == ns_t_a || type == ns_t_aaaa)
			memcpy(rr->rr[cnt], x->data, need);
		else
			memcpy(rr->rr[cnt], x->data, x->len + 1);
		if (ev != NULL && (type == ns_t_mx || type == ns_t_ptr) &&
		    ev->n_pending < SPF_PENDING_MAX)
			bw_strlcpy(ev->pending[ev->n_pending++], (const char *)x->data,
				   sizeof(ev->pending[0]));
		cnt++;
	}
	rr->num_rr = cnt;
	if (cnt == 0)
		rr->herrno = NO_DATA;
	return rr;
}

/* libspf2's lookup hook: every query of an evaluation comes here. */
static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *layer, const char *domain, ns_type type, int should_cache)
{
	struct spf_checker *c = layer->hook;
	struct spf_eval *ev = tl_eval;
	struct resolver_answer a;
	(void)should_cache;

	if ((int)type == 99)
		return rr_status(layer, domain, type, NO_DATA);
	if (ev != NULL) {
		if (ev->aborted)
			return rr_status(layer, domain, type, TRY_AGAIN);
		bool term = is_term(ev, domain, type);
		if (term && ++ev->terms > SPF_LOOKUP_LIMIT) {
			ev->aborted = true;
			say(ev->limit_what, sizeof(ev->limit_what), "%s %s", domain,
			    type_name(type));
			return rr_status(layer, domain, type, TRY_AGAIN);
		}
		enum resolver_status st =
		    resolver_query_within(c->res, &ev->budget, domain, (uint16_t)type, &a);
		ev->answers++;
		ev->secure += a.secure;
		ev->bogus |= st == RESOLVER_BOGUS;
		if (term && (st == RESOLVER_NODATA || st == RESOLVER_NXDOMAIN) &&
		    ++ev->voids > SPF_VOID_LIMIT) {
			ev->aborted = true;
			say(ev->limit_what, sizeof(ev->limit_what), "%s %s", domain,
			    type_name(type));
			resolver_answer_free(&a);
			return rr_status(layer, domain, type, TRY_AGAIN);
		}
		if (resolver_status_temporary(st) && !ev->dns_failed) {
			ev->dns_failed = true;
			say(ev->dns_detail, sizeof(ev->dns_detail), "%s %s: %s (%s)", domain,
			    type_name(type), resolver_status_name(st), a.detail);
		}
	} else {
		resolver_query(c->res, domain, (uint16_t)type, &a);
	}

	SPF_dns_rr_t *rr;
	switch (a.status) {
	case RESOLVER_OK:
		rr = rr_from_answer(layer, domain, type, &a, ev);
		break;
	case RESOLVER_NODATA:
		rr = rr_status(layer, domain, type, NO_DATA);
		break;
	case RESOLVER_NXDOMAIN:
		rr = rr_status(layer, domain, type, HOST_NOT_FOUND);
		break;
	case RESOLVER_BADNAME:
		rr = rr_status(layer, domain, type, NO_RECOVERY);
		break;
	default:
		rr = rr_status(layer, domain, type, TRY_AGAIN);
		break;
	}
	resolver_answer_free(&a);
	return rr;
}

/* exp= is never fetched (see the file comment); libspf2 gets fixed text. */
static SPF_errcode_t
layer_get_exp(SPF_server_t *server, const char *domain, char **buf, size_t *buflen)
{
	static const char text[] = "explanation not fetched";
	(void)server;
	(void)domain; /* aliases *buf: unused once we write */
	if (*buflen < sizeof(text)) {
		char *nb = realloc(*buf, sizeof(text));
		if (nb == NULL)
			return SPF_E_NO_MEMORY;
		*buf = nb;
		*buflen = sizeof(text);
	}
	memcpy(*buf, text, sizeof(text));
	return SPF_E_SUCCESS;
}

/* ---- checker ------------------------------------------------------------ */

/* Create the process's SPF checker: our DNS layer under one SPF_server_t. */
struct spf_checker *
spf_new(struct resolver *r)
{
	pthread_once(&log_once, log_setup);
	struct spf_checker *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->res = r;
	c->layer = calloc(1, sizeof(*c->layer));
	if (c->layer == NULL)
		goto fail;
	c->layer->destroy = NULL; /* ours: SPF_server_free() leaves it alone */
	c->layer->lookup = layer_lookup;
	c->layer->get_spf = NULL;
	c->layer->get_exp = layer_get_exp;
	c->layer->add_cache = NULL;
	c->layer->layer_below = NULL;
	c->layer->name = "bulkwarden";
	c->layer->hook = c;
	c->server = SPF_server_new_dns(c->layer, 0);
	if (c->server == NULL)
		goto fail;
	c->cache = bw_cache_new(SPF_CACHE_MAX, free);
	if (c->cache == NULL) {
		SPF_server_free(c->server);
		goto fail;
	}
	return c;
fail:
	free(c->layer);
	free(c);
	return NULL;
}

/* Drop every cached result. */
void
spf_cache_flush(struct spf_checker *c)
{
	bw_cache_flush(c->cache);
}

/* Free the checker (no spf_check() may be running). */
void
spf_free(struct spf_checker *c)
{
	if (c == NULL)
		return;
	bw_cache_free(c->cache);
	SPF_server_free(c->server);
	free(c->layer);
	free(c);
}

/* Copy a cached result out (runs under the cache's lock). */
static int
cache_copy(const void *val, uint64_t expires, void *arg)
{
	struct spf_result *out = arg;
	(void)expires;
	*out = *(const struct spf_result *)val;
	out->cached = true;
	return 0;
}

/* A fresh cached result for key, copied into out. */
static bool
cache_get(struct spf_checker *c, const char *key, struct spf_result *out)
{
	return bw_cache_get(c->cache, key, (uint64_t)time(NULL), cache_copy, out);
}

/* Remember a result (allocation failure: not cached). */
static void
cache_put(struct spf_checker *c, const char *key, const struct spf_result *res, unsigned ttl)
{
	struct spf_result *v = malloc(sizeof(*v));
	if (v == NULL)
		return;
	*v = *res;
	uint64_t now = (uint64_t)time(NULL);
	bw_cache_put(c->cache, key, v, now + ttl, now);
}

/* Domain syntax we hand to libspf2: LDH/underscore labels, 1..63 each. */
static bool
domain_ok(const char *d, char *out, size_t outlen)
{
	size_t n = bw_strlcpy(out, d, outlen);
	if (n == 0 || n >= outlen || n > SPF_DOMAIN_MAX)
		return false;
	if (out[n - 1] == '.')
		out[--n] = '\0';
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)out[i];
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!(ch == '-' || ch == '_' || (ch >= '0' && ch <= '9') ||
		      (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
			return false;
		if (++label > 63)
			return false;
	}
	bw_lower(out);
	return label > 0;
}

/* Fill the explanation for a finished evaluation. */
static void
explain(struct spf_result *out, SPF_response_t *resp, const struct spf_eval *ev, const char *domain,
	const char *ip)
{
	const char *msg = NULL;
	if (resp != NULL && SPF_response_messages(resp) > 0)
		msg = SPF_error_message(SPF_response_message(resp, 0));
	SPF_reason_t reason = resp ? SPF_response_reason(resp) : SPF_REASON_NONE;
	const char *how = reason == SPF_REASON_DEFAULT ? ", no mechanism matched" : "";

	switch (out->result) {
	case SPF_RES_PASS:
		say(out->explanation, SPF_EXPL_MAX, "%s authorizes %s", domain, ip);
		break;
	case SPF_RES_FAIL:
	case SPF_RES_SOFTFAIL:
		say(out->explanation, SPF_EXPL_MAX, "%s does not authorize %s (%s%s)", domain, ip,
		    spf_res_name(out->result), how);
		break;
	case SPF_RES_NEUTRAL:
		say(out->explanation, SPF_EXPL_MAX, "%s makes no assertion about %s (neutral%s)",
		    domain, ip, how);
		break;
	case SPF_RES_NONE:
		say(out->explanation, SPF_EXPL_MAX, "no SPF record for %s%s%s", domain,
		    msg ? ": " : "", msg ? msg : "");
		break;
	case SPF_RES_TEMPERROR:
		if (ev->dns_failed)
			say(out->explanation, SPF_EXPL_MAX, "DNS failed: %s", ev->dns_detail);
		else
			say(out->explanation, SPF_EXPL_MAX, "temporary error: %s",
			    msg ? msg : SPF_strerror(SPF_response_errcode(resp)));
		break;
	case SPF_RES_PERMERROR:
		if (ev->aborted && ev->terms > SPF_LOOKUP_LIMIT)
			say(out->explanation, SPF_EXPL_MAX,
			    "more than %d DNS-querying terms (limit reached at %s)",
			    SPF_LOOKUP_LIMIT, ev->limit_what);
		else if (ev->aborted)
			say(out->explanation, SPF_EXPL_MAX,
			    "more than %d void lookups (the last: %s)", SPF_VOID_LIMIT,
			    ev->limit_what);
		else
			say(out->explanation, SPF_EXPL_MAX, "record error: %s",
			    msg ? msg : SPF_strerror(SPF_response_errcode(resp)));
		break;
	}
}

/* Evaluate (domain, ip) with a budget of its own. */
int
spf_check(struct spf_checker *c, const char *domain, const char *ip, struct spf_result *out)
{
	return spf_check_within(c, NULL, domain, ip, out);
}

/* Evaluate (domain, ip): cache, else libspf2 with our limits and budget b.
 * libspf2 calls layer_lookup() with no context of ours, so the evaluation
 * (budget included) reaches it through tl_eval for the length of the call. */
int
spf_check_within(struct spf_checker *c, const struct resolver_budget *b, const char *domain,
		 const char *ip, struct spf_result *out)
{
	char dom[SPF_DOMAIN_MAX + 2];
	char ipt[SPF_IP_MAX];
	char key[SPF_DOMAIN_MAX + SPF_IP_MAX + 2];
	struct in_addr a4;
	struct in6_addr a6;
	bool v6 = false;

	memset(out, 0, sizeof(*out));
	out->result = SPF_RES_PERMERROR;
	out->class = SPF_CLASS_INPUT;
	if (domain == NULL || !domain_ok(domain, dom, sizeof(dom))) {
		say(out->explanation, SPF_EXPL_MAX, "not a domain name");
		return -1;
	}
	if (ip != NULL && inet_pton(AF_INET, ip, &a4) == 1) {
		inet_ntop(AF_INET, &a4, ipt, sizeof(ipt));
		if ((ntohl(a4.s_addr) >> 24) == 127)
			goto loopback;
	} else if (ip != NULL && inet_pton(AF_INET6, ip, &a6) == 1) {
		v6 = true;
		inet_ntop(AF_INET6, &a6, ipt, sizeof(ipt));
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			goto loopback;
	} else {
		say(out->explanation, SPF_EXPL_MAX, "not an IP address");
		return -1;
	}
	snprintf(key, sizeof(key), "%s %s", dom, ipt); /* fits: both bounded above */

	unsigned ttl = resolver_cache_ttl(c->res);
	if (ttl > 0 && cache_get(c, key, out))
		return 0;

	struct spf_eval *ev = calloc(1, sizeof(*ev)); /* ~2.6 KB: not on a milter stack */
	SPF_request_t *req = SPF_request_new(c->server);
	SPF_response_t *resp = NULL;
	char sender[SPF_DOMAIN_MAX + 16];
	if (ev == NULL || req == NULL) {
		free(ev);
		if (req)
			SPF_request_free(req);
		out->result = SPF_RES_TEMPERROR;
		out->class = SPF_CLASS_DNS;
		say(out->explanation, SPF_EXPL_MAX, "out of memory");
		return 0;
	}
	snprintf(sender, sizeof(sender), "postmaster@%s", dom);
	if (v6)
		SPF_request_set_ipv6(req, a6);
	else
		SPF_request_set_ipv4(req, a4);
	SPF_request_set_env_from(req, sender);

	if (resolver_budget_started(b))
		ev->budget = *b;
	else
		resolver_budget_start(&ev->budget, c->res);
	tl_eval = ev;
	SPF_request_query_mailfrom(req, &resp);
	tl_eval = NULL;
	out->dnssec = !resolver_dnssec(c->res) ? SPF_DNSSEC_OFF
		      : ev->bogus		    ? SPF_DNSSEC_BOGUS
		      : ev->answers > 0 && ev->secure == ev->answers ? SPF_DNSSEC_SIGNED
								     : SPF_DNSSEC_UNSIGNED;

	SPF_result_t r = resp ? SPF_response_result(resp) : SPF_RESULT_TEMPERROR;
	if (ev->aborted) {
		out->result = SPF_RES_PERMERROR;
	} else if (ev->dns_failed) {
		/* every TRY_AGAIN ends libspf2's evaluation, but some paths
		 * (the record lookup itself in 1.2.10) call it permerror */
		out->result = SPF_RES_TEMPERROR;
	} else {
		switch (r) {
		case SPF_RESULT_PASS:
			out->result = SPF_RES_PASS;
			break;
		case SPF_RESULT_FAIL:
			out->result = SPF_RES_FAIL;
			break;
		case SPF_RESULT_SOFTFAIL:
			out->result = SPF_RES_SOFTFAIL;
			break;
		case SPF_RESULT_NEUTRAL:
			out->result = SPF_RES_NEUTRAL;
			break;
		case SPF_RESULT_NONE:
			out->result = SPF_RES_NONE;
			break;
		case SPF_RESULT_TEMPERROR:
			out->result = SPF_RES_TEMPERROR;
			break;
		default:
			out->result = SPF_RES_PERMERROR;
			break;
		}
	}
	switch (out->result) {
	case SPF_RES_PASS:
		out->class = SPF_CLASS_PASS;
		break;
	case SPF_RES_TEMPERROR:
		out->class = SPF_CLASS_DNS;
		break;
	case SPF_RES_PERMERROR:
		out->class = SPF_CLASS_BROKEN;
		break;
	default:
		out->class = SPF_CLASS_POLICY;
		break;
	}
	out->lookups = ev->terms;
	out->void_lookups = ev->voids;
	explain(out, resp, ev, dom, ipt);

	if (resp)
		SPF_response_free(resp);
	SPF_request_free(req);
	free(ev);
	if (ttl > 0 && out->result != SPF_RES_TEMPERROR)
		cache_put(c, key, out, ttl);
	return 0;
loopback:
	say(out->explanation, SPF_EXPL_MAX,
	    "loopback address %s cannot be an egress IP (libspf2 passes it unconditionally)", ip);
	return -1;
}

/* Name of a DNSSEC state, for dns-check and events. */
const char *
spf_dnssec_name(enum spf_dnssec d)
{
	switch (d) {
	case SPF_DNSSEC_SIGNED:
		return "signed";
	case SPF_DNSSEC_UNSIGNED:
		return "unsigned";
	case SPF_DNSSEC_BOGUS:
		return "bogus";
	case SPF_DNSSEC_OFF:
		break;
	}
	return "off";
}
