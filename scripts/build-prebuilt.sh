#!/usr/bin/env bash
# Builds the prebuilt addon for linux-x64 and linux-arm64, prebuilds/linux-ARCH/fcgi.node (and the relay, fcgi-relay,
# a static executable that needs nothing at all): libfcgi compiled from Debian's source package (with Debian's
# security patches) into a PIC static archive and linked in, with libstdc++ and libgcc, so that the binary needs
# nothing but glibc (2.28 or newer) and Node-API 8. linux-x64 is built natively, linux-arm64 with Debian's aarch64
# cross compilers (test/package/arm64.test.ts runs it under qemu-aarch64).
#
# Needs dpkg-dev, a deb-src entry for apt-get source and the cross compilers (scripts/install-deps.sh adds them all),
# or LIBFCGI_SOURCE set to an unpacked, patched libfcgi 2.4.2 source tree. Works in build/prebuilt/
# (LIBFCGI_PREBUILT_WORK). LIBFCGI_PREBUILT_ARCHES=x64 (or arm64) builds only that one.
# With --if-stale (npm's prepack), builds only the architectures whose binary is missing or older than a source.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${LIBFCGI_PREBUILT_WORK:-$repo/build/prebuilt}
say() { echo "build-prebuilt: $*"; }

# Each architecture's tools (a prefix for gcc, g++, ar, objdump and strip; none for the native x64 ones), its ELF
# format as objdump names it, its dynamic loader; and the glibc version the binaries may need at most (the oldest
# glibc they must load on).
tools_x64='' format_x64=elf64-x86-64 loader_x64=ld-linux-x86-64.so.2
tools_arm64=aarch64-linux-gnu- format_arm64=elf64-littleaarch64 loader_arm64=ld-linux-aarch64.so.1
max_glibc=GLIBC_2.28

arches=()
for arch in ${LIBFCGI_PREBUILT_ARCHES:-x64 arm64}; do
  case $arch in
    x64 | arm64) ;;
    *)
      say "no prebuilt for linux-$arch: only x64 and arm64" >&2
      exit 1
      ;;
  esac
  out=$repo/prebuilds/linux-$arch
  if [ "${1:-}" = --if-stale ] && [ -f "$out/fcgi.node" ] && [ -f "$out/fcgi-relay" ] &&
    [ -z "$(find native -path native/build -prune -o -newer "$out/fcgi.node" -print | head -n 1)" ] &&
    [ -z "$(find scripts/build-prebuilt.sh scripts/static-ldflag.js -newer "$out/fcgi.node")" ]; then
    say "prebuilds/linux-$arch/fcgi.node is up to date"
    continue
  fi
  arches+=("$arch")
