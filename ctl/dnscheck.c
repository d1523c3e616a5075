/*
 * dnscheck.c - `bulkwardenctl dns-check [ID] [--json]` (SPEC §6): the live
 * SPF, DKIM and DMARC records of every identity (or the one named) against
 * the registry, asked through the same resolver the milter uses (the
 * registry's dns.nameservers and dns.timeout).
 *
 * One row per fact checked, printed as it is learnt (a table, or with
 * --json an array of objects):
 *   spf        each envelope domain x each relay.egress_ips address:
 *              the result must be pass (lookup count shown);
 *   dkim       each dkim key: the TXT record at selector._domainkey.domain
 *              must carry the registered public key (SubjectPublicKeyInfo
 *              SHA-256 compared: keyfile_inspect() on the key file, OpenSSL
 *              on the DNS p= value), with a matching k=;
 *   dmarc      each from domain: a record applies and its effective policy
 *              is at least the identity's min_dmarc_policy;
 *   dmarc-rua  that record names at least one aggregate report URI;
 *   alignment  a DKIM d= of the identity, or an envelope domain whose SPF
 *              passes for every egress IP, aligns with the from domain.
 * Wildcard domains ("*.bounce.example.com") cannot be asked and are shown
 * as skipped. Status: ok, FAIL, dns-error (a lookup timed out or failed:
 * nothing is known), skip. Exit 1 when any row is FAIL or dns-error.
 *
 * Untrusted input: every DNS answer. Table cells go through out_esc(),
 * JSON through jbuf. Memory: the resolver, SPF checker and PSL live for
 * the call and are freed before returning; OpenSSL objects per key.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "ctl/dnscheck.h"
#include "ctl/verbs.h"
#include "dns/dmarc.h"
#include "dns/resolver.h"
#include "dns/spf.h"
#include "registry/keyfile.h"

#define DNSCHECK_DETAIL_MAX 640
#define DNSCHECK_SUBJECT_MAX 128
#define DKIM_P_MAX 8192 /* base64 characters of p= we decode */
#define DKIM_QNAME_MAX (DMARC_DOMAIN_MAX + 80)

_Static_assert((int)BW_DMARC_NONE == (int)DMARC_P_NONE &&
		   (int)BW_DMARC_QUARANTINE == (int)DMARC_P_QUARANTINE &&
		   (int)BW_DMARC_REJECT == (int)DMARC_P_REJECT,
	       "enum bw_dmarc_p and enum dmarc_policy rank the same way");

enum st { ST_OK, ST_FAIL, ST_DNS, ST_SKIP };

/* One row, with the optional facts its JSON object carries. */
struct row {
	const char *identity, *check, *domain;
	const char *subject;
	enum st st;
	char detail[DNSCHECK_DETAIL_MAX];
	const struct spf_result *spf;
	const struct dmarc_record *dmarc;
	int policy, required; /* dmarc: effective and required, -1 unset */
	int aligned;	      /* alignment: 0/1, -1 unset */
	const char *dnssec;   /* with dns.dnssec: signed, unsigned, bogus */
	bool missing;	      /* dkim: no key record published (not another key) */
};

/* Where rows go: printed (dns-check), or to sink (report --dns). */
typedef void (*row_sink_fn)(void *ctx, const struct row *r);

struct run {
	struct ctl *c;
	struct resolver *res;
	struct spf_checker *spf;
	const struct resolver_budget *budget; /* NULL: each lookup its own timeout */
	row_sink_fn sink;
	void *sink_ctx;
	struct out_array arr;
	unsigned rows, failed;
};

/* What dnscheck_open() returns: the lookup machinery of one run. */
struct dnscheck {
	struct run run;
	const struct bw_settings *set;
};

static void say(char *buf, size_t len, const char *fmt, ...) BW_PRINTF(3, 4);

/* Text for people: truncation is acceptable. */
static void
say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Status word of a row (upper-case FAIL in tables). */
static const char *
st_name(enum st s, bool json)
{
	switch (s) {
	case ST_OK:
		return "ok";
	case ST_FAIL:
		return json ? "fail" : "FAIL";
	case ST_DNS:
		return "dns-error";
	case ST_SKIP:
		return "skip";
	}
	return "fail";
}

