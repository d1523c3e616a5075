/*
 * policy.h - the decision for one message: attribution at MAIL FROM,
 * recipient limit at RCPT, header checks at end of headers, and the
 * verdict that results. Pure code: facts in, verdict out; no libmilter,
 * no sockets, no files. Time and the suspension overlay come in through
 * struct policy_env so tests pin or replace them.
 *
 * A struct verdict lives in the message context; it is reset per message
 * with policy_verdict_reset() and owns no heap memory except hdrs.from
 * (freed by policy_end()).
 */
#ifndef BW_POLICY_H
#define BW_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/addr.h"
#include "registry/check.h"
#include "registry/cidr.h"
#include "registry/domain.h"
#include "registry/registry.h"

#define VERDICT_MAX_CHECKS 24
#define VERDICT_DETAIL_MAX 160
#define POLICY_LOGIN_MAX 256
#define POLICY_PATH_MAX 512      /* envelope address kept for the event */
#define POLICY_MSGID_MAX 256
#define POLICY_LU_MAX 2048       /* List-Unsubscribe value kept */
#define POLICY_LUP_MAX 128

/* Facts the MTA vouches for, gathered at MAIL FROM. */
struct mail_facts {
	const char *login;       /* {auth_authen}, "" when none */
	const char *client_ip;   /* text form, "" when unknown */
	bool have_addr;
	struct cidr_addr addr;
	const char *mail_from;   /* MAIL FROM argv[0] as received, e.g. "<a@b>" */
	bool non_smtp;           /* local submission (Postfix non_smtpd_milters) */
	long long now;
};

/* SPF prediction for one (domain, egress ip). */
enum policy_auth { POLICY_AUTH_PASS, POLICY_AUTH_FAIL, POLICY_AUTH_DNSERR };

struct policy_spf {
	enum policy_auth verdict;
	char result[16]; /* pass, fail, softfail, neutral, none, permerror, temperror */
	char dnssec[12]; /* "" (dns.dnssec off), signed, unsigned, bogus */
	char detail[VERDICT_DETAIL_MAX - 48];
};

/* DMARC prediction for the From domain. */
struct policy_dmarc {
	enum policy_auth verdict;
	bool found, aligned, meets;
	char policy[16];              /* effective p= ("" when no record) */
	char domain[DOMAIN_MAX + 1];  /* where the record is */
	char method[16];              /* exact, psl, treewalk */
	char dnssec[12];              /* "" (dns.dnssec off), signed, unsigned, bogus */
	char detail[VERDICT_DETAIL_MAX - 48];
};

/* A check waiver in force for the message's identity (SPEC §9): the check
 * is still run and recorded as failed, but its action becomes accept and
 * the event names the waiver. */
#define POLICY_WAIVERS_MAX BW_CHK__COUNT /* one per check at most (the store keeps one per name) */
#define POLICY_TICKET_MAX 64	/* bytes of the ticket kept for the event */
struct policy_waiver {
	enum bw_check check;
	long long wid;	 /* the waiver's number in the store */
	long long until; /* unix seconds */
	char ticket[POLICY_TICKET_MAX];
};

/* The runtime overlay from the state store; NULL callbacks mean "none". */
struct policy_env {
	/* 1 suspended, 0 not, -1 store error; reason copied into buf. */
	int (*suspended)(void *ctx, const char *id, char *reason, size_t len);
	/* Reserve msgs messages and rcpts recipients against the identity's
	 * limits: 0 counted, 1 over a limit (why filled), -1 error. */
	int (*reserve)(void *ctx, const struct bw_identity *id, unsigned msgs, unsigned rcpts,
		       long long now, char *why, size_t len);
	/* SPF for the MAIL FROM domain from one egress address. */
	void (*spf)(void *ctx, const char *domain, const char *ip, struct policy_spf *out);
	/* DMARC: record, minimum policy and predicted alignment. */
	void (*dmarc)(void *ctx, const char *from_domain, const char *const *dkim_domains,
		      size_t n_dkim, const char *mail_domain, bool spf_pass, enum bw_dmarc_p min,
		      struct policy_dmarc *out);
	/* The check waivers in force for identity id at now: fills at most
	 * max, returns the count. */
	size_t (*waivers)(void *ctx, const char *id, long long now, struct policy_waiver *out,
			  size_t max);
	void *ctx;
};

