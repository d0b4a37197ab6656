/*
 * aiofs-ops.c - one function per operation: fill the Request, submit.
 * Every function follows the contract in aiofs.h: 0 or a negative errno,
 * and with a NULL callback the call waits and returns the result.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofs-int.h"

#define OPC(x)	AIOFS__V1__REQUEST__OP_##x

/* Submit msg with its oneof member set to sub. */
#define SUBMIT(h, req, op, field, CASE, sub, cb) do {			\
	Aiofs__V1__Request msg__ = AIOFS__V1__REQUEST__INIT;		\
									\
	msg__.op_case = OPC(CASE);					\
	msg__.field = (sub);						\
	return (aiofs__submit((h), (req), (op), &msg__, (cb)));		\
} while (0)

/*
 * Submit a read whose data goes into the caller's buf: the destination
 * must be known before the reply can arrive.
 */
static int
aiofs__submit_into(aiofs_t *h, aiofs_req_t *req, aiofs_op_t op,
    Aiofs__V1__Request *msg, void *buf, size_t len, aiofs_cb cb)
{
	int	 rc;

	h->next_user_buf = buf;
	h->next_user_cap = len;
	rc = aiofs__submit(h, req, op, msg, cb);
	h->next_user_buf = NULL;
	h->next_user_cap = 0;
	return (rc);
}

/* An op whose message is just a handle. */
static int
aiofs__handle_op(aiofs_t *h, aiofs_req_t *req, aiofs_op_t op, int opcase,
    aiofs_file_t file, aiofs_cb cb)
{
	Aiofs__V1__Request	 msg = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__Handle	 m = AIOFS__V1__HANDLE__INIT;

	m.has_handle = 1;
	m.handle = file;
	msg.op_case = opcase;
	switch (opcase) {
	case OPC(FLUSH):
		msg.flush = &m;
		break;
	case OPC(TELL):
		msg.tell = &m;
		break;
	case OPC(CLOSE):
		msg.close = &m;
		break;
	case OPC(FSYNC):
		msg.fsync = &m;
		break;
	case OPC(FDATASYNC):
		msg.fdatasync = &m;
		break;
	case OPC(FILEINFO):
		msg.fileinfo = &m;
		break;
	case OPC(ROLLOVER):
		msg.rollover = &m;
		break;
	default:
		return (-EINVAL);
	}
	return (aiofs__submit(h, req, op, &msg, cb));
}

/* An op whose message is just a path. */
static int
aiofs__path_op(aiofs_t *h, aiofs_req_t *req, aiofs_op_t op, int opcase,
    const char *path, aiofs_cb cb)
{
	Aiofs__V1__Request	 msg = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__Path		 m = AIOFS__V1__PATH__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = 1;
	m.path = aiofs__bin(path);
	msg.op_case = opcase;
	switch (opcase) {
	case OPC(UNLINK):
		msg.unlink = &m;
		break;
	case OPC(RMDIR):
		msg.rmdir = &m;
		break;
	case OPC(REMOVEDIRS):
		msg.removedirs = &m;
		break;
	case OPC(READLINK):
		msg.readlink = &m;
		break;
	case OPC(CHDIR):
		msg.chdir = &m;
		break;
	case OPC(RMTREE):
		msg.rmtree = &m;
		break;
	case OPC(ABSPATH):
		msg.abspath = &m;
		break;
	default:
		return (-EINVAL);
	}
	return (aiofs__submit(h, req, op, &msg, cb));
}

/* An op on two paths. */
static int
aiofs__two_op(aiofs_t *h, aiofs_req_t *req, aiofs_op_t op, int opcase,
    const char *src, const char *dst, aiofs_cb cb)
{
	Aiofs__V1__Request	 msg = AIOFS__V1__REQUEST__INIT;
	Aiofs__V1__TwoPaths	 m = AIOFS__V1__TWO_PATHS__INIT;

	if (src == NULL || dst == NULL)
		return (-EINVAL);
	m.has_src = m.has_dst = 1;
	m.src = aiofs__bin(src);
	m.dst = aiofs__bin(dst);
	msg.op_case = opcase;
	switch (opcase) {
	case OPC(RENAME):
		msg.rename = &m;
		break;
	case OPC(RENAMES):
		msg.renames = &m;
		break;
	case OPC(REPLACE):
		msg.replace = &m;
		break;
	case OPC(LINK):
		msg.link = &m;
		break;
	case OPC(SYMLINK):
		msg.symlink = &m;
		break;
	case OPC(COPYFILE):
		msg.copyfile = &m;
		break;
	default:
		return (-EINVAL);
	}
	return (aiofs__submit(h, req, op, &msg, cb));
}

