#!/usr/bin/env bash
# Runs the apps of the FastCGI test suites under valgrind's memcheck and fails on any leak or invalid access that
# valgrind counts as an error (definite leaks, invalid reads/writes, uninitialised jumps).
set -euo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d /tmp/libfcgi-valgrind.XXXXXX)
trap 'rm -rf "$logs"' EXIT

LIBFCGI_TEST_VALGRIND="$logs" FUZZ_CASES="${FUZZ_CASES:-300}" npx vitest run \
  test/process/sync-loop.test.ts test/package/examples.test.ts test/process/http-server.test.ts \
  test/process/hostile-input.test.ts test/process/fuzz.test.ts test/process/loop-connection.test.ts
# The Node process that relays started (its relay-node line names valgrind), with what else knocks on its control socket.
LIBFCGI_TEST_VALGRIND="$logs" npx vitest run test/webservers/relay.test.ts -t 'spawn-fcgi'

status=0
count=0
for log in "$logs"/*.log; do
  count=$((count + 1))
  summary=$(grep -E 'ERROR SUMMARY' "$log" || true)
  if ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
    echo "valgrind found errors in $(grep -m1 'Command:' "$log"):"
    cat "$log"
    status=1
  else
    echo "valgrind: $(grep -m1 'Command:' "$log" | sed 's/.*Command: //') — $(grep -E 'definitely lost' "$log" | sed 's/.*definitely/definitely/'), ${summary#*== }"
  fi
done
[ "$count" -gt 0 ] || { echo "valgrind: no app ran under valgrind" >&2; exit 1; }
exit $status
