/*
 * state_sqlite.c - the embedded state store: one SQLite database file
 * (state.path) shared by the milter and any number of bulkwardenctl
 * processes on the same host.
 *
 * Concurrency. The database is in WAL mode: readers never block writers
 * or each other. Every write runs in BEGIN IMMEDIATE, so a writer takes
 * the write lock before reading anything and can never fail with
 * SQLITE_BUSY halfway through; waiting for the lock is bounded by
 * SQLITE_BUSY_MS, after which the call fails with "locked". An audit record
 * is appended inside the same transaction as the change it records.
 * synchronous=FULL: a commit is on disk when the call returns, and a crash
 * (kill -9, power loss) at any point leaves the last committed state.
 *
 * A handle is one connection (opened SQLITE_OPEN_NOMUTEX) with its
 * prepared statements cached: use it from one thread at a time. Iterators
 * (audit_foreach, counters_foreach) use statements of their own, so their
 * callbacks may call back into the same handle.
 *
 * Schema version: PRAGMA user_version. 0 is a new file (the schema is
 * created), SCHEMA_VERSION is current, a larger one was written by a newer
 * bulkwarden and is refused rather than misread.
 *
 * This file holds the connection: opening and schema, errors, the
 * statement cache and transactions; the operations are in
 * state_sqlite_ops.c. Untrusted input: the database file itself (a
 * tampered or foreign file is reported, never trusted: audit rows are
 * verified byte for byte).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "state/state_sqlite.h"
#include "base/util.h"

#define SCHEMA_VERSION 3

/* Version 2: the use counts behind the fleet-wide limits (state_reserve).
 * Version 3: waivers (WAIVER_SQL in state_sqlite.h). */
static const char usage_sql[] = "CREATE TABLE usage ("
				" id TEXT NOT NULL,"
				" win INTEGER NOT NULL," /* 0 hour, 1 day */
				" start INTEGER NOT NULL,"
				" messages INTEGER NOT NULL DEFAULT 0,"
				" recipients INTEGER NOT NULL DEFAULT 0,"
				" PRIMARY KEY (id, win, start)) WITHOUT ROWID;";

