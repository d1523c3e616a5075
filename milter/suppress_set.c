/*
 * suppress_set.c - the milter's in-memory suppression list (see
 * suppress_set.h).
 *
 * Start: the site key is read (never made here: whoever first suppresses
 * an address makes it, bulkwardenctl) and checked against the store's
 * check value; then every entry is read (changes since 0) into the set.
 * Each tick of the state thread reads the entries whose change number is
 * above the last one applied (an indexed range read: nothing when nothing
 * changed) and adds or removes them. A key that appears later (the first
 * suppression was made after we started) is picked up by the poll.
 *
 * Failing closed: when the store lists entries but the key is missing or is
 * not the one the store's list was made with, a lookup answers "cannot
 * tell" and the recipient is tempfailed (451 4.3.0 [state-error]), so a
 * suppressed address is never mailed because of a setup error. An
 * allocation failure while applying changes keeps the last number, so the
 * same changes are read again on the next tick.
 *
 * Cost per RCPT: one HMAC-SHA256 of a short message (~1 us) and one probe
 * sequence in the set, under a read lock.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base/keyset.h"
#include "base/util.h"
#include "milter/suppress_set.h"
#include "state/suppress.h"

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct keyset set;
static struct suppress_mac *mac;       /* prepared with the key (NULL: none) */
static bool have_key;		       /* key loaded and matching the store */
static bool key_bad;		       /* a key file that the store refuses, or unreadable */
static long long last_seq;	       /* state thread only */
static const struct bw_settings *conf; /* the key path: a copy of the startup settings */
static bool logged_nokey;

/* Read and check the key: 0 loaded, 1 none yet, -1 refused (logged). */
static int
load_key(struct state *st)
{
	char err[512];
	struct suppress_key k;
	unsigned char chk[SUPPRESS_HASH_BYTES];
	int rc = suppress_key_load(conf, false, &k, err, sizeof(err));
	if (rc == 1)
		return 1;
	if (rc == 0 && suppress_key_check(&k, chk) != 0) {
		snprintf(err, sizeof(err), "cannot compute the suppression key check");
		rc = -1;
	}
	if (rc == 0) {
		int m = state_supp_keycheck(st, chk);
		if (m < 0) {
			OPENSSL_cleanse(&k, sizeof(k));
			return 1; /* the store is away: try again next tick */
		}
		if (m == 1) {
			snprintf(
			    err, sizeof(err),
			    "the suppression key file is not the one the state store's list was "
			    "made with: copy it from a relay that shares this store");
			rc = -1;
		}
	}
	if (rc != 0) {
		if (!key_bad) /* said once until it is fixed */
			diag(LOG_ERR, "%s (suppressed recipients are tempfailed)", err);
		key_bad = true;
		OPENSSL_cleanse(&k, sizeof(k));
		return -1;
	}
	struct suppress_mac *m = suppress_mac_new(&k);
	if (m == NULL) {
		OPENSSL_cleanse(&k, sizeof(k));
		diag(LOG_ERR, "cannot prepare the suppression key (HMAC-SHA256)");
		return -1;
	}
	pthread_rwlock_wrlock(&lock);
	suppress_mac_free(mac);
	mac = m;
	have_key = true;
	key_bad = false;
	pthread_rwlock_unlock(&lock);
	OPENSSL_cleanse(&k, sizeof(k));
	diag(LOG_INFO, "suppression key loaded");
	return 0;
}

#define KEY_RETRY_S 2	     /* seconds between looks for a missing or refused key */
#define POLL_BATCH_MAX 65536 /* changes applied per tick (the rest next tick) */

/* One change read by the poll, applied after the read. */
struct change {
	unsigned char h[SUPPRESS_HASH_BYTES];
	bool live;
};

struct batch {
	long long seq; /* last change read */
	bool direct;   /* apply as read (start: no lookups yet) */
	bool oom;
	size_t added, removed;
	struct change *c;
	size_t n;
};

/* Add or remove one entry; the write lock is held or no one reads yet. */
static void
apply_one(struct batch *b, const unsigned char *h, bool live)
{
	if (live) {
		int r = keyset_add(&set, h);
		if (r < 0)
			b->oom = true;
		else
			b->added += (size_t)r;
	} else {
		b->removed += (size_t)keyset_del(&set, h);
	}
}

/* One changed entry from the store. */
static int
take(const struct state_supp *e, void *arg)
{
	struct batch *b = arg;
	if (b->direct) {
		apply_one(b, e->h, e->live);
		if (b->oom)
			return 1;
	} else {
		memcpy(b->c[b->n].h, e->h, SUPPRESS_HASH_BYTES);
		b->c[b->n].live = e->live;
		b->n++;
	}
	if (e->seq > b->seq) /* the full load comes in any order */
		b->seq = e->seq;
	return !b->direct && b->n == POLL_BATCH_MAX;
}

