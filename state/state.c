/*
 * state.c - the backend-neutral half of the state store: dispatch over
 * struct state_ops (state_int.h) to the configured backend, argument checks
 * shared by every backend, the audit hash chain and the audit event.
 *
 * Audit chain. Each record's hash is SHA-256 (lowercase hex) over
 *
 *   "bulkwarden-audit-v1\n" N(prev_hash) N(seq) N(ts) N(action) N(actor)
 *   N(identity) N(reason) N(ticket) N(detail)
 *
 * where N(x) is the netstring "<decimal length>:<bytes>," and seq and ts
 * are decimal without leading zeros. Length prefixes make the encoding
 * unambiguous whatever bytes a field holds. The first record chains to 64
 * zeros. The store also keeps a head (last seq and hash), updated in the
 * same transaction, so removing records from the end is detected too.
 *
 * Memory: the caller owns every struct passed in; arrays returned by
 * state_suspensions() are malloc'ed for the caller to free. Untrusted
 * input: identity ids and free text from bulkwardenctl's command line,
 * stored records when verifying (any bytes, any length).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "state/state_int.h"
#include "base/util.h"
#include "base/ecs.h"
#include "base/strbuf.h"
#include "base/json.h"
#include "base/hash.h"

#define AUDIT_DOMAIN "bulkwarden-audit-v1\n"
#define ACTION_MAX 32 /* sizeof(struct state_audit.action) */

struct state *
state_open(const struct bw_settings *set, char *err, size_t errlen)
{
	const char *b = set->state_backend ? set->state_backend : "sqlite";
	if (strcmp(b, "sqlite") == 0) {
		struct state *s = state_sqlite_open(set, err, errlen);
		for (char *p = err; s == NULL && errlen > 0 && *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' '; /* the path comes from the config */
		return s;
	}
	if (strcmp(b, "redis") == 0) {
		struct state *s = state_redis_open(set, err, errlen);
		for (char *p = err; s == NULL && errlen > 0 && *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' '; /* server replies and config values */
		return s;
	}
	snprintf(err, errlen, "unknown state backend \"%s\"", b);
	return NULL;
}

/*
 * What `bulkwarden -n` and `bulkwardenctl check` ask: would the daemon open
 * this store? The one place that knows each backend's answer (a backend
 * that is not built answers as state_open does).
 */
int
state_check(const struct bw_settings *set, char *err, size_t errlen)
{
	const char *b = set->state_backend ? set->state_backend : "sqlite";
	int rc;
	if (strcmp(b, "sqlite") == 0) {
		rc = state_sqlite_probe(set, err, errlen);
	} else {
		struct state *s = state_open(set, err, errlen);
		rc = s != NULL ? 0 : -1;
		state_close(s);
	}
	for (char *p = err; rc != 0 && errlen > 0 && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' '; /* the path comes from the config */
	return rc;
}

struct state *
state_open_existing(const struct bw_settings *set, char *err, size_t errlen)
{
	const char *b = set->state_backend ? set->state_backend : "sqlite";
	if (strcmp(b, "sqlite") == 0)
		return state_sqlite_open_existing(set, err, errlen);
	return state_open(set, err, errlen); /* a server: nothing to create */
}

void
state_close(struct state *s)
{
	if (s != NULL)
		s->ops->close(s);
}

const char *
state_error(const struct state *s)
{
	return s->err[0] ? s->err : "unknown error";
}

const char *
state_backend_name(const struct state *s)
{
	return s->ops->name;
}

void
state_set_origin(struct state *s, const char *origin)
{
	bw_strlcpy(s->origin, origin ? origin : "", sizeof(s->origin));
}

/* Format a detail text, then the origin note; truncation is acceptable. */
void
state_detail(const struct state *s, char *buf, const char *fmt, ...)
{
	struct bw_sbuf b;
	va_list ap;
	bw_sbuf_init(&b, buf, STATE_TEXT_MAX);
	va_start(ap, fmt);
	bw_sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (s->origin[0] != '\0')
		bw_sbuf_printf(&b, "%svia %s", b.len ? "; " : "", s->origin);
}

char *
state_time_str(long long t, char buf[STATE_TIME_MAX])
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, STATE_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, STATE_TIME_MAX, "@%lld", t);
	return buf;
}

/* Format the last error; newlines and other controls become spaces. */
void
state_set_error(struct state *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap); /* truncation acceptable for a message */
	va_end(ap);
	for (char *p = s->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* [a-z0-9][a-z0-9._-]{0,63}, the registry's id syntax. */
static bool
valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > STATE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			  (i > 0 && (ch == '.' || ch == '_' || ch == '-'));
		if (!ok)
			return false;
	}
	return true;
}

