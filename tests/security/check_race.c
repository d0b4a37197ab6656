/*
 * check_race.c - symlink races: a thread swaps a directory of the root
 * for a symlink to the canary (renameat2 RENAME_EXCHANGE, as fast as it
 * can) while clients resolve, create and remove through it.  The
 * kernel's openat2 confinement and the daemon's *at() discipline must
 * leave no window: the canary is never touched, and no fd of the daemon
 * ever points outside the root.
 *
 *	race_paths	open-for-write, writefile, mkdir, unlink, rename,
 *			chmod, truncate, rmtree of a child, symlink...
 *			through "work", which flips between a real
 *			directory and a link out (absolute and relative);
 *	race_rmtree	rmtree of a tree whose subdirectory flips between a
 *			directory and a link out (the classic rmtree race).
 *
 * SEC_RACE_ROUNDS (default 2000) is the number of client operations
 * (race_paths) and ten times the number of rmtree rounds (race_rmtree);
 * race-long.sh runs 400,000.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "secutil.h"

#define RACE_DEFAULT_ROUNDS	2000
#define RACE_CLIENTS		2
#define RACE_NRC		140	/* errno values counted */

struct race {
	struct secd	 d;
	struct canary	 c;
	int		 strict;
	int		 rootfd;
	int		 dirfd;		/* where the two names are */
	int		 realfd;	/* the real directory, or -1 */
	const char	*a, *b;		/* the two names exchanged */
	volatile int	 stop;
	unsigned long	 swaps;
	unsigned long	 rounds;
	unsigned long	 next;		/* next op number (atomic) */
	unsigned long	 results[RACE_NRC];	/* [-rc]; [0] ok */
};

static struct race	 R;

/* Rounds from SEC_RACE_ROUNDS. */
static unsigned long
race_rounds(void)
{
	const char	*s = getenv("SEC_RACE_ROUNDS");
	unsigned long	 n;

	if (s == NULL || (n = strtoul(s, NULL, 10)) == 0)
		return (RACE_DEFAULT_ROUNDS);
	return (n);
}

/* Put back what the ops removed from the real directory. */
static void
race_restore(int fd)
{
	ssize_t	 n;
	int	 f;

	if (faccessat(fd, "secret", F_OK, AT_SYMLINK_NOFOLLOW) == -1 &&
	    (f = openat(fd, "secret", O_WRONLY | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0666)) != -1) {
		n = write(f, "x", 1);
		(void)n;
		close(f);
	}
	mkdirat(fd, "sub", 0755);
	if ((f = openat(fd, "sub/f", O_WRONLY | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0666)) != -1)
		close(f);
	mkdirat(fd, "empty", 0755);
}

/* The swapper: exchange the two names until told to stop. */
static void *
race_swapper(void *arg)
{
	struct race	*r = arg;

	int		 fd;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		fd = __atomic_load_n(&r->dirfd, __ATOMIC_ACQUIRE);
		if (renameat2(fd, r->a, fd, r->b, RENAME_EXCHANGE) == 0)
			r->swaps++;
		if ((r->swaps & 63) == 0 && r->realfd != -1)
			race_restore(r->realfd);
	}
	return (NULL);
}

/* Count a result. */
static void
race_count(struct race *r, int64_t rc)
{
	int	 e = rc >= 0 ? 0 : (int)-rc;

	if (e >= RACE_NRC)
		e = RACE_NRC - 1;
	__atomic_add_fetch(&r->results[e], 1, __ATOMIC_RELAXED);
}

/* One client operation through "work", chosen by n. */
static void
race_op(struct race *r, aiofs_t *h, unsigned long n)
{
	aiofs_req_t	 q;
	aiofs_file_t	 f;
	char		 why[256];
	int64_t		 rc;

	memset(&q, 0, sizeof q);
	switch (n % 14) {
	case 0:
		rc = aiofs_open(h, &q, "work/secret", "wb", NULL, NULL);
		f = q.file;
		if (rc == 0) {
			aiofs_req_cleanup(&q);
			memset(&q, 0, sizeof q);
			aiofs_write(h, &q, f, "RACE", 4, NULL);
			aiofs_req_cleanup(&q);
			memset(&q, 0, sizeof q);
			aiofs_fclose(h, &q, f, NULL);
		}
		break;
	case 1:
		rc = aiofs_writefile(h, &q, "work/secret", "RACE", 4, 0, NULL);
		break;
	case 2:
		rc = aiofs_mkdir(h, &q, "work/newdir", 0755, NULL);
		break;
	case 3:
		rc = aiofs_unlink(h, &q, "work/secret", NULL);
		break;
	case 4:
		rc = aiofs_rename(h, &q, "work/sub/f", "work/renamed", NULL);
		break;
	case 5:
		rc = aiofs_chmod(h, &q, "work/secret", 0600, NULL);
		break;
	case 6:
		rc = aiofs_truncate_path(h, &q, "work/secret", 0, NULL);
		break;
	case 7:
		rc = aiofs_rmtree(h, &q, "work/sub", NULL);
		break;
	case 8:
		rc = aiofs_readfile(h, &q, "work/secret", 0, -1, NULL);
		break;
	case 9:
		rc = aiofs_open(h, &q, "work/created", "xb", NULL, NULL);
		if (rc == 0) {
			f = q.file;
			aiofs_req_cleanup(&q);
			memset(&q, 0, sizeof q);
			aiofs_fclose(h, &q, f, NULL);
		}
		break;
	case 10:
		rc = aiofs_symlink(h, &q, "/", "work/sl", NULL);
		break;
	case 11:
		rc = aiofs_rmdir(h, &q, "work/empty", NULL);
		break;
	case 12:
		rc = aiofs_utime(h, &q, "work/secret", NULL, NULL, 1, NULL);
		break;
	default:
		rc = aiofs_listdir(h, &q, "work", NULL);
		break;
	}
	if (canary_leaks(&r->c, &q, why, sizeof why))
		ck_abort_msg("race: a reply leaks the canary: %s", why);
	aiofs_req_cleanup(&q);
	race_count(r, rc);
}

