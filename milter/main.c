/*
 * main.c - the bulkwarden daemon: options, config load, socket, privilege
 * drop, signals, and the libmilter main loop.
 *
 * Signals. libmilter's own signal thread sigwait()s SIGHUP, SIGTERM and
 * SIGINT and stops the milter on any of them (libmilter signal.c). A SIGHUP
 * that arrives while the main thread is busy (a reload in progress) goes
 * to that thread, so SIGHUP can never be a safe reload signal: reload is
 * SIGUSR2 (and SIGUSR1 reopens the event log), both blocked before any
 * thread exists and taken by the main thread with sigwait(). SIGHUP is set
 * to SIG_IGN and left unblocked in the main thread (the thread group
 * leader, which a process-directed signal is checked against): Linux then
 * discards it when it is sent, before libmilter's thread can take it, so a
 * stray SIGHUP never stops the milter. SIGTERM/SIGINT stop it, whichever
 * thread takes them.
 *
 * Reload (SIGUSR2): a new snapshot is loaded and validated in full before
 * it is published; a bad one is refused, the old one keeps serving and an
 * audit event says why. Its audit record is written before the new
 * snapshot is published: if it cannot be written, the reload is refused.
 * Messages in flight keep the snapshot they pinned.
 *
 * Privileges. As root: the socket, the pidfile, the event log and the state
 * store are opened, none of them through a symlink (they live in
 * directories the milter's user can write); then setgroups + setresgid +
 * setresuid drop to milter.user for good (checked).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#ifdef HAVE_MALLOC_H
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "dkim/bwdkey.h"
#include "dns/dmarc.h"
#include "log/eventlog.h"
#include "metrics/metrics.h"
#include "base/util.h"
#include "base/strbuf.h"
#include "milter/mlfi.h"
#include "milter/reapproval.h"
#include "milter/runtime.h"
#include "registry/diff.h"
#include "registry/conf.h"
#include "policy/event.h"
#include "registry/registry.h"
#include "state/overlay.h"
#include "state/state.h"
#include "milter/limits.h"
#include "milter/paths.h"
#include "milter/surge.h"
#include "milter/statesync.h"
#include "milter/suppress_set.h"

#define MILTER_TIMEOUT 300  /* seconds libmilter waits on the MTA */
#define MAX_FD_SCAN 1024

static const char *conf_path;
static char socket_spec[1024];
static char pidfile[1024];
static int stopping; /* set by main, read by the milter thread: __atomic */

static void
usage(void)
{
	fprintf(stderr, "usage: bulkwarden [-f] [-n] [-V] [-c config] [-p socket]\n");
	exit(2);
}

static struct statesync *sync_thread;

/* Record a config-reload / config-rejected in the audit log (and events);
 * returns -1 when the record could not be written. */
static int
audit_config(const char *action, const struct registry *old, const struct registry *new,
	     const char *reason)
{
	struct state_audit rec;
	memset(&rec, 0, sizeof(rec));
	rec.ts = (long long)time(NULL);
	bw_strlcpy(rec.action, action, sizeof(rec.action));
	bw_strlcpy(rec.actor, "bulkwarden", sizeof(rec.actor));
	bw_strlcpy(rec.reason, reason, sizeof(rec.reason));
	snprintf(rec.detail, sizeof(rec.detail), "file %s; revision %.16s; previous %.16s; identities %zu",
		 conf_path, new ? new->revision : "-", old ? old->revision : "-",
		 new ? new->n_ids : (size_t)0);
	return statesync_audit(sync_thread, &rec);
}

struct change_ctx {
	const struct registry *r;
	size_t failed; /* records that could not be written */
};

/* Change control: one "config-change" audit record per identity a reload
 * added, removed or changed, saying what changed (registry/diff.h). */
static void
audit_change(const char *id, const char *text, bool security, void *arg)
{
	struct change_ctx *cx = arg;
	const struct registry *r = cx->r;
	if (cx->failed > 0)
		return; /* the reload is refused already */
	struct state_audit rec;
	memset(&rec, 0, sizeof(rec));
	rec.ts = (long long)time(NULL);
	bw_strlcpy(rec.action, "config-change", sizeof(rec.action));
	bw_strlcpy(rec.actor, "bulkwarden", sizeof(rec.actor));
	bw_strlcpy(rec.identity, id, sizeof(rec.identity));
	snprintf(rec.reason, sizeof(rec.reason), "%s by the reload to revision %.16s",
		 security ? STATE_CHANGE_SECURITY : "change", r->revision);
	bw_strlcpy(rec.detail, text, sizeof(rec.detail));
	if (statesync_audit(sync_thread, &rec) != 0)
		cx->failed++;
}