/*
 * Read the changes after last_seq and apply them: 0, or -1 (store error).
 * At start they go straight into the set; later they are read into a
 * bounded batch first and applied under the write lock, so lookups never
 * wait on the store. An entry not applied (out of memory) is read again.
 */
static int
refresh(struct state *st, bool direct)
{
	static struct change *buf;
	struct batch b = {.seq = last_seq, .direct = direct};
	if (!direct) {
		if (buf == NULL && (buf = malloc(POLL_BATCH_MAX * sizeof(*buf))) == NULL)
			return -1;
		b.c = buf;
	}
	int rc = state_supp_changes(st, last_seq, take, &b);
	if (!direct && b.n > 0) {
		pthread_rwlock_wrlock(&lock);
		for (size_t i = 0; i < b.n && !b.oom; i++)
			apply_one(&b, b.c[i].h, b.c[i].live);
		pthread_rwlock_unlock(&lock);
	}
	if (b.oom) {
		diag(LOG_ERR, "suppression list: out of memory at %zu entries (retrying)",
		     keyset_count(&set));
		return -1; /* last_seq unchanged: read again */
	}
	last_seq = b.seq;
	if (b.added + b.removed > 0)
		diag(LOG_INFO, "suppression list: %zu added, %zu removed, %zu held", b.added,
		     b.removed, keyset_count(&set));
	return rc;
}

int
suppress_set_start(const struct bw_settings *s, struct state *st, char *err, size_t errlen)
{
	uint64_t n = 0;
	/* a private copy: the registry holding s is freed after a reload */
	static char path[4096], user[256];
	static struct bw_settings own;
	if (bw_strlcpy(path, s->state_path ? s->state_path : "", sizeof(path)) >= sizeof(path) ||
	    bw_strlcpy(user, s->user ? s->user : "", sizeof(user)) >= sizeof(user)) {
		snprintf(err, errlen, "state.path or milter.user is too long");
		return -1;
	}
	memset(&own, 0, sizeof(own));
	own.state_path = path;
	own.user = user;
	conf = &own;
	keyset_init(&set);
	if (state_supp_count(st, NULL, &n) != 0) {
		snprintf(err, errlen, "reading the suppression list: %s", state_error(st));
		return -1;
	}
	if (n > 0 && keyset_reserve(&set, (size_t)n) != 0) {
		snprintf(err, errlen, "out of memory for %llu suppressed recipients",
			 (unsigned long long)n);
		return -1;
	}
	if (load_key(st) == 1 && n > 0)
		diag(LOG_ERR,
		     "the state store lists %llu suppressed recipients but there is no "
		     "suppression key file (suppressed recipients are tempfailed)",
		     (unsigned long long)n);
	if (refresh(st, true) != 0) {
		snprintf(err, errlen, "reading the suppression list (%zu entries read): %s",
			 keyset_count(&set), state_error(st));
		return -1;
	}
	return 0;
}

void
suppress_set_poll(struct state *st)
{
	static time_t last_try;
	if (conf == NULL)
		return;
	if (refresh(st, false) != 0)
		return; /* the store is away: the suspension poll says so */
	/* entries but no usable key: look again every KEY_RETRY_S (the
	 * operator copies the fleet's key file in; no restart needed) */
	time_t now = time(NULL);
	if (have_key || keyset_count(&set) == 0 || now - last_try < KEY_RETRY_S)
		return;
	last_try = now;
	if (load_key(st) == 1 && !logged_nokey) {
		diag(LOG_ERR, "suppressed recipients are listed but there is no suppression key "
			      "file yet (they are tempfailed)");
		logged_nokey = true;
	}
}

int
suppress_set_check(const char *id, const char *rcpt)
{
	unsigned char h[SUPPRESS_HASH_BYTES];
	int rc = 0;
	pthread_rwlock_rdlock(&lock);
	if (keyset_count(&set) == 0) {
		rc = 0;
	} else if (!have_key) {
		rc = -1;
	} else {
		int r = suppress_mac_addr(mac, id, rcpt, h);
		if (r == -1)
			rc = 0; /* not a plain address: the MTA's business */
		else if (r != 0)
			rc = -1;
		else
			rc = keyset_has(&set, h) ? 1 : 0;
	}
	pthread_rwlock_unlock(&lock);
	return rc;
}

size_t
suppress_set_count(void)
{
	pthread_rwlock_rdlock(&lock);
	size_t n = keyset_count(&set);
	pthread_rwlock_unlock(&lock);
	return n;
}

void
suppress_set_stop(void)
{
	pthread_rwlock_wrlock(&lock);
	keyset_free(&set);
	suppress_mac_free(mac);
	mac = NULL;
	have_key = false;
	conf = NULL;
	pthread_rwlock_unlock(&lock);
}
