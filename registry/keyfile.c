/*
 * keyfile.c - DKIM key file checks for the config loader (OpenSSL 3).
 *
 * The file is opened once and every check runs on that descriptor (fstat,
 * then read), so the file checked is the file parsed. A private key whose
 * mode grants group or other any access is refused, as OpenARC's
 * arcf_securefile does: a key others can read is a key others can sign
 * with. The PEM label is looked at first so the message says what the file
 * really holds (a public key given in sign mode is not a "readable private
 * key"). Encrypted PEM is refused without prompting (the password
 * callback always fails): the milter runs unattended.
 *
 * Memory: the file is read into a heap buffer of at most KEYFILE_MAX bytes,
 * wiped with OPENSSL_cleanse() and freed before returning; the EVP_PKEY is
 * freed too. keyfile_load() keeps only what the signer needs, re-encoded
 * from the parsed key (never the file's bytes, which may hold other PEM
 * blocks) and copied into the caller's arena: the private key in the form
 * libopendkim's dkim_sign() takes and the DNS p= value. Intermediate
 * encodings are wiped. The OpenSSL error queue is cleared on exit.
 * Input: key files written by operators or received from vendors; sizes are
 * bounded and parsing is left to OpenSSL's PEM/DER decoders.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "base/arena.h"
#include "base/util.h"
#include "registry/keyfile.h"

#define PEM_LABEL_MAX 64
#define ED25519_RAW 32 /* bytes of an Ed25519 public key */

enum pem_kind { PEM_NONE, PEM_PRIVATE, PEM_ENCRYPTED, PEM_PUBLIC, PEM_RSA_PUBLIC, PEM_OTHER };

static void keyerr(char *err, size_t errlen, const char *fmt, ...) BW_PRINTF(3, 4);

/* Format a reason into err (truncation is harmless: the message is advisory). */
static void
keyerr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Never hand out a passphrase: encrypted keys fail instead of prompting. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Classify the first PEM block of the NUL-terminated buffer by its label. */
static enum pem_kind
pem_first_kind(const char *buf, char *label, size_t labellen)
{
	const char *b = strstr(buf, "-----BEGIN ");
	label[0] = '\0';
	if (b == NULL)
		return PEM_NONE;
	b += strlen("-----BEGIN ");
	const char *e = strstr(b, "-----");
	if (e == NULL || (size_t)(e - b) >= labellen)
		return PEM_NONE;
	memcpy(label, b, (size_t)(e - b));
	label[e - b] = '\0';

	if (strcmp(label, "ENCRYPTED PRIVATE KEY") == 0)
		return PEM_ENCRYPTED;
	if (strcmp(label, "PRIVATE KEY") == 0)
		return PEM_PRIVATE;
	if (strcmp(label, "RSA PRIVATE KEY") == 0) {
		/* legacy PEM encryption: "Proc-Type: 4,ENCRYPTED" inside the block */
		const char *end = strstr(e, "-----END ");
		const char *pt = strstr(e, "Proc-Type:");
		if (pt != NULL && (end == NULL || pt < end) && strstr(pt, "ENCRYPTED") != NULL &&
		    (end == NULL || strstr(pt, "ENCRYPTED") < end))
			return PEM_ENCRYPTED;
		return PEM_PRIVATE;
	}
	if (strcmp(label, "PUBLIC KEY") == 0)
		return PEM_PUBLIC;
	if (strcmp(label, "RSA PUBLIC KEY") == 0)
		return PEM_RSA_PUBLIC;
	return PEM_OTHER;
}

/* Read the whole regular file behind fd (at most KEYFILE_MAX bytes) into a
 * NUL-terminated heap buffer. */
static char *
read_bounded(int fd, size_t *len_out, char *err, size_t errlen)
{
	char *buf = xmalloc(KEYFILE_MAX + 1);
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, KEYFILE_MAX + 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			keyerr(err, errlen, "cannot read: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KEYFILE_MAX) {
			keyerr(err, errlen, "larger than %d bytes: not a PEM key", KEYFILE_MAX);
			goto fail;
		}
	}
	buf[len] = '\0';
	*len_out = len;
	return buf;
