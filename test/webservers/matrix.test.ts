// The web-server matrix: the same checks under every server and mode our users deploy on, each server started from
// a configuration file in test/servers/ on a high loopback port and stopped by PID.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, freePort, repoRoot, spawnFcgiApp, startListeningApp, stopAll } from '../helpers/apps';
import { acceptanceChecks, type CheckSetup } from '../helpers/checks';
import { httpGet, startWebServer, type WebServer } from '../helpers/webservers';
import { waitUntil } from '../helpers/wait';

const checkApp = fixture('check-app.js');

/** An app to run under the servers: a script of this checkout and the environment it needs. */
interface App {
  script: string;
  env: Record<string, string>;
}

/** An executable a web server can spawn (the way users deploy): sets the app's environment and runs it. */
function launcher(path: string, app: App): void {
  const code = `Object.assign(process.env, ${JSON.stringify(app.env)});\nrequire(${JSON.stringify(app.script)});\n`;
  writeFileSync(path, `#!/usr/bin/env node\n${code}`, { mode: 0o755 });
}

async function tcpApp(app: App): Promise<number> {
  const port = await freePort();
  const env = { ...app.env, LISTEN: `tcp:${port}`, PORT: String(port) };
  await startListeningApp(app.script, { host: '127.0.0.1', port }, env);
  return port;
}

/** Apache with mod_fcgid: a shared-hosting directory with .htaccess and app.fcgi, and a FcgidWrapper location. */
function startFcgidApache(app: App, maxRequests = 0, idleTimeout = 300): Promise<WebServer> {
  const vars = { MAX_REQUESTS: String(maxRequests), IDLE_TIMEOUT: String(idleTimeout) };
  return startWebServer('apache', 'apache-fcgid.conf', vars, (run) => {
    mkdirSync(join(run, 'fcgid'));
    chmodSync(join(run, 'fcgid'), 0o777); // mod_fcgid binds the apps' sockets there as www-data
    mkdirSync(join(run, 'htdocs', 'check'));
    writeFileSync(join(run, 'htdocs', 'check', '.htaccess'), 'AddHandler fcgid-script .fcgi\nOptions +ExecCGI\n');
    launcher(join(run, 'htdocs', 'check', 'app.fcgi'), app);
  });
}

/**
 * Whether the installed Caddy logs the app's stderr records: `capture_stderr` is parsed but never reaches the fastcgi
 * client before 2.7 (caddyserver/caddy#5515), so Debian 12's 2.6.2 drops them.
 */
function caddyLogsStderr(): boolean {
  try {
    const [major = 0, minor = 0] = execFileSync('caddy', ['version'], { encoding: 'utf8' })
      .replace(/^v/, '')
      .split('.')
      .map(Number);
    return major > 2 || (major === 2 && minor >= 7);
  } catch {
    return false; // not installed: the setups fail to start and say so
  }
}
const caddyStderr = caddyLogsStderr();

interface Setup extends CheckSetup {
  start(app: App): Promise<WebServer>;
}