/* Header facts collected while headers stream by (bounded copies). */
struct hdr_facts {
	unsigned from_count, date_count, msgid_count, lu_count, lup_count;
	char *from;              /* first From value, malloc'ed, <= ADDR_FIELD_MAX */
	size_t from_len;
	bool from_oversized;
	bool lu_oversized;
	char msgid[POLICY_MSGID_MAX];
	char lu[POLICY_LU_MAX];
	char lup[POLICY_LUP_MAX];
	char from_address[ADDR_LOCAL_MAX + 1 + DOMAIN_MAX + 1]; /* parsed, for the event */
	char from_domain[DOMAIN_MAX + 1];                       /* normalized */
#ifdef BW_TEST_SENTINEL
	unsigned long test_sentinel; /* a field added last: reset must clear it */
#endif
};

struct verdict_check {
	enum bw_check id;
	bool failed;
	enum bw_action action; /* configured action when failed (accept when waived) */
	unsigned char waiver;  /* failed and waived: 1 + index into verdict.waivers; else 0 */
	char detail[VERDICT_DETAIL_MAX];
};

#define VERDICT_MAX_SIGS 8

/* One DKIM signature made (sign mode) or checked (verify mode). */
struct verdict_sig {
	char domain[DOMAIN_MAX + 1];
	char selector[64];
	char algorithm[24];
	int bits;
	char result[96];
};

/*
 * policy_verdict_reset() zeroes every byte of a verdict except the large
 * buffers its table lists (policy.c verdict_bufs): strings there are
 * emptied, arrays valid up to a count (checks, sigs) and dmarc (valid when
 * dmarc_done) are left as they are. A field added anywhere is therefore
 * zeroed unless it is added to that table; tests/unit/test_reset.c checks
 * every byte after poisoning the struct.
 */
struct verdict {
	size_t n_checks;
	enum bw_action would;    /* what enforce mode does (reset: accept) */
	enum bw_check decider;   /* check that set `would` (reset: BW_CHK__COUNT) */
	bool monitor;            /* global or identity monitor mode */
	/* What monitor mode still enforces (SPEC §3: a suspension, or not
	 * knowing whether there is one): ACCEPT, TEMPFAIL or REJECT. */
	enum bw_action enforced;
	enum bw_check enforced_by; /* valid when enforced != accept */
	const struct bw_identity *identity;
	enum bw_life life;
	bool suspended;
	bool reserved;           /* counted against the limits (release if not sent) */
	long long now;           /* MAIL FROM time (policy_mail) */
	long long reserved_at;	 /* when (the limit windows it counts in) */
	unsigned rcpt_accepted, rcpt_refused;
	unsigned rcpt_suppressed; /* on the identity's suppression list (refused or not) */
	bool non_smtp;
	bool spf_done, spf_pass;  /* every egress address passes */
	bool dmarc_done;
	size_t n_sigs;
	char login[POLICY_LOGIN_MAX];
	char mail_from[POLICY_PATH_MAX];
	char mail_domain[DOMAIN_MAX + 1];
	char spf_result[16], spf_ip[64];
	char spf_dnssec[12]; /* worst of the egress addresses' answers; "" off */
	struct hdr_facts hdrs;
	struct policy_dmarc dmarc;
	struct verdict_check checks[VERDICT_MAX_CHECKS];
	struct verdict_sig sigs[VERDICT_MAX_SIGS];
	size_t n_waivers;	/* check waivers of the identity (policy_mail) */
	struct policy_waiver waivers[POLICY_WAIVERS_MAX];
#ifdef BW_TEST_SENTINEL
	unsigned long test_sentinel; /* a field added last: reset must clear it */
#endif
};

/* Every field at its reset value (see struct verdict); call policy_end()
 * first when the verdict held a message. */
void policy_verdict_reset(struct verdict *v);
/* Where one reset range lies, for tests: i-th large buffer of the table
 * (false past the end); *string when reset empties it, else untouched. */
bool policy_verdict_buf(size_t i, size_t *off, size_t *len, bool *string);
/* Release the verdict's heap memory (hdrs.from). */
void policy_end(struct verdict *v);

/* How a message ended, for its event and the counters: the action applied,
 * or ABORT when the client or the MTA abandoned it. */
enum policy_outcome {
	POLICY_OUT_ACCEPT = BW_ACT_ACCEPT,
	POLICY_OUT_QUARANTINE = BW_ACT_QUARANTINE,
	POLICY_OUT_TEMPFAIL = BW_ACT_TEMPFAIL,
	POLICY_OUT_REJECT = BW_ACT_REJECT,
	POLICY_OUT_ABORT,
};
/* "accept" ... "abort". */
const char *policy_outcome_name(enum policy_outcome o);
/* The message goes on to its recipients (accept, quarantine). */
bool policy_outcome_sent(enum policy_outcome o);
/* true when action a ends the SMTP stage with a refusal now. */
bool policy_refuses(enum bw_action a);

