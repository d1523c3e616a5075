/*
 * unpack.h - the XML of a DMARC aggregate report (RFC 7489 §7.2) out of
 * the forms reporters send it in: plain XML, gzip (zlib) or a zip archive
 * (libzip). Every form is decompressed under one cap, AGG_XML_MAX, checked
 * against the sizes an archive declares and against the bytes actually
 * inflated, so a decompression bomb stops at the cap.
 */
#ifndef BW_INGEST_UNPACK_H
#define BW_INGEST_UNPACK_H

#include <stddef.h>

/* Largest decompressed report accepted: 64 MiB. A 50,000-row report from
 * a large provider is about 30 MB of XML; anything beyond is refused as
 * unusable input rather than held in memory. */
#define AGG_XML_MAX (64u << 20)

enum agg_wrap { AGG_WRAP_NONE, AGG_WRAP_XML, AGG_WRAP_GZIP, AGG_WRAP_ZIP };

/* What buf holds, from its first bytes: gzip (1f 8b), zip (PK\3\4), XML
 * ('<' after an optional byte order mark and blanks), or none of these. */
enum agg_wrap agg_sniff(const unsigned char *buf, size_t len);
/* "xml" | "gzip" | "zip" | "none" */
const char *agg_wrap_name(enum agg_wrap w);

/* The report's XML, decompressed into *xml (malloc'ed, NUL-terminated,
 * the caller frees) with its length. *wrap says which form it was in.
 * Returns 0, or -1 with why (not a known form, corrupt or truncated
 * archive, more than AGG_XML_MAX bytes, no XML member in a zip). */
int agg_unpack(const unsigned char *buf, size_t len, char **xml, size_t *xml_len,
	       enum agg_wrap *wrap, char *why, size_t whylen);

#endif
