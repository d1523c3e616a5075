/*
 * keygen.c - `bulkwardenctl keygen ID [--algorithm rsa|ed25519] [--bits N]
 * [--selector S] [--domain D] [--out FILE]`: a new DKIM key pair for a
 * registered sender identity.
 *
 * The private key is generated with OpenSSL's EVP API and written as
 * unencrypted PKCS#8 PEM to a file created with O_EXCL|O_NOFOLLOW and mode
 * 0600 (an existing file is never overwritten); then it is read back
 * through the config loader's own keyfile_load(), so what is printed is
 * what the milter will load. Printed: the DNS TXT record to publish, split
 * into quoted strings of at most 255 octets (RFC 1035 character-strings),
 * and the dkim entry to add to the identity.
 *
 * Defaults: RSA with max(2048, policy.dkim_min_rsa_bits) bits (fewer than
 * the baseline is refused, as the loader would; more than
 * KEYGEN_RSA_BITS_MAX does not fit libopendkim's 1 KiB key record buffer);
 * selector "<YYYYMMDD>-rsa" or "-ed25519" (UTC); domain the identity's
 * first signing domain, else its first plain from domain; the file
 * "<config dir>/keys/<id>.<selector>.pem".
 *
 * Exit: 0 written, 1 refused or failed (nothing left behind), 2 usage.
 * Memory: the key lives in OpenSSL objects freed before returning; the
 * PEM buffer is a secure-heap BIO wiped on free.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ctl/ctl.h"
#include "base/arena.h"
#include "base/util.h"
#include "registry/domain.h"
#include "registry/keyfile.h"

#define KEYGEN_RSA_BITS_DEFAULT 2048
#define KEYGEN_RSA_BITS_MAX 4096 /* p= must fit libopendkim's 1024-byte record buffer */
#define KEYGEN_SELECTOR_MAX 63
#define KEYGEN_TXT_CHUNK 255 /* octets per DNS character-string */
#define KEYGEN_TXT_MAX 2048
#ifdef SYSCONFDIR /* configure's --sysconfdir (Makefile.am) */
#define KEYGEN_DEFAULT_CONF SYSCONFDIR "/bulkwarden/bulkwarden.conf"
#else
#define KEYGEN_DEFAULT_CONF "/etc/bulkwarden/bulkwarden.conf"
#endif

struct keygen_args {
	const char *id;
	const char *algorithm; /* "rsa" | "ed25519" */
	long bits;	       /* 0: default */
	const char *selector;
	const char *domain;
	const char *out;
};

/* Print the usage line to stderr; returns CTL_USAGE. */
static int
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "bulkwardenctl keygen: %s\n", why);
	fprintf(stderr, "usage: bulkwardenctl keygen ID [--algorithm rsa|ed25519] [--bits N] "
			"[--selector S] [--domain D] [--out FILE]\n");
	return CTL_USAGE;
}

/* Value of option opt from "--opt=v" or "--opt v"; NULL if arg is not opt. */
static const char *
optval(const char *opt, int argc, char **argv, int *i, bool *missing)
{
	size_t n = strlen(opt);
	const char *a = argv[*i];
	if (strncmp(a, opt, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/* Parse the verb's arguments (argv[0] may be the verb itself). */
static int
parse_args(int argc, char **argv, struct keygen_args *a)
{
	static const char *const opts[] = {"--algorithm", "--bits", "--selector", "--domain",
					   "--out"};
	const char **slots[] = {&a->algorithm, NULL, &a->selector, &a->domain, &a->out};
	int i = argc > 0 && strcmp(argv[0], "keygen") == 0 ? 1 : 0;

	memset(a, 0, sizeof(*a));
	a->algorithm = "rsa";
	for (; i < argc; i++) {
		bool missing = false, matched = false;
		for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]) && !matched; o++) {
			const char *v = optval(opts[o], argc, argv, &i, &missing);
			if (missing) {
				fprintf(stderr, "bulkwardenctl keygen: %s needs a value\n",
					opts[o]);
				return usage(NULL);
			}
			if (v == NULL)
				continue;
			matched = true;
			if (slots[o] != NULL) {
				*slots[o] = v;
				continue;
			}
			char *end;
			errno = 0;
			a->bits = strtol(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || a->bits <= 0 ||
			    a->bits > INT_MAX)
				return usage("--bits takes a positive number");
		}
		if (matched)
			continue;
		if (argv[i][0] == '-')
			return usage("unknown option");
		if (a->id != NULL)
			return usage("one identity id only");
		a->id = argv[i];
	}
	if (a->id == NULL)
		return usage("which identity?");
	if (strcmp(a->algorithm, "rsa") != 0 && strcmp(a->algorithm, "ed25519") != 0)
		return usage("--algorithm is rsa or ed25519");
	if (a->bits != 0 && strcmp(a->algorithm, "ed25519") == 0)
		return usage("--bits applies to RSA only (Ed25519 keys are 256 bits)");
	return CTL_OK;
}

