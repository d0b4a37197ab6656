/*
 * server.c - the listening socket, accept, and orderly shutdown.
 *
 * accept() failing with EMFILE/ENFILE stops accepting for a moment instead
 * of spinning on a socket that stays readable.  Shutdown (SIGTERM/SIGINT)
 * closes the listener and unlinks its path at once, lets every connection
 * finish what it has in flight and flush its replies, closes their handles
 * (removing temporary files), and leaves the loop when the last connection
 * is freed, or at a deadline.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

#define SERVER_BACKLOG		512
#define SERVER_DRAIN_SECS	10

struct options		 opts;
int			 server_stopping;
uint64_t		 server_drain_start;
static int		 server_fd = -1;
static char		*server_path;	/* unlink at exit if we bound it */
static struct event	*server_ev;
static struct event	*server_backoff_ev;

/* Re-enable accepting after an EMFILE back-off. */
static void
server_backoff_cb(int fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	if (!__atomic_load_n(&server_stopping, __ATOMIC_RELAXED) &&
	    server_ev != NULL)
		event_add(server_ev, NULL);
}

/* Accept every pending connection. */
static void
server_accept_cb(int lfd, short events, void *arg)
{
	struct timeval	 tv = { 0, 100000 };
	int		 fd;

	(void)events;
	(void)arg;
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("accept: backing off");
				STAT_ADD(conns_rejected, 1);
				event_del(server_ev);
				evtimer_add(server_backoff_ev, &tv);
				return;
			}
			log_warn("accept");
			return;
		}
		loop_give(fd);
	}
}

/* Start serving an already-listening socket. */
int
server_adopt(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return (-1);
	server_fd = fd;
	server_ev = event_new(loops[0].base, fd, EV_READ | EV_PERSIST,
	    server_accept_cb, NULL);
	server_backoff_ev = evtimer_new(loops[0].base, server_backoff_cb,
	    NULL);
	if (server_ev == NULL || server_backoff_ev == NULL ||
	    event_add(server_ev, NULL) == -1)
		return (-1);
	return (0);
}

/*
 * Bind and listen on path.  A live daemon already there is an error
 * (EADDRINUSE); a stale socket file is replaced; anything else that is not
 * a socket is left alone (EEXIST).
 */
int
server_listen(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	int			 fd, probe;
	mode_t			 old;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);

	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			errno = EEXIST;
			return (-1);
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe == -1)
			return (-1);
		if (connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0) {
			close(probe);
			errno = EADDRINUSE;
			return (-1);
		}
		close(probe);
		log_info("replacing stale socket %s", path);
		if (unlink(path) == -1)
			return (-1);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return (-1);
	old = umask(0117);		/* 0660: owner and group */
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(old);
		close(fd);
		return (-1);
	}
	umask(old);
	if (listen(fd, SERVER_BACKLOG) == -1) {
		close(fd);
		unlink(path);
		return (-1);
	}
	server_path = xstrdup(path);
	return (server_adopt(fd));
}

/* Stop accepting and remove the socket path. */
void
server_close_listener(void)
{
	if (server_ev != NULL) {
		event_free(server_ev);
		server_ev = NULL;
	}
	if (server_backoff_ev != NULL) {
		event_free(server_backoff_ev);
		server_backoff_ev = NULL;
	}
	if (server_fd != -1) {
		close(server_fd);
		server_fd = -1;
	}
	if (server_path != NULL) {
		unlink(server_path);
		free(server_path);
		server_path = NULL;
	}
}

/*
 * Every 20 ms while shutting down, on each loop: past the deadline, give
 * up on l's connections; end the loop once they are all freed.
 */
void
server_drain(struct loop *l)
{
	struct conn	*conn, *next;

	if (stats_now_ns() - server_drain_start >
	    (uint64_t)SERVER_DRAIN_SECS * 1000000000) {
		/* Stop waiting for slow operations (a silent FIFO...). */
		for (conn = TAILQ_FIRST(&l->conns); conn != NULL;
		    conn = next) {
			next = TAILQ_NEXT(conn, entry);
			conn_lost(conn, "shutdown deadline");
		}
		/* Again each time: a signal can land just before a read. */
		TAILQ_FOREACH(conn, &l->dead, entry)
			conn_interrupt(conn);
	}
	if (__atomic_load_n(&l->nalloc, __ATOMIC_RELAXED) == 0)
		event_base_loopexit(l->base, NULL);
}

/* Begin a graceful shutdown (loop 0). */
void
server_shutdown(void)
{
	if (server_stopping)
		return;
	log_info("shutting down");
	server_close_listener();
	server_drain_start = stats_now_ns();
	__atomic_store_n(&server_stopping, 1, __ATOMIC_RELAXED);
	loop_stop_all();
}