/* Load and validate; on failure print/log every error. */
static struct registry *
load(char *why, size_t whylen)
{
	struct conf_errors errs = {0};
	struct registry *r = conf_load(conf_path, (long long)time(NULL), &errs);
	if (r == NULL) {
		struct bw_sbuf b;
		bw_sbuf_init(&b, why, whylen);
		for (size_t i = 0; i < errs.n; i++) {
			diag(LOG_ERR, "%s", errs.msg[i]);
			bw_sbuf_join(&b, "; ", errs.msg[i]);
		}
		if (errs.n == 0)
			bw_sbuf_printf(&b, "configuration refused");
		bw_sbuf_mark_cut(&b, "...");
	}
	conf_errors_free(&errs);
	return r;
}

/* Load, build the runtime for it, publish; a failure keeps the old one. */
static void
reload(void)
{
	char why[2048];
	struct runtime *cur = runtime_current();
	struct registry *old = cur != NULL ? cur->reg : NULL;
	struct registry *r = load(why, sizeof(why));
	if (r != NULL)
		reapproval_reload(r, old, (long long)time(NULL));
	if (r == NULL) {
		diag(LOG_ERR, "reload refused, still serving revision %.16s", old ? old->revision : "-");
		audit_config("config-rejected", old, NULL, why);
		runtime_release(cur);
		return;
	}
	char err[512];
	struct runtime *rt = runtime_new(r, err, sizeof(err));
	if (rt == NULL) {
		diag(LOG_ERR, "reload refused: %s", err);
		audit_config("config-rejected", old, NULL, err);
		registry_release(r);
		runtime_release(cur);
		return;
	}
	/* no change without its audit records (SPEC §5): the reload's, then
	 * one per identity it changes; any that cannot be written refuses it */
	struct change_ctx cx = {r, 0};
	if (audit_config("config-reload", old, r, "configuration reloaded") != 0 ||
	    (old != NULL && (registry_diff(old, r, audit_change, &cx), cx.failed > 0))) {
		diag(LOG_ERR, "reload refused: its audit records could not be written");
		audit_config("config-rejected", old, NULL, "audit records could not be written");
		runtime_release(rt);
		registry_release(r);
		runtime_release(cur);
		return;
	}
	registry_release(r); /* the runtime holds it now */
	if (old != NULL && (strcmp(old->set.socket, r->set.socket) != 0))
		diag(LOG_WARNING, "milter.socket changed: takes effect on restart");
	/* the event target may move with the new config */
	if (old == NULL || strcmp(old->set.log_target, r->set.log_target) != 0 ||
	    strcmp(old->set.log_path ? old->set.log_path : "", r->set.log_path ? r->set.log_path : "") != 0) {
		if (eventlog_open(r->set.log_target, r->set.log_path, r->set.log_facility) != 0)
			diag(LOG_ERR, "cannot open event log %s: %s (keeping the old one)",
			     r->set.log_path ? r->set.log_path : r->set.log_target, strerror(errno));
	}
	/* the old snapshot goes when its last message ends; give the loader's
	 * transient memory back to the system now */
#ifdef HAVE_MALLOC_TRIM
	malloc_trim(0);
#endif
	statesync_set_interval(sync_thread, r->set.counters_interval);
	metrics_registry(r->revision, r->loaded_at, r->set.metrics_per_identity);
	if (strcmp(old != NULL && old->set.metrics_listen ? old->set.metrics_listen : "",
		   r->set.metrics_listen ? r->set.metrics_listen : "") != 0)
		diag(LOG_WARNING, "metrics.listen changed: takes effect on restart");
	diag(LOG_INFO, "reloaded: %zu identities, revision %.16s", r->n_ids, r->revision);
	runtime_publish(rt);
	runtime_release(cur);
}

/* -n with policy.require_reapproval: read the change times from the store
 * (creating nothing) and name every identity they make pending. Called
 * after state_check() accepted the store; 0, or 1 when it cannot be read. */
