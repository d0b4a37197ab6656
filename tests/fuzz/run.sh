#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [HARNESS...] - build the libFuzzer harnesses
# with clang (-fsanitize=fuzzer,address,undefined) and run each for
# SECONDS seconds.
#
#   harnesses   dispatch_fuzzer sequence_fuzzer, and frame_fuzzer when
#               tests/fuzz/frame_fuzzer.c is there (default: all)
#   FUZZ_BUILD  where to build          (default /tmp/aiofs-fuzz-build)
#   FUZZ_CORPUS corpus directories      (default /tmp/aiofs-fuzz-corpus)
#   FUZZ_OUT    crashes, logs, summary  (default /tmp/aiofs-fuzz-out)
#   FUZZ_JOBS   libFuzzer -jobs/-workers per harness (default 1)
#
# The corpora persist between runs, so time adds up.  Exit status 1 if a
# harness found a crash (its reproducer is in FUZZ_OUT/NAME/), 2 if the
# tools are missing.  See tests/fuzz/README.md.
set -euo pipefail

secs=${1:-60}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD:-/tmp/aiofs-fuzz-build}
corpus=${FUZZ_CORPUS:-/tmp/aiofs-fuzz-corpus}
out=${FUZZ_OUT:-/tmp/aiofs-fuzz-out}
jobs=${FUZZ_JOBS:-1}

if [ $# -gt 0 ]; then
	harnesses="$*"
else
	harnesses="dispatch_fuzzer sequence_fuzzer"
	[ -f "$here/frame_fuzzer.c" ] && harnesses="frame_fuzzer $harnesses"
fi

for tool in clang protoc-c pkg-config; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "fuzz: $tool is missing (make deps installs it)" >&2
		exit 2
	fi
done
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n)
{ (void)d; (void)n; return 0; }' | clang -x c -fsanitize=fuzzer - \
    -o /dev/null 2>/dev/null; then
	echo "fuzz: clang cannot link -fsanitize=fuzzer" \
	    "(the libclang-rt / libFuzzer runtime is missing)" >&2
	exit 2
fi

mkdir -p "$build/proto" "$corpus" "$out"
protoc-c --c_out="$build/proto" --proto_path="$top/proto" \
    "$top/proto/aiofs.proto"

cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined
	-D_GNU_SOURCE -std=gnu11
	-I$top/daemon -I$top/common -I$build/proto
	$(pkg-config --cflags libevent_core libprotobuf-c inih)"
libs="$(pkg-config --libs libevent_core libprotobuf-c inih) -lpthread"
# The daemon's sources as the build knows them (DAEMON_SRC: everything but
# main()), else every daemon/*.c but aiofsd.c and common/*.c.
daemon_src=$(awk -v top="$top" '
	/^set\(DAEMON_SRC/ { on = 1 }
	on {
		for (i = 1; i <= NF; i++)
			if ($i ~ /\.c\)?$/) {
				f = $i
				sub(/\)$/, "", f)
				print top "/" f
			}
		if ($0 ~ /\)/)
			on = 0
	}' "$top/CMakeLists.txt")
if [ -z "$daemon_src" ]; then
	daemon_src="$(ls "$top"/daemon/*.c | grep -v '/aiofsd\.c$')
	    $(ls "$top"/common/*.c 2>/dev/null)"
fi

for h in $harnesses; do
	case $h in
	frame_fuzzer)
		src="$here/frame_fuzzer.c $top/daemon/frame.c" ;;
	*)
		src="$here/$h.c $here/fuzzroot.c $daemon_src" ;;
	esac
	echo "=== build $h"
	# shellcheck disable=SC2086
	clang $cflags $src "$build/proto/aiofs.pb-c.c" $libs \
	    -o "$build/$h"
done

ubsan_default="print_stacktrace=1:halt_on_error=1"

status=0
summary="$out/summary.txt"
: > "$summary"
for h in $harnesses; do
	mkdir -p "$corpus/$h" "$out/$h" "$build/seeds-$h"
	if [ "$h" != frame_fuzzer ]; then
		FUZZ_WRITE_SEEDS="$build/seeds-$h" "$build/$h" >/dev/null 2>&1 ||
		    true
	fi
	echo "=== run $h for ${secs}s"
	log="$out/$h/fuzz.log"
	set +e
	ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-$ubsan_default} \
	    "$build/$h" -max_total_time="$secs" -timeout=20 -handle_xfsz=0 \
	    -rss_limit_mb=4096 -max_len=8192 -print_final_stats=1 \
	    $([ "$jobs" -gt 1 ] && echo "-jobs=$jobs -workers=$jobs") \
	    -artifact_prefix="$out/$h/" "$corpus/$h" "$build/seeds-$h" \
	    > "$log" 2>&1
	rc=$?
	set -e
	execs=$( (grep -o 'stat::number_of_executed_units: *[0-9]*' \
	    "$log" || true) | awk '{ s += $2 } END { print s + 0 }')
	cov=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 |
	    awk '{ print $2 }')
	crashes=$( (ls "$out/$h" | grep -E '^(crash|leak|timeout|oom)-' ||
	    true) | wc -l)
	line="$h: ${secs}s, $execs execs, cov ${cov:-?}, corpus $(ls \
	    "$corpus/$h" | wc -l), exit $rc, artifacts $crashes"
	echo "$line" | tee -a "$summary"
	if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
		status=1
		grep -m1 -A12 -E 'ERROR: |SUMMARY|dispatch_fuzzer:|sequence_fuzzer:' \
		    "$log" || tail -20 "$log"
	fi
done
echo "fuzz: summary in $summary"
exit $status
