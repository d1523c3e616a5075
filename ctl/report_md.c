/*
 * report_md.c - the report as Markdown (GitHub-flavoured tables), for a
 * ticket or a wiki page. Untrusted input: every string from the registry
 * or the store is escaped for a table cell (md_cell): '|' and markup
 * characters are backslash-escaped, '<' and '>' become entities, control
 * characters and invalid UTF-8 become U+FFFD, so nothing can end a row,
 * add a column or inject HTML into a renderer.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "ctl/report.h"
#include "ctl/verbs.h"

/* Write s escaped for one table cell; "-" when empty. */
static void
md_cell(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);
	if (n == 0) {
		fputc('-', f);
		return;
	}
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t l = bw_utf8_len(p + i, n - i);
			if (l == 0) {
				fputs("\xef\xbf\xbd", f);
				i++;
			} else {
				fwrite(p + i, 1, l, f);
				i += l;
			}
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			fputs("\xef\xbf\xbd", f);
		else if (c == '<')
			fputs("&lt;", f);
		else if (c == '>')
			fputs("&gt;", f);
		else if (c == '&')
			fputs("&amp;", f);
		else if (strchr("|\\`*_[]#!", c) != NULL) {
			fputc('\\', f);
			fputc(c, f);
		} else
			fputc(c, f);
		i++;
	}
}

static void
md_list(FILE *f, const char *const *v, size_t n)
{
	if (n == 0)
		fputc('-', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		md_cell(f, v[i]);
	}
}

