#!/usr/bin/env bash
# tests/security/race-long.sh BUILD_DIR - the symlink race tests of the
# security suite with many rounds: ROUNDS client operations per
# race_paths case (default 400,000) and ROUNDS/10 rmtree rounds.  Takes
# minutes; CI runs the same tests with 2,000.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export SEC_RACE_ROUNDS=${ROUNDS:-400000}
export CK_RUN_SUITE=race
echo "race-long: $SEC_RACE_ROUNDS rounds"
exec "$here/run.sh" "${1:?usage: race-long.sh BUILD_DIR}"
