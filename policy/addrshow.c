/*
 * addrshow.c - display names and comments of a From field as a reader
 * shows them (see addrshow.h), so that an address hidden there is found
 * however it is written:
 *   - RFC 2047 encoded-words are decoded, then converted from the charset
 *     they name to UTF-8 with iconv(3): "=?UTF-16BE?B?AGMAZQBv...?=",
 *     "=?UTF-7?Q?ceo+AEA-bank.example?=" and ISO-2022-JP's full-width '@'
 *     all show an '@'. A charset iconv does not know, or bytes that do not
 *     decode in theirs, cannot be shown faithfully: refused, not guessed.
 *     Raw text with ISO-2022 escape sequences (allowed in comments) is
 *     read as ISO-2022-JP too.
 *   - look-alikes of '@' and '.' (full-width, small, one dot leader, the
 *     Unicode confusables of FULL STOP ...) are folded to ASCII.
 *   - bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE reversing
 *     "elpmaxe.knab@oec" into "ceo@bank.example", and the others) are
 *     noticed; addr.c refuses the field.
 *
 * Memory: nothing allocated. Text is folded in place; decoded text goes to
 * the caller's scratch buffer, each encoded-word's raw bytes first into its
 * tail (so the conversion writes forward without overlapping them).
 * Untrusted input: the whole text; every length is bounded by the buffers.
 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "policy/addrshow.h"

static const char too_long[] = "display name too long once decoded";

/* Look-alikes of '@' and '.' in UTF-8, folded to the ASCII they pass for.
 * Over-inclusion is harmless: a fold only matters where it completes the
 * shape of an address. */
static const struct {
	const char *u;
	char a;
} lookalike[] = {
    {"\xef\xbc\xa0", '@'},     /* U+FF20 FULLWIDTH COMMERCIAL AT */
    {"\xef\xb9\xab", '@'},     /* U+FE6B SMALL COMMERCIAL AT */
    {"\xe2\x93\x90", '@'},     /* U+24D0 CIRCLED LATIN SMALL LETTER A */
    {"\xe2\x92\xb6", '@'},     /* U+24B6 CIRCLED LATIN CAPITAL LETTER A */
    {"\xef\xbc\x8e", '.'},     /* U+FF0E FULLWIDTH FULL STOP */
    {"\xef\xb9\x92", '.'},     /* U+FE52 SMALL FULL STOP */
    {"\xe3\x80\x82", '.'},     /* U+3002 IDEOGRAPHIC FULL STOP */
    {"\xef\xbd\xa1", '.'},     /* U+FF61 HALFWIDTH IDEOGRAPHIC FULL STOP */
    {"\xe2\x80\xa4", '.'},     /* U+2024 ONE DOT LEADER */
    {"\xd9\xa0", '.'},	       /* U+0660 ARABIC-INDIC DIGIT ZERO */
    {"\xdb\xb0", '.'},	       /* U+06F0 EXTENDED ARABIC-INDIC DIGIT ZERO */
    {"\xdc\x81", '.'},	       /* U+0701 SYRIAC SUPRALINEAR FULL STOP */
    {"\xdc\x82", '.'},	       /* U+0702 SYRIAC SUBLINEAR FULL STOP */
    {"\xea\x93\xb8", '.'},     /* U+A4F8 LISU LETTER TONE MYA TI */
    {"\xea\x98\x8e", '.'},     /* U+A60E VAI FULL STOP */
    {"\xf0\x90\xa9\x90", '.'}, /* U+10A50 KHAROSHTHI PUNCTUATION DOT */
    {"\xf0\x9d\x85\xad", '.'}, /* U+1D16D MUSICAL SYMBOL COMBINING AUGMENTATION DOT */
    {"\xc2\xb7", '.'},	       /* U+00B7 MIDDLE DOT */
    {"\xe2\x80\xa7", '.'},     /* U+2027 HYPHENATION POINT */
    {"\xe2\x88\x99", '.'},     /* U+2219 BULLET OPERATOR */
    {"\xe2\x8b\x85", '.'},     /* U+22C5 DOT OPERATOR */
    {"\xe3\x83\xbb", '.'},     /* U+30FB KATAKANA MIDDLE DOT */
    {"\xef\xbd\xa5", '.'},     /* U+FF65 HALFWIDTH KATAKANA MIDDLE DOT */
};

