/*
 * test_state.c - the SQLite state store: schema creation and version
 * check, open errors, suspension semantics, expiry, state_version across
 * connections, the audit hash chain and its tamper detection, counters,
 * concurrent writer processes, a writer killed mid-transaction, the
 * bounded wait on a locked database, and waivers (grant, find, expiry).
 *
 * Every test works in its own mkdtemp directory. The database is tampered
 * with through a raw sqlite3 connection, as an attacker with file access
 * would.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "base/util.h"
#include "state/state.h"
#include "state/state_int.h"
#include "policy/event.h"

#define T0 1768435200LL /* 2026-01-15T00:00:00Z */
#define WRITERS 4
#define WRITES_PER_WRITER 100
#define CRASH_ROUNDS 5
#define CRASH_BATCH 400
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static char dir[256];
static char dbpath[300];
static struct bw_settings set;

/* A fresh directory and settings pointing into it. */
static int
setup(void **unused)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/bw-state.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
	memset(&set, 0, sizeof(set));
	set.state_backend = "sqlite";
	set.state_path = dbpath;
	return 0;
}

static int
teardown(void **unused)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Open the store or fail the test with the reason. */
static struct state *
open_ok(void)
{
	char err[512];
	struct state *s = state_open(&set, err, sizeof(err));
	if (s == NULL)
		fail_msg("state_open: %s", err);
	return s;
}

/* Run SQL on the database through a raw connection. */
static void
raw_sql(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

/* One integer from a raw query. */
static long long
raw_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	long long v = -1;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

static void
test_schema_created(void **unused)
{
	struct state *s = open_ok();
	assert_string_equal(state_backend_name(s), "sqlite");
	state_close(s);
	assert_int_equal(raw_int("PRAGMA user_version"), 3);
	assert_int_equal(raw_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name "
				 "IN ('suspensions', 'audit', 'audit_head', 'counters', 'usage', "
				 "'waivers')"),
			 6);
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	sqlite3_close(db);
	s = open_ok(); /* a second open finds the schema in place */
	state_close(s);
}

struct open_row {
	const char *name;
	void (*prepare)(void);
	const char *backend;
	const char *path; /* NULL: dbpath; "DIR" prefix: dir */
	const char *want;
};

static void
prep_none(void)
{
}

static void
prep_garbage(void)
{
	FILE *f = fopen(dbpath, "w");
	assert_non_null(f);
	for (int i = 0; i < 200; i++)
		fputs("this is not an sqlite database\n", f);
	fclose(f);
}

static void
prep_foreign(void)
{
	raw_sql("CREATE TABLE mail (x INTEGER)");
}

static void
prep_newer(void)
{
	struct state *s = open_ok();
	state_close(s);
	raw_sql("PRAGMA user_version = 99");
}

static void
prep_dir(void)
{
	assert_int_equal(mkdir(dbpath, 0700), 0);
}

static const struct open_row open_rows[] = {
    {"missing directory", prep_none, "sqlite", "/nonexistent-bw/sub/state.db", "does not exist"},
    {"not a database", prep_garbage, "sqlite", NULL, "not a bulkwarden state database"},
    {"foreign database", prep_foreign, "sqlite", NULL, "holds other tables"},
    {"newer schema", prep_newer, "sqlite", NULL, "newer than this bulkwarden supports"},
    {"path is a directory", prep_dir, "sqlite", NULL, "is a directory"},
    {"redis unreachable", prep_none, "redis", NULL, "Redis unreachable: 127.0.0.1:1:"},
    {"unknown backend", prep_none, "bogus", NULL, "unknown state backend"},
};

static void
test_open_errors(void **unused)
{
	for (size_t i = 0; i < sizeof(open_rows) / sizeof(open_rows[0]); i++) {
		const struct open_row *r = &open_rows[i];
		char err[512] = "";
		char cmd[1000];
		print_message("row %s\n", r->name);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s-wal' '%s-shm'", dbpath, dbpath, dbpath);
		assert_int_equal(system(cmd), 0);
		r->prepare();
		struct bw_settings s2 = set;
		s2.state_backend = r->backend;
		s2.redis_host = "127.0.0.1";
		s2.redis_port = 1; /* nothing listens there */
		if (r->path != NULL)
			s2.state_path = r->path;
		struct state *s = state_open(&s2, err, sizeof(err));
		if (s != NULL)
			fail_msg("%s: opened", r->name);
		if (strstr(err, r->want) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", r->name, err, r->want);
	}
}

/* Is id among the active suspensions at now? */
static bool
is_suspended(struct state *s, const char *id, long long now, struct state_suspension *out)
{
	struct state_suspension *v;
	size_t n;
	bool found = false;
	assert_int_equal(state_suspensions(s, now, &v, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].id, id) == 0) {
			found = true;
			if (out != NULL)
				*out = v[i];
		}
	}
	free(v);
	return found;
}

static int expired_seen;

static void
on_expire(const struct state_audit *rec, void *arg)
{
	assert_string_equal(rec->action, "expire");
	assert_string_equal(rec->actor, "bulkwarden");
	assert_string_equal(rec->identity, (const char *)arg);
	expired_seen++;
}

