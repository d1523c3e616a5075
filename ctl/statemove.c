/*
 * statemove.c - "bulkwardenctl state export [FILE]" and "state import
 * [FILE]": the whole state store as JSON lines, the way a site moves from
 * one relay (SQLite) to a fleet (Redis) or back (SPEC §8).
 *
 * Format, one object per line, in this order:
 *   {"kind":"bulkwarden-state","format":1,"backend":B,"exported":T}
 *   {"kind":"audit", seq ts action actor identity reason ticket detail prev_hash hash}
 *   {"kind":"suspension", id reason by ticket since until}
 *   {"kind":"counter", id hour counts{messages recipients bytes accepted rejected quarantined
 *                      tempfailed auth_failed}}   (auth_failed absent, older exports: 0)
 *   {"kind":"usage", id window ("hour"|"day") start messages recipients}
 *   {"kind":"feedback", id hour counts{complaints hard_bounces soft_bounces
 *                       dmarc_messages dmarc_failures}}
 *   {"kind":"feedback_key", key ts}   (a report already counted, SPEC §9)
 *   {"kind":"waiver", waiver identity kind name reason by approver ticket created until ended}
 *   {"kind":"path", id path first_seen pending [approved_at approved_by ticket]}
 *   {"kind":"suppression", id hmac (32 hex digits: the keyed hash) since}
 *   {"kind":"end","audit":N,"suspensions":N,"counters":N,"usage":N,
 *    "feedback":N,"feedback_keys":N,"waivers":N,"paths":N,"suppressions":N}
 * (an export made before feedback, waivers, sending paths or suppressions
 * existed has neither those kinds nor their trailer counts: an absent count
 * reads as 0.) The suppression list moves as keyed hashes: the importing
 * site needs the same key file (bulkwardenctl(8), SUPPRESSION KEY).
 * The trailer's counts make a truncated file detectable.
 *
 * Import reads and checks the whole file before writing anything (a bad
 * line is named by number and nothing is written), refuses a store that is
 * not empty, writes, then verifies the audit chain (exit 1 if it does not
 * hold). Memory: the parsed file is held in malloc'ed arrays until the
 * import ends. Untrusted input: the import file (jansson parses it; every
 * string and number is bounded and type-checked here).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl/verbs.h"

#define LINE_MAX_BYTES (64 * 1024)
#define FORMAT_VERSION 1

struct counter_row {
	char id[STATE_ID_MAX + 1];
	long long hour;
	struct state_counts c;
};

struct usage_row {
	char id[STATE_ID_MAX + 1];
	int win;
	long long start;
	uint64_t m, r;
};

struct fb_row {
	char id[STATE_ID_MAX + 1];
	long long hour;
	struct state_feedback f;
};

struct fb_key {
	char key[STATE_FEEDBACK_KEY_MAX + 1];
	long long ts;
};

struct supp_row {
	char id[STATE_ID_MAX + 1];
	unsigned char h[STATE_SUPP_BYTES];
	long long since;
};

struct dump {
	struct state_audit *audit;
	size_t n_audit, cap_audit;
	struct state_suspension *susp;
	size_t n_susp, cap_susp;
	struct counter_row *cnt;
	size_t n_cnt, cap_cnt;
	struct usage_row *use;
	size_t n_use, cap_use;
	struct fb_row *fb;
	size_t n_fb, cap_fb;
	struct fb_key *fbk;
	size_t n_fbk, cap_fbk;
	struct state_waiver *wvr;
	size_t n_wvr, cap_wvr;
	struct state_path *path;
	size_t n_path, cap_path;
	struct supp_row *supp;
	size_t n_supp, cap_supp;
};

/* ---- export ------------------------------------------------------------ */

struct ex {
	FILE *f;
	struct jbuf j;
	long long n_audit, n_cnt, n_use, n_fb, n_fbk, n_path, n_supp;
	bool failed;
};

