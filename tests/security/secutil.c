/*
 * secutil.c - see secutil.h.
 *
 * Everything here runs in a Check test process (CK_FORK), so a failed
 * assertion ends that process: the daemons it started die with it (they
 * get PR_SET_PDEATHSIG), and mounts made in its private mount namespace
 * vanish with it.
 */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secutil.h"
#include "testutil.h"

#define CANARY_MTIME	1000000000	/* 2001-09-09: unusual */
#define CANARY_AGE	(3 * 86400)	/* old: relatime updates it */
#define SECD_WAIT_MS	10000
#define SECD_STOP_MS	25000

static const char *const canary_files[][2] = {
	{ "secret", CANARY_SECRET },
	{ "CANARY_MARKER", "CANARY\n" },
	{ "sub/f", "CANARY-F\n" },
	{ "sub/CANARY_MARKER2", "CANARY\n" },
};

/* FNV-1a. */
static uint64_t
sec_hash(const void *p, size_t n, uint64_t h)
{
	const unsigned char	*c = p;
	size_t			 i;

	for (i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return (h);
}

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t
sec_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Raw sockets write to peers that may vanish. */
void
sec_quiet_sigpipe(void)
{
	signal(SIGPIPE, SIG_IGN);
}

/* Write a file (created or truncated). */
void
sec_write(const char *path, const char *s)
{
	int	 fd;
	size_t	 n = strlen(s);

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	ck_assert_msg(fd != -1, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, s, n), (ssize_t)n);
	close(fd);
}

/* Read a whole file (NUL-terminated, caller frees), NULL if missing. */
char *
sec_read(const char *path, size_t *lenp)
{
	char	*buf;
	size_t	 cap = 4096, len = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return (NULL);
	buf = malloc(cap);
	for (;;) {
		if (len + 1 >= cap)
			buf = realloc(buf, cap *= 2);
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return (buf);
}

/* Does the file at path hold exactly s? */
int
sec_file_is(const char *path, const char *s)
{
	char	*b = sec_read(path, NULL);
	int	 eq = b != NULL && strcmp(b, s) == 0;

	free(b);
	return (eq);
}

/* nftw callback of sec_rm_rf. */
static int
sec_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(p);
	return (0);
}

/* rm -rf that never crosses into another filesystem (a mount point). */
void
sec_rm_rf(const char *path)
{
	struct stat	 sb;

	if (lstat(path, &sb) == -1)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	nftw(path, sec_rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Record one object of the canary (fd-relative, never following). */
static void
canary_add(struct canary *c, int dirfd, const char *name, const char *rel)
{
	struct canary_ent	*e;
	struct stat		 sb;
	char			 buf[4096];
	ssize_t			 n;
	int			 fd;

	ck_assert_msg(fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0,
	    "canary %s: %s", rel, strerror(errno));
	c->v = realloc(c->v, (c->n + 1) * sizeof *c->v);
	e = &c->v[c->n++];
	memset(e, 0, sizeof *e);
	e->rel = strdup(rel);
	e->mode = sb.st_mode;
	e->uid = sb.st_uid;
	e->gid = sb.st_gid;
	e->size = sb.st_size;
	e->nlink = sb.st_nlink;
	e->ino = sb.st_ino;
	e->dev = sb.st_dev;
	e->atime = sb.st_atim;
	e->mtime = sb.st_mtim;
	e->ctime = sb.st_ctim;
	e->hash = 0xcbf29ce484222325ULL;
	if (S_ISLNK(sb.st_mode)) {
		n = readlinkat(dirfd, name, buf, sizeof buf);
		if (n > 0)
			e->hash = sec_hash(buf, n, e->hash);
	} else if (S_ISREG(sb.st_mode)) {
		/* O_NOATIME: looking must not look like a read. */
		fd = openat(dirfd, name, O_RDONLY | O_NOATIME | O_NOFOLLOW |
		    O_CLOEXEC);
		ck_assert_msg(fd != -1, "canary %s: %s", rel, strerror(errno));
		while ((n = read(fd, buf, sizeof buf)) > 0)
			e->hash = sec_hash(buf, n, e->hash);
		close(fd);
	}
}

/* Snapshot the directory dirfd/name (rel) and everything under it. */
static void
canary_scan(struct canary *c, int dirfd, const char *name, const char *rel)
{
	struct dirent	*de;
	DIR		*d;
	char		 sub[PATH_MAX];
	int		 fd;

	canary_add(c, dirfd, name, rel);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOATIME |
	    O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return;		/* not a directory */
	d = fdopendir(fd);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "",
		    de->d_name);
		canary_scan(c, fd, de->d_name, sub);
	}
	closedir(d);
}

