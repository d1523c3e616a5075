/*
 * ecs.c - the ECS members shared by every event (see ecs.h).
 *
 * The host name is read once (startup, or first use) into a static buffer
 * and never changes afterwards, so event builders on any thread read it
 * without a lock. Untrusted input: none (the name comes from the kernel or
 * the operator and still goes through the JSON escaper).
 */
#include "config.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "base/ecs.h"
#include "base/util.h"

static char host[ECS_HOST_MAX] = "";
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

/* First use without ecs_set_host(): the kernel's name, "unknown" if none. */
static void
host_init(void)
{
	if (host[0] != '\0')
		return;
	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		bw_strlcpy(host, "unknown", sizeof(host));
	host[sizeof(host) - 1] = '\0';
}

void
ecs_set_host(const char *name)
{
	if (name != NULL && name[0] != '\0')
		bw_strlcpy(host, name, sizeof(host));
	pthread_once(&host_once, host_init);
}

const char *
ecs_host(void)
{
	pthread_once(&host_once, host_init);
	return host;
}

/* A one- or two-element array of ECS keywords. */
static void
keywords(struct jbuf *j, const char *key, const char *a, const char *b)
{
	jbuf_array_begin(j, key);
	jbuf_str(j, NULL, a);
	if (b != NULL)
		jbuf_str(j, NULL, b);
	jbuf_array_end(j);
}

void
ecs_common(struct jbuf *j, const char *cat1, const char *cat2, const char *type1,
	   const char *type2)
{
	const char *h = ecs_host();

	jbuf_str(j, "ecs.version", ECS_VERSION);
	keywords(j, "event.category", cat1, cat2);
	keywords(j, "event.type", type1, type2);
	jbuf_str(j, "host.name", h);
	jbuf_str(j, "observer.hostname", h);
	jbuf_str(j, "service.name", "bulkwarden");
}
