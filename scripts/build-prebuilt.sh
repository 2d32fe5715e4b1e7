#!/usr/bin/env bash
# Builds the prebuilt addon for linux-x64, prebuilds/linux-x64/fcgi.node (and the relay, fcgi-relay, a static
# executable that needs nothing at all): libfcgi compiled from Debian's source
# package (with Debian's security patches) into a PIC static archive and linked in, with libstdc++ and libgcc, so
# that the binary needs nothing but glibc (2.28 or newer) and Node-API 8.
#
# Needs dpkg-dev and a deb-src entry for apt-get source (scripts/install-deps.sh adds both), or LIBFCGI_SOURCE set
# to an unpacked, patched libfcgi 2.4.2 source tree. Works in build/prebuilt/ (LIBFCGI_PREBUILT_WORK).
# With --if-stale (npm's prepack), does nothing when the binary is newer than every source it is built from.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${LIBFCGI_PREBUILT_WORK:-$repo/build/prebuilt}
out=$repo/prebuilds/linux-x64
say() { echo "build-prebuilt: $*"; }

if [ "${1:-}" = --if-stale ] && [ -f "$out/fcgi.node" ] && [ -f "$out/fcgi-relay" ] &&
  [ -z "$(find binding.gyp native scripts/build-prebuilt.sh -newer "$out/fcgi.node" | head -n 1)" ]; then
  say "prebuilds/linux-x64/fcgi.node is up to date"
  exit 0
fi

if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
  say "only linux-x64 is built here, not $(uname -s)-$(uname -m)" >&2
  exit 1
fi
rm -rf "$work"
mkdir -p "$work/src" "$work/libfcgi/include" "$work/libfcgi/lib" "$work/obj"

# 1. libfcgi's source, as Debian ships it: upstream 2.4.2 with debian/patches applied by dpkg-source.
if [ -n "${LIBFCGI_SOURCE:-}" ]; then
  src=$LIBFCGI_SOURCE
else
  if ! (cd "$work/src" && apt-get source -qq libfcgi >apt-source.log 2>&1); then
    cat "$work/src/apt-source.log" >&2
    say "apt-get source libfcgi failed: it needs dpkg-dev and a deb-src entry for bookworm (run scripts/install-deps.sh as root), or set LIBFCGI_SOURCE to an unpacked source tree" >&2
    exit 1
  fi
  src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'libfcgi-*' | head -n 1)
  say "source: $(cd "$work/src" && ls ./*.dsc | sed 's|^\./||')"
fi
if ! grep -q 'AC_INIT(\[fcgi\], \[2\.4\.2\]' "$src/configure.ac"; then
  say "$src is not libfcgi 2.4.2" >&2
  exit 1
fi
# The CVE-2025-23016 fix (debian/patches): refuse a name or value length that would overflow.
if ! grep -q 'nameLen >= INT_MAX' "$src/libfcgi/fcgiapp.c"; then
  say "$src lacks Debian's patch for CVE-2025-23016" >&2
  exit 1
fi

# 2. The two C files the addon uses (the request API and its Unix layer), compiled PIC with Debian's hardening flags.
# fcgi_config.h is what configure finds on glibc; only fcgiapp.c and os_unix.c read it.
cat >"$work/libfcgi/include/fcgi_config.h" <<'EOF'
/* fcgi_config.h for glibc, written by libfcgi (npm) scripts/build-prebuilt.sh in place of configure's. */
#define HAVE_ARPA_INET_H 1
#define HAVE_FILENO_PROTO 1
#define HAVE_FPOS 1
#define HAVE_INTTYPES_H 1
#define HAVE_LIMITS_H 1
#define HAVE_NETDB_H 1
#define HAVE_NETINET_IN_H 1
#define HAVE_SOCKLEN 1
#define HAVE_STDINT_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRERROR 1
#define HAVE_STRINGS_H 1
#define HAVE_STRING_H 1
#define HAVE_SYS_PARAM_H 1
#define HAVE_SYS_SOCKET_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_UNISTD_H 1
#define STDC_HEADERS 1
#define PACKAGE "fcgi"
#define VERSION "2.4.2"
EOF
for header in fastcgi.h fcgiapp.h fcgimisc.h fcgios.h; do
  cp "$src/include/$header" "$work/libfcgi/include/"
done
cflags=(-O2 -fPIC -fstack-protector-strong -D_FORTIFY_SOURCE=2 -I"$work/libfcgi/include")
for file in fcgiapp os_unix; do
  cc "${cflags[@]}" -w -c "$src/libfcgi/$file.c" -o "$work/obj/$file.o"
done
ar rcs "$work/libfcgi/lib/libfcgi.a" "$work/obj/fcgiapp.o" "$work/obj/os_unix.o"
say "built $work/libfcgi/lib/libfcgi.a"

# 3. The addon, from a copy of the package so that the build/ of a source build stays as it is.
mkdir -p "$work/addon"
cp -r binding.gyp native "$work/addon/"
mkdir -p "$work/addon/scripts" && cp scripts/static-ldflag.js "$work/addon/scripts/"
gyp_args=(rebuild --jobs=max --directory="$work/addon")
nodedir=$(npm config get nodedir 2>/dev/null || true)
if [ -n "$nodedir" ] && [ "$nodedir" != undefined ] && [ "$nodedir" != null ]; then gyp_args+=(--nodedir="$nodedir"); fi
GYP_DEFINES="libfcgi_static=$work/libfcgi" node "$repo/node_modules/node-gyp/bin/node-gyp.js" "${gyp_args[@]}" \
  >"$work/node-gyp.log" 2>&1 || {
  cat "$work/node-gyp.log" >&2
  say "node-gyp failed" >&2
  exit 1
}
binary=$work/addon/build/Release/fcgi.node
strip --strip-unneeded "$binary"

# 4. What it needs at run time: only glibc and the dynamic loader, at GLIBC_2.28 or older.
needed=$(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }' | sort | tr '\n' ' ')
versions=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9.]*' | sort -u -V | tr '\n' ' ')
newest=$(echo "$versions" | tr ' ' '\n' | grep . | sort -V | tail -n 1)
say "needs: $needed"
say "glibc versions: $versions"
for library in $needed; do
  case $library in
    libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | ld-linux-x86-64.so.2) ;;
    *)
      say "unexpected dependency $library" >&2
      exit 1
      ;;
  esac
done
if [ "$(printf '%s\nGLIBC_2.28\n' "$newest" | sort -V | tail -n 1)" != GLIBC_2.28 ]; then
  say "$newest is newer than GLIBC_2.28: the binary would not load on older systems" >&2
  objdump -T "$binary" | grep "$newest" >&2
  exit 1
fi
if objdump -T "$binary" | grep -q 'GLIBCXX_\|CXXABI_\|GCC_[0-9]'; then
  say "libstdc++ or libgcc is linked dynamically" >&2
  exit 1
fi

relay=$work/addon/build/Release/fcgi-relay
strip "$relay"
if objdump -p "$relay" | grep -q NEEDED; then
  say "fcgi-relay is linked dynamically: it would not run everywhere the addon loads" >&2
  exit 1
fi

mkdir -p "$out"
cp "$binary" "$out/fcgi.node"
cp "$relay" "$out/fcgi-relay"
say "wrote prebuilds/linux-x64/fcgi.node (minimum $newest) and fcgi-relay (static)"
