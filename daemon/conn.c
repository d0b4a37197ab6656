/*
 * conn.c - one client connection.
 *
 * DESIGN
 *
 * A connection is read with recvmsg() into conn->in (so that SCM_RIGHTS
 * fds sent with Wrap are collected on the way), cut into frames by
 * frame.c, decoded, and handed to dispatch.c.  Replies are packed into
 * conn->out and written with writev (evbuffer_write), or with sendmsg when
 * an fd rides along (OpenFd): conn->sendfds remembers at which stream
 * offset each outgoing fd belongs, so it is attached to the first byte of
 * its reply frame.
 *
 * The output is a sequence of evbuffer bytes and pipe segments: a large
 * pread or readfile chunk arrives from its worker as a pipe holding
 * references to the file's pages (spipe.c).  dispatch.c puts the frame
 * header in conn->out and conn_send_pipe() queues the pipe on
 * conn->outpipes, stamped with the stream offset of its first byte, as
 * sendfds are.  conn_write_cb() writes conn->out up to the next pipe (or
 * fd), splices the pipe into the socket when the stream reaches it, and
 * goes on; a partial splice moves the pipe's offset on, like a partial
 * writev.  Unsent output (what backpressure, shutdown and the memory
 * budget count) is conn->out plus out_piped, the bytes still in pipes.
 * A connection that dies closes its pipes, with whatever they hold.
 *
 * Backpressure: reading stops while the connection has max_inflight
 * requests in flight or more than AIOFS_OUT_HIWAT bytes of unsent output,
 * and resumes when both are low again (output under AIOFS_OUT_LOWAT).
 * Frames already buffered in conn->in wait there meanwhile.  Memory per
 * connection is thus bounded by max_frame (input) + HIWAT + one chunk per
 * streaming request (output).
 *
 * Lifetime: the socket holds one reference, every request one more
 * (tmux's server_client_unref).  conn_lost() marks the connection dead,
 * closes the socket, drops queued requests and queues an internal close
 * of every handle; the struct is freed when the last reference goes.  A
 * protocol violation (conn_bad) first flushes what was queued (the error
 * reply), then loses the connection.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"
#include "fdpass.h"

#define CONN_READ_SIZE	(256 * 1024)

static uint64_t	 conn_next_serial = 1;	/* atomic */

static void	conn_read_cb(int, short, void *);
static void	*conn_pb_alloc(void *, size_t);
static void	conn_pb_free(void *, void *);
static void	conn_write_cb(int, short, void *);
static void	conn_process(struct conn *);
static void	conn_reinterrupt(struct conns *);

/* Unsent output: bytes in conn->out and in queued pipes. */
static size_t
conn_out_len(struct conn *conn)
{
	return (evbuffer_get_length(conn->out) + conn->out_piped);
}

/*
 * Refuse an accepted socket: one error frame (it fits in the socket
 * buffer of a fresh connection), then close.
 */
