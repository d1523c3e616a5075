/*
 * waiver.c - bulkwardenctl's waiver verbs (SPEC §9): `waive` grants the
 * documented exception to one check or one signal of one identity until a
 * set time; `waivers` lists them.
 *
 * What a grant needs, all of it on the command line: the identity, one
 * --check or --signal, --until (at most policy.governance.max_waiver_days
 * ahead), --reason, --by (the requester), --approver and --ticket. The
 * approver is someone else: not the requester (compared without case and
 * surrounding blanks, in the store too), and not the account running the
 * command (its login name, or SUDO_USER under sudo, compared with the
 * approver and with the approver's local part), so one person cannot sign
 * off their own exception by typing a colleague's name as requester. Checks
 * that must never be waived (suspended, unregistered, not-active,
 * state-error, internal-error) are refused by the store's rule
 * (state_waiver_name_ok), which every other caller meets too.
 *
 * Exit codes: 2 a missing or malformed option, an unknown check or signal;
 * 1 refused (approver, duration, a check no waiver may cover, unknown
 * identity) or the store failed; 0 granted. Order as in change.c: options,
 * registry, expiry pass, the grant and its audit record in one
 * transaction, then the audit event.
 *
 * Untrusted input: the command line (bounded here and in the store,
 * escaped on output) and the SUDO_USER variable (only compared).
 */
#include "config.h"

#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl/verbs.h"
#include "registry/check.h"

#define DAY_S 86400LL

/* The options of waive and waivers. */
struct waive_args {
	const char *id, *check, *signal, *until, *reason, *by, *approver, *ticket;
	bool all;
};

/* Parse waive / waivers options; CTL_OK, CTL_USAGE, or -1 after -h. */
static int
parse(struct ctl *c, int argc, char **argv, bool grant, struct waive_args *a)
{
	static const struct option opts[] = {
	    {"check", required_argument, NULL, 'C'},
	    {"signal", required_argument, NULL, 'S'},
	    {"until", required_argument, NULL, 'u'},
	    {"reason", required_argument, NULL, 'r'},
	    {"by", required_argument, NULL, 'b'},
	    {"approver", required_argument, NULL, 'a'},
	    {"ticket", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *allowed = grant ? "CSurbatj" : "jA";
	char esc[128];
	int o;
	memset(a, 0, sizeof(*a));
	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		const char *opt = out_esc(argv[optind - 1], esc, sizeof(esc));
		if (o == 'h') {
			printf("usage: bulkwardenctl [-c FILE] %s\n",
			       grant
				   ? "waive ID --check CHECK|--signal SIGNAL --until TIME --reason "
				     "R --by WHO --approver WHO2 --ticket T [--json]"
				   : "waivers [ID] [--all] [--json]");
			return -1;
		}
		if (o == ':')
			return ctl_usage(argv[0], "option %s needs a value", opt);
		if (o == '?' || strchr(allowed, o) == NULL)
			return ctl_usage(argv[0], "%s does not take the option %s", argv[0], opt);
		if (optarg != NULL && optarg[strspn(optarg, " \t")] == '\0')
			return ctl_usage(argv[0], "option %s must not be empty", opt);
		switch (o) {
		case 'C':
			a->check = optarg;
			break;
		case 'S':
			a->signal = optarg;
			break;
		case 'u':
			a->until = optarg;
			break;
		case 'r':
			a->reason = optarg;
			break;
		case 'b':
			a->by = optarg;
			break;
		case 'a':
			a->approver = optarg;
			break;
		case 't':
			a->ticket = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		case 'A':
			a->all = true;
			break;
		}
	}
	int npos = argc - optind;
	if (npos > 1 || (grant && npos != 1))
		return ctl_usage(argv[0], grant ? "waive needs one identity id"
						: "waivers takes at most one identity id");
	a->id = npos == 1 ? argv[optind] : NULL;
	return CTL_OK;
}

/* Equal without case and surrounding blanks (the store's rule for the
 * requester and the approver). */
static bool
same_name(const char *a, const char *b)
{
	size_t na, nb;
	a += strspn(a, " \t");
	b += strspn(b, " \t");
	for (na = strlen(a); na > 0 && (a[na - 1] == ' ' || a[na - 1] == '\t'); na--)
		;
	for (nb = strlen(b); nb > 0 && (b[nb - 1] == ' ' || b[nb - 1] == '\t'); nb--)
		;
	return na == nb && strncasecmp(a, b, na) == 0;
}

/* Does the account running us name the approver? Its login name (and the
 * sudo caller's) against the approver and the approver's local part. */
static const char *
approver_is_caller(const char *approver)
{
	static char who[2][64];
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getuid() == 0 ? getenv("SUDO_USER") : NULL;
	bw_strlcpy(who[0], pw ? pw->pw_name : "", sizeof(who[0]));
	bw_strlcpy(who[1], sudo ? sudo : "", sizeof(who[1]));
	while (*approver == ' ' || *approver == '\t')
		approver++;
	size_t local = strcspn(approver, "@");
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(who[i]);
		if (n == 0 || (i == 0 && strcmp(who[i], "root") == 0))
			continue; /* root is a role, not a person: the origin note names it */
		if (same_name(approver, who[i]) ||
		    (local == n && strncasecmp(approver, who[i], n) == 0))
			return who[i];
	}
	return NULL;
}

