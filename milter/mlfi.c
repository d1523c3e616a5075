/*
 * mlfi.c - libmilter callbacks: glue only.
 *
 * Each callback fetches the connection/message context, pins the registry
 * snapshot for the message, calls into policy/, and maps the result to an
 * sfsistat and an SMTP reply. One decision event per message is emitted by
 * msg_finish(), whichever stage ends the message (MAIL, EOH, EOM, abort).
 *
 * Memory: struct connctx is malloc'ed in negotiate/connect and freed in
 * close; struct msgctx in envfrom and freed by msg_cleanup() (eom, abort,
 * close, or right after a refusal). Allocation failures on this path never
 * exit: they become the configured on_internal_error action.
 *
 * Untrusted input: every argument libmilter passes (macros may be missing:
 * they read as ""), header names and values, MAIL FROM.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <syslog.h>

#include "dkim/bwdkey.h"
#include "dkim/bwdkim.h"
#include "log/eventlog.h"
#include "milter/preflight.h"
#include "base/util.h"
#include "milter/mlfi.h"
#include "policy/event.h"
#include "policy/policy.h"

#define EVENT_ID_BYTES 12 /* 96 random bits, 24 hex digits */
#define QUEUE_ID_MAX 64
#define REPLY_MAX 512

struct msgctx {
	struct registry *reg; /* pinned for the whole message */
	struct verdict v;
	struct policy_env env;
	struct bwdkim_msg *dkim; /* signing or verifying, identities with keys */
	unsigned client_feedback; /* client copies of headers only we write */
	char event_id[2 * EVENT_ID_BYTES + 1];
	char queue_id[QUEUE_ID_MAX];
	long long size;
	bool failed_alloc;
};

struct connctx {
	char client_ip[64];
	struct cidr_addr addr;
	bool have_addr;
	bool localhost; /* connect said "localhost" [127.0.0.1] (possible local submission) */
	unsigned long pflags; /* negotiated protocol flags (SMFIP_NR_*, HDR_LEADSPC) */
	struct msgctx *msg;
};

static struct overlay *overlay;
static bool listen_tcp; /* set once by main before smfi_main */

/* Per-snapshot runtime (registry->runtime). */
struct runtime {
	struct registry *reg; /* back pointer: the DKIM key cache is per snapshot */
	bool keys;
	struct preflight *pf;
};

static void
runtime_free(void *p)
{
	struct runtime *rt = p;
	if (rt == NULL)
		return;
	if (rt->keys)
		bwdkey_registry_unload(rt->reg);
	preflight_free(rt->pf);
	free(rt);
}

