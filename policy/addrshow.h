/*
 * addrshow.h - a From field's display names and comments read as a mail
 * reader shows them, for policy/addr.c: RFC 2047 encoded-words decoded from
 * their charset (iconv), look-alikes of '@' and '.' folded to ASCII, and
 * bidirectional controls noticed. Any address shape seen there is
 * remembered, so addr.c can tell whether it differs from the real mailbox
 * (the "ceo@bank.example" <attacker@evil.example> spoof).
 *
 * No I/O and no allocation: iconv converts in memory (glibc loads its
 * charset modules on first use). The caller owns the text and a scratch
 * buffer. Input is untrusted header text.
 */
#ifndef BW_ADDRSHOW_H
#define BW_ADDRSHOW_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/addr.h"

#define ADDRSHOW_CHARSET_MAX 40 /* longest charset name of an encoded-word */

/* What the display names and comments of one field showed. Zero it first. */
struct addrshow {
	bool set, hit; /* an address seen; one that cannot be the mailbox */
	bool bidi;     /* a bidirectional control (U+202E ...) was shown */
	char loc[ADDR_LOCAL_MAX + 1];
	char dom[ADDR_DOMAIN_MAX + 1];
};

/* Read t[0, n) (display-name or comment text, unquoted; folded in place)
 * as a reader would; scratch (cap bytes) holds the decoded text. Returns
 * NULL, or why the text cannot be shown faithfully (an encoded-word in an
 * unknown charset or not decoding in its own, or too long once decoded)
 * with *st set. */
const char *addrshow_text(struct addrshow *h, char *t, size_t n, char *scratch, size_t cap,
			  enum addr_status *st);
/* Does t[0, n) hold a bidirectional control character (UTF-8)? */
bool addrshow_has_bidi(const char *t, size_t n);
/* Did the text show an address other than m? */
bool addrshow_differs(const struct addrshow *h, const struct addr_mailbox *m);

#endif
