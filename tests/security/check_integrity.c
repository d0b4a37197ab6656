/*
 * check_integrity.c - a write the disk did not take is never reported as
 * done.
 *
 *	ENOSPC (a 128 KiB tmpfs mounted inside the root, in a private mount
 *	namespace) and EFBIG (RLIMIT_FSIZE on the daemon) mid-write: the
 *	reply is an error that says exactly how many bytes reached the
 *	file ("only N of M bytes written"), and N is the file's size;
 *	buffered writes that could not be flushed fail at flush or close;
 *	writefile likewise, and an atomic writefile leaves the old file
 *	and no temporary behind; copyfile fails;
 *	SIGXFSZ does not kill the daemon (a client must not be able to);
 *	an fsync error stays on its handle (sticky): provoked for real with
 *	an ext2 image on a loop device whose backing file lives on a tmpfs
 *	too small for it, so that writeback fails;
 *	reads: read() to EOF returns every byte, and an unbuffered read(n)
 *	takes at most n bytes from a pipe (what it leaves is another
 *	reader's).
 *
 * Tests that need root (mounts, loop devices) say so and skip otherwise.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "secutil.h"

#define MIB	(1024 * 1024)
#define KIB	1024

static struct secd	 D;
static aiofs_t		*H;
static char		 SMALL[PATH_MAX];	/* host root/small */

/* Size of a host file, -1 if missing. */
static long long
ig_size(const char *hp)
{
	struct stat	 sb;

	return (stat(hp, &sb) == 0 ? (long long)sb.st_size : -1);
}

/* Host path of a root path (static buffer, two in rotation). */
static const char *
ig_host(const char *rel)
{
	static char	 buf[2][PATH_MAX];
	static int	 i;
	char		*p = buf[i++ % 2];

	snprintf(p, PATH_MAX, "%s/%s", D.root, rel);
	return (p);
}

/*
 * The byte count of an "only N of M bytes written" message, or -1.
 * A failed write must say it when some bytes did reach the file.
 */
static long long
ig_only(const aiofs_req_t *r)
{
	const char	*s;
	long long	 n;

	if (r->errmsg == NULL || (s = strstr(r->errmsg, "only ")) == NULL ||
	    sscanf(s, "only %lld of", &n) != 1)
		return (-1);
	return (n);
}

/*
 * Check a failed write of want bytes to host file hp: the error is e,
 * and the file holds exactly the bytes the error says (0 if it says
 * nothing, or prior if the file had that many before).
 */
static void
ig_partial(const char *what, int rc, const aiofs_req_t *r, int e,
    const char *hp, long long prior)
{
	long long	 only = ig_only(r), size = ig_size(hp);

	ck_assert_msg(rc == -e, "%s: %d (%s) \"%s\", not %s", what, rc,
	    aiofs_errname(rc), r->errmsg != NULL ? r->errmsg : "",
	    aiofs_errname(-e));
	if (only == -1)
		ck_assert_msg(size == prior, "%s: the error gave no count but "
		    "%lld bytes reached the file", what, size - prior);
	else
		ck_assert_msg(size == prior + only, "%s: the error says %lld "
		    "bytes were written, the file has %lld", what, only,
		    size - prior);
}

/* Mount a fresh tmpfs of size bytes at root/small. */
static void
ig_small(long size)
{
	char	 opt[64];

	umount2(SMALL, MNT_DETACH);
	snprintf(opt, sizeof opt, "size=%ld,mode=0777", size);
	ck_assert_msg(mount("tmpfs", SMALL, "tmpfs", 0, opt) == 0,
	    "tmpfs at %s: %s", SMALL, strerror(errno));
}

/* Open path with mode and buffering; the handle. */
static aiofs_file_t
ig_open(const char *path, const char *mode, int buffering)
{
	aiofs_open_opts_t oo = AIOFS_OPEN_OPTS_INIT;
	aiofs_req_t	 r;
	aiofs_file_t	 f;
	int		 rc;

	oo.buffering = buffering;
	memset(&r, 0, sizeof r);
	rc = aiofs_open(H, &r, path, mode, &oo, NULL);
	ck_assert_msg(rc == 0, "open %s %s: %s", path, mode,
	    aiofs_errname(rc));
	f = r.file;
	aiofs_req_cleanup(&r);
	return (f);
}

