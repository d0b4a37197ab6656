/*
 * dispatch_fuzzer.c - libFuzzer target: one Request, decoded from the
 * input, run through the daemon's handler table on a real temporary root,
 * synchronously, as a worker would (req_new(NULL, msg) + op->work, the
 * way tests/testutil.c's treq_new/treq_run do), streaming replies to the
 * end, and every result packed as dispatch_reply() would.
 *
 * Ops that take a handle get one: a binary, text, append or spooled file
 * of the root, chosen by the request id.  Extra fds (sendfile's input,
 * fstat's, sameopenfile's) are dups of another root file, as dispatch
 * makes them.  Inline ops (hello, ping, cancel, stats) need a connection
 * and are left to sequence_fuzzer.c.
 *
 * Confinement is the oracle, besides the sanitizers: the process runs in
 * a fresh temporary directory, chdir'd into its root, with two sessions
 * (RESOLVE_BENEATH, and RESOLVE_IN_ROOT; the id picks one); the root
 * holds links out to a canary next to it.  After every input the canary
 * must be untouched (abort otherwise), and the process's fd count must
 * stay bounded (an fd leak aborts).  RLIMIT_FSIZE caps what a fuzzed
 * truncate or write can make.  The root is rebuilt every 1000 inputs.
 *
 * Build and run: tests/fuzz/run.sh SECONDS (see tests/fuzz/README.md).
 * FUZZ_WRITE_SEEDS=DIR writes a seed corpus into DIR and exits.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"
#include "fuzzroot.h"

#define OPC(x)		AIOFS__V1__REQUEST__OP_##x
#define FZ_MAX_CHUNKS	64		/* streamed parts per input */
#define FZ_MAX_FDS	256		/* more open fds is a leak */
#define FZ_RESET_EVERY	1000

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct fuzzroot	 fz_fr;		/* the root and its canary */
static struct policy	 fz_pol_beneath, fz_pol_inroot;
static struct session	*fz_beneath, *fz_inroot;
static unsigned long	 fz_runs;

/* Empty the root and make the seed tree, links out included. */
static void
fz_tree(void)
{
	char	 p[PATH_MAX], t[PATH_MAX];

	fuzz_clear(fz_fr.root);
#define P(s)	(snprintf(p, sizeof p, "%s/%s", fz_fr.root, (s)), p)
	mkdir(P("d"), 0755);
	mkdir(P("d/e"), 0755);
	mkdir(P("tmp"), 0777);
	fuzz_write(P("f"), "hello\nworld\n");
	fuzz_write(P("d/g"), "g\n");
	fuzz_write(P("text"), "caf\xc3\xa9\r\nline two\nthree");
	fuzz_write(P("hfile"), "0123456789abcdef\n");
	fuzz_write(P("hfile2"), "second\n");
	symlink(fz_fr.canary, P("esc_abs"));
	snprintf(t, sizeof t, "../../../../../../..%s", fz_fr.canary);
	symlink(t, P("esc_rel"));
	snprintf(t, sizeof t, "%s/secret", fz_fr.canary);
	symlink(t, P("esc_file"));
	symlink("../canary", P("esc_up"));
	symlink("/proc/self/root", P("magic"));
	symlink("loop", P("loop"));
	symlink("f", P("lnk"));
#undef P
}

/* Open fds of this process. */
static int
fz_nfds(void)
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

