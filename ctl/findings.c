/*
 * findings.c - governance findings (findings.h): the rule table with its
 * framework mapping, and the evaluation over a registry snapshot.
 *
 * Memory: findings_eval() fills a growing array owned by the caller
 * (findings_free). Per-domain and per-key grouping uses sorted arrays of
 * pointers into the snapshot, so the cost is O(n log n) in the number of
 * identities, keys and domains. Untrusted input: the registry has been
 * validated by the loader; key files are only stat()ed, never read here.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/util.h"
#include "ctl/findings.h"

#define DAY 86400LL

/* One row per finding: the severity, and the controls it evidences or
 * breaks. NHI: OWASP Non-Human Identities Top 10 (2025); CSF: NIST
 * Cybersecurity Framework 2.0; agentic: OWASP Top 10 for Agentic
 * Applications (2026), for senders that act without a person. */
const struct finding_rule finding_rules[] = {
    {"missing-owner", SEV_HIGH, "a required owner role is missing", "NHI1:2025", "GV.RR-02;PR.AA-01",
     ""},
    {"missing-approval", SEV_HIGH, "no approval (by, date, ticket)", "NHI1:2025", "GV.RR-02;PR.AA-05",
     "ASI03:2026"},
    {"missing-decommission", SEV_MEDIUM, "no decommission date", "NHI1:2025;NHI7:2025", "ID.AM-08",
     ""},
    {"decommission-soon", SEV_LOW, "decommission date within 30 days", "NHI1:2025", "ID.AM-08", ""},
    {"retired-configured", SEV_LOW, "retired identity still in the registry", "NHI1:2025",
     "ID.AM-08;PR.AA-01", ""},
    {"approver-is-owner", SEV_MEDIUM, "the approver is also an owner (no separation of duties)", "",
     "PR.AA-05;GV.RR-02", ""},
    {"approval-stale", SEV_LOW, "approval older than the review interval", "NHI1:2025",
     "PR.AA-05;GV.OV-03", ""},
    {"shared-dkim-key", SEV_HIGH, "one DKIM key file used by several identities", "NHI9:2025;NHI2:2025",
     "PR.AA-01;PR.AA-02", "ASI03:2026"},
    {"key-rotation-age", SEV_MEDIUM, "DKIM key older than its rotation age", "NHI7:2025",
     "PR.AA-01;PR.DS-01", ""},
    {"dkim-not-aligned", SEV_MEDIUM, "DKIM d= not aligned with any From domain", "", "PR.PS-01", ""},
    {"login-without-network", SEV_MEDIUM, "a SASL login with no network binding", "NHI4:2025;NHI5:2025",
     "PR.AA-02;PR.AA-03", "ASI03:2026"},
    {"wide-network", SEV_LOW, "a network binding wider than /16 (IPv6 /48)", "NHI5:2025", "PR.AA-05",
     "ASI03:2026"},
    {"vendor-unverified", SEV_MEDIUM, "a vendor identity not in dkim_mode verify", "NHI3:2025",
     "GV.SC-05;GV.SC-07", "ASI03:2026"},
    {"monitor-mode", SEV_LOW, "identity in monitor mode: its checks are not enforced", "NHI5:2025",
     "PR.PS-01", "ASI10:2026"},
    {"dormant", SEV_MEDIUM,
     "active identity that sent nothing for policy.governance.dormant_days (default 90)",
     "NHI1:2025",
     "ID.AM-08;DE.CM-09", ""},
    {"changed-since-approval", SEV_HIGH,
     "security-relevant fields changed after the approval date (re-approve)", "NHI5:2025",
     "PR.PS-01;PR.AA-05", "ASI03:2026"},
    {"domain-shared-owners", SEV_MEDIUM, "a domain used by identities with different owners",
     "NHI9:2025", "GV.RR-02;ID.AM-08", ""},
    {"domain-unused", SEV_LOW,
     "a registry domain no identity sent for in policy.governance.dormant_days: retire it",
     "NHI1:2025", "ID.AM-08", ""},
    {"waiver-near-expiry", SEV_LOW,
     "a waiver ends within 7 days: fix what it excuses, or renew it with a new approval", "",
     "ID.RA-07;GV.OV-03", ""},
    {"domain-dns-posture", SEV_MEDIUM,
     "a registry domain's SPF, DKIM, DMARC or DNSSEC in the DNS disagrees with the registry",
     "NHI4:2025", "PR.PS-01;ID.RA-01", ""},
};
const size_t finding_n_rules = sizeof(finding_rules) / sizeof(finding_rules[0]);

