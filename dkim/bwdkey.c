/*
 * bwdkey.c - libopendkim library handles and the registered keys' view
 * through them (see bwdkey.h for the lifecycle).
 *
 * Every handle is made the same way (make_lib()): the signed and
 * oversigned header lists of its profile, and the verifier's two callbacks,
 * which read the identity a verify handle was given as user context:
 *   prescreen   ignores every signature whose d=/s= pair is not one the
 *               identity registered, and rsa-sha1 (RFC 8301), and all but
 *               the first VERIFY_SIGS_MAX registered ones (a message
 *               repeating a signature cannot make us verify it endlessly);
 *   key lookup  answers with the record built from the registered public
 *               key, or "not found"; it never falls through to DNS (and the
 *               query method is a file with no keys, should it ever try).
 *
 * The parsed-key cache. libopendkim's API takes a private key as bytes and
 * decodes them again for every message (PEM_read_bio_PrivateKey() on a
 * memory BIO at end of message: ~0.4 ms with OpenSSL 3.0's decoders, more
 * than the RSA-2048 signature itself). Worse, libopendkim 2.11.0~beta2
 * (Debian 12) never frees what it decoded for an Ed25519 key (its
 * dkim_free() releases the signing key only for RSA; fixed upstream by
 * OpenDKIM PR #321): about 0.5 KB lost per Ed25519 signature. So this
 * module defines PEM_read_bio_PrivateKey() itself. The executable's
 * definition takes precedence over libcrypto's for libopendkim too; for a
 * memory BIO holding exactly the PEM of a key this registry load parsed,
 * it returns that EVP_PKEY with one more reference (the RSA path drops it
 * again, the leaky Ed25519 path only leaves a count behind); anything else
 * goes to libcrypto's function unchanged. Keys are thus parsed once per
 * registry load and the Ed25519 leak is gone. Entries are found by the
 * SHA-256 of the PEM (no second copy of key bytes is kept), the table is
 * replaced whole by bwdkey_registry_load() (an unchanged key keeps its
 * EVP_PKEY) and read under a rwlock. bwdkey_registry_load() signs one
 * message per key and checks the cache served it; bwdkey_key_cache_active()
 * reports the result. An Ed25519 EVP_PKEY whose references libopendkim
 * kept is never freed (it cannot be); when its key leaves the registry it
 * moves to a graveyard so it stays reachable, once per retired key. That
 * memory is the process's for good, so the Ed25519 keys parsed since start
 * (retired plus current) are capped at BWDKEY_ED25519_MAX: a reload that
 * would pass it is refused ("restart to reclaim"), as profiles are capped.
 *
 * The allocation tracker. The same dkim_free() also leaves the 64-byte
 * Ed25519 signature buffer behind. Every handle is created with a struct
 * bwdkey_mem as its memory closure and the library allocates through
 * track_malloc()/track_free(), which keep the set of blocks the handle
 * holds; after dkim_free(), bwdkey_mem_reclaim() frees what is left. This
 * relies on libopendkim releasing with its free hook everything it got
 * from its malloc hook, which holds for every handle allocation except
 * dkim_add_xtag()'s structure (plain free(); never used here).
 *
 * Memory: the profile table and its handles are process-wide, created
 * under profiles_lock and closed only by bwdkey_shutdown(); a handle is
 * never changed once published, so threads share it without locks
 * (libopendkim reads library options, it does not write them). The key
 * cache holds one reference per EVP_PKEY; a replaced table drops them.
 * Input: d= and s= of signatures in messages (compared, never copied).
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "dkim/bwdkey.h"
#include "base/util.h"
#include "base/strbuf.h"
#include "registry/keyfile.h"

#define PROFILE_KEY_MAX 2048 /* lowercased "sign-list\001oversign-list" */
#define VERIFY_SIGS_MAX 8    /* registered signatures verified per message */
#define NO_KEYS_FILE "/dev/null"
#define CACHE_REFS_MAX (1u << 30) /* hand-outs before an entry is re-parsed */
#define TRACK_MIN 64		  /* initial slots of an allocation tracker */
#define TRACK_GONE ((void *)1)	  /* a tracker slot whose block was freed */
#define TRIAL_MESSAGE_FROM "From: bulkwarden key check <check@invalid>"

/* ---- the parsed-key cache (see the file header) ------------------------- */

