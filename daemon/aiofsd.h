/*
 * aiofsd.h - private declarations of the aiofsd daemon.
 *
 * One section per source file, as tmux.h does.  Everything that touches a
 * struct conn, struct session or the handle table runs on the thread of
 * the loop that owns the connection (loop.c); workers only ever see the
 * struct req they were handed (see pool.c).
 */
#ifndef AIOFSD_H
#define AIOFSD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>
#include <event2/buffer.h>

#include "aiofs.pb-c.h"
#include "idmap.h"

#define AIOFSD_VERSION		"0.1.0"
#define AIOFS_PROTOCOL_VERSION	1

#define AIOFS_MAX_MSG		(16U * 1024 * 1024)	/* default --max-frame */
#define AIOFS_MIN_MSG		(1024U * 1024)	/* listings need ~600 KiB */
#define AIOFS_MAX_CHUNK		(1U * 1024 * 1024)	/* data per reply, at most */
#define AIOFS_MAX_INFLIGHT	256
#define AIOFS_OUT_HIWAT		(4U * 1024 * 1024)	/* stop reading above */
#define AIOFS_OUT_LOWAT		(1U * 1024 * 1024)	/* resume below */
#define AIOFS_BULK_MIN		(256U * 1024)	/* a Data chunk this big... */
#define AIOFS_BULK_SNDBUF	(4 * 1024 * 1024)	/* ...enlarges SO_SNDBUF */
#define AIOFS_SPLICE_MIN	(64U * 1024)	/* splice Data chunks this big */
#define AIOFS_SPLICE_PIPES	64		/* --splice-pipes */
#define AIOFS_MAX_HANDLES	1024
#define AIOFS_MAX_CONNS		4096		/* --max-connections */
#define AIOFS_MAX_CONNS_UID	1024		/* per peer uid */
#define AIOFS_MAX_INFLIGHT_ALL	16384		/* all connections */
#define AIOFS_MEM_BUDGET	(64U * 1024 * 1024)	/* per connection */
#define AIOFS_HELLO_SECS	10		/* handshake deadline */
#define AIOFS_FRAME_SECS	30		/* partial frame deadline */
#define AIOFS_MAX_PASSED_FDS	64		/* queued each way */
#define AIOFS_LIST_BATCH	1024		/* names per listdir frame */
#define AIOFS_MAX_LOOPS		64		/* --loops */

typedef Aiofs__V1__Request	Request;
typedef Aiofs__V1__Response	Response;

struct conn;
struct req;
struct spipe;
struct hfile;
struct arena;
struct session;

/* Per-peer policy: from the command line or the config file. */
struct policy {
	char		*root;		/* host path of the root */
	int		 rootfd;	/* opened once at start-up */
	int		 read_only;
	int		 strict_paths;	/* RESOLVE_BENEATH, not IN_ROOT */
	int		 allow_fd_passing;
	int		 root_local;	/* root on a local fs (fast.c) */
	char		*tmpdir;	/* inside the root; NULL = /tmp */
	unsigned	 max_inflight;
	unsigned	 max_handles;
	int		 keyed;		/* from a [uid:N]/[gid:N] section */
	int		 is_uid;
	uint32_t	 id;
};
struct policies {
	struct policy	*v;
	size_t		 n;
};
extern struct policies	 policies;

/* Global daemon options. */
struct options {
	char		*socket_path;
	int		 workers;
	unsigned	 loops;		/* event loop threads */
	int		 foreground;
	int		 verbose;
	uint32_t	 max_frame;
	size_t		 max_chunk;	/* data per reply: fits max_frame */
	unsigned	 max_conns;
	unsigned	 max_conns_per_uid;
	unsigned	 max_inflight_all;
	unsigned	 max_busy;	/* a conn's reqs on workers at once */
	unsigned	 hello_secs;
	unsigned	 frame_secs;
	size_t		 mem_budget;
	unsigned	 splice_pipes;	/* pipe pool size; 0 = no splice */
	int		 reject_unknown;
	int		 impersonate;
	int		 fast_path;	/* loop tries cheap ops (fast.c) */
	char		*config;
	struct policy	 policy;	/* default policy */
};
extern struct options	 opts;

