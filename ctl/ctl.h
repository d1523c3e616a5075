/*
 * ctl.h - bulkwardenctl's shared context and the verbs implemented outside
 * ctl/main.c. Exit codes: 0 ok, 1 the check/verify found problems or the
 * operation failed, 2 usage error.
 */
#ifndef BW_CTL_H
#define BW_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include "state/state.h"
#include "registry/registry.h"

#define CTL_OK 0
#define CTL_FAIL 1
#define CTL_USAGE 2

struct ctl {
	const char *conf_path;
	bool json;             /* --json */
	struct registry *reg;  /* loaded by ctl_registry() */
	struct state *st;      /* opened by ctl_state() */
};

/* The registry, loaded on first use; prints every config error and exits
 * CTL_FAIL when it does not load. */
struct registry *ctl_registry(struct ctl *c);
/* The state store, opened on first use; exits CTL_FAIL with a clear
 * message when it cannot be opened. Notes each identity's last
 * security-relevant change into ctl_registry()'s snapshot (with
 * policy.require_reapproval an identity changed since its approval is
 * pending in every verb). */
struct state *ctl_state(struct ctl *c);
/* The same, but NULL (err filled) instead of exiting: for ingest, whose
 * caller (an MTA) must see EX_TEMPFAIL and retry. */
struct state *ctl_state_try(struct ctl *c, char *err, size_t errlen);

/* keygen ID [--algorithm rsa|ed25519] [--bits N] [--selector S] (ctl/keygen.c) */
int ctl_keygen(struct ctl *c, int argc, char **argv);
/* dns-check [ID] (ctl/dnscheck.c) */
int ctl_dns_check(struct ctl *c, int argc, char **argv);

#endif
