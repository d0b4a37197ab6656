/*
 * check_protocol.c - protocol abuse on raw sockets.  Whatever one client
 * sends, the daemon answers with an error or drops that connection only;
 * it never crashes, never leaks the fds it was sent, and goes on serving
 * everyone else.
 *
 *	oversized and zero lengths, truncated frames, malformed protobuf,
 *	an unknown op, requests before hello, a second hello, a version
 *	mismatch, duplicate ids, stray SCM_RIGHTS fds (with and without
 *	--allow-fd-passing), 300 held connections, slowloris (hello and
 *	partial-frame deadlines), and clients that never read their
 *	replies (memory stays under the bound in docs/security.md, and the
 *	fd count returns to its baseline).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "secutil.h"

#define OPC(x)		AIOFS__V1__REQUEST__OP_##x
#define RES(x)		AIOFS__V1__RESPONSE__RESULT_##x
#define MIB		(1024L * 1024)

/* Under ASan (make asan) the daemon's RSS is inflated: scale the bound. */
#if defined(__SANITIZE_ADDRESS__)
#define PX_RSS_FACTOR	3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PX_RSS_FACTOR	3
#endif
#endif
#ifndef PX_RSS_FACTOR
#define PX_RSS_FACTOR	1
#endif

static struct secd	 D;

/* Is the daemon alive and serving a new client (a stat on a worker)? */
static void
px_served(const char *what)
{
	aiofs_req_t	 r;
	aiofs_t		*h;
	uint64_t	 t0 = sec_now_ms();

	ck_assert_msg(secd_alive(&D), "%s: the daemon died", what);
	h = sec_connect(&D);
	memset(&r, 0, sizeof r);
	ck_assert_msg(aiofs_stat(h, &r, "/", 1, NULL) == 0,
	    "%s: a new client is not served", what);
	aiofs_req_cleanup(&r);
	aiofs_close(h);
	ck_assert_msg(sec_now_ms() - t0 < 2000, "%s: a new client waited "
	    "%llu ms", what, (unsigned long long)(sec_now_ms() - t0));
}

/* The daemon's fds, "N:target" joined, for messages. */
static void
px_fd_list(char *out, size_t len)
{
	char		 p[64], fp[128], t[256];
	struct dirent	*de;
	DIR		*d;
	ssize_t		 n;
	size_t		 o = 0;

	out[0] = '\0';
	snprintf(p, sizeof p, "/proc/%d/fd", (int)D.pid);
	if ((d = opendir(p)) == NULL)
		return;
	while ((de = readdir(d)) != NULL && o + 1 < len) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(fp, sizeof fp, "%s/%s", p, de->d_name);
		if ((n = readlink(fp, t, sizeof t - 1)) <= 0)
			continue;
		t[n] = '\0';
		o += snprintf(out + o, len - o, "%s%s:%s", o ? " " : "",
		    de->d_name, t);
	}
	closedir(d);
}

/* Wait until the daemon's fd count is back to n (or fail). */
static void
px_fds_back(int n, const char *what)
{
	uint64_t	 t0 = sec_now_ms();
	int		 now;

	char		 list[1024];

	while ((now = secd_nfds(&D)) > n) {
		if (sec_now_ms() - t0 > 5000) {
			px_fd_list(list, sizeof list);
			ck_abort_msg("%s: the daemon has %d fds, %d before: %s",
			    what, now, n, list);
		}
		usleep(10000);
	}
}

/* Expect one error reply with errno e (and id), then nothing else. */
static void
px_expect_error(int s, int e, const char *what)
{
	Response	*r = raw_recv(s, 3000);

	ck_assert_msg(r != NULL, "%s: no reply (%s)", what, strerror(errno));
	ck_assert_msg(r->result_case == RES(ERROR), "%s: reply case %d, not "
	    "an error", what, r->result_case);
	ck_assert_msg(r->error->errno_value == e, "%s: error %d (%s), not %d",
	    what, r->error->errno_value, r->error->name, e);
	aiofs__v1__response__free_unpacked(r, NULL);
}

/* Start the daemon with extra arguments. */
static void
px_start(const char *const *args)
{
	secd_start(&D, args, NULL);
}

/* A stat request on path with id. */
static void
px_stat_req(Request *r, Aiofs__V1__Stat *st, uint64_t id, const char *path)
{
	raw_req_init(r, id);
	aiofs__v1__stat__init(st);
	st->has_path = 1;
	st->path.data = (uint8_t *)path;
	st->path.len = strlen(path);
	r->op_case = OPC(STAT);
	r->stat = st;
}

