/*
 * testutil.c - see testutil.h.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* Make a fresh temporary directory and a session rooted there. */
void
troot_init(struct troot *t)
{
	memset(t, 0, sizeof *t);
	snprintf(t->path, sizeof t->path, "/tmp/aiofs-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->path));
	t->pol.root = t->path;
	t->pol.rootfd = open(t->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(t->pol.rootfd, 0);
	t->pol.max_inflight = AIOFS_MAX_INFLIGHT;
	t->pol.max_handles = AIOFS_MAX_HANDLES;
	t->sess = session_new(&t->pol, "/");
	opts.max_frame = AIOFS_MAX_MSG;
	opts.max_chunk = AIOFS_MAX_CHUNK;
	log_open("check", 1, 0);	/* warnings only */
}

/* Remove the temporary root and everything in it. */
void
troot_free(struct troot *t)
{
	char	 cmd[300];

	session_unref(t->sess);
	close(t->pol.rootfd);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->path);
	ck_assert_int_eq(system(cmd), 0);
}

/* Host path of a root-relative path (caller frees). */
char *
troot_host(struct troot *t, const char *rel)
{
	char	*p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", t->path, rel), 0);
	return (p);
}

/* Create a directory (0700) inside the root. */
void
troot_mkdir(struct troot *t, const char *rel)
{
	troot_mkdirm(t, rel, 0700);
}

/* Create a directory inside the root with the given mode. */
void
troot_mkdirm(struct troot *t, const char *rel, mode_t mode)
{
	char	*p = troot_host(t, rel);

	ck_assert_msg(mkdir(p, mode) == 0, "mkdir %s: %s", p, strerror(errno));
	free(p);
}

/* Create a symlink inside the root: rel -> target. */
void
troot_symlink(struct troot *t, const char *target, const char *rel)
{
	char	*p = troot_host(t, rel);

	ck_assert_msg(symlink(target, p) == 0, "symlink %s: %s", p,
	    strerror(errno));
	free(p);
}

/* Create a file with the given contents inside the root. */
void
troot_write(struct troot *t, const char *rel, const char *contents)
{
	char	*p = troot_host(t, rel);
	FILE	*f = fopen(p, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(contents, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	free(p);
}

/* Read a file inside the root (NULL if missing); caller frees. */
char *
troot_read(struct troot *t, const char *rel, size_t *lenp)
{
	char	*p = troot_host(t, rel), *buf;
	FILE	*f = fopen(p, "r");
	size_t	 n;

	free(p);
	if (f == NULL)
		return (NULL);
	buf = malloc(1 << 20);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	if (lenp != NULL)
		*lenp = n;
	return (buf);
}

/* A new, empty Request message (freed with the req). */
Request *
treq_msg(void)
{
	Request	*m = calloc(1, sizeof *m);

	aiofs__v1__request__init(m);
	return (m);
}

/*
 * A req for msg outside any connection.  The message must have been
 * allocated so that aiofs__v1__request__free_unpacked() can free it: use
 * treq_msg() and calloc'd sub-messages.
 */
struct req *
treq_new(struct troot *t, Request *msg)
{
	struct req	*req = req_new(NULL, msg);

	req->sess = session_ref(t->sess);
	req->op = dispatch_lookup(msg->op_case);
	ck_assert_ptr_nonnull(req->op);
	return (req);
}

/* Run the op synchronously, as a worker would. */
void
treq_run(struct req *req)
{
	req->op->work(req);
}

/* A binary field from a C string (the bytes are strdup'd). */
ProtobufCBinaryData
tbin(const char *s)
{
	ProtobufCBinaryData	 b;

	b.len = strlen(s);
	b.data = (uint8_t *)strdup(s);
	return (b);
}

/* Path of the aiofsd binary under test ($AIOFSD, else the build's). */
const char *
test_aiofsd_path(void)
{
	const char	*p = getenv("AIOFSD");

	return (p != NULL ? p : AIOFSD_BUILD_PATH);
}

/* Start aiofsd -f on a private socket with extra args; wait until ready. */
void
tdaemon_start(struct tdaemon *d, const char *const *extra)
{
	const char		*argv[32];
	struct sockaddr_un	 sun;
	int			 i, n = 0, s;

	memset(d, 0, sizeof *d);
	snprintf(d->dir, sizeof d->dir, "/tmp/aiofsd-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->dir));
	snprintf(d->sock, sizeof d->sock, "%s/s", d->dir);
	snprintf(d->root, sizeof d->root, "%s/root", d->dir);
	ck_assert_int_eq(mkdir(d->root, 0755), 0);

	argv[n++] = test_aiofsd_path();
	argv[n++] = "-f";
	argv[n++] = "-q";
	argv[n++] = "-s";
	argv[n++] = d->sock;
	argv[n++] = "-r";
	argv[n++] = d->root;
	argv[n++] = "-w";
	argv[n++] = "4";
	for (i = 0; extra != NULL && extra[i] != NULL && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", d->sock);
	for (i = 0; i < 1000; i++) {
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(s, (struct sockaddr *)&sun, sizeof sun) == 0) {
			close(s);
			return;
		}
		close(s);
		usleep(10000);
	}
	ck_abort_msg("aiofsd did not start on %s", d->sock);
}

/* SIGTERM the daemon, check it exits 0 and removed its socket. */
void
tdaemon_stop(struct tdaemon *d)
{
	char	 cmd[300];
	int	 status;

	if (d->pid > 0) {
		ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
		ck_assert_int_eq(waitpid(d->pid, &status, 0), d->pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "aiofsd exit status %d", status);
		ck_assert_int_eq(access(d->sock, F_OK), -1);
		d->pid = 0;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/*
 * A "kB" line of /proc/PID/status (field "VmRSS", "VmHWM"...) in KiB, or
 * -1 if the process or the line is not there.
 */
long
tproc_status_kib(pid_t pid, const char *field)
{
	char	 path[64], line[256];
	size_t	 len = strlen(field);
	FILE	*fp;
	long	 kib = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, fp) != NULL)
		if (strncmp(line, field, len) == 0 && line[len] == ':' &&
		    sscanf(line + len + 1, "%ld", &kib) == 1)
			break;
	fclose(fp);
	return (kib);
}

/* Count the daemon's open fds through /proc. */
int
tdaemon_nfds(struct tdaemon *d)
{
	char		 p[64];
	DIR		*dir;
	struct dirent	*de;
	int		 n = 0;

	snprintf(p, sizeof p, "/proc/%d/fd", (int)d->pid);
	dir = opendir(p);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return (n);
}
