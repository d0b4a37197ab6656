/*
 * aiofs.c - libaiofs: the connection, framing, pending requests by id,
 * and turning replies into request results.
 *
 * Requests are packed into an output buffer and written without blocking;
 * whatever the socket does not take is sent when aiofs_process() sees it
 * writable.  Replies are matched to requests by id (they may come in any
 * order); a multi-part reply (more=true) is accumulated into the request,
 * or handed to the callback part by part with AIOFS_REQ_STREAM.  A write
 * larger than the daemon's chunk size is split into several Write
 * requests, one id each, that complete the one user request together; the
 * daemon runs them in order because they name the same handle.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofs-int.h"
#include "errmap.h"
#include "fdpass.h"

#define AIOFS__READ_SIZE	(256 * 1024)
#define AIOFS__DIRECT_MIN	(64 * 1024)	/* frames received in place */

static int	aiofs__handle_frame(aiofs_t *, const uint8_t *, size_t);
static void	aiofs__part_done(aiofs_t *, aiofs_req_t *, uint64_t, int);
static int	aiofs__direct_start(aiofs_t *, const uint8_t *, size_t,
		    size_t);
static void	aiofs__direct_done(aiofs_t *);
static int	aiofs__read(aiofs_t *);
static int	aiofs__read1(aiofs_t *);
static void	aiofs__fail_all(aiofs_t *, int);

/* Where the CLI and library look for the daemon. */
const char *
aiofs_default_socket(void)
{
	static char	 buf[4096];
	const char	*s;

	if ((s = getenv("AIOFS_SOCKET")) != NULL && *s != '\0')
		return (s);
	if ((s = getenv("XDG_RUNTIME_DIR")) != NULL && *s != '\0') {
		snprintf(buf, sizeof buf, "%s/aiofsd.sock", s);
		return (buf);
	}
	return ("/run/aiofsd/aiofsd.sock");
}

/* strerror for a negative (or positive) errno, from the shared table. */
const char *
aiofs_strerror(int e)
{
	if (e == INT_MIN)
		return ("Unknown error");
	if (e < 0)
		e = -e;
	switch (e) {
#define XX(name, msg) case name: return (msg);
	AIOFS_ERRNO_MAP(XX)
#undef XX
	default:
		return ("Unknown error");
	}
}

/* Symbolic name ("ENOENT") of a negative (or positive) errno. */
const char *
aiofs_errname(int e)
{
	if (e == INT_MIN)
		return ("EUNKNOWN");
	if (e < 0)
		e = -e;
	switch (e) {
#define XX(name, msg) case name: return (#name);
	AIOFS_ERRNO_MAP(XX)
#undef XX
	default:
		return ("EUNKNOWN");
	}
}

/* A binary field pointing at a C string (not copied). */
ProtobufCBinaryData
aiofs__bin(const char *s)
{
	ProtobufCBinaryData	 b;

	b.data = (uint8_t *)s;
	b.len = s != NULL ? strlen(s) : 0;
	return (b);
}

/* Prepare req for a new operation. */
void
aiofs__req_init(aiofs_req_t *req, aiofs_t *h, aiofs_op_t op, aiofs_cb cb)
{
	void	*data = req->data;
	int	 flags = req->flags;

	memset(req, 0, sizeof *req);
	req->data = data;
	req->flags = flags;
	req->op = op;
	req->fd = -1;
	req->priv_h = h;
	req->priv_cb = cb;
	req->priv_state = AIOFS__REQ_PENDING;
	req->priv_user_buf = h->next_user_buf;
	req->priv_user_cap = h->next_user_cap;
}

/* Append one frame for msg to the output buffer. */
static int
aiofs__pack(aiofs_t *h, Aiofs__V1__Request *msg)
{
	size_t	 n = aiofs__v1__request__get_packed_size(msg), need;
	uint8_t	*p;

	if (n > h->max_frame)
		return (-EMSGSIZE);
	if (h->outoff > 0 && h->outoff == h->outlen)
		h->outoff = h->outlen = 0;
	need = h->outlen + 4 + n;
	if (need > h->outcap) {
		if (h->outoff > 0) {
			memmove(h->out, h->out + h->outoff,
			    h->outlen - h->outoff);
			h->outlen -= h->outoff;
			h->outoff = 0;
			need = h->outlen + 4 + n;
		}
		if (need > h->outcap) {
			size_t cap = need < 65536 ? 65536 : need * 2;

			if ((p = realloc(h->out, cap)) == NULL)
				return (-ENOMEM);
			h->out = p;
			h->outcap = cap;
		}
	}
	p = h->out + h->outlen;
	p[0] = n >> 24;
	p[1] = n >> 16;
	p[2] = n >> 8;
	p[3] = n;
	aiofs__v1__request__pack(msg, p + 4);
	h->outlen += 4 + n;
	return (0);
}

/* Send one queued fd with the bytes of its frame. */
static ssize_t
aiofs__send_fd(aiofs_t *h)
{
	struct iovec	 iov;
	ssize_t		 n;

	iov.iov_base = h->out + h->outoff;
	iov.iov_len = h->outlen - h->outoff;
	n = aiofs__sendmsg_fd(h->fd, &iov, 1, h->sendfds[0].fd);
	if (n > 0) {
		close(h->sendfds[0].fd);
		h->nsendfds--;
		memmove(h->sendfds, h->sendfds + 1,
		    h->nsendfds * sizeof h->sendfds[0]);
	}
	return (n);
}

