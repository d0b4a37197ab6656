/*
 * ops_temp.c - Python's tempfile module, in the daemon.
 *
 * Every temporary object lives inside the session root, in dir= or the
 * session's tmpdir (--tmpdir, "/tmp" by default, both root-relative), and
 * is made with O_EXCL/mkdirat under a random name, mode 0600/0700, like
 * mkstemp.  What should vanish does: TemporaryFile has no name at all
 * (O_TMPFILE, or unlinked at once where the filesystem lacks it);
 * NamedTemporaryFile and TemporaryDirectory are removed when their handle
 * is closed, which the daemon also does when the client disconnects or
 * dies.  SpooledTemporaryFile keeps its data in daemon memory (counted in
 * the handle) until it grows past max_size or is rolled over, then moves
 * to an anonymous file; the handle stays the same.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

#define TEMP_TRIES	100

/* Eight random characters from Python's tempfile alphabet. */
static void
temp_name(char *out, size_t size, const char *prefix, const char *suffix)
{
	static const char	 chars[] =
	    "abcdefghijklmnopqrstuvwxyz0123456789_";
	unsigned char		 r[8];
	char			 rnd[9];
	size_t			 i;

	if (getrandom(r, sizeof r, 0) != sizeof r)
		for (i = 0; i < sizeof r; i++)
			r[i] = (unsigned char)random();
	for (i = 0; i < 8; i++)
		rnd[i] = chars[r[i] % (sizeof chars - 1)];
	rnd[8] = '\0';
	snprintf(out, size, "%s%s%s", prefix, rnd, suffix);
}

