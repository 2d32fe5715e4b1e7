// Restarting in place: the process becomes a new image of itself (execve) with the same pid and the listening socket
// still on fd 0, so the web server that spawned it keeps the process it knows and no connection is refused:
// connections that arrive meanwhile wait in the socket's listen queue.
import { join } from 'node:path';
import { native } from '../addon/native';
import { bytes, crashCountVariable, restartCommand, startEnvironment, withEnvironment } from './command';
import { ScriptWatch } from './script-watch';

/** What must happen before the process becomes a new image: what the exec would silently undo (see whenReplaced). */
const beforeReplace: Array<() => void> = [];

/** Runs fn just before this process becomes a new image (a restart in place, or the stand-in after a crash). */
export function whenReplaced(fn: () => void): void {
  beforeReplace.push(fn);
}

function replaced(): void {
  for (const fn of beforeReplace.splice(0)) {
    try {
      fn();
    } catch {
      // the exec goes ahead whatever a hook met
    }
  }
}

/** Whether this process can start itself again: it runs a script (not node -e or a REPL). */
export function canRestartInPlace(): boolean {
  return process.argv[1] !== undefined && process.argv[1] !== '';
}

/** Becomes a fresh image running the same script: a redeploy, or the end of maxRequests. Never returns. */
export function restartInPlace(): never {
  const { file, args } = restartCommand();
  replaced();
  return native().replaceProcess(file, args, withEnvironment(startEnvironment(), { [crashCountVariable]: null }));
}

/**
 * After a crash: becomes the stand-in (unavailable.js) that answers 503 for delayMs, then starts the script again.
 * crashes counts the crashes in a row, this one included.
 */
export function restartAfterCrash(delayMs: number, crashes: number): never {
  const { file, args } = restartCommand();
  // The stand-in compares the script with what it was when the crashed image started: a fix deployed meanwhile (even
  // before that image looked) ends the back-off.
  const watch = ScriptWatch.ofThisProcess();
  const script = bytes(process.argv[1] ?? '');
  const stamps = JSON.stringify(watch?.stamps ?? []);
  const standIn = [
    args[0] as string,
    join(__dirname, '..', 'unavailable.js'),
    String(delayMs),
    script,
    stamps,
    file,
    ...args,
  ];
  const environment = withEnvironment(startEnvironment(), { [crashCountVariable]: String(crashes) });
  replaced();
  return native().replaceProcess(file, standIn, environment);
}

/** The back-off before the next start: 1 s after the first crash in a row, doubling to at most 30 s. */
export function crashBackoff(crashes: number): number {
  return Math.min(1000 * 2 ** Math.max(0, crashes - 1), 30_000);
}
