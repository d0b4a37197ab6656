/*
 * config.c - the configuration file (-c FILE), parsed with libinih.
 *
 * Sections:
 *	[global]	daemon-wide settings (socket, workers, max_frame,
 *			max_connections, max_connections_per_uid,
 *			reject_unknown)
 *	[default]	the policy of peers no other section names
 *	[uid:N]		the policy of peers with uid N
 *	[gid:N]		the policy of peers with (primary) gid N
 *
 * Policy keys: root, read_only, strict_paths, allow_fd_passing, tmpdir,
 * max_inflight, max_handles.  A uid section wins over a gid section, which
 * wins over [default].  A uid/gid section starts as a copy of [default]
 * (as it stands when the section begins: put [default] first).  Command
 * line options override the file's [global] and [default] values.
 *
 * The peer's identity comes from SO_PEERCRED at accept, never from a
 * message.  Every policy's root is resolved and opened once, at start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "aiofsd.h"

struct policies	 policies = { NULL, 0 };

struct config_state {
	struct options	*o;
	struct policy	*cur;		/* section being read, or NULL */
	int		 in_global;
	char		 err[256];
};

/* Parse a boolean value. */
static int
config_bool(const char *v, int *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0 || strcmp(v, "on") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "0") == 0 || strcmp(v, "off") == 0)
		*out = 0;
	else
		return (-1);
	return (0);
}

/* Parse an unsigned number within [min, max]. */
static int
config_num(const char *v, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v || *out < min ||
	    *out > max || *v == '-')
		return (-1);
	return (0);
}

/* Set one policy key.  0, or -1 for an unknown key or a bad value. */
int
policy_set(struct policy *p, const char *key, const char *value)
{
	unsigned long long	 n;

	if (strcmp(key, "root") == 0) {
		free(p->root);
		p->root = xstrdup(value);
	} else if (strcmp(key, "tmpdir") == 0) {
		free(p->tmpdir);
		p->tmpdir = xstrdup(value);
	} else if (strcmp(key, "read_only") == 0)
		return (config_bool(value, &p->read_only));
	else if (strcmp(key, "strict_paths") == 0)
		return (config_bool(value, &p->strict_paths));
	else if (strcmp(key, "allow_fd_passing") == 0)
		return (config_bool(value, &p->allow_fd_passing));
	else if (strcmp(key, "max_inflight") == 0) {
		if (config_num(value, 1, 65536, &n) == -1)
			return (-1);
		p->max_inflight = n;
	} else if (strcmp(key, "max_handles") == 0) {
		if (config_num(value, 1, 1 << 20, &n) == -1)
			return (-1);
		p->max_handles = n;
	} else
		return (-1);
	return (0);
}

/* Copy a policy (strings duplicated, root fd not opened). */
static void
policy_copy(struct policy *dst, const struct policy *src)
{
	*dst = *src;
	dst->root = src->root != NULL ? xstrdup(src->root) : NULL;
	dst->tmpdir = src->tmpdir != NULL ? xstrdup(src->tmpdir) : NULL;
	dst->rootfd = -1;
}