/* qsort by rel. */
static int
canary_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct canary_ent *)a)->rel,
	    ((const struct canary_ent *)b)->rel));
}

/* Take a fresh snapshot into out (its entries only). */
static void
canary_snap(const struct canary *c, struct canary *out)
{
	struct canary	 tmp;

	memset(&tmp, 0, sizeof tmp);
	snprintf(tmp.dir, sizeof tmp.dir, "%s", c->dir);
	canary_scan(&tmp, AT_FDCWD, c->dir, "");
	out->v = tmp.v;
	out->n = tmp.n;
	qsort(out->v, out->n, sizeof *out->v, canary_cmp);
}

/* Free a snapshot's entries. */
static void
canary_snap_free(struct canary *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].rel);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/*
 * Make the canary: files, a subdirectory, an empty directory and a
 * symlink, all with an mtime nothing else uses and an atime old enough
 * that relatime records any read; then snapshot it.
 */
void
canary_init(struct canary *c)
{
	struct timespec	 ts[2];
	char		 p[PATH_MAX];
	size_t		 i;
	static const char *const order[] = {
		"secret", "CANARY_MARKER", "sub/f", "sub/CANARY_MARKER2",
		"lnk", "sub", "empty", ""
	};

	memset(c, 0, sizeof *c);
	snprintf(c->dir, sizeof c->dir, "/tmp/aiofs-canary.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(c->dir));
	c->base = strrchr(c->dir, '/') + 1;
	ck_assert_int_eq(chmod(c->dir, 0755), 0);
	snprintf(p, sizeof p, "%s/sub", c->dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/empty", c->dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	for (i = 0; i < sizeof canary_files / sizeof canary_files[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", c->dir, canary_files[i][0]);
		sec_write(p, canary_files[i][1]);
		/* World-writable: only the daemon's confinement guards it. */
		ck_assert_int_eq(chmod(p, 0666), 0);
	}
	snprintf(p, sizeof p, "%s/lnk", c->dir);
	ck_assert_int_eq(symlink("CANARY_LINK", p), 0);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= CANARY_AGE;
	ts[1].tv_sec = CANARY_MTIME;
	ts[1].tv_nsec = 0;
	for (i = 0; i < sizeof order / sizeof order[0]; i++) {
		snprintf(p, sizeof p, "%s%s%s", c->dir, *order[i] ? "/" : "",
		    order[i]);
		ck_assert_int_eq(utimensat(AT_FDCWD, p, ts,
		    AT_SYMLINK_NOFOLLOW), 0);
	}
	canary_snap(c, c);
}

/*
 * Snapshot an existing tree (a root) to check later that nothing in it
 * changed; reads are allowed (atime is not compared).
 */
void
canary_attach(struct canary *c, const char *dir)
{
	memset(c, 0, sizeof *c);
	snprintf(c->dir, sizeof c->dir, "%s", dir);
	c->base = strrchr(c->dir, '/') + 1;
	c->attached = 1;
	canary_snap(c, c);
}

/* Remove the canary (an attached tree is only forgotten). */
void
canary_free(struct canary *c)
{
	canary_snap_free(c);
	if (!c->attached)
		sec_rm_rf(c->dir);
}

/* Is (dev, ino) an object of the canary? */
int
canary_has_ino(const struct canary *c, dev_t dev, ino_t ino)
{
	size_t	 i;

	for (i = 0; i < c->n; i++)
		if (c->v[i].dev == dev && c->v[i].ino == ino)
			return (1);
	return (0);
}

/* Same time? */
static int
ts_eq(const struct timespec *a, const struct timespec *b)
{
	return (a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec);
}

/*
 * Fail unless the canary is exactly as made: same objects, contents,
 * modes, owners, link counts, inodes and times (a read shows in atime, a
 * metadata change in ctime, a new or removed name in the list and in the
 * parent's times).  A symlink's atime is not compared: reading its text
 * for the snapshot itself updates it.
 */
