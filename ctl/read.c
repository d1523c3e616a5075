/*
 * read.c - bulkwardenctl's read verbs: check, list, show, stats. None of
 * them writes to the state store.
 *
 * Times are UTC; "today" is the UTC calendar day and "this hour" the UTC
 * clock hour, the windows the counters are kept in. Every string from the
 * configuration or the store is escaped in tables (out_esc) and in JSON
 * (jbuf). Memory: small arrays malloc'ed per call, freed before return.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "ctl/findings.h"
#include "ctl/verbs.h"
#include "registry/conf.h"

#define STATS_HOURS 24 /* hourly rows shown by "stats ID" */

/* One row of list/stats: an identity of the registry, or an id the store
 * knows that the registry no longer has (id != NULL, ident == NULL). */
struct row {
	const char *id;
	const struct bw_identity *ident;
	const struct state_suspension *susp;
	struct state_counts hour, day;
};

static int
row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->id, ((const struct row *)b)->id);
}

/* The suspension of id in v[n], or NULL. */
static const struct state_suspension *
find_susp(const struct state_suspension *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			return &v[i];
	return NULL;
}

/* "active", "active+suspended", "removed+suspended", ... */
static const char *
row_state(const struct row *r, long long now, char *buf, size_t len)
{
	const char *life =
	    r->ident ? registry_life_name(registry_lifecycle(r->ident, now, NULL)) : "removed";
	snprintf(buf, len, "%s%s", life, r->susp ? "+suspended" : "");
	return buf;
}

/* The registry identity named by arg, or NULL after printing why. */
static const struct bw_identity *
lookup(struct ctl *c, const char *arg)
{
	char esc[128];
	const struct bw_identity *id = registry_by_id(ctl_registry(c), arg);
	if (id == NULL)
		ctl_err("no identity \"%s\" in %s", out_esc(arg, esc, sizeof(esc)), c->conf_path);
	return id;
}

/* One identity's last security-relevant change, from the store. */
static int
check_change_cb(const char *id, long long ts, void *arg)
{
	registry_note_change(arg, id, ts);
	return 0;
}

/* policy.require_reapproval: the store's change times make identities
 * changed since their approval pending (the notes say so), read without
 * creating anything. 0, or -1 with err filled. */
static int
check_reapproval(struct registry *r, char *err, size_t errlen)
{
	if (!r->set.require_reapproval)
		return 0;
	struct state *st = state_open_existing(&r->set, err, errlen);
	if (st == NULL)
		return err[0] != '\0' ? -1 : 0; /* no store yet: no change recorded */
	int rc = state_last_changes(st, check_change_cb, r);
	if (rc != 0)
		snprintf(err, errlen, "configuration changes: %s", state_error(st));
	state_close(st);
	return rc;
}

