/*
 * test_policy.c - the decision for every check, table-driven, with a pinned
 * clock and a fake suspension overlay (the state store's test seam).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "policy/event.h"
#include "policy/policy.h"
#include "tests/unit/fixture.h"

static struct registry *reg;
static long long now_2026_06; /* pinned clock */

/* The fake overlay: "newsletter" suspended when suspend_news is set (and
 * the identity suspend_also names); the store "fails" when store_down is set. */
static int suspend_news, store_down;
static const char *suspend_also = "";

static int
fake_suspended(void *ctx, const char *id, char *reason, size_t len)
{
	if (store_down)
		return -1;
	if ((suspend_news && strcmp(id, "newsletter") == 0) || strcmp(id, suspend_also) == 0) {
		bw_strlcpy(reason, "phishing campaign SEC-99", len);
		return 1;
	}
	return 0;
}

/* Detail text of check id in v ("" if not run). */
static const char *
check_detail(const struct verdict *v, const char *id)
{
	for (size_t i = 0; i < v->n_checks; i++)
		if (strcmp(check_info(v->checks[i].id)->id, id) == 0)
			return v->checks[i].detail;
	return "";
}

/* The fake volume view: counts reservations per test, fails when told. */
static int reserved, reserve_fails;

static int
fake_reserve(void *ctx, const struct bw_identity *id, unsigned msgs, unsigned rcpts, long long now,
	     char *why, size_t len)
{
	if (reserve_fails)
		return -1;
	if (id->per_hour && (uint64_t)reserved >= id->per_hour) {
		snprintf(why, len, "%d messages this hour, limit %llu", reserved,
			 (unsigned long long)id->per_hour);
		return 1;
	}
	reserved++;
	return 0;
}

/* The fake DNS view: SPF and DMARC verdicts set per test row. */
static enum policy_auth spf_verdict = POLICY_AUTH_PASS, dmarc_verdict = POLICY_AUTH_PASS;
static int spf_calls, dmarc_calls;
static char last_spf_ip[64];
static bool dmarc_saw_spf_pass;
static const char *fake_dnssec = ""; /* what the fake answers say of DNSSEC */

static void
fake_spf(void *ctx, const char *domain, const char *ip, struct policy_spf *out)
{
	spf_calls++;
	bw_strlcpy(last_spf_ip, ip, sizeof(last_spf_ip));
	out->verdict = spf_verdict;
	bw_strlcpy(out->result, spf_verdict == POLICY_AUTH_PASS ? "pass"
				: spf_verdict == POLICY_AUTH_FAIL ? "fail" : "temperror",
		   sizeof(out->result));
	bw_strlcpy(out->detail, "fake", sizeof(out->detail));
	bw_strlcpy(out->dnssec, fake_dnssec, sizeof(out->dnssec));
}

static void
fake_dmarc(void *ctx, const char *from, const char *const *dkim, size_t n, const char *mail_domain,
	   bool spf_pass, enum bw_dmarc_p min, struct policy_dmarc *out)
{
	dmarc_calls++;
	dmarc_saw_spf_pass = spf_pass;
	out->verdict = dmarc_verdict;
	out->found = dmarc_verdict != POLICY_AUTH_DNSERR;
	bw_strlcpy(out->policy, "reject", sizeof(out->policy));
	bw_strlcpy(out->detail, "fake", sizeof(out->detail));
	bw_strlcpy(out->dnssec, fake_dnssec, sizeof(out->dnssec));
}

static const struct policy_env env = {fake_suspended, fake_reserve, NULL, NULL, NULL};
static const struct policy_env dns_env = {fake_suspended, fake_reserve, fake_spf, fake_dmarc,
					  NULL};

/* Whether check id failed in v, -1 if it was not run. */
static int
check_failed(const struct verdict *v, const char *id)
{
	for (size_t i = 0; i < v->n_checks; i++)
		if (strcmp(check_info(v->checks[i].id)->id, id) == 0)
			return v->checks[i].failed;
	return -1;
}

struct mail_row {
	const char *name;
	const char *login, *ip, *mail_from;
	int suspended, down;
	const char *want_identity; /* NULL: unregistered */
	enum bw_action want_now;   /* action applied at MAIL FROM */
	const char *want_decider;  /* NULL: nothing failed */
	const char *want_state;    /* lifecycle name or NULL */
};

