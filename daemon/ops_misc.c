/*
 * ops_misc.c - the inline ops: hello, ping, cancel, stats.  They run on
 * the loop thread (OP_INLINE), so unlike other ops they may look at the
 * connection.
 */
#include <errno.h>
#include <string.h>

#include "aiofsd.h"

/* Handshake: check the version, report limits and capabilities. */
void
ops_hello_work(struct req *req)
{
	Aiofs__V1__Hello	*m = req->msg->hello;
	Aiofs__V1__HelloReply	*r = &req->res.hello;
	struct conn		*conn = req->conn;
	const struct policy	*pol = conn->sess->pol;
	char			**caps;
	size_t			 n = 0;

	if (conn->flags & CONN_HELLO) {
		req_failmsg(req, EPROTO, NULL, "hello sent twice");
		return;
	}
	if (!m->has_protocol_version ||
	    m->protocol_version != AIOFS_PROTOCOL_VERSION) {
		req_failmsg(req, EPROTO, NULL,
		    "protocol version %u not supported: this aiofsd %s speaks "
		    "version %u", m->protocol_version, AIOFSD_VERSION,
		    AIOFS_PROTOCOL_VERSION);
		return;
	}
	conn->flags |= CONN_HELLO;
	log_info("conn %llu: hello from \"%.64s\"",
	    (unsigned long long)conn->serial,
	    m->client_name != NULL ? m->client_name : "");

	aiofs__v1__hello_reply__init(r);
	r->server_version = AIOFSD_VERSION;
	r->has_protocol_version = r->has_max_frame = 1;
	r->has_max_inflight = r->has_max_chunk = 1;
	r->protocol_version = AIOFS_PROTOCOL_VERSION;
	r->max_frame = opts.max_frame;
	r->max_inflight = conn->max_inflight;
	r->max_chunk = opts.max_chunk;
	caps = req_alloc(req, 8 * sizeof *caps);
	caps[n++] = "pipelining";
	caps[n++] = "multipart";
	caps[n++] = "cancel";
	if (pol->allow_fd_passing)
		caps[n++] = "fd-passing";
	if (pol->read_only)
		caps[n++] = "read-only";
	if (pol->strict_paths)
		caps[n++] = "strict-paths";
	r->capabilities = caps;
	r->n_capabilities = n;
	r->has_root = r->has_cwd = 1;
	r->root.data = (uint8_t *)conn->sess->root;
	r->root.len = strlen(conn->sess->root);
	r->cwd.data = (uint8_t *)conn->sess->cwd;
	r->cwd.len = strlen(conn->sess->cwd);
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_HELLO;
	req->resp.hello = r;
}

/* The protocol floor: an empty reply. */
void
ops_ping_work(struct req *req)
{
	req_set_empty(req);
}

/*
 * Cancel another request of this connection: one not yet started is
 * dropped and answered ECANCELED; a running one is interrupted where its
 * syscall allows.  Replies Bool: whether the target was found in flight.
 */
void
ops_cancel_work(struct req *req)
{
	struct conn	*conn = req->conn;
	struct req	*t;
	struct handle	*h;

	t = aiofs__idmap_get(&conn->ids, req->msg->cancel->target);
	if (t == NULL || t == req || t->state == REQ_DONE) {
		req_set_bool(req, 0);
		return;
	}
	if (t->state == REQ_WAITING) {
		/* On its handle's FIFO: never started, the handle not its. */
		h = handle_get(&conn->handles, t->hid, HANDLE_FREE);
		if (h != NULL)
			TAILQ_REMOVE(&h->waitq, t, qentry);
		t->hid = 0;
		req_fail(t, ECANCELED, NULL);
		dispatch_complete(t);
	} else if (t->state == REQ_QUEUED && pool_cancel(t) == 0) {
		if (t->more) {
			req_chunk_reset(t);
			t->more = 0;
		}
		t->cancelled = 1;
		req_fail(t, ECANCELED, NULL);
		dispatch_complete(t);
	} else
		pool_interrupt(t);
	req_set_bool(req, 1);
}

/* Daemon counters. */
void
ops_stats_work(struct req *req)
{
	stats_fill(&req->res.stats, req);
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_STATS;
	req->resp.stats = &req->res.stats;
}
