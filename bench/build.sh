#!/bin/sh
# build.sh: compile the load generator and the C libfcgi apps (hello, and one that sleeps 1 s) into bench/build/.
set -e
cd "$(dirname "$0")"
mkdir -p build
cc -O2 -Wall -Wextra -o build/loadgen loadgen.c
cc -O2 -Wall -Wextra -o build/c-app c-app.c -lfcgi
cc -O2 -Wall -Wextra -DSLEEP_MS=1000 -o build/c-sleep-app c-app.c -lfcgi
cc -O2 -Wall -Wextra -o build/relay-spawn relay-spawn.c