static void
conn_refuse(int fd, int e, const char *why)
{
	Response		 resp = AIOFS__V1__RESPONSE__INIT;
	Aiofs__V1__Error	 err = AIOFS__V1__ERROR__INIT;
	uint8_t			 buf[512];
	size_t			 n;

	err.has_errno_value = 1;
	err.errno_value = e;
	err.name = (char *)errmap_name(e);
	err.message = (char *)why;
	resp.result_case = AIOFS__V1__RESPONSE__RESULT_ERROR;
	resp.error = &err;
	n = aiofs__v1__response__get_packed_size(&resp);
	if (n + 4 <= sizeof buf) {
		frame_put_header(buf, n);
		aiofs__v1__response__pack(&resp, buf + 4);
		if (send(fd, buf, n + 4, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
			log_debug("refused connection: send: %s",
			    strerror(errno));
	}
	close(fd);
	STAT_ADD(conns_rejected, 1);
}

/* Number of live connections of a uid, on every loop.  conns_mutex held. */
static unsigned
conn_count_uid(uid_t uid)
{
	struct conn	*c;
	unsigned	 i, n = 0;

	for (i = 0; i < nloops; i++)
		TAILQ_FOREACH(c, &loops[i].conns, entry)
			if (c->uid == uid)
				n++;
	return (n);
}

/*
 * Check the connection limits and, if they allow, count conn in and put
 * it on its loop's list; 0, or an errno and why for the peer.
 */
static int
conn_join(struct conn *conn, const char **why)
{
	int	 e = 0;

	pthread_mutex_lock(&conns_mutex);
	if (STAT_GET(conns_current) >= opts.max_conns) {
		log_warnx("refused pid %ld uid %lu: %u connections",
		    (long)conn->pid, (unsigned long)conn->uid, opts.max_conns);
		*why = "too many connections";
		e = EUSERS;
	} else if (conn_count_uid(conn->uid) >= opts.max_conns_per_uid) {
		log_warnx("refused pid %ld uid %lu: %u connections for this "
		    "uid", (long)conn->pid, (unsigned long)conn->uid,
		    opts.max_conns_per_uid);
		*why = "too many connections for this uid";
		e = EUSERS;
	} else {
		TAILQ_INSERT_TAIL(&conn->loop->conns, conn, entry);
		__atomic_add_fetch(&conn->loop->nlive, 1, __ATOMIC_RELAXED);
		STAT_ADD(conns_current, 1);
	}
	pthread_mutex_unlock(&conns_mutex);
	return (e);
}

/*
 * Make the state for an accepted socket fd (already non-blocking), owned
 * by loop l (and made on its thread), with the policy of the peer's
 * SO_PEERCRED identity.  NULL if the peer is refused (no policy for it,
 * or a connection limit).
 */
struct conn *
conn_new(struct loop *l, int fd)
{
	struct conn		*conn;
	struct ucred		 cred;
	socklen_t		 len = sizeof cred;
	const struct policy	*pol;
	const char		*why;
	int			 e;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("SO_PEERCRED");
		conn_refuse(fd, EACCES, "peer credentials unavailable");
		return (NULL);
	}
	if ((pol = policy_lookup(cred.uid, cred.gid)) == NULL) {
		log_warnx("refused pid %ld uid %lu: no policy for this peer",
		    (long)cred.pid, (unsigned long)cred.uid);
		conn_refuse(fd, EACCES, "no policy for this peer");
		return (NULL);
	}

	conn = xcalloc(1, sizeof *conn);
	conn->loop = l;
	conn->fd = fd;
	conn->refs = 1;
	conn->pid = cred.pid;
	conn->uid = cred.uid;
	conn->gid = cred.gid;
	if ((e = conn_join(conn, &why)) != 0) {
		free(conn);
		conn_refuse(fd, e, why);
		return (NULL);
	}
	conn->serial = __atomic_fetch_add(&conn_next_serial, 1,
	    __ATOMIC_RELAXED);
	conn->sess = session_new(pol, "/");
	conn->sess->uid = cred.uid;
	conn->sess->gid = cred.gid;
	if (opts.impersonate) {
		conn->sess->impersonate = 1;
		creds_lookup(cred.uid, cred.gid, &conn->sess->groups,
		    &conn->sess->ngroups);
	}
	conn->max_inflight = pol->max_inflight;
	conn->accepted_ns = stats_now_ns();
	conn->pb_alloc.alloc = conn_pb_alloc;
	conn->pb_alloc.free = conn_pb_free;
	conn->pb_alloc.allocator_data = conn;
	conn->in = evbuffer_new();
	conn->out = evbuffer_new();
	if (conn->in == NULL || conn->out == NULL)
		fatalx("evbuffer_new");
	TAILQ_INIT(&conn->reqs);
	TAILQ_INIT(&conn->outpipes);
	pool_queue_init(&conn->pq);
	handle_table_init(&conn->handles, pol->max_handles);
	conn->ev_read = event_new(l->base, fd, EV_READ | EV_PERSIST,
	    conn_read_cb, conn);
	conn->ev_write = event_new(l->base, fd, EV_WRITE, conn_write_cb,
	    conn);
	if (conn->ev_read == NULL || conn->ev_write == NULL)
		fatalx("event_new");
	event_add(conn->ev_read, NULL);
	STAT_ADD(conns_total, 1);
	STAT_ADD(conns_alloc, 1);
	__atomic_add_fetch(&l->nalloc, 1, __ATOMIC_RELAXED);
	log_info("conn %llu: accepted pid %ld uid %lu gid %lu on loop %u",
	    (unsigned long long)conn->serial, (long)conn->pid,
	    (unsigned long)conn->uid, (unsigned long)conn->gid, l->idx);
	return (conn);
}

/* Take a reference. */
void
conn_ref(struct conn *conn)
{
	conn->refs++;
}

/* Close the pipes queued on conn's output, with what they still hold. */
static void
conn_drop_pipes(struct conn *conn)
{
	struct spipe	*p;

	while ((p = TAILQ_FIRST(&conn->outpipes)) != NULL) {
		TAILQ_REMOVE(&conn->outpipes, p, entry);
		spipe_put(p);
	}
	conn->out_piped = 0;
}

/* Drop a reference; the last one frees the connection. */
void
conn_unref(struct conn *conn)
{
	int		 i;
	struct cleanup	*cl;

	if (--conn->refs > 0)
		return;
	if (conn->flags & CONN_DEAD)
		TAILQ_REMOVE(&conn->loop->dead, conn, entry);
	while ((cl = conn->cleanups) != NULL) {
		conn->cleanups = cl->next;
		if (cl->is_dir)
			ops_os_rmtree_at(cl->dirfd, cl->name);
		else
			unlinkat(cl->dirfd, cl->name, 0);
		close(cl->dirfd);
		free(cl->name);
		free(cl);
	}
	for (i = 0; i < conn->nrecvfds; i++)
		close(conn->recvfds[i]);
	for (i = 0; i < conn->nsendfds; i++)
		close(conn->sendfds[i].fd);
	conn_drop_pipes(conn);
	handle_table_free(&conn->handles);
	aiofs__idmap_free(&conn->ids);
	evbuffer_free(conn->in);
	evbuffer_free(conn->out);
	session_unref(conn->sess);
	__atomic_sub_fetch(&conn->loop->nalloc, 1, __ATOMIC_RELAXED);
	free(conn);
	STAT_ADD(conns_alloc, -1);
}

/*
 * The connection is gone (EOF, error, protocol violation, shutdown).
 * Close the socket, drop what has not started, close every handle.
 */
void
conn_lost(struct conn *conn, const char *why)
{
	struct req	*req, *next;
	uint32_t	 i;

	if (conn->flags & CONN_DEAD)
		return;
	conn->flags |= CONN_DEAD;
	log_info("conn %llu: closed: %s", (unsigned long long)conn->serial,
	    why);
	if (conn->flags & CONN_THROTTLED) {
		conn->flags &= ~CONN_THROTTLED;
		pool_throttle(&conn->pq, 0);
	}
	event_free(conn->ev_read);
	event_free(conn->ev_write);
	conn->ev_read = conn->ev_write = NULL;
	close(conn->fd);
	conn->fd = -1;
	conn_drop_pipes(conn);
	pthread_mutex_lock(&conns_mutex);
	TAILQ_REMOVE(&conn->loop->conns, conn, entry);
	__atomic_sub_fetch(&conn->loop->nlive, 1, __ATOMIC_RELAXED);
	STAT_ADD(conns_current, -1);
	pthread_mutex_unlock(&conns_mutex);
	TAILQ_INSERT_TAIL(&conn->loop->dead, conn, entry);

	/*
	 * Requests not yet on a worker are dropped: ECANCELED, no reply.
	 * Running reads nobody waits for are interrupted (a silent FIFO
	 * must not keep a worker); writes run to the end.
	 */
	for (req = TAILQ_FIRST(&conn->reqs); req != NULL; req = next) {
		next = TAILQ_NEXT(req, centry);
		if (req->internal)
			continue;
		if (req->op != NULL && (req->op->flags & OP_ABORTABLE) &&
		    __atomic_load_n(&req->state, __ATOMIC_ACQUIRE) ==
		    REQ_RUNNING) {
			pool_interrupt(req);
			continue;
		}
		if (req->state == REQ_QUEUED && pool_cancel(req) == 0) {
			req_fail(req, ECANCELED, NULL);
			req->more = 0;
			dispatch_complete(req);
		}
	}
	for (i = 0; i < conn->handles.nslots; i++) {
		struct handle *h = &conn->handles.slots[i];

		if (h->type == HANDLE_FREE)
			continue;
		while ((req = TAILQ_FIRST(&h->waitq)) != NULL) {
			TAILQ_REMOVE(&h->waitq, req, qentry);
			req->hid = 0;
			req_fail(req, ECANCELED, NULL);
			dispatch_complete(req);
		}
		dispatch_close_handle(conn, ((uint64_t)h->gen << 32) | (i + 1));
	}
	conn_unref(conn);
}

/* A protocol violation: log it, flush what is queued, then drop. */
void
conn_bad(struct conn *conn, const char *fmt, ...)
{
	char	 why[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (conn->flags & (CONN_BAD | CONN_DEAD))
		return;
	LOOP_STAT(protocol_errors, 1);
	log_warnx("conn %llu: protocol error: %s",
	    (unsigned long long)conn->serial, why);
	conn->flags |= CONN_BAD;
	event_del(conn->ev_read);
	if (conn_out_len(conn) == 0)
		conn_lost(conn, why);
	else
		conn_kick(conn);
}

/* Queue one reply frame. */
int
conn_send(struct conn *conn, const Response *resp)
{
	if (conn->flags & CONN_DEAD)
		return (-1);
	if (frame_write(conn->out, resp) == -1)
		fatalx("frame_write");
	conn_kick(conn);
	return (0);
}

/*
 * Queue the bytes in pipe p (which becomes conn's) after everything queued
 * so far; its frame header must already be in conn->out.
 */
void
conn_send_pipe(struct conn *conn, struct spipe *p)
{
	if ((conn->flags & CONN_DEAD) || p->len == 0) {
		spipe_put(p);
		return;
	}
	p->at = conn->out_written + conn_out_len(conn);
	conn->out_piped += p->len;
	TAILQ_INSERT_TAIL(&conn->outpipes, p, entry);
	conn_kick(conn);
}

/* Throttle or release conn's pool queue as its output crosses marks. */
void
conn_output_check(struct conn *conn)
{
	size_t	 out = conn_out_len(conn);

	if (!(conn->flags & CONN_THROTTLED) && out > AIOFS_OUT_HIWAT) {
		conn->flags |= CONN_THROTTLED;
		pool_throttle(&conn->pq, 1);
	} else if ((conn->flags & CONN_THROTTLED) && out <= AIOFS_OUT_LOWAT) {
		conn->flags &= ~CONN_THROTTLED;
		pool_throttle(&conn->pq, 0);
	}
}

/* Attach fd (now ours) to the next frame queued on conn. */
void
conn_send_fd(struct conn *conn, int fd)
{
	if (conn->nsendfds == AIOFS_MAX_PASSED_FDS) {
		/* The peer is not reading: it will not miss this fd. */
		close(fd);
		conn_bad(conn, "too many fds waiting to be sent");
		return;
	}
	conn->sendfds[conn->nsendfds].at = conn->out_written +
	    conn_out_len(conn);
	conn->sendfds[conn->nsendfds].fd = fd;
	conn->nsendfds++;
}

/* Take the oldest fd received from the peer, or -1. */
int
conn_take_fd(struct conn *conn)
{
	int	 fd;

	if (conn->nrecvfds == 0)
		return (-1);
	fd = conn->recvfds[0];
	conn->nrecvfds--;
	memmove(conn->recvfds, conn->recvfds + 1,
	    conn->nrecvfds * sizeof conn->recvfds[0]);
	return (fd);
}

/*
 * There is output to send: put conn on the flush list, written at the end
 * of the current batch of events (conn_flush_all), so that many replies
 * go out in one writev and none waits for another trip round the loop.
 */
void
conn_kick(struct conn *conn)
{
	if (conn->flags & CONN_DEAD)
		return;
	conn_output_check(conn);
	if (conn->flags & CONN_FLUSHQ)
		return;
	conn->flags |= CONN_FLUSHQ;
	conn_ref(conn);
	TAILQ_INSERT_TAIL(&conn->loop->flush, conn, fentry);
}

/*
 * conn is about to send a Data chunk of len bytes.  A bulk one (at least
 * AIOFS_BULK_MIN) enlarges the socket send buffer, so that a 1 MiB chunk
 * goes out in one write and the peer reads it in one or two calls,
 * instead of trickling through the default ~200 KiB with a wake-up of
 * each side every few hundred microseconds.  Done once, for connections
 * that read large chunks; small-request connections keep the default.
 */
void
conn_bulk(struct conn *conn, size_t len)
{
	int	 size = AIOFS_BULK_SNDBUF;

	if (len < AIOFS_BULK_MIN || (conn->flags & CONN_BULK))
		return;
	conn->flags |= CONN_BULK;
	/* The kernel caps it at net.core.wmem_max; root may go past. */
	if (setsockopt(conn->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size,
	    sizeof size) == -1)
		(void)setsockopt(conn->fd, SOL_SOCKET, SO_SNDBUF, &size,
		    sizeof size);
}

/* Write out every connection of l kicked during this batch of events. */
void
conn_flush_all(struct loop *l)
{
	struct conn	*conn;

	while ((conn = TAILQ_FIRST(&l->flush)) != NULL) {
		TAILQ_REMOVE(&l->flush, conn, fentry);
		conn->flags &= ~CONN_FLUSHQ;
		if (!(conn->flags & CONN_DEAD) && conn_out_len(conn) != 0)
			conn_write_cb(conn->fd, EV_WRITE, conn);
		conn_unref(conn);
	}
}

/*
 * Start or stop reading according to backpressure, and process frames
 * that were buffered while reading was stopped.
 */
void
conn_update_read(struct conn *conn)
{
	size_t	 out = conn_out_len(conn);
	int	 pause;

	if (conn->flags & (CONN_DEAD | CONN_BAD))
		return;
	if (conn->flags & CONN_RPAUSED)
		pause = conn->inflight >= conn->max_inflight ||
		    out > AIOFS_OUT_LOWAT;
	else
		pause = conn->inflight >= conn->max_inflight ||
		    out > AIOFS_OUT_HIWAT;
	if (STAT_GET(inflight) >= opts.max_inflight_all ||
	    __atomic_load_n(&conn->mem, __ATOMIC_RELAXED) + out >
	    opts.mem_budget)
		pause = 1;
	if (__atomic_load_n(&server_stopping, __ATOMIC_RELAXED)) {
		if (conn->inflight == 0 && out == 0) {
			conn_lost(conn, "shutting down");
			return;
		}
		pause = 1;
	}
	if (pause && !(conn->flags & CONN_RPAUSED)) {
		conn->flags |= CONN_RPAUSED;
		event_del(conn->ev_read);
	} else if (!pause && (conn->flags & CONN_RPAUSED)) {
		conn->flags &= ~CONN_RPAUSED;
		event_add(conn->ev_read, NULL);
		if (evbuffer_get_length(conn->in) != 0)
			conn_process(conn);
	}
}

/* Cut, decode and dispatch every whole frame in conn->in. */
static void
conn_process(struct conn *conn)
{
	const uint8_t		*body;
	size_t			 len;
	enum frame_status	 st;
	Request			*msg;

	while (!(conn->flags & (CONN_DEAD | CONN_BAD | CONN_RPAUSED))) {
		st = frame_next(conn->in, opts.max_frame, &body, &len);
		if (st == FRAME_INCOMPLETE) {
			if (evbuffer_get_length(conn->in) > 0 &&
			    conn->partial_ns == 0)
				conn->partial_ns = stats_now_ns();
			break;
		}
		if (st == FRAME_TOO_LARGE) {
			Response		 resp = AIOFS__V1__RESPONSE__INIT;
			Aiofs__V1__Error	 err = AIOFS__V1__ERROR__INIT;

			err.has_errno_value = 1;
			err.errno_value = EMSGSIZE;
			err.name = "EMSGSIZE";
			err.message = "frame larger than max_frame";
			resp.result_case = AIOFS__V1__RESPONSE__RESULT_ERROR;
			resp.error = &err;
			conn_send(conn, &resp);
			conn_bad(conn, "frame larger than %u bytes",
			    opts.max_frame);
			break;
		}
		msg = aiofs__v1__request__unpack(&conn->pb_alloc, len, body);
		evbuffer_drain(conn->in, 4 + len);
		conn->partial_ns = 0;
		if (msg == NULL) {
			conn_bad(conn, "undecodable request of %zu bytes, or "
			    "over the memory budget", len);
			break;
		}
		if (dispatch_request(conn, msg) == -1)
			break;
		conn_update_read(conn);
	}
}

/* Collect SCM_RIGHTS fds from a received message. */
static void
conn_collect_fds(struct conn *conn, struct msghdr *mh)
{
	struct cmsghdr	*cm;
	int		*fds, n, i;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS)
			continue;
		fds = (int *)CMSG_DATA(cm);
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			/*
			 * Without fd passing the fd is just dropped (a Wrap
			 * gets EPERM from dispatch).  Hoarding fds is abuse.
			 */
			if (!conn->sess->pol->allow_fd_passing)
				close(fds[i]);
			else if (conn->nrecvfds == AIOFS_MAX_PASSED_FDS) {
				close(fds[i]);
				conn_bad(conn, "too many unused fds passed");
			} else
				conn->recvfds[conn->nrecvfds++] = fds[i];
		}
	}
}