/* Write the built line. */
static void
put(struct ex *x)
{
	jbuf_end(&x->j);
	if (x->j.truncated)
		x->failed = true; /* a row that does not fit must not pass silently */
	if (fwrite(x->j.buf, 1, x->j.len, x->f) != x->j.len)
		x->failed = true;
}

static int
ex_audit(const struct state_audit *rec, void *arg)
{
	struct ex *x = arg;
	jbuf_begin(&x->j);
	jbuf_str(&x->j, "kind", "audit");
	ctl_audit_json(&x->j, rec);
	put(x);
	x->n_audit++;
	return x->failed;
}

static int
ex_counter(const char *id, long long hour, const struct state_counts *c, void *arg)
{
	struct ex *x = arg;
	jbuf_begin(&x->j);
	jbuf_str(&x->j, "kind", "counter");
	jbuf_str(&x->j, "id", id);
	jbuf_num(&x->j, "hour", hour);
	out_counts_json(&x->j, "counts", c);
	put(x);
	x->n_cnt++;
	return x->failed;
}

static int
ex_usage(const char *id, int win, long long start, uint64_t m, uint64_t r, void *arg)
{
	struct ex *x = arg;
	jbuf_begin(&x->j);
	jbuf_str(&x->j, "kind", "usage");
	jbuf_str(&x->j, "id", id);
	jbuf_str(&x->j, "window", win ? "day" : "hour");
	jbuf_num(&x->j, "start", start);
	jbuf_num(&x->j, "messages", (long long)m);
	jbuf_num(&x->j, "recipients", (long long)r);
	put(x);
	x->n_use++;
	return x->failed;
}

static const char *const fb_names[5] = {"complaints", "hard_bounces", "soft_bounces",
					"dmarc_messages", "dmarc_failures"};

static uint64_t *
fb_field(struct state_feedback *f, int i)
{
	uint64_t *v[5] = {&f->complaints, &f->hard_bounces, &f->soft_bounces, &f->dmarc_messages,
			  &f->dmarc_failures};
	return v[i];
}

static int
ex_feedback(const char *id, long long hour, const struct state_feedback *f, void *arg)
{
	struct ex *x = arg;
	struct state_feedback c = *f;
	jbuf_begin(&x->j);
	jbuf_str(&x->j, "kind", "feedback");
	jbuf_str(&x->j, "id", id);
	jbuf_num(&x->j, "hour", hour);
	jbuf_object_begin(&x->j, "counts");
	for (int i = 0; i < 5; i++)
		jbuf_num(&x->j, fb_names[i], (long long)*fb_field(&c, i));
	jbuf_object_end(&x->j);
	put(x);
	x->n_fb++;
	return x->failed;
}

static int
ex_fbkey(const char *key, long long ts, void *arg)
{
	struct ex *x = arg;
	jbuf_begin(&x->j);
	jbuf_str(&x->j, "kind", "feedback_key");
	jbuf_str(&x->j, "key", key);
	jbuf_num(&x->j, "ts", ts);
	put(x);
	x->n_fbk++;
	return x->failed;
}

