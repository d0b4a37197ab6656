/*
 * aiofs-cli.c - aiofs(1): every aiofsd operation from the shell.
 *
 * main() parses the global options, finds the command in a const table
 * (name, operand counts, options, usage) and checks the command line
 * before it connects, so that a usage error (exit 2) never needs the
 * daemon.  Each handler then makes its calls through the public libaiofs
 * API, synchronously (NULL callback) except where it streams data or
 * shows progress, and returns the exit status:
 *
 *	0 success or true, 1 a predicate is false, 2 usage error,
 *	3 the operation failed, 4 the daemon is unreachable or broke.
 *
 * Output goes through a few helpers so that plain and --json agree: kv_*
 * prints key=value lines or one JSON object, json_str() escapes strings
 * (bytes that are not valid UTF-8 become \u00XX, their Latin-1 value),
 * and cli_fail() prints every operation error in one format, on stderr
 * (plain) or as a JSON object on stdout (--json).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aiofs.h"

#define CLI_CHUNK	(1024 * 1024)	/* bytes per read or write request */
#define CAT_DEPTH	4		/* reads queued per file by cat */
#define CLI_MAXOPTS	4		/* options of one command */
#define CLI_KVDEPTH	4		/* nesting of kv objects */

#define EXIT_TRUE	0
#define EXIT_FALSE	1
#define EXIT_USAGE	2
#define EXIT_FAIL	3
#define EXIT_CONN	4

#define PROGRESS_DELAY	0.5		/* seconds before the first draw */
#define PROGRESS_EVERY	0.1		/* seconds between draws */

/* A command option: a flag, or one that takes a value. */
struct cli_optdef {
	const char	*name;		/* "-p" or "--suffix" */
	int		 hasarg;
};

struct cli;

/* Path operations of libaiofs that the generic handlers call. */
typedef int	(*cli_path1_fn)(aiofs_t *, aiofs_req_t *, const char *,
		    aiofs_cb);
typedef int	(*cli_path2_fn)(aiofs_t *, aiofs_req_t *, const char *,
		    const char *, aiofs_cb);

/* One command of the table. */
struct cli_cmd {
	const char		*name;
	int			 min;		/* operands */
	int			 max;		/* -1: no limit */
	int			(*fn)(struct cli *, char **);
	int			 arg;		/* for shared handlers */
	const struct cli_optdef	*opts;		/* NULL-terminated, or NULL */
	const char		*usage;		/* what follows the name */
	cli_path1_fn		 p1;
	cli_path2_fn		 p2;
};

/* The state of one run. */
struct cli {
	aiofs_t			*h;
	const char		*sock;
	const struct cli_cmd	*cmd;
	int			 json;
	int			 argc;		/* operands */
	const char		*opt[CLI_MAXOPTS]; /* by index; NULL: unset */
};

/* A key=value (plain) or JSON object printer. */
struct kv {
	int		 json;
	int		 depth;
	int		 first[CLI_KVDEPTH];
	size_t		 plen[CLI_KVDEPTH];
	char		 prefix[256];
};

/* A progress line on a terminal stderr. */
struct progress {
	int		 on;
	const char	*cmd;
	const char	*label;
	int64_t		 total;		/* -1: unknown */
	int64_t		 done;		/* -1: unknown */
	double		 start;
	double		 last;
	int		 drawn;
};

/* What a generic handler prints on success. */
enum {
	OUT_NONE = 0,
	OUT_BOOL,
	OUT_PATH
};

/* Which stat field getsize/getatime/getmtime/getctime print. */
enum {
	GET_SIZE = 0,
	GET_ATIME,
	GET_MTIME,
	GET_CTIME
};

/* Option indexes, per command. */
enum { OPT_STAT_NOFOLLOW = 0 };
enum { OPT_MKDIR_P = 0, OPT_MKDIR_M };
enum { OPT_LN_S = 0 };
enum { OPT_MKTEMP_D = 0, OPT_MKTEMP_SUFFIX, OPT_MKTEMP_PREFIX, OPT_MKTEMP_DIR };
enum { OPT_STATS_PROM = 0 };

static int	cmd_ping(struct cli *, char **);
static int	cmd_cat(struct cli *, char **);
static int	cmd_write(struct cli *, char **);
static int	cmd_stat(struct cli *, char **);
static int	cmd_statvfs(struct cli *, char **);
static int	cmd_ls(struct cli *, char **);
static int	cmd_scandir(struct cli *, char **);
static int	cmd_mkdir(struct cli *, char **);
static int	cmd_path1(struct cli *, char **);
static int	cmd_path2(struct cli *, char **);
static int	cmd_ln(struct cli *, char **);
static int	cmd_access(struct cli *, char **);
static int	cmd_get(struct cli *, char **);
static int	cmd_getcwd(struct cli *, char **);
static int	cmd_copy(struct cli *, char **);
static int	cmd_mktemp(struct cli *, char **);
static int	cmd_stats(struct cli *, char **);
static int	cmd_chmod(struct cli *, char **);
static int	cmd_touch(struct cli *, char **);
static int	cmd_walk(struct cli *, char **);

static const struct cli_optdef	opts_stat[] = {
	{ "--no-follow", 0 }, { NULL, 0 }
};
static const struct cli_optdef	opts_mkdir[] = {
	{ "-p", 0 }, { "-m", 1 }, { NULL, 0 }
};
static const struct cli_optdef	opts_ln[] = {
	{ "-s", 0 }, { NULL, 0 }
};
static const struct cli_optdef	opts_mktemp[] = {
	{ "-d", 0 }, { "--suffix", 1 }, { "--prefix", 1 }, { "--dir", 1 },
	{ NULL, 0 }
};
static const struct cli_optdef	opts_stats[] = {
	{ "--prometheus", 0 }, { NULL, 0 }
};