/* The socket is readable. */
static void
conn_read_cb(int fd, short events, void *arg)
{
	struct conn		*conn = arg;
	struct loop		*l = conn->loop;	/* conn may go */
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	struct msghdr		 mh;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int) * 16)];
	} cmsg;
	ssize_t			 n;
	int			 nv, i;

	(void)events;
	nv = evbuffer_reserve_space(conn->in, CONN_READ_SIZE, v, 2);
	if (nv <= 0)
		fatalx("evbuffer_reserve_space");
	for (i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = nv;
	mh.msg_control = cmsg.buf;
	mh.msg_controllen = sizeof cmsg.buf;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n == -1) {
		evbuffer_commit_space(conn->in, v, 0);
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_lost(conn, strerror(errno));
		return;
	}
	/* conn_bad() may lose (and free) conn: hold it until we are done. */
	conn_ref(conn);
	if (mh.msg_controllen > 0)
		conn_collect_fds(conn, &mh);
	if (mh.msg_flags & MSG_CTRUNC)
		conn_bad(conn, "too many fds in one message");
	if (n == 0 || (conn->flags & (CONN_DEAD | CONN_BAD))) {
		evbuffer_commit_space(conn->in, v, 0);
		if (n == 0)
			conn_lost(conn, "end of file");
		conn_unref(conn);
		return;
	}
	conn_unref(conn);
	LOOP_STAT(bytes_in, n);
	for (i = 0; i < nv; i++) {
		size_t take = (size_t)n < v[i].iov_len ? (size_t)n :
		    v[i].iov_len;

		v[i].iov_len = take;
		n -= take;
	}
	evbuffer_commit_space(conn->in, v, nv);
	conn_process(conn);
	conn_flush_all(l);
}

