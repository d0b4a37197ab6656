/*
 * aiofs.h - libaiofs, the client library of aiofsd.
 *
 * Model (libuv's): every operation takes a caller-owned aiofs_req_t and a
 * callback.  It returns 0 when the request was queued, or a negative errno;
 * if it returns an error the callback is never called.  When the reply
 * arrives, aiofs_process() fills req->result (a value >= 0, or -errno) and
 * calls the callback.  The callback (or the caller, after it) must call
 * aiofs_req_cleanup() to free what the library allocated for the result.
 *
 * Passing a NULL callback makes the call synchronous: it waits for the
 * reply, and returns req->result (cleanup is still the caller's job).
 *
 * Driving: aiofs_fd() is the socket; wait for aiofs_events() on it with
 * any event loop (poll, epoll, libevent: see aiofs_event_attach()) and call
 * aiofs_process() when it is ready.  aiofs_run() does that until nothing is
 * pending, aiofs_wait() until one request is done.
 *
 * Callbacks may start new requests (with a callback) but must not wait:
 * aiofs_wait(), aiofs_run() and synchronous (NULL-callback) calls made
 * from inside a callback return -EDEADLK.
 *
 * A request must be zeroed (or cleaned up) before it is used again:
 * starting a call on it does not free earlier results.
 *
 * Threads: an aiofs_t and its requests belong to one thread at a time.  Use
 * one connection per thread, or serialise every call on it with your own
 * lock.  Different aiofs_t may be used from different threads freely.
 *
 * Errors: negative errno values (-ENOENT); aiofs_strerror() names them.
 * After a failed request req->errmsg and req->errpath (may be NULL) say
 * what the daemon reported.  -EPROTO means the daemon spoke wrongly and
 * -ECONNRESET that it went away: the connection is then unusable.
 */
#ifndef AIOFS_H
#define AIOFS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AIOFS_PROTOCOL_VERSION	1
#define AIOFS_VERSION		"0.1.0"

typedef struct aiofs aiofs_t;
typedef struct aiofs_req aiofs_req_t;
typedef uint64_t aiofs_file_t;		/* a handle in the daemon */
typedef void (*aiofs_cb)(aiofs_req_t *);

/* Operation codes, set in req->op. */
typedef enum {
	AIOFS_OP_NONE = 0,
	AIOFS_OP_HELLO, AIOFS_OP_PING, AIOFS_OP_CANCEL, AIOFS_OP_STATS,
	AIOFS_OP_OPEN, AIOFS_OP_READ, AIOFS_OP_READLINES, AIOFS_OP_WRITE,
	AIOFS_OP_WRITELINES, AIOFS_OP_FLUSH, AIOFS_OP_SEEK, AIOFS_OP_TELL,
	AIOFS_OP_TRUNCATE, AIOFS_OP_CLOSE, AIOFS_OP_PREAD, AIOFS_OP_PWRITE,
	AIOFS_OP_FSYNC, AIOFS_OP_FDATASYNC, AIOFS_OP_FILEINFO, AIOFS_OP_WRAP,
	AIOFS_OP_OPENFD, AIOFS_OP_READFILE, AIOFS_OP_WRITEFILE,
	AIOFS_OP_ROLLOVER,
	AIOFS_OP_STAT, AIOFS_OP_STATVFS, AIOFS_OP_SENDFILE, AIOFS_OP_RENAME,
	AIOFS_OP_RENAMES, AIOFS_OP_REPLACE, AIOFS_OP_UNLINK, AIOFS_OP_MKDIR,
	AIOFS_OP_MAKEDIRS, AIOFS_OP_RMDIR, AIOFS_OP_REMOVEDIRS, AIOFS_OP_LINK,
	AIOFS_OP_SYMLINK, AIOFS_OP_READLINK, AIOFS_OP_LISTDIR,
	AIOFS_OP_SCANDIR, AIOFS_OP_ACCESS, AIOFS_OP_GETCWD, AIOFS_OP_CHDIR,
	AIOFS_OP_CHMOD, AIOFS_OP_UTIME, AIOFS_OP_TRUNCATE_PATH,
	AIOFS_OP_COPYFILE, AIOFS_OP_RMTREE, AIOFS_OP_WALK,
	AIOFS_OP_PATHTEST, AIOFS_OP_SAMEFILE, AIOFS_OP_ABSPATH,
	AIOFS_OP_TEMPFILE,
	AIOFS_OP__MAX
} aiofs_op_t;

