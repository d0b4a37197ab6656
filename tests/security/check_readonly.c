/*
 * check_readonly.c - --read-only: every mutating operation, and every
 * open (and OpenFd) whose mode writes, creates, truncates or appends, is
 * refused with EROFS, and nothing in the root changes; reading still
 * works.  Run in both resolution modes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "secutil.h"

static struct secd	 D;
static aiofs_t		*H;
static struct canary	 SNAP;

/* A small tree in the root. */
static void
ro_tree(const char *root)
{
	char	 p[PATH_MAX];

	snprintf(p, sizeof p, "%s/f", root);
	sec_write(p, "contents\n");
	snprintf(p, sizeof p, "%s/d", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/d/g", root);
	sec_write(p, "g\n");
	snprintf(p, sizeof p, "%s/empty", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/tmp", root);
	ck_assert_int_eq(mkdir(p, 01777), 0);
	snprintf(p, sizeof p, "%s/lnk", root);
	ck_assert_int_eq(symlink("f", p), 0);
}

/* Expect EROFS from a finished request, and no change in the root. */
static void
ro_refused(const char *what, int rc, aiofs_req_t *r)
{
	ck_assert_msg(rc == -EROFS, "read-only %s: got %d (%s), not EROFS",
	    what, rc, aiofs_errname(rc));
	if (r != NULL)
		aiofs_req_cleanup(r);
	canary_check(&SNAP, "read-only %s", what);
}

/* Open a file read-only; its handle. */
static aiofs_file_t
ro_open_r(const char *p)
{
	aiofs_req_t	 r;
	aiofs_file_t	 f;

	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_open(H, &r, p, "rb", NULL, NULL), 0);
	f = r.file;
	aiofs_req_cleanup(&r);
	return (f);
}

static void
ro_run(int strict)
{
	static const char *const modes[] = {
		"w", "wb", "wt", "a", "ab", "x", "xb", "r+", "rb+", "r+b",
		"w+", "wb+", "a+", "ab+", "x+", "xb+", "rt+"
	};
	static const char *const paths[] = { "f", "new", "d/g", "lnk" };
	const char	*args[] = { "--read-only", "--allow-fd-passing",
	    strict ? "--strict-paths" : NULL, NULL };
	aiofs_temp_opts_t o = AIOFS_TEMP_OPTS_INIT;
	aiofs_req_t	 r;
	aiofs_file_t	 fa, fb;
	int64_t		 t = 1;
	char		 what[128];
	size_t		 i, j;
	int		 k;

	secd_start(&D, args, NULL);
	ro_tree(D.root);
	canary_attach(&SNAP, D.root);
	H = sec_connect(&D);
	ck_assert(aiofs_has_capability(H, "read-only"));

	for (i = 0; i < sizeof modes / sizeof modes[0]; i++)
		for (j = 0; j < sizeof paths / sizeof paths[0]; j++) {
			snprintf(what, sizeof what, "open(%s, %s)", paths[j],
			    modes[i]);
			memset(&r, 0, sizeof r);
			ro_refused(what, aiofs_open(H, &r, paths[j], modes[i],
			    NULL, NULL), &r);
			snprintf(what, sizeof what, "openfd(%s, %s)",
			    paths[j], modes[i]);
			memset(&r, 0, sizeof r);
			r.fd = -1;
			ro_refused(what, aiofs_openfd(H, &r, paths[j],
			    modes[i], 0644, NULL), &r);
			ck_assert_int_eq(r.fd, -1);
		}

#define RO(what, call) do {						\
	memset(&r, 0, sizeof r);					\
	ro_refused(what, (call), &r);					\
} while (0)
	RO("writefile", aiofs_writefile(H, &r, "f", "x", 1, 0, NULL));
	RO("writefile new", aiofs_writefile(H, &r, "new", "x", 1, 0, NULL));
	RO("writefile append", aiofs_writefile(H, &r, "f", "x", 1,
	    AIOFS_WRITEFILE_APPEND, NULL));
	RO("writefile atomic", aiofs_writefile(H, &r, "f", "x", 1,
	    AIOFS_WRITEFILE_ATOMIC, NULL));
	RO("rename", aiofs_rename(H, &r, "f", "f2", NULL));
	RO("renames", aiofs_renames(H, &r, "d/g", "x/y", NULL));
	RO("replace", aiofs_replace(H, &r, "f", "d/g", NULL));
	RO("unlink", aiofs_unlink(H, &r, "f", NULL));
	RO("remove", aiofs_remove(H, &r, "lnk", NULL));
	RO("mkdir", aiofs_mkdir(H, &r, "nd", 0755, NULL));
	RO("makedirs", aiofs_makedirs(H, &r, "nd/a/b", 0755, 1, NULL));
	RO("rmdir", aiofs_rmdir(H, &r, "empty", NULL));
	RO("removedirs", aiofs_removedirs(H, &r, "empty", NULL));
	RO("link", aiofs_link(H, &r, "f", "hl", NULL));
	RO("symlink", aiofs_symlink(H, &r, "f", "sl", NULL));
	RO("chmod", aiofs_chmod(H, &r, "f", 0600, NULL));
	RO("chmod dir", aiofs_chmod(H, &r, "d", 0700, NULL));
	RO("utime", aiofs_utime(H, &r, "f", &t, &t, 1, NULL));
	RO("utime now", aiofs_utime(H, &r, "f", NULL, NULL, 0, NULL));
	RO("truncate_path", aiofs_truncate_path(H, &r, "f", 0, NULL));
	RO("copyfile", aiofs_copyfile(H, &r, "f", "copy", NULL));
	RO("copyfile over", aiofs_copyfile(H, &r, "d/g", "f", NULL));
	RO("rmtree", aiofs_rmtree(H, &r, "d", NULL));
	for (k = AIOFS_TEMPORARY_FILE; k <= AIOFS_MKDTEMP; k++) {
		o.kind = (aiofs_temp_kind_t)k;
		snprintf(what, sizeof what, "tempfile kind %d", k);
		RO(what, aiofs_tempfile(H, &r, &o, NULL));
		o.dir = "d";
		snprintf(what, sizeof what, "tempfile kind %d dir=d", k);
		RO(what, aiofs_tempfile(H, &r, &o, NULL));
		o.dir = NULL;
	}
	/* sendfile writes into its out handle: refused before anything. */
	fa = ro_open_r("f");
	fb = ro_open_r("d/g");
	RO("sendfile", aiofs_sendfile(H, &r, fa, fb, 0, 100, NULL));
#undef RO

	/* A read-only handle cannot write either (EBADF, not a change). */
	memset(&r, 0, sizeof r);
	ck_assert_int_lt(aiofs_write(H, &r, fa, "x", 1, NULL), 0);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_lt(aiofs_pwrite(H, &r, fa, "x", 1, 0, NULL), 0);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_lt(aiofs_truncate(H, &r, fa, 0, NULL), 0);
	aiofs_req_cleanup(&r);
	canary_check(&SNAP, "writes on a read-only handle");

	/* Reading still works. */
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_readfile(H, &r, "f", 0, -1, NULL), 9);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_pread(H, &r, fa, 100, 0, NULL), 9);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_listdir(H, &r, "/", NULL), 5);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_stat(H, &r, "lnk", 1, NULL), 0);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	r.fd = -1;
	ck_assert_int_eq(aiofs_openfd(H, &r, "f", "rb", 0, NULL), 0);
	ck_assert_int_ge(r.fd, 0);
	close(r.fd);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	aiofs_fclose(H, &r, fa, NULL);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	aiofs_fclose(H, &r, fb, NULL);
	aiofs_req_cleanup(&r);
	canary_check(&SNAP, "read-only, at the end");
	canary_free(&SNAP);
	aiofs_close(H);
	secd_stop(&D);
}

START_TEST(readonly_default)
{
	ro_run(0);
}
END_TEST

START_TEST(readonly_strict)
{
	ro_run(1);
}
END_TEST

Suite *
readonly_suite(void)
{
	Suite	*s = suite_create("readonly");
	TCase	*tc = tcase_create("readonly");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, readonly_default);
	tcase_add_test(tc, readonly_strict);
	suite_add_tcase(s, tc);
	return (s);
}