int
mlfi_runtime_attach(struct registry *r, char *err, size_t errlen)
{
	struct runtime *rt = calloc(1, sizeof(*rt));
	if (rt == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rt->reg = r;
	/* DKIM keys: read and parsed once per snapshot, never per message */
	if (bwdkey_registry_load(r, err, errlen) != 0) {
		free(rt);
		return -1;
	}
	rt->keys = true;
	rt->pf = preflight_new(&r->set, err, errlen);
	if (rt->pf == NULL) {
		bwdkey_registry_unload(r);
		free(rt);
		return -1;
	}
	r->runtime = rt;
	r->runtime_free = runtime_free;
	return 0;
}

void
mlfi_set_overlay(struct overlay *o)
{
	overlay = o;
}

void
mlfi_set_tcp(bool tcp)
{
	listen_tcp = tcp;
}

/* Macro value or "" (the MTA may not send it). */
static const char *
macro(SMFICTX *ctx, const char *name)
{
	const char *v = smfi_getsymval(ctx, (char *)name);
	return v ? v : "";
}

static int
env_suspended(void *c, const char *id, char *reason, size_t len)
{
	return overlay_suspended(overlay, id, reason, len);
}

static int
env_reserve(void *c, const struct bw_identity *id, long long now, char *why, size_t len)
{
	return overlay_reserve(overlay, id->id, id->per_hour, id->per_day, now, why, len);
}

/* The message's snapshot runtime (env ctx is the registry). */
static struct preflight *
env_preflight(void *c)
{
	struct runtime *rt = ((struct registry *)c)->runtime;
	return rt ? rt->pf : NULL;
}

static void
env_spf(void *c, const char *domain, const char *ip, struct policy_spf *out)
{
	preflight_spf(env_preflight(c), domain, ip, out);
}

static void
env_dmarc(void *c, const char *from_domain, const char *const *dkim_domains, size_t n_dkim,
	  const char *mail_domain, bool spf_pass, enum bw_dmarc_p min, struct policy_dmarc *out)
{
	preflight_dmarc(env_preflight(c), from_domain, dkim_domains, n_dkim, mail_domain, spf_pass,
			min, out);
}

/* The policy's view of the outside world for this message: the overlay
 * (suspensions, volume) and, when the snapshot has one, DNS preflight. */
static void
msg_env(struct msgctx *m)
{
	struct runtime *rt = m->reg->runtime;
	memset(&m->env, 0, sizeof(m->env));
	m->env.ctx = m->reg;
	if (overlay != NULL) {
		m->env.suspended = env_suspended;
		m->env.reserve = env_reserve;
	}
	if (rt != NULL && rt->pf != NULL) {
		m->env.spf = env_spf;
		m->env.dmarc = env_dmarc;
	}
}

/* Free the message context; called from eom, abort, close and refusals. */
static void
msg_cleanup(struct connctx *cc)
{
	struct msgctx *m = cc->msg;
	if (m == NULL)
		return;
	bwdkim_free(m->dkim);
	policy_end(&m->v);
	registry_release(m->reg);
	free(m);
	cc->msg = NULL;
}

static void
update_queue_id(SMFICTX *ctx, struct msgctx *m)
{
	const char *q = macro(ctx, "i");
	if (q[0] != '\0')
		bw_strlcpy(m->queue_id, q, sizeof(m->queue_id));
}

/* Count the message's outcome for its identity (volume and limits). */
static void
msg_count(struct msgctx *m, const char *action, long long now)
{
	const struct bw_identity *id = m->v.identity;
	enum bw_action a;
	if (id == NULL || overlay == NULL)
		return;
	if (!check_action_parse(action, &a)) { /* abandoned transaction */
		if (m->v.reserved)
			overlay_release(overlay, id->id, now);
		return;
	}
	overlay_finish(overlay, id->id, m->v.reserved, a, m->v.rcpt_accepted, (uint64_t)m->size,
		       now);
}

/* Emit the message's decision event, count it, and free it. */
static void
msg_finish(struct connctx *cc, const char *stage, const char *action, const char *xcode)
{
	struct msgctx *m = cc->msg;
	struct jbuf *j = malloc(sizeof(*j));
	struct timeval tv;
	gettimeofday(&tv, NULL);
	msg_count(m, action, tv.tv_sec);
	if (j != NULL) {
		struct event_msg em = {
			.event_id = m->event_id,
			.queue_id = m->queue_id,
			.client_ip = cc->client_ip,
			.stage = stage,
			.action = action,
			.xcode = xcode,
			.size = m->size,
			.ts_sec = tv.tv_sec,
			.ts_msec = tv.tv_usec / 1000,
		};
		event_decision(j, m->reg, &m->v, &em);
		if (eventlog_write(j->buf, j->len) != 0)
			diag(LOG_ERR, "%s: cannot write decision event %s", m->queue_id, m->event_id);
		free(j);
	} else {
		diag(LOG_ERR, "%s: out of memory writing decision event %s (action %s)",
		     m->queue_id, m->event_id, action);
	}
	msg_cleanup(cc);
}

/*
 * Apply a refusal: set the reply, emit the event, end the message.
 * Returns the sfsistat for the callback.
 */
static sfsistat
refuse(SMFICTX *ctx, struct connctx *cc, const char *stage, enum bw_action a)
{
	struct msgctx *m = cc->msg;
	const char *rcode, *xcode;
	char text[REPLY_MAX];
	enum bw_check c = m->v.decider == BW_CHK__COUNT ? BW_CHK_INTERNAL_ERROR : m->v.decider;

	policy_reply(&m->v, c, a, m->event_id, &rcode, &xcode, text, sizeof(text));
	if (smfi_setreply(ctx, (char *)rcode, (char *)xcode, text) != MI_SUCCESS)
		diag(LOG_WARNING, "%s: smfi_setreply failed", m->queue_id);
	msg_finish(cc, stage, check_action_name(a), xcode);
	return a == BW_ACT_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

/* Internal failure without a usable message context. */
static sfsistat
internal_error(SMFICTX *ctx, const char *what)
{
	struct registry *r = registry_current();
	enum bw_action a = r ? r->set.on_internal_error : BW_ACT_TEMPFAIL;
	registry_release(r);
	diag(LOG_ERR, "internal error: %s (action %s)", what, check_action_name(a));
	if (a == BW_ACT_ACCEPT)
		return SMFIS_CONTINUE;
	smfi_setreply(ctx, a == BW_ACT_REJECT ? "550" : "451", a == BW_ACT_REJECT ? "5.3.0" : "4.3.0",
		      "[internal-error] temporary failure, try again later");
	return a == BW_ACT_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

/* The connection context, created on first use. */
static struct connctx *
conn(SMFICTX *ctx)
{
	struct connctx *cc = smfi_getpriv(ctx);
	if (cc == NULL) {
		cc = calloc(1, sizeof(*cc));
		if (cc != NULL)
			smfi_setpriv(ctx, cc);
	}
	return cc;
}

static sfsistat
mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
	       unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
	       unsigned long *pf3)
{
	struct connctx *cc = conn(ctx);
	if (cc == NULL)
		return SMFIS_REJECT; /* libmilter: fail the connection */

	*pf0 = f0 & (SMFIF_QUARANTINE | SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST);
	/* steps we never need */
	unsigned long want = SMFIP_NOHELO | SMFIP_NOUNKNOWN;
	/*
	 * DATA carries nothing we use, but over TCP we take it with a reply.
	 * Postfix sends the DATA macros without waiting for anything (smtpd
	 * flushes them when it hands the connection to cleanup), and its
	 * socket has Nagle on: cleanup's headers then wait for our ACK of those
	 * macros, which Linux delays up to 40 ms. Measured through Postfix:
	 * 50 messages on one session took 2.22 s without the DATA reply and
	 * 0.18 s with it. Our reply carries the ACK. Unix sockets have no Nagle.
	 */
	if (!listen_tcp)
		want |= SMFIP_NODATA;
	/* no reply needed for these (fewer round trips), when the MTA offers it */
	want |= SMFIP_NR_CONN | SMFIP_NR_HDR | SMFIP_NR_BODY | SMFIP_NR_HELO;
	/* header values exactly as sent (a vendor's c=simple signature needs
	 * the bytes after the colon) */
	want |= SMFIP_HDR_LEADSPC;
	*pf1 = f1 & want;
	*pf2 = 0;
	*pf3 = 0;
	cc->pflags = *pf1;

	if (f0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_CONNECT, "{client_addr} {daemon_name} {daemon_port} j");
		smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen} {auth_type} {client_addr}");
		smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i");
		smfi_setsymlist(ctx, SMFIM_EOH, "i");
		smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

/* Return value for a step the MTA may have marked "no reply". */
static sfsistat
cont(const struct connctx *cc, unsigned long nr)
{
	return (cc != NULL && (cc->pflags & nr)) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
mlfi_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	struct connctx *cc = conn(ctx);
	if (cc == NULL)
		return cont(cc, SMFIP_NR_CONN);
	cc->have_addr = false;
	cc->client_ip[0] = '\0';
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		char b[INET_ADDRSTRLEN];
		if (inet_ntop(AF_INET, &s4->sin_addr, b, sizeof(b)) != NULL)
			cc->have_addr = cidr_parse_addr(b, &cc->addr);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		memcpy(cc->addr.b, &s6->sin6_addr, 16);
		cc->have_addr = true;
	}
	if (!cc->have_addr) /* Postfix sends the address in the macro too if asked */
		cc->have_addr = cidr_parse_addr(macro(ctx, "{client_addr}"), &cc->addr);
	if (cc->have_addr)
		cidr_addr_format(&cc->addr, cc->client_ip, sizeof(cc->client_ip));
	/* Postfix non_smtpd_milters (sendmail(1) submissions) connect as
	 * "localhost" [127.0.0.1] with daemon port 0; SMTP sessions always have
	 * the listener's port. */
	cc->localhost = hostname != NULL && strcmp(hostname, "localhost") == 0 &&
			strcmp(cc->client_ip, "127.0.0.1") == 0 &&
			strcmp(macro(ctx, "{daemon_port}"), "0") == 0;
	return cont(cc, SMFIP_NR_CONN);
}

/* Start signing (or verifying a vendor's signature) for an identity with
 * DKIM keys. Returns the action to apply now. */
static enum bw_action
msg_dkim_begin(struct connctx *cc, struct msgctx *m)
{
	const struct bw_identity *id = m->v.identity;
	char err[BWDKIM_ERR_MAX];
	if (id == NULL || id->n_dkim == 0)
		return BW_ACT_ACCEPT;
	struct bwdkim_opts o = {.queue_id = m->queue_id, .leadspc = (cc->pflags & SMFIP_HDR_LEADSPC) != 0};
	m->dkim = id->dkim_mode == BW_DKIM_SIGN ? bwdkim_sign_begin(id, &o, err, sizeof(err))
						: bwdkim_verify_begin(id, &o, err, sizeof(err));
	if (m->dkim != NULL)
		return BW_ACT_ACCEPT;
	diag(LOG_ERR, "%s: DKIM: %s", m->queue_id, err);
	policy_fail(m->reg, &m->v, BW_CHK_DKIM, err);
	return policy_effective(&m->v);
}

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct connctx *cc = conn(ctx);
	if (cc == NULL)
		return internal_error(ctx, "no connection context");
	msg_cleanup(cc); /* a previous transaction the MTA did not abort */

	/* not calloc: the verdict's buffers are written before they are read
	 * (policy_begin), and zeroing ~16 KiB per message is measurable */
	struct msgctx *m = malloc(sizeof(*m));
	if (m == NULL)
		return internal_error(ctx, "out of memory at MAIL FROM");
	m->dkim = NULL;
	m->client_feedback = 0;
	m->queue_id[0] = '\0';
	m->size = 0;
	m->failed_alloc = false;
	m->reg = registry_current();
	if (m->reg == NULL) {
		free(m);
		return internal_error(ctx, "no registry loaded");
	}
	cc->msg = m;
	policy_begin(&m->v);
	msg_env(m);
	if (bw_random_hex(m->event_id, EVENT_ID_BYTES) != 0)
		snprintf(m->event_id, sizeof(m->event_id), "%llx%lx", (long long)time(NULL),
			 (unsigned long)random());
	update_queue_id(ctx, m);

	if (!cc->have_addr) /* connect had no usable address: try the macro */
		cc->have_addr = cidr_parse_addr(macro(ctx, "{client_addr}"), &cc->addr);
	if (cc->have_addr && cc->client_ip[0] == '\0')
		cidr_addr_format(&cc->addr, cc->client_ip, sizeof(cc->client_ip));

	struct mail_facts f = {
		.login = macro(ctx, "{auth_authen}"),
		.client_ip = cc->client_ip,
		.have_addr = cc->have_addr,
		.addr = cc->addr,
		.mail_from = argv && argv[0] ? argv[0] : "",
		.non_smtp = cc->localhost,
		.now = time(NULL),
	};
	struct runtime *rt = m->reg->runtime;
	if (rt != NULL)
		preflight_stage_begin(rt->pf);
	enum bw_action a = policy_mail(m->reg, &m->env, &f, &m->v);
	if (rt != NULL)
		preflight_stage_end();
	if (a != BW_ACT_REJECT && a != BW_ACT_TEMPFAIL)
		a = msg_dkim_begin(cc, m);
	if (a == BW_ACT_REJECT || a == BW_ACT_TEMPFAIL)
		return refuse(ctx, cc, "mail", a);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct connctx *cc = smfi_getpriv(ctx);
	if (cc == NULL || cc->msg == NULL)
		return SMFIS_CONTINUE;
	struct msgctx *m = cc->msg;
	update_queue_id(ctx, m);
	enum bw_action a = policy_rcpt(m->reg, &m->v);
	if (a == BW_ACT_REJECT || a == BW_ACT_TEMPFAIL) {
		const char *rcode, *xcode;
		char text[REPLY_MAX];
		policy_reply(&m->v, BW_CHK_RECIPIENTS, a, m->event_id, &rcode, &xcode, text,
			     sizeof(text));
		smfi_setreply(ctx, (char *)rcode, (char *)xcode, text);
		/* 452 is a 4xx reply: the recipient is deferred, the message goes on */
		return rcode[0] == '4' ? SMFIS_TEMPFAIL : SMFIS_REJECT;
	}
	return SMFIS_CONTINUE;
}

