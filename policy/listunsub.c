/*
 * listunsub.c - the List-Unsubscribe field for RFC 8058 one-click (see
 * listunsub.h): RFC 2369 list syntax, RFC 3986 URI syntax.
 *
 * Written here rather than with a URI library because the rules are ours to
 * make strict: a URI a mailbox provider will fetch on the recipient's
 * behalf must parse exactly, so the https one must have a DNS host name
 * (no user information, no IP literal, no percent-encoded host) and no URI
 * may hold a space, a control, a non-ASCII byte or a stray angle bracket.
 * "<https:// >" and "<https://x <mailto:a@b>" are refused.
 *
 * Two flat state machines without recursion: the field (CFWS, '<' URI '>',
 * ',') and, per URI, scheme / authority / path / query / fragment. Memory:
 * none allocated; the input is read only within [value, value + len).
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "policy/listunsub.h"

#define HOST_MAX 253	    /* DNS name in text form, without a trailing dot */
#define LABEL_MAX 63	    /* one DNS label */
#define COMMENT_DEPTH_MAX 8 /* nested comments in the field */

/* ASCII classes of RFC 3986 §2, independent of the locale. */
static bool
is_alpha(unsigned c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned c)
{
	return c >= '0' && c <= '9';
}

static bool
is_hex(unsigned c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
is_unreserved(unsigned c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool
is_subdelim(unsigned c)
{
	return c != 0 && strchr("!$&'()*+,;=", (int)c) != NULL;
}

/* Why byte c cannot appear in a URI at all, or NULL. */
static const char *
bad_byte(unsigned c)
{
	if (c <= 0x20 || c == 0x7f)
		return "space or control character in a URI";
	if (c >= 0x80)
		return "non-ASCII byte in a URI";
	if (c == '<' || c == '>')
		return "unbalanced angle brackets";
	if (c == '"' || c == '\\' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}')
		return "character not allowed in a URI";
	return NULL;
}

/* A valid DNS host name at [p, e): LDH labels of 1..63, no leading or
 * trailing hyphen, at least two labels, the last not all digits. */
static bool
host_ok(const unsigned char *p, const unsigned char *e)
{
	size_t n = (size_t)(e - p), lab = 0, labels = 0;
	bool digits = true;

	if (n == 0 || n > HOST_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i] == '.') {
			if (lab == 0 || lab > LABEL_MAX || p[i - lab] == '-' || p[i - 1] == '-')
				return false;
			labels++;
			lab = 0;
			if (i < n)
				digits = true;
			continue;
		}
		if (!is_alpha(p[i]) && !is_digit(p[i]) && p[i] != '-')
			return false;
		if (!is_digit(p[i]))
			digits = false;
		lab++;
	}
	return labels >= 2 && !digits;
}

/* Path, query and fragment at [p, e) (RFC 3986 pchar, '/', '?', one '#',
 * percent-encodings complete); NULL when well-formed. */
static const char *
tail_check(const unsigned char *p, const unsigned char *e)
{
	bool frag = false;
	for (; p < e; p++) {
		unsigned c = *p;
		const char *why = bad_byte(c);
		if (why != NULL)
			return why;
		if (c == '%') {
			if (e - p < 3 || !is_hex(p[1]) || !is_hex(p[2]))
				return "bad percent-encoding in a URI";
			p += 2;
		} else if (c == '#') {
			if (frag)
				return "two '#' in a URI";
			frag = true;
		} else if (c == '[' || c == ']') {
			return "'[' or ']' outside a host in a URI";
		} else if (!is_unreserved(c) && !is_subdelim(c) && c != ':' && c != '@' &&
			   c != '/' && c != '?') {
			return "character not allowed in a URI";
		}
	}
	return NULL;
}

/*
 * One URI at [p, e), the text between the angle brackets. NULL when it is
 * well-formed; *https is set for an https URI with a host name (and an
 * optional port 1..65535) in its authority.
 */
