/*
 * metrics.h - Prometheus metrics of the milter: decisions by identity,
 * outcome and check, a decision latency histogram per stage, state-store
 * and DNS health, suspended identities, registry revision and load time;
 * served as text exposition on GET /metrics by libmicrohttpd.
 *
 * The per-message hooks (metrics_decision, metrics_store, metrics_dns) are
 * lock-free: relaxed atomic adds into fixed-size static tables, no
 * allocation, no mutex. Cardinality is bounded: at most METRICS_ID_SLOTS
 * identity label values (later ones count under identity="_other"), 5
 * outcomes, BW_CHK__COUNT + 1 checks, METRICS_STAGES stages.
 */
#ifndef BW_METRICS_H
#define BW_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/check.h"
#include "registry/registry.h"

#define METRICS_ID_SLOTS 1024 /* identity label values kept; then "_other" */
#define METRICS_OUTCOMES 5    /* accept quarantine tempfail reject abort */
#define METRICS_STAGES 5      /* mail rcpt eoh eom abort */

/* Count one decision: outcome index (enum policy_outcome: 0 accept ..
 * 4 abort), the deciding check (BW_CHK__COUNT: none), the identity id
 * ("" or NULL: unattributed), the stage name, and the decision latency in
 * microseconds. Lock-free; safe from any thread. */
void metrics_decision(int outcome, enum bw_check check, const char *identity, const char *stage,
		      long long latency_us);

/* A state-store or DNS operation ended: ok or an error, at unix time now. */
void metrics_store(bool ok, long long now);
void metrics_dns(bool ok, long long now);

/* The registry snapshot in use (called at load and each reload). */
void metrics_registry(const char *revision, long long loaded_at, bool per_identity);

/* Identities suspended in the store, as last read (-1: unknown). */
void metrics_suspended(long n);

/* The ids of the identities suspended in the store, as last read (copied;
 * also sets the count). From the state thread, never per message. 0, or -1
 * out of memory (the previous list stays). */
int metrics_suspended_ids(const char *const *ids, size_t n);

/* One signal of one identity as the state thread last computed it. */
struct metrics_signal {
	char identity[BW_ID_MAX + 1];
	int signal;		     /* enum bw_signal */
	int state;		     /* 0 ok, 1 warn, 2 suspend, 3 insufficient-data */
	bool waived;		     /* a waiver covers it */
	double value, warn, suspend; /* the rate and the identity's thresholds */
};
#define METRICS_SIGNAL_STATES 4

/* Replace the signal table with n entries computed at unix time at (copied).
 * Per-identity lines are rendered for the first METRICS_ID_SLOTS identities
 * only; the counts per signal and state cover all n. 0, or -1 out of memory
 * (the previous table stays). */
int metrics_signals(const struct metrics_signal *v, size_t n, long long at);

/* The text exposition (format 0.0.4) into a malloc'ed buffer the caller
 * frees; NULL on allocation failure. */
char *metrics_render(size_t *len);

/* Serve GET /metrics on listen ("ip:port" or "[v6]:port") in libmicrohttpd's
 * own thread. Returns 0, or -1 with a message in err. */
int metrics_start(const char *listen, char *err, size_t errlen);
void metrics_stop(void);

/* Zero every counter (tests). */
void metrics_reset(void);

#endif
