/*
 * eventlog.c - the event sink. Lines are built elsewhere (policy/event.c);
 * this module only delivers them. A file is opened O_APPEND so each write
 * lands whole even with bulkwardenctl appending beside the milter; syslog
 * lines drop the trailing newline. The target is process-wide.
 *
 * Batching (group commit). A line that finds the sink idle (no write in
 * progress, nothing queued) is written at once by its own thread. A line
 * that finds a write in progress or lines queued is appended to a bounded
 * queue, and the flusher thread (started on first need) writes the whole
 * queue with one write(2) as soon as the write in progress ends. Under load
 * a system call per message became one per batch (the refuse path measured
 * ~7 us of ext4 append per line). Either way eventlog_write() returns only
 * once its line was written, or with -1 when the write failed (disk full):
 * SPEC §5 promises one event per message, so the caller must know, and
 * the message then gets the on_internal_error action. Each batch has a
 * generation number; a queued writer waits for its generation and looks it
 * up among the last 64 failed generations (older than those: failed).
 * Order is kept: the queue is written only after a direct write in progress
 * has finished, and a line is never written directly while older lines
 * wait. A full queue makes the caller wait (backpressure); nothing is
 * dropped silently.
 *
 * Opening (as root at startup, by bulkwardenctl, on SIGUSR1): the log
 * directory is writable by the milter's user, so the path is opened
 * O_NOFOLLOW and the descriptor must be a regular file with one link,
 * owned by root, by this process's user or by eventlog_trust_uid()'s user;
 * anything else (a symlink or hard link to /etc/profile.d/...) is refused.
 *
 * Locking: one mutex guards the target, the queue and the busy flag; no
 * system call is made under it except by the rare target switches (open,
 * reopen, close), which first drain the queue to the old target.
 *
 * Memory: the two queue buffers (EVENTLOG_QUEUE_MAX each) are allocated when
 * the flusher starts and kept until eventlog_close(). If they cannot be had,
 * every line is written directly, one after another.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log/eventlog.h"
#include "base/util.h"
#include "registry/settings.h"

#define EVENTLOG_PATH_MAX 4096
#define EVENTLOG_QUEUE_MAX (256 * 1024) /* bytes queued before writers wait */

enum target { T_NONE, T_FILE, T_SYSLOG, T_STDOUT };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queued = PTHREAD_COND_INITIALIZER; /* queue became non-empty, or stop */
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;	 /* busy cleared or queue drained */
static enum target target = T_NONE;
static int fd = -1;
static char path[EVENTLOG_PATH_MAX];
static int facility = LOG_MAIL;

static bool busy;	       /* a write(2) of event bytes is in progress */
static char *qbuf, *wbuf;      /* the queue, and the flusher's buffer being written */
static size_t qlen;	       /* bytes queued in qbuf */
static bool flusher_up;	       /* the flusher thread runs */
static bool flusher_failed;    /* it could not be started: write directly */
static bool stop;	       /* eventlog_close(): the flusher drains and exits */
static pthread_t flusher_tid;
static uint64_t q_gen = 1;	      /* generation of the lines now in qbuf */
static uint64_t done_gen;	      /* last generation whose write finished */
static uint64_t fail_gen[64];	      /* the latest failed generations (a ring) */
static uint64_t n_failed;	      /* failed generations so far */
static uid_t trusted_uid = (uid_t)-1; /* may own the event log besides root and us */

void
eventlog_trust_uid(uid_t uid)
{
	trusted_uid = uid;
}

/* Open the log file without following a symlink; the descriptor must be a
 * regular file with one link owned by root, us or the trusted user. A file
 * root creates here is given to the trusted user (the milter's, which
 * opens it as root before dropping privileges; bulkwardenctl run as root):
 * as logrotate creates it, so bulkwardenctl ingest run by the MTA as that
 * user can append to it. */
