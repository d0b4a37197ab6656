/*
 * check_ops_temp.c - tempfile ops run synchronously on a temporary root:
 * what each kind creates, when it goes away, and when a spooled file
 * rolls over to disk.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* A TempFile request of kind in dir (NULL = session tmpdir). */
static struct req *
temp_req(struct troot *t, int kind, const char *dir, int64_t max_size)
{
	Request			*m = treq_msg();
	Aiofs__V1__TempFile	*tf = calloc(1, sizeof *tf);

	aiofs__v1__temp_file__init(tf);
	tf->has_kind = 1;
	tf->kind = kind;
	tf->prefix = strdup("pre");
	tf->suffix = strdup(".suf");
	if (dir != NULL) {
		tf->has_dir = 1;
		tf->dir = tbin(dir);
	}
	if (max_size > 0) {
		tf->has_max_size = 1;
		tf->max_size = max_size;
	}
	m->op_case = AIOFS__V1__REQUEST__OP_TEMPFILE;
	m->tempfile = tf;
	return (treq_new(t, m));
}

/* A Write of len bytes of c on f. */
static int64_t
temp_write(struct troot *t, struct hfile *f, int c, size_t len)
{
	Request			*m = treq_msg();
	Aiofs__V1__Write	*w = calloc(1, sizeof *w);
	struct req		*req;
	int64_t			 n;

	aiofs__v1__write__init(w);
	w->has_handle = w->has_data = 1;
	w->data.len = len;
	w->data.data = malloc(len);
	memset(w->data.data, c, len);
	m->op_case = AIOFS__V1__REQUEST__OP_WRITE;
	m->write = w;
	req = treq_new(t, m);
	req->f = f;
	treq_run(req);
	ck_assert_int_eq(req->error, 0);
	n = req->res.count.count;
	req_free(req);
	return (n);
}

/* pread of everything from offset 0 (small files: one part). */
static char *
temp_pread(struct troot *t, struct hfile *f, size_t size, size_t *len)
{
	Request			*m = treq_msg();
	Aiofs__V1__Pread	*p = calloc(1, sizeof *p);
	struct req		*req;
	char			*out;

	aiofs__v1__pread__init(p);
	p->has_size = p->has_offset = 1;
	p->size = size;
	m->op_case = AIOFS__V1__REQUEST__OP_PREAD;
	m->pread = p;
	req = treq_new(t, m);
	req->f = f;
	treq_run(req);
	ck_assert_int_eq(req->error, 0);
	ck_assert_int_eq(req->more, 0);
	*len = req->buflen;
	out = malloc(req->buflen + 1);
	memcpy(out, req->buf, req->buflen);
	req_free(req);
	return (out);
}

/* Count the entries of a host directory, "." and ".." excluded. */
static int
count_entries(const char *path)
{
	DIR		*d = opendir(path);
	struct dirent	*de;
	int		 n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return (n);
}

START_TEST(test_spooled_rollover_at_max_plus_one)
{
	struct troot	 t;
	struct req	*req;
	struct hfile	*f;
	char		*host, *data;
	size_t		 len, i;

	troot_init(&t);
	host = troot_host(&t, "tmp");
	ck_assert_int_eq(mkdir(host, 0700), 0);
	req = temp_req(&t, AIOFS__V1__TEMP_KIND__SPOOLED_TEMPORARY_FILE, "/tmp",
	    1000);
	treq_run(req);
	ck_assert_int_eq(req->error, 0);
	f = req->f;
	req->f = NULL;
	req_free(req);
	ck_assert_int_eq(f->spooled, 1);
	ck_assert_int_eq(f->fd, -1);

	/* Exactly max_size bytes: still in memory, nothing on disk. */
	ck_assert_int_eq(temp_write(&t, f, 'a', 600), 600);
	ck_assert_int_eq(temp_write(&t, f, 'b', 400), 400);
	ck_assert_int_eq(f->spooled, 1);
	ck_assert_int_eq(count_entries(host), 0);

	/* One more byte: on disk now (anonymous), same handle. */
	ck_assert_int_eq(temp_write(&t, f, 'c', 1), 1);
	ck_assert_int_eq(f->spooled, 0);
	ck_assert_int_ge(f->fd, 0);
	ck_assert_int_eq(count_entries(host), 0);

	data = temp_pread(&t, f, 4096, &len);
	ck_assert_uint_eq(len, 1001);
	for (i = 0; i < 600; i++)
		ck_assert_int_eq(data[i], 'a');
	for (; i < 1000; i++)
		ck_assert_int_eq(data[i], 'b');
	ck_assert_int_eq(data[1000], 'c');
	free(data);
	ck_assert_int_eq(hfile_close(f), 0);
	hfile_free(f);
	free(host);
	troot_free(&t);
}
END_TEST

