// createServer(): node:http's request and response over FastCGI, spawned as a web server spawns it and driven over
// real FastCGI connections.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FcgiConnection,
  fcgiRequest,
  parseCgiResponse,
  type CgiResponse,
  type FcgiAddress,
  type FcgiResponse,
  type RequestOptions,
} from '../../lib/client/client';
import { Role } from '../../lib/client/protocol';
import { fixture, spawnFcgiApp, stopAll, type RunningApp } from '../helpers/apps';
import { waitUntil } from '../helpers/wait';

const MB = 1024 * 1024;
/** Under valgrind (scripts/valgrind.sh) the app runs ~30 times slower: timing and gigabyte tests are left out. */
const itFast = process.env.LIBFCGI_TEST_VALGRIND ? it.skip : it;
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;

/** The CGI parameters a web server sends for a request to uri. */
function cgiParams(uri: string, extra: Record<string, string> = {}): Record<string, string> {
  const [path = uri, query = ''] = uri.split('?');
  return {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: 'GET',
    REQUEST_URI: uri,
    SCRIPT_NAME: path,
    QUERY_STRING: query,
    ...extra,
  };
}

interface Reply {
  raw: FcgiResponse;
  response: CgiResponse;
}

async function send(
  address: FcgiAddress,
  uri: string,
  extra: Record<string, string> = {},
  options: RequestOptions = {},
): Promise<Reply> {
  const raw = await fcgiRequest(address, cgiParams(uri, extra), options);
  return { raw, response: parseCgiResponse(raw.stdout) };
}

async function getJson(address: FcgiAddress, uri: string, extra: Record<string, string> = {}) {
  const { response } = await send(address, uri, extra);
  expect(response.status).toBe(200);
  return JSON.parse(response.body.toString('utf8'));
}

async function post(address: FcgiAddress, uri: string, body: Buffer, extra: Record<string, string> = {}) {
  return send(
    address,
    uri,
    { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream', ...extra },
    { stdin: body },
  );
}

/** Asks until check returns something other than undefined, or the time is up; then returns its last answer. */
async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 3000): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined || Date.now() > deadline) return value;
    await sleep(25);
  }
}

interface AbortRecord {
  events: Array<{ event: string; ms: number }>;
  timedOut: boolean;
}

/** The /stream pattern of test/fixtures/async-app.js: a pseudo-random block with its number in the first 4 bytes. */
const blockSize = 64 * 1024;
const baseBlock = Buffer.alloc(blockSize);
for (let i = 0, x = 1; i < blockSize; i++) {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0;
  baseBlock[i] = x >>> 24;
}
function patternSha256(total: number): string {
  const hash = createHash('sha256');
  const block = Buffer.from(baseBlock);
  for (let index = 0, offset = 0; offset < total; index++, offset += blockSize) {
    block.writeUInt32BE(index, 0);
    hash.update(block.subarray(0, Math.min(blockSize, total - offset)));
  }
  return hash.digest('hex');
}

/** Splits a streamed CGI response into its head and a running count and hash of its body. */
class StreamedResponse {
  head: CgiResponse | null = null;
  bodyBytes = 0;
  private readonly hash = createHash('sha256');
  private pending: Buffer = Buffer.alloc(0);

  onStdout = (chunk: Buffer): void => {
    if (this.head) {
      this.body(chunk);
      return;
    }
    this.pending = Buffer.concat([this.pending, chunk]);
    const end = this.pending.indexOf('\r\n\r\n');
    if (end < 0) return;
    this.head = parseCgiResponse(this.pending.subarray(0, end + 4));
    this.body(this.pending.subarray(end + 4));
    this.pending = Buffer.alloc(0);
  };

  digest(): string {
    return this.hash.digest('hex');
  }

  private body(chunk: Buffer): void {
    this.bodyBytes += chunk.length;
    this.hash.update(chunk);
  }
}

afterAll(stopAll);