static const struct mail_row mail_rows[] = {
	{"login ok", "svc-news", "10.20.0.5", "<a@news.example.com>", 0, 0, "newsletter",
	 BW_ACT_ACCEPT, NULL, "active"},
	{"login ok v6", "svc-news", "2001:db8:20::9", "<a@news.example.com>", 0, 0, "newsletter",
	 BW_ACT_ACCEPT, NULL, "active"},
	{"login wildcard domain", "svc-news", "10.20.0.5", "<b@x.bounce.example.com>", 0, 0,
	 "newsletter", BW_ACT_ACCEPT, NULL, "active"},
	{"wildcard does not match apex", "svc-news", "10.20.0.5", "<b@bounce.example.com>", 0, 0,
	 "newsletter", BW_ACT_REJECT, "envelope-domain", "active"},
	{"domain case-insensitive", "svc-news", "10.20.0.5", "<A@NEWS.Example.COM>", 0, 0,
	 "newsletter", BW_ACT_ACCEPT, NULL, "active"},
	{"unknown login", "svc-nobody", "10.20.0.5", "<a@news.example.com>", 0, 0, NULL,
	 BW_ACT_REJECT, "unregistered", NULL},
	{"login from outside networks", "svc-news", "192.0.2.7", "<a@news.example.com>", 0, 0,
	 "newsletter", BW_ACT_REJECT, "network", "active"},
	{"login without address", "svc-news", "", "<a@news.example.com>", 0, 0, "newsletter",
	 BW_ACT_REJECT, "network", "active"},
	{"login for another domain", "svc-news", "10.20.0.5", "<a@receipts.example.com>", 0, 0,
	 "newsletter", BW_ACT_REJECT, "envelope-domain", "active"},
	{"null sender", "svc-news", "10.20.0.5", "<>", 0, 0, "newsletter", BW_ACT_REJECT,
	 "envelope-domain", "active"},
	{"garbage sender", "svc-news", "10.20.0.5", "<a@@b>", 0, 0, "newsletter", BW_ACT_REJECT,
	 "envelope-domain", "active"},
	{"suspended", "svc-news", "10.20.0.5", "<a@news.example.com>", 1, 0, "newsletter",
	 BW_ACT_REJECT, "suspended", "active"},
	{"state store down", "svc-news", "10.20.0.5", "<a@news.example.com>", 0, 1, "newsletter",
	 BW_ACT_TEMPFAIL, "state-error", "active"},
	{"retired", "svc-old", "192.0.2.1", "<a@old.example.com>", 0, 0, "old", BW_ACT_REJECT,
	 "not-active", "retired"},
	{"pending: missing owner", "svc-unowned", "192.0.2.1", "<a@alerts.example.com>", 0, 0,
	 "unowned", BW_ACT_REJECT, "not-active", "pending"},
	{"pending: before activation", "svc-future", "192.0.2.1", "<a@future.example.com>", 0, 0,
	 "future", BW_ACT_REJECT, "not-active", "pending"},
	{"network attribution", "", "10.30.0.9", "<r@receipts.example.com>", 0, 0, "receipts",
	 BW_ACT_ACCEPT, NULL, "active"},
	{"network attribution picks by domain", "", "10.30.0.9", "<r@billing.example.com>", 0, 0,
	 "billing", BW_ACT_ACCEPT, NULL, "active"},
	{"wider network only", "", "10.30.9.9", "<r@billing.example.com>", 0, 0, "billing",
	 BW_ACT_ACCEPT, NULL, "active"},
	{"network but unknown domain", "", "10.30.0.9", "<r@evil.example>", 0, 0, NULL,
	 BW_ACT_REJECT, "unregistered", NULL},
	{"no login, no network", "", "192.0.2.1", "<r@receipts.example.com>", 0, 0, NULL,
	 BW_ACT_REJECT, "unregistered", NULL},
	{"no login, no address", "", "", "<r@receipts.example.com>", 0, 0, NULL, BW_ACT_REJECT,
	 "unregistered", NULL},
	{"network attribution null sender", "", "10.30.0.9", "<>", 0, 0, NULL, BW_ACT_REJECT,
	 "unregistered", NULL},
	{"monitor identity: would reject", "svc-trial", "192.0.2.1", "<a@evil.example>", 0, 0,
	 "trial", BW_ACT_ACCEPT, "envelope-domain", "active"},
	{"login with hostile bytes", "svc-news\r\nX: y", "10.20.0.5", "<a@news.example.com>", 0, 0,
	 NULL, BW_ACT_REJECT, "unregistered", NULL},
};

static void
test_mail(void **unused)
{
	for (size_t i = 0; i < sizeof(mail_rows) / sizeof(mail_rows[0]); i++) {
		const struct mail_row *t = &mail_rows[i];
		struct verdict v;
		struct mail_facts f = {.login = t->login, .client_ip = t->ip,
				       .mail_from = t->mail_from, .now = now_2026_06};
		f.have_addr = t->ip[0] && cidr_parse_addr(t->ip, &f.addr);
		suspend_news = t->suspended;
		store_down = t->down;
		policy_verdict_reset(&v);
		enum bw_action a = policy_mail(reg, &env, &f, &v);
		print_message("row: %s\n", t->name);
		if (t->want_identity == NULL)
			assert_null(v.identity);
		else {
			assert_non_null(v.identity);
			assert_string_equal(v.identity->id, t->want_identity);
			assert_string_equal(registry_life_name(v.life), t->want_state);
		}
		assert_int_equal(a, t->want_now);
		if (t->want_decider == NULL)
			assert_int_equal(v.decider, BW_CHK__COUNT);
		else
			assert_string_equal(check_info(v.decider)->id, t->want_decider);
		policy_end(&v);
	}
	suspend_news = store_down = 0;
}

static void
test_monitor_keeps_would(void **unused)
{
	struct verdict v;
	struct mail_facts f = {.login = "svc-trial", .client_ip = "", .mail_from = "<a@evil.example>",
			       .now = now_2026_06};
	policy_verdict_reset(&v);
	assert_int_equal(policy_mail(reg, &env, &f, &v), BW_ACT_ACCEPT);
	assert_true(v.monitor);
	assert_int_equal(v.would, BW_ACT_REJECT);
	assert_int_equal(policy_effective(&v), BW_ACT_ACCEPT);
	policy_end(&v);
}

static void
test_global_monitor(void **unused)
{
	static char text[8192];
	/* same registry, global monitor mode */
	const char *p = strstr(fixture_conf, "mode = \"enforce\"");
	assert_non_null(p);
	size_t pre = (size_t)(p - fixture_conf);
	snprintf(text, sizeof(text), "%.*smode = \"monitor\"%s", (int)pre, fixture_conf,
		 p + strlen("mode = \"enforce\""));
	struct registry *r = fixture_load(text);
	assert_non_null(r);
	struct verdict v;
	struct mail_facts f = {.login = "svc-nobody", .client_ip = "", .mail_from = "<a@b.example>",
			       .now = now_2026_06};
	policy_verdict_reset(&v);
	assert_int_equal(policy_mail(r, &env, &f, &v), BW_ACT_ACCEPT);
	assert_int_equal(v.would, BW_ACT_REJECT);
	assert_string_equal(check_info(v.decider)->id, "unregistered");
	policy_end(&v);
	registry_release(r);
}

/* The reason the decision event gives for v. */
static const char *
event_reason(const struct registry *r, const struct verdict *v, char *buf, size_t len)
{
	static struct jbuf j;
	struct event_msg em = {.event_id = "e1", .queue_id = "Q", .client_ip = "10.20.0.5",
			       .stage = "eom", .outcome = POLICY_OUT_ACCEPT, .xcode = ""};
	event_decision(&j, r, v, &em);
	const char *p = strstr(j.buf, "\"event.reason\":\"");
	assert_non_null(p);
	p += strlen("\"event.reason\":\"");
	size_t n = strcspn(p, "\"");
	snprintf(buf, len, "%.*s", (int)n, p);
	return buf;
}

