// When an app stops serving on its own: on SIGTERM (how mod_fcgid and lighttpd stop apps) after the requests in
// flight finish, after maxRequests (PHP_FCGI_MAX_REQUESTS), after idleTimeout, when the web server that spawned it
// has died, or when its script was touched (a redeploy). SIGTERM and a dead web server end the process with exit code
// 0 (a second SIGTERM or the end of the grace period at once). A redeploy replaces the process in place once the new
// code has shown that it starts; maxRequests does too where the spawner would not start the app again.
import { readFileSync } from 'node:fs';
import { checkStart } from './restart/start-check';
import { canRestartInPlace, restartInPlace } from './restart/replace';
import { setCrashGuard, startedListening } from './restart/crash-guard';
import { ScriptWatch, watchInterval } from './restart/script-watch';
import { spawnerRestartsApp } from './restart/spawner';

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
}

/** Why an app stopped serving by itself. */
/** relaysGone: the relays that handed this process their sockets have all exited (see lib/relay). */
/**
 * The signals that ask a createServer() process to stop: SIGTERM (mod_fcgid, lighttpd, systemd, docker) and, in a
 * process PM2 runs (PM2_HOME and pm_id in its environment), PM2's own kill signal, SIGINT.
 */
export function stopSignals(): Array<'SIGTERM' | 'SIGINT'> {
  const { PM2_HOME, pm_id: pmId } = process.env;
  return PM2_HOME !== undefined && pmId !== undefined ? ['SIGTERM', 'SIGINT'] : ['SIGTERM'];
}

export type StopReason =
  'SIGTERM' | 'SIGINT' | 'maxRequests' | 'idleTimeout' | 'parentExited' | 'scriptChanged' | 'relaysGone';

/** Exit status when the grace period ends with requests still in flight, as if SIGTERM had not been handled. */
export const forcedExitCode = 143;

function nonNegativeInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new TypeError(`${name} must be an integer from 0 to ${2 ** 31 - 1}`);
  }
  return value;
}

