// What `libfcgi --help` prints, and what follows a mistake in the command line: every command and its options.
export const usage = `Usage: libfcgi serve [APP] [options]
       libfcgi init [DIR] [options]
       libfcgi status [DIR | LAUNCHER] [--json]
       libfcgi build
       libfcgi --version

serve: serves the FastCGI program APP on http://127.0.0.1:PORT/ the way Apache's mod_fcgid runs it on a host: each
process gets a listening socket on fd 0 and suexec's environment, requests come one at a time with the CGI
parameters Apache sends. Without APP, in a directory made by \`libfcgi init\`, it serves public_html as Apache does
with its .htaccess: files as files, node_modules, package files and dotfiles refused, other URLs to app.fcgi.

init: lays out an app for a shared host in DIR (default .): public_html/ holding .htaccess and the launcher app.fcgi
(#! this node), and app.js and package.json outside it. Prints what to do next.

status: asks the Node process of the site init laid out in DIR (default .; or its document root, or a launcher) what
it is doing: its pid, start time and code, the sockets of its relays, requests served and in flight (method, URL,
age), the slowest of the last minute, memory, restarts and the last crash. --json for scripts. Exits 3 when no Node
process runs.

build: builds the addon and the relay from source against the system's libfcgi (or LIBFCGI_PREFIX's, or
pkg-config's) into the package's build/Release/, used from then on in place of the prebuilt ones. Needs a C++
compiler and libfcgi's headers; prints the compiler's errors when it fails. See docs/install.md.

--version: the package's version, and which addon binary this machine loads.

Options of serve:
  --port N              the HTTP port on 127.0.0.1 (default 8080; 0 picks a free one)
  --procs N             most app processes at once, started as requests need them (default 4)
  --concurrency N       requests one process gets at once, each on its own connection as nginx sends them
                        (default 1, as mod_fcgid)
  --max-requests N      replace a process after N requests (default 0: never; FcgidMaxRequestsPerProcess)
  --idle-timeout S      stop a process idle for S seconds (default 300; 0: never; FcgidIdleTimeout)
  --env K=V             put K=V in the app's initial environment, which holds only these and suexec's
                        PATH=/usr/local/bin:/usr/bin:/bin; repeatable (FcgidInitialEnv)
  --max-request-len N   answer 500 to a request body over N bytes (default 131072, mod_fcgid's; 0: no limit;
                        FcgidMaxRequestLen)
  --wrapper CMD         run CMD (split at spaces) with APP as its script, SCRIPT_FILENAME (FcgidWrapper):
                        --wrapper php-cgi for a .php script
  --base PATH           the URL path the app is mounted at, its SCRIPT_NAME (default: the root)
  --document-root DIR   DOCUMENT_ROOT (default: APP's directory)
  --docroot DIR         serve DIR as Apache serves it with init's .htaccess, APP being the .fcgi script in it
                        (default without APP: public_html, when it holds app.fcgi)

Options of init:
  --docroot NAME        the document root folder in DIR (default public_html)
  --script NAME         the launcher in it, ending in .fcgi (default app.fcgi)
  --app FILE            the app's code in DIR, outside the document root (default app.js; .mjs for an ES module)
  --force               overwrite files that exist (init refuses otherwise)
  --no-relay            a launcher that is node itself: one Node process per process Apache starts (the default
                        runs through fcgi-relay, with one Node process for the site; accept() loop apps never do)
`;
