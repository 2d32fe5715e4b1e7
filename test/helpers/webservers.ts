// Starts real web servers for tests from configuration files kept in test/servers/, and stops them by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { freePort, repoRoot, tempDir } from './apps';

export interface WebServer {
  name: string;
  port: number;
  run: string;
  child: ChildProcess;
  errorLog(): string;
  stop(): Promise<void>;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function httpGet(
  port: number,
  path: string,
  options: { method?: string; body?: Buffer | string; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

async function waitForHttp(server: WebServer, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await httpGet(server.port, '/__ready');
      return;
    } catch {
      if (server.child.exitCode !== null) throw new Error(`${server.name} exited:\n${server.errorLog()}`);
      if (Date.now() > deadline)
        throw new Error(`${server.name} did not answer within ${timeoutMs} ms:\n${server.errorLog()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Runs lighttpd in the foreground with test/servers/NAME, its @REPO@/@RUN@/@PORT@ filled in. */
export async function startLighttpd(configName: string, prepare?: (run: string) => void): Promise<WebServer> {
  const run = tempDir();
  const port = await freePort();
  const config = readFileSync(join(repoRoot, 'test', 'servers', configName), 'utf8')
    .replaceAll('@REPO@', repoRoot)
    .replaceAll('@RUN@', run)
    .replaceAll('@PORT@', String(port));
  writeFileSync(join(run, 'lighttpd.conf'), config);
  prepare?.(run);
  let output = '';
  const child = spawn('lighttpd', ['-D', '-f', join(run, 'lighttpd.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: WebServer = {
    name: `lighttpd (${configName})`,
    port,
    run,
    child,
    errorLog() {
      let log = '';
      try {
        log = readFileSync(join(run, 'error.log'), 'utf8');
      } catch {
        // not written yet
      }
      return (output + log).split('\n').slice(-40).join('\n');
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid ?? 0, 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  await waitForHttp(server);
  return server;
}
