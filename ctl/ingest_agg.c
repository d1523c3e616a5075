/*
 * ingest_agg.c - the DMARC aggregate path of `bulkwardenctl ingest`
 * (SPEC §9): a report as XML, gzip or zip, alone or attached to a message
 * (ingest/attach.c, ingest/unpack.c), parsed (ingest/aggregate.c) and its
 * rows tallied per identity (ingest/aggtally.c). Here ingest meets the
 * state store: every distinct (source IP, domain) pair from an address no
 * identity owns gets a `new-sending-path` audit record by actor
 * "bulkwarden" (and its audit event), then the report gets one
 * bulkwarden.feedback event.
 *
 * Memory: the attachment, the decompressed XML (at most AGG_XML_MAX) and
 * the tally are malloc'ed here and freed before returning; the report
 * buffer is the caller's. Untrusted input: the whole report; every string
 * from it is bounded by ingest/ and escaped by the JSON writer and
 * out_esc() before it is shown.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <glib.h>

#include "base/ecs.h"
#include "ctl/ingest.h"
#include "ingest/aggregate.h"
#include "ingest/aggtally.h"
#include "ingest/attach.h"
#include "ingest/feedback.h"
#include "ingest/unpack.h"
#include "log/eventlog.h"

/* What one report came to: its metadata and the tally of its rows. */
struct agg_result {
	char digest[65];
	char key[STATE_FEEDBACK_KEY_MAX + 1]; /* what the store remembers it by */
	bool duplicate;			      /* recorded before: counted once */
	enum agg_wrap wrap;
	char attachment[AGG_CTYPE_MAX]; /* "" when the input was the report itself */
	struct agg_meta meta;
	struct agg_tally tally;
	long records;
};

/* How the report as a whole was attributed: "from" / "egress-ip" when
 * all its attributed rows belong to one identity, "several", or "none". */
static const char *
report_by(const struct agg_tally *t, const struct bw_identity **one)
{
	*one = NULL;
	if (t->n_ids == 0 && t->other.rows == 0)
		return "none";
	if (t->n_ids != 1 || t->other.rows != 0)
		return "several";
	*one = t->ids[0].id;
	return t->ids[0].by_from ? "from" : "egress-ip";
}

/* Four counts of c under prefix (a constant). */
static void
counts_json(struct jbuf *j, const char *prefix, const struct agg_counts *c)
{
	char k[96];
	static const char *const name[] = {"rows", "messages", "dkim_fail", "spf_fail",
					   "dmarc_fail"};
	const uint64_t v[] = {c->rows, c->messages, c->dkim_fail, c->spf_fail, c->dmarc_fail};
	for (int i = 0; i < 5; i++) {
		snprintf(k, sizeof(k), "%s%s", prefix, name[i]);
		jbuf_num(j, k, (long long)v[i]);
	}
}

