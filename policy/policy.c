/*
 * policy.c - per-message decision code (SPEC §3).
 *
 * Attribution uses only facts the MTA vouches for: the SASL login, the
 * client address and the envelope sender. Headers are inspected only after
 * attribution, and only to check the identity's domains and RFC 5322 /
 * RFC 8058 hygiene; they never choose the identity.
 *
 * Every check run is recorded in the verdict with its result and a detail
 * for the event. A failing check raises the verdict to its configured action
 * if that is more severe; the first check to reach the final severity is the
 * "decider" whose reply the client sees. Monitor mode keeps all of this and
 * only changes what the milter applies (policy_effective()).
 *
 * Untrusted input: login, MAIL FROM, header names and values. Copies are
 * bounded by the POLICY_* constants; longer values are flagged, not cut
 * silently where a check depends on them.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "policy/listunsub.h"
#include "policy/policy.h"

#define NET_MATCH_MAX 64 /* identities sharing one client network considered */

/*
 * Reset for a new message. The verdict is ~16 KiB, mostly bounded buffers
 * that are written before they are read; clearing all of it per message was
 * a third of the refuse path's instructions. So the large buffers are
 * listed here, in offset order, and everything between them is zeroed: a
 * field added to struct verdict or struct hdr_facts is cleared unless it is
 * listed (test_reset poisons the struct and checks every byte).
 */
#define VBUF(member, str) {offsetof(struct verdict, member), sizeof(((struct verdict *)0)->member), str}
static const struct verdict_buf {
	size_t off, len;
	bool string; /* emptied; else left as is (valid up to a count or flag) */
} verdict_bufs[] = {
	VBUF(login, true),
	VBUF(mail_from, true),
	VBUF(mail_domain, true),
	VBUF(hdrs.msgid, true),
	VBUF(hdrs.lu, true),
	VBUF(hdrs.lup, true),
	VBUF(hdrs.from_address, true),
	VBUF(hdrs.from_domain, true),
	VBUF(dmarc, false),	/* valid when dmarc_done */
	VBUF(checks, false),	/* valid up to n_checks */
	VBUF(sigs, false),	/* valid up to n_sigs */
	VBUF(waivers, false),	/* valid up to n_waivers */
};
#undef VBUF

void
policy_verdict_reset(struct verdict *v)
{
	char *p = (char *)v;
	size_t at = 0;
	for (size_t i = 0; i < sizeof(verdict_bufs) / sizeof(verdict_bufs[0]); i++) {
		const struct verdict_buf *b = &verdict_bufs[i];
		memset(p + at, 0, b->off - at);
		if (b->string)
			p[b->off] = '\0';
		at = b->off + b->len;
	}
	memset(p + at, 0, sizeof(*v) - at);
	v->would = BW_ACT_ACCEPT;
	v->decider = BW_CHK__COUNT;
}

/* The i-th entry of the reset table. */
bool
policy_verdict_buf(size_t i, size_t *off, size_t *len, bool *string)
{
	if (i >= sizeof(verdict_bufs) / sizeof(verdict_bufs[0]))
		return false;
	*off = verdict_bufs[i].off;
	*len = verdict_bufs[i].len;
	*string = verdict_bufs[i].string;
	return true;
}

void
policy_end(struct verdict *v)
{
	free(v->hdrs.from);
	v->hdrs.from = NULL;
}

/* Configured action of check c for this message. A suspension is never
 * waved through: its action is reject or tempfail whatever a registry
 * (which the loader checks too) says. */
static enum bw_action
action_of(const struct registry *r, const struct verdict *v, enum bw_check c)
{
	enum bw_action a = v->identity ? v->identity->actions[c] : r->set.actions[c];
	if (c == BW_CHK_SUSPENDED && a < BW_ACT_TEMPFAIL)
		a = BW_ACT_REJECT;
	return a;
}

/* Make the last recorded check apply in monitor mode too (SPEC §3: a
 * suspension is enforced in every mode). Only refusals are enforced. */
static void
enforce_last(struct verdict *v, enum bw_check c)
{
	if (v->n_checks == 0)
		return;
	const struct verdict_check *k = &v->checks[v->n_checks - 1];
	if (k->id == c && k->failed && k->action >= BW_ACT_TEMPFAIL && k->action > v->enforced) {
		v->enforced = k->action;
		v->enforced_by = k->id;
	}
}

/* 1 + the index of the waiver of check c in the verdict, or 0. The store
 * refuses waivers of the checks that must never be waived (state.h
 * state_waiver_name_ok); they are refused here again, so a waiver row
 * written behind bulkwarden's back cannot lift a suspension either. */
