/*
 * mlfi.c - libmilter callbacks: glue only.
 *
 * Each callback fetches the connection/message context, pins the runtime
 * snapshot for the message (milter/runtime.h), calls into policy/, and maps
 * the result to an sfsistat and an SMTP reply. One decision event per
 * message is emitted by msg_finish(), whichever stage ends the message
 * (MAIL, EOH, EOM, abort, close). Every libmilter call goes through
 * milter/seam.h, so tests drive these callbacks in-process.
 *
 * Memory: struct connctx is malloc'ed in negotiate/connect and freed in
 * close; the message context is embedded in it, opened at MAIL FROM and
 * released by msg_cleanup() (milter/msg.c) from eom, abort, close or a
 * refusal. Allocation failures on this path never exit: they become the
 * configured on_internal_error action.
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

#include "base/util.h"
#include "dkim/bwdkim.h"
#include "log/eventlog.h"
#include "milter/limits.h"
#include "metrics/metrics.h"
#include "milter/mlfi.h"
#include "milter/msg.h"
#include "milter/paths.h"
#include "milter/surge.h"
#include "milter/preflight.h"
#include "milter/runtime.h"
#include "milter/seam.h"
#include "milter/suppress_set.h"
#include "milter/mta.h"
#include "policy/event.h"
#include "policy/policy.h"

#define REPLY_MAX 512
#define QUARANTINE_REASON_MAX 128

struct connctx {
	char client_ip[64];
	struct cidr_addr addr;
	bool have_addr;
	bool localhost; /* connect said "localhost" [127.0.0.1] (possible local submission) */
	unsigned long pflags; /* negotiated protocol flags (SMFIP_NR_*, HDR_LEADSPC) */
	bool sendmail;	      /* the MTA rewrites address fields after us (milter/mta.h) */
	struct msgctx msg;    /* one message at a time; msg_is_open() while it runs */
};

static struct overlay *overlay;
static struct limits *limits;
static struct paths *paths; /* new sending paths (NULL: not checked) */
static struct surge *surge; /* volume surges (NULL: not checked) */
static bool listen_tcp; /* set once by main before smfi_main */

void
mlfi_set_overlay(struct overlay *o)
{
	overlay = o;
}

void
mlfi_set_limits(struct limits *l)
{
	limits = l;
}

void
mlfi_set_paths(struct paths *p)
{
	paths = p;
}

void
mlfi_set_surge(struct surge *s)
{
	surge = s;
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
	const char *v = seam_getsymval(ctx, name);
	return v ? v : "";
}

static int
env_suspended(void *c BW_UNUSED, const char *id, char *reason, size_t len)
{
	return overlay_suspended(overlay, id, reason, len);
}

/* The identity's check waivers in force (SPEC §9), from the overlay. Out
 * of memory: none (the checks act as configured: fail closed). */
static size_t
env_waivers(void *c BW_UNUSED, const char *id, long long now, struct policy_waiver *out,
	    size_t max)
{
	if (max > POLICY_WAIVERS_MAX)
		max = POLICY_WAIVERS_MAX;
	struct state_waiver *w = malloc(max * sizeof(*w)); /* ~1.7 KiB each: not on the stack */
	if (w == NULL) {
		diag(LOG_ERR, "out of memory reading the waivers of %s (none applied)", id);
		return 0;
	}
	size_t n = overlay_waivers(overlay, id, "check", now, w, max);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int chk = check_by_name(w[i].name);
		if (chk < 0)
			continue; /* a name this build does not know: nothing to waive */
		out[k].check = (enum bw_check)chk;
		out[k].wid = w[i].wid;
		out[k].until = w[i].until;
		bw_strlcpy(out[k].ticket, w[i].ticket, sizeof(out[k].ticket));
		k++;
	}
	free(w);
	return k;
}

/* Reserve against the fleet-wide limits; the message remembers what it
 * took, to give it back if it is not sent (env ctx is the message). */
