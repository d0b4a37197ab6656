/*
 * sequence_fuzzer.c - libFuzzer target: a whole client session against
 * the real connection code, in process.  Each input becomes one
 * connection: conn_new() on one end of a socketpair (SO_PEERCRED works on
 * those), the daemon's libevent loop and worker pool (2 threads) running
 * as in aiofsd, and the fuzzer playing the client on the other end.
 *
 * Input format (so that mutations stay meaningful):
 *
 *	byte 0		flags: 1 send a valid Hello first,
 *			2 --strict-paths, 4 --allow-fd-passing,
 *			8 --read-only
 *	then records	[kind][len (2 bytes, big-endian)][len bytes]:
 *	  kind % 6 == 0	raw bytes to the socket (framing attacks)
 *			1  one frame: a length header, then the bytes (a
 *			   Request body, mutated)
 *			2  the same, with an fd attached (SCM_RIGHTS)
 *			3  run the loop until the workers are idle
 *			4  read and check the replies so far
 *			5  half-close: the client stops sending
 *
 * At the end the client closes; the connection must be freed within 5 s
 * (every request finished or cancelled, every handle closed).  Oracles,
 * besides ASan/UBSan: every frame the daemon sends decodes as a Response
 * no larger than max_frame; a canary next to the root never changes; the
 * process's fd count stays bounded; no connection outlives its input.
 *
 * Build and run: tests/fuzz/run.sh SECONDS (see tests/fuzz/README.md).
 * FUZZ_WRITE_SEEDS=DIR writes a seed corpus into DIR and exits.
 * FUZZ_SEQ_NO_FDS=1 sends kind 2 records without their fd (to explore
 * past a known fd-passing bug: crashes/sequence-stray-fd-uaf.bin).
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aiofsd.h"
#include "fuzzroot.h"

#define OPC(x)		AIOFS__V1__REQUEST__OP_##x
#define SF_MAX_FRAME	(1U << 20)	/* --max-frame here */
#define SF_MAX_FDS	256
#define SF_RESET_EVERY	1000
#define SF_END_MS	5000		/* a conn is gone by then */

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct fuzzroot	 sf_fr;		/* the root and its canary */
static unsigned long	 sf_runs;
static int		 sf_no_fds;

/* The client side of one input. */
struct sf_client {
	int		 fd;
	uint8_t		*in;		/* not framed yet */
	size_t		 inlen;
	size_t		 incap;
	int		 eof;
};

/* Milliseconds, monotonic. */
static uint64_t
sf_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Empty the root and make the seed tree, links out included. */
static void
sf_tree(void)
{
	char	 p[PATH_MAX], t[PATH_MAX];

	fuzz_clear(sf_fr.root);
#define P(s)	(snprintf(p, sizeof p, "%s/%s", sf_fr.root, (s)), p)
	mkdir(P("d"), 0755);
	mkdir(P("tmp"), 0777);
	fuzz_write(P("f"), "hello\nworld\n");
	fuzz_write(P("d/g"), "g\n");
	fuzz_write(P("text"), "caf\xc3\xa9\r\nline two\nthree");
	symlink(sf_fr.canary, P("esc_abs"));
	snprintf(t, sizeof t, "../../../../../../..%s", sf_fr.canary);
	symlink(t, P("esc_rel"));
	symlink("f", P("lnk"));
#undef P
}

/* Open fds of this process. */
static int
sf_nfds(void)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL)
		n++;
	closedir(d);
	return (n);
}

/* Append a record to a seed. */
static size_t
sf_rec(uint8_t *out, size_t off, int kind, const void *p, size_t len)
{
	out[off++] = kind;
	out[off++] = len >> 8;
	out[off++] = len;
	memcpy(out + off, p, len);
	return (off + len);
}

/* A packed request as a frame record. */
static size_t
sf_rec_req(uint8_t *out, size_t off, int kind, const Request *r)
{
	uint8_t	 buf[2048];
	size_t	 n = aiofs__v1__request__get_packed_size(r);

	if (n > sizeof buf)
		fuzz_die("seed too big");
	aiofs__v1__request__pack(r, buf);
	return (sf_rec(out, off, kind, buf, n));
}