/* Check a text argument: present when required (blanks are not a ticket
 * nor an actor) and shorter than max. */
bool
state_check_text(struct state *s, const char *what, const char *v, bool required, size_t max)
{
	if (v == NULL || v[strspn(v, " \t")] == '\0') {
		if (!required)
			return true;
		state_set_error(s, "%s is required", what);
		return false;
	}
	if (strlen(v) >= max) {
		state_set_error(s, "%s is longer than %zu bytes", what, max - 1);
		return false;
	}
	return true;
}

/* Check the identity argument. */
bool
state_check_id(struct state *s, const char *id)
{
	if (!valid_id(id)) {
		state_set_error(s, "invalid identity id");
		return false;
	}
	return true;
}

bool
state_same_actor(const char *a, const char *b)
{
	size_t na, nb;
	while (*a == ' ' || *a == '\t')
		a++;
	while (*b == ' ' || *b == '\t')
		b++;
	for (na = strlen(a); na > 0 && (a[na - 1] == ' ' || a[na - 1] == '\t'); na--)
		;
	for (nb = strlen(b); nb > 0 && (b[nb - 1] == ' ' || b[nb - 1] == '\t'); nb--)
		;
	return na == nb && strncasecmp(a, b, na) == 0;
}

int
state_suspend(struct state *s, const char *id, const char *reason, const char *by,
	      const char *ticket, long long until, long long now, struct state_audit *rec)
{
	struct state_audit local;
	if (!state_check_id(s, id) ||
	    !state_check_text(s, "reason", reason, true, STATE_TEXT_MAX) ||
	    !state_check_text(s, "actor", by, true, STATE_NAME_MAX) ||
	    !state_check_text(s, "ticket", ticket, false, STATE_NAME_MAX))
		return -1;
	if (until < 0) {
		state_set_error(s, "invalid until");
		return -1;
	}
	return s->ops->suspend(s, id, reason, by, ticket ? ticket : "", until, now,
			       rec ? rec : &local);
}

int
state_auto_suspend(struct state *s, const char *id, const char *reason, long long now,
		   struct state_audit *rec)
{
	s->suspend_action = "auto-suspend";
	int rc = state_suspend(s, id, reason, "bulkwarden", NULL, 0, now, rec);
	s->suspend_action = NULL;
	return rc;
}

int
state_reinstate(struct state *s, const char *id, const char *reason, const char *by,
		const char *ticket, long long now, struct state_audit *rec)
{
	struct state_audit local;
	if (!state_check_id(s, id) ||
	    !state_check_text(s, "reason", reason, true, STATE_TEXT_MAX) ||
	    !state_check_text(s, "actor", by, true, STATE_NAME_MAX) ||
	    !state_check_text(s, "ticket", ticket, true, STATE_NAME_MAX))
		return -1;
	return s->ops->reinstate(s, id, reason, by, ticket, now, rec ? rec : &local);
}

int
state_expire(struct state *s, long long now, void (*fn)(const struct state_audit *rec, void *arg),
	     void *arg)
{
	struct state_audit *recs = NULL;
	size_t n = 0;
	if (s->ops->expire(s, now, &recs, &n) != 0)
		return -1;
	for (size_t i = 0; fn != NULL && i < n; i++)
		fn(&recs[i], arg);
	free(recs);
	return (int)n;
}

int
state_suspensions(struct state *s, long long now, struct state_suspension **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return s->ops->suspensions(s, now, out, n);
}

int
state_version(struct state *s, uint64_t *version)
{
	return s->ops->version(s, version);
}