/* Write what the socket takes now.  0, or a negative errno. */
int
aiofs__flush(aiofs_t *h)
{
	ssize_t	 n;
	size_t	 len;

	while (h->outoff < h->outlen) {
		if (h->state == AIOFS__CONNECTING)
			return (0);
		len = h->outlen - h->outoff;
		if (h->nsendfds > 0 && h->sendfds[0].at == h->out_sent)
			n = aiofs__send_fd(h);
		else {
			if (h->nsendfds > 0 &&
			    h->sendfds[0].at - h->out_sent < len)
				len = h->sendfds[0].at - h->out_sent;
			n = send(h->fd, h->out + h->outoff, len,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (n == -1) {
			int e = errno;

			if (e == EAGAIN || e == EINTR)
				return (0);
			/*
			 * The daemon may have said why it hung up (a refused
			 * connection gets one error frame): read that first.
			 */
			if (!h->reading)
				aiofs__read(h);
			aiofs__fail_all(h, -e);
			return (h->error);
		}
		h->outoff += n;
		h->out_sent += n;
	}
	return (0);
}

/* Register req under a fresh id and queue msg. */
static int
aiofs__queue(aiofs_t *h, aiofs_req_t *req, Aiofs__V1__Request *msg)
{
	int	 rc;

	msg->has_id = 1;
	msg->id = ++h->next_id;
	if ((rc = aiofs__pack(h, msg)) != 0)
		return (rc);
	if ((rc = aiofs__idmap_put(&h->pending, msg->id, req)) != 0) {
		h->outlen -= 4 + aiofs__v1__request__get_packed_size(msg);
		return (rc);
	}
	if (req->priv_parts == 0)
		req->priv_id = msg->id;
	req->priv_parts++;
	return (0);
}

/* Finish submitting: flush, and wait if the call is synchronous. */
static int
aiofs__finish_submit(aiofs_t *h, aiofs_req_t *req, aiofs_cb cb)
{
	int	 rc;

	h->npending++;
	/*
	 * From inside a callback, leave the bytes for the flush at the end
	 * of aiofs_process(): requests issued by a batch of callbacks go out
	 * in one send.
	 */
	if (!h->reading && (rc = aiofs__flush(h)) != 0 &&
	    req->priv_state != AIOFS__REQ_DONE)
		return (rc);
	if (h->outoff < h->outlen && h->want_write != NULL)
		h->want_write(h, h->want_write_arg);
	if (cb != NULL)
		return (0);
	if ((rc = aiofs_wait(h, req)) != 0)
		return (rc);
	return ((int)(req->result < INT32_MIN ? -EOVERFLOW :
	    req->result > INT32_MAX ? INT32_MAX : req->result));
}

/*
 * Submit one request.  Returns 0 (queued), a negative errno (nothing was
 * queued, cb will not be called), or with a NULL cb the result.
 */
int
aiofs__submit(aiofs_t *h, aiofs_req_t *req, aiofs_op_t op,
    Aiofs__V1__Request *msg, aiofs_cb cb)
{
	return (aiofs__submit_parts(h, req, op, &msg, 1, cb));
}

/* Submit one request whose frame carries fd (dup'd) as SCM_RIGHTS. */
int
aiofs__submit_fd(aiofs_t *h, aiofs_req_t *req, aiofs_op_t op,
    Aiofs__V1__Request *msg, int fd, aiofs_cb cb)
{
	int	 dfd, rc;

	if (h->error != 0)
		return (h->error);
	if (cb == NULL && h->reading)
		return (-EDEADLK);	/* cannot wait inside a callback */
	if (h->nsendfds == AIOFS__MAX_FDS)
		return (-EAGAIN);
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return (-errno);
	aiofs__req_init(req, h, op, cb);
	h->sendfds[h->nsendfds].at = h->out_sent + (h->outlen - h->outoff);
	if ((rc = aiofs__queue(h, req, msg)) != 0) {
		close(dfd);
		return (rc);
	}
	h->sendfds[h->nsendfds++].fd = dfd;
	return (aiofs__finish_submit(h, req, cb));
}

/* Submit several requests that together make up req (split writes). */
int
aiofs__submit_parts(aiofs_t *h, aiofs_req_t *req, aiofs_op_t op,
    Aiofs__V1__Request **msgs, size_t n, aiofs_cb cb)
{
	size_t	 i, j;
	int	 rc;

	if (h->error != 0)
		return (h->error);
	if (cb == NULL && h->reading)
		return (-EDEADLK);	/* cannot wait inside a callback */
	aiofs__req_init(req, h, op, cb);
	for (i = 0; i < n; i++) {
		if ((rc = aiofs__queue(h, req, msgs[i])) != 0) {
			/* Nothing has been sent of these yet: take back. */
			for (j = 0; j < i; j++) {
				aiofs__idmap_del(&h->pending, msgs[j]->id);
				h->outlen -= 4 +
				    aiofs__v1__request__get_packed_size(
				    msgs[j]);
			}
			req->priv_state = AIOFS__REQ_IDLE;
			return (rc);
		}
	}
	return (aiofs__finish_submit(h, req, cb));
}

/* Complete req: no more parts to come. */
static void
aiofs__complete(aiofs_t *h, aiofs_req_t *req)
{
	req->priv_state = AIOFS__REQ_DONE;
	req->more = 0;
	if (h->npending > 0)
		h->npending--;
	if (req->priv_cb != NULL)
		req->priv_cb(req);
}

/* The connection is unusable: fail every pending request with e. */
static void
aiofs__fail_all(aiofs_t *h, int e)
{
	aiofs_req_t	*req;
	size_t		 i;

	struct aiofs__idmap	 old = h->pending;

	if (h->error == 0)
		h->error = e;
	h->state = AIOFS__BROKEN;
	/* Callbacks run below: take the map out of their reach first. */
	memset(&h->pending, 0, sizeof h->pending);
	for (i = 0; i < old.cap; i++) {
		if ((req = old.vals[i]) == NULL)
			continue;
		if (req->priv_parts > 0)
			req->priv_parts--;
		if (req->priv_state != AIOFS__REQ_PENDING)
			continue;
		if (req->result >= 0)
			req->result = e;
		if (req->priv_parts == 0)
			aiofs__complete(h, req);
	}
	aiofs__idmap_free(&old);
}

/* Make a connection and do the handshake (blocking). */
int
aiofs_connect(aiofs_t **hp, const char *path, const char *name)
{
	int	 rc;

	if ((rc = aiofs_connect_start(hp, path, name)) != 0)
		return (rc);
	while ((rc = aiofs_connect_done(*hp)) == 0) {
		struct pollfd pfd = { aiofs_fd(*hp), 0, 0 };

		pfd.events = aiofs_events(*hp);
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if ((rc = aiofs_process(*hp, pfd.revents)) < 0)
			break;
	}
	if (rc < 0) {
		aiofs_close(*hp);
		*hp = NULL;
		return (rc);
	}
	return (0);
}

/* Called when the hello reply arrives. */
static void
aiofs__hello_cb(aiofs_req_t *req)
{
	aiofs_t	*h = req->priv_h;

	if (req->result < 0) {
		h->error = (int)req->result;
		h->state = AIOFS__BROKEN;
		return;
	}
	h->state = AIOFS__READY;
}

/*
 * Start connecting without blocking.  The handshake is queued at once;
 * other requests may be queued behind it.  Drive with aiofs_process()
 * until aiofs_connect_done() is non-zero.
 */
int
aiofs_connect_start(aiofs_t **hp, const char *path, const char *name)
{
	struct sockaddr_un	 sun;
	aiofs_t			*h;
	Aiofs__V1__Request	 msg = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__Hello	 hello = AIOFS__V1__HELLO__INIT;
	int			 rc;

	*hp = NULL;
	if (path == NULL)
		path = aiofs_default_socket();
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return (-ENAMETOOLONG);
	memcpy(sun.sun_path, path, strlen(path));
	if ((h = calloc(1, sizeof *h)) == NULL)
		return (-ENOMEM);
	h->max_frame = AIOFS__DEFAULT_FRAME;
	h->max_chunk = 1024 * 1024;
	h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd == -1) {
		rc = -errno;
		free(h);
		return (rc);
	}
	h->state = AIOFS__HELLO;
	if (connect(h->fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			rc = -errno;
			close(h->fd);
			free(h);
			return (rc);
		}
		h->state = AIOFS__CONNECTING;
	}
	hello.has_protocol_version = 1;
	hello.protocol_version = AIOFS_PROTOCOL_VERSION;
	hello.client_name = (char *)(name != NULL ? name : "libaiofs");
	msg.op_case = AIOFS__V1__REQUEST__OP_HELLO;
	msg.hello = &hello;
	if ((rc = aiofs__submit(h, &h->hello, AIOFS_OP_HELLO, &msg,
	    aiofs__hello_cb)) != 0) {
		close(h->fd);
		free(h);
		return (rc);
	}
	*hp = h;
	return (0);
}

/* 1 when the handshake is done, 0 while it is not, or a negative errno. */
int
aiofs_connect_done(aiofs_t *h)
{
	if (h->error != 0)
		return (h->error);
	return (h->state == AIOFS__READY);
}

/* Close the connection; pending requests complete with -ECANCELED. */
void
aiofs_close(aiofs_t *h)
{
	size_t	 i;
	int	 j;

	if (h == NULL)
		return;
	aiofs__fail_all(h, -ECANCELED);
	if (h->fd != -1)
		close(h->fd);
	for (j = 0; j < h->nsendfds; j++)
		close(h->sendfds[j].fd);
	for (j = 0; j < h->nrecvfds; j++)
		close(h->recvfds[j]);
	aiofs_req_cleanup(&h->hello);
	free(h->server_version);
	free(h->root);
	for (i = 0; i < h->ncaps; i++)
		free(h->caps[i]);
	free(h->caps);
	aiofs__idmap_free(&h->pending);
	free(h->out);
	free(h->in);
	free(h);
}

/* The socket, for the caller's event loop. */
int
aiofs_fd(aiofs_t *h)
{
	return (h->fd);
}

/* poll() events the library waits for now. */
int
aiofs_events(aiofs_t *h)
{
	int	 ev = POLLIN;

	if (h->outoff < h->outlen || h->state == AIOFS__CONNECTING)
		ev |= POLLOUT;
	return (ev);
}

/* Requests not yet completed. */
unsigned
aiofs_pending(aiofs_t *h)
{
	return (h->npending);
}

/* The daemon's version string (after the handshake). */
const char *
aiofs_server_version(aiofs_t *h)
{
	return (h->server_version);
}

/* The host path of the session root (after the handshake). */
const char *
aiofs_root(aiofs_t *h)
{
	return (h->root);
}

/* Largest data payload per frame. */
uint32_t
aiofs_max_chunk(aiofs_t *h)
{
	return (h->max_chunk);
}

/* Did the daemon announce capability name? */
int
aiofs_has_capability(aiofs_t *h, const char *name)
{
	size_t	 i;

	for (i = 0; i < h->ncaps; i++)
		if (strcmp(h->caps[i], name) == 0)
			return (1);
	return (0);
}

/* Collect fds that came with a message. */
static void
aiofs__collect_fds(aiofs_t *h, struct msghdr *mh)
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
			if (h->nrecvfds == AIOFS__MAX_FDS)
				close(fds[i]);
			else
				h->recvfds[h->nrecvfds++] = fds[i];
		}
	}
}

