/*
 * bwdkim.c - per-message DKIM signing and vendor-signature verification
 * with libopendkim, bound to the attributed identity (API in bwdkim.h).
 *
 * Sign mode holds one libopendkim signing handle per registered key, all
 * fed the same headers and body; the key is the in-memory material the
 * config loader read once (bw_dkim_key.privkey), so no file is opened here.
 * Libopendkim still decodes that material once per handle at eom (its API
 * takes key bytes, not a parsed key). Verify mode holds one verifying
 * handle whose user context is the identity, so bwdkey.c's callbacks see
 * only its registered keys.
 *
 * Memory: struct bwdkim_msg and everything hanging off it (handles, the
 * header scratch buffer of at most BWDKIM_HEADER_MAX bytes, the signature
 * header copies) are heap, freed by bwdkim_free(), which also reclaims
 * what libopendkim's dkim_free() leaves behind (bwdkey_mem). Every allocation is
 * checked; a failure becomes the message's sticky error, never an exit.
 * Input: header names and values and body bytes from the client (bounded,
 * passed to libopendkim, never logged raw by this module: reasons carry
 * only libopendkim's own text and registry strings).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <opendkim/dkim.h>

#include "dkim/bwdkey.h"
#include "dkim/bwdkim.h"
#include "base/util.h"

#define QUEUE_ID_MAX 64
#define HEADER_BUF_MIN 1024

struct handle {
	DKIM *dkim;
	struct bwdkey_mem mem;	       /* libopendkim's allocations for dkim */
	const struct bw_dkim_key *key; /* sign mode; NULL for the verify handle */
	char *sighdr;		       /* sign: the DKIM-Signature value (heap) */
	bool ok;
	char result[BWDKIM_REASON_MAX];
};

struct bwdkim_msg {
	const struct bw_identity *id;
	bool sign;
	bool leadspc;
	bool eoh_done;
	bool failed;	   /* sticky */
	bool hard;	   /* verify: the failure was resources, not the message */
	bool nosig;	   /* verify: no signature by a registered key */
	DKIM_LIB *own_lib; /* pinned signing time: closed by bwdkim_free() */
	struct handle *h;
	size_t n;
	unsigned long long body_bytes; /* fed so far */
	unsigned char tail[2];	       /* the body's last two bytes */
	char *buf;		       /* "Name: value" scratch for dkim_header() */
	size_t cap;
	char qid[QUEUE_ID_MAX];
	char feedback[BWDKIM_FEEDBACK_MAX + 1]; /* " value"; "" when none */
	char err[BWDKIM_ERR_MAX];
};

/* Record the first failure; later ones only mark their handle. */
static void
fail(struct bwdkim_msg *m, struct handle *h, const char *step, DKIM_STAT st)
{
	const char *why = h != NULL && h->dkim != NULL ? dkim_geterror(h->dkim) : NULL;
	char text[BWDKIM_REASON_MAX];

	snprintf(text, sizeof(text), "%s: %s%s%s", step, dkim_getresultstr(st),
		 why && *why ? ": " : "", why && *why ? why : "");
	if (h != NULL) {
		h->ok = false;
		bw_strlcpy(h->result, text, sizeof(h->result));
	}
	if (m->failed)
		return;
	m->failed = true;
	m->hard = m->sign || st == DKIM_STAT_NORESOURCE || st == DKIM_STAT_INTERNAL ||
		  st == DKIM_STAT_CBERROR;
	if (h != NULL && h->key != NULL)
		snprintf(m->err, sizeof(m->err), "key %s/%s (%s): %s", h->key->domain,
			 h->key->selector, bwdkey_alg_name(h->key->alg), text);
	else
		bw_strlcpy(m->err, text, sizeof(m->err));
}

/* Record a failure that is not libopendkim's (no result code). */
static void
fail_text(struct bwdkim_msg *m, bool hard, const char *text)
{
	if (m->failed)
		return;
	m->failed = true;
	m->hard = m->sign || hard;
	bw_strlcpy(m->err, text, sizeof(m->err));
}

