// createServer() behaves as node:http does where apps can tell, and degrades safely where FastCGI cannot carry what
// node:http would send: each case here is one a user of node:http relies on, driven over a real FastCGI connection.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fcgiRequest,
  parseCgiResponse,
  type CgiResponse,
  type FcgiAddress,
  type RequestOptions,
} from '../../lib/client/client';
import { fixture, spawnFcgiApp, stopAll, type RunningApp } from '../helpers/apps';

/** Under valgrind (scripts/valgrind.sh) the app runs ~30 times slower: timing bounds are left out there. */
const slow = process.env.LIBFCGI_TEST_VALGRIND !== undefined;
const parityApp = fixture('parity-app.js');

/**
 * The parameters a web server sends for a request to uri: the CGI ones (an extra pair of the same name replaces its
 * value), then the other extra pairs in order, repeated names included.
 */
function params(uri: string, extra: Array<[string, string]> = []): Array<[string, string]> {
  const [path = uri, query = ''] = uri.split('?');
  const cgi = new Map([
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REQUEST_METHOD', 'GET'],
    ['REQUEST_URI', uri],
    ['SCRIPT_NAME', path],
    ['QUERY_STRING', query],
    ['REMOTE_ADDR', '127.0.0.1'],
    ['REMOTE_PORT', '40000'],
  ]);
  const others = extra.filter(([name, value]) => !(cgi.has(name) && cgi.set(name, value)));
  return [...cgi, ...others];
}

async function send(
  address: FcgiAddress,
  uri: string,
  extra: Array<[string, string]> = [],
  options: RequestOptions = {},
): Promise<CgiResponse> {
  const raw = await fcgiRequest(address, params(uri, extra), options);
  return parseCgiResponse(raw.stdout);
}

async function json(address: FcgiAddress, uri: string, extra: Array<[string, string]> = [], options = {}) {
  const response = await send(address, uri, extra, options);
  expect(response.status, response.body.toString()).toBe(200);
  return JSON.parse(response.body.toString('utf8'));
}

const post = (length: string | null, extra: Array<[string, string]> = []): Array<[string, string]> => [
  ['REQUEST_METHOD', 'POST'],
  ...(length === null ? [] : ([['CONTENT_LENGTH', length]] as Array<[string, string]>)),
  ['CONTENT_TYPE', 'text/plain'],
  ...extra,
];

let app: RunningApp;
beforeAll(async () => {
  app = await spawnFcgiApp(parityApp);
});
afterAll(stopAll);

