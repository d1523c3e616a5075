/*
 * feedback.c - ARF (RFC 5965) and DSN (RFC 3464) reports parsed with
 * GMime (feedback.h).
 *
 * GMime parses the MIME structure and every header block: the report's,
 * the machine-readable part's fields (message/feedback-report and
 * message/delivery-status bodies are header blocks, one per recipient for
 * a DSN), and the original message's (message/rfc822 or
 * text/rfc822-headers). This module only copies bounded fields out.
 *
 * Memory: GMime objects are released before returning; the report struct
 * is the caller's. Untrusted input: all of it; the size is bounded by the
 * caller (INGEST_MAX_BYTES) and every copy by its field.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "base/util.h"
#include "ingest/feedback.h"
#include "registry/domain.h"

#define INGEST_DEPTH_MAX 8 /* nested multiparts followed */

static GOnce gmime_once = G_ONCE_INIT;

static gpointer
gmime_init_once(gpointer unused)
{
	(void)unused;
	g_mime_init();
	return NULL;
}

/* Copy a header value trimmed of surrounding blanks, bounded. */
static void
copy_trim(char *dst, size_t len, const char *v)
{
	if (v == NULL) {
		dst[0] = '\0';
		return;
	}
	while (*v == ' ' || *v == '\t')
		v++;
	bw_strlcpy(dst, v, len);
	size_t n = strlen(dst);
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\t' || dst[n - 1] == '\r' ||
			 dst[n - 1] == '\n'))
		dst[--n] = '\0';
	for (char *p = dst; *p; p++) /* no control characters survive into events */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* The domain of an address (after the last '@', without a trailing '>'),
 * lowercased; "" when there is none. */
static void
addr_domain(char *dst, size_t len, const char *addr)
{
	char tmp[INGEST_ADDR_MAX];
	copy_trim(tmp, sizeof(tmp), addr);
	char *at = strrchr(tmp, '@');
	dst[0] = '\0';
	if (at == NULL)
		return;
	char *end = at + 1 + strcspn(at + 1, "> \t;,");
	*end = '\0';
	char norm[256];
	if (domain_normalize(at + 1, strlen(at + 1), norm))
		bw_strlcpy(dst, norm, len);
}

/* "rfc822;a@b" -> "a@b" (RFC 3464 address-type prefix). */
static const char *
strip_type(const char *v)
{
	const char *semi = v ? strchr(v, ';') : NULL;
	return semi ? semi + 1 : v;
}

/* d= and s= of the first DKIM-Signature value. */
static void
dkim_tags(struct ingest_report *rep, const char *sig)
{
	char buf[2048];
	bw_strlcpy(buf, sig, sizeof(buf));
	for (char *tok = strtok(buf, ";"); tok != NULL; tok = strtok(NULL, ";")) {
		while (isspace((unsigned char)*tok))
			tok++;
		if ((tok[0] == 'd' || tok[0] == 's') && tok[1] != '\0') {
			char *eq = tok + 1;
			while (isspace((unsigned char)*eq))
				eq++;
			if (*eq != '=')
				continue;
			char val[INGEST_FIELD_MAX];
			copy_trim(val, sizeof(val), eq + 1);
			val[strcspn(val, " \t\r\n")] = '\0';
			if (tok[0] == 'd' && rep->dkim_d[0] == '\0')
				domain_normalize(val, strlen(val), rep->dkim_d);
			else if (tok[0] == 's' && rep->dkim_s[0] == '\0')
				bw_strlcpy(rep->dkim_s, val, sizeof(rep->dkim_s));
		}
	}
}

/* The original's To when it names exactly one address ("a@b", "<a@b>" or
 * "Name <a@b>"): a complaint without Original-Rcpt-To names its recipient
 * there (the suppression list, SPEC §9). A list is ambiguous: left out. */
static void
original_to(struct ingest_report *rep, const char *v)
{
	char tmp[INGEST_ADDR_MAX];
	copy_trim(tmp, sizeof(tmp), v);
	char *lt = strchr(tmp, '<'), *p = tmp;
	if (lt != NULL) {
		char *gt = strchr(lt, '>');
		if (gt == NULL || strchr(gt + 1, '<') != NULL || strchr(gt + 1, ',') != NULL)
			return;
		*gt = '\0';
		p = lt + 1;
	} else if (strchr(tmp, ',') != NULL || strchr(tmp, '@') != strrchr(tmp, '@')) {
		return;
	}
	if (strchr(p, '@') != NULL)
		bw_strlcpy(rep->original_to, p, sizeof(rep->original_to));
}

