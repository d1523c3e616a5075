/*
 * dmarc.c - DMARC record discovery (RFC 9989 tree walk and the RFC 7489
 * Public Suffix List), record parsing, policy ranking and alignment
 * prediction (see dmarc.h for the contract).
 *
 * Public Suffix List: libpsl (psl_load_file() of Debian's publicsuffix
 * file, psl_registrable_domain()). The context is immutable once
 * published; readers load the pointer atomically. It is freed only by
 * dmarc_psl_free()/dmarc_psl_load(), which the caller runs while no
 * lookup is in flight.
 *
 * Parser: libopendmarc's (opendmarc_policy_parse_dmarc and the fetch
 * accessors) under a small layer of ours: one bounded pass over the TXT
 * string (at most DMARC_RECORD_MAX bytes, DMARC_TAGS_MAX tags) selects
 * the record, takes np/psd/t and rebuilds the record libopendmarc gets;
 * the p=none-by-rua rule runs after it. dmarc.h says which part is whose.
 *
 * Tree walk: targets are the From domain, then its parent (or its 7
 * rightmost labels when it has 8 or more), then one label less each time,
 * down to the top-level domain: at most DMARC_WALK_MAX queries of
 * _dmarc.<target> TXT, all under one resolver budget. A target with more
 * than one v=DMARC1 record counts as having none; psd=y/psd=n stops the
 * walk. The walk's per-level records live in one heap block per lookup.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libpsl.h>
#include <opendmarc/dmarc.h>

#include "dns/dmarc.h"
#include "base/util.h"

static psl_ctx_t *g_psl;    /* atomic pointer */
static bool g_psl_explicit; /* dmarc_psl_load() ran: no lazy load */
static pthread_once_t g_psl_once = PTHREAD_ONCE_INIT;

/* One tree walk level that had exactly one valid record. */
struct level {
	const char *name; /* points into the normalized From domain */
	struct dmarc_record rec;
};

static void note(char *buf, size_t len, const char *fmt, ...) BW_PRINTF(3, 4);
static void put(char *buf, size_t len, const char *fmt, ...) BW_PRINTF(3, 4);

/* snprintf for text meant for people: a truncated line is acceptable. */
static void
put(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Append a "; "-separated note to buf (truncation is fine: advisory). */
static void
note(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	if (used + 3 >= len)
		return;
	if (used > 0) {
		memcpy(buf + used, "; ", 3);
		used += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* Copy at most outlen-1 bytes of in, each non-printable byte as '?'. */
static void
printable(char *out, size_t outlen, const char *in, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)in[i];
		out[o++] = (ch < 0x20 || ch > 0x7e) ? '?' : (char)ch;
	}
	out[o] = '\0';
}

/* Normalize a domain: lowercase, no trailing dot, LDH/underscore labels
 * of 1..63 bytes, at most DMARC_DOMAIN_MAX. */
static bool
norm_domain(const char *in, char *out)
{
	if (in == NULL)
		return false;
	size_t n = strlen(in);
	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0 || n > DMARC_DOMAIN_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum(ch) || ch == '-' || ch == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
		out[i] = (char)tolower(ch);
	}
	out[n] = '\0';
	return label > 0;
}

/* Number of labels of a normalized name. */
static size_t
count_labels(const char *d)
{
	size_t n = 1;
	for (; *d; d++)
		if (*d == '.')
			n++;
	return n;
}

/* The rightmost k labels of d (k <= labels of d). */
static const char *
suffix_of(const char *d, size_t k)
{
	size_t n = count_labels(d);
	while (n > k) {
		d = strchr(d, '.') + 1;
		n--;
	}
	return d;
}

/* id is org or a subdomain of it. */
static bool
is_under(const char *id, const char *org)
{
	size_t li = strlen(id), lo = strlen(org);
	if (li == lo)
		return strcmp(id, org) == 0;
	return li > lo && id[li - lo - 1] == '.' && strcmp(id + li - lo, org) == 0;
}

/* ---- Public Suffix List (libpsl) -------------------------------------- */