/* A new context for id with room for n handles; NULL with err set. */
static struct bwdkim_msg *
msg_new(const struct bw_identity *id, bool sign, size_t n, const struct bwdkim_opts *o, char *err,
	size_t errlen)
{
	struct bwdkim_msg *m = calloc(1, sizeof(*m));
	if (m == NULL || (m->h = calloc(n, sizeof(*m->h))) == NULL) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->id = id;
	m->sign = sign;
	m->n = n;
	m->leadspc = o != NULL && o->leadspc;
	bw_strlcpy(m->qid, o != NULL && o->queue_id != NULL && *o->queue_id ? o->queue_id : "-",
		   sizeof(m->qid));
	return m;
}

/* One signing handle per key of id (see bwdkim.h). */
struct bwdkim_msg *
bwdkim_sign_begin(const struct bw_identity *id, const struct bwdkim_opts *o, char *err,
		  size_t errlen)
{
	DKIM_LIB *lib;
	DKIM_STAT st = DKIM_STAT_OK;

	if (id == NULL || id->dkim_mode != BW_DKIM_SIGN || id->n_dkim == 0) {
		snprintf(err, errlen, "identity has no signing key");
		return NULL;
	}
	struct bwdkim_msg *m = msg_new(id, true, id->n_dkim, o, err, errlen);
	if (m == NULL)
		return NULL;
	if (o != NULL && o->fixed_time != 0)
		lib = m->own_lib = bwdkey_lib_fixed(id, o->fixed_time, err, errlen);
	else
		lib = bwdkey_lib(id, err, errlen);
	if (lib == NULL)
		goto fail;
	m->feedback[0] = ' '; /* the value follows: returned with it under LEADSPC */
	if (id->feedback_id == NULL) {
		m->feedback[0] = '\0';
	} else if (bwdkim_feedback_id(id, m->feedback + 1, sizeof(m->feedback) - 1) < 0) {
		snprintf(err, errlen, "Feedback-ID value longer than %d bytes",
			 BWDKIM_FEEDBACK_MAX - 1);
		goto fail;
	}
	for (size_t i = 0; i < id->n_dkim; i++) {
		const struct bw_dkim_key *k = &id->dkim[i];
		struct handle *h = &m->h[i];
		h->key = k;
		if (k->privkey == NULL) {
			snprintf(err, errlen, "key %s/%s: no private key loaded", k->domain,
				 k->selector);
			goto fail;
		}
		bwdkey_mem_init(&h->mem);
		h->dkim = dkim_sign(
		    lib, (const unsigned char *)m->qid, &h->mem, (dkim_sigkey_t)k->privkey,
		    (const unsigned char *)k->selector, (const unsigned char *)k->domain,
		    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
		    k->alg == BW_KEY_ED25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1,
		    &st);
		if (h->dkim == NULL || st != DKIM_STAT_OK) {
			snprintf(err, errlen, "key %s/%s: dkim_sign: %s", k->domain, k->selector,
				 dkim_getresultstr(st));
			goto fail;
		}
	}
	return m;
fail:
	bwdkim_free(m);
	return NULL;
}

/* One verifying handle that sees only id's registered keys. */
struct bwdkim_msg *
bwdkim_verify_begin(const struct bw_identity *id, const struct bwdkim_opts *o, char *err,
		    size_t errlen)
{
	DKIM_STAT st = DKIM_STAT_OK;

	if (id == NULL || id->dkim_mode != BW_DKIM_VERIFY || id->n_dkim == 0) {
		snprintf(err, errlen, "identity has no registered vendor key");
		return NULL;
	}
	struct bwdkim_msg *m = msg_new(id, false, 1, o, err, errlen);
	if (m == NULL)
		return NULL;
	DKIM_LIB *lib = bwdkey_lib(id, err, errlen);
	if (lib == NULL)
		goto fail;
	bwdkey_mem_init(&m->h[0].mem);
	m->h[0].dkim = dkim_verify(lib, (const unsigned char *)m->qid, &m->h[0].mem, &st);
	if (m->h[0].dkim == NULL || st != DKIM_STAT_OK) {
		snprintf(err, errlen, "dkim_verify: %s", dkim_getresultstr(st));
		goto fail;
	}
	/* bwdkey.c's prescreen and key lookup read the identity from here */
	if (dkim_set_user_context(m->h[0].dkim, (void *)id) != DKIM_STAT_OK) {
		snprintf(err, errlen, "dkim_set_user_context failed");
		goto fail;
	}
	return m;
fail:
	bwdkim_free(m);
	return NULL;
}

