#!/usr/bin/env bash
# Serves the examples for real: installs what is missing, builds, and runs lighttpd in the foreground, which spawns
# examples/hello.js and examples/echo.js as FastCGI apps. PORT=8080 by default; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
port=${PORT:-8080}

bash scripts/install-deps.sh
if [ ! -f build/Release/fcgi.node ] || [ ! -f dist/index.js ]; then npm ci; fi

run=$(mktemp -d /tmp/libfcgi-demo.XXXXXX)
sed -e "s|@REPO@|$repo|g" -e "s|@RUN@|$run|g" -e "s|@PORT@|$port|g" deploy/lighttpd/demo.conf >"$run/lighttpd.conf"

lighttpd -D -f "$run/lighttpd.conf" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$run"' EXIT INT TERM

for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/hello" >/dev/null 2>&1 && break
  sleep 0.2
done
echo
echo "Serving through lighttpd + FastCGI:"
echo "  http://127.0.0.1:$port/hello   examples/hello.js (a counter)"
echo "  http://127.0.0.1:$port/echo    examples/echo.js  (try: curl --data-binary @package.json http://127.0.0.1:$port/echo)"
echo
curl -sS "http://127.0.0.1:$port/hello"
echo "Press Ctrl-C to stop."
wait $server
