/*
 * ecs.h - the members every event carries for a SIEM (SPEC §5): the ECS
 * version, ECS categorization (event.category, event.type, with values from
 * ECS's allowed lists), which relay wrote it (host.name,
 * observer.hostname) and service.name. Field names are checked against the
 * ECS field reference kept in man/bulkwarden-ecs.7's source list
 * (tests/siem/ecs-fields.txt) by tests/siem/ecs.sh.
 */
#ifndef BW_ECS_H
#define BW_ECS_H

#include "base/json.h"

/* The ECS release the field names were checked against. */
#define ECS_VERSION "9.4.0"
#define ECS_HOST_MAX 256

/* Set the relay's name written as host.name and observer.hostname (call
 * once at startup, before threads); without it, gethostname() on first use. */
void ecs_set_host(const char *name);
const char *ecs_host(void);

/* Write ecs.version, event.category [cat1(, cat2)], event.type [type1(,
 * type2)], host.name, observer.hostname and service.name into the open
 * object j. cat2/type2 may be NULL. */
void ecs_common(struct jbuf *j, const char *cat1, const char *cat2, const char *type1,
		const char *type2);

#endif
