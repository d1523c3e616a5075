/*
 * paths.c - new sending paths at the relay (see paths.h).
 *
 * Cost on the message path: one hash probe per path (two at MAIL FROM)
 * under a mutex. A miss takes the module's one store handle (a second
 * mutex: the handle is single-threaded) for one insert-if-new: SQLite one
 * short write transaction, Redis two round trips. A handle that failed is
 * kept (the backends reconnect by themselves); one that cannot be opened
 * is retried after OPEN_BACKOFF_MS.
 *
 * A store that cannot answer: with action alert the message goes on and
 * its event says the path could not be checked (it is learned by a later
 * message); with quarantine or tempfail it gets the state-error action, as
 * a message whose suspension state is unknown does.
 *
 * Memory: cache keys ("ID\nPATH") are malloc'ed and owned by the cache.
 * Untrusted input: the SASL login and DKIM d=/s= (made printable tokens by
 * state_path_login/state_path_dkim before they reach the store or a log).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "base/hash.h"
#include "base/json.h"
#include "base/util.h"
#include "log/eventlog.h"
#include "milter/paths.h"
#include "state/state.h"

#define OPEN_BACKOFF_MS 500
#define KEY_MAX (STATE_ID_MAX + 1 + STATE_PATH_MAX)

/* Dormancy of one identity, judged once per UTC day (per process). */
struct idstate {
	char id[STATE_ID_MAX + 1];
	long long day;		      /* the day it was judged; 0: never */
	char dormant[STATE_PATH_MAX]; /* its dormant: path while not known, else "" */
};

struct paths {
	struct registry *reg;	 /* retained: its settings open the handle */
	pthread_mutex_t lock;	 /* the cache and ids */
	struct bw_hash cache;	 /* "ID\nPATH" -> the key itself */
	struct bw_hash ids;	 /* id -> struct idstate */
	pthread_mutex_t st_lock; /* the handle */
	struct state *st;
	long long next_open_ms;
};

/* What one path turned out to be. */
enum seen { SEEN_KNOWN, SEEN_NEW, SEEN_PENDING, SEEN_ERROR };

struct paths *
paths_new(struct registry *r, char *err, size_t errlen)
{
	struct paths *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->reg = registry_retain(r);
	bw_hash_init(&p->cache);
	bw_hash_init(&p->ids);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->st_lock, NULL);
	return p;
}

/* Free every cached key (lock held or no other user). */
static void
cache_clear(struct paths *p)
{
	size_t pos = 0;
	const char *k;
	void *v;
	while (bw_hash_next(&p->cache, &pos, &k, &v))
		free(v);
	bw_hash_free(&p->cache);
	bw_hash_init(&p->cache);
}

void
paths_free(struct paths *p)
{
	if (p == NULL)
		return;
	cache_clear(p);
	size_t pos = 0;
	const char *k;
	void *v;
	while (bw_hash_next(&p->ids, &pos, &k, &v))
		free(v);
	bw_hash_free(&p->ids);
	state_close(p->st);
	pthread_mutex_destroy(&p->st_lock);
	pthread_mutex_destroy(&p->lock);
	registry_release(p->reg);
	free(p);
}

bool
paths_vendor(const struct bw_identity *id)
{
	return id != NULL && id->platform != NULL && id->platform[0] != '\0' &&
	       strcmp(id->platform, "in-house") != 0;
}

static bool
cached(struct paths *p, const char *key)
{
	pthread_mutex_lock(&p->lock);
	bool hit = bw_hash_get(&p->cache, key) != NULL;
	pthread_mutex_unlock(&p->lock);
	return hit;
}

static void
remember(struct paths *p, const char *key)
{
	char *k = strdup(key);
	if (k == NULL)
		return; /* asked of the store again next time */
	pthread_mutex_lock(&p->lock);
	if (p->cache.used >= PATHS_CACHE_MAX)
		cache_clear(p);
	if (bw_hash_put(&p->cache, k, k, NULL) != 0)
		free(k);
	pthread_mutex_unlock(&p->lock);
}

