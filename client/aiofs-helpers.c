/*
 * aiofs-helpers.c - aiofile's Reader, Writer and LineReader, async line
 * iteration, and stdio handles, all built on the public calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aiofs-int.h"

/* A chunked reader from offset (aiofile's Reader). */
void
aiofs_reader_init(aiofs_reader_t *r, aiofs_t *h, aiofs_file_t file,
    int64_t offset, size_t chunk_size)
{
	r->h = h;
	r->file = file;
	r->offset = offset;
	r->chunk_size = chunk_size != 0 ? chunk_size : 64 * 1024;
}

/*
 * Read the next chunk into req->buf (req->len 0 at the end).  The offset
 * moves on at submission, so several chunks may be in flight at once;
 * they complete in any order but each knows its own place.
 */
int
aiofs_reader_next(aiofs_reader_t *r, aiofs_req_t *req, aiofs_cb cb)
{
	int64_t	 at = r->offset;
	int	 rc;

	r->offset += (int64_t)r->chunk_size;
	rc = aiofs_pread(r->h, req, r->file, r->chunk_size, at, cb);
	if (rc < 0)
		r->offset = at;
	return (rc);
}

/* A writer that keeps its own offset (aiofile's Writer). */
void
aiofs_writer_init(aiofs_writer_t *w, aiofs_t *h, aiofs_file_t file,
    int64_t offset)
{
	w->h = h;
	w->file = file;
	w->offset = offset;
}

/* Write data at the writer's offset, which then moves past it. */
int
aiofs_writer_write(aiofs_writer_t *w, aiofs_req_t *req, const void *data,
    size_t len, aiofs_cb cb)
{
	int64_t	 at = w->offset;
	int	 rc;

	w->offset += (int64_t)len;
	rc = aiofs_pwrite(w->h, req, w->file, data, len, at, cb);
	if (rc < 0)
		w->offset = at;
	return (rc);
}

/* A line reader with any separator (aiofile's LineReader). */
int
aiofs_linereader_init(aiofs_linereader_t *lr, aiofs_t *h, aiofs_file_t file,
    int64_t offset, size_t chunk_size, const char *sep)
{
	memset(lr, 0, sizeof *lr);
	lr->h = h;
	lr->file = file;
	lr->offset = offset;
	lr->chunk_size = chunk_size != 0 ? chunk_size : 4096;
	if (sep == NULL || *sep == '\0')
		sep = "\n";
	if ((lr->sep = strdup(sep)) == NULL)
		return (-ENOMEM);
	lr->seplen = strlen(sep);
	return (0);
}

/* Free a line reader's buffers. */
void
aiofs_linereader_free(aiofs_linereader_t *lr)
{
	free(lr->sep);
	free(lr->pending);
	lr->sep = lr->pending = NULL;
	lr->npending = 0;
}

/*
 * If pending holds a whole line (or the rest at EOF), move it into req.
 * Returns 1 if it did.
 */
static int
aiofs__lr_take(aiofs_linereader_t *lr, aiofs_req_t *req)
{
	char	*p = NULL;
	size_t	 n, i;

	for (i = 0; lr->npending >= lr->seplen &&
	    i <= lr->npending - lr->seplen; i++)
		if (memcmp(lr->pending + i, lr->sep, lr->seplen) == 0) {
			p = lr->pending + i;
			break;
		}
	if (p == NULL && !lr->eof)
		return (0);
	n = p != NULL ? (size_t)(p - lr->pending) + lr->seplen : lr->npending;
	free(req->buf);
	if ((req->buf = malloc(n + 1)) == NULL) {
		req->result = -ENOMEM;
		return (1);
	}
	memcpy(req->buf, lr->pending, n);
	req->buf[n] = '\0';
	req->len = n;
	req->result = (int64_t)n;
	req->eof = n == 0;
	memmove(lr->pending, lr->pending + n, lr->npending - n);
	lr->npending -= n;
	return (1);
}

/* A chunk arrived: append it, and deliver the line it completes. */
static void
aiofs__lr_chunk_cb(aiofs_req_t *chunk)
{
	aiofs_linereader_t	*lr = chunk->data;
	aiofs_req_t		*req = lr->priv_req;
	char			*np;
	int			 rc;

	if (chunk->result < 0) {
		req->result = chunk->result;
		aiofs_req_cleanup(chunk);
		req->priv_state = AIOFS__REQ_DONE;
		if (lr->priv_cb != NULL)
			lr->priv_cb(req);
		return;
	}
	if (chunk->len == 0)
		lr->eof = 1;
	else {
		np = realloc(lr->pending, lr->npending + chunk->len);
		if (np == NULL) {
			aiofs_req_cleanup(chunk);
			req->result = -ENOMEM;
			req->priv_state = AIOFS__REQ_DONE;
			if (lr->priv_cb != NULL)
				lr->priv_cb(req);
			return;
		}
		lr->pending = np;
		memcpy(lr->pending + lr->npending, chunk->buf, chunk->len);
		lr->npending += chunk->len;
		lr->offset += (int64_t)chunk->len;
	}
	aiofs_req_cleanup(chunk);
	if (aiofs__lr_take(lr, req)) {
		req->priv_state = AIOFS__REQ_DONE;
		if (lr->priv_cb != NULL)
			lr->priv_cb(req);
		return;
	}
	chunk->data = lr;
	if ((rc = aiofs_pread(lr->h, chunk, lr->file, lr->chunk_size,
	    lr->offset, aiofs__lr_chunk_cb)) < 0) {
		req->result = rc;
		req->priv_state = AIOFS__REQ_DONE;
		if (lr->priv_cb != NULL)
			lr->priv_cb(req);
	}
}

