#!/usr/bin/env bash
# Serves VALGRIND_REQUESTS (default 5000) checked requests, half on one kept connection and half on new connections,
# from the accept() loop and the async engine hello-world apps running under valgrind's memcheck, then reports each
# app's definite leaks and error count, and any such report that passes through our addon (fcgi.node, native/*.cc).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/harness.sh
requests=${VALGRIND_REQUESTS:-5000}
[ -x bench/build/loadgen ] || sh bench/build.sh
logs=$(mktemp -d /tmp/libfcgi-valgrind-requests.XXXXXX)
echo "valgrind logs: $logs"
status=0

for app in sync-loop engine; do
  port=$(free_port)
  # spawn-fcgi binds the port before it execs valgrind: once it is bound, connections wait in the backlog.
  spawn-fcgi -n -a 127.0.0.1 -p "$port" -- "$(command -v valgrind)" --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite --suppressions=scripts/valgrind.supp --log-file="$logs/$app.log" \
    "$(command -v node)" "bench/apps/$app.js" &
  pid=$!
  for _ in $(seq 100); do (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  for mode in kept new; do
    if [ "$mode" = kept ]; then flags=(--connections 1 --keep-alive); else flags=(--connections 4); fi
    bench/build/loadgen --connect "127.0.0.1:$port" "${flags[@]}" --requests $((requests / 2)) --duration 900 \
      --expect-body $'Hello, world!\n' | tee -a "$logs/$app.loadgen.json"
  done
  kill -TERM "$pid"
  wait "$pid" || true
  log="$logs/$app.log"
  sum() { grep -o "\"$1\":[0-9]*" "$logs/$app.loadgen.json" | awk -F: '{ n += $2 } END { print n + 0 }'; }
  answered=$(sum requests)
  failed=$(sum errors)
  echo "$app: $answered requests answered right, $failed errors;" \
    "$(grep -E 'definitely lost:' "$log" | sed 's/.*definitely/definitely/');" \
    "$(grep -E 'ERROR SUMMARY' "$log" | sed 's/.*ERROR SUMMARY/ERROR SUMMARY/')"
  # valgrind's reports are blocks between "==pid== " lines; those through the addon, other than the stack where
  # SIGTERM found the process, are ours.
  ours=$(awk '/^==[0-9]+== $/ { if (block ~ /fcgi\.node/ && block !~ /Process terminating/) { print block; n++ } block = ""; next }
    { block = block $0 "\n" } END { print n + 0 > "/dev/stderr" }' "$log" 2>&1 >"$logs/$app.ours.txt")
  echo "$app: $ours valgrind reports through our addon (fcgi.node)"
  head -80 "$logs/$app.ours.txt"
  grep -q 'ERROR SUMMARY: 0 errors' "$log" && [ "$failed" -eq 0 ] || status=1
done
exit $status
