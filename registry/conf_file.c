/*
 * conf_file.c - the loader's files: reading, parsing, the revision hash, and
 * the read-ahead that parses identities_dir on every core.
 *
 * Each file is read once (open, fstat, read to the end, close): the same
 * bytes are checked (regular file, not world-writable), hashed into the
 * revision, scanned for integer literals libconfig would wrap, and parsed
 * from memory, so libconfig opens only @included files (which are then read
 * again for the hash). Serially this cut a 100,000-file load from 13 system
 * calls a file to 5.
 *
 * Read-ahead. Reading a file touches nothing shared; checking an identity
 * and adding it to the snapshot does (arena, error list, duplicate tables,
 * a revision hash that must follow name order). conf_readahead_*() lets
 * worker threads read up to READAHEAD_WINDOW files ahead of the loading
 * thread, which parses and takes them strictly in order: the identities,
 * the error list and the revision are those of a serial load.
 *
 * Memory: at most READAHEAD_WINDOW files' bytes are held; a config tree
 * lives from conf_readahead_get() to conf_readahead_put(). Untrusted input:
 * file contents (bounded by CONF_FILE_MAX, NUL bytes refused), file names
 * from the directory (paths bounded by PATH_MAX).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/arena.h"
#include "base/util.h"
#include "registry/conf_int.h"

#define READAHEAD_WINDOW 256 /* files parsed ahead of the loading thread */
#define READAHEAD_MIN 64     /* fewer files than this: no worker threads */
#define READAHEAD_WORKERS 4  /* at most; one per online CPU but the loader's */

int conf_readahead_max_workers = READAHEAD_WORKERS;

/*
 * Read a whole regular file (at most CONF_FILE_MAX bytes) and its mode into
 * a NUL-terminated buffer; NULL with errno set (EINVAL: not a regular file,
 * EFBIG: too large). Opened non-blocking so a FIFO is refused, not waited
 * on; the buffer is sized from fstat.
 */
static char *
slurp(const char *path, size_t *len_out, mode_t *mode, uid_t *uid, gid_t *gid)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return NULL;
	int bad = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
	if (bad != 0) {
		close(fd);
		errno = bad;
		return NULL;
	}
	*mode = st.st_mode;
	*uid = st.st_uid;
	*gid = st.st_gid;
	size_t cap = st.st_size > 0 && (unsigned long long)st.st_size < CONF_FILE_MAX
			 ? (size_t)st.st_size + 1
			 : 64 * 1024,
	       len = 0;
	char *buf = malloc(cap + 1);
	if (buf == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			char *nb;
			if (cap >= CONF_FILE_MAX) {
				free(buf);
				close(fd);
				errno = EFBIG;
				return NULL;
			}
			cap = 2 * cap < CONF_FILE_MAX ? 2 * cap : CONF_FILE_MAX;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				free(buf);
				close(fd);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*len_out = len;
	return buf;
}

/* Length-framed record in the revision hash: tag, path, payload. */
static void
hash_record(struct conf_ctx *c, const char *tag, const char *path, const void *data, size_t len)
{
	unsigned char n[8];
	for (int i = 0; i < 8; i++)
		n[i] = (unsigned char)((unsigned long long)len >> (56 - 8 * i));
	EVP_DigestUpdate(c->md, tag, strlen(tag) + 1);
	EVP_DigestUpdate(c->md, path, strlen(path) + 1);
	EVP_DigestUpdate(c->md, n, sizeof(n));
	EVP_DigestUpdate(c->md, data, len);
}

void
conf_hash_key(struct conf_ctx *c, const char *path, const unsigned char sha[32])
{
	hash_record(c, "key", path, sha, 32);
}

/* Whether uid may own policy: root, us, or the milter's user. */
static bool
trusted_owner(const struct conf_ctx *c, uid_t uid)
{
	return uid == 0 || uid == geteuid() || (c->milter_uid != (uid_t)-1 && uid == c->milter_uid);
}

