/*
 * event.c - the decision event (SPEC §5) built from a verdict with the
 * JSON line builder of base/json.c. Pure code: no I/O.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "base/ecs.h"
#include "policy/event.h"

/* Identity state as operators read it: suspension overlays lifecycle. */
static const char *
identity_state(const struct verdict *v)
{
	if (v->identity == NULL)
		return "unregistered";
	if (v->suspended)
		return "suspended";
	return registry_life_name(v->life);
}

void
event_decision(struct jbuf *j, const struct registry *r, const struct verdict *v,
	       const struct event_msg *m)
{
	char rev[BW_REVISION_HEX + 1], waived[VERDICT_DETAIL_MAX + 64];
	const char *reason = NULL, *first = NULL;
	const struct verdict_check *first_waived = NULL;
	enum bw_check decider = policy_decider(v);

	/* the deciding check's detail; else the first failure: nothing that
	 * failed (a recipient refused past the limit) passes for success; a
	 * waived failure says so */
	for (size_t i = 0; i < v->n_checks; i++) {
		const struct verdict_check *k = &v->checks[i];
		if (!k->failed)
			continue;
		if (k->waiver != 0) {
			if (first_waived == NULL)
				first_waived = k;
			continue;
		}
		if (first == NULL)
			first = k->detail;
		if (k->id == decider) {
			reason = k->detail;
			break;
		}
	}
	if (reason == NULL && first == NULL && first_waived != NULL) {
		snprintf(waived, sizeof(waived), "waived %s: %s", check_info(first_waived->id)->id,
			 first_waived->detail); /* truncation fine: a reason */
		first = waived;
	}
	if (reason == NULL)
		reason = first != NULL ? first : "all checks passed";
	memcpy(rev, r->revision, BW_REVISION_HEX);
	rev[BW_REVISION_HEX] = '\0';

	jbuf_begin(j);
	jbuf_timestamp(j, "@timestamp", m->ts_sec, m->ts_msec);
	jbuf_str(j, "event.kind", "event");
	jbuf_str(j, "event.dataset", "bulkwarden.decision");
	jbuf_str(j, "event.id", m->event_id);
	jbuf_str(j, "event.action", policy_outcome_name(m->outcome));
	jbuf_str(j, "event.outcome",
		 m->outcome == POLICY_OUT_ACCEPT  ? "success"
		 : m->outcome == POLICY_OUT_ABORT ? "unknown"
						  : "failure");
	jbuf_str(j, "event.reason", reason);
	if (m->xcode[0] != '\0')
		jbuf_str(j, "event.code", m->xcode);
	jbuf_str(j, "email.direction", "outbound");
	if (v->hdrs.from_address[0] != '\0')
		jbuf_str(j, "email.from.address", v->hdrs.from_address);
	if (v->hdrs.msgid[0] != '\0')
		jbuf_str(j, "email.message_id", v->hdrs.msgid);
	if (m->queue_id[0] != '\0')
		jbuf_str(j, "email.local_id", m->queue_id);
	jbuf_str(j, "source.ip", m->client_ip);
	if (v->login[0] != '\0')
		jbuf_str(j, "user.name", v->login);
	if (v->identity != NULL)
		jbuf_str(j, "bulkwarden.identity.id", v->identity->id);
	jbuf_str(j, "bulkwarden.identity.state", identity_state(v));
	jbuf_str(j, "bulkwarden.registry.revision", rev);
	jbuf_str(j, "bulkwarden.stage", m->stage);
	jbuf_str(j, "bulkwarden.envelope.mail_from", v->mail_from);
	jbuf_num(j, "bulkwarden.envelope.rcpt_count", v->rcpt_accepted);
	if (v->rcpt_refused)
		jbuf_num(j, "bulkwarden.envelope.rcpt_refused", v->rcpt_refused);
	if (v->rcpt_suppressed)
		jbuf_num(j, "bulkwarden.envelope.rcpt_suppressed", v->rcpt_suppressed);
	jbuf_num(j, "bulkwarden.size", m->size);
	if (v->spf_done && v->spf_result[0] != '\0') {
		jbuf_str(j, "bulkwarden.spf.result", v->spf_result);
		jbuf_str(j, "bulkwarden.spf.egress_ip", v->spf_ip);
		if (v->spf_dnssec[0] != '\0')
			jbuf_str(j, "bulkwarden.spf.dnssec", v->spf_dnssec);
	}
	if (v->dmarc_done) {
		jbuf_bool(j, "bulkwarden.dmarc.found", v->dmarc.found);
		if (v->dmarc.dnssec[0] != '\0')
			jbuf_str(j, "bulkwarden.dmarc.dnssec", v->dmarc.dnssec);
		if (v->dmarc.found) {
			jbuf_str(j, "bulkwarden.dmarc.domain", v->dmarc.domain);
			jbuf_str(j, "bulkwarden.dmarc.policy", v->dmarc.policy);
			jbuf_str(j, "bulkwarden.dmarc.method", v->dmarc.method);
			jbuf_bool(j, "bulkwarden.dmarc.aligned", v->dmarc.aligned);
		}
	}
	jbuf_str(j, "bulkwarden.mode", v->monitor ? "monitor" : "enforce");
	if (v->monitor)
		jbuf_str(j, "bulkwarden.would", check_action_name(v->would));
	if (v->n_sigs > 0) {
		jbuf_array_begin(j, "bulkwarden.dkim");
		for (size_t i = 0; i < v->n_sigs; i++) {
			const struct verdict_sig *g = &v->sigs[i];
			jbuf_object_begin(j, NULL);
			jbuf_str(j, "d", g->domain);
			jbuf_str(j, "s", g->selector);
			jbuf_str(j, "algorithm", g->algorithm);
			jbuf_num(j, "bits", g->bits);
			jbuf_str(j, "result", g->result);
			jbuf_object_end(j);
		}
		jbuf_array_end(j);
	}
	jbuf_array_begin(j, "bulkwarden.checks");
	for (size_t i = 0; i < v->n_checks; i++) {
		const struct verdict_check *k = &v->checks[i];
		jbuf_object_begin(j, NULL);
		jbuf_str(j, "id", check_info(k->id)->id);
		jbuf_str(j, "result", k->failed ? "fail" : "pass");
		if (k->failed)
			jbuf_str(j, "action", check_action_name(k->action));
		jbuf_str(j, "detail", k->detail);
		if (k->failed && k->waiver != 0 && k->waiver <= v->n_waivers) {
			const struct policy_waiver *w = &v->waivers[k->waiver - 1];
			jbuf_object_begin(j, "waived");
			jbuf_num(j, "id", w->wid);
			jbuf_str(j, "ticket", w->ticket);
			jbuf_timestamp(j, "until", w->until, 0);
			jbuf_object_end(j);
		}
		jbuf_object_end(j);
	}
	jbuf_array_end(j);
	/* ECS: an email event, and a network allow/deny for the SIEM's
	 * firewall-style views (accept allowed; a refusal, quarantine or
	 * deferral denied; an aborted message neither). */
	ecs_common(j, "email", "network", "info",
		   m->outcome == POLICY_OUT_ACCEPT  ? "allowed"
		   : m->outcome == POLICY_OUT_ABORT ? NULL
						    : "denied");
	jbuf_end(j);
}
