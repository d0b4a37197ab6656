/*
 * loop.c - the event loops.
 *
 * DESIGN
 *
 * aiofsd runs --loops event loops, each a thread with an event_base of its
 * own; loop 0 is the main thread, which also owns the listener, the
 * signals and shutdown.  A connection belongs to one loop for its whole
 * life: its socket events, the replies and completions of its requests,
 * its session and its handle table are only ever touched on that loop's
 * thread, so DESIGN.md's rule (one thread owns a connection's state, no
 * locks on it) holds for every connection.  With --loops 1 this is the
 * single loop of DESIGN.md.
 *
 * Why more than one: a loop completes cheap requests itself (fast.c), and
 * then its thread is the limit -- about 9 us of CPU per read-file, most of
 * it the system calls themselves.  A second loop puts the second core to
 * work for the requests of other connections, with no hand-off between
 * threads per request (a hand-off costs a cross-core wake-up, which is
 * what fast.c exists to avoid).  One connection's requests still run on
 * one loop, so a single client's latency is unchanged.
 *
 * Accept runs on loop 0, which gives the socket to the loop with the
 * fewest live connections (the next one round, between equals).
 *
 * Mail: other threads reach a loop through its mailbox, under its mutex,
 * and one eventfd.  Workers post finished requests, loop 0 posts accepted
 * sockets and shutdown, any loop posts "resume" (the daemon-wide in-flight
 * limit eased).  Only the thread that finds the mailbox empty writes the
 * eventfd, so a burst of mail costs one wake-up, as libuv's uv_async.
 *
 * Shared between loops: the connection counts and the per-uid limit
 * (conns_mutex, held to check them and to join or leave a loop's list),
 * the daemon-wide in-flight count (an atomic; loops may pass its limit by
 * the requests they read at the same moment, one each at most), and the
 * worker, pipe and chunk pools (their own locks).  Counters for Stats are
 * per loop, kept with relaxed atomics and summed when read.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

struct loop		*loops;
unsigned		 nloops;
__thread struct loop	*loop_self;
pthread_mutex_t		 conns_mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned		 loop_next;	/* round-robin between equals (loop 0) */

static void	loop_wake_cb(int, short, void *);
static void	loop_sweep_cb(int, short, void *);

/* Default --loops: two where there are two CPUs or more. */
unsigned
loop_default(void)
{
	long	 n = sysconf(_SC_NPROCESSORS_ONLN);

	return (n >= 2 ? 2 : 1);
}

/*
 * Make n loops, each with its event base, wake-up and sweep events.  The
 * calling thread becomes loop 0.
 */
int
loop_init(unsigned n)
{
	static const struct timeval one_sec = { 1, 0 };
	struct loop	*l;
	unsigned	 i;

	loops = xcalloc(n, sizeof *loops);
	nloops = n;
	for (i = 0; i < n; i++) {
		l = &loops[i];
		l->idx = i;
		TAILQ_INIT(&l->conns);
		TAILQ_INIT(&l->dead);
		TAILQ_INIT(&l->flush);
		TAILQ_INIT(&l->doneq);
		pthread_mutex_init(&l->mutex, NULL);
		l->ops = stats_ops_new();
		if ((l->base = event_base_new()) == NULL)
			return (-1);
		l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (l->efd == -1)
			return (-1);
		l->wake_ev = event_new(l->base, l->efd, EV_READ | EV_PERSIST,
		    loop_wake_cb, l);
		l->sweep_ev = event_new(l->base, -1, EV_PERSIST,
		    loop_sweep_cb, l);
		if (l->wake_ev == NULL || l->sweep_ev == NULL ||
		    event_add(l->wake_ev, NULL) == -1 ||
		    event_add(l->sweep_ev, &one_sec) == -1)
			return (-1);
	}
	loop_self = &loops[0];
	return (0);
}

/* A loop thread's body. */
static void *
loop_main(void *arg)
{
	struct loop	*l = arg;

	loop_self = l;
	event_base_dispatch(l->base);
	return (NULL);
}

