/*
 * test_settings.c - the settings table (registry/settings.c) against itself,
 * against bulkwarden.conf(5), and against the event log.
 *
 * - shape: names unique, rows depth-first (a group's subtree contiguous),
 *   defaults inside their bounds and vocabularies, and no main-file key the
 *   loader would accept without storing (a dead setting).
 * - the manual: every key of the table is documented in SETTINGS or
 *   IDENTITIES (".SS key", or ".TP" then ".B key"), every entry names a key
 *   the loader takes, and each entry mentions its default and bounds. The
 *   same comparison run on the page with one key removed, or one key added,
 *   must fail.
 * - syslog: every facility the loader accepts reaches syslog(3) as that
 *   facility (glibc's own facilitynames[] is the reference), captured by
 *   syslog_capture.c; an unknown facility is refused by the event log.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define SYSLOG_NAMES /* glibc: facilitynames[], the reference mapping */
#include <syslog.h>

#include "log/eventlog.h"
#include "registry/conf.h"
#include "registry/registry.h"
#include "registry/settings.h"

#define REPORT_MAX 8192
#define MAN_PAGE "man/bulkwarden.conf.5"

extern int syslog_capture_pri; /* syslog_capture.c */

/* ---- the table's shape ---------------------------------------------------- */

static void
test_shape(void **state)
{
	(void)state;
	for (int i = 0; i < S__COUNT; i++) {
		const struct setting *s = setting((enum setting_id)i);
		assert_non_null(s->name);
		assert_non_null(s->doc);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(settings[j].name, s->name);
		/* the parent is an earlier group or list, and every row between
		 * them is in the parent's subtree */
		const char *dot = strrchr(s->name, '.');
		if (dot != NULL) {
			char parent[128];
			size_t pl = (size_t)(dot - s->name);
			assert_true(pl < sizeof(parent));
			memcpy(parent, s->name, pl);
			parent[pl] = '\0';
			int p = setting_by_name(parent);
			if (p < 0 || p >= i)
				print_message("%s: no earlier parent %s\n", s->name, parent);
			assert_true(p >= 0 && p < i);
			assert_true(settings[p].type == SETTING_GROUP ||
				    settings[p].type == SETTING_LIST);
			for (int k = p + 1; k < i; k++)
				assert_true(strncmp(settings[k].name, parent, pl) == 0 &&
					    settings[k].name[pl] == '.');
		}
		if (s->type == SETTING_INT && s->def != NULL && s->store != STORE_NONE) {
			assert_true(s->min <= s->idef && s->idef <= s->max);
			char d[32];
			snprintf(d, sizeof(d), "%lld", s->idef);
			assert_string_equal(d, s->def);
		}
		if (s->type == SETTING_INT)
			assert_true(s->min <= s->max);
		if (s->type == SETTING_WORD) {
			int v;
			assert_non_null(s->words);
			if (s->def != NULL && strchr(s->def, '.') == NULL)
				assert_true(setting_word_value((enum setting_id)i, s->def, &v));
		}
		/* a main-file key the generic pass neither stores nor hands to
		 * the loader's own code would be accepted and ignored */
		bool in_identity = strncmp(s->name, "identity", 8) == 0;
		if (!in_identity && s->type != SETTING_GROUP && !(s->flags & SETTING_CUSTOM)) {
			if (s->store == STORE_NONE)
				print_message("%s: dead setting (no store, not custom)\n", s->name);
			assert_int_not_equal(s->store, STORE_NONE);
		}
	}
	/* children of the two roots */
	int n = 0, k;
	for (k = -1; setting_next_child(S_ROOT, &k);)
		n++;
	assert_int_equal(n, 9); /* milter relay state log dns metrics policy identities_dir identities */
	k = -1;
	assert_true(setting_next_child(S_IDFILE_ROOT, &k));
	assert_int_equal(k, S_IDENTITY);
	assert_false(setting_next_child(S_IDFILE_ROOT, &k));
	assert_string_equal(setting_key(setting(S_STATE_REDIS_PORT)), "port");
}