describe('createServer() on the socket a web server passes as fd 0', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await spawnFcgiApp(fixture('async-app.js'));
  });

  it('serves 16 simultaneous requests at once rather than one after another', async () => {
    // Each is held until all 16 are in the app's hands at once: one after another, they never are.
    const replies = await Promise.all(Array.from({ length: 16 }, () => getJson(app.address, '/together?n=16')));
    expect(replies.map((reply) => reply.met)).toEqual(Array(16).fill(true));
    expect(new Set(replies.map((reply) => reply.pid))).toEqual(new Set([app.pid]));
  });

  it('serves 16 kept-alive connections making requests side by side', async () => {
    const connections = await Promise.all(Array.from({ length: 16 }, () => FcgiConnection.connect(app.address)));
    try {
      const served = await Promise.all(
        connections.map(async (connection, c) => {
          const urls: string[] = [];
          for (let i = 0; i < 5; i++) {
            const uri = i % 2 === 0 ? `/headers?c=${c}&i=${i}` : '/slow?ms=20';
            const raw = await connection.request(cgiParams(uri), { keepConn: true });
            const response = parseCgiResponse(raw.stdout);
            expect(response.status).toBe(200);
            const reply = JSON.parse(response.body.toString());
            if (reply.url) {
              expect(reply.fcgi.keepConn).toBe(true);
              urls.push(reply.url);
            }
          }
          expect(connection.isClosed).toBe(false);
          return urls;
        }),
      );
      expect(served.flat()).toHaveLength(16 * 3);
      served.forEach((urls, c) => expect(urls).toEqual([0, 2, 4].map((i) => `/headers?c=${c}&i=${i}`)));
    } finally {
      for (const connection of connections) connection.close();
    }
  });

  itFast('runs timers and file system callbacks while it waits for requests', async () => {
    const before = await getJson(app.address, '/ticks');
    let after = before;
    const ticked = async (): Promise<boolean> =>
      (after = await getJson(app.address, '/ticks')).ticks >= before.ticks + 10;
    expect(await waitUntil(ticked, 5000, 50), "the app's 10 ms timer did not run 10 times").toBe(true);
    expect(after.startupRead.done).toBe(true);
    expect(after.startupRead.bytes).toBeGreaterThan(0);
  });

  it('maps the CGI parameters to method, url, headers, httpVersion, socket fields and req.fcgi', async () => {
    const body = Buffer.from('abc');
    const { response } = await send(
      app.address,
      '/headers?x=1&y=two',
      {
        REQUEST_METHOD: 'PUT',
        SERVER_PROTOCOL: 'HTTP/1.0',
        CONTENT_TYPE: 'text/plain; charset=utf-8',
        CONTENT_LENGTH: String(body.length),
        HTTP_HOST: 'example.test',
        HTTP_USER_AGENT: 'vitest',
        HTTP_X_CUSTOM_THING: 'custom value',
        HTTP_ACCEPT_LANGUAGE: 'en',
        REMOTE_ADDR: '203.0.113.7',
        REMOTE_PORT: '54321',
        SERVER_ADDR: '192.0.2.1',
        SERVER_PORT: '443',
        SERVER_NAME: 'example.test',
        HTTPS: 'on',
      },
      { stdin: body },
    );
    expect(response.status).toBe(200);
    const reply = JSON.parse(response.body.toString());
    expect(reply).toMatchObject({
      method: 'PUT',
      url: '/headers?x=1&y=two',
      httpVersion: '1.0',
      body: 'abc',
      socket: { remoteAddress: '203.0.113.7', remotePort: 54321, localAddress: '192.0.2.1', localPort: 443 },
      fcgi: { role: 'responder', requestId: 1, keepConn: false, hasData: false },
    });
    expect(reply.socket.encrypted).toBe(true);
    expect(reply.headers).toEqual({
      host: 'example.test',
      'user-agent': 'vitest',
      'x-custom-thing': 'custom value',
      'accept-language': 'en',
      'content-type': 'text/plain; charset=utf-8',
      'content-length': '3',
    });
    expect(reply.fcgi.params).toMatchObject({ SCRIPT_NAME: '/headers', SERVER_NAME: 'example.test', HTTPS: 'on' });

    const plain = await getJson(app.address, '/headers', { REMOTE_ADDR: '198.51.100.2' });
    expect(plain.socket.encrypted).toBe(false);
    expect(plain.httpVersion).toBe('1.1');
    expect(plain.headers).toEqual({});
  });

  it('takes the later of HTTP_HOST set twice (a configuration override), and merges repeated list headers', async () => {
    const params = [
      ...Object.entries(cgiParams('/headers')),
      ['HTTP_HOST', 'from-host.test'],
      ['HTTP_ACCEPT', 'text/html'],
      ['HTTP_HOST', 'from-http-host.test:8080'],
      ['HTTP_ACCEPT', 'application/json'],
    ] as Array<[string, string]>;
    const reply = JSON.parse(parseCgiResponse((await fcgiRequest(app.address, params)).stdout).body.toString());
    expect(reply.headers.host).toBe('from-http-host.test:8080');
    expect(reply.headers.accept).toBe('text/html, application/json');
    expect(reply.rawHeaders).toEqual([
      'Host',
      'from-http-host.test:8080',
      'Accept',
      'text/html',
      'Accept',
      'application/json',
    ]);
    expect(reply.fcgi.params.HTTP_HOST).toBe('from-http-host.test:8080');
  });

  it('gives req.fcgi.params every parameter sent, those the HTTP layer reads at once and the rest, repeats as the last', async () => {
    const params = [
      ...Object.entries(cgiParams('/headers')),
      ['DOCUMENT_ROOT', '/srv/www'], // a known name the HTTP layer does not read
      ['X_OWN_NAME', 'own'], // a name the addon does not number
      ['REQUEST_URIS', 'near'], // and names a letter away from ones it does
      ['SERVER_PORTS', 'miss'],
      ['HTTP_HOS', 'x'],
      ['HTTP_X_TRACE', ''], // a header line with an empty value
      ['EMPTY', ''],
      ['DOCUMENT_ROOT', '/srv/other'],
    ] as Array<[string, string]>;
    const reply = JSON.parse(parseCgiResponse((await fcgiRequest(app.address, params)).stdout).body.toString());
    expect(reply.fcgi.params).toEqual({ ...Object.fromEntries(params), FCGI_ROLE: 'RESPONDER' }); // libfcgi adds the role
    expect(reply.rawHeaders).toEqual(expect.arrayContaining(['X-Trace', '']));
  });

  it('echoes a streamed body byte-exact as a CGI response without chunked encoding or Date', async () => {
    const body = randomBytes(3 * MB + 17);
    const { response } = await post(app.address, '/echo', body);
    expect(response.status).toBe(200);
    expect(response.header('content-type')).toBe('application/octet-stream');
    expect(response.header('transfer-encoding')).toBeUndefined();
    expect(response.header('date')).toBeUndefined();
    expect(response.header('connection')).toBeUndefined();
    expect(response.body.length).toBe(body.length);
    expect(sha256(response.body)).toBe(sha256(body));
  });

  itFast('streams a 200 MB upload to the handler byte-exact without holding it in memory', async () => {
    const body = randomBytes(200 * MB);
    const expected = sha256(body);
    const { response } = await post(app.address, '/sha', body);
    expect(response.status).toBe(200);
    const reply = JSON.parse(response.body.toString());
    const growth = reply.peakRss - reply.rssBefore;
    console.log(`200 MB upload: app RSS ${mb(reply.rssBefore)} before, peak ${mb(reply.peakRss)} (+${mb(growth)})`);
    expect(reply.length).toBe(body.length);
    expect(reply.sha256).toBe(expected);
    expect(growth).toBeLessThan(100 * MB);
  });

  itFast(
    'sends a 1 GB streamed response whole, the handler waiting for drain whenever write() returns false',
    async () => {
      const total = 1024 * MB;
      const expected = patternSha256(total);
      const streamed = new StreamedResponse();
      const started = Date.now();
      const raw = await fcgiRequest(app.address, cgiParams(`/stream?bytes=${total}`), {
        onStdout: streamed.onStdout,
        collect: false,
      });
      const seconds = (Date.now() - started) / 1000;
      expect(raw.protocolStatus).toBe(0);
      expect(streamed.head?.status).toBe(200);
      expect(streamed.head?.header('content-length')).toBe(String(total));
      expect(streamed.bodyBytes).toBe(total);
      expect(streamed.digest()).toBe(expected);

      const { stream } = await getJson(app.address, '/stats');
      const growth = stream.peakRss - stream.rssBefore;
      console.log(
        `1 GB response in ${seconds.toFixed(1)} s: write() returned false ${stream.writeFalse} times; ` +
          `app RSS ${mb(stream.rssBefore)} before, peak ${mb(stream.peakRss)} (+${mb(growth)})`,
      );
      expect(stream.sent).toBe(total);
      expect(stream.writeFalse).toBeGreaterThan(0);
      expect(stream.drains).toBe(stream.writeFalse);
      expect(growth).toBeLessThan(200 * MB);
    },
    60_000,
  );

  it("turns writeHead(418, 'I am a teapot', headers) into a Status line and those headers", async () => {
    const { raw, response } = await send(app.address, '/status');
    expect(raw.stdout.toString('latin1')).toMatch(/^Status: 418 I am a teapot\r\n/);
    expect(response.status).toBe(418);
    expect(response.statusText).toBe('I am a teapot');
    expect(response.header('x-a')).toBe('b');
    expect(response.body.toString()).toBe('short and stout');
  });

  it('sends a head written alone byte for byte as node:http would, latin1 header values as their one byte', async () => {
    const { raw, response } = await send(app.address, '/latin1-head');
    expect(response.status).toBe(204);
    const stdout = raw.stdout;
    expect(stdout.includes(Buffer.from('X-Name: caf\xe9\r\n', 'latin1'))).toBe(true);
    expect(stdout.includes(Buffer.from('X-Plain: ascii\r\n', 'latin1'))).toBe(true);
    expect(stdout.toString('latin1')).toMatch(/^Status: 204 No Content\r\n/);
  });

  it.each(['/final-1xx', '/final-1xx?interim=1'])(
    'sends a final head with a 1xx status (%s) as the Status line, and drops only interim heads',
    async (path) => {
      const { raw, response } = await send(app.address, path);
      expect(raw.stdout.toString('latin1')).toMatch(/^Status: 101 Switching Protocols\r\n/);
      expect(response.header('x-final')).toBe('yes');
      expect(raw.stdout.toString('latin1')).not.toContain('103');
    },
  );

  it.each([
    ['/throw', 'thrown on purpose'],
    ['/reject', 'rejected on purpose'],
  ])(
    'answers 500 when the handler of %s fails, sends the stack to FCGI_STDERR and keeps serving',
    async (path, message) => {
      const { raw, response } = await send(app.address, path);
      expect(response.status).toBe(500);
      const stderr = raw.stderr.toString();
      expect(stderr).toContain(`Error: ${message}`);
      expect(stderr).toMatch(/\n\s+at .*async-app\.js:\d+/);
      expect((await getJson(app.address, '/pid')).pid).toBe(app.pid);
      const { handlerErrors } = await getJson(app.address, '/stats');
      expect(handlerErrors).toContainEqual(expect.objectContaining({ url: path, message }));
    },
  );

  it('reports every write after end() as ERR_STREAM_WRITE_AFTER_END on res and as handlerError, and keeps serving', async () => {
    // Several times: the write comes in a setImmediate after end(), and each one must be reported however the
    // worker thread's finishing of the request interleaves with it.
    const urls = Array.from({ length: 8 }, (_, i) => `/write-after-end?n=${i}`);
    for (const url of urls) {
      const { response } = await send(app.address, url);
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('done');
    }
    const codes = (errors: Array<{ url: string; code: string | null }>) =>
      urls.map((url) => errors.find((error) => error.url === url)?.code ?? 'not reported');
    let stats = await getJson(app.address, '/stats');
    await waitFor(async () => {
      stats = await getJson(app.address, '/stats');
      const all = [...codes(stats.resErrors), ...codes(stats.handlerErrors)];
      return all.includes('not reported') ? undefined : stats;
    });
    expect((await getJson(app.address, '/pid')).pid).toBe(app.pid);
    expect(codes(stats.resErrors), "res 'error'").toEqual(urls.map(() => 'ERR_STREAM_WRITE_AFTER_END'));
    expect(codes(stats.handlerErrors), "server 'handlerError'").toEqual(urls.map(() => 'ERR_STREAM_WRITE_AFTER_END'));
  });

  /** Starts /abortable?id=…, waits until its handler runs, gives up the way `giveUp` does, and returns its record. */
  async function abandonAbortable(id: string, giveUp: (connection: FcgiConnection) => void) {
    const connection = await FcgiConnection.connect(app.address);
    try {
      const pending = connection.request(cgiParams(`/abortable?id=${id}`), { keepConn: true });
      pending.catch(() => undefined);
      const started = await waitFor(async () => (await getJson(app.address, '/stats')).abortable[id]);
      expect(started, 'the /abortable handler did not start').toBeDefined();
      giveUp(connection);
      let record: AbortRecord | undefined;
      await waitFor(async () => {
        record = (await getJson(app.address, '/stats')).abortable[id];
        const events = record?.events.map((seen) => seen.event) ?? [];
        const complete = ['req aborted', 'req close', 'res close'].every((event) => events.includes(event));
        return complete || record?.timedOut ? record : undefined;
      }, 4000);
      // What the handler had seen when the events were all there, or when the time was up.
      return record;
    } finally {
      connection.close();
    }
  }

  it.each([
    ['FCGI_ABORT_REQUEST', (connection: FcgiConnection) => connection.abort(1)],
    ['a closed connection', (connection: FcgiConnection) => connection.close()],
  ])("makes req emit 'aborted' and 'close' and res emit 'close' on %s", async (name, giveUp) => {
    const id = name.replace(/\W+/g, '-');
    const record = await abandonAbortable(id, giveUp);
    const events = record?.events.map((seen) => seen.event);
    expect(events).toEqual(expect.arrayContaining(['req aborted', 'req close', 'res close']));
    expect(record?.timedOut).toBe(false);
    expect(events?.indexOf('req aborted')).toBeLessThan(events?.indexOf('req close') ?? -1);
    expect((await getJson(app.address, '/pid')).pid).toBe(app.pid);
  });

  it('drains a 1 MB body the handler never read, so the kept connection serves the next request', async () => {
    const connection = await FcgiConnection.connect(app.address);
    try {
      const body = randomBytes(MB);
      const unread = await connection.request(
        cgiParams('/unread', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }),
        { keepConn: true, stdin: body },
      );
      expect(parseCgiResponse(unread.stdout).body.toString()).toBe('body left unread');
      const next = randomBytes(1000);
      const echoed = await connection.request(
        cgiParams('/echo', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(next.length) }),
        { keepConn: true, stdin: next },
      );
      const echoedBody = parseCgiResponse(echoed.stdout).body;
      expect(echoedBody.length).toBe(next.length); // first: a wrong body of a megabyte fails in a line, not a diff
      expect(echoedBody.equals(next)).toBe(true);
      expect(connection.isClosed).toBe(false);
    } finally {
      connection.close();
    }
  });

  it('serves the authorizer role: 200 with a Variable- header for a good token, 403 otherwise', async () => {
    const authorize = (token: string) =>
      send(app.address, '/private/report.pdf', { HTTP_AUTHORIZATION: token }, { role: Role.authorizer });
    const allowed = (await authorize('Bearer good')).response;
    expect(allowed.status).toBe(200);
    expect(allowed.header('variable-user')).toBe('alice');
    const denied = (await authorize('Bearer bad')).response;
    expect(denied.status).toBe(403);
    expect(denied.header('variable-user')).toBeUndefined();
  });

  it('serves the filter role: the body, then FCGI_DATA from req.fcgi.data', async () => {
    const data = randomBytes(300_000);
    const { response } = await send(
      app.address,
      '/filter',
      { CONTENT_LENGTH: '5', FCGI_DATA_LENGTH: String(data.length) },
      { role: Role.filter, stdin: Buffer.from('abcde'), data },
    );
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({
      role: 'filter',
      bodyLength: 5,
      body: 'abcde',
      dataLength: data.length,
      dataSha256: sha256(data),
    });
  });
});