/* Write the audit event of a record the store appended. */
static void
log_audit(const struct state_audit *rec)
{
	struct jbuf *j = malloc(sizeof(*j));
	char evid[25];
	if (j == NULL) {
		diag(LOG_ERR, "out of memory: event of audit record %lld (%s) not written",
		     rec->seq, rec->action);
		return;
	}
	if (bw_random_hex(evid, 12) != 0)
		evid[0] = '\0';
	state_audit_event(j, rec, evid);
	if (eventlog_write(j->buf, j->len) != 0)
		diag(LOG_ERR, "cannot write the event of audit record %lld (%s)", rec->seq,
		     rec->action);
	free(j);
}

/*
 * Look path up for id, learning it when new (pending when the action is
 * tempfail). rec carries the record's reason and detail in; why receives
 * the store's error.
 */
static enum seen
see(struct paths *p, const char *id, const char *path, bool pending, long long now,
    struct state_audit *rec, char *why, size_t whylen)
{
	char key[KEY_MAX];
	struct state_path out;
	int n = snprintf(key, sizeof(key), "%s\n%s", id, path);
	if (n < 0 || (size_t)n >= sizeof(key)) {
		snprintf(why, whylen, "path too long");
		return SEEN_ERROR;
	}
	if (cached(p, key))
		return SEEN_KNOWN;
	pthread_mutex_lock(&p->st_lock);
	if (p->st == NULL) {
		char err[STATE_TEXT_MAX];
		if (bw_mono_ms() < p->next_open_ms) {
			pthread_mutex_unlock(&p->st_lock);
			snprintf(why, whylen, "state store unreachable");
			return SEEN_ERROR;
		}
		if ((p->st = state_open(&p->reg->set, err, sizeof(err))) == NULL) {
			p->next_open_ms = bw_mono_ms() + OPEN_BACKOFF_MS;
			pthread_mutex_unlock(&p->st_lock);
			snprintf(why, whylen, "%s", err);
			return SEEN_ERROR;
		}
		state_set_origin(p->st, "bulkwarden");
	}
	int rc = state_path_learn(p->st, id, path, pending, now, rec, &out);
	if (rc < 0)
		snprintf(why, whylen, "%s", state_error(p->st));
	pthread_mutex_unlock(&p->st_lock);
	if (rc < 0)
		return SEEN_ERROR;
	if (rc == 1) {
		log_audit(rec);
		if (!pending)
			remember(p, key);
		return SEEN_NEW;
	}
	if (out.pending)
		return SEEN_PENDING;
	remember(p, key);
	return SEEN_KNOWN;
}

/* Judge one path and record the outcome as a new-sending-path entry on
 * the verdict's check list (passed for a known path). */
static enum seen
judge(struct paths *p, const struct registry *r, struct verdict *v, const char *path,
      const char *ip, const char *queue_id, long long now)
{
	enum bw_action a = (enum bw_action)r->set.nsp_action;
	const char *id = v->identity->id, *kind = "";
	struct state_audit rec;
	char why[STATE_TEXT_MAX], detail[VERDICT_DETAIL_MAX];

	/* Postfix has no queue id yet at MAIL FROM (it opens the queue file
	 * at the first accepted RCPT): then the reason names none, and the
	 * decision event names this record */
	char qid[80] = "";
	if (queue_id[0] != '\0')
		snprintf(qid, sizeof(qid), "queue id %.64s", queue_id);
	state_path_kind(path, &kind);
	memset(&rec, 0, sizeof(rec));
	if (strcmp(kind, "dormant") == 0)
		snprintf(rec.reason, sizeof(rec.reason),
			 "first message of %s after %u days or more without one (last on %s%s%s); "
			 "action %s",
			 id, r->set.dormant_days, strchr(path, ':') + 1, qid[0] ? "; " : "", qid,
			 a == BW_ACT_ACCEPT ? "alert" : check_action_name(a));
	else
		snprintf(rec.reason, sizeof(rec.reason),
			 "first message of %s through %s %s%s%s%s; action %s", id, kind,
			 strchr(path, ':') + 1, qid[0] ? " (" : "", qid, qid[0] ? ")" : "",
			 a == BW_ACT_ACCEPT ? "alert" : check_action_name(a));
	snprintf(rec.detail, sizeof(rec.detail), "kind=%s path=%s%s%s action=%s", kind, path,
		 ip[0] ? " ip=" : "", ip, a == BW_ACT_ACCEPT ? "alert" : check_action_name(a));
	enum seen seen = see(p, id, path, a == BW_ACT_TEMPFAIL, now, &rec, why, sizeof(why));
	switch (seen) {
	case SEEN_KNOWN:
		snprintf(detail, sizeof(detail), "known %s", path);
		policy_pass(r, v, BW_CHK_NEW_SENDING_PATH, detail);
		break;
	case SEEN_NEW:
		snprintf(detail, sizeof(detail), "new %s (audit record %lld)%s", path, rec.seq,
			 a == BW_ACT_TEMPFAIL ? ": held until bulkwardenctl paths approve" : "");
		policy_fail_as(r, v, BW_CHK_NEW_SENDING_PATH, a, detail);
		break;
	case SEEN_PENDING:
		snprintf(detail, sizeof(detail), "%s awaits bulkwardenctl paths approve", path);
		policy_fail_as(r, v, BW_CHK_NEW_SENDING_PATH, a, detail);
		break;
	case SEEN_ERROR:
		diag(LOG_WARNING, "%s: sending path %s of %s not checked: %s", queue_id, path, id,
		     why);
		snprintf(detail, sizeof(detail), "%s not checked: %.100s", path, why);
		if (a == BW_ACT_ACCEPT)
			policy_fail_as(r, v, BW_CHK_NEW_SENDING_PATH, BW_ACT_ACCEPT, detail);
		else
			policy_fail(r, v, BW_CHK_STATE_ERROR, detail);
		break;
	}
	return seen;
}