void
canary_check(const struct canary *c, const char *fmt, ...)
{
	struct canary	 now;
	const struct canary_ent *a, *b;
	char		 what[512];
	const char	*diff = NULL;
	size_t		 i;
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	memset(&now, 0, sizeof now);
	canary_snap(c, &now);
	for (i = 0; i < c->n || i < now.n; i++) {
		if (i >= c->n || i >= now.n) {
			ck_abort_msg("%s: canary changed: %s %s", what,
			    i >= c->n ? "new object" : "missing object",
			    i >= c->n ? now.v[i].rel : c->v[i].rel);
		}
		a = &c->v[i];
		b = &now.v[i];
		if (strcmp(a->rel, b->rel) != 0)
			diff = "name";
		else if (a->mode != b->mode)
			diff = "mode";
		else if (a->uid != b->uid || a->gid != b->gid)
			diff = "owner";
		else if (a->size != b->size || a->hash != b->hash)
			diff = "contents";
		else if (a->nlink != b->nlink)
			diff = "link count";
		else if (a->ino != b->ino)
			diff = "inode";
		else if (!ts_eq(&a->mtime, &b->mtime))
			diff = "mtime";
		else if (!ts_eq(&a->ctime, &b->ctime))
			diff = "ctime";
		else if (!ts_eq(&a->atime, &b->atime) && !S_ISLNK(a->mode) &&
		    !c->attached)
			diff = "atime (it was read)";
		if (diff != NULL)
			ck_abort_msg("%s: canary changed: \"%s\": %s", what,
			    a->rel, diff);
	}
	canary_snap_free(&now);
}

/* Does s (n bytes) contain the canary marker? */
static int
has_mark(const char *s, size_t n)
{
	return (s != NULL && memmem(s, n, CANARY_MARK,
	    strlen(CANARY_MARK)) != NULL);
}

/*
 * Did this reply carry anything of the canary: its marker in data, names
 * or lines, or one of its inodes in a stat?  1 with a description.
 */
int
canary_leaks(const struct canary *c, const aiofs_req_t *r, char *why,
    size_t len)
{
	size_t	 i, j;

	if (r->result < 0)
		return (0);
	if (r->buf != NULL && has_mark(r->buf, r->len)) {
		snprintf(why, len, "data \"%.*s\"", (int)r->len, r->buf);
		return (1);
	}
	for (i = 0; i < r->nlines; i++)
		if (has_mark(r->lines[i], r->linelens != NULL ?
		    r->linelens[i] : strlen(r->lines[i]))) {
			snprintf(why, len, "name/line \"%s\"", r->lines[i]);
			return (1);
		}
	for (i = 0; i < r->nentries; i++) {
		if (has_mark(r->entries[i].name, strlen(r->entries[i].name)) ||
		    (r->entries[i].has_stat && canary_has_ino(c,
		    r->entries[i].stat.dev, r->entries[i].stat.ino))) {
			snprintf(why, len, "scandir entry \"%s\"",
			    r->entries[i].name);
			return (1);
		}
	}
	for (i = 0; i < r->nwalk; i++) {
		for (j = 0; j < r->walk[i].ndirnames; j++)
			if (has_mark(r->walk[i].dirnames[j],
			    strlen(r->walk[i].dirnames[j]))) {
				snprintf(why, len, "walk dir \"%s\"",
				    r->walk[i].dirnames[j]);
				return (1);
			}
		for (j = 0; j < r->walk[i].nfilenames; j++)
			if (has_mark(r->walk[i].filenames[j],
			    strlen(r->walk[i].filenames[j]))) {
				snprintf(why, len, "walk file \"%s\"",
				    r->walk[i].filenames[j]);
				return (1);
			}
	}
	if ((r->op == AIOFS_OP_STAT) && r->st.ino != 0 &&
	    canary_has_ino(c, r->st.dev, r->st.ino)) {
		snprintf(why, len, "stat of canary inode %llu",
		    (unsigned long long)r->st.ino);
		return (1);
	}
	return (0);
}