/* Free the handles, reclaim what libopendkim left, free the context. */
void
bwdkim_free(struct bwdkim_msg *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		if (m->h[i].dkim != NULL)
			dkim_free(m->h[i].dkim);
		bwdkey_mem_reclaim(&m->h[i].mem); /* what dkim_free() left */
		free(m->h[i].sighdr);
	}
	free(m->h);
	free(m->buf);
	if (m->own_lib != NULL)
		dkim_close(m->own_lib);
	free(m);
}

/* The sticky first failure. */
const char *
bwdkim_error(const struct bwdkim_msg *m)
{
	return m != NULL ? m->err : "no DKIM context";
}

/* true iff name is in the NULL-terminated list l (case-insensitive). */
static bool
listed(const char *const *l, const char *name)
{
	for (; *l != NULL; l++)
		if (strcasecmp(*l, name) == 0)
			return true;
	return false;
}

/* A field name libopendkim accepts: printable ASCII without ':'. */
static bool
name_usable(const char *name)
{
	if (*name == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 33 || *p > 126 || *p == ':')
			return false;
	return true;
}

/* Make room for need bytes in the scratch buffer (bounded). */
static bool
reserve(struct bwdkim_msg *m, size_t need)
{
	if (need <= m->cap)
		return true;
	if (need > BWDKIM_HEADER_MAX)
		return false;
	size_t cap = m->cap ? m->cap : HEADER_BUF_MIN;
	while (cap < need)
		cap *= 2;
	if (cap > BWDKIM_HEADER_MAX)
		cap = BWDKIM_HEADER_MAX;
	char *b = realloc(m->buf, cap);
	if (b == NULL)
		return false;
	m->buf = b;
	m->cap = cap;
	return true;
}

/* "Name:" + value into the scratch buffer, a space restored without
 * LEADSPC and bare LFs made CRLF. Its length, or 0 when it does not fit. */
static size_t
format_field(struct bwdkim_msg *m, const char *name, const char *value, bool lead)
{
	size_t nl = strlen(name), vl = strlen(value), lfs = 0;
	for (const char *p = value; (p = strchr(p, '\n')) != NULL; p++)
		lfs++;
	size_t need = nl + 2 + vl + lfs + 1;
	if (!reserve(m, need))
		return 0;
	char *o = m->buf;
	memcpy(o, name, nl);
	o += nl;
	*o++ = ':';
	if (lead)
		*o++ = ' ';
	for (const char *p = value; *p; p++) {
		if (*p == '\n' && (p == value || p[-1] != '\r'))
			*o++ = '\r';
		*o++ = *p;
	}
	*o = '\0';
	return (size_t)(o - m->buf);
}

/*
 * Feed one formatted field to every handle. A DKIM-Signature libopendkim
 * cannot parse is kept in its header list but marked bad and skipped at
 * end of headers, so in verify mode its SYNTAX result is not a failure: a
 * garbled signature beside the vendor's must not hide the vendor's.
 */
static int
feed(struct bwdkim_msg *m, size_t len, bool dkim_sig)
{
	for (size_t i = 0; i < m->n; i++) {
		DKIM_STAT st = dkim_header(m->h[i].dkim, (u_char *)m->buf, len);
		if (st == DKIM_STAT_SYNTAX && dkim_sig && !m->sign)
			continue;
		if (st != DKIM_STAT_OK) {
			fail(m, &m->h[i], "dkim_header", st);
			return -1;
		}
	}
	return 0;
}

