/*
 * check_integration.c - the wire protocol abused with raw sockets, no
 * libaiofs: garbage, impossible lengths, truncated and undecodable
 * frames, unknown ops, no or wrong handshake, duplicate ids, and a client
 * that never reads its replies.  After each, the daemon must still be
 * running and serve a well-behaved client (DESIGN: "the daemon keeps
 * serving everyone else"; STYLE rule 6: violations kill the connection,
 * never the daemon).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "fdpass.h"
#include "testutil.h"

#define MiB	(1024 * 1024)

/* Monotonic milliseconds. */
static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static struct tdaemon	*cur_daemon;	/* for failure messages */

/* tdaemon_start, remembering the daemon for must_resp()'s diagnosis. */
static void
ti_start(struct tdaemon *d, const char *const *extra)
{
	tdaemon_start(d, extra);
	cur_daemon = d;
}

/* Why a reply did not come: "aiofsd died (signal 11)" or the socket's. */
static const char *
why_no_reply(int eof)
{
	static char	 buf[64];
	int		 status;

	if (cur_daemon != NULL && cur_daemon->pid > 0 &&
	    waitpid(cur_daemon->pid, &status, WNOHANG) == cur_daemon->pid) {
		cur_daemon->pid = 0;
		if (WIFSIGNALED(status))
			snprintf(buf, sizeof buf, "aiofsd died of signal %d",
			    WTERMSIG(status));
		else
			snprintf(buf, sizeof buf, "aiofsd exited with %d",
			    WEXITSTATUS(status));
		return (buf);
	}
	return (eof ? "connection closed" : "timeout");
}

/* A blocking connection with a 5 s receive timeout. */
static int
raw_connect(struct tdaemon *d)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { 5, 0 };
	int			 fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", d->sock);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof tv), 0);
	return (fd);
}

/* Write all of buf. */
static void
send_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		p += n;
		len -= n;
	}
}

/* Send body as one frame (header and body in one write). */
static void
send_frame(int fd, const void *body, size_t len)
{
	uint8_t	*p = malloc(4 + len + 1);

	frame_put_header(p, (uint32_t)len);
	if (len > 0)
		memcpy(p + 4, body, len);
	send_all(fd, p, 4 + len);
	free(p);
}

/* Pack a Request as one frame at buf; returns the frame size. */
static size_t
pack_req(uint8_t *buf, const Request *m)
{
	size_t	 n = aiofs__v1__request__get_packed_size(m);

	frame_put_header(buf, (uint32_t)n);
	aiofs__v1__request__pack(m, buf + 4);
	return (4 + n);
}

/* Send one Request. */
static void
send_req(int fd, const Request *m)
{
	uint8_t	*buf = malloc(4 + aiofs__v1__request__get_packed_size(m));
	size_t	 n = pack_req(buf, m);

	send_all(fd, buf, n);
	free(buf);
}

/*
 * Read exactly len bytes.  1 on success, 0 on EOF before any byte, -1 on
 * timeout or error (or EOF in the middle).
 */
