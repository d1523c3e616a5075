/*
 * conf_governance.c - the signal thresholds of SPEC §9:
 * policy.governance.{complaint_rate,hard_bounce_rate,dmarc_fail_rate} =
 * { warn; suspend; min_messages; window_hours; } and each identity's
 * identity.governance.<signal> = { warn; suspend; min_messages; }, which
 * may only tighten the baseline (a larger value is refused at its
 * file:line); likewise identity.governance.volume_surge = { factor;
 * min_messages; } against policy.governance.volume_surge. Defaults come
 * from the settings table's rows.
 * Untrusted input: config values (typed and bounded here).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "registry/conf_int.h"

/* The rows of one signal: group, warn, suspend, min_messages, window. */
struct sig_rows {
	enum setting_id grp, warn, suspend, min, window;
	enum setting_id id_grp, id_warn, id_suspend, id_min;
};

static const struct sig_rows rows[BW_SIG__COUNT] = {
    [BW_SIG_COMPLAINT_RATE] = {S_POLICY_GOVERNANCE_COMPLAINT_RATE,
			       S_POLICY_GOVERNANCE_COMPLAINT_RATE_WARN,
			       S_POLICY_GOVERNANCE_COMPLAINT_RATE_SUSPEND,
			       S_POLICY_GOVERNANCE_COMPLAINT_RATE_MIN_MESSAGES,
			       S_POLICY_GOVERNANCE_COMPLAINT_RATE_WINDOW_HOURS,
			       S_ID_GOVERNANCE_COMPLAINT_RATE, S_ID_GOVERNANCE_COMPLAINT_RATE_WARN,
			       S_ID_GOVERNANCE_COMPLAINT_RATE_SUSPEND,
			       S_ID_GOVERNANCE_COMPLAINT_RATE_MIN_MESSAGES},
    [BW_SIG_HARD_BOUNCE_RATE] = {S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE,
				 S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_WARN,
				 S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_SUSPEND,
				 S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_MIN_MESSAGES,
				 S_POLICY_GOVERNANCE_HARD_BOUNCE_RATE_WINDOW_HOURS,
				 S_ID_GOVERNANCE_HARD_BOUNCE_RATE,
				 S_ID_GOVERNANCE_HARD_BOUNCE_RATE_WARN,
				 S_ID_GOVERNANCE_HARD_BOUNCE_RATE_SUSPEND,
				 S_ID_GOVERNANCE_HARD_BOUNCE_RATE_MIN_MESSAGES},
    [BW_SIG_DMARC_FAIL_RATE] = {S_POLICY_GOVERNANCE_DMARC_FAIL_RATE,
				S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_WARN,
				S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_SUSPEND,
				S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_MIN_MESSAGES,
				S_POLICY_GOVERNANCE_DMARC_FAIL_RATE_WINDOW_HOURS,
				S_ID_GOVERNANCE_DMARC_FAIL_RATE,
				S_ID_GOVERNANCE_DMARC_FAIL_RATE_WARN,
				S_ID_GOVERNANCE_DMARC_FAIL_RATE_SUSPEND,
				S_ID_GOVERNANCE_DMARC_FAIL_RATE_MIN_MESSAGES},
};

/* A number (integer or decimal) within the row's bounds: 1 present, 0
 * absent, -1 reported. (conf_int.h) */
int
conf_float(struct conf_ctx *c, const config_setting_t *g, enum setting_id id, double *out)
{
	const struct setting *row = setting(id);
	const config_setting_t *s = conf_at(g, id);
	double v;
	if (s == NULL)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	case CONFIG_TYPE_INT:
		v = (double)config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		break;
	default:
		conf_err(c, s, "expected a number, got %s", conf_type_name(config_setting_type(s)));
		return -1;
	}
	double lo = (double)row->min / SETTING_FLOAT_SCALE,
	       hi = (double)row->max / SETTING_FLOAT_SCALE;
	if (!(v >= lo && v <= hi)) {
		conf_err(c, s, "%g is out of range (%g..%g)", v, lo, hi);
		return -1;
	}
	*out = v;
	return 1;
}

void
conf_governance_defaults(struct bw_settings *s)
{
	for (int i = 0; i < BW_SIG__COUNT; i++) {
		struct bw_threshold *t = &s->thresholds[i];
		t->warn = strtod(setting(rows[i].warn)->def, NULL);
		t->suspend = strtod(setting(rows[i].suspend)->def, NULL);
		t->min_messages = (unsigned)setting(rows[i].min)->idef;
		t->window_hours = (unsigned)setting(rows[i].window)->idef;
	}
}

/* warn above suspend would warn after suspending: refused. */
static void
check_order(struct conf_ctx *c, const config_setting_t *g, const struct bw_threshold *t,
	    enum bw_signal i)
{
	if (t->warn > t->suspend)
		conf_err(c, g, "warn %g is above suspend %g (%s)", t->warn, t->suspend,
			 registry_signal_name(i));
}