/* Read what is there and handle every whole frame (not reentrant). */
static int
aiofs__read(aiofs_t *h)
{
	int	 rc;

	if (h->reading)
		return (-EDEADLK);
	h->reading = 1;
	rc = aiofs__read1(h);
	h->reading = 0;
	return (rc);
}

/* The body of aiofs__read. */
static int
aiofs__read1(aiofs_t *h)
{
	struct iovec	 iov;
	struct msghdr	 mh;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int) * 8)];
	} cmsg;
	ssize_t		 n;
	size_t		 off = 0, need, flen;
	uint8_t		*p;

	for (;;) {
		if (h->direct_left > 0) {
			/* Payload straight into the request's buffer. */
			n = recv(h->fd, h->direct_dst, h->direct_left,
			    MSG_DONTWAIT);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n <= 0) {
				aiofs__fail_all(h, n == 0 ? -ECONNRESET :
				    -errno);
				return (h->error);
			}
			h->direct_dst += n;
			h->direct_left -= n;
			if (h->direct_left == 0)
				aiofs__direct_done(h);
			continue;
		}
		need = h->inlen + AIOFS__READ_SIZE;
		if (h->incap < need) {
			if ((p = realloc(h->in, need)) == NULL)
				return (-ENOMEM);
			h->in = p;
			h->incap = need;
		}
		iov.iov_base = h->in + h->inlen;
		iov.iov_len = h->incap - h->inlen;
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cmsg.buf;
		mh.msg_controllen = sizeof cmsg.buf;
		n = recvmsg(h->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			aiofs__fail_all(h, -errno);
			return (h->error);
		}
		if (mh.msg_controllen > 0)
			aiofs__collect_fds(h, &mh);
		if (n == 0) {
			aiofs__fail_all(h, -ECONNRESET);
			return (h->error);
		}
		h->inlen += n;

		off = 0;
		while (h->inlen - off >= 4) {
			p = h->in + off;
			flen = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) |
			    ((size_t)p[2] << 8) | p[3];
			if (flen > h->max_frame + 65536) {
				aiofs__fail_all(h, -EPROTO);
				return (h->error);
			}
			if (h->inlen - off - 4 < flen) {
				if (flen >= AIOFS__DIRECT_MIN &&
				    aiofs__direct_start(h, p + 4,
				    h->inlen - off - 4, flen)) {
					off = h->inlen;
					if (h->direct_left == 0)
						aiofs__direct_done(h);
					break;
				}
				/* Make room for the whole frame at once. */
				if (h->incap < flen + 4 + AIOFS__READ_SIZE &&
				    off == 0) {
					p = realloc(h->in, flen + 4 +
					    AIOFS__READ_SIZE);
					if (p == NULL)
						return (-ENOMEM);
					h->in = p;
					h->incap = flen + 4 + AIOFS__READ_SIZE;
				}
				break;
			}
			if (aiofs__handle_frame(h, p + 4, flen) != 0)
				return (h->error);
			off += 4 + flen;
		}
		if (off > 0) {
			memmove(h->in, h->in + off, h->inlen - off);
			h->inlen -= off;
		}
		if ((size_t)n < iov.iov_len)
			break;
	}
	return (0);
}