/* A selector: [A-Za-z0-9._-], 1 to KEYGEN_SELECTOR_MAX, no empty label. */
static bool
selector_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
	return n > 0 && s[n] == '\0' && n <= KEYGEN_SELECTOR_MAX && s[0] != '.' &&
	       s[n - 1] != '.' && strstr(s, "..") == NULL;
}

/* The signing domain: --domain, the first dkim domain, the first plain
 * from domain; NULL if none. */
static const char *
pick_domain(const struct bw_identity *id, const char *given)
{
	if (given != NULL)
		return given;
	if (id->n_dkim > 0)
		return id->dkim[0].domain;
	for (size_t i = 0; i < id->n_from_domains; i++)
		if (strncmp(id->from_domains[i], "*.", 2) != 0)
			return id->from_domains[i];
	return NULL;
}

/* Generate the key pair. NULL with an OpenSSL reason on stderr. */
static EVP_PKEY *
generate(const char *algorithm, int bits)
{
	EVP_PKEY *pk = strcmp(algorithm, "rsa") == 0
			   ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)
			   : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL) {
		unsigned long e = ERR_get_error();
		fprintf(stderr, "bulkwardenctl keygen: key generation failed: %s\n",
			e ? ERR_reason_error_string(e) : "unknown error");
	}
	return pk;
}

/* Write pk as PKCS#8 PEM to a new file, mode 0600. 0, or -1 (nothing left). */
static int
write_key(const char *path, EVP_PKEY *pk)
{
	char *pem = NULL;
	long len;
	int rc = -1;
	BIO *bio = BIO_new(BIO_s_secmem());
	if (bio == NULL || !PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		fprintf(stderr, "bulkwardenctl keygen: cannot encode the private key\n");
		BIO_free(bio);
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "bulkwardenctl keygen: %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (refusing to overwrite an existing key)" : "");
		BIO_free(bio);
		return -1;
	}
	bool ok = fchmod(fd, 0600) == 0; /* whatever the umask */
	for (long off = 0; ok && off < len;) {
		ssize_t w = write(fd, pem + off, (size_t)(len - off));
		if (w < 0 && errno == EINTR)
			continue;
		ok = w > 0;
		off += w > 0 ? w : 0;
	}
	ok = ok && fsync(fd) == 0;
	int saved = errno;
	ok = close(fd) == 0 && ok;
	if (!ok) {
		fprintf(stderr, "bulkwardenctl keygen: %s: cannot write: %s\n", path,
			strerror(saved ? saved : errno));
		unlink(path);
	} else {
		rc = 0;
	}
	BIO_free(bio);
	return rc;
}

/* JSON string literal of s to f (RFC 8259 escapes). */
static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Print the result, text or JSON. */
static void
report(const struct ctl *c, const struct bw_identity *id, const char *domain, const char *sel,
       const char *path, const struct keyfile_info *ki, const char *txt)
{
	size_t tl = strlen(txt);
	char entry[PATH_MAX + 512];
	snprintf(entry, sizeof(entry), "{ domain = \"%s\"; selector = \"%s\"; key = \"%s\"; }",
		 domain, sel, path);
	const char *alg = ki->alg == BW_KEY_RSA ? "rsa" : "ed25519";

	if (c != NULL && c->json) {
		printf("{\"identity\":");
		json_str(stdout, id->id);
		printf(",\"domain\":");
		json_str(stdout, domain);
		printf(",\"selector\":");
		json_str(stdout, sel);
		printf(",\"algorithm\":\"%s\",\"bits\":%d,\"key_file\":", alg, ki->bits);
		json_str(stdout, path);
		printf(",\"dns_name\":\"%s._domainkey.%s.\",\"dns_txt\":[", sel, domain);
		for (size_t off = 0; off < tl; off += KEYGEN_TXT_CHUNK)
			printf("%s\"%.*s\"", off ? "," : "", KEYGEN_TXT_CHUNK, txt + off);
		printf("],\"config\":");
		json_str(stdout, entry);
		printf("}\n");
		return;
	}
	printf("Private key: %s (mode 0600, %s %d bits)\n\n", path, alg, ki->bits);
	printf("Publish this DNS TXT record:\n%s._domainkey.%s. IN TXT (", sel, domain);
	for (size_t off = 0; off < tl; off += KEYGEN_TXT_CHUNK)
		printf("\n    \"%.*s\"", KEYGEN_TXT_CHUNK, txt + off);
	printf(" )\n\n");
	if (id->n_dkim > 0)
		printf("Add this entry to the dkim list of identity \"%s\" (%s:%d):\n    %s\n",
		       id->id, id->file, id->line, entry);
	else
		printf("Add to identity \"%s\" (%s:%d):\n    dkim = (\n      %s\n    );\n", id->id,
		       id->file, id->line, entry);
}

