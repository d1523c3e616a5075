/*
 * test_dkim.c - DKIM signing and vendor verification (dkim/bwdkim.c,
 * dkim/bwdkey.c), the key material the loader keeps (registry/keyfile.c) and
 * `bulkwardenctl keygen` (ctl/keygen.c).
 *
 * Fixtures live in tests/dkim/: fixed test keys (never use them for mail),
 * golden DKIM-Signature values and two helpers run with Debian's
 * /usr/bin/python3: verify.py (python3-dkim, an independent verifier given
 * the registered public keys instead of DNS) and sign.py (the "vendor" that
 * signs for verify mode). Git does not keep file modes, so the keys are
 * copied into a private temporary directory with mode 0600 before the
 * registry loads them.
 *
 * Messages are written as an MTA would pass them to a milter: header names
 * and values split at the colon (one space eaten unless LEADSPC), folded
 * lines joined with LF or CRLF, the body in chunks of a given size.
 * BWDKIM_REGEN=1 rewrites the golden files instead of comparing.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl/ctl.h"
#include "base/arena.h"
#include "dkim/bwdkey.h"
#include "dkim/bwdkim.h"
#include "base/util.h"
#include "registry/conf.h"
#include "registry/keyfile.h"
#include "registry/registry.h"

#define PINNED_TIME 1700000000LL /* 2023-11-14T22:13:20Z */
#define MAX_HDRS 256
#define MAX_SIGS 4
#define PATH_LEN 1024
#define BIG_BODY (10u * 1024 * 1024)
#define BIG_CHUNK 4093 /* odd: CRLFs straddle chunk boundaries */

static char srcdir[PATH_LEN / 2]; /* tests/dkim */
static char tmpdir[PATH_LEN / 4]; /* keys (0600), configs, messages */
static bool have_python;
static bool regen;
static struct registry *reg;

/* ---- helpers ----------------------------------------------------------- */

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
run(const char *cmd)
{
	int rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* Whole file into a NUL-terminated heap buffer (NULL if unreadable). */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, n = 0, r;
	char *b = malloc(cap);
	while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n - 1 == 0)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	b[n] = '\0';
	if (len != NULL)
		*len = n;
	return b;
}

static void
spit(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* text with every "\n" made "\r\n" (the wire form). */
static char *
crlf(const char *text, size_t *len)
{
	size_t n = strlen(text), lf = 0;
	for (size_t i = 0; i < n; i++)
		lf += text[i] == '\n';
	char *o = malloc(n + lf + 1), *p = o;
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '\n')
			*p++ = '\r';
		*p++ = text[i];
	}
	*p = '\0';
	*len = (size_t)(p - o);
	return o;
}

/* A header value with its folds removed (heap). */
static char *
unfold(const char *v)
{
	char *o = strdup(v), *w = o;
	for (const char *p = v; *p; p++) {
		if (*p == '\n') {
			while (p[1] == '\t' || p[1] == ' ')
				p++;
			continue;
		}
		*w++ = *p;
	}
	*w = '\0';
	return o;
}

/* ---- messages as the MTA passes them ----------------------------------- */

struct field {
	char *name;
	char *value;	 /* after the colon, exactly */
	const char *raw; /* start of the field in the wire text */
	size_t rawlen;	 /* through its final CRLF */
};

struct msg {
	char *wire;
	size_t len;
	struct field f[MAX_HDRS];
	size_t nf;
	const char *body;
	size_t bodylen;
};

/* Split wire text (CRLF) into header fields and body. */
static void
msg_parse(struct msg *m)
{
	const char *p = m->wire, *end = m->wire + m->len;
	m->nf = 0;
	while (p < end && !(p[0] == '\r' && p + 1 < end && p[1] == '\n')) {
		const char *start = p, *colon = memchr(p, ':', (size_t)(end - p));
		assert_non_null(colon);
		/* the field runs to a CRLF not followed by SP/HT */
		const char *q = colon;
		for (;;) {
			const char *nl = strstr(q, "\r\n");
			assert_non_null(nl);
			q = nl + 2;
			if (q >= end || (*q != ' ' && *q != '\t'))
				break;
		}
		assert_true(m->nf < MAX_HDRS);
		struct field *f = &m->f[m->nf++];
		f->name = strndup(start, (size_t)(colon - start));
		f->value = strndup(colon + 1, (size_t)(q - 2 - colon - 1));
		f->raw = start;
		f->rawlen = (size_t)(q - start);
		p = q;
	}
	m->body = p + 2 <= end ? p + 2 : end;
	m->bodylen = (size_t)(end - m->body);
}

static void
msg_from_text(struct msg *m, const char *text)
{
	memset(m, 0, sizeof(*m));
	m->wire = crlf(text, &m->len);
	msg_parse(m);
}

static void
msg_from_file(struct msg *m, const char *path)
{
	memset(m, 0, sizeof(*m));
	m->wire = slurp(path, &m->len);
	assert_non_null(m->wire);
	msg_parse(m);
}

static void
msg_free(struct msg *m)
{
	for (size_t i = 0; i < m->nf; i++) {
		free(m->f[i].name);
		free(m->f[i].value);
	}
	free(m->wire);
}

/* How the simulated MTA hands headers over. */
struct feedopt {
	bool leadspc;	/* exact values; else one leading space eaten */
	bool crlf_fold; /* folded lines joined with CRLF; else LF (Postfix) */
	size_t chunk;	/* body chunk size */
};

/* Feed m's headers, end of headers and body to d. */
static void
feed_msg(struct bwdkim_msg *d, const struct msg *m, const struct feedopt *o)
{
	for (size_t i = 0; i < m->nf; i++) {
		const char *v = m->f[i].value;
		if (!o->leadspc && *v == ' ')
			v++; /* what Postfix and Sendmail do without SMFIP_HDR_LEADSPC */
		char *val = strdup(v), *w = val;
		for (const char *r = val; *r; r++) /* CRLF folds become LF, or stay */
			if (o->crlf_fold || !(r[0] == '\r' && r[1] == '\n'))
				*w++ = *r;
		*w = '\0';
		bwdkim_header(d, m->f[i].name, val);
		free(val);
	}
	bwdkim_eoh(d);
	for (size_t off = 0; off < m->bodylen; off += o->chunk) {
		size_t n = m->bodylen - off < o->chunk ? m->bodylen - off : o->chunk;
		bwdkim_body(d, (const unsigned char *)m->body + off, n);
	}
}

/* The message as delivered: the signatures on top, client copies of
 * replaced fields removed, our Feedback-ID appended to the header. */
static char *
assemble(const struct msg *m, const struct bw_identity *id, const struct bwdkim_sig *s, size_t ns,
	 const char *feedback, size_t *len)
{
	size_t cap = m->len + 8192;
	char *o = malloc(cap), *p = o;
	for (size_t i = 0; i < ns; i++) {
		assert_non_null(s[i].header);
		p += sprintf(p, "DKIM-Signature:%s", s[i].header[0] == ' ' ? "" : " ");
		for (const char *q = s[i].header; *q; q++) { /* LF folds to CRLF */
			if (*q == '\n')
				*p++ = '\r';
			*p++ = *q;
		}
		p += sprintf(p, "\r\n");
	}
	for (size_t i = 0; i < m->nf; i++) {
		if (bwdkim_header_replaced(id, m->f[i].name))
			continue;
		memcpy(p, m->f[i].raw, m->f[i].rawlen);
		p += m->f[i].rawlen;
	}
	if (feedback != NULL)
		p += sprintf(p, "Feedback-ID:%s%s\r\n", feedback[0] == ' ' ? "" : " ", feedback);
	p += sprintf(p, "\r\n");
	memcpy(p, m->body, m->bodylen);
	p += m->bodylen;
	*p = '\0';
	*len = (size_t)(p - o);
	assert_true(*len < cap);
	return o;
}

