/*
 * diff.c - per-identity change text between two registry snapshots
 * (diff.h). Pure: reads two immutable snapshots, writes into a bounded
 * stack buffer per identity. Cost: O(identities) lookups by id, and for
 * each identity O(a * b) over its (short) lists.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "registry/diff.h"

struct text {
	char buf[REGISTRY_DIFF_TEXT];
	size_t len;
	bool security;
};

static void say(struct text *t, bool security, const char *fmt, ...) BW_PRINTF(3, 4);

/* Append "; "-separated text; cut with "..." when full. */
static void
say(struct text *t, bool security, const char *fmt, ...)
{
	va_list ap;
	t->security |= security;
	if (t->len >= sizeof(t->buf) - 4)
		return;
	if (t->len > 0)
		t->len += (size_t)snprintf(t->buf + t->len, sizeof(t->buf) - t->len, "; ");
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(t->buf) - t->len) {
		t->len = sizeof(t->buf) - 4;
		memcpy(t->buf + t->len, "...", 4);
		t->len += 3;
	} else {
		t->len += (size_t)n;
	}
}

static bool
in(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* "+what x" for each of b not in a, "-what x" for each of a not in b. */
static void
lists(struct text *t, const char *what, const char *const *a, size_t na, const char *const *b,
      size_t nb)
{
	for (size_t i = 0; i < nb; i++)
		if (!in(a, na, b[i]))
			say(t, true, "+%s %s", what, b[i]);
	for (size_t i = 0; i < na; i++)
		if (!in(b, nb, a[i]))
			say(t, true, "-%s %s", what, a[i]);
}

static bool
net_in(const struct cidr *v, size_t n, const struct cidr *c)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].len == c->len && memcmp(&v[i].addr, &c->addr, sizeof(c->addr)) == 0)
			return true;
	return false;
}

/* The prefix length as written (IPv4 lives in the mapped space). */
static unsigned
prefix(const struct cidr *c)
{
	bool v4 = c->len >= 96 && c->addr.b[10] == 0xff && c->addr.b[11] == 0xff;
	return v4 ? c->len - 96 : c->len;
}

static void
nets(struct text *t, const struct bw_identity *a, const struct bw_identity *b)
{
	char buf[64];
	for (size_t i = 0; i < b->n_networks; i++)
		if (!net_in(a->networks, a->n_networks, &b->networks[i])) {
			cidr_addr_format(&b->networks[i].addr, buf, sizeof(buf));
			say(t, true, "+network %s/%u", buf, prefix(&b->networks[i]));
		}
	for (size_t i = 0; i < a->n_networks; i++)
		if (!net_in(b->networks, b->n_networks, &a->networks[i])) {
			cidr_addr_format(&a->networks[i].addr, buf, sizeof(buf));
			say(t, true, "-network %s/%u", buf, prefix(&a->networks[i]));
		}
}

static bool
str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static const struct bw_dkim_key *
key_find(const struct bw_identity *id, const struct bw_dkim_key *k)
{
	for (size_t i = 0; i < id->n_dkim; i++)
		if (strcmp(id->dkim[i].domain, k->domain) == 0 &&
		    strcmp(id->dkim[i].selector, k->selector) == 0)
			return &id->dkim[i];
	return NULL;
}

static void
keys(struct text *t, const struct bw_identity *a, const struct bw_identity *b)
{
	for (size_t i = 0; i < b->n_dkim; i++) {
		const struct bw_dkim_key *o = key_find(a, &b->dkim[i]), *k = &b->dkim[i];
		if (o == NULL)
			say(t, true, "+dkim %s@%s", k->selector, k->domain);
		else if (!str_eq(o->path, k->path) || o->alg != k->alg || o->bits != k->bits ||
			 !str_eq(o->pubkey, k->pubkey))
			say(t, true, "dkim %s@%s key changed", k->selector, k->domain);
	}
	for (size_t i = 0; i < a->n_dkim; i++)
		if (key_find(b, &a->dkim[i]) == NULL)
			say(t, true, "-dkim %s@%s", a->dkim[i].selector, a->dkim[i].domain);
}

static void
owners(struct text *t, const struct bw_identity *a, const struct bw_identity *b)
{
	for (size_t i = 0; i < b->n_owners; i++) {
		const char *was = NULL;
		for (size_t j = 0; j < a->n_owners; j++)
			if (strcmp(a->owners[j].role, b->owners[i].role) == 0)
				was = a->owners[j].addr;
		if (was == NULL)
			say(t, true, "+owner %s=%s", b->owners[i].role, b->owners[i].addr);
		else if (strcmp(was, b->owners[i].addr) != 0)
			say(t, true, "owner %s %s -> %s", b->owners[i].role, was, b->owners[i].addr);
	}
	for (size_t j = 0; j < a->n_owners; j++) {
		bool kept = false;
		for (size_t i = 0; i < b->n_owners; i++)
			kept |= strcmp(a->owners[j].role, b->owners[i].role) == 0;
		if (!kept)
			say(t, true, "-owner %s", a->owners[j].role);
	}
}

/* The change text of one identity present in both snapshots. */
static void
identity(struct text *t, const struct bw_identity *a, const struct bw_identity *b)
{
	lists(t, "login", a->logins, a->n_logins, b->logins, b->n_logins);
	nets(t, a, b);
	lists(t, "envelope_domain", a->envelope_domains, a->n_envelope_domains, b->envelope_domains,
	      b->n_envelope_domains);
	lists(t, "from_domain", a->from_domains, a->n_from_domains, b->from_domains,
	      b->n_from_domains);
	keys(t, a, b);
	owners(t, a, b);
	if (a->per_hour != b->per_hour)
		say(t, true, "per_hour %llu -> %llu", (unsigned long long)a->per_hour,
		    (unsigned long long)b->per_hour);
	if (a->per_day != b->per_day)
		say(t, true, "per_day %llu -> %llu", (unsigned long long)a->per_day,
		    (unsigned long long)b->per_day);
	if (a->mode != b->mode)
		say(t, true, "mode %s", b->mode == BW_MODE_MONITOR ? "monitor" : "enforce");
	if (a->dkim_mode != b->dkim_mode)
		say(t, true, "dkim_mode %s", b->dkim_mode == BW_DKIM_VERIFY ? "verify" : "sign");
	if (!str_eq(a->platform, b->platform))
		say(t, true, "platform %s", b->platform ? b->platform : "-");
	if (a->decommission != b->decommission)
		say(t, true, "decommission changed");
	if (!str_eq(a->approval_by, b->approval_by) || a->approval_date != b->approval_date ||
	    !str_eq(a->approval_ticket, b->approval_ticket))
		say(t, false, "approval %s %s", b->approval_by ? b->approval_by : "-",
		    b->approval_ticket ? b->approval_ticket : "-");
}

size_t
registry_diff(const struct registry *old, const struct registry *new, registry_diff_fn fn,
	      void *arg)
{
	size_t n = 0;
	for (size_t i = 0; i < new->n_ids; i++) {
		const struct bw_identity *b = &new->ids[i];
		const struct bw_identity *a = old ? registry_by_id(old, b->id) : NULL;
		struct text t = {.len = 0};
		if (a == NULL)
			say(&t, false, "added"); /* adding carries out an approval */
		else
			identity(&t, a, b);
		if (t.len > 0) {
			fn(b->id, t.buf, t.security, arg);
			n++;
		}
	}
	for (size_t i = 0; old != NULL && i < old->n_ids; i++)
		if (registry_by_id(new, old->ids[i].id) == NULL) {
			fn(old->ids[i].id, "removed", true, arg);
			n++;
		}
	return n;
}
