/*
 * eventlog.h - where event lines go: an append-only file, syslog, or stdout.
 * Thread-safe. Lines are written whole (never interleaved with another
 * writer's); an idle sink writes a line before eventlog_write() returns, a
 * busy one queues it for a batched write at most a few ms later (eventlog.c).
 */
#ifndef BW_EVENTLOG_H
#define BW_EVENTLOG_H

#include <stddef.h>

/* target "file" (path), "syslog" (facility: a word of log.facility in
 * registry/settings.c, NULL its default) or "stdout". Returns 0 or -1 with
 * errno set (EINVAL: unknown target or facility). May be called again to
 * switch targets (reload). */
int eventlog_open(const char *target, const char *path, const char *facility);
/* Reopen the file after rotation (SIGUSR1). */
int eventlog_reopen(void);
/* Write (or queue) one complete line ending in '\n'. Returns 0, or -1 when
 * this thread's own write failed; a failed batch is reported by the module. */
int eventlog_write(const char *line, size_t len);
/* Write what is queued, stop the flusher, close the target. */
void eventlog_close(void);

#endif
