/*
 * keyfile.h - checks on DKIM key files before a snapshot may use them:
 * regular file, permissions, PEM parse, algorithm and size (SPEC §2).
 *
 * Sign mode wants the identity's private key (PKCS#1 "RSA PRIVATE KEY",
 * PKCS#8 "PRIVATE KEY"; RSA or Ed25519 as `openssl genpkey` writes them),
 * readable by the owner only. Verify mode wants the vendor's public key
 * ("PUBLIC KEY" SubjectPublicKeyInfo or PKCS#1 "RSA PUBLIC KEY"); its
 * permissions are not restricted beyond refusing a world-writable file.
 *
 * keyfile_load() is the loader's entry: the same single read that is
 * checked also yields the key material the snapshot keeps, so a key file is
 * read once per registry load and never per message.
 */
#ifndef BW_KEYFILE_H
#define BW_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/registry.h"

struct arena;

#define KEYFILE_MAX (64 * 1024) /* larger than any PEM key we accept */

struct keyfile_info {
	enum bw_key_alg alg;
	int bits;		       /* RSA modulus bits; 256 for Ed25519 */
	bool is_public;		       /* the file holds a public key */
	unsigned char spki_sha256[32]; /* SHA-256 of the DER public key */
};

/* Open and parse the key at path. want_private: sign mode (private key,
 * mode & 077 refused); otherwise verify mode (public key). Returns 0 and
 * fills info, or -1 with a one-line reason in err. */
int keyfile_inspect(const char *path, bool want_private, struct keyfile_info *info, char *err,
		    size_t errlen);

/* Key material kept in the registry snapshot (arena copies). */
struct keyfile_material {
	/* The private key as NUL-terminated PKCS#8 PEM (what dkim_sign()
	 * takes), re-encoded from the parsed key. NULL for a public key. */
	const char *privkey;
	/* The DNS p= value: base64 SubjectPublicKeyInfo DER for RSA
	 * (RFC 6376), base64 of the raw 32-byte key for Ed25519 (RFC 8463). */
	const char *pubkey;
};

/* keyfile_inspect() that also copies the key material into arena a. */
int keyfile_load(const char *path, bool want_private, struct arena *a, struct keyfile_info *info,
		 struct keyfile_material *mat, char *err, size_t errlen);

/* The DKIM key record "v=DKIM1; k=rsa; p=..." for a p= value into buf.
 * Returns its length, or -1 if it does not fit. */
int keyfile_txt_record(enum bw_key_alg alg, const char *pubkey, char *buf, size_t len);

/* keyfile_inspect() reporting only the algorithm and size. */
int keyfile_check(const char *path, bool want_private, enum bw_key_alg *alg, int *bits, char *err,
		  size_t errlen);

#endif
