/*
 * aiofs-bench.c - throughput and latency of aiofsd through libaiofs, and
 * of the same workload done in-process with plain syscalls.
 *
 * DESIGN
 *
 * A run has three phases: setup (files are made directly on the host, in
 * ROOT + DIR, where ROOT is the daemon's root as seen from here), a short
 * warm-up, and the measured window of --duration seconds.  The main thread
 * only keeps time: it flips the global phase from WARMUP to MEASURE to
 * STOP, and samples CPU time (ours with getrusage, the daemon's from
 * /proc/PID/stat) at both ends of the window.
 *
 * Against the daemon, each of the C connections is its own aiofs_t driven
 * by its own thread with poll() + aiofs_process().  The thread keeps N
 * "slots" busy: a slot issues one operation, and its callback issues the
 * next step (open -> read -> close for the chained ops) or, when the
 * operation is over, records its latency and issues a new one.  Nothing is
 * started once the phase is STOP; a chain under way finishes (so handles
 * are closed), and the thread leaves when the connection has nothing
 * pending.  Only operations that complete inside the window are counted.
 *
 * The baseline (--baseline) runs the same operation on the same files
 * with plain syscalls in min(W, N * C) threads, each doing one operation
 * after another: a blocking call can have only one request in flight per
 * thread, so that is the pool a daemon of W workers could use at most.
 * The ping baseline is a raw echo over C socketpairs to a forked child
 * (one process serving all of them with poll, as the daemon's one loop
 * thread does) with N 16-byte messages in flight on each.
 *
 * The seqread baseline has a second reference beside in-process pread:
 * plain Unix-socket bulk transfer, C socketpairs to a forked writer (one
 * poll loop, like the daemon's) that sends the same 1 MiB buffer over and
 * over, each read by a thread into a warm 1 MiB buffer.  It is the ceiling
 * of any inline read through a socket, so seqread's target is set
 * against it.
 *
 * Two ops are not throughput runs.  isolation measures stat at N in flight
 * on C probe connections alone and while one more connection (its own
 * aiofs_t and thread) streams the --size file inline, again and again; the
 * two alternate in rounds, so that the machine's other load, which drifts,
 * weighs on both alike.
 * idle opens C connections, holds them, and reads the daemon's RSS before
 * and after to price an idle connection.
 *
 * While the window runs, the main thread samples the daemon's VmRSS every
 * 100 ms; the largest sample is reported, with VmHWM.
 *
 * Latencies go into a log-linear histogram per thread (64 sub-buckets per
 * power of two: under 1.6% error), merged after the threads are joined.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aiofs.h"

#define BENCH_NFILES		1000	/* files; listdir entries */
#define BENCH_FILE_SIZE		4096
#define BENCH_PREAD_SIZE	(64LL * 1024 * 1024)
#define BENCH_PREAD_IO		4096
#define BENCH_SEQ_IO		(1024 * 1024)
#define BENCH_SEQ_DEFAULT	(1024LL * 1024 * 1024)
#define BENCH_NCREATE		1024	/* names per connection */
#define BENCH_PING_MSG		16
#define BENCH_ISO_DEPTH		4	/* isolation: stream reads in flight */
#define BENCH_ISO_ROUNDS	4	/* isolation: alone/beside pairs */
#define BENCH_BULK_SNDBUF	(4 * 1024 * 1024)	/* as aiofsd's */
#define BENCH_RSS_PERIOD	100000000ULL	/* ns between RSS samples */
#define BENCH_MAX_CONNS		1024	/* a thread each */
#define BENCH_MAX_IDLE		1000000

#define HIST_SUB_BITS		6
#define HIST_SUB		(1 << HIST_SUB_BITS)
#define HIST_SIZE		((64 - HIST_SUB_BITS + 1) * HIST_SUB)

enum bench_op {
	OP_PING = 0,
	OP_STAT,
	OP_ORC,			/* open-read-close */
	OP_READFILE,
	OP_PREAD,
	OP_SEQREAD,
	OP_CWC,			/* create-write-close */
	OP_LISTDIR,
	OP_MIXED,
	OP_ISOLATION,		/* stat alone, then beside a stream */
	OP_IDLE,		/* C idle connections */
	OP__MAX
};

static const char *const op_names[OP__MAX] = {
	"ping", "stat", "open-read-close", "read-file", "pread", "seqread",
	"create-write-close", "listdir", "mixed", "isolation", "idle"
};

enum {
	PHASE_WARMUP = 0,
	PHASE_MEASURE,
	PHASE_STOP
};

struct hist {
	uint64_t	 n[HIST_SIZE];
};

struct worker;

/* One operation kept in flight on a connection. */
struct slot {
	struct worker	*w;
	aiofs_req_t	 req;
	int		 kind;		/* this op (mixed picks) */
	int		 step;		/* 0 open, 1 io, 2 close */
	int		 failed;
	aiofs_file_t	 file;
	uint64_t	 t0;
	uint64_t	 bytes;
	char		*buf;		/* seqread: warm, page-aligned */
	char		 path[256];
};

/* A thread: one connection (daemon runs) or one syscall loop (baseline). */
struct worker {
	int		 idx;
	pthread_t	 tid;
	int		 started;
	int		 op;		/* B.op, but isolation mixes two */
	int		 nslots;	/* requests kept in flight */
	aiofs_t		*h;
	struct slot	*slots;
	aiofs_file_t	 file;		/* pread, seqread handle */
	int		 has_file;
	int		 fd;		/* baseline, --fd, ping socket */
	int64_t		 cursor;	/* seqread: next offset */
	uint64_t	 rng;
	unsigned	 ncreate;
	char		*buf;		/* baseline read buffer */
	uint64_t	 ops;
	uint64_t	 bytes;
	uint64_t	 errors;
	int		 broken;	/* could not go on */
	char		 errmsg[512];
	struct hist	 hist;
};

/* The measured outcome of one run. */
struct summary {
	const char	*label;
	int		 threads;
	uint64_t	 ops;
	uint64_t	 bytes;
	uint64_t	 errors;
	int		 broken;
	double		 seconds;
	double		 daemon_cpu;
	double		 client_cpu;
	double		 p50, p99, p999;	/* microseconds */
	long		 rss_kb;	/* daemon: largest VmRSS, or -1 */
	long		 hwm_kb;	/* daemon: VmHWM at the end, or -1 */
	char		 errmsg[512];
	char		 json[1024];	/* extra fields: ,"key":value... */
	char		 text[1024];	/* the same, for people */
};

/* Options and shared run state. */
static struct {
	const char	*sock;
	enum bench_op	 op;
	int		 conc;
	int		 nconn;
	double		 duration;
	double		 warmup;
	int64_t		 size;		/* seqread file */
	const char	*seqname;	/* its name under dir */
	char		*dir;		/* inside the daemon root */
	char		*root;		/* daemon root, host path */
	char		*hostdir;	/* root + dir */
	int		 json;
	int		 baseline;
	int		 use_fd;
	int		 workers;
	pid_t		 daemon_pid;
	int		 phase;
	pthread_barrier_t ready;
	char		 wbuf[BENCH_FILE_SIZE];
	int		 shared_fd;	/* baseline pread file */
	int		*fds;		/* --fd: one per connection */
	aiofs_t		**fdconns;
	char		**bufs;		/* thread read buffers, reused */
	int		 nbufs;
} B;

static void	slot_issue(struct slot *);

/* A monotonic clock in nanoseconds. */
static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec);
}

/* Sleep until a monotonic deadline, through signals. */
static void
sleep_until(uint64_t deadline)
{
	struct timespec	 ts;

	ts.tv_sec = deadline / 1000000000ULL;
	ts.tv_nsec = deadline % 1000000000ULL;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

/* The phase, as the main thread last set it. */
static int
phase_get(void)
{
	return (__atomic_load_n(&B.phase, __ATOMIC_ACQUIRE));
}

/* Move every thread to phase p. */
static void
phase_set(int p)
{
	__atomic_store_n(&B.phase, p, __ATOMIC_RELEASE);
}

/* xorshift64*: a per-thread random number. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t	 x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return (x * 0x2545f4914f6cdd1dULL);
}

/* The histogram bucket of v nanoseconds. */
static unsigned
hist_index(uint64_t v)
{
	unsigned	 b;

	if (v < 2 * HIST_SUB)
		return ((unsigned)v);
	b = 63 - __builtin_clzll(v);
	return ((b - HIST_SUB_BITS + 1) * HIST_SUB +
	    (unsigned)((v >> (b - HIST_SUB_BITS)) & (HIST_SUB - 1)));
}

/* The middle of bucket i, in nanoseconds. */
static double
hist_value(unsigned i)
{
	unsigned	 b, sub;
	double		 lo, width;

	if (i < 2 * HIST_SUB)
		return (i);
	b = i / HIST_SUB + HIST_SUB_BITS - 1;
	sub = i % HIST_SUB;
	lo = (double)((uint64_t)(HIST_SUB + sub) << (b - HIST_SUB_BITS));
	width = (double)(1ULL << (b - HIST_SUB_BITS));
	return (lo + width / 2);
}

/* Count one latency. */
static void
hist_add(struct hist *h, uint64_t ns)
{
	h->n[hist_index(ns)]++;
}

/* The q quantile of h, in microseconds (0 when h is empty). */
static double
hist_quantile(const struct hist *h, uint64_t total, double q)
{
	uint64_t	 want, seen = 0;
	unsigned	 i;

	if (total == 0)
		return (0);
	want = (uint64_t)(q * (double)total);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_SIZE; i++) {
		seen += h->n[i];
		if (seen >= want)
			return (hist_value(i) / 1000.0);
	}
	return (hist_value(HIST_SIZE - 1) / 1000.0);
}

