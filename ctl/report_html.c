/*
 * report_html.c - the report as one self-contained HTML file: inline CSS
 * (screen and print), inline SVG charts, no script, no network reference.
 * Charts: messages per day by outcome (all identities), messages per day
 * of the REPORT_CHART_IDS busiest identities, and the share of each one's
 * messages refused.
 *
 * Untrusted input: every string from the registry or the store goes
 * through h() (text and attribute values): & < > " ' are entities,
 * control characters and invalid UTF-8 become U+FFFD.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "ctl/report.h"
#include "ctl/verbs.h"

#define CHART_W 720
#define CHART_H 220
#define PAD_L 48
#define PAD_B 28

/* Write s escaped for HTML text or a quoted attribute. */
static void
h(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t l = bw_utf8_len(p + i, n - i);
			if (l == 0) {
				fputs("&#xfffd;", f);
				i++;
			} else {
				fwrite(p + i, 1, l, f);
				i += l;
			}
			continue;
		}
		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if (c < 0x20 || c == 0x7f)
				fputs("&#xfffd;", f);
			else
				fputc(c, f);
		}
		i++;
	}
}

/* A <td> with escaped text. */
static void
td(FILE *f, const char *s)
{
	fputs("<td>", f);
	h(f, s && s[0] ? s : "-");
	fputs("</td>", f);
}

static const char *const outcome_name[] = {"accepted", "rejected", "quarantined", "tempfailed"};
static const char *const outcome_color[] = {"#2e7d32", "#c62828", "#ef6c00", "#6a1b9a"};

static uint32_t
outcome(const struct report_day *d, int k)
{
	return k == 0 ? d->accepted : k == 1 ? d->rejected : k == 2 ? d->quarantined : d->tempfailed;
}

/* Axis, gridline labels and day ticks shared by the two volume charts. */
static void
axes(FILE *f, const struct report *rep, uint32_t max)
{
	char db[16];
	fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' class='axis'/>", PAD_L, CHART_H - PAD_B,
		CHART_W, CHART_H - PAD_B);
	for (int g = 0; g <= 4; g++) {
		int y = CHART_H - PAD_B - g * (CHART_H - PAD_B - 10) / 4;
		fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' class='grid'/>", PAD_L, y, CHART_W,
			y);
		fprintf(f, "<text x='%d' y='%d' class='lbl' text-anchor='end'>%u</text>", PAD_L - 4,
			y + 4, (uint32_t)((uint64_t)max * (unsigned)g / 4));
	}
	int step = rep->days > 10 ? rep->days / 6 : 1;
	for (int d = 0; d < rep->days; d += step)
		fprintf(f, "<text x='%d' y='%d' class='lbl'>%s</text>",
			PAD_L + d * (CHART_W - PAD_L) / rep->days, CHART_H - 8,
			report_day_name(rep, d, db) + 5);
}

/* Messages per day, all identities, stacked by outcome. */
static void
chart_totals(FILE *f, const struct report *rep)
{
	uint32_t max = 1;
	for (int d = 0; d < rep->days; d++)
		if (rep->totals[d].messages > max)
			max = rep->totals[d].messages;
	fprintf(f, "<svg id='chart-daily' class='chart' viewBox='0 0 %d %d' role='img' "
		   "aria-label='messages per day by outcome'>", CHART_W, CHART_H);
	axes(f, rep, max);
	double bw = (double)(CHART_W - PAD_L) / rep->days;
	for (int d = 0; d < rep->days; d++) {
		double y = CHART_H - PAD_B;
		for (int k = 0; k < 4; k++) {
			double hgt = (double)outcome(&rep->totals[d], k) * (CHART_H - PAD_B - 10) / max;
			if (hgt <= 0)
				continue;
			y -= hgt;
			fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'/>",
				PAD_L + d * bw + 1, y, bw > 3 ? bw - 2 : bw, hgt, outcome_color[k]);
		}
	}
	fputs("</svg><p class='legend'>", f);
	for (int k = 0; k < 4; k++)
		fprintf(f, "<span style='color:%s'>&#9632;</span> %s ", outcome_color[k],
			outcome_name[k]);
	fputs("</p>", f);
}

static const char *const line_color[REPORT_CHART_IDS] = {
    "#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a",
    "#00838f", "#ad1457", "#4e342e", "#558b2f", "#283593"};

