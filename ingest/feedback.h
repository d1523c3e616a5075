/*
 * feedback.h - what mailbox providers send back (SPEC §9), parsed into
 * facts: ARF complaint reports (RFC 5965) and delivery status notifications
 * (RFC 3464), with the identifying fields of the original message they
 * carry (Feedback-ID, DKIM d=/s=, envelope and From domains). MIME is
 * parsed by GMime; this module only picks fields out of what GMime gives.
 *
 * Every input is hostile: the whole report is bounded by INGEST_MAX_BYTES,
 * every copied field is bounded and NUL-terminated, recipients past
 * INGEST_RCPT_MAX are counted, not kept, and nothing here allocates beyond
 * GMime's own parse of the bounded input.
 */
#ifndef BW_INGEST_FEEDBACK_H
#define BW_INGEST_FEEDBACK_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/registry.h"

#define INGEST_MAX_BYTES (8u << 20) /* a report larger than this is refused */
#define INGEST_RCPT_MAX 64	    /* DSN recipients kept (all are counted) */
#define INGEST_ADDR_MAX 320
#define INGEST_FIELD_MAX 256

enum ingest_kind { INGEST_UNKNOWN, INGEST_ARF, INGEST_DSN };
enum ingest_by { INGEST_BY_NONE, INGEST_BY_FEEDBACK_ID, INGEST_BY_DKIM, INGEST_BY_ENVELOPE,
		 INGEST_BY_FROM };

struct ingest_rcpt {
	char addr[INGEST_ADDR_MAX];
	char status[16]; /* "5.1.1" */
	bool hard;	 /* permanent failure (5.x.x, Action failed) */
};

struct ingest_report {
	enum ingest_kind kind;
	char feedback_type[32];		/* ARF: abuse, fraud, ... */
	char feedback_id[INGEST_FIELD_MAX]; /* of the original message */
	char dkim_d[INGEST_FIELD_MAX], dkim_s[64];
	/* the original's envelope sender; a DSN without it: the domain the
	 * DSN was sent to (X-Original-To, else To), a VERP address */
	char mail_from_domain[INGEST_FIELD_MAX];
	char from_domain[INGEST_FIELD_MAX];      /* the original's header From */
	char original_rcpt[INGEST_ADDR_MAX];     /* ARF: the complaining recipient */
	char original_to[INGEST_ADDR_MAX];       /* the original's To, when one address */
	char source_ip[64];
	struct ingest_rcpt rcpt[INGEST_RCPT_MAX];
	size_t n_rcpt;		/* kept */
	size_t n_hard, n_soft;	/* all DSN recipients, by outcome */
	char digest[65];	/* SHA-256 of the raw report: the same report counts once */
};

/* Parse one report (a whole RFC 5322 message). want INGEST_UNKNOWN: decide
 * from the report-type. Returns 0, or -1 with why (the input is unusable:
 * not a report, truncated MIME, no machine-readable part). */
int ingest_parse(const char *buf, size_t len, enum ingest_kind want, struct ingest_report *out,
		 char *why, size_t whylen);

/* Attribute a parsed report to an identity: the Feedback-ID bulkwarden
 * added, else the DKIM d=/s= of the original, else its envelope domain
 * (of a DSN with no Return-Path of the original: where the DSN went),
 * else its From domain. NULL (and INGEST_BY_NONE) when nothing matches. */
const struct bw_identity *ingest_attribute(const struct registry *r,
					   const struct ingest_report *rep, enum ingest_by *by);

const char *ingest_kind_name(enum ingest_kind k); /* arf | dsn | unknown */
const char *ingest_by_name(enum ingest_by b);	  /* feedback-id | dkim | envelope | from | none */

#endif