describe('server.close()', () => {
  it('lets a request in flight finish, emits close and lets the process exit 0', async () => {
    const app = await spawnFcgiApp(fixture('async-app.js'));
    try {
      const slow = send(app.address, '/slow?ms=600');
      expect(await waitFor(async () => (await getJson(app.address, '/stats')).slowInFlight || undefined)).toBe(1);
      const closing = await getJson(app.address, '/close');
      expect(closing.closing).toBe(true);
      const { response } = await slow;
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body.toString()).waited).toBe(600);
      const exit = await Promise.race([app.exited, sleep(5000).then(() => 'still running 5 s after close()')]);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(app.output()).toContain('server closed\n');
      expect(app.output()).toContain('close callback\n');
    } finally {
      await app.stop();
    }
  });
});

describe('for await (const { req, res } of server)', () => {
  it('takes requests from the async iterator and serves them concurrently', async () => {
    const app = await spawnFcgiApp(fixture('async-app.js'), { env: { ASYNC_APP_MODE: 'iterator' } });
    try {
      const started = Date.now();
      const replies = await Promise.all(Array.from({ length: 8 }, () => getJson(app.address, '/slow?ms=300')));
      expect(replies.map((reply) => reply.waited)).toEqual(Array(8).fill(300));
      if (!process.env.LIBFCGI_TEST_VALGRIND) expect(Date.now() - started).toBeLessThan(2000);
      const reply = await getJson(app.address, '/headers?via=iterator', { HTTP_X_A: 'b' });
      expect(reply).toMatchObject({ url: '/headers?via=iterator', headers: { 'x-a': 'b' } });
    } finally {
      await app.stop();
    }
  });
});

describe('listen() when fd 0 is not a listening socket', () => {
  it('runs the one request as CGI: environment, stdin and stdout, then exits 0', async () => {
    const body = randomBytes(100_000);
    const child = spawn(process.execPath, [fixture('async-app.js')], {
      env: {
        ...process.env,
        ...cgiParams('/echo', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    child.stdin.end(body);
    const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') child.kill('SIGKILL');
    expect(code, stderr).toBe(0);
    const response = parseCgiResponse(Buffer.concat(stdout));
    expect(response.status).toBe(200);
    expect(response.header('content-type')).toBe('application/octet-stream');
    expect(sha256(response.body)).toBe(sha256(body));
  });
});