describe('request headers', () => {
  it('merges repeated header lines as node:http does and keeps every line in rawHeaders', async () => {
    // nginx sends each repeated header line as a parameter of its own.
    const seen = await json(app.address, '/headers', [
      ['HTTP_HOST', 'example.test'],
      ['HTTP_COOKIE', 'a=1'],
      ['HTTP_X_FORWARDED_FOR', '203.0.113.7'],
      ['HTTP_USER_AGENT', 'first-agent'],
      ['HTTP_COOKIE', 'b=2'],
      ['HTTP_X_FORWARDED_FOR', '198.51.100.1'],
      ['HTTP_USER_AGENT', 'second-agent'],
      ['HTTP_SET_COOKIE', 'x=1'],
      ['HTTP_SET_COOKIE', 'y=2'],
      ['HTTP_ACCEPT', 'text/html'],
      ['HTTP_ACCEPT', 'application/json'],
    ]);
    expect(seen.headers).toEqual({
      host: 'example.test',
      cookie: 'a=1; b=2',
      'x-forwarded-for': '203.0.113.7, 198.51.100.1',
      'user-agent': 'first-agent', // node:http keeps the first of a header it allows once
      'set-cookie': ['x=1', 'y=2'],
      accept: 'text/html, application/json',
    });
    expect(seen.rawHeaders).toEqual([
      'Host',
      'example.test',
      'Cookie',
      'a=1',
      'X-Forwarded-For',
      '203.0.113.7',
      'User-Agent',
      'first-agent',
      'Cookie',
      'b=2',
      'X-Forwarded-For',
      '198.51.100.1',
      'User-Agent',
      'second-agent',
      'Set-Cookie',
      'x=1',
      'Set-Cookie',
      'y=2',
      'Accept',
      'text/html',
      'Accept',
      'application/json',
    ]);
  });

  it('joins every repeated header with ", " under the joinDuplicateHeaders option, as node:http does', async () => {
    const joining = await spawnFcgiApp(parityApp, { env: { JOIN_DUPLICATE_HEADERS: '1' } });
    const seen = await json(joining.address, '/headers', [
      ['HTTP_AUTHORIZATION', 'Basic Zmlyc3Q6MQ=='],
      ['HTTP_AUTHORIZATION', 'Bearer second'],
      ['HTTP_COOKIE', 'a=1'],
      ['HTTP_COOKIE', 'b=2'],
    ]);
    expect(seen.headers).toEqual({ authorization: 'Basic Zmlyc3Q6MQ==, Bearer second', cookie: 'a=1; b=2' });
  });

  it('gives req.socket.remoteFamily, and encrypted only when the web server says HTTPS', async () => {
    const plain = await json(app.address, '/headers');
    expect(plain).toMatchObject({ remoteFamily: 'IPv4', hasEncrypted: false, encrypted: null });
    const v6 = await json(app.address, '/headers', [
      ['REMOTE_ADDR', '::1'],
      ['HTTPS', 'on'],
    ]);
    expect(v6).toMatchObject({ remoteFamily: 'IPv6', hasEncrypted: true, encrypted: true });
  });

  it('marks a request without a body complete from the start, as node:http does', async () => {
    expect((await json(app.address, '/headers')).complete).toBe(true);
  });
});

describe('request bodies the web server has unframed', () => {
  it('shows a de-chunked upload with a CONTENT_LENGTH as a content-length body, without transfer-encoding', async () => {
    // nginx reads a chunked upload whole, then sends its length and the client's Transfer-Encoding line.
    const seen = await json(app.address, '/body', post('11', [['HTTP_TRANSFER_ENCODING', 'chunked']]), {
      stdin: Buffer.from('hello world'),
    });
    expect(seen).toMatchObject({ contentLength: '11', transferEncoding: null, complete: true, body: 'hello world' });
    expect(seen.rawHeaders).not.toContain('Transfer-Encoding');
  });

  it.each([
    ['Caddy: CONTENT_LENGTH=-1', post('-1')],
    ['Caddy: CONTENT_LENGTH=-1 with the client Transfer-Encoding', post('-1', [['HTTP_TRANSFER_ENCODING', 'chunked']])],
    ['Apache: no CONTENT_LENGTH, the client Transfer-Encoding', post(null, [['HTTP_TRANSFER_ENCODING', 'chunked']])],
    ['a malformed CONTENT_LENGTH', post('12abc')],
  ])('reads a body of unknown length to the end and shows it as chunked (%s)', async (_, extra) => {
    const body = Buffer.alloc(200_000, 'x');
    const seen = await json(app.address, '/body', extra, { stdin: body });
    expect(seen).toMatchObject({ contentLength: null, transferEncoding: 'chunked', complete: true });
    expect(seen.body.length).toBe(body.length);
  });
});