/* The commands, in the order --help lists them. */
static const struct cli_cmd	cli_cmds[] = {
	{ "ping", 0, 0, cmd_ping, 0, NULL, "", NULL, NULL },
	{ "cat", 1, -1, cmd_cat, 0, NULL, "PATH...", NULL, NULL },
	{ "write", 1, 1, cmd_write, 0, NULL, "PATH", NULL, NULL },
	{ "append", 1, 1, cmd_write, 1, NULL, "PATH", NULL, NULL },
	{ "stat", 1, 1, cmd_stat, 0, opts_stat, "[--no-follow] PATH",
	    NULL, NULL },
	{ "statvfs", 1, 1, cmd_statvfs, 0, NULL, "PATH", NULL, NULL },
	{ "ls", 1, 1, cmd_ls, 0, NULL, "PATH", NULL, NULL },
	{ "scandir", 1, 1, cmd_scandir, 0, NULL, "PATH", NULL, NULL },
	{ "mkdir", 1, 1, cmd_mkdir, 0, opts_mkdir, "[-p] [-m MODE] PATH",
	    NULL, NULL },
	{ "rmdir", 1, 1, cmd_path1, OUT_NONE, NULL, "PATH",
	    aiofs_rmdir, NULL },
	{ "removedirs", 1, 1, cmd_path1, OUT_NONE, NULL, "PATH",
	    aiofs_removedirs, NULL },
	{ "rm", 1, 1, cmd_path1, OUT_NONE, NULL, "PATH", aiofs_unlink, NULL },
	{ "rmtree", 1, 1, cmd_path1, OUT_NONE, NULL, "PATH",
	    aiofs_rmtree, NULL },
	{ "mv", 2, 2, cmd_path2, OUT_NONE, NULL, "SRC DST",
	    NULL, aiofs_rename },
	{ "renames", 2, 2, cmd_path2, OUT_NONE, NULL, "SRC DST",
	    NULL, aiofs_renames },
	{ "replace", 2, 2, cmd_path2, OUT_NONE, NULL, "SRC DST",
	    NULL, aiofs_replace },
	{ "ln", 2, 2, cmd_ln, 0, opts_ln, "[-s] SRC DST", NULL, NULL },
	{ "readlink", 1, 1, cmd_path1, OUT_PATH, NULL, "PATH",
	    aiofs_readlink, NULL },
	{ "chmod", 2, 2, cmd_chmod, 0, NULL, "MODE PATH", NULL, NULL },
	{ "touch", 1, 1, cmd_touch, 0, NULL, "PATH", NULL, NULL },
	{ "access", 2, 2, cmd_access, OUT_BOOL, NULL, "PATH MODE", NULL, NULL },
	{ "exists", 1, 1, cmd_path1, OUT_BOOL, NULL, "PATH",
	    aiofs_exists, NULL },
	{ "isfile", 1, 1, cmd_path1, OUT_BOOL, NULL, "PATH",
	    aiofs_isfile, NULL },
	{ "isdir", 1, 1, cmd_path1, OUT_BOOL, NULL, "PATH",
	    aiofs_isdir, NULL },
	{ "islink", 1, 1, cmd_path1, OUT_BOOL, NULL, "PATH",
	    aiofs_islink, NULL },
	{ "ismount", 1, 1, cmd_path1, OUT_BOOL, NULL, "PATH",
	    aiofs_ismount, NULL },
	{ "getsize", 1, 1, cmd_get, GET_SIZE, NULL, "PATH", NULL, NULL },
	{ "getatime", 1, 1, cmd_get, GET_ATIME, NULL, "PATH", NULL, NULL },
	{ "getmtime", 1, 1, cmd_get, GET_MTIME, NULL, "PATH", NULL, NULL },
	{ "getctime", 1, 1, cmd_get, GET_CTIME, NULL, "PATH", NULL, NULL },
	{ "samefile", 2, 2, cmd_path2, OUT_BOOL, NULL, "A B",
	    NULL, aiofs_samefile },
	{ "abspath", 1, 1, cmd_path1, OUT_PATH, NULL, "PATH",
	    aiofs_abspath, NULL },
	{ "getcwd", 0, 0, cmd_getcwd, 0, NULL, "", NULL, NULL },
	{ "copy", 2, 2, cmd_copy, 0, NULL, "SRC DST", NULL, NULL },
	{ "mktemp", 0, 0, cmd_mktemp, 0, opts_mktemp,
	    "[-d] [--suffix S] [--prefix P] [--dir D]", NULL, NULL },
	{ "walk", 1, 1, cmd_walk, 0, NULL, "PATH", NULL, NULL },
	{ "stats", 0, 0, cmd_stats, 0, opts_stats, "[--prometheus]",
	    NULL, NULL },
};

#define CLI_NCMDS	(sizeof cli_cmds / sizeof cli_cmds[0])

/* Print the global usage line, or the whole command list, to f. */
static void
usage(FILE *f, int all)
{
	size_t	 i;

	fprintf(f, "usage: aiofs [-s SOCKET] [--json] COMMAND [ARGS...]\n");
	if (!all)
		return;
	fprintf(f, "       aiofs -h | -V\ncommands:\n");
	for (i = 0; i < CLI_NCMDS; i++)
		fprintf(f, "  %s%s%s\n", cli_cmds[i].name,
		    *cli_cmds[i].usage != '\0' ? " " : "", cli_cmds[i].usage);
}

/*
 * Report usage error msg (with what, if not NULL) for cmd, then its usage
 * line (cmd NULL: the global one); returns 2.
 */
static int
usage_error(const struct cli_cmd *cmd, const char *msg, const char *what)
{
	fprintf(stderr, "aiofs: ");
	if (cmd != NULL)
		fprintf(stderr, "%s: ", cmd->name);
	if (what != NULL)
		fprintf(stderr, "%s: %s\n", msg, what);
	else
		fprintf(stderr, "%s\n", msg);
	if (cmd != NULL)
		fprintf(stderr, "usage: aiofs %s%s%s\n", cmd->name,
		    *cmd->usage != '\0' ? " " : "", cmd->usage);
	else
		usage(stderr, 0);
	return (EXIT_USAGE);
}

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Length of the valid UTF-8 sequence at p, or 0 if it is not one. */
static size_t
utf8_len(const unsigned char *p, size_t left)
{
	uint32_t	 cp;
	size_t		 n, i;

	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return (0);
	if (left < n)
		return (0);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (n);
}

