/*
 * check_impersonate.c - --impersonate (as root): each request runs with
 * the peer's fsuid/fsgid/groups, on whatever worker it lands.
 *
 *	two users interleave thousands of creates (pipelined, so that the
 *	workers alternate between them): every file is owned by its
 *	creator, none by the other user or by root;
 *	user A cannot read, write, chmod, utime, remove or copy user B's
 *	0600 file;
 *	an identity survives chdir (the session made by chdir keeps it);
 *	after serving users, a worker is root again (a root client creates
 *	root-owned files and reads the 0600 file).
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

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

#define IM_A		40001
#define IM_B		40002
#define IM_BATCH	32

static struct secd	 D;

/* What a user process does. */
struct im_job {
	const char	*sock;
	char		 tag;		/* 'a' or 'b' */
	int		 n;		/* files to create */
};

/* Completion callback: count failures in data. */
static void
im_cb(aiofs_req_t *r)
{
	int	*failed = r->data;

	if (r->result < 0)
		(*failed)++;
}

/* Create n files and n/10 directories in /shared, IM_BATCH in flight. */
static int
im_creator(void *arg)
{
	struct im_job	*j = arg;
	aiofs_req_t	 r[IM_BATCH];
	aiofs_t		*h = NULL;
	char		 name[IM_BATCH][64];
	int		 i, k, failed = 0;

	if (aiofs_connect(&h, j->sock, "creator") != 0)
		return (1);
	for (i = 0; i < j->n; i += IM_BATCH) {
		for (k = 0; k < IM_BATCH && i + k < j->n; k++) {
			memset(&r[k], 0, sizeof r[k]);
			r[k].data = &failed;
			if ((i + k) % 10 == 9) {
				snprintf(name[k], sizeof name[k],
				    "/shared/%c-dir-%d", j->tag, i + k);
				if (aiofs_mkdir(h, &r[k], name[k], 0755,
				    im_cb) != 0)
					return (2);
			} else {
				snprintf(name[k], sizeof name[k],
				    "/shared/%c-%d", j->tag, i + k);
				if (aiofs_writefile(h, &r[k], name[k], name[k],
				    strlen(name[k]), 0, im_cb) != 0)
					return (2);
			}
		}
		if (aiofs_run(h) != 0)
			return (3);
		while (k-- > 0)
			aiofs_req_cleanup(&r[k]);
	}
	aiofs_close(h);
	return (failed == 0 ? 0 : 4);
}

/* Start the daemon with --impersonate and a world-writable /shared. */
static int
im_start(void)
{
	const char	*args[] = { "--impersonate", NULL };
	struct secd_opts o;
	char		 p[PATH_MAX];

	if (geteuid() != 0) {
		fprintf(stderr, "impersonate: needs root; skipped\n");
		return (-1);
	}
	memset(&o, 0, sizeof o);
	o.tmpfs = sec_private_mounts() == 0;
	secd_start(&D, args, &o);
	secd_open_perms(&D);
	snprintf(p, sizeof p, "%s/shared", D.root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(chmod(p, 01777), 0);
	return (0);
}

/* Check the owner of everything in /shared by its name's tag. */
static void
im_check_owners(int expect_each)
{
	struct dirent	*de;
	struct stat	 sb;
	char		 p[PATH_MAX], q[PATH_MAX];
	DIR		*d;
	int		 na = 0, nb = 0, wrong = 0;
	uid_t		 want;

	snprintf(p, sizeof p, "%s/shared", D.root);
	ck_assert_ptr_nonnull(d = opendir(p));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != 'a' && de->d_name[0] != 'b')
			continue;
		snprintf(q, sizeof q, "%s/%s", p, de->d_name);
		ck_assert_int_eq(lstat(q, &sb), 0);
		want = de->d_name[0] == 'a' ? IM_A : IM_B;
		if (sb.st_uid != want || sb.st_gid != want) {
			if (wrong++ == 0)
				fprintf(stderr, "impersonate: %s is owned by "
				    "%u:%u\n", de->d_name,
				    (unsigned)sb.st_uid, (unsigned)sb.st_gid);
		}
		if (want == IM_A)
			na++;
		else
			nb++;
	}
	closedir(d);
	ck_assert_msg(wrong == 0, "%d files owned by the wrong uid", wrong);
	ck_assert_int_eq(na, expect_each);
	ck_assert_int_eq(nb, expect_each);
}