START_TEST(proto_lengths)
{
	static const uint8_t	 huge[4] = { 0xff, 0xff, 0xff, 0xff };
	static const uint8_t	 over[4] = { 0x01, 0x00, 0x00, 0x01 };
	static const uint8_t	 junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f,
	    0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x1a, 0x05 };
	int			 s, base;

	px_start(NULL);
	base = secd_nfds(&D);

	/* 4 GiB - 1: refused before any allocation, EMSGSIZE, closed. */
	s = raw_connect(D.sock);
	ck_assert_int_eq(raw_hello(s), 0);
	ck_assert_int_eq(raw_write(s, huge, 4), 0);
	px_expect_error(s, EMSGSIZE, "length 0xffffffff");
	ck_assert(raw_wait_closed(s, 3000));
	close(s);
	px_served("oversized length");

	/* max_frame + 1 (16 MiB + 1), even before hello. */
	s = raw_connect(D.sock);
	ck_assert_int_eq(raw_write(s, over, 4), 0);
	px_expect_error(s, EMSGSIZE, "length max_frame+1");
	ck_assert(raw_wait_closed(s, 3000));
	close(s);

	/* Zero length before hello: an op-less request, EPROTO, closed. */
	s = raw_connect(D.sock);
	ck_assert_int_eq(raw_send_frame(s, "", 0), 0);
	px_expect_error(s, EPROTO, "empty frame before hello");
	ck_assert(raw_wait_closed(s, 3000));
	close(s);

	/* Zero length after hello: an unknown op, ENOSYS, still open. */
	s = raw_connect(D.sock);
	ck_assert_int_eq(raw_hello(s), 0);
	ck_assert_int_eq(raw_send_frame(s, "", 0), 0);
	px_expect_error(s, ENOSYS, "empty frame");
	ck_assert_int_eq(raw_hello(s) == -1, 1);	/* hello twice */
	close(s);

	/* Malformed protobuf of a valid length: dropped. */
	s = raw_connect(D.sock);
	ck_assert_int_eq(raw_hello(s), 0);
	ck_assert_int_eq(raw_send_frame(s, junk, sizeof junk), 0);
	ck_assert(raw_wait_closed(s, 3000));
	close(s);

	/* Truncated frame, then the client goes away. */
	s = raw_connect(D.sock);
	ck_assert_int_eq(raw_hello(s), 0);
	ck_assert_int_eq(raw_write(s, "\0\0\0\x64" "abcdef", 10), 0);
	close(s);
	/* Truncated header. */
	s = raw_connect(D.sock);
	ck_assert_int_eq(raw_write(s, "\0\0", 2), 0);
	close(s);

	px_served("lengths");
	px_fds_back(base, "lengths");
	secd_stop(&D);
}
END_TEST

START_TEST(proto_ops)
{
	Request			 r;
	Aiofs__V1__Stat		 st;
	Aiofs__V1__Statvfs	 svfs;
	Aiofs__V1__Hello	 hello = AIOFS__V1__HELLO__INIT;
	Response		*resp;
	uint8_t			*a, *b, *both;
	/* field 120 (unknown), length-delimited, 2 bytes; id 7 */
	static const uint8_t	 unknown[] = { 0x08, 0x07, 0xc2, 0x07, 0x02,
	    0x08, 0x01 };
	size_t			 na, nb;
	int			 s, base;

	px_start(NULL);
	base = secd_nfds(&D);

	/* A request before hello: EPROTO, closed. */
	s = raw_connect(D.sock);
	px_stat_req(&r, &st, 1, "/");
	ck_assert_int_eq(raw_send_req(s, &r), 0);
	px_expect_error(s, EPROTO, "stat before hello");
	ck_assert(raw_wait_closed(s, 3000));
	close(s);

	/* A version mismatch: a clear error, not a hang. */
	s = raw_connect(D.sock);
	raw_req_init(&r, 0);
	hello.has_protocol_version = 1;
	hello.protocol_version = 99;
	r.op_case = OPC(HELLO);
	r.hello = &hello;
	ck_assert_int_eq(raw_send_req(s, &r), 0);
	px_expect_error(s, EPROTO, "protocol version 99");
	close(s);

	/* An unknown op: ENOSYS, the connection stays usable. */
	s = raw_connect(D.sock);
	ck_assert_int_eq(raw_hello(s), 0);
	ck_assert_int_eq(raw_send_frame(s, unknown, sizeof unknown), 0);
	px_expect_error(s, ENOSYS, "unknown op");
	px_stat_req(&r, &st, 8, "/");
	ck_assert_int_eq(raw_send_req(s, &r), 0);
	resp = raw_recv(s, 3000);
	ck_assert_ptr_nonnull(resp);
	ck_assert_int_eq(resp->result_case, RES(STAT));
	aiofs__v1__response__free_unpacked(resp, NULL);

	/* An id reused after its reply is fine... */
	ck_assert_int_eq(raw_send_req(s, &r), 0);
	resp = raw_recv(s, 3000);
	ck_assert_ptr_nonnull(resp);
	ck_assert_int_eq(resp->result_case, RES(STAT));
	aiofs__v1__response__free_unpacked(resp, NULL);

	/*
	 * ...two in flight with one id kill the connection.  statvfs, as
	 * the loop may answer a stat before it reads the next frame.
	 */
	raw_req_init(&r, 9);
	aiofs__v1__statvfs__init(&svfs);
	svfs.has_path = 1;
	svfs.path.data = (uint8_t *)"/";
	svfs.path.len = 1;
	r.op_case = OPC(STATVFS);
	r.statvfs = &svfs;
	na = raw_pack(&r, &a);
	nb = raw_pack(&r, &b);
	both = malloc(na + nb);
	memcpy(both, a, na);
	memcpy(both + na, b, nb);
	ck_assert_int_eq(raw_write(s, both, na + nb), 0);
	ck_assert_msg(raw_wait_closed(s, 3000), "duplicate ids in flight did "
	    "not close the connection");
	free(a);
	free(b);
	free(both);
	close(s);

	px_served("ops");
	px_fds_back(base, "ops");
	secd_stop(&D);
}
END_TEST

