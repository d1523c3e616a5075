/*
 * suppress.c - bulkwardenctl's suppression verbs (SPEC §9): suppress,
 * unsuppress, suppressions, and the helper ingest calls for an ARF
 * complaint's recipient.
 *
 * An address given here is canonicalized and hashed with the site key
 * (state/suppress.h) at once; only the keyed hash reaches the store, the
 * audit record (its first 16 hex digits), the event log and the output.
 * The key file is made on first use; before the first write the store is
 * asked whether it already knows another key (a relay of a fleet holding a
 * different key file), which is refused.
 *
 * Untrusted input: the command line (bounded, escaped on output) and, from
 * ingest, the recipient of a complaint report.
 */
#include "config.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/hash.h"
#include "ctl/verbs.h"
#include "state/suppress.h"

/* The site key, checked against the store once per run. */
static int
site_key(struct ctl *c, struct state *st, struct suppress_key *key, char *why, size_t whylen)
{
	static struct suppress_key k;
	static int ready; /* 0 not yet, 1 ok */
	unsigned char chk[SUPPRESS_HASH_BYTES];
	if (ready) {
		*key = k;
		return 0;
	}
	if (suppress_key_load(&ctl_registry(c)->set, true, &k, why, whylen) != 0)
		return -1;
	if (suppress_key_check(&k, chk) != 0) {
		snprintf(why, whylen, "cannot compute the suppression key check (HMAC-SHA256)");
		return -1;
	}
	int rc = state_supp_keycheck(st, chk);
	if (rc < 0) {
		snprintf(why, whylen, "%s", state_error(st));
		return -1;
	}
	if (rc == 1) {
		char path[512] = "";
		suppress_key_path(&ctl_registry(c)->set, path, sizeof(path));
		snprintf(why, whylen,
			 "the suppression key %s is not the one the state store's list was made "
			 "with: copy the key file from a relay that shares this store",
			 path);
		return -1;
	}
	ready = 1;
	*key = k;
	return 0;
}

/* The OS user running us: the default actor of `suppress`. */
static void
os_user(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(getuid());
	bw_strlcpy(buf, pw ? pw->pw_name : "unknown", len);
}

/* Print the change: one line, or the audit record as JSON. */
static void
report(struct ctl *c, const struct state_audit *rec, const char *what, const unsigned char *h)
{
	static struct jbuf j;
	char e[128], hex[SUPPRESS_HEX + 1];
	if (c->json) {
		jbuf_begin(&j);
		ctl_audit_json(&j, rec);
		jbuf_str(&j, "hmac", suppress_hex(h, SUPPRESS_HASH_BYTES, hex));
		jbuf_end(&j);
		out_object(&j);
		return;
	}
	printf("%s recipient hmac %.*s for %s (audit record %lld, hash %.16s); running milters "
	       "see it within a second\n",
	       what, SUPPRESS_SHOW_HEX, suppress_hex(h, SUPPRESS_HASH_BYTES, hex),
	       out_esc(rec->identity, e, sizeof(e)), rec->seq, rec->hash);
}

