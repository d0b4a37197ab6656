#!/usr/bin/env bash
#
# run.sh BUILD_DIR [OUT.md] - start a private aiofsd, run the benchmark
# matrix with aiofs-bench, and write the results as Markdown.
#
# Every op runs at 1 and 64 requests in flight on 1 and 8 connections, each
# with --baseline (the same workload in-process on plain syscalls, or a raw
# socketpair echo for ping; seqread also measures plain Unix-socket bulk
# transfer).  Two ops run once: isolation (stat at 1 in flight on 1
# connection, alone and beside a connection streaming a BENCH_ISO_SIZE
# file) and idle (BENCH_IDLE_CONNS connections held, against a second
# aiofsd started with connection limits above that).  The results, and
# every target of issue 6 with a verdict, go between the BENCH markers of
# docs/performance.md (or OUT.md); the rest of that file is kept.
#
# Environment:
#   BENCH_DURATION  seconds per run (3)
#   BENCH_SEQ_SIZE  seqread file size, K/M/G suffixes (256M)
#   BENCH_ISO_SIZE  the isolation stream's file (1G)
#   BENCH_IDLE_CONNS  idle connections to hold (10000)
#   BENCH_WORKERS   daemon worker threads, and baseline threads (4)
#   BENCH_OPS       ops to run (all), e.g. "ping stat seqread-fd idle"
#   BENCH_SMOKE=1   every op once for about half a second (8M files, 200
#                   idle connections), no report unless OUT.md is given;
#                   fails only if aiofs-bench does, never on a target
#   BENCH_BIN       the aiofs-bench binary (found in BUILD_DIR otherwise)
#   BENCH_KEEP      a file to copy the raw JSON lines to
#
set -euo pipefail

