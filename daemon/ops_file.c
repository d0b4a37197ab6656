/*
 * ops_file.c - open files and everything done through their handles: the
 * file object of Python's io (aiofiles) and aiofile's offset API.
 *
 * A struct hfile is the daemon's io.BufferedRandom/TextIOWrapper.  It is
 * touched only by the one request that the per-handle FIFO (dispatch.c)
 * lets run, so it needs no lock.
 *
 * Buffers, as Python's: reads may read ahead into rbuf (binary) or into
 * the text decoder (text mode), writes collect in wbuf up to the buffer
 * size (line-buffered text flushes at '\n', buffering=0 writes through).
 * Switching between reading and writing flushes wbuf and gives back the
 * read-ahead with an lseek, so the fd offset always matches what the
 * client has seen.  All raw I/O goes through the hfile_raw_* functions,
 * which also serve SpooledTemporaryFile's in-memory contents.
 *
 * Large results are streamed: a work function produces at most
 * AIOFS_MAX_CHUNK bytes, sets req->more and is called again for the rest
 * (see dispatch.c), with its progress in req->cursor.
 *
 * Large chunks of pread (on a read-only binary handle) and readfile are
 * spliced rather than copied (ops_file_splice, spipe.c): the worker moves
 * page references into a pipe, and the loop passes them to the socket.
 * pread on a writable handle copies, so that a pwrite queued behind it on
 * the same handle cannot show in its data; so do text mode, spooled
 * temporary files and files that cannot be spliced.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

#define HFILE_DEFAULT_BUF	8192
#define HFILE_MAX_BUF		(1024 * 1024)

/* Progress of a streamed read. */
struct read_cursor {
	int64_t		 left;		/* bytes/chars still wanted, -1 all */
	int64_t		 offset;	/* pread, readfile */
	int		 fd;		/* readfile: owned */
	struct textio	*text;		/* text pread: decoder across parts */
	int64_t		 hint;		/* readfile: size of the first read */
	int		 nosplice;	/* the file cannot be spliced */
};

static int	ops_file_splice(struct req *, struct read_cursor *, int, size_t,
		    struct spipe **, char **, size_t *);

/* Free a read cursor and what it owns. */
static void
read_cursor_free(void *p)
{
	struct read_cursor	*c = p;

	if (c->fd != -1)
		close(c->fd);
	textio_free(c->text);
	free(c);
}

/* A new hfile for an open fd (taken over). */
struct hfile *
hfile_new(int fd, const struct fmode *mode, const char *name)
{
	struct hfile	*f;
	struct stat	 sb;

	f = xcalloc(1, sizeof *f);
	f->fd = fd;
	f->mode = *mode;
	f->name = xstrdup(name);
	f->del_dirfd = -1;
	f->spool_dirfd = -1;
	f->buffering = HFILE_DEFAULT_BUF;
	if (fd != -1) {
		/* Python's FileIO starts an appending file at its end. */
		if (mode->append)
			lseek(fd, 0, SEEK_END);
		f->seekable = lseek(fd, 0, SEEK_CUR) != -1;
		f->isatty = isatty(fd);
		if (fstat(fd, &sb) == 0 && sb.st_blksize > 1 &&
		    sb.st_blksize <= HFILE_MAX_BUF)
			f->buffering = sb.st_blksize;
	} else
		f->seekable = 1;
	return (f);
}

/* Free an hfile; its fd must already be closed (hfile_close). */
void
hfile_free(struct hfile *f)
{
	if (f == NULL)
		return;
	if (f->fd != -1)
		close(f->fd);
	if (f->del_dirfd != -1)
		close(f->del_dirfd);
	if (f->spool_dirfd != -1)
		close(f->spool_dirfd);
	if (f->owner != NULL && f->spool_cap > 0)
		conn_mem_release(f->owner, f->spool_cap);
	textio_free(f->text);
	free(f->name);
	free(f->encoding_name);
	free(f->del_name);
	free(f->rbuf);
	free(f->wbuf);
	free(f->spool);
	free(f);
}

/*
 * Apply open()'s buffering/encoding/errors/newline to f, with Python's
 * checks.  Returns 0, or -1 with the error recorded in req.
 */
int
hfile_setup(struct req *req, struct hfile *f, int buffering,
    const char *encoding, const char *errors, int newline_set,
    const char *newline)
{
	int	 text = f->mode.text;

	if (!text && ((encoding != NULL && *encoding != '\0') ||
	    (errors != NULL && *errors != '\0') || newline_set)) {
		req_failmsg(req, EINVAL, NULL, "binary mode doesn't take an "
		    "encoding, errors or newline argument");
		return (-1);
	}
	if (text && buffering == 0) {
		req_failmsg(req, EINVAL, NULL, "can't have unbuffered text "
		    "I/O");
		return (-1);
	}
	if (buffering < -1) {
		req_failmsg(req, EINVAL, NULL, "invalid buffering %d",
		    buffering);
		return (-1);
	}
	if (buffering == 1 && text)
		f->buffering = 1;		/* line buffered */
	else if (buffering == 0)
		f->buffering = 0;
	else if (buffering > 1)
		f->buffering = buffering > HFILE_MAX_BUF ? HFILE_MAX_BUF :
		    buffering;
	else if (text && f->isatty)
		f->buffering = 1;		/* -1 on a tty: line buffered */
	if (!text)
		return (0);

	if (textio_parse_errors(errors, &f->errors) == -1) {
		req_failmsg(req, EINVAL, NULL, "invalid errors \"%s\": use "
		    "strict, replace or ignore", errors);
		return (-1);
	}
	if (textio_parse_newline(newline, newline_set, &f->newline) == -1) {
		req_failmsg(req, EINVAL, NULL, "illegal newline value");
		return (-1);
	}
	f->newline_set = newline_set;
	f->text = textio_new(encoding, f->errors, f->newline);
	if (f->text == NULL) {
		req_failmsg(req, EINVAL, NULL, "unknown encoding: %s",
		    encoding != NULL ? encoding : "");
		return (-1);
	}
	return (0);
}

/* Describe f for Open/Wrap/TempFile/FileInfo replies (arena strings). */
void
hfile_fill_reply(struct hfile *f, uint64_t hid, Aiofs__V1__FileReply *r,
    struct req *req)
{
	static const char *nl[] = { "", "", "\n", "\r", "\r\n" };

	aiofs__v1__file_reply__init(r);
	if (hid != 0) {
		r->has_handle = 1;
		r->handle = hid;
	}
	r->has_name = 1;
	r->name.data = (uint8_t *)req_strdup(req, f->name);
	r->name.len = strlen(f->name);
	r->mode = req_strdup(req, f->mode.canon);
	r->has_readable = r->has_writable = r->has_seekable = 1;
	r->has_isatty = r->has_closed = r->has_text = r->has_buffering = 1;
	r->readable = f->mode.readable;
	r->writable = f->mode.writable;
	r->seekable = f->seekable;
	r->isatty = f->isatty;
	r->closed = f->closed;
	r->text = f->mode.text;
	r->buffering = f->buffering;
	if (f->text != NULL) {
		r->encoding = req_strdup(req, textio_encoding(f->text));
		r->errors = f->errors == TEXT_STRICT ? "strict" :
		    f->errors == TEXT_REPLACE ? "replace" : "ignore";
		if (f->newline_set)
			r->newline = (char *)nl[f->newline];
	}
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_FILE;
	req->resp.file = r;
}

