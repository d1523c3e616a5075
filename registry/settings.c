/*
 * settings.c - the table of every configuration key (settings.h). One row
 * per key: name, type, default and why, bounds or vocabulary, one line of
 * documentation. The loader (conf*.c) validates and defaults from it, the
 * event log maps log.facility through it (so what the loader accepts is
 * what syslog gets), and test_settings compares bulkwarden.conf(5) with it.
 *
 * Memory: static, read-only. Input: key names and words from config files,
 * compared only (bounded by the table's own strings).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <syslog.h>

#include "registry/check.h"
#include "registry/registry.h"
#include "registry/settings.h"

/* Installation directories (configure's --runstatedir, --localstatedir);
 * the documented defaults when built without them. */
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define SET(field) offsetof(struct bw_settings, field)

/* enum fields are written through an int (STORE_ENUM) */
_Static_assert(sizeof(enum bw_action) == sizeof(int), "enum bw_action is int-sized");
_Static_assert(sizeof(enum bw_mode) == sizeof(int), "enum bw_mode is int-sized");
_Static_assert(sizeof(enum bw_dmarc_p) == sizeof(int), "enum bw_dmarc_p is int-sized");
_Static_assert(sizeof(enum bw_surge_action) == sizeof(int), "enum bw_surge_action is int-sized");

/* ---- vocabularies ----------------------------------------------------------- */

/* What bulkwarden itself failing may do: never quarantine (that may be
 * what failed), tempfail first as the fail-closed default. */
static const char *const internal_error_words[] = {"tempfail", "reject", "accept", NULL};
static const int internal_error_values[] = {BW_ACT_TEMPFAIL, BW_ACT_REJECT, BW_ACT_ACCEPT};
_Static_assert(N_OF(internal_error_words) == N_OF(internal_error_values) + 1, "one value a word");

/* syslog(3) facilities: the one table both the loader and the event log use. */
static const char *const facility_words[] = {
    "auth",   "authpriv", "cron",   "daemon", "ftp",	"kern",	  "lpr",
    "mail",   "news",	  "syslog", "user",   "uucp",	"local0", "local1",
    "local2", "local3",	  "local4", "local5", "local6", "local7", NULL};
static const int facility_values[] = {LOG_AUTH,	  LOG_AUTHPRIV, LOG_CRON,   LOG_DAEMON, LOG_FTP,
				      LOG_KERN,	  LOG_LPR,	LOG_MAIL,   LOG_NEWS,	LOG_SYSLOG,
				      LOG_USER,	  LOG_UUCP,	LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2,
				      LOG_LOCAL3, LOG_LOCAL4,	LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7};
_Static_assert(N_OF(facility_words) == N_OF(facility_values) + 1, "one value a word");

static const char *const backend_words[] = {"sqlite", "redis", NULL};
static const char *const target_words[] = {"file", "syslog", "stdout", NULL};
/* in enum bw_mode order */
static const char *const mode_words[] = {"enforce", "monitor", NULL};
/* in enum bw_dmarc_p order */
static const char *const dmarc_words[] = {"none", "quarantine", "reject", NULL};
/* in enum bw_class order */
static const char *const class_words[] = {"marketing", "transactional", "notification", NULL};
/* in enum bw_dkim_mode order */
static const char *const dkim_mode_words[] = {"sign", "verify", NULL};
/* policy.governance.new_sending_path.action (SPEC §9): alert accepts */
static const char *const nsp_action_words[] = {"alert", "quarantine", "tempfail", "off", NULL};
static const int nsp_action_values[] = {BW_ACT_ACCEPT, BW_ACT_QUARANTINE, BW_ACT_TEMPFAIL,
					BW_NSP_OFF};
_Static_assert(N_OF(nsp_action_words) == N_OF(nsp_action_values) + 1, "one value a word");
/* policy.governance.volume_surge.action, in enum bw_surge_action order */
static const char *const surge_action_words[] = {"alert", "tempfail", "suspend", "off", NULL};
/* SPEC §2: the roles a sender's owners must cover */
static const char *const owner_roles[] = {"dns", "platform", "compliance", NULL};

/* ---- the table ------------------------------------------------------------------ */

