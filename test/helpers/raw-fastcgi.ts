// Raw FastCGI conversations for the hostile-input tests: build records byte by byte (malformed ones too), send them on
// a fresh connection, and read back whatever the app answers before it closes or goes quiet.
import { createHash, randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { expect } from 'vitest';
import { type FcgiAddress, fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import {
  encodeBeginRequestBody,
  encodeNameValuePairs,
  encodeRecord,
  encodeStream,
  type FcgiRecord,
  type NameValueInput,
  RecordParser,
  RecordType,
  Role,
} from '../../lib/client/protocol';
import { fixture, spawnFcgiApp, type RunningApp } from './apps';

/** Under valgrind (scripts/valgrind.sh) apps run ~30 times slower: waits for their answers stretch by this much. */
export const slowdown = process.env.LIBFCGI_TEST_VALGRIND ? 20 : 1;

export const begin = (requestId = 1, keepConn = false, role: number = Role.responder): Buffer =>
  encodeRecord(RecordType.beginRequest, requestId, encodeBeginRequestBody(role, keepConn ? 1 : 0));
export const params = (pairs: NameValueInput, requestId = 1): Buffer =>
  encodeStream(RecordType.params, requestId, encodeNameValuePairs(pairs));
export const stdin = (body: Uint8Array, requestId = 1): Buffer => encodeStream(RecordType.stdin, requestId, body);
/** FCGI_DATA, the filter role's second stream. */
export const data = (body: Uint8Array, requestId = 1): Buffer => encodeStream(RecordType.data, requestId, body);
export const abort = (requestId = 1): Buffer => encodeRecord(RecordType.abortRequest, requestId);

/** The parameters nginx sends for a GET, plus extra ones. */
export function cgiParams(extra: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: 'GET',
    REQUEST_URI: '/',
    SCRIPT_NAME: '/',
    QUERY_STRING: '',
    ...extra,
  };
}

/** A whole valid request: BEGIN, PARAMS, STDIN. */
export function wholeRequest(pairs: Record<string, string>, body: Uint8Array = Buffer.alloc(0), requestId = 1): Buffer {
  const withLength =
    body.length > 0 ? { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length), ...pairs } : pairs;
  return Buffer.concat([begin(requestId), params(cgiParams(withLength), requestId), stdin(body, requestId)]);
}

export interface Exchange {
  /** Everything the app sent. */
  received: Buffer;
  /** Whole records among it. */
  records: FcgiRecord[];
  /** True when the app closed the connection; false when the client gave up after `quietMs` of silence. */
  closedByApp: boolean;
  /** Milliseconds from connecting to the app's first byte (Infinity if it sent none). */
  firstByteMs: number;
}

export interface ExchangeOptions {
  /** Give up after this long without a byte from the app (then close). Default 1000 ms. */
  quietMs?: number;
  /** Close the connection right after sending, without waiting for an answer (a peer that vanishes). */
  closeAfterSend?: boolean;
  /** Send the chunks with this many milliseconds between them. */
  gapMs?: number;
}

/** Opens a connection, sends the chunks, and collects the app's answer. */
export function exchange(
  address: FcgiAddress,
  chunks: Buffer | Buffer[],
  options: ExchangeOptions = {},
): Promise<Exchange> {
  const parts = Array.isArray(chunks) ? chunks : [chunks];
  const quietMs = (options.quietMs ?? 1000) * slowdown;
  return new Promise((resolve) => {
    const socket = address.path
      ? createConnection(address.path)
      : createConnection(address.port ?? 0, address.host ?? '127.0.0.1');
    const received: Buffer[] = [];
    let closedByApp = false;
    let firstByteMs = Infinity;
    const started = Date.now();
    let quiet: NodeJS.Timeout | undefined;
    const giveUpLater = (): void => {
      clearTimeout(quiet);
      quiet = setTimeout(() => socket.destroy(), quietMs);
    };
    socket.on('data', (chunk: Buffer) => {
      if (received.length === 0) firstByteMs = Date.now() - started;
      received.push(chunk);
      giveUpLater();
    });
    socket.on('end', () => {
      closedByApp = true;
      socket.end();
    });
    socket.on('error', () => {
      closedByApp = true;
    });
    socket.on('close', () => {
      clearTimeout(quiet);
      const all = Buffer.concat(received);
      resolve({ received: all, records: new RecordParser().push(all), closedByApp, firstByteMs });
    });
    socket.once('connect', async () => {
      for (const [index, part] of parts.entries()) {
        if (index > 0 && options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
        if (socket.destroyed) return;
        socket.write(part);
      }
      if (options.closeAfterSend) socket.destroy();
      else giveUpLater();
    });
  });
}

/** The STDOUT of request 1 in an exchange, as a CGI response. */
export function stdoutOf(reply: Exchange, requestId = 1): ReturnType<typeof parseCgiResponse> {
  const stdout = Buffer.concat(
    reply.records.filter((r) => r.type === RecordType.stdout && r.requestId === requestId).map((r) => r.content),
  );
  return parseCgiResponse(stdout);
}

export interface Report {
  pid: number;
  /** When the code that answered started: a restart in place keeps the pid and changes this. */
  started: string;
  params: Record<string, string>;
  bodyLength: number;
  bodySha: string;
  leakedToEnv: string[];
}

/** Sends a valid request with a random marker and body to test/fixtures/report-app.js and checks every byte of it. */
export async function expectServedCorrectly(address: FcgiAddress, pid?: number): Promise<Report> {
  const marker = randomBytes(8).toString('hex');
  const body = randomBytes(1 + (randomBytes(1)[0] ?? 0) * 64);
  const response = await fcgiRequest(
    address,
    cgiParams({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length), HTTP_X_MARKER: marker }),
    { stdin: body },
  );
  const report = JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Report;
  expect(report.params.HTTP_X_MARKER).toBe(marker);
  expect(report.bodyLength).toBe(body.length);
  expect(report.bodySha).toBe(createHash('sha256').update(body).digest('hex'));
  if (pid !== undefined) expect(report.pid).toBe(pid);
  return report;
}

/** The two ways test/fixtures/report-app.js serves: createServer(), and the synchronous accept() loop. */
export const reportAppModes = [
  { mode: 'createServer', env: {} as Record<string, string> },
  { mode: 'accept() loop', env: { REPORT_APP_MODE: 'sync' } as Record<string, string> },
] as const;

/** Spawns test/fixtures/report-app.js on TCP as web servers spawn apps, with the given options (limits, lifecycle). */
export function startReportApp(env: Record<string, string>, options: object = {}): Promise<RunningApp> {
  return spawnFcgiApp(fixture('report-app.js'), {
    tcp: true,
    env: { ...env, REPORT_APP_OPTIONS: JSON.stringify(options) },
  });
}