/* A policy rooted at fz_fr.root. */
static void
fz_policy(struct policy *p, int strict)
{
	memset(p, 0, sizeof *p);
	p->root = fz_fr.root;
	p->rootfd = open(fz_fr.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (p->rootfd == -1)
		fuzz_die("cannot open the root");
	p->strict_paths = strict;
	p->max_inflight = AIOFS_MAX_INFLIGHT;
	p->max_handles = AIOFS_MAX_HANDLES;
}

/* Write the seed corpus: one packed Request per op. */
static void
fz_seeds(const char *dir)
{
	Request			 r = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__Path		 p = AIOFS__V1__PATH__INIT;
	Aiofs__V1__TwoPaths	 tp = AIOFS__V1__TWO_PATHS__INIT;
	Aiofs__V1__Open		 o = AIOFS__V1__OPEN__INIT;
	Aiofs__V1__Read		 rd = AIOFS__V1__READ__INIT;
	Aiofs__V1__Write	 w = AIOFS__V1__WRITE__INIT;
	Aiofs__V1__Stat		 st = AIOFS__V1__STAT__INIT;
	Aiofs__V1__Walk		 wk = AIOFS__V1__WALK__INIT;
	Aiofs__V1__TempFile	 tf = AIOFS__V1__TEMP_FILE__INIT;
	Aiofs__V1__WriteFile	 wf = AIOFS__V1__WRITE_FILE__INIT;
	Aiofs__V1__Makedirs	 md = AIOFS__V1__MAKEDIRS__INIT;
	Aiofs__V1__Handle	 h = AIOFS__V1__HANDLE__INIT;
	uint8_t			 buf[4096];
	char			 name[PATH_MAX];
	size_t			 n;
	int			 i, fd;

#define BIN(s)	((ProtobufCBinaryData){ strlen(s), (uint8_t *)(s) })
	for (i = 0; i < 40; i++) {
		aiofs__v1__request__init(&r);
		r.has_id = 1;
		r.id = i;
		switch (i % 20) {
		case 0:
			o.has_path = 1;
			o.path = BIN(i < 20 ? "f" : "esc_abs/secret");
			o.mode = i < 20 ? "rb" : "w";
			r.op_case = OPC(OPEN);
			r.open = &o;
			break;
		case 1:
			rd.has_handle = rd.has_size = 1;
			rd.size = i < 20 ? -1 : 5;
			r.op_case = OPC(READ);
			r.read = &rd;
			break;
		case 2:
			w.has_data = 1;
			w.data = BIN("written\n");
			r.op_case = OPC(WRITE);
			r.write = &w;
			break;
		case 3:
			st.has_path = 1;
			st.path = BIN(i < 20 ? "esc_rel/secret" : "lnk");
			r.op_case = OPC(STAT);
			r.stat = &st;
			break;
		case 4:
			tp.has_src = tp.has_dst = 1;
			tp.src = BIN("f");
			tp.dst = BIN(i < 20 ? "d/e/moved" : "esc_abs/moved");
			r.op_case = OPC(RENAME);
			r.rename = &tp;
			break;
		case 5:
			p.has_path = 1;
			p.path = BIN(i < 20 ? "d" : "esc_up");
			r.op_case = OPC(RMTREE);
			r.rmtree = &p;
			break;
		case 6:
			wk.has_path = 1;
			wk.path = BIN("/");
			r.op_case = OPC(WALK);
			r.walk = &wk;
			break;
		case 7:
			tf.has_kind = 1;
			tf.kind = i < 20 ?
			    AIOFS__V1__TEMP_KIND__NAMED_TEMPORARY_FILE :
			    AIOFS__V1__TEMP_KIND__SPOOLED_TEMPORARY_FILE;
			r.op_case = OPC(TEMPFILE);
			r.tempfile = &tf;
			break;
		case 8:
			wf.has_path = wf.has_data = 1;
			wf.path = BIN(i < 20 ? "new" : "esc_file");
			wf.data = BIN("data");
			wf.has_atomic = 1;
			wf.atomic = i >= 20;
			r.op_case = OPC(WRITEFILE);
			r.writefile = &wf;
			break;
		case 9:
			md.has_path = 1;
			md.path = BIN(i < 20 ? "a/b/c" : "esc_abs/x/y");
			r.op_case = OPC(MAKEDIRS);
			r.makedirs = &md;
			break;
		case 10:
			p.has_path = 1;
			p.path = BIN(i < 20 ? "d" : "esc_abs");
			r.op_case = OPC(CHDIR);
			r.chdir = &p;
			break;
		case 11:
			tp.has_src = tp.has_dst = 1;
			tp.src = BIN("text");
			tp.dst = BIN(i < 20 ? "copy" : "esc_abs/copy");
			r.op_case = OPC(COPYFILE);
			r.copyfile = &tp;
			break;
		case 12:
			r.op_case = OPC(FSYNC);
			r.fsync = &h;
			break;
		case 13:
			r.op_case = OPC(LISTDIR);
			r.listdir = &(Aiofs__V1__Listdir)
			    AIOFS__V1__LISTDIR__INIT;
			r.listdir->has_path = 1;
			r.listdir->path = BIN(i < 20 ? "d" : "magic");
			break;
		case 14:
			r.op_case = OPC(READLINES);
			r.readlines = &(Aiofs__V1__ReadLines)
			    AIOFS__V1__READ_LINES__INIT;
			break;
		case 15:
			r.op_case = OPC(ROLLOVER);
			r.rollover = &h;
			break;
		case 16:
			tp.has_src = tp.has_dst = 1;
			tp.src = BIN("/etc/passwd");
			tp.dst = BIN("d/link");
			r.op_case = OPC(SYMLINK);
			r.symlink = &tp;
			break;
		case 17:
			p.has_path = 1;
			p.path = BIN("lnk");
			r.op_case = OPC(READLINK);
			r.readlink = &p;
			break;
		case 18:
			r.op_case = OPC(SAMEFILE);
			r.samefile = &(Aiofs__V1__Samefile)
			    AIOFS__V1__SAMEFILE__INIT;
			r.samefile->has_a = r.samefile->has_b = 1;
			r.samefile->a = BIN("f");
			r.samefile->b = BIN("lnk");
			break;
		default:
			r.op_case = OPC(TRUNCATE);
			r.truncate = &(Aiofs__V1__Truncate)
			    AIOFS__V1__TRUNCATE__INIT;
			break;
		}
		n = aiofs__v1__request__get_packed_size(&r);
		if (n > sizeof buf)
			continue;
		aiofs__v1__request__pack(&r, buf);
		snprintf(name, sizeof name, "%s/seed-%02d", dir, i);
		fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd == -1 || write(fd, buf, n) != (ssize_t)n)
			fuzz_die("cannot write a seed");
		close(fd);
	}
#undef BIN
}