/* A client thread: its own connection, ops until the rounds are done. */
static void *
race_client(void *arg)
{
	struct race	*r = arg;
	aiofs_t		*h = NULL;
	unsigned long	 n;

	if (sec_try_connect(&r->d, &h) != 0)
		return ((void *)1);
	while ((n = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED)) <
	    r->rounds)
		race_op(r, h, n);
	aiofs_close(h);
	return (NULL);
}

/*
 * Start the canary and the daemon (strict or not) on a tmpfs, with the
 * decoys of hostile_build() so that confined links land somewhere.
 */
static void
race_setup(int strict)
{
	const char	*args[] = { "--strict-paths", NULL };
	struct secd_opts o;

	memset(&R, 0, sizeof R);
	memset(&o, 0, sizeof o);
	R.strict = strict;
	R.realfd = -1;
	o.tmpfs = sec_private_mounts() == 0;
	canary_init(&R.c);
	secd_start(&R.d, strict ? args : NULL, &o);
	hostile_build(R.d.root, &R.c);
	R.rootfd = open(R.d.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(R.rootfd, 0);
	R.dirfd = R.rootfd;
}

/* Stop, check, report. */
static void
race_teardown(const char *what, uint64_t t0)
{
	unsigned long	 i;

	if (R.realfd != -1)
		close(R.realfd);
	if (R.dirfd != R.rootfd)
		close(R.dirfd);
	close(R.rootfd);
	secd_stop(&R.d);
	canary_check(&R.c, "%s: after the daemon stopped", what);
	canary_free(&R.c);
	fprintf(stderr, "%s: %lu ops, %lu swaps, %llu ms; results:", what,
	    R.rounds, R.swaps, (unsigned long long)(sec_now_ms() - t0));
	for (i = 0; i < RACE_NRC; i++)
		if (R.results[i] != 0)
			fprintf(stderr, " %s=%lu", i == 0 ? "ok" :
			    aiofs_errname(-(int)i), R.results[i]);
	fprintf(stderr, "\n");
}

/* race_paths in one mode with one kind of link. */
static void
race_paths(int strict, int relative)
{
	pthread_t	 sw, cl[RACE_CLIENTS];
	struct fdwatch	 w;
	char		 target[PATH_MAX], what[64];
	void		*rv;
	uint64_t	 t0 = sec_now_ms();
	int		 i;

	race_setup(strict);
	/* "work": a real directory; "work_alt": a link to the canary. */
	ck_assert_int_eq(mkdirat(R.rootfd, "work", 0755), 0);
	R.realfd = openat(R.rootfd, "work", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	ck_assert_int_ge(R.realfd, 0);
	race_restore(R.realfd);
	snprintf(target, sizeof target, relative ?
	    "../../../../../../../..%s" : "%s", R.c.dir);
	ck_assert_int_eq(symlinkat(target, R.rootfd, "work_alt"), 0);
	R.a = "work";
	R.b = "work_alt";
	R.rounds = race_rounds();

	fdwatch_start(&w, &R.d);
	ck_assert_int_eq(pthread_create(&sw, NULL, race_swapper, &R), 0);
	for (i = 0; i < RACE_CLIENTS; i++)
		ck_assert_int_eq(pthread_create(&cl[i], NULL, race_client,
		    &R), 0);
	for (i = 0; i < RACE_CLIENTS; i++) {
		pthread_join(cl[i], &rv);
		ck_assert_msg(rv == NULL, "race client could not connect");
	}
	__atomic_store_n(&R.stop, 1, __ATOMIC_RELEASE);
	pthread_join(sw, NULL);
	fdwatch_stop(&w);
	snprintf(what, sizeof what, "race_paths %s %s", strict ? "strict" :
	    "default", relative ? "relative" : "absolute");
	canary_check(&R.c, "%s", what);
	/* The race was real: both states of "work" were met. */
	ck_assert_uint_gt(R.swaps, 0);
	ck_assert_uint_gt(R.results[0], 0);
	if (strict)
		ck_assert_msg(R.results[EXDEV] > 0, "%s: the link side of "
		    "the race was never hit", what);
	race_teardown(what, t0);
}

START_TEST(race_paths_default)
{
	race_paths(0, _i);
}
END_TEST

START_TEST(race_paths_strict)
{
	race_paths(1, _i);
}
END_TEST

/* Build a/b/{many files, c/d/...} for one rmtree round (host side). */
static void
race_tree(int afd)
{
	char	 name[32];
	int	 bfd, i, f;

	mkdirat(afd, "b", 0755);
	if ((bfd = openat(afd, "b", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return;		/* b is the link right now */
	for (i = 0; i < 24; i++) {
		snprintf(name, sizeof name, "f%d", i);
		if ((f = openat(bfd, name, O_WRONLY | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0644)) != -1)
			close(f);
	}
	mkdirat(bfd, "sub", 0755);
	mkdirat(bfd, "secret", 0755);	/* a name the canary has */
	close(bfd);
}

/*
 * rmtree("a") while a/b flips between a directory (full of files) and a
 * link to the canary; the tree is rebuilt for every round.
 */
static void
race_rmtree(int strict)
{
	struct fdwatch	 w;
	aiofs_req_t	 q;
	aiofs_t		*h;
	pthread_t	 sw;
	char		 p[PATH_MAX], what[64];
	unsigned long	 i, rounds = race_rounds() / 10;
	uint64_t	 t0 = sec_now_ms();
	int		 afd, nfd, rc, old[64];
	unsigned	 nold = 0, k;

	if (rounds == 0)
		rounds = 1;
	race_setup(strict);
	/* a/b: a full directory; a/b_alt: a link to the canary. */
	ck_assert_int_eq(mkdirat(R.rootfd, "a", 0755), 0);
	afd = openat(R.rootfd, "a", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(afd, 0);
	ck_assert_int_eq(symlinkat(R.c.dir, afd, "b_alt"), 0);
	race_tree(afd);
	R.dirfd = afd;
	R.a = "b";
	R.b = "b_alt";
	h = sec_connect(&R.d);

	fdwatch_start(&w, &R.d);
	ck_assert_int_eq(pthread_create(&sw, NULL, race_swapper, &R), 0);
	for (i = 0; i < rounds; i++) {
		memset(&q, 0, sizeof q);
		rc = aiofs_rmtree(h, &q, i % 2 ? "a/b" : "a", NULL);
		aiofs_req_cleanup(&q);
		race_count(&R, rc);
		R.rounds++;
		/* a itself may be gone: make it and its link again. */
		snprintf(p, sizeof p, "%s/a", R.d.root);
		if (mkdir(p, 0755) == 0) {
			nfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			ck_assert_int_ge(nfd, 0);
			symlinkat(R.c.dir, nfd, "b_alt");
			/* The swapper picks it up; the old fd stays open. */
			__atomic_store_n(&R.dirfd, nfd, __ATOMIC_RELEASE);
			if (nold >= 64)
				close(old[nold % 64]);
			old[nold++ % 64] = afd;
			afd = nfd;
		}
		if (faccessat(afd, "b_alt", F_OK, AT_SYMLINK_NOFOLLOW) == -1 &&
		    faccessat(afd, "b", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			symlinkat(R.c.dir, afd, "b_alt");
		race_tree(afd);
		if (i % 64 == 0)
			canary_check(&R.c, "rmtree race round %lu", i);
	}
	__atomic_store_n(&R.stop, 1, __ATOMIC_RELEASE);
	pthread_join(sw, NULL);
	fdwatch_stop(&w);
	aiofs_close(h);
	snprintf(what, sizeof what, "race_rmtree %s", strict ? "strict" :
	    "default");
	canary_check(&R.c, "%s", what);
	ck_assert_uint_gt(R.results[0], 0);
	for (k = 0; k < nold && k < 64; k++)
		close(old[k]);
	race_teardown(what, t0);
}

START_TEST(race_rmtree_default)
{
	race_rmtree(0);
}
END_TEST

START_TEST(race_rmtree_strict)
{
	race_rmtree(1);
}
END_TEST

Suite *
race_suite(void)
{
	Suite		*s = suite_create("race");
	TCase		*tc = tcase_create("race");
	unsigned long	 rounds = race_rounds();

	/* About 1 ms a round on a slow machine, and a margin. */
	tcase_set_timeout(tc, 60 + rounds / 500);
	tcase_add_loop_test(tc, race_paths_default, 0, 2);
	tcase_add_loop_test(tc, race_paths_strict, 0, 2);
	tcase_add_test(tc, race_rmtree_default);
	tcase_add_test(tc, race_rmtree_strict);
	suite_add_tcase(s, tc);
	return (s);
}
