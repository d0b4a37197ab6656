/*
 * check_client.c - libaiofs against a real aiofsd (tdaemon_start): every
 * file-handle operation of aiofs.h, its success and its errors, checked
 * on the host side with plain syscalls; multi-part replies, pipelining,
 * cancellation, many connections, disconnects and tempfile cleanup.
 *
 * Expected behaviour is Python's (aiofiles wraps io.open and tempfile):
 * where a test names a Python rule, the daemon is meant to follow it.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "testutil.h"
#include "aiofs.h"

#define MiB	(1024 * 1024)

/* A daemon and one connection to it. */
struct cl {
	struct tdaemon	 d;
	aiofs_t		*h;
};

/* Start a daemon with extra args and connect to it. */
static void
cl_start(struct cl *c, const char *const *extra)
{
	int	 rc;

	tdaemon_start(&c->d, extra);
	rc = aiofs_connect(&c->h, c->d.sock, "check_client");
	ck_assert_msg(rc == 0, "connect: %s", aiofs_strerror(rc));
}

/* Disconnect and stop the daemon (which must exit cleanly). */
static void
cl_stop(struct cl *c)
{
	aiofs_close(c->h);
	c->h = NULL;
	tdaemon_stop(&c->d);
}

/* Host path of a root-relative path (one of a few rotating buffers). */
static const char *
hp(struct cl *c, const char *rel)
{
	static char	 buf[8][600];
	static int	 n;
	char		*p = buf[n++ % 8];

	while (*rel == '/')
		rel++;
	if (snprintf(p, sizeof buf[0], "%s/%s", c->d.root, rel) >=
	    (int)sizeof buf[0])
		ck_abort_msg("path too long: %s", rel);
	return (p);
}

