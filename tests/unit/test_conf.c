/*
 * test_conf.c - the config loader and the DKIM key file checks.
 *
 * Table-driven: each error row is a set of files written into a fresh
 * mkdtemp() directory; the line holding the marker "#@" is where the error
 * must point, so the expectation is "<file>:<marker line>: <key>: ...<frag>".
 * Keys are generated once per run with the openssl CLI into a shared
 * temporary directory ("@K@" in a fixture stands for it). Nothing is kept
 * under tests/: no EXTRA_DIST fixtures.
 */
#include "config.h"

#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "registry/check.h"
#include "registry/cidr.h"
#include "registry/conf.h"

/* the defaults follow configure's directories (Makefile.am AM_CPPFLAGS) */
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#include "registry/conf_int.h"
#include "registry/keyfile.h"
#include "registry/registry.h"

#define MARK "#@"
#define MAX_FILES 4

static char keydir[256]; /* shared generated keys */

/* ---- helpers ------------------------------------------------------------- */

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
mktmp(void)
{
	const char *t = getenv("TMPDIR");
	char buf[512];
	snprintf(buf, sizeof(buf), "%s/bwconfXXXXXX", t && *t ? t : "/tmp");
	char *d = mkdtemp(buf);
	assert_non_null(d);
	return strdup(d);
}

/* text with every "@K@" replaced by the shared key directory */
static char *
subst(const char *text)
{
	size_t n = strlen(text) + 1, kl = strlen(keydir);
	for (const char *p = text; (p = strstr(p, "@K@")) != NULL; p += 3)
		n += kl;
	char *out = malloc(n), *o = out;
	for (const char *p = text; *p;) {
		if (strncmp(p, "@K@", 3) == 0) {
			memcpy(o, keydir, kl);
			o += kl;
			p += 3;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static void
write_file(const char *dir, const char *rel, const char *text)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	char *slash = strrchr(path, '/');
	if (slash > path + strlen(dir)) { /* one level of subdirectory */
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	char *t = subst(text);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(t, f);
	fclose(f);
	free(t);
}

/* 1-based line of the first MARK in text, 0 if none */
static unsigned
mark_line(const char *text)
{
	const char *m = strstr(text, MARK);
	if (m == NULL)
		return 0;
	unsigned line = 1;
	for (const char *p = text; p < m; p++)
		line += *p == '\n';
	return line;
}

static void
dump_errors(const struct conf_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		print_message("    | %s\n", e->msg[i]);
}

static int
run(const char *cmd)
{
	int rc = system(cmd);
	if (rc != 0)
		print_message("command failed (%d): %s\n", rc, cmd);
	return rc;
}

static void
copy_key(const char *name, const char *dst, mode_t mode)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s' && chmod %o '%s'", keydir, name, dst,
		 (unsigned)mode, dst);
	assert_int_equal(run(cmd), 0);
}

/* ---- shared keys ------------------------------------------------------------- */

static int
keys_setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(keydir, sizeof(keydir), "%s/bwkeysXXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(keydir) == NULL)
		return -1;
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && umask 077 && "
		 "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.pem "
		 "2>/dev/null && "
		 "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.pem "
		 "2>/dev/null && "
		 "openssl genpkey -algorithm ed25519 -out ed25519.pem && "
		 "openssl genpkey -algorithm ed25519 -out ed25519b.pem && "
		 "openssl pkey -in rsa2048.pem -traditional -out rsa2048.pkcs1 && "
		 "openssl pkey -in rsa2048.pem -pubout -out rsa2048.pub && "
		 "openssl pkey -in ed25519.pem -pubout -out ed25519.pub && "
		 "openssl rsa -in rsa2048.pem -RSAPublicKey_out -out rsa2048.rsapub 2>/dev/null && "
		 "openssl pkey -in rsa2048.pem -aes256 -passout pass:secret -out enc.pem && "
		 "openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | "
		 "openssl pkcs8 -topk8 -nocrypt -out ec.pem && "
		 "cp rsa2048.pem rsa2048_0640.pem && chmod 0640 rsa2048_0640.pem && "
		 "chmod 0644 rsa2048.pub ed25519.pub rsa2048.rsapub && "
		 "printf 'not a key\\n' > garbage.pem",
		 keydir);
	return run(cmd) == 0 ? 0 : -1;
}

static int
keys_teardown(void **state)
{
	(void)state;
	rm_rf(keydir);
	return 0;
}

/* ---- error rows ------------------------------------------------------------------ */

struct fixture {
	const char *path; /* relative to the test directory */
	const char *text;
};

struct err_row {
	const char *name;
	struct fixture files[MAX_FILES]; /* files[0] is loaded */
	const char *key;		 /* expected key path */
	const char *frag;		 /* expected message fragment */
};

/* building blocks of a valid identity */
#define ID_DESC "    description = \"Newsletter\"; class = \"marketing\";\n"
#define ID_CRED "    credentials = { logins = [\"svc-nl\"]; };\n"
#define ID_ENV "    envelope_domains = [\"news.example.com\"];\n"
#define ID_BODY "    id = \"nl\";\n" ID_DESC ID_CRED ID_ENV
#define ONE_ID(extra) "identities = (\n  {\n" ID_BODY extra "  }\n);\n"
#define RAW_ID(body) "identities = (\n  {\n" body "  }\n);\n"
/* clang-format off */
#define MAIN(text) {{"main.conf", (text)}}
/* clang-format on */
#define DIR_ID(body) "identity = {\n" body "};\n"