void
conf_file_check_owner(struct conf_ctx *c, const char *f, mode_t mode, uid_t uid, gid_t gid)
{
	if (mode & S_IWOTH)
		conf_err_at(c, f, 0, "(file)",
			    "world-writable (mode %04o): anyone could change the policy",
			    (unsigned)(mode & 07777));
	else if ((mode & S_IWGRP) && gid != 0)
		conf_err_at(c, f, 0, "(file)",
			    "group-writable (mode %04o, gid %lu): the group could change the "
			    "policy; chmod g-w",
			    (unsigned)(mode & 07777), (unsigned long)gid);
	else if (!trusted_owner(c, uid))
		conf_err_at(c, f, 0, "(file)",
			    "owned by uid %lu, not root or the milter's user: that user could "
			    "change the policy",
			    (unsigned long)uid);
}

void
conf_dir_check(struct conf_ctx *c, const char *dir, const char *key, bool any_file)
{
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return; /* reading it reports the error */
	if (fstat(fd, &st) != 0) {
		close(fd);
		return;
	}
	close(fd);
	bool sticky = (st.st_mode & S_ISVTX) != 0 && !any_file;
	if ((st.st_mode & S_IWOTH) && !sticky)
		conf_err_at(c, dir, 0, key,
			    "directory writable by every user (mode %04o): anyone could %s",
			    (unsigned)(st.st_mode & 07777),
			    any_file ? "add an identity" : "replace the configuration");
	else if ((st.st_mode & S_IWGRP) && st.st_gid != 0 && !sticky)
		conf_err_at(c, dir, 0, key,
			    "directory writable by group %lu (mode %04o): the group could %s; "
			    "chmod g-w",
			    (unsigned long)st.st_gid, (unsigned)(st.st_mode & 07777),
			    any_file ? "add an identity" : "replace the configuration");
	else if (!trusted_owner(c, st.st_uid))
		conf_err_at(c, dir, 0, key,
			    "directory owned by uid %lu, not root or the milter's user",
			    (unsigned long)st.st_uid);
}

/* Check, hash and scan one file's bytes: it is policy, so one that others
 * can write is refused. */
static void
take_bytes(struct conf_ctx *c, const char *f, const char *buf, size_t len, mode_t mode, uid_t uid,
	   gid_t gid)
{
	conf_file_check_owner(c, f, mode, uid, gid);
	hash_record(c, "file", f, buf, len);
	conf_scan_literals(c, arena_strdup(c->a, f), buf, len);
}

/* Read path (NULL: too long) into p; no parsing yet. Any thread. */
static void
file_read(const char *path, struct conf_parsed *p)
{
	p->ok = false;
	p->nul = false;
	p->read_errno = 0;
	p->buf = NULL;
	p->len = 0;
	if (path == NULL) {
		p->read_errno = ENAMETOOLONG;
		return;
	}
	p->buf = slurp(path, &p->len, &p->mode, &p->uid, &p->gid);
	if (p->buf == NULL)
		p->read_errno = errno ? errno : EIO;
	else
		p->nul = memchr(p->buf, '\0', p->len) != NULL; /* libconfig would stop there */
}

/* Parse what file_read() got; the thread that parses also destroys. */
static void
file_parse(const char *include_dir, struct conf_parsed *p)
{
	config_init(&p->cf);
	config_set_include_dir(&p->cf, include_dir);
	p->ok = p->buf != NULL && !p->nul && config_read_string(&p->cf, p->buf);
}

void
conf_file_parse(const char *path, const char *include_dir, struct conf_parsed *p)
{
	file_read(path, p);
	file_parse(include_dir, p);
}

bool
conf_file_take(struct conf_ctx *c, struct conf_parsed *p, const char *path,
	       const char *include_dir)
{
	c->incdir = arena_strdup(c->a, include_dir);
	c->n_names = 0; /* the name cache is per file */
	if (p->read_errno == EINVAL) {
		conf_err_at(c, path, 0, "(file)", "not a regular file");
		return false;
	}
	if (p->read_errno != 0) {
		conf_err_at(c, path, 0, "(file)", "cannot read: %s", strerror(p->read_errno));
		return false;
	}
	take_bytes(c, path, p->buf, p->len, p->mode, p->uid, p->gid);
	if (p->nul) {
		conf_err_at(c, path, 0, "(syntax)", "NUL byte in the file");
		return false;
	}
	if (!p->ok) {
		const char *ef = config_error_file(&p->cf);
		conf_err_at(c, ef ? conf_resolve_file(c, ef) : path,
			    (unsigned)config_error_line(&p->cf), "(syntax)", "%s",
			    config_error_text(&p->cf));
		return false;
	}
	/* the @included files libconfig read (the file itself is not among them) */
	for (unsigned i = 0; i < p->cf.num_filenames; i++) {
		const char *f = conf_resolve_file(c, p->cf.filenames[i]);
		size_t len = 0;
		mode_t mode = 0;
		uid_t uid = 0;
		gid_t gid = 0;
		char *buf = slurp(f, &len, &mode, &uid, &gid);
		if (buf == NULL) {
			conf_err_at(c, f, 0, "(file)", "cannot read: %s", strerror(errno));
			continue;
		}
		take_bytes(c, f, buf, len, mode, uid, gid);
		free(buf);
	}
	return true;
}