/* Close a handle; its result. */
static int
ig_close(aiofs_file_t f)
{
	aiofs_req_t	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = aiofs_fclose(H, &r, f, NULL);
	aiofs_req_cleanup(&r);
	return (rc);
}

/* Start a daemon (options o) with root/small and a connection. */
static int
ig_start(const struct secd_opts *o, int need_small)
{
	if (need_small && (geteuid() != 0 || sec_private_mounts() == -1)) {
		fprintf(stderr, "integrity: no private mount namespace (needs "
		    "root): ENOSPC tests skipped\n");
		return (-1);
	}
	secd_start(&D, NULL, o);
	snprintf(SMALL, sizeof SMALL, "%s/small", D.root);
	ck_assert_int_eq(mkdir(SMALL, 0777), 0);
	H = sec_connect(&D);
	return (0);
}

/* Stop it all. */
static void
ig_stop(void)
{
	aiofs_close(H);
	umount2(SMALL, MNT_DETACH);
	secd_stop(&D);
}

/* A host file of size bytes of c. */
static void
ig_fill(const char *hp, long size, int c)
{
	char	*buf = malloc(size);
	int	 fd;

	memset(buf, c, size);
	fd = open(hp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, size), size);
	close(fd);
	free(buf);
}

/* The partial-write checks against errno e, files under dir. */
static void
ig_partial_writes(const char *dir, int e, void (*reset)(void))
{
	aiofs_req_t	 r;
	aiofs_file_t	 f;
	char		*buf, p[PATH_MAX], q[PATH_MAX];
	struct dirent	*de;
	DIR		*d;
	long long	 total = 0;
	int		 rc, i, crc, errors = 0;

	buf = malloc(MIB);
	memset(buf, 'w', MIB);

	/* Unbuffered write(): one request, partly written. */
	reset();
	snprintf(p, sizeof p, "%s/unbuffered", dir);
	f = ig_open(p, "wb", 0);
	memset(&r, 0, sizeof r);
	rc = aiofs_write(H, &r, f, buf, MIB, NULL);
	ig_partial("unbuffered write", rc, &r, e, ig_host(p), 0);
	aiofs_req_cleanup(&r);
	ig_close(f);

	/* pwrite(). */
	reset();
	snprintf(p, sizeof p, "%s/pwrite", dir);
	f = ig_open(p, "wb", 0);
	memset(&r, 0, sizeof r);
	rc = aiofs_pwrite(H, &r, f, buf, MIB, 0, NULL);
	ig_partial("pwrite", rc, &r, e, ig_host(p), 0);
	aiofs_req_cleanup(&r);
	ig_close(f);

	/* Buffered writes: what was acknowledged reaches the file, or a
	 * later write, flush or close says it did not. */
	reset();
	snprintf(p, sizeof p, "%s/buffered", dir);
	f = ig_open(p, "wb", -1);
	for (i = 0; i < 400; i++) {
		memset(&r, 0, sizeof r);
		rc = aiofs_write(H, &r, f, buf, 1000, NULL);
		if (rc == 1000)
			total += 1000;
		else {
			ck_assert_msg(rc < 0, "buffered write: short count %d",
			    rc);
			errors++;
		}
		aiofs_req_cleanup(&r);
	}
	memset(&r, 0, sizeof r);
	rc = aiofs_flush(H, &r, f, NULL);
	aiofs_req_cleanup(&r);
	errors += rc < 0;
	crc = ig_close(f);
	errors += crc < 0;
	ck_assert_msg(errors > 0, "400000 bytes into a full file system and "
	    "no error");
	ck_assert_msg(ig_size(ig_host(p)) == total || crc < 0, "buffered: "
	    "%lld bytes acknowledged, %lld on disk, and close said %d",
	    total, ig_size(ig_host(p)), crc);

	/* writefile. */
	reset();
	snprintf(p, sizeof p, "%s/writefile", dir);
	memset(&r, 0, sizeof r);
	rc = aiofs_writefile(H, &r, p, buf, MIB, 0, NULL);
	ig_partial("writefile", rc, &r, e, ig_host(p), 0);
	aiofs_req_cleanup(&r);

	/* writefile(append) onto 1000 bytes. */
	reset();
	snprintf(p, sizeof p, "%s/append", dir);
	ig_fill(ig_host(p), 1000, 'o');
	memset(&r, 0, sizeof r);
	rc = aiofs_writefile(H, &r, p, buf, MIB, AIOFS_WRITEFILE_APPEND,
	    NULL);
	ig_partial("writefile append", rc, &r, e, ig_host(p), 1000);
	aiofs_req_cleanup(&r);

	/* Atomic writefile: the old contents stay, no temp file is left. */
	reset();
	snprintf(p, sizeof p, "%s/atomic", dir);
	sec_write(ig_host(p), "ORIGINAL");
	memset(&r, 0, sizeof r);
	rc = aiofs_writefile(H, &r, p, buf, MIB, AIOFS_WRITEFILE_ATOMIC,
	    NULL);
	ck_assert_msg(rc == -e, "atomic writefile: %d (%s)", rc,
	    aiofs_errname(rc));
	aiofs_req_cleanup(&r);
	ck_assert_msg(sec_file_is(ig_host(p), "ORIGINAL"), "a failed atomic "
	    "writefile changed the file");
	snprintf(q, sizeof q, "%s/%s", D.root, dir);
	ck_assert_ptr_nonnull(d = opendir(q));
	while ((de = readdir(d)) != NULL)
		ck_assert_msg(strncmp(de->d_name, ".aiofs", 6) != 0,
		    "atomic writefile left %s behind", de->d_name);
	closedir(d);

	/* copyfile from outside the small file system. */
	reset();
	ig_fill(ig_host("big"), MIB, 'b');
	snprintf(p, sizeof p, "%s/copy", dir);
	memset(&r, 0, sizeof r);
	rc = aiofs_copyfile(H, &r, "big", p, NULL);
	ck_assert_msg(rc == -e, "copyfile: %d (%s)", rc, aiofs_errname(rc));
	aiofs_req_cleanup(&r);

	/* Text mode. */
	reset();
	snprintf(p, sizeof p, "%s/text", dir);
	f = ig_open(p, "w", -1);
	memset(&r, 0, sizeof r);
	rc = aiofs_write(H, &r, f, buf, MIB, NULL);
	aiofs_req_cleanup(&r);
	crc = ig_close(f);
	ck_assert_msg(rc < 0 || crc < 0, "text write of 1 MiB into a full "
	    "file system: write %d, close %d", rc, crc);
	free(buf);
}

