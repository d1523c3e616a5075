/*
 * eventlog.c - the event sink. Lines are built elsewhere (policy/event.c);
 * this module only delivers them. A file is opened O_APPEND so each line
 * lands whole even with bulkwardenctl appending beside the milter; syslog
 * lines drop the trailing newline. The target is process-wide and swapped
 * under a mutex.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "lib/eventlog.h"
#include "lib/util.h"

#define EVENTLOG_PATH_MAX 4096

enum target { T_NONE, T_FILE, T_SYSLOG, T_STDOUT };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static enum target target = T_NONE;
static int fd = -1;
static char path[EVENTLOG_PATH_MAX];
static int facility = LOG_MAIL;

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
	{"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
	{"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
	{"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}, {"auth", LOG_AUTH},
};

static int
open_file(const char *p)
{
	return open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

int
eventlog_open(const char *t, const char *p, const char *fac)
{
	int nfd = -1;
	enum target nt;
	int nfac = LOG_MAIL;

	if (strcmp(t, "file") == 0) {
		if (p == NULL || p[0] == '\0') {
			errno = EINVAL;
			return -1;
		}
		nfd = open_file(p);
		if (nfd < 0)
			return -1;
		nt = T_FILE;
	} else if (strcmp(t, "syslog") == 0) {
		nt = T_SYSLOG;
		for (size_t i = 0; fac && i < sizeof(facilities) / sizeof(facilities[0]); i++)
			if (strcmp(fac, facilities[i].name) == 0)
				nfac = facilities[i].value;
	} else if (strcmp(t, "stdout") == 0) {
		nt = T_STDOUT;
	} else {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&lock);
	if (fd >= 0)
		close(fd);
	fd = nfd;
	target = nt;
	facility = nfac;
	if (nt == T_FILE)
		bw_strlcpy(path, p, sizeof(path));
	pthread_mutex_unlock(&lock);
	return 0;
}

int
eventlog_reopen(void)
{
	int rc = 0;
	pthread_mutex_lock(&lock);
	if (target == T_FILE) {
		int nfd = open_file(path);
		if (nfd < 0) {
			rc = -1; /* keep writing to the old descriptor */
		} else {
			close(fd);
			fd = nfd;
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

/* write(2) the whole buffer, retrying short writes and EINTR. */
static int
write_all(int d, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(d, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int
eventlog_write(const char *line, size_t len)
{
	int rc = 0;
	pthread_mutex_lock(&lock);
	switch (target) {
	case T_FILE:
		rc = write_all(fd, line, len);
		break;
	case T_STDOUT:
		rc = write_all(STDOUT_FILENO, line, len);
		break;
	case T_SYSLOG:
		syslog(facility | LOG_INFO, "%.*s", (int)(len && line[len - 1] == '\n' ? len - 1 : len),
		       line);
		break;
	case T_NONE:
		break;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void
eventlog_close(void)
{
	pthread_mutex_lock(&lock);
	if (fd >= 0)
		close(fd);
	fd = -1;
	target = T_NONE;
	pthread_mutex_unlock(&lock);
}
