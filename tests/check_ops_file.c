/*
 * check_ops_file.c - file-handle ops run synchronously (no socket) on a
 * temporary root: buffering, positions, text mode, offset I/O, wrapped
 * pipes.  End-to-end behaviour is in check_client.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define OPC(x)	AIOFS__V1__REQUEST__OP_##x

/* Open path with mode (and text options); returns the hfile. */
static struct hfile *
fopen_(struct troot *t, const char *path, const char *mode, int buffering,
    const char *newline)
{
	Request		*m = treq_msg();
	Aiofs__V1__Open	*o = calloc(1, sizeof *o);
	struct req	*req;
	struct hfile	*f;

	aiofs__v1__open__init(o);
	o->has_path = 1;
	o->path = tbin(path);
	o->mode = strdup(mode);
	o->has_buffering = 1;
	o->buffering = buffering;
	if (newline != NULL)
		o->newline = strdup(newline);
	m->op_case = OPC(OPEN);
	m->open = o;
	req = treq_new(t, m);
	treq_run(req);
	ck_assert_msg(req->error == 0, "open %s %s: %s", path, mode,
	    req->errmsg != NULL ? req->errmsg : strerror(req->error));
	f = req->f;
	req->f = NULL;
	req_free(req);
	return (f);
}

/* Run a handle op message on f; returns the req (caller frees). */
static struct req *
hop(struct troot *t, struct hfile *f, Request *m)
{
	struct req	*req = treq_new(t, m);

	req->f = f;
	treq_run(req);
	return (req);
}

/* write(data) on f: returns the count. */
static int64_t
fwrite_(struct troot *t, struct hfile *f, const char *data)
{
	Request			*m = treq_msg();
	Aiofs__V1__Write	*w = calloc(1, sizeof *w);
	struct req		*req;
	int64_t			 n;

	aiofs__v1__write__init(w);
	w->has_data = 1;
	w->data = tbin(data);
	m->op_case = OPC(WRITE);
	m->write = w;
	req = hop(t, f, m);
	ck_assert_int_eq(req->error, 0);
	n = req->res.count.count;
	req_free(req);
	return (n);
}

/* read of kind with size: returns a malloc'd string (one part). */
static char *
fread_(struct troot *t, struct hfile *f, int64_t size, int kind, int *err)
{
	Request		*m = treq_msg();
	Aiofs__V1__Read	*r = calloc(1, sizeof *r);
	struct req	*req;
	char		*out;

	aiofs__v1__read__init(r);
	r->has_size = r->has_kind = 1;
	r->size = size;
	r->kind = kind;
	m->op_case = OPC(READ);
	m->read = r;
	req = hop(t, f, m);
	*err = req->error;
	out = req->error == 0 ? strndup(req->buf != NULL ? req->buf : "",
	    req->buflen) : NULL;
	req_free(req);
	return (out);
}

/* A handle-only op (flush, tell, fsync...) and its count result. */
static int64_t
simple(struct troot *t, struct hfile *f, int opcase, int *err)
{
	Request			*m = treq_msg();
	Aiofs__V1__Handle	*h = calloc(1, sizeof *h);
	struct req		*req;
	int64_t			 n;

	aiofs__v1__handle__init(h);
	m->op_case = opcase;
	if (opcase == OPC(FLUSH))
		m->flush = h;
	else if (opcase == OPC(TELL))
		m->tell = h;
	else
		m->fsync = h;
	req = hop(t, f, m);
	*err = req->error;
	n = req->res.count.count;
	req_free(req);
	return (n);
}

/* seek(offset, whence). */
static int64_t
seek_(struct troot *t, struct hfile *f, int64_t off, int whence, int *err)
{
	Request		*m = treq_msg();
	Aiofs__V1__Seek	*s = calloc(1, sizeof *s);
	struct req	*req;
	int64_t		 n;

	aiofs__v1__seek__init(s);
	s->has_offset = s->has_whence = 1;
	s->offset = off;
	s->whence = whence;
	m->op_case = OPC(SEEK);
	m->seek = s;
	req = hop(t, f, m);
	*err = req->error;
	n = req->res.count.count;
	req_free(req);
	return (n);
}

/* Size of a host file in the root. */
static off_t
host_size(struct troot *t, const char *rel)
{
	char		*p = troot_host(t, rel);
	struct stat	 sb;

	ck_assert_int_eq(stat(p, &sb), 0);
	free(p);
	return (sb.st_size);
}