/* os.stat_result. */
typedef struct {
	uint32_t	 mode;
	uint64_t	 ino;
	uint64_t	 dev;
	uint64_t	 nlink;
	uint32_t	 uid;
	uint32_t	 gid;
	int64_t		 size;
	int64_t		 atime_ns;
	int64_t		 mtime_ns;
	int64_t		 ctime_ns;
	int64_t		 blocks;
	int64_t		 blksize;
	uint64_t	 rdev;
} aiofs_stat_t;

/* os.statvfs_result. */
typedef struct {
	uint64_t	 bsize, frsize, blocks, bfree, bavail;
	uint64_t	 files, ffree, favail, flag, namemax, fsid;
} aiofs_statvfs_t;

/* An os.DirEntry; stat is filled when scandir was asked for it. */
typedef struct {
	char		*name;
	uint32_t	 type;		/* DT_REG, DT_DIR, ... */
	uint64_t	 ino;
	int		 has_stat;
	aiofs_stat_t	 stat;
} aiofs_dirent_t;

/* One (dirpath, dirnames, filenames) triple of os.walk. */
typedef struct {
	char		*dirpath;
	char		**dirnames;
	size_t		 ndirnames;
	char		**filenames;
	size_t		 nfilenames;
} aiofs_walk_t;

/* What the daemon knows of an open handle (the file object's attributes). */
typedef struct {
	aiofs_file_t	 handle;
	char		*name;
	char		*mode;
	char		*encoding;	/* NULL in binary mode */
	char		*errors;
	char		*newline;	/* NULL = None */
	int		 buffering;
	int		 readable, writable, seekable, isatty, closed, text;
} aiofs_fileinfo_t;

/* Counters of aiofs_stats(). */
typedef struct {
	char		*op;
	uint64_t	 count, errors;
	double		 p50_us, p99_us, p999_us;
} aiofs_opstats_t;
typedef struct {
	double		 uptime_s;
	uint64_t	 connections_current, connections_total;
	uint64_t	 connections_rejected;
	uint64_t	 inflight, queue_depth, requests_total;
	uint64_t	 protocol_errors, bytes_in, bytes_out;
	uint64_t	 loop_completed, loop_punted;
	uint32_t	 workers, workers_busy;
	uint64_t	*loop_connections;	/* live, per event loop */
	size_t		 nloops;
	aiofs_opstats_t	*ops;
	size_t		 nops;
} aiofs_stats_t;

/* Options of aiofs_open() and the tempfile calls; NULL = Python defaults. */
typedef struct {
	int		 buffering;	/* -1 default, 0, 1, N */
	const char	*encoding;	/* NULL = UTF-8 */
	const char	*errors;	/* NULL = "strict" */
	const char	*newline;	/* NULL = None (universal) */
	int		 newline_set;	/* newline is given (even "") */
	unsigned	 perm;		/* creation mode, 0 = 0666 */
} aiofs_open_opts_t;
#define AIOFS_OPEN_OPTS_INIT { -1, NULL, NULL, NULL, 0, 0 }

typedef enum {
	AIOFS_TEMPORARY_FILE = 0,
	AIOFS_NAMED_TEMPORARY_FILE,
	AIOFS_SPOOLED_TEMPORARY_FILE,
	AIOFS_TEMPORARY_DIRECTORY,
	AIOFS_MKSTEMP,			/* kept after close */
	AIOFS_MKDTEMP			/* kept; returns its name */
} aiofs_temp_kind_t;

typedef struct {
	aiofs_temp_kind_t kind;
	const char	*mode;		/* NULL = "w+b" */
	const char	*suffix;
	const char	*prefix;	/* NULL = "tmp" */
	const char	*dir;		/* NULL = the session's tmpdir */
	int		 delete;	/* NamedTemporaryFile(delete=) */
	int		 delete_on_close;
	int64_t		 max_size;	/* SpooledTemporaryFile */
	aiofs_open_opts_t open;
} aiofs_temp_opts_t;
#define AIOFS_TEMP_OPTS_INIT { AIOFS_TEMPORARY_FILE, NULL, NULL, NULL, \
	NULL, 1, 1, 0, AIOFS_OPEN_OPTS_INIT }

/* Read kinds of aiofs_read2(). */
typedef enum {
	AIOFS_READ = 0,			/* read(size) */
	AIOFS_READ1,			/* read1(size) */
	AIOFS_READALL,			/* readall() */
	AIOFS_PEEK,			/* peek(size) */
	AIOFS_READLINE			/* readline(size) */
} aiofs_read_kind_t;

typedef enum {
	AIOFS_EXISTS = 0, AIOFS_ISFILE, AIOFS_ISDIR, AIOFS_ISLINK,
	AIOFS_ISMOUNT
} aiofs_pathtest_t;