/* Print one row (table line or array element) and count failures. */
static void
emit(struct run *run, const struct row *r)
{
	static struct jbuf j;
	run->rows++;
	if (r->st == ST_FAIL || r->st == ST_DNS)
		run->failed++;
	if (run->sink != NULL) {
		run->sink(run->sink_ctx, r);
		return;
	}
	if (!run->c->json) {
		char e1[CTL_ESC_MAX], e2[CTL_ESC_MAX], e3[CTL_ESC_MAX], e4[CTL_ESC_MAX];
		printf("%-16s  %-9s  %-28s  %-22s  %-9s  %s%s%s%s\n",
		       out_esc(r->identity, e1, sizeof(e1)), r->check,
		       out_esc(r->domain, e2, sizeof(e2)), out_esc(r->subject, e3, sizeof(e3)),
		       st_name(r->st, false), out_esc(r->detail, e4, sizeof(e4)),
		       r->dnssec ? " [DNSSEC " : "", r->dnssec ? r->dnssec : "",
		       r->dnssec ? "]" : "");
		fflush(stdout);
		return;
	}
	jbuf_begin(&j);
	jbuf_str(&j, "identity", r->identity);
	jbuf_str(&j, "check", r->check);
	jbuf_str(&j, "domain", r->domain);
	jbuf_str(&j, "subject", r->subject);
	jbuf_str(&j, "status", st_name(r->st, true));
	jbuf_str(&j, "detail", r->detail);
	if (r->dnssec != NULL)
		jbuf_str(&j, "dnssec", r->dnssec);
	if (r->spf != NULL) {
		jbuf_str(&j, "ip", r->subject);
		jbuf_str(&j, "result", spf_res_name(r->spf->result));
		jbuf_num(&j, "lookups", r->spf->lookups);
		jbuf_num(&j, "lookup_limit", SPF_LOOKUP_LIMIT);
		jbuf_num(&j, "void_lookups", r->spf->void_lookups);
	}
	if (r->dmarc != NULL && r->dmarc->status == DMARC_FOUND) {
		const struct dmarc_record *d = r->dmarc;
		jbuf_str(&j, "record_domain", d->domain);
		jbuf_str(&j, "method", dmarc_method_name(d->method));
		jbuf_str(&j, "org_domain", d->org_domain);
		jbuf_str(&j, "psl_org_domain", d->psl_org_domain);
		jbuf_str(&j, "p", dmarc_policy_name(d->p));
		if (d->sp_set)
			jbuf_str(&j, "sp", dmarc_policy_name(d->sp));
		jbuf_num(&j, "rua_count", d->n_rua);
		jbuf_str(&j, "rua", d->rua);
		jbuf_str(&j, "record", d->text);
	}
	if (r->policy >= 0)
		jbuf_str(&j, "policy", dmarc_policy_name((enum dmarc_policy)r->policy));
	if (r->required >= 0)
		jbuf_str(&j, "required", dmarc_policy_name((enum dmarc_policy)r->required));
	if (r->aligned >= 0)
		jbuf_bool(&j, "aligned", r->aligned == 1);
	jbuf_end(&j);
	out_array_add(&run->arr, &j);
}

/* A row with no optional facts. */
static struct row
row_new(const struct bw_identity *id, const char *check, const char *domain, const char *subject)
{
	return (struct row){.identity = id->id,
			    .check = check,
			    .domain = domain,
			    .subject = subject,
			    .policy = -1,
			    .required = -1,
			    .aligned = -1};
}

/* ---- SPF ---------------------------------------------------------------- */

/* The SPF rows of one envelope domain of id: each egress IP must pass.
 * true when it passes for every one of them (for the alignment row). */
