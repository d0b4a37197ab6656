/*
 * check_limits.c - the limits that keep one client from starving the
 * others: --max-connections and --max-connections-per-uid (refused with
 * an EUSERS error frame), --max-busy (a client whose reads block on a
 * FIFO holds at most that many workers), --max-handles (EMFILE), and the
 * per-connection --memory-budget (a SpooledTemporaryFile rolls over to
 * disk instead of failing; a request larger than the budget closes only
 * that connection).
 */
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

#define LM_UID	40003
#define MIB	(1024 * 1024)

static struct secd	 D;

/* Connect as another uid and ping; 0 if served. */
static int
lm_connect_child(void *arg)
{
	struct secd	*d = arg;
	aiofs_req_t	 r;
	aiofs_t		*h = NULL;
	int		 rc;

	if ((rc = sec_try_connect(d, &h)) != 0)
		return (rc == -EUSERS ? 2 : 1);
	memset(&r, 0, sizeof r);
	rc = aiofs_stat(h, &r, "/", 1, NULL);
	aiofs_req_cleanup(&r);
	aiofs_close(h);
	return (rc == 0 ? 0 : 3);
}

START_TEST(limits_connections)
{
	const char	*args[] = { "--max-connections", "3", NULL };
	aiofs_t		*h[4];
	int		 i, rc;

	secd_start(&D, args, NULL);
	for (i = 0; i < 3; i++)
		h[i] = sec_connect(&D);
	h[3] = NULL;
	rc = sec_try_connect(&D, &h[3]);
	ck_assert_msg(rc == -EUSERS, "connection 4 of 3: %d (%s), not EUSERS",
	    rc, aiofs_errname(rc));
	ck_assert_ptr_null(h[3]);
	aiofs_close(h[0]);
	/* The slot is free again once the daemon saw the close. */
	for (i = 0; i < 100; i++) {
		if ((rc = sec_try_connect(&D, &h[0])) == 0)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(rc, 0);
	for (i = 0; i < 3; i++)
		aiofs_close(h[i]);
	secd_stop(&D);
}
END_TEST

START_TEST(limits_connections_per_uid)
{
	const char	*args[] = { "--max-connections-per-uid", "2", NULL };
	aiofs_t		*h[3];
	int		 rc;

	if (geteuid() != 0) {
		fprintf(stderr, "limits_connections_per_uid: needs root to "
		    "act as a second uid; skipped\n");
		return;
	}
	secd_start(&D, args, NULL);
	secd_open_perms(&D);
	h[0] = sec_connect(&D);
	h[1] = sec_connect(&D);
	h[2] = NULL;
	rc = sec_try_connect(&D, &h[2]);
	ck_assert_msg(rc == -EUSERS, "third connection of one uid: %d (%s)",
	    rc, aiofs_errname(rc));
	/* Another uid is not affected. */
	ck_assert_int_eq(sec_run_as(LM_UID, LM_UID, lm_connect_child, &D), 0);
	aiofs_close(h[0]);
	aiofs_close(h[1]);
	secd_stop(&D);
}
END_TEST

/* Completion callback that does nothing (the reqs are checked later). */
static void
lm_nop_cb(aiofs_req_t *r)
{
	(void)r;
}

/*
 * --max-busy 2 with 4 workers: client A parks reads on six FIFO handles
 * whose writer stays open but silent, so each read blocks its worker.
 * Only two may run; client B is still served at once.  Then the FIFO is
 * fed and every read completes.
 */
START_TEST(limits_max_busy)
{
	const char	*args[] = { "--max-busy", "2", NULL };
	aiofs_open_opts_t oo = AIOFS_OPEN_OPTS_INIT;
	aiofs_req_t	 r, rd[6];
	aiofs_file_t	 f[6];
	aiofs_stats_t	*st;
	aiofs_t		*a, *b;
	char		 fifo[PATH_MAX], buf[64], big[60 * 1024];
	int		 wfd, i, k;
	uint64_t	 t0;

	secd_start(&D, args, NULL);
	snprintf(fifo, sizeof fifo, "%s/fifo", D.root);
	ck_assert_int_eq(mkfifo(fifo, 0644), 0);
	/* Reader and writer at once: reads block, they do not see EOF. */
	wfd = open(fifo, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(wfd, 0);
	snprintf(buf, sizeof buf, "%s/file", D.root);
	sec_write(buf, "data\n");

	a = sec_connect(&D);
	b = sec_connect(&D);
	oo.buffering = 0;
	for (i = 0; i < 6; i++) {
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_open(a, &r, "fifo", "rb", &oo, NULL),
		    0);
		f[i] = r.file;
		aiofs_req_cleanup(&r);
	}
	for (i = 0; i < 6; i++) {
		memset(&rd[i], 0, sizeof rd[i]);
		ck_assert_int_eq(aiofs_read(a, &rd[i], f[i], 10, lm_nop_cb),
		    0);
	}
	usleep(200000);
	/* B: worker ops, each answered quickly. */
	for (k = 0; k < 20; k++) {
		t0 = sec_now_ms();
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_stat(b, &r, "file", 1, NULL), 0);
		aiofs_req_cleanup(&r);
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_readfile(b, &r, "file", 0, -1, NULL),
		    5);
		aiofs_req_cleanup(&r);
		ck_assert_msg(sec_now_ms() - t0 < 1000, "client B waited %llu "
		    "ms behind blocked reads", (unsigned long long)
		    (sec_now_ms() - t0));
	}
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_stats(b, &r, NULL), 0);
	st = &r.stats;
	ck_assert_msg(st->workers_busy <= 2, "%u workers busy, max-busy 2",
	    st->workers_busy);
	aiofs_req_cleanup(&r);

	/*
	 * Feed the FIFO: every read of A completes.  60 bytes would do for
	 * six read(10)s on unbuffered handles, but the daemon over-reads
	 * (see check_integrity.c, integrity_unbuffered_read): give each
	 * reader a whole read-ahead buffer.
	 */
	memset(big, 'f', sizeof big);
	ck_assert_int_eq(write(wfd, big, sizeof big), (ssize_t)sizeof big);
	ck_assert_int_eq(aiofs_run(a), 0);
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(rd[i].result, 10);
		aiofs_req_cleanup(&rd[i]);
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_fclose(a, &r, f[i], NULL), 0);
		aiofs_req_cleanup(&r);
	}
	close(wfd);
	aiofs_close(a);
	aiofs_close(b);
	secd_stop(&D);
}
END_TEST