/* python3-dkim's verdict on file path with id's registered keys as DNS:
 * 0 all pass, 1 all fail, 3 mixed, 4 unsigned; -1 when python is missing. */
static int
pyverify(const char *path, const struct bw_identity *id)
{
	char cmd[16384], txt[BWDKEY_TXT_MAX + 1];
	int off;
	if (!have_python)
		return -1;
	off = snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s/verify.py' '%s'", srcdir, path);
	for (size_t i = 0; i < id->n_dkim; i++) {
		assert_true(
		    keyfile_txt_record(id->dkim[i].alg, id->dkim[i].pubkey, txt, sizeof(txt)) > 0);
		off +=
		    snprintf(cmd + off, sizeof(cmd) - (size_t)off, " --txt '%s._domainkey.%s=%s'",
			     id->dkim[i].selector, id->dkim[i].domain, txt);
	}
	snprintf(cmd + off, sizeof(cmd) - (size_t)off, " >'%s/py.out' 2>&1", tmpdir);
	int rc = run(cmd);
	if (rc != 0 && rc != 4) {
		char p[PATH_LEN];
		snprintf(p, sizeof(p), "%s/py.out", tmpdir);
		char *out = slurp(p, NULL);
		print_message("verify.py: %s", out ? out : "(no output)\n");
		free(out);
	}
	return rc;
}

static const struct bw_identity *
ident(const char *id)
{
	const struct bw_identity *i = registry_by_id(reg, id);
	assert_non_null(i);
	return i;
}

/* ---- setup ------------------------------------------------------------- */

static const char conf_fmt[] =
    "identities = (\n"
    "  { id = \"news\"; description = \"Newsletter\"; class = \"marketing\";\n"
    "    credentials = { logins = [\"svc-news\"]; };\n"
    "    envelope_domains = [\"news.example.com\"];\n"
    "    dkim = ( { domain = \"news.example.com\"; selector = \"nl2026\"; key = \"news-rsa.pem\"; "
    "},\n"
    "             { domain = \"news.example.com\"; selector = \"nl2026e\"; key = "
    "\"news-ed25519.pem\"; } );\n"
    "  },\n"
    "  { id = \"promo\"; description = \"Promotions\"; class = \"marketing\";\n"
    "    credentials = { logins = [\"svc-promo\"]; };\n"
    "    envelope_domains = [\"promo.example.com\"];\n"
    "    dkim = ( { domain = \"promo.example.com\"; selector = \"p1\"; key = "
    "\"promo-ed25519.pem\"; } );\n"
    "    feedback_id = true;\n"
    "    dkim_sign_headers = [\"X-Campaign\"];\n"
    "    dkim_oversign_headers = [\"To\"];\n"
    "  },\n"
    "  { id = \"vendor\"; description = \"ESP signs for us\"; class = \"marketing\";\n"
    "    credentials = { logins = [\"svc-esp\"]; };\n"
    "    envelope_domains = [\"news.example.com\"];\n"
    "    dkim_mode = \"verify\";\n"
    "    dkim = ( { domain = \"news.example.com\"; selector = \"esp1\"; key = \"vendor-rsa.pub\"; "
    "},\n"
    "             { domain = \"news.example.com\"; selector = \"esp1e\"; key = "
    "\"vendor-ed25519.pub\"; } );\n"
    "  },\n"
    "  { id = \"vendorsign\"; description = \"the ESP, signing\"; class = \"marketing\";\n"
    "    credentials = { logins = [\"esp-internal\"]; };\n"
    "    envelope_domains = [\"news.example.com\"];\n"
    "    dkim = ( { domain = \"news.example.com\"; selector = \"esp1\"; key = \"vendor-rsa.pem\"; "
    "} );\n"
    "  },\n"
    "  { id = \"rogue\"; description = \"not the vendor\"; class = \"marketing\";\n"
    "    credentials = { logins = [\"svc-rogue\"]; };\n"
    "    envelope_domains = [\"news.example.com\"];\n"
    "    dkim = ( { domain = \"news.example.com\"; selector = \"esp1\"; key = \"rogue-rsa.pem\"; } "
    ");\n"
    "  },\n"
    "  { id = \"plain\"; description = \"no keys yet\"; class = \"transactional\";\n"
    "    credentials = { logins = [\"svc-plain\"]; };\n"
    "    envelope_domains = [\"plain.example.com\"];\n"
    "  }\n"
    ");\n";

static const char *const key_files[] = {
    "news-rsa.pem",	  "news-ed25519.pem", "promo-ed25519.pem",
    "vendor-rsa.pem",	  "vendor-rsa.pub",   "vendor-ed25519.pem",
    "vendor-ed25519.pub", "rogue-rsa.pem",    NULL};

static int
setup(void **state)
{
	(void)state;
	const char *top = getenv("top_srcdir");
	if (top != NULL && *top)
		snprintf(srcdir, sizeof(srcdir), "%s/tests/dkim", top);
	else
		snprintf(srcdir, sizeof(srcdir), "%.*s/../dkim",
			 (int)(strrchr(__FILE__, '/') ? strrchr(__FILE__, '/') - __FILE__ : 1),
			 strrchr(__FILE__, '/') ? __FILE__ : ".");
	regen = getenv("BWDKIM_REGEN") != NULL;
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/bwdkimXXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	char cmd[4 * PATH_LEN];
	for (int i = 0; key_files[i] != NULL; i++) {
		snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s/%s' && chmod 0600 '%s/%s'", srcdir,
			 key_files[i], tmpdir, key_files[i], tmpdir, key_files[i]);
		if (run(cmd) != 0) {
			fprintf(stderr, "cannot copy %s/%s\n", srcdir, key_files[i]);
			return -1;
		}
	}
	char path[PATH_LEN];
	snprintf(path, sizeof(path), "%s/bulkwarden.conf", tmpdir);
	spit(path, conf_fmt, strlen(conf_fmt));
	struct conf_errors errs;
	reg = conf_load(path, PINNED_TIME, &errs);
	if (reg == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "  %s\n", errs.msg[i]);
		conf_errors_free(&errs);
		return -1;
	}
	conf_errors_free(&errs);
	char err[512];
	if (bwdkey_init(err, sizeof(err)) != 0 ||
	    bwdkey_registry_load(reg, err, sizeof(err)) != 0) {
		fprintf(stderr, "bwdkey: %s\n", err);
		return -1;
	}
	have_python = run("/usr/bin/python3 -c 'import dkim, nacl' >/dev/null 2>&1") == 0;
	if (!have_python)
		fprintf(stderr, "NOTE: /usr/bin/python3 with python3-dkim and python3-nacl is "
				"missing: independent verification is skipped\n");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	registry_release(reg);
	bwdkey_shutdown();
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- sign: golden values and body edge cases -------------------------------- */

