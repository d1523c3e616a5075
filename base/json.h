/*
 * json.h - JSON event lines (ECS field names as flat dotted keys).
 *
 * struct jbuf is a bounded line builder: every string goes through the
 * escaper, so bytes from the wire cannot end the line, close a string or
 * add a field. Each member is written whole or not at all: once the line is
 * full, later members are dropped and the event gets "event.truncated":
 * true, so the line always parses and is never lost.
 * Keys are never wire data: they are the program's own constants (or owner
 * role names, which the loader restricts to [a-z][a-z0-9_-]*), and are
 * written without escaping. Pure code: building a line does no I/O.
 */
#ifndef BW_JSON_H
#define BW_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define EVENT_LINE_MAX 16384

struct jbuf {
	char buf[EVENT_LINE_MAX];
	size_t len;
	bool first;     /* no member written yet at this level */
	bool truncated;
	unsigned depth;  /* open containers, closers[] holds their brackets */
	unsigned skip;   /* containers opened after truncation (not written) */
	char closers[8];
};

void jbuf_begin(struct jbuf *j);
/* Finish the object and add '\n'; returns the line length. */
size_t jbuf_end(struct jbuf *j);
void jbuf_str(struct jbuf *j, const char *key, const char *val);
void jbuf_strn(struct jbuf *j, const char *key, const char *val, size_t n);
void jbuf_num(struct jbuf *j, const char *key, long long val);
void jbuf_bool(struct jbuf *j, const char *key, bool val);
/* Member key with the value val[0..n) copied as it is: val must already be
 * valid JSON built by the caller from numbers and fixed keys, never from
 * input (nothing is escaped). Cut whole like any member. */
void jbuf_raw(struct jbuf *j, const char *key, const char *val, size_t n);
/* A finite number with 6 significant digits (NaN and infinities: 0). */
void jbuf_double(struct jbuf *j, const char *key, double val);
void jbuf_array_begin(struct jbuf *j, const char *key);
void jbuf_array_end(struct jbuf *j);
void jbuf_object_begin(struct jbuf *j, const char *key); /* key NULL inside arrays */
void jbuf_object_end(struct jbuf *j);
/* "@timestamp" in RFC 3339 UTC with milliseconds. */
void jbuf_timestamp(struct jbuf *j, const char *key, long long sec, long msec);

#endif