/* Only negotiated over TCP (see mlfi_negotiate); the reply is the point. */
static sfsistat
mlfi_data(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct connctx *cc = smfi_getpriv(ctx);
	if (cc != NULL && cc->msg != NULL) {
		struct msgctx *m = cc->msg;
		const char *nm = name ? name : "", *val = value ? value : "";
		m->size += (long long)strlen(nm) + (long long)strlen(val) + 4;
		if (m->dkim != NULL) {
			bwdkim_header(m->dkim, nm, val); /* errors are sticky: seen at eom */
			if (bwdkim_header_replaced(m->v.identity, nm))
				m->client_feedback++;
		}
		/* the policy sees values without the separator's whitespace */
		if (policy_header(&m->v, nm, val + strspn(val, " \t")) != 0)
			m->failed_alloc = true;
	}
	return cont(cc, SMFIP_NR_HDR);
}

static sfsistat
mlfi_eoh(SMFICTX *ctx)
{
	struct connctx *cc = smfi_getpriv(ctx);
	if (cc == NULL || cc->msg == NULL)
		return SMFIS_CONTINUE;
	struct msgctx *m = cc->msg;
	update_queue_id(ctx, m);
	if (m->failed_alloc)
		policy_fail(m->reg, &m->v, BW_CHK_INTERNAL_ERROR, "out of memory reading headers");
	if (m->dkim != NULL)
		bwdkim_eoh(m->dkim);
	struct runtime *rt = m->reg->runtime;
	if (rt != NULL)
		preflight_stage_begin(rt->pf);
	enum bw_action a = policy_eoh(m->reg, &m->env, &m->v);
	if (rt != NULL)
		preflight_stage_end();
	if (m->failed_alloc && !m->v.monitor)
		a = m->reg->set.on_internal_error > a ? m->reg->set.on_internal_error : a;
	if (a == BW_ACT_REJECT || a == BW_ACT_TEMPFAIL)
		return refuse(ctx, cc, "eoh", a);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct connctx *cc = smfi_getpriv(ctx);
	if (cc != NULL && cc->msg != NULL) {
		cc->msg->size += (long long)len;
		if (cc->msg->dkim != NULL)
			bwdkim_body(cc->msg->dkim, chunk, len);
	}
	return cont(cc, SMFIP_NR_BODY);
}