static int
recv_all(int fd, void *buf, size_t len)
{
	char	*p = buf;
	size_t	 got = 0;
	ssize_t	 n;

	while (got < len) {
		n = recv(fd, p + got, len - got, 0);
		if (n == 0)
			return (got == 0 ? 0 : -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		got += n;
	}
	return (1);
}

/* Next reply: the Response, or NULL at EOF (*eof set) or on timeout. */
static Response *
recv_resp(int fd, int *eof)
{
	uint8_t		 hdr[4], *body;
	uint32_t	 n;
	Response	*r;
	int		 rc;

	*eof = 0;
	if ((rc = recv_all(fd, hdr, 4)) != 1) {
		*eof = rc == 0 || (rc == -1 && errno == ECONNRESET);
		return (NULL);
	}
	n = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
	    ((uint32_t)hdr[2] << 8) | hdr[3];
	ck_assert_uint_le(n, AIOFS_MAX_MSG + 65536);
	body = malloc(n + 1);
	ck_assert_int_eq(recv_all(fd, body, n), 1);
	r = aiofs__v1__response__unpack(NULL, n, body);
	free(body);
	ck_assert_msg(r != NULL, "the daemon sent an undecodable frame");
	return (r);
}

/* A reply that must come: fails on EOF or timeout. */
static Response *
must_resp(int fd)
{
	Response	*r;
	int		 eof;

	r = recv_resp(fd, &eof);
	ck_assert_msg(r != NULL, "no reply (%s)", why_no_reply(eof));
	return (r);
}

/*
 * The daemon must close the connection: drain replies (returned through
 * *last if wanted, the last error seen) until EOF, within 5 s.
 */
static int
expect_closed(int fd, int *last_errno)
{
	Response	*r;
	int		 eof, n = 0;
	long long	 end = now_ms() + 5000;

	if (last_errno != NULL)
		*last_errno = 0;
	for (;;) {
		r = recv_resp(fd, &eof);
		if (r == NULL) {
			ck_assert_msg(eof, "connection not closed by the "
			    "daemon after %d replies", n);
			return (n);
		}
		if (r->result_case == AIOFS__V1__RESPONSE__RESULT_ERROR &&
		    last_errno != NULL)
			*last_errno = r->error->errno_value;
		aiofs__v1__response__free_unpacked(r, NULL);
		n++;
		ck_assert_msg(now_ms() < end, "still talking after 5 s");
	}
}

/* Hello with the given version (0: unset) under id. */
static void
send_hello(int fd, uint64_t id, uint32_t version)
{
	Request			 m = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__Hello	 h = AIOFS__V1__HELLO__INIT;

	m.has_id = 1;
	m.id = id;
	if (version != 0) {
		h.has_protocol_version = 1;
		h.protocol_version = version;
	}
	h.client_name = "check_integration";
	m.op_case = AIOFS__V1__REQUEST__OP_HELLO;
	m.hello = &h;
	send_req(fd, &m);
}

static uint32_t	hello_max_frame;	/* from the last do_hello() */

/* Handshake that must succeed. */
static void
do_hello(int fd)
{
	Response	*r;

	send_hello(fd, 1, AIOFS_PROTOCOL_VERSION);
	r = must_resp(fd);
	ck_assert_uint_eq(r->id, 1);
	ck_assert_msg(r->result_case == AIOFS__V1__RESPONSE__RESULT_HELLO,
	    "hello answered with result %d", r->result_case);
	ck_assert_uint_eq(r->hello->protocol_version, AIOFS_PROTOCOL_VERSION);
	ck_assert_uint_gt(r->hello->max_frame, 0);
	hello_max_frame = r->hello->max_frame;
	aiofs__v1__response__free_unpacked(r, NULL);
}

/* A ping under id. */
static void
send_ping(int fd, uint64_t id)
{
	Request			 m = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__Empty	 e = AIOFS__V1__EMPTY__INIT;

	m.has_id = 1;
	m.id = id;
	m.op_case = AIOFS__V1__REQUEST__OP_PING;
	m.ping = &e;
	send_req(fd, &m);
}

/* A ping that must be answered with Empty. */
static void
do_ping(int fd, uint64_t id)
{
	Response	*r;

	send_ping(fd, id);
	r = must_resp(fd);
	ck_assert_uint_eq(r->id, id);
	ck_assert_msg(r->result_case == AIOFS__V1__RESPONSE__RESULT_EMPTY,
	    "ping answered with result %d", r->result_case);
	aiofs__v1__response__free_unpacked(r, NULL);
}

/* The daemon process is still there. */
static void
assert_alive(struct tdaemon *d)
{
	int	 status = 0;

	ck_assert_msg(waitpid(d->pid, &status, WNOHANG) == 0,
	    "aiofsd died (%s %d)", WIFSIGNALED(status) ? "signal" : "status",
	    WIFSIGNALED(status) ? WTERMSIG(status) : status);
}

/* A well-behaved client is served: hello and ping on a new connection. */
static void
assert_served(struct tdaemon *d)
{
	int	 fd;

	assert_alive(d);
	fd = raw_connect(d);
	do_hello(fd);
	do_ping(fd, 2);
	do_ping(fd, 3);
	close(fd);
	assert_alive(d);
}

/* The error of r (which must be one) under id. */
static int
resp_errno(Response *r, uint64_t id)
{
	ck_assert_msg(r->result_case == AIOFS__V1__RESPONSE__RESULT_ERROR,
	    "expected an error reply, got result %d", r->result_case);
	ck_assert_uint_eq(r->id, id);
	ck_assert_ptr_nonnull(r->error);
	ck_assert_ptr_nonnull(r->error->name);
	ck_assert_str_eq(r->error->name, errmap_name(r->error->errno_value));
	return (r->error->errno_value);
}

START_TEST(test_good_client)
{
	struct tdaemon	 d;

	ti_start(&d, NULL);
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_garbage_text)
{
	struct tdaemon	 d;
	const char	*junk = "GET / HTTP/1.1\r\nHost: aiofsd\r\n\r\n";
	int		 fd, e;

	ti_start(&d, NULL);
	fd = raw_connect(&d);
	/* "GET " is a length of 1.2 GB: refused from the header alone. */
	send_all(fd, junk, strlen(junk));
	expect_closed(fd, &e);
	ck_assert_int_eq(e, EMSGSIZE);
	close(fd);
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_garbage_binary)
{
	struct tdaemon	 d;
	uint8_t		 junk[4096];
	size_t		 i;
	uint32_t	 x = 12345;
	int		 fd, round;

	ti_start(&d, NULL);
	for (round = 0; round < 20; round++) {
		fd = raw_connect(&d);
		if (round % 2 == 1)
			do_hello(fd);
		for (i = 0; i < sizeof junk; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			junk[i] = (uint8_t)x;
		}
		/* Random lengths, random bodies: whatever happens, it ends. */
		send_all(fd, junk, sizeof junk);
		shutdown(fd, SHUT_WR);
		expect_closed(fd, NULL);
		close(fd);
		assert_alive(&d);
	}
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_length_ffffffff)
{
	struct tdaemon	 d;
	uint8_t		 hdr[4] = { 0xff, 0xff, 0xff, 0xff };
	Response	*r;
	int		 fd, eof, pass;

	ti_start(&d, NULL);
	for (pass = 0; pass < 2; pass++) {
		fd = raw_connect(&d);
		if (pass == 1)
			do_hello(fd);
		send_all(fd, hdr, 4);
		/* An error reply, then the connection is closed. */
		r = recv_resp(fd, &eof);
		ck_assert_msg(r != NULL, "no error reply to a 4 GiB frame (%s)",
		    eof ? "closed" : "timeout");
		ck_assert_int_eq(r->result_case,
		    AIOFS__V1__RESPONSE__RESULT_ERROR);
		ck_assert_int_eq(r->error->errno_value, EMSGSIZE);
		ck_assert_str_eq(r->error->name, "EMSGSIZE");
		aiofs__v1__response__free_unpacked(r, NULL);
		expect_closed(fd, NULL);
		close(fd);
		assert_served(&d);
	}
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_just_over_max_frame)
{
	struct tdaemon	 d;
	const char	*extra[] = { "--max-frame", NULL, NULL };
	char		 arg[32];
	uint8_t		 hdr[4];
	int		 fd, e;

	/* The smallest --max-frame the daemon takes. */
	snprintf(arg, sizeof arg, "%u", (unsigned)AIOFS_MIN_MSG);
	extra[1] = arg;
	ti_start(&d, extra);
	fd = raw_connect(&d);
	do_hello(fd);
	ck_assert_uint_eq(hello_max_frame, AIOFS_MIN_MSG);
	/* max+1, and the body never sent: refused before it is awaited. */
	frame_put_header(hdr, hello_max_frame + 1);
	send_all(fd, hdr, 4);
	expect_closed(fd, &e);
	ck_assert_int_eq(e, EMSGSIZE);
	close(fd);
	/* Exactly max is a frame like any other (here: undecodable). */
	fd = raw_connect(&d);
	do_hello(fd);
	{
		uint8_t	*big = calloc(1, 4 + hello_max_frame);

		frame_put_header(big, hello_max_frame);
		big[4] = 0x0f;		/* wire type 7: undecodable */
		send_all(fd, big, 4 + hello_max_frame);
		free(big);
	}
	expect_closed(fd, &e);
	ck_assert_int_ne(e, EMSGSIZE);
	close(fd);
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_truncated_frame)
{
	struct tdaemon	 d;
	uint8_t		 buf[4 + 10];
	int		 fd, pass;

	ti_start(&d, NULL);
	for (pass = 0; pass < 3; pass++) {
		fd = raw_connect(&d);
		if (pass > 0)
			do_hello(fd);
		/* Says 100 bytes, sends 10 (or just 2 of the header). */
		frame_put_header(buf, 100);
		memset(buf + 4, 0x08, 10);
		send_all(fd, buf, pass == 2 ? 2 : sizeof buf);
		if (pass == 1) {
			close(fd);
			assert_served(&d);
			continue;
		}
		shutdown(fd, SHUT_WR);
		ck_assert_int_eq(expect_closed(fd, NULL), 0);
		close(fd);
		assert_served(&d);
	}
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_undecodable)
{
	struct tdaemon	 d;
	/* Field 1 (id), varint whose continuation bit never ends. */
	static const uint8_t bad1[] = { 0x08, 0xff, 0xff };
	/* Field 11 (read), length 50 but 2 bytes follow. */
	static const uint8_t bad2[] = { 0x08, 0x01, 0x5a, 0x32, 0x08, 0x01 };
	/* Wire type 7 does not exist. */
	static const uint8_t bad3[] = { 0x0f, 0x00 };
	const uint8_t	*bad[] = { bad1, bad2, bad3 };
	size_t		 badlen[] = { sizeof bad1, sizeof bad2, sizeof bad3 };
	size_t		 i;
	int		 fd;

	ti_start(&d, NULL);
	for (i = 0; i < 3; i++) {
		ck_assert_ptr_null(aiofs__v1__request__unpack(NULL, badlen[i],
		    bad[i]));
		fd = raw_connect(&d);
		do_hello(fd);
		send_frame(fd, bad[i], badlen[i]);
		/* A protocol violation: the connection is dropped. */
		expect_closed(fd, NULL);
		close(fd);
		assert_served(&d);
	}
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_unknown_op)
{
	struct tdaemon	 d;
	/* id 5, then field 1000 (varint 1): not an op this daemon knows. */
	static const uint8_t unknown[] = { 0x08, 0x05, 0xc0, 0x3e, 0x01 };
	/* id 6 and no op at all. */
	static const uint8_t none[] = { 0x08, 0x06 };
	/* id 7, field 120 as a length-delimited message. */
	static const uint8_t unknown2[] = { 0x08, 0x07, 0xc2, 0x07, 0x02,
	    0x08, 0x01 };
	Response	*r;
	int		 fd;

	ti_start(&d, NULL);
	fd = raw_connect(&d);
	do_hello(fd);
	send_frame(fd, unknown, sizeof unknown);
	r = must_resp(fd);
	ck_assert_int_eq(resp_errno(r, 5), ENOSYS);
	aiofs__v1__response__free_unpacked(r, NULL);
	/* The connection stays usable. */
	do_ping(fd, 100);
	send_frame(fd, none, sizeof none);
	r = must_resp(fd);
	ck_assert_int_eq(resp_errno(r, 6), ENOSYS);
	aiofs__v1__response__free_unpacked(r, NULL);
	send_frame(fd, unknown2, sizeof unknown2);
	r = must_resp(fd);
	ck_assert_int_eq(resp_errno(r, 7), ENOSYS);
	aiofs__v1__response__free_unpacked(r, NULL);
	do_ping(fd, 101);
	close(fd);
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_request_before_hello)
{
	struct tdaemon	 d;
	Response	*r;
	int		 fd;

	ti_start(&d, NULL);
	fd = raw_connect(&d);
	send_ping(fd, 1);
	r = must_resp(fd);
	ck_assert_int_eq(resp_errno(r, 1), EPROTO);
	aiofs__v1__response__free_unpacked(r, NULL);
	expect_closed(fd, NULL);
	close(fd);
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_hello_wrong_version)
{
	struct tdaemon	 d;
	Response	*r;
	int		 fd, eof;
	uint32_t	 versions[] = { 99, 0 };
	size_t		 i;

	ti_start(&d, NULL);
	for (i = 0; i < 2; i++) {
		fd = raw_connect(&d);
		send_hello(fd, 9, versions[i]);
		r = recv_resp(fd, &eof);
		ck_assert_msg(r != NULL, "no answer to a bad hello (%s)",
		    eof ? "closed" : "timeout: a hang");
		ck_assert_int_eq(resp_errno(r, 9), EPROTO);
		/* A clear message, naming the version spoken. */
		ck_assert_ptr_nonnull(r->error->message);
		ck_assert_ptr_nonnull(strstr(r->error->message, "version"));
		if (versions[i] == 99)
			ck_assert_ptr_nonnull(strstr(r->error->message, "99"));
		aiofs__v1__response__free_unpacked(r, NULL);
		/* No session: anything else is still refused. */
		send_ping(fd, 10);
		r = recv_resp(fd, &eof);
		if (r != NULL) {
			ck_assert_int_eq(resp_errno(r, 10), EPROTO);
			aiofs__v1__response__free_unpacked(r, NULL);
		}
		close(fd);
		assert_served(&d);
	}
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_hello_twice)
{
	struct tdaemon	 d;
	Response	*r;
	int		 fd;

	ti_start(&d, NULL);
	fd = raw_connect(&d);
	do_hello(fd);
	send_hello(fd, 2, AIOFS_PROTOCOL_VERSION);
	r = must_resp(fd);
	ck_assert_int_eq(resp_errno(r, 2), EPROTO);
	aiofs__v1__response__free_unpacked(r, NULL);
	close(fd);
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_duplicate_ids)
{
	struct tdaemon		 d;
	Request			 m = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__ReadFile	 rf = AIOFS__V1__READ_FILE__INIT;
	uint8_t			*buf;
	size_t			 off = 0;
	char			 path[400];
	int			 fd, i;

	ti_start(&d, NULL);
	snprintf(path, sizeof path, "%s/f", d.root);
	{
		FILE *f = fopen(path, "w");

		/* Over 64 KiB, so it is not read on the loop (fast.c). */
		ck_assert_ptr_nonnull(f);
		for (i = 0; i < 10000; i++)
			fputs("contents\n", f);
		fclose(f);
	}
	/* Ids may be reused once answered. */
	fd = raw_connect(&d);
	do_hello(fd);
	do_ping(fd, 7);
	do_ping(fd, 7);
	/* Two requests in flight under one id, in one write. */
	rf.has_path = 1;
	rf.path.data = (uint8_t *)"f";
	rf.path.len = 1;
	m.has_id = 1;
	m.id = 42;
	m.op_case = AIOFS__V1__REQUEST__OP_READFILE;
	m.readfile = &rf;
	buf = malloc(4096);
	for (i = 0; i < 3; i++)
		off += pack_req(buf + off, &m);
	send_all(fd, buf, off);
	free(buf);
	expect_closed(fd, NULL);
	close(fd);
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

START_TEST(test_many_bad_clients)
{
	struct tdaemon	 d;
	uint8_t		 hdr[4] = { 0x7f, 0xff, 0xff, 0xff };
	int		 fds[64], i;

	ti_start(&d, NULL);
	/* Many at once, each bad in its own way, all dropped together. */
	for (i = 0; i < 64; i++) {
		fds[i] = raw_connect(&d);
		switch (i % 4) {
		case 0:
			send_all(fds[i], hdr, 4);
			break;
		case 1:
			send_ping(fds[i], 1);
			break;
		case 2:
			do_hello(fds[i]);
			send_frame(fds[i], "\x0f\x00", 2);
			break;
		case 3:
			send_all(fds[i], hdr, 2);
			break;
		}
	}
	for (i = 0; i < 64; i++) {
		if (i % 4 == 3)
			shutdown(fds[i], SHUT_WR);
		expect_closed(fds[i], NULL);
		close(fds[i]);
	}
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

/* Send one frame with fd attached as SCM_RIGHTS. */
static void
send_with_fd(int s, const Request *m, int fd)
{
	struct iovec	 iov;
	uint8_t		*buf;

	buf = malloc(4 + aiofs__v1__request__get_packed_size(m));
	iov.iov_base = buf;
	iov.iov_len = pack_req(buf, m);
	ck_assert_int_eq(aiofs__sendmsg_fd(s, &iov, 1, fd),
	    (ssize_t)iov.iov_len);
	free(buf);
}

START_TEST(test_fd_without_fd_passing)
{
	struct tdaemon		 d;
	Request			 m = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__Empty	 e = AIOFS__V1__EMPTY__INIT;
	Aiofs__V1__Wrap		 w = AIOFS__V1__WRAP__INIT;
	Response		*r;
	int			 fd, p[2], i, eof;

	/* fd passing is off by default: fds sent anyway must not hurt. */
	ti_start(&d, NULL);
	ck_assert_int_eq(pipe(p), 0);
	for (i = 0; i < 20; i++) {
		fd = raw_connect(&d);
		do_hello(fd);
		m.has_id = 1;
		m.id = 50 + i;
		if (i % 2 == 0) {
			m.op_case = AIOFS__V1__REQUEST__OP_PING;
			m.ping = &e;
		} else {
			w.mode = "wb";
			m.op_case = AIOFS__V1__REQUEST__OP_WRAP;
			m.wrap = &w;
		}
		send_with_fd(fd, &m, p[1]);
		/*
		 * An answer, no hang: the ping may be answered (the fd
		 * dropped), the wrap must be refused with EPERM; or the
		 * connection is dropped.
		 */
		r = recv_resp(fd, &eof);
		ck_assert_msg(r != NULL || eof, "no answer to a stray fd");
		if (r != NULL) {
			if (i % 2 == 1 || r->result_case !=
			    AIOFS__V1__RESPONSE__RESULT_EMPTY)
				ck_assert_int_eq(resp_errno(r, 50 + i), EPERM);
			aiofs__v1__response__free_unpacked(r, NULL);
		}
		close(fd);
		assert_alive(&d);
	}
	close(p[0]);
	close(p[1]);
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

/* Send a ping frame carrying nfd copies of fd. */
static void
send_ping_fds(int s, uint64_t id, int fd, int nfd)
{
	Request			 m = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__Empty	 e = AIOFS__V1__EMPTY__INIT;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	char			*cbuf;
	uint8_t			 buf[64];
	int			 i;

	m.has_id = 1;
	m.id = id;
	m.op_case = AIOFS__V1__REQUEST__OP_PING;
	m.ping = &e;
	iov.iov_base = buf;
	iov.iov_len = pack_req(buf, &m);
	cbuf = calloc(1, CMSG_SPACE(nfd * sizeof(int)));
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
	for (i = 0; i < nfd; i++)
		memcpy(CMSG_DATA(cm) + i * sizeof(int), &fd, sizeof fd);
	ck_assert_int_eq(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)iov.iov_len);
	free(cbuf);
}

START_TEST(test_fd_flood)
{
	static const char *const extra[] = { "--allow-fd-passing", NULL };
	struct tdaemon	 d;
	Response	*r;
	int		 fd, p[2], i, eof;

	ti_start(&d, extra);
	ck_assert_int_eq(pipe(p), 0);
	/* More fds in one message than the daemon takes at once. */
	fd = raw_connect(&d);
	do_hello(fd);
	send_ping_fds(fd, 5, p[0], 40);
	expect_closed(fd, NULL);
	close(fd);
	assert_served(&d);

	/* Unused fds piling up past the limit, 16 at a time. */
	fd = raw_connect(&d);
	do_hello(fd);
	for (i = 0; i < 10; i++) {
		send_ping_fds(fd, 10 + i, p[0], 16);
		r = recv_resp(fd, &eof);
		if (r == NULL)
			break;
		aiofs__v1__response__free_unpacked(r, NULL);
	}
	ck_assert_msg(i < 10, "160 unused fds accepted without complaint");
	close(fd);
	assert_served(&d);
	close(p[0]);
	close(p[1]);
	tdaemon_stop(&d);
}
END_TEST


START_TEST(test_reader_that_never_reads)
{
	struct tdaemon		 d;
	Request			 m = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__ReadFile	 rf = AIOFS__V1__READ_FILE__INIT;
	uint8_t			*out, *data;
	size_t			 outlen = 0, sent = 0, i;
	char			 path[400];
	long			 kib, maxkib = 0;
	long long		 end, idle;
	ssize_t			 n;
	int			 fd, other, fl;
	Response		*r;

	ti_start(&d, NULL);
	snprintf(path, sizeof path, "%s/mib", d.root);
	data = malloc(MiB);
	memset(data, 'm', MiB);
	{
		int hf = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		ck_assert_int_ge(hf, 0);
		ck_assert_int_eq(write(hf, data, MiB), MiB);
		close(hf);
	}
	free(data);

	fd = raw_connect(&d);
	do_hello(fd);
	/* 10,000 reads of the whole 1 MiB file, none of the replies read. */
	rf.has_path = 1;
	rf.path.data = (uint8_t *)"mib";
	rf.path.len = 3;
	m.has_id = 1;
	m.op_case = AIOFS__V1__REQUEST__OP_READFILE;
	m.readfile = &rf;
	out = malloc(10000 * 64);
	for (i = 0; i < 10000; i++) {
		m.id = 1000 + i;
		outlen += pack_req(out + outlen, &m);
	}
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	/* Send what the daemon takes; it stops taking (backpressure). */
	end = now_ms() + 4000;
	idle = now_ms() + 1000;
	while (sent < outlen && now_ms() < end && now_ms() < idle) {
		n = send(fd, out + sent, outlen - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += n;
			idle = now_ms() + 1000;
		} else
			usleep(10000);
		kib = tproc_status_kib(d.pid, "VmRSS");
		if (kib > maxkib)
			maxkib = kib;
	}
	free(out);
	/* Watch the daemon's memory while it sits on the replies. */
	end = now_ms() + 2000;
	while (now_ms() < end) {
		kib = tproc_status_kib(d.pid, "VmRSS");
		ck_assert_msg(kib > 0, "aiofsd gone");
		if (kib > maxkib)
			maxkib = kib;
		usleep(50000);
	}
	ck_assert_msg(maxkib <= 256 * 1024, "aiofsd RSS reached %ld MiB "
	    "for a client that does not read (bound 256 MiB)",
	    maxkib / 1024);

	/* Meanwhile everyone else is served, big reads included. */
	assert_served(&d);
	other = raw_connect(&d);
	do_hello(other);
	m.id = 77;
	send_req(other, &m);
	{
		size_t	 got = 0;
		int	 eof, more = 1;

		while (more) {
			r = recv_resp(other, &eof);
			ck_assert_msg(r != NULL, "second client not served");
			ck_assert_int_eq(r->result_case,
			    AIOFS__V1__RESPONSE__RESULT_DATA);
			got += r->data->data.len;
			more = r->more;
			aiofs__v1__response__free_unpacked(r, NULL);
		}
		ck_assert_uint_eq(got, MiB);
	}
	close(other);
	/* Dropping the stuck client frees what it held. */
	close(fd);
	assert_served(&d);
	tdaemon_stop(&d);
}
END_TEST

Suite *
integration_suite(void)
{
	Suite	*s = suite_create("integration");
	TCase	*tc;

	tc = tcase_create("abuse");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_good_client);
	tcase_add_test(tc, test_garbage_text);
	tcase_add_test(tc, test_garbage_binary);
	tcase_add_test(tc, test_length_ffffffff);
	tcase_add_test(tc, test_just_over_max_frame);
	tcase_add_test(tc, test_truncated_frame);
	tcase_add_test(tc, test_undecodable);
	tcase_add_test(tc, test_unknown_op);
	tcase_add_test(tc, test_request_before_hello);
	tcase_add_test(tc, test_hello_wrong_version);
	tcase_add_test(tc, test_hello_twice);
	tcase_add_test(tc, test_duplicate_ids);
	tcase_add_test(tc, test_many_bad_clients);
	tcase_add_test(tc, test_fd_without_fd_passing);
	tcase_add_test(tc, test_fd_flood);
	suite_add_tcase(s, tc);

	tc = tcase_create("backpressure");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reader_that_never_reads);
	suite_add_tcase(s, tc);
	return (s);
}
