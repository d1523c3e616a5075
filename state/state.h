/*
 * state.h - the runtime state store (SPEC §5, §6): suspensions, the
 * hash-chained audit log and per-identity volume counters, shared by the
 * milter and bulkwardenctl.
 *
 * The interface is backend-neutral. state.c dispatches on state.backend to
 * a backend module (state_sqlite.c now, state_redis.c later) through
 * struct state_ops. Every call may block on I/O: the milter never calls it
 * on the message path, only from its background thread (see overlay.h).
 *
 * Strings in the structs below are bounded copies (NUL-terminated,
 * truncated to the field size). Errors: functions return -1 and
 * state_error() says why; text never contains a newline.
 *
 * Threads and processes: a struct state is one connection to the store and
 * must be used by one thread at a time (the milter's background thread owns
 * its handle; bulkwardenctl has its own). Any number of handles, in any
 * number of processes, may use the same store at once: writes are
 * serialized by the backend, waiting up to a bounded time for a lock.
 * Never use a handle across fork(); open a new one in the child.
 */
#ifndef BW_STATE_H
#define BW_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

#define STATE_ID_MAX 64
#define STATE_TEXT_MAX 512
#define STATE_NAME_MAX 256
#define STATE_HASH_HEX 64
#define STATE_COUNTS_PREFIX_MAX 48

struct state_counts {
	uint64_t messages, recipients, bytes;
	uint64_t accepted, rejected, quarantined, tempfailed;
	/* of messages, those whose spf, dkim or dmarc check (SPEC §3) failed
	 * at submission, waived or not (counted once per message) */
	uint64_t auth_failed;
};

struct state_suspension {
	char id[STATE_ID_MAX + 1];
	char reason[STATE_TEXT_MAX];
	char by[STATE_NAME_MAX];
	char ticket[STATE_NAME_MAX];
	long long since;
	long long until; /* 0: until reinstated */
};

struct state_audit {
	long long seq;	 /* 1, 2, ... assigned by the store */
	long long ts;	 /* unix seconds */
	char action[32]; /* suspend, reinstate, expire, config-reload, ... */
	char actor[STATE_NAME_MAX];
	char identity[STATE_ID_MAX + 1]; /* "" when about no single identity */
	char reason[STATE_TEXT_MAX];
	char ticket[STATE_NAME_MAX];
	char detail[STATE_TEXT_MAX]; /* free text, e.g. "revision 51860d5089b4164c" */
	char prev_hash[STATE_HASH_HEX + 1];
	char hash[STATE_HASH_HEX + 1];
};

/* One counter increment of state_counters_add_many(). */
struct state_counter_delta {
	const char *id;
	long long hour; /* floored to a multiple of 3600 */
	struct state_counts counts;
};

/* Volume limits of one identity (0: none) and the fleet-wide use of its
 * current UTC hour and day, both for state_reserve(). */
struct state_limits {
	uint64_t msg_hour, msg_day, rcpt_hour, rcpt_day;
};
struct state_usage {
	uint64_t msg_hour, msg_day, rcpt_hour, rcpt_day;
};
/* Which limit a reservation would exceed. */
enum state_over {
	STATE_OVER_NONE,
	STATE_OVER_MSG_HOUR,
	STATE_OVER_MSG_DAY,
	STATE_OVER_RCPT_HOUR,
	STATE_OVER_RCPT_DAY
};
/* One change of the use counts, applied unconditionally: a reservation
 * given back (negative) or one taken while the store was unreachable. */
struct state_usage_delta {
	const char *id;
	long long hour; /* the window the reservation was taken in */
	long long msgs, rcpts;
};

struct state;
struct jbuf;

/* Open the backend named by set->state_backend. NULL with err filled when
 * it cannot be opened (missing directory, locked, corrupt, unreachable). */
struct state *state_open(const struct bw_settings *set, char *err, size_t errlen);
void state_close(struct state *s);
/* Whether state_open() would succeed for set, without changing anything:
 * 0, or -1 with err filled (the daemon would exit with it). */