/* Print a message and exit with status 1. */
static __attribute__((noreturn, format(printf, 1, 2))) void
die(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "aiofs-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Count an error (in any phase: any makes the run fail); keep the first. */
static __attribute__((format(printf, 2, 3))) void
worker_error(struct worker *w, const char *fmt, ...)
{
	va_list	 ap;

	w->errors++;
	if (w->errmsg[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
	va_end(ap);
}

/* Count an operation that took t0 .. now. */
static void
worker_done(struct worker *w, uint64_t t0, uint64_t bytes)
{
	uint64_t	 t1 = now_ns();

	if (phase_get() != PHASE_MEASURE)
		return;
	w->ops++;
	w->bytes += bytes;
	hist_add(&w->hist, t1 - t0);
}

/* CPU seconds (user + system) of this process. */
static double
cpu_self(void)
{
	struct rusage	 ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return (0);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
}

/*
 * Read /proc/PID/name whole into buf (NUL-terminated): the kernel builds
 * it on each read, so a partial read could mix two moments.  0 or -1.
 */
static int
proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char	 path[64];
	ssize_t	 n;
	int	 fd;

	if (pid <= 0)
		return (-1);
	snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = '\0';
	return (0);
}

/* CPU seconds (utime + stime) of process pid, or -1. */
static double
cpu_pid(pid_t pid)
{
	char		 buf[4096], *p;
	unsigned long	 ut, st;

	if (proc_read(pid, "stat", buf, sizeof buf) == -1)
		return (-1);
	/* The command may hold spaces and parentheses: start after it. */
	if ((p = strrchr(buf, ')')) == NULL)
		return (-1);
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%lu %lu", &ut, &st) != 2)
		return (-1);
	return ((double)(ut + st) / sysconf(_SC_CLK_TCK));
}

/* The "key:" line of /proc/PID/status in KiB (VmRSS, VmHWM), or -1. */
static long
status_kb(pid_t pid, const char *key)
{
	char	 buf[8192], *p;
	size_t	 klen = strlen(key);
	long	 v;

	if (proc_read(pid, "status", buf, sizeof buf) == -1)
		return (-1);
	for (p = buf; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			if (sscanf(p + klen + 1, "%ld", &v) != 1)
				return (-1);
			return (v);
		}
	}
	return (-1);
}

/*
 * Add a field to s's report: JSON gets ,"key":value and the line for people
 * gets key=value.  Values are numbers, so nothing needs quoting.
 */
static __attribute__((format(printf, 3, 4))) void
sum_extra(struct summary *s, const char *key, const char *fmt, ...)
{
	char	 v[64];
	size_t	 len;
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	len = strlen(s->json);
	snprintf(s->json + len, sizeof s->json - len, ",\"%s\":%s", key, v);
	len = strlen(s->text);
	snprintf(s->text + len, sizeof s->text - len, " %s=%s", key, v);
}

/* mkdir -p. */
static void
mkdirs(const char *path)
{
	char	 buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		die("%s: path too long", path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) == -1 && errno != EEXIST)
			die("mkdir %s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0777) == -1 && errno != EEXIST)
		die("mkdir %s: %s", buf, strerror(errno));
}

/* Make path a regular file of size bytes, unless it already is one. */
static void
make_file(const char *path, int64_t size)
{
	struct stat	 sb;
	char		*buf;
	int64_t		 done;
	size_t		 len, i;
	ssize_t		 n;
	int		 fd;

	if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == size)
		return;
	len = size < BENCH_SEQ_IO ? (size_t)(size > 0 ? size : 1) :
	    BENCH_SEQ_IO;
	if ((buf = malloc(len)) == NULL)
		die("out of memory");
	for (i = 0; i < len; i++)
		buf[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		die("create %s: %s", path, strerror(errno));
	for (done = 0; done < size; done += n) {
		n = write(fd, buf, size - done < (int64_t)len ?
		    (size_t)(size - done) : len);
		if (n <= 0)
			die("write %s: %s", path, n == 0 ? "short write" :
			    strerror(errno));
	}
	/*
	 * Write a large file back now: otherwise the writeback of up to a
	 * GiB of dirty pages runs during the first measurements (the
	 * "alone" half of isolation) and makes them look worse.
	 */
	if (size >= BENCH_SEQ_IO && fdatasync(fd) == -1)
		die("fdatasync %s: %s", path, strerror(errno));
	if (close(fd) == -1)
		die("close %s: %s", path, strerror(errno));
	free(buf);
}

/* A host path under the bench directory. */
static void
host_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	n = snprintf(buf, len, "%s/", B.hostdir);
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

/* The same path as the daemon names it. */
static void
daemon_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	n = snprintf(buf, len, "%s/", B.dir);
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

/* Make the files op needs (kept between runs when already right). */
static void
setup_files(enum bench_op op)
{
	char		 path[PATH_MAX];
	unsigned	 i;
	int		 small, list, create;

	small = op == OP_STAT || op == OP_ORC || op == OP_READFILE ||
	    op == OP_MIXED || op == OP_ISOLATION;
	list = op == OP_LISTDIR || op == OP_MIXED;
	create = op == OP_CWC || op == OP_MIXED;
	mkdirs(B.hostdir);
	if (small) {
		host_path(path, sizeof path, "files");
		mkdirs(path);
		for (i = 0; i < BENCH_NFILES; i++) {
			host_path(path, sizeof path, "files/f%04u", i);
			make_file(path, BENCH_FILE_SIZE);
		}
	}
	if (list) {
		host_path(path, sizeof path, "list");
		mkdirs(path);
		for (i = 0; i < BENCH_NFILES; i++) {
			host_path(path, sizeof path, "list/e%04u", i);
			make_file(path, 0);
		}
	}
	if (create) {
		host_path(path, sizeof path, "create");
		mkdirs(path);
	}
	if (op == OP_PREAD) {
		host_path(path, sizeof path, "pread.dat");
		make_file(path, BENCH_PREAD_SIZE);
	}
	if (op == OP_SEQREAD || op == OP_ISOLATION) {
		host_path(path, sizeof path, "%s", B.seqname);
		make_file(path, B.size);
	}
	for (i = 0; i < sizeof B.wbuf; i++)
		B.wbuf[i] = (char)('A' + i % 26);
}

/* Which operation the next mixed request is: 50/30/10/10. */
static int
mixed_pick(struct worker *w)
{
	unsigned	 r = rng_next(&w->rng) % 100;

	if (r < 50)
		return (OP_STAT);
	if (r < 80)
		return (OP_ORC);
	if (r < 90)
		return (OP_LISTDIR);
	return (OP_CWC);
}

/* A slot's operation is over: count it, then start the next. */
static void
slot_finish(struct slot *s)
{
	aiofs_req_cleanup(&s->req);
	if (!s->failed)
		worker_done(s->w, s->t0, s->bytes);
	slot_issue(s);
}

/* Note a failed step of s's operation. */
static void
slot_fail(struct slot *s, const char *what, aiofs_req_t *req, int64_t rc)
{
	s->failed = 1;
	worker_error(s->w, "%s %s: %s%s%s", what, s->path,
	    aiofs_strerror((int)rc), req != NULL && req->errmsg != NULL ?
	    ": " : "", req != NULL && req->errmsg != NULL ? req->errmsg : "");
}

/* A submit call returned rc: on failure the slot stops. */
static void
slot_submitted(struct slot *s, const char *what, int rc)
{
	if (rc == 0)
		return;
	s->w->broken = 1;
	slot_fail(s, what, NULL, rc);
}

/* Every reply of a slot comes here; chains go on from here. */
static void
slot_cb(aiofs_req_t *req)
{
	struct slot	*s = req->data;
	struct worker	*w = s->w;
	int64_t		 rc = req->result;

	switch (s->kind) {
	case OP_ORC:
	case OP_CWC:
		if (s->step == 0) {
			if (rc < 0) {
				slot_fail(s, "open", req, rc);
				slot_finish(s);
				return;
			}
			s->file = req->file;
			aiofs_req_cleanup(req);
			s->step = 1;
			if (s->kind == OP_ORC)
				slot_submitted(s, "read", aiofs_read(w->h, req,
				    s->file, BENCH_FILE_SIZE, slot_cb));
			else
				slot_submitted(s, "write", aiofs_write(w->h,
				    req, s->file, B.wbuf, sizeof B.wbuf,
				    slot_cb));
			return;
		}
		if (s->step == 1) {
			if (rc < 0)
				slot_fail(s, s->kind == OP_ORC ? "read" :
				    "write", req, rc);
			else if (s->kind == OP_ORC && req->len !=
			    BENCH_FILE_SIZE)
				slot_fail(s, "short read", req, -EIO);
			s->bytes = BENCH_FILE_SIZE;
			aiofs_req_cleanup(req);
			s->step = 2;
			slot_submitted(s, "close", aiofs_fclose(w->h, req,
			    s->file, slot_cb));
			return;
		}
		if (rc < 0)
			slot_fail(s, "close", req, rc);
		break;
	case OP_READFILE:
	case OP_PREAD:
		if (rc < 0)
			slot_fail(s, op_names[s->kind], req, rc);
		else if (req->len != (s->kind == OP_PREAD ? BENCH_PREAD_IO :
		    BENCH_FILE_SIZE))
			slot_fail(s, "short read", req, -EIO);
		s->bytes = req->len;
		break;
	case OP_SEQREAD:
		if (rc < 0)
			slot_fail(s, "pread", req, rc);
		else if (req->len == 0)
			slot_fail(s, "pread at EOF", req, -EIO);
		s->bytes = req->len;
		break;
	case OP_LISTDIR:
		if (rc < 0)
			slot_fail(s, "listdir", req, rc);
		else if (req->nlines != BENCH_NFILES)
			slot_fail(s, "listdir count", req, -EIO);
		break;
	default:
		if (rc < 0)
			slot_fail(s, op_names[s->kind], req, rc);
		break;
	}
	slot_finish(s);
}

/* Start a new operation on slot s, unless the run is over. */
static void
slot_issue(struct slot *s)
{
	struct worker	*w = s->w;
	aiofs_req_t	*req = &s->req;
	unsigned	 i;
	int64_t		 off, len;

	if (w->broken || phase_get() == PHASE_STOP)
		return;
	s->kind = w->op == OP_MIXED ? mixed_pick(w) : w->op;
	s->step = 0;
	s->failed = 0;
	s->bytes = 0;
	s->path[0] = '\0';
	req->data = s;
	s->t0 = now_ns();
	i = rng_next(&w->rng) % BENCH_NFILES;
	switch (s->kind) {
	case OP_PING:
		slot_submitted(s, "ping", aiofs_ping(w->h, req, slot_cb));
		break;
	case OP_STAT:
		daemon_path(s->path, sizeof s->path, "files/f%04u", i);
		slot_submitted(s, "stat", aiofs_stat(w->h, req, s->path, 1,
		    slot_cb));
		break;
	case OP_ORC:
		daemon_path(s->path, sizeof s->path, "files/f%04u", i);
		slot_submitted(s, "open", aiofs_open(w->h, req, s->path, "rb",
		    NULL, slot_cb));
		break;
	case OP_READFILE:
		daemon_path(s->path, sizeof s->path, "files/f%04u", i);
		slot_submitted(s, "readfile", aiofs_readfile(w->h, req,
		    s->path, 0, -1, slot_cb));
		break;
	case OP_PREAD:
		daemon_path(s->path, sizeof s->path, "pread.dat");
		off = (int64_t)(rng_next(&w->rng) %
		    (BENCH_PREAD_SIZE / BENCH_PREAD_IO)) * BENCH_PREAD_IO;
		slot_submitted(s, "pread", aiofs_pread(w->h, req, w->file,
		    BENCH_PREAD_IO, off, slot_cb));
		break;
	case OP_SEQREAD:
		daemon_path(s->path, sizeof s->path, "%s", B.seqname);
		off = w->cursor;
		len = B.size - off < BENCH_SEQ_IO ? B.size - off :
		    BENCH_SEQ_IO;
		w->cursor = off + len >= B.size ? 0 : off + len;
		/* Into the slot's warm buffer, as a bulk reader would. */
		slot_submitted(s, "pread", aiofs_preadinto(w->h, req, w->file,
		    s->buf, (size_t)len, off, slot_cb));
		break;
	case OP_CWC:
		daemon_path(s->path, sizeof s->path, "create/c%d-%u", w->idx,
		    w->ncreate++ % BENCH_NCREATE);
		slot_submitted(s, "create", aiofs_open(w->h, req, s->path,
		    "wb", NULL, slot_cb));
		break;
	case OP_LISTDIR:
		daemon_path(s->path, sizeof s->path, "list");
		slot_submitted(s, "listdir", aiofs_listdir(w->h, req, s->path,
		    slot_cb));
		break;
	}
}

/* Connect, and open the one handle pread and seqread use. */
static int
conn_prepare(struct worker *w)
{
	aiofs_req_t	 req;
	char		 path[256];
	int		 rc;

	memset(&req, 0, sizeof req);
	if ((rc = aiofs_connect(&w->h, B.sock, "aiofs-bench")) != 0) {
		worker_error(w, "connect %s: %s", B.sock, aiofs_strerror(rc));
		return (rc);
	}
	if (w->op != OP_PREAD && w->op != OP_SEQREAD)
		return (0);
	daemon_path(path, sizeof path, "%s", w->op == OP_PREAD ? "pread.dat" :
	    B.seqname);
	rc = aiofs_open(w->h, &req, path, "rb", NULL, NULL);
	if (rc < 0)
		worker_error(w, "open %s: %s%s%s", path, aiofs_strerror(rc),
		    req.errmsg != NULL ? ": " : "",
		    req.errmsg != NULL ? req.errmsg : "");
	else {
		w->file = req.file;
		w->has_file = 1;
		/*
		 * Connections start apart in the file.  The isolation
		 * stream (the one past the probes) starts at 0 and, round
		 * after round, goes on where it stopped.
		 */
		if (w->idx < B.nconn)
			w->cursor = ((B.size / BENCH_SEQ_IO) * w->idx /
			    B.nconn) * BENCH_SEQ_IO;
	}
	aiofs_req_cleanup(&req);
	return (rc < 0 ? rc : 0);
}

/* Close what conn_prepare opened, and the connection. */
static void
conn_release(struct worker *w)
{
	aiofs_req_t	 req;
	int		 rc;

	memset(&req, 0, sizeof req);
	if (w->has_file && !w->broken) {
		rc = aiofs_fclose(w->h, &req, w->file, NULL);
		if (rc < 0)
			worker_error(w, "close: %s", aiofs_strerror(rc));
		aiofs_req_cleanup(&req);
	}
	aiofs_close(w->h);
	w->h = NULL;
}

/* A connection thread: keep N requests in flight until STOP. */
static void *
conn_main(void *arg)
{
	struct worker	*w = arg;
	struct pollfd	 pfd;
	int		 i, rc;

	rc = conn_prepare(w);
	pthread_barrier_wait(&B.ready);
	if (rc != 0) {
		w->broken = 1;
		if (w->h != NULL)
			aiofs_close(w->h);
		w->h = NULL;
		return (NULL);
	}
	for (i = 0; i < w->nslots; i++)
		slot_issue(&w->slots[i]);
	while (aiofs_pending(w->h) > 0 || (phase_get() != PHASE_STOP &&
	    !w->broken)) {
		pfd.fd = aiofs_fd(w->h);
		pfd.events = aiofs_events(w->h);
		pfd.revents = 0;
		if (poll(&pfd, 1, 50) == -1 && errno != EINTR) {
			worker_error(w, "poll: %s", strerror(errno));
			w->broken = 1;
			break;
		}
		if ((rc = aiofs_process(w->h, pfd.revents)) < 0) {
			worker_error(w, "connection: %s", aiofs_strerror(rc));
			w->broken = 1;
			break;
		}
	}
	conn_release(w);
	return (NULL);
}

/* One baseline small-file read: open, read to EOF (or 4 KiB), close. */
static int64_t
base_read_small(struct worker *w, const char *path, int to_eof)
{
	int64_t	 got = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-errno);
	do {
		n = read(fd, w->buf + got, BENCH_SEQ_IO - got);
		if (n == -1) {
			n = -errno;
			close(fd);
			return (n);
		}
		got += n;
	} while (to_eof && n > 0);
	if (close(fd) == -1)
		return (-errno);
	return (got);
}

