// One connection through its life, under either loop, driven with raw FastCGI records over a real socket: when it is kept
// for the next request, when it closes, and what an abort does to it (native/event_loop/connection.h).
import { writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type FcgiAddress, parseCgiResponse } from '../../lib/client/client';
import { repoRoot, spawnFcgiApp, stopAll, tempDir, type RunningApp } from '../helpers/apps';
import {
  decodeEndRequestBody,
  encodeBeginRequestBody,
  encodeNameValuePairs,
  encodeRecord,
  type FcgiRecord,
  ProtocolStatus,
  RecordParser,
  RecordType,
  Role,
} from '../../lib/client/protocol';
import { abort, begin, cgiParams, data, params, slowdown, stdin } from '../helpers/raw-fastcgi';
import { waitUntil } from '../helpers/wait';

afterAll(stopAll);

/**
 * /read answers with the length of the body it read; /unread writes its answer at once and ends, leaving the body
 * unread; /hold (createServer only) writes "held" and keeps the request until the web server gives up on it. The same
 * app for both loops: createServer's event loop and accept()'s blocking one, each with a short headersTimeout.
 */
const headersTimeout = 500;
const appSources = {
  createServer: `const { createServer } = require(${JSON.stringify(repoRoot)});
createServer({ headersTimeout: ${headersTimeout} }, (req, res) => {
  if (req.url === '/unread') return res.write('unread', () => res.end());
  if (req.url === '/hold') return res.write('held');
  let length = 0;
  req.on('data', (chunk) => (length += chunk.length));
  req.on('end', () => res.end('read ' + length));
}).listen();
`,
  accept: `const fcgi = require(${JSON.stringify(repoRoot)});
const listener = new fcgi.Listener(fcgi.FCGI_LISTENSOCK_FILENO, { headersTimeout: ${headersTimeout} });
for (let request; (request = listener.accept()) !== null; ) {
  if (request.params.REQUEST_URI === '/unread') {
    request.write('Status: 200\\r\\n\\r\\nunread');
    request.flush(); // as createServer's res.write() sends at once
    continue;
  }
  try {
    request.write('Status: 200\\r\\n\\r\\nread ' + request.readAll().length);
  } catch {
    // the web server gave up on the request
  }
}
`,
};

function appScript(loop: keyof typeof appSources): string {
  const script = join(tempDir(), 'connection-app.js');
  writeFileSync(script, appSources[loop]);
  return script;
}