/* Bidirectional controls in UTF-8: ALM, LRM, RLM, LRE..RLO, LRI..PDI. */
static const char *const bidi[] = {
    "\xd8\x9c",			    /* U+061C */
    "\xe2\x80\x8e", "\xe2\x80\x8f", /* U+200E, U+200F */
    "\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad", "\xe2\x80\xae", /* U+202A-E */
    "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8", "\xe2\x81\xa9",		    /* U+2066-9 */
};

/* Length of the table entry u[] matching at t[0, n), or 0. */
static size_t
match_at(const char *t, size_t n, const char *u)
{
	size_t k = strlen(u);
	return k <= n && memcmp(t, u, k) == 0 ? k : 0;
}

bool
addrshow_has_bidi(const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)t[i] != 0xd8 && (unsigned char)t[i] != 0xe2)
			continue;
		for (size_t j = 0; j < sizeof(bidi) / sizeof(bidi[0]); j++)
			if (match_at(t + i, n - i, bidi[j]))
				return true;
	}
	return false;
}

/* Fold the look-alikes of '@' and '.' to ASCII, in place; the new length. */
static size_t
fold_lookalikes(char *t, size_t n)
{
	size_t r = 0, w = 0, k = 0;

	while (r < n) {
		if ((unsigned char)t[r] >= 0xc2) {
			for (size_t i = 0; i < sizeof(lookalike) / sizeof(lookalike[0]); i++)
				if ((k = match_at(t + r, n - r, lookalike[i].u)) != 0) {
					t[w++] = lookalike[i].a;
					r += k;
					break;
				}
			if (k != 0)
				continue;
		}
		t[w++] = t[r++];
	}
	return w;
}

/* ASCII lowercase of c. */
static unsigned
lower(unsigned c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

/* Index of byte c in the digit alphabet abc (hex or base64), or -1. */
static int
digit(const char *abc, unsigned c)
{
	const char *p = c != 0 ? strchr(abc, (int)c) : NULL;

	return p != NULL ? (int)(p - abc) : -1;
}

/* Decode an encoded-word's payload p[0, n) (Q or B) into out; the length
 * (never more than n). */
static size_t
payload_decode(const char *p, size_t n, int enc, char *out)
{
	static const char hex[] = "0123456789abcdef";
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t w = 0;

	if (enc == 'q') {
		for (size_t i = 0; i < n; i++) {
			int hi, lo;
			if (p[i] == '_') {
				out[w++] = ' ';
			} else if (p[i] == '=' && i + 2 < n &&
				   (hi = digit(hex, lower((unsigned char)p[i + 1]))) >= 0 &&
				   (lo = digit(hex, lower((unsigned char)p[i + 2]))) >= 0) {
				out[w++] = (char)(hi << 4 | lo);
				i += 2;
			} else {
				out[w++] = p[i];
			}
		}
		return w;
	}
	uint32_t acc = 0;
	int bits = 0, v;
	for (size_t i = 0; i < n; i++) {
		if ((v = digit(b64, (unsigned char)p[i])) < 0)
			continue;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[w++] = (char)(acc >> bits & 0xff);
		}
	}
	return w;
}

/*
 * Convert in[0, n) from charset cs to UTF-8 at out (cap bytes); the output
 * length, or -1 with *why. UTF-8 and US-ASCII are copied as they are (the
 * field's own UTF-8 rules do not apply inside an encoded-word; a reader
 * shows invalid bytes as replacement characters, never as '@').
 */
