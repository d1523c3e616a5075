/*
 * registry.h - the immutable, reference-counted configuration snapshot:
 * global settings, the baseline policy and every sender identity, with the
 * lookup indexes built over them (login hash, prefix map).
 *
 * A snapshot is built once (conf_load(), then registry_note_change()
 * before it is shared) and never changed afterwards, so any number of
 * threads read it without locks. registry_retain() and
 * registry_release() move the reference count; the milter's runtime
 * snapshot (milter/runtime.h) holds one, and each message pins that.
 * All memory belongs to the snapshot's arena.
 */
#ifndef BW_REGISTRY_H
#define BW_REGISTRY_H

/* dns.nameservers: at most this many (the resolver keeps a slot each). */
#define REGISTRY_MAX_NS 8

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "registry/check.h"
#include "registry/cidr.h"

#define BW_ID_MAX 64          /* [a-z0-9][a-z0-9._-]{0,63} */
#define BW_REVISION_HEX 16    /* hex digits of the revision shown in events */

enum bw_class { BW_CLASS_MARKETING, BW_CLASS_TRANSACTIONAL, BW_CLASS_NOTIFICATION };
enum bw_life { BW_LIFE_PENDING, BW_LIFE_ACTIVE, BW_LIFE_RETIRED };
enum bw_dkim_mode { BW_DKIM_SIGN, BW_DKIM_VERIFY };
enum bw_dmarc_p { BW_DMARC_NONE = 0, BW_DMARC_QUARANTINE = 1, BW_DMARC_REJECT = 2 };
enum bw_key_alg { BW_KEY_RSA, BW_KEY_ED25519 };
/* The feedback signals of SPEC §9 (policy.governance.<name>). */
enum bw_signal { BW_SIG_COMPLAINT_RATE, BW_SIG_HARD_BOUNCE_RATE, BW_SIG_DMARC_FAIL_RATE,
		 BW_SIG__COUNT };
/* The thresholds of one signal: warn <= suspend, rates in 0..1. */
struct bw_threshold {
	double warn, suspend;
	unsigned min_messages; /* fewer in the window: insufficient data */
	unsigned window_hours;
};
/* policy.governance.volume_surge.action */
enum bw_surge_action { BW_SURGE_ALERT, BW_SURGE_TEMPFAIL, BW_SURGE_SUSPEND, BW_SURGE_OFF };
/* policy.governance.new_sending_path.action = "off" (else a bw_action) */
#define BW_NSP_OFF (-1)

struct bw_owner {
	const char *role; /* "dns" */
	const char *addr; /* "dns@example.com" */
};

struct bw_dkim_key {
	const char *domain;   /* normalized (lowercase A-labels) */
	const char *selector;
	const char *path;
	enum bw_key_alg alg;
	int bits;             /* RSA modulus bits; 256 for Ed25519 */
	bool is_public;       /* verify mode: the vendor's public key */
	const char *file;     /* where it was configured */
	int line;
	/* Read once per load by keyfile_load() (struct keyfile_material):
	 * privkey is what dkim_sign() takes (NULL in verify mode), pubkey the
	 * DNS p= value the verifier is given instead of a DNS lookup. */
	const char *privkey;
	const char *pubkey;
};

/* Header fields signed and oversigned unless an identity adds more
 * (NULL-terminated; conf_identity.c). */
extern const char *const bw_dkim_sign_headers_default[];
extern const char *const bw_dkim_oversign_headers_default[];

struct bw_identity {
	const char *id;
	const char *description;
	const char *platform;
	const char *file; /* config file and line of the identity group */
	int line;
	enum bw_class class;

	struct bw_owner *owners;
	size_t n_owners;
	const char *approval_by, *approval_ticket;
	long long approval_date; /* 0: none */
	long long activate;      /* 0: unset */
	long long decommission;  /* 0: unset */
	const char *pending_why; /* non-NULL: pending (missing owner/approval, re-approval) */
	long long changed_at;    /* last security-relevant change known; 0: none */

	const char **logins;
	size_t n_logins;
	struct cidr *networks;
	size_t n_networks;
	const char **envelope_domains; /* normalized; "*.x" wildcard allowed */
	size_t n_envelope_domains;
	const char **from_domains;
	size_t n_from_domains;

	struct bw_dkim_key *dkim;
	size_t n_dkim;
	enum bw_dkim_mode dkim_mode;
	/* effective NULL-terminated lists: the defaults plus the identity's
	 * dkim_sign_headers / dkim_oversign_headers (NULL: the defaults) */
	const char *const *dkim_sign_headers;
	const char *const *dkim_oversign_headers;
	const char *feedback_id; /* SenderId of the Feedback-ID header; NULL: none */

	uint64_t per_hour, per_day; /* messages; 0: no limit */
	uint64_t rcpt_per_hour, rcpt_per_day; /* recipients; 0: no limit */
	const char **egress_ips;    /* overrides relay.egress_ips when n > 0 */
	size_t n_egress_ips;
	enum bw_mode mode;
	unsigned max_recipients;           /* effective (baseline or tighter) */
	enum bw_dmarc_p min_dmarc_policy;  /* effective */
	enum bw_action actions[BW_CHK__COUNT]; /* effective per-check actions */
	/* effective signal thresholds (the baseline's or tighter) */
	struct bw_threshold thresholds[BW_SIG__COUNT];
	/* effective volume_surge factor and min_messages (the baseline's or
	 * lower; 0: the baseline's) */
	double surge_factor;
	unsigned surge_min_messages;
};