static unsigned char
waiver_of(const struct verdict *v, enum bw_check c)
{
	if (c == BW_CHK_SUSPENDED || c == BW_CHK_UNREGISTERED || c == BW_CHK_NOT_ACTIVE ||
	    c == BW_CHK_STATE_ERROR || c == BW_CHK_INTERNAL_ERROR)
		return 0;
	for (size_t i = 0; i < v->n_waivers; i++)
		if (v->waivers[i].check == c)
			return (unsigned char)(i + 1);
	return 0;
}

/*
 * Append a check result; detail is printf-formatted and bounded. A failure
 * the identity holds a waiver for (waivable) is recorded as failed with
 * action accept and the waiver's index: it neither raises `would` (in
 * either mode) nor decides the reply.
 */
static void
vrecord(const struct registry *r, struct verdict *v, enum bw_check c, bool failed, bool waivable,
	const char *fmt, va_list ap)
{
	if (v->n_checks == VERDICT_MAX_CHECKS)
		return; /* bounded; more checks than slots is a programming error */
	struct verdict_check *k = &v->checks[v->n_checks++];
	k->id = c;
	k->failed = failed;
	k->action = failed ? action_of(r, v, c) : BW_ACT_ACCEPT;
	k->waiver = failed && waivable ? waiver_of(v, c) : 0;
	vsnprintf(k->detail, sizeof(k->detail), fmt, ap); /* truncation fine: detail */
	if (k->waiver != 0) {
		k->action = BW_ACT_ACCEPT;
		return;
	}
	if (failed && k->action > v->would) {
		v->would = k->action;
		v->decider = c;
	} else if (failed && v->decider == BW_CHK__COUNT) {
		v->decider = c; /* accept-action failure: still name it */
	}
}

static void BW_PRINTF(5, 6)
record(const struct registry *r, struct verdict *v, enum bw_check c, bool failed,
       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vrecord(r, v, c, failed, true, fmt, ap);
	va_end(ap);
}

/* record() of a failure no waiver excuses. */
static void BW_PRINTF(4, 5)
record_unwaived(const struct registry *r, struct verdict *v, enum bw_check c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vrecord(r, v, c, true, false, fmt, ap);
	va_end(ap);
}

void
policy_fail(const struct registry *r, struct verdict *v, enum bw_check c, const char *detail)
{
	record(r, v, c, true, "%s", detail);
}

void
policy_fail_as(const struct registry *r, struct verdict *v, enum bw_check c, enum bw_action a,
	       const char *detail)
{
	/* at least a: a resource or MTA failure (a check that could not
	 * run, a header change refused) is not what a waiver excuses */
	record_unwaived(r, v, c, "%s", detail);
	struct verdict_check *k = &v->checks[v->n_checks - 1];
	if (k->id == c && a > k->action) {
		k->action = a;
		if (a > v->would) {
			v->would = a;
			v->decider = c;
		}
	}
}

void
policy_pass(const struct registry *r, struct verdict *v, enum bw_check c, const char *detail)
{
	record(r, v, c, false, "%s", detail);
}

bool
policy_auth_failed(const struct verdict *v)
{
	for (size_t i = 0; i < v->n_checks; i++) {
		const struct verdict_check *k = &v->checks[i];
		if (k->failed &&
		    (k->id == BW_CHK_SPF || k->id == BW_CHK_DKIM || k->id == BW_CHK_DMARC))
			return true;
	}
	return false;
}

enum bw_action
policy_effective(const struct verdict *v)
{
	return v->monitor ? v->enforced : v->would;
}

enum bw_check
policy_decider(const struct verdict *v)
{
	return v->monitor && v->enforced != BW_ACT_ACCEPT ? v->enforced_by : v->decider;
}

/* Reject and tempfail end the stage; quarantine waits for end of message. */
bool
policy_refuses(enum bw_action a)
{
	return a == BW_ACT_REJECT || a == BW_ACT_TEMPFAIL;
}

/* Action to apply at an SMTP stage: only refusals act early. */
static enum bw_action
act_now(const struct verdict *v)
{
	enum bw_action a = policy_effective(v);
	return policy_refuses(a) ? a : BW_ACT_ACCEPT;
}

bool
policy_outcome_sent(enum policy_outcome o)
{
	return o == POLICY_OUT_ACCEPT || o == POLICY_OUT_QUARANTINE;
}

/* The event's name of an outcome. */
const char *
policy_outcome_name(enum policy_outcome o)
{
	return o == POLICY_OUT_ABORT ? "abort" : check_action_name((enum bw_action)o);
}