/* Messages per day of the busiest identities, one line each. */
static void
chart_identities(FILE *f, const struct report *rep)
{
	uint32_t max = 1;
	for (size_t c = 0; c < rep->n_chart_ids; c++)
		for (int d = 0; d < rep->days; d++)
			if (report_daily(rep, rep->chart_ids[c], d)->messages > max)
				max = report_daily(rep, rep->chart_ids[c], d)->messages;
	fprintf(f, "<svg id='chart-identities' class='chart' viewBox='0 0 %d %d' role='img' "
		   "aria-label='messages per day per identity'>", CHART_W, CHART_H);
	axes(f, rep, max);
	double bw = (double)(CHART_W - PAD_L) / rep->days;
	for (size_t c = 0; c < rep->n_chart_ids; c++) {
		fprintf(f, "<polyline class='series' fill='none' stroke='%s' points='", line_color[c]);
		for (int d = 0; d < rep->days; d++)
			fprintf(f, "%.1f,%.1f ", PAD_L + (d + 0.5) * bw,
				CHART_H - PAD_B -
				    (double)report_daily(rep, rep->chart_ids[c], d)->messages *
					(CHART_H - PAD_B - 10) / max);
		fputs("'/>", f);
	}
	fputs("</svg><p class='legend'>", f);
	for (size_t c = 0; c < rep->n_chart_ids; c++) {
		fprintf(f, "<span style='color:%s'>&#9632;</span> ", line_color[c]);
		h(f, rep->r->ids[rep->chart_ids[c]].id);
		fputc(' ', f);
	}
	fputs("</p>", f);
}