static int
env_reserve(void *c, const struct bw_identity *id, unsigned msgs, unsigned rcpts, long long now,
	    char *why, size_t len)
{
	struct msgctx *m = c;
	int rc = limits_reserve(limits, id, msgs, rcpts, now, why, len);
	if (rc == 0) {
		m->res_msgs = msgs;
		m->res_rcpts = rcpts;
		m->res_when = now;
	}
	return rc;
}

/* SPF through the message's runtime, within the stage's budget. */
static void
env_spf(void *c, const char *domain, const char *ip, struct policy_spf *out)
{
	struct msgctx *m = c;
	preflight_spf(m->rt->pf, &m->budget, domain, ip, out);
}

/* DMARC likewise. */
static void
env_dmarc(void *c, const char *from_domain, const char *const *dkim_domains, size_t n_dkim,
	  const char *mail_domain, bool spf_pass, enum bw_dmarc_p min, struct policy_dmarc *out)
{
	struct msgctx *m = c;
	preflight_dmarc(m->rt->pf, &m->budget, from_domain, dkim_domains, n_dkim, mail_domain,
			spf_pass, min, out);
}

/* The policy's view of the outside world for this message: the overlay
 * (suspensions, volume) and DNS preflight. */
static void
msg_env(struct msgctx *m)
{
	m->env.ctx = m;
	if (overlay != NULL) {
		m->env.suspended = env_suspended;
		m->env.waivers = env_waivers;
	}
	if (limits != NULL)
		m->env.reserve = env_reserve;
	if (m->rt->pf != NULL) {
		m->env.spf = env_spf;
		m->env.dmarc = env_dmarc;
	}
}

/* Start the DNS budget of an SMTP stage: its lookups share dns.timeout. */
static void
stage_budget(struct msgctx *m)
{
	if (m->rt->pf != NULL)
		preflight_budget_start(m->rt->pf, &m->budget);
}

static void
update_queue_id(SMFICTX *ctx, struct msgctx *m)
{
	const char *q = macro(ctx, "i");
	if (q[0] != '\0')
		bw_strlcpy(m->queue_id, q, sizeof(m->queue_id));
}

/* Count the message's outcome for its identity (volume and limits): an
 * abandoned message gives its reserved slot back. */
static void
msg_count(struct msgctx *m, enum policy_outcome o, long long now)
{
	const struct bw_identity *id = m->v.identity;
	if (id == NULL || overlay == NULL)
		return;
	if (m->v.reserved && !policy_outcome_sent(o) && limits != NULL)
		limits_release(limits, id->id, m->res_msgs, m->res_rcpts, m->res_when);
	if (o == POLICY_OUT_ABORT)
		return;
	/* the limits are the store's (milter/limits.c), not the overlay's */
	overlay_finish_auth(overlay, id->id, false, 0, (enum bw_action)o, m->v.rcpt_accepted,
			    (uint64_t)m->size, policy_auth_failed(&m->v), now);
}

/* Emit the message's decision event, count it, and clean up. Returns -1
 * when the event could not be written (SPEC §5: no event, no delivery). */