function maxRequestsFromEnvironment(): number {
  const text = process.env.PHP_FCGI_MAX_REQUESTS;
  const value = text === undefined ? NaN : Number(text);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

export function resolveLifecycle(options: LifecycleOptions, servingWebServerSocket: boolean): Lifecycle {
  for (const name of ['handleSignals', 'exitWithParent', 'watchScript', 'restartInPlace'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean')
      throw new TypeError(`${name} must be a boolean`);
  }
  const restartInPlace =
    (options.restartInPlace ?? (servingWebServerSocket && !spawnerRestartsApp())) && canRestartInPlace();
  return {
    maxRequests: nonNegativeInteger('maxRequests', options.maxRequests, maxRequestsFromEnvironment()),
    idleTimeout: nonNegativeInteger('idleTimeout', options.idleTimeout, 0),
    handleSignals: options.handleSignals ?? true,
    shutdownTimeout: nonNegativeInteger('shutdownTimeout', options.shutdownTimeout, 10_000),
    exitWithParent: options.exitWithParent ?? servingWebServerSocket,
    watchScript: options.watchScript ?? servingWebServerSocket,
    startTimeout: nonNegativeInteger('startTimeout', options.startTimeout, 30_000) || 30_000,
    restartInPlace,
    webServerSocket: servingWebServerSocket,
  };
}

/**
 * Applies what a lifecycle implies for the whole process when serving starts: the crash guard, and idleTimeout
 * turned off (with a warning) where exiting would leave nobody to start the app again. Returns the lifecycle to use.
 */
export function startLifecycle(lifecycle: Lifecycle): Lifecycle {
  startedListening();
  setCrashGuard(lifecycle.restartInPlace);
  if (!lifecycle.restartInPlace || lifecycle.idleTimeout === 0) return lifecycle;
  process.stderr.write(
    'libfcgi: idleTimeout is ignored: the process that spawned this app (spawn-fcgi, H2O) never starts it again, ' +
      'so exiting when idle would take the site down until someone restarts it by hand\n',
  );
  return { ...lifecycle, idleTimeout: 0 };
}

/** What a stop ends in: the process exits, or (see LifecycleOptions) it becomes a fresh image of itself. */
export function replacesProcess(lifecycle: Lifecycle, reason: StopReason): boolean {
  if (reason === 'scriptChanged') return lifecycle.webServerSocket && canRestartInPlace();
  return reason === 'maxRequests' && lifecycle.restartInPlace;
}

/** Ends the process as a stop for `reason` should: exit 0, or restart in place. */
export function endProcess(lifecycle: Lifecycle, reason: StopReason): never {
  if (replacesProcess(lifecycle, reason)) restartInPlace();
  process.exit(0);
}

/** Says on stderr that a redeploy was refused, and why. */
export function reportFailedStart(why: string): void {
  process.stderr.write(
    `libfcgi: the new version of ${process.argv[1]} does not start, so the running one goes on serving: ${why}\n` +
      'libfcgi: it will be tried again at the next change of the script or restart.txt\n',
  );
}

/**
 * The parent to watch: the process that spawned the app, unless there is none to watch (already reparented to init)
 * or it is spawn-fcgi, which exits by design once the app has started.
 */
export function parentToWatch(lifecycle: Lifecycle): number {
  if (!lifecycle.exitWithParent || process.ppid <= 1) return 0;
  try {
    if (readFileSync(`/proc/${process.ppid}/comm`, 'utf8').trim() === 'spawn-fcgi') return 0;
  } catch {
    // no /proc: watch it anyway
  }
  return process.ppid;
}

/**
 * The lifecycle of a createServer() server, whose event loop runs: timers, and a process SIGTERM listener. stop(then)
 * must stop accepting, let the requests in flight finish, and call then().
 */
export class ServerLifecycle {
  readonly #lifecycle: Lifecycle;
  readonly #stop: (then: () => void) => void;
  #served = 0;
  #stopping = false;
  #checking = false;
  #idleTimer: NodeJS.Timeout | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  readonly #signals = stopSignals();
  readonly #onSignal = (signal: 'SIGTERM' | 'SIGINT'): void => {
    if (this.#stopping) {
      setCrashGuard(false); // even while a restart drains: a second signal ends the process
      process.exit(forcedExitCode);
    }
    this.stopWith(signal);
  };

  constructor(lifecycle: Lifecycle, stop: (then: () => void) => void) {
    this.#lifecycle = startLifecycle(lifecycle);
    this.#stop = stop;
  }

  start(): void {
    if (this.#lifecycle.handleSignals) for (const signal of this.#signals) process.on(signal, this.#onSignal);
    this.#armIdleTimer();
    const parent = parentToWatch(this.#lifecycle);
    const script = this.#lifecycle.watchScript ? ScriptWatch.ofThisProcess() : null;
    if (parent !== 0 || script !== null) {
      this.#watchTimer = setInterval(() => {
        if (parent !== 0 && process.ppid !== parent) this.stopWith('parentExited');
        else if (script !== null && !this.#checking && script.changed()) void this.#redeploy(script);
      }, watchInterval);
      this.#watchTimer.unref();
    }
  }

  /** The script changed: serve on while the new code is checked, then restart with it, or keep the old one. */
  async #redeploy(script: ScriptWatch): Promise<void> {
    this.#checking = true;
    script.rebase();
    const failed = await checkStart(this.#lifecycle.startTimeout);
    this.#checking = false;
    if (failed === null) this.stopWith('scriptChanged');
    else reportFailedStart(failed);
  }

  /** Counts a request; the one that reaches maxRequests stops the server after it. */
  requestArrived(): void {
    this.#served++;
    this.#armIdleTimer();
    if (this.#lifecycle.maxRequests > 0 && this.#served >= this.#lifecycle.maxRequests) this.stopWith('maxRequests');
  }

  stopWith(reason: StopReason): void {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#idleTimer);
    clearInterval(this.#watchTimer);
    const replaces = replacesProcess(this.#lifecycle, reason);
    if (!replaces) setCrashGuard(false); // an exit that was asked for (SIGTERM, the end of the grace period)
    if (this.#lifecycle.shutdownTimeout > 0) {
      // A restart abandons the requests still in flight, as an exit does, but keeps the site up.
      const giveUp = (): void => (replaces ? restartInPlace() : process.exit(forcedExitCode));
      setTimeout(giveUp, this.#lifecycle.shutdownTimeout).unref();
    }
    this.#stop(() => endProcess(this.#lifecycle, reason));
  }

  /** The server closed: stop watching. */
  dispose(): void {
    clearTimeout(this.#idleTimer);
    clearInterval(this.#watchTimer);
    for (const signal of this.#signals) process.removeListener(signal, this.#onSignal);
  }

  #armIdleTimer(): void {
    if (this.#lifecycle.idleTimeout === 0 || this.#stopping) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.stopWith('idleTimeout'), this.#lifecycle.idleTimeout);
    this.#idleTimer.unref();
  }
}
