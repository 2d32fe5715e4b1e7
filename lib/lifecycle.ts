// When an app stops serving on its own: on SIGTERM (how mod_fcgid and lighttpd stop apps) after the requests in
// flight finish, after maxRequests (PHP_FCGI_MAX_REQUESTS), after idleTimeout, when the web server that spawned it
// has died, or when its script was touched (a redeploy). Each ends the process with exit code 0; a second SIGTERM or
// the end of the grace period ends it at once.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface LifecycleOptions {
  /**
   * Serve this many requests, then stop accepting, finish those in flight and exit 0, so the web server starts a
   * fresh process; 0 for no limit. Default: PHP_FCGI_MAX_REQUESTS from the environment (the convention mod_fcgid and
   * lighttpd users know), else 0.
   */
  maxRequests?: number;
  /** Milliseconds without a request after which the app stops and exits 0; 0 for never. Default 0. */
  idleTimeout?: number;
  /** Handle SIGTERM: stop accepting, finish the requests in flight, exit 0. Default true. */
  handleSignals?: boolean;
  /** The grace period after SIGTERM, in milliseconds, before the process exits anyway; 0 for none. Default 10000. */
  shutdownTimeout?: number;
  /**
   * Stop and exit 0 when the web server that spawned the app dies (it stops being the parent process). Default: true
   * when serving the listening socket a web server passed on fd 0.
   */
  exitWithParent?: boolean;
  /**
   * Stop and exit 0 once the script the web server runs (process.argv[1], e.g. app.fcgi) or a restart.txt beside it is
   * touched, created or replaced, so that the next request starts the new code: a redeploy without root. Looked at
   * once a second at most. Default: true when serving the listening socket a web server passed on fd 0.
   */
  watchScript?: boolean;
}

export type Lifecycle = Required<LifecycleOptions>;

/** Why an app stopped serving by itself. */
export type StopReason = 'SIGTERM' | 'maxRequests' | 'idleTimeout' | 'parentExited' | 'scriptChanged';

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
  return {
    maxRequests: nonNegativeInteger('maxRequests', options.maxRequests, maxRequestsFromEnvironment()),
    idleTimeout: nonNegativeInteger('idleTimeout', options.idleTimeout, 0),
    handleSignals: options.handleSignals ?? true,
    shutdownTimeout: nonNegativeInteger('shutdownTimeout', options.shutdownTimeout, 10_000),
    exitWithParent: options.exitWithParent ?? servingWebServerSocket,
    watchScript: options.watchScript ?? servingWebServerSocket,
  };
}

/** How often the parent and the script are looked at, in milliseconds. */
export const watchInterval = 1000;

/** What a file looks like now: inode, modification and change times ('' when it is missing). */
function fileStamp(path: string): string {
  try {
    const stats = statSync(path);
    return `${stats.ino}:${stats.mtimeMs}:${stats.ctimeMs}`;
  } catch {
    return '';
  }
}

/**
 * The files whose change means a redeploy: the script the process runs (process.argv[1]) and restart.txt beside it
 * (the Passenger convention). Compared with what they were when the watch began, not with the clock, so that a file
 * server's clock cannot make it fire.
 */
export class ScriptWatch {
  readonly #paths: string[];
  readonly #stamps: string[];

  private constructor(script: string) {
    this.#paths = [script, join(dirname(script), 'restart.txt')];
    this.#stamps = this.#paths.map(fileStamp);
  }

  /** Null when there is nothing to watch: watchScript is off, or the process runs no script (node -e). */
  static start(lifecycle: Lifecycle): ScriptWatch | null {
    const script = process.argv[1];
    return lifecycle.watchScript && script ? new ScriptWatch(script) : null;
  }

  /** Two stat() calls: call it at most once per watchInterval. */
  changed(): boolean {
    return this.#paths.some((path, index) => fileStamp(path) !== this.#stamps[index]);
  }
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

/** The lifecycle of a createServer() server, whose event loop runs: timers, and a process SIGTERM listener. */
export class ServerLifecycle {
  readonly #lifecycle: Lifecycle;
  readonly #stop: (reason: StopReason) => void;
  #served = 0;
  #stopping = false;
  #idleTimer: NodeJS.Timeout | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  readonly #onSigterm = (): void => {
    if (this.#stopping) process.exit(forcedExitCode);
    this.stopWith('SIGTERM');
  };

  constructor(lifecycle: Lifecycle, stop: (reason: StopReason) => void) {
    this.#lifecycle = lifecycle;
    this.#stop = stop;
  }

  start(): void {
    if (this.#lifecycle.handleSignals) process.on('SIGTERM', this.#onSigterm);
    this.#armIdleTimer();
    const parent = parentToWatch(this.#lifecycle);
    const script = ScriptWatch.start(this.#lifecycle);
    if (parent !== 0 || script !== null) {
      this.#watchTimer = setInterval(() => {
        if (parent !== 0 && process.ppid !== parent) this.stopWith('parentExited');
        else if (script?.changed()) this.stopWith('scriptChanged');
      }, watchInterval);
      this.#watchTimer.unref();
    }
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
    if (this.#lifecycle.shutdownTimeout > 0) {
      setTimeout(() => process.exit(forcedExitCode), this.#lifecycle.shutdownTimeout).unref();
    }
    this.#stop(reason);
  }

  /** The server closed: stop watching. */
  dispose(): void {
    clearTimeout(this.#idleTimer);
    clearInterval(this.#watchTimer);
    process.removeListener('SIGTERM', this.#onSigterm);
  }

  #armIdleTimer(): void {
    if (this.#lifecycle.idleTimeout === 0 || this.#stopping) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.stopWith('idleTimeout'), this.#lifecycle.idleTimeout);
    this.#idleTimer.unref();
  }
}