/* Reset: a fresh 128 KiB tmpfs. */
static void
ig_reset_small(void)
{
	ig_small(128 * KIB);
}

START_TEST(integrity_enospc)
{
	if (ig_start(NULL, 1) == -1)
		return;
	ig_partial_writes("small", ENOSPC, ig_reset_small);
	ig_stop();
}
END_TEST

/* Reset: remove what the EFBIG tests wrote. */
static void
ig_reset_fsize(void)
{
	char	 p[PATH_MAX];
	struct dirent	*de;
	DIR	*d;

	ck_assert_ptr_nonnull(d = opendir(SMALL));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			snprintf(p, sizeof p, "%s/%s", SMALL, de->d_name);
			unlink(p);
		}
	closedir(d);
}

START_TEST(integrity_efbig)
{
	struct secd_opts o;

	memset(&o, 0, sizeof o);
	o.fsize = 64 * KIB;
	o.ignore_xfsz = 1;	/* as a daemon should: see the next test */
	ig_start(&o, 0);
	/* "big" (1 MiB) is made by the test process, not the daemon. */
	ig_partial_writes("small", EFBIG, ig_reset_fsize);
	ig_stop();
}
END_TEST

/*
 * Run under a file-size limit (systemd LimitFSIZE=, ulimit -f), the
 * daemon must not die of SIGXFSZ because a client wrote a big file: the
 * client gets EFBIG and everyone goes on.
 */