/* mkdir -p for a host path. */
static void
sec_mkdirs(const char *path)
{
	char	 p[PATH_MAX], *s;

	snprintf(p, sizeof p, "%s", path);
	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) == -1)
			ck_assert_msg(errno == EEXIST, "mkdir %s: %s", p,
			    strerror(errno));
		*s = '/';
	}
	if (mkdir(p, 0755) == -1)
		ck_assert_msg(errno == EEXIST, "mkdir %s: %s", p,
		    strerror(errno));
}

/* A decoy of the canary at host path dir. */
static void
hostile_decoy(const char *dir)
{
	char	 p[PATH_MAX];

	sec_mkdirs(dir);
	snprintf(p, sizeof p, "%s/sub", dir);
	sec_mkdirs(p);
	snprintf(p, sizeof p, "%s/empty", dir);
	sec_mkdirs(p);
	snprintf(p, sizeof p, "%s/secret", dir);
	sec_write(p, DECOY_SECRET);
	snprintf(p, sizeof p, "%s/DECOY_MARKER", dir);
	sec_write(p, "DECOY\n");
	snprintf(p, sizeof p, "%s/sub/f", dir);
	sec_write(p, "DECOY-F\n");
	snprintf(p, sizeof p, "%s/lnk", dir);
	ck_assert_int_eq(symlink("DECOY_LINK", p), 0);
}

/* symlink target at root/name. */
static void
hostile_link(const char *root, const char *name, const char *target)
{
	char	 p[PATH_MAX];

	snprintf(p, sizeof p, "%s/%s", root, name);
	ck_assert_msg(symlink(target, p) == 0, "symlink %s: %s", p,
	    strerror(errno));
}

/* Empty root, sparing mount points. */
static void
hostile_clear(const char *root)
{
	struct dirent	*de;
	struct stat	 rsb, sb;
	char		 p[PATH_MAX];
	DIR		*d;

	ck_assert_int_eq(lstat(root, &rsb), 0);
	d = opendir(root);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", root, de->d_name);
		if (lstat(p, &sb) == 0 && sb.st_dev != rsb.st_dev)
			continue;	/* a mount point (proc, tmpfs) */
		sec_rm_rf(p);
	}
	closedir(d);
}

/*
 * Rebuild the hostile tree in root.  Names (see hostile_build's users):
 *	harmless	inside.txt d/ d/file d/sub/x
 *	links out	d/inner_abs d/inner_rel
 *	dir escapes	esc_abs esc_rel esc_root esc_up chain1..3
 *	file escapes	esc_abs_file esc_rel_file chain_file
 *	create escapes	dangling dangling_rel
 *	a loop		loop1 loop2
 *	/proc magic	magic_root magic_cwd magic_fd magic_init
 *	<canary dir> <canary base>				decoys
 */
void
hostile_build(const char *root, const struct canary *c)
{
	char	 p[PATH_MAX], up[PATH_MAX];

	hostile_clear(root);
	snprintf(p, sizeof p, "%s%s", root, c->dir);
	hostile_decoy(p);
	snprintf(p, sizeof p, "%s/%s", root, c->base);
	hostile_decoy(p);
	snprintf(p, sizeof p, "%s/proc", root);
	if (mkdir(p, 0755) == -1)
		ck_assert_int_eq(errno, EEXIST);
	snprintf(p, sizeof p, "%s/inside.txt", root);
	sec_write(p, "inside\n");
	snprintf(p, sizeof p, "%s/d/sub", root);
	sec_mkdirs(p);
	snprintf(p, sizeof p, "%s/d/file", root);
	sec_write(p, "d-file\n");
	snprintf(p, sizeof p, "%s/d/sub/x", root);
	sec_write(p, "x\n");

	snprintf(up, sizeof up, "../../../../../../../../../..%s", c->dir);
	hostile_link(root, "d/inner_abs", c->dir);
	hostile_link(root, "d/inner_rel", up);
	hostile_link(root, "esc_abs", c->dir);
	hostile_link(root, "esc_rel", up);
	hostile_link(root, "esc_root", "/");
	hostile_link(root, "esc_up", "../..");
	hostile_link(root, "chain1", "chain2");
	hostile_link(root, "chain2", "chain3");
	hostile_link(root, "chain3", "esc_abs");
	snprintf(p, sizeof p, "%s/secret", c->dir);
	hostile_link(root, "esc_abs_file", p);
	snprintf(p, sizeof p, "%s/secret", up);
	hostile_link(root, "esc_rel_file", p);
	hostile_link(root, "chain_file", "chain1/secret");
	snprintf(p, sizeof p, "%s/newfile", c->dir);
	hostile_link(root, "dangling", p);
	snprintf(p, sizeof p, "../../%s/newfile2", c->base);
	hostile_link(root, "dangling_rel", p);
	hostile_link(root, "loop1", "loop2");
	hostile_link(root, "loop2", "loop1");
	hostile_link(root, "magic_root", "/proc/self/root");
	hostile_link(root, "magic_cwd", "/proc/self/cwd");
	hostile_link(root, "magic_fd", "/proc/self/fd/3");
	hostile_link(root, "magic_init", "/proc/1/root");
}