/* One baseline listdir: collect and free the names, as a client would. */
static int64_t
base_listdir(const char *path)
{
	struct dirent	*de;
	DIR		*d;
	char		**names = NULL, **nn;
	size_t		 n = 0, cap = 0, i;
	int64_t		 rc;

	if ((d = opendir(path)) == NULL)
		return (-errno);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if ((nn = realloc(names, cap * sizeof *nn)) == NULL)
				break;
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	rc = n;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return (rc);
}

/* One baseline operation of kind; bytes moved, or a negative errno. */
static int64_t
base_op(struct worker *w, int kind, char *path, size_t plen)
{
	struct stat	 sb;
	unsigned	 i = rng_next(&w->rng) % BENCH_NFILES;
	int64_t		 off, len, rc;
	ssize_t		 n;
	int		 fd;

	switch (kind) {
	case OP_STAT:
		host_path(path, plen, "files/f%04u", i);
		return (stat(path, &sb) == -1 ? -errno : 0);
	case OP_ORC:
	case OP_READFILE:
		host_path(path, plen, "files/f%04u", i);
		rc = base_read_small(w, path, kind == OP_READFILE);
		return (rc >= 0 && rc != BENCH_FILE_SIZE ? -EIO : rc);
	case OP_PREAD:
		off = (int64_t)(rng_next(&w->rng) %
		    (BENCH_PREAD_SIZE / BENCH_PREAD_IO)) * BENCH_PREAD_IO;
		n = pread(B.shared_fd, w->buf, BENCH_PREAD_IO, off);
		return (n == -1 ? -errno : n != BENCH_PREAD_IO ? -EIO : n);
	case OP_SEQREAD:
		off = w->cursor;
		len = B.size - off < BENCH_SEQ_IO ? B.size - off :
		    BENCH_SEQ_IO;
		w->cursor = off + len >= B.size ? 0 : off + len;
		n = pread(w->fd, w->buf, (size_t)len, off);
		return (n == -1 ? -errno : n == 0 ? -EIO : n);
	case OP_CWC:
		host_path(path, plen, "create/b%d-%u", w->idx,
		    w->ncreate++ % BENCH_NCREATE);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0666);
		if (fd == -1)
			return (-errno);
		n = write(fd, B.wbuf, sizeof B.wbuf);
		rc = n == -1 ? -errno : n != sizeof B.wbuf ? -EIO : n;
		if (close(fd) == -1 && rc >= 0)
			rc = -errno;
		return (rc);
	case OP_LISTDIR:
		host_path(path, plen, "list");
		rc = base_listdir(path);
		return (rc >= 0 && rc != BENCH_NFILES ? -EIO : 0);
	}
	return (-ENOSYS);
}

