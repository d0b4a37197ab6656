/*
 * dispatch.c - from a decoded Request to a worker and back to a reply.
 *
 * DESIGN
 *
 * The handler table below is the whole list of operations, with the policy
 * in it (sftp-server's handlers[]): adding an op means one proto message,
 * one line here, one *_work() function, one client call.  Policy is checked
 * once, here: OP_WRITES ops are refused with EROFS on a read-only session,
 * op->check() refines that for ops whose intent depends on their arguments
 * (open modes), OP_FDPASS needs allow_fd_passing.
 *
 * Ordering: requests on the same handle run one at a time, in arrival order
 * (per-handle FIFO).  A handle is "busy" while one of its requests is
 * queued or running; later ones wait on the handle's waitq and are
 * submitted, one by one, as each completes.  Requests without a handle run
 * concurrently.  A close marks the handle "closing": requests that arrive
 * after it get EBADF, requests already queued before it still run.
 *
 * Streaming: a work function that sets req->more has its chunk sent with
 * more=true; the req is then resubmitted (the handle stays busy).  While
 * the connection's output is above the high watermark its pool queue is
 * throttled (conn_output_check), so no worker takes it.  So a 1 GiB read
 * holds one chunk in memory, whatever the file size.
 *
 * Spliced chunks: a large pread/readfile chunk may come back from its
 * worker as a pipe of page references (req->pipe, see spipe.c) instead of
 * a buffer.  dispatch_reply() then writes the Data frame's header, whose
 * length the worker fixed by splicing first, and hands the pipe to the
 * connection's output (conn_send_pipe): the frame on the wire is the one
 * frame_write_data() would have made of the same bytes.
 *
 * Everything here runs on the loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

#define OPC(x)	AIOFS__V1__REQUEST__OP_##x

/* Creates a handle: the loop allocates its slot on completion. */
#define OP_NEWHANDLE	0x100
/* Closes its handle: the loop frees the slot on completion. */
#define OP_CLOSES	0x200