static long
convert(const char *cs, const char *in, size_t n, char *out, size_t cap, const char **why)
{
	if (strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "us-ascii") == 0 ||
	    strcasecmp(cs, "utf8") == 0) {
		if (n > cap) {
			*why = too_long;
			return -1;
		}
		memmove(out, in, n);
		return (long)n;
	}
	iconv_t cd = iconv_open("UTF-8", cs);
	if (cd == (iconv_t)-1) {
		*why = "encoded-word in a charset this relay cannot decode";
		return -1;
	}
	char *ip = (char *)in, *op = out;
	size_t il = n, ol = cap;
	size_t rc = iconv(cd, &ip, &il, &op, &ol);
	if (rc != (size_t)-1)
		rc = iconv(cd, NULL, NULL, &op, &ol); /* back to the initial state */
	int err = errno;
	iconv_close(cd);
	if (rc == (size_t)-1) {
		*why = err == E2BIG ? too_long : "encoded-word that does not decode in its charset";
		return -1;
	}
	return (long)(cap - ol);
}

/*
 * Decode the RFC 2047 encoded-words ("=?cs?Q?..?=", "=?cs?B?..?=", with
 * an optional RFC 2231 "*lang") of t[0, n) into out (cap bytes), as a
 * reader shows them: each word converted from its charset, other text
 * copied, whitespace between two words dropped. The length, or -1 with
 * *why. Each word's raw bytes are decoded into the tail of out and
 * converted forward from there, so the two never overlap.
 */
static long
ew_decode(const char *t, size_t n, char *out, size_t cap, const char **why)
{
	size_t r = 0, w = 0, last_w = SIZE_MAX;
	char cs[ADDRSHOW_CHARSET_MAX + 1];

	while (r < n) {
		size_t q = r + 2, ts, te, i;
		int enc;

		if (t[r] != '=' || r + 1 >= n || t[r + 1] != '?')
			goto literal;
		while (q < n && t[q] != '?' && t[q] != ' ')
			q++;
		if (q == r + 2 || q + 2 >= n || t[q] != '?' || t[q + 2] != '?')
			goto literal;
		enc = t[q + 1] | 0x20;
		if (enc != 'q' && enc != 'b')
			goto literal;
		for (ts = te = q + 3; te + 1 < n && !(t[te] == '?' && t[te + 1] == '='); te++)
			;
		if (te + 1 >= n)
			goto literal;
		size_t csl = q - r - 2;
		const char *star = memchr(t + r + 2, '*', csl);
		if (star != NULL)
			csl = (size_t)(star - (t + r + 2));
		if (csl == 0 || csl > ADDRSHOW_CHARSET_MAX) {
			*why = "encoded-word in a charset this relay cannot decode";
			return -1;
		}
		memcpy(cs, t + r + 2, csl);
		cs[csl] = '\0';
		if (last_w != SIZE_MAX) { /* only whitespace copied since the last one? */
			for (i = last_w; i < w && (out[i] == ' ' || out[i] == '\t'); i++)
				;
			if (i == w)
				w = last_w;
		}
		if (te - ts > cap - w) {
			*why = too_long;
			return -1;
		}
		char *raw = out + cap - (te - ts);
		size_t rn = payload_decode(t + ts, te - ts, enc, raw);
		long k = convert(cs, raw, rn, out + w, (size_t)(raw - (out + w)), why);
		if (k < 0)
			return -1;
		w += (size_t)k;
		r = te + 2;
		last_w = w;
		continue;
	literal:
		if (w == cap) {
			*why = too_long;
			return -1;
		}
		out[w++] = t[r++];
	}
	return (long)w;
}

