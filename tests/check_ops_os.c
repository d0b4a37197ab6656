/*
 * check_ops_os.c - the os.* work functions of ops_os.c, run synchronously
 * on a temporary root and checked against what the kernel says directly
 * (stat(2), readdir(3) ... on the host path).
 */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <check.h>

#include "testutil.h"

#define OPC(x)		AIOFS__V1__REQUEST__OP_##x
#define RES(x)		AIOFS__V1__RESPONSE__RESULT_##x
#define BIGDIR		10000
#define RACE_ROUNDS	200

static struct troot	 T;

/* Per-test fixture: a fresh root, a known umask, quiet logs. */
static void
setup(void)
{
	umask(022);
	log_open("check_ops_os", 1, 0);
	troot_init(&T);
}

/* Per-test fixture: remove the root. */
static void
teardown(void)
{
	troot_free(&T);
}

/* Make n files f00000... in rel on the host. */
static void
h_many(const char *rel, int n)
{
	char	 p[1024];
	int	 i, fd;

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/%s/f%05d", T.path, rel, i);
		fd = open(p, O_WRONLY | O_CREAT, 0644);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
}

/*
 * Once per "big" test case, in the runner: one root holding big/ (BIGDIR
 * files and sub/x) and one/ (exactly AIOFS_LIST_BATCH files), which the
 * forked tests only read.  Making 10,000 files is the slow part.
 */
static void
big_setup(void)
{
	char	 p[600];

	troot_init(&T);
	snprintf(p, sizeof p, "%s/big", T.path);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/big/sub", T.path);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/one", T.path);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	h_many("big", BIGDIR);
	h_many("big/sub", 1);
	h_many("one", AIOFS_LIST_BATCH);
}

/* Remove the shared big root. */
static void
big_teardown(void)
{
	troot_free(&T);
}

/* Per-test part of the big case: umask and quiet logs. */
static void
big_each(void)
{
	umask(022);
	log_open("check_ops_os", 1, 0);
}

/* A binary of len bytes (may hold NULs), malloc'd for free_unpacked. */
static ProtobufCBinaryData
tbinn(const char *s, size_t len)
{
	ProtobufCBinaryData	 b;

	b.len = len;
	b.data = malloc(len + 1);
	memcpy(b.data, s, len);
	return (b);
}

/* A heap Path sub-message. */
static Aiofs__V1__Path *
t_path(const char *s)
{
	Aiofs__V1__Path	*p = calloc(1, sizeof *p);

	aiofs__v1__path__init(p);
	p->has_path = 1;
	p->path = tbin(s);
	return (p);
}

/* A heap TwoPaths sub-message. */
static Aiofs__V1__TwoPaths *
t_two(const char *a, const char *b)
{
	Aiofs__V1__TwoPaths	*p = calloc(1, sizeof *p);

	aiofs__v1__two_paths__init(p);
	p->has_src = p->has_dst = 1;
	p->src = tbin(a);
	p->dst = tbin(b);
	return (p);
}

static struct req	*t_chmod(const char *, int64_t);
static struct req	*t_utime(const char *, int64_t, int64_t, int);
static struct req	*t_truncate(const char *, int64_t);
static struct req	*t_list(int, const char *, int);

/* Make a req for m and run it once. */
static struct req *
t_run(Request *m)
{
	struct req	*r = treq_new(&T, m);

	treq_run(r);
	return (r);
}

/* Run an op whose message is a Path. */
static struct req *
t_pathop(int opc, const char *path)
{
	Request	*m = treq_msg();

	m->op_case = opc;
	switch (opc) {
	case OPC(UNLINK):
		m->unlink = t_path(path);
		break;
	case OPC(RMDIR):
		m->rmdir = t_path(path);
		break;
	case OPC(REMOVEDIRS):
		m->removedirs = t_path(path);
		break;
	case OPC(READLINK):
		m->readlink = t_path(path);
		break;
	case OPC(CHDIR):
		m->chdir = t_path(path);
		break;
	case OPC(RMTREE):
		m->rmtree = t_path(path);
		break;
	default:
		ck_abort_msg("t_pathop: op %d", opc);
	}
	return (t_run(m));
}

/* Run an op whose message is TwoPaths. */
static struct req *
t_twoop(int opc, const char *a, const char *b)
{
	Request	*m = treq_msg();

	m->op_case = opc;
	switch (opc) {
	case OPC(RENAME):
		m->rename = t_two(a, b);
		break;
	case OPC(RENAMES):
		m->renames = t_two(a, b);
		break;
	case OPC(REPLACE):
		m->replace = t_two(a, b);
		break;
	case OPC(LINK):
		m->link = t_two(a, b);
		break;
	case OPC(SYMLINK):
		m->symlink = t_two(a, b);
		break;
	case OPC(COPYFILE):
		m->copyfile = t_two(a, b);
		break;
	default:
		ck_abort_msg("t_twoop: op %d", opc);
	}
	return (t_run(m));
}

/* stat or lstat of len bytes of path. */
static struct req *
t_statn(const char *path, size_t len, int nofollow)
{
	Request		*m = treq_msg();
	Aiofs__V1__Stat	*s = calloc(1, sizeof *s);

	aiofs__v1__stat__init(s);
	s->has_path = 1;
	s->path = tbinn(path, len);
	s->has_no_follow = nofollow;
	s->no_follow = nofollow;
	m->op_case = OPC(STAT);
	m->stat = s;
	return (t_run(m));
}

/* stat or lstat. */
static struct req *
t_stat(const char *path, int nofollow)
{
	return (t_statn(path, strlen(path), nofollow));
}

/* mkdir with a mode. */
static struct req *
t_mkdir(const char *path, uint32_t mode)
{
	Request			*m = treq_msg();
	Aiofs__V1__Mkdir	*s = calloc(1, sizeof *s);

	aiofs__v1__mkdir__init(s);
	s->has_path = 1;
	s->path = tbin(path);
	s->has_mode = mode != 0;
	s->mode = mode;
	m->op_case = OPC(MKDIR);
	m->mkdir = s;
	return (t_run(m));
}

/* makedirs. */
static struct req *
t_makedirs(const char *path, uint32_t mode, int exist_ok)
{
	Request			*m = treq_msg();
	Aiofs__V1__Makedirs	*s = calloc(1, sizeof *s);

	aiofs__v1__makedirs__init(s);
	s->has_path = 1;
	s->path = tbin(path);
	s->has_mode = mode != 0;
	s->mode = mode;
	s->has_exist_ok = 1;
	s->exist_ok = exist_ok;
	m->op_case = OPC(MAKEDIRS);
	m->makedirs = s;
	return (t_run(m));
}

/* Assert r succeeded with result case rc; keep r. */
static void
t_ok(struct req *r, int rc)
{
	ck_assert_msg(r->error == 0, "%s failed: %s (%d) %s [%s]",
	    r->op->name, strerror(r->error), r->error,
	    r->errmsg != NULL ? r->errmsg : "",
	    r->errpath != NULL ? r->errpath : "");
	ck_assert_int_eq(r->resp.result_case, rc);
}

/* Assert r succeeded with Empty and free it. */
static void
t_empty(struct req *r)
{
	t_ok(r, RES(EMPTY));
	req_free(r);
}

/* Assert r failed with errno e (and errpath, if path is not NULL); free. */
static void
t_err(struct req *r, int e, const char *path)
{
	ck_assert_msg(r->error == e, "%s: want %s, got %s (%d)%s%s",
	    r->op->name, strerror(e), r->error ? strerror(r->error) : "ok",
	    r->error, r->errmsg ? ": " : "", r->errmsg ? r->errmsg : "");
	ck_assert_int_eq(r->resp.result_case, RES(ERROR));
	if (path != NULL) {
		ck_assert_ptr_nonnull(r->errpath);
		ck_assert_str_eq(r->errpath, path);
	}
	req_free(r);
}

/* Assert r failed with errno e and a message mentioning what; free. */
static void
t_errmsg(struct req *r, int e, const char *what)
{
	ck_assert_msg(r->error == e, "%s: want %s, got %s (%d)",
	    r->op->name, strerror(e), r->error ? strerror(r->error) : "ok",
	    r->error);
	ck_assert_ptr_nonnull(r->errmsg);
	ck_assert_msg(strstr(r->errmsg, what) != NULL, "message \"%s\"",
	    r->errmsg);
	req_free(r);
}

/* Assert r failed EINVAL with a message mentioning what; free. */
static void
t_einval_msg(struct req *r, const char *what)
{
	t_errmsg(r, EINVAL, what);
}

/* Assert r replied Bool v; free. */
static void
t_bool(struct req *r, int v)
{
	t_ok(r, RES(BOOL));
	ck_assert_int_eq(r->res.boolean.value, v);
	req_free(r);
}

/* lstat a path inside the root on the host; -1 if missing. */
static int
h_lstat(const char *rel, struct stat *sb)
{
	char	*p = troot_host(&T, rel);
	int	 rv = lstat(p, sb);

	free(p);
	return (rv);
}

/* Does rel exist (lstat) inside the root? */
static int
h_exists(const char *rel)
{
	struct stat	 sb;

	return (h_lstat(rel, &sb) == 0);
}

/* mkdir and symlink (rel -> target) inside the root on the host. */
#define h_mkdir(rel)		troot_mkdirm(&T, (rel), 0755)
#define h_symlink(target, rel)	troot_symlink(&T, (target), (rel))

/* Compare a StatReply with a struct stat field by field. */
static void
t_stat_eq(const Aiofs__V1__StatReply *r, const struct stat *sb)
{
	ck_assert_uint_eq(r->mode, sb->st_mode);
	ck_assert_uint_eq(r->ino, sb->st_ino);
	ck_assert_uint_eq(r->dev, sb->st_dev);
	ck_assert_uint_eq(r->nlink, sb->st_nlink);
	ck_assert_uint_eq(r->uid, sb->st_uid);
	ck_assert_uint_eq(r->gid, sb->st_gid);
	ck_assert_int_eq(r->size, sb->st_size);
	ck_assert_int_eq(r->blocks, sb->st_blocks);
	ck_assert_int_eq(r->blksize, sb->st_blksize);
	ck_assert_uint_eq(r->rdev, sb->st_rdev);
	ck_assert_int_eq(r->mtime_ns, (int64_t)sb->st_mtim.tv_sec *
	    1000000000 + sb->st_mtim.tv_nsec);
	ck_assert_int_eq(r->ctime_ns, (int64_t)sb->st_ctim.tv_sec *
	    1000000000 + sb->st_ctim.tv_nsec);
	ck_assert_int_eq(r->atime_ns, (int64_t)sb->st_atim.tv_sec *
	    1000000000 + sb->st_atim.tv_nsec);
}

