/*
 * fixture.c - registry fixtures for unit tests (config text -> snapshot).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "registry/conf.h"
#include "tests/unit/fixture.h"

static char dir[256];

const char fixture_conf[] =
	"log = { target = \"stdout\"; };\n"
	"policy = { mode = \"enforce\"; max_recipients = 3;\n"
	"  actions = { from-domain = \"quarantine\"; }; };\n"
	"identities = (\n"
	" { id = \"newsletter\"; description = \"news\"; class = \"marketing\";\n"
	"   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = \"c@x.example\"; };\n"
	"   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-1\"; };\n"
	"   lifecycle = { activate = \"2026-01-20\"; decommission = \"2027-01-20\"; };\n"
	"   credentials = { logins = [\"svc-news\"]; networks = [\"10.20.0.0/24\", \"2001:db8:20::/48\"]; };\n"
	"   envelope_domains = [\"news.example.com\", \"*.bounce.example.com\"];\n"
	"   from_domains = [\"news.example.com\"]; },\n"
	" { id = \"receipts\"; description = \"receipts\"; class = \"transactional\";\n"
	"   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = \"c@x.example\"; };\n"
	"   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-2\"; };\n"
	"   credentials = { networks = [\"10.30.0.0/24\"]; };\n"
	"   envelope_domains = [\"receipts.example.com\"]; },\n"
	" { id = \"billing\"; description = \"billing\"; class = \"transactional\";\n"
	"   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = \"c@x.example\"; };\n"
	"   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-3\"; };\n"
	"   credentials = { networks = [\"10.30.0.0/16\"]; };\n"
	"   envelope_domains = [\"billing.example.com\"]; },\n"
	" { id = \"old\"; description = \"retired\"; class = \"notification\";\n"
	"   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = \"c@x.example\"; };\n"
	"   approval = { by = \"ciso@x.example\"; date = \"2019-01-15\"; ticket = \"SEC-4\"; };\n"
	"   lifecycle = { activate = \"2019-01-20\"; decommission = \"2020-01-20\"; };\n"
	"   credentials = { logins = [\"svc-old\"]; };\n"
	"   envelope_domains = [\"old.example.com\"]; },\n"
	" { id = \"unowned\"; description = \"no compliance owner\"; class = \"notification\";\n"
	"   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; };\n"
	"   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-5\"; };\n"
	"   credentials = { logins = [\"svc-unowned\"]; };\n"
	"   envelope_domains = [\"alerts.example.com\"]; },\n"
	" { id = \"future\"; description = \"not yet\"; class = \"notification\";\n"
	"   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = \"c@x.example\"; };\n"
	"   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-6\"; };\n"
	"   lifecycle = { activate = \"2099-01-01\"; };\n"
	"   credentials = { logins = [\"svc-future\"]; };\n"
	"   envelope_domains = [\"future.example.com\"]; },\n"
	" { id = \"trial\"; description = \"monitored\"; class = \"transactional\"; mode = \"monitor\";\n"
	"   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = \"c@x.example\"; };\n"
	"   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-7\"; };\n"
	"   credentials = { logins = [\"svc-trial\"]; };\n"
	"   envelope_domains = [\"trial.example.com\"]; },\n"
	" { id = \"strict\"; description = \"tighter\"; class = \"transactional\"; max_recipients = 1;\n"
	"   actions = { from-domain = \"reject\"; };\n"
	"   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = \"c@x.example\"; };\n"
	"   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-8\"; };\n"
	"   credentials = { logins = [\"svc-strict\"]; };\n"
	"   envelope_domains = [\"strict.example.com\"]; },\n"
	" { id = \"idn\"; description = \"IDN domain\"; class = \"transactional\";\n"
	"   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = \"c@x.example\"; };\n"
	"   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-9\"; };\n"
	"   credentials = { logins = [\"svc-idn\"]; };\n"
	"   envelope_domains = [\"B\xc3\x9c" "CHER.example\"]; },\n"
	" { id = \"limited\"; description = \"rate limited\"; class = \"transactional\";\n"
	"   owners = { dns = \"d@x.example\"; platform = \"p@x.example\"; compliance = \"c@x.example\"; };\n"
	"   approval = { by = \"ciso@x.example\"; date = \"2026-01-15\"; ticket = \"SEC-10\"; };\n"
	"   credentials = { logins = [\"svc-limited\"]; };\n"
	"   limits = { per_hour = 2; per_day = 10; };\n"
	"   envelope_domains = [\"limited.example.com\"]; }\n"
	");\n";

const char *
fixture_dir(void)
{
	return dir;
}

struct registry *
fixture_load(const char *text)
{
	char path[512];
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "%s/bwtest.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			exit(1);
		}
	}
	snprintf(path, sizeof(path), "%s/bulkwarden.conf", dir);
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	struct conf_errors errs = {0};
	struct registry *r = conf_load(path, (long long)time(NULL), &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "fixture: %s\n", errs.msg[i]);
	conf_errors_free(&errs);
	return r;
}

void
fixture_cleanup(void)
{
	char cmd[300];
	if (dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fixture: cannot remove %s\n", dir);
	dir[0] = '\0';
}