/* One-time set-up: the directory, canary, root, sessions, limits. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rlimit	 rl;
	const char	*seeds = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	fuzz_name("dispatch_fuzzer");
	if (seeds != NULL) {
		fz_seeds(seeds);
		exit(0);
	}
	log_open("dispatch_fuzzer", 1, 0);
	opts.max_frame = AIOFS_MAX_MSG;
	opts.max_chunk = AIOFS_MAX_CHUNK;
	opts.mem_budget = AIOFS_MEM_BUDGET;
	opts.max_busy = 1;
	opts.max_inflight_all = AIOFS_MAX_INFLIGHT_ALL;

	fuzz_root_make(&fz_fr, "aiofs-fuzz");
	fz_tree();
	if (chdir(fz_fr.root) == -1)
		fuzz_die("chdir root");
	fz_policy(&fz_pol_beneath, 1);
	fz_policy(&fz_pol_inroot, 0);
	fz_beneath = session_new(&fz_pol_beneath, "/");
	fz_inroot = session_new(&fz_pol_inroot, "/");

	/* What a fuzzed write or truncate may make on disk. */
	signal(SIGXFSZ, SIG_IGN);
	rl.rlim_cur = rl.rlim_max = 8 * 1024 * 1024;
	setrlimit(RLIMIT_FSIZE, &rl);
	fprintf(stderr, "dispatch_fuzzer: root %s\n", fz_fr.root);
	return (0);
}