static const char schema_sql[] = "CREATE TABLE suspensions ("
				 " id TEXT PRIMARY KEY NOT NULL,"
				 " reason TEXT NOT NULL,"
				 " suspended_by TEXT NOT NULL,"
				 " ticket TEXT NOT NULL DEFAULT '',"
				 " since INTEGER NOT NULL,"
				 " until INTEGER NOT NULL DEFAULT 0);" /* 0: until reinstated */
				 "CREATE TABLE audit ("
				 " seq INTEGER PRIMARY KEY,"
				 " ts INTEGER NOT NULL,"
				 " action TEXT NOT NULL,"
				 " actor TEXT NOT NULL,"
				 " identity TEXT NOT NULL,"
				 " reason TEXT NOT NULL,"
				 " ticket TEXT NOT NULL,"
				 " detail TEXT NOT NULL,"
				 " prev_hash TEXT NOT NULL,"
				 " hash TEXT NOT NULL);"
				 "CREATE TABLE audit_head ("
				 " one INTEGER PRIMARY KEY CHECK (one = 1),"
				 " seq INTEGER NOT NULL,"
				 " hash TEXT NOT NULL);"
				 "CREATE TABLE counters ("
				 " id TEXT NOT NULL,"
				 " hour INTEGER NOT NULL,"
				 " messages INTEGER NOT NULL DEFAULT 0,"
				 " recipients INTEGER NOT NULL DEFAULT 0,"
				 " bytes INTEGER NOT NULL DEFAULT 0,"
				 " accepted INTEGER NOT NULL DEFAULT 0,"
				 " rejected INTEGER NOT NULL DEFAULT 0,"
				 " quarantined INTEGER NOT NULL DEFAULT 0,"
				 " tempfailed INTEGER NOT NULL DEFAULT 0,"
				 " auth_failed INTEGER NOT NULL DEFAULT 0,"
				 " PRIMARY KEY (id, hour)) WITHOUT ROWID;"
				 "CREATE INDEX counters_by_hour ON counters (hour);";

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_SUSP_GET] = "SELECT reason, suspended_by, ticket, since, until FROM suspensions "
		    "WHERE id = ?1",
    [ST_SUSP_PUT] = "INSERT OR REPLACE INTO suspensions (id, reason, suspended_by, ticket, "
		    "since, until) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SUSP_DEL] = "DELETE FROM suspensions WHERE id = ?1",
    [ST_SUSP_LIST] = "SELECT id, reason, suspended_by, ticket, since, until FROM suspensions "
		     "WHERE until = 0 OR until > ?1 ORDER BY id",
    [ST_SUSP_ANY_EXPIRED] = "SELECT 1 FROM suspensions WHERE until != 0 AND until <= ?1 LIMIT 1",
    [ST_SUSP_EXPIRED] = "SELECT id, reason, suspended_by, ticket, since, until FROM "
			"suspensions WHERE until != 0 AND until <= ?1 ORDER BY until, id",
    [ST_HEAD_GET] = "SELECT seq, hash FROM audit_head WHERE one = 1",
    [ST_LAST_GET] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
    [ST_HEAD_PUT] = "INSERT OR REPLACE INTO audit_head (one, seq, hash) VALUES (1, ?1, ?2)",
    [ST_AUDIT_PUT] = "INSERT INTO audit (seq, ts, action, actor, identity, reason, ticket, "
		     "detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_CNT_ADD] =
	"INSERT INTO counters (id, hour, messages, recipients, bytes, accepted, "
	"rejected, quarantined, tempfailed, auth_failed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	"?7, ?8, ?9, ?10) "
	"ON CONFLICT (id, hour) DO UPDATE SET "
	"messages = messages + excluded.messages, "
	"recipients = recipients + excluded.recipients, "
	"bytes = bytes + excluded.bytes, accepted = accepted + excluded.accepted, "
	"rejected = rejected + excluded.rejected, "
	"quarantined = quarantined + excluded.quarantined, "
	"tempfailed = tempfailed + excluded.tempfailed, "
	"auth_failed = auth_failed + excluded.auth_failed",
    [ST_USE_GET] = "SELECT messages, recipients FROM usage WHERE id = ?1 AND win = ?2 AND "
		   "start = ?3",
    [ST_USE_ADD] =
	"INSERT INTO usage (id, win, start, messages, recipients) VALUES "
	"(?1, ?2, ?3, max(?4, 0), max(?5, 0)) ON CONFLICT (id, win, start) DO UPDATE SET "
	"messages = max(messages + ?4, 0), recipients = max(recipients + ?5, 0)",
    [ST_USE_PRUNE] = "DELETE FROM usage WHERE start < ?1",
    [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [ST_CNT_SUM] = "SELECT total(messages), total(recipients), total(bytes), total(accepted), "
		   "total(rejected), total(quarantined), total(tempfailed), total(auth_failed) "
		   "FROM counters WHERE id = ?1 AND hour >= ?2 AND hour < ?3",
};

/* Turn an SQLite result code into a message an operator can act on. */
static void
describe(char *buf, size_t len, const char *path, sqlite3 *db, int rc, const char *what)
{
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		snprintf(buf, len,
			 "state database %s is locked by another process (gave up after %d ms)",
			 path, SQLITE_BUSY_MS);
		break;
	case SQLITE_NOTADB:
		snprintf(buf, len, "%s is not a bulkwarden state database or is corrupt (%s)", path,
			 msg);
		break;
	case SQLITE_CORRUPT:
		snprintf(buf, len, "state database %s is corrupt (%s): restore it from a backup",
			 path, msg);
		break;
	case SQLITE_READONLY:
		snprintf(
		    buf, len,
		    "state database %s is read-only for this process (%s): the file and its "
		    "directory must be writable, even to read (WAL mode); run as root or as the "
		    "milter's user",
		    path, msg);
		break;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		snprintf(buf, len, "cannot open state database %s (%s)", path, msg);
		break;
	case SQLITE_FULL:
		snprintf(buf, len, "state database %s: disk full (%s)", path, msg);
		break;
	default:
		snprintf(buf, len, "state database %s: %s: %s", path, what, msg);
		break;
	}
}