/* Print len bytes of s as a JSON string. */
static void
json_strn(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, n;

	putchar('"');
	for (i = 0; i < len; i += n) {
		if ((n = utf8_len(p + i, len - i)) == 0) {
			/* Not UTF-8: the byte as its Latin-1 code point. */
			printf("\\u%04x", p[i]);
			n = 1;
			continue;
		}
		if (n > 1) {
			fwrite(p + i, 1, n, stdout);
			continue;
		}
		switch (p[i]) {
		case '"':
			fputs("\\\"", stdout);
			break;
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\b':
			fputs("\\b", stdout);
			break;
		case '\f':
			fputs("\\f", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\r':
			fputs("\\r", stdout);
			break;
		case '\t':
			fputs("\\t", stdout);
			break;
		default:
			if (p[i] < 0x20)
				printf("\\u%04x", p[i]);
			else
				putchar(p[i]);
			break;
		}
	}
	putchar('"');
}

/* Print a C string as a JSON string, or null. */
static void
json_str(const char *s)
{
	if (s == NULL)
		fputs("null", stdout);
	else
		json_strn(s, strlen(s));
}

/* Format ns (nanoseconds since the epoch) as seconds with 9 decimals. */
static void
fmt_ns(char *buf, size_t size, int64_t ns)
{
	uint64_t	 u;

	u = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
	snprintf(buf, size, "%s%" PRIu64 ".%09" PRIu64, ns < 0 ? "-" : "",
	    u / 1000000000, u % 1000000000);
}

/* Start an object: nothing in plain output, "{" in JSON. */
static void
kv_begin(struct kv *kv, int json)
{
	memset(kv, 0, sizeof *kv);
	kv->json = json;
	kv->first[0] = 1;
	if (json)
		putchar('{');
}

/* Print the separator and key of the next member. */
static void
kv_key(struct kv *kv, const char *key)
{
	if (kv->json) {
		if (!kv->first[kv->depth])
			putchar(',');
		kv->first[kv->depth] = 0;
		json_str(key);
		putchar(':');
	} else
		printf("%s%s=", kv->prefix, key);
}

/* A member whose value is text v (plain) or JSON text jv. */
static void
kv_put(struct kv *kv, const char *key, const char *v, const char *jv)
{
	kv_key(kv, key);
	fputs(kv->json ? jv : v, stdout);
	if (!kv->json)
		putchar('\n');
}

/* A member whose value is a string. */
static void
kv_str(struct kv *kv, const char *key, const char *v)
{
	kv_key(kv, key);
	if (kv->json)
		json_str(v);
	else
		printf("%s\n", v);
}

/* A member whose value is an unsigned integer. */
static void
kv_u64(struct kv *kv, const char *key, uint64_t v)
{
	char	 buf[32];

	snprintf(buf, sizeof buf, "%" PRIu64, v);
	kv_put(kv, key, buf, buf);
}

/* A member whose value is a signed integer. */
static void
kv_i64(struct kv *kv, const char *key, int64_t v)
{
	char	 buf[32];

	snprintf(buf, sizeof buf, "%" PRId64, v);
	kv_put(kv, key, buf, buf);
}

/* A member whose value is a float (JSON has no NaN: 0 instead). */
static void
kv_double(struct kv *kv, const char *key, double v)
{
	char	 buf[64];

	snprintf(buf, sizeof buf, "%.3f", isfinite(v) ? v : 0.0);
	kv_put(kv, key, buf, buf);
}

/* A member whose value is a time in seconds, from nanoseconds. */
static void
kv_time(struct kv *kv, const char *key, int64_t ns)
{
	char	 buf[64];

	fmt_ns(buf, sizeof buf, ns);
	kv_put(kv, key, buf, buf);
}

/* Open a nested object: "key":{ in JSON, a "key." prefix in plain. */
static void
kv_open(struct kv *kv, const char *key)
{
	size_t	 len = strlen(kv->prefix);

	if (kv->depth + 1 >= CLI_KVDEPTH)
		abort();
	if (kv->json) {
		kv_key(kv, key);
		putchar('{');
	}
	kv->depth++;
	kv->first[kv->depth] = 1;
	kv->plen[kv->depth] = len;
	snprintf(kv->prefix + len, sizeof kv->prefix - len, "%s.", key);
}

/* Close the innermost nested object. */
static void
kv_close(struct kv *kv)
{
	kv->prefix[kv->plen[kv->depth]] = '\0';
	kv->depth--;
	if (kv->json)
		putchar('}');
}

/* End the object. */
static void
kv_end(struct kv *kv)
{
	if (kv->json)
		fputs("}\n", stdout);
}

/* Name of the file type in a st_mode. */
static const char *
mode_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return ("file");
	case S_IFDIR:
		return ("dir");
	case S_IFLNK:
		return ("symlink");
	case S_IFIFO:
		return ("fifo");
	case S_IFSOCK:
		return ("socket");
	case S_IFCHR:
		return ("char");
	case S_IFBLK:
		return ("block");
	default:
		return ("unknown");
	}
}

/* Name of the file type in a d_type (DT_UNKNOWN: "unknown"). */
static const char *
dtype_name(uint32_t type)
{
	return (type == DT_UNKNOWN ? "unknown" : mode_type(DTTOIF(type)));
}

/* Print a stat result as key=value lines or one JSON object. */
static void
print_stat(struct cli *c, const aiofs_stat_t *st)
{
	struct kv	 kv;
	char		 plain[32], json[32];

	kv_begin(&kv, c->json);
	snprintf(plain, sizeof plain, "0%o", (unsigned)st->mode);
	snprintf(json, sizeof json, "%u", (unsigned)st->mode);
	kv_put(&kv, "mode", plain, json);
	kv_str(&kv, "type", mode_type(st->mode));
	kv_i64(&kv, "size", st->size);
	kv_u64(&kv, "uid", st->uid);
	kv_u64(&kv, "gid", st->gid);
	kv_u64(&kv, "nlink", st->nlink);
	kv_u64(&kv, "ino", st->ino);
	kv_u64(&kv, "dev", st->dev);
	kv_time(&kv, "atime", st->atime_ns);
	kv_time(&kv, "mtime", st->mtime_ns);
	kv_time(&kv, "ctime", st->ctime_ns);
	kv_end(&kv);
}

/* Print an error as the --json error object (path may be NULL). */
static void
json_error(int rc, const char *msg, const char *path)
{
	printf("{\"error\":");
	json_str(aiofs_errname(rc));
	printf(",\"errno\":%d,\"message\":", rc < 0 ? -rc : rc);
	json_str(msg);
	printf(",\"path\":");
	json_str(path);
	printf("}\n");
}

/* The daemon is unreachable or broke (rc): report it; returns 4. */
static int
cli_conn_fail(struct cli *c, int rc)
{
	char	 msg[1024];

	snprintf(msg, sizeof msg, "cannot connect to %s: %s", c->sock,
	    aiofs_strerror(rc));
	if (c->json)
		json_error(rc, msg, c->sock);
	else
		fprintf(stderr, "aiofs: %s\n", msg);
	return (EXIT_CONN);
}

/*
 * Report the failure rc of req on path (NULL: none) and clean req up;
 * returns 3, or 4 if the connection itself is gone.
 */
static int
cli_fail(struct cli *c, aiofs_req_t *req, int rc, const char *path)
{
	const char	*msg, *p;
	int		 status = EXIT_FAIL;

	if (c->h != NULL && aiofs_connect_done(c->h) < 0)
		status = cli_conn_fail(c, rc);
	else {
		msg = req != NULL && req->errmsg != NULL &&
		    *req->errmsg != '\0' ? req->errmsg : aiofs_strerror(rc);
		p = req != NULL && req->errpath != NULL ? req->errpath : path;
		if (c->json)
			json_error(rc, msg, p);
		else if (p != NULL)
			fprintf(stderr, "aiofs: %s: %s: %s\n", c->cmd->name, p,
			    msg);
		else
			fprintf(stderr, "aiofs: %s: %s\n", c->cmd->name, msg);
	}
	if (req != NULL)
		aiofs_req_cleanup(req);
	return (status);
}

/* Report a local failure (errno e) on what, not the daemon's; returns 3. */
static int
cli_fail_local(struct cli *c, int e, const char *what)
{
	return (cli_fail(c, NULL, -e, what));
}

/* Clean req up and print the result of a command without output. */
static int
cli_ok(struct cli *c, aiofs_req_t *req)
{
	if (req != NULL)
		aiofs_req_cleanup(req);
	if (c->json)
		printf("{\"ok\":true}\n");
	return (EXIT_TRUE);
}

/* Print a predicate's answer v; returns 0 (true) or 1 (false). */
static int
cli_bool(aiofs_req_t *req, int v)
{
	aiofs_req_cleanup(req);
	printf("%s\n", v ? "true" : "false");
	return (v ? EXIT_TRUE : EXIT_FALSE);
}

/* Print a string result (plain: the raw bytes). */
static int
cli_string(struct cli *c, aiofs_req_t *req, const char *s, size_t len)
{
	if (c->json)
		json_strn(s, len);
	else
		fwrite(s, 1, len, stdout);
	putchar('\n');
	aiofs_req_cleanup(req);
	return (EXIT_TRUE);
}

/* Parse an octal permission MODE (at most 07777); 0 or -1. */
static int
parse_mode(const char *s, unsigned *mode)
{
	char		*end;
	unsigned long	 v;

	if (*s < '0' || *s > '7')
		return (-1);
	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno != 0 || *end != '\0' || v > 07777)
		return (-1);
	*mode = (unsigned)v;
	return (0);
}

