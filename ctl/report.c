/*
 * report.c - `bulkwardenctl report`: gather the evidence (registry,
 * counters per day, suspensions, the audit records of the period, the
 * audit chain's verification, findings) and write it as JSON; the
 * Markdown and HTML writers live in report_md.c and report_html.c.
 *
 * Memory: struct report owns every array (report_free). Untrusted input:
 * identity ids found in the store are looked up in the registry and never
 * trusted as indexes; strings from the store and the registry go through
 * the JSON escaper (here) or the HTML/Markdown escapers.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/ecs.h"
#include "base/util.h"
#include "ctl/report.h"
#include "ctl/verbs.h"

#define DAY 86400LL
#define REPORT_AUDIT_MAX 5000 /* records of the period kept in the report */

const struct report_day *
report_daily(const struct report *rep, size_t id, int day)
{
	return &rep->daily[id * (size_t)rep->days + (size_t)day];
}

const char *
report_day_name(const struct report *rep, int d, char buf[16])
{
	time_t t = (time_t)(rep->from + d * DAY);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 16, "%Y-%m-%d", &tm);
	return buf;
}

long long
report_days_to(const struct report *rep, long long when)
{
	if (when == 0)
		return INT64_MIN;
	long long d = when - rep->now;
	return d >= 0 ? d / DAY : -((-d + DAY - 1) / DAY);
}

const char *
report_owners(const struct bw_identity *id, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < id->n_owners && o + 1 < len; i++) {
		int n = snprintf(buf + o, len - o, "%s%s=%s", i ? ", " : "", id->owners[i].role,
				 id->owners[i].addr);
		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
	}
	return buf;
}

const char *
report_net(const struct cidr *c, char *buf, size_t len)
{
	char a[48]; /* the longest IPv6 text is 45 bytes */
	bool v4 = c->len >= 96 && c->addr.b[10] == 0xff && c->addr.b[11] == 0xff;
	cidr_addr_format(&c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, v4 ? c->len - 96 : c->len);
	return buf;
}

/* Add one counts sum to a day. */
static void
day_add(struct report_day *d, const struct state_counts *c)
{
	d->messages += (uint32_t)c->messages;
	d->accepted += (uint32_t)c->accepted;
	d->rejected += (uint32_t)c->rejected;
	d->quarantined += (uint32_t)c->quarantined;
	d->tempfailed += (uint32_t)c->tempfailed;
}

struct day_ctx {
	struct report *rep;
	int day; /* -1: the stretch before the period (activity only) */
};

/* The last identity name looked up and its identity (NULL: not in the
 * registry): the store's rows come grouped by identity, so most rows skip
 * the hash look-up. */
static char last_name[STATE_ID_MAX + 1];
static const struct bw_identity *last_id;
static bool last_ok; /* last_name/last_id hold a look-up of this scan */

static const struct bw_identity *
by_id_cached(const struct registry *r, const char *name)
{
	if (last_ok && strcmp(name, last_name) == 0)
		return last_id;
	last_id = registry_by_id(r, name);
	last_ok = strlen(name) < sizeof(last_name); /* a longer name is never cached */
	if (last_ok)
		memcpy(last_name, name, strlen(name) + 1);
	return last_id;
}

/* One identity's sum for one day (or for the time before the period). */
static int
day_cb(const char *idname, const struct state_counts *sum, void *arg)
{
	struct day_ctx *dc = arg;
	struct report *rep = dc->rep;
	const struct bw_identity *id = by_id_cached(rep->r, idname);
	if (id == NULL || sum->messages == 0)
		return 0; /* an identity no longer in the registry: `stats` shows it */
	size_t i = (size_t)(id - rep->r->ids);
	if (rep->from + dc->day * DAY > rep->act[i].last_seen)
		rep->act[i].last_seen = rep->from + dc->day * DAY;
	if (dc->day < 0)
		return 0; /* before the period: activity only */
	day_add(&rep->daily[i * (size_t)rep->days + (size_t)dc->day], sum);
	day_add(&rep->totals[dc->day], sum);
	day_add(&rep->sum[i], sum);
	return 0;
}

/* One identity's counts for one day of the period. */
static int
daily_cb(const char *idname, int day, const struct state_counts *c, void *arg)
{
	struct report *rep = arg;
	struct day_ctx dc = {rep, day - rep->pre_days}; /* negative: before the period */
	return day_cb(idname, c, &dc);
}