#define STD_HEADERS                                                                                \
	"From: \"Example News\" <news@news.example.com>\n"                                         \
	"To: reader@example.org\n"                                                                 \
	"Subject: Weekly product news\n"                                                           \
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\n"                                                  \
	"Message-ID: <20231114221320.1@news.example.com>\n"                                        \
	"MIME-Version: 1.0\n"                                                                      \
	"Content-Type: text/plain; charset=utf-8\n"                                                \
	"Content-Transfer-Encoding: 8bit\n"                                                        \
	"List-Unsubscribe: <https://news.example.com/u/abc123>\n"                                  \
	"List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"                                      \
	"X-Mailer: bulkwarden-test\n"

static const char msg_basic[] = STD_HEADERS "\n"
					    "Hello,\n"
					    "\n"
					    "This week: new features.\n";
static const char msg_empty[] = STD_HEADERS "\n";
static const char msg_nofinal[] = STD_HEADERS "\n"
					      "first line\n"
					      "last line without a line end";
static const char msg_trailing[] = STD_HEADERS "\n"
					       "trailing spaces   \n"
					       "\t\n"
					       "inner    runs\tof \t whitespace\n"
					       "   \n"
					       "\n"
					       "\n"
					       "\n";
static const char msg_8bit[] = "From: \"R\xc3\xa9"
			       "daction\" <news@news.example.com>\n"
			       "To: =?utf-8?q?Gr=C3=B6=C3=9Fe?= <reader@example.org>\n"
			       "Subject: Pr\xc3\xa9"
			       "f\xc3\xa9rences \xc3\xbc"
			       "ber Gr\xc3\xb6\xc3\x9f"
			       "e \xe2\x9c\x93\n"
			       "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
			       "Message-ID: <8bit@news.example.com>\n"
			       "MIME-Version: 1.0\n"
			       "Content-Type: text/plain; charset=utf-8\n"
			       "Content-Transfer-Encoding: 8bit\n"
			       "\n"
			       "Gr\xc3\xbc\xc3\x9f"
			       "e aus K\xc3\xb6ln \xe2\x82\xac 10\n"
			       "latin-1 byte \xe9"
			       " and a byte 0xff \xff\n";

/* A To of 40 folded addresses and a References of about 6 KB. */
static char *
make_long(void)
{
	size_t cap = 32768, n = 0;
	char *b = malloc(cap);
	n += (size_t)snprintf(b + n, cap - n, "From: news@news.example.com\nTo: a0@example.org");
	for (int i = 1; i < 40; i++)
		n += (size_t)snprintf(b + n, cap - n, ",%s a%d@example.org", i % 3 ? "\n\t" : "\n ",
				      i);
	n += (size_t)snprintf(b + n, cap - n, "\nReferences:");
	for (int i = 0; i < 120; i++)
		n += (size_t)snprintf(b + n, cap - n,
				      "\n <ref-%04d.long-message-id@lists.example.net>", i);
	n += (size_t)snprintf(b + n, cap - n,
			      "\nSubject: a subject that is folded\n   over\n\tthree lines\n"
			      "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
			      "Message-ID: <long@news.example.com>\n\nbody\n");
	return b;
}

struct sign_row {
	const char *name;   /* golden file stem; NULL: no golden */
	const char *text;   /* NULL: make_long() */
	const char *id;	    /* identity */
	struct feedopt opt; /* how the MTA feeds it */
};

static const struct sign_row sign_rows[] = {
    {"basic", msg_basic, "news", {false, false, 1}},
    {"basic", msg_basic, "news", {true, true, 65535}}, /* LEADSPC: same signature */
    {"basic", msg_basic, "news", {false, true, 7}},
    {"empty-body", msg_empty, "news", {false, false, 4096}},
    {"no-final-crlf", msg_nofinal, "news", {false, false, 3}},
    {"trailing-ws", msg_trailing, "news", {false, false, 1}},
    {"8bit", msg_8bit, "news", {true, false, 5}},
    {"long-folded", NULL, "news", {false, false, 100}},
    {"long-folded", NULL, "news", {true, true, 1}},
    {"promo", msg_basic, "promo", {false, false, 11}},
    {"promo", msg_basic, "promo", {true, false, 64}},
};

/* Compare (or with BWDKIM_REGEN write) one golden signature value. */
static void
golden(const char *stem, const struct bwdkim_sig *s)
{
	char path[PATH_LEN];
	const char *v = s->header[0] == ' ' ? s->header + 1 : s->header;
	snprintf(path, sizeof(path), "%s/golden/%s.%s.txt", srcdir, stem,
		 strncmp(s->algorithm, "rsa", 3) == 0 ? "rsa" : "ed25519");
	if (regen) {
		spit(path, v, strlen(v));
		return;
	}
	char *want = slurp(path, NULL);
	if (want == NULL)
		fail_msg("missing golden file %s (BWDKIM_REGEN=1 writes it)", path);
	if (strcmp(want, v) != 0)
		print_message("golden %s:\n want %s\n got  %s\n", path, want, v);
	assert_string_equal(want, v);
	free(want);
}

/* Sign m as identity id; the signatures into s (asserting success). */
static struct bwdkim_msg *
sign_msg(const struct bw_identity *id, const struct msg *m, const struct feedopt *o,
	 struct bwdkim_sig *s, size_t *ns)
{
	char err[256];
	struct bwdkim_opts opts = {
	    .queue_id = "TESTQ1", .fixed_time = PINNED_TIME, .leadspc = o->leadspc};
	struct bwdkim_msg *d = bwdkim_sign_begin(id, &opts, err, sizeof(err));
	if (d == NULL)
		fail_msg("bwdkim_sign_begin: %s", err);
	feed_msg(d, m, o);
	int rc = bwdkim_eom(d, s, MAX_SIGS, ns);
	if (rc != 0)
		print_message("bwdkim_eom: %s\n", bwdkim_error(d));
	assert_int_equal(rc, 0);
	assert_int_equal(*ns, id->n_dkim);
	return d;
}

static void
test_sign_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(sign_rows) / sizeof(sign_rows[0]); r++) {
		const struct sign_row *row = &sign_rows[r];
		print_message("row %zu: %s (leadspc %d, crlf folds %d, chunk %zu)\n", r, row->name,
			      row->opt.leadspc, row->opt.crlf_fold, row->opt.chunk);
		char *text = row->text ? NULL : make_long();
		struct msg m;
		msg_from_text(&m, row->text ? row->text : text);
		const struct bw_identity *id = ident(row->id);
		struct bwdkim_sig s[MAX_SIGS];
		size_t ns;
		struct bwdkim_msg *d = sign_msg(id, &m, &row->opt, s, &ns);
		for (size_t i = 0; i < ns; i++) {
			assert_true(s[i].ok);
			assert_string_equal(s[i].result, "signed");
			assert_string_equal(s[i].domain, id->dkim[i].domain);
			assert_int_equal(s[i].bits, id->dkim[i].bits);
			assert_true((s[i].header[0] == ' ') == row->opt.leadspc);
			assert_non_null(strstr(s[i].header, "t=1700000000;"));
			assert_non_null(strstr(s[i].header, "c=relaxed/relaxed;"));
			assert_null(strchr(s[i].header, '\r'));
			golden(row->name, &s[i]);
		}
		char path[PATH_LEN];
		size_t len;
		char *out = assemble(&m, id, s, ns, bwdkim_feedback_value(d), &len);
		snprintf(path, sizeof(path), "%s/signed.eml", tmpdir);
		spit(path, out, len);
		int v = pyverify(path, id);
		assert_true(v == 0 || v == -1);
		free(out);
		bwdkim_free(d);
		msg_free(&m);
		free(text);
	}
}