/* Roll a spooled file over to disk when it must grow past max. */
static int
hfile_spool_need(struct hfile *f, size_t end)
{
	if (end <= f->spool_max)
		return (0);
	return (ops_temp_spool_rollover(f));
}

/*
 * Make room for end bytes of spooled data, charged to the owning
 * connection's memory budget.  Past max_size, or when the budget is
 * spent, the file rolls over to disk instead (f->spooled becomes 0).
 */
static int
hfile_spool_reserve(struct hfile *f, size_t end)
{
	size_t	 cap;

	if (hfile_spool_need(f, end) == -1)
		return (-1);
	if (!f->spooled || end <= f->spool_cap)
		return (0);
	cap = end < 4096 ? 4096 : end * 2;
	if (cap > f->spool_max)
		cap = f->spool_max;
	if (f->owner != NULL &&
	    conn_mem_charge(f->owner, cap - f->spool_cap) == -1)
		return (ops_temp_spool_rollover(f));
	f->spool = xrealloc(f->spool, cap);
	f->spool_cap = cap;
	return (0);
}

/* read(2) on f (or its spool), retrying EINTR. */
static ssize_t
hfile_raw_read(struct hfile *f, void *buf, size_t n)
{
	ssize_t	 r;

	if (f->spooled) {
		if (f->spool_pos >= f->spool_len)
			return (0);
		if (n > f->spool_len - f->spool_pos)
			n = f->spool_len - f->spool_pos;
		memcpy(buf, f->spool + f->spool_pos, n);
		f->spool_pos += n;
		return (n);
	}
	while ((r = fast_pread(f->fd, buf, n, -1)) == -1 && errno == EINTR &&
	    !fast_nowait && !pool_cancelled())
		;
	return (r);
}

/*
 * Write all of buf to f.  Returns n, or -1 with errno if nothing could be
 * written; a short count when an error (ENOSPC, EFBIG) stopped it partway,
 * so the caller can report exactly what reached the file.
 */
ssize_t
hfile_raw_write(struct hfile *f, const void *buf, size_t n)
{
	const char	*p = buf;
	size_t		 done = 0, end = 0;
	ssize_t		 r;

	if (n == 0)
		return (0);	/* and the spool may not exist yet */
	if (f->spooled) {
		if (f->mode.append)
			f->spool_pos = f->spool_len;
		end = f->spool_pos + n;
		if (hfile_spool_need(f, end) == -1)
			return (-1);
	}
	if (f->spooled && hfile_spool_reserve(f, end) == -1)
		return (-1);
	if (f->spooled) {
		if (f->spool_pos > f->spool_len)
			memset(f->spool + f->spool_len, 0,
			    f->spool_pos - f->spool_len);
		memcpy(f->spool + f->spool_pos, buf, n);
		f->spool_pos = end;
		if (end > f->spool_len)
			f->spool_len = end;
		return (n);
	}
	while (done < n) {
		r = write(f->fd, p + done, n - done);
		if (r == -1) {
			if (errno == EINTR && !pool_cancelled())
				continue;
			return (done > 0 ? (ssize_t)done : -1);
		}
		if (r == 0)
			break;
		done += r;
	}
	return (done);
}

/* lseek on f or its spool. */
static off_t
hfile_raw_seek(struct hfile *f, off_t off, int whence)
{
	off_t	 base;

	if (!f->spooled)
		return (lseek(f->fd, off, whence));
	base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ?
	    (off_t)f->spool_pos : (off_t)f->spool_len;
	if (base + off < 0) {
		errno = EINVAL;
		return (-1);
	}
	f->spool_pos = base + off;
	return (f->spool_pos);
}

/* Write out the write buffer.  0, or -1 with errno (data kept). */
int
hfile_flush(struct hfile *f)
{
	ssize_t	 n;

	while (f->wlen > 0) {
		n = hfile_raw_write(f, f->wbuf, f->wlen);
		if (n == -1)
			return (-1);
		memmove(f->wbuf, f->wbuf + n, f->wlen - n);
		f->wlen -= n;
		if ((size_t)n == 0) {
			errno = EIO;
			return (-1);
		}
	}
	return (0);
}

/*
 * Give back read-ahead: move the fd offset back to what the client has
 * consumed and forget the buffered bytes.  Needed before writing, seeking
 * or telling on a seekable file.
 */
int
hfile_unread(struct hfile *f)
{
	int64_t	 back = 0;

	if (f->rlen > f->rpos)
		back = f->rlen - f->rpos;
	if (f->text != NULL)
		back += textio_pending_raw(f->text);
	if (back > 0 && f->seekable &&
	    hfile_raw_seek(f, -back, SEEK_CUR) == -1)
		return (-1);
	f->rpos = f->rlen = 0;
	f->reof = 0;
	if (f->text != NULL)
		textio_reset(f->text);
	return (0);
}

/* Before reading: flush pending writes. */
static int
hfile_begin_read(struct req *req, struct hfile *f)
{
	if (!f->mode.readable) {
		req_failmsg(req, EBADF, NULL, "file not open for reading");
		return (-1);
	}
	if (f->wlen > 0 && hfile_flush(f) == -1) {
		req_fail(req, errno, NULL);
		return (-1);
	}
	return (0);
}

/* Before writing: give back read-ahead. */
static int
hfile_begin_write(struct req *req, struct hfile *f)
{
	if (!f->mode.writable) {
		req_failmsg(req, EBADF, NULL, "file not open for writing");
		return (-1);
	}
	if (f->sticky_error != 0) {
		req_failmsg(req, f->sticky_error, NULL, "an earlier write-back "
		    "error on this file");
		return (-1);
	}
	if ((f->rlen > f->rpos || (f->text != NULL &&
	    textio_pending_raw(f->text) > 0)) && hfile_unread(f) == -1) {
		req_fail(req, errno, NULL);
		return (-1);
	}
	return (0);
}

/*
 * One raw read into the read-ahead (binary) or the decoder (text).
 * Returns bytes read, 0 at EOF, -1 on error.
 */
