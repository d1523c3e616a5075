/*
 * conf_value.c - the config loader's error reporting and strict typed
 * accessors: every value the loader keeps goes through one of these, so
 * types, ranges, empty strings and control characters are checked in one
 * place and every error carries "file:line: key.path: message".
 *
 * libconfig 1.5 keeps a plain integer literal in 32 bits and silently wraps
 * anything larger (5000000000 becomes 705032704). conf_scan_literals()
 * (conf_file.c) finds such literals in the raw file text; conf_int_value()
 * refuses a 32-bit setting whose line holds one that wrapped to its value.
 *
 * Memory: error strings are heap (owned by struct conf_errors); paths are
 * copied into the registry arena; the wrapped-literal list is ctx-owned.
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "registry/conf_int.h"

#define CONF_DEPTH_MAX 32 /* key path components shown */

/* ---- error reporting ---------------------------------------------------- */

static void verr(struct conf_ctx *c, const char *file, unsigned line, const char *key,
		 const char *fmt, va_list ap) BW_PRINTF(5, 0);

/* Append one "file:line: key: message"; beyond CONF_ERRORS_MAX errors are
 * counted (so the load still fails) but not kept. */
static void
verr(struct conf_ctx *c, const char *file, unsigned line, const char *key, const char *fmt,
     va_list ap)
{
	char buf[CONF_MSG_MAX];
	struct bw_sbuf b;

	c->n_errors++;
	if (c->errs == NULL || c->errs->n > CONF_ERRORS_MAX)
		return;
	bw_sbuf_init(&b, buf, sizeof(buf));
	if (c->errs->n == CONF_ERRORS_MAX) {
		bw_sbuf_printf(&b, "%s: more than %d errors; the rest are not listed", file,
			       CONF_ERRORS_MAX);
	} else {
		if (line > 0)
			bw_sbuf_printf(&b, "%s:%u: %s: ", file, line, key);
		else
			bw_sbuf_printf(&b, "%s: %s: ", file, key);
		bw_sbuf_vprintf(&b, fmt, ap);
	}
	bw_sbuf_mark_cut(&b, "..."); /* truncated: say so */
	c->errs->msg = xrealloc(c->errs->msg, (c->errs->n + 1) * sizeof(char *));
	c->errs->msg[c->errs->n++] = xstrdup(buf);
}

const char *
conf_resolve_file(struct conf_ctx *c, const char *raw)
{
	if (raw == NULL)
		return c->file;
	if (raw[0] == '/' || c->incdir == NULL)
		return raw;
	for (size_t i = 0; i < c->n_names; i++)
		if (strcmp(c->names[i].raw, raw) == 0)
			return c->names[i].abs;
	size_t dl = strlen(c->incdir), rl = strlen(raw);
	char *abs = arena_alloc(c->a, dl + 1 + rl + 1);
	memcpy(abs, c->incdir, dl);
	abs[dl] = '/';
	memcpy(abs + dl + 1, raw, rl + 1);
	if (c->n_names == c->cap_names) {
		c->cap_names = c->cap_names ? 2 * c->cap_names : 8;
		c->names = xrealloc(c->names, c->cap_names * sizeof(*c->names));
	}
	c->names[c->n_names].raw = arena_strdup(c->a, raw);
	c->names[c->n_names++].abs = abs;
	return abs;
}

const char *
conf_file_of(struct conf_ctx *c, const config_setting_t *s)
{
	for (; s != NULL; s = config_setting_parent(s))
		if (config_setting_source_file(s) != NULL)
			return conf_resolve_file(c, config_setting_source_file(s));
	return c->file;
}

unsigned
conf_line_of(const config_setting_t *s)
{
	unsigned l = s ? config_setting_source_line(s) : 0;
	return l ? l : 1;
}