/*
 * Bytes at the head of conn->out that may go in one write: up to the next
 * pipe segment and up to the frame of the next fd to send (sendfds[skip],
 * skipping the one being sent with them).
 */
static size_t
conn_out_run(struct conn *conn, int skip)
{
	struct spipe	*p = TAILQ_FIRST(&conn->outpipes);
	size_t		 limit = evbuffer_get_length(conn->out);

	if (p != NULL && p->at - conn->out_written < limit)
		limit = p->at - conn->out_written;
	if (conn->nsendfds > skip &&
	    conn->sendfds[skip].at - conn->out_written < limit)
		limit = conn->sendfds[skip].at - conn->out_written;
	return (limit);
}

/*
 * Send the next fd with the bytes of the frame it belongs to (and what
 * follows it, up to the next pipe or fd: those need their own calls).
 */
static ssize_t
conn_write_fd(struct conn *conn)
{
	struct evbuffer_iovec	 v[16];
	struct iovec		 iov[16];
	size_t			 limit;
	ssize_t			 n;
	int			 nv, i;

	/* An fd's frame starts in conn->out, never at a pipe. */
	if ((limit = conn_out_run(conn, 1)) == 0)
		fatalx("conn %llu: fd due with no bytes to carry it",
		    (unsigned long long)conn->serial);
	nv = evbuffer_peek(conn->out, limit, NULL, v, 16);
	if (nv > 16)
		nv = 16;
	for (i = 0; i < nv && limit > 0; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len < limit ? v[i].iov_len : limit;
		limit -= iov[i].iov_len;
	}
	n = aiofs__sendmsg_fd(conn->fd, iov, i, conn->sendfds[0].fd);
	if (n > 0) {
		close(conn->sendfds[0].fd);
		conn->nsendfds--;
		memmove(conn->sendfds, conn->sendfds + 1,
		    conn->nsendfds * sizeof conn->sendfds[0]);
		evbuffer_drain(conn->out, n);
	}
	return (n);
}