const struct setting settings[S__COUNT] = {
    /* milter */
    [S_MILTER] = {.name = "milter",
		  .type = SETTING_GROUP,
		  .doc = "The daemon: socket, user, pidfile."},
    [S_MILTER_SOCKET] = {.name = "milter.socket",
			 .type = SETTING_STRING,
			 .flags = SETTING_CUSTOM,
			 /* where Postfix's smtpd_milters points in SPEC §7 */
			 .def = "unix:" RUNSTATEDIR "/bulkwarden/bulkwarden.sock",
			 .store = STORE_STR,
			 .off = SET(socket),
			 .doc = "unix:PATH, local:PATH, inet:PORT@HOST or inet6:PORT@HOST."},
    [S_MILTER_USER] = {.name = "milter.user",
		       .type = SETTING_STRING,
		       .store = STORE_STR,
		       .off = SET(user),
		       .doc = "User to drop privileges to after the socket is open."},
    [S_MILTER_PIDFILE] = {.name = "milter.pidfile",
			  .type = SETTING_PATH,
			  .store = STORE_STR,
			  .off = SET(pidfile),
			  .doc = "Written before privileges are dropped, removed at exit."},
    [S_MILTER_SOCKET_MODE] = {.name = "milter.socket_mode",
			      .type = SETTING_MODE,
			      .flags = SETTING_CUSTOM,
			      /* owner and group (the MTA's user in the milter's group) */
			      .def = "0660",
			      .idef = 0660,
			      .store = STORE_UINT,
			      .off = SET(socket_mode),
			      .doc = "Mode of a unix socket; world-writable modes are refused."},
    [S_MILTER_ON_INTERNAL_ERROR] = {.name = "milter.on_internal_error",
				    .type = SETTING_WORD,
				    /* fail closed: a message we could not judge is retried */
				    .def = "tempfail",
				    .words = internal_error_words,
				    .values = internal_error_values,
				    .store = STORE_ENUM,
				    .off = SET(on_internal_error),
				    .doc = "What a message gets when bulkwarden itself fails."},
    [S_MILTER_ALLOW_REMOTE] = {.name = "milter.allow_remote",
			       .type = SETTING_FLAG_OR_STRING,
			       .flags = SETTING_CUSTOM,
			       /* libmilter trusts whoever reaches its socket */
			       .def = "false",
			       .doc = "true: an inet socket may listen beyond loopback."},
    /* relay */
    [S_RELAY] = {.name = "relay", .type = SETTING_GROUP, .doc = "The relay as receivers see it."},
    [S_RELAY_EGRESS_IPS] = {.name = "relay.egress_ips",
			    .type = SETTING_STRLIST,
			    .flags = SETTING_CUSTOM,
			    .doc = "Addresses receivers see; SPF is predicted from each."},
    /* state */
    [S_STATE] = {.name = "state", .type = SETTING_GROUP, .doc = "The runtime state store."},
    [S_STATE_BACKEND] = {.name = "state.backend",
			 .type = SETTING_WORD,
			 /* embedded, nothing to run beside the milter */
			 .def = "sqlite",
			 .words = backend_words,
			 .store = STORE_STR,
			 .off = SET(state_backend),
			 .doc = "sqlite for one relay, redis for a fleet sharing one store."},
    [S_STATE_PATH] = {.name = "state.path",
		      .type = SETTING_PATH,
		      /* FHS: state a program keeps across restarts */
		      .def = LOCALSTATEDIR "/lib/bulkwarden/state.db",
		      .store = STORE_STR,
		      .off = SET(state_path),
		      .doc = "The SQLite database."},
    [S_STATE_STALE_AFTER] = {.name = "state.stale_after",
			     .type = SETTING_INT,
			     /* SPEC 8: long enough to ride out a Redis restart or a
			      * failover's first seconds, short enough that a stale
			      * suspension set is not trusted for long */
			     .def = "3",
			     .idef = 3,
			     .min = 0,
			     .max = 3600,
			     .store = STORE_UINT,
			     .off = SET(state_stale_after),
			     .doc = "Seconds the milter decides from its last view of an unreachable "
				    "store; then state-error."},
    [S_STATE_REDIS] = {.name = "state.redis",
		       .type = SETTING_GROUP,
		       .doc = "Where the redis backend connects."},
    [S_STATE_REDIS_HOST] = {.name = "state.redis.host",
			    .type = SETTING_STRING,
			    /* loopback: never a network peer nobody configured */
			    .def = "127.0.0.1",
			    .store = STORE_STR,
			    .off = SET(redis_host),
			    .doc = "Redis host."},
    [S_STATE_REDIS_PORT] = {.name = "state.redis.port",
			    .type = SETTING_INT,
			    /* Redis's own default */
			    .def = "6379",
			    .idef = 6379,
			    .min = 1,
			    .max = 65535,
			    .store = STORE_INT,
			    .off = SET(redis_port),
			    .doc = "Redis port."},
    [S_STATE_REDIS_PREFIX] = {.name = "state.redis.prefix",
			      .type = SETTING_STRING,
			      /* short: it is in every key; distinct from other users of the db */
			      .def = "bw:",
			      .store = STORE_STR,
			      .off = SET(redis_prefix),
			      .doc = "Prefix of every key bulkwarden writes."},
    [S_STATE_REDIS_PASSWORD_FILE] = {.name = "state.redis.password_file",
				     .type = SETTING_PATH,
				     .store = STORE_STR,
				     .off = SET(redis_password_file),
				     .doc = "File holding the Redis password."},
    [S_STATE_REDIS_SENTINELS] = {.name = "state.redis.sentinels",
				 .type = SETTING_STRLIST,
				 .flags = SETTING_CUSTOM,
				 .max = 16,
				 .doc = "host:port of Redis Sentinels; with them, master names the "
					"primary to ask for."},
    [S_STATE_REDIS_MASTER] = {.name = "state.redis.master",
			      .type = SETTING_STRING,
			      .store = STORE_STR,
			      .off = SET(redis_master),
			      .doc = "The master name Sentinel monitors."},
    [S_STATE_REDIS_DB] = {.name = "state.redis.db",
			  .type = SETTING_INT,
			  /* Redis's own default database */
			  .def = "0",
			  .idef = 0,
			  .min = 0,
			  .max = 1000000,
			  .store = STORE_INT,
			  .off = SET(redis_db),
			  .doc = "Redis database number."},
    [S_STATE_REDIS_USERNAME] = {.name = "state.redis.username",
				.type = SETTING_STRING,
				.store = STORE_STR,
				.off = SET(redis_username),
				.doc = "Redis 6 ACL user; none: AUTH with the password alone."},
    [S_STATE_REDIS_TIMEOUT_MS] = {.name = "state.redis.timeout_ms",
				  .type = SETTING_INT,
				  /* a LAN round trip is under a millisecond; a message
				   * waits at most this long for its reservation */
				  .def = "200",
				  .idef = 200,
				  .min = 10,
				  .max = 60000,
				  .store = STORE_UINT,
				  .off = SET(redis_timeout_ms),
				  .doc = "Connect and command timeout in milliseconds."},
    /* log */
    [S_LOG] = {.name = "log", .type = SETTING_GROUP, .doc = "Where events go."},
    [S_LOG_TARGET] = {.name = "log.target",
		      .type = SETTING_WORD,
		      /* a file a SIEM agent tails; syslog truncates long lines */
		      .def = "file",
		      .words = target_words,
		      .store = STORE_STR,
		      .off = SET(log_target),
		      .doc = "file, syslog or stdout."},
    [S_LOG_PATH] = {.name = "log.path",
		    .type = SETTING_PATH,
		    .def = LOCALSTATEDIR "/log/bulkwarden/events.jsonl",
		    .store = STORE_STR,
		    .off = SET(log_path),
		    .doc = "Event file for target file."},
    [S_LOG_FACILITY] = {.name = "log.facility",
			.type = SETTING_WORD,
			/* where the MTA logs: events sit beside its lines */
			.def = "mail",
			.words = facility_words,
			.values = facility_values,
			.store = STORE_STR,
			.off = SET(log_facility),
			.doc = "Syslog facility for target syslog."},
    [S_LOG_COUNTERS_INTERVAL] = {.name = "log.counters_interval",
				 .type = SETTING_INT,
				 /* a minute: SIEM dashboards bin by the minute */
				 .def = "60",
				 .idef = 60,
				 .min = 1,
				 .max = 86400,
				 .store = STORE_UINT,
				 .off = SET(counters_interval),
				 .doc = "Seconds between per-identity counter events."},
    /* dns */
    [S_DNS] = {.name = "dns", .type = SETTING_GROUP, .doc = "bulkwarden's own resolver."},
    [S_DNS_NAMESERVERS] = {.name = "dns.nameservers",
			   .type = SETTING_STRLIST,
			   .flags = SETTING_CUSTOM,
			   .max = REGISTRY_MAX_NS,
			   .doc = "ip, ip:port or [v6]:port; default resolv.conf's."},
    [S_DNS_TIMEOUT] = {.name = "dns.timeout",
		       .type = SETTING_INT,
		       /* one timeout bounds all lookups of an SMTP stage and
			* smfi_progress works only at end of message: stay under
			* Postfix's 30 s milter_command_timeout */
		       .def = "5",
		       .idef = 5,
		       .min = 1,
		       .max = 25,
		       .store = STORE_UINT,
		       .off = SET(dns_timeout),
		       .doc = "Seconds all lookups of one SMTP stage may take together."},
    [S_DNS_CACHE_TTL] = {.name = "dns.cache_ttl",
			 .type = SETTING_INT,
			 /* long enough to spare bursts, short enough that a DNS
			  * fix is seen within minutes */
			 .def = "300",
			 .idef = 300,
			 .min = 0,
			 .max = 86400,
			 .store = STORE_UINT,
			 .off = SET(dns_cache_ttl),
			 .doc = "Seconds an answer is kept at most (and never past its TTL)."},
    [S_DNS_DNSSEC] = {.name = "dns.dnssec",
		      .type = SETTING_FLAG_OR_STRING,
		      .flags = SETTING_CUSTOM,
		      /* off: validation needs a trust anchor and a DNSSEC-aware
		       * path to the servers, which not every relay has */
		      .def = "false",
		      .doc = "true: validate answers (libunbound); a bogus one is dns-error."},
    [S_DNS_TRUST_ANCHOR] = {.name = "dns.trust_anchor",
			    .type = SETTING_PATH,
			    /* Debian dns-root-data: the root's DS/DNSKEY */
			    .def = "/usr/share/dns/root.key",
			    .store = STORE_STR,
			    .off = SET(dns_trust_anchor),
			    .doc = "DS or DNSKEY records to validate from (with dns.dnssec)."},
    /* metrics (issue 15) */
    [S_METRICS] = {.name = "metrics",
		   .type = SETTING_GROUP,
		   .doc = "Prometheus text exposition on GET /metrics (absent: no server)."},
    [S_METRICS_LISTEN] = {.name = "metrics.listen",
			  .type = SETTING_STRING,
			  .flags = SETTING_CUSTOM,
			  .doc = "ip:port or [v6]:port; no default (no authentication: loopback)."},
    [S_METRICS_PER_IDENTITY] = {.name = "metrics.per_identity",
				.type = SETTING_FLAG_OR_STRING,
				.flags = SETTING_CUSTOM,
				/* the label is what operators ask for; very large
				 * registries turn it off */
				.def = "true",
				.doc = "true or false: the identity label of decisions."},
    /* policy */
    [S_POLICY] = {.name = "policy",
		  .type = SETTING_GROUP,
		  .doc = "The baseline identities may tighten, never loosen."},
    [S_POLICY_MODE] = {.name = "policy.mode",
		       .type = SETTING_WORD,
		       /* fail closed: monitoring is a choice, not an accident */
		       .def = "enforce",
		       .words = mode_words,
		       .store = STORE_ENUM,
		       .off = SET(mode),
		       .doc = "enforce, or monitor: every verdict becomes accept, events say what "
			      "would have happened."},
    [S_POLICY_REQUIRE_OWNERS] = {.name = "policy.require_owners",
				 .type = SETTING_STRLIST,
				 .flags = SETTING_CUSTOM,
				 .def = "dns, platform, compliance",
				 .words = owner_roles,
				 .doc =
				     "Owner roles every identity must name, else it is pending."},
    [S_POLICY_MIN_DMARC_POLICY] = {.name = "policy.min_dmarc_policy",
				   .type = SETTING_WORD,
				   /* a record must exist; how strict is each domain's call */
				   .def = "none",
				   .words = dmarc_words,
				   .store = STORE_ENUM,
				   .off = SET(min_dmarc_policy),
				   .doc = "Weakest DMARC policy a From domain may publish."},
    [S_POLICY_DKIM_MIN_RSA_BITS] = {.name = "policy.dkim_min_rsa_bits",
				    .type = SETTING_INT,
				    /* RFC 8301 allows 1024; 2048 is what receivers expect */
				    .def = "2048",
				    .idef = 2048,
				    .min = 1024,
				    .max = 16384,
				    .store = STORE_INT,
				    .off = SET(dkim_min_rsa_bits),
				    .doc = "Weaker RSA keys are refused at load."},
    [S_POLICY_MAX_RECIPIENTS] = {.name = "policy.max_recipients",
				 .type = SETTING_INT,
				 /* Postfix's smtpd_recipient_limit */
				 .def = "1000",
				 .idef = 1000,
				 .min = 1,
				 .max = 100000,
				 .store = STORE_UINT,
				 .off = SET(max_recipients),
				 .doc = "Recipients per message; each one past it gets 452 4.5.3."},
    [S_POLICY_ACTIONS] = {.name = "policy.actions",
			  .type = SETTING_MAP,
			  .flags = SETTING_CUSTOM,
			  .def = "each check's own",
			  .doc = "check-id = action overrides."},
    [S_POLICY_REQUIRE_REAPPROVAL] = {.name = "policy.require_reapproval",
				     .type = SETTING_FLAG_OR_STRING,
				     .flags = SETTING_CUSTOM,
				     /* off: the changed-since-approval finding reports it;
				      * on, a change stops the sender until re-approved */
				     .def = "false",
				     .doc = "true: an identity changed since its approval is pending."},
    [S_POLICY_GOVERNANCE] = {.name = "policy.governance",
			     .type = SETTING_GROUP,
			     .doc = "Thresholds of the governance findings (SPEC §9, §10)."},
    [S_POLICY_GOVERNANCE_DORMANT_DAYS] = {.name = "policy.governance.dormant_days",
					  .type = SETTING_INT,
					  /* a quarter: longer than any seasonal campaign gap */
					  .def = "90",
					  .idef = 90,
					  .min = 1,
					  .max = 3650,
					  .store = STORE_UINT,
					  .off = SET(dormant_days),
					  .doc = "Days without a message after which an identity is "
						 "dormant and its domains unused."},
    [S_POLICY_GOVERNANCE_COMPLAINT_RATE] = {.name = "policy.governance.complaint_rate",
			.type = SETTING_GROUP,
			.flags = SETTING_CUSTOM,
			.doc = "Complaints (ARF) per message the identity sent in the window."},
    [S_POLICY_GOVERNANCE_COMPLAINT_RATE_WARN] = {.name = "policy.governance.complaint_rate.warn",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "0.001",
			.min = 0,
			.max = 1000000,
			.doc = "At or above: one threshold-warning audit record per window."},
    [S_POLICY_GOVERNANCE_COMPLAINT_RATE_SUSPEND] = {.name = "policy.governance.complaint_rate.suspend",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "0.003",
			.min = 0,
			.max = 1000000,
			.doc = "At or above: the identity is suspended (auto-suspend)."},
    [S_POLICY_GOVERNANCE_COMPLAINT_RATE_MIN_MESSAGES] = {.name = "policy.governance.complaint_rate.min_messages",
			.type = SETTING_INT,
			.flags = SETTING_CUSTOM,
			.def = "1000",
			.idef = 1000,
			.min = 1,
			.max = 1000000000,
			.doc = "Fewer messages in the window: insufficient data, no action."},
    [S_POLICY_GOVERNANCE_COMPLAINT_RATE_WINDOW_HOURS] = {.name = "policy.governance.complaint_rate.window_hours",
			.type = SETTING_INT,
			.flags = SETTING_CUSTOM,
			.def = "24",
			.idef = 24,
			.min = 1,
			.max = 720,
			.doc = "The sliding window, in hours up to now."},
    [S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE] = {.name = "policy.governance.hard_bounce_rate",
			.type = SETTING_GROUP,
			.flags = SETTING_CUSTOM,
			.doc = "Hard bounces (DSN 5.x.x) per message sent in the window."},
    [S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_WARN] = {.name = "policy.governance.hard_bounce_rate.warn",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "0.02",
			.min = 0,
			.max = 1000000,
			.doc = "At or above: one threshold-warning audit record per window."},
    [S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_SUSPEND] = {.name = "policy.governance.hard_bounce_rate.suspend",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "0.05",
			.min = 0,
			.max = 1000000,
			.doc = "At or above: the identity is suspended (auto-suspend)."},
    [S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_MIN_MESSAGES] = {.name = "policy.governance.hard_bounce_rate.min_messages",
			.type = SETTING_INT,
			.flags = SETTING_CUSTOM,
			.def = "1000",
			.idef = 1000,
			.min = 1,
			.max = 1000000000,
			.doc = "Fewer messages in the window: insufficient data, no action."},
    [S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_WINDOW_HOURS] = {.name = "policy.governance.hard_bounce_rate.window_hours",
			.type = SETTING_INT,
			.flags = SETTING_CUSTOM,
			.def = "24",
			.idef = 24,
			.min = 1,
			.max = 720,
			.doc = "The sliding window, in hours up to now."},
    [S_POLICY_GOVERNANCE_DMARC_FAIL_RATE] = {.name = "policy.governance.dmarc_fail_rate",
			.type = SETTING_GROUP,
			.flags = SETTING_CUSTOM,
			.doc = "DMARC aggregate-report failures plus messages failing spf, dkim or dmarc at submission, per message those reports counted plus the identity's messages."},
    [S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_WARN] = {.name = "policy.governance.dmarc_fail_rate.warn",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "0.02",
			.min = 0,
			.max = 1000000,
			.doc = "At or above: one threshold-warning audit record per window."},
    [S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_SUSPEND] = {.name = "policy.governance.dmarc_fail_rate.suspend",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "0.1",
			.min = 0,
			.max = 1000000,
			.doc = "At or above: the identity is suspended (auto-suspend)."},
    [S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_MIN_MESSAGES] = {.name = "policy.governance.dmarc_fail_rate.min_messages",
			.type = SETTING_INT,
			.flags = SETTING_CUSTOM,
			.def = "500",
			.idef = 500,
			.min = 1,
			.max = 1000000000,
			.doc = "Fewer messages in the window: insufficient data, no action."},
    [S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_WINDOW_HOURS] = {.name = "policy.governance.dmarc_fail_rate.window_hours",
			.type = SETTING_INT,
			.flags = SETTING_CUSTOM,
			.def = "24",
			.idef = 24,
			.min = 1,
			.max = 720,
			.doc = "The sliding window, in hours up to now."},
    [S_POLICY_GOVERNANCE_MAX_WAIVER_DAYS] = {.name = "policy.governance.max_waiver_days",
					     .type = SETTING_INT,
					     /* a month: an exception is renewed, with a new
					      * approval, rather than forgotten */
					     .def = "30",
					     .idef = 30,
					     .min = 1,
					     .max = 365,
					     .store = STORE_UINT,
					     .off = SET(max_waiver_days),
					     .doc = "Longest waiver bulkwardenctl waive grants, in days."},
    /* new sending paths (issue 15) */
    [S_POLICY_GOVERNANCE_NEW_SENDING_PATH] = {.name = "policy.governance.new_sending_path",
					      .type = SETTING_GROUP,
					      .doc = "The first message of an identity from a network, "
						     "login or vendor key it never used."},
    [S_POLICY_GOVERNANCE_NEW_SENDING_PATH_ACTION] =
	{.name = "policy.governance.new_sending_path.action",
	 .type = SETTING_WORD,
	 /* a new path is news, not proof of abuse: tell, do not stop mail */
	 .def = "alert",
	 .words = nsp_action_words,
	 .values = nsp_action_values,
	 .store = STORE_ENUM,
	 .off = SET(nsp_action),
	 .doc = "alert (accept, audit record), quarantine, tempfail until approved, or off."},
    /* volume surges (issue 15) */
    [S_POLICY_GOVERNANCE_VOLUME_SURGE] = {.name = "policy.governance.volume_surge",
					  .type = SETTING_GROUP,
					  .doc = "An identity's hourly volume against its own "
						 "baseline."},
    [S_POLICY_GOVERNANCE_VOLUME_SURGE_FACTOR] = {.name = "policy.governance.volume_surge.factor",
						 .type = SETTING_FLOAT,
						 .flags = SETTING_CUSTOM,
						 /* campaigns double or triple a sender's
						  * hour; five times is out of pattern */
						 .def = "5.0",
						 .min = 1000000, /* 1 */
						 .max = 1000000000, /* 1000 */
						 .doc = "Surge: this many times the baseline hour."},
    [S_POLICY_GOVERNANCE_VOLUME_SURGE_MIN_MESSAGES] =
	{.name = "policy.governance.volume_surge.min_messages",
	 .type = SETTING_INT,
	 /* below it, a small sender's burst is noise */
	 .def = "2000",
	 .idef = 2000,
	 .min = 1,
	 .max = 100000000,
	 .store = STORE_UINT,
	 .off = SET(surge_min_messages),
	 .doc = "No surge below this many messages in the hour."},
    [S_POLICY_GOVERNANCE_VOLUME_SURGE_BASELINE_DAYS] =
	{.name = "policy.governance.volume_surge.baseline_days",
	 .type = SETTING_INT,
	 /* two samples of each hour of the week */
	 .def = "14",
	 .idef = 14,
	 .min = 7,
	 .max = 90,
	 .store = STORE_UINT,
	 .off = SET(surge_baseline_days),
	 .doc = "Days of history the baseline is taken from (its weeks)."},
    [S_POLICY_GOVERNANCE_VOLUME_SURGE_ACTION] = {.name = "policy.governance.volume_surge.action",
						 .type = SETTING_WORD,
						 .def = "alert",
						 .words = surge_action_words,
						 .store = STORE_ENUM,
						 .off = SET(surge_action),
						 .doc = "alert (audit record), tempfail (the rest of "
							"the hour), suspend, or off."},
    /* identities */
    [S_IDENTITIES_DIR] = {.name = "identities_dir",
			  .type = SETTING_PATH,
			  .flags = SETTING_CUSTOM,
			  .store = STORE_NONE,
			  .doc = "Directory of *.conf files, one identity each."},
    [S_IDENTITIES] = {.name = "identities",
		      .type = SETTING_LIST,
		      .flags = SETTING_CUSTOM,
		      .doc = "Identities of the main file: a list of identity groups."},
    [S_IDENTITY] = {.name = "identity",
		    .type = SETTING_GROUP,
		    .flags = SETTING_IDFILE | SETTING_REQUIRED | SETTING_CUSTOM,
		    .doc = "One sender identity (an element of identities, or an identities_dir "
			   "file)."},
    [S_ID_ID] = {.name = "identity.id",
		 .type = SETTING_STRING,
		 .flags = SETTING_REQUIRED | SETTING_CUSTOM,
		 .doc = "Unique, [a-z0-9][a-z0-9._-]{0,63}."},
    [S_ID_DESCRIPTION] = {.name = "identity.description",
			  .type = SETTING_STRING,
			  .flags = SETTING_REQUIRED,
			  .doc = "What the sender sends."},
    [S_ID_CLASS] = {.name = "identity.class",
		    .type = SETTING_WORD,
		    .flags = SETTING_REQUIRED,
		    .words = class_words,
		    .doc = "marketing, transactional or notification."},
    [S_ID_OWNERS] = {.name = "identity.owners",
		     .type = SETTING_MAP,
		     .flags = SETTING_CUSTOM,
		     .doc = "role = email."},
    [S_ID_APPROVAL] = {.name = "identity.approval",
		       .type = SETTING_GROUP,
		       .doc = "Who approved the sender; without it the identity is pending."},
    [S_ID_APPROVAL_BY] = {.name = "identity.approval.by",
			  .type = SETTING_STRING,
			  .flags = SETTING_REQUIRED,
			  .doc = "The approver."},
    [S_ID_APPROVAL_DATE] = {.name = "identity.approval.date",
			    .type = SETTING_DATE,
			    .flags = SETTING_REQUIRED,
			    .doc = "When it was approved."},
    [S_ID_APPROVAL_TICKET] = {.name = "identity.approval.ticket",
			      .type = SETTING_STRING,
			      .flags = SETTING_REQUIRED,
			      .doc = "The change ticket."},
    [S_ID_LIFECYCLE] = {.name = "identity.lifecycle",
			.type = SETTING_GROUP,
			.doc = "When the sender may send."},
    [S_ID_LIFECYCLE_ACTIVATE] = {.name = "identity.lifecycle.activate",
				 .type = SETTING_DATE,
				 .doc = "Pending before this date."},
    [S_ID_LIFECYCLE_DECOMMISSION] = {.name = "identity.lifecycle.decommission",
				     .type = SETTING_DATE,
				     .doc = "Retired from this date."},
    [S_ID_PLATFORM] = {.name = "identity.platform",
		       .type = SETTING_STRING,
		       .doc = "In-house or the vendor that sends on our behalf."},
    [S_ID_CREDENTIALS] = {.name = "identity.credentials",
			  .type = SETTING_GROUP,
			  .flags = SETTING_CUSTOM,
			  .doc = "How the sender is attributed: at least one login or network."},
    [S_ID_CREDENTIALS_LOGINS] = {.name = "identity.credentials.logins",
				 .type = SETTING_STRLIST,
				 .flags = SETTING_CUSTOM,
				 .doc = "SASL logins, each of at most one identity."},
    [S_ID_CREDENTIALS_NETWORKS] = {.name = "identity.credentials.networks",
				   .type = SETTING_STRLIST,
				   .flags = SETTING_CUSTOM,
				   .doc = "CIDR prefixes the sender connects from."},
    [S_ID_ENVELOPE_DOMAINS] = {.name = "identity.envelope_domains",
			       .type = SETTING_STRLIST,
			       .flags = SETTING_REQUIRED | SETTING_CUSTOM,
			       .doc = "Domains (or *.domain) the MAIL FROM may use."},
    [S_ID_FROM_DOMAINS] = {.name = "identity.from_domains",
			   .type = SETTING_STRLIST,
			   .flags = SETTING_CUSTOM,
			   .def = "envelope_domains",
			   .doc = "Domains the header From may use."},
    [S_ID_DKIM] = {.name = "identity.dkim",
		   .type = SETTING_LIST,
		   .flags = SETTING_CUSTOM,
		   .doc = "Keys: a list of { domain; selector; key; }."},
    [S_ID_DKIM_DOMAIN] = {.name = "identity.dkim.domain",
			  .type = SETTING_STRING,
			  .flags = SETTING_REQUIRED | SETTING_CUSTOM,
			  .doc = "The d= domain."},
    [S_ID_DKIM_SELECTOR] = {.name = "identity.dkim.selector",
			    .type = SETTING_STRING,
			    .flags = SETTING_REQUIRED | SETTING_CUSTOM,
			    .doc = "The s= selector, [A-Za-z0-9._-]+."},
    [S_ID_DKIM_KEY] = {.name = "identity.dkim.key",
		       .type = SETTING_PATH,
		       .flags = SETTING_REQUIRED | SETTING_CUSTOM,
		       .doc = "Private key (sign mode) or the vendor's public key (verify)."},
    [S_ID_DKIM_MODE] = {.name = "identity.dkim_mode",
			.type = SETTING_WORD,
			/* we sign; verify is for a vendor that signs itself */
			.def = "sign",
			.words = dkim_mode_words,
			.doc = "sign, or verify a vendor's signature."},
    [S_ID_DKIM_SIGN_HEADERS] = {.name = "identity.dkim_sign_headers",
				.type = SETTING_STRLIST,
				.flags = SETTING_CUSTOM,
				.max = SETTING_DKIM_HDRS_EXTRA_MAX,
				.doc = "Header fields signed beyond the defaults."},
    [S_ID_DKIM_OVERSIGN_HEADERS] = {.name = "identity.dkim_oversign_headers",
				    .type = SETTING_STRLIST,
				    .flags = SETTING_CUSTOM,
				    .max = SETTING_DKIM_HDRS_EXTRA_MAX,
				    .doc = "Header fields oversigned beyond the defaults."},
    [S_ID_FEEDBACK_ID] = {.name = "identity.feedback_id",
			  .type = SETTING_FLAG_OR_STRING,
			  .flags = SETTING_CUSTOM,
			  .def = "false",
			  .doc = "true or a SenderId: add a signed Feedback-ID header."},
    [S_ID_LIMITS] = {.name = "identity.limits",
		     .type = SETTING_GROUP,
		     .doc = "Messages per UTC hour and day."},
    [S_ID_LIMITS_PER_HOUR] = {.name = "identity.limits.per_hour",
			      .type = SETTING_INT,
			      .min = 1,
			      .max = INT64_MAX,
			      .doc = "Messages per clock hour; none: no limit."},
    [S_ID_LIMITS_PER_DAY] = {.name = "identity.limits.per_day",
			     .type = SETTING_INT,
			     .min = 1,
			     .max = INT64_MAX,
			     .doc = "Messages per UTC day; none: no limit."},
    [S_ID_LIMITS_RECIPIENTS_PER_HOUR] = {.name = "identity.limits.recipients_per_hour",
					 .type = SETTING_INT,
					 .min = 1,
					 .max = INT64_MAX,
					 .doc = "Recipients per UTC clock hour; none: no limit."},
    [S_ID_LIMITS_RECIPIENTS_PER_DAY] = {.name = "identity.limits.recipients_per_day",
					.type = SETTING_INT,
					.min = 1,
					.max = INT64_MAX,
					.doc = "Recipients per UTC day; none: no limit."},
    [S_ID_EGRESS_IPS] = {.name = "identity.egress_ips",
			 .type = SETTING_STRLIST,
			 .flags = SETTING_CUSTOM,
			 .def = "relay.egress_ips",
			 .doc = "Addresses receivers see for this identity's mail."},
    [S_ID_MODE] = {.name = "identity.mode",
		   .type = SETTING_WORD,
		   .def = "enforce",
		   .words = mode_words,
		   .doc = "monitor: onboarding, verdicts logged only."},
    [S_ID_MAX_RECIPIENTS] = {.name = "identity.max_recipients",
			     .type = SETTING_INT,
			     .def = "policy.max_recipients",
			     .min = 1,
			     .max = 100000,
			     .doc = "At most the baseline's."},
    [S_ID_MIN_DMARC_POLICY] = {.name = "identity.min_dmarc_policy",
			       .type = SETTING_WORD,
			       .def = "policy.min_dmarc_policy",
			       .words = dmarc_words,
			       .doc = "At least the baseline's."},
    [S_ID_ACTIONS] = {.name = "identity.actions",
		      .type = SETTING_MAP,
		      .flags = SETTING_CUSTOM,
		      .def = "policy.actions",
		      .doc = "At least as strict as the baseline's."},
    [S_ID_GOVERNANCE] = {.name = "identity.governance",
			 .type = SETTING_GROUP,
			 .flags = SETTING_CUSTOM,
			 .doc = "Signal thresholds and volume surge tighter than "
				"policy.governance's."},
    [S_ID_GOVERNANCE_COMPLAINT_RATE] = {.name = "identity.governance.complaint_rate",
			.type = SETTING_GROUP,
			.flags = SETTING_CUSTOM,
			.doc = "Tightens policy.governance.complaint_rate."},
    [S_ID_GOVERNANCE_COMPLAINT_RATE_WARN] = {.name = "identity.governance.complaint_rate.warn",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.complaint_rate.warn",
			.min = 0,
			.max = 1000000,
			.doc = "At most the baseline's."},
    [S_ID_GOVERNANCE_COMPLAINT_RATE_SUSPEND] = {.name = "identity.governance.complaint_rate.suspend",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.complaint_rate.suspend",
			.min = 0,
			.max = 1000000,
			.doc = "At most the baseline's."},
    [S_ID_GOVERNANCE_COMPLAINT_RATE_MIN_MESSAGES] = {.name = "identity.governance.complaint_rate.min_messages",
			.type = SETTING_INT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.complaint_rate.min_messages",
			.min = 1,
			.max = 1000000000,
			.doc = "At most the baseline's."},
    [S_ID_GOVERNANCE_HARD_BOUNCE_RATE] = {.name = "identity.governance.hard_bounce_rate",
			.type = SETTING_GROUP,
			.flags = SETTING_CUSTOM,
			.doc = "Tightens policy.governance.hard_bounce_rate."},
    [S_ID_GOVERNANCE_HARD_BOUNCE_RATE_WARN] = {.name = "identity.governance.hard_bounce_rate.warn",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.hard_bounce_rate.warn",
			.min = 0,
			.max = 1000000,
			.doc = "At most the baseline's."},
    [S_ID_GOVERNANCE_HARD_BOUNCE_RATE_SUSPEND] = {.name = "identity.governance.hard_bounce_rate.suspend",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.hard_bounce_rate.suspend",
			.min = 0,
			.max = 1000000,
			.doc = "At most the baseline's."},
    [S_ID_GOVERNANCE_HARD_BOUNCE_RATE_MIN_MESSAGES] = {.name = "identity.governance.hard_bounce_rate.min_messages",
			.type = SETTING_INT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.hard_bounce_rate.min_messages",
			.min = 1,
			.max = 1000000000,
			.doc = "At most the baseline's."},
    [S_ID_GOVERNANCE_DMARC_FAIL_RATE] = {.name = "identity.governance.dmarc_fail_rate",
			.type = SETTING_GROUP,
			.flags = SETTING_CUSTOM,
			.doc = "Tightens policy.governance.dmarc_fail_rate."},
    [S_ID_GOVERNANCE_DMARC_FAIL_RATE_WARN] = {.name = "identity.governance.dmarc_fail_rate.warn",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.dmarc_fail_rate.warn",
			.min = 0,
			.max = 1000000,
			.doc = "At most the baseline's."},
    [S_ID_GOVERNANCE_DMARC_FAIL_RATE_SUSPEND] = {.name = "identity.governance.dmarc_fail_rate.suspend",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.dmarc_fail_rate.suspend",
			.min = 0,
			.max = 1000000,
			.doc = "At most the baseline's."},
    [S_ID_GOVERNANCE_DMARC_FAIL_RATE_MIN_MESSAGES] = {.name = "identity.governance.dmarc_fail_rate.min_messages",
			.type = SETTING_INT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.dmarc_fail_rate.min_messages",
			.min = 1,
			.max = 1000000000,
			.doc = "At most the baseline's."},
    [S_ID_GOVERNANCE_VOLUME_SURGE] = {.name = "identity.governance.volume_surge",
			.type = SETTING_GROUP,
			.flags = SETTING_CUSTOM,
			.doc = "Tightens policy.governance.volume_surge (factor, min_messages)."},
    [S_ID_GOVERNANCE_VOLUME_SURGE_FACTOR] = {.name = "identity.governance.volume_surge.factor",
			.type = SETTING_FLOAT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.volume_surge.factor",
			.min = 1000000, /* 1 */
			.max = 1000000000, /* 1000 */
			.doc = "At most the baseline's."},
    [S_ID_GOVERNANCE_VOLUME_SURGE_MIN_MESSAGES] = {.name = "identity.governance.volume_surge.min_messages",
			.type = SETTING_INT,
			.flags = SETTING_CUSTOM,
			.def = "policy.governance.volume_surge.min_messages",
			.min = 1,
			.max = 100000000,
			.doc = "At most the baseline's."},
};

