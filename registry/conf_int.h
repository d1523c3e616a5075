/*
 * conf_int.h - private to the config loader (conf.c, conf_identity.c):
 * the load context, error reporting with file:line and key path, and the
 * strict typed accessors every section parser goes through. Accessors take
 * a row of the settings table (settings.h), never a key name or a bound of
 * their own.
 */
#ifndef BW_CONF_INT_H
#define BW_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <libconfig.h>

#include "base/util.h"
#include "registry/conf.h"
#include "registry/registry.h"
#include "registry/settings.h"

#define CONF_KEY_MAX 256    /* key path in messages, e.g. identities.[0].dkim.[1].key */
#define CONF_MSG_MAX 1024   /* one error line */
#define CONF_ERRORS_MAX 500 /* messages kept; later errors are counted, not kept */
#define CONF_FILE_MAX (16u * 1024 * 1024) /* bytes of one config file */
#define CONF_STR_MAX 4096		  /* any string value */
#define CONF_LOGIN_MAX 255
#define CONF_NAME_MAX 64 /* role names; key names compared for "did you mean" */

/* An integer literal libconfig could not hold in 32 bits (it wraps them
 * silently); found by scanning the raw file text. */
struct conf_wrapped {
	const char *file;
	unsigned line;
	int value; /* what libconfig stored */
	char text[32];
};

/* One occurrence of an id or login, for the cross-identity checks. */
struct conf_seen {
	const char *key;   /* the id or login */
	const char *owner; /* identity id that lists it */
	const char *file;
	unsigned line;
	const char *path; /* key path of the occurrence */
	size_t order;
};

/* A file name as libconfig records it (an @include is kept relative) and
 * the path it was read from. */
struct conf_name {
	const char *raw;
	const char *abs;
};

struct conf_ctx {
	struct registry *r;
	struct arena *a;
	struct conf_errors *errs;
	size_t n_errors;	 /* all errors, including the ones not kept */
	void *md;		 /* EVP_MD_CTX for the revision */
	const char *file;	 /* file being read, for messages without a setting */
	const char *incdir;	 /* @include directory of the file being read */
	struct conf_name *names; /* resolved @include names of the current file */
	size_t n_names, cap_names;

	struct conf_wrapped *wrapped;
	size_t n_wrapped, cap_wrapped;
	struct conf_seen *ids, *logins;
	size_t n_ids, cap_ids, n_logins, cap_logins;
	uid_t milter_uid; /* milter.user, once the settings are parsed; else -1 */
};

/* Errors: "file:line: key: message". */
void conf_err(struct conf_ctx *c, const config_setting_t *s, const char *fmt, ...) BW_PRINTF(3, 4);
/* Error about key name inside group g (e.g. a missing required key). */
void conf_err_in(struct conf_ctx *c, const config_setting_t *g, const char *name, const char *fmt,
		 ...) BW_PRINTF(4, 5);
void conf_err_at(struct conf_ctx *c, const char *file, unsigned line, const char *key,
		 const char *fmt, ...) BW_PRINTF(5, 6);
/* The path of the file s was read from (libconfig keeps @include names
 * relative to the include directory; this resolves them). */
const char *conf_file_of(struct conf_ctx *c, const config_setting_t *s);
const char *conf_resolve_file(struct conf_ctx *c, const char *raw);
unsigned conf_line_of(const config_setting_t *s);
void conf_key_path(const config_setting_t *s, char *buf, size_t len);
const char *conf_type_name(int type);

/* g must be a group whose keys are all children of row parent in the
 * settings table (a row id, S_ROOT or S_IDFILE_ROOT); unknown keys are
 * reported with a "did you mean". A NULL g is fine (section absent).
 * Returns false if g is not a group. */
bool conf_keys(struct conf_ctx *c, const config_setting_t *g, int parent);

/* Typed accessors on the member of group g that row id names (g may be
 * NULL); required-ness, bounds and vocabulary come from the row. Return 1
 * when the key is present and valid, 0 when absent (an error if the row is
 * required), -1 after reporting an error. */
int conf_str(struct conf_ctx *c, const config_setting_t *g, enum setting_id id,
	     const char **out);
/* The string value of setting s itself (a member of a map: owners.ROLE). */
int conf_str_value(struct conf_ctx *c, const config_setting_t *s, const char **out);
int conf_int(struct conf_ctx *c, const config_setting_t *g, enum setting_id id, long long *out);
/* *out: the index of the word in the row's words[]. */
int conf_word(struct conf_ctx *c, const config_setting_t *g, enum setting_id id, int *out);
/* A list of IP addresses (no prefixes) into out (arena), errors per entry. */
void conf_ip_list(struct conf_ctx *c, const config_setting_t *g, enum setting_id id,
		  const char ***out, size_t *n_out);
/* A list or array of strings; *out is the setting (elements all strings). */
int conf_strlist(struct conf_ctx *c, const config_setting_t *g, enum setting_id id,
		 const config_setting_t **out);
/* A group member that must itself be a group (NULL g or absent: 0). */
int conf_group(struct conf_ctx *c, const config_setting_t *g, enum setting_id id,
	       const config_setting_t **out);
