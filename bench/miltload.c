/*
 * miltload - a milter-protocol (v6) load driver playing the MTA side the way
 * Postfix's milter8 client does, for benchmarking a filter.
 *
 * Per connection: SMFIC_OPTNEG (offers every action and every NO / NR_
 * protocol flag Postfix 3.7 offers), then honours what the filter returns:
 * steps negotiated away (SMFIP_NO*) are not sent, steps marked no-reply
 * (SMFIP_NR_*) are not awaited, SMFIP_HDR_LEADSPC decides whether the space
 * after the colon is sent.  Macros (SMFIC_MACRO) precede CONNECT, MAIL, RCPT,
 * EOH and EOM.  Several messages per connection; N connections in N threads;
 * for a duration or a message count.  Reports messages/s, the latency of the
 * final reply (end of message, or the refusing step) p50/p99, outcome counts,
 * and the filter's RSS (VmRSS of --pid) before and after.  --soak prints RSS
 * every --interval seconds.
 *
 * Memory: each thread owns one I/O buffer (bounded by MAX_PKT) and one latency
 * sample array (bounded by --max-samples, reservoir beyond it).  Untrusted
 * input: every reply packet from the filter; lengths are bounded, unknown
 * reply codes are counted as protocol errors and the connection is dropped.
 *
 * Build: cc -O2 -pthread -o bench/miltload bench/miltload.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* protocol constants (libmilter mfdef.h) */
#define SMFI_V6 6
#define SMFIP_NOCONNECT 0x1UL
#define SMFIP_NOHELO 0x2UL
#define SMFIP_NOMAIL 0x4UL
#define SMFIP_NORCPT 0x8UL
#define SMFIP_NOBODY 0x10UL
#define SMFIP_NOHDRS 0x20UL
#define SMFIP_NOEOH 0x40UL
#define SMFIP_NR_HDR 0x80UL
#define SMFIP_NOUNKNOWN 0x100UL
#define SMFIP_NODATA 0x200UL
#define SMFIP_SKIP 0x400UL
#define SMFIP_RCPT_REJ 0x800UL
#define SMFIP_NR_CONN 0x1000UL
#define SMFIP_NR_HELO 0x2000UL
#define SMFIP_NR_MAIL 0x4000UL
#define SMFIP_NR_RCPT 0x8000UL
#define SMFIP_NR_DATA 0x10000UL
#define SMFIP_NR_UNKN 0x20000UL
#define SMFIP_NR_EOH 0x40000UL
#define SMFIP_NR_BODY 0x80000UL
#define SMFIP_HDR_LEADSPC 0x100000UL
/* what Postfix 3.7 offers (milter8.c: SMFIP_NOSEND_MASK | SMFIP_NOREPLY_MASK | ...) */
#define OFFER_PROTO 0x1FFFFFUL
#define OFFER_ACTIONS 0x1FFUL /* ADDHDRS..SETSYMLIST */

#define MAX_PKT (1u << 20)  /* largest reply packet accepted */
#define BODY_CHUNK 65535u   /* MILTER_CHUNK_SIZE */
#define MAX_THREADS 256
#define MAX_MSG_FILE (8u << 20)
#define IO_TIMEOUT_S 30

enum outcome { O_ACCEPT, O_CONTINUE, O_REJECT, O_TEMPFAIL, O_DISCARD, O_REPLY5, O_REPLY4,
	       O_ERROR, O__N };
static const char *const outcome_name[O__N] = {"accept", "continue", "reject", "tempfail",
					       "discard", "reply5xx", "reply4xx", "error"};
enum mod { M_ADDHDR, M_INSHDR, M_CHGHDR, M_QUAR, M_ADDRCPT, M_DELRCPT, M_CHGFROM, M_REPLBODY,
	   M_PROGRESS, M__N };
static const char *const mod_name[M__N] = {"addheader", "insheader", "chgheader", "quarantine",
					   "addrcpt", "delrcpt", "chgfrom", "replbody", "progress"};

struct hdr {
	char *name, *value; /* value without the leading space */
};