static const struct err_row err_rows[] = {
    /* unknown keys */
    {"unknown top-level key", MAIN("milter = { };\nmilterz = { }; " MARK "\n"), "milterz",
     "unknown key"},
    /* policy.governance (issue 15) */
    {"surge factor not a number",
     MAIN("policy = { governance = { volume_surge = { factor = \"5\"; " MARK "\n}; }; };\n"),
     "policy.governance.volume_surge.factor", "expected a number"},
    {"surge factor below 1",
     MAIN("policy = { governance = { volume_surge = { factor = 0.5; " MARK "\n}; }; };\n"),
     "policy.governance.volume_surge.factor", "0.5 is out of range (1..1000)"},
    {"surge action unknown",
     MAIN("policy = { governance = { volume_surge = { action = \"reject\"; " MARK "\n}; }; };\n"),
     "policy.governance.volume_surge.action", "alert | tempfail | suspend"},
    {"surge baseline under a week",
     MAIN("policy = { governance = { volume_surge = { baseline_days = 3; " MARK "\n}; }; };\n"),
     "policy.governance.volume_surge.baseline_days", "7"},
    {"new path action reject",
     MAIN("policy = { governance = { new_sending_path = { action = \"reject\"; " MARK
	  "\n}; }; };\n"),
     "policy.governance.new_sending_path.action", "alert | quarantine | tempfail"},
    {"unknown section key", MAIN("milter = {\n  sockt = \"unix:/x\"; " MARK "\n};\n"),
     "milter.sockt", "did you mean \"socket\""},
    {"unknown nested key", MAIN("state = { redis = { hots = \"x\"; }; }; " MARK "\n"),
     "state.redis.hots", "unknown key"},
    {"unknown identity key", MAIN(ONE_ID("    feedback_ids = \"x\"; " MARK "\n")),
     "identities.[0].feedback_ids", "unknown key"},
    {"unknown key in identity sub-group",
     MAIN(ONE_ID("    limits = { per_hour = 5; per_week = 9; }; " MARK "\n")),
     "identities.[0].limits.per_week", "unknown key"},
    {"unknown key in identities_dir file",
     {{"main.conf", "identities_dir = \"identities.d\";\n"},
      {"identities.d/nl.conf", DIR_ID(ID_BODY "  colour = \"red\"; " MARK "\n")}},
     "identity.colour",
     "unknown key"},
    {"identities_dir file with a second top-level key",
     {{"main.conf", "identities_dir = \"identities.d\";\n"},
      {"identities.d/nl.conf", DIR_ID(ID_BODY) "policy = { }; " MARK "\n"}},
     "policy",
     "unknown key"},
    {"identities_dir file without identity",
     {{"main.conf", "identities_dir = \"identities.d\";\n"},
      {"identities.d/nl.conf", "# empty " MARK "\n"}},
     "identity",
     "required key missing"},

    /* types and ranges */
    {"string for an integer", MAIN("dns = {\n  timeout = \"5\"; " MARK "\n};\n"), "dns.timeout",
     "expected an integer, got a string"},
    {"float for an integer", MAIN("policy = { max_recipients = 10.0; }; " MARK "\n"),
     "policy.max_recipients", "got a float"},
    {"boolean for a string", MAIN("milter = { user = true; }; " MARK "\n"), "milter.user",
     "expected a string, got a boolean"},
    {"string for a list", MAIN("relay = { egress_ips = \"203.0.113.7\"; }; " MARK "\n"),
     "relay.egress_ips", "expected a list"},
    {"integer in a string list", MAIN("relay = { egress_ips = (\"203.0.113.7\", 5); }; " MARK "\n"),
     "relay.egress_ips.[1]", "expected a string"},
    {"group for a scalar", MAIN("log = { target = { }; }; " MARK "\n"), "log.target",
     "expected a string, got a group"},
    {"section not a group", MAIN("dns = 5; " MARK "\n"), "dns", "expected a group"},
    {"integer out of range", MAIN("dns = { timeout = 26; }; " MARK "\n"), "dns.timeout",
     "out of range (1..25)"},
    {"32-bit overflow wrapped by libconfig",
     MAIN(ONE_ID("    limits = {\n      per_day = 4294967297; " MARK "\n    };\n")),
     "identities.[0].limits.per_day", "write 4294967297L"},
    {"negative limit", MAIN(ONE_ID("    limits = { per_hour = -5; }; " MARK "\n")),
     "identities.[0].limits.per_hour", "out of range"},
    {"empty string", MAIN("milter = { user = \"\"; }; " MARK "\n"), "milter.user",
     "must not be empty"},

    /* settings vocabulary */
    {"on_internal_error not in vocabulary",
     MAIN("milter = { on_internal_error = \"quarantine\"; }; " MARK "\n"),
     "milter.on_internal_error", "is not one of tempfail | reject | accept"},
    {"bad milter socket", MAIN("milter = { socket = \"tcp:8894\"; }; " MARK "\n"), "milter.socket",
     "must start with unix:"},
    {"inet socket without port", MAIN("milter = { socket = \"inet:@127.0.0.1\"; }; " MARK "\n"),
     "milter.socket", "needs a port"},
    {"socket_mode not octal", MAIN("milter = { socket_mode = \"0689\"; }; " MARK "\n"),
     "milter.socket_mode", "not an octal mode"},
    {"socket_mode as integer", MAIN("milter = { socket_mode = 660; }; " MARK "\n"),
     "milter.socket_mode", "expected a string"},
    {"world-writable socket_mode", MAIN("milter = { socket_mode = \"0666\"; }; " MARK "\n"),
     "milter.socket_mode", "any local user"},
    {"bad egress ip", MAIN("relay = { egress_ips = [\"203.0.113.300\"]; }; " MARK "\n"),
     "relay.egress_ips.[0]", "not an IP address"},
    {"egress ip given as prefix",
     MAIN("relay = { egress_ips = [\"203.0.113.0/24\"]; }; " MARK "\n"), "relay.egress_ips.[0]",
     "not an IP address"},
    {"bad identity egress ip", MAIN(ONE_ID("    egress_ips = [\"198.51.100.x\"]; " MARK "\n")),
     "identities.[0].egress_ips.[0]", "not an IP address"},
    {"bad state backend", MAIN("state = { backend = \"mysql\"; }; " MARK "\n"), "state.backend",
     "is not one of sqlite | redis"},
    {"state.on_error is gone (policy.actions.state-error)",
     MAIN("state = { on_error = \"tempfail\"; }; " MARK "\n"), "state.on_error", "unknown key"},
    {"redis port out of range", MAIN("state = { redis = { port = 70000; }; }; " MARK "\n"),
     "state.redis.port", "out of range (1..65535)"},
    {"bad log target", MAIN("log = { target = \"journal\"; }; " MARK "\n"), "log.target",
     "is not one of"},
    {"bad syslog facility", MAIN("log = { facility = \"mail2\"; }; " MARK "\n"), "log.facility",
     "is not one of"},
    {"counters_interval zero", MAIN("log = { counters_interval = 0; }; " MARK "\n"),
     "log.counters_interval", "out of range (1..86400)"},
    {"bad nameserver", MAIN("dns = { nameservers = [\"127.0.0.1:99999\"]; }; " MARK "\n"),
     "dns.nameservers.[0]", "is not \"ip\""},
    {"bracketed nameserver garbage", MAIN("dns = { nameservers = [\"[::1\"]; }; " MARK "\n"),
     "dns.nameservers.[0]", "is not \"ip\""},
    {"bad policy mode", MAIN("policy = { mode = \"audit\"; }; " MARK "\n"), "policy.mode",
     "is not one of enforce | monitor"},
    {"dkim_min_rsa_bits below 1024", MAIN("policy = { dkim_min_rsa_bits = 512; }; " MARK "\n"),
     "policy.dkim_min_rsa_bits", "out of range (1024.."},
    {"bad role in require_owners", MAIN("policy = { require_owners = [\"DNS\"]; }; " MARK "\n"),
     "policy.require_owners.[0]", "not a role name"},
    {"unknown check id in policy.actions",
     MAIN("policy = {\n  actions = {\n    spff = \"reject\"; " MARK "\n  };\n};\n"),
     "policy.actions.spff", "unknown check id"},
    {"internal-error in policy.actions",
     MAIN("policy = { actions = { internal-error = \"accept\"; }; }; " MARK "\n"),
     "policy.actions.internal-error", "milter.on_internal_error"},
    {"bad action value", MAIN("policy = { actions = { spf = \"drop\"; }; }; " MARK "\n"),
     "policy.actions.spf", "\"drop\" is not an action"},
    {"suspended cannot be accepted",
     MAIN("policy = { actions = { suspended = \"accept\"; }; }; " MARK "\n"),
     "policy.actions.suspended", "\"accept\" is not allowed: a suspension is always enforced"},
    {"suspended cannot be quarantined",
     MAIN("policy = { actions = { suspended = \"quarantine\"; }; }; " MARK "\n"),
     "policy.actions.suspended", "\"quarantine\" is not allowed"},
    {"duplicate key in a group",
     MAIN("log = {\n  target = \"file\";\n  target = \"syslog\"; " MARK "\n};\n"), "(syntax)",
     "duplicate setting name"},
    {"syntax error", MAIN("milter = {\n  socket = ; " MARK "\n  user = \"bw\";\n};\n"), "(syntax)",
     "syntax error"},
    {"error in an @included file names that file",
     {{"main.conf", "@include \"inc.conf\"\n"},
      {"inc.conf", "log = {\n  taget = \"file\"; " MARK "\n};\n"}},
     "log.taget",
     "unknown key"},
    {"identities_dir entry that is not a regular file",
     {{"main.conf", "identities_dir = \"identities.d\";\n"},
      {"identities.d/a.conf", DIR_ID(ID_BODY)},
      {"identities.d/sub.conf/x", "\n"}},
     "(file)",
     "not a regular file"},
    {"missing identities_dir", MAIN("identities_dir = \"nope.d\"; " MARK "\n"), "identities_dir",
     "cannot read directory"},

    /* identity fields */
    {"bad id", MAIN(RAW_ID("    id = \"News\"; " MARK "\n" ID_DESC ID_CRED ID_ENV)),
     "identities.[0].id", "not a valid id"},
    {"id too long",
     MAIN(RAW_ID(
	 "    id = \"a2345678901234567890123456789012345678901234567890123456789012345\"; " MARK
	 "\n" ID_DESC ID_CRED ID_ENV)),
     "identities.[0].id", "not a valid id"},
    {"missing id", MAIN("identities = (\n  { " MARK "\n" ID_DESC ID_CRED ID_ENV "  }\n);\n"),
     "identities.[0].id", "required key missing"},
    {"missing class",
     MAIN("identities = (\n  { " MARK "\n    id = \"nl\"; description = \"d\";\n" ID_CRED ID_ENV
	  "  }\n);\n"),
     "identities.[0].class", "required key missing"},
    {"missing description",
     MAIN("identities = (\n  { " MARK "\n    id = \"nl\"; class = \"marketing\";\n" ID_CRED ID_ENV
	  "  }\n);\n"),
     "identities.[0].description", "required key missing"},
    {"missing envelope_domains",
     MAIN("identities = (\n  { " MARK "\n    id = \"nl\";\n" ID_DESC ID_CRED "  }\n);\n"),
     "identities.[0].envelope_domains", "required key missing"},
    {"bad class",
     MAIN(RAW_ID("    id = \"nl\"; description = \"d\";\n    class = \"bulk\"; " MARK
		 "\n" ID_CRED ID_ENV)),
     "identities.[0].class", "is not one of marketing | transactional | notification"},
    {"identity entry not a group", MAIN("identities = ( \"nl\" ); " MARK "\n"), "identities.[0]",
     "expected an identity group"},
    {"bad date",
     MAIN(ONE_ID("    approval = { by = \"ciso@example.com\"; ticket = \"T-1\";\n"
		 "      date = \"2026-13-01\"; }; " MARK "\n")),
     "identities.[0].approval.date", "not an ISO 8601 date"},
    {"approval without ticket",
     MAIN(ONE_ID("    approval = { " MARK
		 "\n      by = \"ciso@example.com\"; date = \"2026-01-15\"; };\n")),
     "identities.[0].approval.ticket", "required key missing"},
    {"decommission before activate",
     MAIN(ONE_ID("    lifecycle = {\n      activate = \"2026-01-20\";\n"
		 "      decommission = \"2026-01-19\"; " MARK "\n    };\n")),
     "identities.[0].lifecycle.decommission", "must be after activate"},
    {"owner without @", MAIN(ONE_ID("    owners = { dns = \"dns.example.com\"; }; " MARK "\n")),
     "identities.[0].owners.dns", "not an email address"},
    {"owner with two @", MAIN(ONE_ID("    owners = { dns = \"a@b@example.com\"; }; " MARK "\n")),
     "identities.[0].owners.dns", "not an email address"},
    {"bad owner role", MAIN(ONE_ID("    owners = { Dns = \"dns@example.com\"; }; " MARK "\n")),
     "identities.[0].owners.Dns", "not a role name"},
    {"no credentials at all",
     MAIN("identities = (\n  { " MARK "\n    id = \"nl\";\n" ID_DESC ID_ENV "  }\n);\n"),
     "identities.[0].credentials", "could never be attributed"},
    {"empty credentials",
     MAIN(RAW_ID("    id = \"nl\";\n" ID_DESC "    credentials = { }; " MARK "\n" ID_ENV)),
     "identities.[0].credentials", "could never be attributed"},
    {"login with a space",
     MAIN(RAW_ID("    id = \"nl\";\n" ID_DESC "    credentials = { logins = [\"svc nl\"]; }; " MARK
		 "\n" ID_ENV)),
     "identities.[0].credentials.logins.[0]", "is not a login"},
    {"login listed twice in one identity",
     MAIN(RAW_ID("    id = \"nl\";\n" ID_DESC
		 "    credentials = { logins = [\"a\", \"a\"]; }; " MARK "\n" ID_ENV)),
     "identities.[0].credentials.logins.[1]", "listed twice"},
    {"bad CIDR",
     MAIN(RAW_ID("    id = \"nl\";\n" ID_DESC
		 "    credentials = { networks = [\"10.0.0.0/33\"]; }; " MARK "\n" ID_ENV)),
     "identities.[0].credentials.networks.[0]", "not an address or CIDR prefix"},
    {"CIDR with host bits",
     MAIN(RAW_ID("    id = \"nl\";\n" ID_DESC
		 "    credentials = { networks = [\"10.20.0.5/24\"]; }; " MARK "\n" ID_ENV)),
     "identities.[0].credentials.networks.[0]", "host bits set (the network is 10.20.0.0/24)"},
    {"network matching everything",
     MAIN(RAW_ID("    id = \"nl\";\n" ID_DESC
		 "    credentials = { networks = [\"0.0.0.0/0\"]; }; " MARK "\n" ID_ENV)),
     "identities.[0].credentials.networks.[0]", "matches every address"},
    {"bad envelope domain",
     MAIN(RAW_ID("    id = \"nl\";\n" ID_DESC ID_CRED
		 "    envelope_domains = [\"news.example.com\", \"exa mple.com\"]; " MARK "\n")),
     "identities.[0].envelope_domains.[1]", "not a domain"},
    {"empty envelope_domains",
     MAIN(RAW_ID("    id = \"nl\";\n" ID_DESC ID_CRED "    envelope_domains = [ ]; " MARK "\n")),
     "identities.[0].envelope_domains", "must not be empty"},
    {"bad from domain", MAIN(ONE_ID("    from_domains = [\"-bad.example\"]; " MARK "\n")),
     "identities.[0].from_domains.[0]", "not a domain"},

    /* uniqueness */
    {"duplicate id in main file",
     MAIN("identities = (\n  {\n" ID_BODY "  },\n  {\n    id = \"nl\"; " MARK "\n" ID_DESC
	  "    credentials = { logins = [\"svc-other\"]; };\n" ID_ENV "  }\n);\n"),
     "identities.[1].id", "duplicate identity id \"nl\""},
    {"duplicate id across main file and identities_dir",
     {{"main.conf", "identities_dir = \"identities.d\";\n" ONE_ID("")},
      {"identities.d/nl.conf", DIR_ID("  id = \"nl\"; " MARK "\n" ID_DESC
				      "  credentials = { logins = [\"svc-x\"]; };\n" ID_ENV)}},
     "identity.id",
     "duplicate identity id \"nl\" (first defined at "},
    {"duplicate login across identities",
     MAIN("identities = (\n  {\n" ID_BODY "  },\n  {\n    id = \"nl2\";\n" ID_DESC
	  "    credentials = {\n      logins = [\"svc-nl\"]; " MARK "\n    };\n" ID_ENV
	  "  }\n);\n"),
     "identities.[1].credentials.logins.[0]", "login \"svc-nl\" is listed by identity \"nl\""},
    {"duplicate login across main file and identities_dir",
     {{"main.conf", "identities_dir = \"identities.d\";\n" ONE_ID("")},
      {"identities.d/x.conf",
       DIR_ID("  id = \"x\";\n" ID_DESC "  credentials = { logins = [\"svc-nl\"]; }; " MARK
	      "\n" ID_ENV)}},
     "identity.credentials.logins.[0]",
     "and identity \"x\": credentials are never shared"},

    /* DKIM keys */
    {"private key readable by group",
     MAIN(ONE_ID("    dkim = ( { domain = \"news.example.com\"; selector = \"s1\";\n"
		 "      key = \"@K@/rsa2048_0640.pem\"; } ); " MARK "\n")),
     "identities.[0].dkim.[0].key", "accessible by group/other (mode 0640)"},
    {"RSA 1024 below dkim_min_rsa_bits 2048",
     MAIN(ONE_ID("    dkim = ( { domain = \"news.example.com\"; selector = \"s1\";\n"
		 "      key = \"@K@/rsa1024.pem\"; } ); " MARK "\n")),
     "identities.[0].dkim.[0].key",
     "RSA key of 1024 bits is below policy.dkim_min_rsa_bits (2048)"},
    {"RSA 2048 below dkim_min_rsa_bits 3072",
     MAIN("policy = { dkim_min_rsa_bits = 3072; };\n" ONE_ID(
	 "    dkim = ( { domain = \"news.example.com\"; selector = \"s1\";\n"
	 "      key = \"@K@/rsa2048.pem\"; } ); " MARK "\n")),
     "identities.[0].dkim.[0].key", "below policy.dkim_min_rsa_bits (3072)"},
    {"public key in sign mode",
     MAIN(ONE_ID("    dkim = ( { domain = \"news.example.com\"; selector = \"s1\";\n"
		 "      key = \"@K@/rsa2048.pub\"; } ); " MARK "\n")),
     "identities.[0].dkim.[0].key", "holds a public key"},
    {"private key in verify mode",
     MAIN(ONE_ID("    dkim_mode = \"verify\";\n"
		 "    dkim = ( { domain = \"news.example.com\"; selector = \"s1\";\n"
		 "      key = \"@K@/ed25519.pem\"; } ); " MARK "\n")),
     "identities.[0].dkim.[0].key", "holds a private key"},
    {"missing key file",
     MAIN(ONE_ID("    dkim = ( { domain = \"news.example.com\"; selector = \"s1\";\n"
		 "      key = \"keys/missing.pem\"; } ); " MARK "\n")),
     "identities.[0].dkim.[0].key", "keys/missing.pem: cannot open: No such file"},
    {"encrypted key",
     MAIN(ONE_ID("    dkim = ( { domain = \"news.example.com\"; selector = \"s1\";\n"
		 "      key = \"@K@/enc.pem\"; } ); " MARK "\n")),
     "identities.[0].dkim.[0].key", "encrypted private key"},
    {"EC key is not a DKIM key",
     MAIN(ONE_ID("    dkim = ( { domain = \"news.example.com\"; selector = \"s1\";\n"
		 "      key = \"@K@/ec.pem\"; } ); " MARK "\n")),
     "identities.[0].dkim.[0].key", "unsupported key type"},
    {"key file that is not PEM",
     MAIN(ONE_ID("    dkim = ( { domain = \"news.example.com\"; selector = \"s1\";\n"
		 "      key = \"@K@/garbage.pem\"; } ); " MARK "\n")),
     "identities.[0].dkim.[0].key", "no PEM key found"},
    {"key path is a directory",
     MAIN(ONE_ID("    dkim = ( { domain = \"news.example.com\"; selector = \"s1\";\n"
		 "      key = \"@K@\"; } ); " MARK "\n")),
     "identities.[0].dkim.[0].key", "not a regular file"},
    {"bad DKIM selector",
     MAIN(ONE_ID("    dkim = ( { domain = \"news.example.com\"; selector = \"s 1\"; " MARK "\n"
		 "      key = \"@K@/ed25519.pem\"; } );\n")),
     "identities.[0].dkim.[0].selector", "not a selector"},
    {"bad DKIM domain",
     MAIN(ONE_ID("    dkim = ( { domain = \"*.example.com\"; " MARK "\n      selector = \"s1\";\n"
		 "      key = \"@K@/ed25519.pem\"; } );\n")),
     "identities.[0].dkim.[0].domain", "not a domain name"},
    {"DKIM entry without key",
     MAIN(ONE_ID("    dkim = ( { " MARK
		 "\n      domain = \"news.example.com\"; selector = \"s1\"; } );\n")),
     "identities.[0].dkim.[0].key", "required key missing"},
    {"dkim given as a group",
     MAIN(ONE_ID("    dkim = { domain = \"news.example.com\"; }; " MARK "\n")),
     "identities.[0].dkim", "expected a list"},
    {"bad dkim_mode", MAIN(ONE_ID("    dkim_mode = \"both\"; " MARK "\n")),
     "identities.[0].dkim_mode", "is not one of sign | verify"},

    /* DKIM signed-header lists and Feedback-ID */
    {"signed header name with a space",
     MAIN(ONE_ID("    dkim_sign_headers = [\"X-Ok\", \"X Bad\"]; " MARK "\n")),
     "identities.[0].dkim_sign_headers.[1]", "is not a header field name"},
    {"signing a header that changes in transit",
     MAIN(ONE_ID("    dkim_sign_headers = [\"Received\"]; " MARK "\n")),
     "identities.[0].dkim_sign_headers.[0]", "changes in transit"},
    {"oversigned header listed twice",
     MAIN(ONE_ID("    dkim_oversign_headers = [\"To\", \"to\"]; " MARK "\n")),
     "identities.[0].dkim_oversign_headers.[1]", "listed twice"},
    {"too many extra signed headers",
     MAIN(ONE_ID("    dkim_sign_headers = [\"A1\",\"A2\",\"A3\",\"A4\",\"A5\",\"A6\",\"A7\",\"A8\","
		 "\"A9\",\"A10\",\"A11\",\"A12\",\"A13\",\"A14\",\"A15\",\"A16\",\"A17\"]; " MARK
		 "\n")),
     "identities.[0].dkim_sign_headers", "at most 16 header fields"},
    {"signed-header list in verify mode",
     MAIN(ONE_ID("    dkim_mode = \"verify\";\n    dkim_oversign_headers = [\"To\"]; " MARK "\n")),
     "identities.[0].dkim_oversign_headers", "applies to dkim_mode \"sign\" only"},
    {"feedback_id not a SenderId", MAIN(ONE_ID("    feedback_id = \"a:b\"; " MARK "\n")),
     "identities.[0].feedback_id", "is not a SenderId"},
    {"feedback_id of the wrong type", MAIN(ONE_ID("    feedback_id = 5; " MARK "\n")),
     "identities.[0].feedback_id", "expected true, false or a SenderId string"},
    {"feedback_id in verify mode",
     MAIN(ONE_ID("    dkim_mode = \"verify\";\n    feedback_id = \"acme\"; " MARK "\n")),
     "identities.[0].feedback_id", "applies to dkim_mode \"sign\" only"},
    {"feedback_id = true without a signing domain",
     MAIN(ONE_ID("    feedback_id = true; " MARK "\n")), "identities.[0].feedback_id",
     "give the SenderId as a string"},

    /* the baseline may be tightened, never loosened */
    {"identity loosens max_recipients", MAIN(ONE_ID("    max_recipients = 5000; " MARK "\n")),
     "identities.[0].max_recipients", "5000 loosens the baseline (policy.max_recipients is 1000)"},
    {"identity loosens an action",
     MAIN("policy = { actions = { spf = \"reject\"; }; };\n" ONE_ID(
	 "    actions = {\n      spf = \"quarantine\"; " MARK "\n    };\n")),
     "identities.[0].actions.spf", "loosens the baseline (policy.actions.spf is \"reject\")"},
    {"identity loosens a default action",
     MAIN(ONE_ID("    actions = { dkim = \"accept\"; }; " MARK "\n")),
     "identities.[0].actions.dkim", "\"accept\" loosens the baseline"},
    {"identity loosens min_dmarc_policy",
     MAIN("policy = { min_dmarc_policy = \"quarantine\"; };\n" ONE_ID(
	 "    min_dmarc_policy = \"none\"; " MARK "\n")),
     "identities.[0].min_dmarc_policy", "loosens the baseline"},
    {"suspended cannot be accepted per identity, under a tempfail baseline",
     MAIN("policy = { actions = { suspended = \"tempfail\"; }; };\n" ONE_ID(
	 "    actions = { suspended = \"accept\"; }; " MARK "\n")),
     "identities.[0].actions.suspended", "\"accept\" is not allowed"},
    {"unknown check id in identity actions",
     MAIN(ONE_ID("    actions = { spam = \"reject\"; }; " MARK "\n")),
     "identities.[0].actions.spam", "unknown check id"},
    {"identity max_recipients zero", MAIN(ONE_ID("    max_recipients = 0; " MARK "\n")),
     "identities.[0].max_recipients", "out of range"},
    /* signal thresholds (SPEC §9) */
    {"identity loosens complaint_rate.suspend",
     MAIN(ONE_ID("    governance = { complaint_rate = { suspend = 0.004; }; }; " MARK "\n")),
     "identities.[0].governance.complaint_rate.suspend",
     "0.004 loosens the baseline (policy.governance.complaint_rate.suspend is 0.003)"},
    {"identity loosens hard_bounce_rate.warn under a tighter baseline",
     MAIN("policy = { governance = { hard_bounce_rate = { warn = 0.01; }; }; };\n" ONE_ID(
	 "    governance = { hard_bounce_rate = { warn = 0.015; }; }; " MARK "\n")),
     "identities.[0].governance.hard_bounce_rate.warn",
     "0.015 loosens the baseline (policy.governance.hard_bounce_rate.warn is 0.01)"},
    {"identity loosens dmarc_fail_rate.min_messages",
     MAIN(ONE_ID("    governance = { dmarc_fail_rate = { min_messages = 600; }; }; " MARK "\n")),
     "identities.[0].governance.dmarc_fail_rate.min_messages", "600 loosens the baseline"},
    {"identity loosens volume_surge.factor",
     MAIN(ONE_ID("    governance = { volume_surge = { factor = 6.0; }; }; " MARK "\n")),
     "identities.[0].governance.volume_surge.factor",
     "6 loosens the baseline (policy.governance.volume_surge.factor is 5)"},
    {"identity loosens volume_surge.min_messages under a tighter baseline",
     MAIN("policy = { governance = { volume_surge = { min_messages = 100; }; }; };\n" ONE_ID(
	 "    governance = { volume_surge = { min_messages = 101; }; }; " MARK "\n")),
     "identities.[0].governance.volume_surge.min_messages",
     "101 loosens the baseline (policy.governance.volume_surge.min_messages is 100)"},
    {"identity sets the surge action (the baseline's only)",
     MAIN(ONE_ID("    governance = { volume_surge = { action = \"off\"; }; }; " MARK "\n")),
     "identities.[0].governance.volume_surge.action", "unknown key"},
    {"identity sets a window (the baseline's only)",
     MAIN(ONE_ID("    governance = { complaint_rate = { window_hours = 1; }; }; " MARK "\n")),
     "identities.[0].governance.complaint_rate.window_hours", "unknown key"},
    {"a rate above 1",
     MAIN("policy = { governance = { complaint_rate = { warn = 1.5; }; }; }; " MARK "\n"),
     "policy.governance.complaint_rate.warn", "1.5 is out of range (0..1)"},
    {"a rate as a string",
     MAIN("policy = { governance = { complaint_rate = { warn = \"low\"; }; }; }; " MARK "\n"),
     "policy.governance.complaint_rate.warn", "expected a number"},
    {"warn above suspend",
     MAIN("policy = { governance = {\n dmarc_fail_rate = { warn = 0.2; }; " MARK "\n}; };\n"),
     "policy.governance.dmarc_fail_rate", "warn 0.2 is above suspend 0.1"},
    {"window of a month and a day",
     MAIN("policy = { governance = { complaint_rate = { window_hours = 721; }; }; }; " MARK "\n"),
     "policy.governance.complaint_rate.window_hours", "out of range"},
    {"unknown signal",
     MAIN("policy = { governance = { spam_rate = { warn = 0.1; }; }; }; " MARK "\n"),
     "policy.governance.spam_rate", "unknown key"},
};