int state_check(const struct bw_settings *set, char *err, size_t errlen);
/* state_open() for a reader that must change nothing (bulkwarden -n,
 * bulkwardenctl check): a store that does not exist yet is not created,
 * NULL with err "" (nothing is recorded in it); NULL with err filled when
 * it cannot be opened. */
struct state *state_open_existing(const struct bw_settings *set, char *err, size_t errlen);
const char *state_error(const struct state *s);
/* "sqlite", "redis" */
const char *state_backend_name(const struct state *s);
/* Say where this handle's changes come from, e.g. "bulkwardenctl as root
 * (sudo from alice)": added to the detail of every audit record it writes,
 * so the self-declared actor can be checked against the account. */
void state_set_origin(struct state *s, const char *origin);

/* Suspend id and append the audit record, atomically; rec (may be NULL)
 * receives the appended record. Never shortens or lifts a suspension in
 * force: a new one ending later (until 0: never) extends it, keeping who
 * suspended it and since when; one ending no later changes nothing and
 * returns 1 (state_error() says why). 0 done, -1 error. */
int state_suspend(struct state *s, const char *id, const char *reason, const char *by,
		  const char *ticket, long long until, long long now, struct state_audit *rec);
/* state_suspend() by bulkwarden itself (a signal crossed its suspend
 * threshold): audit action "auto-suspend", actor "bulkwarden", no ticket,
 * until reinstated; the same never-shorten rule (1: nothing changed). */
int state_auto_suspend(struct state *s, const char *id, const char *reason, long long now,
		       struct state_audit *rec);
/* Lift a suspension and append the audit record, atomically. Returns 1 if
 * id was suspended, 0 if it was not (nothing written), -1 on error,
 * including a reinstatement by whoever suspended it (compared without
 * case and surrounding blanks): the exception path needs a second person. */
int state_reinstate(struct state *s, const char *id, const char *reason, const char *by,
		    const char *ticket, long long now, struct state_audit *rec);
/* Lift every suspension whose until <= now, each with an "expire" audit
 * record by actor "bulkwarden"; fn (may be NULL) sees each record. Returns
 * the number lifted or -1. */
int state_expire(struct state *s, long long now,
		 void (*fn)(const struct state_audit *rec, void *arg), void *arg);
/* Active suspensions (until == 0 or until > now), malloc'ed array. */
int state_suspensions(struct state *s, long long now, struct state_suspension **out, size_t *n);
/* A number that changes whenever any writer commits (cheap: no table read
 * where the backend allows). */
int state_version(struct state *s, uint64_t *version);

/* Wait up to timeout_ms for another writer's change to suspensions (or
 * later kinds): 1 a change was announced, 0 none, -1 error. Backends
 * without change notification (SQLite) answer -1 at once with
 * state_has_notify() false: poll state_version() instead. The handle is
 * then dedicated to waiting (Redis: a subscribed connection). */
int state_wait_change(struct state *s, unsigned timeout_ms);
bool state_has_notify(const struct state *s);

/* Append an audit record: seq, prev_hash and hash are filled in. */
int state_audit_append(struct state *s, struct state_audit *rec);
/* Records in seq order; fn returns non-zero to stop. */
int state_audit_foreach(struct state *s, int (*fn)(const struct state_audit *rec, void *arg),
			void *arg);
/* Recompute the whole chain in seq order. 0 intact, 1 broken, -1 error.
 * bad_seq is the first seq at which the chain does not hold: the altered
 * record, or the seq of a record that is missing (a gap, or records
 * removed from the end, detected against the head the store keeps). */
int state_audit_verify(struct state *s, long long *n_records, long long *bad_seq, char *why,
		       size_t whylen);

/* The reason of a config-change record (written by the milter on reload,
 * one per identity changed) starts with this when the change is
 * security-relevant (registry/diff.h), with "change" when it is not. */
#define STATE_CHANGE_SECURITY "security-relevant change"