/* Messages id sent (accepted or quarantined) in [from, to): -1 error. */
static long long
sent(struct state *st, const char *id, long long from, long long to)
{
	struct state_counts c;
	if (state_counters_sum(st, id, from, to, &c) != 0)
		return -1;
	return (long long)(c.accepted + c.quarantined);
}

/*
 * Whether identity id is dormant at now (paths_dormancy, paths.h; here
 * with st_lock held): it sent before,
 * but nothing in the last dormant_days. path receives its dormant: path,
 * named after the day of its last message (found by halving the range:
 * about 20 counter sums, once per identity and day), or "" when it is not
 * dormant (an identity that never sent is new: its paths are). 0, or -1
 * with why.
 */
int
paths_dormancy(struct state *st, const char *id, long long now, unsigned days, char *path,
	       size_t len, char *why, size_t whylen)
{
	long long hour = now - now % 3600, from = hour - (long long)days * 86400, lo = 0, hi;
	long long n = sent(st, id, from, hour + 3600);
	path[0] = '\0';
	if (n != 0) {
		if (n < 0)
			snprintf(why, whylen, "%s", state_error(st));
		return n < 0 ? -1 : 0;
	}
	if ((n = sent(st, id, 0, from)) < 0) {
		snprintf(why, whylen, "%s", state_error(st));
		return -1;
	}
	if (n == 0) /* never sent: new, not dormant (its paths are new anyway) */
		return 0;
	hi = from; /* sent in [lo, from) > 0, in [hi, from) == 0 */
	while (hi - lo > 3600) {
		long long mid = lo + (hi - lo) / 2;
		mid -= mid % 3600;
		if (mid <= lo)
			mid = lo + 3600;
		long long m = sent(st, id, mid, from);
		if (m < 0) {
			snprintf(why, whylen, "%s", state_error(st));
			return -1;
		}
		if (m > 0)
			lo = mid;
		else
			hi = mid;
	}
	if (!state_path_dormant(lo, path, len)) {
		snprintf(why, whylen, "dormant path does not fit");
		return -1;
	}
	return 0;
}

/* The dormant: path of v's identity when it wakes up today ("" none):
 * judged once per identity and UTC day; only an active identity approved
 * (or activated) dormant_days ago can be dormant (as the dormant finding). */