const setups: Setup[] = [
  {
    name: 'lighttpd bin-path (lighttpd spawns 2 processes)',
    base: '/check/',
    processes: 2,
    concurrent: true,
    start: (app) =>
      startWebServer(
        'lighttpd',
        'lighttpd-check.conf',
        {
          BACKEND: `"socket" => "@RUN@/check.sock", "bin-path" => "@RUN@/app.js", "check-local" => "disable", "max-procs" => 2`,
        },
        (run) => launcher(join(run, 'app.js'), app),
      ),
  },
  {
    name: 'lighttpd host/port (the app listens on TCP)',
    base: '/check/',
    concurrent: true,
    start: async (app) =>
      startWebServer('lighttpd', 'lighttpd-check.conf', {
        BACKEND: `"host" => "127.0.0.1", "port" => ${await tcpApp(app)}, "check-local" => "disable"`,
      }),
  },
  {
    name: 'nginx to a Unix socket (the app started by spawn-fcgi)',
    base: '/check/',
    concurrent: true,
    start: async (app) => {
      const running = await spawnFcgiApp(app.script, { env: app.env });
      const address = `unix:${running.address.path}`;
      return startWebServer('nginx', 'nginx.conf', { PASS: address, APP_ADDRESS: address, KEEP_CONN: 'off' });
    },
  },
  {
    name: 'nginx to TCP',
    base: '/check/',
    concurrent: true,
    start: async (app) => {
      const running = await spawnFcgiApp(app.script, { tcp: true, env: app.env });
      const address = `127.0.0.1:${running.address.port}`;
      return startWebServer('nginx', 'nginx.conf', { PASS: address, APP_ADDRESS: address, KEEP_CONN: 'off' });
    },
  },
  {
    name: 'nginx to TCP with fastcgi_keep_conn and upstream keepalive',
    base: '/check/',
    concurrent: true,
    start: async (app) => {
      const running = await spawnFcgiApp(app.script, { tcp: true, env: app.env });
      const address = `127.0.0.1:${running.address.port}`;
      return startWebServer('nginx', 'nginx.conf', { PASS: 'app_keepalive', APP_ADDRESS: address, KEEP_CONN: 'on' });
    },
  },
  {
    name: 'Caddy to a Unix socket (the app started by spawn-fcgi)',
    base: '/check/',
    concurrent: true,
    logsStderr: caddyStderr,
    start: async (app) => {
      const running = await spawnFcgiApp(app.script, { env: app.env });
      return startWebServer('caddy', 'caddy.conf', { UPSTREAM: `unix/${running.address.path}` });
    },
  },
  {
    name: 'Caddy to TCP (the app listens itself)',
    base: '/check/',
    concurrent: true,
    logsStderr: caddyStderr,
    start: async (app) => startWebServer('caddy', 'caddy.conf', { UPSTREAM: `127.0.0.1:${await tcpApp(app)}` }),
  },
  {
    name: 'Apache mod_proxy_fcgi to TCP',
    base: '/check/',
    concurrent: true,
    start: async (app) => startWebServer('apache', 'apache-proxy-fcgi.conf', { APP_PORT: String(await tcpApp(app)) }),
  },
  {
    name: 'Apache mod_fcgid, .htaccess and an executable app.fcgi (shared hosting)',
    base: '/check/app.fcgi/',
    concurrent: false,
    nonRoot: true,
    start: (app) => startFcgidApache(app),
  },
  {
    name: 'Apache mod_fcgid with FcgidWrapper',
    base: '/wrapped/',
    concurrent: false,
    nonRoot: true,
    start: (app) => startFcgidApache(app),
  },
  {
    name: 'H2O fastcgi.spawn (H2O starts the app once, as nobody)',
    base: '/check/',
    concurrent: true,
    nonRoot: true,
    start: (app) =>
      startWebServer('h2o', 'h2o-spawn.conf', { COMMAND: `${process.execPath} @RUN@/app.js` }, (run) =>
        launcher(join(run, 'app.js'), app),
      ),
  },
  {
    name: 'H2O fastcgi.connect to TCP',
    base: '/check/',
    concurrent: true,
    start: async (app) =>
      startWebServer('h2o', 'h2o-connect.conf', { CONNECT: `host: 127.0.0.1, port: ${await tcpApp(app)}` }),
  },
  {
    name: 'Apache plain CGI (mod_cgid)',
    base: '/check/app.cgi/',
    processes: 16, // a process per request
    concurrent: true,
    start: (app) =>
      startWebServer('apache', 'apache-cgi.conf', {}, (run) => {
        mkdirSync(join(run, 'htdocs', 'cgi-bin'));
        launcher(join(run, 'htdocs', 'cgi-bin', 'app.cgi'), app);
      }),
  },
];

const checks: App = { script: checkApp, env: {} };

describe.each(setups)('$name', (setup) => {
  let server: WebServer;
  beforeAll(async () => {
    server = await setup.start(checks);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await stopAll();
  });

  acceptanceChecks(setup, () => server);
});

