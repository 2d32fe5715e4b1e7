#!/usr/bin/env node
// The `libfcgi` command: `libfcgi serve [APP] [options]` reads its options, starts the process pool and the HTTP dev
// server, and stops them on SIGINT or SIGTERM; `libfcgi init [DIR]` lays out a new app (init.ts); `libfcgi status`
// asks a site's Node process what it is doing (status.ts).
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { addonSummary } from '../addon-binary';
import { FcgiError } from '../errors';
import { native } from '../native';
import { build } from './build';
import { createDevServer } from './dev-server';
import type { Site } from './dev-params';
import { type DocumentRoot, hostRoute, htaccessWarning } from './dev-site';
import { InitError, runInit } from './init';
import { ProcessPool } from './process-pool';
import { runStatus } from './status';
import { packageVersion } from './package-info';

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

export interface ServeOptions {
  app: string;
  port: number;
  procs: number;
  concurrency: number;
  maxRequests: number;
  idleTimeout: number;
  env: Record<string, string>;
  wrapper: string[] | undefined;
  base: string;
  documentRoot: string;
  /** Served as Apache serves it with init's .htaccess (--docroot, or public_html found). */
  root: DocumentRoot | undefined;
  maxRequestLen: number;
}

/** suexec's safe PATH, which apps on a host get whatever the user's shell has. */
export const hostPath = '/usr/local/bin:/usr/bin:/bin';

/** mod_fcgid's default FcgidMaxRequestLen. */
export const defaultMaxRequestLen = 131072;

/** A mistake in the command line: its message is printed with the usage. */
export class UsageError extends Error {}

function count(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new UsageError(`--${name} takes a whole number from ${min}, got '${value}'`);
  }
  return Number(value);
}

function environment(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new UsageError(`--env takes NAME=VALUE, got '${pair}'`);
    env[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return env;
}

export function parseServeArgs(argv: string[]): ServeOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      procs: { type: 'string' },
      concurrency: { type: 'string' },
      'max-requests': { type: 'string' },
      'idle-timeout': { type: 'string' },
      env: { type: 'string', multiple: true },
      wrapper: { type: 'string' },
      base: { type: 'string' },
      'document-root': { type: 'string' },
      docroot: { type: 'string' },
      'max-request-len': { type: 'string' },
    },
  });
  const [command, app, ...extra] = positionals;
  if (command !== 'serve') throw new UsageError(command ? `unknown command '${command}'` : 'no command given');
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const port = count('port', values.port, 8080, 0);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const base = (values.base ?? '').replace(/\/+$/, '');
  if (base !== '' && !base.startsWith('/')) throw new UsageError(`--base must start with /, got '${values.base}'`);
  const root = app === undefined || values.docroot !== undefined ? documentRoot(app, values.docroot) : undefined;
  if (root !== undefined && values.base !== undefined) {
    throw new UsageError('--base does not go with a document root: SCRIPT_NAME is where the script is in it');
  }
  if (root !== undefined && values['document-root'] !== undefined) {
    throw new UsageError(
      'give --docroot (served as Apache serves it) or --document-root (DOCUMENT_ROOT only), not both',
    );
  }
  const appPath = root === undefined ? resolve(app as string) : join(root.dir, root.script);
  return {
    app: appPath,
    port,
    procs: count('procs', values.procs, 4, 1),
    concurrency: count('concurrency', values.concurrency, 1, 1),
    maxRequests: count('max-requests', values['max-requests'], 0, 0),
    idleTimeout: count('idle-timeout', values['idle-timeout'], 300, 0),
    env: environment(values.env ?? []),
    wrapper: values.wrapper?.split(' ').filter(Boolean),
    base: root === undefined ? base : `/${root.script}`,
    documentRoot: root?.dir ?? resolve(values['document-root'] ?? dirname(appPath)),
    root,
    maxRequestLen: count('max-request-len', values['max-request-len'], defaultMaxRequestLen, 0),
  };
}

/**
 * The document root to serve and its script: --docroot DIR, or public_html when it holds app.fcgi (init's layout);
 * the script is APP, else DIR's app.fcgi, else the one .fcgi file in DIR.
 */