/* ping: the protocol floor. */
int
aiofs_ping(aiofs_t *h, aiofs_req_t *req, aiofs_cb cb)
{
	Aiofs__V1__Empty	 m = AIOFS__V1__EMPTY__INIT;

	SUBMIT(h, req, AIOFS_OP_PING, ping, PING, &m, cb);
}

/* Daemon counters into req->stats. */
int
aiofs_stats(aiofs_t *h, aiofs_req_t *req, aiofs_cb cb)
{
	Aiofs__V1__Empty	 m = AIOFS__V1__EMPTY__INIT;

	SUBMIT(h, req, AIOFS_OP_STATS, stats, STATS, &m, cb);
}

/* Free an internal cancel request. */
static void
aiofs__cancel_cb(aiofs_req_t *req)
{
	aiofs_req_cleanup(req);
	free(req);
}

/*
 * Ask the daemon to drop target.  The target still completes through its
 * callback, with -ECANCELED if it was dropped in time.
 */
int
aiofs_cancel(aiofs_t *h, aiofs_req_t *target)
{
	Aiofs__V1__Cancel	 m = AIOFS__V1__CANCEL__INIT;
	Aiofs__V1__Request	 msg = AIOFS__V1__REQUEST__INIT;
	aiofs_req_t		*req;
	int			 rc;

	if (target->priv_state != 1 /* pending */)
		return (-EINVAL);
	if ((req = calloc(1, sizeof *req)) == NULL)
		return (-ENOMEM);
	m.has_target = 1;
	m.target = target->priv_id;
	msg.op_case = OPC(CANCEL);
	msg.cancel = &m;
	if ((rc = aiofs__submit(h, req, AIOFS_OP_CANCEL, &msg,
	    aiofs__cancel_cb)) != 0)
		free(req);
	return (rc);
}

/* Fill the text options of open-like messages. */
static void
aiofs__open_opts(const aiofs_open_opts_t *o, int32_t *buffering,
    protobuf_c_boolean *has_buffering, char **encoding, char **errors,
    char **newline)
{
	if (o == NULL)
		return;
	*has_buffering = 1;
	*buffering = o->buffering;
	*encoding = (char *)o->encoding;
	*errors = (char *)o->errors;
	if (o->newline_set || o->newline != NULL)
		*newline = (char *)(o->newline != NULL ? o->newline : "");
}

/* open(path, mode, ...) -> req->file. */
int
aiofs_open(aiofs_t *h, aiofs_req_t *req, const char *path, const char *mode,
    const aiofs_open_opts_t *o, aiofs_cb cb)
{
	Aiofs__V1__Open	 m = AIOFS__V1__OPEN__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = 1;
	m.path = aiofs__bin(path);
	m.mode = (char *)(mode != NULL ? mode : "r");
	aiofs__open_opts(o, &m.buffering, &m.has_buffering, &m.encoding,
	    &m.errors, &m.newline);
	if (o != NULL && o->perm != 0) {
		m.has_perm = 1;
		m.perm = o->perm;
	}
	SUBMIT(h, req, AIOFS_OP_OPEN, open, OPEN, &m, cb);
}

/* The generic read: kind is read, read1, readall, peek or readline. */
int
aiofs_read2(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, int64_t size,
    aiofs_read_kind_t kind, aiofs_cb cb)
{
	Aiofs__V1__Read	 m = AIOFS__V1__READ__INIT;

	m.has_handle = m.has_size = m.has_kind = 1;
	m.handle = file;
	m.size = size;
	m.kind = (Aiofs__V1__ReadKind)kind;
	SUBMIT(h, req, AIOFS_OP_READ, read, READ, &m, cb);
}

/* read(size): size < 0 reads to EOF. */
int
aiofs_read(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, int64_t size,
    aiofs_cb cb)
{
	return (aiofs_read2(h, req, file, size, AIOFS_READ, cb));
}

/* read1(size): at most one read on the file. */
int
aiofs_read1(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, int64_t size,
    aiofs_cb cb)
{
	return (aiofs_read2(h, req, file, size, AIOFS_READ1, cb));
}

/* readall(). */
int
aiofs_readall(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, aiofs_cb cb)
{
	return (aiofs_read2(h, req, file, -1, AIOFS_READALL, cb));
}

/* peek(size): buffered bytes, not consumed. */
int
aiofs_peek(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, int64_t size,
    aiofs_cb cb)
{
	return (aiofs_read2(h, req, file, size, AIOFS_PEEK, cb));
}

