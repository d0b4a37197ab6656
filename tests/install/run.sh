#!/usr/bin/env bash
# Install into a temporary prefix, then prove that a third-party program
# builds against it with pkg-config and with CMake's find_package, and runs
# against the installed daemon.  Also checks systemd socket activation
# when systemd-socket-activate is available.
#   run.sh BUILD_DIR SOURCE_DIR
set -u
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d /tmp/aiofs-install.XXXXXX)
pass=0
fail=0
daemon_pid=

cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

check() {
	local name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		pass=$((pass + 1))
		echo "ok - $name"
	else
		fail=$((fail + 1))
		echo "FAIL - $name"
		sed 's/^/    /' "$tmp/out"
	fi
}

prefix=$tmp/prefix
check "cmake --install" cmake --install "$build" --prefix "$prefix"
for f in sbin/aiofsd bin/aiofs include/aiofs.h lib/pkgconfig/aiofs.pc \
    lib/cmake/aiofs/aiofsConfig.cmake share/man/man1/aiofs.1 \
    share/man/man8/aiofsd.8 share/man/man3/libaiofs.3 \
    lib/systemd/system/aiofsd.socket lib/systemd/system/aiofsd.service \
    lib/systemd/user/aiofsd.socket lib/systemd/user/aiofsd.service \
    share/doc/aiofsd/aiofsd.conf.example; do
	check "installed $f" test -e "$prefix/$f"
done
check "versioned SONAME" sh -c "objdump -p '$prefix/lib/libaiofs.so' | grep -q 'SONAME.*libaiofs.so.0'"

cat >"$tmp/prog.c" <<'PROG'
#include <stdio.h>
#include <string.h>
#include <aiofs.h>

int
main(int argc, char **argv)
{
	aiofs_t		*h;
	aiofs_req_t	 req;
	int		 rc;

	(void)argc;
	if ((rc = aiofs_connect(&h, argv[1], "install-test")) != 0) {
		fprintf(stderr, "connect: %s\n", aiofs_strerror(rc));
		return 1;
	}
	memset(&req, 0, sizeof req);
	rc = aiofs_writefile(h, &req, "/t.txt", "installed\n", 10, 0, NULL);
	aiofs_req_cleanup(&req);
	if (rc != 10)
		return 2;
	rc = aiofs_readfile(h, &req, "/t.txt", 0, -1, NULL);
	printf("%.*s", (int)req.len, req.buf);
	aiofs_req_cleanup(&req);
	aiofs_close(h);
	return rc == 10 ? 0 : 3;
}
PROG

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cflags=${AIOFS_TEST_CFLAGS:-}
check "cc with pkg-config" sh -c "cc $cflags '$tmp/prog.c' -o '$tmp/prog-pc' \$(pkg-config --cflags --libs aiofs)"

mkdir -p "$tmp/cmproj"
cp "$tmp/prog.c" "$tmp/cmproj/prog.c"
cat >"$tmp/cmproj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(third LANGUAGES C)
find_package(aiofs REQUIRED)
add_executable(prog-cmake prog.c)
target_link_libraries(prog-cmake PRIVATE aiofs::aiofs)
CM
check "cmake find_package(aiofs)" sh -c "cmake -S '$tmp/cmproj' -B '$tmp/cmbuild' -DCMAKE_PREFIX_PATH='$prefix' -DCMAKE_C_FLAGS='$cflags' >/dev/null && cmake --build '$tmp/cmbuild' >/dev/null"

mkdir -p "$tmp/root"
"$prefix/sbin/aiofsd" -f -q -s "$tmp/sock" -r "$tmp/root" &
daemon_pid=$!
for _ in $(seq 100); do
	"$prefix/bin/aiofs" -s "$tmp/sock" ping >/dev/null 2>&1 && break
	sleep 0.05
done
check "pkg-config program runs" sh -c "LD_LIBRARY_PATH='$prefix/lib' '$tmp/prog-pc' '$tmp/sock' | grep -qx installed"
check "find_package program runs" sh -c "LD_LIBRARY_PATH='$prefix/lib' '$tmp/cmbuild/prog-cmake' '$tmp/sock' | grep -qx installed"
kill "$daemon_pid"
wait "$daemon_pid"
check "daemon exits 0 on SIGTERM" test $? -eq 0
daemon_pid=

if command -v systemd-socket-activate >/dev/null 2>&1; then
	rm -f "$tmp/act.sock"
	systemd-socket-activate -l "$tmp/act.sock" "$prefix/sbin/aiofsd" -f -q \
	    -r "$tmp/root" >"$tmp/act.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 100); do
		[ -S "$tmp/act.sock" ] && break
		sleep 0.05
	done
	check "socket activation: first connection starts aiofsd" sh -c "'$prefix/bin/aiofs' -s '$tmp/act.sock' cat /t.txt | grep -qx installed"
	kill "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
else
	fail=$((fail + 1))
	echo "FAIL - systemd-socket-activate not installed (make deps installs systemd)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
