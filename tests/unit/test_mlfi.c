/*
 * test_mlfi.c - the libmilter callbacks driven in-process through the
 * seam (milter/seam.h test mode): what they ask of the MTA (replies,
 * quarantine), the decision event each message yields, that nothing of one
 * message reaches the next one's event, and that a message keeps the
 * runtime snapshot it pinned across a reload. No MTA, no network: DNS
 * preflight points at a closed loopback port and its failures are accepted
 * by the test registry.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dkim/bwdkey.h"
#include "log/eventlog.h"
#include "milter/mlfi.h"
#include "milter/runtime.h"
#include "milter/seam.h"
#include "tests/unit/fixture.h"

#define EVENTS_MAX 8
#define EVENT_LINE_MAX 8192
#define SIGNED_MESSAGES 4 /* messages signed through the callbacks */

/* The registry: one identity by network, one that signs with an RSA and an
 * Ed25519 key (paths filled in by setup()). */
static const char conf_fmt[] =
    "dns = { nameservers = [\"127.0.0.1:1\"]; timeout = 1; };\n"
    "policy = { mode = \"enforce\"; max_recipients = 2;\n"
    "  actions = { dns-error = \"accept\"; dmarc = \"accept\"; from-domain = \"quarantine\"; }; "
    "};\n"
    "identities = (\n"
    " { id = \"receipts\"; description = \"receipts\"; class = \"transactional\";\n"
    "   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = "
    "\"c@x.example\"; };\n"
    "   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-2\"; };\n"
    "   credentials = { networks = [\"10.30.0.0/24\"]; };\n"
    "   envelope_domains = [\"receipts.example.com\"]; },\n"
    " { id = \"signer\"; description = \"signs\"; class = \"transactional\";\n"
    "   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = "
    "\"c@x.example\"; };\n"
    "   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-3\"; };\n"
    "   credentials = { logins = [\"svc-signer\"]; };\n"
    "   envelope_domains = [\"signer.example.com\"];\n"
    "   dkim = ( { domain = \"signer.example.com\"; selector = \"r1\"; key = \"%s/rsa.pem\"; },\n"
    "            { domain = \"signer.example.com\"; selector = \"e1\"; key = \"%s/ed.pem\"; } ); "
    "}\n"
    ");\n";
static char conf_a[sizeof(conf_fmt) + 2 * 600];
static char conf_rsa[sizeof(conf_a)]; /* the same without the Ed25519 key */

static char events_path[600];
static char events[EVENTS_MAX][EVENT_LINE_MAX];
static size_t n_events;

/* Build and publish a runtime for config text (a comment makes another
 * revision of the same rules). */
static struct runtime *
publish(const char *text)
{
	char err[512];
	struct registry *r = fixture_load(text);
	assert_non_null(r);
	struct runtime *rt = runtime_new(r, err, sizeof(err));
	if (rt == NULL)
		fail_msg("runtime_new: %s", err);
	registry_release(r);
	runtime_publish(runtime_retain(rt));
	return rt; /* the caller's reference */
}

/* Read the events written since the last call (closing the log drains it). */
static void
read_events(void)
{
	eventlog_close();
	FILE *f = fopen(events_path, "r");
	assert_non_null(f);
	n_events = 0;
	while (n_events < EVENTS_MAX && fgets(events[n_events], EVENT_LINE_MAX, f) != NULL)
		n_events++;
	fclose(f);
	assert_int_equal(eventlog_open("file", events_path, NULL), 0);
	FILE *t = fopen(events_path, "w"); /* empty for the next read */
	if (t != NULL)
		fclose(t);
	eventlog_reopen();
}

/* A fresh private key of this type written to dir/name, mode 0600. */
static void
write_key(const char *name, EVP_PKEY *pk)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", fixture_dir(), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(pk);
}