usage() {
	echo "usage: run.sh BUILD_DIR [OUT.md]" >&2
	exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	usage
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
smoke=${BENCH_SMOKE:-0}
if [ $# -eq 2 ]; then
	out=$2
elif [ "$smoke" = 1 ]; then
	out=
else
	out=$top/docs/performance.md
fi

daemon=$build/aiofsd
bench=${BENCH_BIN:-}
if [ -z "$bench" ]; then
	for b in "$build/tests/bench/aiofs-bench" "$build/aiofs-bench"; do
		if [ -x "$b" ]; then
			bench=$b
			break
		fi
	done
fi
if [ ! -x "$daemon" ]; then
	echo "run.sh: no $daemon" >&2
	exit 1
fi
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
	echo "run.sh: no aiofs-bench in $build" >&2
	exit 1
fi

workers=${BENCH_WORKERS:-4}
if [ "$smoke" = 1 ]; then
	duration=${BENCH_DURATION:-0.5}
	seqsize=${BENCH_SEQ_SIZE:-8M}
	isosize=${BENCH_ISO_SIZE:-8M}
	idleconns=${BENCH_IDLE_CONNS:-200}
	cells="4:2"
else
	duration=${BENCH_DURATION:-3}
	seqsize=${BENCH_SEQ_SIZE:-256M}
	isosize=${BENCH_ISO_SIZE:-1G}
	idleconns=${BENCH_IDLE_CONNS:-10000}
	cells="1:1 1:8 64:1 64:8"
fi
ops=${BENCH_OPS:-"ping stat open-read-close read-file pread seqread \
seqread-fd create-write-close listdir mixed isolation idle"}
# The idle daemon's limits: the connections, the probe's, and slack.
idlemax=$((idleconns + 100))

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aiofs-bench.XXXXXX")
dpid=
ipid=
# Stop the daemon whose pid is in variable $1, and forget it.
stop_daemon() {
	local pid=${!1}

	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	eval "$1="
}
cleanup() {
	stop_daemon dpid
	stop_daemon ipid
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_daemon VAR NAME [ARGS]: aiofsd on $tmp/NAME.sock, root $tmp/NAME
# (kept from an earlier start), its pid in VAR.
start_daemon() {
	local var=$1 name=$2 pid

	shift 2
	mkdir -p "$tmp/$name"
	rm -f "$tmp/$name.sock"
	"$daemon" -f -q -s "$tmp/$name.sock" -r "$tmp/$name" -w "$workers" \
	    "$@" 2>>"$tmp/$name.log" &
	pid=$!
	eval "$var=$pid"
	for _ in $(seq 100); do
		[ -S "$tmp/$name.sock" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -S "$tmp/$name.sock" ]; then
		echo "run.sh: aiofsd ($name) did not start:" >&2
		cat "$tmp/$name.log" >&2
		exit 1
	fi
}

# run_one OP N C SOCK PID ARGS...: one aiofs-bench run, its JSON lines
# kept; a failure is counted and recorded as a "failed" line.
run_one() {
	local op=$1 n=$2 c=$3 sock=$4 pid=$5 status

	shift 5
	if "$bench" -s "$sock" "$@" --concurrency "$n" --connections "$c" \
	    --duration "$duration" --workers "$workers" --daemon-pid "$pid" \
	    --json >"$tmp/one.jsonl" 2>"$tmp/one.err"; then
		status=ok
	else
		status=FAILED
		failed=$((failed + 1))
	fi
	cat "$tmp/one.jsonl" >>"$tmp/results.jsonl"
	if [ "$smoke" = 1 ] || [ $status != ok ]; then
		cat "$tmp/one.jsonl"
	else
		printf '%-20s n=%-3s c=%-5s ok\n' "$op" "$n" "$c"
	fi
	if [ $status != ok ]; then
		echo "run.sh: $op n=$n c=$c failed:" >&2
		cat "$tmp/one.err" >&2
		echo "{\"op\":\"$op\",\"concurrency\":$n,\"connections\":$c,\"failed\":true}" \
		    >>"$tmp/results.jsonl"
	fi
}

# A fresh main daemon for every run, on the same root (the files stay):
# aiofsd keeps memory it has freed (its malloc trim threshold is 64 MiB),
# so with one daemon throughout, a cell's RSS would be what the earlier
# cells left.  A daemon found dead counts as a failure.
fresh_main() {
	if [ -n "$dpid" ] && ! kill -0 "$dpid" 2>/dev/null; then
		echo "run.sh: aiofsd died:" >&2
		cat "$tmp/main.log" >&2
		failed=$((failed + 1))
		dpid=
	fi
	stop_daemon dpid
	start_daemon dpid main --allow-fd-passing
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
failed=0
: >"$tmp/results.jsonl"
for op in $ops; do
	case $op in
	seqread-fd)
		args=(--op seqread --fd --size "$seqsize") ;;
	seqread)
		args=(--op seqread --size "$seqsize") ;;
	isolation)
		# Once, at 1 in flight on 1 connection: the target's case.
		fresh_main
		run_one isolation 1 1 "$tmp/main.sock" "$dpid" \
		    --op isolation --size "$isosize"
		continue ;;
	idle)
		# A daemon of its own, so that neither its limits nor its
		# memory afterwards change the other runs; it inherits our
		# RLIMIT_NOFILE, which must cover every connection.
		need=$((idlemax + 64))
		hard=$(ulimit -Hn)
		if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
			echo "run.sh: idle: $idleconns connections need" \
			    "$need fds, the hard limit is $hard" >&2
			failed=$((failed + 1))
			echo "{\"op\":\"idle\",\"concurrency\":1,\"connections\":$idleconns,\"failed\":true}" \
			    >>"$tmp/results.jsonl"
			continue
		fi
		soft=$(ulimit -Sn)
		if [ "$soft" != unlimited ] && [ "$soft" -lt "$need" ]; then
			ulimit -Sn "$need"
		fi
		start_daemon ipid idle --max-connections "$idlemax" \
		    --max-connections-per-uid "$idlemax"
		run_one idle 1 "$idleconns" "$tmp/idle.sock" "$ipid" \
		    --op idle
		if ! kill -0 "$ipid" 2>/dev/null; then
			echo "run.sh: aiofsd (idle) died:" >&2
			cat "$tmp/idle.log" >&2
			failed=$((failed + 1))
		fi
		stop_daemon ipid
		continue ;;
	*)
		args=(--op "$op") ;;
	esac
	for cell in $cells; do
		fresh_main
		run_one "$op" "${cell%%:*}" "${cell##*:}" "$tmp/main.sock" \
		    "$dpid" "${args[@]}" --baseline
	done