static const struct op ops[] = {
	{ "hello", OPC(HELLO), ops_hello_work, NULL, OP_INLINE | OP_NOHELLO },
	{ "ping", OPC(PING), ops_ping_work, NULL, OP_INLINE },
	{ "cancel", OPC(CANCEL), ops_cancel_work, NULL, OP_INLINE },
	{ "stats", OPC(STATS), ops_stats_work, NULL, OP_INLINE },

	{ "open", OPC(OPEN), ops_file_open_work, ops_file_open_check,
	    OP_NEWHANDLE | OP_FAST },
	{ "read", OPC(READ), ops_file_read_work, NULL,
	    OP_HANDLE | OP_ABORTABLE | OP_FAST },
	{ "readlines", OPC(READLINES), ops_file_readlines_work, NULL,
	    OP_HANDLE | OP_ABORTABLE },
	{ "write", OPC(WRITE), ops_file_write_work, NULL, OP_HANDLE },
	{ "writelines", OPC(WRITELINES), ops_file_writelines_work, NULL,
	    OP_HANDLE },
	{ "flush", OPC(FLUSH), ops_file_flush_work, NULL, OP_HANDLE },
	{ "seek", OPC(SEEK), ops_file_seek_work, NULL, OP_HANDLE },
	{ "tell", OPC(TELL), ops_file_tell_work, NULL, OP_HANDLE },
	{ "truncate", OPC(TRUNCATE), ops_file_truncate_work, NULL,
	    OP_HANDLE },
	{ "close", OPC(CLOSE), ops_file_close_work, NULL,
	    OP_HANDLE | OP_CLOSES | OP_DIRHANDLE | OP_FAST },
	{ "pread", OPC(PREAD), ops_file_pread_work, NULL,
	    OP_HANDLE | OP_ABORTABLE | OP_FAST },
	{ "pwrite", OPC(PWRITE), ops_file_pwrite_work, NULL, OP_HANDLE },
	{ "fsync", OPC(FSYNC), ops_file_fsync_work, NULL, OP_HANDLE },
	{ "fdatasync", OPC(FDATASYNC), ops_file_fdatasync_work, NULL,
	    OP_HANDLE },
	{ "fileinfo", OPC(FILEINFO), ops_file_info_work, NULL,
	    OP_HANDLE | OP_DIRHANDLE },
	{ "wrap", OPC(WRAP), ops_file_wrap_work, NULL,
	    OP_NEWHANDLE | OP_FDPASS },
	{ "openfd", OPC(OPENFD), ops_file_openfd_work, ops_file_openfd_check,
	    OP_FDPASS },
	{ "readfile", OPC(READFILE), ops_file_readfile_work, NULL,
	    OP_ABORTABLE | OP_FAST },
	{ "writefile", OPC(WRITEFILE), ops_file_writefile_work, NULL,
	    OP_WRITES },
	{ "rollover", OPC(ROLLOVER), ops_temp_rollover_work, NULL, OP_HANDLE },

	{ "stat", OPC(STAT), ops_os_stat_work, NULL, OP_FAST },
	{ "statvfs", OPC(STATVFS), ops_os_statvfs_work, NULL, 0 },
	{ "sendfile", OPC(SENDFILE), ops_os_sendfile_work, NULL,
	    OP_HANDLE | OP_WRITES },
	{ "rename", OPC(RENAME), ops_os_rename_work, NULL, OP_WRITES },
	{ "renames", OPC(RENAMES), ops_os_renames_work, NULL, OP_WRITES },
	{ "replace", OPC(REPLACE), ops_os_replace_work, NULL, OP_WRITES },
	{ "unlink", OPC(UNLINK), ops_os_unlink_work, NULL, OP_WRITES },
	{ "mkdir", OPC(MKDIR), ops_os_mkdir_work, NULL, OP_WRITES },
	{ "makedirs", OPC(MAKEDIRS), ops_os_makedirs_work, NULL, OP_WRITES },
	{ "rmdir", OPC(RMDIR), ops_os_rmdir_work, NULL, OP_WRITES },
	{ "removedirs", OPC(REMOVEDIRS), ops_os_removedirs_work, NULL,
	    OP_WRITES },
	{ "link", OPC(LINK), ops_os_link_work, NULL, OP_WRITES },
	{ "symlink", OPC(SYMLINK), ops_os_symlink_work, NULL, OP_WRITES },
	{ "readlink", OPC(READLINK), ops_os_readlink_work, NULL, 0 },
	{ "listdir", OPC(LISTDIR), ops_os_listdir_work, NULL, OP_ABORTABLE },
	{ "scandir", OPC(SCANDIR), ops_os_scandir_work, NULL, OP_ABORTABLE },
	{ "access", OPC(ACCESS), ops_os_access_work, NULL, 0 },
	{ "getcwd", OPC(GETCWD), ops_os_getcwd_work, NULL, 0 },
	{ "chdir", OPC(CHDIR), ops_os_chdir_work, NULL, 0 },
	{ "chmod", OPC(CHMOD), ops_os_chmod_work, NULL, OP_WRITES },
	{ "utime", OPC(UTIME), ops_os_utime_work, NULL, OP_WRITES },
	{ "truncate_path", OPC(TRUNCATE_PATH), ops_os_truncate_work, NULL,
	    OP_WRITES },
	{ "copyfile", OPC(COPYFILE), ops_os_copyfile_work, NULL, OP_WRITES },
	{ "rmtree", OPC(RMTREE), ops_os_rmtree_work, NULL, OP_WRITES },
	{ "walk", OPC(WALK), ops_os_walk_work, NULL, OP_ABORTABLE },

	{ "pathtest", OPC(PATHTEST), ops_path_test_work, NULL, 0 },
	{ "samefile", OPC(SAMEFILE), ops_path_samefile_work, NULL, 0 },
	{ "abspath", OPC(ABSPATH), ops_path_abspath_work, NULL, 0 },

	{ "tempfile", OPC(TEMPFILE), ops_temp_work, ops_temp_check,
	    OP_NEWHANDLE },
};
#define NOPS	(sizeof ops / sizeof ops[0])
#define MAXOPC	128

