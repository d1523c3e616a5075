/*
 * state_sqlite_changes.c - the change-control query of the SQLite backend
 * (state_last_changes(), state.h): per identity, the time of its last
 * security-relevant config-change audit record after its last "added" one.
 *
 * One read of the audit table (no index on action: the query runs at
 * start and in bulkwardenctl, not per message). Memory: the identity id
 * is copied into a bounded buffer per row. Untrusted input: the database
 * file; ids are bounded copies, the caller looks them up and never trusts
 * them as indexes.
 */
#include "config.h"

#include "state/state_sqlite.h"

/* The config-change records, the seq of each identity's last "added" one,
 * and the latest security-relevant change after it. */
#define LAST_CHANGES_SQL                                                                           \
	"WITH c AS (SELECT seq, ts, identity, reason, detail FROM audit "                          \
	"WHERE action = 'config-change'), "                                                        \
	"a AS (SELECT identity, MAX(seq) AS seq FROM c WHERE detail = 'added' GROUP BY identity) " \
	"SELECT c.identity, MAX(c.ts) FROM c LEFT JOIN a ON a.identity = c.identity "              \
	"WHERE substr(c.reason, 1, ?1) = ?2 AND c.seq > COALESCE(a.seq, 0) GROUP BY c.identity"

/* state_last_changes() for SQLite. */
int
state_sqlite_last_changes(struct state *s, int (*fn)(const char *id, long long ts, void *arg),
			  void *arg)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q = state_sqlite_fresh(ss, LAST_CHANGES_SQL);
	char id[STATE_ID_MAX + 1];
	int rc;
	if (q == NULL)
		return -1;
	sqlite3_bind_int(q, 1, (int)(sizeof(STATE_CHANGE_SECURITY) - 1));
	state_sqlite_bind_text(q, 2, STATE_CHANGE_SECURITY);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		state_sqlite_col_copy(q, 0, id, sizeof(id));
		if (fn(id, sqlite3_column_int64(q, 1), arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "read the configuration changes");
}