/* Keep what the event says about each signature. */
static void
keep_sigs(struct verdict *v, const struct bwdkim_sig *sig, size_t n)
{
	for (size_t i = 0; i < n && v->n_sigs < VERDICT_MAX_SIGS; i++) {
		struct verdict_sig *g = &v->sigs[v->n_sigs++];
		bw_strlcpy(g->domain, sig[i].domain ? sig[i].domain : "", sizeof(g->domain));
		bw_strlcpy(g->selector, sig[i].selector ? sig[i].selector : "", sizeof(g->selector));
		bw_strlcpy(g->algorithm, sig[i].algorithm ? sig[i].algorithm : "", sizeof(g->algorithm));
		g->bits = sig[i].bits;
		bw_strlcpy(g->result, sig[i].result ? sig[i].result : "", sizeof(g->result));
	}
}

/*
 * End of message for an identity with DKIM keys. Sign mode: replace the
 * client's copies of headers only we write (Feedback-ID), add ours, insert
 * the signatures at the top; all or nothing. Verify mode: a registered,
 * aligned signature must verify. Returns the action to apply now.
 */
static enum bw_action
msg_dkim_eom(SMFICTX *ctx, struct msgctx *m)
{
	struct bwdkim_sig sig[VERDICT_MAX_SIGS];
	size_t n = 0;
	const struct bw_identity *id = m->v.identity;

	if (id->dkim_mode == BW_DKIM_VERIFY) {
		int ok = bwdkim_verify_eom(m->dkim, m->v.hdrs.from_domain, sig, VERDICT_MAX_SIGS, &n);
		keep_sigs(&m->v, sig, n);
		if (ok == 1)
			policy_pass(m->reg, &m->v, BW_CHK_DKIM, "registered signature verifies");
		else if (ok == 0)
			policy_fail(m->reg, &m->v, BW_CHK_DKIM, bwdkim_error(m->dkim));
		else
			policy_fail_as(m->reg, &m->v, BW_CHK_DKIM, BW_ACT_TEMPFAIL, bwdkim_error(m->dkim));
		return policy_effective(&m->v);
	}
	int rc = bwdkim_eom(m->dkim, sig, VERDICT_MAX_SIGS, &n);
	keep_sigs(&m->v, sig, n);
	if (rc != 0) {
		diag(LOG_ERR, "%s: DKIM signing failed: %s", m->queue_id, bwdkim_error(m->dkim));
		policy_fail(m->reg, &m->v, BW_CHK_DKIM, bwdkim_error(m->dkim));
		return policy_effective(&m->v);
	}
	const char *fb = bwdkim_feedback_value(m->dkim);
	bool ok = true;
	if (fb != NULL) {
		for (unsigned i = m->client_feedback; i >= 1 && ok; i--)
			ok = smfi_chgheader(ctx, "Feedback-ID", (int)i, NULL) == MI_SUCCESS;
		ok = ok && smfi_addheader(ctx, "Feedback-ID", (char *)fb) == MI_SUCCESS;
	}
	for (size_t i = n; i > 0 && ok; i--) /* first key's signature ends on top */
		ok = smfi_insheader(ctx, 0, "DKIM-Signature", (char *)sig[i - 1].header) == MI_SUCCESS;
	if (!ok) {
		policy_fail_as(m->reg, &m->v, BW_CHK_DKIM, BW_ACT_TEMPFAIL,
			       "the MTA refused a header change");
		return policy_effective(&m->v);
	}
	policy_pass(m->reg, &m->v, BW_CHK_DKIM, "signed");
	return policy_effective(&m->v);
}

