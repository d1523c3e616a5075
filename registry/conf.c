/*
 * conf.c - the libconfig loader (SPEC §2): reads the main file and every
 * identities_dir/NAME.conf, validates each key against the settings table
 * (settings.c: names, types, defaults, bounds, vocabularies), and builds a
 * new immutable registry snapshot, or returns every error it found.
 *
 * The table's own keys (a string, a path, an integer in its bounds, a word
 * of its vocabulary) are parsed and stored by conf_section() from their row
 * alone; defaults come from the rows too (conf_defaults()). This file adds
 * what a row cannot say: socket syntax, socket mode, IP and nameserver
 * lists, owner roles, per-check actions.
 *
 * Strictness: an unknown key at any level, a wrong type, an out-of-range
 * number or a value outside its vocabulary is an error naming file:line and
 * the key path ("identities.[0].credentials.logins"); a typo must never
 * silently weaken policy. Loading continues after an error so one run lists
 * them all. The typed accessors and error formatting are in conf_value.c,
 * identities in conf_identity.c; this file has the sections, the files and
 * the revision, and the cross-identity checks.
 *
 * Paths: a relative path value (identities_dir, DKIM key, log.path,
 * state.path, state.redis.password_file, milter.pidfile) is resolved against
 * the directory of the file it appears in, so an identity file can name
 * "keys/nl.rsa" next to itself. @include is resolved against the main
 * file's directory (identity files: identities_dir).
 *
 * Memory: everything the snapshot keeps is copied into the registry arena;
 * libconfig trees are destroyed before returning. Error strings are heap
 * memory owned by struct conf_errors.
 *
 * Revision: SHA-256 over every config file read (path, NUL, 8-byte length,
 * bytes; in read order), with each DKIM key contributing its path and the
 * SHA-256 of its DER public key (never private key bytes). A file's bytes
 * are read once and both hashed and parsed (conf_file.c); an @included file
 * is re-read for hashing after libconfig parsed it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/arena.h"
#include "base/util.h"
#include "registry/cidr.h"
#include "registry/conf_int.h"

const char *
conf_default_path(void)
{
#ifdef SYSCONFDIR
	return SYSCONFDIR "/bulkwarden/bulkwarden.conf";
#else
	return "/etc/bulkwarden/bulkwarden.conf";
#endif
}

void
conf_errors_free(struct conf_errors *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	e->msg = NULL;
	e->n = 0;
}

/* ---- sections -------------------------------------------------------------- */

/* "65535" -> 65535; false unless 1..65535 in plain decimal. */
static bool
parse_port(const char *s, int *out)
{
	long v = 0;
	if (*s == '\0' || strlen(s) > 5)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*out = (int)v;
	return true;
}

/* libmilter socket spec: unix:/path, local:/path, inet[6]:port[@host]. */
static const char *
socket_problem(const char *v)
{
	const char *p;
	int port;
	char buf[8];
	if ((p = strchr(v, ':')) == NULL)
		return "must start with unix:, local:, inet: or inet6:";
	if (strncmp(v, "unix:", 5) == 0 || strncmp(v, "local:", 6) == 0)
		return p[1] == '/' ? NULL : "needs an absolute socket path";
	if (strncmp(v, "inet:", 5) != 0 && strncmp(v, "inet6:", 6) != 0)
		return "must start with unix:, local:, inet: or inet6:";
	const char *at = strchr(p + 1, '@');
	size_t pl = at ? (size_t)(at - p - 1) : strlen(p + 1);
	if (pl >= sizeof(buf))
		return "needs a port 1..65535 (inet:PORT@HOST)";
	memcpy(buf, p + 1, pl);
	buf[pl] = '\0';
	if (!parse_port(buf, &port))
		return "needs a port 1..65535 (inet:PORT@HOST)";
	if (at != NULL && at[1] == '\0')
		return "empty host after @";
	return NULL;
}

bool
conf_socket_remote(const char *spec)
{
	const char *at;
	struct in_addr a4;
	char host[64];
	if (strncmp(spec, "inet:", 5) != 0 && strncmp(spec, "inet6:", 6) != 0)
		return false; /* unix: or local: */
	if ((at = strchr(spec, '@')) == NULL)
		return true; /* every address */
	bw_strlcpy(host, at + 1, sizeof(host));
	size_t l = strlen(host);
	if (l > 2 && host[0] == '[' && host[l - 1] == ']') {
		memmove(host, host + 1, l - 2);
		host[l - 2] = '\0';
	}
	if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return false;
	return !(inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);
}