/* Is the read end of p still open somewhere (in the daemon)? */
static int
px_pipe_has_reader(int wfd)
{
	ssize_t	 n;

	n = write(wfd, "x", 1);
	return (n == 1);
}

/*
 * After a frame that carried fds: 1 if the daemon closed the connection,
 * 0 if it answered the frame (it was processed, the connection lives).
 */
static int
px_reply_or_close(int s)
{
	Response	*r;

	if ((r = raw_recv(s, 3000)) == NULL)
		return (errno != ETIMEDOUT);
	aiofs__v1__response__free_unpacked(r, NULL);
	return (raw_wait_closed(s, 500));
}

/* Send a ping frame carrying nfds copies of fd. */
static int
px_ping_with_fds(int s, uint64_t id, int fd, int nfds)
{
	Aiofs__V1__Empty	 e = AIOFS__V1__EMPTY__INIT;
	Request			 r;
	uint8_t			*buf;
	size_t			 n;
	int			 fds[64], i, rv;

	for (i = 0; i < nfds; i++)
		fds[i] = fd;
	raw_req_init(&r, id);
	r.op_case = OPC(PING);
	r.ping = &e;
	n = raw_pack(&r, &buf);
	rv = nfds > 0 ? raw_send_fds(s, buf, n, fds, nfds) :
	    raw_write(s, buf, n);
	free(buf);
	return (rv);
}

START_TEST(proto_stray_fds)
{
	const char	*allow[] = { "--allow-fd-passing", NULL };
	int		 s, p[2], base, i, closed;

	/*
	 * Without --allow-fd-passing a passed fd is closed unread and never
	 * kept (the pipe whose read end was passed has no reader left); the
	 * connection stays usable (docs/protocol.md, "Fd passing").  Before
	 * hello the frame itself closes it (request before hello).
	 */
	px_start(NULL);
	base = secd_nfds(&D);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
		s = raw_connect(D.sock);
		if (i == 0)
			ck_assert_int_eq(raw_hello(s), 0);
		/* After hello one fd; before hello three. */
		ck_assert_int_eq(px_ping_with_fds(s, 1, p[0], i == 0 ? 1 : 3),
		    0);
		close(p[0]);
		closed = px_reply_or_close(s);
		ck_assert_msg(!px_pipe_has_reader(p[1]), "the daemon kept a "
		    "stray fd (%s hello)", i == 0 ? "after" : "before");
		if (i == 0) {
			ck_assert_msg(!closed, "a stray fd closed the "
			    "connection");
			ck_assert_int_eq(px_ping_with_fds(s, 2, -1, 0), 0);
			ck_assert_msg(!px_reply_or_close(s), "the connection "
			    "is not usable after a stray fd");
		} else
			ck_assert_msg(closed, "a frame before hello did not "
			    "close the connection");
		close(s);
		close(p[1]);
		px_fds_back(base, "stray fds");
	}
	px_served("stray fds");
	secd_stop(&D);

	/* With it: more than AIOFS_MAX_PASSED_FDS unused fds is closed. */
	px_start(allow);
	base = secd_nfds(&D);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	s = raw_connect(D.sock);
	ck_assert_int_eq(raw_hello(s), 0);
	for (i = 0; i < AIOFS_MAX_PASSED_FDS / 16; i++)
		ck_assert_int_eq(px_ping_with_fds(s, 10 + i, p[0], 16), 0);
	/* 64 held: still open (they wait for Wrap requests). */
	usleep(100000);
	ck_assert(!raw_wait_closed(s, 200));
	ck_assert_int_ge(secd_nfds(&D), base + AIOFS_MAX_PASSED_FDS);
	ck_assert_int_eq(px_ping_with_fds(s, 99, p[0], 1), 0);
	close(p[0]);
	ck_assert_msg(raw_wait_closed(s, 3000), "fd %d did not close the "
	    "connection", AIOFS_MAX_PASSED_FDS + 1);
	close(s);
	px_fds_back(base, "fds over the cap");
	ck_assert(!px_pipe_has_reader(p[1]));
	close(p[1]);

	/* More fds in one message than the daemon takes: closed. */
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	s = raw_connect(D.sock);
	ck_assert_int_eq(raw_hello(s), 0);
	ck_assert_int_eq(px_ping_with_fds(s, 1, p[0], 40), 0);
	close(p[0]);
	ck_assert(raw_wait_closed(s, 3000));
	close(s);
	px_fds_back(base, "40 fds in one message");
	ck_assert(!px_pipe_has_reader(p[1]));
	close(p[1]);
	px_served("fd cap");
	secd_stop(&D);
}
END_TEST

