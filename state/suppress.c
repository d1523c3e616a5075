/*
 * suppress.c - the suppression list's keyed hashes and its site key file
 * (suppress.h says what is hashed, why 16 bytes, and where the key lives).
 *
 * Key file. Opened O_NOFOLLOW|O_NOCTTY, then checked on the descriptor
 * (fstat: a regular file of exactly SUPPRESS_KEY_BYTES, no group or other
 * bits): the file checked is the file read. A new key is written to a
 * private temporary name (O_CREAT|O_EXCL|O_NOFOLLOW, 0600), synced, and
 * link(2)ed to its name, which fails if someone got there first: a reader
 * never sees a half-written key, and two processes making one at once end
 * with one key (the loser reads the winner's). As root the new file is
 * given (fchown on the descriptor) to milter.user when that user owns the
 * directory, as the database is (state_sqlite.c adopt_files).
 *
 * Memory: the key lives in the caller's struct; buffers holding it here are
 * wiped with OPENSSL_cleanse. Untrusted input: addresses from the command
 * line, from complaint reports and from RCPT TO (bounded, checked).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "state/suppress.h"
#include "base/util.h"

#define DOMAIN_SEP "bulkwarden-suppress-v1"
#define CHECK_LABEL "bulkwarden-suppress-key-check-v1"
#define KEY_PATH_MAX 4096

int
suppress_key_path(const struct bw_settings *set, char *buf, size_t len)
{
	char copy[KEY_PATH_MAX];
	const char *p = set->state_path ? set->state_path : "";
	if (p[0] == '\0' || bw_strlcpy(copy, p, sizeof(copy)) >= sizeof(copy))
		return -1;
	int n = snprintf(buf, len, "%s/%s", dirname(copy), SUPPRESS_KEY_FILE);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Read and check an open key file. */
static int
read_key(int fd, const char *path, struct suppress_key *key, char *err, size_t errlen)
{
	struct stat st;
	unsigned char buf[SUPPRESS_KEY_BYTES + 1];
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "suppression key %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "suppression key %s is not a regular file", path);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen,
			 "suppression key %s is readable by group or other (mode %03o): refused, "
			 "chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
		return -1;
	}
	if (st.st_size != SUPPRESS_KEY_BYTES) {
		snprintf(err, errlen, "suppression key %s is %lld bytes, not %d", path,
			 (long long)st.st_size, SUPPRESS_KEY_BYTES);
		return -1;
	}
	size_t got = 0;
	while (got < sizeof(buf)) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got != SUPPRESS_KEY_BYTES) {
		OPENSSL_cleanse(buf, sizeof(buf));
		snprintf(err, errlen, "suppression key %s: short read", path);
		return -1;
	}
	memcpy(key->k, buf, SUPPRESS_KEY_BYTES);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

/* Open the key file without following a link: fd, or -1 (errno). */
static int
open_key(const char *path)
{
	return open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
}

/* As root, give the new file to milter.user when it owns the directory. */
static void
adopt(int fd, const char *path, const char *user)
{
	char copy[KEY_PATH_MAX];
	struct stat d;
	struct passwd *pw;
	if (geteuid() != 0 || user == NULL || user[0] == '\0' || (pw = getpwnam(user)) == NULL)
		return;
	bw_strlcpy(copy, path, sizeof(copy));
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	if (fstat(dfd, &d) == 0 && d.st_uid == pw->pw_uid &&
	    fchown(fd, pw->pw_uid, pw->pw_gid) != 0)
		diag(LOG_ERR, "chown %s to %s: %s", path, user, strerror(errno));
	close(dfd);
}