static int
ex_supp(const struct state_supp *e, void *arg)
{
	struct ex *x = arg;
	char hex[2 * STATE_SUPP_BYTES + 1];
	if (!e->live)
		return 0;
	for (int i = 0; i < STATE_SUPP_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", e->h[i]);
	jbuf_begin(&x->j);
	jbuf_str(&x->j, "kind", "suppression");
	jbuf_str(&x->j, "id", e->id);
	jbuf_str(&x->j, "hmac", hex);
	jbuf_num(&x->j, "since", e->since);
	put(x);
	x->n_supp++;
	return x->failed;
}

/* Every sending path, as it is. */
static int
ex_paths(struct state *st, struct ex *x)
{
	struct state_path *v;
	size_t n;
	if (state_paths(st, NULL, &v, &n) != 0)
		return -1;
	for (size_t i = 0; i < n && !x->failed; i++) {
		jbuf_begin(&x->j);
		jbuf_str(&x->j, "kind", "path");
		jbuf_str(&x->j, "id", v[i].id);
		jbuf_str(&x->j, "path", v[i].path);
		jbuf_num(&x->j, "first_seen", v[i].first_seen);
		jbuf_bool(&x->j, "pending", v[i].pending);
		jbuf_num(&x->j, "approved_at", v[i].approved_at);
		jbuf_str(&x->j, "approved_by", v[i].approved_by);
		jbuf_str(&x->j, "ticket", v[i].ticket);
		put(x);
		x->n_path++;
	}
	free(v);
	return 0;
}

static int
do_export(struct ctl *c, const char *path)
{
	struct state *st = ctl_state(c);
	struct ex *x = calloc(1, sizeof(*x));
	struct state_suspension *sp = NULL;
	size_t n = 0;
	char t[CTL_TIME_MAX];
	if (x == NULL) {
		ctl_err("out of memory");
		return CTL_FAIL;
	}
	x->f = path ? fopen(path, "wx") : stdout;
	if (x->f == NULL) {
		ctl_err("%s: %s", path, strerror(errno));
		free(x);
		return CTL_FAIL;
	}
	jbuf_begin(&x->j);
	jbuf_str(&x->j, "kind", "bulkwarden-state");
	jbuf_num(&x->j, "format", FORMAT_VERSION);
	jbuf_str(&x->j, "backend", state_backend_name(st));
	jbuf_str(&x->j, "exported", out_time(ctl_now(), t));
	put(x);
	int rc = state_audit_foreach(st, ex_audit, x);
	if (rc == 0)
		rc = state_suspensions_all(st, &sp, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		jbuf_begin(&x->j);
		jbuf_str(&x->j, "kind", "suspension");
		jbuf_str(&x->j, "id", sp[i].id);
		jbuf_str(&x->j, "reason", sp[i].reason);
		jbuf_str(&x->j, "by", sp[i].by);
		jbuf_str(&x->j, "ticket", sp[i].ticket);
		jbuf_num(&x->j, "since", sp[i].since);
		jbuf_num(&x->j, "until", sp[i].until);
		put(x);
	}
	free(sp);
	if (rc == 0)
		rc = state_counters_rows(st, ex_counter, x);
	if (rc == 0)
		rc = state_usage_rows(st, ex_usage, x);
	if (rc == 0)
		rc = state_feedback_rows(st, ex_feedback, x);
	if (rc == 0)
		rc = state_feedback_keys(st, ex_fbkey, x);
	struct state_waiver *wv = NULL;
	size_t nw = 0;
	if (rc == 0 && state_has_waivers(st))
		rc = state_waivers(st, NULL, 0, true, &wv, &nw);
	for (size_t i = 0; rc == 0 && i < nw; i++) {
		jbuf_begin(&x->j);
		jbuf_str(&x->j, "kind", "waiver");
		jbuf_num(&x->j, "waiver", wv[i].wid);
		jbuf_str(&x->j, "identity", wv[i].id);
		jbuf_str(&x->j, "type", wv[i].kind);
		jbuf_str(&x->j, "name", wv[i].name);
		jbuf_str(&x->j, "reason", wv[i].reason);
		jbuf_str(&x->j, "by", wv[i].by);
		jbuf_str(&x->j, "approver", wv[i].approver);
		jbuf_str(&x->j, "ticket", wv[i].ticket);
		jbuf_num(&x->j, "created", wv[i].created);
		jbuf_num(&x->j, "until", wv[i].until);
		jbuf_num(&x->j, "ended", wv[i].ended);
		put(x);
	}
	free(wv);
	if (rc == 0)
		rc = ex_paths(st, x);
	if (rc == 0)
		rc = state_supp_changes(st, 0, ex_supp, x);
	if (rc == 0) {
		jbuf_begin(&x->j);
		jbuf_str(&x->j, "kind", "end");
		jbuf_num(&x->j, "audit", x->n_audit);
		jbuf_num(&x->j, "suspensions", (long long)n);
		jbuf_num(&x->j, "counters", x->n_cnt);
		jbuf_num(&x->j, "usage", x->n_use);
		jbuf_num(&x->j, "feedback", x->n_fb);
		jbuf_num(&x->j, "feedback_keys", x->n_fbk);
		jbuf_num(&x->j, "waivers", (long long)nw);
		jbuf_num(&x->j, "paths", x->n_path);
		jbuf_num(&x->j, "suppressions", x->n_supp);
		put(x);
	}
	bool failed = rc != 0 || x->failed || fflush(x->f) != 0 || ferror(x->f);
	if (rc != 0)
		ctl_err("export: %s", state_error(st));
	else if (failed)
		ctl_err("export: cannot write %s", path ? path : "stdout");
	if (path != NULL && fclose(x->f) != 0)
		failed = true;
	if (failed && path != NULL)
		unlink(path); /* never leave half an export behind */
	else if (path != NULL)
		fprintf(
		    stderr,
		    "exported %lld audit records, %zu suspensions, %lld counter rows, "
		    "%lld use counts, %zu waivers, %lld sending paths, %lld suppressions to %s\n",
		    x->n_audit, n, x->n_cnt, x->n_use, nw, x->n_path, x->n_supp, path);
	free(x);
	return failed ? CTL_FAIL : CTL_OK;
}

/* ---- import: parsing --------------------------------------------------- */

/* Grow an array by one element; false on overflow/out of memory. */
static bool
grow(void **v, size_t *n, size_t *cap, size_t size)
{
	if (*n < *cap)
		return true;
	size_t nc = *cap ? *cap * 2 : 64;
	void *nv = realloc(*v, nc * size);
	if (nv == NULL)
		return false;
	*v = nv;
	*cap = nc;
	return true;
}

/* A string member into dst (cap bytes); false when missing, not a string,
 * too long or holding a NUL. */
static bool
get_str(json_t *o, const char *k, char *dst, size_t cap, bool required)
{
	json_t *v = json_object_get(o, k);
	if (v == NULL && !required) {
		dst[0] = '\0';
		return true;
	}
	if (!json_is_string(v) || json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return false;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return true;
}

/* An integer member in [lo, hi]. */
static bool
get_int(json_t *o, const char *k, long long lo, long long hi, long long *out)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return false;
	*out = json_integer_value(v);
	return true;
}

static bool
parse_audit(json_t *o, struct state_audit *a)
{
	memset(a, 0, sizeof(*a));
	return get_int(o, "seq", 1, INT64_MAX, &a->seq) && get_int(o, "ts", 0, INT64_MAX, &a->ts) &&
	       get_str(o, "action", a->action, sizeof(a->action), true) &&
	       get_str(o, "actor", a->actor, sizeof(a->actor), true) &&
	       get_str(o, "identity", a->identity, sizeof(a->identity), true) &&
	       get_str(o, "reason", a->reason, sizeof(a->reason), true) &&
	       get_str(o, "ticket", a->ticket, sizeof(a->ticket), true) &&
	       get_str(o, "detail", a->detail, sizeof(a->detail), true) &&
	       get_str(o, "prev_hash", a->prev_hash, sizeof(a->prev_hash), true) &&
	       get_str(o, "hash", a->hash, sizeof(a->hash), true);
}

static bool
parse_susp(json_t *o, struct state_suspension *s)
{
	memset(s, 0, sizeof(*s));
	return get_str(o, "id", s->id, sizeof(s->id), true) &&
	       get_str(o, "reason", s->reason, sizeof(s->reason), true) &&
	       get_str(o, "by", s->by, sizeof(s->by), true) &&
	       get_str(o, "ticket", s->ticket, sizeof(s->ticket), false) &&
	       get_int(o, "since", 0, INT64_MAX, &s->since) &&
	       get_int(o, "until", 0, INT64_MAX, &s->until);
}

static bool
parse_counter(json_t *o, struct counter_row *r)
{
	static const char *const f[] = {"messages", "recipients",  "bytes",	"accepted",
					"rejected", "quarantined", "tempfailed"};
	uint64_t *dst[] = {&r->c.messages, &r->c.recipients,  &r->c.bytes,     &r->c.accepted,
			   &r->c.rejected, &r->c.quarantined, &r->c.tempfailed};
	json_t *c = json_object_get(o, "counts");
	memset(r, 0, sizeof(*r));
	if (!get_str(o, "id", r->id, sizeof(r->id), true) ||
	    !get_int(o, "hour", 0, INT64_MAX, &r->hour) || !json_is_object(c))
		return false;
	for (int i = 0; i < 7; i++) {
		long long v;
		if (!get_int(c, f[i], 0, INT64_MAX, &v))
			return false;
		*dst[i] = (uint64_t)v;
	}
	/* optional: an export made before the count existed has none */
	long long af = 0;
	if (json_object_get(c, "auth_failed") != NULL &&
	    !get_int(c, "auth_failed", 0, INT64_MAX, &af))
		return false;
	r->c.auth_failed = (uint64_t)af;
	return true;
}

static bool
parse_usage(json_t *o, struct usage_row *u)
{
	char win[8];
	long long m, r;
	memset(u, 0, sizeof(*u));
	if (!get_str(o, "id", u->id, sizeof(u->id), true) ||
	    !get_str(o, "window", win, sizeof(win), true) ||
	    !get_int(o, "start", 0, INT64_MAX, &u->start) ||
	    !get_int(o, "messages", 0, INT64_MAX, &m) ||
	    !get_int(o, "recipients", 0, INT64_MAX, &r))
		return false;
	if (strcmp(win, "hour") != 0 && strcmp(win, "day") != 0)
		return false;
	u->win = strcmp(win, "day") == 0;
	u->m = (uint64_t)m;
	u->r = (uint64_t)r;
	return true;
}

static bool
parse_feedback(json_t *o, struct fb_row *r)
{
	json_t *c = json_object_get(o, "counts");
	memset(r, 0, sizeof(*r));
	if (!get_str(o, "id", r->id, sizeof(r->id), true) ||
	    !get_int(o, "hour", 0, INT64_MAX, &r->hour) || !json_is_object(c))
		return false;
	for (int i = 0; i < 5; i++) {
		long long v;
		if (!get_int(c, fb_names[i], 0, INT64_MAX, &v))
			return false;
		*fb_field(&r->f, i) = (uint64_t)v;
	}
	return true;
}

static bool
parse_fbkey(json_t *o, struct fb_key *k)
{
	memset(k, 0, sizeof(*k));
	return get_str(o, "key", k->key, sizeof(k->key), true) &&
	       get_int(o, "ts", 0, INT64_MAX, &k->ts);
}

/* A trailer count that older exports lack: absent means none. */
static bool
end_count(json_t *o, const char *k, size_t have)
{
	long long n = 0;
	if (json_object_get(o, k) != NULL && !get_int(o, k, 0, INT64_MAX, &n))
		return false;
	return (size_t)n == have;
}

static bool
parse_waiver(json_t *o, struct state_waiver *w)
{
	memset(w, 0, sizeof(*w));
	return get_int(o, "waiver", 1, INT64_MAX, &w->wid) &&
	       get_str(o, "identity", w->id, sizeof(w->id), true) &&
	       get_str(o, "type", w->kind, sizeof(w->kind), true) &&
	       get_str(o, "name", w->name, sizeof(w->name), true) &&
	       get_str(o, "reason", w->reason, sizeof(w->reason), true) &&
	       get_str(o, "by", w->by, sizeof(w->by), true) &&
	       get_str(o, "approver", w->approver, sizeof(w->approver), true) &&
	       get_str(o, "ticket", w->ticket, sizeof(w->ticket), true) &&
	       get_int(o, "created", 0, INT64_MAX, &w->created) &&
	       get_int(o, "until", 1, INT64_MAX, &w->until) &&
	       get_int(o, "ended", 0, INT64_MAX, &w->ended);
}

static bool
parse_path(json_t *o, struct state_path *p)
{
	json_t *pend = json_object_get(o, "pending");
	memset(p, 0, sizeof(*p));
	return get_str(o, "id", p->id, sizeof(p->id), true) &&
	       get_str(o, "path", p->path, sizeof(p->path), true) &&
	       state_path_kind(p->path, NULL) &&
	       get_int(o, "first_seen", 0, INT64_MAX, &p->first_seen) && json_is_boolean(pend) &&
	       (p->pending = json_is_true(pend), true) &&
	       get_int(o, "approved_at", 0, INT64_MAX, &p->approved_at) &&
	       get_str(o, "approved_by", p->approved_by, sizeof(p->approved_by), false) &&
	       get_str(o, "ticket", p->ticket, sizeof(p->ticket), false);
}

static bool
parse_supp(json_t *o, struct supp_row *r)
{
	char hex[2 * STATE_SUPP_BYTES + 1];
	memset(r, 0, sizeof(*r));
	if (!get_str(o, "id", r->id, sizeof(r->id), true) ||
	    !get_str(o, "hmac", hex, sizeof(hex), true) || strlen(hex) != 2 * STATE_SUPP_BYTES ||
	    !get_int(o, "since", 0, INT64_MAX, &r->since))
		return false;
	for (int i = 0; i < STATE_SUPP_BYTES; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]) || sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		r->h[i] = (unsigned char)v;
	}
	return true;
}