/* The signed header lists: defaults, oversigning, an identity's additions. */
static void
test_header_lists(void **state)
{
	(void)state;
	struct msg m;
	struct bwdkim_sig s[MAX_SIGS];
	size_t ns;
	struct feedopt o = {false, false, 4096};
	msg_from_text(&m, msg_basic);

	struct bwdkim_msg *d = sign_msg(ident("news"), &m, &o, s, &ns);
	/* each present field once, in message order, then the oversigned
	 * names once more (a name absent from the message: once in all) */
	for (size_t i = 0; i < ns; i++) {
		char *h = unfold(s[i].header);
		assert_non_null(strstr(h, "h=From:To:Subject:Date:Message-ID:MIME-Version:"
					  "Content-Type:Content-Transfer-Encoding:List-Unsubscribe:"
					  "List-Unsubscribe-Post:From:Subject:List-Unsubscribe:"
					  "List-Unsubscribe-Post;"));
		free(h);
	}
	bwdkim_free(d);

	d = sign_msg(ident("promo"), &m, &o, s, &ns);
	assert_string_equal(bwdkim_feedback_value(d),
			    "marketing:promo:bulkwarden:promo.example.com");
	char *h = unfold(s[0].header);
	assert_non_null(
	    strstr(h, "h=From:To:Subject:Date:Message-ID:MIME-Version:Content-Type:"
		      "Content-Transfer-Encoding:List-Unsubscribe:List-Unsubscribe-Post:"
		      "Feedback-ID:From:Subject:List-Unsubscribe:List-Unsubscribe-Post:To;"));
	free(h);
	bwdkim_free(d);
	/* an X-Campaign field is signed for promo only */
	msg_free(&m);
	msg_from_text(&m, "X-Campaign: spring\n" STD_HEADERS "\nbody\n");
	d = sign_msg(ident("promo"), &m, &o, s, &ns);
	h = unfold(s[0].header);
	assert_non_null(strstr(h, "h=X-Campaign:From:"));
	free(h);
	bwdkim_free(d);
	d = sign_msg(ident("news"), &m, &o, s, &ns);
	h = unfold(s[0].header);
	assert_null(strstr(h, "X-Campaign"));
	free(h);
	bwdkim_free(d);
	msg_free(&m);
}

/* A header added after signing: oversigned names break the signature when
 * added on top (where MTAs add); others survive there (the verifier takes
 * the bottom-most instance). */
struct added_row {
	const char *id;
	const char *added; /* prepended below the signatures */
	int want;	   /* verify.py exit: 0 all pass, 1 all fail */
};

static const struct added_row added_rows[] = {
    {"news", "Subject: free money", 1},
    {"news", "From: ceo@news.example.com", 1},
    {"news", "List-Unsubscribe: <https://evil.example.net/u>", 1},
    {"news", "List-Unsubscribe-Post: List-Unsubscribe=One-Click", 1},
    {"news", "To: victim@example.net", 0},     /* signed, not oversigned */
    {"news", "X-Added: anything", 0},	       /* not signed */
    {"promo", "To: victim@example.net", 1},    /* the identity oversigns To */
    {"promo", "Feedback-ID: x:y:z:forged", 0}, /* ours is the bottom-most */
};

static void
test_added_header(void **state)
{
	(void)state;
	if (!have_python)
		skip();
	for (size_t r = 0; r < sizeof(added_rows) / sizeof(added_rows[0]); r++) {
		const struct added_row *row = &added_rows[r];
		print_message("row %zu: %s + %s\n", r, row->id, row->added);
		const struct bw_identity *id = ident(row->id);
		struct msg m;
		struct bwdkim_sig s[MAX_SIGS];
		size_t ns, len;
		struct feedopt o = {false, false, 4096};
		msg_from_text(&m, msg_basic);
		struct bwdkim_msg *d = sign_msg(id, &m, &o, s, &ns);
		char *out = assemble(&m, id, s, ns, bwdkim_feedback_value(d), &len);
		/* insert after the signatures: before the first original field */
		size_t at = (size_t)(strstr(out, "\r\nFrom:") - out) + 2;
		char *mod = malloc(len + strlen(row->added) + 3);
		memcpy(mod, out, at);
		size_t al = (size_t)sprintf(mod + at, "%s\r\n", row->added);
		memcpy(mod + at + al, out + at, len - at);
		char path[PATH_LEN];
		snprintf(path, sizeof(path), "%s/added.eml", tmpdir);
		spit(path, out, len);
		if (r == 0 || strcmp(row->id, added_rows[r - 1].id) != 0)
			assert_int_equal(pyverify(path, id), 0); /* unmodified: passes */
		spit(path, mod, len + al);
		assert_int_equal(pyverify(path, id), row->want);
		free(mod);
		free(out);
		bwdkim_free(d);
		msg_free(&m);
	}
}

/* A client's Feedback-ID is neither signed nor kept; ours is signed. */
static void
test_feedback(void **state)
{
	(void)state;
	char buf[BWDKIM_FEEDBACK_MAX];
	const struct bw_identity *promo = ident("promo"), *news = ident("news");
	assert_int_equal(bwdkim_feedback_id(promo, buf, sizeof(buf)),
			 (int)strlen("marketing:promo:bulkwarden:promo.example.com"));
	assert_string_equal(buf, "marketing:promo:bulkwarden:promo.example.com");
	assert_int_equal(bwdkim_feedback_id(promo, buf, 10), -1);
	assert_int_equal(bwdkim_feedback_id(news, buf, sizeof(buf)), -1);
	assert_true(bwdkim_header_replaced(promo, "feedback-id"));
	assert_false(bwdkim_header_replaced(news, "Feedback-ID"));
	assert_false(bwdkim_header_replaced(promo, "Subject"));

	struct msg m;
	struct bwdkim_sig s[MAX_SIGS];
	size_t ns, len;
	struct feedopt o = {false, false, 4096};
	msg_from_text(&m, "Feedback-ID: forged:by:the:client\n" STD_HEADERS "\nbody\n");
	struct bwdkim_msg *d = sign_msg(promo, &m, &o, s, &ns);
	/* one instance signed: ours (the client's was not fed) */
	assert_non_null(strstr(s[0].header, "Feedback-ID:"));
	assert_null(strstr(s[0].header, "Feedback-ID:Feedback-ID"));
	char *out = assemble(&m, promo, s, ns, bwdkim_feedback_value(d), &len);
	assert_null(strstr(out, "forged"));
	char path[PATH_LEN];
	snprintf(path, sizeof(path), "%s/feedback.eml", tmpdir);
	spit(path, out, len);
	int v = pyverify(path, promo);
	assert_true(v == 0 || v == -1);
	free(out);
	bwdkim_free(d);
	msg_free(&m);
}

/* Resident set peak in KiB (VmHWM). */
static long
rss_peak_kb(void)
{
	char *s = slurp("/proc/self/status", NULL), *p;
	long kb = -1;
	if (s != NULL && (p = strstr(s, "VmHWM:")) != NULL)
		kb = strtol(p + 6, NULL, 10);
	free(s);
	return kb;
}

