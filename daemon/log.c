/*
 * log.c - logging to stderr in the foreground, to syslog otherwise.
 *
 * Client-supplied strings are never logged raw: callers pass them through
 * log_escape() first so a hostile path cannot forge log lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "aiofsd.h"

static int	log_stderr = 1;
static int	log_level = 1;	/* 0 quiet, 1 info, 2 debug */

/* Start logging: to stderr when foreground, else to syslog. */
void
log_open(const char *ident, int foreground, int level)
{
	log_stderr = foreground;
	log_level = level;
	if (!log_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* Stop logging to syslog. */
void
log_close(void)
{
	if (!log_stderr)
		closelog();
}

/* Write one formatted line at a syslog priority. */
static void
log_vwrite(int pri, const char *fmt, va_list ap, const char *suffix)
{
	char	 msg[1024];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_stderr) {
		if (suffix != NULL)
			fprintf(stderr, "aiofsd: %s: %s\n", msg, suffix);
		else
			fprintf(stderr, "aiofsd: %s\n", msg);
	} else {
		if (suffix != NULL)
			syslog(pri, "%s: %s", msg, suffix);
		else
			syslog(pri, "%s", msg);
	}
}

/* Log at debug level (-vv). */
void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_level < 2)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

/* Log at info level: every mutation, every connection. */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	if (log_level < 1)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

/* Log a warning with strerror(errno) appended. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

/* Log a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

/* Log with strerror(errno) and exit: out of memory or broken invariant. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

/* Log and exit: broken invariant. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