/* The identifying headers of the original message. */
static void
original_headers(struct ingest_report *rep, GMimeObject *o)
{
	const char *v;
	if ((v = g_mime_object_get_header(o, "Feedback-ID")) != NULL && rep->feedback_id[0] == '\0')
		copy_trim(rep->feedback_id, sizeof(rep->feedback_id), v);
	if ((v = g_mime_object_get_header(o, "DKIM-Signature")) != NULL && rep->dkim_d[0] == '\0')
		dkim_tags(rep, v);
	if ((v = g_mime_object_get_header(o, "Return-Path")) != NULL && rep->mail_from_domain[0] == '\0')
		addr_domain(rep->mail_from_domain, sizeof(rep->mail_from_domain), v);
	if ((v = g_mime_object_get_header(o, "From")) != NULL && rep->from_domain[0] == '\0')
		addr_domain(rep->from_domain, sizeof(rep->from_domain), v);
	if ((v = g_mime_object_get_header(o, "To")) != NULL && rep->original_to[0] == '\0')
		original_to(rep, v);
}

/* A part's decoded content, NUL-terminated (caller frees), NULL if none. */
static GByteArray *
part_bytes(GMimeObject *o)
{
	if (!GMIME_IS_PART(o))
		return NULL;
	GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(o));
	if (w == NULL)
		return NULL;
	GMimeStream *mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, mem);
	GByteArray *ba = g_byte_array_new();
	g_byte_array_append(ba, g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem))->data,
			    g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem))->len);
	g_object_unref(mem);
	g_byte_array_append(ba, (const guint8 *)"\0", 1);
	return ba;
}

/* Parse a block of "Name: value" fields (RFC 3464/5965 fields share RFC
 * 5322's header syntax) with GMime's header parser. NULL on failure. */
static GMimeMessage *
fields_parse(const char *text, size_t len)
{
	GByteArray *ba = g_byte_array_new();
	g_byte_array_append(ba, (const guint8 *)text, (guint)len);
	g_byte_array_append(ba, (const guint8 *)"\n\n", 2);
	GMimeStream *s = g_mime_stream_mem_new_with_byte_array(ba); /* owns ba */
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s);
	return m;
}

/* message/feedback-report: one field block. */
static void
arf_fields(struct ingest_report *rep, const char *text, size_t len)
{
	GMimeMessage *m = fields_parse(text, len);
	if (m == NULL)
		return;
	GMimeObject *o = GMIME_OBJECT(m);
	const char *v;
	if ((v = g_mime_object_get_header(o, "Feedback-Type")) != NULL)
		copy_trim(rep->feedback_type, sizeof(rep->feedback_type), v);
	if ((v = g_mime_object_get_header(o, "Original-Rcpt-To")) != NULL)
		copy_trim(rep->original_rcpt, sizeof(rep->original_rcpt), strip_type(v));
	if ((v = g_mime_object_get_header(o, "Original-Mail-From")) != NULL)
		addr_domain(rep->mail_from_domain, sizeof(rep->mail_from_domain), v);
	if ((v = g_mime_object_get_header(o, "Source-IP")) != NULL)
		copy_trim(rep->source_ip, sizeof(rep->source_ip), v);
	g_object_unref(m);
}