int
ctl_check(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct conf_errors errs = {0};
	static struct jbuf j;
	int rc = ctl_args_parse(c, argc, argv, "j", 0, &a);
	long long now = ctl_now();
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	struct registry *r = conf_load(c->conf_path, now, &errs);
	char serr[512];
	/* the daemon exits on a store it cannot open or (require_reapproval)
	 * read the change times from: so does check */
	if (r != NULL && (state_check(&r->set, serr, sizeof(serr)) != 0 ||
			  check_reapproval(r, serr, sizeof(serr)) != 0)) {
		ctl_err("%s: state store (%s): %s", c->conf_path,
			r->set.state_backend ? r->set.state_backend : "sqlite", serr);
		jbuf_begin(&j);
		jbuf_str(&j, "path", c->conf_path);
		jbuf_bool(&j, "ok", false);
		jbuf_array_begin(&j, "errors");
		jbuf_str(&j, NULL, serr);
		jbuf_array_end(&j);
		jbuf_end(&j);
		if (c->json)
			out_object(&j);
		conf_errors_free(&errs);
		registry_release(r);
		return CTL_FAIL;
	}
	jbuf_begin(&j);
	jbuf_str(&j, "path", c->conf_path);
	jbuf_bool(&j, "ok", r != NULL);
	if (r == NULL) {
		jbuf_array_begin(&j, "errors");
		for (size_t i = 0; i < errs.n; i++) {
			ctl_err("%s", errs.msg[i]);
			jbuf_str(&j, NULL, errs.msg[i]);
		}
		jbuf_array_end(&j);
		if (errs.n == 0)
			ctl_err("%s: configuration refused", c->conf_path);
		conf_errors_free(&errs);
		jbuf_end(&j);
		if (c->json)
			out_object(&j);
		return CTL_FAIL;
	}
	conf_errors_free(&errs);
	jbuf_bool(&j, "reapproval", r->set.require_reapproval);
	jbuf_num(&j, "identities", (long long)r->n_ids);
	jbuf_strn(&j, "revision", r->revision, BW_REVISION_HEX);
	if (!c->json)
		printf("%s: OK, %zu identities, revision %.16s\n", c->conf_path, r->n_ids,
		       r->revision);
	jbuf_array_begin(&j, "notes");
	for (size_t i = 0; i < r->n_ids; i++) {
		const char *why;
		char e1[128], e2[512];
		enum bw_life l = registry_lifecycle(&r->ids[i], now, &why);
		if (l == BW_LIFE_ACTIVE)
			continue;
		if (!c->json)
			printf("note: identity %s is %s: %s\n",
			       out_esc(r->ids[i].id, e1, sizeof(e1)), registry_life_name(l),
			       out_esc(why, e2, sizeof(e2)));
		jbuf_object_begin(&j, NULL);
		jbuf_str(&j, "id", r->ids[i].id);
		jbuf_str(&j, "state", registry_life_name(l));
		jbuf_str(&j, "why", why);
		jbuf_object_end(&j);
	}
	jbuf_array_end(&j);
	/* governance findings from the registry alone (the report adds the
	 * ones that need the store's traffic); they never fail the check */
	struct finding_list fl;
	if (findings_eval(r, NULL, now, &fl) != 0) {
		ctl_err("out of memory evaluating findings");
		findings_free(&fl);
		registry_release(r);
		return CTL_FAIL;
	}
	jbuf_array_begin(&j, "findings");
	for (size_t i = 0; i < fl.n; i++) {
		const struct finding *x = &fl.v[i];
		char e1[128], e2[FINDING_SUBJECT_MAX * 4], e3[FINDING_DETAIL_MAX * 4];
		if (!c->json)
			printf("finding: %s %s %s %s: %s [%s%s%s%s%s]\n", finding_sev_name(x->rule->sev),
			       x->rule->id, x->identity[0] ? out_esc(x->identity, e1, sizeof(e1)) : "-",
			       out_esc(x->subject, e2, sizeof(e2)), out_esc(x->detail, e3, sizeof(e3)),
			       x->rule->nhi, x->rule->nhi[0] ? ";" : "", x->rule->csf,
			       x->rule->agentic[0] ? ";" : "", x->rule->agentic);
		jbuf_object_begin(&j, NULL);
		jbuf_str(&j, "id", x->rule->id);
		jbuf_str(&j, "severity", finding_sev_name(x->rule->sev));
		jbuf_str(&j, "identity", x->identity);
		jbuf_str(&j, "subject", x->subject);
		jbuf_str(&j, "detail", x->detail);
		jbuf_str(&j, "nhi", x->rule->nhi);
		jbuf_str(&j, "csf", x->rule->csf);
		jbuf_str(&j, "agentic", x->rule->agentic);
		jbuf_object_end(&j);
	}
	jbuf_array_end(&j);
	findings_free(&fl);
	jbuf_end(&j);
	if (c->json)
		out_object(&j);
	registry_release(r);
	return CTL_OK;
}

/* Add the store-only ids seen by counters_foreach to the rows. */
struct extra {
	struct row *rows;
	size_t n, cap;
	const struct registry *reg;
	bool oom;
};