/* 10 MB arriving in 4093-byte chunks: signed, verified, memory flat. */
static void
test_big_body(void **state)
{
	(void)state;
	const struct bw_identity *id = ident("news");
	char err[256], path[PATH_LEN], line[128];
	struct bwdkim_opts opts = {.queue_id = "BIG", .fixed_time = PINNED_TIME};
	struct msg m;
	msg_from_text(&m, STD_HEADERS "\n");
	snprintf(path, sizeof(path), "%s/big.eml", tmpdir);

	long before = rss_peak_kb();
	struct bwdkim_msg *d = bwdkim_sign_begin(id, &opts, err, sizeof(err));
	assert_non_null(d);
	struct feedopt o = {false, false, 1};
	feed_msg(d, &m, &o); /* headers only: the body is empty */

	FILE *body = tmpfile();
	assert_non_null(body);
	unsigned char *chunk = malloc(BIG_CHUNK);
	size_t fill = 0, total = 0;
	for (unsigned i = 0; total < BIG_BODY; i++) {
		int n = snprintf(line, sizeof(line), "%07u the quick brown fox jumps%s\r\n", i,
				 i % 17 == 0 ? "  \t" : "");
		for (int k = 0; k < n; k++) {
			chunk[fill++] = (unsigned char)line[k];
			if (fill == BIG_CHUNK) {
				assert_int_equal(bwdkim_body(d, chunk, fill), 0);
				assert_int_equal(fwrite(chunk, 1, fill, body), fill);
				total += fill;
				fill = 0;
			}
		}
	}
	assert_int_equal(bwdkim_body(d, chunk, fill), 0);
	assert_int_equal(fwrite(chunk, 1, fill, body), fill);
	free(chunk);
	struct bwdkim_sig s[MAX_SIGS];
	size_t ns, len;
	assert_int_equal(bwdkim_eom(d, s, MAX_SIGS, &ns), 0);
	long after = rss_peak_kb();
#if !defined(__SANITIZE_ADDRESS__)
	print_message("peak RSS grew by %ld KiB over a %u-byte body\n", after - before, BIG_BODY);
	assert_true(after - before < 4096); /* nothing near the body's size */
#else
	(void)before;
	(void)after;
#endif
	/* the message file: signatures + headers + the streamed body */
	char *head = assemble(&m, id, s, ns, NULL, &len);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(head, 1, len, f), len);
	rewind(body);
	static char buf[65536]; /* off the stack: -Wstack-usage */
	size_t r;
	while ((r = fread(buf, 1, sizeof(buf), body)) > 0)
		assert_int_equal(fwrite(buf, 1, r, f), r);
	fclose(f);
	fclose(body);
	int v = pyverify(path, id);
	assert_true(v == 0 || v == -1);
	free(head);
	bwdkim_free(d);
	msg_free(&m);
}

/* Keys are never read per message: remove the files, still signs; and
 * never parsed per message: the key cache answers libopendkim. */
static void
test_no_key_reads(void **state)
{
	(void)state;
	struct bwdkey_stats s0, s1;
	assert_true(bwdkey_key_cache_active());
	bwdkey_stats(&s0);
	char path[PATH_LEN], moved[PATH_LEN + 8];
	snprintf(path, sizeof(path), "%s/news-rsa.pem", tmpdir);
	snprintf(moved, sizeof(moved), "%s.away", path);
	assert_int_equal(rename(path, moved), 0);
	struct msg m;
	struct bwdkim_sig s[MAX_SIGS];
	size_t ns;
	struct feedopt o = {false, false, 4096};
	msg_from_text(&m, msg_basic);
	struct bwdkim_msg *d = sign_msg(ident("news"), &m, &o, s, &ns);
	golden("basic", &s[0]);
	golden("basic", &s[1]);
	bwdkim_free(d);
	msg_free(&m);
	assert_int_equal(rename(moved, path), 0);
	bwdkey_stats(&s1);
	assert_int_equal(s1.cache_hits - s0.cache_hits, 2); /* one per key */
	assert_int_equal(s1.cache_misses - s0.cache_misses, 0);
	print_message("blocks libopendkim left behind, reclaimed: %llu\n",
		      s1.reclaimed - s0.reclaimed);
}