fail:
	OPENSSL_cleanse(buf, KEYFILE_MAX + 1);
	free(buf);
	return NULL;
}

/* Decode the key of the given kind from the buffer; NULL on failure. */
static EVP_PKEY *
decode(const char *buf, size_t len, enum pem_kind kind)
{
	EVP_PKEY *pk = NULL;
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL)
		return NULL;
	if (kind == PEM_PRIVATE) {
		pk = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	} else if (kind == PEM_PUBLIC) {
		pk = PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
	} else if (kind == PEM_RSA_PUBLIC) {
		OSSL_DECODER_CTX *dc = OSSL_DECODER_CTX_new_for_pkey(
		    &pk, "PEM", "type-specific", "RSA", EVP_PKEY_PUBLIC_KEY, NULL, NULL);
		if (dc != NULL) {
			if (!OSSL_DECODER_from_bio(dc, bio)) {
				EVP_PKEY_free(pk);
				pk = NULL;
			}
			OSSL_DECODER_CTX_free(dc);
		}
	}
	BIO_free(bio);
	return pk;
}

/* Algorithm, size and public-key fingerprint of a decoded key. */
static int
describe(EVP_PKEY *pk, struct keyfile_info *info, char *err, size_t errlen)
{
	int id = EVP_PKEY_get_base_id(pk);
	if (id == EVP_PKEY_RSA) {
		info->alg = BW_KEY_RSA;
		info->bits = EVP_PKEY_get_bits(pk);
	} else if (id == EVP_PKEY_ED25519) {
		info->alg = BW_KEY_ED25519;
		info->bits = 256;
	} else {
		const char *sn = OBJ_nid2sn(id);
		keyerr(err, errlen, "unsupported key type %s (DKIM keys are RSA or Ed25519)",
		       sn ? sn : "unknown");
		return -1;
	}
	unsigned char *der = NULL;
	int dlen = i2d_PUBKEY(pk, &der);
	if (dlen <= 0) {
		keyerr(err, errlen, "cannot encode the public key");
		return -1;
	}
	SHA256(der, (size_t)dlen, info->spki_sha256);
	OPENSSL_free(der);
	return 0;
}

/* Base64 of n bytes as an arena string. */
static const char *
b64_arena(struct arena *a, const unsigned char *in, size_t n)
{
	char *out = arena_alloc(a, 4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return out;
}

/* The key material the snapshot keeps (struct keyfile_material): the DNS
 * p= value and, for a private key, its PKCS#8 PEM re-encoding. */
static int
material(EVP_PKEY *pk, bool want_private, struct arena *a, struct keyfile_material *mat,
	 char *err, size_t errlen)
{
	unsigned char raw[ED25519_RAW], *der = NULL;
	size_t rawlen = sizeof(raw);
	int dlen;

	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
		if (EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) != 1 || rawlen != ED25519_RAW) {
			keyerr(err, errlen, "cannot extract the Ed25519 public key");
			return -1;
		}
		mat->pubkey = b64_arena(a, raw, rawlen);
	} else {
		if ((dlen = i2d_PUBKEY(pk, &der)) <= 0) {
			keyerr(err, errlen, "cannot encode the public key");
			return -1;
		}
		mat->pubkey = b64_arena(a, der, (size_t)dlen);
		OPENSSL_free(der);
	}
	if (!want_private)
		return 0;
	BIO *bio = BIO_new(BIO_s_secmem()); /* wiped when freed */
	char *pem = NULL;
	long plen;
	if (bio == NULL || !PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) ||
	    (plen = BIO_get_mem_data(bio, &pem)) <= 0) {
		BIO_free(bio);
		keyerr(err, errlen, "cannot encode the private key");
		return -1;
	}
	mat->privkey = arena_strndup(a, pem, (size_t)plen);
	BIO_free(bio);
	return 0;
}

/* Open, check and parse one key file; with a and mat non-NULL also copy
 * its material into the arena. */