function documentRoot(app: string | undefined, docroot: string | undefined): DocumentRoot {
  const dir = resolve(docroot ?? 'public_html');
  if (docroot === undefined && !existsSync(join(dir, 'app.fcgi'))) {
    throw new UsageError('serve needs the app to run, or a public_html/app.fcgi here, as `libfcgi init` makes');
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--docroot ${docroot}: not a directory`);
  if (app !== undefined) {
    const script = relative(dir, resolve(app));
    if (script.startsWith('..') || resolve(app) === dir) {
      throw new UsageError(`${app} is not in the document root ${dir}: Apache runs only what is in it`);
    }
    return { dir, script: script.split(sep).join('/') };
  }
  if (existsSync(join(dir, 'app.fcgi'))) return { dir, script: 'app.fcgi' };
  const scripts = readdirSync(dir).filter((name) => name.endsWith('.fcgi'));
  if (scripts.length !== 1) {
    throw new UsageError(
      `${dir} holds ${scripts.length === 0 ? 'no .fcgi script' : 'several .fcgi scripts'}: name one`,
    );
  }
  return { dir, script: scripts[0] as string };
}

/** How to start the app: directly, as mod_fcgid does; under its wrapper; or a .js file that is not executable, under this Node. */
export function appCommand(options: ServeOptions, warn: (message: string) => void): [string, string[]] {
  const { app, wrapper } = options;
  let stats;
  try {
    stats = statSync(app);
  } catch {
    throw new UsageError(`${app} does not exist`);
  }
  if (!stats.isFile()) throw new UsageError(`${app} is not a file`);
  if (wrapper && wrapper.length > 0) return [wrapper[0] as string, wrapper.slice(1)];
  try {
    accessSync(app, constants.X_OK);
    return [app, []];
  } catch {
    if (/\.[cm]?js$/.test(app)) {
      warn(`${app} is not executable: running it with ${process.execPath}; mod_fcgid needs chmod +x and a #! line`);
      return [process.execPath, [app]];
    }
    throw new UsageError(`${app} is not executable: chmod +x it, or give --wrapper (--wrapper php-cgi for PHP)`);
  }
}

export function serve(options: ServeOptions): void {
  native(); // the pool opens sockets through the addon: where none fits, say so before anything starts
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const warn = (line: string) => process.stderr.write(`libfcgi: ${line}\n`);
  const [command, args] = appCommand(options, warn);
  const socketDir = mkdtempSync(join(tmpdir(), 'libfcgi-serve-'));
  const pool = new ProcessPool({
    command,
    args,
    cwd: dirname(options.app),
    env: { PATH: hostPath, ...options.env },
    socketDir,
    processes: options.procs,
    concurrency: options.concurrency,
    maxRequests: options.maxRequests,
    idleTimeout: options.idleTimeout,
    log: warn,
  });
  const site: Site = {
    scriptFilename: options.app,
    documentRoot: options.documentRoot,
    scriptName: options.base,
    software: `libfcgi/${packageVersion()} (dev server)`,
  };
  const { root, maxRequestLen } = options;
  if (root !== undefined) {
    const warning = htaccessWarning(root);
    if (warning !== undefined) warn(warning);
  }
  const server = createDevServer({ site, pool, root, maxRequestLen, log: say, warn });

  let stopping = false;
  const stop = async (exitCode: number) => {
    if (stopping) process.exit(exitCode); // a second Ctrl-C does not wait
    stopping = true;
    server.close();
    server.closeAllConnections();
    await pool.close();
    rmSync(socketDir, { recursive: true, force: true });
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  server.once('error', (error) => {
    warn(`cannot listen on 127.0.0.1:${options.port}: ${error.message}`);
    void stop(1);
  });
  server.listen(options.port, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    const what = root === undefined ? options.app : `${root.dir} (the other URLs to ${root.script})`;
    say(
      `libfcgi: serving ${what} on http://127.0.0.1:${port}${root === undefined ? options.base : ''}/ (Ctrl-C stops)`,
    );
    if (root !== undefined) say(`libfcgi: ${hostRoute(root)}`);
    pool.start();
  });
}

export function main(argv: string[]): void {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage);
    return;
  }
  if (argv[0] === '--version' || argv[0] === '-v') {
    process.stdout.write(`libfcgi ${packageVersion()}\naddon: ${addonSummary()}\n`);
    return;
  }
  if (argv[0] === 'build') {
    process.exitCode = build(argv.slice(1));
    return;
  }
  try {
    if (argv[0] === 'init') runInit(argv);
    else if (argv[0] === 'status') {
      runStatus(argv).catch((error: Error) => {
        process.stderr.write(`libfcgi status: ${error.message}\n`);
        process.exitCode = 2;
      });
    } else serve(parseServeArgs(argv));
  } catch (error) {
    if (error instanceof InitError && error.exitCode !== 2) {
      process.stderr.write(`libfcgi init: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof FcgiError && error.syscall === 'load addon') {
      process.stderr.write(`libfcgi: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    const usageError = error instanceof UsageError || error instanceof InitError;
    if (!(usageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) throw error;
    process.stderr.write(`libfcgi: ${(error as Error).message}\n\n${usage}`);
    process.exitCode = 2;
  }
}

if (require.main === module) main(process.argv.slice(2));