static bool
check_spf_domain(struct run *run, const struct bw_identity *id, const struct bw_settings *set,
		 const char *dom)
{
	if (strncmp(dom, "*.", 2) == 0) {
		struct row r = row_new(id, "spf", dom, "-");
		r.st = ST_SKIP;
		say(r.detail, sizeof(r.detail), "wildcard: check each subdomain you send from");
		emit(run, &r);
		return false;
	}
	/* the identity's own egress addresses override the relay's */
	const char *const *ips = id->n_egress_ips ? id->egress_ips : set->egress_ips;
	size_t n_ips = id->n_egress_ips ? id->n_egress_ips : set->n_egress_ips;
	if (n_ips == 0) {
		struct row r = row_new(id, "spf", dom, "-");
		r.st = ST_FAIL;
		say(r.detail, sizeof(r.detail),
		    "relay.egress_ips is empty: SPF cannot be predicted");
		emit(run, &r);
		return false;
	}
	bool all_pass = true;
	for (size_t i = 0; i < n_ips; i++) {
		struct spf_result res;
		struct row r = row_new(id, "spf", dom, ips[i]);
		spf_check_within(run->spf, run->budget, dom, ips[i], &res);
		r.spf = &res;
		if (resolver_dnssec(run->res))
			r.dnssec = spf_dnssec_name(res.dnssec);
		r.st = res.result == SPF_RES_PASS   ? ST_OK
		       : res.class == SPF_CLASS_DNS ? ST_DNS
						    : ST_FAIL;
		if (res.result != SPF_RES_PASS)
			all_pass = false;
		say(r.detail, sizeof(r.detail), "%s (%u/%d DNS lookups): %s",
		    spf_res_name(res.result), res.lookups, SPF_LOOKUP_LIMIT, res.explanation);
		emit(run, &r);
	}
	return all_pass;
}

/* SPF rows for one identity; *all_pass[d] tells which envelope domains
 * pass for every egress IP (for the alignment row). */
static void
check_spf(struct run *run, const struct bw_identity *id, const struct bw_settings *set,
	  bool *all_pass)
{
	for (size_t d = 0; d < id->n_envelope_domains; d++)
		all_pass[d] = check_spf_domain(run, id, set, id->envelope_domains[d]);
}

/* ---- DKIM --------------------------------------------------------------- */

/* Value of tag name in a DKIM tag-list (RFC 6376 §3.2) into out (bounded);
 * false when absent. Whitespace inside the value is dropped (p= is FWS-
 * folded base64). first: the tag must be the first one. */
static bool
dkim_tag(const char *txt, const char *name, bool first, char *out, size_t outlen)
{
	const char *p = txt;
	size_t nl = strlen(name);
	for (int idx = 0; *p; idx++) {
		p += strspn(p, " \t\r\n");
		const char *semi = strchr(p, ';');
		size_t taglen = semi ? (size_t)(semi - p) : strlen(p);
		const char *eq = memchr(p, '=', taglen);
		if (eq != NULL) {
			size_t kl = (size_t)(eq - p);
			while (kl > 0 && strchr(" \t\r\n", p[kl - 1]))
				kl--;
			if (kl == nl && strncasecmp(p, name, nl) == 0) {
				if (first && idx != 0)
					return false;
				size_t o = 0;
				for (const char *v = eq + 1; v < p + taglen; v++) {
					if (strchr(" \t\r\n", *v))
						continue;
					if (o + 1 >= outlen)
						return false; /* longer than we accept */
					out[o++] = *v;
				}
				out[o] = '\0';
				return true;
			}
		}
		if (semi == NULL)
			break;
		p = semi + 1;
	}
	return false;
}

/* SHA-256 of the SubjectPublicKeyInfo DER of the published key p (base64)
 * for algorithm k ("rsa" / "ed25519"). Returns 0, or -1 with a reason. */
static int
dns_key_sha256(const char *k, const char *p64, unsigned char sha[32], char *why, size_t wlen)
{
	size_t n = strlen(p64);
	unsigned char *raw = malloc(n / 4 * 3 + 4);
	EVP_PKEY *pk = NULL;
	unsigned char *der = NULL;
	int rc = -1;
	if (raw == NULL) {
		say(why, wlen, "out of memory");
		return -1;
	}
	int len = n % 4 == 0 ? EVP_DecodeBlock(raw, (const unsigned char *)p64, (int)n) : -1;
	if (len < 0) {
		say(why, wlen, "p= is not base64");
		goto out;
	}
	len -= (n > 0 && p64[n - 1] == '=') + (n > 1 && p64[n - 2] == '=');
	if (strcasecmp(k, "ed25519") == 0) {
		if (len != 32) {
			say(why, wlen, "k=ed25519 but p= holds %d bytes, not 32", len);
			goto out;
		}
		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	} else {
		const unsigned char *q = raw;
		pk = d2i_PUBKEY(NULL, &q, len); /* SubjectPublicKeyInfo (RFC 6376) */
		if (pk == NULL) {
			q = raw; /* some publish a bare PKCS#1 RSAPublicKey */
			pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, len);
		}
		if (pk != NULL && EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
			say(why, wlen, "k=rsa but p= is not an RSA key");
			goto out;
		}
	}
	if (pk == NULL) {
		say(why, wlen, "p= does not decode as a %s public key", k);
		goto out;
	}
	int dl = i2d_PUBKEY(pk, &der);
	if (dl <= 0) {
		say(why, wlen, "cannot encode the published key");
		goto out;
	}
	SHA256(der, (size_t)dl, sha);
	rc = 0;
