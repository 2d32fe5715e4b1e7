#!/usr/bin/env bash
# npm run bench:pairs [-- FASTCGI_APP HTTP_APP ROUNDS]: the nginx rows of `npm run bench` as pairs, for the ratios
# that noise moves most. One nginx (1 worker) passes to a FastCGI app (fastcgi_keep_conn on) and to a node:http app
# (proxy_pass, keepalive); each round runs `wrk -t2 -c16 -d3s` on the one, then at once on the other, and prints
# their ratio. Defaults: bench/apps/create-server.js against bench/apps/node-http.js, 9 rounds. FASTCGI_PARAMS names
# the parameters nginx sends (default: Debian's /etc/nginx/fastcgi_params).
set -euo pipefail
cd "$(dirname "$0")/.."
fcgi_app=${1:-create-server.js}
http_app=${2:-node-http.js}
rounds=${3:-9}
fastcgi_params=$(realpath "${FASTCGI_PARAMS:-/etc/nginx/fastcgi_params}")
run=$(mktemp -d)
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
fcgi_port=$(free_port) http_port=$(free_port) nginx_fcgi=$(free_port) nginx_http=$(free_port)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$run"; }
trap cleanup EXIT
spawn-fcgi -a 127.0.0.1 -p "$fcgi_port" -P "$run/fcgi.pid" -- "$(command -v node)" "bench/apps/$fcgi_app" >/dev/null
pids+=("$(cat "$run/fcgi.pid")")
PORT=$http_port node "bench/apps/$http_app" &
pids+=($!)
cat >"$run/nginx.conf" <<CONF
daemon off; worker_processes 1; user root root; pid $run/nginx.pid; error_log $run/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $run/body; fastcgi_temp_path $run/fastcgi; proxy_temp_path $run/proxy;
  uwsgi_temp_path $run/uwsgi; scgi_temp_path $run/scgi;
  upstream fcgi { server 127.0.0.1:$fcgi_port; keepalive 32; }
  upstream http { server 127.0.0.1:$http_port; keepalive 32; }
  server { listen 127.0.0.1:$nginx_fcgi; location / { include $fastcgi_params; fastcgi_keep_conn on; fastcgi_pass fcgi; } }
  server { listen 127.0.0.1:$nginx_http; location / { proxy_pass http://http; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
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