void
conf_governance(struct conf_ctx *c, const config_setting_t *gov)
{
	struct bw_settings *s = &c->r->set;
	for (int i = 0; i < BW_SIG__COUNT; i++) {
		const config_setting_t *g = NULL;
		struct bw_threshold *t = &s->thresholds[i];
		long long n;
		if (conf_group(c, gov, rows[i].grp, &g) <= 0 || !conf_keys(c, g, (int)rows[i].grp))
			continue;
		conf_float(c, g, rows[i].warn, &t->warn);
		conf_float(c, g, rows[i].suspend, &t->suspend);
		if (conf_int(c, g, rows[i].min, &n) > 0)
			t->min_messages = (unsigned)n;
		if (conf_int(c, g, rows[i].window, &n) > 0)
			t->window_hours = (unsigned)n;
		check_order(c, g, t, (enum bw_signal)i);
	}
}

/* identity.governance.volume_surge: a factor or min_messages above the
 * baseline's would let a surge pass unseen: refused at file:line. */
static void
conf_identity_surge(struct conf_ctx *c, const config_setting_t *gov, struct bw_identity *id)
{
	const struct bw_settings *base = &c->r->set;
	const config_setting_t *g = NULL;
	double v;
	long long n;
	if (conf_group(c, gov, S_ID_GOVERNANCE_VOLUME_SURGE, &g) <= 0 ||
	    !conf_keys(c, g, S_ID_GOVERNANCE_VOLUME_SURGE))
		return;
	if (conf_float(c, g, S_ID_GOVERNANCE_VOLUME_SURGE_FACTOR, &v) > 0) {
		if (v > base->surge_factor)
			conf_err(c, conf_at(g, S_ID_GOVERNANCE_VOLUME_SURGE_FACTOR),
				 "%g loosens the baseline (policy.governance.volume_surge.factor "
				 "is %g)",
				 v, base->surge_factor);
		else
			id->surge_factor = v;
	}
	if (conf_int(c, g, S_ID_GOVERNANCE_VOLUME_SURGE_MIN_MESSAGES, &n) > 0) {
		if (n > (long long)base->surge_min_messages)
			conf_err(c, conf_at(g, S_ID_GOVERNANCE_VOLUME_SURGE_MIN_MESSAGES),
				 "%lld loosens the baseline (policy.governance.volume_surge."
				 "min_messages is %u)",
				 n, base->surge_min_messages);
		else
			id->surge_min_messages = (unsigned)n;
	}
}

void
conf_identity_governance(struct conf_ctx *c, const config_setting_t *idg, struct bw_identity *id)
{
	const struct bw_settings *base = &c->r->set;
	const config_setting_t *gov = NULL;
	memcpy(id->thresholds, base->thresholds, sizeof(id->thresholds));
	id->surge_factor = base->surge_factor;
	id->surge_min_messages = base->surge_min_messages;
	if (conf_group(c, idg, S_ID_GOVERNANCE, &gov) <= 0 || !conf_keys(c, gov, S_ID_GOVERNANCE))
		return;
	conf_identity_surge(c, gov, id);
	for (int i = 0; i < BW_SIG__COUNT; i++) {
		const config_setting_t *g = NULL;
		const struct bw_threshold *b = &base->thresholds[i];
		struct bw_threshold *t = &id->thresholds[i];
		const char *name = registry_signal_name((enum bw_signal)i);
		double v;
		long long n;
		if (conf_group(c, gov, rows[i].id_grp, &g) <= 0 ||
		    !conf_keys(c, g, (int)rows[i].id_grp))
			continue;
		if (conf_float(c, g, rows[i].id_warn, &v) > 0) {
			if (v > b->warn)
				conf_err(
				    c, conf_at(g, rows[i].id_warn),
				    "%g loosens the baseline (policy.governance.%s.warn is %g)", v,
				    name, b->warn);
			else
				t->warn = v;
		}
		if (conf_float(c, g, rows[i].id_suspend, &v) > 0) {
			if (v > b->suspend)
				conf_err(
				    c, conf_at(g, rows[i].id_suspend),
				    "%g loosens the baseline (policy.governance.%s.suspend is %g)",
				    v, name, b->suspend);
			else
				t->suspend = v;
		}
		if (conf_int(c, g, rows[i].id_min, &n) > 0) {
			if (n > (long long)b->min_messages)
				conf_err(c, conf_at(g, rows[i].id_min),
					 "%lld loosens the baseline (policy.governance.%s."
					 "min_messages is %u)",
					 n, name, b->min_messages);
			else
				t->min_messages = (unsigned)n;
		}
		/* a tighter suspend alone pulls warn down with it */
		if (t->warn > t->suspend && conf_at(g, rows[i].id_warn) == NULL)
			t->warn = t->suspend;
		check_order(c, g, t, (enum bw_signal)i);
	}
}
