/*
 * secutil.h - helpers of the security suite (tests/security): a canary
 * tree outside the root that must never change, the hostile tree inside
 * the root, a real aiofsd started with the knobs the attacks need (private
 * mount namespace, resource limits, parent-death signal), an audit of the
 * daemon's open fds, and a raw protocol client for malformed traffic.
 */
#ifndef SECUTIL_H
#define SECUTIL_H

#include <sys/resource.h>
#include <sys/types.h>

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <check.h>

#include "aiofs.h"
#include "aiofsd.h"

/* Markers: no reply may ever carry CANARY_MARK. */
#define CANARY_MARK	"CANARY"
#define DECOY_SECRET	"DECOY-SECRET\n"
#define CANARY_SECRET	"CANARY-SECRET\n"

/* One object of the canary tree as it was made. */
struct canary_ent {
	char		*rel;		/* "": the canary dir */
	mode_t		 mode;
	uid_t		 uid;
	gid_t		 gid;
	off_t		 size;
	nlink_t		 nlink;
	ino_t		 ino;
	dev_t		 dev;
	struct timespec	 atime;
	struct timespec	 mtime;
	struct timespec	 ctime;
	uint64_t	 hash;		/* contents or link text */
};

/* A tree outside every root: /tmp/aiofs-canary.XXXXXX. */
struct canary {
	char		 dir[128];	/* host path */
	const char	*base;		/* "aiofs-canary.XXXXXX" */
	struct canary_ent *v;
	size_t		 n;
	int		 attached;	/* a root: reads allowed, kept */
};
void		 canary_init(struct canary *);
void		 canary_attach(struct canary *, const char *);
void		 canary_free(struct canary *);
void		 canary_check(const struct canary *, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
int		 canary_has_ino(const struct canary *, dev_t, ino_t);
int		 canary_leaks(const struct canary *, const aiofs_req_t *,
		     char *, size_t);

/*
 * The hostile tree, rebuilt inside root (everything but mount points is
 * removed first).  Decoys mirror the canary at root/<canary dir> and at
 * root/<canary base>, so that an escape confined by RESOLVE_IN_ROOT lands
 * on a decoy that says DECOY.
 */
void		 hostile_build(const char *, const struct canary *);

/* A real aiofsd. */
struct secd {
	pid_t		 pid;
	char		 dir[64];	/* /tmp/aiofs-sec.XXXXXX */
	char		 sock[128];
	char		 root[128];	/* realpath */
};
struct secd_opts {
	rlim_t		 fsize;		/* RLIMIT_FSIZE; 0: none */
	int		 ignore_xfsz;	/* daemon ignores SIGXFSZ */
	int		 no_root_arg;	/* no -r (config test) */
	int		 workers;	/* 0 = 4 */
	int		 tmpfs;		/* dir on a tmpfs */
};
void		 secd_start(struct secd *, const char *const *,
		     const struct secd_opts *);
void		 secd_start_in(struct secd *, const char *,
		     const char *const *, const struct secd_opts *);
void		 secd_stop(struct secd *);
void		 secd_cleanup(struct secd *);
int		 secd_alive(struct secd *);
void		 secd_settle(const struct secd *);
int		 secd_nfds(const struct secd *);
long		 secd_rss_kb(const struct secd *);
int		 secd_fd_audit(const struct secd *, char *, size_t);
void		 secd_open_perms(const struct secd *);

/* A thread that audits the daemon's fds until stopped. */
struct fdwatch {
	const struct secd *d;
	pthread_t	 thr;
	volatile int	 stop;
	unsigned long	 scans;
	int		 bad;
	char		 what[512];
};
void		 fdwatch_start(struct fdwatch *, const struct secd *);
void		 fdwatch_stop(struct fdwatch *);

/* libaiofs clients. */
aiofs_t		*sec_connect(const struct secd *);
int		 sec_try_connect(const struct secd *, aiofs_t **);

/* Raw protocol. */
int		 raw_connect(const char *);
int		 raw_write(int, const void *, size_t);
int		 raw_send_frame(int, const void *, size_t);
int		 raw_send_req(int, const Request *);
int		 raw_send_fds(int, const void *, size_t, const int *, int);
size_t		 raw_pack(const Request *, uint8_t **);
Response	*raw_recv(int, int);
int		 raw_hello(int);
int		 raw_wait_closed(int, int);
void		 raw_req_init(Request *, uint64_t);

/* Host helpers. */
void		 sec_rm_rf(const char *);
void		 sec_write(const char *, const char *);
char		*sec_read(const char *, size_t *);
int		 sec_file_is(const char *, const char *);
int		 sec_private_mounts(void);
int		 sec_run_as(uid_t, gid_t, int (*)(void *), void *);
uint64_t	 sec_now_ms(void);
void		 sec_quiet_sigpipe(void);

#endif /* SECUTIL_H */