/* Filter, format and feed one header field to every handle. */
int
bwdkim_header(struct bwdkim_msg *m, const char *name, const char *value)
{
	if (m == NULL || m->failed)
		return -1;
	if (m->eoh_done) {
		fail_text(m, true, "header after end of headers");
		return -1;
	}
	if (name == NULL || value == NULL || !name_usable(name))
		return 0; /* never signed; in verify mode it can only make a signature fail */
	if (m->sign) {
		const char *const *l = m->id->dkim_sign_headers ? m->id->dkim_sign_headers
								: bw_dkim_sign_headers_default;
		if (!listed(l, name) || bwdkim_header_replaced(m->id, name))
			return 0;
	}
	size_t len = format_field(m, name, value, !m->leadspc);
	if (len == 0) {
		if (m->sign) {
			fail_text(m, true, "a signed header field is too long or memory ran out");
			return -1;
		}
		return 0; /* verify: skipping it can only make a signature fail */
	}
	return feed(m, len, strcasecmp(name, "DKIM-Signature") == 0);
}

/* Our Feedback-ID (sign mode), then end of headers on every handle. */
int
bwdkim_eoh(struct bwdkim_msg *m)
{
	if (m == NULL || m->failed)
		return -1;
	if (m->eoh_done)
		return 0;
	if (m->sign && m->feedback[0] != '\0') {
		size_t len = format_field(m, "Feedback-ID", m->feedback + 1, true);
		if (len == 0) {
			fail_text(m, true, "out of memory");
			return -1;
		}
		if (feed(m, len, false) != 0)
			return -1;
	}
	m->eoh_done = true;
	for (size_t i = 0; i < m->n; i++) {
		DKIM_STAT st = dkim_eoh(m->h[i].dkim);
		if (!m->sign && st == DKIM_STAT_NOSIG) {
			m->nosig = true; /* none, or none by a registered key */
			return 0;
		}
		if (st != DKIM_STAT_OK) {
			fail(m, &m->h[i], "dkim_eoh", st);
			return -1;
		}
	}
	return 0;
}

/* One body chunk to every handle; remembers the last two bytes. */
int
bwdkim_body(struct bwdkim_msg *m, const unsigned char *chunk, size_t len)
{
	if (m == NULL || m->failed)
		return -1;
	if (!m->eoh_done) {
		fail_text(m, true, "body before end of headers");
		return -1;
	}
	if (len == 0 || m->nosig)
		return 0;
	for (size_t i = 0; i < m->n; i++) {
		DKIM_STAT st = dkim_body(m->h[i].dkim, (u_char *)chunk, len);
		if (st != DKIM_STAT_OK) {
			fail(m, &m->h[i], "dkim_body", st);
			return -1;
		}
	}
	m->body_bytes += len;
	if (len >= 2) {
		memcpy(m->tail, chunk + len - 2, 2);
	} else {
		m->tail[0] = m->tail[1];
		m->tail[1] = chunk[0];
	}
	return 0;
}

/*
 * RFC 6376 3.4.3/3.4.4: a non-empty body not ending in CRLF is hashed as
 * if it did, which is also how SMTP will carry it. libopendkim (without
 * DKIM_LIBFLAGS_FIXCRLF, which would also rewrite bare CRs and LFs that
 * the MTA transmits as they are) refuses such a body, so add the CRLF.
 */
static int
body_final_crlf(struct bwdkim_msg *m)
{
	if (m->body_bytes == 0 || m->nosig ||
	    (m->body_bytes >= 2 && m->tail[0] == '\r' && m->tail[1] == '\n'))
		return 0;
	return bwdkim_body(m, (const unsigned char *)"\r\n", 2);
}

/* Copy a libopendkim signature header: CRLF folds become LF (what
 * smfi_insheader() takes), a leading space under LEADSPC. */
