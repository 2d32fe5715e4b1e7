// Before a redeploy replaces code that serves, the new code must show that it starts: a child runs the script as the
// web server would, until it reaches listen() or accept(), where it reports on a pipe and exits without serving. A
// version that throws, exits, or does not get there within the bound never replaces the running one.
import { spawn, spawnSync } from 'node:child_process';
import { fstatSync, writeSync } from 'node:fs';
import { startEnvironment } from './command';

/** Set in the checking child: the fd of the pipe to report on. */
const checkVariable = 'LIBFCGI_START_CHECK';
const checkFd = 3;
const ready = 'ready\n';

/**
 * In a checking child, the pipe to report on, taken out of the environment at once so that no process the app starts
 * inherits it (and writes to whatever its own fd 3 is).
 */
const reportFd = ((): number | null => {
  const text = process.env[checkVariable];
  if (text === undefined) return null;
  delete process.env[checkVariable];
  const fd = Number(text);
  try {
    if (!Number.isInteger(fd) || fd < 3) return null;
    const stats = fstatSync(fd);
    return stats.isFIFO() || stats.isSocket() ? fd : null; // Node's child_process pipes are socket pairs
  } catch {
    return null;
  }
})();

/** Whether this process is a check of new code (then listen() and accept() report and end it). */
export function isStartCheck(): boolean {
  return reportFd !== null;
}

/**
 * Called by listen() and accept() before they open or take any socket: in a checking child, reports that the app got
 * this far and ends it. Does nothing elsewhere.
 */
export function reportStartedIfChecking(): void {
  if (reportFd === null) return;
  writeSync(reportFd, ready);
  process.exit(0);
}

function checkCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: [...process.execArgv, ...process.argv.slice(1)] };
}

/** The environment the restarted image would get (see command.ts), not process.env as the app has changed it. */
function checkEnvironment(): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {};
  for (const entry of startEnvironment()) {
    const text = Buffer.from(entry, 'latin1').toString('utf8');
    const equals = text.indexOf('=');
    environment[text.slice(0, equals)] = text.slice(equals + 1);
  }
  environment[checkVariable] = String(checkFd);
  return environment;
}

/** What went wrong, for the log: how the child ended and the end of what it printed. */
function failure(how: string, output: string): string {
  const tail = output.trim().split('\n').slice(-30).join('\n');
  return tail === '' ? how : `${how}; it printed:\n${tail}`;
}

function verdict(reported: string, code: number | null, signal: string | null, output: string, timeoutMs: number) {
  if (reported.includes(ready)) return null;
  if (code === null && signal === 'SIGKILL') {
    return failure(`it did not reach listen() or accept() within ${timeoutMs} ms`, output);
  }
  return failure(code !== null ? `it exited with code ${code}` : `it was killed by ${signal}`, output);
}

/** Runs the check on the event loop. Resolves to null when the new code starts, else to why it does not. */
export function checkStart(timeoutMs: number): Promise<string | null> {
  const { command, args } = checkCommand();
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: checkEnvironment(), stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let output = '';
    let reported = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    (child.stdio[checkFd] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => (reported += chunk.toString()));
    const kill = (): void => void child.kill('SIGKILL');
    const timer = setTimeout(kill, timeoutMs);
    process.once('exit', kill); // a SIGTERM while the check runs must not leave the child behind
    const done = (): void => {
      clearTimeout(timer);
      process.removeListener('exit', kill);
    };
    child.once('error', (error) => {
      done();
      resolve(failure(`it could not be started: ${error.message}`, ''));
    });
    child.once('close', (code, signal) => {
      done();
      resolve(verdict(reported, code, signal, output, timeoutMs));
    });
  });
}

/**
 * The same check for the synchronous accept loop, which blocks while it runs: a SIGTERM meanwhile is heard when it
 * ends, within timeoutMs.
 */
export function checkStartSync(timeoutMs: number): string | null {
  const { command, args } = checkCommand();
  const result = spawnSync(command, args, {
    env: checkEnvironment(),
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 1 << 20,
  });
  if (result.error && !('code' in result.error && result.error.code === 'ETIMEDOUT')) {
    return failure(`it could not be started: ${result.error.message}`, '');
  }
  const text = (index: number): string => result.output?.[index]?.toString() ?? '';
  return verdict(text(3), result.status, result.signal, text(1) + text(2), timeoutMs);
}