/* Append a row for an id the registry does not have (once). */
static struct row *
extra_row(struct extra *x, const char *id)
{
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->rows[i].id, id) == 0)
			return &x->rows[i];
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 16;
		struct row *nr = realloc(x->rows, nc * sizeof(*nr));
		if (nr == NULL) {
			x->oom = true;
			return NULL;
		}
		x->rows = nr;
		x->cap = nc;
	}
	char *copy = strdup(id);
	if (copy == NULL) {
		x->oom = true;
		return NULL;
	}
	memset(&x->rows[x->n], 0, sizeof(x->rows[0]));
	x->rows[x->n].id = copy;
	return &x->rows[x->n++];
}

static int
extra_cb(const char *id, const struct state_counts *sum BW_UNUSED, void *arg)
{
	struct extra *x = arg;
	if (registry_by_id(x->reg, id) == NULL)
		extra_row(x, id);
	return x->oom;
}

/*
 * Collect rows: every registry identity plus every id the store has a
 * suspension or counters today for; with suspension and counters filled.
 * only (may be NULL) restricts to one id. Returns 0 or -1 (printed).
 */
static int
collect(struct ctl *c, long long now, const char *only, struct extra *x,
	struct state_suspension **susp, size_t *nsusp)
{
	struct registry *reg = ctl_registry(c);
	struct state *st = ctl_state(c);
	long long hour = out_hour(now), day = out_day(now);
	memset(x, 0, sizeof(*x));
	x->reg = reg;
	if (state_suspensions(st, now, susp, nsusp) != 0) {
		ctl_err("%s", state_error(st));
		return -1;
	}
	for (size_t i = 0; i < reg->n_ids; i++) {
		if (only != NULL && strcmp(only, reg->ids[i].id) != 0)
			continue;
		struct row *r = extra_row(x, reg->ids[i].id);
		if (r != NULL)
			r->ident = &reg->ids[i];
	}
	for (size_t i = 0; i < *nsusp; i++)
		if (registry_by_id(reg, (*susp)[i].id) == NULL &&
		    (only == NULL || strcmp(only, (*susp)[i].id) == 0))
			extra_row(x, (*susp)[i].id);
	if (only == NULL && state_counters_foreach(st, day, day + 86400, extra_cb, x) != 0) {
		ctl_err("%s", state_error(st));
		return -1;
	}
	if (x->oom) {
		ctl_err("out of memory");
		return -1;
	}
	for (size_t i = 0; i < x->n; i++) {
		struct row *r = &x->rows[i];
		r->susp = find_susp(*susp, *nsusp, r->id);
		if (state_counters_sum(st, r->id, hour, hour + 3600, &r->hour) != 0 ||
		    state_counters_sum(st, r->id, day, day + 86400, &r->day) != 0) {
			ctl_err("%s", state_error(st));
			return -1;
		}
	}
	if (x->n > 1)
		qsort(x->rows, x->n, sizeof(x->rows[0]), row_cmp);
	return 0;
}

/* Free what collect() allocated. */
static void
collect_free(struct extra *x, struct state_suspension *susp)
{
	for (size_t i = 0; i < x->n; i++)
		free((char *)x->rows[i].id);
	free(x->rows);
	free(susp);
}

/* The suspension as a JSON object named key. */
static void
susp_json(struct jbuf *j, const char *key, const struct state_suspension *s)
{
	char t[CTL_TIME_MAX];
	jbuf_object_begin(j, key);
	jbuf_str(j, "reason", s->reason);
	jbuf_str(j, "by", s->by);
	jbuf_str(j, "ticket", s->ticket);
	jbuf_str(j, "since", out_time(s->since, t));
	if (s->until != 0)
		jbuf_str(j, "until", out_time(s->until, t));
	jbuf_object_end(j);
}

