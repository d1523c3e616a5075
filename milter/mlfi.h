/*
 * mlfi.h - the libmilter callback table and the process context it uses.
 */
#ifndef BW_MLFI_H
#define BW_MLFI_H

#include <libmilter/mfapi.h>
#include <stdbool.h>

#include "state/overlay.h"
#include "registry/registry.h"

extern struct smfiDesc mlfi_desc;

/* The runtime view the callbacks read (set up by main before smfi_main). */
void mlfi_set_overlay(struct overlay *o);

/* The milter listens on TCP (inet:/inet6:), not a unix socket: the
 * negotiation then keeps the DATA step (see mlfi_negotiate). */
void mlfi_set_tcp(bool tcp);

/* Build what a new registry snapshot needs at message time (resolver and
 * SPF checker) and attach it to r. -1 with err on failure. */
int mlfi_runtime_attach(struct registry *r, char *err, size_t errlen);

#endif