/* Write a host file with plain syscalls. */
static void
host_put(struct cl *c, const char *rel, const void *data, size_t len)
{
	int		 fd;
	size_t		 off = 0;
	ssize_t		 n;

	fd = open(hp(c, rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	while (off < len) {
		n = write(fd, (const char *)data + off, len - off);
		ck_assert_int_gt(n, 0);
		off += n;
	}
	ck_assert_int_eq(close(fd), 0);
}

/* Read a whole host file (NUL-terminated copy), NULL if missing. */
static char *
host_get(struct cl *c, const char *rel, size_t *lenp)
{
	struct stat	 sb;
	char		*buf;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(hp(c, rel), O_RDONLY)) == -1)
		return (NULL);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	buf = malloc(sb.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	while ((n = read(fd, buf + off, sb.st_size - off)) > 0)
		off += n;
	close(fd);
	buf[off] = '\0';
	*lenp = off;
	return (buf);
}

/* Size of a host file, -1 if it does not exist. */
static off_t
host_size(struct cl *c, const char *rel)
{
	struct stat	 sb;

	if (stat(hp(c, rel), &sb) == -1)
		return (-1);
	return (sb.st_size);
}

/* Does a host path exist (without following a last symlink)? */
static int
host_exists(struct cl *c, const char *rel)
{
	struct stat	 sb;

	return (lstat(hp(c, rel), &sb) == 0);
}

/* The host file must hold exactly these bytes. */
static void
host_expect(struct cl *c, const char *rel, const void *want, size_t len)
{
	char	*got;
	size_t	 n = 0;

	got = host_get(c, rel, &n);
	ck_assert_msg(got != NULL, "%s missing on the host", rel);
	ck_assert_msg(n == len, "%s: %zu bytes on the host, want %zu", rel, n,
	    len);
	if (len > 0)
		ck_assert_msg(memcmp(got, want, len) == 0, "%s: wrong contents "
		    "\"%.*s\"", rel, (int)(n > 64 ? 64 : n), got);
	free(got);
}

/* Monotonic milliseconds. */
static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Fresh request. */
static void
rinit(aiofs_req_t *req)
{
	memset(req, 0, sizeof *req);
}

/* open() that must succeed; info copied out if wanted. */
static aiofs_file_t
xopen(struct cl *c, const char *path, const char *mode,
    const aiofs_open_opts_t *o)
{
	aiofs_req_t	 req;
	aiofs_file_t	 f;
	int		 rc;

	rinit(&req);
	rc = aiofs_open(c->h, &req, path, mode, o, NULL);
	ck_assert_msg(rc == 0, "open %s '%s': %s (%s)", path,
	    mode != NULL ? mode : "(null)", aiofs_errname(rc),
	    req.errmsg != NULL ? req.errmsg : "");
	ck_assert_int_eq(req.result, 0);
	f = req.file;
	ck_assert_uint_ne(f, 0);
	aiofs_req_cleanup(&req);
	return (f);
}

/* open() that must fail with e; returns nothing, checks errmsg/path. */
static void
xopen_fail(struct cl *c, const char *path, const char *mode,
    const aiofs_open_opts_t *o, int e, const char *msgpart)
{
	aiofs_req_t	 req;
	int		 rc;

	rinit(&req);
	rc = aiofs_open(c->h, &req, path, mode, o, NULL);
	ck_assert_msg(rc == -e, "open %s '%s': got %d (%s), want %s", path,
	    mode != NULL ? mode : "(null)", rc, aiofs_errname(rc),
	    aiofs_errname(e));
	ck_assert_int_eq(req.result, -e);
	if (msgpart != NULL) {
		ck_assert_ptr_nonnull(req.errmsg);
		ck_assert_msg(strstr(req.errmsg, msgpart) != NULL,
		    "errmsg \"%s\" does not mention \"%s\"", req.errmsg,
		    msgpart);
	}
	aiofs_req_cleanup(&req);
}

/* A read of some kind that must succeed; returns the (malloc'd) data. */
static char *
xread2(struct cl *c, aiofs_file_t f, int64_t n, aiofs_read_kind_t kind,
    size_t *lenp)
{
	aiofs_req_t	 req;
	char		*buf;
	int		 rc;

	rinit(&req);
	rc = aiofs_read2(c->h, &req, f, n, kind, NULL);
	ck_assert_msg(rc >= 0, "read kind %d of %lld: %s (%s)", kind,
	    (long long)n, aiofs_errname(rc),
	    req.errmsg != NULL ? req.errmsg : "");
	ck_assert_int_eq(req.result, (int64_t)req.len);
	buf = malloc(req.len + 1);
	if (req.len > 0)
		memcpy(buf, req.buf, req.len);
	buf[req.len] = '\0';
	*lenp = req.len;
	aiofs_req_cleanup(&req);
	return (buf);
}

/* read(n) whose result must be exactly want (a C string). */
static void
xread_is(struct cl *c, aiofs_file_t f, int64_t n, aiofs_read_kind_t kind,
    const char *want)
{
	char	*got;
	size_t	 len;

	got = xread2(c, f, n, kind, &len);
	ck_assert_msg(len == strlen(want) && memcmp(got, want, len) == 0,
	    "read kind %d (%lld): got \"%s\" (%zu bytes), want \"%s\"", kind,
	    (long long)n, got, len, want);
	free(got);
}

/* write() that must succeed and report count. */
static void
xwrite(struct cl *c, aiofs_file_t f, const void *data, size_t len,
    int64_t count)
{
	aiofs_req_t	 req;
	int		 rc;

	rinit(&req);
	rc = aiofs_write(c->h, &req, f, data, len, NULL);
	ck_assert_msg(rc >= 0, "write: %s (%s)", aiofs_errname(rc),
	    req.errmsg != NULL ? req.errmsg : "");
	ck_assert_int_eq(req.result, count);
	aiofs_req_cleanup(&req);
}

/* write() of a C string. */
static void
xwrites(struct cl *c, aiofs_file_t f, const char *s, int64_t count)
{
	xwrite(c, f, s, strlen(s), count);
}

/* seek() that must succeed; returns the new position. */
static int64_t
xseek(struct cl *c, aiofs_file_t f, int64_t off, int whence)
{
	aiofs_req_t	 req;
	int		 rc;

	rinit(&req);
	rc = aiofs_seek(c->h, &req, f, off, whence, NULL);
	ck_assert_msg(rc >= 0, "seek(%lld, %d): %s (%s)", (long long)off,
	    whence, aiofs_errname(rc), req.errmsg != NULL ? req.errmsg : "");
	aiofs_req_cleanup(&req);
	return (req.result);
}

/* tell() that must succeed. */
static int64_t
xtell(struct cl *c, aiofs_file_t f)
{
	aiofs_req_t	 req;
	int		 rc;

	rinit(&req);
	rc = aiofs_tell(c->h, &req, f, NULL);
	ck_assert_msg(rc >= 0, "tell: %s", aiofs_errname(rc));
	aiofs_req_cleanup(&req);
	return (req.result);
}

/* A handle op (flush, close, fsync...) whose result must be r. */
typedef int (*hop_fn)(aiofs_t *, aiofs_req_t *, aiofs_file_t, aiofs_cb);
static void
xhop(struct cl *c, hop_fn fn, aiofs_file_t f, int r, const char *what)
{
	aiofs_req_t	 req;
	int		 rc;

	rinit(&req);
	rc = fn(c->h, &req, f, NULL);
	ck_assert_msg(rc == r, "%s: got %d (%s: %s), want %d (%s)", what, rc,
	    aiofs_errname(rc), req.errmsg != NULL ? req.errmsg : "", r,
	    aiofs_errname(r));
	aiofs_req_cleanup(&req);
}
#define xclose(c, f)	xhop((c), aiofs_fclose, (f), 0, "close")
#define xflush(c, f)	xhop((c), aiofs_flush, (f), 0, "flush")

/* The connection is still fine: a ping goes round. */
static void
xping(struct cl *c)
{
	aiofs_req_t	 req;

	rinit(&req);
	ck_assert_int_eq(aiofs_ping(c->h, &req, NULL), 0);
	aiofs_req_cleanup(&req);
}

/* fileinfo() that must succeed (caller cleans up req). */
static void
xinfo(struct cl *c, aiofs_file_t f, aiofs_req_t *req)
{
	int	 rc;

	rinit(req);
	rc = aiofs_fileinfo(c->h, req, f, NULL);
	ck_assert_msg(rc == 0, "fileinfo: %s", aiofs_errname(rc));
}

/* A deterministic byte pattern. */
static void
pattern(uint8_t *p, size_t len, unsigned seed)
{
	size_t	 i;
	uint32_t x = seed * 2654435761U + 1;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* ------------------------------------------------------------ open modes */

START_TEST(test_open_r)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 req;

	cl_start(&c, NULL);
	host_put(&c, "f", "hello world", 11);
	f = xopen(&c, "f", "r", NULL);
	xread_is(&c, f, -1, AIOFS_READ, "hello world");
	ck_assert_int_eq(xtell(&c, f), 11);
	rinit(&req);
	ck_assert_int_eq(aiofs_write(c.h, &req, f, "x", 1, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	xclose(&c, f);
	host_expect(&c, "f", "hello world", 11);
	cl_stop(&c);
}
END_TEST

START_TEST(test_open_rb_plus)
{
	struct cl	 c;
	aiofs_file_t	 f;

	cl_start(&c, NULL);
	host_put(&c, "f", "hello world", 11);
	/* BufferedRandom: a write after a read lands where the read ended. */
	f = xopen(&c, "f", "rb+", NULL);
	xread_is(&c, f, 5, AIOFS_READ, "hello");
	xwrites(&c, f, "XX", 2);
	ck_assert_int_eq(xtell(&c, f), 7);
	xread_is(&c, f, -1, AIOFS_READ, "orld");
	xclose(&c, f);
	host_expect(&c, "f", "helloXXorld", 11);

	/* Text r+: writing first overwrites from the start. */
	f = xopen(&c, "f", "r+", NULL);
	xwrites(&c, f, "HE", 2);
	xclose(&c, f);
	host_expect(&c, "f", "HElloXXorld", 11);
	cl_stop(&c);
}
END_TEST

START_TEST(test_open_w)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 req;

	cl_start(&c, NULL);
	host_put(&c, "f", "old contents", 12);
	f = xopen(&c, "f", "w", NULL);
	/* Truncated by open itself. */
	ck_assert_int_eq(host_size(&c, "f"), 0);
	xwrites(&c, f, "abc", 3);
	rinit(&req);
	ck_assert_int_eq(aiofs_read(c.h, &req, f, -1, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	xclose(&c, f);
	host_expect(&c, "f", "abc", 3);

	/* Created when missing, with the default permissions. */
	f = xopen(&c, "new", "wb", NULL);
	xwrite(&c, f, "\0\1\2", 3, 3);
	xclose(&c, f);
	host_expect(&c, "new", "\0\1\2", 3);

	f = xopen(&c, "f", "w+", NULL);
	xwrites(&c, f, "xyz", 3);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	xread_is(&c, f, -1, AIOFS_READ, "xyz");
	xclose(&c, f);
	host_expect(&c, "f", "xyz", 3);
	cl_stop(&c);
}
END_TEST

START_TEST(test_open_a)
{
	struct cl	 c;
	aiofs_file_t	 f;

	cl_start(&c, NULL);
	host_put(&c, "f", "hello world", 11);
	f = xopen(&c, "f", "a", NULL);
	xwrites(&c, f, "!", 1);
	ck_assert_int_eq(xtell(&c, f), 12);
	xclose(&c, f);
	host_expect(&c, "f", "hello world!", 12);

	/* a+: reads anywhere, writes always at the end. */
	f = xopen(&c, "f", "ab+", NULL);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	xread_is(&c, f, 2, AIOFS_READ, "he");
	xwrites(&c, f, "?", 1);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	xread_is(&c, f, -1, AIOFS_READ, "hello world!?");
	xclose(&c, f);
	host_expect(&c, "f", "hello world!?", 13);

	f = xopen(&c, "created", "a", NULL);
	xwrites(&c, f, "a", 1);
	xclose(&c, f);
	host_expect(&c, "created", "a", 1);
	cl_stop(&c);
}
END_TEST

START_TEST(test_open_a_position)
{
	struct cl	 c;
	aiofs_file_t	 f;

	cl_start(&c, NULL);
	host_put(&c, "f", "hello world", 11);
	/*
	 * Python's FileIO seeks to the end when it opens for appending, so
	 * tell() is the size at once, and a+ reads nothing before a seek.
	 */
	f = xopen(&c, "f", "a", NULL);
	ck_assert_int_eq(xtell(&c, f), 11);
	xclose(&c, f);
	f = xopen(&c, "f", "ab+", NULL);
	ck_assert_int_eq(xtell(&c, f), 11);
	xread_is(&c, f, -1, AIOFS_READ, "");
	xclose(&c, f);
	f = xopen(&c, "f", "a+", NULL);
	xread_is(&c, f, -1, AIOFS_READ, "");
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

START_TEST(test_open_x)
{
	struct cl	 c;
	aiofs_file_t	 f;

	cl_start(&c, NULL);
	f = xopen(&c, "new", "x", NULL);
	ck_assert_int_eq(host_size(&c, "new"), 0);
	xwrites(&c, f, "made", 4);
	xclose(&c, f);
	host_expect(&c, "new", "made", 4);
	xopen_fail(&c, "new", "x", NULL, EEXIST, NULL);
	xopen_fail(&c, "new", "xb+", NULL, EEXIST, NULL);
	host_expect(&c, "new", "made", 4);

	f = xopen(&c, "new2", "x+", NULL);
	xwrites(&c, f, "rw", 2);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	xread_is(&c, f, -1, AIOFS_READ, "rw");
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

START_TEST(test_open_mode_table)
{
	static const struct {
		const char	*mode;
		const char	*canon;
		int		 r, w, text;
	} t[] = {
		{ "r", "r", 1, 0, 1 }, { "rt", "rt", 1, 0, 1 },
		{ "rb", "rb", 1, 0, 0 }, { "br", "rb", 1, 0, 0 },
		{ "r+", "r+", 1, 1, 1 }, { "r+b", "rb+", 1, 1, 0 },
		{ "+rb", "rb+", 1, 1, 0 }, { "w", "w", 0, 1, 1 },
		{ "wb", "wb", 0, 1, 0 }, { "w+b", "rb+", 1, 1, 0 },
		{ "wt+", "wt+", 1, 1, 1 }, { "a", "a", 0, 1, 1 },
		{ "ab", "ab", 0, 1, 0 }, { "a+b", "ab+", 1, 1, 0 },
		{ "x", "x", 0, 1, 1 }, { "xb", "xb", 0, 1, 0 },
		{ "bx+", "xb+", 1, 1, 0 }, { "t+r", "t+r", 1, 1, 1 },
	};
	struct cl	 c;
	aiofs_req_t	 req;
	char		 name[32];
	size_t		 i;
	int		 rc;

	cl_start(&c, NULL);
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		snprintf(name, sizeof name, "m%zu", i);
		if (strchr(t[i].mode, 'x') == NULL)
			host_put(&c, name, "data", 4);
		rinit(&req);
		rc = aiofs_open(c.h, &req, name, t[i].mode, NULL, NULL);
		ck_assert_msg(rc == 0, "open '%s': %s", t[i].mode,
		    aiofs_errname(rc));
		ck_assert_ptr_nonnull(req.info.mode);
		ck_assert_msg(strcmp(req.info.mode, t[i].canon) == 0,
		    "mode '%s' reported as '%s', Python says '%s'",
		    t[i].mode, req.info.mode, t[i].canon);
		ck_assert_int_eq(req.info.readable, t[i].r);
		ck_assert_int_eq(req.info.writable, t[i].w);
		ck_assert_int_eq(req.info.text, t[i].text);
		ck_assert_int_eq(req.info.closed, 0);
		xclose(&c, req.file);
		aiofs_req_cleanup(&req);
	}
	cl_stop(&c);
}
END_TEST

START_TEST(test_open_invalid_modes)
{
	static const char *bad[] = { "rw", "rr", "U", "rU", "q", "r+b+",
	    "bt", "rbt", "wa", "+", "b", "t", "r ", "R" };
	struct cl	 c;
	char		 quoted[16];
	size_t		 i;

	cl_start(&c, NULL);
	host_put(&c, "f", "x", 1);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
		xopen_fail(&c, "f", bad[i], NULL, EINVAL, quoted);
	}
	/* Nothing was created or truncated by a refused open. */
	host_expect(&c, "f", "x", 1);
	ck_assert(!host_exists(&c, "g"));
	xopen_fail(&c, "g", "wr", NULL, EINVAL, "'wr'");
	ck_assert(!host_exists(&c, "g"));
	xping(&c);
	cl_stop(&c);
}
END_TEST

START_TEST(test_open_empty_mode)
{
	struct cl	 c;

	cl_start(&c, NULL);
	host_put(&c, "f", "x", 1);
	/* Python: open(f, "") is a ValueError, not "r". */
	xopen_fail(&c, "f", "", NULL, EINVAL, "''");
	/* A NULL mode is an omitted argument: "r". */
	{
		aiofs_file_t f = xopen(&c, "f", NULL, NULL);

		xread_is(&c, f, -1, AIOFS_READ, "x");
		xclose(&c, f);
	}
	cl_stop(&c);
}
END_TEST

START_TEST(test_open_errors)
{
	struct cl	 c;
	aiofs_req_t	 req;

	cl_start(&c, NULL);
	rinit(&req);
	ck_assert_int_eq(aiofs_open(c.h, &req, "missing", "r", NULL, NULL),
	    -ENOENT);
	ck_assert_ptr_nonnull(req.errpath);
	ck_assert_str_eq(req.errpath, "missing");
	ck_assert_ptr_nonnull(req.errmsg);
	ck_assert_str_eq(req.errmsg, strerror(ENOENT));
	aiofs_req_cleanup(&req);
	xopen_fail(&c, "nodir/f", "w", NULL, ENOENT, NULL);
	xopen_fail(&c, "missing", "rb+", NULL, ENOENT, NULL);
	ck_assert(!host_exists(&c, "missing"));

	ck_assert_int_eq(mkdir(hp(&c, "d"), 0755), 0);
	rinit(&req);
	ck_assert_int_eq(aiofs_open(c.h, &req, "d", "r", NULL, NULL),
	    -EISDIR);
	ck_assert_ptr_nonnull(req.errpath);
	ck_assert_str_eq(req.errpath, "d");
	aiofs_req_cleanup(&req);
	xopen_fail(&c, "d", "rb", NULL, EISDIR, NULL);
	xopen_fail(&c, "d", "w", NULL, EISDIR, NULL);
	xopen_fail(&c, "d", "a", NULL, EISDIR, NULL);

	host_put(&c, "e", "keep", 4);
	xopen_fail(&c, "e", "x", NULL, EEXIST, NULL);
	xopen_fail(&c, "e", "xb", NULL, EEXIST, NULL);
	host_expect(&c, "e", "keep", 4);
	xping(&c);
	cl_stop(&c);
}
END_TEST

/* ----------------------------------------------------------- bad handles */

START_TEST(test_wrong_direction)
{
	struct cl	 c;
	aiofs_file_t	 w, r;
	aiofs_req_t	 req;
	const char	*lines[] = { "a" };

	cl_start(&c, NULL);
	host_put(&c, "r", "abc\n", 4);
	w = xopen(&c, "w", "wb", NULL);
	r = xopen(&c, "r", "rb", NULL);

	rinit(&req);
	ck_assert_int_eq(aiofs_read(c.h, &req, w, -1, NULL), -EBADF);
	ck_assert_ptr_nonnull(req.errmsg);
	ck_assert_ptr_nonnull(strstr(req.errmsg, "reading"));
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_read(c.h, &req, w, 3, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_readline(c.h, &req, w, -1, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_readlines(c.h, &req, w, 0, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_peek(c.h, &req, w, 1, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_pread(c.h, &req, w, 1, 0, NULL), -EBADF);
	aiofs_req_cleanup(&req);

	ck_assert_int_eq(aiofs_write(c.h, &req, r, "x", 1, NULL), -EBADF);
	ck_assert_ptr_nonnull(req.errmsg);
	ck_assert_ptr_nonnull(strstr(req.errmsg, "writing"));
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_writelines(c.h, &req, r, lines, 1, NULL),
	    -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_pwrite(c.h, &req, r, "x", 1, 0, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_truncate(c.h, &req, r, 0, NULL), -EBADF);
	aiofs_req_cleanup(&req);

	/* Refusals change nothing and leave the handles usable. */
	xwrites(&c, w, "ok", 2);
	xread_is(&c, r, -1, AIOFS_READ, "abc\n");
	xclose(&c, w);
	xclose(&c, r);
	host_expect(&c, "w", "ok", 2);
	host_expect(&c, "r", "abc\n", 4);
	cl_stop(&c);
}
END_TEST

/* Every handle op on f must say EBADF. */
static void
all_ebadf(struct cl *c, aiofs_file_t f)
{
	aiofs_req_t	 req;
	char		 buf[4];

	rinit(&req);
	ck_assert_int_eq(aiofs_read(c->h, &req, f, -1, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_readinto(c->h, &req, f, buf, 4, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_readlines(c->h, &req, f, 0, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_write(c->h, &req, f, "x", 1, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_seek(c->h, &req, f, 0, 0, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_truncate(c->h, &req, f, 0, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_pread(c->h, &req, f, 1, 0, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	xhop(c, aiofs_tell, f, -EBADF, "tell");
	xhop(c, aiofs_flush, f, -EBADF, "flush");
	xhop(c, aiofs_fsync, f, -EBADF, "fsync");
	xhop(c, aiofs_fdatasync, f, -EBADF, "fdatasync");
	xhop(c, aiofs_fileinfo, f, -EBADF, "fileinfo");
	xhop(c, aiofs_fclose, f, -EBADF, "close");
}

START_TEST(test_bad_handles)
{
	struct cl	 c;
	aiofs_file_t	 f1, f2, forged[6];
	size_t		 i;

	cl_start(&c, NULL);
	host_put(&c, "a", "AAAA", 4);
	host_put(&c, "b", "BBBB", 4);
	f1 = xopen(&c, "a", "rb", NULL);
	xclose(&c, f1);
	/* Closed. */
	all_ebadf(&c, f1);
	/* Stale: the slot has a new owner, the old id must not reach it. */
	f2 = xopen(&c, "b", "rb+", NULL);
	ck_assert_uint_ne(f1, f2);
	all_ebadf(&c, f1);
	xread_is(&c, f2, -1, AIOFS_READ, "BBBB");
	/* Forged. */
	forged[0] = 0;
	forged[1] = 1;
	forged[2] = f2 + (1ULL << 32);
	forged[3] = f2 ^ 0xffffffffULL;
	forged[4] = UINT64_MAX;
	forged[5] = (f2 & 0xffffffff00000000ULL) | 1000;
	for (i = 0; i < sizeof forged / sizeof forged[0]; i++)
		all_ebadf(&c, forged[i]);
	/* None of that disturbed the real handle or the connection. */
	ck_assert_int_eq(xtell(&c, f2), 4);
	xclose(&c, f2);
	host_expect(&c, "b", "BBBB", 4);
	xping(&c);
	cl_stop(&c);
}
END_TEST

/* ----------------------------------------------------------------- reads */

#define LINES	"line1\nline2\nline3\nlast"

/* The read family on one handle opened with mode. */
static void
read_family(struct cl *c, const char *mode)
{
	aiofs_file_t	 f;
	aiofs_req_t	 req;
	char		*got, buf[8];
	size_t		 len;
	int		 rc;

	f = xopen(c, "lines", mode, NULL);
	xread_is(c, f, 4, AIOFS_READ, "line");
	got = xread2(c, f, 3, AIOFS_READ1, &len);
	ck_assert_uint_ge(len, 1);
	ck_assert_uint_le(len, 3);
	ck_assert_mem_eq(got, "1\nl", len);
	free(got);

	ck_assert_int_eq(xseek(c, f, 0, SEEK_SET), 0);
	xread_is(c, f, -1, AIOFS_READLINE, "line1\n");
	xread_is(c, f, 3, AIOFS_READLINE, "lin");
	xread_is(c, f, -1, AIOFS_READLINE, "e2\n");
	ck_assert_int_eq(xtell(c, f), 12);

	rinit(&req);
	ck_assert_int_eq(aiofs_readlines(c->h, &req, f, 0, NULL), 2);
	ck_assert_uint_eq(req.nlines, 2);
	ck_assert_str_eq(req.lines[0], "line3\n");
	ck_assert_uint_eq(req.linelens[0], 6);
	ck_assert_str_eq(req.lines[1], "last");
	ck_assert_uint_eq(req.linelens[1], 4);
	aiofs_req_cleanup(&req);

	/* At EOF: empty results, eof set on data. */
	xread_is(c, f, -1, AIOFS_READLINE, "");
	rinit(&req);
	ck_assert_int_eq(aiofs_read(c->h, &req, f, -1, NULL), 0);
	ck_assert_uint_eq(req.len, 0);
	ck_assert_int_eq(req.eof, 1);
	aiofs_req_cleanup(&req);
	xread_is(c, f, 10, AIOFS_READ, "");
	rinit(&req);
	ck_assert_int_eq(aiofs_readlines(c->h, &req, f, 0, NULL), 0);
	ck_assert_uint_eq(req.nlines, 0);
	aiofs_req_cleanup(&req);

	ck_assert_int_eq(xseek(c, f, 6, SEEK_SET), 6);
	xread_is(c, f, -1, AIOFS_READALL, "line2\nline3\nlast");

	/* readlines(hint): Python stops once the total reaches hint. */
	ck_assert_int_eq(xseek(c, f, 0, SEEK_SET), 0);
	rinit(&req);
	ck_assert_int_eq(aiofs_readlines(c->h, &req, f, 6, NULL), 1);
	ck_assert_str_eq(req.lines[0], "line1\n");
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(xseek(c, f, 0, SEEK_SET), 0);
	rinit(&req);
	ck_assert_int_eq(aiofs_readlines(c->h, &req, f, 7, NULL), 2);
	ck_assert_str_eq(req.lines[1], "line2\n");
	aiofs_req_cleanup(&req);
	xread_is(c, f, -1, AIOFS_READLINE, "line3\n");

	/* readinto a caller buffer; the position moves by what it got. */
	ck_assert_int_eq(xseek(c, f, 0, SEEK_SET), 0);
	memset(buf, '#', sizeof buf);
	rinit(&req);
	rc = aiofs_readinto(c->h, &req, f, buf, sizeof buf, NULL);
	ck_assert_int_eq(rc, 8);
	ck_assert_mem_eq(buf, "line1\nli", 8);
	ck_assert_ptr_null(req.buf);
	aiofs_req_cleanup(&req);
	xread_is(c, f, 2, AIOFS_READ, "ne");
	ck_assert_int_eq(xseek(c, f, 20, SEEK_SET), 20);
	memset(buf, '#', sizeof buf);
	rinit(&req);
	ck_assert_int_eq(aiofs_readinto(c->h, &req, f, buf, sizeof buf, NULL),
	    2);
	ck_assert_mem_eq(buf, "st######", 8);
	aiofs_req_cleanup(&req);
	xclose(c, f);
}

START_TEST(test_read_family_binary)
{
	struct cl	 c;
	aiofs_file_t	 f;
	char		*got;
	size_t		 len;

	cl_start(&c, NULL);
	host_put(&c, "lines", LINES, strlen(LINES));
	read_family(&c, "rb");

	/* peek: at least one byte, and does not advance. */
	f = xopen(&c, "lines", "rb", NULL);
	xread_is(&c, f, 2, AIOFS_READ, "li");
	got = xread2(&c, f, 1, AIOFS_PEEK, &len);
	ck_assert_uint_ge(len, 1);
	ck_assert_mem_eq(got, "ne1\nline2\nline3\nlast", len > 20 ? 20 : len);
	free(got);
	xread_is(&c, f, 3, AIOFS_READ, "ne1");
	ck_assert_int_eq(xtell(&c, f), 5);
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

START_TEST(test_read_family_text)
{
	struct cl	 c;

	cl_start(&c, NULL);
	host_put(&c, "lines", LINES, strlen(LINES));
	read_family(&c, "r");
	cl_stop(&c);
}
END_TEST

START_TEST(test_read_unbuffered_binary)
{
	struct cl		 c;
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;

	cl_start(&c, NULL);
	host_put(&c, "lines", LINES, strlen(LINES));
	o.buffering = 0;
	{
		aiofs_file_t f = xopen(&c, "lines", "rb", &o);

		xread_is(&c, f, 5, AIOFS_READ, "line1");
		ck_assert_int_eq(xtell(&c, f), 5);
		xread_is(&c, f, -1, AIOFS_READLINE, "\n");
		xread_is(&c, f, -1, AIOFS_READ, "line2\nline3\nlast");
		xclose(&c, f);
	}
	cl_stop(&c);
}
END_TEST

/* ---------------------------------------------------------------- writes */

START_TEST(test_write_writelines)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 req;
	const char	*lines[] = { "de", "f\n", "", "g" };
	const char	*ulines[] = { "\xc3\xa9", "x", "\xe2\x82\xac\n" };

	cl_start(&c, NULL);
	f = xopen(&c, "b", "wb", NULL);
	xwrites(&c, f, "abc", 3);
	rinit(&req);
	ck_assert_int_eq(aiofs_writelines(c.h, &req, f, lines, 4, NULL), 5);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_writelines(c.h, &req, f, lines, 0, NULL), 0);
	aiofs_req_cleanup(&req);
	xwrite(&c, f, "", 0, 0);
	xclose(&c, f);
	host_expect(&c, "b", "abcdef\ng", 8);

	/* Text: counts are characters, as len(str). */
	f = xopen(&c, "t", "w", NULL);
	rinit(&req);
	ck_assert_int_eq(aiofs_writelines(c.h, &req, f, ulines, 3, NULL), 4);
	aiofs_req_cleanup(&req);
	xwrites(&c, f, "h\xc3\xa9llo", 5);
	xclose(&c, f);
	host_expect(&c, "t", "\xc3\xa9x\xe2\x82\xac\nh\xc3\xa9llo", 13);
	cl_stop(&c);
}
END_TEST

START_TEST(test_flush_buffered)
{
	struct cl		 c;
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;
	aiofs_file_t		 f;
	uint8_t			 data[150];

	cl_start(&c, NULL);
	pattern(data, sizeof data, 1);
	o.buffering = 65536;
	f = xopen(&c, "b", "wb", &o);
	xwrite(&c, f, data, 100, 100);
	/* Buffered in the daemon: not on disk before flush()... */
	ck_assert_int_eq(host_size(&c, "b"), 0);
	xflush(&c, f);
	/* ...and on disk after it. */
	ck_assert_int_eq(host_size(&c, "b"), 100);
	xwrite(&c, f, data + 100, 50, 50);
	ck_assert_int_eq(host_size(&c, "b"), 100);
	xclose(&c, f);
	host_expect(&c, "b", data, 150);

	/* Text, default buffering. */
	f = xopen(&c, "t", "w", NULL);
	xwrites(&c, f, "abc", 3);
	ck_assert_int_eq(host_size(&c, "t"), 0);
	xflush(&c, f);
	host_expect(&c, "t", "abc", 3);
	xclose(&c, f);

	/* Line buffered text: a newline pushes the line out. */
	o.buffering = 1;
	f = xopen(&c, "l", "w", &o);
	xwrites(&c, f, "ab", 2);
	ck_assert_int_eq(host_size(&c, "l"), 0);
	xwrites(&c, f, "c\nd", 3);
	ck_assert_int_ge(host_size(&c, "l"), 4);
	xclose(&c, f);
	host_expect(&c, "l", "abc\nd", 5);

	/* Unbuffered binary: straight through. */
	o.buffering = 0;
	f = xopen(&c, "u", "wb", &o);
	xwrite(&c, f, data, 10, 10);
	host_expect(&c, "u", data, 10);
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

START_TEST(test_seek_tell)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 req;
	char		*got;
	size_t		 len;

	cl_start(&c, NULL);
	host_put(&c, "f", "0123456789", 10);
	f = xopen(&c, "f", "rb", NULL);
	ck_assert_int_eq(xtell(&c, f), 0);
	ck_assert_int_eq(xseek(&c, f, 3, SEEK_SET), 3);
	xread_is(&c, f, 2, AIOFS_READ, "34");
	ck_assert_int_eq(xtell(&c, f), 5);
	ck_assert_int_eq(xseek(&c, f, 2, SEEK_CUR), 7);
	xread_is(&c, f, 1, AIOFS_READ, "7");
	ck_assert_int_eq(xseek(&c, f, -2, SEEK_END), 8);
	xread_is(&c, f, -1, AIOFS_READ, "89");
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_END), 10);
	ck_assert_int_eq(xtell(&c, f), 10);

	rinit(&req);
	ck_assert_int_eq(aiofs_seek(c.h, &req, f, -1, SEEK_SET, NULL),
	    -EINVAL);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_seek(c.h, &req, f, 0, 3, NULL), -EINVAL);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_seek(c.h, &req, f, -20, SEEK_CUR, NULL),
	    -EINVAL);
	aiofs_req_cleanup(&req);
	/* Failed seeks do not move. */
	ck_assert_int_eq(xtell(&c, f), 10);
	/* Seeking back after read-ahead. */
	ck_assert_int_eq(xseek(&c, f, 1, SEEK_SET), 1);
	got = xread2(&c, f, 1, AIOFS_READ, &len);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(got[0], '1');
	free(got);
	ck_assert_int_eq(xseek(&c, f, -1, SEEK_CUR), 1);
	xread_is(&c, f, 1, AIOFS_READ, "1");
	xclose(&c, f);

	/* Past the end, then write: the gap reads as zeros. */
	f = xopen(&c, "f", "r+b", NULL);
	ck_assert_int_eq(xseek(&c, f, 15, SEEK_SET), 15);
	xwrites(&c, f, "X", 1);
	ck_assert_int_eq(xtell(&c, f), 16);
	xclose(&c, f);
	host_expect(&c, "f", "0123456789\0\0\0\0\0X", 16);

	/* Text: only zero-offset cur/end seeks. */
	host_put(&c, "t", "ab\ncd\n", 6);
	f = xopen(&c, "t", "r", NULL);
	xread_is(&c, f, -1, AIOFS_READLINE, "ab\n");
	ck_assert_int_eq(xtell(&c, f), 3);
	rinit(&req);
	ck_assert_int_eq(aiofs_seek(c.h, &req, f, 1, SEEK_CUR, NULL),
	    -EINVAL);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_seek(c.h, &req, f, -1, SEEK_END, NULL),
	    -EINVAL);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_CUR), 3);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_END), 6);
	ck_assert_int_eq(xseek(&c, f, 3, SEEK_SET), 3);
	xread_is(&c, f, -1, AIOFS_READ, "cd\n");
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

START_TEST(test_truncate)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 req;
	char		 want[100];

	cl_start(&c, NULL);
	f = xopen(&c, "f", "w+b", NULL);
	xwrites(&c, f, "0123456789", 10);
	rinit(&req);
	ck_assert_int_eq(aiofs_truncate(c.h, &req, f, 4, NULL), 4);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(host_size(&c, "f"), 4);
	/* Python: truncate does not move the position. */
	ck_assert_int_eq(xtell(&c, f), 10);
	ck_assert_int_eq(xseek(&c, f, 2, SEEK_SET), 2);
	ck_assert_int_eq(aiofs_truncate(c.h, &req, f, -1, NULL), 2);
	aiofs_req_cleanup(&req);
	host_expect(&c, "f", "01", 2);
	ck_assert_int_eq(xtell(&c, f), 2);
	ck_assert_int_eq(aiofs_truncate(c.h, &req, f, 100, NULL), 100);
	aiofs_req_cleanup(&req);
	memset(want, 0, sizeof want);
	memcpy(want, "01", 2);
	host_expect(&c, "f", want, 100);
	xclose(&c, f);

	f = xopen(&c, "f", "rb", NULL);
	ck_assert_int_eq(aiofs_truncate(c.h, &req, f, 0, NULL), -EBADF);
	aiofs_req_cleanup(&req);
	xclose(&c, f);
	ck_assert_int_eq(host_size(&c, "f"), 100);
	cl_stop(&c);
}
END_TEST

START_TEST(test_pread_pwrite)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 req;

	cl_start(&c, NULL);
	f = xopen(&c, "f", "w+b", NULL);
	xwrites(&c, f, "0123456789", 10);
	ck_assert_int_eq(xseek(&c, f, 2, SEEK_SET), 2);
	rinit(&req);
	ck_assert_int_eq(aiofs_pread(c.h, &req, f, 3, 5, NULL), 3);
	ck_assert_mem_eq(req.buf, "567", 3);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(xtell(&c, f), 2);
	ck_assert_int_eq(aiofs_pwrite(c.h, &req, f, "AB", 2, 0, NULL), 2);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(xtell(&c, f), 2);
	xread_is(&c, f, 2, AIOFS_READ, "23");
	/* Short at the end, empty past it. */
	ck_assert_int_eq(aiofs_pread(c.h, &req, f, 5, 8, NULL), 2);
	ck_assert_mem_eq(req.buf, "89", 2);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_pread(c.h, &req, f, 5, 100, NULL), 0);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_pread(c.h, &req, f, 3, -1, NULL), -EINVAL);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_pwrite(c.h, &req, f, "x", 1, -1, NULL),
	    -EINVAL);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(xtell(&c, f), 4);
	xclose(&c, f);
	host_expect(&c, "f", "AB23456789", 10);
	cl_stop(&c);
}
END_TEST

START_TEST(test_fsync)
{
	struct cl		 c;
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;
	aiofs_file_t		 f;

	cl_start(&c, NULL);
	o.buffering = 65536;
	f = xopen(&c, "f", "wb", &o);
	xwrites(&c, f, "0123456789", 10);
	ck_assert_int_eq(host_size(&c, "f"), 0);
	xhop(&c, aiofs_fsync, f, 0, "fsync");
	/* fsync flushes the buffer first. */
	ck_assert_int_eq(host_size(&c, "f"), 10);
	xwrites(&c, f, "ab", 2);
	xhop(&c, aiofs_fdatasync, f, 0, "fdatasync");
	host_expect(&c, "f", "0123456789ab", 12);
	xclose(&c, f);
	f = xopen(&c, "f", "rb", NULL);
	xhop(&c, aiofs_fsync, f, 0, "fsync read-only");
	xhop(&c, aiofs_fdatasync, f, 0, "fdatasync read-only");
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

START_TEST(test_fileinfo)
{
	struct cl		 c;
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;
	aiofs_file_t		 f;
	aiofs_req_t		 req;

	cl_start(&c, NULL);
	host_put(&c, "data.txt", "x", 1);
	f = xopen(&c, "data.txt", "r+", NULL);
	xinfo(&c, f, &req);
	ck_assert_uint_eq(req.info.handle, f);
	ck_assert_str_eq(req.info.name, "data.txt");
	ck_assert_str_eq(req.info.mode, "r+");
	ck_assert_int_eq(req.info.readable, 1);
	ck_assert_int_eq(req.info.writable, 1);
	ck_assert_int_eq(req.info.seekable, 1);
	ck_assert_int_eq(req.info.isatty, 0);
	ck_assert_int_eq(req.info.closed, 0);
	ck_assert_int_eq(req.info.text, 1);
	ck_assert_ptr_nonnull(req.info.encoding);
	ck_assert_int_eq(strcasecmp(req.info.encoding, "utf-8"), 0);
	ck_assert_str_eq(req.info.errors, "strict");
	ck_assert_ptr_null(req.info.newline);
	ck_assert_int_gt(req.info.buffering, 1);
	aiofs_req_cleanup(&req);
	xclose(&c, f);
	xhop(&c, aiofs_fileinfo, f, -EBADF, "fileinfo after close");

	o.buffering = 0;
	f = xopen(&c, "data.txt", "rb", &o);
	xinfo(&c, f, &req);
	ck_assert_str_eq(req.info.mode, "rb");
	ck_assert_int_eq(req.info.text, 0);
	ck_assert_ptr_null(req.info.encoding);
	ck_assert_int_eq(req.info.buffering, 0);
	ck_assert_int_eq(req.info.readable, 1);
	ck_assert_int_eq(req.info.writable, 0);
	aiofs_req_cleanup(&req);
	xclose(&c, f);

	o.buffering = -1;
	o.encoding = "latin-1";
	o.errors = "replace";
	o.newline = "";
	o.newline_set = 1;
	f = xopen(&c, "w.txt", "w", &o);
	xinfo(&c, f, &req);
	ck_assert_str_eq(req.info.name, "w.txt");
	ck_assert_str_eq(req.info.encoding, "latin-1");
	ck_assert_str_eq(req.info.errors, "replace");
	ck_assert_ptr_nonnull(req.info.newline);
	ck_assert_str_eq(req.info.newline, "");
	ck_assert_int_eq(req.info.readable, 0);
	aiofs_req_cleanup(&req);
	xclose(&c, f);

	o.encoding = NULL;
	o.errors = NULL;
	o.newline = "\r\n";
	f = xopen(&c, "w.txt", "a", &o);
	xinfo(&c, f, &req);
	ck_assert_str_eq(req.info.newline, "\r\n");
	ck_assert_str_eq(req.info.mode, "a");
	aiofs_req_cleanup(&req);
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

/* ------------------------------------------------------------- text mode */

START_TEST(test_text_utf8_chars)
{
	struct cl	 c;
	aiofs_file_t	 f;
	const char	*s = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac";

	cl_start(&c, NULL);
	host_put(&c, "u", s, strlen(s));
	f = xopen(&c, "u", "r", NULL);
	/* read(n) counts characters and never splits one. */
	xread_is(&c, f, 5, AIOFS_READ, "h\xc3\xa9llo");
	xread_is(&c, f, 1, AIOFS_READ, " ");
	xread_is(&c, f, 5, AIOFS_READ, "w\xc3\xb6rld");
	xread_is(&c, f, -1, AIOFS_READ, " \xe2\x82\xac");
	xread_is(&c, f, 1, AIOFS_READ, "");
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	xread_is(&c, f, 2, AIOFS_READLINE, "h\xc3\xa9");
	xread_is(&c, f, 13, AIOFS_READ, "llo w\xc3\xb6rld \xe2\x82\xac");
	xclose(&c, f);

	f = xopen(&c, "w", "w", NULL);
	xwrites(&c, f, s, 13);
	xclose(&c, f);
	host_expect(&c, "w", s, strlen(s));
	cl_stop(&c);
}
END_TEST

START_TEST(test_text_latin1)
{
	struct cl		 c;
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;
	aiofs_file_t		 f;
	aiofs_req_t		 req;
	int			 rc;

	cl_start(&c, NULL);
	o.encoding = "latin-1";
	f = xopen(&c, "l", "w", &o);
	xwrites(&c, f, "h\xc3\xa9llo w\xc3\xb6rld", 11);
	/* U+20AC has no latin-1 byte: strict refuses it. */
	rinit(&req);
	rc = aiofs_write(c.h, &req, f, "\xe2\x82\xac", 3, NULL);
	ck_assert_int_eq(rc, -EILSEQ);
	aiofs_req_cleanup(&req);
	xclose(&c, f);
	host_expect(&c, "l", "h\xe9llo w\xf6rld", 11);

	f = xopen(&c, "l", "r", &o);
	xread_is(&c, f, 2, AIOFS_READ, "h\xc3\xa9");
	xread_is(&c, f, -1, AIOFS_READ, "llo w\xc3\xb6rld");
	xclose(&c, f);

	/* All 256 latin-1 bytes decode and encode back unchanged. */
	{
		uint8_t	 raw[256];
		char	*txt;
		size_t	 len, i;

		for (i = 0; i < 256; i++)
			raw[i] = (uint8_t)i;
		host_put(&c, "all", raw, 256);
		o.newline = "";		/* keep \r and \r\n as they are */
		o.newline_set = 1;
		f = xopen(&c, "all", "r", &o);
		txt = xread2(&c, f, -1, AIOFS_READ, &len);
		ck_assert_uint_eq(len, 128 + 2 * 128);
		xclose(&c, f);
		f = xopen(&c, "all2", "w", &o);
		xwrite(&c, f, txt, len, 256);
		xclose(&c, f);
		host_expect(&c, "all2", raw, 256);
		free(txt);
	}
	cl_stop(&c);
}
END_TEST

START_TEST(test_text_errors)
{
	struct cl		 c;
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;
	aiofs_file_t		 f;
	aiofs_req_t		 req;

	cl_start(&c, NULL);
	host_put(&c, "bad", "ab\xff" "cd", 5);
	f = xopen(&c, "bad", "r", NULL);
	rinit(&req);
	ck_assert_int_eq(aiofs_read(c.h, &req, f, -1, NULL), -EILSEQ);
	ck_assert_ptr_nonnull(req.errmsg);
	aiofs_req_cleanup(&req);
	xclose(&c, f);

	o.errors = "replace";
	f = xopen(&c, "bad", "r", &o);
	xread_is(&c, f, -1, AIOFS_READ, "ab\xef\xbf\xbd" "cd");
	xclose(&c, f);

	o.errors = "ignore";
	f = xopen(&c, "bad", "r", &o);
	xread_is(&c, f, -1, AIOFS_READ, "abcd");
	xclose(&c, f);

	o.errors = "bogus";
	xopen_fail(&c, "bad", "r", &o, EINVAL, "bogus");
	/* Binary files take no text arguments. */
	o.errors = NULL;
	o.encoding = "utf-8";
	xopen_fail(&c, "bad", "rb", &o, EINVAL, NULL);
	o.encoding = "no-such-codec";
	xopen_fail(&c, "bad", "r", &o, EINVAL, "no-such-codec");
	cl_stop(&c);
}
END_TEST

/* Open src with newline nl (NULL = None) and check read(-1) and lines. */
static void
newline_case(struct cl *c, const char *nl, const char *all,
    const char *const *lines)
{
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;
	aiofs_file_t		 f;
	size_t			 i;

	if (nl != NULL) {
		o.newline = nl;
		o.newline_set = 1;
	}
	f = xopen(c, "nl", "r", &o);
	xread_is(c, f, -1, AIOFS_READ, all);
	ck_assert_int_eq(xseek(c, f, 0, SEEK_SET), 0);
	for (i = 0; lines[i] != NULL; i++)
		xread_is(c, f, -1, AIOFS_READLINE, lines[i]);
	xread_is(c, f, -1, AIOFS_READLINE, "");
	xclose(c, f);
}

/* Write text with newline nl and check the host bytes. */
static void
newline_write(struct cl *c, const char *nl, const char *text,
    const char *want)
{
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;
	aiofs_file_t		 f;

	if (nl != NULL) {
		o.newline = nl;
		o.newline_set = 1;
	}
	f = xopen(c, "nlw", "w", &o);
	xwrite(c, f, text, strlen(text), strlen(text));
	xclose(c, f);
	host_expect(c, "nlw", want, strlen(want));
}

START_TEST(test_text_newline)
{
	static const char *const none[] = { "a\n", "b\n", "c\n", "d", NULL };
	static const char *const empty[] = { "a\r\n", "b\r", "c\n", "d",
	    NULL };
	static const char *const lf[] = { "a\r\n", "b\rc\n", "d", NULL };
	static const char *const crlf[] = { "a\r\n", "b\rc\nd", NULL };
	static const char *const cr[] = { "a\r", "\nb\r", "c\nd", NULL };
	struct cl		 c;
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;
	const char		*raw = "a\r\nb\rc\nd";

	cl_start(&c, NULL);
	host_put(&c, "nl", raw, strlen(raw));
	newline_case(&c, NULL, "a\nb\nc\nd", none);
	newline_case(&c, "", raw, empty);
	newline_case(&c, "\n", raw, lf);
	newline_case(&c, "\r\n", raw, crlf);
	newline_case(&c, "\r", raw, cr);

	newline_write(&c, NULL, "x\ny\n", "x\ny\n");
	newline_write(&c, "", "x\ny\r\n", "x\ny\r\n");
	newline_write(&c, "\n", "x\ny\n", "x\ny\n");
	newline_write(&c, "\r\n", "x\ny\n", "x\r\ny\r\n");
	newline_write(&c, "\r", "x\ny\n", "x\ry\r");

	o.newline = "x";
	o.newline_set = 1;
	xopen_fail(&c, "nl", "r", &o, EINVAL, NULL);
	cl_stop(&c);
}
END_TEST

START_TEST(test_binary_exact)
{
	struct cl	 c;
	aiofs_file_t	 f;
	uint8_t		 data[1024];
	char		*got;
	size_t		 len, i;
	aiofs_req_t	 req;

	cl_start(&c, NULL);
	for (i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i % 256);
	f = xopen(&c, "bin", "wb", NULL);
	xwrite(&c, f, data, sizeof data, sizeof data);
	xclose(&c, f);
	host_expect(&c, "bin", data, sizeof data);
	f = xopen(&c, "bin", "rb", NULL);
	got = xread2(&c, f, -1, AIOFS_READ, &len);
	ck_assert_uint_eq(len, sizeof data);
	ck_assert_mem_eq(got, data, len);
	free(got);
	/* Lines split only at 0x0a, nothing else is special. */
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	got = xread2(&c, f, -1, AIOFS_READLINE, &len);
	ck_assert_uint_eq(len, 11);
	ck_assert_mem_eq(got, data, 11);
	free(got);
	xclose(&c, f);
	rinit(&req);
	ck_assert_int_eq(aiofs_readfile(c.h, &req, "bin", 0, -1, NULL),
	    (int)sizeof data);
	ck_assert_mem_eq(req.buf, data, sizeof data);
	aiofs_req_cleanup(&req);
	cl_stop(&c);
}
END_TEST

START_TEST(test_buffering_args)
{
	struct cl		 c;
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;
	aiofs_file_t		 f;

	cl_start(&c, NULL);
	host_put(&c, "f", "x", 1);
	o.buffering = 0;
	xopen_fail(&c, "f", "r", &o, EINVAL, "unbuffered");
	/* (Python opens the file before refusing: g may be created.) */
	xopen_fail(&c, "g", "w", &o, EINVAL, NULL);
	o.buffering = -2;
	xopen_fail(&c, "f", "rb", &o, EINVAL, NULL);
	o.buffering = 0;
	f = xopen(&c, "f", "rb", &o);
	xread_is(&c, f, -1, AIOFS_READ, "x");
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

/* ------------------------------------------------- readfile / writefile */

/* Names in a host directory, excluding . and .. */
static int
host_count(struct cl *c, const char *rel)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	d = opendir(hp(c, rel));
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return (n);
}

START_TEST(test_readfile_writefile)
{
	struct cl	 c;
	aiofs_req_t	 req;
	uint8_t		*big;
	size_t		 n = 3 * MiB + 17;

	cl_start(&c, NULL);
	rinit(&req);
	ck_assert_int_eq(aiofs_writefile(c.h, &req, "wf", "hello", 5, 0,
	    NULL), 5);
	aiofs_req_cleanup(&req);
	host_expect(&c, "wf", "hello", 5);
	ck_assert_int_eq(aiofs_writefile(c.h, &req, "wf", "!!", 2,
	    AIOFS_WRITEFILE_APPEND, NULL), 2);
	aiofs_req_cleanup(&req);
	host_expect(&c, "wf", "hello!!", 7);
	ck_assert_int_eq(aiofs_writefile(c.h, &req, "wf", "new", 3,
	    AIOFS_WRITEFILE_ATOMIC, NULL), 3);
	aiofs_req_cleanup(&req);
	host_expect(&c, "wf", "new", 3);
	/* No temporary left beside it. */
	ck_assert_int_eq(host_count(&c, ""), 1);
	ck_assert_int_eq(aiofs_writefile(c.h, &req, "wf", "", 0, 0, NULL), 0);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(host_size(&c, "wf"), 0);

	host_put(&c, "rf", "0123456789", 10);
	ck_assert_int_eq(aiofs_readfile(c.h, &req, "rf", 0, -1, NULL), 10);
	ck_assert_mem_eq(req.buf, "0123456789", 10);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_readfile(c.h, &req, "rf", 2, 3, NULL), 3);
	ck_assert_mem_eq(req.buf, "234", 3);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_readfile(c.h, &req, "rf", 8, -1, NULL), 2);
	ck_assert_mem_eq(req.buf, "89", 2);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_readfile(c.h, &req, "rf", 10, -1, NULL), 0);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_readfile(c.h, &req, "rf", 50, 5, NULL), 0);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_readfile(c.h, &req, "rf", 0, 0, NULL), 0);
	aiofs_req_cleanup(&req);

	ck_assert_int_eq(aiofs_readfile(c.h, &req, "missing", 0, -1, NULL),
	    -ENOENT);
	ck_assert_ptr_nonnull(req.errpath);
	ck_assert_str_eq(req.errpath, "missing");
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(mkdir(hp(&c, "d"), 0755), 0);
	ck_assert_int_eq(aiofs_readfile(c.h, &req, "d", 0, -1, NULL), -EISDIR);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_writefile(c.h, &req, "nodir/x", "a", 1, 0,
	    NULL), -ENOENT);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_writefile(c.h, &req, "nodir/x", "a", 1,
	    AIOFS_WRITEFILE_ATOMIC, NULL), -ENOENT);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_writefile(c.h, &req, "d", "a", 1, 0, NULL),
	    -EISDIR);
	aiofs_req_cleanup(&req);

	/* Multi-part both ways. */
	big = malloc(n);
	pattern(big, n, 7);
	ck_assert_int_eq(aiofs_writefile(c.h, &req, "big", big, n,
	    AIOFS_WRITEFILE_ATOMIC, NULL), (int)n);
	aiofs_req_cleanup(&req);
	host_expect(&c, "big", big, n);
	ck_assert_int_eq(aiofs_readfile(c.h, &req, "big", 0, -1, NULL),
	    (int)n);
	ck_assert_uint_eq(req.len, n);
	ck_assert(memcmp(req.buf, big, n) == 0);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_readfile(c.h, &req, "big", MiB - 5, MiB + 10,
	    NULL), MiB + 10);
	ck_assert(memcmp(req.buf, big + MiB - 5, MiB + 10) == 0);
	aiofs_req_cleanup(&req);
	free(big);
	cl_stop(&c);
}
END_TEST

