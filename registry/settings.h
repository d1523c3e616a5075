/*
 * settings.h - every key of bulkwarden.conf(5) in one table (settings.c), in
 * the manner of Postfix's mail_params.h: per key its dotted name, type,
 * default (with the reason for it beside it), bounds or vocabulary, and a
 * line of documentation. The loader takes names, required-ness, bounds,
 * vocabularies and defaults from here and nowhere else; the test of the
 * manual page (tests/unit/test_settings.c) compares the page with it.
 */
#ifndef BW_SETTINGS_H
#define BW_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

enum setting_type {
	SETTING_GROUP,		/* { ... }: its keys are the rows named "<name>.<key>" */
	SETTING_LIST,		/* ( { ... }, ... ): each element such a group */
	SETTING_MAP,		/* { name = value; ... }: names of its own (roles, check ids) */
	SETTING_STRING,		/* non-empty, no control characters */
	SETTING_PATH,		/* a string; relative to the file it appears in */
	SETTING_INT,		/* min..max */
	SETTING_MODE,		/* an octal file mode as a string, "0660" */
	SETTING_WORD,		/* a string among words[] */
	SETTING_STRLIST,	/* [ "...", ... ]; max > 0: at most max elements */
	SETTING_DATE,		/* ISO 8601: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ */
	SETTING_FLAG_OR_STRING, /* true, false or a string */
	SETTING_FLOAT,		/* a number (integer or decimal) in min..max / SETTING_FLOAT_SCALE */
};

/* SETTING_FLOAT bounds are integers in millionths: min 0, max 1000000 is 0..1. */
#define SETTING_FLOAT_SCALE 1000000.0

/* Where a parsed value goes in struct bw_settings (identity keys: nowhere,
 * conf_identity.c keeps them; they take their defaults from the table too). */
enum setting_store {
	STORE_NONE,
	STORE_STR,  /* const char *: the string, the word, the resolved path */
	STORE_UINT, /* unsigned */
	STORE_INT,  /* int */
	STORE_ENUM, /* an int-sized enum: values[i] of the word, or i */
};

#define SETTING_REQUIRED 0x1u /* the group is incomplete without it */
#define SETTING_CUSTOM                                                                             \
	0x2u		    /* validated by the loader's own code (the default still               \
			       comes from here) */
#define SETTING_IDFILE 0x4u /* the one top-level key of an identities_dir file */

/* identity.dkim_sign_headers / dkim_oversign_headers: names added to the
 * defaults, at most (libopendkim builds a 1 KiB regex of them). */
#define SETTING_DKIM_HDRS_EXTRA_MAX 16

/* Rows in depth-first order: a group's rows follow it, its subtree is
 * contiguous (settings_children() relies on it; test_settings checks it). */
