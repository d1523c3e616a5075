/*
 * test_suppress.c - the suppression list: the key set (base/keyset.c:
 * add, lookup, backward-shift deletion across wrapped runs, growth and
 * shrinking, the zero key, at most 32 bytes a member), address
 * canonicalization (case of the domain and the local part, angle brackets,
 * "rfc822;", refusals), the keyed hash (deterministic, per identity, per
 * key), the site key file (made 0600, refused when others can read it, when
 * a symbolic link, when of the wrong size), redaction, the SQLite store
 * (add, duplicate, remove, changes since a number with tombstones, counts,
 * the key check, audit records naming the hash prefix only) and the RCPT
 * reply 550 5.7.1 [suppressed].
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
#include <sys/stat.h>
#include <unistd.h>

#include "base/keyset.h"
#include "base/util.h"
#include "policy/policy.h"
#include "state/state.h"
#include "state/suppress.h"

static char dir[256];
static char dbpath[300];
static struct bw_settings set;

static int
setup(void **unused)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/bw-supp.XXXXXX", tmp && *tmp ? tmp : "/tmp");
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

/* A pseudo-random key from a counter (splitmix64). */
static void
key_of(uint64_t i, unsigned char k[KEYSET_KEY])
{
	for (int half = 0; half < 2; half++) {
		uint64_t z = (i * 2 + (uint64_t)half + 1) * 0x9e3779b97f4a7c15ULL;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		memcpy(k + 8 * half, &z, 8);
	}
}

static void
test_keyset_basic(void **unused)
{
	struct keyset ks;
	unsigned char k[KEYSET_KEY], zero[KEYSET_KEY] = {0};
	keyset_init(&ks);
	key_of(1, k);
	assert_false(keyset_has(&ks, k));
	assert_int_equal(keyset_del(&ks, k), 0);
	assert_int_equal(keyset_add(&ks, k), 1);
	assert_int_equal(keyset_add(&ks, k), 0);
	assert_true(keyset_has(&ks, k));
	/* the all-zero key is a member like any other */
	assert_false(keyset_has(&ks, zero));
	assert_int_equal(keyset_add(&ks, zero), 1);
	assert_true(keyset_has(&ks, zero));
	assert_int_equal(keyset_count(&ks), 2);
	assert_int_equal(keyset_del(&ks, zero), 1);
	assert_false(keyset_has(&ks, zero));
	assert_int_equal(keyset_del(&ks, k), 1);
	assert_int_equal(keyset_count(&ks), 0);
	keyset_free(&ks);
}

/* Many members with deletions in between: every member is found, no
 * removed one is, and memory stays under 32 bytes a member. */
static void
test_keyset_many(void **unused)
{
	enum { N = 200000 };
	struct keyset ks;
	unsigned char k[KEYSET_KEY];
	keyset_init(&ks);
	for (uint64_t i = 0; i < N; i++) {
		key_of(i, k);
		assert_int_equal(keyset_add(&ks, k), 1);
		if (i > 1000)
			assert_true((double)keyset_bytes(&ks) / (double)keyset_count(&ks) <= 32.0);
	}
	for (uint64_t i = 0; i < N; i += 3) { /* remove a third */
		key_of(i, k);
		assert_int_equal(keyset_del(&ks, k), 1);
	}
	for (uint64_t i = 0; i < N; i++) {
		key_of(i, k);
		assert_int_equal(keyset_has(&ks, k), i % 3 != 0);
	}
	for (uint64_t i = N; i < N + 1000; i++) { /* never added */
		key_of(i, k);
		assert_false(keyset_has(&ks, k));
	}
	assert_int_equal(keyset_count(&ks), N - (N + 2) / 3);
	assert_true((double)keyset_bytes(&ks) / (double)keyset_count(&ks) <= 32.0);
	/* remove all but a few: the table shrinks back */
	for (uint64_t i = 0; i < N - 10; i++) {
		key_of(i, k);
		keyset_del(&ks, k);
	}
	assert_true(keyset_bytes(&ks) < 64 * 1024);
	for (uint64_t i = N - 10; i < N; i++) {
		key_of(i, k);
		assert_int_equal(keyset_has(&ks, k), i % 3 != 0);
	}
	keyset_free(&ks);
}

