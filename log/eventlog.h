/*
 * eventlog.h - where event lines go: an append-only file, syslog, or stdout.
 * Thread-safe. Lines are written whole (never interleaved with another
 * writer's), each by its own thread with one write(2); eventlog_write()
 * returns after the write (eventlog.c).
 */
#ifndef BW_EVENTLOG_H
#define BW_EVENTLOG_H

#include <stddef.h>
#include <sys/types.h>

/* target "file" (path), "syslog" (facility: a word of log.facility in
 * registry/settings.c, NULL its default) or "stdout". Returns 0 or -1 with
 * errno set (EINVAL: unknown target or facility). May be called again to
 * switch targets (reload). */
int eventlog_open(const char *target, const char *path, const char *facility);
/* A user besides root and the caller that may own the log file (the
 * milter's user); the file is never followed through a symlink and must be
 * a regular file with one link (eventlog.c). */
void eventlog_trust_uid(uid_t uid);
/* Reopen the file after rotation (SIGUSR1). */
int eventlog_reopen(void);
/* Write one complete line ending in '\n'. Returns 0 once it is written,
 * -1 when it could not be (disk full, I/O error): the caller must not act
 * as if it were logged. */
int eventlog_write(const char *line, size_t len);
/* One complete line whose landing changes no reply (the decision event of
 * a refused message): written at once when no other refusal line is being
 * written or queued, else queued for the flusher thread, which writes the
 * queue within about a millisecond (eventlog.c). Returns 0 once written or
 * queued, -1 when this thread's own write failed; a failed batch is
 * reported with the number of lines lost. */
int eventlog_write_queued(const char *line, size_t len);
/* Write what is queued, close the target (writes in progress finish
 * first). */
void eventlog_close(void);

#endif
