/*
 * check.c - the static catalogue of checks. No state, no I/O.
 */
#include <string.h>

#include "registry/check.h"

static const struct check_info checks[BW_CHK__COUNT] = {
	[BW_CHK_UNREGISTERED] = {"unregistered", BW_ACT_REJECT, "550", "5.7.1", "451", "4.7.1"},
	[BW_CHK_SUSPENDED] = {"suspended", BW_ACT_REJECT, "550", "5.7.1", "451", "4.7.1"},
	[BW_CHK_NOT_ACTIVE] = {"not-active", BW_ACT_REJECT, "550", "5.7.1", "451", "4.7.1"},
	[BW_CHK_NETWORK] = {"network", BW_ACT_REJECT, "550", "5.7.1", "451", "4.7.1"},
	[BW_CHK_ENVELOPE_DOMAIN] = {"envelope-domain", BW_ACT_REJECT, "553", "5.7.1", "451", "4.7.1"},
	[BW_CHK_FROM_DOMAIN] = {"from-domain", BW_ACT_REJECT, "550", "5.7.1", "451", "4.7.1"},
	[BW_CHK_RFC5322] = {"rfc5322", BW_ACT_REJECT, "550", "5.6.0", "451", "4.6.0"},
	[BW_CHK_LIST_UNSUBSCRIBE] = {"list-unsubscribe", BW_ACT_REJECT, "550", "5.7.1", "451", "4.7.1"},
	[BW_CHK_DKIM] = {"dkim", BW_ACT_TEMPFAIL, "550", "5.7.20", "451", "4.7.1"},
	[BW_CHK_SPF] = {"spf", BW_ACT_QUARANTINE, "550", "5.7.23", "451", "4.7.24"},
	[BW_CHK_DMARC] = {"dmarc", BW_ACT_QUARANTINE, "550", "5.7.26", "451", "4.7.26"},
	[BW_CHK_RATE_LIMIT] = {"rate-limit", BW_ACT_TEMPFAIL, "550", "5.7.28", "451", "4.7.28"},
	[BW_CHK_RECIPIENTS] = {"recipients", BW_ACT_REJECT, "452", "4.5.3", "452", "4.5.3"},
	[BW_CHK_DNS_ERROR] = {"dns-error", BW_ACT_TEMPFAIL, "550", "5.4.3", "451", "4.4.3"},
	[BW_CHK_STATE_ERROR] = {"state-error", BW_ACT_TEMPFAIL, "550", "5.3.0", "451", "4.3.0"},
	[BW_CHK_INTERNAL_ERROR] = {"internal-error", BW_ACT_TEMPFAIL, "550", "5.3.0", "451", "4.3.0"},
	/* accept by default: the governance settings choose what they do */
	[BW_CHK_NEW_SENDING_PATH] = {"new-sending-path", BW_ACT_ACCEPT, "550", "5.7.1", "451", "4.7.1"},
	[BW_CHK_VOLUME_SURGE] = {"volume-surge", BW_ACT_ACCEPT, "550", "5.7.28", "451", "4.7.28"},
	[BW_CHK_SUPPRESSED] = {"suppressed", BW_ACT_REJECT, "550", "5.7.1", "451", "4.7.1"},
};

static const char *const action_names[] = {"accept", "quarantine", "tempfail", "reject"};

const struct check_info *
check_info(enum bw_check c)
{
	return &checks[c];
}

int
check_by_name(const char *name)
{
	for (int i = 0; i < BW_CHK__COUNT; i++)
		if (strcmp(checks[i].id, name) == 0)
			return i;
	return -1;
}

const char *
check_action_name(enum bw_action a)
{
	return action_names[a];
}

bool
check_action_parse(const char *s, enum bw_action *out)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, action_names[i]) == 0) {
			*out = (enum bw_action)i;
			return true;
		}
	return false;
}
