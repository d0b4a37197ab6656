/*
 * ops_os.c - os.* on paths: stat, mkdir, rename, listdir, rmtree, walk ...
 *
 * Every *_work() runs on a worker thread and touches only its req and the
 * filesystem.  Paths go through resolve.c: objects are opened from the
 * session root with openat2() (resolve_open), and operations on a name act
 * on the validated last component relative to an O_PATH fd of its parent
 * (resolve_parent, then the *at() call).  No path-taking syscall is ever
 * given AT_FDCWD or a host path.
 *
 * Symlinks: the host kernel must never follow a client's symlink outside
 * openat2's confinement, so a *at() call on a name that might be a symlink
 * never follows it.  Where Python follows (stat, chmod, utime, access,
 * truncate, statvfs) the object is opened with resolve_open(O_PATH), which
 * follows symlinks inside the root, and the call acts on that fd with
 * AT_EMPTY_PATH.  The same trick serves their no_follow forms (O_PATH |
 * O_NOFOLLOW), which also makes them work on "." and the root, which have
 * no parent+name.  os.link() follows a symlink source in Python; here it
 * links the symlink itself (linkat flags 0), because following it with
 * AT_SYMLINK_FOLLOW would resolve it on the host.
 *
 * Multi-part replies (listdir, scandir, walk) keep their iteration state in
 * req->cursor and produce at most AIOFS_LIST_BATCH names per call; the core
 * sends each chunk, resets the arena and calls the work function again
 * while req->more is set.
 */
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2	452		/* Linux 6.6, same on every arch */
#endif

#define OS_MODE_MAX	07777
#define OS_COPY_CHUNK	(1U << 30)	/* per copy_file_range/sendfile */
#define OS_COPY_BUF	(128U * 1024)	/* read/write fallback */
#define OS_SENDFILE_MAX	0x7ffff000	/* the kernel's per-call limit */
#define OS_WALK_BYTES	(AIOFS_MAX_CHUNK / 2)	/* payload per walk chunk */
#define OS_CANCEL_EVERY	1024		/* entries between cancel checks */

/* A name to act on: an O_PATH fd of its parent and the last component. */
struct os_name {
	int		 dirfd;
	const char	*name;		/* validated: not "", ".", ".." */
	const char	*rel;		/* root-relative, as resolved */
	const char	*cpath;		/* as the client sent it */
	int		 slash;		/* had a trailing '/': a directory */
};

/* Acts on a resolved name; 0 or -1 with errno set.  May set a result. */
typedef int	(*os_at_fn)(struct req *, struct os_name *, void *);

/* listdir/scandir iteration state, kept in req->cursor. */
struct os_dir {
	DIR		*dir;
	int		 error;		/* readdir failure */
	int		 peeked;	/* peek holds the next entry */
	ino_t		 peek_ino;
	unsigned char	 peek_type;
	char		 peek_name[NAME_MAX + 1];
};

/* One entry of a listdir/scandir batch; name lives in the arena. */
struct os_ent {
	char		*name;
	size_t		 len;
	ino_t		 ino;
	unsigned char	 type;
};

/* rmtree: one open directory on the walk stack. */
struct rmtree_frame {
	DIR		*dir;
	char		*name;		/* in the parent */
	char		*path;		/* from the top; NULL = the top */
	size_t		 removed;	/* entries removed in this pass */
};

/* rmtree: the walk stack and the first error met. */
struct rmtree {
	struct rmtree_frame *st;
	size_t		 n;
	size_t		 cap;
	const int	*cancelled;
	int		 error;
	char		*errpath;	/* from the top; NULL = the top */
	const char	*errmsg;	/* static, or NULL for strerror */
};

/* walk: one directory, to scan or (once scanned) to report. */
struct walk_dir {
	char		*dirpath;	/* as os.walk yields it */
	char		*rel;		/* root-relative, for resolve_open */
	int		 top;
	int		 scanned;
	int		 sent;		/* a WalkEntry for it went out */
	char		**dirs;
	unsigned char	*dirlink;	/* dirs[i] is a symlink: not walked */
	size_t		 ndirs;
	size_t		 dirscap;
	char		**files;
	size_t		 nfiles;
	size_t		 filescap;
	size_t		 emitted;	/* names sent so far, dirs first */
};

/* walk: the stack of directories, kept in req->cursor. */
struct walk {
	struct walk_dir	**st;
	size_t		 n;
	size_t		 cap;
	int		 bottom_up;
};

/* The connection serial for log lines (0 outside a connection). */
static unsigned long long
os_serial(struct req *req)
{
	return (req->conn != NULL ? (unsigned long long)req->conn->serial : 0);
}

/* log_info a mutation: "conn N id M: what path [-> path2]". */
static void
os_log(struct req *req, const char *what, const char *p1, const char *p2)
{
	/* log.c escapes what the client sent. */
	if (p2 == NULL) {
		log_info("conn %llu id %llu: %s %s", os_serial(req),
		    (unsigned long long)req->id, what, p1);
		return;
	}
	log_info("conn %llu id %llu: %s %s -> %s", os_serial(req),
	    (unsigned long long)req->id, what, p1, p2);
}

/* Retry a syscall that failed?  On EINTR, unless the req was cancelled. */
static int
os_again(struct req *req)
{
	if (errno != EINTR)
		return (0);
	if (__atomic_load_n(&req->cancelled, __ATOMIC_ACQUIRE)) {
		errno = ECANCELED;
		return (0);
	}
	return (1);
}

/* The path as the client sent it, NUL-terminated in the arena. */
static char *
os_cpath(struct req *req, const ProtobufCBinaryData *bin)
{
	return (req_memdup(req, bin->data, bin->len));
}


/* Check a mode argument: 0 means dflt (if dflt != 0); over 07777 EINVAL. */
static int
os_mode(struct req *req, const ProtobufCBinaryData *bin, uint32_t mode,
    mode_t dflt, mode_t *out)
{
	if (mode > OS_MODE_MAX) {
		req_failmsg(req, EINVAL, os_cpath(req, bin),
		    "mode %#o is out of range (at most 07777)", mode);
		return (-1);
	}
	*out = (mode == 0 && dflt != 0) ? dflt : (mode_t)mode;
	return (0);
}

/* Resolve bin and open it with flags (and mode); records the failure. */
static int
os_open(struct req *req, const ProtobufCBinaryData *bin, int flags,
    mode_t mode, char **relp)
{
	char	*p;
	int	 fd;

	if (resolve_path(req, bin, &p) == -1)
		return (-1);
	fd = resolve_open(req, p, flags, mode);
	if (fd == -1) {
		req_fail(req, errno, os_cpath(req, bin));
		return (-1);
	}
	if (relp != NULL)
		*relp = p;
	return (fd);
}

/* Is root-relative p a directory (following symlinks inside the root)? */
static int
os_isdir_rel(struct req *req, const char *p)
{
	struct stat	 sb;

	return (resolve_stat(req, p, 0, &sb) == 0 && S_ISDIR(sb.st_mode));
}

/* Resolve bin to its parent and last name; records the failure. */
static int
os_name_open(struct req *req, const ProtobufCBinaryData *bin,
    struct os_name *n)
{
	char	*p;

	n->dirfd = -1;
	n->name = NULL;
	n->cpath = os_cpath(req, bin);
	if (resolve_path(req, bin, &p) == -1)
		return (-1);
	n->rel = p;
	n->slash = p[strlen(p) - 1] == '/';
	n->dirfd = resolve_parent(req, req_strdup(req, p), &n->name);
	if (n->dirfd != -1)
		return (0);
	if (errno == EINVAL && !resolve_name_ok(n->name))
		req_failmsg(req, EINVAL, n->cpath,
		    "final component \"%s\" is not a name: %s needs one",
		    n->name, req->op != NULL ? req->op->name : "this op");
	else
		req_fail(req, errno, n->cpath);
	return (-1);
}

/*
 * resolve_parent() drops trailing slashes, but to the kernel "name/" means
 * "the directory name" (path_resolution(7)): an existing name that is not
 * a directory, a symlink included (it is not followed here), is ENOTDIR.
 * A missing one is left to the op.  0, or -1 with errno.
 */
