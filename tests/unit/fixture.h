/*
 * fixture.h - test helper: load a registry from config text written to a
 * private temporary directory (removed by fixture_cleanup()).
 */
#ifndef BW_FIXTURE_H
#define BW_FIXTURE_H

#include "registry/registry.h"

/* Write text as DIR/bulkwarden.conf and load it; NULL on config errors
 * (printed to stderr). The directory is available as fixture_dir(). */
struct registry *fixture_load(const char *text);
const char *fixture_dir(void);
void fixture_cleanup(void);

/* The registry used by the policy and registry tests. */
extern const char fixture_conf[];

#endif