/* An anonymous file in dirfd: O_TMPFILE, or create-and-unlink. */
static int
temp_anonymous(int dirfd, int oflags)
{
	char	 name[64];
	int	 fd, i;

	fd = openat(dirfd, ".", O_TMPFILE | (oflags & O_ACCMODE) |
	    O_CLOEXEC, 0600);
	if (fd != -1 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return (fd);
	for (i = 0; i < TEMP_TRIES; i++) {
		temp_name(name, sizeof name, ".aiofs-anon-", "");
		fd = openat(dirfd, name, (oflags & O_ACCMODE) | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1) {
			unlinkat(dirfd, name, 0);
			return (fd);
		}
		if (errno != EEXIST)
			return (-1);
	}
	errno = EEXIST;
	return (-1);
}

/* Roll a spooled file over to an anonymous file on disk. */
int
ops_temp_spool_rollover(struct hfile *f)
{
	struct hfile	 tmp;
	int		 fd;

	if (!f->spooled)
		return (0);
	if ((fd = temp_anonymous(f->spool_dirfd, O_RDWR)) == -1)
		return (-1);
	memset(&tmp, 0, sizeof tmp);
	tmp.fd = fd;
	if (hfile_raw_write(&tmp, f->spool, f->spool_len) !=
	    (ssize_t)f->spool_len ||
	    lseek(fd, f->spool_pos, SEEK_SET) == -1) {
		close(fd);
		return (-1);
	}
	free(f->spool);
	if (f->owner != NULL && f->spool_cap > 0)
		conn_mem_release(f->owner, f->spool_cap);
	f->spool = NULL;
	f->spool_len = f->spool_cap = f->spool_pos = 0;
	f->spooled = 0;
	f->fd = fd;
	close(f->spool_dirfd);
	f->spool_dirfd = -1;
	return (0);
}

/* Every temp kind creates something: refused when read-only. */
int
ops_temp_check(struct req *req)
{
	return (req->sess->pol->read_only ? EROFS : 0);
}

/* Open a directory for temp objects: its fd, its path in *dirp. */
static int
temp_open_dir(struct req *req, const char *dir, const char **dirp)
{
	ProtobufCBinaryData	 bin;
	char			*path;

	bin.data = (uint8_t *)dir;
	bin.len = strlen(dir);
	*dirp = req_strdup(req, dir);
	if (resolve_path(req, &bin, &path) == -1)
		return (-1);
	return (resolve_open(req, path, O_PATH | O_DIRECTORY, 0));
}

/*
 * The directory temp objects go in: dir= if given, else the session's
 * tmpdir, else the first of /tmp, /var/tmp, /usr/tmp and the cwd that
 * exists in the root (Python's gettempdir() order).
 */
static int
temp_dir(struct req *req, const Aiofs__V1__TempFile *m, const char **dirp)
{
	const char	*cands[] = { "/tmp", "/var/tmp", "/usr/tmp", NULL };
	char		*given;
	size_t		 i;
	int		 fd;

	if ((m->has_dir && m->dir.len > 0) || req->sess->pol->tmpdir != NULL) {
		given = m->has_dir && m->dir.len > 0 ?
		    req_memdup(req, m->dir.data, m->dir.len) :
		    req_strdup(req, req->sess->pol->tmpdir);
		if (m->has_dir && memchr(m->dir.data, '\0', m->dir.len)) {
			req_failmsg(req, EINVAL, NULL, "dir contains a NUL "
			    "byte");
			return (-1);
		}
		if ((fd = temp_open_dir(req, given, dirp)) == -1 &&
		    req->error == 0)
			req_fail(req, errno, given);
		return (fd);
	}
	cands[3] = req->sess->cwd;
	for (i = 0; i < 4; i++) {
		fd = temp_open_dir(req, cands[i], dirp);
		if (fd != -1)
			return (fd);
		if (req->error != 0 || (errno != ENOENT && errno != ENOTDIR))
			break;
	}
	if (req->error == 0)
		req_fail(req, errno, *dirp);
	return (-1);
}

/* The client-visible name of dir/name (dir as the client gave it). */
static char *
temp_fullname(struct req *req, const char *dir, const char *name)
{
	char	*joined, *r;

	resolve_join(dir, name, &joined);
	r = req_strdup(req, joined);
	free(joined);
	return (r);
}

/* Make a uniquely named file (fd) or directory (-2) in dfd. */
static int
temp_create(int dfd, const char *prefix, const char *suffix, int oflags,
    int isdir, char *name, size_t size)
{
	int	 i, fd;

	for (i = 0; i < TEMP_TRIES; i++) {
		temp_name(name, size, prefix, suffix);
		if (isdir) {
			if (mkdirat(dfd, name, 0700) == 0)
				return (-2);
		} else {
			fd = openat(dfd, name, (oflags & (O_ACCMODE |
			    O_APPEND)) | O_CREAT | O_EXCL | O_NOFOLLOW |
			    O_CLOEXEC, 0600);
			if (fd != -1)
				return (fd);
		}
		if (errno != EEXIST)
			return (-1);
	}
	errno = EEXIST;
	return (-1);
}

/*
 * tempfile.TemporaryFile / NamedTemporaryFile / SpooledTemporaryFile /
 * TemporaryDirectory, and mkstemp / mkdtemp (kept: aiofs mktemp).
 */
void
ops_temp_work(struct req *req)
{
	Aiofs__V1__TempFile	*m = req->msg->tempfile;
	const char		*prefix, *suffix, *dir, *mode;
	char			 name[512];
	struct fmode		 fm;
	struct hfile		*f;
	int			 kind = m->has_kind ? m->kind : 0;
	int			 dfd, fd = -1, isdir, del, del_on_close;

	prefix = m->prefix != NULL && *m->prefix != '\0' ? m->prefix : "tmp";
	suffix = m->suffix != NULL ? m->suffix : "";
	if (strchr(prefix, '/') != NULL || strchr(suffix, '/') != NULL ||
	    strlen(prefix) + strlen(suffix) > 200) {
		req_failmsg(req, EINVAL, NULL, "prefix and suffix must be "
		    "short and contain no '/'");
		return;
	}
	mode = m->mode != NULL && *m->mode != '\0' ? m->mode : "w+b";
	isdir = kind == AIOFS__V1__TEMP_KIND__TEMPORARY_DIRECTORY ||
	    kind == AIOFS__V1__TEMP_KIND__MKDTEMP;
	if (!isdir && mode_parse(mode, &fm) == -1) {
		req_failmsg(req, EINVAL, NULL, "invalid mode: '%s'", mode);
		return;
	}
	if (isdir)
		mode_parse("rb", &fm);
	if ((dfd = temp_dir(req, m, &dir)) == -1)
		return;

	switch (kind) {
	case AIOFS__V1__TEMP_KIND__TEMPORARY_FILE:
		fd = temp_anonymous(dfd, fm.oflags);
		snprintf(name, sizeof name, "%d", fd);
		break;
	case AIOFS__V1__TEMP_KIND__SPOOLED_TEMPORARY_FILE:
		fd = -1;
		snprintf(name, sizeof name, "<spooled>");
		break;
	default:
		fd = temp_create(dfd, prefix, suffix, fm.oflags, isdir, name,
		    sizeof name);
		break;
	}
	if (fd == -1 && kind != AIOFS__V1__TEMP_KIND__SPOOLED_TEMPORARY_FILE) {
		req_fail(req, errno, dir);
		close(dfd);
		return;
	}
	if (kind == AIOFS__V1__TEMP_KIND__MKDTEMP) {
		close(dfd);
		log_info("conn %llu id %llu: mkdtemp %s/%s", req->conn != NULL ?
		    (unsigned long long)req->conn->serial : 0ULL,
		    (unsigned long long)req->id, dir, name);
		req_set_path(req, temp_fullname(req, dir, name));
		return;
	}

	f = hfile_new(fd < 0 ? -1 : fd, &fm, kind ==
	    AIOFS__V1__TEMP_KIND__TEMPORARY_FILE ||
	    kind == AIOFS__V1__TEMP_KIND__SPOOLED_TEMPORARY_FILE ? name :
	    temp_fullname(req, dir, name));
	del = !m->has_delete_ || m->delete_;
	del_on_close = !m->has_delete_on_close || m->delete_on_close;
	switch (kind) {
	case AIOFS__V1__TEMP_KIND__SPOOLED_TEMPORARY_FILE:
		f->spooled = 1;
		f->spool_max = m->has_max_size && m->max_size > 0 &&
		    (uint64_t)m->max_size < HFILE_SPOOL_MAX ?
		    (size_t)m->max_size : HFILE_SPOOL_MAX;
		f->spool_dirfd = dfd;
		dfd = -1;
		break;
	case AIOFS__V1__TEMP_KIND__NAMED_TEMPORARY_FILE:
		if (!del)
			break;
		f->del_at_exit = !del_on_close;
		/* FALLTHROUGH */
	case AIOFS__V1__TEMP_KIND__TEMPORARY_DIRECTORY:
		f->del_name = xstrdup(name);
		f->del_dirfd = dfd;
		f->is_tempdir = isdir;
		dfd = -1;
		break;
	}
	if (dfd != -1)
		close(dfd);
	if (!isdir && hfile_setup(req, f, m->has_buffering ? m->buffering : -1,
	    m->encoding, m->errors, m->newline != NULL, m->newline) == -1) {
		hfile_close(f);
		hfile_free(f);
		return;
	}
	req->f = f;
	hfile_fill_reply(f, 0, &req->res.file, req);
}

/* SpooledTemporaryFile.rollover(): move to disk now. */
void
ops_temp_rollover_work(struct req *req)
{
	if (ops_temp_spool_rollover(req->f) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	req_set_empty(req);
}