/* A baseline thread (and --fd seqread): one blocking op after another. */
static void *
base_main(void *arg)
{
	struct worker	*w = arg;
	char		 path[PATH_MAX];
	uint64_t	 t0;
	int64_t		 rc;
	int		 kind;

	pthread_barrier_wait(&B.ready);
	while (phase_get() != PHASE_STOP) {
		kind = B.op == OP_MIXED ? mixed_pick(w) : (int)B.op;
		path[0] = '\0';
		t0 = now_ns();
		rc = base_op(w, kind, path, sizeof path);
		if (rc < 0) {
			worker_error(w, "%s %s: %s", op_names[kind], path,
			    strerror((int)-rc));
			continue;
		}
		worker_done(w, t0, (uint64_t)rc);
	}
	return (NULL);
}

/*
 * A forked baseline peer's loop: poll the n sockets for events and call
 * serve(fd, i, arg) on each ready one, until every socket is closed.
 * serve returns 0 to go on, 1 when the other end has gone (the socket is
 * then closed here), or -1 on an error, which ends the loop.  Every
 * socket is closed on return; 0, or -1 on an error.
 */
static int
poll_serve(int *fds, int n, short events, int (*serve)(int, int, void *),
    void *arg)
{
	struct pollfd	*pfd;
	int		 i, r, open = n, rc = 0;

	if ((pfd = calloc(n, sizeof *pfd)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		pfd[i].fd = fds[i];
		pfd[i].events = events;
	}
	while (open > 0 && rc == 0) {
		if (poll(pfd, n, -1) == -1) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		for (i = 0; i < n && rc == 0; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			if ((r = serve(pfd[i].fd, i, arg)) == 1) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open--;
			} else if (r == -1)
				rc = -1;
		}
	}
	for (i = 0; i < n; i++)
		if (pfd[i].fd != -1)
			close(pfd[i].fd);
	free(pfd);
	return (rc);
}

/* The ping baseline's server: echo what one socket has (poll_serve). */
static int
echo_one(int fd, int i, void *arg)
{
	char	 buf[65536];
	ssize_t	 r, m, off;

	(void)i;
	(void)arg;
	if ((r = read(fd, buf, sizeof buf)) <= 0)
		return (1);
	for (off = 0; off < r; off += m)
		if ((m = send(fd, buf + off, r - off, MSG_NOSIGNAL)) <= 0)
			return (-1);
	return (0);
}

/* The ping baseline's server: echo every byte on every socket; 0 or -1. */
static int
echo_serve(int *fds, int n)
{
	return (poll_serve(fds, n, POLLIN, echo_one, NULL));
}

/* A ping baseline thread: N 16-byte messages in flight on one socket. */
static void *
ping_main(void *arg)
{
	struct worker	*w = arg;
	unsigned char	 in[65536], *out;
	uint64_t	 t0;
	size_t		 have = 0, off, outlen;
	ssize_t		 n;
	int		 i, outstanding = 0;

	out = malloc((size_t)B.conc * BENCH_PING_MSG);
	pthread_barrier_wait(&B.ready);
	if (out == NULL) {
		worker_error(w, "out of memory");
		return (NULL);
	}
	t0 = now_ns();
	for (i = 0; i < B.conc; i++) {
		memset(out + i * BENCH_PING_MSG, 0, BENCH_PING_MSG);
		memcpy(out + i * BENCH_PING_MSG, &t0, sizeof t0);
	}
	outlen = (size_t)B.conc * BENCH_PING_MSG;
	for (;;) {
		outstanding += (int)(outlen / BENCH_PING_MSG);
		for (off = 0; off < outlen; off += n) {
			n = send(w->fd, out + off, outlen - off, MSG_NOSIGNAL);
			if (n <= 0) {
				worker_error(w, "send: %s", strerror(errno));
				goto out;
			}
		}
		outlen = 0;
		if (outstanding == 0)
			break;
		n = read(w->fd, in + have, sizeof in - have);
		if (n <= 0) {
			worker_error(w, "read: %s", n == 0 ? "EOF" :
			    strerror(errno));
			goto out;
		}
		have += n;
		for (off = 0; have - off >= BENCH_PING_MSG;
		    off += BENCH_PING_MSG) {
			memcpy(&t0, in + off, sizeof t0);
			worker_done(w, t0, 0);
			outstanding--;
			if (phase_get() == PHASE_STOP)
				continue;
			t0 = now_ns();
			memset(out + outlen, 0, BENCH_PING_MSG);
			memcpy(out + outlen, &t0, sizeof t0);
			outlen += BENCH_PING_MSG;
		}
		memmove(in, in + off, have - off);
		have -= off;
	}
out:
	free(out);
	return (NULL);
}

/* Note the daemon's RSS now, keeping the largest. */
static void
rss_sample(pid_t pid, struct summary *sum)
{
	long	 kb;

	if ((kb = status_kb(pid, "VmRSS")) > sum->rss_kb)
		sum->rss_kb = kb;
}

/*
 * Add up threads [0, nsum) of ws into sum: counts, the first error, and
 * the quantiles of their merged histograms.
 */
static void
summarize(const struct worker *ws, int nsum, struct summary *sum)
{
	struct hist	*h;
	int		 i, j;

	if ((h = calloc(1, sizeof *h)) == NULL)
		die("out of memory");
	for (i = 0; i < nsum; i++) {
		sum->ops += ws[i].ops;
		sum->bytes += ws[i].bytes;
		sum->errors += ws[i].errors;
		sum->broken |= ws[i].broken;
		if (sum->errmsg[0] == '\0' && ws[i].errmsg[0] != '\0')
			snprintf(sum->errmsg, sizeof sum->errmsg, "%s",
			    ws[i].errmsg);
		for (j = 0; j < HIST_SIZE; j++)
			h->n[j] += ws[i].hist.n[j];
	}
	sum->p50 = hist_quantile(h, sum->ops, 0.50);
	sum->p99 = hist_quantile(h, sum->ops, 0.99);
	sum->p999 = hist_quantile(h, sum->ops, 0.999);
	free(h);
}