/* Write the seed corpus. */
static void
sf_seeds(const char *dir)
{
	Request			 r;
	Aiofs__V1__Open		 o = AIOFS__V1__OPEN__INIT;
	Aiofs__V1__Read		 rd = AIOFS__V1__READ__INIT;
	Aiofs__V1__Handle	 h = AIOFS__V1__HANDLE__INIT;
	Aiofs__V1__Stat		 st = AIOFS__V1__STAT__INIT;
	Aiofs__V1__Path		 p = AIOFS__V1__PATH__INIT;
	Aiofs__V1__Cancel	 c = AIOFS__V1__CANCEL__INIT;
	Aiofs__V1__Wrap		 w = AIOFS__V1__WRAP__INIT;
	Aiofs__V1__Empty	 e = AIOFS__V1__EMPTY__INIT;
	uint8_t			 out[8192];
	char			 name[PATH_MAX];
	size_t			 off;
	int			 i, fd;

#define BIN(s)	((ProtobufCBinaryData){ strlen(s), (uint8_t *)(s) })
	for (i = 0; i < 8; i++) {
		off = 0;
		out[off++] = (i & 1 ? 1 : 0) | (i & 2 ? 2 : 0) |
		    (i & 4 ? 4 : 0);
		/* open f, read it, stat through a link out, close. */
		aiofs__v1__request__init(&r);
		r.has_id = 1;
		r.id = 1;
		o.has_path = 1;
		o.path = BIN(i < 4 ? "f" : "text");
		o.mode = i < 4 ? "rb" : "r";
		r.op_case = OPC(OPEN);
		r.open = &o;
		off = sf_rec_req(out, off, 1, &r);
		off = sf_rec(out, off, 3, "", 0);
		r.id = 2;
		rd.has_handle = rd.has_size = 1;
		rd.handle = ((uint64_t)1 << 32) | 1;
		rd.size = -1;
		r.op_case = OPC(READ);
		r.read = &rd;
		off = sf_rec_req(out, off, 1, &r);
		r.id = 3;
		st.has_path = 1;
		st.path = BIN(i % 2 ? "esc_abs/secret" : "esc_rel/secret");
		r.op_case = OPC(STAT);
		r.stat = &st;
		off = sf_rec_req(out, off, 1, &r);
		r.id = 4;
		c.has_target = 1;
		c.target = 2;
		r.op_case = OPC(CANCEL);
		r.cancel = &c;
		off = sf_rec_req(out, off, 1, &r);
		r.id = 5;
		p.has_path = 1;
		p.path = BIN("d");
		r.op_case = OPC(CHDIR);
		r.chdir = &p;
		off = sf_rec_req(out, off, 1, &r);
		r.id = 6;
		r.op_case = OPC(WRAP);
		r.wrap = &w;
		off = sf_rec_req(out, off, 2, &r);	/* with an fd */
		r.id = 7;
		h.has_handle = 1;
		h.handle = rd.handle;
		r.op_case = OPC(CLOSE);
		r.close = &h;
		off = sf_rec_req(out, off, 1, &r);
		r.id = 7;			/* a duplicate id */
		r.op_case = OPC(PING);
		r.ping = &e;
		off = sf_rec_req(out, off, i == 7 ? 1 : 4, &r);
		off = sf_rec(out, off, 0, "\0\0\0\x10" "abc", 7);
		off = sf_rec(out, off, 4, "", 0);
		snprintf(name, sizeof name, "%s/seed-%02d", dir, i);
		fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd == -1 || write(fd, out, off) != (ssize_t)off)
			fuzz_die("cannot write a seed");
		close(fd);
	}
#undef BIN
}

