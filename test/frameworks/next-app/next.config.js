// output: 'standalone' makes .next/standalone/server.js, the one file to run: what `libfcgi init` finds. The tracing
// root is this folder, not the repository around it (whose lockfile Next would take for a workspace's).
module.exports = { output: 'standalone', outputFileTracingRoot: __dirname, turbopack: { root: __dirname } };