START_TEST(limits_handles)
{
	const char	*args[] = { "--max-handles", "8", NULL };
	aiofs_temp_opts_t to = AIOFS_TEMP_OPTS_INIT;
	aiofs_req_t	 r;
	aiofs_file_t	 f[8];
	aiofs_t		*h;
	char		 p[PATH_MAX];
	int		 i, base;

	secd_start(&D, args, NULL);
	snprintf(p, sizeof p, "%s/f", D.root);
	sec_write(p, "x");
	snprintf(p, sizeof p, "%s/tmp", D.root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	base = secd_nfds(&D);
	h = sec_connect(&D);
	for (i = 0; i < 8; i++) {
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(aiofs_open(h, &r, "f", "rb", NULL, NULL), 0);
		f[i] = r.file;
		aiofs_req_cleanup(&r);
	}
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_open(h, &r, "f", "rb", NULL, NULL), -EMFILE);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	to.kind = AIOFS_NAMED_TEMPORARY_FILE;
	ck_assert_int_eq(aiofs_tempfile(h, &r, &to, NULL), -EMFILE);
	aiofs_req_cleanup(&r);
	/* The refused temp file was removed, not left behind. */
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_listdir(h, &r, "tmp", NULL), 0);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_fclose(h, &r, f[0], NULL), 0);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_open(h, &r, "f", "rb", NULL, NULL), 0);
	f[0] = r.file;
	aiofs_req_cleanup(&r);
	aiofs_close(h);
	/* Disconnecting closed every handle. */
	for (i = 0; i < 200 && secd_nfds(&D) > base; i++)
		usleep(10000);
	ck_assert_int_le(secd_nfds(&D), base);
	secd_stop(&D);
}
END_TEST