/* Dotted key path of s from the root: "identities.[0].dkim.[1].key". */
void
conf_key_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *chain[CONF_DEPTH_MAX];
	size_t n = 0, off = 0;

	buf[0] = '\0';
	for (; s != NULL && !config_setting_is_root(s); s = config_setting_parent(s)) {
		if (n == CONF_DEPTH_MAX) {
			off = bw_strlcpy(buf, "...", len);
			break;
		}
		chain[n++] = s;
	}
	while (n > 0 && off < len) {
		const config_setting_t *e = chain[--n];
		char idx[24];
		const char *part = config_setting_name(e);
		if (part == NULL) {
			snprintf(idx, sizeof(idx), "[%d]", config_setting_index(e));
			part = idx;
		}
		int w = snprintf(buf + off, len - off, "%s%s", off ? "." : "", part);
		if (w < 0 || (size_t)w >= len - off) {
			if (len > 4)
				memcpy(buf + len - 4, "...", 4);
			return;
		}
		off += (size_t)w;
	}
	if (buf[0] == '\0')
		bw_strlcpy(buf, "(top level)", len);
}

void
conf_err(struct conf_ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	char key[CONF_KEY_MAX];
	va_list ap;
	conf_key_path(s, key, sizeof(key));
	va_start(ap, fmt);
	verr(c, conf_file_of(c, s), conf_line_of(s), key, fmt, ap);
	va_end(ap);
}

void
conf_err_in(struct conf_ctx *c, const config_setting_t *g, const char *name, const char *fmt, ...)
{
	char key[CONF_KEY_MAX], full[CONF_KEY_MAX];
	va_list ap;
	if (g == NULL || config_setting_is_root(g)) {
		bw_strlcpy(full, name, sizeof(full));
	} else {
		conf_key_path(g, key, sizeof(key));
		int w = snprintf(full, sizeof(full), "%s.%s", key, name);
		if (w < 0 || (size_t)w >= sizeof(full))
			memcpy(full + sizeof(full) - 4, "...", 4);
	}
	va_start(ap, fmt);
	verr(c, conf_file_of(c, g), conf_line_of(g), full, fmt, ap);
	va_end(ap);
}

void
conf_err_at(struct conf_ctx *c, const char *file, unsigned line, const char *key, const char *fmt,
	    ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr(c, file, line, key, fmt, ap);
	va_end(ap);
}

const char *
conf_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "nothing";
	}
}

/* ---- typed accessors ----------------------------------------------------- */

/* Levenshtein distance of two short names, for "did you mean". */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[CONF_NAME_MAX + 1];
	if (la > CONF_NAME_MAX || lb > CONF_NAME_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

bool
conf_keys(struct conf_ctx *c, const config_setting_t *g, int parent)
{
	if (g == NULL)
		return true;
	if (!config_setting_is_group(g)) {
		conf_err(c, g, "expected a group { ... }, got %s",
			 conf_type_name(config_setting_type(g)));
		return false;
	}
	const char *keys[S__COUNT]; /* the group's keys, in table order */
	size_t n = 0;
	for (int k = -1; setting_next_child(parent, &k);)
		keys[n++] = setting_key(setting((enum setting_id)k));
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m), *near = NULL;
		bool ok = false;
		for (size_t k = 0; k < n && !ok; k++)
			ok = strcmp(keys[k], name) == 0;
		if (ok)
			continue;
		/* only an unknown key pays for the "did you mean" search */
		for (size_t k = 0; k < n && near == NULL; k++)
			if (edit_distance(keys[k], name) <= 2)
				near = keys[k];
		if (near != NULL)
			conf_err(c, m, "unknown key (did you mean \"%s\"?)", near);
		else
			conf_err(c, m, "unknown key");
	}
	return true;
}

const config_setting_t *
conf_member(const config_setting_t *g, const char *name)
{
	if (g == NULL || !config_setting_is_group(g))
		return NULL;
	/* not config_setting_get_member(): libconfig compares names a byte at
	 * a time through strchr (path separators), 6% of a 100,000-identity
	 * load; names are unique in a group (libconfig refuses duplicates) */
	int n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *mn = config_setting_name(m);
		if (mn != NULL && strcmp(mn, name) == 0)
			return m;
	}
	return NULL;
}

