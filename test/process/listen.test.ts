// Listening sockets the app opens itself, bind failures as errors, and FCGI_WEB_SERVER_ADDRS.
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FcgiAddress, fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { FcgiError, listen } from '../../lib/index';
import {
  fixture,
  freePort,
  repoRoot,
  type RunningApp,
  socketActivatedApp,
  spawnFcgiApp,
  startListeningApp,
  stopAll,
  tempDir,
} from '../helpers/apps';
import { waitUntil } from '../helpers/wait';

afterEach(stopAll);

describe('createServer().listen() in node:cluster workers', () => {
  const pidFrom = async (address: FcgiAddress): Promise<number> => {
    const response = await fcgiRequest(address, { REQUEST_URI: '/' });
    return Number(parseCgiResponse(response.stdout).body.toString());
  };
  /** The workers' pids, once every one of them has answered. */
  const bothAnswer = async (address: FcgiAddress, app: RunningApp): Promise<[number, number]> => {
    const pids = new Set<number>();
    const both = await waitUntil(async () => pids.add(await pidFrom(address)).size === 2, 10_000, 0);
    expect(both, `only ${[...pids].join(', ')} answered:\n${app.output()}`).toBe(true);
    return [...pids] as [number, number];
  };
  /** The workers whose 'listening' the primary heard (what PM2's reload waits for). */
  const heardListening = (app: RunningApp): number[] =>
    [...app.output().matchAll(/^worker (\d+) listening on /gm)].map((match) => Number(match[1]));

  it("shares the primary's port as node:http does: every worker serves, the primary hears each 'listening', and the others serve on when one is killed", async () => {
    const port = await freePort();
    const address = { host: '127.0.0.1', port };
    const app = await startListeningApp(fixture('cluster-app.js'), address, { PORT: String(port), WORKERS: '2' });
    const [victim, survivor] = await bothAnswer(address, app);
    expect(await waitUntil(() => heardListening(app).length === 2)).toBe(true);
    expect(new Set(heardListening(app))).toEqual(new Set([victim, survivor]));

    process.kill(victim, 'SIGKILL');
    expect(await waitUntil(() => app.output().includes(`worker ${victim} ended (SIGKILL)`))).toBe(true);
    const after = await Promise.all(Array.from({ length: 20 }, () => pidFrom(address)));
    expect(new Set(after)).toEqual(new Set([survivor]));
  });

  it("shares the primary's Unix socket path, which every worker serves", async () => {
    const path = join(tempDir(), 'app.sock');
    const app = await startListeningApp(fixture('cluster-app.js'), { path }, { SOCKET: path, WORKERS: '2' });
    const pids = await bothAnswer({ path }, app);
    expect(await waitUntil(() => heardListening(app).length === 2)).toBe(true);
    expect(new Set(heardListening(app))).toEqual(new Set(pids));
  });

  it('refuses, in each worker, a connection the primary handed over from an address FCGI_WEB_SERVER_ADDRS does not list', async () => {
    const port = await freePort();
    const address = { host: '127.0.0.1', port };
    const env = { PORT: String(port), WORKERS: '2', FCGI_WEB_SERVER_ADDRS: '127.0.0.1' };
    const app = await startListeningApp(fixture('cluster-app.js'), address, env);
    await bothAnswer(address, app);
    const refused = fcgiRequest({ ...address, localAddress: '127.0.0.2' }, { REQUEST_URI: '/' });
    await expect(refused).rejects.toThrow();
    expect(await waitUntil(() => app.output().includes('a connection from 127.0.0.2, which webServerAddrs'))).toBe(
      true,
    );
  });

  it("emits 'error' with EADDRINUSE in each worker when the primary cannot bind the port", async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => taken.once('listening', resolve));
    const { port } = taken.address() as { port: number };
    try {
      // The port answers (it is the test's own), so the app counts as started at once.
      const app = await startListeningApp(
        fixture('cluster-app.js'),
        { host: '127.0.0.1', port },
        {
          PORT: String(port),
          WORKERS: '2',
        },
      );
      const bothEnded = (): boolean => (app.output().match(/^worker \d+ ended \(1\)$/gm) ?? []).length === 2;
      expect(await waitUntil(bothEnded), app.output()).toBe(true);
      expect(app.output()).toContain('EADDRINUSE');
    } finally {
      taken.close();
    }
  });

  it('binds a socket per worker with SO_REUSEPORT when listen() asks for exclusive, and every worker serves', async () => {
    const port = await freePort();
    const address = { host: '127.0.0.1', port };
    const env = { PORT: String(port), WORKERS: '2', EXCLUSIVE: '1' };
    const app = await startListeningApp(fixture('cluster-app.js'), address, env);
    await bothAnswer(address, app);
    expect(heardListening(app)).toEqual([]); // their own sockets: the primary heard nothing
  });
});