START_TEST(proto_many_connections)
{
	int	 s[300], i, base;

	px_start(NULL);
	base = secd_nfds(&D);
	for (i = 0; i < 300; i++) {
		s[i] = raw_connect(D.sock);
		ck_assert_int_eq(raw_hello(s[i]), 0);
	}
	ck_assert_int_ge(secd_nfds(&D), base + 300);
	px_served("300 held connections");
	for (i = 0; i < 300; i++)
		close(s[i]);
	px_fds_back(base, "300 connections closed");
	px_served("after 300 connections");
	secd_stop(&D);
}
END_TEST

/*
 * Slowloris: with --hello-timeout 2 and --frame-timeout 2, a client
 * that never says hello, and one that dribbles a frame one byte a
 * second, are both closed within a few seconds, while others are served.
 */
START_TEST(proto_slowloris)
{
	const char	*args[] = { "--hello-timeout", "2", "--frame-timeout",
	    "2", NULL };
	Request		 r;
	Aiofs__V1__Stat	 st;
	uint8_t		*buf;
	size_t		 n, i;
	int		 silent, slow, slowhello, base, closed = 0;
	uint64_t	 t0;

	px_start(args);
	base = secd_nfds(&D);
	silent = raw_connect(D.sock);
	slowhello = raw_connect(D.sock);
	slow = raw_connect(D.sock);
	ck_assert_int_eq(raw_hello(slow), 0);
	px_stat_req(&r, &st, 1, "/a/path/long/enough/to/take/a/minute");
	n = raw_pack(&r, &buf);
	t0 = sec_now_ms();
	for (i = 0; i < n; i++) {
		if (raw_write(slow, buf + i, 1) == -1 ||
		    raw_wait_closed(slow, 1000)) {
			closed = 1;
			break;
		}
		if (i < 3)	/* a hello frame begun, never finished */
			(void)raw_write(slowhello, "\0", 1);
		px_served("during slowloris");
	}
	ck_assert_msg(closed, "a frame dribbled over %zu s was not cut off",
	    n);
	ck_assert_msg(sec_now_ms() - t0 < 6000, "the partial frame lived "
	    "%llu ms (deadline 2 s)", (unsigned long long)(sec_now_ms() - t0));
	ck_assert_msg(raw_wait_closed(silent, 3000), "no hello: not closed");
	ck_assert_msg(raw_wait_closed(slowhello, 3000), "slow hello: not "
	    "closed");
	free(buf);
	close(slow);
	close(silent);
	close(slowhello);
	px_fds_back(base, "slowloris");
	secd_stop(&D);
}
END_TEST