/* Read the PSL file with libpsl and publish it. */
int
dmarc_psl_load(const char *path, char *err, size_t errlen)
{
	if (path == NULL)
		path = DMARC_PSL_PATH;
	__atomic_store_n(&g_psl_explicit, true, __ATOMIC_RELEASE);
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	psl_ctx_t *p = psl_load_file(path);
	if (p == NULL) {
		snprintf(err, errlen, "cannot load %s (libpsl)", path);
		return -1;
	}
	if (psl_suffix_count(p) <= 0) {
		snprintf(err, errlen, "%s: no rules", path);
		psl_free(p);
		return -1;
	}
	psl_free(__atomic_exchange_n(&g_psl, p, __ATOMIC_ACQ_REL));
	return 0;
}

/* Unpublish and free the list. */
void
dmarc_psl_free(void)
{
	psl_free(__atomic_exchange_n(&g_psl, NULL, __ATOMIC_ACQ_REL));
}

/* First use without dmarc_psl_load(): try the default path once. */
static void
psl_lazy(void)
{
	char err[128];
	if (!__atomic_load_n(&g_psl_explicit, __ATOMIC_ACQUIRE))
		(void)dmarc_psl_load(NULL, err, sizeof(err));
}

/* The published list (lazily loaded from the default path), or NULL. */
static const psl_ctx_t *
psl_get(void)
{
	if (!__atomic_load_n(&g_psl_explicit, __ATOMIC_ACQUIRE))
		pthread_once(&g_psl_once, psl_lazy);
	return __atomic_load_n(&g_psl, __ATOMIC_ACQUIRE);
}

/* Organizational Domain by the PSL: the registrable domain (public suffix
 * plus one label, libpsl's "*" default rule included); a name that is
 * itself a public suffix is its own. */
bool
dmarc_psl_org_domain(const char *domain, char *out)
{
	char d[DMARC_DOMAIN_MAX + 1];
	const psl_ctx_t *p = psl_get();
	out[0] = '\0';
	if (p == NULL || !norm_domain(domain, d))
		return false;
	const char *reg = psl_registrable_domain(p, d);
	bw_strlcpy(out, reg != NULL ? reg : d, DMARC_DOMAIN_MAX + 1);
	return true;
}

/* ---- record parser: a small layer over libopendmarc --------------------- */

/* libopendmarc copies each tag value into a 512-byte buffer and each rua
 * element into a 256-byte one (opendmarc_util_cleanup), one of exactly
 * that size without its terminator: only shorter ones are handed to it. */
#define LIB_VALUE_BUF 512
#define LIB_URI_BUF 256

/* libopendmarc's p/sp letter -> our policy. */
static enum dmarc_policy
lib_policy(int v)
{
	return v == DMARC_RECORD_P_REJECT	? DMARC_P_REJECT
	       : v == DMARC_RECORD_P_QUARANTINE ? DMARC_P_QUARANTINE
						: DMARC_P_NONE;
}

/* Whitespace allowed around tags and values. */
static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* v (length n) equals word, ignoring case. */
static bool
veq(const char *v, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(v, word, n) == 0;
}

/* none|quarantine|reject -> 0..2, -1 otherwise. */
static int
policy_value(const char *v, size_t n)
{
	if (veq(v, n, "none"))
		return DMARC_P_NONE;
	if (veq(v, n, "quarantine"))
		return DMARC_P_QUARANTINE;
	if (veq(v, n, "reject"))
		return DMARC_P_REJECT;
	return -1;
}

/* A reporting URI: scheme ":" something (RFC 3986 scheme, printable). */
static bool
uri_ok(const char *u)
{
	size_t i = 0;
	if (!isalpha((unsigned char)u[0]))
		return false;
	while (isalnum((unsigned char)u[i]) || u[i] == '+' || u[i] == '-' || u[i] == '.')
		i++;
	if (u[i] != ':' || u[i + 1] == '\0')
		return false;
	for (i++; u[i] != '\0'; i++)
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] > 0x7e)
			return false;
	return true;
}