int
state_audit_append(struct state *s, struct state_audit *rec)
{
	const char *f[] = {rec->actor, rec->reason, rec->ticket, rec->detail};
	const size_t sz[] = {sizeof(rec->actor), sizeof(rec->reason), sizeof(rec->ticket),
			     sizeof(rec->detail)};
	if (strnlen(rec->action, sizeof(rec->action)) == 0 ||
	    strnlen(rec->action, sizeof(rec->action)) == sizeof(rec->action)) {
		state_set_error(s, "audit action missing or too long");
		return -1;
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (strnlen(f[i], sz[i]) == sz[i]) {
			state_set_error(s, "audit field not terminated");
			return -1;
		}
	}
	if (rec->identity[0] != '\0' && !state_check_id(s, rec->identity))
		return -1;
	if (rec->ts == 0)
		rec->ts = (long long)time(NULL);
	return s->ops->audit_append(s, rec);
}

int
state_audit_foreach(struct state *s, int (*fn)(const struct state_audit *rec, void *arg), void *arg)
{
	return s->ops->audit_foreach(s, fn, arg);
}

/* One identity's change-control state while the audit log is read. */
struct last_change {
	long long ts; /* 0: no security-relevant change since it was added */
	char id[STATE_ID_MAX + 1];
};

struct last_changes_walk {
	struct bw_hash ids; /* id -> struct last_change */
	int oom;
};

static int
last_change_rec(const struct state_audit *rec, void *arg)
{
	struct last_changes_walk *w = arg;
	if (strcmp(rec->action, "config-change") != 0 || rec->identity[0] == '\0')
		return 0;
	struct last_change *lc = bw_hash_get(&w->ids, rec->identity);
	if (lc == NULL) {
		lc = calloc(1, sizeof(*lc));
		if (lc == NULL) {
			w->oom = 1;
			return 1;
		}
		bw_strlcpy(lc->id, rec->identity, sizeof(lc->id));
		if (bw_hash_put(&w->ids, lc->id, lc, NULL) != 0) {
			free(lc);
			w->oom = 1;
			return 1;
		}
	}
	if (strcmp(rec->detail, "added") == 0)
		lc->ts = 0; /* added (again): starts afresh */
	else if (strncmp(rec->reason, STATE_CHANGE_SECURITY, sizeof(STATE_CHANGE_SECURITY) - 1) ==
		     0 &&
		 rec->ts > lc->ts)
		lc->ts = rec->ts;
	return 0;
}

/* state_last_changes() for a backend without its own query: one pass over
 * the audit log in order (the log is chained and read whole by audit
 * --verify already; this runs at start and in bulkwardenctl only). */
int
state_last_changes_walk(struct state *s, int (*fn)(const char *id, long long ts, void *arg), void *arg)
{
	struct last_changes_walk w = {.oom = 0};
	const char *key;
	void *val;
	size_t pos = 0;
	int rc;
	bw_hash_init(&w.ids);
	rc = s->ops->audit_foreach(s, last_change_rec, &w);
	if (w.oom) {
		state_set_error(s, "out of memory reading the configuration changes");
		rc = -1;
	}
	bool stop = rc != 0;
	while (bw_hash_next(&w.ids, &pos, &key, &val)) {
		struct last_change *lc = val;
		if (!stop && lc->ts > 0 && fn(lc->id, lc->ts, arg) != 0)
			stop = true;
		free(lc);
	}
	bw_hash_free(&w.ids);
	return rc == 0 ? 0 : -1;
}

int
state_last_changes(struct state *s, int (*fn)(const char *id, long long ts, void *arg), void *arg)
{
	if (s->ops->last_changes == NULL)
		return state_last_changes_walk(s, fn, arg);
	return s->ops->last_changes(s, fn, arg);
}

int
state_audit_verify(struct state *s, long long *n_records, long long *bad_seq, char *why,
		   size_t whylen)
{
	struct state_audit_check chk;
	state_audit_check_begin(&chk);
	int rc = s->ops->audit_verify(s, &chk);
	if (n_records != NULL)
		*n_records = chk.n;
	if (bad_seq != NULL)
		*bad_seq = rc == 1 ? chk.bad_seq : 0;
	if (why != NULL && whylen > 0)
		bw_strlcpy(why, rc == 1 ? chk.why : "", whylen);
	return rc;
}

int
state_counters_add(struct state *s, const char *id, long long hour,
		   const struct state_counts *delta)
{
	struct state_counter_delta d = {id, hour, *delta};
	return state_counters_add_many(s, &d, 1);
}

