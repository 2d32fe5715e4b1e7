// What a lifecycle does to the whole process: the crash guard when serving starts, the exit or the restart in place
// when it stops, the parent to watch, and the line on stderr when a redeploy is refused.
import { readFileSync } from 'node:fs';
import { restartInPlace } from '../restart/replace';
import { setCrashGuard, startedListening } from '../restart/crash-guard';
import type { Lifecycle } from './options';
import { stopEnds, type StopReason } from './policy';

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

/** Ends the process as a stop for `reason` should: exit 0, or restart in place. */
export function endProcess(lifecycle: Lifecycle, reason: StopReason): never {
  if (stopEnds(lifecycle, reason) === 'replace') restartInPlace();
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