/* Make a file of size bytes in the root. */
static void
px_bigfile(const char *name, long size)
{
	char	 p[PATH_MAX], *buf;
	int	 fd;
	long	 i;

	snprintf(p, sizeof p, "%s/%s", D.root, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	buf = malloc(MIB);
	memset(buf, 'z', MIB);
	for (i = 0; i < size; i += MIB)
		ck_assert_int_eq(write(fd, buf, MIB), MIB);
	free(buf);
	close(fd);
}

/*
 * Clients that pipeline many large reads and never read a reply.  The
 * daemon stops running their requests once their unsent output passes
 * the high watermark (at most max_busy more chunks are in the making)
 * and stops reading them, so its memory stays bounded by
 *	baseline + nclients * (max_frame + HIWAT + (max_busy + 1) * CHUNK)
 * (docs/security.md; the input side is one frame at most), others are
 * served meanwhile, and every fd goes once they leave.  The daemon runs
 * with 4 workers, so max_busy is 3.
 */
START_TEST(proto_never_reads)
{
	Aiofs__V1__Open	 o = AIOFS__V1__OPEN__INIT;
	Aiofs__V1__Read	 rd = AIOFS__V1__READ__INIT;
	Aiofs__V1__ReadFile rf = AIOFS__V1__READ_FILE__INIT;
	Request		 r;
	Response	*resp;
	uint8_t		*buf;
	size_t		 n;
	long		 rss0, rss, peak = 0, bound;
	int		 s[4], i, k, base, max_busy = 3, nclients = 4;
	uint64_t	 handle;

	px_start(NULL);
	px_bigfile("big", 16 * MIB);
	base = secd_nfds(&D);
	rss0 = secd_rss_kb(&D);
	for (k = 0; k < nclients; k++) {
		s[k] = raw_connect(D.sock);
		ck_assert_int_eq(raw_hello(s[k]), 0);
		raw_req_init(&r, 1);
		o.has_path = 1;
		o.path.data = (uint8_t *)"big";
		o.path.len = 3;
		o.mode = "rb";
		r.op_case = OPC(OPEN);
		r.open = &o;
		ck_assert_int_eq(raw_send_req(s[k], &r), 0);
		resp = raw_recv(s[k], 3000);
		ck_assert_ptr_nonnull(resp);
		ck_assert_int_eq(resp->result_case, RES(FILE));
		handle = resp->file->handle;
		aiofs__v1__response__free_unpacked(resp, NULL);
		/* 200 reads of the whole file, and 200 readfiles. */
		for (i = 0; i < 400; i++) {
			raw_req_init(&r, 100 + i);
			if (i % 2 == 0) {
				aiofs__v1__read__init(&rd);
				rd.has_handle = rd.has_size = 1;
				rd.handle = handle;
				rd.size = -1;
				r.op_case = OPC(READ);
				r.read = &rd;
			} else {
				aiofs__v1__read_file__init(&rf);
				rf.has_path = 1;
				rf.path.data = (uint8_t *)"big";
				rf.path.len = 3;
				r.op_case = OPC(READFILE);
				r.readfile = &rf;
			}
			n = raw_pack(&r, &buf);
			/* The daemon stops reading: do not block on it. */
			if (send(s[k], buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) !=
			    (ssize_t)n) {
				free(buf);
				break;
			}
			free(buf);
		}
	}
	for (i = 0; i < 30; i++) {
		usleep(100000);
		rss = secd_rss_kb(&D);
		if (rss > peak)
			peak = rss;
		if (i % 10 == 0)
			px_served("while clients do not read");
	}
	bound = nclients * ((long)(AIOFS_MAX_MSG / 1024) +
	    (long)(AIOFS_OUT_HIWAT / 1024) +
	    (max_busy + 1) * (long)(AIOFS_MAX_CHUNK / 1024));
	/* The allocator's own slack; ASan's redzones and quarantine. */
	bound = rss0 + 16 * 1024 + bound * PX_RSS_FACTOR;
	fprintf(stderr, "proto_never_reads: VmRSS %ld kB at start, peak %ld "
	    "kB, bound %ld kB\n", rss0, peak, bound);
	ck_assert_msg(peak <= bound, "VmRSS %ld kB over the bound %ld kB",
	    peak, bound);
	ck_assert(secd_alive(&D));
	for (k = 0; k < nclients; k++)
		close(s[k]);
	px_fds_back(base, "after the non-readers left");
	px_served("after the non-readers left");
	secd_stop(&D);
}
END_TEST

Suite *
protocol_suite(void)
{
	Suite	*s = suite_create("protocol");
	TCase	*tc = tcase_create("protocol");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, proto_lengths);
	tcase_add_test(tc, proto_ops);
	tcase_add_test(tc, proto_stray_fds);
	tcase_add_test(tc, proto_many_connections);
	tcase_add_test(tc, proto_slowloris);
	tcase_add_test(tc, proto_never_reads);
	suite_add_tcase(s, tc);
	return (s);
}