static int
os_slash_dir(const struct os_name *n)
{
	struct stat	 sb;

	if (!n->slash)
		return (0);
	if (fstatat(n->dirfd, n->name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (S_ISDIR(sb.st_mode))
		return (0);
	errno = ENOTDIR;
	return (-1);
}

/* lstat name: 2 a directory, 1 something else, 0 missing, -1 errno. */
static int
os_name_exists(const struct os_name *n)
{
	struct stat	 sb;

	if (fstatat(n->dirfd, n->name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return (S_ISDIR(sb.st_mode) ? 2 : 1);
	return (errno == ENOENT ? 0 : -1);
}

/*
 * The shared "resolve the parent, act on the name" pattern: run fn on
 * bin's name, retrying EINTR; record a failure, or log the mutation (what,
 * if not NULL) and reply Empty unless fn set a result.  0 or -1.
 */
static int
os_at(struct req *req, const ProtobufCBinaryData *bin, const char *what,
    os_at_fn fn, void *arg)
{
	struct os_name	 n;
	int		 rv;

	if (os_name_open(req, bin, &n) == -1)
		return (-1);
	while ((rv = fn(req, &n, arg)) == -1 && os_again(req))
		;
	if (rv == -1)
		req_fail(req, errno, n.cpath);
	else {
		if (what != NULL)
			os_log(req, what, n.cpath, NULL);
		if (req->resp.result_case ==
		    AIOFS__V1__RESPONSE__RESULT__NOT_SET)
			req_set_empty(req);
	}
	close(n.dirfd);
	return (rv);
}

/* Which of two paths an errno from rename/link is about. */
static const char *
os_blame(int e, const struct os_name *a, const struct os_name *b)
{
	if (e == EEXIST || e == ENOTEMPTY || e == EISDIR)
		return (b->cpath);
	return (a->cpath);
}

/*
 * What the kernel says about a trailing slash on a rename/link target: a
 * rename target "b/" must be a directory if it exists, and the source
 * must be one; a link target "b/" cannot be made (EEXIST or ENOENT).  0,
 * or -1 with errno.
 */
static int
os_slash2(const struct os_name *a, const struct os_name *b, int dolink)
{
	int	 e;

	if (!b->slash)
		return (0);
	if (dolink) {
		if ((e = os_name_exists(b)) == -1)
			return (-1);
		errno = e ? EEXIST : ENOENT;
		return (-1);
	}
	if (os_slash_dir(b) == -1)
		return (-1);
	if ((e = os_name_exists(a)) == -1)
		return (-1);
	if (e == 1) {
		errno = ENOTDIR;
		return (-1);
	}
	return (0);
}

/* Two-name ops: renameat, or linkat (flags 0) if dolink; logged. */
static int
os_at2(struct req *req, const ProtobufCBinaryData *src,
    const ProtobufCBinaryData *dst, const char *what, int dolink)
{
	struct os_name	 a, b;
	int		 rv = -1;

	if (os_name_open(req, src, &a) == -1)
		return (-1);
	if (os_name_open(req, dst, &b) == -1)
		goto out;
	if (os_slash_dir(&a) == -1) {
		req_fail(req, errno, a.cpath);
		goto outb;
	}
	if (os_slash2(&a, &b, dolink) == -1) {
		req_fail(req, errno, b.cpath);
		goto outb;
	}
	for (;;) {
		if (dolink)
			rv = linkat(a.dirfd, a.name, b.dirfd, b.name, 0);
		else
			rv = renameat(a.dirfd, a.name, b.dirfd, b.name);
		if (rv == 0 || !os_again(req))
			break;
	}
	if (rv == -1)
		req_fail(req, errno, os_blame(errno, &a, &b));
	else {
		os_log(req, what, a.cpath, b.cpath);
		req_set_empty(req);
	}
outb:
	close(b.dirfd);
out:
	close(a.dirfd);
	return (rv);
}

/* os.path.split() of a client path: head and tail in the arena. */
static void
os_split(struct req *req, const char *p, char **head, char **tail)
{
	const char	*slash = strrchr(p, '/');
	size_t		 i, h;

	i = slash == NULL ? 0 : (size_t)(slash - p) + 1;
	*tail = req_strdup(req, p + i);
	h = i;
	while (h > 0 && p[h - 1] == '/')
		h--;
	if (h == 0)		/* all slashes: keep them */
		h = i;
	*head = req_memdup(req, p, h);
}

/* Make a wire-style binary for a C string (not owned). */
static ProtobufCBinaryData
os_bin(const char *s)
{
	ProtobufCBinaryData	 b;

	b.len = strlen(s);
	b.data = (uint8_t *)s;
	return (b);
}

/* rmdir a client path without recording anything; 0 or -1. */
static int
os_rmdir_quiet(struct req *req, const char *cpath)
{
	ProtobufCBinaryData	 bin = os_bin(cpath);
	const char		*name;
	char			*p;
	int			 fd, rv;

	if (bin.len == 0 || bin.len > PATH_MAX)
		return (-1);
	if (resolve_path(req, &bin, &p) == -1)
		return (-1);	/* cannot happen: checked above */
	fd = resolve_parent(req, req_strdup(req, p), &name);
	if (fd == -1)
		return (-1);	/* includes "." and "..": never the root */
	while ((rv = unlinkat(fd, name, AT_REMOVEDIR)) == -1 &&
	    os_again(req))
		;
	close(fd);
	return (rv);
}

/*
 * The pruning half of os.removedirs(): rmdir each parent of the client
 * path cpath (by its text, as Python does) until one fails.  Silent.
 */
static void
os_prune(struct req *req, const char *cpath)
{
	char	*head, *tail;

	os_split(req, cpath, &head, &tail);
	if (*tail == '\0')
		os_split(req, head, &head, &tail);
	while (*head != '\0' && *tail != '\0') {
		if (os_rmdir_quiet(req, head) == -1)
			break;
		os_log(req, "rmdir (prune)", head, NULL);
		os_split(req, head, &head, &tail);
	}
}

/*
 * mkdir the root-relative prefix p[0, end) with mode, using scratch: 0, or
 * -1 with errno.  A prefix ending in "." or ".." cannot be made: EEXIST if
 * it exists, else why not (ENOENT...), as Python's mkdir would say.
 */
static int
os_mkdir_prefix(struct req *req, const char *p, size_t end, char *scratch,
    mode_t mode)
{
	const char	*name;
	int		 fd, rv;

	memcpy(scratch, p, end);
	scratch[end] = '\0';
	fd = resolve_parent(req, scratch, &name);
	if (fd == -1) {
		if (errno == EINVAL && !resolve_name_ok(name)) {
			memcpy(scratch, p, end);
			scratch[end] = '\0';
			fd = resolve_open(req, scratch, O_PATH | O_DIRECTORY,
			    0);
			if (fd == -1)
				return (-1);
			close(fd);
			errno = EEXIST;
		}
		return (-1);
	}
	while ((rv = mkdirat(fd, name, mode)) == -1 && os_again(req))
		;
	if (rv == -1) {
		rv = errno;
		close(fd);
		errno = rv;
		return (-1);
	}
	close(fd);
	return (0);
}

/*
 * os.makedirs() on root-relative p: find the deepest existing prefix
 * walking up on ENOENT (the common case, a parent that exists, costs one
 * mkdir), then create the rest downwards.  Intermediate directories get
 * 0777 (Python >= 3.7), the leaf gets mode.  An existing leaf is fine only
 * with exist_ok and only if it is a directory.  0 or -1 with errno.
 */
static int
os_makedirs(struct req *req, const char *p, mode_t mode, int exist_ok)
{
	size_t	 len = strlen(p), *ends, n = 0, i;
	char	*scratch;
	int	 rv = -1, last, saved;

	ends = xcalloc(len / 2 + 2, sizeof *ends);
	scratch = xmalloc(len + 1);
	for (i = 0; i < len; i++)
		if (p[i] != '/' && (p[i + 1] == '/' || p[i + 1] == '\0'))
			ends[n++] = i + 1;
	if (n == 0)
		ends[n++] = len;	/* cannot happen: resolve_path */
	for (i = n - 1;; i--) {
		rv = os_mkdir_prefix(req, p, ends[i], scratch,
		    i == n - 1 ? mode : 0777);
		if (rv == 0 || errno != ENOENT || i == 0)
			break;
	}
	if (rv == -1 && errno != EEXIST)
		goto out;
	for (;; i++) {
		last = i == n - 1;
		if (rv == -1 && last) {
			/* errno is EEXIST here. */
			if (exist_ok && os_isdir_rel(req, p))
				rv = 0;
			else
				errno = EEXIST;
			goto out;
		}
		if (last)
			goto out;
		rv = os_mkdir_prefix(req, p, ends[i + 1], scratch,
		    i + 1 == n - 1 ? mode : 0777);
		if (rv == -1 && errno != EEXIST)
			goto out;
	}
out:
	saved = errno;
	free(ends);
	free(scratch);
	errno = saved;
	return (rv);
}

/* stat / lstat / fstat: reply StatReply. */
void
ops_os_stat_work(struct req *req)
{
	Aiofs__V1__Stat	*m = req->msg->stat;
	struct stat	 sb;
	char		*p;

	if (m->has_handle) {
		/* fstat: the loop put a dup of the handle's fd in req->fd. */
		if (req->fd == -1) {
			req_fail(req, EBADF, NULL);
			return;
		}
		if (fstat(req->fd, &sb) == -1) {
			req_fail(req, errno, NULL);
			return;
		}
		req_set_stat(req, &sb);
		return;
	}
	if (resolve_path(req, &m->path, &p) == -1)
		return;
	/* O_PATH|O_NOFOLLOW opens a final symlink itself: that is lstat. */
	if (resolve_stat(req, p, m->no_follow ? O_NOFOLLOW : 0, &sb) == -1) {
		req_fail(req, errno, os_cpath(req, &m->path));
		return;
	}
	req_set_stat(req, &sb);
}

/* statvfs: fstatvfs on an O_PATH fd; reply StatvfsReply. */
void
ops_os_statvfs_work(struct req *req)
{
	Aiofs__V1__Statvfs	*m = req->msg->statvfs;
	Aiofs__V1__StatvfsReply	*r = &req->res.statvfs;
	struct statvfs		 sv;
	int			 fd, rv;

	if ((fd = os_open(req, &m->path, O_PATH, 0, NULL)) == -1)
		return;
	while ((rv = fstatvfs(fd, &sv)) == -1 && os_again(req))
		;
	if (rv == -1) {
		req_fail(req, errno, os_cpath(req, &m->path));
		close(fd);
		return;
	}
	close(fd);
	aiofs__v1__statvfs_reply__init(r);
	r->has_bsize = r->has_frsize = r->has_blocks = r->has_bfree = 1;
	r->has_bavail = r->has_files = r->has_ffree = r->has_favail = 1;
	r->has_flag = r->has_namemax = r->has_fsid = 1;
	r->bsize = sv.f_bsize;
	r->frsize = sv.f_frsize;
	r->blocks = sv.f_blocks;
	r->bfree = sv.f_bfree;
	r->bavail = sv.f_bavail;
	r->files = sv.f_files;
	r->ffree = sv.f_ffree;
	r->favail = sv.f_favail;
	r->flag = sv.f_flag;
	r->namemax = sv.f_namemax;
	r->fsid = sv.f_fsid;
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_STATVFS;
	req->resp.statvfs = r;
}

/*
 * os.sendfile(out, in, offset, count): one sendfile(2) call, reply Count
 * (bytes sent, maybe short).  Unset offset: from the in fd's position,
 * which advances; set: from offset, the position is left alone.  Unset
 * count: as much as one call may send.  The out handle's write buffer is
 * flushed first so its earlier writes land before the sent bytes.
 */
void
ops_os_sendfile_work(struct req *req)
{
	Aiofs__V1__Sendfile	*m = req->msg->sendfile;
	struct hfile		*f = req->f;
	off_t			 off;
	ssize_t			 n;
	size_t			 count = OS_SENDFILE_MAX;

	if (f == NULL || f->fd == -1 || req->fd == -1) {
		req_fail(req, EBADF, NULL);
		return;
	}
	if ((m->has_count && m->count < 0) ||
	    (m->has_offset && m->offset < 0)) {
		req_failmsg(req, EINVAL, NULL, "negative %s",
		    m->has_count && m->count < 0 ? "count" : "offset");
		return;
	}
	if (m->has_count && (uint64_t)m->count < count)
		count = m->count;
	/* The out handle's buffers must not reorder bytes around it. */
	if ((f->wlen > 0 && hfile_flush(f) == -1) || hfile_unread(f) == -1) {
		req_fail(req, errno, f->name);
		return;
	}
	off = m->has_offset ? m->offset : 0;
	while ((n = sendfile(f->fd, req->fd, m->has_offset ? &off : NULL,
	    count)) == -1 && os_again(req))
		;
	if (n == -1) {
		req_fail(req, errno, f->name);
		return;
	}
	log_info("conn %llu id %llu: sendfile %zd bytes", os_serial(req),
	    (unsigned long long)req->id, n);
	req_set_count(req, n);
}

/* renameat(2) both names: os.rename. */
void
ops_os_rename_work(struct req *req)
{
	os_at2(req, &req->msg->rename->src, &req->msg->rename->dst, "rename",
	    0);
}

/* os.replace: on Linux the very same rename(2), replacing dst. */
void
ops_os_replace_work(struct req *req)
{
	os_at2(req, &req->msg->replace->src, &req->msg->replace->dst,
	    "replace", 0);
}

/*
 * os.renames: makedirs the missing parents of dst, rename, then prune
 * src's parents that are now empty (errors while pruning are ignored).
 */
void
ops_os_renames_work(struct req *req)
{
	Aiofs__V1__TwoPaths	*m = req->msg->renames;
	ProtobufCBinaryData	 hbin;
	struct stat		 sb;
	char			*src, *dst, *head, *tail, *p;

	src = os_cpath(req, &m->src);
	dst = os_cpath(req, &m->dst);
	if (m->dst.len > 0 &&
	    memchr(m->dst.data, '\0', m->dst.len) == NULL) {
		os_split(req, dst, &head, &tail);
		hbin = os_bin(head);
		if (*head != '\0' && *tail != '\0') {
			if (resolve_path(req, &hbin, &p) == -1)
				return;
			if (resolve_stat(req, p, 0, &sb) == -1) {
				if (os_makedirs(req, p, 0777, 0) == -1) {
					req_fail(req, errno, head);
					return;
				}
				os_log(req, "makedirs", head, NULL);
			}
		}
	}
	if (os_at2(req, &m->src, &m->dst, "renames", 0) == -1)
		return;
	os_split(req, src, &head, &tail);
	if (*head != '\0' && *tail != '\0')
		os_prune(req, src);
}

/* unlinkat(2) flags 0 on a resolved name. */
static int
os_unlink_cb(struct req *req, struct os_name *n, void *arg)
{
	(void)req;
	(void)arg;
	if (os_slash_dir(n) == -1)
		return (-1);
	return (unlinkat(n->dirfd, n->name, 0));
}

/* os.remove / os.unlink (a directory gives EISDIR). */
void
ops_os_unlink_work(struct req *req)
{
	os_at(req, &req->msg->unlink->path, "unlink", os_unlink_cb, NULL);
}

/* mkdirat(2) on a resolved name with *(mode_t *)arg. */
static int
os_mkdir_cb(struct req *req, struct os_name *n, void *arg)
{
	(void)req;
	return (mkdirat(n->dirfd, n->name, *(mode_t *)arg));
}

/* os.mkdir(path, mode): mode 0 is 0777, the umask applies. */
void
ops_os_mkdir_work(struct req *req)
{
	Aiofs__V1__Mkdir	*m = req->msg->mkdir;
	mode_t			 mode;

	if (os_mode(req, &m->path, m->mode, 0777, &mode) == -1)
		return;
	os_at(req, &m->path, "mkdir", os_mkdir_cb, &mode);
}

/* os.makedirs(path, mode, exist_ok). */
void
ops_os_makedirs_work(struct req *req)
{
	Aiofs__V1__Makedirs	*m = req->msg->makedirs;
	mode_t			 mode;
	char			*p;

	if (os_mode(req, &m->path, m->mode, 0777, &mode) == -1)
		return;
	if (resolve_path(req, &m->path, &p) == -1)
		return;
	if (os_makedirs(req, p, mode, m->exist_ok) == -1) {
		req_fail(req, errno, os_cpath(req, &m->path));
		return;
	}
	os_log(req, "makedirs", os_cpath(req, &m->path), NULL);
	req_set_empty(req);
}

/* unlinkat(2) AT_REMOVEDIR on a resolved name. */
static int
os_rmdir_cb(struct req *req, struct os_name *n, void *arg)
{
	(void)req;
	(void)arg;
	if (os_slash_dir(n) == -1)
		return (-1);
	return (unlinkat(n->dirfd, n->name, AT_REMOVEDIR));
}

/* os.rmdir. */
void
ops_os_rmdir_work(struct req *req)
{
	os_at(req, &req->msg->rmdir->path, "rmdir", os_rmdir_cb, NULL);
}

/*
 * os.removedirs: rmdir the leaf (its errors are the reply), then each
 * parent named in the path until one fails.  The session root is never
 * removed: it has no parent+name.
 */
void
ops_os_removedirs_work(struct req *req)
{
	Aiofs__V1__Path	*m = req->msg->removedirs;

	if (os_at(req, &m->path, "removedirs", os_rmdir_cb, NULL) == -1)
		return;
	os_prune(req, os_cpath(req, &m->path));
}

/* os.link(src, dst): a hard link; a symlink src is linked itself. */
void
ops_os_link_work(struct req *req)
{
	os_at2(req, &req->msg->link->src, &req->msg->link->dst, "link", 1);
}

/* symlinkat(2): arg is the target text.  "name/" cannot be made. */
static int
os_symlink_cb(struct req *req, struct os_name *n, void *arg)
{
	int	 e;

	(void)req;
	if (n->slash) {
		if ((e = os_name_exists(n)) != -1)
			errno = e ? EEXIST : ENOENT;
		return (-1);
	}
	return (symlinkat(arg, n->dirfd, n->name));
}

/*
 * os.symlink(src, dst): dst is made a symlink whose text is src, stored
 * as-is; confinement applies whenever it is later resolved.
 */
void
ops_os_symlink_work(struct req *req)
{
	Aiofs__V1__TwoPaths	*m = req->msg->symlink;
	char			*target;

	if (m->src.len > 0 &&
	    memchr(m->src.data, '\0', m->src.len) != NULL) {
		req_failmsg(req, EINVAL, os_cpath(req, &m->dst),
		    "symlink target contains a NUL byte");
		return;
	}
	target = os_cpath(req, &m->src);
	os_at(req, &m->dst, "symlink", os_symlink_cb, target);
}

/*
 * readlinkat(2), growing the buffer until the target fits; sets Path.
 * "name/" is resolved whole by the kernel, so it is never a symlink:
 * EINVAL if it is a directory, else why it is none.
 */
static int
os_readlink_cb(struct req *req, struct os_name *n, void *arg)
{
	struct stat	 sb;
	size_t		 size = PATH_MAX;
	ssize_t		 len;
	char		*buf;

	(void)arg;
	if (n->slash) {
		if (resolve_stat(req, n->rel, 0, &sb) == 0)
			errno = S_ISDIR(sb.st_mode) ? EINVAL : ENOTDIR;
		return (-1);
	}
	for (;;) {
		buf = xmalloc(size);
		len = readlinkat(n->dirfd, n->name, buf, size);
		if (len == -1) {
			len = errno;
			free(buf);
			errno = len;
			return (-1);
		}
		if ((size_t)len < size)
			break;
		free(buf);
		size *= 2;
	}
	aiofs__v1__path__init(&req->res.path);
	req->res.path.has_path = 1;
	req->res.path.path.data = req_memdup(req, buf, len);
	req->res.path.path.len = len;
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_PATH;
	req->resp.path = &req->res.path;
	free(buf);
	return (0);
}

/* os.readlink: reply Path (the target's bytes). */
void
ops_os_readlink_work(struct req *req)
{
	os_at(req, &req->msg->readlink->path, NULL, os_readlink_cb, NULL);
}

/* Free a listdir/scandir cursor. */
static void
os_dir_free(void *arg)
{
	struct os_dir	*d = arg;

	if (d->dir != NULL)
		closedir(d->dir);
	free(d);
}

/* The req's directory cursor, opening bin on the first call. */
static struct os_dir *
os_dir_cursor(struct req *req, const ProtobufCBinaryData *bin)
{
	struct os_dir	*d;
	DIR		*dir;
	int		 fd;

	if (req->cursor != NULL)
		return (req->cursor);
	fd = os_open(req, bin, O_RDONLY | O_DIRECTORY, 0, NULL);
	if (fd == -1)
		return (NULL);
	if ((dir = fdopendir(fd)) == NULL) {
		req_fail(req, errno, os_cpath(req, bin));
		close(fd);
		return (NULL);
	}
	d = xcalloc(1, sizeof *d);
	d->dir = dir;
	req->cursor = d;
	req->cursor_free = os_dir_free;
	return (d);
}

/* Next entry but "." and ".." into e (name in the arena); 0 at the end. */
static int
os_dir_next(struct req *req, struct os_dir *d, struct os_ent *e)
{
	struct dirent	*de;

	if (d->peeked) {
		d->peeked = 0;
		e->len = strlen(d->peek_name);
		e->name = req_memdup(req, d->peek_name, e->len);
		e->ino = d->peek_ino;
		e->type = d->peek_type;
		return (1);
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d->dir)) == NULL) {
			d->error = errno;
			return (0);
		}
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			break;
	}
	e->len = strlen(de->d_name);
	e->name = req_memdup(req, de->d_name, e->len);
	e->ino = de->d_ino;
	e->type = de->d_type;
	return (1);
}

/*
 * Read the next batch (at most AIOFS_LIST_BATCH entries) of the directory
 * bin names into an arena array.  Returns the count, or -1 with the error
 * recorded.  *dp is the cursor; call os_dir_finish() after using it.
 */
static ssize_t
os_dir_batch(struct req *req, const ProtobufCBinaryData *bin,
    struct os_dir **dp, struct os_ent **ents)
{
	struct os_dir	*d;
	size_t		 n = 0;

	req->more = 0;
	if ((d = os_dir_cursor(req, bin)) == NULL)
		return (-1);
	*ents = req_alloc(req, AIOFS_LIST_BATCH * sizeof **ents);
	while (n < AIOFS_LIST_BATCH && os_dir_next(req, d, &(*ents)[n]))
		n++;
	if (n < AIOFS_LIST_BATCH && d->error != 0) {
		req_fail(req, d->error, os_cpath(req, bin));
		return (-1);
	}
	*dp = d;
	return (n);
}

/*
 * End a batch: peek one entry ahead so that req->more is exact (no empty
 * last chunk), or close the directory when it is exhausted.
 */
static int
os_dir_finish(struct req *req, const ProtobufCBinaryData *bin,
    struct os_dir *d)
{
	struct os_ent	 e;

	if (os_dir_next(req, d, &e)) {
		memcpy(d->peek_name, e.name, e.len + 1);
		d->peek_ino = e.ino;
		d->peek_type = e.type;
		d->peeked = 1;
		req->more = 1;
		return (0);
	}
	if (d->error != 0) {
		req_fail(req, d->error, os_cpath(req, bin));
		return (-1);
	}
	os_dir_free(d);
	req->cursor = NULL;
	req->cursor_free = NULL;
	return (0);
}

/* os.listdir: Names, in readdir order, without "." and "..". */
void
ops_os_listdir_work(struct req *req)
{
	Aiofs__V1__Listdir	*m = req->msg->listdir;
	Aiofs__V1__Names	*r = &req->res.names;
	struct os_dir		*d;
	struct os_ent		*ents;
	ssize_t			 n, i;

	if ((n = os_dir_batch(req, &m->path, &d, &ents)) == -1)
		return;
	aiofs__v1__names__init(r);
	r->names = req_alloc(req, (n + 1) * sizeof *r->names);
	for (i = 0; i < n; i++) {
		r->names[i].data = (uint8_t *)ents[i].name;
		r->names[i].len = ents[i].len;
	}
	r->n_names = n;
	if (os_dir_finish(req, &m->path, d) == -1)
		return;
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_NAMES;
	req->resp.names = r;
}

/*
 * os.scandir: name, type (d_type; DT_UNKNOWN resolved with an lstat) and
 * inode of each entry; with_stat adds its lstat.  An entry that vanishes
 * before its lstat keeps DT_UNKNOWN and has no stat.
 */
void
ops_os_scandir_work(struct req *req)
{
	Aiofs__V1__Scandir	*m = req->msg->scandir;
	Aiofs__V1__DirEntries	*r = &req->res.entries;
	Aiofs__V1__DirEntry	*de;
	struct os_dir		*d;
	struct os_ent		*ents;
	struct stat		 sb;
	ssize_t			 n, i;
	int			 have;

	if ((n = os_dir_batch(req, &m->path, &d, &ents)) == -1)
		return;
	aiofs__v1__dir_entries__init(r);
	r->entries = req_alloc(req, (n + 1) * sizeof *r->entries);
	for (i = 0; i < n; i++) {
		de = req_alloc(req, sizeof *de);
		aiofs__v1__dir_entry__init(de);
		de->has_name = de->has_type = de->has_ino = 1;
		de->name.data = (uint8_t *)ents[i].name;
		de->name.len = ents[i].len;
		de->ino = ents[i].ino;
		de->type = ents[i].type;
		have = 0;
		if (de->type == DT_UNKNOWN || m->with_stat)
			have = fstatat(dirfd(d->dir), ents[i].name, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0;
		if (have && de->type == DT_UNKNOWN)
			de->type = IFTODT(sb.st_mode);
		if (have && m->with_stat) {
			de->stat = req_alloc(req, sizeof *de->stat);
			req_stat_fill(de->stat, &sb);
		}
		r->entries[i] = de;
	}
	r->n_entries = n;
	if (os_dir_finish(req, &m->path, d) == -1)
		return;
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_ENTRIES;
	req->resp.entries = r;
}

/*
 * os.access(path, mode): Bool.  The object is opened O_PATH inside the
 * root (following symlinks there, never on the host) and checked with
 * faccessat2(AT_EMPTY_PATH | AT_EACCESS).  Python checks the real ids;
 * the daemon's equivalent is the identity it acts with for this session:
 * its own (real = effective), or the peer's fsuid/fsgid under
 * --impersonate, which only AT_EACCESS honours (without it the kernel
 * checks the daemon's real uid, root).  Like Python, any failure to find
 * or check the object is False, not an error.
 */
void
ops_os_access_work(struct req *req)
{
	Aiofs__V1__Access	*m = req->msg->access;
	char			*p;
	int			 fd, rv;

	if (m->mode & ~(uint32_t)(F_OK | R_OK | W_OK | X_OK)) {
		req_failmsg(req, EINVAL, os_cpath(req, &m->path),
		    "access mode %#o is not a mix of R_OK W_OK X_OK", m->mode);
		return;
	}
	if (resolve_path(req, &m->path, &p) == -1)
		return;
	if ((fd = resolve_open(req, p, O_PATH, 0)) == -1) {
		if (errno == ECANCELED)
			req_fail(req, errno, os_cpath(req, &m->path));
		else
			req_set_bool(req, 0);
		return;
	}
	while ((rv = syscall(SYS_faccessat2, fd, "", (int)m->mode,
	    AT_EMPTY_PATH | AT_EACCESS)) == -1 && os_again(req))
		;
	close(fd);
	if (rv == -1 && (errno == ENOSYS || errno == ECANCELED))
		req_fail(req, errno, os_cpath(req, &m->path));
	else
		req_set_bool(req, rv == 0);
}

/* os.getcwd: the session's cwd ("/" is the root). */
void
ops_os_getcwd_work(struct req *req)
{
	req_set_path(req, req->sess->cwd);
}

/*
 * os.chdir: check the path is a directory the kernel can reach and that
 * may be searched (chdir(2) wants X; an O_PATH open does not check it),
 * then make a new session, with the same identity (--impersonate), whose
 * cwd is the lexically normalised path; the core swaps it in on the loop
 * thread.
 */
void
ops_os_chdir_work(struct req *req)
{
	Aiofs__V1__Path	*m = req->msg->chdir;
	char		*cpath, *newcwd;
	int		 fd, rv;

	cpath = os_cpath(req, &m->path);
	fd = os_open(req, &m->path, O_PATH | O_DIRECTORY, 0, NULL);
	if (fd == -1)
		return;
	while ((rv = syscall(SYS_faccessat2, fd, "", X_OK,
	    AT_EMPTY_PATH | AT_EACCESS)) == -1 && os_again(req))
		;
	close(fd);
	if (rv == -1) {
		req_fail(req, errno, cpath);
		return;
	}
	resolve_normalize(req->sess->cwd, cpath, &newcwd);
	req->newsess = session_chdir(req->sess, newcwd);
	log_debug("conn %llu id %llu: chdir %s", os_serial(req),
	    (unsigned long long)req->id, req->newsess->cwd);
	free(newcwd);
	req_set_empty(req);
}

/*
 * chmod the object the O_PATH fd refers to (p is its root-relative path).
 * fchmodat2(AT_EMPTY_PATH) (Linux 6.6) does it directly.  Before 6.6 an
 * O_PATH fd cannot be chmodded and cannot be reopened without a /proc
 * magic link, so: a directory is reopened through "." relative to the fd,
 * a regular file is opened again by path (confined like the first open,
 * O_NONBLOCK, read or else write access) and must still be the same
 * inode, else EAGAIN; other file types need fchmodat2 (EOPNOTSUPP).
 */
static int
os_chmod_fd(struct req *req, int fd, const char *p, mode_t mode)
{
	struct stat	 sb, sb2;
	int		 rv, fd2, saved;

	rv = syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH);
	if (rv == 0 || errno != ENOSYS)
		return (rv);
	if (fstat(fd, &sb) == -1)
		return (-1);
	if (S_ISDIR(sb.st_mode))
		fd2 = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else if (S_ISREG(sb.st_mode)) {
		fd2 = resolve_open(req, p, O_RDONLY | O_NONBLOCK, 0);
		if (fd2 == -1 && errno == EACCES)
			fd2 = resolve_open(req, p, O_WRONLY | O_NONBLOCK, 0);
	} else {
		errno = EOPNOTSUPP;
		return (-1);
	}
	if (fd2 == -1)
		return (-1);
	if (fstat(fd2, &sb2) == -1 || sb2.st_dev != sb.st_dev ||
	    sb2.st_ino != sb.st_ino) {
		close(fd2);
		errno = EAGAIN;		/* replaced under us */
		return (-1);
	}
	rv = fchmod(fd2, mode);
	saved = errno;
	close(fd2);
	errno = saved;
	return (rv);
}

/* os.chmod(path, mode), following symlinks (inside the root). */
void
ops_os_chmod_work(struct req *req)
{
	Aiofs__V1__PathMode	*m = req->msg->chmod;
	mode_t			 mode;
	char			*p;
	int			 fd, rv;

	if (!m->has_mode) {
		req_failmsg(req, EINVAL, os_cpath(req, &m->path),
		    "chmod needs a mode");
		return;
	}
	if (os_mode(req, &m->path, m->mode, 0, &mode) == -1)
		return;
	if ((fd = os_open(req, &m->path, O_PATH, 0, &p)) == -1)
		return;
	while ((rv = os_chmod_fd(req, fd, p, mode)) == -1 &&
	    os_again(req))
		;
	close(fd);
	if (rv == -1) {
		req_fail(req, errno, os_cpath(req, &m->path));
		return;
	}
	os_log(req, "chmod", os_cpath(req, &m->path), NULL);
	req_set_empty(req);
}

/* A timespec from a time in ns (floor division), or UTIME_NOW if unset. */
static struct timespec
os_timespec(int has, int64_t ns)
{
	struct timespec	 ts;

	if (!has) {
		ts.tv_sec = 0;
		ts.tv_nsec = UTIME_NOW;
		return (ts);
	}
	ts.tv_sec = ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	if (ts.tv_nsec < 0) {
		ts.tv_nsec += 1000000000;
		ts.tv_sec--;
	}
	return (ts);
}

/*
 * os.utime(path, ns=(atime, mtime)): an unset time is now.  The object is
 * opened O_PATH (O_NOFOLLOW for no_follow: the symlink itself) and
 * utimensat(AT_EMPTY_PATH) acts on that fd.
 */
void
ops_os_utime_work(struct req *req)
{
	Aiofs__V1__Utime	*m = req->msg->utime;
	struct timespec		 ts[2];
	int			 fd, rv, flags = AT_EMPTY_PATH;

	ts[0] = os_timespec(m->has_atime_ns, m->atime_ns);
	ts[1] = os_timespec(m->has_mtime_ns, m->mtime_ns);
	if (m->no_follow)
		flags |= AT_SYMLINK_NOFOLLOW;
	fd = os_open(req, &m->path, O_PATH | (m->no_follow ? O_NOFOLLOW : 0),
	    0, NULL);
	if (fd == -1)
		return;
	while ((rv = utimensat(fd, "", ts, flags)) == -1 && os_again(req))
		;
	close(fd);
	if (rv == -1) {
		req_fail(req, errno, os_cpath(req, &m->path));
		return;
	}
	os_log(req, "utime", os_cpath(req, &m->path), NULL);
	req_set_empty(req);
}

/* os.truncate(path, length): open for writing, ftruncate (unset = 0). */
void
ops_os_truncate_work(struct req *req)
{
	Aiofs__V1__TruncatePath	*m = req->msg->truncate_path;
	int			 fd, rv;

	if (m->size < 0) {
		req_failmsg(req, EINVAL, os_cpath(req, &m->path),
		    "negative length %lld", (long long)m->size);
		return;
	}
	/* O_NONBLOCK: a FIFO must not hang the worker. */
	fd = os_open(req, &m->path, O_WRONLY | O_NONBLOCK, 0, NULL);
	if (fd == -1)
		return;
	while ((rv = ftruncate(fd, m->size)) == -1 && os_again(req))
		;
	close(fd);
	if (rv == -1) {
		req_fail(req, errno, os_cpath(req, &m->path));
		return;
	}
	os_log(req, "truncate", os_cpath(req, &m->path), NULL);
	req_set_empty(req);
}

/* read() then write() all of it; bytes read, 0 at EOF, or -1. */
static ssize_t
os_copy_rw(int in, int out, char *buf)
{
	ssize_t	 n, w, off = 0;

	while ((n = read(in, buf, OS_COPY_BUF)) == -1 && errno == EINTR)
		;
	while (n > 0 && off < n) {
		w = write(out, buf + off, n - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return (-1);
		off += w;
	}
	return (n);
}

/*
 * Copy in to out from their offsets to EOF: copy_file_range(), falling
 * back to sendfile() and then read/write on EXDEV, EINVAL, ENOSYS or
 * EOPNOTSUPP.  A first copy_file_range() that returns 0 also falls back
 * (procfs-like files report size 0).  Bytes copied, or -1 with errno.
 */
static int64_t
os_copy_fds(struct req *req, int in, int out)
{
	int64_t	 total = 0;
	ssize_t	 n;
	char	*buf = NULL;
	int	 how = 0, saved;

	for (;;) {
		if (__atomic_load_n(&req->cancelled, __ATOMIC_ACQUIRE)) {
			errno = ECANCELED;
			n = -1;
			break;
		}
		if (how == 0)
			n = copy_file_range(in, NULL, out, NULL, OS_COPY_CHUNK,
			    0);
		else if (how == 1)
			n = sendfile(out, in, NULL, OS_COPY_CHUNK);
		else {
			if (buf == NULL)
				buf = xmalloc(OS_COPY_BUF);
			n = os_copy_rw(in, out, buf);
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && how < 2 && (errno == EXDEV || errno == EINVAL ||
		    errno == ENOSYS || errno == EOPNOTSUPP)) {
			how++;
			continue;
		}
		if (n == 0 && how == 0 && total == 0) {
			how = 2;
			continue;
		}
		if (n <= 0)
			break;
		total += n;
	}
	saved = errno;
	free(buf);
	errno = saved;
	return (n == -1 ? -1 : total);
}

/* Open src and dst for copyfile; 0, or -1 with the error recorded. */
static int
os_copy_open(struct req *req, Aiofs__V1__TwoPaths *m, int *in, int *out)
{
	struct stat	 si, so;

	*out = -1;
	/* O_NONBLOCK so a FIFO cannot hang the worker; cleared below. */
	*in = os_open(req, &m->src, O_RDONLY | O_NONBLOCK, 0, NULL);
	if (*in == -1)
		return (-1);
	if (fstat(*in, &si) == -1) {
		req_fail(req, errno, os_cpath(req, &m->src));
		return (-1);
	}
	if (S_ISDIR(si.st_mode) || S_ISFIFO(si.st_mode) ||
	    S_ISSOCK(si.st_mode)) {
		req_failmsg(req, S_ISDIR(si.st_mode) ? EISDIR : EINVAL,
		    os_cpath(req, &m->src), "%s", S_ISDIR(si.st_mode) ?
		    "Is a directory" : "cannot copy a named pipe or socket");
		return (-1);
	}
	*out = os_open(req, &m->dst, O_WRONLY | O_CREAT | O_NONBLOCK,
	    si.st_mode & 07777, NULL);
	if (*out == -1)
		return (-1);
	if (fstat(*out, &so) == -1) {
		req_fail(req, errno, os_cpath(req, &m->dst));
		return (-1);
	}
	if (so.st_dev == si.st_dev && so.st_ino == si.st_ino) {
		req_failmsg(req, EINVAL, os_cpath(req, &m->dst),
		    "source and destination are the same file");
		return (-1);
	}
	if (S_ISFIFO(so.st_mode) || S_ISSOCK(so.st_mode)) {
		req_failmsg(req, EINVAL, os_cpath(req, &m->dst),
		    "cannot copy to a named pipe or socket");
		return (-1);
	}
	if ((S_ISREG(so.st_mode) && ftruncate(*out, 0) == -1) ||
	    fcntl(*in, F_SETFL, fcntl(*in, F_GETFL) & ~O_NONBLOCK) == -1 ||
	    fcntl(*out, F_SETFL, fcntl(*out, F_GETFL) & ~O_NONBLOCK) == -1) {
		req_fail(req, errno, os_cpath(req, &m->dst));
		return (-1);
	}
	return (0);
}

/*
 * shutil.copyfile(src, dst): dst is created (with src's permission bits)
 * or truncated, then filled in the kernel; reply Count.  Copying a file
 * onto itself is refused before anything is truncated.
 */
void
ops_os_copyfile_work(struct req *req)
{
	Aiofs__V1__TwoPaths	*m = req->msg->copyfile;
	int64_t			 n;
	int			 in, out;

	if (os_copy_open(req, m, &in, &out) == 0) {
		if ((n = os_copy_fds(req, in, out)) == -1)
			req_fail(req, errno, os_cpath(req, &m->dst));
		else {
			os_log(req, "copyfile", os_cpath(req, &m->src),
			    os_cpath(req, &m->dst));
			req_set_count(req, n);
		}
	}
	if (in != -1)
		close(in);
	if (out != -1)
		close(out);
}

/* Record rmtree's first error: errno e on child name of f (or f). */
static void
rmtree_error(struct rmtree *t, int e, const struct rmtree_frame *f,
    const char *name, const char *msg)
{
	if (t->error != 0)
		return;
	t->error = e;
	t->errmsg = msg;
	if (f == NULL || (f->path == NULL && name == NULL))
		t->errpath = NULL;
	else if (f->path == NULL)
		t->errpath = xstrdup(name);
	else if (name == NULL)
		t->errpath = xstrdup(f->path);
	else
		xasprintf(&t->errpath, "%s/%s", f->path, name);
}

/*
 * Open name in dirfd as a directory, refusing to follow a symlink, and
 * only if it is still the directory lst described (dev and inode): if it
 * was swapped after the lstat, nothing is opened.  Python's
 * _rmtree_safe_fd does the same.
 */
static DIR *
rmtree_opendir(int dirfd, const char *name, const struct stat *lst)
{
	struct stat	 sb;
	DIR		*d;
	int		 fd;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return (NULL);
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return (NULL);
	}
	if (sb.st_dev != lst->st_dev || sb.st_ino != lst->st_ino) {
		close(fd);
		errno = ENOTDIR;
		return (NULL);
	}
	if ((d = fdopendir(fd)) == NULL)
		close(fd);
	return (d);
}

/* Push an opened directory on the rmtree stack. */
static void
rmtree_push(struct rmtree *t, DIR *d, const char *name, const char *parent)
{
	struct rmtree_frame	*f;

	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 16 : t->cap * 2;
		t->st = xreallocarray(t->st, t->cap, sizeof *t->st);
	}
	f = &t->st[t->n++];
	f->dir = d;
	f->name = xstrdup(name);
	f->removed = 0;
	if (parent == NULL)
		f->path = NULL;
	else if (*parent == '\0')
		f->path = xstrdup(name);
	else
		xasprintf(&f->path, "%s/%s", parent, name);
}