/* ----------------------------------------------------------- multi-part */

/* A host file of n pattern bytes; returns the pattern. */
static uint8_t *
host_pattern_file(struct cl *c, const char *rel, size_t n, unsigned seed)
{
	uint8_t	*p = malloc(n);

	ck_assert_ptr_nonnull(p);
	pattern(p, n, seed);
	host_put(c, rel, p, n);
	return (p);
}

START_TEST(test_read_64mib)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 req;
	uint8_t		*want;
	size_t		 n = 64 * MiB;
	int		 rc;

	cl_start(&c, NULL);
	want = host_pattern_file(&c, "big", n, 3);
	f = xopen(&c, "big", "rb", NULL);
	rinit(&req);
	rc = aiofs_read(c.h, &req, f, -1, NULL);
	ck_assert_int_eq(rc, (int)n);
	ck_assert_uint_eq(req.len, n);
	ck_assert_msg(memcmp(req.buf, want, n) == 0, "64 MiB read differs");
	aiofs_req_cleanup(&req);
	xread_is(&c, f, -1, AIOFS_READ, "");
	xclose(&c, f);
	free(want);
	cl_stop(&c);
}
END_TEST

struct stream_state {
	const uint8_t	*want;
	size_t		 off;
	unsigned	 parts;
	unsigned	 finals;
	size_t		 maxpart;
	int64_t		 err;
	int		 mismatch;
	int		 more_seen_on_final;
};

/* One part of a streamed read. */
static void
stream_cb(aiofs_req_t *req)
{
	struct stream_state	*s = req->data;

	if (req->result < 0) {
		s->err = req->result;
		s->finals++;
		return;
	}
	s->parts++;
	if (req->len > s->maxpart)
		s->maxpart = req->len;
	if (req->len > 0 && memcmp(req->buf, s->want + s->off, req->len) != 0)
		s->mismatch = 1;
	s->off += req->len;
	if (!req->more)
		s->finals++;
}

START_TEST(test_read_stream_parts)
{
	struct cl		 c;
	aiofs_file_t		 f;
	aiofs_req_t		 req;
	struct stream_state	 s;
	uint8_t			*want;
	size_t			 n = 64 * MiB;

	cl_start(&c, NULL);
	want = host_pattern_file(&c, "big", n, 4);
	f = xopen(&c, "big", "rb", NULL);
	memset(&s, 0, sizeof s);
	s.want = want;
	rinit(&req);
	req.data = &s;
	req.flags = AIOFS_REQ_STREAM;
	ck_assert_int_eq(aiofs_read(c.h, &req, f, -1, stream_cb), 0);
	ck_assert_int_eq(aiofs_run(c.h), 0);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(s.err, 0);
	ck_assert_uint_eq(s.finals, 1);
	ck_assert_uint_ge(s.parts, 2);
	ck_assert_uint_le(s.maxpart, aiofs_max_chunk(c.h));
	ck_assert_uint_eq(s.off, n);
	ck_assert_int_eq(s.mismatch, 0);
	xclose(&c, f);
	free(want);
	cl_stop(&c);
}
END_TEST

START_TEST(test_write_40mib)
{
	struct cl	 c;
	aiofs_file_t	 f;
	uint8_t		*data;
	size_t		 n = 40 * MiB + 123;

	cl_start(&c, NULL);
	data = malloc(n);
	pattern(data, n, 9);
	f = xopen(&c, "big", "wb", NULL);
	/* Split by the library into chunk-sized requests; order kept. */
	xwrite(&c, f, data, n, n);
	ck_assert_int_eq(xtell(&c, f), (int64_t)n);
	xclose(&c, f);
	host_expect(&c, "big", data, n);
	free(data);
	cl_stop(&c);
}
END_TEST

START_TEST(test_write_big_text_utf8_split)
{
	struct cl	 c;
	aiofs_file_t	 f;
	char		*data;
	size_t		 chars = 1000000, i;

	cl_start(&c, NULL);
	/* 3-byte characters: the 1 MiB cuts must back off to a boundary. */
	data = malloc(chars * 3);
	for (i = 0; i < chars; i++)
		memcpy(data + 3 * i, "\xe2\x82\xac", 3);
	f = xopen(&c, "euro", "w", NULL);
	xwrite(&c, f, data, chars * 3, chars);
	xclose(&c, f);
	host_expect(&c, "euro", data, chars * 3);
	free(data);
	cl_stop(&c);
}
END_TEST

START_TEST(test_pread_big)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 req;
	uint8_t		*want, *buf;
	size_t		 n = 3 * MiB + 333;

	cl_start(&c, NULL);
	want = host_pattern_file(&c, "big", n, 11);
	f = xopen(&c, "big", "rb", NULL);
	/* More than one chunk: streamed, and it must end. */
	rinit(&req);
	ck_assert_int_eq(aiofs_pread(c.h, &req, f, n - 100, 50, NULL),
	    (int)(n - 100));
	ck_assert(memcmp(req.buf, want + 50, n - 100) == 0);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_pread(c.h, &req, f, 2 * MiB, n - MiB, NULL),
	    MiB);
	ck_assert(memcmp(req.buf, want + n - MiB, MiB) == 0);
	aiofs_req_cleanup(&req);

	/* preadinto: several parts land in the caller's buffer, in order. */
	buf = malloc(n + 16);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 0xee, n + 16);
	rinit(&req);
	ck_assert_int_eq(aiofs_preadinto(c.h, &req, f, buf + 8, n - 60, 30,
	    NULL), (int)(n - 60));
	ck_assert_ptr_null(req.buf);
	ck_assert(memcmp(buf + 8, want + 30, n - 60) == 0);
	ck_assert_int_eq(buf[7], 0xee);
	ck_assert_int_eq(buf[8 + n - 60], 0xee);
	aiofs_req_cleanup(&req);
	/* Short at the end of the file; nothing past what came back. */
	memset(buf, 0xee, n + 16);
	rinit(&req);
	ck_assert_int_eq(aiofs_preadinto(c.h, &req, f, buf, 4096, n - 10,
	    NULL), 10);
	ck_assert(memcmp(buf, want + n - 10, 10) == 0);
	ck_assert_int_eq(buf[10], 0xee);
	ck_assert_int_eq(req.eof, 1);
	aiofs_req_cleanup(&req);
	free(buf);
	ck_assert_int_eq(xtell(&c, f), 0);
	xping(&c);
	xclose(&c, f);
	free(want);
	cl_stop(&c);
}
END_TEST

static int	drive_until(aiofs_t *, const int *, int, int);

/* Completion of one bulk pread: check it, issue the next. */
struct bulk {
	struct cl	*c;
	aiofs_file_t	 f;
	const uint8_t	*want;
	size_t		 size;
	int		 issued, done, bad;
	char		*bufs[64];
	int64_t		 offs[64];
	aiofs_req_t	 reqs[64];
};

static void	bulk_issue(struct bulk *, int);

static void
bulk_cb(aiofs_req_t *req)
{
	struct bulk	*b = req->data;
	int		 slot = req - b->reqs;

	b->done++;
	if (req->result != (int64_t)MiB ||
	    memcmp(b->bufs[slot], b->want + b->offs[slot], 64) != 0)
		b->bad++;
	aiofs_req_cleanup(req);
	if (b->issued < 512)
		bulk_issue(b, slot);
}

static void
bulk_issue(struct bulk *b, int slot)
{
	int64_t	 off = (int64_t)(b->issued % (b->size / MiB)) * MiB;

	memset(&b->reqs[slot], 0, sizeof b->reqs[slot]);
	b->reqs[slot].data = b;
	b->offs[slot] = off;
	b->issued++;
	ck_assert_int_eq(aiofs_preadinto(b->c->h, &b->reqs[slot], b->f,
	    b->bufs[slot], MiB, off, bulk_cb), 0);
}

/* The daemon's peak RSS in KiB. */
static long
daemon_hwm_kb(struct cl *c)
{
	long	 kb = tproc_status_kib(c->d.pid, "VmHWM");

	ck_assert_msg(kb >= 0, "no VmHWM for aiofsd");
	return (kb);
}