/* Envelope domain of MAIL FROM; false for the null sender or bad syntax. */
static bool
envelope_domain(const char *path, struct verdict *v, const char **why)
{
	struct addr_result ar;
	enum addr_status st = addr_parse_path(path, &ar);
	if (st == ADDR_EMPTY) {
		*why = "null sender";
		return false;
	}
	if (st != ADDR_OK) {
		*why = "unparseable envelope sender";
		return false;
	}
	if (!domain_normalize(ar.mbox.domain, strlen(ar.mbox.domain), v->mail_domain)) {
		*why = "invalid envelope sender domain";
		return false;
	}
	return true;
}

/* Choose the identity for a message without login: network, then domain. */
static const struct bw_identity *
attribute_by_network(const struct registry *r, const struct mail_facts *f, const char *dom,
		     size_t *n_net)
{
	const struct bw_identity *cand[NET_MATCH_MAX];
	*n_net = 0;
	if (!f->have_addr)
		return NULL;
	size_t n = registry_by_network(r, &f->addr, cand, NET_MATCH_MAX);
	*n_net = n;
	if (n > NET_MATCH_MAX)
		n = NET_MATCH_MAX;
	if (dom[0] == '\0')
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (domain_match_list(cand[i]->envelope_domains, cand[i]->n_envelope_domains, dom))
			return cand[i];
	return NULL;
}

/* SPF for the envelope domain from each egress address: all must pass. */
static void
check_spf(const struct registry *r, const struct policy_env *env, struct verdict *v)
{
	const struct bw_identity *id = v->identity;
	const char *const *ips = id->n_egress_ips ? id->egress_ips : r->set.egress_ips;
	size_t n_ips = id->n_egress_ips ? id->n_egress_ips : r->set.n_egress_ips;
	v->spf_done = true;
	v->spf_pass = true;
	for (size_t i = 0; i < n_ips; i++) {
		struct policy_spf sp;
		memset(&sp, 0, sizeof(sp));
		env->spf(env->ctx, v->mail_domain, ips[i], &sp);
		/* "signed" only while every answer so far was */
		if (sp.dnssec[0] != '\0' &&
		    (v->spf_dnssec[0] == '\0' || strcmp(v->spf_dnssec, "signed") == 0))
			bw_strlcpy(v->spf_dnssec, sp.dnssec, sizeof(v->spf_dnssec));
		if (sp.verdict == POLICY_AUTH_PASS)
			continue;
		v->spf_pass = false;
		bw_strlcpy(v->spf_result, sp.result, sizeof(v->spf_result));
		bw_strlcpy(v->spf_ip, ips[i], sizeof(v->spf_ip));
		if (sp.verdict == POLICY_AUTH_DNSERR) {
			record(r, v, BW_CHK_DNS_ERROR, true, "SPF %s from %s: %s", v->mail_domain,
			       ips[i], sp.detail);
		} else {
			record(r, v, BW_CHK_SPF, true, "%s from %s: %s (%s)", v->mail_domain, ips[i],
			       sp.result, sp.detail);
		}
		return; /* the first address that fails says enough */
	}
	if (v->spf_pass) {
		bw_strlcpy(v->spf_result, "pass", sizeof(v->spf_result));
		bw_strlcpy(v->spf_ip, ips[0], sizeof(v->spf_ip));
		record(r, v, BW_CHK_SPF, false, "%s: pass from %zu egress address(es)", v->mail_domain,
		       n_ips);
	}
}

/* Reserve the message (and rcpts recipients) against the identity's
 * limits, unless it is already refused. */
static void
reserve(const struct registry *r, const struct policy_env *env, struct verdict *v,
	unsigned rcpts)
{
	if (v->would >= BW_ACT_TEMPFAIL || env == NULL || env->reserve == NULL || v->reserved)
		return;
	char over[VERDICT_DETAIL_MAX - 32] = "";
	int q = env->reserve(env->ctx, v->identity, 1, rcpts, v->now, over, sizeof(over));
	if (q == 0) {
		v->reserved = true;
		v->reserved_at = v->now;
		record(r, v, BW_CHK_RATE_LIMIT, false, "within limits");
	} else if (q > 0) {
		record(r, v, BW_CHK_RATE_LIMIT, true, "%s", over);
	} else {
		record(r, v, BW_CHK_STATE_ERROR, true, "volume counters: %s", over);
	}
}

enum bw_action
policy_mail(const struct registry *r, const struct policy_env *env, const struct mail_facts *f,
	    struct verdict *v)
{
	const char *why = "";
	bool have_dom;