/* Check the trailer's counts against what was read. */
static bool
check_end(json_t *o, const struct dump *d)
{
	long long a, s, c, u;
	if (!end_count(o, "feedback", d->n_fb) || !end_count(o, "feedback_keys", d->n_fbk) ||
	    !end_count(o, "waivers", d->n_wvr) || !end_count(o, "paths", d->n_path) ||
	    !end_count(o, "suppressions", d->n_supp))
		return false;
	return get_int(o, "audit", 0, INT64_MAX, &a) &&
	       get_int(o, "suspensions", 0, INT64_MAX, &s) &&
	       get_int(o, "counters", 0, INT64_MAX, &c) && get_int(o, "usage", 0, INT64_MAX, &u) &&
	       (size_t)a == d->n_audit && (size_t)s == d->n_susp && (size_t)c == d->n_cnt &&
	       (size_t)u == d->n_use;
}

/* Read and check the whole file; 0, or -1 with the line named. */
static int
read_dump(FILE *f, const char *name, struct dump *d)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long ln = 0;
	bool header = false, end = false;
	int rc = -1;
	while ((len = getline(&line, &cap, f)) >= 0) {
		ln++;
		if (len > LINE_MAX_BYTES) {
			ctl_err("%s:%ld: line longer than %d bytes", name, ln, LINE_MAX_BYTES);
			goto out;
		}
		if (end) {
			ctl_err("%s:%ld: data after the end line", name, ln);
			goto out;
		}
		json_error_t je;
		json_t *o = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(o)) {
			ctl_err("%s:%ld: not a JSON object (%s)", name, ln, o ? "" : je.text);
			json_decref(o);
			goto out;
		}
		const char *kind = json_string_value(json_object_get(o, "kind"));
		bool ok = kind != NULL;
		if (!ok) {
		} else if (!header) {
			long long fmt;
			ok = strcmp(kind, "bulkwarden-state") == 0 &&
			     get_int(o, "format", 1, FORMAT_VERSION, &fmt);
			header = ok;
		} else if (strcmp(kind, "audit") == 0) {
			ok = grow((void **)&d->audit, &d->n_audit, &d->cap_audit,
				  sizeof(*d->audit)) &&
			     parse_audit(o, &d->audit[d->n_audit]);
			d->n_audit += ok;
		} else if (strcmp(kind, "suspension") == 0) {
			ok = grow((void **)&d->susp, &d->n_susp, &d->cap_susp, sizeof(*d->susp)) &&
			     parse_susp(o, &d->susp[d->n_susp]);
			d->n_susp += ok;
		} else if (strcmp(kind, "counter") == 0) {
			ok = grow((void **)&d->cnt, &d->n_cnt, &d->cap_cnt, sizeof(*d->cnt)) &&
			     parse_counter(o, &d->cnt[d->n_cnt]);
			d->n_cnt += ok;
		} else if (strcmp(kind, "usage") == 0) {
			ok = grow((void **)&d->use, &d->n_use, &d->cap_use, sizeof(*d->use)) &&
			     parse_usage(o, &d->use[d->n_use]);
			d->n_use += ok;
		} else if (strcmp(kind, "feedback") == 0) {
			ok = grow((void **)&d->fb, &d->n_fb, &d->cap_fb, sizeof(*d->fb)) &&
			     parse_feedback(o, &d->fb[d->n_fb]);
			d->n_fb += ok;
		} else if (strcmp(kind, "feedback_key") == 0) {
			ok = grow((void **)&d->fbk, &d->n_fbk, &d->cap_fbk, sizeof(*d->fbk)) &&
			     parse_fbkey(o, &d->fbk[d->n_fbk]);
			d->n_fbk += ok;
		} else if (strcmp(kind, "waiver") == 0) {
			ok = grow((void **)&d->wvr, &d->n_wvr, &d->cap_wvr, sizeof(*d->wvr)) &&
			     parse_waiver(o, &d->wvr[d->n_wvr]);
			d->n_wvr += ok;
		} else if (strcmp(kind, "suppression") == 0) {
			ok = grow((void **)&d->supp, &d->n_supp, &d->cap_supp, sizeof(*d->supp)) &&
			     parse_supp(o, &d->supp[d->n_supp]);
			d->n_supp += ok;
		} else if (strcmp(kind, "path") == 0) {
			ok = grow((void **)&d->path, &d->n_path, &d->cap_path, sizeof(*d->path)) &&
			     parse_path(o, &d->path[d->n_path]);
			d->n_path += ok;
		} else if (strcmp(kind, "end") == 0) {
			ok = check_end(o, d);
			if (!ok) {
				ctl_err("%s:%ld: the end line's counts do not match the file", name,
					ln);
				json_decref(o);
				goto out;
			}
			end = true;
		} else {
			ok = false;
		}
		json_decref(o);
		if (!ok) {
			ctl_err("%s:%ld: %s", name, ln,
				!header
				    ? "not a bulkwarden state export (first line)"
				    : "bad or unknown record (kind, a field, a type or a bound)");
			goto out;
		}
	}
	if (ferror(f))
		ctl_err("%s: read error: %s", name, strerror(errno));
	else if (!end)
		ctl_err("%s: no end line: the export is truncated", name);
	else
		rc = 0;