/*
 * Do the I/O that revents (poll flags, or 0 to just try) allows, and run
 * the callbacks of completed requests.  Returns 0 or a negative errno if
 * the connection broke.
 */
int
aiofs_process(aiofs_t *h, int revents)
{
	int		 rc, err;
	socklen_t	 len = sizeof err;

	if (h->state == AIOFS__CONNECTING) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return (0);
		if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			aiofs__fail_all(h, -err);
			return (h->error);
		}
		h->state = AIOFS__HELLO;
	}
	if ((rc = aiofs__flush(h)) != 0)
		return (rc);
	if (revents == 0 || (revents & (POLLIN | POLLHUP | POLLERR)))
		if ((rc = aiofs__read(h)) != 0)
			return (rc);
	return (aiofs__flush(h));
}

/* Process until req completes. */
int
aiofs_wait(aiofs_t *h, aiofs_req_t *req)
{
	struct pollfd	 pfd;
	int		 rc;

	if (h->reading && req->priv_state == AIOFS__REQ_PENDING)
		return (-EDEADLK);	/* called from inside a callback */
	while (req->priv_state == AIOFS__REQ_PENDING) {
		if (h->error != 0 && req->priv_state == AIOFS__REQ_PENDING)
			return (h->error);
		pfd.fd = h->fd;
		pfd.events = aiofs_events(h);
		pfd.revents = 0;
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			return (-errno);
		}
		if ((rc = aiofs_process(h, pfd.revents)) != 0 &&
		    req->priv_state == AIOFS__REQ_PENDING)
			return (rc);
	}
	return (0);
}