/* readline(size). */
int
aiofs_readline(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file,
    int64_t size, aiofs_cb cb)
{
	return (aiofs_read2(h, req, file, size, AIOFS_READLINE, cb));
}

/* readinto(buf): the data lands in buf; result is the byte count. */
int
aiofs_readinto(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, void *buf,
    size_t len, aiofs_cb cb)
{
	Aiofs__V1__Read		 m = AIOFS__V1__READ__INIT;
	Aiofs__V1__Request	 msg = AIOFS__V1__REQUEST__INIT;

	m.has_handle = m.has_size = 1;
	m.handle = file;
	m.size = (int64_t)len;
	msg.op_case = OPC(READ);
	msg.read = &m;
	return (aiofs__submit_into(h, req, AIOFS_OP_READ, &msg, buf, len, cb));
}

/* readlines(hint) -> req->lines. */
int
aiofs_readlines(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file,
    int64_t hint, aiofs_cb cb)
{
	Aiofs__V1__ReadLines	 m = AIOFS__V1__READ_LINES__INIT;

	m.has_handle = m.has_hint = 1;
	m.handle = file;
	m.hint = hint;
	SUBMIT(h, req, AIOFS_OP_READLINES, readlines, READLINES, &m, cb);
}

/*
 * write(data): bytes, or UTF-8 text on a text handle.  Data larger than
 * the daemon's chunk goes as several ordered requests (on a text handle
 * cut at character boundaries); result is the total count.
 */
