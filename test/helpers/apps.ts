// Starts FastCGI app processes for tests the way web servers do (spawn-fcgi puts a listening socket on fd 0), and
// stops them by PID.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FcgiAddress } from '../../lib/client/client';
import { collectOutput } from './output';

export const repoRoot = join(__dirname, '..', '..');
export const fixture = (name: string): string => join(repoRoot, 'test', 'fixtures', name);
export const example = (name: string): string => join(repoRoot, 'examples', name);

export interface RunningApp {
  address: FcgiAddress;
  pid: number;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

const running = new Set<RunningApp>();
const tempDirs: string[] = [];
const stoppers = new Set<() => Promise<void>>();

/** Registers something else stopAll() must stop (a web server), until it is stopped. */
export function stopWithAll(stop: () => Promise<void>): () => void {
  stoppers.add(stop);
  return () => stoppers.delete(stop);
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'libfcgi-test-'));
  tempDirs.push(dir);
  return dir;
}

let lowercaseDirs = 0;

/** A temp dir whose path has no capital letter (mkdtemp's may): mod_proxy lowercases the socket paths it is given. */
export function lowercaseTempDir(): string {
  const dir = join(tmpdir(), `libfcgi-test-${process.pid}-${++lowercaseDirs}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  tempDirs.push(dir);
  return dir;
}

/** Stops every process the helpers started (web servers first) and removes their temp dirs; call it from afterAll. */
export async function stopAll(): Promise<void> {
  await Promise.all([...stoppers].map((stop) => stop()));
  await Promise.all([...running].map((app) => app.stop()));
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether a connection to the address is taken: something listens there (an app may not yet accept it). */
export function canConnect(address: FcgiAddress): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = address.path
      ? createConnection(address.path)
      : createConnection(address.port ?? 0, address.host ?? '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitUntilConnectable(address: FcgiAddress, app: RunningApp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await canConnect(address)) return;
    if (app.child.exitCode !== null || app.child.signalCode !== null) {
      throw new Error(`the app exited before listening:\n${app.output()}`);
    }
    if (Date.now() > deadline) throw new Error(`the app did not listen within ${timeoutMs} ms:\n${app.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function track(child: ChildProcess, address: FcgiAddress): RunningApp {
  const output = collectOutput([child.stdout, child.stderr], `the app ${child.spawnargs.join(' ')}`, 'latin1');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const app: RunningApp = {
    address,
    pid: child.pid ?? -1,
    child,
    output: output.text,
    exited,
    async stop() {
      running.delete(app);
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(app.pid, 'SIGTERM');
      const timer = setTimeout(
        () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'),
        3000,
      );
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(app);
  return app;
}

export interface SpawnOptions {
  /** Listen on a TCP port on 127.0.0.1 instead of a Unix socket in a temp dir. */
  tcp?: boolean;
  env?: Record<string, string>;
  nodeArgs?: string[];
}

/**
 * The command that runs a Node.js script. With LIBFCGI_TEST_VALGRIND=DIR set (scripts/valgrind.sh), the app runs
 * under valgrind's memcheck with a log per process in DIR.
 */
export function nodeCommand(script: string, nodeArgs: string[] = []): string[] {
  const valgrindDir = process.env.LIBFCGI_TEST_VALGRIND;
  const node = [process.execPath, ...nodeArgs, script];
  if (!valgrindDir) return node;
  // spawn-fcgi execs without a PATH search.
  const valgrind = execFileSync('sh', ['-c', 'command -v valgrind'], { encoding: 'utf8' }).trim();
  return [
    valgrind,
    '--leak-check=full',
    '--errors-for-leak-kinds=definite',
    `--suppressions=${join(repoRoot, 'scripts', 'valgrind.supp')}`,
    `--log-file=${valgrindDir}/%p.log`,
    ...node,
  ];
}

/** Runs `node script` under spawn-fcgi -n: the listening socket is the app's fd 0, as mod_fcgid and lighttpd do. */
export async function spawnFcgiApp(script: string, options: SpawnOptions = {}): Promise<RunningApp> {
  let address: FcgiAddress;
  let bindArgs: string[];
  if (options.tcp) {
    const port = await freePort();
    address = { host: '127.0.0.1', port };
    bindArgs = ['-a', '127.0.0.1', '-p', String(port)];
  } else {
    const path = join(tempDir(), 'app.sock');
    address = { path };
    bindArgs = ['-s', path];
  }
  const child = spawn('spawn-fcgi', ['-n', ...bindArgs, '--', ...nodeCommand(script, options.nodeArgs)], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const app = track(child, address);
  await waitUntilConnectable(address, app, process.env.LIBFCGI_TEST_VALGRIND ? 60_000 : 10_000);
  return app;
}

/**
 * Runs `node script` under systemd-socket-activate, as a `.socket` unit would start it: a listening socket on each of
 * the TCP ports, as fds 3, 4, … with LISTEN_FDS and LISTEN_PID set.
 */
export async function socketActivatedApp(script: string, ports: number[], env: Record<string, string> = {}) {
  const listen = ports.flatMap((port) => ['-l', `127.0.0.1:${port}`]);
  const child = spawn('systemd-socket-activate', [...listen, ...nodeCommand(script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const app = track(child, { host: '127.0.0.1', port: ports[0] as number });
  await waitUntilConnectable(app.address, app);
  return app;
}

/** Runs `node script` with the environment given and no socket: the script opens its own (LISTEN=…). */
export async function startListeningApp(
  script: string,
  address: FcgiAddress,
  env: Record<string, string>,
): Promise<RunningApp> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const app = track(child, address);
  await waitUntilConnectable(address, app);
  return app;
}