START_TEST(test_bulk_memory_bounded)
{
	struct cl	 c;
	struct bulk	 b;
	uint8_t		*want;
	long		 kb;
	int		 i;

	cl_start(&c, NULL);
	memset(&b, 0, sizeof b);
	b.c = &c;
	b.size = 64 * MiB;
	want = host_pattern_file(&c, "bulk", b.size, 5);
	b.want = want;
	b.f = xopen(&c, "bulk", "rb", NULL);
	for (i = 0; i < 64; i++) {
		b.bufs[i] = malloc(MiB);
		ck_assert_ptr_nonnull(b.bufs[i]);
	}
	/*
	 * 64 MiB-sized reads in flight, 512 in all: the workers run ahead
	 * of the loop, and the daemon must not hold every finished chunk
	 * (nor fragment its heap with them).  It held 680 MiB once.
	 */
	for (i = 0; i < 64; i++)
		bulk_issue(&b, i);
	ck_assert_int_eq(drive_until(c.h, &b.done, 512, 60000), 0);
	ck_assert_int_eq(b.bad, 0);
	/* The last read of each slot landed where it belongs. */
	for (i = 0; i < 64; i++) {
		ck_assert(memcmp(b.bufs[i], want + b.offs[i], MiB) == 0);
		free(b.bufs[i]);
	}
	kb = daemon_hwm_kb(&c);
	ck_assert_msg(kb > 0 && kb < 256 * 1024, "daemon peak RSS %ld KiB "
	    "for 64 MiB in flight", kb);
	xclose(&c, b.f);
	free(want);
	cl_stop(&c);
}
END_TEST

START_TEST(test_readlines_big)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 req;
	char		*buf, want[128];
	size_t		 i, off = 0, nl = 20000;

	cl_start(&c, NULL);
	/* 2.2 MB of lines: several Lines frames. */
	buf = malloc(nl * 110 + 1);
	for (i = 0; i < nl; i++)
		off += sprintf(buf + off, "L%09zu %098zu\n", i, i);
	host_put(&c, "lines", buf, off);
	free(buf);
	f = xopen(&c, "lines", "rb", NULL);
	rinit(&req);
	ck_assert_int_eq(aiofs_readlines(c.h, &req, f, 0, NULL), (int)nl);
	ck_assert_uint_eq(req.nlines, nl);
	for (i = 0; i < nl; i += 999) {
		snprintf(want, sizeof want, "L%09zu %098zu\n", i, i);
		ck_assert_str_eq(req.lines[i], want);
		ck_assert_uint_eq(req.linelens[i], 110);
	}
	snprintf(want, sizeof want, "L%09zu %098zu\n", nl - 1, nl - 1);
	ck_assert_str_eq(req.lines[nl - 1], want);
	aiofs_req_cleanup(&req);
	xread_is(&c, f, -1, AIOFS_READ, "");
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

struct lines_state {
	unsigned	 n;
	unsigned	 ends;
	int		 bad;
	int64_t		 endresult;
	char		 first_bad[64];
};

/* One line (or the end) of aiofs_lines. */
static void
lines_cb(aiofs_req_t *req)
{
	struct lines_state	*s = req->data;
	char			 want[32];

	if (req->eof || !req->more) {
		s->ends++;
		s->endresult = req->result;
		return;
	}
	snprintf(want, sizeof want, "line %05u\n", s->n);
	if (req->len != strlen(want) || memcmp(req->buf, want, req->len) != 0) {
		if (!s->bad)
			snprintf(s->first_bad, sizeof s->first_bad,
			    "#%u: %.*s", s->n, (int)(req->len > 40 ? 40 :
			    req->len), req->buf);
		s->bad = 1;
	}
	s->n++;
}

/* aiofs_lines over a 10,000-line file opened with mode. */
static void
lines_run(struct cl *c, const char *mode)
{
	aiofs_file_t		 f;
	aiofs_req_t		 req;
	struct lines_state	 s;

	f = xopen(c, "lines", mode, NULL);
	memset(&s, 0, sizeof s);
	rinit(&req);
	req.data = &s;
	ck_assert_int_eq(aiofs_lines(c->h, &req, f, lines_cb), 0);
	ck_assert_int_eq(aiofs_run(c->h), 0);
	ck_assert_msg(!s.bad, "wrong line %s", s.first_bad);
	ck_assert_uint_eq(s.n, 10000);
	ck_assert_uint_eq(s.ends, 1);
	ck_assert_int_eq(s.endresult, 0);
	aiofs_req_cleanup(&req);
	xclose(c, f);
}

START_TEST(test_lines_10000)
{
	struct cl	 c;
	char		*buf;
	size_t		 i, off = 0;

	cl_start(&c, NULL);
	buf = malloc(10000 * 11 + 1);
	for (i = 0; i < 10000; i++)
		off += sprintf(buf + off, "line %05zu\n", i);
	host_put(&c, "lines", buf, off);
	free(buf);
	lines_run(&c, "r");
	lines_run(&c, "rb");
	cl_stop(&c);
}
END_TEST

/* ------------------------------------------------- Reader/Writer/Lines */

struct done {
	int	 n;
	int64_t	 results[8];
	char	 bufs[8][16];
};

/* Records a completion of one of several in-flight requests. */
static void
done_cb(aiofs_req_t *req)
{
	struct done	*d = req->data;
	int		 i = d->n++;

	d->results[i] = req->result;
	if (req->result > 0 && req->buf != NULL)
		memcpy(d->bufs[i], req->buf, req->len < 15 ? req->len : 15);
	aiofs_req_cleanup(req);
}

START_TEST(test_reader_writer)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_writer_t	 w;
	aiofs_reader_t	 r;
	aiofs_req_t	 reqs[4], req;
	struct done	 d;
	int		 i, rc;

	cl_start(&c, NULL);
	f = xopen(&c, "rw", "w+b", NULL);
	aiofs_writer_init(&w, c.h, f, 0);
	memset(&d, 0, sizeof d);
	for (i = 0; i < 3; i++) {
		rinit(&reqs[i]);
		reqs[i].data = &d;
	}
	/* Three writes in flight at once, each at its own offset. */
	ck_assert_int_eq(aiofs_writer_write(&w, &reqs[0], "aaaa", 4, done_cb),
	    0);
	ck_assert_int_eq(aiofs_writer_write(&w, &reqs[1], "bbbb", 4, done_cb),
	    0);
	ck_assert_int_eq(aiofs_writer_write(&w, &reqs[2], "cc", 2, done_cb),
	    0);
	ck_assert_int_eq(w.offset, 10);
	ck_assert_int_eq(aiofs_run(c.h), 0);
	ck_assert_int_eq(d.n, 3);
	for (i = 0; i < 3; i++)
		ck_assert_int_gt(d.results[i], 0);
	host_expect(&c, "rw", "aaaabbbbcc", 10);
	/* pwrite does not move the handle's position. */
	ck_assert_int_eq(xtell(&c, f), 0);

	aiofs_reader_init(&r, c.h, f, 0, 4);
	rinit(&req);
	ck_assert_int_eq(aiofs_reader_next(&r, &req, NULL), 4);
	ck_assert_mem_eq(req.buf, "aaaa", 4);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_reader_next(&r, &req, NULL), 4);
	ck_assert_mem_eq(req.buf, "bbbb", 4);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_reader_next(&r, &req, NULL), 2);
	ck_assert_mem_eq(req.buf, "cc", 2);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_reader_next(&r, &req, NULL), 0);
	ck_assert_uint_eq(req.len, 0);
	aiofs_req_cleanup(&req);

	/* Several chunks in flight: each knows its place. */
	aiofs_reader_init(&r, c.h, f, 1, 3);
	memset(&d, 0, sizeof d);
	for (i = 0; i < 4; i++) {
		rinit(&reqs[i]);
		reqs[i].data = &d;
		rc = aiofs_reader_next(&r, &reqs[i], done_cb);
		ck_assert_int_eq(rc, 0);
	}
	ck_assert_int_eq(aiofs_run(c.h), 0);
	ck_assert_int_eq(d.n, 4);
	/* Per-handle FIFO: they complete in order. */
	ck_assert_str_eq(d.bufs[0], "aaa");
	ck_assert_str_eq(d.bufs[1], "bbb");
	ck_assert_str_eq(d.bufs[2], "bcc");
	ck_assert_int_eq(d.results[3], 0);
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

#define SEP	"\r\n--\r\n"

/* Read every line of "lr" with chunk size cs, synchronously. */
static void
linereader_sync(struct cl *c, aiofs_file_t f, size_t cs,
    const char *const *want)
{
	aiofs_linereader_t	 lr;
	aiofs_req_t		 req;
	size_t			 i;
	int			 rc;

	ck_assert_int_eq(aiofs_linereader_init(&lr, c->h, f, 0, cs, SEP), 0);
	for (i = 0; want[i] != NULL; i++) {
		rinit(&req);
		rc = aiofs_linereader_next(&lr, &req, NULL);
		ck_assert_msg(rc == (int)strlen(want[i]) && req.len ==
		    strlen(want[i]) && memcmp(req.buf, want[i], req.len) == 0,
		    "chunk %zu, line %zu: got %d \"%.*s\", want \"%s\"", cs, i,
		    rc, (int)req.len, req.buf != NULL ? req.buf : "", want[i]);
		aiofs_req_cleanup(&req);
	}
	rinit(&req);
	ck_assert_int_eq(aiofs_linereader_next(&lr, &req, NULL), 0);
	ck_assert_uint_eq(req.len, 0);
	aiofs_req_cleanup(&req);
	aiofs_linereader_free(&lr);
}

static int	lr_called;

/* The async line reader delivered a line. */
static void
lr_cb(aiofs_req_t *req)
{
	(void)req;
	lr_called++;
}

START_TEST(test_linereader_multibyte_sep)
{
	static const char *const want[] = { "alpha" SEP, "beta" SEP, SEP,
	    "gamma is a longer line than the chunks" SEP, "tail", NULL };
	struct cl		 c;
	aiofs_file_t		 f;
	aiofs_linereader_t	 lr;
	aiofs_req_t		 req;
	char			 all[256] = "";
	size_t			 i, cs;
	int			 rc;

	cl_start(&c, NULL);
	for (i = 0; want[i] != NULL; i++)
		strcat(all, want[i]);
	host_put(&c, "lr", all, strlen(all));
	f = xopen(&c, "lr", "rb", NULL);
	/* Every chunk size from 1 up: the separator is cut everywhere. */
	for (cs = 1; cs <= 13; cs++)
		linereader_sync(&c, f, cs, want);
	linereader_sync(&c, f, 4096, want);

	/* Asynchronous: 1 = already buffered, 0 = cb will come. */
	ck_assert_int_eq(aiofs_linereader_init(&lr, c.h, f, 0, 5, SEP), 0);
	for (i = 0; want[i] != NULL; i++) {
		rinit(&req);
		lr_called = 0;
		rc = aiofs_linereader_next(&lr, &req, lr_cb);
		ck_assert_int_ge(rc, 0);
		if (rc == 0) {
			ck_assert_int_eq(aiofs_run(c.h), 0);
			ck_assert_int_eq(lr_called, 1);
		} else
			ck_assert_int_eq(lr_called, 0);
		ck_assert_uint_eq(req.len, strlen(want[i]));
		ck_assert_mem_eq(req.buf, want[i], req.len);
		aiofs_req_cleanup(&req);
	}
	aiofs_linereader_free(&lr);
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

/* --------------------------------------------------------- fd passing */

/* Read from fd with a timeout; returns bytes or -1. */
static ssize_t
read_timeout(int fd, void *buf, size_t len, int ms)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };

	if (poll(&pfd, 1, ms) != 1)
		return (-1);
	return (read(fd, buf, len));
}

START_TEST(test_wrap_pipe)
{
	static const char *const extra[] = { "--allow-fd-passing", NULL };
	struct cl	 c;
	aiofs_req_t	 req;
	aiofs_file_t	 f;
	int		 p[2], rc;
	char		 buf[16];

	cl_start(&c, extra);
	ck_assert(aiofs_has_capability(c.h, "fd-passing"));
	ck_assert_int_eq(pipe(p), 0);
	rinit(&req);
	rc = aiofs_wrap(c.h, &req, p[1], "wb", NULL, NULL);
	ck_assert_msg(rc == 0, "wrap: %s (%s)", aiofs_errname(rc),
	    req.errmsg != NULL ? req.errmsg : "");
	f = req.file;
	ck_assert_int_eq(req.info.seekable, 0);
	ck_assert_int_eq(req.info.isatty, 0);
	ck_assert_int_eq(req.info.writable, 1);
	ck_assert_int_eq(req.info.readable, 0);
	aiofs_req_cleanup(&req);

	ck_assert_int_eq(aiofs_seek(c.h, &req, f, 0, SEEK_SET, NULL),
	    -ESPIPE);
	aiofs_req_cleanup(&req);
	xhop(&c, aiofs_tell, f, -ESPIPE, "tell on a pipe");
	xwrites(&c, f, "hello", 5);
	xflush(&c, f);
	memset(buf, 0, sizeof buf);
	ck_assert_int_eq(read_timeout(p[0], buf, sizeof buf, 5000), 5);
	ck_assert_str_eq(buf, "hello");
	xinfo(&c, f, &req);
	ck_assert_int_eq(req.info.isatty, 0);
	ck_assert_int_eq(req.info.seekable, 0);
	aiofs_req_cleanup(&req);
	xclose(&c, f);
	/* The daemon's copy is closed: with ours gone, EOF. */
	close(p[1]);
	ck_assert_int_eq(read_timeout(p[0], buf, sizeof buf, 5000), 0);
	close(p[0]);

	/* The read end, mode from the fd's access mode. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(aiofs_wrap(c.h, &req, p[0], NULL, NULL, NULL), 0);
	f = req.file;
	ck_assert_int_eq(req.info.readable, 1);
	ck_assert_int_eq(req.info.writable, 0);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(write(p[1], "abc", 3), 3);
	close(p[1]);
	xread_is(&c, f, -1, AIOFS_READ, "abc");
	xclose(&c, f);
	/* A mode the fd cannot honour. */
	ck_assert_int_eq(aiofs_wrap(c.h, &req, p[0], "wb", NULL, NULL),
	    -EBADF);
	aiofs_req_cleanup(&req);
	close(p[0]);
	xping(&c);
	cl_stop(&c);
}
END_TEST

START_TEST(test_wrap_refused)
{
	struct cl	 c;
	aiofs_req_t	 req;
	int		 p[2], rc;

	cl_start(&c, NULL);
	ck_assert(!aiofs_has_capability(c.h, "fd-passing"));
	ck_assert_int_eq(pipe(p), 0);
	rinit(&req);
	rc = aiofs_wrap(c.h, &req, p[1], "wb", NULL, NULL);
	ck_assert_msg(rc == -EPERM, "wrap without --allow-fd-passing: got %s "
	    "(%s), want EPERM", aiofs_errname(rc),
	    req.errmsg != NULL ? req.errmsg : "");
	aiofs_req_cleanup(&req);
	/* A policy refusal is a reply, not a disconnect. */
	xping(&c);
	close(p[0]);
	close(p[1]);
	cl_stop(&c);
}
END_TEST

START_TEST(test_openfd)
{
	static const char *const extra[] = { "--allow-fd-passing", NULL };
	struct cl	 c;
	aiofs_req_t	 req;
	struct stat	 sb;
	char		 buf[8];
	int		 rc;

	cl_start(&c, extra);
	host_put(&c, "of", "abc", 3);
	rinit(&req);
	rc = aiofs_openfd(c.h, &req, "of", "rb", 0, NULL);
	ck_assert_msg(rc == 0, "openfd: %s", aiofs_errname(rc));
	ck_assert_int_ge(req.fd, 0);
	ck_assert_int_eq(fstat(req.fd, &sb), 0);
	/* As the client asked: no O_NONBLOCK left from the daemon's open. */
	ck_assert_int_eq(fcntl(req.fd, F_GETFL) & O_NONBLOCK, 0);
	ck_assert(S_ISREG(sb.st_mode));
	ck_assert_int_eq(read(req.fd, buf, sizeof buf), 3);
	ck_assert_mem_eq(buf, "abc", 3);
	close(req.fd);
	aiofs_req_cleanup(&req);

	ck_assert_int_eq(aiofs_openfd(c.h, &req, "new", "wb", 0600, NULL), 0);
	ck_assert_int_ge(req.fd, 0);
	ck_assert_int_eq(write(req.fd, "xyz", 3), 3);
	close(req.fd);
	aiofs_req_cleanup(&req);
	host_expect(&c, "new", "xyz", 3);
	ck_assert_int_eq(stat(hp(&c, "new"), &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);

	ck_assert_int_eq(aiofs_openfd(c.h, &req, "missing", "rb", 0, NULL),
	    -ENOENT);
	ck_assert_int_eq(req.fd, -1);
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_openfd(c.h, &req, "of", "bogus", 0, NULL),
	    -EINVAL);
	aiofs_req_cleanup(&req);
	xping(&c);
	cl_stop(&c);

	/* Without the flag: refused by policy, connection kept. */
	cl_start(&c, NULL);
	host_put(&c, "of", "abc", 3);
	ck_assert_int_eq(aiofs_openfd(c.h, &req, "of", "rb", 0, NULL), -EPERM);
	ck_assert_int_eq(req.fd, -1);
	aiofs_req_cleanup(&req);
	xping(&c);
	cl_stop(&c);
}
END_TEST

/* ---------------------------------------------------------------- cancel */

struct cstate {
	int	 done;
	int	 ok;
	int	 cancelled;
	int	 other;
	int64_t	 other_result;
};

/* Completion of a request that may have been cancelled. */
static void
cancel_cb(aiofs_req_t *req)
{
	struct cstate	*s = req->data;

	s->done++;
	if (req->result == 0)
		s->ok++;
	else if (req->result == -ECANCELED)
		s->cancelled++;
	else {
		s->other++;
		s->other_result = req->result;
	}
	aiofs_req_cleanup(req);
}

/* Drive h until *counter reaches n or ms pass; returns 0 on success. */
static int
drive_until(aiofs_t *h, const int *counter, int n, int ms)
{
	struct pollfd	 pfd;
	long long	 end = now_ms() + ms;

	while (*counter < n) {
		if (now_ms() > end)
			return (-1);
		pfd.fd = aiofs_fd(h);
		pfd.events = aiofs_events(h);
		pfd.revents = 0;
		if (poll(&pfd, 1, 100) == -1 && errno != EINTR)
			return (-1);
		if (aiofs_process(h, pfd.revents) != 0)
			return (-1);
	}
	return (0);
}

/* Make a FIFO in the root; open it in the daemon and its write end here. */
static aiofs_file_t
fifo_setup(struct cl *c, int *wfd)
{
	aiofs_file_t	 f;

	ck_assert_int_eq(mkfifo(hp(c, "fifo"), 0600), 0);
	f = xopen(c, "fifo", "rb", NULL);
	*wfd = open(hp(c, "fifo"), O_WRONLY | O_NONBLOCK);
	ck_assert_int_ge(*wfd, 0);
	return (f);
}

#define NCANCEL	200

/* Completion of the blocking FIFO read. */
static void
rd_cb(aiofs_req_t *req)
{
	struct cstate	*s = req->data;

	s->done++;
	s->other_result = req->result;
	if (req->result == 1 && req->buf != NULL && req->buf[0] == 'x')
		s->ok++;
}

/* Stats of the daemon behind h (caller cleans up st). */
static void
xstats(aiofs_t *h, aiofs_req_t *st)
{
	rinit(st);
	ck_assert_int_eq(aiofs_stats(h, st, NULL), 0);
}

/* The daemon's loop counters (Stats.loop_completed, loop_punted). */
static void
loop_counts(struct cl *c, uint64_t *done, uint64_t *punted)
{
	aiofs_req_t	 st;

	xstats(c->h, &st);
	*done = st.stats.loop_completed;
	*punted = st.stats.loop_punted;
	aiofs_req_cleanup(&st);
}

