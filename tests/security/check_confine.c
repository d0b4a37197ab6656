/*
 * check_confine.c - the confinement invariant, attacked through libaiofs.
 *
 * A canary tree lives outside the root; the root holds the hostile tree
 * of hostile_build(): absolute, relative and chained symlinks out, "../"
 * paths, a loop, dangling links that point out, a directory link out, and
 * links to /proc magic links (with procfs mounted inside the root, in a
 * private mount namespace, so that they are really reachable).  Every
 * path-taking operation is run against every escape, in both modes:
 *
 *	default (RESOLVE_IN_ROOT)	the escape resolves inside the root:
 *					it lands on a decoy that mirrors the
 *					canary, and the op's effect is checked
 *					there;
 *	--strict-paths (BENEATH)	the op fails with EXDEV (ELOOP for
 *					magic links); predicates are False.
 *
 * After each op: the canary is unchanged (contents, modes, owners, times
 * including atime, no new names), no reply carried its marker or one of
 * its inodes, and no fd of the daemon points outside the root (checked
 * after every op and continuously by a watcher thread).
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "secutil.h"

enum cclass {
	C_DIR,		/* op on a directory path: b, b/child */
	C_FILE,		/* op on an existing file, following it */
	C_NAME,		/* op on a name, not following the last link */
	C_CREATE	/* op making a new file at the path */
};

struct cctx {
	struct secd	 d;
	struct canary	 c;
	aiofs_t		*h;
	int		 strict;
	int		 proc;		/* procfs at root/proc */
	int		 verify;	/* check the effect on the decoy */
	const char	*cur;		/* "op(path)" for messages */
	char		 d1[PATH_MAX];	/* decoy: root/<canary dir> */
	char		 d2[PATH_MAX];	/* decoy: root/<base> */
};

typedef int	(*cop_fn)(struct cctx *, const char *, const char *);

struct cop {
	const char	*name;
	enum cclass	 cls;
	cop_fn		 fn;
	int		 strict_rc;	/* escape, --strict-paths */
	int		 dflt_rc;	/* escape, default mode */
	int		 follows;	/* C_CREATE: follows a link */
	/*
	 * Results on a link out itself (C_NAME: the link is the
	 * object) or on a dangling link out (C_CREATE), in strict and
	 * default mode.
	 */
	int		 link_strict;
	int		 link_dflt;
};

static struct cctx	 X;
static unsigned long	 NRUN;		/* operations, for the log */

/* Join a and b with '/' into one of a few rotating buffers. */
static const char *
J(const char *a, const char *b)
{
	static char	 buf[8][PATH_MAX];
	static int	 i;
	char		*p = buf[i++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", a, b);
	return (p);
}

#define VERIFY(x, cond, ...) do {					\
	if ((x)->verify && !(cond))					\
		ck_abort_msg("%s: effect not inside the root: " 	\
		    __VA_ARGS__);					\
} while (0)

/* Leak-check a finished request, clean it up, normalise rc. */
static int
cx_end(struct cctx *x, aiofs_req_t *r, int64_t rc)
{
	char	 why[512];

	ck_assert_msg(!canary_leaks(&x->c, r, why, sizeof why),
	    "%s: the reply leaks the canary: %s", x->cur, why);
	aiofs_req_cleanup(r);
	return (rc < 0 ? (int)rc : 0);
}

/* Host file equals s? */
static int
hequals(const char *hp, const char *s)
{
	return (sec_file_is(hp, s));
}

/* Host object exists (not following)? */
static int
hexists(const char *hp)
{
	struct stat	 sb;

	return (lstat(hp, &sb) == 0);
}

/* Inode of a host path (following), 0 if missing. */
static ino_t
hino(const char *hp)
{
	struct stat	 sb;

	return (stat(hp, &sb) == 0 ? sb.st_ino : 0);
}

/* Close a handle (its errors do not matter here). */
static void
cx_close(struct cctx *x, aiofs_file_t f)
{
	aiofs_req_t	 r;

	memset(&r, 0, sizeof r);
	aiofs_fclose(x->h, &r, f, NULL);
	aiofs_req_cleanup(&r);
}

/* open(p, mode); optionally write w; read all when reading. */
static int
cx_open(struct cctx *x, const char *p, const char *mode, const char *w,
    char **data)
{
	aiofs_req_t	 r, r2;
	aiofs_file_t	 f;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_open(x->h, &r, p, mode, NULL, NULL);
	f = r.file;
	rc = cx_end(x, &r, rc);
	if (rc < 0)
		return (rc);
	memset(&r2, 0, sizeof r2);
	if (w != NULL)
		aiofs_write(x->h, &r2, f, w, strlen(w), NULL);
	else {
		aiofs_read(x->h, &r2, f, -1, NULL);
		if (data != NULL && r2.result >= 0)
			*data = strndup(r2.buf != NULL ? r2.buf : "", r2.len);
	}
	cx_end(x, &r2, 0);
	cx_close(x, f);
	return (0);
}

/* ---------------------------------------------------------- C_FILE ops */

static int
f_open_r(struct cctx *x, const char *p, const char *hp)
{
	char	*data = NULL;
	int	 rc;

	(void)hp;
	rc = cx_open(x, p, "rb", NULL, &data);
	VERIFY(x, rc < 0 || (data != NULL && strcmp(data, DECOY_SECRET) == 0),
	    "read \"%s\"", x->cur, data);
	free(data);
	return (rc);
}

static int
f_open_w(struct cctx *x, const char *p, const char *hp)
{
	int	 rc = cx_open(x, p, "wb", "PWNED", NULL);

	VERIFY(x, rc < 0 || hequals(hp, "PWNED"), "%s", x->cur, hp);
	return (rc);
}

