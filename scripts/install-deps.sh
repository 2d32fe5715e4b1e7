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
  apache2-suexec-pristine             # Apache running apps as their owner, as shared hosts do
  caddy                               # and Caddy, whose fastcgi transport sends CONTENT_LENGTH=-1 for chunked uploads
  h2o                                 # and H2O, whose fastcgi.spawn starts the app once and never again
  systemd                             # systemd-socket-activate and systemd-analyze, for socket activation
  clang-format                        # C++ formatting check
  valgrind                            # leak checks of the native layer
  dpkg-dev                            # apt-get source libfcgi, for the prebuilt binary (scripts/build-prebuilt.sh)
  gcc-aarch64-linux-gnu               # the linux-arm64 prebuilt, cross-compiled (scripts/build-prebuilt.sh)
  g++-aarch64-linux-gnu               # its C++, and the static libstdc++ it links
  binutils-aarch64-linux-gnu          # its objdump and strip, for the checks of what the binary needs
  libc6-dev-arm64-cross               # aarch64 glibc headers, and libc.a for the static fcgi-relay
  qemu-user                           # runs the arm64 Node, addon and relay here (test/package/arm64.test.ts)
  libc6-arm64-cross                   # what the arm64 Node loads under qemu-aarch64 -L /usr/aarch64-linux-gnu:
  libstdc++6-arm64-cross              # glibc and libstdc++ (test/package/arm64.test.ts)
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done

# scripts/build-prebuilt.sh fetches libfcgi's source with apt-get source, which needs a deb-src entry: on Debian, a
# sources file of its own for this release.
deb_src=/etc/apt/sources.list.d/libfcgi-deb-src.sources
need_deb_src=false
if [ -r /etc/os-release ] && [ "$(. /etc/os-release && echo "$ID")" = debian ] &&
  [ -z "$(apt-cache showsrc libfcgi 2>/dev/null | head -n 1)" ] && [ ! -e "$deb_src" ]; then
  need_deb_src=true
fi

if [ ${#missing[@]} -eq 0 ] && [ "$need_deb_src" = false ]; then
  echo "install-deps: all Debian packages present"
  exit 0
fi

adding="${missing[*]:-}"
[ "$need_deb_src" = false ] || adding="${adding:+$adding and }$deb_src"
echo "install-deps: adding $adding"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root, or install them yourself: apt-get install ${missing[*]:-}" >&2
  exit 1
fi
if [ "$need_deb_src" = true ]; then
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  cat >"$deb_src" <<EOF
# Written by libfcgi's scripts/install-deps.sh, for apt-get source libfcgi (scripts/build-prebuilt.sh).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
[ ${#missing[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages start system instances on port 80; the demo and the tests run their own on high ports.
for service in lighttpd apache2 nginx caddy h2o; do
  service "$service" stop >/dev/null 2>&1 || true
done