/* The keygen verb: generate, write 0600, read back, print. */
int
ctl_keygen(struct ctl *c, int argc, char **argv)
{
	struct keygen_args a;
	char selbuf[KEYGEN_SELECTOR_MAX + 1], pathbuf[PATH_MAX], txt[KEYGEN_TXT_MAX], err[512];
	int rc = parse_args(argc, argv, &a);
	if (rc != CTL_OK)
		return rc;
	bool rsa = strcmp(a.algorithm, "rsa") == 0;
	if (a.selector != NULL && !selector_ok(a.selector))
		return usage("--selector takes [A-Za-z0-9._-] (at most 63)");

	struct registry *r = ctl_registry(c);
	const struct bw_identity *id = registry_by_id(r, a.id);
	if (id == NULL) {
		fprintf(stderr, "bulkwardenctl keygen: no identity \"%s\" in the registry\n", a.id);
		return CTL_FAIL;
	}
	if (id->dkim_mode == BW_DKIM_VERIFY) {
		fprintf(stderr,
			"bulkwardenctl keygen: identity \"%s\" uses dkim_mode \"verify\": its "
			"vendor holds the private key; register the vendor's public key instead\n",
			id->id);
		return CTL_FAIL;
	}
	int min = r->set.dkim_min_rsa_bits;
	int bits = rsa ? (a.bits ? (int)a.bits
				 : (min > KEYGEN_RSA_BITS_DEFAULT ? min : KEYGEN_RSA_BITS_DEFAULT))
		       : 256;
	if (rsa && bits < min) {
		fprintf(stderr,
			"bulkwardenctl keygen: %d bits is below policy.dkim_min_rsa_bits (%d)\n",
			bits, min);
		return CTL_FAIL;
	}
	if (rsa && bits > KEYGEN_RSA_BITS_MAX) {
		fprintf(stderr,
			"bulkwardenctl keygen: %d bits: at most %d (a larger key's DNS record does "
			"not fit libopendkim's verifier)\n",
			bits, KEYGEN_RSA_BITS_MAX);
		return CTL_FAIL;
	}
	char dombuf[DOMAIN_MAX + 1];
	if (a.domain != NULL) {
		if (!domain_normalize(a.domain, strlen(a.domain), dombuf)) {
			fprintf(stderr,
				"bulkwardenctl keygen: --domain \"%s\" is not a domain name\n",
				a.domain);
			return CTL_USAGE;
		}
		a.domain = dombuf;
	}
	const char *domain = pick_domain(id, a.domain);
	if (domain == NULL) {
		fprintf(stderr,
			"bulkwardenctl keygen: identity \"%s\" has no signing domain; "
			"pass --domain\n",
			id->id);
		return CTL_FAIL;
	}
	const char *sel = a.selector;
	if (sel == NULL) {
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		snprintf(selbuf, sizeof(selbuf), "%04d%02d%02d-%s", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, a.algorithm);
		sel = selbuf;
	}
	for (size_t i = 0; i < id->n_dkim; i++)
		if (strcasecmp(id->dkim[i].selector, sel) == 0 &&
		    strcasecmp(id->dkim[i].domain, domain) == 0) {
			fprintf(stderr,
				"bulkwardenctl keygen: identity \"%s\" already has selector \"%s\" "
				"for %s; pass another --selector\n",
				id->id, sel, domain);
			return CTL_FAIL;
		}
	const char *path = a.out;
	if (path == NULL) {
		const char *conf = c != NULL && c->conf_path ? c->conf_path : KEYGEN_DEFAULT_CONF;
		const char *slash = strrchr(conf, '/');
		int dl = slash ? (int)(slash - conf) : 1;
		int n = snprintf(pathbuf, sizeof(pathbuf), "%.*s/keys/%s.%s.pem", dl,
				 slash ? conf : ".", id->id, sel);
		if (n < 0 || (size_t)n >= sizeof(pathbuf)) {
			fprintf(stderr, "bulkwardenctl keygen: key path too long; pass --out\n");
			return CTL_FAIL;
		}
		path = pathbuf;
	}

	EVP_PKEY *pk = generate(a.algorithm, bits);
	if (pk == NULL)
		return CTL_FAIL;
	rc = write_key(path, pk);
	EVP_PKEY_free(pk);
	if (rc != 0) {
		if (a.out == NULL)
			fprintf(stderr,
				"bulkwardenctl keygen: (create the directory, mode 0700, or "
				"pass --out FILE)\n");
		return CTL_FAIL;
	}

	/* read it back as the milter will: mode, type, size, the p= value */
	struct arena *ar = arena_new();
	struct keyfile_info ki;
	struct keyfile_material km;
	rc = CTL_FAIL;
	if (keyfile_load(path, true, ar, &ki, &km, err, sizeof(err)) != 0)
		fprintf(stderr, "bulkwardenctl keygen: %s: written but does not load: %s\n", path,
			err);
	else if (keyfile_txt_record(ki.alg, km.pubkey, txt, sizeof(txt)) < 0)
		fprintf(stderr, "bulkwardenctl keygen: the key record is too long\n");
	else
		rc = CTL_OK;
	if (rc == CTL_OK) {
		char abs[PATH_MAX];
		report(c, id, domain, sel, realpath(path, abs) ? abs : path, &ki, txt);
	} else {
		unlink(path);
	}
	if (km.privkey != NULL)
		OPENSSL_cleanse((void *)km.privkey, strlen(km.privkey));
	arena_free(ar);
	ERR_clear_error();
	return rc;
}