static void
test_error_row(void **state)
{
	const struct err_row *row = *state;
	char *dir = mktmp();
	char want[2048];
	unsigned line = 0;
	const char *mfile = NULL;

	for (int i = 0; i < MAX_FILES && row->files[i].path != NULL; i++) {
		write_file(dir, row->files[i].path, row->files[i].text);
		if (line == 0 && (line = mark_line(row->files[i].text)) != 0)
			mfile = row->files[i].path;
	}
	if (line != 0)
		snprintf(want, sizeof(want), "%s/%s:%u: %s: ", dir, mfile, line, row->key);
	else
		snprintf(want, sizeof(want), ": %s: ", row->key);

	char main_path[1024];
	snprintf(main_path, sizeof(main_path), "%s/%s", dir, row->files[0].path);
	struct conf_errors errs;
	struct registry *r = conf_load(main_path, 1700000000, &errs);
	bool found = false;
	for (size_t i = 0; i < errs.n && !found; i++)
		found = strstr(errs.msg[i], want) != NULL && strstr(errs.msg[i], row->frag) != NULL;
	if (r != NULL || !found) {
		print_message("  want \"%s...%s\"; got %zu error(s):\n", want, row->frag, errs.n);
		dump_errors(&errs);
	}
	assert_null(r);
	assert_true(errs.n > 0);
	assert_true(found);
	conf_errors_free(&errs);
	rm_rf(dir);
	free(dir);
}