void
conf_file_release(struct conf_parsed *p)
{
	config_destroy(&p->cf);
	free(p->buf);
	p->buf = NULL;
}

/* ---- integer literals libconfig wraps ----------------------------------- */

/* Remember a literal that does not fit libconfig's 32-bit int. */
static void
note_literal(struct conf_ctx *c, const char *file, unsigned line, const char *tok, size_t len)
{
	char text[32];
	bool hex, has_l;
	unsigned long long mag;
	long long sval;

	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, tok, len);
	text[len] = '\0';
	has_l = len > 0 && (text[len - 1] == 'L' || text[len - 1] == 'l');
	hex = (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'));
	if (has_l || (!hex && strpbrk(text, ".eE") != NULL))
		return; /* 64-bit or float literal: stored faithfully */
	errno = 0;
	if (hex) {
		mag = strtoull(text, NULL, 16);
		if (mag <= INT_MAX && errno == 0)
			return;
		sval = (long long)mag;
	} else {
		sval = strtoll(text, NULL, 10); /* saturates like libconfig's atoi() */
		if (errno == 0 && sval >= INT_MIN && sval <= INT_MAX)
			return;
	}
	if (c->n_wrapped == c->cap_wrapped) {
		c->cap_wrapped = c->cap_wrapped ? 2 * c->cap_wrapped : 16;
		c->wrapped = xrealloc(c->wrapped, c->cap_wrapped * sizeof(*c->wrapped));
	}
	struct conf_wrapped *w = &c->wrapped[c->n_wrapped++];
	w->file = file;
	w->line = line;
	w->value = (int)(unsigned)(unsigned long long)sval; /* the low 32 bits libconfig keeps */
	memcpy(w->text, text, len + 1);
}

/*
 * Find integer literals in libconfig text, skipping comments, strings and
 * names. A small state machine over the bytes; len bounds everything.
 */
void
conf_scan_literals(struct conf_ctx *c, const char *file, const char *b, size_t len)
{
	unsigned line = 1;
	size_t i = 0;
	while (i < len) {
		char ch = b[i];
		if (ch == '\n') {
			line++;
			i++;
		} else if (ch == '#' || (ch == '/' && i + 1 < len && b[i + 1] == '/')) {
			while (i < len && b[i] != '\n')
				i++;
		} else if (ch == '/' && i + 1 < len && b[i + 1] == '*') {
			for (i += 2; i < len && !(b[i] == '*' && i + 1 < len && b[i + 1] == '/');
			     i++)
				if (b[i] == '\n')
					line++;
			i += 2;
		} else if (ch == '"') {
			for (i++; i < len && b[i] != '"'; i++) {
				if (b[i] == '\\' && i + 1 < len)
					i++;
				if (b[i] == '\n')
					line++;
			}
			i++;
		} else if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '*' ||
			   ch == '@') {
			while (i < len &&
			       (b[i] == '-' || b[i] == '_' || b[i] == '*' || b[i] == '@' ||
				(b[i] >= '0' && b[i] <= '9') || (b[i] >= 'A' && b[i] <= 'Z') ||
				(b[i] >= 'a' && b[i] <= 'z')))
				i++;
		} else if ((ch >= '0' && ch <= '9') || ((ch == '-' || ch == '+') && i + 1 < len &&
							b[i + 1] >= '0' && b[i + 1] <= '9')) {
			size_t start = i++;
			bool hex = i < len && b[start] == '0' && (b[i] == 'x' || b[i] == 'X');
			while (i < len) {
				char d = b[i];
				bool alnum = (d >= '0' && d <= '9') || (d >= 'A' && d <= 'Z') ||
					     (d >= 'a' && d <= 'z');
				bool expsign = !hex && (d == '-' || d == '+') &&
					       (b[i - 1] == 'e' || b[i - 1] == 'E');
				if (!alnum && d != '.' && !expsign)
					break;
				i++;
			}
			note_literal(c, file, line, b + start, i - start);
		} else {
			i++;
		}
	}
}