const config_setting_t *
conf_at(const config_setting_t *g, enum setting_id id)
{
	return conf_member(g, setting_key(setting(id)));
}

/* The member of g row id names, with the present-or-required bookkeeping
 * shared by the accessors. */
static const config_setting_t *
lookup(struct conf_ctx *c, const config_setting_t *g, enum setting_id id)
{
	const config_setting_t *s = conf_at(g, id);
	if (s == NULL && (setting(id)->flags & SETTING_REQUIRED))
		conf_err_in(c, g, setting_key(setting(id)), "required key missing");
	return s;
}

bool
conf_text_clean(const char *v, size_t max)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++, n++)
		if (*p < 0x20 || *p == 0x7f || n >= max)
			return false;
	return n > 0;
}

bool
conf_text_ok(struct conf_ctx *c, const config_setting_t *s, const char *v, size_t max)
{
	if (v[0] == '\0') {
		conf_err(c, s, "must not be empty");
		return false;
	}
	if (strlen(v) > max) {
		conf_err(c, s, "longer than %zu bytes", max);
		return false;
	}
	if (!conf_text_clean(v, max)) {
		conf_err(c, s, "contains control characters");
		return false;
	}
	return true;
}

int
conf_str(struct conf_ctx *c, const config_setting_t *g, enum setting_id id, const char **out)
{
	const config_setting_t *s = lookup(c, g, id);
	if (s == NULL)
		return 0;
	return conf_str_value(c, s, out);
}

int
conf_str_value(struct conf_ctx *c, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(c, s, "expected a string, got %s", conf_type_name(config_setting_type(s)));
		return -1;
	}
	const char *v = config_setting_get_string(s);
	if (!conf_text_ok(c, s, v, CONF_STR_MAX))
		return -1;
	*out = v;
	return 1;
}

/* Did libconfig wrap the literal behind this 32-bit setting? */
static const struct conf_wrapped *
wrapped_literal(struct conf_ctx *c, const config_setting_t *s)
{
	const char *file = conf_file_of(c, s);
	for (size_t i = 0; i < c->n_wrapped; i++) {
		const struct conf_wrapped *w = &c->wrapped[i];
		if (w->line == config_setting_source_line(s) &&
		    w->value == config_setting_get_int(s) && file != NULL &&
		    strcmp(w->file, file) == 0)
			return w;
	}
	return NULL;
}

bool
conf_int_value(struct conf_ctx *c, const config_setting_t *s, long long lo, long long hi,
	       long long *out)
{
	long long v;
	const struct conf_wrapped *w;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		if ((w = wrapped_literal(c, s)) != NULL) {
			if (hi > INT_MAX)
				conf_err(c, s, "%s does not fit a 32-bit integer; write %sL",
					 w->text, w->text);
			else
				conf_err(c, s, "%s is out of range (%lld..%lld)", w->text, lo, hi);
			return false;
		}
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		break;
	default:
		conf_err(c, s, "expected an integer, got %s",
			 conf_type_name(config_setting_type(s)));
		return false;
	}
	if (v < lo || v > hi) {
		conf_err(c, s, "%lld is out of range (%lld..%lld)", v, lo, hi);
		return false;
	}
	*out = v;
	return true;
}

int
conf_int(struct conf_ctx *c, const config_setting_t *g, enum setting_id id, long long *out)
{
	const config_setting_t *s = lookup(c, g, id);
	if (s == NULL)
		return 0;
	return conf_int_value(c, s, setting(id)->min, setting(id)->max, out) ? 1 : -1;
}

