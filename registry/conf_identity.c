/*
 * conf_identity.c - one sender identity group (SPEC §2): from the main
 * file's identities list or an identities_dir/NAME.conf `identity = { ... };`.
 *
 * Every effective field (max_recipients, min_dmarc_policy, actions[])
 * starts as the baseline's and may only be tightened; a looser value is an
 * error ("loosens the baseline"). A missing required owner or a missing
 * approval is not an error: the identity loads as pending, with pending_why
 * saying which. DKIM key files are checked here (keyfile.c) and their public
 * key fingerprints feed the revision; the same read yields the key material
 * the snapshot keeps (the private key for dkim_sign(), the DNS p= value), so
 * the milter never opens a key file per message. The signed-header lists
 * can only grow beyond the defaults (an identity tightens, never loosens). Ids and logins are recorded as they
 * are read so duplicates across the main file and identities_dir are
 * reported at the later occurrence, naming the first.
 *
 * Key names, required-ness, bounds, vocabularies and defaults (dkim_mode,
 * mode) are the settings table's (settings.c, the identity.* rows).
 *
 * Memory: everything is copied into the registry arena. Input: admin-written
 * files, reviewed per identity; every value is bounded and validated.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/arena.h"
#include "base/util.h"
#include "registry/cidr.h"
#include "registry/conf_int.h"
#include "registry/domain.h"
#include "registry/keyfile.h"

#define PENDING_WHY_MAX 512
#define SELECTOR_MAX 63
#define DKIM_HDR_NAME_MAX 40   /* an extra signed header field name */
#define FEEDBACK_SENDER_MAX 64

/* SPEC §4 and issue 4: what every signature covers. */
const char *const bw_dkim_sign_headers_default[] = {
    "From",	    "To",	   "Cc",	       "Subject",
    "Date",	    "Message-ID",  "Reply-To",	       "In-Reply-To",
    "References",   "MIME-Version", "Content-Type",    "Content-Transfer-Encoding",
    "List-Id",	    "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID",
    NULL};
/* Listed once more than present, so a copy added later breaks the signature. */
const char *const bw_dkim_oversign_headers_default[] = {"From", "Subject", "List-Unsubscribe",
							"List-Unsubscribe-Post", NULL};

/* Fields that change in transit or hold signatures: never signed. */
static const char *const unsignable_headers[] = {"DKIM-Signature", "Received", "Return-Path",
						  NULL};

/* ^[a-z0-9][a-z0-9._-]{0,63}$ */
static bool
id_ok(const char *s)
{
	size_t n = 0;
	if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	for (; *s; s++, n++) {
		bool ok = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' ||
			  *s == '_' || *s == '-';
		if (!ok || n >= BW_ID_MAX)
			return false;
	}
	return true;
}

/* An owner address: exactly one '@' with text on both sides, no spaces. */
static bool
email_ok(const char *s)
{
	const char *at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return false;
	return strpbrk(s, " \t") == NULL;
}

/* A SASL login: no whitespace or control characters (the caller bounds it). */
static bool
login_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* DKIM selector: [A-Za-z0-9._-]+ */
static bool
selector_ok(const char *s)
{
	size_t n = 0;
	for (; *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return n > 0 && n <= SELECTOR_MAX;
}

/* Date key of group g into *out (1970-01-01 stored as 1: 0 means unset). */
static bool
date_key(struct conf_ctx *c, const config_setting_t *g, enum setting_id sid, long long *out)
{
	const char *v;
	long long t;
	if (conf_str(c, g, sid, &v) <= 0)
		return false;
	if (!bw_parse_date(v, &t)) {
		conf_err(c, conf_at(g, sid),
			 "\"%s\" is not an ISO 8601 date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)", v);
		return false;
	}
	*out = t > 0 ? t : 1;
	return true;
}

/* The string list key sid of g, elements conf_strlist() accepted; NULL if
 * absent or not a list. */
static const config_setting_t *
strlist(struct conf_ctx *c, const config_setting_t *g, enum setting_id sid, size_t *n)
{
	const config_setting_t *l = NULL;
	conf_strlist(c, g, sid, &l);
	*n = l ? (size_t)config_setting_length(l) : 0;
	return l;
}

/* Element i of a list from strlist(), or NULL if conf_strlist() refused it. */
static const char *
elem_str(const config_setting_t *l, size_t i, const config_setting_t **e)
{
	*e = config_setting_get_elem(l, (unsigned)i);
	const char *v = config_setting_get_string(*e);
	return v != NULL && conf_text_clean(v, CONF_STR_MAX) ? v : NULL;
}

static void
parse_owners(struct conf_ctx *c, const config_setting_t *g, struct bw_identity *id)
{
	const config_setting_t *og = NULL;
	if (conf_group(c, g, S_ID_OWNERS, &og) <= 0)
		return;
	int n = config_setting_length(og);
	id->owners = arena_alloc(c->a, (size_t)n * sizeof(*id->owners));
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(og, (unsigned)i);
		const char *role = config_setting_name(m), *v;
		if (!conf_role_ok(role)) {
			conf_err(c, m, "\"%s\" is not a role name ([a-z][a-z0-9_-]*)", role);
			continue;
		}
		if (conf_str_value(c, m, &v) <= 0)
			continue;
		if (!email_ok(v)) {
			conf_err(c, m, "\"%s\" is not an email address", v);
			continue;
		}
		id->owners[id->n_owners].role = arena_strdup(c->a, role);
		id->owners[id->n_owners++].addr = arena_strdup(c->a, v);
	}
}

