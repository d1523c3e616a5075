/*
 * check.h - the catalogue of checks (SPEC §3): ids, default actions and
 * SMTP replies, and the action/mode vocabulary shared by config and policy.
 */
#ifndef BW_CHECK_H
#define BW_CHECK_H

#include <stdbool.h>

/* Ordered by severity: a stronger action never yields to a weaker one. */
enum bw_action {
	BW_ACT_ACCEPT = 0,
	BW_ACT_QUARANTINE = 1,
	BW_ACT_TEMPFAIL = 2,
	BW_ACT_REJECT = 3,
};

enum bw_mode { BW_MODE_ENFORCE = 0, BW_MODE_MONITOR = 1 };

enum bw_check {
	BW_CHK_UNREGISTERED,
	BW_CHK_SUSPENDED,
	BW_CHK_NOT_ACTIVE,
	BW_CHK_NETWORK,
	BW_CHK_ENVELOPE_DOMAIN,
	BW_CHK_FROM_DOMAIN,
	BW_CHK_RFC5322,
	BW_CHK_LIST_UNSUBSCRIBE,
	BW_CHK_DKIM,
	BW_CHK_SPF,
	BW_CHK_DMARC,
	BW_CHK_RATE_LIMIT,
	BW_CHK_RECIPIENTS,
	BW_CHK_DNS_ERROR,
	BW_CHK_STATE_ERROR,
	BW_CHK_INTERNAL_ERROR,
	BW_CHK_NEW_SENDING_PATH, /* SPEC §9; action from policy.governance.new_sending_path */
	BW_CHK_VOLUME_SURGE,	 /* SPEC §9; action from policy.governance.volume_surge */
	BW_CHK_SUPPRESSED, /* a recipient on the identity's suppression list (RCPT) */
	BW_CHK__COUNT
};

struct check_info {
	const char *id;            /* "envelope-domain" */
	enum bw_action def_action; /* SPEC §3 default */
	const char *reject_rcode;  /* reply when the action is reject */
	const char *reject_xcode;
	const char *tempfail_rcode; /* reply when the action is tempfail */
	const char *tempfail_xcode;
};

const struct check_info *check_info(enum bw_check c);
/* Look up a check by its id string; -1 if unknown. */
int check_by_name(const char *name);
const char *check_action_name(enum bw_action a);
/* Parse "reject" etc.; false if unknown. */
bool check_action_parse(const char *s, enum bw_action *out);

#endif