	bw_strlcpy(v->login, f->login, sizeof(v->login));
	bw_strlcpy(v->mail_from, f->mail_from, sizeof(v->mail_from));
	v->non_smtp = f->non_smtp;
	have_dom = envelope_domain(f->mail_from, v, &why);
	v->monitor = r->set.mode == BW_MODE_MONITOR;

	/* 1. attribution */
	if (f->login[0] != '\0') {
		v->identity = registry_by_login(r, f->login);
		if (v->identity == NULL) {
			record(r, v, BW_CHK_UNREGISTERED, true, "login not in the registry");
			return act_now(v);
		}
	} else {
		size_t n_net;
		v->identity = attribute_by_network(r, f, have_dom ? v->mail_domain : "", &n_net);
		if (v->identity == NULL) {
			record(r, v, BW_CHK_UNREGISTERED, true,
			       n_net ? "no identity on this network sends for this envelope domain"
				     : "no login and no registered network");
			return act_now(v);
		}
	}
	const struct bw_identity *id = v->identity;
	if (id->mode == BW_MODE_MONITOR)
		v->monitor = true;
	if (env != NULL && env->waivers != NULL) {
		v->n_waivers = env->waivers(env->ctx, id->id, f->now, v->waivers, POLICY_WAIVERS_MAX);
		if (v->n_waivers > POLICY_WAIVERS_MAX)
			v->n_waivers = POLICY_WAIVERS_MAX;
	}
	record(r, v, BW_CHK_UNREGISTERED, false, "identity %s by %s", id->id,
	       f->login[0] ? "login" : "network");

	/* 2. credentials bound to networks */
	if (f->login[0] != '\0' && id->n_networks > 0) {
		bool inside = false;
		for (size_t i = 0; f->have_addr && i < id->n_networks && !inside; i++)
			inside = cidr_contains(&id->networks[i], &f->addr);
		if (!inside)
			record(r, v, BW_CHK_NETWORK, true, "client %s outside the identity's networks",
			       f->have_addr ? f->client_ip : "(unknown)");
		else
			record(r, v, BW_CHK_NETWORK, false, "client %s", f->client_ip);
	}

	/* 3. lifecycle and suspension overlay */
	v->life = registry_lifecycle(id, f->now, &why);
	if (v->life != BW_LIFE_ACTIVE)
		record(r, v, BW_CHK_NOT_ACTIVE, true, "%s: %s", registry_life_name(v->life), why);
	else
		record(r, v, BW_CHK_NOT_ACTIVE, false, "active");

	if (env != NULL && env->suspended != NULL) {
		char reason[VERDICT_DETAIL_MAX - 16] = "";
		int s = env->suspended(env->ctx, id->id, reason, sizeof(reason));
		if (s < 0) {
			/* unknown is not "not suspended": monitor mode enforces it too */
			record(r, v, BW_CHK_STATE_ERROR, true, "suspension state unavailable");
			enforce_last(v, BW_CHK_STATE_ERROR);
		} else if (s > 0) {
			v->suspended = true;
			record(r, v, BW_CHK_SUSPENDED, true, "suspended: %s", reason);
			enforce_last(v, BW_CHK_SUSPENDED);
		} else {
			record(r, v, BW_CHK_SUSPENDED, false, "not suspended");
		}
	}

	/* 4. envelope domain */
	if (!have_dom)
		record(r, v, BW_CHK_ENVELOPE_DOMAIN, true, "%s", why);
	else if (!domain_match_list(id->envelope_domains, id->n_envelope_domains, v->mail_domain))
		record(r, v, BW_CHK_ENVELOPE_DOMAIN, true, "domain %s not in envelope_domains",
		       v->mail_domain);
	else
		record(r, v, BW_CHK_ENVELOPE_DOMAIN, false, "domain %s", v->mail_domain);

	/* 5. SPF as receivers will see it: from every egress address (none
	 * configured: no prediction) */
	if (have_dom && (r->set.n_egress_ips > 0 || id->n_egress_ips > 0) &&
	    v->would < BW_ACT_TEMPFAIL && env != NULL && env->spf != NULL)
		check_spf(r, env, v);

	/* 6. volume: only a message that may still be sent takes a slot; with
	 * recipient limits the count is known at the end of the headers */
	v->now = f->now;
	if ((id->per_hour || id->per_day) && !id->rcpt_per_hour && !id->rcpt_per_day)
		reserve(r, env, v, 0);
	return act_now(v);
}