/* Add a waiver's members to j (inside an open object). */
static void
waiver_json(struct jbuf *j, const struct state_waiver *w, long long now)
{
	char t[CTL_TIME_MAX];
	jbuf_num(j, "waiver", w->wid);
	jbuf_str(j, "identity", w->id);
	jbuf_str(j, "kind", w->kind);
	jbuf_str(j, "name", w->name);
	jbuf_str(j, "status",
		 w->ended != 0 && w->ended < w->until ? "replaced"
		 : w->ended != 0 || w->until <= now   ? "expired"
						      : "active");
	jbuf_str(j, "created", out_time(w->created, t));
	jbuf_str(j, "until", out_time(w->until, t));
	if (w->ended != 0)
		jbuf_str(j, "ended", out_time(w->ended, t));
	jbuf_str(j, "reason", w->reason);
	jbuf_str(j, "by", w->by);
	jbuf_str(j, "approver", w->approver);
	jbuf_str(j, "ticket", w->ticket);
}

int
ctl_waive(struct ctl *c, int argc, char **argv)
{
	struct waive_args a;
	struct state_waiver w;
	struct state_audit rec;
	long long now = ctl_now(), until = 0;
	const char *why, *caller;
	char esc[128], e2[128], t[CTL_TIME_MAX];
	int rc = parse(c, argc, argv, true, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	if ((a.check == NULL) == (a.signal == NULL))
		return ctl_usage(argv[0], "give exactly one of --check and --signal");
	const char *missing = a.until == NULL	   ? "--until"
			      : a.reason == NULL   ? "--reason"
			      : a.by == NULL	   ? "--by"
			      : a.approver == NULL ? "--approver"
			      : a.ticket == NULL   ? "--ticket"
						   : NULL;
	if (missing != NULL)
		return ctl_usage(argv[0], "%s is required", missing);
	if (strlen(a.reason) >= STATE_TEXT_MAX || strlen(a.by) >= STATE_NAME_MAX ||
	    strlen(a.approver) >= STATE_NAME_MAX || strlen(a.ticket) >= STATE_NAME_MAX)
		return ctl_usage(argv[0],
				 "--reason is limited to %d bytes, --by, --approver and "
				 "--ticket to %d",
				 STATE_TEXT_MAX - 1, STATE_NAME_MAX - 1);
	const char *kind = a.check ? "check" : "signal", *name = a.check ? a.check : a.signal;
	if ((a.check != NULL && check_by_name(name) < 0) || strlen(name) >= STATE_WAIVER_NAME_MAX ||
	    (a.signal != NULL && !state_waiver_name_ok(kind, name, &why)))
		return ctl_usage(argv[0], "unknown %s \"%s\"%s", kind,
				 out_esc(name, esc, sizeof(esc)),
				 a.check ? " (the check ids are in bulkwardenctl(8))"
					 : " (complaint_rate, hard_bounce_rate, dmarc_fail_rate, "
					   "volume_surge, new_sending_path)");
	if (!out_parse_until(a.until, now, &until, &why))
		return ctl_usage(argv[0], "bad --until \"%s\": %s",
				 out_esc(a.until, esc, sizeof(esc)), why);
	if (!state_waiver_name_ok(kind, name, &why)) {
		ctl_err("cannot waive %s %s: %s", kind, out_esc(name, esc, sizeof(esc)), why);
		return CTL_FAIL;
	}
	if (same_name(a.by, a.approver)) {
		ctl_err("cannot waive: the approver must be someone other than the requester (%s)",
			out_esc(a.by, esc, sizeof(esc)));
		return CTL_FAIL;
	}
	if ((caller = approver_is_caller(a.approver)) != NULL) {
		ctl_err("cannot waive: the approver %s is the account running this command (%s); "
			"the requester runs it, the approver only signs off",
			out_esc(a.approver, esc, sizeof(esc)), out_esc(caller, e2, sizeof(e2)));
		return CTL_FAIL;
	}
	struct registry *r = ctl_registry(c);
	long long max = (long long)r->set.max_waiver_days * DAY_S;
	if (until - now > max) {
		ctl_err("cannot waive until %s: more than policy.governance.max_waiver_days (%u) "
			"ahead",
			out_time(until, t), r->set.max_waiver_days);
		return CTL_FAIL;
	}
	if (registry_by_id(r, a.id) == NULL) {
		ctl_err("no identity \"%s\" in %s", out_esc(a.id, esc, sizeof(esc)), c->conf_path);
		return CTL_FAIL;
	}
	memset(&w, 0, sizeof(w));
	bw_strlcpy(w.id, a.id, sizeof(w.id));
	bw_strlcpy(w.kind, kind, sizeof(w.kind));
	bw_strlcpy(w.name, name, sizeof(w.name));
	bw_strlcpy(w.reason, a.reason, sizeof(w.reason));
	bw_strlcpy(w.by, a.by, sizeof(w.by));
	bw_strlcpy(w.approver, a.approver, sizeof(w.approver));
	bw_strlcpy(w.ticket, a.ticket, sizeof(w.ticket));
	w.until = until;

	struct state *st = ctl_state(c);
	if (ctl_expire_first(c, st, now) != 0)
		return CTL_FAIL;
	if (state_waiver_grant(st, &w, now, &rec) != 0) {
		ctl_err("cannot waive %s %s of %s: %s", kind, name, a.id, state_error(st));
		return CTL_FAIL;
	}
	ctl_audit_emit(c, &rec);
	if (c->json) {
		static struct jbuf j;
		jbuf_begin(&j);
		waiver_json(&j, &w, now);
		jbuf_object_begin(&j, "audit");
		ctl_audit_json(&j, &rec);
		jbuf_object_end(&j);
		jbuf_end(&j);
		out_object(&j);
		return CTL_OK;
	}
	printf("waived %s %s of %s until %s (waiver %lld, audit record %lld, hash %.16s); running "
	       "milters see it within a second\n",
	       kind, name, out_esc(a.id, esc, sizeof(esc)), out_time(until, t), w.wid, rec.seq,
	       rec.hash);
	return CTL_OK;
}

int
ctl_waivers(struct ctl *c, int argc, char **argv)
{
	struct waive_args a;
	struct state_waiver *v = NULL;
	size_t n = 0;
	long long now = ctl_now();
	char esc[6][CTL_ESC_MAX], t[CTL_TIME_MAX];
	int rc = parse(c, argc, argv, false, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	if (a.id != NULL && registry_by_id(ctl_registry(c), a.id) == NULL && !a.all) {
		ctl_err("no identity \"%s\" in %s (--all lists the waivers of removed ones)",
			out_esc(a.id, esc[0], sizeof(esc[0])), c->conf_path);
		return CTL_FAIL;
	}
	struct state *st = ctl_state(c);
	if (state_waivers(st, a.id, now, a.all, &v, &n) != 0) {
		ctl_err("cannot read the waivers: %s", state_error(st));
		return CTL_FAIL;
	}
	if (c->json) {
		static struct jbuf j;
		struct out_array arr;
		out_array_begin(&arr);
		for (size_t i = 0; i < n; i++) {
			jbuf_begin(&j);
			waiver_json(&j, &v[i], now);
			jbuf_end(&j);
			out_array_add(&arr, &j);
		}
		out_array_end(&arr);
		free(v);
		return CTL_OK;
	}
	if (n == 0)
		printf("no %swaivers\n", a.all ? "" : "active ");
	else
		printf("%-6s  %-20s  %-6s  %-18s  %-20s  %-8s  %-12s  %-16s  %-16s  %s\n", "WAIVER",
		       "IDENTITY", "KIND", "NAME", "UNTIL", "STATUS", "TICKET", "BY", "APPROVER",
		       "REASON");
	for (size_t i = 0; i < n; i++) {
		const struct state_waiver *w = &v[i];
		const char *status = w->ended != 0 && w->ended < w->until ? "replaced"
				     : w->ended != 0 || w->until <= now	  ? "expired"
									  : "active";
		printf("%-6lld  %-20s  %-6s  %-18s  %-20s  %-8s  %-12s  %-16s  %-16s  %s\n", w->wid,
		       out_esc(w->id, esc[0], sizeof(esc[0])), w->kind,
		       out_esc(w->name, esc[1], sizeof(esc[1])), out_time(w->until, t), status,
		       out_esc(w->ticket, esc[2], sizeof(esc[2])),
		       out_esc(w->by, esc[3], sizeof(esc[3])),
		       out_esc(w->approver, esc[4], sizeof(esc[4])),
		       out_esc(w->reason, esc[5], sizeof(esc[5])));
	}
	free(v);
	return CTL_OK;
}

void
ctl_waivers_show(struct ctl *c, const char *id, long long now, struct jbuf *j)
{
	struct state_waiver *v = NULL;
	size_t n = 0;
	char e1[CTL_ESC_MAX], e2[CTL_ESC_MAX], e3[CTL_ESC_MAX], t[CTL_TIME_MAX];
	struct state *st = ctl_state(c);
	if (state_waivers(st, id, now, false, &v, &n) != 0) {
		ctl_err("cannot read the waivers: %s", state_error(st));
		n = 0;
	}
	if (j != NULL) {
		jbuf_array_begin(j, "waivers");
		for (size_t i = 0; i < n; i++) {
			jbuf_object_begin(j, NULL);
			waiver_json(j, &v[i], now);
			jbuf_object_end(j);
		}
		jbuf_array_end(j);
	} else if (n == 0) {
		printf("%-18snone\n", "waivers:");
	}
	for (size_t i = 0; j == NULL && i < n; i++)
		printf("%-18s%s %s until %s, ticket %s, by %s, approved by %s (waiver %lld)\n",
		       "waiver:", v[i].kind, v[i].name, out_time(v[i].until, t),
		       out_esc(v[i].ticket, e1, sizeof(e1)), out_esc(v[i].by, e2, sizeof(e2)),
		       out_esc(v[i].approver, e3, sizeof(e3)), v[i].wid);
	free(v);
}