/* Failures: sticky, with libopendkim's reason; nothing to insert. */
static void
test_sign_failures(void **state)
{
	(void)state;
	char err[256];
	struct bwdkim_sig s[MAX_SIGS];
	size_t ns;
	const struct bw_identity *news = ident("news");

	assert_null(bwdkim_sign_begin(ident("vendor"), NULL, err, sizeof(err)));
	assert_null(bwdkim_sign_begin(ident("plain"), NULL, err, sizeof(err)));
	assert_null(bwdkim_verify_begin(news, NULL, err, sizeof(err)));

	/* no From: libopendkim refuses at end of headers */
	struct bwdkim_msg *d = bwdkim_sign_begin(news, NULL, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(bwdkim_header(d, "Subject", "no from"), 0);
	assert_int_equal(bwdkim_eoh(d), -1);
	assert_int_equal(bwdkim_body(d, (const unsigned char *)"x\r\n", 3), -1);
	assert_int_equal(bwdkim_eom(d, s, MAX_SIGS, &ns), -1);
	print_message("no From: %s\n", bwdkim_error(d));
	assert_non_null(
	    strstr(bwdkim_error(d), "key news.example.com/nl2026 (rsa-sha256): dkim_eoh"));
	assert_non_null(strcasestr(bwdkim_error(d), "\"from\" not found"));
	assert_int_equal(ns, 2);
	for (size_t i = 0; i < ns; i++) {
		assert_false(s[i].ok);
		assert_null(s[i].header);
	}
	bwdkim_free(d);

	/* a signed field over BWDKIM_HEADER_MAX */
	d = bwdkim_sign_begin(news, NULL, err, sizeof(err));
	char *huge = malloc(BWDKIM_HEADER_MAX + 2);
	memset(huge, 'a', BWDKIM_HEADER_MAX + 1);
	huge[BWDKIM_HEADER_MAX + 1] = '\0';
	assert_int_equal(bwdkim_header(d, "From", "a@news.example.com"), 0);
	assert_int_equal(bwdkim_header(d, "X-Unsigned", huge), 0); /* not signed: ignored */
	assert_int_equal(bwdkim_header(d, "Subject", huge), -1);
	assert_int_equal(bwdkim_eoh(d), -1);
	assert_int_equal(bwdkim_eom(d, s, MAX_SIGS, &ns), -1);
	assert_non_null(strstr(bwdkim_error(d), "too long"));
	free(huge);
	bwdkim_free(d);

	/* out of order */
	d = bwdkim_sign_begin(news, NULL, err, sizeof(err));
	assert_int_equal(bwdkim_body(d, (const unsigned char *)"x", 1), -1);
	assert_int_equal(bwdkim_eom(d, s, MAX_SIGS, &ns), -1);
	bwdkim_free(d);
	d = bwdkim_sign_begin(news, NULL, err, sizeof(err));
	assert_int_equal(bwdkim_header(d, "From", "a@news.example.com"), 0);
	assert_int_equal(bwdkim_eom(d, s, MAX_SIGS, &ns), -1);
	bwdkim_free(d);
	bwdkim_free(NULL);

	/* an abort mid-body frees every handle (LeakSanitizer checks) */
	d = bwdkim_sign_begin(news, NULL, err, sizeof(err));
	struct msg m;
	struct feedopt o = {false, false, 3};
	msg_from_text(&m, msg_basic);
	feed_msg(d, &m, &o);
	bwdkim_free(d);
	msg_free(&m);
}

/* ---- verify mode ------------------------------------------------------------------------------
 */

struct verify_row {
	const char *name;
	const char *text; /* the vendor's message */
	const char *key;  /* vendor's private key file, NULL: unsigned */
	const char *sel;
	const char *alg;    /* "rsa" | "ed25519" */
	const char *extra;  /* more sign.py arguments */
	const char *from;   /* the From domain policy parsed */
	const char *tamper; /* appended to the body after signing */
	bool leadspc;
	int want; /* bwdkim_verify_eom() */
	const char *why;
};

#define VENDOR_MSG STD_HEADERS "\nHello from our ESP.\n"

static const struct verify_row verify_rows[] = {
    {"rsa", VENDOR_MSG, "vendor-rsa.pem", "esp1", "rsa", "", "news.example.com", NULL, false, 1,
     NULL},
    {"ed25519", VENDOR_MSG, "vendor-ed25519.pem", "esp1e", "ed25519", "", "news.example.com", NULL,
     false, 1, NULL},
    {"simple/simple with LEADSPC", VENDOR_MSG, "vendor-rsa.pem", "esp1", "rsa",
     "--canon simple/simple", "news.example.com", NULL, true, 1, NULL},
    {"simple/simple without LEADSPC", VENDOR_MSG, "vendor-rsa.pem", "esp1", "rsa",
     "--canon simple/simple", "news.example.com", NULL, false, 1, NULL},
    {"From in a subdomain of d=", VENDOR_MSG, "vendor-rsa.pem", "esp1", "rsa", "",
     "mail.news.example.com", NULL, false, 1, NULL},
    {"misaligned From", VENDOR_MSG, "vendor-rsa.pem", "esp1", "rsa", "", "other.example.org", NULL,
     false, 0, "does not align"},
    {"d= a parent only by suffix", VENDOR_MSG, "vendor-rsa.pem", "esp1", "rsa", "",
     "evilnews.example.com", NULL, false, 0, "does not align"},
    {"unregistered key, registered selector", VENDOR_MSG, "rogue-rsa.pem", "esp1", "rsa", "",
     "news.example.com", NULL, false, 0, "the registered key's signature"},
    {"unregistered selector", VENDOR_MSG, "vendor-rsa.pem", "other", "rsa", "", "news.example.com",
     NULL, false, 0, "no signature by a registered key"},
    {"body changed after signing", VENDOR_MSG, "vendor-ed25519.pem", "esp1e", "ed25519", "",
     "news.example.com", "P.S. added\r\n", false, 0, "body hash"},
    {"l= partial body", VENDOR_MSG, "vendor-rsa.pem", "esp1", "rsa", "--length", "news.example.com",
     NULL, false, 0, "l="},
    {"unsigned", VENDOR_MSG, NULL, NULL, NULL, NULL, "news.example.com", NULL, false, 0,
     "no signature"},
};

/* The vendor's signed message for a row, parsed (false: python missing). */
static bool
vendor_message(const struct verify_row *row, struct msg *m)
{
	char in[PATH_LEN], out[PATH_LEN], cmd[4 * PATH_LEN];
	msg_from_text(m, row->text);
	if (row->key == NULL)
		return true;
	if (!have_python)
		return false;
	snprintf(in, sizeof(in), "%s/vendor-in.eml", tmpdir);
	snprintf(out, sizeof(out), "%s/vendor-out.eml", tmpdir);
	spit(in, m->wire, m->len);
	msg_free(m);
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 '%s/sign.py' '%s' --key '%s/%s' --domain news.example.com "
		 "--selector %s --algorithm %s --time %lld %s >'%s'",
		 srcdir, in, tmpdir, row->key, row->sel, row->alg, PINNED_TIME, row->extra, out);
	assert_int_equal(run(cmd), 0);
	msg_from_file(m, out);
	return true;
}

/* Run the verifier on m; returns bwdkim_verify_eom()'s result. */
static int
verify_msg(const struct msg *m, const char *from, bool leadspc, const char *tamper, char *why,
	   size_t whylen, struct bwdkim_sig *s, size_t *ns)
{
	char err[256];
	struct bwdkim_opts opts = {.queue_id = "VQ", .leadspc = leadspc};
	struct bwdkim_msg *d = bwdkim_verify_begin(ident("vendor"), &opts, err, sizeof(err));
	if (d == NULL)
		fail_msg("bwdkim_verify_begin: %s", err);
	struct feedopt o = {leadspc, true, 5};
	feed_msg(d, m, &o);
	if (tamper != NULL)
		bwdkim_body(d, (const unsigned char *)tamper, strlen(tamper));
	int rc = bwdkim_verify_eom(d, from, s, MAX_SIGS, ns);
	bw_strlcpy(why, bwdkim_error(d), whylen);
	bwdkim_free(d);
	return rc;
}

static void
test_verify_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(verify_rows) / sizeof(verify_rows[0]); r++) {
		const struct verify_row *row = &verify_rows[r];
		print_message("row %zu: %s\n", r, row->name);
		struct msg m;
		if (!vendor_message(row, &m)) {
			print_message("  skipped: no python3-dkim\n");
			continue;
		}
		char why[BWDKIM_ERR_MAX];
		struct bwdkim_sig s[MAX_SIGS];
		size_t ns;
		int rc =
		    verify_msg(&m, row->from, row->leadspc, row->tamper, why, sizeof(why), s, &ns);
		print_message("  -> %d %s\n", rc, why);
		assert_int_equal(rc, row->want);
		if (row->why != NULL)
			assert_non_null(strstr(why, row->why));
		if (rc == 1) {
			assert_true(ns >= 1);
			assert_true(s[0].ok && s[0].aligned);
			assert_string_equal(s[0].result, "pass");
			assert_string_equal(s[0].selector, row->sel);
		}
		msg_free(&m);
	}
}

/* Our own signer as the vendor; a rogue signature beside the vendor's is
 * ignored; the vendor's beside a rogue one still verifies. */