static ssize_t
hfile_fill(struct hfile *f, size_t want)
{
	size_t	 size = want;
	ssize_t	 n;

	if (f->buffering == 0) {
		/*
		 * Unbuffered (FileIO): read no more than asked, or one byte
		 * for a line, so a pipe's next reader loses nothing.
		 */
		if (size == 0)
			size = 1;
	} else {
		if (size < (size_t)f->buffering)
			size = f->buffering;
		if (size < HFILE_DEFAULT_BUF)
			size = HFILE_DEFAULT_BUF;
	}
	if (size > opts.max_chunk)
		size = opts.max_chunk;
	if (f->rpos == f->rlen)
		f->rpos = f->rlen = 0;
	if (f->rcap - f->rlen < size) {
		if (f->rpos > 0) {
			memmove(f->rbuf, f->rbuf + f->rpos, f->rlen - f->rpos);
			f->rlen -= f->rpos;
			f->rpos = 0;
		}
		if (f->rcap - f->rlen < size) {
			/* Geometric: unbuffered lines grow a byte at a time. */
			f->rcap = f->rlen + size > 2 * f->rcap ?
			    f->rlen + size : 2 * f->rcap;
			f->rbuf = xrealloc(f->rbuf, f->rcap);
		}
	}
	n = hfile_raw_read(f, f->rbuf + f->rlen, size);
	if (n == -1)
		return (-1);
	if (n == 0)
		f->reof = 1;
	if (f->text != NULL) {
		if (textio_feed(f->text, f->rbuf + f->rlen, n, n == 0) == -1)
			return (-1);
		return (n);
	}
	f->rlen += n;
	return (n);
}

/* Growable output of a read. */
struct outbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

/* Append to an outbuf. */
static void
outbuf_add(struct outbuf *o, const void *p, size_t n)
{
	if (o->cap - o->len < n) {
		o->cap = o->len + n < 4096 ? 4096 : (o->len + n) * 2;
		if (o->cap > opts.max_chunk + 65536 && o->len + n <
		    opts.max_chunk + 65536)
			o->cap = opts.max_chunk + 65536;
		o->p = xrealloc(o->p, o->cap);
	}
	if (n > 0)
		memcpy(o->p + o->len, p, n);
	o->len += n;
}

/*
 * Undo hfile_take_bytes: put the n bytes at p back in front of the
 * read-ahead, for a read the loop gave up on halfway (fast.c).
 */
static void
hfile_pushback(struct hfile *f, const char *p, size_t n)
{
	size_t	 have = f->rlen - f->rpos;

	if (n == 0)
		return;
	if (n <= f->rpos) {
		f->rpos -= n;
		memcpy(f->rbuf + f->rpos, p, n);
		return;
	}
	if (f->rcap < have + n) {
		f->rcap = have + n;
		f->rbuf = xrealloc(f->rbuf, f->rcap);
	}
	memmove(f->rbuf + n, f->rbuf + f->rpos, have);
	memcpy(f->rbuf, p, n);
	f->rpos = 0;
	f->rlen = have + n;
}

/* Take up to n buffered bytes (binary) into o. */
static size_t
hfile_take_bytes(struct hfile *f, struct outbuf *o, size_t n)
{
	size_t	 have = f->rlen - f->rpos;

	if (n > have)
		n = have;
	if (n == 0)
		return (0);	/* rbuf may still be NULL */
	outbuf_add(o, f->rbuf + f->rpos, n);
	f->rpos += n;
	return (n);
}

/* Record a decode/IO error of a text read. */
static void
hfile_read_error(struct req *req, int e)
{
	if (e == EILSEQ)
		req_failmsg(req, EILSEQ, NULL, "cannot decode the file with "
		    "its encoding (errors=strict)");
	else
		req_fail(req, e, NULL);
}

/*
 * The next chunk of a read or readall of a read-only binary file, spliced
 * from the file position as pread's are (ops_file_splice), when it is big
 * enough and nothing is in the read-ahead; the position then moves past
 * it.  Never on a writable handle: a write queued behind the read could
 * change the pages before they are sent.  Returns 1 when req has the
 * chunk (or failed), 0 to copy as usual.
 */
static int
ops_file_read_splice(struct req *req, struct hfile *f, struct read_cursor *c,
    int64_t left)
{
	struct spipe	*p;
	char		*tail;
	size_t		 want, tlen, got;
	off_t		 pos;
	int		 rc, e;

	if (f->text != NULL || f->mode.writable || f->spooled || f->fd == -1 ||
	    !f->seekable || f->reof || f->rlen != f->rpos || fast_nowait)
		return (0);
	want = left < 0 || (uint64_t)left > opts.max_chunk ? opts.max_chunk :
	    (size_t)left;
	if (want < AIOFS_SPLICE_MIN ||
	    (pos = lseek(f->fd, 0, SEEK_CUR)) == -1)
		return (0);
	c->offset = pos;
	if ((rc = ops_file_splice(req, c, f->fd, want, &p, &tail, &tlen)) != 1)
		return (rc == -1);
	if (lseek(f->fd, c->offset, SEEK_SET) == -1) {
		e = errno;
		spipe_put(p);
		free(tail);
		req_fail(req, e, NULL);
		return (1);
	}
	got = p->len + tlen;
	if (got < want)
		f->reof = 1;	/* as a short fill would have said */
	c->left = left < 0 ? left : left - (int64_t)got;
	if (got == want && c->left != 0)
		req->more = 1;
	req_set_spliced(req, p, tail, tlen, got < want);
	return (1);
}

/*
 * read(size) / read1 / readall / peek / readline on a handle, binary or
 * text.  size counts bytes in binary mode and characters in text mode.
 */