/* Splice the pipe at the head of the output into the socket. */
static ssize_t
conn_write_pipe(struct conn *conn, struct spipe *p)
{
	ssize_t	 n;

	n = spipe_send(p, conn->fd);
	if (n == 0) {
		/* The header promised these bytes: the stream cannot go on. */
		log_warnx("conn %llu: a spliced page could not be sent",
		    (unsigned long long)conn->serial);
		errno = EIO;
		return (-1);
	}
	if (n > 0) {
		p->at += n;
		conn->out_piped -= n;
		if (p->len == 0) {
			TAILQ_REMOVE(&conn->outpipes, p, entry);
			spipe_put(p);
		}
	}
	return (n);
}

/* The socket is writable: send as much as it takes. */
static void
conn_write_cb(int fd, short events, void *arg)
{
	struct conn	*conn = arg;
	struct spipe	*p;
	ssize_t		 n;

	(void)events;
	while (conn_out_len(conn) != 0) {
		p = TAILQ_FIRST(&conn->outpipes);
		if (conn->nsendfds > 0 &&
		    conn->sendfds[0].at == conn->out_written)
			n = conn_write_fd(conn);
		else if (p != NULL && p->at == conn->out_written)
			n = conn_write_pipe(conn, p);
		else
			n = evbuffer_write_atmost(conn->out, fd,
			    conn_out_run(conn, 0));
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_lost(conn, strerror(errno));
			return;
		}
		if (n == 0)
			break;
		conn->out_written += n;
		LOOP_STAT(bytes_out, n);
	}
	if (conn_out_len(conn) != 0) {
		conn_output_check(conn);
		if (!event_pending(conn->ev_write, EV_WRITE, NULL))
			event_add(conn->ev_write, NULL);
		return;
	}
	if (conn->flags & CONN_BAD) {
		conn_lost(conn, "protocol error");
		return;
	}
	conn_output_check(conn);
	conn_update_read(conn);
}

