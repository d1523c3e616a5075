/*
 * main.c - bulkwardenctl, the operator CLI (SPEC §6): global options, verb
 * dispatch, and the lazily loaded registry and state store every verb
 * shares (struct ctl, ctl/ctl.h).
 *
 * Exit codes: 0 ok, 1 the check/verify found problems or the operation
 * failed, 2 usage error (with a one-line usage on stderr). Errors go to
 * stderr prefixed "bulkwardenctl:"; results go to stdout.
 *
 * Memory: the registry and the state handle live until exit. Untrusted
 * input: the command line (verbs parse and bound their own arguments) and
 * the configuration (conf_load validates it).
 */
#include "config.h"

#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "ctl/report.h"
#include "ctl/signals.h"
#include "ctl/verbs.h"
#include "registry/conf.h"

struct verb {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct verb verbs[] = {
    {"check", ctl_check, "check [--json]", "validate the configuration (like bulkwarden -n)"},
    {"list", ctl_list, "list [--json]",
     "every identity: class, lifecycle state, owners, decommission date, today's counters"},
    {"show", ctl_show, "show ID [--json]", "everything about one identity"},
    {"stats", ctl_stats, "stats [ID] [--json]", "hourly and daily counters"},
    {"suspend", ctl_suspend, "suspend ID --reason R --by WHO [--ticket T] [--until TIME] [--json]",
     "stop an identity's mail on every milter sharing the state store"},
    {"reinstate", ctl_reinstate, "reinstate ID --reason R --by WHO --ticket T [--json]",
     "lift a suspension"},
    {"waive", ctl_waive,
     "waive ID --check CHECK|--signal SIGNAL --until TIME --reason R --by WHO --approver WHO2 "
     "--ticket T [--json]",
     "grant a waiver: a failing check is accepted (or a signal ignored) until TIME"},
    {"waivers", ctl_waivers, "waivers [ID] [--all] [--json]",
     "waivers in force (--all: expired and replaced ones too)"},
    {"suppress", ctl_suppress, "suppress ID ADDRESS --reason R [--by WHO] [--ticket T] [--json]",
     "refuse ADDRESS at RCPT for ID's mail (stored as a keyed hash, never in clear)"},
    {"unsuppress", ctl_unsuppress, "unsuppress ID ADDRESS --reason R --by WHO [--ticket T] [--json]",
     "take ADDRESS off ID's suppression list"},
    {"suppressions", ctl_suppressions, "suppressions [ID] [--verbose] [--json]",
     "how many recipients each identity has suppressed; --verbose lists the keyed hashes"},
    {"audit", ctl_audit, "audit [--verify] [--verbose] [--json]",
     "list the hash-chained audit log; --verify checks the chain"},
    {"state", ctl_state_verb, "state export [FILE] | state import [FILE]",
     "the whole state store as JSON lines (stdout / stdin without FILE); import into an "
     "empty store, then verify the audit chain"},
    {"reload", ctl_reload, "reload", "check the configuration, then signal the milter to reload (SIGUSR2)"},
    {"keygen", ctl_keygen, "keygen ID [--algorithm rsa|ed25519] [--bits N] [--selector S]",
     "make a DKIM key pair and print the DNS TXT record to publish"},
    {"ingest", ctl_ingest, "ingest [--kind arf|dsn|dmarc|auto] [FILE...]",
     "read complaints, bounces, DMARC aggregate reports (stdin without FILE): one event each"},
    {"signals", ctl_signals, "signals [ID] [--json]",
     "feedback signals per identity: window, numerator/denominator, value, thresholds, state"},
    {"report", ctl_report, "report [--format html|json|md] [--out FILE] [--days N] [--dns]",
     "the auditor's report: inventory, traffic, suspensions, findings and their controls"},
    {"paths", ctl_paths, "paths [ID] [--json] | paths approve ID PATH --by WHO [--ticket T] [--json]",
     "sending paths (networks, logins, vendor DKIM keys) each identity used; approve a pending one"},
    {"dns-check", ctl_dns_check, "dns-check [ID] [--json]",
     "compare live SPF, DKIM and DMARC records with the registry"},
};

#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

void
ctl_err(const char *fmt, ...)
{
	va_list ap;
	fputs("bulkwardenctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
}

int
ctl_usage(const char *verb, const char *fmt, ...)
{
	if (fmt != NULL) {
		va_list ap;
		fputs("bulkwardenctl: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputs("\n", stderr);
	}
	for (size_t i = 0; i < N_VERBS; i++) {
		if (verb != NULL && strcmp(verbs[i].name, verb) == 0) {
			fprintf(stderr, "usage: bulkwardenctl [-c FILE] %s\n", verbs[i].usage);
			return CTL_USAGE;
		}
	}
	fprintf(stderr, "usage: bulkwardenctl [-c FILE] [--json] VERB [ARGS] (-h for the list)\n");
	return CTL_USAGE;
}

/* The full help on stdout. */
static void
help(void)
{
	printf("usage: bulkwardenctl [-c FILE] [--json] VERB [ARGS]\n\n"
	       "  -c FILE   configuration (default %s)\n"
	       "  --json    machine-readable output (read verbs)\n"
	       "  -V        version\n\nverbs:\n",
	       conf_default_path());
	for (size_t i = 0; i < N_VERBS; i++)
		printf("  %s\n      %s\n", verbs[i].usage, verbs[i].help);
	printf("\nexit: 0 ok, 1 problems found or operation failed, 2 usage error. "
	       "See bulkwardenctl(8).\n");
}

int
ctl_args_parse(struct ctl *c, int argc, char **argv, const char *allowed, int max_pos,
	       struct ctl_args *a)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"reason", required_argument, NULL, 'r'},
	    {"by", required_argument, NULL, 'b'},
	    {"ticket", required_argument, NULL, 't'},
	    {"until", required_argument, NULL, 'u'},
	    {"verify", no_argument, NULL, 'v'},
	    {"verbose", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char esc[128];
	int o;
	memset(a, 0, sizeof(*a));
	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		const char *opt = out_esc(argv[optind - 1], esc, sizeof(esc));
		if (o == 'h') {
			for (size_t i = 0; i < N_VERBS; i++)
				if (strcmp(verbs[i].name, argv[0]) == 0)
					printf("usage: bulkwardenctl [-c FILE] %s\n",
					       verbs[i].usage);
			return -1;
		}
		if (o == ':')
			return ctl_usage(argv[0], "option %s needs a value", opt);
		if (o == '?' || strchr(allowed, o) == NULL)
			return ctl_usage(argv[0], "%s does not take the option %s", argv[0], opt);
		if (optarg != NULL && optarg[0] == '\0')
			return ctl_usage(argv[0], "option %s must not be empty", opt);
		switch (o) {
		case 'j':
			c->json = true;
			break;
		case 'r':
			a->reason = optarg;
			break;
		case 'b':
			a->by = optarg;
			break;
		case 't':
			a->ticket = optarg;
			break;
		case 'u':
			a->until = optarg;
			break;
		case 'v':
			a->verify = true;
			break;
		case 'V':
			a->verbose = true;
			break;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->npos >= max_pos || a->npos >= CTL_POS_MAX)
			return ctl_usage(argv[0], "unexpected argument \"%s\"",
					 out_esc(argv[i], esc, sizeof(esc)));
		a->pos[a->npos++] = argv[i];
	}
	return CTL_OK;
}

long long
ctl_now(void)
{
	return (long long)time(NULL);
}

struct registry *
ctl_registry(struct ctl *c)
{
	if (c->reg != NULL)
		return c->reg;
	struct conf_errors errs = {0};
	c->reg = conf_load(c->conf_path, ctl_now(), &errs);
	if (c->reg == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			ctl_err("%s", errs.msg[i]);
		if (errs.n == 0)
			ctl_err("%s: configuration refused", c->conf_path);
		conf_errors_free(&errs);
		exit(CTL_FAIL);
	}
	conf_errors_free(&errs);
	return c->reg;
}

/* "bulkwardenctl as root (uid 0, sudo from alice)": who really ran us, to
 * stand beside the self-declared --by in the audit record. */
static void
origin(char *buf, size_t len)
{
	uid_t uid = getuid();
	struct passwd *pw = getpwuid(uid);
	const char *sudo = getenv("SUDO_USER");
	char name[64];
	bw_strlcpy(name, pw ? pw->pw_name : "?", sizeof(name));
	for (char *p = name; *p; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f)
			*p = '?';
	struct bw_sbuf b;
	bw_sbuf_init(&b, buf, len);
	if (bw_sbuf_printf(&b, "bulkwardenctl as %s (uid %ld", name, (long)uid) && uid == 0 &&
	    sudo != NULL && sudo[0] != '\0' &&
	    strlen(sudo) < 64 &&
	    strspn(sudo, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == strlen(sudo))
		bw_sbuf_printf(&b, ", sudo from %s", sudo);
	bw_sbuf_printf(&b, ")");
}

/* One identity's last security-relevant change, from the store. */
static int
change_cb(const char *id, long long ts, void *arg)
{
	registry_note_change(arg, id, ts);
	return 0;
}

/* Open the state store once; NULL with err when it cannot be opened. */
struct state *
ctl_state_try(struct ctl *c, char *err, size_t errlen)
{
	char who[160];
	if (c->st != NULL)
		return c->st;
	struct registry *r = ctl_registry(c);
	c->st = state_open(&r->set, err, errlen);
	if (c->st == NULL)
		return NULL;
	origin(who, sizeof(who));
	state_set_origin(c->st, who);
	return c->st;
}

/* Open the state store once, or exit CTL_FAIL saying why. */
struct state *
ctl_state(struct ctl *c)
{
	char err[512];
	if (ctl_state_try(c, err, sizeof(err)) == NULL) {
		ctl_err("state store: %s", err);
		exit(CTL_FAIL);
	}
	/* policy.require_reapproval: what changed since its approval is pending
	 * (without it the change times are only shown, and a backend without
	 * them is no error) */
	if (state_last_changes(c->st, change_cb, ctl_registry(c)) != 0 &&
	    ctl_registry(c)->set.require_reapproval) {
		ctl_err("state store: configuration changes: %s", state_error(c->st));
		exit(CTL_FAIL);
	}
	return c->st;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct ctl c = {0};
	char esc[128];
	int o, rc;

	diag_init("bulkwardenctl", true, false);
	c.conf_path = conf_default_path();
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+:c:hV", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			c.conf_path = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			help();
			return CTL_OK;
		case 'V':
			printf("bulkwardenctl %s\n", PACKAGE_VERSION);
			return CTL_OK;
		case ':':
			return ctl_usage(NULL, "option %s needs a value",
					 out_esc(argv[optind - 1], esc, sizeof(esc)));
		default:
			return ctl_usage(NULL, "unknown option %s",
					 out_esc(argv[optind - 1], esc, sizeof(esc)));
		}
	}
	if (optind >= argc)
		return ctl_usage(NULL, "no verb given");
	int vi = optind;
	const char *name = argv[vi];
	for (size_t i = 0; i < N_VERBS; i++) {
		if (strcmp(verbs[i].name, name) != 0)
			continue;
		optind = 0; /* reinitialize getopt: the verb parses argv from its name on */
		rc = verbs[i].fn(&c, argc - vi, argv + vi);
		state_close(c.st);
		if (c.reg != NULL)
			registry_release(c.reg);
		return rc;
	}
	return ctl_usage(NULL, "unknown verb \"%s\"", out_esc(name, esc, sizeof(esc)));
}