/* Request flags (req->flags, set before the call). */
#define AIOFS_REQ_STREAM	0x01	/* call cb per part, req->more set */

/*
 * A request.  Public fields are read-only for the caller except data and
 * flags.  Results live until aiofs_req_cleanup().
 */
struct aiofs_req {
	void		*data;		/* the caller's */
	int		 flags;
	aiofs_op_t	 op;
	int64_t		 result;	/* >= 0 value, < 0 -errno */
	char		*errmsg;
	char		*errpath;
	int		 more;		/* streaming: another part follows */

	/* Results, by op. */
	aiofs_file_t	 file;		/* open, wrap, tempfile */
	aiofs_fileinfo_t info;		/* open, wrap, tempfile, fileinfo */
	char		*buf;		/* read, pread, readfile, readlink, */
	size_t		 len;		/*  getcwd, abspath, tempfile dirs */
	int		 eof;
	char		**lines;	/* readlines, listdir (NUL-ended) */
	size_t		*linelens;	/* byte length of each line */
	size_t		 nlines;
	aiofs_stat_t	 st;		/* stat */
	aiofs_statvfs_t	 vfs;		/* statvfs */
	aiofs_dirent_t	*entries;	/* scandir */
	size_t		 nentries;
	aiofs_walk_t	*walk;		/* walk */
	size_t		 nwalk;
	aiofs_stats_t	 stats;		/* stats */
	int		 fd;		/* openfd: the fd handed back, or -1 */

	/* Private. */
	aiofs_t		*priv_h;
	aiofs_cb	 priv_cb;
	uint64_t	 priv_id;
	unsigned	 priv_parts;	/* frames still expected */
	int		 priv_state;
	void		*priv_user_buf;	/* readinto destination */
	size_t		 priv_user_cap;
	size_t		 priv_bufcap;	/* allocated size of buf */
	aiofs_req_t	*priv_next;
};

/* Connection. */
const char	*aiofs_default_socket(void);
int		 aiofs_connect(aiofs_t **, const char *, const char *);
int		 aiofs_connect_start(aiofs_t **, const char *, const char *);
int		 aiofs_connect_done(aiofs_t *);
void		 aiofs_close(aiofs_t *);
int		 aiofs_fd(aiofs_t *);
int		 aiofs_events(aiofs_t *);
int		 aiofs_process(aiofs_t *, int);
int		 aiofs_run(aiofs_t *);
int		 aiofs_wait(aiofs_t *, aiofs_req_t *);
unsigned	 aiofs_pending(aiofs_t *);
const char	*aiofs_server_version(aiofs_t *);
const char	*aiofs_root(aiofs_t *);
uint32_t	 aiofs_max_chunk(aiofs_t *);
int		 aiofs_has_capability(aiofs_t *, const char *);
void		 aiofs_req_cleanup(aiofs_req_t *);
const char	*aiofs_strerror(int);
const char	*aiofs_errname(int);
int		 aiofs_cancel(aiofs_t *, aiofs_req_t *);

/* Misc. */
int		 aiofs_ping(aiofs_t *, aiofs_req_t *, aiofs_cb);
int		 aiofs_stats(aiofs_t *, aiofs_req_t *, aiofs_cb);

/* Files: aiofiles' file object and aiofile's offset API. */
int		 aiofs_open(aiofs_t *, aiofs_req_t *, const char *,
		     const char *, const aiofs_open_opts_t *, aiofs_cb);
int		 aiofs_read(aiofs_t *, aiofs_req_t *, aiofs_file_t, int64_t,
		     aiofs_cb);
int		 aiofs_read2(aiofs_t *, aiofs_req_t *, aiofs_file_t, int64_t,
		     aiofs_read_kind_t, aiofs_cb);
int		 aiofs_read1(aiofs_t *, aiofs_req_t *, aiofs_file_t, int64_t,
		     aiofs_cb);
int		 aiofs_readall(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     aiofs_cb);
int		 aiofs_readinto(aiofs_t *, aiofs_req_t *, aiofs_file_t, void *,
		     size_t, aiofs_cb);
int		 aiofs_peek(aiofs_t *, aiofs_req_t *, aiofs_file_t, int64_t,
		     aiofs_cb);
int		 aiofs_readline(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     int64_t, aiofs_cb);
int		 aiofs_readlines(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     int64_t, aiofs_cb);
int		 aiofs_write(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     const void *, size_t, aiofs_cb);
int		 aiofs_writelines(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     const char *const *, size_t, aiofs_cb);
int		 aiofs_flush(aiofs_t *, aiofs_req_t *, aiofs_file_t, aiofs_cb);
int		 aiofs_seek(aiofs_t *, aiofs_req_t *, aiofs_file_t, int64_t,
		     int, aiofs_cb);