/* Fields list and show share. */
static void
row_json(struct jbuf *j, const struct row *r, long long now)
{
	char t[CTL_TIME_MAX], st[64];
	const struct bw_identity *id = r->ident;
	jbuf_str(j, "id", r->id);
	jbuf_bool(j, "in_registry", id != NULL);
	if (id != NULL) {
		jbuf_str(j, "class", registry_class_name(id->class));
		jbuf_str(j, "lifecycle", registry_life_name(registry_lifecycle(id, now, NULL)));
	}
	jbuf_str(j, "state", row_state(r, now, st, sizeof(st)));
	jbuf_bool(j, "suspended", r->susp != NULL);
	if (r->susp != NULL)
		susp_json(j, "suspension", r->susp);
	if (id != NULL) {
		jbuf_object_begin(j, "owners");
		for (size_t k = 0; k < id->n_owners; k++)
			jbuf_str(j, id->owners[k].role, id->owners[k].addr);
		jbuf_object_end(j);
		if (id->decommission != 0)
			jbuf_str(j, "decommission", out_date(id->decommission, t));
		jbuf_object_begin(j, "limits");
		jbuf_num(j, "per_hour", (long long)id->per_hour);
		jbuf_num(j, "per_day", (long long)id->per_day);
		jbuf_num(j, "recipients_per_hour", (long long)id->rcpt_per_hour);
		jbuf_num(j, "recipients_per_day", (long long)id->rcpt_per_day);
		jbuf_object_end(j);
	}
	out_counts_json(j, "hour", &r->hour);
	out_counts_json(j, "today", &r->day);
}

/* "dns=a@x, platform=b@y" escaped. */
static const char *
owners_str(const struct bw_identity *id, char *buf, size_t len)
{
	char tmp[1024];
	struct bw_sbuf b;
	bw_sbuf_init(&b, tmp, sizeof(tmp));
	for (size_t k = 0; id != NULL && k < id->n_owners; k++) /* a cut: out_esc ends at the NUL */
		bw_sbuf_printf(&b, "%s%s=%s", k ? "," : "", id->owners[k].role, id->owners[k].addr);
	return out_esc(tmp, buf, len);
}

int
ctl_list(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct extra x;
	struct state_suspension *susp = NULL;
	size_t nsusp = 0;
	static struct jbuf j;
	int rc = ctl_args_parse(c, argc, argv, "j", 0, &a);
	long long now = ctl_now();
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	if (collect(c, now, NULL, &x, &susp, &nsusp) != 0) {
		collect_free(&x, susp);
		return CTL_FAIL;
	}
	int w = 2;
	for (size_t i = 0; i < x.n; i++)
		if ((int)strlen(x.rows[i].id) > w)
			w = (int)strlen(x.rows[i].id);
	struct out_array arr;
	if (c->json)
		out_array_begin(&arr);
	else
		printf("%-*s  %-13s  %-24s  %-12s  %8s %8s %8s %8s %8s  %s\n", w, "ID", "CLASS",
		       "STATE", "DECOMMISSION", "MSGS", "ACCEPTED", "REJECTED", "QUARANT",
		       "TEMPFAIL", "OWNERS");
	for (size_t i = 0; i < x.n; i++) {
		const struct row *r = &x.rows[i];
		char e1[CTL_ESC_MAX], e2[CTL_ESC_MAX], t[CTL_TIME_MAX], st[64];
		if (c->json) {
			jbuf_begin(&j);
			row_json(&j, r, now);
			jbuf_end(&j);
			out_array_add(&arr, &j);
			continue;
		}
		printf("%-*s  %-13s  %-24s  %-12s  %8llu %8llu %8llu %8llu %8llu  %s\n", w,
		       out_esc(r->id, e1, sizeof(e1)),
		       r->ident ? registry_class_name(r->ident->class) : "-",
		       row_state(r, now, st, sizeof(st)),
		       r->ident ? out_date(r->ident->decommission, t) : "-",
		       (unsigned long long)r->day.messages, (unsigned long long)r->day.accepted,
		       (unsigned long long)r->day.rejected, (unsigned long long)r->day.quarantined,
		       (unsigned long long)r->day.tempfailed, owners_str(r->ident, e2, sizeof(e2)));
	}
	if (c->json)
		out_array_end(&arr);
	collect_free(&x, susp);
	return CTL_OK;
}

/* Print "label: values" with the list escaped and joined by ", ". */
static void
show_list(const char *label, const char *const *v, size_t n)
{
	char e[CTL_ESC_MAX];
	printf("%-18s", label);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", out_esc(v[i], e, sizeof(e)));
	printf("%s\n", n ? "" : "-");
}

