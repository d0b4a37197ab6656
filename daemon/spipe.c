/*
 * spipe.c - a pool of pipes that carry file pages to sockets (splice).
 *
 * DESIGN
 *
 * A large Data chunk of pread or readfile used to be copied twice in the
 * daemon: pread() from the page cache into a worker's buffer, then
 * writev() from that buffer into the socket.  Instead, for chunks of at
 * least AIOFS_SPLICE_MIN bytes, the worker splices the file range into a
 * pipe (spipe_fill): the pipe takes references to the page-cache pages and
 * nothing is copied.  Only then is the chunk's length known, so the loop
 * writes the frame header (frame_data_header) into conn->out and queues
 * the pipe behind it on the connection's output (conn_send_pipe).  When
 * the output reaches the pipe, the loop splices it into the socket
 * (spipe_send); since Linux 6.5 AF_UNIX sockets take the pages into their
 * skbs (MSG_SPLICE_PAGES), again without a copy.  What is left is the
 * client's recv(), the one copy any socket needs.
 *
 * Pages are references: like sendfile, a write to the file after the
 * splice may show in data not yet received (docs/protocol.md).
 *
 * Each pipe is two fds and a kernel ring, so they are pooled: at most
 * opts.splice_pipes exist at once, each sized with F_SETPIPE_SZ to one
 * chunk (1 MiB is also the unprivileged limit, pipe-max-size).  A worker
 * that finds none free, or a file that cannot be spliced, copies as
 * before.  A pipe goes back on the free list only when it is empty; one
 * that still holds data (its connection died mid-segment, its request was
 * cancelled) is closed instead, which also drops its page references.
 * Free pipes unused for SPIPE_IDLE_SECS are closed by the once-a-second
 * sweep, so a burst does not keep its fds and pipe buffers for ever.
 *
 * Locks: spipe_mutex guards the free list and the counts, and is a leaf:
 * no other lock is taken while it is held.  A pipe off the free list
 * belongs to one req (a worker, then the loop), then to one connection
 * (the loop): it needs no lock.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

#define SPIPE_IDLE_SECS	2

static pthread_mutex_t	 spipe_mutex = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(spipe_free_head, spipe) spipe_free =
    TAILQ_HEAD_INITIALIZER(spipe_free);
static unsigned		 spipe_max;	/* pipes at most; 0 = never splice */
static unsigned		 spipe_count;	/* pipes that exist (or are made) */
static size_t		 spipe_size;	/* F_SETPIPE_SZ */
static int		 spipe_warned;	/* about F_SETPIPE_SZ failing */

/* Close a pipe that is not on the free list and forget it. */
static void
spipe_destroy(struct spipe *p)
{
	close(p->rfd);
	close(p->wfd);
	free(p);
	pthread_mutex_lock(&spipe_mutex);
	spipe_count--;
	pthread_mutex_unlock(&spipe_mutex);
}

/*
 * Can this kernel splice a pipe into an AF_UNIX stream socket?  One byte
 * through a socketpair says.  0 if it can, else -1 with errno set.
 */
static int
spipe_probe(void)
{
	int	 p[2], sv[2], rc = -1, e;
	char	 c = 'x';

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1)
		return (-1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0, sv) == -1) {
		e = errno;
		close(p[0]);
		close(p[1]);
		errno = e;
		return (-1);
	}
	if (write(p[1], &c, 1) == 1 &&
	    splice(p[0], NULL, sv[0], NULL, 1, SPLICE_F_NONBLOCK) == 1 &&
	    read(sv[1], &c, 1) == 1 && c == 'x')
		rc = 0;
	e = errno;
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	errno = e;
	return (rc);
}

/*
 * Set up the pool: at most max pipes of size bytes (one chunk).  If this
 * kernel cannot splice into a Unix socket the pool stays empty and every
 * chunk is copied.  Loop thread, before the workers start.
 */
void
spipe_init(unsigned max, size_t size)
{
	spipe_size = size;
	spipe_max = max;
	if (max > 0 && spipe_probe() == -1) {
		log_warn("splicing into a unix socket does not work; bulk "
		    "reads will copy");
		spipe_max = 0;
	}
}

/*
 * An empty pipe for a worker: a free one, else a new one while the pool
 * is under its limit.  NULL if there is none to be had (the caller
 * copies).  Any thread.
 */