describe('systemd socket activation (systemd-socket-activate, as a .socket unit starts the app)', () => {
  const ask = async (address: FcgiAddress, uri = '/'): Promise<string> =>
    parseCgiResponse((await fcgiRequest(address, { REQUEST_URI: uri })).stdout).body.toString();

  it('serves every socket passed to createServer().listen(), in one process, and hides LISTEN_* from children', async () => {
    const ports = [await freePort(), await freePort()];
    const app = await socketActivatedApp(fixture('activated-app.js'), ports);
    const answers = await Promise.all(ports.map((port) => ask({ host: '127.0.0.1', port })));
    const seen = answers.map((answer) => JSON.parse(answer) as { pid: number; listenFds: string | null });
    expect(seen.map((answer) => answer.pid)).toEqual([app.child.pid, app.child.pid]);
    expect(seen.map((answer) => answer.listenFds)).toEqual([null, null]);
  });

  it("has docs/systemd.md's unit files pass systemd-analyze verify", () => {
    const dir = tempDir();
    for (const unit of ['myapp.socket', 'myapp.service']) {
      const text = readFileSync(join(repoRoot, 'test', 'servers', unit), 'utf8');
      // The node this machine has, wherever it is installed: verify checks that ExecStart's program exists.
      writeFileSync(join(dir, unit), text.replace('/usr/bin/node', process.execPath));
    }
    const verify = spawnSync('systemd-analyze', ['verify', './myapp.socket', './myapp.service'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(verify.status, verify.stderr).toBe(0);
  });

  it('serves the socket passed to the accept() loop', async () => {
    const [port] = [await freePort()];
    await socketActivatedApp(fixture('sync-app.js'), [port as number]);
    expect(JSON.parse(await ask({ host: '127.0.0.1', port: port as number }, '/role'))).toMatchObject({
      role: 'responder',
    });
  });
});

describe('listen()', () => {
  it('serves requests on a TCP port of its own', async () => {
    const port = await freePort();
    const app = await startListeningApp(fixture('sync-app.js'), { host: '127.0.0.1', port }, { LISTEN: `tcp:${port}` });
    const response = await fcgiRequest(app.address, { REQUEST_URI: '/role' });
    expect(JSON.parse(parseCgiResponse(response.stdout).body.toString())).toMatchObject({ role: 'responder' });
  });

  it('serves requests on a Unix socket of its own', async () => {
    const path = join(tempDir(), 'own.sock');
    const app = await startListeningApp(fixture('sync-app.js'), { path }, { LISTEN: `unix:${path}` });
    const response = await fcgiRequest(app.address, { REQUEST_URI: '/role' });
    expect(parseCgiResponse(response.stdout).status).toBe(200);
  });

  it('reports the port the kernel picked for port 0', () => {
    const listener = listen({ port: 0 });
    try {
      expect(listener.port).toBeGreaterThan(0);
    } finally {
      listener.close();
    }
  });

  it('throws an FcgiError with EADDRINUSE instead of exiting when the port is taken', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      let caught: unknown;
      try {
        listen({ port });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(FcgiError);
      expect(caught).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
      expect((caught as Error).message).toMatch(/^bind failed: EADDRINUSE/);
    } finally {
      server.close();
    }
  });

  it('throws ENOENT for a Unix socket in a directory that does not exist', () => {
    expect(() => listen({ path: join(tempDir(), 'missing', 'app.sock') })).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'bind' }),
    );
  });

  it('rejects a host that is not an IP address with a TypeError', () => {
    expect(() => listen({ port: 0, host: 'example.com' })).toThrow(TypeError);
  });

  it('keeps the process alive after a failed bind (libfcgi alone would exit)', () => {
    const script = `const { listen } = require(${JSON.stringify(join(repoRoot, 'dist', 'index.js'))});
      try { listen({ path: '/nonexistent-dir/x.sock' }); } catch (e) { console.log('caught ' + e.code); }
      console.log('still running');`;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(result.stdout).toBe('caught ENOENT\nstill running\n');
    expect(result.status).toBe(0);
  });
});

describe('FCGI_WEB_SERVER_ADDRS', () => {
  it('serves a web server whose address is listed', async () => {
    const app = await spawnFcgiApp(fixture('sync-app.js'), { tcp: true, env: { FCGI_WEB_SERVER_ADDRS: '127.0.0.1' } });
    const response = await fcgiRequest(app.address, { REQUEST_URI: '/role' });
    expect(parseCgiResponse(response.stdout).status).toBe(200);
  });

  it('closes connections from addresses that are not listed', async () => {
    const app = await spawnFcgiApp(fixture('sync-app.js'), {
      tcp: true,
      env: { FCGI_WEB_SERVER_ADDRS: '127.0.0.1' },
    });
    await expect(
      fcgiRequest({ ...app.address, localAddress: '127.0.0.2' }, { REQUEST_URI: '/role' }),
    ).rejects.toThrow();
    const response = await fcgiRequest(app.address, { REQUEST_URI: '/role' });
    expect(parseCgiResponse(response.stdout).status).toBe(200);
  });
});