struct cached_key {
	unsigned char sha[SHA256_DIGEST_LENGTH]; /* of the PEM; all zero: free slot */
	EVP_PKEY *pk;
	bool leaky;	  /* Ed25519: libopendkim keeps the references it takes */
	atomic_uint refs; /* references handed out to leaky callers */
};

struct key_cache {
	struct cached_key *slot; /* open addressing, size a power of two */
	size_t size;
};

typedef EVP_PKEY *(*pem_read_fn)(BIO *, EVP_PKEY **, pem_password_cb *, void *);

static pthread_rwlock_t cache_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct key_cache cache;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static pem_read_fn real_pem_read;
static atomic_ullong cache_hits, cache_misses, parsed, reclaimed;
static bool cache_active;
static EVP_PKEY *graveyard[BWDKEY_ED25519_MAX]; /* retired keys libopendkim references */
static size_t n_graveyard;

/* Find libcrypto's PEM_read_bio_PrivateKey behind ours. */
static void
find_real(void)
{
	real_pem_read = (pem_read_fn)dlsym(RTLD_NEXT, "PEM_read_bio_PrivateKey");
}

/* The slot for digest sha in c (a free one if absent); c->size > 0. */
static struct cached_key *
cache_slot(const struct key_cache *c, const unsigned char *sha)
{
	static const unsigned char zero[SHA256_DIGEST_LENGTH];
	size_t mask = c->size - 1, i;
	memcpy(&i, sha, sizeof(i));
	for (i &= mask;; i = (i + 1) & mask) {
		struct cached_key *e = &c->slot[i];
		if (memcmp(e->sha, sha, sizeof(e->sha)) == 0 ||
		    memcmp(e->sha, zero, sizeof(zero)) == 0)
			return e;
	}
}

/* true iff table c holds pk. */
static bool
cache_holds(const struct key_cache *c, const EVP_PKEY *pk)
{
	for (size_t i = 0; i < c->size; i++)
		if (c->slot[i].pk == pk)
			return true;
	return false;
}

/* Drop table c's references and free it; an Ed25519 key that libopendkim
 * still references and next does not hold goes to the graveyard. */
static void
cache_free(struct key_cache *c, const struct key_cache *next)
{
	for (size_t i = 0; i < c->size; i++) {
		struct cached_key *e = &c->slot[i];
		if (e->pk == NULL)
			continue;
		if (e->leaky && atomic_load(&e->refs) > 0 &&
		    (next == NULL || !cache_holds(next, e->pk))) {
			/* full only at shutdown (loads keep room): the key then
			 * stays allocated, unreachable */
			if (n_graveyard < BWDKEY_ED25519_MAX)
				graveyard[n_graveyard++] = e->pk;
		}
		EVP_PKEY_free(e->pk);
	}
	free(c->slot);
	c->slot = NULL;
	c->size = 0;
}

/* The cached key for this PEM, with a reference for the caller, or NULL. */
static EVP_PKEY *
cache_get(const char *pem, size_t len)
{
	unsigned char sha[SHA256_DIGEST_LENGTH];
	EVP_PKEY *pk = NULL;
	SHA256((const unsigned char *)pem, len, sha);
	pthread_rwlock_rdlock(&cache_lock);
	if (cache.size > 0) {
		struct cached_key *e = cache_slot(&cache, sha);
		/* a key whose references libopendkim never returns (Ed25519)
		 * is handed out CACHE_REFS_MAX times per registry load, so its
		 * reference count cannot wrap; then it is decoded per message */
		if (e->pk != NULL &&
		    (!e->leaky || atomic_fetch_add(&e->refs, 1) < CACHE_REFS_MAX) &&
		    EVP_PKEY_up_ref(e->pk) == 1)
			pk = e->pk;
	}
	pthread_rwlock_unlock(&cache_lock);
	return pk;
}

/*
 * Our PEM_read_bio_PrivateKey(): the cached key for a memory BIO holding
 * a registered key's PEM, libcrypto's function for everything else (same
 * arguments, same result contract: a new reference or NULL).
 */
