/*
 * fast.c - the loop's non-blocking first attempt at cheap operations.
 *
 * DESIGN
 *
 * Handing a request to a worker costs two thread wake-ups (loop -> worker,
 * worker -> loop); on this kind of VM a cross-core wake-up alone is tens
 * of microseconds of latency and several of CPU, against about one
 * microsecond for a stat or a 4 KiB read from the page cache.  So, as
 * io_uring does before punting to its io-wq threads, the loop first runs
 * a few operations itself in a mode where nothing may block:
 *
 *  - path lookups add RESOLVE_CACHED (the dcache only, no I/O) and
 *    RESOLVE_NO_XDEV (no crossing into another mount, so the lookup stays
 *    on the root's file system, which must be a local one);
 *  - reads use preadv2(RWF_NOWAIT) (page cache only, no I/O);
 *  - file handles qualify only if they are on a local file system.
 *
 * Where the attempt would block, or fails in a way that only a worker can
 * tell for sure (anything but ENOENT/ENOTDIR from a cached lookup), the
 * helper that saw it calls fast_punt() and fails with EAGAIN; the op
 * undoes what it did (nothing, its read position, or the read-ahead it
 * consumed) and the request goes to a worker as usual, which redoes it
 * the blocking way.  An op that completes here is exactly the op a worker
 * would have run: same work function, same reply.
 *
 * Which ops may try (OP_FAST in dispatch.c) and on what (fast_ok): path
 * stat, binary read-only open, read-file, reads on and close of read-only
 * binary handles, and pread beside the FIFO, each only for small amounts
 * (FAST_MAX_IO), so the loop never copies much for anyone.  Impersonating
 * sessions never try (the loop runs with the daemon's own credentials),
 * nor does anything under --no-fast-path.
 */
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "aiofsd.h"

/* File system magics (linux/magic.h) whose metadata ops never wait on I/O
 * for cached inodes.  Network and FUSE file systems are not here. */
#define FS_EXT		0xef53
#define FS_XFS		0x58465342
#define FS_BTRFS	0x9123683e
#define FS_TMPFS	0x01021994
#define FS_RAMFS	0x858458f6
#define FS_F2FS		0xf2f52010
#define FS_OVERLAY	0x794c7630
#define FS_SQUASHFS	0x73717368
#define FS_EROFS	0xe0f5e1e2
#define FS_BCACHEFS	0xca451a4e
#define FS_ZFS		0x2fc12fc1

__thread int	 fast_nowait;	/* the loop is trying an op */
static __thread int fast_punted;

/* Is the file system of fd a local one (see the list above)? */
int
fast_fs_local(int fd)
{
	struct statfs	 sf;

	if (fstatfs(fd, &sf) == -1)
		return (0);
	switch ((unsigned long)sf.f_type) {
	case FS_EXT:
	case FS_XFS:
	case FS_BTRFS:
	case FS_TMPFS:
	case FS_RAMFS:
	case FS_F2FS:
	case FS_OVERLAY:
	case FS_SQUASHFS:
	case FS_EROFS:
	case FS_BCACHEFS:
	case FS_ZFS:
		return (1);
	default:
		return (0);
	}
}

/* The attempt would block: give up on it.  Sets errno to EAGAIN. */
void
fast_punt(void)
{
	fast_punted = 1;
	errno = EAGAIN;
}

/*
 * pread, or on the loop a page-cache-only one.  Returns what pread
 * returns; on the loop, any failure is -1 with EAGAIN after fast_punt()
 * (it would block, or the worker will say what is wrong).  off -1 reads
 * at the file position.
 */
ssize_t
fast_pread(int fd, void *buf, size_t n, off_t off)
{
	struct iovec	 iov;
	ssize_t		 r;

	if (!fast_nowait) {
		if (off == -1)
			return (read(fd, buf, n));
		return (pread(fd, buf, n, off));
	}
	iov.iov_base = buf;
	iov.iov_len = n;
	r = preadv2(fd, &iov, 1, off, RWF_NOWAIT);
	if (r == -1)		/* a worker redoes it, and reports errors */
		fast_punt();
	return (r);
}

/* May req try on the loop at all? */
static int
fast_allowed(struct req *req)
{
	const struct session	*s = req->sess;

	if (!opts.fast_path || !(req->op->flags & OP_FAST) ||
	    s->impersonate || !s->pol->root_local)
		return (0);
	return (dispatch_fast_ok(req));
}

/*
 * Run req on the loop without blocking.  Returns 1 if it completed (the
 * caller replies), 0 if it must go to a worker.
 */
int
fast_try(struct req *req)
{
	if (!fast_allowed(req))
		return (0);
	fast_nowait = 1;
	fast_punted = 0;
	req->op->work(req);
	fast_nowait = 0;
	if (!fast_punted) {
		LOOP_STAT(loop_done, 1);
		return (1);
	}
	/* Anything it set is redone by the worker; its cursor is kept. */
	req_chunk_reset(req);
	LOOP_STAT(loop_punted, 1);
	return (0);
}

/* Is f a file whose reads and close may try on the loop? */
int
fast_file_ok(const struct hfile *f)
{
	return (f != NULL && f->local && f->fd != -1 && !f->spooled &&
	    f->text == NULL && f->buffering != 0 && f->wlen == 0 &&
	    f->del_name == NULL && !f->mode.writable);
}