/* One-time set-up: files, options, the loop and the pool. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rlimit	 rl;
	const char	*seeds = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	fuzz_name("sequence_fuzzer");
	if (seeds != NULL) {
		sf_seeds(seeds);
		exit(0);
	}
	log_open("sequence_fuzzer", 1, 0);
	sf_no_fds = getenv("FUZZ_SEQ_NO_FDS") != NULL;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	rl.rlim_cur = rl.rlim_max = 8 * 1024 * 1024;
	setrlimit(RLIMIT_FSIZE, &rl);

	fuzz_root_make(&sf_fr, "aiofs-seqfuzz");
	sf_tree();
	if (chdir(sf_fr.root) == -1)
		fuzz_die("chdir root");

	/* As aiofsd's main() does, with small limits. */
	opts.workers = 2;
	opts.max_frame = SF_MAX_FRAME;
	opts.max_chunk = SF_MAX_FRAME / 8;
	opts.max_conns = 16;
	opts.max_conns_per_uid = 16;
	opts.max_inflight_all = 64;
	opts.max_busy = 1;
	opts.mem_budget = 4 * 1024 * 1024;
	opts.hello_secs = AIOFS_HELLO_SECS;
	opts.frame_secs = AIOFS_FRAME_SECS;
	opts.policy.root = xstrdup(sf_fr.root);
	opts.policy.rootfd = open(sf_fr.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	opts.policy.max_inflight = 32;
	opts.policy.max_handles = 16;
	if (opts.policy.rootfd == -1)
		fuzz_die("open root");
	if (loop_init(1) == -1)
		fuzz_die("loop_init");
	if (pool_start(opts.workers) == -1)
		fuzz_die("pool_start");
	fprintf(stderr, "sequence_fuzzer: root %s\n", sf_fr.root);
	return (0);
}

/* Check and drop every whole frame the client has received. */
static void
sf_frames(struct sf_client *c)
{
	Response	*r;
	size_t		 off = 0;
	uint32_t	 len;

	while (c->inlen - off >= 4) {
		len = (uint32_t)c->in[off] << 24 | c->in[off + 1] << 16 |
		    c->in[off + 2] << 8 | c->in[off + 3];
		if (len > opts.max_frame)
			fuzz_die("the daemon sent a frame over max_frame");
		if (c->inlen - off - 4 < len)
			break;
		r = aiofs__v1__response__unpack(NULL, len, c->in + off + 4);
		if (r == NULL)
			fuzz_die("the daemon sent an undecodable Response");
		if (r->result_case == AIOFS__V1__RESPONSE__RESULT__NOT_SET)
			fuzz_die("the daemon sent a Response with no result");
		aiofs__v1__response__free_unpacked(r, NULL);
		off += 4 + len;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
}

/* Read what the daemon sent (closing any fds it passed). */
static void
sf_drain(struct sf_client *c)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int) * 16)];
	} cm;
	struct cmsghdr	*h;
	struct msghdr	 mh;
	struct iovec	 iov;
	ssize_t		 n;
	int		*fds, i, nf;

	while (!c->eof) {
		if (c->incap - c->inlen < 65536) {
			c->incap = c->incap * 2 + 65536;
			if ((c->in = realloc(c->in, c->incap)) == NULL)
				fuzz_die("realloc");
		}
		iov.iov_base = c->in + c->inlen;
		iov.iov_len = c->incap - c->inlen;
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof cm.buf;
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				c->eof = 1;
			break;
		}
		for (h = CMSG_FIRSTHDR(&mh); h != NULL;
		    h = CMSG_NXTHDR(&mh, h)) {
			if (h->cmsg_level != SOL_SOCKET ||
			    h->cmsg_type != SCM_RIGHTS)
				continue;
			fds = (int *)CMSG_DATA(h);
			nf = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < nf; i++)
				close(fds[i]);
		}
		c->inlen += n;
		sf_frames(c);
	}
}

/* Run the loop (and read replies) until the pool is idle, or ms pass. */
static void
sf_pump(struct sf_client *c, unsigned ms)
{
	uint64_t	 end = sf_ms() + ms;
	int		 idle = 0;

	while (sf_ms() < end) {
		event_base_loop(loops[0].base, EVLOOP_NONBLOCK);
		sf_drain(c);
		if (pool_busy() == 0 && pool_queued() == 0) {
			if (++idle > 2)
				break;
		} else
			idle = 0;
		usleep(50);
	}
}

