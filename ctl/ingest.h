/*
 * ingest.h - what ctl/ingest.c (the verb, ARF and DSN) and
 * ctl/ingest_agg.c (DMARC aggregate reports) share.
 */
#ifndef BW_CTL_INGEST_H
#define BW_CTL_INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl/verbs.h"

#define INGEST_EX_OK 0
#define INGEST_EX_DATAERR 65  /* EX_DATAERR: unusable report, never retried */
#define INGEST_EX_TEMPFAIL 75 /* EX_TEMPFAIL: not recorded, the MTA retries */

/* One DMARC aggregate report (XML, gzip, zip, or a message carrying one):
 * its new-sending-path audit records, then its feedback event into j and
 * on to the event log (or stdout). Returns an INGEST_EX_* code. */
int ingest_aggregate(struct ctl *c, const char *name, const char *buf, size_t len, struct jbuf *j,
		     bool to_stdout);

/* Whether an ARF report counts as a complaint (not not-spam, not
 * auth-failure). */
struct ingest_report;
bool ingest_is_complaint(const struct ingest_report *rep);
/* Evaluate id's signals after a report counted for it: auto-suspend or
 * threshold-warning, each audit event also written to the event log (or
 * stdout). 0, or -1 with why (the store failed). */
int ingest_enforce(struct state *st, const struct bw_identity *id, struct jbuf *j, bool to_stdout,
		   char *why, size_t whylen);

#endif