enum bw_action
policy_rcpt(const struct registry *r, struct verdict *v)
{
	unsigned limit = v->identity ? v->identity->max_recipients : r->set.max_recipients;
	if (v->rcpt_accepted < limit) {
		v->rcpt_accepted++;
		return BW_ACT_ACCEPT;
	}
	enum bw_action a = action_of(r, v, BW_CHK_RECIPIENTS);
	if (v->monitor || a == BW_ACT_ACCEPT || waiver_of(v, BW_CHK_RECIPIENTS) != 0) {
		/* counted as would-be refusals; the recipient goes through */
		v->rcpt_refused++;
		v->rcpt_accepted++;
		if (v->rcpt_refused == 1)
			record(r, v, BW_CHK_RECIPIENTS, true, "more than %u recipients", limit);
		return BW_ACT_ACCEPT;
	}
	if (a == BW_ACT_QUARANTINE || v->non_smtp) {
		/* Whole-message action: a local submission has no per-recipient
		 * dialogue to refuse in (SPEC §7), and quarantine is per message. */
		v->rcpt_accepted++;
		if (++v->rcpt_refused == 1)
			record(r, v, BW_CHK_RECIPIENTS, true, "more than %u recipients", limit);
		return BW_ACT_ACCEPT;
	}
	/* Refuse this recipient only; the message itself goes on, but its
	 * event names the refusal (as record() names an accept-action
	 * failure) unless a stronger check decides. */
	if (++v->rcpt_refused == 1) {
		if (v->n_checks < VERDICT_MAX_CHECKS) {
			struct verdict_check *k = &v->checks[v->n_checks++];
			k->id = BW_CHK_RECIPIENTS;
			k->failed = true;
			k->action = a;
			k->waiver = 0;
		}
		if (v->decider == BW_CHK__COUNT)
			v->decider = BW_CHK_RECIPIENTS;
	}
	for (size_t i = 0; i < v->n_checks; i++)
		if (v->checks[i].id == BW_CHK_RECIPIENTS)
			snprintf(v->checks[i].detail, sizeof(v->checks[i].detail),
				 "%u recipient(s) refused past the limit of %u", v->rcpt_refused, limit);
	return a;
}

enum bw_action
policy_rcpt_suppressed(const struct registry *r, struct verdict *v)
{
	enum bw_action a = action_of(r, v, BW_CHK_SUPPRESSED);
	bool refuse = !v->monitor && !v->non_smtp && policy_refuses(a);
	struct verdict_check *k = NULL;
	v->rcpt_suppressed++;
	for (size_t i = 0; i < v->n_checks; i++)
		if (v->checks[i].id == BW_CHK_SUPPRESSED)
			k = &v->checks[i];
	if (k == NULL && v->n_checks < VERDICT_MAX_CHECKS) {
		/* per recipient, like the recipients check: the message goes on,
		 * its event names the refusal unless a stronger check decides */
		k = &v->checks[v->n_checks++];
		k->id = BW_CHK_SUPPRESSED;
		k->failed = true;
		k->action = a;
		if (v->decider == BW_CHK__COUNT)
			v->decider = BW_CHK_SUPPRESSED;
	}
	if (k != NULL) {
		if (refuse)
			snprintf(k->detail, sizeof(k->detail),
				 "%u recipient(s) refused: on the identity's suppression list",
				 v->rcpt_suppressed);
		else
			snprintf(k->detail, sizeof(k->detail),
				 "%u recipient(s) on the identity's suppression list, not refused (%s)",
				 v->rcpt_suppressed,
				 v->monitor	? "monitor mode"
				 : v->non_smtp ? "local submission"
					       : "action is not a refusal");
	}
	return refuse ? a : BW_ACT_ACCEPT;
}

/* Bounded copy of a header value, flagging truncation. */
static void
keep(char *dst, size_t cap, const char *src, bool *over)
{
	if (bw_strlcpy(dst, src, cap) >= cap && over != NULL)
		*over = true;
}

int
policy_header(struct verdict *v, const char *name, const char *value)
{
	struct hdr_facts *h = &v->hdrs;
	if (strcasecmp(name, "From") == 0) {
		if (h->from_count++ == 0) {
			size_t len = strlen(value);
			if (len > ADDR_FIELD_MAX) {
				h->from_oversized = true;
				len = 0;
			}
			h->from = malloc(len + 1);
			if (h->from == NULL)
				return -1;
			memcpy(h->from, value, len);
			h->from[len] = '\0';
			h->from_len = len;
		}
	} else if (strcasecmp(name, "Date") == 0) {
		h->date_count++;
	} else if (strcasecmp(name, "Message-ID") == 0) {
		if (h->msgid_count++ == 0)
			keep(h->msgid, sizeof(h->msgid), value, NULL);
	} else if (strcasecmp(name, "List-Unsubscribe") == 0) {
		if (h->lu_count++ == 0)
			keep(h->lu, sizeof(h->lu), value, &h->lu_oversized);
	} else if (strcasecmp(name, "List-Unsubscribe-Post") == 0) {
		if (h->lup_count++ == 0)
			keep(h->lup, sizeof(h->lup), value, NULL);
	}
	return 0;
}

