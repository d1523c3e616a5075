/*
 * paths.h - new sending paths at the relay (SPEC §9, issue 15): the first
 * message of an identity from a client network (/24 IPv4, /64 IPv6), a
 * SASL login, or (vendor identities, platform not "in-house", dkim_mode
 * verify) a DKIM d=/s= it never used writes a new-sending-path audit
 * record and gets policy.governance.new_sending_path.action: alert
 * (accept), quarantine, or tempfail until `bulkwardenctl paths approve`.
 *
 * Known paths live in the state store (fleet-wide with Redis). The message
 * path asks a local cache of known, approved paths first; only a miss
 * costs a store call (an atomic insert-if-new: relays racing on one path
 * write one record). The cache holds approved paths only, which never
 * become unknown again, so it needs no invalidation; a pending path is
 * asked of the store on each of its messages (each of them is refused
 * until approval anyway).
 */
#ifndef BW_PATHS_H
#define BW_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"
#include "registry/registry.h"

#define PATHS_CACHE_MAX 65536 /* known paths kept in memory (then emptied and refilled) */

struct paths;

/* Paths against the store named by r's settings (one handle, opened on
 * first use); r is retained until paths_free. */
struct paths *paths_new(struct registry *r, char *err, size_t errlen);
void paths_free(struct paths *p);

/* MAIL FROM for the attributed identity v->identity: its network path
 * (when have_addr) and login path (v->login). Records the
 * new-sending-path check in v with the configured action (of r, the
 * message's snapshot); the caller applies policy_effective(). queue_id
 * and client_ip go into the audit record. */
void paths_mail(struct paths *p, const struct registry *r, struct verdict *v,
		const struct cidr_addr *addr, bool have_addr, const char *client_ip,
		const char *queue_id, long long now);
/* End of message for a vendor identity in verify mode: the d=/s= of its
 * verified signature (v->sigs with result "pass") is a path as well. */
void paths_dkim(struct paths *p, const struct registry *r, struct verdict *v, const char *queue_id,
		long long now);
/* Whether identity id counts as a vendor (platform set, not in-house). */
bool paths_vendor(const struct bw_identity *id);

struct state;
/* Whether identity id is dormant at now in store st: it sent before (the
 * accepted and quarantined counters), but nothing in the last days days.
 * path receives "dormant:YYYY-MM-DD" (the UTC day of its last message,
 * found by halving: about 20 counter sums) or "" (not dormant; an identity
 * that never sent is not dormant). 0, or -1 with why. Not per message:
 * the callers judge an identity once a day. */
int paths_dormancy(struct state *st, const char *id, long long now, unsigned days, char *path,
		   size_t len, char *why, size_t whylen);

#endif
