/*
 * metrics.c - the counters behind /metrics and the HTTP server serving them.
 *
 * Memory: every counter lives in static fixed-size tables; the per-message
 * hooks only do relaxed __atomic adds (no lock, no allocation). The one
 * allocation is the exposition text built per scrape (freed by
 * libmicrohttpd after sending). The registry revision is copied under a
 * mutex taken only at load/reload and per scrape, never per message.
 *
 * Untrusted input: identity ids come from the registry (validated
 * [a-z0-9._-]); the HTTP request is parsed by libmicrohttpd and only its
 * method and URL are compared. Label values are escaped anyway.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/util.h"
#include "metrics/metrics.h"
#include "registry/registry.h"

#define N_CHECKS (BW_CHK__COUNT + 1) /* + "none" */
#define SLOT_OTHER METRICS_ID_SLOTS       /* overflow identities */
#define SLOT_NONE (METRICS_ID_SLOTS + 1)  /* unattributed messages */
#define SLOT_ALL (METRICS_ID_SLOTS + 2)   /* per_identity = false */
#define N_SLOTS (METRICS_ID_SLOTS + 3)

static const char *const outcome_names[METRICS_OUTCOMES] = {"accept", "quarantine", "tempfail",
							    "reject", "abort"};
static const char *const stage_names[METRICS_STAGES] = {"mail", "rcpt", "eoh", "eom", "abort"};
/* Latency bucket upper bounds in microseconds (exposed in seconds). */
static const long long bucket_us[] = {1000,   5000,    10000,   25000,   50000,  100000,
				      250000, 500000, 1000000, 2500000, 5000000, 10000000};
#define N_BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

/* An identity slot: state 0 free, 1 being claimed, 2 ready (name valid). */
struct id_slot {
	int state;
	char name[BW_ID_MAX + 1];
	uint64_t n[METRICS_OUTCOMES][N_CHECKS];
};

static struct id_slot slots[N_SLOTS];
static uint64_t lat_bucket[METRICS_STAGES][N_BUCKETS + 1]; /* last: over the top bound */
static uint64_t lat_sum_us[METRICS_STAGES], lat_count[METRICS_STAGES];

struct health {
	int up;                  /* -1 nothing seen yet, 0 last op failed, 1 ok */
	uint64_t errors;
	long long last_success;
};
static struct health h_store = {-1, 0, 0}, h_dns = {-1, 0, 0};

static int per_identity = 1;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static char reg_revision[BW_REVISION_HEX + 1];
static long long reg_loaded_at;
static uint64_t reg_loads;
static long n_suspended = -1;
static struct MHD_Daemon *daemon_;
/* The suspended ids and the signal table: replaced whole by the state
 * thread (at most every tick and every signal pass), read per scrape. */
static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static char (*susp_ids)[BW_ID_MAX + 1];
static size_t n_susp_ids;
static struct metrics_signal *sigs;
static size_t n_sigs;
static long long sigs_at;

/* FNV-1a over the id, for the slot probe start. */
static uint32_t
id_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The slot of identity id: found or claimed by CAS; a full table gives
 * SLOT_OTHER. Bounded: at most METRICS_ID_SLOTS probes. */