/* Append "name=value;" to the record handed to libopendmarc. The caller
 * sized lib for the whole input; a value libopendmarc would copy into
 * its 512-byte (rua elements: 256-byte) buffers without room for the
 * terminator is not handed over (the tag is then absent). */
static void
lib_add(char *lib, size_t *used, const char *name, size_t nlen, const char *v, size_t vn)
{
	if (vn >= LIB_VALUE_BUF)
		return;
	if (veq(name, nlen, "rua"))
		for (size_t i = 0, start = 0; i <= vn; i++)
			if (i == vn || v[i] == ',') {
				if (i - start >= LIB_URI_BUF)
					return;
				start = i + 1;
			}
	memcpy(lib + *used, name, nlen);
	*used += nlen;
	lib[(*used)++] = '=';
	memcpy(lib + *used, v, vn);
	*used += vn;
	lib[(*used)++] = ';';
	lib[*used] = '\0';
}

/* Let libopendmarc parse lib; on success fill p, sp, adkim, aspf, pct and
 * the rua list (only syntactically valid URIs are counted and kept). */
static bool
lib_parse(char *lib, struct dmarc_record *out)
{
	DMARC_POLICY_T *pctx = opendmarc_policy_connect_init((u_char *)"0.0.0.0", 0);
	int p = 0, sp = 0, adkim = 0, aspf = 0, pct = 100;
	if (pctx == NULL)
		return false;
	bool ok = opendmarc_policy_parse_dmarc(pctx, (u_char *)"", (u_char *)lib) ==
		      DMARC_PARSE_OKAY &&
		  opendmarc_policy_fetch_p(pctx, &p) == DMARC_PARSE_OKAY &&
		  opendmarc_policy_fetch_sp(pctx, &sp) == DMARC_PARSE_OKAY &&
		  opendmarc_policy_fetch_adkim(pctx, &adkim) == DMARC_PARSE_OKAY &&
		  opendmarc_policy_fetch_aspf(pctx, &aspf) == DMARC_PARSE_OKAY &&
		  opendmarc_policy_fetch_pct(pctx, &pct) == DMARC_PARSE_OKAY;
	if (ok) {
		out->p = lib_policy(p);
		out->sp_set = sp != DMARC_RECORD_P_UNSPECIFIED;
		out->sp = out->sp_set ? lib_policy(sp) : DMARC_P_NONE;
		out->adkim = adkim == DMARC_RECORD_A_STRICT ? DMARC_STRICT : DMARC_RELAXED;
		out->aspf = aspf == DMARC_RECORD_A_STRICT ? DMARC_STRICT : DMARC_RELAXED;
		out->pct = pct >= 0 && pct <= 100 ? (unsigned)pct : 100;
		/* constant list, no buffer: fetch_rua then makes no DNS query */
		u_char **rua = opendmarc_policy_fetch_rua(pctx, NULL, 0, 1);
		size_t n = 0;
		for (size_t i = 0; rua != NULL && rua[i] != NULL; i++) {
			const char *u = (const char *)rua[i];
			if (!uri_ok(u))
				continue;
			if (out->n_rua++ > 0 && n + 1 < sizeof(out->rua))
				out->rua[n++] = ',';
			printable(out->rua + n, sizeof(out->rua) - n, u, strlen(u));
			n += strlen(out->rua + n);
		}
	}
	opendmarc_policy_connect_shutdown(pctx);
	return ok;
}