/* Record an SQLite failure on the handle. */
int
state_sqlite_fail(struct sqlite_state *ss, int rc, const char *what)
{
	char buf[STATE_ERR_MAX];
	describe(buf, sizeof(buf), ss->path, ss->db, rc, what);
	state_set_error(&ss->base, "%s", buf);
	return -1;
}

/* The cached statement, prepared on first use; NULL with the error set. */
sqlite3_stmt *
state_sqlite_stmt(struct sqlite_state *ss, enum stmt_id id)
{
	if (ss->st[id] == NULL) {
		int rc = sqlite3_prepare_v3(ss->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &ss->st[id], NULL);
		if (rc != SQLITE_OK) {
			state_sqlite_fail(ss, rc, "prepare");
			return NULL;
		}
	}
	return ss->st[id];
}

/* Run a cached statement that returns no rows. */
int
state_sqlite_exec(struct sqlite_state *ss, enum stmt_id id, const char *what)
{
	sqlite3_stmt *q = state_sqlite_stmt(ss, id);
	if (q == NULL)
		return -1;
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return state_sqlite_fail(ss, rc, what);
	return 0;
}

/* Start a write transaction (waits at most SQLITE_BUSY_MS for the lock). */
int
state_sqlite_begin(struct sqlite_state *ss)
{
	return state_sqlite_exec(ss, ST_BEGIN, "begin");
}

/* Abandon the transaction, keeping the error already recorded. */
int
state_sqlite_abort(struct sqlite_state *ss)
{
	if (!sqlite3_get_autocommit(ss->db)) {
		char keep[STATE_ERR_MAX];
		memcpy(keep, ss->base.err, sizeof(keep));
		state_sqlite_exec(ss, ST_ROLLBACK, "rollback");
		memcpy(ss->base.err, keep, sizeof(keep));
	}
	return -1;
}

/* Commit; on failure roll back. Counts the commit for state_version(). */
int
state_sqlite_commit(struct sqlite_state *ss)
{
	if (state_sqlite_exec(ss, ST_COMMIT, "commit") != 0)
		return state_sqlite_abort(ss);
	ss->writes++;
	return 0;
}

/* Bind text (never NULL). */
void
state_sqlite_bind_text(sqlite3_stmt *q, int i, const char *v)
{
	sqlite3_bind_text(q, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

/* Copy a text column into a bounded buffer. */
void
state_sqlite_col_copy(sqlite3_stmt *q, int i, char *dst, size_t len)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	bw_strlcpy(dst, t ? (const char *)t : "", len);
}

/* A fresh (uncached) statement, so iterator callbacks may reuse the cache. */
sqlite3_stmt *
state_sqlite_fresh(struct sqlite_state *ss, const char *sql)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(ss->db, sql, -1, &q, NULL);
	if (rc != SQLITE_OK) {
		state_sqlite_fail(ss, rc, "prepare");
		return NULL;
	}
	return q;
}

/* ---- opening ---------------------------------------------------------- */

/* Run one PRAGMA (or other statement) returning at most an integer. */
static int
pragma_int(struct sqlite_state *ss, const char *sql, long long *out)
{
	sqlite3_stmt *q = state_sqlite_fresh(ss, sql);
	if (q == NULL)
		return -1;
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && out != NULL)
		*out = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, sql);
}

/* Switch to WAL unless already there (a new file, or one a tool changed). */
static int
ensure_wal(struct sqlite_state *ss)
{
	sqlite3_stmt *q = state_sqlite_fresh(ss, "PRAGMA journal_mode");
	char mode[16] = "";
	if (q == NULL)
		return -1;
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		state_sqlite_col_copy(q, 0, mode, sizeof(mode));
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW)
		return state_sqlite_fail(ss, rc, "read journal_mode");
	if (strcmp(mode, "wal") == 0)
		return 0;
	if ((q = state_sqlite_fresh(ss, "PRAGMA journal_mode = WAL")) == NULL)
		return -1;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		state_sqlite_col_copy(q, 0, mode, sizeof(mode));
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW)
		return state_sqlite_fail(ss, rc, "switch to WAL");
	if (strcmp(mode, "wal") != 0) {
		state_set_error(&ss->base,
				"state database %s: cannot switch to WAL mode (still %s)", ss->path,
				mode);
		return -1;
	}
	return 0;
}