static void
test_verify_own_signer(void **state)
{
	(void)state;
	struct msg m;
	struct bwdkim_sig s[MAX_SIGS], v[MAX_SIGS];
	size_t ns, nv, len;
	char why[BWDKIM_ERR_MAX], path[PATH_LEN];
	struct feedopt o = {false, false, 4096};
	msg_from_text(&m, VENDOR_MSG);

	struct bwdkim_msg *d = sign_msg(ident("vendorsign"), &m, &o, s, &ns);
	char *good = assemble(&m, ident("vendorsign"), s, ns, NULL, &len);
	bwdkim_free(d);
	d = sign_msg(ident("rogue"), &m, &o, s, &ns);
	char *bad = assemble(&m, ident("rogue"), s, ns, NULL, &len);
	bwdkim_free(d);
	msg_free(&m);

	/* vendor only */
	memset(&m, 0, sizeof(m));
	m.wire = strdup(good);
	m.len = strlen(good);
	msg_parse(&m);
	int rc = verify_msg(&m, "news.example.com", false, NULL, why, sizeof(why), v, &nv);
	if (rc != 1)
		print_message("vendor only: %d %s\n%s\n", rc, why, good);
	assert_int_equal(rc, 1);
	msg_free(&m);

	/* rogue signature (same d=/s=, other key) on top of the vendor's */
	size_t bl = (size_t)(strstr(bad, "\r\nFrom:") - bad) + 2;
	char *both = malloc(bl + strlen(good) + 1);
	memcpy(both, bad, bl);
	strcpy(both + bl, good);
	memset(&m, 0, sizeof(m));
	m.wire = both;
	m.len = strlen(both);
	msg_parse(&m);
	assert_int_equal(verify_msg(&m, "news.example.com", false, NULL, why, sizeof(why), v, &nv),
			 1);
	assert_int_equal(nv, 2);
	assert_true(v[0].ok != v[1].ok);
	snprintf(path, sizeof(path), "%s/both.eml", tmpdir);
	spit(path, m.wire, m.len);
	assert_true(pyverify(path, ident("vendor")) == 3 || !have_python);
	msg_free(&m);

	/* a garbled signature beside the vendor's is skipped */
	static const char garbled[] = "DKIM-Signature: v=1; a=rsa-sha256; d=news.example.com;\r\n"
				      "\ts=esp1; ;;= \x80garbage\r\n";
	char *g = malloc(strlen(garbled) + strlen(good) + 1);
	strcpy(g, garbled);
	strcat(g, good);
	memset(&m, 0, sizeof(m));
	m.wire = g;
	m.len = strlen(g);
	msg_parse(&m);
	assert_int_equal(verify_msg(&m, "news.example.com", false, NULL, why, sizeof(why), v, &nv),
			 1);
	assert_int_equal(nv, 1);
	msg_free(&m);

	/* rogue alone */
	memset(&m, 0, sizeof(m));
	m.wire = bad;
	m.len = strlen(bad);
	msg_parse(&m);
	assert_int_equal(verify_msg(&m, "news.example.com", false, NULL, why, sizeof(why), v, &nv),
			 0);
	assert_int_equal(nv, 1);
	assert_false(v[0].ok);
	print_message("rogue: %s (%s)\n", why, v[0].result);
	msg_free(&m);
	free(good);
}

/* A signature whose a= says rsa-sha1 is never examined (RFC 8301). */
static void
test_verify_sha1(void **state)
{
	(void)state;
	struct msg m;
	struct bwdkim_sig s[MAX_SIGS], v[MAX_SIGS];
	size_t ns, nv, len;
	char why[BWDKIM_ERR_MAX];
	struct feedopt o = {false, false, 4096};
	msg_from_text(&m, VENDOR_MSG);
	struct bwdkim_msg *d = sign_msg(ident("vendorsign"), &m, &o, s, &ns);
	char *out = assemble(&m, ident("vendorsign"), s, ns, NULL, &len);
	bwdkim_free(d);
	msg_free(&m);
	char *a = strstr(out, "a=rsa-sha256");
	assert_non_null(a);
	memcpy(a, "a=rsa-sha1;  ", 13); /* same length; the signature is broken anyway */
	memset(&m, 0, sizeof(m));
	m.wire = out;
	m.len = len;
	msg_parse(&m);
	int rc = verify_msg(&m, "news.example.com", false, NULL, why, sizeof(why), v, &nv);
	print_message("rsa-sha1: %d %s\n", rc, why);
	assert_int_equal(rc, 0);
	assert_int_equal(nv, 0);
	assert_non_null(strstr(why, "no signature by a registered key"));
	msg_free(&m);
}

struct align_row {
	const char *d, *from;
	bool want;
};

static const struct align_row align_rows[] = {
    {"example.com", "example.com", true},
    {"example.com", "EXAMPLE.com.", true},
    {"example.com", "news.example.com", true},
    {"news.example.com", "example.com", false},
    {"example.com", "badexample.com", false},
    {"example.com", "example.com.evil.net", false},
    {"", "example.com", false},
    {"example.com", "", false},
    {NULL, "example.com", false},
};

static void
test_aligned(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(align_rows) / sizeof(align_rows[0]); r++) {
		print_message("row %zu: %s / %s\n", r, align_rows[r].d ? align_rows[r].d : "(null)",
			      align_rows[r].from);
		assert_int_equal(bwdkim_aligned(align_rows[r].d, align_rows[r].from),
				 align_rows[r].want);
	}
}

/* ---- key material and keygen ----------------------------------------------------------------- */