/* Drop a host file's pages from the page cache. */
static void
host_uncache(struct cl *c, const char *rel)
{
	int	 fd;

	fd = open(hp(c, rel), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fdatasync(fd), 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
}

/* The cheap ops of a session, every one tried on the loop or not. */
static void
fast_ops(struct cl *c)
{
	aiofs_req_t	 req;
	aiofs_file_t	 f;
	int		 i;

	for (i = 0; i < 10; i++) {
		rinit(&req);
		ck_assert_int_eq(aiofs_stat(c->h, &req, "small", 1, NULL), 0);
		ck_assert_int_eq(req.st.size, 12);
		aiofs_req_cleanup(&req);
	}
	f = xopen(c, "small", "rb", NULL);
	xread_is(c, f, 5, AIOFS_READ, "hello");
	xread_is(c, f, -1, AIOFS_READLINE, " world\n");
	xclose(c, f);
	rinit(&req);
	ck_assert_int_eq(aiofs_readfile(c->h, &req, "small", 0, -1, NULL),
	    12);
	ck_assert_mem_eq(req.buf, "hello world\n", 12);
	aiofs_req_cleanup(&req);
	/* Errors are the same from the loop: ENOENT from the dcache. */
	rinit(&req);
	ck_assert_int_eq(aiofs_stat(c->h, &req, "missing", 1, NULL),
	    -ENOENT);
	aiofs_req_cleanup(&req);
}

START_TEST(test_fast_loop)
{
	static const char *const off[] = { "--no-fast-path", NULL };
	struct cl	 c;
	aiofs_file_t	 f;
	uint64_t	 d0, p0, d1, p1;

	cl_start(&c, NULL);
	host_put(&c, "small", "hello world\n", 12);
	loop_counts(&c, &d0, &p0);
	fast_ops(&c);
	loop_counts(&c, &d1, &p1);
	/* 11 stats, open, 2 reads, close, readfile: all tried. */
	ck_assert_uint_eq((d1 - d0) + (p1 - p0), 16);
	ck_assert_uint_ge(d1 - d0, 12);
	/* Text mode, writable handles and large reads are never tried. */
	f = xopen(&c, "small", "r", NULL);
	xread_is(&c, f, -1, AIOFS_READ, "hello world\n");
	xclose(&c, f);
	f = xopen(&c, "small", "r+b", NULL);
	xread_is(&c, f, 5, AIOFS_READ, "hello");
	xclose(&c, f);
	f = xopen(&c, "small", "rb", NULL);
	xread_is(&c, f, 100000, AIOFS_READ, "hello world\n");
	xclose(&c, f);
	loop_counts(&c, &d0, &p0);
	/* Only the last open and close were tried. */
	ck_assert_uint_eq((d0 - d1) + (p0 - p1), 2);
	cl_stop(&c);

	/* --no-fast-path: the same results, all from workers. */
	cl_start(&c, off);
	host_put(&c, "small", "hello world\n", 12);
	fast_ops(&c);
	loop_counts(&c, &d1, &p1);
	ck_assert_uint_eq(d1, 0);
	ck_assert_uint_eq(p1, 0);
	cl_stop(&c);
}
END_TEST

/* Punts by the loop so far. */
static uint64_t
loop_punts(struct cl *c)
{
	uint64_t	 done, punted;

	loop_counts(c, &done, &punted);
	return (punted);
}

START_TEST(test_fast_punt_uncached)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 req;
	uint8_t		*want, *small;
	char		*got;
	size_t		 n = 256 * 1024, len;
	uint64_t	 p0;
	int		 i, seen[3] = { 0, 0, 0 };

	cl_start(&c, NULL);
	want = host_pattern_file(&c, "big", n, 7);
	small = host_pattern_file(&c, "small", 8192, 8);
	/*
	 * Dropping pages races with read-ahead still in flight, so each case
	 * is repeated until the loop was seen to give up on it; the data
	 * must be right every time, punted or not.
	 */
	for (i = 0; i < 20 && !(seen[0] && seen[1] && seen[2]); i++) {
		host_uncache(&c, "big");
		f = xopen(&c, "big", "rb", NULL);
		got = xread2(&c, f, 4, AIOFS_READ, &len);
		ck_assert_uint_eq(len, 4);
		ck_assert(memcmp(got, want, 4) == 0);
		free(got);
		/*
		 * The read-ahead left by read(4) is taken first, then the
		 * fill would block: those bytes go back, and a worker does
		 * the whole read.
		 */
		host_uncache(&c, "big");
		p0 = loop_punts(&c);
		got = xread2(&c, f, 20000, AIOFS_READ, &len);
		seen[0] += loop_punts(&c) > p0;
		ck_assert_uint_eq(len, 20000);
		ck_assert(memcmp(got, want + 4, 20000) == 0);
		free(got);
		got = xread2(&c, f, 30000, AIOFS_READ, &len);
		ck_assert_uint_eq(len, 30000);
		ck_assert(memcmp(got, want + 20004, 30000) == 0);
		free(got);

		host_uncache(&c, "big");
		p0 = loop_punts(&c);
		rinit(&req);
		ck_assert_int_eq(aiofs_pread(c.h, &req, f, 4096, 100000,
		    NULL), 4096);
		seen[1] += loop_punts(&c) > p0;
		ck_assert(memcmp(req.buf, want + 100000, 4096) == 0);
		aiofs_req_cleanup(&req);
		xclose(&c, f);

		host_uncache(&c, "small");
		p0 = loop_punts(&c);
		rinit(&req);
		ck_assert_int_eq(aiofs_readfile(c.h, &req, "small", 0, -1,
		    NULL), 8192);
		seen[2] += loop_punts(&c) > p0;
		ck_assert(memcmp(req.buf, small, 8192) == 0);
		aiofs_req_cleanup(&req);
	}
	ck_assert_msg(seen[0] && seen[1] && seen[2], "the loop never gave "
	    "up on read %d, pread %d, readfile %d: the test directory must "
	    "be on a disk-backed file system", seen[0], seen[1], seen[2]);
	free(want);
	free(small);
	cl_stop(&c);
}
END_TEST

/* Pipelined read-files: each completion checks its data, issues another. */
struct rfburst {
	struct cl	*c;
	uint8_t		*want[16];
	int		 issued, done, bad;
	aiofs_req_t	 reqs[64];
	int		 which[64];
};

static void	rfburst_issue(struct rfburst *, int);

/*
 * The read-files' files rf0..rf15 (4096 + i bytes of pattern i) in the
 * root, their contents in want; every fourth dropped from the page cache
 * if uncache is set, so that those go to a worker.
 */
static void
rfburst_files(struct cl *c, uint8_t *want[16], int uncache)
{
	char	 name[32];
	int	 i;

	for (i = 0; i < 16; i++) {
		snprintf(name, sizeof name, "rf%d", i);
		want[i] = host_pattern_file(c, name, 4096 + i, i);
		if (uncache && i % 4 == 0)
			host_uncache(c, name);
	}
}

/* Free what rfburst_files() gave. */
static void
rfburst_files_free(uint8_t *want[16])
{
	int	 i;

	for (i = 0; i < 16; i++)
		free(want[i]);
}

static void
rfburst_cb(aiofs_req_t *req)
{
	struct rfburst	*b = req->data;
	int		 slot = req - b->reqs, w = b->which[slot];

	b->done++;
	if (req->result != 4096 + w || memcmp(req->buf, b->want[w],
	    4096 + w) != 0)
		b->bad++;
	aiofs_req_cleanup(req);
	if (b->issued < 1024)
		rfburst_issue(b, slot);
}

static void
rfburst_issue(struct rfburst *b, int slot)
{
	char	 name[32];

	b->which[slot] = b->issued % 16;
	snprintf(name, sizeof name, "rf%d", b->which[slot]);
	memset(&b->reqs[slot], 0, sizeof b->reqs[slot]);
	b->reqs[slot].data = b;
	b->issued++;
	ck_assert_int_eq(aiofs_readfile(b->c->h, &b->reqs[slot], name, 0, -1,
	    rfburst_cb), 0);
}

START_TEST(test_fast_burst)
{
	struct cl	 c;
	struct rfburst	 b;
	uint64_t	 d0, p0, d1, p1;
	int		 i;

	cl_start(&c, NULL);
	memset(&b, 0, sizeof b);
	b.c = &c;
	rfburst_files(&c, b.want, 1);
	loop_counts(&c, &d0, &p0);
	/*
	 * 64 in flight, re-issued from callbacks, so they reach the daemon
	 * in batches: the loop answers what it can and what it gives up on
	 * goes to a worker, interleaved.  Every reply must be right.
	 */
	for (i = 0; i < 64; i++)
		rfburst_issue(&b, i);
	ck_assert_int_eq(drive_until(c.h, &b.done, 1024, 30000), 0);
	ck_assert_int_eq(b.bad, 0);
	loop_counts(&c, &d1, &p1);
	ck_assert_uint_eq((d1 - d0) + (p1 - p0), 1024);
	ck_assert_uint_ge(d1 - d0, 512);
	rfburst_files_free(b.want);
	cl_stop(&c);
}
END_TEST

/* The count of op in a Stats reply, 0 if absent. */
static uint64_t
op_count(const aiofs_req_t *st, const char *op)
{
	size_t	 i;

	for (i = 0; i < st->stats.nops; i++)
		if (strcmp(st->stats.ops[i].op, op) == 0)
			return (st->stats.ops[i].count);
	return (0);
}

#define NLOOPCONN	6

/*
 * --loops 3: connections are spread over the loops (fewest first), each
 * is served on its own, and Stats sums every loop's counters.
 */
START_TEST(test_loops_spread)
{
	static const char *const three[] = { "--loops", "3", NULL };
	static const char *const one[] = { "--loops", "1", NULL };
	struct cl	 c, cc[NLOOPCONN];
	struct rfburst	*b;
	aiofs_req_t	 st;
	uint64_t	 req0, stat0, rf0;
	int		 i, k, rc;

	cl_start(&c, three);
	for (i = 1; i < NLOOPCONN; i++) {
		cc[i] = c;
		rc = aiofs_connect(&cc[i].h, c.d.sock, "check_client");
		ck_assert_int_eq(rc, 0);
	}
	cc[0] = c;
	xstats(c.h, &st);
	ck_assert_uint_eq(st.stats.nloops, 3);
	for (k = 0; k < 3; k++)
		ck_assert_uint_eq(st.stats.loop_connections[k], 2);
	req0 = st.stats.requests_total;
	stat0 = op_count(&st, "stat");
	rf0 = op_count(&st, "readfile");
	aiofs_req_cleanup(&st);

	/* Every connection at once: 1,024 checked read-files each. */
	b = calloc(NLOOPCONN, sizeof *b);
	ck_assert_ptr_nonnull(b);
	rfburst_files(&c, b[0].want, 0);
	for (k = 0; k < NLOOPCONN; k++) {
		b[k].c = &cc[k];
		memcpy(b[k].want, b[0].want, sizeof b[0].want);
		for (i = 0; i < 32; i++)
			rfburst_issue(&b[k], i);
	}
	for (;;) {
		int	 busy = 0;

		for (k = 0; k < NLOOPCONN; k++) {
			if (b[k].done == 1024)
				continue;
			busy = 1;
			ck_assert_int_eq(drive_until(cc[k].h, &b[k].done,
			    b[k].done + 1, 30000), 0);
		}
		if (!busy)
			break;
	}
	for (k = 0; k < NLOOPCONN; k++)
		ck_assert_int_eq(b[k].bad, 0);
	/* Ten stats on each connection too. */
	for (k = 0; k < NLOOPCONN; k++)
		for (i = 0; i < 10; i++) {
			rinit(&st);
			ck_assert_int_eq(aiofs_stat(cc[k].h, &st, "rf1", 1,
			    NULL), 0);
			aiofs_req_cleanup(&st);
		}
	xstats(c.h, &st);
	ck_assert_uint_eq(op_count(&st, "readfile") - rf0, NLOOPCONN * 1024);
	ck_assert_uint_eq(op_count(&st, "stat") - stat0, NLOOPCONN * 10);
	/* ...and the Stats request itself. */
	ck_assert_uint_eq(st.stats.requests_total - req0,
	    NLOOPCONN * (1024 + 10) + 1);
	aiofs_req_cleanup(&st);

	/* Gone ones leave their loop; a new one takes the emptiest. */
	aiofs_close(cc[1].h);
	aiofs_close(cc[2].h);
	xping(&c);
	rc = aiofs_connect(&cc[1].h, c.d.sock, "check_client");
	ck_assert_int_eq(rc, 0);
	xstats(c.h, &st);
	ck_assert_uint_eq(st.stats.connections_current, NLOOPCONN - 1);
	for (k = 0; k < 3; k++) {
		ck_assert_uint_ge(st.stats.loop_connections[k], 1);
		ck_assert_uint_le(st.stats.loop_connections[k], 2);
	}
	aiofs_req_cleanup(&st);
	for (k = 1; k < NLOOPCONN; k++)
		if (k != 2)
			aiofs_close(cc[k].h);
	rfburst_files_free(b[0].want);
	free(b);
	cl_stop(&c);

	/* --loops 1: one loop has them all. */
	cl_start(&c, one);
	rc = aiofs_connect(&cc[1].h, c.d.sock, "check_client");
	ck_assert_int_eq(rc, 0);
	xstats(c.h, &st);
	ck_assert_uint_eq(st.stats.nloops, 1);
	ck_assert_uint_eq(st.stats.loop_connections[0], 2);
	aiofs_req_cleanup(&st);
	aiofs_close(cc[1].h);
	cl_stop(&c);
}
END_TEST

#define NBURST	8

/* A burst of connections at once is shared out evenly too. */
START_TEST(test_loops_burst)
{
	static const char *const two[] = { "--loops", "2", NULL };
	struct sockaddr_un sun;
	struct cl	 c;
	aiofs_req_t	 st;
	long long	 end;
	int		 fds[NBURST], i;
	uint64_t	 a, b;

	cl_start(&c, two);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", c.d.sock);
	for (i = 0; i < NBURST; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fds[i], 0);
		ck_assert_int_eq(connect(fds[i], (struct sockaddr *)&sun,
		    sizeof sun), 0);
	}
	/* Until every loop has taken what it was given. */
	end = now_ms() + 5000;
	for (;;) {
		xstats(c.h, &st);
		ck_assert_uint_eq(st.stats.nloops, 2);
		a = st.stats.loop_connections[0];
		b = st.stats.loop_connections[1];
		aiofs_req_cleanup(&st);
		if (a + b == NBURST + 1 || now_ms() > end)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(a + b, NBURST + 1);
	ck_assert_msg((a > b ? a - b : b - a) <= 1, "loops have %llu and %llu connections",
	    (unsigned long long)a, (unsigned long long)b);
	for (i = 0; i < NBURST; i++)
		close(fds[i]);
	cl_stop(&c);
}
END_TEST

/*
 * --max-inflight-total is the daemon's, not a loop's: a connection held
 * back by requests of a connection on another loop is read again when
 * those finish there.
 */
START_TEST(test_loops_inflight_total)
{
	static const char *const args[] = { "--loops", "2",
	    "--max-inflight-total", "4", NULL };
	struct cl	 c, c2;
	aiofs_file_t	 f;
	aiofs_req_t	 st, rd[4], sreq;
	struct cstate	 rs, ss;
	int		 wfd, i;

	cl_start(&c, args);
	c2 = c;
	ck_assert_int_eq(aiofs_connect(&c2.h, c.d.sock, "check_client"), 0);
	host_put(&c, "s", "12345", 5);
	xstats(c.h, &st);
	ck_assert_uint_eq(st.stats.loop_connections[0], 1);
	ck_assert_uint_eq(st.stats.loop_connections[1], 1);
	aiofs_req_cleanup(&st);

	/* Four reads of an empty FIFO fill the daemon's limit... */
	f = fifo_setup(&c, &wfd);
	memset(&rs, 0, sizeof rs);
	for (i = 0; i < 4; i++) {
		rinit(&rd[i]);
		rd[i].data = &rs;
		ck_assert_int_eq(aiofs_read(c.h, &rd[i], f, 1, rd_cb), 0);
	}
	ck_assert_int_eq(aiofs_process(c.h, POLLOUT), 0);
	/*
	 * ...so the other loop stops reading the second client (it may
	 * answer the request it was reading when the limit filled): one of
	 * its stats soon stays unanswered.
	 */
	for (i = 0;; i++) {
		ck_assert_msg(i < 40, "the second client was never held back");
		memset(&ss, 0, sizeof ss);
		rinit(&sreq);
		sreq.data = &ss;
		ck_assert_int_eq(aiofs_stat(c2.h, &sreq, "s", 1, cancel_cb),
		    0);
		if (drive_until(c2.h, &ss.done, 1, 500) == -1)
			break;
	}
	/* One read ends on the first loop: the second one reads again. */
	ck_assert_int_eq(write(wfd, "x", 1), 1);
	ck_assert_int_eq(drive_until(c.h, &rs.done, 1, 10000), 0);
	ck_assert_int_eq(drive_until(c2.h, &ss.done, 1, 10000), 0);
	ck_assert_int_eq(ss.ok, 1);	/* cancel_cb cleaned it up */
	close(wfd);
	ck_assert_int_eq(drive_until(c.h, &rs.done, 4, 10000), 0);
	for (i = 0; i < 4; i++)
		aiofs_req_cleanup(&rd[i]);
	xclose(&c, f);
	aiofs_close(c2.h);
	cl_stop(&c);
}
END_TEST

/*
 * SIGTERM with requests in flight on every loop: each loop drains its
 * connections (every request it has read gets its reply, and a right
 * one), then the daemon exits 0 having freed them all.  The one worker is
 * held on a FIFO read, so that all of them are still queued when the
 * signal comes.
 */
START_TEST(test_loops_shutdown)
{
	static const char *const args[] = { "--loops", "2", "-w", "1",
	    "--no-fast-path", NULL };
	struct cl	 c, cc[4], cs;
	struct rfburst	*b;
	struct cstate	 rs;
	aiofs_req_t	 rd, st;
	aiofs_file_t	 f;
	uint64_t	 base;
	long long	 end;
	int		 i, k, status, wfd;

	cl_start(&c, args);
	cs = c;
	ck_assert_int_eq(aiofs_connect(&cs.h, c.d.sock, "check_client"), 0);
	b = calloc(4, sizeof *b);
	ck_assert_ptr_nonnull(b);
	rfburst_files(&c, b[0].want, 0);
	f = fifo_setup(&c, &wfd);
	memset(&rs, 0, sizeof rs);
	rinit(&rd);
	rd.data = &rs;
	ck_assert_int_eq(aiofs_read(c.h, &rd, f, 1, rd_cb), 0);
	ck_assert_int_eq(aiofs_process(c.h, POLLOUT), 0);
	xstats(cs.h, &st);
	base = st.stats.requests_total;
	aiofs_req_cleanup(&st);
	for (k = 0; k < 4; k++) {
		cc[k] = c;
		if (k > 0)
			ck_assert_int_eq(aiofs_connect(&cc[k].h, c.d.sock,
			    "check_client"), 0);
		b[k].c = &cc[k];
		b[k].issued = 1024 - 64;	/* 64 each, not re-issued */
		memcpy(b[k].want, b[0].want, sizeof b[0].want);
		for (i = 0; i < 64; i++)
			rfburst_issue(&b[k], i);
		ck_assert_int_eq(aiofs_process(cc[k].h, POLLOUT), 0);
	}
	/* Until the daemon has read all 256 (and 3 hellos, 1 stats). */
	end = now_ms() + 10000;
	do {
		ck_assert_msg(now_ms() < end, "the read-files were not read");
		usleep(10000);
		xstats(cs.h, &st);
		ck_assert_uint_eq(st.stats.nloops, 2);
		i = st.stats.requests_total - base >= 256 + 3 + 1;
		aiofs_req_cleanup(&st);
	} while (!i);
	aiofs_close(cs.h);
	ck_assert_int_eq(kill(c.d.pid, SIGTERM), 0);
	usleep(100000);
	/* The worker goes on: everything read is answered, on both loops. */
	ck_assert_int_eq(write(wfd, "x", 1), 1);
	close(wfd);
	ck_assert_int_eq(drive_until(c.h, &rs.done, 1, 10000), 0);
	ck_assert_int_eq(rs.ok, 1);
	for (k = 0; k < 4; k++) {
		ck_assert_int_eq(drive_until(cc[k].h, &b[k].done, 64, 10000),
		    0);
		ck_assert_int_eq(b[k].bad, 0);
	}
	ck_assert_int_eq(waitpid(c.d.pid, &status, 0), c.d.pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "aiofsd exit status %#x", status);
	c.d.pid = 0;
	aiofs_req_cleanup(&rd);
	for (k = 0; k < 4; k++)
		aiofs_close(cc[k].h);
	rfburst_files_free(b[0].want);
	free(b);
	tdaemon_stop(&c.d);
}
END_TEST

START_TEST(test_cancel_queued)
{
	/* Queued means not tried on the loop first: stat is cheap. */
	static const char *const extra[] = { "-w", "1", "--no-fast-path",
	    NULL };
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 rd, *reqs;
	struct cstate	 s, rs;
	int		 wfd, i;

	cl_start(&c, extra);
	host_put(&c, "s", "12345", 5);
	f = fifo_setup(&c, &wfd);
	/* The only worker blocks in read(2) on the empty FIFO... */
	memset(&rs, 0, sizeof rs);
	rinit(&rd);
	rd.data = &rs;
	ck_assert_int_eq(aiofs_read(c.h, &rd, f, 10, rd_cb), 0);
	/* ...so every stat behind it is still queued when cancelled. */
	reqs = calloc(NCANCEL, sizeof *reqs);
	memset(&s, 0, sizeof s);
	for (i = 0; i < NCANCEL; i++) {
		reqs[i].data = &s;
		ck_assert_int_eq(aiofs_stat(c.h, &reqs[i], "s", 1, cancel_cb),
		    0);
	}
	for (i = 0; i < NCANCEL; i++)
		ck_assert_int_eq(aiofs_cancel(c.h, &reqs[i]), 0);
	ck_assert_msg(drive_until(c.h, &s.done, NCANCEL, 10000) == 0,
	    "only %d of %d cancelled stats completed", s.done, NCANCEL);
	ck_assert_int_eq(s.cancelled, NCANCEL);
	ck_assert_int_eq(s.other, 0);
	ck_assert_int_eq(rs.done, 0);
	/* Release the read: it was not cancelled and completes normally. */
	ck_assert_int_eq(write(wfd, "x", 1), 1);
	close(wfd);
	ck_assert_int_eq(drive_until(c.h, &rs.done, 1, 10000), 0);
	ck_assert_msg(rs.ok == 1, "read result %lld", (long long)
	    rs.other_result);
	aiofs_req_cleanup(&rd);
	ck_assert_int_eq(aiofs_run(c.h), 0);
	ck_assert_uint_eq(aiofs_pending(c.h), 0);
	/* Nothing stale follows: the connection is in step. */
	xping(&c);
	rinit(&rd);
	ck_assert_int_eq(aiofs_stat(c.h, &rd, "s", 1, NULL), 0);
	ck_assert_int_eq(rd.st.size, 5);
	aiofs_req_cleanup(&rd);
	xclose(&c, f);
	free(reqs);
	cl_stop(&c);
}
END_TEST