int
aiofs_write(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file,
    const void *data, size_t len, aiofs_cb cb)
{
	Aiofs__V1__Request	*msgs[64], **mp = msgs;
	Aiofs__V1__Request	*mbuf;
	Aiofs__V1__Write	*wbuf;
	size_t			 chunk = h->max_chunk, n = 0, off = 0, cut;
	const uint8_t		*p = data;
	int			 rc;

	if (chunk == 0)
		chunk = 1024 * 1024;
	n = len / chunk + 1;
	mbuf = calloc(n, sizeof *mbuf);
	wbuf = calloc(n, sizeof *wbuf);
	if (n > 64)
		mp = calloc(n, sizeof *mp);
	if (mbuf == NULL || wbuf == NULL || mp == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	n = 0;
	do {
		cut = len - off > chunk ? chunk : len - off;
		/* Never split a UTF-8 sequence between two requests. */
		while (off + cut < len && cut > 0 &&
		    (p[off + cut] & 0xc0) == 0x80)
			cut--;
		if (cut == 0)		/* not UTF-8 at all: any cut will do */
			cut = len - off > chunk ? chunk : len - off;
		aiofs__v1__request__init(&mbuf[n]);
		aiofs__v1__write__init(&wbuf[n]);
		wbuf[n].has_handle = wbuf[n].has_data = 1;
		wbuf[n].handle = file;
		wbuf[n].data.data = (uint8_t *)p + off;
		wbuf[n].data.len = cut;
		mbuf[n].op_case = OPC(WRITE);
		mbuf[n].write = &wbuf[n];
		mp[n] = &mbuf[n];
		n++;
		off += cut;
	} while (off < len);
	rc = aiofs__submit_parts(h, req, AIOFS_OP_WRITE, mp, n, cb);
out:
	free(mbuf);
	free(wbuf);
	if (mp != msgs)
		free(mp);
	return (rc);
}

/* writelines(lines): no separators added. */
int
aiofs_writelines(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file,
    const char *const *lines, size_t n, aiofs_cb cb)
{
	Aiofs__V1__WriteLines	 m = AIOFS__V1__WRITE_LINES__INIT;
	ProtobufCBinaryData	*b;
	size_t			 i;
	int			 rc;

	if ((b = calloc(n + 1, sizeof *b)) == NULL)
		return (-ENOMEM);
	for (i = 0; i < n; i++)
		b[i] = aiofs__bin(lines[i]);
	m.has_handle = 1;
	m.handle = file;
	m.lines = b;
	m.n_lines = n;
	{
		Aiofs__V1__Request msg = AIOFS__V1__REQUEST__INIT;

		msg.op_case = OPC(WRITELINES);
		msg.writelines = &m;
		rc = aiofs__submit(h, req, AIOFS_OP_WRITELINES, &msg, cb);
	}
	free(b);
	return (rc);
}

/* flush(). */
int
aiofs_flush(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, aiofs_cb cb)
{
	return (aiofs__handle_op(h, req, AIOFS_OP_FLUSH, OPC(FLUSH), file, cb));
}

/* seek(offset, whence) -> new position. */
int
aiofs_seek(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, int64_t offset,
    int whence, aiofs_cb cb)
{
	Aiofs__V1__Seek	 m = AIOFS__V1__SEEK__INIT;

	m.has_handle = m.has_offset = m.has_whence = 1;
	m.handle = file;
	m.offset = offset;
	m.whence = whence;
	SUBMIT(h, req, AIOFS_OP_SEEK, seek, SEEK, &m, cb);
}

/* tell(). */
int
aiofs_tell(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, aiofs_cb cb)
{
	return (aiofs__handle_op(h, req, AIOFS_OP_TELL, OPC(TELL), file, cb));
}

/* truncate(size); size < 0 means at the current position. */
int
aiofs_truncate(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file,
    int64_t size, aiofs_cb cb)
{
	Aiofs__V1__Truncate	 m = AIOFS__V1__TRUNCATE__INIT;

	m.has_handle = 1;
	m.handle = file;
	if (size >= 0) {
		m.has_size = 1;
		m.size = size;
	}
	SUBMIT(h, req, AIOFS_OP_TRUNCATE, truncate, TRUNCATE, &m, cb);
}

/* close(): flush and release the handle. */
int
aiofs_fclose(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, aiofs_cb cb)
{
	return (aiofs__handle_op(h, req, AIOFS_OP_CLOSE, OPC(CLOSE), file, cb));
}

/* pread(size, offset): does not move the position. */
int
aiofs_pread(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, size_t size,
    int64_t offset, aiofs_cb cb)
{
	Aiofs__V1__Pread	 m = AIOFS__V1__PREAD__INIT;

	m.has_handle = m.has_size = m.has_offset = 1;
	m.handle = file;
	m.size = (int64_t)size;
	m.offset = offset;
	SUBMIT(h, req, AIOFS_OP_PREAD, pread, PREAD, &m, cb);
}

/*
 * pread into the caller's buf: like aiofs_pread, but the reply is received
 * straight into buf (which must stay valid until the callback), so a reader
 * that reuses one buffer never faults in fresh memory.
 */
int
aiofs_preadinto(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, void *buf,
    size_t len, int64_t offset, aiofs_cb cb)
{
	Aiofs__V1__Pread	 m = AIOFS__V1__PREAD__INIT;
	Aiofs__V1__Request	 msg = AIOFS__V1__REQUEST__INIT;

	m.has_handle = m.has_size = m.has_offset = 1;
	m.handle = file;
	m.size = (int64_t)len;
	m.offset = offset;
	msg.op_case = OPC(PREAD);
	msg.pread = &m;
	return (aiofs__submit_into(h, req, AIOFS_OP_PREAD, &msg, buf, len,
	    cb));
}

/*
 * pwrite(data, offset): does not move the position.  Data larger than the
 * daemon's chunk goes as several requests at consecutive offsets.
 */
int
aiofs_pwrite(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file,
    const void *data, size_t len, int64_t offset, aiofs_cb cb)
{
	Aiofs__V1__Request	*mp[256], *mbuf;
	Aiofs__V1__Pwrite	*pbuf;
	size_t			 chunk = h->max_chunk, n, i, off;
	int			 rc;

	if (chunk == 0)
		chunk = 1024 * 1024;
	n = len / chunk + (len % chunk != 0 || len == 0);
	if (n > 256)
		return (-EMSGSIZE);
	mbuf = calloc(n, sizeof *mbuf);
	pbuf = calloc(n, sizeof *pbuf);
	if (mbuf == NULL || pbuf == NULL) {
		free(mbuf);
		free(pbuf);
		return (-ENOMEM);
	}
	for (i = 0, off = 0; i < n; i++, off += chunk) {
		aiofs__v1__request__init(&mbuf[i]);
		aiofs__v1__pwrite__init(&pbuf[i]);
		pbuf[i].has_handle = pbuf[i].has_data = 1;
		pbuf[i].has_offset = 1;
		pbuf[i].handle = file;
		pbuf[i].data.data = (uint8_t *)data + off;
		pbuf[i].data.len = len - off > chunk ? chunk : len - off;
		pbuf[i].offset = offset + (int64_t)off;
		mbuf[i].op_case = OPC(PWRITE);
		mbuf[i].pwrite = &pbuf[i];
		mp[i] = &mbuf[i];
	}
	rc = aiofs__submit_parts(h, req, AIOFS_OP_PWRITE, mp, n, cb);
	free(mbuf);
	free(pbuf);
	return (rc);
}

/* fsync(). */
int
aiofs_fsync(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, aiofs_cb cb)
{
	return (aiofs__handle_op(h, req, AIOFS_OP_FSYNC, OPC(FSYNC), file, cb));
}

/* fdatasync(). */
int
aiofs_fdatasync(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file,
    aiofs_cb cb)
{
	return (aiofs__handle_op(h, req, AIOFS_OP_FDATASYNC, OPC(FDATASYNC),
	    file, cb));
}

/* The file object's attributes -> req->info. */
int
aiofs_fileinfo(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file,
    aiofs_cb cb)
{
	return (aiofs__handle_op(h, req, AIOFS_OP_FILEINFO, OPC(FILEINFO),
	    file, cb));
}

/* Hand fd (dup'd; the caller keeps its own) to the daemon as a handle. */
int
aiofs_wrap(aiofs_t *h, aiofs_req_t *req, int fd, const char *mode,
    const aiofs_open_opts_t *o, aiofs_cb cb)
{
	Aiofs__V1__Wrap		 m = AIOFS__V1__WRAP__INIT;
	Aiofs__V1__Request	 msg = AIOFS__V1__REQUEST__INIT;
	char			 name[32];

	m.mode = (char *)mode;
	snprintf(name, sizeof name, "<fd %d>", fd);
	m.has_name = 1;
	m.name = aiofs__bin(name);
	aiofs__open_opts(o, &m.buffering, &m.has_buffering, &m.encoding,
	    &m.errors, &m.newline);
	msg.op_case = OPC(WRAP);
	msg.wrap = &m;
	return (aiofs__submit_fd(h, req, AIOFS_OP_WRAP, &msg, fd, cb));
}

/* Open under the daemon's policy and receive the fd in req->fd. */
int
aiofs_openfd(aiofs_t *h, aiofs_req_t *req, const char *path,
    const char *mode, unsigned perm, aiofs_cb cb)
{
	Aiofs__V1__OpenFd	 m = AIOFS__V1__OPEN_FD__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = 1;
	m.path = aiofs__bin(path);
	m.mode = (char *)(mode != NULL ? mode : "rb");
	if (perm != 0) {
		m.has_perm = 1;
		m.perm = perm;
	}
	SUBMIT(h, req, AIOFS_OP_OPENFD, openfd, OPENFD, &m, cb);
}

/* Whole-file read in one request (size < 0: to EOF). */
int
aiofs_readfile(aiofs_t *h, aiofs_req_t *req, const char *path,
    int64_t offset, int64_t size, aiofs_cb cb)
{
	Aiofs__V1__ReadFile	 m = AIOFS__V1__READ_FILE__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_offset = m.has_size = 1;
	m.path = aiofs__bin(path);
	m.offset = offset;
	m.size = size;
	SUBMIT(h, req, AIOFS_OP_READFILE, readfile, READFILE, &m, cb);
}

/* Whole-file write in one request; flags AIOFS_WRITEFILE_*. */
int
aiofs_writefile(aiofs_t *h, aiofs_req_t *req, const char *path,
    const void *data, size_t len, int flags, aiofs_cb cb)
{
	Aiofs__V1__WriteFile	 m = AIOFS__V1__WRITE_FILE__INIT;

	if (path == NULL)
		return (-EINVAL);
	if (len + 4096 > h->max_frame)
		return (-EMSGSIZE);
	m.has_path = m.has_data = m.has_append = m.has_atomic = 1;
	m.path = aiofs__bin(path);
	m.data.data = (uint8_t *)data;
	m.data.len = len;
	m.append = (flags & AIOFS_WRITEFILE_APPEND) != 0;
	m.atomic = (flags & AIOFS_WRITEFILE_ATOMIC) != 0;
	SUBMIT(h, req, AIOFS_OP_WRITEFILE, writefile, WRITEFILE, &m, cb);
}

/* os.stat(path, follow_symlinks) -> req->st. */
int
aiofs_stat(aiofs_t *h, aiofs_req_t *req, const char *path, int follow,
    aiofs_cb cb)
{
	Aiofs__V1__Stat	 m = AIOFS__V1__STAT__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_no_follow = 1;
	m.path = aiofs__bin(path);
	m.no_follow = !follow;
	SUBMIT(h, req, AIOFS_OP_STAT, stat, STAT, &m, cb);
}

/* os.lstat(path). */
int
aiofs_lstat(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs_stat(h, req, path, 0, cb));
}