static sfsistat
mlfi_eom(SMFICTX *ctx)
{
	struct connctx *cc = smfi_getpriv(ctx);
	if (cc == NULL || cc->msg == NULL)
		return SMFIS_CONTINUE;
	struct msgctx *m = cc->msg;
	update_queue_id(ctx, m);
	enum bw_action a = policy_effective(&m->v);
	if (m->dkim != NULL && a != BW_ACT_REJECT && a != BW_ACT_TEMPFAIL)
		a = msg_dkim_eom(ctx, m);
	if (a == BW_ACT_REJECT || a == BW_ACT_TEMPFAIL)
		return refuse(ctx, cc, "eom", a);
	if (a == BW_ACT_QUARANTINE) {
		char reason[128];
		snprintf(reason, sizeof(reason), "bulkwarden [%s] ref %s",
			 check_info(m->v.decider)->id, m->event_id);
		if (smfi_quarantine(ctx, reason) != MI_SUCCESS) {
			/* the MTA did not allow quarantine: fail closed */
			policy_fail(m->reg, &m->v, BW_CHK_INTERNAL_ERROR, "quarantine refused by MTA");
			return refuse(ctx, cc, "eom", BW_ACT_TEMPFAIL);
		}
		msg_finish(cc, "eom", "quarantine", "");
		return SMFIS_CONTINUE;
	}
	msg_finish(cc, "eom", "accept", "");
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_abort(SMFICTX *ctx)
{
	struct connctx *cc = smfi_getpriv(ctx);
	if (cc != NULL && cc->msg != NULL)
		msg_finish(cc, "abort", "abort", "");
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_close(SMFICTX *ctx)
{
	struct connctx *cc = smfi_getpriv(ctx);
	if (cc != NULL) {
		if (cc->msg != NULL)
			msg_finish(cc, "abort", "abort", "");
		free(cc);
		smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

struct smfiDesc mlfi_desc = {
	.xxfi_name = "bulkwarden",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_QUARANTINE | SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST,
	.xxfi_connect = mlfi_connect,
	.xxfi_helo = NULL,
	.xxfi_envfrom = mlfi_envfrom,
	.xxfi_envrcpt = mlfi_envrcpt,
	.xxfi_header = mlfi_header,
	.xxfi_eoh = mlfi_eoh,
	.xxfi_body = mlfi_body,
	.xxfi_eom = mlfi_eom,
	.xxfi_abort = mlfi_abort,
	.xxfi_close = mlfi_close,
	.xxfi_unknown = NULL,
	.xxfi_data = mlfi_data,
	.xxfi_negotiate = mlfi_negotiate,
};