enum setting_id {
	S_MILTER,
	S_MILTER_SOCKET,
	S_MILTER_USER,
	S_MILTER_PIDFILE,
	S_MILTER_SOCKET_MODE,
	S_MILTER_ON_INTERNAL_ERROR,
	S_MILTER_ALLOW_REMOTE,
	S_RELAY,
	S_RELAY_EGRESS_IPS,
	S_STATE,
	S_STATE_BACKEND,
	S_STATE_PATH,
	S_STATE_STALE_AFTER,
	S_STATE_REDIS,
	S_STATE_REDIS_HOST,
	S_STATE_REDIS_PORT,
	S_STATE_REDIS_PREFIX,
	S_STATE_REDIS_PASSWORD_FILE,
	S_STATE_REDIS_SENTINELS,
	S_STATE_REDIS_MASTER,
	S_STATE_REDIS_DB,
	S_STATE_REDIS_USERNAME,
	S_STATE_REDIS_TIMEOUT_MS,
	S_LOG,
	S_LOG_TARGET,
	S_LOG_PATH,
	S_LOG_FACILITY,
	S_LOG_COUNTERS_INTERVAL,
	S_DNS,
	S_DNS_NAMESERVERS,
	S_DNS_TIMEOUT,
	S_DNS_CACHE_TTL,
	S_DNS_DNSSEC,
	S_DNS_TRUST_ANCHOR,
	S_METRICS,
	S_METRICS_LISTEN,
	S_METRICS_PER_IDENTITY,
	S_POLICY,
	S_POLICY_MODE,
	S_POLICY_REQUIRE_OWNERS,
	S_POLICY_MIN_DMARC_POLICY,
	S_POLICY_DKIM_MIN_RSA_BITS,
	S_POLICY_MAX_RECIPIENTS,
	S_POLICY_ACTIONS,
	S_POLICY_REQUIRE_REAPPROVAL,
	S_POLICY_GOVERNANCE,
	S_POLICY_GOVERNANCE_DORMANT_DAYS,
	S_POLICY_GOVERNANCE_COMPLAINT_RATE,
	S_POLICY_GOVERNANCE_COMPLAINT_RATE_WARN,
	S_POLICY_GOVERNANCE_COMPLAINT_RATE_SUSPEND,
	S_POLICY_GOVERNANCE_COMPLAINT_RATE_MIN_MESSAGES,
	S_POLICY_GOVERNANCE_COMPLAINT_RATE_WINDOW_HOURS,
	S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE,
	S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_WARN,
	S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_SUSPEND,
	S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_MIN_MESSAGES,
	S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_WINDOW_HOURS,
	S_POLICY_GOVERNANCE_DMARC_FAIL_RATE,
	S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_WARN,
	S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_SUSPEND,
	S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_MIN_MESSAGES,
	S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_WINDOW_HOURS,
	S_POLICY_GOVERNANCE_MAX_WAIVER_DAYS,
	S_POLICY_GOVERNANCE_NEW_SENDING_PATH,
	S_POLICY_GOVERNANCE_NEW_SENDING_PATH_ACTION,
	S_POLICY_GOVERNANCE_VOLUME_SURGE,
	S_POLICY_GOVERNANCE_VOLUME_SURGE_FACTOR,
	S_POLICY_GOVERNANCE_VOLUME_SURGE_MIN_MESSAGES,
	S_POLICY_GOVERNANCE_VOLUME_SURGE_BASELINE_DAYS,
	S_POLICY_GOVERNANCE_VOLUME_SURGE_ACTION,
	S_IDENTITIES_DIR,
	S_IDENTITIES,
	S_IDENTITY,
	S_ID_ID,
	S_ID_DESCRIPTION,
	S_ID_CLASS,
	S_ID_OWNERS,
	S_ID_APPROVAL,
	S_ID_APPROVAL_BY,
	S_ID_APPROVAL_DATE,
	S_ID_APPROVAL_TICKET,
	S_ID_LIFECYCLE,
	S_ID_LIFECYCLE_ACTIVATE,
	S_ID_LIFECYCLE_DECOMMISSION,
	S_ID_PLATFORM,
	S_ID_CREDENTIALS,
	S_ID_CREDENTIALS_LOGINS,
	S_ID_CREDENTIALS_NETWORKS,
	S_ID_ENVELOPE_DOMAINS,
	S_ID_FROM_DOMAINS,
	S_ID_DKIM,
	S_ID_DKIM_DOMAIN,
	S_ID_DKIM_SELECTOR,
	S_ID_DKIM_KEY,
	S_ID_DKIM_MODE,
	S_ID_DKIM_SIGN_HEADERS,
	S_ID_DKIM_OVERSIGN_HEADERS,
	S_ID_FEEDBACK_ID,
	S_ID_LIMITS,
	S_ID_LIMITS_PER_HOUR,
	S_ID_LIMITS_PER_DAY,
	S_ID_LIMITS_RECIPIENTS_PER_HOUR,
	S_ID_LIMITS_RECIPIENTS_PER_DAY,
	S_ID_EGRESS_IPS,
	S_ID_MODE,
	S_ID_MAX_RECIPIENTS,
	S_ID_MIN_DMARC_POLICY,
	S_ID_ACTIONS,
	S_ID_GOVERNANCE,
	S_ID_GOVERNANCE_COMPLAINT_RATE,
	S_ID_GOVERNANCE_COMPLAINT_RATE_WARN,
	S_ID_GOVERNANCE_COMPLAINT_RATE_SUSPEND,
	S_ID_GOVERNANCE_COMPLAINT_RATE_MIN_MESSAGES,
	S_ID_GOVERNANCE_HARD_BOUNCE_RATE,
	S_ID_GOVERNANCE_HARD_BOUNCE_RATE_WARN,
	S_ID_GOVERNANCE_HARD_BOUNCE_RATE_SUSPEND,
	S_ID_GOVERNANCE_HARD_BOUNCE_RATE_MIN_MESSAGES,
	S_ID_GOVERNANCE_DMARC_FAIL_RATE,
	S_ID_GOVERNANCE_DMARC_FAIL_RATE_WARN,
	S_ID_GOVERNANCE_DMARC_FAIL_RATE_SUSPEND,
	S_ID_GOVERNANCE_DMARC_FAIL_RATE_MIN_MESSAGES,
	S_ID_GOVERNANCE_VOLUME_SURGE,
	S_ID_GOVERNANCE_VOLUME_SURGE_FACTOR,
	S_ID_GOVERNANCE_VOLUME_SURGE_MIN_MESSAGES,
	S__COUNT
};

/* Parents that are not rows: the main file's top level, and the top level
 * of an identities_dir file (which holds S_IDENTITY only). */
#define S_ROOT (-1)
#define S_IDFILE_ROOT (-2)

struct setting {
	const char *name; /* dotted path: "dns.timeout", "identity.limits.per_hour" */
	enum setting_type type;
	unsigned flags;	    /* SETTING_* */
	const char *def;    /* the default as documented (text); NULL: none */
	long long idef;	    /* SETTING_INT / SETTING_MODE default (def NULL: none) */
	long long min, max; /* SETTING_INT bounds; SETTING_STRLIST: max elements */
	const char *const
	    *words;	   /* SETTING_WORD vocabulary / SETTING_STRLIST default; NULL-terminated */
	const int *values; /* SETTING_WORD: what each word means (NULL: its index) */
	enum setting_store store;
	size_t off;	 /* offsetof(struct bw_settings, field) when store != STORE_NONE */
	const char *doc; /* one line */
};

extern const struct setting settings[S__COUNT];

/* The row of id (which must be a valid id). */
const struct setting *setting(enum setting_id id);
/* The key of a row inside its group: "timeout" for "dns.timeout". */
const char *setting_key(const struct setting *s);
/* The row named name, or -1. */
int setting_by_name(const char *name);
/* Direct children of parent (a row id, S_ROOT or S_IDFILE_ROOT): call with
 * *i = -1 first; returns false after the last. */
bool setting_next_child(int parent, int *i);
/* The value of word w in row id (values[i], or i); false if w is not one. */
bool setting_word_value(enum setting_id id, const char *w, int *out);
/* The value of the row's default word (SETTING_WORD rows with a default). */
int setting_default_value(enum setting_id id);
/* "an integer", "a list of strings", ... for the manual and messages. */
const char *setting_type_name(enum setting_type t);

#endif