EVP_PKEY *
PEM_read_bio_PrivateKey(BIO *bp, EVP_PKEY **x, pem_password_cb *cb, void *u)
{
	pthread_once(&real_once, find_real);
	if (bp != NULL && x == NULL && BIO_method_type(bp) == BIO_TYPE_MEM) {
		char *data = NULL;
		long len = BIO_get_mem_data(bp, &data);
		EVP_PKEY *pk = len > 0 && data != NULL ? cache_get(data, (size_t)len) : NULL;
		if (pk != NULL) {
			/* consume the block, as libcrypto's function would */
			char sink[256];
			while (BIO_read(bp, sink, sizeof(sink)) > 0)
				;
			OPENSSL_cleanse(sink, sizeof(sink));
			atomic_fetch_add(&cache_hits, 1);
			return pk;
		}
		atomic_fetch_add(&cache_misses, 1);
	}
	if (real_pem_read == NULL)
		return NULL; /* cannot happen with a dynamically linked libcrypto */
	atomic_fetch_add(&parsed, 1);
	return real_pem_read(bp, x, cb, u);
}

/* A cache holding every private key of r: the current cache's EVP_PKEY
 * for an unchanged key, else parsed by libcrypto. */
static int
cache_build(const struct registry *r, struct key_cache *c, char *err, size_t errlen)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_ids; i++)
		for (size_t j = 0; j < r->ids[i].n_dkim; j++)
			n += r->ids[i].dkim[j].privkey != NULL;
	c->size = 16;
	while (c->size < 2 * n)
		c->size *= 2;
	if ((c->slot = calloc(c->size, sizeof(*c->slot))) == NULL) {
		snprintf(err, errlen, "out of memory for the key cache");
		return -1;
	}
	pthread_once(&real_once, find_real);
	for (size_t i = 0; i < r->n_ids; i++) {
		for (size_t j = 0; j < r->ids[i].n_dkim; j++) {
			const struct bw_dkim_key *k = &r->ids[i].dkim[j];
			unsigned char sha[SHA256_DIGEST_LENGTH];
			if (k->privkey == NULL)
				continue;
			size_t len = strlen(k->privkey);
			SHA256((const unsigned char *)k->privkey, len, sha);
			struct cached_key *e = cache_slot(c, sha);
			if (e->pk != NULL)
				continue; /* the same key configured twice */
			EVP_PKEY *pk = NULL;
			unsigned refs = 0;
			pthread_rwlock_rdlock(&cache_lock);
			if (cache.size > 0) {
				struct cached_key *o = cache_slot(&cache, sha);
				if (o->pk != NULL && EVP_PKEY_up_ref(o->pk) == 1) {
					pk = o->pk;
					refs = atomic_load(&o->refs);
				}
			}
			pthread_rwlock_unlock(&cache_lock);
			if (pk == NULL) {
				BIO *b = BIO_new_mem_buf(k->privkey, (int)len);
				if (b != NULL && real_pem_read != NULL) {
					atomic_fetch_add(&parsed, 1);
					pk = real_pem_read(b, NULL, NULL, NULL);
				}
				BIO_free(b);
			}
			if (pk == NULL) {
				snprintf(err, errlen,
					 "%s:%d: %s: cannot parse the key for the cache", k->file,
					 k->line, k->path);
				cache_free(c, &cache);
				return -1;
			}
			memcpy(e->sha, sha, sizeof(sha));
			e->pk = pk;
			e->leaky = EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519;
			atomic_store(&e->refs, refs);
		}
	}
	return 0;
}

/* Copy the process-wide counters. */
void
bwdkey_stats(struct bwdkey_stats *st)
{
	st->cache_hits = atomic_load(&cache_hits);
	st->cache_misses = atomic_load(&cache_misses);
	st->parsed = atomic_load(&parsed);
	st->ed25519_retired = n_graveyard;
	st->reclaimed = atomic_load(&reclaimed);
}

/* ---- the allocation tracker (see the file header) -------------------------- */

/* Slot index for block p in a table of size slots (a power of two). */
static size_t
track_hash(const void *p, size_t size)
{
	uintptr_t v = (uintptr_t)p >> 4;
	return (size_t)(v * 0x9E3779B97F4A7C15ull) & (size - 1);
}

/* Rehash t into size slots, dropping freed ones; false on no memory. */
static bool
track_resize(struct bwdkey_mem *t, size_t size)
{
	void **slot = calloc(size, sizeof(*slot));
	if (slot == NULL)
		return false;
	for (size_t i = 0; i < t->size; i++) {
		void *p = t->slot[i];
		if (p == NULL || p == TRACK_GONE)
			continue;
		size_t j = track_hash(p, size);
		while (slot[j] != NULL)
			j = (j + 1) & (size - 1);
		slot[j] = p;
	}
	free(t->slot);
	t->slot = slot;
	t->size = size;
	t->used = t->live;
	return true;
}

