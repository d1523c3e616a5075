/*
 * change.c - bulkwardenctl's verbs that change something: suspend,
 * reinstate (state store + audit log + audit event) and reload (SIGUSR2 to
 * the milter named by milter.pidfile: libmilter stops on SIGHUP).
 *
 * Order of a change: arguments are checked first (usage errors exit 2
 * before anything is read), then the registry (an unknown identity exits
 * 1), then expired suspensions are lifted so the audit log stays in time
 * order, then the change and its audit record commit in one transaction,
 * and only then is the audit event written to the event log: it carries
 * the record's seq and hash. The store is authoritative; a failure to
 * write the event is a warning, not a failed change.
 *
 * Untrusted input: the command line (bounded here, escaped on output) and
 * the pidfile (parsed with bounds, the process checked by name).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/types.h>

#include "ctl/verbs.h"
#include "log/eventlog.h"

#define PIDFILE_MAX 32 /* bytes read from the pidfile */
#define COMM_MAX 64    /* bytes of /proc/PID/comm */
#define MILTER_NAME "bulkwarden"

/* Check the text options shared by suspend and reinstate. */
static int
check_texts(const char *verb, const struct ctl_args *a)
{
	if (a->reason != NULL && strlen(a->reason) >= STATE_TEXT_MAX)
		return ctl_usage(verb, "--reason is longer than %d bytes", STATE_TEXT_MAX - 1);
	if (a->by != NULL && strlen(a->by) >= STATE_NAME_MAX)
		return ctl_usage(verb, "--by is longer than %d bytes", STATE_NAME_MAX - 1);
	if (a->ticket != NULL && strlen(a->ticket) >= STATE_NAME_MAX)
		return ctl_usage(verb, "--ticket is longer than %d bytes", STATE_NAME_MAX - 1);
	return CTL_OK;
}

/* Open the configured event log once. false: no events (said why once). */
static bool
events_ready(struct ctl *c)
{
	static int ready; /* 0 not tried, 1 open, -1 unavailable */
	if (ready == 0) {
		const struct bw_settings *set = &ctl_registry(c)->set;
		ready = -1;
		struct passwd *pw = set->user ? getpwnam(set->user) : NULL;
		if (pw != NULL) /* the milter may have created the file after a rotation */
			eventlog_trust_uid(pw->pw_uid);
		if (strcmp(set->log_target, "stdout") == 0)
			ctl_err("note: log.target is stdout, so no audit event is written "
				"(the record is in the state store)");
		else if (eventlog_open(set->log_target, set->log_path, set->log_facility) != 0)
			ctl_err("warning: cannot open the event log %s: %s (the record is in the "
				"state store)",
				set->log_path ? set->log_path : set->log_target, strerror(errno));
		else
			ready = 1;
	}
	return ready == 1;
}

/* Write the audit event of a stored record to the event log. */
static void
emit(struct ctl *c, const struct state_audit *rec)
{
	char evid[25];
	struct jbuf *j;
	if (!events_ready(c) || (j = malloc(sizeof(*j))) == NULL)
		return;
	if (bw_random_hex(evid, 12) != 0)
		evid[0] = '\0';
	state_audit_event(j, rec, evid);
	if (eventlog_write(j->buf, j->len) != 0)
		ctl_err("warning: cannot write the audit event of record %lld: %s", rec->seq,
			strerror(errno));
	free(j);
}

void
ctl_audit_emit(struct ctl *c, const struct state_audit *rec)
{
	emit(c, rec);
}

/* state_expire callback: the event of each lifted suspension. */
static void
on_expired(const struct state_audit *rec, void *arg)
{
	char e[128];
	if (!((struct ctl *)arg)->json)
		printf("expired: %s of %s (audit record %lld)\n",
		       strcmp(rec->action, "waiver-expired") == 0 ? "waiver" : "suspension",
		       out_esc(rec->identity, e, sizeof(e)), rec->seq);
	emit(arg, rec);
}