/* The milter keys the table cannot check by itself. */
static void
parse_milter(struct conf_ctx *c, const config_setting_t *g)
{
	struct bw_settings *s = &c->r->set;
	const char *v, *why;

	if (conf_str(c, g, S_MILTER_SOCKET, &v) > 0) {
		if ((why = socket_problem(v)) != NULL)
			conf_err(c, conf_at(g, S_MILTER_SOCKET), "\"%s\" %s", v, why);
		else
			s->socket = arena_strdup(c->a, v);
	}
	if (conf_str(c, g, S_MILTER_SOCKET_MODE, &v) > 0) {
		char *end;
		unsigned long m = strtoul(v, &end, 8);
		size_t l = strlen(v);
		if (*end != '\0' || l < 3 || l > 4 || v[0] == '-' || v[0] == '+' || m > 0777)
			conf_err(c, conf_at(g, S_MILTER_SOCKET_MODE),
				 "\"%s\" is not an octal mode like \"0660\"", v);
		else if (m & 002)
			conf_err(c, conf_at(g, S_MILTER_SOCKET_MODE),
				 "%04lo lets any local user talk to the milter", m);
		else
			s->socket_mode = (unsigned)m;
	}
	const config_setting_t *ar = conf_at(g, S_MILTER_ALLOW_REMOTE);
	if (ar != NULL && config_setting_type(ar) != CONFIG_TYPE_BOOL)
		conf_err(c, ar, "expected true or false, got %s",
			 conf_type_name(config_setting_type(ar)));
	else if (ar != NULL)
		s->allow_remote = config_setting_get_bool(ar) != 0;
	/* libmilter trusts its peer (a malformed macro packet crashes it): only
	 * the MTA's host may reach the socket unless the operator says so */
	if (s->socket != NULL && !s->allow_remote && conf_socket_remote(s->socket))
		conf_err(c, conf_at(g, S_MILTER_SOCKET),
			 "\"%s\" listens beyond loopback; set milter.allow_remote = true if the "
			 "MTA is on another host (see bulkwarden(8), SECURITY)",
			 s->socket);
}

void
conf_ip_list(struct conf_ctx *c, const config_setting_t *g, enum setting_id id, const char ***out,
	     size_t *n_out)
{
	const config_setting_t *l = NULL;
	struct cidr_addr a;

	conf_strlist(c, g, id, &l);
	if (l == NULL)
		return;
	int n = config_setting_length(l);
	*out = arena_alloc(c->a, (size_t)n * sizeof(char *));
	*n_out = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (v == NULL || !conf_text_clean(v, CONF_STR_MAX))
			continue; /* reported by conf_strlist */
		if (strchr(v, '/') != NULL || !cidr_parse_addr(v, &a))
			conf_err(c, e, "\"%s\" is not an IP address", v);
		else
			(*out)[(*n_out)++] = arena_strdup(c->a, v);
	}
}

/* "ip", "ip:port" (IPv4) or "[v6]:port". */
static bool
nameserver_ok(const char *v)
{
	char host[64];
	const char *port = NULL;
	struct cidr_addr a;
	int p;
	size_t hl;

	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return false;
		hl = (size_t)(close - v - 1);
		if (close[1] == ':')
			port = close + 2;
		v++;
	} else {
		const char *colon = strchr(v, ':');
		hl = strlen(v);
		if (colon != NULL && strchr(colon + 1, ':') == NULL) { /* IPv4:port */
			hl = (size_t)(colon - v);
			port = colon + 1;
		}
	}
	if (hl == 0 || hl >= sizeof(host))
		return false;
	memcpy(host, v, hl);
	host[hl] = '\0';
	return cidr_parse_addr(host, &a) && strncasecmp(host, "IPv6:", 5) != 0 &&
	       (port == NULL || parse_port(port, &p));
}

