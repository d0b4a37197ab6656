#!/usr/bin/env bash
#
# run.sh BUILD_DIR [OUT.md] - start a private aiofsd, run the benchmark
# matrix with aiofs-bench, and write the results as Markdown.
#
# Every op runs at 1 and 64 requests in flight on 1 and 8 connections, each
# with --baseline (the same workload in-process on plain syscalls, or a raw
# socketpair echo for ping).  The results go between the BENCH markers of
# docs/performance.md (or OUT.md); the rest of that file is kept.
#
# Environment:
#   BENCH_DURATION  seconds per run (3)
#   BENCH_SEQ_SIZE  seqread file size, K/M/G suffixes (256M)
#   BENCH_WORKERS   daemon worker threads, and baseline threads (4)
#   BENCH_OPS       ops to run (all), e.g. "ping stat seqread-fd"
#   BENCH_SMOKE=1   every op once for about half a second, no report
#                   unless OUT.md is given; fails only if aiofs-bench does
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
	cells="4:2"
else
	duration=${BENCH_DURATION:-3}
	seqsize=${BENCH_SEQ_SIZE:-256M}
	cells="1:1 1:8 64:1 64:8"
fi
ops=${BENCH_OPS:-"ping stat open-read-close read-file pread seqread \
seqread-fd create-write-close listdir mixed"}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aiofs-bench.XXXXXX")
dpid=
cleanup() {
	if [ -n "$dpid" ]; then
		kill "$dpid" 2>/dev/null || true
		wait "$dpid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir "$tmp/root"
"$daemon" -f -q -s "$tmp/sock" -r "$tmp/root" -w "$workers" \
    --allow-fd-passing 2>"$tmp/aiofsd.log" &
dpid=$!
for _ in $(seq 100); do
	[ -S "$tmp/sock" ] && break
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
if [ ! -S "$tmp/sock" ]; then
	echo "run.sh: aiofsd did not start:" >&2
	cat "$tmp/aiofsd.log" >&2
	exit 1
fi

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
	*)
		args=(--op "$op") ;;
	esac
	for cell in $cells; do
		n=${cell%%:*}
		c=${cell##*:}
		if "$bench" -s "$tmp/sock" "${args[@]}" --concurrency "$n" \
		    --connections "$c" --duration "$duration" \
		    --workers "$workers" --daemon-pid "$dpid" --json \
		    --baseline >"$tmp/one.jsonl" 2>"$tmp/one.err"; then
			status=ok
		else
			status=FAILED
			failed=$((failed + 1))
		fi
		cat "$tmp/one.jsonl" >>"$tmp/results.jsonl"
		if [ "$smoke" = 1 ] || [ $status != ok ]; then
			cat "$tmp/one.jsonl"
		else
			printf '%-20s n=%-3s c=%-2s ok\n' "$op" "$n" "$c"
		fi
		if [ $status != ok ]; then
			echo "run.sh: $op n=$n c=$c failed:" >&2
			cat "$tmp/one.err" >&2
			echo "{\"op\":\"$op\",\"concurrency\":$n,\"connections\":$c,\"failed\":true}" \
			    >>"$tmp/results.jsonl"
		fi
	done
done
if ! kill -0 "$dpid" 2>/dev/null; then
	echo "run.sh: aiofsd died:" >&2
	cat "$tmp/aiofsd.log" >&2
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
	    "BENCH_WORKERS=$workers tests/bench/run.sh BUILD_DIR\`" \
	    "(aiofsd -w $workers --allow-fd-passing; RelWithDebInfo build)"
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
{
	op = get($0, "op")
	n = get($0, "concurrency")
	c = get($0, "connections")
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
	}
}
END {
	print "| op | in flight | conns | ops/s | MB/s | p50 µs | p99 µs | p99.9 µs | daemon CPU µs/op | client CPU µs/op | baseline ops/s (threads) | baseline MB/s | baseline p50 µs | ops/s vs baseline |"
	print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for (i = 1; i <= nk; i++) {
		k = order[i]
		split(k, f, SUBSEP)
		if (k in failed && !(k in ops)) {
			printf "| %s | %s | %s | FAILED | | | | | | | | | | |\n", f[1], f[2], f[3]
			continue
		}
		ratio = (k in bops) && bops[k] > 0 ? sprintf("%.2f×", ops[k] / bops[k]) : "-"
		printf "| %s | %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %s | %s | %.0f (%s) | %.1f | %.1f | %s |\n", \
		    f[1] (errs[k] > 0 || (k in failed) ? " (ERRORS)" : ""), f[2], f[3], ops[k], mb[k], \
		    p50[k], p99[k], p999[k], dcpu[k], ccpu[k], bops[k], \
		    (k in bthr) ? bthr[k] : "-", bmb[k], bp50[k], ratio
	}
	print ""
	print "For ping the baseline is a raw ping-pong of 16-byte messages over"
	print "socketpairs to a forked echo process; for the other ops it is the"
	print "same operations on the same files with plain syscalls in"
	print "min(workers, in flight × conns) threads.  MB/s is 10^6 bytes/s."
	print ""
	print "### Against the targets"
	print ""
	print "| target | measured | met? |"
	print "|---|---|---|"
	target("stat, 64 in flight ≥ 150 k ops/s", "stat", ">= 150000", "ops")
	target("open-read-close, 64 in flight ≥ 60 k ops/s", "open-read-close", ">= 60000", "ops")
	target("read-file, 64 in flight ≥ 120 k ops/s", "read-file", ">= 120000", "ops")
	target("seqread inline ≥ 3 GB/s", "seqread", ">= 3000", "mb")
	fdtarget()
	pingtarget()
}
# The best of the 64-in-flight cells (the best of all for seqread).
function target(label, op, cond, what,    i, k, f, best, v, where, lim, ok) {
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
		printf "| %s | not measured | - |\n", label
		return
	}
	split(cond, lim, " ")
	ok = best >= lim[2] + 0
	if (what == "ops")
		printf "| %s | %.0f ops/s (%s) | %s |\n", label, best, where, (ok ? "yes" : "**no**")
	else
		printf "| %s | %.2f GB/s (%s) | %s |\n", label, best / 1000, where, (ok ? "yes" : "**no**")
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
		printf "| seqread --fd ≥ 90%% of in-process pread | not measured | - |\n"
	else
		printf "| seqread --fd ≥ 90%% of in-process pread | %s%.0f%% in the worst cell (%s) | %s |\n", \
		    one, worst * 100, where, (worst >= 0.9 ? "yes" : "**no**")
}
function pingtarget(    k, r) {
	k = "ping" SUBSEP 1 SUBSEP 1
	if (!(k in p50) || !(k in bp50) || bp50[k] <= 0) {
		printf "| ping p50 at 1 in flight ≤ 1.5× raw socket | not measured | - |\n"
		return
	}
	r = p50[k] / bp50[k]
	printf "| ping p50 at 1 in flight ≤ 1.5× raw socket | %.1f µs vs %.1f µs raw = %.2f× | %s |\n", \
	    p50[k], bp50[k], r, (r <= 1.5 ? "yes" : "**no**")
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
