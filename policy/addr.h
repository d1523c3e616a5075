/*
 * addr.h - RFC 5322 / RFC 6532 address parsing for the header From field
 * and the SMTP envelope path (MAIL FROM), used by the rfc5322 and
 * from-domain checks (SPEC §3).
 *
 * I/O-free and allocation-free: the caller owns the input (read only, never
 * past len) and the addr_result; every output is bounded by the constants
 * below. Input is untrusted wire data. Scratch space (about 2 x
 * ADDR_FIELD_MAX bytes: the display-name text and its decoded form) lives
 * on the stack of addr_parse_from(). Encoded-words are converted from their
 * charset with iconv(3) (policy/addrshow.c). A bidirectional control
 * character anywhere refuses the field (ADDR_HIDDEN) or the path.
 */
#ifndef BW_ADDR_H
#define BW_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX 64     /* RFC 5321 local-part limit */
#define ADDR_DOMAIN_MAX 255   /* RFC 1035 name limit */
#define ADDR_LABEL_MAX 63     /* RFC 1035 label limit */
#define ADDR_FIELD_MAX 16384  /* longest header value we parse; longer = ADDR_TOOLONG */
#define ADDR_COMMENT_DEPTH 32 /* deepest comment nesting accepted */

enum addr_status { ADDR_OK, ADDR_EMPTY, ADDR_MULTIPLE, ADDR_SYNTAX, ADDR_TOOLONG, ADDR_HIDDEN };

/* local: the local part as on the wire without CFWS; a quoted-string part
 * keeps its quotes and quoted-pairs ("a b"@x -> "\"a b\""). domain: raw
 * domain text without CFWS, not lowercased or IDN-converted; a domain
 * literal keeps its brackets. Both NUL terminated. */
struct addr_mailbox {
	char local[ADDR_LOCAL_MAX + 1];
	char domain[ADDR_DOMAIN_MAX + 1];
};

struct addr_result {
	enum addr_status status;
	size_t count;		  /* mailboxes seen (groups included) */
	struct addr_mailbox mbox; /* ADDR_OK: the mailbox. ADDR_MULTIPLE: the first one.
				   * ADDR_HIDDEN: the real mailbox. Otherwise empty. */
	const char *why;	  /* static English reason, never NULL ("ok" when OK) */
};

/* Parse a From header field body (raw bytes from the wire, may contain
 * folding CRLF/LF + WSP, NULs, 8-bit bytes). Succeeds only when it holds
 * exactly one mailbox and no display name or comment shows another address.
 * A trailing line break is tolerated. Returns out->status. */
enum addr_status addr_parse_from(const char *value, size_t len, struct addr_result *out);

/* Parse an SMTP envelope path as a milter sees MAIL FROM argv[0] (NUL
 * terminated): "<user@dom>", "<>", "user@dom", with optional source route
 * "<@a,@b:user@dom>" (dropped). RFC 5321 syntax plus RFC 6531 UTF-8; no
 * comments. Null sender "<>" (or NULL/"") -> ADDR_EMPTY. Returns out->status. */
enum addr_status addr_parse_path(const char *s, struct addr_result *out);

/* Short lowercase name of a status ("ok", "empty", "multiple", ...). */
const char *addr_status_name(enum addr_status s);

#endif