describe('response framing', () => {
  it('adds Content-Length when end() carries the whole body, as node:http does', async () => {
    const response = await send(app.address, '/end-whole');
    expect(response.header('content-length')).toBe('11');
    expect(response.body.toString()).toBe('hello world');
  });

  it('sends a body written in pieces without Content-Length and without chunk framing', async () => {
    const response = await send(app.address, '/write-then-end');
    expect(response.header('content-length')).toBeUndefined();
    expect(response.header('transfer-encoding')).toBeUndefined();
    expect(response.body.toString()).toBe('hello world');
  });

  it('sends the body clean when the app sets Transfer-Encoding: chunked itself', async () => {
    const response = await send(app.address, '/app-chunked');
    expect(response.status).toBe(200);
    expect(response.header('transfer-encoding')).toBeUndefined();
    expect(response.body.toString()).toBe('hello world');
  });

  it('drops trailers instead of throwing ERR_HTTP_TRAILER_INVALID, and keeps serving', async () => {
    const response = await send(app.address, '/trailers');
    expect(response.status).toBe(200);
    expect(response.header('trailer')).toBeUndefined();
    expect(response.body.toString()).toBe('body end');
    expect(app.output()).not.toContain('ERR_HTTP_TRAILER_INVALID');
    expect((await send(app.address, '/end-whole')).status).toBe(200);
  });

  it('drops 1xx interim responses (writeContinue, writeProcessing, writeEarlyHints): the final head is the head', async () => {
    const response = await send(app.address, '/interim');
    expect(response.status).toBe(201);
    expect(response.header('content-type')).toBe('text/plain');
    expect(response.body.toString()).toBe('final');
  });

  it('answers a writeHead() that threw with "500 Internal Server Error", not the reason it had taken', async () => {
    const response = await send(app.address, '/bad-write-head');
    expect(response.status).toBe(500);
    expect(response.statusText).toBe('Internal Server Error');
  });
});

describe('Expect', () => {
  it("emits 'checkContinue' for Expect: 100-continue when the server listens for it", async () => {
    const response = await send(app.address, '/expect', post('5', [['HTTP_EXPECT', '100-continue']]), {
      stdin: Buffer.from('hello'),
    });
    expect(response.header('x-listener')).toBe('checkContinue');
    expect(response.body.toString()).toBe('checked');
  });

  it('answers 417 to an expectation it cannot meet, as node:http does without a checkExpectation listener', async () => {
    const response = await send(app.address, '/expect', [['HTTP_EXPECT', 'something-else']]);
    expect(response.status).toBe(417);
  });
});

describe('timeouts', () => {
  it("fires res.setTimeout()'s callback after that long without activity", async () => {
    const started = Date.now();
    const response = await send(app.address, '/res-timeout?ms=300');
    expect(response.body.toString()).toBe('response timed out');
    if (!slow) expect(Date.now() - started).toBeGreaterThanOrEqual(280);
  });

  it("fires req.setTimeout()'s callback while the upload stalls", async () => {
    async function* stalledUpload() {
      yield Buffer.from('part');
      await sleep(2000);
      yield Buffer.from('rest');
    }
    const response = await send(app.address, '/req-timeout?ms=300', post('8'), { stdin: stalledUpload() });
    expect(response.body.toString()).toBe('request timed out, complete=false');
  });

  it('does not time out a response that keeps writing', async () => {
    const response = await send(app.address, '/timeout-activity?ms=300');
    expect(response.body.toString()).toBe('012345 no timeout');
  });

  it('ends the request when a timeout fires and nothing listens for it, and keeps serving', async () => {
    const response = await fcgiRequest(app.address, params('/timeout-unheard?ms=200'));
    expect(response.stdout.length).toBe(0);
    expect((await send(app.address, '/end-whole')).status).toBe(200);
  });

  it("applies server.setTimeout() to every request, calling the server's listener with the socket", async () => {
    const timed = await spawnFcgiApp(parityApp, { env: { SERVER_TIMEOUT: '300' } });
    const started = Date.now();
    const response = await fcgiRequest(timed.address, params('/hang'));
    expect(response.stdout.length).toBe(0); // the listener destroyed the socket: the request ended unanswered
    if (!slow) expect(Date.now() - started).toBeLessThan(5000);
    expect((await send(timed.address, '/end-whole')).body.toString()).toBe('hello world');
  });
});
