/*
 * testutil.h - helpers shared by the Check suites: a temporary root, a
 * synchronous way to run an op's *_work() on it (libuv's POST without a
 * callback), and a real aiofsd on a private socket.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>

#include "aiofsd.h"

struct troot {
	char		 path[256];	/* host path of the temp root */
	struct policy	 pol;
	struct session	*sess;
};

void		 troot_init(struct troot *);
void		 troot_free(struct troot *);
char		*troot_host(struct troot *, const char *);
void		 troot_write(struct troot *, const char *, const char *);
void		 troot_mkdir(struct troot *, const char *);
void		 troot_mkdirm(struct troot *, const char *, mode_t);
void		 troot_symlink(struct troot *, const char *, const char *);
char		*troot_read(struct troot *, const char *, size_t *);

/* Build a Request with the given op already set by the caller. */
Request		*treq_msg(void);
struct req	*treq_new(struct troot *, Request *);
void		 treq_run(struct req *);
ProtobufCBinaryData tbin(const char *);

/* A running aiofsd for integration tests. */
struct tdaemon {
	pid_t		 pid;
	char		 dir[64];	/* temp dir: socket + root */
	char		 sock[100];
	char		 root[300];
};
void		 tdaemon_start(struct tdaemon *, const char *const *);
void		 tdaemon_stop(struct tdaemon *);
int		 tdaemon_nfds(struct tdaemon *);
long		 tproc_status_kib(pid_t, const char *);
const char	*test_aiofsd_path(void);

#endif
