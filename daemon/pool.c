/*
 * pool.c - the worker pool.
 *
 * DESIGN
 *
 * A fixed set of threads takes requests off one submit queue and runs
 * op->work(req).  Workers touch nothing but the req they were handed (and
 * the handle's struct hfile, which the per-handle FIFO in dispatch.c gives
 * to at most one req at a time).  A finished req is mailed to the loop
 * that owns its connection (loop_post_done), which wakes through one
 * eventfd, coalesced: a burst of completions costs one wake-up, as in
 * libuv's uv_async.
 *
 * Locks: wq_mutex guards the submit queue and the QUEUED -> RUNNING
 * transition; a loop's mailbox has its own mutex.  No code ever holds
 * both.
 *
 * Fairness: queued requests wait on their connection's queue (struct
 * poolq); workers serve the connections round-robin and take at most
 * --max-busy requests of one connection at a time, so a client whose
 * operations block (a silent FIFO, a huge rmtree) cannot take every worker
 * from the others, while a client alone still keeps them all but one busy.
 * A request that produced a large chunk keeps its slot until the loop has
 * taken its completion: until then the output throttle cannot see the
 * chunk, and workers would run ahead of a loop short of CPU by any number
 * of chunks.  Small results free the slot at once, so that the worker may
 * take the connection's next request without going to sleep.
 *
 * Cancellation: a queued req is unlinked under wq_mutex and completed with
 * ECANCELED by the caller.  A running one is flagged and its thread gets
 * SIGURG, whose empty handler (installed without SA_RESTART) makes a
 * blocking syscall return EINTR; work functions check req->cancelled
 * before retrying.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

static pthread_t	*pool_threads;
static int		 pool_nthreads;
static int		 pool_stopping;
static pthread_mutex_t	 wq_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 wq_cond = PTHREAD_COND_INITIALIZER;
static TAILQ_HEAD(, poolq) wq_ready = TAILQ_HEAD_INITIALIZER(wq_ready);
static struct poolq	 wq_anon;	/* requests without a connection */
static unsigned		 wq_len;
static unsigned		 wq_idle;	/* workers waiting for work */
static unsigned		 pool_nbusy;
static __thread struct req *pool_current;	/* this worker's req */

/* Empty handler: its only job is to interrupt a blocking syscall. */
static void
pool_sigurg(int sig)
{
	(void)sig;
}

/* The queue a request waits on. */
static struct poolq *
pool_queue_of(struct req *req)
{
	return (req->conn != NULL ? &req->conn->pq : &wq_anon);
}

/*
 * A request of q is done: its slot of the connection's share is free, and
 * an idle worker may take the next one.  Any thread; no lock held.
 */
static void
pool_release(struct poolq *q)
{
	int	 wake;

	pthread_mutex_lock(&wq_mutex);
	q->running--;
	wake = !TAILQ_EMPTY(&q->reqs) && !q->throttled && wq_idle > 0;
	pthread_mutex_unlock(&wq_mutex);
	if (wake)
		pthread_cond_signal(&wq_cond);
}

/* Run one op in this worker, then queue its completion. */
static void
pool_run(struct req *req)
{
	__atomic_add_fetch(&pool_nbusy, 1, __ATOMIC_RELAXED);
	pool_current = req;
	if (__atomic_load_n(&req->cancelled, __ATOMIC_ACQUIRE))
		req_fail(req, ECANCELED, NULL);
	else if (req->sess != NULL && req->sess->impersonate) {
		if (creds_enter(req->sess) == -1)
			req_failmsg(req, EPERM, NULL, "cannot take on the "
			    "client's identity");
		else {
			req->op->work(req);
			creds_leave();
		}
	} else
		req->op->work(req);
	pool_current = NULL;
	__atomic_sub_fetch(&pool_nbusy, 1, __ATOMIC_RELAXED);

	/* A slot of this connection's share is free again, or at the loop. */
	req->pool_held = req->more || req->pipe != NULL ||
	    req->buflen >= AIOFS_BULK_MIN;
	if (!req->pool_held)
		pool_release(pool_queue_of(req));

	__atomic_store_n(&req->state, REQ_DONE, __ATOMIC_RELEASE);
	loop_post_done(req);
}

/*
 * Take the next request, round-robin over connections with work, skipping
 * those already at their share of workers.  wq_mutex held.
 */
static struct req *
pool_take(void)
{
	struct poolq	*q;
	struct req	*req;

	TAILQ_FOREACH(q, &wq_ready, entry) {
		if (q != &wq_anon && (q->running >= opts.max_busy ||
		    q->throttled))
			continue;
		req = TAILQ_FIRST(&q->reqs);
		TAILQ_REMOVE(&q->reqs, req, qentry);
		TAILQ_REMOVE(&wq_ready, q, entry);
		if (TAILQ_EMPTY(&q->reqs))
			q->linked = 0;
		else
			TAILQ_INSERT_TAIL(&wq_ready, q, entry);
		q->running++;
		wq_len--;
		return (req);
	}
	return (NULL);
}

/*
 * Stop (on) or resume (off) giving q's requests to workers: the loop
 * throttles a connection whose unsent output is above the high watermark,
 * so a client that does not read its replies cannot make the daemon
 * produce more than max_busy further chunks for it.
 */
void
pool_throttle(struct poolq *q, int on)
{
	int	 wake;

	pthread_mutex_lock(&wq_mutex);
	q->throttled = on;
	wake = !on && !TAILQ_EMPTY(&q->reqs) && wq_idle > 0;
	pthread_mutex_unlock(&wq_mutex);
	if (wake)
		pthread_cond_broadcast(&wq_cond);
}

