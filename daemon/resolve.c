/*
 * resolve.c - confinement: every path a client names is resolved here,
 * relative to its session's root fd, with openat2().
 *
 * A path from the wire is bytes.  resolve_path() rejects NUL bytes and
 * over-long paths, joins a relative path to the session cwd, and returns a
 * path relative to the root ("a/b", "." for the root itself): absolute
 * paths mean "from the root", never from the host's /.  The kernel then
 * does the confinement: RESOLVE_IN_ROOT (default: "..", absolute symlinks
 * and ".." in symlinks stay inside, as in a chroot) or RESOLVE_BENEATH
 * (--strict-paths: any attempt to leave fails with EXDEV), always with
 * RESOLVE_NO_MAGICLINKS.  No path string is ever handed to plain open().
 *
 * Operations on a name (mkdir, unlink, rename, ...) open the parent with
 * resolve_parent() and act on the validated last component with *at().
 */
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

#define RESOLVE_EAGAIN_TRIES	32

static int	resolve_probe(int);

/* openat2(2); glibc 2.36 has no wrapper. */
static int
resolve_openat2(int dirfd, const char *path, struct open_how *how)
{
	return (syscall(SYS_openat2, dirfd, path, how, sizeof *how));
}

/* Make a session for a new connection: cwd "/" unless given. */
struct session *
session_new(const struct policy *pol, const char *cwd)
{
	struct session	*s;

	s = xcalloc(1, sizeof *s);
	s->refs = 1;
	s->pol = pol;
	s->rootfd = pol->rootfd;
	s->root = pol->root;
	s->cwd = xstrdup(cwd != NULL ? cwd : "/");
	s->resolve = RESOLVE_NO_MAGICLINKS |
	    (pol->strict_paths ? RESOLVE_BENEATH : RESOLVE_IN_ROOT);
	return (s);
}

/* The session after a chdir: the same identity, another cwd. */
struct session *
session_chdir(const struct session *old, const char *cwd)
{
	struct session	*s;

	s = session_new(old->pol, cwd);
	s->impersonate = old->impersonate;
	s->uid = old->uid;
	s->gid = old->gid;
	s->ngroups = old->ngroups;
	if (old->groups != NULL)
		s->groups = xmemdup(old->groups,
		    old->ngroups * sizeof *old->groups);
	return (s);
}

/* Take a reference (loop thread only). */
struct session *
session_ref(struct session *s)
{
	s->refs++;
	return (s);
}

/* Drop a reference (loop thread only). */
void
session_unref(struct session *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	free(s->cwd);
	free(s->groups);
	free(s);
}

/* Fail closed: is openat2 with RESOLVE_IN_ROOT usable here?  0 if so. */
int
resolve_check_openat2(void)
{
	return (resolve_probe(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS));
}

/* Can openat2 resolve "/" with these flags?  0, or -1 with errno. */
static int
resolve_probe(int resolve)
{
	struct open_how	 how;
	int		 fd;

	memset(&how, 0, sizeof how);
	how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
	how.resolve = resolve;
	if ((fd = resolve_openat2(AT_FDCWD, "/", &how)) == -1)
		return (-1);
	close(fd);
	return (0);
}

/* Does openat2 know RESOLVE_CACHED (Linux 5.12)?  For fast.c. */
int
resolve_check_cached(void)
{
	/* EAGAIN (not in the dcache) still means the flag is known. */
	if (resolve_probe(RESOLVE_IN_ROOT | RESOLVE_CACHED |
	    RESOLVE_NO_XDEV) == -1 && errno == EINVAL)
		return (-1);
	return (0);
}

/* Is name usable as a final component?  Not "", ".", ".." or with '/'. */
int
resolve_name_ok(const char *name)
{
	if (*name == '\0' || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strchr(name, '/') != NULL)
		return (0);
	return (1);
}

/* Join a and b with one '/' into a new string. */
int
resolve_join(const char *a, const char *b, char **out)
{
	size_t	 la = strlen(a);

	while (la > 0 && a[la - 1] == '/')
		la--;
	if (la == 0)
		xasprintf(out, "/%s", b);
	else
		xasprintf(out, "%.*s/%s", (int)la, a, b);
	return (0);
}

/*
 * Lexically normalise path against cwd, as os.path.abspath does: the
 * result starts with '/', has no "." or ".." or repeated '/', and ".." at
 * the top stays at "/" (the root).
 */