START_TEST(test_buffered_write_needs_flush)
{
	struct troot	 t;
	struct hfile	*f;
	int		 err;

	troot_init(&t);
	f = fopen_(&t, "/b.bin", "wb", 4096, NULL);
	ck_assert_int_eq(fwrite_(&t, f, "hello"), 5);
	ck_assert_int_eq(host_size(&t, "b.bin"), 0);	/* in wbuf */
	ck_assert_int_eq(simple(&t, f, OPC(TELL), &err), 5);
	ck_assert_int_eq(err, 0);
	simple(&t, f, OPC(FLUSH), &err);
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(host_size(&t, "b.bin"), 5);
	ck_assert_int_eq(hfile_close(f), 0);
	hfile_free(f);

	/* buffering=0 writes through. */
	f = fopen_(&t, "/u.bin", "wb", 0, NULL);
	ck_assert_int_eq(fwrite_(&t, f, "abc"), 3);
	ck_assert_int_eq(host_size(&t, "u.bin"), 3);
	ck_assert_int_eq(hfile_close(f), 0);
	hfile_free(f);
	troot_free(&t);
}
END_TEST

START_TEST(test_line_buffered_text)
{
	struct troot	 t;
	struct hfile	*f;

	troot_init(&t);
	f = fopen_(&t, "/l.txt", "w", 1, NULL);
	ck_assert_int_eq(fwrite_(&t, f, "no newline"), 10);
	ck_assert_int_eq(host_size(&t, "l.txt"), 0);
	ck_assert_int_eq(fwrite_(&t, f, " now\n"), 5);
	ck_assert_int_eq(host_size(&t, "l.txt"), 15);
	ck_assert_int_eq(hfile_close(f), 0);
	hfile_free(f);
	troot_free(&t);
}
END_TEST

START_TEST(test_read_kinds_and_positions)
{
	struct troot	 t;
	struct hfile	*f;
	char		*s;
	int		 err;

	troot_init(&t);
	troot_write(&t, "r.bin", "line one\nline two\nrest");
	f = fopen_(&t, "/r.bin", "rb", -1, NULL);
	s = fread_(&t, f, 4, AIOFS__V1__READ_KIND__PEEK, &err);
	ck_assert_int_eq(err, 0);
	ck_assert_str_eq(s, "line one\nline two\nrest");	/* whole buffer */
	free(s);
	s = fread_(&t, f, -1, AIOFS__V1__READ_KIND__READLINE, &err);
	ck_assert_str_eq(s, "line one\n");
	free(s);
	ck_assert_int_eq(simple(&t, f, OPC(TELL), &err), 9);
	s = fread_(&t, f, 4, AIOFS__V1__READ_KIND__READLINE, &err);
	ck_assert_str_eq(s, "line");
	free(s);
	s = fread_(&t, f, 3, AIOFS__V1__READ_KIND__READ, &err);
	ck_assert_str_eq(s, " tw");
	free(s);
	ck_assert_int_eq(simple(&t, f, OPC(TELL), &err), 16);
	ck_assert_int_eq(seek_(&t, f, -4, 2, &err), 18);
	s = fread_(&t, f, -1, AIOFS__V1__READ_KIND__READALL, &err);
	ck_assert_str_eq(s, "rest");
	free(s);
	ck_assert_int_eq(seek_(&t, f, -1, 0, &err), 0);
	ck_assert_int_eq(err, EINVAL);
	ck_assert_int_eq(seek_(&t, f, 0, 7, &err), 0);
	ck_assert_int_eq(err, EINVAL);
	ck_assert_int_eq(hfile_close(f), 0);
	hfile_free(f);
	troot_free(&t);
}
END_TEST

START_TEST(test_text_counts_characters)
{
	struct troot	 t;
	struct hfile	*f;
	char		*s;
	int		 err;

	troot_init(&t);
	troot_write(&t, "u.txt", "h\xc3\xa9llo\r\nw\xc3\xb6rld \xe2\x82\xac");
	f = fopen_(&t, "/u.txt", "r", -1, NULL);
	s = fread_(&t, f, 2, AIOFS__V1__READ_KIND__READ, &err);
	ck_assert_str_eq(s, "h\xc3\xa9");
	free(s);
	s = fread_(&t, f, -1, AIOFS__V1__READ_KIND__READLINE, &err);
	ck_assert_str_eq(s, "llo\n");		/* universal newline */
	free(s);
	/* tell is a byte offset: 1 + 2 + 3 + 2. */
	ck_assert_int_eq(simple(&t, f, OPC(TELL), &err), 8);
	s = fread_(&t, f, -1, AIOFS__V1__READ_KIND__READ, &err);
	ck_assert_str_eq(s, "w\xc3\xb6rld \xe2\x82\xac");
	free(s);
	/* Text files refuse nonzero relative seeks, like Python. */
	seek_(&t, f, 1, 1, &err);
	ck_assert_int_eq(err, EINVAL);
	ck_assert_int_eq(hfile_close(f), 0);
	hfile_free(f);

	/* newline='' keeps \r\n. */
	f = fopen_(&t, "/u.txt", "r", -1, "");
	s = fread_(&t, f, -1, AIOFS__V1__READ_KIND__READLINE, &err);
	ck_assert_str_eq(s, "h\xc3\xa9llo\r\n");
	free(s);
	ck_assert_int_eq(hfile_close(f), 0);
	hfile_free(f);
	troot_free(&t);
}
END_TEST