static void
parse_approval_lifecycle(struct conf_ctx *c, const config_setting_t *g, struct bw_identity *id)
{
	const config_setting_t *ag = NULL, *lg = NULL;
	const char *by = NULL, *ticket = NULL;
	long long date = 0;

	if (conf_group(c, g, S_ID_APPROVAL, &ag) > 0 && conf_keys(c, ag, S_ID_APPROVAL)) {
		bool ok = conf_str(c, ag, S_ID_APPROVAL_BY, &by) > 0;
		ok = date_key(c, ag, S_ID_APPROVAL_DATE, &date) && ok;
		ok = conf_str(c, ag, S_ID_APPROVAL_TICKET, &ticket) > 0 && ok;
		if (ok) {
			id->approval_by = arena_strdup(c->a, by);
			id->approval_ticket = arena_strdup(c->a, ticket);
			id->approval_date = date;
		}
	}
	if (conf_group(c, g, S_ID_LIFECYCLE, &lg) > 0 && conf_keys(c, lg, S_ID_LIFECYCLE)) {
		date_key(c, lg, S_ID_LIFECYCLE_ACTIVATE, &id->activate);
		date_key(c, lg, S_ID_LIFECYCLE_DECOMMISSION, &id->decommission);
		if (id->activate != 0 && id->decommission != 0 && id->decommission <= id->activate)
			conf_err(c, conf_at(lg, S_ID_LIFECYCLE_DECOMMISSION), "must be after activate");
	}
}

/* One network: a prefix whose host bits are clear, narrower than /0. */
static void
add_network(struct conf_ctx *c, const config_setting_t *e, const char *v, struct bw_identity *id)
{
	struct cidr net;
	struct cidr_addr a;
	char host[64], txt[64];
	const char *slash = strchr(v, '/');
	size_t hl = slash ? (size_t)(slash - v) : strlen(v);
	bool v4 = strchr(v, ':') == NULL;

	if (!cidr_parse(v, &net) || hl >= sizeof(host)) {
		conf_err(c, e, "\"%s\" is not an address or CIDR prefix", v);
		return;
	}
	memcpy(host, v, hl);
	host[hl] = '\0';
	if (cidr_parse_addr(host, &a) && memcmp(a.b, net.addr.b, sizeof(a.b)) != 0) {
		cidr_addr_format(&net.addr, txt, sizeof(txt));
		conf_err(c, e, "\"%s\" has host bits set (the network is %s/%u)", v, txt,
			 v4 ? net.len - 96 : net.len);
		return;
	}
	if ((v4 && net.len <= 96) || net.len == 0) {
		conf_err(c, e, "\"%s\" matches every address", v);
		return;
	}
	id->networks[id->n_networks++] = net;
}

