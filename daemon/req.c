/*
 * req.c - the request: it owns everything it carries (libuv's uv_fs_t).
 *
 * req_new() takes the unpacked message and a reference to the connection
 * and its session.  Workers write results only into the req: small values
 * into req->res, anything allocated into the req's arena (req_alloc) or
 * req->buf (or req->pipe, a spliced payload).  req_free(), on the loop
 * after the reply is queued, is the only place any of it is freed.  A
 * streaming op's chunks are released one by one with req_chunk_reset().
 */
#include <sys/mman.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

#define ARENA_BLOCK	4096

struct arena {
	struct arena	*next;
	size_t		 used;
	size_t		 cap;
	max_align_t	 data[];
};

/* Make a request for msg on conn; NULL if its id is already in flight. */
struct req *
req_new(struct conn *conn, Request *msg)
{
	struct req	*req;

	req = xcalloc(1, sizeof *req);
	req->id = msg->id;
	req->msg = msg;
	req->fd = req->fd2 = -1;
	req->state = REQ_NEW;
	aiofs__v1__response__init(&req->resp);
	if (conn != NULL) {
		if (aiofs__idmap_get(&conn->ids, msg->id) != NULL) {
			free(req);
			return (NULL);
		}
		if (aiofs__idmap_put(&conn->ids, msg->id, req) != 0)
			fatalx("idmap: out of memory");
		req->conn = conn;
		conn_ref(conn);
		req->sess = session_ref(conn->sess);
		TAILQ_INSERT_TAIL(&conn->reqs, req, centry);
		conn->inflight++;
		STAT_ADD(inflight, 1);
	}
	req->start_ns = stats_now_ns();
	return (req);
}

/*
 * Buffers for chunks of read data.  Large ones are page-aligned (the
 * kernel copies into an aligned destination several times faster) and
 * come from a region of CHUNK_SLOTS slots of max_chunk bytes, reused
 * through a free list: posix_memalign'd megabytes freed on another thread
 * fragment glibc's heap until it holds hundreds of megabytes that no
 * aligned request fits in again.  The region is only reserved: a slot
 * costs memory once used, and the output throttle and the slot hold in
 * pool.c keep the slots in use to a few per streaming connection.  When
 * every slot is taken, plain posix_memalign.  Any thread.
 */
#define CHUNK_SLOTS	256

static pthread_mutex_t	 chunk_mutex = PTHREAD_MUTEX_INITIALIZER;
static char		*chunk_region;
static size_t		 chunk_size;
static unsigned		 chunk_free_slots[CHUNK_SLOTS];
static unsigned		 chunk_nfree;

