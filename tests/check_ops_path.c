/*
 * check_ops_path.c - the os.path.* work functions of ops_path.c, run
 * synchronously on a temporary root: the predicates against what lstat(2)
 * and stat(2) say on the host, samefile, sameopenfile and abspath.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "testutil.h"

#define OPC(x)		AIOFS__V1__REQUEST__OP_##x
#define RES(x)		AIOFS__V1__RESPONSE__RESULT_##x
#define EXISTS		AIOFS__V1__PATH_TEST_KIND__EXISTS
#define ISFILE		AIOFS__V1__PATH_TEST_KIND__ISFILE
#define ISDIR		AIOFS__V1__PATH_TEST_KIND__ISDIR
#define ISLINK		AIOFS__V1__PATH_TEST_KIND__ISLINK
#define ISMOUNT		AIOFS__V1__PATH_TEST_KIND__ISMOUNT

static struct troot	 T;

/* Per-test fixture: a fresh root, quiet logs. */
static void
setup(void)
{
	log_open("check_ops_path", 1, 0);
	troot_init(&T);
}

/* Per-test fixture: remove the root. */
static void
teardown(void)
{
	troot_free(&T);
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

/* Make a req for m and run it once. */
static struct req *
t_run(Request *m)
{
	struct req	*r = treq_new(&T, m);

	treq_run(r);
	return (r);
}

/* Run pathtest kind on len bytes of path; return the Bool (must be one). */
static int
t_testn(int kind, const char *path, size_t len)
{
	Request			*m = treq_msg();
	Aiofs__V1__PathTest	*p = calloc(1, sizeof *p);
	struct req		*r;
	int			 v;

	aiofs__v1__path_test__init(p);
	p->has_path = 1;
	p->path = tbinn(path, len);
	p->has_kind = 1;
	p->kind = kind;
	m->op_case = OPC(PATHTEST);
	m->pathtest = p;
	r = t_run(m);
	ck_assert_msg(r->error == 0, "pathtest %d %s: %s", kind, path,
	    strerror(r->error));
	ck_assert_int_eq(r->resp.result_case, RES(BOOL));
	ck_assert(r->res.boolean.has_value);
	v = r->res.boolean.value;
	req_free(r);
	return (v);
}

/* Run pathtest kind on path. */
static int
t_test(int kind, const char *path)
{
	return (t_testn(kind, path, strlen(path)));
}

/* mkdir and symlink (rel -> target) inside the root on the host. */
#define h_mkdir(rel)		troot_mkdirm(&T, (rel), 0755)
#define h_symlink(target, rel)	troot_symlink(&T, (target), (rel))

/* A fixture of every kind of object. */
static void
h_objects(void)
{
	char	*p;

	troot_write(&T, "f", "data");
	h_mkdir("d");
	h_symlink("f", "lf");
	h_symlink("d", "ld");
	h_symlink("/d", "absd");
	h_symlink("missing", "broken");
	h_symlink("loop2", "loop1");
	h_symlink("loop1", "loop2");
	p = troot_host(&T, "fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	free(p);
}

/* exists: follows symlinks; anything unreachable is False. */
START_TEST(test_exists)
{
	char	 longp[PATH_MAX + 10];

	h_objects();
	ck_assert(t_test(EXISTS, "f"));
	ck_assert(t_test(EXISTS, "d"));
	ck_assert(t_test(EXISTS, "/"));
	ck_assert(t_test(EXISTS, "lf"));
	ck_assert(t_test(EXISTS, "absd"));
	ck_assert(t_test(EXISTS, "fifo"));
	ck_assert(!t_test(EXISTS, "broken"));
	ck_assert(!t_test(EXISTS, "loop1"));		/* ELOOP */
	ck_assert(!t_test(EXISTS, "missing"));		/* ENOENT */
	ck_assert(!t_test(EXISTS, "f/x"));		/* ENOTDIR */
	ck_assert(!t_test(EXISTS, ""));
	ck_assert(!t_testn(EXISTS, "f\0x", 3));		/* NUL: False */
	memset(longp, 'a', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	ck_assert(!t_test(EXISTS, longp));		/* too long */
}
END_TEST

/* isfile, isdir: follow symlinks. */
START_TEST(test_isfile_isdir)
{
	h_objects();
	ck_assert(t_test(ISFILE, "f"));
	ck_assert(t_test(ISFILE, "lf"));
	ck_assert(!t_test(ISFILE, "d"));
	ck_assert(!t_test(ISFILE, "fifo"));
	ck_assert(!t_test(ISFILE, "broken"));
	ck_assert(!t_test(ISFILE, "missing"));
	ck_assert(t_test(ISDIR, "d"));
	ck_assert(t_test(ISDIR, "ld"));
	ck_assert(t_test(ISDIR, "absd"));
	ck_assert(t_test(ISDIR, "/"));
	ck_assert(t_test(ISDIR, "../.."));		/* the root */
	ck_assert(!t_test(ISDIR, "f"));
	ck_assert(!t_test(ISDIR, "loop1"));
	ck_assert(!t_testn(ISDIR, "d\0", 2));
}
END_TEST

/* islink: does not follow the last component. */
START_TEST(test_islink)
{
	h_objects();
	ck_assert(t_test(ISLINK, "lf"));
	ck_assert(t_test(ISLINK, "ld"));
	ck_assert(t_test(ISLINK, "broken"));
	ck_assert(t_test(ISLINK, "loop1"));
	ck_assert(!t_test(ISLINK, "f"));
	ck_assert(!t_test(ISLINK, "d"));
	ck_assert(!t_test(ISLINK, "/"));
	ck_assert(!t_test(ISLINK, "missing"));
	ck_assert(!t_test(ISLINK, "ld/"));	/* trailing slash follows */
}
END_TEST

/*
 * ismount: the root is one; plain entries are not; a tmpfs mounted inside
 * the root is (when this process may mount: say so otherwise).
 */
START_TEST(test_ismount)
{
	char	*p;
	int	 v[5];

	h_objects();
	ck_assert(t_test(ISMOUNT, "/"));
	ck_assert(t_test(ISMOUNT, "."));
	ck_assert(t_test(ISMOUNT, ".."));
	ck_assert(!t_test(ISMOUNT, "d"));
	ck_assert(!t_test(ISMOUNT, "f"));
	ck_assert(!t_test(ISMOUNT, "ld"));
	ck_assert(!t_test(ISMOUNT, "missing"));
	ck_assert(t_test(ISMOUNT, "d/.."));	/* that is the root */
	h_mkdir("mnt");
	p = troot_host(&T, "mnt");
	if (mount("none", p, "tmpfs", 0, NULL) == -1) {
		fprintf(stderr, "test_ismount: mount: %s: mounted case not "
		    "tested\n", strerror(errno));
		free(p);
		return;
	}
	troot_write(&T, "mnt/inner", "");
	h_mkdir("mnt/sub");
	h_symlink("mnt", "lmnt");
	/* Collect, unmount, then assert: a failure leaves no mount. */
	v[0] = t_test(ISMOUNT, "mnt");
	v[1] = t_test(ISMOUNT, "mnt/");
	v[2] = t_test(ISMOUNT, "mnt/sub");
	v[3] = t_test(ISMOUNT, "mnt/inner");
	v[4] = t_test(ISMOUNT, "lmnt");		/* a symlink never is */
	ck_assert_int_eq(umount2(p, MNT_DETACH), 0);
	free(p);
	ck_assert(v[0] && v[1]);
	ck_assert(!v[2] && !v[3] && !v[4]);
}
END_TEST

/* A samefile request on two paths. */
static struct req *
t_samefile(const char *a, const char *b)
{
	Request			*m = treq_msg();
	Aiofs__V1__Samefile	*s = calloc(1, sizeof *s);

	aiofs__v1__samefile__init(s);
	s->has_a = s->has_b = 1;
	s->a = tbin(a);
	s->b = tbin(b);
	m->op_case = OPC(SAMEFILE);
	m->samefile = s;
	return (t_run(m));
}

/* Assert r replied Bool v; free it. */
static void
t_bool(struct req *r, int v)
{
	ck_assert_msg(r->error == 0, "%s: %s", r->op->name,
	    strerror(r->error));
	ck_assert_int_eq(r->resp.result_case, RES(BOOL));
	ck_assert_int_eq(r->res.boolean.value, v);
	req_free(r);
}

/* Assert r failed with errno e on path (NULL: any); free it. */
static void
t_err(struct req *r, int e, const char *path)
{
	ck_assert_msg(r->error == e, "%s: want %s, got %s", r->op->name,
	    strerror(e), r->error ? strerror(r->error) : "ok");
	ck_assert_int_eq(r->resp.result_case, RES(ERROR));
	if (path != NULL) {
		ck_assert_ptr_nonnull(r->errpath);
		ck_assert_str_eq(r->errpath, path);
	}
	req_free(r);
}

/* samefile: hard links and symlinks are the same file; errors. */
START_TEST(test_samefile)
{
	char	*a, *b;

	h_objects();
	troot_write(&T, "g", "data");
	a = troot_host(&T, "f");
	b = troot_host(&T, "hard");
	ck_assert_int_eq(link(a, b), 0);
	free(a);
	free(b);
	t_bool(t_samefile("f", "f"), 1);
	t_bool(t_samefile("f", "hard"), 1);
	t_bool(t_samefile("lf", "/f"), 1);
	t_bool(t_samefile("ld", "absd"), 1);
	t_bool(t_samefile("f", "g"), 0);
	t_bool(t_samefile("/", "d/.."), 1);
	t_err(t_samefile("f", "missing"), ENOENT, "missing");
	t_err(t_samefile("broken", "f"), ENOENT, "broken");
	t_err(t_samefile("loop1", "f"), ELOOP, "loop1");
	t_err(t_samefile("f/x", "f"), ENOTDIR, "f/x");
	t_err(t_samefile("", "f"), ENOENT, NULL);
}
END_TEST

/* sameopenfile: handle a is req->f, handle b a dup'd fd in req->fd. */
START_TEST(test_sameopenfile)
{
	Request			*m;
	Aiofs__V1__Samefile	*s;
	struct hfile		 hf;
	struct req		*r;
	char			*p, *q;
	int			 fa, fb, fc, i;

	troot_write(&T, "f", "x");
	troot_write(&T, "g", "y");
	p = troot_host(&T, "f");
	q = troot_host(&T, "g");
	fa = open(p, O_RDONLY);
	fb = open(p, O_WRONLY);
	fc = open(q, O_RDONLY);
	free(p);
	free(q);
	memset(&hf, 0, sizeof hf);
	hf.fd = fa;
	hf.name = "f";
	for (i = 0; i < 4; i++) {
		m = treq_msg();
		s = calloc(1, sizeof *s);
		aiofs__v1__samefile__init(s);
		s->has_handle_a = s->has_handle_b = 1;
		s->handle_a = 1;
		s->handle_b = 2;
		m->op_case = OPC(SAMEFILE);
		m->samefile = s;
		r = treq_new(&T, m);
		/* What dispatch hands the worker: dups of both fds. */
		r->fd = i == 3 ? -1 : dup(hf.fd);
		r->fd2 = i == 0 ? dup(fb) : i == 1 ? dup(fc) : -1;
		treq_run(r);
		if (i < 2)
			t_bool(r, i == 0);
		else
			t_err(r, EBADF, NULL);
	}
	close(fa);
	close(fb);
	close(fc);
}
END_TEST

/* An abspath request on len bytes of path. */
static struct req *
t_abspathn(const char *path, size_t len)
{
	Request	*m = treq_msg();

	m->op_case = OPC(ABSPATH);
	m->abspath = calloc(1, sizeof *m->abspath);
	aiofs__v1__path__init(m->abspath);
	m->abspath->has_path = 1;
	m->abspath->path = tbinn(path, len);
	return (t_run(m));
}

/* Assert abspath(path) is want. */
static void
t_abspath(const char *path, const char *want)
{
	struct req	*r = t_abspathn(path, strlen(path));

	ck_assert_msg(r->error == 0, "abspath %s: %s", path,
	    strerror(r->error));
	ck_assert_int_eq(r->resp.result_case, RES(PATH));
	ck_assert_uint_eq(r->res.path.path.len, strlen(want));
	ck_assert_msg(memcmp(r->res.path.path.data, want, strlen(want)) == 0,
	    "abspath %s: got %.*s, want %s", path,
	    (int)r->res.path.path.len, r->res.path.path.data, want);
	req_free(r);
}

/* abspath: lexical, against the session cwd, never touching the disk. */
START_TEST(test_abspath)
{
	struct session	*s;
	struct req	*r;

	t_abspath("a", "/a");
	t_abspath("", "/");
	t_abspath(".", "/");
	t_abspath("a/./b//c/", "/a/b/c");
	t_abspath("a/../b", "/b");
	t_abspath("../../..", "/");
	t_abspath("/x/../../y", "/y");
	t_abspath("does/not/exist", "/does/not/exist");
	s = session_new(&T.pol, "/w/d");
	session_unref(T.sess);
	T.sess = s;
	t_abspath("x", "/w/d/x");
	t_abspath("", "/w/d");
	t_abspath("..", "/w");
	t_abspath("/abs", "/abs");
	r = t_abspathn("a\0b", 3);
	ck_assert_int_eq(r->error, EINVAL);
	req_free(r);
}
END_TEST

/* The ops_path suite. */
Suite *
ops_path_suite(void)
{
	Suite	*s = suite_create("ops_path");
	TCase	*tc;

	tc = tcase_create("predicates");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_exists);
	tcase_add_test(tc, test_isfile_isdir);
	tcase_add_test(tc, test_islink);
	tcase_add_test(tc, test_ismount);
	suite_add_tcase(s, tc);

	tc = tcase_create("samefile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_samefile);
	tcase_add_test(tc, test_sameopenfile);
	suite_add_tcase(s, tc);

	tc = tcase_create("abspath");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_abspath);
	suite_add_tcase(s, tc);
	return (s);
}
