// The lifecycle driver of a createServer() server, whose event loop runs: it observes through timers and process
// signal listeners, asks policy.ts whether to stop, and stops.
import { checkStart } from '../restart/start-check';
import { restartInPlace } from '../restart/replace';
import { setCrashGuard } from '../restart/crash-guard';
import { ScriptWatch, watchInterval } from '../restart/script-watch';
import type { Lifecycle } from './options';
import { forcedExitCode, type Observed, observed, stopEnds, type StopReason, stopReason, stopSignals } from './policy';
import { endProcess, parentToWatch, reportFailedStart, startLifecycle } from './process';

/** Nothing seen but a request: the one object every request asks the policy with. */
const nothingElse: Partial<Observed> = {};

/** stop(then) must stop accepting, let the requests in flight finish, and call then(). */
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
    this.#decide({ signal });
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
        if (parent !== 0 && process.ppid !== parent) this.#decide({ parentGone: true });
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
    if (failed === null) this.#decide({ newCodeStarts: true });
    else reportFailedStart(failed);
  }

  /** Counts a request; the one that reaches maxRequests stops the server after it. */
  requestArrived(): void {
    this.#served++;
    this.#armIdleTimer();
    this.#decide(nothingElse);
  }

  /**
   * Asks the policy with what was just seen; stops if it says so. Idleness is seen only when the idle timer fires
   * (it is re-armed at every request), so no request reads the clock.
   */
  #decide(seen: Partial<Observed>): void {
    const reason = stopReason(this.#lifecycle, observed(this.#served, seen));
    if (reason !== null) this.stopWith(reason);
  }

  stopWith(reason: StopReason): void {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#idleTimer);
    clearInterval(this.#watchTimer);
    const replaces = stopEnds(this.#lifecycle, reason) === 'replace';
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
    // The timer fires no earlier than idleTimeout after the last request: idle by then, whatever the clock rounds to.
    this.#idleTimer = setTimeout(
      () => this.#decide({ idleMs: this.#lifecycle.idleTimeout }),
      this.#lifecycle.idleTimeout,
    );
    this.#idleTimer.unref();
  }
}
