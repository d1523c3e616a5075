/*
 * aggregate.c - DMARC aggregate report XML read with libxml2's SAX2 push
 * parser (aggregate.h). No tree is built: element text is collected into
 * one bounded buffer, matched by its path (feedback/record/row/count, ...)
 * when the element ends, and each record goes to the caller's callback.
 *
 * Memory: the parser state lives on the stack of agg_parse(); libxml2's
 * context is freed before returning. Nothing is allocated per record.
 * Untrusted input: all of the XML. The SAX handlers set here are the only
 * ones: no entity lookup, no external subset, no reference callback, so
 * nothing outside the bytes given is ever read and no entity is expanded;
 * an <!ENTITY> declaration (the billion laughs and external entity
 * attacks) or a DOCTYPE naming an external DTD stops the parse at once.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "base/util.h"
#include "ingest/aggregate.h"

#define AGG_NAME_MAX 32 /* bytes kept of one element name */
#define AGG_PATH_MAX 256
#define AGG_CHUNK 65536		 /* bytes handed to the push parser at once */
#define AGG_TIME_MAX (1LL << 40) /* date_range bound (year 36812) */

enum ftype { F_META, F_ROW, F_BEGIN, F_END, F_COUNT, F_PCT };

/* Every element read, by its path under the root; the rest is ignored
 * (reporters add extensions). Strings keep their first occurrence. */
static const struct field {
	const char *path;
	enum ftype type;
	size_t off, size;
} fields[] = {
#define M(p, f)                                                                                    \
	{                                                                                          \
		p, F_META, offsetof(struct agg_meta, f), sizeof(((struct agg_meta *)0)->f)         \
	}
#define R(p, f)                                                                                    \
	{                                                                                          \
		p, F_ROW, offsetof(struct agg_row, f), sizeof(((struct agg_row *)0)->f)            \
	}
    M("feedback/report_metadata/org_name", org_name),
    M("feedback/report_metadata/email", email),
    M("feedback/report_metadata/report_id", report_id),
    {"feedback/report_metadata/date_range/begin", F_BEGIN, 0, 0},
    {"feedback/report_metadata/date_range/end", F_END, 0, 0},
    M("feedback/policy_published/domain", domain),
    M("feedback/policy_published/p", p),
    M("feedback/policy_published/sp", sp),
    M("feedback/policy_published/adkim", adkim),
    M("feedback/policy_published/aspf", aspf),
    {"feedback/policy_published/pct", F_PCT, 0, 0},
    R("feedback/record/row/source_ip", source_ip),
    {"feedback/record/row/count", F_COUNT, 0, 0},
    R("feedback/record/row/policy_evaluated/disposition", disposition),
    R("feedback/record/row/policy_evaluated/dkim", dkim),
    R("feedback/record/row/policy_evaluated/spf", spf),
    R("feedback/record/identifiers/header_from", header_from),
    R("feedback/record/identifiers/envelope_from", envelope_from),
    R("feedback/record/auth_results/dkim/domain", dkim_domain),
    R("feedback/record/auth_results/dkim/selector", dkim_selector),
    R("feedback/record/auth_results/dkim/result", dkim_result),
    R("feedback/record/auth_results/spf/domain", spf_domain),
    R("feedback/record/auth_results/spf/result", spf_result),
#undef M
#undef R
};

struct parse {
	xmlParserCtxtPtr ctxt;
	struct agg_meta *meta;
	struct agg_row row;
	agg_row_fn fn;
	void *arg;
	char *why;
	size_t whylen;
	bool failed, root_seen, has_count, has_begin, has_end;
	int depth; /* current nesting; names kept for the first AGG_DEPTH_MAX */
	char names[AGG_DEPTH_MAX][AGG_NAME_MAX];
	char text[AGG_TEXT_MAX];
	size_t text_len;
	long rows;
};

/* Stop the parse with a reason (the first one given is kept). */
__attribute__((format(printf, 2, 3))) static void
fail(struct parse *p, const char *fmt, ...)
{
	if (!p->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->why, p->whylen, fmt, ap);
		va_end(ap);
		p->failed = true;
	}
	xmlStopParser(p->ctxt);
}

/* A bounded copy with surrounding blanks trimmed and control characters
 * made blanks (values reach events and the terminal). */
static void
copy_text(char *dst, size_t size, const char *src, size_t len)
{
	while (len > 0 && (*src == ' ' || *src == '\t' || *src == '\r' || *src == '\n'))
		src++, len--;
	while (len > 0 && (src[len - 1] == ' ' || src[len - 1] == '\t' || src[len - 1] == '\r' ||
			   src[len - 1] == '\n'))
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
			dst[i] = ' ';
}