/* ---- the manual page ---------------------------------------------------------- */

/* Whole file into a NUL-terminated heap buffer. */
static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, n = 0, r;
	char *b = malloc(cap + 1);
	while ((r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			b = realloc(b, (cap *= 2) + 1);
	}
	fclose(f);
	b[n] = '\0';
	return b;
}

static bool
key_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '.'))
			return false;
	return true;
}

/* Append one problem to the report. */
static void problem(char *rep, size_t len, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
problem(char *rep, size_t len, size_t *n, const char *fmt, ...)
{
	size_t off = strlen(rep);
	va_list ap;
	va_start(ap, fmt);
	if (off < len)
		vsnprintf(rep + off, len - off, fmt, ap);
	va_end(ap);
	off = strlen(rep);
	if (off + 1 < len) {
		rep[off] = '\n';
		rep[off + 1] = '\0';
	}
	(*n)++;
}

/* The text of a troff line without its macro, quotes and escapes, appended
 * to out (bounded): enough to find a default or a range in it. */
static void
plain_append(const char *line, char *out, size_t len)
{
	size_t o = strlen(out);
	if (line[0] == '.') { /* .B/.BR/.IR...: drop the macro name */
		while (*line && *line != ' ')
			line++;
	}
	for (const char *p = line; *p && o + 2 < len; p++) {
		if (*p == '"')
			continue;
		if (*p == '\\') {
			if (p[1] == '-' || p[1] == ' ') {
				out[o++] = p[1] == '-' ? '-' : ' ';
				p++;
			} else if (p[1] == '(' && p[2] && p[3]) {
				if (strncmp(p + 2, "dq", 2) == 0)
					out[o++] = '"';
				p += 3;
			} else if (p[1] == 'f' && p[2]) {
				p += 2;
			} else if (p[1]) {
				p++;
			}
			continue;
		}
		out[o++] = *p;
	}
	out[o++] = ' ';
	out[o] = '\0';
}

/* A default path as the page writes it: the page documents the packaged
 * layout (/run, /var), whatever --runstatedir and --localstatedir this
 * build was configured with. */
static const char *
page_path(const char *def, char *buf, size_t len)
{
	static const struct { const char *built, *page; } dirs[] = {
#ifdef RUNSTATEDIR
	    {RUNSTATEDIR, "/run"},
#endif
#ifdef LOCALSTATEDIR
	    {LOCALSTATEDIR, "/var"},
#endif
	    {NULL, NULL}};
	const char *unix_ = strncmp(def, "unix:", 5) == 0 ? "unix:" : "";
	const char *p = def + strlen(unix_);
	for (size_t k = 0; dirs[k].built != NULL; k++) {
		size_t bl = strlen(dirs[k].built);
		if (strncmp(p, dirs[k].built, bl) == 0 && p[bl] == '/') {
			snprintf(buf, len, "%s%s%s", unix_, dirs[k].page, p + bl);
			return buf;
		}
	}
	snprintf(buf, len, "%s", def);
	return buf;
}

/*
 * Compare a manual page with the table. Keys are documented in the SETTINGS
 * and IDENTITIES sections only, by ".SS key" or by ".TP" followed by
 * ".B key"; any other .TP there is an error. Each entry must mention its
 * row's default (for a list: each default word) and, for a main-file
 * integer, its range "min-max". Returns the number of problems, listed in
 * rep.
 */
static size_t
man_compare(const char *page, char *rep, size_t len)
{
	bool documented[S__COUNT] = {false};
	static char text[S__COUNT][2048]; /* each entry's plain text */
	size_t n = 0;
	bool in_keys = false, after_tp = false;
	int cur = -1;
	unsigned lineno = 0;

	rep[0] = '\0';
	memset(text, 0, sizeof(text));
	for (const char *p = page; *p;) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		char line[1024];
		if (ll >= sizeof(line))
			ll = sizeof(line) - 1;
		memcpy(line, p, ll);
		line[ll] = '\0';
		p += eol ? (size_t)(eol - p) + 1 : strlen(p);
		lineno++;

		if (strncmp(line, ".SH ", 4) == 0) {
			in_keys = strcmp(line + 4, "SETTINGS") == 0 ||
				  strcmp(line + 4, "IDENTITIES") == 0;
			cur = -1;
			continue;
		}
		if (!in_keys)
			continue;
		const char *key = NULL;
		if (after_tp) {
			after_tp = false;
			if (strncmp(line, ".B ", 3) != 0 || !key_token(line + 3)) {
				problem(rep, len, &n,
					"line %u: a .TP entry that is not \".B key\": %s", lineno,
					line);
				cur = -1;
				continue;
			}
			key = line + 3;
		} else if (strcmp(line, ".TP") == 0) {
			after_tp = true;
			continue;
		} else if (strncmp(line, ".SS ", 4) == 0) {
			cur = -1;
			if (key_token(line + 4))
				key = line + 4;
			else
				continue;
		}
		if (key != NULL) {
			cur = setting_by_name(key);
			if (cur < 0)
				problem(rep, len, &n,
					"line %u: documents \"%s\", a key the loader does not take",
					lineno, key);
			else if (documented[cur])
				problem(rep, len, &n, "line %u: documents \"%s\" twice", lineno,
					key);
			else
				documented[cur] = true;
			continue;
		}
		if (cur >= 0 && strncmp(line, ".\\\"", 3) != 0) /* not a comment */
			plain_append(line, text[cur], sizeof(text[cur]));
	}
	for (int i = 0; i < S__COUNT; i++) {
		const struct setting *s = setting((enum setting_id)i);
		char def[512];
		if (!documented[i]) {
			problem(rep, len, &n, "\"%s\" is not documented", s->name);
			continue;
		}
		if (s->type == SETTING_STRLIST && s->words != NULL) {
			for (int w = 0; s->words[w] != NULL; w++)
				if (strstr(text[i], s->words[w]) == NULL)
					problem(rep, len, &n,
						"\"%s\": default \"%s\" not mentioned", s->name,
						s->words[w]);
		} else if (s->def != NULL && strstr(text[i], page_path(s->def, def, sizeof(def))) == NULL) {
			problem(rep, len, &n, "\"%s\": default \"%s\" not mentioned", s->name,
				def);
		}
		if (s->type == SETTING_INT && s->store != STORE_NONE) {
			char range[64];
			snprintf(range, sizeof(range), "%lld-%lld", s->min, s->max);
			if (strstr(text[i], range) == NULL)
				problem(rep, len, &n, "\"%s\": range %s not mentioned", s->name,
					range);
		}
	}
	return n;
}