/* ---- positive tests ----------------------------------------------------------------- */


/* SPEC §2's example (keys copied next to the config: relative key paths). */
static const char *spec_conf =
    "milter = {\n"
    "  socket = \"unix:/run/bulkwarden/bulkwarden.sock\";   # or \"inet:8894@127.0.0.1\"\n"
    "  user = \"bulkwarden\";\n"
    "  pidfile = \"/run/bulkwarden/bulkwarden.pid\";\n"
    "  on_internal_error = \"tempfail\";\n"
    "};\n"
    "relay = { egress_ips = [\"203.0.113.7\"]; };\n"
    "state = {\n"
    "  backend = \"sqlite\";\n"
    "  path = \"/var/lib/bulkwarden/state.db\";\n"
    "  # redis = { host = \"127.0.0.1\"; port = 6379; prefix = \"bw:\"; };\n"
    "  # no on_error: policy.actions.state-error is the one setting\n"
    "};\n"
    "log = {\n"
    "  target = \"file\";\n"
    "  path = \"/var/log/bulkwarden/events.jsonl\";\n"
    "  counters_interval = 60;\n"
    "};\n"
    "dns = { nameservers = [\"127.0.0.1:53\"]; timeout = 5; cache_ttl = 300; };\n"
    "policy = {\n"
    "  mode = \"enforce\";\n"
    "  require_owners = [\"dns\", \"platform\", \"compliance\"];\n"
    "  min_dmarc_policy = \"none\";\n"
    "  dkim_min_rsa_bits = 2048;\n"
    "  max_recipients = 1000;\n"
    "  actions = { unregistered = \"reject\"; spf = \"quarantine\"; };\n"
    "};\n"
    "identities_dir = \"identities.d\";\n"
    "identities = (\n"
    "  {\n"
    "    id = \"newsletter\";\n"
    "    description = \"Weekly product newsletter\";\n"
    "    class = \"marketing\";\n"
    "    owners = { dns = \"dns@example.com\"; platform = \"martech@example.com\";\n"
    "               compliance = \"privacy@example.com\"; };\n"
    "    approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket = \"SEC-1234\"; };\n"
    "    lifecycle = { activate = \"2026-01-20\"; decommission = \"2027-01-20\"; };\n"
    "    platform = \"in-house\";\n"
    "    credentials = { logins = [\"svc-newsletter\"]; networks = [\"10.20.0.0/24\"]; };\n"
    "    envelope_domains = [\"news.example.com\", \"*.bounce.example.com\"];\n"
    "    from_domains = [\"news.example.com\"];\n"
    "    dkim = (\n"
    "      { domain = \"news.example.com\"; selector = \"nl2026\"; key = \"keys/nl.rsa\"; },\n"
    "      { domain = \"news.example.com\"; selector = \"nl2026e\"; key = \"keys/nl.ed25519\"; }\n"
    "    );\n"
    "    dkim_mode = \"sign\";\n"
    "    limits = { per_hour = 50000; per_day = 500000; };\n"
    "    mode = \"enforce\";\n"
    "  }\n"
    ");\n";