/* stat, lstat and stat through a symlink match the kernel. */
START_TEST(test_stat_fields)
{
	struct req	*r;
	struct stat	 sb;

	troot_write(&T, "f", "hello");
	h_symlink("f", "l");
	r = t_stat("f", 0);
	t_ok(r, RES(STAT));
	ck_assert_int_eq(h_lstat("f", &sb), 0);
	t_stat_eq(&r->res.stat, &sb);
	ck_assert_int_eq(r->res.stat.size, 5);
	req_free(r);

	r = t_stat("l", 0);		/* follows */
	t_ok(r, RES(STAT));
	t_stat_eq(&r->res.stat, &sb);
	req_free(r);

	r = t_stat("l", 1);		/* lstat */
	t_ok(r, RES(STAT));
	ck_assert_int_eq(h_lstat("l", &sb), 0);
	ck_assert(S_ISLNK(r->res.stat.mode));
	t_stat_eq(&r->res.stat, &sb);
	req_free(r);

	r = t_stat("/", 1);		/* lstat of the root works */
	t_ok(r, RES(STAT));
	ck_assert(S_ISDIR(r->res.stat.mode));
	ck_assert_int_eq(stat(T.path, &sb), 0);
	ck_assert_uint_eq(r->res.stat.ino, sb.st_ino);
	req_free(r);
}
END_TEST

/* Every errno stat can give. */
START_TEST(test_stat_errors)
{
	struct req	*r;

	troot_write(&T, "f", "x");
	h_symlink("loop2", "loop1");
	h_symlink("loop1", "loop2");
	t_err(t_stat("nope", 0), ENOENT, "nope");
	t_err(t_stat("f/x", 0), ENOTDIR, "f/x");
	t_err(t_stat("loop1", 0), ELOOP, "loop1");
	t_err(t_stat("", 0), ENOENT, NULL);
	t_einval_msg(t_statn("f\0x", 3, 0), "NUL");
	/* lstat of a loop is the link itself. */
	r = t_stat("loop1", 1);
	t_ok(r, RES(STAT));
	ck_assert(S_ISLNK(r->res.stat.mode));
	req_free(r);
}
END_TEST

/*
 * A client may leave the path out altogether (data NULL): ENOENT like an
 * empty path, never a crash (run this under the sanitizers).
 */
START_TEST(test_unset_path)
{
	Request		*m;
	struct req	*r;
	int		 i;

	for (i = 0; i < 5; i++) {
		m = treq_msg();
		switch (i) {
		case 0:
			m->op_case = OPC(STAT);
			m->stat = calloc(1, sizeof *m->stat);
			aiofs__v1__stat__init(m->stat);
			break;
		case 1:
			m->op_case = OPC(MKDIR);
			m->mkdir = calloc(1, sizeof *m->mkdir);
			aiofs__v1__mkdir__init(m->mkdir);
			break;
		case 2:
			m->op_case = OPC(RENAMES);
			m->renames = calloc(1, sizeof *m->renames);
			aiofs__v1__two_paths__init(m->renames);
			break;
		case 3:
			m->op_case = OPC(SYMLINK);
			m->symlink = calloc(1, sizeof *m->symlink);
			aiofs__v1__two_paths__init(m->symlink);
			break;
		default:
			m->op_case = OPC(WALK);
			m->walk = calloc(1, sizeof *m->walk);
			aiofs__v1__walk__init(m->walk);
			break;
		}
		r = t_run(m);
		t_err(r, ENOENT, NULL);
	}
}
END_TEST

/* fstat through a handle, and EBADF without one. */
START_TEST(test_stat_handle)
{
	struct hfile	 hf;
	struct req	*r;
	struct stat	 sb;
	Request		*m;
	Aiofs__V1__Stat	*s;
	char		*p;
	int		 fd;

	troot_write(&T, "f", "abc");
	p = troot_host(&T, "f");
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	memset(&hf, 0, sizeof hf);
	hf.fd = fd;
	hf.name = p;

	m = treq_msg();
	s = calloc(1, sizeof *s);
	aiofs__v1__stat__init(s);
	s->has_handle = 1;
	s->handle = 1;
	m->op_case = OPC(STAT);
	m->stat = s;
	r = treq_new(&T, m);
	r->fd = dup(hf.fd);		/* what dispatch hands the worker */
	treq_run(r);
	t_ok(r, RES(STAT));
	t_stat_eq(&r->res.stat, &sb);
	req_free(r);

	m = treq_msg();
	s = calloc(1, sizeof *s);
	aiofs__v1__stat__init(s);
	s->has_handle = 1;
	m->op_case = OPC(STAT);
	m->stat = s;
	t_err(t_run(m), EBADF, NULL);
	close(fd);
	free(p);
}
END_TEST

/* "..", absolute paths and absolute symlinks stay inside the root. */
START_TEST(test_confinement)
{
	struct req	*r;

	h_mkdir("etc");
	troot_write(&T, "etc/passwd", "fake");
	r = t_stat("../../etc/passwd", 0);
	t_ok(r, RES(STAT));
	ck_assert_int_eq(r->res.stat.size, 4);
	req_free(r);
	r = t_stat("/etc/passwd", 0);
	t_ok(r, RES(STAT));
	ck_assert_int_eq(r->res.stat.size, 4);
	req_free(r);
	h_symlink("/etc", "hostetc");
	r = t_stat("hostetc/passwd", 0);
	t_ok(r, RES(STAT));
	ck_assert_int_eq(r->res.stat.size, 4);
	req_free(r);
	h_symlink("../../../../../../etc/shadow", "up");
	t_err(t_stat("up", 0), ENOENT, "up");
	/* Creating through an absolute symlink lands inside too. */
	t_empty(t_mkdir("hostetc/made", 0));
	ck_assert(h_exists("etc/made"));
	/* rmtree never follows the symlink out. */
	t_err(t_pathop(OPC(RMTREE), "hostetc"), ENOTDIR, "hostetc");
	ck_assert(h_exists("etc/passwd"));
}
END_TEST

/* statvfs matches statvfs(3) on the host. */
START_TEST(test_statvfs)
{
	Request			*m = treq_msg();
	Aiofs__V1__Statvfs	*s = calloc(1, sizeof *s);
	struct statvfs		 sv;
	struct req		*r;

	aiofs__v1__statvfs__init(s);
	s->has_path = 1;
	s->path = tbin("/");
	m->op_case = OPC(STATVFS);
	m->statvfs = s;
	r = t_run(m);
	t_ok(r, RES(STATVFS));
	ck_assert_int_eq(statvfs(T.path, &sv), 0);
	ck_assert_uint_eq(r->res.statvfs.bsize, sv.f_bsize);
	ck_assert_uint_eq(r->res.statvfs.frsize, sv.f_frsize);
	ck_assert_uint_eq(r->res.statvfs.blocks, sv.f_blocks);
	ck_assert_uint_eq(r->res.statvfs.files, sv.f_files);
	ck_assert_uint_eq(r->res.statvfs.namemax, sv.f_namemax);
	ck_assert_uint_eq(r->res.statvfs.fsid, sv.f_fsid);
	ck_assert_uint_eq(r->res.statvfs.flag, sv.f_flag);
	req_free(r);

	m = treq_msg();
	s = calloc(1, sizeof *s);
	aiofs__v1__statvfs__init(s);
	s->has_path = 1;
	s->path = tbin("missing");
	m->op_case = OPC(STATVFS);
	m->statvfs = s;
	t_err(t_run(m), ENOENT, "missing");
}
END_TEST