/*
 * Start the threads of loops 1 and up, with every signal blocked (loop 0
 * takes them, and workers want only SIGURG).
 */
int
loop_start(void)
{
	sigset_t	 set, old;
	unsigned	 i;

	sigfillset(&set);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	for (i = 1; i < nloops; i++) {
		if ((errno = pthread_create(&loops[i].thread, NULL, loop_main,
		    &loops[i])) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return (-1);
		}
		loops[i].running = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (0);
}

/* Run loop 0 here until shutdown, then wait for the other loops. */
void
loop_run(void)
{
	unsigned	 i;

	event_base_dispatch(loops[0].base);
	for (i = 1; i < nloops; i++) {
		if (loops[i].running)
			pthread_join(loops[i].thread, NULL);
		loops[i].running = 0;
	}
}

/*
 * The caller has put mail in l's box, under l->mutex: unlock it, and wake
 * l's thread if this is the first mail since it last looked.
 */
static void
loop_posted(struct loop *l)
{
	uint64_t	 one = 1;
	int		 wake = !l->posted;

	l->posted = 1;
	pthread_mutex_unlock(&l->mutex);
	if (!wake)
		return;
	while (write(l->efd, &one, sizeof one) == -1 && errno == EINTR)
		;
}

/* A worker finished req: give it to the loop of its connection. */
void
loop_post_done(struct req *req)
{
	struct loop	*l = req->conn != NULL ? req->conn->loop : &loops[0];

	pthread_mutex_lock(&l->mutex);
	TAILQ_INSERT_TAIL(&l->doneq, req, qentry);
	loop_posted(l);
}

/*
 * The loop a new connection goes to: the one with the fewest, counting
 * sockets given to it that it has not taken yet (a burst of accepts would
 * otherwise all go to the same loop).
 */
static struct loop *
loop_pick(void)
{
	struct loop	*best = NULL;
	unsigned	 i, k, n, bestn = 0;

	for (k = 0; k < nloops; k++) {
		i = (loop_next + k) % nloops;
		n = __atomic_load_n(&loops[i].nlive, __ATOMIC_RELAXED) +
		    __atomic_load_n(&loops[i].ngiven, __ATOMIC_RELAXED);
		if (best == NULL || n < bestn) {
			best = &loops[i];
			bestn = n;
		}
	}
	loop_next = (best->idx + 1) % nloops;
	return (best);
}

/* An accepted socket (loop 0): make it a connection on some loop. */
void
loop_give(int fd)
{
	struct loop	*l = loop_pick();

	if (l == loop_self) {
		conn_new(l, fd);
		return;
	}
	pthread_mutex_lock(&l->mutex);
	if (l->nnewfds == l->capnewfds) {
		l->capnewfds = l->capnewfds == 0 ? 16 : l->capnewfds * 2;
		l->newfds = xreallocarray(l->newfds, l->capnewfds,
		    sizeof *l->newfds);
	}
	l->newfds[l->nnewfds++] = fd;
	__atomic_add_fetch(&l->ngiven, 1, __ATOMIC_RELAXED);
	loop_posted(l);
}

/* Post mail (LOOP_MAIL_*) to every other loop. */
static void
loop_post_all(int mail)
{
	struct loop	*l;
	unsigned	 i;

	for (i = 0; i < nloops; i++) {
		l = &loops[i];
		if (l == loop_self)
			continue;
		pthread_mutex_lock(&l->mutex);
		l->mail |= mail;
		loop_posted(l);
	}
}

/* While shutting down, every 20 ms: see server_drain(). */
static void
loop_drain_cb(int fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	server_drain(arg);
}

/* This loop begins the shutdown that loop 0 started. */
static void
loop_begin_stop(struct loop *l)
{
	static const struct timeval tick = { 0, 20000 };
	struct conn	*conn, *next;

	if (l->stopping)
		return;
	l->stopping = 1;
	for (conn = TAILQ_FIRST(&l->conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, entry);
		conn_update_read(conn);
	}
	conn_flush_all(l);
	l->drain_ev = event_new(l->base, -1, EV_PERSIST, loop_drain_cb, l);
	if (l->drain_ev == NULL || event_add(l->drain_ev, &tick) == -1)
		fatalx("event_new");
	server_drain(l);
}

/* Shutdown (loop 0): every loop drains its connections, then ends. */
void
loop_stop_all(void)
{
	loop_post_all(LOOP_MAIL_STOP);
	loop_begin_stop(loop_self);
}

/* The daemon-wide in-flight count fell below its limit: read again. */
void
loop_resume_all(void)
{
	loop_post_all(LOOP_MAIL_RESUME);
	conn_resume_all(loop_self);
}

/* Complete a list of finished requests (the caller then flushes). */
static void
loop_complete(struct reqlist *list)
{
	struct req	*req;

	while ((req = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, req, qentry);
		pool_done(req);
	}
}

/* There is mail: take it all at once, then act on it unlocked. */
static void
loop_wake_cb(int fd, short events, void *arg)
{
	struct loop		*l = arg;
	struct reqlist		 list = TAILQ_HEAD_INITIALIZER(list);
	int			*fds, mail;
	size_t			 nfds, i;
	uint64_t		 n;

	(void)events;
	if (read(fd, &n, sizeof n) == -1 && errno != EAGAIN)
		log_warn("loop %u: eventfd read", l->idx);
	pthread_mutex_lock(&l->mutex);
	TAILQ_CONCAT(&list, &l->doneq, qentry);
	fds = l->newfds;
	nfds = l->nnewfds;
	l->newfds = NULL;
	l->nnewfds = l->capnewfds = 0;
	mail = l->mail;
	l->mail = 0;
	l->posted = 0;
	pthread_mutex_unlock(&l->mutex);

	for (i = 0; i < nfds; i++) {
		conn_new(l, fds[i]);
		__atomic_sub_fetch(&l->ngiven, 1, __ATOMIC_RELAXED);
	}
	free(fds);
	loop_complete(&list);
	if (mail & LOOP_MAIL_RESUME)
		conn_resume_all(l);
	if (mail & LOOP_MAIL_STOP)
		loop_begin_stop(l);
	conn_flush_all(l);
}

/* Once a second: deadlines, and idle pipes (loop 0). */
static void
loop_sweep_cb(int fd, short events, void *arg)
{
	struct loop	*l = arg;

	(void)fd;
	(void)events;
	conn_sweep(l);
	if (l->idx == 0)
		spipe_sweep();
	conn_flush_all(l);
}

/*
 * After the workers are joined (pool_stop): complete what they finished
 * since each loop last looked, and close sockets never taken.  Every loop
 * thread has ended, so the calling thread may act for each of them.
 */
void
loop_finish(void)
{
	struct loop	*l;
	unsigned	 i;
	size_t		 k;

	for (i = 0; i < nloops; i++) {
		l = &loops[i];
		loop_self = l;
		loop_complete(&l->doneq);
		conn_flush_all(l);
		for (k = 0; k < l->nnewfds; k++)
			close(l->newfds[k]);
		l->nnewfds = 0;
	}
	loop_self = &loops[0];
}

/* Free every loop (after loop_finish). */
void
loop_free(void)
{
	struct loop	*l;
	unsigned	 i;

	for (i = 0; i < nloops; i++) {
		l = &loops[i];
		if (l->drain_ev != NULL)
			event_free(l->drain_ev);
		event_free(l->wake_ev);
		event_free(l->sweep_ev);
		close(l->efd);
		event_base_free(l->base);
		free(l->newfds);
		free(l->ops);
		pthread_mutex_destroy(&l->mutex);
	}
	free(loops);
	loops = NULL;
	nloops = 0;
	loop_self = NULL;
}