int
state_counters_add_many(struct state *s, const struct state_counter_delta *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!state_check_id(s, d[i].id))
			return -1;
	if (n == 0)
		return 0;
	return s->ops->counters_add(s, d, n);
}

int
state_counters_add_batch(struct state *s, const char *batch, const struct state_counter_delta *d,
			 size_t n)
{
	if (s->ops->counters_add_once == NULL)
		return state_counters_add_many(s, d, n);
	for (size_t i = 0; i < n; i++)
		if (!state_check_id(s, d[i].id))
			return -1;
	return n == 0 ? 0 : s->ops->counters_add_once(s, batch, d, n);
}

int
state_counters_sum(struct state *s, const char *id, long long from, long long to,
		   struct state_counts *sum)
{
	memset(sum, 0, sizeof(*sum));
	if (!state_check_id(s, id))
		return -1;
	return s->ops->counters_sum(s, id, from, to, sum);
}

int
state_counters_foreach(struct state *s, long long from, long long to,
		       int (*fn)(const char *id, const struct state_counts *sum, void *arg),
		       void *arg)
{
	return s->ops->counters_foreach(s, from, to, fn, arg);
}

struct daily_ctx {
	long long from;
	int days, day;
	int (*fn)(const char *id, int day, const struct state_counts *c, void *arg);
	void *arg;
	/* the one-pass scan: buckets of one id and day summed before fn */
	bool pending;
	int pday;
	char pid[STATE_ID_MAX + 1];
	struct state_counts psum;
};

/* Hand the pending (id, day) sum to fn. */
static int
daily_flush(struct daily_ctx *d)
{
	if (!d->pending)
		return 0;
	d->pending = false;
	return d->fn(d->pid, d->pday, &d->psum, d->arg);
}

/* A bucket of the one-pass scan: added to its (id, day) sum. The backend
 * gives an id's buckets together in hour order, so a sum is complete when
 * the id or the day changes (another order only means more, smaller sums). */
static int
daily_bucket(const char *id, long long hour, const struct state_counts *c, void *arg)
{
	struct daily_ctx *d = arg;
	long long day = (hour - d->from) / 86400;
	if (hour < d->from || day >= d->days)
		return 0;
	if (!d->pending || d->pday != (int)day || strcmp(d->pid, id) != 0) {
		int rc = daily_flush(d);
		if (rc != 0)
			return rc;
		if (strlen(id) >= sizeof(d->pid)) /* cannot be held: as it is */
			return d->fn(id, (int)day, c, d->arg);
		memcpy(d->pid, id, strlen(id) + 1);
		d->pday = (int)day;
		memset(&d->psum, 0, sizeof(d->psum));
		d->pending = true;
	}
	d->psum.messages += c->messages;
	d->psum.recipients += c->recipients;
	d->psum.bytes += c->bytes;
	d->psum.accepted += c->accepted;
	d->psum.rejected += c->rejected;
	d->psum.quarantined += c->quarantined;
	d->psum.tempfailed += c->tempfailed;
	return 0;
}

/* A sum of the per-day fallback. */
static int
daily_sum(const char *id, const struct state_counts *sum, void *arg)
{
	struct daily_ctx *d = arg;
	struct state_counts c = *sum;
	c.recipients = c.bytes = 0; /* as the one-pass scan: not read */
	return d->fn(id, d->day, &c, d->arg);
}

int
state_counters_daily(struct state *s, long long from, int days,
		     int (*fn)(const char *id, int day, const struct state_counts *c, void *arg),
		     void *arg)
{
	struct daily_ctx d = {.from = from, .days = days, .fn = fn, .arg = arg};
	long long to = from + (long long)days * 86400;
	if (s->ops->counters_each_bucket != NULL) {
		if (s->ops->counters_each_bucket(s, from, to, daily_bucket, &d) != 0)
			return -1;
		daily_flush(&d); /* fn's non-zero only stops: nothing after the last */
		return 0;
	}
	for (d.day = 0; d.day < days; d.day++)
		if (s->ops->counters_foreach(s, from + d.day * 86400LL,
					     from + (d.day + 1) * 86400LL, daily_sum, &d) != 0)
			return -1;
	return 0;
}

/* ---- audit chain ------------------------------------------------------ */