/* Colliding home slots at the end of the table: deletion by backward shift
 * across the wrap keeps every run reachable. */
static void
test_keyset_wrap(void **unused)
{
	struct keyset ks;
	unsigned char k[8][KEYSET_KEY];
	keyset_init(&ks);
	assert_int_equal(keyset_reserve(&ks, 4), 0);
	for (int i = 0; i < 8; i++) {
		memset(k[i], 0xff, KEYSET_KEY); /* first 8 bytes all ones: the last slot */
		k[i][15] = (unsigned char)i;
		if (i >= 4)
			memset(k[i], 0, 8); /* home slot 0 */
		k[i][14] = 1;
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(keyset_add(&ks, k[i]), 1);
	for (int del = 0; del < 8; del += 2) {
		assert_int_equal(keyset_del(&ks, k[del]), 1);
		for (int i = 0; i < 8; i++)
			assert_int_equal(keyset_has(&ks, k[i]), i > del || (i % 2 == 1));
	}
	keyset_free(&ks);
}

static void
test_canon(void **unused)
{
	static const struct {
		const char *in, *out; /* out NULL: refused */
	} t[] = {
	    {"alice@example.com", "alice@example.com"},
	    {"Alice@EXAMPLE.com", "alice@example.com"},
	    {"<Alice@Example.COM>", "alice@example.com"},
	    {"  <alice@example.com>  ", "alice@example.com"},
	    {"rfc822; Alice@Example.com", "alice@example.com"},
	    {"alice@example.com.", "alice@example.com"},
	    {"a+tag@sub.example.org", "a+tag@sub.example.org"},
	    {"", NULL},
	    {"<>", NULL},
	    {"alice", NULL},
	    {"@example.com", NULL},
	    {"alice@", NULL},
	    {"a@b@c", NULL},
	    {"al ice@example.com", NULL},
	    {"alice@exa\nmple.com", NULL},
	    {"Name <alice@example.com>", NULL},
	};
	char out[SUPPRESS_ADDR_MAX + 1];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = suppress_canon(t[i].in, out, sizeof(out));
		if (t[i].out == NULL) {
			if (rc == 0)
				fail_msg("\"%s\" accepted as \"%s\"", t[i].in, out);
		} else {
			if (rc != 0)
				fail_msg("\"%s\" refused", t[i].in);
			assert_string_equal(out, t[i].out);
		}
	}
	char longaddr[400];
	memset(longaddr, 'a', sizeof(longaddr));
	memcpy(longaddr + 330, "@example.com", 13); /* 342 bytes: over 320 */
	assert_int_equal(suppress_canon(longaddr, out, sizeof(out)), -1);
}

static void
test_hash(void **unused)
{
	struct suppress_key k1, k2;
	unsigned char a[16], b[16], c[16], d[16];
	memset(k1.k, 1, sizeof(k1.k));
	memset(k2.k, 2, sizeof(k2.k));
	assert_int_equal(suppress_hash_addr(&k1, "news", "<Alice@Example.COM>", a), 0);
	assert_int_equal(suppress_hash_addr(&k1, "news", "alice@example.com", b), 0);
	assert_memory_equal(a, b, 16); /* case and brackets do not matter */
	assert_int_equal(suppress_hash_addr(&k1, "receipts", "alice@example.com", c), 0);
	assert_memory_not_equal(a, c, 16); /* per identity */
	assert_int_equal(suppress_hash_addr(&k2, "news", "alice@example.com", d), 0);
	assert_memory_not_equal(a, d, 16); /* per key */
	assert_int_equal(suppress_hash_addr(&k1, "news", "not an address", d), -1);
	/* the separator keeps (id, address) pairs apart */
	assert_int_equal(suppress_hash(&k1, "ab", "c@d.e", c), 0);
	assert_int_equal(suppress_hash(&k1, "a", "bc@d.e", d), 0);
	assert_memory_not_equal(c, d, 16);
	/* the prepared MAC gives the same hashes */
	struct suppress_mac *m = suppress_mac_new(&k1);
	assert_non_null(m);
	for (int rep = 0; rep < 3; rep++) {
		assert_int_equal(suppress_mac_addr(m, "news", "<ALICE@example.com>", c), 0);
		assert_memory_equal(a, c, 16);
	}
	assert_int_equal(suppress_mac_addr(m, "receipts", "alice@example.com", c), 0);
	assert_int_equal(suppress_hash_addr(&k1, "receipts", "alice@example.com", d), 0);
	assert_memory_equal(c, d, 16);
	assert_int_equal(suppress_mac_addr(m, "news", "nope", c), -1);
	suppress_mac_free(m);
	char hex[SUPPRESS_HEX + 1];
	unsigned char back[16];
	suppress_hex(a, 16, hex);
	assert_int_equal(strlen(hex), 32);
	assert_true(suppress_unhex(hex, back));
	assert_memory_equal(a, back, 16);
	assert_false(suppress_unhex("xyz", back));
}

