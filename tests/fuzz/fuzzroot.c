/*
 * fuzzroot.c - the fuzzers' temporary root and canary (fuzzroot.h).
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzroot.h"

static const char	*fuzz_prog = "fuzzer";

/* The harness's name, for fuzz_die(). */
void
fuzz_name(const char *name)
{
	fuzz_prog = name;
}

/* Abort with a message: the fuzzer records the input. */
void
fuzz_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", fuzz_prog, what);
	abort();
}

/* Write a small file. */
void
fuzz_write(const char *path, const char *s)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		fuzz_die("cannot write the seed tree");
	close(fd);
}

/* nftw callback: remove everything below the top. */
static int
fuzz_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	if (ftw->level > 0)
		remove(p);
	return (0);
}

/* Empty dir (not crossing into mounts, not following links). */
void
fuzz_clear(const char *dir)
{
	nftw(dir, fuzz_rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Make /tmp/PREFIX.XXXXXX with an empty root and the canary beside it. */
void
fuzz_root_make(struct fuzzroot *fr, const char *prefix)
{
	char	 p[PATH_MAX];

	snprintf(fr->dir, sizeof fr->dir, "/tmp/%s.XXXXXX", prefix);
	if (mkdtemp(fr->dir) == NULL)
		fuzz_die("mkdtemp");
	snprintf(fr->root, sizeof fr->root, "%s/root", fr->dir);
	snprintf(fr->canary, sizeof fr->canary, "%s/canary", fr->dir);
	if (mkdir(fr->root, 0755) == -1 || mkdir(fr->canary, 0755) == -1)
		fuzz_die("mkdir");
	snprintf(p, sizeof p, "%s/secret", fr->canary);
	fuzz_write(p, "CANARY\n");
	if (lstat(fr->canary, &fr->canary_st) == -1 ||
	    lstat(p, &fr->secret_st) == -1)
		fuzz_die("lstat canary");
}

/* Did a change a's times, link count or mode since it was b? */
static int
fuzz_stat_changed(const struct stat *a, const struct stat *b)
{
	return (a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	    a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	    a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	    a->st_ctim.tv_nsec != b->st_ctim.tv_nsec ||
	    a->st_nlink != b->st_nlink ||
	    a->st_mode != b->st_mode);
}

/* The canary (a dir with one file) must not change at all. */
void
fuzz_canary_check(const struct fuzzroot *fr)
{
	struct stat	 a, b;
	char		 p[PATH_MAX];

	snprintf(p, sizeof p, "%s/secret", fr->canary);
	if (lstat(fr->canary, &a) == -1 || lstat(p, &b) == -1)
		fuzz_die("the canary is gone: an op escaped the root");
	if (fuzz_stat_changed(&a, &fr->canary_st))
		fuzz_die("the canary directory changed: an op escaped");
	if (b.st_size != fr->secret_st.st_size ||
	    fuzz_stat_changed(&b, &fr->secret_st))
		fuzz_die("the canary file changed: an op escaped");
}