/* Send bytes (with an fd if fdpass), pumping while the socket is full. */
static void
sf_send(struct sf_client *c, const uint8_t *p, size_t len, int fdpass)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr	 mh;
	struct iovec	 iov;
	ssize_t		 n;
	int		 fd = -1, tries = 0;

	if (fdpass)
		fd = open("f", O_RDONLY | O_CLOEXEC);
	while (len > 0 && tries < 200) {
		memset(&mh, 0, sizeof mh);
		iov.iov_base = (void *)p;
		iov.iov_len = len;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (fd != -1) {
			memset(&cm, 0, sizeof cm);
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof cm.buf;
			cm.hdr.cmsg_level = SOL_SOCKET;
			cm.hdr.cmsg_type = SCM_RIGHTS;
			cm.hdr.cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(&cm.hdr), &fd, sizeof fd);
		}
		n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= n;
			if (fd != -1) {
				close(fd);
				fd = -1;
			}
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			break;		/* the daemon closed: fine */
		sf_pump(c, 2);
		tries++;
	}
	if (fd != -1)
		close(fd);
}

/* A length-prefixed frame of body. */
static void
sf_send_frame(struct sf_client *c, const uint8_t *body, size_t len,
    int fdpass)
{
	uint8_t	*buf = malloc(len + 4);

	if (buf == NULL)
		fuzz_die("malloc");
	buf[0] = len >> 24;
	buf[1] = len >> 16;
	buf[2] = len >> 8;
	buf[3] = len;
	memcpy(buf + 4, body, len);
	sf_send(c, buf, len + 4, fdpass);
	free(buf);
}

/* A valid Hello. */
static void
sf_hello(struct sf_client *c)
{
	Request			 r = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__Hello	 h = AIOFS__V1__HELLO__INIT;
	uint8_t			 buf[256];
	size_t			 n;

	h.has_protocol_version = 1;
	h.protocol_version = AIOFS_PROTOCOL_VERSION;
	h.client_name = "fuzz";
	r.op_case = OPC(HELLO);
	r.hello = &h;
	n = aiofs__v1__request__pack(&r, buf);
	sf_send_frame(c, buf, n, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sf_client c;
	struct conn	*conn;
	uint64_t	 end;
	size_t		 off = 1, len;
	int		 sv[2], kind, flags;

	if (size < 1)
		return (0);
	if (++sf_runs % SF_RESET_EVERY == 0)
		sf_tree();
	flags = data[0];
	opts.policy.strict_paths = (flags & 2) != 0;
	opts.policy.allow_fd_passing = (flags & 4) != 0;
	opts.policy.read_only = (flags & 8) != 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fuzz_die("socketpair");
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		fuzz_die("O_NONBLOCK");
	if ((conn = conn_new(&loops[0], sv[0])) == NULL)
		fuzz_die("conn_new refused the fuzzer");
	memset(&c, 0, sizeof c);
	c.fd = sv[1];
	if (flags & 1)
		sf_hello(&c);

	while (off + 3 <= size) {
		kind = data[off] % 6;
		len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		switch (kind) {
		case 0:
			sf_send(&c, data + off, len, 0);
			break;
		case 1:
		case 2:
			sf_send_frame(&c, data + off, len, kind == 2 &&
			    !sf_no_fds);
			break;
		case 3:
			sf_pump(&c, 200);
			break;
		case 4:
			event_base_loop(loops[0].base, EVLOOP_NONBLOCK);
			sf_drain(&c);
			break;
		default:
			shutdown(c.fd, SHUT_WR);
			break;
		}
		off += len;
		event_base_loop(loops[0].base, EVLOOP_NONBLOCK);
	}

	/* The client goes away: everything of the connection must go. */
	close(c.fd);
	end = sf_ms() + SF_END_MS;
	while (stats.conns_alloc > 0) {
		if (sf_ms() > end)
			fuzz_die("a connection was never freed");
		event_base_loop(loops[0].base, EVLOOP_NONBLOCK);
		if (pool_busy() == 0 && pool_queued() == 0)
			usleep(20);
		else
			usleep(200);
	}
	free(c.in);
	fuzz_canary_check(&sf_fr);
	if (sf_nfds() > SF_MAX_FDS)
		fuzz_die("fd leak: too many open fds");
	return (0);
}