/* Start aiofsd on a fresh directory: dir/s, dir/root. */
void
secd_start(struct secd *d, const char *const *extra,
    const struct secd_opts *o)
{
	char	 dir[64], root[128];

	snprintf(dir, sizeof dir, "/tmp/aiofs-sec.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/*
	 * A tmpfs makes the thousands of tree rebuilds cheap; it needs the
	 * caller's private mount namespace (sec_private_mounts), so that it
	 * vanishes with the test process whatever happens.
	 */
	if (o != NULL && o->tmpfs && mount("tmpfs", dir, "tmpfs", 0,
	    "mode=0755,size=256m") == -1)
		fprintf(stderr, "secd_start: tmpfs on %s: %s\n", dir,
		    strerror(errno));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(root, sizeof root, "%s/root", dir);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	secd_start_in(d, dir, extra, o);
}

/*
 * Start aiofsd -f on dir/s with root dir/root (unless o->no_root_arg) and
 * the extra arguments; wait until it accepts.  The daemon dies with this
 * process (PR_SET_PDEATHSIG), has /dev/null as stdio (stderr is kept with
 * SEC_DAEMON_LOG=1), and runs with cwd "/".
 */
void
secd_start_in(struct secd *d, const char *dir, const char *const *extra,
    const struct secd_opts *o)
{
	static const struct secd_opts	 none;
	const char		*argv[64];
	char			 workers[16], real[PATH_MAX];
	struct sockaddr_un	 sun;
	struct rlimit		 rl;
	sigset_t		 all;
	pid_t			 parent = getpid();
	int			 i, n = 0, s, status, fd, verbose;
	uint64_t		 t0;

	if (o == NULL)
		o = &none;
	memset(d, 0, sizeof *d);
	snprintf(d->dir, sizeof d->dir, "%s", dir);
	snprintf(d->sock, sizeof d->sock, "%s/s", dir);
	snprintf(d->root, sizeof d->root, "%s/root", dir);
	verbose = getenv("SEC_DAEMON_LOG") != NULL;
	snprintf(workers, sizeof workers, "%d", o->workers > 0 ?
	    o->workers : 4);

	argv[n++] = test_aiofsd_path();
	argv[n++] = "-f";
	argv[n++] = verbose ? "-v" : "-q";
	argv[n++] = "-s";
	argv[n++] = d->sock;
	if (!o->no_root_arg) {
		argv[n++] = "-r";
		argv[n++] = d->root;
	}
	argv[n++] = "-w";
	argv[n++] = workers;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		if (!verbose)
			dup2(fd, 2);
		if (fd > 2)
			close(fd);
		/* Nothing of ours (Check's temp files) may leak into it. */
		closefrom(3);
		if (chdir("/") == -1)
			_exit(126);
		if (o->fsize != 0) {
			rl.rlim_cur = rl.rlim_max = o->fsize;
			setrlimit(RLIMIT_FSIZE, &rl);
		}
		signal(SIGXFSZ, o->ignore_xfsz ? SIG_IGN : SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", d->sock);
	t0 = sec_now_ms();
	for (;;) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			ck_abort_msg("aiofsd exited at start-up (status %#x)",
			    status);
		}
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(s, (struct sockaddr *)&sun, sizeof sun) == 0) {
			close(s);
			break;
		}
		close(s);
		ck_assert_msg(sec_now_ms() - t0 < SECD_WAIT_MS,
		    "aiofsd did not start on %s", d->sock);
		usleep(5000);
	}
	/*
	 * The socket accepts before the loop and the pool run: a handshake
	 * proves they do, so that fd counts taken now are the baseline.
	 */
	s = raw_connect(d->sock);
	(void)raw_hello(s);	/* a refusal (reject_unknown) will do too */
	close(s);
	secd_settle(d);
	if (realpath(d->root, real) != NULL)
		snprintf(d->root, sizeof d->root, "%s", real);
}