START_TEST(integrity_sigxfsz)
{
	struct secd_opts o;
	aiofs_req_t	 r;
	char		*buf;
	int		 rc;

	memset(&o, 0, sizeof o);
	o.fsize = 64 * KIB;
	o.ignore_xfsz = 0;
	ig_start(&o, 0);
	buf = calloc(1, 128 * KIB);
	memset(&r, 0, sizeof r);
	rc = aiofs_writefile(H, &r, "small/f", buf, 128 * KIB, 0, NULL);
	aiofs_req_cleanup(&r);
	free(buf);
	usleep(100000);
	ck_assert_msg(secd_alive(&D), "a client killed the daemon with "
	    "SIGXFSZ (writefile past RLIMIT_FSIZE returned %d)", rc);
	ck_assert_int_eq(rc, -EFBIG);
	ig_stop();
}
END_TEST

/*
 * fsync errors are sticky: an ext2 image on a loop device whose backing
 * file sits on a 3 MiB tmpfs.  The image says 64 MiB free, so 8 MiB of
 * writes land in the page cache; writeback then fails (ENOSPC/EIO from
 * the loop device).  The kernel reports that once per open file; the
 * daemon must keep reporting it on the handle: fsync, fdatasync, write.
 */
START_TEST(integrity_fsync_sticky)
{
	aiofs_req_t	 r;
	aiofs_file_t	 f;
	char		 backing[PATH_MAX], disk[PATH_MAX];
	char		 cmd[3 * PATH_MAX];
	char		*buf;
	int		 i, rc, first;

	if (geteuid() != 0 || sec_private_mounts() == -1) {
		fprintf(stderr, "integrity_fsync_sticky: needs root; "
		    "skipped\n");
		return;
	}
	secd_start(&D, NULL, NULL);
	snprintf(backing, sizeof backing, "%s/backing", D.dir);
	snprintf(disk, sizeof disk, "%s/disk", D.root);
	ck_assert_int_eq(mkdir(backing, 0755), 0);
	ck_assert_int_eq(mkdir(disk, 0777), 0);
	ck_assert_int_eq(mount("tmpfs", backing, "tmpfs", 0, "size=3m"), 0);
	snprintf(cmd, sizeof cmd, "truncate -s 64M %s/img && "
	    "mkfs.ext2 -q -F -m 0 %s/img >/dev/null 2>&1 && "
	    "mount -o loop,errors=continue -t ext2 %s/img %s 2>/dev/null && "
	    "chmod 0777 %s", backing, backing, backing, disk, disk);
	if (system(cmd) != 0) {
		fprintf(stderr, "integrity_fsync_sticky: no loop device or "
		    "mkfs.ext2 here; skipped\n");
		umount2(backing, MNT_DETACH);
		secd_stop(&D);
		return;
	}
	H = sec_connect(&D);
	f = ig_open("disk/f", "wb", 0);
	buf = malloc(MIB);
	memset(buf, 's', MIB);
	for (i = 0; i < 8; i++) {
		memset(&r, 0, sizeof r);
		rc = aiofs_write(H, &r, f, buf, MIB, NULL);
		aiofs_req_cleanup(&r);
		if (rc != MIB)
			break;	/* writeback may already have failed */
	}
	free(buf);
	memset(&r, 0, sizeof r);
	first = aiofs_fsync(H, &r, f, NULL);
	aiofs_req_cleanup(&r);
	if (first == 0) {
		fprintf(stderr, "integrity_fsync_sticky: writeback did not "
		    "fail here; skipped\n");
	} else {
		ck_assert_msg(first == -ENOSPC || first == -EIO, "fsync: %s",
		    aiofs_errname(first));
		for (i = 0; i < 3; i++) {
			memset(&r, 0, sizeof r);
			rc = aiofs_fsync(H, &r, f, NULL);
			aiofs_req_cleanup(&r);
			ck_assert_msg(rc == first, "fsync %d after a writeback "
			    "error: %d (%s), not %s again", i + 2, rc,
			    aiofs_errname(rc), aiofs_errname(first));
		}
		memset(&r, 0, sizeof r);
		rc = aiofs_fdatasync(H, &r, f, NULL);
		aiofs_req_cleanup(&r);
		ck_assert_int_eq(rc, first);
		memset(&r, 0, sizeof r);
		rc = aiofs_write(H, &r, f, "x", 1, NULL);
		aiofs_req_cleanup(&r);
		ck_assert_msg(rc == first, "write after a writeback error: %d",
		    rc);
	}
	ig_close(f);
	aiofs_close(H);
	umount2(disk, 0);
	umount2(backing, MNT_DETACH);
	secd_stop(&D);
}
END_TEST