static const struct op	*ops_by_case[MAXOPC];
static pthread_once_t	 ops_once = PTHREAD_ONCE_INIT;

static void	dispatch_reply(struct req *);
static void	dispatch_advance(struct conn *, uint64_t);

/* The whole table (for stats). */
const struct op *
dispatch_table(size_t *n)
{
	*n = NOPS;
	return (ops);
}

/* Index the table by oneof case (once, whichever loop asks first). */
static void
dispatch_index(void)
{
	size_t	 i;

	for (i = 0; i < NOPS; i++)
		ops_by_case[ops[i].op_case] = &ops[i];
}

/* Find the handler of a oneof case, NULL if there is none. */
const struct op *
dispatch_lookup(int op_case)
{
	if (op_case <= 0 || op_case >= MAXOPC)
		return (NULL);
	pthread_once(&ops_once, dispatch_index);
	return (ops_by_case[op_case]);
}

/* The handle a request acts on, or 0. */
uint64_t
dispatch_handle_of(const Request *m)
{
	switch (m->op_case) {
	case OPC(READ):
		return (m->read->handle);
	case OPC(READLINES):
		return (m->readlines->handle);
	case OPC(WRITE):
		return (m->write->handle);
	case OPC(WRITELINES):
		return (m->writelines->handle);
	case OPC(FLUSH):
		return (m->flush->handle);
	case OPC(SEEK):
		return (m->seek->handle);
	case OPC(TELL):
		return (m->tell->handle);
	case OPC(TRUNCATE):
		return (m->truncate->handle);
	case OPC(CLOSE):
		return (m->close->handle);
	case OPC(PREAD):
		return (m->pread->handle);
	case OPC(PWRITE):
		return (m->pwrite->handle);
	case OPC(FSYNC):
		return (m->fsync->handle);
	case OPC(FDATASYNC):
		return (m->fdatasync->handle);
	case OPC(FILEINFO):
		return (m->fileinfo->handle);
	case OPC(ROLLOVER):
		return (m->rollover->handle);
	case OPC(SENDFILE):
		return (m->sendfile->out_handle);
	default:
		return (0);
	}
}

/*
 * May this OP_FAST request try on the loop (fast.c)?  Only when it is
 * cheap for sure: binary read-only opens, small reads on handles that
 * qualify, stat by path.
 */
int
dispatch_fast_ok(struct req *req)
{
	const Request	*m = req->msg;
	struct fmode	 fm;
	int		 kind;

	switch (m->op_case) {
	case OPC(STAT):
		return (!m->stat->has_handle);
	case OPC(OPEN):
		if (m->open->encoding != NULL ||
		    mode_parse(m->open->mode != NULL ? m->open->mode : "r",
		    &fm) == -1)
			return (0);
		return (!fm.text && !fm.writable && !fm.create && !fm.trunc &&
		    !fm.append);
	case OPC(READFILE):
		return (1);	/* it gives up on files over FAST_MAX_IO */
	case OPC(READ):
		kind = m->read->has_kind ? m->read->kind : 0;
		if (!fast_file_ok(req->f))
			return (0);
		if (kind == AIOFS__V1__READ_KIND__READLINE ||
		    kind == AIOFS__V1__READ_KIND__PEEK)
			return (1);
		return ((kind == AIOFS__V1__READ_KIND__READ ||
		    kind == AIOFS__V1__READ_KIND__READ1) &&
		    m->read->size > 0 && m->read->size <= FAST_MAX_IO);
	case OPC(CLOSE):
		return (fast_file_ok(req->f));
	case OPC(PREAD):
		/* Beside the FIFO: req->fd is the handle's own fd. */
		return (req->f == NULL && m->pread->size <= FAST_MAX_IO);
	default:
		return (0);
	}
}

/* Submit req: completed at once on the loop if it can be, else queued. */
static void
dispatch_submit(struct req *req)
{
	if (fast_try(req))
		dispatch_complete(req);
	else
		pool_submit(req);
}