/* Wait (up to 2 s) until the daemon's fd count stops falling. */
void
secd_settle(const struct secd *d)
{
	int	 n, prev = -1, same = 0, i;

	for (i = 0; i < 200 && same < 3; i++) {
		n = secd_nfds(d);
		same = n == prev ? same + 1 : 0;
		prev = n;
		usleep(10000);
	}
}

/* Is the daemon still running? */
int
secd_alive(struct secd *d)
{
	int	 status;

	if (d->pid <= 0)
		return (0);
	if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
		d->pid = -status - 1;	/* remember it is gone */
		return (0);
	}
	return (1);
}

/* SIGTERM the daemon, require a clean exit, remove its directory. */
void
secd_stop(struct secd *d)
{
	uint64_t	 t0 = sec_now_ms();
	int		 status;
	pid_t		 r;

	ck_assert_msg(d->pid > 0, "aiofsd died during the test (status %#x)",
	    d->pid < 0 ? -(d->pid + 1) : 0);
	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
	while ((r = waitpid(d->pid, &status, WNOHANG)) == 0) {
		if (sec_now_ms() - t0 > SECD_STOP_MS) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &status, 0);
			ck_abort_msg("aiofsd did not stop on SIGTERM");
		}
		usleep(5000);
	}
	ck_assert_int_eq(r, d->pid);
	d->pid = 0;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "aiofsd exit status %#x", status);
	secd_cleanup(d);
}

/* Remove the daemon's directory (not across mount points). */
void
secd_cleanup(struct secd *d)
{
	if (d->dir[0] == '\0')
		return;
	umount2(d->dir, MNT_DETACH);	/* the tmpfs, if any */
	sec_rm_rf(d->dir);
	d->dir[0] = '\0';
}

/* Let other uids reach the socket (impersonation, per-uid policy). */
void
secd_open_perms(const struct secd *d)
{
	ck_assert_int_eq(chmod(d->dir, 0755), 0);
	ck_assert_int_eq(chmod(d->sock, 0666), 0);
}

/* Number of the daemon's open fds. */
int
secd_nfds(const struct secd *d)
{
	char		 p[64];
	DIR		*dir;
	struct dirent	*de;
	int		 n = 0;

	snprintf(p, sizeof p, "/proc/%d/fd", (int)d->pid);
	dir = opendir(p);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return (n);
}

