/*
 * event.c - bounded, escaping JSON line builder and the decision event.
 *
 * Escaping: '"' and '\\' are escaped, control characters and DEL become
 * \u00XX, well-formed UTF-8 passes through, and every byte of a malformed
 * sequence becomes \u00XX (so the output is always valid UTF-8 JSON).
 * The line is bounded by EVENT_LINE_MAX; space for closing brackets is
 * reserved so a cut line still parses.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/util.h"
#include "policy/event.h"

#define CLOSE_RESERVE 64 /* bytes kept for closing brackets, flag and newline */

/* Raw append; false (and truncated) when it would eat into the reserve. */
static bool
put(struct jbuf *j, const char *s, size_t n)
{
	if (j->len + n + CLOSE_RESERVE > sizeof(j->buf)) {
		j->truncated = true;
		return false;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	return true;
}

/* Escaped string with quotes; sets truncated when it does not fit. */
static void
put_string(struct jbuf *j, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	put(j, "\"", 1);
	for (size_t i = 0; i < n && !j->truncated;) {
		unsigned char c = p[i];
		char esc[8];
		size_t k;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			k = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			/* a run of bytes that need no escaping: one copy */
			size_t e = i + 1;
			while (e < n && p[e] >= 0x20 && p[e] < 0x7f && p[e] != '"' && p[e] != '\\')
				e++;
			put(j, s + i, e - i);
			i = e;
			continue;
		} else if (c >= 0x80 && (k = bw_utf8_len(p + i, n - i)) != 0) {
			put(j, s + i, k);
			i += k;
			continue;
		} else { /* control, DEL, malformed UTF-8 byte */
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			k = 6;
		}
		put(j, esc, k);
		i++;
	}
	put(j, "\"", 1);
}

/*
 * Start a member: remembers where it began so end_member() can take back a
 * member that did not fit whole. Returns false when the line is already full.
 */
static bool
begin_member(struct jbuf *j, const char *key, size_t *mark)
{
	if (j->truncated)
		return false;
	*mark = j->len;
	if (!j->first)
		put(j, ",", 1);
	if (key != NULL) {
		put_string(j, key, strlen(key));
		put(j, ":", 1);
	}
	return true;
}

/* Keep the member, or roll it back if anything in it was cut. */
static bool
end_member(struct jbuf *j, size_t mark)
{
	if (j->truncated) {
		j->len = mark;
		return false;
	}
	j->first = false;
	return true;
}

void
jbuf_begin(struct jbuf *j)
{
	j->len = 0;
	j->truncated = false;
	j->depth = 0;
	j->skip = 0;
	j->first = true;
	j->buf[j->len++] = '{';
}

size_t
jbuf_end(struct jbuf *j)
{
	/* close whatever is still open (only after truncation) */
	while (j->depth > 0)
		j->buf[j->len++] = j->closers[--j->depth];
	if (j->truncated) {
		static const char flag[] = ",\"event.truncated\":true";
		memcpy(j->buf + j->len, flag, sizeof(flag) - 1);
		j->len += sizeof(flag) - 1;
	}
	j->buf[j->len++] = '}';
	j->buf[j->len++] = '\n';
	j->buf[j->len] = '\0';
	return j->len;
}

void
jbuf_strn(struct jbuf *j, const char *key, const char *val, size_t n)
{
	size_t mark;
	if (!begin_member(j, key, &mark))
		return;
	put_string(j, val, n);
	end_member(j, mark);
}

void
jbuf_str(struct jbuf *j, const char *key, const char *val)
{
	jbuf_strn(j, key, val ? val : "", val ? strlen(val) : 0);
}

void
jbuf_num(struct jbuf *j, const char *key, long long val)
{
	char b[32];
	size_t mark;
	int n = snprintf(b, sizeof(b), "%lld", val);
	if (!begin_member(j, key, &mark))
		return;
	put(j, b, (size_t)n);
	end_member(j, mark);
}

void
jbuf_bool(struct jbuf *j, const char *key, bool val)
{
	size_t mark;
	if (!begin_member(j, key, &mark))
		return;
	put(j, val ? "true" : "false", val ? 4 : 5);
	end_member(j, mark);
}

/* Open a container; nesting is bounded by closers[]. */
static void
open_container(struct jbuf *j, const char *key, char open, char close)
{
	size_t mark;
	if (j->depth == sizeof(j->closers) || !begin_member(j, key, &mark)) {
		j->skip++;
		return;
	}
	put(j, &open, 1);
	if (!end_member(j, mark)) {
		j->skip++;
		return;
	}
	j->closers[j->depth++] = close;
	j->first = true;
}

/* Close the innermost container; brackets come out of the reserve. */
static void
close_container(struct jbuf *j)
{
	if (j->skip > 0) {
		j->skip--;
		return;
	}
	j->buf[j->len++] = j->closers[--j->depth];
	j->first = false;
}

void
jbuf_array_begin(struct jbuf *j, const char *key)
{
	open_container(j, key, '[', ']');
}

void
jbuf_array_end(struct jbuf *j)
{
	close_container(j);
}

void
jbuf_object_begin(struct jbuf *j, const char *key)
{
	open_container(j, key, '{', '}');
}

void
jbuf_object_end(struct jbuf *j)
{
	close_container(j);
}

void
jbuf_timestamp(struct jbuf *j, const char *key, long long sec, long msec)
{
	struct tm tm;
	time_t t = (time_t)sec;
	char b[96];
	gmtime_r(&t, &tm);
	snprintf(b, sizeof(b), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec);
	jbuf_str(j, key, b);
}

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
	char rev[BW_REVISION_HEX + 1];
	const char *reason = "all checks passed";

	if (v->decider != BW_CHK__COUNT) {
		for (size_t i = 0; i < v->n_checks; i++)
			if (v->checks[i].id == v->decider && v->checks[i].failed) {
				reason = v->checks[i].detail;
				break;
			}
	}
	memcpy(rev, r->revision, BW_REVISION_HEX);
	rev[BW_REVISION_HEX] = '\0';

	jbuf_begin(j);
	jbuf_timestamp(j, "@timestamp", m->ts_sec, m->ts_msec);
	jbuf_str(j, "event.kind", "event");
	jbuf_str(j, "event.dataset", "bulkwarden.decision");
	jbuf_str(j, "event.id", m->event_id);
	jbuf_str(j, "event.action", m->action);
	jbuf_str(j, "event.outcome",
		 strcmp(m->action, "accept") == 0 ? "success"
		 : strcmp(m->action, "abort") == 0 ? "unknown" : "failure");
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
	jbuf_num(j, "bulkwarden.size", m->size);
	if (v->spf_done && v->spf_result[0] != '\0') {
		jbuf_str(j, "bulkwarden.spf.result", v->spf_result);
		jbuf_str(j, "bulkwarden.spf.egress_ip", v->spf_ip);
	}
	if (v->dmarc_done) {
		jbuf_bool(j, "bulkwarden.dmarc.found", v->dmarc.found);
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
		jbuf_object_end(j);
	}
	jbuf_array_end(j);
	jbuf_end(j);
}