START_TEST(test_cancel_running_read)
{
	static const char *const extra[] = { "-w", "1", NULL };
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 rd, st;
	struct cstate	 rs;
	long long	 end;
	int		 wfd, busy = 0, rc;

	cl_start(&c, extra);
	f = fifo_setup(&c, &wfd);
	memset(&rs, 0, sizeof rs);
	rinit(&rd);
	rd.data = &rs;
	ck_assert_int_eq(aiofs_read(c.h, &rd, f, 10, rd_cb), 0);
	/* Wait until the read is on the worker (stats are inline). */
	end = now_ms() + 5000;
	while (!busy && now_ms() < end) {
		xstats(c.h, &st);
		busy = st.stats.workers_busy == 1;
		aiofs_req_cleanup(&st);
	}
	ck_assert_msg(busy, "the read never started");
	ck_assert_int_eq(aiofs_cancel(c.h, &rd), 0);
	/* A read(2) on a FIFO is interruptible: it must give up promptly. */
	rc = drive_until(c.h, &rs.done, 1, 3000);
	if (rc != 0) {
		ck_assert_int_eq(write(wfd, "x", 1), 1);
		close(wfd);
		wfd = -1;
		drive_until(c.h, &rs.done, 1, 5000);
	}
	ck_assert_msg(rc == 0, "cancelled read still blocked after 3 s "
	    "(completed with %lld once the FIFO was written)",
	    (long long)rs.other_result);
	ck_assert_msg(rs.other_result == -ECANCELED ||
	    rs.other_result == -EINTR, "cancelled read: result %lld",
	    (long long)rs.other_result);
	aiofs_req_cleanup(&rd);
	if (wfd != -1)
		close(wfd);
	ck_assert_int_eq(aiofs_run(c.h), 0);
	xping(&c);
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

START_TEST(test_cancel_many_stats)
{
	struct cl	 c;
	aiofs_req_t	*reqs;
	struct cstate	 s;
	int		 i, n = 500;

	cl_start(&c, NULL);
	host_put(&c, "s", "12345", 5);
	reqs = calloc(n, sizeof *reqs);
	memset(&s, 0, sizeof s);
	/*
	 * Cancels interleaved with the stats: some targets are queued,
	 * some running, some already answered when their cancel arrives.
	 */
	for (i = 0; i < n; i++) {
		reqs[i].data = &s;
		ck_assert_int_eq(aiofs_stat(c.h, &reqs[i], "s", 1, cancel_cb),
		    0);
		if (i % 2 == 1)
			ck_assert_int_eq(aiofs_cancel(c.h, &reqs[i - 1]), 0);
	}
	for (i = 1; i < n; i += 2)
		ck_assert_int_eq(aiofs_cancel(c.h, &reqs[i]), 0);
	ck_assert_int_eq(aiofs_run(c.h), 0);
	/* Each completes exactly once, either way, never otherwise. */
	ck_assert_int_eq(s.done, n);
	ck_assert_int_eq(s.ok + s.cancelled, n);
	ck_assert_msg(s.other == 0, "unexpected result %lld",
	    (long long)s.other_result);
	ck_assert_uint_eq(aiofs_pending(c.h), 0);
	xping(&c);
	xping(&c);
	free(reqs);
	cl_stop(&c);
}
END_TEST

/* ------------------------------------------------------------ pipelining */

struct seq {
	aiofs_req_t	*base;
	int		 done;
	int		 bad;
	int		 out_of_order;
	int64_t		 want;
	int		 last;
};

/* Completion in a batch: checks the result and the order. */
static void
seq_cb(aiofs_req_t *req)
{
	struct seq	*s = req->data;
	int		 i = (int)(req - s->base);

	if (req->result != s->want)
		s->bad++;
	if (i != s->last + 1)
		s->out_of_order++;
	s->last = i;
	s->done++;
	aiofs_req_cleanup(req);
}

START_TEST(test_handle_fifo_1000)
{
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	*reqs;
	struct seq	 s;
	char		 buf[16], *want, *got;
	size_t		 len;
	int		 i;

	cl_start(&c, NULL);
	f = xopen(&c, "order", "w+b", NULL);
	reqs = calloc(1000, sizeof *reqs);
	memset(&s, 0, sizeof s);
	s.base = reqs;
	s.want = 5;
	s.last = -1;
	want = malloc(5001);
	for (i = 0; i < 1000; i++) {
		snprintf(buf, sizeof buf, "%04d\n", i);
		memcpy(want + 5 * i, buf, 5);
		reqs[i].data = &s;
		ck_assert_int_eq(aiofs_write(c.h, &reqs[i], f, buf, 5, seq_cb),
		    0);
	}
	ck_assert_int_eq(aiofs_run(c.h), 0);
	ck_assert_int_eq(s.done, 1000);
	ck_assert_int_eq(s.bad, 0);
	/* One handle: one at a time, in the order sent. */
	ck_assert_int_eq(s.out_of_order, 0);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	got = xread2(&c, f, -1, AIOFS_READ, &len);
	ck_assert_uint_eq(len, 5000);
	ck_assert(memcmp(got, want, 5000) == 0);
	free(got);
	xclose(&c, f);
	host_expect(&c, "order", want, 5000);
	free(want);
	free(reqs);
	cl_stop(&c);
}
END_TEST

struct mix {
	int	 done;
	int	 bad;
};

/* Completion of a stat or a ping in the pipelining test. */
static void
mix_cb(aiofs_req_t *req)
{
	struct mix	*m = req->data;

	m->done++;
	if (req->result != 0 || (req->op == AIOFS_OP_STAT &&
	    req->st.size != 5))
		m->bad++;
	aiofs_req_cleanup(req);
}

START_TEST(test_pipelining_1000)
{
	struct cl	 c;
	aiofs_req_t	*reqs;
	struct mix	 m;
	int		 i, n = 1000;

	cl_start(&c, NULL);
	host_put(&c, "s", "12345", 5);
	reqs = calloc(n, sizeof *reqs);
	memset(&m, 0, sizeof m);
	/* All sent before any reply is read: far past max_inflight. */
	for (i = 0; i < n; i++) {
		reqs[i].data = &m;
		if (i % 2 == 0)
			ck_assert_int_eq(aiofs_stat(c.h, &reqs[i], "s", 1,
			    mix_cb), 0);
		else
			ck_assert_int_eq(aiofs_ping(c.h, &reqs[i], mix_cb), 0);
	}
	ck_assert_uint_eq(aiofs_pending(c.h), (unsigned)n);
	ck_assert_int_eq(aiofs_run(c.h), 0);
	ck_assert_int_eq(m.done, n);
	ck_assert_int_eq(m.bad, 0);
	ck_assert_uint_eq(aiofs_pending(c.h), 0);
	free(reqs);
	cl_stop(&c);
}
END_TEST

/* Completion that only counts (the caller inspects and cleans up). */
static void
count_cb(aiofs_req_t *req)
{
	(*(int *)req->data)++;
}

/* Drive many connections with poll until *counter reaches n. */
static int
multi_drive(aiofs_t **hs, int nh, const int *counter, int n, int ms)
{
	struct pollfd	*pfd;
	long long	 end = now_ms() + ms;
	int		 i, rc = 0;

	pfd = calloc(nh, sizeof *pfd);
	while (*counter < n && rc == 0) {
		if (now_ms() > end) {
			rc = -1;
			break;
		}
		for (i = 0; i < nh; i++) {
			pfd[i].fd = aiofs_fd(hs[i]);
			pfd[i].events = aiofs_events(hs[i]);
			pfd[i].revents = 0;
		}
		if (poll(pfd, nh, 100) == -1 && errno != EINTR)
			rc = -1;
		for (i = 0; i < nh && rc == 0; i++)
			if (pfd[i].revents != 0 &&
			    aiofs_process(hs[i], pfd[i].revents) != 0)
				rc = -1;
	}
	free(pfd);
	return (rc);
}

#define NCONN	50

START_TEST(test_50_connections)
{
	struct tdaemon	 d;
	aiofs_t		*hs[NCONN];
	aiofs_req_t	 reqs[NCONN], st;
	char		 names[NCONN][32], data[NCONN][64];
	int		 i, done = 0, rc;
	struct cl	 c;

	tdaemon_start(&d, NULL);
	c.d = d;
	for (i = 0; i < NCONN; i++) {
		rc = aiofs_connect(&hs[i], d.sock, "many");
		ck_assert_msg(rc == 0, "connection %d: %s", i,
		    aiofs_errname(rc));
	}
	/* Every connection writes its own file at the same time... */
	for (i = 0; i < NCONN; i++) {
		snprintf(names[i], sizeof names[i], "c%02d", i);
		snprintf(data[i], sizeof data[i], "connection %d says hello",
		    i);
		rinit(&reqs[i]);
		reqs[i].data = &done;
		ck_assert_int_eq(aiofs_writefile(hs[i], &reqs[i], names[i],
		    data[i], strlen(data[i]), 0, count_cb), 0);
	}
	ck_assert_int_eq(multi_drive(hs, NCONN, &done, NCONN, 20000), 0);
	for (i = 0; i < NCONN; i++) {
		ck_assert_int_eq(reqs[i].result, (int64_t)strlen(data[i]));
		aiofs_req_cleanup(&reqs[i]);
		host_expect(&c, names[i], data[i], strlen(data[i]));
	}
	/* ...then reads another's back. */
	done = 0;
	for (i = 0; i < NCONN; i++) {
		rinit(&reqs[i]);
		reqs[i].data = &done;
		ck_assert_int_eq(aiofs_readfile(hs[i], &reqs[i],
		    names[(i + 1) % NCONN], 0, -1, count_cb), 0);
	}
	ck_assert_int_eq(multi_drive(hs, NCONN, &done, NCONN, 20000), 0);
	for (i = 0; i < NCONN; i++) {
		const char *w = data[(i + 1) % NCONN];

		ck_assert_int_eq(reqs[i].result, (int64_t)strlen(w));
		ck_assert_mem_eq(reqs[i].buf, w, strlen(w));
		aiofs_req_cleanup(&reqs[i]);
	}
	xstats(hs[0], &st);
	ck_assert_uint_eq(st.stats.connections_current, NCONN);
	aiofs_req_cleanup(&st);
	for (i = 0; i < NCONN; i++)
		aiofs_close(hs[i]);
	tdaemon_stop(&d);
}
END_TEST

struct worker_arg {
	const char	*sock;
	const char	*root;
	int		 id;
	int		 err;	/* 0, or the step that failed */
};

/* One thread with its own connection doing mixed work. */
static void *
thread_main(void *p)
{
	struct worker_arg	*a = p;
	aiofs_t			*h;
	aiofs_req_t		 req;
	aiofs_file_t		 f;
	char			 name[32], data[64];
	int			 i, n;

	if (aiofs_connect(&h, a->sock, "thread") != 0) {
		a->err = 1;
		return (NULL);
	}
	snprintf(name, sizeof name, "t%02d", a->id);
	for (i = 0; i < 40 && a->err == 0; i++) {
		n = snprintf(data, sizeof data, "thread %d round %d", a->id, i);
		memset(&req, 0, sizeof req);
		if (aiofs_writefile(h, &req, name, data, n, 0, NULL) != n)
			a->err = 2;
		aiofs_req_cleanup(&req);
		if (aiofs_open(h, &req, name, "rb", NULL, NULL) != 0) {
			a->err = 3;
			aiofs_req_cleanup(&req);
			break;
		}
		f = req.file;
		aiofs_req_cleanup(&req);
		if (aiofs_read(h, &req, f, -1, NULL) != n ||
		    memcmp(req.buf, data, n) != 0)
			a->err = 4;
		aiofs_req_cleanup(&req);
		if (aiofs_fclose(h, &req, f, NULL) != 0)
			a->err = 5;
		aiofs_req_cleanup(&req);
		if (aiofs_stat(h, &req, name, 1, NULL) != 0 ||
		    req.st.size != n)
			a->err = 6;
		aiofs_req_cleanup(&req);
	}
	aiofs_close(h);
	return (NULL);
}

START_TEST(test_threads)
{
	struct tdaemon		 d;
	pthread_t		 t[16];
	struct worker_arg	 a[16];
	int			 i;

	tdaemon_start(&d, NULL);
	for (i = 0; i < 16; i++) {
		a[i].sock = d.sock;
		a[i].root = d.root;
		a[i].id = i;
		a[i].err = 0;
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_main,
		    &a[i]), 0);
	}
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	for (i = 0; i < 16; i++)
		ck_assert_msg(a[i].err == 0, "thread %d failed at step %d", i,
		    a[i].err);
	tdaemon_stop(&d);
}
END_TEST

/* The daemon's fd count once it has stopped changing (probe closed). */
static int
stable_nfds(struct tdaemon *d)
{
	int	 n, prev = -1, same = 0, i;

	for (i = 0; i < 200 && same < 5; i++) {
		n = tdaemon_nfds(d);
		same = n == prev ? same + 1 : 0;
		prev = n;
		usleep(20000);
	}
	return (prev);
}

/*
 * Poll count(d) (the daemon's fds, pipe ends...) until it is want, for up
 * to ms; returns the last count.
 */
static int
wait_count(struct tdaemon *d, int (*count)(struct tdaemon *), int want,
    int ms)
{
	long long	 end = now_ms() + ms;
	int		 n;

	while ((n = count(d)) != want && now_ms() < end)
		usleep(20000);
	return (n);
}

START_TEST(test_disconnect_open_handles)
{
	struct cl		 c;
	aiofs_open_opts_t	 o = AIOFS_OPEN_OPTS_INIT;
	uint8_t			 data[50][100];
	char			 name[32];
	int			 base, i, n;

	tdaemon_start(&c.d, NULL);
	base = stable_nfds(&c.d);
	ck_assert_int_eq(aiofs_connect(&c.h, c.d.sock, "leaver"), 0);
	host_put(&c, "shared", "read me", 7);
	o.buffering = MiB;
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof name, "b%02d", i);
		pattern(data[i], sizeof data[i], 100 + i);
		xwrite(&c, xopen(&c, name, "wb", &o), data[i],
		    sizeof data[i], sizeof data[i]);
		xopen(&c, "shared", "rb", NULL);
	}
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof name, "b%02d", i);
		ck_assert_int_eq(host_size(&c, name), 0);
	}
	ck_assert_int_ge(tdaemon_nfds(&c.d), base + 101);
	/* Gone without closing anything. */
	aiofs_close(c.h);
	c.h = NULL;
	n = wait_count(&c.d, tdaemon_nfds, base, 5000);
	ck_assert_msg(n == base, "daemon has %d fds, %d before the client",
	    n, base);
	/* Every buffered write was flushed on the way out. */
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof name, "b%02d", i);
		host_expect(&c, name, data[i], sizeof data[i]);
	}
	tdaemon_stop(&c.d);
}
END_TEST

/* --------------------------------------------------------------- tempfile */

/* Start a daemon whose root has the default tmpdir. */
static void
cl_start_tmp(struct cl *c)
{
	cl_start(c, NULL);
	ck_assert_int_eq(mkdir(hp(c, "tmp"), 0755), 0);
}

/* tempfile() that must succeed; returns the handle, *name a copy. */
static aiofs_file_t
xtemp(struct cl *c, const aiofs_temp_opts_t *o, char **name)
{
	aiofs_req_t	 req;
	aiofs_file_t	 f;
	int		 rc;

	rinit(&req);
	rc = aiofs_tempfile(c->h, &req, o, NULL);
	/* mkdtemp answers with its path: the result is its length. */
	ck_assert_msg(o->kind == AIOFS_MKDTEMP ? rc > 0 : rc == 0,
	    "tempfile kind %d: %d %s (%s)", o->kind, rc,
	    aiofs_errname(rc), req.errmsg != NULL ? req.errmsg : "");
	f = req.file;
	if (name != NULL) {
		const char *n = req.info.name;

		if (o->kind == AIOFS_MKDTEMP || n == NULL)
			n = req.buf;
		ck_assert_ptr_nonnull(n);
		*name = strdup(n);
	}
	aiofs_req_cleanup(&req);
	return (f);
}

/* Wait until a host path disappears; returns whether it did. */
static int
wait_gone(struct cl *c, const char *rel, int ms)
{
	long long	 end = now_ms() + ms;

	while (host_exists(c, rel) && now_ms() < end)
		usleep(20000);
	return (!host_exists(c, rel));
}

START_TEST(test_temp_named)
{
	struct cl		 c;
	aiofs_temp_opts_t	 o = AIOFS_TEMP_OPTS_INIT;
	aiofs_file_t		 f;
	aiofs_req_t		 req;
	char			*name, *base;

	cl_start_tmp(&c);
	o.kind = AIOFS_NAMED_TEMPORARY_FILE;
	f = xtemp(&c, &o, &name);
	ck_assert_msg(strncmp(name, "/tmp/", 5) == 0, "name %s", name);
	ck_assert(host_exists(&c, name));
	xinfo(&c, f, &req);
	ck_assert_str_eq(req.info.mode, "rb+");
	aiofs_req_cleanup(&req);
	xwrites(&c, f, "data", 4);
	xflush(&c, f);
	host_expect(&c, name, "data", 4);
	xclose(&c, f);
	ck_assert_msg(!host_exists(&c, name), "%s kept after close", name);
	free(name);

	/* prefix, suffix, dir. */
	ck_assert_int_eq(mkdir(hp(&c, "sub"), 0755), 0);
	o.prefix = "pre_";
	o.suffix = ".suf";
	o.dir = "sub";
	f = xtemp(&c, &o, &name);
	base = strrchr(name, '/') != NULL ? strrchr(name, '/') + 1 : name;
	ck_assert_msg(strncmp(base, "pre_", 4) == 0, "name %s", name);
	ck_assert_msg(strlen(base) > 8 && strcmp(base + strlen(base) - 4,
	    ".suf") == 0, "name %s", name);
	ck_assert_msg(strstr(name, "sub/") != NULL, "name %s", name);
	ck_assert(host_exists(&c, name));
	xclose(&c, f);
	ck_assert(!host_exists(&c, name));
	free(name);

	/* delete=False: kept. */
	o.prefix = o.suffix = o.dir = NULL;
	o.delete = 0;
	f = xtemp(&c, &o, &name);
	xclose(&c, f);
	ck_assert(host_exists(&c, name));
	free(name);

	/* delete_on_close=False: kept after close, gone at disconnect. */
	o.delete = 1;
	o.delete_on_close = 0;
	f = xtemp(&c, &o, &name);
	xwrites(&c, f, "zz", 2);
	xclose(&c, f);
	ck_assert_msg(host_exists(&c, name), "removed at close");
	host_expect(&c, name, "zz", 2);
	aiofs_close(c.h);
	c.h = NULL;
	ck_assert_msg(wait_gone(&c, name, 5000), "%s kept after disconnect",
	    name);
	free(name);
	ck_assert_int_eq(aiofs_connect(&c.h, c.d.sock, "again"), 0);
	cl_stop(&c);
}
END_TEST

START_TEST(test_temp_named_killed_client)
{
	struct cl	 c;
	int		 p[2], status;
	pid_t		 pid;
	char		 name[512];
	ssize_t		 n;

	cl_start_tmp(&c);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		aiofs_t			*h;
		aiofs_req_t		 req;
		aiofs_temp_opts_t	 o = AIOFS_TEMP_OPTS_INIT;

		close(p[0]);
		if (aiofs_connect(&h, c.d.sock, "victim") != 0)
			_exit(1);
		o.kind = AIOFS_NAMED_TEMPORARY_FILE;
		memset(&req, 0, sizeof req);
		if (aiofs_tempfile(h, &req, &o, NULL) != 0)
			_exit(2);
		if (write(p[1], req.info.name, strlen(req.info.name) + 1) < 0)
			_exit(3);
		for (;;)
			pause();
	}
	close(p[1]);
	memset(name, 0, sizeof name);
	n = read_timeout(p[0], name, sizeof name - 1, 5000);
	close(p[0]);
	ck_assert_msg(n > 1, "the child made no temporary file");
	ck_assert(host_exists(&c, name));
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(wait_gone(&c, name, 5000), "%s outlived its killed "
	    "client", name);
	xping(&c);
	cl_stop(&c);
}
END_TEST