/*
 * Charge n bytes to the connection's memory budget (any thread).
 * Returns 0, or -1 if that would pass the budget (nothing charged).
 */
int
conn_mem_charge(struct conn *conn, size_t n)
{
	size_t	 now;

	now = __atomic_add_fetch(&conn->mem, n, __ATOMIC_RELAXED);
	if (now > opts.mem_budget) {
		__atomic_sub_fetch(&conn->mem, n, __ATOMIC_RELAXED);
		return (-1);
	}
	return (0);
}

/* Give back n charged bytes (any thread). */
void
conn_mem_release(struct conn *conn, size_t n)
{
	__atomic_sub_fetch(&conn->mem, n, __ATOMIC_RELAXED);
}

/* protobuf-c allocator that charges decoding to the budget. */
static void *
conn_pb_alloc(void *arg, size_t n)
{
	struct conn	*conn = arg;
	size_t		*p;

	if (conn_mem_charge(conn, n + sizeof *p) == -1)
		return (NULL);
	if ((p = malloc(n + sizeof *p)) == NULL) {
		conn_mem_release(conn, n + sizeof *p);
		return (NULL);
	}
	*p = n + sizeof *p;
	return (p + 1);
}

/* Free for conn_pb_alloc. */
static void
conn_pb_free(void *arg, void *ptr)
{
	size_t	*p = ptr;

	if (p == NULL)
		return;
	p--;
	conn_mem_release(arg, *p);
	free(p);
}