/* message/delivery-status: a per-message block, then one per recipient. */
static void
dsn_fields(struct ingest_report *rep, const char *text, size_t len)
{
	size_t i = 0, block = 0;
	while (i < len) {
		/* a block ends at an empty line */
		size_t start = i, end = i;
		while (end < len) {
			const char *nl = memchr(text + end, '\n', len - end);
			size_t line_end = nl ? (size_t)(nl - text) + 1 : len;
			bool blank = true;
			for (size_t k = end; k < line_end; k++)
				if (text[k] != '\r' && text[k] != '\n' && text[k] != ' ' && text[k] != '\t')
					blank = false;
			end = line_end;
			if (blank)
				break;
		}
		i = end;
		if (block++ == 0)
			continue; /* per-message fields: Reporting-MTA, ... */
		GMimeMessage *m = fields_parse(text + start, end - start);
		if (m == NULL)
			continue;
		GMimeObject *o = GMIME_OBJECT(m);
		const char *rcpt = g_mime_object_get_header(o, "Final-Recipient");
		const char *status = g_mime_object_get_header(o, "Status");
		const char *action = g_mime_object_get_header(o, "Action");
		if (rcpt != NULL || status != NULL) {
			char st[16];
			copy_trim(st, sizeof(st), status ? status : "");
			st[strcspn(st, " \t(")] = '\0'; /* "5.0.0 (permanent failure)" */
			bool hard = st[0] == '5' || (action && strncasecmp(action + strspn(action, " "), "failed", 6) == 0 && st[0] != '4');
			bool soft = !hard && (st[0] == '4' || (action && strcasestr(action, "delayed")));
			if (hard)
				rep->n_hard++;
			else if (soft)
				rep->n_soft++;
			if ((hard || soft) && rep->n_rcpt < INGEST_RCPT_MAX) {
				struct ingest_rcpt *r = &rep->rcpt[rep->n_rcpt++];
				copy_trim(r->addr, sizeof(r->addr), strip_type(rcpt ? rcpt : ""));
				bw_strlcpy(r->status, st, sizeof(r->status));
				r->hard = hard;
			}
		}
		g_object_unref(m);
	}
}

/* Walk the MIME tree: find the report parts and the original. */
static void
walk(struct ingest_report *rep, GMimeObject *o, int depth)
{
	if (o == NULL || depth > INGEST_DEPTH_MAX)
		return;
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	if (GMIME_IS_MULTIPART(o)) {
		if (ct && g_mime_content_type_is_type(ct, "multipart", "report")) {
			const char *rt = g_mime_content_type_get_parameter(ct, "report-type");
			if (rt && strcasecmp(rt, "feedback-report") == 0 && rep->kind == INGEST_UNKNOWN)
				rep->kind = INGEST_ARF;
			else if (rt && strcasecmp(rt, "delivery-status") == 0 && rep->kind == INGEST_UNKNOWN)
				rep->kind = INGEST_DSN;
		}
		int n = g_mime_multipart_get_count(GMIME_MULTIPART(o));
		for (int i = 0; i < n; i++)
			walk(rep, g_mime_multipart_get_part(GMIME_MULTIPART(o), i), depth + 1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(o)) { /* message/rfc822: the original */
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (m != NULL)
			original_headers(rep, GMIME_OBJECT(m));
		return;
	}
	if (ct == NULL)
		return;
	bool fb = g_mime_content_type_is_type(ct, "message", "feedback-report");
	bool ds = g_mime_content_type_is_type(ct, "message", "delivery-status") ||
		  g_mime_content_type_is_type(ct, "message", "global-delivery-status");
	bool hdrs = g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
		    g_mime_content_type_is_type(ct, "message", "rfc822-headers");
	if (!fb && !ds && !hdrs)
		return;
	GByteArray *ba = part_bytes(o);
	if (ba == NULL)
		return;
	if (fb) {
		if (rep->kind == INGEST_UNKNOWN)
			rep->kind = INGEST_ARF;
		arf_fields(rep, (const char *)ba->data, ba->len - 1);
	} else if (ds) {
		if (rep->kind == INGEST_UNKNOWN)
			rep->kind = INGEST_DSN;
		dsn_fields(rep, (const char *)ba->data, ba->len - 1);
	} else {
		GMimeMessage *m = fields_parse((const char *)ba->data, ba->len - 1);
		if (m != NULL) {
			original_headers(rep, GMIME_OBJECT(m));
			g_object_unref(m);
		}
	}
	g_byte_array_free(ba, TRUE);
}

int
ingest_parse(const char *buf, size_t len, enum ingest_kind want, struct ingest_report *rep,
	     char *why, size_t whylen)
{
	memset(rep, 0, sizeof(*rep));
	if (len > INGEST_MAX_BYTES) {
		snprintf(why, whylen, "report of %zu bytes, more than %u", len, INGEST_MAX_BYTES);
		return -1;
	}
	g_once(&gmime_once, gmime_init_once, NULL);
	gchar *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)buf, len);
	bw_strlcpy(rep->digest, sum ? sum : "", sizeof(rep->digest));
	g_free(sum);

	GMimeStream *s = g_mime_stream_mem_new_with_buffer(buf, len);
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s);
	if (m == NULL) {
		snprintf(why, whylen, "not a message (no header block)");
		return -1;
	}
	walk(rep, g_mime_message_get_mime_part(m), 0);
	/* A DSN is addressed to the original's envelope sender: when the
	 * original came back without its Return-Path (or not at all), that
	 * address (a VERP one) gives the envelope domain. X-Original-To is the
	 * recipient Postfix's local delivery saw, before aliases. */
	if (rep->kind == INGEST_DSN && rep->mail_from_domain[0] == '\0') {
		const char *v = g_mime_object_get_header(GMIME_OBJECT(m), "X-Original-To");
		if (v == NULL)
			v = g_mime_object_get_header(GMIME_OBJECT(m), "To");
		if (v != NULL)
			addr_domain(rep->mail_from_domain, sizeof(rep->mail_from_domain), v);
	}
	g_object_unref(m);
	if (rep->kind == INGEST_UNKNOWN) {
		snprintf(why, whylen, "not an ARF or DSN report (no multipart/report with a "
				      "feedback-report or delivery-status part)");
		return -1;
	}
	if (want != INGEST_UNKNOWN && want != rep->kind) {
		snprintf(why, whylen, "asked for %s, found %s", ingest_kind_name(want),
			 ingest_kind_name(rep->kind));
		return -1;
	}
	if (rep->kind == INGEST_DSN && rep->n_hard + rep->n_soft == 0) {
		snprintf(why, whylen, "delivery status notification with no failed or delayed recipient");
		return -1;
	}
	return 0;
}