static struct {
	const char *sock;
	int conns, per_conn;
	double duration;
	long total;
	const char *login, *from, *rcpt, *client_ip;
	long spread;
	bool ip_spread, soak, quiet;
	double interval;
	int pid;
	long max_samples;
	const char *label;
	/* the message */
	struct hdr *hdrs;
	size_t nhdrs;
	char *body;
	size_t bodylen;
} opt = {
    .sock = NULL,
    .conns = 8,
    .per_conn = 10,
    .duration = 10,
    .total = 0,
    .login = "svc-news",
    .from = "<bounce@news.example.com>",
    .rcpt = "<user@example.org>",
    .client_ip = "10.20.0.5",
    .interval = 5,
    .max_samples = 1000000,
    .label = "run",
};

static atomic_long reserved;   /* messages handed out (count mode) */
static atomic_long done_msgs;  /* messages finished */
static atomic_long fail_conns; /* connections that failed */
static atomic_int stop_flag;
static atomic_int workers_alive;
static atomic_int shown;
static struct timespec t0;

struct thr {
	pthread_t th;
	int idx;
	unsigned char *buf; /* reply buffer */
	unsigned char *out; /* command buffer */
	size_t outcap;
	uint32_t *lat;      /* final-reply latency, microseconds */
	long nlat, seen;
	long out_n[O__N];
	long mod_n[M__N];
	long msgs, conns;
	unsigned long seed;
	char lasterr[160];
};

static double
now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
}

