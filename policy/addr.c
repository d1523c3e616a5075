/*
 * addr.c - RFC 5322 §3.4 address parsing (with the §4 obsolete forms and
 * RFC 6532 UTF-8) for the header From field, and RFC 5321/6531 path parsing
 * for MAIL FROM.
 *
 * Memory: nothing is allocated. The caller owns the input, which is read
 * only within [value, value + len) and need not be NUL terminated, and the
 * addr_result, whose buffers are filled with explicit bounds. The parser's
 * scratch text buffer (ADDR_FIELD_MAX bytes) is on the stack.
 *
 * Untrusted input: the whole header value. The scanner is a lexer with one
 * token of lookahead driving a flat state loop; there is no recursion,
 * comment nesting is counted (ADDR_COMMENT_DEPTH), and every length has a
 * cap. Bytes are accepted only as RFC 5322 allows them (NUL, bare CR,
 * malformed UTF-8 and controls outside comments/quoted-pairs are errors).
 *
 * Display names and comments are also read as a human would read them
 * (unquoted, then policy/addrshow.c: encoded-words decoded from their
 * charset, look-alikes of '@' and '.' folded): any address shown there that
 * differs from the real mailbox makes the field ADDR_HIDDEN, the classic
 * "ceo@bank.example" <attacker@evil.example> spoof; so does a bidirectional
 * control anywhere in the field, which can make a reader show text
 * reversed ("elpmaxe.knab@oec" as "ceo@bank.example"). The scratch buffer
 * for decoded text is on the stack too (2 x ADDR_FIELD_MAX in all).
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "policy/addr.h"
#include "base/util.h"
#include "policy/addrshow.h"

enum { T_END = 0, T_ATOM = 256, T_QSTR, T_DLIT }; /* other tokens are their special char */
enum copy_mode { CP_RAW, CP_UNQUOTE, CP_NOWSP };

struct tok {
	int type;
	const unsigned char *s, *e; /* raw bytes of the token */
	bool ws;		    /* whitespace or a comment came before it */
};

struct psr {
	const unsigned char *p, *end;
	struct tok cur;
	enum addr_status err; /* first error, sticky */
	const char *why;
	bool quiet;	/* classify() lookahead: do not read comments for hidden addresses */
	bool badphrase; /* a display name held '@' or a domain literal */
	size_t tlen;	/* display-name text in text[0, tlen); comment text follows it */
	struct addrshow hid; /* what display names and comments show */
	char text[ADDR_FIELD_MAX];
	char shown[ADDR_FIELD_MAX]; /* their encoded-words decoded */
};

struct sbuf {
	char *p;
	size_t n, cap; /* cap excludes the NUL */
	bool over;
};

/* Record the first error; always returns false so callers can return it. */
static bool
fail(struct psr *ps, enum addr_status st, const char *why)
{
	if (ps->err == ADDR_OK) {
		ps->err = st;
		ps->why = why;
	}
	return false;
}

/* Append k bytes, or mark the buffer as overflowed. */
static void
sb_put(struct sbuf *b, const void *s, size_t k)
{
	if (b->over || k > b->cap - b->n) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->n, s, k);
	b->n += k;
}

