#!/usr/bin/env bash
# Installs the Debian packages that building and testing need, when they are missing (run as root on Debian/Ubuntu).
set -euo pipefail

packages=(
  build-essential python3 pkg-config  # node-gyp
  libfcgi-dev libfcgi-bin             # the library we bind, and cgi-fcgi
  spawn-fcgi                          # spawns apps with a listening socket on fd 0, as web servers do
  lighttpd curl                       # serve and fetch the demo
  php-cgi                             # a FastCGI app that is not ours, for the dev server tests
  apache2 libapache2-mod-fcgid nginx  # the other web servers the tests run the apps under
  caddy                               # and Caddy, whose fastcgi transport sends CONTENT_LENGTH=-1 for chunked uploads
  clang-format                        # C++ formatting check
  valgrind                            # leak checks of the native layer
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all Debian packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root, or install them yourself: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages start system instances on port 80; the demo and the tests run their own on high ports.
for service in lighttpd apache2 nginx caddy; do
  service "$service" stop >/dev/null 2>&1 || true
done