static const char *
uri_check(const unsigned char *p, const unsigned char *e, bool *https)
{
	const unsigned char *s = p, *a, *h;
	const char *why;

	*https = false;
	if (p == e)
		return "empty URI";
	if (!is_alpha(*p))
		return "URI without a scheme";
	while (p < e && (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-' || *p == '.'))
		p++;
	if (p == e || *p != ':')
		return (p < e && (why = bad_byte(*p)) != NULL) ? why : "URI without a scheme";
	bool is_https = p - s == 5 && strncasecmp((const char *)s, "https", 5) == 0;
	p++;
	if (!is_https) {
		if (p == e)
			return "URI with nothing after its scheme";
		return tail_check(p, e);
	}
	if (e - p < 2 || p[0] != '/' || p[1] != '/')
		return "https URI without \"//\" and a host";
	a = p += 2;
	while (p < e && *p != '/' && *p != '?' && *p != '#')
		p++;
	/* authority [a, p): host [":" port]; no userinfo */
	for (h = a; h < p && *h != ':'; h++) {
		if ((why = bad_byte(*h)) != NULL)
			return why;
		if (*h == '@')
			return "https URI with user information";
	}
	if (!host_ok(a, h))
		return h == a ? "https URI without a host" : "https URI host is not a host name";
	if (h < p) {
		unsigned long port = 0;
		const unsigned char *q = h + 1;
		if (q == p || p - q > 5)
			return "bad port in an https URI";
		for (; q < p; q++) {
			if ((why = bad_byte(*q)) != NULL)
				return why;
			if (!is_digit(*q))
				return "bad port in an https URI";
			port = port * 10 + (*q - '0');
		}
		if (port == 0 || port > 65535)
			return "bad port in an https URI";
	}
	if ((why = tail_check(p, e)) != NULL)
		return why;
	*https = true;
	return NULL;
}

/* Skip folding whitespace and comments at *pp; false on a bad comment. */
static bool
skip_cfws(const unsigned char **pp, const unsigned char *e, const char **why)
{
	const unsigned char *p = *pp;
	while (p < e) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
		} else if (*p == '(') {
			size_t depth = 0;
			for (; p < e; p++) {
				if ((*p < 0x20 && *p != '\t' && *p != '\r' && *p != '\n') ||
				    *p == 0x7f) {
					*why = "control character in a comment";
					return false;
				}
				if (*p == '\\' && p + 1 < e && p[1] >= 0x20 && p[1] != 0x7f) {
					p++;
				} else if (*p == '(' && ++depth > COMMENT_DEPTH_MAX) {
					*why = "comments nested too deep";
					return false;
				} else if (*p == ')' && --depth == 0) {
					break;
				}
			}
			if (p == e) {
				*why = "unterminated comment";
				return false;
			}
			p++;
		} else {
			break;
		}
	}
	*pp = p;
	return true;
}

bool
listunsub_https(const char *value, size_t len, const char **why)
{
	const unsigned char *p = (const unsigned char *)value, *e = p + len;
	size_t n = 0;
	bool any_https = false;

	*why = "no https URI";
	for (;;) {
		const unsigned char *u;
		bool https;
		if (!skip_cfws(&p, e, why))
			return false;
		if (p == e) {
			if (n == 0)
				*why = "no URI";
			return n > 0 && any_https;
		}
		if (n > 0) { /* a separator must come between two URIs */
			if (*p != ',') {
				*why = *p == '<' ? "URIs not separated by ','"
						 : "text outside angle brackets";
				return false;
			}
			p++;
			if (!skip_cfws(&p, e, why))
				return false;
		}
		if (p == e || *p != '<') {
			*why =
			    p == e ? "',' without a URI after it" : "text outside angle brackets";
			return false;
		}
		if (++n > LISTUNSUB_URIS_MAX) {
			*why = "too many URIs";
			return false;
		}
		for (u = ++p; p < e && *p != '>' && *p != '<'; p++)
			;
		if (p == e || *p == '<') {
			*why = "unbalanced angle brackets";
			return false;
		}
		if ((*why = uri_check(u, p, &https)) != NULL)
			return false;
		*why = "no https URI";
		any_https = any_https || https;
		p++;
	}
}