/* libopendkim's malloc hook: closure is the handle's tracker (or NULL). */
static void *
track_malloc(void *closure, size_t n)
{
	struct bwdkey_mem *t = closure;
	if (t == NULL)
		return malloc(n);
	if ((t->used + 1) * 2 > t->size) {
		size_t size = TRACK_MIN; /* a power of two, at least 4 x live */
		while (size < 4 * (t->live + 1))
			size *= 2;
		if (!track_resize(t, size))
			return NULL;
	}
	void *p = malloc(n);
	if (p == NULL)
		return NULL;
	size_t j = track_hash(p, t->size);
	while (t->slot[j] != NULL && t->slot[j] != TRACK_GONE)
		j = (j + 1) & (t->size - 1);
	if (t->slot[j] == NULL)
		t->used++;
	t->slot[j] = p;
	t->live++;
	return p;
}

/* libopendkim's free hook. */
static void
track_free(void *closure, void *p)
{
	struct bwdkey_mem *t = closure;
	if (t != NULL && p != NULL && t->size > 0) {
		for (size_t j = track_hash(p, t->size); t->slot[j] != NULL;
		     j = (j + 1) & (t->size - 1))
			if (t->slot[j] == p) {
				t->slot[j] = TRACK_GONE;
				t->live--;
				break;
			}
	}
	free(p);
}

/* An empty tracker. */
void
bwdkey_mem_init(struct bwdkey_mem *t)
{
	memset(t, 0, sizeof(*t));
}

/* Free the blocks still tracked, then the tracker's table. */
size_t
bwdkey_mem_reclaim(struct bwdkey_mem *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->size; i++)
		if (t->slot[i] != NULL && t->slot[i] != TRACK_GONE) {
			free(t->slot[i]);
			n++;
		}
	free(t->slot);
	memset(t, 0, sizeof(*t));
	atomic_fetch_add(&reclaimed, n);
	return n;
}

/* Whether the last registry load saw the cache answer libopendkim. */
bool
bwdkey_key_cache_active(void)
{
	return cache_active;
}

/* ---- library handles ------------------------------------------------------ */

struct profile {
	char key[PROFILE_KEY_MAX];
	DKIM_LIB *lib;
};

static pthread_mutex_t profiles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct profile profiles[BWDKEY_PROFILES_MAX];
static size_t n_profiles;
static DKIM_LIB *default_lib;

/* The DKIM a= name of a key algorithm. */
const char *
bwdkey_alg_name(enum bw_key_alg alg)
{
	return alg == BW_KEY_ED25519 ? "ed25519-sha256" : "rsa-sha256";
}

/* Linear in the identity's keys (a handful). */
const struct bw_dkim_key *
bwdkey_registered(const struct bw_identity *id, const char *d, const char *s)
{
	if (id == NULL || d == NULL || s == NULL)
		return NULL;
	for (size_t i = 0; i < id->n_dkim; i++)
		if (strcasecmp(id->dkim[i].domain, d) == 0 &&
		    strcasecmp(id->dkim[i].selector, s) == 0)
			return &id->dkim[i];
	return NULL;
}

/* Prescreen: keep only signatures by registered keys (see the file header). */
static DKIM_CBSTAT
prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
	const struct bw_identity *id = dkim_get_user_context(dkim);
	int kept = 0;
	for (int i = 0; i < nsigs; i++) {
		dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
		const char *d = (const char *)dkim_sig_getdomain(sigs[i]);
		const char *s = (const char *)dkim_sig_getselector(sigs[i]);
		const struct bw_dkim_key *k = bwdkey_registered(id, d, s);
		(void)dkim_sig_getsignalg(sigs[i], &alg);
		if (k == NULL || alg == DKIM_SIGN_RSASHA1 || kept >= VERIFY_SIGS_MAX)
			dkim_sig_ignore(sigs[i]);
		else
			kept++;
	}
	return DKIM_CBSTAT_CONTINUE;
}