/* VmRSS of the daemon in KiB. */
long
secd_rss_kb(const struct secd *d)
{
	char	 p[64], line[256];
	FILE	*f;
	long	 kb = -1;

	snprintf(p, sizeof p, "/proc/%d/status", (int)d->pid);
	if ((f = fopen(p, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return (kb);
}

/*
 * Audit the daemon's fds: every fd above 2 must be a socket, a pipe, an
 * anonymous inode (eventfd, epoll, signalfd), /dev/null, the root or
 * something under it.  Returns the number of other fds; the first is
 * described in bad.
 */
int
secd_fd_audit(const struct secd *d, char *bad, size_t len)
{
	char		 p[64], fp[128], t[PATH_MAX + 1];
	size_t		 rl = strlen(d->root);
	DIR		*dir;
	struct dirent	*de;
	ssize_t		 n;
	int		 nbad = 0;

	snprintf(p, sizeof p, "/proc/%d/fd", (int)d->pid);
	if ((dir = opendir(p)) == NULL)
		return (0);	/* gone: secd_stop says so */
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || atoi(de->d_name) <= 2)
			continue;
		snprintf(fp, sizeof fp, "%s/%s", p, de->d_name);
		if ((n = readlink(fp, t, sizeof t - 1)) == -1)
			continue;	/* closed meanwhile */
		t[n] = '\0';
		if (strncmp(t, "socket:", 7) == 0 ||
		    strncmp(t, "pipe:", 5) == 0 ||
		    strncmp(t, "anon_inode:", 11) == 0 ||
		    strcmp(t, "/dev/null") == 0 ||
		    (rl > 0 && strncmp(t, d->root, rl) == 0 &&
		    (t[rl] == '\0' || t[rl] == '/')))
			continue;
		if (nbad++ == 0 && bad != NULL)
			snprintf(bad, len, "fd %s -> %s", de->d_name, t);
	}
	closedir(dir);
	return (nbad);
}

/* fdwatch thread body. */
static void *
fdwatch_main(void *arg)
{
	struct fdwatch	*w = arg;
	char		 what[512];

	while (!w->stop) {
		if (secd_fd_audit(w->d, what, sizeof what) > 0 && !w->bad) {
			w->bad = 1;
			snprintf(w->what, sizeof w->what, "%s", what);
		}
		w->scans++;
		usleep(200);
	}
	return (NULL);
}

/* Audit d's fds continuously until fdwatch_stop(). */
void
fdwatch_start(struct fdwatch *w, const struct secd *d)
{
	memset(w, 0, sizeof *w);
	w->d = d;
	ck_assert_int_eq(pthread_create(&w->thr, NULL, fdwatch_main, w), 0);
}

/* Stop the watcher and fail if it ever saw an fd outside the root. */
void
fdwatch_stop(struct fdwatch *w)
{
	w->stop = 1;
	pthread_join(w->thr, NULL);
	ck_assert_msg(!w->bad, "daemon fd outside the root: %s", w->what);
	ck_assert_uint_gt(w->scans, 0);
}

/* Connect, or return the negative errno. */
int
sec_try_connect(const struct secd *d, aiofs_t **hp)
{
	return (aiofs_connect(hp, d->sock, "check_security"));
}

/* Connect or fail. */
aiofs_t *
sec_connect(const struct secd *d)
{
	aiofs_t	*h = NULL;
	int	 rc;

	rc = sec_try_connect(d, &h);
	ck_assert_msg(rc == 0, "aiofs_connect %s: %s", d->sock,
	    aiofs_strerror(rc));
	return (h);
}

/* A blocking raw connection to the socket. */
int
raw_connect(const char *sock)
{
	struct sockaddr_un	 sun;
	int			 s;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_msg(connect(s, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "connect %s: %s", sock, strerror(errno));
	return (s);
}

/* Write all of buf; 0, or -1 (the peer went away). */
int
raw_write(int s, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = send(s, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		p += n;
		len -= n;
	}
	return (0);
}

/* Send one frame: big-endian length, then body. */
int
raw_send_frame(int s, const void *body, size_t len)
{
	uint8_t	 hdr[4];

	hdr[0] = len >> 24;
	hdr[1] = len >> 16;
	hdr[2] = len >> 8;
	hdr[3] = len;
	if (raw_write(s, hdr, 4) == -1)
		return (-1);
	return (len == 0 ? 0 : raw_write(s, body, len));
}

/* Pack and send a Request. */
int
raw_send_req(int s, const Request *r)
{
	size_t	 n = aiofs__v1__request__get_packed_size(r);
	uint8_t	*buf = malloc(n + 1);
	int	 rv;

	aiofs__v1__request__pack(r, buf);
	rv = raw_send_frame(s, buf, n);
	free(buf);
	return (rv);
}

/* A Request as one frame (header included) in *out; its size. */
size_t
raw_pack(const Request *r, uint8_t **out)
{
	size_t	 n = aiofs__v1__request__get_packed_size(r);
	uint8_t	*buf = malloc(n + 4);

	buf[0] = n >> 24;
	buf[1] = n >> 16;
	buf[2] = n >> 8;
	buf[3] = n;
	aiofs__v1__request__pack(r, buf + 4);
	*out = buf;
	return (n + 4);
}

/*
 * Send len bytes of buf with nfds fds attached (SCM_RIGHTS) in one
 * sendmsg; the rest of buf, if any, plainly.  0 or -1.
 */
int
raw_send_fds(int s, const void *buf, size_t len, const int *fds, int nfds)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	char		*cbuf;
	size_t		 clen = CMSG_SPACE(sizeof(int) * nfds);
	ssize_t		 n;

	cbuf = calloc(1, clen);
	memset(&mh, 0, sizeof mh);
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = clen;
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	n = sendmsg(s, &mh, MSG_NOSIGNAL);
	free(cbuf);
	if (n <= 0)
		return (-1);
	if ((size_t)n < len)
		return (raw_write(s, (const char *)buf + n, len - n));
	return (0);
}

/* An empty Request with an id. */
void
raw_req_init(Request *r, uint64_t id)
{
	aiofs__v1__request__init(r);
	r->has_id = 1;
	r->id = id;
}

/* Read exactly len bytes before the deadline; 0, or -1 (errno). */
static int
raw_read_full(int s, void *buf, size_t len, uint64_t deadline)
{
	struct pollfd	 pfd;
	char		*p = buf;
	ssize_t		 n;
	uint64_t	 now;

	while (len > 0) {
		now = sec_now_ms();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return (-1);
		}
		pfd.fd = s;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		n = recv(s, p, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			errno = 0;	/* EOF */
		if (n <= 0)
			return (-1);
		p += n;
		len -= n;
	}
	return (0);
}

/*
 * Receive one Response within timeout_ms; NULL on EOF (errno 0), reset
 * (ECONNRESET), timeout (ETIMEDOUT) or an undecodable frame (EPROTO).
 */
Response *
raw_recv(int s, int timeout_ms)
{
	uint64_t	 deadline = sec_now_ms() + timeout_ms;
	uint8_t		 hdr[4], *body;
	uint32_t	 len;
	Response	*r;

	if (raw_read_full(s, hdr, 4, deadline) == -1)
		return (NULL);
	len = (uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
	if (len > 64U * 1024 * 1024) {
		errno = EPROTO;
		return (NULL);
	}
	body = malloc(len + 1);
	if (raw_read_full(s, body, len, deadline) == -1) {
		free(body);
		return (NULL);
	}
	r = aiofs__v1__response__unpack(NULL, len, body);
	free(body);
	if (r == NULL)
		errno = EPROTO;
	return (r);
}

/* Send Hello (id 0) and expect a HelloReply; 0 or -1. */
int
raw_hello(int s)
{
	Request			 r;
	Aiofs__V1__Hello	 h = AIOFS__V1__HELLO__INIT;
	Response		*resp;
	int			 ok;

	raw_req_init(&r, 0);
	h.has_protocol_version = 1;
	h.protocol_version = AIOFS_PROTOCOL_VERSION;
	h.client_name = "raw";
	r.op_case = AIOFS__V1__REQUEST__OP_HELLO;
	r.hello = &h;
	if (raw_send_req(s, &r) == -1)
		return (-1);
	if ((resp = raw_recv(s, 5000)) == NULL)
		return (-1);
	ok = resp->result_case == AIOFS__V1__RESPONSE__RESULT_HELLO;
	aiofs__v1__response__free_unpacked(resp, NULL);
	return (ok ? 0 : -1);
}

/*
 * Wait until the daemon closes s (EOF or reset), discarding what it
 * sends: 1 if it did within timeout_ms, 0 if s is still open.
 */
int
raw_wait_closed(int s, int timeout_ms)
{
	uint64_t	 deadline = sec_now_ms() + timeout_ms;
	struct pollfd	 pfd;
	char		 buf[65536];
	ssize_t		 n;
	uint64_t	 now;

	for (;;) {
		now = sec_now_ms();
		if (now >= deadline)
			return (0);
		pfd.fd = s;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			return (1);
	}
}

/*
 * A private mount namespace for this test process (and the daemons it
 * starts): mounts made now vanish with it.  0, or -1 if not allowed.
 */
int
sec_private_mounts(void)
{
	if (unshare(CLONE_NEWNS) == -1)
		return (-1);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		return (-1);
	return (0);
}

/*
 * Run fn(arg) in a child process as uid/gid (no supplementary groups);
 * returns its exit status, or -1 if it died of a signal.  fn must not
 * use ck_assert: it reports through its return value.
 */
int
sec_run_as(uid_t uid, gid_t gid, int (*fn)(void *), void *arg)
{
	pid_t	 pid;
	int	 status;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 || setgid(gid) == -1 ||
		    setuid(uid) == -1)
			_exit(125);
		_exit(fn(arg));
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		return (-1);
	return (WEXITSTATUS(status));
}