/*
 * Remove one entry of the directory on top of the stack: unlink anything
 * that is not a directory (symlinks included, never followed); push a
 * directory after checking it is the one lstat saw.
 */
static void
rmtree_entry(struct rmtree *t, const char *name, unsigned char type)
{
	struct rmtree_frame	*f = &t->st[t->n - 1];
	struct stat		 lst;
	DIR			*d;
	int			 fd = dirfd(f->dir);

	if (type != DT_DIR && type != DT_UNKNOWN) {
		if (unlinkat(fd, name, 0) == 0) {
			f->removed++;
			return;
		}
		if (errno == ENOENT)
			return;
		if (errno != EISDIR) {
			rmtree_error(t, errno, f, name, NULL);
			return;
		}
		/* It became a directory since readdir: look again. */
	}
	if (fstatat(fd, name, &lst, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			rmtree_error(t, errno, f, name, NULL);
		return;
	}
	if (!S_ISDIR(lst.st_mode)) {
		if (unlinkat(fd, name, 0) == 0)
			f->removed++;
		else if (errno != ENOENT)
			rmtree_error(t, errno, f, name, NULL);
		return;
	}
	if ((d = rmtree_opendir(fd, name, &lst)) == NULL) {
		rmtree_error(t, errno, f, name, errno == ENOTDIR ||
		    errno == ELOOP ? "directory replaced while removing it" :
		    NULL);
		return;
	}
	rmtree_push(t, d, name, f->path == NULL ? "" : f->path);
}

/* Pop the finished directory on top of the stack and rmdir it. */
static void
rmtree_pop(struct rmtree *t, int topdirfd)
{
	struct rmtree_frame	*f = &t->st[t->n - 1], *parent;
	int			 pfd;

	parent = t->n > 1 ? &t->st[t->n - 2] : NULL;
	pfd = parent != NULL ? dirfd(parent->dir) : topdirfd;
	closedir(f->dir);
	if (unlinkat(pfd, f->name, AT_REMOVEDIR) == 0) {
		if (parent != NULL)
			parent->removed++;
	} else if (errno != ENOENT || parent == NULL)
		rmtree_error(t, errno, parent, parent != NULL ? f->name : NULL,
		    NULL);
	free(f->name);
	free(f->path);
	t->n--;
}

/*
 * Remove the tree at name in dirfd without ever following a symlink: the
 * walk goes through fds only (openat O_NOFOLLOW, dev/inode checked against
 * the lstat taken first), so a directory swapped for a symlink mid-walk
 * makes that one entry fail and nothing outside the tree is touched.
 * Errors do not stop the walk; the first is kept.  A directory is read
 * again after a pass that removed entries, since readdir need not return
 * entries of a directory changed under it.  Depth is bounded by the fd
 * limit, as in Python.
 */
static void
rmtree_run(struct rmtree *t, int dirfd, const char *name)
{
	struct rmtree_frame	*f;
	struct dirent		*de;
	struct stat		 lst;
	DIR			*d;
	unsigned		 count = 0;

	if (fstatat(dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) == -1) {
		rmtree_error(t, errno, NULL, NULL, NULL);
		return;
	}
	if (S_ISLNK(lst.st_mode)) {
		rmtree_error(t, ENOTDIR, NULL, NULL,
		    "Cannot call rmtree on a symbolic link");
		return;
	}
	if (!S_ISDIR(lst.st_mode)) {
		rmtree_error(t, ENOTDIR, NULL, NULL, NULL);
		return;
	}
	if ((d = rmtree_opendir(dirfd, name, &lst)) == NULL) {
		rmtree_error(t, errno, NULL, NULL, NULL);
		return;
	}
	rmtree_push(t, d, name, NULL);
	while (t->n > 0) {
		if (++count % OS_CANCEL_EVERY == 0 && t->cancelled != NULL &&
		    __atomic_load_n(t->cancelled, __ATOMIC_ACQUIRE)) {
			rmtree_error(t, ECANCELED, NULL, NULL, NULL);
			break;
		}
		f = &t->st[t->n - 1];
		errno = 0;
		if ((de = readdir(f->dir)) == NULL) {
			if (errno != 0)
				rmtree_error(t, errno, f, NULL, NULL);
			else if (f->removed > 0) {
				f->removed = 0;
				rewinddir(f->dir);
				continue;
			}
			rmtree_pop(t, dirfd);
			continue;
		}
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			rmtree_entry(t, de->d_name, de->d_type);
	}
	while (t->n > 0) {	/* cancelled: close what is still open */
		f = &t->st[--t->n];
		closedir(f->dir);
		free(f->name);
		free(f->path);
	}
}

/* shutil.rmtree(name) relative to dirfd (tempfile cleanup); 0 or -1. */
int
ops_os_rmtree_at(int dirfd, const char *name)
{
	struct rmtree	 t;

	memset(&t, 0, sizeof t);
	rmtree_run(&t, dirfd, name);
	free(t.st);
	free(t.errpath);
	if (t.error != 0) {
		errno = t.error;
		return (-1);
	}
	return (0);
}

/* shutil.rmtree(path): race-safe, never follows symlinks; Empty. */
void
ops_os_rmtree_work(struct req *req)
{
	struct os_name	 n;
	struct rmtree	 t;
	char		*path;

	if (os_name_open(req, &req->msg->rmtree->path, &n) == -1)
		return;
	memset(&t, 0, sizeof t);
	t.cancelled = &req->cancelled;
	rmtree_run(&t, n.dirfd, n.name);
	close(n.dirfd);
	free(t.st);
	if (t.error == 0) {
		os_log(req, "rmtree", n.cpath, NULL);
		req_set_empty(req);
		return;
	}
	path = (char *)n.cpath;
	if (t.errpath != NULL) {
		path = req_alloc(req, strlen(n.cpath) + strlen(t.errpath) + 2);
		sprintf(path, "%s/%s", n.cpath, t.errpath);
	}
	if (t.errmsg != NULL)
		req_failmsg(req, t.error, path, "%s", t.errmsg);
	else
		req_fail(req, t.error, path);
	free(t.errpath);
}

/* Free one walk directory. */
static void
walk_dir_free(struct walk_dir *wd)
{
	size_t	 i;

	for (i = 0; i < wd->ndirs; i++)
		free(wd->dirs[i]);
	for (i = 0; i < wd->nfiles; i++)
		free(wd->files[i]);
	free(wd->dirs);
	free(wd->dirlink);
	free(wd->files);
	free(wd->dirpath);
	free(wd->rel);
	free(wd);
}

/* Free the walk cursor. */
static void
walk_free(void *arg)
{
	struct walk	*w = arg;

	while (w->n > 0)
		walk_dir_free(w->st[--w->n]);
	free(w->st);
	free(w);
}

/* Push wd on the walk stack. */
static void
walk_push(struct walk *w, struct walk_dir *wd)
{
	if (w->n == w->cap) {
		w->cap = w->cap == 0 ? 16 : w->cap * 2;
		w->st = xreallocarray(w->st, w->cap, sizeof *w->st);
	}
	w->st[w->n++] = wd;
}

/* A directory to scan: dirpath as os.walk joins it, rel from the root. */
static struct walk_dir *
walk_dir_new(const char *parent, const char *prel, const char *name)
{
	struct walk_dir	*wd;
	size_t		 len = strlen(parent);

	wd = xcalloc(1, sizeof *wd);
	if (len == 0 || parent[len - 1] == '/')
		xasprintf(&wd->dirpath, "%s%s", parent, name);
	else
		xasprintf(&wd->dirpath, "%s/%s", parent, name);
	if (strcmp(prel, ".") == 0)
		wd->rel = xstrdup(name);
	else
		xasprintf(&wd->rel, "%s/%s", prel, name);
	return (wd);
}

/* Add a name to a growing array. */
static void
walk_add(char ***v, size_t *n, size_t *cap, const char *name)
{
	if (*n == *cap) {
		*cap = *cap == 0 ? 16 : *cap * 2;
		*v = xreallocarray(*v, *cap, sizeof **v);
	}
	(*v)[(*n)++] = xstrdup(name);
}

/*
 * Is entry de of wd a directory, as os.walk's entry.is_dir() says (a
 * symlink counts if its target, resolved inside the root, is one)?  Sets
 * *islink for symlinks, which are listed but never walked into.
 */
static int
walk_isdir(struct req *req, struct walk_dir *wd, int fd, struct dirent *de,
    int *islink)
{
	struct stat	 sb;
	unsigned char	 type = de->d_type;
	char		*rel;
	int		 isdir;

	*islink = 0;
	if (type == DT_UNKNOWN) {
		if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
			return (0);
		type = IFTODT(sb.st_mode);
	}
	if (type != DT_LNK)
		return (type == DT_DIR);
	*islink = 1;
	if (strcmp(wd->rel, ".") == 0)
		rel = xstrdup(de->d_name);
	else
		xasprintf(&rel, "%s/%s", wd->rel, de->d_name);
	isdir = resolve_stat(req, rel, 0, &sb) == 0 && S_ISDIR(sb.st_mode);
	free(rel);
	return (isdir);
}

/*
 * Read directory wd into its dirs and files.  The top is opened following
 * symlinks (os.walk scandirs it), the others with O_NOFOLLOW.  0; -1 if it
 * cannot be read (skipped silently, as os.walk does with onerror=None);
 * -2 if cancelled (error recorded).
 */
static int
walk_scan(struct req *req, struct walk_dir *wd)
{
	struct dirent	*de;
	DIR		*d;
	unsigned	 count = 0;
	int		 fd, islink, saved;

	fd = resolve_open(req, wd->rel, O_RDONLY | O_DIRECTORY |
	    (wd->top ? 0 : O_NOFOLLOW), 0);
	if (fd == -1)
		return (errno == ECANCELED ? -2 : -1);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return (-1);
	}
	for (;;) {
		if (++count % OS_CANCEL_EVERY == 0 &&
		    __atomic_load_n(&req->cancelled, __ATOMIC_ACQUIRE)) {
			closedir(d);
			req_fail(req, ECANCELED, NULL);
			return (-2);
		}
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (walk_isdir(req, wd, fd, de, &islink)) {
			walk_add(&wd->dirs, &wd->ndirs, &wd->dirscap,
			    de->d_name);
			wd->dirlink = xrealloc(wd->dirlink, wd->dirscap);
			wd->dirlink[wd->ndirs - 1] = islink;
		} else
			walk_add(&wd->files, &wd->nfiles, &wd->filescap,
			    de->d_name);
	}
	saved = errno;
	closedir(d);
	if (saved != 0)
		return (-1);
	wd->scanned = 1;
	return (0);
}

