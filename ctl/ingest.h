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

#endif
