// Runs the `libfcgi serve` command of this checkout (dist/cli/cli.js) for tests, on a free loopback port, and stops it
// by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, repoRoot, stopWithAll } from './apps';
import { collectOutput } from './output';
import { waitUntil } from './wait';

export interface RunningCli {
  name: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Everything the command (and the apps, which share its console) wrote so far. */
  output(): string;
  /** The checks' name for it: the dev server's console is its error log. */
  errorLog(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export const cliPath = join(repoRoot, 'dist', 'cli', 'cli.js');

export const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);

/**
 * Starts `node dist/cli/cli.js serve APP --port P ARGS…` (without APP when it is '', in cwd) and waits for the line that
 * says it is serving.
 */
export async function startCli(app: string, args: string[] = [], cwd?: string): Promise<RunningCli> {
  const port = await freePort();
  const command = [cliPath, 'serve', ...(app === '' ? [] : [app]), '--port', String(port), ...args];
  const child = spawn(process.execPath, command, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectOutput([child.stdout, child.stderr], `libfcgi serve ${app || `in ${cwd}`}`);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  const cli: RunningCli = {
    name: `libfcgi serve ${app || `in ${cwd}`}`,
    port,
    pid: child.pid ?? -1,
    child,
    output: output.text,
    errorLog: () => output.text().split('\n').slice(-40).join('\n'),
    exited,
    async stop() {
      forget();
      if (!running()) return;
      process.kill(cli.pid, 'SIGTERM');
      const timer = setTimeout(() => running() && child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const forget = stopWithAll(() => cli.stop());
  if (
    !(await waitUntil(() => output.text().includes(`http://127.0.0.1:${port}`) || !running(), 15_000)) ||
    !running()
  ) {
    await cli.stop();
    throw new Error(`libfcgi serve did not start:\n${output.text()}`);
  }
  return cli;
}

/** Runs a test against `libfcgi serve APP ARGS…` and stops it afterwards, whatever the test did. */
export async function withCli(
  app: string,
  args: string[],
  test: (cli: RunningCli) => Promise<void>,
  cwd?: string,
): Promise<void> {
  const cli = await startCli(app, args, cwd);
  try {
    await test(cli);
  } finally {
    await cli.stop();
  }
}
