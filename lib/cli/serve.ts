// `libfcgi serve`: starts the process pool and the HTTP dev server for the options serve-args.ts read, and stops
// them on SIGINT or SIGTERM.
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { native } from '../addon/native';
import { UsageError } from './args';
import { createDevServer } from './dev-server';
import type { Site } from './dev-params';
import { hostRoute, htaccessWarning } from './dev-site';
import { ProcessPool } from './process-pool';
import { packageVersion } from './package-info';
import type { ServeOptions } from './serve-args';

/** suexec's safe PATH, which apps on a host get whatever the user's shell has. */
export const hostPath = '/usr/local/bin:/usr/bin:/bin';

type Log = (line: string) => void;

/** How to start the app: directly, as mod_fcgid does; under its wrapper; or a .js file that is not executable, under this Node. */
export function appCommand(options: ServeOptions, warn: Log): [string, string[]] {
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

/** The pool of app processes, started as mod_fcgid starts them: in the app's folder, with suexec's environment. */
function poolFor(options: ServeOptions, [command, args]: [string, string[]], socketDir: string, log: Log): ProcessPool {
  return new ProcessPool({
    command,
    args,
    cwd: dirname(options.app),
    env: { PATH: hostPath, ...options.env },
    socketDir,
    processes: options.procs,
    concurrency: options.concurrency,
    maxRequests: options.maxRequests,
    idleTimeout: options.idleTimeout,
    log,
  });
}

export function serve(options: ServeOptions): void {
  native(); // the pool opens sockets through the addon: where none fits, say so before anything starts
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const warn = (line: string) => process.stderr.write(`libfcgi: ${line}\n`);
  const command = appCommand(options, warn);
  const socketDir = mkdtempSync(join(tmpdir(), 'libfcgi-serve-'));
  const pool = poolFor(options, command, socketDir, warn);
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