static void
dormant_path(struct paths *p, const struct registry *r, const struct verdict *v, long long now,
	     char *path, size_t len)
{
	const struct bw_identity *id = v->identity;
	long long day = now - now % 86400, days = r->set.dormant_days;
	long long since = id->activate > id->approval_date ? id->activate : id->approval_date;
	char why[STATE_TEXT_MAX] = "";
	path[0] = '\0';
	if (days <= 0 || v->life != BW_LIFE_ACTIVE || since > now - days * 86400)
		return;
	pthread_mutex_lock(&p->lock);
	struct idstate *e = bw_hash_get(&p->ids, id->id);
	if (e != NULL && e->day == day) {
		bw_strlcpy(path, e->dormant, len);
		pthread_mutex_unlock(&p->lock);
		return;
	}
	pthread_mutex_unlock(&p->lock);
	char found[STATE_PATH_MAX];
	pthread_mutex_lock(&p->st_lock);
	int rc = -1;
	if (p->st == NULL && bw_mono_ms() >= p->next_open_ms) {
		char err[STATE_TEXT_MAX];
		if ((p->st = state_open(&p->reg->set, err, sizeof(err))) == NULL)
			p->next_open_ms = bw_mono_ms() + OPEN_BACKOFF_MS;
		else
			state_set_origin(p->st, "bulkwarden");
	}
	if (p->st != NULL)
		rc = paths_dormancy(p->st, id->id, now, (unsigned)days, found, sizeof(found), why,
				    sizeof(why));
	pthread_mutex_unlock(&p->st_lock);
	if (rc != 0) { /* asked again with the next message */
		diag(LOG_WARNING, "dormancy of %s not judged: %s", id->id,
		     why[0] ? why : "state store unreachable");
		return;
	}
	pthread_mutex_lock(&p->lock);
	if (e == NULL && (e = bw_hash_get(&p->ids, id->id)) == NULL &&
	    (e = calloc(1, sizeof(*e))) != NULL) {
		bw_strlcpy(e->id, id->id, sizeof(e->id));
		if (bw_hash_put(&p->ids, e->id, e, NULL) != 0) {
			free(e);
			e = NULL;
		}
	}
	if (e != NULL) {
		e->day = day;
		bw_strlcpy(e->dormant, found, sizeof(e->dormant));
	}
	pthread_mutex_unlock(&p->lock);
	bw_strlcpy(path, found, len);
}

/* The dormant: path is known now: stop judging it today. */
static void
dormant_done(struct paths *p, const char *id)
{
	pthread_mutex_lock(&p->lock);
	struct idstate *e = bw_hash_get(&p->ids, id);
	if (e != NULL)
		e->dormant[0] = '\0';
	pthread_mutex_unlock(&p->lock);
}

void
paths_mail(struct paths *p, const struct registry *r, struct verdict *v,
	   const struct cidr_addr *addr, bool have_addr, const char *client_ip,
	   const char *queue_id, long long now)
{
	char path[STATE_PATH_MAX];
	if (p == NULL || v->identity == NULL || r->set.nsp_action == BW_NSP_OFF)
		return;
	dormant_path(p, r, v, now, path, sizeof(path));
	if (path[0] != '\0') {
		enum seen d = judge(p, r, v, path, client_ip ? client_ip : "", queue_id, now);
		if (d == SEEN_KNOWN || (d == SEEN_NEW && r->set.nsp_action != BW_ACT_TEMPFAIL))
			dormant_done(p, v->identity->id);
	}
	if (have_addr && state_path_network(addr, path, sizeof(path)))
		judge(p, r, v, path, client_ip ? client_ip : "", queue_id, now);
	if (v->login[0] != '\0' && state_path_login(v->login, path, sizeof(path)))
		judge(p, r, v, path, client_ip ? client_ip : "", queue_id, now);
}

void
paths_dkim(struct paths *p, const struct registry *r, struct verdict *v, const char *queue_id,
	   long long now)
{
	char path[STATE_PATH_MAX];
	if (p == NULL || !paths_vendor(v->identity) || v->identity->dkim_mode != BW_DKIM_VERIFY ||
	    r->set.nsp_action == BW_NSP_OFF)
		return;
	for (size_t i = 0; i < v->n_sigs && i < VERDICT_MAX_SIGS; i++)
		if (strcmp(v->sigs[i].result, "pass") == 0 &&
		    state_path_dkim(v->sigs[i].domain, v->sigs[i].selector, path, sizeof(path))) {
			judge(p, r, v, path, "", queue_id, now);
			return; /* the signature that counted */
		}
}