static void
parse_credentials(struct conf_ctx *c, const config_setting_t *g, struct bw_identity *id)
{
	const config_setting_t *cg = NULL, *l, *e;
	size_t before = c->n_errors, n;
	const char *v;

	int rc = conf_group(c, g, S_ID_CREDENTIALS, &cg);
	if (rc < 0)
		return;
	if (rc > 0 && conf_keys(c, cg, S_ID_CREDENTIALS)) {
		if ((l = strlist(c, cg, S_ID_CREDENTIALS_LOGINS, &n)) != NULL) {
			id->logins = arena_alloc(c->a, n * sizeof(char *));
			for (size_t i = 0; i < n; i++) {
				bool dup = false;
				if ((v = elem_str(l, i, &e)) == NULL)
					continue;
				for (size_t j = 0; j < id->n_logins; j++)
					dup = dup || strcmp(id->logins[j], v) == 0;
				if (strlen(v) > CONF_LOGIN_MAX || !login_ok(v)) {
					conf_err(
					    c, e,
					    "\"%s\" is not a login (no spaces, at most %d bytes)",
					    v, CONF_LOGIN_MAX);
				} else if (dup) {
					conf_err(c, e, "login \"%s\" listed twice", v);
				} else {
					id->logins[id->n_logins++] = arena_strdup(c->a, v);
					conf_seen_add(c, true, v, id->id, e);
				}
			}
		}
		if ((l = strlist(c, cg, S_ID_CREDENTIALS_NETWORKS, &n)) != NULL) {
			id->networks = arena_alloc(c->a, n * sizeof(struct cidr));
			for (size_t i = 0; i < n; i++)
				if ((v = elem_str(l, i, &e)) != NULL)
					add_network(c, e, v, id);
		}
	}
	if (c->n_errors == before && id->n_logins == 0 && id->n_networks == 0) {
		if (cg != NULL)
			conf_err(c, cg,
				 "no login and no network: the identity could never be attributed");
		else
			conf_err_in(c, g, "credentials",
				    "required key missing: without a login or network the identity "
				    "could never be attributed");
	}
}

/* A list of domain patterns; NULL (and an error) if present but unusable. */
static const char **
domain_list(struct conf_ctx *c, const config_setting_t *g, enum setting_id sid, size_t *count)
{
	const config_setting_t *l, *e;
	size_t n;
	const char *v;
	char norm[DOMAIN_MAX + 1];

	*count = 0;
	if ((l = strlist(c, g, sid, &n)) == NULL)
		return NULL;
	if (n == 0) {
		conf_err(c, l, "must not be empty");
		return NULL;
	}
	const char **out = arena_alloc(c->a, n * sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		if ((v = elem_str(l, i, &e)) == NULL)
			continue;
		if (!domain_normalize_pattern(v, norm))
			conf_err(c, e, "\"%s\" is not a domain or *.domain pattern", v);
		else
			out[(*count)++] = arena_strdup(c->a, norm);
	}
	return out;
}

static void
parse_dkim_entry(struct conf_ctx *c, const config_setting_t *kg, struct bw_identity *id)
{
	const char *dom = NULL, *sel = NULL, *key = NULL;
	char norm[DOMAIN_MAX + 1], err[CONF_MSG_MAX / 2];
	struct keyfile_info ki;
	struct keyfile_material km;
	bool ok = true;

	if (!conf_keys(c, kg, S_ID_DKIM))
		return;
	if (conf_str(c, kg, S_ID_DKIM_DOMAIN, &dom) > 0 &&
	    !domain_normalize(dom, strlen(dom), norm)) {
		conf_err(c, conf_at(kg, S_ID_DKIM_DOMAIN), "\"%s\" is not a domain name", dom);
		ok = false;
	}
	if (conf_str(c, kg, S_ID_DKIM_SELECTOR, &sel) > 0 && !selector_ok(sel)) {
		conf_err(c, conf_at(kg, S_ID_DKIM_SELECTOR),
			 "\"%s\" is not a selector ([A-Za-z0-9._-]+)", sel);
		ok = false;
	}
	if (conf_str(c, kg, S_ID_DKIM_KEY, &key) <= 0)
		return;
	const config_setting_t *ks = conf_at(kg, S_ID_DKIM_KEY);
	const char *path = conf_path(c, ks, key);
	bool sign = id->dkim_mode == BW_DKIM_SIGN;
	if (keyfile_load(path, sign, c->a, &ki, &km, err, sizeof(err)) != 0) {
		conf_err(c, ks, "%s: %s", path, err);
		return;
	}
	if (ki.alg == BW_KEY_RSA && ki.bits < c->r->set.dkim_min_rsa_bits) {
		conf_err(c, ks, "%s: RSA key of %d bits is below policy.dkim_min_rsa_bits (%d)",
			 path, ki.bits, c->r->set.dkim_min_rsa_bits);
		return;
	}
	conf_hash_key(c, path, ki.spki_sha256);
	if (!ok || dom == NULL || sel == NULL)
		return;
	for (size_t j = 0; j < id->n_dkim; j++)
		if (strcmp(id->dkim[j].domain, norm) == 0 &&
		    strcmp(id->dkim[j].selector, sel) == 0) {
			conf_err(c, kg, "selector \"%s\" of %s listed twice", sel, norm);
			return;
		}
	struct bw_dkim_key *k = &id->dkim[id->n_dkim++];
	k->domain = arena_strdup(c->a, norm);
	k->selector = arena_strdup(c->a, sel);
	k->path = path;
	k->alg = ki.alg;
	k->bits = ki.bits;
	k->is_public = ki.is_public;
	k->privkey = km.privkey;
	k->pubkey = km.pubkey;
	k->file = arena_strdup(c->a, conf_file_of(c, kg));
	k->line = (int)conf_line_of(kg);
}

