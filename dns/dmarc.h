/*
 * dmarc.h - DMARC preflight for the From domain (SPEC §3 check `dmarc`):
 * find the DMARC record a receiver would apply, say how it was found,
 * compare its policy with the required minimum, and predict whether the
 * message will align.
 *
 * Discovery follows RFC 9989 (DMARCbis) §4.10: _dmarc.<From domain> first;
 * without a valid record there, the DNS tree walk (at most
 * DMARC_WALK_MAX queries; psd=y/psd=n stop it) finds the Organizational
 * Domain, whose record applies (or, failing that, the Public Suffix
 * Domain's psd=y record). The Organizational Domain is also computed the
 * RFC 7489 way, with the Public Suffix List (Debian's `publicsuffix`
 * file, read and matched by libpsl), and the two are reported side by
 * side:
 *   method EXACT    - the record is at the From domain itself;
 *   method PSL      - it is at the PSL Organizational Domain (a receiver
 *                     using either method applies the same record);
 *   method TREEWALK - only the tree walk finds it (an intermediate label
 *                     with psd=n, a PSD record, a name the PSL gets wrong).
 * legacy_* tell what a PSL-only (RFC 7489) receiver would apply.
 *
 * libopendmarc's: the record's tag syntax and the values of the tags it
 * knows (opendmarc_policy_parse_dmarc(), then opendmarc_policy_fetch_p,
 * _sp, _adkim, _aspf, _pct, _rua): so a prefix is the policy ("p=r" is
 * reject), the last of duplicate tags wins, whitespace inside a value is
 * dropped, and one bad value (p, sp, adkim, aspf, pct outside 0..100, a
 * second rua) or a missing p rejects the record.
 *
 * Ours (dns/dmarc.c), as a small layer around that parse (fuzzed with
 * libopendmarc by tests/fuzz/fuzz_dmarc.c):
 *   - bounds: at most DMARC_RECORD_MAX bytes, no NUL, DMARC_TAGS_MAX tags;
 *     the record libopendmarc gets is rebuilt from the tags we split
 *     (only v, p, sp, adkim, aspf, pct, rua), and a value it would copy
 *     without its terminator (512 bytes or more, a rua element of 256 or
 *     more) is left out;
 *   - record selection: "v=DMARC1" exactly, as the first tag (RFC 7489
 *     §6.3; libopendmarc takes v= anywhere, in any case);
 *   - the RFC 9989 tags np, psd and t, which libopendmarc does not know
 *     (the last one wins, as for libopendmarc's tags);
 *   - RFC 7489 §6.6.3 / RFC 9989: a record libopendmarc rejects, or with
 *     a bad np, still applies as p=none (p_implied) when its first rua
 *     holds a syntactically valid URI (scheme ":" printable text);
 *     n_rua/rua count and list the valid URIs of libopendmarc's rua list;
 *   - the RFC 9989 tree walk and discovery below, and the alignment
 *     prediction (next paragraph).
 * libopendmarc state: one DMARC_POLICY_T per parse (connect_init/
 * connect_shutdown); parsing touches no library global, so
 * opendmarc_policy_library_init() (not thread-safe: it sets globals for
 * its PSL and resolver) is not called.
 *
 * Alignment (dmarc_aligned) stays ours: opendmarc_get_policy_to_enforce()
 * (with store_dkim/store_spf/store_from_domain) decides alignment with
 * opendmarc_policy_check_alignment(), i.e. one Organizational Domain
 * method, the library's own PSL (opendmarc_tld_read_file() into a
 * process-wide table, loaded by the non-thread-safe library_init), and
 * it cannot be handed the tree walk's Organizational Domain; our
 * prediction requires the same Organizational Domain under BOTH methods.
 *
 * Alignment (dmarc_aligned) is pure: it uses the Organizational Domains
 * that dmarc_lookup() found for the From domain. Relaxed alignment needs
 * the identifier in the same Organizational Domain under BOTH methods (a
 * conservative prediction: receivers differ). Approximation: an
 * identifier's own tree walk is assumed to end where the From domain's
 * did; a psd=n/psd=y record between the identifier and that domain, on a
 * branch the From domain does not share, is not seen.
 *
 * Threads: dmarc_lookup() and the pure functions run concurrently on any
 * thread. The PSL is loaded once (dmarc_psl_load() at startup, or lazily
 * from DMARC_PSL_PATH on first use) and read-only afterwards. DNS goes
 * through dns/resolver.h (the caller's budget and progress callback apply). Input:
 * TXT records are untrusted; struct dmarc_record holds only bounded,
 * printable copies. No libmilter here.
 */
#ifndef BW_DMARC_H
#define BW_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/resolver.h"

#define DMARC_DOMAIN_MAX 253
#define DMARC_WALK_MAX 8      /* RFC 9989 §4.10: queries per tree walk */
#define DMARC_RECORD_MAX 4096 /* longer TXT records are not accepted */
#define DMARC_TAGS_MAX 32     /* tags parsed per record; the rest ignored */
#define DMARC_URI_MAX 512     /* rua= text kept */
#define DMARC_TEXT_MAX 512    /* record text kept (for display) */
#define DMARC_DETAIL_MAX 640  /* room for two names and the words */
#define DMARC_PSL_PATH "/usr/share/publicsuffix/public_suffix_list.dat"

enum dmarc_status {
	DMARC_NONE = 0,	 /* no applicable valid record (DMARC does not apply) */
	DMARC_FOUND,	 /* a record applies; fields below are set */
	DMARC_DNS_ERROR, /* a lookup timed out or failed: the answer is unknown */
	DMARC_BADNAME,	 /* from_domain is not a domain name */
};

