#!/bin/sh
# build.sh: compile the load generator and the C libfcgi app into bench/build/.
set -e
cd "$(dirname "$0")"
mkdir -p build
cc -O2 -Wall -Wextra -o build/loadgen loadgen.c
cc -O2 -Wall -Wextra -o build/c-app c-app.c -lfcgi