/* metrics { listen = "ip:port"; per_identity = bool; } (issue 15). */
static void
parse_metrics(struct conf_ctx *c, const config_setting_t *g)
{
	struct bw_settings *s = &c->r->set;
	const config_setting_t *pi;
	const char *v;

	if (g == NULL)
		return;
	if (conf_str(c, g, S_METRICS_LISTEN, &v) > 0) {
		bool port = v[0] == '['
				? strstr(v, "]:") != NULL
				: (strchr(v, ':') != NULL && strchr(v, ':') == strrchr(v, ':'));
		if (!port || !nameserver_ok(v))
			conf_err(c, conf_at(g, S_METRICS_LISTEN),
				 "\"%s\" is not \"ip:port\" or \"[ipv6]:port\"", v);
		else
			s->metrics_listen = arena_strdup(c->a, v);
	}
	pi = conf_at(g, S_METRICS_PER_IDENTITY);
	if (pi != NULL) {
		if (config_setting_type(pi) != CONFIG_TYPE_BOOL)
			conf_err(c, pi, "per_identity must be true or false");
		else
			s->metrics_per_identity = config_setting_get_bool(pi) != 0;
	}
}

static void
parse_nameservers(struct conf_ctx *c, const config_setting_t *g)
{
	struct bw_settings *s = &c->r->set;
	const config_setting_t *l = NULL;

	/* dns.dnssec: true or false (the table has no boolean type) */
	const config_setting_t *b = conf_member(g, "dnssec");
	if (b != NULL && config_setting_type(b) != CONFIG_TYPE_BOOL)
		conf_err(c, b, "expected true or false, got %s",
			 conf_type_name(config_setting_type(b)));
	else if (b != NULL)
		s->dns_dnssec = config_setting_get_bool(b) != 0;
	conf_strlist(c, g, S_DNS_NAMESERVERS, &l);
	if (l == NULL)
		return;
	int cnt = config_setting_length(l);
	if (cnt > setting(S_DNS_NAMESERVERS)->max) {
		conf_err(c, l, "at most %lld nameservers", setting(S_DNS_NAMESERVERS)->max);
		return;
	}
	s->nameservers = arena_alloc(c->a, (size_t)cnt * sizeof(char *));
	for (int i = 0; i < cnt; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (v == NULL || !conf_text_clean(v, CONF_STR_MAX))
			continue;
		if (!nameserver_ok(v))
			conf_err(c, e, "\"%s\" is not \"ip\", \"ip:port\" or \"[ipv6]:port\"", v);
		else
			s->nameservers[s->n_nameservers++] = arena_strdup(c->a, v);
	}
}

/* state.redis.sentinels: "host:port" each; master is then required. */
static void
parse_sentinels(struct conf_ctx *c, const config_setting_t *g)
{
	struct bw_settings *s = &c->r->set;
	const config_setting_t *l = NULL;

	if (g == NULL)
		return;
	conf_strlist(c, g, S_STATE_REDIS_SENTINELS, &l);
	if (l == NULL)
		return;
	int cnt = config_setting_length(l);
	if (cnt > setting(S_STATE_REDIS_SENTINELS)->max) {
		conf_err(c, l, "at most %lld sentinels", setting(S_STATE_REDIS_SENTINELS)->max);
		return;
	}
	s->redis_sentinels = arena_alloc(c->a, (size_t)cnt * sizeof(char *));
	for (int i = 0; i < cnt; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *v = config_setting_get_string(e);
		const char *colon = v ? strrchr(v, ':') : NULL;
		int p = 0;
		if (v == NULL || !conf_text_clean(v, CONF_STR_MAX))
			continue; /* reported by conf_strlist */
		if (colon == NULL || colon == v || !parse_port(colon + 1, &p))
			conf_err(c, e, "\"%s\" is not host:port", v);
		else
			s->redis_sentinels[s->n_redis_sentinels++] = arena_strdup(c->a, v);
	}
	if (cnt > 0 && conf_at(g, S_STATE_REDIS_MASTER) == NULL)
		conf_err(c, l, "sentinels need master (the name Sentinel monitors)");
}

bool
conf_role_ok(const char *r)
{
	if (!(*r >= 'a' && *r <= 'z') || strlen(r) > CONF_NAME_MAX)
		return false;
	for (r++; *r; r++)
		if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '_' ||
		      *r == '-'))
			return false;
	return true;
}

/* policy.governance.volume_surge.factor: a number (integer or decimal)
 * in the row's bounds. */
static void
parse_surge_factor(struct conf_ctx *c, const config_setting_t *policy)
{
	const config_setting_t *gov = conf_at(policy, S_POLICY_GOVERNANCE);
	const config_setting_t *vs = conf_at(gov, S_POLICY_GOVERNANCE_VOLUME_SURGE);
	double v;
	if (vs != NULL && conf_float(c, vs, S_POLICY_GOVERNANCE_VOLUME_SURGE_FACTOR, &v) > 0)
		c->r->set.surge_factor = v;
}