const char *
finding_sev_name(enum finding_sev s)
{
	static const char *const names[] = {"info", "low", "medium", "high"};
	return (unsigned)s < 4 ? names[s] : "?";
}

static const struct finding_rule *
rule(const char *id)
{
	for (size_t i = 0; i < finding_n_rules; i++)
		if (strcmp(finding_rules[i].id, id) == 0)
			return &finding_rules[i];
	abort(); /* a rule id missing from the table is a programming error */
}

static int add(struct finding_list *l, const char *rid, const char *identity, const char *subject,
	       const char *fmt, ...) BW_PRINTF(5, 6);

/* Append one finding. */
static int
add(struct finding_list *l, const char *rid, const char *identity, const char *subject,
    const char *fmt, ...)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct finding *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	struct finding *f = &l->v[l->n++];
	va_list ap;
	f->rule = rule(rid);
	bw_strlcpy(f->identity, identity ? identity : "", sizeof(f->identity));
	bw_strlcpy(f->subject, subject ? subject : "", sizeof(f->subject));
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
	l->by_sev[f->rule->sev]++;
	return 0;
}

/* true when the identity has an owner with this role. */
static bool
has_role(const struct bw_identity *id, const char *role)
{
	for (size_t i = 0; i < id->n_owners; i++)
		if (strcmp(id->owners[i].role, role) == 0)
			return true;
	return false;
}

/* true when d is f or a parent domain of f, or f a parent of d (relaxed
 * alignment without a Public Suffix List: never a false "aligned"). */
static bool
related(const char *d, const char *f)
{
	size_t dl = strlen(d), fl = strlen(f);
	if (dl == fl)
		return strcasecmp(d, f) == 0;
	const char *lng = dl > fl ? d : f, *sht = dl > fl ? f : d;
	size_t ll = dl > fl ? dl : fl, sl = dl > fl ? fl : dl;
	return lng[ll - sl - 1] == '.' && strcasecmp(lng + ll - sl, sht) == 0;
}

/* Per-identity rules that need only the registry and the clock. */
static int
eval_identity(const struct registry *r, const struct bw_identity *id, long long now,
	      struct finding_list *l)
{
	const char *why;
	enum bw_life life = registry_lifecycle(id, now, &why);
	int rc = 0;

