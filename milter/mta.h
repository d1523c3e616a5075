/*
 * mta.h - what differs between the MTAs bulkwarden runs behind.
 *
 * Sendmail reformats address header fields (To, Cc, Reply-To, Sender, ...)
 * when it writes the message out, after every milter has run: it puts ", "
 * between addresses, qualifies bare local parts with its own host name,
 * quotes display names holding specials, refolds long lists. A DKIM
 * signature made over the field as received then fails at every receiver.
 * Behind Sendmail the milter therefore signs such a field only when it is
 * already in the form Sendmail writes (mta_sendmail_keeps()), and leaves it
 * out of h= otherwise; From is always signed (the rfc5322 and from-domain
 * checks only let a single qualified address through, which Sendmail keeps).
 */
#ifndef BW_MILTER_MTA_H
#define BW_MILTER_MTA_H

#include <stdbool.h>

enum mta_kind { MTA_UNKNOWN, MTA_POSTFIX, MTA_SENDMAIL };

/* The MTA, from the connect macro "v" (Sendmail: "8.17.1.9", Postfix:
 * "Postfix 3.7.11"); a missing or other value is MTA_UNKNOWN. */
enum mta_kind mta_detect(const char *v);

/* true iff name is an address field Sendmail reformats on output (its
 * H_FROM and H_RCPT header classes), From included. */
bool mta_sendmail_rewrites(const char *name);

/* true iff value (the field body, leading whitespace and folding allowed)
 * is already in the form Sendmail writes, up to relaxed canonicalization:
 * a list of qualified addresses "local@domain.tld", each bare or as
 * [phrase] <local@domain.tld>, with an optional trailing comment, separated
 * by a comma and one space. Conservative: anything else (groups, quoted
 * local parts, phrases with dots, 8-bit bytes, unqualified names, "a,b")
 * answers false, so at worst a field is left unsigned. */
bool mta_sendmail_keeps(const char *value);

#endif
