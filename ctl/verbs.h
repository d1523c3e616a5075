/*
 * verbs.h - bulkwardenctl internals: the verbs implemented in the ctl/ files and
 * the output helpers they share (ctl/out.c).
 *
 * Every verb is called as verb(c, argc, argv) with argv[0] the verb name,
 * so it parses its own options with getopt_long. It returns the exit code
 * (CTL_OK, CTL_FAIL, CTL_USAGE) and prints errors on stderr.
 */
#ifndef BW_CTL_VERBS_H
#define BW_CTL_VERBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ctl/ctl.h"
#include "state/state.h"
#include "base/util.h"
#include "policy/event.h"

#define CTL_ESC_MAX 2048			/* bytes of one escaped table cell */
#define CTL_TIME_MAX 32				/* "2026-01-15T10:00:00Z" */
#define CTL_UNTIL_MAX_SECS (10LL * 366 * 86400) /* --until at most ten years ahead */

/* ctl/read.c */
int ctl_check(struct ctl *c, int argc, char **argv);
int ctl_list(struct ctl *c, int argc, char **argv);
int ctl_show(struct ctl *c, int argc, char **argv);
int ctl_stats(struct ctl *c, int argc, char **argv);
/* ctl/change.c */
int ctl_suspend(struct ctl *c, int argc, char **argv);
int ctl_reinstate(struct ctl *c, int argc, char **argv);
int ctl_reload(struct ctl *c, int argc, char **argv);
/* Write the audit event of a stored record to the event log (a failure is
 * a warning: the store is authoritative). */
void ctl_audit_emit(struct ctl *c, const struct state_audit *rec);
/* Lift expired suspensions and end expired waivers (their records and
 * events) before a change, so the audit log stays in time order; -1 on
 * error (printed). */
int ctl_expire_first(struct ctl *c, struct state *st, long long now);
/* ctl/waiver.c */
int ctl_waive(struct ctl *c, int argc, char **argv);
int ctl_waivers(struct ctl *c, int argc, char **argv);
/* show ID: the identity's waivers in force, as "waiver:" lines (j NULL) or
 * as the array "waivers" inside j's open object; a store error is printed
 * and shown as none. */
void ctl_waivers_show(struct ctl *c, const char *id, long long now, struct jbuf *j);
/* ctl/paths.c: paths [ID] | paths approve ID PATH --by WHO [--ticket T] */
int ctl_paths(struct ctl *c, int argc, char **argv);
/* ctl/suppress.c */
int ctl_suppress(struct ctl *c, int argc, char **argv);
int ctl_unsuppress(struct ctl *c, int argc, char **argv);
int ctl_suppressions(struct ctl *c, int argc, char **argv);
/* Put a complaint's recipient on id's list for ingest (actor bulkwarden):
 * 0 added, 1 already listed, -1 failed (why filled); the audit event is
 * written. */
int ctl_suppress_complaint(struct ctl *c, const char *id, const char *addr, const char *reason,
			   char *why, size_t whylen);
/* ctl/ingest.c: exit 0, 65 unusable report, 75 retry later */
int ctl_ingest(struct ctl *c, int argc, char **argv);
/* ctl/audit.c */
int ctl_audit(struct ctl *c, int argc, char **argv);
/* state export [FILE] | state import [FILE] (ctl/statemove.c) */
int ctl_state_verb(struct ctl *c, int argc, char **argv);
/* Add an audit record's members to j (inside an open object). */
void ctl_audit_json(struct jbuf *j, const struct state_audit *rec);

/* Arguments of one verb, parsed by ctl_args_parse(). */
#define CTL_POS_MAX 4
struct ctl_args {
	const char *pos[CTL_POS_MAX]; /* positional arguments */
	int npos;
	bool verify, verbose;
	const char *reason, *by, *ticket, *until; /* NULL when not given */
};

/* ctl/main.c */
/* Parse a verb's argv (argv[0] the verb). allowed lists the options the
 * verb takes by letter: j --json, r --reason, b --by, t --ticket,
 * u --until, v --verify, V --verbose; at most max_pos positionals. Returns
 * CTL_OK, CTL_USAGE (message printed), or -1 when -h printed the usage. */
int ctl_args_parse(struct ctl *c, int argc, char **argv, const char *allowed, int max_pos,
		   struct ctl_args *a);
/* Print "bulkwardenctl: msg" on stderr. */
void ctl_err(const char *fmt, ...) BW_PRINTF(1, 2);
/* Print the verb's one-line usage (and an optional reason) on stderr;
 * returns CTL_USAGE. */
int ctl_usage(const char *verb, const char *fmt, ...) BW_PRINTF(2, 3);
/* Seconds since the epoch; never from the environment, since it dates
 * audit records. */
long long ctl_now(void);

/* ctl/out.c */
/* Escape s for a terminal table cell: controls, DEL, backslash and bytes
 * that are not valid UTF-8 (or are C1 controls) become \xNN; empty becomes
 * "-". Returns buf, truncated with "..." at len. */
const char *out_esc(const char *s, char *buf, size_t len);
/* "YYYY-MM-DDTHH:MM:SSZ" (UTC), or "-" for 0. */
const char *out_time(long long t, char buf[CTL_TIME_MAX]);
/* "YYYY-MM-DD" (UTC), or "-" for 0. */
const char *out_date(long long t, char buf[CTL_TIME_MAX]);
/* Parse --until: ISO 8601 (bw_parse_date) or a duration "90s", "30m",
 * "2h", "7d", "1w" from now. false (with why) when malformed. */
bool out_parse_until(const char *s, long long now, long long *out, const char **why);
/* Start of the UTC hour and day containing now. */
long long out_hour(long long now);
long long out_day(long long now);

/* JSON documents on stdout: an array of jbuf objects. */
struct out_array {
	bool any;
};
void out_array_begin(struct out_array *a);
/* Print j's object (built with jbuf_begin ... jbuf_end) as the next element. */
void out_array_add(struct out_array *a, const struct jbuf *j);
void out_array_end(struct out_array *a);
/* Print j's object as the whole document. */
void out_object(const struct jbuf *j);
/* Add the seven counters of c as an object named key. */
void out_counts_json(struct jbuf *j, const char *key, const struct state_counts *c);

#endif
