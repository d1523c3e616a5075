/*
 * unpack.c - plain, gzip and zip DMARC aggregate reports turned into XML
 * bytes (unpack.h). gzip is inflated by zlib, zip archives are read by
 * libzip (chosen over libarchive: it reads zip only, so a report cannot
 * reach a tar, cpio, 7z or rar reader, and it reports each member's
 * declared size before anything is inflated).
 *
 * Memory: the output buffer is malloc'ed here and handed to the caller;
 * it grows by doubling and never past AGG_XML_MAX + 1 bytes. zlib and
 * libzip state is released before returning.
 * Untrusted input: all of buf. A gzip ISIZE and a zip member's declared
 * size are only hints: the inflated byte count is checked as it grows,
 * so a member that lies about its size stops at the cap too.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zip.h>
#include <zlib.h>

#include "ingest/unpack.h"

#define UNPACK_FIRST 65536    /* first output allocation */
#define UNPACK_ZIP_MEMBERS 16 /* members looked at in one archive */

/* Sniff the form from the magic bytes (unpack.h). */
enum agg_wrap
agg_sniff(const unsigned char *buf, size_t len)
{
	if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b)
		return AGG_WRAP_GZIP;
	if (len >= 4 && memcmp(buf, "PK\003\004", 4) == 0)
		return AGG_WRAP_ZIP;
	size_t i = 0;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	else if (len >= 2 &&
		 ((buf[0] == 0xff && buf[1] == 0xfe) || (buf[0] == 0xfe && buf[1] == 0xff)))
		return AGG_WRAP_XML; /* UTF-16: libxml2 reads the byte order mark */
	while (i < len && i < 4096 &&
	       (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
		i++;
	return i < len && buf[i] == '<' ? AGG_WRAP_XML : AGG_WRAP_NONE;
}

/* The form's name for events. */
const char *
agg_wrap_name(enum agg_wrap w)
{
	static const char *const n[] = {"none", "xml", "gzip", "zip"};
	return (unsigned)w < 4 ? n[w] : "none";
}

/* Output buffer: grows by doubling up to AGG_XML_MAX + 1 (one byte more
 * than allowed, so "too large" is seen) plus the terminating NUL. */
struct out {
	unsigned char *p;
	size_t len, cap;
};

/* Make room for at least one more byte; false when the cap is reached or
 * memory is short (why says which). */
static bool
out_room(struct out *o, char *why, size_t whylen)
{
	if (o->len < o->cap)
		return true;
	if (o->len > AGG_XML_MAX) {
		snprintf(why, whylen, "decompresses to more than %u bytes (the limit)",
			 AGG_XML_MAX);
		return false;
	}
	size_t cap = o->cap ? o->cap * 2 : UNPACK_FIRST;
	if (cap > (size_t)AGG_XML_MAX + 1)
		cap = (size_t)AGG_XML_MAX + 1;
	unsigned char *p = realloc(o->p, cap + 1);
	if (p == NULL) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	o->p = p;
	o->cap = cap;
	return true;
}

/* gzip: one member or several concatenated (RFC 1952 §2.2), inflated
 * until the input ends; a stream that stops early is truncated. */
static int
gunzip(const unsigned char *buf, size_t len, struct out *o, char *why, size_t whylen)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 16) != Z_OK) {
		snprintf(why, whylen, "zlib: cannot initialise");
		return -1;
	}
	z.next_in = (unsigned char *)buf;
	int rc = -1;
	size_t left = len;
	for (;;) {
		if (!out_room(o, why, whylen))
			break;
		uInt in_chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
		z.avail_in = in_chunk;
		z.next_out = o->p + o->len;
		z.avail_out = (uInt)(o->cap - o->len);
		int zr = inflate(&z, Z_NO_FLUSH);
		o->len = o->cap - z.avail_out;
		left -= in_chunk - z.avail_in;
		if (zr == Z_STREAM_END) {
			if (left == 0) {
				rc = 0;
				break;
			}
			inflateReset(&z); /* another member follows */
			continue;
		}
		if (zr == Z_OK)
			continue;
		if (zr == Z_BUF_ERROR && z.avail_out != 0) {
			snprintf(why, whylen, "truncated gzip stream (%zu bytes inflated)", o->len);
			break;
		}
		if (zr == Z_BUF_ERROR)
			continue;
		snprintf(why, whylen, "corrupt gzip stream: %s", z.msg ? z.msg : "inflate failed");
		break;
	}
	if (rc == 0 && o->len > AGG_XML_MAX) {
		snprintf(why, whylen, "decompresses to more than %u bytes (the limit)",
			 AGG_XML_MAX);
		rc = -1;
	}
	inflateEnd(&z);
	return rc;
}