static void
parse_dkim(struct conf_ctx *c, const config_setting_t *g, struct bw_identity *id)
{
	int e;

	if (conf_word(c, g, S_ID_DKIM_MODE, &e) > 0)
		id->dkim_mode = (enum bw_dkim_mode)e;
	const config_setting_t *l = conf_at(g, S_ID_DKIM);
	if (l == NULL)
		return;
	if (!config_setting_is_list(l)) {
		conf_err(c, l, "expected a list ( { domain; selector; key; }, ... ), got %s",
			 conf_type_name(config_setting_type(l)));
		return;
	}
	int n = config_setting_length(l);
	id->dkim = arena_alloc(c->a, (size_t)n * sizeof(*id->dkim));
	for (int i = 0; i < n; i++)
		parse_dkim_entry(c, config_setting_get_elem(l, (unsigned)i), id);
}

/* A header field name we may add to a signed list: [A-Za-z0-9][A-Za-z0-9_-]*. */
static bool
hdr_name_ok(const char *s)
{
	size_t n = 0;
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
		return false;
	for (; *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return n <= DKIM_HDR_NAME_MAX;
}

/* true iff name is among the first n entries of l (case-insensitive). */
static bool
hdr_listed(const char *const *l, size_t n, const char *name)
{
	for (size_t i = 0; i < n && l[i] != NULL; i++)
		if (strcasecmp(l[i], name) == 0)
			return true;
	return false;
}

/* The names of list key `name` into out[] (at most SETTING_DKIM_HDRS_EXTRA_MAX);
 * returns how many, after reporting any bad one. */
static size_t
hdr_extra(struct conf_ctx *c, const config_setting_t *g, enum setting_id sid, const char **out)
{
	const config_setting_t *l, *e;
	size_t n, k = 0;
	const char *v;

	if ((l = strlist(c, g, sid, &n)) == NULL)
		return 0;
	if (n > (size_t)setting(sid)->max) {
		conf_err(c, l, "at most %lld header fields may be added to the defaults",
			 setting(sid)->max);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if ((v = elem_str(l, i, &e)) == NULL)
			continue;
		if (!hdr_name_ok(v))
			conf_err(c, e, "\"%s\" is not a header field name ([A-Za-z0-9_-], at most %d)",
				 v, DKIM_HDR_NAME_MAX);
		else if (hdr_listed(unsignable_headers, SIZE_MAX, v))
			conf_err(c, e, "\"%s\" changes in transit and cannot be signed", v);
		else if (hdr_listed(out, k, v))
			conf_err(c, e, "\"%s\" listed twice", v);
		else
			out[k++] = arena_strdup(c->a, v);
	}
	return k;
}

/* base followed by the names of add[] it lacks, NULL-terminated, in the arena. */
static const char *const *
hdr_merge(struct conf_ctx *c, const char *const *base, const char **add, size_t n_add)
{
	size_t nb = 0, k;
	while (base[nb] != NULL)
		nb++;
	const char **out = arena_alloc(c->a, (nb + n_add + 1) * sizeof(char *));
	memcpy(out, base, nb * sizeof(char *));
	k = nb;
	for (size_t i = 0; i < n_add; i++)
		if (!hdr_listed(out, k, add[i]))
			out[k++] = add[i];
	out[k] = NULL;
	return out;
}

/*
 * dkim_sign_headers / dkim_oversign_headers: names added to the defaults
 * (which cannot be removed). An oversigned name is signed as well.
 */
static void
parse_dkim_headers(struct conf_ctx *c, const config_setting_t *g, struct bw_identity *id)
{
	const char *sign[2 * SETTING_DKIM_HDRS_EXTRA_MAX], *over[SETTING_DKIM_HDRS_EXTRA_MAX];
	size_t ns = hdr_extra(c, g, S_ID_DKIM_SIGN_HEADERS, sign);
	size_t no = hdr_extra(c, g, S_ID_DKIM_OVERSIGN_HEADERS, over);

	id->dkim_sign_headers = bw_dkim_sign_headers_default;
	id->dkim_oversign_headers = bw_dkim_oversign_headers_default;
	if (id->dkim_mode == BW_DKIM_VERIFY) {
		const enum setting_id keys[] = {S_ID_DKIM_SIGN_HEADERS, S_ID_DKIM_OVERSIGN_HEADERS};
		for (int i = 0; i < 2; i++)
			if (conf_at(g, keys[i]) != NULL)
				conf_err(c, conf_at(g, keys[i]),
					 "applies to dkim_mode \"sign\" only (in \"verify\" mode "
					 "the vendor chooses what it signs)");
		return;
	}
	for (size_t i = 0; i < no; i++)
		if (!hdr_listed(sign, ns, over[i]))
			sign[ns++] = over[i];
	if (ns > 0)
		id->dkim_sign_headers = hdr_merge(c, bw_dkim_sign_headers_default, sign, ns);
	if (no > 0)
		id->dkim_oversign_headers =
		    hdr_merge(c, bw_dkim_oversign_headers_default, over, no);
}

/*
 * feedback_id: true (the SenderId is the first DKIM signing domain) or the
 * SenderId itself; false or absent: no Feedback-ID. Sign mode only: the
 * header must be covered by our signature to count (Gmail's FBL).
 */
static void
parse_feedback(struct conf_ctx *c, const config_setting_t *g, struct bw_identity *id)
{
	const config_setting_t *s = conf_at(g, S_ID_FEEDBACK_ID);
	const char *sender = NULL;

	if (s == NULL)
		return;
	int t = config_setting_type(s);
	if (t == CONFIG_TYPE_BOOL) {
		if (!config_setting_get_bool(s))
			return;
	} else if (t == CONFIG_TYPE_STRING) {
		sender = config_setting_get_string(s);
		size_t n = strspn(sender, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789._-");
		if (sender[0] == '\0' || sender[n] != '\0' || n > FEEDBACK_SENDER_MAX) {
			conf_err(c, s, "\"%s\" is not a SenderId ([A-Za-z0-9._-], 1 to %d)",
				 sender, FEEDBACK_SENDER_MAX);
			return;
		}
	} else {
		conf_err(c, s, "expected true, false or a SenderId string, got %s",
			 conf_type_name(t));
		return;
	}
	if (id->dkim_mode == BW_DKIM_VERIFY) {
		conf_err(c, s,
			 "applies to dkim_mode \"sign\" only (a Feedback-ID counts only under "
			 "the sender's own signature, which the vendor makes in \"verify\" mode)");
		return;
	}
	if (sender == NULL) {
		if (id->n_dkim == 0) {
			if (conf_at(g, S_ID_DKIM) == NULL)
				conf_err(c, s,
					 "true takes the SenderId from the first dkim domain and "
					 "there is none: give the SenderId as a string");
			return;
		}
		sender = id->dkim[0].domain;
	}
	id->feedback_id = arena_strdup(c->a, sender);
}

/* limits and mode; max_recipients, min_dmarc_policy, actions: tighten only. */
static void
parse_tightening(struct conf_ctx *c, const config_setting_t *g, struct bw_identity *id)
{
	const char *const *dmarc = setting(S_ID_MIN_DMARC_POLICY)->words;
	const struct bw_settings *base = &c->r->set;
	const config_setting_t *lg = NULL, *ag = NULL;
	long long n;
	int e;

	if (conf_group(c, g, S_ID_LIMITS, &lg) > 0 && conf_keys(c, lg, S_ID_LIMITS)) {
		if (conf_int(c, lg, S_ID_LIMITS_PER_HOUR, &n) > 0)
			id->per_hour = (uint64_t)n;
		if (conf_int(c, lg, S_ID_LIMITS_PER_DAY, &n) > 0)
			id->per_day = (uint64_t)n;
		if (conf_int(c, lg, S_ID_LIMITS_RECIPIENTS_PER_HOUR, &n) > 0)
			id->rcpt_per_hour = (uint64_t)n;
		if (conf_int(c, lg, S_ID_LIMITS_RECIPIENTS_PER_DAY, &n) > 0)
			id->rcpt_per_day = (uint64_t)n;
	}
	/* per-identity monitor is the onboarding path (policy.c: monitor if
	 * either the baseline or the identity says so), not a loosening */
	if (conf_word(c, g, S_ID_MODE, &e) > 0)
		id->mode = (enum bw_mode)e;
	if (conf_int(c, g, S_ID_MAX_RECIPIENTS, &n) > 0) {
		if (n > base->max_recipients)
			conf_err(c, conf_at(g, S_ID_MAX_RECIPIENTS),
				 "%lld loosens the baseline (policy.max_recipients is %u)", n,
				 base->max_recipients);
		else
			id->max_recipients = (unsigned)n;
	}
	if (conf_word(c, g, S_ID_MIN_DMARC_POLICY, &e) > 0) {
		if (e < (int)base->min_dmarc_policy)
			conf_err(c, conf_at(g, S_ID_MIN_DMARC_POLICY),
				 "\"%s\" loosens the baseline (policy.min_dmarc_policy is \"%s\")",
				 dmarc[e], dmarc[base->min_dmarc_policy]);
		else
			id->min_dmarc_policy = (enum bw_dmarc_p)e;
	}
	if (conf_group(c, g, S_ID_ACTIONS, &ag) > 0)
		conf_actions(c, ag, id->actions, base->actions);
}

/* "missing owner dns, no approval" or NULL when nothing keeps it pending. */
static const char *
pending_why(struct conf_ctx *c, const struct bw_identity *id)
{
	const struct bw_settings *base = &c->r->set;
	char buf[PENDING_WHY_MAX];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < base->n_require_owners; i++) {
		bool have = false;
		for (size_t j = 0; j < id->n_owners && !have; j++)
			have = strcmp(id->owners[j].role, base->require_owners[i]) == 0;
		if (!have && off < sizeof(buf)) {
			int w = snprintf(buf + off, sizeof(buf) - off, "%smissing owner %s",
					 off ? ", " : "", base->require_owners[i]);
			off = w < 0 ? sizeof(buf) : off + (size_t)w;
		}
	}
	if (id->approval_by == NULL && off < sizeof(buf)) {
		int w = snprintf(buf + off, sizeof(buf) - off, "%sno approval", off ? ", " : "");
		off = w < 0 ? sizeof(buf) : off + (size_t)w;
	}
	if (off >= sizeof(buf))
		memcpy(buf + sizeof(buf) - 4, "...", 4);
	return buf[0] ? arena_strdup(c->a, buf) : NULL;
}

void
conf_identity(struct conf_ctx *c, const config_setting_t *g, struct bw_identity *id)
{
	const struct bw_settings *base = &c->r->set;
	const char *v;
	int e;

	memset(id, 0, sizeof(*id));
	id->file = arena_strdup(c->a, conf_file_of(c, g));
	id->line = (int)conf_line_of(g);
	id->mode = (enum bw_mode)setting_default_value(S_ID_MODE);
	id->max_recipients = base->max_recipients;
	id->min_dmarc_policy = base->min_dmarc_policy;
	memcpy(id->actions, base->actions, sizeof(id->actions));
	id->dkim_mode = (enum bw_dkim_mode)setting_default_value(S_ID_DKIM_MODE);

	conf_keys(c, g, S_IDENTITY);
	if (conf_str(c, g, S_ID_ID, &v) > 0) {
		if (!id_ok(v)) {
			conf_err(c, conf_at(g, S_ID_ID),
				 "\"%s\" is not a valid id ([a-z0-9][a-z0-9._-]{0,63})", v);
		} else {
			id->id = arena_strdup(c->a, v);
			conf_seen_add(c, false, v, v, conf_at(g, S_ID_ID));
		}
	}
	if (id->id == NULL)
		id->id = "(invalid id)"; /* only for messages: the load fails */
	if (conf_str(c, g, S_ID_DESCRIPTION, &v) > 0)
		id->description = arena_strdup(c->a, v);
	if (conf_word(c, g, S_ID_CLASS, &e) > 0)
		id->class = (enum bw_class)e;
	if (conf_str(c, g, S_ID_PLATFORM, &v) > 0)
		id->platform = arena_strdup(c->a, v);

	parse_owners(c, g, id);
	parse_approval_lifecycle(c, g, id);
	parse_credentials(c, g, id);
	id->envelope_domains = domain_list(c, g, S_ID_ENVELOPE_DOMAINS, &id->n_envelope_domains);
	if (conf_at(g, S_ID_FROM_DOMAINS) != NULL) {
		id->from_domains = domain_list(c, g, S_ID_FROM_DOMAINS, &id->n_from_domains);
	} else {
		id->from_domains = id->envelope_domains;
		id->n_from_domains = id->n_envelope_domains;
	}
	parse_dkim(c, g, id);
	parse_dkim_headers(c, g, id);
	parse_feedback(c, g, id);
	parse_tightening(c, g, id);
	conf_identity_governance(c, g, id);
	/* the addresses receivers see for this identity, if not the relay's */
	conf_ip_list(c, g, S_ID_EGRESS_IPS, &id->egress_ips, &id->n_egress_ips);
	/* SPEC §3: a vendor message without a valid registered signature is
	 * refused (550 5.7.20) unless the identity chose otherwise */
	if (id->dkim_mode == BW_DKIM_VERIFY && id->actions[BW_CHK_DKIM] == base->actions[BW_CHK_DKIM] &&
	    id->actions[BW_CHK_DKIM] < BW_ACT_REJECT)
		id->actions[BW_CHK_DKIM] = BW_ACT_REJECT;
	id->pending_why = pending_why(c, id);
}

/* ---- across identities ---------------------------------------------------- */

void
conf_seen_add(struct conf_ctx *c, bool login, const char *key, const char *owner,
	      const config_setting_t *s)
{
	struct conf_seen **v = login ? &c->logins : &c->ids;
	size_t *n = login ? &c->n_logins : &c->n_ids;
	size_t *cap = login ? &c->cap_logins : &c->cap_ids;
	char path[CONF_KEY_MAX];

	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	conf_key_path(s, path, sizeof(path));
	struct conf_seen *e = &(*v)[(*n)++];
	e->key = arena_strdup(c->a, key);
	e->owner = arena_strdup(c->a, owner);
	e->file = arena_strdup(c->a, conf_file_of(c, s));
	e->line = conf_line_of(s);
	e->path = arena_strdup(c->a, path);
	e->order = *n;
}

static int
seen_cmp(const void *a, const void *b)
{
	const struct conf_seen *x = a, *y = b;
	int r = strcmp(x->key, y->key);
	if (r != 0)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Every later occurrence of an id (or of a login) is an error naming the first. */
static void
report_duplicates(struct conf_ctx *c, struct conf_seen *v, size_t n, bool login)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), seen_cmp);
	for (size_t i = 1, first = 0; i < n; i++) {
		if (strcmp(v[i].key, v[first].key) != 0) {
			first = i;
			continue;
		}
		if (login)
			conf_err_at(
			    c, v[i].file, v[i].line, v[i].path,
			    "login \"%s\" is listed by identity \"%s\" (%s:%u) and identity "
			    "\"%s\": credentials are never shared",
			    v[i].key, v[first].owner, v[first].file, v[first].line, v[i].owner);
		else
			conf_err_at(c, v[i].file, v[i].line, v[i].path,
				    "duplicate identity id \"%s\" (first defined at %s:%u)",
				    v[i].key, v[first].file, v[first].line);
	}
}

void
conf_identity_duplicates(struct conf_ctx *c)
{
	report_duplicates(c, c->ids, c->n_ids, false);
	report_duplicates(c, c->logins, c->n_logins, true);
}