/* The counters column auth_failed came without a version step (a file
 * with it still opens everywhere): add it when missing, inside the write
 * transaction the caller holds. */
#define AUTH_COL_SQL "SELECT count(*) FROM pragma_table_info('counters') WHERE name = 'auth_failed'"
static int
add_auth_column(struct sqlite_state *ss)
{
	long long have = 0;
	char *msg = NULL;
	if (pragma_int(ss, AUTH_COL_SQL, &have) != 0)
		return -1;
	if (have > 0)
		return 0;
	int rc = sqlite3_exec(
	    ss->db, "ALTER TABLE counters ADD COLUMN auth_failed INTEGER NOT NULL DEFAULT 0", NULL,
	    NULL, &msg);
	sqlite3_free(msg);
	return rc == SQLITE_OK ? 0
			       : state_sqlite_fail(ss, rc, "add the counters column auth_failed");
}

/* A current file: add the column auth_failed when missing (a read-only
 * connection cannot; its counter reads then fail naming the column). */
static int
ensure_auth_column(struct sqlite_state *ss)
{
	long long have = 0;
	if (pragma_int(ss, AUTH_COL_SQL, &have) != 0)
		return -1;
	if (have > 0)
		return 0;
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (add_auth_column(ss) != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}

/* Create the schema in a new file, or check the version of an old one. */
static int
init_schema(struct sqlite_state *ss)
{
	long long v = 0, objects = 0;
	char *msg = NULL;

	if (pragma_int(ss, "PRAGMA user_version", &v) != 0)
		return -1;
	if (v > SCHEMA_VERSION) {
		state_set_error(&ss->base,
				"state database %s has schema version %lld, newer than this "
				"bulkwarden supports (%d): upgrade bulkwarden, do not downgrade",
				ss->path, v, SCHEMA_VERSION);
		return -1;
	}
	if (v == SCHEMA_VERSION) { /* read-only: reads work while a writer keeps the WAL */
		if (sqlite3_db_readonly(ss->db, "main") == 1)
			return 0;
		return ensure_wal(ss) != 0 ? -1 : ensure_auth_column(ss);
	}
	if (v < 0) {
		state_set_error(&ss->base,
				"%s is not a bulkwarden state database (user_version %lld)",
				ss->path, v);
		return -1;
	}
	if (ensure_wal(ss) != 0 || state_sqlite_begin(ss) != 0)
		return -1;
	/* re-read under the write lock: another process may have won the race */
	if (pragma_int(ss, "PRAGMA user_version", &v) != 0 ||
	    pragma_int(ss, "SELECT count(*) FROM sqlite_master", &objects) != 0)
		return state_sqlite_abort(ss);
	if (v == SCHEMA_VERSION) /* another process migrated it meanwhile */
		return add_auth_column(ss) != 0 ? state_sqlite_abort(ss) : state_sqlite_commit(ss);
	if (v == 0 && objects > 0) {
		state_set_error(&ss->base,
				"%s is not a bulkwarden state database (it holds other tables)",
				ss->path);
		return state_sqlite_abort(ss);
	}
	if (v == 0) {
		int rc = sqlite3_exec(ss->db, schema_sql, NULL, NULL, &msg);
		sqlite3_free(msg);
		msg = NULL;
		if (rc != SQLITE_OK) {
			state_sqlite_fail(ss, rc, "create the schema");
			return state_sqlite_abort(ss);
		}
	}
	if (v < 2) { /* a version 1 file gains the use counts */
		int rc = sqlite3_exec(ss->db, usage_sql, NULL, NULL, &msg);
		sqlite3_free(msg);
		msg = NULL;
		if (rc != SQLITE_OK) {
			state_sqlite_fail(ss, rc, "create the usage table");
			return state_sqlite_abort(ss);
		}
	}
	if (v < 3) { /* version 3: waivers */
		int rc = sqlite3_exec(ss->db, WAIVER_SQL, NULL, NULL, &msg);
		sqlite3_free(msg);
		if (rc != SQLITE_OK) {
			state_sqlite_fail(ss, rc, "create the waivers table");
			return state_sqlite_abort(ss);
		}
	}
	if (add_auth_column(ss) != 0)
		return state_sqlite_abort(ss);
	if (v < SCHEMA_VERSION) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
		if (pragma_int(ss, sql, NULL) != 0)
			return state_sqlite_abort(ss);
	}
	return state_sqlite_commit(ss);
}