void
ops_file_read_work(struct req *req)
{
	Aiofs__V1__Read		*m = req->msg->read;
	struct hfile		*f = req->f;
	struct read_cursor	*c = req->cursor;
	struct outbuf		 o = { NULL, 0, 0 };
	int			 kind = m->has_kind ? m->kind : 0;
	int64_t			 left;
	ssize_t			 n;
	char			*t;
	size_t			 tlen;
	int			 complete, eof = 0, calls = 0;

	if (c == NULL) {
		if (hfile_begin_read(req, f) == -1)
			return;
		c = xcalloc(1, sizeof *c);
		c->left = m->has_size ? m->size : -1;
		if (kind == AIOFS__V1__READ_KIND__READALL)
			c->left = -1;
		c->fd = -1;
		req->cursor = c;
		req->cursor_free = read_cursor_free;
	}
	left = c->left;

	if (kind == AIOFS__V1__READ_KIND__PEEK) {
		if (f->text != NULL) {
			req_failmsg(req, EINVAL, NULL, "peek on a text file");
			return;
		}
		if (f->rlen == f->rpos && hfile_fill(f, 1) == -1) {
			req_fail(req, errno, NULL);
			return;
		}
		/* Like Python, the whole buffer, whatever size asked. */
		n = f->rlen - f->rpos;
		outbuf_add(&o, f->rbuf + f->rpos, n);
		req_set_data(req, o.p, o.len, f->reof && n == 0);
		return;
	}

	if (kind == AIOFS__V1__READ_KIND__READLINE) {
		for (;;) {
			if (f->text != NULL) {
				if (textio_take_line(f->text, left, f->reof,
				    &t, &tlen, &complete) == -1) {
					hfile_read_error(req, errno);
					free(o.p);
					return;
				}
				if (complete) {
					o.p = t;
					o.len = tlen;
					break;
				}
			} else {
				char *nl = f->rlen > f->rpos ?
				    memchr(f->rbuf + f->rpos, '\n',
				    f->rlen - f->rpos) : NULL;
				size_t want = nl != NULL ?
				    (size_t)(nl - (char *)f->rbuf - f->rpos) + 1
				    : f->rlen - f->rpos;

				if (left >= 0 && (int64_t)(o.len + want) >
				    left)
					want = left - o.len;
				hfile_take_bytes(f, &o, want);
				if (nl != NULL || (left >= 0 &&
				    (int64_t)o.len >= left) || f->reof)
					break;
				if (o.len >= opts.max_chunk) {
					/* A huge line: stream it. */
					req->more = 1;
					if (left >= 0)
						c->left = left - o.len;
					req_set_data(req, o.p, o.len, 0);
					return;
				}
			}
			if (f->reof)
				break;
			if (hfile_fill(f, 0) == -1) {
				if (fast_nowait)	/* a worker redoes it */
					hfile_pushback(f, o.p, o.len);
				hfile_read_error(req, errno);
				free(o.p);
				return;
			}
		}
		req_set_data(req, o.p, o.len, f->reof && (f->text != NULL ?
		    textio_buffered(f->text) == 0 : f->rlen == f->rpos));
		return;
	}

	/* read, read1, readall. */
	if (kind != AIOFS__V1__READ_KIND__READ1 &&
	    ops_file_read_splice(req, f, c, left))
		return;
	for (;;) {
		if (left == 0)
			break;
		if (f->text != NULL) {
			if (textio_take(f->text, left, f->reof, &t,
			    &tlen) == -1) {
				hfile_read_error(req, errno);
				free(o.p);
				return;
			}
			if (tlen > 0) {
				outbuf_add(&o, t, tlen);
				if (left > 0) {
					/* Count the characters taken. */
					size_t i, chars = 0;

					for (i = 0; i < tlen; i++)
						if ((t[i] & 0xc0) != 0x80)
							chars++;
					left -= chars;
				}
			}
			free(t);
			if (left == 0)
				break;
		} else if (f->rlen > f->rpos) {
			size_t want = left < 0 ? SIZE_MAX : (size_t)left;
			size_t took;

			if (want > opts.max_chunk - o.len)
				want = opts.max_chunk - o.len;
			took = hfile_take_bytes(f, &o, want);
			if (left > 0)
				left -= (int64_t)took;
			if (left == 0)
				break;
		}
		if (f->reof) {
			eof = 1;
			break;
		}
		if (kind == AIOFS__V1__READ_KIND__READ1 && (o.len > 0 ||
		    calls > 0))
			break;
		if (f->buffering == 0 && f->text == NULL &&
		    kind == AIOFS__V1__READ_KIND__READ && left > 0 &&
		    calls > 0)
			break;		/* FileIO.read(n): one syscall */
		if (o.len >= opts.max_chunk) {
			req->more = 1;
			break;
		}
		calls++;
		if ((n = hfile_fill(f, left > 0 && (size_t)left < opts.max_chunk ?
		    (size_t)left : opts.max_chunk)) == -1) {
			if (fast_nowait) {
				/* A worker redoes the whole read. */
				hfile_pushback(f, o.p, o.len);
				free(o.p);
				return;
			}
			if (o.len > 0 && errno != EILSEQ)
				break;	/* report what we have */
			hfile_read_error(req, errno);
			free(o.p);
			return;
		}
	}
	c->left = left;
	req_set_data(req, o.p, o.len, eof);
}

/* readlines(hint): whole lines until their total size reaches hint. */
void
ops_file_readlines_work(struct req *req)
{
	Aiofs__V1__ReadLines	*m = req->msg->readlines;
	struct hfile		*f = req->f;
	Aiofs__V1__Lines	*r = &req->res.lines;
	struct read_cursor	*c = req->cursor;
	size_t			 cap = 64, total = 0;
	char			*t;
	size_t			 tlen;
	int			 complete;

	if (c == NULL) {
		if (hfile_begin_read(req, f) == -1)
			return;
		c = xcalloc(1, sizeof *c);
		c->left = m->has_hint && m->hint > 0 ? m->hint : -1;
		c->fd = -1;
		req->cursor = c;
		req->cursor_free = read_cursor_free;
	}
	aiofs__v1__lines__init(r);
	r->lines = req_alloc(req, cap * sizeof *r->lines);
	for (;;) {
		if (f->text != NULL) {
			if (textio_take_line(f->text, -1, f->reof, &t, &tlen,
			    &complete) == -1) {
				hfile_read_error(req, errno);
				return;
			}
		} else {
			char *nl = f->rlen > f->rpos ?
			    memchr(f->rbuf + f->rpos, '\n',
			    f->rlen - f->rpos) : NULL;

			complete = nl != NULL || f->reof;
			t = NULL;
			tlen = 0;
			if (complete) {
				tlen = nl != NULL ? (size_t)(nl - (char *)f->rbuf
				    - f->rpos) + 1 : f->rlen - f->rpos;
				t = tlen > 0 ? xmemdup(f->rbuf + f->rpos, tlen) :
				    NULL;
				f->rpos += tlen;
			}
		}
		if (!complete) {
			if (hfile_fill(f, 0) == -1) {
				hfile_read_error(req, errno);
				return;
			}
			continue;
		}
		if (tlen == 0) {
			free(t);
			break;		/* EOF */
		}
		if (tlen > opts.max_frame / 2) {
			free(t);
			req_failmsg(req, EMSGSIZE, NULL, "a line of %zu bytes "
			    "does not fit in a reply: read it with readline()",
			    tlen);
			return;
		}
		if (r->n_lines == cap) {
			ProtobufCBinaryData *nl;

			nl = req_alloc(req, 2 * cap * sizeof *nl);
			memcpy(nl, r->lines, cap * sizeof *nl);
			r->lines = nl;
			cap *= 2;
		}
		r->lines[r->n_lines].data = req_memdup(req, t, tlen);
		r->lines[r->n_lines].len = tlen;
		r->n_lines++;
		free(t);
		total += tlen;
		if (c->left > 0) {
			c->left -= tlen;
			if (c->left <= 0)
				break;
		}
		if (total >= opts.max_chunk / 2) {
			req->more = 1;
			break;
		}
	}
	req->resp.result_case = AIOFS__V1__RESPONSE__RESULT_LINES;
	req->resp.lines = r;
}

/*
 * Buffer or write data (already encoded) according to the buffering
 * policy.  Returns 0 or -1 with errno; a partial raw write is -1 with
 * *partial set to the bytes that reached the file.
 */