/* Dup the fd of handle hid for a worker; -1 if the handle is bad. */
static int
dispatch_dup_handle(struct conn *conn, uint64_t hid)
{
	struct handle	*h;

	if ((h = handle_get(&conn->handles, hid, HANDLE_FREE)) == NULL ||
	    h->f == NULL || h->f->fd == -1)
		return (-1);
	return (fcntl(h->f->fd, F_DUPFD_CLOEXEC, 0));
}

/*
 * Handles some ops only read from (sendfile's input, fstat's, both of
 * sameopenfile's): the loop dups their fds into req->fd and req->fd2, so
 * that a concurrent close cannot pull them away from the worker.  Returns
 * 0, or -1 if a handle is bad.
 */
static int
dispatch_extra_fds(struct conn *conn, struct req *req)
{
	const Request	*m = req->msg;

	switch (m->op_case) {
	case OPC(SENDFILE):
		req->fd = dispatch_dup_handle(conn, m->sendfile->in_handle);
		return (req->fd == -1 ? -1 : 0);
	case OPC(STAT):
		if (!m->stat->has_handle)
			return (0);
		req->fd = dispatch_dup_handle(conn, m->stat->handle);
		return (req->fd == -1 ? -1 : 0);
	case OPC(SAMEFILE):
		if (!m->samefile->has_handle_a && !m->samefile->has_handle_b)
			return (0);
		req->fd = dispatch_dup_handle(conn, m->samefile->handle_a);
		req->fd2 = dispatch_dup_handle(conn, m->samefile->handle_b);
		return (req->fd == -1 || req->fd2 == -1 ? -1 : 0);
	default:
		return (0);
	}
}

/* Reply to msg with an error at once, without making a req for it. */
static void
dispatch_refuse(struct conn *conn, uint64_t id, int e, const char *fmt,
    const char *arg)
{
	Response		 resp = AIOFS__V1__RESPONSE__INIT;
	Aiofs__V1__Error	 err = AIOFS__V1__ERROR__INIT;
	char			 msg[256];

	snprintf(msg, sizeof msg, fmt, arg);
	resp.has_id = 1;
	resp.id = id;
	err.has_errno_value = 1;
	err.errno_value = e;
	err.name = (char *)errmap_name(e);
	err.message = msg;
	resp.result_case = AIOFS__V1__RESPONSE__RESULT_ERROR;
	resp.error = &err;
	conn_send(conn, &resp);
}

/* Is this request allowed by the session's policy?  0, or an errno. */
static int
dispatch_policy(struct conn *conn, const struct op *op, struct req *req)
{
	const struct policy	*pol = conn->sess->pol;

	if ((op->flags & OP_WRITES) && pol->read_only)
		return (EROFS);
	if ((op->flags & OP_FDPASS) && !pol->allow_fd_passing)
		return (EPERM);
	if (op->check != NULL)
		return (op->check(req));
	return (0);
}

/*
 * Take a decoded request from conn.  Returns 0, or -1 when it was a
 * protocol violation and the connection has been marked bad.
 */
