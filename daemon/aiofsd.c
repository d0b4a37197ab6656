/*
 * aiofsd.c - main: options, start-up checks, signals, the loop.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "aiofsd.h"

static __attribute__((noreturn)) void
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: aiofsd [-fhqvV] [-s socket] [-w workers] [-l loops] "
	    "[-r root]\n"
	    "              [--read-only] [--strict-paths] [--allow-fd-passing] "
	    "[--tmpdir dir]\n"
	    "              [--max-frame bytes] [--max-inflight n] "
	    "[--max-handles n]\n"
	    "              [--max-connections n] "
	    "[--max-connections-per-uid n] [-c config]\n"
	    "              [--max-inflight-total n] [--max-busy n] "
	    "[--memory-budget bytes]\n"
	    "              [--hello-timeout secs] [--frame-timeout secs] "
	    "[--impersonate]\n"
	    "              [--no-fast-path] [--splice-pipes n] [--check-config]\n");
	exit(status);
}

/* The default socket path: $AIOFS_SOCKET, $XDG_RUNTIME_DIR, /run. */
static char *
default_socket(void)
{
	const char	*s;
	char		*p;

	if ((s = getenv("AIOFS_SOCKET")) != NULL && *s != '\0')
		return (xstrdup(s));
	if ((s = getenv("XDG_RUNTIME_DIR")) != NULL && *s != '\0') {
		xasprintf(&p, "%s/aiofsd.sock", s);
		return (p);
	}
	return (xstrdup("/run/aiofsd/aiofsd.sock"));
}

/* Parse a positive integer option or exit with a clear message. */
static long long
parse_num(const char *opt, const char *arg, long long min, long long max)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno != 0 || *end != '\0' || end == arg || v < min || v > max) {
		fprintf(stderr, "aiofsd: %s: \"%s\" is not a number from "
		    "%lld to %lld\n", opt, arg, min, max);
		exit(2);
	}
	return (v);
}

/* SIGTERM / SIGINT: graceful shutdown. */
static void
signal_cb(int sig, short events, void *arg)
{
	(void)events;
	(void)arg;
	log_info("signal %d", sig);
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	server_shutdown();
}

/* Listen: a socket from systemd if one was passed, else our own path. */
static void
start_listening(void)
{
#ifdef HAVE_LIBSYSTEMD
	int	 n = sd_listen_fds(1);

	if (n > 1) {
		fprintf(stderr, "aiofsd: systemd passed %d sockets, expected "
		    "one\n", n);
		exit(1);
	}
	if (n == 1) {
		if (server_adopt(SD_LISTEN_FDS_START) == -1) {
			fprintf(stderr, "aiofsd: activation socket: %s\n",
			    strerror(errno));
			exit(1);
		}
		log_info("listening on the socket passed by systemd");
		return;
	}
#endif
	if (server_listen(opts.socket_path) == -1) {
		if (errno == EADDRINUSE)
			fprintf(stderr, "aiofsd: %s: another aiofsd is already "
			    "serving this socket\n", opts.socket_path);
		else
			fprintf(stderr, "aiofsd: %s: %s\n", opts.socket_path,
			    strerror(errno));
		exit(1);
	}
	log_info("listening on %s, root %s, %d workers, %u loops",
	    opts.socket_path, opts.policy.root, opts.workers, opts.loops);
}

