/*
 * suppress.h - the suppression list (SPEC §9): recipients an identity must
 * not mail again (a complaint, or an operator's `bulkwardenctl suppress`).
 *
 * Addresses are never stored. Each entry is the keyed hash
 *
 *   HMAC-SHA256(site key, "bulkwarden-suppress-v1" 0x00 identity 0x00 address)
 *
 * truncated to SUPPRESS_HASH_BYTES (16), over the canonical address
 * (suppress_canon: angle brackets and an "rfc822;" type dropped, the whole
 * address lowercased). The identity is inside the MAC, so one address
 * suppressed for two identities gives unrelated entries (no linking across
 * identities) and the milter needs one flat set of 16-byte keys for all of
 * them (base/keyset.h).
 *
 * Why 16 bytes is enough: the hash is only ever compared for equality
 * against hashes of addresses someone sends to. A false match needs two
 * different (identity, address) pairs to collide in 128 bits: with 10^7
 * entries and 10^12 lookups the chance is about 10^19 / 2^128 < 10^-19.
 * Preimage resistance does not rest on the length but on the key: without
 * it an address cannot be tested against the store at all; with it, a
 * guessed address is tested whatever the length.
 *
 * The site key: SUPPRESS_KEY_BYTES (32) random bytes in the file
 * SUPPRESS_KEY_FILE beside the SQLite database (the directory of
 * state.path), 0600, made at first use by whoever first suppresses an
 * address. It is kept out of the store on purpose: a copy of the store (a
 * backup, a Redis dump or replica) then holds only hashes nobody can test
 * guesses against. With state.backend = "redis" every relay of the fleet
 * must hold the same file (distribute it like the DKIM keys); the store
 * keeps a 16-byte check value of the key, so a relay with another key
 * refuses the list instead of silently matching nothing.
 */
#ifndef BW_SUPPRESS_H
#define BW_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/registry.h"

#define SUPPRESS_HASH_BYTES 16
#define SUPPRESS_HEX (2 * SUPPRESS_HASH_BYTES)
#define SUPPRESS_KEY_BYTES 32
#define SUPPRESS_KEY_FILE "suppress.key"
#define SUPPRESS_ADDR_MAX 320 /* 64 local + @ + 255 domain */
#define SUPPRESS_SHOW_HEX 16  /* hex digits audit records and listings show */

struct suppress_key {
	unsigned char k[SUPPRESS_KEY_BYTES];
};

/* Where the key file is for set (the directory of state.path). -1 when
 * the path does not fit. */
int suppress_key_path(const struct bw_settings *set, char *buf, size_t len);
/* Read the site key; with create, make it first when there is none (0600,
 * O_EXCL, written whole before it appears under its name; as root, given
 * to milter.user when the directory is that user's). The file must be a
 * regular file of exactly SUPPRESS_KEY_BYTES that group and other cannot
 * read, opened without following a symbolic link. Returns 0, 1 there is
 * no key (create false), -1 with err filled. */
int suppress_key_load(const struct bw_settings *set, bool create, struct suppress_key *key,
		      char *err, size_t errlen);
/* The canonical form of an address into out (SUPPRESS_ADDR_MAX + 1):
 * surrounding blanks, an "rfc822;" type and angle brackets removed,
 * lowercased. -1 when it is not a plain address (no single @, empty local
 * part or domain, controls, blanks inside, too long). */
int suppress_canon(const char *addr, char *out, size_t outlen);
/* The entry for (id, canonical address). 0, or -1 (crypto failure). */
int suppress_hash(const struct suppress_key *key, const char *id, const char *canon,
		  unsigned char out[SUPPRESS_HASH_BYTES]);
/* A MAC prepared for many hashes under one key (the milter's RCPT path):
 * the HMAC key schedule is done once, each hash starts from a copy of it.
 * Safe to use from several threads at once (it is only read). NULL when
 * it cannot be made. */
struct suppress_mac;
struct suppress_mac *suppress_mac_new(const struct suppress_key *key);
void suppress_mac_free(struct suppress_mac *m);
/* suppress_hash_addr() with a prepared MAC. */
int suppress_mac_addr(const struct suppress_mac *m, const char *id, const char *addr,
		      unsigned char out[SUPPRESS_HASH_BYTES]);
/* canon + hash in one: 0, -1 not an address, -2 crypto failure. */
int suppress_hash_addr(const struct suppress_key *key, const char *id, const char *addr,
		       unsigned char out[SUPPRESS_HASH_BYTES]);
/* The key's check value (an HMAC of a fixed label). */
int suppress_key_check(const struct suppress_key *key, unsigned char out[SUPPRESS_HASH_BYTES]);
/* Lowercase hex of the first n bytes of h (2n + 1 bytes of buf). */
char *suppress_hex(const unsigned char *h, size_t n, char *buf);
/* Parse SUPPRESS_HEX hex digits. */
bool suppress_unhex(const char *s, unsigned char out[SUPPRESS_HASH_BYTES]);
/* Does a complaint report's recipient look redacted by the provider
 * (RFC 6590: "redacted", runs of x or *, a bracketed placeholder)? */
bool suppress_redacted(const char *addr);

#endif
