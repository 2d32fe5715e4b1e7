#!/usr/bin/env bash
# npm run bench:instructions [-- APP...]: user-space instructions per request of each app behind one nginx, and of
# that nginx, counted by valgrind's cachegrind, which a shared or noisy machine does not move the way it moves
# requests per second. An app named *http* is reached through proxy_pass (keepalive), any other through fastcgi_pass
# (fastcgi_keep_conn) under spawn-fcgi, with the parameters of FASTCGI_PARAMS (default: Debian's
# /etc/nginx/fastcgi_params; test/servers/fastcgi_params_node is the lean set docs/nginx.md offers). Each app runs
# twice under cachegrind, each time with a fresh nginx (one process, also under cachegrind) and the same warm-up
# (WARMUP requests, default 5000), the second time with MEASURED more (default 10000): the difference in instructions
# over MEASURED is the cost of one request, JIT compilation and start-up left out. Defaults:
# bench/apps/create-server.js and bench/apps/node-http.js.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/harness.sh
apps=("$@")
warmup=${WARMUP:-5000}
measured=${MEASURED:-10000}
fastcgi_params=$(realpath "${FASTCGI_PARAMS:-/etc/nginx/fastcgi_params}")
[ ${#apps[@]} -gt 0 ] || apps=(bench/apps/create-server.js bench/apps/node-http.js)
run=$(mktemp -d)
nginx_fcgi=$(free_port) nginx_http=$(free_port) app_port=$(free_port)
cleanup() { rm -rf "$run"; } # each measure() stops what it started
trap cleanup EXIT
# One process (master_process off), so that cachegrind counts the worker that serves.
nginx_pair_config "$run" "$app_port" "$app_port" "$nginx_fcgi" "$nginx_http" "$fastcgi_params" "master_process off; " \
  >"$run/nginx.conf"
# ApacheBench, not wrk: it stops after a count of requests, so both runs warm up alike.
requests() { ab -q -k -c 16 -n "$1" "http://127.0.0.1:$2/hello" >/dev/null; }
cachegrind=("$(command -v valgrind)" --tool=cachegrind --cache-sim=no)
summary() {
  for _ in $(seq 120); do grep -q '^summary' "$1" 2>/dev/null && break; sleep 0.5; done
  awk '/^summary:/ { print $2 }' "$1"
}

# One run of app and nginx under cachegrind: the warm-up, then `extra` requests; prints the instructions each ran.
measure() {
  local app=$1 extra=$2 pid port nginx
  local out="$run/app.$extra" nginx_out="$run/nginx.$extra"
  rm -f "$out" "$nginx_out"
  "${cachegrind[@]}" --cachegrind-out-file="$nginx_out" nginx -p "$run" -c "$run/nginx.conf" >/dev/null 2>&1 &
  nginx=$!
  if [[ $(basename "$app") == *http* ]]; then
    PORT=$app_port "${cachegrind[@]}" --cachegrind-out-file="$out" node "$app" >/dev/null 2>&1 &
    pid=$! port=$nginx_http
  else
    spawn-fcgi -a 127.0.0.1 -p "$app_port" -P "$run/app.pid" -- \
      "${cachegrind[@]}" --cachegrind-out-file="$out" "$(command -v node)" "$app" >/dev/null 2>&1
    pid=$(cat "$run/app.pid") port=$nginx_fcgi
  fi
  for _ in $(seq 120); do curl -sf -o /dev/null "http://127.0.0.1:$port/hello" && break; sleep 0.5; done # started
  requests "$warmup" "$port"
  [ "$extra" -eq 0 ] || requests "$extra" "$port"
  kill -QUIT "$nginx" # graceful: the worker ends and cachegrind writes its counts
  kill -TERM "$pid"
  echo "$(summary "$out") $(summary "$nginx_out")"
}

echo "app  instructions per request: app, nginx  ($warmup warm-up requests, $measured measured; $fastcgi_params)"
for app in "${apps[@]}"; do
  read -r base nginx_base < <(measure "$app" 0)
  read -r total nginx_total < <(measure "$app" "$measured")
  echo "$(basename "$app")  $(((total - base) / measured))  $(((nginx_total - nginx_base) / measured))"
done
