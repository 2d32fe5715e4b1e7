// The app processes of the dev server, managed as mod_fcgid manages them: each spawned with a listening Unix socket
// on fd 0, given requests one at a time (or a few at once, as nginx sends them), spawned on demand up to a limit,
// recycled after a number of requests or a spell of idleness, replaced when one dies, and stopped with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../addon/native';

export interface PoolOptions {
  /** The program to spawn and its arguments. */
  command: string;
  args: string[];
  cwd: string;
  /** The app's whole initial environment. */
  env: Record<string, string>;
  /** A private directory for the processes' sockets. */
  socketDir: string;
  /** Most processes alive at once. */
  processes: number;
  /** Requests one process is given at once, each on its own connection; 1 as mod_fcgid does. */
  concurrency: number;
  /** Requests after which a process is replaced; 0 for no limit. */
  maxRequests: number;
  /** Seconds a process may sit idle before it is stopped; 0 for never. */
  idleTimeout: number;
  /** Where the pool says what happened to its processes. */
  log: (message: string) => void;
}

/** The right to send one request to one process; release it when the request is over. */
export interface Lease {
  pid: number;
  socketPath: string;
  /** `answered`: whether the app answered the request (END_REQUEST came), which says the app is working. */
  release(answered: boolean): void;
}

const BACKLOG = 511;
const KILL_AFTER_MS = 5000;

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

/** One spawned app and what the pool knows of it. */
class AppProcess {
  readonly pid: number;
  readonly exited: Promise<void>;
  inFlight = 0;
  /** Requests given to it so far. */
  given = 0;
  /** Requests it has answered. */
  served = 0;
  /** Given no more requests; stopped once those in flight are over. */
  retiring = false;
  stopping = false;
  hasExited = false;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly socketPath: string,
  ) {
    this.pid = child.pid ?? -1;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      // A program that could not be started at all has no pid and never exits.
      child.once('error', () => child.pid === undefined && resolve());
    });
  }

  stop(): Promise<void> {
    clearTimeout(this.idleTimer);
    this.retiring = true;
    if (!this.hasExited && !this.stopping) {
      this.stopping = true;
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), KILL_AFTER_MS);
      void this.exited.then(() => clearTimeout(killer));
    }
    return this.exited;
  }
}

export class ProcessPool {
  private readonly processes = new Set<AppProcess>();
  private readonly waiting: Array<{ resolve: (lease: Lease) => void; reject: (error: Error) => void }> = [];
  private spawned = 0;
  private closed = false;

  constructor(private readonly options: PoolOptions) {}

  /** Starts one process ahead of the first request, so that an app that cannot start says so at once. */
  start(): void {
    this.spawnProcess();
  }

  /** Waits for a process that can take a request, spawning one when all are busy and the limit allows. */
  acquire(): Promise<Lease> {
    if (this.closed) return Promise.reject(new Error('the dev server is stopping'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.dispatch();
    });
  }

  /** Stops every process with SIGTERM (SIGKILL after 5 s) and waits for them to exit. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(new Error('the dev server is stopping'));
    await Promise.all([...this.processes].map((app) => app.stop()));
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      const app = this.freeProcess() ?? this.spawnProcess();
      if (!app && this.processes.size === 0) {
        // Nothing is running and nothing could be started: waiting would be forever.
        for (const waiter of this.waiting.splice(0)) waiter.reject(new Error('no app process could be started'));
      }
      if (!app) return;
      this.waiting.shift()?.resolve(this.lease(app));
    }
  }

  private freeProcess(): AppProcess | undefined {
    for (const app of this.processes) {
      if (!app.retiring && app.inFlight < this.options.concurrency) return app;
    }
    return undefined;
  }

  private lease(app: AppProcess): Lease {
    clearTimeout(app.idleTimer);
    app.inFlight++;
    app.given++;
    if (this.options.maxRequests > 0 && app.given >= this.options.maxRequests) app.retiring = true;
    let released = false;
    return {
      pid: app.pid,
      socketPath: app.socketPath,
      release: (answered) => {
        if (released) return;
        released = true;
        app.inFlight--;
        if (answered) app.served++;
        this.afterRequest(app);
      },
    };
  }

  private afterRequest(app: AppProcess): void {
    if (app.hasExited) {
      this.dispatch();
      return;
    }
    if (app.inFlight === 0 && app.retiring) {
      this.options.log(`app pid ${app.pid} served its ${app.given} requests (--max-requests): replacing it`);
      void app.stop();
    } else if (app.inFlight === 0 && this.options.idleTimeout > 0) {
      app.idleTimer = setTimeout(() => {
        this.options.log(`app pid ${app.pid} idle for ${this.options.idleTimeout} s (--idle-timeout): stopping it`);
        void app.stop();
      }, this.options.idleTimeout * 1000);
    }
    this.dispatch();
  }

  private spawnProcess(): AppProcess | undefined {
    if (this.closed || this.livingCount() >= this.options.processes) return undefined;
    const { command, args, cwd, env, socketDir } = this.options;
    const socketPath = join(socketDir, `app-${++this.spawned}.sock`);
    // The socket is opened here and handed over as fd 0; the dev server keeps no copy, so only the app accepts on it.
    let fd: number;
    try {
      fd = native().listenUnix(socketPath, BACKLOG);
    } catch (error) {
      this.options.log(`cannot open a socket for the app at ${socketPath}: ${(error as Error).message}`);
      return undefined;
    }
    let child: ChildProcess;
    try {
      // detached: a process group of its own, so Ctrl-C reaches only the dev server, which stops the apps with
      // SIGTERM as mod_fcgid does.
      child = spawn(command, args, { cwd, env, detached: true, stdio: [fd, 'inherit', 'inherit'] });
    } finally {
      native().closeFd(fd);
    }
    const app = new AppProcess(child, socketPath);
    this.processes.add(app);
    child.once('error', (error) => {
      this.options.log(`cannot start ${command}: ${error.message}`);
      if (child.pid === undefined) this.onExit(app, null, null);
    });
    child.once('exit', (code, signal) => this.onExit(app, code, signal));
    if (child.pid !== undefined) this.options.log(`app pid ${app.pid} started: ${[command, ...args].join(' ')}`);
    return app;
  }

  private livingCount(): number {
    let count = 0;
    for (const app of this.processes) if (!app.retiring) count++;
    return count;
  }

  private onExit(app: AppProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (app.hasExited) return; // a program that could not start may report both 'error' and 'exit'
    app.hasExited = true;
    clearTimeout(app.idleTimer);
    this.processes.delete(app);
    rmSync(app.socketPath, { force: true });
    if (!app.stopping && app.pid !== -1) {
      const when =
        app.served === 0
          ? 'before answering any request: check that it starts on its own and serves FastCGI on fd 0'
          : `after ${app.served} requests; the next request starts another`;
      // 127 is what /usr/bin/env answers for a program not on PATH: `#!/usr/bin/env node` on a host.
      const hint =
        code === 127
          ? ` (exit code 127: a program not found; with PATH=${this.options.env.PATH ?? ''}, as on a host, a #! line ` +
            'needs the full path of node, as libfcgi init writes it)'
          : '';
      this.options.log(`app pid ${app.pid} ${describeExit(code, signal)} ${when}${hint}`);
    }
    // A process that died after serving is replaced at once; one that died at start only on demand, so a broken app
    // is not spawned over and over.
    if (!this.closed && !app.stopping && app.served > 0 && this.processes.size === 0) this.spawnProcess();
    this.dispatch();
  }
}