/*
 * Run nthreads of fn over ws through warm-up and the measured window,
 * sampling the CPU of cpupid (the server side) and of this process, and
 * the RSS of rsspid (the daemon, or -1), and sum up the first nsum threads
 * (the rest are load whose figures the caller takes from ws).
 */
static void
measure(struct worker *ws, int nthreads, int nsum, void *(*fn)(void *),
    pid_t cpupid, pid_t rsspid, struct summary *sum)
{
	uint64_t	 t, start, end, stop;
	double		 c0, c1, d0, d1;
	int		 i, rc;

	phase_set(PHASE_WARMUP);
	pthread_barrier_init(&B.ready, NULL, nthreads + 1);
	for (i = 0; i < nthreads; i++) {
		if ((rc = pthread_create(&ws[i].tid, NULL, fn, &ws[i])) != 0)
			die("pthread_create: %s", strerror(rc));
		ws[i].started = 1;
	}
	pthread_barrier_wait(&B.ready);
	t = now_ns();
	sleep_until(t + (uint64_t)(B.warmup * 1e9));
	d0 = cpu_pid(cpupid);
	c0 = cpu_self();
	sum->rss_kb = sum->hwm_kb = -1;
	start = now_ns();
	stop = start + (uint64_t)(B.duration * 1e9);
	phase_set(PHASE_MEASURE);
	/* Wake every 100 ms to sample the RSS: a peak may not last. */
	while ((t = now_ns()) < stop) {
		sleep_until(stop - t > BENCH_RSS_PERIOD ?
		    t + BENCH_RSS_PERIOD : stop);
		if (now_ns() < stop)
			rss_sample(rsspid, sum);
	}
	phase_set(PHASE_STOP);
	end = now_ns();
	c1 = cpu_self();
	d1 = cpu_pid(cpupid);
	/* At the end of the window: requests are still in flight. */
	rss_sample(rsspid, sum);
	sum->hwm_kb = status_kb(rsspid, "VmHWM");
	for (i = 0; i < nthreads; i++)
		if (ws[i].started)
			pthread_join(ws[i].tid, NULL);
	pthread_barrier_destroy(&B.ready);

	sum->threads = nsum;
	sum->seconds = (end - start) / 1e9;
	sum->client_cpu = c1 - c0;
	sum->daemon_cpu = d0 >= 0 && d1 >= 0 ? d1 - d0 : 0;
	summarize(ws, nsum, sum);
}

/* Zeroed workers, numbered, each with its own random seed. */
static struct worker *
workers_new(int n)
{
	struct worker	*ws;
	int		 i;

	if ((ws = calloc(n, sizeof *ws)) == NULL)
		die("out of memory");
	for (i = 0; i < n; i++) {
		ws[i].idx = i;
		ws[i].op = B.op;
		ws[i].nslots = B.conc;
		ws[i].fd = -1;
		ws[i].rng = (0x9e3779b97f4a7c15ULL * (i + 1)) ^
		    ((uint64_t)getpid() << 16) ^ 1;
	}
	return (ws);
}

/* A page-aligned, already touched BENCH_SEQ_IO buffer. */
static char *
seq_buf(void)
{
	void	*p;

	if (posix_memalign(&p, 4096, BENCH_SEQ_IO) != 0)
		die("out of memory");
	memset(p, 0, BENCH_SEQ_IO);
	return (p);
}

/* Give w its slots (with a warm buffer each for seqread). */
static void
worker_slots(struct worker *w)
{
	int	 j;

	if ((w->slots = calloc(w->nslots, sizeof *w->slots)) == NULL)
		die("out of memory");
	for (j = 0; j < w->nslots; j++) {
		w->slots[j].w = w;
		if (w->op == OP_SEQREAD)
			w->slots[j].buf = seq_buf();
	}
}

/* Free n connection workers and their slots. */
static void
workers_free(struct worker *ws, int n)
{
	int	 i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < ws[i].nslots && ws[i].slots != NULL; j++)
			free(ws[i].slots[j].buf);
		free(ws[i].slots);
	}
	free(ws);
}

/* The daemon run: C connections of N slots each. */
static void
run_daemon(struct summary *sum)
{
	struct worker	*ws;
	int		 i;

	ws = workers_new(B.nconn);
	for (i = 0; i < B.nconn; i++)
		worker_slots(&ws[i]);
	measure(ws, B.nconn, B.nconn, conn_main, B.daemon_pid, B.daemon_pid,
	    sum);
	workers_free(ws, B.nconn);
}

/* Threads of the baseline: what W workers could run at once. */
static int
base_threads(void)
{
	long long	 inflight = (long long)B.conc * B.nconn;

	return (inflight < B.workers ? (int)inflight : B.workers);
}

/* Open path read-only or die. */
static int
open_ro(const char *path)
{
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		die("open %s: %s", path, strerror(errno));
	return (fd);
}

/*
 * The read buffer of blocking thread i.  Both runs of a pair use the same,
 * already touched, buffers: a fresh 1 MiB malloc (4 KiB pages, new TLB
 * entries) copies measurably slower than a warm one, which once made
 * seqread --fd look half as fast as its baseline.
 */
static char *
thread_buf(int i)
{
	char	**nb;

	if (i >= B.nbufs) {
		if ((nb = realloc(B.bufs, (i + 1) * sizeof *nb)) == NULL)
			die("out of memory");
		B.bufs = nb;
		while (B.nbufs <= i)
			B.bufs[B.nbufs++] = seq_buf();
	}
	return (B.bufs[i]);
}

/*
 * The blocking-thread runs: the in-process baseline, and seqread --fd,
 * whose threads read fds the daemon handed back instead of their own.
 */
static void
run_threads(struct summary *sum, int fdpass)
{
	struct worker	*ws;
	char		 path[PATH_MAX];
	int		 i, n = base_threads();

	ws = workers_new(n);
	if (B.op == OP_PREAD) {
		host_path(path, sizeof path, "pread.dat");
		B.shared_fd = open_ro(path);
	}
	for (i = 0; i < n; i++) {
		ws[i].buf = thread_buf(i);
		if (B.op != OP_SEQREAD)
			continue;
		if (fdpass)
			ws[i].fd = B.fds[i % B.nconn];
		else {
			host_path(path, sizeof path, "%s", B.seqname);
			ws[i].fd = open_ro(path);
		}
		ws[i].cursor = ((B.size / BENCH_SEQ_IO) * i / n) *
		    BENCH_SEQ_IO;
	}
	measure(ws, n, n, base_main, fdpass ? B.daemon_pid : -1,
	    fdpass ? B.daemon_pid : -1, sum);
	for (i = 0; i < n; i++) {
		if (!fdpass && ws[i].fd != -1)
			close(ws[i].fd);
	}
	if (B.op == OP_PREAD)
		close(B.shared_fd);
	free(ws);
}

/* seqread --fd: C connections each hand back one fd of the file. */
static void
run_fd(struct summary *sum)
{
	aiofs_req_t	 req;
	char		 path[256];
	int		 i, rc;

	if ((B.fds = calloc(B.nconn, sizeof *B.fds)) == NULL ||
	    (B.fdconns = calloc(B.nconn, sizeof *B.fdconns)) == NULL)
		die("out of memory");
	daemon_path(path, sizeof path, "%s", B.seqname);
	for (i = 0; i < B.nconn; i++) {
		if ((rc = aiofs_connect(&B.fdconns[i], B.sock,
		    "aiofs-bench")) != 0)
			die("connect %s: %s", B.sock, aiofs_strerror(rc));
		if (!aiofs_has_capability(B.fdconns[i], "fd-passing"))
			die("the daemon does not pass fds: start it with "
			    "--allow-fd-passing");
		memset(&req, 0, sizeof req);
		if ((rc = aiofs_openfd(B.fdconns[i], &req, path, "rb", 0,
		    NULL)) < 0 || req.fd == -1)
			die("openfd %s: %s", path, aiofs_strerror(rc));
		B.fds[i] = req.fd;
		aiofs_req_cleanup(&req);
	}
	run_threads(sum, 1);
	for (i = 0; i < B.nconn; i++) {
		close(B.fds[i]);
		aiofs_close(B.fdconns[i]);
	}
	free(B.fds);
	free(B.fdconns);
	B.fds = NULL;
	B.fdconns = NULL;
}

/*
 * Workers for a forked peer: one socketpair each, the worker's end in its
 * fd and the far end in (*theirsp)[i], for run_peer().
 */