/* The policy keys the table cannot check by itself: roles, actions and
 * require_reapproval. */
static void
parse_policy(struct conf_ctx *c, const config_setting_t *g)
{
	struct bw_settings *s = &c->r->set;
	const config_setting_t *l = NULL, *ag = NULL;

	if (conf_group(c, g, S_POLICY_ACTIONS, &ag) > 0)
		conf_actions(c, ag, s->actions, NULL);
	conf_governance(c, conf_at(g, S_POLICY_GOVERNANCE));
	/* policy.require_reapproval: true or false (the table has no boolean type) */
	const config_setting_t *b = conf_at(g, S_POLICY_REQUIRE_REAPPROVAL);
	if (b != NULL && config_setting_type(b) != CONFIG_TYPE_BOOL)
		conf_err(c, b, "expected true or false, got %s",
			 conf_type_name(config_setting_type(b)));
	else if (b != NULL)
		s->require_reapproval = config_setting_get_bool(b) != 0;
	parse_surge_factor(c, g);
	conf_strlist(c, g, S_POLICY_REQUIRE_OWNERS, &l);
	if (l != NULL) {
		int cnt = config_setting_length(l);
		s->require_owners = arena_alloc(c->a, (size_t)cnt * sizeof(char *));
		s->n_require_owners = 0;
		for (int i = 0; i < cnt; i++) {
			const config_setting_t *el = config_setting_get_elem(l, (unsigned)i);
			const char *v = config_setting_get_string(el);
			bool dup = false;
			if (v == NULL || !conf_text_clean(v, CONF_STR_MAX))
				continue;
			for (size_t j = 0; j < s->n_require_owners; j++)
				dup = dup || strcmp(s->require_owners[j], v) == 0;
			if (!conf_role_ok(v))
				conf_err(c, el, "\"%s\" is not a role name ([a-z][a-z0-9_-]*)", v);
			else if (dup)
				conf_err(c, el, "role \"%s\" listed twice", v);
			else
				s->require_owners[s->n_require_owners++] = arena_strdup(c->a, v);
		}
	}
}

/* ---- the table's own keys ------------------------------------------------------ */

/* n into the int or unsigned field at (the row's store says which). */
static void
store_num(const struct setting *row, void *at, long long n)
{
	if (row->store == STORE_UINT) {
		unsigned u = (unsigned)n;
		memcpy(at, &u, sizeof(u));
	} else { /* STORE_INT, STORE_ENUM */
		int i = (int)n;
		memcpy(at, &i, sizeof(i));
	}
}

/* One key of group g parsed as row id says and stored in c->r->set. */
static void
set_value(struct conf_ctx *c, const config_setting_t *g, enum setting_id id)
{
	const struct setting *row = setting(id);
	void *at = (char *)&c->r->set + row->off;
	const char *v = NULL;
	long long n;
	int w;

	switch (row->type) {
	case SETTING_STRING:
		if (conf_str(c, g, id, &v) > 0)
			v = arena_strdup(c->a, v);
		break;
	case SETTING_PATH:
		if (conf_str(c, g, id, &v) > 0)
			v = conf_path(c, conf_at(g, id), v);
		break;
	case SETTING_INT:
		if (conf_int(c, g, id, &n) > 0)
			store_num(row, at, n);
		return;
	case SETTING_WORD:
		if (conf_word(c, g, id, &w) <= 0)
			return;
		if (row->store == STORE_STR)
			v = row->words[w];
		else
			store_num(row, at, row->values ? row->values[w] : w);
		break;
	default:
		fatal("conf: %s: no generic parser for a %s", row->name,
		      setting_type_name(row->type));
	}
	if (v != NULL && row->store == STORE_STR)
		memcpy(at, &v, sizeof(v));
}

bool
conf_section(struct conf_ctx *c, const config_setting_t *g, int parent)
{
	if (!conf_keys(c, g, parent))
		return false;
	for (int k = -1; setting_next_child(parent, &k);) {
		enum setting_id id = (enum setting_id)k;
		const struct setting *row = setting(id);
		const config_setting_t *sub = NULL;
		if (row->flags & SETTING_CUSTOM)
			continue; /* the section's own code */
		if (row->type == SETTING_GROUP) {
			if (conf_group(c, g, id, &sub) > 0)
				conf_section(c, sub, k);
		} else if (row->store != STORE_NONE) {
			set_value(c, g, id);
		}
	}
	return true;
}

