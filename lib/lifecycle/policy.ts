// The lifecycle policy: what has been seen in, why to stop out. Pure, so that a table tests it; the two drivers (the
// createServer() timers in server-lifecycle.ts, the accept loop's waits in accept-loop/listener.ts) only observe.
import type { Lifecycle } from './options';

/**
 * Why an app stopped serving by itself. relaysGone: the relays that handed this process their sockets have all exited
 * (see lib/relay); the relay path decides that one itself.
 */
export type StopReason =
  'SIGTERM' | 'SIGINT' | 'maxRequests' | 'idleTimeout' | 'parentExited' | 'scriptChanged' | 'relaysGone';

export type StopSignal = 'SIGTERM' | 'SIGINT';

/** What a driver has seen when it asks whether to stop. */
export interface Observed {
  /** Requests begun since serving started. */
  served: number;
  /** Milliseconds since the last request began (or serving started). */
  idleMs: number;
  /** A stop signal that arrived, if any. */
  signal: StopSignal | null;
  /** The web server that spawned the app is no longer its parent. */
  parentGone: boolean;
  /** The script was touched and the new code has shown that it starts. */
  newCodeStarts: boolean;
}

/** What a driver has seen: its count of requests, and whatever else it saw; nothing else seen is the default. */
export function observed(served: number, seen: Partial<Observed>): Observed {
  return {
    served,
    idleMs: seen.idleMs ?? 0,
    signal: seen.signal ?? null,
    parentGone: seen.parentGone ?? false,
    newCodeStarts: seen.newCodeStarts ?? false,
  };
}

/** Why to stop now, or null to serve on. A signal wins over everything; idleness counts last. */
export function stopReason(lifecycle: Lifecycle, seen: Observed): StopReason | null {
  if (seen.signal !== null) return seen.signal;
  if (seen.parentGone) return 'parentExited';
  if (lifecycle.maxRequests > 0 && seen.served >= lifecycle.maxRequests) return 'maxRequests';
  if (seen.newCodeStarts) return 'scriptChanged';
  if (lifecycle.idleTimeout > 0 && seen.idleMs >= lifecycle.idleTimeout) return 'idleTimeout';
  return null;
}

/** What a stop ends in: the process exits, or (see LifecycleOptions) it becomes a fresh image of itself. */
export function stopEnds(lifecycle: Lifecycle, reason: StopReason): 'exit' | 'replace' {
  if (reason === 'scriptChanged') return lifecycle.webServerSocket && lifecycle.canReplace ? 'replace' : 'exit';
  return reason === 'maxRequests' && lifecycle.restartInPlace ? 'replace' : 'exit';
}

/**
 * The signals that ask a createServer() process to stop: SIGTERM (mod_fcgid, lighttpd, systemd, docker) and, in a
 * process PM2 runs (PM2_HOME and pm_id in its environment), PM2's own kill signal, SIGINT.
 */
export function stopSignals(env: NodeJS.ProcessEnv = process.env): StopSignal[] {
  return env.PM2_HOME !== undefined && env.pm_id !== undefined ? ['SIGTERM', 'SIGINT'] : ['SIGTERM'];
}

/** Exit status when the grace period ends with requests still in flight, as if SIGTERM had not been handled. */
export const forcedExitCode = 143;