static int
f_open_a(struct cctx *x, const char *p, const char *hp)
{
	int	 rc = cx_open(x, p, "ab", "PWNED", NULL);

	VERIFY(x, rc < 0 || hequals(hp, DECOY_SECRET "PWNED"), "%s", x->cur,
	    hp);
	return (rc);
}

static int
f_open_rplus(struct cctx *x, const char *p, const char *hp)
{
	int	 rc = cx_open(x, p, "r+b", "PWNED", NULL);

	VERIFY(x, rc < 0 || hequals(hp, "PWNED-SECRET\n"), "%s",
	    x->cur, hp);
	return (rc);
}

static int
f_open_text(struct cctx *x, const char *p, const char *hp)
{
	int	 rc = cx_open(x, p, "w", "PWNED", NULL);

	VERIFY(x, rc < 0 || hequals(hp, "PWNED"), "%s", x->cur, hp);
	return (rc);
}

static int
f_stat(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_stat(x->h, &r, p, 1, NULL);
	VERIFY(x, rc < 0 || r.st.ino == hino(hp), "stat ino %llu", x->cur,
	    (unsigned long long)r.st.ino);
	return (cx_end(x, &r, rc));
}

static int
f_access(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_access(x->h, &r, p, R_OK | W_OK, NULL);
	cx_end(x, &r, rc);
	return (rc);
}

static int
f_exists(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_exists(x->h, &r, p, NULL);
	cx_end(x, &r, rc);
	return (rc);
}

static int
f_isfile(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_isfile(x->h, &r, p, NULL);
	cx_end(x, &r, rc);
	return (rc);
}

static int
f_readfile(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_readfile(x->h, &r, p, 0, -1, NULL);
	VERIFY(x, rc < 0 || (r.len == strlen(DECOY_SECRET) &&
	    memcmp(r.buf, DECOY_SECRET, r.len) == 0), "read \"%.*s\"",
	    x->cur, (int)r.len, r.buf);
	return (cx_end(x, &r, rc));
}