START_TEST(test_named_removed_on_close)
{
	struct troot	 t;
	struct req	*req;
	struct hfile	*f;
	char		*host;
	struct stat	 sb;

	troot_init(&t);
	troot_mkdir(&t, "tmp");
	req = temp_req(&t, AIOFS__V1__TEMP_KIND__NAMED_TEMPORARY_FILE, NULL, 0);
	treq_run(req);
	ck_assert_int_eq(req->error, 0);
	f = req->f;
	req->f = NULL;
	/* The name the client sees is root-relative, prefix and suffix. */
	ck_assert_int_eq(strncmp(f->name, "/tmp/pre", 8), 0);
	ck_assert_int_eq(strcmp(f->name + strlen(f->name) - 4, ".suf"), 0);
	host = troot_host(&t, f->name + 1);
	ck_assert_int_eq(stat(host, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	req_free(req);
	ck_assert_int_eq(hfile_close(f), 0);
	ck_assert_int_eq(stat(host, &sb), -1);
	ck_assert_int_eq(errno, ENOENT);
	hfile_free(f);
	free(host);
	troot_free(&t);
}
END_TEST

START_TEST(test_directory_removed_recursively)
{
	struct troot	 t;
	struct req	*req;
	struct hfile	*f;
	char		*host, *sub;
	struct stat	 sb;

	troot_init(&t);
	troot_mkdir(&t, "tmp");
	req = temp_req(&t, AIOFS__V1__TEMP_KIND__TEMPORARY_DIRECTORY, NULL, 0);
	treq_run(req);
	ck_assert_int_eq(req->error, 0);
	f = req->f;
	req->f = NULL;
	req_free(req);
	host = troot_host(&t, f->name + 1);
	ck_assert_int_eq(stat(host, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(asprintf(&sub, "%s/a", host) > 0, 1);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	free(sub);
	ck_assert_int_eq(asprintf(&sub, "%s/a/file", host) > 0, 1);
	ck_assert_int_eq(close(open(sub, O_CREAT | O_WRONLY, 0600)), 0);
	free(sub);
	ck_assert_int_eq(hfile_close(f), 0);
	ck_assert_int_eq(stat(host, &sb), -1);
	hfile_free(f);
	free(host);
	troot_free(&t);
}
END_TEST

START_TEST(test_mkstemp_kept_mkdtemp_path)
{
	struct troot	 t;
	struct req	*req;
	struct hfile	*f;
	char		*host;
	struct stat	 sb;

	troot_init(&t);
	troot_mkdir(&t, "d");
	req = temp_req(&t, AIOFS__V1__TEMP_KIND__MKSTEMP, "/d", 0);
	treq_run(req);
	ck_assert_int_eq(req->error, 0);
	f = req->f;
	req->f = NULL;
	req_free(req);
	host = troot_host(&t, f->name + 1);
	ck_assert_int_eq(hfile_close(f), 0);
	ck_assert_int_eq(stat(host, &sb), 0);	/* kept */
	hfile_free(f);
	free(host);

	req = temp_req(&t, AIOFS__V1__TEMP_KIND__MKDTEMP, "/d", 0);
	treq_run(req);
	ck_assert_int_eq(req->error, 0);
	ck_assert_ptr_null(req->f);
	ck_assert_int_eq(req->resp.result_case,
	    AIOFS__V1__RESPONSE__RESULT_PATH);
	host = troot_host(&t, (char *)req->res.path.path.data + 1);
	ck_assert_int_eq(stat(host, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
	free(host);
	req_free(req);
	troot_free(&t);
}
END_TEST

START_TEST(test_bad_prefix_and_dir)
{
	struct troot	 t;
	struct req	*req;
	Request		*m;

	troot_init(&t);
	req = temp_req(&t, AIOFS__V1__TEMP_KIND__NAMED_TEMPORARY_FILE,
	    "/missing", 0);
	treq_run(req);
	ck_assert_int_eq(req->error, ENOENT);
	req_free(req);

	req = temp_req(&t, AIOFS__V1__TEMP_KIND__NAMED_TEMPORARY_FILE, "/", 0);
	m = req->msg;
	free(m->tempfile->prefix);
	m->tempfile->prefix = strdup("../escape");
	treq_run(req);
	ck_assert_int_eq(req->error, EINVAL);
	req_free(req);
	troot_free(&t);
}
END_TEST

Suite *
ops_temp_suite(void)
{
	Suite	*s = suite_create("ops_temp");
	TCase	*tc = tcase_create("tempfile");

	tcase_add_test(tc, test_spooled_rollover_at_max_plus_one);
	tcase_add_test(tc, test_named_removed_on_close);
	tcase_add_test(tc, test_directory_removed_recursively);
	tcase_add_test(tc, test_mkstemp_kept_mkdtemp_path);
	tcase_add_test(tc, test_bad_prefix_and_dir);
	suite_add_tcase(s, tc);
	return (s);
}