/* ASCII letter or digit, independent of the locale. */
static bool
is_alnum(unsigned c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A byte that may appear in the local part of an address a reader sees. */
static bool
is_lchar(unsigned c)
{
	return c >= 0x80 || c == '.' || is_alnum(c) ||
	       (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", (int)c) != NULL);
}

/* A byte that may appear in the domain of an address a reader sees. */
static bool
is_dchar(unsigned c)
{
	return c >= 0x80 || c == '.' || c == '-' || c == '_' || is_alnum(c);
}

/* d looks like a domain name: "x.tld", no empty label, a TLD of 2+ chars
 * starting with a letter (or a UTF-8 byte). */
static bool
domain_shaped(const unsigned char *d, size_t n)
{
	size_t dot = n;

	if (n == 0 || d[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (d[i] != '.')
			continue;
		if (i + 1 < n && d[i + 1] == '.')
			return false;
		dot = i;
	}
	return dot < n && n - dot - 1 >= 2 &&
	       (d[dot + 1] >= 0x80 || ((d[dot + 1] | 0x20) >= 'a' && (d[dot + 1] | 0x20) <= 'z'));
}

/* Case-insensitive (ASCII) equality of a[0, an) and b[0, bn). */
static bool
eq_ci(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	}
	return true;
}

/* Note an address seen: remembering the first is enough, because a second
 * different one cannot equal the mailbox too. */
static void
cand(struct addrshow *h, const char *l, size_t ln, const char *d, size_t dn)
{
	if (ln > ADDR_LOCAL_MAX || dn > ADDR_DOMAIN_MAX) { /* cannot be the mailbox */
		h->hit = true;
	} else if (!h->set) {
		memcpy(h->loc, l, ln);
		h->loc[ln] = '\0';
		memcpy(h->dom, d, dn);
		h->dom[dn] = '\0';
		h->set = true;
	} else if (!eq_ci(h->loc, strlen(h->loc), l, ln) || !eq_ci(h->dom, strlen(h->dom), d, dn)) {
		h->hit = true;
	}
}

/* Find every local@domain.tld shape in t[0, n). Linear: scans stop at '@'. */
static void
scan(struct addrshow *h, const char *t, size_t n)
{
	const unsigned char *u = (const unsigned char *)t;

	for (size_t i = 0; i < n; i++) {
		size_t ls = i, de = i + 1;
		if (u[i] != '@')
			continue;
		while (ls > 0 && is_lchar(u[ls - 1]))
			ls--;
		while (de < n && is_dchar(u[de]))
			de++;
		while (ls < i && u[ls] == '.')
			ls++;
		while (de > i + 1 && u[de - 1] == '.')
			de--;
		if (ls < i && domain_shaped(u + i + 1, de - i - 1))
			cand(h, t + ls, i - ls, t + i + 1, de - i - 1);
	}
}

/* Notice bidi controls, fold look-alikes and look for addresses in t. */
static void
show(struct addrshow *h, char *t, size_t n)
{
	if (addrshow_has_bidi(t, n))
		h->bidi = true;
	scan(h, t, fold_lookalikes(t, n));
}

const char *
addrshow_text(struct addrshow *h, char *t, size_t n, char *scratch, size_t cap,
	      enum addr_status *st)
{
	const char *why = NULL;
	long k;

	if (n == 0)
		return NULL;
	if (memmem(t, n, "=?", 2) != NULL) {
		if ((k = ew_decode(t, n, scratch, cap, &why)) < 0)
			goto fail;
		show(h, scratch, (size_t)k);
	}
	if (memchr(t, 0x1b, n) != NULL) { /* ISO-2022 escapes, as a reader detects them */
		if ((k = convert("ISO-2022-JP", t, n, scratch, cap, &why)) < 0)
			goto fail;
		show(h, scratch, (size_t)k);
	}
	show(h, t, n);
	return NULL;
fail:
	*st = why == too_long ? ADDR_TOOLONG : ADDR_SYNTAX;
	return why;
}

bool
addrshow_differs(const struct addrshow *h, const struct addr_mailbox *m)
{
	return h->hit || (h->set && !(eq_ci(h->loc, strlen(h->loc), m->local, strlen(m->local)) &&
				      eq_ci(h->dom, strlen(h->dom), m->domain, strlen(m->domain))));
}