static int
check_reapproval(struct registry *r)
{
	char err[512];
	if (!r->set.require_reapproval)
		return 0;
	struct state *st = state_open_existing(&r->set, err, sizeof(err));
	if (st == NULL && err[0] != '\0') {
		fprintf(stderr, "%s: state store (%s): %s\n", conf_path, r->set.state_backend, err);
		return 1;
	}
	int rc = st != NULL ? reapproval_load(r, st, err, sizeof(err)) : 0; /* none yet: no change */
	state_close(st);
	if (rc != 0) {
		fprintf(stderr, "%s: state store (%s): %s\n", conf_path, r->set.state_backend, err);
		return 1;
	}
	for (size_t i = 0; i < r->n_ids; i++) {
		const struct bw_identity *id = &r->ids[i];
		const char *why;
		if (registry_lifecycle(id, (long long)time(NULL), &why) == BW_LIFE_PENDING &&
		    registry_changed_since_approval(id, id->changed_at))
			printf("note: identity %s is pending: %s\n", id->id, why);
	}
	return 0;
}

static struct stat pidfile_st; /* the pidfile we wrote: device and inode */

/*
 * Create the pidfile (as root, before dropping privileges). Its directory
 * is the milter user's: never follow a symlink, and truncate only a regular
 * file with one link owned by root or the milter's user, checked on the
 * descriptor (O_TRUNC at open would have cut the target of a hard link).
 */
static void
write_pidfile(const char *path, uid_t milter_uid)
{
	struct stat st;
	int fd =
	    open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0644);
	if (fd < 0)
		fatal("cannot create pidfile %s: %s", path,
		      errno == ELOOP ? "it is a symbolic link" : strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != milter_uid))
		fatal("pidfile %s is not a regular file of root or the milter's user with one "
		      "link: refused",
		      path);
	char b[32];
	int n = snprintf(b, sizeof(b), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, b, (size_t)n) != n)
		fatal("cannot write pidfile %s: %s", path, strerror(errno));
	if (fstat(fd, &pidfile_st) != 0)
		fatal("cannot stat pidfile %s: %s", path, strerror(errno));
	close(fd);
}

/*
 * Remove the pidfile at exit only while it is still ours: the same file
 * (device and inode) holding our pid. A successor started on the same
 * pidfile before we exit has replaced or rewritten it; its pidfile stays.
 */
static void
remove_pidfile(const char *path)
{
	struct stat st;
	char b[32];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, b, sizeof(b) - 1);
	bool same = fstat(fd, &st) == 0 && st.st_dev == pidfile_st.st_dev &&
		    st.st_ino == pidfile_st.st_ino;
	close(fd);
	if (!same || n <= 0)
		return;
	b[n] = '\0';
	char *end;
	long pid = strtol(b, &end, 10);
	if (end != b && (*end == '\n' || *end == '\0') && pid == (long)getpid())
		unlink(path);
	else
		diag(LOG_INFO, "pidfile %s now names another process: left in place", path);
}

/* Path part of a unix: / local: socket spec, or NULL. */
static const char *
unix_path(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (strncmp(spec, "local:", 6) == 0)
		return spec + 6;
	if (spec[0] == '/')
		return spec;
	return NULL;
}

/*
 * libmilter keeps its listening socket private. Find it (a listening
 * TCP socket among our descriptors) and set TCP_NODELAY on it: Linux
 * copies the option to every accepted connection, which avoids Nagle
 * delays on the small milter replies.
 */
static void
tcp_nodelay_listener(void)
{
	for (int fd = 3; fd < MAX_FD_SCAN; fd++) {
		int acc = 0, on = 1;
		socklen_t l = sizeof(acc);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) != 0 || !acc)
			continue;
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
			continue;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0)
			diag(LOG_WARNING, "TCP_NODELAY on the milter socket: %s", strerror(errno));
	}
}

/* The milter user's ids (uid -1 when none is set or we are not root). */
static void
milter_ids(const char *user, uid_t *uid, gid_t *gid)
{
	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (user == NULL || user[0] == '\0' || geteuid() != 0)
		return;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL)
		fatal("milter.user: no such user \"%s\"", user);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
}

/*
 * Drop root to the configured user for good (OpenSMTPD's way): its group
 * only, then real, effective and saved ids; then check that root cannot be
 * had back. The socket is already open; it is handed to the user without
 * following a symlink (lchown).
 */
static void
drop_privileges(const char *user, uid_t uid, gid_t gid, const char *sockpath)
{
	if (uid == (uid_t)-1)
		return;
	if (sockpath != NULL && lchown(sockpath, uid, gid) != 0)
		fatal("chown %s: %s", sockpath, strerror(errno));
	if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		fatal("cannot drop privileges to %s: %s", user, strerror(errno));
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != uid ||
	    eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		fatal("privileges were not dropped to %s", user);
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0 || setresuid(0, 0, 0) == 0))
		fatal("privileges were not dropped: root can be regained");
	if (gid != 0 && (setgid(0) == 0 || setegid(0) == 0))
		fatal("privileges were not dropped: group root can be regained");
}