/* Set one [global] key. */
static int
config_global(struct options *o, const char *key, const char *value)
{
	unsigned long long	 n;

	if (strcmp(key, "socket") == 0) {
		free(o->socket_path);
		o->socket_path = xstrdup(value);
		return (0);
	}
	if (strcmp(key, "reject_unknown") == 0)
		return (config_bool(value, &o->reject_unknown));
	if (strcmp(key, "impersonate") == 0)
		return (config_bool(value, &o->impersonate));
	if (strcmp(key, "fast_path") == 0)
		return (config_bool(value, &o->fast_path));
	if (strcmp(key, "workers") == 0) {
		if (config_num(value, 1, 1024, &n) == -1)
			return (-1);
		o->workers = n;
	} else if (strcmp(key, "loops") == 0) {
		if (config_num(value, 1, AIOFS_MAX_LOOPS, &n) == -1)
			return (-1);
		o->loops = n;
	} else if (strcmp(key, "max_frame") == 0) {
		if (config_num(value, AIOFS_MIN_MSG, 256U * 1024 * 1024,
		    &n) == -1)
			return (-1);
		o->max_frame = n;
	} else if (strcmp(key, "max_connections") == 0) {
		if (config_num(value, 1, 1 << 20, &n) == -1)
			return (-1);
		o->max_conns = n;
	} else if (strcmp(key, "max_connections_per_uid") == 0) {
		if (config_num(value, 1, 1 << 20, &n) == -1)
			return (-1);
		o->max_conns_per_uid = n;
	} else if (strcmp(key, "max_inflight_total") == 0) {
		if (config_num(value, 1, 1 << 24, &n) == -1)
			return (-1);
		o->max_inflight_all = n;
	} else if (strcmp(key, "max_busy") == 0) {
		if (config_num(value, 1, 1024, &n) == -1)
			return (-1);
		o->max_busy = n;
	} else if (strcmp(key, "memory_budget") == 0) {
		if (config_num(value, 1024 * 1024, 1ULL << 40, &n) == -1)
			return (-1);
		o->mem_budget = n;
	} else if (strcmp(key, "hello_timeout") == 0) {
		if (config_num(value, 1, 3600, &n) == -1)
			return (-1);
		o->hello_secs = n;
	} else if (strcmp(key, "frame_timeout") == 0) {
		if (config_num(value, 1, 3600, &n) == -1)
			return (-1);
		o->frame_secs = n;
	} else if (strcmp(key, "splice_pipes") == 0) {
		if (config_num(value, 0, 1024, &n) == -1)
			return (-1);
		o->splice_pipes = n;
	} else
		return (-1);
	return (0);
}

/* Begin a [uid:N] or [gid:N] section. */
static struct policy *
config_section(struct config_state *st, const char *section)
{
	unsigned long long	 id;
	struct policy		*p;
	int			 is_uid;
	size_t			 i;

	is_uid = strncmp(section, "uid:", 4) == 0;
	if (!is_uid && strncmp(section, "gid:", 4) != 0)
		return (NULL);
	if (config_num(section + 4, 0, UINT32_MAX - 1, &id) == -1)
		return (NULL);
	for (i = 0; i < policies.n; i++)
		if (policies.v[i].is_uid == is_uid && policies.v[i].id == id)
			return (&policies.v[i]);
	policies.v = xreallocarray(policies.v, policies.n + 1,
	    sizeof *policies.v);
	p = &policies.v[policies.n++];
	policy_copy(p, &st->o->policy);
	p->is_uid = is_uid;
	p->id = (uint32_t)id;
	p->keyed = 1;
	return (p);
}

/* libinih handler: one key = value. */
static int
config_handler(void *arg, const char *section, const char *key,
    const char *value)
{
	struct config_state	*st = arg;
	struct policy		*p;

	if (st->err[0] != '\0')
		return (0);
	if (strcmp(section, "global") == 0) {
		if (config_global(st->o, key, value) == -1)
			goto bad;
		return (1);
	}
	if (strcmp(section, "default") == 0)
		p = &st->o->policy;
	else if ((p = config_section(st, section)) == NULL) {
		snprintf(st->err, sizeof st->err, "unknown section [%s]",
		    section);
		return (0);
	}
	if (policy_set(p, key, value) == -1)
		goto bad;
	return (1);
bad:
	snprintf(st->err, sizeof st->err, "[%s] %s = %s: unknown key or bad "
	    "value", section, key, value);
	return (0);
}

/*
 * Read path into o and the keyed policies.  Returns 0, or -1 after
 * writing one clear line into err.
 */
