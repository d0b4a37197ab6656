/*
 * fuzzroot.h - what the dispatch and sequence fuzzers share: a temporary
 * directory with a root to serve and, next to it, a canary that no op
 * may ever reach.
 */
#ifndef FUZZROOT_H
#define FUZZROOT_H

#include <sys/stat.h>

#include <limits.h>
#include <stddef.h>

struct fuzzroot {
	char		 dir[64];	/* /tmp/PREFIX.XXXXXX */
	char		 root[128];	/* dir/root: served */
	char		 canary[128];	/* dir/canary: a dir with "secret" */
	struct stat	 canary_st;
	struct stat	 secret_st;
};

void	fuzz_name(const char *);
void	fuzz_die(const char *) __attribute__((noreturn));
void	fuzz_write(const char *, const char *);
void	fuzz_clear(const char *);
void	fuzz_root_make(struct fuzzroot *, const char *);
void	fuzz_canary_check(const struct fuzzroot *);

#endif