static char *
spec_dir(void)
{
	char *dir = mktmp(), p[1024];
	write_file(dir, "bulkwarden.conf", spec_conf);
	snprintf(p, sizeof(p), "%s/keys", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/keys/nl.rsa", dir);
	copy_key("rsa2048.pem", p, 0600);
	snprintf(p, sizeof(p), "%s/keys/nl.ed25519", dir);
	copy_key("ed25519.pem", p, 0400);
	snprintf(p, sizeof(p), "%s/identities.d", dir);
	mkdir(p, 0755);
	return dir;
}

static struct registry *
load_ok(const char *dir, const char *file)
{
	char path[1024];
	struct conf_errors errs;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	struct registry *r = conf_load(path, 1700000000, &errs);
	if (r == NULL) {
		print_message("  unexpected errors loading %s:\n", path);
		dump_errors(&errs);
	}
	assert_non_null(r);
	assert_int_equal(errs.n, 0);
	conf_errors_free(&errs);
	return r;
}

static long long
day(const char *iso)
{
	long long t;
	assert_true(bw_parse_date(iso, &t));
	return t;
}

static void
test_spec_example(void **state)
{
	(void)state;
	char *dir = spec_dir(), want[1024];
	struct registry *r = load_ok(dir, "bulkwarden.conf");
	const struct bw_settings *s = &r->set;

	assert_int_equal(r->refcnt, 1);
	assert_int_equal(r->loaded_at, 1700000000);
	assert_int_equal(strlen(r->revision), 64);
	assert_string_equal(s->socket, "unix:/run/bulkwarden/bulkwarden.sock");
	assert_string_equal(s->user, "bulkwarden");
	assert_string_equal(s->pidfile, "/run/bulkwarden/bulkwarden.pid");
	assert_int_equal(s->on_internal_error, BW_ACT_TEMPFAIL);
	assert_int_equal(s->n_egress_ips, 1);
	assert_string_equal(s->egress_ips[0], "203.0.113.7");
	assert_string_equal(s->state_backend, "sqlite");
	assert_string_equal(s->state_path, "/var/lib/bulkwarden/state.db");
	assert_int_equal(s->actions[BW_CHK_STATE_ERROR], BW_ACT_TEMPFAIL);
	assert_string_equal(s->log_target, "file");
	assert_string_equal(s->log_path, "/var/log/bulkwarden/events.jsonl");
	assert_int_equal(s->counters_interval, 60);
	assert_int_equal(s->n_nameservers, 1);
	assert_string_equal(s->nameservers[0], "127.0.0.1:53");
	assert_int_equal(s->dns_timeout, 5);
	assert_int_equal(s->dns_cache_ttl, 300);
	assert_int_equal(s->mode, BW_MODE_ENFORCE);
	assert_int_equal(s->n_require_owners, 3);
	assert_string_equal(s->require_owners[2], "compliance");
	assert_int_equal(s->min_dmarc_policy, BW_DMARC_NONE);
	assert_int_equal(s->dkim_min_rsa_bits, 2048);
	assert_int_equal(s->max_recipients, 1000);
	assert_int_equal(s->actions[BW_CHK_UNREGISTERED], BW_ACT_REJECT);
	assert_int_equal(s->actions[BW_CHK_SPF], BW_ACT_QUARANTINE);
	assert_int_equal(s->actions[BW_CHK_DKIM], BW_ACT_TEMPFAIL);
	assert_int_equal(s->actions[BW_CHK_RATE_LIMIT], BW_ACT_TEMPFAIL);
	assert_int_equal(s->actions[BW_CHK_INTERNAL_ERROR], BW_ACT_TEMPFAIL);
	snprintf(want, sizeof(want), "%s/identities.d", dir);
	assert_string_equal(s->identities_dir, want);

	assert_int_equal(r->n_ids, 1);
	const struct bw_identity *id = &r->ids[0];
	assert_string_equal(id->id, "newsletter");
	assert_string_equal(id->description, "Weekly product newsletter");
	assert_int_equal(id->class, BW_CLASS_MARKETING);
	snprintf(want, sizeof(want), "%s/bulkwarden.conf", dir);
	assert_string_equal(id->file, want);
	assert_int_equal(id->line, 30);
	assert_int_equal(id->n_owners, 3);
	assert_string_equal(id->owners[1].role, "platform");
	assert_string_equal(id->owners[1].addr, "martech@example.com");
	assert_string_equal(id->approval_by, "ciso@example.com");
	assert_string_equal(id->approval_ticket, "SEC-1234");
	assert_int_equal(id->approval_date, day("2026-01-15"));
	assert_int_equal(id->activate, day("2026-01-20"));
	assert_int_equal(id->decommission, day("2027-01-20"));
	assert_null(id->pending_why);
	assert_string_equal(id->platform, "in-house");
	assert_int_equal(id->n_logins, 1);
	assert_string_equal(id->logins[0], "svc-newsletter");
	assert_int_equal(id->n_networks, 1);
	struct cidr_addr a;
	assert_true(cidr_parse_addr("10.20.0.77", &a));
	assert_true(cidr_contains(&id->networks[0], &a));
	assert_int_equal(id->n_envelope_domains, 2);
	assert_string_equal(id->envelope_domains[1], "*.bounce.example.com");
	assert_int_equal(id->n_from_domains, 1);
	assert_string_equal(id->from_domains[0], "news.example.com");
	assert_int_equal(id->n_dkim, 2);
	assert_int_equal(id->dkim[0].alg, BW_KEY_RSA);
	assert_int_equal(id->dkim[0].bits, 2048);
	assert_false(id->dkim[0].is_public);
	snprintf(want, sizeof(want), "%s/keys/nl.rsa", dir);
	assert_string_equal(id->dkim[0].path, want);
	assert_string_equal(id->dkim[1].selector, "nl2026e");
	assert_int_equal(id->dkim[1].alg, BW_KEY_ED25519);
	assert_int_equal(id->dkim[1].bits, 256);
	assert_int_equal(id->dkim[1].line, 44);
	assert_int_equal(id->dkim_mode, BW_DKIM_SIGN);
	assert_int_equal(id->per_hour, 50000);
	assert_int_equal(id->per_day, 500000);
	assert_int_equal(id->mode, BW_MODE_ENFORCE);
	assert_int_equal(id->max_recipients, 1000);
	assert_int_equal(id->min_dmarc_policy, BW_DMARC_NONE);
	assert_int_equal(id->actions[BW_CHK_SPF], BW_ACT_QUARANTINE);
	assert_int_equal(id->actions[BW_CHK_INTERNAL_ERROR], BW_ACT_TEMPFAIL);
	/* signal thresholds: SPEC §9's defaults, inherited by the identity */
	assert_true(s->thresholds[BW_SIG_COMPLAINT_RATE].warn == 0.001);
	assert_true(s->thresholds[BW_SIG_COMPLAINT_RATE].suspend == 0.003);
	assert_int_equal(s->thresholds[BW_SIG_COMPLAINT_RATE].min_messages, 1000);
	assert_int_equal(s->thresholds[BW_SIG_COMPLAINT_RATE].window_hours, 24);
	assert_true(s->thresholds[BW_SIG_HARD_BOUNCE_RATE].warn == 0.02);
	assert_true(s->thresholds[BW_SIG_HARD_BOUNCE_RATE].suspend == 0.05);
	assert_true(s->thresholds[BW_SIG_DMARC_FAIL_RATE].suspend == 0.1);
	assert_int_equal(s->thresholds[BW_SIG_DMARC_FAIL_RATE].min_messages, 500);
	/* volume surge: the baseline's, inherited by the identity */
	assert_true(id->surge_factor == 5.0);
	assert_int_equal(id->surge_min_messages, 2000);
	assert_memory_equal(id->thresholds, s->thresholds, sizeof(id->thresholds));

	/* the index was built */
	assert_ptr_equal(registry_by_login(r, "svc-newsletter"), id);
	assert_ptr_equal(registry_by_id(r, "newsletter"), id);
	const char *why;
	assert_int_equal(registry_lifecycle(id, day("2026-01-10"), &why), BW_LIFE_PENDING);
	assert_int_equal(registry_lifecycle(id, day("2026-06-01"), &why), BW_LIFE_ACTIVE);
	assert_int_equal(registry_lifecycle(id, day("2027-02-01"), &why), BW_LIFE_RETIRED);
	registry_release(r);
	rm_rf(dir);
	free(dir);
}

static void
test_defaults(void **state)
{
	(void)state;
	char *dir = mktmp();
	write_file(dir, "min.conf", ONE_ID(""));
	struct registry *r = load_ok(dir, "min.conf");
	const struct bw_settings *s = &r->set;

	assert_string_equal(s->socket, "unix:" RUNSTATEDIR "/bulkwarden/bulkwarden.sock");
	assert_null(s->user);
	assert_null(s->pidfile);
	assert_int_equal(s->socket_mode, 0660);
	assert_int_equal(s->on_internal_error, BW_ACT_TEMPFAIL);
	assert_int_equal(s->n_egress_ips, 0);
	assert_string_equal(s->state_backend, "sqlite");
	assert_string_equal(s->state_path, LOCALSTATEDIR "/lib/bulkwarden/state.db");
	assert_string_equal(s->redis_host, "127.0.0.1");
	assert_int_equal(s->redis_port, 6379);
	assert_string_equal(s->redis_prefix, "bw:");
	assert_int_equal(s->actions[BW_CHK_STATE_ERROR], BW_ACT_TEMPFAIL);
	assert_string_equal(s->log_target, "file");
	assert_string_equal(s->log_path, LOCALSTATEDIR "/log/bulkwarden/events.jsonl");
	assert_string_equal(s->log_facility, "mail");
	assert_int_equal(s->counters_interval, 60);
	assert_int_equal(s->n_nameservers, 0);
	assert_int_equal(s->dns_timeout, 5);
	assert_int_equal(s->dns_cache_ttl, 300);
	assert_int_equal(s->mode, BW_MODE_ENFORCE);
	assert_int_equal(s->n_require_owners, 3);
	assert_string_equal(s->require_owners[0], "dns");
	assert_int_equal(s->min_dmarc_policy, BW_DMARC_NONE);
	assert_int_equal(s->dkim_min_rsa_bits, 2048);
	assert_int_equal(s->max_recipients, 1000);
	assert_null(s->identities_dir);
	for (int c = 0; c < BW_CHK__COUNT; c++)
		assert_int_equal(s->actions[c], check_info((enum bw_check)c)->def_action);

	const struct bw_identity *id = &r->ids[0];
	assert_int_equal(id->n_from_domains, 1);
	assert_string_equal(id->from_domains[0], "news.example.com");
	assert_int_equal(id->dkim_mode, BW_DKIM_SIGN);
	assert_int_equal(id->mode, BW_MODE_ENFORCE);
	assert_int_equal(id->max_recipients, 1000);
	assert_int_equal(id->per_hour, 0);
	assert_int_equal(id->per_day, 0);
	assert_int_equal(id->activate, 0);
	assert_int_equal(id->decommission, 0);
	assert_memory_equal(id->actions, s->actions, sizeof(id->actions));
	registry_release(r);

	/* an empty file is a valid, empty registry */
	write_file(dir, "empty.conf", "# nothing\n");
	r = load_ok(dir, "empty.conf");
	assert_int_equal(r->n_ids, 0);
	registry_release(r);
	rm_rf(dir);
	free(dir);
}

static void
test_settings_and_tightening(void **state)
{
	(void)state;
	char *dir = mktmp();
	write_file(
	    dir, "t.conf",
	    "milter = { socket = \"inet6:8894@[::1]\"; socket_mode = \"0600\";\n"
	    "  on_internal_error = \"reject\"; pidfile = \"run/bw.pid\"; };\n"
	    "state = { backend = \"redis\"; path = \"state.db\";\n"
	    "  redis = { host = \"10.0.0.9\"; port = 6380; prefix = \"x:\";\n"
	    "            password_file = \"redis.pw\"; }; };\n"
	    "log = { target = \"syslog\"; facility = \"local3\"; counters_interval = 10; };\n"
	    "dns = { nameservers = [\"::1\", \"[2001:db8::1]:5353\", \"192.0.2.1\"];\n"
	    "        timeout = 2; cache_ttl = 0; };\n"
	    "policy = { mode = \"monitor\"; require_owners = [\"dns\"];\n"
	    "  min_dmarc_policy = \"quarantine\"; dkim_min_rsa_bits = 1024;\n"
	    "  max_recipients = 100; actions = { dns-error = \"accept\"; state-error = \"accept\"; }; };\n"
	    "identities = (\n  {\n    id = \"nl\";\n" ID_DESC ID_ENV
	    "    owners = { dns = \"dns@example.com\"; };\n"
	    "    approval = { by = \"a@example.com\"; date = \"2026-01-15T10:00:00Z\"; ticket = "
	    "\"T\"; };\n"
	    "    credentials = { networks = [\"2001:db8::/32\", \"192.0.2.0/24\"]; };\n"
	    "    mode = \"enforce\"; max_recipients = 10; min_dmarc_policy = \"reject\";\n"
	    "    limits = { per_hour = 1; per_day = 5000000000L; };\n"
	    "    actions = { dns-error = \"tempfail\"; spf = \"reject\"; };\n"
	    "    dkim = ( { domain = \"NEWS.Example.com.\"; selector = \"s1\"; key = "
	    "\"@K@/rsa1024.pem\"; } );\n"
	    "  }\n);\n");
	struct registry *r = load_ok(dir, "t.conf");
	const struct bw_settings *s = &r->set;
	char want[1024];
	assert_string_equal(s->socket, "inet6:8894@[::1]");
	assert_int_equal(s->socket_mode, 0600);
	assert_int_equal(s->on_internal_error, BW_ACT_REJECT);
	assert_int_equal(s->actions[BW_CHK_INTERNAL_ERROR], BW_ACT_REJECT);
	snprintf(want, sizeof(want), "%s/run/bw.pid", dir);
	assert_string_equal(s->pidfile, want);
	assert_string_equal(s->state_backend, "redis");
	snprintf(want, sizeof(want), "%s/state.db", dir);
	assert_string_equal(s->state_path, want);
	assert_string_equal(s->redis_host, "10.0.0.9");
	assert_int_equal(s->redis_port, 6380);
	assert_string_equal(s->redis_prefix, "x:");
	snprintf(want, sizeof(want), "%s/redis.pw", dir);
	assert_string_equal(s->redis_password_file, want);
	assert_int_equal(s->actions[BW_CHK_STATE_ERROR], BW_ACT_ACCEPT);
	assert_string_equal(s->log_target, "syslog");
	assert_string_equal(s->log_facility, "local3");
	assert_int_equal(s->counters_interval, 10);
	assert_int_equal(s->n_nameservers, 3);
	assert_int_equal(s->dns_timeout, 2);
	assert_int_equal(s->dns_cache_ttl, 0);
	assert_int_equal(s->mode, BW_MODE_MONITOR);
	assert_int_equal(s->actions[BW_CHK_DNS_ERROR], BW_ACT_ACCEPT);

	const struct bw_identity *id = &r->ids[0];
	assert_null(id->pending_why); /* only "dns" is required */
	assert_int_equal(id->approval_date, day("2026-01-15T10:00:00Z"));
	assert_int_equal(id->n_logins, 0);
	assert_int_equal(id->n_networks, 2);
	assert_int_equal(id->mode, BW_MODE_ENFORCE); /* as written; policy.c ORs the baseline's */
	assert_int_equal(id->max_recipients, 10);
	assert_int_equal(id->min_dmarc_policy, BW_DMARC_REJECT);
	assert_int_equal(id->per_hour, 1);
	assert_int_equal(id->per_day, 5000000000ULL);
	assert_int_equal(id->actions[BW_CHK_DNS_ERROR], BW_ACT_TEMPFAIL);
	assert_int_equal(id->actions[BW_CHK_SPF], BW_ACT_REJECT);
	assert_int_equal(id->actions[BW_CHK_DKIM], BW_ACT_TEMPFAIL);
	assert_int_equal(id->n_dkim, 1);
	assert_string_equal(id->dkim[0].domain, "news.example.com");
	assert_int_equal(id->dkim[0].bits, 1024);
	registry_release(r);
	rm_rf(dir);
	free(dir);
}

static void
test_identities_dir(void **state)
{
	(void)state;
	char *dir = mktmp(), p[1024];
	write_file(dir, "main.conf", "identities_dir = \"identities.d\";\n" ONE_ID(""));
	/* written out of order; loaded sorted by name */
	write_file(dir, "identities.d/b-alerts.conf",
		   DIR_ID("  id = \"alerts\";\n" ID_DESC
			  "  credentials = { logins = [\"svc-alerts\"]; };\n"
			  "  envelope_domains = [\"alerts.example.com\"];\n"
			  "  dkim_mode = \"verify\"; mode = \"monitor\";\n"
			  "  dkim = ( { domain = \"alerts.example.com\"; selector = \"v1\"; key = "
			  "\"vendor.pub\"; },\n"
			  "           { domain = \"alerts.example.com\"; selector = \"v2\"; key = "
			  "\"@K@/rsa2048.rsapub\"; } );\n"));
	write_file(dir, "identities.d/a-billing.conf",
		   DIR_ID("  id = \"billing\";\n" ID_DESC
			  "  credentials = { logins = [\"svc-billing\"]; };\n"
			  "  envelope_domains = [\"billing.example.com\"];\n"
			  "  dkim = ( { domain = \"billing.example.com\"; selector = \"b1\"; key = "
			  "\"keys/b.key\"; } );\n"));
	write_file(dir, "identities.d/README", "not a config file\n");
	write_file(dir, "identities.d/.hidden.conf", "garbage that would not parse {\n");
	write_file(dir, "identities.d/c.conf.disabled", "garbage\n");
	snprintf(p, sizeof(p), "%s/identities.d/vendor.pub", dir);
	copy_key("ed25519.pub", p, 0644);
	snprintf(p, sizeof(p), "%s/identities.d/keys", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/identities.d/keys/b.key", dir);
	copy_key("ed25519.pem", p, 0600);

	struct registry *r = load_ok(dir, "main.conf");
	assert_int_equal(r->n_ids, 3);
	assert_string_equal(r->ids[0].id, "nl");
	assert_string_equal(r->ids[1].id, "billing");
	assert_string_equal(r->ids[2].id, "alerts");
	snprintf(p, sizeof(p), "%s/identities.d/a-billing.conf", dir);
	assert_string_equal(r->ids[1].file, p);
	assert_int_equal(r->ids[1].line, 1);
	snprintf(p, sizeof(p), "%s/identities.d/keys/b.key", dir);
	assert_string_equal(r->ids[1].dkim[0].path, p);
	const struct bw_identity *al = registry_by_login(r, "svc-alerts");
	assert_non_null(al);
	assert_string_equal(al->id, "alerts");
	assert_int_equal(al->dkim_mode, BW_DKIM_VERIFY);
	assert_int_equal(al->mode, BW_MODE_MONITOR); /* per-identity monitor: onboarding */
	assert_int_equal(r->ids[1].mode, BW_MODE_ENFORCE);
	assert_int_equal(al->n_dkim, 2);
	assert_true(al->dkim[0].is_public);
	assert_int_equal(al->dkim[0].alg, BW_KEY_ED25519);
	assert_int_equal(al->dkim[1].alg, BW_KEY_RSA);
	assert_int_equal(al->dkim[1].bits, 2048);
	registry_release(r);
	rm_rf(dir);
	free(dir);
}

static void
test_pending(void **state)
{
	(void)state;
	char *dir = mktmp();
	write_file(
	    dir, "p.conf",
	    ONE_ID("    owners = { dns = \"dns@example.com\"; compliance = \"c@example.com\";\n"
		   "               extra-role = \"x@example.com\"; };\n"));
	struct registry *r = load_ok(dir, "p.conf");
	const struct bw_identity *id = &r->ids[0];
	assert_non_null(id->pending_why);
	assert_string_equal(id->pending_why, "missing owner platform, no approval");
	const char *why = NULL;
	assert_int_equal(registry_lifecycle(id, 1700000000, &why), BW_LIFE_PENDING);
	assert_string_equal(why, id->pending_why);
	registry_release(r);

	write_file(dir, "p.conf",
		   ONE_ID("    approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; "
			  "ticket = \"T-1\"; };\n"));
	r = load_ok(dir, "p.conf");
	assert_string_equal(r->ids[0].pending_why,
			    "missing owner dns, missing owner platform, missing owner compliance");
	registry_release(r);

	write_file(dir, "p.conf",
		   "policy = { require_owners = []; };\n" ONE_ID(
		       "    approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket "
		       "= \"T-1\"; };\n"));
	r = load_ok(dir, "p.conf");
	assert_null(r->ids[0].pending_why);
	registry_release(r);
	rm_rf(dir);
	free(dir);
}

/* Load and return the revision. */
static void
revision_of(const char *dir, char out[65])
{
	struct registry *r = load_ok(dir, "bulkwarden.conf");
	assert_int_equal(strlen(r->revision), 64);
	for (int i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", r->revision[i]));
	memcpy(out, r->revision, 65);
	registry_release(r);
}

static void
test_revision(void **state)
{
	(void)state;
	char *dir = spec_dir(), p[1024];
	char r1[65], r2[65], r3[65], r4[65], r5[65], r6[65], r7[65];

	write_file(dir, "identities.d/x.conf",
		   DIR_ID("  id = \"x\";\n" ID_DESC
			  "  credentials = { logins = [\"svc-x\"]; };\n" ID_ENV));
	revision_of(dir, r1);
	revision_of(dir, r2);
	assert_string_equal(r1, r2); /* stable */

	/* a comment in the main file */
	snprintf(p, sizeof(p), "%s/bulkwarden.conf", dir);
	FILE *f = fopen(p, "a");
	fputs("# reviewed\n", f);
	fclose(f);
	revision_of(dir, r3);
	assert_string_not_equal(r1, r3);

	/* an identities_dir file */
	write_file(dir, "identities.d/x.conf",
		   DIR_ID("  id = \"x\";\n" ID_DESC
			  "  credentials = { logins = [\"svc-y\"]; };\n" ID_ENV));
	revision_of(dir, r4);
	assert_string_not_equal(r3, r4);

	/* a new identities_dir file */
	write_file(dir, "identities.d/y.conf",
		   DIR_ID("  id = \"y\";\n" ID_DESC
			  "  credentials = { logins = [\"svc-z\"]; };\n" ID_ENV));
	revision_of(dir, r5);
	assert_string_not_equal(r4, r5);

	/* a rotated DKIM key (same path) */
	snprintf(p, sizeof(p), "%s/keys/nl.ed25519", dir);
	unlink(p);
	copy_key("ed25519b.pem", p, 0600);
	revision_of(dir, r6);
	assert_string_not_equal(r5, r6);

	rm_rf(dir);
	free(dir);

	/* an @included file */
	dir = mktmp();
	write_file(dir, "bulkwarden.conf", "@include \"extra.conf\"\n" ONE_ID(""));
	write_file(dir, "extra.conf", "log = { counters_interval = 30; };\n");
	revision_of(dir, r7);
	write_file(dir, "extra.conf", "log = { counters_interval = 31; };\n");
	revision_of(dir, r1);
	assert_string_not_equal(r7, r1);
	revision_of(dir, r2);
	assert_string_equal(r1, r2);
	rm_rf(dir);
	free(dir);
}

static void
test_all_errors_collected(void **state)
{
	(void)state;
	char *dir = mktmp(), path[1024];
	write_file(dir, "m.conf",
		   "milter = { socket = \"bogus\"; };\n"
		   "dns = { timeout = 0; };\n"
		   "typo = 1;\n"
		   "identities = (\n  {\n    id = \"BAD\";\n" ID_DESC
		   "    credentials = { networks = [\"nope\"]; };\n"
		   "    envelope_domains = [\"a..b\"];\n  }\n);\n");
	snprintf(path, sizeof(path), "%s/m.conf", dir);
	struct conf_errors errs;
	assert_null(conf_load(path, 0, &errs));
	if (errs.n != 6)
		dump_errors(&errs);
	assert_int_equal(errs.n, 6);
	/* every message has the "file:line: key: message" shape */
	for (size_t i = 0; i < errs.n; i++) {
		assert_true(strncmp(errs.msg[i], path, strlen(path)) == 0);
		assert_true(errs.msg[i][strlen(path)] == ':');
	}
	conf_errors_free(&errs);
	assert_int_equal(errs.n, 0);
	assert_null(errs.msg);
	/* errs may be NULL */
	assert_null(conf_load(path, 0, NULL));
	rm_rf(dir);
	free(dir);
}

static void
test_world_writable(void **state)
{
	(void)state;
	char *dir = mktmp(), path[1024];
	write_file(dir, "main.conf", "identities_dir = \"identities.d\";\n" ONE_ID(""));
	write_file(dir, "identities.d/x.conf",
		   DIR_ID("  id = \"x\";\n" ID_DESC
			  "  credentials = { logins = [\"svc-x\"]; };\n" ID_ENV));
	snprintf(path, sizeof(path), "%s/identities.d/x.conf", dir);
	assert_int_equal(chmod(path, 0666), 0);
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	struct conf_errors errs;
	assert_null(conf_load(path, 0, &errs));
	assert_int_equal(errs.n, 1);
	assert_non_null(
	    strstr(errs.msg[0], "/identities.d/x.conf: (file): world-writable (mode 0666)"));
	conf_errors_free(&errs);
	rm_rf(dir);
	free(dir);
}

/* identities_dir, or a file in it, that someone other than root, us or
 * milter.user can write is refused: a local user must not add an identity */
static void
test_writable_by_others(void **state)
{
	(void)state;
	char *dir = mktmp(), path[1024], idd[1024];
	struct conf_errors errs;
	write_file(dir, "main.conf", "identities_dir = \"identities.d\";\n" ONE_ID(""));
	write_file(dir, "identities.d/x.conf",
		   DIR_ID("  id = \"x\";\n" ID_DESC
			  "  credentials = { logins = [\"svc-x\"]; };\n" ID_ENV));
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	snprintf(idd, sizeof(idd), "%s/identities.d", dir);
	struct registry *r = conf_load(path, 0, &errs);
	assert_non_null(r);
	registry_release(r);
	conf_errors_free(&errs);

	/* a sticky world-writable directory (1777): anyone can add a file */
	assert_int_equal(chmod(idd, 01777), 0);
	assert_null(conf_load(path, 0, &errs));
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0],
			       "identities.d: identities_dir: directory writable by "
			       "every user (mode 1777): anyone could add an identity"));
	conf_errors_free(&errs);
	assert_int_equal(chmod(idd, 0755), 0);

	if (geteuid() == 0) {
		/* group-writable for a group that is not root's */
		assert_int_equal(chown(idd, 0, 4242), 0);
		assert_int_equal(chmod(idd, 0775), 0);
		assert_null(conf_load(path, 0, &errs));
		assert_int_equal(errs.n, 1);
		assert_non_null(strstr(errs.msg[0], "directory writable by group 4242"));
		conf_errors_free(&errs);
		assert_int_equal(chmod(idd, 0755), 0);
		/* a file another user owns */
		snprintf(path, sizeof(path), "%s/identities.d/x.conf", dir);
		assert_int_equal(chown(path, 4242, 0), 0);
		snprintf(path, sizeof(path), "%s/main.conf", dir);
		assert_null(conf_load(path, 0, &errs));
		assert_int_equal(errs.n, 1);
		assert_non_null(strstr(errs.msg[0], "x.conf: (file): owned by uid 4242"));
		conf_errors_free(&errs);
		/* ... unless that user is the milter's */
		write_file(
		    dir, "main2.conf",
		    "milter = { user = \"nobody\"; };\nidentities_dir = \"identities.d\";\n" ONE_ID(
			""));
		snprintf(path, sizeof(path), "%s/identities.d/x.conf", dir);
		assert_int_equal(chown(path, 65534, 0), 0);
		snprintf(path, sizeof(path), "%s/main2.conf", dir);
		r = conf_load(path, 0, &errs);
		if (r == NULL)
			dump_errors(&errs);
		assert_non_null(r);
		registry_release(r);
		conf_errors_free(&errs);
	}
	rm_rf(dir);
	free(dir);
}

