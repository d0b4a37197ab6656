/*
 * creds.c - --impersonate: run each operation with the peer's filesystem
 * identity.
 *
 * fsuid, fsgid and the supplementary groups are per-thread in the kernel,
 * but glibc's setgroups() (like the whole setuid family) broadcasts the
 * change to every thread of the process.  So each worker sets them with
 * raw syscalls for one request, and puts the daemon's own back before it
 * serves anyone else.  Moving fsuid away from 0 also drops the effective
 * file capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER, ...) of that thread
 * only, and moving it back restores them: permission checks, and the
 * owner of what is created, are the peer's.
 */
#include <sys/syscall.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aiofsd.h"

#define CREDS_MAX_GROUPS	256

static gid_t	 creds_own_groups[CREDS_MAX_GROUPS];
static int	 creds_own_ngroups;

/* Remember the daemon's own groups.  -1 if not root (needed). */
int
creds_init(void)
{
	if (geteuid() != 0) {
		errno = EPERM;
		return (-1);
	}
	creds_own_ngroups = getgroups(CREDS_MAX_GROUPS, creds_own_groups);
	if (creds_own_ngroups == -1)
		return (-1);
	return (0);
}

/*
 * The supplementary groups of uid (from the user database), with gid
 * first.  Loop thread, at accept.  A uid without a passwd entry has just
 * its primary group.
 */
void
creds_lookup(uid_t uid, gid_t gid, gid_t **groups, int *ngroups)
{
	struct passwd	 pw, *res = NULL;
	char		 buf[4096];
	gid_t		*g;
	int		 n = CREDS_MAX_GROUPS;

	g = xcalloc(CREDS_MAX_GROUPS, sizeof *g);
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || res == NULL ||
	    getgrouplist(pw.pw_name, gid, g, &n) == -1) {
		g[0] = gid;
		n = 1;
	}
	*groups = g;
	*ngroups = n;
}

/* Take on the peer's identity for one request (worker thread). */
int
creds_enter(const struct session *s)
{
	if (syscall(SYS_setgroups, s->ngroups, s->groups) == -1)
		return (-1);
	syscall(SYS_setfsgid, s->gid);
	syscall(SYS_setfsuid, s->uid);
	/* setfs*id() report no errors: read them back. */
	if ((uid_t)syscall(SYS_setfsuid, -1) != s->uid ||
	    (gid_t)syscall(SYS_setfsgid, -1) != s->gid) {
		creds_leave();
		errno = EPERM;
		return (-1);
	}
	return (0);
}

/* Back to the daemon's own identity (worker thread). */
void
creds_leave(void)
{
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
	if (syscall(SYS_setgroups, creds_own_ngroups, creds_own_groups) == -1)
		fatal("restoring the worker's groups");
	if ((uid_t)syscall(SYS_setfsuid, -1) != 0)
		fatalx("restoring the worker's fsuid");
}
