#!/usr/bin/env bash
# Serves an example for real: installs what is missing, builds, and runs examples/hello.js under the dev server
# (`libfcgi serve`, dist/cli/cli.js), which spawns it with a listening socket on fd 0 as mod_fcgid does. PORT=8080 by
# default; Ctrl-C stops the server and the app.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-8080}

bash scripts/install-deps.sh
if [ ! -d node_modules ]; then npm ci; fi
if [ ! -f build/Release/fcgi.node ] || [ ! -f dist/cli/cli.js ]; then npm run build; fi

echo
echo "Serving examples/hello.js (a counter) through libfcgi serve: try curl http://127.0.0.1:$port/hello"
echo "Press Ctrl-C to stop."
exec node dist/cli/cli.js serve examples/hello.js --port "$port"