static struct worker *
peer_workers(int **theirsp)
{
	struct worker	*ws;
	int		*theirs, sv[2], i;

	ws = workers_new(B.nconn);
	if ((theirs = calloc(B.nconn, sizeof *theirs)) == NULL)
		die("out of memory");
	for (i = 0; i < B.nconn; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		    -1)
			die("socketpair: %s", strerror(errno));
		ws[i].fd = sv[0];
		theirs[i] = sv[1];
	}
	*theirsp = theirs;
	return (ws);
}

/*
 * Fork a peer that runs serve() on theirs[] (the far ends of the workers'
 * socketpairs), measure fn in the workers against it, and reap it.  Frees
 * ws and theirs.
 */
static void
run_peer(struct worker *ws, int *theirs, int (*serve)(int *, int),
    void *(*fn)(void *), const char *what, struct summary *sum)
{
	pid_t	 pid;
	int	 i, status;

	fflush(NULL);
	if ((pid = fork()) == -1)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* The child: serve, free what it inherited, and go. */
		for (i = 0; i < B.nconn; i++)
			close(ws[i].fd);
		status = serve(theirs, B.nconn);
		free(theirs);
		free(ws);
		free(B.dir);
		free(B.root);
		free(B.hostdir);
		_exit(status == 0 ? 0 : 1);
	}
	for (i = 0; i < B.nconn; i++)
		close(theirs[i]);
	free(theirs);
	measure(ws, B.nconn, B.nconn, fn, pid, -1, sum);
	for (i = 0; i < B.nconn; i++)
		close(ws[i].fd);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		sum->broken = 1;
		snprintf(sum->errmsg, sizeof sum->errmsg, "%s process failed",
		    what);
	}
	free(ws);
}

/* The ping baseline: socketpairs to a forked echo process. */
static void
run_ping_baseline(struct summary *sum)
{
	struct worker	*ws;
	int		*theirs;

	ws = peer_workers(&theirs);
	run_peer(ws, theirs, echo_serve, ping_main, "echo", sum);
}

/* The bulk writer's state: the buffer, and where each socket is in it. */
struct bulk_out {
	char		*buf;
	size_t		*off;
};

/*
 * Write one socket until it is full (poll_serve), as aiofsd writes: the
 * same buffer over and over, until the reader closes it.
 */
static int
bulk_one(int fd, int i, void *arg)
{
	struct bulk_out	*b = arg;
	ssize_t		 m;

	for (;;) {
		m = send(fd, b->buf + b->off[i], BENCH_SEQ_IO - b->off[i],
		    MSG_NOSIGNAL);
		if (m > 0) {
			b->off[i] = (b->off[i] + m) % BENCH_SEQ_IO;
			continue;
		}
		if (m == -1 && errno == EINTR)
			continue;
		if (m == -1 && (errno == EPIPE || errno == ECONNRESET))
			return (1);
		return (m == -1 && errno != EAGAIN ? -1 : 0);
	}
}

/*
 * The bulk baseline's writer: send the same 1 MiB buffer over and over on
 * every socket until its reader closes it; 0, or -1 on an error.
 */
static int
bulk_serve(int *fds, int n)
{
	struct bulk_out	 b;
	int		 i, rc = -1;

	b.buf = seq_buf();
	memset(b.buf, 'b', BENCH_SEQ_IO);
	if ((b.off = calloc(n, sizeof *b.off)) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		if (fcntl(fds[i], F_SETFL, O_NONBLOCK) == -1)
			goto out;
	rc = poll_serve(fds, n, POLLOUT, bulk_one, &b);
out:
	free(b.off);
	free(b.buf);
	return (rc);
}

/* A bulk baseline reader: whole 1 MiB messages into a warm buffer. */
static void *
sock_main(void *arg)
{
	struct worker	*w = arg;
	uint64_t	 t0;
	size_t		 got;
	ssize_t		 n;

	pthread_barrier_wait(&B.ready);
	while (phase_get() != PHASE_STOP) {
		t0 = now_ns();
		for (got = 0; got < BENCH_SEQ_IO; got += n) {
			n = read(w->fd, w->buf + got, BENCH_SEQ_IO - got);
			if (n == -1 && errno == EINTR)
				n = 0;
			else if (n <= 0) {
				worker_error(w, "bulk read: %s", n == 0 ?
				    "EOF" : strerror(errno));
				w->broken = 1;
				return (NULL);
			}
		}
		worker_done(w, t0, BENCH_SEQ_IO);
	}
	return (NULL);
}

/*
 * Plain Unix-socket bulk transfer, the ceiling of inline seqread: C
 * socketpairs to one forked writer, whose ends get the send buffer aiofsd
 * gives bulk connections (as far as the kernel allows; *sndbuf says what
 * it granted), each read by a thread into its warm baseline buffer.
 */
static void
run_sock(struct summary *sum, int *sndbuf)
{
	struct worker	*ws;
	socklen_t	 slen = sizeof *sndbuf;
	int		*theirs, i, size;

	ws = peer_workers(&theirs);
	*sndbuf = -1;
	for (i = 0; i < B.nconn; i++) {
		ws[i].buf = thread_buf(i);
		/* As conn_bulk(): past net.core.wmem_max only as root. */
		size = BENCH_BULK_SNDBUF;
		if (setsockopt(theirs[i], SOL_SOCKET, SO_SNDBUFFORCE, &size,
		    sizeof size) == -1)
			(void)setsockopt(theirs[i], SOL_SOCKET, SO_SNDBUF,
			    &size, sizeof size);
		if (i == 0 && getsockopt(theirs[i], SOL_SOCKET, SO_SNDBUF,
		    sndbuf, &slen) == -1)
			*sndbuf = -1;
	}
	run_peer(ws, theirs, bulk_serve, sock_main, "bulk writer", sum);
}

/*
 * isolation: C probe connections keeping N stats in flight, measured
 * alone, and beside one more connection (its own aiofs_t and thread) that
 * reads the --size file inline from start to end, over and over,
 * BENCH_ISO_DEPTH 1 MiB preadinto calls in flight into warm buffers.
 *
 * The two alternate in BENCH_ISO_ROUNDS rounds of --duration / rounds each
 * (each with its warm-up), with every round's latencies added to the same
 * workers: on a shared machine the background load drifts over seconds,
 * and measuring all of one case first once made a burst of it land on the
 * "alone" half alone.  sum gets the probes beside the stream; the alone
 * figures, the ratios and the stream's rate go in as extra fields.
 */
static void
run_isolation(struct summary *sum)
{
	struct summary	 alone, stream, round;
	struct worker	*ws, *wa;
	double		 duration = B.duration;
	int		 i, r;

	wa = workers_new(B.nconn);
	ws = workers_new(B.nconn + 1);
	for (i = 0; i < B.nconn; i++) {
		wa[i].op = OP_STAT;
		worker_slots(&wa[i]);
	}
	for (i = 0; i <= B.nconn; i++) {
		ws[i].op = i < B.nconn ? OP_STAT : OP_SEQREAD;
		ws[i].nslots = i < B.nconn ? B.conc : BENCH_ISO_DEPTH;
		worker_slots(&ws[i]);
	}
	memset(&alone, 0, sizeof alone);
	sum->rss_kb = -1;
	B.duration = duration / BENCH_ISO_ROUNDS;
	for (r = 0; r < BENCH_ISO_ROUNDS; r++) {
		/* Workers keep counting; only time, CPU and RSS add up here. */
		memset(&round, 0, sizeof round);
		measure(wa, B.nconn, 0, conn_main, B.daemon_pid, B.daemon_pid,
		    &round);
		alone.seconds += round.seconds;
		memset(&round, 0, sizeof round);
		measure(ws, B.nconn + 1, 0, conn_main, B.daemon_pid,
		    B.daemon_pid, &round);
		sum->seconds += round.seconds;
		sum->daemon_cpu += round.daemon_cpu;
		sum->client_cpu += round.client_cpu;
		if (round.rss_kb > sum->rss_kb)
			sum->rss_kb = round.rss_kb;
		sum->hwm_kb = round.hwm_kb;
	}
	B.duration = duration;
	summarize(wa, B.nconn, &alone);
	summarize(ws, B.nconn, sum);
	sum->threads = B.nconn;
	memset(&stream, 0, sizeof stream);
	summarize(ws + B.nconn, 1, &stream);
	workers_free(wa, B.nconn);
	workers_free(ws, B.nconn + 1);

	/* Any error in either phase, or a stream that never ran, fails. */
	sum->errors += alone.errors + stream.errors;
	sum->broken |= alone.broken | stream.broken;
	if (sum->errmsg[0] == '\0')
		snprintf(sum->errmsg, sizeof sum->errmsg, "%s",
		    alone.errmsg[0] != '\0' ? alone.errmsg : stream.errmsg);
	if (stream.bytes == 0 || alone.ops == 0) {
		sum->broken = 1;
		if (sum->errmsg[0] == '\0')
			snprintf(sum->errmsg, sizeof sum->errmsg, "%s",
			    alone.ops == 0 ? "no stat completed alone" :
			    "the stream read nothing");
	}
	sum_extra(sum, "alone_ops_per_s", "%.1f", alone.seconds > 0 ?
	    alone.ops / alone.seconds : 0);
	sum_extra(sum, "alone_p50_us", "%.1f", alone.p50);
	sum_extra(sum, "alone_p99_us", "%.1f", alone.p99);
	sum_extra(sum, "alone_p999_us", "%.1f", alone.p999);
	sum_extra(sum, "p50_ratio", "%.2f", alone.p50 > 0 ?
	    sum->p50 / alone.p50 : 0);
	sum_extra(sum, "p99_ratio", "%.2f", alone.p99 > 0 ?
	    sum->p99 / alone.p99 : 0);
	sum_extra(sum, "stream_mb_per_s", "%.1f", sum->seconds > 0 ?
	    stream.bytes / sum->seconds / 1e6 : 0);
	sum_extra(sum, "stream_p50_us", "%.1f", stream.p50);
	sum_extra(sum, "stream_depth", "%d", BENCH_ISO_DEPTH);
	sum_extra(sum, "stream_size", "%lld", (long long)B.size);
	sum_extra(sum, "stream_passes", "%.2f", (double)stream.bytes /
	    (double)B.size);
	sum_extra(sum, "rounds", "%d", BENCH_ISO_ROUNDS);
}

/*
 * Raise RLIMIT_NOFILE to at least need, or die saying why not: only root
 * may go past the hard limit.
 */
static void
nofile_raise(rlim_t need)
{
	struct rlimit	 rl, want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return;
	want.rlim_cur = need;
	want.rlim_max = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ?
	    need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &want) == -1)
		die("idle: %d connections need %llu fds, but RLIMIT_NOFILE is "
		    "%llu (hard limit %llu) and raising it failed: %s; raise "
		    "the hard limit (as root) or ask for fewer connections",
		    B.nconn, (unsigned long long)need,
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max, strerror(errno));
}