/* os.fstat(handle). */
int
aiofs_fstat(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, aiofs_cb cb)
{
	Aiofs__V1__Stat	 m = AIOFS__V1__STAT__INIT;

	m.has_handle = 1;
	m.handle = file;
	SUBMIT(h, req, AIOFS_OP_STAT, stat, STAT, &m, cb);
}

/* os.statvfs(path) -> req->vfs. */
int
aiofs_statvfs(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	Aiofs__V1__Statvfs	 m = AIOFS__V1__STATVFS__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = 1;
	m.path = aiofs__bin(path);
	SUBMIT(h, req, AIOFS_OP_STATVFS, statvfs, STATVFS, &m, cb);
}

/* os.sendfile(out, in, offset, count); offset < 0: in's position. */
int
aiofs_sendfile(aiofs_t *h, aiofs_req_t *req, aiofs_file_t out,
    aiofs_file_t in, int64_t offset, size_t count, aiofs_cb cb)
{
	Aiofs__V1__Sendfile	 m = AIOFS__V1__SENDFILE__INIT;

	m.has_out_handle = m.has_in_handle = m.has_count = 1;
	m.out_handle = out;
	m.in_handle = in;
	m.count = (int64_t)count;
	if (offset >= 0) {
		m.has_offset = 1;
		m.offset = offset;
	}
	SUBMIT(h, req, AIOFS_OP_SENDFILE, sendfile, SENDFILE, &m, cb);
}