/* The List-Unsubscribe-Post value, whitespace trimmed, is exactly the
 * RFC 8058 key/value pair. */
static bool
one_click(const char *lup)
{
	static const char want[] = "List-Unsubscribe=One-Click";
	while (*lup == ' ' || *lup == '\t' || *lup == '\r' || *lup == '\n')
		lup++;
	size_t n = strlen(lup);
	while (n > 0 && (lup[n - 1] == ' ' || lup[n - 1] == '\t' || lup[n - 1] == '\r' ||
			 lup[n - 1] == '\n'))
		n--;
	return n == sizeof(want) - 1 && memcmp(lup, want, n) == 0;
}

/* rfc5322 and from-domain; returns true when the From domain is known. */
static void
check_from(const struct registry *r, struct verdict *v)
{
	struct hdr_facts *h = &v->hdrs;
	const struct bw_identity *id = v->identity;
	struct addr_result ar;
	char dom[DOMAIN_MAX + 1];

	if (h->from_count != 1) {
		record(r, v, BW_CHK_RFC5322, true, "%u From header fields", h->from_count);
		return;
	}
	if (h->from_oversized) {
		record(r, v, BW_CHK_RFC5322, true, "From field longer than %d bytes", ADDR_FIELD_MAX);
		return;
	}
	if (addr_parse_from(h->from, h->from_len, &ar) != ADDR_OK) {
		record(r, v, BW_CHK_RFC5322, true, "From: %s", ar.why ? ar.why : "unparseable");
		return;
	}
	if (!domain_normalize(ar.mbox.domain, strlen(ar.mbox.domain), dom)) {
		record(r, v, BW_CHK_RFC5322, true, "From: invalid domain");
		return;
	}
	snprintf(h->from_address, sizeof(h->from_address), "%s@%s", ar.mbox.local, dom);
	bw_strlcpy(h->from_domain, dom, sizeof(h->from_domain));
	if (h->date_count != 1 || h->msgid_count != 1) {
		record(r, v, BW_CHK_RFC5322, true, "%u Date and %u Message-ID fields (need 1 each)",
		       h->date_count, h->msgid_count);
	} else {
		record(r, v, BW_CHK_RFC5322, false, "one From, Date and Message-ID");
	}
	if (id == NULL)
		return;
	if (domain_match_list(id->from_domains, id->n_from_domains, dom))
		record(r, v, BW_CHK_FROM_DOMAIN, false, "domain %s", dom);
	else
		record(r, v, BW_CHK_FROM_DOMAIN, true, "domain %s not in from_domains", dom);
}

/* DMARC for the From domain: a record, a policy at least the identity's
 * minimum, and alignment by the identity's DKIM domains or by SPF. */
static void
check_dmarc(const struct registry *r, const struct policy_env *env, struct verdict *v)
{
	const struct bw_identity *id = v->identity;
	const char *dkim_domains[16];
	size_t n = 0;
	for (size_t i = 0; i < id->n_dkim && n < 16; i++)
		dkim_domains[n++] = id->dkim[i].domain;
	struct policy_dmarc *d = &v->dmarc;
	memset(d, 0, sizeof(*d));
	env->dmarc(env->ctx, v->hdrs.from_domain, dkim_domains, n, v->mail_domain, v->spf_pass,
		   id->min_dmarc_policy, d);
	v->dmarc_done = true;
	if (d->verdict == POLICY_AUTH_DNSERR)
		record(r, v, BW_CHK_DNS_ERROR, true, "DMARC %s: %s", v->hdrs.from_domain, d->detail);
	else if (d->verdict == POLICY_AUTH_FAIL)
		record(r, v, BW_CHK_DMARC, true, "%s: %s", v->hdrs.from_domain, d->detail);
	else
		record(r, v, BW_CHK_DMARC, false, "%s: p=%s at %s (%s), aligned", v->hdrs.from_domain,
		       d->policy, d->domain, d->method);
}