/* Parse one TXT string as a DMARC record (RFC 9989 §4.7 tags). */
enum dmarc_parse_rc
dmarc_parse(const char *txt, size_t len, struct dmarc_record *out)
{
	char lib[DMARC_RECORD_MAX + 16], first_rua[DMARC_RECORD_MAX + 1];
	size_t used = 0, i = 0;
	unsigned tags = 0;
	bool np_bad = false, have_rua = false;

	out->p = out->sp = out->np = DMARC_P_NONE;
	out->sp_set = out->np_set = out->p_implied = false;
	out->adkim = out->aspf = DMARC_RELAXED;
	out->pct = 100;
	out->testing = false;
	out->psd = DMARC_PSD_U;
	out->n_rua = 0;
	out->rua[0] = '\0';
	out->text[0] = '\0';
	lib[0] = first_rua[0] = '\0';
	if (txt == NULL || len > DMARC_RECORD_MAX || memchr(txt, '\0', len) != NULL)
		return DMARC_PARSE_NOT_DMARC;

	/* Split into tags: select the record (v=DMARC1 first), take np, psd
	 * and t, and hand the tags libopendmarc knows to it. */
	while (i < len && tags < DMARC_TAGS_MAX) {
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break;
		size_t ns = i;
		while (i < len && (isalnum((unsigned char)txt[i]) || txt[i] == '_'))
			i++;
		size_t nlen = i - ns;
		while (i < len && is_wsp(txt[i]))
			i++;
		bool has_eq = i < len && txt[i] == '=';
		if (has_eq)
			i++;
		while (i < len && is_wsp(txt[i]))
			i++;
		size_t vs = i;
		while (i < len && txt[i] != ';')
			i++;
		size_t ve = i;
		while (ve > vs && is_wsp(txt[ve - 1]))
			ve--;
		if (i < len)
			i++; /* the ';' */
		const char *name = txt + ns, *v = txt + vs;
		size_t vn = ve - vs;

		if (tags++ == 0) {
			/* RFC 7489 §6.3, RFC 9989: "v" first, value DMARC1 exactly */
			if (!has_eq || !veq(name, nlen, "v") || vn != 6 ||
			    memcmp(v, "DMARC1", 6) != 0)
				return DMARC_PARSE_NOT_DMARC;
			lib_add(lib, &used, "v", 1, "DMARC1", 6);
			continue;
		}
		if (!has_eq || nlen == 0)
			continue; /* malformed tag: ignored like an unknown one */
		/* RFC 9989 tags libopendmarc does not know (last one wins, as
		 * for libopendmarc's tags) */
		if (veq(name, nlen, "np")) {
			int pv = policy_value(v, vn);
			np_bad = pv < 0;
			out->np_set = pv >= 0;
			out->np = pv >= 0 ? (enum dmarc_policy)pv : DMARC_P_NONE;
		} else if (veq(name, nlen, "t")) {
			out->testing = veq(v, vn, "y");
		} else if (veq(name, nlen, "psd")) {
			out->psd = veq(v, vn, "y")   ? DMARC_PSD_Y
				   : veq(v, vn, "n") ? DMARC_PSD_N
						     : DMARC_PSD_U;
		} else if (veq(name, nlen, "p") || veq(name, nlen, "sp") ||
			   veq(name, nlen, "adkim") || veq(name, nlen, "aspf") ||
			   veq(name, nlen, "pct") || veq(name, nlen, "rua")) {
			if (veq(name, nlen, "rua") && !have_rua) {
				have_rua = true;
				memcpy(first_rua, v, vn);
				first_rua[vn] = '\0';
			}
			lib_add(lib, &used, name, nlen, v, vn);
		}
		/* v again, ruf, fo, rf, ri and unknown tags: not used here */
	}
	if (tags == 0)
		return DMARC_PARSE_NOT_DMARC; /* empty or blank */
	printable(out->text, sizeof(out->text), txt, len);

	if (lib_parse(lib, out) && !np_bad)
		return DMARC_PARSE_OK;
	/* libopendmarc rejected the record (no or bad p, bad sp or another
	 * bad value) or np is bad: RFC 7489 §6.6.3 / RFC 9989 act as if
	 * p=none was published when the record has a valid rua. */
	struct dmarc_record r = *out;
	r.n_rua = 0;
	r.rua[0] = '\0';
	used = 0;
	lib_add(lib, &used, "v", 1, "DMARC1", 6);
	lib_add(lib, &used, "p", 1, "none", 4);
	if (have_rua)
		lib_add(lib, &used, "rua", 3, first_rua, strlen(first_rua));
	if (!lib_parse(lib, &r) || r.n_rua == 0)
		return DMARC_PARSE_NO_POLICY;
	*out = r; /* p=none, no sp, relaxed, pct=100: libopendmarc's defaults */
	out->np = DMARC_P_NONE;
	out->np_set = false;
	out->p_implied = true;
	return DMARC_PARSE_OK;
}