START_TEST(test_temp_directory)
{
	struct cl		 c;
	aiofs_temp_opts_t	 o = AIOFS_TEMP_OPTS_INIT;
	aiofs_file_t		 f;
	char			*name, p[600];
	struct stat		 sb;

	cl_start_tmp(&c);
	host_put(&c, "outside", "keep", 4);
	o.kind = AIOFS_TEMPORARY_DIRECTORY;
	f = xtemp(&c, &o, &name);
	ck_assert_int_eq(stat(hp(&c, name), &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
	snprintf(p, sizeof p, "%s/a", name);
	ck_assert_int_eq(mkdir(hp(&c, p), 0755), 0);
	snprintf(p, sizeof p, "%s/a/deep", name);
	ck_assert_int_eq(mkdir(hp(&c, p), 0755), 0);
	snprintf(p, sizeof p, "%s/a/deep/f", name);
	host_put(&c, p, "x", 1);
	snprintf(p, sizeof p, "%s/top", name);
	host_put(&c, p, "y", 1);
	/* A symlink out of it must be removed, not followed. */
	snprintf(p, sizeof p, "%s/link", name);
	ck_assert_int_eq(symlink(hp(&c, "outside"), hp(&c, p)), 0);
	xclose(&c, f);
	ck_assert_msg(!host_exists(&c, name), "%s kept after close", name);
	host_expect(&c, "outside", "keep", 4);
	free(name);

	/* mkdtemp: kept, a name only. */
	o.kind = AIOFS_MKDTEMP;
	o.prefix = "kept";
	xtemp(&c, &o, &name);
	ck_assert_int_eq(stat(hp(&c, name), &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	aiofs_close(c.h);
	c.h = NULL;
	ck_assert_int_eq(aiofs_connect(&c.h, c.d.sock, "again"), 0);
	xping(&c);
	ck_assert(host_exists(&c, name));
	free(name);
	cl_stop(&c);
}
END_TEST

START_TEST(test_temp_file_anonymous)
{
	struct cl		 c;
	aiofs_temp_opts_t	 o = AIOFS_TEMP_OPTS_INIT;
	aiofs_file_t		 f;

	cl_start_tmp(&c);
	o.kind = AIOFS_TEMPORARY_FILE;
	f = xtemp(&c, &o, NULL);
	/* No name anywhere. */
	ck_assert_int_eq(host_count(&c, "tmp"), 0);
	xwrites(&c, f, "abc", 3);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	xread_is(&c, f, -1, AIOFS_READ, "abc");
	xclose(&c, f);
	ck_assert_int_eq(host_count(&c, "tmp"), 0);
	cl_stop(&c);
}
END_TEST

/* How many of the daemon's fds are files under the root's tmp/. */
static int
daemon_tmp_fds(struct cl *c)
{
	char		 dir[64], lnk[700], prefix[600], path[400];
	DIR		*d;
	struct dirent	*de;
	ssize_t		 n;
	int		 count = 0;

	snprintf(prefix, sizeof prefix, "%s/tmp/", c->d.root);
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)c->d.pid);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if ((n = readlink(path, lnk, sizeof lnk - 1)) <= 0)
			continue;
		lnk[n] = '\0';
		if (strncmp(lnk, prefix, strlen(prefix)) == 0)
			count++;
	}
	closedir(d);
	return (count);
}

START_TEST(test_temp_spooled)
{
	struct cl		 c;
	aiofs_temp_opts_t	 o = AIOFS_TEMP_OPTS_INIT;
	aiofs_file_t		 f;
	uint8_t			 data[101];
	char			*got;
	size_t			 len;

	cl_start_tmp(&c);
	pattern(data, sizeof data, 5);
	o.kind = AIOFS_SPOOLED_TEMPORARY_FILE;
	o.max_size = 100;
	f = xtemp(&c, &o, NULL);
	ck_assert_int_eq(daemon_tmp_fds(&c), 0);
	/* Up to max_size it stays in memory... */
	xwrite(&c, f, data, 100, 100);
	xflush(&c, f);
	ck_assert_int_eq(daemon_tmp_fds(&c), 0);
	ck_assert_int_eq(host_count(&c, "tmp"), 0);
	/* ...one byte more and it is a file (an anonymous one). */
	xwrite(&c, f, data + 100, 1, 1);
	xflush(&c, f);
	ck_assert_int_eq(daemon_tmp_fds(&c), 1);
	ck_assert_int_eq(host_count(&c, "tmp"), 0);
	ck_assert_int_eq(xtell(&c, f), 101);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	got = xread2(&c, f, -1, AIOFS_READ, &len);
	ck_assert_uint_eq(len, 101);
	ck_assert_mem_eq(got, data, 101);
	free(got);
	xclose(&c, f);
	ck_assert_int_eq(daemon_tmp_fds(&c), 0);

	/* In memory: reads, seeks, truncate, pread all work there. */
	o.max_size = 1000;
	f = xtemp(&c, &o, NULL);
	xwrite(&c, f, data, 50, 50);
	ck_assert_int_eq(xseek(&c, f, 10, SEEK_SET), 10);
	xread_is(&c, f, 0, AIOFS_READ, "");
	got = xread2(&c, f, 5, AIOFS_READ, &len);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(got, data + 10, 5);
	free(got);
	ck_assert_int_eq(daemon_tmp_fds(&c), 0);
	/* rollover() forces it out, the data goes along. */
	xhop(&c, aiofs_rollover, f, 0, "rollover");
	ck_assert_int_eq(daemon_tmp_fds(&c), 1);
	ck_assert_int_eq(xtell(&c, f), 15);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	got = xread2(&c, f, -1, AIOFS_READ, &len);
	ck_assert_uint_eq(len, 50);
	ck_assert_mem_eq(got, data, 50);
	free(got);
	xclose(&c, f);

	/* Text mode spooled. */
	o.mode = "w+";
	f = xtemp(&c, &o, NULL);
	xwrites(&c, f, "h\xc3\xa9llo", 5);
	ck_assert_int_eq(xseek(&c, f, 0, SEEK_SET), 0);
	xread_is(&c, f, 2, AIOFS_READ, "h\xc3\xa9");
	xclose(&c, f);
	cl_stop(&c);
}
END_TEST

START_TEST(test_temp_mkstemp)
{
	struct cl		 c;
	aiofs_temp_opts_t	 o = AIOFS_TEMP_OPTS_INIT;
	aiofs_file_t		 f;
	struct stat		 sb;
	char			*name;

	cl_start_tmp(&c);
	o.kind = AIOFS_MKSTEMP;
	o.suffix = ".dat";
	f = xtemp(&c, &o, &name);
	ck_assert_int_eq(stat(hp(&c, name), &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	xwrites(&c, f, "kept", 4);
	xclose(&c, f);
	host_expect(&c, name, "kept", 4);
	aiofs_close(c.h);
	c.h = NULL;
	ck_assert_int_eq(aiofs_connect(&c.h, c.d.sock, "again"), 0);
	xping(&c);
	host_expect(&c, name, "kept", 4);
	free(name);
	cl_stop(&c);
}
END_TEST

/* ------------------------------------------------------------ connection */

static int	closed_calls;
static int64_t	closed_result;

/* Completion of a request pending when its connection was closed. */
static void
closed_cb(aiofs_req_t *req)
{
	closed_calls++;
	closed_result = req->result;
}

START_TEST(test_close_with_pending)
{
	struct cl	 c;
	aiofs_req_t	 req;
	aiofs_t		*h;

	cl_start(&c, NULL);
	ck_assert_str_eq(aiofs_server_version(c.h), AIOFS_VERSION);
	ck_assert_uint_gt(aiofs_max_chunk(c.h), 0);
	rinit(&req);
	ck_assert_int_eq(aiofs_ping(c.h, &req, closed_cb), 0);
	ck_assert_uint_eq(aiofs_pending(c.h), 1);
	closed_calls = 0;
	/* aiofs.h: pending requests complete with -ECANCELED. */
	aiofs_close(c.h);
	c.h = NULL;
	ck_assert_int_eq(closed_calls, 1);
	ck_assert_int_eq(closed_result, -ECANCELED);
	aiofs_req_cleanup(&req);
	tdaemon_stop(&c.d);

	/* Nobody there. */
	ck_assert_int_lt(aiofs_connect(&h, "/nonexistent/aiofsd.sock", "x"),
	    0);
}
END_TEST

START_TEST(test_daemon_gone)
{
	struct cl	 c;
	aiofs_req_t	 req;
	int		 status, rc;

	cl_start(&c, NULL);
	xping(&c);
	ck_assert_int_eq(kill(c.d.pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(c.d.pid, &status, 0), c.d.pid);
	c.d.pid = 0;
	/* aiofs.h: -ECONNRESET when the daemon went away, and it sticks. */
	rinit(&req);
	rc = aiofs_ping(c.h, &req, NULL);
	ck_assert_msg(rc == -ECONNRESET, "ping to a dead daemon: %s",
	    aiofs_errname(rc));
	aiofs_req_cleanup(&req);
	rc = aiofs_stat(c.h, &req, "x", 1, NULL);
	ck_assert_msg(rc == -ECONNRESET, "then stat: %s", aiofs_errname(rc));
	aiofs_req_cleanup(&req);
	aiofs_close(c.h);
	tdaemon_stop(&c.d);
}
END_TEST

/* ---------------------------------------------------------------- splice */

/*
 * Large pread/readfile chunks are spliced (daemon/spipe.c): file pages go
 * through a pipe into the socket, the frame header is written first.  These
 * tests check the bytes, the framing around the pipe segments, and that
 * every pipe is closed or pooled whatever happens to the connection.
 */

/*
 * Pipe ends the daemon holds open (/proc/PID/fd links "pipe:[...]").  It
 * may have inherited some (its stdio...): tests count from a baseline.
 */
static int
daemon_pipe_fds(struct tdaemon *d)
{
	char		 dirp[64], path[384], link[64];
	DIR		*dir;
	struct dirent	*de;
	ssize_t		 n;
	int		 count = 0;

	snprintf(dirp, sizeof dirp, "/proc/%d/fd", (int)d->pid);
	dir = opendir(dirp);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dirp, de->d_name);
		n = readlink(path, link, sizeof link - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, "pipe:", 5) == 0)
			count++;
	}
	closedir(dir);
	return (count);
}

#define SX_CONNS	4

enum sx_kind {
	SX_DATA,	/* pread/readfile: exactly want[0, len), eof as given */
	SX_OK,		/* ping, stat: success */
	SX_FD,		/* openfd: an fd whose file holds fdwant */
	SX_SEQ		/* an op on a FIFO handle: replies in order */
};

struct sxrun {
	int		 done;
	int		 bad;
	int		 lastseq[SX_CONNS];
	char		 why[256];
};

/* What one request of the splice tests must come back with. */
struct sx {
	struct sxrun	*run;
	enum sx_kind	 kind;
	int		 conn;
	const uint8_t	*want;
	size_t		 len;
	int		 eof;		/* -1: either */
	const char	*fdwant;
	int		 seq;
};

/* Record the first thing that went wrong. */
static void
sx_bad(struct sxrun *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
sx_bad(struct sxrun *r, const char *fmt, ...)
{
	va_list	 ap;

	if (r->bad++ == 0) {
		va_start(ap, fmt);
		vsnprintf(r->why, sizeof r->why, fmt, ap);
		va_end(ap);
	}
}

/* Completion of any request of the splice tests: check it. */
static void
sx_cb(aiofs_req_t *req)
{
	struct sx	*x = req->data;
	struct sxrun	*r = x->run;
	char		 buf[64];
	ssize_t		 n;

	r->done++;
	switch (x->kind) {
	case SX_DATA:
		if (req->result != (int64_t)x->len || req->len != x->len)
			sx_bad(r, "data: result %lld, %zu bytes, want %zu "
			    "(%s)", (long long)req->result, req->len, x->len,
			    req->errmsg != NULL ? req->errmsg : "");
		else if (x->len > 0 && memcmp(req->buf, x->want, x->len) != 0)
			sx_bad(r, "data: %zu bytes differ", x->len);
		else if (x->eof != -1 && req->eof != x->eof)
			sx_bad(r, "data: eof %d, want %d", req->eof, x->eof);
		break;
	case SX_OK:
		if (req->result < 0)
			sx_bad(r, "op %d: %s", (int)req->op,
			    aiofs_errname((int)req->result));
		break;
	case SX_FD:
		if (req->result != 0 || req->fd < 0) {
			sx_bad(r, "openfd: %lld, fd %d",
			    (long long)req->result, req->fd);
			break;
		}
		n = pread(req->fd, buf, sizeof buf, 0);
		if (n != (ssize_t)strlen(x->fdwant) ||
		    memcmp(buf, x->fdwant, n) != 0)
			sx_bad(r, "openfd: the fd is not %s's", x->fdwant);
		close(req->fd);
		break;
	case SX_SEQ:
		if (req->result < 0 || x->seq != r->lastseq[x->conn] + 1)
			sx_bad(r, "fifo op %d after %d (%lld)", x->seq,
			    r->lastseq[x->conn], (long long)req->result);
		r->lastseq[x->conn] = x->seq;
		break;
	}
	aiofs_req_cleanup(req);
}

START_TEST(test_splice_mixed)
{
	static const char *const extra[] = { "--allow-fd-passing", NULL };
	static const char *const fdnames[] = { "of0", "of1", "of2" };
	static const size_t	 sizes[] = { 2 * MiB + 1000, 64 * 1024,
	    64 * 1024 - 1, 3 * MiB, MiB, 300 * 1024 + 7 };
	static const size_t	 offs[] = { 1800000, 0, 4096, 5 * MiB + 1,
	    6 * MiB, 123 };
	struct tdaemon		 d;
	aiofs_t			*hs[SX_CONNS];
	aiofs_req_t		*reqs;
	struct sx		*xs;
	struct sxrun		 run;
	aiofs_file_t		 fr[SX_CONNS], fw[SX_CONNS];
	aiofs_req_t		*r;
	uint8_t			*want;
	size_t			 n = 12 * MiB + 333, tail = 700000;
	int			 i, k, j, nr = 0, seq[SX_CONNS], pipes0;
	struct cl		 c;

	cl_start(&c, extra);
	d = c.d;
	pipes0 = daemon_pipe_fds(&d);
	hs[0] = c.h;
	want = host_pattern_file(&c, "big", n, 21);
	host_put(&c, "small", "12345", 5);
	for (i = 0; i < 3; i++)
		host_put(&c, fdnames[i], fdnames[i], strlen(fdnames[i]));
	for (i = 1; i < SX_CONNS; i++)
		ck_assert_int_eq(aiofs_connect(&hs[i], d.sock, "splice"), 0);
	for (i = 0; i < SX_CONNS; i++) {
		c.h = hs[i];
		fr[i] = xopen(&c, "big", "rb", NULL);
		fw[i] = xopen(&c, "scratch", "wb", NULL);
	}
	reqs = calloc(SX_CONNS * 64, sizeof *reqs);
	xs = calloc(SX_CONNS * 64, sizeof *xs);
	memset(&run, 0, sizeof run);
	memset(seq, 0, sizeof seq);

	/*
	 * Everything pipelined on every connection at once: spliced and
	 * copied Data chunks, inline replies, fds to attach and FIFO-ordered
	 * replies all share each connection's output.
	 */
#define SX(kind_, conn_) (xs[nr].run = &run, xs[nr].kind = (kind_),	\
	xs[nr].conn = (conn_), reqs[nr].data = &xs[nr], &reqs[nr++])
	for (i = 0; i < SX_CONNS; i++) {
		for (k = 0; k < 6; k++) {
			j = (k + i) % 6;
			r = SX(SX_DATA, i);
			xs[nr - 1].want = want + offs[j];
			xs[nr - 1].len = sizes[j];
			xs[nr - 1].eof = 0;
			ck_assert_int_eq(aiofs_pread(hs[i], r, fr[i],
			    sizes[j], offs[j], sx_cb), 0);
			ck_assert_int_eq(aiofs_ping(hs[i], SX(SX_OK, i),
			    sx_cb), 0);
			ck_assert_int_eq(aiofs_stat(hs[i], SX(SX_OK, i),
			    "small", 1, sx_cb), 0);
			r = SX(SX_DATA, i);
			xs[nr - 1].want = want + 12345;
			xs[nr - 1].len = 100;
			xs[nr - 1].eof = 0;
			ck_assert_int_eq(aiofs_pread(hs[i], r, fr[i], 100,
			    12345, sx_cb), 0);
			r = SX(SX_FD, i);
			xs[nr - 1].fdwant = fdnames[(i + k) % 3];
			ck_assert_int_eq(aiofs_openfd(hs[i], r,
			    fdnames[(i + k) % 3], "rb", 0, sx_cb), 0);
			r = SX(SX_SEQ, i);
			xs[nr - 1].seq = ++seq[i];
			ck_assert_int_eq(aiofs_tell(hs[i], r, fw[i], sx_cb), 0);
		}
		/* The whole file from an odd offset, several parts. */
		r = SX(SX_DATA, i);
		xs[nr - 1].want = want + 3;
		xs[nr - 1].len = n - 3;
		xs[nr - 1].eof = 1;
		ck_assert_int_eq(aiofs_readfile(hs[i], r, "big", 3, -1, sx_cb),
		    0);
		/* A short last chunk: EOF inside it. */
		r = SX(SX_DATA, i);
		xs[nr - 1].want = want + n - tail;
		xs[nr - 1].len = tail;
		xs[nr - 1].eof = 1;
		ck_assert_int_eq(aiofs_pread(hs[i], r, fr[i], 2 * MiB,
		    n - tail, sx_cb), 0);
		r = SX(SX_SEQ, i);
		xs[nr - 1].seq = ++seq[i];
		ck_assert_int_eq(aiofs_tell(hs[i], r, fw[i], sx_cb), 0);
	}
#undef SX
	/*
	 * Read nothing for a while: the sockets fill, pipes queue up in the
	 * daemon's output, and replies (and fds) queue behind them.
	 */
	usleep(300000);
	ck_assert_int_eq(multi_drive(hs, SX_CONNS, &run.done, nr, 60000), 0);
	ck_assert_int_eq(run.done, nr);
	ck_assert_msg(run.bad == 0, "%d bad replies; first: %s", run.bad,
	    run.why);
	/* The pool keeps the pipes it used for a while: splice was used. */
	ck_assert_int_gt(daemon_pipe_fds(&d), pipes0);
	for (i = 0; i < SX_CONNS; i++) {
		c.h = hs[i];
		xping(&c);
		xclose(&c, fr[i]);
		xclose(&c, fw[i]);
		if (i > 0)
			aiofs_close(hs[i]);
	}
	c.h = hs[0];
	free(reqs);
	free(xs);
	free(want);
	cl_stop(&c);
}
END_TEST

START_TEST(test_splice_fds_behind_pipes)
{
	static const char *const extra[] = { "--allow-fd-passing", NULL };
	static const char *const fdnames[] = { "of0", "of1", "of2" };
	struct cl		 c;
	aiofs_req_t		 reqs[42];
	struct sx		 xs[42];
	struct sxrun		 run;
	uint8_t			*want;
	size_t			 n = 24 * MiB;
	int			 i, nr = 0;

	cl_start(&c, extra);
	want = host_pattern_file(&c, "big", n, 22);
	for (i = 0; i < 3; i++)
		host_put(&c, fdnames[i], fdnames[i], strlen(fdnames[i]));
	memset(&run, 0, sizeof run);
	/*
	 * Two streams fill the socket and the output; the fds' replies
	 * then queue behind them, several in a row, each fd to go with the
	 * first byte of its own frame.
	 */
	for (i = 0; i < 2; i++) {
		xs[nr].run = &run;
		xs[nr].kind = SX_DATA;
		xs[nr].want = want + i;
		xs[nr].len = n - i;
		xs[nr].eof = 1;
		rinit(&reqs[nr]);
		reqs[nr].data = &xs[nr];
		ck_assert_int_eq(aiofs_readfile(c.h, &reqs[nr], "big", i, -1,
		    sx_cb), 0);
		nr++;
	}
	for (i = 0; i < 40; i++) {
		xs[nr].run = &run;
		xs[nr].kind = SX_FD;
		xs[nr].fdwant = fdnames[i % 3];
		rinit(&reqs[nr]);
		reqs[nr].data = &xs[nr];
		ck_assert_int_eq(aiofs_openfd(c.h, &reqs[nr], fdnames[i % 3],
		    "rb", 0, sx_cb), 0);
		nr++;
	}
	usleep(300000);
	ck_assert_int_eq(drive_until(c.h, &run.done, nr, 60000), 0);
	ck_assert_msg(run.bad == 0, "%d bad replies; first: %s", run.bad,
	    run.why);
	xping(&c);
	free(want);
	cl_stop(&c);
}
END_TEST

START_TEST(test_splice_readfile_sizes)
{
	static const size_t	 sizes[] = { 4096, 64 * 1024 - 1, 64 * 1024,
	    MiB - 1, MiB, MiB + 1, 5 * MiB + 77 };
	struct cl		 c;
	aiofs_req_t		 req;
	uint8_t			*want;
	char			 name[32];
	size_t			 i, n;

	cl_start(&c, NULL);
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		n = sizes[i];
		snprintf(name, sizeof name, "f%zu", i);
		want = host_pattern_file(&c, name, n, 30 + i);
		rinit(&req);
		ck_assert_int_eq(aiofs_readfile(c.h, &req, name, 0, -1, NULL),
		    (int)n);
		ck_assert_msg(memcmp(req.buf, want, n) == 0, "%s differs",
		    name);
		aiofs_req_cleanup(&req);
		/* A range at an unaligned offset, and past the end. */
		ck_assert_int_eq(aiofs_readfile(c.h, &req, name, 1001,
		    (int64_t)n, NULL), (int)(n - 1001));
		ck_assert(memcmp(req.buf, want + 1001, n - 1001) == 0);
		aiofs_req_cleanup(&req);
		ck_assert_int_eq(aiofs_readfile(c.h, &req, name, (int64_t)n,
		    -1, NULL), 0);
		aiofs_req_cleanup(&req);
		free(want);
	}
	xping(&c);
	cl_stop(&c);
}
END_TEST

struct trunc_state {
	struct cl	*c;
	const uint8_t	*want;
	size_t		 off;
	size_t		 newsize;
	unsigned	 parts;
	unsigned	 finals;
	int64_t		 err;
	int		 bad;
	size_t		 badat;
};

