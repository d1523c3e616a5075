/*
 * mlfi.h - the libmilter callback table and the process context it uses.
 */
#ifndef BW_MLFI_H
#define BW_MLFI_H

#include <libmilter/mfapi.h>

#include "lib/state.h"

extern struct smfiDesc mlfi_desc;

/* Process-wide handles the callbacks use (set up by main before smfi_main). */
void mlfi_set_state(struct state *s);

#endif