/*
 * idle: open C connections, each through its handshake, hold them for
 * --duration, and price them by the daemon's VmRSS before and after.  Then
 * ping each once, which proves the daemon still holds it and prices a
 * connection that has carried a request, and close them.  ops and the
 * latencies are of the connects (aiofs_connect, hello included).
 */
static void
run_idle(struct summary *sum)
{
	struct worker	*w;
	aiofs_t		**hs;
	aiofs_req_t	 req;
	uint64_t	 t0, start, end;
	long		 rss0, rss1, rss2;
	double		 c0, d0, c1, d1;
	int		 n, i, rc, held = 0;
	long long	 dconns = -1;

	nofile_raise((rlim_t)B.nconn + 64);
	if ((rss0 = status_kb(B.daemon_pid, "VmRSS")) < 0)
		die("idle: cannot read the daemon's VmRSS from "
		    "/proc/%ld/status; give --daemon-pid", (long)B.daemon_pid);
	if ((hs = calloc(B.nconn, sizeof *hs)) == NULL)
		die("out of memory");
	w = workers_new(1);
	d0 = cpu_pid(B.daemon_pid);
	c0 = cpu_self();
	phase_set(PHASE_MEASURE);
	start = now_ns();
	for (n = 0; n < B.nconn; n++) {
		t0 = now_ns();
		if ((rc = aiofs_connect(&hs[n], B.sock, "aiofs-bench")) != 0) {
			worker_error(w, "connection %d of %d: %s%s", n + 1,
			    B.nconn, aiofs_strerror(rc), rc == -EUSERS ?
			    " (start aiofsd with a larger --max-connections "
			    "and --max-connections-per-uid)" : "");
			break;
		}
		worker_done(w, t0, 0);
	}
	end = now_ns();
	/* Hold them: the daemon may allocate lazily, or free late. */
	sleep_until(end + (uint64_t)(B.duration * 1e9));
	rss1 = status_kb(B.daemon_pid, "VmRSS");
	if (n > 0) {
		memset(&req, 0, sizeof req);
		if ((rc = aiofs_stats(hs[0], &req, NULL)) < 0)
			worker_error(w, "stats: %s", aiofs_strerror(rc));
		else
			dconns = (long long)req.stats.connections_current;
		aiofs_req_cleanup(&req);
	}
	for (i = 0; i < n; i++) {
		memset(&req, 0, sizeof req);
		if ((rc = aiofs_ping(hs[i], &req, NULL)) < 0)
			worker_error(w, "ping on connection %d: %s", i + 1,
			    aiofs_strerror(rc));
		else
			held++;
		aiofs_req_cleanup(&req);
	}
	rss2 = status_kb(B.daemon_pid, "VmRSS");
	sum->hwm_kb = status_kb(B.daemon_pid, "VmHWM");
	c1 = cpu_self();
	d1 = cpu_pid(B.daemon_pid);
	phase_set(PHASE_STOP);
	for (i = 0; i < n; i++)
		aiofs_close(hs[i]);
	free(hs);

	sum->threads = 1;
	sum->seconds = (end - start) / 1e9;
	sum->client_cpu = c1 - c0;
	sum->daemon_cpu = d0 >= 0 && d1 >= 0 ? d1 - d0 : 0;
	sum->rss_kb = rss1 > rss2 ? rss1 : rss2;
	summarize(w, 1, sum);
	free(w);
	sum_extra(sum, "held", "%d", held);
	sum_extra(sum, "daemon_connections", "%lld", dconns);
	sum_extra(sum, "hold_s", "%.2f", B.duration);
	sum_extra(sum, "rss_before_kb", "%ld", rss0);
	sum_extra(sum, "rss_idle_kb", "%ld", rss1);
	sum_extra(sum, "rss_used_kb", "%ld", rss2);
	sum_extra(sum, "kib_per_conn", "%.2f", n > 0 && rss1 >= 0 ?
	    (double)(rss1 - rss0) / n : 0);
	sum_extra(sum, "kib_per_conn_used", "%.2f", n > 0 && rss2 >= 0 ?
	    (double)(rss2 - rss0) / n : 0);
}

/* Print one result, as JSON or as a line for people. */
static void
report(const struct summary *s)
{
	char	 rss[128] = "", rsstext[128] = "";
	double	 ops_s, mb_s;

	ops_s = s->seconds > 0 ? s->ops / s->seconds : 0;
	mb_s = s->seconds > 0 ? s->bytes / s->seconds / 1e6 : 0;
	/* Only runs against the daemon know its RSS. */
	if (s->rss_kb >= 0 && s->hwm_kb >= 0) {
		snprintf(rss, sizeof rss, ",\"daemon_rss_kb\":%ld,"
		    "\"daemon_hwm_kb\":%ld", s->rss_kb, s->hwm_kb);
		snprintf(rsstext, sizeof rsstext, " rss %ld KiB", s->rss_kb);
	}
	if (B.json)
		printf("{\"op\":\"%s\",\"concurrency\":%d,\"connections\":%d,"
		    "\"ops\":%llu,\"seconds\":%.3f,\"ops_per_s\":%.1f,"
		    "\"mb_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
		    "\"p999_us\":%.1f,\"daemon_cpu_s\":%.2f,"
		    "\"client_cpu_s\":%.2f,\"threads\":%d,\"errors\":%llu"
		    "%s%s}\n",
		    s->label, B.conc, B.nconn, (unsigned long long)s->ops,
		    s->seconds, ops_s, mb_s, s->p50, s->p99, s->p999,
		    s->daemon_cpu, s->client_cpu, s->threads,
		    (unsigned long long)s->errors, rss, s->json);
	else
		printf("%-22s n=%-3d c=%-2d %10.0f ops/s %9.1f MB/s  "
		    "p50 %8.1f  p99 %8.1f  p99.9 %8.1f us  cpu daemon %.2f s "
		    "client %.2f s%s%s%s\n", s->label, B.conc, B.nconn, ops_s,
		    mb_s, s->p50, s->p99, s->p999, s->daemon_cpu,
		    s->client_cpu, rsstext, s->text,
		    s->errors > 0 || s->broken ? "  ERRORS" : "");
	fflush(stdout);
	if (s->errmsg[0] != '\0')
		fprintf(stderr, "aiofs-bench: %s: %llu error(s), first: %s\n",
		    s->label, (unsigned long long)s->errors, s->errmsg);
}

