#!/usr/bin/env bash
# tests/security/run.sh BUILD_DIR - run the security suite (one Check
# program, check_security, against the aiofsd of BUILD_DIR).
#
#   CK_RUN_SUITE=confine|readonly|race|protocol|limits|config|
#                impersonate|integrity        one suite
#   CK_RUN_CASE=...                           one test case
#   SEC_RACE_ROUNDS=N                         race rounds (default 2000)
#   SEC_DAEMON_LOG=1                          keep the daemons' stderr (-v)
#   AIOFSD=PATH                               another aiofsd binary
#
# Most tests need root (private mount namespaces, other uids, loop
# devices), as CI has; as another user they say what they skip.
set -euo pipefail

build=${1:?usage: run.sh BUILD_DIR}
bin=
for b in "$build/tests/security/check_security" \
    "$build/security/check_security" "$build/check_security"; do
	if [ -x "$b" ]; then
		bin=$b
		break
	fi
done
if [ -z "$bin" ]; then
	echo "security: no check_security under $build;" \
	    "build it: cmake --build $build --target check_security" >&2
	exit 2
fi
if [ -z "${AIOFSD:-}" ] && [ -x "$build/aiofsd" ]; then
	export AIOFSD="$build/aiofsd"
fi
if [ "$(id -u)" != 0 ]; then
	echo "security: not root: mount, impersonation and per-uid tests" \
	    "will be skipped" >&2
fi
# Check's own time limits; everything here is bounded in the tests.
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120}
exec "$bin"