/* Change control (SPEC §10): fn(id, ts) once per identity, with the time of
 * its last security-relevant config-change record, counting only records
 * after its last "added" one (an identity removed and added again starts
 * afresh). Any order; fn returns non-zero to stop. The milter reads it at
 * start for policy.require_reapproval. A backend without its own query is
 * read through state_audit_foreach(). -1 when the store cannot be read. */
int state_last_changes(struct state *s, int (*fn)(const char *id, long long ts, void *arg),
		       void *arg);

/* Add delta to id's bucket for the hour starting at hour (unix, multiple
 * of 3600; other values are floored to one). */
int state_counters_add(struct state *s, const char *id, long long hour,
		       const struct state_counts *delta);
/* Add n deltas in one transaction (all or none): one commit per flush. */
int state_counters_add_many(struct state *s, const struct state_counter_delta *d, size_t n);
/* As state_counters_add_many, applied at most once per batch id (a unique
 * string): a retry after a reply was lost (a timeout, a connection dropped
 * after the server applied it) does not count twice. */
int state_counters_add_batch(struct state *s, const char *batch,
			     const struct state_counter_delta *d, size_t n);
/* Sum of id's buckets with from <= hour < to. */
int state_counters_sum(struct state *s, const char *id, long long from, long long to,
		       struct state_counts *sum);
/* Every identity with buckets in [from, to), with its sum. */
int state_counters_foreach(struct state *s, long long from, long long to,
			   int (*fn)(const char *id, const struct state_counts *sum, void *arg),
			   void *arg);

/* id's counts per day: fn(id, d, sum) for d in [0, days) and each id with
 * messages that day, where day d is [from + d * 86400, from + (d + 1) *
 * 86400). One pass over the store where the backend allows; fn returns
 * non-zero to stop. Used by reports over many identities. Messages and
 * outcomes only: recipients, bytes and auth_failed are 0 (not read, a fifth less work
 * per bucket); state_counters_sum/foreach have them. */
int state_counters_daily(struct state *s, long long from, int days,
			 int (*fn)(const char *id, int day, const struct state_counts *c, void *arg),
			 void *arg);
/*
 * Reserve msgs messages and rcpts recipients against id's limits in the
 * UTC hour and day of now, atomically for every process and relay sharing
 * the store: 0 reserved (use holds the counts after it), 1 over a limit
 * (nothing taken; *over says which, use the counts as they are), -1 error.
 */
int state_reserve(struct state *s, const char *id, long long now, unsigned msgs, unsigned rcpts,
		  const struct state_limits *lim, struct state_usage *use, enum state_over *over);
/* Apply n use deltas in one transaction (all or none). */
int state_usage_add(struct state *s, const struct state_usage_delta *d, size_t n);
/* The use counts of id in the hour and day of now. */
int state_usage_get(struct state *s, const char *id, long long now, struct state_usage *use);
/* Which limit msgs/rcpts more would exceed given the counts (pure). */
enum state_over state_usage_check(const struct state_usage *u, const struct state_limits *lim,
				  unsigned msgs, unsigned rcpts);
/* "messages this hour" etc. for an over code. */
const char *state_over_name(enum state_over o);

/*
 * Moving a whole store (bulkwardenctl state export / import): every row
 * verbatim, so the audit chain holds in the new store. fn returns non-zero
 * to stop. Imports write without audit records of their own and are meant
 * for an empty store (state_is_empty).
 */
int state_counters_rows(struct state *s,
			int (*fn)(const char *id, long long hour, const struct state_counts *c,
				  void *arg),
			void *arg);
/* win: 0 hour, 1 day (start of the window). */
int state_usage_rows(struct state *s,
		     int (*fn)(const char *id, int win, long long start, uint64_t msgs,
			       uint64_t rcpts, void *arg),
		     void *arg);