/* Make a new key under path; 0 made or someone else made one, -1. */
static int
make_key(const struct bw_settings *set, const char *path, char *err, size_t errlen)
{
	char tmp[KEY_PATH_MAX + 32], rnd[17];
	unsigned char k[SUPPRESS_KEY_BYTES];
	if (bw_random_hex(rnd, 8) != 0 ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.new-%s", path, rnd) >= sizeof(tmp)) {
		snprintf(err, errlen, "suppression key %s: cannot name a temporary file", path);
		return -1;
	}
	size_t got = 0;
	while (got < sizeof(k)) {
		ssize_t r = getrandom(k + got, sizeof(k) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "suppression key: getrandom: %s", strerror(errno));
			return -1;
		}
		got += (size_t)r;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		OPENSSL_cleanse(k, sizeof(k));
		snprintf(err, errlen, "cannot create suppression key %s: %s", path,
			 strerror(errno));
		return -1;
	}
	bool ok = write(fd, k, sizeof(k)) == (ssize_t)sizeof(k) && fsync(fd) == 0;
	OPENSSL_cleanse(k, sizeof(k));
	if (ok)
		adopt(fd, path, set->user);
	close(fd);
	if (!ok) {
		snprintf(err, errlen, "cannot write suppression key %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	int rc = link(tmp, path);
	int e = errno;
	unlink(tmp);
	if (rc != 0 && e != EEXIST) {
		snprintf(err, errlen, "cannot create suppression key %s: %s", path, strerror(e));
		return -1;
	}
	return 0;
}

int
suppress_key_load(const struct bw_settings *set, bool create, struct suppress_key *key, char *err,
		  size_t errlen)
{
	char path[KEY_PATH_MAX];
	if (suppress_key_path(set, path, sizeof(path)) != 0) {
		snprintf(err, errlen,
			 "state.path is not set or too long: no place for the "
			 "suppression key");
		return -1;
	}
	int fd = open_key(path);
	if (fd < 0 && errno == ENOENT && create) {
		if (make_key(set, path, err, errlen) != 0)
			return -1;
		fd = open_key(path);
	}
	if (fd < 0) {
		if (errno == ENOENT && !create)
			return 1;
		if (errno == ELOOP)
			snprintf(err, errlen, "suppression key %s is a symbolic link: refused",
				 path);
		else
			snprintf(err, errlen, "cannot open suppression key %s: %s", path,
				 strerror(errno));
		return -1;
	}
	int rc = read_key(fd, path, key, err, errlen);
	close(fd);
	return rc;
}

int
suppress_canon(const char *addr, char *out, size_t outlen)
{
	const char *p = addr, *e;
	size_t n;
	if (p == NULL)
		return -1;
	p += strspn(p, " \t\r\n");
	if (strncasecmp(p, "rfc822;", 7) == 0)
		p += 7 + strspn(p + 7, " \t");
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	if (e - p >= 2 && p[0] == '<' && e[-1] == '>') {
		p++;
		e--;
	}
	n = (size_t)(e - p);
	if (n == 0 || n > SUPPRESS_ADDR_MAX || n + 1 > outlen)
		return -1;
	size_t at = n, ats = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>')
			return -1;
		if (ch == '@') {
			ats++;
			at = i;
		}
		out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : (char)ch;
	}
	/* a quoted local part may hold an @; plain addresses have one */
	if (ats != 1 || at == 0 || at == n - 1)
		return -1;
	if (out[n - 1] == '.') /* a root-anchored domain */
		n--;
	if (at >= n - 1)
		return -1;
	out[n] = '\0';
	return 0;
}

static EVP_MAC *hmac_alg; /* fetched once: a fetch per RCPT costs more than the MAC */
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void
hmac_fetch(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* HMAC-SHA256 over the parts, separated by NUL bytes, truncated. */
static int
mac(const struct suppress_key *key, const char *const *part, size_t nparts,
    unsigned char out[SUPPRESS_HASH_BYTES])
{
	unsigned char full[EVP_MAX_MD_SIZE];
	size_t outl = 0;
	int rc = -1;
	pthread_once(&hmac_once, hmac_fetch);
	EVP_MAC_CTX *c = hmac_alg ? EVP_MAC_CTX_new(hmac_alg) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
			       OSSL_PARAM_construct_end()};
	if (c == NULL || EVP_MAC_init(c, key->k, sizeof(key->k), params) != 1)
		goto done;
	for (size_t i = 0; i < nparts; i++)
		if ((i > 0 && EVP_MAC_update(c, (const unsigned char *)"", 1) != 1) ||
		    EVP_MAC_update(c, (const unsigned char *)part[i], strlen(part[i])) != 1)
			goto done;
	if (EVP_MAC_final(c, full, &outl, sizeof(full)) != 1 || outl < SUPPRESS_HASH_BYTES)
		goto done;
	memcpy(out, full, SUPPRESS_HASH_BYTES);
	rc = 0;
done:
	OPENSSL_cleanse(full, sizeof(full));
	EVP_MAC_CTX_free(c);
	return rc;
}