/* Make a connection's queue ready to use. */
void
pool_queue_init(struct poolq *q)
{
	memset(q, 0, sizeof *q);
	TAILQ_INIT(&q->reqs);
}

/* Worker thread body. */
static void *
pool_worker(void *arg)
{
	struct req	*req;
	sigset_t	 set;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGURG);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	for (;;) {
		pthread_mutex_lock(&wq_mutex);
		while ((req = pool_take()) == NULL &&
		    !(pool_stopping && wq_len == 0)) {
			wq_idle++;
			pthread_cond_wait(&wq_cond, &wq_mutex);
			wq_idle--;
		}
		if (req == NULL) {
			pthread_mutex_unlock(&wq_mutex);
			break;
		}
		req->worker = pthread_self();
		__atomic_store_n(&req->state, REQ_RUNNING, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&wq_mutex);

		pool_run(req);
	}
	return (NULL);
}

/* Loop side: a worker finished req (loop.c takes it from the mailbox). */
void
pool_done(struct req *req)
{
	struct conn	*conn;
	struct poolq	*q;

	if (!req->pool_held) {
		dispatch_complete(req);
		return;
	}
	/*
	 * A large chunk gives its slot back (pool_run) only once it is
	 * queued and the output weighed (conn_output_check); the
	 * connection must outlive dispatch_complete() for that.
	 */
	req->pool_held = 0;
	q = pool_queue_of(req);
	if ((conn = req->conn) != NULL)
		conn_ref(conn);
	dispatch_complete(req);
	pool_release(q);
	if (conn != NULL)
		conn_unref(conn);
}

/* Start n worker threads. */
int
pool_start(int n)
{
	struct sigaction	 sa;
	sigset_t		 set, old;
	int			 i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = pool_sigurg;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;		/* no SA_RESTART: interrupt syscalls */
	if (sigaction(SIGURG, &sa, NULL) == -1)
		return (-1);

	/* Workers start with every signal blocked but SIGURG. */
	sigfillset(&set);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	pool_stopping = 0;
	pool_queue_init(&wq_anon);
	if (opts.max_busy == 0)
		opts.max_busy = n;
	pool_threads = xcalloc(n, sizeof *pool_threads);
	for (i = 0; i < n; i++) {
		if ((errno = pthread_create(&pool_threads[i], NULL,
		    pool_worker, NULL)) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			pool_nthreads = i;
			return (-1);
		}
	}
	pool_nthreads = n;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (0);
}

/*
 * Stop and join every worker.  Queued requests still run (they own fds
 * that must be closed); their completions wait in the loops' mailboxes
 * for loop_finish(), which frees every req.
 */
void
pool_stop(void)
{
	int	 i;

	if (pool_threads == NULL)
		return;
	pthread_mutex_lock(&wq_mutex);
	pool_stopping = 1;
	pthread_cond_broadcast(&wq_cond);
	pthread_mutex_unlock(&wq_mutex);
	for (i = 0; i < pool_nthreads; i++)
		pthread_join(pool_threads[i], NULL);
	free(pool_threads);
	pool_threads = NULL;
	pool_nthreads = 0;
}

/* Queue req for a worker. */
void
pool_submit(struct req *req)
{
	struct poolq	*q = pool_queue_of(req);
	int		 wake;

	pthread_mutex_lock(&wq_mutex);
	req->state = REQ_QUEUED;
	TAILQ_INSERT_TAIL(&q->reqs, req, qentry);
	if (!q->linked) {
		q->linked = 1;
		TAILQ_INSERT_TAIL(&wq_ready, q, entry);
	}
	wq_len++;
	wake = wq_idle > 0;
	pthread_mutex_unlock(&wq_mutex);
	/* Signalled unlocked: the woken worker need not wait for it. */
	if (wake)
		pthread_cond_signal(&wq_cond);
}

/* Take req off the submit queue if it has not started.  0 if it was. */
int
pool_cancel(struct req *req)
{
	int		 rc = -1;
	struct poolq	*q = pool_queue_of(req);

	pthread_mutex_lock(&wq_mutex);
	if (req->state == REQ_QUEUED) {
		TAILQ_REMOVE(&q->reqs, req, qentry);
		if (TAILQ_EMPTY(&q->reqs)) {
			TAILQ_REMOVE(&wq_ready, q, entry);
			q->linked = 0;
		}
		wq_len--;
		rc = 0;
	}
	pthread_mutex_unlock(&wq_mutex);
	return (rc);
}

/* Flag a running req as cancelled and interrupt its blocking syscall. */
void
pool_interrupt(struct req *req)
{
	__atomic_store_n(&req->cancelled, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&wq_mutex);
	if (__atomic_load_n(&req->state, __ATOMIC_ACQUIRE) == REQ_RUNNING)
		pthread_kill(req->worker, SIGURG);
	pthread_mutex_unlock(&wq_mutex);
}

/*
 * Should a syscall interrupted with EINTR give up?  True when the request
 * this worker runs was cancelled; errno is then set to ECANCELED.
 */
int
pool_cancelled(void)
{
	if (pool_current == NULL ||
	    !__atomic_load_n(&pool_current->cancelled, __ATOMIC_ACQUIRE))
		return (0);
	errno = ECANCELED;
	return (1);
}

/* Workers running an op now. */
unsigned
pool_busy(void)
{
	return (__atomic_load_n(&pool_nbusy, __ATOMIC_RELAXED));
}

/* Requests waiting for a worker. */
unsigned
pool_queued(void)
{
	unsigned	 n;

	pthread_mutex_lock(&wq_mutex);
	n = wq_len;
	pthread_mutex_unlock(&wq_mutex);
	return (n);
}

/* Number of worker threads. */
int
pool_size(void)
{
	return (pool_nthreads);
}
