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
/* "sqlite", ... */
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
 * start for policy.require_reapproval. A backend without it fails (-1). */
int state_last_changes(struct state *s, int (*fn)(const char *id, long long ts, void *arg),
		       void *arg);

/* Add delta to id's bucket for the hour starting at hour (unix, multiple
 * of 3600; other values are floored to one). */
int state_counters_add(struct state *s, const char *id, long long hour,
		       const struct state_counts *delta);
/* Add n deltas in one transaction (all or none): one commit per flush. */
int state_counters_add_many(struct state *s, const struct state_counter_delta *d, size_t n);
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
 * non-zero to stop. Used by reports over many identities. */
int state_counters_daily(struct state *s, long long from, int days,
			 int (*fn)(const char *id, int day, const struct state_counts *c, void *arg),
			 void *arg);

/* Write the seven counts of c into j as numbers keyed prefix + field name
 * ("messages", "recipients", "bytes", "accepted", "rejected",
 * "quarantined", "tempfailed"), in that order; prefix is a constant of at
 * most STATE_COUNTS_PREFIX_MAX bytes ("" inside an object of its own,
 * "bulkwarden.counters." in the counters event). Pure, no I/O. */
void state_counts_json(struct jbuf *j, const char *prefix, const struct state_counts *c);

/* Build the audit event (SPEC §5, event.dataset "bulkwarden.audit") for a
 * stored record into j: pure, no I/O; event_id may be NULL (none). */
void state_audit_event(struct jbuf *j, const struct state_audit *rec, const char *event_id);

#endif
