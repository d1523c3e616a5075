/*
 * aggtally.c - attribute the rows of an aggregate report to identities
 * and find shadow senders (aggtally.h).
 *
 * Cost: each row compares its address with the owned addresses (at most
 * AGG_OWNED_MAX, typically a handful) and its domain with each identity's
 * From domains; a 100,000-row report over 100 identities is ~10^7 cheap
 * comparisons. The set of distinct shadow pairs is kept exactly for the
 * first AGG_SHADOW_MAX; past that, a pair is counted as new unless it is
 * one of those kept, so shadow_pairs is an upper bound then.
 * Memory: all in struct agg_tally (the caller's); pointers into the
 * registry snapshot. Untrusted input: the row's strings (bounded, already
 * checked by aggregate.c: source_ip is an address, header_from non-empty).
 */
#include "config.h"

#include <string.h>

#include "base/util.h"
#include "ingest/aggtally.h"
#include "registry/domain.h"

/* Remember an owned address (ignored past AGG_OWNED_MAX: said in the header). */
static void
own(struct agg_tally *t, const char *ip, const struct bw_identity *id)
{
	if (t->n_owned < AGG_OWNED_MAX && cidr_parse_addr(ip, &t->owned[t->n_owned]))
		t->owned_by[t->n_owned++] = id;
}

/* Collect the owned addresses: the relay's and each identity's. */
void
agg_tally_init(struct agg_tally *t, const struct registry *r)
{
	memset(t, 0, sizeof(*t));
	t->r = r;
	for (size_t i = 0; i < r->set.n_egress_ips; i++)
		own(t, r->set.egress_ips[i], NULL);
	for (size_t k = 0; k < r->n_ids; k++)
		for (size_t i = 0; i < r->ids[k].n_egress_ips; i++)
			own(t, r->ids[k].egress_ips[i], &r->ids[k]);
}

/* Does identity x send from a? (its own egress_ips, else the relay's) */
static bool
sends_from(const struct agg_tally *t, const struct bw_identity *x, const struct cidr_addr *a)
{
	for (size_t i = 0; i < t->n_owned; i++)
		if (memcmp(&t->owned[i], a, sizeof(*a)) == 0 &&
		    (t->owned_by[i] == x || (t->owned_by[i] == NULL && x->n_egress_ips == 0)))
			return true;
	return false;
}

/* The identity whose From domains name d, preferring one that sends from a. */
static const struct bw_identity *
by_domain(const struct agg_tally *t, const char *d, const struct cidr_addr *a)
{
	const struct bw_identity *first = NULL;
	for (size_t i = 0; i < t->r->n_ids; i++) {
		const struct bw_identity *x = &t->r->ids[i];
		if (!domain_match_list(x->from_domains, x->n_from_domains, d))
			continue;
		if (sends_from(t, x, a))
			return x;
		if (first == NULL)
			first = x;
	}
	return first;
}

/* The one identity listing a among its own egress_ips (NULL: none or several). */
static const struct bw_identity *
by_ip(const struct agg_tally *t, const struct cidr_addr *a, bool *owned)
{
	const struct bw_identity *found = NULL;
	int n = 0;
	*owned = false;
	for (size_t i = 0; i < t->n_owned; i++) {
		if (memcmp(&t->owned[i], a, sizeof(*a)) != 0)
			continue;
		*owned = true;
		if (t->owned_by[i] != NULL && t->owned_by[i] != found) {
			found = t->owned_by[i];
			n++;
		}
	}
	return n == 1 ? found : NULL;
}

/* Add a row's figures to c. */
static void
add(struct agg_counts *c, const struct agg_row *row)
{
	bool dkim_ok = strcmp(row->dkim, "pass") == 0, spf_ok = strcmp(row->spf, "pass") == 0;
	c->rows++;
	c->messages += row->count;
	if (!dkim_ok)
		c->dkim_fail += row->count;
	if (!spf_ok)
		c->spf_fail += row->count;
	if (!dkim_ok && !spf_ok)
		c->dmarc_fail += row->count;
}

/* The tally slot of identity x (NULL when every slot is taken). */
static struct agg_idtally *
slot(struct agg_tally *t, const struct bw_identity *x)
{
	for (size_t i = 0; i < t->n_ids; i++)
		if (t->ids[i].id == x)
			return &t->ids[i];
	if (t->n_ids == AGG_TALLY_IDS_MAX)
		return NULL;
	t->ids[t->n_ids].id = x;
	return &t->ids[t->n_ids++];
}

/* Count a shadow row under its (IP, domain) pair. */
static void
shadow(struct agg_tally *t, const struct agg_row *row, const char *domain,
       const struct bw_identity *owner)
{
	add(&t->shadow, row);
	for (size_t i = 0; i < t->n_shadows; i++) {
		struct agg_shadow *s = &t->shadows[i];
		if (strcmp(s->ip, row->source_ip) == 0 && strcmp(s->domain, domain) == 0) {
			s->rows++;
			s->messages += row->count;
			return;
		}
	}
	t->shadow_pairs++;
	if (t->n_shadows == AGG_SHADOW_MAX)
		return;
	struct agg_shadow *s = &t->shadows[t->n_shadows++];
	bw_strlcpy(s->ip, row->source_ip, sizeof(s->ip));
	bw_strlcpy(s->domain, domain, sizeof(s->domain));
	s->owner = owner;
	s->rows = 1;
	s->messages = row->count;
}

/* Attribute one row, or count it as a shadow sender (aggtally.h). */
int
agg_tally_row(const struct agg_row *row, void *arg, char *why, size_t whylen)
{
	struct agg_tally *t = arg;
	struct cidr_addr a;
	char domain[AGG_TEXT_MAX];
	bool owned;
	(void)why, (void)whylen;
	if (!cidr_parse_addr(row->source_ip, &a))
		memset(&a, 0xff, sizeof(a)); /* aggregate.c checked it; never owned */
	if (!domain_normalize(row->header_from, strlen(row->header_from), domain))
		bw_strlcpy(domain, row->header_from, sizeof(domain));
	add(&t->all, row);
	const struct bw_identity *x = by_domain(t, domain, &a);
	const struct bw_identity *ipx = by_ip(t, &a, &owned);
	if (!owned) {
		shadow(t, row, domain, x);
		return 0;
	}
	if (x == NULL)
		x = ipx;
	if (x == NULL) {
		add(&t->unattributed, row);
		return 0;
	}
	struct agg_idtally *s = slot(t, x);
	if (s == NULL) {
		add(&t->other, row);
		return 0;
	}
	if (x == ipx && !domain_match_list(x->from_domains, x->n_from_domains, domain))
		s->by_ip = true;
	else
		s->by_from = true;
	add(&s->c, row);
	return 0;
}
