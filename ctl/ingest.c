/*
 * ingest.c - `bulkwardenctl ingest [--kind arf|dsn|dmarc|auto] [FILE...]`
 * (SPEC §9): read complaint reports, bounces and DMARC aggregate reports
 * (standard input when no file), attribute each to an identity, and write
 * one bulkwarden.feedback event per report. Aggregate reports are handled
 * by ctl/ingest_agg.c; under --kind auto a report is aggregate when it is
 * XML, gzip or zip itself, or a message that is neither ARF nor DSN but
 * carries one. Meant to run as a Postfix pipe(8) transport, so the
 * exit code tells the MTA what to do: 0 done; 65 (EX_DATAERR) a report was
 * unusable (said on stderr, counted in the event log, never retried); 75
 * (EX_TEMPFAIL) the report could not be recorded (the state store or the
 * event log), so the MTA keeps the report and tries again. Each usable
 * report is counted once in the state store (state_feedback_record, keyed
 * by report_key() / agg_key()), then the signals of the identities it
 * counted for are evaluated (ctl/signals.c: auto-suspend,
 * threshold-warning).
 *
 * Memory: one report buffer of at most INGEST_MAX_BYTES + 1 at a time.
 * Untrusted input: the whole report (ingest/); file names come
 * from the operator's command line.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include <glib.h>

#include "base/ecs.h"
#include "base/util.h"
#include "ctl/ingest.h"
#include "ctl/signals.h"
#include "ingest/feedback.h"
#include "ingest/attach.h"
#include "ingest/unpack.h"
#include "log/eventlog.h"
#include "state/suppress.h"

#define EX_OK_ INGEST_EX_OK
#define EX_DATAERR_ INGEST_EX_DATAERR
#define EX_TEMPFAIL_ INGEST_EX_TEMPFAIL

/* Read the whole of fd, at most INGEST_MAX_BYTES + 1 bytes (one more than
 * allowed, so a larger report is seen as such). NULL on a read error. */