	for (size_t i = 0; i < r->set.n_require_owners; i++)
		if (!has_role(id, r->set.require_owners[i]))
			rc |= add(l, "missing-owner", id->id, r->set.require_owners[i],
				  "no \"%s\" owner", r->set.require_owners[i]);
	if (id->approval_by == NULL || id->approval_date == 0)
		rc |= add(l, "missing-approval", id->id, "", "no approval recorded");
	else {
		for (size_t i = 0; i < id->n_owners; i++)
			if (strcasecmp(id->owners[i].addr, id->approval_by) == 0)
				rc |= add(l, "approver-is-owner", id->id, id->approval_by,
					  "approved by %s, who is its %s owner", id->approval_by,
					  id->owners[i].role);
		long long age = (now - id->approval_date) / DAY;
		if (age > FINDING_REVIEW_DAYS)
			rc |= add(l, "approval-stale", id->id, "", "approved %lld days ago (review every %d)",
				  age, FINDING_REVIEW_DAYS);
	}
	if (id->decommission == 0)
		rc |= add(l, "missing-decommission", id->id, "", "no lifecycle.decommission date");
	else if (life == BW_LIFE_ACTIVE && id->decommission - now < FINDING_DECOMMISSION_SOON_DAYS * DAY)
		rc |= add(l, "decommission-soon", id->id, "", "decommissioned in %lld days",
			  (id->decommission - now) / DAY);
	if (life == BW_LIFE_RETIRED)
		rc |= add(l, "retired-configured", id->id, "", "%s", why ? why : "retired");
	if (id->n_logins > 0 && id->n_networks == 0)
		rc |= add(l, "login-without-network", id->id, id->logins[0],
			  "login %s may send from any address", id->logins[0]);
	for (size_t i = 0; i < id->n_networks; i++) {
		const struct cidr *c = &id->networks[i];
		/* IPv4 lives in the mapped space ::ffff:0:0/96 */
		bool v4 = c->len >= 96 && c->addr.b[10] == 0xff && c->addr.b[11] == 0xff;
		unsigned bits = v4 ? c->len - 96 : c->len;
		if ((v4 && bits < FINDING_WIDE_V4_PREFIX) || (!v4 && bits < FINDING_WIDE_V6_PREFIX))
			rc |= add(l, "wide-network", id->id, "", "a network of /%u", bits);
	}
	if (id->platform != NULL && strcmp(id->platform, "in-house") != 0 &&
	    id->dkim_mode != BW_DKIM_VERIFY)
		rc |= add(l, "vendor-unverified", id->id, id->platform,
			  "platform %s signs as us without dkim_mode = \"verify\"", id->platform);
	if (id->mode == BW_MODE_MONITOR || r->set.mode == BW_MODE_MONITOR)
		rc |= add(l, "monitor-mode", id->id, "", "%s monitor mode",
			  id->mode == BW_MODE_MONITOR ? "identity in" : "registry in");
	for (size_t k = 0; k < id->n_dkim; k++) {
		const struct bw_dkim_key *key = &id->dkim[k];
		bool aligned = false;
		const char *const *fd = id->n_from_domains ? id->from_domains : id->envelope_domains;
		size_t nf = id->n_from_domains ? id->n_from_domains : id->n_envelope_domains;
		for (size_t f = 0; f < nf && !aligned; f++) {
			const char *dom = fd[f][0] == '*' && fd[f][1] == '.' ? fd[f] + 2 : fd[f];
			aligned = related(key->domain, dom);
		}
		if (!aligned)
			rc |= add(l, "dkim-not-aligned", id->id, key->domain,
				  "d=%s s=%s is not a From domain nor a parent or child of one", key->domain,
				  key->selector);
		struct stat st;
		if (key->path != NULL && stat(key->path, &st) == 0 &&
		    (now - (long long)st.st_mtime) / DAY > FINDING_KEY_MAX_AGE_DAYS)
			rc |= add(l, "key-rotation-age", id->id, key->path,
				  "key s=%s d=%s last changed %lld days ago (rotate every %d)", key->selector,
				  key->domain, (now - (long long)st.st_mtime) / DAY, FINDING_KEY_MAX_AGE_DAYS);
	}
	return rc;
}

/* A (name, identity) pair for grouping keys and domains. */
struct pair {
	const char *name;
	size_t idx;
};

static int
pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* true when a and b have the same owners (role and address, in order):
 * compared in place, once per identity of each domain. */
static bool
same_owners(const struct bw_identity *a, const struct bw_identity *b)
{
	if (a == b)
		return true;
	if (a->n_owners != b->n_owners)
		return false;
	for (size_t i = 0; i < a->n_owners; i++)
		if (strcmp(a->owners[i].role, b->owners[i].role) != 0 ||
		    strcmp(a->owners[i].addr, b->owners[i].addr) != 0)
			return false;
	return true;
}