/* A buffer for n bytes of read data; chunk_free() it. */
char *
chunk_alloc(size_t n)
{
	void		*p = NULL;
	unsigned	 i;

	if (n < FAST_MAX_IO)
		return (xmalloc(n == 0 ? 1 : n));
	pthread_mutex_lock(&chunk_mutex);
	if (chunk_region == NULL) {
		chunk_size = opts.max_chunk;
		p = mmap(NULL, CHUNK_SLOTS * chunk_size, PROT_READ |
		    PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
		if (p == MAP_FAILED)
			fatal("mmap");
		__atomic_store_n(&chunk_region, p, __ATOMIC_RELEASE);
		for (i = 0; i < CHUNK_SLOTS; i++)
			chunk_free_slots[i] = CHUNK_SLOTS - 1 - i;
		chunk_nfree = CHUNK_SLOTS;
		p = NULL;
	}
	if (n <= chunk_size && chunk_nfree > 0)
		p = chunk_region + chunk_free_slots[--chunk_nfree] *
		    chunk_size;
	pthread_mutex_unlock(&chunk_mutex);
	if (p == NULL && posix_memalign(&p, 4096, n) != 0)
		fatal("posix_memalign");
	return (p);
}

/* Free a buffer of chunk_alloc() (or of malloc). */
void
chunk_free(void *p)
{
	char	*c = p, *region;

	if (c == NULL)
		return;
	/* A slot's pointer reached this thread after the region was set. */
	region = __atomic_load_n(&chunk_region, __ATOMIC_ACQUIRE);
	if (region == NULL || c < region ||
	    c >= region + CHUNK_SLOTS * chunk_size) {
		free(p);
		return;
	}
	pthread_mutex_lock(&chunk_mutex);
	chunk_free_slots[chunk_nfree++] = (c - region) / chunk_size;
	pthread_mutex_unlock(&chunk_mutex);
}

/* Free the arena and the per-chunk results; keep the request itself. */
void
req_chunk_reset(struct req *req)
{
	struct arena	*a, *next;

	for (a = req->arena; a != NULL; a = next) {
		next = a->next;
		free(a);
	}
	req->arena = NULL;
	req->inl_used = 0;
	chunk_free(req->buf);
	req->buf = NULL;
	req->buflen = 0;
	spipe_put(req->pipe);		/* not sent: closed unless empty */
	req->pipe = NULL;
	req->eof = 0;
	req->more = 0;
	free(req->errpath);
	req->errpath = NULL;
	free(req->errmsg);
	req->errmsg = NULL;
	req->error = 0;
	aiofs__v1__response__init(&req->resp);
	memset(&req->res, 0, sizeof req->res);
}

/*
 * Free req and everything it owns; drops its conn and session refs.
 * Returns 1 if that took the daemon's in-flight count down from its limit
 * (the loops should read again: loop_resume_all), else 0.
 */
int
req_free(struct req *req)
{
	struct conn	*conn = req->conn;
	int		 eased = 0;

	req_chunk_reset(req);
	if (req->cursor != NULL && req->cursor_free != NULL)
		req->cursor_free(req->cursor);
	if (req->fd != -1)
		close(req->fd);
	if (req->fd2 != -1)
		close(req->fd2);
	if (req->newsess != NULL)
		session_unref(req->newsess);
	if (req->msg != NULL)
		aiofs__v1__request__free_unpacked(req->msg,
		    conn != NULL && !req->internal ? &conn->pb_alloc : NULL);
	if (conn != NULL && !req->internal) {
		aiofs__idmap_del(&conn->ids, req->id);
		TAILQ_REMOVE(&conn->reqs, req, centry);
		conn->inflight--;
		eased = STAT_ADD(inflight, -1) + 1 == opts.max_inflight_all;
	}
	if (req->sess != NULL)
		session_unref(req->sess);
	if (conn != NULL)
		conn_unref(conn);
	free(req);
	return (eased);
}

/* Allocate size bytes that live until the chunk is reset (workers). */
void *
req_alloc(struct req *req, size_t size)
{
	struct arena	*a = req->arena;
	size_t		 cap, align = sizeof(max_align_t);
	void		*p;

	size = (size + align - 1) & ~(align - 1);
	if (size == 0)
		size = align;
	if (sizeof req->inl.b - req->inl_used >= size) {
		/* Most requests need a path or two: no malloc for them. */
		p = req->inl.b + req->inl_used;
		req->inl_used += size;
		memset(p, 0, size);
		return (p);
	}
	if (a == NULL || a->cap - a->used < size) {
		cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
		a = xmalloc(sizeof *a + cap);
		a->used = 0;
		a->cap = cap;
		if (req->arena != NULL && size > ARENA_BLOCK) {
			/* Keep the current block in front for small ones. */
			a->next = req->arena->next;
			req->arena->next = a;
		} else {
			a->next = req->arena;
			req->arena = a;
		}
	}
	p = (char *)a->data + a->used;
	a->used += size;
	memset(p, 0, size);
	return (p);
}

/* Copy a string into the req's arena. */
char *
req_strdup(struct req *req, const char *s)
{
	return (req_memdup(req, s, strlen(s)));
}

/* Copy len bytes into the arena, with a NUL after them. */
void *
req_memdup(struct req *req, const void *src, size_t len)
{
	char	*p;

	p = req_alloc(req, len + 1);
	if (len != 0)
		memcpy(p, src, len);
	p[len] = '\0';
	return (p);
}

/* Record failure errno e on path (may be NULL) for the reply. */
void
req_fail(struct req *req, int e, const char *path)
{
	req->error = e == 0 ? EIO : e;
	free(req->errpath);
	req->errpath = path != NULL ? xstrdup(path) : NULL;
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_ERROR;
}

/* Record failure errno e with an explanatory message. */
void
req_failmsg(struct req *req, int e, const char *path, const char *fmt, ...)
{
	va_list	 ap;

	req_fail(req, e, path);
	free(req->errmsg);
	va_start(ap, fmt);
	if (vasprintf(&req->errmsg, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
}

/* Result: Bool. */
void
req_set_bool(struct req *req, int v)
{
	aiofs__v1__bool__init(&req->res.boolean);
	req->res.boolean.has_value = 1;
	req->res.boolean.value = v != 0;
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_BOOL;
	req->resp.bool_ = &req->res.boolean;
}

/* Result: Empty (success without a value). */
void
req_set_empty(struct req *req)
{
	aiofs__v1__empty__init(&req->res.empty);
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_EMPTY;
	req->resp.empty = &req->res.empty;
}

/* Result: Count. */
void
req_set_count(struct req *req, int64_t n)
{
	aiofs__v1__count__init(&req->res.count);
	req->res.count.has_count = 1;
	req->res.count.count = n;
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_COUNT;
	req->resp.count = &req->res.count;
}

/*
 * Result: Data.  buf (malloc'd, may be NULL when len is 0) becomes the
 * req's; it is sent by reference, without a copy.
 */
void
req_set_data(struct req *req, void *buf, size_t len, int eof)
{
	chunk_free(req->buf);
	req->buf = buf;
	req->buflen = len;
	req->eof = eof;
	aiofs__v1__data__init(&req->res.data);
	req->res.data.has_data = 1;
	req->res.data.data.data = buf;
	req->res.data.data.len = len;
	req->res.data.has_eof = eof != 0;
	req->res.data.eof = eof != 0;
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_DATA;
	req->resp.data = &req->res.data;
}

/*
 * Result: Data spliced into pipe p (spipe.c), followed by taillen bytes of
 * tail (malloc'd, may be NULL) that did not fit in the pipe.  Both become
 * the req's.  There is no contiguous payload: dispatch_reply() writes the
 * header and queues the pipe, and nothing may pack this Response.
 */
void
req_set_spliced(struct req *req, struct spipe *p, void *tail, size_t taillen,
    int eof)
{
	req_set_data(req, tail, taillen, eof);
	spipe_put(req->pipe);
	req->pipe = p;
	req->res.data.data.data = NULL;
	req->res.data.data.len = p->len + taillen;
}

/* Fill a StatReply from a struct stat. */
void
req_stat_fill(Aiofs__V1__StatReply *r, const struct stat *sb)
{
	aiofs__v1__stat_reply__init(r);
	r->has_mode = r->has_ino = r->has_dev = r->has_nlink = 1;
	r->has_uid = r->has_gid = r->has_size = r->has_atime_ns = 1;
	r->has_mtime_ns = r->has_ctime_ns = r->has_blocks = 1;
	r->has_blksize = r->has_rdev = 1;
	r->mode = sb->st_mode;
	r->ino = sb->st_ino;
	r->dev = sb->st_dev;
	r->nlink = sb->st_nlink;
	r->uid = sb->st_uid;
	r->gid = sb->st_gid;
	r->size = sb->st_size;
	r->atime_ns = (int64_t)sb->st_atim.tv_sec * 1000000000 +
	    sb->st_atim.tv_nsec;
	r->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 +
	    sb->st_mtim.tv_nsec;
	r->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 +
	    sb->st_ctim.tv_nsec;
	r->blocks = sb->st_blocks;
	r->blksize = sb->st_blksize;
	r->rdev = sb->st_rdev;
}

/* Result: StatReply from a struct stat. */
void
req_set_stat(struct req *req, const struct stat *sb)
{
	req_stat_fill(&req->res.stat, sb);
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_STAT;
	req->resp.stat = &req->res.stat;
}

/* Result: Path (a string copied into the arena). */
void
req_set_path(struct req *req, const char *path)
{
	aiofs__v1__path__init(&req->res.path);
	req->res.path.has_path = 1;
	req->res.path.path.data = (uint8_t *)req_strdup(req, path);
	req->res.path.path.len = strlen(path);
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_PATH;
	req->resp.path = &req->res.path;
}
