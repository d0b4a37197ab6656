/*
 * check_config.c - the configuration file and per-peer policy.
 *
 *	--check-config accepts a good file (exit 0) and refuses bad ones
 *	(unknown section or key, bad value, missing or unusable root,
 *	syntax) with one line on stderr and exit 1;
 *	a [uid:N] policy applies to a client running as uid N, [gid:N] to
 *	one whose primary gid is N (uid wins over gid), [default] to the
 *	others;
 *	reject_unknown=yes refuses peers no section names (EACCES frame).
 *
 * The identity is the kernel's (SO_PEERCRED of the connecting process):
 * the clients here really run as those uids (fork, setuid).
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "secutil.h"
#include "testutil.h"

#define CF_UID		40010
#define CF_UID2		40011
#define CF_GID		40020

static char	 DIRP[64];

/* A scratch directory with roots r1, r2, r3 (each has "who"). */
static void
cf_dirs(void)
{
	char	 p[PATH_MAX];
	int	 i;

	snprintf(DIRP, sizeof DIRP, "/tmp/aiofs-cfg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(DIRP));
	ck_assert_int_eq(chmod(DIRP, 0755), 0);
	for (i = 1; i <= 3; i++) {
		snprintf(p, sizeof p, "%s/r%d", DIRP, i);
		ck_assert_int_eq(mkdir(p, 0755), 0);
		ck_assert_int_eq(chmod(p, 0777), 0);
		snprintf(p, sizeof p, "%s/r%d/who", DIRP, i);
		sec_write(p, i == 1 ? "R1" : i == 2 ? "R2" : "R3");
	}
}

/* Write the config file (printf-style) and return its path. */
static const char *
cf_file(const char *fmt, ...)
{
	static char	 path[PATH_MAX];
	char		 text[4096];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	snprintf(path, sizeof path, "%s/aiofsd.conf", DIRP);
	sec_write(path, text);
	return (path);
}

/*
 * Run aiofsd -c conf --check-config (and -s, so that no default socket
 * path matters); its exit status, stderr in err.
 */
static int
cf_check(const char *conf, char *err, size_t errlen)
{
	char	 ep[PATH_MAX], sock[PATH_MAX], *e;
	pid_t	 pid;
	int	 status, fd;

	snprintf(ep, sizeof ep, "%s/stderr", DIRP);
	snprintf(sock, sizeof sock, "%s/check.sock", DIRP);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		execl(test_aiofsd_path(), test_aiofsd_path(), "-c", conf,
		    "-s", sock, "--check-config", (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	e = sec_read(ep, NULL);
	snprintf(err, errlen, "%s", e != NULL ? e : "");
	free(e);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128);
}

/* The number of lines in s. */
static int
cf_lines(const char *s)
{
	int	 n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return (n);
}

START_TEST(config_check)
{
	static const char *const bad[] = {
		"[nonsense]\nroot = %s/r1\n",
		"[default]\nroot = %s/r1\nbogus = 1\n",
		"[default]\nroot = %s/r1\nread_only = maybe\n",
		"[default]\nroot = %s/r1\nmax_handles = 0\n",
		"[default]\nroot = %s/r1\nmax_inflight = -3\n",
		"[global]\nworkers = 0\n[default]\nroot = %s/r1\n",
		"[global]\nloops = 0\n[default]\nroot = %s/r1\n",
		"[global]\nloops = 65\n[default]\nroot = %s/r1\n",
		"[global]\nmax_frame = 12\n[default]\nroot = %s/r1\n",
		"[global]\nmemory_budget = 1k\n[default]\nroot = %s/r1\n",
		"[global]\nreject_unknown = perhaps\n[default]\nroot = %s\n",
		"[global]\nbogus = 1\n[default]\nroot = %s/r1\n",
		"[default]\nroot = %s/does/not/exist\n",
		"[default]\nroot = %s/r1/who\n",
		"[default]\nroot = %s/r1\n[uid:abc]\nread_only = yes\n",
		"[default]\nroot = %s/r1\n[uid:-1]\nread_only = yes\n",
		"[default]\nroot = %s/r1\n[uid:40010]\nroot = /nonexistent\n",
		"[default]\nroot = %s/r1\nthis line has no equals sign\n",
		"[default\nroot = %s/r1\n",
	};
	char		 err[4096];
	const char	*conf;
	size_t		 i;
	int		 rc;

	cf_dirs();
	conf = cf_file("# a good file\n[global]\nworkers = 2\nloops = 3\n"
	    "max_connections = 10\nmax_connections_per_uid = 5\n"
	    "reject_unknown = no\nhello_timeout = 5\nframe_timeout = 5\n"
	    "max_busy = 1\nmemory_budget = 8388608\n"
	    "[default]\nroot = %s/r1\nread_only = no\nmax_handles = 10\n"
	    "[uid:%d]\nroot = %s/r2\nread_only = yes\nstrict_paths = yes\n"
	    "[gid:%d]\nroot = %s/r3\nallow_fd_passing = yes\n",
	    DIRP, CF_UID, DIRP, CF_GID, DIRP);
	rc = cf_check(conf, err, sizeof err);
	ck_assert_msg(rc == 0, "a good config file: exit %d: %s", rc, err);

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		conf = cf_file(bad[i], DIRP);
		rc = cf_check(conf, err, sizeof err);
		ck_assert_msg(rc == 1, "bad config %zu: exit %d, not 1 (%s)",
		    i, rc, err);
		ck_assert_msg(cf_lines(err) == 1, "bad config %zu: %d lines of "
		    "stderr, not one: \"%s\"", i, cf_lines(err), err);
		ck_assert_msg(strncmp(err, "aiofsd: ", 8) == 0, "bad config "
		    "%zu: \"%s\"", i, err);
	}
	/* A missing file. */
	snprintf(err, sizeof err, "%s/none.conf", DIRP);
	rc = cf_check(err, err, sizeof err);
	ck_assert_int_eq(rc, 1);
	ck_assert_int_eq(cf_lines(err), 1);
	sec_rm_rf(DIRP);
}
END_TEST

/* What a child client reports through its exit status. */
struct cf_probe {
	const char	*sock;
	const char	*expect;	/* "R1", "R2", "R3" */
	int		 readonly;
	int		 refused;	/* expect the connection refused */
};

/* Connect, read /who, try a write: 0 if all is as expected. */
static int
cf_probe_child(void *arg)
{
	struct cf_probe	*p = arg;
	aiofs_req_t	 r;
	aiofs_t		*h = NULL;
	int		 rc;

	rc = aiofs_connect(&h, p->sock, "cf");
	if (p->refused)
		return (rc == -EACCES ? 0 : 10);
	if (rc != 0)
		return (11);
	memset(&r, 0, sizeof r);
	rc = aiofs_readfile(h, &r, "/who", 0, -1, NULL);
	if (rc != 2 || memcmp(r.buf, p->expect, 2) != 0)
		return (12);
	aiofs_req_cleanup(&r);
	memset(&r, 0, sizeof r);
	rc = aiofs_writefile(h, &r, "/w", "x", 1, 0, NULL);
	aiofs_req_cleanup(&r);
	if (p->readonly ? rc != -EROFS : rc != 1)
		return (13);
	aiofs_close(h);
	return (0);
}

/* Start aiofsd -c conf on DIRP/s. */
static void
cf_start(struct secd *d, const char *conf)
{
	const char	*args[] = { "-c", conf, NULL };
	struct secd_opts o;

	memset(&o, 0, sizeof o);
	o.no_root_arg = 1;
	secd_start_in(d, DIRP, args, &o);
	secd_open_perms(d);
}

/* Run the probe as uid/gid; fail with what it said. */
static void
cf_expect(const struct secd *d, uid_t uid, gid_t gid, const char *who,
    int ro, int refused)
{
	struct cf_probe	 p = { d->sock, who, ro, refused };
	int		 rc;

	rc = sec_run_as(uid, gid, cf_probe_child, &p);
	ck_assert_msg(rc == 0, "uid %u gid %u: probe failed with %d "
	    "(10 not refused, 11 no connection, 12 wrong root, 13 wrong "
	    "write policy)", (unsigned)uid, (unsigned)gid, rc);
}

START_TEST(config_policies)
{
	struct secd	 d;
	const char	*conf;

	if (geteuid() != 0) {
		fprintf(stderr, "config_policies: needs root; skipped\n");
		return;
	}
	cf_dirs();
	conf = cf_file("[default]\nroot = %s/r1\n"
	    "[uid:%d]\nroot = %s/r2\nread_only = yes\n"
	    "[gid:%d]\nroot = %s/r3\n", DIRP, CF_UID, DIRP, CF_GID, DIRP);
	cf_start(&d, conf);
	cf_expect(&d, 0, 0, "R1", 0, 0);		/* [default] */
	cf_expect(&d, 40099, 40099, "R1", 0, 0);	/* [default] */
	cf_expect(&d, CF_UID, CF_UID, "R2", 1, 0);	/* [uid:N] */
	cf_expect(&d, CF_UID2, CF_GID, "R3", 0, 0);	/* [gid:N] */
	cf_expect(&d, CF_UID, CF_GID, "R2", 1, 0);	/* uid wins */
	secd_stop(&d);
}
END_TEST

START_TEST(config_reject_unknown)
{
	struct secd	 d;
	const char	*conf;

	if (geteuid() != 0) {
		fprintf(stderr, "config_reject_unknown: needs root; skipped\n");
		return;
	}
	cf_dirs();
	conf = cf_file("[global]\nreject_unknown = yes\n"
	    "[default]\nroot = %s/r1\n"
	    "[uid:%d]\nroot = %s/r2\n", DIRP, CF_UID, DIRP);
	cf_start(&d, conf);
	cf_expect(&d, CF_UID, CF_UID, "R2", 0, 0);
	cf_expect(&d, 0, 0, NULL, 0, 1);
	cf_expect(&d, CF_UID2, CF_GID, NULL, 0, 1);
	secd_stop(&d);
}
END_TEST

Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc = tcase_create("config");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, config_check);
	tcase_add_test(tc, config_policies);
	tcase_add_test(tc, config_reject_unknown);
	suite_add_tcase(s, tc);
	return (s);
}
