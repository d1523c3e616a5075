/*
 * test_dns.c - the resolver, SPF and DMARC modules against a real DNS
 * server on loopback (tests/dns/dns_server.py, python3-dnspython) serving
 * a zone this test writes: answers, NXDOMAIN/NODATA, SERVFAIL, names that
 * are never answered, truncation and TCP, CNAMEs; SPF pass/fail/include/
 * lookup and void limits/temperror; DMARC exact/PSL/tree walk/PSD
 * discovery, parsing, policy ranks and alignment.
 *
 * The server is started once for the whole run (group setup) and killed
 * by its pid at the end; everything lives in a mkdtemp() directory.
 * Without /usr/bin/python3 + dnspython the program exits 77 (skipped).
 * Time bounds are measured with CLOCK_MONOTONIC; the margin allowed over
 * a timeout is MARGIN_MS.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns/dmarc.h"
#include "dns/resolver.h"
#include "dns/spf.h"

#define MARGIN_MS 300 /* allowed over a timeout: scheduling, sanitizers */
#define TIMEOUT_S 2   /* dns.timeout used by the tests */

extern char **environ;

static char g_dir[64];
static char g_ns[64]; /* "127.0.0.1:PORT" */
static char g_log[128];
static pid_t g_server = -1;
static int g_blackhole = -1; /* a UDP socket nobody reads */
static char g_dead_ns[64];
/* libunbound keeps its cache bounds and server timing in process-wide
 * variables, set by the context created last: every resolver of a
 * process must share dns.cache_ttl (the milter and bulkwardenctl have
 * one), so every resolver here uses 300 s. g_nocache has its own cache,
 * which the tests that count queries do not share with g_res. */
static struct resolver *g_res;	   /* timeout 2 s, cache 300 s */
static struct resolver *g_nocache; /* timeout 2 s, a second cache */
static struct spf_checker *g_spf;

/* A resolver without DNSSEC (resolver_new() with these dns.* settings). */
static struct resolver *
mkres(const char *const *ns, size_t n, unsigned timeout_s, unsigned cache_ttl, char *err,
      size_t errlen)
{
	const struct resolver_conf c = {
	    .nameservers = ns, .n_nameservers = n, .timeout_s = timeout_s, .cache_ttl = cache_ttl};
	return resolver_new(&c, err, errlen);
}

/* ---- zone --------------------------------------------------------------- */

static const char *zone_lines[] = {
    /* resolver */
    "txt.r.test TXT hello world",
    "multi.r.test TXT \"part one \" \"part two\"",
    "two.r.test TXT first",
    "two.r.test TXT second",
    "nodata.r.test A 192.0.2.1",
    "servfail.r.test SERVFAIL",
    "refused.r.test REFUSED",
    "timeout.r.test TIMEOUT",
    "timeout2.r.test TIMEOUT",
    "timeout3.r.test TIMEOUT",
    "tconly.r.test TCPONLY",
    "tconly.r.test TXT forced over tcp",
    "alias.r.test CNAME txt.r.test",
    "delay.r.test DELAY 1200",
    "delay.r.test TXT slow answer",
    "mx.r.test MX 10 mx1.r.test",
    "aaaa.r.test AAAA 2001:db8::1",
    "cache.r.test TXT cache me",
    /* SPF */
    "pass.spf.test TXT v=spf1 ip4:203.0.113.7 ip6:2001:db8::7 -all",
    "excl.spf.test TXT v=spf1 -ip4:203.0.113.7 ip4:203.0.113.0/24 -all",
    "soft.spf.test TXT v=spf1 ip4:192.0.2.1 ~all",
    "neutral.spf.test TXT v=spf1 ?all",
    "norec.spf.test TXT some other text",
    "inc.spf.test TXT v=spf1 include:inc1.spf.test -all",
    "inc1.spf.test TXT v=spf1 include:inc2.spf.test -all",
    "inc2.spf.test TXT v=spf1 ip4:203.0.113.0/24 -all",
    "over.spf.test TXT v=spf1 include:o1.spf.test include:o2.spf.test ip4:203.0.113.7 -all",
    "ten.spf.test TXT v=spf1 include:o1.spf.test include:t2.spf.test ip4:203.0.113.7 -all",
    "o1.spf.test TXT v=spf1 a:h1.spf.test a:h2.spf.test a:h3.spf.test a:h4.spf.test "
    "a:h5.spf.test -all",
    "o2.spf.test TXT v=spf1 a:h6.spf.test a:h7.spf.test a:h8.spf.test a:h9.spf.test -all",
    "t2.spf.test TXT v=spf1 a:h6.spf.test a:h7.spf.test a:h8.spf.test -all",
    "h1.spf.test A 192.0.2.11",
    "h2.spf.test A 192.0.2.12",
    "h3.spf.test A 192.0.2.13",
    "h4.spf.test A 192.0.2.14",
    "h5.spf.test A 192.0.2.15",
    "h6.spf.test A 192.0.2.16",
    "h7.spf.test A 192.0.2.17",
    "h8.spf.test A 192.0.2.18",
    "h9.spf.test A 192.0.2.19",
    "void3.spf.test TXT v=spf1 a:v1.spf.test a:v2.spf.test a:v3.spf.test "
    "ip4:203.0.113.7 -all",
    "void2.spf.test TXT v=spf1 a:v1.spf.test a:v2.spf.test ip4:203.0.113.7 -all",
    "mx.spf.test TXT v=spf1 mx -all",
    "mx.spf.test MX 10 mx1.spf.test",
    "mx.spf.test MX 20 mx2.spf.test",
    "mx.spf.test MX 30 mx3.spf.test",
    "mx1.spf.test A 192.0.2.21",
    "mx2.spf.test A 192.0.2.22",
    "mx3.spf.test A 203.0.113.7",
    "tmo.spf.test TIMEOUT",
    "tinc.spf.test TXT v=spf1 include:tmo.spf.test ip4:203.0.113.7 -all",
    "sf.spf.test SERVFAIL",
    "dup.spf.test TXT v=spf1 -all",
    "dup.spf.test TXT v=spf1 +all",
    "split.spf.test TXT \"v=spf1 ip4:198.51.100.1 \" \"ip4:203.0.113.7 -all\"",
    /* DMARC */
    "_dmarc.news.example.com TXT v=DMARC1; p=quarantine; rua=mailto:d@example.com",
    "_dmarc.example.com TXT v=DMARC1; p=none; rua=mailto:d@example.com",
    "_dmarc.b.example.com TXT v=DMARC1; p=reject; psd=n; rua=mailto:x@b.example.com",
    "_dmarc.example.co.uk TXT v=DMARC1; p=reject; rua=mailto:r@example.co.uk",
    "_dmarc.b.example.org TXT v=DMARC1; p=reject",
    "_dmarc.example.org TXT v=DMARC1; p=quarantine; sp=none; rua=mailto:o@example.org",
    "_dmarc.bank.test TXT v=DMARC1; p=reject; psd=y; rua=mailto:psd@bank.test",
    "_dmarc.deep.test TXT v=DMARC1; p=reject; rua=mailto:deep@deep.test",
    "_dmarc.slow.example.net TIMEOUT",
    "_dmarc.sfwalk.test SERVFAIL",
    "_dmarc.multi.test TXT v=DMARC1; p=reject",
    "_dmarc.multi.test TXT v=DMARC1; p=none",
    "_dmarc.implied.test TXT v=DMARC1; p=bogus; rua=mailto:a@implied.test",
    "_dmarc.broken.test TXT v=DMARC1; p=bogus",
    "_dmarc.strict.example.com TXT v=DMARC1; p=reject; adkim=s; aspf=s; "
    "rua=mailto:s@example.com",
    "_dmarc.testing.test TXT v=DMARC1; p=reject; t=y; rua=mailto:t@testing.test",
    "_dmarc.split.test TXT \"v=DMARC1; p=rej\" \"ect; rua=mailto:a@split.test\"",
    "_dmarc.sub.test TXT v=DMARC1; p=none",
    "_dmarc.onlysub.example.com TXT v=DMARC1; p=reject; rua=mailto:o@example.com",
    NULL,
};

