// Express, Koa and Fastify apps served by createServer(), spawned as a web server spawns them and driven over real
// FastCGI connections.
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcgiRequest, parseCgiResponse, type CgiResponse, type FcgiAddress } from '../../lib/client/client';
import {
  example,
  fixture,
  freePort,
  spawnFcgiApp,
  startListeningApp,
  stopAll,
  tempDir,
  type RunningApp,
} from '../helpers/apps';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Sends a request the way a web server would and parses the CGI response. */
async function send(
  address: FcgiAddress,
  uri: string,
  extra: Record<string, string> = {},
  body?: string | Buffer,
): Promise<CgiResponse> {
  const [path = uri, query = ''] = uri.split('?');
  const stdin = body === undefined ? null : Buffer.from(body);
  const params: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_NAME: 'example.test',
    SERVER_PORT: '80',
    REMOTE_ADDR: '203.0.113.9',
    REMOTE_PORT: '40000',
    HTTP_HOST: 'example.test',
    REQUEST_METHOD: stdin ? 'POST' : 'GET',
    REQUEST_URI: uri,
    SCRIPT_NAME: path,
    QUERY_STRING: query,
    ...(stdin ? { CONTENT_LENGTH: String(stdin.length) } : {}),
    ...extra,
  };
  const response = await fcgiRequest(address, params, { stdin });
  return parseCgiResponse(response.stdout);
}

const json = (response: CgiResponse) => JSON.parse(response.body.toString('utf8'));

afterAll(stopAll);

describe('Express 5: examples/express-app.js', () => {
  let app: RunningApp;
  let staticDir: string;
  let bigFile: Buffer;
  beforeAll(async () => {
    staticDir = tempDir();
    bigFile = randomBytes(20 * 1024 * 1024);
    writeFileSync(join(staticDir, 'big.bin'), bigFile);
    writeFileSync(join(staticDir, 'hello.txt'), 'hello from a static file\n');
    app = await spawnFcgiApp(example('express-app.js'), { env: { STATIC_DIR: staticDir } });
  });

  it('is an executable with a node shebang and a first comment saying what it is', () => {
    accessSync(example('express-app.js'), constants.X_OK);
    const lines = readFileSync(example('express-app.js'), 'utf8').split('\n');
    expect(lines[0]).toBe('#!/usr/bin/env node');
    expect(lines[1]).toMatch(/^\/\/ An Express 5 app/);
  });

  it('routes GET / to an HTML page', async () => {
    const response = await send(app.address, '/');
    expect(response.status).toBe(200);
    expect(response.header('content-type')).toBe('text/html; charset=utf-8');
    expect(response.body.toString()).toContain('<h1>Express on FastCGI</h1>');
  });

  it('answers GET /json with JSON and an unknown path with 404', async () => {
    const response = await send(app.address, '/json');
    expect(response.status).toBe(200);
    expect(response.header('content-type')).toBe('application/json; charset=utf-8');
    expect(json(response)).toEqual({ hello: 'world', from: 'express', pid: app.pid });
    const missing = await send(app.address, '/no/such/page');
    expect(missing.status).toBe(404);
    expect(missing.body.toString()).toContain('Cannot GET /no/such/page');
  });

  it('parses a JSON body with express.json() and answers 400 for a malformed one', async () => {
    const value = { name: 'Ada', tags: ['math', 'engines'], nested: { n: 1.5, ok: true }, text: 'héllo ✓' };
    const response = await send(app.address, '/json', { CONTENT_TYPE: 'application/json' }, JSON.stringify(value));
    expect(response.status).toBe(200);
    expect(json(response)).toEqual({ received: value });
    const notJson = await send(app.address, '/json', { CONTENT_TYPE: 'application/json' }, '{not json');
    expect(notJson.status).toBe(400);
    expect(json(notJson).error).toMatch(/JSON/);
  });

  it('parses a form body with express.urlencoded()', async () => {
    const response = await send(
      app.address,
      '/form',
      { CONTENT_TYPE: 'application/x-www-form-urlencoded' },
      'name=Ada+Lovelace&lang=en&symbols=%26%3D%25',
    );
    expect(response.status).toBe(200);
    expect(json(response)).toEqual({ received: { name: 'Ada Lovelace', lang: 'en', symbols: '&=%' } });
  });

  it('redirects with 302 and a Location header', async () => {
    const response = await send(app.address, '/redirect');
    expect(response.headers[0]).toEqual(['Status', '302 Found']);
    expect(response.status).toBe(302);
    expect(response.header('location')).toBe('/json');
  });

  it('sets a cookie with res.cookie() and sees the Cookie request header', async () => {
    const response = await send(app.address, '/cookie', { HTTP_COOKIE: 'visited=no; theme=dark' });
    expect(response.status).toBe(200);
    expect(response.header('set-cookie')).toBe('visited=yes; Path=/; HttpOnly');
    expect(json(response)).toEqual({ cookie: 'visited=no; theme=dark' });
  });

  it('serves a 20 MB file with express.static byte-exact', async () => {
    const response = await send(app.address, '/static/big.bin');
    expect(response.status).toBe(200);
    expect(response.header('content-length')).toBe(String(bigFile.length));
    expect(response.header('content-type')).toBe('application/octet-stream');
    expect(response.header('etag')).toBeDefined();
    expect(response.body.length).toBe(bigFile.length);
    expect(sha256(response.body)).toBe(sha256(bigFile));

    const small = await send(app.address, '/static/hello.txt');
    expect(small.header('content-type')).toBe('text/plain; charset=utf-8');
    expect(small.body.toString()).toBe('hello from a static file\n');
    expect((await send(app.address, '/static/missing.txt')).status).toBe(404);
  });

  it('answers a thrown error through the error middleware: 500 with the message as JSON', async () => {
    const response = await send(app.address, '/error');
    expect(response.status).toBe(500);
    expect(json(response)).toEqual({ error: 'something broke' });
    expect(json(await send(app.address, '/json')).pid).toBe(app.pid);
  });

  it('waits in an async route without holding up other requests', async () => {
    const started = Date.now();
    const [slow, fast] = await Promise.all([send(app.address, '/slow'), send(app.address, '/json')]);
    expect(json(slow)).toEqual({ waited: 300 });
    expect(fast.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('sees the request headers, req.fcgi.params and req.socket.remoteAddress', async () => {
    const response = await send(app.address, '/headers', { HTTP_X_REQUEST_ID: 'abc123', SCRIPT_NAME: '/app' });
    expect(json(response)).toEqual({
      headers: { host: 'example.test', 'x-request-id': 'abc123' },
      scriptName: '/app',
      remoteAddress: '203.0.113.9',
    });
  });
});

describe('Express 5 listening on its own socket', () => {
  it('listens on 127.0.0.1:PORT when PORT is set', async () => {
    const port = await freePort();
    const address = { host: '127.0.0.1', port };
    const app = await startListeningApp(example('express-app.js'), address, { PORT: String(port) });
    try {
      expect(json(await send(address, '/json'))).toMatchObject({ hello: 'world', pid: app.pid });
      expect(app.output()).toContain(`listening on 127.0.0.1:${port}`);
    } finally {
      await app.stop();
    }
  });

  it('listens on a Unix socket when SOCKET is set', async () => {
    const path = join(tempDir(), 'express.sock');
    const app = await startListeningApp(example('express-app.js'), { path }, { SOCKET: path });
    try {
      expect(json(await send({ path }, '/json'))).toMatchObject({ hello: 'world', pid: app.pid });
      expect(app.output()).toContain(`listening on ${path}`);
    } finally {
      await app.stop();
    }
  });
});

describe('Koa 3: createServer(app.callback())', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await spawnFcgiApp(fixture('koa-app.js'));
  });

  it('runs the middleware chain and answers a text body', async () => {
    const response = await send(app.address, '/');
    expect(response.status).toBe(200);
    expect(response.header('content-type')).toBe('text/plain; charset=utf-8');
    expect(response.header('x-response-time')).toMatch(/^\d+ms$/);
    expect(response.body.toString()).toBe('Hello from Koa');
  });

  it('sees the query, the client address and the host', async () => {
    const response = await send(app.address, '/info?x=1&y=2');
    expect(json(response)).toEqual({
      method: 'GET',
      path: '/info',
      query: { x: '1', y: '2' },
      ip: '203.0.113.9',
      host: 'example.test',
    });
  });

  it('reads a JSON body from the request stream', async () => {
    const value = { list: [1, 2, 3], text: 'koa ✓' };
    const response = await send(app.address, '/json', { CONTENT_TYPE: 'application/json' }, JSON.stringify(value));
    expect(response.status).toBe(201);
    expect(json(response)).toEqual({ received: value });
  });

  it('answers ctx.throw(400) with 400 and the message, and an unknown path with 404', async () => {
    const bad = await send(app.address, '/bad');
    expect(bad.status).toBe(400);
    expect(bad.body.toString()).toBe('bad request on purpose');
    const notJson = await send(app.address, '/json', { CONTENT_TYPE: 'application/json' }, '{not json');
    expect(notJson.status).toBe(400);
    expect(notJson.body.toString()).toBe('the body is not JSON');
    const missing = await send(app.address, '/missing');
    expect(missing.status).toBe(404);
    expect(missing.body.toString()).toBe('Not Found');
  });
});