static int
msg_finish(struct connctx *cc, const char *stage, enum policy_outcome o, const char *xcode)
{
	struct msgctx *m = &cc->msg;
	struct jbuf *j = malloc(sizeof(*j));
	struct timeval tv;
	struct timespec mono;
	int rc = -1;
	gettimeofday(&tv, NULL);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	msg_count(m, o, tv.tv_sec);
	metrics_decision((int)o, m->v.decider,
			 m->v.identity != NULL ? m->v.identity->id : NULL, stage,
			 (long long)mono.tv_sec * 1000000 + mono.tv_nsec / 1000 - m->t0_us);
	if (j != NULL) {
		struct event_msg em = {
			.event_id = m->event_id,
			.queue_id = m->queue_id,
			.client_ip = cc->client_ip,
			.stage = stage,
			.outcome = o,
			.xcode = xcode,
			.size = m->size,
			.ts_sec = tv.tv_sec,
			.ts_msec = tv.tv_usec / 1000,
		};
		event_decision(j, m->rt->reg, &m->v, &em);
		/* a message that is sent waits for its line (no event, no
		 * delivery); a refused or abandoned one's reply does not depend
		 * on it: queued, a failure reported by the event log */
		rc = policy_outcome_sent(o) ? eventlog_write(j->buf, j->len)
					    : eventlog_write_queued(j->buf, j->len);
		if (rc != 0)
			diag(LOG_ERR, "%s: cannot write decision event %s (action %s)", m->queue_id,
			     m->event_id, policy_outcome_name(o));
		free(j);
	} else {
		diag(LOG_ERR, "%s: out of memory writing decision event %s (action %s)",
		     m->queue_id, m->event_id, policy_outcome_name(o));
	}
	msg_cleanup(m);
	return rc;
}

/* An open message ends without an action (client or MTA gave up). */
static void
msg_abandon(struct connctx *cc)
{
	if (cc != NULL && msg_is_open(&cc->msg))
		msg_finish(cc, "abort", POLICY_OUT_ABORT, "");
}

/*
 * Apply a refusal: set the reply, emit the event, end the message.
 * Returns the sfsistat for the callback.
 */
static sfsistat
refuse(SMFICTX *ctx, struct connctx *cc, const char *stage, enum bw_action a)
{
	struct msgctx *m = &cc->msg;
	const char *rcode, *xcode;
	char text[REPLY_MAX];

	policy_refusal(&m->v, a, m->event_id, &rcode, &xcode, text, sizeof(text));
	if (seam_setreply(ctx, rcode, xcode, text) != MI_SUCCESS)
		diag(LOG_WARNING, "%s: smfi_setreply failed", m->queue_id);
	msg_finish(cc, stage, (enum policy_outcome)a, xcode);
	return a == BW_ACT_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

/* Internal failure without a usable message context. */
static sfsistat
internal_error(SMFICTX *ctx, const char *what)
{
	struct runtime *rt = runtime_current();
	const char *rcode, *xcode, *text;
	enum bw_action a = policy_internal(rt ? rt->reg : NULL, &rcode, &xcode, &text);
	runtime_release(rt);
	diag(LOG_ERR, "internal error: %s (action %s)", what, check_action_name(a));
	if (!policy_refuses(a))
		return SMFIS_CONTINUE;
	seam_setreply(ctx, rcode, xcode, text);
	return a == BW_ACT_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

/* The connection context, created on first use. */
static struct connctx *
conn(SMFICTX *ctx)
{
	struct connctx *cc = seam_getpriv(ctx);
	if (cc == NULL) {
		/* not calloc: the message context resets itself (msg_reset) and
		 * zeroing its ~16 KiB of buffers is measurable */
		cc = malloc(sizeof(*cc));
		if (cc == NULL)
			return NULL;
		cc->client_ip[0] = '\0';
		memset(&cc->addr, 0, sizeof(cc->addr));
		cc->have_addr = false;
		cc->localhost = false;
		cc->pflags = 0;
		msg_reset(&cc->msg);
		if (seam_setpriv(ctx, cc) != MI_SUCCESS) {
			free(cc);
			return NULL;
		}
	}
	return cc;
}

/* The connection context with an open message, or NULL. */
static struct msgctx *
msg_of(SMFICTX *ctx)
{
	struct connctx *cc = seam_getpriv(ctx);
	return cc != NULL && msg_is_open(&cc->msg) ? &cc->msg : NULL;
}

static sfsistat
mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2 BW_UNUSED,
	       unsigned long f3 BW_UNUSED, unsigned long *pf0, unsigned long *pf1,
	       unsigned long *pf2, unsigned long *pf3)
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
		seam_setsymlist(ctx, SMFIM_CONNECT, "{client_addr} {daemon_name} {daemon_port} j v");
		seam_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen} {auth_type} {client_addr}");
		seam_setsymlist(ctx, SMFIM_ENVRCPT, "i");
		seam_setsymlist(ctx, SMFIM_EOH, "i");
		seam_setsymlist(ctx, SMFIM_EOM, "i");
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
	cc->sendmail = mta_detect(macro(ctx, "v")) == MTA_SENDMAIL;
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
	return policy_dkim(m->rt->reg, &m->v, POLICY_DKIM_SETUP_FAILED, err);
}

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct connctx *cc = conn(ctx);
	if (cc == NULL)
		return internal_error(ctx, "no connection context");
	struct msgctx *m = &cc->msg;
	msg_abandon(cc); /* a previous transaction the MTA did not abort */

	struct runtime *rt = runtime_current();
	if (rt == NULL)
		return internal_error(ctx, "no registry loaded");
	msg_open(m, rt);
	msg_env(m);
	if (bw_random_hex(m->event_id, MSG_EVENT_ID_BYTES) != 0)
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
	stage_budget(m);
	enum bw_action a = policy_mail(rt->reg, &m->env, &f, &m->v);
	if (!policy_refuses(a) && paths != NULL && m->v.identity != NULL) {
		paths_mail(paths, rt->reg, &m->v, &cc->addr, cc->have_addr, cc->client_ip,
			   m->queue_id, f.now);
		enum bw_action pa = policy_effective(&m->v);
		if (policy_refuses(pa))
			a = pa;
	}
	if (!policy_refuses(a) && surge != NULL && m->v.identity != NULL) {
		surge_mail(surge, rt->reg, &m->v, m->queue_id, f.now);
		enum bw_action sa = policy_effective(&m->v);
		if (policy_refuses(sa))
			a = sa;
	}
	if (!policy_refuses(a))
		a = msg_dkim_begin(cc, m);
	if (policy_refuses(a))
		return refuse(ctx, cc, "mail", a);
	return SMFIS_CONTINUE;
}