done
[ ${#arches[@]} -gt 0 ] || exit 0

if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
  say "the prebuilt binaries are built on linux-x64 (arm64 with cross compilers), not on $(uname -s)-$(uname -m)" >&2
  exit 1
fi
for arch in "${arches[@]}"; do
  tools=tools_$arch
  for tool in gcc g++ ar objdump strip; do
    if ! command -v "${!tools}$tool" >/dev/null; then
      say "linux-$arch needs ${!tools}$tool (run scripts/install-deps.sh as root)" >&2
      exit 1
    fi
  done
done
rm -rf "$work"
mkdir -p "$work/src"

# 1. libfcgi's source, as Debian ships it: upstream 2.4.2 with debian/patches applied by dpkg-source.
if [ -n "${LIBFCGI_SOURCE:-}" ]; then
  src=$LIBFCGI_SOURCE dsc=""
  say "source: $src (LIBFCGI_SOURCE)"
else
  if ! (cd "$work/src" && apt-get source -qq libfcgi >apt-source.log 2>&1); then
    cat "$work/src/apt-source.log" >&2
    say "apt-get source libfcgi failed: it needs dpkg-dev and a deb-src entry for bookworm (run scripts/install-deps.sh as root), or set LIBFCGI_SOURCE to an unpacked source tree" >&2
    exit 1
  fi
  src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'libfcgi-*' | head -n 1)
  dsc=$(cd "$work/src" && ls ./*.dsc | sed 's|^\./||')
  say "source: $dsc"
fi
# What went in, for the log and for prebuilds/linux-ARCH/libfcgi.txt (whose first line `libfcgi --version` shows):
# Debian's version of the source, and the patches dpkg-source applied (.pc/applied-patches), else those listed.
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version 2>/dev/null || echo 2.4.2)
patches=none
for list in "$src/.pc/applied-patches" "$src/debian/patches/series"; do
  if [ -f "$list" ]; then
    patches=$(grep -v '^[[:space:]]*\(#\|$\)' "$list" | tr '\n' ' ' | sed 's/ $//')
    break
  fi
done
say "libfcgi $version, patches: ${patches:-none}"
if ! grep -q 'AC_INIT(\[fcgi\], \[2\.4\.2\]' "$src/configure.ac"; then
  say "$src is not libfcgi 2.4.2" >&2
  exit 1
fi
# The CVE-2025-23016 fix (debian/patches): refuse a name or value length that would overflow.
if ! grep -q 'nameLen >= INT_MAX' "$src/libfcgi/fcgiapp.c"; then
  say "$src lacks Debian's patch for CVE-2025-23016" >&2
  exit 1
fi

# 2. libfcgi's headers, the same for both architectures (the addon's build, and test/package/install.test.ts, take
# them from build/prebuilt/libfcgi/include). fcgi_config.h is what configure finds on glibc, on either architecture;
# only fcgiapp.c and os_unix.c read it.
mkdir -p "$work/libfcgi/include"
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

# Builds prebuilds/linux-$1/: libfcgi, the addon and the relay with that architecture's tools, then checks them.
build_arch() {
  local arch=$1 tools_var=tools_$1 format_var=format_$1 loader_var=loader_$1
  local tools=${!tools_var} format=${!format_var} loader=${!loader_var}
  local dir=$work/$arch out=$repo/prebuilds/linux-$arch
  mkdir -p "$dir/libfcgi/lib" "$dir/obj"
  cp -r "$work/libfcgi/include" "$dir/libfcgi/"

  # 3. The two C files the addon uses (the request API and its Unix layer), compiled PIC with Debian's hardening flags.
  local file
  local cflags=(-O2 -fPIC -fstack-protector-strong -D_FORTIFY_SOURCE=2 -I"$dir/libfcgi/include")
  for file in fcgiapp os_unix; do
    "${tools}gcc" "${cflags[@]}" -w -c "$src/libfcgi/$file.c" -o "$dir/obj/$file.o"
  done
  "${tools}ar" rcs "$dir/libfcgi/lib/libfcgi.a" "$dir/obj/fcgiapp.o" "$dir/obj/os_unix.o"
  say "linux-$arch: built $dir/libfcgi/lib/libfcgi.a"

  # 4. The addon, from a copy of native/ (and the scripts its gyp file runs) so that a source build's native/build
  # stays as it is. Node's headers are the local Node's: Node-API's are the same on every architecture.
  mkdir -p "$dir/addon/scripts"
  tar -c --exclude=native/build native | tar -x -C "$dir/addon"
  cp scripts/static-ldflag.js scripts/find-libfcgi.js "$dir/addon/scripts/"
  local gyp_args=(rebuild --jobs=max --arch="$arch" --directory="$dir/addon/native")
  local nodedir
  nodedir=$(npm config get nodedir 2>/dev/null || true)
  if [ -z "$nodedir" ] || [ "$nodedir" = undefined ] || [ "$nodedir" = null ]; then
    nodedir=$(dirname "$(dirname "$(command -v node)")")
  fi
  if [ -f "$nodedir/include/node/node_api.h" ]; then gyp_args+=(--nodedir="$nodedir"); fi
  local build_env=(GYP_DEFINES="libfcgi_static=$dir/libfcgi")
  if [ -n "$tools" ]; then
    build_env+=(CC="${tools}gcc" CXX="${tools}g++" LINK="${tools}g++" AR="${tools}ar")
  fi
  env "${build_env[@]}" node "$repo/node_modules/node-gyp/bin/node-gyp.js" "${gyp_args[@]}" \
    >"$dir/node-gyp.log" 2>&1 || {
    cat "$dir/node-gyp.log" >&2
    say "linux-$arch: node-gyp failed" >&2
    exit 1
  }
  local binary=$dir/addon/native/build/Release/fcgi.node relay=$dir/addon/native/build/Release/fcgi-relay
  "${tools}strip" --strip-unneeded "$binary"

  # 5. What it needs at run time: only glibc and the dynamic loader, at GLIBC_2.28 or older.
  local needed versions newest library product
  for product in "$binary" "$relay"; do
    if ! "${tools}objdump" -f "$product" | grep -q "file format $format\$"; then
      say "linux-$arch: $(basename "$product") is not $format:" \
        "$("${tools}objdump" -f "$product" 2>&1 | grep format)" >&2
      exit 1
    fi
  done
  needed=$("${tools}objdump" -p "$binary" | awk '$1 == "NEEDED" { print $2 }' | sort | tr '\n' ' ')
  versions=$("${tools}objdump" -T "$binary" | grep -o 'GLIBC_[0-9.]*' | sort -u -V | tr '\n' ' ')
  newest=$(echo "$versions" | tr ' ' '\n' | grep . | sort -V | tail -n 1)
  say "linux-$arch: needs $needed"
  say "linux-$arch: glibc versions $versions"
  for library in $needed; do
    case $library in
      libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | "$loader") ;;
      *)
        say "linux-$arch: unexpected dependency $library" >&2
        exit 1
        ;;
    esac
  done
  if [ "$(printf '%s\n%s\n' "$newest" "$max_glibc" | sort -V | tail -n 1)" != "$max_glibc" ]; then
    say "linux-$arch: $newest is newer than $max_glibc: the binary would not load on older systems" >&2
    "${tools}objdump" -T "$binary" | grep "$newest" >&2
    exit 1
  fi
  if "${tools}objdump" -T "$binary" | grep -q 'GLIBCXX_\|CXXABI_\|GCC_[0-9]'; then
    say "linux-$arch: libstdc++ or libgcc is linked dynamically" >&2
    exit 1
  fi

  "${tools}strip" "$relay"
  if "${tools}objdump" -p "$relay" | grep -q NEEDED; then
    say "linux-$arch: fcgi-relay is linked dynamically: it would not run everywhere the addon loads" >&2
    exit 1
  fi

  mkdir -p "$out"
  cp "$binary" "$out/fcgi.node"
  cp "$relay" "$out/fcgi-relay"
  cat >"$out/libfcgi.txt" <<EOF
libfcgi $version linked in (Debian's source, patches: ${patches:-none}), for glibc ${max_glibc#GLIBC_} or newer
Built by scripts/build-prebuilt.sh for linux-$arch from ${dsc:-$src}.
fcgi.node needs: $needed
fcgi.node glibc versions: $versions
fcgi-relay: static
EOF
  say "wrote prebuilds/linux-$arch/fcgi.node (minimum $newest, $(stat -c %s "$out/fcgi.node") bytes)" \
    "and fcgi-relay (static, $(stat -c %s "$out/fcgi-relay") bytes)"
}

for arch in "${arches[@]}"; do
  build_arch "$arch"
done