static char *
slurp(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf != NULL) {
		if (n == cap) {
			if (cap > INGEST_MAX_BYTES)
				break;
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

/* What an ARF report did to the suppression list, for its event (set by
 * complaint_suppress, read by feedback_event). */
static const char *suppression_note;

/*
 * An ARF complaint puts its recipient on the attributed identity's
 * suppression list (SPEC §9): Original-Rcpt-To, else the original's To.
 * The note says what happened ("added", "already-listed", "redacted",
 * "no-recipient", "not-attributed", "invalid-recipient"); -1 when the
 * store could not take it (the MTA retries the report).
 */
static int
complaint_suppress(struct ctl *c, const struct ingest_report *rep, const struct bw_identity *id)
{
	char why[512], reason[160];
	const char *addr = rep->original_rcpt[0] ? rep->original_rcpt : rep->original_to;
	suppression_note = NULL;
	if (rep->kind != INGEST_ARF)
		return 0;
	if (addr[0] == '\0') {
		suppression_note = "no-recipient";
		return 0;
	}
	if (suppress_redacted(addr)) {
		suppression_note = "redacted";
		return 0;
	}
	if (id == NULL) {
		suppression_note = "not-attributed";
		return 0;
	}
	char canon[SUPPRESS_ADDR_MAX + 1];
	if (suppress_canon(addr, canon, sizeof(canon)) != 0) {
		suppression_note = "invalid-recipient";
		return 0;
	}
	snprintf(reason, sizeof(reason), "ARF complaint (feedback type %.32s), report sha256 %.16s",
		 rep->feedback_type[0] ? rep->feedback_type : "unknown", rep->digest);
	int rc = ctl_suppress_complaint(c, id->id, canon, reason, why, sizeof(why));
	if (rc < 0) {
		ctl_err("ingest: cannot add the complaint's recipient to %s's suppression list: %s",
			id->id, why);
		suppression_note = "failed";
		return -1;
	}
	suppression_note = rc == 0 ? "added" : "already-listed";
	return 0;
}

/* The feedback event of one report (or of an unusable one, with why). */
static void
feedback_event(struct jbuf *j, const char *source, const struct ingest_report *rep,
	       const struct bw_identity *id, enum ingest_by by, const char *why, const char *key,
	       bool duplicate)
{
	struct timeval tv;
	char evid[25];
	gettimeofday(&tv, NULL);
	if (bw_random_hex(evid, 12) != 0)
		evid[0] = '\0';
	jbuf_begin(j);
	jbuf_timestamp(j, "@timestamp", tv.tv_sec, tv.tv_usec / 1000);
	jbuf_str(j, "event.kind", "event");
	jbuf_str(j, "event.dataset", "bulkwarden.feedback");
	jbuf_str(j, "event.id", evid);
	jbuf_str(j, "event.action", why ? "unusable" : ingest_kind_name(rep->kind));
	jbuf_str(j, "event.outcome", why ? "failure" : "success");
	if (why != NULL)
		jbuf_str(j, "event.reason", why);
	jbuf_str(j, "bulkwarden.feedback.source", source);
	jbuf_str(j, "bulkwarden.feedback.kind", ingest_kind_name(rep->kind));
	jbuf_str(j, "bulkwarden.feedback.digest", rep->digest);
	if (why == NULL) {
		jbuf_str(j, "bulkwarden.feedback.attributed_by", ingest_by_name(by));
		if (id != NULL)
			jbuf_str(j, "bulkwarden.identity.id", id->id);
		jbuf_str(j, "bulkwarden.feedback.key", key);
		jbuf_bool(j, "bulkwarden.feedback.duplicate", duplicate);
		if (rep->kind == INGEST_ARF) {
			jbuf_str(j, "bulkwarden.feedback.type", rep->feedback_type);
			jbuf_num(j, "bulkwarden.feedback.complaints",
				 ingest_is_complaint(rep) ? 1 : 0);
			if (suppression_note != NULL)
				jbuf_str(j, "bulkwarden.feedback.suppression", suppression_note);
		} else {
			jbuf_num(j, "bulkwarden.feedback.hard_bounces", (long long)rep->n_hard);
			jbuf_num(j, "bulkwarden.feedback.soft_bounces", (long long)rep->n_soft);
		}
		if (rep->feedback_id[0])
			jbuf_str(j, "bulkwarden.feedback.feedback_id", rep->feedback_id);
		if (rep->dkim_d[0])
			jbuf_str(j, "bulkwarden.feedback.dkim_domain", rep->dkim_d);
		if (rep->dkim_s[0])
			jbuf_str(j, "bulkwarden.feedback.dkim_selector", rep->dkim_s);
		if (rep->mail_from_domain[0])
			jbuf_str(j, "bulkwarden.feedback.mail_from_domain", rep->mail_from_domain);
		if (rep->from_domain[0])
			jbuf_str(j, "bulkwarden.feedback.from_domain", rep->from_domain);
	}
	ecs_common(j, "email", NULL, "info", NULL);
	jbuf_end(j);
}

/* An ARF report is a complaint unless it says the opposite (not-spam) or
 * is a DMARC failure report (auth-failure), which is no recipient's word. */
bool
ingest_is_complaint(const struct ingest_report *rep)
{
	return strcasecmp(rep->feedback_type, "not-spam") != 0 &&
	       strcasecmp(rep->feedback_type, "auth-failure") != 0;
}

/* The key an ARF or DSN report is remembered by: its kind and the SHA-256
 * of what its reporter wrote, the body after the top header block, so the
 * same report delivered again (with other Received, Delivered-To or
 * Return-Path fields added on the way) counts once. A report without a
 * header/body separator is hashed whole. */
static void
report_key(char *key, size_t len, const char *kind, const char *buf, size_t n)
{
	const char *body = buf;
	size_t blen = n;
	for (size_t i = 0; i + 1 < n; i++) {
		if (buf[i] != '\n')
			continue;
		size_t k = i + 1;
		if (k < n && buf[k] == '\r')
			k++;
		if (k < n && buf[k] == '\n') {
			body = buf + k + 1;
			blen = n - (k + 1);
			break;
		}
	}
	gchar *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)body, blen);
	snprintf(key, len, "%s:%s", kind, sum ? sum : "none");
	g_free(sum);
}

/* After a report counted for id: suspend or warn (signals_enforce), each
 * audit record written also to the event log. */
