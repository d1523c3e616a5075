/*
 * seam.h - every libmilter call the callbacks make goes through here, so
 * tests drive mlfi.c in-process without an MTA (OpenARC's arcf_getpriv():
 * testmode ? test_getpriv(ctx) : smfi_getpriv(ctx)). In test mode the
 * SMFICTX pointer is a struct seam_test that records what the callbacks
 * asked of the MTA; otherwise each function is the smfi_* call itself.
 */
#ifndef BW_SEAM_H
#define BW_SEAM_H

#include <libmilter/mfapi.h>
#include <stdbool.h>
#include <stddef.h>

#define SEAM_TEXT_MAX 1024 /* reply text or quarantine reason kept */
#define SEAM_HDR_MAX 2048  /* header value kept (a DKIM-Signature fits) */
#define SEAM_HDRS_MAX 16   /* header changes recorded per message */

/* Set once by a test before it calls any callback. */
extern bool seam_testmode;

/* One header change: 'a' add, 'c' change (value "" deletes), 'i' insert. */
struct seam_hdr {
	char op;
	int idx;
	char name[64];
	char value[SEAM_HDR_MAX];
};

/* What an SMFICTX points to in test mode. */
struct seam_test {
	void *priv;
	const char *const *macros; /* name, value, ..., NULL: what getsymval sees */
	bool fail_quarantine;	   /* the "MTA" refuses smfi_quarantine */
	bool fail_headers;	   /* ... and header changes */
	/* recorded */
	unsigned n_replies;
	char rcode[4], xcode[16], text[SEAM_TEXT_MAX];
	bool quarantined;
	char reason[SEAM_TEXT_MAX];
	size_t n_hdrs;
	struct seam_hdr hdrs[SEAM_HDRS_MAX];
};

void *seam_getpriv(SMFICTX *ctx);
int seam_setpriv(SMFICTX *ctx, void *priv);
/* The macro's value, or NULL when the MTA did not send it. */
const char *seam_getsymval(SMFICTX *ctx, const char *name);
int seam_setsymlist(SMFICTX *ctx, int stage, const char *macros);
int seam_setreply(SMFICTX *ctx, const char *rcode, const char *xcode, const char *text);
int seam_addheader(SMFICTX *ctx, const char *name, const char *value);
int seam_chgheader(SMFICTX *ctx, const char *name, int idx, const char *value);
int seam_insheader(SMFICTX *ctx, int idx, const char *name, const char *value);
int seam_quarantine(SMFICTX *ctx, const char *reason);

#endif