/* Every stored suspension, expired ones included (malloc'ed array). */
int state_suspensions_all(struct state *s, struct state_suspension **out, size_t *n);
int state_import_audit(struct state *s, const struct state_audit *rec);
int state_import_suspension(struct state *s, const struct state_suspension *sp);
int state_import_usage(struct state *s, const char *id, int win, long long start, uint64_t msgs,
		       uint64_t rcpts);
/* 1 when the store holds no audit record, suspension or counter; 0; -1. */
int state_is_empty(struct state *s);

/* Write the eight counts of c into j as numbers keyed prefix + field name
 * ("messages", "recipients", "bytes", "accepted", "rejected",
 * "quarantined", "tempfailed", "auth_failed"), in that order; prefix is a constant of at
 * most STATE_COUNTS_PREFIX_MAX bytes ("" inside an object of its own,
 * "bulkwarden.counters." in the counters event). Pure, no I/O. */
void state_counts_json(struct jbuf *j, const char *prefix, const struct state_counts *c);

/* Build the audit event (SPEC §5, event.dataset "bulkwarden.audit") for a
 * stored record into j: pure, no I/O; event_id may be NULL (none). */
void state_audit_event(struct jbuf *j, const struct state_audit *rec, const char *event_id);


/*
 * Feedback (SPEC §9): what mailbox providers reported, per identity and
 * hour, each report counted once. A report is remembered by a key the
 * caller derives from what identifies it (bulkwardenctl ingest: "arf:",
 * "dsn:" or "dmarc:" and a SHA-256 hex, see ctl/ingest.c); keys are
 * [A-Za-z0-9:._-], at most STATE_FEEDBACK_KEY_MAX bytes. Keys and counts
 * are kept about 13 months (Redis: REDIS_COUNTER_TTL_S; SQLite: until
 * the store is moved or emptied).
 */
#define STATE_FEEDBACK_KEY_MAX 128
struct state_feedback {
	uint64_t complaints, hard_bounces, soft_bounces, dmarc_messages, dmarc_failures;
};
struct state_feedback_delta {
	const char *id;
	long long hour; /* floored to a multiple of 3600 */
	struct state_feedback fb;
};
/* Record one report atomically: remember key and add the n deltas (n may
 * be 0: a report attributed to nobody, or a marker). 0 recorded, 1 key was
 * recorded before (nothing added), -1 error. */
int state_feedback_record(struct state *s, const char *key, long long now,
			  const struct state_feedback_delta *d, size_t n);
/* 1 when key has been recorded, 0 when not, -1 error. */
int state_feedback_seen(struct state *s, const char *key);
/* Sum of id's feedback with from <= hour < to. */
int state_feedback_sum(struct state *s, const char *id, long long from, long long to,
		       struct state_feedback *sum);
/* Export / import (bulkwardenctl state export / import), as the counters. */
int state_feedback_rows(struct state *s,
			int (*fn)(const char *id, long long hour, const struct state_feedback *f,
				  void *arg),
			void *arg);
int state_feedback_keys(struct state *s, int (*fn)(const char *key, long long ts, void *arg),
			void *arg);
int state_import_feedback(struct state *s, const char *id, long long hour,
			  const struct state_feedback *f);
int state_import_feedback_key(struct state *s, const char *key, long long ts);
/*
 * Waivers (SPEC §9): the documented exception to one check or one signal
 * of one identity, until a set time, granted by a requester and an
 * approver who are not the same person, each grant an audit record
 * ("waiver"), each expiry one too ("waiver-expired", actor "bulkwarden").
 * A waiver never lifts a suspension: the checks "unregistered",
 * "suspended", "not-active", "state-error" and "internal-error" cannot be
 * waived (state_waiver_name_ok). A grant for an identity, kind and name
 * that already have a waiver in force replaces it (the old one ends now;
 * the new record says so). Expired and replaced waivers stay in the store
 * (ended != 0) for `waivers --all` and the report.
 */
#define STATE_WAIVER_KIND_MAX 8	  /* "check", "signal" */
#define STATE_WAIVER_NAME_MAX 32  /* a check id or a signal name */