/* "class:id:bulkwarden:senderid" -> id, when it names one of ours. */
static const struct bw_identity *
by_feedback_id(const struct registry *r, const char *fid)
{
	char buf[INGEST_FIELD_MAX], *f[5] = {0};
	int n = 0;
	bw_strlcpy(buf, fid, sizeof(buf));
	for (char *p = buf, *tok; n < 5 && (tok = strsep(&p, ":")) != NULL;)
		f[n++] = tok;
	if (n != 4 || strcmp(f[2], "bulkwarden") != 0)
		return NULL;
	return registry_by_id(r, f[1]);
}

const struct bw_identity *
ingest_attribute(const struct registry *r, const struct ingest_report *rep, enum ingest_by *by)
{
	const struct bw_identity *id;
	*by = INGEST_BY_NONE;
	if (rep->feedback_id[0] && (id = by_feedback_id(r, rep->feedback_id)) != NULL) {
		*by = INGEST_BY_FEEDBACK_ID;
		return id;
	}
	for (size_t i = 0; rep->dkim_d[0] && i < r->n_ids; i++)
		for (size_t k = 0; k < r->ids[i].n_dkim; k++)
			if (strcmp(r->ids[i].dkim[k].domain, rep->dkim_d) == 0 &&
			    (rep->dkim_s[0] == '\0' || strcmp(r->ids[i].dkim[k].selector, rep->dkim_s) == 0)) {
				*by = INGEST_BY_DKIM;
				return &r->ids[i];
			}
	for (size_t i = 0; rep->mail_from_domain[0] && i < r->n_ids; i++)
		if (domain_match_list(r->ids[i].envelope_domains, r->ids[i].n_envelope_domains,
				      rep->mail_from_domain)) {
			*by = INGEST_BY_ENVELOPE;
			return &r->ids[i];
		}
	for (size_t i = 0; rep->from_domain[0] && i < r->n_ids; i++) {
		const struct bw_identity *x = &r->ids[i];
		bool m = x->n_from_domains
			     ? domain_match_list(x->from_domains, x->n_from_domains, rep->from_domain)
			     : domain_match_list(x->envelope_domains, x->n_envelope_domains,
						 rep->from_domain);
		if (m) {
			*by = INGEST_BY_FROM;
			return x;
		}
	}
	return NULL;
}

const char *
ingest_kind_name(enum ingest_kind k)
{
	return k == INGEST_ARF ? "arf" : k == INGEST_DSN ? "dsn" : "unknown";
}

const char *
ingest_by_name(enum ingest_by b)
{
	static const char *const n[] = {"none", "feedback-id", "dkim", "envelope", "from"};
	return (unsigned)b < 5 ? n[b] : "none";
}