out:
	OPENSSL_free(der);
	EVP_PKEY_free(pk);
	free(raw);
	ERR_clear_error();
	return rc;
}

/* First 8 bytes of a digest as hex, for messages. */
static const char *
short_hex(const unsigned char *d, char buf[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(buf + 2 * i, 3, "%02x", d[i]);
	return buf;
}

/* The dkim row of one key; true when the published key is the registered one. */
static bool
check_dkim_key(struct run *run, const struct bw_identity *id, const struct bw_dkim_key *key)
{
	char qname[DKIM_QNAME_MAX], kerr[256], tag[16], fp1[17], fp2[17];
	struct resolver_answer a;
	struct keyfile_info info;
	unsigned char sha[32];
	char *p64 = NULL;
	struct row r = row_new(id, "dkim", key->domain, key->selector);
	const char *alg = key->alg == BW_KEY_ED25519 ? "ed25519" : "rsa";

	r.st = ST_FAIL;
	say(qname, sizeof(qname), "%s._domainkey.%s", key->selector, key->domain);
	enum resolver_status st = resolver_txt_within(run->res, run->budget, qname, &a);
	if (resolver_dnssec(run->res))
		r.dnssec = st == RESOLVER_BOGUS ? "bogus" : a.secure ? "signed" : "unsigned";
	if (resolver_status_temporary(st)) {
		r.st = ST_DNS;
		say(r.detail, sizeof(r.detail), "%s TXT: %s (%s)", qname, resolver_status_name(st),
		    a.detail);
		goto out;
	}
	if (st != RESOLVER_OK) {
		r.missing = true;
		say(r.detail, sizeof(r.detail), "no key record at %s (%s)", qname,
		    resolver_status_name(st));
		goto out;
	}
	/* the records that are key records: they have a p= tag */
	p64 = malloc(DKIM_P_MAX + 1);
	if (p64 == NULL) {
		say(r.detail, sizeof(r.detail), "out of memory");
		goto out;
	}
	const char *txt = NULL;
	int nkeys = 0;
	for (size_t i = 0; i < a.n; i++) {
		if (strlen((const char *)a.rr[i].data) != a.rr[i].len)
			continue; /* NUL inside: not a key record */
		if (dkim_tag((const char *)a.rr[i].data, "p", false, p64, DKIM_P_MAX + 1)) {
			nkeys++;
			txt = (const char *)a.rr[i].data;
		}
	}
	if (nkeys == 0) {
		r.missing = true;
		say(r.detail, sizeof(r.detail), "%s has no DKIM key record (no p= tag)", qname);
		goto out;
	}
	if (nkeys > 1) {
		say(r.detail, sizeof(r.detail), "%d key records at %s: ambiguous", nkeys, qname);
		goto out;
	}
	dkim_tag(txt, "p", false, p64, DKIM_P_MAX + 1);
	if (dkim_tag(txt, "v", false, tag, sizeof(tag)) &&
	    (!dkim_tag(txt, "v", true, tag, sizeof(tag)) || strcmp(tag, "DKIM1") != 0)) {
		say(r.detail, sizeof(r.detail), "%s: v= must be first and DKIM1", qname);
		goto out;
	}
	if (!dkim_tag(txt, "k", false, tag, sizeof(tag)))
		bw_strlcpy(tag, "rsa", sizeof(tag));
	if (strcasecmp(tag, alg) != 0) {
		say(r.detail, sizeof(r.detail), "%s publishes k=%s, the registered key is %s",
		    qname, tag, alg);
		goto out;
	}
	if (p64[0] == '\0') {
		say(r.detail, sizeof(r.detail), "%s: key revoked (empty p=)", qname);
		goto out;
	}
	if (dns_key_sha256(tag, p64, sha, kerr, sizeof(kerr)) != 0) {
		say(r.detail, sizeof(r.detail), "%s: %s", qname, kerr);
		goto out;
	}
	if (keyfile_inspect(key->path, !key->is_public, &info, kerr, sizeof(kerr)) != 0) {
		say(r.detail, sizeof(r.detail), "registered key %s: %s", key->path, kerr);
		goto out;
	}
	if (memcmp(sha, info.spki_sha256, sizeof(sha)) != 0) {
		say(r.detail, sizeof(r.detail),
		    "%s publishes another key (sha256 %s...) than %s (sha256 %s...)", qname,
		    short_hex(sha, fp1), key->path, short_hex(info.spki_sha256, fp2));
		goto out;
	}
	r.st = ST_OK;
	char flags[16] = "";
	bool testing = dkim_tag(txt, "t", false, flags, sizeof(flags)) && strchr(flags, 'y');
	say(r.detail, sizeof(r.detail), "%s matches %s (%s %d bits)%s", qname, key->path, alg,
	    info.bits, testing ? "; t=y: receivers treat the key as testing" : "");
out:
	resolver_answer_free(&a);
	free(p64);
	emit(run, &r);
	return r.st == ST_OK;
}

/* ---- DMARC -------------------------------------------------------------- */

/* The dmarc, dmarc-rua and alignment rows of one from domain. dk[n]: the
 * DKIM d= domains whose published key checked out (only those can give a
 * receiver an aligned signature); spf_pass[]: per envelope domain. */
static void
check_dmarc(struct run *run, const struct bw_identity *id, const char *from, const char *const *dk,
	    size_t n_dk, const bool *spf_pass)
{
	struct dmarc_record rec;
	char why[DMARC_DETAIL_MAX];
	struct row r = row_new(id, "dmarc", from, "-");

	if (strncmp(from, "*.", 2) == 0) {
		r.st = ST_SKIP;
		say(r.detail, sizeof(r.detail), "wildcard: check each subdomain you send from");
		emit(run, &r);
		return;
	}
	dmarc_lookup_within(run->res, run->budget, from, &rec);
	r.dmarc = &rec;
	if (resolver_dnssec(run->res))
		r.dnssec =
		    rec.bogus ? "bogus"
		    : rec.status == DMARC_FOUND
			? (rec.record_secure ? "signed" : "unsigned")
			: (rec.queries > 0 && rec.secure == rec.queries ? "signed" : "unsigned");
	r.required = (int)id->min_dmarc_policy;
	if (rec.status == DMARC_DNS_ERROR) {
		r.st = ST_DNS;
		say(r.detail, sizeof(r.detail), "%s", rec.detail);
		emit(run, &r);
		return;
	}
	if (rec.status != DMARC_FOUND) {
		r.st = ST_FAIL;
		say(r.detail, sizeof(r.detail), "no DMARC record applies to %s%s%s", from,
		    rec.detail[0] ? ": " : "", rec.detail);
		emit(run, &r);
		return;
	}
	char subj[DMARC_DOMAIN_MAX + 8];
	say(subj, sizeof(subj), "_dmarc.%s", rec.domain);
	r.subject = subj;
	bool ok = dmarc_policy_meets(&rec, from, (enum dmarc_policy)id->min_dmarc_policy, why,
				     sizeof(why));
	r.policy = (int)dmarc_effective_policy(&rec, from, NULL, 0);
	r.st = ok ? ST_OK : ST_FAIL;
	say(r.detail, sizeof(r.detail), "%s; found by %s%s%s%s", why, dmarc_method_name(rec.method),
	    rec.legacy_found && strcmp(rec.legacy_domain, rec.domain) != 0
		? "; PSL-based receivers use "
		: "",
	    rec.legacy_found && strcmp(rec.legacy_domain, rec.domain) != 0 ? rec.legacy_domain : "",
	    !rec.legacy_found && rec.method == DMARC_METHOD_TREEWALK
		? "; PSL-based receivers find no record"
		: "");
	emit(run, &r);

	struct row u = row_new(id, "dmarc-rua", from, subj);
	u.dmarc = &rec;
	u.st = rec.n_rua > 0 ? ST_OK : ST_FAIL;
	say(u.detail, sizeof(u.detail), "%s",
	    rec.n_rua > 0 ? rec.rua : "no rua=: nobody receives aggregate reports");
	emit(run, &u);

	/* alignment: a DKIM d= with a good key, or an SPF-passing envelope domain */
	struct row al = row_new(id, "alignment", from, "-");
	char spfwhy[DMARC_DETAIL_MAX] = "";
	bool aligned = dmarc_aligned(&rec, from, dk, n_dk, NULL, false, why, sizeof(why));
	bool any_pass = false;
	for (size_t d = 0; d < id->n_envelope_domains && !aligned; d++) {
		if (!spf_pass[d])
			continue;
		any_pass = true;
		aligned = dmarc_aligned(&rec, from, NULL, 0, id->envelope_domains[d], true, spfwhy,
					sizeof(spfwhy));
	}
	al.aligned = aligned;
	al.st = aligned ? ST_OK : ST_FAIL;
	if (aligned)
		say(al.detail, sizeof(al.detail), "%s", spfwhy[0] ? spfwhy : why);
	else
		say(al.detail, sizeof(al.detail), "%s; %s", why,
		    any_pass ? spfwhy : "no envelope domain passes SPF for every egress IP");
	emit(run, &al);
}

/* ---- the verb ----------------------------------------------------------- */

/* Every row of one identity. */
static void
check_identity(struct run *run, const struct bw_identity *id, const struct bw_settings *set)
{
	bool *spf_pass = calloc(id->n_envelope_domains + 1, sizeof(*spf_pass));
	const char **dk = calloc(id->n_dkim + 1, sizeof(*dk));
	size_t n_dk = 0;
	if (spf_pass == NULL || dk == NULL) {
		ctl_err("out of memory");
		run->failed++;
		goto out;
	}
	check_spf(run, id, set, spf_pass);
	for (size_t k = 0; k < id->n_dkim; k++)
		if (check_dkim_key(run, id, &id->dkim[k]))
			dk[n_dk++] = id->dkim[k].domain;
	for (size_t f = 0; f < id->n_from_domains; f++)
		check_dmarc(run, id, id->from_domains[f], dk, n_dk, spf_pass);
out:
	free(dk);
	free(spf_pass);
}

/* The verb: parse [ID] and --json, check every identity, exit 1 on a problem. */
int
ctl_dns_check(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	char err[256], esc[CTL_ESC_MAX];
	struct run run = {.c = c};
	int rc = ctl_args_parse(c, argc, argv, "j", 1, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;

	struct registry *reg = ctl_registry(c);
	const struct bw_settings *set = &reg->set;
	const struct bw_identity *only = NULL;
	if (a.npos == 1 && (only = registry_by_id(reg, a.pos[0])) == NULL) {
		ctl_err("no identity \"%s\" in %s", out_esc(a.pos[0], esc, sizeof(esc)),
			c->conf_path);
		return CTL_FAIL;
	}
	struct dnscheck *dc = dnscheck_open(set, err, sizeof(err));
	if (dc == NULL) {
		ctl_err("%s", err);
		return CTL_FAIL;
	}
	run.res = dc->run.res;
	run.spf = dc->run.spf;

	if (c->json)
		out_array_begin(&run.arr);
	else
		printf("%-16s  %-9s  %-28s  %-22s  %-9s  %s\n", "IDENTITY", "CHECK", "DOMAIN",
		       "SUBJECT", "STATUS", "DETAIL");
	for (size_t i = 0; i < reg->n_ids; i++)
		if (only == NULL || &reg->ids[i] == only)
			check_identity(&run, &reg->ids[i], set);
	if (c->json)
		out_array_end(&run.arr);
	else
		printf("%u checks, %u failed\n", run.rows, run.failed);

	dnscheck_close(dc);
	return run.failed ? CTL_FAIL : CTL_OK;
}

/* ---- shared with report --dns -------------------------------------------- */

struct dnscheck *
dnscheck_open(const struct bw_settings *set, char *err, size_t errlen)
{
	struct dnscheck *dc = calloc(1, sizeof(*dc));
	if (dc == NULL) {
		say(err, errlen, "out of memory");
		return NULL;
	}
	const struct resolver_conf rconf = {
	    .nameservers = set->nameservers,
	    .n_nameservers = set->n_nameservers,
	    .timeout_s = set->dns_timeout,
	    .cache_ttl = set->dns_cache_ttl,
	    .dnssec = set->dns_dnssec,
	    .trust_anchor = set->dns_trust_anchor,
	};
	dc->set = set;
	dc->run.res = resolver_new(&rconf, err, errlen);
	if (dc->run.res == NULL) {
		free(dc);
		return NULL;
	}
	dc->run.spf = spf_new(dc->run.res);
	if (dc->run.spf == NULL) {
		say(err, errlen, "cannot create the SPF checker");
		resolver_free(dc->run.res);
		free(dc);
		return NULL;
	}
	if (dmarc_psl_load(NULL, err, errlen) != 0)
		fprintf(stderr,
			"bulkwardenctl: Public Suffix List unavailable (%s): "
			"organizational domains by the DNS tree walk only\n",
			err);
	err[0] = '\0';
	return dc;
}

void
dnscheck_close(struct dnscheck *dc)
{
	if (dc == NULL)
		return;
	spf_free(dc->run.spf);
	resolver_free(dc->run.res);
	dmarc_psl_free();
	free(dc);
}

/* Rank of a word in a worst-first list (index; the first is the worst). */
static int
rank(const char *w, const char *const *worst_first)
{
	for (int i = 0; worst_first[i] != NULL; i++)
		if (strcmp(w, worst_first[i]) == 0)
			return i;
	return 99;
}

/* Keep the worse of *cur and w. */
static void
worse(const char **cur, const char *w, const char *const *worst_first)
{
	if (*cur == NULL || rank(w, worst_first) < rank(*cur, worst_first))
		*cur = w;
}

static const char *const spf_order[] = {"error", "fail", "none", "pass", NULL};
static const char *const dkim_order[] = {"error", "mismatch", "missing", "ok", NULL};

struct posture_acc {
	struct dns_posture *p;
	bool dnssec_on;
	int dmarc_ok; /* the dmarc row met the required policy: -1 not seen */
	unsigned n_signed, n_unsigned, n_bogus;
	char why[3][DNS_POSTURE_DETAIL_MAX]; /* first problem: spf, dkim, dmarc */
};

/* report --dns: fold each row into the domain's posture. */
static void
posture_sink(void *ctx, const struct row *r)
{
	struct posture_acc *acc = ctx;
	struct dns_posture *p = acc->p;
	if (strcmp(r->check, "spf") == 0) {
		const char *w = r->st == ST_DNS					   ? "error"
				: r->spf != NULL && r->spf->result == SPF_RES_PASS ? "pass"
				: r->spf != NULL && r->spf->result == SPF_RES_NONE ? "none"
										   : "fail";
		worse(&p->spf, w, spf_order);
	} else if (strcmp(r->check, "dkim") == 0) {
		const char *w = r->st == ST_OK	  ? "ok"
				: r->st == ST_DNS ? "error"
				: r->missing	  ? "missing"
						  : "mismatch";
		worse(&p->dkim, w, dkim_order);
	} else if (strcmp(r->check, "dmarc") == 0) {
		if (r->st == ST_DNS) {
			p->dmarc = "error";
		} else if (r->dmarc != NULL && r->dmarc->status == DMARC_FOUND) {
			p->dmarc = "found";
			if (r->policy >= 0)
				p->dmarc_policy = dmarc_policy_name((enum dmarc_policy)r->policy);
		} else {
			p->dmarc = "none";
		}
		acc->dmarc_ok = r->st == ST_OK;
	} else {
		return; /* dmarc-rua, alignment: dns-check's business */
	}
	if (r->dnssec != NULL) {
		if (strcmp(r->dnssec, "bogus") == 0)
			acc->n_bogus++;
		else if (r->st != ST_DNS && strcmp(r->dnssec, "signed") == 0)
			acc->n_signed++;
		else if (r->st != ST_DNS)
			acc->n_unsigned++;
	}
	char *why = acc->why[r->check[1] == 'p' ? 0 : r->check[1] == 'k' ? 1 : 2];
	if (why[0] == '\0' && (r->st == ST_FAIL || r->st == ST_DNS))
		say(why, DNS_POSTURE_DETAIL_MAX, "%s %s: %s", r->check, r->subject, r->detail);
}

void
dnscheck_domain(struct dnscheck *dc, const struct registry *r, const char *domain,
		const size_t *ids, size_t n_ids, struct dns_posture *out)
{
	struct resolver_budget budget;
	struct posture_acc acc = {
	    .p = out, .dnssec_on = resolver_dnssec(dc->run.res), .dmarc_ok = -1};
	const struct bw_identity *env = NULL, *from = NULL;
	memset(out, 0, sizeof(*out));
	if (n_ids == 0 || strncmp(domain, "*.", 2) == 0)
		return; /* a wildcard cannot be asked */
	for (size_t k = 0; k < n_ids; k++) {
		const struct bw_identity *id = &r->ids[ids[k]];
		for (size_t d = 0; env == NULL && d < id->n_envelope_domains; d++)
			if (strcasecmp(id->envelope_domains[d], domain) == 0)
				env = id;
		for (size_t d = 0; from == NULL && d < id->n_from_domains; d++)
			if (strcasecmp(id->from_domains[d], domain) == 0)
				from = id;
	}
	const struct bw_identity *first = &r->ids[ids[0]];
	bool *no_pass =
	    calloc(first->n_envelope_domains + (from ? from->n_envelope_domains : 0) + 1,
		   sizeof(*no_pass));
	if (no_pass == NULL) {
		out->checked = true;
		out->spf = out->dkim = out->dmarc = "error";
		out->dmarc_policy = "";
		out->dnssec = "unknown";
		out->bad = true;
		say(out->detail, sizeof(out->detail), "out of memory");
		return;
	}
	resolver_budget_start(&budget, dc->run.res);
	dc->run.budget = &budget;
	dc->run.sink = posture_sink;
	dc->run.sink_ctx = &acc;
	out->checked = true;
	check_spf_domain(&dc->run, env ? env : first, dc->set, domain);
	for (size_t k = 0; k < n_ids; k++) {
		const struct bw_identity *id = &r->ids[ids[k]];
		for (size_t i = 0; i < id->n_dkim; i++)
			if (strcasecmp(id->dkim[i].domain, domain) == 0)
				check_dkim_key(&dc->run, id, &id->dkim[i]);
	}
	check_dmarc(&dc->run, from ? from : first, domain, NULL, 0, no_pass);
	dc->run.budget = NULL;
	dc->run.sink = NULL;
	free(no_pass);

	if (out->spf == NULL)
		out->spf = "fail"; /* no row: cannot happen past the wildcard test */
	if (out->dkim == NULL)
		out->dkim = "none";
	if (out->dmarc == NULL)
		out->dmarc = "none";
	if (out->dmarc_policy == NULL)
		out->dmarc_policy = "";
	out->dnssec = !acc.dnssec_on   ? "unknown"
		      : acc.n_bogus    ? "bogus"
		      : acc.n_unsigned ? "unsigned"
		      : acc.n_signed   ? "signed"
				       : "unknown";
	bool bad_spf = env != NULL && strcmp(out->spf, "pass") != 0;
	bool bad_dkim = strcmp(out->dkim, "ok") != 0 && strcmp(out->dkim, "none") != 0;
	bool bad_dmarc = from != NULL && acc.dmarc_ok != 1;
	out->bad = bad_spf || bad_dkim || bad_dmarc || strcmp(out->dnssec, "bogus") == 0;
	const char *why = bad_spf     ? acc.why[0]
			  : bad_dkim  ? acc.why[1]
			  : bad_dmarc ? acc.why[2]
				      : "";
	say(out->detail, sizeof(out->detail), "%s",
	    why[0] || !out->bad ? why : "DNSSEC validation failed (bogus)");
}

const char *
dns_posture_text(const struct dns_posture *p, char *buf, size_t len)
{
	if (!p->checked) {
		say(buf, len, "not checked");
		return buf;
	}
	bool found = strcmp(p->dmarc, "found") == 0;
	say(buf, len, "SPF %s, DKIM %s, DMARC %s%s, DNSSEC %s", p->spf, p->dkim, found ? "p=" : "",
	    found ? p->dmarc_policy : p->dmarc, p->dnssec);
	return buf;
}