describe('Fastify 5: serverFactory returning createServer(handler)', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await spawnFcgiApp(fixture('fastify-app.js'));
  });

  it('routes a GET to an async handler returning JSON', async () => {
    const response = await send(app.address, '/');
    expect(response.status).toBe(200);
    expect(response.header('content-type')).toBe('application/json; charset=utf-8');
    expect(json(response)).toEqual({ hello: 'fastify' });
  });

  it('sees the query, request.ip, the protocol and the host', async () => {
    const response = await send(app.address, '/info?x=1', { HTTPS: 'on', SERVER_PORT: '443' });
    expect(json(response)).toEqual({
      method: 'GET',
      url: '/info?x=1',
      query: { x: '1' },
      ip: '203.0.113.9',
      protocol: 'https',
      host: 'example.test',
    });
  });

  it('parses a JSON body', async () => {
    const value = { list: [1, 2, 3], text: 'fastify ✓' };
    const response = await send(app.address, '/json', { CONTENT_TYPE: 'application/json' }, JSON.stringify(value));
    expect(response.status).toBe(201);
    expect(json(response)).toEqual({ received: value });
  });

  it('answers 400 for a bad body or a route that says so, 500 for a route that throws, 404 for no route', async () => {
    const notJson = await send(app.address, '/json', { CONTENT_TYPE: 'application/json' }, '{not json');
    expect(notJson.status).toBe(400);
    expect((await send(app.address, '/bad')).status).toBe(400);
    const thrown = await send(app.address, '/throw');
    expect(thrown.status).toBe(500);
    expect(json(thrown)).toMatchObject({ statusCode: 500, message: 'fastify route failed' });
    expect((await send(app.address, '/missing')).status).toBe(404);
  });
});