/*
 * A recipient on the attributed identity's suppression list (SPEC §9) is
 * refused alone, 550 5.7.1 [suppressed]; when the list cannot be consulted
 * (a key missing or not the fleet's) it is tempfailed as a state error.
 * Returns SMFIS_CONTINUE to go on with the recipient checks.
 */
static sfsistat
rcpt_suppressed(SMFICTX *ctx, struct msgctx *m, const char *rcpt)
{
	const char *rcode, *xcode;
	char text[REPLY_MAX];
	if (m->v.identity == NULL)
		return SMFIS_CONTINUE;
	int sp = suppress_set_check(m->v.identity->id, rcpt);
	if (sp == 0)
		return SMFIS_CONTINUE;
	if (sp < 0 && m->v.monitor)
		return SMFIS_CONTINUE; /* monitor mode would accept a listed one too */
	if (sp < 0 && m->v.non_smtp) {
		/* no recipient of a local submission is refused (SPEC §7): the
		 * whole message is tempfailed at the end of its headers */
		for (size_t i = 0; i < m->v.n_checks; i++)
			if (m->v.checks[i].id == BW_CHK_STATE_ERROR)
				return SMFIS_CONTINUE; /* recorded once */
		policy_fail_as(m->rt->reg, &m->v, BW_CHK_STATE_ERROR, BW_ACT_TEMPFAIL,
			       "suppression list unusable (no or wrong key)");
		return SMFIS_CONTINUE;
	}
	if (sp < 0) {
		diag(LOG_ERR, "%s: suppression list unusable (no or wrong key): recipient tempfailed",
		     m->queue_id);
		policy_reply(&m->v, BW_CHK_STATE_ERROR, BW_ACT_TEMPFAIL, m->event_id, &rcode, &xcode,
			     text, sizeof(text));
		seam_setreply(ctx, rcode, xcode, text);
		return SMFIS_TEMPFAIL;
	}
	enum bw_action a = policy_rcpt_suppressed(m->rt->reg, &m->v);
	if (!policy_refuses(a))
		return SMFIS_CONTINUE;
	policy_reply(&m->v, BW_CHK_SUPPRESSED, a, m->event_id, &rcode, &xcode, text, sizeof(text));
	seam_setreply(ctx, rcode, xcode, text);
	return rcode[0] == '4' ? SMFIS_TEMPFAIL : SMFIS_REJECT;
}