/* One part of a stream whose file is cut short after the first part. */
static void
trunc_cb(aiofs_req_t *req)
{
	struct trunc_state	*s = req->data;
	const uint8_t		*p = (const uint8_t *)req->buf;
	size_t			 i, at;

	if (req->result < 0) {
		s->err = req->result;
		s->finals++;
		return;
	}
	for (i = 0; i < req->len && !s->bad; i++) {
		at = s->off + i;
		/* Before the cut: the file; after it: the file or zeros. */
		if (p[i] != s->want[at] && (at < s->newsize || p[i] != 0)) {
			s->bad = 1;
			s->badat = at;
		}
	}
	s->off += req->len;
	if (s->parts++ == 0)
		ck_assert_int_eq(truncate(hp(s->c, "big"), s->newsize), 0);
	if (!req->more)
		s->finals++;
}

START_TEST(test_splice_truncated_midstream)
{
	/* Cut behind what the daemon has queued, or ahead of it. */
	static const size_t	 cuts[] = { 3 * MiB + 5, 40 * MiB + 5,
	    40 * MiB + 5 };
	struct cl		 c;
	aiofs_req_t		 req;
	aiofs_file_t		 f;
	struct trunc_state	 s;
	uint8_t			*want;
	size_t			 n = 48 * MiB;
	int			 round;

	f = 0;
	cl_start(&c, NULL);
	for (round = 0; round < 3; round++) {
		want = host_pattern_file(&c, "big", n, 40 + round);
		memset(&s, 0, sizeof s);
		s.c = &c;
		s.want = want;
		s.newsize = cuts[round];
		rinit(&req);
		req.data = &s;
		req.flags = AIOFS_REQ_STREAM;
		if (round != 1)
			ck_assert_int_eq(aiofs_readfile(c.h, &req, "big", 0, -1,
			    trunc_cb), 0);
		else {
			f = xopen(&c, "big", "rb", NULL);
			ck_assert_int_eq(aiofs_pread(c.h, &req, f, n, 0,
			    trunc_cb), 0);
		}
		ck_assert_int_eq(aiofs_run(c.h), 0);
		aiofs_req_cleanup(&req);
		/* Data or an error, one end, and the stream still in step. */
		ck_assert_uint_eq(s.finals, 1);
		ck_assert_msg(!s.bad, "round %d: wrong byte at %zu", round,
		    s.badat);
		ck_assert_uint_le(s.off, n);
		if (s.err == 0)
			ck_assert_uint_ge(s.off, s.newsize);
		/* Ahead of the stream: it ends exactly at the new EOF. */
		if (round > 0 && s.err == 0)
			ck_assert_uint_eq(s.off, s.newsize);
		xping(&c);
		rinit(&req);
		ck_assert_int_eq(aiofs_readfile(c.h, &req, "big", s.newsize - 5,
		    -1, NULL), 5);
		ck_assert(memcmp(req.buf, want + s.newsize - 5, 5) == 0);
		aiofs_req_cleanup(&req);
		if (round == 1)
			xclose(&c, f);
		free(want);
	}
	cl_stop(&c);
}
END_TEST

/* Counts the completions of requests nobody checks. */
static void
any_cb(aiofs_req_t *req)
{
	(*(int *)req->data)++;
	aiofs_req_cleanup(req);
}

struct cancel_stream {
	struct stream_state	 s;	/* first: stream_cb's req->data */
	aiofs_t			*h;
	int			 rc;	/* of aiofs_cancel, 1 before */
};

/* A stream part: check it, and cancel the stream at the first one. */
static void
cancel_stream_cb(aiofs_req_t *req)
{
	struct cancel_stream	*cs = req->data;

	stream_cb(req);
	if (cs->rc == 1 && req->more)
		cs->rc = aiofs_cancel(cs->h, req);
}

START_TEST(test_splice_disconnect_midstream)
{
	struct cl		 c;
	aiofs_req_t		 reqs[6];
	aiofs_file_t		 f;
	struct cancel_stream	 cs;
	uint8_t			*want;
	size_t			 n = 64 * MiB;
	int			 base, pipes0, i, done = 0, np = 0;
	long long		 end;

	tdaemon_start(&c.d, NULL);
	base = stable_nfds(&c.d);
	pipes0 = daemon_pipe_fds(&c.d);
	ck_assert_int_eq(aiofs_connect(&c.h, c.d.sock, "leaver"), 0);
	want = host_pattern_file(&c, "big", n, 50);
	f = xopen(&c, "big", "rb", NULL);
	/* Far more than the daemon queues: it stops with pipes in hand. */
	for (i = 0; i < 4; i++) {
		rinit(&reqs[i]);
		reqs[i].data = &done;
		ck_assert_int_eq(aiofs_pread(c.h, &reqs[i], f, 16 * MiB,
		    (int64_t)i * 16 * MiB + 1, any_cb), 0);
	}
	rinit(&reqs[4]);
	reqs[4].data = &done;
	ck_assert_int_eq(aiofs_readfile(c.h, &reqs[4], "big", 0, -1, any_cb),
	    0);
	end = now_ms() + 5000;
	while ((np = daemon_pipe_fds(&c.d) - pipes0) < 4 && now_ms() < end)
		usleep(20000);
	ck_assert_msg(np >= 4, "only %d pipe fds while the output is stuck",
	    np);
	/* Gone without reading a byte. */
	aiofs_close(c.h);
	c.h = NULL;
	i = wait_count(&c.d, tdaemon_nfds, base, 10000);
	ck_assert_msg(i == base, "daemon has %d fds, %d before the client "
	    "(%d pipe ends)", i, base, daemon_pipe_fds(&c.d) - pipes0);

	/* Cancelled mid-stream: the stream ends, the connection goes on. */
	ck_assert_int_eq(aiofs_connect(&c.h, c.d.sock, "canceller"), 0);
	memset(&cs, 0, sizeof cs);
	cs.s.want = want;
	cs.h = c.h;
	cs.rc = 1;
	rinit(&reqs[5]);
	reqs[5].data = &cs;
	reqs[5].flags = AIOFS_REQ_STREAM;
	ck_assert_int_eq(aiofs_readfile(c.h, &reqs[5], "big", 0, -1,
	    cancel_stream_cb), 0);
	ck_assert_int_eq(aiofs_run(c.h), 0);
	aiofs_req_cleanup(&reqs[5]);
	ck_assert_int_eq(cs.rc, 0);
	ck_assert_uint_gt(cs.s.parts, 0);
	ck_assert_uint_eq(cs.s.finals, 1);
	ck_assert_int_eq(cs.s.mismatch, 0);
	ck_assert(cs.s.err == -ECANCELED || (cs.s.err == 0 && cs.s.off == n));
	xping(&c);
	aiofs_close(c.h);
	c.h = NULL;
	ck_assert_int_eq(wait_count(&c.d, tdaemon_nfds, base, 10000), base);
	ck_assert_int_eq(wait_count(&c.d, daemon_pipe_fds, pipes0, 1000),
	    pipes0);
	free(want);
	tdaemon_stop(&c.d);
}
END_TEST

/* Drive hs until *counter reaches n; *maxpipes: most pipe ends seen. */
static int
sx_drive_sampling(aiofs_t **hs, int nh, const int *counter, int n,
    struct tdaemon *d, int *maxpipes)
{
	struct pollfd	 pfd[SX_CONNS];
	long long	 end = now_ms() + 60000;
	int		 i, np;

	while (*counter < n) {
		if (now_ms() > end)
			return (-1);
		for (i = 0; i < nh; i++) {
			pfd[i].fd = aiofs_fd(hs[i]);
			pfd[i].events = aiofs_events(hs[i]);
			pfd[i].revents = 0;
		}
		if (poll(pfd, nh, 100) == -1 && errno != EINTR)
			return (-1);
		for (i = 0; i < nh; i++)
			if (pfd[i].revents != 0 &&
			    aiofs_process(hs[i], pfd[i].revents) != 0)
				return (-1);
		if ((np = daemon_pipe_fds(d)) > *maxpipes)
			*maxpipes = np;
	}
	return (0);
}

START_TEST(test_splice_pool_exhausted)
{
	static const char *const one[] = { "--splice-pipes", "1", NULL };
	static const char *const none[] = { "--splice-pipes", "0", NULL };
	struct cl		 c;
	aiofs_t			*hs[SX_CONNS];
	aiofs_req_t		 reqs[SX_CONNS * 6];
	struct sx		 xs[SX_CONNS * 6];
	struct sxrun		 run;
	aiofs_file_t		 f;
	uint8_t			*want;
	size_t			 n = 9 * MiB + 4097, off, len;
	int			 round, i, k, nr, maxpipes, pipes0;

	for (round = 0; round < 2; round++) {
		cl_start(&c, round == 0 ? one : none);
		pipes0 = daemon_pipe_fds(&c.d);
		want = host_pattern_file(&c, "big", n, 60 + round);
		hs[0] = c.h;
		for (i = 1; i < SX_CONNS; i++)
			ck_assert_int_eq(aiofs_connect(&hs[i], c.d.sock,
			    "pool"), 0);
		memset(&run, 0, sizeof run);
		nr = 0;
		for (i = 0; i < SX_CONNS; i++) {
			c.h = hs[i];
			f = xopen(&c, "big", "rb", NULL);
			for (k = 0; k < 5; k++) {
				off = (size_t)k * 2 * MiB + (k % 2) * 513;
				len = 3 * MiB;
				if (off + len > n)
					len = n - off;
				xs[nr].run = &run;
				xs[nr].kind = SX_DATA;
				xs[nr].want = want + off;
				xs[nr].len = len;
				xs[nr].eof = -1;
				rinit(&reqs[nr]);
				reqs[nr].data = &xs[nr];
				ck_assert_int_eq(aiofs_pread(hs[i], &reqs[nr],
				    f, 3 * MiB, off, sx_cb), 0);
				nr++;
			}
			xs[nr].run = &run;
			xs[nr].kind = SX_DATA;
			xs[nr].want = want;
			xs[nr].len = n;
			xs[nr].eof = 1;
			rinit(&reqs[nr]);
			reqs[nr].data = &xs[nr];
			ck_assert_int_eq(aiofs_readfile(hs[i], &reqs[nr], "big",
			    0, -1, sx_cb), 0);
			nr++;
		}
		maxpipes = pipes0;
		ck_assert_int_eq(sx_drive_sampling(hs, SX_CONNS, &run.done, nr,
		    &c.d, &maxpipes), 0);
		ck_assert_msg(run.bad == 0, "round %d: %d bad replies; first: "
		    "%s", round, run.bad, run.why);
		k = daemon_pipe_fds(&c.d);
		if (k > maxpipes)
			maxpipes = k;
		/* One pipe at most (two ends), and it was used; or none. */
		if (round == 0)
			ck_assert_int_eq(maxpipes - pipes0, 2);
		else
			ck_assert_int_eq(maxpipes - pipes0, 0);
		for (i = 1; i < SX_CONNS; i++)
			aiofs_close(hs[i]);
		c.h = hs[0];
		xping(&c);
		free(want);
		cl_stop(&c);
	}
}
END_TEST

/* read(size) on f: size bytes (or fewer at the end) equal to want. */
static void
xread_bin(struct cl *c, aiofs_file_t f, int64_t size, const uint8_t *want,
    size_t len, int eof)
{
	aiofs_req_t	 req;

	rinit(&req);
	ck_assert_int_eq(aiofs_read(c->h, &req, f, size, NULL), (int)len);
	ck_assert(len == 0 || memcmp(req.buf, want, len) == 0);
	ck_assert_int_eq(req.eof, eof);
	aiofs_req_cleanup(&req);
}

/*
 * Sequential reads of a binary handle are spliced like pread (the file
 * position moving past each chunk), mixed with small reads through the
 * read-ahead; the same with splicing off.
 */
START_TEST(test_splice_sequential_read)
{
	static const char *const off[] = { "--splice-pipes", "0", NULL };
	struct cl	 c;
	aiofs_file_t	 f;
	aiofs_req_t	 rq[3];
	uint8_t		*want;
	char		*xs;
	size_t		 n = 3 * MiB + 12345;
	int		 pass, pipes0, done, i;

	for (pass = 0; pass < 2; pass++) {
		cl_start(&c, pass == 0 ? NULL : off);
		pipes0 = daemon_pipe_fds(&c.d);
		/*
		 * Never on a handle open for writing: a write pipelined
		 * behind the read must not show in it (a spliced chunk is
		 * read when sent).
		 */
		want = host_pattern_file(&c, "rw", 2 * MiB, 32);
		f = xopen(&c, "rw", "r+b", NULL);
		xs = malloc(MiB);
		ck_assert_ptr_nonnull(xs);
		memset(xs, 'X', MiB);
		done = 0;
		rinit(&rq[0]);
		rinit(&rq[1]);
		rinit(&rq[2]);
		rq[0].data = rq[1].data = rq[2].data = &done;
		ck_assert_int_eq(aiofs_read(c.h, &rq[0], f, MiB, count_cb), 0);
		ck_assert_int_eq(aiofs_seek(c.h, &rq[1], f, 0, SEEK_SET,
		    count_cb), 0);
		ck_assert_int_eq(aiofs_write(c.h, &rq[2], f, xs, MiB,
		    count_cb), 0);
		ck_assert_int_eq(drive_until(c.h, &done, 3, 10000), 0);
		ck_assert_int_eq(rq[0].result, MiB);
		ck_assert(memcmp(rq[0].buf, want, MiB) == 0);
		ck_assert_int_eq(rq[2].result, MiB);
		ck_assert_int_eq(daemon_pipe_fds(&c.d), pipes0);
		for (i = 0; i < 3; i++)
			aiofs_req_cleanup(&rq[i]);
		xclose(&c, f);
		free(xs);
		free(want);

		want = host_pattern_file(&c, "big", n, 31);
		f = xopen(&c, "big", "rb", NULL);
		xread_bin(&c, f, MiB, want, MiB, 0);
		ck_assert_int_eq(xtell(&c, f), MiB);
		/* A small read fills the read-ahead; the next takes it. */
		xread_bin(&c, f, 100, want + MiB, 100, 0);
		xread_bin(&c, f, MiB, want + MiB + 100, MiB, 0);
		ck_assert_int_eq(xtell(&c, f), 2 * MiB + 100);
		/* The rest, in two parts, then nothing. */
		xread_bin(&c, f, -1, want + 2 * MiB + 100, n - 2 * MiB - 100,
		    1);
		xread_bin(&c, f, 10, NULL, 0, 1);
		ck_assert_int_eq(xtell(&c, f), (int64_t)n);
		/* From an odd offset: partial pages, a tail. */
		xseek(&c, f, 4097, SEEK_SET);
		xread_bin(&c, f, 2 * MiB, want + 4097, 2 * MiB, 0);
		ck_assert_int_eq(xtell(&c, f), 2 * MiB + 4097);
		xseek(&c, f, 0, SEEK_SET);
		xread_bin(&c, f, -1, want, n, 1);
		ck_assert_int_eq(xtell(&c, f), (int64_t)n);
		if (pass == 0)
			ck_assert_int_gt(daemon_pipe_fds(&c.d), pipes0);
		else
			ck_assert_int_eq(daemon_pipe_fds(&c.d), pipes0);
		xclose(&c, f);
		free(want);
		cl_stop(&c);
	}
}
END_TEST

START_TEST(test_splice_unsupported_files)
{
	static const char *const extra[] = { "--allow-fd-passing", NULL };
	struct cl		 c;
	aiofs_req_t		 req;
	aiofs_file_t		 f;
	char			*env, *zero;
	ssize_t			 envlen, m;
	int			 fd, p[2];

	cl_start(&c, extra);
	/* /proc files cannot be spliced (EINVAL): copied instead. */
	env = calloc(1, 256 * 1024);
	fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	envlen = 0;
	while ((m = read(fd, env + envlen, 256 * 1024 - envlen)) > 0)
		envlen += m;
	rinit(&req);
	ck_assert_int_eq(aiofs_wrap(c.h, &req, fd, "rb", NULL, NULL), 0);
	f = req.file;
	aiofs_req_cleanup(&req);
	close(fd);
	ck_assert_int_eq(aiofs_pread(c.h, &req, f, 256 * 1024, 0, NULL),
	    (int)envlen);
	ck_assert(envlen == 0 || memcmp(req.buf, env, envlen) == 0);
	ck_assert_int_eq(req.eof, 1);
	aiofs_req_cleanup(&req);
	xclose(&c, f);
	free(env);

	/* A device that can: at an odd offset, several parts. */
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(aiofs_wrap(c.h, &req, fd, "rb", NULL, NULL), 0);
	f = req.file;
	aiofs_req_cleanup(&req);
	close(fd);
	ck_assert_int_eq(aiofs_pread(c.h, &req, f, 3 * MiB, 4097, NULL),
	    3 * MiB);
	zero = calloc(1, 3 * MiB);
	ck_assert(memcmp(req.buf, zero, 3 * MiB) == 0);
	free(zero);
	aiofs_req_cleanup(&req);
	xclose(&c, f);

	/* A pipe: no offsets, either way. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(aiofs_wrap(c.h, &req, p[0], "rb", NULL, NULL), 0);
	f = req.file;
	aiofs_req_cleanup(&req);
	ck_assert_int_eq(aiofs_pread(c.h, &req, f, 256 * 1024, 0, NULL),
	    -ESPIPE);
	aiofs_req_cleanup(&req);
	xclose(&c, f);
	close(p[0]);
	close(p[1]);
	xping(&c);
	cl_stop(&c);
}
END_TEST

Suite *
client_suite(void)
{
	Suite	*s = suite_create("client");
	TCase	*tc;

	tc = tcase_create("connection");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_close_with_pending);
	tcase_add_test(tc, test_daemon_gone);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_open_r);
	tcase_add_test(tc, test_open_rb_plus);
	tcase_add_test(tc, test_open_w);
	tcase_add_test(tc, test_open_a);
	tcase_add_test(tc, test_open_a_position);
	tcase_add_test(tc, test_open_x);
	tcase_add_test(tc, test_open_mode_table);
	tcase_add_test(tc, test_open_invalid_modes);
	tcase_add_test(tc, test_open_empty_mode);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_wrong_direction);
	tcase_add_test(tc, test_bad_handles);
	suite_add_tcase(s, tc);

	tc = tcase_create("io");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_read_family_binary);
	tcase_add_test(tc, test_read_family_text);
	tcase_add_test(tc, test_read_unbuffered_binary);
	tcase_add_test(tc, test_write_writelines);
	tcase_add_test(tc, test_flush_buffered);
	tcase_add_test(tc, test_seek_tell);
	tcase_add_test(tc, test_truncate);
	tcase_add_test(tc, test_pread_pwrite);
	tcase_add_test(tc, test_fsync);
	tcase_add_test(tc, test_fileinfo);
	tcase_add_test(tc, test_binary_exact);
	tcase_add_test(tc, test_buffering_args);
	tcase_add_test(tc, test_readfile_writefile);
	suite_add_tcase(s, tc);

	tc = tcase_create("text");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_text_utf8_chars);
	tcase_add_test(tc, test_text_latin1);
	tcase_add_test(tc, test_text_errors);
	tcase_add_test(tc, test_text_newline);
	suite_add_tcase(s, tc);

	tc = tcase_create("multipart");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_read_64mib);
	tcase_add_test(tc, test_read_stream_parts);
	tcase_add_test(tc, test_write_40mib);
	tcase_add_test(tc, test_write_big_text_utf8_split);
	tcase_add_test(tc, test_pread_big);
	tcase_add_test(tc, test_bulk_memory_bounded);
	tcase_add_test(tc, test_readlines_big);
	tcase_add_test(tc, test_lines_10000);
	tcase_add_test(tc, test_reader_writer);
	tcase_add_test(tc, test_linereader_multibyte_sep);
	suite_add_tcase(s, tc);

	tc = tcase_create("fdpass");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_wrap_pipe);
	tcase_add_test(tc, test_wrap_refused);
	tcase_add_test(tc, test_openfd);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cancel_queued);
	tcase_add_test(tc, test_fast_loop);
	tcase_add_test(tc, test_fast_punt_uncached);
	tcase_add_test(tc, test_fast_burst);
	tcase_add_test(tc, test_cancel_running_read);
	tcase_add_test(tc, test_cancel_many_stats);
	tcase_add_test(tc, test_handle_fifo_1000);
	tcase_add_test(tc, test_pipelining_1000);
	tcase_add_test(tc, test_50_connections);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_disconnect_open_handles);
	suite_add_tcase(s, tc);

	tc = tcase_create("loops");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_loops_spread);
	tcase_add_test(tc, test_loops_burst);
	tcase_add_test(tc, test_loops_inflight_total);
	tcase_add_test(tc, test_loops_shutdown);
	suite_add_tcase(s, tc);

	tc = tcase_create("splice");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_splice_mixed);
	tcase_add_test(tc, test_splice_fds_behind_pipes);
	tcase_add_test(tc, test_splice_readfile_sizes);
	tcase_add_test(tc, test_splice_truncated_midstream);
	tcase_add_test(tc, test_splice_disconnect_midstream);
	tcase_add_test(tc, test_splice_pool_exhausted);
	tcase_add_test(tc, test_splice_unsupported_files);
	tcase_add_test(tc, test_splice_sequential_read);
	suite_add_tcase(s, tc);

	tc = tcase_create("tempfile");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_temp_named);
	tcase_add_test(tc, test_temp_named_killed_client);
	tcase_add_test(tc, test_temp_directory);
	tcase_add_test(tc, test_temp_file_anonymous);
	tcase_add_test(tc, test_temp_spooled);
	tcase_add_test(tc, test_temp_mkstemp);
	suite_add_tcase(s, tc);
	return (s);
}