/* Keys shared by identities; domains with several owner sets or unused. */
static int
eval_groups(const struct registry *r, const struct finding_activity *act, long long now,
	    struct finding_list *l)
{
	size_t nk = 0, nd = 0, ik = 0, id_ = 0;
	int rc = 0;
	long long dormant = r->set.dormant_days;
	for (size_t i = 0; i < r->n_ids; i++) {
		nk += r->ids[i].n_dkim;
		nd += r->ids[i].n_envelope_domains + r->ids[i].n_from_domains + r->ids[i].n_dkim;
	}
	struct pair *keys = calloc(nk ? nk : 1, sizeof(*keys));
	struct pair *doms = calloc(nd ? nd : 1, sizeof(*doms));
	if (keys == NULL || doms == NULL) {
		free(keys);
		free(doms);
		return -1;
	}
	for (size_t i = 0; i < r->n_ids; i++) {
		const struct bw_identity *id = &r->ids[i];
		for (size_t k = 0; k < id->n_dkim; k++) {
			if (id->dkim[k].path != NULL)
				keys[ik++] = (struct pair){id->dkim[k].path, i};
			doms[id_++] = (struct pair){id->dkim[k].domain, i};
		}
		for (size_t k = 0; k < id->n_envelope_domains; k++)
			doms[id_++] = (struct pair){id->envelope_domains[k], i};
		for (size_t k = 0; k < id->n_from_domains; k++)
			doms[id_++] = (struct pair){id->from_domains[k], i};
	}
	qsort(keys, ik, sizeof(*keys), pair_cmp);
	qsort(doms, id_, sizeof(*doms), pair_cmp);
	for (size_t a = 0, b; a < ik; a = b) {
		for (b = a + 1; b < ik && strcmp(keys[b].name, keys[a].name) == 0; b++)
			;
		size_t distinct = 0;
		for (size_t x = a; x < b; x++)
			distinct += x == a || keys[x].idx != keys[x - 1].idx;
		if (distinct > 1)
			for (size_t x = a; x < b; x++)
				if (x == a || keys[x].idx != keys[x - 1].idx)
					rc |= add(l, "shared-dkim-key", r->ids[keys[x].idx].id, keys[a].name,
						  "key file shared by %zu identities", distinct);
	}
	for (size_t a = 0, b; a < id_; a = b) {
		bool differ = false, used = act == NULL;
		for (b = a + 1; b < id_ && strcmp(doms[b].name, doms[a].name) == 0; b++)
			;
		for (size_t x = a; x < b; x++) {
			differ = differ || !same_owners(&r->ids[doms[a].idx], &r->ids[doms[x].idx]);
			if (act != NULL && act[doms[x].idx].last_seen > now - dormant * DAY)
				used = true;
		}
		if (differ)
			rc |= add(l, "domain-shared-owners", "", doms[a].name,
				  "%s is used by identities with different owners", doms[a].name);
		if (!used)
			rc |= add(l, "domain-unused", "", doms[a].name,
				  "no message for %s in %lld days", doms[a].name, dormant);
	}
	free(keys);
	free(doms);
	return rc;
}

static int
finding_cmp(const void *a, const void *b)
{
	const struct finding *x = a, *y = b;
	if (x->rule->sev != y->rule->sev)
		return x->rule->sev > y->rule->sev ? -1 : 1;
	int c = strcmp(x->identity, y->identity);
	return c ? c : strcmp(x->rule->id, y->rule->id);
}

int
findings_eval(const struct registry *r, const struct finding_activity *act, long long now,
	      struct finding_list *out)
{
	int rc = 0;
	long long dormant = r->set.dormant_days;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < r->n_ids; i++) {
		const struct bw_identity *id = &r->ids[i];
		rc |= eval_identity(r, id, now, out);
		if (act != NULL && registry_lifecycle(id, now, NULL) == BW_LIFE_ACTIVE &&
		    act[i].last_seen <= now - dormant * DAY &&
		    (id->activate > id->approval_date ? id->activate : id->approval_date) <=
			now - dormant * DAY)
			rc |= add(out, "dormant", id->id, "",
				  act[i].last_seen ? "last message %lld days ago" : "no message in %lld days",
				  act[i].last_seen ? (now - act[i].last_seen) / DAY
						   : dormant);
	}
	for (size_t i = 0; act != NULL && i < r->n_ids; i++) {
		const struct bw_identity *id = &r->ids[i];
		/* by day: an approval dated the day of the change covers it */
		if (registry_changed_since_approval(id, act[i].last_change))
			rc |= add(out, "changed-since-approval", id->id, "",
				  "changed %lld days after its approval (bulkwardenctl audit: config-change)",
				  (act[i].last_change - id->approval_date) / DAY);
	}
	rc |= eval_groups(r, act, now, out);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), finding_cmp);
	return rc ? -1 : 0;
}

void
findings_free(struct finding_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
findings_waivers(struct finding_list *l, const struct state_waiver *w, size_t n, long long now)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		if (w[i].ended == 0 && w[i].until > now &&
		    w[i].until - now <= FINDING_WAIVER_SOON_DAYS * DAY)
			rc |= add(l, "waiver-near-expiry", w[i].id, w[i].name,
				  "waiver %lld of %s %s ends in %lld h (ticket %s, approved by %s)",
				  w[i].wid, w[i].kind, w[i].name, (w[i].until - now) / 3600, w[i].ticket,
				  w[i].approver);
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), finding_cmp);
	return rc ? -1 : 0;
}

int
findings_domain_posture(struct finding_list *l, const char *domain, const char *detail)
{
	int rc = add(l, "domain-dns-posture", "", domain, "%s", detail);
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), finding_cmp);
	return rc;
}