/*
 * The next line, separator included, in req->buf (req->len 0 at EOF).
 * With a callback: returns 1 if a line was already buffered (req is
 * filled, cb is not called), 0 if a read was started (cb will be called),
 * or a negative errno.  With a NULL callback: waits, returns the length.
 */
int
aiofs_linereader_next(aiofs_linereader_t *lr, aiofs_req_t *req, aiofs_cb cb)
{
	int	 rc;

	aiofs__req_init(req, lr->h, AIOFS_OP_PREAD, cb);
	req->priv_state = AIOFS__REQ_PENDING;
	if (aiofs__lr_take(lr, req)) {
		req->priv_state = AIOFS__REQ_DONE;
		return (cb != NULL ? 1 : (int)req->result);
	}
	lr->priv_req = req;
	lr->priv_cb = cb;
	memset(&lr->priv_chunk, 0, sizeof lr->priv_chunk);
	lr->priv_chunk.data = lr;
	rc = aiofs_pread(lr->h, &lr->priv_chunk, lr->file, lr->chunk_size,
	    lr->offset, aiofs__lr_chunk_cb);
	if (rc < 0)
		return (rc);
	if (cb != NULL)
		return (0);
	while (req->priv_state == AIOFS__REQ_PENDING)
		if ((rc = aiofs_wait(lr->h, &lr->priv_chunk)) < 0)
			return (rc);
	return ((int)req->result);
}

/* State of an aiofs_lines() iteration. */
struct aiofs__lines {
	aiofs_req_t	 inner;
	aiofs_req_t	*user;
	aiofs_cb	 cb;
};

/* Parts of the streamed readlines: one user callback per line. */
static void
aiofs__lines_cb(aiofs_req_t *inner)
{
	struct aiofs__lines	*st = inner->data;
	aiofs_req_t		*user = st->user;
	size_t			 i;
	int			 last = !inner->more;

	if (inner->result < 0) {
		user->result = inner->result;
		user->errmsg = inner->errmsg;
		inner->errmsg = NULL;
	} else {
		for (i = 0; i < inner->nlines; i++) {
			user->buf = inner->lines[i];
			user->len = inner->linelens[i];
			user->result = (int64_t)user->len;
			user->more = 1;
			user->eof = 0;
			st->cb(user);
			user->buf = NULL;
		}
		user->result = 0;
	}
	if (!last)
		return;
	user->buf = NULL;
	user->len = 0;
	user->more = 0;
	user->eof = 1;
	user->priv_state = AIOFS__REQ_DONE;
	aiofs_req_cleanup(inner);
	st->cb(user);
	free(st);
}

/*
 * Iterate over the remaining lines of a handle: cb runs once per line
 * (req->buf/len, req->more = 1), then once more at the end (req->eof = 1,
 * req->more = 0, req->result < 0 on error).  The lines stream from the
 * daemon in batches; the line buffer is valid during the callback only.
 */
int
aiofs_lines(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, aiofs_cb cb)
{
	struct aiofs__lines	*st;
	int			 rc;

	if (cb == NULL)
		return (-EINVAL);
	if ((st = calloc(1, sizeof *st)) == NULL)
		return (-ENOMEM);
	aiofs__req_init(req, h, AIOFS_OP_READLINES, cb);
	st->user = req;
	st->cb = cb;
	st->inner.data = st;
	st->inner.flags = AIOFS_REQ_STREAM;
	if ((rc = aiofs_readlines(h, &st->inner, file, 0,
	    aiofs__lines_cb)) < 0) {
		free(st);
		return (rc);
	}
	return (0);
}

/* sys.stdin as a handle (binary: stdin.buffer). */
int
aiofs_stdin(aiofs_t *h, aiofs_req_t *req, int binary, aiofs_cb cb)
{
	return (aiofs_wrap(h, req, 0, binary ? "rb" : "r", NULL, cb));
}

/* sys.stdout as a handle (line buffered text, or binary). */
int
aiofs_stdout(aiofs_t *h, aiofs_req_t *req, int binary, aiofs_cb cb)
{
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;

	o.buffering = binary ? 0 : 1;
	return (aiofs_wrap(h, req, 1, binary ? "wb" : "w", &o, cb));
}

/* sys.stderr as a handle (line buffered text, or unbuffered binary). */
int
aiofs_stderr(aiofs_t *h, aiofs_req_t *req, int binary, aiofs_cb cb)
{
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;

	o.buffering = binary ? 0 : 1;
	return (aiofs_wrap(h, req, 2, binary ? "wb" : "w", &o, cb));
}