struct bw_settings {
	/* milter */
	const char *socket;
	const char *user;
	const char *pidfile;
	unsigned socket_mode;
	bool allow_remote; /* an inet socket may listen beyond loopback */
	enum bw_action on_internal_error;
	/* relay */
	const char **egress_ips;
	size_t n_egress_ips;
	/* state */
	const char *state_backend; /* "sqlite" | "redis" */
	const char *state_path;
	const char *redis_host;
	int redis_port;
	const char *redis_prefix;
	const char *redis_password_file;
	const char **redis_sentinels; /* "host:port"; n > 0: find the primary by Sentinel */
	size_t n_redis_sentinels;
	const char *redis_master;   /* the Sentinel master name */
	const char *redis_username; /* Redis 6 ACL user; NULL: AUTH with the password only */
	int redis_db;
	unsigned redis_timeout_ms;  /* connect and command timeout */
	unsigned state_stale_after; /* seconds the milter serves from its last view */
	/* log */
	const char *log_target; /* "file" | "syslog" | "stdout" */
	const char *log_path;
	const char *log_facility;
	unsigned counters_interval;
	/* dns */
	const char **nameservers; /* at most REGISTRY_MAX_NS */
	size_t n_nameservers;
	unsigned dns_timeout;
	unsigned dns_cache_ttl;
	bool dns_dnssec;	       /* validate answers (libunbound) */
	const char *dns_trust_anchor; /* NULL: /usr/share/dns/root.key */
	/* metrics (issue 15) */
	const char *metrics_listen; /* "ip:port", NULL: no /metrics server */
	bool metrics_per_identity;
	/* policy baseline */
	enum bw_mode mode;
	const char **require_owners;
	size_t n_require_owners;
	enum bw_dmarc_p min_dmarc_policy;
	int dkim_min_rsa_bits;
	unsigned max_recipients;
	enum bw_action actions[BW_CHK__COUNT];
	bool require_reapproval;      /* changed since approval: pending (SPEC §10) */
	unsigned dormant_days;        /* policy.governance.dormant_days */
	struct bw_threshold thresholds[BW_SIG__COUNT]; /* policy.governance.<signal> */
	unsigned max_waiver_days;     /* policy.governance.max_waiver_days */
	int nsp_action;               /* new_sending_path.action: a bw_action (alert: accept), or BW_NSP_OFF */
	double surge_factor;          /* volume_surge.factor */
	unsigned surge_min_messages;  /* volume_surge.min_messages */
	unsigned surge_baseline_days; /* volume_surge.baseline_days */
	enum bw_surge_action surge_action;
	const char *identities_dir;
};

struct registry_index; /* login hash + network prefix map, private to registry.c */

struct registry {
	unsigned refcnt; /* __atomic builtins only */
	struct arena *arena;
	const char *path;
	char revision[65]; /* sha256 hex over every file read */
	long long loaded_at;
	struct bw_settings set;
	struct bw_identity *ids;
	size_t n_ids;
	struct registry_index *index;
};

/* A new empty snapshot (refcnt 1) whose struct and every allocation live in
 * a fresh arena; the loader fills set and ids[] then builds the index. */
struct registry *registry_new(void);

/* Build the indexes after the loader filled ids[]. Returns 0, or -1 with a
 * message in err (duplicate login is detected here too). */
int registry_index_build(struct registry *r, char *err, size_t errlen);

/* O(1): the identity listing this SASL login, or NULL. */
const struct bw_identity *registry_by_login(const struct registry *r, const char *login);
/* O(1): the identity with this id, or NULL. */
const struct bw_identity *registry_by_id(const struct registry *r, const char *id);
/* Identities whose networks contain addr (at most max written to out);
 * returns how many were found (may exceed max). Cost O(address bits). */
size_t registry_by_network(const struct registry *r, const struct cidr_addr *addr,
			   const struct bw_identity **out, size_t max);

/* true when a security-relevant change at changed_at (0: none) falls on a
 * later UTC day than the identity's approval date: an approval dated the
 * day of the change covers it. */
bool registry_changed_since_approval(const struct bw_identity *id, long long changed_at);
/* Note a security-relevant change of identity id at time when (the audit
 * log's last config-change record, or a reload's diff); keeps the latest.
 * With policy.require_reapproval, an identity changed since its approval
 * becomes pending ("changed since approval on DATE, re-approval
 * required"). Part of building a snapshot: call it before the snapshot is
 * shared. An id the registry does not have is ignored. */
void registry_note_change(struct registry *r, const char *id, long long when);

/* Lifecycle at time now (pending, activate, decommission). */
enum bw_life registry_lifecycle(const struct bw_identity *id, long long now, const char **why);
const char *registry_life_name(enum bw_life l);
const char *registry_class_name(enum bw_class c);
/* "complaint_rate", "hard_bounce_rate", "dmarc_fail_rate" */
const char *registry_signal_name(enum bw_signal g);

struct registry *registry_retain(struct registry *r);
void registry_release(struct registry *r);

#endif