static int
setup(void **unused)
{
	char err[256];
	(void)unused;
	seam_testmode = true;
	if (bwdkey_init(err, sizeof(err)) != 0)
		fail_msg("bwdkey_init: %s", err);
	struct registry *r0 = fixture_load(""); /* creates fixture_dir() */
	assert_non_null(r0);
	registry_release(r0);
	write_key("rsa.pem", EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
	write_key("ed.pem", EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	snprintf(conf_a, sizeof(conf_a), conf_fmt, fixture_dir(), fixture_dir());
	char *e1 =
	    strstr(conf_a, ",\n            { domain = \"signer.example.com\"; selector = \"e1\"");
	assert_non_null(e1);
	snprintf(conf_rsa, sizeof(conf_rsa), "%.*s%s", (int)(e1 - conf_a), conf_a,
		 strstr(e1, " ); }"));
#ifdef BW_TEST_PEM_BYPASS
	return 0; /* the test itself loads */
#endif
	runtime_release(publish(conf_a));
	snprintf(events_path, sizeof(events_path), "%s/events.jsonl", fixture_dir());
	assert_int_equal(eventlog_open("file", events_path, NULL), 0);
	return 0;
}

static int
teardown(void **unused)
{
	(void)unused;
	eventlog_close();
	runtime_publish(NULL);
	bwdkey_shutdown();
	fixture_cleanup();
	return 0;
}

/* A connection from addr (IPv4 text), negotiated as Postfix would. */
static void
connect_from(struct seam_test *t, const char *addr)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	unsigned long f0, f1, f2, f3;
	assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	assert_int_equal(mlfi_desc.xxfi_negotiate((SMFICTX *)t,
						  SMFIF_QUARANTINE | SMFIF_ADDHDRS | SMFIF_CHGHDRS |
						      SMFIF_SETSYMLIST,
						  0x1fffff, 0, 0, &f0, &f1, &f2, &f3),
			 SMFIS_CONTINUE);
	mlfi_desc.xxfi_connect((SMFICTX *)t, "client.example", (struct sockaddr *)&sin);
}

/* MAIL FROM; returns the callback's status. */
static sfsistat
mail(struct seam_test *t, const char *from)
{
	char *argv[] = {(char *)from, NULL};
	return mlfi_desc.xxfi_envfrom((SMFICTX *)t, argv);
}

/* One header. */
static void
header(struct seam_test *t, const char *name, const char *value)
{
	mlfi_desc.xxfi_header((SMFICTX *)t, (char *)name, (char *)value);
}

/* Headers of a well-formed message From from_addr, body, end. */
static sfsistat
message(struct seam_test *t, const char *from_addr, const char *msgid)
{
	char *rcpt[] = {"<a@example.net>", NULL};
	assert_int_equal(mlfi_desc.xxfi_envrcpt((SMFICTX *)t, rcpt), SMFIS_CONTINUE);
	header(t, "From", from_addr);
	header(t, "Date", " Sat, 5 Dec 2026 07:00:00 +0000");
	header(t, "Message-ID", msgid);
	header(t, "Subject", " hello");
	sfsistat s = mlfi_desc.xxfi_eoh((SMFICTX *)t);
	if (s != SMFIS_CONTINUE)
		return s;
	mlfi_desc.xxfi_body((SMFICTX *)t, (unsigned char *)"hi\r\n", 4);
	return mlfi_desc.xxfi_eom((SMFICTX *)t);
}

/* Close the connection (frees its context). */
static void
disconnect(struct seam_test *t)
{
	mlfi_desc.xxfi_close((SMFICTX *)t);
	assert_null(t->priv);
}

/* true when event line e holds the JSON fragment frag. */
static bool
has(size_t e, const char *frag)
{
	return e < n_events && strstr(events[e], frag) != NULL;
}

#ifndef BW_TEST_PEM_BYPASS
/* The callback table registers abort and close (one cleanup for both). */
static void
test_desc(void **unused)
{
	(void)unused;
	assert_non_null(mlfi_desc.xxfi_abort);
	assert_non_null(mlfi_desc.xxfi_close);
	assert_non_null(mlfi_desc.xxfi_eom);
}

/* Unregistered at MAIL FROM: 550 with the check in brackets and the event
 * id as ref; a reject event. */
static void
test_unregistered(void **unused)
{
	(void)unused;
	const char *const macros[] = {"i", "Q1", NULL};
	struct seam_test t = {.macros = macros};
	connect_from(&t, "192.0.2.9");
	assert_int_equal(mail(&t, "<x@receipts.example.com>"), SMFIS_REJECT);
	assert_string_equal(t.rcode, "550");
	assert_string_equal(t.xcode, "5.7.1");
	assert_non_null(strstr(t.text, "[unregistered]"));
	assert_non_null(strstr(t.text, "(ref "));
	disconnect(&t);
	read_events();
	assert_int_equal(n_events, 1);
	assert_true(has(0, "\"event.action\":\"reject\""));
	assert_true(has(0, "\"email.local_id\":\"Q1\""));
}

/*
 * Two messages on one connection: the first accepted with its From,
 * Message-ID and size; the second abandoned after MAIL FROM. The second
 * event carries none of the first message's facts (the reset).
 */
static void
test_two_messages(void **unused)
{
	(void)unused;
	struct seam_test t = {0};
	connect_from(&t, "10.30.0.5");
	assert_int_equal(mail(&t, "<news@receipts.example.com>"), SMFIS_CONTINUE);
	assert_int_equal(message(&t, " <a@receipts.example.com>", " <m1@receipts.example.com>"),
			 SMFIS_CONTINUE);
	assert_int_equal(t.n_replies, 0);
	assert_false(t.quarantined);
	assert_int_equal(mail(&t, "<news@receipts.example.com>"), SMFIS_CONTINUE);
	mlfi_desc.xxfi_abort((SMFICTX *)&t);
	disconnect(&t);
	read_events();
	assert_int_equal(n_events, 2);
	assert_true(has(0, "\"event.action\":\"accept\""));
	assert_true(has(0, "\"email.from.address\":\"a@receipts.example.com\""));
	assert_true(has(0, "\"email.message_id\":\"<m1@receipts.example.com>\""));
	assert_true(has(0, "\"bulkwarden.envelope.rcpt_count\":1"));
	assert_true(has(1, "\"event.action\":\"abort\""));
	assert_true(has(1, "\"event.outcome\":\"unknown\""));
	assert_false(has(1, "email.from.address"));
	assert_false(has(1, "email.message_id"));
	assert_false(has(1, "m1@"));
	assert_true(has(1, "\"bulkwarden.envelope.rcpt_count\":0"));
	assert_true(has(1, "\"bulkwarden.size\":0"));
}

/* A From domain outside from_domains is quarantined (this registry's
 * action); when the MTA refuses to quarantine, the message is tempfailed,
 * never accepted silently. */
static void
test_quarantine(void **unused)
{
	(void)unused;
	struct seam_test t = {0};
	connect_from(&t, "10.30.0.5");
	assert_int_equal(mail(&t, "<news@receipts.example.com>"), SMFIS_CONTINUE);
	assert_int_equal(message(&t, " <a@elsewhere.example>", " <q1@x>"), SMFIS_CONTINUE);
	assert_true(t.quarantined);
	assert_non_null(strstr(t.reason, "[from-domain]"));

	t.fail_quarantine = true;
	assert_int_equal(mail(&t, "<news@receipts.example.com>"), SMFIS_CONTINUE);
	assert_int_equal(message(&t, " <a@elsewhere.example>", " <q2@x>"), SMFIS_TEMPFAIL);
	assert_string_equal(t.rcode, "451");
	disconnect(&t);
	read_events();
	assert_int_equal(n_events, 2);
	assert_true(has(0, "\"event.action\":\"quarantine\""));
	assert_true(has(1, "\"event.action\":\"tempfail\""));
	assert_true(has(1, "quarantine refused by MTA"));
}

/* A message keeps the runtime it pinned at MAIL FROM while a reload
 * publishes another; its event names the old revision, the next message
 * the new one. The old runtime is freed with its last message (ASan would
 * see a use after free). */
static void
test_reload_pins(void **unused)
{
	(void)unused;
	struct runtime *cur = runtime_current();
	assert_non_null(cur);
	char rev_a[17], rev_b[17], frag[64];
	snprintf(rev_a, sizeof(rev_a), "%.16s", cur->reg->revision);
	runtime_release(cur);

	struct seam_test t = {0};
	connect_from(&t, "10.30.0.5");
	assert_int_equal(mail(&t, "<news@receipts.example.com>"), SMFIS_CONTINUE);
	char text[sizeof(conf_a) + 32];
	snprintf(text, sizeof(text), "# reloaded\n%s", conf_a);
	struct runtime *b = publish(text);
	snprintf(rev_b, sizeof(rev_b), "%.16s", b->reg->revision);
	runtime_release(b);
	assert_string_not_equal(rev_a, rev_b);
	assert_int_equal(message(&t, " <a@receipts.example.com>", " <r1@x>"), SMFIS_CONTINUE);
	assert_int_equal(mail(&t, "<news@receipts.example.com>"), SMFIS_CONTINUE);
	assert_int_equal(message(&t, " <a@receipts.example.com>", " <r2@x>"), SMFIS_CONTINUE);
	disconnect(&t);
	read_events();
	assert_int_equal(n_events, 2);
	snprintf(frag, sizeof(frag), "\"bulkwarden.registry.revision\":\"%s\"", rev_a);
	assert_true(has(0, frag));
	snprintf(frag, sizeof(frag), "\"bulkwarden.registry.revision\":\"%s\"", rev_b);
	assert_true(has(1, frag));
}

/* Closing a connection with a message open ends it with an abort event. */
static void
test_close_open(void **unused)
{
	(void)unused;
	struct seam_test t = {0};
	connect_from(&t, "10.30.0.5");
	assert_int_equal(mail(&t, "<news@receipts.example.com>"), SMFIS_CONTINUE);
	disconnect(&t);
	read_events();
	assert_int_equal(n_events, 1);
	assert_true(has(0, "\"event.action\":\"abort\""));
}
#endif

#ifndef BW_TEST_PEM_BYPASS
/*
 * Signing through the callbacks parses no key: for every signature
 * libopendkim's PEM_read_bio_PrivateKey() lands in bwdkey's cache (one hit
 * per key per message, no libcrypto decode). Fails if the interposition
 * silently stops taking effect (another link, another symbol binding, a
 * libopendkim that decodes keys otherwise).
 */
static void
test_sign_parses_nothing(void **unused)
{
	(void)unused;
	const char *const macros[] = {"{auth_authen}", "svc-signer", NULL};
	struct seam_test t = {.macros = macros};
	struct bwdkey_stats s0, s1;
	assert_true(bwdkey_key_cache_active());
	connect_from(&t, "192.0.2.10");
	bwdkey_stats(&s0);
	for (int i = 0; i < SIGNED_MESSAGES; i++) {
		t.n_hdrs = 0;
		assert_int_equal(mail(&t, "<a@signer.example.com>"), SMFIS_CONTINUE);
		assert_int_equal(message(&t, " <a@signer.example.com>", " <s@x>"), SMFIS_CONTINUE);
		assert_int_equal(t.n_hdrs, 2);
		for (size_t h = 0; h < t.n_hdrs; h++) {
			assert_int_equal(t.hdrs[h].op, 'i');
			assert_string_equal(t.hdrs[h].name, "DKIM-Signature");
		}
		/* inserted at the top last to first: the first key's ends on top */
		assert_non_null(strstr(t.hdrs[0].value, "s=e1;"));
		assert_non_null(strstr(t.hdrs[1].value, "s=r1;"));
	}
	bwdkey_stats(&s1);
	assert_int_equal(s1.cache_hits - s0.cache_hits, 2 * SIGNED_MESSAGES);
	assert_int_equal(s1.cache_misses - s0.cache_misses, 0);
	assert_int_equal(s1.parsed - s0.parsed, 0);
	disconnect(&t);
	read_events();
	assert_int_equal(n_events, SIGNED_MESSAGES);
	assert_true(has(0, "\"event.action\":\"accept\""));
}
#else
/*
 * Built with -Wl,--exclude-libs,libdkim.a: bwdkey's PEM_read_bio_PrivateKey
 * is not exported, libopendkim reaches libcrypto's (the interposition
 * silently gone). The load must notice: refused with an Ed25519 signing
 * key (it would leak per message), flagged with RSA only.
 */
/* The refused load's trial signature is the very leak the refusal is
 * about: libopendkim drops the Ed25519 key libcrypto decoded for it. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libcrypto.so\n";
}

static void
test_bypass_detected(void **unused)
{
	(void)unused;
	char err[1024];
	struct registry *r = fixture_load(conf_a);
	assert_non_null(r);
	assert_null(runtime_new(r, err, sizeof(err)));
	print_message("refused: %s\n", err);
	assert_non_null(strstr(err, "ed.pem"));
	assert_non_null(strstr(err, "parsed-key cache"));
	registry_release(r);

	r = fixture_load(conf_rsa);
	assert_non_null(r);
	struct runtime *rt = runtime_new(r, err, sizeof(err));
	assert_non_null(rt);
	assert_false(bwdkey_key_cache_active());
	runtime_release(rt);
	registry_release(r);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef BW_TEST_PEM_BYPASS
	    cmocka_unit_test(test_bypass_detected),
#else
	    cmocka_unit_test(test_sign_parses_nothing), cmocka_unit_test(test_desc),
	    cmocka_unit_test(test_unregistered),	cmocka_unit_test(test_two_messages),
	    cmocka_unit_test(test_quarantine),		cmocka_unit_test(test_reload_pins),
	    cmocka_unit_test(test_close_open),
#endif
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