/* A decimal number within [0, max]; false when it is anything else. */
static bool
number(const char *s, long long max, long long *out)
{
	long long v = 0;
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return true;
}

/* The path of the element that just ended ("feedback/record/row/count"). */
static void
path_of(const struct parse *p, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < p->depth && n < len; i++) {
		int w = snprintf(buf + n, len - n, "%s%s", i ? "/" : "", p->names[i]);
		if (w < 0 || (size_t)w >= len - n) {
			buf[0] = '\0'; /* too long for any known path */
			return;
		}
		n += (size_t)w;
	}
}

/* A record ended: check what every consumer relies on, then hand it on. */
static void
record_end(struct parse *p)
{
	struct agg_row *r = &p->row;
	unsigned char addr[16];
	if (inet_pton(AF_INET, r->source_ip, addr) != 1 &&
	    inet_pton(AF_INET6, r->source_ip, addr) != 1)
		fail(p, "record %zu: source_ip \"%.64s\" is not an IP address", r->n, r->source_ip);
	else if (!p->has_count)
		fail(p, "record %zu: no valid count (0 to %d)", r->n, AGG_COUNT_MAX);
	else if (r->header_from[0] == '\0')
		fail(p, "record %zu: no identifiers/header_from", r->n);
	else if (p->fn(r, p->arg, p->why, p->whylen) != 0) {
		p->failed = true;
		xmlStopParser(p->ctxt);
	}
}

/* An element ended: store its text where its path says. */
static void
field_end(struct parse *p)
{
	char path[AGG_PATH_MAX], text[AGG_TEXT_MAX];
	long long v;
	path_of(p, path, sizeof(path));
	if (strcmp(path, "feedback/record") == 0) {
		record_end(p);
		return;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *f = &fields[i];
		if (strcmp(path, f->path) != 0)
			continue;
		copy_text(text, sizeof(text), p->text, p->text_len);
		char *dst = f->type == F_META ? (char *)p->meta + f->off : (char *)&p->row + f->off;
		switch (f->type) {
		case F_META:
		case F_ROW:
			if (dst[0] == '\0')
				bw_strlcpy(dst, text, f->size);
			break;
		case F_BEGIN:
		case F_END:
			if (!number(text, AGG_TIME_MAX, &v)) {
				fail(p, "date_range/%s \"%.32s\" is not a time",
				     f->type == F_BEGIN ? "begin" : "end", text);
				return;
			}
			if (f->type == F_BEGIN)
				p->meta->begin = v, p->has_begin = true;
			else
				p->meta->end = v, p->has_end = true;
			break;
		case F_COUNT:
			if (number(text, AGG_COUNT_MAX, &v))
				p->row.count = (uint64_t)v, p->has_count = true;
			break;
		case F_PCT:
			if (number(text, 100, &v))
				p->meta->pct = (int)v;
			break;
		}
		return;
	}
}

/* SAX: an element starts (the root is checked, records counted). */
static void
on_start(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri, int nns,
	 const xmlChar **ns, int nattr, int ndef, const xmlChar **attrs)
{
	struct parse *p = ctx;
	(void)prefix, (void)uri, (void)nns, (void)ns, (void)nattr, (void)ndef, (void)attrs;
	if (p->failed)
		return;
	if (!p->root_seen) {
		p->root_seen = true;
		if (strcmp((const char *)name, "feedback") != 0) {
			fail(p,
			     "not a DMARC aggregate report (root element <%.32s>, not <feedback>)",
			     (const char *)name);
			return;
		}
	}
	if (p->depth < AGG_DEPTH_MAX) {
		size_t n = strlen((const char *)name);
		bw_strlcpy(p->names[p->depth], n < AGG_NAME_MAX ? (const char *)name : "?",
			   AGG_NAME_MAX);
	}
	p->depth++;
	p->text_len = 0;
	if (p->depth == 2 && strcmp(p->names[1], "record") == 0) {
		if (++p->rows > AGG_ROWS_MAX) {
			fail(p, "more than %d records (the limit)", AGG_ROWS_MAX);
			return;
		}
		memset(&p->row, 0, sizeof(p->row));
		p->row.n = (size_t)p->rows;
		p->has_count = false;
	}
}

/* SAX: an element ends. */
static void
on_end(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri)
{
	struct parse *p = ctx;
	(void)name, (void)prefix, (void)uri;
	if (p->failed)
		return;
	if (p->depth <= AGG_DEPTH_MAX)
		field_end(p);
	p->depth--;
	p->text_len = 0;
}