/* Check the directory and the file before SQLite turns a typo into a
 * vague "unable to open database file". */
static int
check_path(const char *path, char *err, size_t errlen)
{
	char copy[SQLITE_PATH_MAX];
	struct stat st;
	if (bw_strlcpy(copy, path, sizeof(copy)) >= sizeof(copy)) {
		snprintf(err, errlen, "state.path is too long");
		return -1;
	}
	const char *dir = dirname(copy);
	if (stat(dir, &st) != 0) {
		snprintf(err, errlen, "state directory %s: %s (state.path is %s)", dir,
			 errno == ENOENT ? "does not exist" : strerror(errno), path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state directory %s is not a directory (state.path is %s)",
			 dir, path);
		return -1;
	}
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "state database %s is a directory", path);
			return -1;
		}
		if (access(path, R_OK) != 0) {
			snprintf(err, errlen, "cannot read state database %s: %s", path,
				 strerror(errno));
			return -1;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "state database %s: %s", path, strerror(errno));
		return -1;
	} else if (access(dir, W_OK | X_OK) != 0) {
		snprintf(err, errlen, "cannot create state database %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Root (bulkwardenctl run with sudo, or the milter before it drops
 * privileges) must not leave files the unprivileged milter cannot write:
 * give the database and its WAL files to the milter's user. The directory
 * is that user's, so nothing here follows a path it could swap: the
 * directory is opened O_NOFOLLOW|O_DIRECTORY and must be owned by the
 * milter's user (any other owner: left alone), each file is opened
 * O_NOFOLLOW relative to it and must be a regular file with one link, and
 * only that descriptor is fchown'ed and fchmod'ed (0600: the audit log is
 * no one else's to read).
 */
static void
fix_file(int dfd, const char *f, const struct passwd *pw, const char *path, const char *sfx)
{
	struct stat st;
#ifdef O_PATH
	/* an O_PATH descriptor: its close drops no POSIX lock */
	int fd = openat(dfd, f, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
		char proc[64];
		if (st.st_uid != pw->pw_uid &&
		    fchownat(fd, "", pw->pw_uid, pw->pw_gid, AT_EMPTY_PATH) != 0)
			diag(LOG_ERR, "chown %s%s: %s", path, sfx, strerror(errno));
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if ((st.st_mode & 077) != 0 && chmod(proc, 0600) != 0)
			diag(LOG_ERR, "chmod %s%s: %s", path, sfx, strerror(errno));
	}
#else
	int fd = openat(dfd, f, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
		if (st.st_uid != pw->pw_uid && fchown(fd, pw->pw_uid, pw->pw_gid) != 0)
			diag(LOG_ERR, "chown %s%s: %s", path, sfx, strerror(errno));
		if ((st.st_mode & 077) != 0 && fchmod(fd, 0600) != 0)
			diag(LOG_ERR, "chmod %s%s: %s", path, sfx, strerror(errno));
	}
#endif
	close(fd);
}

static void
adopt_files(const char *path, const char *user)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char copy[SQLITE_PATH_MAX], base[SQLITE_PATH_MAX], f[SQLITE_PATH_MAX + 8];
	struct stat d, st;
	struct passwd *pw;
	if (geteuid() != 0 || user == NULL || user[0] == '\0' || (pw = getpwnam(user)) == NULL)
		return;
	bw_strlcpy(copy, path, sizeof(copy));
	bw_strlcpy(base, path, sizeof(base));
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	if (fstat(dfd, &d) != 0 || d.st_uid != pw->pw_uid) {
		close(dfd);
		return; /* not the milter's directory: installation decides */
	}
	const char *name = basename(base);
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		int n = snprintf(f, sizeof(f), "%s%s", name, sfx[i]);
		if (n < 0 || (size_t)n >= sizeof(f))
			continue;
		/* Nothing to fix: do not open it. Closing a descriptor of the
		 * file drops every POSIX lock this process holds on it, those
		 * of its other connections included (the milter opens several
		 * before it drops privileges): another process's close then
		 * finds itself last, checkpoints and deletes the WAL and SHM
		 * files, and those connections never see a change again
		 * (tests/e2e/feedback_loop.sh: the milter running as nobody
		 * missed an auto-suspension). */
		if (fstatat(dfd, f, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
		    (st.st_uid == pw->pw_uid && (st.st_mode & 077) == 0))
			continue;
		fix_file(dfd, f, pw, path, sfx[i]);
	}
	close(dfd);
}

/*
 * A new database file is created here, 0600 and without following a
 * symlink, before SQLite sees it: SQLite would create it 0644 and give the
 * WAL and SHM files the same mode, so any local user could read the audit
 * log. An existing file we own loses its group/other bits the same way
 * (opened only then: see below).
 */
static int
create_private(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EEXIST) {
		struct stat st;
		/* nothing to fix: do not open it. Closing any descriptor of the
		 * file drops every POSIX lock this process holds on it, those of
		 * another connection of ours included (the milter's reservations
		 * handle, milter/limits.c, opens after the state thread's): its
		 * WAL could then be checkpointed and removed by another process
		 * and that connection would never see a change again */
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_uid != geteuid() || (st.st_mode & 077) == 0))
			return 0;
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 && errno == ELOOP) {
			snprintf(err, errlen, "state database %s is a symbolic link: refused",
				 path);
			return -1;
		}
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_uid == geteuid() && (st.st_mode & 077) != 0)
			(void)fchmod(fd, 0600);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(err, errlen, "cannot create state database %s: %s", path, strerror(errno));
	return -1;
}

