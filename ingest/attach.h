/*
 * attach.h - the DMARC aggregate report carried by a message: reporters
 * mail it as an attachment (application/zip, application/gzip,
 * application/x-gzip, text/xml, application/xml, or
 * application/octet-stream named *.zip, *.gz, *.xml), or as the whole
 * body of a single-part message. MIME is parsed by GMime.
 */
#ifndef BW_INGEST_ATTACH_H
#define BW_INGEST_ATTACH_H

#include <stddef.h>

#define AGG_CTYPE_MAX 64

/* The decoded bytes of the first such part (*out malloc'ed, the caller
 * frees) and its content type. Returns 1 found, 0 the message has none,
 * -1 buf is not a message or memory ran out (why says which). */
int agg_attachment(const char *buf, size_t len, unsigned char **out, size_t *out_len, char *ctype,
		   size_t ctype_len, char *why, size_t whylen);

#endif