/* One counters line of show. */
static void
show_counts(const char *label, const struct state_counts *k, uint64_t limit)
{
	char lim[48] = "";
	if (limit != 0)
		snprintf(lim, sizeof(lim), " (limit %llu)", (unsigned long long)limit);
	printf("%-18s%llu messages%s, %llu recipients, %llu bytes; accepted %llu, rejected %llu, "
	       "quarantined %llu, tempfailed %llu\n",
	       label, (unsigned long long)k->messages, lim, (unsigned long long)k->recipients,
	       (unsigned long long)k->bytes, (unsigned long long)k->accepted,
	       (unsigned long long)k->rejected, (unsigned long long)k->quarantined,
	       (unsigned long long)k->tempfailed);
}

/* The text form of show. */
static void
show_text(const struct row *r, long long now)
{
	const struct bw_identity *id = r->ident;
	char e1[CTL_ESC_MAX], e2[CTL_ESC_MAX], e3[CTL_ESC_MAX], t1[CTL_TIME_MAX], t2[CTL_TIME_MAX];
	const char *why;
	enum bw_life l = registry_lifecycle(id, now, &why);
	printf("%-18s%s\n", "id:", out_esc(id->id, e1, sizeof(e1)));
	printf("%-18s%s\n", "description:", out_esc(id->description, e1, sizeof(e1)));
	printf("%-18s%s\n", "class:", registry_class_name(id->class));
	printf("%-18s%s%s%s\n", "state:", registry_life_name(l), why[0] ? ": " : "",
	       why[0] ? out_esc(why, e1, sizeof(e1)) : "");
	if (r->susp != NULL)
		printf("%-18ssince %s by %s, until %s, ticket %s: %s\n",
		       "suspended:", out_time(r->susp->since, t1),
		       out_esc(r->susp->by, e1, sizeof(e1)),
		       r->susp->until ? out_time(r->susp->until, t2) : "reinstated",
		       out_esc(r->susp->ticket, e2, sizeof(e2)),
		       out_esc(r->susp->reason, e3, sizeof(e3)));
	else
		printf("%-18sno\n", "suspended:");
	printf("%-18s%s\n", "mode:", id->mode == BW_MODE_MONITOR ? "monitor" : "enforce");
	printf("%-18s%s\n", "platform:", out_esc(id->platform, e1, sizeof(e1)));
	printf("%-18s%s\n", "owners:", owners_str(id, e1, sizeof(e1)));
	printf("%-18s%s on %s, ticket %s\n", "approval:", out_esc(id->approval_by, e1, sizeof(e1)),
	       out_date(id->approval_date, t1), out_esc(id->approval_ticket, e2, sizeof(e2)));
	if (id->changed_at != 0)
		printf("%-18s%s%s\n", "last change:", out_time(id->changed_at, t1),
		       registry_changed_since_approval(id, id->changed_at)
			   ? " (security-relevant, after its approval: re-approve)"
			   : " (security-relevant, covered by its approval)");
	printf("%-18s%s\n", "activate:", out_date(id->activate, t1));
	printf("%-18s%s\n", "decommission:", out_date(id->decommission, t1));
	show_list("logins:", id->logins, id->n_logins);
	printf("%-18s", "networks:");
	for (size_t i = 0; i < id->n_networks; i++) {
		char a[64];
		const struct cidr *n = &id->networks[i];
		bool v4 =
		    n->len >= 96 && memcmp(n->addr.b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0;
		cidr_addr_format(&n->addr, a, sizeof(a));
		printf("%s%s/%u", i ? ", " : "", out_esc(a, e1, sizeof(e1)),
		       v4 ? n->len - 96 : n->len);
	}
	printf("%s\n", id->n_networks ? "" : "-");
	show_list("envelope domains:", id->envelope_domains, id->n_envelope_domains);
	show_list("from domains:", id->from_domains, id->n_from_domains);
	for (size_t i = 0; i < id->n_dkim; i++)
		printf("%-18s%s._domainkey.%s %s %d bits (%s) %s\n",
		       "dkim:", out_esc(id->dkim[i].selector, e1, sizeof(e1)),
		       out_esc(id->dkim[i].domain, e2, sizeof(e2)),
		       id->dkim[i].alg == BW_KEY_ED25519 ? "ed25519" : "rsa", id->dkim[i].bits,
		       id->dkim_mode == BW_DKIM_VERIFY ? "verify" : "sign",
		       out_esc(id->dkim[i].path, e3, sizeof(e3)));
	show_counts("this hour:", &r->hour, id->per_hour);
	show_counts("today:", &r->day, id->per_day);
	if (id->rcpt_per_hour || id->rcpt_per_day)
		printf("%-18s%llu per hour, %llu per day (0: none)\n", "recipient limits:",
		       (unsigned long long)id->rcpt_per_hour, (unsigned long long)id->rcpt_per_day);
	printf("%-18s%s:%d\n", "defined at:", out_esc(id->file, e1, sizeof(e1)), id->line);
}

int
ctl_show(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct extra x;
	struct state_suspension *susp = NULL;
	size_t nsusp = 0;
	static struct jbuf j;
	int rc = ctl_args_parse(c, argc, argv, "j", 1, &a);
	long long now = ctl_now();
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	if (a.npos != 1)
		return ctl_usage(argv[0], "show needs an identity id");
	const struct bw_identity *id = lookup(c, a.pos[0]);
	if (id == NULL)
		return CTL_FAIL;
	if (collect(c, now, id->id, &x, &susp, &nsusp) != 0 || x.n != 1) {
		collect_free(&x, susp);
		return CTL_FAIL;
	}
	if (!c->json) {
		show_text(&x.rows[0], now);
		ctl_waivers_show(c, id->id, now, NULL);
	} else {
		const char *why;
		jbuf_begin(&j);
		row_json(&j, &x.rows[0], now);
		registry_lifecycle(id, now, &why);
		jbuf_str(&j, "lifecycle_why", why);
		if (id->changed_at != 0) {
			char t[CTL_TIME_MAX];
			jbuf_str(&j, "last_change", out_time(id->changed_at, t));
		}
		jbuf_bool(&j, "changed_since_approval",
			  registry_changed_since_approval(id, id->changed_at));
		jbuf_str(&j, "description", id->description);
		jbuf_str(&j, "platform", id->platform);
		jbuf_str(&j, "mode", id->mode == BW_MODE_MONITOR ? "monitor" : "enforce");
		jbuf_array_begin(&j, "logins");
		for (size_t i = 0; i < id->n_logins; i++)
			jbuf_str(&j, NULL, id->logins[i]);
		jbuf_array_end(&j);
		jbuf_array_begin(&j, "envelope_domains");
		for (size_t i = 0; i < id->n_envelope_domains; i++)
			jbuf_str(&j, NULL, id->envelope_domains[i]);
		jbuf_array_end(&j);
		jbuf_array_begin(&j, "from_domains");
		for (size_t i = 0; i < id->n_from_domains; i++)
			jbuf_str(&j, NULL, id->from_domains[i]);
		jbuf_array_end(&j);
		jbuf_str(&j, "file", id->file);
		jbuf_num(&j, "line", id->line);
		ctl_waivers_show(c, id->id, now, &j);
		jbuf_end(&j);
		out_object(&j);
	}
	collect_free(&x, susp);
	return CTL_OK;
}

/* One stats table row. */
static void
stats_line(int w, const char *id, const char *window, const struct state_counts *k, uint64_t limit)
{
	char e[CTL_ESC_MAX], lim[24] = "-";
	if (limit != 0)
		snprintf(lim, sizeof(lim), "%llu", (unsigned long long)limit);
	printf("%-*s  %-18s %9llu %10llu %14llu %9llu %9llu %9llu %9llu  %s\n", w,
	       out_esc(id, e, sizeof(e)), window, (unsigned long long)k->messages,
	       (unsigned long long)k->recipients, (unsigned long long)k->bytes,
	       (unsigned long long)k->accepted, (unsigned long long)k->rejected,
	       (unsigned long long)k->quarantined, (unsigned long long)k->tempfailed, lim);
}

int
ctl_stats(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct extra x;
	struct state_suspension *susp = NULL;
	size_t nsusp = 0;
	static struct jbuf j;
	char t[CTL_TIME_MAX], esc[128];
	int rc = ctl_args_parse(c, argc, argv, "j", 1, &a);
	long long now = ctl_now(), hour = out_hour(now);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	const char *only = a.npos ? a.pos[0] : NULL;
	if (collect(c, now, only, &x, &susp, &nsusp) != 0) {
		collect_free(&x, susp);
		return CTL_FAIL;
	}
	if (only != NULL && x.n == 0) {
		ctl_err("no identity \"%s\" in %s or the state store",
			out_esc(only, esc, sizeof(esc)), c->conf_path);
		collect_free(&x, susp);
		return CTL_FAIL;
	}
	struct state *st = ctl_state(c);
	int w = 2;
	for (size_t i = 0; i < x.n; i++)
		if ((int)strlen(x.rows[i].id) > w)
			w = (int)strlen(x.rows[i].id);
	if (c->json) {
		printf("{\"now\":\"%s\",", out_time(now, t));
		printf("\"hour_start\":\"%s\",", out_time(hour, t));
		printf("\"day_start\":\"%s\",\"identities\":", out_time(out_day(now), t));
	} else {
		printf("%-*s  %-18s %9s %10s %14s %9s %9s %9s %9s  %s\n", w, "ID", "WINDOW",
		       "MESSAGES", "RECIPIENTS", "BYTES", "ACCEPTED", "REJECTED", "QUARANT",
		       "TEMPFAIL", "LIMIT");
	}
	struct out_array arr;
	if (c->json)
		out_array_begin(&arr);
	for (size_t i = 0; i < x.n; i++) {
		const struct row *r = &x.rows[i];
		uint64_t ph = r->ident ? r->ident->per_hour : 0,
			 pd = r->ident ? r->ident->per_day : 0;
		if (c->json) {
			jbuf_begin(&j);
			jbuf_str(&j, "id", r->id);
			out_counts_json(&j, "hour", &r->hour);
			out_counts_json(&j, "today", &r->day);
			jbuf_object_begin(&j, "limits");
			jbuf_num(&j, "per_hour", (long long)ph);
			jbuf_num(&j, "per_day", (long long)pd);
			jbuf_num(&j, "recipients_per_hour",
				 (long long)(r->ident ? r->ident->rcpt_per_hour : 0));
			jbuf_num(&j, "recipients_per_day",
				 (long long)(r->ident ? r->ident->rcpt_per_day : 0));
			jbuf_object_end(&j);
		} else {
			stats_line(w, r->id, "this-hour", &r->hour, ph);
			stats_line(w, r->id, "today", &r->day, pd);
		}
		if (only != NULL) { /* the last hours one by one, newest first */
			if (c->json)
				jbuf_array_begin(&j, "hours");
			for (int h = 0; h < STATS_HOURS; h++) {
				struct state_counts k;
				long long from = hour - (long long)h * 3600;
				if (state_counters_sum(st, r->id, from, from + 3600, &k) != 0) {
					ctl_err("%s", state_error(st));
					collect_free(&x, susp);
					return CTL_FAIL;
				}
				if (k.messages == 0 && k.recipients == 0)
					continue;
				if (c->json) {
					jbuf_object_begin(&j, NULL);
					jbuf_str(&j, "start", out_time(from, t));
					out_counts_json(&j, "counts", &k);
					jbuf_object_end(&j);
				} else {
					stats_line(w, r->id, out_time(from, t), &k, 0);
				}
			}
			if (c->json)
				jbuf_array_end(&j);
		}
		if (c->json) {
			jbuf_end(&j);
			out_array_add(&arr, &j);
		}
	}
	if (c->json) {
		out_array_end(&arr);
		printf("}\n");
	}
	collect_free(&x, susp);
	return CTL_OK;
}