const struct setting *
setting(enum setting_id id)
{
	return &settings[id];
}

const char *
setting_key(const struct setting *s)
{
	const char *dot = strrchr(s->name, '.');
	return dot ? dot + 1 : s->name;
}

int
setting_by_name(const char *name)
{
	for (int i = 0; i < S__COUNT; i++)
		if (strcmp(settings[i].name, name) == 0)
			return i;
	return -1;
}

/* Is row i a direct child of parent? Rows are depth-first, so a parent's
 * subtree starts right after it and ends at the first row outside. */
bool
setting_next_child(int parent, int *i)
{
	const char *pre = parent >= 0 ? settings[parent].name : "";
	size_t pl = strlen(pre);

	for (int j = *i < parent ? parent + 1 : *i + 1; j < S__COUNT; j++) {
		const char *n = settings[j].name;
		if (parent >= 0 && (strncmp(n, pre, pl) != 0 || n[pl] != '.'))
			return false; /* left the subtree */
		const char *rest = parent >= 0 ? n + pl + 1 : n;
		if (strchr(rest, '.') != NULL)
			continue; /* a grandchild */
		if (parent == S_ROOT && (settings[j].flags & SETTING_IDFILE))
			continue;
		if (parent == S_IDFILE_ROOT && !(settings[j].flags & SETTING_IDFILE))
			continue;
		*i = j;
		return true;
	}
	return false;
}