struct enforce_ctx {
	struct jbuf *j;
	bool to_stdout;
};

static void
enforce_emit(const struct state_audit *rec, void *arg)
{
	struct enforce_ctx *x = arg;
	char evid[25];
	if (bw_random_hex(evid, 12) != 0)
		evid[0] = '\0';
	state_audit_event(x->j, rec, evid);
	if (x->to_stdout)
		fwrite(x->j->buf, 1, x->j->len, stdout);
	else if (eventlog_write(x->j->buf, x->j->len) != 0)
		ctl_err("warning: cannot write the audit event of record %lld (it is in the "
			"state store)",
			rec->seq);
	if (strcmp(rec->action, "auto-suspend") == 0)
		ctl_err("%s: %s", rec->identity, rec->reason);
}

int
ingest_enforce(struct state *st, const struct bw_identity *id, struct jbuf *j, bool to_stdout,
	       char *why, size_t whylen)
{
	struct enforce_ctx x = {j, to_stdout};
	return signals_enforce(st, id, ctl_now(), enforce_emit, &x, why, whylen);
}

int
ctl_ingest(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"kind", required_argument, NULL, 'k'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum ingest_kind want = INGEST_UNKNOWN;
	bool dmarc = false; /* --kind dmarc */
	int o, rc = EX_OK_;
	char esc[512];

	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (o == 'k') {
			if (strcmp(optarg, "arf") == 0)
				want = INGEST_ARF;
			else if (strcmp(optarg, "dsn") == 0)
				want = INGEST_DSN;
			else if (strcmp(optarg, "auto") == 0)
				want = INGEST_UNKNOWN;
			else if (strcmp(optarg, "dmarc") == 0)
				dmarc = true;
			else
				return ctl_usage("ingest", "--kind is arf, dsn, dmarc or auto");
		} else if (o == 'j') {
			c->json = true;
		} else if (o == 'h') {
			ctl_usage("ingest", NULL);
			return CTL_OK;
		} else {
			return ctl_usage("ingest", "unknown option or missing value");
		}
	}
	const struct registry *r = ctl_registry(c);
	const struct bw_settings *set = &r->set;
	/* installed, the event log is the milter's user's (it or logrotate
	 * created it): root running ingest appends to it as change.c does */
	struct passwd *pw = set->user ? getpwnam(set->user) : NULL;
	if (pw != NULL)
		eventlog_trust_uid(pw->pw_uid);
	if (strcmp(set->log_target, "stdout") != 0 &&
	    eventlog_open(set->log_target, set->log_path, set->log_facility) != 0) {
		ctl_err("ingest: cannot open the event log %s: %s",
			set->log_path ? set->log_path : set->log_target, strerror(errno));
		return EX_TEMPFAIL_;
	}
	struct jbuf *j = malloc(sizeof(*j));
	struct ingest_report *rep = malloc(sizeof(*rep));
	if (j == NULL || rep == NULL) {
		free(j);
		free(rep);
		ctl_err("ingest: out of memory");
		return EX_TEMPFAIL_;
	}
	int nfiles = argc - optind;
	for (int f = 0; f < (nfiles ? nfiles : 1) && rc != EX_TEMPFAIL_; f++) {
		const char *name = nfiles ? argv[optind + f] : "-";
		int fd = strcmp(name, "-") == 0 ? 0 : open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		size_t len = 0;
		char *buf = fd < 0 ? NULL : slurp(fd, &len);
		if (fd > 0)
			close(fd);
		if (buf == NULL) {
			ctl_err("ingest: %s: %s", out_esc(name, esc, sizeof(esc)), strerror(errno));
			rc = EX_TEMPFAIL_; /* the MTA keeps it; an operator's typo is seen */
			break;
		}
		char why[256];
		enum ingest_by by = INGEST_BY_NONE;
		const struct bw_identity *id = NULL;
		bool to_stdout = strcmp(set->log_target, "stdout") == 0;
		if (dmarc || (want == INGEST_UNKNOWN &&
			      agg_sniff((const unsigned char *)buf, len) != AGG_WRAP_NONE)) {
			int arc = ingest_aggregate(c, name, buf, len, j, to_stdout);
			free(buf);
			if (arc != EX_OK_)
				rc = arc;
			continue;
		}
		bool bad = ingest_parse(buf, len, want, rep, why, sizeof(why)) != 0;
		if (bad && want == INGEST_UNKNOWN && rep->kind == INGEST_UNKNOWN &&
		    len <= INGEST_MAX_BYTES) {
			/* neither ARF nor DSN: a message carrying an aggregate report? */
			unsigned char *att = NULL;
			size_t att_len;
			char ct[AGG_CTYPE_MAX], w2[64];
			if (agg_attachment(buf, len, &att, &att_len, ct, sizeof(ct), w2,
					   sizeof(w2)) == 1) {
				free(att);
				int arc = ingest_aggregate(c, name, buf, len, j, to_stdout);
				free(buf);
				if (arc != EX_OK_)
					rc = arc;
				continue;
			}
			snprintf(why, sizeof(why),
				 "not an ARF, DSN or DMARC aggregate report (no "
				 "multipart/report, no XML, gzip or zip report)");
		}
		char key[STATE_FEEDBACK_KEY_MAX + 1] = "";
		bool dup = false;
		struct state *st = NULL;
		if (!bad) {
			char err[512];
			id = ingest_attribute(r, rep, &by);
			report_key(key, sizeof(key), ingest_kind_name(rep->kind), buf, len);
			struct state_feedback_delta d = {.id = id ? id->id : NULL,
							 .hour = ctl_now()};
			if (rep->kind == INGEST_ARF)
				d.fb.complaints = ingest_is_complaint(rep) ? 1 : 0;
			else {
				d.fb.hard_bounces = rep->n_hard;
				d.fb.soft_bounces = rep->n_soft;
			}
			int rr = -1;
			suppression_note = NULL;
			if ((st = ctl_state_try(c, err, sizeof(err))) == NULL)
				snprintf(why, sizeof(why), "state store: %.200s", err);
			/* the recipient before the report: when the list cannot
			 * take it the report stays unrecorded (75), so the MTA's
			 * retry does both; a duplicate finds it already listed */
			else if (rep->kind == INGEST_ARF && ingest_is_complaint(rep) &&
				 complaint_suppress(c, rep, id) != 0)
				snprintf(why, sizeof(why),
					 "the suppression list could not take the recipient");
			else if ((rr = state_feedback_record(st, key, ctl_now(), &d, id ? 1 : 0)) <
				 0)
				snprintf(why, sizeof(why), "state store: %.200s", state_error(st));
			if (rr < 0) {
				ctl_err("ingest: %s: %s; not recorded, try again",
					out_esc(name, esc, sizeof(esc)), why);
				free(buf);
				rc = EX_TEMPFAIL_;
				break;
			}
			dup = rr == 1;
		}
		feedback_event(j, name, rep, id, by, bad ? why : NULL, key, dup);
		free(buf);
		if (strcmp(set->log_target, "stdout") == 0)
			fwrite(j->buf, 1, j->len, stdout);
		else if (eventlog_write(j->buf, j->len) != 0) {
			ctl_err("ingest: cannot write the feedback event: %s", strerror(errno));
			rc = EX_TEMPFAIL_;
			break;
		}
		if (bad) {
			ctl_err("ingest: %s: unusable report: %s", out_esc(name, esc, sizeof(esc)),
				why);
			rc = EX_DATAERR_;
		} else if (!c->json) {
			printf("%s: %s attributed to %s by %s%s\n", out_esc(name, esc, sizeof(esc)),
			       ingest_kind_name(rep->kind), id ? id->id : "-", ingest_by_name(by),
			       dup ? " (duplicate: counted before)" : "");
		}
		/* evaluated after duplicates too: a run that recorded the report
		 * but failed before acting is completed by the MTA's retry */
		if (!bad && id != NULL &&
		    ingest_enforce(st, id, j, to_stdout, why, sizeof(why)) != 0) {
			ctl_err("ingest: %s: %s; try again", out_esc(name, esc, sizeof(esc)), why);
			rc = EX_TEMPFAIL_;
			break;
		}
	}
	eventlog_close();
	free(j);
	free(rep);
	return rc;
}