/*
 * Scan the unscanned directory on top of the stack and put it back as a
 * result, with its subdirectories (not symlinks) to walk: above it for
 * bottom-up, below it for top-down, in order.  0, or -1 if cancelled.
 */
static int
walk_step(struct req *req, struct walk *w)
{
	struct walk_dir	*wd = w->st[--w->n];
	size_t		 i;
	int		 rv;

	if ((rv = walk_scan(req, wd)) != 0) {
		walk_dir_free(wd);
		return (rv == -2 ? -1 : 0);
	}
	if (w->bottom_up)
		walk_push(w, wd);
	for (i = wd->ndirs; i > 0; i--)
		if (!wd->dirlink[i - 1])
			walk_push(w, walk_dir_new(wd->dirpath, wd->rel,
			    wd->dirs[i - 1]));
	if (!w->bottom_up)
		walk_push(w, wd);
	return (0);
}

/* Copy names[from, from + n) into an arena array of binaries. */
static ProtobufCBinaryData *
walk_names(struct req *req, char **names, size_t from, size_t n)
{
	ProtobufCBinaryData	*v;
	size_t			 i;

	v = req_alloc(req, (n + 1) * sizeof *v);
	for (i = 0; i < n; i++) {	/* names is NULL when n is 0 */
		v[i].len = strlen(names[from + i]);
		v[i].data = req_memdup(req, names[from + i], v[i].len);
	}
	return (v);
}