static char *
man_page(void)
{
	const char *top = getenv("top_srcdir");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", top && *top ? top : "..", MAN_PAGE);
	char *page = read_all(path);
	if (page == NULL)
		print_message("cannot read %s\n", path);
	assert_non_null(page);
	return page;
}

static void
test_man_page(void **state)
{
	(void)state;
	char *page = man_page(), rep[REPORT_MAX];
	size_t n = man_compare(page, rep, sizeof(rep));
	if (n != 0)
		print_message("bulkwarden.conf(5) and registry/settings.c disagree:\n%s", rep);
	assert_int_equal(n, 0);
	free(page);
}

/* The comparison fails when an entry is removed from the page, or a key the
 * loader does not take is added. */
static void
test_man_page_mutations(void **state)
{
	(void)state;
	char *page = man_page(), rep[REPORT_MAX];

	/* drop ".TP\n.B dns.timeout\n" */
	char *cut = strstr(page, ".TP\n.B dns.timeout\n");
	assert_non_null(cut);
	char *less = strdup(page);
	size_t at = (size_t)(cut - page), dl = strlen(".TP\n.B dns.timeout\n");
	memmove(less + at, less + at + dl, strlen(less + at + dl) + 1);
	assert_true(man_compare(less, rep, sizeof(rep)) > 0);
	assert_non_null(strstr(rep, "\"dns.timeout\" is not documented"));
	free(less);

	/* add the dead state.on_error back */
	const char *extra = ".TP\n.B state.on_error\nGone.\n";
	cut = strstr(page, ".SS log\n");
	assert_non_null(cut);
	at = (size_t)(cut - page);
	char *more = malloc(strlen(page) + strlen(extra) + 1);
	memcpy(more, page, at);
	strcpy(more + at, extra);
	strcat(more, page + at);
	assert_true(man_compare(more, rep, sizeof(rep)) > 0);
	assert_non_null(strstr(rep, "\"state.on_error\", a key the loader does not take"));
	free(more);

	/* a .TP entry naming two keys at once is not in the convention */
	const char *two = ".TP\n.BR dns.timeout \", \" dns.cache_ttl\nBoth.\n";
	more = malloc(strlen(page) + strlen(two) + 1);
	memcpy(more, page, at);
	strcpy(more + at, two);
	strcat(more, page + at);
	assert_true(man_compare(more, rep, sizeof(rep)) > 0);
	assert_non_null(strstr(rep, "is not \".B key\""));
	free(more);
	free(page);
}