out:
	free(line);
	return rc;
}

/* ---- import: writing --------------------------------------------------- */

static int
write_dump(struct state *st, const struct dump *d)
{
	for (size_t i = 0; i < d->n_audit; i++)
		if (state_import_audit(st, &d->audit[i]) != 0)
			return -1;
	for (size_t i = 0; i < d->n_susp; i++)
		if (state_import_suspension(st, &d->susp[i]) != 0)
			return -1;
	for (size_t i = 0; i < d->n_cnt;) {
		struct state_counter_delta b[256];
		size_t k = 0;
		for (; k < 256 && i < d->n_cnt; k++, i++) {
			b[k].id = d->cnt[i].id;
			b[k].hour = d->cnt[i].hour;
			b[k].counts = d->cnt[i].c;
		}
		if (state_counters_add_many(st, b, k) != 0)
			return -1;
	}
	for (size_t i = 0; i < d->n_use; i++)
		if (state_import_usage(st, d->use[i].id, d->use[i].win, d->use[i].start,
				       d->use[i].m, d->use[i].r) != 0)
			return -1;
	for (size_t i = 0; i < d->n_fb; i++)
		if (state_import_feedback(st, d->fb[i].id, d->fb[i].hour, &d->fb[i].f) != 0)
			return -1;
	for (size_t i = 0; i < d->n_fbk; i++)
		if (state_import_feedback_key(st, d->fbk[i].key, d->fbk[i].ts) != 0)
			return -1;
	for (size_t i = 0; i < d->n_wvr; i++)
		if (state_import_waiver(st, &d->wvr[i]) != 0)
			return -1;
	for (size_t i = 0; i < d->n_path; i++)
		if (state_import_path(st, &d->path[i]) != 0)
			return -1;
	for (size_t i = 0; i < d->n_supp; i++) {
		struct state_supp e;
		memset(&e, 0, sizeof(e));
		bw_strlcpy(e.id, d->supp[i].id, sizeof(e.id));
		memcpy(e.h, d->supp[i].h, STATE_SUPP_BYTES);
		e.since = d->supp[i].since;
		e.live = true;
		if (state_import_supp(st, &e) != 0)
			return -1;
	}
	return 0;
}