/*
 * Add to r a WalkEntry with as many of wd's remaining names as *names and
 * *bytes allow (at least one entry per chunk goes out whatever its size).
 * Returns 1 if wd is now fully sent.
 */
static int
walk_emit(struct req *req, struct walk_dir *wd, Aiofs__V1__WalkReply *r,
    size_t *names, size_t *bytes)
{
	Aiofs__V1__WalkEntry	*e;
	size_t			 total = wd->ndirs + wd->nfiles, k = 0, used;
	size_t			 i, d0, d1, add;

	used = strlen(wd->dirpath) + 16;
	while (wd->emitted + k < total && k < *names) {
		i = wd->emitted + k;
		add = strlen(i < wd->ndirs ? wd->dirs[i] :
		    wd->files[i - wd->ndirs]) + 4;
		if (used + add > *bytes && r->n_entries + k > 0)
			break;
		used += add;
		k++;
	}
	if (used > *bytes && r->n_entries > 0 && k == 0)
		return (0);
	if (k == 0 && wd->sent && wd->emitted < total)
		return (0);
	e = req_alloc(req, sizeof *e);
	aiofs__v1__walk_entry__init(e);
	e->has_dirpath = 1;
	e->dirpath.len = strlen(wd->dirpath);
	e->dirpath.data = req_memdup(req, wd->dirpath, e->dirpath.len);
	d0 = wd->emitted < wd->ndirs ? wd->emitted : wd->ndirs;
	d1 = wd->emitted + k < wd->ndirs ? wd->emitted + k : wd->ndirs;
	e->n_dirnames = d1 - d0;
	e->dirnames = walk_names(req, wd->dirs, d0, d1 - d0);
	d0 = wd->emitted > wd->ndirs ? wd->emitted - wd->ndirs : 0;
	d1 = wd->emitted + k > wd->ndirs ? wd->emitted + k - wd->ndirs : 0;
	e->n_filenames = d1 - d0;
	e->filenames = walk_names(req, wd->files, d0, d1 - d0);
	r->entries[r->n_entries++] = e;
	wd->emitted += k;
	wd->sent = 1;
	*names -= k;
	*bytes = used < *bytes ? *bytes - used : 0;
	return (wd->emitted == total);
}

