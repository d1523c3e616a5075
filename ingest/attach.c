/*
 * attach.c - find the aggregate report attached to a message (attach.h)
 * with GMime: walk the MIME tree to a bounded depth and decode the first
 * part whose type (or, for application/octet-stream, file name) says it is
 * a report; its content-transfer-encoding is undone by GMime.
 *
 * Memory: GMime objects are released before returning; the decoded part
 * is copied into one malloc'ed buffer the caller owns. It is never larger
 * than the message (base64 and quoted-printable only shrink).
 * Untrusted input: the whole message; type and file names are compared,
 * never copied beyond their bounds.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "base/util.h"
#include "ingest/attach.h"

#define ATTACH_DEPTH_MAX 8 /* nested multiparts and messages followed */

static GOnce attach_gmime_once = G_ONCE_INIT;

/* g_mime_init() once per process (GMime counts its initialisations). */
static gpointer
attach_gmime_init(gpointer unused)
{
	(void)unused;
	g_mime_init();
	return NULL;
}

/* Does name end in suffix (case-insensitive)? */
static bool
ends_with(const char *name, const char *suffix)
{
	size_t n = name ? strlen(name) : 0, s = strlen(suffix);
	return n >= s && strcasecmp(name + n - s, suffix) == 0;
}

/* Is this part a report by its content type or, when the type says
 * nothing (application/octet-stream), its file name? */
static bool
is_report(GMimeObject *o)
{
	static const char *const types[][2] = {
	    {"application", "zip"},    {"application", "gzip"},
	    {"application", "x-gzip"}, {"application", "x-zip-compressed"},
	    {"text", "xml"},	       {"application", "xml"},
	};
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	if (ct == NULL)
		return false;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (g_mime_content_type_is_type(ct, types[i][0], types[i][1]))
			return true;
	if (!g_mime_content_type_is_type(ct, "application", "octet-stream"))
		return false;
	const char *fn = GMIME_IS_PART(o) ? g_mime_part_get_filename(GMIME_PART(o)) : NULL;
	return ends_with(fn, ".zip") || ends_with(fn, ".gz") || ends_with(fn, ".xml");
}

/* Depth-first: the first report part under o, or NULL. */
static GMimeObject *
find(GMimeObject *o, int depth)
{
	if (o == NULL || depth > ATTACH_DEPTH_MAX)
		return NULL;
	if (GMIME_IS_MULTIPART(o)) {
		int n = g_mime_multipart_get_count(GMIME_MULTIPART(o));
		for (int i = 0; i < n; i++) {
			GMimeObject *r =
			    find(g_mime_multipart_get_part(GMIME_MULTIPART(o), i), depth + 1);
			if (r != NULL)
				return r;
		}
		return NULL;
	}
	if (GMIME_IS_MESSAGE_PART(o)) { /* a forwarded report */
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		return m ? find(g_mime_message_get_mime_part(m), depth + 1) : NULL;
	}
	return GMIME_IS_PART(o) && is_report(o) ? o : NULL;
}

/* Parse the message and decode its first report part (attach.h). */
int
agg_attachment(const char *buf, size_t len, unsigned char **out, size_t *out_len, char *ctype,
	       size_t ctype_len, char *why, size_t whylen)
{
	*out = NULL;
	*out_len = 0;
	ctype[0] = '\0';
	g_once(&attach_gmime_once, attach_gmime_init, NULL);
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(buf, len);
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s);
	if (m == NULL) {
		snprintf(why, whylen, "not a message (no header block)");
		return -1;
	}
	int rc = 0;
	GMimeObject *part = find(g_mime_message_get_mime_part(m), 0);
	GMimeDataWrapper *w = part ? g_mime_part_get_content(GMIME_PART(part)) : NULL;
	if (w != NULL) {
		GMimeContentType *ct = g_mime_object_get_content_type(part);
		snprintf(ctype, ctype_len, "%s/%s", g_mime_content_type_get_media_type(ct),
			 g_mime_content_type_get_media_subtype(ct));
		GMimeStream *mem = g_mime_stream_mem_new();
		g_mime_data_wrapper_write_to_stream(w, mem); /* decodes base64/QP */
		GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		if ((*out = malloc(ba->len + 1)) == NULL) {
			snprintf(why, whylen, "out of memory");
			rc = -1;
		} else {
			memcpy(*out, ba->data, ba->len);
			(*out)[ba->len] = '\0';
			*out_len = ba->len;
			rc = 1;
		}
		g_object_unref(mem);
	}
	g_object_unref(m);
	return rc;
}