/* Process until nothing is pending. */
int
aiofs_run(aiofs_t *h)
{
	struct pollfd	 pfd;
	int		 rc;

	if (h->reading)
		return (-EDEADLK);	/* called from inside a callback */
	while (h->npending > 0) {
		if (h->error != 0)
			return (h->error);
		pfd.fd = h->fd;
		pfd.events = aiofs_events(h);
		pfd.revents = 0;
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			return (-errno);
		}
		if ((rc = aiofs_process(h, pfd.revents)) != 0)
			return (rc);
	}
	return (0);
}

/* Free what the library allocated for req's results. */
void
aiofs_req_cleanup(aiofs_req_t *req)
{
	size_t	 i, j;

	free(req->errmsg);
	free(req->errpath);
	free(req->buf);
	for (i = 0; i < req->nlines; i++)
		free(req->lines[i]);
	free(req->lines);
	free(req->linelens);
	for (i = 0; i < req->nentries; i++)
		free(req->entries[i].name);
	free(req->entries);
	for (i = 0; i < req->nwalk; i++) {
		free(req->walk[i].dirpath);
		for (j = 0; j < req->walk[i].ndirnames; j++)
			free(req->walk[i].dirnames[j]);
		free(req->walk[i].dirnames);
		for (j = 0; j < req->walk[i].nfilenames; j++)
			free(req->walk[i].filenames[j]);
		free(req->walk[i].filenames);
	}
	free(req->walk);
	free(req->info.name);
	free(req->info.mode);
	free(req->info.encoding);
	free(req->info.errors);
	free(req->info.newline);
	for (i = 0; i < req->stats.nops; i++)
		free(req->stats.ops[i].op);
	free(req->stats.ops);
	free(req->stats.loop_connections);
	req->errmsg = req->errpath = req->buf = NULL;
	req->priv_bufcap = 0;
	req->lines = NULL;
	req->linelens = NULL;
	req->entries = NULL;
	req->walk = NULL;
	req->nlines = req->nentries = req->nwalk = req->len = 0;
	memset(&req->info, 0, sizeof req->info);
	memset(&req->stats, 0, sizeof req->stats);
}

/* Copy a binary field into a new NUL-terminated string. */
static char *
aiofs__strdup_bin(const ProtobufCBinaryData *b)
{
	char	*s = malloc(b->len + 1);

	if (s == NULL)
		return (NULL);
	if (b->len > 0)
		memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	return (s);
}

/* Copy a possibly-NULL string. */
static char *
aiofs__strdup(const char *s)
{
	return (s != NULL ? strdup(s) : NULL);
}

/*
 * Make room for n more bytes (and a NUL) in req->buf; returns where they
 * go.  Large buffers are page-aligned and grow geometrically, so that
 * payloads land on page boundaries (copies into an address a few bytes
 * into a page run several times slower).
 */
static char *
aiofs__reserve(aiofs_req_t *req, size_t n)
{
	size_t	 need = req->len + n + 1, cap;
	void	*nb;

	if (req->buf != NULL && need <= req->priv_bufcap)
		return (req->buf + req->len);
	cap = req->priv_bufcap * 2 > need ? req->priv_bufcap * 2 : need;
	if (cap < 65536) {
		if ((nb = realloc(req->buf, cap)) == NULL)
			return (NULL);
	} else {
		if (posix_memalign(&nb, 4096, cap) != 0)
			return (NULL);
		if (req->len > 0)
			memcpy(nb, req->buf, req->len);
		free(req->buf);
	}
	req->buf = nb;
	req->priv_bufcap = cap;
	return (req->buf + req->len);
}

/* Append bytes to req->buf. */
static int
aiofs__append(aiofs_req_t *req, const uint8_t *p, size_t n)
{
	char	*nb;

	if (req->priv_user_buf != NULL) {
		/* readinto: straight into the caller's buffer. */
		if (n > req->priv_user_cap - req->len)
			n = req->priv_user_cap - req->len;
		memcpy((char *)req->priv_user_buf + req->len, p, n);
		req->len += n;
		return (0);
	}
	if ((nb = aiofs__reserve(req, n)) == NULL)
		return (-ENOMEM);
	if (n > 0)
		memcpy(req->buf + req->len, p, n);
	req->len += n;
	req->buf[req->len] = '\0';
	return (0);
}

/* Append a name or line. */
static int
aiofs__append_line(aiofs_req_t *req, const ProtobufCBinaryData *b)
{
	char	**nl;
	size_t	*nlen;

	/* Capacity doubles at each power of two: amortised O(1). */
	if ((req->nlines & (req->nlines - 1)) == 0) {
		size_t cap = req->nlines == 0 ? 16 : req->nlines * 2;

		if (cap < 16)
			cap = 16;
		nl = realloc(req->lines, cap * sizeof *nl);
		if (nl == NULL)
			return (-ENOMEM);
		req->lines = nl;
		nlen = realloc(req->linelens, cap * sizeof *nlen);
		if (nlen == NULL)
			return (-ENOMEM);
		req->linelens = nlen;
	}
	if ((req->lines[req->nlines] = aiofs__strdup_bin(b)) == NULL)
		return (-ENOMEM);
	req->linelens[req->nlines] = b->len;
	req->nlines++;
	return (0);
}