static char *
copy_sighdr(const unsigned char *s, size_t len, bool lead)
{
	char *out = malloc(len + 2), *o = out;
	if (out == NULL)
		return NULL;
	if (lead)
		*o++ = ' ';
	for (size_t i = 0; i < len; i++)
		if (s[i] != '\r')
			*o++ = (char)s[i];
	*o = '\0';
	return out;
}

/* Finish one signing handle: sign, fetch the header. */
static void
sign_one(struct bwdkim_msg *m, struct handle *h)
{
	unsigned char *hdr = NULL;
	size_t len = 0;
	DKIM_STAT st = dkim_eom(h->dkim, NULL);
	if (st != DKIM_STAT_OK) {
		fail(m, h, "dkim_eom", st);
		return;
	}
	st = dkim_getsighdr_d(h->dkim, BWDKIM_SIG_INITIAL, &hdr, &len);
	if (st != DKIM_STAT_OK || hdr == NULL) {
		fail(m, h, "dkim_getsighdr_d", st != DKIM_STAT_OK ? st : DKIM_STAT_INTERNAL);
		return;
	}
	if ((h->sighdr = copy_sighdr(hdr, len, m->leadspc)) == NULL) {
		fail(m, h, "copying the signature", DKIM_STAT_NORESOURCE);
		return;
	}
	h->ok = true;
	bw_strlcpy(h->result, "signed", sizeof(h->result));
}

/* Sign with every key; all signatures or none. */
int
bwdkim_eom(struct bwdkim_msg *m, struct bwdkim_sig *out, size_t max, size_t *n)
{
	*n = 0;
	if (m == NULL || !m->sign)
		return -1;
	if (!m->failed && !m->eoh_done)
		fail_text(m, true, "end of message before end of headers");
	if (!m->failed)
		(void)body_final_crlf(m); /* a failure is sticky */
	for (size_t i = 0; i < m->n; i++) {
		struct handle *h = &m->h[i];
		if (!m->failed)
			sign_one(m, h);
		else if (h->result[0] == '\0')
			bw_strlcpy(h->result, "not signed (see the message's DKIM error)",
				   sizeof(h->result));
		if (*n < max) {
			out[*n] = (struct bwdkim_sig){
			    .domain = h->key->domain,
			    .selector = h->key->selector,
			    .algorithm = bwdkey_alg_name(h->key->alg),
			    .bits = h->key->bits,
			    .ok = h->ok,
			    .result = h->result,
			    .header = h->ok ? h->sighdr : NULL,
			};
			(*n)++;
		}
	}
	/* a key that signed before another failed must not be inserted alone */
	if (m->failed)
		for (size_t i = 0; i < *n; i++)
			out[i].header = NULL;
	return m->failed ? -1 : 0;
}

/* Why one examined signature did not pass, or "pass". */
static const char *
sig_verdict(DKIM_SIGINFO *sig)
{
	unsigned flags = dkim_sig_getflags(sig);
	if (dkim_sig_gettagvalue(sig, false, (u_char *)"l") != NULL)
		return "l= covers part of the body only (not accepted)";
	if ((flags & DKIM_SIGFLAG_PROCESSED) == 0)
		return "not processed";
	if ((flags & DKIM_SIGFLAG_PASSED) == 0) {
		int e = dkim_sig_geterror(sig);
		const char *s = e == DKIM_SIGERROR_UNKNOWN || e == DKIM_SIGERROR_OK
				    ? NULL
				    : dkim_sig_geterrorstr(e);
		return s != NULL ? s : "signature did not verify";
	}
	if (dkim_sig_getbh(sig) != DKIM_SIGBH_MATCH)
		return "body hash did not verify";
	return "pass";
}