/* The member of a zip archive holding the report: the only one, or the
 * first whose name ends in .xml. -1 when there is none. */
static zip_int64_t
zip_member(zip_t *za, char *why, size_t whylen)
{
	zip_int64_t n = zip_get_num_entries(za, 0);
	if (n <= 0) {
		snprintf(why, whylen, "empty zip archive");
		return -1;
	}
	for (zip_int64_t i = 0; i < n && i < UNPACK_ZIP_MEMBERS; i++) {
		const char *name = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
		size_t nl = name ? strlen(name) : 0;
		if (n == 1 || (nl > 4 && strcasecmp(name + nl - 4, ".xml") == 0))
			return i;
	}
	snprintf(why, whylen, "no .xml member in the zip archive");
	return -1;
}

/* zip: the report member, checked against its declared size before and
 * while it is inflated. */
static int
unzip(const unsigned char *buf, size_t len, struct out *o, char *why, size_t whylen)
{
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(buf, len, 0, &ze);
	zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
	int rc = -1;
	if (za == NULL) {
		snprintf(why, whylen, "not a readable zip archive: %s", zip_error_strerror(&ze));
		zip_source_free(src);
		zip_error_fini(&ze);
		return -1;
	}
	zip_error_fini(&ze);
	zip_int64_t i = zip_member(za, why, whylen);
	zip_stat_t st;
	zip_file_t *zf = NULL;
	if (i < 0)
		goto done;
	zip_stat_init(&st);
	if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
		snprintf(why, whylen, "zip member without a size: %s", zip_strerror(za));
		goto done;
	}
	if (st.size > AGG_XML_MAX) {
		snprintf(why, whylen, "zip member declares %llu bytes, more than %u (the limit)",
			 (unsigned long long)st.size, AGG_XML_MAX);
		goto done;
	}
	if ((zf = zip_fopen_index(za, (zip_uint64_t)i, 0)) == NULL) {
		snprintf(why, whylen, "cannot read the zip member: %s", zip_strerror(za));
		goto done;
	}
	for (;;) {
		if (!out_room(o, why, whylen))
			goto done;
		zip_int64_t r = zip_fread(zf, o->p + o->len, o->cap - o->len);
		if (r < 0) {
			snprintf(why, whylen, "corrupt zip member: %s", zip_file_strerror(zf));
			goto done;
		}
		if (r == 0)
			break;
		o->len += (size_t)r;
		if (o->len > st.size) {
			snprintf(why, whylen, "zip member inflates past its declared %llu bytes",
				 (unsigned long long)st.size);
			goto done;
		}
	}
	if (o->len != st.size) {
		snprintf(why, whylen, "truncated zip member (%zu of %llu bytes)", o->len,
			 (unsigned long long)st.size);
		goto done;
	}
	rc = 0;
done:
	if (zf != NULL)
		zip_fclose(zf);
	zip_discard(za); /* frees src */
	return rc;
}

/* Decompress by form into one capped buffer (unpack.h). */
int
agg_unpack(const unsigned char *buf, size_t len, char **xml, size_t *xml_len, enum agg_wrap *wrap,
	   char *why, size_t whylen)
{
	struct out o = {0};
	int rc = -1;
	*xml = NULL;
	*xml_len = 0;
	*wrap = agg_sniff(buf, len);
	switch (*wrap) {
	case AGG_WRAP_GZIP:
		rc = gunzip(buf, len, &o, why, whylen);
		break;
	case AGG_WRAP_ZIP:
		rc = unzip(buf, len, &o, why, whylen);
		break;
	case AGG_WRAP_XML:
		if (len > AGG_XML_MAX) {
			snprintf(why, whylen, "more than %u bytes (the limit)", AGG_XML_MAX);
			break;
		}
		if ((o.p = malloc(len + 1)) == NULL) {
			snprintf(why, whylen, "out of memory");
			break;
		}
		memcpy(o.p, buf, len);
		o.len = len;
		rc = 0;
		break;
	default:
		snprintf(why, whylen, "neither XML, gzip nor zip");
		break;
	}
	if (rc != 0) {
		free(o.p);
		return -1;
	}
	if (o.p == NULL && (o.p = malloc(1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	o.p[o.len] = '\0';
	*xml = (char *)o.p;
	*xml_len = o.len;
	return 0;
}