/* Open the connection and the schema; remember which file it is. */
static int
connect_db(struct sqlite_state *ss, bool create, char *err, size_t errlen)
{
	struct stat st;
	int rc = sqlite3_open_v2(
	    ss->path, &ss->db,
	    SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		describe(err, errlen, ss->path, ss->db, rc, "open");
		return -1;
	}
	sqlite3_extended_result_codes(ss->db, 1);
	sqlite3_busy_timeout(ss->db, SQLITE_BUSY_MS);
	if (init_schema(ss) != 0 || pragma_int(ss, "PRAGMA synchronous = FULL", NULL) != 0) {
		bw_strlcpy(err, ss->base.err, errlen);
		return -1;
	}
	if (stat(ss->path, &st) != 0) {
		snprintf(err, errlen, "state database %s: %s", ss->path, strerror(errno));
		return -1;
	}
	ss->dev = st.st_dev;
	ss->ino = st.st_ino;
	return 0;
}

/* Finalize the cached statements and close the connection. */
static void
disconnect_db(struct sqlite_state *ss)
{
	for (int i = 0; i < ST__COUNT; i++) {
		sqlite3_finalize(ss->st[i]);
		ss->st[i] = NULL;
	}
	sqlite3_close_v2(ss->db);
	ss->db = NULL;
}

void
state_sqlite_close(struct state *s)
{
	struct sqlite_state *ss = SS(s);
	disconnect_db(ss);
	free(ss);
}

/*
 * The file at state.path is no longer the one we opened (restored from a
 * backup, moved away, deleted): reading on would judge messages by a file
 * no one else sees. Reopen the new file (never create one: a deleted
 * database must not come back empty, lifting every suspension); if that
 * fails, keep failing, so the overlay goes stale and messages get
 * state-error. Returns 0 when the handle is on the file at the path.
 */