/* How many of the daemon's fds point into host directory dir? */
static int
lm_fds_under(const char *dir)
{
	char		 p[64], fp[128], t[PATH_MAX + 1];
	struct dirent	*de;
	DIR		*d;
	ssize_t		 n;
	int		 count = 0;

	snprintf(p, sizeof p, "/proc/%d/fd", (int)D.pid);
	ck_assert_ptr_nonnull(d = opendir(p));
	while ((de = readdir(d)) != NULL) {
		snprintf(fp, sizeof fp, "%s/%s", p, de->d_name);
		if ((n = readlink(fp, t, sizeof t - 1)) <= 0)
			continue;
		t[n] = '\0';
		if (strncmp(t, dir, strlen(dir)) == 0 &&
		    t[strlen(dir)] == '/')
			count++;
	}
	closedir(d);
	return (count);
}

START_TEST(limits_memory_budget)
{
	const char	*args[] = { "--memory-budget", "1048576", NULL };
	aiofs_temp_opts_t to = AIOFS_TEMP_OPTS_INIT;
	aiofs_req_t	 r;
	aiofs_file_t	 f;
	aiofs_t		*a, *b;
	char		*buf, p[PATH_MAX];
	int		 i, rc;

	secd_start(&D, args, NULL);
	snprintf(p, sizeof p, "%s/tmp", D.root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	a = sec_connect(&D);
	b = sec_connect(&D);

	/* 4 MiB into a SpooledTemporaryFile(max_size=8 MiB): on disk. */
	to.kind = AIOFS_SPOOLED_TEMPORARY_FILE;
	to.max_size = 8 * MIB;
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_tempfile(a, &r, &to, NULL), 0);
	f = r.file;
	aiofs_req_cleanup(&r);
	buf = malloc(256 * 1024);
	for (i = 0; i < 16; i++) {
		memset(buf, 'a' + i, 256 * 1024);
		memset(&r, 0, sizeof r);
		rc = aiofs_write(a, &r, f, buf, 256 * 1024, NULL);
		ck_assert_msg(rc == 256 * 1024, "spooled write %d: %d (%s) %s",
		    i, rc, aiofs_errname(rc), r.errmsg != NULL ? r.errmsg :
		    "");
		aiofs_req_cleanup(&r);
	}
	/* Rolled over: the daemon holds an unnamed file in root/tmp. */
	snprintf(p, sizeof p, "%s/tmp", D.root);
	ck_assert_msg(lm_fds_under(p) == 1, "the spooled file did not roll "
	    "over to disk");
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_pread(a, &r, f, 256 * 1024, 15 * 256 * 1024,
	    NULL), 256 * 1024);
	ck_assert_int_eq(r.buf[0], 'a' + 15);
	ck_assert_int_eq(r.buf[256 * 1024 - 1], 'a' + 15);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_fclose(a, &r, f, NULL), 0);
	aiofs_req_cleanup(&r);
	free(buf);

	/* One 2 MiB request: over the budget, that connection only. */
	buf = calloc(1, 2 * MIB);
	memset(&r, 0, sizeof r);
	rc = aiofs_writefile(a, &r, "big", buf, 2 * MIB, 0, NULL);
	ck_assert_msg(rc == -ECONNRESET || rc == -EPROTO || rc == -ENOMEM ||
	    rc == -EMSGSIZE, "a request over the budget: %d (%s)", rc,
	    aiofs_errname(rc));
	aiofs_req_cleanup(&r);
	free(buf);
	memset(&r, 0, sizeof r);
	ck_assert_int_lt(aiofs_stat(a, &r, "/", 1, NULL), 0);
	aiofs_req_cleanup(&r);
	snprintf(p, sizeof p, "%s/big", D.root);
	ck_assert_int_eq(access(p, F_OK), -1);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(aiofs_stat(b, &r, "/", 1, NULL), 0);
	aiofs_req_cleanup(&r);
	aiofs_close(a);
	aiofs_close(b);
	secd_stop(&D);
}
END_TEST

Suite *
limits_suite(void)
{
	Suite	*s = suite_create("limits");
	TCase	*tc = tcase_create("limits");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, limits_connections);
	tcase_add_test(tc, limits_connections_per_uid);
	tcase_add_test(tc, limits_max_busy);
	tcase_add_test(tc, limits_handles);
	tcase_add_test(tc, limits_memory_budget);
	suite_add_tcase(s, tc);
	return (s);
}