bool
setting_word_value(enum setting_id id, const char *w, int *out)
{
	const struct setting *s = &settings[id];
	for (int i = 0; s->words != NULL && s->words[i] != NULL; i++)
		if (strcmp(s->words[i], w) == 0) {
			*out = s->values ? s->values[i] : i;
			return true;
		}
	return false;
}

int
setting_default_value(enum setting_id id)
{
	int v = 0;
	if (settings[id].def == NULL || !setting_word_value(id, settings[id].def, &v))
		return 0; /* not reached: test_settings checks every default word */
	return v;
}

const char *
setting_type_name(enum setting_type t)
{
	switch (t) {
	case SETTING_GROUP:
		return "group";
	case SETTING_LIST:
		return "list of groups";
	case SETTING_MAP:
		return "group of name = value";
	case SETTING_STRING:
		return "string";
	case SETTING_PATH:
		return "path";
	case SETTING_INT:
		return "integer";
	case SETTING_MODE:
		return "octal mode string";
	case SETTING_WORD:
		return "word";
	case SETTING_STRLIST:
		return "list of strings";
	case SETTING_DATE:
		return "date";
	case SETTING_FLAG_OR_STRING:
		return "boolean or string";
	case SETTING_FLOAT:
		return "number";
	}
	return "?";
}
