/*
 * keyfile.h - checks on DKIM key files before a snapshot may use them:
 * regular file, permissions, PEM parse, algorithm and size (SPEC §2).
 *
 * Sign mode wants the identity's private key (PKCS#1 "RSA PRIVATE KEY",
 * PKCS#8 "PRIVATE KEY"; RSA or Ed25519 as `openssl genpkey` writes them),
 * readable by the owner only. Verify mode wants the vendor's public key
 * ("PUBLIC KEY" SubjectPublicKeyInfo or PKCS#1 "RSA PUBLIC KEY"); its
 * permissions are not restricted beyond refusing a world-writable file.
 */
#ifndef BW_KEYFILE_H
#define BW_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/registry.h"

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

/* keyfile_inspect() reporting only the algorithm and size. */
int keyfile_check(const char *path, bool want_private, enum bw_key_alg *alg, int *bits, char *err,
		  size_t errlen);

#endif