START_TEST(impersonate_interleaved)
{
	struct im_job	 a = { NULL, 'a', 2000 }, b = { NULL, 'b', 2000 };
	pid_t		 pa, pb;
	int		 sa, sb;

	if (im_start() == -1)
		return;
	a.sock = b.sock = D.sock;
	/* Both at once: the four workers serve them interleaved. */
	pa = fork();
	ck_assert_int_ge(pa, 0);
	if (pa == 0)
		_exit(sec_run_as(IM_A, IM_A, im_creator, &a));
	pb = fork();
	ck_assert_int_ge(pb, 0);
	if (pb == 0)
		_exit(sec_run_as(IM_B, IM_B, im_creator, &b));
	ck_assert_int_eq(waitpid(pa, &sa, 0), pa);
	ck_assert_int_eq(waitpid(pb, &sb, 0), pb);
	ck_assert_msg(WIFEXITED(sa) && WEXITSTATUS(sa) == 0, "user A: %#x",
	    sa);
	ck_assert_msg(WIFEXITED(sb) && WEXITSTATUS(sb) == 0, "user B: %#x",
	    sb);
	im_check_owners(2000);
	secd_stop(&D);
}
END_TEST

/* User B: a private file. */
static int
im_b_private(void *arg)
{
	aiofs_req_t	 r;
	aiofs_t		*h = NULL;
	int		 rc;

	if (aiofs_connect(&h, arg, "b") != 0)
		return (1);
	memset(&r, 0, sizeof r);
	rc = aiofs_open(h, &r, "/shared/b-private", "wb", NULL, NULL);
	if (rc != 0)
		return (2);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	rc = aiofs_chmod(h, &r, "/shared/b-private", 0600, NULL);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	rc |= aiofs_writefile(h, &r, "/shared/b-private", "B-SECRET", 8, 0,
	    NULL) != 8;
	aiofs_req_cleanup(&r);
	aiofs_close(h);
	return (rc == 0 ? 0 : 3);
}

/* A's attacks, and where it writes what got through (shared memory). */
struct im_attack {
	const char	*sock;
	char		*report;	/* MAP_SHARED, IM_REPORT bytes */
};
#define IM_REPORT	4096

/* Record a wrong result in the shared report. */
static void
im_wrong(struct im_attack *a, const char *where, const char *what, int rc,
    int want)
{
	size_t	 len = strlen(a->report);

	snprintf(a->report + len, IM_REPORT - len, "%s%s %s: got %d (%s), "
	    "want %d", len > 0 ? "; " : "", where, what, rc,
	    rc < 0 ? aiofs_errname(rc) : "", want);
}