static sfsistat
mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct msgctx *m = msg_of(ctx);
	if (m == NULL)
		return SMFIS_CONTINUE;
	update_queue_id(ctx, m);
	sfsistat sr = rcpt_suppressed(ctx, m, argv && argv[0] ? argv[0] : "");
	if (sr != SMFIS_CONTINUE)
		return sr;
	enum bw_action a = policy_rcpt(m->rt->reg, &m->v);
	if (policy_refuses(a)) {
		const char *rcode, *xcode;
		char text[REPLY_MAX];
		policy_reply(&m->v, BW_CHK_RECIPIENTS, a, m->event_id, &rcode, &xcode, text,
			     sizeof(text));
		seam_setreply(ctx, rcode, xcode, text);
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

/* true iff name is in the NULL-terminated list l, or in def when l is NULL. */
static bool
listed_or(const char *const *l, const char *const *def, const char *name)
{
	for (l = l != NULL ? l : def; *l != NULL; l++)
		if (strcasecmp(*l, name) == 0)
			return true;
	return false;
}

/*
 * Behind Sendmail, an address field it will reformat after us is left out
 * of our signatures (milter/mta.h): From never (always signed; the checks
 * only pass a single qualified address, which Sendmail keeps), nor a field
 * the identity oversigns (leaving it out would make h= claim it absent).
 */
static bool
sendmail_unsigned(const struct connctx *cc, const struct msgctx *m, const char *name,
		  const char *value)
{
	const struct bw_identity *id = m->v.identity;
	if (!cc->sendmail || id == NULL || id->dkim_mode != BW_DKIM_SIGN ||
	    !mta_sendmail_rewrites(name) || strcasecmp(name, "From") == 0 ||
	    mta_sendmail_keeps(value))
		return false;
	if (listed_or(id->dkim_oversign_headers, bw_dkim_oversign_headers_default, name)) {
		diag(LOG_WARNING, "%s: %s is oversigned but not in Sendmail's form: the signature "
				  "will not survive Sendmail's rewriting",
		     m->queue_id, name);
		return false;
	}
	return true;
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct connctx *cc = seam_getpriv(ctx);
	struct msgctx *m = cc != NULL && msg_is_open(&cc->msg) ? &cc->msg : NULL;
	if (m != NULL) {
		const char *nm = name ? name : "", *val = value ? value : "";
		m->size += (long long)strlen(nm) + (long long)strlen(val) + 4;
		if (m->dkim != NULL) {
			if (!sendmail_unsigned(cc, m, nm, val))
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
	struct connctx *cc = seam_getpriv(ctx);
	struct msgctx *m = msg_of(ctx);
	if (m == NULL)
		return SMFIS_CONTINUE;
	update_queue_id(ctx, m);
	if (m->failed_alloc)
		policy_fail(m->rt->reg, &m->v, BW_CHK_INTERNAL_ERROR, "out of memory reading headers");
	if (m->dkim != NULL)
		bwdkim_eoh(m->dkim);
	stage_budget(m);
	enum bw_action a = policy_eoh(m->rt->reg, &m->env, &m->v);
	if (policy_refuses(a))
		return refuse(ctx, cc, "eoh", a);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct connctx *cc = seam_getpriv(ctx);
	if (cc != NULL && msg_is_open(&cc->msg)) {
		cc->msg.size += (long long)len;
		if (cc->msg.dkim != NULL)
			bwdkim_body(cc->msg.dkim, chunk, len);
	}
	return cont(cc, SMFIP_NR_BODY);
}

/* What the event says about each signature. */
static void
keep_sigs(struct verdict *v, const struct bwdkim_sig *sig, size_t n)
{
	for (size_t i = 0; i < n; i++)
		policy_dkim_sig(v, sig[i].domain, sig[i].selector, sig[i].algorithm, sig[i].bits,
				sig[i].result);
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
	const struct registry *r = m->rt->reg;

	if (m->v.identity->dkim_mode == BW_DKIM_VERIFY) {
		int ok = bwdkim_verify_eom(m->dkim, m->v.hdrs.from_domain, sig, VERDICT_MAX_SIGS, &n);
		keep_sigs(&m->v, sig, n);
		return policy_dkim(r, &m->v,
				   ok == 1   ? POLICY_DKIM_VERIFIED
				   : ok == 0 ? POLICY_DKIM_UNVERIFIED
					     : POLICY_DKIM_VERIFY_ERROR,
				   bwdkim_error(m->dkim));
	}
	int rc = bwdkim_eom(m->dkim, sig, VERDICT_MAX_SIGS, &n);
	keep_sigs(&m->v, sig, n);
	if (rc != 0) {
		diag(LOG_ERR, "%s: DKIM signing failed: %s", m->queue_id, bwdkim_error(m->dkim));
		return policy_dkim(r, &m->v, POLICY_DKIM_SIGN_FAILED, bwdkim_error(m->dkim));
	}
	const char *fb = bwdkim_feedback_value(m->dkim);
	bool ok = true;
	if (fb != NULL) {
		for (unsigned i = m->client_feedback; i >= 1 && ok; i--)
			ok = seam_chgheader(ctx, "Feedback-ID", (int)i, NULL) == MI_SUCCESS;
		ok = ok && seam_addheader(ctx, "Feedback-ID", fb) == MI_SUCCESS;
	}
	for (size_t i = n; i > 0 && ok; i--) /* first key's signature ends on top */
		ok = seam_insheader(ctx, 0, "DKIM-Signature", sig[i - 1].header) == MI_SUCCESS;
	return policy_dkim(r, &m->v, ok ? POLICY_DKIM_SIGNED : POLICY_DKIM_MTA_REFUSED, NULL);
}

static sfsistat
mlfi_eom(SMFICTX *ctx)
{
	struct connctx *cc = seam_getpriv(ctx);
	struct msgctx *m = msg_of(ctx);
	if (m == NULL)
		return SMFIS_CONTINUE;
	update_queue_id(ctx, m);
	enum bw_action a = policy_effective(&m->v);
	if (m->dkim != NULL && !policy_refuses(a))
		a = msg_dkim_eom(ctx, m);
	if (paths != NULL && !policy_refuses(a) && paths_vendor(m->v.identity)) {
		paths_dkim(paths, m->rt->reg, &m->v, m->queue_id, (long long)time(NULL));
		a = policy_effective(&m->v);
	}
	if (a == BW_ACT_QUARANTINE) {
		char reason[QUARANTINE_REASON_MAX];
		snprintf(reason, sizeof(reason), "bulkwarden [%s] ref %s",
			 check_info(m->v.decider)->id, m->event_id);
		if (seam_quarantine(ctx, reason) != MI_SUCCESS)
			a = policy_quarantine_refused(m->rt->reg, &m->v);
	}
	if (policy_refuses(a))
		return refuse(ctx, cc, "eom", a);
	/* no accept without its decision event: on_internal_error instead */
	if (msg_finish(cc, "eom", (enum policy_outcome)a, "") != 0)
		return internal_error(ctx, "decision event not written");
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_abort(SMFICTX *ctx)
{
	msg_abandon(seam_getpriv(ctx));
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_close(SMFICTX *ctx)
{
	struct connctx *cc = seam_getpriv(ctx);
	if (cc != NULL) {
		msg_abandon(cc);
		free(cc);
		seam_setpriv(ctx, NULL);
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
