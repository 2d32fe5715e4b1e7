// No request's parameters, body or headers reach another request or the process environment, and the sockets an app
// opens itself are only as reachable as asked: TCP on 127.0.0.1 by default, Unix sockets with the permissions asked.
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FcgiConnection, fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { createServer, FcgiError, listen } from '../../lib/index';
import { freePort, repoRoot, stopAll, tempDir } from '../helpers/apps';
import { waitUntil } from '../helpers/wait';
import { cgiParams, type Report, reportAppModes, startReportApp } from '../helpers/raw-fastcgi';

afterAll(stopAll);

/** A request with headers of its own: a marker, a header only it sends, and a body. */
function distinctRequest(index: number): { params: Record<string, string>; body: Buffer } {
  const body = randomBytes(100 + index * 37);
  return {
    body,
    params: cgiParams({
      REQUEST_METHOD: 'POST',
      CONTENT_LENGTH: String(body.length),
      HTTP_X_MARKER: `request-${index}`,
      [`HTTP_X_ONLY_${index}`]: String(index),
      ...(index % 2 === 0 ? { HTTP_COOKIE: `session=${index}` } : {}),
    }),
  };
}

function expectOnlyItsOwn(report: Report, index: number, body: Buffer): void {
  expect(report.params.HTTP_X_MARKER).toBe(`request-${index}`);
  const onlyHeaders = Object.keys(report.params).filter((name) => name.startsWith('HTTP_X_ONLY_'));
  expect(onlyHeaders).toEqual([`HTTP_X_ONLY_${index}`]);
  expect(report.params.HTTP_COOKIE).toBe(index % 2 === 0 ? `session=${index}` : undefined);
  expect(report.bodyLength).toBe(body.length);
  expect(report.leakedToEnv).toEqual([]);
}

describe.each(reportAppModes)('$mode keeps requests apart', ({ env }) => {
  it('gives 32 concurrent requests only their own parameters, headers and body, and leaves the environment alone', async () => {
    const app = await startReportApp(env);
    const reports = await Promise.all(
      Array.from({ length: 32 }, async (_, index) => {
        const { params, body } = distinctRequest(index);
        // Small random delays interleave the requests' records on the workers.
        const response = await fcgiRequest(
          app.address,
          { ...params, QUERY_STRING: `sleep=${index % 5}` },
          { stdin: body },
        );
        return { index, body, report: JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Report };
      }),
    );
    for (const { index, body, report } of reports) expectOnlyItsOwn(report, index, body);
  });

  it('gives each request on one kept connection only its own parameters', async () => {
    const app = await startReportApp(env);
    const connection = await FcgiConnection.connect(app.address);
    try {
      for (let index = 0; index < 6; index++) {
        const { params, body } = distinctRequest(index);
        const response = await connection.request(params, { stdin: body, keepConn: true });
        expectOnlyItsOwn(JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Report, index, body);
      }
    } finally {
      connection.close();
    }
  });
});

function connects(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, host);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe('createServer keeps requests apart over time', () => {
  it('gives a request whose body comes slowly all of it, while 300 others come and go meanwhile', async () => {
    const app = await startReportApp({});
    const slow = distinctRequest(1000);
    let sendRest = (): void => undefined;
    const restMayGo = new Promise<void>((resolve) => (sendRest = resolve));
    async function* slowBody(): AsyncGenerator<Buffer> {
      yield slow.body.subarray(0, 50);
      await restMayGo;
      yield slow.body.subarray(50);
    }
    const connection = await FcgiConnection.connect(app.address);
    const slowAnswer = connection.request(slow.params, { stdin: slowBody() });
    for (let index = 0; index < 300; index++) {
      const { params, body } = distinctRequest(index % 40);
      const response = await fcgiRequest(app.address, params, { stdin: body });
      expectOnlyItsOwn(JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Report, index % 40, body);
    }
    sendRest();
    const report = JSON.parse(parseCgiResponse((await slowAnswer).stdout).body.toString()) as Report;
    expectOnlyItsOwn(report, 1000, slow.body);
    expect(report.bodySha).toBe(createHash('sha256').update(slow.body).digest('hex'));
    connection.close();
  });
});

