/*
 * spf.h - SPF prediction for the relay's egress addresses (SPEC §3 check
 * `spf`): would a receiver seeing mail from IP with MAIL FROM domain D get
 * `pass`? Evaluated by libspf2 (RFC 7208) with every DNS lookup going
 * through our resolver (dns/resolver.h), so dns.nameservers and
 * dns.timeout apply and a dead server never costs more than the timeout.
 *
 * One struct spf_checker per process (one long-lived SPF_server_t, not one
 * per message), shared by all message threads. Results are cached per
 * (domain, ip) for dns.cache_ttl seconds (temperror is never cached).
 *
 * RFC 7208 §4.6.4 limits are enforced here, since libspf2 counts terms per
 * include level and has no void-lookup limit: more than SPF_LOOKUP_LIMIT
 * DNS-querying terms (include, a, mx, ptr, exists, redirect) or more than
 * SPF_VOID_LIMIT void lookups (NXDOMAIN / no records) is `permerror`.
 *
 * Threads: spf_check() may run on any number of threads at once. The
 * result cache has a mutex held only to copy an entry; evaluation state
 * lives on the calling thread. The resolver's progress callback (set with
 * resolver_set_progress() on that thread) runs while lookups wait. No
 * libmilter here.
 */
#ifndef BW_SPF_H
#define BW_SPF_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/resolver.h"

#define SPF_LOOKUP_LIMIT 10 /* RFC 7208 §4.6.4: DNS-querying terms */
#define SPF_VOID_LIMIT 2    /* RFC 7208 §4.6.4: void lookups */
#define SPF_EXPL_MAX 256
#define SPF_DOMAIN_MAX 253
#define SPF_CACHE_MAX 4096 /* cached (domain, ip) results */

/* RFC 7208 §2.6 results. */
enum spf_res {
	SPF_RES_NONE = 0,
	SPF_RES_NEUTRAL,
	SPF_RES_PASS,
	SPF_RES_FAIL,
	SPF_RES_SOFTFAIL,
	SPF_RES_TEMPERROR,
	SPF_RES_PERMERROR,
};

/* DNSSEC state of an evaluation's answers (dns.dnssec). */
enum spf_dnssec {
	SPF_DNSSEC_OFF = 0,  /* dns.dnssec is off: nothing validated */
	SPF_DNSSEC_SIGNED,   /* every answer used was validated */
	SPF_DNSSEC_UNSIGNED, /* some answer was not signed (insecure) */
	SPF_DNSSEC_BOGUS,    /* an answer failed validation: temperror */
};

/* What a non-pass means for the milter. */
enum spf_class {
	SPF_CLASS_PASS = 0, /* authorized */
	SPF_CLASS_POLICY,   /* the published policy does not authorize the IP:
			       fail, softfail, neutral, none -> check `spf` */
	SPF_CLASS_BROKEN,   /* permerror: the record is unusable -> check `spf` */
	SPF_CLASS_DNS,	    /* temperror: DNS failed or timed out -> `dns-error` */
	SPF_CLASS_INPUT,    /* bad domain or IP given to spf_check() */
};

struct spf_result {
	enum spf_res result;
	enum spf_class class;
	unsigned lookups; /* DNS-querying terms evaluated */
	unsigned void_lookups;
	bool cached;			/* from the (domain, ip) cache */
	enum spf_dnssec dnssec;
	char explanation[SPF_EXPL_MAX]; /* one printable line: why */
};

struct spf_checker;

/* A checker whose lookups go through r (r must outlive it). NULL on
 * allocation failure. Call at startup. */
struct spf_checker *spf_new(struct resolver *r);
void spf_free(struct spf_checker *c);

/* Evaluate SPF for MAIL FROM domain (A-labels; "postmaster@domain" is the
 * sender used for macros) and ip (IPv4 or IPv6 text). Fills out and
 * returns 0; returns -1 with out->class SPF_CLASS_INPUT for an invalid
 * domain or IP, or a loopback IP (libspf2 passes loopback unconditionally,
 * which would hide a broken record). Bounded by budget b (shared with the
 * caller's other lookups; NULL or not started: a budget of its own, the
 * resolver's timeout). */
int spf_check_within(struct spf_checker *c, const struct resolver_budget *b, const char *domain,
		     const char *ip, struct spf_result *out);
/* spf_check_within(c, NULL, domain, ip, out). */
int spf_check(struct spf_checker *c, const char *domain, const char *ip, struct spf_result *out);

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror". */
const char *spf_res_name(enum spf_res r);
/* "pass", "policy", "broken", "dns", "input". */
const char *spf_class_name(enum spf_class c);
void spf_cache_flush(struct spf_checker *c);
/* "off", "signed", "unsigned", "bogus". */
const char *spf_dnssec_name(enum spf_dnssec d);

#endif
