#!/usr/bin/env bash
# Installs what `npm run bench` needs (Debian, as root), builds the package and the C programs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
missing=()
for package in php-fpm wrk util-linux apache2-utils libapache2-mod-passenger; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  service php8.2-fpm stop >/dev/null 2>&1 || true
fi
if [ ! -d node_modules/node-fastcgi ]; then npm ci; fi
if [ ! -f build/Release/fcgi.node ]; then npm run build:native; fi
npx tsc -p tsconfig.build.json
sh bench/build.sh
