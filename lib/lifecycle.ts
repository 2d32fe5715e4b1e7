// When an app stops serving on its own: on SIGTERM (how mod_fcgid and lighttpd stop apps) after the requests in
// flight finish, after maxRequests (PHP_FCGI_MAX_REQUESTS), after idleTimeout, or when the web server that spawned it
// has died. Each ends the process with exit code 0; a second SIGTERM or the end of the grace period ends it at once.
import { readFileSync } from 'node:fs';

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
}

export type Lifecycle = Required<LifecycleOptions>;

/** Why an app stopped serving by itself. */
export type StopReason = 'SIGTERM' | 'maxRequests' | 'idleTimeout' | 'parentExited';

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
  };
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
  #parentTimer: NodeJS.Timeout | undefined;
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
    if (parent !== 0) {
      this.#parentTimer = setInterval(() => process.ppid !== parent && this.stopWith('parentExited'), 1000);
      this.#parentTimer.unref();
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
    clearInterval(this.#parentTimer);
    if (this.#lifecycle.shutdownTimeout > 0) {
      setTimeout(() => process.exit(forcedExitCode), this.#lifecycle.shutdownTimeout).unref();
    }
    this.#stop(reason);
  }

  /** The server closed: stop watching. */
  dispose(): void {
    clearTimeout(this.#idleTimer);
    clearInterval(this.#parentTimer);
    process.removeListener('SIGTERM', this.#onSigterm);
  }

  #armIdleTimer(): void {
    if (this.#lifecycle.idleTimeout === 0 || this.#stopping) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.stopWith('idleTimeout'), this.#lifecycle.idleTimeout);
    this.#idleTimer.unref();
  }
}