static int
hfile_write_bytes(struct hfile *f, const void *data, size_t len,
    size_t *written)
{
	ssize_t	 n;
	size_t	 limit = f->buffering > 1 ? (size_t)f->buffering :
	    HFILE_DEFAULT_BUF;

	*written = 0;
	/* A spooled file is memory already; it checks max_size per write. */
	if (f->buffering == 0 || f->spooled || len >= limit) {
		if (hfile_flush(f) == -1)
			return (-1);
		n = hfile_raw_write(f, data, len);
		if (n == -1)
			return (-1);
		*written = n;
		if ((size_t)n < len) {
			if (errno == 0)
				errno = EIO;
			return (-1);
		}
		return (0);
	}
	if (f->wlen + len > limit && hfile_flush(f) == -1)
		return (-1);
	if (f->wcap < limit) {
		f->wcap = limit;
		f->wbuf = xrealloc(f->wbuf, f->wcap);
	}
	if (len == 0)
		return (0);
	memcpy(f->wbuf + f->wlen, data, len);
	f->wlen += len;
	*written = len;
	if (f->buffering == 1 && (memchr(data, '\n', len) != NULL ||
	    memchr(data, '\r', len) != NULL))
		return (hfile_flush(f));
	return (0);
}

/* Encode (text) and write one piece; returns the count to reply. */
static int
hfile_write_one(struct req *req, struct hfile *f, const uint8_t *data,
    size_t len, int64_t *count)
{
	char	*enc = NULL;
	size_t	 enclen, written;
	int	 rc;

	if (f->text != NULL) {
		if (textio_encode(f->text, data, len, &enc, &enclen) == -1) {
			req_failmsg(req, errno, NULL, errno == EILSEQ ?
			    "cannot encode the text with the file's encoding" :
			    "text encoding failed");
			return (-1);
		}
		rc = hfile_write_bytes(f, enc, enclen, &written);
		free(enc);
		if (rc == 0) {
			/* Python's TextIOWrapper.write returns len(str). */
			size_t i;

			for (i = 0; i < len; i++)
				if ((data[i] & 0xc0) != 0x80)
					(*count)++;
		}
	} else {
		rc = hfile_write_bytes(f, data, len, &written);
		*count += written;
	}
	if (rc == -1) {
		if (written > 0 && f->text == NULL)
			req_failmsg(req, errno, NULL, "only %zu of %zu bytes "
			    "written", written, len);
		else
			req_fail(req, errno, NULL);
		return (-1);
	}
	return (0);
}

/* write(data): bytes in binary mode, UTF-8 text in text mode. */
void
ops_file_write_work(struct req *req)
{
	Aiofs__V1__Write	*m = req->msg->write;
	int64_t			 count = 0;

	if (hfile_begin_write(req, req->f) == -1)
		return;
	if (hfile_write_one(req, req->f, m->data.data, m->data.len,
	    &count) == -1)
		return;
	req_set_count(req, count);
}

/* writelines(lines): no separators are added, as in Python. */
void
ops_file_writelines_work(struct req *req)
{
	Aiofs__V1__WriteLines	*m = req->msg->writelines;
	int64_t			 count = 0;
	size_t			 i;

	if (hfile_begin_write(req, req->f) == -1)
		return;
	for (i = 0; i < m->n_lines; i++)
		if (hfile_write_one(req, req->f, m->lines[i].data,
		    m->lines[i].len, &count) == -1)
			return;
	req_set_count(req, count);
}