/* ---- read-ahead ------------------------------------------------------------- */

/*
 * Worker threads only read (open, fstat, read, close: a third of a serial
 * load, all in the kernel); the loading thread parses and checks. Parsing in
 * the workers was tried: walking and freeing trees built on another core
 * cost more CPU than the parse saved (2.5 s against 2.4 s serial, 100,000
 * files on 2 cores). Files go in chunks of READAHEAD_CHUNK, so threads meet
 * once a chunk, not once a file. Chunk slot k always belongs to worker
 * k % n_workers, which frees the bytes the slot held before refilling it:
 * buffers are allocated and freed by one thread. Without workers the
 * loading thread reads each chunk itself.
 */
#define READAHEAD_CHUNK 32
#define READAHEAD_SLOTS (READAHEAD_WINDOW / READAHEAD_CHUNK)

struct chunk {
	bool ready; /* filled with chunk first / READAHEAD_CHUNK, not yet taken */
	size_t first, count; /* files [first, first + count) */
	struct conf_parsed file[READAHEAD_CHUNK];
	const char *pathp[READAHEAD_CHUNK]; /* into path[], NULL: too long */
	char path[READAHEAD_CHUNK][PATH_MAX];
};

struct conf_readahead {
	const char *dir;
	const char *const *names;
	size_t n, n_chunks;
	pthread_mutex_t lock;
	pthread_cond_t ready; /* a chunk became READY */
	pthread_cond_t room;  /* the loader took a chunk, or stop */
	size_t taken;	      /* chunks the loader is done with */
	bool stop;
	struct chunk slot[READAHEAD_SLOTS];
	pthread_t tid[READAHEAD_WORKERS];
	int n_workers;
};

/* Free the bytes a slot holds (its owner thread, or the end). */
static void
chunk_release(struct chunk *k)
{
	for (size_t j = 0; j < k->count; j++) {
		free(k->file[j].buf);
		k->file[j].buf = NULL;
	}
	k->count = 0;
}

/* Free the slot's old bytes, then read chunk ci into it. */
static void
chunk_fill(struct conf_readahead *ra, struct chunk *k, size_t ci)
{
	chunk_release(k);
	k->first = ci * READAHEAD_CHUNK;
	size_t cnt = ra->n - k->first < READAHEAD_CHUNK ? ra->n - k->first : READAHEAD_CHUNK;
	for (size_t j = 0; j < cnt; j++) {
		int w = snprintf(k->path[j], PATH_MAX, "%s/%s", ra->dir, ra->names[k->first + j]);
		k->pathp[j] = w < 0 || w >= PATH_MAX ? NULL : k->path[j];
		file_read(k->pathp[j], &k->file[j]);
		k->count = j + 1;
	}
}

struct worker_arg {
	struct conf_readahead *ra;
	int w;
};

static void *
worker(void *arg)
{
	struct conf_readahead *ra = ((struct worker_arg *)arg)->ra;
	int w = ((struct worker_arg *)arg)->w;
	free(arg);
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the main thread's */
	for (size_t ci = (size_t)w;; ci += (size_t)ra->n_workers) {
		struct chunk *k = &ra->slot[ci % READAHEAD_SLOTS];
		pthread_mutex_lock(&ra->lock);
		/* the slot is ours again once the loader took what it held */
		while (!ra->stop && ci < ra->n_chunks && ci >= ra->taken + READAHEAD_SLOTS)
			pthread_cond_wait(&ra->room, &ra->lock);
		bool done = ra->stop || ci >= ra->n_chunks;
		if (done) {
			/* k may still hold a chunk the loader has not taken: leave it */
			pthread_mutex_unlock(&ra->lock);
			break;
		}
		k->ready = false; /* being refilled */
		pthread_mutex_unlock(&ra->lock);
		chunk_fill(ra, k, ci);
		pthread_mutex_lock(&ra->lock);
		k->ready = true;
		pthread_cond_broadcast(&ra->ready);
		pthread_mutex_unlock(&ra->lock);
	}
	return NULL;
}

