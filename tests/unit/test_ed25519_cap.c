/*
 * test_ed25519_cap.c - the Ed25519 keys a process keeps for libopendkim
 * are bounded (dkim/bwdkey.h BWDKEY_ED25519_MAX): reloads that each rotate
 * the signing key succeed until the cap, the next is refused with a reason
 * and changes nothing, and reloads that keep the key do not count. Its own
 * process: the cap is process-wide.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dkim/bwdkey.h"
#include "tests/unit/fixture.h"

static const char conf_fmt[] =
    "identities = (\n"
    " { id = \"signer\"; description = \"signs\"; class = \"transactional\";\n"
    "   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = "
    "\"c@x.example\"; };\n"
    "   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-3\"; };\n"
    "   credentials = { logins = [\"svc-signer\"]; };\n"
    "   envelope_domains = [\"signer.example.com\"];\n"
    "   dkim = ( { domain = \"signer.example.com\"; selector = \"e%d\"; key = \"%s/ed%d.pem\"; } "
    "); }\n"
    ");\n";

/* Write Ed25519 key number i (mode 0600) and load a registry signing with
 * it through bwdkey; returns bwdkey_registry_load()'s result. */
static int
load_key(int i, bool fresh_key, char *err, size_t errlen)
{
	char path[600], text[sizeof(conf_fmt) + 700];
	struct registry *r0 = fixture_load(""); /* creates fixture_dir() */
	assert_non_null(r0);
	registry_release(r0);
	if (fresh_key) {
		snprintf(path, sizeof(path), "%s/ed%d.pem", fixture_dir(), i);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		FILE *f = fdopen(fd, "w");
		EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		assert_non_null(pk);
		assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
		fclose(f);
		EVP_PKEY_free(pk);
	}
	snprintf(text, sizeof(text), conf_fmt, i, fixture_dir(), i);
	struct registry *r = fixture_load(text);
	assert_non_null(r);
	int rc = bwdkey_registry_load(r, err, errlen);
	registry_release(r);
	return rc;
}

static void
test_cap(void **unused)
{
	(void)unused;
	char err[512];
	struct bwdkey_stats st;
	assert_int_equal(bwdkey_init(err, sizeof(err)), 0);
	/* each load retires the previous key: MAX keys in all are accepted */
	for (int i = 0; i < BWDKEY_ED25519_MAX; i++)
		if (load_key(i, true, err, sizeof(err)) != 0)
			fail_msg("load %d: %s", i, err);
	bwdkey_stats(&st);
	assert_int_equal(st.ed25519_retired, BWDKEY_ED25519_MAX - 1);
	/* the same key again: nothing retired, nothing new */
	assert_int_equal(load_key(BWDKEY_ED25519_MAX - 1, false, err, sizeof(err)), 0);
	/* one more rotation: refused, with the way out */
	assert_int_equal(load_key(BWDKEY_ED25519_MAX, true, err, sizeof(err)), -1);
	print_message("refused: %s\n", err);
	assert_non_null(strstr(err, "restart"));
	bwdkey_stats(&st);
	assert_int_equal(st.ed25519_retired, BWDKEY_ED25519_MAX - 1);
	/* the current key still signs: the refusal changed nothing */
	assert_int_equal(load_key(BWDKEY_ED25519_MAX - 1, false, err, sizeof(err)), 0);
	assert_true(bwdkey_key_cache_active());
	bwdkey_shutdown();
	fixture_cleanup();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