START_TEST(test_write_mode_refuses_read)
{
	struct troot	 t;
	struct hfile	*f;
	char		*s;
	int		 err;

	troot_init(&t);
	f = fopen_(&t, "/w.bin", "wb", -1, NULL);
	s = fread_(&t, f, 1, AIOFS__V1__READ_KIND__READ, &err);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(err, EBADF);
	ck_assert_int_eq(hfile_close(f), 0);
	hfile_free(f);
	troot_free(&t);
}
END_TEST

START_TEST(test_wrap_pipe_is_not_seekable)
{
	struct troot	 t;
	Request		*m = treq_msg();
	Aiofs__V1__Wrap	*w = calloc(1, sizeof *w);
	struct req	*req;
	struct hfile	*f;
	int		 p[2], err;
	char		 buf[8];

	troot_init(&t);
	ck_assert_int_eq(pipe(p), 0);
	aiofs__v1__wrap__init(w);
	w->mode = strdup("wb");
	w->has_buffering = 1;
	w->buffering = 0;
	m->op_case = OPC(WRAP);
	m->wrap = w;
	req = treq_new(&t, m);
	req->fd = p[1];
	treq_run(req);
	ck_assert_int_eq(req->error, 0);
	ck_assert_int_eq(req->fd, -1);		/* taken over */
	f = req->f;
	req->f = NULL;
	req_free(req);
	ck_assert_int_eq(f->seekable, 0);
	ck_assert_int_eq(f->isatty, 0);
	ck_assert_int_eq(fwrite_(&t, f, "ping"), 4);
	ck_assert_int_eq(read(p[0], buf, sizeof buf), 4);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	seek_(&t, f, 0, 0, &err);
	ck_assert_int_eq(err, ESPIPE);
	simple(&t, f, OPC(TELL), &err);
	ck_assert_int_eq(err, ESPIPE);
	ck_assert_int_eq(hfile_close(f), 0);
	hfile_free(f);
	close(p[0]);
	troot_free(&t);
}
END_TEST

START_TEST(test_open_errors)
{
	struct troot	 t;
	Request		*m;
	Aiofs__V1__Open	*o;
	struct req	*req;
	const char	*paths[] = { "/nope", "/", "/x\0y", "/d" };
	const char	*modes[] = { "r", "r", "r", "rw" };
	int		 want[] = { ENOENT, EISDIR, EINVAL, EINVAL };
	size_t		 i;

	troot_init(&t);
	troot_mkdir(&t, "d");
	for (i = 0; i < 4; i++) {
		m = treq_msg();
		o = calloc(1, sizeof *o);
		aiofs__v1__open__init(o);
		o->has_path = 1;
		o->path.len = i == 2 ? 4 : strlen(paths[i]);
		o->path.data = malloc(o->path.len);
		memcpy(o->path.data, paths[i], o->path.len);
		o->mode = strdup(modes[i]);
		m->op_case = OPC(OPEN);
		m->open = o;
		req = treq_new(&t, m);
		treq_run(req);
		ck_assert_msg(req->error == want[i], "%zu: got %d", i,
		    req->error);
		ck_assert_ptr_null(req->f);
		req_free(req);
	}
	troot_free(&t);
}
END_TEST

Suite *
ops_file_suite(void)
{
	Suite	*s = suite_create("ops_file");
	TCase	*tc = tcase_create("file");

	tcase_add_test(tc, test_buffered_write_needs_flush);
	tcase_add_test(tc, test_line_buffered_text);
	tcase_add_test(tc, test_read_kinds_and_positions);
	tcase_add_test(tc, test_text_counts_characters);
	tcase_add_test(tc, test_write_mode_refuses_read);
	tcase_add_test(tc, test_wrap_pipe_is_not_seekable);
	tcase_add_test(tc, test_open_errors);
	suite_add_tcase(s, tc);
	return (s);
}