struct spipe *
spipe_get(void)
{
	struct spipe	*p;
	int		 fds[2], e;

	pthread_mutex_lock(&spipe_mutex);
	if ((p = TAILQ_FIRST(&spipe_free)) != NULL) {
		TAILQ_REMOVE(&spipe_free, p, entry);
		pthread_mutex_unlock(&spipe_mutex);
		return (p);
	}
	if (spipe_count >= spipe_max) {
		pthread_mutex_unlock(&spipe_mutex);
		return (NULL);
	}
	spipe_count++;		/* reserved: made unlocked */
	pthread_mutex_unlock(&spipe_mutex);

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1)
		goto fail;
	/*
	 * A pipe of the default 64 KiB would splice a sixteenth of a chunk
	 * and read the rest: not worth it.  Past the user's pipe buffer
	 * limit (pipe-user-pages-soft) an unprivileged resize gets EPERM.
	 */
	if (fcntl(fds[1], F_SETPIPE_SZ, (int)spipe_size) == -1) {
		e = errno;
		close(fds[0]);
		close(fds[1]);
		if (!__atomic_exchange_n(&spipe_warned, 1, __ATOMIC_RELAXED))
			log_warnx("F_SETPIPE_SZ %zu: %s; bulk reads copy when "
			    "no pipe is free", spipe_size, strerror(e));
		goto fail;
	}
	p = xcalloc(1, sizeof *p);
	p->rfd = fds[0];
	p->wfd = fds[1];
	return (p);

fail:
	pthread_mutex_lock(&spipe_mutex);
	spipe_count--;
	pthread_mutex_unlock(&spipe_mutex);
	return (NULL);
}

/*
 * Give a pipe back (NULL is ignored).  An empty one goes on the free list;
 * one that still holds data is closed, since nobody will read it.  Any
 * thread.
 */
void
spipe_put(struct spipe *p)
{
	if (p == NULL)
		return;
	if (p->len != 0) {
		spipe_destroy(p);
		return;
	}
	p->at = 0;
	p->idle_ns = stats_now_ns();
	pthread_mutex_lock(&spipe_mutex);
	/* Most recently used first: the sweep takes the cold end. */
	TAILQ_INSERT_HEAD(&spipe_free, p, entry);
	pthread_mutex_unlock(&spipe_mutex);
}

/*
 * Worker: splice up to want bytes of fd at *off into p (empty), moving
 * *off on by what was spliced; the file's own offset is not used.  Returns
 * the bytes now in p, with *eof set if the file ended.  Fewer than want
 * without *eof means that the pipe is full (partial pages at an unaligned
 * offset fill it sooner) or that a later splice failed: the caller reads
 * the rest another way, and meets the error there.  -1 with errno if
 * nothing could be spliced: the file does not support it (EINVAL,
 * ENOSYS, ESPIPE...), an I/O error, or ECANCELED.
 */
ssize_t
spipe_fill(struct spipe *p, int fd, int64_t *off, size_t want, int *eof)
{
	loff_t	 o = *off;
	ssize_t	 n;

	*eof = 0;
	while (p->len < want) {
		n = splice(fd, &o, p->wfd, NULL, want - p->len,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			p->len += n;
			continue;
		}
		if (n == 0) {
			*eof = 1;
			break;
		}
		if (errno == EINTR && !pool_cancelled())
			continue;
		if (p->len > 0)
			break;
		return (-1);
	}
	*off = o;
	return (p->len);
}

/*
 * Loop: splice what p holds into the (non-blocking) socket sock.  Returns
 * as splice(2) does; 0 means the pipe could not give its data (a page
 * went bad), which the caller must treat as fatal for the stream.
 */
ssize_t
spipe_send(struct spipe *p, int sock)
{
	ssize_t	 n;

	n = splice(p->rfd, NULL, sock, NULL, p->len, SPLICE_F_NONBLOCK);
	if (n > 0)
		p->len -= n;
	return (n);
}

/* Once a second: close free pipes that have not been used for a while. */
void
spipe_sweep(void)
{
	struct spipe	*p;
	uint64_t	 now = stats_now_ns();

	for (;;) {
		pthread_mutex_lock(&spipe_mutex);
		p = TAILQ_LAST(&spipe_free, spipe_free_head);
		if (p == NULL || now - p->idle_ns <
		    (uint64_t)SPIPE_IDLE_SECS * 1000000000) {
			pthread_mutex_unlock(&spipe_mutex);
			return;
		}
		TAILQ_REMOVE(&spipe_free, p, entry);
		pthread_mutex_unlock(&spipe_mutex);
		spipe_destroy(p);
	}
}

/* At exit, after the workers stopped: close every free pipe. */
void
spipe_free_all(void)
{
	struct spipe	*p;

	for (;;) {
		pthread_mutex_lock(&spipe_mutex);
		if ((p = TAILQ_FIRST(&spipe_free)) != NULL)
			TAILQ_REMOVE(&spipe_free, p, entry);
		pthread_mutex_unlock(&spipe_mutex);
		if (p == NULL)
			break;
		spipe_destroy(p);
	}
	if (spipe_count != 0)
		log_warnx("%u spliced pipes still in use at exit", spipe_count);
}
