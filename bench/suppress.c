/*
 * suppress.c - the suppression list at scale (issue 14): load N keyed
 * hashes (default 10,000,000) into the milter's set (base/keyset.c, as
 * milter/suppress_set.c does at start: reserve for the count, then add),
 * and print the load time, the memory per address (VmRSS delta / N, and
 * the table's own bytes / N), the cost of one set lookup (hit and miss)
 * and of one whole RCPT check as the milter does it: read lock,
 * canonicalize, HMAC-SHA256 with the site key, lookup.
 *
 * The hashes are pseudo-random (splitmix64), as HMAC outputs are: the
 * milter reads hashes from the store, it never computes them at load.
 *
 *   bench/suppress [N]        (built by `make -C bench suppress`)
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/keyset.h"
#include "state/suppress.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS of this process in KiB. */
static long
rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = strtol(line + 6, NULL, 10);
	if (f != NULL)
		fclose(f);
	return v;
}

static void
key_of(uint64_t i, unsigned char k[KEYSET_KEY])
{
	for (int half = 0; half < 2; half++) {
		uint64_t z = (i * 2 + (uint64_t)half + 1) * 0x9e3779b97f4a7c15ULL;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		memcpy(k + 8 * half, &z, 8);
	}
}

int
main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	struct keyset ks;
	unsigned char k[KEYSET_KEY];
	volatile size_t sink = 0;

	/* 1. load as the milter does at start: reserve, then add */
	keyset_init(&ks);
	long r0 = rss_kib();
	double t0 = now_s();
	if (keyset_reserve(&ks, n) != 0) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		key_of(i, k);
		if (keyset_add(&ks, k) < 0) {
			fprintf(stderr, "out of memory at %zu\n", i);
			return 1;
		}
	}
	double t_load = now_s() - t0;
	long r1 = rss_kib();
	printf("load (reserved): %zu keys in %.2f s (%.0f ns/key)\n", n, t_load, t_load * 1e9 / n);
	printf("memory: VmRSS +%.1f MiB = %.1f bytes/address; table %.1f bytes/address "
	       "(load %.2f)\n",
	       (r1 - r0) / 1024.0, (double)(r1 - r0) * 1024.0 / n, (double)keyset_bytes(&ks) / n,
	       (double)keyset_count(&ks) / ks.cap);

	/* 2. lookups: members (hit) and non-members (miss), in a scattered order */
	size_t q = n < 5000000 ? n : 5000000;
	t0 = now_s();
	for (size_t i = 0; i < q; i++) {
		key_of((i * 2654435761u) % n, k);
		sink += keyset_has(&ks, k);
	}
	double t_hit = (now_s() - t0) * 1e9 / q;
	t0 = now_s();
	for (size_t i = 0; i < q; i++) {
		key_of(n + i, k);
		sink += keyset_has(&ks, k);
	}
	double t_miss = (now_s() - t0) * 1e9 / q;
	/* the key generation alone, to subtract */
	t0 = now_s();
	for (size_t i = 0; i < q; i++) {
		key_of(n + i, k);
		sink += k[3];
	}
	double t_gen = (now_s() - t0) * 1e9 / q;
	printf("set lookup: hit %.0f ns, miss %.0f ns (key generation %.0f ns subtracted)\n",
	       t_hit - t_gen, t_miss - t_gen, t_gen);

	/* 3. the whole RCPT check: rwlock, canonicalize, HMAC, lookup */
	struct suppress_key key;
	memset(key.k, 0x5a, sizeof(key.k));
	pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
	char addr[64];
	unsigned char h[SUPPRESS_HASH_BYTES];
	size_t m = 1000000;
	t0 = now_s();
	for (size_t i = 0; i < m; i++) {
		snprintf(addr, sizeof(addr), "<User%zu@Example.NET>", i);
		pthread_rwlock_rdlock(&lock);
		if (suppress_hash_addr(&key, "newsletter", addr, h) == 0)
			sink += keyset_has(&ks, h);
		pthread_rwlock_unlock(&lock);
	}
	double t_plain = (now_s() - t0) * 1e9 / m;
	struct suppress_mac *mac = suppress_mac_new(&key);
	if (mac == NULL)
		return 1;
	t0 = now_s();
	for (size_t i = 0; i < m; i++) {
		snprintf(addr, sizeof(addr), "<User%zu@Example.NET>", i);
		pthread_rwlock_rdlock(&lock);
		if (suppress_mac_addr(mac, "newsletter", addr, h) == 0)
			sink += keyset_has(&ks, h);
		pthread_rwlock_unlock(&lock);
	}
	double t_rcpt = (now_s() - t0) * 1e9 / m;
	suppress_mac_free(mac);
	printf("RCPT check (lock + canonicalize + HMAC-SHA256 + lookup): %.0f ns with the "
	       "prepared key (the milter's), %.0f ns keying the HMAC each time\n",
	       t_rcpt, t_plain);

	/* 4. growth without a reservation (changes arriving one by one) */
	keyset_free(&ks);
	keyset_init(&ks);
	long r2 = rss_kib();
	t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		key_of(i, k);
		if (keyset_add(&ks, k) < 0)
			return 1;
	}
	double t_grow = now_s() - t0;
	printf("load (grown one by one): %.2f s; table %.1f bytes/address (load %.2f); VmRSS "
	       "+%.1f MiB\n",
	       t_grow, (double)keyset_bytes(&ks) / n, (double)keyset_count(&ks) / ks.cap,
	       (rss_kib() - r2) / 1024.0);
	printf("RESULT n=%zu load_s=%.2f rss_bytes_per_addr=%.1f table_bytes_per_addr=%.1f "
	       "hit_ns=%.0f miss_ns=%.0f rcpt_ns=%.0f grow_s=%.2f\n",
	       n, t_load, (double)(r1 - r0) * 1024.0 / n, (double)keyset_bytes(&ks) / n,
	       t_hit - t_gen, t_miss - t_gen, t_rcpt, t_grow);
	keyset_free(&ks);
	return sink == 42 ? 2 : 0;
}