/* ---- discovery ---------------------------------------------------------- */

/* Copy the parsed record fields of src into dst. */
static void
copy_fields(struct dmarc_record *dst, const struct dmarc_record *src)
{
	dst->p = src->p;
	dst->sp = src->sp;
	dst->np = src->np;
	dst->sp_set = src->sp_set;
	dst->np_set = src->np_set;
	dst->p_implied = src->p_implied;
	dst->adkim = src->adkim;
	dst->aspf = src->aspf;
	dst->pct = src->pct;
	dst->testing = src->testing;
	dst->psd = src->psd;
	dst->record_secure = src->record_secure;
	dst->n_rua = src->n_rua;
	memcpy(dst->rua, src->rua, sizeof(dst->rua));
	memcpy(dst->text, src->text, sizeof(dst->text));
}

/* Query _dmarc.<target>. Returns 1 with the single valid record in *rec,
 * 0 when there is none usable, -1 on a temporary DNS failure (out->status
 * and detail set). */
static int
query_level(struct resolver *r, const struct resolver_budget *b, const char *target,
	    struct dmarc_record *rec, struct dmarc_record *out)
{
	char qname[DMARC_DOMAIN_MAX + 16];
	struct resolver_answer a;
	int found = 0, dmarc = 0;

	snprintf(qname, sizeof(qname), "_dmarc.%s", target); /* long: resolver says badname */
	enum resolver_status st = resolver_txt_within(r, b, qname, &a);
	out->queries++;
	out->secure += a.secure;
	out->bogus |= st == RESOLVER_BOGUS;
	if (resolver_status_temporary(st)) {
		out->status = DMARC_DNS_ERROR;
		note(out->detail, sizeof(out->detail), "%s TXT: %s (%s)", qname,
		     resolver_status_name(st), a.detail);
		resolver_answer_free(&a);
		return -1;
	}
	for (size_t i = 0; i < a.n; i++) {
		struct dmarc_record tmp;
		enum dmarc_parse_rc rc = dmarc_parse((const char *)a.rr[i].data, a.rr[i].len, &tmp);
		if (rc == DMARC_PARSE_NOT_DMARC)
			continue;
		dmarc++;
		if (rc == DMARC_PARSE_OK && dmarc == 1) {
			*rec = tmp;
			rec->record_secure = a.secure;
			found = 1;
		} else if (rc == DMARC_PARSE_NO_POLICY) {
			found = 0;
		}
	}
	resolver_answer_free(&a);
	if (dmarc > 1) {
		note(out->detail, sizeof(out->detail), "%d DMARC records at %s: all ignored", dmarc,
		     qname);
		return 0;
	}
	if (dmarc == 1 && !found)
		note(out->detail, sizeof(out->detail),
		     "record at %s ignored: no valid p= and no rua=", qname);
	return found;
}

/* The policy a receiver applies under rec to mail from dom. */
static enum dmarc_policy
applied_policy(const struct dmarc_record *rec, const char *rec_domain, const char *dom)
{
	if (strcmp(rec_domain, dom) == 0)
		return rec->p;
	return rec->sp_set ? rec->sp : rec->p;
}