struct state_waiver {
	long long wid; /* the waiver's number in this store (1, 2, ...) */
	char id[STATE_ID_MAX + 1];
	char kind[STATE_WAIVER_KIND_MAX];
	char name[STATE_WAIVER_NAME_MAX];
	char reason[STATE_TEXT_MAX];
	char by[STATE_NAME_MAX];
	char approver[STATE_NAME_MAX];
	char ticket[STATE_NAME_MAX];
	long long created;
	long long until;
	long long ended; /* 0: not ended; else when it expired or was replaced */
};

/* Whether kind/name may be waived: kind "check" with a check id of SPEC §3
 * other than unregistered, suspended, not-active, state-error and
 * internal-error, or kind "signal" with complaint_rate, hard_bounce_rate,
 * dmarc_fail_rate, volume_surge or new_sending_path. false with why (a
 * constant string) otherwise. Pure. */
bool state_waiver_name_ok(const char *kind, const char *name, const char **why);
/* The signal names a waiver may name, NULL-terminated. */
extern const char *const state_waiver_signals[];

/* Grant a waiver and append its "waiver" audit record, atomically; w->wid,
 * w->created (= now) and w->ended (0) are set here, rec (may be NULL)
 * receives the record. Refused (-1, state_error() says why): a name
 * state_waiver_name_ok() refuses, a missing reason, requester, approver or
 * ticket, an approver equal to the requester (state_same_actor), until <=
 * now. 0 done. */
int state_waiver_grant(struct state *s, struct state_waiver *w, long long now,
		       struct state_audit *rec);
/* The waiver in force (ended == 0 and until > now) for id, kind and name:
 * 0 found (copied into out, may be NULL), 1 none, -1 error. */
int state_waiver_find(struct state *s, const char *id, const char *kind, const char *name,
		      long long now, struct state_waiver *out);
/* Waivers in force at now (all: every stored one, ended ones included),
 * ordered by identity, kind, name, wid; malloc'ed array. id (may be NULL)
 * restricts to one identity. */
int state_waivers(struct state *s, const char *id, long long now, bool all,
		  struct state_waiver **out, size_t *n);
/* End every waiver whose until <= now, each with a "waiver-expired" audit
 * record by actor "bulkwarden"; fn (may be NULL) sees each record. Returns
 * the number ended or -1. Cheap when nothing expired (one indexed read). */
int state_waiver_expire(struct state *s, long long now,
			void (*fn)(const struct state_audit *rec, void *arg), void *arg);
/* Whether the backend keeps waivers (one that does not answers every
 * waiver call with an error, and state_waiver_expire with 0). */
bool state_has_waivers(const struct state *s);
/* Export / import (state export): a stored waiver verbatim, wid included. */
int state_import_waiver(struct state *s, const struct state_waiver *w);
/*
 * Sending paths (SPEC §9, issue 15): the networks (/24, /64), SASL logins
 * and, for vendor identities, DKIM keys (d=/s=) an identity has sent
 * through, and the end of each of its dormancies. A path is "KIND:VALUE" (state_path_network() etc. build it),
 * unique per identity. The first message through a new path adds it with
 * a new-sending-path audit record, atomically, so relays racing on the
 * same path write one record between them.
 */
#define STATE_PATH_MAX 192 /* bytes of "kind:value" with its NUL */

struct state_path {
	char id[STATE_ID_MAX + 1];
	char path[STATE_PATH_MAX];
	long long first_seen;
	bool pending; /* waiting for bulkwardenctl paths approve */
	long long approved_at;
	char approved_by[STATE_NAME_MAX];
	char ticket[STATE_NAME_MAX];
};

/* The path of a client address: "network:A.B.C.0/24" (IPv4, also
 * v4-mapped IPv6) or "network:XXXX:XXXX:XXXX:XXXX::/64". False when it
 * does not fit. Pure. */