/* Copy a StatReply. */
static void
aiofs__copy_stat(aiofs_stat_t *st, const Aiofs__V1__StatReply *r)
{
	st->mode = r->mode;
	st->ino = r->ino;
	st->dev = r->dev;
	st->nlink = r->nlink;
	st->uid = r->uid;
	st->gid = r->gid;
	st->size = r->size;
	st->atime_ns = r->atime_ns;
	st->mtime_ns = r->mtime_ns;
	st->ctime_ns = r->ctime_ns;
	st->blocks = r->blocks;
	st->blksize = r->blksize;
	st->rdev = r->rdev;
}

/* Copy a list of binary names into a new string array. */
static int
aiofs__copy_names(char ***out, size_t *nout, ProtobufCBinaryData *in,
    size_t n)
{
	char	**a;
	size_t	 i;

	a = realloc(*out, (*nout + n + 1) * sizeof *a);
	if (a == NULL)
		return (-ENOMEM);
	*out = a;
	for (i = 0; i < n; i++)
		if ((a[(*nout)++] = aiofs__strdup_bin(&in[i])) == NULL)
			return (-ENOMEM);
	return (0);
}

/* Fold one reply (or part) into req. */
static int
aiofs__absorb(aiofs_t *h, aiofs_req_t *req, Aiofs__V1__Response *r)
{
	size_t	 i;
	int	 rc = 0;

	switch (r->result_case) {
	case AIOFS__V1__RESPONSE__RESULT_ERROR:
		if (req->result >= 0 || req->errmsg == NULL) {
			req->result = -(int64_t)(r->error->errno_value != 0 ?
			    r->error->errno_value : EIO);
			free(req->errmsg);
			free(req->errpath);
			req->errmsg = aiofs__strdup(r->error->message);
			req->errpath = r->error->has_path ?
			    aiofs__strdup_bin(&r->error->path) : NULL;
		}
		return (0);
	case AIOFS__V1__RESPONSE__RESULT_HELLO:
		free(h->server_version);
		h->server_version = aiofs__strdup(r->hello->server_version);
		free(h->root);
		h->root = aiofs__strdup_bin(&r->hello->root);
		if (r->hello->max_frame != 0)
			h->max_frame = r->hello->max_frame;
		if (r->hello->max_chunk != 0)
			h->max_chunk = r->hello->max_chunk;
		h->max_inflight = r->hello->max_inflight;
		h->caps = calloc(r->hello->n_capabilities + 1,
		    sizeof *h->caps);
		if (h->caps == NULL)
			return (-ENOMEM);
		for (i = 0; i < r->hello->n_capabilities; i++)
			h->caps[i] = strdup(r->hello->capabilities[i]);
		h->ncaps = r->hello->n_capabilities;
		break;
	case AIOFS__V1__RESPONSE__RESULT_EMPTY:
		break;
	case AIOFS__V1__RESPONSE__RESULT_FILE: {
		Aiofs__V1__FileReply *f = r->file;

		req->file = f->handle;
		req->info.handle = f->handle;
		req->info.name = aiofs__strdup_bin(&f->name);
		req->info.mode = aiofs__strdup(f->mode);
		req->info.encoding = f->encoding != NULL &&
		    *f->encoding != '\0' ? strdup(f->encoding) : NULL;
		req->info.errors = aiofs__strdup(f->errors);
		req->info.newline = aiofs__strdup(f->newline);
		req->info.buffering = f->buffering;
		req->info.readable = f->readable;
		req->info.writable = f->writable;
		req->info.seekable = f->seekable;
		req->info.isatty = f->isatty;
		req->info.closed = f->closed;
		req->info.text = f->text;
		break;
	}
	case AIOFS__V1__RESPONSE__RESULT_DATA:
		rc = aiofs__append(req, r->data->data.data, r->data->data.len);
		req->eof = r->data->eof;
		req->result = req->len;
		return (rc);
	case AIOFS__V1__RESPONSE__RESULT_LINES:
		for (i = 0; i < r->lines->n_lines && rc == 0; i++)
			rc = aiofs__append_line(req, &r->lines->lines[i]);
		req->result = req->nlines;
		return (rc);
	case AIOFS__V1__RESPONSE__RESULT_COUNT:
		if (req->result >= 0)
			req->result += r->count->count;
		return (0);
	case AIOFS__V1__RESPONSE__RESULT_STAT:
		aiofs__copy_stat(&req->st, r->stat);
		break;
	case AIOFS__V1__RESPONSE__RESULT_STATVFS: {
		Aiofs__V1__StatvfsReply *v = r->statvfs;

		req->vfs.bsize = v->bsize;
		req->vfs.frsize = v->frsize;
		req->vfs.blocks = v->blocks;
		req->vfs.bfree = v->bfree;
		req->vfs.bavail = v->bavail;
		req->vfs.files = v->files;
		req->vfs.ffree = v->ffree;
		req->vfs.favail = v->favail;
		req->vfs.flag = v->flag;
		req->vfs.namemax = v->namemax;
		req->vfs.fsid = v->fsid;
		break;
	}
	case AIOFS__V1__RESPONSE__RESULT_BOOL:
		req->result = r->bool_->value ? 1 : 0;
		return (0);
	case AIOFS__V1__RESPONSE__RESULT_NAMES:
		for (i = 0; i < r->names->n_names && rc == 0; i++)
			rc = aiofs__append_line(req, &r->names->names[i]);
		req->result = req->nlines;
		return (rc);
	case AIOFS__V1__RESPONSE__RESULT_ENTRIES: {
		aiofs_dirent_t *e;

		e = realloc(req->entries, (req->nentries +
		    r->entries->n_entries + 1) * sizeof *e);
		if (e == NULL)
			return (-ENOMEM);
		req->entries = e;
		for (i = 0; i < r->entries->n_entries; i++) {
			Aiofs__V1__DirEntry *d = r->entries->entries[i];

			e = &req->entries[req->nentries++];
			memset(e, 0, sizeof *e);
			e->name = aiofs__strdup_bin(&d->name);
			e->type = d->type;
			e->ino = d->ino;
			if (d->stat != NULL) {
				e->has_stat = 1;
				aiofs__copy_stat(&e->stat, d->stat);
			}
		}
		req->result = req->nentries;
		return (0);
	}
	case AIOFS__V1__RESPONSE__RESULT_WALK: {
		aiofs_walk_t *w;

		for (i = 0; i < r->walk->n_entries; i++) {
			Aiofs__V1__WalkEntry *we = r->walk->entries[i];

			/* A big directory may come in several pieces. */
			if (req->nwalk > 0 && strlen(req->walk[req->nwalk -
			    1].dirpath) == we->dirpath.len &&
			    memcmp(req->walk[req->nwalk - 1].dirpath,
			    we->dirpath.data, we->dirpath.len) == 0)
				w = &req->walk[req->nwalk - 1];
			else {
				w = realloc(req->walk, (req->nwalk + 1) *
				    sizeof *w);
				if (w == NULL)
					return (-ENOMEM);
				req->walk = w;
				w = &req->walk[req->nwalk++];
				memset(w, 0, sizeof *w);
				w->dirpath = aiofs__strdup_bin(&we->dirpath);
			}
			if (aiofs__copy_names(&w->dirnames, &w->ndirnames,
			    we->dirnames, we->n_dirnames) != 0 ||
			    aiofs__copy_names(&w->filenames, &w->nfilenames,
			    we->filenames, we->n_filenames) != 0)
				return (-ENOMEM);
		}
		req->result = req->nwalk;
		return (0);
	}
	case AIOFS__V1__RESPONSE__RESULT_PATH:
		free(req->buf);
		req->priv_bufcap = 0;
		req->buf = aiofs__strdup_bin(&r->path->path);
		req->len = r->path->path.len;
		req->result = req->len;
		return (req->buf == NULL ? -ENOMEM : 0);
	case AIOFS__V1__RESPONSE__RESULT_STATS: {
		Aiofs__V1__StatsReply *s = r->stats;

		req->stats.uptime_s = s->uptime_s;
		req->stats.connections_current = s->connections_current;
		req->stats.connections_total = s->connections_total;
		req->stats.connections_rejected = s->connections_rejected;
		req->stats.inflight = s->inflight;
		req->stats.queue_depth = s->queue_depth;
		req->stats.requests_total = s->requests_total;
		req->stats.protocol_errors = s->protocol_errors;
		req->stats.loop_completed = s->loop_completed;
		req->stats.loop_punted = s->loop_punted;
		req->stats.bytes_in = s->bytes_in;
		req->stats.bytes_out = s->bytes_out;
		req->stats.workers = s->workers;
		req->stats.workers_busy = s->workers_busy;
		req->stats.ops = calloc(s->n_ops + 1, sizeof *req->stats.ops);
		if (req->stats.ops == NULL)
			return (-ENOMEM);
		for (i = 0; i < s->n_ops; i++) {
			req->stats.ops[i].op = aiofs__strdup(s->ops[i]->op);
			req->stats.ops[i].count = s->ops[i]->count;
			req->stats.ops[i].errors = s->ops[i]->errors;
			req->stats.ops[i].p50_us = s->ops[i]->p50_us;
			req->stats.ops[i].p99_us = s->ops[i]->p99_us;
			req->stats.ops[i].p999_us = s->ops[i]->p999_us;
		}
		req->stats.nops = s->n_ops;
		req->stats.loop_connections = calloc(s->n_loop_connections + 1,
		    sizeof *req->stats.loop_connections);
		if (req->stats.loop_connections == NULL)
			return (-ENOMEM);
		if (s->n_loop_connections > 0)
			memcpy(req->stats.loop_connections,
			    s->loop_connections, s->n_loop_connections *
			    sizeof *s->loop_connections);
		req->stats.nloops = s->n_loop_connections;
		break;
	}
	default:
		return (-EPROTO);
	}
	if (req->result >= 0)
		req->result = 0;
	return (0);
}