static struct id_slot *
slot_for(const char *id)
{
	if (!__atomic_load_n(&per_identity, __ATOMIC_RELAXED))
		return &slots[SLOT_ALL];
	if (id == NULL || id[0] == '\0')
		return &slots[SLOT_NONE];
	uint32_t h = id_hash(id);
	for (unsigned i = 0; i < METRICS_ID_SLOTS; i++) {
		struct id_slot *s = &slots[(h + i) % METRICS_ID_SLOTS];
		int st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (st == 0) {
			int zero = 0;
			if (__atomic_compare_exchange_n(&s->state, &zero, 1, false, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				bw_strlcpy(s->name, id, sizeof(s->name));
				__atomic_store_n(&s->state, 2, __ATOMIC_RELEASE);
				return s;
			}
			st = zero;
		}
		while (st == 1) /* another thread is copying a name: a few stores */
			st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (strcmp(s->name, id) == 0)
			return s;
	}
	return &slots[SLOT_OTHER];
}

/* The index of a stage name; unknown names count as "eom". */
static int
stage_index(const char *stage)
{
	for (int i = 0; i < METRICS_STAGES; i++)
		if (stage != NULL && strcmp(stage, stage_names[i]) == 0)
			return i;
	return 3;
}

/* Count one decision (see metrics.h). */
void
metrics_decision(int outcome, enum bw_check check, const char *identity, const char *stage,
		 long long latency_us)
{
	if (outcome < 0 || outcome >= METRICS_OUTCOMES)
		return;
	if ((int)check < 0 || check > BW_CHK__COUNT)
		check = BW_CHK__COUNT;
	struct id_slot *s = slot_for(identity);
	__atomic_add_fetch(&s->n[outcome][check], 1, __ATOMIC_RELAXED);
	int st = stage_index(stage);
	size_t b = 0;
	if (latency_us < 0)
		latency_us = 0;
	while (b < N_BUCKETS && latency_us > bucket_us[b])
		b++;
	__atomic_add_fetch(&lat_bucket[st][b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&lat_sum_us[st], (uint64_t)latency_us, __ATOMIC_RELAXED);
	__atomic_add_fetch(&lat_count[st], 1, __ATOMIC_RELAXED);
}

/* Record one operation's result into h. */
static void
health_note(struct health *h, bool ok, long long now)
{
	__atomic_store_n(&h->up, ok ? 1 : 0, __ATOMIC_RELAXED);
	if (ok)
		__atomic_store_n(&h->last_success, now, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&h->errors, 1, __ATOMIC_RELAXED);
}

/* A state-store operation ended. */
void
metrics_store(bool ok, long long now)
{
	health_note(&h_store, ok, now);
}

/* A DNS lookup ended. */
void
metrics_dns(bool ok, long long now)
{
	health_note(&h_dns, ok, now);
}

/* Note the registry snapshot in use. */
void
metrics_registry(const char *revision, long long loaded_at, bool per_id)
{
	pthread_mutex_lock(&reg_lock);
	bw_strlcpy(reg_revision, revision != NULL ? revision : "", sizeof(reg_revision));
	reg_loaded_at = loaded_at;
	reg_loads++;
	pthread_mutex_unlock(&reg_lock);
	__atomic_store_n(&per_identity, per_id ? 1 : 0, __ATOMIC_RELAXED);
}

/* Note the number of suspended identities. */
void
metrics_suspended(long n)
{
	__atomic_store_n(&n_suspended, n, __ATOMIC_RELAXED);
}

/* Whether a label value is safe to print unescaped ([a-z0-9._-], as the
 * registry's ids); the store's ids are checked again here. */
static bool
label_ok(const char *v)
{
	if (*v == '\0')
		return false;
	for (; *v != '\0'; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') || *v == '.' ||
		      *v == '_' || *v == '-'))
			return false;
	return true;
}

/* Note the suspended identities (see metrics.h). */
int
metrics_suspended_ids(const char *const *ids, size_t n)
{
	char(*copy)[BW_ID_MAX + 1] = n ? malloc(n * sizeof(*copy)) : NULL;
	if (n && copy == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		bw_strlcpy(copy[i], ids[i], sizeof(copy[i]));
	pthread_mutex_lock(&tab_lock);
	free(susp_ids);
	susp_ids = copy;
	n_susp_ids = n;
	pthread_mutex_unlock(&tab_lock);
	metrics_suspended((long)n);
	return 0;
}

/* Replace the signal table (see metrics.h). */
int
metrics_signals(const struct metrics_signal *v, size_t n, long long at)
{
	struct metrics_signal *copy = n ? malloc(n * sizeof(*copy)) : NULL;
	if (n && copy == NULL)
		return -1;
	if (n)
		memcpy(copy, v, n * sizeof(*copy));
	for (size_t i = 0; i < n; i++) {
		copy[i].identity[BW_ID_MAX] = '\0';
		if (!label_ok(copy[i].identity))
			bw_strlcpy(copy[i].identity, "_invalid", sizeof(copy[i].identity));
		if (copy[i].signal < 0 || copy[i].signal >= BW_SIG__COUNT)
			copy[i].signal = 0;
		if (copy[i].state < 0 || copy[i].state >= METRICS_SIGNAL_STATES)
			copy[i].state = METRICS_SIGNAL_STATES - 1;
	}
	pthread_mutex_lock(&tab_lock);
	free(sigs);
	sigs = copy;
	n_sigs = n;
	sigs_at = at;
	pthread_mutex_unlock(&tab_lock);
	return 0;
}

/* Zero every counter and slot. */
void
metrics_reset(void)
{
	memset(slots, 0, sizeof(slots));
	memset(lat_bucket, 0, sizeof(lat_bucket));
	memset(lat_sum_us, 0, sizeof(lat_sum_us));
	memset(lat_count, 0, sizeof(lat_count));
	h_store = (struct health){-1, 0, 0};
	h_dns = (struct health){-1, 0, 0};
	per_identity = 1;
	n_suspended = -1;
	pthread_mutex_lock(&tab_lock);
	free(susp_ids);
	susp_ids = NULL;
	n_susp_ids = 0;
	free(sigs);
	sigs = NULL;
	n_sigs = 0;
	sigs_at = 0;
	pthread_mutex_unlock(&tab_lock);
}

/* The name of a slot as a label value. */
static const char *
slot_label(size_t i)
{
	if (i == SLOT_OTHER)
		return "_other";
	if (i == SLOT_NONE)
		return "_unattributed";
	return slots[i].name;
}

/* The decision counter lines. */
static void
render_decisions(FILE *f)
{
	fputs("# HELP bulkwarden_decisions_total Messages decided, by identity, outcome and the "
	      "check that decided (none: no check failed).\n"
	      "# TYPE bulkwarden_decisions_total counter\n",
	      f);
	for (size_t i = 0; i < N_SLOTS; i++) {
		if (i < METRICS_ID_SLOTS && __atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE) != 2)
			continue;
		for (int o = 0; o < METRICS_OUTCOMES; o++)
			for (int c = 0; c < N_CHECKS; c++) {
				uint64_t v = __atomic_load_n(&slots[i].n[o][c], __ATOMIC_RELAXED);
				if (v == 0)
					continue;
				const char *cn = c == BW_CHK__COUNT ? "none"
								    : check_info((enum bw_check)c)->id;
				if (i == SLOT_ALL)
					fprintf(f,
						"bulkwarden_decisions_total{outcome=\"%s\",check=\"%s\"} "
						"%llu\n",
						outcome_names[o], cn, (unsigned long long)v);
				else
					fprintf(f,
						"bulkwarden_decisions_total{identity=\"%s\",outcome=\"%s\","
						"check=\"%s\"} %llu\n",
						slot_label(i), outcome_names[o], cn,
						(unsigned long long)v);
			}
	}
}

/* The latency histogram lines. */
static void
render_latency(FILE *f)
{
	fputs("# HELP bulkwarden_decision_latency_seconds Time from MAIL FROM to the decision, "
	      "by the stage that ended the message.\n"
	      "# TYPE bulkwarden_decision_latency_seconds histogram\n",
	      f);
	for (int s = 0; s < METRICS_STAGES; s++) {
		uint64_t cum = 0;
		for (size_t b = 0; b < N_BUCKETS; b++) {
			cum += __atomic_load_n(&lat_bucket[s][b], __ATOMIC_RELAXED);
			fprintf(f,
				"bulkwarden_decision_latency_seconds_bucket{stage=\"%s\",le=\"%g\"} "
				"%llu\n",
				stage_names[s], (double)bucket_us[b] / 1e6, (unsigned long long)cum);
		}
		cum += __atomic_load_n(&lat_bucket[s][N_BUCKETS], __ATOMIC_RELAXED);
		/* count read after the buckets: a decision counted meanwhile
		 * must not make +Inf smaller than a lower bucket */
		uint64_t cnt = __atomic_load_n(&lat_count[s], __ATOMIC_RELAXED);
		if (cnt < cum)
			cnt = cum;
		fprintf(f,
			"bulkwarden_decision_latency_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n"
			"bulkwarden_decision_latency_seconds_sum{stage=\"%s\"} %.6f\n"
			"bulkwarden_decision_latency_seconds_count{stage=\"%s\"} %llu\n",
			stage_names[s], (unsigned long long)cnt, stage_names[s],
			(double)__atomic_load_n(&lat_sum_us[s], __ATOMIC_RELAXED) / 1e6,
			stage_names[s], (unsigned long long)cnt);
	}
}

/* Up, errors and last success of one dependency. */
static void
render_health(FILE *f, const char *what, const char *help, struct health *h)
{
	int up = __atomic_load_n(&h->up, __ATOMIC_RELAXED);
	fprintf(f,
		"# HELP bulkwarden_%s_up 1 when the last %s operation succeeded, 0 when it "
		"failed (absent before the first).\n# TYPE bulkwarden_%s_up gauge\n",
		what, help, what);
	if (up >= 0)
		fprintf(f, "bulkwarden_%s_up %d\n", what, up);
	fprintf(f,
		"# HELP bulkwarden_%s_errors_total Failed %s operations.\n"
		"# TYPE bulkwarden_%s_errors_total counter\nbulkwarden_%s_errors_total %llu\n"
		"# HELP bulkwarden_%s_last_success_timestamp_seconds Unix time of the last "
		"successful %s operation (0: none yet).\n"
		"# TYPE bulkwarden_%s_last_success_timestamp_seconds gauge\n"
		"bulkwarden_%s_last_success_timestamp_seconds %lld\n",
		what, help, what, what, (unsigned long long)__atomic_load_n(&h->errors, __ATOMIC_RELAXED),
		what, help, what, what, __atomic_load_n(&h->last_success, __ATOMIC_RELAXED));
}

/* v as the shortest of %.15g / %.17g that reads back as v (0.003, not
 * 0.0030000000000000001). */
static const char *
num(double v, char buf[32])
{
	snprintf(buf, 32, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, 32, "%.17g", v);
	return buf;
}

/* Whether id is in the suspended list (tab_lock held). */
static bool
is_suspended(const char *id)
{
	for (size_t i = 0; i < n_susp_ids; i++)
		if (strcmp(susp_ids[i], id) == 0)
			return true;
	return false;
}

/* The suspended-identity and signal lines (tab_lock taken here). Per
 * identity (per_identity = true) for at most METRICS_ID_SLOTS identities;
 * the counts per signal and state always, over every identity. */
static void
render_signals(FILE *f, bool per_id)
{
	static const char *const st_names[METRICS_SIGNAL_STATES] = {"ok", "warn", "suspend",
								    "insufficient-data"};
	static const char *const levels[2] = {"warn", "suspend"};
	uint64_t cnt[BW_SIG__COUNT][METRICS_SIGNAL_STATES] = {{0}}, waived[BW_SIG__COUNT] = {0};
	char nb[32];
	pthread_mutex_lock(&tab_lock);
	size_t n_show = 0; /* signal entries of the first METRICS_ID_SLOTS identities */
	size_t ids = 0;
	for (size_t i = 0; i < n_sigs; i++) {
		if (i == 0 || strcmp(sigs[i].identity, sigs[i - 1].identity) != 0)
			ids++;
		if (ids <= METRICS_ID_SLOTS)
			n_show = i + 1;
		cnt[sigs[i].signal][sigs[i].state]++;
		waived[sigs[i].signal] += sigs[i].waived;
	}
	if (per_id) {
		fputs("# HELP bulkwarden_identity_suspended 1 while the identity is suspended in "
		      "the state store, else 0.\n"
		      "# TYPE bulkwarden_identity_suspended gauge\n",
		      f);
		size_t shown = 0;
		for (size_t i = 0; i < n_susp_ids && shown < METRICS_ID_SLOTS; i++)
			if (label_ok(susp_ids[i])) {
				fprintf(f, "bulkwarden_identity_suspended{identity=\"%s\"} 1\n",
					susp_ids[i]);
				shown++;
			}
		for (size_t i = 0; i < n_show && shown < METRICS_ID_SLOTS; i++)
			if ((i == 0 || strcmp(sigs[i].identity, sigs[i - 1].identity) != 0) &&
			    !is_suspended(sigs[i].identity)) {
				fprintf(f, "bulkwarden_identity_suspended{identity=\"%s\"} 0\n",
					sigs[i].identity);
				shown++;
			}
		fputs("# HELP bulkwarden_signal_value Feedback signal of the identity over its "
		      "window (rate, 0 to 1), as last computed.\n"
		      "# TYPE bulkwarden_signal_value gauge\n",
		      f);
		for (size_t i = 0; i < n_show; i++)
			fprintf(f, "bulkwarden_signal_value{identity=\"%s\",signal=\"%s\"} %s\n",
				sigs[i].identity,
				registry_signal_name((enum bw_signal)sigs[i].signal),
				num(sigs[i].value, nb));
		fputs("# HELP bulkwarden_signal_threshold The identity's threshold of a signal, "
		      "by level (warn, suspend).\n"
		      "# TYPE bulkwarden_signal_threshold gauge\n",
		      f);
		for (size_t i = 0; i < n_show; i++)
			for (int l = 0; l < 2; l++)
				fprintf(f,
					"bulkwarden_signal_threshold{identity=\"%s\",signal=\"%s\","
					"level=\"%s\"} %s\n",
					sigs[i].identity,
					registry_signal_name((enum bw_signal)sigs[i].signal),
					levels[l], num(l == 0 ? sigs[i].warn : sigs[i].suspend, nb));
	}
	fputs("# HELP bulkwarden_signal_identities Identities by signal and signal state "
	      "(ok, warn, suspend, insufficient-data), as last computed.\n"
	      "# TYPE bulkwarden_signal_identities gauge\n",
	      f);
	if (sigs_at > 0)
		for (int g = 0; g < BW_SIG__COUNT; g++)
			for (int k = 0; k < METRICS_SIGNAL_STATES; k++)
				fprintf(f,
					"bulkwarden_signal_identities{signal=\"%s\",state=\"%s\"} "
					"%llu\n",
					registry_signal_name((enum bw_signal)g), st_names[k],
					(unsigned long long)cnt[g][k]);
	fputs("# HELP bulkwarden_signal_waived_identities Identities whose signal a waiver "
	      "covers.\n# TYPE bulkwarden_signal_waived_identities gauge\n",
	      f);
	if (sigs_at > 0)
		for (int g = 0; g < BW_SIG__COUNT; g++)
			fprintf(f, "bulkwarden_signal_waived_identities{signal=\"%s\"} %llu\n",
				registry_signal_name((enum bw_signal)g),
				(unsigned long long)waived[g]);
	fprintf(f,
		"# HELP bulkwarden_signals_timestamp_seconds Unix time the signals were last "
		"computed (0: not yet).\n"
		"# TYPE bulkwarden_signals_timestamp_seconds gauge\n"
		"bulkwarden_signals_timestamp_seconds %lld\n",
		sigs_at);
	pthread_mutex_unlock(&tab_lock);
}

/* Build the whole exposition text. */
char *
metrics_render(size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (f == NULL)
		return NULL;
	render_decisions(f);
	render_latency(f);
	render_health(f, "state", "state-store", &h_store);
	render_health(f, "dns", "DNS", &h_dns);
	long susp = __atomic_load_n(&n_suspended, __ATOMIC_RELAXED);
	fputs("# HELP bulkwarden_suspended_identities Identities suspended in the state store.\n"
	      "# TYPE bulkwarden_suspended_identities gauge\n",
	      f);
	if (susp >= 0)
		fprintf(f, "bulkwarden_suspended_identities %ld\n", susp);
	render_signals(f, __atomic_load_n(&per_identity, __ATOMIC_RELAXED) != 0);
	pthread_mutex_lock(&reg_lock);
	fprintf(f,
		"# HELP bulkwarden_registry_info The registry revision in use (value 1).\n"
		"# TYPE bulkwarden_registry_info gauge\n"
		"bulkwarden_registry_info{revision=\"%s\"} 1\n"
		"# HELP bulkwarden_registry_load_timestamp_seconds Unix time the registry in use "
		"was loaded.\n# TYPE bulkwarden_registry_load_timestamp_seconds gauge\n"
		"bulkwarden_registry_load_timestamp_seconds %lld\n"
		"# HELP bulkwarden_registry_loads_total Registry loads (start and reloads).\n"
		"# TYPE bulkwarden_registry_loads_total counter\n"
		"bulkwarden_registry_loads_total %llu\n",
		reg_revision, reg_loaded_at, (unsigned long long)reg_loads);
	pthread_mutex_unlock(&reg_lock);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* libmicrohttpd request handler: GET /metrics, else 404/405. */
static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
	(void)cls, (void)version, (void)upload, (void)upload_len, (void)con_cls;
	struct MHD_Response *r;
	unsigned status = MHD_HTTP_OK;
	enum MHD_Result ret;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static char msg[] = "only GET\n";
		r = MHD_create_response_from_buffer(sizeof(msg) - 1, msg, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") != 0) {
		static char msg[] = "not found; try /metrics\n";
		r = MHD_create_response_from_buffer(sizeof(msg) - 1, msg, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	} else {
		size_t len = 0;
		char *body = metrics_render(&len);
		if (body == NULL)
			return MHD_NO; /* libmicrohttpd closes the connection */
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		if (r == NULL) {
			free(body);
			return MHD_NO;
		}
		MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	}
	if (r == NULL)
		return MHD_NO;
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Parse "ip:port" / "[v6]:port" into ss. */
static int
parse_listen(const char *listen, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon;
	memset(ss, 0, sizeof(*ss));
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (close == NULL || close[1] != ':' || (size_t)(close - listen) >= sizeof(host))
			return -1;
		memcpy(host, listen + 1, (size_t)(close - listen - 1));
		host[close - listen - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
			return -1;
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return -1;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		return AF_INET6;
	}
	return -1;
}

/* Start the /metrics server (see metrics.h). */
int
metrics_start(const char *listen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int fam = parse_listen(listen, &ss);
	if (fam < 0) {
		snprintf(err, errlen, "metrics.listen \"%s\": not ip:port", listen);
		return -1;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (fam == AF_INET6)
		flags |= MHD_USE_IPv6;
	daemon_ = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR,
				   (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 16u,
				   MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (daemon_ == NULL) {
		snprintf(err, errlen, "metrics.listen %s: cannot listen (in use or not local?)",
			 listen);
		return -1;
	}
	return 0;
}

/* Stop the /metrics server. */
void
metrics_stop(void)
{
	if (daemon_ != NULL)
		MHD_stop_daemon(daemon_);
	daemon_ = NULL;
}