int
dispatch_request(struct conn *conn, Request *msg)
{
	const struct op	*op;
	struct req	*req;
	struct handle	*h = NULL;
	uint64_t	 id = msg->id;
	int		 e;

	LOOP_STAT(requests, 1);
	op = dispatch_lookup(msg->op_case);
	if (!(conn->flags & CONN_HELLO) &&
	    (op == NULL || !(op->flags & OP_NOHELLO))) {
		dispatch_refuse(conn, id, EPROTO, "%s", "hello expected first");
		aiofs__v1__request__free_unpacked(msg, &conn->pb_alloc);
		conn_bad(conn, "request before hello");
		return (-1);
	}
	if (op == NULL) {
		log_info("conn %llu id %llu: unknown op %d",
		    (unsigned long long)conn->serial, (unsigned long long)id,
		    (int)msg->op_case);
		dispatch_refuse(conn, id, ENOSYS, "%s",
		    "unknown or missing operation");
		aiofs__v1__request__free_unpacked(msg, &conn->pb_alloc);
		return (0);
	}
	if ((req = req_new(conn, msg)) == NULL) {
		aiofs__v1__request__free_unpacked(msg, &conn->pb_alloc);
		conn_bad(conn, "duplicate request id %llu",
		    (unsigned long long)id);
		return (-1);
	}
	req->op = op;
	log_debug("conn %llu id %llu: %s", (unsigned long long)conn->serial,
	    (unsigned long long)id, op->name);

	if ((e = dispatch_policy(conn, op, req)) != 0) {
		req_failmsg(req, e, NULL, "%s refused by policy (%s)",
		    op->name, e == EROFS ? "read-only" : "no fd passing");
		dispatch_complete(req);
		return (0);
	}
	if (op->flags & OP_INLINE) {
		op->work(req);
		dispatch_complete(req);
		return (0);
	}
	if (op->op_case == OPC(WRAP) && (req->fd = conn_take_fd(conn)) == -1) {
		req_failmsg(req, EBADF, NULL, "no fd was passed with wrap");
		dispatch_complete(req);
		return (0);
	}
	if (dispatch_extra_fds(conn, req) == -1) {
		req_failmsg(req, EBADF, NULL, "bad or closed handle");
		dispatch_complete(req);
		return (0);
	}
	if (op->flags & OP_HANDLE) {
		req->hid = dispatch_handle_of(msg);
		h = handle_get(&conn->handles, req->hid,
		    (op->flags & OP_DIRHANDLE) ? HANDLE_FREE : HANDLE_FILE);
		if (h == NULL || h->closing) {
			req->hid = 0;
			req_failmsg(req, EBADF, NULL, "%s",
			    h == NULL ? "bad or stale handle" :
			    "handle is closing");
			dispatch_complete(req);
			return (0);
		}
		if (op->flags & OP_CLOSES)
			h->closing = 1;
		if (op->op_case == OPC(PREAD) && h->f->fd != -1 &&
		    !h->f->mode.writable && h->f->text == NULL) {
			/*
			 * pread on a read-only binary file touches no handle
			 * state: it runs beside the FIFO, on a dup of the fd,
			 * so many can be in flight on one handle.  The loop
			 * tries it first on the fd itself.
			 */
			req->hid = 0;
			if (fast_file_ok(h->f)) {
				req->fd = h->f->fd;
				e = fast_try(req);
				req->fd = -1;
				if (e) {
					dispatch_complete(req);
					return (0);
				}
			}
			req->fd = fcntl(h->f->fd, F_DUPFD_CLOEXEC, 0);
			if (req->fd == -1) {
				req_fail(req, errno, NULL);
				dispatch_complete(req);
				return (0);
			}
			pool_submit(req);
			return (0);
		}
		if (h->busy) {
			req->state = REQ_WAITING;
			TAILQ_INSERT_TAIL(&h->waitq, req, qentry);
			return (0);
		}
		h->busy = 1;
		req->f = h->f;
	}
	dispatch_submit(req);
	return (0);
}

/*
 * The next request on handle hid may go: submit it, or mark the handle
 * idle.  On a dead connection an idle handle is closed by an internal
 * close request, so that files are flushed and temp files removed.
 */
static void
dispatch_advance(struct conn *conn, uint64_t hid)
{
	struct handle	*h;
	struct req	*next;

	if ((h = handle_get(&conn->handles, hid, HANDLE_FREE)) == NULL)
		return;
	if ((next = TAILQ_FIRST(&h->waitq)) != NULL) {
		TAILQ_REMOVE(&h->waitq, next, qentry);
		next->f = h->f;
		pool_submit(next);
		return;
	}
	h->busy = 0;
	if (conn->flags & CONN_DEAD)
		dispatch_close_handle(conn, hid);
}

