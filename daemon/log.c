/*
 * log.c - logging to stderr in the foreground, to syslog otherwise.
 *
 * Lines often carry what clients sent (paths, names), so every byte that
 * is not printable ASCII is escaped as \xNN at the sink: a hostile path
 * cannot forge a log line or a terminal escape.  Lines below fatal are
 * rate-limited (LOG_RATE a second, bursts of LOG_BURST), so a flood of
 * bad clients cannot flood the log; what was dropped is counted in the
 * next line that gets through.  Workers log too: the limiter has a lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "aiofsd.h"

#define LOG_RATE	100		/* lines a second */
#define LOG_BURST	200

static int	log_stderr = 1;
static int	log_level = 1;	/* 0 quiet, 1 info, 2 debug */
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static double	log_tokens = LOG_BURST;
static struct timespec log_last;
static unsigned long log_dropped;

/* Escape every byte that is not printable ASCII (or a tab) as \xNN. */
void
log_escape(const char *in, char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 o = 0;

	for (; *p != '\0' && o + 5 < outlen; p++) {
		if ((*p >= 0x20 && *p < 0x7f) || *p == '\t')
			out[o++] = *p;
		else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

/* Token bucket: may a line go out now?  Sets *dropped to report. */
static int
log_allow(int pri, unsigned long *dropped)
{
	struct timespec	 now;
	double		 dt;
	int		 ok;

	*dropped = 0;
	if (pri <= LOG_CRIT)
		return (1);
	pthread_mutex_lock(&log_mutex);
	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (now.tv_sec - log_last.tv_sec) +
	    (now.tv_nsec - log_last.tv_nsec) / 1e9;
	log_last = now;
	log_tokens += dt * LOG_RATE;
	if (log_tokens > LOG_BURST)
		log_tokens = LOG_BURST;
	ok = log_tokens >= 1;
	if (ok) {
		log_tokens -= 1;
		*dropped = log_dropped;
		log_dropped = 0;
	} else
		log_dropped++;
	pthread_mutex_unlock(&log_mutex);
	return (ok);
}

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

/* Write one formatted, escaped, rate-limited line at a priority. */
static void
log_vwrite(int pri, const char *fmt, va_list ap, const char *suffix)
{
	char		 raw[1024], msg[4096];
	unsigned long	 dropped;

	if (!log_allow(pri, &dropped))
		return;
	vsnprintf(raw, sizeof raw, fmt, ap);
	log_escape(raw, msg, sizeof msg);
	if (dropped > 0) {
		if (log_stderr)
			fprintf(stderr, "aiofsd: (%lu log lines dropped)\n",
			    dropped);
		else
			syslog(LOG_WARNING, "(%lu log lines dropped)",
			    dropped);
	}
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