enum bw_action
policy_eoh(const struct registry *r, const struct policy_env *env, struct verdict *v)
{
	struct hdr_facts *h = &v->hdrs;
	check_from(r, v);
	if (v->identity != NULL && h->from_domain[0] != '\0' && v->would < BW_ACT_TEMPFAIL &&
	    env != NULL && env->dmarc != NULL)
		check_dmarc(r, env, v);
	if (v->identity != NULL && v->identity->class == BW_CLASS_MARKETING) {
		const char *bad = NULL, *why = NULL;
		if (h->lu_count != 1)
			bad = h->lu_count ? "several List-Unsubscribe fields" : "no List-Unsubscribe";
		else if (h->lu_oversized)
			bad = "List-Unsubscribe too long";
		else if (!listunsub_https(h->lu, strlen(h->lu), &why))
			bad = why;
		else if (h->lup_count != 1)
			bad = h->lup_count ? "several List-Unsubscribe-Post fields"
					   : "no List-Unsubscribe-Post";
		else if (!one_click(h->lup))
			bad = "List-Unsubscribe-Post is not List-Unsubscribe=One-Click";
		if (why != NULL && bad == why)
			record(r, v, BW_CHK_LIST_UNSUBSCRIBE, true, "List-Unsubscribe: %s", why);
		else if (bad)
			record(r, v, BW_CHK_LIST_UNSUBSCRIBE, true, "%s", bad);
		else
			record(r, v, BW_CHK_LIST_UNSUBSCRIBE, false, "RFC 8058 one-click");
	}
	const struct bw_identity *id = v->identity;
	if (id != NULL && (id->rcpt_per_hour || id->rcpt_per_day))
		reserve(r, env, v, v->rcpt_accepted);
	return act_now(v);
}

void
policy_reply(const struct verdict *v, enum bw_check c, enum bw_action a, const char *ref,
	     const char **rcode, const char **xcode, char *text, size_t len)
{
	const struct check_info *ci = check_info(c);
	const char *idn = v->identity ? v->identity->id : "";
	char what[200];

	if (a == BW_ACT_TEMPFAIL) {
		*rcode = ci->tempfail_rcode;
		*xcode = ci->tempfail_xcode;
	} else {
		*rcode = ci->reject_rcode;
		*xcode = ci->reject_xcode;
	}
	switch (c) {
	case BW_CHK_UNREGISTERED:
		snprintf(what, sizeof(what), "sender is not authorized to send through this relay");
		break;
	case BW_CHK_SUSPENDED:
		snprintf(what, sizeof(what), "sender identity \"%s\" is suspended", idn);
		break;
	case BW_CHK_NOT_ACTIVE:
		snprintf(what, sizeof(what), "sender identity \"%s\" is %s", idn,
			 v->life == BW_LIFE_RETIRED ? "retired" : "pending approval or activation");
		break;
	case BW_CHK_NETWORK:
		snprintf(what, sizeof(what), "login not permitted from this client address");
		break;
	case BW_CHK_ENVELOPE_DOMAIN:
		snprintf(what, sizeof(what),
			 "envelope sender domain not authorized for sender identity \"%s\"", idn);
		break;
	case BW_CHK_FROM_DOMAIN:
		snprintf(what, sizeof(what), "From domain not authorized for sender identity \"%s\"",
			 idn);
		break;
	case BW_CHK_RFC5322:
		snprintf(what, sizeof(what),
			 "message needs exactly one From with one valid address, a Date and a "
			 "Message-ID");
		break;
	case BW_CHK_LIST_UNSUBSCRIBE:
		snprintf(what, sizeof(what),
			 "marketing mail needs RFC 8058 one-click List-Unsubscribe (https URI and "
			 "List-Unsubscribe-Post)");
		break;
	case BW_CHK_RECIPIENTS:
		if (v->non_smtp && a == BW_ACT_REJECT) {
			/* a local submission is refused whole, permanently */
			*rcode = "550";
			*xcode = "5.5.3";
			snprintf(what, sizeof(what), "too many recipients for one message");
			break;
		}
		snprintf(what, sizeof(what), "too many recipients for one message, send the rest "
					     "in another transaction");
		break;
	case BW_CHK_RATE_LIMIT:
		snprintf(what, sizeof(what), "sender identity \"%s\" is over its sending limit", idn);
		break;
	case BW_CHK_SUPPRESSED:
		snprintf(what, sizeof(what),
			 "recipient is on the suppression list of sender identity \"%s\"", idn);
		break;
	case BW_CHK_STATE_ERROR:
		snprintf(what, sizeof(what), "sender state unavailable, try again later");
		break;
	case BW_CHK_SPF:
		snprintf(what, sizeof(what), "SPF for the envelope domain would not pass from this "
					     "relay");
		break;
	case BW_CHK_DMARC:
		snprintf(what, sizeof(what), "DMARC for the From domain is missing, too weak or "
					     "would not align");
		break;
	case BW_CHK_DNS_ERROR:
		snprintf(what, sizeof(what), "DNS lookup failed, try again later");
		break;
	case BW_CHK_NEW_SENDING_PATH:
		snprintf(what, sizeof(what),
			 "sender identity \"%s\" is sending from a new path awaiting approval", idn);
		break;
	case BW_CHK_VOLUME_SURGE:
		snprintf(what, sizeof(what),
			 "sender identity \"%s\" is far above its usual volume this hour", idn);
		break;
	default:
		snprintf(what, sizeof(what), "%s", a == BW_ACT_TEMPFAIL
							 ? "temporary failure, try again later"
							 : "message refused by sender policy");
		break;
	}
	snprintf(text, len, "[%s] %s (ref %s)", ci->id, what, ref);
}

