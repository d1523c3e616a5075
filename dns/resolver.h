/*
 * resolver.h - bulkwarden's DNS lookups, done by libunbound (NLnet Labs'
 * validating resolver library, as OpenDKIM uses it): one ub_ctx per
 * struct resolver, shared by every message thread, forwarding to the
 * configured dns.nameservers (ub_ctx_set_fwd "addr@port"; the system's
 * /etc/resolv.conf servers when none), with unbound's own cache bounded
 * by dns.cache_ttl (cache-max-ttl). SPF (dns/spf.c, through libspf2's DNS
 * layer hook) and DMARC (dns/dmarc.c) do every lookup through it, so the
 * nameservers, the timeout and DNSSEC apply to all of them.
 *
 * Answers are told apart: records (OK), the name exists without records
 * of the type (NODATA), the name does not exist (NXDOMAIN), the servers
 * failed (SERVFAIL), no answer in time (TIMEOUT), and, with dns.dnssec, an
 * answer whose DNSSEC validation failed (BOGUS). SERVFAIL, TIMEOUT, BOGUS
 * (and ERROR, a local failure) are temporary: the caller maps them to the
 * check `dns-error`; a bogus answer never yields records.
 *
 * DNSSEC. With dnssec set, unbound's validator runs with the trust anchor
 * file given (Debian dns-root-data's /usr/share/dns/root.key by default);
 * every answer says whether it was validated (secure), and bogus ones are
 * BOGUS. Without it, nothing is validated and secure is always false.
 *
 * Time bound. Every query has a deadline; a dead nameserver costs at most
 * the deadline plus scheduling slack (the query is then cancelled in
 * unbound). Without a budget the deadline is now + timeout per query. A
 * struct resolver_budget is passed explicitly to the *_within() calls:
 * every query made with the same budget shares its one deadline, so "all
 * SPF and DMARC lookups of this SMTP stage" cost at most the timeout in
 * total. spf_check() and dmarc_lookup() start a budget of their own when
 * given none.
 *
 * Progress. While it waits the resolver calls the calling thread's
 * progress callback (resolver_set_progress) at least every
 * RESOLVER_PROGRESS_MS. libmilter allows smfi_progress() only in
 * xxfi_eom, so the milter sets a callback for lookups made there.
 *
 * One per process. libunbound keeps its cache bounds and server timing
 * in process-wide variables set by the context created last, so every
 * resolver of a process must be made from the same dns.* settings (the
 * milter and bulkwardenctl make one; a reload's new one replaces the old).
 *
 * Threads. A struct resolver is shared by every message thread: unbound
 * resolves on its own thread (ub_ctx_async); one waiting thread at a time
 * reads unbound's answer pipe and hands each answer to the thread that
 * asked (a mutex and a condition variable); nobody holds a lock while
 * waiting on the network. The progress callback is thread-local; a budget
 * belongs to its caller. Nothing here calls libmilter.
 *
 * Memory: a struct resolver_answer owns its records (one heap block each
 * for the record array and the data); resolver_answer_free() releases
 * them, and is safe on a zeroed or already freed answer. Input: DNS
 * messages are parsed by unbound; what we decode ourselves is the RDATA
 * of the records it returns (resolver_rdata.c, fuzzed by
 * tests/fuzz/fuzz_rdata.c).
 */
#ifndef BW_RESOLVER_H
#define BW_RESOLVER_H

#include "registry/registry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESOLVER_MAX_NS REGISTRY_MAX_NS	 /* nameservers used (more are an error) */
#define RESOLVER_NAME_MAX 253		 /* presentation form, no trailing dot */
#define RESOLVER_MAX_RR 256		 /* records kept per answer */
#define RESOLVER_ANSWER_MAX (256 * 1024) /* decoded bytes kept per answer */
#define RESOLVER_PROGRESS_MS 500	 /* longest wait between progress calls */
#define RESOLVER_NEG_TTL_MAX 300	 /* cap on caching negative answers (s) */
#define RESOLVER_DETAIL_MAX 160
#define RESOLVER_DEFAULT_TIMEOUT 5 /* seconds, when 0 is given */
#define RESOLVER_RESOLV_CONF "/etc/resolv.conf"
#define RESOLVER_TRUST_ANCHOR "/usr/share/dns/root.key" /* Debian dns-root-data */

/* RR types we ask for (numeric, as on the wire). */
#define RESOLVER_T_A 1
#define RESOLVER_T_CNAME 5
#define RESOLVER_T_PTR 12
#define RESOLVER_T_MX 15
#define RESOLVER_T_TXT 16
#define RESOLVER_T_AAAA 28

enum resolver_status {
	RESOLVER_OK = 0,   /* n >= 1 records of the asked type */
	RESOLVER_NODATA,   /* the name exists, no record of that type */
	RESOLVER_NXDOMAIN, /* the name does not exist */
	RESOLVER_SERVFAIL, /* every server answered with an error (temporary) */
	RESOLVER_TIMEOUT,  /* no usable answer before the deadline (temporary) */
	RESOLVER_BADNAME,  /* the name cannot be asked: empty, label > 63, > 253 */
	RESOLVER_ERROR,	   /* local failure: sockets, memory (temporary) */
	RESOLVER_BOGUS,	   /* DNSSEC validation failed (temporary: dns-error) */
};

