/*
 * bwdkey.h - the registered DKIM keys as libopendkim sees them: the
 * process-wide library handles (DKIM_LIB), the per-registry preparation
 * that proves every key usable before a snapshot is published, and the
 * verifier's key source (the registered public key, never DNS).
 *
 * Lifecycle:
 *   bwdkey_init()            once at startup, before any thread signs
 *   bwdkey_registry_load(r)  after conf_load(), before the milter publishes
 *                            the runtime snapshot (milter/runtime.c)
 *                            (SIGHUP too; a failure refuses the snapshot)
 *   bwdkey_shutdown()        at exit, after the last message
 *
 * Key files are read once per registry load by the config loader
 * (keyfile_load(): struct bw_dkim_key.privkey / .pubkey); nothing here or
 * in bwdkim.c opens a file per message, and the private keys are parsed
 * once per load too: this module provides PEM_read_bio_PrivateKey() so
 * libopendkim's per-message decode is answered from a cache of parsed keys
 * (which also stops libopendkim 2.11.0~beta2 leaking every Ed25519 key it
 * decodes; see bwdkey.c). Link bwdkey.o into the executable (libdkim.a does),
 * exported (no --exclude-libs, no hidden visibility), and libopendkim
 * dynamically, or the cache is bypassed. bwdkey_registry_load() detects
 * that with its trial signatures: a bypassed Ed25519 signing key refuses the
 * load (it would leak per message), a bypassed RSA key only makes
 * bwdkey_key_cache_active() false (the milter logs it at every load).
 * tests/unit/test_mlfi checks both: signing through the callbacks parses
 * nothing, and the same test linked with --exclude-libs sees the refusal. Since keyfile.c calls
 * that function too, every program linking keyfile.o from libbw.a gets
 * bwdkey.o (and needs libopendkim); with no cache loaded it only passes
 * calls through to libcrypto.
 *
 * Library options that libopendkim keeps per DKIM_LIB (the signed and the
 * oversigned header lists) give one "profile" handle per distinct list
 * pair: the defaults' handle serves every identity that does not add
 * names, others are created at registry load, kept until shutdown and
 * capped at BWDKEY_PROFILES_MAX per process.
 */
#ifndef BW_BWDKEY_H
#define BW_BWDKEY_H

#include <stdbool.h>
#include <stddef.h>

#include <opendkim/dkim.h>

#include "registry/registry.h"

#define BWDKEY_PROFILES_MAX 32 /* distinct header-list pairs per process */
#define BWDKEY_TXT_MAX 1024    /* libopendkim's key record buffer (BUFRSZ) */
/* Ed25519 signing keys parsed per process, retired and current: libopendkim
 * 2.11.0~beta2 never frees one it signed with, so each costs memory until
 * exit; a reload past this is refused (restart to reclaim). */
#define BWDKEY_ED25519_MAX 256

/* Create the default library handle. 0, or -1 with a reason in err. */
int bwdkey_init(char *err, size_t errlen);
/* Close every library handle (no message may be in flight). */
void bwdkey_shutdown(void);

/* Prepare snapshot r for signing and verifying: the parsed-key cache for
 * its private keys (replacing the previous snapshot's), a profile handle
 * for every identity's header lists, one trial signature per private key
 * through libopendkim, each public key's record within libopendkim's
 * buffer. 0, or -1 with "file:line: ..." in err (the first problem; the
 * previous cache stays). Not concurrent with itself. */
int bwdkey_registry_load(const struct registry *r, char *err, size_t errlen);
/* Wipe snapshot r's private key bytes (struct bw_dkim_key.privkey); for
 * the runtime snapshot's last release, when no message pins it any more. The
 * cache's parsed keys are dropped by the next load or bwdkey_shutdown(). */
void bwdkey_registry_unload(struct registry *r);
/* false when the last bwdkey_registry_load() saw libopendkim bypass the
 * key cache (log it: keys are then decoded per message, and Ed25519
 * signing leaks with Debian's libopendkim). */
bool bwdkey_key_cache_active(void);
struct bwdkey_stats {
	unsigned long long cache_hits;	 /* keys libopendkim got from the cache */
	unsigned long long cache_misses; /* memory-BIO key reads it did not hold */
	unsigned long long parsed;	 /* keys libcrypto decoded through us (loads, misses) */
	unsigned long long ed25519_retired; /* retired Ed25519 keys kept (<= BWDKEY_ED25519_MAX) */
	unsigned long long reclaimed;	 /* blocks libopendkim left behind, freed */
};
/* Process-wide counters since start. */
void bwdkey_stats(struct bwdkey_stats *st);

/* Allocation tracker for one libopendkim handle: pass it as the memory
 * closure of dkim_sign()/dkim_verify() and call bwdkey_mem_reclaim() after
 * dkim_free(), which frees the blocks libopendkim did not (Ed25519's
 * signature buffer with 2.11.0~beta2) and returns how many. */
struct bwdkey_mem {
	void **slot; /* open-addressing set of live blocks */
	size_t size, used, live;
};
void bwdkey_mem_init(struct bwdkey_mem *t);
size_t bwdkey_mem_reclaim(struct bwdkey_mem *t);

/* The shared library handle for id's header lists (created on first use;
 * bwdkey_registry_load() normally did that). NULL with a reason in err. */
DKIM_LIB *bwdkey_lib(const struct bw_identity *id, char *err, size_t errlen);
/* A new handle like bwdkey_lib()'s with the signing time pinned to t
 * (DKIM_OPTS_FIXEDTIME is per library): for tests and replays; the caller
 * dkim_close()s it. NULL with a reason in err. */
DKIM_LIB *bwdkey_lib_fixed(const struct bw_identity *id, long long t, char *err, size_t errlen);

/* id's key with this d= and s= (DNS names: case-insensitive), or NULL. */
const struct bw_dkim_key *bwdkey_registered(const struct bw_identity *id, const char *d,
					    const char *s);
/* "rsa-sha256" or "ed25519-sha256". */
const char *bwdkey_alg_name(enum bw_key_alg alg);

#endif