static const char *psl_lines[] = {
    "// test list: ICANN-like and private rules",
    "com",
    "net",
    "org",
    "uk",
    "co.uk",
    "cn",
    "test",
    "bank.test",
    "*.ck",
    "!www.ck",
    "\xe5\x85\xac\xe5\x8f\xb8.cn", /* 公司.cn */
    "",
    "// ===BEGIN PRIVATE DOMAINS===",
    "blogspot.com",
    NULL,
};

/* ---- helpers ------------------------------------------------------------ */

static uint64_t
ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
write_lines(const char *path, const char *const *lines, const char *extra)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	for (size_t i = 0; lines[i] != NULL; i++)
		fprintf(f, "%s\n", lines[i]);
	if (extra)
		fputs(extra, f);
	return fclose(f);
}

/* Lines of the query log equal to "PROTO NAME TYPE" (proto NULL: any). */
static int
count_queries(const char *proto, const char *name, const char *type)
{
	char line[600], want[560];
	int n = 0;
	FILE *f = fopen(g_log, "r");
	if (f == NULL)
		return 0;
	snprintf(want, sizeof(want), "%s %s\n", name, type);
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *sp = strchr(line, ' ');
		if (sp == NULL || strcmp(sp + 1, want) != 0)
			continue;
		if (proto == NULL || strncmp(line, proto, strlen(proto)) == 0)
			n++;
	}
	fclose(f);
	return n;
}

static const char *
server_script(char *buf, size_t len)
{
	const char *top = getenv("top_srcdir");
	snprintf(buf, len, "%s/tests/dns/dns_server.py", top ? top : ".");
	if (access(buf, R_OK) == 0)
		return buf;
	/* __FILE__ is .../tests/unit/test_dns.c in every build layout */
	snprintf(buf, len, "%s", __FILE__);
	char *slash = strrchr(buf, '/');
	if (slash != NULL) {
		*slash = '\0';
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "/../dns/dns_server.py");
		if (access(buf, R_OK) == 0)
			return buf;
	}
	snprintf(buf, len, "tests/dns/dns_server.py");
	return buf;
}

static const char *
python(void)
{
	const char *p = getenv("BW_PYTHON");
	return p ? p : "/usr/bin/python3";
}

static int progress_calls;
static void
count_progress(void *ctx)
{
	(void)ctx;
	progress_calls++;
}

/* ---- group setup -------------------------------------------------------- */

