#!/usr/bin/env bash
# npm run bench:pairs [-- FASTCGI_APP HTTP_APP ROUNDS]: the nginx rows of `npm run bench` as pairs, for the ratios
# that noise moves most. One nginx (1 worker) passes to a FastCGI app (fastcgi_keep_conn on) and to a node:http app
# (proxy_pass, keepalive); each round runs `wrk -t2 -c16 -d3s` on the one, then at once on the other, and prints
# their ratio. Defaults: bench/apps/create-server.js against bench/apps/node-http.js, 9 rounds. FASTCGI_PARAMS names
# the parameters nginx sends (default: Debian's /etc/nginx/fastcgi_params).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/harness.sh
fcgi_app=${1:-create-server.js}
http_app=${2:-node-http.js}
rounds=${3:-9}
fastcgi_params=$(realpath "${FASTCGI_PARAMS:-/etc/nginx/fastcgi_params}")
run=$(mktemp -d)
fcgi_port=$(free_port) http_port=$(free_port) nginx_fcgi=$(free_port) nginx_http=$(free_port)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$run"; }
trap cleanup EXIT
spawn-fcgi -a 127.0.0.1 -p "$fcgi_port" -P "$run/fcgi.pid" -- "$(command -v node)" "bench/apps/$fcgi_app" >/dev/null
pids+=("$(cat "$run/fcgi.pid")")
PORT=$http_port node "bench/apps/$http_app" &
pids+=($!)
nginx_pair_config "$run" "$fcgi_port" "$http_port" "$nginx_fcgi" "$nginx_http" "$fastcgi_params" >"$run/nginx.conf"
nginx -p "$run" -c "$run/nginx.conf" &
pids+=($!)
sleep 1
rate() { wrk -t2 -c16 -d"$1"s "http://127.0.0.1:$2/hello" | awk '/Requests\/sec/ { print $2 }'; }
rate 2 "$nginx_fcgi" >/dev/null
rate 2 "$nginx_http" >/dev/null # warm-up
echo "round  $fcgi_app  $http_app  ratio"
for round in $(seq "$rounds"); do
  a=$(rate 3 "$nginx_fcgi")
  b=$(rate 3 "$nginx_http")
  echo "$round  $a  $b  $(node -p "($a / $b).toFixed(2)")"
done
