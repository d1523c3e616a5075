/*
 * domain.h - domain names as the registry compares them: normalized to
 * lowercase ASCII (IDN U-labels converted to A-labels), no trailing dot,
 * and matched against registry patterns ("example.com" exact,
 * "*.example.com" any subdomain of example.com but not the apex).
 *
 * Input is untrusted (envelope and header domains); every output buffer is
 * bounded by DOMAIN_MAX.
 */
#ifndef BW_DOMAIN_H
#define BW_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

#define DOMAIN_MAX 255 /* RFC 1035 presentation limit, without trailing dot */

/* Normalize in (len bytes, may be UTF-8) into out[DOMAIN_MAX+1]. Returns
 * false for an empty, oversized or syntactically invalid name. */
bool domain_normalize(const char *in, size_t len, char *out);
/* Same check for a registry pattern ("*." prefix allowed). */
bool domain_normalize_pattern(const char *in, char *out);
/* d (normalized) matches pattern (normalized). */
bool domain_match(const char *pattern, const char *d);
/* d matches any pattern of the list. */
bool domain_match_list(const char *const *patterns, size_t n, const char *d);

#endif