/* Discover the record for from_domain: exact, tree walk, PSL view. */
enum dmarc_status
dmarc_lookup_within(struct resolver *r, const struct resolver_budget *caller,
		    const char *from_domain, struct dmarc_record *out)
{
	struct resolver_budget own, *b = &own;
	char dom[DMARC_DOMAIN_MAX + 1];
	const char *targets[DMARC_WALK_MAX];
	size_t nt = 0, nl = 0;
	struct level *lv = NULL;

	memset(out, 0, sizeof(*out));
	out->status = DMARC_NONE;
	out->pct = 100;
	if (!norm_domain(from_domain, dom)) {
		out->status = DMARC_BADNAME;
		note(out->detail, sizeof(out->detail), "not a domain name");
		return out->status;
	}
	dmarc_psl_org_domain(dom, out->psl_org_domain);

	/* targets: dom, then parent (or 7 labels), then one label less each */
	size_t x = count_labels(dom);
	targets[nt++] = dom;
	for (size_t k = x < 8 ? x - 1 : 7; k >= 1 && nt < DMARC_WALK_MAX; k--)
		targets[nt++] = suffix_of(dom, k);

	lv = calloc(DMARC_WALK_MAX + 1, sizeof(*lv));
	if (lv == NULL) {
		out->status = DMARC_DNS_ERROR;
		note(out->detail, sizeof(out->detail), "out of memory");
		return out->status;
	}
	if (resolver_budget_started(caller))
		own = *caller;
	else
		resolver_budget_start(&own, r);
	size_t nq = 0; /* targets asked */
	while (nq < nt) {
		int rc = query_level(r, b, targets[nq], &lv[nl].rec, out);
		if (rc < 0)
			goto done;
		nq++;
		if (rc == 0)
			continue;
		lv[nl].name = targets[nq - 1];
		if (lv[nl++].rec.psd != DMARC_PSD_U)
			break; /* psd=y or psd=n stops the walk */
	}

	/* Organizational Domain (RFC 9989 §4.10.2), longest name first */
	const char *org = NULL;
	const struct level *psd_level = NULL;
	for (size_t i = 0; i < nl && org == NULL; i++) {
		if (lv[i].rec.psd == DMARC_PSD_N) {
			org = lv[i].name;
		} else if (lv[i].rec.psd == DMARC_PSD_Y && lv[i].name != dom) {
			psd_level = &lv[i];
			org = suffix_of(dom, count_labels(lv[i].name) + 1);
		}
	}
	if (org == NULL)
		org = nl > 0 ? lv[nl - 1].name : dom; /* fewest labels, else dom */
	bw_strlcpy(out->org_domain, org, sizeof(out->org_domain));

	/* the record to apply (§4.10.1): From domain, Org. Domain, PSD */
	const struct level *use = NULL;
	if (nl > 0 && lv[0].name == dom)
		use = &lv[0];
	for (size_t i = 0; i < nl && use == NULL; i++)
		if (strcmp(lv[i].name, org) == 0)
			use = &lv[i];
	if (use == NULL)
		use = psd_level;
	if (use != NULL) {
		out->status = DMARC_FOUND;
		copy_fields(out, &use->rec);
		bw_strlcpy(out->domain, use->name, sizeof(out->domain));
		if (use->name == dom)
			out->method = DMARC_METHOD_EXACT;
		else if (strcmp(use->name, out->psl_org_domain) == 0)
			out->method = DMARC_METHOD_PSL;
		else
			out->method = DMARC_METHOD_TREEWALK;
	}

	/* what an RFC 7489 receiver applies: dom's record, else the PSL org's */
	if (nl > 0 && lv[0].name == dom) {
		out->legacy_found = true;
		out->legacy_p = lv[0].rec.p;
		bw_strlcpy(out->legacy_domain, dom, sizeof(out->legacy_domain));
	} else if (out->psl_org_domain[0] != '\0' && strcmp(out->psl_org_domain, dom) != 0) {
		const struct dmarc_record *lrec = NULL;
		bool asked = false;
		for (size_t t = 0; t < nq; t++)
			asked = asked || strcmp(targets[t], out->psl_org_domain) == 0;
		for (size_t i = 0; i < nl; i++)
			if (strcmp(lv[i].name, out->psl_org_domain) == 0)
				lrec = &lv[i].rec;
		if (lrec == NULL && !asked) {
			/* the walk stopped above it: one more query, for the report only */
			enum dmarc_status keep = out->status;
			int rc = query_level(r, b, out->psl_org_domain, &lv[DMARC_WALK_MAX].rec, out);
			out->status = keep; /* a failure here only leaves legacy_* unknown */
			if (rc > 0)
				lrec = &lv[DMARC_WALK_MAX].rec;
		}
		if (lrec != NULL) {
			out->legacy_found = true;
			out->legacy_p = applied_policy(lrec, out->psl_org_domain, dom);
			bw_strlcpy(out->legacy_domain, out->psl_org_domain,
				   sizeof(out->legacy_domain));
		}
	}
done:
	free(lv);
	if (out->status == DMARC_DNS_ERROR)
		out->method = DMARC_METHOD_NONE;
	return out->status;
}