void
state_audit_raw_of(const struct state_audit *rec, struct state_audit_raw *raw)
{
	const char *f[STATE_AUDIT_FIELDS] = {rec->action, rec->actor,  rec->identity,
					     rec->reason, rec->ticket, rec->detail};
	raw->seq = rec->seq;
	raw->ts = rec->ts;
	for (size_t i = 0; i < STATE_AUDIT_FIELDS; i++) {
		raw->field[i] = f[i];
		raw->len[i] = strlen(f[i]);
	}
	raw->prev_hash = rec->prev_hash;
	raw->prev_len = strlen(rec->prev_hash);
	raw->hash = rec->hash;
	raw->hash_len = strlen(rec->hash);
}

/* Feed the netstring "len:bytes," to the digest. */
static int
put_netstring(EVP_MD_CTX *md, const char *p, size_t n)
{
	char pre[32];
	int l = snprintf(pre, sizeof(pre), "%zu:", n);
	if (l < 0 || (size_t)l >= sizeof(pre))
		return -1;
	if (EVP_DigestUpdate(md, pre, (size_t)l) != 1 ||
	    (n > 0 && EVP_DigestUpdate(md, p, n) != 1) || EVP_DigestUpdate(md, ",", 1) != 1)
		return -1;
	return 0;
}

/* Feed a number as a decimal netstring. */
static int
put_number(EVP_MD_CTX *md, long long v)
{
	char b[32];
	int l = snprintf(b, sizeof(b), "%lld", v);
	if (l < 0 || (size_t)l >= sizeof(b))
		return -1;
	return put_netstring(md, b, (size_t)l);
}

int
state_audit_hash(const struct state_audit_raw *raw, const char *prev_hash,
		 char out[STATE_HASH_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	int rc = -1;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (md == NULL)
		return -1;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, AUDIT_DOMAIN, strlen(AUDIT_DOMAIN)) != 1 ||
	    put_netstring(md, prev_hash, strlen(prev_hash)) != 0 || put_number(md, raw->seq) != 0 ||
	    put_number(md, raw->ts) != 0)
		goto done;
	for (size_t i = 0; i < STATE_AUDIT_FIELDS; i++)
		if (put_netstring(md, raw->field[i], raw->len[i]) != 0)
			goto done;
	if (EVP_DigestFinal_ex(md, d, &dl) != 1 || dl * 2 != STATE_HASH_HEX)
		goto done;
	for (unsigned i = 0; i < dl; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[STATE_HASH_HEX] = '\0';
	rc = 0;
done:
	EVP_MD_CTX_free(md);
	return rc;
}

void
state_audit_check_begin(struct state_audit_check *chk)
{
	memset(chk, 0, sizeof(*chk));
	chk->expect_seq = 1;
	bw_strlcpy(chk->prev, STATE_ZERO_HASH, sizeof(chk->prev));
}

/* Mark the chain broken at seq. */
static int BW_PRINTF(3, 4)
    broken(struct state_audit_check *chk, long long seq, const char *fmt, ...)
{
	va_list ap;
	chk->broken = true;
	chk->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(chk->why, sizeof(chk->why), fmt, ap); /* truncation acceptable */
	va_end(ap);
	return 1;
}

/* n bytes at p equal the NUL-terminated s. */
static bool
bytes_eq(const char *p, size_t n, const char *s)
{
	return p != NULL && strlen(s) == n && memcmp(p, s, n) == 0;
}

int
state_audit_check_step(struct state_audit_check *chk, const struct state_audit_raw *raw)
{
	char want[STATE_HASH_HEX + 1];
	if (chk->broken)
		return 1;
	chk->n++;
	if (raw->seq != chk->expect_seq) {
		if (raw->seq > chk->expect_seq)
			return broken(chk, chk->expect_seq,
				      "record %lld is missing (the next record is %lld)",
				      chk->expect_seq, raw->seq);
		return broken(chk, raw->seq, "record %lld is out of sequence (expected %lld)",
			      raw->seq, chk->expect_seq);
	}
	if (!bytes_eq(raw->prev_hash, raw->prev_len, chk->prev))
		return broken(chk, raw->seq,
			      "record %lld does not chain to the record before it "
			      "(prev_hash mismatch: removed, inserted or reordered records)",
			      raw->seq);
	if (state_audit_hash(raw, chk->prev, want) != 0)
		return broken(chk, raw->seq, "record %lld: cannot compute its hash", raw->seq);
	if (!bytes_eq(raw->hash, raw->hash_len, want))
		return broken(
		    chk, raw->seq,
		    "record %lld was altered (its stored hash does not match its content)",
		    raw->seq);
	memcpy(chk->prev, want, sizeof(want));
	chk->expect_seq++;
	return 0;
}