static void
test_suspend_semantics(void **unused)
{
	struct state *s = open_ok();
	struct state_audit rec;
	struct state_suspension sp;

	state_set_origin(s, "unit test");
	assert_int_equal(
	    state_suspend(s, "newsletter", "spam complaints", "alice", "SEC-1", 0, T0, &rec), 0);
	assert_int_equal(rec.seq, 1);
	assert_string_equal(rec.action, "suspend");
	assert_non_null(strstr(rec.detail, "until reinstated"));
	assert_non_null(strstr(rec.detail, "via unit test"));
	assert_true(is_suspended(s, "newsletter", T0, &sp));
	assert_string_equal(sp.reason, "spam complaints");
	assert_string_equal(sp.by, "alice");
	assert_string_equal(sp.ticket, "SEC-1");
	assert_int_equal(sp.since, T0);
	assert_int_equal(sp.until, 0);
	assert_true(is_suspended(s, "newsletter", T0 + 86400 * 365, NULL));

	/* a second suspend never shortens the one in force (SPEC §6): an
	 * --until replacing an indefinite suspension changes nothing */
	assert_int_equal(
	    state_suspend(s, "newsletter", "still spamming", "bob", NULL, T0 + 7200, T0 + 60, &rec),
	    1);
	assert_non_null(strstr(state_error(s), "already suspended until reinstated"));
	assert_true(is_suspended(s, "newsletter", T0 + 7200, &sp));
	assert_string_equal(sp.by, "alice");
	assert_int_equal(sp.until, 0);
	assert_int_equal(state_suspend(s, "newsletter", "again", "bob", NULL, 0, T0 + 60, NULL), 1);

	/* whoever suspended cannot reinstate, however the name is written */
	assert_int_equal(state_reinstate(s, "newsletter", "mine", "alice", "SEC-2", T0 + 90, NULL),
			 -1);
	assert_non_null(strstr(state_error(s), "suspended by alice: someone else"));
	assert_int_equal(
	    state_reinstate(s, "newsletter", "mine", " ALICE\t", "SEC-2", T0 + 90, NULL), -1);
	assert_true(is_suspended(s, "newsletter", T0 + 90, NULL));

	/* reinstate: 1 when it was suspended, 0 otherwise (nothing written) */
	assert_int_equal(
	    state_reinstate(s, "newsletter", "fixed", "carol", "SEC-2", T0 + 120, &rec), 1);
	assert_int_equal(rec.seq, 2);
	assert_string_equal(rec.action, "reinstate");
	assert_false(is_suspended(s, "newsletter", T0 + 120, NULL));
	assert_int_equal(
	    state_reinstate(s, "newsletter", "again", "carol", "SEC-2", T0 + 130, &rec), 0);
	assert_int_equal(state_reinstate(s, "never", "x", "carol", "SEC-2", T0 + 130, NULL), 0);

	/* a timed suspension: a shorter one changes nothing, a longer one or
	 * an indefinite one extends it, keeping who suspended it and since when */
	assert_int_equal(
	    state_suspend(s, "promo", "complaints", "alice", "SEC-5", T0 + 7200, T0 + 140, NULL),
	    0);
	assert_int_equal(
	    state_suspend(s, "promo", "shorter", "bob", "SEC-6", T0 + 3600, T0 + 150, NULL), 1);
	assert_int_equal(
	    state_suspend(s, "promo", "same", "bob", "SEC-6", T0 + 7200, T0 + 150, NULL), 1);
	assert_true(is_suspended(s, "promo", T0 + 7199, &sp));
	assert_int_equal(sp.until, T0 + 7200);
	/* until is exclusive: at until the suspension no longer holds */
	assert_false(is_suspended(s, "promo", T0 + 7200, NULL));
	assert_int_equal(
	    state_suspend(s, "promo", "worse", "bob", "SEC-6", T0 + 10800, T0 + 160, &rec), 0);
	assert_non_null(strstr(rec.detail, "until 2026-01-15T03:00:00Z"));
	assert_non_null(strstr(rec.detail, "extends the suspension since"));
	assert_true(is_suspended(s, "promo", T0 + 10799, &sp));
	assert_string_equal(sp.by, "alice");
	assert_string_equal(sp.reason, "complaints");
	assert_int_equal(sp.since, T0 + 140);
	assert_int_equal(state_suspend(s, "promo", "for good", "bob", "SEC-6", 0, T0 + 170, NULL),
			 0);
	assert_true(is_suspended(s, "promo", T0 + 99999999, &sp));
	/* the extender is not whoever suspended it: bob may reinstate */
	assert_int_equal(state_reinstate(s, "promo", "ok", "alice", "SEC-7", T0 + 180, NULL), -1);
	assert_int_equal(state_reinstate(s, "promo", "ok", "bob", "SEC-7", T0 + 180, NULL), 1);

	/* the store does not refuse an until in the past (bulkwardenctl does):
	 * such a suspension is simply not active, and expiry lifts it */
	assert_int_equal(
	    state_suspend(s, "receipts", "test", "alice", "T", T0 - 10, T0 + 200, NULL), 0);
	assert_false(is_suspended(s, "receipts", T0 + 200, NULL));
	/* reinstating an expired, not yet lifted suspension is a no-op */
	assert_int_equal(state_reinstate(s, "receipts", "x", "carol", "T", T0 + 201, NULL), 0);

	/* expiry: lifts receipts and a timed one, keeps the open-ended one */
	assert_int_equal(
	    state_suspend(s, "timed", "cool down", "alice", "T", T0 + 1000, T0 + 300, NULL), 0);
	assert_int_equal(state_suspend(s, "forever", "stop", "alice", "T", 0, T0 + 300, NULL), 0);
	expired_seen = 0;
	assert_int_equal(state_expire(s, T0 + 500, NULL, NULL), 1); /* receipts only */
	assert_true(is_suspended(s, "timed", T0 + 500, NULL));
	assert_int_equal(state_expire(s, T0 + 1000, on_expire, "timed"), 1);
	assert_int_equal(expired_seen, 1);
	assert_int_equal(state_expire(s, T0 + 2000, on_expire, "none"), 0);
	assert_true(is_suspended(s, "forever", T0 + 99999999, NULL));
	assert_int_equal(raw_int("SELECT count(*) FROM suspensions"), 1);
	assert_int_equal(raw_int("SELECT count(*) FROM audit WHERE action = 'expire'"), 2);

	long long n = 0, bad = -1;
	char why[256];
	assert_int_equal(state_audit_verify(s, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(n, 11);
	state_close(s);
}

struct bad_arg_row {
	const char *id, *reason, *by, *ticket;
	bool reinstate;
	const char *want;
};

static char long_text[STATE_TEXT_MAX + 10];

static const struct bad_arg_row bad_arg_rows[] = {
    {"Bad-ID", "r", "a", "t", false, "invalid identity"},
    {"", "r", "a", "t", false, "invalid identity"},
    {"-x", "r", "a", "t", false, "invalid identity"},
    {"ok", "", "a", "t", false, "reason is required"},
    {"ok", "r", "", "t", false, "actor is required"},
    {"ok", "r", NULL, "t", true, "actor is required"},
    {"ok", "r", "a", "", true, "ticket is required"},
    {"ok", "r", "a", " \t ", true, "ticket is required"},
    {"ok", "r", "  ", "t", true, "actor is required"},
    {"ok", long_text, "a", "t", false, "longer than"},
};

static void
test_bad_arguments(void **unused)
{
	struct state *s = open_ok();
	memset(long_text, 'x', sizeof(long_text) - 1);
	for (size_t i = 0; i < sizeof(bad_arg_rows) / sizeof(bad_arg_rows[0]); i++) {
		const struct bad_arg_row *r = &bad_arg_rows[i];
		int rc = r->reinstate
			     ? state_reinstate(s, r->id, r->reason, r->by, r->ticket, T0, NULL)
			     : state_suspend(s, r->id, r->reason, r->by, r->ticket, 0, T0, NULL);
		print_message("row %zu\n", i);
		assert_int_equal(rc, -1);
		assert_non_null(strstr(state_error(s), r->want));
	}
	assert_int_equal(raw_int("SELECT count(*) FROM audit"), 0);
	state_close(s);
}

static void
test_version(void **unused)
{
	struct state *a = open_ok(), *b = open_ok();
	uint64_t v0, v1, v2, v3;
	assert_int_equal(state_version(a, &v0), 0);
	assert_int_equal(state_version(a, &v1), 0);
	assert_true(v0 == v1); /* no commit, no change */
	assert_int_equal(state_suspend(b, "newsletter", "r", "x", "", 0, T0, NULL), 0);
	assert_int_equal(state_version(a, &v2), 0);
	assert_true(v2 != v1); /* another connection's commit */
	assert_int_equal(state_reinstate(a, "newsletter", "r", "y", "t", T0, NULL), 1);
	assert_int_equal(state_version(a, &v3), 0);
	assert_true(v3 != v2); /* our own commit */
	/* a read-only expiry check commits nothing */
	assert_int_equal(state_expire(a, T0, NULL, NULL), 0);
	assert_int_equal(state_version(a, &v0), 0);
	assert_true(v0 == v3);
	state_close(a);
	state_close(b);
}

/* The documented serialization, computed independently of state.c. */
static void
expected_hash(const struct state_audit *r, char out[65])
{
	char buf[4096];
	char num[2][32];
	const char *f[] = {r->prev_hash, num[0],    num[1],    r->action, r->actor,
			   r->identity,	 r->reason, r->ticket, r->detail};
	size_t off = (size_t)snprintf(buf, sizeof(buf), "bulkwarden-audit-v1\n");
	snprintf(num[0], sizeof(num[0]), "%lld", r->seq);
	snprintf(num[1], sizeof(num[1]), "%lld", r->ts);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		off +=
		    (size_t)snprintf(buf + off, sizeof(buf) - off, "%zu:%s,", strlen(f[i]), f[i]);
	unsigned char d[32];
	unsigned dl;
	EVP_Digest(buf, off, d, &dl, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

struct chain_ctx {
	long long n;
	char prev[65];
	int reentrant_ok;
	struct state *s;
};

static int
chain_cb(const struct state_audit *r, void *arg)
{
	struct chain_ctx *c = arg;
	char want[65];
	c->n++;
	assert_int_equal(r->seq, c->n);
	assert_string_equal(r->prev_hash, c->prev);
	expected_hash(r, want);
	assert_string_equal(r->hash, want);
	memcpy(c->prev, r->hash, sizeof(c->prev));
	/* callbacks may use the same handle */
	struct state_suspension *v;
	size_t n;
	if (state_suspensions(c->s, T0, &v, &n) == 0)
		c->reentrant_ok++;
	free(v);
	return 0;
}

/* Five records: suspend, config-reload, reinstate, suspend, suspend. */
static struct state *
five_records(void)
{
	struct state *s = open_ok();
	struct state_audit r = {0};
	assert_int_equal(
	    state_suspend(s, "newsletter", "complaints", "alice", "SEC-1", 0, T0, NULL), 0);
	snprintf(r.action, sizeof(r.action), "config-reload");
	snprintf(r.actor, sizeof(r.actor), "bulkwarden");
	snprintf(r.reason, sizeof(r.reason), "configuration reloaded");
	snprintf(r.detail, sizeof(r.detail), "revision 51860d5089b4164c");
	r.ts = T0 + 1;
	assert_int_equal(state_audit_append(s, &r), 0);
	assert_int_equal(r.seq, 2);
	assert_int_equal(state_reinstate(s, "newsletter", "ok", "bob", "SEC-2", T0 + 2, NULL), 1);
	assert_int_equal(state_suspend(s, "receipts", "weird \"quotes\"\nand newline", "alice", "",
				       T0 + 9000, T0 + 3, NULL),
			 0);
	assert_int_equal(state_suspend(s, "old", "retire early", "carol", "SEC-3", 0, T0 + 4, NULL),
			 0);
	return s;
}

static void
test_audit_chain(void **unused)
{
	struct state *s = five_records();
	struct chain_ctx c = {0, ZERO_HASH, 0, s};
	assert_int_equal(state_audit_foreach(s, chain_cb, &c), 0);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.reentrant_ok, 5);
	long long n = 0, bad = -1;
	char why[256] = "x";
	assert_int_equal(state_audit_verify(s, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(n, 5);
	assert_int_equal(bad, 0);
	assert_string_equal(why, "");
	state_close(s);
	/* an empty log verifies */
	teardown(NULL);
	setup(NULL);
	s = open_ok();
	assert_int_equal(state_audit_verify(s, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(n, 0);
	state_close(s);
}

struct tamper_row {
	const char *name;
	const char *sql;
	long long bad_seq;
	const char *why;
};

static const struct tamper_row tamper_rows[] = {
    {"reason altered", "UPDATE audit SET reason = 'nothing to see' WHERE seq = 3", 3, "altered"},
    {"time altered", "UPDATE audit SET ts = ts - 86400 WHERE seq = 2", 2, "altered"},
    {"actor altered", "UPDATE audit SET actor = 'mallory' WHERE seq = 1", 1, "altered"},
    {"identity altered", "UPDATE audit SET identity = 'other' WHERE seq = 4", 4, "altered"},
    {"ticket altered", "UPDATE audit SET ticket = 'SEC-9' WHERE seq = 5", 5, "altered"},
    {"detail padded", "UPDATE audit SET detail = detail || ' ' WHERE seq = 2", 2, "altered"},
    {"action altered", "UPDATE audit SET action = 'reinstate' WHERE seq = 4", 4, "altered"},
    {"hidden NUL byte",
     "UPDATE audit SET reason = CAST(X'636f6d706c61696e74730078' AS TEXT) "
     "WHERE seq = 1",
     1, "altered"}, /* "complaints\0x": a C-string copy would look unchanged */
    {"padded past the field size",
     "UPDATE audit SET actor = actor || printf('%600s', '') WHERE seq = 3", 3, "altered"},
    {"middle record deleted", "DELETE FROM audit WHERE seq = 2", 2, "missing"},
    {"first record deleted", "DELETE FROM audit WHERE seq = 1", 1, "missing"},
    {"last record deleted", "DELETE FROM audit WHERE seq = 5", 5, "missing"},
    {"deleted and renumbered",
     "DELETE FROM audit WHERE seq = 3; UPDATE audit SET seq = seq - 1 WHERE seq > 3;"
     "UPDATE audit_head SET seq = 4",
     3, "does not chain"},
    {"two records swapped",
     "UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 4;"
     "UPDATE audit SET seq = 4 WHERE seq = -2",
     2, "does not chain"},
    {"hash replaced",
     "UPDATE audit SET hash = replace(hash, substr(hash, 1, 1), 'x') "
     "WHERE seq = 3",
     3, "altered"},
    {"prev_hash replaced", "UPDATE audit SET prev_hash = hash WHERE seq = 4", 4, "does not chain"},
    {"head removed", "DELETE FROM audit_head", 5, "head is missing"},
    {"record forged at the end",
     "INSERT INTO audit SELECT seq + 1, ts, action, actor, identity, reason, ticket, detail, "
     "hash, hash FROM audit WHERE seq = 5",
     6, "altered"},
};

static void
test_audit_tamper(void **unused)
{
	for (size_t i = 0; i < sizeof(tamper_rows) / sizeof(tamper_rows[0]); i++) {
		const struct tamper_row *r = &tamper_rows[i];
		print_message("row %s\n", r->name);
		teardown(NULL);
		setup(NULL);
		struct state *s = five_records();
		state_close(s);
		raw_sql(r->sql);
		s = open_ok();
		long long n = 0, bad = -1;
		char why[256] = "";
		int rc = state_audit_verify(s, &n, &bad, why, sizeof(why));
		if (rc != 1 || bad != r->bad_seq || strstr(why, r->why) == NULL)
			fail_msg("%s: rc %d bad_seq %lld why \"%s\"", r->name, rc, bad, why);
		state_close(s);
	}
}

/* A record appended after tampering keeps the break visible. */
static void
test_audit_tamper_then_append(void **unused)
{
	struct state *s = five_records();
	state_close(s);
	raw_sql("DELETE FROM audit WHERE seq >= 4");
	s = open_ok();
	assert_int_equal(state_suspend(s, "x1", "r", "a", "", 0, T0 + 10, NULL), 0);
	long long n, bad;
	char why[256];
	assert_int_equal(state_audit_verify(s, &n, &bad, why, sizeof(why)), 1);
	assert_int_equal(bad, 4);
	state_close(s);

	/* a row forged past the head does not block the next change */
	teardown(NULL);
	setup(NULL);
	s = five_records();
	state_close(s);
	raw_sql("INSERT INTO audit SELECT seq + 1, ts, action, actor, identity, reason, ticket, "
		"detail, hash, hash FROM audit WHERE seq = 5");
	s = open_ok();
	struct state_audit rec;
	assert_int_equal(state_suspend(s, "x1", "r", "a", "", 0, T0 + 10, &rec), 0);
	assert_int_equal(rec.seq, 7);
	assert_int_equal(state_audit_verify(s, &n, &bad, why, sizeof(why)), 1);
	assert_int_equal(bad, 6);
	state_close(s);
}

struct cnt_ctx {
	int n;
	char ids[4][STATE_ID_MAX + 1];
	uint64_t msgs[4];
};

static int
cnt_cb(const char *id, const struct state_counts *c, void *arg)
{
	struct cnt_ctx *x = arg;
	assert_true(x->n < 4);
	snprintf(x->ids[x->n], sizeof(x->ids[x->n]), "%s", id);
	x->msgs[x->n++] = c->messages;
	return 0;
}

struct cnt_row {
	const char *id;
	long long hour;
	uint64_t msgs;
};

static const struct cnt_row cnt_rows[] = {
    {"newsletter", T0, 10},	  {"newsletter", T0 + 1800, 5}, /* floored into T0 */
    {"newsletter", T0 + 3600, 7}, {"newsletter", T0 + 86400, 100}, {"receipts", T0 + 7200, 3},
    {"receipts", T0 - 3600, 1},	  {"newsletter", T0 + 3600, 1},
};

struct auth_rows {
	int rows;
	uint64_t auth_failed;
};

static int
auth_row_cb(const char *id, long long hour, const struct state_counts *c, void *arg)
{
	struct auth_rows *x = arg;
	(void)id;
	(void)hour;
	x->rows++;
	x->auth_failed += c->auth_failed;
	return 0;
}

static void
test_counters(void **unused)
{
	struct state *s = open_ok();
	struct state_counts sum;
	for (size_t i = 0; i < sizeof(cnt_rows) / sizeof(cnt_rows[0]); i++) {
		struct state_counts d = {0};
		d.messages = cnt_rows[i].msgs;
		d.recipients = 2 * cnt_rows[i].msgs;
		d.bytes = 1000 * cnt_rows[i].msgs;
		d.accepted = cnt_rows[i].msgs;
		d.rejected = 1;
		d.quarantined = 2;
		d.tempfailed = 3;
		d.auth_failed = cnt_rows[i].msgs / 5;
		assert_int_equal(state_counters_add(s, cnt_rows[i].id, cnt_rows[i].hour, &d), 0);
	}
	assert_int_equal(raw_int("SELECT count(*) FROM counters"), 5);
	assert_int_equal(raw_int("SELECT count(*) FROM counters WHERE hour % 3600 != 0"), 0);
	assert_int_equal(state_counters_sum(s, "newsletter", T0, T0 + 3600, &sum), 0);
	assert_int_equal(sum.messages, 15);
	assert_int_equal(sum.recipients, 30);
	assert_int_equal(sum.bytes, 15000);
	assert_int_equal(sum.rejected, 2);
	assert_int_equal(sum.quarantined, 4);
	assert_int_equal(sum.tempfailed, 6);
	assert_int_equal(sum.auth_failed, 3); /* 10 / 5 + 5 / 5 */
	assert_int_equal(state_counters_sum(s, "newsletter", T0, T0 + 86400, &sum), 0);
	assert_int_equal(sum.messages, 23);
	assert_int_equal(sum.auth_failed, 4); /* + 7 / 5 + 1 / 5 */
	struct auth_rows ar = {0};
	assert_int_equal(state_counters_rows(s, auth_row_cb, &ar), 0);
	assert_int_equal(ar.rows, 5);
	assert_int_equal(ar.auth_failed, 24); /* rows: 3 + 1 + 20 + 0 + 0 */
	assert_int_equal(state_counters_sum(s, "newsletter", T0, T0 + 2 * 86400, &sum), 0);
	assert_int_equal(sum.messages, 123);
	assert_int_equal(state_counters_sum(s, "nobody", T0, T0 + 86400, &sum), 0);
	assert_int_equal(sum.messages, 0);

	struct cnt_ctx x = {0};
	assert_int_equal(state_counters_foreach(s, T0, T0 + 86400, cnt_cb, &x), 0);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.ids[0], "newsletter");
	assert_int_equal(x.msgs[0], 23);
	assert_string_equal(x.ids[1], "receipts");
	assert_int_equal(x.msgs[1], 3);

	/* a batch is one transaction: a bad id rejects all of it */
	struct state_counter_delta batch[2] = {{"newsletter", T0, {.messages = 1}},
					       {"Bad Id", T0, {.messages = 1}}};
	assert_int_equal(state_counters_add_many(s, batch, 2), -1);
	assert_int_equal(state_counters_sum(s, "newsletter", T0, T0 + 3600, &sum), 0);
	assert_int_equal(sum.messages, 15);
	batch[1].id = "receipts";
	assert_int_equal(state_counters_add_many(s, batch, 2), 0);
	assert_int_equal(state_counters_sum(s, "newsletter", T0, T0 + 3600, &sum), 0);
	assert_int_equal(sum.messages, 16);
	state_close(s);
}

struct daily_ctx {
	int n, stop_after;
	char ids[8][STATE_ID_MAX + 1];
	int day[8];
	struct state_counts c[8];
};

static int
daily_cb(const char *id, int day, const struct state_counts *c, void *arg)
{
	struct daily_ctx *x = arg;
	assert_true(x->n < 8);
	snprintf(x->ids[x->n], sizeof(x->ids[x->n]), "%s", id);
	x->day[x->n] = day;
	x->c[x->n++] = *c;
	return x->stop_after && x->n == x->stop_after;
}

/* state_counters_daily: one call per identity and day, the day's buckets
 * summed (the report's scan); fn's non-zero stops it. */
static void
test_counters_daily(void **unused)
{
	struct state *s = open_ok();
	for (size_t i = 0; i < sizeof(cnt_rows) / sizeof(cnt_rows[0]); i++) {
		struct state_counts d = {.messages = cnt_rows[i].msgs,
					 .recipients = 2 * cnt_rows[i].msgs,
					 .accepted = cnt_rows[i].msgs,
					 .rejected = 1};
		assert_int_equal(state_counters_add(s, cnt_rows[i].id, cnt_rows[i].hour, &d), 0);
	}
	struct daily_ctx x = {0};
	assert_int_equal(state_counters_daily(s, T0, 2, daily_cb, &x), 0);
	assert_int_equal(x.n, 3); /* newsletter day 0 and 1, receipts day 0 */
	int seen = 0;
	for (int i = 0; i < x.n; i++) {
		if (strcmp(x.ids[i], "newsletter") == 0 && x.day[i] == 0) {
			/* buckets T0 (10 + 5) and T0 + 3600 (7 + 1): one sum */
			assert_int_equal(x.c[i].messages, 23);
			assert_int_equal(x.c[i].recipients, 0); /* not read */
			assert_int_equal(x.c[i].rejected, 4);
			seen |= 1;
		} else if (strcmp(x.ids[i], "newsletter") == 0 && x.day[i] == 1) {
			assert_int_equal(x.c[i].messages, 100);
			seen |= 2;
		} else if (strcmp(x.ids[i], "receipts") == 0 && x.day[i] == 0) {
			assert_int_equal(x.c[i].messages, 3); /* not the bucket before T0 */
			seen |= 4;
		} else {
			fail_msg("unexpected call %s day %d", x.ids[i], x.day[i]);
		}
	}
	assert_int_equal(seen, 7);
	struct daily_ctx y = {.stop_after = 1};
	assert_int_equal(state_counters_daily(s, T0, 2, daily_cb, &y), 0);
	assert_int_equal(y.n, 1);
	state_close(s);
}

/* Child: WRITES_PER_WRITER rounds of suspend, reinstate and a counter
 * flush on its own handle; exits with the number of failed calls. */
static int
writer(int k)
{
	char err[512], id[32];
	int failures = 0;
	struct state *s = state_open(&set, err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "writer %d: %s\n", k, err);
		return 100;
	}
	snprintf(id, sizeof(id), "writer-%d", k);
	for (int i = 0; i < WRITES_PER_WRITER; i++) {
		struct state_counts d = {.messages = 1, .recipients = 2, .accepted = 1};
		/* each step is retried while the lock wait runs out (a loaded
		 * host starves one of five writers past 5 s), never after any
		 * other error: a step either committed whole or not at all */
		for (int step = 0; step < 3; step++) {
			int rc, tries = 0;
			do {
				rc = step == 0   ? state_suspend(s, id, "load test", "test", "T", 0, T0 + i, NULL)
				     : step == 1 ? (state_reinstate(s, id, "load test", "test2", "T", T0 + i,
								   NULL) == 1
							    ? 0
							    : -1)
						 : state_counters_add(s, id, T0, &d);
			} while (rc != 0 && strstr(state_error(s), "locked") != NULL && ++tries < 10);
			if (rc != 0) {
				fprintf(stderr, "writer %d step %d: %s\n", k, step, state_error(s));
				failures++;
				break;
			}
		}
	}
	state_close(s);
	return failures > 99 ? 99 : failures;
}

static void
test_concurrent_writers(void **unused)
{
	pid_t pid[WRITERS];
	struct state *s = open_ok(); /* the milter's handle, open throughout */
	for (int k = 0; k < WRITERS; k++) {
		pid[k] = fork();
		assert_true(pid[k] >= 0);
		if (pid[k] == 0)
			_exit(writer(k));
	}
	for (int k = 0; k < WRITERS; k++) {
		int st;
		assert_int_equal(waitpid(pid[k], &st, 0), pid[k]);
		assert_true(WIFEXITED(st));
		if (WEXITSTATUS(st) != 0)
			fail_msg("writer %d: %d failed calls", k, WEXITSTATUS(st));
	}
	long long n, bad;
	char why[256];
	assert_int_equal(state_audit_verify(s, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(n, WRITERS * WRITES_PER_WRITER * 2);
	for (int k = 0; k < WRITERS; k++) {
		char id[32];
		struct state_counts sum;
		snprintf(id, sizeof(id), "writer-%d", k);
		assert_int_equal(state_counters_sum(s, id, T0, T0 + 3600, &sum), 0);
		assert_int_equal(sum.messages, WRITES_PER_WRITER);
		assert_int_equal(sum.recipients, 2 * WRITES_PER_WRITER);
	}
	struct state_suspension *v;
	size_t ns;
	assert_int_equal(state_suspensions(s, T0, &v, &ns), 0);
	assert_int_equal(ns, 0);
	free(v);
	state_close(s);
}

/* Child: write forever, big counter batches between suspend/reinstate. */
static void
crash_writer(void)
{
	char err[512];
	struct state *s = state_open(&set, err, sizeof(err));
	static struct state_counter_delta d[CRASH_BATCH];
	static char ids[CRASH_BATCH][16];
	if (s == NULL)
		_exit(100);
	for (int i = 0; i < CRASH_BATCH; i++) {
		snprintf(ids[i], sizeof(ids[i]), "id-%d", i);
		d[i].id = ids[i];
		d[i].hour = T0;
		d[i].counts.messages = 1;
	}
	for (long long i = 0;; i++) {
		state_suspend(s, "crash", "r", "a", "", 0, T0 + i, NULL);
		state_counters_add_many(s, d, CRASH_BATCH);
		state_reinstate(s, "crash", "r", "b", "t", T0 + i, NULL);
	}
}

static void
test_crash_mid_write(void **unused)
{
	srand((unsigned)getpid());
	for (int round = 0; round < CRASH_ROUNDS; round++) {
		pid_t p = fork();
		assert_true(p >= 0);
		if (p == 0)
			crash_writer();
		usleep(100000 + (useconds_t)(rand() % 200000));
		kill(p, SIGKILL);
		int st;
		assert_int_equal(waitpid(p, &st, 0), p);
		assert_true(WIFSIGNALED(st));

		struct state *s = open_ok();
		long long n, bad;
		char why[256];
		if (state_audit_verify(s, &n, &bad, why, sizeof(why)) != 0)
			fail_msg("round %d: %s", round, why);
		/* every counter batch committed whole or not at all */
		struct state_counts first, last;
		assert_int_equal(state_counters_sum(s, "id-0", T0, T0 + 3600, &first), 0);
		assert_int_equal(state_counters_sum(s, "id-399", T0, T0 + 3600, &last), 0);
		assert_int_equal(first.messages, last.messages);
		print_message("round %d: %lld audit records, %llu batches\n", round, n,
			      (unsigned long long)first.messages);
		state_close(s);
	}
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void
test_locked(void **unused)
{
	struct state *s = open_ok();
	sqlite3 *db;
	struct timespec a, b;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	/* readers are not blocked (WAL) */
	struct state_suspension *v;
	size_t n;
	assert_int_equal(state_suspensions(s, T0, &v, &n), 0);
	free(v);
	/* a writer waits for the busy timeout, then fails clearly */
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(state_suspend(s, "newsletter", "r", "a", "", 0, T0, NULL), -1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double waited = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	print_message("waited %.2f s: %s\n", waited, state_error(s));
	assert_non_null(strstr(state_error(s), "locked"));
	assert_true(waited >= 4.0 && waited < 10.0);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	/* and works once the lock is gone */
	assert_int_equal(state_suspend(s, "newsletter", "r", "a", "", 0, T0, NULL), 0);
	state_close(s);
}

static void
test_audit_event(void **unused)
{
	static struct jbuf j;
	struct state *s = open_ok();
	struct state_audit rec;
	assert_int_equal(
	    state_suspend(s, "newsletter", "line\nbreak \"q\"", "alice", "SEC-1", 0, T0, &rec), 0);
	state_audit_event(&j, &rec, "abc123");
	static const char *const want[] = {
	    "\"@timestamp\":\"2026-01-15T00:00:00.000Z\"",
	    "\"event.dataset\":\"bulkwarden.audit\"",
	    "\"event.id\":\"abc123\"",
	    "\"event.action\":\"suspend\"",
	    "\"event.reason\":\"line\\u000abreak \\\"q\\\"\"",
	    "\"bulkwarden.actor\":\"alice\"",
	    "\"bulkwarden.ticket\":\"SEC-1\"",
	    "\"bulkwarden.identity.id\":\"newsletter\"",
	    "\"bulkwarden.audit.seq\":1",
	    "\"bulkwarden.audit.prev_hash\":\"0000000000000000",
	    "\"bulkwarden.audit.hash\":\"",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(j.buf, want[i]) == NULL)
			fail_msg("missing %s in %s", want[i], j.buf);
	assert_int_equal((int)(strchr(j.buf, '\n') - j.buf), (int)j.len - 1);
	state_close(s);
}

/* One config-change record, as the milter's reload writes it. */
static void
change(struct state *s, long long ts, const char *id, bool security, const char *detail)
{
	struct state_audit rec;
	memset(&rec, 0, sizeof(rec));
	rec.ts = ts;
	bw_strlcpy(rec.action, "config-change", sizeof(rec.action));
	bw_strlcpy(rec.actor, "bulkwarden", sizeof(rec.actor));
	bw_strlcpy(rec.identity, id, sizeof(rec.identity));
	snprintf(rec.reason, sizeof(rec.reason), "%s by the reload to revision 0123456789abcdef",
		 security ? STATE_CHANGE_SECURITY : "change");
	bw_strlcpy(rec.detail, detail, sizeof(rec.detail));
	assert_int_equal(state_audit_append(s, &rec), 0);
}

struct seen_changes {
	char id[4][STATE_ID_MAX + 1];
	long long ts[4];
	size_t n;
};

static int
changes_cb(const char *id, long long ts, void *arg)
{
	struct seen_changes *x = arg;
	assert_true(x->n < 4);
	bw_strlcpy(x->id[x->n], id, sizeof(x->id[0]));
	x->ts[x->n++] = ts;
	return 0;
}

/* state_last_changes: per identity the latest security-relevant
 * config-change, approval-only changes and other actions ignored, history
 * before an identity's last "added" record forgotten. */
static void
test_last_changes(void **unused)
{
	struct state *s = open_ok();
	struct seen_changes x = {.n = 0};
	assert_int_equal(state_last_changes(s, changes_cb, &x), 0);
	assert_int_equal(x.n, 0); /* an empty store */
	change(s, 1000, "a", true, "+login svc-x");
	change(s, 3000, "a", true, "-network 10.0.0.0/8");
	change(s, 4000, "a", false, "approval ciso@example.com T2"); /* not security */
	change(s, 1500, "b", true, "per_hour 10 -> 20");
	change(s, 1600, "b", true, "removed");
	change(s, 1700, "b", false, "added"); /* b starts afresh */
	change(s, 1800, "c", false, "added");
	change(s, 1900, "c", true, "+owner dns=d@example.com");
	assert_int_equal(state_suspend(s, "a", "r", "soc@example.com", "T", 0, 5000, NULL), 0);
	assert_int_equal(state_last_changes(s, changes_cb, &x), 0);
	assert_int_equal(x.n, 2);
	for (size_t i = 0; i < x.n; i++) {
		if (strcmp(x.id[i], "a") == 0)
			assert_int_equal(x.ts[i], 3000);
		else if (strcmp(x.id[i], "c") == 0)
			assert_int_equal(x.ts[i], 1900);
		else
			fail_msg("unexpected identity %s", x.id[i]);
	}
	/* the walk over the audit log (Redis) says the same */
	struct seen_changes w = {.n = 0};
	assert_int_equal(state_last_changes_walk(s, changes_cb, &w), 0);
	assert_int_equal(w.n, 2);
	for (size_t i = 0; i < w.n; i++) {
		if (strcmp(w.id[i], "a") == 0)
			assert_int_equal(w.ts[i], 3000);
		else if (strcmp(w.id[i], "c") == 0)
			assert_int_equal(w.ts[i], 1900);
		else
			fail_msg("unexpected identity %s", w.id[i]);
	}
	state_close(s);
}

/* Feedback: a report recorded once (a second record is "duplicate" and adds
 * nothing), sums over a window, export rows and keys, bad keys refused. */
static int
fb_row_cb(const char *id, long long hour, const struct state_feedback *f, void *arg)
{
	uint64_t *n = arg;
	(void)id;
	(void)hour;
	n[0]++;
	n[1] += f->complaints;
	return 0;
}

static int
fb_key_cb(const char *key, long long ts, void *arg)
{
	(void)ts;
	(void)key;
	(*(int *)arg)++;
	return 0;
}

static void
test_feedback(void **unused)
{
	(void)unused;
	struct state *s = open_ok();
	struct state_feedback sum;
	/* a store without the tables reads as zeros */
	assert_int_equal(state_feedback_sum(s, "newsletter", T0, T0 + 86400, &sum), 0);
	assert_int_equal(sum.complaints, 0);
	assert_int_equal(state_feedback_seen(s, "arf:aa"), 0);
	struct state_feedback_delta d = {"newsletter", T0 + 100, {.complaints = 1}};
	assert_int_equal(state_feedback_record(s, "arf:aa", T0 + 100, &d, 1), 0);
	assert_int_equal(state_feedback_seen(s, "arf:aa"), 1);
	assert_int_equal(state_feedback_record(s, "arf:aa", T0 + 200, &d, 1), 1); /* duplicate */
	assert_int_equal(state_feedback_sum(s, "newsletter", T0, T0 + 3600, &sum), 0);
	assert_int_equal(sum.complaints, 1);
	/* a DSN and an aggregate report over two identities, in later hours */
	struct state_feedback_delta d2[2] = {
	    {"newsletter", T0 + 3700, {.hard_bounces = 2, .soft_bounces = 1}},
	    {"receipts", T0 + 3700, {.dmarc_messages = 100, .dmarc_failures = 7}}};
	assert_int_equal(state_feedback_record(s, "dmarc:bb", T0 + 3700, d2, 2), 0);
	assert_int_equal(state_feedback_record(s, "dmarc:bb", T0 + 3700, d2, 2), 1);
	assert_int_equal(state_feedback_sum(s, "newsletter", T0, T0 + 86400, &sum), 0);
	assert_int_equal(sum.complaints, 1);
	assert_int_equal(sum.hard_bounces, 2);
	assert_int_equal(sum.soft_bounces, 1);
	assert_int_equal(state_feedback_sum(s, "newsletter", T0 + 3600, T0 + 86400, &sum), 0);
	assert_int_equal(sum.complaints, 0); /* the first hour is outside the window */
	assert_int_equal(state_feedback_sum(s, "receipts", T0, T0 + 86400, &sum), 0);
	assert_int_equal(sum.dmarc_messages, 100);
	assert_int_equal(sum.dmarc_failures, 7);
	/* a report attributed to nobody is still remembered */
	assert_int_equal(state_feedback_record(s, "dsn:cc", T0, NULL, 0), 0);
	assert_int_equal(state_feedback_record(s, "dsn:cc", T0, NULL, 0), 1);
	/* all or nothing: a bad id in the batch records nothing, not even the key */
	struct state_feedback_delta bad[2] = {{"newsletter", T0, {.complaints = 5}},
					      {"Bad Id", T0, {.complaints = 5}}};
	assert_int_equal(state_feedback_record(s, "arf:dd", T0, bad, 2), -1);
	assert_int_equal(state_feedback_seen(s, "arf:dd"), 0);
	/* hostile keys never reach the store */
	assert_int_equal(state_feedback_record(s, "arf:a b", T0, NULL, 0), -1);
	assert_int_equal(state_feedback_record(s, "", T0, NULL, 0), -1);
	char longkey[STATE_FEEDBACK_KEY_MAX + 2];
	memset(longkey, 'a', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(state_feedback_record(s, longkey, T0, NULL, 0), -1);
	/* export: rows and keys */
	uint64_t rows[2] = {0, 0};
	int keys = 0;
	assert_int_equal(state_feedback_rows(s, fb_row_cb, rows), 0);
	assert_int_equal(rows[0], 3);
	assert_int_equal(rows[1], 1);
	assert_int_equal(state_feedback_keys(s, fb_key_cb, &keys), 0);
	assert_int_equal(keys, 3);
	assert_int_equal(raw_int("SELECT count(*) FROM feedback_keys"), 3);
	state_close(s);
}

/* A waiver as bulkwardenctl waive builds it. */
static struct state_waiver
waiver(const char *id, const char *kind, const char *name, const char *by, const char *approver,
       long long until)
{
	struct state_waiver w;
	memset(&w, 0, sizeof(w));
	bw_strlcpy(w.id, id, sizeof(w.id));
	bw_strlcpy(w.kind, kind, sizeof(w.kind));
	bw_strlcpy(w.name, name, sizeof(w.name));
	bw_strlcpy(w.reason, "rebrand in progress", sizeof(w.reason));
	bw_strlcpy(w.by, by, sizeof(w.by));
	bw_strlcpy(w.approver, approver, sizeof(w.approver));
	bw_strlcpy(w.ticket, "CHG-7", sizeof(w.ticket));
	w.until = until;
	return w;
}

/* Collects the records an expiry pass hands out. */
static void
expired_cb(const struct state_audit *rec, void *arg)
{
	struct state_audit *out = arg;
	*out = *rec;
}

/* Waivers: the names that may and may not be waived, the four-eyes rule,
 * a grant and its record, find, replacement, expiry and its record, the
 * listing with and without ended ones, import, and a version 2 file
 * migrated to version 3. */
static void
test_waivers(void **unused)
{
	struct state *s = open_ok();
	struct state_waiver w, got, *v;
	struct state_audit rec, exp;
	size_t n;
	const char *why;
	static const struct {
		const char *kind, *name;
		bool ok;
	} names[] = {
	    {"check", "from-domain", true},
	    {"check", "list-unsubscribe", true},
	    {"check", "dkim", true},
	    {"check", "rate-limit", true},
	    {"check", "suspended", false},
	    {"check", "unregistered", false},
	    {"check", "not-active", false},
	    {"check", "state-error", false},
	    {"check", "internal-error", false},
	    {"check", "bogus", false},
	    {"signal", "complaint_rate", true},
	    {"signal", "new_sending_path", true},
	    {"signal", "volume_surge", true},
	    {"signal", "from-domain", false},
	    {"limit", "from-domain", false},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (state_waiver_name_ok(names[i].kind, names[i].name, &why) != names[i].ok)
			fail_msg("%s %s: want %d", names[i].kind, names[i].name, names[i].ok);
	assert_false(state_waiver_name_ok("check", "suspended", &why));
	assert_non_null(strstr(why, "only reinstate lifts it"));

	/* refusals write nothing */
	w = waiver("newsletter", "check", "suspended", "alice", "bob", T0 + 3600);
	assert_int_equal(state_waiver_grant(s, &w, T0, &rec), -1);
	assert_non_null(strstr(state_error(s), "cannot be waived"));
	w = waiver("newsletter", "check", "from-domain", "alice", " ALICE ", T0 + 3600);
	assert_int_equal(state_waiver_grant(s, &w, T0, &rec), -1);
	assert_non_null(strstr(state_error(s), "someone other than the requester"));
	w = waiver("newsletter", "check", "from-domain", "alice", "bob", T0);
	assert_int_equal(state_waiver_grant(s, &w, T0, &rec), -1);
	w = waiver("newsletter", "check", "from-domain", "alice", "bob", T0 + 3600);
	w.ticket[0] = '\0';
	assert_int_equal(state_waiver_grant(s, &w, T0, &rec), -1);
	assert_non_null(strstr(state_error(s), "ticket is required"));
	w = waiver("Bad Id", "check", "from-domain", "alice", "bob", T0 + 3600);
	assert_int_equal(state_waiver_grant(s, &w, T0, &rec), -1);
	assert_int_equal(raw_int("SELECT count(*) FROM audit"), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM waivers"), 0);

	/* a grant and its record */
	w = waiver("newsletter", "check", "from-domain", "alice", "bob", T0 + 100);
	assert_int_equal(state_waiver_grant(s, &w, T0, &rec), 0);
	assert_int_equal(w.wid, 1);
	assert_int_equal(w.created, T0);
	assert_string_equal(rec.action, "waiver");
	assert_string_equal(rec.actor, "alice");
	assert_string_equal(rec.identity, "newsletter");
	assert_string_equal(rec.ticket, "CHG-7");
	assert_non_null(strstr(rec.detail, "check from-domain until 2026-01-15T00:01:40Z"));
	assert_non_null(strstr(rec.detail, "approved by bob"));
	assert_int_equal(state_waiver_find(s, "newsletter", "check", "from-domain", T0 + 99, &got),
			 0);
	assert_string_equal(got.approver, "bob");
	assert_int_equal(got.until, T0 + 100);
	assert_int_equal(state_waiver_find(s, "newsletter", "check", "dkim", T0, NULL), 1);
	assert_int_equal(state_waiver_find(s, "newsletter", "signal", "from-domain", T0, NULL), 1);
	assert_int_equal(state_waiver_find(s, "receipts", "check", "from-domain", T0, NULL), 1);
	/* at its until it no longer applies, even before the expiry is recorded */
	assert_int_equal(state_waiver_find(s, "newsletter", "check", "from-domain", T0 + 100, NULL),
			 1);

	/* a signal waiver of another identity, and a replacement */
	w = waiver("receipts", "signal", "complaint_rate", "carol", "dave", T0 + 50);
	assert_int_equal(state_waiver_grant(s, &w, T0 + 1, &rec), 0);
	assert_int_equal(state_waiver_find(s, "receipts", "signal", "complaint_rate", T0 + 2, NULL),
			 0);
	w = waiver("receipts", "signal", "complaint_rate", "carol", "erin", T0 + 40);
	assert_int_equal(state_waiver_grant(s, &w, T0 + 2, &rec), 0);
	assert_int_equal(w.wid, 3);
	assert_non_null(strstr(rec.detail, "replaces waiver 2"));
	assert_int_equal(state_waiver_find(s, "receipts", "signal", "complaint_rate", T0 + 3, &got),
			 0);
	assert_int_equal(got.wid, 3);
	assert_string_equal(got.approver, "erin");

	assert_int_equal(state_waivers(s, NULL, T0 + 3, false, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "newsletter");
	assert_string_equal(v[1].id, "receipts");
	assert_int_equal(v[1].wid, 3);
	free(v);
	assert_int_equal(state_waivers(s, "receipts", T0 + 3, true, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].wid, 2);
	assert_int_equal(v[0].ended, T0 + 2); /* replaced */
	free(v);

	/* expiry: nothing before its time, then one record each, once */
	assert_int_equal(state_waiver_expire(s, T0 + 39, expired_cb, &exp), 0);
	assert_int_equal(state_waiver_expire(s, T0 + 40, expired_cb, &exp), 1);
	assert_string_equal(exp.action, "waiver-expired");
	assert_string_equal(exp.actor, "bulkwarden");
	assert_string_equal(exp.identity, "receipts");
	assert_string_equal(exp.ticket, "CHG-7");
	assert_non_null(strstr(exp.reason, "waiver 3 of signal complaint_rate"));
	assert_non_null(strstr(exp.detail, "approved by erin"));
	assert_int_equal(state_waiver_expire(s, T0 + 41, NULL, NULL), 0);
	assert_int_equal(state_waiver_expire(s, T0 + 200, NULL, NULL), 1);
	assert_int_equal(state_waivers(s, NULL, T0 + 200, false, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);
	assert_int_equal(state_waivers(s, NULL, T0 + 200, true, &v, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_true(v[i].ended != 0);
	free(v);
	assert_int_equal(raw_int("SELECT count(*) FROM audit WHERE action = 'waiver'"), 3);
	assert_int_equal(raw_int("SELECT count(*) FROM audit WHERE action = 'waiver-expired'"), 2);
	assert_int_equal(state_audit_verify(s, NULL, NULL, NULL, 0), 0);

	/* a waiver row of an unwaivable check is refused on import too */
	w = waiver("newsletter", "check", "suspended", "alice", "bob", T0 + 3600);
	w.wid = 9;
	w.created = T0;
	assert_int_equal(state_import_waiver(s, &w), -1);
	w = waiver("newsletter", "check", "dkim", "alice", "bob", T0 + 3600);
	w.wid = 9;
	w.created = T0;
	assert_int_equal(state_import_waiver(s, &w), 0);
	assert_int_equal(state_waiver_find(s, "newsletter", "check", "dkim", T0 + 10, &got), 0);
	assert_int_equal(got.wid, 9);
	state_close(s);

	/* a version 2 file gains the table (and keeps its rows elsewhere) */
	raw_sql("DROP TABLE waivers; PRAGMA user_version = 2");
	s = open_ok();
	assert_int_equal(raw_int("PRAGMA user_version"), 3);
	assert_int_equal(state_waivers(s, NULL, T0, true, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);
	assert_int_equal(raw_int("SELECT count(*) FROM audit"), 5);
	state_close(s);
}

/* A file whose counters table predates auth_failed gains the column on
 * open (schema version unchanged); its rows read 0, new counts add. */
static void
test_counters_auth_migration(void **unused)
{
	struct state *s = open_ok();
	state_close(s);
	raw_sql("DROP TABLE counters; CREATE TABLE counters (id TEXT NOT NULL, hour INTEGER NOT "
		"NULL, messages INTEGER NOT NULL DEFAULT 0, recipients INTEGER NOT NULL DEFAULT 0, "
		"bytes INTEGER NOT NULL DEFAULT 0, accepted INTEGER NOT NULL DEFAULT 0, rejected "
		"INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0, tempfailed "
		"INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (id, hour)) WITHOUT ROWID; CREATE INDEX "
		"counters_by_hour ON counters (hour); INSERT INTO counters (id, hour, messages, "
		"accepted) VALUES ('newsletter', 1700000000 - 1700000000 % 3600, 9, 9)");
	assert_int_equal(raw_int("SELECT count(*) FROM pragma_table_info('counters') WHERE name = "
				 "'auth_failed'"),
			 0);
	s = open_ok();
	assert_int_equal(raw_int("SELECT count(*) FROM pragma_table_info('counters') WHERE name = "
				 "'auth_failed'"),
			 1);
	assert_int_equal(raw_int("PRAGMA user_version"), 3);
	long long h = 1700000000 - 1700000000 % 3600;
	struct state_counts sum, d = {.messages = 2, .accepted = 2, .auth_failed = 2};
	assert_int_equal(state_counters_sum(s, "newsletter", h, h + 3600, &sum), 0);
	assert_int_equal(sum.messages, 9);
	assert_int_equal(sum.auth_failed, 0);
	assert_int_equal(state_counters_add(s, "newsletter", h, &d), 0);
	assert_int_equal(state_counters_sum(s, "newsletter", h, h + 3600, &sum), 0);
	assert_int_equal(sum.messages, 11);
	assert_int_equal(sum.auth_failed, 2);
	state_close(s);
	/* an older version file (1: no usage, no waivers) gains it as well */
	raw_sql("ALTER TABLE counters DROP COLUMN auth_failed; DROP TABLE usage; DROP TABLE "
		"waivers; PRAGMA user_version = 1");
	s = open_ok();
	assert_int_equal(raw_int("PRAGMA user_version"), 3);
	assert_int_equal(state_counters_sum(s, "newsletter", h, h + 3600, &sum), 0);
	assert_int_equal(sum.messages, 11);
	assert_int_equal(sum.auth_failed, 0);
	assert_int_equal(state_counters_add(s, "newsletter", h, &d), 0);
	assert_int_equal(state_counters_sum(s, "newsletter", h, h + 3600, &sum), 0);
	assert_int_equal(sum.auth_failed, 2);
	state_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_schema_created, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_suspend_semantics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_tamper, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_tamper_then_append, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counters_daily, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counters_auth_migration, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_mid_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_last_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_feedback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_waivers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