/* The lookup with a budget of its own. */
enum dmarc_status
dmarc_lookup(struct resolver *r, const char *from_domain, struct dmarc_record *out)
{
	return dmarc_lookup_within(r, NULL, from_domain, out);
}

/* ---- policy ------------------------------------------------------------- */

/* Comparable rank of a policy. */
int
dmarc_policy_rank(enum dmarc_policy p)
{
	return p == DMARC_P_REJECT ? 2 : p == DMARC_P_QUARANTINE ? 1 : 0;
}

/* Policy from its name (exact keyword, any case). */
int
dmarc_policy_parse(const char *name)
{
	return name == NULL ? -1 : policy_value(name, strlen(name));
}

/* Keyword of a policy. */
const char *
dmarc_policy_name(enum dmarc_policy p)
{
	return p == DMARC_P_REJECT ? "reject" : p == DMARC_P_QUARANTINE ? "quarantine" : "none";
}

/* Name of a lookup status. */
const char *
dmarc_status_name(enum dmarc_status s)
{
	switch (s) {
	case DMARC_NONE:
		return "none";
	case DMARC_FOUND:
		return "found";
	case DMARC_DNS_ERROR:
		return "dns-error";
	case DMARC_BADNAME:
		return "badname";
	}
	return "none";
}

/* Name of a discovery method. */
const char *
dmarc_method_name(enum dmarc_method m)
{
	switch (m) {
	case DMARC_METHOD_NONE:
		return "none";
	case DMARC_METHOD_EXACT:
		return "exact";
	case DMARC_METHOD_PSL:
		return "psl";
	case DMARC_METHOD_TREEWALK:
		return "treewalk";
	}
	return "none";
}

/* The policy receivers apply to mail From from_domain. */
enum dmarc_policy
dmarc_effective_policy(const struct dmarc_record *rec, const char *from_domain, char *why,
		       size_t whylen)
{
	char dom[DMARC_DOMAIN_MAX + 1];
	char tmp[DMARC_DETAIL_MAX];
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (rec->status != DMARC_FOUND) {
		if (why != NULL)
			put(why, whylen, "no DMARC record applies");
		return DMARC_P_NONE;
	}
	if (!norm_domain(from_domain, dom))
		bw_strlcpy(dom, rec->domain, sizeof(dom));
	bool sub = strcmp(dom, rec->domain) != 0;
	enum dmarc_policy p = applied_policy(rec, rec->domain, dom);
	put(tmp, sizeof(tmp), "%s=%s at %s%s", sub && rec->sp_set ? "sp" : "p",
	    dmarc_policy_name(p), rec->domain, rec->p_implied ? " (implied by rua)" : "");
	if (p != DMARC_P_NONE && (rec->testing || rec->pct < 100)) {
		p = (enum dmarc_policy)(p - 1);
		char t2[DMARC_DETAIL_MAX];
		if (rec->testing)
			put(t2, sizeof(t2), "%s, t=y: %s in effect", tmp, dmarc_policy_name(p));
		else
			put(t2, sizeof(t2), "%s, pct=%u: %s for the rest", tmp, rec->pct,
			    dmarc_policy_name(p));
		memcpy(tmp, t2, sizeof(tmp));
	}
	if (why != NULL)
		bw_strlcpy(why, tmp, whylen);
	return p;
}

/* The effective policy is at least min. */
bool
dmarc_policy_meets(const struct dmarc_record *rec, const char *from_domain, enum dmarc_policy min,
		   char *why, size_t whylen)
{
	char eff[DMARC_DETAIL_MAX];
	if (rec->status != DMARC_FOUND) {
		if (why != NULL)
			put(why, whylen, "no DMARC record for %s (required p=%s)",
			    from_domain ? from_domain : "?", dmarc_policy_name(min));
		return false;
	}
	enum dmarc_policy p = dmarc_effective_policy(rec, from_domain, eff, sizeof(eff));
	bool ok = dmarc_policy_rank(p) >= dmarc_policy_rank(min);
	if (why != NULL)
		put(why, whylen, "%s %s required %s", eff, ok ? "meets" : "is below",
		    dmarc_policy_name(min));
	return ok;
}

