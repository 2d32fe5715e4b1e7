// When an app stops serving on its own: on SIGTERM (how mod_fcgid and lighttpd stop apps) after the requests in
// flight finish, after maxRequests (PHP_FCGI_MAX_REQUESTS), after idleTimeout, when the web server that spawned it
// has died, or when its script was touched (a redeploy). SIGTERM and a dead web server end the process with exit code
// 0 (a second SIGTERM or the end of the grace period at once). A redeploy replaces the process in place once the new
// code has shown that it starts; maxRequests does too where the spawner would not start the app again.
// This file holds the options and their resolution; policy.ts the rules, process.ts and server-lifecycle.ts the acts.
import { canRestartInPlace } from '../restart/replace';
import { spawnerRestartsApp } from '../restart/spawner';

export interface LifecycleOptions {
  /**
   * Serve this many requests, then stop accepting, finish those in flight and exit 0, so the web server starts a
   * fresh process (or, with restartInPlace, become a fresh process in place); 0 for no limit. Default:
   * PHP_FCGI_MAX_REQUESTS from the environment (the convention mod_fcgid and lighttpd users know), else 0.
   */
  maxRequests?: number;
  /**
   * Milliseconds without a request after which the app stops and exits 0, to free its memory where the spawner starts
   * it again on demand (mod_fcgid, lighttpd); 0 for never. Ignored, with a warning, where restartInPlace is on.
   * Default 0.
   */
  idleTimeout?: number;
  /**
   * Handle SIGTERM: stop accepting, finish the requests in flight, exit 0. Under PM2, which stops processes with
   * SIGINT (a reload, a restart, a stop), SIGINT is handled the same way by createServer(). Default true.
   */
  handleSignals?: boolean;
  /** The grace period after SIGTERM, in milliseconds, before the process exits anyway; 0 for none. Default 10000. */
  shutdownTimeout?: number;
  /**
   * Stop and exit 0 when the web server that spawned the app dies (it stops being the parent process). Default: true
   * when serving the listening socket a web server passed on fd 0.
   */
  exitWithParent?: boolean;
  /**
   * Restart with the new code once the script the web server runs (process.argv[1], e.g. app.fcgi) or a restart.txt
   * beside it is touched, created or replaced: a redeploy without root. Looked at once a second at most. The new code
   * is first started in a child until it reaches listen() or accept() (within startTimeout); if it fails, the old
   * code keeps serving and the error goes to stderr. Then the requests in flight finish and, on the socket a web
   * server passed on fd 0, the process replaces itself in place (same pid, same socket: no request refused); on a
   * socket of its own it exits 0. Default: true when serving the listening socket a web server passed on fd 0.
   */
  watchScript?: boolean;
  /**
   * How long the new code may take to reach listen() or accept() when a redeploy checks it, in milliseconds.
   * Default 30000.
   */
  startTimeout?: number;
  /**
   * After maxRequests, a crash (an uncaught exception, an unhandled rejection, an exit with a non-zero code), replace
   * the process in place with a fresh one instead of exiting; after a crash, answer 503 during a back-off of 1 s,
   * doubling to 30 s for crashes in a row. Default: true when serving fd 0 for a spawner that never starts the app
   * again (spawn-fcgi, H2O's fastcgi.spawn), false under mod_fcgid and lighttpd, which start a new process on demand.
   */
  restartInPlace?: boolean;
}

const lifecycleOptionNames = [
  'maxRequests',
  'idleTimeout',
  'handleSignals',
  'shutdownTimeout',
  'exitWithParent',
  'watchScript',
  'startTimeout',
  'restartInPlace',
] as const satisfies ReadonlyArray<keyof LifecycleOptions>;

/** The lifecycle options among others (server.listen() takes them too, over createServer()'s). */
export function lifecycleOptionsIn(options: object): LifecycleOptions {
  const picked: Record<string, unknown> = {};
  for (const name of lifecycleOptionNames)
    if (name in options) picked[name] = (options as Record<string, unknown>)[name];
  return picked as LifecycleOptions;
}

export interface Lifecycle extends Required<LifecycleOptions> {
  /** Whether the socket is the one a web server passed on fd 0, which a restart in place keeps. */
  webServerSocket: boolean;
  /** Whether this process can start itself again (it runs a script, not node -e or a REPL). */
  canReplace: boolean;
}

/** What resolution reads from the process, apart so that a table can give it. */
export interface HostTraits {
  /** PHP_FCGI_MAX_REQUESTS from the environment. */
  maxRequestsVariable: string | undefined;
  /** Whether the process that spawned the app starts it again when it exits (asked only when it matters). */
  spawnerRestartsApp: () => boolean;
  canRestartInPlace: boolean;
}

export function hostTraits(): HostTraits {
  return {
    maxRequestsVariable: process.env.PHP_FCGI_MAX_REQUESTS,
    spawnerRestartsApp,
    canRestartInPlace: canRestartInPlace(),
  };
}

function nonNegativeInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new TypeError(`${name} must be an integer from 0 to ${2 ** 31 - 1}`);
  }
  return value;
}

function positiveIntegerIn(text: string | undefined): number {
  const value = text === undefined ? NaN : Number(text);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

/** The options with their defaults, for a socket that is (or is not) the one a web server passed on fd 0. */
export function resolveLifecycle(
  options: LifecycleOptions,
  servingWebServerSocket: boolean,
  host: HostTraits = hostTraits(),
): Lifecycle {
  for (const name of ['handleSignals', 'exitWithParent', 'watchScript', 'restartInPlace'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean')
      throw new TypeError(`${name} must be a boolean`);
  }
  const restartInPlace =
    (options.restartInPlace ?? (servingWebServerSocket && !host.spawnerRestartsApp())) && host.canRestartInPlace;
  return {
    maxRequests: nonNegativeInteger('maxRequests', options.maxRequests, positiveIntegerIn(host.maxRequestsVariable)),
    idleTimeout: nonNegativeInteger('idleTimeout', options.idleTimeout, 0),
    handleSignals: options.handleSignals ?? true,
    shutdownTimeout: nonNegativeInteger('shutdownTimeout', options.shutdownTimeout, 10_000),
    exitWithParent: options.exitWithParent ?? servingWebServerSocket,
    watchScript: options.watchScript ?? servingWebServerSocket,
    startTimeout: nonNegativeInteger('startTimeout', options.startTimeout, 30_000) || 30_000,
    restartInPlace,
    webServerSocket: servingWebServerSocket,
    canReplace: host.canRestartInPlace,
  };
}