static int
do_import(struct ctl *c, const char *path)
{
	struct dump d;
	memset(&d, 0, sizeof(d));
	FILE *f = path ? fopen(path, "re") : stdin;
	const char *name = path ? path : "stdin";
	int rc = CTL_FAIL;
	if (f == NULL) {
		ctl_err("%s: %s", path, strerror(errno));
		return CTL_FAIL;
	}
	if (read_dump(f, name, &d) != 0)
		goto out; /* nothing written */
	struct state *st = ctl_state(c);
	int empty = state_is_empty(st);
	if (empty < 0) {
		ctl_err("import: %s", state_error(st));
		goto out;
	}
	if (!empty) {
		ctl_err("import: the %s state store is not empty; import only into a new store",
			state_backend_name(st));
		goto out;
	}
	if (write_dump(st, &d) != 0) {
		ctl_err("import failed part way: %s (the store now holds part of %s: empty it "
			"before trying again)",
			state_error(st), name);
		goto out;
	}
	long long n, bad;
	char why[256];
	int v = state_audit_verify(st, &n, &bad, why, sizeof(why));
	if (v != 0) {
		ctl_err("imported, but the audit chain does not hold: %s",
			v < 0 ? state_error(st) : why);
		goto out;
	}
	printf("imported %zu audit records (chain verified), %zu suspensions, %zu counter rows, "
	       "%zu use counts, %zu feedback rows, %zu feedback report keys, %zu waivers, "
	       "%zu sending paths, %zu suppressions into %s\n",
	       d.n_audit, d.n_susp, d.n_cnt, d.n_use, d.n_fb, d.n_fbk, d.n_wvr, d.n_path, d.n_supp,
	       state_backend_name(st));
	rc = CTL_OK;
out:
	if (path != NULL)
		fclose(f);
	free(d.audit);
	free(d.susp);
	free(d.cnt);
	free(d.use);
	free(d.fb);
	free(d.fbk);
	free(d.wvr);
	free(d.path);
	free(d.supp);
	return rc;
}

int
ctl_state_verb(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	int rc = ctl_args_parse(c, argc, argv, "", 2, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	if (a.npos >= 1 && strcmp(a.pos[0], "export") == 0)
		return do_export(c, a.npos == 2 ? a.pos[1] : NULL);
	if (a.npos >= 1 && strcmp(a.pos[0], "import") == 0)
		return do_import(c, a.npos == 2 ? a.pos[1] : NULL);
	return ctl_usage("state", "state: say export or import");
}