/* Start a walk: the cursor with top on its stack; NULL on a bad path. */
static struct walk *
walk_start(struct req *req)
{
	Aiofs__V1__Walk	*m = req->msg->walk;
	struct walk_dir	*wd;
	struct walk	*w;
	char		*p;

	if (resolve_path(req, &m->path, &p) == -1)
		return (NULL);
	w = xcalloc(1, sizeof *w);
	w->bottom_up = m->bottom_up;
	wd = xcalloc(1, sizeof *wd);
	wd->dirpath = xstrdup(os_cpath(req, &m->path));
	wd->rel = xstrdup(p);
	wd->top = 1;
	walk_push(w, wd);
	req->cursor = w;
	req->cursor_free = walk_free;
	return (w);
}

/*
 * os.walk(top, topdown=not bottom_up, followlinks=False): WalkReply
 * chunks of at most AIOFS_LIST_BATCH names (and about OS_WALK_BYTES).
 * dirpath is top as the client gave it, joined as os.path.join does.
 * Symlinks to directories are listed in dirnames but not walked.  An
 * unreadable directory is skipped silently (onerror=None), so a missing
 * top gives one reply with no entries.
 *
 * A directory with more names than fit in one chunk is sent as several
 * consecutive WalkEntry with the same dirpath (dirnames first, then
 * filenames), possibly across chunks: the client merges consecutive
 * entries with equal dirpath.  No two directories of one walk share a
 * dirpath, so the merge is unambiguous.
 */