struct suppress_mac {
	EVP_MAC_CTX *tmpl; /* initialised with the key, never updated */
};

struct suppress_mac *
suppress_mac_new(const struct suppress_key *key)
{
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
			       OSSL_PARAM_construct_end()};
	pthread_once(&hmac_once, hmac_fetch);
	struct suppress_mac *m = calloc(1, sizeof(*m));
	if (m == NULL || hmac_alg == NULL || (m->tmpl = EVP_MAC_CTX_new(hmac_alg)) == NULL ||
	    EVP_MAC_init(m->tmpl, key->k, sizeof(key->k), params) != 1) {
		suppress_mac_free(m);
		return NULL;
	}
	return m;
}

void
suppress_mac_free(struct suppress_mac *m)
{
	if (m == NULL)
		return;
	EVP_MAC_CTX_free(m->tmpl);
	free(m);
}

int
suppress_mac_addr(const struct suppress_mac *m, const char *id, const char *addr,
		  unsigned char out[SUPPRESS_HASH_BYTES])
{
	char canon[SUPPRESS_ADDR_MAX + 1];
	unsigned char full[EVP_MAX_MD_SIZE];
	size_t outl = 0;
	int rc = -2;
	if (suppress_canon(addr, canon, sizeof(canon)) != 0)
		return -1;
	const char *part[] = {DOMAIN_SEP, id, canon};
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(m->tmpl);
	if (c == NULL)
		return -2;
	for (size_t i = 0; i < 3; i++)
		if ((i > 0 && EVP_MAC_update(c, (const unsigned char *)"", 1) != 1) ||
		    EVP_MAC_update(c, (const unsigned char *)part[i], strlen(part[i])) != 1)
			goto done;
	if (EVP_MAC_final(c, full, &outl, sizeof(full)) != 1 || outl < SUPPRESS_HASH_BYTES)
		goto done;
	memcpy(out, full, SUPPRESS_HASH_BYTES);
	rc = 0;
done:
	OPENSSL_cleanse(full, sizeof(full));
	EVP_MAC_CTX_free(c);
	return rc;
}

int
suppress_hash(const struct suppress_key *key, const char *id, const char *canon,
	      unsigned char out[SUPPRESS_HASH_BYTES])
{
	const char *parts[] = {DOMAIN_SEP, id, canon};
	return mac(key, parts, 3, out);
}

int
suppress_hash_addr(const struct suppress_key *key, const char *id, const char *addr,
		   unsigned char out[SUPPRESS_HASH_BYTES])
{
	char canon[SUPPRESS_ADDR_MAX + 1];
	if (suppress_canon(addr, canon, sizeof(canon)) != 0)
		return -1;
	return suppress_hash(key, id, canon, out) == 0 ? 0 : -2;
}

int
suppress_key_check(const struct suppress_key *key, unsigned char out[SUPPRESS_HASH_BYTES])
{
	const char *parts[] = {CHECK_LABEL};
	return mac(key, parts, 1, out);
}

char *
suppress_hex(const unsigned char *h, size_t n, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = hex[h[i] >> 4];
		buf[2 * i + 1] = hex[h[i] & 15];
	}
	buf[2 * n] = '\0';
	return buf;
}

/* Value of one hex digit, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
suppress_unhex(const char *s, unsigned char out[SUPPRESS_HASH_BYTES])
{
	if (s == NULL || strlen(s) != SUPPRESS_HEX)
		return false;
	for (size_t i = 0; i < SUPPRESS_HASH_BYTES; i++) {
		int a = hexval(s[2 * i]), b = hexval(s[2 * i + 1]);
		if (a < 0 || b < 0)
			return false;
		out[i] = (unsigned char)(a << 4 | b);
	}
	return true;
}

bool
suppress_redacted(const char *addr)
{
	char c[SUPPRESS_ADDR_MAX + 1];
	if (addr == NULL || addr[0] == '\0')
		return true;
	if (suppress_canon(addr, c, sizeof(c)) != 0)
		return strcasestr(addr, "redacted") != NULL || strchr(addr, '[') != NULL;
	size_t at = strcspn(c, "@");
	c[at] = '\0';
	if (strcmp(c, "redacted") == 0 || strstr(c, "redacted") != NULL)
		return true;
	if (strspn(c, "x*#") == at) /* xxxxxx, ****** */
		return true;
	return false;
}
