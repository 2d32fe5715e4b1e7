// Starts real web servers for tests from configuration files kept in test/servers/, and stops them by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { freePort, repoRoot, stopWithAll, tempDir } from './apps';
import { collectOutput } from './output';

export interface WebServer {
  name: string;
  port: number;
  run: string;
  child: ChildProcess;
  errorLog(): string;
  /** All the server wrote to stdout and stderr (where apps it spawned write too), then its error.log. */
  fullLog(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpRequestOptions {
  method?: string;
  body?: Buffer | string;
  /** A body sent chunked (no Content-Length), these pieces 50 ms apart, so the server passes the first on alone. */
  chunks?: Array<Buffer | string>;
  headers?: Record<string, string>;
}

export function httpGet(port: number, path: string, options: HttpRequestOptions = {}): Promise<HttpResult> {
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
    if (!options.chunks) return req.end(options.body);
    const chunks = [...options.chunks];
    const writeNext = (): void => {
      req.write(chunks.shift() ?? '');
      if (chunks.length > 0) setTimeout(writeNext, 50);
      else req.end();
    };
    writeNext();
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

export type ServerKind = 'lighttpd' | 'nginx' | 'apache' | 'caddy' | 'h2o';

const commands: Record<ServerKind, (config: string, run: string) => string[]> = {
  lighttpd: (config) => ['lighttpd', '-D', '-f', config],
  nginx: (config, run) => ['nginx', '-p', run, '-c', config],
  apache: (config) => ['apache2', '-f', config, '-DFOREGROUND'],
  caddy: (config) => ['caddy', 'run', '--config', config, '--adapter', 'caddyfile'],
  h2o: (config) => ['h2o', '--conf', config],
};

/**
 * Runs a web server in the foreground with test/servers/CONFIG, its @REPO@, @RUN@ (a temp dir), @PORT@ and any other
 * @NAME@ from vars filled in. prepare() may lay out files in the run dir first.
 */
export async function startWebServer(
  kind: ServerKind,
  configName: string,
  vars: Record<string, string> = {},
  prepare?: (run: string) => void,
): Promise<WebServer> {
  const run = tempDir();
  chmodSync(run, 0o755); // Apache's children and the apps they spawn run as www-data
  const port = await freePort();
  const serversDir = join(repoRoot, 'test', 'servers');
  // Apache's Include of a shared file is inlined (and the files it includes), so that its @NAME@s are filled in too.
  const inlined = (name: string): string =>
    readFileSync(join(serversDir, name), 'utf8').replace(
      /^Include "@REPO@\/test\/servers\/([^"]+)"$/gm,
      (_, included: string) => inlined(included),
    );
  let config = inlined(configName);
  // vars first: their values may hold @RUN@ and the like.
  for (const [name, value] of Object.entries({ ...vars, REPO: repoRoot, RUN: run, PORT: String(port) })) {
    config = config.replaceAll(`@${name}@`, value);
  }
  mkdirSync(join(run, 'htdocs'));
  const configPath = join(run, configName);
  writeFileSync(configPath, config);
  prepare?.(run);
  const [command, ...args] = commands[kind](configPath, run);
  // Caddy autosaves its config and keeps its storage under the XDG dirs ($HOME by default): keep them in the run dir.
  const env = kind === 'caddy' ? { ...process.env, XDG_CONFIG_HOME: run, XDG_DATA_HOME: run } : process.env;
  const child = spawn(command as string, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectOutput([child.stdout, child.stderr], `${kind} (${configName})`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: WebServer = {
    name: `${kind} (${configName})`,
    port,
    run,
    child,
    errorLog() {
      return server.fullLog().split('\n').slice(-40).join('\n');
    },
    fullLog() {
      let log = '';
      try {
        log = readFileSync(join(run, 'error.log'), 'utf8');
      } catch {
        // not written yet
      }
      return output.text() + log;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      forget();
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid ?? 0, signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const forget = stopWithAll(() => server.stop());
  try {
    await waitForHttp(server);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/** Runs lighttpd in the foreground with test/servers/NAME. */
export function startLighttpd(configName: string, prepare?: (run: string) => void): Promise<WebServer> {
  return startWebServer('lighttpd', configName, {}, prepare);
}