/* config.c */
int		 config_load(const char *, struct options *, char *, size_t);
int		 policy_set(struct policy *, const char *, const char *);
int		 policy_open_root(struct policy *, char *, size_t);
int		 policies_open(char *, size_t);
const struct policy *policy_lookup(uid_t, gid_t);
void		 policy_free(struct policy *);
void		 policies_free(void);
void		 config_print(FILE *);

/* creds.c */
int		 creds_init(void);
void		 creds_lookup(uid_t, gid_t, gid_t **, int *);
int		 creds_enter(const struct session *);
void		 creds_leave(void);

/* log.c */
void		 log_open(const char *, int, int);
void		 log_close(void);
void		 log_escape(const char *, char *, size_t);
void		 log_debug(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_warn(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void
		 fatal(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void
		 fatalx(const char *, ...)
		     __attribute__((format(printf, 1, 2)));

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
void		*xmemdup(const void *, size_t);
int		 xasprintf(char **, const char *, ...)
		     __attribute__((format(printf, 2, 3)));

/* errmap.c */
const char	*errmap_name(int);
int		 errmap_value(const char *);
const char	*errmap_message(int);

/* frame.c */
enum frame_status {
	FRAME_OK,
	FRAME_INCOMPLETE,
	FRAME_TOO_LARGE
};
enum frame_status frame_peek(const uint8_t *, size_t, uint32_t, uint32_t *);
enum frame_status frame_next(struct evbuffer *, uint32_t, const uint8_t **,
		     size_t *);
void		 frame_put_header(uint8_t *, uint32_t);
int		 frame_write(struct evbuffer *, const Response *);
#define FRAME_DATA_HDR_MAX	64	/* frame_data_header() writes less */
size_t		 frame_data_header(uint8_t *, uint64_t, int, size_t, int);
int		 frame_write_data(struct evbuffer *, uint64_t, int, void *,
		     size_t, int, void (*)(const void *, size_t, void *),
		     void *);

/* fast.c: the loop's non-blocking first attempt. */
#define FAST_MAX_IO	(64 * 1024)	/* most the loop reads for a req */
extern __thread int fast_nowait;
int		 fast_fs_local(int);
void		 fast_punt(void);
ssize_t		 fast_pread(int, void *, size_t, off_t);
int		 fast_try(struct req *);
int		 fast_file_ok(const struct hfile *);

/* pool.c: the worker pool.  Lock order: never hold both queue locks. */
struct poolq {				/* one connection's waiting reqs */
	TAILQ_HEAD(, req) reqs;		/* all fields: under wq_mutex */
	unsigned	 running;
	int		 linked;	/* on the ready list */
	int		 throttled;	/* output full: take nothing */
	TAILQ_ENTRY(poolq) entry;
};
void		 pool_queue_init(struct poolq *);
void		 pool_throttle(struct poolq *, int);
int		 pool_start(int);
void		 pool_stop(void);
void		 pool_submit(struct req *);
void		 pool_done(struct req *);
int		 pool_cancel(struct req *);
void		 pool_interrupt(struct req *);
int		 pool_cancelled(void);
unsigned	 pool_busy(void);
unsigned	 pool_queued(void);
int		 pool_size(void);

/* spipe.c: pooled pipes that carry file pages to sockets (splice). */
struct spipe {
	int		 rfd;		/* read end: the loop splices it out */
	int		 wfd;		/* write end: a worker splices in */
	size_t		 len;		/* bytes in the pipe */
	uint64_t	 at;		/* queued: stream offset of next byte */
	uint64_t	 idle_ns;	/* free: when it was put back */
	TAILQ_ENTRY(spipe) entry;	/* free list, or conn->outpipes */
};
void		 spipe_init(unsigned, size_t);
struct spipe	*spipe_get(void);
void		 spipe_put(struct spipe *);
ssize_t		 spipe_fill(struct spipe *, int, int64_t *, size_t, int *);
ssize_t		 spipe_send(struct spipe *, int);
void		 spipe_sweep(void);
void		 spipe_free_all(void);

/* resolve.c: every path goes through here. */
/*
 * A session is immutable once made: chdir makes a new one and the conn
 * swaps it in, so a worker may read the session its req holds without a
 * lock.  References are taken and dropped on the loop thread only.
 */
struct session {
	int		 refs;
	int		 rootfd;	/* the policy's; not owned */
	const char	*root;		/* host path, for HelloReply */
	char		*cwd;		/* "/..." relative to the root */
	int		 resolve;	/* RESOLVE_* flags */
	const struct policy *pol;
	int		 impersonate;	/* run ops as uid/gid/groups */
	uid_t		 uid;
	gid_t		 gid;
	gid_t		*groups;	/* owned */
	int		 ngroups;
};
struct session	*session_new(const struct policy *, const char *);
struct session	*session_chdir(const struct session *, const char *);
struct session	*session_ref(struct session *);
void		 session_unref(struct session *);
int		 resolve_check_openat2(void);
int		 resolve_check_cached(void);
int		 resolve_path(struct req *, const ProtobufCBinaryData *,
		     char **);
int		 resolve_open(struct req *, const char *, int, mode_t);
int		 resolve_parent(struct req *, const char *, const char **);
int		 resolve_stat(struct req *, const char *, int, struct stat *);
int		 resolve_join(const char *, const char *, char **);
int		 resolve_normalize(const char *, const char *, char **);
int		 resolve_name_ok(const char *);

/* handle.c: per-connection table of typed, generation-checked handles. */
enum handle_type {
	HANDLE_FREE = 0,
	HANDLE_FILE,
	HANDLE_DIR
};
struct handle {
	enum handle_type type;
	uint32_t	 gen;
	int		 busy;		/* a req is running on it */
	int		 closing;	/* close queued: refuse new ops */
	TAILQ_HEAD(, req) waitq;	/* per-handle FIFO */
	struct hfile	*f;
};
struct handle_table {
	struct handle	*slots;
	uint32_t	 nslots;
	uint32_t	 used;
	uint32_t	 max;
};
void		 handle_table_init(struct handle_table *, uint32_t);
void		 handle_table_free(struct handle_table *);
int		 handle_alloc(struct handle_table *, enum handle_type,
		     struct hfile *, uint64_t *);
struct handle	*handle_get(struct handle_table *, uint64_t,
		     enum handle_type);
void		 handle_release(struct handle_table *, uint64_t);

/* req.c: a request owns everything it carries. */
enum req_state {
	REQ_NEW,
	REQ_WAITING,		/* on its handle's FIFO */
	REQ_QUEUED,		/* on the pool's submit queue */
	REQ_RUNNING,
	REQ_DONE
};

/* Storage for every possible result, filled by the worker. */
union req_result {
	Aiofs__V1__HelloReply	 hello;
	Aiofs__V1__Empty	 empty;
	Aiofs__V1__FileReply	 file;
	Aiofs__V1__Data		 data;
	Aiofs__V1__Lines	 lines;
	Aiofs__V1__Count	 count;
	Aiofs__V1__StatReply	 stat;
	Aiofs__V1__StatvfsReply	 statvfs;
	Aiofs__V1__Bool		 boolean;
	Aiofs__V1__Names	 names;
	Aiofs__V1__DirEntries	 entries;
	Aiofs__V1__WalkReply	 walk;
	Aiofs__V1__Path		 path;
	Aiofs__V1__StatsReply	 stats;
};

struct req {
	uint64_t	 id;
	struct conn	*conn;
	struct session	*sess;
	const struct op	*op;
	Request		*msg;		/* unpacked; owned */
	enum req_state	 state;
	int		 cancelled;
	int		 internal;	/* made by the daemon: no reply */

	uint64_t	 hid;		/* handle id, if op has one */
	struct hfile	*f;		/* the handle's file (FIFO-owned) */
	int		 fd;		/* fd received (Wrap) or to send, */
	int		 fd2;		/*  or dups of handles' fds */

	/* Filled by the worker. */
	int		 error;		/* errno, 0 = success */
	char		*errpath;	/* owned copy, may be NULL */
	char		*errmsg;	/* owned, overrides strerror */
	int		 more;		/* another chunk follows */
	void		*cursor;	/* op-private state across chunks */
	void		(*cursor_free)(void *);
	Response	 resp;
	union req_result res;
	Aiofs__V1__Error err;
	void		*buf;		/* owned payload (data replies) */
	size_t		 buflen;
	struct spipe	*pipe;		/* spliced payload, before buf */
	int		 eof;		/* data replies: EOF reached */
	struct arena	*arena;		/* result allocations, per chunk */
	size_t		 inl_used;	/* first allocations go inline */
	union {
		max_align_t	 align;
		char		 b[512];
	} inl;
	struct session	*newsess;	/* chdir: replaces conn->sess */

	uint64_t	 start_ns;
	pthread_t	 worker;	/* valid while REQ_RUNNING */
	int		 pool_held;	/* done, still holds its pool slot */
	TAILQ_ENTRY(req) qentry;	/* pool queue or handle waitq */
	TAILQ_ENTRY(req) centry;	/* conn->reqs */
};

struct req	*req_new(struct conn *, Request *);
char		*chunk_alloc(size_t);
void		 chunk_free(void *);
void		*req_alloc(struct req *, size_t);
char		*req_strdup(struct req *, const char *);
void		*req_memdup(struct req *, const void *, size_t);
int		 req_free(struct req *);
void		 req_chunk_reset(struct req *);
void		 req_fail(struct req *, int, const char *);
void		 req_failmsg(struct req *, int, const char *, const char *,
		     ...) __attribute__((format(printf, 4, 5)));
void		 req_set_bool(struct req *, int);
void		 req_set_empty(struct req *);
void		 req_set_count(struct req *, int64_t);
void		 req_set_data(struct req *, void *, size_t, int);
void		 req_set_spliced(struct req *, struct spipe *, void *, size_t,
		     int);
void		 req_stat_fill(Aiofs__V1__StatReply *, const struct stat *);
void		 req_set_stat(struct req *, const struct stat *);
void		 req_set_path(struct req *, const char *);

/* dispatch.c: the handler table and policy. */
#define OP_WRITES	0x01	/* refused under --read-only */
#define OP_HANDLE	0x02	/* carries a file handle: per-handle FIFO */
#define OP_INLINE	0x04	/* cheap: run on the loop thread */
#define OP_NOHELLO	0x08	/* allowed before Hello */
#define OP_FDPASS	0x10	/* needs allow_fd_passing */
#define OP_DIRHANDLE	0x20	/* its handle may be a directory */
#define OP_ABORTABLE	0x40	/* no side effects: interrupt if orphaned */
#define OP_FAST		0x80	/* may complete on the loop (fast.c) */
struct op {
	const char	*name;
	int		 op_case;
	void		(*work)(struct req *);
	int		 (*check)(struct req *);
	int		 flags;
};
const struct op	*dispatch_lookup(int);
const struct op	*dispatch_table(size_t *);
int		 dispatch_request(struct conn *, Request *);
void		 dispatch_complete(struct req *);
void		 dispatch_close_handle(struct conn *, uint64_t);
uint64_t	 dispatch_handle_of(const Request *);
int		 dispatch_fast_ok(struct req *);

/* conn.c: one client connection. */
#define CONN_HELLO	0x01	/* handshake done */
#define CONN_DEAD	0x02	/* lost: no more I/O */
#define CONN_BAD	0x04	/* protocol error: flush and drop */
#define CONN_RPAUSED	0x08	/* reading paused (backpressure) */
#define CONN_FLUSHQ	0x20	/* on the flush list */
#define CONN_THROTTLED	0x40	/* its pool queue is throttled */
#define CONN_BULK	0x80	/* socket buffer enlarged for bulk data */
struct cleanup {
	struct cleanup	*next;
	int		 dirfd;
	char		*name;
	int		 is_dir;
};
struct fdq {
	uint64_t	 at;	/* stream offset the fd belongs to */
	int		 fd;
};
struct conn {
	struct loop	*loop;		/* owner: runs everything of conn */
	int		 fd;
	int		 flags;
	int		 refs;
	uint64_t	 serial;
	pid_t		 pid;
	uid_t		 uid;
	gid_t		 gid;
	struct session	*sess;
	struct event	*ev_read;
	struct event	*ev_write;
	struct evbuffer	*in;
	struct evbuffer	*out;
	uint64_t	 out_written;	/* bytes sent so far */
	uint64_t	 out_queued;	/* bytes ever queued */
	TAILQ_HEAD(, spipe) outpipes;	/* spliced segments of the output */
	size_t		 out_piped;	/* bytes in outpipes */
	struct fdq	 sendfds[AIOFS_MAX_PASSED_FDS];
	int		 nsendfds;
	int		 recvfds[AIOFS_MAX_PASSED_FDS];
	int		 nrecvfds;
	unsigned	 inflight;
	unsigned	 max_inflight;
	struct poolq	 pq;		/* reqs waiting for a worker */
	size_t		 mem;		/* budgeted bytes (atomic) */
	ProtobufCAllocator pb_alloc;	/* counts decoding into mem */
	uint64_t	 accepted_ns;
	uint64_t	 partial_ns;	/* a partial frame began, or 0 */
	struct aiofs__idmap ids;	/* id -> struct req */
	struct handle_table handles;
	TAILQ_HEAD(, req) reqs;		/* every live req */
	struct cleanup	*cleanups;	/* removed when the conn is freed */
	TAILQ_ENTRY(conn) entry;
	TAILQ_ENTRY(conn) fentry;	/* flush list */
};
TAILQ_HEAD(conns, conn);
struct conn	*conn_new(struct loop *, int);
void		 conn_ref(struct conn *);
void		 conn_unref(struct conn *);
void		 conn_lost(struct conn *, const char *);
void		 conn_bad(struct conn *, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
int		 conn_send(struct conn *, const Response *);
void		 conn_send_pipe(struct conn *, struct spipe *);
void		 conn_send_fd(struct conn *, int);
int		 conn_take_fd(struct conn *);
void		 conn_kick(struct conn *);
void		 conn_bulk(struct conn *, size_t);
void		 conn_output_check(struct conn *);
void		 conn_update_read(struct conn *);
int		 conn_mem_charge(struct conn *, size_t);
void		 conn_mem_release(struct conn *, size_t);
void		 conn_sweep(struct loop *);
void		 conn_resume_all(struct loop *);
void		 conn_interrupt(struct conn *);
void		 conn_flush_all(struct loop *);

/* loop.c: the event loops; each owns the connections given to it. */
struct loop_stats {			/* relaxed atomics, summed by Stats */
	uint64_t	 requests;
	uint64_t	 protocol_errors;
	uint64_t	 bytes_in;
	uint64_t	 bytes_out;
	uint64_t	 loop_done;	/* completed by the loop's attempt */
	uint64_t	 loop_punted;	/* tried there, went to a worker */
};
struct stats_op;
TAILQ_HEAD(reqlist, req);
#define LOOP_MAIL_STOP		0x1	/* shut down (from loop 0) */
#define LOOP_MAIL_RESUME	0x2	/* the in-flight limit eased */
struct loop {
	unsigned	 idx;
	struct event_base *base;
	pthread_t	 thread;
	int		 running;	/* its thread was started */
	struct conns	 conns;		/* live; changed under conns_mutex */
	struct conns	 dead;		/* lost, requests still running */
	TAILQ_HEAD(, conn) flush;	/* kicked during this batch */
	unsigned	 nlive;		/* conns on the list (atomic) */
	unsigned	 ngiven;	/* sockets in newfds (atomic) */
	unsigned	 nalloc;	/* conns not yet freed (atomic) */
	struct loop_stats st;
	struct stats_op	*ops;		/* per-op counts (stats.c) */
	int		 stopping;	/* it has begun shutting down */
	int		 efd;		/* eventfd: there is mail */
	struct event	*wake_ev;
	struct event	*sweep_ev;
	struct event	*drain_ev;

	/* Mail from other threads: all under mutex. */
	pthread_mutex_t	 mutex;
	int		 posted;	/* efd written since the last take */
	struct reqlist	 doneq;		/* finished by workers */
	int		*newfds;	/* accepted sockets */
	size_t		 nnewfds;
	size_t		 capnewfds;
	int		 mail;		/* LOOP_MAIL_* */
};
extern struct loop	*loops;
extern unsigned		 nloops;
extern __thread struct loop *loop_self;
extern pthread_mutex_t	 conns_mutex;
#define LOOP_STAT(f, n) \
	__atomic_add_fetch(&loop_self->st.f, (n), __ATOMIC_RELAXED)
int		 loop_init(unsigned);
int		 loop_start(void);
void		 loop_run(void);
void		 loop_finish(void);
void		 loop_free(void);
void		 loop_give(int);
void		 loop_post_done(struct req *);
void		 loop_stop_all(void);
void		 loop_resume_all(void);
unsigned	 loop_default(void);

/* server.c */
int		 server_listen(const char *);
int		 server_adopt(int);
void		 server_shutdown(void);
void		 server_close_listener(void);
void		 server_drain(struct loop *);
extern int	 server_stopping;	/* atomic */
extern uint64_t	 server_drain_start;

/* stats.c */
struct stats_global {			/* shared by the loops: atomics */
	uint64_t	 start_ns;
	uint64_t	 conns_current;
	uint64_t	 conns_total;
	uint64_t	 conns_rejected;
	uint64_t	 conns_alloc;	/* structs not yet freed */
	uint64_t	 inflight;
};
extern struct stats_global stats;
#define STAT_ADD(f, n)	__atomic_add_fetch(&stats.f, (n), __ATOMIC_RELAXED)
#define STAT_GET(f)	__atomic_load_n(&stats.f, __ATOMIC_RELAXED)
struct stats_op	*stats_ops_new(void);
uint64_t	 stats_now_ns(void);
void		 stats_record(int, int, uint64_t);
void		 stats_fill(Aiofs__V1__StatsReply *, struct req *);

/* ops_misc.c: hello, ping, cancel, stats (inline ops). */
void		 ops_hello_work(struct req *);
void		 ops_ping_work(struct req *);
void		 ops_cancel_work(struct req *);
void		 ops_stats_work(struct req *);

/* mode.c: Python open() mode strings. */
struct fmode {
	int		 oflags;	/* O_RDONLY/O_WRONLY/O_RDWR|O_CREAT... */
	int		 readable;
	int		 writable;
	int		 append;
	int		 text;		/* 't' or no 'b' */
	int		 create;	/* 'x', 'w', 'a' */
	int		 excl;		/* 'x' */
	int		 trunc;		/* 'w' */
	char		 canon[8];	/* normalised mode string */
};
int		 mode_parse(const char *, struct fmode *);

/* textio.c: text-mode decoding and encoding for one handle. */
enum text_errors {
	TEXT_STRICT = 0,
	TEXT_REPLACE,
	TEXT_IGNORE
};
enum text_newline {
	NL_NONE = 0,		/* newline=None: universal in, '\n' out */
	NL_EMPTY,		/* newline='': universal in, untranslated */
	NL_LF,			/* newline='\n' */
	NL_CR,			/* newline='\r' */
	NL_CRLF			/* newline='\r\n' */
};
struct textio;
int		 textio_parse_errors(const char *, enum text_errors *);
int		 textio_parse_newline(const char *, int, enum text_newline *);
struct textio	*textio_new(const char *, enum text_errors, enum text_newline);
void		 textio_free(struct textio *);
void		 textio_reset(struct textio *);
int		 textio_feed(struct textio *, const void *, size_t, int);
int		 textio_take(struct textio *, ssize_t, int, char **, size_t *);
int		 textio_take_line(struct textio *, ssize_t, int, char **,
		     size_t *, int *);
int		 textio_encode(struct textio *, const void *, size_t, char **,
		     size_t *);
int64_t		 textio_pending_raw(struct textio *);
size_t		 textio_buffered(struct textio *);
const char	*textio_encoding(struct textio *);

/* ops_file.c: open files and everything done through their handles. */
#define HFILE_SPOOL_MAX	(64U * 1024 * 1024)
struct hfile {
	int		 fd;		/* -1 while spooled in memory */
	struct fmode	 mode;
	char		*name;		/* as the client named it */
	int		 buffering;
	int		 seekable;
	int		 isatty;
	int		 closed;
	int		 sticky_error;	/* fsync/writeback error */
	struct textio	*text;
	enum text_errors errors;
	enum text_newline newline;
	int		 newline_set;
	char		*encoding_name;

	/* Read-ahead: bytes [rpos, rlen) of rbuf precede the fd offset. */
	uint8_t		*rbuf;
	size_t		 rcap;
	size_t		 rpos;
	size_t		 rlen;
	int		 reof;

	/* Write buffer (buffered binary / text). */
	uint8_t		*wbuf;
	size_t		 wcap;
	size_t		 wlen;

	/* tempfile: what to undo on close. */
	int		 del_dirfd;	/* parent dir of a named temp file */
	char		*del_name;	/* unlink on close */
	int		 is_tempdir;	/* rmtree del_name on close */
	int		 del_at_exit;	/* remove at disconnect, not close */
	int		 spooled;	/* SpooledTemporaryFile */
	uint8_t		*spool;		/* in-memory contents */
	size_t		 spool_len;
	size_t		 spool_cap;
	size_t		 spool_pos;
	size_t		 spool_max;
	int		 spool_dirfd;	/* O_PATH dir to roll over into */
	struct conn	*owner;		/* spool bytes are charged to it */
	int		 local;		/* on a local fs: fast.c may read */
};
struct hfile	*hfile_new(int, const struct fmode *, const char *);
void		 hfile_free(struct hfile *);
int		 hfile_flush(struct hfile *);
int		 hfile_unread(struct hfile *);
int		 hfile_close(struct hfile *);
void		 hfile_fill_reply(struct hfile *, uint64_t,
		     Aiofs__V1__FileReply *, struct req *);
int		 hfile_setup(struct req *, struct hfile *, int, const char *,
		     const char *, int, const char *);
ssize_t		 hfile_raw_write(struct hfile *, const void *, size_t);
void		 ops_file_open_work(struct req *);
void		 ops_file_read_work(struct req *);
void		 ops_file_readlines_work(struct req *);
void		 ops_file_write_work(struct req *);
void		 ops_file_writelines_work(struct req *);
void		 ops_file_flush_work(struct req *);
void		 ops_file_seek_work(struct req *);
void		 ops_file_tell_work(struct req *);
void		 ops_file_truncate_work(struct req *);
void		 ops_file_close_work(struct req *);
void		 ops_file_pread_work(struct req *);
void		 ops_file_pwrite_work(struct req *);
void		 ops_file_fsync_work(struct req *);
void		 ops_file_fdatasync_work(struct req *);
void		 ops_file_info_work(struct req *);
void		 ops_file_wrap_work(struct req *);
void		 ops_file_openfd_work(struct req *);
void		 ops_file_readfile_work(struct req *);
void		 ops_file_writefile_work(struct req *);
int		 ops_file_open_check(struct req *);
int		 ops_file_openfd_check(struct req *);

/* ops_os.c: os.* on paths. */
void		 ops_os_stat_work(struct req *);
void		 ops_os_statvfs_work(struct req *);
void		 ops_os_sendfile_work(struct req *);
void		 ops_os_rename_work(struct req *);
void		 ops_os_renames_work(struct req *);
void		 ops_os_replace_work(struct req *);
void		 ops_os_unlink_work(struct req *);
void		 ops_os_mkdir_work(struct req *);
void		 ops_os_makedirs_work(struct req *);
void		 ops_os_rmdir_work(struct req *);
void		 ops_os_removedirs_work(struct req *);
void		 ops_os_link_work(struct req *);
void		 ops_os_symlink_work(struct req *);
void		 ops_os_readlink_work(struct req *);
void		 ops_os_listdir_work(struct req *);
void		 ops_os_scandir_work(struct req *);
void		 ops_os_access_work(struct req *);
void		 ops_os_getcwd_work(struct req *);
void		 ops_os_chdir_work(struct req *);
void		 ops_os_chmod_work(struct req *);
void		 ops_os_utime_work(struct req *);
void		 ops_os_truncate_work(struct req *);
void		 ops_os_copyfile_work(struct req *);
void		 ops_os_rmtree_work(struct req *);
void		 ops_os_walk_work(struct req *);
int		 ops_os_rmtree_at(int, const char *);

/* ops_path.c: os.path.* */
void		 ops_path_test_work(struct req *);
void		 ops_path_samefile_work(struct req *);
void		 ops_path_abspath_work(struct req *);

/* ops_temp.c: tempfile.* */
void		 ops_temp_work(struct req *);
void		 ops_temp_rollover_work(struct req *);
int		 ops_temp_check(struct req *);
int		 ops_temp_spool_rollover(struct hfile *);

#endif /* AIOFSD_H */