/* os.rename. */
int
aiofs_rename(aiofs_t *h, aiofs_req_t *req, const char *src, const char *dst,
    aiofs_cb cb)
{
	return (aiofs__two_op(h, req, AIOFS_OP_RENAME, OPC(RENAME), src, dst,
	    cb));
}

/* os.renames. */
int
aiofs_renames(aiofs_t *h, aiofs_req_t *req, const char *src,
    const char *dst, aiofs_cb cb)
{
	return (aiofs__two_op(h, req, AIOFS_OP_RENAMES, OPC(RENAMES), src, dst,
	    cb));
}

/* os.replace. */
int
aiofs_replace(aiofs_t *h, aiofs_req_t *req, const char *src,
    const char *dst, aiofs_cb cb)
{
	return (aiofs__two_op(h, req, AIOFS_OP_REPLACE, OPC(REPLACE), src, dst,
	    cb));
}

/* os.unlink. */
int
aiofs_unlink(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs__path_op(h, req, AIOFS_OP_UNLINK, OPC(UNLINK), path, cb));
}

/* os.remove (the same as unlink). */
int
aiofs_remove(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs_unlink(h, req, path, cb));
}

/* os.mkdir(path, mode); mode 0 means 0777. */
int
aiofs_mkdir(aiofs_t *h, aiofs_req_t *req, const char *path, unsigned mode,
    aiofs_cb cb)
{
	Aiofs__V1__Mkdir	 m = AIOFS__V1__MKDIR__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_mode = 1;
	m.path = aiofs__bin(path);
	m.mode = mode;
	SUBMIT(h, req, AIOFS_OP_MKDIR, mkdir, MKDIR, &m, cb);
}

/* os.makedirs(path, mode, exist_ok). */
int
aiofs_makedirs(aiofs_t *h, aiofs_req_t *req, const char *path,
    unsigned mode, int exist_ok, aiofs_cb cb)
{
	Aiofs__V1__Makedirs	 m = AIOFS__V1__MAKEDIRS__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_mode = m.has_exist_ok = 1;
	m.path = aiofs__bin(path);
	m.mode = mode;
	m.exist_ok = exist_ok != 0;
	SUBMIT(h, req, AIOFS_OP_MAKEDIRS, makedirs, MAKEDIRS, &m, cb);
}

/* os.rmdir. */
int
aiofs_rmdir(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs__path_op(h, req, AIOFS_OP_RMDIR, OPC(RMDIR), path, cb));
}

/* os.removedirs. */
int
aiofs_removedirs(aiofs_t *h, aiofs_req_t *req, const char *path,
    aiofs_cb cb)
{
	return (aiofs__path_op(h, req, AIOFS_OP_REMOVEDIRS, OPC(REMOVEDIRS),
	    path, cb));
}

/* os.link(src, dst). */
int
aiofs_link(aiofs_t *h, aiofs_req_t *req, const char *src, const char *dst,
    aiofs_cb cb)
{
	return (aiofs__two_op(h, req, AIOFS_OP_LINK, OPC(LINK), src, dst, cb));
}

/* os.symlink(target, path). */
int
aiofs_symlink(aiofs_t *h, aiofs_req_t *req, const char *target,
    const char *path, aiofs_cb cb)
{
	return (aiofs__two_op(h, req, AIOFS_OP_SYMLINK, OPC(SYMLINK), target,
	    path, cb));
}

/* os.readlink -> req->buf. */
int
aiofs_readlink(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs__path_op(h, req, AIOFS_OP_READLINK, OPC(READLINK), path,
	    cb));
}