/* flush(). */
void
ops_file_flush_work(struct req *req)
{
	if (hfile_flush(req->f) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	req_set_empty(req);
}

/* The client-visible position: fd offset less read-ahead plus wbuf. */
static int64_t
hfile_tell(struct hfile *f)
{
	off_t	 pos;

	if ((pos = hfile_raw_seek(f, 0, SEEK_CUR)) == -1)
		return (-1);
	pos -= f->rlen - f->rpos;
	if (f->text != NULL)
		pos -= textio_pending_raw(f->text);
	if (f->mode.append && f->wlen > 0)
		return (pos);	/* flushed below before it matters */
	return (pos + f->wlen);
}

/* seek(offset, whence) -> new position. */
void
ops_file_seek_work(struct req *req)
{
	Aiofs__V1__Seek	*m = req->msg->seek;
	struct hfile	*f = req->f;
	int		 whence = m->has_whence ? m->whence : 0;
	off_t		 pos;

	if (whence < 0 || whence > 2) {
		req_failmsg(req, EINVAL, NULL, "invalid whence (%d, should be "
		    "0, 1 or 2)", whence);
		return;
	}
	if (!f->seekable) {
		req_fail(req, ESPIPE, NULL);
		return;
	}
	if (f->text != NULL && whence != 0 && m->offset != 0) {
		req_failmsg(req, EINVAL, NULL, "can't do nonzero %s-relative "
		    "seeks on a text file", whence == 1 ? "cur" : "end");
		return;
	}
	if (whence == 0 && m->offset < 0) {
		req_failmsg(req, EINVAL, NULL, "negative seek position %lld",
		    (long long)m->offset);
		return;
	}
	if (hfile_flush(f) == -1 || hfile_unread(f) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	if ((pos = hfile_raw_seek(f, m->offset, whence)) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	req_set_count(req, pos);
}

/* tell(). */
void
ops_file_tell_work(struct req *req)
{
	int64_t	 pos;

	if (!req->f->seekable) {
		req_fail(req, ESPIPE, NULL);
		return;
	}
	if (req->f->mode.append && hfile_flush(req->f) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	if ((pos = hfile_tell(req->f)) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	req_set_count(req, pos);
}

/* truncate(size=None): the position does not move. */
void
ops_file_truncate_work(struct req *req)
{
	Aiofs__V1__Truncate	*m = req->msg->truncate;
	struct hfile		*f = req->f;
	int64_t			 size;

	if (!f->mode.writable) {
		req_failmsg(req, EBADF, NULL, "file not open for writing");
		return;
	}
	if (hfile_flush(f) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	size = m->has_size ? m->size : hfile_tell(f);
	if (size < 0) {
		req_failmsg(req, EINVAL, NULL, "negative size");
		return;
	}
	if (f->spooled && hfile_spool_need(f, size) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	if (f->spooled && hfile_spool_reserve(f, size) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	if (f->spooled) {
		if ((size_t)size > f->spool_len)
			memset(f->spool + f->spool_len, 0,
			    size - f->spool_len);
		f->spool_len = size;
	} else if (ftruncate(f->fd, size) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	req_set_count(req, size);
}

/*
 * Flush and close f, then undo what a temporary file asked for.  Returns
 * 0, or -1 with errno of the first failure (the fd is closed anyway).
 */
int
hfile_close(struct hfile *f)
{
	int	 rc = 0, e = 0;

	if (f->closed)
		return (0);
	f->closed = 1;
	if (f->wlen > 0 && hfile_flush(f) == -1) {
		rc = -1;
		e = errno;
	}
	if (f->fd != -1 && close(f->fd) == -1 && rc == 0 && errno != EINTR) {
		rc = -1;
		e = errno;
	}
	f->fd = -1;
	if (f->del_name != NULL && f->del_dirfd != -1 && !f->del_at_exit) {
		if (f->is_tempdir)
			ops_os_rmtree_at(f->del_dirfd, f->del_name);
		else
			unlinkat(f->del_dirfd, f->del_name, 0);
		log_info("removed temporary %s", f->del_name);
	}
	errno = e;
	return (rc);
}

/* close(): flush, close, clean up; the loop then frees the handle. */
void
ops_file_close_work(struct req *req)
{
	if (hfile_close(req->f) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	req_set_empty(req);
}

/*
 * Produce this chunk (want bytes of fd at c->offset) by splicing instead of
 * copying, when it is big enough for that to pay (AIOFS_SPLICE_MIN: under
 * it, the extra syscalls and the separate header write cost more than
 * copying saves) and a pipe is free.  A pipe full of partial pages (an
 * unaligned offset) cannot take a whole chunk: the rest is read into a
 * tail buffer, so chunks are cut where they always were.  Returns 1 when
 * *pp (not empty), *tailp and *tlenp hold the chunk and c->offset has
 * moved past it; 0 when the caller must copy instead (nothing was done;
 * c->nosplice remembers a file that cannot be spliced); -1 if req failed.
 */
static int
ops_file_splice(struct req *req, struct read_cursor *c, int fd, size_t want,
    struct spipe **pp, char **tailp, size_t *tlenp)
{
	struct spipe	*p;
	char		*tail = NULL;
	size_t		 left, tlen = 0;
	ssize_t		 n;
	int		 eof, e;

	/* Never on the loop: filling the pipe may wait for the disk. */
	if (fast_nowait || c->nosplice || want < AIOFS_SPLICE_MIN ||
	    (p = spipe_get()) == NULL)
		return (0);
	if (spipe_fill(p, fd, &c->offset, want, &eof) <= 0) {
		e = errno;
		spipe_put(p);
		if (!eof && e == ECANCELED) {
			req_fail(req, ECANCELED, NULL);
			return (-1);
		}
		/* At EOF, or not this file (EINVAL...): the copy says. */
		if (!eof)
			c->nosplice = 1;
		return (0);
	}
	if (!eof && p->len < want) {
		left = want - p->len;
		tail = xmalloc(left);
		while (tlen < left) {
			n = pread(fd, tail + tlen, left - tlen, c->offset);
			if (n == -1 && errno == EINTR) {
				if (!pool_cancelled())
					continue;
				free(tail);
				spipe_put(p);
				req_fail(req, ECANCELED, NULL);
				return (-1);
			}
			if (n <= 0)	/* a short chunk, as in the copy */
				break;
			tlen += n;
			c->offset += n;
		}
		if (tlen == 0) {
			free(tail);
			tail = NULL;
		}
	}
	*pp = p;
	*tailp = tail;
	*tlenp = tlen;
	return (1);
}

/* pread(size, offset): does not move the position. */
void
ops_file_pread_work(struct req *req)
{
	Aiofs__V1__Pread	*m = req->msg->pread;
	struct hfile		*f = req->f;
	struct read_cursor	*c = req->cursor;
	struct spipe		*p;
	size_t			 want, got = 0;
	ssize_t			 n;
	char			*buf;
	int			 eof, rc;

	if (c == NULL) {
		if (f != NULL && hfile_begin_read(req, f) == -1)
			return;
		if (m->size < 0 || m->offset < 0) {
			req_failmsg(req, EINVAL, NULL, "negative size or "
			    "offset");
			return;
		}
		c = xcalloc(1, sizeof *c);
		c->left = m->size;
		c->offset = m->offset;
		c->fd = -1;
		req->cursor = c;
		req->cursor_free = read_cursor_free;
	}
	want = (size_t)c->left > opts.max_chunk ? opts.max_chunk :
	    (size_t)c->left;
	if (f == NULL) {		/* read-only binary: may splice */
		rc = ops_file_splice(req, c, req->fd, want, &p, &buf, &got);
		if (rc == -1)
			return;
		if (rc == 1) {
			got += p->len;
			c->left -= got;
			if (got == want && c->left > 0)
				req->more = 1;
			req_set_spliced(req, p, buf, got - p->len, got < want);
			return;
		}
	}
	buf = chunk_alloc(want);
	while (got < want) {
		if (f == NULL)		/* read-only binary: outside the FIFO */
			n = fast_pread(req->fd, buf + got, want - got,
			    c->offset);
		else if (f->spooled) {
			n = 0;
			if ((size_t)c->offset < f->spool_len) {
				n = f->spool_len - c->offset;
				if ((size_t)n > want - got)
					n = want - got;
				memcpy(buf + got, f->spool + c->offset, n);
			}
		} else
			n = pread(f->fd, buf + got, want - got, c->offset);
		if (n == -1 && fast_nowait) {
			/* Redo it all on a worker, from where it started. */
			c->offset -= got;
			c->left += got;
			chunk_free(buf);
			fast_punt();
			return;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (got > 0)
				break;
			req_fail(req, errno, NULL);
			chunk_free(buf);
			return;
		}
		if (n == 0)
			break;
		got += n;
		c->offset += n;
		c->left -= n;
	}
	if (got == want && c->left > 0)
		req->more = 1;
	eof = got < want;
	if (f != NULL && f->text != NULL) {
		/* One decoder for all parts: characters may span them. */
		char	*out;
		size_t	 outlen;

		if (c->text == NULL)
			c->text = textio_new(textio_encoding(f->text),
			    f->errors, f->newline);
		if (c->text == NULL || textio_feed(c->text, buf, got,
		    !req->more) == -1 || textio_take(c->text, -1, !req->more,
		    &out, &outlen) == -1) {
			hfile_read_error(req, errno);
			chunk_free(buf);
			return;
		}
		chunk_free(buf);
		buf = out;
		got = outlen;
	}
	req_set_data(req, buf, got, eof);
}

/* pwrite(data, offset): does not move the position. */
void
ops_file_pwrite_work(struct req *req)
{
	Aiofs__V1__Pwrite	*m = req->msg->pwrite;
	struct hfile		*f = req->f;
	const uint8_t		*p = m->data.data;
	char			*enc = NULL;
	size_t			 len = m->data.len, done = 0;
	ssize_t			 n;

	if (hfile_begin_write(req, f) == -1)
		return;
	if (m->offset < 0) {
		req_failmsg(req, EINVAL, NULL, "negative offset");
		return;
	}
	if (hfile_flush(f) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	if (f->text != NULL) {
		if (textio_encode(f->text, p, len, &enc, &len) == -1) {
			req_fail(req, errno, NULL);
			return;
		}
		p = (const uint8_t *)enc;
	}
	if (f->spooled) {
		size_t pos = f->spool_pos;

		f->spool_pos = m->offset;
		n = hfile_raw_write(f, p, len);
		if (f->spooled)
			f->spool_pos = pos;
		else
			lseek(f->fd, pos, SEEK_SET);
		done = n == -1 ? 0 : n;
	} else {
		while (done < len) {
			n = pwrite(f->fd, p + done, len - done,
			    m->offset + done);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			done += n;
		}
	}
	free(enc);
	if (done < len) {
		if (done == 0)
			req_fail(req, errno, NULL);
		else
			req_failmsg(req, errno, NULL, "only %zu of %zu bytes "
			    "written", done, len);
		return;
	}
	req_set_count(req, m->data.len);
}

/* fsync/fdatasync: flush, sync; a failure stays on the handle. */
static void
hfile_sync(struct req *req, int data_only)
{
	struct hfile	*f = req->f;

	if (f->sticky_error != 0) {
		req_failmsg(req, f->sticky_error, NULL, "an earlier write-back "
		    "error on this file");
		return;
	}
	if (hfile_flush(f) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	if (f->spooled) {
		req_set_empty(req);
		return;
	}
	if ((data_only ? fdatasync(f->fd) : fsync(f->fd)) == -1) {
		if (errno != EINVAL && errno != EROFS)
			f->sticky_error = errno;
		req_fail(req, errno, NULL);
		return;
	}
	req_set_empty(req);
}

/* fsync(). */
void
ops_file_fsync_work(struct req *req)
{
	hfile_sync(req, 0);
}

/* fdatasync(). */
void
ops_file_fdatasync_work(struct req *req)
{
	hfile_sync(req, 1);
}

/* The file object's attributes. */
void
ops_file_info_work(struct req *req)
{
	hfile_fill_reply(req->f, req->hid, &req->res.file, req);
}

/*
 * Open for a path: fd with O_NONBLOCK so a FIFO cannot hang the worker in
 * open(); directories are refused (EISDIR) as Python does; the flag is
 * cleared again for regular use.
 */
static int
ops_file_open_fd(struct req *req, const char *path, const struct fmode *fm,
    mode_t perm, const char *clientpath, struct stat *sbp)
{
	struct stat	 sb0, *sb = sbp != NULL ? sbp : &sb0;
	int		 fd, fl;

	fd = resolve_open(req, path, fm->oflags | O_NONBLOCK, perm);
	if (fd == -1) {
		req_fail(req, errno, clientpath);
		return (-1);
	}
	if (fstat(fd, sb) == -1) {
		req_fail(req, errno, clientpath);
		close(fd);
		return (-1);
	}
	if (S_ISDIR(sb->st_mode)) {
		req_fail(req, EISDIR, clientpath);
		close(fd);
		return (-1);
	}
	/*
	 * O_NONBLOCK kept a FIFO's open from blocking; later reads may block,
	 * and an fd handed back (OpenFd: sbp NULL) must look as the client
	 * asked.  Reads and writes of a regular file ignore the flag, so the
	 * daemon's own handles on one keep it and save two system calls.
	 */
	if ((sbp == NULL || !S_ISREG(sb->st_mode)) &&
	    (fl = fcntl(fd, F_GETFL)) != -1)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return (fd);
}

/* Parse the mode (unset means "r"; "" is invalid, as in Python). */
static int
ops_file_mode(struct req *req, const char *mode, struct fmode *fm)
{
	if (mode_parse(mode != NULL ? mode : "r", fm) == -1) {
		req_failmsg(req, EINVAL, NULL, "invalid mode: '%s'",
		    mode != NULL ? mode : "");
		return (-1);
	}
	return (0);
}

/* Policy: does this mode write?  EROFS under --read-only. */
static int
ops_file_mode_check(struct req *req, const char *mode)
{
	struct fmode	 fm;

	if (!req->sess->pol->read_only || mode == NULL || *mode == '\0' ||
	    mode_parse(mode, &fm) == -1)
		return (0);
	if (fm.writable || fm.create || fm.trunc || fm.append)
		return (EROFS);
	return (0);
}

/* Policy check of open. */
int
ops_file_open_check(struct req *req)
{
	return (ops_file_mode_check(req, req->msg->open->mode));
}

/* Policy check of openfd. */
int
ops_file_openfd_check(struct req *req)
{
	return (ops_file_mode_check(req, req->msg->openfd->mode));
}

/*
 * Open a wire path with a mode string and creation mode (0 = 0666), as
 * open and openfd do.  Returns the fd, or -1 with the error recorded.
 */
static int
ops_file_open_path(struct req *req, const ProtobufCBinaryData *bin,
    const char *mode, uint32_t perm, struct fmode *fm, char **clientpath,
    struct stat *sb)
{
	char	*path;

	*clientpath = req_memdup(req, bin->data, bin->len);
	if (ops_file_mode(req, mode, fm) == -1 ||
	    resolve_path(req, bin, &path) == -1)
		return (-1);
	return (ops_file_open_fd(req, path, fm, perm != 0 ? perm : 0666,
	    *clientpath, sb));
}

/* open(path, mode, buffering, encoding, errors, newline). */
void
ops_file_open_work(struct req *req)
{
	Aiofs__V1__Open	*m = req->msg->open;
	struct fmode	 fm;
	struct hfile	*f;
	struct stat	 sb;
	char		*clientpath;
	int		 fd;

	fd = ops_file_open_path(req, &m->path, m->mode, m->has_perm ?
	    m->perm : 0, &fm, &clientpath, &sb);
	if (fd == -1)
		return;
	f = hfile_new(fd, &fm, clientpath);
	/*
	 * May the loop read and close it (fast.c)?  On the loop the lookup
	 * could not leave the (local) root fs; a worker asks the fs, unless
	 * the loop never tries anyway.
	 */
	f->local = opts.fast_path && S_ISREG(sb.st_mode) &&
	    (fast_nowait || fast_fs_local(fd));
	if (hfile_setup(req, f, m->has_buffering ? m->buffering : -1,
	    m->encoding, m->errors, m->newline != NULL, m->newline) == -1) {
		hfile_free(f);
		return;
	}
	if (fm.create)
		log_info("conn %llu id %llu: open %s '%s'", req->conn != NULL ?
		    (unsigned long long)req->conn->serial : 0ULL,
		    (unsigned long long)req->id, clientpath, fm.canon);
	req->f = f;
	hfile_fill_reply(f, 0, &req->res.file, req);
}

/* Wrap an fd the client passed (SCM_RIGHTS) as a handle. */
void
ops_file_wrap_work(struct req *req)
{
	Aiofs__V1__Wrap	*m = req->msg->wrap;
	struct fmode	 fm;
	struct hfile	*f;
	char		 name[64];
	const char	*mode = m->mode;
	int		 acc;

	if ((acc = fcntl(req->fd, F_GETFL)) == -1) {
		req_fail(req, errno, NULL);
		return;
	}
	if (mode == NULL || *mode == '\0')
		mode = (acc & O_ACCMODE) == O_RDONLY ? "rb" :
		    (acc & O_ACCMODE) == O_WRONLY ? "wb" : "rb+";
	if (ops_file_mode(req, mode, &fm) == -1)
		return;
	if ((fm.readable && (acc & O_ACCMODE) == O_WRONLY) ||
	    (fm.writable && (acc & O_ACCMODE) == O_RDONLY)) {
		req_failmsg(req, EBADF, NULL, "mode '%s' does not match the "
		    "passed fd's access mode", mode);
		return;
	}
	fm.append = (acc & O_APPEND) != 0;
	if (m->has_name && m->name.len > 0)
		snprintf(name, sizeof name, "%.*s", (int)m->name.len,
		    (const char *)m->name.data);
	else
		snprintf(name, sizeof name, "<fd>");
	f = hfile_new(req->fd, &fm, name);
	req->fd = -1;
	if (hfile_setup(req, f, m->has_buffering ? m->buffering : -1,
	    m->encoding, m->errors, m->newline != NULL, m->newline) == -1) {
		hfile_free(f);
		return;
	}
	req->f = f;
	hfile_fill_reply(f, 0, &req->res.file, req);
}

/* OpenFd: open under policy and hand the fd itself back (broker). */
void
ops_file_openfd_work(struct req *req)
{
	Aiofs__V1__OpenFd	*m = req->msg->openfd;
	struct fmode		 fm;
	char			*clientpath;
	int			 fd;

	fd = ops_file_open_path(req, &m->path, m->mode, m->has_perm ?
	    m->perm : 0, &fm, &clientpath, NULL);
	if (fd == -1)
		return;
	req->fd = fd;
	req_set_empty(req);
}

/* ReadFile: open + read (a range of) the file + close, streamed. */
void
ops_file_readfile_work(struct req *req)
{
	Aiofs__V1__ReadFile	*m = req->msg->readfile;
	struct read_cursor	*c = req->cursor;
	struct spipe		*p;
	struct fmode		 fm;
	struct stat		 sb;
	char			*path, *clientpath, *buf;
	size_t			 want, got = 0;
	int64_t			 size;
	ssize_t			 n;
	int			 rc;

	if (c == NULL) {
		clientpath = req_memdup(req, m->path.data, m->path.len);
		if (resolve_path(req, &m->path, &path) == -1)
			return;
		mode_parse("rb", &fm);
		c = xcalloc(1, sizeof *c);
		c->fd = ops_file_open_fd(req, path, &fm, 0, clientpath, &sb);
		if (c->fd == -1) {
			free(c);
			return;
		}
		c->offset = m->has_offset ? m->offset : 0;
		c->left = m->has_size ? m->size : -1;
		req->cursor = c;
		req->cursor_free = read_cursor_free;
		/*
		 * Size the first buffer from the file: one byte more than
		 * what is left, so a short read says EOF without a second
		 * pread, and a 4 KiB file does not cost a 1 MiB buffer.
		 */
		if (S_ISREG(sb.st_mode)) {
			size = sb.st_size > c->offset ?
			    sb.st_size - c->offset + 1 : 1;
			if (c->left < 0 || size < c->left)
				c->hint = size;
		}
		/* The loop reads only small regular files. */
		if (fast_nowait && (!S_ISREG(sb.st_mode) ||
		    (c->hint > 0 ? c->hint : c->left) > FAST_MAX_IO)) {
			fast_punt();
			return;
		}
	}
	want = c->left < 0 || (size_t)c->left > opts.max_chunk ?
	    opts.max_chunk : (size_t)c->left;
	if (c->hint > 0 && (size_t)c->hint < want)
		want = c->hint;
	if ((rc = ops_file_splice(req, c, c->fd, want, &p, &buf, &got)) == -1)
		return;
	if (rc == 1) {
		c->hint = 0;
		got += p->len;
		if (c->left > 0)
			c->left -= got;
		if (got == want && c->left != 0 && want > 0)
			req->more = 1;
		req_set_spliced(req, p, buf, got - p->len, !req->more);
		return;
	}
	buf = chunk_alloc(want);
	while (got < want) {
		n = fast_pread(c->fd, buf + got, want - got, c->offset);
		if (n == -1 && fast_nowait) {
			/* Redo it all on a worker, from where it started. */
			c->offset -= got;
			if (c->left >= 0)
				c->left += got;
			chunk_free(buf);
			fast_punt();
			return;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			req_fail(req, errno, NULL);
			chunk_free(buf);
			return;
		}
		if (n == 0)
			break;
		got += n;
		c->offset += n;
		if (c->left > 0)
			c->left -= n;
	}
	c->hint = 0;
	if (got == want && c->left != 0 && want > 0)
		req->more = 1;
	req_set_data(req, buf, got, !req->more);
}

/*
 * WriteFile: create/truncate (or append) and write the whole data; with
 * atomic, write a temporary file beside it, fsync, and rename over, so
 * readers see the old or the new contents, never a mix.
 */
void
ops_file_writefile_work(struct req *req)
{
	Aiofs__V1__WriteFile	*m = req->msg->writefile;
	char			*path, *clientpath, tmp[64];
	const char		*last;
	mode_t			 perm = m->has_perm && m->perm != 0 ?
				    m->perm : 0666;
	struct fmode		 fm;
	struct hfile		 hf;
	int			 dfd = -1, fd = -1, i;
	ssize_t			 n;

	clientpath = req_memdup(req, m->path.data, m->path.len);
	if (resolve_path(req, &m->path, &path) == -1)
		return;
	if (!m->atomic) {
		mode_parse(m->append ? "ab" : "wb", &fm);
		if ((fd = ops_file_open_fd(req, path, &fm, perm,
		    clientpath, NULL)) == -1)
			return;
	} else {
		if ((dfd = resolve_parent(req, path, &last)) == -1) {
			req_fail(req, errno, clientpath);
			return;
		}
		for (i = 0; i < 100 && fd == -1; i++) {
			snprintf(tmp, sizeof tmp, ".aiofs-%08x.tmp",
			    (unsigned)random());
			fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
			    O_CLOEXEC | O_NOFOLLOW, perm);
			if (fd == -1 && errno != EEXIST)
				break;
		}
		if (fd == -1) {
			req_fail(req, errno, clientpath);
			close(dfd);
			return;
		}
	}
	memset(&hf, 0, sizeof hf);
	hf.fd = fd;
	n = hfile_raw_write(&hf, m->data.data, m->data.len);
	if (n != (ssize_t)m->data.len || (m->atomic && fsync(fd) == -1)) {
		if (n >= 0 && (size_t)n < m->data.len)
			req_failmsg(req, errno != 0 ? errno : EIO, clientpath,
			    "only %zd of %zu bytes written", n, m->data.len);
		else
			req_fail(req, errno, clientpath);
		close(fd);
		if (m->atomic) {
			unlinkat(dfd, tmp, 0);
			close(dfd);
		}
		return;
	}
	if (close(fd) == -1 && errno != EINTR) {
		req_fail(req, errno, clientpath);
		if (m->atomic) {
			unlinkat(dfd, tmp, 0);
			close(dfd);
		}
		return;
	}
	if (m->atomic) {
		if (renameat(dfd, tmp, dfd, last) == -1) {
			req_fail(req, errno, clientpath);
			unlinkat(dfd, tmp, 0);
			close(dfd);
			return;
		}
		close(dfd);
	}
	log_info("conn %llu id %llu: writefile %s (%zu bytes)",
	    req->conn != NULL ? (unsigned long long)req->conn->serial : 0ULL,
	    (unsigned long long)req->id, clientpath, m->data.len);
	req_set_count(req, m->data.len);
}