describe.each(setups)('examples/express-app.js under $name', (setup) => {
  const base = setup.base.replace(/\/$/, '');
  let server: WebServer;
  beforeAll(async () => {
    server = await setup.start({ script: join(repoRoot, 'examples', 'express-app.js'), env: { BASE_PATH: base } });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await stopAll();
  });

  it('routes, parses JSON, redirects, sets cookies and answers errors with its error middleware', async () => {
    try {
      const got = await httpGet(server.port, `${base}/json`);
      expect(got.status).toBe(200);
      expect(JSON.parse(got.body.toString())).toMatchObject({ hello: 'world' });
      const posted = await httpGet(server.port, `${base}/json`, {
        method: 'POST',
        body: JSON.stringify({ n: 1 }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(JSON.parse(posted.body.toString())).toEqual({ received: { n: 1 } });
      const redirect = await httpGet(server.port, `${base}/redirect`);
      expect(redirect.status).toBe(302);
      expect(redirect.headers.location).toBe(`${base}/json`);
      const cookie = await httpGet(server.port, `${base}/cookie`, { headers: { Cookie: 'a=b' } });
      expect(String(cookie.headers['set-cookie'])).toContain('visited=yes');
      expect(JSON.parse(cookie.body.toString())).toEqual({ cookie: 'a=b' });
      expect((await httpGet(server.port, `${base}/error`)).status).toBe(500);
    } catch (error) {
      throw new Error(`${setup.name}, Express: ${(error as Error).message}\n--- error log ---\n${server.errorLog()}`);
    }
  });
});

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);

describe("Apache mod_fcgid's process lifecycle", () => {
  let server: WebServer | undefined;
  afterAll(async () => {
    await server?.stop();
    await stopAll();
  });
  const pidOf = async (port: number): Promise<number> =>
    JSON.parse((await httpGet(port, '/check/app.fcgi/query')).body.toString()).pid;

  it('recycles the app after FcgidMaxRequestsPerProcess requests without losing one', async () => {
    server = await startFcgidApache(checks, 3);
    const pids: number[] = [];
    for (let i = 0; i < 12; i++) pids.push(await pidOf(server.port));
    expect(new Set(pids).size, `pids seen: ${pids.join(' ')}`).toBeGreaterThanOrEqual(3);
    await server.stop();
  });

  it('stops an idle app after FcgidIdleTimeout', async () => {
    server = await startFcgidApache(checks, 0, 2);
    const pid = await pidOf(server.port);
    expect(alive(pid)).toBe(true);
    expect(await waitUntil(() => !alive(pid), 15_000), `app ${pid} still running after 15 s idle`).toBe(true);
    await server.stop();
  });

  it('leaves no app process behind after a graceful stop of Apache', async () => {
    server = await startFcgidApache(checks);
    const pid = await pidOf(server.port);
    await server.stop('SIGWINCH'); // apache2 -k graceful-stop
    expect(await waitUntil(() => !alive(pid), 15_000), `app ${pid} outlived Apache`).toBe(true);
  });
});

describe('scale-out: two app instances behind one nginx upstream', () => {
  afterAll(stopAll);

  it('keeps every request succeeding on the survivor when one instance is killed', async () => {
    const [first, second] = await Promise.all([
      spawnFcgiApp(checks.script, { tcp: true }),
      spawnFcgiApp(checks.script, { tcp: true }),
    ]);
    const server = await startWebServer('nginx', 'nginx-scale-out.conf', {
      APP1_PORT: String(first.address.port),
      APP2_PORT: String(second.address.port),
    });
    try {
      const served = async (count: number): Promise<number[]> => {
        const pids: number[] = [];
        for (let i = 0; i < count; i++) {
          const reply = await httpGet(server.port, '/check/query');
          expect(reply.status, `request ${i}: ${reply.body}`).toBe(200);
          pids.push(JSON.parse(reply.body.toString()).pid);
        }
        return pids;
      };
      expect(new Set(await served(20))).toEqual(new Set([first.pid, second.pid]));
      process.kill(first.pid, 'SIGKILL');
      await first.exited;
      expect(new Set(await served(40))).toEqual(new Set([second.pid]));
    } finally {
      await server.stop();
    }
  });
});