/* Apply one command line option (second pass, after the config file). */
static void
apply_option(int ch, const char *arg, int *level)
{
	switch (ch) {
	case 's':
		free(opts.socket_path);
		opts.socket_path = xstrdup(arg);
		break;
	case 'w':
		opts.workers = parse_num("-w", arg, 1, 1024);
		break;
	case 'l':
		opts.loops = parse_num("--loops", arg, 1, AIOFS_MAX_LOOPS);
		break;
	case 'r':
		free(opts.policy.root);
		opts.policy.root = xstrdup(arg);
		break;
	case 'f':
		opts.foreground = 1;
		break;
	case 'v':
		(*level)++;
		break;
	case 'q':
		*level = 0;
		break;
	case 1:
		opts.policy.read_only = 1;
		break;
	case 2:
		opts.policy.allow_fd_passing = 1;
		break;
	case 3:
		opts.policy.strict_paths = 1;
		break;
	case 4:
		free(opts.policy.tmpdir);
		opts.policy.tmpdir = xstrdup(arg);
		break;
	case 5:
		opts.max_frame = parse_num("--max-frame", arg, AIOFS_MIN_MSG,
		    256U * 1024 * 1024);
		break;
	case 6:
		opts.policy.max_inflight = parse_num("--max-inflight", arg, 1,
		    65536);
		break;
	case 7:
		opts.policy.max_handles = parse_num("--max-handles", arg, 1,
		    1 << 20);
		break;
	case 8:
		opts.max_conns = parse_num("--max-connections", arg, 1,
		    1 << 20);
		break;
	case 9:
		opts.max_conns_per_uid = parse_num("--max-connections-per-uid",
		    arg, 1, 1 << 20);
		break;
	case 11:
		opts.max_inflight_all = parse_num("--max-inflight-total", arg,
		    1, 1 << 24);
		break;
	case 12:
		opts.max_busy = parse_num("--max-busy", arg, 1, 1024);
		break;
	case 13:
		opts.mem_budget = parse_num("--memory-budget", arg,
		    1024 * 1024, 1LL << 40);
		break;
	case 14:
		opts.hello_secs = parse_num("--hello-timeout", arg, 1, 3600);
		break;
	case 15:
		opts.frame_secs = parse_num("--frame-timeout", arg, 1, 3600);
		break;
	case 16:
		opts.impersonate = 1;
		break;
	case 17:
		opts.fast_path = 0;
		break;
	case 18:
		opts.splice_pipes = parse_num("--splice-pipes", arg, 0, 1024);
		break;
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "workers", required_argument, NULL, 'w' },
		{ "loops", required_argument, NULL, 'l' },
		{ "root", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "read-only", no_argument, NULL, 1 },
		{ "allow-fd-passing", no_argument, NULL, 2 },
		{ "strict-paths", no_argument, NULL, 3 },
		{ "tmpdir", required_argument, NULL, 4 },
		{ "max-frame", required_argument, NULL, 5 },
		{ "max-inflight", required_argument, NULL, 6 },
		{ "max-handles", required_argument, NULL, 7 },
		{ "max-connections", required_argument, NULL, 8 },
		{ "max-connections-per-uid", required_argument, NULL, 9 },
		{ "check-config", no_argument, NULL, 10 },
		{ "max-inflight-total", required_argument, NULL, 11 },
		{ "max-busy", required_argument, NULL, 12 },
		{ "memory-budget", required_argument, NULL, 13 },
		{ "hello-timeout", required_argument, NULL, 14 },
		{ "frame-timeout", required_argument, NULL, 15 },
		{ "impersonate", no_argument, NULL, 16 },
		{ "no-fast-path", no_argument, NULL, 17 },
		{ "splice-pipes", required_argument, NULL, 18 },
		{ NULL, 0, NULL, 0 }
	};
	const char	*optstr = "s:w:l:r:c:fvqhV";
	struct event	*ev_term, *ev_int;
	char		 err[512];
	int		 ch, level = 1, check = 0;
	unsigned	 i;
	long		 ncpu;

	opts.max_frame = AIOFS_MAX_MSG;
	opts.max_conns = AIOFS_MAX_CONNS;
	opts.max_conns_per_uid = AIOFS_MAX_CONNS_UID;
	opts.max_inflight_all = AIOFS_MAX_INFLIGHT_ALL;
	opts.mem_budget = AIOFS_MEM_BUDGET;
	opts.hello_secs = AIOFS_HELLO_SECS;
	opts.frame_secs = AIOFS_FRAME_SECS;
	opts.fast_path = 1;
	opts.splice_pipes = AIOFS_SPLICE_PIPES;
	opts.policy.rootfd = -1;
	opts.policy.max_inflight = AIOFS_MAX_INFLIGHT;
	opts.policy.max_handles = AIOFS_MAX_HANDLES;

	/* First pass: the config file, help, version; errors. */
	while ((ch = getopt_long(argc, argv, optstr, longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			free(opts.config);
			opts.config = xstrdup(optarg);
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("aiofsd %s (protocol %d)\n", AIOFSD_VERSION,
			    AIOFS_PROTOCOL_VERSION);
			exit(0);
		case 10:
			check = 1;
			break;
		case '?':
			usage(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "aiofsd: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(2);
	}
	if (opts.config != NULL &&
	    config_load(opts.config, &opts, err, sizeof err) == -1) {
		fprintf(stderr, "aiofsd: %s\n", err);
		exit(1);
	}
	/* Second pass: the command line overrides the file. */
	optind = 1;
	while ((ch = getopt_long(argc, argv, optstr, longopts, NULL)) != -1)
		apply_option(ch, optarg, &level);

	if (opts.socket_path == NULL)
		opts.socket_path = default_socket();
	if (opts.workers == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		opts.workers = ncpu < 1 ? 4 : (ncpu > 32 ? 64 : (int)ncpu * 2);
	}
	if (opts.loops == 0)
		opts.loops = loop_default();
	/* Room for text decoding to grow a chunk 4x, plus headers. */
	opts.max_chunk = opts.max_frame / 8 < AIOFS_MAX_CHUNK ?
	    opts.max_frame / 8 : AIOFS_MAX_CHUNK;
	if (opts.max_busy == 0)		/* leave one worker for others */
		opts.max_busy = opts.workers > 1 ? opts.workers - 1 : 1;
	if (resolve_check_openat2() == -1) {
		fprintf(stderr, "aiofsd: openat2(RESOLVE_IN_ROOT) is not "
		    "available (%s): refusing to run unconfined\n",
		    strerror(errno));
		exit(1);
	}
	if (opts.impersonate && creds_init() == -1) {
		fprintf(stderr, "aiofsd: --impersonate needs root: %s\n",
		    strerror(errno));
		exit(1);
	}
	if (policy_open_root(&opts.policy, err, sizeof err) == -1 ||
	    policies_open(err, sizeof err) == -1) {
		fprintf(stderr, "aiofsd: %s\n", err);
		exit(1);
	}
	if (check) {
		config_print(stdout);
		printf("\n# configuration OK\n");
		policies_free();
		policy_free(&opts.policy);
		free(opts.socket_path);
		free(opts.config);
		exit(0);
	}

	/*
	 * Data chunks are up to 1 MiB, allocated by workers and freed once
	 * sent: keep them in the heap rather than mmap/munmap (and fault
	 * in) every one of them.
	 */
	mallopt(M_MMAP_THRESHOLD, 8 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);

	log_open("aiofsd", opts.foreground, level);
	if (opts.fast_path && resolve_check_cached() == -1) {
		log_info("openat2 has no RESOLVE_CACHED: every request goes "
		    "to a worker");
		opts.fast_path = 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if (loop_init(opts.loops) == -1)
		fatalx("cannot make %u event loops", opts.loops);
	stats.start_ns = stats_now_ns();

	start_listening();
	if (!opts.foreground) {
		if (daemon(0, 0) == -1)
			fatal("daemon");
		for (i = 0; i < nloops; i++)
			if (event_reinit(loops[i].base) == -1)
				fatalx("event_reinit");
	}
	spipe_init(opts.splice_pipes, opts.max_chunk);
	if (pool_start(opts.workers) == -1)
		fatal("starting %d workers", opts.workers);
	if (loop_start() == -1)
		fatal("starting %u event loops", opts.loops);

	ev_term = evsignal_new(loops[0].base, SIGTERM, signal_cb, NULL);
	ev_int = evsignal_new(loops[0].base, SIGINT, signal_cb, NULL);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
#ifdef HAVE_LIBSYSTEMD
	sd_notifyf(0, "READY=1\nSTATUS=serving %s with %d workers, %u loops",
	    opts.policy.root, opts.workers, opts.loops);
#endif

	loop_run();

	pool_stop();
	loop_finish();
	spipe_free_all();
	server_close_listener();
	event_free(ev_term);
	event_free(ev_int);
	loop_free();
	libevent_global_shutdown();
	policies_free();
	policy_free(&opts.policy);
	free(opts.socket_path);
	free(opts.config);
	log_info("exiting");
	log_close();
	return (0);
}