enum dmarc_method {
	DMARC_METHOD_NONE = 0,
	DMARC_METHOD_EXACT,
	DMARC_METHOD_PSL,
	DMARC_METHOD_TREEWALK
};

/* Ranked: none < quarantine < reject (same values as enum bw_dmarc_p). */
enum dmarc_policy { DMARC_P_NONE = 0, DMARC_P_QUARANTINE = 1, DMARC_P_REJECT = 2 };
enum dmarc_align { DMARC_RELAXED = 0, DMARC_STRICT };
enum dmarc_psd { DMARC_PSD_U = 0, DMARC_PSD_Y, DMARC_PSD_N };

/* Result of parsing one TXT string. */
enum dmarc_parse_rc {
	DMARC_PARSE_OK = 0,    /* usable (maybe with p=none implied) */
	DMARC_PARSE_NOT_DMARC, /* does not start with v=DMARC1, or too long */
	DMARC_PARSE_NO_POLICY, /* v=DMARC1 but no valid p/sp/np and no valid rua */
};

struct dmarc_record {
	enum dmarc_status status;
	enum dmarc_method method;
	char domain[DMARC_DOMAIN_MAX + 1];	   /* where the applied record is (no _dmarc.) */
	char org_domain[DMARC_DOMAIN_MAX + 1];	   /* From's Org. Domain by the tree walk */
	char psl_org_domain[DMARC_DOMAIN_MAX + 1]; /* by the PSL; "" without a PSL */
	/* the applied record */
	enum dmarc_policy p, sp, np;
	bool sp_set, np_set;
	bool p_implied; /* no valid p/sp/np but a valid rua: p=none (RFC 9989) */
	enum dmarc_align adkim, aspf;
	unsigned pct; /* 0..100 (RFC 7489; default 100) */
	bool testing; /* t=y */
	enum dmarc_psd psd;
	unsigned n_rua; /* syntactically valid reporting URIs */
	char rua[DMARC_URI_MAX];
	char text[DMARC_TEXT_MAX];
	/* what an RFC 7489 (PSL) receiver would apply */
	bool legacy_found;
	enum dmarc_policy legacy_p;
	char legacy_domain[DMARC_DOMAIN_MAX + 1];
	unsigned queries;	       /* DNS queries made */
	unsigned secure;	       /* of them, answers DNSSEC-validated */
	bool record_secure;	       /* the applied record's answer was validated */
	bool bogus;		       /* an answer failed DNSSEC validation */
	char detail[DMARC_DETAIL_MAX]; /* DNS error, ignored records, notes */
};

/* Load the Public Suffix List from path (NULL: DMARC_PSL_PATH), replacing
 * any list loaded before. Call at startup, before lookups run on other
 * threads. Returns 0, or -1 with a reason in err (the PSL method is then
 * unavailable: psl_org_domain stays "", alignment uses the tree walk). */
int dmarc_psl_load(const char *path, char *err, size_t errlen);
void dmarc_psl_free(void);
/* The Organizational Domain of domain by the PSL (RFC 7489 §3.2) into
 * out[DMARC_DOMAIN_MAX + 1]; false without a PSL or for a bad name. */
bool dmarc_psl_org_domain(const char *domain, char *out);

/* Parse one TXT record into the record fields of out (status/method/
 * domains untouched). I/O-free, bounded by DMARC_RECORD_MAX and
 * DMARC_TAGS_MAX. */
enum dmarc_parse_rc dmarc_parse(const char *txt, size_t len, struct dmarc_record *out);

/* Find the record that applies to from_domain (A-labels). Returns and
 * sets out->status. Every query shares budget b (NULL or not started: one
 * of its own, the resolver's timeout). */
enum dmarc_status dmarc_lookup_within(struct resolver *r, const struct resolver_budget *b,
				      const char *from_domain, struct dmarc_record *out);
/* dmarc_lookup_within(r, NULL, from_domain, out). */
enum dmarc_status dmarc_lookup(struct resolver *r, const char *from_domain,
			       struct dmarc_record *out);

/* The policy a receiver applies to mail From from_domain: p at the From
 * domain itself, sp (else p) for a subdomain; one level lower when t=y or
 * pct < 100 (not every message gets it). why (may be NULL) says so. */
enum dmarc_policy dmarc_effective_policy(const struct dmarc_record *rec, const char *from_domain,
					 char *why, size_t whylen);
/* Rank for comparison: none 0 < quarantine 1 < reject 2. */
int dmarc_policy_rank(enum dmarc_policy p);
/* "none" | "quarantine" | "reject" -> policy; -1 for anything else. */
int dmarc_policy_parse(const char *name);
const char *dmarc_policy_name(enum dmarc_policy p);
/* A record applies and its effective policy is at least min. */
bool dmarc_policy_meets(const struct dmarc_record *rec, const char *from_domain,
			enum dmarc_policy min, char *why, size_t whylen);

/* Predicted DMARC alignment: (a) a DKIM d= in dkim_domains (signed or
 * verified) aligns with from_domain under adkim, or (b) spf_pass and
 * mailfrom_domain aligns under aspf. why (may be NULL) names the aligned
 * identifier or every reason it did not align. */
bool dmarc_aligned(const struct dmarc_record *rec, const char *from_domain,
		   const char *const *dkim_domains, size_t n, const char *mailfrom_domain,
		   bool spf_pass, char *why, size_t whylen);

const char *dmarc_status_name(enum dmarc_status s); /* none found dns-error badname */
const char *dmarc_method_name(enum dmarc_method m); /* none exact psl treewalk */

#endif