int
conf_word(struct conf_ctx *c, const config_setting_t *g, enum setting_id id, int *out)
{
	const char *const *names = setting(id)->words;
	const char *v;
	int rc = conf_str(c, g, id, &v);
	if (rc <= 0)
		return rc;
	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], v) == 0) {
			*out = i;
			return 1;
		}
	char list[CONF_MSG_MAX / 2];
	size_t off = 0;
	list[0] = '\0';
	for (int i = 0; names[i] != NULL && off < sizeof(list); i++) {
		int w = snprintf(list + off, sizeof(list) - off, "%s%s", i ? " | " : "", names[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	conf_err(c, conf_at(g, id), "\"%s\" is not one of %s", v, list);
	return -1;
}

int
conf_strlist(struct conf_ctx *c, const config_setting_t *g, enum setting_id id,
	     const config_setting_t **out)
{
	const config_setting_t *s = lookup(c, g, id);
	int rc = 1;
	if (s == NULL)
		return 0;
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		conf_err(c, s, "expected a list of strings [ \"...\", ... ], got %s",
			 conf_type_name(config_setting_type(s)));
		return -1;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			conf_err(c, e, "expected a string, got %s",
				 conf_type_name(config_setting_type(e)));
			rc = -1;
		} else if (!conf_text_ok(c, e, config_setting_get_string(e), CONF_STR_MAX)) {
			rc = -1;
		}
	}
	*out = s;
	return rc;
}

int
conf_group(struct conf_ctx *c, const config_setting_t *g, enum setting_id id,
	   const config_setting_t **out)
{
	const config_setting_t *s = lookup(c, g, id);
	if (s == NULL)
		return 0;
	if (!config_setting_is_group(s)) {
		conf_err(c, s, "expected a group { ... }, got %s",
			 conf_type_name(config_setting_type(s)));
		return -1;
	}
	*out = s;
	return 1;
}

const char *
conf_path(struct conf_ctx *c, const config_setting_t *s, const char *v)
{
	const char *file = conf_file_of(c, s);
	const char *slash = file ? strrchr(file, '/') : NULL;
	if (v[0] == '/' || slash == NULL)
		return arena_strdup(c->a, v);
	size_t dl = (size_t)(slash - file);
	char *p = arena_alloc(c->a, dl + 1 + strlen(v) + 1);
	memcpy(p, file, dl);
	p[dl] = '/';
	strcpy(p + dl + 1, v);
	return p;
}

void
conf_actions(struct conf_ctx *c, const config_setting_t *g, enum bw_action *acts,
	     const enum bw_action *floor)
{
	if (g == NULL)
		return;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		int chk = check_by_name(config_setting_name(m));
		enum bw_action act;
		if (chk < 0) {
			conf_err(c, m, "unknown check id");
			continue;
		}
		if (chk == BW_CHK_INTERNAL_ERROR) {
			conf_err(c, m, "not a per-check action; set milter.on_internal_error");
			continue;
		}
		if (config_setting_type(m) != CONFIG_TYPE_STRING) {
			conf_err(c, m, "expected a string, got %s",
				 conf_type_name(config_setting_type(m)));
			continue;
		}
		const char *v = config_setting_get_string(m);
		if (!check_action_parse(v, &act)) {
			conf_err(
			    c, m,
			    "\"%s\" is not an action (reject | tempfail | quarantine | accept)", v);
			continue;
		}
		if (chk == BW_CHK_SUSPENDED && act < BW_ACT_TEMPFAIL) {
			/* SPEC §3: a suspension is enforced in every mode */
			conf_err(c, m,
				 "\"%s\" is not allowed: a suspension is always enforced "
				 "(reject | tempfail)",
				 v);
			continue;
		}
		if (floor != NULL && act < floor[chk]) {
			conf_err(c, m, "\"%s\" loosens the baseline (policy.actions.%s is \"%s\")",
				 v, config_setting_name(m), check_action_name(floor[chk]));
			continue;
		}
		acts[chk] = act;
	}
}
