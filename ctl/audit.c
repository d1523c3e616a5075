/*
 * audit.c - "bulkwardenctl audit": list the hash-chained audit log, or
 * verify the chain (--verify exits 1 on any break and says where).
 *
 * Records stream from the store one at a time (no size limit on the log).
 * Every field was written by an operator or the milter and may hold any
 * byte: tables escape it (out_esc), JSON through jbuf.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ctl/verbs.h"

struct list_ctx {
	struct ctl *c;
	struct out_array arr;
	bool verbose;
	long long n;
};

void
ctl_audit_json(struct jbuf *j, const struct state_audit *rec)
{
	char t[CTL_TIME_MAX];
	jbuf_num(j, "seq", rec->seq);
	jbuf_str(j, "time", out_time(rec->ts, t));
	jbuf_num(j, "ts", rec->ts);
	jbuf_str(j, "action", rec->action);
	jbuf_str(j, "actor", rec->actor);
	jbuf_str(j, "identity", rec->identity);
	jbuf_str(j, "reason", rec->reason);
	jbuf_str(j, "ticket", rec->ticket);
	jbuf_str(j, "detail", rec->detail);
	jbuf_str(j, "prev_hash", rec->prev_hash);
	jbuf_str(j, "hash", rec->hash);
}

/* Print one record (foreach callback). */
static int
list_one(const struct state_audit *rec, void *arg)
{
	struct list_ctx *x = arg;
	static struct jbuf j;
	char t[CTL_TIME_MAX], e1[CTL_ESC_MAX], e2[CTL_ESC_MAX], e3[CTL_ESC_MAX], e4[CTL_ESC_MAX],
	    e5[CTL_ESC_MAX];
	x->n++;
	if (x->c->json) {
		jbuf_begin(&j);
		ctl_audit_json(&j, rec);
		jbuf_end(&j);
		out_array_add(&x->arr, &j);
		return 0;
	}
	printf("%6lld  %-20s  %-14s  %-20s  %-20s  %-12s  %s\n", rec->seq, out_time(rec->ts, t),
	       out_esc(rec->action, e1, sizeof(e1)), out_esc(rec->identity, e2, sizeof(e2)),
	       out_esc(rec->actor, e3, sizeof(e3)), out_esc(rec->ticket, e4, sizeof(e4)),
	       out_esc(rec->reason, e5, sizeof(e5)));
	if (x->verbose) {
		printf("        detail: %s\n", out_esc(rec->detail, e1, sizeof(e1)));
		printf("        prev:   %s\n        hash:   %s\n", out_esc(rec->prev_hash, e2, 80),
		       out_esc(rec->hash, e3, 80));
	}
	return 0;
}

/* --verify: recompute the chain; 0 intact, 1 broken, 1 on error too. */
static int
verify(struct ctl *c, struct state *st)
{
	static struct jbuf j;
	long long n = 0, bad = 0;
	char why[512];
	int rc = state_audit_verify(st, &n, &bad, why, sizeof(why));
	if (rc < 0) {
		ctl_err("cannot verify the audit log: %s", state_error(st));
		return CTL_FAIL;
	}
	if (c->json) {
		jbuf_begin(&j);
		jbuf_bool(&j, "ok", rc == 0);
		jbuf_num(&j, "records", n);
		if (rc == 1) {
			jbuf_num(&j, "bad_seq", bad);
			jbuf_str(&j, "why", why);
		}
		jbuf_end(&j);
		out_object(&j);
	} else if (rc == 0) {
		printf("audit log intact: %lld records, hash chain verified\n", n);
	} else {
		printf("audit log BROKEN at record %lld: %s\n", bad, why);
	}
	if (rc == 1)
		ctl_err("audit chain broken at record %lld", bad);
	return rc == 0 ? CTL_OK : CTL_FAIL;
}

int
ctl_audit(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	int rc = ctl_args_parse(c, argc, argv, "jvV", 0, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	struct state *st = ctl_state(c);
	if (a.verify)
		return verify(c, st);
	struct list_ctx x = {c, {false}, a.verbose, 0};
	if (c->json)
		out_array_begin(&x.arr);
	else
		printf("%6s  %-20s  %-14s  %-20s  %-20s  %-12s  %s\n", "SEQ", "TIME", "ACTION",
		       "IDENTITY", "ACTOR", "TICKET", "REASON");
	rc = state_audit_foreach(st, list_one, &x);
	if (c->json)
		out_array_end(&x.arr);
	if (rc != 0) {
		ctl_err("cannot read the audit log: %s", state_error(st));
		return CTL_FAIL;
	}
	return CTL_OK;
}