static int
open_file(const char *p)
{
	struct stat st;
	const int fl = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK;
	bool created = false;
	int d = open(p, fl);
	if (d < 0 && errno == ENOENT) {
		d = open(p, fl | O_CREAT | O_EXCL, 0640);
		if (d >= 0)
			created = true;
		else if (errno == EEXIST) /* made meanwhile, or a symlink (ELOOP below) */
			d = open(p, fl);
	}
	if (d < 0) {
		if (errno == ELOOP)
			diag(LOG_ERR, "event log %s is a symbolic link: refused", p);
		return -1;
	}
	int bad = 0;
	const char *why = NULL;
	if (fstat(d, &st) != 0)
		bad = errno;
	else if (!S_ISREG(st.st_mode))
		why = "is not a regular file", bad = EINVAL;
	else if (st.st_nlink != 1)
		why = "has more than one hard link", bad = EPERM;
	else if (st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != trusted_uid)
		why = "is owned by another user than root or the milter's", bad = EPERM;
	if (why != NULL)
		diag(LOG_ERR, "event log %s %s: refused", p, why);
	if (bad != 0) {
		close(d);
		errno = bad;
		return -1;
	}
	if (created && geteuid() == 0 && trusted_uid != (uid_t)-1 && trusted_uid != 0 &&
	    fchown(d, trusted_uid, (gid_t)-1) != 0)
		diag(LOG_WARNING, "event log %s: cannot give it to uid %ld: %s", p,
		     (long)trusted_uid, strerror(errno));
	int f = fcntl(d, F_GETFL);
	if (f >= 0)
		fcntl(d, F_SETFL, f & ~O_NONBLOCK);
	return d;
}