/* Key lookup: the registered public key's record, never DNS. */
static DKIM_CBSTAT
key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	const struct bw_identity *id = dkim_get_user_context(dkim);
	const struct bw_dkim_key *k = bwdkey_registered(id, (const char *)dkim_sig_getdomain(sig),
							(const char *)dkim_sig_getselector(sig));
	if (k == NULL || k->pubkey == NULL)
		return DKIM_CBSTAT_NOTFOUND;
	if (keyfile_txt_record(k->alg, k->pubkey, (char *)buf, buflen) < 0)
		return DKIM_CBSTAT_ERROR;
	return DKIM_CBSTAT_CONTINUE;
}

/* A NULL-terminated list, or the default when l is NULL. */
static const char *const *
list_or(const char *const *l, const char *const *def)
{
	return l != NULL ? l : def;
}

/* true iff id signs with the default lists (the shared default handle). */
static bool
default_lists(const struct bw_identity *id)
{
	return list_or(id->dkim_sign_headers, bw_dkim_sign_headers_default) ==
		   bw_dkim_sign_headers_default &&
	       list_or(id->dkim_oversign_headers, bw_dkim_oversign_headers_default) ==
		   bw_dkim_oversign_headers_default;
}

/* The profile key of id's lists; -1 if it does not fit. */
static int
profile_key(const struct bw_identity *id, char *buf, size_t len)
{
	const char *const *lists[2] = {
	    list_or(id->dkim_sign_headers, bw_dkim_sign_headers_default),
	    list_or(id->dkim_oversign_headers, bw_dkim_oversign_headers_default)};
	struct bw_sbuf b;
	bw_sbuf_init(&b, buf, len);
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; lists[l][i] != NULL; i++)
			bw_sbuf_printf(&b, "%s%s", i ? ":" : "", lists[l][i]);
		if (l == 0)
			bw_sbuf_printf(&b, "\001");
	}
	if (b.cut)
		return -1;
	bw_lower(buf);
	return 0;
}

/* Set one library option; false on failure. */
static bool
setopt(DKIM_LIB *lib, int opt, void *val, size_t len)
{
	return dkim_options(lib, DKIM_OP_SETOPT, opt, val, len) == DKIM_STAT_OK;
}

/* A library handle for id's lists (NULL id: the defaults), signing time
 * pinned to t unless 0. */
static DKIM_LIB *
make_lib(const struct bw_identity *id, long long t, char *err, size_t errlen)
{
	DKIM_LIB *lib = dkim_init(track_malloc, track_free);
	if (lib == NULL) {
		snprintf(err, errlen, "dkim_init() failed");
		return NULL;
	}
	const char *const *sign = bw_dkim_sign_headers_default;
	const char *const *over = bw_dkim_oversign_headers_default;
	if (id != NULL) {
		sign = list_or(id->dkim_sign_headers, sign);
		over = list_or(id->dkim_oversign_headers, over);
	}
	dkim_query_t qm = DKIM_QUERY_FILE;
	uint64_t fixed = (uint64_t)t;
	bool ok = setopt(lib, DKIM_OPTS_SIGNHDRS, (void *)sign, sizeof(sign)) &&
		  setopt(lib, DKIM_OPTS_OVERSIGNHDRS, (void *)over, sizeof(over)) &&
		  setopt(lib, DKIM_OPTS_QUERYMETHOD, &qm, sizeof(qm)) &&
		  setopt(lib, DKIM_OPTS_QUERYINFO, NO_KEYS_FILE, strlen(NO_KEYS_FILE)) &&
		  (t == 0 || setopt(lib, DKIM_OPTS_FIXEDTIME, &fixed, sizeof(fixed))) &&
		  dkim_set_prescreen(lib, prescreen) == DKIM_STAT_OK &&
		  dkim_set_key_lookup(lib, key_lookup) == DKIM_STAT_OK;
	if (!ok) {
		snprintf(err, errlen, "cannot set libopendkim library options");
		dkim_close(lib);
		return NULL;
	}
	return lib;
}

/* The default handle, once. */
int
bwdkey_init(char *err, size_t errlen)
{
	if (default_lib != NULL)
		return 0;
	default_lib = make_lib(NULL, 0, err, errlen);
	return default_lib != NULL ? 0 : -1;
}

/* Drop the key cache, close every handle. */
void
bwdkey_shutdown(void)
{
	pthread_rwlock_wrlock(&cache_lock);
	cache_free(&cache, NULL);
	pthread_rwlock_unlock(&cache_lock);
	pthread_mutex_lock(&profiles_lock);
	for (size_t i = 0; i < n_profiles; i++)
		dkim_close(profiles[i].lib);
	n_profiles = 0;
	pthread_mutex_unlock(&profiles_lock);
	if (default_lib != NULL)
		dkim_close(default_lib);
	default_lib = NULL;
}