/* Lift what has expired before writing, so records stay in time order. */
static int
expire_first(struct ctl *c, struct state *st, long long now)
{
	if (state_expire(st, now, on_expired, c) < 0 ||
	    state_waiver_expire(st, now, on_expired, c) < 0) {
		ctl_err("%s", state_error(st));
		return -1;
	}
	return 0;
}

/* Print the appended record: one line, or the JSON object. */
static void
report(struct ctl *c, const struct state_audit *rec, const char *what)
{
	static struct jbuf j;
	char e[128];
	if (c->json) {
		jbuf_begin(&j);
		ctl_audit_json(&j, rec);
		jbuf_end(&j);
		out_object(&j);
		return;
	}
	printf("%s %s (audit record %lld, hash %.16s); running milters see it within a second\n",
	       what, out_esc(rec->identity, e, sizeof(e)), rec->seq, rec->hash);
}

int
ctl_suspend(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct state_audit rec;
	long long now = ctl_now(), until = 0;
	const char *why;
	char esc[128];
	int rc = ctl_args_parse(c, argc, argv, "jrbtu", 1, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	if (a.npos != 1)
		return ctl_usage(argv[0], "suspend needs an identity id");
	if (a.reason == NULL || a.by == NULL)
		return ctl_usage(argv[0], "%s is required", a.reason ? "--by" : "--reason");
	if ((rc = check_texts(argv[0], &a)) != CTL_OK)
		return rc;
	if (a.until != NULL && !out_parse_until(a.until, now, &until, &why))
		return ctl_usage(argv[0], "bad --until \"%s\": %s",
				 out_esc(a.until, esc, sizeof(esc)), why);
	if (registry_by_id(ctl_registry(c), a.pos[0]) == NULL) {
		ctl_err("no identity \"%s\" in %s", out_esc(a.pos[0], esc, sizeof(esc)),
			c->conf_path);
		return CTL_FAIL;
	}
	struct state *st = ctl_state(c);
	if (expire_first(c, st, now) != 0)
		return CTL_FAIL;
	if (state_suspend(st, a.pos[0], a.reason, a.by, a.ticket, until, now, &rec) != 0) {
		ctl_err("cannot suspend %s: %s", a.pos[0], state_error(st));
		return CTL_FAIL;
	}
	emit(c, &rec);
	report(c, &rec, "suspended");
	return CTL_OK;
}

/* Is id suspended in the store right now? -1 on error (printed). */
static int
store_suspended(struct state *st, const char *id, long long now)
{
	struct state_suspension *v;
	size_t n;
	int found = 0;
	if (state_suspensions(st, now, &v, &n) != 0) {
		ctl_err("%s", state_error(st));
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			found = 1;
	free(v);
	return found;
}

int
ctl_reinstate(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct state_audit rec;
	long long now = ctl_now();
	char esc[128];
	int rc = ctl_args_parse(c, argc, argv, "jrbt", 1, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	if (a.npos != 1)
		return ctl_usage(argv[0], "reinstate needs an identity id");
	if (a.reason == NULL || a.by == NULL || a.ticket == NULL)
		return ctl_usage(argv[0], "%s is required",
				 a.reason == NULL ? "--reason"
				 : a.by == NULL	  ? "--by"
						  : "--ticket");
	if ((rc = check_texts(argv[0], &a)) != CTL_OK)
		return rc;
	const char *id = a.pos[0];
	bool known = registry_by_id(ctl_registry(c), id) != NULL;
	struct state *st = ctl_state(c);
	if (!known) {
		/* an identity removed from the registry may still be suspended */
		int s = store_suspended(st, id, now);
		if (s < 0)
			return CTL_FAIL;
		if (s == 0) {
			ctl_err("no identity \"%s\" in %s", out_esc(id, esc, sizeof(esc)),
				c->conf_path);
			return CTL_FAIL;
		}
		ctl_err("note: %s is not in the registry; lifting its stored suspension", id);
	}
	if (expire_first(c, st, now) != 0)
		return CTL_FAIL;
	rc = state_reinstate(st, id, a.reason, a.by, a.ticket, now, &rec);
	if (rc < 0) {
		ctl_err("cannot reinstate %s: %s", id, state_error(st));
		return CTL_FAIL;
	}
	if (rc == 0) {
		ctl_err("%s is not suspended (nothing changed)", id);
		return CTL_FAIL;
	}
	emit(c, &rec);
	report(c, &rec, "reinstated");
	return CTL_OK;
}

/* Read the pid from path: > 0, or 0 after printing why not. */
static pid_t
read_pidfile(const char *path)
{
	char b[PIDFILE_MAX + 1], *end;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			ctl_err("no pidfile %s: is bulkwarden running?", path);
		else
			ctl_err("cannot read pidfile %s: %s", path, strerror(errno));
		return 0;
	}
	size_t n = fread(b, 1, PIDFILE_MAX, f);
	fclose(f);
	b[n] = '\0';
	errno = 0;
	long v = strtol(b, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno != 0 || end == b || *end != '\0' || v <= 1 || v > INT_MAX) {
		ctl_err("pidfile %s does not hold a process id", path);
		return 0;
	}
	return (pid_t)v;
}

/* The process name of pid ("" when /proc does not say). */
static void
proc_name(pid_t pid, char *buf, size_t len)
{
	char p[64];
	buf[0] = '\0';
	snprintf(p, sizeof(p), "/proc/%ld/comm", (long)pid);
	FILE *f = fopen(p, "r");
	if (f == NULL)
		return;
	if (fgets(buf, (int)len, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

int
ctl_reload(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	char comm[COMM_MAX], esc[CTL_ESC_MAX];
	int rc = ctl_args_parse(c, argc, argv, "", 0, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	/* the milter would refuse a bad configuration anyway; say so here */
	const struct registry *r = ctl_registry(c);
	const char *path = r->set.pidfile;
	if (path == NULL || path[0] == '\0') {
		ctl_err("milter.pidfile is not set in %s: cannot find the milter", c->conf_path);
		return CTL_FAIL;
	}
	pid_t pid = read_pidfile(path);
	if (pid == 0)
		return CTL_FAIL;
	if (kill(pid, 0) != 0) {
		if (errno == ESRCH)
			ctl_err(
			    "pidfile %s names process %ld, which is not running (stale pidfile)",
			    path, (long)pid);
		else
			ctl_err("cannot signal process %ld: %s (run as root or the milter's user)",
				(long)pid, strerror(errno));
		return CTL_FAIL;
	}
	proc_name(pid, comm, sizeof(comm));
	if (comm[0] != '\0' && strncmp(comm, MILTER_NAME, strlen(MILTER_NAME)) != 0) {
		ctl_err("process %ld from %s is \"%s\", not bulkwarden (stale pidfile?)", (long)pid,
			path, out_esc(comm, esc, sizeof(esc)));
		return CTL_FAIL;
	}
	if (kill(pid, SIGUSR2) != 0) {
		ctl_err("cannot signal process %ld: %s", (long)pid, strerror(errno));
		return CTL_FAIL;
	}
	printf("%s: OK, revision %.16s; sent SIGUSR2 to bulkwarden (pid %ld): the config-reload "
	       "audit event confirms the reload\n",
	       c->conf_path, r->revision, (long)pid);
	return CTL_OK;
}

/* For the verbs of other files (ctl/waiver.c, ctl/paths.c,
 * ctl/suppress.c): the expiry pass before a change (the audit event of a
 * stored record is ctl_audit_emit, above). */
int
ctl_expire_first(struct ctl *c, struct state *st, long long now)
{
	return expire_first(c, st, now);
}