/* One record. data is NUL-terminated (len excludes the NUL):
 *  TXT: the character-strings concatenated (RFC 7208 §3.3, RFC 6376 §3.6.2.2);
 *  A / AAAA: 4 / 16 address bytes; MX / PTR / CNAME: the target name in
 *  presentation form (MX: the exchange; pref holds the preference);
 *  other types: the raw RDATA. */
struct resolver_rr {
	uint16_t type;
	uint16_t pref;
	uint32_t ttl;
	size_t len;
	size_t off; /* offset of data in the answer's data block */
	const unsigned char *data;
};

struct resolver_answer {
	enum resolver_status status;
	int rcode;    /* DNS rcode of the answer used, -1 when none */
	uint32_t ttl; /* how long the answer may be reused (cache bound applied) */
	bool secure;  /* DNSSEC-validated (only with dns.dnssec) */
	unsigned elapsed_ms;
	size_t n;
	struct resolver_rr *rr;
	unsigned char *data;
	size_t data_len;
	char detail[RESOLVER_DETAIL_MAX]; /* one line: which server, what failed */
};

struct resolver_stats {
	uint64_t queries; /* resolver_query() calls */
	uint64_t timeouts;
	uint64_t servfails;
	uint64_t bogus;
	uint64_t secure; /* validated answers */
	uint64_t cached; /* answers from the answer cache (no trip to unbound) */
};

/* How to build a resolver (the dns.* settings). */
struct resolver_conf {
	const char *const *nameservers; /* "ADDR", "ADDR:PORT", "[V6ADDR]:PORT" */
	size_t n_nameservers;		/* 0: the nameserver lines of resolv.conf */
	unsigned timeout_s;		/* 0: RESOLVER_DEFAULT_TIMEOUT */
	unsigned cache_ttl;		/* 0: answers are not reused */
	bool dnssec;			/* validate; needs a trust anchor */
	const char *trust_anchor;	/* file of DS/DNSKEY lines; NULL: the default */
};

struct resolver;

typedef void (*resolver_progress_fn)(void *ctx);

/* Create a resolver from c (see struct resolver_conf; numeric addresses
 * only). Returns NULL with a reason in err on a bad address, an unusable
 * trust anchor or an unbound failure. */
struct resolver *resolver_new(const struct resolver_conf *c, char *err, size_t errlen);
void resolver_free(struct resolver *r);
/* Check one dns.nameservers entry without creating anything (for the
 * config loader, which reports file:line). 0, or -1 with a reason. */
int resolver_nameserver_check(const char *spec, char *err, size_t errlen);

/* A lookup deadline shared by every query made with it (see above). */
struct resolver_budget {
	uint64_t deadline_ms; /* CLOCK_MONOTONIC milliseconds; 0: not started */
};
/* Start b now: it ends after the resolver's timeout. */
void resolver_budget_start(struct resolver_budget *b, const struct resolver *r);
/* true when b was started (a zeroed budget was not). */
bool resolver_budget_started(const struct resolver_budget *b);

/* Ask for (name, type) within budget b (NULL or not started: a deadline
 * of its own). Fills out (free it with resolver_answer_free()) and returns
 * out->status. Blocks for at most the deadline. */
enum resolver_status resolver_query_within(struct resolver *r, const struct resolver_budget *b,
					   const char *name, uint16_t type,
					   struct resolver_answer *out);
/* resolver_query_within(r, NULL, name, type, out). */
enum resolver_status resolver_query(struct resolver *r, const char *name, uint16_t type,
				    struct resolver_answer *out);
/* resolver_query_within(r, b, name, RESOLVER_T_TXT, out). */
enum resolver_status resolver_txt_within(struct resolver *r, const struct resolver_budget *b,
					 const char *name, struct resolver_answer *out);
/* resolver_txt_within(r, NULL, name, out). */
enum resolver_status resolver_txt(struct resolver *r, const char *name,
				  struct resolver_answer *out);
void resolver_answer_free(struct resolver_answer *a);

/* Progress callback of the calling thread (NULL: none). It runs on that
 * thread while it waits, at least every RESOLVER_PROGRESS_MS. */
void resolver_set_progress(resolver_progress_fn fn, void *ctx);
/* Milliseconds left in budget b (the timeout when NULL or not started). */
unsigned resolver_budget_left_ms(const struct resolver *r, const struct resolver_budget *b);

/* "ok", "nodata", "nxdomain", "servfail", "timeout", "badname", "error",
 * "bogus". */
const char *resolver_status_name(enum resolver_status st);
/* SERVFAIL, TIMEOUT, ERROR, BOGUS: a retry later may give another answer. */
bool resolver_status_temporary(enum resolver_status st);

unsigned resolver_timeout(const struct resolver *r);   /* seconds */
unsigned resolver_cache_ttl(const struct resolver *r); /* seconds, 0: no cache */
bool resolver_dnssec(const struct resolver *r);	       /* validating */
/* Forget every cached answer (a fresh unbound context; waits for the
 * lookups under way). */
void resolver_cache_flush(struct resolver *r);
void resolver_get_stats(struct resolver *r, struct resolver_stats *st);

#endif