/* read(-1) and readall() return the whole file. */
START_TEST(integrity_read_all)
{
	aiofs_req_t	 r;
	aiofs_file_t	 f;
	int		 k;

	ig_start(NULL, 0);
	sec_write(ig_host("six"), "hello\n");
	for (k = 0; k < 2; k++) {
		f = ig_open("six", "rb", -1);
		memset(&r, 0, sizeof r);
		ck_assert_int_eq(k == 0 ? aiofs_read(H, &r, f, -1, NULL) :
		    aiofs_readall(H, &r, f, NULL), 6);
		ck_assert_int_eq(memcmp(r.buf, "hello\n", 6), 0);
		aiofs_req_cleanup(&r);
		ig_close(f);
	}
	ig_stop();
}
END_TEST

/* Completion callback that does nothing. */
static void
ig_nop_cb(aiofs_req_t *r)
{
	(void)r;
}

/*
 * An unbuffered (buffering=0) read(3) from a FIFO takes 3 bytes, as
 * FileIO.read(3) does: the next 3 are left for the next reader.
 */
START_TEST(integrity_unbuffered_read)
{
	aiofs_req_t	 r1, r2;
	aiofs_file_t	 f1, f2;
	struct pollfd	 pfd;
	char		 fifo[PATH_MAX];
	uint64_t	 t0;
	int		 wfd;

	ig_start(NULL, 0);
	snprintf(fifo, sizeof fifo, "%s/fifo", D.root);
	ck_assert_int_eq(mkfifo(fifo, 0644), 0);
	wfd = open(fifo, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(wfd, 0);
	f1 = ig_open("fifo", "rb", 0);
	f2 = ig_open("fifo", "rb", 0);
	ck_assert_int_eq(write(wfd, "0123456789", 10), 10);
	memset(&r1, 0, sizeof r1);
	ck_assert_int_eq(aiofs_read(H, &r1, f1, 3, NULL), 3);
	ck_assert_int_eq(memcmp(r1.buf, "012", 3), 0);
	memset(&r2, 0, sizeof r2);
	ck_assert_int_eq(aiofs_read(H, &r2, f2, 3, ig_nop_cb), 0);
	t0 = sec_now_ms();
	while (aiofs_pending(H) > 0 && sec_now_ms() - t0 < 2000) {
		pfd.fd = aiofs_fd(H);
		pfd.events = aiofs_events(H);
		if (poll(&pfd, 1, 100) > 0)
			aiofs_process(H, pfd.revents);
	}
	if (aiofs_pending(H) > 0) {
		/* Unblock it, then fail: bytes 3..9 were taken by f1. */
		ck_assert_int_eq(write(wfd, "abc", 3), 3);
		aiofs_run(H);
		ck_abort_msg("unbuffered read(3) took more than 3 bytes from "
		    "the pipe: the next reader got \"%.*s\" instead of "
		    "\"345\"", (int)r2.len, r2.buf);
	}
	ck_assert_int_eq(r2.result, 3);
	ck_assert_int_eq(memcmp(r2.buf, "345", 3), 0);
	aiofs_req_cleanup(&r1);
	aiofs_req_cleanup(&r2);
	ig_close(f1);
	ig_close(f2);
	close(wfd);
	ig_stop();
}
END_TEST

Suite *
integrity_suite(void)
{
	Suite	*s = suite_create("integrity");
	TCase	*tc = tcase_create("integrity");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, integrity_enospc);
	tcase_add_test(tc, integrity_efbig);
	tcase_add_test(tc, integrity_sigxfsz);
	tcase_add_test(tc, integrity_fsync_sticky);
	tcase_add_test(tc, integrity_read_all);
	tcase_add_test(tc, integrity_unbuffered_read);
	suite_add_tcase(s, tc);
	return (s);
}