int
config_load(const char *path, struct options *o, char *err, size_t errlen)
{
	struct config_state	 st;
	int			 rc;

	memset(&st, 0, sizeof st);
	st.o = o;
	rc = ini_parse(path, config_handler, &st);
	if (rc == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (st.err[0] != '\0') {
		snprintf(err, errlen, "%s:%d: %s", path, rc, st.err);
		return (-1);
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d: syntax error", path, rc);
		return (-1);
	}
	return (0);
}

/* Resolve and open a policy's root; -1 with a message in err. */
int
policy_open_root(struct policy *p, char *err, size_t errlen)
{
	char	 real[PATH_MAX];

	if (p->root == NULL)
		p->root = xstrdup("/");
	if (realpath(p->root, real) == NULL) {
		snprintf(err, errlen, "root %s: %s", p->root, strerror(errno));
		return (-1);
	}
	p->rootfd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (p->rootfd == -1) {
		snprintf(err, errlen, "root %s: %s", real, strerror(errno));
		return (-1);
	}
	free(p->root);
	p->root = xstrdup(real);
	p->root_local = fast_fs_local(p->rootfd);
	return (0);
}

/* Open every keyed policy's root. */
int
policies_open(char *err, size_t errlen)
{
	size_t	 i;

	for (i = 0; i < policies.n; i++)
		if (policy_open_root(&policies.v[i], err, errlen) == -1)
			return (-1);
	return (0);
}

/* The policy for a peer, or NULL to reject it. */
const struct policy *
policy_lookup(uid_t uid, gid_t gid)
{
	size_t	 i;

	for (i = 0; i < policies.n; i++)
		if (policies.v[i].is_uid && policies.v[i].id == uid)
			return (&policies.v[i]);
	for (i = 0; i < policies.n; i++)
		if (!policies.v[i].is_uid && policies.v[i].id == gid)
			return (&policies.v[i]);
	if (opts.reject_unknown)
		return (NULL);
	return (&opts.policy);
}

/* Free a policy's strings and close its root. */
void
policy_free(struct policy *p)
{
	if (p->rootfd != -1)
		close(p->rootfd);
	free(p->root);
	free(p->tmpdir);
	p->root = p->tmpdir = NULL;
	p->rootfd = -1;
}

/* Free every keyed policy. */
void
policies_free(void)
{
	size_t	 i;

	for (i = 0; i < policies.n; i++)
		policy_free(&policies.v[i]);
	free(policies.v);
	policies.v = NULL;
	policies.n = 0;
}

/* Print the effective configuration (--check-config). */
void
config_print(FILE *fp)
{
	const struct policy	*p;
	size_t			 i;

	fprintf(fp, "[global]\nsocket = %s\nworkers = %d\nloops = %u\n"
	    "max_frame = %u\n"
	    "max_connections = %u\nmax_connections_per_uid = %u\n"
	    "reject_unknown = %s\nmax_inflight_total = %u\nmax_busy = %u\n"
	    "memory_budget = %zu\nhello_timeout = %u\nframe_timeout = %u\n"
	    "impersonate = %s\nfast_path = %s\nsplice_pipes = %u\n",
	    opts.socket_path, opts.workers, opts.loops, opts.max_frame,
	    opts.max_conns,
	    opts.max_conns_per_uid, opts.reject_unknown ? "yes" : "no",
	    opts.max_inflight_all, opts.max_busy, opts.mem_budget,
	    opts.hello_secs, opts.frame_secs, opts.impersonate ? "yes" : "no",
	    opts.fast_path ? "yes" : "no", opts.splice_pipes);
	for (i = 0; i <= policies.n; i++) {
		p = i == 0 ? &opts.policy : &policies.v[i - 1];
		if (i == 0)
			fprintf(fp, "\n[default]\n");
		else
			fprintf(fp, "\n[%s:%u]\n", p->is_uid ? "uid" : "gid",
			    p->id);
		fprintf(fp, "root = %s\nread_only = %s\nstrict_paths = %s\n"
		    "allow_fd_passing = %s\ntmpdir = %s\nmax_inflight = %u\n"
		    "max_handles = %u\n", p->root, p->read_only ? "yes" : "no",
		    p->strict_paths ? "yes" : "no",
		    p->allow_fd_passing ? "yes" : "no",
		    p->tmpdir != NULL ? p->tmpdir : "/tmp", p->max_inflight,
		    p->max_handles);
	}
}
