/*
 * mlfi.h - the libmilter callback table and the process context it uses.
 */
#ifndef BW_MLFI_H
#define BW_MLFI_H

#include <libmilter/mfapi.h>
#include <stdbool.h>

#include "state/overlay.h"

extern struct smfiDesc mlfi_desc;

/* The state overlay the callbacks read (set up by main before smfi_main);
 * the configuration comes from milter/runtime.h's current snapshot. */
void mlfi_set_overlay(struct overlay *o);
/* The fleet-wide limits (NULL: none are enforced). */
struct limits;
void mlfi_set_limits(struct limits *l);
/* New sending paths (milter/paths.h; NULL: not checked). */
struct paths;
void mlfi_set_paths(struct paths *p);
/* Volume surges (milter/surge.h; NULL: not checked). */
struct surge;
void mlfi_set_surge(struct surge *s);

/* The milter listens on TCP (inet:/inet6:), not a unix socket: the
 * negotiation then keeps the DATA step (see mlfi_negotiate). */
void mlfi_set_tcp(bool tcp);

#endif