static int
inspect(const char *path, bool want_private, struct keyfile_info *info, struct arena *a,
	struct keyfile_material *mat, char *err, size_t errlen)
{
	int rc = -1;
	char *buf = NULL;
	size_t len = 0;
	EVP_PKEY *pk = NULL;
	char label[PEM_LABEL_MAX];
	struct stat st;

	memset(info, 0, sizeof(*info));
	/* O_NONBLOCK: a FIFO planted at the path must not hang the loader */
	int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		keyerr(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		keyerr(err, errlen, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		keyerr(err, errlen, "not a regular file");
		goto out;
	}
	if (!want_private && (st.st_mode & 002) != 0) {
		keyerr(err, errlen, "world-writable (mode %04o): anyone could replace the key",
		       (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((buf = read_bounded(fd, &len, err, errlen)) == NULL)
		goto out;

	/* what the file holds decides which message is true */
	enum pem_kind kind = pem_first_kind(buf, label, sizeof(label));
	switch (kind) {
	case PEM_NONE:
		keyerr(err, errlen, "no PEM key found (expected \"-----BEGIN %s-----\")",
		       want_private ? "PRIVATE KEY" : "PUBLIC KEY");
		goto out;
	case PEM_OTHER:
		keyerr(err, errlen, "PEM block \"%s\" is not a key", label);
		goto out;
	case PEM_ENCRYPTED:
	case PEM_PRIVATE:
		if (!want_private) {
			keyerr(err, errlen,
			       "holds a private key; dkim_mode \"verify\" takes the signer's "
			       "public key");
			goto out;
		}
		if ((st.st_mode & 077) != 0) {
			keyerr(
			    err, errlen,
			    "private key is accessible by group/other (mode %04o); chmod 0600 or "
			    "0400",
			    (unsigned)(st.st_mode & 07777));
			goto out;
		}
		if (kind == PEM_ENCRYPTED) {
			keyerr(err, errlen,
			       "encrypted private key: store it unencrypted, mode 0600");
			goto out;
		}
		break;
	case PEM_PUBLIC:
	case PEM_RSA_PUBLIC:
		if (want_private) {
			keyerr(err, errlen,
			       "holds a public key; dkim_mode \"sign\" needs the private key");
			goto out;
		}
		break;
	}
	if ((pk = decode(buf, len, kind)) == NULL) {
		unsigned long e = ERR_peek_last_error();
		const char *why = e ? ERR_reason_error_string(e) : NULL;
		keyerr(err, errlen, "cannot parse the \"%s\" PEM block: %s", label,
		       why ? why : "decoder failed");
		goto out;
	}
	if (describe(pk, info, err, errlen) != 0)
		goto out;
	info->is_public = !want_private;
	if (mat != NULL && material(pk, want_private, a, mat, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(pk);
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	close(fd);
	ERR_clear_error();
	return rc;
}

int
keyfile_inspect(const char *path, bool want_private, struct keyfile_info *info, char *err,
		size_t errlen)
{
	return inspect(path, want_private, info, NULL, NULL, err, errlen);
}

int
keyfile_load(const char *path, bool want_private, struct arena *a, struct keyfile_info *info,
	     struct keyfile_material *mat, char *err, size_t errlen)
{
	memset(mat, 0, sizeof(*mat));
	return inspect(path, want_private, info, a, mat, err, errlen);
}

int
keyfile_txt_record(enum bw_key_alg alg, const char *pubkey, char *buf, size_t len)
{
	int n = snprintf(buf, len, "v=DKIM1; k=%s; p=%s", alg == BW_KEY_RSA ? "rsa" : "ed25519",
			 pubkey);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

int
keyfile_check(const char *path, bool want_private, enum bw_key_alg *alg, int *bits, char *err,
	      size_t errlen)
{
	struct keyfile_info info;
	if (keyfile_inspect(path, want_private, &info, err, errlen) != 0)
		return -1;
	if (alg != NULL)
		*alg = info.alg;
	if (bits != NULL)
		*bits = info.bits;
	return 0;
}