describe('sockets an app opens itself', () => {
  it('listen({ port }) and createServer().listen(port) bind 127.0.0.1, out of reach of other addresses', async () => {
    const listener = listen({ port: 0 });
    try {
      const port = listener.port ?? 0;
      expect(await connects(port, '127.0.0.1')).toBe(true);
      expect(await connects(port, '127.0.0.2')).toBe(false);
    } finally {
      listener.close();
    }
    const server = createServer(() => undefined);
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, resolve));
    try {
      expect(server.address()).toMatchObject({ address: '127.0.0.1', port });
      expect(await connects(port, '127.0.0.2')).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('makes a Unix socket readable and writable by all only when asked (readableAll, writableAll)', async () => {
    const dir = tempDir();
    const previous = process.umask(0o077);
    try {
      const plain = listen({ path: join(dir, 'plain.sock') });
      const open = listen({ path: join(dir, 'open.sock'), readableAll: true, writableAll: true });
      const server = createServer(() => undefined);
      await new Promise<void>((resolve) =>
        server.listen({ path: join(dir, 'server.sock'), writableAll: true }, resolve),
      );
      expect(statSync(join(dir, 'plain.sock')).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, 'open.sock')).mode & 0o777).toBe(0o766);
      expect(statSync(join(dir, 'server.sock')).mode & 0o777).toBe(0o722);
      plain.close();
      open.close();
      await new Promise((resolve) => server.close(resolve));
    } finally {
      process.umask(previous);
    }
  });

  it('refuses a web server whose address FCGI_WEB_SERVER_ADDRS does not list, with createServer too', async () => {
    const app = await startReportApp({ FCGI_WEB_SERVER_ADDRS: '127.0.0.1' });
    await expect(fcgiRequest({ ...app.address, localAddress: '127.0.0.2' }, cgiParams())).rejects.toThrow();
    const response = await fcgiRequest(app.address, cgiParams());
    expect(parseCgiResponse(response.stdout).status).toBe(200);
  });

  it.skipIf(process.getuid?.() !== 0)(
    'refuses a process of another local user on a socket all may open, when webServerUids names the web server',
    async () => {
      const dir = tempDir();
      chmodSync(dir, 0o711); // others may pass through, as a web server must, but not list
      const path = join(dir, 'app.sock');
      const refusals: FcgiError[] = [];
      const server = createServer({ webServerUids: [0] }, (req, res) => res.end(`served ${req.url}`));
      server.on('clientError', (error: FcgiError) => refusals.push(error));
      await new Promise<void>((resolve) => server.listen({ path, writableAll: true }, resolve));
      try {
        // The intruder: nobody, with this package's own client, as any local account could run it.
        const client = join(repoRoot, 'dist', 'client', 'client.js');
        const script =
          `require(${JSON.stringify(client)}).fcgiRequest({ path: ${JSON.stringify(path)} }, ` +
          "{ REQUEST_METHOD: 'GET', REQUEST_URI: '/secret', SCRIPT_NAME: '/secret' })" +
          '.then((r) => console.log(r.stdout.toString()), (e) => console.log("refused: " + e.message))';
        const argv = ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script];
        const intruder = await new Promise<string>((resolve) => {
          const child = spawn('setpriv', argv, { stdio: ['ignore', 'pipe', 'inherit'] });
          let output = '';
          child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
          child.on('close', () => resolve(output));
        });
        expect(intruder).toMatch(/^refused: /);
        expect(intruder).not.toContain('served');
        await waitUntil(() => refusals.length > 0, 5_000);
        expect(refusals.map((error) => [error.code, error.message])).toEqual([
          [
            'EACCES',
            'accept failed: EACCES (a local process of uid 65534 connected, and webServerUids does not list it)',
          ],
        ]);
        // The web server's own connections are served as ever.
        const response = await fcgiRequest({ path }, { ...cgiParams(), REQUEST_URI: '/page' });
        expect(parseCgiResponse(response.stdout).body.toString()).toBe('served /page');
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    },
  );

  it('takes webServerUids only as a list of user ids', () => {
    expect(() => createServer({ webServerUids: [-1] })).toThrow(TypeError);
    expect(() => createServer({ webServerUids: [1.5] })).toThrow(TypeError);
    expect(() => createServer({ webServerUids: '33' as unknown as number[] })).toThrow(TypeError);
  });
});