int
state_audit_check_end(struct state_audit_check *chk, long long head_seq, const char *head_hash)
{
	long long last = chk->expect_seq - 1;
	if (chk->broken)
		return 1;
	if (head_seq < 0)
		return 0; /* the backend keeps no head */
	if (head_seq == 0 && last > 0)
		return broken(chk, last,
			      "the store's audit head is missing: the end of the log after record "
			      "%lld cannot be confirmed",
			      last);
	if (head_seq > last)
		return broken(chk, last + 1,
			      "records %lld to %lld are missing (the store's head is record %lld)",
			      last + 1, head_seq, head_seq);
	if (head_seq < last)
		return broken(
		    chk, head_seq + 1,
		    "records after %lld were added outside bulkwarden (the store's head is "
		    "record %lld)",
		    head_seq, head_seq);
	if (last > 0 && strcmp(head_hash, chk->prev) != 0)
		return broken(chk, last, "record %lld does not match the store's head hash", last);
	return 0;
}

/* ---- counters and audit events ---------------------------------------- */

/* The fields of struct state_counts, in the order every output shows them. */
static const struct {
	const char *name;
	size_t off;
} count_fields[] = {
    {"messages", offsetof(struct state_counts, messages)},
    {"recipients", offsetof(struct state_counts, recipients)},
    {"bytes", offsetof(struct state_counts, bytes)},
    {"accepted", offsetof(struct state_counts, accepted)},
    {"rejected", offsetof(struct state_counts, rejected)},
    {"quarantined", offsetof(struct state_counts, quarantined)},
    {"tempfailed", offsetof(struct state_counts, tempfailed)},
    {"auth_failed", offsetof(struct state_counts, auth_failed)},
};

void
state_counts_json(struct jbuf *j, const char *prefix, const struct state_counts *c)
{
	char key[STATE_COUNTS_PREFIX_MAX + 16];
	for (size_t i = 0; i < sizeof(count_fields) / sizeof(count_fields[0]); i++) {
		int n = snprintf(key, sizeof(key), "%s%s", prefix, count_fields[i].name);
		if (n < 0 || (size_t)n >= sizeof(key))
			abort(); /* prefixes are the program's constants: a bug */
		uint64_t v;
		memcpy(&v, (const char *)c + count_fields[i].off, sizeof(v));
		jbuf_num(j, key, (long long)v);
	}
}

void
state_audit_event(struct jbuf *j, const struct state_audit *rec, const char *event_id)
{
	jbuf_begin(j);
	jbuf_timestamp(j, "@timestamp", rec->ts, 0);
	jbuf_str(j, "event.kind", "event");
	jbuf_str(j, "event.dataset", "bulkwarden.audit");
	if (event_id != NULL && event_id[0] != '\0')
		jbuf_str(j, "event.id", event_id);
	jbuf_str(j, "event.action", rec->action);
	jbuf_str(j, "event.outcome",
		 strcmp(rec->action, "config-rejected") == 0 ? "failure" : "success");
	jbuf_str(j, "event.reason", rec->reason);
	jbuf_str(j, "bulkwarden.actor", rec->actor);
	jbuf_str(j, "bulkwarden.ticket", rec->ticket);
	if (rec->identity[0] != '\0')
		jbuf_str(j, "bulkwarden.identity.id", rec->identity);
	jbuf_num(j, "bulkwarden.audit.seq", rec->seq);
	jbuf_str(j, "bulkwarden.audit.hash", rec->hash);
	jbuf_str(j, "bulkwarden.audit.prev_hash", rec->prev_hash);
	if (rec->detail[0] != '\0')
		jbuf_str(j, "bulkwarden.audit.detail", rec->detail);
	/* Changes to an identity's standing are IAM changes; a configuration
	 * load or refusal is a configuration change. */
	if (strncmp(rec->action, "config-", 7) == 0)
		ecs_common(j, "configuration", NULL, "change", NULL);
	else
		ecs_common(j, "iam", NULL, "change", NULL);
	jbuf_end(j);
}