/* Share of each busy identity's messages refused, by outcome. */
static void
chart_rates(FILE *f, const struct report *rep)
{
	int row = 22, hgt = (int)rep->n_chart_ids * row + 20, lw = 160;
	fprintf(f, "<svg id='chart-rates' class='chart' viewBox='0 0 %d %d' role='img' "
		   "aria-label='refused share per identity'>", CHART_W, hgt);
	for (size_t c = 0; c < rep->n_chart_ids; c++) {
		const struct report_day *s = &rep->sum[rep->chart_ids[c]];
		double x = lw, y = 4 + (double)c * row;
		fprintf(f, "<text x='%d' y='%.0f' class='lbl' text-anchor='end'>", lw - 6, y + 14);
		h(f, rep->r->ids[rep->chart_ids[c]].id);
		fputs("</text>", f);
		for (int k = 1; k < 4; k++) {
			double w = s->messages ? (double)outcome(s, k) * (CHART_W - lw - 60) / s->messages : 0;
			if (w <= 0)
				continue;
			fprintf(f, "<rect x='%.1f' y='%.0f' width='%.1f' height='16' fill='%s'/>", x, y, w,
				outcome_color[k]);
			x += w;
		}
		unsigned refused = s->rejected + s->quarantined + s->tempfailed;
		fprintf(f, "<text x='%.1f' y='%.0f' class='lbl'>%.1f%%</text>", x + 4, y + 13,
			s->messages ? 100.0 * refused / s->messages : 0.0);
	}
	fputs("</svg>", f);
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
    "h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}"
    "table{border-collapse:collapse;width:100%;font-size:12px}"
    "th,td{border:1px solid #ddd;padding:3px 5px;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}.sev-high{color:#b71c1c;font-weight:bold}.sev-medium{color:#e65100}"
    ".sev-low{color:#555}.cards span{display:inline-block;border:1px solid #ccc;"
    "padding:.5em 1em;margin:0 .5em .5em 0}.chart{width:100%;max-width:760px;height:auto}"
    ".axis{stroke:#444}.grid{stroke:#eee}.lbl{font-size:10px;fill:#444}"
    ".series{stroke-width:2}.legend{font-size:12px}"
    "@media print{body{margin:0}h2{page-break-before:auto}tr{page-break-inside:avoid}}";

void
report_write_html(const struct report *rep, FILE *f)
{
	char tb[CTL_TIME_MAX], db[16], ob[2048], nb[64];
	const struct registry *r = rep->r;

	fprintf(f, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
		   "<meta name='viewport' content='width=device-width'>"
		   "<title>bulkwarden governance report %s</title><style>%s</style></head><body>\n",
		out_date(rep->now, tb), css);
	fprintf(f, "<h1>bulkwarden governance report</h1><p>Generated %s for ",
		out_time(rep->now, tb));
	h(f, rep->conf_path);
	fprintf(f, " (revision %.16s), period %s to ", r->revision, report_day_name(rep, 0, db));
	fprintf(f, "%s (%d days).</p>\n<p class='cards'><span>%zu identities</span>",
		report_day_name(rep, rep->days - 1, db), rep->days, r->n_ids);
	fprintf(f, "<span>%zu suspended</span><span class='sev-high'>%zu high</span>"
		   "<span class='sev-medium'>%zu medium</span><span class='sev-low'>%zu low</span>"
		   "<span id='audit-chain'>audit log: %lld records, chain %s</span></p>\n",
		rep->n_susp, rep->findings.by_sev[SEV_HIGH], rep->findings.by_sev[SEV_MEDIUM],
		rep->findings.by_sev[SEV_LOW], rep->audit_total,
		rep->audit_intact == 0 ? "intact" : "BROKEN");

	fputs("<h2>Traffic</h2><h3>Messages per day by outcome</h3>", f);
	chart_totals(f, rep);
	fprintf(f, "<h3>Messages per day, %zu busiest identities</h3>", rep->n_chart_ids);
	chart_identities(f, rep);
	fputs("<h3>Share refused (rejected, quarantined, tempfailed)</h3>", f);
	chart_rates(f, rep);

	fputs("\n<h2>Findings</h2><table id='findings'><tr><th>severity</th><th>finding</th>"
	      "<th>identity</th><th>subject</th><th>detail</th><th>OWASP NHI</th>"
	      "<th>NIST CSF 2.0</th><th>OWASP Agentic</th></tr>\n", f);
	for (size_t i = 0; i < rep->findings.n; i++) {
		const struct finding *x = &rep->findings.v[i];
		fprintf(f, "<tr class='finding' data-id='%s'><td class='sev-%s'>%s</td><td>%s</td>",
			x->rule->id, finding_sev_name(x->rule->sev), finding_sev_name(x->rule->sev),
			x->rule->id);
		td(f, x->identity);
		td(f, x->subject);
		td(f, x->detail);
		td(f, x->rule->nhi);
		td(f, x->rule->csf);
		td(f, x->rule->agentic);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n<h2>Inventory</h2><table id='inventory'><tr><th>identity</th><th>class"
	      "</th><th>purpose</th><th>platform</th><th>owners</th><th>approval</th>"
	      "<th>lifecycle</th><th>decommission</th><th>domains</th><th>DKIM keys</th>"
	      "<th>logins</th><th>networks</th><th>messages</th><th>last seen</th></tr>\n", f);
	for (size_t i = 0; i < r->n_ids; i++) {
		const struct bw_identity *id = &r->ids[i];
		fputs("<tr>", f);
		td(f, id->id);
		td(f, registry_class_name(id->class));
		td(f, id->description);
		td(f, id->platform);
		td(f, report_owners(id, ob, sizeof(ob)));
		fputs("<td>", f);
		h(f, id->approval_by ? id->approval_by : "-");
		fprintf(f, " %s ", id->approval_date ? out_date(id->approval_date, tb) : "");
		h(f, id->approval_ticket);
		fprintf(f, "</td><td>%s</td><td>%s", registry_life_name(registry_lifecycle(id, rep->now, NULL)),
			id->decommission ? out_date(id->decommission, tb) : "-");
		if (id->decommission)
			fprintf(f, " (%lld days)", report_days_to(rep, id->decommission));
		fputs("</td><td>", f);
		for (size_t k = 0; k < id->n_envelope_domains; k++) {
			fputs(k ? ", " : "", f);
			h(f, id->envelope_domains[k]);
		}
		fputs("</td><td>", f);
		for (size_t k = 0; k < id->n_dkim; k++) {
			fputs(k ? "<br>" : "", f);
			h(f, id->dkim[k].selector);
			fputc('@', f);
			h(f, id->dkim[k].domain);
			fprintf(f, " %s-%d", id->dkim[k].alg == BW_KEY_ED25519 ? "ed25519" : "rsa",
				id->dkim[k].bits);
		}
		fputs("</td><td>", f);
		for (size_t k = 0; k < id->n_logins; k++) {
			fputs(k ? ", " : "", f);
			h(f, id->logins[k]);
		}
		fputs("</td><td>", f);
		for (size_t k = 0; k < id->n_networks; k++)
			fprintf(f, "%s%s", k ? ", " : "", report_net(&id->networks[k], nb, sizeof(nb)));
		fprintf(f, "</td><td>%u</td><td>%s</td></tr>\n", rep->sum[i].messages,
			rep->act[i].last_seen ? out_date(rep->act[i].last_seen, tb) : "-");
	}
	fputs("</table>\n<h2>Domains</h2><table id='domains'><tr><th>domain</th><th>used as</th>"
	      "<th>identities</th><th>last seen</th><th>DNS posture</th></tr>\n", f);
	for (size_t i = 0; i < rep->n_domains; i++) {
		const struct report_domain *d = &rep->domains[i];
		fputs("<tr>", f);
		td(f, d->name);
		fprintf(f, "<td>%s%s%s</td><td>", d->uses & REPORT_USE_ENVELOPE ? "envelope " : "",
			d->uses & REPORT_USE_FROM ? "from " : "", d->uses & REPORT_USE_DKIM ? "dkim" : "");
		for (size_t k = 0; k < d->n; k++) {
			fputs(k ? ", " : "", f);
			h(f, r->ids[rep->dom_ids[d->first + k]].id);
		}
		fprintf(f, "</td><td>%s</td>", d->last_seen ? out_date(d->last_seen, tb) : "-");
		if (d->posture.checked) {
			char pt[160];
			fputs(d->posture.bad ? "<td class='sev-medium'>" : "<td>", f);
			h(f, dns_posture_text(&d->posture, pt, sizeof(pt)));
			if (d->posture.detail[0]) {
				fputs("<br><small>", f);
				h(f, d->posture.detail);
				fputs("</small>", f);
			}
			fputs("</td></tr>\n", f);
		} else {
			fputs("<td>not checked (dns-check)</td></tr>\n", f);
		}
	}
	fputs("</table>\n<h2>Suspensions in force</h2><table id='suspensions'><tr><th>identity</th>"
	      "<th>since</th><th>until</th><th>by</th><th>ticket</th><th>reason</th></tr>\n", f);
	for (size_t i = 0; i < rep->n_susp; i++) {
		const struct state_suspension *s = &rep->susp[i];
		fputs("<tr>", f);
		td(f, s->id);
		td(f, out_time(s->since, tb));
		td(f, s->until ? out_time(s->until, tb) : "until reinstated");
		td(f, s->by);
		td(f, s->ticket);
		td(f, s->reason);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n<h2>Waivers in force</h2><table id='waivers'><tr><th>identity</th>"
	      "<th>check or signal</th><th>until</th><th>requested by</th><th>approved by</th>"
	      "<th>ticket</th><th>reason</th></tr>\n",
	      f);
	for (size_t i = 0; i < rep->n_wvr; i++) {
		const struct state_waiver *w = &rep->wvr[i];
		char what[STATE_WAIVER_KIND_MAX + STATE_WAIVER_NAME_MAX + 2];
		snprintf(what, sizeof(what), "%s %s", w->kind, w->name);
		fputs("<tr>", f);
		td(f, w->id);
		td(f, what);
		td(f, out_time(w->until, tb));
		td(f, w->by);
		td(f, w->approver);
		td(f, w->ticket);
		td(f, w->reason);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n<h2>Suspensions, reinstatements and changes of the period</h2>"
	      "<table id='audit'><tr><th>seq</th><th>time</th><th>action</th><th>identity</th>"
	      "<th>actor</th><th>ticket</th><th>reason</th></tr>\n", f);
	for (size_t i = 0; i < rep->n_audit; i++) {
		const struct state_audit *a = &rep->audit[i];
		fprintf(f, "<tr><td>%lld</td>", a->seq);
		td(f, out_time(a->ts, tb));
		td(f, a->action);
		td(f, a->identity);
		td(f, a->actor);
		td(f, a->ticket);
		td(f, a->reason);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n<h2>Control mapping</h2><table id='controls'><tr><th>finding</th>"
	      "<th>what it means</th><th>OWASP NHI Top 10 (2025)</th><th>NIST CSF 2.0</th>"
	      "<th>OWASP Agentic Applications (2026)</th><th>found</th></tr>\n", f);
	for (size_t i = 0; i < finding_n_rules; i++) {
		const struct finding_rule *ru = &finding_rules[i];
		size_t n = 0;
		for (size_t k = 0; k < rep->findings.n; k++)
			n += rep->findings.v[k].rule == ru;
		fprintf(f, "<tr><td>%s</td>", ru->id);
		td(f, ru->title);
		td(f, ru->nhi);
		td(f, ru->csf);
		td(f, ru->agentic);
		fprintf(f, "<td>%zu</td></tr>\n", n);
	}
	fputs("</table>\n</body></html>\n", f);
}