/* SAX: text, kept up to AGG_TEXT_MAX bytes per element. */
static void
on_chars(void *ctx, const xmlChar *ch, int len)
{
	struct parse *p = ctx;
	if (p->failed || len <= 0 || p->depth > AGG_DEPTH_MAX)
		return;
	size_t room = sizeof(p->text) - p->text_len;
	size_t n = (size_t)len < room ? (size_t)len : room;
	memcpy(p->text + p->text_len, ch, n);
	p->text_len += n;
}

/* SAX: <!ENTITY ...> in a DOCTYPE: refused before any use. */
static void
on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *pub, const xmlChar *sys,
	       xmlChar *content)
{
	(void)type, (void)pub, (void)sys, (void)content;
	fail(ctx, "DOCTYPE declares an entity (%.32s): refused", (const char *)name);
}

/* SAX: <!ENTITY ... NDATA ...>: refused likewise. */
static void
on_unparsed_entity_decl(void *ctx, const xmlChar *name, const xmlChar *pub, const xmlChar *sys,
			const xmlChar *notation)
{
	(void)pub, (void)sys, (void)notation;
	fail(ctx, "DOCTYPE declares an entity (%.32s): refused", (const char *)name);
}

/* SAX: <!DOCTYPE ...>: one naming an external DTD is refused. */
static void
on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
	(void)name;
	if (ext != NULL || sys != NULL)
		fail(ctx, "DOCTYPE names an external DTD: refused");
}

/* libxml2 errors are recorded by the context (xmlCtxtGetLastError); this
 * keeps them off stderr. */
static void
on_error(void *ctx, xmlErrorPtr e)
{
	(void)ctx, (void)e;
}

/* libxml2's generic error channel (encoding errors bypass the context's
 * handler): silenced, the context records what went wrong. */
static void
on_generic_error(void *ctx, const char *msg, ...)
{
	(void)ctx, (void)msg;
}

/* Push the XML through the parser in chunks; see aggregate.h. */
long
agg_parse(const char *xml, size_t len, struct agg_meta *meta, agg_row_fn fn, void *arg, char *why,
	  size_t whylen)
{
	static struct parse zero;
	struct parse p = zero;
	xmlSAXHandler sax;

	memset(meta, 0, sizeof(*meta));
	meta->pct = -1;
	p.meta = meta;
	p.fn = fn;
	p.arg = arg;
	p.why = why;
	p.whylen = whylen;
	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = on_start;
	sax.endElementNs = on_end;
	sax.characters = on_chars;
	sax.cdataBlock = on_chars;
	sax.entityDecl = on_entity_decl;
	sax.unparsedEntityDecl = on_unparsed_entity_decl;
	sax.internalSubset = on_internal_subset;
	sax.serror = on_error;

	xmlSetGenericErrorFunc(NULL, on_generic_error); /* this thread's channel */
	size_t first = len < 4 ? len : 4;
	p.ctxt = xmlCreatePushParserCtxt(&sax, &p, xml, (int)first, NULL);
	if (p.ctxt == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	xmlCtxtUseOptions(p.ctxt, XML_PARSE_NONET);
	for (size_t off = first; off < len && !p.failed;) {
		size_t n = len - off < AGG_CHUNK ? len - off : AGG_CHUNK;
		if (xmlParseChunk(p.ctxt, xml + off, (int)n, 0) != 0 && !p.failed)
			break;
		off += n;
	}
	if (!p.failed)
		xmlParseChunk(p.ctxt, NULL, 0, 1);
	long rc = -1;
	if (p.failed) {
		/* why is set */
	} else if (!p.ctxt->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(p.ctxt);
		char msg[160];
		copy_text(msg, sizeof(msg), e && e->message ? e->message : "parse error",
			  e && e->message ? strlen(e->message) : 11);
		snprintf(why, whylen, "not well-formed XML (line %d): %s", e ? e->line : 0, msg);
	} else if (!p.root_seen) {
		snprintf(why, whylen, "no XML element");
	} else if (meta->org_name[0] == '\0' || meta->report_id[0] == '\0') {
		snprintf(why, whylen, "no report_metadata org_name or report_id");
	} else if (!p.has_begin || !p.has_end || meta->end < meta->begin) {
		snprintf(why, whylen, "no valid report_metadata/date_range");
	} else if (meta->domain[0] == '\0') {
		snprintf(why, whylen, "no policy_published/domain");
	} else {
		rc = p.rows;
	}
	/* libxml2 keeps declared entities in a document of its own even in SAX
	 * mode ("expat compatibility"); it is ours to free */
	if (p.ctxt->myDoc != NULL)
		xmlFreeDoc(p.ctxt->myDoc);
	xmlFreeParserCtxt(p.ctxt);
	return rc;
}