/* os.listdir -> req->lines. */
int
aiofs_listdir(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	Aiofs__V1__Listdir	 m = AIOFS__V1__LISTDIR__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = 1;
	m.path = aiofs__bin(path);
	SUBMIT(h, req, AIOFS_OP_LISTDIR, listdir, LISTDIR, &m, cb);
}

/* os.scandir -> req->entries; with_stat fills each entry's stat. */
int
aiofs_scandir(aiofs_t *h, aiofs_req_t *req, const char *path, int with_stat,
    aiofs_cb cb)
{
	Aiofs__V1__Scandir	 m = AIOFS__V1__SCANDIR__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_with_stat = 1;
	m.path = aiofs__bin(path);
	m.with_stat = with_stat != 0;
	SUBMIT(h, req, AIOFS_OP_SCANDIR, scandir, SCANDIR, &m, cb);
}

/* os.access(path, mode) -> result 1 or 0. */
int
aiofs_access(aiofs_t *h, aiofs_req_t *req, const char *path, int mode,
    aiofs_cb cb)
{
	Aiofs__V1__Access	 m = AIOFS__V1__ACCESS__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_mode = 1;
	m.path = aiofs__bin(path);
	m.mode = mode;
	SUBMIT(h, req, AIOFS_OP_ACCESS, access, ACCESS, &m, cb);
}

/* os.getcwd (of this session) -> req->buf. */
int
aiofs_getcwd(aiofs_t *h, aiofs_req_t *req, aiofs_cb cb)
{
	Aiofs__V1__Empty	 m = AIOFS__V1__EMPTY__INIT;

	SUBMIT(h, req, AIOFS_OP_GETCWD, getcwd, GETCWD, &m, cb);
}

/* os.chdir (of this session). */
int
aiofs_chdir(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs__path_op(h, req, AIOFS_OP_CHDIR, OPC(CHDIR), path, cb));
}

/* os.chmod. */
int
aiofs_chmod(aiofs_t *h, aiofs_req_t *req, const char *path, unsigned mode,
    aiofs_cb cb)
{
	Aiofs__V1__PathMode	 m = AIOFS__V1__PATH_MODE__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_mode = 1;
	m.path = aiofs__bin(path);
	m.mode = mode;
	SUBMIT(h, req, AIOFS_OP_CHMOD, chmod, CHMOD, &m, cb);
}

/* os.utime(path, ns=(atime, mtime)); NULL times mean now. */
int
aiofs_utime(aiofs_t *h, aiofs_req_t *req, const char *path,
    const int64_t *atime_ns, const int64_t *mtime_ns, int follow,
    aiofs_cb cb)
{
	Aiofs__V1__Utime	 m = AIOFS__V1__UTIME__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_no_follow = 1;
	m.path = aiofs__bin(path);
	m.no_follow = !follow;
	if (atime_ns != NULL) {
		m.has_atime_ns = 1;
		m.atime_ns = *atime_ns;
	}
	if (mtime_ns != NULL) {
		m.has_mtime_ns = 1;
		m.mtime_ns = *mtime_ns;
	}
	SUBMIT(h, req, AIOFS_OP_UTIME, utime, UTIME, &m, cb);
}

/* os.truncate(path, size). */
int
aiofs_truncate_path(aiofs_t *h, aiofs_req_t *req, const char *path,
    int64_t size, aiofs_cb cb)
{
	Aiofs__V1__TruncatePath	 m = AIOFS__V1__TRUNCATE_PATH__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_size = 1;
	m.path = aiofs__bin(path);
	m.size = size;
	SUBMIT(h, req, AIOFS_OP_TRUNCATE_PATH, truncate_path, TRUNCATE_PATH,
	    &m, cb);
}

/* shutil.copyfile in the daemon -> bytes copied. */
int
aiofs_copyfile(aiofs_t *h, aiofs_req_t *req, const char *src,
    const char *dst, aiofs_cb cb)
{
	return (aiofs__two_op(h, req, AIOFS_OP_COPYFILE, OPC(COPYFILE), src,
	    dst, cb));
}

/* shutil.rmtree, race-safe, in the daemon. */
int
aiofs_rmtree(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs__path_op(h, req, AIOFS_OP_RMTREE, OPC(RMTREE), path, cb));
}

/* os.walk -> req->walk. */
int
aiofs_walk(aiofs_t *h, aiofs_req_t *req, const char *path, int bottom_up,
    aiofs_cb cb)
{
	Aiofs__V1__Walk	 m = AIOFS__V1__WALK__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_bottom_up = 1;
	m.path = aiofs__bin(path);
	m.bottom_up = bottom_up != 0;
	SUBMIT(h, req, AIOFS_OP_WALK, walk, WALK, &m, cb);
}

