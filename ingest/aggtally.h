/*
 * aggtally.h - the rows of a DMARC aggregate report matched against the
 * registry: each row's header_from to the identity whose From domains
 * name it (the one that lists the row's source IP among its egress_ips
 * first), else its source IP to the one identity listing it; a row whose
 * source IP is neither in relay.egress_ips nor in any identity's
 * egress_ips comes from a sending path nobody registered: a shadow sender.
 * Shadow rows are counted apart, never against an identity's own mail.
 */
#ifndef BW_INGEST_AGGTALLY_H
#define BW_INGEST_AGGTALLY_H

#include <stdint.h>

#include "ingest/aggregate.h"
#include "registry/cidr.h"
#include "registry/registry.h"

#define AGG_TALLY_IDS_MAX 64 /* identities tallied apart per report; more go to "other" */
#define AGG_SHADOW_MAX 32    /* distinct shadow (IP, domain) pairs kept per report */
#define AGG_OWNED_MAX 1024   /* egress addresses compared per report */

struct agg_counts {
	uint64_t rows, messages, dkim_fail, spf_fail, dmarc_fail;
};

struct agg_idtally {
	const struct bw_identity *id;
	bool by_ip;   /* some row attributed by source IP alone */
	bool by_from; /* some row attributed by header_from */
	struct agg_counts c;
};

struct agg_shadow {
	char ip[AGG_IP_MAX];
	char domain[AGG_TEXT_MAX];	 /* header_from, lowercased */
	const struct bw_identity *owner; /* identity naming the domain, or NULL */
	uint64_t rows, messages;
};

struct agg_tally {
	const struct registry *r;
	struct cidr_addr owned[AGG_OWNED_MAX];		   /* relay + every identity's egress_ips */
	const struct bw_identity *owned_by[AGG_OWNED_MAX]; /* NULL: the relay's */
	size_t n_owned;
	struct agg_counts all;		/* every row */
	struct agg_counts unattributed; /* ours by IP, but no identity */
	struct agg_counts other;	/* identities past AGG_TALLY_IDS_MAX */
	struct agg_counts shadow;	/* rows from addresses nobody owns */
	struct agg_idtally ids[AGG_TALLY_IDS_MAX];
	size_t n_ids;
	struct agg_shadow shadows[AGG_SHADOW_MAX];
	size_t n_shadows;
	uint64_t shadow_pairs; /* distinct pairs, also those not kept */
};

/* Start a tally over r (the tally keeps r's pointers: r must outlive it). */
void agg_tally_init(struct agg_tally *t, const struct registry *r);
/* agg_row_fn: count one row (arg is the tally). Never fails. */
int agg_tally_row(const struct agg_row *row, void *arg, char *why, size_t whylen);

#endif