void
ops_os_walk_work(struct req *req)
{
	Aiofs__V1__WalkReply	*r = &req->res.walk;
	struct walk		*w = req->cursor;
	size_t			 names = AIOFS_LIST_BATCH;
	size_t			 bytes = OS_WALK_BYTES;

	req->more = 0;
	if (w == NULL && (w = walk_start(req)) == NULL)
		return;
	aiofs__v1__walk_reply__init(r);
	r->entries = req_alloc(req, AIOFS_LIST_BATCH * sizeof *r->entries);
	while (w->n > 0 && r->n_entries < AIOFS_LIST_BATCH && names > 0 &&
	    bytes > 0) {
		if (!w->st[w->n - 1]->scanned) {
			if (walk_step(req, w) == -1)
				return;
			continue;
		}
		if (!walk_emit(req, w->st[w->n - 1], r, &names, &bytes))
			break;
		walk_dir_free(w->st[--w->n]);
	}
	/* Settle: scan ahead so that "more" is never followed by nothing. */
	while (w->n > 0 && !w->st[w->n - 1]->scanned)
		if (walk_step(req, w) == -1)
			return;
	if (w->n > 0)
		req->more = 1;
	else {
		walk_free(w);
		req->cursor = NULL;
		req->cursor_free = NULL;
	}
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_WALK;
	req->resp.walk = r;
}
