/*
 * eventlog.h - where event lines go: an append-only file, syslog, or stdout.
 * Thread-safe; one write(2) per line so concurrent writers never interleave.
 */
#ifndef BW_EVENTLOG_H
#define BW_EVENTLOG_H

#include <stddef.h>

/* target "file" (path), "syslog" (facility name) or "stdout". Returns 0 or
 * -1 with errno set. May be called again to switch targets (reload). */
int eventlog_open(const char *target, const char *path, const char *facility);
/* Reopen the file after rotation (SIGUSR1). */
int eventlog_reopen(void);
/* Write one complete line (ending in '\n'). Returns 0, -1 on I/O error. */
int eventlog_write(const char *line, size_t len);
void eventlog_close(void);

#endif
