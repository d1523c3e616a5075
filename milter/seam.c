/*
 * seam.c - the libmilter calls of mlfi.c, or their test doubles (see
 * seam.h). The test side only records: bounded copies into struct
 * seam_test, truncated silently (tests compare short values).
 *
 * Memory: nothing allocated. Input: what the callbacks pass (header values
 * may carry client bytes; they are copied, never interpreted).
 */
#include "config.h"

#include <string.h>

#include "base/util.h"
#include "milter/seam.h"

bool seam_testmode;

/* The test context behind ctx. */
static struct seam_test *
tctx(SMFICTX *ctx)
{
	return (struct seam_test *)(void *)ctx;
}

/* Connection-private pointer. */
void *
seam_getpriv(SMFICTX *ctx)
{
	return seam_testmode ? tctx(ctx)->priv : smfi_getpriv(ctx);
}

/* Set the connection-private pointer. */
int
seam_setpriv(SMFICTX *ctx, void *priv)
{
	if (!seam_testmode)
		return smfi_setpriv(ctx, priv);
	tctx(ctx)->priv = priv;
	return MI_SUCCESS;
}

/* A macro's value, NULL when absent. */
const char *
seam_getsymval(SMFICTX *ctx, const char *name)
{
	if (!seam_testmode)
		return smfi_getsymval(ctx, (char *)name);
	const char *const *m = tctx(ctx)->macros;
	for (size_t i = 0; m != NULL && m[i] != NULL && m[i + 1] != NULL; i += 2)
		if (strcmp(m[i], name) == 0)
			return m[i + 1];
	return NULL;
}

/* Ask the MTA for macros at a stage (nothing to record in test mode). */
int
seam_setsymlist(SMFICTX *ctx, int stage, const char *macros)
{
	return seam_testmode ? MI_SUCCESS : smfi_setsymlist(ctx, stage, (char *)macros);
}

/* The SMTP reply for a refusal. */
int
seam_setreply(SMFICTX *ctx, const char *rcode, const char *xcode, const char *text)
{
	if (!seam_testmode)
		return smfi_setreply(ctx, (char *)rcode, (char *)xcode, (char *)text);
	struct seam_test *t = tctx(ctx);
	t->n_replies++;
	bw_strlcpy(t->rcode, rcode, sizeof(t->rcode));
	bw_strlcpy(t->xcode, xcode ? xcode : "", sizeof(t->xcode));
	bw_strlcpy(t->text, text ? text : "", sizeof(t->text));
	return MI_SUCCESS;
}

/* Record one header change in test mode. */
static int
record_hdr(SMFICTX *ctx, char op, int idx, const char *name, const char *value)
{
	struct seam_test *t = tctx(ctx);
	if (t->fail_headers || t->n_hdrs == SEAM_HDRS_MAX)
		return MI_FAILURE;
	struct seam_hdr *h = &t->hdrs[t->n_hdrs++];
	h->op = op;
	h->idx = idx;
	bw_strlcpy(h->name, name, sizeof(h->name));
	bw_strlcpy(h->value, value ? value : "", sizeof(h->value));
	return MI_SUCCESS;
}

/* Append a header. */
int
seam_addheader(SMFICTX *ctx, const char *name, const char *value)
{
	if (!seam_testmode)
		return smfi_addheader(ctx, (char *)name, (char *)value);
	return record_hdr(ctx, 'a', 0, name, value);
}

/* Change (NULL value: delete) the idx-th occurrence of a header. */
int
seam_chgheader(SMFICTX *ctx, const char *name, int idx, const char *value)
{
	if (!seam_testmode)
		return smfi_chgheader(ctx, (char *)name, idx, (char *)value);
	return record_hdr(ctx, 'c', idx, name, value);
}

/* Insert a header at position idx. */
int
seam_insheader(SMFICTX *ctx, int idx, const char *name, const char *value)
{
	if (!seam_testmode)
		return smfi_insheader(ctx, idx, (char *)name, (char *)value);
	return record_hdr(ctx, 'i', idx, name, value);
}

/* Put the message on hold. */
int
seam_quarantine(SMFICTX *ctx, const char *reason)
{
	if (!seam_testmode)
		return smfi_quarantine(ctx, (char *)reason);
	struct seam_test *t = tctx(ctx);
	if (t->fail_quarantine)
		return MI_FAILURE;
	t->quarantined = true;
	bw_strlcpy(t->reason, reason, sizeof(t->reason));
	return MI_SUCCESS;
}