static void
test_missing_file(void **state)
{
	(void)state;
	struct conf_errors errs;
	assert_null(conf_load("/nonexistent/bulkwarden.conf", 0, &errs));
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "/nonexistent/bulkwarden.conf: (file): cannot read"));
	conf_errors_free(&errs);
	assert_string_equal(conf_default_path(), SYSCONFDIR "/bulkwarden/bulkwarden.conf");
}

/* ---- keyfile ------------------------------------------------------------------------ */

struct key_row {
	const char *file;
	bool want_private;
	int rc;
	enum bw_key_alg alg;
	int bits;
	const char *frag; /* error fragment when rc != 0 */
};

static const struct key_row key_rows[] = {
    {"rsa2048.pem", true, 0, BW_KEY_RSA, 2048, NULL},
    {"rsa2048.pkcs1", true, 0, BW_KEY_RSA, 2048, NULL},
    {"rsa1024.pem", true, 0, BW_KEY_RSA, 1024, NULL},
    {"ed25519.pem", true, 0, BW_KEY_ED25519, 256, NULL},
    {"rsa2048.pub", false, 0, BW_KEY_RSA, 2048, NULL},
    {"rsa2048.rsapub", false, 0, BW_KEY_RSA, 2048, NULL},
    {"ed25519.pub", false, 0, BW_KEY_ED25519, 256, NULL},
    {"rsa2048_0640.pem", true, -1, 0, 0, "accessible by group/other"},
    {"rsa2048.pub", true, -1, 0, 0, "holds a public key"},
    {"rsa2048.pem", false, -1, 0, 0, "holds a private key"},
    {"enc.pem", true, -1, 0, 0, "encrypted"},
    {"ec.pem", true, -1, 0, 0, "unsupported key type"},
    {"garbage.pem", true, -1, 0, 0, "no PEM key found"},
    {"absent.pem", true, -1, 0, 0, "cannot open"},
    {"", true, -1, 0, 0, "not a regular file"}, /* the directory itself */
};