/* The feedback event of one aggregate report, or of an unusable one. */
static void
agg_event(struct jbuf *j, const char *source, const struct agg_result *a, const char *why)
{
	struct timeval tv;
	char evid[25];
	const struct bw_identity *one;
	gettimeofday(&tv, NULL);
	if (bw_random_hex(evid, 12) != 0)
		evid[0] = '\0';
	jbuf_begin(j);
	jbuf_timestamp(j, "@timestamp", tv.tv_sec, tv.tv_usec / 1000);
	jbuf_str(j, "event.kind", "event");
	jbuf_str(j, "event.dataset", "bulkwarden.feedback");
	jbuf_str(j, "event.id", evid);
	jbuf_str(j, "event.action", why ? "unusable" : "dmarc-aggregate");
	jbuf_str(j, "event.outcome", why ? "failure" : "success");
	if (why != NULL)
		jbuf_str(j, "event.reason", why);
	jbuf_str(j, "bulkwarden.feedback.source", source);
	jbuf_str(j, "bulkwarden.feedback.kind", "dmarc-aggregate");
	jbuf_str(j, "bulkwarden.feedback.digest", a->digest);
	if (why == NULL) {
		jbuf_str(j, "bulkwarden.feedback.key", a->key);
		jbuf_bool(j, "bulkwarden.feedback.duplicate", a->duplicate);
	}
	jbuf_str(j, "bulkwarden.feedback.format", agg_wrap_name(a->wrap));
	if (a->attachment[0])
		jbuf_str(j, "bulkwarden.feedback.attachment_type", a->attachment);
	if (why == NULL) {
		const struct agg_tally *t = &a->tally;
		jbuf_str(j, "bulkwarden.feedback.attributed_by", report_by(t, &one));
		if (one != NULL)
			jbuf_str(j, "bulkwarden.identity.id", one->id);
		jbuf_str(j, "bulkwarden.feedback.report.org_name", a->meta.org_name);
		if (a->meta.email[0])
			jbuf_str(j, "bulkwarden.feedback.report.email", a->meta.email);
		jbuf_str(j, "bulkwarden.feedback.report.id", a->meta.report_id);
		jbuf_timestamp(j, "bulkwarden.feedback.report.begin", a->meta.begin, 0);
		jbuf_timestamp(j, "bulkwarden.feedback.report.end", a->meta.end, 0);
		jbuf_str(j, "bulkwarden.feedback.policy.domain", a->meta.domain);
		if (a->meta.p[0])
			jbuf_str(j, "bulkwarden.feedback.policy.p", a->meta.p);
		if (a->meta.pct >= 0)
			jbuf_num(j, "bulkwarden.feedback.policy.pct", a->meta.pct);
		counts_json(j, "bulkwarden.feedback.", &t->all);
		jbuf_num(j, "bulkwarden.feedback.shadow.rows", (long long)t->shadow.rows);
		jbuf_num(j, "bulkwarden.feedback.shadow.messages", (long long)t->shadow.messages);
		jbuf_num(j, "bulkwarden.feedback.shadow.senders", (long long)t->shadow_pairs);
		jbuf_num(j, "bulkwarden.feedback.unattributed.rows",
			 (long long)t->unattributed.rows);
		jbuf_num(j, "bulkwarden.feedback.unattributed.messages",
			 (long long)t->unattributed.messages);
		if (t->other.rows)
			counts_json(j, "bulkwarden.feedback.other.", &t->other);
		jbuf_array_begin(j, "bulkwarden.feedback.identities");
		for (size_t i = 0; i < t->n_ids; i++) {
			jbuf_object_begin(j, NULL);
			jbuf_str(j, "id", t->ids[i].id->id);
			jbuf_str(j, "by", t->ids[i].by_from ? "from" : "egress-ip");
			counts_json(j, "", &t->ids[i].c);
			jbuf_object_end(j);
		}
		jbuf_array_end(j);
		jbuf_array_begin(j, "bulkwarden.feedback.shadow.paths");
		for (size_t i = 0; i < t->n_shadows; i++) {
			const struct agg_shadow *s = &t->shadows[i];
			jbuf_object_begin(j, NULL);
			jbuf_str(j, "ip", s->ip);
			jbuf_str(j, "domain", s->domain);
			if (s->owner != NULL)
				jbuf_str(j, "identity", s->owner->id);
			jbuf_num(j, "rows", (long long)s->rows);
			jbuf_num(j, "messages", (long long)s->messages);
			jbuf_object_end(j);
		}
		jbuf_array_end(j);
	}
	ecs_common(j, "email", NULL, "info", NULL);
	jbuf_end(j);
}

/* Write the line in j to the event log, or to stdout when log.target is
 * stdout. 0, or -1 when the event log refused it. */
static int
emit(const struct jbuf *j, bool to_stdout)
{
	if (to_stdout)
		return fwrite(j->buf, 1, j->len, stdout) == j->len ? 0 : -1;
	return eventlog_write(j->buf, j->len);
}

/* One new-sending-path record per kept shadow pair, each followed by its
 * audit event. 0, or -1 when the store failed (why says how). */