/* Keep the period's audit records (at most REPORT_AUDIT_MAX, the newest). */
static int
audit_cb(const struct state_audit *rec, void *arg)
{
	struct report *rep = arg;
	rep->audit_total++;
	const struct bw_identity *id = strcmp(rec->action, "config-change") == 0
					   ? registry_by_id(rep->r, rec->identity)
					   : NULL;
	/* as state_last_changes(): an identity added again starts afresh */
	if (id != NULL && strcmp(rec->detail, "added") == 0)
		rep->act[id - rep->r->ids].last_change = 0;
	else if (id != NULL &&
		 strncmp(rec->reason, STATE_CHANGE_SECURITY, sizeof(STATE_CHANGE_SECURITY) - 1) == 0 &&
		 rec->ts > rep->act[id - rep->r->ids].last_change)
		rep->act[id - rep->r->ids].last_change = rec->ts;
	if (rec->ts < rep->from)
		return 0;
	if (rep->n_audit == REPORT_AUDIT_MAX) {
		memmove(rep->audit, rep->audit + 1, (REPORT_AUDIT_MAX - 1) * sizeof(*rep->audit));
		rep->n_audit--;
	}
	if (rep->n_audit == rep->cap_audit) {
		size_t cap = rep->cap_audit ? rep->cap_audit * 2 : 64;
		struct state_audit *v = realloc(rep->audit, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		rep->audit = v;
		rep->cap_audit = cap;
	}
	rep->audit[rep->n_audit++] = *rec;
	return 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct owner addresses of a domain's identities, as a JSON array
 * member "owners" of j (sorted; a copy of the pointers, not the strings). */
void
report_domain_owners(const struct report *rep, const struct report_domain *d, struct jbuf *j)
{
	size_t n = 0, k = 0;
	for (size_t i = 0; i < d->n; i++)
		n += rep->r->ids[rep->dom_ids[d->first + i]].n_owners;
	const char **v = calloc(n ? n : 1, sizeof(*v));
	jbuf_array_begin(j, "owners");
	if (v != NULL) {
		for (size_t i = 0; i < d->n; i++) {
			const struct bw_identity *id = &rep->r->ids[rep->dom_ids[d->first + i]];
			for (size_t o = 0; o < id->n_owners; o++)
				v[k++] = id->owners[o].addr;
		}
		qsort(v, k, sizeof(*v), str_cmp);
		for (size_t i = 0; i < k; i++)
			if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
				jbuf_str(j, NULL, v[i]);
	}
	jbuf_array_end(j);
	free(v);
}

struct dom_use {
	const char *name;
	size_t idx;
	unsigned use;
};

static int
dom_use_cmp(const void *a, const void *b)
{
	const struct dom_use *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Every domain the registry names (envelope, From, DKIM d=), grouped. */
static int
collect_domains(struct report *rep)
{
	const struct registry *r = rep->r;
	size_t n = 0, k = 0;
	for (size_t i = 0; i < r->n_ids; i++)
		n += r->ids[i].n_envelope_domains + r->ids[i].n_from_domains + r->ids[i].n_dkim;
	struct dom_use *u = calloc(n ? n : 1, sizeof(*u));
	rep->domains = calloc(n ? n : 1, sizeof(*rep->domains));
	rep->dom_ids = calloc(n ? n : 1, sizeof(*rep->dom_ids));
	if (u == NULL || rep->domains == NULL || rep->dom_ids == NULL) {
		free(u);
		return -1;
	}
	for (size_t i = 0; i < r->n_ids; i++) {
		const struct bw_identity *id = &r->ids[i];
		for (size_t j = 0; j < id->n_envelope_domains; j++)
			u[k++] = (struct dom_use){id->envelope_domains[j], i, REPORT_USE_ENVELOPE};
		for (size_t j = 0; j < id->n_from_domains; j++)
			u[k++] = (struct dom_use){id->from_domains[j], i, REPORT_USE_FROM};
		for (size_t j = 0; j < id->n_dkim; j++)
			u[k++] = (struct dom_use){id->dkim[j].domain, i, REPORT_USE_DKIM};
	}
	qsort(u, k, sizeof(*u), dom_use_cmp);
	size_t ni = 0;
	for (size_t a = 0; a < k;) {
		struct report_domain *d = &rep->domains[rep->n_domains++];
		d->name = u[a].name;
		d->first = ni;
		for (; a < k && strcmp(u[a].name, d->name) == 0; a++) {
			d->uses |= u[a].use;
			if (d->n == 0 || rep->dom_ids[ni - 1] != u[a].idx) {
				rep->dom_ids[ni++] = u[a].idx;
				d->n++;
			}
			if (rep->act[u[a].idx].last_seen > d->last_seen)
				d->last_seen = rep->act[u[a].idx].last_seen;
		}
	}
	free(u);
	return 0;
}

/* The REPORT_CHART_IDS identities with the most messages in the period. */
static void
pick_chart_ids(struct report *rep)
{
	for (size_t i = 0; i < rep->r->n_ids; i++) {
		uint32_t m = rep->sum[i].messages;
		if (m == 0)
			continue;
		size_t k = rep->n_chart_ids;
		if (k == REPORT_CHART_IDS && rep->sum[rep->chart_ids[k - 1]].messages >= m)
			continue;
		if (k < REPORT_CHART_IDS)
			rep->n_chart_ids++;
		else
			k--;
		while (k > 0 && rep->sum[rep->chart_ids[k - 1]].messages < m) {
			rep->chart_ids[k] = rep->chart_ids[k - 1];
			k--;
		}
		rep->chart_ids[k] = i;
	}
}

int
report_collect(struct report *rep, const struct registry *r, struct state *st,
	       const char *conf_path, long long now, int days, char *err, size_t errlen)
{
	size_t n = r->n_ids ? r->n_ids : 1;
	memset(rep, 0, sizeof(*rep));
	rep->r = r;
	rep->conf_path = conf_path;
	rep->now = now;
	rep->days = days;
	rep->from = now - now % DAY - (days - 1) * DAY;
	rep->daily = calloc(n * (size_t)days, sizeof(*rep->daily));
	rep->totals = calloc((size_t)days, sizeof(*rep->totals));
	rep->sum = calloc(n, sizeof(*rep->sum));
	rep->act = calloc(n, sizeof(*rep->act));
	rep->chart_ids = calloc(REPORT_CHART_IDS, sizeof(*rep->chart_ids));
	if (!rep->daily || !rep->totals || !rep->sum || !rep->act || !rep->chart_ids) {
		snprintf(err, errlen, "out of memory for %zu identities over %d days", n, days);
		return -1;
	}
	/* one pass over the store: the days before the period (activity only,
	 * back to the dormancy horizon) and the period itself */
	int dormant = (int)r->set.dormant_days;
	rep->pre_days = days < dormant ? dormant - days : 0;
	last_ok = false;
	if (state_counters_daily(st, rep->from - rep->pre_days * DAY, rep->pre_days + days, daily_cb,
				 rep) != 0)
		goto store;
	if (state_suspensions(st, now, &rep->susp, &rep->n_susp) != 0 ||
	    state_audit_foreach(st, audit_cb, rep) != 0)
		goto store;
	if (state_has_waivers(st) &&
	    state_waivers(st, NULL, now, false, &rep->wvr, &rep->n_wvr) != 0)
		goto store;
	long long nrec = 0;
	char why[256];
	rep->audit_intact = state_audit_verify(st, &nrec, &rep->audit_bad_seq, why, sizeof(why));
	if (rep->audit_intact < 0)
		goto store;
	pick_chart_ids(rep);
	if (collect_domains(rep) != 0 || findings_eval(r, rep->act, now, &rep->findings) != 0 ||
	    findings_waivers(&rep->findings, rep->wvr, rep->n_wvr, now) != 0) {
		snprintf(err, errlen, "out of memory evaluating findings");
		return -1;
	}
	return 0;
store:
	snprintf(err, errlen, "state store: %s", state_error(st));
	return -1;
}

int
report_dns(struct report *rep, char *err, size_t errlen)
{
	struct dnscheck *dc = dnscheck_open(&rep->r->set, err, errlen);
	int rc = 0;
	if (dc == NULL)
		return -1;
	for (size_t i = 0; i < rep->n_domains; i++) {
		struct report_domain *d = &rep->domains[i];
		dnscheck_domain(dc, rep->r, d->name, rep->dom_ids + d->first, d->n, &d->posture);
		if (d->posture.bad)
			rc |= findings_domain_posture(&rep->findings, d->name, d->posture.detail);
	}
	dnscheck_close(dc);
	if (rc != 0)
		snprintf(err, errlen, "out of memory adding findings");
	return rc ? -1 : 0;
}

void
report_free(struct report *rep)
{
	free(rep->daily);
	free(rep->totals);
	free(rep->sum);
	free(rep->act);
	free(rep->susp);
	free(rep->wvr);
	free(rep->audit);
	free(rep->chart_ids);
	free(rep->domains);
	free(rep->dom_ids);
	findings_free(&rep->findings);
	memset(rep, 0, sizeof(*rep));
}

/* ---- JSON ------------------------------------------------------------- */

/* Write j's object (without its newline) to f. */
static void
put(FILE *f, const struct jbuf *j)
{
	size_t len = j->len;
	if (len > 0 && j->buf[len - 1] == '\n')
		len--;
	fwrite(j->buf, 1, len, f);
}

/* Decimal digits of v at o; returns the end. */
static char *
put_u32(char *o, uint32_t v)
{
	char t[10];
	int k = 0;
	do
		t[k++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (k > 0)
		*o++ = t[--k];
	return o;
}

/* {"messages":N,"accepted":N,"rejected":N,"quarantined":N,"tempfailed":N}
 * built in one buffer and added as one member (30 of them per identity). */
static void
day_json(struct jbuf *j, const char *key, const struct report_day *d)
{
	static const char zero[] =
	    "{\"messages\":0,\"accepted\":0,\"rejected\":0,\"quarantined\":0,\"tempfailed\":0}";
	char b[128], *o = b;
	if ((d->messages | d->accepted | d->rejected | d->quarantined | d->tempfailed) == 0) {
		jbuf_raw(j, key, zero, sizeof(zero) - 1);
		return;
	}
#define LIT(s) (memcpy(o, s, sizeof(s) - 1), o += sizeof(s) - 1)
	LIT("{\"messages\":");
	o = put_u32(o, d->messages);
	LIT(",\"accepted\":");
	o = put_u32(o, d->accepted);
	LIT(",\"rejected\":");
	o = put_u32(o, d->rejected);
	LIT(",\"quarantined\":");
	o = put_u32(o, d->quarantined);
	LIT(",\"tempfailed\":");
	o = put_u32(o, d->tempfailed);
	LIT("}");
#undef LIT
	jbuf_raw(j, key, b, (size_t)(o - b));
}

static void
list_json(struct jbuf *j, const char *key, const char *const *v, size_t n)
{
	jbuf_array_begin(j, key);
	for (size_t i = 0; i < n; i++)
		jbuf_str(j, NULL, v[i]);
	jbuf_array_end(j);
}

/* One identity of the inventory, with its traffic. */
static void
identity_json(struct jbuf *j, const struct report *rep, size_t i)
{
	const struct bw_identity *id = &rep->r->ids[i];
	char tb[CTL_TIME_MAX], cb[64];
	const char *why;
	enum bw_life life = registry_lifecycle(id, rep->now, &why);

	jbuf_begin(j);
	jbuf_str(j, "id", id->id);
	jbuf_str(j, "class", registry_class_name(id->class));
	jbuf_str(j, "purpose", id->description ? id->description : "");
	jbuf_str(j, "platform", id->platform ? id->platform : "");
	jbuf_str(j, "mode", id->mode == BW_MODE_MONITOR ? "monitor" : "enforce");
	jbuf_object_begin(j, "owners");
	for (size_t k = 0; k < id->n_owners; k++)
		jbuf_str(j, id->owners[k].role, id->owners[k].addr);
	jbuf_object_end(j);
	jbuf_object_begin(j, "approval");
	jbuf_str(j, "by", id->approval_by ? id->approval_by : "");
	jbuf_str(j, "date", id->approval_date ? out_date(id->approval_date, tb) : "");
	jbuf_str(j, "ticket", id->approval_ticket ? id->approval_ticket : "");
	jbuf_object_end(j);
	jbuf_object_begin(j, "lifecycle");
	jbuf_str(j, "state", registry_life_name(life));
	if (life != BW_LIFE_ACTIVE)
		jbuf_str(j, "why", why);
	jbuf_str(j, "activate", id->activate ? out_date(id->activate, tb) : "");
	jbuf_str(j, "decommission", id->decommission ? out_date(id->decommission, tb) : "");
	if (id->decommission)
		jbuf_num(j, "days_to_decommission", report_days_to(rep, id->decommission));
	jbuf_object_end(j);
	list_json(j, "envelope_domains", id->envelope_domains, id->n_envelope_domains);
	list_json(j, "from_domains", id->from_domains, id->n_from_domains);
	list_json(j, "logins", id->logins, id->n_logins);
	jbuf_array_begin(j, "networks");
	for (size_t k = 0; k < id->n_networks; k++) {
		jbuf_str(j, NULL, report_net(&id->networks[k], cb, sizeof(cb)));
	}
	jbuf_array_end(j);
	jbuf_str(j, "dkim_mode", id->dkim_mode == BW_DKIM_VERIFY ? "verify" : "sign");
	jbuf_array_begin(j, "dkim");
	for (size_t k = 0; k < id->n_dkim; k++) {
		const struct bw_dkim_key *key = &id->dkim[k];
		jbuf_object_begin(j, NULL);
		jbuf_str(j, "domain", key->domain);
		jbuf_str(j, "selector", key->selector);
		jbuf_str(j, "algorithm", key->alg == BW_KEY_ED25519 ? "ed25519" : "rsa");
		jbuf_num(j, "bits", key->bits);
		jbuf_object_end(j);
	}
	jbuf_array_end(j);
	jbuf_object_begin(j, "limits");
	jbuf_num(j, "per_hour", (long long)id->per_hour);
	jbuf_num(j, "per_day", (long long)id->per_day);
	jbuf_object_end(j);
	for (size_t k = 0; k < rep->n_susp; k++)
		if (strcmp(rep->susp[k].id, id->id) == 0) {
			jbuf_object_begin(j, "suspended");
			jbuf_str(j, "since", out_time(rep->susp[k].since, tb));
			jbuf_str(j, "until", rep->susp[k].until ? out_time(rep->susp[k].until, tb) : "");
			jbuf_str(j, "by", rep->susp[k].by);
			jbuf_str(j, "reason", rep->susp[k].reason);
			jbuf_str(j, "ticket", rep->susp[k].ticket);
			jbuf_object_end(j);
		}
	jbuf_array_begin(j, "waivers");
	for (size_t k = 0; k < rep->n_wvr; k++) {
		const struct state_waiver *w = &rep->wvr[k];
		if (strcmp(w->id, id->id) != 0)
			continue;
		jbuf_object_begin(j, NULL);
		jbuf_num(j, "waiver", w->wid);
		jbuf_str(j, "kind", w->kind);
		jbuf_str(j, "name", w->name);
		jbuf_str(j, "created", out_time(w->created, tb));
		jbuf_str(j, "until", out_time(w->until, tb));
		jbuf_str(j, "by", w->by);
		jbuf_str(j, "approver", w->approver);
		jbuf_str(j, "reason", w->reason);
		jbuf_str(j, "ticket", w->ticket);
		jbuf_object_end(j);
	}
	jbuf_array_end(j);
	jbuf_str(j, "last_seen", rep->act[i].last_seen ? out_date(rep->act[i].last_seen, tb) : "");
	day_json(j, "traffic", &rep->sum[i]);
	jbuf_array_begin(j, "daily");
	for (int d = 0; d < rep->days; d++)
		day_json(j, NULL, report_daily(rep, i, d));
	jbuf_array_end(j);
	jbuf_end(j);
}

static void
finding_json(struct jbuf *j, const struct finding *f)
{
	jbuf_begin(j);
	jbuf_str(j, "id", f->rule->id);
	jbuf_str(j, "severity", finding_sev_name(f->rule->sev));
	jbuf_str(j, "title", f->rule->title);
	jbuf_str(j, "identity", f->identity);
	jbuf_str(j, "subject", f->subject);
	jbuf_str(j, "detail", f->detail);
	jbuf_str(j, "nhi", f->rule->nhi);
	jbuf_str(j, "csf", f->rule->csf);
	jbuf_str(j, "agentic", f->rule->agentic);
	jbuf_end(j);
}

void
report_write_json(const struct report *rep, FILE *f)
{
	static struct jbuf j;
	char tb[CTL_TIME_MAX], db[16];

	jbuf_begin(&j);
	jbuf_num(&j, "schema_version", REPORT_SCHEMA_VERSION);
	jbuf_str(&j, "generated", out_time(rep->now, tb));
	jbuf_str(&j, "host", ecs_host());
	jbuf_str(&j, "config", rep->conf_path);
	jbuf_strn(&j, "revision", rep->r->revision, BW_REVISION_HEX);
	jbuf_num(&j, "days", rep->days);
	jbuf_str(&j, "from", report_day_name(rep, 0, db));
	jbuf_str(&j, "to", report_day_name(rep, rep->days - 1, db));
	jbuf_num(&j, "identities", (long long)rep->r->n_ids);
	jbuf_object_begin(&j, "findings_by_severity");
	for (int s = SEV_HIGH; s >= SEV_INFO; s--)
		jbuf_num(&j, finding_sev_name((enum finding_sev)s), (long long)rep->findings.by_sev[s]);
	jbuf_object_end(&j);
	jbuf_object_begin(&j, "audit");
	jbuf_num(&j, "records", rep->audit_total);
	jbuf_bool(&j, "chain_intact", rep->audit_intact == 0);
	if (rep->audit_intact != 0)
		jbuf_num(&j, "first_bad_seq", rep->audit_bad_seq);
	jbuf_object_end(&j);
	jbuf_array_begin(&j, "daily_totals");
	for (int d = 0; d < rep->days; d++) {
		jbuf_object_begin(&j, NULL);
		jbuf_str(&j, "day", report_day_name(rep, d, db));
		jbuf_num(&j, "messages", rep->totals[d].messages);
		jbuf_num(&j, "accepted", rep->totals[d].accepted);
		jbuf_num(&j, "rejected", rep->totals[d].rejected);
		jbuf_num(&j, "quarantined", rep->totals[d].quarantined);
		jbuf_num(&j, "tempfailed", rep->totals[d].tempfailed);
		jbuf_object_end(&j);
	}
	jbuf_array_end(&j);
	jbuf_end(&j);
	/* the head object, reopened to append the long arrays member by member */
	fputs("{\"report\":", f);
	put(f, &j);
	fputs(",\n\"identities\":[", f);
	for (size_t i = 0; i < rep->r->n_ids; i++) {
		identity_json(&j, rep, i);
		fputs(i ? ",\n" : "\n", f);
		put(f, &j);
	}
	fputs("],\n\"domains\":[", f);
	for (size_t i = 0; i < rep->n_domains; i++) {
		const struct report_domain *d = &rep->domains[i];
		jbuf_begin(&j);
		jbuf_str(&j, "domain", d->name);
		jbuf_array_begin(&j, "uses");
		if (d->uses & REPORT_USE_ENVELOPE)
			jbuf_str(&j, NULL, "envelope");
		if (d->uses & REPORT_USE_FROM)
			jbuf_str(&j, NULL, "from");
		if (d->uses & REPORT_USE_DKIM)
			jbuf_str(&j, NULL, "dkim");
		jbuf_array_end(&j);
		jbuf_array_begin(&j, "identities");
		for (size_t k = 0; k < d->n; k++)
			jbuf_str(&j, NULL, rep->r->ids[rep->dom_ids[d->first + k]].id);
		jbuf_array_end(&j);
		report_domain_owners(rep, d, &j);
		if (d->posture.checked) {
			const struct dns_posture *ps = &d->posture;
			jbuf_object_begin(&j, "dns_posture");
			jbuf_bool(&j, "checked", true);
			jbuf_str(&j, "spf", ps->spf);
			jbuf_str(&j, "dkim", ps->dkim);
			jbuf_object_begin(&j, "dmarc");
			jbuf_str(&j, "status", ps->dmarc);
			jbuf_str(&j, "policy", ps->dmarc_policy);
			jbuf_object_end(&j);
			jbuf_str(&j, "dnssec", ps->dnssec);
			jbuf_bool(&j, "ok", !ps->bad);
			jbuf_str(&j, "detail", ps->detail);
			jbuf_object_end(&j);
		} else {
			jbuf_str(&j, "dns_posture", "not checked (bulkwardenctl dns-check)");
		}
		jbuf_str(&j, "last_seen", d->last_seen ? out_date(d->last_seen, tb) : "");
		jbuf_end(&j);
		fputs(i ? ",\n" : "\n", f);
		put(f, &j);
	}
	fputs("],\n\"findings\":[", f);
	for (size_t i = 0; i < rep->findings.n; i++) {
		finding_json(&j, &rep->findings.v[i]);
		fputs(i ? ",\n" : "\n", f);
		put(f, &j);
	}
	fputs("],\n\"events\":[", f);
	for (size_t i = 0; i < rep->n_audit; i++) {
		jbuf_begin(&j);
		ctl_audit_json(&j, &rep->audit[i]);
		jbuf_end(&j);
		fputs(i ? ",\n" : "\n", f);
		put(f, &j);
	}
	fputs("],\n\"controls\":[", f);
	for (size_t i = 0; i < finding_n_rules; i++) {
		const struct finding_rule *ru = &finding_rules[i];
		size_t n = 0;
		for (size_t k = 0; k < rep->findings.n; k++)
			n += rep->findings.v[k].rule == ru;
		jbuf_begin(&j);
		jbuf_str(&j, "finding", ru->id);
		jbuf_str(&j, "severity", finding_sev_name(ru->sev));
		jbuf_str(&j, "title", ru->title);
		jbuf_str(&j, "nhi", ru->nhi);
		jbuf_str(&j, "csf", ru->csf);
		jbuf_str(&j, "agentic", ru->agentic);
		jbuf_num(&j, "count", (long long)n);
		jbuf_end(&j);
		fputs(i ? ",\n" : "\n", f);
		put(f, &j);
	}
	fputs("]}\n", f);
}

/* ---- the verb ----------------------------------------------------------- */

int
ctl_report(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"format", required_argument, NULL, 'f'}, {"out", required_argument, NULL, 'o'},
	    {"days", required_argument, NULL, 'd'},   {"json", no_argument, NULL, 'j'},
	    {"dns", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	const char *format = c->json ? "json" : "html", *out = NULL;
	int days = REPORT_DAYS_DEFAULT, o;
	bool dns = false;
	char err[512], *end;

	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			format = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'j':
			format = "json";
			break;
		case 'n':
			dns = true;
			break;
		case 'd':
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || *end || v < 1 || v > REPORT_DAYS_MAX)
				return ctl_usage("report", "--days takes 1 to %d", REPORT_DAYS_MAX);
			days = (int)v;
			break;
		case 'h':
			return ctl_usage("report", NULL) == CTL_USAGE ? CTL_OK : CTL_OK;
		default:
			return ctl_usage("report", "unknown option or missing value");
		}
	}
	if (optind < argc)
		return ctl_usage("report", "report takes no arguments");
	if (strcmp(format, "html") != 0 && strcmp(format, "json") != 0 && strcmp(format, "md") != 0)
		return ctl_usage("report", "--format is html, json or md");

	struct registry *r = ctl_registry(c);
	struct state *st = ctl_state(c);
	struct report rep;
	if (report_collect(&rep, r, st, c->conf_path, ctl_now(), days, err, sizeof(err)) != 0 ||
	    (dns && report_dns(&rep, err, sizeof(err)) != 0)) {
		ctl_err("report: %s", err);
		report_free(&rep);
		return CTL_FAIL;
	}
	FILE *f = stdout;
	char tmp[4096];
	if (out != NULL) {
		/* written beside the target and renamed: never a half report */
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out, (long)getpid()) >= sizeof(tmp) ||
		    (f = fopen(tmp, "wx")) == NULL) {
			ctl_err("report: cannot write %s: %s", out, strerror(errno));
			report_free(&rep);
			return CTL_FAIL;
		}
	}
	if (strcmp(format, "json") == 0)
		report_write_json(&rep, f);
	else if (strcmp(format, "md") == 0)
		report_write_md(&rep, f);
	else
		report_write_html(&rep, f);
	int bad = ferror(f);
	if (out != NULL) {
		bad |= fclose(f) != 0;
		if (bad || rename(tmp, out) != 0) {
			ctl_err("report: writing %s failed: %s", out, strerror(errno));
			unlink(tmp);
			report_free(&rep);
			return CTL_FAIL;
		}
	} else {
		bad |= fflush(stdout) != 0;
	}
	report_free(&rep);
	return bad ? CTL_FAIL : CTL_OK;
}
