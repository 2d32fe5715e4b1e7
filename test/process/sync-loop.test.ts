// The synchronous accept loop, spawned as a web server spawns it and driven over real FastCGI connections.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FcgiConnection, fcgiRequest, parseCgiResponse, type FcgiAddress } from '../../lib/client/client';
import { Role } from '../../lib/client/protocol';
import { fixture, spawnFcgiApp, stopAll, type RunningApp } from '../helpers/apps';
import { pattern } from '../helpers/checks';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function get(address: FcgiAddress, uri: string, params: Record<string, string | Uint8Array> = {}, stdin?: Buffer) {
  const [path, query = ''] = uri.split('?');
  return fcgiRequest(
    address,
    {
      REQUEST_METHOD: stdin ? 'POST' : 'GET',
      REQUEST_URI: uri,
      SCRIPT_NAME: path ?? uri,
      QUERY_STRING: query,
      ...params,
    },
    { stdin: stdin ?? null },
  );
}

async function getJson(address: FcgiAddress, uri: string, params: Record<string, string | Uint8Array> = {}) {
  const response = await get(address, uri, params);
  return JSON.parse(parseCgiResponse(response.stdout).body.toString('utf8'));
}

describe('the synchronous accept loop on fd 0', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await spawnFcgiApp(fixture('sync-app.js'));
  });
  afterAll(stopAll);

  it('answers a GET with the parameters the web server sent', async () => {
    const params = await getJson(app.address, '/params?a=1', { HTTP_HOST: 'example.test' });
    expect(params.REQUEST_METHOD).toBe('GET');
    expect(params.QUERY_STRING).toBe('a=1');
    expect(params.HTTP_HOST).toBe('example.test');
    expect(params.FCGI_ROLE).toBe('RESPONDER');
  });

  it.each([0, 64 * 1024, 8 * 1024 * 1024])('echoes a POST body of %i random bytes byte-exact', async (size) => {
    const body = randomBytes(size);
    const response = await get(app.address, '/echo', { CONTENT_LENGTH: String(size) }, body);
    const echoed = parseCgiResponse(response.stdout).body;
    expect(echoed.length).toBe(size);
    expect(sha256(echoed)).toBe(sha256(body));
  });

  it('writes binary output with NUL bytes unchanged', async () => {
    const response = await get(app.address, '/binary');
    // As hex, with the length first: a wrong body of megabytes then fails in a line, not in a diff of an array per byte.
    const body = parseCgiResponse(response.stdout).body;
    expect(body.length).toBe(9);
    expect(body.toString('hex')).toBe('000100ff00000a0d00');
  });

  it('sends a 16 MiB response whole', async () => {
    const size = 16 * 1024 * 1024;
    const response = await get(app.address, `/big?bytes=${size}`);
    const body = parseCgiResponse(response.stdout).body;
    expect(body.length).toBe(size);
    expect(sha256(body)).toBe(sha256(Buffer.concat(Array.from({ length: 256 }, () => pattern(65536)))));
  });

  it('sends writeStderr() output as an FCGI_STDERR record', async () => {
    const response = await get(app.address, '/stderr');
    expect(response.stderr.toString()).toBe('a line for the error log\n');
    expect(parseCgiResponse(response.stdout).body.toString()).toBe('ok');
  });

  it('sends the exit status in FCGI_END_REQUEST', async () => {
    const response = await get(app.address, '/exit?status=42');
    expect(response.appStatus).toBe(42);
    expect((await get(app.address, '/params')).appStatus).toBe(0);
  });

  it('never shows one request a parameter of the previous one', async () => {
    const first = await getJson(app.address, '/params', { HTTP_X_SECRET: 'first request only' });
    expect(first.HTTP_X_SECRET).toBe('first request only');
    const second = await getJson(app.address, '/params');
    expect(second).not.toHaveProperty('HTTP_X_SECRET');
  });

  it('leaves process.env as the process started with it', async () => {
    const before = await getJson(app.address, '/env');
    await getJson(app.address, '/params', { HTTP_X_LEAK: 'leak', PATH: '/leaked/path', REQUEST_URI: '/params' });
    const after = await getJson(app.address, '/env');
    expect(after).toEqual(before);
    expect(after).not.toHaveProperty('HTTP_X_LEAK');
    expect(after).not.toHaveProperty('REQUEST_METHOD');
  });

  it('keeps parameter bytes lossless and treats __proto__ as a plain name', async () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x80, 0x41, 0xc3]);
    const response = await fcgiRequest(app.address, [
      ['REQUEST_URI', '/params'],
      ['HTTP_X_BYTES', bytes],
      ['__proto__', 'plain'],
      ['constructor', 'c'],
    ]);
    const params = JSON.parse(parseCgiResponse(response.stdout).body.toString('utf8'));
    expect(Buffer.from(params.HTTP_X_BYTES, 'latin1')).toEqual(bytes);
    expect(Object.getOwnPropertyDescriptor(params, '__proto__')?.value).toBe('plain');
    expect(params.constructor).toBe('c');
  });

  it('serves several requests on a kept connection even when a body was left unread', async () => {
    const connection = await FcgiConnection.connect(app.address);
    try {
      const unread = await connection.request(
        { REQUEST_METHOD: 'POST', REQUEST_URI: '/unread', CONTENT_LENGTH: String(200_000) },
        { keepConn: true, stdin: randomBytes(200_000) },
      );
      expect(parseCgiResponse(unread.stdout).body.toString()).toBe('body left unread');
      for (let i = 0; i < 3; i++) {
        const next = await connection.request({ REQUEST_METHOD: 'GET', REQUEST_URI: '/role' }, { keepConn: true });
        expect(JSON.parse(parseCgiResponse(next.stdout).body.toString())).toMatchObject({ keepConn: true });
      }
      expect(connection.isClosed).toBe(false);
    } finally {
      connection.close();
    }
  });

  it('closes the connection after a request without FCGI_KEEP_CONN', async () => {
    const connection = await FcgiConnection.connect(app.address);
    await connection.request({ REQUEST_METHOD: 'GET', REQUEST_URI: '/role' });
    await connection.closed;
    expect(connection.isClosed).toBe(true);
  });

  it('answers FCGI_GET_VALUES', async () => {
    const connection = await FcgiConnection.connect(app.address);
    try {
      const values = await connection.getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']);
      expect(Object.fromEntries(values)).toEqual({ FCGI_MAX_CONNS: '1', FCGI_MAX_REQS: '1', FCGI_MPXS_CONNS: '0' });
      const after = await connection.request({ REQUEST_METHOD: 'GET', REQUEST_URI: '/role' });
      expect(parseCgiResponse(after.stdout).status).toBe(200);
    } finally {
      connection.close();
    }
  });

  it('reports the authorizer role', async () => {
    const response = await fcgiRequest(app.address, { REQUEST_URI: '/role' }, { role: Role.authorizer });
    expect(JSON.parse(parseCgiResponse(response.stdout).body.toString())).toMatchObject({ role: 'authorizer' });
  });

  it('reads the body and then the data stream of a filter request', async () => {
    const data = Buffer.from('the file to filter\n');
    const response = await fcgiRequest(
      app.address,
      { REQUEST_URI: '/filter', CONTENT_LENGTH: '5', FCGI_DATA_LENGTH: String(data.length) },
      { role: Role.filter, stdin: Buffer.from('abcde'), data },
    );
    expect(JSON.parse(parseCgiResponse(response.stdout).body.toString())).toEqual({
      stdinLength: 5,
      dataLength: data.length,
      data: data.toString(),
    });
  });

  it('skips an unread body to reach the data stream of a filter request', async () => {
    const data = randomBytes(100_000);
    const response = await fcgiRequest(
      app.address,
      { REQUEST_URI: '/filter-data-only' },
      { role: Role.filter, stdin: randomBytes(70_000), data },
    );
    expect(JSON.parse(parseCgiResponse(response.stdout).body.toString())).toEqual({ dataLength: data.length });
  });

  it('keeps serving after a client vanishes in the middle of a 16 MiB response', async () => {
    const { pid } = await getJson(app.address, '/pid');
    const connection = await FcgiConnection.connect(app.address);
    // The client goes away on the first STDOUT record: the response has begun and cannot have ended (its
    // END_REQUEST comes after the 16 MiB), however fast the machine.
    let received = 0;
    const pending = connection.request(
      { REQUEST_URI: '/big', QUERY_STRING: `bytes=${16 * 1024 * 1024}` },
      {
        collect: false,
        onStdout: (chunk) => {
          received += chunk.length;
          connection.close();
        },
      },
    );
    await expect(pending).rejects.toThrow(/closed before END_REQUEST/);
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(16 * 1024 * 1024);
    expect((await getJson(app.address, '/pid')).pid).toBe(pid);
  });

  it('throws a clear error when a finished request is written to, and keeps serving', async () => {
    const response = await get(app.address, '/misuse');
    expect(response.stdout.length).toBe(0);
    await get(app.address, '/pid');
    expect(app.output()).toContain('misuse: write after finish(): this request is over');
  });
});