/* Start a progress line for cmd on label; total -1 if unknown. */
static void
progress_init(struct progress *p, const char *cmd, const char *label,
    int64_t total)
{
	memset(p, 0, sizeof *p);
	p->on = isatty(STDERR_FILENO);
	p->cmd = cmd;
	p->label = label;
	p->total = total;
	p->done = -1;
	p->start = now();
}

/* Format n bytes for humans. */
static void
fmt_bytes(char *buf, size_t size, int64_t n)
{
	static const char	*units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double			 v = (double)n;
	size_t			 u = 0;

	while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%.0f %s", v, units[u]);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* Note done bytes (-1: unknown) and redraw if it is time. */
static void
progress_update(struct progress *p, int64_t done)
{
	char	 a[32], b[32];
	double	 t = now();

	p->done = done;
	if (!p->on || t - p->start < PROGRESS_DELAY ||
	    t - p->last < PROGRESS_EVERY)
		return;
	p->last = t;
	p->drawn = 1;
	fprintf(stderr, "\raiofs: %s %s:", p->cmd, p->label);
	if (p->done >= 0) {
		fmt_bytes(a, sizeof a, p->done);
		fprintf(stderr, " %s", a);
	}
	if (p->total >= 0) {
		fmt_bytes(b, sizeof b, p->total);
		fprintf(stderr, "%s%s", p->done >= 0 ? " / " : " ", b);
		if (p->done >= 0 && p->total > 0)
			fprintf(stderr, " (%d%%)",
			    (int)(100.0 * p->done / p->total));
	}
	fprintf(stderr, " %.1fs\033[K", t - p->start);
}

/* Erase the progress line, if one was drawn. */
static void
progress_end(struct progress *p)
{
	if (p->drawn)
		fputs("\r\033[K", stderr);
	p->drawn = 0;
}

/* A callback for asynchronous requests that are waited for. */
static void
cli_noop_cb(aiofs_req_t *req)
{
	(void)req;
}

/*
 * Wait for req, the one request in flight on c->h, redrawing p while it
 * runs; its outcome is then in req->result (a broken connection fails
 * every pending request, so it always completes).
 */
static void
cli_wait_progress(struct cli *c, aiofs_req_t *req, struct progress *p)
{
	struct pollfd	 pfd;

	while (aiofs_pending(c->h) > 0) {
		pfd.fd = aiofs_fd(c->h);
		pfd.events = aiofs_events(c->h);
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)(PROGRESS_EVERY * 1000)) == -1) {
			if (errno == EINTR)
				continue;
			/* No ticking, then: just wait. */
			aiofs_wait(c->h, req);
			break;
		}
		if (aiofs_process(c->h, pfd.revents) < 0)
			break;
		progress_update(p, p->done);
	}
}