/* The loader kept the key material: p= values match openssl's. */
static void
test_key_material(void **state)
{
	(void)state;
	char cmd[2 * PATH_LEN], path[PATH_LEN];
	const struct bw_identity *news = ident("news"), *vendor = ident("vendor");
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    strncmp(news->dkim[i].privkey, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
	assert_null(vendor->dkim[0].privkey);
	assert_int_equal(news->dkim[1].bits, 256);

	snprintf(path, sizeof(path), "%s/p.txt", tmpdir);
	snprintf(cmd, sizeof(cmd),
		 "openssl pkey -in '%s/news-rsa.pem' -pubout -outform DER | base64 -w0 >'%s'",
		 tmpdir, path);
	assert_int_equal(run(cmd), 0);
	char *p = slurp(path, NULL);
	assert_string_equal(p, news->dkim[0].pubkey);
	free(p);
	/* Ed25519: the raw key is the last 32 bytes of the SPKI */
	snprintf(cmd, sizeof(cmd),
		 "openssl pkey -in '%s/news-ed25519.pem' -pubout -outform DER | tail -c 32 | "
		 "base64 -w0 >'%s'",
		 tmpdir, path);
	assert_int_equal(run(cmd), 0);
	p = slurp(path, NULL);
	assert_string_equal(p, news->dkim[1].pubkey);
	free(p);

	char txt[BWDKEY_TXT_MAX + 1];
	assert_true(keyfile_txt_record(BW_KEY_ED25519, "AAAA", txt, sizeof(txt)) > 0);
	assert_string_equal(txt, "v=DKIM1; k=ed25519; p=AAAA");
	assert_int_equal(keyfile_txt_record(BW_KEY_RSA, "AAAA", txt, 10), -1);
}

/* bulkwardenctl's registry accessor, as ctl/main.c provides it. */
struct registry *
ctl_registry(struct ctl *c)
{
	return c->reg;
}

/* Run ctl_keygen with stdout and stderr captured into tmpdir files. */
static int
keygen(bool json, const char *const *args, char **out)
{
	char *argv[16];
	int argc = 0;
	argv[argc++] = "keygen";
	for (; *args != NULL && argc < 15; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	char conf[PATH_LEN];
	snprintf(conf, sizeof(conf), "%s/bulkwarden.conf", tmpdir); /* keys dir: tmpdir/keys */
	struct ctl c = {.conf_path = conf, .json = json, .reg = reg};
	char p_out[PATH_LEN], p_err[PATH_LEN];
	snprintf(p_out, sizeof(p_out), "%s/keygen.out", tmpdir);
	snprintf(p_err, sizeof(p_err), "%s/keygen.err", tmpdir);
	fflush(stdout);
	fflush(stderr);
	int so = dup(1), se = dup(2);
	FILE *fo = fopen(p_out, "w"), *fe = fopen(p_err, "w");
	dup2(fileno(fo), 1);
	dup2(fileno(fe), 2);
	int rc = ctl_keygen(&c, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	fclose(fo);
	fclose(fe);
	*out = slurp(p_out, NULL);
	char *e = slurp(p_err, NULL);
	if (e != NULL && *e)
		print_message("  stderr: %s", e);
	free(e);
	return rc;
}

struct keygen_row {
	const char *name;
	bool json;
	const char *args[8]; /* "@" stands for the temp directory prefix */
	int want;
	const char *alg; /* expected k= on success */
};

static const struct keygen_row keygen_rows[] = {
    {"rsa default", false, {"news", "--selector", "k1", "--out", "@/k1.pem"}, CTL_OK, "rsa"},
    {"ed25519",
     false,
     {"news", "--algorithm=ed25519", "--selector=k2", "--out", "@/k2.pem"},
     CTL_OK,
     "ed25519"},
    {"json", true, {"plain", "--algorithm", "ed25519", "--out", "@/k3.pem"}, CTL_OK, "ed25519"},
    {"rsa 3072",
     false,
     {"news", "--bits", "3072", "--selector", "k4", "--out", "@/k4.pem"},
     CTL_OK,
     "rsa"},
    {"existing file", false, {"news", "--selector", "k5", "--out", "@/k1.pem"}, CTL_FAIL, NULL},
    {"weak bits", false, {"news", "--bits", "1024", "--out", "@/k6.pem"}, CTL_FAIL, NULL},
    {"too many bits", false, {"news", "--bits", "8192", "--out", "@/k7.pem"}, CTL_FAIL, NULL},
    {"bits for ed25519",
     false,
     {"news", "--algorithm", "ed25519", "--bits", "256"},
     CTL_USAGE,
     NULL},
    {"bad algorithm", false, {"news", "--algorithm", "dsa"}, CTL_USAGE, NULL},
    {"unknown option", false, {"news", "--force"}, CTL_USAGE, NULL},
    {"missing value", false, {"news", "--out"}, CTL_USAGE, NULL},
    {"no identity", false, {"--bits", "2048"}, CTL_USAGE, NULL},
    {"unknown identity", false, {"nobody", "--out", "@/k8.pem"}, CTL_FAIL, NULL},
    {"verify-mode identity", false, {"vendor", "--out", "@/k9.pem"}, CTL_FAIL, NULL},
    {"selector in use",
     false,
     {"news", "--selector", "nl2026", "--out", "@/k10.pem"},
     CTL_FAIL,
     NULL},
    {"bad selector", false, {"news", "--selector", "a b"}, CTL_USAGE, NULL},
    {"no keys directory", false, {"news", "--selector", "k11"}, CTL_FAIL, NULL},
    {"default path", false, {"news", "--selector", "k12"}, CTL_OK, "rsa"},
};

static void
test_keygen(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(keygen_rows) / sizeof(keygen_rows[0]); r++) {
		const struct keygen_row *row = &keygen_rows[r];
		print_message("row %zu: %s\n", r, row->name);
		char bufs[8][PATH_LEN];
		const char *args[9];
		const char *out_file = NULL;
		size_t n = 0;
		for (; n < 8 && row->args[n] != NULL; n++) {
			if (row->args[n][0] == '@')
				snprintf(bufs[n], sizeof(bufs[n]), "%s%s", tmpdir,
					 row->args[n] + 1);
			else
				bw_strlcpy(bufs[n], row->args[n], sizeof(bufs[n]));
			args[n] = bufs[n];
			if (n > 0 && strcmp(row->args[n - 1], "--out") == 0)
				out_file = bufs[n];
		}
		args[n] = NULL;
		char defpath[PATH_LEN];
		if (strcmp(row->name, "default path") == 0) {
			snprintf(defpath, sizeof(defpath), "%s/keys", tmpdir);
			assert_int_equal(mkdir(defpath, 0700), 0);
			snprintf(defpath, sizeof(defpath), "%s/keys/news.k12.pem", tmpdir);
			out_file = defpath;
		}
		struct stat before;
		bool existed = out_file != NULL && stat(out_file, &before) == 0;
		char *out = NULL;
		int rc = keygen(row->json, args, &out);
		assert_int_equal(rc, row->want);
		if (rc != CTL_OK) {
			struct stat st;
			if (out_file != NULL && !existed)
				assert_int_not_equal(stat(out_file, &st), 0); /* nothing left */
			if (existed) {					      /* untouched */
				assert_int_equal(stat(out_file, &st), 0);
				assert_int_equal(st.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
				assert_int_equal(st.st_size, before.st_size);
			}
			free(out);
			continue;
		}
		struct stat st;
		assert_int_equal(stat(out_file, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		/* the record: each quoted string at most 255 octets, joined = the key's */
		struct arena *a = arena_new();
		struct keyfile_info ki;
		struct keyfile_material km;
		char err[256], txt[BWDKEY_TXT_MAX + 1], joined[BWDKEY_TXT_MAX + 1] = "";
		assert_int_equal(keyfile_load(out_file, true, a, &ki, &km, err, sizeof(err)), 0);
		assert_true(keyfile_txt_record(ki.alg, km.pubkey, txt, sizeof(txt)) > 0);
		const char *pat = row->json ? "\"dns_txt\":[" : "IN TXT (";
		const char *p = strstr(out, pat);
		assert_non_null(p);
		p = strchr(p + strlen(pat), '"');
		int chunks = 0;
		while (p != NULL && (!row->json || p < strchr(strstr(out, "\"dns_txt\""), ']'))) {
			const char *e = strchr(p + 1, '"');
			assert_non_null(e);
			size_t cl = (size_t)(e - p - 1);
			assert_true(cl <= 255);
			strncat(joined, p + 1, cl);
			chunks++;
			p = row->json ? (e[1] == ',' ? e + 2 : NULL) : strchr(e + 1, '"');
			if (!row->json && p != NULL && strstr(e, " )") < p)
				p = NULL;
		}
		assert_string_equal(joined, txt);
		assert_true(chunks >= (strcmp(row->alg, "rsa") == 0 ? 2 : 1));
		char want_k[32];
		snprintf(want_k, sizeof(want_k), "k=%s;", row->alg);
		assert_non_null(strstr(joined, want_k));
		assert_non_null(strstr(out, row->json ? "{ domain = \\\"" : "{ domain = \""));
		arena_free(a);
		free(out);
	}
}

/* Run last: the snapshot's private key bytes are wiped on unload. */
static void
test_unload(void **state)
{
	(void)state;
	const struct bw_identity *news = ident("news");
	size_t len = strlen(news->dkim[0].privkey);
	bwdkey_registry_unload(reg);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(news->dkim[0].privkey[i], 0);
	assert_true(news->dkim[0].pubkey[0] != '\0'); /* the public half is kept */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_material), cmocka_unit_test(test_sign_rows),
	    cmocka_unit_test(test_header_lists), cmocka_unit_test(test_added_header),
	    cmocka_unit_test(test_feedback),	 cmocka_unit_test(test_big_body),
	    cmocka_unit_test(test_no_key_reads), cmocka_unit_test(test_sign_failures),
	    cmocka_unit_test(test_verify_rows),	 cmocka_unit_test(test_verify_own_signer),
	    cmocka_unit_test(test_verify_sha1),	 cmocka_unit_test(test_aligned),
	    cmocka_unit_test(test_keygen),	 cmocka_unit_test(test_unload),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