static int
setup(void **state)
{
	(void)state;
	char zone[128], portf[128], script[512], pslf[128], err[256];
	char big[2200];

	snprintf(g_dir, sizeof(g_dir), "/tmp/bw-test-dns.XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return -1;
	snprintf(zone, sizeof(zone), "%s/zone", g_dir);
	snprintf(portf, sizeof(portf), "%s/port", g_dir);
	snprintf(g_log, sizeof(g_log), "%s/queries.log", g_dir);
	snprintf(pslf, sizeof(pslf), "%s/psl.dat", g_dir);

	/* a 2000-byte TXT (8 strings): larger than any UDP answer we accept */
	memcpy(big, "big.r.test TXT ", 15);
	for (int i = 0; i < 2000; i++)
		big[15 + i] = (char)('a' + i % 26);
	memcpy(big + 2015, "\n", 2);
	if (write_lines(zone, zone_lines, big) != 0 || write_lines(pslf, psl_lines, NULL) != 0)
		return -1;

	const char *argv[] = {python(), server_script(script, sizeof(script)), zone, portf, g_log,
			      NULL};
	if (posix_spawn(&g_server, argv[0], NULL, NULL, (char *const *)argv, environ) != 0)
		return -1;
	for (int i = 0; i < 200; i++) { /* 20 s */
		FILE *f = fopen(portf, "r");
		int port = 0;
		if (f != NULL) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port > 0) {
			snprintf(g_ns, sizeof(g_ns), "127.0.0.1:%d", port);
			break;
		}
		if (waitpid(g_server, NULL, WNOHANG) == g_server) {
			g_server = -1;
			return -1;
		}
		usleep(100000);
	}
	if (g_ns[0] == '\0')
		return -1;

	/* a nameserver that never answers: a bound UDP socket nobody reads */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	g_blackhole = socket(AF_INET, SOCK_DGRAM, 0);
	if (g_blackhole < 0 || bind(g_blackhole, (struct sockaddr *)&sa, sl) != 0 ||
	    getsockname(g_blackhole, (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	snprintf(g_dead_ns, sizeof(g_dead_ns), "127.0.0.1:%d", ntohs(sa.sin_port));

	const char *ns[1] = {g_ns};
	g_res = mkres(ns, 1, TIMEOUT_S, 300, err, sizeof(err));
	g_nocache = mkres(ns, 1, TIMEOUT_S, 300, err, sizeof(err));
	if (g_res == NULL || g_nocache == NULL)
		return -1;
	g_spf = spf_new(g_res);
	if (g_spf == NULL)
		return -1;
	if (dmarc_psl_load(pslf, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[128];
	spf_free(g_spf);
	resolver_free(g_res);
	resolver_free(g_nocache);
	dmarc_psl_free();
	if (g_blackhole >= 0)
		close(g_blackhole);
	if (g_server > 0) {
		kill(g_server, SIGTERM);
		waitpid(g_server, NULL, 0);
	}
	if (g_dir[0] != '\0' && strncmp(g_dir, "/tmp/bw-test-dns.", 17) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", g_dir);
	}
	return 0;
}

/* ---- resolver ----------------------------------------------------------- */

static void
test_resolver_txt(void **state)
{
	(void)state;
	struct resolver_answer a;
	assert_int_equal(resolver_txt(g_nocache, "txt.r.test", &a), RESOLVER_OK);
	assert_int_equal(a.n, 1);
	assert_string_equal((const char *)a.rr[0].data, "hello world");
	assert_int_equal(a.rr[0].len, 11);
	resolver_answer_free(&a);

	/* several character-strings are one record, concatenated */
	assert_int_equal(resolver_txt(g_nocache, "multi.r.test.", &a), RESOLVER_OK);
	assert_int_equal(a.n, 1);
	assert_string_equal((const char *)a.rr[0].data, "part one part two");
	resolver_answer_free(&a);

	assert_int_equal(resolver_txt(g_nocache, "TWO.r.Test", &a), RESOLVER_OK);
	assert_int_equal(a.n, 2);
	resolver_answer_free(&a);
	resolver_answer_free(&a); /* twice is harmless */
}

static void
test_resolver_negative(void **state)
{
	(void)state;
	struct resolver_answer a;
	assert_int_equal(resolver_txt(g_nocache, "missing.r.test", &a), RESOLVER_NXDOMAIN);
	assert_int_equal(a.n, 0);
	assert_int_equal(a.rcode, 3);
	resolver_answer_free(&a);
	assert_int_equal(resolver_txt(g_nocache, "nodata.r.test", &a), RESOLVER_NODATA);
	assert_int_equal(a.rcode, 0);
	resolver_answer_free(&a);
	assert_false(resolver_status_temporary(RESOLVER_NXDOMAIN));
	assert_false(resolver_status_temporary(RESOLVER_NODATA));
}

static void
test_resolver_servfail(void **state)
{
	(void)state;
	struct resolver_answer a;
	uint64_t t0 = ms_now();
	assert_int_equal(resolver_txt(g_nocache, "servfail.r.test", &a), RESOLVER_SERVFAIL);
	assert_true(ms_now() - t0 < 1000); /* one server, it answered: no waiting */
	assert_non_null(strstr(a.detail, "SERVFAIL"));
	assert_true(resolver_status_temporary(a.status));
	resolver_answer_free(&a);
	/* unbound answers SERVFAIL for any upstream error rcode (REFUSED too) */
	assert_int_equal(resolver_txt(g_nocache, "refused.r.test", &a), RESOLVER_SERVFAIL);
	assert_non_null(strstr(a.detail, "SERVFAIL"));
	resolver_answer_free(&a);
}

static void
test_resolver_timeout_bound(void **state)
{
	(void)state;
	struct resolver_answer a;
	progress_calls = 0;
	resolver_set_progress(count_progress, NULL);
	uint64_t t0 = ms_now();
	assert_int_equal(resolver_txt(g_nocache, "timeout.r.test", &a), RESOLVER_TIMEOUT);
	uint64_t el = ms_now() - t0;
	resolver_set_progress(NULL, NULL);
	print_message("    timeout %d ms, unanswered name: %llu ms, %d progress calls\n",
		      TIMEOUT_S * 1000, (unsigned long long)el, progress_calls);
	assert_true(el >= TIMEOUT_S * 1000 - 10);
	assert_true(el <= TIMEOUT_S * 1000 + MARGIN_MS);
	/* every RESOLVER_PROGRESS_MS: the milter's smfi_progress() keeps the MTA waiting */
	assert_true(progress_calls >= TIMEOUT_S * 1000 / RESOLVER_PROGRESS_MS - 1);
	assert_true(resolver_status_temporary(a.status));
	/* asked, resent on unbound's own schedule, and nothing after the deadline */
	assert_true(count_queries("udp", "timeout.r.test", "TXT") >= 1);
	resolver_answer_free(&a);
}

static void
test_resolver_dead_server(void **state)
{
	(void)state;
	char err[128];
	struct resolver_answer a;
	const char *ns[1] = {g_dead_ns};
	struct resolver *r = mkres(ns, 1, TIMEOUT_S, 300, err, sizeof(err));
	assert_non_null(r);
	uint64_t t0 = ms_now();
	assert_int_equal(resolver_txt(r, "txt.r.test", &a), RESOLVER_TIMEOUT);
	uint64_t el = ms_now() - t0;
	print_message("    timeout %d ms, dead nameserver: %llu ms\n", TIMEOUT_S * 1000,
		      (unsigned long long)el);
	assert_true(el <= TIMEOUT_S * 1000 + MARGIN_MS);
	resolver_answer_free(&a);
	resolver_free(r);
}

static void
test_resolver_failover(void **state)
{
	(void)state;
	char err[128];
	struct resolver_answer a;
	const char *ns[2] = {g_dead_ns, g_ns};
	struct resolver *r = mkres(ns, 2, 4, 300, err, sizeof(err));
	assert_non_null(r);
	uint64_t t0 = ms_now();
	assert_int_equal(resolver_txt(r, "txt.r.test", &a), RESOLVER_OK);
	uint64_t el = ms_now() - t0;
	/* unbound picks one of the two (it keeps no memory of a dead server:
	 * see resolver.c) and moves on after 3/4 of the budget split between
	 * them, 1.5 s: the live one answers inside the 4 s budget */
	print_message("    timeout 4000 ms, dead + live nameserver: %llu ms\n",
		      (unsigned long long)el);
	assert_true(el < 4000);
	resolver_answer_free(&a);
	resolver_free(r);
}

static void
test_resolver_tcp(void **state)
{
	(void)state;
	struct resolver_answer a;
	assert_int_equal(resolver_txt(g_nocache, "tconly.r.test", &a), RESOLVER_OK);
	assert_string_equal((const char *)a.rr[0].data, "forced over tcp");
	resolver_answer_free(&a);
	assert_true(count_queries("tcp", "tconly.r.test", "TXT") >= 1);

	assert_int_equal(resolver_txt(g_nocache, "big.r.test", &a), RESOLVER_OK);
	assert_true(count_queries("tcp", "big.r.test", "TXT") >= 1);
	assert_int_equal(a.rr[0].len, 2000);
	assert_int_equal(a.rr[0].data[1999], 'a' + 1999 % 26);
	resolver_answer_free(&a);
}

static void
test_resolver_types(void **state)
{
	(void)state;
	struct resolver_answer a;
	assert_int_equal(resolver_txt(g_nocache, "alias.r.test", &a), RESOLVER_OK);
	assert_string_equal((const char *)a.rr[0].data, "hello world"); /* CNAME followed */
	resolver_answer_free(&a);
	assert_int_equal(resolver_query(g_nocache, "mx.r.test", RESOLVER_T_MX, &a), RESOLVER_OK);
	assert_int_equal(a.rr[0].pref, 10);
	assert_string_equal((const char *)a.rr[0].data, "mx1.r.test");
	resolver_answer_free(&a);
	assert_int_equal(resolver_query(g_nocache, "aaaa.r.test", RESOLVER_T_AAAA, &a),
			 RESOLVER_OK);
	assert_int_equal(a.rr[0].len, 16);
	assert_int_equal(a.rr[0].data[0], 0x20);
	resolver_answer_free(&a);
	assert_int_equal(resolver_query(g_nocache, "nodata.r.test", RESOLVER_T_A, &a), RESOLVER_OK);
	assert_memory_equal(a.rr[0].data, "\xc0\x00\x02\x01", 4);
	resolver_answer_free(&a);
}

static void
test_resolver_badname(void **state)
{
	(void)state;
	struct resolver_answer a;
	char name[300];
	memset(name, 'a', 64);
	strcpy(name + 64, ".test");
	assert_int_equal(resolver_txt(g_nocache, name, &a), RESOLVER_BADNAME);
	assert_int_equal(resolver_txt(g_nocache, "", &a), RESOLVER_BADNAME);
	assert_int_equal(resolver_txt(g_nocache, "a..b", &a), RESOLVER_BADNAME);
	assert_int_equal(resolver_txt(g_nocache, "a b.test", &a), RESOLVER_BADNAME);
	for (int i = 0; i < 130; i++)
		memcpy(name + 2 * i, "a.", 2);
	strcpy(name + 260, "test");
	assert_int_equal(resolver_txt(g_nocache, name, &a), RESOLVER_BADNAME);
	resolver_answer_free(&a);
}

static void
test_resolver_cache(void **state)
{
	(void)state;
	struct resolver_answer a;
	struct resolver_stats s0, s1;
	resolver_get_stats(g_res, &s0);
	int asked = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(resolver_txt(g_res, "cache.r.test", &a), RESOLVER_OK);
		/* unbound may send the first query twice (a resend); then no more */
		if (i == 0)
			asked = count_queries(NULL, "cache.r.test", "TXT");
		assert_true(asked >= 1 && asked <= 2);
		assert_int_equal(count_queries(NULL, "cache.r.test", "TXT"), asked); /* cached */
		assert_true(a.ttl <= 60); /* record TTL 60 bounds cache_ttl 300 */
		assert_string_equal((const char *)a.rr[0].data, "cache me");
		resolver_answer_free(&a);
	}
	/* negative answers are cached too */
	assert_int_equal(resolver_txt(g_res, "nothere.r.test", &a), RESOLVER_NXDOMAIN);
	resolver_answer_free(&a);
	int neg = count_queries(NULL, "nothere.r.test", "TXT");
	assert_true(neg >= 1 && neg <= 2);
	assert_int_equal(resolver_txt(g_res, "nothere.r.test", &a), RESOLVER_NXDOMAIN);
	resolver_answer_free(&a);
	assert_int_equal(count_queries(NULL, "nothere.r.test", "TXT"), neg);
	resolver_get_stats(g_res, &s1);
	assert_int_equal(s1.queries - s0.queries, 5);
	/* the repeats came from our answer cache, without a trip to unbound */
	assert_int_equal(s1.cached - s0.cached, 3);
	assert_int_equal(count_queries(NULL, "cache.r.test", "TXT"), asked);
	/* temporary failures stay temporary */
	assert_int_equal(resolver_txt(g_res, "servfail.r.test", &a), RESOLVER_SERVFAIL);
	resolver_answer_free(&a);
	/* unbound keeps a failure a few seconds (no retry storm); it stays a
	 * temporary failure, never a cached answer */
	assert_int_equal(resolver_txt(g_res, "servfail.r.test", &a), RESOLVER_SERVFAIL);
	assert_true(resolver_status_temporary(a.status));
	resolver_answer_free(&a);
	resolver_get_stats(g_res, &s0);
	assert_int_equal(s0.cached, s1.cached); /* failures never come from it */
	resolver_cache_flush(g_res);
	assert_int_equal(resolver_txt(g_res, "cache.r.test", &a), RESOLVER_OK);
	assert_true(count_queries(NULL, "cache.r.test", "TXT") > asked); /* asked again */
	resolver_answer_free(&a);
}

static void
test_resolver_budget(void **state)
{
	(void)state;
	struct resolver_answer a;
	struct resolver_budget b = {0};
	assert_false(resolver_budget_started(&b));
	assert_int_equal(resolver_budget_left_ms(g_nocache, &b), TIMEOUT_S * 1000);
	uint64_t t0 = ms_now();
	resolver_budget_start(&b, g_nocache);
	assert_true(resolver_budget_started(&b));
	/* two lookups passed the same budget share its one deadline; a name
	 * not asked before: unbound remembers a failed name for a few seconds
	 * and then answers SERVFAIL (dns-error too) at once */
	assert_int_equal(resolver_txt_within(g_nocache, &b, "timeout3.r.test", &a),
			 RESOLVER_TIMEOUT);
	resolver_answer_free(&a);
	assert_int_equal(resolver_budget_left_ms(g_nocache, &b), 0);
	assert_int_equal(resolver_txt_within(g_nocache, &b, "timeout2.r.test", &a), RESOLVER_TIMEOUT);
	resolver_answer_free(&a);
	uint64_t el = ms_now() - t0;
	assert_true(el <= TIMEOUT_S * 1000 + MARGIN_MS); /* two timeouts, one budget */
	assert_int_equal(count_queries(NULL, "timeout2.r.test", "TXT"), 0);
	/* a spent budget stops SPF and DMARC lookups at once, with no query */
	struct spf_result sr;
	assert_int_equal(spf_check_within(g_spf, &b, "budget.spf.test", "203.0.113.7", &sr), 0);
	assert_int_equal(sr.class, SPF_CLASS_DNS);
	struct dmarc_record *rec = malloc(sizeof(*rec));
	assert_non_null(rec);
	assert_int_equal(dmarc_lookup_within(g_res, &b, "budget.dmarc.test", rec), DMARC_DNS_ERROR);
	free(rec);
	assert_int_equal(count_queries(NULL, "budget.spf.test", "TXT"), 0);
	assert_int_equal(count_queries(NULL, "_dmarc.budget.dmarc.test", "TXT"), 0);
	/* without a budget a lookup has a deadline of its own */
	assert_int_equal(resolver_budget_left_ms(g_nocache, NULL), TIMEOUT_S * 1000);
	/* a slow but answering server within the timeout, with progress calls */
	progress_calls = 0;
	resolver_set_progress(count_progress, NULL);
	assert_int_equal(resolver_txt(g_nocache, "delay.r.test", &a), RESOLVER_OK);
	resolver_set_progress(NULL, NULL);
	assert_true(progress_calls >= 2);
	resolver_answer_free(&a);
}

static void
test_resolver_config(void **state)
{
	(void)state;
	char err[160];
	const char *bad[] = {"127.0.0.1:0", "127.0.0.1:70000", "localhost", "[::1", "1.2.3.4:x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *ns[1] = {bad[i]};
		err[0] = '\0';
		assert_null(mkres(ns, 1, 1, 300, err, sizeof(err)));
		assert_non_null(strstr(err, "dns.nameservers"));
	}
	assert_int_equal(resolver_nameserver_check("10.0.0.1:5353", err, sizeof(err)), 0);
	assert_int_equal(resolver_nameserver_check("10.0.0.1:", err, sizeof(err)), -1);
	const char *good[] = {"127.0.0.1", "[::1]:5353", "::1", "192.0.2.1:53"};
	struct resolver *r = mkres(good, 4, 0, 300, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(resolver_timeout(r), RESOLVER_DEFAULT_TIMEOUT);
	resolver_free(r);
	r = mkres(NULL, 0, TIMEOUT_S, 300, err, sizeof(err)); /* system servers */
	assert_non_null(r);
	resolver_free(r);
}

struct thread_arg {
	int ok;
};

static void *
hammer(void *p)
{
	struct thread_arg *ta = p;
	for (int i = 0; i < 40; i++) {
		struct resolver_answer a;
		struct spf_result sr;
		const char *names[] = {"txt.r.test", "multi.r.test", "missing.r.test", "mx.r.test"};
		enum resolver_status st = resolver_txt(g_res, names[i % 4], &a);
		resolver_answer_free(&a);
		if (st == RESOLVER_OK || st == RESOLVER_NXDOMAIN || st == RESOLVER_NODATA)
			ta->ok++;
		if (i % 10 == 0)
			resolver_cache_flush(g_res);
		if (spf_check(g_spf, i % 2 ? "inc.spf.test" : "mx.spf.test", "203.0.113.7", &sr) ==
			0 &&
		    sr.result == SPF_RES_PASS)
			ta->ok++;
	}
	return NULL;
}

static void
test_threads(void **state)
{
	(void)state;
	pthread_t t[8];
	struct thread_arg ta[8] = {{0}};
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &ta[i]), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(ta[i].ok, 80);
	}
}

/* ---- SPF ---------------------------------------------------------------- */

static void
check_spf(const char *domain, const char *ip, enum spf_res want, enum spf_class cls, int lookups)
{
	struct spf_result r;
	assert_int_equal(spf_check(g_spf, domain, ip, &r), 0);
	if (r.result != want || r.class != cls)
		print_error("%s %s: got %s/%s (%s)\n", domain, ip, spf_res_name(r.result),
			    spf_class_name(r.class), r.explanation);
	assert_int_equal(r.result, want);
	assert_int_equal(r.class, cls);
	if (lookups >= 0)
		assert_int_equal(r.lookups, lookups);
	assert_true(r.explanation[0] != '\0');
}

static void
test_spf_results(void **state)
{
	(void)state;
	check_spf("pass.spf.test", "203.0.113.7", SPF_RES_PASS, SPF_CLASS_PASS, 0);
	check_spf("pass.spf.test", "2001:db8::7", SPF_RES_PASS, SPF_CLASS_PASS, 0);
	check_spf("pass.spf.test", "198.51.100.1", SPF_RES_FAIL, SPF_CLASS_POLICY, 0);
	check_spf("excl.spf.test", "203.0.113.7", SPF_RES_FAIL, SPF_CLASS_POLICY, 0);
	check_spf("excl.spf.test", "203.0.113.8", SPF_RES_PASS, SPF_CLASS_PASS, 0);
	check_spf("soft.spf.test", "203.0.113.7", SPF_RES_SOFTFAIL, SPF_CLASS_POLICY, 0);
	check_spf("neutral.spf.test", "203.0.113.7", SPF_RES_NEUTRAL, SPF_CLASS_POLICY, 0);
	check_spf("norec.spf.test", "203.0.113.7", SPF_RES_NONE, SPF_CLASS_POLICY, 0);
	check_spf("nxdomain.spf.test", "203.0.113.7", SPF_RES_NONE, SPF_CLASS_POLICY, 0);
	check_spf("dup.spf.test", "203.0.113.7", SPF_RES_PERMERROR, SPF_CLASS_BROKEN, 0);
	check_spf("split.spf.test", "203.0.113.7", SPF_RES_PASS, SPF_CLASS_PASS, 0);
	check_spf("SPLIT.spf.test.", "198.51.100.1", SPF_RES_PASS, SPF_CLASS_PASS, 0);
	/* no query for the obsolete SPF RR type */
	assert_int_equal(count_queries(NULL, "pass.spf.test", "SPF"), 0);
}

static void
test_spf_include_and_mx(void **state)
{
	(void)state;
	check_spf("inc.spf.test", "203.0.113.99", SPF_RES_PASS, SPF_CLASS_PASS, 2);
	check_spf("inc.spf.test", "192.0.2.1", SPF_RES_FAIL, SPF_CLASS_POLICY, 2);
	/* mx is one term: the address lookups of its hosts are not */
	check_spf("mx.spf.test", "203.0.113.7", SPF_RES_PASS, SPF_CLASS_PASS, 1);
	check_spf("mx.spf.test", "203.0.113.8", SPF_RES_FAIL, SPF_CLASS_POLICY, 1);
}

static void
test_spf_limits(void **state)
{
	(void)state;
	struct spf_result r;
	/* 10 terms across include levels: allowed */
	check_spf("ten.spf.test", "203.0.113.7", SPF_RES_PASS, SPF_CLASS_PASS, 10);
	/* the 11th (libspf2 alone counts per level and would pass this) */
	assert_int_equal(spf_check(g_spf, "over.spf.test", "203.0.113.7", &r), 0);
	assert_int_equal(r.result, SPF_RES_PERMERROR);
	assert_int_equal(r.class, SPF_CLASS_BROKEN);
	assert_int_equal(r.lookups, 11);
	assert_non_null(strstr(r.explanation, "more than 10"));
	assert_non_null(strstr(r.explanation, "h9.spf.test"));
	assert_int_equal(count_queries(NULL, "h9.spf.test", "A"), 0); /* never asked */
	/* void lookups: two are fine, the third is permerror */
	check_spf("void2.spf.test", "203.0.113.7", SPF_RES_PASS, SPF_CLASS_PASS, 2);
	assert_int_equal(spf_check(g_spf, "void3.spf.test", "203.0.113.7", &r), 0);
	assert_int_equal(r.result, SPF_RES_PERMERROR);
	assert_int_equal(r.void_lookups, 3);
	assert_non_null(strstr(r.explanation, "void"));
}

static void
test_spf_temperror(void **state)
{
	(void)state;
	struct spf_result r;
	uint64_t t0 = ms_now();
	assert_int_equal(spf_check(g_spf, "tmo.spf.test", "203.0.113.7", &r), 0);
	uint64_t el = ms_now() - t0;
	print_message("    timeout %d ms, SPF record never answered: %llu ms\n", TIMEOUT_S * 1000,
		      (unsigned long long)el);
	assert_int_equal(r.result, SPF_RES_TEMPERROR);
	assert_int_equal(r.class, SPF_CLASS_DNS);
	assert_non_null(strstr(r.explanation, "timeout"));
	assert_true(el <= TIMEOUT_S * 1000 + MARGIN_MS);
	/* an include that times out: still bounded, still temperror */
	t0 = ms_now();
	assert_int_equal(spf_check(g_spf, "tinc.spf.test", "203.0.113.7", &r), 0);
	el = ms_now() - t0;
	assert_int_equal(r.result, SPF_RES_TEMPERROR);
	assert_true(el <= TIMEOUT_S * 1000 + MARGIN_MS);
	/* SERVFAIL: temperror at once; never cached */
	t0 = ms_now();
	check_spf("sf.spf.test", "203.0.113.7", SPF_RES_TEMPERROR, SPF_CLASS_DNS, 0);
	assert_true(ms_now() - t0 < 1000);
	assert_int_equal(spf_check(g_spf, "sf.spf.test", "203.0.113.7", &r), 0);
	assert_false(r.cached);
}

static void
test_spf_cache_and_input(void **state)
{
	(void)state;
	struct spf_result r;
	assert_int_equal(spf_check(g_spf, "soft.spf.test", "192.0.2.1", &r), 0);
	if (r.result != SPF_RES_PASS)
		print_error("soft.spf.test: %s (%s)\n", spf_res_name(r.result), r.explanation);
	assert_int_equal(r.result, SPF_RES_PASS);
	assert_int_equal(spf_check(g_spf, "SOFT.spf.test", "192.0.2.1", &r), 0);
	assert_true(r.cached);
	assert_int_equal(r.result, SPF_RES_PASS);
	spf_cache_flush(g_spf);
	assert_int_equal(spf_check(g_spf, "soft.spf.test", "192.0.2.1", &r), 0);
	assert_false(r.cached);

	assert_int_equal(spf_check(g_spf, "pass.spf.test", "not-an-ip", &r), -1);
	assert_int_equal(r.class, SPF_CLASS_INPUT);
	assert_int_equal(spf_check(g_spf, "pass.spf.test", "127.0.0.1", &r), -1);
	assert_non_null(strstr(r.explanation, "loopback"));
	assert_int_equal(spf_check(g_spf, "pass.spf.test", "::1", &r), -1);
	assert_int_equal(spf_check(g_spf, "bad domain", "203.0.113.7", &r), -1);
	assert_int_equal(spf_check(g_spf, "", "203.0.113.7", &r), -1);
	assert_int_equal(spf_check(g_spf, NULL, "203.0.113.7", &r), -1);
	assert_string_equal(spf_res_name(SPF_RES_SOFTFAIL), "softfail");
	assert_string_equal(spf_class_name(SPF_CLASS_DNS), "dns");
}

/* ---- DMARC: PSL and parser ---------------------------------------------- */

static void
check_org(const char *domain, const char *want)
{
	char out[DMARC_DOMAIN_MAX + 1];
	assert_true(dmarc_psl_org_domain(domain, out));
	assert_string_equal(out, want);
}

static void
test_psl(void **state)
{
	(void)state;
	char out[DMARC_DOMAIN_MAX + 1];
	check_org("mail.example.co.uk", "example.co.uk");
	check_org("MAIL.Example.CO.UK.", "example.co.uk");
	check_org("example.co.uk", "example.co.uk");
	check_org("co.uk", "co.uk"); /* a public suffix is its own */
	check_org("a.b.example.com", "example.com");
	check_org("x.y.unlisted", "y.unlisted"); /* default rule "*" */
	check_org("a.b.foo.ck", "b.foo.ck");	 /* wildcard *.ck */
	check_org("a.www.ck", "www.ck");	 /* exception !www.ck */
	check_org("www.ck", "www.ck");
	check_org("a.b.xn--55qx5d.cn", "b.xn--55qx5d.cn"); /* Unicode rule as A-label */
	check_org("me.blogspot.com", "me.blogspot.com");   /* private section */
	assert_false(dmarc_psl_org_domain("bad..name", out));
}

static void
test_psl_debian(void **state)
{
	(void)state;
	char err[256], pslf[128];
	if (access(DMARC_PSL_PATH, R_OK) != 0)
		skip();
	assert_int_equal(dmarc_psl_load(NULL, err, sizeof(err)), 0);
	check_org("mail.example.co.uk", "example.co.uk");
	check_org("news.example.com", "example.com");
	check_org("x.s3.amazonaws.com", "x.s3.amazonaws.com");
	/* back to the test list for the rest */
	snprintf(pslf, sizeof(pslf), "%s/psl.dat", g_dir);
	assert_int_equal(dmarc_psl_load(pslf, err, sizeof(err)), 0);
	assert_int_equal(dmarc_psl_load("/nonexistent/psl", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(dmarc_psl_load(pslf, err, sizeof(err)), 0);
}

static void
test_dmarc_parse(void **state)
{
	(void)state;
	static const struct {
		const char *txt;
		enum dmarc_parse_rc rc;
		int p; /* -1: not checked */
		int implied;
		unsigned n_rua;
	} cases[] = {
	    {"v=DMARC1; p=reject", DMARC_PARSE_OK, DMARC_P_REJECT, 0, 0},
	    {"v=DMARC1;p=quarantine;rua=mailto:a@x.test,mailto:b@x.test", DMARC_PARSE_OK,
	     DMARC_P_QUARANTINE, 0, 2},
	    {"  v = DMARC1 ;  P = None ; ", DMARC_PARSE_OK, DMARC_P_NONE, 0, 0},
	    {"v=DMARC1; rua=mailto:a@x.test", DMARC_PARSE_OK, DMARC_P_NONE, 1, 1},
	    {"v=DMARC1; p=bogus; rua=mailto:a@x.test", DMARC_PARSE_OK, DMARC_P_NONE, 1, 1},
	    {"v=DMARC1; p=reject; sp=bogus; rua=mailto:a@x.test", DMARC_PARSE_OK, DMARC_P_NONE, 1,
	     1},
	    /* libopendmarc's behaviour: a prefix of a policy name is that policy */
	    {"v=DMARC1; p=r", DMARC_PARSE_OK, DMARC_P_REJECT, 0, 0},
	    {"v=DMARC1; p=bogus", DMARC_PARSE_NO_POLICY, -1, 0, 0},
	    {"v=DMARC1; p=reject; sp=whatever", DMARC_PARSE_NO_POLICY, -1, 0, 0},
	    {"v=DMARC1; p=none; rua=notauri", DMARC_PARSE_OK, DMARC_P_NONE, 0, 0},
	    {"v=DMARC1", DMARC_PARSE_NO_POLICY, -1, 0, 0},
	    {"v=dmarc1; p=reject", DMARC_PARSE_NOT_DMARC, -1, 0, 0},
	    {"p=reject; v=DMARC1", DMARC_PARSE_NOT_DMARC, -1, 0, 0},
	    {"v=DMARC10; p=reject", DMARC_PARSE_NOT_DMARC, -1, 0, 0},
	    {"v=spf1 -all", DMARC_PARSE_NOT_DMARC, -1, 0, 0},
	    {"", DMARC_PARSE_NOT_DMARC, -1, 0, 0},
	    /* libopendmarc's behaviour: the last of duplicate tags wins */
	    {"v=DMARC1; p=reject; p=none", DMARC_PARSE_OK, DMARC_P_NONE, 0, 0},
	    /* libopendmarc's behaviour: one bad value rejects the record... */
	    {"v=DMARC1; p=reject; pct=150", DMARC_PARSE_NO_POLICY, -1, 0, 0},
	    {"v=DMARC1; p=reject; adkim=x", DMARC_PARSE_NO_POLICY, -1, 0, 0},
	    /* ...and ours: with a valid rua, p=none applies */
	    {"v=DMARC1; p=reject; pct=150; rua=mailto:a@x.test", DMARC_PARSE_OK, DMARC_P_NONE, 1, 1},
	    {"v=DMARC1; p=reject; np=bogus; rua=mailto:a@x.test", DMARC_PARSE_OK, DMARC_P_NONE, 1,
	     1},
	    {"v=DMARC1; foo=bar; p=reject; junk", DMARC_PARSE_OK, DMARC_P_REJECT, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dmarc_record r;
		enum dmarc_parse_rc rc = dmarc_parse(cases[i].txt, strlen(cases[i].txt), &r);
		if (rc != cases[i].rc)
			print_error("case %zu \"%s\": rc %d\n", i, cases[i].txt, rc);
		assert_int_equal(rc, cases[i].rc);
		if (cases[i].p >= 0) {
			assert_int_equal(r.p, cases[i].p);
			assert_int_equal(r.p_implied, cases[i].implied);
			assert_int_equal(r.n_rua, cases[i].n_rua);
		}
	}

	struct dmarc_record r;
	const char *full = "v=DMARC1; p=quarantine; sp=reject; np=reject; adkim=s; aspf=s; "
			   "pct=50; t=y; psd=n; fo=1; ri=3600; ruf=mailto:f@x.test; "
			   "rua=mailto:a@x.test!10m";
	assert_int_equal(dmarc_parse(full, strlen(full), &r), DMARC_PARSE_OK);
	assert_int_equal(r.sp, DMARC_P_REJECT);
	assert_true(r.sp_set && r.np_set);
	assert_int_equal(r.adkim, DMARC_STRICT);
	assert_int_equal(r.aspf, DMARC_STRICT);
	assert_int_equal(r.pct, 50);
	assert_true(r.testing);
	assert_int_equal(r.psd, DMARC_PSD_N);
	assert_int_equal(r.n_rua, 1);
	assert_string_equal(r.rua, "mailto:a@x.test!10m");
	/* pct=150 and adkim=x: libopendmarc's behaviour rejects the record
	 * (case table above); t and psd are ours: odd values are ignored */
	const char *odd = "v=DMARC1; p=reject; t=maybe; psd=q";
	assert_int_equal(dmarc_parse(odd, strlen(odd), &r), DMARC_PARSE_OK);
	assert_int_equal(r.pct, 100);
	assert_int_equal(r.adkim, DMARC_RELAXED);
	assert_false(r.testing);
	assert_int_equal(r.psd, DMARC_PSD_U);

	/* bounds: embedded NUL, oversized record, control bytes made printable */
	assert_int_equal(dmarc_parse("v=DMARC1\0; p=reject", 19, &r), DMARC_PARSE_NOT_DMARC);
	char *huge = malloc(DMARC_RECORD_MAX + 2);
	assert_non_null(huge);
	memset(huge, ' ', DMARC_RECORD_MAX + 1);
	memcpy(huge, "v=DMARC1; p=reject;", 19);
	assert_int_equal(dmarc_parse(huge, DMARC_RECORD_MAX + 1, &r), DMARC_PARSE_NOT_DMARC);
	assert_int_equal(dmarc_parse(huge, DMARC_RECORD_MAX, &r), DMARC_PARSE_OK);
	free(huge);
	/* values libopendmarc would copy unterminated (>= 512 bytes, a rua
	 * element >= 256) are not handed to it: the tag is absent */
	char big[1200];
	snprintf(big, sizeof(big), "v=DMARC1; p=reject; rua=mailto:%0*d,mailto:%0*d,mailto:%0*d",
		 163, 0, 163, 0, 163, 0); /* rua value: 512 bytes */
	assert_int_equal(dmarc_parse(big, strlen(big), &r), DMARC_PARSE_OK);
	assert_int_equal(r.p, DMARC_P_REJECT);
	assert_int_equal(r.n_rua, 0);
	snprintf(big, sizeof(big), "v=DMARC1; p=reject; rua=mailto:%0*d,mailto:b@x.test", 249, 0);
	assert_int_equal(dmarc_parse(big, strlen(big), &r), DMARC_PARSE_OK);
	assert_int_equal(r.n_rua, 0);
	snprintf(big, sizeof(big), "v=DMARC1; p=reject; rua=mailto:%0*d,mailto:b@x.test", 248, 0);
	assert_int_equal(dmarc_parse(big, strlen(big), &r), DMARC_PARSE_OK);
	assert_int_equal(r.n_rua, 2);
	snprintf(big, sizeof(big), "v=DMARC1; p=reject; rua=mailto:%0*d,mailto:%0*d,mailto:%0*d",
		 163, 0, 163, 0, 162, 0); /* 511 bytes */
	assert_int_equal(dmarc_parse(big, strlen(big), &r), DMARC_PARSE_OK);
	assert_int_equal(r.n_rua, 3);
	const char *ctl = "v=DMARC1; p=none; rua=mailto:a@x\x01";
	assert_int_equal(dmarc_parse(ctl, strlen(ctl), &r), DMARC_PARSE_OK);
	assert_null(strchr(r.text, '\x01'));
}

/* ---- DMARC: discovery --------------------------------------------------- */

static void
lookup(const char *from, struct dmarc_record *r, enum dmarc_status want)
{
	enum dmarc_status st = dmarc_lookup(g_res, from, r);
	if (st != want)
		print_error("%s: status %s (%s)\n", from, dmarc_status_name(st), r->detail);
	assert_int_equal(st, want);
}

static void
test_dmarc_exact(void **state)
{
	(void)state;
	struct dmarc_record r;
	lookup("news.example.com", &r, DMARC_FOUND);
	assert_int_equal(r.method, DMARC_METHOD_EXACT);
	assert_string_equal(r.domain, "news.example.com");
	assert_int_equal(r.p, DMARC_P_QUARANTINE);
	assert_int_equal(r.n_rua, 1);
	assert_string_equal(r.org_domain, "example.com");
	assert_string_equal(r.psl_org_domain, "example.com");
	assert_true(r.legacy_found);
	assert_string_equal(r.legacy_domain, "news.example.com");
	/* split into several strings */
	lookup("split.test", &r, DMARC_FOUND);
	assert_int_equal(r.p, DMARC_P_REJECT);
	assert_int_equal(r.n_rua, 1);
}

static void
test_dmarc_none(void **state)
{
	(void)state;
	struct dmarc_record r;
	lookup("mail.nodmarc.example.net", &r, DMARC_NONE);
	assert_int_equal(r.method, DMARC_METHOD_NONE);
	assert_int_equal(r.queries, 4); /* mail.nodmarc.example.net ... net */
	assert_string_equal(r.org_domain, "mail.nodmarc.example.net");
	/* two records at one name: both ignored */
	lookup("multi.test", &r, DMARC_NONE);
	assert_non_null(strstr(r.detail, "2 DMARC records"));
	/* a record without a usable policy and without rua */
	lookup("broken.test", &r, DMARC_NONE);
	assert_non_null(strstr(r.detail, "no valid p="));
	lookup("bad name", &r, DMARC_BADNAME);
}

static void
test_dmarc_psl(void **state)
{
	(void)state;
	struct dmarc_record r;
	char why[DMARC_DETAIL_MAX];
	lookup("mail.example.co.uk", &r, DMARC_FOUND);
	assert_int_equal(r.method, DMARC_METHOD_PSL);
	assert_string_equal(dmarc_method_name(r.method), "psl");
	assert_string_equal(r.domain, "example.co.uk");
	assert_string_equal(r.psl_org_domain, "example.co.uk");
	assert_string_equal(r.org_domain, "example.co.uk");
	assert_int_equal(dmarc_effective_policy(&r, "mail.example.co.uk", why, sizeof(why)),
			 DMARC_P_REJECT);
	/* the walk goes on to the TLD: co.uk and uk are asked too */
	assert_int_equal(r.queries, 4);
	/* fewest labels wins without psd: b.example.org's own record is skipped */
	lookup("a.b.example.org", &r, DMARC_FOUND);
	assert_string_equal(r.domain, "example.org");
	assert_int_equal(r.method, DMARC_METHOD_PSL);
	assert_int_equal(dmarc_effective_policy(&r, "a.b.example.org", why, sizeof(why)),
			 DMARC_P_NONE); /* sp=none */
	assert_non_null(strstr(why, "sp=none"));
}

static void
test_dmarc_treewalk(void **state)
{
	(void)state;
	struct dmarc_record r;
	/* psd=n at an intermediate label makes it the Organizational Domain */
	lookup("a.b.example.com", &r, DMARC_FOUND);
	assert_int_equal(r.method, DMARC_METHOD_TREEWALK);
	assert_string_equal(dmarc_method_name(r.method), "treewalk");
	assert_string_equal(r.domain, "b.example.com");
	assert_string_equal(r.org_domain, "b.example.com");
	assert_string_equal(r.psl_org_domain, "example.com");
	assert_int_equal(r.p, DMARC_P_REJECT);
	assert_int_equal(r.psd, DMARC_PSD_N);
	/* psd=n stops the walk after 2 queries; a 3rd asks the PSL org domain */
	assert_int_equal(r.queries, 3);
	/* an RFC 7489 receiver applies example.com's p=none instead */
	assert_true(r.legacy_found);
	assert_string_equal(r.legacy_domain, "example.com");
	assert_int_equal(r.legacy_p, DMARC_P_NONE);

	/* a PSD record (psd=y): the Org. Domain is one label below it */
	lookup("giant.bank.test", &r, DMARC_FOUND);
	assert_string_equal(r.org_domain, "giant.bank.test");
	assert_string_equal(r.domain, "bank.test");
	assert_int_equal(r.psd, DMARC_PSD_Y);
	assert_int_equal(r.method, DMARC_METHOD_TREEWALK);
	assert_false(r.legacy_found); /* RFC 7489 alone knows no PSD records */
	lookup("mail.giant.bank.test", &r, DMARC_FOUND);
	assert_string_equal(r.org_domain, "giant.bank.test");
	assert_string_equal(r.psl_org_domain, "giant.bank.test");
	assert_string_equal(r.domain, "bank.test");
	assert_int_equal(r.method, DMARC_METHOD_TREEWALK);
	assert_int_equal(dmarc_effective_policy(&r, "mail.giant.bank.test", NULL, 0),
			 DMARC_P_REJECT);

	/* more than 8 labels: at most 8 queries, intermediate names skipped */
	lookup("a.b.c.d.e.f.g.h.i.deep.test", &r, DMARC_FOUND);
	assert_int_equal(r.queries, 8);
	assert_string_equal(r.domain, "deep.test");
	assert_int_equal(count_queries(NULL, "_dmarc.b.c.d.e.f.g.h.i.deep.test", "TXT"), 0);
	assert_int_equal(count_queries(NULL, "_dmarc.e.f.g.h.i.deep.test", "TXT"), 1);
}

static void
test_dmarc_dns_error(void **state)
{
	(void)state;
	struct dmarc_record r;
	uint64_t t0 = ms_now();
	lookup("slow.example.net", &r, DMARC_DNS_ERROR);
	uint64_t el = ms_now() - t0;
	print_message("    timeout %d ms, _dmarc never answered: %llu ms\n", TIMEOUT_S * 1000,
		      (unsigned long long)el);
	assert_true(el <= TIMEOUT_S * 1000 + MARGIN_MS);
	assert_non_null(strstr(r.detail, "timeout"));
	lookup("x.sfwalk.test", &r, DMARC_DNS_ERROR);
	assert_non_null(strstr(r.detail, "servfail"));
	assert_string_equal(dmarc_status_name(r.status), "dns-error");
}

static void
test_dmarc_policy(void **state)
{
	(void)state;
	struct dmarc_record r;
	char why[DMARC_DETAIL_MAX];
	assert_true(dmarc_policy_rank(DMARC_P_NONE) < dmarc_policy_rank(DMARC_P_QUARANTINE));
	assert_true(dmarc_policy_rank(DMARC_P_QUARANTINE) < dmarc_policy_rank(DMARC_P_REJECT));
	assert_int_equal(dmarc_policy_parse("quarantine"), DMARC_P_QUARANTINE);
	assert_int_equal(dmarc_policy_parse("REJECT"), DMARC_P_REJECT);
	assert_int_equal(dmarc_policy_parse("rej"), -1);
	assert_int_equal(dmarc_policy_parse(NULL), -1);
	assert_string_equal(dmarc_policy_name(DMARC_P_QUARANTINE), "quarantine");

	lookup("news.example.com", &r, DMARC_FOUND); /* p=quarantine */
	assert_true(dmarc_policy_meets(&r, "news.example.com", DMARC_P_NONE, why, sizeof(why)));
	assert_true(
	    dmarc_policy_meets(&r, "news.example.com", DMARC_P_QUARANTINE, why, sizeof(why)));
	assert_false(dmarc_policy_meets(&r, "news.example.com", DMARC_P_REJECT, why, sizeof(why)));
	assert_non_null(strstr(why, "below required reject"));

	lookup("testing.test", &r, DMARC_FOUND); /* p=reject; t=y */
	assert_int_equal(dmarc_effective_policy(&r, "testing.test", why, sizeof(why)),
			 DMARC_P_QUARANTINE);
	assert_non_null(strstr(why, "t=y"));
	assert_false(dmarc_policy_meets(&r, "testing.test", DMARC_P_REJECT, NULL, 0));

	lookup("implied.test", &r, DMARC_FOUND); /* p=bogus but rua */
	assert_true(r.p_implied);
	assert_int_equal(r.p, DMARC_P_NONE);

	lookup("nothing.example.net", &r, DMARC_NONE);
	assert_false(dmarc_policy_meets(&r, "nothing.example.net", DMARC_P_NONE, why, sizeof(why)));
	assert_non_null(strstr(why, "no DMARC record"));
}

static void
test_dmarc_alignment(void **state)
{
	(void)state;
	struct dmarc_record r;
	char why[DMARC_DETAIL_MAX];
	const char *d_news[] = {"news.example.com"};
	const char *d_org[] = {"example.com"};
	const char *d_other[] = {"vendor.example.net", "example.com"};
	const char *d_foreign[] = {"vendor.example.net"};

	/* relaxed (news.example.com: record at the From domain, org example.com) */
	lookup("news.example.com", &r, DMARC_FOUND);
	assert_true(
	    dmarc_aligned(&r, "news.example.com", d_news, 1, NULL, false, why, sizeof(why)));
	assert_non_null(strstr(why, "DKIM d=news.example.com"));
	assert_true(dmarc_aligned(&r, "news.example.com", d_org, 1, NULL, false, why, sizeof(why)));
	assert_true(
	    dmarc_aligned(&r, "news.example.com", d_other, 2, NULL, false, why, sizeof(why)));
	assert_false(dmarc_aligned(&r, "news.example.com", d_foreign, 1, "bounce.example.net", true,
				   why, sizeof(why)));
	assert_non_null(strstr(why, "vendor.example.net"));
	/* SPF: the MAIL FROM domain aligns only with an SPF pass */
	assert_true(dmarc_aligned(&r, "news.example.com", NULL, 0, "bounce.example.com", true, why,
				  sizeof(why)));
	assert_non_null(strstr(why, "SPF"));
	assert_false(dmarc_aligned(&r, "news.example.com", NULL, 0, "bounce.example.com", false,
				   why, sizeof(why)));
	assert_non_null(strstr(why, "SPF is not pass"));
	assert_false(dmarc_aligned(&r, "news.example.com", NULL, 0, "", true, why, sizeof(why)));

	/* strict: only the exact From domain */
	lookup("strict.example.com", &r, DMARC_FOUND);
	assert_int_equal(r.adkim, DMARC_STRICT);
	assert_false(
	    dmarc_aligned(&r, "strict.example.com", d_org, 1, NULL, false, why, sizeof(why)));
	assert_non_null(strstr(why, "strict"));
	const char *d_strict[] = {"STRICT.example.com."};
	assert_true(
	    dmarc_aligned(&r, "strict.example.com", d_strict, 1, NULL, false, why, sizeof(why)));
	assert_false(dmarc_aligned(&r, "strict.example.com", NULL, 0, "example.com", true, why,
				   sizeof(why)));
	assert_true(dmarc_aligned(&r, "strict.example.com", NULL, 0, "strict.example.com", true,
				  why, sizeof(why)));

	/* tree walk and PSL disagree: b.example.com is its own org (psd=n) */
	lookup("a.b.example.com", &r, DMARC_FOUND);
	assert_true(
	    dmarc_aligned(&r, "a.b.example.com", NULL, 0, "b.example.com", true, why, sizeof(why)));
	assert_false(dmarc_aligned(&r, "a.b.example.com", d_org, 1, NULL, false, why, sizeof(why)));
	assert_non_null(strstr(why, "tree walk"));

	/* PSL says different orgs although the walk would agree */
	lookup("mail.example.co.uk", &r, DMARC_FOUND);
	const char *d_couk[] = {"other.co.uk"};
	assert_false(
	    dmarc_aligned(&r, "mail.example.co.uk", d_couk, 1, NULL, false, why, sizeof(why)));

	/* no record: nothing aligns */
	lookup("mail.nodmarc.example.net", &r, DMARC_NONE);
	assert_false(
	    dmarc_aligned(&r, "mail.nodmarc.example.net", d_org, 1, NULL, false, why, sizeof(why)));
	assert_non_null(strstr(why, "no DMARC record"));
}

int
main(void)
{
	if (access(python(), X_OK) != 0 ||
	    system("/usr/bin/python3 -c 'import dns.message' >/dev/null 2>&1") != 0) {
		fprintf(stderr,
			"SKIP: %s with dnspython is required (apt-get install "
			"python3-dnspython)\n",
			python());
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resolver_txt),
	    cmocka_unit_test(test_resolver_negative),
	    cmocka_unit_test(test_resolver_servfail),
	    cmocka_unit_test(test_resolver_timeout_bound),
	    cmocka_unit_test(test_resolver_dead_server),
	    cmocka_unit_test(test_resolver_failover),
	    cmocka_unit_test(test_resolver_tcp),
	    cmocka_unit_test(test_resolver_types),
	    cmocka_unit_test(test_resolver_badname),
	    cmocka_unit_test(test_resolver_cache),
	    cmocka_unit_test(test_resolver_budget),
	    cmocka_unit_test(test_resolver_config),
	    cmocka_unit_test(test_spf_results),
	    cmocka_unit_test(test_spf_include_and_mx),
	    cmocka_unit_test(test_spf_limits),
	    cmocka_unit_test(test_spf_temperror),
	    cmocka_unit_test(test_spf_cache_and_input),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_psl),
	    cmocka_unit_test(test_psl_debian),
	    cmocka_unit_test(test_dmarc_parse),
	    cmocka_unit_test(test_dmarc_exact),
	    cmocka_unit_test(test_dmarc_none),
	    cmocka_unit_test(test_dmarc_psl),
	    cmocka_unit_test(test_dmarc_treewalk),
	    cmocka_unit_test(test_dmarc_dns_error),
	    cmocka_unit_test(test_dmarc_policy),
	    cmocka_unit_test(test_dmarc_alignment),
	};
	return cmocka_run_group_tests_name("dns", tests, setup, teardown);
}