/* Attribution and envelope checks. Returns the action to apply now
 * (ACCEPT when nothing is to be done before end of message). */
enum bw_action policy_mail(const struct registry *r, const struct policy_env *env,
			   const struct mail_facts *f, struct verdict *v);
/* One RCPT TO: returns REJECT/TEMPFAIL to refuse this recipient alone. */
enum bw_action policy_rcpt(const struct registry *r, struct verdict *v);
/* One RCPT TO found on the identity's suppression list (SPEC §9): counts
 * it and records the `suppressed` check (one entry, its detail the count,
 * never the address). Returns REJECT/TEMPFAIL to refuse this recipient
 * alone (550 5.7.1 [suppressed] by default); ACCEPT in monitor mode, for a
 * local submission (SPEC §7: no recipient refused there) or when the
 * check's action is accept or quarantine (nothing to quarantine per
 * recipient): then call policy_rcpt() as for any recipient. */
enum bw_action policy_rcpt_suppressed(const struct registry *r, struct verdict *v);
/* Feed one header; returns -1 on allocation failure (message fails). */
int policy_header(struct verdict *v, const char *name, const char *value);
/* Header checks at end of headers. Returns the action to apply now. */
enum bw_action policy_eoh(const struct registry *r, const struct policy_env *env,
			  struct verdict *v);
/* Record a failure found outside the policy (DKIM at end of message,
 * state, internal) with the check's configured action ... */
void policy_fail(const struct registry *r, struct verdict *v, enum bw_check c, const char *detail);
/* ... or with at least action a (a resource failure is a tempfail; no waiver
 * excuses it). */
void policy_fail_as(const struct registry *r, struct verdict *v, enum bw_check c, enum bw_action a,
		    const char *detail);
/* Record a check that passed outside the policy. */
void policy_pass(const struct registry *r, struct verdict *v, enum bw_check c, const char *detail);

/* The action the milter applies (in monitor mode: accept, unless the
 * identity is suspended or its suspension state is unknown). */
enum bw_action policy_effective(const struct verdict *v);
/* Whether the spf, dkim or dmarc check (SPEC §3) of v failed, waived or
 * not (a waiver changes the action, not what the check found); a check
 * not run, passed, or a DNS error (its own check) is no failure. Feeds the
 * auth_failed counter behind dmarc_fail_rate. */
bool policy_auth_failed(const struct verdict *v);
/* The check whose reply the client sees for policy_effective(), or the
 * would-be decider in monitor mode; BW_CHK__COUNT when nothing failed. */
enum bw_check policy_decider(const struct verdict *v);
/* SMTP reply for check c under action a, for smfi_setreply: rcode, xcode
 * and text ("[check] ... (ref ID)"). Text carries no client-supplied data. */
void policy_reply(const struct verdict *v, enum bw_check c, enum bw_action a, const char *ref,
		  const char **rcode, const char **xcode, char *text, size_t len);
/* The reply for refusing the whole message with action a: the deciding
 * check's, or internal-error's when no check decided. */
void policy_refusal(const struct verdict *v, enum bw_action a, const char *ref, const char **rcode,
		    const char **xcode, char *text, size_t len);
/* An internal failure with no message context (r may be NULL: no snapshot):
 * the action milter.on_internal_error asks for, and its reply. */
enum bw_action policy_internal(const struct registry *r, const char **rcode, const char **xcode,
			       const char **text);

/* DKIM as the milter saw it at MAIL FROM or end of message. */
enum policy_dkim {
	POLICY_DKIM_SETUP_FAILED, /* no signing/verifying context could be made */
	POLICY_DKIM_SIGNED,
	POLICY_DKIM_SIGN_FAILED,
	POLICY_DKIM_MTA_REFUSED,  /* the MTA refused a header change */
	POLICY_DKIM_VERIFIED,     /* a registered, aligned signature verifies */
	POLICY_DKIM_UNVERIFIED,   /* none does */
	POLICY_DKIM_VERIFY_ERROR, /* could not tell (resources) */
};
/* Record the DKIM result (detail: why, for the event); returns the action
 * the milter applies now. */
enum bw_action policy_dkim(const struct registry *r, struct verdict *v, enum policy_dkim d,
			   const char *detail);
/* Keep what the event says about one signature (bounded copies; NULL
 * strings read as ""; past VERDICT_MAX_SIGS ignored). */
void policy_dkim_sig(struct verdict *v, const char *domain, const char *selector,
		     const char *algorithm, int bits, const char *result);
/* The MTA refused to quarantine: record it; returns the action to apply
 * instead (at least tempfail: never a silent accept). */
enum bw_action policy_quarantine_refused(const struct registry *r, struct verdict *v);

#endif