/* Once a second: handshake and partial-frame deadlines of l's conns. */
void
conn_sweep(struct loop *l)
{
	struct conn	*conn, *next;
	uint64_t	 now = stats_now_ns();

	conn_reinterrupt(&l->conns);
	conn_reinterrupt(&l->dead);

	for (conn = TAILQ_FIRST(&l->conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, entry);
		if (conn->flags & (CONN_DEAD | CONN_BAD))
			continue;
		if (!(conn->flags & CONN_HELLO) && now - conn->accepted_ns >
		    (uint64_t)opts.hello_secs * 1000000000)
			conn_bad(conn, "no hello within %u seconds",
			    opts.hello_secs);
		else if (conn->partial_ns != 0 && now - conn->partial_ns >
		    (uint64_t)opts.frame_secs * 1000000000)
			conn_bad(conn, "partial frame for over %u seconds",
			    opts.frame_secs);
	}
}

/*
 * A cancel's signal can land just before its worker enters the blocking
 * call, and be lost: send it again, once a second, until the call ends.
 */
static void
conn_reinterrupt(struct conns *list)
{
	struct conn	*conn;
	struct req	*req;

	TAILQ_FOREACH(conn, list, entry)
		TAILQ_FOREACH(req, &conn->reqs, centry)
			if (__atomic_load_n(&req->cancelled,
			    __ATOMIC_ACQUIRE) && __atomic_load_n(&req->state,
			    __ATOMIC_ACQUIRE) == REQ_RUNNING)
				pool_interrupt(req);
}

/* A global limit eased: let every conn of l re-check its reading. */
void
conn_resume_all(struct loop *l)
{
	struct conn	*conn, *next;

	for (conn = TAILQ_FIRST(&l->conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, entry);
		if (conn->flags & CONN_RPAUSED)
			conn_update_read(conn);
	}
}

/* Interrupt every request of conn that is running on a worker. */
void
conn_interrupt(struct conn *conn)
{
	struct req	*req;

	TAILQ_FOREACH(req, &conn->reqs, centry)
		if (req->state == REQ_RUNNING)
			pool_interrupt(req);
}
