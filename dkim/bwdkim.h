/*
 * bwdkim.h - DKIM for one message, bound to its sender identity: sign with
 * the identity's registered keys (dual RSA-SHA256 + Ed25519-SHA256,
 * relaxed/relaxed) or, in dkim_mode "verify", check that a vendor's
 * signature by a registered key verifies against the registered public key
 * (no DNS) and aligns with the From domain. Built on libopendkim.
 *
 * Process setup is bwdkey.h's (bwdkey_init(), bwdkey_registry_load() per
 * snapshot). Per message, from the milter callbacks:
 *
 *   envfrom/eoh  m = bwdkim_sign_begin(id, &opts, err, len)     (sign mode)
 *                m = bwdkim_verify_begin(id, &opts, err, len)   (verify mode)
 *   header       bwdkim_header(m, name, value)   every header, in order
 *   eoh          bwdkim_eoh(m)      (sign: also feeds our own Feedback-ID)
 *   body         bwdkim_body(m, chunk, len)      streamed, never buffered
 *   eom          sign:   bwdkim_eom(m, sigs, max, &n), then for each sig
 *                        smfi_insheader(ctx, 0, "DKIM-Signature", header)
 *                        and, if bwdkim_feedback_value(m) != NULL,
 *                        smfi_addheader(ctx, "Feedback-ID", that value)
 *                        after removing every client copy of the headers
 *                        bwdkim_header_replaced() names;
 *                verify: bwdkim_verify_eom(m, from_domain, sigs, max, &n)
 *   eom/abort/close  bwdkim_free(m)
 *
 * Errors are sticky: after the first failure every later call returns -1
 * at once, and bwdkim_error(m) keeps the first reason (which key, the step,
 * libopendkim's result and error text). The glue may therefore ignore the
 * results of header/eoh/body and decide at eom.
 *
 * Header values: pass the bytes after the colon. With SMFIP_HDR_LEADSPC
 * negotiated (opts.leadspc) they are exact; without it the MTA has eaten
 * one space after the colon and one is put back, which is exact for every
 * header written "Name: value" (enough for relaxed canonicalization, which
 * ignores that whitespace anyway; only a vendor's c=simple header
 * canonicalization needs LEADSPC to be exact for other spellings). Folded
 * values may use LF or CRLF line ends. With opts.leadspc the DKIM-Signature
 * and Feedback-ID values returned start with the space the MTA will not add.
 *
 * Threads: a bwdkim_msg belongs to one message (one thread at a time); the
 * identity and its registry must stay pinned until bwdkim_free().
 * Memory: everything is heap, freed by bwdkim_free(); per message the
 * libopendkim handles hold the headers fed and one body-canonicalization
 * state per key, independent of the body size.
 */
#ifndef BW_BWDKIM_H
#define BW_BWDKIM_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/registry.h"

#define BWDKIM_ERR_MAX 512	       /* bwdkim_error() text */
#define BWDKIM_REASON_MAX 160	       /* one signature's result text */
#define BWDKIM_HEADER_MAX (256 * 1024) /* one header field fed to libopendkim */
#define BWDKIM_FEEDBACK_MAX 512	       /* Feedback-ID value */
#define BWDKIM_SIG_INITIAL 16	       /* strlen("DKIM-Signature: "): first-line width */

struct bwdkim_msg;

struct bwdkim_opts {
	const char *queue_id; /* shown in libopendkim's messages; NULL: "-" */
	long long fixed_time; /* signing time t= (tests, replays); 0: now */
	bool leadspc;	      /* header values follow SMFIP_HDR_LEADSPC */
};

/* One signature made (sign mode) or examined (verify mode). Strings are
 * owned by the registry (domain, selector) or by the message (result,
 * header) and valid until bwdkim_free(). */
struct bwdkim_sig {
	const char *domain;    /* d= */
	const char *selector;  /* s= */
	const char *algorithm; /* "rsa-sha256" | "ed25519-sha256" */
	int bits;	       /* key size: RSA modulus bits, 256 for Ed25519 */
	bool ok;	       /* signed / the signature verifies */
	bool aligned;	       /* verify: d= aligns with the From domain */
	const char *result;    /* "signed", "pass", or the reason it failed */
	const char *header;    /* sign: the DKIM-Signature value to insert */
};

/* A signing context with one libopendkim handle per key of id (sign mode,
 * at least one key). NULL with a reason in err. */
struct bwdkim_msg *bwdkim_sign_begin(const struct bw_identity *id, const struct bwdkim_opts *o,
				     char *err, size_t errlen);
/* A verifying context for id (verify mode): only signatures by id's
 * registered domain/selector pairs are examined. NULL with a reason. */
struct bwdkim_msg *bwdkim_verify_begin(const struct bw_identity *id, const struct bwdkim_opts *o,
				       char *err, size_t errlen);

/* Feed one header field as received. 0, or -1 (sticky). Sign mode feeds
 * only the fields the identity signs, never a client's copy of a field
 * bulkwarden replaces; verify mode skips fields with unusable names. */
int bwdkim_header(struct bwdkim_msg *m, const char *name, const char *value);
/* End of headers. 0, or -1 (sticky). */
int bwdkim_eoh(struct bwdkim_msg *m);
/* One body chunk, as the MTA sent it (CRLF line ends). 0, or -1 (sticky). */
int bwdkim_body(struct bwdkim_msg *m, const unsigned char *chunk, size_t len);

/* Sign mode, end of message: one entry per key (at most max) into out,
 * count in *n. 0 when every key signed; -1 otherwise (out still says which
 * signed and why the others did not; insert nothing: tempfail). */
int bwdkim_eom(struct bwdkim_msg *m, struct bwdkim_sig *out, size_t max, size_t *n);
/* Verify mode, end of message: the registered signatures found (at most
 * max) into out. 1: at least one verifies and aligns with from_domain (the
 * normalized header From domain); 0: none does; -1: could not verify
 * (resources: tempfail). bwdkim_error() says why for 0 and -1. */
int bwdkim_verify_eom(struct bwdkim_msg *m, const char *from_domain, struct bwdkim_sig *out,
		      size_t max, size_t *n);

/* The first failure's reason ("" if none). */
const char *bwdkim_error(const struct bwdkim_msg *m);
/* Free every handle and buffer; NULL is fine. */
void bwdkim_free(struct bwdkim_msg *m);

/* The Feedback-ID value bwdkim_eoh() signed for this message, ready for
 * smfi_addheader() (a leading space under opts.leadspc), or NULL when the
 * identity has none. */
const char *bwdkim_feedback_value(const struct bwdkim_msg *m);
/* Build id's Feedback-ID value, "<class>:<identity id>:bulkwarden:<SenderId>"
 * (Gmail's a:b:c:SenderId). Its length, or -1 (none configured, or len too
 * small). */
int bwdkim_feedback_id(const struct bw_identity *id, char *buf, size_t len);
/* true iff bulkwarden writes header field name for id, so the glue must
 * remove every copy the client sent (Feedback-ID when id has one). */
bool bwdkim_header_replaced(const struct bw_identity *id, const char *name);
/* true iff signing domain d aligns with From domain from: equal, or d is a
 * parent domain of from (case-insensitive; no public-suffix lookup: d is
 * always a registered signing domain). */
bool bwdkim_aligned(const char *d, const char *from);

#endif
