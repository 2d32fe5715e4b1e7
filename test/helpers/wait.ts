// Waiting for what a test expects to happen, in place of a sleep that guesses how long this machine takes: a
// condition polled until it holds or a deadline passes, and a signal sent and seen delivered.
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

/** Polls `condition` every `intervalMs` until it holds (true) or `timeoutMs` have passed (false). */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return true;
}

/** Whether `signal` is still pending for the process, sent but not yet taken by its handler (/proc/PID/status). */
function pending(pid: number, signal: NodeJS.Signals): boolean {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return false; // gone: nothing is pending any more
  }
  const bit = 1n << BigInt(constants.signals[signal] - 1);
  const masks = status.match(/^(?:ShdPnd|SigPnd):\s+[0-9a-f]+$/gm) ?? [];
  return masks.some((line) => (BigInt(`0x${line.split(/\s+/)[1]}`) & bit) !== 0n);
}

/**
 * Sends `signal` and resolves once the process has taken it: two of the same signal sent closer together than the
 * process takes them are one to the kernel, and a test of "the second SIGTERM" would test the first.
 */
export async function signalTaken(pid: number, signal: NodeJS.Signals): Promise<void> {
  process.kill(pid, signal);
  if (!(await waitUntil(() => !pending(pid, signal), 5000, 5))) {
    throw new Error(`process ${pid} did not take ${signal} within 5 s`);
  }
}

/** Whether the process's main thread is asleep in a system call: waiting for a connection, a record or a timer. */
function asleep(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'S';
  } catch {
    return false;
  }
}

/**
 * Resolves once the process has done what it was handed and waits for more (its main thread asleep at two looks
 * 20 ms apart): the point at which a test sends the next record or signal "while the app waits".
 */
export async function waitUntilWaiting(pid: number): Promise<void> {
  // Under valgrind (scripts/valgrind.sh) the app runs about 30 times slower.
  const timeoutMs = process.env.LIBFCGI_TEST_VALGRIND ? 60_000 : 5000;
  let looks = 0;
  const waited = await waitUntil(() => (looks = asleep(pid) ? looks + 1 : 0) >= 2, timeoutMs, 20);
  if (!waited) throw new Error(`process ${pid} did not settle into waiting within ${timeoutMs} ms`);
}

/** How many times the process's main thread has blocked and been woken again (its voluntary context switches). */
function wakeUps(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
    return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1] ?? NaN);
  } catch {
    return NaN; // gone
  }
}

/**
 * Resolves once the process, waiting with nothing handed to it, has woken on its own `times` times (a wait's slice or
 * a timer ran out) and waits again: a pause longer than the app's own waits, counted instead of guessed.
 */
export async function waitUntilWokenWaiting(pid: number, times: number): Promise<void> {
  await waitUntilWaiting(pid);
  const before = wakeUps(pid);
  const timeoutMs = process.env.LIBFCGI_TEST_VALGRIND ? 60_000 : 10_000;
  if (!(await waitUntil(() => wakeUps(pid) >= before + times, timeoutMs, 20))) {
    throw new Error(`process ${pid} did not wake ${times} times within ${timeoutMs} ms`);
  }
  await waitUntilWaiting(pid);
}