/* SPEC §3: monitor mode accepts everything except a suspended identity,
 * which is refused with the suspension's action (reject or tempfail). */
struct monitor_row {
	const char *name;
	bool global;               /* global monitor mode (else the trial identity's) */
	const char *login, *ip, *mail_from;
	const char *suspended;     /* identity the overlay reports suspended, "" none */
	int down;                  /* the store is unreachable */
	int susp_action;           /* forced into the identity's actions, -1: leave */
	enum bw_action want;
	const char *want_decider; /* check whose reply the client gets, NULL: none */
};

static const struct monitor_row monitor_rows[] = {
	{"identity monitor, not suspended", false, "svc-trial", "192.0.2.1", "<t@trial.example.com>",
	 "", 0, -1, BW_ACT_ACCEPT, NULL},
	{"identity monitor, suspended", false, "svc-trial", "192.0.2.1", "<t@trial.example.com>",
	 "trial", 0, -1, BW_ACT_REJECT, "suspended"},
	{"identity monitor, suspended, other checks fail too", false, "svc-trial", "192.0.2.1",
	 "<t@evil.example>", "trial", 0, -1, BW_ACT_REJECT, "suspended"},
	{"identity monitor, suspension action tempfail", false, "svc-trial", "192.0.2.1",
	 "<t@evil.example>", "trial", 0, BW_ACT_TEMPFAIL, BW_ACT_TEMPFAIL, "suspended"},
	{"identity monitor, suspension action accept is refused anyway", false, "svc-trial",
	 "192.0.2.1", "<t@trial.example.com>", "trial", 0, BW_ACT_ACCEPT, BW_ACT_REJECT,
	 "suspended"},
	{"identity monitor, suspension action quarantine is refused anyway", false, "svc-trial",
	 "192.0.2.1", "<t@trial.example.com>", "trial", 0, BW_ACT_QUARANTINE, BW_ACT_REJECT,
	 "suspended"},
	{"identity monitor, suspension state unknown", false, "svc-trial", "192.0.2.1",
	 "<t@trial.example.com>", "", 1, -1, BW_ACT_TEMPFAIL, "state-error"},
	{"global monitor, not suspended", true, "svc-news", "10.20.0.5", "<n@news.example.com>", "",
	 0, -1, BW_ACT_ACCEPT, NULL},
	{"global monitor, suspended", true, "svc-news", "10.20.0.5", "<n@news.example.com>",
	 "newsletter", 0, -1, BW_ACT_REJECT, "suspended"},
	{"global monitor, unregistered still accepted", true, "svc-nobody", "10.20.0.5",
	 "<n@news.example.com>", "", 0, -1, BW_ACT_ACCEPT, NULL},
};

/* The fixture registry with global monitor mode. */
static struct registry *
monitor_registry(void)
{
	static char text[8192];
	const char *p = strstr(fixture_conf, "mode = \"enforce\"");
	assert_non_null(p);
	size_t pre = (size_t)(p - fixture_conf);
	snprintf(text, sizeof(text), "%.*smode = \"monitor\"%s", (int)pre, fixture_conf,
		 p + strlen("mode = \"enforce\""));
	return fixture_load(text);
}

static void
test_monitor_suspended(void **unused)
{
	struct registry *global = monitor_registry();
	assert_non_null(global);
	for (size_t i = 0; i < sizeof(monitor_rows) / sizeof(monitor_rows[0]); i++) {
		const struct monitor_row *t = &monitor_rows[i];
		struct registry *r = t->global ? global : reg;
		struct bw_identity *id = (struct bw_identity *)registry_by_login(r, t->login);
		enum bw_action saved = id ? id->actions[BW_CHK_SUSPENDED] : BW_ACT_ACCEPT;
		struct verdict v;
		struct mail_facts f = {.login = t->login, .client_ip = t->ip,
				       .mail_from = t->mail_from, .now = now_2026_06};
		char buf[VERDICT_DETAIL_MAX];
		f.have_addr = cidr_parse_addr(t->ip, &f.addr);
		print_message("row: %s\n", t->name);
		if (id != NULL && t->susp_action >= 0)
			id->actions[BW_CHK_SUSPENDED] = (enum bw_action)t->susp_action;
		suspend_also = t->suspended;
		store_down = t->down;
		policy_verdict_reset(&v);
		enum bw_action a = policy_mail(r, &env, &f, &v);
		assert_true(v.monitor);
		assert_int_equal(a, t->want);
		assert_int_equal(policy_effective(&v), t->want);
		if (t->want_decider == NULL) {
			assert_true(policy_decider(&v) == v.decider);
		} else {
			assert_string_equal(check_info(policy_decider(&v))->id, t->want_decider);
			const char *rc, *xc;
			char text[256];
			policy_reply(&v, policy_decider(&v), a, "ref1", &rc, &xc, text,
				     sizeof(text));
			assert_string_equal(rc, a == BW_ACT_REJECT ? "550" : "451");
			assert_non_null(strstr(text, t->want_decider));
			/* the event says why it was refused */
			assert_non_null(strstr(event_reason(r, &v, buf, sizeof(buf)),
					       t->down ? "unavailable" : "phishing"));
		}
		policy_end(&v);
		if (id != NULL)
			id->actions[BW_CHK_SUSPENDED] = saved;
	}
	suspend_also = "";
	store_down = 0;
	registry_release(global);
}

/* Attribute as newsletter (or another login) and feed headers. */
static enum bw_action
run_headers(const char *login, const char *mail_from, const char *const *hdrs, struct verdict *v)
{
	struct mail_facts f = {.login = login, .client_ip = "10.20.0.5", .mail_from = mail_from,
			       .now = now_2026_06};
	f.have_addr = cidr_parse_addr("10.20.0.5", &f.addr);
	policy_verdict_reset(v);
	policy_mail(reg, &env, &f, v);
	for (size_t i = 0; hdrs[i] != NULL; i += 2)
		assert_int_equal(policy_header(v, hdrs[i], hdrs[i + 1]), 0);
	return policy_eoh(reg, &env, v);
}

#define BASE "Date", "Mon, 1 Jun 2026 10:00:00 +0000", "Message-ID", "<1@news.example.com>"
#define UNSUB "List-Unsubscribe", "<https://news.example.com/u/1>, <mailto:u@news.example.com>", \
	"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"