static uint64_t
now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static long
rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const unsigned char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
read_all(int fd, void *p, size_t n)
{
	unsigned char *c = p;
	while (n > 0) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Command builder: len(4) cmd(1) data. */
struct pkt {
	struct thr *t;
	size_t len;
};

static int
pkt_reserve(struct thr *t, size_t need)
{
	if (need <= t->outcap)
		return 0;
	size_t cap = t->outcap ? t->outcap : 4096;
	while (cap < need)
		cap *= 2;
	unsigned char *n = realloc(t->out, cap);
	if (n == NULL)
		return -1;
	t->out = n;
	t->outcap = cap;
	return 0;
}

static int
pkt_begin(struct pkt *p, struct thr *t, char cmd)
{
	p->t = t;
	p->len = 5;
	if (pkt_reserve(t, 5) != 0)
		return -1;
	t->out[4] = (unsigned char)cmd;
	return 0;
}

static int
pkt_add(struct pkt *p, const void *d, size_t n)
{
	if (pkt_reserve(p->t, p->len + n) != 0)
		return -1;
	memcpy(p->t->out + p->len, d, n);
	p->len += n;
	return 0;
}

static int
pkt_str(struct pkt *p, const char *s)
{
	return pkt_add(p, s, strlen(s) + 1);
}

static int
pkt_u32(struct pkt *p, uint32_t v)
{
	uint32_t n = htonl(v);
	return pkt_add(p, &n, 4);
}

static int
pkt_send(struct pkt *p, int fd)
{
	uint32_t n = htonl((uint32_t)(p->len - 4));
	memcpy(p->t->out, &n, 4);
	return write_all(fd, p->t->out, p->len);
}

/* Read one reply packet: returns its code, data in t->buf, length in *len; -1 on error. */
static int
read_reply(struct thr *t, int fd, uint32_t *len)
{
	uint32_t n;
	if (read_all(fd, &n, 4) != 0) {
		snprintf(t->lasterr, sizeof(t->lasterr), "read: %s", errno ? strerror(errno) : "EOF");
		return -1;
	}
	n = ntohl(n);
	if (n == 0 || n > MAX_PKT) {
		snprintf(t->lasterr, sizeof(t->lasterr), "bad reply length %u", n);
		return -1;
	}
	if (read_all(fd, t->buf, n) != 0) {
		snprintf(t->lasterr, sizeof(t->lasterr), "short reply");
		return -1;
	}
	t->buf[n] = '\0';
	*len = n - 1;
	return t->buf[0];
}

enum step_res { S_CONTINUE, S_FINAL, S_SKIP, S_FAIL };

/*
 * Wait for the reply to one step.  Modification replies are allowed only at
 * end of message (eom); they are counted and the wait goes on.  A final reply
 * ends the message with *oc set.
 */
static enum step_res
await(struct thr *t, int fd, bool eom, enum outcome *oc)
{
	for (int guard = 0; guard < 100000; guard++) {
		uint32_t len;
		int c = read_reply(t, fd, &len);
		switch (c) {
		case 'c':
			if (eom) {
				*oc = O_CONTINUE;
				return S_FINAL;
			}
			return S_CONTINUE;
		case 'a': *oc = O_ACCEPT; return S_FINAL;
		case 'r': *oc = O_REJECT; return S_FINAL;
		case 't': *oc = O_TEMPFAIL; return S_FINAL;
		case 'd': *oc = O_DISCARD; return S_FINAL;
		case 'y':
			*oc = (len > 0 && t->buf[1] == '4') ? O_REPLY4 : O_REPLY5;
			return S_FINAL;
		case 's': return S_SKIP;
		case 'h': t->mod_n[M_ADDHDR]++; break;
		case 'i':
			t->mod_n[M_INSHDR]++;
			if (getenv("MILTLOAD_SHOW") && atomic_fetch_add(&shown, 1) == 0 && len > 4)
				fprintf(stderr, "insheader: %s: %.300s\n", (char *)t->buf + 5,
					(char *)t->buf + 5 + strlen((char *)t->buf + 5) + 1);
			break;
		case 'm': t->mod_n[M_CHGHDR]++; break;
		case 'q': t->mod_n[M_QUAR]++; break;
		case '+': case '2': t->mod_n[M_ADDRCPT]++; break;
		case '-': t->mod_n[M_DELRCPT]++; break;
		case 'e': t->mod_n[M_CHGFROM]++; break;
		case 'b': t->mod_n[M_REPLBODY]++; break;
		case 'p': t->mod_n[M_PROGRESS]++; break;
		case -1: return S_FAIL;
		default:
			snprintf(t->lasterr, sizeof(t->lasterr), "unexpected reply '%c' (0x%02x)",
				 c >= 32 && c < 127 ? c : '?', (unsigned)c & 0xff);
			return S_FAIL;
		}
		if (!eom && c != 'p') {
			snprintf(t->lasterr, sizeof(t->lasterr), "modification before eom");
			return S_FAIL;
		}
	}
	return S_FAIL;
}

static int
connect_sock(struct thr *t)
{
	const char *s = opt.sock;
	int fd;
	if (strncmp(s, "unix:", 5) == 0 || strncmp(s, "local:", 6) == 0 || s[0] == '/') {
		const char *path = s[0] == '/' ? s : strchr(s, ':') + 1;
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		if (strlen(path) >= sizeof(a.sun_path))
			return -1;
		strcpy(a.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
			snprintf(t->lasterr, sizeof(t->lasterr), "connect %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	} else if (strncmp(s, "inet:", 5) == 0) {
		char host[64] = "127.0.0.1";
		int port = atoi(s + 5);
		const char *at = strchr(s, '@');
		if (at && strlen(at + 1) < sizeof(host))
			strcpy(host, at + 1);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
			return -1;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
			snprintf(t->lasterr, sizeof(t->lasterr), "connect %s: %s", s, strerror(errno));
			close(fd);
			return -1;
		}
		/* Postfix does not set TCP_NODELAY on milter sockets; neither do we */
	} else {
		snprintf(t->lasterr, sizeof(t->lasterr), "bad socket %s", s);
		return -1;
	}
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send SMFIC_MACRO for stage cmd with name/value pairs (NULL-terminated). */
static int
send_macros(struct thr *t, int fd, char cmd, const char *const *kv)
{
	struct pkt p;
	char c = cmd;
	if (pkt_begin(&p, t, 'D') || pkt_add(&p, &c, 1))
		return -1;
	for (; kv[0] != NULL; kv += 2)
		if (pkt_str(&p, kv[0]) || pkt_str(&p, kv[1]))
			return -1;
	return pkt_send(&p, fd);
}

/* Claim the next message; false when the run is over. */
static bool
claim(void)
{
	if (atomic_load(&stop_flag))
		return false;
	if (opt.total > 0)
		return atomic_fetch_add(&reserved, 1) < opt.total;
	return now_s() < opt.duration;
}

static void
record(struct thr *t, uint32_t us)
{
	t->seen++;
	if (t->nlat < opt.max_samples / opt.conns + 1) {
		t->lat[t->nlat++] = us;
	} else { /* reservoir: keep a uniform sample */
		t->seed = t->seed * 6364136223846793005UL + 1442695040888963407UL;
		unsigned long r = (t->seed >> 11) % (unsigned long)t->seen;
		if ((long)r < t->nlat)
			t->lat[r] = us;
	}
}

/* One connection: negotiate, up to per_conn messages, quit.  -1 on failure. */
static int
run_conn(struct thr *t, bool *more)
{
	struct pkt p;
	uint32_t len;
	int fd = connect_sock(t);
	if (fd < 0)
		return -1;
	t->conns++;

	/* OPTNEG */
	if (pkt_begin(&p, t, 'O') || pkt_u32(&p, SMFI_V6) || pkt_u32(&p, OFFER_ACTIONS) ||
	    pkt_u32(&p, OFFER_PROTO) || pkt_send(&p, fd))
		goto fail;
	if (read_reply(t, fd, &len) != 'O' || len < 12) {
		if (!t->lasterr[0])
			snprintf(t->lasterr, sizeof(t->lasterr), "bad OPTNEG reply");
		goto fail;
	}
	uint32_t v[3];
	memcpy(v, t->buf + 1, 12);
	unsigned long pf = ntohl(v[2]);
	/* (symbol lists that follow are ignored: we always send our macro set,
	 * as Postfix sends its configured lists) */

	char ip[32], login[128], port[8] = "25", qid[32];
	long idx = 0;
	if (opt.spread > 0) {
		t->seed = t->seed * 6364136223846793005UL + 1442695040888963407UL;
		idx = (long)((t->seed >> 17) % (unsigned long)opt.spread);
	}
	if (opt.ip_spread)
		snprintf(ip, sizeof(ip), "%ld.%ld.%ld.5", 10 + (idx >> 16), (idx >> 8) & 255, idx & 255);
	else
		snprintf(ip, sizeof(ip), "%s", opt.client_ip);

	if (!(pf & SMFIP_NOCONNECT)) {
		const char *kv[] = {"j", "relay.bench.test", "{daemon_name}", "smtpd", "{daemon_port}",
				    port, "{client_addr}", ip, NULL};
		if (send_macros(t, fd, 'C', kv))
			goto fail;
		uint16_t nport = htons(40000);
		char fam = '4';
		if (pkt_begin(&p, t, 'C') || pkt_str(&p, "client.bench.test") || pkt_add(&p, &fam, 1) ||
		    pkt_add(&p, &nport, 2) || pkt_str(&p, ip) || pkt_send(&p, fd))
			goto fail;
		if (!(pf & SMFIP_NR_CONN)) {
			enum outcome oc;
			enum step_res r = await(t, fd, false, &oc);
			if (r == S_FAIL)
				goto fail;
			if (r == S_FINAL && oc != O_ACCEPT) { /* connection refused: count all its msgs */
				(void)claim();
				t->out_n[oc]++;
				t->msgs++;
				atomic_fetch_add(&done_msgs, 1);
				goto quit;
			}
		}
	}
	if (!(pf & SMFIP_NOHELO)) {
		if (pkt_begin(&p, t, 'H') || pkt_str(&p, "client.bench.test") || pkt_send(&p, fd))
			goto fail;
		if (!(pf & SMFIP_NR_HELO)) {
			enum outcome oc;
			if (await(t, fd, false, &oc) == S_FAIL)
				goto fail;
		}
	}

	for (int m = 0; m < opt.per_conn; m++) {
		if (!claim()) {
			*more = false;
			break;
		}
		enum outcome oc = O_ERROR;
		enum step_res r = S_CONTINUE;
		uint64_t ts = now_us();
		snprintf(qid, sizeof(qid), "B%02X%06lX%04X", t->idx & 0xff, t->msgs & 0xffffff,
			 (unsigned)(t->conns & 0xffff));
		if (opt.spread > 0 && strchr(opt.login, '%'))
			snprintf(login, sizeof(login), opt.login, idx);
		else
			snprintf(login, sizeof(login), "%s", opt.login);

		/* MAIL */
		{
			const char *kv[] = {"i", qid, "{auth_type}", login[0] ? "PLAIN" : "",
					    "{auth_authen}", login, "{client_addr}", ip, NULL};
			if (send_macros(t, fd, 'M', kv))
				goto fail;
			if (!(pf & SMFIP_NOMAIL)) {
				ts = now_us();
				if (pkt_begin(&p, t, 'M') || pkt_str(&p, opt.from) ||
				    pkt_str(&p, "BODY=8BITMIME") || pkt_send(&p, fd))
					goto fail;
				if (!(pf & SMFIP_NR_MAIL) && (r = await(t, fd, false, &oc)) == S_FAIL)
					goto fail;
			}
		}
		/* RCPT */
		if (r == S_CONTINUE) {
			const char *kv[] = {"i", qid, NULL};
			if (send_macros(t, fd, 'R', kv))
				goto fail;
			if (!(pf & SMFIP_NORCPT)) {
				ts = now_us();
				if (pkt_begin(&p, t, 'R') || pkt_str(&p, opt.rcpt) || pkt_send(&p, fd))
					goto fail;
				if (!(pf & SMFIP_NR_RCPT) && (r = await(t, fd, false, &oc)) == S_FAIL)
					goto fail;
				if (r == S_FINAL && oc != O_ACCEPT) {
					/* the only recipient refused: Postfix aborts the transaction */
					if (pkt_begin(&p, t, 'A') || pkt_send(&p, fd))
						goto fail;
				}
			}
		}
		/* DATA */
		if (r == S_CONTINUE && !(pf & SMFIP_NODATA)) {
			const char *kv[] = {"i", qid, NULL};
			if (send_macros(t, fd, 'T', kv) || pkt_begin(&p, t, 'T') || pkt_send(&p, fd))
				goto fail;
			if (!(pf & SMFIP_NR_DATA) && (r = await(t, fd, false, &oc)) == S_FAIL)
				goto fail;
		}
		/* headers */
		if (r == S_CONTINUE && !(pf & SMFIP_NOHDRS)) {
			for (size_t h = 0; h < opt.nhdrs && r == S_CONTINUE; h++) {
				if (pkt_begin(&p, t, 'L') || pkt_str(&p, opt.hdrs[h].name))
					goto fail;
				if ((pf & SMFIP_HDR_LEADSPC) && pkt_add(&p, " ", 1))
					goto fail;
				if (pkt_str(&p, opt.hdrs[h].value) || pkt_send(&p, fd))
					goto fail;
				if (!(pf & SMFIP_NR_HDR) && (r = await(t, fd, false, &oc)) == S_FAIL)
					goto fail;
			}
			if (r == S_SKIP)
				r = S_CONTINUE;
		}
		/* EOH */
		if (r == S_CONTINUE) {
			const char *kv[] = {"i", qid, NULL};
			if (send_macros(t, fd, 'N', kv))
				goto fail;
			if (!(pf & SMFIP_NOEOH)) {
				if (pkt_begin(&p, t, 'N') || pkt_send(&p, fd))
					goto fail;
				if (!(pf & SMFIP_NR_EOH) && (r = await(t, fd, false, &oc)) == S_FAIL)
					goto fail;
			}
		}
		/* body */
		if (r == S_CONTINUE && !(pf & SMFIP_NOBODY)) {
			for (size_t off = 0; off < opt.bodylen && r == S_CONTINUE; off += BODY_CHUNK) {
				size_t n = opt.bodylen - off < BODY_CHUNK ? opt.bodylen - off : BODY_CHUNK;
				if (pkt_begin(&p, t, 'B') || pkt_add(&p, opt.body + off, n) ||
				    pkt_send(&p, fd))
					goto fail;
				if (!(pf & SMFIP_NR_BODY) && (r = await(t, fd, false, &oc)) == S_FAIL)
					goto fail;
			}
			if (r == S_SKIP)
				r = S_CONTINUE;
		}
		/* end of message */
		if (r == S_CONTINUE) {
			const char *kv[] = {"i", qid, NULL};
			if (send_macros(t, fd, 'E', kv))
				goto fail;
			ts = now_us();
			if (pkt_begin(&p, t, 'E') || pkt_send(&p, fd))
				goto fail;
			if ((r = await(t, fd, true, &oc)) != S_FINAL)
				goto fail;
		}
		uint64_t te = now_us();
		record(t, (uint32_t)(te - ts > UINT32_MAX ? UINT32_MAX : te - ts));
		t->out_n[oc]++;
		t->msgs++;
		atomic_fetch_add(&done_msgs, 1);
	}
quit:
	if (pkt_begin(&p, t, 'Q') == 0)
		(void)pkt_send(&p, fd);
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

static void *
worker(void *arg)
{
	struct thr *t = arg;
	bool more = true;
	int consecutive_fail = 0;
	while (more && !atomic_load(&stop_flag)) {
		if (run_conn(t, &more) != 0) {
			atomic_fetch_add(&fail_conns, 1);
			t->out_n[O_ERROR]++;
			if (++consecutive_fail >= 20) {
				fprintf(stderr, "miltload: thread %d: giving up: %s\n", t->idx, t->lasterr);
				break;
			}
			usleep(10000);
		} else {
			consecutive_fail = 0;
		}
		if (opt.total > 0 && atomic_load(&reserved) >= opt.total)
			break;
	}
	atomic_fetch_sub(&workers_alive, 1);
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *b = malloc(MAX_MSG_FILE + 1);
	size_t n = b ? fread(b, 1, MAX_MSG_FILE, f) : 0;
	fclose(f);
	if (b)
		b[n] = '\0';
	*len = n;
	return b;
}

/* Split an RFC 5322 message (LF or CRLF) into headers (unfolded as Postfix
 * sends them: continuation lines joined with "\n") and a CRLF body. */
static int
load_message(const char *text, size_t len)
{
	size_t cap = 64;
	opt.hdrs = calloc(cap, sizeof(*opt.hdrs));
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t l = (size_t)(le - p);
		if (l > 0 && p[l - 1] == '\r')
			l--;
		if (l == 0) { /* end of headers */
			p = nl ? nl + 1 : end;
			break;
		}
		if ((p[0] == ' ' || p[0] == '\t') && opt.nhdrs > 0) {
			struct hdr *h = &opt.hdrs[opt.nhdrs - 1];
			size_t ol = strlen(h->value);
			h->value = realloc(h->value, ol + l + 2);
			h->value[ol] = '\n';
			memcpy(h->value + ol + 1, p, l);
			h->value[ol + 1 + l] = '\0';
		} else {
			const char *colon = memchr(p, ':', l);
			if (colon == NULL)
				return -1;
			if (opt.nhdrs == cap)
				opt.hdrs = realloc(opt.hdrs, (cap *= 2) * sizeof(*opt.hdrs));
			struct hdr *h = &opt.hdrs[opt.nhdrs++];
			h->name = strndup(p, (size_t)(colon - p));
			const char *vs = colon + 1;
			if (vs < p + l && *vs == ' ')
				vs++;
			h->value = strndup(vs, (size_t)(p + l - vs));
		}
		p = nl ? nl + 1 : end;
	}
	/* body: convert to CRLF line ends, as Postfix sends it */
	opt.body = malloc(2 * (size_t)(end - p) + 1);
	opt.bodylen = 0;
	for (; p < end; p++) {
		if (*p == '\n' && (opt.bodylen == 0 || opt.body[opt.bodylen - 1] != '\r'))
			opt.body[opt.bodylen++] = '\r';
		opt.body[opt.bodylen++] = *p;
	}
	return 0;
}

static const char default_msg[] =
    "From: Example News <news@news.example.com>\n"
    "To: user@example.org\n"
    "Subject: This week at Example\n"
    "Date: Mon, 02 Feb 2026 10:00:00 +0000\n"
    "Message-ID: <bench-0001@news.example.com>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "List-Unsubscribe: <https://news.example.com/u/abc>, <mailto:u@news.example.com>\n"
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
    "\n";

static void
usage(void)
{
	fprintf(stderr,
		"usage: miltload -s SOCKET [options]\n"
		"  -s, --socket S      unix:/path | inet:PORT@127.0.0.1\n"
		"  -c, --conns N       concurrent connections (threads), default 8\n"
		"  -m, --per-conn N    messages per connection, default 10\n"
		"  -d, --duration S    run for S seconds (default 10)\n"
		"  -n, --messages N    run for N messages instead (1000000 = soak)\n"
		"      --soak          -n 1000000 and RSS every --interval seconds\n"
		"  -i, --interval S    progress/RSS report period (default 5)\n"
		"  -p, --pid PID       filter pid for VmRSS\n"
		"  -l, --login L       {auth_authen} (\"\" for none; may contain %%ld with --spread)\n"
		"      --spread N      pick identity index 0..N-1 per connection (login %%ld)\n"
		"      --ip-spread     client address (10+(i>>16)).(i>>8&255).(i&255).5\n"
		"      --client-ip A   connect address (default 10.20.0.5)\n"
		"  -f, --from ADDR     MAIL FROM (default <bounce@news.example.com>)\n"
		"  -r, --rcpt ADDR     RCPT TO (default <user@example.org>)\n"
		"  -M, --message FILE  RFC 5322 message (default: a small newsletter)\n"
		"  -b, --body-bytes N  body size for the default message (default 2000)\n"
		"  -L, --label S       label on the RESULT line\n"
		"  -q, --quiet         only the RESULT line\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"socket", 1, 0, 's'},   {"conns", 1, 0, 'c'},     {"per-conn", 1, 0, 'm'},
	    {"duration", 1, 0, 'd'}, {"messages", 1, 0, 'n'},  {"soak", 0, 0, 'S'},
	    {"interval", 1, 0, 'i'}, {"pid", 1, 0, 'p'},       {"login", 1, 0, 'l'},
	    {"spread", 1, 0, 'X'},   {"ip-spread", 0, 0, 'I'}, {"client-ip", 1, 0, 'A'},
	    {"from", 1, 0, 'f'},     {"rcpt", 1, 0, 'r'},      {"message", 1, 0, 'M'},
	    {"body-bytes", 1, 0, 'b'}, {"label", 1, 0, 'L'},   {"quiet", 0, 0, 'q'},
	    {"max-samples", 1, 0, 'Z'}, {0, 0, 0, 0}};
	const char *msgfile = NULL;
	long body_bytes = 2000;
	int c;
	while ((c = getopt_long(argc, argv, "s:c:m:d:n:i:p:l:f:r:M:b:L:q", lo, NULL)) != -1) {
		switch (c) {
		case 's': opt.sock = optarg; break;
		case 'c': opt.conns = atoi(optarg); break;
		case 'm': opt.per_conn = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'n': opt.total = atol(optarg); break;
		case 'S': opt.soak = true; if (!opt.total) opt.total = 1000000; break;
		case 'i': opt.interval = atof(optarg); break;
		case 'p': opt.pid = atoi(optarg); break;
		case 'l': opt.login = optarg; break;
		case 'X': opt.spread = atol(optarg); break;
		case 'I': opt.ip_spread = true; break;
		case 'A': opt.client_ip = optarg; break;
		case 'f': opt.from = optarg; break;
		case 'r': opt.rcpt = optarg; break;
		case 'M': msgfile = optarg; break;
		case 'b': body_bytes = atol(optarg); break;
		case 'L': opt.label = optarg; break;
		case 'q': opt.quiet = true; break;
		case 'Z': opt.max_samples = atol(optarg); break;
		default: usage();
		}
	}
	if (opt.sock == NULL || opt.conns < 1 || opt.conns > MAX_THREADS || opt.per_conn < 1 ||
	    opt.duration <= 0 || opt.duration > 86400 || opt.total < 0 || opt.total > 100000000 ||
	    body_bytes < 0 || body_bytes > (long)MAX_MSG_FILE || opt.interval <= 0)
		usage();
	if (opt.total >= 1000000)
		opt.soak = true;

	size_t len;
	char *text;
	if (msgfile) {
		text = read_file(msgfile, &len);
		if (text == NULL) {
			fprintf(stderr, "miltload: %s: %s\n", msgfile, strerror(errno));
			return 2;
		}
	} else { /* the default message plus body_bytes of 72-column text */
		text = malloc(sizeof(default_msg) + (size_t)body_bytes + 80);
		strcpy(text, default_msg);
		len = strlen(text);
		while ((long)(len - (sizeof(default_msg) - 1)) < body_bytes) {
			len += (size_t)sprintf(text + len, "%.71s\n",
					       "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed "
					       "do eiusmod tempor.");
		}
	}
	if (load_message(text, len) != 0) {
		fprintf(stderr, "miltload: cannot parse the message headers\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	long rss0 = rss_kb(opt.pid), rssmax = rss0;
	struct thr *th = calloc((size_t)opt.conns, sizeof(*th));
	long per = opt.max_samples / opt.conns + 1;
	atomic_store(&workers_alive, opt.conns);
	for (int i = 0; i < opt.conns; i++) {
		th[i].idx = i;
		th[i].buf = malloc(MAX_PKT + 1);
		th[i].lat = malloc((size_t)per * sizeof(uint32_t));
		th[i].seed = 0x9E3779B97F4A7C15UL ^ (unsigned long)(i + 1) * 0xBF58476D1CE4E5B9UL;
		if (pthread_create(&th[i].th, NULL, worker, &th[i]) != 0) {
			fprintf(stderr, "miltload: pthread_create failed\n");
			return 1;
		}
	}
	/* monitor: progress and RSS; hard stop at 2x the duration or a day */
	double limit = opt.total > 0 ? 86400 : opt.duration * 2 + 30;
	double next = opt.interval, lastt = 0;
	long lastn = 0;
	while (now_s() < limit) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		long n = atomic_load(&done_msgs);
		bool over = opt.total > 0 ? n >= opt.total : now_s() >= opt.duration;
		int alive = atomic_load(&workers_alive);
		double t = now_s();
		if (t >= next || (opt.soak && over)) {
			long r = rss_kb(opt.pid);
			if (r > rssmax)
				rssmax = r;
			if (!opt.quiet || opt.soak)
				fprintf(stderr, "[%7.1fs] %ld msgs  %.0f msg/s  filter VmRSS %ld kB\n", t, n,
					(double)(n - lastn) / (t - lastt), r);
			lastn = n;
			lastt = t;
			next += opt.interval;
		}
		if (alive == 0)
			break;
		if (over && t > opt.duration + 60 && opt.total == 0)
			break;
	}
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < opt.conns; i++)
		pthread_join(th[i].th, NULL);
	double el = now_s();
	long rss1 = rss_kb(opt.pid);
	if (rss1 > rssmax)
		rssmax = rss1;

	long out[O__N] = {0}, mods[M__N] = {0}, msgs = 0, conns = 0, nl = 0;
	for (int i = 0; i < opt.conns; i++) {
		for (int k = 0; k < O__N; k++)
			out[k] += th[i].out_n[k];
		for (int k = 0; k < M__N; k++)
			mods[k] += th[i].mod_n[k];
		msgs += th[i].msgs;
		conns += th[i].conns;
		nl += th[i].nlat;
	}
	uint32_t *all = malloc((size_t)(nl ? nl : 1) * sizeof(uint32_t));
	long k = 0;
	for (int i = 0; i < opt.conns; i++) {
		memcpy(all + k, th[i].lat, (size_t)th[i].nlat * sizeof(uint32_t));
		k += th[i].nlat;
	}
	qsort(all, (size_t)nl, sizeof(uint32_t), cmp_u32);
	double p50 = nl ? all[(nl - 1) * 50 / 100] / 1000.0 : 0;
	double p99 = nl ? all[(nl - 1) * 99 / 100] / 1000.0 : 0;
	double rate = el > 0 ? (double)msgs / el : 0;

	if (!opt.quiet) {
		printf("%s: %ld messages over %ld connections (%d concurrent) in %.2f s\n", opt.label,
		       msgs, conns, opt.conns, el);
		printf("  rate          %.1f msg/s\n", rate);
		printf("  final-reply latency p50 %.3f ms  p99 %.3f ms\n", p50, p99);
		printf("  outcomes     ");
		for (int i = 0; i < O__N; i++)
			if (out[i])
				printf(" %s=%ld", outcome_name[i], out[i]);
		printf("\n  modifications");
		for (int i = 0; i < M__N; i++)
			if (mods[i])
				printf(" %s=%ld", mod_name[i], mods[i]);
		printf("\n  filter VmRSS  before %ld kB  after %ld kB  max %ld kB\n", rss0, rss1, rssmax);
		for (int i = 0; i < opt.conns; i++)
			if (th[i].lasterr[0]) {
				printf("  last error (thread %d): %s\n", i, th[i].lasterr);
				break;
			}
	}
	printf("RESULT label=%s msgs=%ld secs=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f rss0_kb=%ld "
	       "rss1_kb=%ld rssmax_kb=%ld",
	       opt.label, msgs, el, rate, p50, p99, rss0, rss1, rssmax);
	for (int i = 0; i < O__N; i++)
		printf(" %s=%ld", outcome_name[i], out[i]);
	for (int i = 0; i < M__N; i++)
		printf(" %s=%ld", mod_name[i], mods[i]);
	printf("\n");
	return out[O_ERROR] > 0 && msgs == 0 ? 1 : 0;
}
