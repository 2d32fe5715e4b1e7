// Where the spawner never starts the app again (spawn-fcgi, H2O), a crash must not take the site down: an uncaught
// exception, an unhandled rejection or an exit with a non-zero code becomes a restart in place after a back-off, with
// 503 answers meanwhile (unavailable.ts). The 'exit' event is where every one of these ends, after the app's own
// uncaughtException handlers had their say; Node emits it before it prints an uncaught error, so the error is printed
// here. Every restarted image preloads this module, so a crash before the app has even loaded libfcgi is caught too.
import { inspect } from 'node:util';
import { native } from '../native';
import { crashCountVariable } from './command';
import { canRestartInPlace, crashBackoff, restartAfterCrash } from './replace';
import { spawnerRestartsApp } from './spawner';

/** A crash this long after the image started is the first of a new series: the back-off starts again at 1 s. */
const stableAfterMs = 60_000;

let armed = false;
/** The error that is ending the process, while Node decides whether anything handles it. */
let uncaught: { error: unknown } | null = null;

function onUncaught(error: unknown): void {
  uncaught = { error };
  setImmediate(() => (uncaught = null)); // handled after all: the process goes on, and this was no crash
}

function onExit(this: NodeJS.Process, code: number): void {
  if (!armed || code === 0) return;
  armed = false;
  if (uncaught !== null) process.stderr.write(`${inspect(uncaught.error)}\n`);
  // The 'exit' listeners after this one would never run: run them now, as the exit would have.
  const listeners = process.listeners('exit');
  for (const listener of listeners.slice(listeners.indexOf(onExit) + 1)) {
    try {
      listener.call(this, code);
    } catch {
      // as Node would, go on ending
    }
  }
  const earlier = Number(process.env[crashCountVariable] ?? 0) || 0;
  const crashes = process.uptime() * 1000 > stableAfterMs ? 1 : earlier + 1;
  const delay = crashBackoff(crashes);
  process.stderr.write(`libfcgi: the app exited with code ${code}; restarting it in place in ${delay / 1000} s\n`);
  restartAfterCrash(delay, crashes);
}

/** Restart in place after a crash (true), or let the process end (false): see LifecycleOptions.restartInPlace. */
export function setCrashGuard(on: boolean): void {
  armed = on && canRestartInPlace();
  if (armed && !process.listeners('exit').includes(onExit)) {
    process.on('exit', onExit);
    process.on('uncaughtExceptionMonitor', onUncaught);
  }
}

// Armed from the start when the app serves the socket a spawner that never restarts it passed on fd 0; listen() and
// accept() set it again from the app's options.
if (native.isListeningSocket(0) && !spawnerRestartsApp()) setCrashGuard(true);