/* The verify-mode verdict over the registered signatures. */
int
bwdkim_verify_eom(struct bwdkim_msg *m, const char *from_domain, struct bwdkim_sig *out, size_t max,
		  size_t *n)
{
	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0;
	bool good = false;
	const char *first_bad = NULL;

	*n = 0;
	if (m == NULL || m->sign)
		return -1;
	if (!m->failed && !m->eoh_done)
		fail_text(m, true, "end of message before end of headers");
	if (m->failed)
		return m->hard ? -1 : 0;
	if (m->nosig) {
		fail_text(m, false, "no signature by a registered key");
		return 0;
	}
	if (body_final_crlf(m) != 0)
		return m->hard ? -1 : 0;
	struct handle *h = &m->h[0];
	DKIM_STAT st = dkim_eom(h->dkim, NULL);
	if (st == DKIM_STAT_NORESOURCE || st == DKIM_STAT_INTERNAL) {
		fail(m, h, "dkim_eom", st);
		return -1;
	}
	if (dkim_getsiglist(h->dkim, &sigs, &nsigs) != DKIM_STAT_OK)
		nsigs = 0;
	for (int i = 0; i < nsigs; i++) {
		if ((dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_IGNORE) != 0)
			continue;
		const struct bw_dkim_key *k =
		    bwdkey_registered(m->id, (const char *)dkim_sig_getdomain(sigs[i]),
				      (const char *)dkim_sig_getselector(sigs[i]));
		if (k == NULL)
			continue; /* the prescreen ignored these; be sure */
		const char *verdict = sig_verdict(sigs[i]);
		bool pass = strcmp(verdict, "pass") == 0;
		bool aligned = from_domain != NULL && bwdkim_aligned(k->domain, from_domain);
		good = good || (pass && aligned);
		if (!(pass && aligned) && first_bad == NULL)
			first_bad = pass ? "" : verdict;
		if (*n < max)
			out[(*n)++] = (struct bwdkim_sig){
			    .domain = k->domain,
			    .selector = k->selector,
			    .algorithm = bwdkey_alg_name(k->alg),
			    .bits = k->bits,
			    .ok = pass,
			    .aligned = aligned,
			    .result = verdict,
			};
	}
	if (good)
		return 1;
	char why[BWDKIM_ERR_MAX];
	if (first_bad == NULL)
		bw_strlcpy(why, "no signature by a registered key", sizeof(why));
	else if (*first_bad == '\0')
		bw_strlcpy(why,
			   "the registered key's signature does not align with the From domain",
			   sizeof(why));
	else
		snprintf(why, sizeof(why), "the registered key's signature: %s", first_bad);
	fail_text(m, false, why);
	return 0;
}

/* The Feedback-ID this message signed, or NULL. */
const char *
bwdkim_feedback_value(const struct bwdkim_msg *m)
{
	if (m == NULL || !m->sign || m->feedback[0] == '\0')
		return NULL;
	return m->leadspc ? m->feedback : m->feedback + 1;
}

/* Build "<class>:<id>:bulkwarden:<SenderId>". */
int
bwdkim_feedback_id(const struct bw_identity *id, char *buf, size_t len)
{
	if (id == NULL || id->feedback_id == NULL)
		return -1;
	int n = snprintf(buf, len, "%s:%s:bulkwarden:%s", registry_class_name(id->class), id->id,
			 id->feedback_id);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* Feedback-ID, when the identity writes its own. */
bool
bwdkim_header_replaced(const struct bw_identity *id, const char *name)
{
	return id != NULL && id->dkim_mode == BW_DKIM_SIGN && id->feedback_id != NULL &&
	       name != NULL && strcasecmp(name, "Feedback-ID") == 0;
}

/* d equals from or is a parent domain of it, label-wise. */
bool
bwdkim_aligned(const char *d, const char *from)
{
	if (d == NULL || from == NULL)
		return false;
	size_t dl = strlen(d), fl = strlen(from);
	while (dl > 0 && d[dl - 1] == '.')
		dl--;
	while (fl > 0 && from[fl - 1] == '.')
		fl--;
	if (dl == 0 || fl < dl || strncasecmp(from + fl - dl, d, dl) != 0)
		return false;
	return fl == dl || from[fl - dl - 1] == '.';
}