/* suppress and unsuppress. */
static int
change(struct ctl *c, int argc, char **argv, bool add)
{
	struct ctl_args a;
	struct state_audit rec;
	struct suppress_key key;
	unsigned char h[SUPPRESS_HASH_BYTES];
	char esc[128], why[512], user[64];
	int rc = ctl_args_parse(c, argc, argv, "jrbt", 2, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	if (a.npos != 2)
		return ctl_usage(argv[0], "%s needs an identity id and an address", argv[0]);
	if (a.reason == NULL)
		return ctl_usage(argv[0], "--reason is required");
	if (!add && a.by == NULL)
		return ctl_usage(argv[0], "--by is required");
	if (strlen(a.reason) >= STATE_TEXT_MAX || (a.by && strlen(a.by) >= STATE_NAME_MAX) ||
	    (a.ticket && strlen(a.ticket) >= STATE_NAME_MAX))
		return ctl_usage(argv[0], "an option's value is too long");
	char canon[SUPPRESS_ADDR_MAX + 1];
	if (suppress_canon(a.pos[1], canon, sizeof(canon)) != 0)
		return ctl_usage(argv[0], "\"%s\" is not an email address",
				 out_esc(a.pos[1], esc, sizeof(esc)));
	if (registry_by_id(ctl_registry(c), a.pos[0]) == NULL) {
		ctl_err("no identity \"%s\" in %s", out_esc(a.pos[0], esc, sizeof(esc)),
			c->conf_path);
		return CTL_FAIL;
	}
	if (a.by == NULL)
		os_user(user, sizeof(user));
	struct state *st = ctl_state(c);
	if (site_key(c, st, &key, why, sizeof(why)) != 0) {
		ctl_err("%s", why);
		return CTL_FAIL;
	}
	rc = suppress_hash(&key, a.pos[0], canon, h);
	OPENSSL_cleanse(&key, sizeof(key));
	OPENSSL_cleanse(canon, sizeof(canon));
	if (rc != 0) {
		ctl_err("cannot compute the keyed hash (HMAC-SHA256)");
		return CTL_FAIL;
	}
	rc = state_suppress(st, a.pos[0], h, add, a.reason, a.by ? a.by : user, a.ticket, ctl_now(),
			    &rec);
	if (rc < 0) {
		ctl_err("cannot %s: %s", argv[0], state_error(st));
		return CTL_FAIL;
	}
	if (rc == 1) {
		ctl_err("%s: recipient %s for %s (nothing changed)", argv[0],
			add ? "already suppressed" : "not suppressed", a.pos[0]);
		return add ? CTL_OK : CTL_FAIL;
	}
	ctl_audit_emit(c, &rec);
	report(c, &rec, add ? "suppressed" : "unsuppressed", h);
	return CTL_OK;
}

int
ctl_suppress(struct ctl *c, int argc, char **argv)
{
	return change(c, argc, argv, true);
}

int
ctl_unsuppress(struct ctl *c, int argc, char **argv)
{
	return change(c, argc, argv, false);
}

int
ctl_suppress_complaint(struct ctl *c, const char *id, const char *addr, const char *reason,
		       char *why, size_t whylen)
{
	struct suppress_key key;
	struct state_audit rec;
	unsigned char h[SUPPRESS_HASH_BYTES];
	char err[512];
	struct state *st = ctl_state_try(c, err, sizeof(err));
	if (st == NULL) {
		snprintf(why, whylen, "%s", err);
		return -1;
	}
	if (site_key(c, st, &key, why, whylen) != 0)
		return -1;
	int rc = suppress_hash_addr(&key, id, addr, h);
	OPENSSL_cleanse(&key, sizeof(key));
	if (rc != 0) {
		snprintf(why, whylen, "%s",
			 rc == -1 ? "the recipient is not an address"
				  : "cannot compute the keyed hash");
		return -1;
	}
	rc = state_suppress(st, id, h, true, reason, "bulkwarden", NULL, ctl_now(), &rec);
	if (rc < 0) {
		snprintf(why, whylen, "%s", state_error(st));
		return -1;
	}
	if (rc == 0)
		ctl_audit_emit(c, &rec);
	return rc;
}

/* Listing state. */
struct list_ctx {
	struct ctl *c;
	const char *id;
	bool verbose;
	struct out_array arr;
	struct bw_hash counts; /* id -> uint64_t* (all identities) */
	uint64_t n;
	bool oom;
};

/* One live entry: print it (verbose) or count it. */
static int
list_one(const struct state_supp *e, void *arg)
{
	struct list_ctx *x = arg;
	static struct jbuf j;
	char hex[SUPPRESS_HEX + 1], t[CTL_TIME_MAX];
	if (!e->live || (x->id != NULL && strcmp(e->id, x->id) != 0))
		return 0;
	x->n++;
	if (x->verbose) {
		suppress_hex(e->h, SUPPRESS_HASH_BYTES, hex);
		if (x->c->json) {
			jbuf_begin(&j);
			jbuf_str(&j, "identity", e->id);
			jbuf_str(&j, "hmac", hex);
			jbuf_str(&j, "since", out_time(e->since, t));
			jbuf_end(&j);
			out_array_add(&x->arr, &j);
		} else {
			printf("%-24s %s %s\n", e->id, hex, out_time(e->since, t));
		}
		return 0;
	}
	uint64_t *cnt = bw_hash_get(&x->counts, e->id);
	if (cnt == NULL) {
		size_t l = strlen(e->id) + 1;
		char *blk = malloc(sizeof(uint64_t) + l);
		if (blk == NULL) {
			x->oom = true;
			return 1;
		}
		cnt = (uint64_t *)(void *)blk;
		*cnt = 0;
		memcpy(blk + sizeof(uint64_t), e->id, l);
		if (bw_hash_put(&x->counts, blk + sizeof(uint64_t), cnt, NULL) != 0) {
			free(blk);
			x->oom = true;
			return 1;
		}
	}
	(*cnt)++;
	return 0;
}

int
ctl_suppressions(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct list_ctx x;
	char esc[128];
	int rc = ctl_args_parse(c, argc, argv, "jV", 1, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	memset(&x, 0, sizeof(x));
	x.c = c;
	x.id = a.npos == 1 ? a.pos[0] : NULL;
	x.verbose = a.verbose;
	if (x.id != NULL && registry_by_id(ctl_registry(c), x.id) == NULL)
		ctl_err("note: no identity \"%s\" in %s", out_esc(x.id, esc, sizeof(esc)),
			c->conf_path);
	struct state *st = ctl_state(c);
	bw_hash_init(&x.counts);
	if (x.verbose && c->json)
		out_array_begin(&x.arr);
	rc = state_supp_changes(st, 0, list_one, &x);
	if (x.verbose && c->json)
		out_array_end(&x.arr);
	const char *key;
	void *val;
	size_t pos = 0;
	if (rc == 0 && !x.oom && !x.verbose) {
		struct out_array arr;
		static struct jbuf j;
		if (c->json)
			out_array_begin(&arr);
		if (x.id != NULL && bw_hash_get(&x.counts, x.id) == NULL) {
			if (c->json) {
				jbuf_begin(&j);
				jbuf_str(&j, "identity", x.id);
				jbuf_num(&j, "suppressed", 0);
				jbuf_end(&j);
				out_array_add(&arr, &j);
			} else {
				printf("%-24s %llu\n", x.id, 0ULL);
			}
		}
		while (bw_hash_next(&x.counts, &pos, &key, &val)) {
			if (c->json) {
				jbuf_begin(&j);
				jbuf_str(&j, "identity", key);
				jbuf_num(&j, "suppressed", (long long)*(uint64_t *)val);
				jbuf_end(&j);
				out_array_add(&arr, &j);
			} else {
				printf("%-24s %llu\n", key, (unsigned long long)*(uint64_t *)val);
			}
		}
		if (c->json)
			out_array_end(&arr);
	}
	pos = 0;
	while (bw_hash_next(&x.counts, &pos, &key, &val))
		free(val);
	bw_hash_free(&x.counts);
	if (rc != 0 || x.oom) {
		ctl_err("%s", x.oom ? "out of memory" : state_error(st));
		return CTL_FAIL;
	}
	return CTL_OK;
}