int		 aiofs_tell(aiofs_t *, aiofs_req_t *, aiofs_file_t, aiofs_cb);
int		 aiofs_truncate(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     int64_t, aiofs_cb);
int		 aiofs_fclose(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     aiofs_cb);
int		 aiofs_pread(aiofs_t *, aiofs_req_t *, aiofs_file_t, size_t,
		     int64_t, aiofs_cb);
int		 aiofs_preadinto(aiofs_t *, aiofs_req_t *, aiofs_file_t, void *,
		     size_t, int64_t, aiofs_cb);
int		 aiofs_pwrite(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     const void *, size_t, int64_t, aiofs_cb);
int		 aiofs_fsync(aiofs_t *, aiofs_req_t *, aiofs_file_t, aiofs_cb);
int		 aiofs_fdatasync(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     aiofs_cb);
int		 aiofs_fileinfo(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     aiofs_cb);
int		 aiofs_wrap(aiofs_t *, aiofs_req_t *, int, const char *,
		     const aiofs_open_opts_t *, aiofs_cb);
int		 aiofs_openfd(aiofs_t *, aiofs_req_t *, const char *,
		     const char *, unsigned, aiofs_cb);
int		 aiofs_readfile(aiofs_t *, aiofs_req_t *, const char *, int64_t,
		     int64_t, aiofs_cb);
int		 aiofs_writefile(aiofs_t *, aiofs_req_t *, const char *,
		     const void *, size_t, int, aiofs_cb);
#define AIOFS_WRITEFILE_APPEND	0x01
#define AIOFS_WRITEFILE_ATOMIC	0x02

/* stdio: handles on the caller's fds 0, 1, 2 (text or binary). */
int		 aiofs_stdin(aiofs_t *, aiofs_req_t *, int, aiofs_cb);
int		 aiofs_stdout(aiofs_t *, aiofs_req_t *, int, aiofs_cb);
int		 aiofs_stderr(aiofs_t *, aiofs_req_t *, int, aiofs_cb);

/* os. */
int		 aiofs_stat(aiofs_t *, aiofs_req_t *, const char *, int,
		     aiofs_cb);
int		 aiofs_lstat(aiofs_t *, aiofs_req_t *, const char *, aiofs_cb);
int		 aiofs_fstat(aiofs_t *, aiofs_req_t *, aiofs_file_t, aiofs_cb);
int		 aiofs_statvfs(aiofs_t *, aiofs_req_t *, const char *,
		     aiofs_cb);
int		 aiofs_sendfile(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     aiofs_file_t, int64_t, size_t, aiofs_cb);
int		 aiofs_rename(aiofs_t *, aiofs_req_t *, const char *,
		     const char *, aiofs_cb);
int		 aiofs_renames(aiofs_t *, aiofs_req_t *, const char *,
		     const char *, aiofs_cb);
int		 aiofs_replace(aiofs_t *, aiofs_req_t *, const char *,
		     const char *, aiofs_cb);
int		 aiofs_unlink(aiofs_t *, aiofs_req_t *, const char *,
		     aiofs_cb);
int		 aiofs_remove(aiofs_t *, aiofs_req_t *, const char *,
		     aiofs_cb);
int		 aiofs_mkdir(aiofs_t *, aiofs_req_t *, const char *, unsigned,
		     aiofs_cb);
int		 aiofs_makedirs(aiofs_t *, aiofs_req_t *, const char *,
		     unsigned, int, aiofs_cb);
int		 aiofs_rmdir(aiofs_t *, aiofs_req_t *, const char *, aiofs_cb);
int		 aiofs_removedirs(aiofs_t *, aiofs_req_t *, const char *,
		     aiofs_cb);
int		 aiofs_link(aiofs_t *, aiofs_req_t *, const char *,
		     const char *, aiofs_cb);
int		 aiofs_symlink(aiofs_t *, aiofs_req_t *, const char *,
		     const char *, aiofs_cb);
int		 aiofs_readlink(aiofs_t *, aiofs_req_t *, const char *,
		     aiofs_cb);
int		 aiofs_listdir(aiofs_t *, aiofs_req_t *, const char *,
		     aiofs_cb);
int		 aiofs_scandir(aiofs_t *, aiofs_req_t *, const char *, int,
		     aiofs_cb);
int		 aiofs_access(aiofs_t *, aiofs_req_t *, const char *, int,
		     aiofs_cb);
