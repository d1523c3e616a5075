/*
 * mta.c - what differs between the MTAs bulkwarden runs behind (mta.h).
 *
 * No allocation; pure functions over the strings given. Input: the "v"
 * macro and header field names and bodies from the client (arbitrary
 * bytes, NUL-terminated by libmilter), only read here.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "milter/mta.h"

/* Which MTA sent the connect macro v. */
enum mta_kind
mta_detect(const char *v)
{
	if (v == NULL || v[0] == '\0')
		return MTA_UNKNOWN;
	if (strncasecmp(v, "Postfix", 7) == 0)
		return MTA_POSTFIX;
	/* Sendmail's $v is its bare version number, "8.17.1.9" */
	if (isdigit((unsigned char)v[0]) && strchr(v, '.') != NULL)
		return MTA_SENDMAIL;
	return MTA_UNKNOWN;
}

/* Sendmail's address header classes (conf.c HdrInfo: H_FROM, H_RCPT). */
static const char *const sendmail_addr_headers[] = {"From",
						    "Sender",
						    "Reply-To",
						    "To",
						    "Cc",
						    "Bcc",
						    "Apparently-To",
						    "Errors-To",
						    "Return-Receipt-To",
						    "Resent-From",
						    "Resent-Sender",
						    "Resent-Reply-To",
						    "Resent-To",
						    "Resent-Cc",
						    "Resent-Bcc",
						    "Disposition-Notification-To",
						    NULL};

/* true iff Sendmail reformats the field name on output. */
bool
mta_sendmail_rewrites(const char *name)
{
	for (const char *const *h = sendmail_addr_headers; *h != NULL; h++)
		if (strcasecmp(*h, name) == 0)
			return true;
	return false;
}

#define SEP_MAX 1024 /* addresses per field we examine; more: unsigned */

/* Skip folding whitespace (relaxed: any run of SP, TAB, CR, LF is one SP). */
static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/* true iff c may stand unquoted in a display name Sendmail keeps as is:
 * atext without "'" (some configs quote it) and without "." (MustQuoteChars). */
static bool
phrase_char(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&*+/=?^_`{|}~-", c) != NULL);
}

/* local@domain.tld with a dot-atom local part and an LDH domain holding a
 * dot; the end of it in *end. */
static bool
addr_spec(const char *p, const char **end)
{
	const char *s = p;
	while (isalnum((unsigned char)*p) || (*p != '\0' && strchr("!#$%&'*+/=?^_`{|}~.-", *p)))
		p++;
	if (p == s || *s == '.' || p[-1] == '.' || *p != '@')
		return false;
	const char *d = ++p;
	bool dot = false;
	while (isalnum((unsigned char)*p) || *p == '-' || *p == '.') {
		if (*p == '.') {
			if (p == d || p[-1] == '.')
				return false;
			dot = true;
		}
		p++;
	}
	if (p == d || p[-1] == '.' || p[-1] == '-' || !dot)
		return false;
	*end = p;
	return true;
}

/* A comment of printable ASCII without nesting or escapes. */
static bool
comment(const char *p, const char **end)
{
	if (*p++ != '(')
		return false;
	while (*p != ')') {
		if (*p == '\0' || *p == '(' || *p == '\\' || (unsigned char)*p >= 0x7f ||
		    ((unsigned char)*p < 0x20 && *p != '\t'))
			return false;
		p++;
	}
	*end = p + 1;
	return true;
}

/* A quoted string of printable ASCII without escapes. */
static bool
quoted(const char *p, const char **end)
{
	if (*p++ != '"')
		return false;
	while (*p != '"') {
		if (*p == '\0' || *p == '\\' || (unsigned char)*p >= 0x7f ||
		    ((unsigned char)*p < 0x20 && *p != '\t'))
			return false;
		p++;
	}
	*end = p + 1;
	return true;
}

/*
 * One list element as Sendmail writes it: addr-spec, or [phrase] <addr-spec>,
 * then optionally " (comment)". Whitespace inside is folding whitespace
 * (relaxed canonicalization sees one SP wherever there is any).
 */
static bool
element(const char *p, const char **end)
{
	const char *q;
	if (*p != '<' && *p != '"' && addr_spec(p, &q) &&
	    (*q == '\0' || *q == ',' || *skip_ws(q) == '(' || *skip_ws(q) == '\0')) {
		p = q;
	} else {
		if (*p == '"') {
			if (!quoted(p, &p))
				return false;
			p = skip_ws(p);
		} else {
			while (phrase_char((unsigned char)*p)) {
				while (phrase_char((unsigned char)*p))
					p++;
				p = skip_ws(p);
			}
		}
		if (*p++ != '<' || !addr_spec(p, &p) || *p++ != '>')
			return false;
	}
	q = skip_ws(p);
	if (*q == '(') {
		if (q == p || !comment(q, &p))
			return false;
	}
	*end = p;
	return true;
}

/* true iff value is already in Sendmail's output form (see mta.h). */
bool
mta_sendmail_keeps(const char *value)
{
	const char *p = skip_ws(value);
	for (int n = 0; n < SEP_MAX; n++) {
		if (!element(p, &p))
			return false;
		const char *q = skip_ws(p);
		if (*q == '\0')
			return true;
		/* "a, b": a comma right after the element, then whitespace */
		if (*p != ',' || (p[1] != ' ' && p[1] != '\t' && p[1] != '\r' && p[1] != '\n'))
			return false;
		p = skip_ws(p + 1);
		if (*p == '\0')
			return false;
	}
	return false;
}
