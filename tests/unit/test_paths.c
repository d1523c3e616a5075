/*
 * test_paths.c - sending paths (issue 15): how a path is named from a
 * client address (/24, /64), a login and a DKIM key (table-driven, hostile
 * bytes included), and the SQLite store's insert-if-new: one audit record
 * for a new path, none for a known one, even with processes racing;
 * pending paths, approval and its record, listing; the chain verifies.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry/cidr.h"
#include "state/state.h"

#define T0 1768435200LL /* 2026-01-15T00:00:00Z */
#define RACERS 4

static char dir[256];
static char dbpath[300];
static struct bw_settings set;

static int
setup(void **unused)
{
	const char *tmp = getenv("TMPDIR");
	(void)unused;
	snprintf(dir, sizeof(dir), "%s/bw-paths.XXXXXX", tmp && *tmp ? tmp : "/tmp");
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
	(void)unused;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct state *
open_ok(void)
{
	char err[512];
	struct state *s = state_open(&set, err, sizeof(err));
	if (s == NULL)
		fail_msg("state_open: %s", err);
	return s;
}

/* ---- naming --------------------------------------------------------------- */

static const struct {
	const char *addr, *path;
} net_rows[] = {
    {"10.20.1.5", "network:10.20.1.0/24"},
    {"10.20.1.255", "network:10.20.1.0/24"},
    {"192.0.2.1", "network:192.0.2.0/24"},
    {"::ffff:10.20.1.9", "network:10.20.1.0/24"}, /* v4-mapped: the IPv4 /24 */
    {"IPv6:2001:db8:1:2::5", "network:2001:db8:1:2::/64"},
    {"2001:db8:1:2:ffff:ffff:ffff:ffff", "network:2001:db8:1:2::/64"},
    {"2001:db8:0:0:1::1", "network:2001:db8:0:0::/64"},
    {"fe80::1", "network:fe80:0:0:0::/64"},
    {"::1", "network:0:0:0:0::/64"},
};

static void
test_network_paths(void **unused)
{
	char buf[STATE_PATH_MAX];
	(void)unused;
	for (size_t i = 0; i < sizeof(net_rows) / sizeof(net_rows[0]); i++) {
		struct cidr_addr a;
		print_message("%s\n", net_rows[i].addr);
		assert_true(cidr_parse_addr(net_rows[i].addr, &a));
		assert_true(state_path_network(&a, buf, sizeof(buf)));
		assert_string_equal(buf, net_rows[i].path);
		const char *kind = NULL;
		assert_true(state_path_kind(buf, &kind));
		assert_string_equal(kind, "network");
	}
	struct cidr_addr a;
	assert_true(cidr_parse_addr("10.20.1.5", &a));
	assert_false(state_path_network(&a, buf, 12)); /* does not fit */
}

static void
test_login_dkim_paths(void **unused)
{
	char buf[STATE_PATH_MAX], big[400];
	const char *kind = NULL;
	(void)unused;
	assert_true(state_path_login("svc-news", buf, sizeof(buf)));
	assert_string_equal(buf, "login:svc-news");
	assert_true(state_path_kind(buf, &kind));
	assert_string_equal(kind, "login");
	/* blanks, controls and non-ASCII become '?': one printable token */
	assert_true(state_path_login("a b\tc\r\nd\xc3\xa9", buf, sizeof(buf)));
	assert_string_equal(buf, "login:a?b?c??d??");
	assert_false(state_path_login("", buf, sizeof(buf)));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(state_path_login(big, buf, sizeof(buf)));
	/* DKIM: domain and selector lowercased */
	assert_true(state_path_dkim("News.Example.COM", "S2026", buf, sizeof(buf)));
	assert_string_equal(buf, "dkim:news.example.com/s2026");
	assert_true(state_path_kind(buf, &kind));
	assert_string_equal(kind, "dkim");
	assert_false(state_path_dkim("news.example.com", "", buf, sizeof(buf)));
	/* dormancy: named after the UTC day of the last message */
	assert_true(state_path_dormant(T0 + 86399, buf, sizeof(buf)));
	assert_string_equal(buf, "dormant:2026-01-15");
	assert_true(state_path_kind(buf, &kind));
	assert_string_equal(kind, "dormant");
	assert_true(state_path_dormant(0, buf, sizeof(buf)));
	assert_string_equal(buf, "dormant:never");
	assert_false(state_path_dormant(T0, buf, 10));
	/* what state_path_kind refuses */
	assert_false(state_path_kind("network:", NULL));
	assert_false(state_path_kind("host:10.0.0.1", NULL));
	assert_false(state_path_kind("login:a b", NULL));
	assert_false(state_path_kind("10.20.1.0/24", NULL));
	assert_false(state_path_kind(NULL, NULL));
}

/* ---- the SQLite store ------------------------------------------------------ */

/* Audit records with this action. */
static int
count_cb(const struct state_audit *rec, void *arg)
{
	void **a = arg;
	if (strcmp(rec->action, (const char *)a[0]) == 0)
		(*(int *)a[1])++;
	return 0;
}

static int
records(struct state *s, const char *action)
{
	int n = 0;
	void *a[2] = {(void *)action, &n};
	assert_int_equal(state_audit_foreach(s, count_cb, a), 0);
	return n;
}

static void
test_learn_once(void **unused)
{
	struct state *s = open_ok();
	struct state_audit rec;
	struct state_path p;
	(void)unused;
	/* a store without the table yet lists nothing */
	struct state_path *v;
	size_t n = 99;
	assert_int_equal(state_paths(s, NULL, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.detail, sizeof(rec.detail), "kind=network path=network:10.20.1.0/24");
	assert_int_equal(state_path_learn(s, "news", "network:10.20.1.0/24", false, T0, &rec, &p),
			 1);
	assert_int_equal(rec.seq, 1);
	assert_string_equal(rec.action, "new-sending-path");
	assert_string_equal(rec.actor, "bulkwarden");
	assert_string_equal(rec.identity, "news");
	assert_non_null(strstr(rec.reason, "network:10.20.1.0/24"));
	assert_false(p.pending);
	/* known: 0, nothing written */
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(
	    state_path_learn(s, "news", "network:10.20.1.0/24", false, T0 + 60, &rec, &p), 0);
	assert_int_equal(p.first_seen, T0);
	assert_int_equal(records(s, "new-sending-path"), 1);
	/* the same path of another identity is its own */
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(state_path_learn(s, "other", "network:10.20.1.0/24", false, T0, &rec, &p),
			 1);
	/* bad arguments */
	assert_int_equal(state_path_learn(s, "news", "10.20.1.0/24", false, T0, NULL, &p), -1);
	assert_int_equal(state_path_learn(s, "Bad Id", "login:x", false, T0, NULL, &p), -1);
	assert_int_equal(records(s, "new-sending-path"), 2);
	state_close(s);
}

static void
test_pending_approve(void **unused)
{
	struct state *s = open_ok();
	struct state_audit rec;
	struct state_path p, *v;
	size_t n;
	(void)unused;
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(state_path_learn(s, "news", "login:svc-news", true, T0, &rec, &p), 1);
	assert_true(p.pending);
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(state_path_learn(s, "news", "login:svc-news", true, T0 + 1, &rec, &p), 0);
	assert_true(p.pending); /* still waiting: no second record */
	assert_int_equal(records(s, "new-sending-path"), 1);
	/* approve: an unknown path fails, the pending one is approved once */
	assert_int_equal(state_path_approve(s, "news", "login:nobody", "ciso", "T-1", T0 + 2, &rec),
			 -1);
	assert_non_null(strstr(state_error(s), "no sending path"));
	assert_int_equal(state_path_approve(s, "news", "login:svc-news", "", "T-1", T0 + 2, &rec),
			 -1); /* an actor is required */
	assert_int_equal(
	    state_path_approve(s, "news", "login:svc-news", "ciso", "T-1", T0 + 3, &rec), 1);
	assert_string_equal(rec.action, "path-approve");
	assert_string_equal(rec.actor, "ciso");
	assert_string_equal(rec.ticket, "T-1");
	assert_int_equal(
	    state_path_approve(s, "news", "login:svc-news", "ciso", "T-1", T0 + 4, &rec), 0);
	assert_int_equal(records(s, "path-approve"), 1);
	assert_int_equal(state_path_learn(s, "news", "login:svc-news", true, T0 + 5, &rec, &p), 0);
	assert_false(p.pending);
	/* the list, sorted by identity then path */
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(state_path_learn(s, "news", "dkim:a.example/s1", false, T0, &rec, &p), 1);
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(state_path_learn(s, "alpha", "login:a", false, T0, &rec, &p), 1);
	assert_int_equal(state_paths(s, NULL, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].id, "alpha");
	assert_string_equal(v[1].path, "dkim:a.example/s1");
	assert_string_equal(v[2].path, "login:svc-news");
	assert_string_equal(v[2].approved_by, "ciso");
	assert_int_equal(v[2].approved_at, T0 + 3);
	free(v);
	assert_int_equal(state_paths(s, "news", &v, &n), 0);
	assert_int_equal(n, 2);
	free(v);
	long long nrec = 0, bad = 0;
	char why[256];
	assert_int_equal(state_audit_verify(s, &nrec, &bad, why, sizeof(why)), 0);
	assert_int_equal(nrec, 4);
	state_close(s);
}

/* Processes racing on one new path write one record between them. */
static void
test_race(void **unused)
{
	pid_t kids[RACERS];
	(void)unused;
	struct state *s = open_ok(); /* the schema exists before the race */
	state_close(s);
	for (int i = 0; i < RACERS; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			char err[512];
			int news = 0;
			struct state *c = state_open(&set, err, sizeof(err));
			if (c == NULL)
				_exit(3);
			for (int k = 0; k < 20; k++) {
				struct state_audit rec;
				struct state_path p;
				char path[64];
				memset(&rec, 0, sizeof(rec));
				snprintf(path, sizeof(path), "network:10.0.%d.0/24", k);
				int rc = state_path_learn(c, "news", path, false, T0, &rec, &p);
				if (rc < 0)
					_exit(2);
				news += rc;
			}
			state_close(c);
			_exit(news > 20 ? 4 : 0);
		}
	}
	for (int i = 0; i < RACERS; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	s = open_ok();
	assert_int_equal(records(s, "new-sending-path"), 20);
	long long nrec = 0, bad = 0;
	char why[256];
	assert_int_equal(state_audit_verify(s, &nrec, &bad, why, sizeof(why)), 0);
	state_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_network_paths),
	    cmocka_unit_test(test_login_dkim_paths),
	    cmocka_unit_test_setup_teardown(test_learn_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pending_approve, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_race, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
