/*
 * domain.c - normalization and pattern matching of domain names.
 *
 * ASCII names take a fast path (validate LDH labels, lowercase in place).
 * Names with 8-bit bytes are IDN U-labels: converted to A-labels with
 * libidn2 (IDNA2008, NFC input), so "bücher.example" and
 * "xn--bcher-kva.example" are the same registry name. Invalid UTF-8 or
 * IDNA-disallowed names fail normalization rather than being compared raw.
 *
 * Memory: outputs go to caller buffers of DOMAIN_MAX+1; libidn2's result is
 * freed before returning. Input is untrusted.
 */
#include "config.h"

#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "registry/domain.h"

#define LABEL_MAX 63

/* Validate ASCII LDH (and '_', seen in real-world hostnames) labels and
 * lowercase into out. */
static bool
ascii_domain(const char *in, size_t len, char *out)
{
	size_t label = 0;
	if (len == 0 || len > DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '.') {
			if (label == 0 || in[i - 1] == '-')
				return false;
			label = 0;
			out[i] = '.';
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '_';
		if (!ok || (c == '-' && label == 0) || ++label > LABEL_MAX)
			return false;
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
	}
	if (label == 0 || in[len - 1] == '-')
		return false;
	out[len] = '\0';
	return true;
}

bool
domain_normalize(const char *in, size_t len, char *out)
{
	bool eight = false;
	if (len > 0 && in[len - 1] == '.') /* absolute form */
		len--;
	if (len == 0 || len > 4 * DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\0')
			return false;
		if ((unsigned char)in[i] >= 0x80)
			eight = true;
	}
	if (len >= 2 && in[0] == '[' && in[len - 1] == ']') { /* domain literal */
		if (len > DOMAIN_MAX)
			return false;
		memcpy(out, in, len);
		out[len] = '\0';
		bw_lower(out);
		return true;
	}
	if (!eight)
		return ascii_domain(in, len, out);

	char tmp[4 * DOMAIN_MAX + 1];
	memcpy(tmp, in, len);
	tmp[len] = '\0';
	char *ace = NULL;
	if (idn2_to_ascii_8z(tmp, &ace, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK) {
		/* IDNA2008 refuses some mixed-case input; retry with TR46 mapping */
		if (idn2_to_ascii_8z(tmp, &ace, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT | IDN2_USE_STD3_ASCII_RULES) != IDN2_OK)
			return false;
	}
	size_t alen = strlen(ace);
	bool ok = ascii_domain(ace, alen, out);
	idn2_free(ace);
	return ok;
}

bool
domain_normalize_pattern(const char *in, char *out)
{
	if (in[0] == '*' && in[1] == '.') {
		out[0] = '*';
		out[1] = '.';
		if (strlen(in + 2) > DOMAIN_MAX - 2)
			return false;
		return domain_normalize(in + 2, strlen(in + 2), out + 2);
	}
	if (in[0] == '[')
		return false; /* literals are never registry domains */
	return domain_normalize(in, strlen(in), out);
}

bool
domain_match(const char *pattern, const char *d)
{
	if (pattern[0] == '*' && pattern[1] == '.') {
		size_t pl = strlen(pattern + 1); /* ".example.com" */
		size_t dl = strlen(d);
		return dl > pl && memcmp(d + dl - pl, pattern + 1, pl) == 0;
	}
	return strcmp(pattern, d) == 0;
}

bool
domain_match_list(const char *const *patterns, size_t n, const char *d)
{
	for (size_t i = 0; i < n; i++)
		if (domain_match(patterns[i], d))
			return true;
	return false;
}