/* ---- alignment ---------------------------------------------------------- */

/* Does identifier id align with dom under mode? On failure why gets the
 * reason appended. */
static bool
id_aligned(const struct dmarc_record *rec, const char *dom, const char *id_in,
	   enum dmarc_align mode, const char *what, char *why, size_t whylen)
{
	char id[DMARC_DOMAIN_MAX + 1], pid[DMARC_DOMAIN_MAX + 1];
	if (!norm_domain(id_in, id)) {
		note(why, whylen, "%s is not a domain", what);
		return false;
	}
	if (mode == DMARC_STRICT) {
		if (strcmp(id, dom) == 0)
			return true;
		note(why, whylen, "%s %s is not %s (strict)", what, id, dom);
		return false;
	}
	/* relaxed: same Organizational Domain under the tree walk ... */
	const char *org = rec->org_domain[0] ? rec->org_domain : dom;
	if (!is_under(id, org) || !is_under(dom, org)) {
		note(why, whylen, "%s %s is outside %s (tree walk org domain)", what, id, org);
		return false;
	}
	/* ... and under the PSL, when one is loaded */
	if (rec->psl_org_domain[0] != '\0' && dmarc_psl_org_domain(id, pid) &&
	    strcmp(pid, rec->psl_org_domain) != 0) {
		note(why, whylen, "%s %s has PSL org domain %s, not %s", what, id, pid,
		     rec->psl_org_domain);
		return false;
	}
	return true;
}

/* Predict alignment of DKIM d= domains or the SPF-passing MAIL FROM. */
bool
dmarc_aligned(const struct dmarc_record *rec, const char *from_domain,
	      const char *const *dkim_domains, size_t n, const char *mailfrom_domain, bool spf_pass,
	      char *why, size_t whylen)
{
	char dom[DMARC_DOMAIN_MAX + 1];
	char buf[DMARC_DETAIL_MAX] = "";
	char what[DMARC_DOMAIN_MAX + 16];
	bool ok = false;

	if (rec->status != DMARC_FOUND) {
		bw_strlcpy(buf, "no DMARC record applies", sizeof(buf));
		goto out;
	}
	if (!norm_domain(from_domain, dom)) {
		bw_strlcpy(buf, "From domain is not a domain name", sizeof(buf));
		goto out;
	}
	for (size_t i = 0; i < n && !ok; i++) {
		if (id_aligned(rec, dom, dkim_domains[i], rec->adkim, "DKIM d=", buf,
			       sizeof(buf))) {
			put(buf, sizeof(buf), "DKIM d=%s aligns with %s (adkim=%s)",
			    dkim_domains[i], dom, rec->adkim == DMARC_STRICT ? "s" : "r");
			ok = true;
		}
	}
	if (!ok && n == 0)
		note(buf, sizeof(buf), "no DKIM signature");
	if (!ok && mailfrom_domain != NULL && mailfrom_domain[0] != '\0') {
		put(what, sizeof(what), "MAIL FROM");
		if (!spf_pass) {
			note(buf, sizeof(buf), "SPF is not pass");
		} else if (id_aligned(rec, dom, mailfrom_domain, rec->aspf, what, buf,
				      sizeof(buf))) {
			put(buf, sizeof(buf), "SPF-authenticated %s aligns with %s (aspf=%s)",
			    mailfrom_domain, dom, rec->aspf == DMARC_STRICT ? "s" : "r");
			ok = true;
		}
	} else if (!ok) {
		note(buf, sizeof(buf), "no MAIL FROM domain (null sender)");
	}
out:
	if (why != NULL)
		printable(why, whylen, buf, strlen(buf));
	return ok;
}