int
state_sqlite_check_file(struct sqlite_state *ss)
{
	struct stat st;
	char err[STATE_ERR_MAX];
	if (stat(ss->path, &st) == 0 && st.st_dev == ss->dev && st.st_ino == ss->ino)
		return 0;
	struct sqlite_state probe;
	memset(&probe, 0, sizeof(probe));
	probe.base.ops = &state_sqlite_ops;
	bw_strlcpy(probe.path, ss->path, sizeof(probe.path));
	if (access(ss->path, F_OK) != 0 || connect_db(&probe, false, err, sizeof(err)) != 0) {
		if (probe.db != NULL)
			disconnect_db(&probe);
		if (access(ss->path, F_OK) != 0)
			snprintf(err, sizeof(err), "%s", strerror(errno));
		state_set_error(&ss->base,
				"state database %s was replaced or removed and cannot "
				"be reopened: %s",
				ss->path, err);
		return -1;
	}
	diag(LOG_WARNING, "state database %s was replaced: reopened it", ss->path);
	disconnect_db(ss);
	ss->db = probe.db;
	ss->dev = probe.dev;
	ss->ino = probe.ino;
	ss->reopens++;
	return 0;
}

struct state *
state_sqlite_open(const struct bw_settings *set, char *err, size_t errlen)
{
	const char *path = set->state_path;
	struct sqlite_state *ss;

	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "state.path is not set");
		return NULL;
	}
	if (check_path(path, err, errlen) != 0 || create_private(path, err, errlen) != 0)
		return NULL;
	if ((ss = calloc(1, sizeof(*ss))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ss->base.ops = &state_sqlite_ops;
	bw_strlcpy(ss->path, path, sizeof(ss->path));
	if (connect_db(ss, true, err, errlen) != 0)
		goto fail;
	adopt_files(path, set->user);
	return &ss->base;
fail:
	state_sqlite_close(&ss->base);
	return NULL;
}

struct state *
state_sqlite_open_existing(const struct bw_settings *set, char *err, size_t errlen)
{
	const char *path = set->state_path;
	struct stat st;
	if (errlen > 0)
		err[0] = '\0';
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "state.path is not set");
		return NULL;
	}
	if (check_path(path, err, errlen) != 0)
		return NULL;
	if (lstat(path, &st) != 0)
		return NULL; /* the daemon will create it: the directory allows that */
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "state database %s is a symbolic link: refused", path);
		return NULL;
	}
	struct sqlite_state *ss = calloc(1, sizeof(*ss));
	if (ss == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ss->base.ops = &state_sqlite_ops;
	bw_strlcpy(ss->path, path, sizeof(ss->path));
	if (connect_db(ss, false, err, errlen) != 0) {
		state_sqlite_close(&ss->base);
		return NULL;
	}
	return &ss->base;
}

int
state_sqlite_probe(const struct bw_settings *set, char *err, size_t errlen)
{
	struct state *s = state_sqlite_open_existing(set, err, errlen);
	if (s == NULL)
		return errlen > 0 && err[0] != '\0' ? -1 : 0;
	state_sqlite_close(s);
	return 0;
}

int
state_sqlite_collect(struct sqlite_state *ss, sqlite3_stmt *q, bool finalize, size_t elem,
		     void (*read_row)(sqlite3_stmt *q, void *row), void **out, size_t *n,
		     const char *what)
{
	char *v = NULL;
	size_t cap = 0, k = 0;
	int rc;
	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (k == cap) {
			size_t nc = cap ? cap * 2 : 8;
			char *nv = realloc(v, nc * elem);
			if (nv == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		memset(v + k * elem, 0, elem);
		read_row(q, v + k * elem);
		k++;
	}
	if (finalize)
		sqlite3_finalize(q);
	else
		sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		free(v);
		if (rc == SQLITE_NOMEM) {
			state_set_error(&ss->base, "out of memory reading %s", what);
			return -1;
		}
		char doing[64];
		snprintf(doing, sizeof(doing), "read %s", what);
		return state_sqlite_fail(ss, rc, doing);
	}
	*out = v;
	*n = k;
	return 0;
}