/* os.path.exists/isfile/isdir/islink/ismount -> result 1 or 0. */
int
aiofs_pathtest(aiofs_t *h, aiofs_req_t *req, const char *path,
    aiofs_pathtest_t kind, aiofs_cb cb)
{
	Aiofs__V1__PathTest	 m = AIOFS__V1__PATH_TEST__INIT;

	if (path == NULL)
		return (-EINVAL);
	m.has_path = m.has_kind = 1;
	m.path = aiofs__bin(path);
	m.kind = (Aiofs__V1__PathTestKind)kind;
	SUBMIT(h, req, AIOFS_OP_PATHTEST, pathtest, PATHTEST, &m, cb);
}

/* os.path.exists. */
int
aiofs_exists(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs_pathtest(h, req, path, AIOFS_EXISTS, cb));
}

/* os.path.isfile. */
int
aiofs_isfile(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs_pathtest(h, req, path, AIOFS_ISFILE, cb));
}

/* os.path.isdir. */
int
aiofs_isdir(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs_pathtest(h, req, path, AIOFS_ISDIR, cb));
}

/* os.path.islink. */
int
aiofs_islink(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs_pathtest(h, req, path, AIOFS_ISLINK, cb));
}

/* os.path.ismount. */
int
aiofs_ismount(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs_pathtest(h, req, path, AIOFS_ISMOUNT, cb));
}

/* os.path.samefile -> result 1 or 0. */
int
aiofs_samefile(aiofs_t *h, aiofs_req_t *req, const char *a, const char *b,
    aiofs_cb cb)
{
	Aiofs__V1__Samefile	 m = AIOFS__V1__SAMEFILE__INIT;

	if (a == NULL || b == NULL)
		return (-EINVAL);
	m.has_a = m.has_b = 1;
	m.a = aiofs__bin(a);
	m.b = aiofs__bin(b);
	SUBMIT(h, req, AIOFS_OP_SAMEFILE, samefile, SAMEFILE, &m, cb);
}

/* os.path.sameopenfile -> result 1 or 0. */
int
aiofs_sameopenfile(aiofs_t *h, aiofs_req_t *req, aiofs_file_t a,
    aiofs_file_t b, aiofs_cb cb)
{
	Aiofs__V1__Samefile	 m = AIOFS__V1__SAMEFILE__INIT;

	m.has_handle_a = m.has_handle_b = 1;
	m.handle_a = a;
	m.handle_b = b;
	SUBMIT(h, req, AIOFS_OP_SAMEFILE, samefile, SAMEFILE, &m, cb);
}

/* os.path.abspath (root-relative, "/" is the root) -> req->buf. */
int
aiofs_abspath(aiofs_t *h, aiofs_req_t *req, const char *path, aiofs_cb cb)
{
	return (aiofs__path_op(h, req, AIOFS_OP_ABSPATH, OPC(ABSPATH), path,
	    cb));
}

/* tempfile.*: see aiofs_temp_opts_t. */
int
aiofs_tempfile(aiofs_t *h, aiofs_req_t *req, const aiofs_temp_opts_t *o,
    aiofs_cb cb)
{
	Aiofs__V1__TempFile	 m = AIOFS__V1__TEMP_FILE__INIT;
	aiofs_temp_opts_t	 def = AIOFS_TEMP_OPTS_INIT;

	if (o == NULL)
		o = &def;
	m.has_kind = 1;
	m.kind = (Aiofs__V1__TempKind)o->kind;
	m.mode = (char *)o->mode;
	m.suffix = (char *)o->suffix;
	m.prefix = (char *)o->prefix;
	if (o->dir != NULL) {
		m.has_dir = 1;
		m.dir = aiofs__bin(o->dir);
	}
	m.has_delete_ = m.has_delete_on_close = 1;
	m.delete_ = o->delete != 0;
	m.delete_on_close = o->delete_on_close != 0;
	if (o->max_size > 0) {
		m.has_max_size = 1;
		m.max_size = o->max_size;
	}
	aiofs__open_opts(&o->open, &m.buffering, &m.has_buffering, &m.encoding,
	    &m.errors, &m.newline);
	SUBMIT(h, req, AIOFS_OP_TEMPFILE, tempfile, TEMPFILE, &m, cb);
}

/* SpooledTemporaryFile.rollover(). */
int
aiofs_rollover(aiofs_t *h, aiofs_req_t *req, aiofs_file_t file, aiofs_cb cb)
{
	return (aiofs__handle_op(h, req, AIOFS_OP_ROLLOVER, OPC(ROLLOVER), file,
	    cb));
}