static void
test_key_file(void **unused)
{
	struct suppress_key k, k2;
	char err[512], path[400];
	struct stat st;
	assert_int_equal(suppress_key_path(&set, path, sizeof(path)), 0);
	assert_int_equal(suppress_key_load(&set, false, &k, err, sizeof(err)), 1); /* none */
	assert_int_equal(suppress_key_load(&set, true, &k, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, SUPPRESS_KEY_BYTES);
	assert_int_equal(suppress_key_load(&set, true, &k2, err, sizeof(err)), 0);
	assert_memory_equal(k.k, k2.k, sizeof(k.k)); /* the same key next time */
	chmod(path, 0644);
	assert_int_equal(suppress_key_load(&set, false, &k2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "readable by group or other"));
	chmod(path, 0600);
	char moved[420];
	snprintf(moved, sizeof(moved), "%s.moved", path);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(symlink(moved, path), 0);
	assert_int_equal(suppress_key_load(&set, true, &k2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "symbolic link"));
	unlink(path);
	FILE *f = fopen(path, "w");
	fputs("short", f);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(suppress_key_load(&set, false, &k2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bytes, not 32"));
}

static void
test_redacted(void **unused)
{
	assert_true(suppress_redacted("redacted@complaints.example.org"));
	assert_true(suppress_redacted("<REDACTED@example.com>"));
	assert_true(suppress_redacted("xxxxxxxx@example.com"));
	assert_true(suppress_redacted("****@example.com"));
	assert_true(suppress_redacted(""));
	assert_true(suppress_redacted("[redacted]"));
	assert_false(suppress_redacted("reader@mailbox.example.net"));
	assert_false(suppress_redacted("xavier@example.com"));
}

struct seen {
	bool ordered; /* changes since a number come in order */
	int n, live;
	long long last;
	unsigned char h[4][16];
};

static int
collect(const struct state_supp *e, void *arg)
{
	struct seen *s = arg;
	if (s->n < 4)
		memcpy(s->h[s->n], e->h, 16);
	s->n++;
	s->live += e->live;
	if (s->ordered)
		assert_true(e->seq > s->last);
	if (e->seq > s->last)
		s->last = e->seq;
	return 0;
}

static void
test_store(void **unused)
{
	char err[512];
	struct state *s = state_open(&set, err, sizeof(err));
	struct state_audit rec;
	unsigned char h1[16], h2[16], chk[16], other[16];
	uint64_t n;
	if (s == NULL)
		fail_msg("state_open: %s", err);
	memset(h1, 0xa1, 16);
	memset(h2, 0xb2, 16);
	/* a store that never had a list lists nothing */
	struct seen sn = {0};
	assert_int_equal(state_supp_changes(s, 0, collect, &sn), 0);
	assert_int_equal(sn.n, 0);
	assert_int_equal(state_supp_count(s, NULL, &n), 0);
	assert_int_equal(n, 0);

	assert_int_equal(state_suppress(s, "news", h1, true, "complaint", "dpo", NULL, 1000, &rec),
			 0);
	assert_string_equal(rec.action, "suppress");
	assert_string_equal(rec.identity, "news");
	assert_string_equal(rec.detail, "recipient hmac a1a1a1a1a1a1a1a1");
	assert_true(rec.seq > 0);
	assert_int_equal(state_suppress(s, "news", h1, true, "again", "dpo", NULL, 1001, NULL), 1);
	assert_int_equal(state_suppress(s, "receipts", h1, true, "r", "dpo", NULL, 1002, NULL), 0);
	assert_int_equal(state_suppress(s, "news", h2, true, "r", "dpo", NULL, 1003, NULL), 0);
	assert_int_equal(state_supp_count(s, "news", &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(state_supp_count(s, NULL, &n), 0);
	assert_int_equal(n, 3);
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(state_supp_changes(s, 0, collect, &sn), 0);
	assert_int_equal(sn.n, 3);
	assert_int_equal(sn.live, 3);
	long long mark = sn.last;
	/* removal: a tombstone with the next number */
	assert_int_equal(state_suppress(s, "news", h2, false, "consent", "dpo2", NULL, 1004, &rec),
			 0);
	assert_string_equal(rec.action, "unsuppress");
	assert_int_equal(state_suppress(s, "news", h2, false, "again", "dpo2", NULL, 1005, NULL),
			 1);
	memset(&sn, 0, sizeof(sn));
	sn.ordered = true;
	assert_int_equal(state_supp_changes(s, mark, collect, &sn), 0);
	assert_int_equal(sn.n, 1);
	assert_int_equal(sn.live, 0);
	assert_memory_equal(sn.h[0], h2, 16);
	/* everything: the listed entries only */
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(state_supp_changes(s, 0, collect, &sn), 0);
	assert_int_equal(sn.n, 2);
	assert_int_equal(sn.live, 2);
	assert_int_equal(state_supp_count(s, "news", &n), 0);
	assert_int_equal(n, 1);
	/* argument checks */
	assert_int_equal(state_suppress(s, "Bad Id", h1, true, "r", "dpo", NULL, 1, NULL), -1);
	assert_int_equal(state_suppress(s, "news", h1, true, "", "dpo", NULL, 1, NULL), -1);
	assert_int_equal(state_suppress(s, "news", h1, true, "r", " ", NULL, 1, NULL), -1);
	/* the key check: the first one is kept, another is refused */
	memset(chk, 7, 16);
	memset(other, 8, 16);
	assert_int_equal(state_supp_keycheck(s, chk), 0);
	assert_int_equal(state_supp_keycheck(s, chk), 0);
	assert_int_equal(state_supp_keycheck(s, other), 1);
	/* the chain verifies with the suppression records in it */
	long long nrec, bad;
	char why[256];
	assert_int_equal(state_audit_verify(s, &nrec, &bad, why, sizeof(why)), 0);
	assert_int_equal(nrec, 4);
	state_close(s);
}

static void
test_reply(void **unused)
{
	struct verdict v;
	struct bw_identity id;
	const char *rcode, *xcode;
	char text[512];
	policy_verdict_reset(&v);
	memset(&id, 0, sizeof(id));
	id.id = "newsletter";
	v.identity = &id;
	policy_reply(&v, BW_CHK_SUPPRESSED, BW_ACT_REJECT, "abc123", &rcode, &xcode, text,
		     sizeof(text));
	assert_string_equal(rcode, "550");
	assert_string_equal(xcode, "5.7.1");
	assert_true(strncmp(text, "[suppressed] ", 13) == 0);
	assert_non_null(strstr(text, "\"newsletter\""));
	assert_non_null(strstr(text, "(ref abc123)"));
	assert_int_equal(check_by_name("suppressed"), BW_CHK_SUPPRESSED);
	assert_int_equal(check_info(BW_CHK_SUPPRESSED)->def_action, BW_ACT_REJECT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keyset_basic),
	    cmocka_unit_test(test_keyset_many),
	    cmocka_unit_test(test_keyset_wrap),
	    cmocka_unit_test(test_canon),
	    cmocka_unit_test(test_hash),
	    cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
	    cmocka_unit_test(test_redacted),
	    cmocka_unit_test_setup_teardown(test_store, setup, teardown),
	    cmocka_unit_test(test_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