int
resolve_normalize(const char *cwd, const char *path, char **out)
{
	char	*joined, *p, *tok, *save, *res;
	size_t	 len = 0, cap;

	if (*path == '/')
		joined = xstrdup(path);
	else
		resolve_join(cwd, path, &joined);
	cap = strlen(joined) + 2;
	res = xmalloc(cap);
	res[0] = '\0';
	for (p = joined; (tok = strtok_r(p, "/", &save)) != NULL; p = NULL) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			while (len > 0 && res[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
			res[len] = '\0';
			continue;
		}
		res[len++] = '/';
		memcpy(res + len, tok, strlen(tok));
		len += strlen(tok);
		res[len] = '\0';
	}
	if (len == 0) {
		res[0] = '/';
		res[1] = '\0';
	}
	free(joined);
	*out = res;
	return (0);
}

/*
 * Turn a wire path into a root-relative string owned by req: "" is
 * ENOENT, NUL bytes EINVAL, over PATH_MAX ENAMETOOLONG.  The error path
 * recorded is the client's own.
 */
int
resolve_path(struct req *req, const ProtobufCBinaryData *bin, char **out)
{
	char	*p, *joined;
	size_t	 skip;

	if (bin->len > PATH_MAX) {
		req_failmsg(req, ENAMETOOLONG, NULL, "path of %zu bytes",
		    bin->len);
		return (-1);
	}
	p = req_memdup(req, bin->data, bin->len);
	if (bin->len > 0 && memchr(bin->data, '\0', bin->len) != NULL) {
		req_failmsg(req, EINVAL, NULL, "path contains a NUL byte");
		return (-1);
	}
	if (bin->len == 0) {
		req_fail(req, ENOENT, "");
		return (-1);
	}
	if (*p != '/') {
		resolve_join(req->sess->cwd, p, &joined);
		p = req_strdup(req, joined);
		free(joined);
	}
	for (skip = 0; p[skip] == '/'; skip++)
		;
	if (p[skip] == '\0')
		*out = req_strdup(req, ".");
	else
		*out = p + skip;
	return (0);
}

/* openat2() path from the root with the session's resolve flags. */
int
resolve_open(struct req *req, const char *path, int flags, mode_t mode)
{
	struct open_how	 how;
	int		 fd, tries = 0;

	memset(&how, 0, sizeof how);
	/* openat2 refuses O_PATH with anything but a few flags. */
	how.flags = flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY);
	if (flags & (O_CREAT | O_TMPFILE))
		how.mode = mode & 07777;
	how.resolve = req->sess->resolve;
	if (fast_nowait) {
		/*
		 * On the loop: the dcache only, and never into another
		 * mount, so the lookup stays on the (local) root file
		 * system.  Anything else is redone on a worker.
		 */
		how.resolve |= RESOLVE_CACHED | RESOLVE_NO_XDEV;
		fd = resolve_openat2(req->sess->rootfd, path, &how);
		/* Only "no such file" is sure; a worker says the rest. */
		if (fd == -1 && errno != ENOENT && errno != ENOTDIR)
			fast_punt();
		return (fd);
	}
	for (;;) {
		fd = resolve_openat2(req->sess->rootfd, path, &how);
		if (fd != -1)
			return (fd);
		if (errno == EAGAIN && ++tries < RESOLVE_EAGAIN_TRIES)
			continue;
		if (errno == EINTR &&
		    !__atomic_load_n(&req->cancelled, __ATOMIC_ACQUIRE))
			continue;
		if (errno == EINTR)
			errno = ECANCELED;
		if (errno == EXDEV)
			log_info("conn %llu id %llu: escape refused: %s",
			    req->conn != NULL ?
			    (unsigned long long)req->conn->serial : 0ULL,
			    (unsigned long long)req->id, "path leaves the root");
		return (-1);
	}
}

/*
 * Open the parent directory of path (O_PATH) and point *last at its final
 * component, which is validated.  Trailing slashes are ignored.  Returns
 * the parent fd or -1 with errno set.  path is modified (owned by req).
 */
int
resolve_parent(struct req *req, const char *cpath, const char **last)
{
	char	*path = (char *)cpath, *slash;
	size_t	 len = strlen(path);
	int	 fd;

	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	slash = strrchr(path, '/');
	if (slash == NULL) {
		*last = path;
		path = ".";
	} else {
		*slash = '\0';
		*last = slash + 1;
		if (*path == '\0')
			path = ".";
	}
	if (!resolve_name_ok(*last)) {
		errno = EINVAL;
		return (-1);
	}
	fd = resolve_open(req, path, O_PATH | O_DIRECTORY, 0);
	return (fd);
}

/* Open root-relative p with O_PATH (plus flags) and fstat it; 0 or -1. */
int
resolve_stat(struct req *req, const char *p, int flags, struct stat *sb)
{
	int	 fd, rv, saved;

	if ((fd = resolve_open(req, p, O_PATH | flags, 0)) == -1)
		return (-1);
	rv = fstat(fd, sb);
	saved = errno;
	close(fd);
	errno = saved;
	return (rv);
}
