/*
 * syslog_capture.c - test_settings' window on syslog(3): the priority of the
 * last call, instead of a line in the machine's log. Linked into the test
 * executable, these definitions take the place of libc's for the event log
 * (a static library); <syslog.h> is not included so a fortified build's
 * inline wrapper does not clash, and __syslog_chk is what it would call.
 */
#undef _FORTIFY_SOURCE

int syslog_capture_pri = -1; /* facility | level of the last call; -1: none */

void syslog(int pri, const char *fmt, ...);
void __syslog_chk(int pri, int flag, const char *fmt, ...);

/* Record the priority; the message is not needed. */
void
syslog(int pri, const char *fmt, ...)
{
	(void)fmt;
	__atomic_store_n(&syslog_capture_pri, pri, __ATOMIC_SEQ_CST);
}

/* The fortified entry point (_FORTIFY_SOURCE builds). */
void
__syslog_chk(int pri, int flag, const char *fmt, ...)
{
	(void)flag;
	(void)fmt;
	__atomic_store_n(&syslog_capture_pri, pri, __ATOMIC_SEQ_CST);
}
