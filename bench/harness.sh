# What the shell benches share (sourced, not run): a free loopback port from harness.mjs, and the one nginx they put
# in front of a FastCGI app (fastcgi_keep_conn on) and a node:http app (proxy_pass, keepalive).

free_port() { node --input-type=module -e "import { freePort } from './bench/harness.mjs'; console.log(await freePort());"; }

# nginx_pair_config RUN FCGI_APP_PORT HTTP_APP_PORT NGINX_FCGI_PORT NGINX_HTTP_PORT FASTCGI_PARAMS [MAIN_DIRECTIVES]:
# prints an nginx configuration for the foreground, with its pid, log and temp files in RUN, that passes
# NGINX_FCGI_PORT to the FastCGI app (with the parameters of the file FASTCGI_PARAMS) and NGINX_HTTP_PORT to the
# node:http app.
nginx_pair_config() {
  local run=$1 fcgi_port=$2 http_port=$3 nginx_fcgi=$4 nginx_http=$5 fastcgi_params=$6 main=${7:-}
  cat <<CONF
daemon off; ${main}worker_processes 1; user root root; pid $run/nginx.pid; error_log $run/error.log warn;
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
}