struct hdr_row {
	const char *name;
	const char *login;
	const char *hdrs[16];
	enum bw_action want_now;   /* applied at end of headers */
	enum bw_action want_would; /* final severity */
	const char *want_decider;
};

static const struct hdr_row hdr_rows[] = {
	{"clean marketing", "svc-news", {"From", "News <n@news.example.com>", BASE, UNSUB}, BW_ACT_ACCEPT,
	 BW_ACT_ACCEPT, NULL},
	{"two From fields", "svc-news",
	 {"From", "n@news.example.com", "From", "x@evil.example", BASE, UNSUB}, BW_ACT_REJECT,
	 BW_ACT_REJECT, "rfc5322"},
	{"no From", "svc-news", {BASE, UNSUB}, BW_ACT_REJECT, BW_ACT_REJECT, "rfc5322"},
	{"From with two addresses", "svc-news",
	 {"From", "n@news.example.com, x@evil.example", BASE, UNSUB}, BW_ACT_REJECT, BW_ACT_REJECT,
	 "rfc5322"},
	{"From hiding an address", "svc-news",
	 {"From", "\"ceo@bank.example\" <n@news.example.com>", BASE, UNSUB}, BW_ACT_REJECT,
	 BW_ACT_REJECT, "rfc5322"},
	{"unparseable From", "svc-news", {"From", "<<n@news.example.com", BASE, UNSUB},
	 BW_ACT_REJECT, BW_ACT_REJECT, "rfc5322"},
	{"no Date", "svc-news",
	 {"From", "n@news.example.com", "Message-ID", "<1@x>", UNSUB}, BW_ACT_REJECT,
	 BW_ACT_REJECT, "rfc5322"},
	{"no Message-ID", "svc-news", {"From", "n@news.example.com", "Date", "x", UNSUB},
	 BW_ACT_REJECT, BW_ACT_REJECT, "rfc5322"},
	{"foreign From domain quarantined", "svc-news", {"From", "n@evil.example", BASE, UNSUB},
	 BW_ACT_ACCEPT, BW_ACT_QUARANTINE, "from-domain"},
	{"foreign From, identity tightened to reject", "svc-strict",
	 {"From", "n@evil.example", BASE}, BW_ACT_REJECT, BW_ACT_REJECT, "from-domain"},
	{"from_domains default to envelope_domains", "svc-strict",
	 {"From", "s@strict.example.com", BASE}, BW_ACT_ACCEPT, BW_ACT_ACCEPT, NULL},
	{"From domain compared case-insensitively", "svc-news",
	 {"From", "n@NEWS.Example.com", BASE, UNSUB}, BW_ACT_ACCEPT, BW_ACT_ACCEPT, NULL},
	{"trailing dot is not RFC 5322 syntax", "svc-news",
	 {"From", "n@news.example.com.", BASE, UNSUB}, BW_ACT_REJECT, BW_ACT_REJECT, "rfc5322"},
	{"IDN From domain matches its A-label", "svc-idn",
	 {"From", "n@b\xc3\xbc" "cher.example", BASE}, BW_ACT_ACCEPT, BW_ACT_ACCEPT, NULL},
	{"marketing without List-Unsubscribe", "svc-news",
	 {"From", "n@news.example.com", BASE}, BW_ACT_REJECT, BW_ACT_REJECT, "list-unsubscribe"},
	{"marketing mailto only", "svc-news",
	 {"From", "n@news.example.com", BASE, "List-Unsubscribe", "<mailto:u@news.example.com>",
	  "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
	 BW_ACT_REJECT, BW_ACT_REJECT, "list-unsubscribe"},
	{"marketing http (not https)", "svc-news",
	 {"From", "n@news.example.com", BASE, "List-Unsubscribe", "<http://news.example.com/u>",
	  "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
	 BW_ACT_REJECT, BW_ACT_REJECT, "list-unsubscribe"},
	{"marketing https URI without a host", "svc-news",
	 {"From", "n@news.example.com", BASE, "List-Unsubscribe", "<https:// >",
	  "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
	 BW_ACT_REJECT, BW_ACT_REJECT, "list-unsubscribe"},
	{"marketing https URI with an unclosed bracket", "svc-news",
	 {"From", "n@news.example.com", BASE, "List-Unsubscribe", "<https://x <mailto:a@b>",
	  "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
	 BW_ACT_REJECT, BW_ACT_REJECT, "list-unsubscribe"},
	{"marketing without Post", "svc-news",
	 {"From", "n@news.example.com", BASE, "List-Unsubscribe", "<https://news.example.com/u>"},
	 BW_ACT_REJECT, BW_ACT_REJECT, "list-unsubscribe"},
	{"marketing wrong Post value", "svc-news",
	 {"From", "n@news.example.com", BASE, "List-Unsubscribe", "<https://news.example.com/u>",
	  "List-Unsubscribe-Post", "List-Unsubscribe=Yes"},
	 BW_ACT_REJECT, BW_ACT_REJECT, "list-unsubscribe"},
	{"marketing two List-Unsubscribe", "svc-news",
	 {"From", "n@news.example.com", BASE, UNSUB, "List-Unsubscribe", "<https://evil.example/>"},
	 BW_ACT_REJECT, BW_ACT_REJECT, "list-unsubscribe"},
	{"List-Unsubscribe past its bound fails, is not cut into a pass", "svc-news",
	 {"From", "n@news.example.com", BASE, "List-Unsubscribe",
	  "<mailto:u@news.example.com>, <https://news.example.com/"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa>",
	  "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
	 BW_ACT_REJECT, BW_ACT_REJECT, "list-unsubscribe"},
	{"transactional needs no List-Unsubscribe", "svc-strict",
	 {"From", "s@strict.example.com", BASE}, BW_ACT_ACCEPT, BW_ACT_ACCEPT, NULL},
	{"header names are case-insensitive", "svc-news",
	 {"FROM", "n@news.example.com", "date", "x", "message-id", "<1@x>", "list-unsubscribe",
	  "<https://news.example.com/u>", "LIST-UNSUBSCRIBE-POST", " List-Unsubscribe=One-Click "},
	 BW_ACT_ACCEPT, BW_ACT_ACCEPT, NULL},
};

static void
test_headers(void **unused)
{
	for (size_t i = 0; i < sizeof(hdr_rows) / sizeof(hdr_rows[0]); i++) {
		const struct hdr_row *t = &hdr_rows[i];
		struct verdict v;
		const char *mf = strcmp(t->login, "svc-strict") == 0 ? "<s@strict.example.com>"
				 : strcmp(t->login, "svc-idn") == 0  ? "<n@xn--bcher-kva.example>"
								      : "<n@news.example.com>";
		print_message("row: %s\n", t->name);
		enum bw_action a = run_headers(t->login, mf, t->hdrs, &v);
		assert_int_equal(a, t->want_now);
		assert_int_equal(v.would, t->want_would);
		if (t->want_decider)
			assert_string_equal(check_info(v.decider)->id, t->want_decider);
		else
			assert_int_equal(check_failed(&v, "rfc5322"), 0);
		policy_end(&v);
	}
}

static void
test_from_oversized(void **unused)
{
	static char big[ADDR_FIELD_MAX + 100];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	const char *hdrs[] = {"From", big, BASE, UNSUB, NULL};
	struct verdict v;
	assert_int_equal(run_headers("svc-news", "<n@news.example.com>", hdrs, &v), BW_ACT_REJECT);
	assert_string_equal(check_info(v.decider)->id, "rfc5322");
	assert_non_null(strstr(check_detail(&v, "rfc5322"), "longer"));
	policy_end(&v);
}

static void
test_recipients(void **unused)
{
	struct verdict v;
	struct mail_facts f = {.login = "svc-news", .client_ip = "10.20.0.5",
			       .mail_from = "<n@news.example.com>", .now = now_2026_06};
	f.have_addr = cidr_parse_addr("10.20.0.5", &f.addr);
	policy_verdict_reset(&v);
	policy_mail(reg, &env, &f, &v);
	/* limit 3: the 4th and 5th are refused, the message is not */
	for (int i = 0; i < 3; i++)
		assert_int_equal(policy_rcpt(reg, &v), BW_ACT_ACCEPT);
	assert_int_equal(policy_rcpt(reg, &v), BW_ACT_REJECT);
	assert_int_equal(policy_rcpt(reg, &v), BW_ACT_REJECT);
	assert_int_equal(v.rcpt_accepted, 3);
	assert_int_equal(v.rcpt_refused, 2);
	assert_int_equal(v.would, BW_ACT_ACCEPT);
	assert_int_equal(check_failed(&v, "recipients"), 1);
	/* the message goes on, but its event does not say "all checks passed" */
	char why[VERDICT_DETAIL_MAX];
	assert_string_equal(event_reason(reg, &v, why, sizeof(why)),
			    "2 recipient(s) refused past the limit of 3");
	const char *rc, *xc;
	char text[256];
	policy_reply(&v, BW_CHK_RECIPIENTS, BW_ACT_REJECT, "abc", &rc, &xc, text, sizeof(text));
	assert_string_equal(rc, "452");
	assert_string_equal(xc, "4.5.3");
	assert_non_null(strstr(text, "[recipients]"));
	policy_end(&v);

	/* identity limit tighter than baseline */
	f.login = "svc-strict";
	f.mail_from = "<s@strict.example.com>";
	policy_verdict_reset(&v);
	policy_mail(reg, &env, &f, &v);
	assert_int_equal(policy_rcpt(reg, &v), BW_ACT_ACCEPT);
	assert_int_equal(policy_rcpt(reg, &v), BW_ACT_REJECT);
	policy_end(&v);

	/* local submission: never refuse a recipient, act on the message */
	f.login = "svc-news";
	f.mail_from = "<n@news.example.com>";
	f.non_smtp = true;
	policy_verdict_reset(&v);
	policy_mail(reg, &env, &f, &v);
	for (int i = 0; i < 5; i++)
		assert_int_equal(policy_rcpt(reg, &v), BW_ACT_ACCEPT);
	assert_int_equal(v.would, BW_ACT_REJECT);
	policy_reply(&v, v.decider, BW_ACT_REJECT, "r", &rc, &xc, text, sizeof(text));
	assert_string_equal(rc, "550");
	assert_string_equal(xc, "5.5.3");
	assert_non_null(strstr(text, "[recipients]"));
	policy_end(&v);
}

struct reply_row {
	const char *login, *mail_from;
	const char *rcode, *xcode, *tag;
	const char *must_not_contain;
};

static const struct reply_row reply_rows[] = {
	{"svc-nobody", "<a@news.example.com>", "550", "5.7.1", "[unregistered]", "svc-nobody"},
	{"svc-old", "<a@old.example.com>", "550", "5.7.1", "[not-active]", NULL},
	{"svc-news", "<a@evil.example>", "553", "5.7.1", "[envelope-domain]", "evil"},
};

static void
test_replies(void **unused)
{
	for (size_t i = 0; i < sizeof(reply_rows) / sizeof(reply_rows[0]); i++) {
		const struct reply_row *t = &reply_rows[i];
		struct verdict v;
		struct mail_facts f = {.login = t->login, .client_ip = "10.20.0.5",
				       .mail_from = t->mail_from, .now = now_2026_06};
		f.have_addr = cidr_parse_addr("10.20.0.5", &f.addr);
		policy_verdict_reset(&v);
		enum bw_action a = policy_mail(reg, &env, &f, &v);
		const char *rc, *xc;
		char text[256];
		policy_reply(&v, v.decider, a, "0123abcd", &rc, &xc, text, sizeof(text));
		assert_string_equal(rc, t->rcode);
		assert_string_equal(xc, t->xcode);
		assert_non_null(strstr(text, t->tag));
		assert_non_null(strstr(text, "(ref 0123abcd)"));
		if (t->must_not_contain)
			assert_null(strstr(text, t->must_not_contain));
		policy_end(&v);
	}
}

static void
test_tempfail_reply(void **unused)
{
	struct verdict v;
	policy_verdict_reset(&v);
	const char *rc, *xc;
	char text[256];
	policy_reply(&v, BW_CHK_STATE_ERROR, BW_ACT_TEMPFAIL, "r", &rc, &xc, text, sizeof(text));
	assert_string_equal(rc, "451");
	assert_string_equal(xc, "4.3.0");
	policy_reply(&v, BW_CHK_DNS_ERROR, BW_ACT_TEMPFAIL, "r", &rc, &xc, text, sizeof(text));
	assert_string_equal(xc, "4.4.3");
	policy_reply(&v, BW_CHK_RFC5322, BW_ACT_REJECT, "r", &rc, &xc, text, sizeof(text));
	assert_string_equal(rc, "550");
	assert_string_equal(xc, "5.6.0");
	policy_end(&v);
}

static void
test_rate_limit(void **unused)
{
	struct verdict v;
	struct mail_facts f = {.login = "svc-limited", .client_ip = "192.0.2.1",
			       .mail_from = "<l@limited.example.com>", .now = now_2026_06};
	reserved = 0;
	for (int i = 0; i < 2; i++) {
		policy_verdict_reset(&v);
		assert_int_equal(policy_mail(reg, &env, &f, &v), BW_ACT_ACCEPT);
		assert_true(v.reserved);
		assert_int_equal(check_failed(&v, "rate-limit"), 0);
		policy_end(&v);
	}
	policy_verdict_reset(&v);
	assert_int_equal(policy_mail(reg, &env, &f, &v), BW_ACT_TEMPFAIL);
	assert_false(v.reserved);
	assert_string_equal(check_info(v.decider)->id, "rate-limit");
	const char *rc, *xc;
	char text[256];
	policy_reply(&v, v.decider, BW_ACT_TEMPFAIL, "r", &rc, &xc, text, sizeof(text));
	assert_string_equal(rc, "451");
	assert_string_equal(xc, "4.7.28");
	assert_non_null(strstr(text, "[rate-limit]"));
	policy_end(&v);

	/* a message already refused takes no slot */
	reserved = 0;
	f.mail_from = "<l@elsewhere.example>";
	policy_verdict_reset(&v);
	assert_int_equal(policy_mail(reg, &env, &f, &v), BW_ACT_REJECT);
	assert_false(v.reserved);
	assert_int_equal(reserved, 0);
	assert_int_equal(check_failed(&v, "rate-limit"), -1);
	policy_end(&v);

	/* counters unavailable: state-error, fail closed */
	reserve_fails = 1;
	f.mail_from = "<l@limited.example.com>";
	policy_verdict_reset(&v);
	assert_int_equal(policy_mail(reg, &env, &f, &v), BW_ACT_TEMPFAIL);
	assert_string_equal(check_info(v.decider)->id, "state-error");
	policy_end(&v);
	reserve_fails = 0;
}

struct auth_row {
	const char *name;
	enum policy_auth spf, dmarc;
	enum bw_action want_mail, want_would;
	const char *want_decider;
	int want_dmarc_calls;
};

static const struct auth_row auth_rows[] = {
	{"both pass", POLICY_AUTH_PASS, POLICY_AUTH_PASS, BW_ACT_ACCEPT, BW_ACT_ACCEPT, NULL, 1},
	{"SPF fails: quarantine", POLICY_AUTH_FAIL, POLICY_AUTH_PASS, BW_ACT_ACCEPT,
	 BW_ACT_QUARANTINE, "spf", 1},
	{"SPF DNS error: tempfail at MAIL, no DMARC lookup", POLICY_AUTH_DNSERR, POLICY_AUTH_PASS,
	 BW_ACT_TEMPFAIL, BW_ACT_TEMPFAIL, "dns-error", 0},
	{"DMARC fails: quarantine", POLICY_AUTH_PASS, POLICY_AUTH_FAIL, BW_ACT_ACCEPT,
	 BW_ACT_QUARANTINE, "dmarc", 1},
	{"DMARC DNS error: tempfail", POLICY_AUTH_PASS, POLICY_AUTH_DNSERR, BW_ACT_ACCEPT,
	 BW_ACT_TEMPFAIL, "dns-error", 1},
};

static void
test_spf_dmarc(void **unused)
{
	/* a registry with an egress address (the fixture has none) */
	static char text[8192];
	snprintf(text, sizeof(text), "relay = { egress_ips = [\"192.0.2.25\"]; };\n%s",
		 fixture_conf);
	struct registry *r = fixture_load(text);
	assert_non_null(r);
	for (size_t i = 0; i < sizeof(auth_rows) / sizeof(auth_rows[0]); i++) {
		const struct auth_row *t = &auth_rows[i];
		struct verdict v;
		struct mail_facts f = {.login = "svc-strict", .client_ip = "192.0.2.1",
				       .mail_from = "<s@strict.example.com>", .now = now_2026_06};
		print_message("row: %s\n", t->name);
		spf_verdict = t->spf;
		dmarc_verdict = t->dmarc;
		spf_calls = dmarc_calls = 0;
		policy_verdict_reset(&v);
		assert_int_equal(policy_mail(r, &dns_env, &f, &v), t->want_mail);
		assert_int_equal(spf_calls, 1);
		assert_int_equal(policy_header(&v, "From", "s@strict.example.com"), 0);
		assert_int_equal(policy_header(&v, "Date", "x"), 0);
		assert_int_equal(policy_header(&v, "Message-ID", "<1@s>"), 0);
		policy_eoh(r, &dns_env, &v);
		assert_int_equal(dmarc_calls, t->want_dmarc_calls);
		assert_int_equal(v.would, t->want_would);
		if (t->want_decider)
			assert_string_equal(check_info(v.decider)->id, t->want_decider);
		if (t->want_dmarc_calls)
			assert_int_equal(dmarc_saw_spf_pass, t->spf == POLICY_AUTH_PASS);
		policy_end(&v);
	}
	/* an identity's own egress_ips override the relay's */
	{
		static char text2[8192];
		const char *p = strstr(fixture_conf, "max_recipients = 1;");
		assert_non_null(p);
		snprintf(text2, sizeof(text2),
			 "relay = { egress_ips = [\"192.0.2.25\"]; };\n%.*smax_recipients = 1; "
			 "egress_ips = [\"198.51.100.9\"];%s",
			 (int)(p - fixture_conf), fixture_conf, p + strlen("max_recipients = 1;"));
		struct registry *r2 = fixture_load(text2);
		assert_non_null(r2);
		struct verdict v2;
		struct mail_facts f2 = {.login = "svc-strict", .client_ip = "192.0.2.1",
					.mail_from = "<s@strict.example.com>", .now = now_2026_06};
		spf_verdict = POLICY_AUTH_PASS;
		policy_verdict_reset(&v2);
		policy_mail(r2, &dns_env, &f2, &v2);
		assert_string_equal(last_spf_ip, "198.51.100.9");
		assert_string_equal(v2.spf_ip, "198.51.100.9");
		policy_end(&v2);
		registry_release(r2);
	}
	/* no egress address configured: no SPF prediction at all */
	struct verdict v;
	struct mail_facts f = {.login = "svc-strict", .client_ip = "192.0.2.1",
			       .mail_from = "<s@strict.example.com>", .now = now_2026_06};
	spf_calls = 0;
	policy_verdict_reset(&v);
	policy_mail(reg, &dns_env, &f, &v);
	assert_int_equal(spf_calls, 0);
	assert_false(v.spf_done);
	policy_end(&v);
	registry_release(r);
}

/* The decision event says whether the SPF and DMARC answers were
 * DNSSEC-validated (dns.dnssec), and says nothing of it when it is off. */
static void
test_dnssec_event(void **unused)
{
	static char text[8192];
	static struct jbuf j;
	snprintf(text, sizeof(text), "relay = { egress_ips = [\"192.0.2.25\"]; };\n%s",
		 fixture_conf);
	struct registry *r = fixture_load(text);
	assert_non_null(r);
	static const char *const states[] = {"", "signed", "unsigned"};
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		struct verdict v;
		struct mail_facts f = {.login = "svc-strict", .client_ip = "192.0.2.1",
				       .mail_from = "<s@strict.example.com>", .now = now_2026_06};
		struct event_msg m = {.event_id = "e1", .queue_id = "", .client_ip = "192.0.2.1",
				      .stage = "eoh", .outcome = POLICY_OUT_ACCEPT, .xcode = ""};
		char want[96];
		spf_verdict = dmarc_verdict = POLICY_AUTH_PASS;
		fake_dnssec = states[i];
		policy_verdict_reset(&v);
		policy_mail(r, &dns_env, &f, &v);
		assert_int_equal(policy_header(&v, "From", "s@strict.example.com"), 0);
		assert_int_equal(policy_header(&v, "Date", "x"), 0);
		assert_int_equal(policy_header(&v, "Message-ID", "<1@s>"), 0);
		policy_eoh(r, &dns_env, &v);
		event_decision(&j, r, &v, &m);
		if (states[i][0] == '\0') {
			assert_null(strstr(j.buf, "dnssec"));
		} else {
			snprintf(want, sizeof(want), "\"bulkwarden.spf.dnssec\":\"%s\"", states[i]);
			assert_non_null(strstr(j.buf, want));
			snprintf(want, sizeof(want), "\"bulkwarden.dmarc.dnssec\":\"%s\"", states[i]);
			assert_non_null(strstr(j.buf, want));
		}
		policy_end(&v);
	}
	fake_dnssec = "";
	registry_release(r);
}

/* The fake waiver view: the check waivers of "newsletter" (any identity
 * when waive_any), as the overlay would hand them. */
static enum bw_check waived[4];
static size_t n_waived;
static int waive_any;

static size_t
fake_waivers(void *ctx, const char *id, long long now, struct policy_waiver *out, size_t max)
{
	size_t k = 0;
	if (!waive_any && strcmp(id, "newsletter") != 0)
		return 0;
	for (size_t i = 0; i < n_waived && k < max; i++, k++) {
		memset(&out[k], 0, sizeof(out[k]));
		out[k].check = waived[i];
		out[k].wid = (long long)i + 7;
		out[k].until = now + 3600;
		bw_strlcpy(out[k].ticket, "CHG-1", sizeof(out[k].ticket));
	}
	return k;
}

static const struct policy_env waiver_env = {fake_suspended, fake_reserve, NULL, NULL,
					     fake_waivers};

/* The check entry of id in v (NULL if not run). */
static const struct verdict_check *
check_of(const struct verdict *v, const char *id)
{
	for (size_t i = 0; i < v->n_checks; i++)
		if (strcmp(check_info(v->checks[i].id)->id, id) == 0)
			return &v->checks[i];
	return NULL;
}

/*
 * SPEC §9 waivers: a waived check still runs and fails, with action accept
 * and the waiver named in the event; other checks keep their actions; a
 * waiver of the suspension (or unregistered, not-active, state-error)
 * found in the overlay is ignored; monitor mode's `would` is not raised by
 * a waived check; a resource failure is not excused.
 */
static void
test_waivers(void **unused)
{
	static const char *const no_one_click[] = {"From", "News <n@news.example.com>", BASE,
						   "List-Unsubscribe", "<https://news.example.com/u/1>",
						   NULL};
	static const char *const foreign_from[] = {"From", "n@other.example", BASE, UNSUB, NULL};
	struct verdict v;
	char reason[256];
	struct mail_facts f = {.login = "svc-news", .client_ip = "10.20.0.5",
			       .mail_from = "<n@news.example.com>", .now = now_2026_06};
	f.have_addr = cidr_parse_addr("10.20.0.5", &f.addr);

	/* without a waiver: refused at end of headers */
	n_waived = 0;
	policy_verdict_reset(&v);
	policy_mail(reg, &waiver_env, &f, &v);
	for (size_t i = 0; no_one_click[i] != NULL; i += 2)
		assert_int_equal(policy_header(&v, no_one_click[i], no_one_click[i + 1]), 0);
	assert_int_equal(policy_eoh(reg, &waiver_env, &v), BW_ACT_REJECT);
	policy_end(&v);

	/* waived: accepted, the check failed with action accept and its waiver */
	waived[0] = BW_CHK_LIST_UNSUBSCRIBE;
	n_waived = 1;
	policy_verdict_reset(&v);
	policy_mail(reg, &waiver_env, &f, &v);
	assert_int_equal(v.n_waivers, 1);
	for (size_t i = 0; no_one_click[i] != NULL; i += 2)
		assert_int_equal(policy_header(&v, no_one_click[i], no_one_click[i + 1]), 0);
	assert_int_equal(policy_eoh(reg, &waiver_env, &v), BW_ACT_ACCEPT);
	assert_int_equal(policy_effective(&v), BW_ACT_ACCEPT);
	assert_int_equal(v.decider, BW_CHK__COUNT);
	const struct verdict_check *k = check_of(&v, "list-unsubscribe");
	assert_non_null(k);
	assert_true(k->failed);
	assert_int_equal(k->action, BW_ACT_ACCEPT);
	assert_int_equal(k->waiver, 1);
	assert_string_equal(event_reason(reg, &v, reason, sizeof(reason)),
			    "waived list-unsubscribe: no List-Unsubscribe-Post");
	static struct jbuf j;
	struct event_msg em = {.event_id = "e1", .queue_id = "Q", .client_ip = "10.20.0.5",
			       .stage = "eom", .outcome = POLICY_OUT_ACCEPT, .xcode = ""};
	event_decision(&j, reg, &v, &em);
	assert_non_null(strstr(j.buf, "\"action\":\"accept\",\"detail\":\"no List-Unsubscribe-Post\","
				      "\"waived\":{\"id\":7,\"ticket\":\"CHG-1\",\"until\":\"2026-06-01T01:00:00.000Z\"}"));
	policy_end(&v);

	/* the waiver covers its check only: a foreign From still acts */
	policy_verdict_reset(&v);
	policy_mail(reg, &waiver_env, &f, &v);
	for (size_t i = 0; foreign_from[i] != NULL; i += 2)
		assert_int_equal(policy_header(&v, foreign_from[i], foreign_from[i + 1]), 0);
	policy_eoh(reg, &waiver_env, &v);
	assert_true(policy_effective(&v) != BW_ACT_ACCEPT);
	assert_string_equal(check_info(v.decider)->id, "from-domain");
	assert_int_equal(check_of(&v, "from-domain")->waiver, 0);
	policy_end(&v);

	/* a resource failure of a waived check is not excused */
	waived[1] = BW_CHK_DKIM;
	n_waived = 2;
	policy_verdict_reset(&v);
	policy_mail(reg, &waiver_env, &f, &v);
	policy_fail_as(reg, &v, BW_CHK_DKIM, BW_ACT_TEMPFAIL, "out of memory");
	assert_int_equal(policy_effective(&v), BW_ACT_TEMPFAIL);
	assert_int_equal(check_of(&v, "dkim")->waiver, 0);
	policy_end(&v);
	/* ... while its ordinary failure is */
	policy_verdict_reset(&v);
	policy_mail(reg, &waiver_env, &f, &v);
	policy_fail(reg, &v, BW_CHK_DKIM, "no valid signature");
	assert_int_equal(policy_effective(&v), BW_ACT_ACCEPT);
	assert_int_equal(check_of(&v, "dkim")->waiver, 2);
	policy_end(&v);

	/* a suspension is never waived, even if the overlay claims a waiver */
	waived[0] = BW_CHK_SUSPENDED;
	waived[1] = BW_CHK_STATE_ERROR;
	n_waived = 2;
	suspend_news = 1;
	policy_verdict_reset(&v);
	assert_int_equal(policy_mail(reg, &waiver_env, &f, &v), BW_ACT_REJECT);
	assert_string_equal(check_info(policy_decider(&v))->id, "suspended");
	assert_int_equal(check_of(&v, "suspended")->waiver, 0);
	policy_end(&v);
	suspend_news = 0;
	store_down = 1;
	policy_verdict_reset(&v);
	assert_true(policy_refuses(policy_mail(reg, &waiver_env, &f, &v)));
	assert_string_equal(check_info(policy_decider(&v))->id, "state-error");
	policy_end(&v);
	store_down = 0;
	/* unregistered and not-active cannot be waived either */
	waived[0] = BW_CHK_UNREGISTERED;
	waived[1] = BW_CHK_NOT_ACTIVE;
	waive_any = 1;
	struct mail_facts old = {.login = "svc-old", .client_ip = "", .mail_from = "<a@old.example.com>",
				 .now = now_2026_06};
	policy_verdict_reset(&v);
	assert_int_equal(policy_mail(reg, &waiver_env, &old, &v), BW_ACT_REJECT);
	policy_end(&v);
	struct mail_facts nobody = {.login = "svc-nobody", .client_ip = "",
				    .mail_from = "<a@b.example>", .now = now_2026_06};
	policy_verdict_reset(&v);
	assert_int_equal(policy_mail(reg, &waiver_env, &nobody, &v), BW_ACT_REJECT);
	policy_end(&v);

	/* monitor mode (the trial identity): a waived check does not raise would */
	waived[0] = BW_CHK_ENVELOPE_DOMAIN;
	n_waived = 1;
	struct mail_facts trial = {.login = "svc-trial", .client_ip = "",
				   .mail_from = "<a@evil.example>", .now = now_2026_06};
	policy_verdict_reset(&v);
	assert_int_equal(policy_mail(reg, &waiver_env, &trial, &v), BW_ACT_ACCEPT);
	assert_true(v.monitor);
	assert_int_equal(v.would, BW_ACT_ACCEPT);
	assert_int_equal(check_of(&v, "envelope-domain")->waiver, 1);
	policy_end(&v);
	waive_any = 0;
	n_waived = 0;
}

static int
setup(void **unused)
{
	assert_true(bw_parse_date("2026-06-01", &now_2026_06));
	reg = fixture_load(fixture_conf);
	return reg == NULL ? -1 : 0;
}

static int
teardown(void **unused)
{
	registry_release(reg);
	fixture_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_monitor_keeps_would),
		cmocka_unit_test(test_global_monitor),
		cmocka_unit_test(test_monitor_suspended),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_from_oversized),
		cmocka_unit_test(test_recipients),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_tempfail_reply),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_spf_dmarc),
		cmocka_unit_test(test_dnssec_event),
		cmocka_unit_test(test_waivers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
