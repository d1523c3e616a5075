/*
 * conf.h - the configuration loader (SPEC §2): reads the libconfig main
 * file and identities_dir/NAME.conf, validates every key and builds a new
 * registry snapshot, or lists every error found.
 */
#ifndef BW_CONF_H
#define BW_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/registry.h"

/* Errors of one load, each "file:line: key: message". Heap-owned. */
struct conf_errors {
	char **msg;
	size_t n;
};

/* "/etc/bulkwarden/bulkwarden.conf", or under SYSCONFDIR when defined. */
const char *conf_default_path(void);

/*
 * Load the main file (and identities_dir/NAME.conf, sorted by name), validate
 * everything and return a new snapshot (refcnt 1, arena-owned, indexes
 * built). r->revision is the SHA-256 (hex) of every file read, in read
 * order, each preceded by its path; DKIM keys contribute the SHA-256 of
 * their public key. now becomes r->loaded_at (lifecycle is evaluated per
 * message, not here). On failure returns NULL and fills errs (if non-NULL)
 * with every error found, not just the first. errs is overwritten: release
 * a previous result with conf_errors_free() before reusing it.
 */
struct registry *conf_load(const char *path, long long now, struct conf_errors *errs);

/* Free the messages and reset e to empty. */
void conf_errors_free(struct conf_errors *e);
/* Whether a libmilter socket spec listens beyond loopback (inet: without a
 * host, or a host that is not 127.0.0.0/8, ::1 or localhost). */
bool conf_socket_remote(const char *spec);

#endif
