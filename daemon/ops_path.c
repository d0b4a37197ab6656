/*
 * ops_path.c - os.path.*: exists, isfile, isdir, islink, ismount,
 * samefile, sameopenfile and abspath.
 *
 * Like ops_os.c these run on a worker and touch only their req.  The
 * predicates answer as Python's do: a path that cannot be looked at (not
 * there, not a directory on the way, a symlink loop, no permission, a NUL
 * byte, too long) is simply False, never an error.  getsize, getatime,
 * getmtime and getctime are the client's, on top of stat.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

/* Are a and b the same file (os.path.samestat)? */
static int
path_samestat(const struct stat *a, const struct stat *b)
{
	return (a->st_dev == b->st_dev && a->st_ino == b->st_ino);
}

/*
 * os.path.ismount on root-relative p whose lstat is sb: a symlink is not
 * a mount point; the root is one; otherwise p is a mount point if its
 * parent (p/.. for a directory, resolved by the kernel inside the root)
 * is on another device or is the same inode.
 */
static int
path_ismount(struct req *req, const char *p, const struct stat *sb)
{
	struct stat	 root, parent;
	const char	*last;
	char		*pp;
	int		 fd, rv;

	if (S_ISLNK(sb->st_mode))
		return (0);
	if (fstat(req->sess->rootfd, &root) == 0 && path_samestat(sb, &root))
		return (1);
	if (S_ISDIR(sb->st_mode)) {
		resolve_join(p, "..", &pp);
		rv = resolve_stat(req, pp, O_DIRECTORY, &parent);
		free(pp);
	} else {
		/* A file can be a bind mount; its parent is its directory. */
		if ((fd = resolve_parent(req, req_strdup(req, p), &last)) == -1)
			return (0);
		rv = fstat(fd, &parent);
		close(fd);
	}
	if (rv == -1)
		return (0);
	return (sb->st_dev != parent.st_dev || sb->st_ino == parent.st_ino);
}

/* os.path.exists/isfile/isdir/islink/ismount: Bool, never an error. */
void
ops_path_test_work(struct req *req)
{
	Aiofs__V1__PathTest	*m = req->msg->pathtest;
	struct stat		 sb;
	char			*p;
	int			 nofollow, v = 0;

	/* What resolve_path would refuse is False for Python. */
	if (m->path.len == 0 || m->path.len > PATH_MAX ||
	    memchr(m->path.data, '\0', m->path.len) != NULL) {
		req_set_bool(req, 0);
		return;
	}
	if (resolve_path(req, &m->path, &p) == -1)
		return;
	nofollow = m->kind == AIOFS__V1__PATH_TEST_KIND__ISLINK ||
	    m->kind == AIOFS__V1__PATH_TEST_KIND__ISMOUNT;
	if (resolve_stat(req, p, nofollow ? O_NOFOLLOW : 0, &sb) == -1) {
		if (errno == ECANCELED)
			req_fail(req, errno, NULL);
		else
			req_set_bool(req, 0);
		return;
	}
	switch (m->kind) {
	case AIOFS__V1__PATH_TEST_KIND__EXISTS:
		v = 1;
		break;
	case AIOFS__V1__PATH_TEST_KIND__ISFILE:
		v = S_ISREG(sb.st_mode);
		break;
	case AIOFS__V1__PATH_TEST_KIND__ISDIR:
		v = S_ISDIR(sb.st_mode);
		break;
	case AIOFS__V1__PATH_TEST_KIND__ISLINK:
		v = S_ISLNK(sb.st_mode);
		break;
	case AIOFS__V1__PATH_TEST_KIND__ISMOUNT:
		v = path_ismount(req, p, &sb);
		break;
	default:
		req_failmsg(req, EINVAL, NULL, "unknown path test %d",
		    (int)m->kind);
		return;
	}
	req_set_bool(req, v);
}

/* Stat the file a wire path names (following symlinks); records errors. */
static int
path_stat_bin(struct req *req, const ProtobufCBinaryData *bin,
    struct stat *sb)
{
	char	*p;

	if (resolve_path(req, bin, &p) == -1)
		return (-1);
	if (resolve_stat(req, p, 0, sb) == -1) {
		req_fail(req, errno, req_memdup(req, bin->data, bin->len));
		return (-1);
	}
	return (0);
}

/*
 * os.path.samefile(a, b), or os.path.sameopenfile when handles are set:
 * then the core gives dups of handle_a's and handle_b's fds in req->fd and
 * req->fd2.  Bool.
 */
void
ops_path_samefile_work(struct req *req)
{
	Aiofs__V1__Samefile	*m = req->msg->samefile;
	struct stat		 sa, sb;

	if (m->has_handle_a || m->has_handle_b) {
		if (req->fd == -1 || req->fd2 == -1) {
			req_fail(req, EBADF, NULL);
			return;
		}
		if (fstat(req->fd, &sa) == -1 || fstat(req->fd2, &sb) == -1) {
			req_fail(req, errno, NULL);
			return;
		}
	} else if (path_stat_bin(req, &m->a, &sa) == -1 ||
	    path_stat_bin(req, &m->b, &sb) == -1)
		return;
	req_set_bool(req, path_samestat(&sa, &sb));
}

/*
 * os.path.abspath: purely lexical against the session cwd, no filesystem
 * access ("" is the cwd).  A NUL byte is EINVAL: the reply is a path.
 */
void
ops_path_abspath_work(struct req *req)
{
	Aiofs__V1__Path	*m = req->msg->abspath;
	char		*out;

	if (m->path.len > 0 &&
	    memchr(m->path.data, '\0', m->path.len) != NULL) {
		req_failmsg(req, EINVAL, NULL, "path contains a NUL byte");
		return;
	}
	resolve_normalize(req->sess->cwd,
	    req_memdup(req, m->path.data, m->path.len), &out);
	req_set_path(req, out);
	free(out);
}