/* A handle's file for ops that need one; kind from the id. */
static struct hfile *
fz_hfile(struct req *req, uint64_t id)
{
	static const char *const modes[] = { "rb+", "r+", "ab+", "rb" };
	struct fmode	 fm;
	struct hfile	*f;
	int		 fd, k = (int)(id % 5);

	if (k == 4) {
		/* A SpooledTemporaryFile in /tmp of the root. */
		mode_parse("w+b", &fm);
		f = hfile_new(-1, &fm, "<spooled>");
		f->spooled = 1;
		f->spool_max = (id >> 8) % 4096 + 1;
		f->spool_dirfd = open("tmp", O_PATH | O_DIRECTORY |
		    O_CLOEXEC);
		return (f);
	}
	if (mode_parse(modes[k], &fm) == -1)
		fuzz_die("mode_parse");
	fd = open("hfile", (fm.oflags & ~(O_CREAT | O_EXCL | O_TRUNC)) |
	    O_CLOEXEC);
	if (fd == -1)
		fd = open("hfile", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		return (NULL);
	f = hfile_new(fd, &fm, "hfile");
	if (hfile_setup(req, f, !fm.text && (id >> 3) % 3 == 0 ? 0 : -1,
	    NULL, NULL, 0, NULL) == -1) {
		hfile_free(f);
		return (NULL);
	}
	return (f);
}

/* A dup of a root file for the ops that read a second fd. */
static int
fz_extra_fd(void)
{
	return (open("hfile2", O_RDONLY | O_CLOEXEC));
}

/* Pack the result as dispatch_reply() would (catches bad pointers). */
static void
fz_pack(struct req *req)
{
	uint8_t	*buf;
	size_t	 n;

	if (req->error != 0 || req->resp.result_case ==
	    AIOFS__V1__RESPONSE__RESULT__NOT_SET)
		return;
	req->resp.has_id = 1;
	req->resp.id = req->id;
	n = aiofs__v1__response__get_packed_size(&req->resp);
	if ((buf = malloc(n + 1)) == NULL)
		fuzz_die("malloc");
	if (aiofs__v1__response__pack(&req->resp, buf) != n)
		fuzz_die("pack size mismatch");
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct op	*op;
	struct req	*req;
	struct hfile	*f = NULL;
	Request		*msg;
	int		 i, e;

	if (++fz_runs % FZ_RESET_EVERY == 0)
		fz_tree();
	if ((msg = aiofs__v1__request__unpack(NULL, size, data)) == NULL)
		return (0);
	op = dispatch_lookup(msg->op_case);
	if (op == NULL || (op->flags & OP_INLINE)) {
		aiofs__v1__request__free_unpacked(msg, NULL);
		return (0);
	}
	req = req_new(NULL, msg);
	req->sess = session_ref(msg->id & 1 ? fz_inroot : fz_beneath);
	req->op = op;
	if (op->check != NULL && (e = op->check(req)) != 0)
		goto done;
	if (op->flags & OP_HANDLE) {
		if ((f = fz_hfile(req, msg->id)) == NULL)
			goto done;
		req->f = f;
	}
	switch (msg->op_case) {
	case OPC(WRAP):
		req->fd = fz_extra_fd();
		break;
	case OPC(SENDFILE):
		req->fd = fz_extra_fd();
		break;
	case OPC(STAT):
		if (msg->stat->has_handle)
			req->fd = fz_extra_fd();
		break;
	case OPC(SAMEFILE):
		if (msg->samefile->has_handle_a ||
		    msg->samefile->has_handle_b) {
			req->fd = fz_extra_fd();
			req->fd2 = fz_extra_fd();
		}
		break;
	default:
		break;
	}
	for (i = 0; i < FZ_MAX_CHUNKS; i++) {
		op->work(req);
		fz_pack(req);
		if (!req->more || req->error != 0)
			break;
		req_chunk_reset(req);
	}
	/* A new handle's file (open, tempfile, wrap): close it. */
	if (req->f != NULL && req->f != f) {
		hfile_close(req->f);
		hfile_free(req->f);
	}
	req->f = NULL;
done:
	if (f != NULL) {
		hfile_close(f);
		hfile_free(f);
	}
	req_free(req);
	fuzz_canary_check(&fz_fr);
	if (fz_nfds() > FZ_MAX_FDS)
		fuzz_die("fd leak: too many open fds");
	return (0);
}