void
conf_defaults(struct conf_ctx *c, struct bw_settings *s)
{
	const struct setting *own = setting(S_POLICY_REQUIRE_OWNERS);
	size_t n = 0;

	for (int k = 0; k < S__COUNT; k++) {
		const struct setting *row = setting((enum setting_id)k);
		void *at = (char *)s + row->off;
		if (row->store == STORE_NONE || row->def == NULL)
			continue;
		if (row->store == STORE_STR)
			memcpy(at, &row->def, sizeof(row->def));
		else if (row->store == STORE_ENUM)
			store_num(row, at, setting_default_value((enum setting_id)k));
		else
			store_num(row, at, row->idef);
	}
	while (own->words[n] != NULL)
		n++;
	s->require_owners = arena_alloc(c->a, n * sizeof(char *));
	memcpy(s->require_owners, own->words, n * sizeof(char *));
	s->n_require_owners = n;
	s->metrics_per_identity = true; /* metrics_listen NULL: no server */
	conf_governance_defaults(s);
	s->surge_factor = 5.0; /* settings[S_..._FACTOR].def */
	for (int i = 0; i < BW_CHK__COUNT; i++)
		s->actions[i] = check_info((enum bw_check)i)->def_action;
}

/* ---- identities ------------------------------------------------------------ */

static int
name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name); /* bytewise: locale-independent revision */
}

static int
conf_file_filter(const struct dirent *d)
{
	size_t l = strlen(d->d_name);
	return d->d_name[0] != '.' && l > 5 && strcmp(d->d_name + l - 5, ".conf") == 0;
}

/* Load identities_dir/NAME.conf (each exactly one `identity = { ... };`),
 * parsed ahead on every core and taken in name order (conf_file.c). */
static void
load_dir(struct conf_ctx *c, const char *dir, struct dirent **list, int n)
{
	struct registry *r = c->r;
	const char **names = xcalloc((size_t)n, sizeof(*names));
	for (int i = 0; i < n; i++)
		names[i] = list[i]->d_name;
	struct conf_readahead *ra = conf_readahead_start(dir, names, (size_t)n);
	if (ra == NULL)
		fatal("conf: out of memory reading %s", dir);

	for (int i = 0; i < n; i++) {
		const char *path;
		const config_setting_t *g = NULL;
		struct conf_parsed *p = conf_readahead_get(ra, (size_t)i, &path);
		if (path == NULL) {
			conf_err_at(c, dir, 0, "identities_dir", "path too long: %s", names[i]);
		} else if (conf_file_take(c, p, path, dir)) {
			c->file = path;
			const config_setting_t *root = config_root_setting(&p->cf);
			conf_keys(c, root, S_IDFILE_ROOT);
			if (conf_group(c, root, S_IDENTITY, &g) > 0)
				conf_identity(c, g, &r->ids[r->n_ids++]);
		}
		conf_readahead_put(ra, (size_t)i);
	}
	conf_readahead_end(ra);
	free(names);
}

/* Identities of the main file, then of identities_dir; ids[] sized for both. */
static void
load_identities(struct conf_ctx *c, const config_setting_t *root)
{
	const config_setting_t *l = conf_at(root, S_IDENTITIES);
	const config_setting_t *ds = conf_at(root, S_IDENTITIES_DIR);
	struct dirent **list = NULL;
	int n_files = 0;
	size_t n_main = 0;
	const char *dir = NULL, *v;

	if (l != NULL && !config_setting_is_list(l))
		conf_err(c, l, "expected a list ( { ... }, ... ), got %s",
			 conf_type_name(config_setting_type(l)));
	else if (l != NULL)
		n_main = (size_t)config_setting_length(l);
	if (conf_str(c, root, S_IDENTITIES_DIR, &v) > 0) {
		dir = conf_path(c, ds, v);
		c->r->set.identities_dir = dir;
		conf_dir_check(c, dir, "identities_dir", true);
		n_files = scandir(dir, &list, conf_file_filter, name_cmp);
		if (n_files < 0) {
			conf_err(c, ds, "cannot read directory %s: %s", dir, strerror(errno));
			n_files = 0;
		}
	}
	c->r->ids = arena_alloc(c->a, (n_main + (size_t)n_files) * sizeof(struct bw_identity));
	for (size_t i = 0; i < n_main; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		if (!config_setting_is_group(g))
			conf_err(c, g, "expected an identity group { ... }, got %s",
				 conf_type_name(config_setting_type(g)));
		else
			conf_identity(c, g, &c->r->ids[c->r->n_ids++]);
	}
	if (n_files > 0)
		load_dir(c, dir, list, n_files);
	c->file = c->r->path;
	for (int i = 0; i < n_files; i++)
		free(list[i]);
	free(list);
}