/* The defaults of the table into s (rows stored in struct bw_settings). */
void conf_defaults(struct conf_ctx *c, struct bw_settings *s);
/* Every key of group g (row parent) the table can parse and store by itself
 * (not SETTING_CUSTOM) into c->r->set; unknown keys reported. False if g
 * is not a group. */
bool conf_section(struct conf_ctx *c, const config_setting_t *g, int parent);

/* Member name of group g, or NULL (g NULL or not a group, or absent). */
const config_setting_t *conf_member(const config_setting_t *g, const char *name);
/* The member of g that row id names (its key), or NULL. */
const config_setting_t *conf_at(const config_setting_t *g, enum setting_id id);
/* Non-empty, no control characters, at most max bytes (no report). */
bool conf_text_clean(const char *v, size_t max);
/* Integer value of a setting in [lo, hi]; reports and returns false otherwise. */
bool conf_int_value(struct conf_ctx *c, const config_setting_t *s, long long lo, long long hi,
		    long long *out);
/* String value free of control characters, at most max bytes. */
bool conf_text_ok(struct conf_ctx *c, const config_setting_t *s, const char *v, size_t max);
/* Owner role names: [a-z][a-z0-9_-]* (policy.require_owners, identity owners). */
bool conf_role_ok(const char *r);
/* v resolved against the directory of the file s appears in; arena copy. */
const char *conf_path(struct conf_ctx *c, const config_setting_t *s, const char *v);

/* Per-check actions group into acts[] (already holding the defaults). With
 * floor non-NULL (identity overrides) a weaker action than floor[] is an
 * error: identities may tighten the baseline, never loosen it. */
void conf_actions(struct conf_ctx *c, const config_setting_t *g, enum bw_action *acts,
		  const enum bw_action *floor);

/* conf_file.c: one config file read and parsed, not yet taken into the
 * load (parsing touches no shared state and may run in any thread). */
struct conf_parsed {
	config_t cf;
	char *buf; /* the file's bytes, NUL-terminated */
	size_t len;
	mode_t mode;
	uid_t uid; /* owner and group: who else can write the policy */
	gid_t gid;
	int read_errno; /* 0: read; EINVAL: not a regular file; ENAMETOOLONG */
	bool nul;	/* a NUL byte in the file: not parsed */
	bool ok;	/* libconfig parsed it */
};
/* Read path once and parse it from memory (path NULL: too long). */
void conf_file_parse(const char *path, const char *include_dir, struct conf_parsed *p);
/* In load order: report read and syntax errors, or check, hash and scan the
 * file and its @includes. True when p->cf can be used. */
bool conf_file_take(struct conf_ctx *c, struct conf_parsed *p, const char *path,
		    const char *include_dir);
void conf_file_release(struct conf_parsed *p);
/* Refuse a file others than root, this process's user or milter.user (once
 * the settings are parsed) can write: owner, group write (a group other
 * than root's), world write. */
void conf_file_check_owner(struct conf_ctx *c, const char *path, mode_t mode, uid_t uid, gid_t gid);
/* The same for a directory of policy files. any_file: every *.conf in it
 * is loaded (identities_dir), so even a sticky world-writable one is
 * refused; otherwise only a rename over the file matters (sticky is enough). */
void conf_dir_check(struct conf_ctx *c, const char *dir, const char *key, bool any_file);
/* Parse dir/names[0..n) ahead in worker threads; take them in order with
 * get (blocks; *path NULL when dir/name is too long) and put. */
struct conf_readahead;
/* Worker threads at most (tests set 0 to compare with a serial load). */
extern int conf_readahead_max_workers;
struct conf_readahead *conf_readahead_start(const char *dir, const char *const *names, size_t n);
struct conf_parsed *conf_readahead_get(struct conf_readahead *ra, size_t i, const char **path);
void conf_readahead_put(struct conf_readahead *ra, size_t i);
void conf_readahead_end(struct conf_readahead *ra);

/* Record the integer literals of one file's text that libconfig wrapped. */
void conf_scan_literals(struct conf_ctx *c, const char *file, const char *b, size_t len);
/* Feed a key's public fingerprint into the revision. */
void conf_hash_key(struct conf_ctx *c, const char *path, const unsigned char sha[32]);
void conf_seen_add(struct conf_ctx *c, bool login, const char *key, const char *owner,
		   const config_setting_t *s);

/* conf_identity.c: validate one identity group into id (baseline from
 * c->r->set, which must be complete). */
void conf_identity(struct conf_ctx *c, const config_setting_t *g, struct bw_identity *id);
/* conf_identity.c: report ids and logins seen more than once. */
void conf_identity_duplicates(struct conf_ctx *c);


/* Signal thresholds (conf_governance.c): the table's defaults into s;
 * policy.governance's signal groups (gov may be NULL); an identity's
 * identity.governance (tighten only; starts from the baseline's). */
void conf_governance_defaults(struct bw_settings *s);
/* A SETTING_FLOAT row id of group g (integer or decimal, within the row's
 * bounds in millionths) into *out: 1 present, 0 absent, -1 reported. */
int conf_float(struct conf_ctx *c, const config_setting_t *g, enum setting_id id, double *out);
void conf_governance(struct conf_ctx *c, const config_setting_t *gov);
void conf_identity_governance(struct conf_ctx *c, const config_setting_t *idg,
			      struct bw_identity *id);

#endif