/* write(2) the whole buffer, retrying short writes and EINTR. */
static int
write_all(int d, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(d, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The descriptor lines go to (file or stdout); lock held. */
static int
sink_fd(void)
{
	return target == T_FILE ? fd : target == T_STDOUT ? STDOUT_FILENO : -1;
}

/* Count the lines in a batch that could not be written, and say so. */
static void
report_lost(const char *b, size_t n)
{
	size_t lines = 0;
	for (const char *p = b; (p = memchr(p, '\n', n - (size_t)(p - b))) != NULL; p++)
		lines++;
	diag(LOG_ERR, "event log: write failed: %s (%zu event lines lost)", strerror(errno), lines);
}

/* Lock held: generation gen (the next one in order) finished, ok or not;
 * its writers are woken. */
static void
batch_done_locked(uint64_t gen, bool ok)
{
	done_gen = gen;
	if (!ok)
		fail_gen[n_failed++ % 64] = gen;
	pthread_cond_broadcast(&idle);
}

/* Lock held: did generation gen (done) fail? Only failures are kept, so a
 * writer that wakes late still learns its outcome; one older than the last
 * 64 failures is taken as failed (the disk is failing anyway). */
static bool
batch_failed_locked(uint64_t gen)
{
	uint64_t kept = n_failed < 64 ? n_failed : 64;
	for (uint64_t i = 0; i < kept; i++)
		if (fail_gen[i] == gen)
			return true;
	return n_failed > 64 && gen < fail_gen[n_failed % 64];
}

/* Lock held, busy clear: write the queue out now (target switches only). */
static void
drain_locked(void)
{
	int d = sink_fd();
	bool ok = true;
	if (qlen > 0 && d >= 0 && write_all(d, qbuf, qlen) != 0) {
		report_lost(qbuf, qlen);
		ok = false;
	}
	if (qlen > 0)
		batch_done_locked(q_gen++, ok);
	qlen = 0;
	pthread_cond_broadcast(&idle);
}

/* Lock held: wait until no write is in progress. */
static void
wait_idle_locked(void)
{
	while (busy)
		pthread_cond_wait(&idle, &lock);
}

static void *
flusher(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals belong to main's sigwait() */
	pthread_mutex_lock(&lock);
	for (;;) {
		while (qlen == 0 && !stop)
			pthread_cond_wait(&queued, &lock);
		if (qlen == 0 && stop)
			break;
		wait_idle_locked(); /* a direct write of an older line finishes first */
		if (qlen == 0)
			continue; /* a target switch drained it meanwhile */
		char *b = qbuf;
		size_t n = qlen;
		uint64_t gen = q_gen++;
		qbuf = wbuf;
		wbuf = b;
		qlen = 0;
		busy = true;
		int d = sink_fd();
		pthread_cond_broadcast(&idle); /* room in the queue again */
		pthread_mutex_unlock(&lock);
		bool ok = d < 0 || write_all(d, b, n) == 0;
		if (!ok)
			report_lost(b, n);
		pthread_mutex_lock(&lock);
		busy = false;
		batch_done_locked(gen, ok);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* Lock held: start the flusher and its buffers; false if they cannot be had. */
static bool
flusher_start_locked(void)
{
	if (flusher_up)
		return true;
	if (flusher_failed)
		return false;
	qbuf = malloc(EVENTLOG_QUEUE_MAX);
	wbuf = malloc(EVENTLOG_QUEUE_MAX);
	stop = false;
	if (qbuf == NULL || wbuf == NULL ||
	    pthread_create(&flusher_tid, NULL, flusher, NULL) != 0) {
		free(qbuf);
		free(wbuf);
		qbuf = wbuf = NULL;
		flusher_failed = true;
		diag(LOG_WARNING, "event log: no flusher thread; writing every line at once");
		return false;
	}
	flusher_up = true;
	return true;
}

int
eventlog_open(const char *t, const char *p, const char *fac)
{
	int nfd = -1;
	enum target nt;
	int nfac = LOG_MAIL; /* only read for syslog */

	if (strcmp(t, "file") == 0) {
		if (p == NULL || p[0] == '\0') {
			errno = EINVAL;
			return -1;
		}
		nfd = open_file(p);
		if (nfd < 0)
			return -1;
		nt = T_FILE;
	} else if (strcmp(t, "syslog") == 0) {
		nt = T_SYSLOG;
		/* the loader's vocabulary is this mapping (registry/settings.c) */
		if (fac == NULL)
			nfac = setting_default_value(S_LOG_FACILITY);
		else if (!setting_word_value(S_LOG_FACILITY, fac, &nfac)) {
			errno = EINVAL;
			return -1;
		}
	} else if (strcmp(t, "stdout") == 0) {
		nt = T_STDOUT;
	} else {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&lock);
	wait_idle_locked();
	drain_locked(); /* queued lines go where they were headed */
	if (fd >= 0)
		close(fd);
	fd = nfd;
	target = nt;
	facility = nfac;
	if (nt == T_FILE)
		bw_strlcpy(path, p, sizeof(path));
	pthread_mutex_unlock(&lock);
	return 0;
}

int
eventlog_reopen(void)
{
	int rc = 0;
	pthread_mutex_lock(&lock);
	if (target == T_FILE) {
		int nfd = open_file(path);
		if (nfd < 0) {
			rc = -1; /* keep writing to the old descriptor */
		} else {
			wait_idle_locked();
			drain_locked(); /* into the rotated file, where they belong */
			close(fd);
			fd = nfd;
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

/* Lock held, no write in progress: write this thread's line outside the
 * lock, marked busy meanwhile; returns with the lock released. */
static int
write_own_unlock(const char *line, size_t len)
{
	busy = true;
	int d = sink_fd();
	pthread_mutex_unlock(&lock);
	int rc = write_all(d, line, len);
	pthread_mutex_lock(&lock);
	busy = false;
	pthread_cond_broadcast(&idle);
	pthread_mutex_unlock(&lock);
	return rc;
}

int
eventlog_write(const char *line, size_t len)
{
	pthread_mutex_lock(&lock);
	if (target == T_SYSLOG) {
		pthread_mutex_unlock(&lock);
		syslog(facility | LOG_INFO, "%.*s", (int)(len && line[len - 1] == '\n' ? len - 1 : len),
		       line);
		return 0;
	}
	if (target == T_NONE) {
		pthread_mutex_unlock(&lock);
		return 0;
	}
	if (!busy && qlen == 0) /* idle: this thread writes its own line now */
		return write_own_unlock(line, len);
	if (len <= EVENTLOG_QUEUE_MAX && flusher_start_locked()) {
		while (qlen + len > EVENTLOG_QUEUE_MAX) /* backpressure, never a drop */
			pthread_cond_wait(&idle, &lock);
		if (qlen == 0)
			pthread_cond_signal(&queued);
		memcpy(qbuf + qlen, line, len);
		qlen += len;
		uint64_t gen = q_gen; /* wait for this batch's write */
		while (done_gen < gen)
			pthread_cond_wait(&idle, &lock);
		bool failed = batch_failed_locked(gen);
		pthread_mutex_unlock(&lock);
		if (failed)
			errno = EIO;
		return failed ? -1 : 0;
	}
	/* no queue to be had: wait for the writer ahead, then write in turn */
	while (busy || qlen > 0)
		pthread_cond_wait(&idle, &lock);
	return write_own_unlock(line, len);
}

void
eventlog_close(void)
{
	pthread_mutex_lock(&lock);
	bool joined = flusher_up;
	if (flusher_up) {
		stop = true;
		pthread_cond_signal(&queued);
		pthread_mutex_unlock(&lock);
		pthread_join(flusher_tid, NULL); /* it writes what is queued first */
		pthread_mutex_lock(&lock);
		flusher_up = false;
	}
	wait_idle_locked();
	drain_locked();
	if (joined) {
		free(qbuf);
		free(wbuf);
		qbuf = wbuf = NULL;
	}
	if (fd >= 0)
		close(fd);
	fd = -1;
	target = T_NONE;
	pthread_mutex_unlock(&lock);
}