/* ---- entry point --------------------------------------------------------------- */

struct registry *
conf_load(const char *path, long long now, struct conf_errors *errs)
{
	struct conf_ctx c;
	struct conf_parsed mainf; /* the main file (files: conf_file.c) */
	char abspath[PATH_MAX], cwd[PATH_MAX], dir[PATH_MAX];
	bool have_cf = false;

	memset(&c, 0, sizeof(c));
	if (errs != NULL) {
		errs->msg = NULL;
		errs->n = 0;
	}
	c.errs = errs;
	c.milter_uid = (uid_t)-1; /* the main file: root's or ours */
	c.r = registry_new();
	c.a = c.r->arena;
	c.r->loaded_at = now;
	if ((c.md = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(c.md, EVP_sha256(), NULL))
		fatal("conf: cannot initialise SHA-256");
	conf_defaults(&c, &c.r->set);

	/* absolute, so messages, relative paths and the revision do not depend on the cwd */
	int w;
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
		w = snprintf(abspath, sizeof(abspath), "%s/%s", cwd, path);
	else
		w = (int)bw_strlcpy(abspath, path, sizeof(abspath));
	if (w < 0 || (size_t)w >= sizeof(abspath) || strchr(abspath, '/') == NULL) {
		conf_err_at(&c, path, 0, "(file)", "path too long");
		goto done;
	}
	c.r->path = arena_strdup(c.a, abspath);
	c.file = c.r->path;
	bw_strlcpy(dir, abspath, sizeof(dir));
	*strrchr(dir, '/') = '\0';
	if (dir[0] == '\0')
		bw_strlcpy(dir, "/", sizeof(dir));

	have_cf = true; /* conf_file_parse() initialises the tree whatever happens */
	conf_file_parse(abspath, dir, &mainf);
	if (!conf_file_take(&c, &mainf, abspath, dir))
		goto done;
	const config_setting_t *root = config_root_setting(&mainf.cf);
	conf_section(&c, root, S_ROOT); /* every key the table parses by itself */
	parse_milter(&c, conf_at(root, S_MILTER));
	struct passwd *pw = c.r->set.user ? getpwnam(c.r->set.user) : NULL;
	if (pw != NULL) /* identity files may also be the milter user's */
		c.milter_uid = pw->pw_uid;
	conf_dir_check(&c, dir, "(directory)", false);
	c.r->set.actions[BW_CHK_INTERNAL_ERROR] = c.r->set.on_internal_error;
	conf_ip_list(&c, conf_at(root, S_RELAY), S_RELAY_EGRESS_IPS, &c.r->set.egress_ips,
		     &c.r->set.n_egress_ips);
	parse_nameservers(&c, conf_at(root, S_DNS));
	parse_sentinels(&c, conf_at(conf_at(root, S_STATE), S_STATE_REDIS));
	parse_metrics(&c, conf_at(root, S_METRICS));
	parse_policy(&c, conf_at(root, S_POLICY));
	load_identities(&c, root); /* needs the complete baseline */

	conf_identity_duplicates(&c);
	if (c.n_errors == 0) {
		char err[CONF_MSG_MAX];
		if (registry_index_build(c.r, err, sizeof(err)) != 0)
			conf_err_at(&c, c.r->path, 0, "(registry)", "%s", err);
	}
	if (c.n_errors == 0) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;
		static const char hex[] = "0123456789abcdef";
		EVP_DigestFinal_ex(c.md, md, &mdlen);
		for (unsigned i = 0; i < mdlen && 2 * i + 1 < sizeof(c.r->revision); i++) {
			c.r->revision[2 * i] = hex[md[i] >> 4];
			c.r->revision[2 * i + 1] = hex[md[i] & 15];
		}
	}
done:
	if (have_cf)
		conf_file_release(&mainf);
	EVP_MD_CTX_free(c.md);
	free(c.wrapped);
	free(c.names);
	free(c.ids);
	free(c.logins);
	if (c.n_errors > 0) {
		registry_release(c.r);
		return NULL;
	}
	return c.r;
}