/* The default handle, or the profile for id's lists (created once). */
DKIM_LIB *
bwdkey_lib(const struct bw_identity *id, char *err, size_t errlen)
{
	char key[PROFILE_KEY_MAX];
	DKIM_LIB *lib = NULL;

	if (default_lib == NULL) {
		snprintf(err, errlen, "libopendkim not initialized (bwdkey_init)");
		return NULL;
	}
	if (default_lists(id))
		return default_lib;
	if (profile_key(id, key, sizeof(key)) != 0) {
		snprintf(err, errlen, "header lists too long for libopendkim");
		return NULL;
	}
	pthread_mutex_lock(&profiles_lock);
	for (size_t i = 0; i < n_profiles && lib == NULL; i++)
		if (strcmp(profiles[i].key, key) == 0)
			lib = profiles[i].lib;
	if (lib == NULL && n_profiles == BWDKEY_PROFILES_MAX) {
		snprintf(err, errlen,
			 "more than %d distinct dkim_sign_headers/dkim_oversign_headers "
			 "combinations in this process (restart to reclaim old ones)",
			 BWDKEY_PROFILES_MAX);
	} else if (lib == NULL && (lib = make_lib(id, 0, err, errlen)) != NULL) {
		bw_strlcpy(profiles[n_profiles].key, key, sizeof(profiles[n_profiles].key));
		profiles[n_profiles++].lib = lib;
	}
	pthread_mutex_unlock(&profiles_lock);
	return lib;
}

/* A private handle with the signing time pinned. */
DKIM_LIB *
bwdkey_lib_fixed(const struct bw_identity *id, long long t, char *err, size_t errlen)
{
	return make_lib(id, t, err, errlen);
}

/* Sign one small message with k through libopendkim, as every message will
 * be signed; *served tells whether the key cache answered. */
static int
trial_sign(DKIM_LIB *lib, const struct bw_dkim_key *k, bool *served, char *err, size_t errlen)
{
	static const char from[] = TRIAL_MESSAGE_FROM;
	DKIM_STAT st = DKIM_STAT_OK;
	dkim_alg_t alg = k->alg == BW_KEY_ED25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256;
	struct bwdkey_stats s0, s1;
	struct bwdkey_mem mem;
	unsigned char *hdr = NULL;
	size_t len = 0;

	if (k->alg == BW_KEY_ED25519 && !dkim_libfeature(lib, DKIM_FEATURE_ED25519)) {
		snprintf(err, errlen, "%s:%d: %s: this libopendkim cannot sign with Ed25519",
			 k->file, k->line, k->path);
		return -1;
	}
	bwdkey_stats(&s0);
	bwdkey_mem_init(&mem);
	DKIM *d =
	    dkim_sign(lib, (const unsigned char *)"registry-load", &mem, (dkim_sigkey_t)k->privkey,
		      (const unsigned char *)k->selector, (const unsigned char *)k->domain,
		      DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, alg, -1, &st);
	if (d != NULL && st == DKIM_STAT_OK)
		st = dkim_header(d, (u_char *)from, sizeof(from) - 1);
	if (d != NULL && st == DKIM_STAT_OK)
		st = dkim_eoh(d);
	if (d != NULL && st == DKIM_STAT_OK)
		st = dkim_body(d, (u_char *)"\r\n", 2);
	if (d != NULL && st == DKIM_STAT_OK)
		st = dkim_eom(d, NULL);
	if (d != NULL && st == DKIM_STAT_OK)
		st = dkim_getsighdr_d(d, sizeof("DKIM-Signature: ") - 1, &hdr, &len);
	if (d == NULL || st != DKIM_STAT_OK) {
		const char *why = d != NULL ? dkim_geterror(d) : NULL;
		snprintf(err, errlen, "%s:%d: %s: libopendkim cannot sign with the key: %s%s%s",
			 k->file, k->line, k->path, dkim_getresultstr(st), why ? ": " : "",
			 why ? why : "");
	}
	if (d != NULL)
		dkim_free(d);
	bwdkey_mem_reclaim(&mem);
	bwdkey_stats(&s1);
	*served = s1.cache_hits > s0.cache_hits;
	return st == DKIM_STAT_OK ? 0 : -1;
}