/** A web server's side of one connection: records sent as given, records received collected. */
class Peer {
  readonly records: FcgiRecord[] = [];
  closed = false;
  private readonly parser = new RecordParser();

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.records.push(...this.parser.push(chunk)));
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }

  static open(address: FcgiAddress): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(address.path ?? '');
      socket.once('error', reject);
      socket.once('connect', () => resolve(new Peer(socket)));
    });
  }

  send(...chunks: Buffer[]): void {
    this.socket.write(Buffer.concat(chunks));
  }

  /** What request `id` wrote to FCGI_STDOUT, as the body of a CGI response ('' while its head is still coming). */
  body(id = 1): string {
    const stdout = this.records.filter((r) => r.type === RecordType.stdout && r.requestId === id);
    const bytes = Buffer.concat(stdout.map((r) => r.content));
    return bytes.includes('\r\n\r\n') ? parseCgiResponse(bytes).body.toString() : '';
  }

  /** The ids of the FCGI_END_REQUEST records received, in order. */
  ended(): number[] {
    return this.records.filter((r) => r.type === RecordType.endRequest).map((r) => r.requestId);
  }

  async until(condition: () => boolean, what: string): Promise<void> {
    expect(await waitUntil(condition, 5000 * slowdown), what).toBe(true);
  }

  /** Half-closes: the web server sends nothing more, and still reads. */
  endSending(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A request's BEGIN_REQUEST and PARAMS: a POST of `length` bytes when length > 0. */
function head(uri: string, id: number, keepConn: boolean, length = 0, role: number = Role.responder): Buffer {
  const post: Record<string, string> = length > 0 ? { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(length) } : {};
  const pairs = cgiParams({ REQUEST_URI: uri, SCRIPT_NAME: uri, ...post });
  return Buffer.concat([begin(id, keepConn, role), params(pairs, id)]);
}

describe.each(['createServer', 'accept'] as const)('a connection served by %s', (loop) => {
  let app: RunningApp;
  const peers: Peer[] = [];
  // accept() serves one connection at a time: each test's connections go before the next test's.
  afterEach(() => peers.splice(0).forEach((peer) => peer.destroy()));
  async function connect(): Promise<Peer> {
    app ??= await spawnFcgiApp(appScript(loop));
    const peer = await Peer.open(app.address);
    peers.push(peer);
    return peer;
  }

  it('is kept after a request that read its body to the end, and serves the next request on it', async () => {
    const peer = await connect();
    const body = Buffer.alloc(100_000, 5);
    peer.send(head('/read', 1, true, body.length), stdin(body));
    await peer.until(() => peer.ended().length === 1, 'the first request did not end');
    expect(peer.body()).toBe('read 100000');
    peer.send(head('/read', 1, true), stdin(Buffer.alloc(0)));
    await peer.until(() => peer.ended().length === 2, 'the second request on the kept connection did not end');
    expect(peer.closed).toBe(false);
  });

  it('is kept after a filter request whose app read neither its body nor its FCGI_DATA', async () => {
    const peer = await connect();
    peer.send(head('/unread', 1, true, 10, Role.filter), stdin(Buffer.alloc(10)), data(Buffer.alloc(30_000, 4)));
    await peer.until(() => peer.ended().length === 1, 'the filter request did not end');
    expect(peer.body()).toBe('unread');
    peer.send(head('/read', 2, true), stdin(Buffer.alloc(0), 2));
    await peer.until(() => peer.ended().length === 2, 'the next request on the kept connection did not end');
    expect(peer.body(2)).toBe('read 0');
    expect(peer.closed).toBe(false);
  });

  it('serves requests whose records carry any padding, the empty records too', async () => {
    const peer = await connect();
    const padded = (id: number, body: Buffer): Buffer[] => {
      const pairs = encodeNameValuePairs(
        cgiParams({ REQUEST_URI: '/read', REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }),
      );
      return [
        encodeRecord(RecordType.beginRequest, id, encodeBeginRequestBody(Role.responder, 1), { paddingLength: 5 }),
        encodeRecord(RecordType.params, id, pairs, { paddingLength: 255 }),
        encodeRecord(RecordType.params, id, Buffer.alloc(0), { paddingLength: 3 }),
        encodeRecord(RecordType.stdin, id, body, { paddingLength: 1 }),
        encodeRecord(RecordType.stdin, id, Buffer.alloc(0), { paddingLength: 7 }),
      ];
    };
    peer.send(...padded(1, Buffer.alloc(9)), ...padded(2, Buffer.alloc(0)));
    await peer.until(() => peer.ended().length === 2, 'not both requests ended');
    expect([peer.body(1), peer.body(2)]).toEqual(['read 9', 'read 0']);
    expect(peer.closed).toBe(false);
  });

  it('lets a kept connection sit idle past headersTimeout after a stray record, and serves the next request', async () => {
    const peer = await connect();
    peer.send(head('/read', 1, true), stdin(Buffer.alloc(0)));
    await peer.until(() => peer.ended().length === 1, 'the first request did not end');
    peer.send(stdin(Buffer.alloc(0))); // once more, after its request ended
    await new Promise((resolve) => setTimeout(resolve, headersTimeout * 1.5)); // the time is what is tested
    peer.send(head('/read', 2, true, 1), stdin(Buffer.alloc(1), 2));
    await peer.until(() => peer.ended().length === 2, 'the next request did not end');
    expect(peer.body(2)).toBe('read 1');
    expect(peer.closed).toBe(false);
    expect(app.output()).not.toContain('refused');
  });

  it('serves requests sent back to back on one kept connection in order, each under its own request id', async () => {
    const peer = await connect();
    const body = Buffer.alloc(70_000, 1);
    peer.send(
      head('/read', 1, true, body.length),
      stdin(body),
      head('/unread', 2, true, 10),
      stdin(Buffer.alloc(10), 2),
      head('/read', 3, true),
      stdin(Buffer.alloc(0), 3),
    );
    await peer.until(
      () => peer.ended().length === 3,
      `not every request ended: ${JSON.stringify(peer.ended())} ${peer.closed} ${JSON.stringify(peer.records.map((r) => [r.type, r.requestId, r.content.length]))}`,
    );
    expect(peer.ended()).toEqual([1, 2, 3]);
    expect([peer.body(1), peer.body(2), peer.body(3)]).toEqual(['read 70000', 'unread', 'read 0']);
    expect(peer.closed).toBe(false);
  });

  it('answers FCGI_GET_VALUES on an idle kept connection at once, and serves the next request on it', async () => {
    const peer = await connect();
    peer.send(head('/read', 1, true), stdin(Buffer.alloc(0)));
    await peer.until(() => peer.ended().length === 1, 'the first request did not end');
    peer.send(encodeRecord(RecordType.getValues, 0, encodeNameValuePairs({ FCGI_MPXS_CONNS: '' })));
    await peer.until(
      () => peer.records.some((r) => r.type === RecordType.getValuesResult),
      'GET_VALUES went unanswered',
    );
    peer.send(head('/read', 2, true, 3), stdin(Buffer.alloc(3), 2));
    await peer.until(() => peer.ended().length === 2, 'the request after GET_VALUES did not end');
    expect(peer.body(2)).toBe('read 3');
  });

  it('refuses a second request begun while one is in flight with FCGI_CANT_MPX_CONN, and serves the first', async () => {
    const peer = await connect();
    peer.send(head('/read', 1, true, 4), head('/read', 2, true), stdin(Buffer.alloc(4)));
    await peer.until(() => peer.ended().length === 2, 'not both requests ended');
    const ends = peer.records.filter((r) => r.type === RecordType.endRequest);
    const refused = ends.find((r) => r.requestId === 2);
    expect(refused && decodeEndRequestBody(refused.content).protocolStatus).toBe(ProtocolStatus.cantMpxConn);
    expect(peer.body(1)).toBe('read 4');
  });

  it('answers a request whose web server has shut down its sending side, then closes', async () => {
    const peer = await connect();
    peer.send(head('/read', 1, false, 6), stdin(Buffer.alloc(6)));
    peer.endSending();
    await peer.until(() => peer.closed, 'the connection was not closed');
    expect(peer.ended()).toEqual([1]);
    expect(peer.body()).toBe('read 6');
  });

  it('closes after a request without keepConn, dropping a request sent behind it, and serves the next connection afresh', async () => {
    const peer = await connect();
    peer.send(head('/read', 1, false), stdin(Buffer.alloc(0)), head('/read', 2, true, 5), stdin(Buffer.alloc(5), 2));
    await peer.until(() => peer.closed, 'the connection was not closed');
    expect(peer.ended()).toEqual([1]);
    const next = await connect();
    next.send(head('/read', 3, false, 7), stdin(Buffer.alloc(7), 3));
    await next.until(() => next.closed, 'the next connection was not served');
    expect(next.ended()).toEqual([3]);
    expect(next.body(3)).toBe('read 7');
  });

  it('ends a request that left its body unread only once the body has all come, then closes without keepConn', async () => {
    const peer = await connect();
    const body = stdin(Buffer.alloc(50_000, 2));
    const half = body.length / 2;
    peer.send(head('/unread', 1, false, 50_000), body.subarray(0, half));
    await peer.until(() => peer.body() === 'unread', 'the app did not answer');
    // The answer goes at once; END_REQUEST waits for the rest, which the web server is still sending.
    expect(peer.ended()).toEqual([]);
    expect(peer.closed).toBe(false);
    peer.send(body.subarray(half));
    await peer.until(() => peer.closed, 'the connection was not closed');
    expect(peer.ended()).toEqual([1]);
  });

  it('answers FCGI_ABORT_REQUEST that comes after the app ended, while the body was still coming', async () => {
    const peer = await connect();
    const part = encodeRecord(RecordType.stdin, 1, Buffer.alloc(40_000, 3));
    peer.send(head('/unread', 1, true, 80_000), part);
    await peer.until(() => peer.body() === 'unread', 'the app did not answer');
    expect(peer.ended()).toEqual([]);
    peer.send(abort());
    await peer.until(() => peer.closed, 'the connection was not closed');
    expect(peer.ended()).toEqual([1]);
  });

  // An accept() app learns of an abort only by reading its body, so it cannot hold a request waiting for one.
  type Abort = [when: string, uri: string, sent: 'part' | 'whole' | 'held'];
  const aborts: Abort[] = [
    ['in the middle of the body', '/read', 'part'],
    ['right after the body, which the app left unread', '/unread', 'whole'],
  ];
  if (loop === 'createServer') aborts.push(['after the body, while the app holds the request', '/hold', 'held']);
  it.each(aborts)(
    'answers FCGI_ABORT_REQUEST %s with END_REQUEST, and closes the connection the web server asked to keep',
    async (_when, uri, sent) => {
      const peer = await connect();
      const part = encodeRecord(RecordType.stdin, 1, Buffer.alloc(40_000, 3));
      if (sent === 'part') peer.send(head(uri, 1, true, 80_000), part, part, abort());
      if (sent === 'whole') peer.send(head(uri, 1, true, 40_000), part, stdin(Buffer.alloc(0)), abort());
      if (sent === 'held') {
        peer.send(head(uri, 1, true, 40_000), part, stdin(Buffer.alloc(0)));
        await peer.until(() => peer.body() === 'held', 'the app did not take the request');
        peer.send(abort());
      }
      await peer.until(() => peer.closed, 'the connection was not closed');
      expect(peer.ended()).toEqual([1]);
      const next = await connect();
      next.send(head('/read', 1, false), stdin(Buffer.alloc(0)));
      await next.until(() => next.closed, 'the next connection was not served');
      expect(next.body()).toBe('read 0');
    },
  );
});