/* ---- syslog facilities ---------------------------------------------------------- */

/* glibc's value of facility name, or -1. */
static int
reference_facility(const char *name)
{
	for (const CODE *c = facilitynames; c->c_name != NULL; c++)
		if (strcmp(c->c_name, name) == 0)
			return c->c_val;
	return -1;
}

static void
test_facilities(void **state)
{
	(void)state;
	const struct setting *row = setting(S_LOG_FACILITY);
	char dir[] = "/tmp/bw-test-settings.XXXXXX", path[PATH_MAX], conf[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f.conf", dir);

	for (int i = 0; row->words[i] != NULL; i++) {
		const char *w = row->words[i];
		int want = reference_facility(w), got;
		if (want < 0)
			print_message("facility %s: unknown to syslog.h\n", w);
		assert_true(want >= 0);
		assert_true(setting_word_value(S_LOG_FACILITY, w, &got));
		assert_int_equal(got, want);

		/* the loader takes it ... */
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		snprintf(conf, sizeof(conf), "log = { target = \"syslog\"; facility = \"%s\"; };\n",
			 w);
		fputs(conf, f);
		fclose(f);
		struct conf_errors errs;
		struct registry *r = conf_load(path, 1700000000, &errs);
		assert_non_null(r);
		assert_string_equal(r->set.log_facility, w);

		/* ... and the event log writes to that facility */
		__atomic_store_n(&syslog_capture_pri, -1, __ATOMIC_SEQ_CST);
		assert_int_equal(
		    eventlog_open(r->set.log_target, r->set.log_path, r->set.log_facility), 0);
		assert_int_equal(eventlog_write("{}\n", 3), 0);
		eventlog_close();
		int pri = __atomic_load_n(&syslog_capture_pri, __ATOMIC_SEQ_CST);
		if ((pri & LOG_FACMASK) != want)
			print_message("facility %s: logged as %d, want %d\n", w, pri & LOG_FACMASK,
				      want);
		assert_int_equal(pri & LOG_FACMASK, want);
		assert_int_equal(LOG_PRI(pri), LOG_INFO);
		registry_release(r);
	}
	/* the default is mail, and an unknown name is refused, not mapped to it */
	__atomic_store_n(&syslog_capture_pri, -1, __ATOMIC_SEQ_CST);
	assert_int_equal(eventlog_open("syslog", NULL, NULL), 0);
	assert_int_equal(eventlog_write("{}\n", 3), 0);
	eventlog_close();
	assert_int_equal(__atomic_load_n(&syslog_capture_pri, __ATOMIC_SEQ_CST) & LOG_FACMASK,
			 LOG_MAIL);
	errno = 0;
	assert_int_equal(eventlog_open("syslog", NULL, "mail2"), -1);
	assert_int_equal(errno, EINVAL);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shape),
	    cmocka_unit_test(test_man_page),
	    cmocka_unit_test(test_man_page_mutations),
	    cmocka_unit_test(test_facilities),
	};
	return cmocka_run_group_tests_name("settings", tests, NULL, NULL);
}
