// Where the spawner never starts the app again (spawn-fcgi, H2O), a crash must not take the site down: an uncaught
// exception, an unhandled rejection or an exit with a non-zero code becomes a restart in place after a back-off, with
// 503 answers meanwhile (lib/unavailable.ts). The 'exit' event is where every one of these ends, after the app's own
// uncaughtException handlers had their say; Node emits it before it prints an uncaught error, so the error is printed
// here. Every restarted image preloads this module, so a crash before the app has even loaded libfcgi is caught too.
import { inspect } from 'node:util';
import { isStartCheck } from './start-check';
import { isCGI } from '../serving/socket';
import { startedAsCgi } from '../serving/source';
import { crashCountVariable } from './command';
import { canRestartInPlace, crashBackoff, restartAfterCrash } from './replace';
import { spawnerRestartsApp } from './spawner';

/** A crash this long after the image started is the first of a new series: the back-off starts again at 1 s. */
const stableAfterMs = 60_000;

let armed = false;
/** guardStart() was called and no server has started listening yet. */
let starting = false;
let startTimer: NodeJS.Timeout | undefined;
/** The error that is ending the process, while Node decides whether anything handles it. */
let uncaught: { error: unknown } | null = null;

function onUncaught(error: unknown): void {
  uncaught = { error };
  setImmediate(() => (uncaught = null)); // handled after all: the process goes on, and this was no crash
}

function onExit(this: NodeJS.Process, code: number): void {
  if (!armed || (code === 0 && !starting)) return;
  armed = false;
  if (code === 0) process.stderr.write('libfcgi: the app ended without calling listen() or accept()\n');
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

/**
 * For init's launcher, before it loads the app: until a server listens, whoever spawned the app, a failure (a throw
 * at start-up, an exit, no listen() within timeoutMs) restarts it in place after a back-off with 503 answers
 * meanwhile, instead of leaving the visitor a bare 500 and the spawner a tight loop of new processes.
 */
export function guardStart(timeoutMs = 30_000): void {
  // Run as CGI or by hand, a failure is the caller's to see; started by a relay (fd 0 no socket either), the stand-in
  // takes the relays' sockets while the app cannot. A check of new code ends as it ends: that is its verdict.
  if (startedAsCgi() || isStartCheck()) return;
  starting = true;
  setCrashGuard(true);
  startTimer = setTimeout(() => {
    process.stderr.write(`libfcgi: the app did not reach listen() or accept() within ${timeoutMs} ms\n`);
    const crashes = (Number(process.env[crashCountVariable] ?? 0) || 0) + 1;
    restartAfterCrash(crashBackoff(crashes), crashes);
  }, timeoutMs);
  startTimer.unref();
}

/** A server has started listening: the start is over, and crashes follow the app's options from here. */
export function startedListening(): void {
  starting = false;
  clearTimeout(startTimer);
}

/** Restart in place after a crash (true), or let the process end (false): see LifecycleOptions.restartInPlace. */
export function setCrashGuard(on: boolean): void {
  armed = (on || starting) && canRestartInPlace();
  if (armed && !process.listeners('exit').includes(onExit)) {
    process.on('exit', onExit);
    process.on('uncaughtExceptionMonitor', onUncaught);
  }
}

// Armed from the start when the app serves the socket a spawner that never restarts it passed on fd 0; listen() and
// accept() set it again from the app's options.
if (!isCGI() && !spawnerRestartsApp()) setCrashGuard(true);