static int
shadow_audit(struct ctl *c, const struct agg_result *a, struct jbuf *j, bool to_stdout, char *why,
	     size_t whylen)
{
	const struct agg_tally *t = &a->tally;
	struct state *st;
	char err[512], evid[25];
	if (t->n_shadows == 0)
		return 0;
	if ((st = ctl_state_try(c, err, sizeof(err))) == NULL) {
		snprintf(why, whylen, "state store: %.400s", err);
		return -1;
	}
	struct state_audit *rec = calloc(1, sizeof(*rec));
	if (rec == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < t->n_shadows; i++) {
		const struct agg_shadow *s = &t->shadows[i];
		memset(rec, 0, sizeof(*rec));
		rec->ts = ctl_now();
		bw_strlcpy(rec->action, "new-sending-path", sizeof(rec->action));
		bw_strlcpy(rec->actor, "bulkwarden", sizeof(rec->actor));
		if (s->owner != NULL)
			bw_strlcpy(rec->identity, s->owner->id, sizeof(rec->identity));
		snprintf(rec->reason, sizeof(rec->reason),
			 "shadow sender: %llu messages from %s as %s, an address no identity owns "
			 "(DMARC aggregate report %.64s from %.64s)",
			 (unsigned long long)s->messages, s->ip, s->domain, a->meta.report_id,
			 a->meta.org_name);
		snprintf(rec->detail, sizeof(rec->detail), "ip=%s domain=%s report=%.16s", s->ip,
			 s->domain, a->digest);
		if (state_audit_append(st, rec) != 0) {
			snprintf(why, whylen, "state store: %s", state_error(st));
			free(rec);
			return -1;
		}
		if (bw_random_hex(evid, 12) != 0)
			evid[0] = '\0';
		state_audit_event(j, rec, evid);
		if (emit(j, to_stdout) != 0)
			ctl_err("warning: cannot write the audit event of record %lld", rec->seq);
	}
	free(rec);
	return 0;
}

/* Find, unpack and parse the report in buf into a. 0, or -1 with why. */
static int
agg_read(const struct registry *r, const char *buf, size_t len, struct agg_result *a, char *why,
	 size_t whylen)
{
	const unsigned char *raw = (const unsigned char *)buf;
	unsigned char *att = NULL;
	size_t raw_len = len;
	char *xml = NULL;
	size_t xml_len;
	int rc = -1;
	if (len > INGEST_MAX_BYTES) {
		snprintf(why, whylen, "report of %zu bytes, more than %u", len, INGEST_MAX_BYTES);
		return -1;
	}
	if (agg_sniff(raw, len) == AGG_WRAP_NONE) {
		int f = agg_attachment(buf, len, &att, &raw_len, a->attachment,
				       sizeof(a->attachment), why, whylen);
		if (f == 0)
			snprintf(why, whylen,
				 "no DMARC aggregate report (XML, gzip or zip) in the "
				 "message or input");
		if (f != 1)
			return -1;
		raw = att;
	}
	if (agg_unpack(raw, raw_len, &xml, &xml_len, &a->wrap, why, whylen) == 0) {
		agg_tally_init(&a->tally, r);
		a->records =
		    agg_parse(xml, xml_len, &a->meta, agg_tally_row, &a->tally, why, whylen);
		rc = a->records < 0 ? -1 : 0;
	}
	free(xml);
	free(att);
	return rc;
}

/* The key of an aggregate report: its reporter's org_name and report_id
 * (RFC 7489 makes the pair unique), so the same report as XML, gzip, zip
 * or an attachment counts once; the SHA-256 of the input without an id. */
static void
agg_key(struct agg_result *a)
{
	if (a->meta.report_id[0] == '\0') {
		snprintf(a->key, sizeof(a->key), "dmarc:%s", a->digest);
		return;
	}
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(ck, (const guchar *)a->meta.org_name, strlen(a->meta.org_name));
	g_checksum_update(ck, (const guchar *)"\n", 1);
	g_checksum_update(ck, (const guchar *)a->meta.report_id, strlen(a->meta.report_id));
	snprintf(a->key, sizeof(a->key), "dmarc:%s", g_checksum_get_string(ck));
	g_checksum_free(ck);
}

/* Record the report's counts per identity (dedupe by a->key). A report
 * seen before is marked duplicate and adds nothing; its shadow senders
 * were recorded the first time. New: the shadow senders' audit records
 * first (a retry after a failure may write them twice, never zero times),
 * then the counts. 0, or -1 with why. */