static int
f_writefile(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_writefile(x->h, &r, p, "W", 1, 0, NULL);
	VERIFY(x, rc < 0 || hequals(hp, "W"), "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
f_writefile_append(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_writefile(x->h, &r, p, "W", 1, AIOFS_WRITEFILE_APPEND,
	    NULL);
	VERIFY(x, rc < 0 || hequals(hp, DECOY_SECRET "W"), "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
f_writefile_atomic(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_writefile(x->h, &r, p, "A", 1, AIOFS_WRITEFILE_ATOMIC,
	    NULL);
	VERIFY(x, rc < 0 || hequals(hp, "A"), "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
f_chmod(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	struct stat	 sb;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_chmod(x->h, &r, p, 0600, NULL);
	VERIFY(x, rc < 0 || (stat(hp, &sb) == 0 &&
	    (sb.st_mode & 07777) == 0600), "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
f_utime(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	struct stat	 sb;
	int64_t		 t = 5000000000LL;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_utime(x->h, &r, p, &t, &t, 1, NULL);
	VERIFY(x, rc < 0 || (stat(hp, &sb) == 0 && sb.st_mtime == 5), "%s",
	    x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
f_truncate(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	struct stat	 sb;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_truncate_path(x->h, &r, p, 0, NULL);
	VERIFY(x, rc < 0 || (stat(hp, &sb) == 0 && sb.st_size == 0), "%s",
	    x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
f_copy_src(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_copyfile(x->h, &r, p, "/copied", NULL);
	VERIFY(x, rc < 0 || hequals(J(x->d.root, "copied"), DECOY_SECRET),
	    "copy", x->cur);
	return (cx_end(x, &r, rc));
}

static int
f_copy_dst(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_copyfile(x->h, &r, "/inside.txt", p, NULL);
	VERIFY(x, rc < 0 || hequals(hp, "inside\n"), "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

/* OpenFd: the fd handed back must be inside the root. */
static int
cx_openfd(struct cctx *x, const char *p, const char *mode, const char *hp,
    int create)
{
	aiofs_req_t	 r;
	char		 lp[64], t[PATH_MAX];
	ssize_t		 n;
	int		 rc;

	memset(&r, 0, sizeof r);
	r.fd = -1;
	rc = aiofs_openfd(x->h, &r, p, mode, 0600, NULL);
	if (rc >= 0) {
		ck_assert_int_ge(r.fd, 0);
		snprintf(lp, sizeof lp, "/proc/self/fd/%d", r.fd);
		n = readlink(lp, t, sizeof t - 1);
		ck_assert_int_gt(n, 0);
		t[n] = '\0';
		ck_assert_msg(strncmp(t, x->d.root, strlen(x->d.root)) == 0,
		    "%s: openfd gave an fd outside the root: %s", x->cur, t);
		if (!create) {
			n = read(r.fd, t, sizeof t - 1);
			VERIFY(x, n == (ssize_t)strlen(DECOY_SECRET) &&
			    memcmp(t, DECOY_SECRET, n) == 0, "openfd read",
			    x->cur);
		} else
			VERIFY(x, hexists(hp), "%s", x->cur, hp);
		close(r.fd);
		r.fd = -1;
	}
	return (cx_end(x, &r, rc));
}

static int
f_openfd_r(struct cctx *x, const char *p, const char *hp)
{
	return (cx_openfd(x, p, "rb", hp, 0));
}

static int
f_samefile(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_samefile(x->h, &r, p, p, NULL);
	cx_end(x, &r, rc);
	return (rc);
}

/* ---------------------------------------------------------- C_NAME ops */

static int
n_unlink(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_unlink(x->h, &r, p, NULL);
	VERIFY(x, rc < 0 || !hexists(hp), "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
n_rename_src(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_rename(x->h, &r, p, "/moved", NULL);
	VERIFY(x, rc < 0 || hequals(J(x->d.root, "moved"), DECOY_SECRET),
	    "/moved", x->cur);
	return (cx_end(x, &r, rc));
}

static int
n_replace_src(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_replace(x->h, &r, p, "/inside.txt", NULL);
	VERIFY(x, rc < 0 || hequals(J(x->d.root, "inside.txt"), DECOY_SECRET),
	    "replaced", x->cur);
	return (cx_end(x, &r, rc));
}

static int
n_replace_dst(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_replace(x->h, &r, "/inside.txt", p, NULL);
	VERIFY(x, rc < 0 || hequals(hp, "inside\n"), "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
n_link_src(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_link(x->h, &r, p, "/hardlink", NULL);
	VERIFY(x, rc < 0 || hino(J(x->d.root, "hardlink")) == hino(hp),
	    "/hardlink", x->cur);
	return (cx_end(x, &r, rc));
}

static int
n_lstat(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	struct stat	 sb;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_lstat(x->h, &r, p, NULL);
	VERIFY(x, rc < 0 || (lstat(hp, &sb) == 0 && sb.st_ino == r.st.ino),
	    "lstat", x->cur);
	return (cx_end(x, &r, rc));
}

/* utime(follow_symlinks=False): the name itself. */
static int
n_lutime(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	struct stat	 sb;
	int64_t		 t = 7000000000LL;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_utime(x->h, &r, p, &t, &t, 0, NULL);
	VERIFY(x, rc < 0 || (lstat(hp, &sb) == 0 && sb.st_mtime == 7), "%s",
	    x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
n_islink(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_islink(x->h, &r, p, NULL);
	cx_end(x, &r, rc);
	return (rc);
}

/* -------------------------------------------------------- C_CREATE ops */

static int
c_open_w(struct cctx *x, const char *p, const char *hp)
{
	int	 rc = cx_open(x, p, "wb", "NEW", NULL);

	VERIFY(x, rc < 0 || hequals(hp, "NEW"), "%s", x->cur, hp);
	return (rc);
}

static int
c_open_a(struct cctx *x, const char *p, const char *hp)
{
	int	 rc = cx_open(x, p, "a", "NEW", NULL);

	VERIFY(x, rc < 0 || hequals(hp, "NEW"), "%s", x->cur, hp);
	return (rc);
}

static int
c_open_x(struct cctx *x, const char *p, const char *hp)
{
	int	 rc = cx_open(x, p, "xb", "NEW", NULL);

	VERIFY(x, rc < 0 || hequals(hp, "NEW"), "%s", x->cur, hp);
	return (rc);
}

static int
c_writefile(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_writefile(x->h, &r, p, "NEW", 3, 0, NULL);
	VERIFY(x, rc < 0 || hequals(hp, "NEW"), "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
c_copy_dst(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_copyfile(x->h, &r, "/inside.txt", p, NULL);
	VERIFY(x, rc < 0 || hequals(hp, "inside\n"), "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
c_openfd_w(struct cctx *x, const char *p, const char *hp)
{
	return (cx_openfd(x, p, "wb", hp, 1));
}

static int
c_mkdir(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	struct stat	 sb;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_mkdir(x->h, &r, p, 0755, NULL);
	VERIFY(x, rc < 0 || (lstat(hp, &sb) == 0 && S_ISDIR(sb.st_mode)),
	    "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
c_makedirs(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	struct stat	 sb;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_makedirs(x->h, &r, p, 0755, 0, NULL);
	VERIFY(x, rc < 0 || (lstat(hp, &sb) == 0 && S_ISDIR(sb.st_mode)),
	    "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
c_symlink(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	struct stat	 sb;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_symlink(x->h, &r, "/etc/passwd", p, NULL);
	VERIFY(x, rc < 0 || (lstat(hp, &sb) == 0 && S_ISLNK(sb.st_mode)),
	    "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
c_link_dst(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_link(x->h, &r, "/inside.txt", p, NULL);
	VERIFY(x, rc < 0 || hino(hp) == hino(J(x->d.root, "inside.txt")),
	    "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
c_rename_dst(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_rename(x->h, &r, "/inside.txt", p, NULL);
	VERIFY(x, rc < 0 || hequals(hp, "inside\n"), "%s", x->cur, hp);
	return (cx_end(x, &r, rc));
}

static int
c_renames_dst(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	char		 q[PATH_MAX], hq[PATH_MAX];
	int		 rc;

	snprintf(q, sizeof q, "%s/deeper/x", p);
	snprintf(hq, sizeof hq, "%s/deeper/x", hp);
	memset(&r, 0, sizeof r);
	rc = aiofs_renames(x->h, &r, "/d/file", q, NULL);
	VERIFY(x, rc < 0 || hequals(hq, "d-file\n"), "%s", x->cur, hq);
	return (cx_end(x, &r, rc));
}

/* ----------------------------------------------------------- C_DIR ops */

static int
d_listdir(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	size_t		 i;
	int		 rc, seen = 0;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_listdir(x->h, &r, p, NULL);
	for (i = 0; rc >= 0 && i < r.nlines; i++)
		seen |= strcmp(r.lines[i], "DECOY_MARKER") == 0;
	VERIFY(x, rc < 0 || seen, "listdir", x->cur);
	return (cx_end(x, &r, rc));
}

static int
d_scandir(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	size_t		 i;
	int		 rc, seen = 0;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_scandir(x->h, &r, p, 1, NULL);
	for (i = 0; rc >= 0 && i < r.nentries; i++)
		seen |= strcmp(r.entries[i].name, "DECOY_MARKER") == 0;
	VERIFY(x, rc < 0 || seen, "scandir", x->cur);
	return (cx_end(x, &r, rc));
}

static int
d_walk(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	size_t		 i, j;
	int		 rc, seen = 0, n;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_walk(x->h, &r, p, 0, NULL);
	n = (int)r.nwalk;
	for (i = 0; rc >= 0 && i < r.nwalk; i++)
		for (j = 0; j < r.walk[i].nfilenames; j++)
			seen |= strcmp(r.walk[i].filenames[j],
			    "DECOY_MARKER") == 0;
	VERIFY(x, rc < 0 || seen, "walk", x->cur);
	rc = cx_end(x, &r, rc);
	/*
	 * walk() skips a top it cannot open silently (os.walk's
	 * onerror=None): no entries at all stands for "refused".
	 */
	if (rc == 0 && n == 0)
		return (-EXDEV);
	return (rc);
}

static int
d_stat(struct cctx *x, const char *p, const char *hp)
{
	return (f_stat(x, p, hp));
}

static int
d_isdir(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_isdir(x->h, &r, p, NULL);
	cx_end(x, &r, rc);
	return (rc);
}

static int
d_ismount(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_ismount(x->h, &r, p, NULL);
	cx_end(x, &r, rc);
	return (rc);
}

static int
d_statvfs(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_statvfs(x->h, &r, p, NULL);
	return (cx_end(x, &r, rc));
}

static int
d_readlink(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_readlink(x->h, &r, J(p, "lnk"), NULL);
	VERIFY(x, rc < 0 || (r.len == 10 && memcmp(r.buf, "DECOY_LINK",
	    10) == 0), "readlink", x->cur);
	return (cx_end(x, &r, rc));
}

static int
d_lstat_lnk(struct cctx *x, const char *p, const char *hp)
{
	return (n_lstat(x, J(p, "lnk"), J(hp, "lnk")));
}

static int
d_rmdir(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_rmdir(x->h, &r, J(p, "empty"), NULL);
	VERIFY(x, rc < 0 || !hexists(J(hp, "empty")), "rmdir", x->cur);
	return (cx_end(x, &r, rc));
}

static int
d_removedirs(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_removedirs(x->h, &r, J(p, "empty"), NULL);
	VERIFY(x, rc < 0 || !hexists(J(hp, "empty")), "removedirs", x->cur);
	return (cx_end(x, &r, rc));
}

static int
d_rmtree(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_rmtree(x->h, &r, J(p, "sub"), NULL);
	VERIFY(x, rc < 0 || !hexists(J(hp, "sub")), "rmtree", x->cur);
	return (cx_end(x, &r, rc));
}

static int
d_renames_src(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc;

	(void)hp;
	memset(&r, 0, sizeof r);
	rc = aiofs_renames(x->h, &r, J(p, "sub/f"), "/rn/x", NULL);
	VERIFY(x, rc < 0 || hequals(J(x->d.root, "rn/x"), "DECOY-F\n"),
	    "renames", x->cur);
	return (cx_end(x, &r, rc));
}

/* The number of entries of a host directory, -1 if unreadable. */
static int
hcount(const char *hp)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if (hp == NULL || (d = opendir(hp)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return (n);
}

/* tempfile(kind, dir=p). */
static int
cx_temp(struct cctx *x, const char *p, const char *hp, aiofs_temp_kind_t k)
{
	aiofs_temp_opts_t	 o = AIOFS_TEMP_OPTS_INIT;
	aiofs_req_t		 r;
	int			 rc, before = hcount(hp);

	o.kind = k;
	o.dir = p;
	o.prefix = "sectmp";
	memset(&r, 0, sizeof r);
	rc = aiofs_tempfile(x->h, &r, &o, NULL);
	if (rc >= 0 && k != AIOFS_MKDTEMP) {
		VERIFY(x, hcount(hp) == before + (k == AIOFS_TEMPORARY_FILE ?
		    0 : 1), "tempfile in %s", x->cur, hp);
		cx_close(x, r.file);
	}
	if (rc >= 0 && k == AIOFS_MKDTEMP)
		VERIFY(x, hcount(hp) == before + 1, "mkdtemp in %s", x->cur,
		    hp);
	return (cx_end(x, &r, rc));
}

static int
d_mkstemp(struct cctx *x, const char *p, const char *hp)
{
	return (cx_temp(x, p, hp, AIOFS_MKSTEMP));
}

static int
d_mkdtemp(struct cctx *x, const char *p, const char *hp)
{
	return (cx_temp(x, p, hp, AIOFS_MKDTEMP));
}

static int
d_named_temp(struct cctx *x, const char *p, const char *hp)
{
	return (cx_temp(x, p, hp, AIOFS_NAMED_TEMPORARY_FILE));
}

static int
d_temporary_file(struct cctx *x, const char *p, const char *hp)
{
	return (cx_temp(x, p, hp, AIOFS_TEMPORARY_FILE));
}

static int
d_temp_dir(struct cctx *x, const char *p, const char *hp)
{
	return (cx_temp(x, p, hp, AIOFS_TEMPORARY_DIRECTORY));
}

/* chdir into p, then relative ops; back to "/" at the end. */
static int
d_chdir(struct cctx *x, const char *p, const char *hp)
{
	aiofs_req_t	 r;
	int		 rc, rc2;

	memset(&r, 0, sizeof r);
	rc = aiofs_chdir(x->h, &r, p, NULL);
	cx_end(x, &r, rc);
	if (rc < 0) {
		memset(&r, 0, sizeof r);
		ck_assert_int_ge(aiofs_getcwd(x->h, &r, NULL), 0);
		ck_assert_str_eq(r.buf, "/");
		aiofs_req_cleanup(&r);
		return (rc);
	}
	rc2 = f_readfile(x, "secret", J(hp, "secret"));
	VERIFY(x, rc2 == 0, "relative readfile after chdir", x->cur);
	rc2 = c_writefile(x, "cw", J(hp, "cw"));
	VERIFY(x, rc2 == 0, "relative writefile after chdir", x->cur);
	rc2 = f_stat(x, ".", hp);
	VERIFY(x, rc2 == 0, "stat . after chdir", x->cur);
	rc2 = d_listdir(x, ".", hp);
	VERIFY(x, rc2 == 0, "listdir . after chdir", x->cur);
	rc2 = c_mkdir(x, "cdir", J(hp, "cdir"));
	VERIFY(x, rc2 == 0, "mkdir after chdir", x->cur);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_chdir(x->h, &r, "/", NULL), 0);
	aiofs_req_cleanup(&r);
	return (rc);
}

static int
d_samefile(struct cctx *x, const char *p, const char *hp)
{
	return (f_samefile(x, p, hp));
}

#define EX	(-EXDEV)
#define NE	(-ENOENT)
#define EE	(-EEXIST)
static const struct cop cops[] = {
	/* name, class, fn, strict, dflt, follows, link_s, link_d */
	{ "open_r", C_FILE, f_open_r, EX, 0, 0, 0, 0 },
	{ "open_w", C_FILE, f_open_w, EX, 0, 0, 0, 0 },
	{ "open_a", C_FILE, f_open_a, EX, 0, 0, 0, 0 },
	{ "open_r+", C_FILE, f_open_rplus, EX, 0, 0, 0, 0 },
	{ "open_text_w", C_FILE, f_open_text, EX, 0, 0, 0, 0 },
	{ "stat", C_FILE, f_stat, EX, 0, 0, 0, 0 },
	{ "access", C_FILE, f_access, 0, 1, 0, 0, 0 },
	{ "exists", C_FILE, f_exists, 0, 1, 0, 0, 0 },
	{ "isfile", C_FILE, f_isfile, 0, 1, 0, 0, 0 },
	{ "readfile", C_FILE, f_readfile, EX, 0, 0, 0, 0 },
	{ "writefile", C_FILE, f_writefile, EX, 0, 0, 0, 0 },
	{ "writefile_append", C_FILE, f_writefile_append, EX, 0, 0, 0, 0 },
	{ "chmod", C_FILE, f_chmod, EX, 0, 0, 0, 0 },
	{ "utime", C_FILE, f_utime, EX, 0, 0, 0, 0 },
	{ "truncate_path", C_FILE, f_truncate, EX, 0, 0, 0, 0 },
	{ "copyfile_src", C_FILE, f_copy_src, EX, 0, 0, 0, 0 },
	{ "copyfile_dst", C_FILE, f_copy_dst, EX, 0, 0, 0, 0 },
	{ "openfd_r", C_FILE, f_openfd_r, EX, 0, 0, 0, 0 },
	{ "samefile", C_FILE, f_samefile, EX, 1, 0, 0, 0 },

	{ "unlink", C_NAME, n_unlink, EX, 0, 0, 0, 0 },
	{ "rename_src", C_NAME, n_rename_src, EX, 0, 0, 0, 0 },
	{ "replace_src", C_NAME, n_replace_src, EX, 0, 0, 0, 0 },
	{ "replace_dst", C_NAME, n_replace_dst, EX, 0, 0, 0, 0 },
	{ "link_src", C_NAME, n_link_src, EX, 0, 0, 0, 0 },
	{ "lstat", C_NAME, n_lstat, EX, 0, 0, 0, 0 },
	/* Atomic: a temp file renamed over the name (a link is replaced). */
	{ "writefile_atomic", C_NAME, f_writefile_atomic, EX, 0, 0, 0, 0 },
	{ "islink", C_NAME, n_islink, 0, 0, 0, 1, 1 },
	{ "utime_nofollow", C_NAME, n_lutime, EX, 0, 0, 0, 0 },

	{ "open_w_new", C_CREATE, c_open_w, EX, 0, 1, EX, 0 },
	{ "open_a_new", C_CREATE, c_open_a, EX, 0, 1, EX, 0 },
	{ "writefile_new", C_CREATE, c_writefile, EX, 0, 1, EX, 0 },
	{ "copyfile_dst_new", C_CREATE, c_copy_dst, EX, 0, 1, EX, 0 },
	{ "openfd_w_new", C_CREATE, c_openfd_w, EX, 0, 1, EX, 0 },
	{ "open_x_new", C_CREATE, c_open_x, EX, 0, 0, EE, EE },
	{ "mkdir", C_CREATE, c_mkdir, EX, 0, 0, EE, EE },
	{ "makedirs", C_CREATE, c_makedirs, EX, 0, 0, EE, EE },
	{ "symlink", C_CREATE, c_symlink, EX, 0, 0, EE, EE },
	{ "link_dst", C_CREATE, c_link_dst, EX, 0, 0, EE, EE },
	{ "rename_dst", C_CREATE, c_rename_dst, EX, 0, 0, 0, 0 },
	{ "renames_dst", C_CREATE, c_renames_dst, EX, 0, 0, EX, NE },

	{ "listdir", C_DIR, d_listdir, EX, 0, 0, 0, 0 },
	{ "scandir", C_DIR, d_scandir, EX, 0, 0, 0, 0 },
	{ "walk", C_DIR, d_walk, EX, 0, 0, 0, 0 },
	{ "stat_dir", C_DIR, d_stat, EX, 0, 0, 0, 0 },
	{ "isdir", C_DIR, d_isdir, 0, 1, 0, 0, 0 },
	{ "ismount", C_DIR, d_ismount, 0, 0, 0, 0, 0 },
	{ "statvfs", C_DIR, d_statvfs, EX, 0, 0, 0, 0 },
	{ "readlink", C_DIR, d_readlink, EX, 0, 0, 0, 0 },
	{ "lstat_link", C_DIR, d_lstat_lnk, EX, 0, 0, 0, 0 },
	{ "rmdir", C_DIR, d_rmdir, EX, 0, 0, 0, 0 },
	{ "removedirs", C_DIR, d_removedirs, EX, 0, 0, 0, 0 },
	{ "rmtree", C_DIR, d_rmtree, EX, 0, 0, 0, 0 },
	{ "renames_src", C_DIR, d_renames_src, EX, 0, 0, 0, 0 },
	{ "tempfile_mkstemp", C_DIR, d_mkstemp, EX, 0, 0, 0, 0 },
	{ "tempfile_mkdtemp", C_DIR, d_mkdtemp, EX, 0, 0, 0, 0 },
	{ "tempfile_named", C_DIR, d_named_temp, EX, 0, 0, 0, 0 },
	{ "tempfile_anon", C_DIR, d_temporary_file, EX, 0, 0, 0, 0 },
	{ "tempfile_dir", C_DIR, d_temp_dir, EX, 0, 0, 0, 0 },
	{ "chdir", C_DIR, d_chdir, EX, 0, 0, 0, 0 },
	{ "samefile_dir", C_DIR, d_samefile, EX, 1, 0, 0, 0 },
};
#define NCOPS	(sizeof cops / sizeof cops[0])

/* A directory that names the canary unless confined; its decoy. */
struct cbase {
	char		 path[PATH_MAX];
	const char	*decoy;		/* x->d1 or x->d2 */
	int		 magic;		/* through /proc magic */
};

/* Fill the list of escaping directories; returns how many. */
static size_t
cx_bases(struct cctx *x, struct cbase *b, size_t max)
{
	const char	*cd = x->c.dir, *cb = x->c.base;
	size_t		 n = 0;

#define B(dec, mag, ...) do {						\
	ck_assert_uint_lt(n, max);					\
	snprintf(b[n].path, sizeof b[n].path, __VA_ARGS__);		\
	b[n].decoy = (dec);						\
	b[n].magic = (mag);						\
	n++;								\
} while (0)
	B(x->d1, 0, "esc_abs");
	B(x->d1, 0, "esc_rel");
	B(x->d1, 0, "chain1");
	B(x->d1, 0, "esc_root%s", cd);
	B(x->d1, 0, "d/inner_abs");
	B(x->d1, 0, "d/inner_rel");
	B(x->d2, 0, "../../%s", cb);
	B(x->d2, 0, "/../../%s", cb);
	B(x->d2, 0, "esc_up/%s", cb);
	B(x->d2, 0, "d/sub/../../../../%s", cb);
	B(x->d2, 0, "d/./sub/../../../..//%s/", cb);
	if (x->proc) {
		B(NULL, 1, "magic_root%s", cd);
		B(NULL, 1, "magic_cwd%s", cd);
		B(NULL, 1, "magic_init%s", cd);
		B(NULL, 1, "proc/self/root%s", cd);
		B(NULL, 1, "proc/self/cwd%s", cd);
		B(NULL, 1, "proc/1/root%s", cd);
		B(NULL, 1, "proc/%d/root%s", (int)x->d.pid, cd);
		B(NULL, 1, "proc/self/fd/3%s", cd);
	}
#undef B
	return (n);
}

/*
 * Run one op on one path: fresh hostile tree, the op, then the canary
 * and the daemon's fds.  ok is the list of acceptable results.
 */
static void
cx_run(struct cctx *x, const struct cop *op, const char *p, const char *hp,
    int verify, const int *ok, size_t nok)
{
	char	 cur[PATH_MAX + 64], bad[512];
	size_t	 i;
	int	 rc;

	snprintf(cur, sizeof cur, "%s %s(%s)", x->strict ? "strict" :
	    "default", op->name, p);
	x->cur = cur;
	hostile_build(x->d.root, &x->c);
	x->verify = verify;
	NRUN++;
	rc = op->fn(x, p, hp);
	x->verify = 0;
	canary_check(&x->c, "%s", cur);
	ck_assert_msg(secd_fd_audit(&x->d, bad, sizeof bad) == 0,
	    "%s: daemon fd outside the root: %s", cur, bad);
	for (i = 0; i < nok; i++)
		if (rc == ok[i])
			return;
	ck_abort_msg("%s: got %d (%s), expected %d (%s)", cur, rc,
	    rc < 0 ? aiofs_errname(rc) : "", ok[0],
	    ok[0] < 0 ? aiofs_errname(ok[0]) : "");
}

/* The expected result of op on an escape, in this mode. */
static int
cx_expect(const struct cctx *x, const struct cop *op)
{
	return (x->strict ? op->strict_rc : op->dflt_rc);
}

/* Every op on every escaping directory. */
static void
cx_all_bases(struct cctx *x)
{
	struct cbase	 b[32];
	const struct cop *op;
	size_t		 n, i, k;
	int		 ok[4], nok;
	const char	*child;

	n = cx_bases(x, b, 32);
	for (i = 0; i < n; i++) {
		for (k = 0; k < NCOPS; k++) {
			op = &cops[k];
			child = op->cls == C_DIR ? NULL : op->cls ==
			    C_CREATE ? "newfile" : "secret";
			nok = 0;
			ok[nok++] = cx_expect(x, op);
			if (b[i].magic && op->strict_rc == EX) {
				/*
				 * Magic links: ELOOP (RESOLVE_NO_MAGICLINKS),
				 * EXDEV (an absolute link under BENEATH),
				 * or EACCES (procfs's ptrace check on
				 * another process, before the link).
				 */
				nok = 0;
				ok[nok++] = -ELOOP;
				ok[nok++] = -EXDEV;
				ok[nok++] = -EACCES;
			} else if (b[i].magic)
				ok[0] = op->strict_rc;
			cx_run(x, op, child == NULL ? b[i].path :
			    J(b[i].path, child), b[i].decoy == NULL ? NULL :
			    child == NULL ? b[i].decoy : J(b[i].decoy, child),
			    !x->strict && !b[i].magic, ok, nok);
		}
	}
}

/* File escapes (a final symlink out), creations through dangling links. */
static void
cx_all_links(struct cctx *x)
{
	static const char *const files[] = {
		"esc_abs_file", "esc_rel_file", "chain_file"
	};
	static const char *const nolinks[] = {
		"esc_abs", "esc_abs_file", "esc_rel", "esc_root", "dangling",
		"loop1", "magic_root", "magic_fd"
	};
	const struct cop *op;
	char		 hp[PATH_MAX];
	size_t		 i, k;
	int		 ok[1];

	for (k = 0; k < NCOPS; k++) {
		op = &cops[k];
		if (op->cls == C_FILE) {
			for (i = 0; i < 3; i++) {
				ok[0] = cx_expect(x, op);
				cx_run(x, op, files[i], J(x->d1, "secret"),
				    !x->strict, ok, 1);
			}
			/* A loop is ELOOP in both modes. */
			ok[0] = op->strict_rc == EX ? -ELOOP : 0;
			cx_run(x, op, "loop1", NULL, 0, ok, 1);
			/* /proc/self/fd/3: refused either way. */
			if (op->strict_rc != EX)
				ok[0] = 0;
			else if (x->strict)
				ok[0] = -EXDEV;
			else
				ok[0] = x->proc ? -ELOOP : -ENOENT;
			cx_run(x, op, "magic_fd", NULL, 0, ok, 1);
		}
		if (op->cls == C_CREATE) {
			/* dangling -> <canary>/newfile */
			ok[0] = x->strict ? op->link_strict : op->link_dflt;
			cx_run(x, op, "dangling", J(x->d1, "newfile"),
			    !x->strict && op->follows, ok, 1);
			snprintf(hp, sizeof hp, "%s/newfile2", x->d2);
			cx_run(x, op, "dangling_rel", hp,
			    !x->strict && op->follows, ok, 1);
		}
		if (op->cls == C_NAME) {
			/* The link itself, never its target: same in both. */
			for (i = 0; i < sizeof nolinks / sizeof nolinks[0];
			    i++) {
				ok[0] = op->link_dflt;
				cx_run(x, op, nolinks[i], J(x->d.root,
				    nolinks[i]), 0, ok, 1);
			}
		}
	}
}

/* Relative escapes after chdir into a real directory. */
static void
cx_chdir_escapes(struct cctx *x)
{
	aiofs_req_t	 r;
	char		 p[PATH_MAX], hp[PATH_MAX];
	int		 ok[1];
	size_t		 k;

	hostile_build(x->d.root, &x->c);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_chdir(x->h, &r, "d/sub", NULL), 0);
	aiofs_req_cleanup(&r);
	snprintf(p, sizeof p, "../../../../%s", x->c.base);
	for (k = 0; k < NCOPS; k++) {
		if (cops[k].fn == d_chdir)
			continue;	/* it returns to "/" */
		ok[0] = cx_expect(x, &cops[k]);
		if (cops[k].cls == C_DIR)
			cx_run(x, &cops[k], p, x->d2, !x->strict, ok, 1);
		else {
			snprintf(hp, sizeof hp, "%s/%s", x->d2,
			    cops[k].cls == C_CREATE ? "newfile" : "secret");
			cx_run(x, &cops[k], J(p, cops[k].cls == C_CREATE ?
			    "newfile" : "secret"), hp, !x->strict, ok, 1);
		}
	}
	/* "cd .." past the root: lexically "/", never above it. */
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_chdir(x->h, &r, "/", NULL), 0);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_chdir(x->h, &r, "d", NULL), 0);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_chdir(x->h, &r, "../../../..", NULL),
	    x->strict ? -EXDEV : 0);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_ge(aiofs_getcwd(x->h, &r, NULL), 0);
	ck_assert_str_eq(r.buf, x->strict ? "/d" : "/");
	aiofs_req_cleanup(&r);
	canary_check(&x->c, "chdir ..");
}

/* Mode-specific setup: private mounts, canary, daemon, procfs, client. */
static void
cx_setup(int strict)
{
	const char	*args_default[] = { "--allow-fd-passing", NULL };
	const char	*args_strict[] = { "--allow-fd-passing",
	    "--strict-paths", NULL };
	struct secd_opts o;
	char		 p[PATH_MAX];
	int		 mounts;

	memset(&X, 0, sizeof X);
	memset(&o, 0, sizeof o);
	X.strict = strict;
	mounts = sec_private_mounts() == 0;
	o.tmpfs = mounts;
	canary_init(&X.c);
	secd_start(&X.d, strict ? args_strict : args_default, &o);
	snprintf(X.d1, sizeof X.d1, "%s%s", X.d.root, X.c.dir);
	snprintf(X.d2, sizeof X.d2, "%s/%s", X.d.root, X.c.base);
	hostile_build(X.d.root, &X.c);
	snprintf(p, sizeof p, "%s/proc", X.d.root);
	X.proc = mounts && mount("proc", p, "proc", MS_NOSUID | MS_NODEV |
	    MS_NOEXEC, NULL) == 0;
	if (!X.proc)
		fprintf(stderr, "check_confine: no procfs inside the root (%s):"
		    " magic-link paths are tested without it\n",
		    strerror(errno));
	X.h = sec_connect(&X.d);
}

/* Tear down: client, procfs, daemon, canary (checked one last time). */
static void
cx_teardown(void)
{
	char	 p[PATH_MAX];

	aiofs_close(X.h);
	if (X.proc) {
		snprintf(p, sizeof p, "%s/proc", X.d.root);
		umount2(p, MNT_DETACH);
	}
	secd_stop(&X.d);
	canary_check(&X.c, "after the daemon stopped");
	canary_free(&X.c);
}

/* The whole matrix in one mode, with the fd watcher running. */
static void
cx_matrix(int strict)
{
	struct fdwatch	 w;

	cx_setup(strict);
	fdwatch_start(&w, &X.d);
	cx_all_bases(&X);
	cx_all_links(&X);
	cx_chdir_escapes(&X);
	fdwatch_stop(&w);
	fprintf(stderr, "confine %s: %lu operations on escapes, %lu fd "
	    "audits by the watcher, procfs in the root: %s\n", strict ?
	    "strict" : "default", NRUN, w.scans, X.proc ? "yes" : "no");
	cx_teardown();
}

START_TEST(confine_default)
{
	cx_matrix(0);
}
END_TEST

START_TEST(confine_strict)
{
	cx_matrix(1);
}
END_TEST

/*
 * The daemon itself, as seen by the client, is rooted: HelloReply's root
 * is what it serves, "/" is the root, ".." of the root is the root.
 */
START_TEST(confine_root_is_root)
{
	aiofs_req_t	 r;
	struct stat	 sb;
	int		 strict;

	for (strict = 0; strict < 2; strict++) {
		cx_setup(strict);
		ck_assert_int_eq(stat(X.d.root, &sb), 0);
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_stat(X.h, &r, "/", 1, NULL), 0);
		ck_assert_uint_eq(r.st.ino, sb.st_ino);
		aiofs_req_cleanup(&r);
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_stat(X.h, &r, "/..", 1, NULL),
		    strict ? -EXDEV : 0);
		if (!strict)
			ck_assert_uint_eq(r.st.ino, sb.st_ino);
		aiofs_req_cleanup(&r);
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_abspath(X.h, &r, "../../..", NULL), 1);
		ck_assert_str_eq(r.buf, "/");
		aiofs_req_cleanup(&r);
		/* The root cannot be removed or renamed: it has no name. */
		memset(&r, 0, sizeof r);
		ck_assert_int_lt(aiofs_rmdir(X.h, &r, "/", NULL), 0);
		aiofs_req_cleanup(&r);
		memset(&r, 0, sizeof r);
		ck_assert_int_lt(aiofs_rmtree(X.h, &r, "/", NULL), 0);
		aiofs_req_cleanup(&r);
		memset(&r, 0, sizeof r);
		ck_assert_int_lt(aiofs_rename(X.h, &r, "/", "x", NULL), 0);
		aiofs_req_cleanup(&r);
		memset(&r, 0, sizeof r);
		ck_assert_int_lt(aiofs_rmtree(X.h, &r, "..", NULL), 0);
		aiofs_req_cleanup(&r);
		ck_assert_int_eq(access(X.d.root, F_OK), 0);
		cx_teardown();
	}
}
END_TEST

/*
 * rmtree and walk of a real directory that holds links out: the links
 * are removed or listed, never followed.
 */
START_TEST(confine_rmtree_walk_links)
{
	aiofs_req_t	 r;
	char		 p[PATH_MAX];
	int		 strict;

	for (strict = 0; strict < 2; strict++) {
		cx_setup(strict);
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_walk(X.h, &r, "/", 0, NULL) >= 0, 1);
		ck_assert(!canary_leaks(&X.c, &r, p, sizeof p));
		aiofs_req_cleanup(&r);
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_walk(X.h, &r, "d", 1, NULL) >= 0, 1);
		ck_assert(!canary_leaks(&X.c, &r, p, sizeof p));
		aiofs_req_cleanup(&r);
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_rmtree(X.h, &r, "d", NULL), 0);
		aiofs_req_cleanup(&r);
		snprintf(p, sizeof p, "%s/d", X.d.root);
		ck_assert_int_eq(access(p, F_OK), -1);
		canary_check(&X.c, "rmtree d");
		/* The whole root's contents, links and decoys included. */
		hostile_build(X.d.root, &X.c);
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_scandir(X.h, &r, "/", 1, NULL) > 0, 1);
		aiofs_req_cleanup(&r);
		cx_teardown();
	}
}
END_TEST

Suite *
confine_suite(void)
{
	Suite	*s = suite_create("confine");
	TCase	*tc = tcase_create("confine");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, confine_default);
	tcase_add_test(tc, confine_strict);
	tcase_add_test(tc, confine_root_is_root);
	tcase_add_test(tc, confine_rmtree_walk_links);
	suite_add_tcase(s, tc);
	return (s);
}