struct cidr_addr;
bool state_path_network(const struct cidr_addr *a, char *buf, size_t len);
/* "login:NAME" and "dkim:DOMAIN/SELECTOR" (domain lowercased). Bytes that
 * are not printable ASCII or are blanks become '?'. False when too long. */
bool state_path_login(const char *login, char *buf, size_t len);
bool state_path_dkim(const char *domain, const char *selector, char *buf, size_t len);
/* "dormant:YYYY-MM-DD", the UTC day of last_sent (the identity's last
 * message before a dormancy), or "dormant:never" (last_sent 0): the path
 * of a dormant identity's next message, the same for every message of one
 * dormancy. */
bool state_path_dormant(long long last_sent, char *buf, size_t len);
/* Whether path is a well-formed "network:", "login:", "dkim:" or
 * "dormant:" path; kind (may be NULL) receives "network", "login", "dkim"
 * or "dormant". */
bool state_path_kind(const char *path, const char **kind);

/*
 * Learn path for id at now: when it is new, store it (pending when asked)
 * and append rec (action new-sending-path, actor bulkwarden, reason and
 * detail as given; seq and hashes filled) in one transaction: 1. When it
 * is known: 0, *out filled (pending or not) and nothing written. -1 error.
 */
int state_path_learn(struct state *s, const char *id, const char *path, bool pending,
		     long long now, struct state_audit *rec, struct state_path *out);
/* The paths of id (NULL: every identity), sorted by id then path,
 * malloc'ed array. */
int state_paths(struct state *s, const char *id, struct state_path **out, size_t *n);
/* Approve a pending path with its audit record (action path-approve):
 * 1 approved, 0 it was already approved (nothing written), -1 error (no
 * such path: the error says so). */
int state_path_approve(struct state *s, const char *id, const char *path, const char *by,
		       const char *ticket, long long now, struct state_audit *rec);
/* Store a path as it is, without an audit record (state import). */
int state_import_path(struct state *s, const struct state_path *p);
/*
 * The suppression list (SPEC §9; state/suppress.h says what the 16-byte
 * entries are: keyed hashes, never addresses). Each change takes the next
 * number of a sequence the store keeps; a removed entry stays as a
 * tombstone with its removal's number, so a reader that knows the last
 * number it applied fetches only what changed since (the milter's set).
 */
#define STATE_SUPP_BYTES 16
struct state_supp {
	char id[STATE_ID_MAX + 1];
	unsigned char h[STATE_SUPP_BYTES];
	long long seq;	 /* number of the entry's last change */
	long long since; /* when it was (last) added or removed */
	bool live;	 /* false: removed */
};
/* Add (add true) or remove h on id's list and append its audit record
 * (action "suppress" or "unsuppress", actor by, the detail names the first
 * SUPPRESS_SHOW_HEX hex digits of h, never the address), atomically.
 * 0 done, 1 nothing to do (already listed / not listed: nothing written),
 * -1 error. */
int state_suppress(struct state *s, const char *id, const unsigned char h[STATE_SUPP_BYTES],
		   bool add, const char *reason, const char *by, const char *ticket, long long now,
		   struct state_audit *rec);
/* Entries changed after number since, removed ones included, in change
 * order; since 0: every listed entry, in any order (one pass over the
 * store). fn returns non-zero to stop. -1 error. */
int state_supp_changes(struct state *s, long long since,
		       int (*fn)(const struct state_supp *e, void *arg), void *arg);
/* Listed entries of id (NULL: of every identity). */
int state_supp_count(struct state *s, const char *id, uint64_t *n);
/* The site key's check value (suppress_key_check): stored when the store
 * has none; 0 it matches (or was stored), 1 the store holds another key's
 * value (this host's key file differs from the fleet's), -1 error. */
int state_supp_keycheck(struct state *s, const unsigned char check[STATE_SUPP_BYTES]);
/* state import: list e->h for e->id as of e->since, without an audit
 * record (the imported log holds the ones it had). */
int state_import_supp(struct state *s, const struct state_supp *e);

#endif
