/*
 * state_paths.c - sending paths (SPEC §9, issue 15): the path names
 * ("network:10.20.0.0/24", "network:2001:db8:1:2::/64", "login:svc-news",
 * "dkim:news.example.com/nl2026", "dormant:2026-08-01": an identity
 * waking up after its last message that day) and the backend-neutral side of
 * learning, listing and approving them (argument checks, dispatch to the
 * backend's ops; state_sqlite_paths.c and state_redis_paths.c store them).
 *
 * Memory: the list handed back by state_paths() is malloc'ed for the
 * caller. Untrusted input: SASL logins and DKIM d=/s= come from the MTA or
 * a message: every byte outside printable ASCII, and blanks, become '?'
 * in a path, so a path is one printable token (it is a field of a Redis
 * hash key and of audit records).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/cidr.h"
#include "state/state_int.h"

/* Append src to buf at *at, mapping unsafe bytes to '?' (lower: ASCII
 * letters lowercased); false when it does not fit. */
static bool
put_token(char *buf, size_t len, size_t *at, const char *src, bool lower)
{
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		if (*at + 1 >= len)
			return false;
		unsigned char ch = *p;
		if (ch <= 0x20 || ch >= 0x7f)
			ch = '?';
		else if (lower)
			ch = (unsigned char)tolower(ch);
		buf[(*at)++] = (char)ch;
	}
	buf[*at] = '\0';
	return true;
}

bool
state_path_network(const struct cidr_addr *a, char *buf, size_t len)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	int n;
	if (memcmp(a->b, mapped, sizeof(mapped)) == 0)
		n = snprintf(buf, len, "network:%u.%u.%u.0/24", a->b[12], a->b[13], a->b[14]);
	else
		n = snprintf(buf, len, "network:%x:%x:%x:%x::/64", (a->b[0] << 8) | a->b[1],
			     (a->b[2] << 8) | a->b[3], (a->b[4] << 8) | a->b[5],
			     (a->b[6] << 8) | a->b[7]);
	return n > 0 && (size_t)n < len;
}

bool
state_path_login(const char *login, char *buf, size_t len)
{
	size_t at = 0;
	if (len < sizeof("login:") || login == NULL || login[0] == '\0')
		return false;
	memcpy(buf, "login:", sizeof("login:"));
	at = sizeof("login:") - 1;
	return put_token(buf, len, &at, login, false);
}

bool
state_path_dkim(const char *domain, const char *selector, char *buf, size_t len)
{
	size_t at = sizeof("dkim:") - 1;
	if (len < sizeof("dkim:") || domain == NULL || domain[0] == '\0' || selector == NULL ||
	    selector[0] == '\0')
		return false;
	memcpy(buf, "dkim:", sizeof("dkim:"));
	return put_token(buf, len, &at, domain, true) && put_token(buf, len, &at, "/", false) &&
	       put_token(buf, len, &at, selector, true);
}

bool
state_path_dormant(long long last_sent, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)last_sent;
	char day[16];
	if (last_sent <= 0)
		bw_strlcpy(day, "never", sizeof(day));
	else if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0)
		return false;
	int n = snprintf(buf, len, "dormant:%s", day);
	return n > 0 && (size_t)n < len;
}

bool
state_path_kind(const char *path, const char **kind)
{
	static const char *const kinds[] = {"network", "login", "dkim", "dormant"};
	if (path == NULL || strlen(path) >= STATE_PATH_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t k = strlen(kinds[i]);
		if (strncmp(path, kinds[i], k) == 0 && path[k] == ':' && path[k + 1] != '\0') {
			if (kind != NULL)
				*kind = kinds[i];
			return true;
		}
	}
	return false;
}

/* The backend has no paths (a build without them): say so. */
static bool
has_paths(struct state *s)
{
	if (s->ops->path_learn != NULL && s->ops->paths != NULL && s->ops->path_approve != NULL &&
	    s->ops->import_path != NULL)
		return true;
	state_set_error(s, "the %s backend does not keep sending paths", s->ops->name);
	return false;
}

int
state_path_learn(struct state *s, const char *id, const char *path, bool pending, long long now,
		 struct state_audit *rec, struct state_path *out)
{
	struct state_audit local;
	struct state_path lp;
	if (!state_check_id(s, id) || !has_paths(s))
		return -1;
	if (!state_path_kind(path, NULL)) {
		state_set_error(s, "not a sending path: network:, login: or dkim: and a value");
		return -1;
	}
	if (rec == NULL) {
		memset(&local, 0, sizeof(local));
		rec = &local;
	}
	/* the caller's reason and detail; the rest is the record's kind */
	rec->ts = now;
	bw_strlcpy(rec->action, "new-sending-path", sizeof(rec->action));
	bw_strlcpy(rec->actor, "bulkwarden", sizeof(rec->actor));
	bw_strlcpy(rec->identity, id, sizeof(rec->identity));
	if (rec->reason[0] == '\0')
		snprintf(rec->reason, sizeof(rec->reason), "first message through %s", path);
	return s->ops->path_learn(s, id, path, pending, now, rec, out ? out : &lp);
}

/* Order of state_paths(): id, then path. */
static int
path_cmp(const void *a, const void *b)
{
	const struct state_path *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	return c != 0 ? c : strcmp(x->path, y->path);
}

int
state_paths(struct state *s, const char *id, struct state_path **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if ((id != NULL && !state_check_id(s, id)) || !has_paths(s))
		return -1;
	if (s->ops->paths(s, id, out, n) != 0)
		return -1;
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), path_cmp);
	return 0;
}

int
state_path_approve(struct state *s, const char *id, const char *path, const char *by,
		   const char *ticket, long long now, struct state_audit *rec)
{
	struct state_audit local;
	if (!state_check_id(s, id) || !has_paths(s) ||
	    !state_check_text(s, "actor", by, true, STATE_NAME_MAX) ||
	    !state_check_text(s, "ticket", ticket, false, STATE_NAME_MAX))
		return -1;
	if (!state_path_kind(path, NULL)) {
		state_set_error(s, "not a sending path: network:, login: or dkim: and a value");
		return -1;
	}
	return s->ops->path_approve(s, id, path, by, ticket ? ticket : "", now, rec ? rec : &local);
}

int
state_import_path(struct state *s, const struct state_path *p)
{
	if (!state_check_id(s, p->id) || !has_paths(s) ||
	    !state_check_text(s, "actor", p->approved_by, false, STATE_NAME_MAX) ||
	    !state_check_text(s, "ticket", p->ticket, false, STATE_NAME_MAX))
		return -1;
	if (!state_path_kind(p->path, NULL)) {
		state_set_error(s, "not a sending path: %.64s", p->path);
		return -1;
	}
	return s->ops->import_path(s, p);
}