/* Write all of buf to stdout; 0, or -1 with errno set. */
static int
write_all(const char *buf, size_t len)
{
	ssize_t	 n;

	if (fflush(stdout) == EOF)
		return (-1);
	while (len > 0) {
		if ((n = write(STDOUT_FILENO, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		buf += n;
		len -= n;
	}
	return (0);
}

/* Read up to len bytes of stdin (less only at EOF); bytes, or -1. */
static ssize_t
read_full(char *buf, size_t len)
{
	size_t	 got = 0;
	ssize_t	 n;

	while (got < len) {
		if ((n = read(STDIN_FILENO, buf + got, len - got)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (n == 0)
			break;
		got += n;
	}
	return ((ssize_t)got);
}

/* Close handle file, keeping the first error in *status. */
static void
cli_fclose(struct cli *c, aiofs_file_t file, const char *path, int *status)
{
	aiofs_req_t	 req;
	int		 rc;

	memset(&req, 0, sizeof req);
	if ((rc = aiofs_fclose(c->h, &req, file, NULL)) < 0 &&
	    *status == EXIT_TRUE)
		*status = cli_fail(c, &req, rc, path);
	else
		aiofs_req_cleanup(&req);
}

/* ping: the daemon answers. */
static int
cmd_ping(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	struct kv	 kv;
	int		 rc;

	(void)argv;
	memset(&req, 0, sizeof req);
	if ((rc = aiofs_ping(c->h, &req, NULL)) < 0)
		return (cli_fail(c, &req, rc, NULL));
	aiofs_req_cleanup(&req);
	if (!c->json) {
		printf("ok\n");
		return (EXIT_TRUE);
	}
	kv_begin(&kv, 1);
	kv_put(&kv, "ok", "true", "true");
	kv_str(&kv, "server_version", aiofs_server_version(c->h));
	kv_end(&kv);
	return (EXIT_TRUE);
}

/*
 * Stream one file to stdout, with CAT_DEPTH reads queued on its handle
 * (the daemon runs them in order) so that it reads while we write.
 * Returns the exit status for the file, and sets *stop when stdout is
 * gone (EPIPE) and the rest need not be read.
 */
static int
cat_one(struct cli *c, const char *path, int *stop)
{
	aiofs_req_t	 req, rd[CAT_DEPTH], *r;
	aiofs_file_t	 file;
	struct progress	 p;
	int64_t		 done = 0, total = -1;
	unsigned	 head = 0, n = 0;
	int		 rc, eof = 0, status = EXIT_TRUE;

	memset(&req, 0, sizeof req);
	memset(rd, 0, sizeof rd);
	if (isatty(STDERR_FILENO)) {
		if (aiofs_stat(c->h, &req, path, 1, NULL) == 0 &&
		    S_ISREG(req.st.mode))
			total = req.st.size;
		aiofs_req_cleanup(&req);
	}
	if ((rc = aiofs_open(c->h, &req, path, "rb", NULL, NULL)) < 0)
		return (cli_fail(c, &req, rc, path));
	file = req.file;
	aiofs_req_cleanup(&req);
	progress_init(&p, c->cmd->name, path, total);
	while (status == EXIT_TRUE) {
		while (!eof && n < CAT_DEPTH) {
			r = &rd[(head + n) % CAT_DEPTH];
			if ((rc = aiofs_read(c->h, r, file, CLI_CHUNK,
			    cli_noop_cb)) < 0) {
				status = cli_fail(c, r, rc, path);
				break;
			}
			n++;
		}
		if (n == 0 || status != EXIT_TRUE)
			break;
		r = &rd[head];
		head = (head + 1) % CAT_DEPTH;
		n--;
		if ((rc = aiofs_wait(c->h, r)) < 0 && r->result >= 0)
			r->result = rc;
		if (r->result < 0)
			status = cli_fail(c, r, (int)r->result, path);
		else if (r->len == 0)
			eof = 1;
		else if (write_all(r->buf, r->len) == -1) {
			/* A closed pipe is the reader's choice: no noise. */
			if (errno == EPIPE) {
				*stop = 1;
				status = EXIT_FAIL;
			} else
				status = cli_fail_local(c, errno, "stdout");
		} else {
			done += r->len;
			progress_update(&p, done);
		}
		aiofs_req_cleanup(r);
	}
	/* Reads still queued must finish before their reqs go away. */
	for (; n > 0; n--, head = (head + 1) % CAT_DEPTH) {
		aiofs_wait(c->h, &rd[head]);
		aiofs_req_cleanup(&rd[head]);
	}
	progress_end(&p);
	if (status != EXIT_CONN)
		cli_fclose(c, file, path, &status);
	return (status);
}

/* cat PATH...: concatenate files to stdout; go on past failures. */
static int
cmd_cat(struct cli *c, char **argv)
{
	int	 i, st, stop = 0, status = EXIT_TRUE;

	for (i = 0; i < c->argc && !stop; i++) {
		if ((st = cat_one(c, argv[i], &stop)) == EXIT_CONN)
			return (st);
		if (st != EXIT_TRUE)
			status = st;
	}
	return (status);
}

/* write PATH / append PATH: stdin to the file, in chunks. */
static int
cmd_write(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	aiofs_file_t	 file;
	struct progress	 p;
	struct stat	 sb;
	char		*buf;
	ssize_t		 n;
	int64_t		 done = 0;
	int		 rc, status = EXIT_TRUE;

	if ((buf = malloc(CLI_CHUNK)) == NULL)
		return (cli_fail_local(c, errno, NULL));
	memset(&req, 0, sizeof req);
	if ((rc = aiofs_open(c->h, &req, argv[0], c->cmd->arg ? "ab" : "wb",
	    NULL, NULL)) < 0) {
		free(buf);
		return (cli_fail(c, &req, rc, argv[0]));
	}
	file = req.file;
	aiofs_req_cleanup(&req);
	if (fstat(STDIN_FILENO, &sb) == -1 || !S_ISREG(sb.st_mode))
		sb.st_size = -1;
	progress_init(&p, c->cmd->name, argv[0], sb.st_size);
	for (;;) {
		if ((n = read_full(buf, CLI_CHUNK)) == -1) {
			status = cli_fail_local(c, errno, "stdin");
			break;
		}
		if (n == 0)
			break;
		if ((rc = aiofs_write(c->h, &req, file, buf, n, NULL)) < 0) {
			status = cli_fail(c, &req, rc, argv[0]);
			break;
		}
		aiofs_req_cleanup(&req);
		done += n;
		progress_update(&p, done);
	}
	progress_end(&p);
	free(buf);
	if (status != EXIT_CONN)
		cli_fclose(c, file, argv[0], &status);
	if (status == EXIT_TRUE && c->json)
		return (cli_ok(c, NULL));
	return (status);
}

/* stat [--no-follow] PATH. */
static int
cmd_stat(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	int		 rc;

	memset(&req, 0, sizeof req);
	if ((rc = aiofs_stat(c->h, &req, argv[0],
	    c->opt[OPT_STAT_NOFOLLOW] == NULL, NULL)) < 0)
		return (cli_fail(c, &req, rc, argv[0]));
	print_stat(c, &req.st);
	aiofs_req_cleanup(&req);
	return (EXIT_TRUE);
}

/* statvfs PATH. */
static int
cmd_statvfs(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	struct kv	 kv;
	int		 rc;

	memset(&req, 0, sizeof req);
	if ((rc = aiofs_statvfs(c->h, &req, argv[0], NULL)) < 0)
		return (cli_fail(c, &req, rc, argv[0]));
	kv_begin(&kv, c->json);
	kv_u64(&kv, "bsize", req.vfs.bsize);
	kv_u64(&kv, "frsize", req.vfs.frsize);
	kv_u64(&kv, "blocks", req.vfs.blocks);
	kv_u64(&kv, "bfree", req.vfs.bfree);
	kv_u64(&kv, "bavail", req.vfs.bavail);
	kv_u64(&kv, "files", req.vfs.files);
	kv_u64(&kv, "ffree", req.vfs.ffree);
	kv_u64(&kv, "favail", req.vfs.favail);
	kv_u64(&kv, "flag", req.vfs.flag);
	kv_u64(&kv, "namemax", req.vfs.namemax);
	kv_u64(&kv, "fsid", req.vfs.fsid);
	kv_end(&kv);
	aiofs_req_cleanup(&req);
	return (EXIT_TRUE);
}

/* qsort comparator: C strings, bytewise. */
static int
cmp_names(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* qsort comparator: dirents by name, bytewise. */
static int
cmp_dirents(const void *a, const void *b)
{
	const aiofs_dirent_t	*x = *(const aiofs_dirent_t *const *)a;
	const aiofs_dirent_t	*y = *(const aiofs_dirent_t *const *)b;

	return (strcmp(x->name, y->name));
}

/*
 * Print n names sorted bytewise (a sorted copy: the array is the
 * library's), as a JSON array, or as lines, each after "dir/" when dir is
 * not NULL (joined as os.path.join does).  0, or -1 out of memory.
 */
static int
print_names(int json, const char *dir, char *const *names, size_t n)
{
	const char	*sep = "";
	char		**v;
	size_t		 i, len;

	if ((v = calloc(n + 1, sizeof *v)) == NULL)
		return (-1);
	if (n > 0)
		memcpy(v, names, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_names);
	if (dir == NULL)
		dir = "";
	else if ((len = strlen(dir)) > 0 && dir[len - 1] != '/')
		sep = "/";
	if (json)
		putchar('[');
	for (i = 0; i < n; i++) {
		if (!json)
			printf("%s%s%s\n", dir, sep, v[i]);
		else {
			if (i > 0)
				putchar(',');
			json_str(v[i]);
		}
	}
	if (json)
		putchar(']');
	free(v);
	return (0);
}

/* ls PATH: the names in a directory, sorted bytewise. */
static int
cmd_ls(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	int		 rc;

	memset(&req, 0, sizeof req);
	if ((rc = aiofs_listdir(c->h, &req, argv[0], NULL)) < 0)
		return (cli_fail(c, &req, rc, argv[0]));
	rc = print_names(c->json, NULL, req.lines, req.nlines);
	aiofs_req_cleanup(&req);
	if (rc == -1)
		return (cli_fail_local(c, ENOMEM, NULL));
	if (c->json)
		putchar('\n');
	return (EXIT_TRUE);
}

/* scandir PATH: TYPE INO NAME per entry, sorted by name. */
static int
cmd_scandir(struct cli *c, char **argv)
{
	aiofs_req_t		 req;
	const aiofs_dirent_t	**v, *e;
	size_t			 i;
	int			 rc;

	memset(&req, 0, sizeof req);
	if ((rc = aiofs_scandir(c->h, &req, argv[0], 0, NULL)) < 0)
		return (cli_fail(c, &req, rc, argv[0]));
	if ((v = calloc(req.nentries + 1, sizeof *v)) == NULL) {
		aiofs_req_cleanup(&req);
		return (cli_fail_local(c, ENOMEM, NULL));
	}
	for (i = 0; i < req.nentries; i++)
		v[i] = &req.entries[i];
	qsort(v, req.nentries, sizeof *v, cmp_dirents);
	if (c->json)
		putchar('[');
	for (i = 0; i < req.nentries; i++) {
		e = v[i];
		if (!c->json) {
			printf("%s %" PRIu64 " %s\n", dtype_name(e->type),
			    e->ino, e->name);
			continue;
		}
		printf("%s{\"name\":", i > 0 ? "," : "");
		json_str(e->name);
		printf(",\"type\":\"%s\",\"ino\":%" PRIu64 "}",
		    dtype_name(e->type), e->ino);
	}
	if (c->json)
		printf("]\n");
	free(v);
	aiofs_req_cleanup(&req);
	return (EXIT_TRUE);
}

/*
 * mkdir [-p] [-m MODE] PATH: -p makes the parents and accepts an existing
 * directory; -m sets MODE exactly (a chmod after the mkdir, as mkdir(1)
 * does), only on a directory this call made.
 */
static int
cmd_mkdir(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	const char	*m = c->opt[OPT_MKDIR_M];
	unsigned	 mode = 0777;
	int		 rc;

	if (m != NULL && parse_mode(m, &mode) == -1)
		return (usage_error(c->cmd, "bad MODE", m));
	memset(&req, 0, sizeof req);
	if (c->opt[OPT_MKDIR_P] == NULL)
		rc = aiofs_mkdir(c->h, &req, argv[0], mode, NULL);
	else if ((rc = aiofs_makedirs(c->h, &req, argv[0], mode, 0,
	    NULL)) == -EEXIST) {
		aiofs_req_cleanup(&req);
		if (aiofs_isdir(c->h, &req, argv[0], NULL) == 1)
			return (cli_ok(c, &req));
		rc = -EEXIST;
	}
	if (rc < 0)
		return (cli_fail(c, &req, rc, argv[0]));
	aiofs_req_cleanup(&req);
	if (m != NULL && (rc = aiofs_chmod(c->h, &req, argv[0], mode,
	    NULL)) < 0)
		return (cli_fail(c, &req, rc, argv[0]));
	return (cli_ok(c, &req));
}

/* Print the outcome rc of a generic path operation, per c->cmd->arg. */
static int
path_result(struct cli *c, aiofs_req_t *req, int rc, const char *path)
{
	if (rc < 0)
		return (cli_fail(c, req, rc, path));
	switch (c->cmd->arg) {
	case OUT_BOOL:
		return (cli_bool(req, rc > 0));
	case OUT_PATH:
		return (cli_string(c, req, req->buf != NULL ? req->buf : "",
		    req->len));
	default:
		return (cli_ok(c, req));
	}
}

/* One-path commands: rm, rmdir, readlink, exists, abspath ... */
static int
cmd_path1(struct cli *c, char **argv)
{
	aiofs_req_t	 req;

	memset(&req, 0, sizeof req);
	return (path_result(c, &req, c->cmd->p1(c->h, &req, argv[0], NULL),
	    argv[0]));
}

/* Two-path commands: mv, renames, replace, samefile. */
static int
cmd_path2(struct cli *c, char **argv)
{
	aiofs_req_t	 req;

	memset(&req, 0, sizeof req);
	return (path_result(c, &req, c->cmd->p2(c->h, &req, argv[0], argv[1],
	    NULL), argv[0]));
}

/* ln [-s] SRC DST: a hard link, or a symlink DST whose target is SRC. */
static int
cmd_ln(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	int		 rc;

	memset(&req, 0, sizeof req);
	if (c->opt[OPT_LN_S] != NULL)
		rc = aiofs_symlink(c->h, &req, argv[0], argv[1], NULL);
	else
		rc = aiofs_link(c->h, &req, argv[0], argv[1], NULL);
	return (path_result(c, &req, rc, c->opt[OPT_LN_S] != NULL ?
	    argv[1] : argv[0]));
}

/* chmod MODE PATH (octal MODE). */
static int
cmd_chmod(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	unsigned	 mode;

	if (parse_mode(argv[0], &mode) == -1)
		return (usage_error(c->cmd, "bad MODE", argv[0]));
	memset(&req, 0, sizeof req);
	return (path_result(c, &req, aiofs_chmod(c->h, &req, argv[1], mode,
	    NULL), argv[1]));
}

/* touch PATH: set the times to now, or create an empty file. */
static int
cmd_touch(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	int		 rc, status = EXIT_TRUE;

	memset(&req, 0, sizeof req);
	rc = aiofs_utime(c->h, &req, argv[0], NULL, NULL, 1, NULL);
	if (rc != -ENOENT)
		return (path_result(c, &req, rc, argv[0]));
	aiofs_req_cleanup(&req);
	if ((rc = aiofs_open(c->h, &req, argv[0], "ab", NULL, NULL)) < 0)
		return (cli_fail(c, &req, rc, argv[0]));
	cli_fclose(c, req.file, argv[0], &status);
	if (status != EXIT_TRUE) {
		aiofs_req_cleanup(&req);
		return (status);
	}
	return (cli_ok(c, &req));
}

/* access PATH MODE: MODE is letters of f, r, w, x. */
static int
cmd_access(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	const char	*s;
	int		 mode = F_OK;

	for (s = argv[1]; *s != '\0'; s++) {
		if (*s == 'r')
			mode |= R_OK;
		else if (*s == 'w')
			mode |= W_OK;
		else if (*s == 'x')
			mode |= X_OK;
		else if (*s != 'f')
			break;
	}
	if (*argv[1] == '\0' || *s != '\0')
		return (usage_error(c->cmd, "bad MODE (letters f r w x)",
		    argv[1]));
	memset(&req, 0, sizeof req);
	return (path_result(c, &req, aiofs_access(c->h, &req, argv[0], mode,
	    NULL), argv[0]));
}

/* getsize/getatime/getmtime/getctime PATH: one field of stat. */
static int
cmd_get(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	char		 buf[64];
	int		 rc;

	memset(&req, 0, sizeof req);
	if ((rc = aiofs_stat(c->h, &req, argv[0], 1, NULL)) < 0)
		return (cli_fail(c, &req, rc, argv[0]));
	switch (c->cmd->arg) {
	case GET_ATIME:
		fmt_ns(buf, sizeof buf, req.st.atime_ns);
		break;
	case GET_MTIME:
		fmt_ns(buf, sizeof buf, req.st.mtime_ns);
		break;
	case GET_CTIME:
		fmt_ns(buf, sizeof buf, req.st.ctime_ns);
		break;
	default:
		snprintf(buf, sizeof buf, "%" PRId64, req.st.size);
		break;
	}
	printf("%s\n", buf);
	aiofs_req_cleanup(&req);
	return (EXIT_TRUE);
}

/* getcwd: the session's working directory. */
static int
cmd_getcwd(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	int		 rc;

	(void)argv;
	memset(&req, 0, sizeof req);
	if ((rc = aiofs_getcwd(c->h, &req, NULL)) < 0)
		return (cli_fail(c, &req, rc, NULL));
	return (cli_string(c, &req, req.buf != NULL ? req.buf : "", req.len));
}

/*
 * copy SRC DST: one copyfile request, done in the daemon; on a terminal
 * it runs asynchronously so that the progress line can tick.
 */
static int
cmd_copy(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	struct progress	 p;
	int64_t		 total = -1;
	int		 rc;

	memset(&req, 0, sizeof req);
	if (!isatty(STDERR_FILENO)) {
		rc = aiofs_copyfile(c->h, &req, argv[0], argv[1], NULL);
		return (rc < 0 ? cli_fail(c, &req, rc, argv[0]) :
		    cli_ok(c, &req));
	}
	if (aiofs_stat(c->h, &req, argv[0], 1, NULL) == 0)
		total = req.st.size;
	aiofs_req_cleanup(&req);
	progress_init(&p, c->cmd->name, argv[0], total);
	if ((rc = aiofs_copyfile(c->h, &req, argv[0], argv[1],
	    cli_noop_cb)) < 0)
		return (cli_fail(c, &req, rc, argv[0]));
	cli_wait_progress(c, &req, &p);
	progress_end(&p);
	if (req.result < 0)
		return (cli_fail(c, &req, (int)req.result, argv[0]));
	return (cli_ok(c, &req));
}

/* mktemp [-d] [--suffix S] [--prefix P] [--dir D]: make and keep one. */
static int
cmd_mktemp(struct cli *c, char **argv)
{
	aiofs_req_t		 req;
	aiofs_temp_opts_t	 o = AIOFS_TEMP_OPTS_INIT;
	char			*name;
	int			 rc, status = EXIT_TRUE;

	(void)argv;
	o.kind = c->opt[OPT_MKTEMP_D] != NULL ? AIOFS_MKDTEMP : AIOFS_MKSTEMP;
	o.suffix = c->opt[OPT_MKTEMP_SUFFIX];
	o.prefix = c->opt[OPT_MKTEMP_PREFIX];
	o.dir = c->opt[OPT_MKTEMP_DIR];
	memset(&req, 0, sizeof req);
	if ((rc = aiofs_tempfile(c->h, &req, &o, NULL)) < 0)
		return (cli_fail(c, &req, rc, o.dir));
	if (o.kind == AIOFS_MKDTEMP)
		return (cli_string(c, &req, req.buf != NULL ? req.buf : "",
		    req.len));
	name = req.info.name;
	cli_fclose(c, req.file, name, &status);
	if (status != EXIT_TRUE) {
		aiofs_req_cleanup(&req);
		return (status);
	}
	return (cli_string(c, &req, name != NULL ? name : "",
	    name != NULL ? strlen(name) : 0));
}

/* Print one os.walk triple: as paths, one a line, or as JSON. */
static int
walk_print(struct cli *c, const aiofs_walk_t *w)
{
	if (!c->json) {
		if (print_names(0, w->dirpath, w->dirnames,
		    w->ndirnames) == -1 || print_names(0, w->dirpath,
		    w->filenames, w->nfilenames) == -1)
			return (-1);
		return (0);
	}
	putchar('[');
	json_str(w->dirpath);
	putchar(',');
	if (print_names(1, NULL, w->dirnames, w->ndirnames) == -1)
		return (-1);
	putchar(',');
	if (print_names(1, NULL, w->filenames, w->nfilenames) == -1)
		return (-1);
	putchar(']');
	return (0);
}

/*
 * walk PATH: os.walk, top down, in the daemon's order, the names of each
 * directory sorted.  Plain: every path found below PATH, one a line, each
 * directory's subdirectories before its files.  JSON: an array of
 * [dirpath, [dirnames], [filenames]].
 */
static int
cmd_walk(struct cli *c, char **argv)
{
	aiofs_req_t	 req;
	size_t		 i;
	int		 rc;

	memset(&req, 0, sizeof req);
	if ((rc = aiofs_walk(c->h, &req, argv[0], 0, NULL)) < 0)
		return (cli_fail(c, &req, rc, argv[0]));
	if (c->json)
		putchar('[');
	for (i = 0; i < req.nwalk; i++) {
		if (c->json && i > 0)
			putchar(',');
		if (walk_print(c, &req.walk[i]) == -1) {
			aiofs_req_cleanup(&req);
			return (cli_fail_local(c, ENOMEM, NULL));
		}
	}
	if (c->json)
		printf("]\n");
	aiofs_req_cleanup(&req);
	return (EXIT_TRUE);
}

/* One daemon-wide counter of stats, with its Prometheus description. */
struct stats_field {
	const char	*key;		/* plain and JSON */
	const char	*metric;	/* Prometheus, after "aiofsd_" */
	const char	*type;
	const char	*help;
	int		 isfloat;
	double		 f;
	uint64_t	 u;
};

/* One per-op value of stats. */
struct stats_opfield {
	const char	*key;
	const char	*metric;
	const char	*type;
	const char	*help;
	const char	*quantile;	/* latency: the quantile label */
};

static const struct stats_opfield	stats_opfields[] = {
	{ "count", "op_requests_total", "counter",
	    "Requests finished, by operation.", NULL },
	{ "errors", "op_errors_total", "counter",
	    "Requests that failed, by operation.", NULL },
	{ "p50_us", "op_latency_seconds", "gauge",
	    "Request latency quantiles, by operation.", "0.5" },
	{ "p99_us", "op_latency_seconds", "gauge", NULL, "0.99" },
	{ "p999_us", "op_latency_seconds", "gauge", NULL, "0.999" }
};

#define STATS_NOPFIELDS	(sizeof stats_opfields / sizeof stats_opfields[0])

/* Value i of stats_opfields for o (latencies in microseconds). */
static double
stats_opvalue(const aiofs_opstats_t *o, size_t i)
{
	switch (i) {
	case 0:
		return ((double)o->count);
	case 1:
		return ((double)o->errors);
	case 2:
		return (o->p50_us);
	case 3:
		return (o->p99_us);
	default:
		return (o->p999_us);
	}
}

/* Print s as a Prometheus label value (escaped, quoted). */
static void
prom_label(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
	putchar('"');
}

/* Print the stats in the Prometheus text exposition format. */
static void
stats_prometheus(const aiofs_stats_t *s, const struct stats_field *f,
    size_t nf)
{
	const struct stats_opfield	*of;
	double				 v;
	size_t				 i, j;

	for (i = 0; i < nf; i++) {
		printf("# HELP aiofsd_%s %s\n# TYPE aiofsd_%s %s\n",
		    f[i].metric, f[i].help, f[i].metric, f[i].type);
		if (f[i].isfloat)
			printf("aiofsd_%s %.9g\n", f[i].metric, f[i].f);
		else
			printf("aiofsd_%s %" PRIu64 "\n", f[i].metric, f[i].u);
	}
	printf("# HELP aiofsd_loop_connections Client connections open now, "
	    "per event loop.\n# TYPE aiofsd_loop_connections gauge\n");
	for (i = 0; i < s->nloops; i++)
		printf("aiofsd_loop_connections{loop=\"%zu\"} %" PRIu64 "\n", i,
		    s->loop_connections[i]);
	for (i = 0; i < STATS_NOPFIELDS; i++) {
		of = &stats_opfields[i];
		if (of->help != NULL)
			printf("# HELP aiofsd_%s %s\n# TYPE aiofsd_%s %s\n",
			    of->metric, of->help, of->metric, of->type);
		for (j = 0; j < s->nops; j++) {
			v = stats_opvalue(&s->ops[j], i);
			printf("aiofsd_%s{op=", of->metric);
			prom_label(s->ops[j].op != NULL ? s->ops[j].op : "");
			if (of->quantile != NULL)
				printf(",quantile=\"%s\"} %.9g\n",
				    of->quantile, v / 1e6);
			else
				printf("} %.0f\n", v);
		}
	}
}

/* stats [--prometheus]: the daemon's counters. */
static int
cmd_stats(struct cli *c, char **argv)
{
	aiofs_req_t		 req;
	const aiofs_stats_t	*s = &req.stats;
	struct kv		 kv;
	size_t			 i, j;
	int			 rc;

	(void)argv;
	memset(&req, 0, sizeof req);
	if ((rc = aiofs_stats(c->h, &req, NULL)) < 0)
		return (cli_fail(c, &req, rc, NULL));
	{
		const struct stats_field f[] = {
			{ "uptime_s", "uptime_seconds", "gauge",
			    "Seconds since aiofsd started.", 1,
			    s->uptime_s, 0 },
			{ "connections_current", "connections", "gauge",
			    "Client connections open now.", 0, 0,
			    s->connections_current },
			{ "connections_total", "connections_total",
			    "counter", "Client connections accepted.", 0, 0,
			    s->connections_total },
			{ "connections_rejected",
			    "connections_rejected_total", "counter",
			    "Client connections refused.", 0, 0,
			    s->connections_rejected },
			{ "inflight", "inflight_requests", "gauge",
			    "Requests being served now.", 0, 0,
			    s->inflight },
			{ "queue_depth", "queue_depth", "gauge",
			    "Requests waiting for a worker.", 0, 0,
			    s->queue_depth },
			{ "requests_total", "requests_total", "counter",
			    "Requests received.", 0, 0, s->requests_total },
			{ "protocol_errors", "protocol_errors_total",
			    "counter", "Connections dropped for protocol "
			    "violations.", 0, 0, s->protocol_errors },
			{ "bytes_in", "received_bytes_total", "counter",
			    "Bytes read from clients.", 0, 0, s->bytes_in },
			{ "bytes_out", "sent_bytes_total", "counter",
			    "Bytes written to clients.", 0, 0, s->bytes_out },
			{ "workers", "workers", "gauge",
			    "Worker threads.", 0, 0, s->workers },
			{ "workers_busy", "workers_busy", "gauge",
			    "Worker threads running a request now.", 0, 0,
			    s->workers_busy },
			{ "loop_completed", "loop_completed_total",
			    "counter", "Requests completed by the event "
			    "loop's non-blocking attempt.", 0, 0,
			    s->loop_completed },
			{ "loop_punted", "loop_punted_total", "counter",
			    "Requests the loop tried, then gave to a "
			    "worker.", 0, 0, s->loop_punted },
		};
		const size_t	 nf = sizeof f / sizeof f[0];

		if (c->opt[OPT_STATS_PROM] != NULL) {
			stats_prometheus(s, f, nf);
			aiofs_req_cleanup(&req);
			return (EXIT_TRUE);
		}
		kv_begin(&kv, c->json);
		for (i = 0; i < nf; i++) {
			if (f[i].isfloat)
				kv_double(&kv, f[i].key, f[i].f);
			else
				kv_u64(&kv, f[i].key, f[i].u);
		}
	}
	kv_open(&kv, "loop_connections");
	for (j = 0; j < s->nloops; j++) {
		char	 key[32];

		snprintf(key, sizeof key, "%zu", j);
		kv_u64(&kv, key, s->loop_connections[j]);
	}
	kv_close(&kv);
	kv_open(&kv, "ops");
	for (j = 0; j < s->nops; j++) {
		kv_open(&kv, s->ops[j].op != NULL ? s->ops[j].op : "");
		for (i = 0; i < STATS_NOPFIELDS; i++) {
			if (stats_opfields[i].quantile != NULL)
				kv_double(&kv, stats_opfields[i].key,
				    stats_opvalue(&s->ops[j], i));
			else
				kv_u64(&kv, stats_opfields[i].key,
				    (uint64_t)stats_opvalue(&s->ops[j], i));
		}
		kv_close(&kv);
	}
	kv_close(&kv);
	kv_end(&kv);
	aiofs_req_cleanup(&req);
	return (EXIT_TRUE);
}

/* Find a command by name. */
static const struct cli_cmd *
cmd_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < CLI_NCMDS; i++)
		if (strcmp(cli_cmds[i].name, name) == 0)
			return (&cli_cmds[i]);
	return (NULL);
}

/*
 * Parse c->cmd's options at the front of argv (until "--" or the first
 * operand; "--name=value" and "-xVALUE" are accepted).  Returns how many
 * words they took, or -1 after reporting a usage error.
 */
static int
cmd_options(struct cli *c, int argc, char **argv)
{
	const struct cli_optdef	*d;
	const char		*a, *val;
	size_t			 len;
	int			 i, k;

	for (i = 0; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0)
			return (i + 1);
		if (a[0] != '-' || a[1] == '\0')
			return (i);
		val = NULL;
		for (k = 0, d = c->cmd->opts; d != NULL && d[k].name != NULL;
		    k++) {
			len = strlen(d[k].name);
			if (strncmp(a, d[k].name, len) != 0)
				continue;
			if (a[len] == '\0')
				break;
			/* An attached value: "-m755", "--dir=D". */
			if (d[k].hasarg && a[1] != '-') {
				val = a + len;
				break;
			}
			if (d[k].hasarg && a[len] == '=') {
				val = a + len + 1;
				break;
			}
		}
		if (d == NULL || d[k].name == NULL) {
			usage_error(c->cmd, "unknown option", a);
			return (-1);
		}
		if (!d[k].hasarg)
			c->opt[k] = "";
		else if (val != NULL)
			c->opt[k] = val;
		else if (i + 1 < argc)
			c->opt[k] = argv[++i];
		else {
			usage_error(c->cmd, "option needs a value", a);
			return (-1);
		}
	}
	return (i);
}

/* Flush stdout; a failure (but a closed pipe) is reported.  0 or 3. */
static int
cli_flush(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return (EXIT_TRUE);
	if (errno != EPIPE)
		fprintf(stderr, "aiofs: stdout: %s\n", strerror(errno));
	return (EXIT_FAIL);
}

/* aiofs [-s SOCKET] [--json] COMMAND [ARGS...]. */
int
main(int argc, char **argv)
{
	struct cli	 c;
	const char	*a;
	int		 i, n, rc, status;

	memset(&c, 0, sizeof c);
	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--json") == 0)
			c.json = 1;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout, 1);
			return (cli_flush());
		} else if (strcmp(a, "-V") == 0 ||
		    strcmp(a, "--version") == 0) {
			printf("aiofs %s\n", AIOFS_VERSION);
			return (cli_flush());
		} else if (strncmp(a, "-s", 2) == 0) {
			if (a[2] != '\0')
				c.sock = a + 2;
			else if (i + 1 < argc)
				c.sock = argv[++i];
			else
				return (usage_error(NULL,
				    "option needs a value: %s", a));
		} else
			return (usage_error(NULL, "unknown option", a));
	}
	if (i == argc)
		return (usage_error(NULL, "no command", NULL));
	if ((c.cmd = cmd_find(argv[i])) == NULL)
		return (usage_error(NULL, "unknown command", argv[i]));
	i++;
	if ((n = cmd_options(&c, argc - i, argv + i)) == -1)
		return (EXIT_USAGE);
	i += n;
	c.argc = argc - i;
	if (c.argc < c.cmd->min)
		return (usage_error(c.cmd, "missing operand", NULL));
	if (c.cmd->max != -1 && c.argc > c.cmd->max)
		return (usage_error(c.cmd, "extra operand",
		    argv[i + c.cmd->max]));

	if (c.sock == NULL)
		c.sock = aiofs_default_socket();
	if ((rc = aiofs_connect(&c.h, c.sock, "aiofs")) < 0) {
		c.h = NULL;
		status = cli_conn_fail(&c, rc);
	} else {
		status = c.cmd->fn(&c, argv + i);
		aiofs_close(c.h);
	}
	if ((rc = cli_flush()) != EXIT_TRUE && status == EXIT_TRUE)
		status = rc;
	return (status);
}