struct conf_readahead *
conf_readahead_start(const char *dir, const char *const *names, size_t n)
{
	struct conf_readahead *ra = calloc(1, sizeof(*ra));
	if (ra == NULL)
		return NULL;
	ra->dir = dir;
	ra->names = names;
	ra->n = n;
	ra->n_chunks = (n + READAHEAD_CHUNK - 1) / READAHEAD_CHUNK;
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->ready, NULL);
	pthread_cond_init(&ra->room, NULL);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	/* one worker per CPU beside the loading thread's own */
	int cap = conf_readahead_max_workers < 0		   ? 0
		  : conf_readahead_max_workers > READAHEAD_WORKERS ? READAHEAD_WORKERS
								   : conf_readahead_max_workers;
	int want = n < READAHEAD_MIN || cpus < 2 ? 0 : cpus - 1 > cap ? cap : (int)cpus - 1;
	/* workers take chunks w, w + n_workers, ...: the count is fixed before
	 * any starts, and a worker that cannot be started leaves the loader to
	 * parse everything itself */
	ra->n_workers = want;
	for (int k = 0; k < want; k++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (wa != NULL) {
			wa->ra = ra;
			wa->w = k;
		}
		if (wa == NULL || pthread_create(&ra->tid[k], NULL, worker, wa) != 0) {
			free(wa);
			pthread_mutex_lock(&ra->lock);
			ra->stop = true;
			pthread_cond_broadcast(&ra->room);
			pthread_mutex_unlock(&ra->lock);
			for (int j = 0; j < k; j++)
				pthread_join(ra->tid[j], NULL);
			for (size_t s = 0; s < READAHEAD_SLOTS; s++) {
				chunk_release(&ra->slot[s]);
				ra->slot[s].ready = false;
			}
			ra->stop = false;
			ra->n_workers = 0;
			break;
		}
	}
	return ra;
}

struct conf_parsed *
conf_readahead_get(struct conf_readahead *ra, size_t i, const char **path)
{
	size_t ci = i / READAHEAD_CHUNK;
	struct chunk *k = &ra->slot[ci % READAHEAD_SLOTS];
	if (i % READAHEAD_CHUNK == 0) { /* the chunk starts: wait for it, or parse it */
		if (ra->n_workers == 0) {
			chunk_fill(ra, k, ci);
		} else {
			pthread_mutex_lock(&ra->lock);
			while (!k->ready || k->first != ci * READAHEAD_CHUNK)
				pthread_cond_wait(&ra->ready, &ra->lock);
			pthread_mutex_unlock(&ra->lock);
		}
	}
	*path = k->pathp[i - k->first];
	file_parse(ra->dir, &k->file[i - k->first]);
	return &k->file[i - k->first];
}

void
conf_readahead_put(struct conf_readahead *ra, size_t i)
{
	size_t ci = i / READAHEAD_CHUNK;
	config_destroy(&ra->slot[ci % READAHEAD_SLOTS].file[i % READAHEAD_CHUNK].cf);
	if (i % READAHEAD_CHUNK != READAHEAD_CHUNK - 1 && i != ra->n - 1)
		return; /* the bytes are freed when the slot is refilled */
	pthread_mutex_lock(&ra->lock);
	ra->slot[ci % READAHEAD_SLOTS].ready = false;
	ra->taken = ci + 1;
	pthread_cond_broadcast(&ra->room);
	pthread_mutex_unlock(&ra->lock);
}

void
conf_readahead_end(struct conf_readahead *ra)
{
	if (ra == NULL)
		return;
	pthread_mutex_lock(&ra->lock);
	ra->stop = true;
	pthread_cond_broadcast(&ra->room);
	pthread_mutex_unlock(&ra->lock);
	for (int k = 0; k < ra->n_workers; k++)
		pthread_join(ra->tid[k], NULL);
	for (size_t s = 0; s < READAHEAD_SLOTS; s++)
		chunk_release(&ra->slot[s]);
	pthread_cond_destroy(&ra->room);
	pthread_cond_destroy(&ra->ready);
	pthread_mutex_destroy(&ra->lock);
	free(ra);
}