/* Ask the daemon what we were not told: root, worker count, pid. */
static void
probe_daemon(void)
{
	aiofs_t		*h;
	aiofs_req_t	 req;
	struct ucred	 cred;
	socklen_t	 len = sizeof cred;
	int		 rc;

	if ((rc = aiofs_connect(&h, B.sock, "aiofs-bench")) != 0)
		die("connect %s: %s", B.sock, aiofs_strerror(rc));
	if (B.root == NULL) {
		if (aiofs_root(h) == NULL || *aiofs_root(h) == '\0')
			die("the daemon did not say its root: give --root");
		if ((B.root = strdup(aiofs_root(h))) == NULL)
			die("out of memory");
	}
	if (B.workers == 0) {
		memset(&req, 0, sizeof req);
		if (aiofs_stats(h, &req, NULL) == 0 && req.stats.workers > 0)
			B.workers = (int)req.stats.workers;
		aiofs_req_cleanup(&req);
	}
	if (B.daemon_pid == 0 && getsockopt(aiofs_fd(h), SOL_SOCKET,
	    SO_PEERCRED, &cred, &len) == 0)
		B.daemon_pid = cred.pid;
	aiofs_close(h);
}

/* Parse a size with an optional K, M or G (powers of 1024). */
static int64_t
parse_size(const char *s)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v <= 0)
		die("--size: \"%s\" is not a size", s);
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	if (*end != '\0')
		die("--size: \"%s\" is not a size", s);
	return (v);
}

/* Parse a number in [min, max] or die. */
static double
parse_num(const char *opt, const char *s, double min, double max)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		die("%s: \"%s\" is not a number from %g to %g", opt, s, min,
		    max);
	return (v);
}

/* Say how to call us, and exit with status. */
static __attribute__((noreturn)) void
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: aiofs-bench -s socket --op op [--concurrency n] "
	    "[--connections c]\n"
	    "                   [--duration s] [--warmup s] [--size bytes] "
	    "[--dir dir]\n"
	    "                   [--root hostpath] [--workers w] "
	    "[--daemon-pid pid]\n"
	    "                   [--json] [--baseline] [--fd]\n"
	    "ops: ping stat open-read-close read-file pread seqread "
	    "create-write-close\n"
	    "     listdir mixed\n"
	    "     isolation  stat at n in flight on c connections, alone, "
	    "then beside one\n"
	    "                more connection streaming the --size file "
	    "inline\n"
	    "     idle       hold c connections (up to %d) and price them by "
	    "the daemon's RSS\n"
	    "seqread --baseline also measures plain Unix-socket bulk "
	    "transfer (sock_*).\n", BENCH_MAX_IDLE);
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "op", required_argument, NULL, 'o' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "connections", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 'S' },
		{ "dir", required_argument, NULL, 'D' },
		{ "root", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "baseline", no_argument, NULL, 'b' },
		{ "fd", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "daemon-pid", required_argument, NULL, 1 },
		{ "warmup", required_argument, NULL, 2 },
		{ NULL, 0, NULL, 0 }
	};
	struct summary	 sum, base, bulk;
	char		 label[64];
	const char	*opname = NULL, *dir = "/aiofs-bench", *d;
	size_t		 len;
	int		 ch, i, sndbuf, status = 0;

	B.conc = 1;
	B.nconn = 1;
	B.duration = 5;
	B.warmup = -1;
	B.size = BENCH_SEQ_DEFAULT;
	B.shared_fd = -1;
	while ((ch = getopt_long(argc, argv, "s:o:n:c:d:S:D:r:w:jbFh",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			B.sock = optarg;
			break;
		case 'o':
			opname = optarg;
			break;
		case 'n':
			B.conc = (int)parse_num("--concurrency", optarg, 1,
			    65536);
			break;
		case 'c':
			B.nconn = (int)parse_num("--connections", optarg, 1,
			    BENCH_MAX_IDLE);
			break;
		case 'd':
			B.duration = parse_num("--duration", optarg, 0.01,
			    86400);
			break;
		case 'S':
			B.size = parse_size(optarg);
			break;
		case 'D':
			dir = optarg;
			break;
		case 'r':
			free(B.root);
			if ((B.root = strdup(optarg)) == NULL)
				die("out of memory");
			break;
		case 'w':
			B.workers = (int)parse_num("--workers", optarg, 1,
			    4096);
			break;
		case 'j':
			B.json = 1;
			break;
		case 'b':
			B.baseline = 1;
			break;
		case 'F':
			B.use_fd = 1;
			break;
		case 'h':
			usage(0);
		case 1:
			B.daemon_pid = (pid_t)parse_num("--daemon-pid", optarg,
			    1, INT_MAX);
			break;
		case 2:
			B.warmup = parse_num("--warmup", optarg, 0, 3600);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc || opname == NULL || B.sock == NULL)
		usage(2);
	for (i = 0; i < OP__MAX; i++)
		if (strcmp(opname, op_names[i]) == 0)
			break;
	if (i == OP__MAX) {
		fprintf(stderr, "aiofs-bench: unknown op \"%s\"\n", opname);
		usage(2);
	}
	B.op = i;
	if (B.use_fd && B.op != OP_SEQREAD)
		die("--fd applies to seqread only");
	if (B.baseline && (B.op == OP_ISOLATION || B.op == OP_IDLE))
		die("--baseline does not apply to %s", op_names[B.op]);
	if (B.op != OP_IDLE && B.nconn > BENCH_MAX_CONNS)
		die("--connections: at most %d for %s (a thread each)",
		    BENCH_MAX_CONNS, op_names[B.op]);
	/* Apart, so that seqread and isolation may differ in --size. */
	B.seqname = B.op == OP_ISOLATION ? "stream.dat" : "seq.dat";
	if (B.warmup < 0)
		B.warmup = B.duration / 5 < 0.5 ? B.duration / 5 : 0.5;
	signal(SIGPIPE, SIG_IGN);

	probe_daemon();
	if (B.workers == 0)
		B.workers = 4;
	/* The daemon's path without trailing '/'; the host path under root. */
	if ((B.dir = strdup(dir)) == NULL)
		die("out of memory");
	len = strlen(B.dir);
	while (len > 1 && B.dir[len - 1] == '/')
		B.dir[--len] = '\0';
	for (d = B.dir; *d == '/'; d++)
		;
	len = strlen(B.root);
	while (len > 1 && B.root[len - 1] == '/')
		B.root[--len] = '\0';
	if (asprintf(&B.hostdir, "%s/%s", strcmp(B.root, "/") == 0 ? "" :
	    B.root, d) == -1)
		die("out of memory");
	if (B.op != OP_PING && B.op != OP_IDLE)
		setup_files(B.op);

	memset(&sum, 0, sizeof sum);
	snprintf(label, sizeof label, "%s%s", op_names[B.op],
	    B.use_fd ? "-fd" : "");
	sum.label = label;
	if (B.op == OP_ISOLATION)
		run_isolation(&sum);
	else if (B.op == OP_IDLE)
		run_idle(&sum);
	else if (B.use_fd)
		run_fd(&sum);
	else
		run_daemon(&sum);
	if (B.op == OP_SEQREAD && !B.use_fd && B.baseline) {
		/* The socket ceiling goes in seqread's own line. */
		memset(&bulk, 0, sizeof bulk);
		run_sock(&bulk, &sndbuf);
		sum_extra(&sum, "sock_mb_per_s", "%.1f", bulk.seconds > 0 ?
		    bulk.bytes / bulk.seconds / 1e6 : 0);
		sum_extra(&sum, "sock_p50_us", "%.1f", bulk.p50);
		sum_extra(&sum, "sock_cpu_s", "%.2f", bulk.daemon_cpu +
		    bulk.client_cpu);
		sum_extra(&sum, "sock_sndbuf", "%d", sndbuf);
		if (bulk.errors > 0 || bulk.broken) {
			sum.broken = 1;
			fprintf(stderr, "aiofs-bench: bulk socket baseline: "
			    "%s\n", bulk.errmsg);
		}
	}
	report(&sum);
	if (sum.errors > 0 || sum.broken)
		status = 1;

	if (B.baseline) {
		memset(&base, 0, sizeof base);
		snprintf(label, sizeof label, "%s%s-baseline", op_names[B.op],
		    B.use_fd ? "-fd" : "");
		base.label = label;
		if (B.op == OP_PING)
			run_ping_baseline(&base);
		else
			run_threads(&base, 0);
		report(&base);
		if (base.errors > 0 || base.broken)
			status = 1;
	}
	for (i = 0; i < B.nbufs; i++)
		free(B.bufs[i]);
	free(B.bufs);
	free(B.dir);
	free(B.root);
	free(B.hostdir);
	return (status);
}