/* ASCII letter or digit, independent of the locale. */
static bool
is_alnum(unsigned c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext (ASCII part). */
static bool
is_atext(unsigned c)
{
	return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", (int)c) != NULL);
}

/* Length (2..4) of the well-formed UTF-8 sequence at p, 0 if malformed
 * (overlong, surrogate, above U+10FFFF or truncated); *cp gets the code point. */
static size_t
utf8_seq(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
	return bw_utf8_decode(p, (size_t)(end - p), cp);
}

/* Validate one character at ps->p (ASCII byte or UTF-8 sequence) and return
 * its length, or 0 after fail(). ctl allows controls (comments, quoted-pairs). */
static size_t
lex_char(struct psr *ps, bool ctl)
{
	unsigned c = *ps->p;
	uint32_t cp = 0;
	size_t n = 1;
	const char *why = NULL;

	if (c == 0)
		why = "NUL byte in address";
	else if (c >= 0x80 && (n = utf8_seq(ps->p, ps->end, &cp)) == 0)
		why = "invalid UTF-8 in address";
	else if (!ctl && (c < 0x20 ? c != '\t' : (c == 0x7f || (c >= 0x80 && cp < 0xa0))))
		why = "control character in address";
	if (why == NULL)
		return n;
	fail(ps, ADDR_SYNTAX, why);
	return 0;
}

/* At a CR or LF: consume a line break that folds (next byte is WSP) or that
 * ends the value; anything else is an error. */
static bool
lex_eol(struct psr *ps)
{
	const unsigned char *q = ps->p;

	if (*q == '\r') {
		if (q + 1 >= ps->end || q[1] != '\n')
			return fail(ps, ADDR_SYNTAX, "bare CR in address");
		q++;
	}
	q++;
	if (q < ps->end && *q != ' ' && *q != '\t') {
		/* Not folding: allowed only as trailing line breaks. */
		for (const unsigned char *r = q; r < ps->end; r++)
			if (*r != '\n' && !(*r == '\r' && r + 1 < ps->end && r[1] == '\n'))
				return fail(ps, ADDR_SYNTAX,
					    "line break without folding whitespace");
		q = ps->end;
	}
	ps->p = q;
	return true;
}

/* Append text for hidden-address scanning at text[*n], within the buffer. */
static void
text_put(struct psr *ps, size_t *n, const void *s, size_t k)
{
	if (ps->quiet)
		return;
	if (k > sizeof(ps->text) - *n) { /* cannot happen: text never outgrows the input */
		fail(ps, ADDR_TOOLONG, "address text too long");
		return;
	}
	memcpy(ps->text + *n, s, k);
	*n += k;
}

/* Read display-name or comment text t[0, n) as a reader would, in place. */
static void
hid_text(struct psr *ps, char *t, size_t n)
{
	enum addr_status st;
	const char *why;

	if (ps->quiet || n == 0)
		return;
	if ((why = addrshow_text(&ps->hid, t, n, ps->shown, sizeof(ps->shown), &st)) != NULL)
		fail(ps, st, why);
}

/* Consume a comment (iteratively, nesting counted) and read its text. */
static bool
lex_comment(struct psr *ps)
{
	size_t depth = 0, start = ps->tlen, n = start, k;

	while (ps->p < ps->end) {
		unsigned c = *ps->p;
		if (c == '(' || c == ')') {
			if (c == '(' && ++depth > ADDR_COMMENT_DEPTH)
				return fail(ps, ADDR_SYNTAX, "comments nested too deep");
			ps->p++;
			if (c == ')' && --depth == 0) {
				hid_text(ps, ps->text + start, n - start);
				return ps->err == ADDR_OK;
			}
			text_put(ps, &n, " ", 1);
			continue;
		}
		if (c == '\r' || c == '\n') {
			if (!lex_eol(ps))
				return false;
			continue;
		}
		if (c == '\\') {
			if (++ps->p >= ps->end)
				break;
			if (*ps->p == '\r' || *ps->p == '\n')
				return fail(ps, ADDR_SYNTAX, "bad quoted-pair");
		}
		if ((k = lex_char(ps, true)) == 0)
			return false;
		text_put(ps, &n, ps->p, k);
		ps->p += k;
	}
	return fail(ps, ADDR_SYNTAX, "unterminated comment");
}

/* Skip folding whitespace and comments; *ws is set when anything was skipped. */
static bool
skip_cfws(struct psr *ps, bool *ws)
{
	while (ps->p < ps->end) {
		unsigned c = *ps->p;
		if (c == ' ' || c == '\t')
			ps->p++;
		else if (c == '\r' || c == '\n') {
			if (!lex_eol(ps))
				return false;
		} else if (c == '(') {
			if (!lex_comment(ps))
				return false;
		} else
			break;
		*ws = true;
	}
	return true;
}

/* Consume a quoted-string or domain literal (FWS and quoted-pairs allowed). */
static bool
lex_quoted(struct psr *ps)
{
	unsigned close = *ps->p == '"' ? '"' : ']';
	size_t k;

	ps->p++;
	while (ps->p < ps->end) {
		unsigned c = *ps->p;
		bool ctl = false;
		if (c == close) {
			ps->p++;
			return true;
		}
		if (c == '\r' || c == '\n') {
			if (!lex_eol(ps))
				return false;
			continue;
		}
		if (c == '[' && close == ']')
			return fail(ps, ADDR_SYNTAX, "'[' inside domain literal");
		if (c == '\\') {
			if (++ps->p >= ps->end)
				break;
			if (*ps->p == '\r' || *ps->p == '\n')
				return fail(ps, ADDR_SYNTAX, "bad quoted-pair");
			ctl = true;
		}
		if ((k = lex_char(ps, ctl)) == 0)
			return false;
		ps->p += k;
	}
	return fail(ps, ADDR_SYNTAX,
		    close == '"' ? "unterminated quoted string" : "unterminated domain literal");
}

/* Lex the next token into ps->cur. */
static bool
advance(struct psr *ps)
{
	struct tok *t = &ps->cur;
	unsigned c;
	size_t k;

	t->ws = false;
	if (!skip_cfws(ps, &t->ws))
		return false;
	t->s = ps->p;
	if (ps->p >= ps->end) {
		t->type = T_END;
	} else if ((c = *ps->p) == '"' || c == '[') {
		if (!lex_quoted(ps))
			return false;
		t->type = c == '"' ? T_QSTR : T_DLIT;
	} else if (c != 0 && strchr("<>@,:;.", (int)c) != NULL) {
		ps->p++;
		t->type = (int)c;
	} else if (is_atext(c) || c >= 0x80) {
		while (ps->p < ps->end && (is_atext(*ps->p) || *ps->p >= 0x80)) {
			if ((k = lex_char(ps, false)) == 0)
				return false;
			ps->p += k;
		}
		t->type = T_ATOM;
	} else if (c == ')') {
		return fail(ps, ADDR_SYNTAX, "unbalanced parenthesis");
	} else if (lex_char(ps, false) != 0) {
		return fail(ps, ADDR_SYNTAX, "unexpected character in address");
	} else {
		return false;
	}
	t->e = ps->p;
	return true;
}

/* Copy the current token's text: raw, unquoted (display names) or without
 * whitespace (domain literals); line breaks of folding are always dropped. */
static void
tok_copy(const struct tok *t, struct sbuf *b, enum copy_mode mode)
{
	const unsigned char *s = t->s, *e = t->e;

	if (t->type != T_QSTR && t->type != T_DLIT) {
		sb_put(b, s, (size_t)(e - s));
		return;
	}
	if (mode == CP_UNQUOTE) {
		s++;
		e--;
	}
	for (; s < e; s++) {
		if (*s == '\r' || *s == '\n' || (mode == CP_NOWSP && (*s == ' ' || *s == '\t')))
			continue;
		if (*s == '\\' && mode != CP_UNQUOTE)
			sb_put(b, s, 1); /* keep the quoted-pair whole */
		if (*s == '\\')
			s++; /* the lexer guaranteed a following byte */
		sb_put(b, s, 1);
	}
}

/* Set *st to ADDR_TOOLONG and pass why through. */
static const char *
too_long(enum addr_status *st, const char *why)
{
	*st = ADDR_TOOLONG;
	return why;
}

/* Why the domain text d[0, n) is unacceptable, or NULL; *st gets the status. */
static const char *
domain_bad(const unsigned char *d, size_t n, enum addr_status *st)
{
	size_t lab = 0;

	*st = ADDR_SYNTAX;
	if (n == 0)
		return "empty domain";
	if (n > ADDR_DOMAIN_MAX)
		return too_long(st, "domain longer than 255 octets");
	if (d[0] == '[')
		return n > 2 && d[n - 1] == ']' ? NULL : "bad domain literal";
	for (size_t i = 0; i <= n; i++) {
		if (i == n || d[i] == '.') {
			if (lab == 0)
				return "empty domain label";
			if (lab > ADDR_LABEL_MAX)
				return too_long(st, "domain label longer than 63 octets");
			if (d[i - lab] == '-' || d[i - 1] == '-')
				return "domain label starts or ends with '-'";
			lab = 0;
		} else if (d[i] == '-' || d[i] == '_' || d[i] >= 0x80 || is_alnum(d[i])) {
			lab++;
		} else {
			return "invalid character in domain";
		}
	}
	return NULL;
}

/* domain: dot-atom / obs-domain (CFWS between atoms) / domain-literal. */
static bool
parse_domain(struct psr *ps, char *out)
{
	struct sbuf b = {out, 0, ADDR_DOMAIN_MAX, false};
	enum addr_status st;
	const char *why;

	if (ps->cur.type == T_DLIT) {
		tok_copy(&ps->cur, &b, CP_NOWSP);
		if (!advance(ps))
			return false;
	} else {
		for (;;) {
			if (ps->cur.type != T_ATOM)
				return fail(ps, ADDR_SYNTAX,
					    b.n ? "empty domain label" : "empty domain");
			tok_copy(&ps->cur, &b, CP_RAW);
			if (!advance(ps))
				return false;
			if (ps->cur.type != '.')
				break;
			sb_put(&b, ".", 1);
			if (!advance(ps))
				return false;
		}
	}
	if (b.over)
		return fail(ps, ADDR_TOOLONG, "domain longer than 255 octets");
	out[b.n] = '\0';
	if ((why = domain_bad((const unsigned char *)out, b.n, &st)) != NULL)
		return fail(ps, st, why);
	return true;
}

/* addr-spec: local-part "@" domain, local-part being words joined by dots. */
static bool
parse_addrspec(struct psr *ps, struct addr_mailbox *m)
{
	struct sbuf lb = {m->local, 0, ADDR_LOCAL_MAX, false};

	for (;;) {
		if (ps->cur.type != T_ATOM && ps->cur.type != T_QSTR)
			return fail(ps, ADDR_SYNTAX,
				    lb.n ? "empty word in local part" : "empty local part");
		tok_copy(&ps->cur, &lb, CP_RAW);
		if (!advance(ps))
			return false;
		if (ps->cur.type != '.')
			break;
		sb_put(&lb, ".", 1);
		if (!advance(ps))
			return false;
	}
	if (ps->cur.type != '@')
		return fail(ps, ADDR_SYNTAX, "address without '@'");
	if (lb.over)
		return fail(ps, ADDR_TOOLONG, "local part longer than 64 octets");
	m->local[lb.n] = '\0';
	return advance(ps) && parse_domain(ps, m->domain);
}

/* angle-addr: "<" [obs-route] addr-spec ">"; the route is checked and dropped. */
static bool
parse_angle(struct psr *ps, struct addr_mailbox *m)
{
	char hop[ADDR_DOMAIN_MAX + 1];
	size_t hops = 0;

	if (!advance(ps))
		return false;
	if (ps->cur.type == '@' || ps->cur.type == ',') {
		while (ps->cur.type == '@' || ps->cur.type == ',') {
			bool at = ps->cur.type == '@';
			hops += at;
			if (!advance(ps) || (at && !parse_domain(ps, hop)))
				return false;
		}
		if (ps->cur.type != ':' || hops == 0)
			return fail(ps, ADDR_SYNTAX, "bad source route");
		if (!advance(ps))
			return false;
	}
	if (ps->cur.type == '>' || ps->cur.type == '<')
		return fail(ps, ADDR_SYNTAX,
			    ps->cur.type == '>' ? "empty angle brackets" : "nested angle brackets");
	if (!parse_addrspec(ps, m))
		return false;
	if (ps->cur.type == '@')
		return fail(ps, ADDR_SYNTAX, "address holds more than one '@'");
	if (ps->cur.type != '>')
		return fail(ps, ADDR_SYNTAX,
			    ps->cur.type == T_END ? "unterminated angle bracket"
						  : "junk in angle brackets");
	return advance(ps);
}

/* display-name (obs-phrase: words, dots, CFWS). '@' and domain literals are
 * let through but flagged, so "a@b.c <x@y.z>" can be reported as hidden. */
static bool
parse_phrase(struct psr *ps)
{
	struct sbuf b = {ps->text, 0, sizeof(ps->text) - 1, false};
	bool first = true;

	ps->tlen = 0;
	for (;; first = false) {
		int ty = ps->cur.type;
		if (ty != T_ATOM && ty != T_QSTR && ty != '.' && ty != '@' && ty != T_DLIT)
			break;
		if (ty == '@' || ty == T_DLIT || (ty == '.' && first))
			ps->badphrase = true;
		if (ps->cur.ws && !first)
			sb_put(&b, " ", 1);
		tok_copy(&ps->cur, &b, CP_UNQUOTE);
		ps->tlen = b.n;
		if (!advance(ps))
			return false;
	}
	if (b.over)
		return fail(ps, ADDR_TOOLONG, "display name too long");
	hid_text(ps, ps->text, b.n);
	ps->tlen = 0;
	return ps->err == ADDR_OK;
}

/* Look ahead, side-effect free, for the token that tells a group (':'),
 * name-addr ('<') and addr-spec (',' ';' end) apart; -1 on a lexical error. */
static int
classify(struct psr *ps)
{
	const unsigned char *save = ps->p;
	struct tok t = ps->cur;
	int ty;

	ps->quiet = true;
	for (;;) {
		ty = ps->cur.type;
		if (ty == '<' || ty == '>' || ty == ':' || ty == ',' || ty == ';' || ty == T_END)
			break;
		if (!advance(ps)) {
			ty = -1;
			break;
		}
	}
	ps->quiet = false;
	ps->p = save;
	ps->cur = t;
	return ty;
}

/* address-list with groups and the obsolete empty elements: the state is
 * "inside a group" and "an address was just read, a separator must follow". */
static void
parse_list(struct psr *ps, struct addr_result *out)
{
	struct addr_mailbox scratch;
	bool group = false, need_sep = false;

	if (!advance(ps))
		return;
	for (;;) {
		int ty = ps->cur.type, kind;
		struct addr_mailbox *m = out->count ? &scratch : &out->mbox;
		bool ok;

		if (ty == T_END) {
			if (group)
				fail(ps, ADDR_SYNTAX, "unterminated group");
			return;
		}
		if (ty == ',' || (ty == ';' && group)) {
			need_sep = ty == ';';
			group = group && ty != ';';
			if (!advance(ps))
				return;
			continue;
		}
		if (need_sep) {
			fail(ps, ADDR_SYNTAX,
			     ty == '@' ? "address holds more than one '@'" : "junk after address");
			return;
		}
		if (ty == ';' || ty == '>' || ty == ':') {
			fail(ps, ADDR_SYNTAX,
			     ty == ';'	 ? "';' outside a group"
			     : ty == '>' ? "unbalanced angle bracket"
			     : group	 ? "nested group"
					 : "group without a name");
			return;
		}
		if ((kind = classify(ps)) < 0)
			return;
		if (kind == '>') {
			fail(ps, ADDR_SYNTAX, "unbalanced angle bracket");
			return;
		}
		if (kind == ':') {
			if (group) {
				fail(ps, ADDR_SYNTAX, "nested group");
				return;
			}
			if (!parse_phrase(ps) || !advance(ps))
				return;
			group = true;
			continue;
		}
		if (kind == '<')
			ok = parse_phrase(ps) && parse_angle(ps, m);
		else
			ok = parse_addrspec(ps, m);
		if (!ok)
			return;
		out->count++;
		need_sep = true;
	}
}

/* Fill in the verdict; the mailbox is kept only where it means something. */
static enum addr_status
finish(struct addr_result *out, enum addr_status st, const char *why)
{
	out->status = st;
	out->why = why;
	if (st != ADDR_OK && st != ADDR_MULTIPLE && st != ADDR_HIDDEN)
		memset(&out->mbox, 0, sizeof(out->mbox));
	return st;
}

enum addr_status
addr_parse_from(const char *value, size_t len, struct addr_result *out)
{
	static const char *const multi[] = {"From holds 2 addresses", "From holds 3 addresses",
					    "From holds 4 addresses", "From holds 5 addresses",
					    "From holds 6 addresses", "From holds 7 addresses",
					    "From holds 8 addresses", "From holds 9 addresses"};
	static const char hidden[] = "display name holds another address";
	struct psr ps;

	memset(out, 0, sizeof(*out));
	if (value == NULL || len == 0)
		return finish(out, ADDR_EMPTY, "From is empty");
	if (len > ADDR_FIELD_MAX)
		return finish(out, ADDR_TOOLONG, "From longer than 16384 octets");
	memset(&ps, 0, offsetof(struct psr, text));
	ps.p = (const unsigned char *)value;
	ps.end = ps.p + len;
	parse_list(&ps, out);
	if (ps.err != ADDR_OK)
		return finish(out, ps.err, ps.why);
	if (ps.hid.bidi || addrshow_has_bidi(value, len))
		return finish(out, out->count ? ADDR_HIDDEN : ADDR_SYNTAX,
			      "bidirectional control character in From");
	if (ps.badphrase)
		return out->count && addrshow_differs(&ps.hid, &out->mbox)
			   ? finish(out, ADDR_HIDDEN, hidden)
			   : finish(out, ADDR_SYNTAX, "invalid display name");
	if (out->count == 0)
		return finish(out, ADDR_EMPTY, "From holds no address");
	if (out->count > 1)
		return finish(out, ADDR_MULTIPLE,
			      out->count - 2 < sizeof(multi) / sizeof(multi[0])
				  ? multi[out->count - 2]
				  : "From holds more than 9 addresses");
	if (addrshow_differs(&ps.hid, &out->mbox))
		return finish(out, ADDR_HIDDEN, hidden);
	return finish(out, ADDR_OK, "ok");
}

/* RFC 5321 Domain or address-literal at [p, e) for a path; NULL when fine. */
static const char *
path_domain(const unsigned char *p, const unsigned char *e, enum addr_status *st)
{
	uint32_t cp;
	size_t k;

	*st = ADDR_SYNTAX;
	if (p < e && *p == '[') {
		for (const unsigned char *q = p + 1; q + 1 < e; q++)
			if (*q < 33 || *q > 126 || *q == '[' || *q == ']' || *q == '\\')
				return "invalid domain literal";
	} else {
		for (const unsigned char *q = p; q < e; q += k) {
			k = 1;
			if (*q >= 0x80 && ((k = utf8_seq(q, e, &cp)) == 0 || cp < 0xa0))
				return "invalid UTF-8 in domain";
		}
	}
	return domain_bad(p, (size_t)(e - p), st);
}

enum addr_status
addr_parse_path(const char *s, struct addr_result *out)
{
	const unsigned char *p, *e, *q, *at;
	enum addr_status st;
	const char *why;
	uint32_t cp;
	size_t n, k;

	memset(out, 0, sizeof(*out));
	for (n = 0; s != NULL && n <= ADDR_FIELD_MAX && s[n] != '\0'; n++)
		;
	if (n == 0)
		return finish(out, ADDR_EMPTY, "null sender");
	if (n > ADDR_FIELD_MAX)
		return finish(out, ADDR_TOOLONG, "path longer than 16384 octets");
	p = (const unsigned char *)s;
	e = p + n;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (p < e && (*p == '<' || e[-1] == '>')) {
		if (e - p < 2 || *p != '<' || e[-1] != '>')
			return finish(out, ADDR_SYNTAX, "unbalanced angle bracket");
		p++;
		e--;
	}
	if (p == e)
		return finish(out, ADDR_EMPTY, "null sender");
	if (addrshow_has_bidi((const char *)p, (size_t)(e - p))) /* as in From */
		return finish(out, ADDR_SYNTAX, "bidirectional control character in address");
	while (p < e && *p == '@') { /* source route: @d1,@d2: */
		for (q = ++p; q < e && *q != ',' && *q != ':'; q++)
			;
		if (q == e)
			return finish(out, ADDR_SYNTAX, "bad source route");
		if ((why = path_domain(p, q, &st)) != NULL)
			return finish(out, st, why);
		p = q + 1;
		if (*q == ',' && (p == e || *p != '@'))
			return finish(out, ADDR_SYNTAX, "bad source route");
	}
	/* Local-part: Dot-string or Quoted-string (RFC 5321 §4.1.2). */
	if (p < e && *p == '"') {
		for (q = p + 1; q < e && *q != '"'; q += k) {
			k = 1;
			if (*q == '\\' && (q + 1 == e || q[1] < 32 || q[1] > 126))
				return finish(out, ADDR_SYNTAX, "bad quoted-pair");
			if (*q == '\\')
				k = 2;
			else if (*q < 32 || *q == 127)
				return finish(out, ADDR_SYNTAX, "control character in address");
			else if (*q >= 0x80 && ((k = utf8_seq(q, e, &cp)) == 0 || cp < 0xa0))
				return finish(out, ADDR_SYNTAX, "invalid UTF-8 in address");
		}
		if (q == e)
			return finish(out, ADDR_SYNTAX, "unterminated quoted string");
		at = q + 1;
	} else {
		for (q = p; q < e && *q != '@'; q += k) {
			k = 1;
			if (*q == '.' ? (q == p || q[-1] == '.' || q + 1 == e || q[1] == '@')
				      : !is_atext(*q) && *q < 0x80)
				return finish(out, ADDR_SYNTAX, "invalid local part");
			if (*q >= 0x80 && ((k = utf8_seq(q, e, &cp)) == 0 || cp < 0xa0))
				return finish(out, ADDR_SYNTAX, "invalid UTF-8 in address");
		}
		at = q;
	}
	if (at == p)
		return finish(out, ADDR_SYNTAX, "empty local part");
	if (at >= e || *at != '@')
		return finish(out, ADDR_SYNTAX, "address without '@'");
	if ((size_t)(at - p) > ADDR_LOCAL_MAX)
		return finish(out, ADDR_TOOLONG, "local part longer than 64 octets");
	if ((why = path_domain(at + 1, e, &st)) != NULL)
		return finish(out, st, why);
	memcpy(out->mbox.local, p, (size_t)(at - p));
	memcpy(out->mbox.domain, at + 1, (size_t)(e - at - 1));
	out->count = 1;
	return finish(out, ADDR_OK, "ok");
}

const char *
addr_status_name(enum addr_status s)
{
	static const char *const names[] = {"ok",     "empty",	 "multiple",
					    "syntax", "toolong", "hidden"};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}