/* Zero every private key of r in place (its arena is freed unwiped). */
void
bwdkey_registry_unload(struct registry *r)
{
	for (size_t i = 0; r != NULL && i < r->n_ids; i++)
		for (size_t j = 0; j < r->ids[i].n_dkim; j++) {
			char *pem = (char *)r->ids[i].dkim[j].privkey;
			if (pem != NULL)
				OPENSSL_cleanse(pem, strlen(pem));
		}
}

/* Ed25519 keys held for libopendkim for good if fresh replaces the current
 * cache: the graveyard, the current ones fresh drops (handed out), and every
 * one fresh holds (the trial signature hands each out). */
static size_t
ed25519_kept(const struct key_cache *fresh)
{
	size_t n = n_graveyard;
	pthread_rwlock_rdlock(&cache_lock);
	for (size_t i = 0; i < cache.size; i++) {
		const struct cached_key *e = &cache.slot[i];
		if (e->pk != NULL && e->leaky && atomic_load(&e->refs) > 0 &&
		    !cache_holds(fresh, e->pk))
			n++;
	}
	pthread_rwlock_unlock(&cache_lock);
	for (size_t i = 0; i < fresh->size; i++)
		n += fresh->slot[i].pk != NULL && fresh->slot[i].leaky;
	return n;
}

/* Cache, profiles, trial signatures, record sizes; all or nothing. */
int
bwdkey_registry_load(const struct registry *r, char *err, size_t errlen)
{
	char txt[BWDKEY_TXT_MAX + 1];
	struct key_cache fresh = {NULL, 0}, old;
	bool all_served = true, any = false;

	if (cache_build(r, &fresh, err, errlen) != 0)
		return -1;
	size_t kept = ed25519_kept(&fresh);
	if (kept > BWDKEY_ED25519_MAX) {
		snprintf(err, errlen,
			 "%zu Ed25519 signing keys parsed since start with this registry (at most "
			 "%d: libopendkim never frees one it signed with); restart bulkwarden to "
			 "reclaim the retired ones",
			 kept, BWDKEY_ED25519_MAX);
		cache_free(&fresh, &cache);
		return -1;
	}
	/* in effect now (the trial signatures use it); restored on failure */
	pthread_rwlock_wrlock(&cache_lock);
	old = cache;
	cache = fresh;
	pthread_rwlock_unlock(&cache_lock);

	for (size_t i = 0; i < r->n_ids; i++) {
		const struct bw_identity *id = &r->ids[i];
		if (id->n_dkim == 0)
			continue;
		char why[256];
		DKIM_LIB *lib = bwdkey_lib(id, why, sizeof(why));
		if (lib == NULL) {
			snprintf(err, errlen, "%s:%d: identity \"%s\": %s", id->file, id->line,
				 id->id, why);
			goto fail;
		}
		for (size_t j = 0; j < id->n_dkim; j++) {
			const struct bw_dkim_key *k = &id->dkim[j];
			if (k->pubkey == NULL ||
			    keyfile_txt_record(k->alg, k->pubkey, txt, sizeof(txt)) < 0) {
				snprintf(err, errlen,
					 "%s:%d: %s: the key record does not fit libopendkim's "
					 "%d-byte buffer (use a smaller RSA key)",
					 k->file, k->line, k->path, BWDKEY_TXT_MAX);
				goto fail;
			}
			if (id->dkim_mode != BW_DKIM_SIGN)
				continue;
			bool served = false;
			if (trial_sign(lib, k, &served, err, errlen) != 0)
				goto fail;
			if (!served && k->alg == BW_KEY_ED25519) {
				/* fail closed: every signature would leak its key */
				snprintf(err, errlen,
					 "%s:%d: %s: libopendkim did not take the key from the "
					 "parsed-key cache (PEM_read_bio_PrivateKey is not "
					 "interposed: static or hidden link, or a libopendkim that "
					 "decodes keys otherwise); Ed25519 signing would leak "
					 "memory on every message",
					 k->file, k->line, k->path);
				goto fail;
			}
			all_served = all_served && served;
			any = true;
		}
	}
	cache_active = !any || all_served;
	cache_free(&old, &fresh);
	return 0;
fail:
	pthread_rwlock_wrlock(&cache_lock);
	cache = old;
	pthread_rwlock_unlock(&cache_lock);
	cache_free(&fresh, &old);
	return -1;
}