static void
test_keyfile(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key_rows) / sizeof(key_rows[0]); i++) {
		const struct key_row *k = &key_rows[i];
		char path[512], err[256] = "";
		enum bw_key_alg alg = BW_KEY_RSA;
		int bits = -1;
		snprintf(path, sizeof(path), "%s/%s", keydir, k->file);
		int rc = keyfile_check(path, k->want_private, &alg, &bits, err, sizeof(err));
		if (rc != k->rc || (rc != 0 && strstr(err, k->frag) == NULL))
			print_message("  row %zu %s: rc %d err \"%s\"\n", i, k->file, rc, err);
		assert_int_equal(rc, k->rc);
		if (rc == 0) {
			assert_int_equal(alg, k->alg);
			assert_int_equal(bits, k->bits);
		} else {
			assert_non_null(strstr(err, k->frag));
		}
	}
	/* a FIFO must be refused without blocking */
	char fifo[512], err[256];
	snprintf(fifo, sizeof(fifo), "%s/fifo.pem", keydir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(keyfile_check(fifo, true, NULL, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	unlink(fifo);

	/* fingerprints: same key same print, public half matches the private key */
	struct keyfile_info a, b;
	char p1[512], p2[512];
	snprintf(p1, sizeof(p1), "%s/rsa2048.pem", keydir);
	snprintf(p2, sizeof(p2), "%s/rsa2048.pub", keydir);
	assert_int_equal(keyfile_inspect(p1, true, &a, err, sizeof(err)), 0);
	assert_int_equal(keyfile_inspect(p2, false, &b, err, sizeof(err)), 0);
	assert_memory_equal(a.spki_sha256, b.spki_sha256, 32);
	assert_false(a.is_public);
	assert_true(b.is_public);
}

/*
 * identities_dir read ahead by worker threads gives what a serial load
 * gives: the same identities in name order, the same revision, and the same
 * errors in file order (bad files early, late and at chunk edges).
 */
#define RA_FILES 300

static void
ra_write(const char *dir, int i)
{
	char name[64], text[512];
	snprintf(name, sizeof(name), "identities.d/id%04d.conf", i);
	snprintf(text, sizeof(text),
		 "identity = { id = \"id%d\"; description = \"gen\"; class = \"transactional\";\n"
		 "  credentials = { logins = [\"svc-%d\"]; };\n"
		 "  envelope_domains = [\"news.example.com\"]; };\n",
		 i, i);
	write_file(dir, name, text);
}

static struct registry *
ra_load(const char *dir, int workers, struct conf_errors *errs)
{
	char main[1024];
	snprintf(main, sizeof(main), "%s/main.conf", dir);
	conf_readahead_max_workers = workers;
	struct registry *r = conf_load(main, 1700000000, errs);
	conf_readahead_max_workers = 4;
	return r;
}

/*
 * A loader slower than the worker: the worker reads the last chunk and
 * stops while the loader has not yet started a chunk whose slot the
 * stopping worker would index next. The slot must keep its bytes (a
 * stopping worker once cleared its ready flag, and the loader waited
 * forever: seen as a hung `bulkwardenctl report` on 20,000 identities).
 */
static void
test_readahead_slow_loader(void **state)
{
	(void)state;
	char *dir = mktmp(), sub[1024];
	const char *names[RA_FILES];
	char namebuf[RA_FILES][32];
	for (int i = 0; i < RA_FILES; i++) {
		ra_write(dir, i);
		snprintf(namebuf[i], sizeof(namebuf[i]), "id%04d.conf", i);
		names[i] = namebuf[i];
	}
	snprintf(sub, sizeof(sub), "%s/identities.d", dir);
	conf_readahead_max_workers = 1;
	struct conf_readahead *ra = conf_readahead_start(sub, names, RA_FILES);
	conf_readahead_max_workers = 4;
	assert_non_null(ra);
	alarm(20); /* a hang is a failure, not a stuck suite */
	for (size_t i = 0; i < RA_FILES; i++) {
		const char *path;
		if (i == 64) /* the worker reads ahead to the end and stops meanwhile */
			usleep(300 * 1000);
		struct conf_parsed *p = conf_readahead_get(ra, i, &path);
		assert_non_null(p);
		assert_non_null(path);
		assert_non_null(strstr(path, names[i]));
		conf_readahead_put(ra, i);
	}
	alarm(0);
	conf_readahead_end(ra);
	rm_rf(dir);
	free(dir);
}

static void
test_readahead_matches_serial(void **state)
{
	(void)state;
	char *dir = mktmp();
	write_file(dir, "main.conf", "identities_dir = \"identities.d\";\n");
	for (int i = 0; i < RA_FILES; i++)
		ra_write(dir, i);
	struct conf_errors e1, e2;
	struct registry *serial = ra_load(dir, 0, &e1), *par = ra_load(dir, 4, &e2);
	assert_non_null(serial);
	assert_non_null(par);
	assert_int_equal(serial->n_ids, RA_FILES);
	assert_int_equal(par->n_ids, RA_FILES);
	assert_string_equal(serial->revision, par->revision);
	for (size_t i = 0; i < RA_FILES; i++)
		assert_string_equal(serial->ids[i].id, par->ids[i].id);
	assert_string_equal(par->ids[0].id, "id0");
	assert_string_equal(par->ids[RA_FILES - 1].id, "id299");
	registry_release(serial);
	registry_release(par);

	/* broken files: first, at chunk edges (32), in the middle, last */
	char p[1024];
	write_file(dir, "identities.d/id0000.conf", "identity = { id = ; };\n");
	write_file(dir, "identities.d/id0031.conf", "identity = { id = \"id31\"; bogus = 1; };\n");
	snprintf(p, sizeof(p), "%s/identities.d/id0032.conf", dir);
	unlink(p);
	assert_int_equal(mkfifo(p, 0644), 0); /* must not block */
	snprintf(p, sizeof(p), "%s/identities.d/id0150.conf", dir);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fwrite("identity = {\0};\n", 1, 17, f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/identities.d/id0299.conf", dir);
	assert_int_equal(chmod(p, 0666), 0);
	assert_null(ra_load(dir, 0, &e1));
	assert_null(ra_load(dir, 4, &e2));
	assert_true(e1.n >= 5);
	assert_int_equal(e1.n, e2.n);
	for (size_t i = 0; i < e1.n; i++)
		assert_string_equal(e1.msg[i], e2.msg[i]);
	assert_non_null(strstr(e2.msg[0], "id0000.conf:1: (syntax)"));
	assert_non_null(strstr(e2.msg[1], "id0031.conf"));
	/* each bad file reported, in file order */
	static const char *const want[] = {"id0000.conf:1: (syntax)", "id0031.conf:1: identity.bogus",
					   "id0032.conf: (file): not a regular file",
					   "id0150.conf: (syntax): NUL byte in the file",
					   "id0299.conf: (file): world-writable"};
	size_t at = 0;
	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		while (at < e2.n && strstr(e2.msg[at], want[w]) == NULL)
			at++;
		if (at == e2.n)
			fail_msg("error \"%s\" missing or out of order", want[w]);
	}
	conf_errors_free(&e1);
	conf_errors_free(&e2);
	rm_rf(dir);
	free(dir);
}

/* Feedback-ID, the signed-header lists and the key material the loader keeps. */
static void
test_dkim_extras(void **state)
{
	(void)state;
	char *dir = mktmp();
	write_file(dir, "d.conf",
		   "identities = (\n"
		   "  { id = \"a\";" ID_DESC "    credentials = { logins = [\"svc-a\"]; };\n" ID_ENV
		   "    dkim = ( { domain = \"News.Example.com\"; selector = \"s1\";\n"
		   "               key = \"@K@/rsa2048.pem\"; },\n"
		   "             { domain = \"news.example.com\"; selector = \"s2\";\n"
		   "               key = \"@K@/ed25519.pem\"; } );\n"
		   "    feedback_id = true;\n"
		   "    dkim_sign_headers = [\"X-Campaign\", \"subject\"];\n"
		   "    dkim_oversign_headers = [\"To\", \"Date\"]; },\n"
		   "  { id = \"b\";" ID_DESC "    credentials = { logins = [\"svc-b\"]; };\n" ID_ENV
		   "    feedback_id = \"acme-corp\"; },\n"
		   "  { id = \"c\";" ID_DESC "    credentials = { logins = [\"svc-c\"]; };\n" ID_ENV
		   "    feedback_id = false; dkim_mode = \"verify\";\n"
		   "    dkim = ( { domain = \"news.example.com\"; selector = \"v1\";\n"
		   "               key = \"@K@/ed25519.pub\"; } ); }\n"
		   ");\n");
	struct registry *r = load_ok(dir, "d.conf");
	const struct bw_identity *a = &r->ids[0], *b = &r->ids[1], *c = &r->ids[2];

	assert_string_equal(a->feedback_id, "news.example.com"); /* the first signing domain */
	assert_string_equal(b->feedback_id, "acme-corp");
	assert_null(c->feedback_id);

	/* the defaults, then what the identity adds (oversigned names are signed too) */
	size_t n = 0;
	while (a->dkim_sign_headers[n] != NULL)
		n++;
	assert_int_equal(n, 17); /* X-Campaign added; Subject, To, Date are defaults */
	assert_string_equal(a->dkim_sign_headers[0], "From");
	assert_string_equal(a->dkim_sign_headers[16], "X-Campaign");
	assert_string_equal(a->dkim_oversign_headers[4], "To");
	assert_string_equal(a->dkim_oversign_headers[5], "Date");
	assert_null(a->dkim_oversign_headers[6]);
	assert_ptr_equal(b->dkim_sign_headers, bw_dkim_sign_headers_default);
	assert_ptr_equal(b->dkim_oversign_headers, bw_dkim_oversign_headers_default);

	/* key material: read once at load */
	assert_non_null(strstr(a->dkim[0].privkey, "-----BEGIN PRIVATE KEY-----"));
	assert_non_null(strstr(a->dkim[1].privkey, "-----BEGIN PRIVATE KEY-----"));
	assert_true(strlen(a->dkim[0].pubkey) > 300); /* base64 SPKI of RSA-2048 */
	assert_int_equal(strlen(a->dkim[1].pubkey), 44); /* base64 of 32 bytes */
	assert_null(c->dkim[0].privkey);
	assert_string_equal(c->dkim[0].pubkey, a->dkim[1].pubkey); /* same key pair */
	registry_release(r);
	rm_rf(dir);
	free(dir);
}

int
main(void)
{
	size_t n_err = sizeof(err_rows) / sizeof(err_rows[0]);
	umask(022); /* fixtures must not be world-writable whatever the caller's umask */
	const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_spec_example),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_settings_and_tightening),
	    cmocka_unit_test(test_identities_dir),
	    cmocka_unit_test(test_pending),
	    cmocka_unit_test(test_revision),
	    cmocka_unit_test(test_all_errors_collected),
	    cmocka_unit_test(test_world_writable),
	    cmocka_unit_test(test_writable_by_others),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_readahead_matches_serial),
	    cmocka_unit_test(test_readahead_slow_loader),
	    cmocka_unit_test(test_keyfile),
	    cmocka_unit_test(test_dkim_extras),
	};
	size_t n_fixed = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *tests = calloc(n_err + n_fixed, sizeof(*tests));
	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < n_err; i++) {
		tests[n_fixed + i].name = err_rows[i].name;
		tests[n_fixed + i].test_func = test_error_row;
		tests[n_fixed + i].initial_state = (void *)&err_rows[i];
	}
	int rc = _cmocka_run_group_tests("conf", tests, n_err + n_fixed, keys_setup, keys_teardown);
	free(tests);
	return rc;
}