static void
daemonize(void)
{
	pid_t p = fork();
	if (p < 0)
		fatal("fork: %s", strerror(errno));
	if (p > 0)
		_exit(0);
	setsid();
	if (chdir("/") != 0)
		fatal("chdir /: %s", strerror(errno));
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static void *
milter_thread(void *arg)
{
	int *rc = arg;
	*rc = smfi_main();
	if (!__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) { /* libmilter gave up on its own: wake the main thread */
		diag(LOG_ERR, "milter main loop ended unexpectedly");
		kill(getpid(), SIGTERM);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	bool foreground = false, check_only = false;
	const char *sock_override = NULL;
	int c;

	conf_path = conf_default_path();
	while ((c = getopt(argc, argv, "c:fnp:Vh")) != -1) {
		switch (c) {
		case 'c':
			conf_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'n':
			check_only = true;
			break;
		case 'p':
			sock_override = optarg;
			break;
		case 'V':
			printf("bulkwarden %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	diag_init("bulkwarden", foreground || check_only, !check_only);
	/* snapshot arenas grow in chunks up to 4 MiB: keep them mmap'ed, so a
	 * freed snapshot returns to the system instead of fragmenting the heap
	 * (glibc would otherwise raise the threshold after the first free) */
#if defined(HAVE_MALLOPT) && defined(M_MMAP_THRESHOLD)
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
#endif
	char why[4096], err[512];
	if (bwdkey_init(err, sizeof(err)) != 0)
		fatal("DKIM: %s", err);
	struct registry *r = load(why, sizeof(why));
	if (check_only) {
		if (r == NULL)
			return 1;
		/* what the milter builds per snapshot must build too (DKIM keys) */
		struct runtime *rt = runtime_new(r, err, sizeof(err));
		if (rt == NULL) {
			fprintf(stderr, "%s\n", err);
			registry_release(r);
			return 1;
		}
		/* the daemon would exit on a store it cannot open: so does -n */
		if (state_check(&r->set, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: state store (%s): %s\n", conf_path,
				r->set.state_backend ? r->set.state_backend : "sqlite", err);
			registry_release(r);
			return 1;
		}
		if (check_reapproval(r) != 0) {
			runtime_release(rt);
			registry_release(r);
			return 1;
		}
		printf("%s: OK, %zu identities, revision %.16s\n", conf_path, r->n_ids, r->revision);
		runtime_release(rt);
		registry_release(r);
		return 0;
	}
	if (r == NULL)
		fatal("%s: configuration refused", conf_path);

	const struct bw_settings *set = &r->set;
	if (dmarc_psl_load(NULL, err, sizeof(err)) != 0)
		diag(LOG_WARNING, "public suffix list: %s (DMARC uses the DNS tree walk only)", err);
	struct runtime *rt = runtime_new(r, err, sizeof(err));
	if (rt == NULL)
		fatal("%s", err);
	bw_strlcpy(socket_spec, sock_override ? sock_override : set->socket, sizeof(socket_spec));
	if (sock_override != NULL && !set->allow_remote && conf_socket_remote(socket_spec))
		fatal("-p %s listens beyond loopback; set milter.allow_remote = true if the MTA is "
		      "on another host",
		      socket_spec);
	uid_t muid;
	gid_t mgid;
	milter_ids(set->user, &muid, &mgid);
	if (muid != (uid_t)-1)
		eventlog_trust_uid(muid);
	if (eventlog_open(set->log_target, set->log_path, set->log_facility) != 0)
		fatal("cannot open event log %s: %s", set->log_path ? set->log_path : set->log_target,
		      strerror(errno));

	struct state *st = state_open(set, err, sizeof(err));
	if (st == NULL)
		fatal("state store (%s): %s", set->state_backend, err);
	if (reapproval_load(r, st, err, sizeof(err)) != 0) {
		if (set->require_reapproval)
			fatal("state store (%s): %s", set->state_backend, err);
		diag(LOG_WARNING, "state store (%s): %s", set->state_backend, err);
	}
	reapproval_log(r);

	if (!foreground)
		daemonize();

	/* Signals are blocked before any thread exists (every thread inherits
	 * the mask) and taken by the main thread with sigwait below. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* SIGHUP: ignored and unblocked here, so it is discarded when sent and
	 * never reaches libmilter's signal thread (which would stop us) */
	sigset_t hup;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	signal(SIGHUP, SIG_IGN);
	pthread_sigmask(SIG_UNBLOCK, &hup, NULL);

	if (smfi_register(mlfi_desc) != MI_SUCCESS)
		fatal("smfi_register failed");
	if (smfi_setconn(socket_spec) != MI_SUCCESS)
		fatal("smfi_setconn %s failed", socket_spec);
	smfi_settimeout(MILTER_TIMEOUT);
	const char *upath = unix_path(socket_spec);
	/* the socket is born with its mode (no chmod through a path someone
	 * could swap for a symlink) */
	mode_t um = umask(0777 & ~(mode_t)set->socket_mode);
	int sock_rc = smfi_opensocket(1);
	umask(um);
	if (sock_rc != MI_SUCCESS)
		fatal("cannot open milter socket %s", socket_spec);
	if (upath == NULL) {
		tcp_nodelay_listener();
		mlfi_set_tcp(true);
	}
	if (set->pidfile != NULL) {
		write_pidfile(set->pidfile, muid);
		bw_strlcpy(pidfile, set->pidfile, sizeof(pidfile));
	}
	drop_privileges(set->user, muid, mgid, upath);

	/* the state thread starts after privileges are dropped (files it
	 * creates belong to the milter user) and before the first message */
	struct overlay *ov = overlay_new();
	if (ov == NULL)
		fatal("out of memory");
	struct limits *lim = limits_new(r, err, sizeof(err));
	if (lim == NULL)
		fatal("%s", err);
	struct paths *paths = paths_new(r, err, sizeof(err));
	if (paths == NULL)
		fatal("%s", err);
	struct surge *surge = surge_new(r, err, sizeof(err));
	if (surge == NULL)
		fatal("%s", err);
	if (suppress_set_start(set, st, err, sizeof(err)) != 0)
		fatal("state store (%s): %s", set->state_backend, err);
	struct state *watch = NULL;
	if (state_has_notify(st) && (watch = state_open(set, err, sizeof(err))) == NULL)
		diag(LOG_WARNING, "state store: no change subscription (%s): polling only", err);
	sync_thread = statesync_start(st, watch, ov, lim, set->counters_interval,
				      set->state_stale_after, err, sizeof(err));
	if (sync_thread == NULL)
		fatal("state store (%s): %s", set->state_backend, err);
	mlfi_set_overlay(ov);
	mlfi_set_limits(lim);
	mlfi_set_paths(paths);
	mlfi_set_surge(surge);
	metrics_registry(r->revision, r->loaded_at, set->metrics_per_identity);
	if (set->metrics_listen != NULL) {
		if (metrics_start(set->metrics_listen, err, sizeof(err)) != 0)
			fatal("%s", err);
		diag(LOG_INFO, "metrics on http://%s/metrics", set->metrics_listen);
	}

	runtime_publish(rt); /* the registry reference below stays valid: rt holds one */
	diag(LOG_INFO, "listening on %s: %zu identities, revision %.16s, state backend %s",
	     socket_spec, r->n_ids, r->revision, set->state_backend);
	if (audit_config("config-reload", NULL, r, "configuration loaded at startup") != 0)
		fatal("cannot write the startup audit record");
	registry_release(r); /* the runtime holds it now */


	pthread_t tid;
	int milter_rc = 0;
	if (pthread_create(&tid, NULL, milter_thread, &milter_rc) != 0)
		fatal("cannot start the milter thread");

	for (;;) {
		int sig;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGUSR2) {
			reload();
		} else if (sig == SIGUSR1) {
			if (eventlog_reopen() != 0)
				diag(LOG_ERR, "cannot reopen event log: %s", strerror(errno));
		} else {
			diag(LOG_INFO, "signal %d: finishing messages in flight and exiting", sig);
			break;
		}
	}
	__atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
	smfi_stop();
	pthread_join(tid, NULL);
	metrics_stop();
	statesync_stop(sync_thread); /* final counter and use-count flush */
	state_close(st);
	state_close(watch);
	limits_free(lim);
	paths_free(paths);
	surge_free(surge);
	overlay_free(ov);
	if (pidfile[0] != '\0')
		remove_pidfile(pidfile);
	runtime_publish(NULL);
	bwdkey_shutdown();
	eventlog_close();
	return milter_rc == MI_SUCCESS ? 0 : 1;
}
