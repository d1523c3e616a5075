/*
 * listunsub.h - the List-Unsubscribe field (RFC 2369) as the
 * list-unsubscribe check reads it for RFC 8058 one-click: a comma-separated
 * list of angle-bracketed URIs, each of which must be a well-formed
 * RFC 3986 URI, at least one of them https with a valid host name.
 *
 * I/O-free and allocation-free; input is untrusted header bytes, read only
 * within [value, value + len).
 */
#ifndef BW_LISTUNSUB_H
#define BW_LISTUNSUB_H

#include <stdbool.h>
#include <stddef.h>

#define LISTUNSUB_URIS_MAX 16 /* URIs in one field; more is refused */

/* True when the field is a well-formed URI list holding an https URI;
 * otherwise false with *why (static English) saying what is wrong. */
bool listunsub_https(const char *value, size_t len, const char **why);

#endif