/* Handle one reply frame. */
static int
aiofs__handle_frame(aiofs_t *h, const uint8_t *p, size_t len)
{
	Aiofs__V1__Response	*r;
	aiofs_req_t		*req;
	uint64_t		 id;
	int			 rc, last;

	if ((r = aiofs__v1__response__unpack(NULL, len, p)) == NULL) {
		aiofs__fail_all(h, -EPROTO);
		return (h->error);
	}
	if ((req = aiofs__idmap_get(&h->pending, r->id)) == NULL) {
		/* A reply for nothing: a connection-level error or a bug. */
		if (r->result_case == AIOFS__V1__RESPONSE__RESULT_ERROR) {
			int e = r->error->errno_value;

			aiofs__v1__response__free_unpacked(r, NULL);
			aiofs__fail_all(h, e != 0 ? -e : -EPROTO);
			return (h->error);
		}
		aiofs__v1__response__free_unpacked(r, NULL);
		aiofs__fail_all(h, -EPROTO);
		return (h->error);
	}
	last = !r->more;
	if (req->op == AIOFS_OP_OPENFD && last &&
	    r->result_case != AIOFS__V1__RESPONSE__RESULT_ERROR) {
		if (h->nrecvfds == 0) {
			aiofs__v1__response__free_unpacked(r, NULL);
			aiofs__fail_all(h, -EPROTO);
			return (h->error);
		}
		req->fd = h->recvfds[0];
		h->nrecvfds--;
		memmove(h->recvfds, h->recvfds + 1,
		    h->nrecvfds * sizeof h->recvfds[0]);
	}
	id = r->id;
	rc = aiofs__absorb(h, req, r);
	aiofs__v1__response__free_unpacked(r, NULL);
	if (rc != 0 && req->result >= 0)
		req->result = rc;
	aiofs__part_done(h, req, id, last);
	return (0);
}