done
if [ -n "$dpid" ] && ! kill -0 "$dpid" 2>/dev/null; then
	echo "run.sh: aiofsd died:" >&2
	cat "$tmp/main.log" >&2
	failed=$((failed + 1))
	dpid=
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "${BENCH_KEEP:-}" ]; then
	cp "$tmp/results.jsonl" "$BENCH_KEEP"
fi

# The Markdown: machine, command, the table, and the issue's targets.
report() {
	local model
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
	echo "<!-- BEGIN BENCH RESULTS (tests/bench/run.sh writes this part) -->"
	echo "## Results"
	echo
	echo "- Machine: $(nproc) CPUs, ${model:-unknown model}," \
	    "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' \
	    /proc/meminfo), kernel $(uname -sr)"
	echo "- Run: $started; load average $load_before before," \
	    "$load_after after"
	echo "- Command: \`BENCH_DURATION=$duration BENCH_SEQ_SIZE=$seqsize" \
	    "BENCH_ISO_SIZE=$isosize BENCH_IDLE_CONNS=$idleconns" \
	    "BENCH_WORKERS=$workers tests/bench/run.sh BUILD_DIR\`" \
	    "(aiofsd -w $workers --allow-fd-passing; for idle a second" \
	    "aiofsd -w $workers --max-connections $idlemax" \
	    "--max-connections-per-uid $idlemax; RelWithDebInfo build)"
	echo
	awk -f - "$tmp/results.jsonl" <<'EOF'
function get(line, key,    i, s) {
	i = index(line, "\"" key "\":")
	if (i == 0)
		return ""
	s = substr(line, i + length(key) + 3)
	sub(/[,}].*/, "", s)
	gsub(/"/, "", s)
	return s
}
function num(x) { return x == "" ? 0 : x + 0 }
function us_op(cpu, ops) { return ops > 0 ? sprintf("%.1f", cpu * 1e6 / ops) : "-" }
function mib(kb) { return kb / 1024 }
# Data one request of op holds in the daemon while in flight, in bytes: the
# read or written block, the listdir reply (1,000 names, ~7 KB packed)
# rounded up, and nothing for stat, ping and seqread --fd (whose reads do
# not go through the daemon).  mixed is counted at its largest, listdir.
function payload(op) {
	if (op == "seqread")
		return 1048576
	if (op == "listdir" || op == "mixed")
		return 8192
	if (op == "open-read-close" || op == "read-file" || op == "pread" || \
	    op == "create-write-close")
		return 4096
	return 0
}
{
	op = get($0, "op")
	n = get($0, "concurrency")
	c = get($0, "connections")
	if (op == "isolation" || op == "idle") {
		# One run each: kept whole, shown in their own tables.
		if (get($0, "failed") == "true")
			xfailed[op] = 1
		else
			x[op] = $0
		next
	}
	base = sub(/-baseline$/, "", op)
	k = op SUBSEP n SUBSEP c
	if (!(k in seen)) {
		seen[k] = 1
		order[++nk] = k
	}
	if (get($0, "failed") == "true") {
		failed[k] = 1
		next
	}
	if (base) {
		bops[k] = num(get($0, "ops_per_s"))
		bmb[k] = num(get($0, "mb_per_s"))
		bp50[k] = num(get($0, "p50_us"))
		bthr[k] = get($0, "threads")
	} else {
		ops[k] = num(get($0, "ops_per_s"))
		mb[k] = num(get($0, "mb_per_s"))
		p50[k] = num(get($0, "p50_us"))
		p99[k] = num(get($0, "p99_us"))
		p999[k] = num(get($0, "p999_us"))
		dcpu[k] = us_op(num(get($0, "daemon_cpu_s")), num(get($0, "ops")))
		ccpu[k] = us_op(num(get($0, "client_cpu_s")), num(get($0, "ops")))
		errs[k] = num(get($0, "errors"))
		rss[k] = get($0, "daemon_rss_kb")
		sockmb[k] = get($0, "sock_mb_per_s")
	}
}
END {
	print "| op | in flight | conns | ops/s | MB/s | p50 µs | p99 µs | p99.9 µs | daemon CPU µs/op | client CPU µs/op | daemon RSS MiB | baseline ops/s (threads) | baseline MB/s | baseline p50 µs | ops/s vs baseline |"
	print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for (i = 1; i <= nk; i++) {
		k = order[i]
		split(k, f, SUBSEP)
		if (k in failed && !(k in ops)) {
			printf "| %s | %s | %s | FAILED | | | | | | | | | | | |\n", f[1], f[2], f[3]
			continue
		}
		ratio = (k in bops) && bops[k] > 0 ? sprintf("%.2f×", ops[k] / bops[k]) : "-"
		printf "| %s | %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %s | %s | %s | %.0f (%s) | %.1f | %.1f | %s |\n", \
		    f[1] (errs[k] > 0 || (k in failed) ? " (ERRORS)" : ""), f[2], f[3], ops[k], mb[k], \
		    p50[k], p99[k], p999[k], dcpu[k], ccpu[k], \
		    rss[k] == "" ? "-" : sprintf("%.1f", mib(rss[k])), bops[k], \
		    (k in bthr) ? bthr[k] : "-", bmb[k], bp50[k], ratio
	}
	print ""
	print "For ping the baseline is a raw ping-pong of 16-byte messages over"
	print "socketpairs to a forked echo process; for the other ops it is the"
	print "same operations on the same files with plain syscalls in"
	print "min(workers, in flight × conns) threads.  MB/s is 10^6 bytes/s."
	print "Daemon RSS is the largest VmRSS sampled every 100 ms through the"
	print "window and at its end; every cell has a freshly started aiofsd, as"
	print "it keeps the memory it frees."
	sockrows()
	isorows()
	idlerows()
	print ""
	print "### Against the targets"
	print ""
	print "| target | measured | ratio | cell | met? |"
	print "|---|---|--:|---|---|"
	target("stat, 64 in flight ≥ 150 k ops/s", "stat", 150000, "ops")
	target("open-read-close, 64 in flight ≥ 60 k ops/s", "open-read-close", 60000, "ops")
	target("read-file, 64 in flight ≥ 120 k ops/s", "read-file", 120000, "ops")
	target("seqread inline ≥ 3 GB/s", "seqread", 3000, "mb")
	socktarget()
	fdtarget()
	pingtarget()
	idletargets()
	rsstarget()
	isotarget()
	print ""
	print "Ratio: measured / target, or for targets that are ratios the measured"
	print "ratio itself."
	print "In-flight data for the RSS target: 64 × conns × what one request of"
	print "the op holds (1 MiB for seqread, 8 KiB for listdir and mixed, 4 KiB"
	print "for the 4 KiB reads and writes, 0 for stat, ping and seqread --fd);"
	print "its ratio is the worst cell's RSS over that cell's allowance, and it"
	print "is met only if every 64-in-flight cell is within its own.  Smoke runs"
	print "(BENCH_SMOKE=1) use small sizes and counts, so their verdicts mean"
	print "nothing."
}
function yes(ok) { return ok ? "met" : "**no**" }
# The plain-socket ceiling measured beside each seqread cell.
function sockrows(    i, k, f, any) {
	for (i = 1; i <= nk; i++) {
		k = order[i]
		split(k, f, SUBSEP)
		if (f[1] != "seqread" || !(k in ops) || sockmb[k] == "")
			continue
		if (!any) {
			print ""
			print "### seqread inline against plain Unix-socket bulk transfer"
			print ""
			print "| in flight | conns | seqread MB/s | socket MB/s | seqread / socket |"
			print "|--:|--:|--:|--:|--:|"
			any = 1
		}
		printf "| %s | %s | %.1f | %.1f | %s |\n", f[2], f[3], mb[k], sockmb[k], \
		    (sockmb[k] > 0 ? sprintf("%.0f%%", 100 * mb[k] / sockmb[k]) : "-")
	}
	if (any) {
		print ""
		print "The socket figure: one forked writer sends the same 1 MiB buffer over"
		print "and over on C socketpairs (SO_SNDBUF raised to 4 MiB as aiofsd does"
		print "for bulk connections, as far as net.core.wmem_max allows), each read"
		print "by a thread into a warm, page-aligned 1 MiB buffer, in the same run."
	}
}
# The heading of the section of a one-run op; 1 if it has results to show.
function section(op, title) {
	if (!(op in x) && !(op in xfailed))
		return 0
	print ""
	print "### " title
	print ""
	if (!(op in x)) {
		print "FAILED."
		return 0
	}
	return 1
}
function isorows(    l) {
	if (!section("isolation", "Latency isolation"))
		return
	l = x["isolation"]
	print "| probe: stat | in flight | conns | ops/s | p50 µs | p99 µs | p99.9 µs |"
	print "|---|--:|--:|--:|--:|--:|--:|"
	printf "| alone | %s | %s | %.0f | %.1f | %.1f | %.1f |\n", get(l, "concurrency"), \
	    get(l, "connections"), get(l, "alone_ops_per_s"), get(l, "alone_p50_us"), \
	    get(l, "alone_p99_us"), get(l, "alone_p999_us")
	printf "| beside the stream%s | %s | %s | %.0f | %.1f | %.1f | %.1f |\n", \
	    (num(get(l, "errors")) > 0 ? " (ERRORS)" : ""), get(l, "concurrency"), \
	    get(l, "connections"), get(l, "ops_per_s"), get(l, "p50_us"), \
	    get(l, "p99_us"), get(l, "p999_us")
	print ""
	printf "The stream: one more connection reading a %.0f MiB file inline with\n", \
	    get(l, "stream_size") / 1048576
	printf "aiofs_preadinto, %d × 1 MiB in flight into warm buffers, from start to\n", \
	    get(l, "stream_depth")
	printf "end and again: %.0f MB/s (%.2f passes over the file in the window;\n", \
	    get(l, "stream_mb_per_s"), get(l, "stream_passes")
	printf "p50 %.1f µs per 1 MiB read).  p99 beside / alone = %.2f×, p50 %.2f×.\n", \
	    get(l, "stream_p50_us"), get(l, "p99_ratio"), get(l, "p50_ratio")
	printf "Alone and beside alternate in %d rounds, each case's latencies merged,\n", \
	    get(l, "rounds")
	print "so that the machine's drifting background load weighs on both alike."
}
function idlerows(    l) {
	if (!section("idle", "Idle connections"))
		return
	l = x["idle"]
	print "| asked | held (answered a ping) | daemon says | daemon RSS before | after hello, held " get(l, "hold_s") " s | after one ping each | KiB per connection (idle / used) | connects/s | connect p50 / p99 µs |"
	print "|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	printf "| %s | %s | %s | %.1f MiB | %.1f MiB | %.1f MiB | %.2f / %.2f | %.0f | %.1f / %.1f |\n", \
	    get(l, "connections"), get(l, "held"), get(l, "daemon_connections"), \
	    mib(get(l, "rss_before_kb")), mib(get(l, "rss_idle_kb")), \
	    mib(get(l, "rss_used_kb")), get(l, "kib_per_conn"), \
	    get(l, "kib_per_conn_used"), get(l, "ops_per_s"), get(l, "p50_us"), \
	    get(l, "p99_us")
	print ""
	print "Against a second aiofsd started for this run alone; a connection is"
	print "aiofs_connect (hello done). KiB per connection is the daemon's VmRSS"
	print "growth over the count."
}
# The best of the 64-in-flight cells (the best of all for seqread).
function target(label, op, lim, what,    i, k, f, best, v, where, ok) {
	best = -1
	for (i = 1; i <= nk; i++) {
		k = order[i]
		split(k, f, SUBSEP)
		if (f[1] != op || !(k in ops) || errs[k] > 0)
			continue
		if (op != "seqread" && f[2] != 64)
			continue
		v = what == "ops" ? ops[k] : mb[k]
		if (v > best) {
			best = v
			where = "n=" f[2] " c=" f[3]
		}
	}
	if (best < 0) {
		printf "| %s | not measured | - | - | - |\n", label
		return
	}
	ok = best >= lim
	if (what == "ops")
		printf "| %s | %.0f ops/s | %.2f× | %s (best) | %s |\n", label, best, best / lim, where, yes(ok)
	else
		printf "| %s | %.2f GB/s | %.2f× | %s (best) | %s |\n", label, best / 1000, best / lim, where, yes(ok)
}
# seqread inline against the socket measured in the same cell: the best.
function socktarget(    i, k, f, best, r, where, bk) {
	best = -1
	for (i = 1; i <= nk; i++) {
		k = order[i]
		split(k, f, SUBSEP)
		if (f[1] != "seqread" || !(k in ops) || errs[k] > 0 || sockmb[k] <= 0)
			continue
		r = mb[k] / sockmb[k]
		if (r > best) {
			best = r
			bk = k
			where = "n=" f[2] " c=" f[3]
		}
	}
	if (best < 0) {
		printf "| seqread inline ≥ 75%% of plain Unix-socket bulk transfer | not measured | - | - | - |\n"
		return
	}
	printf "| seqread inline ≥ 75%% of plain Unix-socket bulk transfer | %.2f GB/s vs %.2f GB/s socket | %.0f%% | %s (best) | %s |\n", \
	    mb[bk] / 1000, sockmb[bk] / 1000, best * 100, where, yes(best >= 0.75)
}
# seqread --fd against its baseline: the 1x1 cell, the worst, and p50s.
function fdtarget(    i, k, f, worst, r, where, one) {
	worst = -1
	for (i = 1; i <= nk; i++) {
		k = order[i]
		split(k, f, SUBSEP)
		if (f[1] != "seqread-fd" || !(k in ops) || !(k in bmb) || bmb[k] <= 0)
			continue
		r = mb[k] / bmb[k]
		if (f[2] == 1 && f[3] == 1)
			one = sprintf("%.0f%% at n=1 c=1 (p50 %.1f vs %.1f µs per MiB read); ", \
			    r * 100, p50[k], bp50[k])
		if (worst < 0 || r < worst) {
			worst = r
			where = "n=" f[2] " c=" f[3]
		}
	}
	if (worst < 0)
		printf "| seqread --fd ≥ 90%% of in-process pread | not measured | - | - | - |\n"
	else
		printf "| seqread --fd ≥ 90%% of in-process pread | %s%.0f%% in the worst cell | %.0f%% | %s (worst) | %s |\n", \
		    one, worst * 100, worst * 100, where, yes(worst >= 0.9)
}
function pingtarget(    k, r) {
	k = "ping" SUBSEP 1 SUBSEP 1
	if (!(k in p50) || !(k in bp50) || bp50[k] <= 0) {
		printf "| ping p50 at 1 in flight ≤ 1.5× raw socket | not measured | - | - | - |\n"
		return
	}
	r = p50[k] / bp50[k]
	printf "| ping p50 at 1 in flight ≤ 1.5× raw socket | %.1f µs vs %.1f µs raw | %.2f× | n=1 c=1 | %s |\n", \
	    p50[k], bp50[k], r, yes(r <= 1.5)
}
function idletargets(    l, held, asked, kib, e) {
	if (!("idle" in x)) {
		printf "| 10,000 idle connections held | %s | - | - | - |\n", \
		    ("idle" in xfailed) ? "FAILED" : "not measured"
		printf "| memory per idle connection ≤ 16 KiB | %s | - | - | - |\n", \
		    ("idle" in xfailed) ? "FAILED" : "not measured"
		return
	}
	l = x["idle"]
	held = num(get(l, "held"))
	asked = num(get(l, "connections"))
	e = num(get(l, "errors"))
	printf "| 10,000 idle connections held | %d of %d held (daemon reports %s)%s | %.2f× | idle c=%d | %s |\n", \
	    held, asked, get(l, "daemon_connections"), (e > 0 ? ", ERRORS" : ""), \
	    held / 10000, asked, yes(held >= 10000 && e == 0)
	# The larger of the two prices: an idle connection may have worked.
	kib = num(get(l, "kib_per_conn"))
	if (num(get(l, "kib_per_conn_used")) > kib)
		kib = num(get(l, "kib_per_conn_used"))
	printf "| memory per idle connection ≤ 16 KiB | %.2f KiB after hello, %.2f KiB after one ping | %.2f× | idle c=%d | %s |\n", \
	    get(l, "kib_per_conn"), get(l, "kib_per_conn_used"), kib / 16, asked, \
	    yes(kib <= 16 && held > 0)
}
# Daemon RSS in the 64-in-flight cells against 64 MiB + 64 × conns ×
# payload(op): the largest RSS, and whether every cell kept to its own.
function rsstarget(    i, k, f, g, v, allow, r, big, bigk, bigallow, worst, worstk, worstallow, ok) {
	big = -1
	worst = -1
	ok = 1
	for (i = 1; i <= nk; i++) {
		k = order[i]
		split(k, f, SUBSEP)
		if (f[2] != 64 || !(k in ops) || rss[k] == "")
			continue
		v = rss[k] * 1024
		allow = 64 * 1048576 + f[2] * f[3] * payload(f[1])
		r = v / allow
		if (r > 1)
			ok = 0
		if (v > big) {
			big = v
			bigk = k
			bigallow = allow
		}
		if (r > worst) {
			worst = r
			worstk = k
			worstallow = allow
		}
	}
	if (big < 0) {
		printf "| daemon RSS under a 64-deep load ≤ 64 MiB + in-flight data | not measured | - | - | - |\n"
		return
	}
	split(bigk, f, SUBSEP)
	printf "| daemon RSS under a 64-deep load ≤ 64 MiB + in-flight data | %.1f MiB, allowed %.1f MiB", \
	    big / 1048576, bigallow / 1048576
	if (worstk != bigk) {
		split(worstk, g, SUBSEP)
		printf "; worst against its allowance: %s n=64 c=%s, %.1f of %.1f MiB", \
		    g[1], g[3], rss[worstk] / 1024, worstallow / 1024 / 1024
	}
	printf " | %.2f× | %s n=%s c=%s (largest) | %s |\n", worst, f[1], f[2], f[3], yes(ok)
}
function isotarget(    l, r) {
	if (!("isolation" in x)) {
		printf "| latency isolation: stat p99 beside a 1 GiB stream ≤ 2× alone | %s | - | - | - |\n", \
		    ("isolation" in xfailed) ? "FAILED" : "not measured"
		return
	}
	l = x["isolation"]
	r = num(get(l, "p99_ratio"))
	printf "| latency isolation: stat p99 beside a 1 GiB stream ≤ 2× alone | %.1f µs alone, %.1f µs beside the stream (%.0f MiB file, %.2f GB/s)%s | %.2f× | isolation n=%s c=%s | %s |\n", \
	    get(l, "alone_p99_us"), get(l, "p99_us"), get(l, "stream_size") / 1048576, \
	    get(l, "stream_mb_per_s") / 1000, (num(get(l, "errors")) > 0 ? ", ERRORS" : ""), \
	    r, get(l, "concurrency"), get(l, "connections"), \
	    yes(r > 0 && r <= 2 && num(get(l, "errors")) == 0)
}
EOF
	echo "<!-- END BENCH RESULTS -->"
}

if [ -n "$out" ]; then
	report >"$tmp/section.md"
	if [ -f "$out" ] && grep -q '^<!-- BEGIN BENCH RESULTS' "$out" &&
	    grep -q '^<!-- END BENCH RESULTS' "$out"; then
		# Replace the old section, keep everything around it.
		awk -v sec="$tmp/section.md" '
			/^<!-- BEGIN BENCH RESULTS/ {
				while ((getline l < sec) > 0)
					print l
				skip = 1
				next
			}
			/^<!-- END BENCH RESULTS/ { skip = 0; next }
			!skip { print }
		' "$out" >"$tmp/new.md"
	else
		{
			echo "# aiofsd performance"
			echo
			cat "$tmp/section.md"
		} >"$tmp/new.md"
	fi
	cp "$tmp/new.md" "$out"
	echo "run.sh: wrote $out"
fi

if [ "$failed" -gt 0 ]; then
	echo "run.sh: $failed run(s) failed" >&2
	exit 1
fi