/* User A: every way to touch B's private file fails. */
static int
im_a_attacks(void *arg)
{
	struct im_attack *a = arg;
	aiofs_req_t	 r;
	aiofs_t		*h = NULL;
	const char	*where, *p;
	int64_t		 t = 1;
	int		 rc, round;

	if (aiofs_connect(&h, a->sock, "a") != 0)
		return (1);
	/* Once from "/", once after chdir: the identity must hold. */
	for (round = 0; round < 2; round++) {
		where = round == 0 ? "from /" : "after chdir";
		p = round == 0 ? "/shared/b-private" : "b-private";
		if (round == 1) {
			memset(&r, 0, sizeof r);
			rc = aiofs_chdir(h, &r, "/shared", NULL);
			aiofs_req_cleanup(&r);
			if (rc != 0)
				im_wrong(a, where, "chdir", rc, 0);
		}
#define TRY(what, call, want) do {					\
	memset(&r, 0, sizeof r);					\
	rc = (call);							\
	aiofs_req_cleanup(&r);						\
	if (rc != (want))						\
		im_wrong(a, where, what, rc, want);			\
} while (0)
		TRY("readfile", aiofs_readfile(h, &r, p, 0, -1, NULL),
		    -EACCES);
		TRY("open rb", aiofs_open(h, &r, p, "rb", NULL, NULL),
		    -EACCES);
		TRY("open ab", aiofs_open(h, &r, p, "ab", NULL, NULL),
		    -EACCES);
		TRY("writefile", aiofs_writefile(h, &r, p, "A", 1, 0, NULL),
		    -EACCES);
		TRY("chmod", aiofs_chmod(h, &r, p, 0666, NULL), -EPERM);
		TRY("utime", aiofs_utime(h, &r, p, &t, &t, 1, NULL), -EPERM);
		TRY("truncate_path", aiofs_truncate_path(h, &r, p, 0, NULL),
		    -EACCES);
		TRY("unlink", aiofs_unlink(h, &r, p, NULL), -EPERM);
		TRY("copyfile", aiofs_copyfile(h, &r, p, "/shared/a-copy",
		    NULL), -EACCES);
		TRY("access R_OK", aiofs_access(h, &r, p, R_OK, NULL), 0);
		/* What A creates is A's. */
		TRY("writefile own", aiofs_writefile(h, &r, round == 0 ?
		    "/shared/a-mine" : "a-mine-after-chdir", "A", 1, 0, NULL),
		    1);
#undef TRY
	}
	aiofs_close(h);
	return (a->report[0] == '\0' ? 0 : 2);
}

START_TEST(impersonate_isolation)
{
	struct im_attack atk;
	struct stat	 sb;
	aiofs_req_t	 r;
	aiofs_t		*h;
	char		 p[PATH_MAX];
	int		 rc;

	if (im_start() == -1)
		return;
	ck_assert_int_eq(sec_run_as(IM_B, IM_B, im_b_private, D.sock), 0);
	snprintf(p, sizeof p, "%s/shared/b-private", D.root);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(sb.st_uid, IM_B);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);

	atk.sock = D.sock;
	atk.report = mmap(NULL, IM_REPORT, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(atk.report, MAP_FAILED);
	atk.report[0] = '\0';
	rc = sec_run_as(IM_A, IM_A, im_a_attacks, &atk);
	ck_assert_msg(rc == 0, "user A vs B's 0600 file (exit %d): %s", rc,
	    atk.report);
	ck_assert_msg(sec_file_is(p, "B-SECRET"), "B's file was changed");
	snprintf(p, sizeof p, "%s/shared/a-mine", D.root);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(sb.st_uid, IM_A);
	snprintf(p, sizeof p, "%s/shared/a-mine-after-chdir", D.root);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_msg(sb.st_uid == IM_A, "a file made after chdir is owned by "
	    "%u, not by its creator %u", (unsigned)sb.st_uid, IM_A);

	/* The workers are the daemon's own again for a root client. */
	h = sec_connect(&D);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_readfile(h, &r, "/shared/b-private", 0, -1,
	    NULL), 8);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_writefile(h, &r, "/shared/root-file", "R", 1,
	    0, NULL), 1);
	aiofs_req_cleanup(&r);
	aiofs_close(h);
	snprintf(p, sizeof p, "%s/shared/root-file", D.root);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(sb.st_uid, 0);
	ck_assert_int_eq(sb.st_gid, 0);
	secd_stop(&D);
}
END_TEST

Suite *
impersonate_suite(void)
{
	Suite	*s = suite_create("impersonate");
	TCase	*tc = tcase_create("impersonate");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, impersonate_interleaved);
	tcase_add_test(tc, impersonate_isolation);
	suite_add_tcase(s, tc);
	return (s);
}