/* Queue an internal close of handle hid (disconnect, shutdown). */
void
dispatch_close_handle(struct conn *conn, uint64_t hid)
{
	struct handle	*h;
	struct req	*req;
	Request		*msg;

	if ((h = handle_get(&conn->handles, hid, HANDLE_FREE)) == NULL)
		return;
	h->closing = 1;
	if (h->busy)
		return;		/* dispatch_advance() comes back here */
	msg = xcalloc(1, sizeof *msg);
	aiofs__v1__request__init(msg);
	msg->op_case = OPC(CLOSE);
	msg->close = xcalloc(1, sizeof *msg->close);
	aiofs__v1__handle__init(msg->close);
	msg->close->has_handle = 1;
	msg->close->handle = hid;
	req = req_new(NULL, msg);
	req->internal = 1;
	req->conn = conn;
	conn_ref(conn);
	req->sess = session_ref(conn->sess);
	req->op = dispatch_lookup(OPC(CLOSE));
	req->hid = hid;
	req->f = h->f;
	h->busy = 1;
	pool_submit(req);
}

/* Loop side of a finished op that created a handle: give it a slot. */
static void
dispatch_new_handle(struct conn *conn, struct req *req)
{
	uint64_t	 hid;

	if (req->f == NULL)
		return;
	if (conn->flags & CONN_DEAD) {
		hfile_close(req->f);
		hfile_free(req->f);
		req->f = NULL;
		return;
	}
	req->f->owner = conn;
	if (handle_alloc(&conn->handles, HANDLE_FILE, req->f, &hid) == -1) {
		hfile_close(req->f);
		hfile_free(req->f);
		req->f = NULL;
		req_chunk_reset(req);
		req_failmsg(req, EMFILE, NULL, "at most %u open handles",
		    conn->handles.max);
		return;
	}
	req->f = NULL;
	req->res.file.has_handle = 1;
	req->res.file.handle = hid;
}

/*
 * A request is finished (or has a chunk ready): reply, then free it or
 * send it round again.  Called by the pool's completion callback, and
 * directly for inline ops and refusals.
 */
void
dispatch_complete(struct req *req)
{
	struct conn	*conn = req->conn;
	uint64_t	 hid = req->hid;
	int		 alive;

	if (req->op != NULL && !req->more)
		stats_record((int)(req->op - ops), req->error,
		    stats_now_ns() - req->start_ns);
	if (conn == NULL) {
		req_free(req);
		return;
	}
	if (req->error == 0 && req->op != NULL &&
	    (req->op->flags & OP_NEWHANDLE)) {
		if (req->cancelled && req->f != NULL) {
			/* Cancelled while it ran: nobody wants the file. */
			hfile_close(req->f);
			hfile_free(req->f);
			req->f = NULL;
			req_chunk_reset(req);
			req_fail(req, ECANCELED, NULL);
		} else
			dispatch_new_handle(conn, req);
	}
	if (req->error == 0 && req->newsess != NULL) {
		session_unref(conn->sess);
		conn->sess = req->newsess;
		req->newsess = NULL;
	}
	if (req->op != NULL && (req->op->flags & OP_CLOSES) && hid != 0) {
		struct handle *h = handle_get(&conn->handles, hid,
		    HANDLE_FREE);

		/* Close always frees the handle, even if flushing failed. */
		if (h != NULL) {
			if (h->f->del_at_exit && h->f->del_name != NULL) {
				/* NamedTemporaryFile(delete_on_close=False) */
				struct cleanup *cl = xcalloc(1, sizeof *cl);

				cl->dirfd = h->f->del_dirfd;
				cl->name = h->f->del_name;
				cl->is_dir = h->f->is_tempdir;
				h->f->del_dirfd = -1;
				h->f->del_name = NULL;
				cl->next = conn->cleanups;
				conn->cleanups = cl;
			}
			hfile_free(h->f);
			handle_release(&conn->handles, hid);
		}
		/* Anything still waiting on it can only be refused now. */
		hid = 0;
	}

	if (req->more && req->cancelled) {
		/* Cancelled mid-stream: this part becomes the last, an error. */
		req_chunk_reset(req);
		req_fail(req, ECANCELED, NULL);
	}
	if (!(conn->flags & CONN_DEAD) && !req->internal)
		dispatch_reply(req);

	if (req->more && !(conn->flags & CONN_DEAD) && !req->cancelled) {
		req_chunk_reset(req);
		pool_submit(req);
		return;
	}
	if (hid != 0)
		dispatch_advance(conn, hid);
	alive = !(conn->flags & CONN_DEAD);	/* then the socket's ref holds */
	if (req_free(req))
		loop_resume_all();
	else if (alive)
		conn_update_read(conn);
}