void
report_write_md(const struct report *rep, FILE *f)
{
	char tb[CTL_TIME_MAX], db[16], ob[2048], nb[64];
	const struct registry *r = rep->r;

	fprintf(f, "# bulkwarden governance report\n\n");
	fprintf(f, "- generated: %s\n- period: %s to ", out_time(rep->now, tb),
		report_day_name(rep, 0, db));
	fprintf(f, "%s (%d days)\n- registry: ", report_day_name(rep, rep->days - 1, db), rep->days);
	md_cell(f, rep->conf_path);
	fprintf(f, ", revision %.16s, %zu identities\n", r->revision, r->n_ids);
	fprintf(f, "- audit log: %lld records, chain %s\n", rep->audit_total,
		rep->audit_intact == 0 ? "intact" : "BROKEN");
	fprintf(f, "- findings: %zu high, %zu medium, %zu low\n\n", rep->findings.by_sev[SEV_HIGH],
		rep->findings.by_sev[SEV_MEDIUM], rep->findings.by_sev[SEV_LOW]);

	fprintf(f, "## Findings\n\n| severity | finding | identity | subject | detail | OWASP NHI | "
		   "NIST CSF 2.0 | OWASP Agentic |\n|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < rep->findings.n; i++) {
		const struct finding *x = &rep->findings.v[i];
		fprintf(f, "| %s | %s | ", finding_sev_name(x->rule->sev), x->rule->id);
		md_cell(f, x->identity);
		fputs(" | ", f);
		md_cell(f, x->subject);
		fputs(" | ", f);
		md_cell(f, x->detail);
		fprintf(f, " | %s | %s | %s |\n", x->rule->nhi[0] ? x->rule->nhi : "-", x->rule->csf,
			x->rule->agentic[0] ? x->rule->agentic : "-");
	}

	fprintf(f, "\n## Inventory\n\n| identity | class | purpose | platform | owners | approval | "
		   "lifecycle | decommission | domains | DKIM keys | logins | networks | messages "
		   "| last seen |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < r->n_ids; i++) {
		const struct bw_identity *id = &r->ids[i];
		fputs("| ", f);
		md_cell(f, id->id);
		fprintf(f, " | %s | ", registry_class_name(id->class));
		md_cell(f, id->description);
		fputs(" | ", f);
		md_cell(f, id->platform);
		fputs(" | ", f);
		md_cell(f, report_owners(id, ob, sizeof(ob)));
		fputs(" | ", f);
		md_cell(f, id->approval_by);
		fprintf(f, " %s", id->approval_date ? out_date(id->approval_date, tb) : "");
		fprintf(f, " | %s | %s", registry_life_name(registry_lifecycle(id, rep->now, NULL)),
			id->decommission ? out_date(id->decommission, tb) : "-");
		if (id->decommission)
			fprintf(f, " (%lld days)", report_days_to(rep, id->decommission));
		fputs(" | ", f);
		md_list(f, id->envelope_domains, id->n_envelope_domains);
		fputs(" | ", f);
		for (size_t k = 0; k < id->n_dkim; k++) {
			fputs(k ? ", " : "", f);
			md_cell(f, id->dkim[k].selector);
			fputc('@', f);
			md_cell(f, id->dkim[k].domain);
			fprintf(f, " %s-%d", id->dkim[k].alg == BW_KEY_ED25519 ? "ed25519" : "rsa",
				id->dkim[k].bits);
		}
		fputs(id->n_dkim ? " | " : "- | ", f);
		md_list(f, id->logins, id->n_logins);
		fputs(" | ", f);
		for (size_t k = 0; k < id->n_networks; k++)
			fprintf(f, "%s%s", k ? ", " : "", report_net(&id->networks[k], nb, sizeof(nb)));
		fprintf(f, "%s | %u | %s |\n", id->n_networks ? "" : "-", rep->sum[i].messages,
			rep->act[i].last_seen ? out_date(rep->act[i].last_seen, tb) : "-");
	}

	fprintf(f, "\n## Domains\n\n| domain | used as | identities | last seen | DNS posture "
		   "|\n|---|---|---|---|---|\n");
	for (size_t i = 0; i < rep->n_domains; i++) {
		const struct report_domain *d = &rep->domains[i];
		fputs("| ", f);
		md_cell(f, d->name);
		fprintf(f, " | %s%s%s | ", d->uses & REPORT_USE_ENVELOPE ? "envelope " : "",
			d->uses & REPORT_USE_FROM ? "from " : "", d->uses & REPORT_USE_DKIM ? "dkim" : "");
		for (size_t k = 0; k < d->n; k++) {
			fputs(k ? ", " : "", f);
			md_cell(f, r->ids[rep->dom_ids[d->first + k]].id);
		}
		fprintf(f, " | %s | ", d->last_seen ? out_date(d->last_seen, tb) : "-");
		if (d->posture.checked) {
			char pt[160];
			md_cell(f, dns_posture_text(&d->posture, pt, sizeof(pt)));
			if (d->posture.detail[0]) {
				fputs(": ", f);
				md_cell(f, d->posture.detail);
			}
			fputs(" |\n", f);
		} else {
			fputs("not checked |\n", f);
		}
	}

	fprintf(f, "\n## Traffic per day\n\n| day | messages | accepted | rejected | quarantined | "
		   "tempfailed |\n|---|---|---|---|---|---|\n");
	for (int d = 0; d < rep->days; d++) {
		const struct report_day *t = &rep->totals[d];
		fprintf(f, "| %s | %u | %u | %u | %u | %u |\n", report_day_name(rep, d, db), t->messages,
			t->accepted, t->rejected, t->quarantined, t->tempfailed);
	}

	fprintf(f, "\n## Suspensions in force\n\n| identity | since | until | by | ticket | reason "
		   "|\n|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < rep->n_susp; i++) {
		const struct state_suspension *s = &rep->susp[i];
		fputs("| ", f);
		md_cell(f, s->id);
		fprintf(f, " | %s | ", out_time(s->since, tb));
		fprintf(f, "%s | ", s->until ? out_time(s->until, tb) : "reinstated only");
		md_cell(f, s->by);
		fputs(" | ", f);
		md_cell(f, s->ticket);
		fputs(" | ", f);
		md_cell(f, s->reason);
		fputs(" |\n", f);
	}

	fprintf(f, "\n## Waivers in force\n\n| identity | check or signal | until | requested by | "
		   "approved by | ticket | reason |\n|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < rep->n_wvr; i++) {
		const struct state_waiver *w = &rep->wvr[i];
		fputs("| ", f);
		md_cell(f, w->id);
		fprintf(f, " | %s %s | %s | ", w->kind, w->name, out_time(w->until, tb));
		md_cell(f, w->by);
		fputs(" | ", f);
		md_cell(f, w->approver);
		fputs(" | ", f);
		md_cell(f, w->ticket);
		fputs(" | ", f);
		md_cell(f, w->reason);
		fputs(" |\n", f);
	}

	fprintf(f, "\n## Audit records of the period\n\n| seq | time | action | identity | actor | "
		   "ticket | reason |\n|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < rep->n_audit; i++) {
		const struct state_audit *a = &rep->audit[i];
		fprintf(f, "| %lld | %s | ", a->seq, out_time(a->ts, tb));
		md_cell(f, a->action);
		fputs(" | ", f);
		md_cell(f, a->identity);
		fputs(" | ", f);
		md_cell(f, a->actor);
		fputs(" | ", f);
		md_cell(f, a->ticket);
		fputs(" | ", f);
		md_cell(f, a->reason);
		fputs(" |\n", f);
	}

	fprintf(f, "\n## Control mapping\n\n| finding | severity | OWASP NHI Top 10 (2025) | NIST "
		   "CSF 2.0 | OWASP Agentic (2026) | count |\n|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < finding_n_rules; i++) {
		const struct finding_rule *ru = &finding_rules[i];
		size_t n = 0;
		for (size_t k = 0; k < rep->findings.n; k++)
			n += rep->findings.v[k].rule == ru;
		fprintf(f, "| %s | %s | %s | %s | %s | %zu |\n", ru->id, finding_sev_name(ru->sev),
			ru->nhi[0] ? ru->nhi : "-", ru->csf, ru->agentic[0] ? ru->agentic : "-", n);
	}
}