static int
agg_record(struct ctl *c, struct agg_result *a, struct jbuf *j, bool to_stdout, char *why,
	   size_t whylen)
{
	const struct agg_tally *t = &a->tally;
	struct state_feedback_delta d[AGG_TALLY_IDS_MAX];
	char err[512];
	long long now = ctl_now();
	struct state *st = ctl_state_try(c, err, sizeof(err));
	if (st == NULL) {
		snprintf(why, whylen, "state store: %.400s", err);
		return -1;
	}
	int seen = state_feedback_seen(st, a->key);
	if (seen < 0) {
		snprintf(why, whylen, "state store: %.400s", state_error(st));
		return -1;
	}
	if (seen) {
		a->duplicate = true;
		return 0;
	}
	if (shadow_audit(c, a, j, to_stdout, why, whylen) != 0)
		return -1;
	memset(d, 0, sizeof(d));
	for (size_t i = 0; i < t->n_ids; i++) {
		d[i].id = t->ids[i].id->id;
		d[i].hour = now;
		d[i].fb.dmarc_messages = t->ids[i].c.messages;
		d[i].fb.dmarc_failures = t->ids[i].c.dmarc_fail;
	}
	int rc = state_feedback_record(st, a->key, now, d, t->n_ids);
	if (rc < 0) {
		snprintf(why, whylen, "state store: %.400s", state_error(st));
		return -1;
	}
	a->duplicate = rc == 1;
	return 0;
}

/* Read, record and log one aggregate report (ctl/ingest.h). */
int
ingest_aggregate(struct ctl *c, const char *name, const char *buf, size_t len, struct jbuf *j,
		 bool to_stdout)
{
	char why[512], esc[512], esc2[512];
	int rc = INGEST_EX_OK;
	struct agg_result *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		ctl_err("ingest: out of memory");
		return INGEST_EX_TEMPFAIL;
	}
	gchar *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)buf, len);
	bw_strlcpy(a->digest, sum ? sum : "", sizeof(a->digest));
	g_free(sum);
	bool bad = agg_read(ctl_registry(c), buf, len, a, why, sizeof(why)) != 0;
	if (!bad)
		agg_key(a);
	if (!bad && agg_record(c, a, j, to_stdout, why, sizeof(why)) != 0) {
		ctl_err("ingest: %s: %s; not recorded, try again", out_esc(name, esc, sizeof(esc)),
			why);
		free(a);
		return INGEST_EX_TEMPFAIL;
	}
	agg_event(j, name, a, bad ? why : NULL);
	if (emit(j, to_stdout) != 0) {
		ctl_err("ingest: cannot write the feedback event");
		free(a);
		return INGEST_EX_TEMPFAIL;
	}
	if (bad) {
		ctl_err("ingest: %s: unusable DMARC aggregate report: %s",
			out_esc(name, esc, sizeof(esc)), out_esc(why, esc2, sizeof(esc2)));
		rc = INGEST_EX_DATAERR;
	} else if (!c->json) {
		const struct agg_tally *t = &a->tally;
		const struct bw_identity *one;
		const char *by = report_by(t, &one);
		printf(
		    "%s: dmarc-aggregate from %s: %ld records, %llu messages, attributed to %s by "
		    "%s, %llu shadow sender(s)%s\n",
		    out_esc(name, esc, sizeof(esc)), out_esc(a->meta.org_name, esc2, sizeof(esc2)),
		    a->records, (unsigned long long)t->all.messages, one ? one->id : "-", by,
		    (unsigned long long)t->shadow_pairs,
		    a->duplicate ? " (duplicate: counted before)" : "");
	}
	/* each identity the report counted for: its signals (after a
	 * duplicate too, so a retry completes what a failed run began) */
	for (size_t i = 0; !bad && i < a->tally.n_ids; i++) {
		char err[512];
		struct state *st = ctl_state_try(c, err, sizeof(err));
		if (st == NULL ||
		    ingest_enforce(st, a->tally.ids[i].id, j, to_stdout, why, sizeof(why)) != 0) {
			ctl_err("ingest: %s: %s; try again", out_esc(name, esc, sizeof(esc)),
				st ? why : err);
			rc = INGEST_EX_TEMPFAIL;
			break;
		}
	}
	free(a);
	return rc;
}