/* The whole message is refused: the decider speaks, else internal-error. */
void
policy_refusal(const struct verdict *v, enum bw_action a, const char *ref, const char **rcode,
	       const char **xcode, char *text, size_t len)
{
	enum bw_check c = policy_decider(v);
	if (c == BW_CHK__COUNT)
		c = BW_CHK_INTERNAL_ERROR;
	policy_reply(v, c, a, ref, rcode, xcode, text, len);
}

/* milter.on_internal_error without a message (tempfail with no snapshot). */
enum bw_action
policy_internal(const struct registry *r, const char **rcode, const char **xcode,
		const char **text)
{
	const struct check_info *ci = check_info(BW_CHK_INTERNAL_ERROR);
	enum bw_action a = r != NULL ? r->set.on_internal_error : BW_ACT_TEMPFAIL;
	*rcode = a == BW_ACT_REJECT ? ci->reject_rcode : ci->tempfail_rcode;
	*xcode = a == BW_ACT_REJECT ? ci->reject_xcode : ci->tempfail_xcode;
	*text = "[internal-error] temporary failure, try again later";
	return a;
}

/* DKIM results onto the check: a failure to sign or to tell is a resource
 * problem (at least tempfail), an unverified signature the configured
 * action. */
enum bw_action
policy_dkim(const struct registry *r, struct verdict *v, enum policy_dkim d, const char *detail)
{
	switch (d) {
	case POLICY_DKIM_SIGNED:
		policy_pass(r, v, BW_CHK_DKIM, "signed");
		break;
	case POLICY_DKIM_VERIFIED:
		policy_pass(r, v, BW_CHK_DKIM, "registered signature verifies");
		break;
	case POLICY_DKIM_SETUP_FAILED:
	case POLICY_DKIM_SIGN_FAILED:
	case POLICY_DKIM_UNVERIFIED:
		policy_fail(r, v, BW_CHK_DKIM, detail ? detail : "");
		break;
	case POLICY_DKIM_MTA_REFUSED:
		policy_fail_as(r, v, BW_CHK_DKIM, BW_ACT_TEMPFAIL, "the MTA refused a header change");
		break;
	case POLICY_DKIM_VERIFY_ERROR:
		policy_fail_as(r, v, BW_CHK_DKIM, BW_ACT_TEMPFAIL, detail ? detail : "");
		break;
	}
	return policy_effective(v);
}

/* One signature for the event. */
void
policy_dkim_sig(struct verdict *v, const char *domain, const char *selector, const char *algorithm,
		int bits, const char *result)
{
	if (v->n_sigs >= VERDICT_MAX_SIGS)
		return;
	struct verdict_sig *g = &v->sigs[v->n_sigs++];
	bw_strlcpy(g->domain, domain ? domain : "", sizeof(g->domain));
	bw_strlcpy(g->selector, selector ? selector : "", sizeof(g->selector));
	bw_strlcpy(g->algorithm, algorithm ? algorithm : "", sizeof(g->algorithm));
	g->bits = bits;
	bw_strlcpy(g->result, result ? result : "", sizeof(g->result));
}

/* Quarantine is not available: fail closed. */
enum bw_action
policy_quarantine_refused(const struct registry *r, struct verdict *v)
{
	policy_fail_as(r, v, BW_CHK_INTERNAL_ERROR, BW_ACT_TEMPFAIL, "quarantine refused by MTA");
	enum bw_action a = policy_effective(v);
	return policy_refuses(a) ? a : BW_ACT_TEMPFAIL;
}