int		 aiofs_getcwd(aiofs_t *, aiofs_req_t *, aiofs_cb);
int		 aiofs_chdir(aiofs_t *, aiofs_req_t *, const char *, aiofs_cb);
int		 aiofs_chmod(aiofs_t *, aiofs_req_t *, const char *, unsigned,
		     aiofs_cb);
int		 aiofs_utime(aiofs_t *, aiofs_req_t *, const char *,
		     const int64_t *, const int64_t *, int, aiofs_cb);
int		 aiofs_truncate_path(aiofs_t *, aiofs_req_t *, const char *,
		     int64_t, aiofs_cb);
int		 aiofs_copyfile(aiofs_t *, aiofs_req_t *, const char *,
		     const char *, aiofs_cb);
int		 aiofs_rmtree(aiofs_t *, aiofs_req_t *, const char *, aiofs_cb);
int		 aiofs_walk(aiofs_t *, aiofs_req_t *, const char *, int,
		     aiofs_cb);

/* os.path. */
int		 aiofs_pathtest(aiofs_t *, aiofs_req_t *, const char *,
		     aiofs_pathtest_t, aiofs_cb);
int		 aiofs_exists(aiofs_t *, aiofs_req_t *, const char *, aiofs_cb);
int		 aiofs_isfile(aiofs_t *, aiofs_req_t *, const char *, aiofs_cb);
int		 aiofs_isdir(aiofs_t *, aiofs_req_t *, const char *, aiofs_cb);
int		 aiofs_islink(aiofs_t *, aiofs_req_t *, const char *, aiofs_cb);
int		 aiofs_ismount(aiofs_t *, aiofs_req_t *, const char *,
		     aiofs_cb);
int		 aiofs_samefile(aiofs_t *, aiofs_req_t *, const char *,
		     const char *, aiofs_cb);
int		 aiofs_sameopenfile(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     aiofs_file_t, aiofs_cb);
int		 aiofs_abspath(aiofs_t *, aiofs_req_t *, const char *,
		     aiofs_cb);
/* getsize/getatime/getmtime/getctime: aiofs_stat() and read req->st. */

/* tempfile. */
int		 aiofs_tempfile(aiofs_t *, aiofs_req_t *,
		     const aiofs_temp_opts_t *, aiofs_cb);
int		 aiofs_rollover(aiofs_t *, aiofs_req_t *, aiofs_file_t,
		     aiofs_cb);

/*
 * aiofile-style helpers, all asynchronous: each call starts one request
 * and its callback receives the chunk (req->buf/len, req->eof).
 */
typedef struct {
	aiofs_t		*h;
	aiofs_file_t	 file;
	int64_t		 offset;
	size_t		 chunk_size;
} aiofs_reader_t;
void		 aiofs_reader_init(aiofs_reader_t *, aiofs_t *, aiofs_file_t,
		     int64_t, size_t);
int		 aiofs_reader_next(aiofs_reader_t *, aiofs_req_t *, aiofs_cb);

typedef struct {
	aiofs_t		*h;
	aiofs_file_t	 file;
	int64_t		 offset;
} aiofs_writer_t;
void		 aiofs_writer_init(aiofs_writer_t *, aiofs_t *, aiofs_file_t,
		     int64_t);
int		 aiofs_writer_write(aiofs_writer_t *, aiofs_req_t *,
		     const void *, size_t, aiofs_cb);

typedef struct {
	aiofs_t		*h;
	aiofs_file_t	 file;
	int64_t		 offset;
	size_t		 chunk_size;
	char		*sep;
	size_t		 seplen;
	char		*pending;	/* bytes read, no separator yet */
	size_t		 npending;
	int		 eof;
	/* Private: the line being delivered. */
	aiofs_req_t	*priv_req;
	aiofs_cb	 priv_cb;
	aiofs_req_t	 priv_chunk;
} aiofs_linereader_t;
int		 aiofs_linereader_init(aiofs_linereader_t *, aiofs_t *,
		     aiofs_file_t, int64_t, size_t, const char *);
int		 aiofs_linereader_next(aiofs_linereader_t *, aiofs_req_t *,
		     aiofs_cb);
void		 aiofs_linereader_free(aiofs_linereader_t *);

/* Async line iteration over a handle: cb once per line, eof at the end. */
int		 aiofs_lines(aiofs_t *, aiofs_req_t *, aiofs_file_t, aiofs_cb);

/* libevent helper (aiofs-event.c): drive h from an event_base. */
struct event_base;
struct event;
struct event	*aiofs_event_attach(aiofs_t *, struct event_base *);
void		 aiofs_event_detach(struct event *);

#ifdef __cplusplus
}
#endif

#endif /* AIOFS_H */