/* mkdir: modes, and every errno. */
START_TEST(test_mkdir)
{
	struct stat	 sb;
	char		 longname[NAME_MAX + 2], longpath[PATH_MAX + 2];

	t_empty(t_mkdir("d", 0700));
	ck_assert_int_eq(h_lstat("d", &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
	t_empty(t_mkdir("d/e", 0));		/* 0 = 0777, umask 022 */
	ck_assert_int_eq(h_lstat("d/e", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0755);
	t_empty(t_mkdir("/d/slash/", 0));	/* trailing slash */
	ck_assert(h_exists("d/slash"));
	t_err(t_mkdir("d", 0), EEXIST, "d");
	t_err(t_mkdir("x/y", 0), ENOENT, "x/y");
	troot_write(&T, "f", "");
	t_err(t_mkdir("f/y", 0), ENOTDIR, "f/y");
	t_einval_msg(t_mkdir("z", 010000), "mode");
	ck_assert(!h_exists("z"));
	t_einval_msg(t_mkdir("d/.", 0), "\".\"");
	t_einval_msg(t_mkdir("d/..", 0), "\"..\"");
	t_einval_msg(t_mkdir("/", 0), "not a name");
	t_err(t_mkdir("", 0), ENOENT, NULL);
	h_symlink("loop2", "loop1");
	h_symlink("loop1", "loop2");
	t_err(t_mkdir("loop1/x", 0), ELOOP, "loop1/x");
	t_err(t_mkdir("loop1", 0), EEXIST, "loop1");	/* the name exists */
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	t_err(t_mkdir(longname, 0), ENAMETOOLONG, longname);
	memset(longpath, 'p', sizeof longpath - 1);
	longpath[sizeof longpath - 1] = '\0';
	t_err(t_mkdir(longpath, 0), ENAMETOOLONG, NULL);
}
END_TEST

/* makedirs: deep, exist_ok, modes, errors. */
START_TEST(test_makedirs)
{
	struct stat	 sb;

	t_empty(t_makedirs("a/b/c/d", 0700, 0));
	ck_assert_int_eq(h_lstat("a/b/c/d", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
	ck_assert_int_eq(h_lstat("a/b", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0755);	/* not mode */
	t_err(t_makedirs("a/b/c/d", 0, 0), EEXIST, "a/b/c/d");
	t_empty(t_makedirs("a/b/c/d", 0, 1));
	t_empty(t_makedirs("a/b/c/d/", 0, 1));
	t_empty(t_makedirs("/", 0, 1));
	t_err(t_makedirs("/", 0, 0), EEXIST, "/");
	troot_write(&T, "a/file", "");
	t_err(t_makedirs("a/file", 0, 1), EEXIST, "a/file");
	t_err(t_makedirs("a/file/x/y", 0, 1), ENOTDIR, "a/file/x/y");
	t_empty(t_makedirs("n/../m//o", 0, 0));	/* Python makes n, m, o */
	ck_assert(h_exists("n"));
	ck_assert(h_exists("m/o"));
	t_einval_msg(t_makedirs("q", 077777, 0), "mode");
	t_err(t_makedirs("", 0, 0), ENOENT, NULL);
	/* Through an absolute symlink: inside the root. */
	h_symlink("/a", "abs");
	t_empty(t_makedirs("abs/new/deep", 0, 0));
	ck_assert(h_exists("a/new/deep"));
}
END_TEST

/* rmdir. */
START_TEST(test_rmdir)
{
	h_mkdir("d");
	h_mkdir("full");
	troot_write(&T, "full/f", "");
	troot_write(&T, "f", "");
	t_empty(t_pathop(OPC(RMDIR), "d"));
	ck_assert(!h_exists("d"));
	t_err(t_pathop(OPC(RMDIR), "d"), ENOENT, "d");
	t_err(t_pathop(OPC(RMDIR), "full"), ENOTEMPTY, "full");
	t_err(t_pathop(OPC(RMDIR), "f"), ENOTDIR, "f");
	t_einval_msg(t_pathop(OPC(RMDIR), "full/."), "\".\"");
	t_einval_msg(t_pathop(OPC(RMDIR), "full/.."), "\"..\"");
	t_einval_msg(t_pathop(OPC(RMDIR), "/"), "not a name");
	ck_assert(h_exists("full"));
}
END_TEST

/* removedirs prunes empty parents named in the path, no further. */
START_TEST(test_removedirs)
{
	struct session	*s;

	h_mkdir("a");
	h_mkdir("a/b");
	h_mkdir("a/b/c");
	troot_write(&T, "a/keep", "");
	t_empty(t_pathop(OPC(REMOVEDIRS), "a/b/c"));
	ck_assert(!h_exists("a/b"));
	ck_assert(h_exists("a/keep"));

	h_mkdir("x");
	h_mkdir("x/y");
	h_mkdir("x/y/z");
	t_empty(t_pathop(OPC(REMOVEDIRS), "/x/y/z/"));
	ck_assert(!h_exists("x"));
	ck_assert(h_exists("a"));

	/* Relative to a cwd: the cwd itself is not in the path. */
	h_mkdir("cw");
	h_mkdir("cw/p");
	h_mkdir("cw/p/q");
	s = session_new(&T.pol, "/cw");
	session_unref(T.sess);
	T.sess = s;
	t_empty(t_pathop(OPC(REMOVEDIRS), "p/q"));
	ck_assert(!h_exists("cw/p"));
	ck_assert(h_exists("cw"));

	h_mkdir("cw/full");
	troot_write(&T, "cw/full/f", "");
	t_err(t_pathop(OPC(REMOVEDIRS), "full"), ENOTEMPTY, "full");
	t_err(t_pathop(OPC(REMOVEDIRS), "none"), ENOENT, "none");
}
END_TEST

/* unlink: files and symlinks, not directories. */
START_TEST(test_unlink)
{
	troot_write(&T, "f", "x");
	troot_write(&T, "target", "x");
	h_symlink("target", "l");
	h_mkdir("d");
	t_empty(t_pathop(OPC(UNLINK), "f"));
	ck_assert(!h_exists("f"));
	t_empty(t_pathop(OPC(UNLINK), "l"));
	ck_assert(!h_exists("l"));
	ck_assert(h_exists("target"));
	t_err(t_pathop(OPC(UNLINK), "f"), ENOENT, "f");
	t_err(t_pathop(OPC(UNLINK), "d"), EISDIR, "d");
	t_err(t_pathop(OPC(UNLINK), "target/x"), ENOTDIR, "target/x");
	t_einval_msg(t_pathop(OPC(UNLINK), "d/.."), "\"..\"");
	t_err(t_pathop(OPC(UNLINK), ""), ENOENT, NULL);
}
END_TEST

/* rename and replace: both replace dst; every errno. */
START_TEST(test_rename)
{
	char	*s;
	int	 opc, i;

	for (i = 0; i < 2; i++) {
		opc = i == 0 ? OPC(RENAME) : OPC(REPLACE);
		troot_write(&T, "a", "A");
		troot_write(&T, "b", "B");
		t_empty(t_twoop(opc, "a", "b"));
		ck_assert(!h_exists("a"));
		s = troot_read(&T, "b", NULL);
		ck_assert_str_eq(s, "A");
		free(s);
		t_err(t_twoop(opc, "a", "c"), ENOENT, "a");
		h_mkdir("d");
		h_mkdir("full");
		troot_write(&T, "full/x", "");
		t_err(t_twoop(opc, "d", "full"), ENOTEMPTY, "full");
		t_err(t_twoop(opc, "b", "d"), EISDIR, "d");
		t_err(t_twoop(opc, "d", "b"), ENOTDIR, "d");
		t_err(t_twoop(opc, "b", "nodir/x"), ENOENT, "nodir/x");
		t_einval_msg(t_twoop(opc, "b", "d/."), "\".\"");
		t_einval_msg(t_twoop(opc, "..", "x"), "\"..\"");
		t_empty(t_twoop(opc, "d", "full/d2"));
		ck_assert(h_exists("full/d2"));
		t_empty(t_pathop(OPC(RMTREE), "full"));
		t_empty(t_pathop(OPC(UNLINK), "b"));
	}
}
END_TEST

/* renames: makes dst's parents, prunes src's empty ones. */
START_TEST(test_renames)
{
	h_mkdir("a");
	h_mkdir("a/b");
	troot_write(&T, "a/b/f", "data");
	troot_write(&T, "keep", "");
	t_empty(t_twoop(OPC(RENAMES), "a/b/f", "x/y/g"));
	ck_assert(h_exists("x/y/g"));
	ck_assert(!h_exists("a"));
	/* A parent that is not empty stays. */
	h_mkdir("p");
	h_mkdir("p/q");
	troot_write(&T, "p/q/f", "");
	troot_write(&T, "p/other", "");
	t_empty(t_twoop(OPC(RENAMES), "p/q/f", "g"));
	ck_assert(!h_exists("p/q"));
	ck_assert(h_exists("p/other"));
	t_err(t_twoop(OPC(RENAMES), "missing", "z/w"), ENOENT, "missing");
	t_err(t_twoop(OPC(RENAMES), "g", "keep/sub/g"), ENOTDIR, "keep/sub");
}
END_TEST

/* link: hard links (a symlink source is linked itself). */
START_TEST(test_link)
{
	struct stat	 a, b;

	troot_write(&T, "f", "x");
	t_empty(t_twoop(OPC(LINK), "f", "g"));
	ck_assert_int_eq(h_lstat("f", &a), 0);
	ck_assert_int_eq(h_lstat("g", &b), 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	ck_assert_uint_eq(a.st_nlink, 2);
	t_err(t_twoop(OPC(LINK), "f", "g"), EEXIST, "g");
	t_err(t_twoop(OPC(LINK), "nope", "h"), ENOENT, "nope");
	h_symlink("/etc/passwd", "sl");
	t_empty(t_twoop(OPC(LINK), "sl", "sl2"));
	ck_assert_int_eq(h_lstat("sl2", &b), 0);
	ck_assert(S_ISLNK(b.st_mode));
	h_mkdir("d");
	t_err(t_twoop(OPC(LINK), "d", "d2"), EPERM, "d");
	t_einval_msg(t_twoop(OPC(LINK), "f", "d/.."), "\"..\"");
}
END_TEST

/* symlink stores the text as-is; readlink gives it back. */
START_TEST(test_symlink_readlink)
{
	Request		*m;
	struct req	*r;
	char		 buf[PATH_MAX], *p;
	ssize_t		 n;
	char		 longt[3000];

	t_empty(t_twoop(OPC(SYMLINK), "/etc/passwd", "l"));
	p = troot_host(&T, "l");
	n = readlink(p, buf, sizeof buf);
	free(p);
	ck_assert_int_eq(n, 11);
	ck_assert(memcmp(buf, "/etc/passwd", 11) == 0);
	r = t_pathop(OPC(READLINK), "l");
	t_ok(r, RES(PATH));
	ck_assert_uint_eq(r->res.path.path.len, 11);
	ck_assert(memcmp(r->res.path.path.data, "/etc/passwd", 11) == 0);
	req_free(r);

	memset(longt, 'a', sizeof longt - 1);
	longt[sizeof longt - 1] = '\0';
	t_empty(t_twoop(OPC(SYMLINK), longt, "long"));
	r = t_pathop(OPC(READLINK), "long");
	t_ok(r, RES(PATH));
	ck_assert_uint_eq(r->res.path.path.len, sizeof longt - 1);
	req_free(r);

	t_err(t_twoop(OPC(SYMLINK), "x", "l"), EEXIST, "l");
	t_err(t_twoop(OPC(SYMLINK), "x", "no/l"), ENOENT, "no/l");
	t_err(t_twoop(OPC(SYMLINK), "", "empty"), ENOENT, "empty");
	m = treq_msg();
	m->op_case = OPC(SYMLINK);
	m->symlink = t_two("", "nul");
	free(m->symlink->src.data);
	m->symlink->src = tbinn("a\0b", 3);
	t_einval_msg(t_run(m), "NUL");
	troot_write(&T, "f", "");
	t_err(t_pathop(OPC(READLINK), "f"), EINVAL, "f");
	t_err(t_pathop(OPC(READLINK), "none"), ENOENT, "none");
	t_einval_msg(t_pathop(OPC(READLINK), "/"), "not a name");
}
END_TEST

/* Run a streaming req to the end, calling chunk() on each part. */
static void
t_stream(struct req *r, void (*chunk)(struct req *, void *), void *arg)
{
	int	 n = 0;

	for (;;) {
		ck_assert_msg(r->error == 0, "chunk %d: %s", n,
		    strerror(r->error));
		chunk(r, arg);
		n++;
		if (!r->more)
			break;
		req_chunk_reset(r);
		treq_run(r);
	}
	ck_assert_ptr_null(r->cursor);
}

/* Names seen by a listing, checked against the host's readdir. */
struct seen {
	const char	*dir;		/* root-relative */
	int		 with_stat;
	char		**names;
	int		 *count;
	size_t		 n;
	size_t		 chunks;
	size_t		 entries;
};

/* Load the host's readdir of rel (no dots) into s. */
static void
seen_init(struct seen *s, const char *rel)
{
	struct dirent	*de;
	DIR		*d;
	char		*p = troot_host(&T, rel);

	memset(s, 0, sizeof *s);
	s->dir = rel;
	d = opendir(p);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		s->names = realloc(s->names, (s->n + 1) * sizeof *s->names);
		s->names[s->n++] = strdup(de->d_name);
	}
	closedir(d);
	s->count = calloc(s->n + 1, sizeof *s->count);
	free(p);
}

/* Count one name arriving. */
static void
seen_add(struct seen *s, const uint8_t *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		if (strlen(s->names[i]) == len &&
		    memcmp(s->names[i], name, len) == 0) {
			s->count[i]++;
			return;
		}
	ck_abort_msg("unexpected name %.*s", (int)len, name);
}

/* Every name arrived exactly once; free s. */
static void
seen_done(struct seen *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++) {
		ck_assert_msg(s->count[i] == 1, "%s seen %d times",
		    s->names[i], s->count[i]);
		free(s->names[i]);
	}
	free(s->names);
	free(s->count);
}

/* listdir chunk callback. */
static void
listdir_chunk(struct req *r, void *arg)
{
	struct seen	*s = arg;
	size_t		 i;

	ck_assert_int_eq(r->resp.result_case, RES(NAMES));
	ck_assert_uint_le(r->res.names.n_names, AIOFS_LIST_BATCH);
	ck_assert_uint_le(aiofs__v1__response__get_packed_size(&r->resp),
	    AIOFS_MAX_CHUNK);
	if (r->more)
		ck_assert_uint_gt(r->res.names.n_names, 0);
	for (i = 0; i < r->res.names.n_names; i++)
		seen_add(s, r->res.names.names[i].data,
		    r->res.names.names[i].len);
	s->chunks++;
	s->entries += r->res.names.n_names;
}

/* A listdir/scandir request. */
static struct req *
t_list(int opc, const char *path, int with_stat)
{
	Request			*m = treq_msg();
	Aiofs__V1__Listdir	*l;
	Aiofs__V1__Scandir	*s;

	m->op_case = opc;
	if (opc == OPC(LISTDIR)) {
		l = calloc(1, sizeof *l);
		aiofs__v1__listdir__init(l);
		l->has_path = 1;
		l->path = tbin(path);
		m->listdir = l;
	} else {
		s = calloc(1, sizeof *s);
		aiofs__v1__scandir__init(s);
		s->has_path = 1;
		s->path = tbin(path);
		s->has_with_stat = 1;
		s->with_stat = with_stat;
		m->scandir = s;
	}
	return (t_run(m));
}

/* listdir: small, empty, errors. */
START_TEST(test_listdir)
{
	struct seen	 s;
	struct req	*r;

	h_mkdir("d");
	h_mkdir("d/sub");
	troot_write(&T, "d/a", "");
	h_symlink("nowhere", "d/l");
	seen_init(&s, "d");
	r = t_list(OPC(LISTDIR), "d", 0);
	t_stream(r, listdir_chunk, &s);
	ck_assert_uint_eq(s.chunks, 1);
	ck_assert_uint_eq(s.entries, 3);
	seen_done(&s);
	req_free(r);

	h_mkdir("empty");
	r = t_list(OPC(LISTDIR), "empty", 0);
	t_ok(r, RES(NAMES));
	ck_assert_uint_eq(r->res.names.n_names, 0);
	ck_assert_int_eq(r->more, 0);
	req_free(r);

	h_symlink("d", "dl");		/* listdir follows */
	seen_init(&s, "d");
	r = t_list(OPC(LISTDIR), "dl", 0);
	t_stream(r, listdir_chunk, &s);
	seen_done(&s);
	req_free(r);

	t_err(t_list(OPC(LISTDIR), "none", 0), ENOENT, "none");
	t_err(t_list(OPC(LISTDIR), "d/a", 0), ENOTDIR, "d/a");
	h_symlink("loop2", "loop1");
	h_symlink("loop1", "loop2");
	t_err(t_list(OPC(LISTDIR), "loop1", 0), ELOOP, "loop1");
	t_err(t_list(OPC(LISTDIR), "", 0), ENOENT, NULL);
}
END_TEST

/* listdir of a 10,000-entry directory, in chunks. */
START_TEST(test_listdir_big)
{
	struct seen	 s;
	struct req	*r;

	seen_init(&s, "big");
	ck_assert_uint_eq(s.n, BIGDIR + 1);
	r = t_list(OPC(LISTDIR), "big", 0);
	t_stream(r, listdir_chunk, &s);
	ck_assert_uint_eq(s.entries, BIGDIR + 1);
	ck_assert_uint_eq(s.chunks, (BIGDIR + AIOFS_LIST_BATCH) /
	    AIOFS_LIST_BATCH);
	seen_done(&s);
	req_free(r);

	/* Exactly one batch: no empty trailing chunk. */
	seen_init(&s, "one");
	r = t_list(OPC(LISTDIR), "one", 0);
	t_stream(r, listdir_chunk, &s);
	ck_assert_uint_eq(s.chunks, 1);
	seen_done(&s);
	req_free(r);
}
END_TEST

/* scandir chunk callback: types, inodes and stats against lstat. */
static void
scandir_chunk(struct req *r, void *arg)
{
	struct seen		*s = arg;
	Aiofs__V1__DirEntry	*e;
	struct stat		 sb;
	char			 rel[600];
	size_t			 i;

	ck_assert_int_eq(r->resp.result_case, RES(ENTRIES));
	ck_assert_uint_le(r->res.entries.n_entries, AIOFS_LIST_BATCH);
	ck_assert_uint_le(aiofs__v1__response__get_packed_size(&r->resp),
	    AIOFS_MAX_CHUNK);
	for (i = 0; i < r->res.entries.n_entries; i++) {
		e = r->res.entries.entries[i];
		seen_add(s, e->name.data, e->name.len);
		snprintf(rel, sizeof rel, "%s/%.*s", s->dir,
		    (int)e->name.len, e->name.data);
		ck_assert_int_eq(h_lstat(rel, &sb), 0);
		ck_assert_uint_eq(e->ino, sb.st_ino);
		ck_assert_uint_eq(e->type, IFTODT(sb.st_mode));
		if (!s->with_stat)
			ck_assert_ptr_null(e->stat);
		else {
			ck_assert_ptr_nonnull(e->stat);
			t_stat_eq(e->stat, &sb);
		}
	}
	s->chunks++;
	s->entries += r->res.entries.n_entries;
}

/* scandir (with and without stat): types, inodes, stats. */
START_TEST(test_scandir)
{
	struct seen	 s;
	struct req	*r;
	char		*p;
	int		 ws;

	h_mkdir("d");
	h_mkdir("d/sub");
	troot_write(&T, "d/a", "abc");
	h_symlink("a", "d/l");
	p = troot_host(&T, "d/fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	free(p);
	for (ws = 0; ws < 2; ws++) {
		seen_init(&s, "d");
		s.with_stat = ws;
		r = t_list(OPC(SCANDIR), "d", ws);
		t_stream(r, scandir_chunk, &s);
		ck_assert_uint_eq(s.entries, 4);
		seen_done(&s);
		req_free(r);
	}
	t_err(t_list(OPC(SCANDIR), "none", 1), ENOENT, "none");
	t_err(t_list(OPC(SCANDIR), "d/a", 1), ENOTDIR, "d/a");
}
END_TEST

/* scandir of a 10,000-entry directory, with stats, in chunks. */
START_TEST(test_scandir_big)
{
	struct seen	 s;
	struct req	*r;

	seen_init(&s, "big");
	s.with_stat = 1;
	r = t_list(OPC(SCANDIR), "big", 1);
	t_stream(r, scandir_chunk, &s);
	ck_assert_uint_eq(s.entries, BIGDIR + 1);
	seen_done(&s);
	req_free(r);
}
END_TEST

/* An access request. */
static struct req *
t_access(const char *path, uint32_t mode)
{
	Request			*m = treq_msg();
	Aiofs__V1__Access	*a = calloc(1, sizeof *a);

	aiofs__v1__access__init(a);
	a->has_path = 1;
	a->path = tbin(path);
	a->has_mode = 1;
	a->mode = mode;
	m->op_case = OPC(ACCESS);
	m->access = a;
	return (t_run(m));
}

/* access: Bool like os.access; only a bad mode is an error. */
START_TEST(test_access)
{
	char	*p;

	troot_write(&T, "f", "x");
	troot_write(&T, "none", "x");
	p = troot_host(&T, "none");
	ck_assert_int_eq(chmod(p, 0), 0);
	free(p);
	h_symlink("f", "l");
	h_symlink("/f", "abs");
	t_bool(t_access("f", F_OK), 1);
	t_bool(t_access("f", R_OK | W_OK), 1);
	t_bool(t_access("f", X_OK), 0);		/* no x bit: even root */
	t_bool(t_access("l", R_OK), 1);
	t_bool(t_access("abs", R_OK), 1);	/* /f inside the root */
	t_bool(t_access("missing", F_OK), 0);
	t_bool(t_access("f/x", F_OK), 0);
	if (geteuid() == 0)
		t_bool(t_access("none", R_OK | W_OK), 1);	/* DAC bypass */
	else
		t_bool(t_access("none", R_OK), 0);
	t_einval_msg(t_access("f", 8), "mode");
	t_err(t_access("", F_OK), ENOENT, NULL);
}
END_TEST

/*
 * access under --impersonate: with the thread's fsuid set to the peer's
 * (as creds_enter() does), the answer is the peer's, not root's.  Needs
 * root to switch; as non-root, the plain answer is already the caller's.
 */
START_TEST(test_access_impersonated)
{
	char	*p;

	troot_write(&T, "pub", "x");		/* 0644 root */
	troot_write(&T, "priv", "x");
	p = troot_host(&T, "priv");
	ck_assert_int_eq(chmod(p, 0600), 0);
	free(p);
	ck_assert_int_eq(chmod(T.path, 0755), 0);
	if (geteuid() != 0) {
		t_bool(t_access("priv", R_OK), 1);	/* our own file */
		return;
	}
	syscall(SYS_setfsgid, 65534);
	syscall(SYS_setfsuid, 65534);
	ck_assert_int_eq(syscall(SYS_setfsuid, -1), 65534);
	t_bool(t_access("pub", R_OK), 1);
	t_bool(t_access("pub", W_OK), 0);
	t_bool(t_access("priv", R_OK), 0);
	t_bool(t_access("priv", F_OK), 1);
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
	t_bool(t_access("priv", R_OK | W_OK), 1);
}
END_TEST

/* Become nobody for permission checks (fsuid, as --impersonate does). */
static void
as_nobody(int on)
{
	syscall(SYS_setfsgid, on ? 65534 : 0);
	syscall(SYS_setfsuid, on ? 65534 : 0);
	ck_assert_int_eq(syscall(SYS_setfsuid, -1), on ? 65534 : 0);
}

/*
 * EACCES and EPERM from every kind of op.  As root, DAC would be bypassed,
 * so the checks run with the thread's fsuid switched to nobody; as
 * non-root, directories without the needed bits give the same errors
 * (EPERM needs a file owned by someone else: root only).
 */
START_TEST(test_eacces)
{
	char	*p;
	int	 root = geteuid() == 0;

	ck_assert_int_eq(chmod(T.path, 0755), 0);
	h_mkdir("ro");
	troot_write(&T, "ro/f", "x");
	h_mkdir("ro/sub");
	troot_write(&T, "ro/sub/g", "x");
	h_mkdir("secret");
	troot_write(&T, "secret/f", "x");
	p = troot_host(&T, "secret");
	ck_assert_int_eq(chmod(p, 0), 0);
	free(p);
	p = troot_host(&T, "ro");
	ck_assert_int_eq(chmod(p, 0555), 0);
	free(p);
	if (root)
		as_nobody(1);
	t_err(t_mkdir("ro/x", 0), EACCES, "ro/x");
	t_err(t_makedirs("ro/x/y", 0, 0), EACCES, "ro/x/y");
	t_err(t_pathop(OPC(UNLINK), "ro/f"), EACCES, "ro/f");
	t_err(t_pathop(OPC(RMDIR), "ro/sub"), EACCES, "ro/sub");
	t_err(t_twoop(OPC(RENAME), "ro/f", "ro/g"), EACCES, "ro/f");
	t_err(t_twoop(OPC(SYMLINK), "f", "ro/l"), EACCES, "ro/l");
	t_err(t_twoop(OPC(COPYFILE), "ro/f", "ro/copy"), EACCES, "ro/copy");
	t_err(t_stat("secret/f", 0), EACCES, "secret/f");
	t_err(t_list(OPC(LISTDIR), "secret", 0), EACCES, "secret");
	t_err(t_list(OPC(SCANDIR), "secret", 0), EACCES, "secret");
	t_err(t_pathop(OPC(CHDIR), "secret"), EACCES, "secret");
	t_err(t_pathop(OPC(RMTREE), "ro/sub"), EACCES, "ro/sub/g");
	t_bool(t_access("secret/f", F_OK), 0);
	if (root) {
		/* Not the owner: EPERM, or EACCES for "now" without w. */
		t_err(t_chmod("ro/f", 0600), EPERM, "ro/f");
		t_err(t_utime("ro/f", 1, 1, 0), EPERM, "ro/f");
		t_err(t_utime("ro/f", INT64_MIN, INT64_MIN, 0), EACCES,
		    "ro/f");
		t_err(t_truncate("ro/f", 0), EACCES, "ro/f");
		as_nobody(0);
	}
	p = troot_host(&T, "secret");
	ck_assert_int_eq(chmod(p, 0755), 0);
	free(p);
	p = troot_host(&T, "ro");
	ck_assert_int_eq(chmod(p, 0755), 0);
	free(p);
}
END_TEST

/*
 * A trailing slash means "a directory", as the kernel has it (checked
 * against Linux with Python's os): "f/" never removes or moves file f.
 */
START_TEST(test_trailing_slash)
{
	struct req	*r;

	troot_write(&T, "f", "x");
	h_mkdir("d");
	h_symlink("d", "ld");
	h_symlink("f", "lf");
	t_err(t_pathop(OPC(UNLINK), "f/"), ENOTDIR, "f/");
	t_err(t_pathop(OPC(UNLINK), "ld/"), ENOTDIR, "ld/");
	t_err(t_pathop(OPC(UNLINK), "lf/"), ENOTDIR, "lf/");
	t_err(t_pathop(OPC(UNLINK), "nope/"), ENOENT, "nope/");
	t_err(t_pathop(OPC(RMDIR), "ld/"), ENOTDIR, "ld/");
	t_err(t_pathop(OPC(REMOVEDIRS), "lf/"), ENOTDIR, "lf/");
	t_err(t_twoop(OPC(RENAME), "f/", "x"), ENOTDIR, "f/");
	t_err(t_twoop(OPC(RENAME), "ld/", "x"), ENOTDIR, "ld/");
	t_err(t_twoop(OPC(RENAME), "f", "x/"), ENOTDIR, "x/");
	t_err(t_twoop(OPC(RENAME), "d", "f/"), ENOTDIR, "f/");
	t_err(t_twoop(OPC(RENAME), "d", "ld/"), ENOTDIR, "ld/");
	t_err(t_twoop(OPC(LINK), "f/", "y"), ENOTDIR, "f/");
	t_err(t_twoop(OPC(LINK), "f", "y/"), ENOENT, "y/");
	t_err(t_twoop(OPC(LINK), "f", "lf/"), EEXIST, "lf/");
	t_err(t_twoop(OPC(SYMLINK), "t", "new/"), ENOENT, "new/");
	t_err(t_twoop(OPC(SYMLINK), "t", "f/"), EEXIST, "f/");
	t_err(t_pathop(OPC(READLINK), "ld/"), EINVAL, "ld/");
	t_err(t_pathop(OPC(READLINK), "lf/"), ENOTDIR, "lf/");
	t_err(t_pathop(OPC(READLINK), "nope/"), ENOENT, "nope/");
	t_err(t_mkdir("f/", 0), EEXIST, "f/");
	t_err(t_mkdir("lf/", 0), EEXIST, "lf/");
	ck_assert(h_exists("f") && h_exists("ld") && h_exists("lf"));
	ck_assert(!h_exists("x") && !h_exists("y") && !h_exists("new"));
	t_empty(t_twoop(OPC(RENAME), "d/", "nd/"));	/* dirs: fine */
	ck_assert(h_exists("nd"));
	t_empty(t_pathop(OPC(RMDIR), "nd/"));
	r = t_pathop(OPC(READLINK), "ld");		/* no slash: the link */
	t_ok(r, RES(PATH));
	req_free(r);
}
END_TEST

/* getcwd and chdir: a new session with the normalised cwd. */
START_TEST(test_chdir)
{
	Request		*m;
	struct req	*r;
	struct session	*s;

	m = treq_msg();
	m->op_case = OPC(GETCWD);
	m->getcwd = calloc(1, sizeof *m->getcwd);
	aiofs__v1__empty__init(m->getcwd);
	r = t_run(m);
	t_ok(r, RES(PATH));
	ck_assert_uint_eq(r->res.path.path.len, 1);
	ck_assert(memcmp(r->res.path.path.data, "/", 1) == 0);
	req_free(r);

	h_mkdir("d");
	h_mkdir("d/e");
	troot_write(&T, "d/e/f", "x");
	r = t_pathop(OPC(CHDIR), "d/./e/../e/");
	t_ok(r, RES(EMPTY));
	ck_assert_ptr_nonnull(r->newsess);
	ck_assert_str_eq(r->newsess->cwd, "/d/e");
	s = session_ref(r->newsess);
	req_free(r);
	session_unref(T.sess);
	T.sess = s;
	/* Relative paths now start there. */
	r = t_stat("f", 0);
	t_ok(r, RES(STAT));
	req_free(r);

	/* The new session keeps the peer's identity (--impersonate). */
	T.sess->impersonate = 1;
	T.sess->uid = 1234;
	T.sess->gid = 5678;
	T.sess->groups = calloc(2, sizeof *T.sess->groups);
	T.sess->groups[0] = 5678;
	T.sess->groups[1] = 42;
	T.sess->ngroups = 2;
	r = t_pathop(OPC(CHDIR), "../../../..");
	t_ok(r, RES(EMPTY));
	ck_assert_str_eq(r->newsess->cwd, "/");
	ck_assert_int_eq(r->newsess->impersonate, 1);
	ck_assert_uint_eq(r->newsess->uid, 1234);
	ck_assert_uint_eq(r->newsess->gid, 5678);
	ck_assert_int_eq(r->newsess->ngroups, 2);
	ck_assert_uint_eq(r->newsess->groups[1], 42);
	req_free(r);
	t_err(t_pathop(OPC(CHDIR), "f"), ENOTDIR, "f");
	t_err(t_pathop(OPC(CHDIR), "none"), ENOENT, "none");
	t_err(t_pathop(OPC(CHDIR), ""), ENOENT, NULL);
}
END_TEST

/* A chmod request (mode < 0: unset). */
static struct req *
t_chmod(const char *path, int64_t mode)
{
	Request			*m = treq_msg();
	Aiofs__V1__PathMode	*c = calloc(1, sizeof *c);

	aiofs__v1__path_mode__init(c);
	c->has_path = 1;
	c->path = tbin(path);
	c->has_mode = mode >= 0;
	c->mode = mode >= 0 ? (uint32_t)mode : 0;
	m->op_case = OPC(CHMOD);
	m->chmod = c;
	return (t_run(m));
}

/* chmod: follows symlinks inside the root; bad modes. */
START_TEST(test_chmod)
{
	struct stat	 sb;

	troot_write(&T, "f", "x");
	h_mkdir("d");
	h_symlink("/f", "l");
	t_empty(t_chmod("f", 0640));
	ck_assert_int_eq(h_lstat("f", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0640);
	t_empty(t_chmod("l", 04600));
	ck_assert_int_eq(h_lstat("f", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 04600);
	t_empty(t_chmod("d", 0));
	ck_assert_int_eq(h_lstat("d", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0);
	t_empty(t_chmod("/", 0711));
	ck_assert_int_eq(stat(T.path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0711);
	t_einval_msg(t_chmod("f", 010000), "mode");
	t_einval_msg(t_chmod("f", -1), "mode");
	t_err(t_chmod("none", 0644), ENOENT, "none");
	t_err(t_chmod("f/x", 0644), ENOTDIR, "f/x");
}
END_TEST

/* Make fchmodat2 (452 on every arch) fail ENOSYS in this process. */
static void
no_fchmodat2(void)
{
	struct sock_filter	 filt[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 452, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog	 prog = { sizeof filt / sizeof filt[0], filt };

	ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog),
	    0);
	ck_assert_int_eq(syscall(452, AT_FDCWD, "/", 0755, 0), -1);
	ck_assert_int_eq(errno, ENOSYS);
}

/* chmod on kernels before 6.6 (no fchmodat2): the fallback paths. */
START_TEST(test_chmod_fallback)
{
	struct stat	 sb;
	char		*p;

	troot_write(&T, "f", "x");
	troot_write(&T, "unreadable", "x");
	p = troot_host(&T, "unreadable");
	ck_assert_int_eq(chmod(p, 0200), 0);
	free(p);
	h_mkdir("d");
	h_symlink("/f", "l");
	p = troot_host(&T, "fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	free(p);
	no_fchmodat2();
	t_empty(t_chmod("f", 0640));
	ck_assert_int_eq(h_lstat("f", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0640);
	t_empty(t_chmod("l", 0604));			/* through the link */
	ck_assert_int_eq(h_lstat("f", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0604);
	t_empty(t_chmod("d", 0700));			/* reopened via "." */
	ck_assert_int_eq(h_lstat("d", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
	t_empty(t_chmod("unreadable", 0600));	/* non-root: O_WRONLY */
	ck_assert_int_eq(h_lstat("unreadable", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	t_err(t_chmod("fifo", 0644), EOPNOTSUPP, "fifo");
	t_err(t_chmod("none", 0644), ENOENT, "none");
}
END_TEST

/* A utime request; a time < -1e18 means unset. */
static struct req *
t_utime(const char *path, int64_t at, int64_t mt, int nofollow)
{
	Request			*m = treq_msg();
	Aiofs__V1__Utime	*u = calloc(1, sizeof *u);

	aiofs__v1__utime__init(u);
	u->has_path = 1;
	u->path = tbin(path);
	u->has_atime_ns = at > -1000000000000000000LL;
	u->atime_ns = at;
	u->has_mtime_ns = mt > -1000000000000000000LL;
	u->mtime_ns = mt;
	u->has_no_follow = 1;
	u->no_follow = nofollow;
	m->op_case = OPC(UTIME);
	m->utime = u;
	return (t_run(m));
}

/* utime: exact ns, now, negative times, no_follow on a symlink. */
START_TEST(test_utime)
{
	const int64_t	 unset = INT64_MIN;
	struct stat	 sb, tsb;
	time_t		 now;

	troot_write(&T, "f", "x");
	h_symlink("f", "l");
	t_empty(t_utime("f", 1000000000123456789LL, 1500000000987654321LL,
	    0));
	ck_assert_int_eq(h_lstat("f", &sb), 0);
	ck_assert_int_eq(sb.st_atim.tv_sec, 1000000000);
	ck_assert_int_eq(sb.st_atim.tv_nsec, 123456789);
	ck_assert_int_eq(sb.st_mtim.tv_sec, 1500000000);
	ck_assert_int_eq(sb.st_mtim.tv_nsec, 987654321);

	t_empty(t_utime("f", -1500000000LL, unset, 0));	/* -1.5 s */
	ck_assert_int_eq(h_lstat("f", &sb), 0);
	ck_assert_int_eq(sb.st_atim.tv_sec, -2);
	ck_assert_int_eq(sb.st_atim.tv_nsec, 500000000);
	now = time(NULL);
	ck_assert_int_le(labs(sb.st_mtim.tv_sec - now), 5);

	t_empty(t_utime("l", 42000000000LL, 43000000000LL, 0));	/* follows */
	ck_assert_int_eq(h_lstat("f", &sb), 0);
	ck_assert_int_eq(sb.st_mtim.tv_sec, 43);

	t_empty(t_utime("l", 7000000000LL, 8000000000LL, 1));	/* the link */
	ck_assert_int_eq(h_lstat("l", &sb), 0);
	ck_assert_int_eq(sb.st_mtim.tv_sec, 8);
	ck_assert_int_eq(sb.st_atim.tv_sec, 7);
	ck_assert_int_eq(h_lstat("f", &tsb), 0);
	ck_assert_int_eq(tsb.st_mtim.tv_sec, 43);

	t_empty(t_utime("/", 9000000000LL, 9000000000LL, 1));
	ck_assert_int_eq(stat(T.path, &sb), 0);
	ck_assert_int_eq(sb.st_mtim.tv_sec, 9);
	t_err(t_utime("none", unset, unset, 0), ENOENT, "none");
	t_err(t_utime("f/x", unset, unset, 1), ENOTDIR, "f/x");
}
END_TEST

/* A truncate_path request. */
static struct req *
t_truncate(const char *path, int64_t size)
{
	Request			*m = treq_msg();
	Aiofs__V1__TruncatePath	*t = calloc(1, sizeof *t);

	aiofs__v1__truncate_path__init(t);
	t->has_path = 1;
	t->path = tbin(path);
	t->has_size = 1;
	t->size = size;
	m->op_case = OPC(TRUNCATE_PATH);
	m->truncate_path = t;
	return (t_run(m));
}

/* truncate_path: shrink, grow, errors. */
START_TEST(test_truncate)
{
	struct stat	 sb;
	char		*p;

	troot_write(&T, "f", "hello world");
	t_empty(t_truncate("f", 5));
	p = troot_read(&T, "f", NULL);
	ck_assert_str_eq(p, "hello");
	free(p);
	t_empty(t_truncate("f", 100000));
	ck_assert_int_eq(h_lstat("f", &sb), 0);
	ck_assert_int_eq(sb.st_size, 100000);
	h_mkdir("d");
	t_err(t_truncate("d", 0), EISDIR, "d");
	t_err(t_truncate("none", 0), ENOENT, "none");
	t_einval_msg(t_truncate("f", -1), "negative");
	p = troot_host(&T, "fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	free(p);
	t_err(t_truncate("fifo", 0), ENXIO, "fifo");	/* never hangs */
}
END_TEST

/* copyfile: contents, count, mode, truncation, same file, errors. */
START_TEST(test_copyfile)
{
	struct req	*r;
	struct stat	 sb;
	char		*big, *p, *q;
	size_t		 len, i;
	FILE		*fp;

	troot_write(&T, "src", "some data");
	p = troot_host(&T, "src");
	ck_assert_int_eq(chmod(p, 0640), 0);
	free(p);
	r = t_twoop(OPC(COPYFILE), "src", "dst");
	t_ok(r, RES(COUNT));
	ck_assert_int_eq(r->res.count.count, 9);
	req_free(r);
	p = troot_read(&T, "dst", NULL);
	ck_assert_str_eq(p, "some data");
	free(p);
	ck_assert_int_eq(h_lstat("dst", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0640);

	troot_write(&T, "dst2", "a much longer existing content");
	t_ok((r = t_twoop(OPC(COPYFILE), "src", "dst2")), RES(COUNT));
	req_free(r);
	p = troot_read(&T, "dst2", NULL);
	ck_assert_str_eq(p, "some data");
	free(p);

	/* 3 MiB + 7: several loops of any method. */
	len = 3 * 1024 * 1024 + 7;
	big = malloc(len);
	for (i = 0; i < len; i++)
		big[i] = (char)(i * 7 + i / 4096);
	p = troot_host(&T, "big");
	fp = fopen(p, "w");
	ck_assert_uint_eq(fwrite(big, 1, len, fp), len);
	fclose(fp);
	free(p);
	r = t_twoop(OPC(COPYFILE), "big", "big2");
	t_ok(r, RES(COUNT));
	ck_assert_int_eq(r->res.count.count, (int64_t)len);
	req_free(r);
	p = troot_host(&T, "big2");
	fp = fopen(p, "r");
	q = malloc(len + 1);
	ck_assert_uint_eq(fread(q, 1, len + 1, fp), len);
	ck_assert(memcmp(big, q, len) == 0);
	fclose(fp);
	free(p);
	free(q);
	free(big);

	h_symlink("src", "lsrc");
	t_einval_msg(t_twoop(OPC(COPYFILE), "src", "lsrc"), "same file");
	p = troot_read(&T, "src", NULL);
	ck_assert_str_eq(p, "some data");	/* not truncated */
	free(p);
	h_mkdir("d");
	t_err(t_twoop(OPC(COPYFILE), "d", "x"), EISDIR, "d");
	t_err(t_twoop(OPC(COPYFILE), "src", "d"), EISDIR, "d");
	t_err(t_twoop(OPC(COPYFILE), "none", "x"), ENOENT, "none");
	t_err(t_twoop(OPC(COPYFILE), "src", "no/x"), ENOENT, "no/x");
	p = troot_host(&T, "fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	free(p);
	t_einval_msg(t_twoop(OPC(COPYFILE), "fifo", "x"), "pipe");
	ck_assert(!h_exists("x"));
}
END_TEST

/* A sendfile req between two host fds wrapped as hfiles. */
static struct req *
t_sendfile(struct hfile *out, int in, int64_t off, int64_t count)
{
	Request			*m = treq_msg();
	Aiofs__V1__Sendfile	*s = calloc(1, sizeof *s);
	struct req		*r;

	aiofs__v1__sendfile__init(s);
	s->has_out_handle = s->has_in_handle = 1;
	s->has_offset = off >= 0;
	s->offset = off;
	s->has_count = count >= 0;
	s->count = count;
	m->op_case = OPC(SENDFILE);
	m->sendfile = s;
	r = treq_new(&T, m);
	r->f = out;
	r->fd = in == -1 ? -1 : dup(in);
	treq_run(r);
	return (r);
}

/* sendfile: offset unset uses and moves the in position; set does not. */
START_TEST(test_sendfile)
{
	struct hfile	 hf;
	struct req	*r;
	char		*p, *q;
	int		 in, out;

	troot_write(&T, "in", "0123456789");
	p = troot_host(&T, "in");
	q = troot_host(&T, "out");
	in = open(p, O_RDONLY);
	out = open(q, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	free(p);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(out, 0);
	memset(&hf, 0, sizeof hf);
	hf.fd = out;
	hf.name = q;

	ck_assert_int_eq(lseek(in, 2, SEEK_SET), 2);
	r = t_sendfile(&hf, in, -1, 3);			/* "234" */
	t_ok(r, RES(COUNT));
	ck_assert_int_eq(r->res.count.count, 3);
	req_free(r);
	ck_assert_int_eq(lseek(in, 0, SEEK_CUR), 5);
	r = t_sendfile(&hf, in, 8, 100);		/* "89" */
	t_ok(r, RES(COUNT));
	ck_assert_int_eq(r->res.count.count, 2);
	req_free(r);
	ck_assert_int_eq(lseek(in, 0, SEEK_CUR), 5);
	r = t_sendfile(&hf, in, -1, -1);		/* rest: "56789" */
	t_ok(r, RES(COUNT));
	ck_assert_int_eq(r->res.count.count, 5);
	req_free(r);
	close(out);
	p = troot_read(&T, "out", NULL);
	ck_assert_str_eq(p, "2348956789");
	free(p);

	t_err(t_sendfile(&hf, -1, -1, 1), EBADF, NULL);
	t_err(t_sendfile(NULL, in, -1, 1), EBADF, NULL);
	hf.fd = -1;
	t_err(t_sendfile(&hf, in, -1, 1), EBADF, NULL);
	close(in);
	free(q);
}
END_TEST

/* Make a tree under rel: files, nested dirs, links out to canary. */
static void
h_tree(const char *rel, const char *canary)
{
	char	 p[600];

	h_mkdir(rel);
	snprintf(p, sizeof p, "%s/a", rel);
	h_mkdir(p);
	snprintf(p, sizeof p, "%s/a/b", rel);
	h_mkdir(p);
	snprintf(p, sizeof p, "%s/a/b/c", rel);
	h_mkdir(p);
	snprintf(p, sizeof p, "%s/a/b/c/deep", rel);
	troot_write(&T, p, "deep");
	snprintf(p, sizeof p, "%s/a/f", rel);
	troot_write(&T, p, "f");
	snprintf(p, sizeof p, "%s/a/out", rel);
	h_symlink(canary, p);
	snprintf(p, sizeof p, "%s/top", rel);
	troot_write(&T, p, "top");
	snprintf(p, sizeof p, "%s/sub", rel);
	h_mkdir(p);
	h_many(p, 50);
}

/* rmtree removes the tree, never what its symlinks point at. */
START_TEST(test_rmtree)
{
	char	 canary[600];

	h_mkdir("canary");
	troot_write(&T, "canary/keep", "keep");
	snprintf(canary, sizeof canary, "%s/canary", T.path);
	h_tree("t", canary);
	h_symlink("../../canary", "t/sub/rel");
	t_empty(t_pathop(OPC(RMTREE), "t"));
	ck_assert(!h_exists("t"));
	ck_assert(h_exists("canary/keep"));

	h_symlink("canary", "lnk");
	t_errmsg(t_pathop(OPC(RMTREE), "lnk"), ENOTDIR, "symbolic link");
	ck_assert(h_exists("canary/keep"));
	ck_assert(h_exists("lnk"));
	troot_write(&T, "file", "");
	t_err(t_pathop(OPC(RMTREE), "file"), ENOTDIR, "file");
	t_err(t_pathop(OPC(RMTREE), "none"), ENOENT, "none");
	t_einval_msg(t_pathop(OPC(RMTREE), "."), "not a name");
	t_einval_msg(t_pathop(OPC(RMTREE), "/"), "not a name");
	ck_assert(h_exists("canary/keep"));
}
END_TEST

/*
 * rmtree goes on past an entry it cannot remove and reports the first
 * one, with its path.  As root the entry is a mount point (EBUSY); else
 * an unreadable directory (EACCES).  Without either, say so.
 */
START_TEST(test_rmtree_error)
{
	struct req	*r;
	char		*p;
	int		 mounted = 0, inside, e;

	h_tree("t", "/nonexistent");
	h_mkdir("t/a/mnt");
	p = troot_host(&T, "t/a/mnt");
	if (geteuid() == 0) {
		mounted = mount("none", p, "tmpfs", 0, NULL) == 0;
		if (!mounted)
			fprintf(stderr, "test_rmtree_error: mount: %s: "
			    "EBUSY case not tested\n", strerror(errno));
		else
			troot_write(&T, "t/a/mnt/inside", "x");
	} else
		ck_assert_int_eq(chmod(p, 0), 0);
	r = t_pathop(OPC(RMTREE), "t");
	inside = h_exists("t/a/mnt/inside");
	/* Unmount before any assertion can end the test. */
	if (mounted)
		ck_assert_int_eq(umount2(p, MNT_DETACH), 0);
	if (geteuid() == 0 && !mounted) {
		t_empty(r);
		ck_assert(!h_exists("t"));
	} else {
		e = geteuid() == 0 ? EBUSY : EACCES;
		t_err(r, e, "t/a/mnt");
		ck_assert(!h_exists("t/top"));
		ck_assert(!h_exists("t/sub"));
		ck_assert(!h_exists("t/a/b"));
		ck_assert(!inside);	/* it went into the mount */
	}
	free(p);
}
END_TEST

/* ops_os_rmtree_at, as tempfile cleanup uses it. */
START_TEST(test_rmtree_at)
{
	int	 fd;

	h_tree("t", "/");
	fd = open(T.path, O_PATH | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ops_os_rmtree_at(fd, "t"), 0);
	ck_assert(!h_exists("t"));
	ck_assert_int_eq(ops_os_rmtree_at(fd, "t"), -1);
	ck_assert_int_eq(errno, ENOENT);
	h_symlink("/", "l");
	ck_assert_int_eq(ops_os_rmtree_at(fd, "l"), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	close(fd);
}
END_TEST

/* rmtree honours cancellation between entries. */
START_TEST(test_rmtree_cancel)
{
	Request		*m;
	struct req	*r;

	h_mkdir("t");
	h_many("t", 1100);	/* checked every 1024 entries */
	m = treq_msg();
	m->op_case = OPC(RMTREE);
	m->rmtree = t_path("t");
	r = treq_new(&T, m);
	r->cancelled = 1;
	treq_run(r);
	t_err(r, ECANCELED, NULL);
	ck_assert(h_exists("t"));
}
END_TEST

/* The swapper thread of the rmtree race test. */
struct swapper {
	pthread_t	 thread;
	int		 stop;
	char		 victim[600];	/* host path of a dir in the tree */
	char		 aside[600];
	char		 target[2][600];	/* symlink targets: out */
	unsigned long	 swaps;
};

/* Swap the victim directory for a symlink out of the tree, and back. */
static void *
swapper_main(void *arg)
{
	struct swapper	*s = arg;
	unsigned long	 i = 0;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		if (rename(s->victim, s->aside) == 0) {
			if (symlink(s->target[i++ & 1], s->victim) == 0) {
				s->swaps++;
				sched_yield();
				unlink(s->victim);
			}
			rename(s->aside, s->victim);
		} else
			sched_yield();
	}
	return (NULL);
}

/* Count the files in a host directory. */
static int
h_count(const char *path)
{
	struct dirent	*de;
	DIR		*d = opendir(path);
	int		 n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

/*
 * rmtree racing a thread that swaps a directory of the tree for a symlink
 * to a canary (inside the root by a relative link, and outside it by an
 * absolute one): the canaries are never touched, whatever rmtree says.
 */
START_TEST(test_rmtree_race)
{
	struct swapper	 s;
	char		 hostcanary[] = "/tmp/aiofs-canary.XXXXXX", p[700];
	struct req	*r;
	int		 round, i, fd, ok = 0;

	ck_assert_ptr_nonnull(mkdtemp(hostcanary));
	h_mkdir("canary");
	for (i = 0; i < 20; i++) {
		snprintf(p, sizeof p, "%s/c%d", hostcanary, i);
		fd = open(p, O_WRONLY | O_CREAT, 0644);
		close(fd);
		snprintf(p, sizeof p, "canary/c%d", i);
		troot_write(&T, p, "c");
	}
	for (round = 0; round < RACE_ROUNDS; round++) {
		h_mkdir("t");
		h_mkdir("t/x");
		h_mkdir("t/x/victim");
		h_many("t/x/victim", 8);
		h_mkdir("t/x/victim/inner");
		h_many("t/x/victim/inner", 4);
		h_many("t", 4);
		memset(&s, 0, sizeof s);
		snprintf(s.victim, sizeof s.victim, "%s/t/x/victim", T.path);
		snprintf(s.aside, sizeof s.aside, "%s/aside", T.path);
		snprintf(s.target[0], sizeof s.target[0], "../../canary");
		snprintf(s.target[1], sizeof s.target[1], "%s", hostcanary);
		ck_assert_int_eq(pthread_create(&s.thread, NULL,
		    swapper_main, &s), 0);
		r = t_pathop(OPC(RMTREE), "t");
		ok += r->error == 0;
		req_free(r);
		__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
		pthread_join(s.thread, NULL);
		ck_assert_int_eq(h_count(hostcanary), 20);
		snprintf(p, sizeof p, "%s/canary", T.path);
		ck_assert_int_eq(h_count(p), 20);
		/* Whatever is left (the swapper may restore the victim). */
		ops_os_rmtree_at(T.pol.rootfd, "t");
		ops_os_rmtree_at(T.pol.rootfd, "aside");
		ck_assert(!h_exists("t") && !h_exists("aside"));
	}
	snprintf(p, sizeof p, "rm -rf '%s'", hostcanary);
	ck_assert_int_eq(system(p), 0);
	ck_assert_int_gt(ok, 0);	/* it does remove trees */
}
END_TEST

/* A walk request. */
static struct req *
t_walk(const char *path, int bottom_up)
{
	Request		*m = treq_msg();
	Aiofs__V1__Walk	*w = calloc(1, sizeof *w);

	aiofs__v1__walk__init(w);
	w->has_path = 1;
	w->path = tbin(path);
	w->has_bottom_up = 1;
	w->bottom_up = bottom_up;
	m->op_case = OPC(WALK);
	m->walk = w;
	return (t_run(m));
}

/* One directory as the walk reported it (entries merged). */
struct wdir {
	char	*dirpath;
	char	*dirs;		/* sorted names, one per line */
	char	*files;
};

/* The whole walk, in order. */
struct wres {
	struct wdir	 d[64];
	int		 n;
	int		 extra;	/* directories past d[]: counted only */
	char		**all;	/* every dirpath, to check uniqueness */
	char		*last;	/* dirpath of the previous WalkEntry */
	size_t		 names;
	size_t		 chunks;
	/* big walks: per-name counts */
	int		*count;
	int		 ncount;
};

/* Append "name\n" to a malloc'd string. */
static char *
addline(char *s, const uint8_t *name, size_t len)
{
	size_t	 l = s == NULL ? 0 : strlen(s);

	s = realloc(s, l + len + 2);
	memcpy(s + l, name, len);
	s[l + len] = '\n';
	s[l + len + 1] = '\0';
	return (s);
}

/* Walk chunk callback: merges split entries, enforces the limits. */
static void
walk_chunk(struct req *r, void *arg)
{
	struct wres		*w = arg;
	Aiofs__V1__WalkEntry	*e;
	struct wdir		*d;
	size_t			 i, j, names = 0;
	char			*dp;
	unsigned		 k;

	ck_assert_int_eq(r->resp.result_case, RES(WALK));
	ck_assert_uint_le(r->res.walk.n_entries, AIOFS_LIST_BATCH);
	ck_assert_uint_le(aiofs__v1__response__get_packed_size(&r->resp),
	    AIOFS_MAX_CHUNK);
	if (r->more)
		ck_assert_uint_gt(r->res.walk.n_entries, 0);
	for (i = 0; i < r->res.walk.n_entries; i++) {
		e = r->res.walk.entries[i];
		dp = strndup((char *)e->dirpath.data, e->dirpath.len);
		names += e->n_dirnames + e->n_filenames;
		if (w->last != NULL && strcmp(w->last, dp) == 0)
			d = w->extra > 0 ? NULL : &w->d[w->n - 1];
		else {
			/* A new directory: never one seen before. */
			for (j = 0; j < (size_t)(w->n + w->extra); j++)
				ck_assert_str_ne(w->all[j], dp);
			w->all = realloc(w->all, (w->n + w->extra + 1) *
			    sizeof *w->all);
			w->all[w->n + w->extra] = strdup(dp);
			free(w->last);
			w->last = strdup(dp);
			if (w->n == 64) {	/* wide walks: count only */
				w->extra++;
				d = NULL;
			} else {
				d = &w->d[w->n++];
				memset(d, 0, sizeof *d);
				d->dirpath = strdup(dp);
			}
		}
		if (d == NULL) {
			free(dp);
			continue;
		}
		for (j = 0; j < e->n_dirnames; j++)
			d->dirs = addline(d->dirs, e->dirnames[j].data,
			    e->dirnames[j].len);
		for (j = 0; j < e->n_filenames; j++) {
			if (w->count != NULL && e->filenames[j].len == 6 &&
			    sscanf((char *)e->filenames[j].data + 1, "%5u",
			    &k) == 1 && k < (unsigned)w->ncount)
				w->count[k]++;
			else
				d->files = addline(d->files,
				    e->filenames[j].data, e->filenames[j].len);
		}
		free(dp);
	}
	ck_assert_uint_le(names, AIOFS_LIST_BATCH);
	w->names += names;
	w->chunks++;
}

/* Sort the lines of s in place (a tiny insertion sort on a copy). */
static char *
sortlines(char *s)
{
	char	*lines[256], *copy, *p, *out;
	int	 n = 0, i, j;
	size_t	 len;

	if (s == NULL)
		return (strdup(""));
	copy = strdup(s);
	for (p = strtok(copy, "\n"); p != NULL && n < 256;
	    p = strtok(NULL, "\n"))
		lines[n++] = p;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			p = lines[j];
			lines[j] = lines[j - 1];
			lines[j - 1] = p;
		}
	len = strlen(s) + 1;
	out = calloc(1, len + 1);
	for (i = 0; i < n; i++) {
		strcat(out, lines[i]);
		strcat(out, "\n");
	}
	free(copy);
	free(s);
	return (out);
}

/* Index of dirpath in the walk, -1 if absent; checks dirs and files. */
static int
wfind(struct wres *w, const char *dirpath, const char *dirs,
    const char *files)
{
	int	 i;

	for (i = 0; i < w->n; i++) {
		if (strcmp(w->d[i].dirpath, dirpath) != 0)
			continue;
		w->d[i].dirs = sortlines(w->d[i].dirs);
		w->d[i].files = sortlines(w->d[i].files);
		ck_assert_str_eq(w->d[i].dirs, dirs);
		ck_assert_str_eq(w->d[i].files, files);
		return (i);
	}
	return (-1);
}

/* Free a walk result. */
static void
wres_free(struct wres *w)
{
	int	 i;

	for (i = 0; i < w->n; i++) {
		free(w->d[i].dirpath);
		free(w->d[i].dirs);
		free(w->d[i].files);
	}
	for (i = 0; i < w->n + w->extra; i++)
		free(w->all[i]);
	free(w->all);
	free(w->last);
	free(w->count);
}

/* walk: os.walk's tuples, top-down and bottom-up orders, symlinks. */
START_TEST(test_walk)
{
	struct wres	 w;
	struct req	*r;
	int		 bu, top, a, b, c, e;

	h_mkdir("w");
	h_mkdir("w/a");
	h_mkdir("w/a/b");
	h_mkdir("w/c");
	h_mkdir("w/e");
	troot_write(&T, "w/f1", "");
	troot_write(&T, "w/a/f2", "");
	troot_write(&T, "w/a/b/f3", "");
	h_symlink("a", "w/linkdir");		/* listed, not walked */
	h_symlink("f1", "w/linkfile");
	h_symlink("missing", "w/broken");
	h_symlink("/w", "w/c/abs");		/* to the top: not walked */
	for (bu = 0; bu < 2; bu++) {
		memset(&w, 0, sizeof w);
		r = t_walk("w/", bu);
		t_stream(r, walk_chunk, &w);
		req_free(r);
		ck_assert_int_eq(w.n, 5);
		top = wfind(&w, "w/", "a\nc\ne\nlinkdir\n",
		    "broken\nf1\nlinkfile\n");
		a = wfind(&w, "w/a", "b\n", "f2\n");
		b = wfind(&w, "w/a/b", "", "f3\n");
		c = wfind(&w, "w/c", "abs\n", "");
		e = wfind(&w, "w/e", "", "");
		ck_assert(top >= 0 && a >= 0 && b >= 0 && c >= 0 && e >= 0);
		if (!bu) {
			ck_assert_int_eq(top, 0);
			ck_assert_int_lt(a, b);
		} else {
			ck_assert_int_eq(top, 4);
			ck_assert_int_gt(a, b);
			ck_assert_int_gt(top, c);
		}
		wres_free(&w);
	}

	/* The top may be a symlink: it is followed. */
	memset(&w, 0, sizeof w);
	h_symlink("w/a", "topl");
	r = t_walk("topl", 0);
	t_stream(r, walk_chunk, &w);
	req_free(r);
	ck_assert_int_eq(w.n, 2);
	ck_assert_int_eq(wfind(&w, "topl", "b\n", "f2\n"), 0);
	ck_assert_int_eq(wfind(&w, "topl/b", "", "f3\n"), 1);
	wres_free(&w);

	/* A missing top: one reply, no entries (os.walk yields nothing). */
	r = t_walk("missing", 0);
	t_ok(r, RES(WALK));
	ck_assert_uint_eq(r->res.walk.n_entries, 0);
	ck_assert_int_eq(r->more, 0);
	req_free(r);
	t_err(t_walk("", 0), ENOENT, NULL);
}
END_TEST

/* walk of a tree with a 10,000-entry directory: chunked and merged. */
START_TEST(test_walk_big)
{
	struct wres	 w;
	struct req	*r;
	int		 i, bu;

	for (bu = 0; bu < 2; bu++) {
		memset(&w, 0, sizeof w);
		w.ncount = BIGDIR;
		w.count = calloc(BIGDIR, sizeof *w.count);
		r = t_walk("big", bu);
		t_stream(r, walk_chunk, &w);
		req_free(r);
		/* big/sub/f00000 is counted with big's own f00000. */
		for (i = 0; i < BIGDIR; i++)
			ck_assert_msg(w.count[i] == 1 + (i == 0),
			    "f%05d seen %d times", i, w.count[i]);
		ck_assert_int_eq(w.n, 2);
		ck_assert_int_eq(wfind(&w, bu ? "big/sub" : "big",
		    bu ? "" : "sub\n", ""), 0);
		ck_assert_int_eq(wfind(&w, bu ? "big" : "big/sub",
		    bu ? "sub\n" : "", ""), 1);
		ck_assert_uint_eq(w.names, BIGDIR + 2);
		ck_assert_uint_ge(w.chunks, BIGDIR / AIOFS_LIST_BATCH);
		wres_free(&w);
	}
}
END_TEST

/*
 * A wide tree with long dirpaths: chunks are cut by the entry count and
 * the byte budget, each directory arrives once (merged), none is lost.
 */
START_TEST(test_walk_wide)
{
	struct wres	 w;
	struct req	*r;
	char		 a[251], b[600], p[1300];
	int		 i, bu;

	memset(a, 'a', sizeof a - 1);
	a[sizeof a - 1] = '\0';
	snprintf(b, sizeof b, "w/%s", a);
	h_mkdir("w");
	h_mkdir(b);
	snprintf(b, sizeof b, "w/%s/%s", a, a);
	h_mkdir(b);
	for (i = 0; i < 1100; i++) {
		snprintf(p, sizeof p, "%s/%s%04d", b, a + 10, i);
		h_mkdir(p);
	}
	for (bu = 0; bu < 2; bu++) {
		memset(&w, 0, sizeof w);
		r = t_walk("w", bu);
		t_stream(r, walk_chunk, &w);
		req_free(r);
		ck_assert_int_eq(w.n + w.extra, 1100 + 3);
		ck_assert_uint_eq(w.names, 1100 + 2);
		/* 1100 dirnames (over one batch of names), then 1100
		 * dirpaths of ~750 bytes (over the byte budget). */
		ck_assert_uint_ge(w.chunks, 3);
		wres_free(&w);
	}
}
END_TEST

/* walk honours cancellation. */
START_TEST(test_walk_cancel)
{
	Request		*m;
	Aiofs__V1__Walk	*w;
	struct req	*r;

	h_mkdir("w");
	h_many("w", 1100);	/* checked every 1024 entries */
	m = treq_msg();
	w = calloc(1, sizeof *w);
	aiofs__v1__walk__init(w);
	w->has_path = 1;
	w->path = tbin("w");
	m->op_case = OPC(WALK);
	m->walk = w;
	r = treq_new(&T, m);
	r->cancelled = 1;
	treq_run(r);
	t_err(r, ECANCELED, NULL);
}
END_TEST

/* The ops_os suite. */
/* rename/replace/link across filesystems: EXDEV, nothing moved. */
START_TEST(test_exdev)
{
	struct req	*r[3];
	char		*p;
	int		 i;

	troot_write(&T, "f", "x");
	h_mkdir("xd");
	p = troot_host(&T, "xd");
	if (mount("none", p, "tmpfs", 0, NULL) == -1) {
		/* CI runs as root; a non-root developer sees this line. */
		fprintf(stderr, "test_exdev: mount: %s: EXDEV not tested\n",
		    strerror(errno));
		free(p);
		return;
	}
	r[0] = t_twoop(OPC(RENAME), "f", "xd/f");
	r[1] = t_twoop(OPC(REPLACE), "f", "xd/f");
	r[2] = t_twoop(OPC(LINK), "f", "xd/g");
	/* Unmount before any assertion can end the test. */
	ck_assert_int_eq(umount2(p, MNT_DETACH), 0);
	free(p);
	for (i = 0; i < 3; i++)
		t_err(r[i], EXDEV, NULL);
	ck_assert(h_exists("f"));
}
END_TEST

Suite *
ops_os_suite(void)
{
	Suite	*s = suite_create("ops_os");
	TCase	*tc;

	tc = tcase_create("stat");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stat_fields);
	tcase_add_test(tc, test_stat_errors);
	tcase_add_test(tc, test_unset_path);
	tcase_add_test(tc, test_stat_handle);
	tcase_add_test(tc, test_confinement);
	tcase_add_test(tc, test_statvfs);
	tcase_add_test(tc, test_access);
	tcase_add_test(tc, test_access_impersonated);
	tcase_add_test(tc, test_eacces);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_mkdir);
	tcase_add_test(tc, test_makedirs);
	tcase_add_test(tc, test_rmdir);
	tcase_add_test(tc, test_removedirs);
	tcase_add_test(tc, test_unlink);
	tcase_add_test(tc, test_rename);
	tcase_add_test(tc, test_renames);
	tcase_add_test(tc, test_link);
	tcase_add_test(tc, test_exdev);
	tcase_add_test(tc, test_symlink_readlink);
	tcase_add_test(tc, test_trailing_slash);
	tcase_add_test(tc, test_chdir);
	suite_add_tcase(s, tc);

	tc = tcase_create("attrs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chmod);
	tcase_add_test(tc, test_chmod_fallback);
	tcase_add_test(tc, test_utime);
	tcase_add_test(tc, test_truncate);
	tcase_add_test(tc, test_copyfile);
	tcase_add_test(tc, test_sendfile);
	suite_add_tcase(s, tc);

	tc = tcase_create("listing");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_listdir);
	tcase_add_test(tc, test_scandir);
	tcase_add_test(tc, test_walk);
	tcase_add_test(tc, test_walk_wide);
	tcase_add_test(tc, test_walk_cancel);
	suite_add_tcase(s, tc);

	tc = tcase_create("big");
	tcase_add_unchecked_fixture(tc, big_setup, big_teardown);
	tcase_add_checked_fixture(tc, big_each, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_listdir_big);
	tcase_add_test(tc, test_scandir_big);
	tcase_add_test(tc, test_walk_big);
	suite_add_tcase(s, tc);

	tc = tcase_create("rmtree");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_rmtree);
	tcase_add_test(tc, test_rmtree_error);
	tcase_add_test(tc, test_rmtree_at);
	tcase_add_test(tc, test_rmtree_cancel);
	tcase_add_test(tc, test_rmtree_race);
	suite_add_tcase(s, tc);
	return (s);
}