/* One reply frame of req has been absorbed: complete it, or stream. */
static void
aiofs__part_done(aiofs_t *h, aiofs_req_t *req, uint64_t id, int last)
{
	if (last) {
		aiofs__idmap_del(&h->pending, id);
		if (--req->priv_parts == 0)
			aiofs__complete(h, req);
	} else if (req->flags & AIOFS_REQ_STREAM) {
		/* The callback sees this part; the next starts afresh. */
		req->more = 1;
		if (req->priv_cb != NULL)
			req->priv_cb(req);
		if (req->result >= 0) {
			aiofs_req_cleanup(req);
			req->result = 0;
		}
	}
}

/* Parse a protobuf varint at p[*pos], at most end.  -1 if cut short. */
static int
aiofs__varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *v)
{
	int	 shift = 0;

	*v = 0;
	while (*pos < end && shift < 64) {
		*v |= (uint64_t)(p[*pos] & 0x7f) << shift;
		if ((p[(*pos)++] & 0x80) == 0)
			return (0);
		shift += 7;
	}
	return (-1);
}

/*
 * A big frame is arriving: if it is a Data reply in the daemon's layout
 * (Response{id, [more], data: Data{[eof], data}}, payload last; see
 * frame_write_data in daemon/frame.c), take the bytes that are here and
 * receive the rest of the payload straight into the request's buffer.
 * Returns 1 if it did, 0 to fall back to buffering the whole frame.
 */
static int
aiofs__direct_start(aiofs_t *h, const uint8_t *b, size_t have, size_t flen)
{
	uint64_t	 id, more = 0, dlen, plen, eof = 0;
	size_t		 pos = 0, end = have < 64 ? have : 64, take;
	aiofs_req_t	*req;
	char		*dst;

	if (end < 1 || b[pos++] != 0x08 ||
	    aiofs__varint(b, end, &pos, &id) == -1)
		return (0);
	if (pos < end && b[pos] == 0x10) {
		pos++;
		if (aiofs__varint(b, end, &pos, &more) == -1)
			return (0);
	}
	if (pos >= end || b[pos++] != 0x3a ||
	    aiofs__varint(b, end, &pos, &dlen) == -1)
		return (0);
	if (pos + 1 < end && b[pos] == 0x10) {
		eof = b[pos + 1];
		pos += 2;
	}
	if (pos >= end || b[pos++] != 0x0a ||
	    aiofs__varint(b, end, &pos, &plen) == -1)
		return (0);
	if (pos + plen != flen || more > 1 || eof > 1)
		return (0);
	if ((req = aiofs__idmap_get(&h->pending, id)) == NULL)
		return (0);
	if (req->priv_user_buf != NULL) {
		if (plen > req->priv_user_cap - req->len)
			return (0);
		dst = (char *)req->priv_user_buf + req->len;
	} else if ((dst = aiofs__reserve(req, plen)) == NULL)
		return (0);
	take = have - pos < plen ? have - pos : plen;
	memcpy(dst, b + pos, take);
	h->direct_req = req;
	h->direct_id = id;
	h->direct_dst = dst + take;
	h->direct_left = plen - take;
	h->direct_len = plen;
	h->direct_more = more != 0;
	h->direct_eof = eof != 0;
	return (1);
}

/* The direct payload is complete: finish it like any Data part. */
static void
aiofs__direct_done(aiofs_t *h)
{
	aiofs_req_t	*req = h->direct_req;

	h->direct_req = NULL;
	req->len += h->direct_len;
	if (req->priv_user_buf == NULL)
		req->buf[req->len] = '\0';
	req->eof = h->direct_eof;
	if (req->result >= 0)
		req->result = (int64_t)req->len;
	aiofs__part_done(h, req, h->direct_id, !h->direct_more);
}