/* evbuffer cleanup for a zero-copy data payload. */
static void
dispatch_free_payload(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	chunk_free((void *)data);
}

/*
 * Queue a spliced Data chunk (spipe.c): the header, now that the worker
 * knows how many bytes the pipe holds, then the pipe, then the tail the
 * pipe had no room for.  On the wire it is the same frame that
 * frame_write_data() would make of the same bytes.
 */
static void
dispatch_reply_spliced(struct req *req)
{
	struct conn	*conn = req->conn;
	uint8_t		 hdr[FRAME_DATA_HDR_MAX];
	size_t		 h, len = req->pipe->len + req->buflen;

	conn_bulk(conn, len);
	if ((h = frame_data_header(hdr, req->id, req->more, len,
	    req->eof)) == 0 || evbuffer_add(conn->out, hdr, h) == -1)
		fatalx("frame_data_header");
	conn_send_pipe(conn, req->pipe);
	req->pipe = NULL;
	if (req->buflen > 0) {
		if (evbuffer_add_reference(conn->out, req->buf, req->buflen,
		    dispatch_free_payload, NULL) == -1)
			fatalx("evbuffer_add_reference");
		req->buf = NULL;
		req->buflen = 0;
	}
	conn_kick(conn);
}

/* Pack and queue the reply (or this chunk of it) for req. */
static void
dispatch_reply(struct req *req)
{
	struct conn	*conn = req->conn;
	Response	*resp = &req->resp;

	if (req->error != 0) {
		aiofs__v1__error__init(&req->err);
		req->err.has_errno_value = 1;
		req->err.errno_value = req->error;
		req->err.name = (char *)errmap_name(req->error);
		req->err.message = req->errmsg != NULL ? req->errmsg :
		    (char *)errmap_message(req->error);
		if (req->errpath != NULL) {
			req->err.has_path = 1;
			req->err.path.data = (uint8_t *)req->errpath;
			req->err.path.len = strlen(req->errpath);
		}
		resp->result_case = AIOFS__V1__RESPONSE__RESULT_ERROR;
		resp->error = &req->err;
		req->more = 0;
		if (req->fd != -1 && req->op->op_case == OPC(OPENFD)) {
			close(req->fd);
			req->fd = -1;
		}
	} else if (resp->result_case == AIOFS__V1__RESPONSE__RESULT__NOT_SET)
		req_set_empty(req);

	if (req->error == 0 && req->op->op_case == OPC(OPENFD) &&
	    req->fd != -1) {
		conn_send_fd(conn, req->fd);
		req->fd = -1;
	}

	if (resp->result_case == AIOFS__V1__RESPONSE__RESULT_DATA &&
	    req->pipe != NULL) {
		dispatch_reply_spliced(req);
		return;
	}
	if (resp->result_case == AIOFS__V1__RESPONSE__RESULT_DATA &&
	    req->buf != NULL) {
		/* Zero copy: the payload goes by reference. */
		conn_bulk(conn, req->buflen);
		if (frame_write_data(conn->out, req->id, req->more, req->buf,
		    req->buflen, req->eof, dispatch_free_payload, NULL) == -1)
			fatalx("frame_write_data");
		req->buf = NULL;
		req->buflen = 0;
		conn_kick(conn);
		return;
	}
	resp->has_id = 1;
	resp->id = req->id;
	resp->has_more = req->more != 0;
	resp->more = req->more != 0;
	conn_send(conn, resp);
}
