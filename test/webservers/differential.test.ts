// The differential suite: the same handlers served by node:http behind nginx's proxy_pass and by libfcgi's
// createServer() behind nginx's fastcgi_pass (test/servers/nginx-differential.conf), the same raw requests sent to
// both, and the two raw responses compared byte for byte once the differences FastCGI itself makes are normalised
// (each one named in `normalisations`). Events only the handler sees are recorded in the app and compared too.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { htaccess } from '../../lib/cli/init/texts';
import { fixture, freePort, spawnFcgiApp, lowercaseTempDir, startListeningApp, stopAll } from '../helpers/apps';
import { startWebServer, type WebServer } from '../helpers/webservers';
import { waitUntil } from '../helpers/wait';

const app = fixture('differential-app.js');
const frameworks = ['plain', 'express', 'koa', 'fastify'] as const;
type Framework = (typeof frameworks)[number];

/**
 * Every way the two responses (or what the handlers echo) are made alike before they are compared, and why. Nothing
 * else is touched: any other difference fails the case.
 */
export const normalisations = {
  date: "Date is nginx's clock at the moment of each response.",
  chunkBoundaries:
    'nginx re-chunks a body without a length as the bytes reach it from the backend, so where chunks split is timing; ' +
    'the bytes, their order and the trailer section are compared.',
  hopByHopRequestHeaders:
    'proxy_pass does not forward the hop-by-hop connection, keep-alive, te and upgrade headers, while fastcgi_pass ' +
    'hands every request header to the app as an HTTP_* parameter: they are dropped from echoed headers. ' +
    '(Proxy-Connection is forwarded by both, so it is compared.)',
  expectRequestHeader:
    'nginx answers Expect: 100-continue itself; proxy_pass then drops the header (proxy_set_header Expect "" is a ' +
    'default) while fastcgi_pass passes it on as HTTP_EXPECT: it is dropped from echoed headers.',
  rawHeaderNameCase:
    'FastCGI parameters carry header names upper-cased with underscores (HTTP_X_FORWARDED_FOR), so the spelling the ' +
    'client used is gone: echoed rawHeaders names are compared lower-cased.',
  rawHeaderOrder:
    'proxy_pass sends its own Host and Content-Length lines before the client headers, fastcgi_params sends ' +
    'CONTENT_TYPE, CONTENT_LENGTH and HTTP_HOST before them: echoed rawHeaders are compared sorted by name (lines of ' +
    'one name keep their order).',
  echoedLength:
    'an echo is compared as the JSON once normalised, so its Content-Length is replaced by that of the normalised JSON.',
  httpVersionBehindProxy:
    'proxy_pass always speaks proxy_http_version (1.1) to node:http, whatever the client spoke; FastCGI passes the ' +
    "client's SERVER_PROTOCOL: the echoed httpVersion of an HTTP/1.0 client is checked on the FastCGI side alone.",
  expectContinue:
    'for the same reason only libfcgi sees Expect: 100-continue, and emits checkContinue: its log must be the ' +
    "node:http one with 'checkContinue' first.",
  interimResponsesBehindProxy:
    'nginx 1.22 proxy_pass takes a 1xx from node:http for the final response and sends the real one as its body, ' +
    'to the end of the connection; a CGI response has one head, so libfcgi drops 1xx writes: the FastCGI response ' +
    'is compared with the one node:http gives the same handler without the 1xx write.',
  trailerHeader:
    'nginx drops the trailers of both backends but passes on the Trailer header that announces them; a CGI response ' +
    'has no trailers, so libfcgi does not announce any: the Trailer line is dropped from the node:http response.',
  requestEventTiming:
    "how req's last events interleave with the response's is tick ordering, not behaviour, and differs between Node " +
    "lines (after a finished response, Node 20 emits res 'close' before req 'end' and 'close', Node 26 after), while " +
    "a FastCGI response finishes a round trip to the addon later. In every log, req's events after 'res finish' " +
    "are moved after the response's, and req 'close' to the very end; that it came after req's other events is " +
    'still checked.',
  apacheHopByHop:
    "Apache's mod_proxy_http drops Proxy-Connection too, and sends node:http a Connection: Keep-Alive of its own, " +
    'while mod_proxy_fcgi passes every request header on: through Apache, Proxy-Connection is dropped from echoed ' +
    'headers as well.',
  apacheResponseHeaderOrder:
    'Apache writes the head on both sides, taking Content-Type from a CGI head apart from the other lines and sending ' +
    "it after them, where mod_proxy_http keeps the backend's order: through Apache the head's lines are compared " +
    'sorted.',
  retriedOnKeptConnection:
    'when node:http closes a kept-alive upstream connection without answering, nginx retries the request once on a ' +
    'new connection (proxy_next_upstream error), so the handler may run twice; a FastCGI end of request is an ' +
    "answer, never retried: the node:http log is compared up to the second run's start.",
} as const;
type Normalisation = keyof typeof normalisations;

const hopByHop = new Set(['connection', 'keep-alive', 'te', 'upgrade']);

/** What the client sends: bytes, or a pause until the response so far contains a string (or a time passes). */
type Step = string | Buffer | { waitFor: string; timeoutMs: number };

interface Case {
  name: string;
  framework?: Framework;
  steps: Step[];
  /** Fetch the app's event log for this request and compare it too. */
  log?: boolean;
  /** The response body is an echo of the request (JSON): apply the echo normalisations to it. */
  echo?: boolean;
  /** Requests before and after this one, to both servers (server-wide settings). */
  before?: string;
  after?: string;
  /** The normalisations this case needs besides those every case gets (date, chunkBoundaries, the echo ones). */
  normalise?: Normalisation[];
  /** A check of the FastCGI side alone, for what a normalisation hides. */
  fastcgiAlso?: (outcome: Outcome) => void;
}

interface Servers {
  nginx: WebServer;
  httpPort: number;
  fcgiPort: number;
  /** fastcgi_pass with test/servers/fastcgi_params_node instead of Debian's fastcgi_params. */
  leanPort: number;
  /** node:http's port for the plain handlers. */
  httpPlain: string;
}
let servers: Servers;

beforeAll(async () => {
  const started = await Promise.all(
    frameworks.map(async (framework) => {
      const port = await freePort();
      const [, fcgi, lean] = await Promise.all([
        startListeningApp(app, { host: '127.0.0.1', port }, { MODE: 'http', PORT: String(port), FRAMEWORK: framework }),
        spawnFcgiApp(app, { env: { MODE: 'fcgi', FRAMEWORK: framework } }),
        spawnFcgiApp(app, { env: { MODE: 'fcgi', FRAMEWORK: framework } }),
      ]);
      return [
        [`HTTP_${framework.toUpperCase()}`, String(port)],
        [`FCGI_${framework.toUpperCase()}`, fcgi.address.path ?? ''],
        [`LEAN_${framework.toUpperCase()}`, lean.address.path ?? ''],
      ];
    }),
  );
  const fcgiPort = await freePort();
  const leanPort = await freePort();
  const vars = Object.fromEntries([
    ...started.flat(),
    ['FCGI_PORT', String(fcgiPort)],
    ['LEAN_PORT', String(leanPort)],
  ]);
  const nginx = await startWebServer('nginx', 'nginx-differential.conf', vars);
  servers = { nginx, httpPort: nginx.port, fcgiPort, leanPort, httpPlain: vars.HTTP_PLAIN ?? '' };
}, 60_000);

afterAll(async () => {
  await stopAll();
});

/** Sends the steps on a fresh connection and reads the whole raw response, to the connection's close. */
function exchange(port: number, steps: Step[], timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let waiter: (() => void) | null = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end of the response within ${timeoutMs} ms; so far:\n${Buffer.concat(chunks)}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      waiter?.();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      waiter?.();
      resolve(Buffer.concat(chunks));
    });
    socket.once('connect', async () => {
      for (const step of steps) {
        if (typeof step === 'string' || Buffer.isBuffer(step)) {
          socket.write(step);
          continue;
        }
        const deadline = Date.now() + step.timeoutMs;
        await new Promise<void>((done) => {
          const check = (): void => {
            if (Buffer.concat(chunks).includes(step.waitFor) || socket.destroyed || Date.now() > deadline) {
              waiter = null;
              done();
            }
          };
          waiter = check;
          setTimeout(check, step.timeoutMs);
          check();
        });
      }
    });
  });
}

/** A request in exact bytes: the request line, Host, the given header lines, Connection: close, and a body. */
function request(method: string, target: string, headers: string[] = [], body = '', version = 'HTTP/1.1'): Buffer {
  const lines = [`${method} ${target} ${version}`, 'Host: example.test', ...headers, 'Connection: close', '', ''];
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), Buffer.from(body, 'latin1')]);
}

const get = (target: string, headers: string[] = []): Step[] => [request('GET', target, headers)];

/** One parsed HTTP message head and what follows it. */
interface Head {
  statusLine: string;
  headers: Array<[string, string]>;
}

function decodeChunked(body: Buffer): { data: Buffer; trailer: string } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd < 0) return { data: Buffer.concat(parts), trailer: `(cut short) ${body.subarray(at).toString()}` };
    const size = parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
    at = lineEnd + 2;
    if (!Number.isFinite(size)) return { data: Buffer.concat(parts), trailer: `(bad chunk size)` };
    if (size === 0) return { data: Buffer.concat(parts), trailer: body.subarray(at).toString('latin1') };
    parts.push(body.subarray(at, at + size));
    at += size + 2;
  }
}

/** Bytes shown so that a diff reads well: CRLF kept visible, anything unprintable as \xNN. */
function show(bytes: Buffer): string {
  return bytes
    .toString('latin1')
    .replace(/[^\x20-\x7e\r\n]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .replace(/\r\n/g, '\\r\\n\n');
}

/** Which web server is in front of both sides. */
type Front = 'nginx' | 'apache';

function normaliseEcho(value: Record<string, unknown>, front: Front): Record<string, unknown> {
  const dropped = (name: string): boolean =>
    hopByHop.has(name) || name === 'expect' || (front === 'apache' && name === 'proxy-connection');
  const headers = Object.fromEntries(
    Object.entries((value.headers ?? {}) as Record<string, unknown>)
      .filter(([name]) => !dropped(name))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const raw = (value.rawHeaders ?? []) as string[];
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([(raw[i] as string).toLowerCase(), raw[i + 1] as string]);
  const rawHeaders = pairs
    .filter(([name]) => !dropped(name))
    .map((pair, index) => ({ pair, index }))
    .sort((a, b) => (a.pair[0] < b.pair[0] ? -1 : a.pair[0] > b.pair[0] ? 1 : a.index - b.index))
    .map(({ pair }) => `${pair[0]}: ${pair[1]}`);
  return { ...value, headers, rawHeaders };
}

/** The raw response with the normalisations applied, as text to compare; and the normalised echo, if any. */
function normalise(
  raw: Buffer,
  testCase: Case,
  front: Front = 'nginx',
): { text: string; echo: Record<string, unknown> | null } {
  const used = new Set<Normalisation>();
  let rest = raw;
  let text = '';
  let final: Head | null = null;
  // Interim (1xx) responses first, then the final one.
  while (rest.length > 0) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd < 0) break;
    const [statusLine = '', ...lines] = rest.subarray(0, headEnd).toString('latin1').split('\r\n');
    const head: Head = { statusLine, headers: lines.map((line) => splitHeader(line)) };
    rest = rest.subarray(headEnd + 4);
    final = head;
    text += renderHead(front === 'apache' ? { ...head, headers: [...head.headers].sort() } : head, used);
    if (!/^HTTP\/\d\.\d 1\d\d/.test(statusLine) || /^HTTP\/\d\.\d 101/.test(statusLine)) break;
    final = null;
  }
  if (final === null) return { text: text + show(rest), echo: null };
  let body = rest;
  let trailer: string | null = null;
  if (final.headers.some(([name, value]) => name.toLowerCase() === 'transfer-encoding' && /chunked/i.test(value))) {
    const decoded = decodeChunked(rest);
    body = decoded.data;
    trailer = decoded.trailer;
    used.add('chunkBoundaries');
  }
  let echo: Record<string, unknown> | null = null;
  if (testCase.echo) {
    try {
      echo = normaliseEcho(JSON.parse(body.toString('utf8')) as Record<string, unknown>, front);
      body = Buffer.from(JSON.stringify(echo, null, 2));
      used.add('echoedLength');
      text = text.replace(/^(content-length): \d+\\r\\n$/im, `$1: ${body.length}\\r\\n`);
    } catch {
      // not JSON: compared as it is
    }
  }
  text +=
    trailer === null
      ? show(body)
      : `[chunked body]\n${show(body)}\n[trailer section]\n${show(Buffer.from(trailer, 'latin1'))}`;
  return { text, echo };
}

function splitHeader(line: string): [string, string] {
  const colon = line.indexOf(':');
  return colon < 0 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 1).trim()];
}

function renderHead(head: Head, used: Set<Normalisation>): string {
  let text = `${head.statusLine}\\r\\n\n`;
  for (const [name, value] of head.headers) {
    if (name.toLowerCase() === 'date') {
      used.add('date');
      text += `${name}: (date)\\r\\n\n`;
    } else {
      text += `${name}: ${value}\\r\\n\n`;
    }
  }
  return `${text}\\r\\n\n`;
}

let nextId = 0;
const newId = (): string => `${process.pid}-${++nextId}`;

async function fetchLog(port: number, framework: Framework, id: string): Promise<unknown> {
  const raw = await exchange(port, get(`/${framework}/log?id=${id}`));
  const headEnd = raw.indexOf('\r\n\r\n');
  const rest = raw.subarray(headEnd + 4);
  const chunked = /^transfer-encoding: chunked$/im.test(raw.subarray(0, headEnd).toString('latin1'));
  const body = (chunked ? decodeChunked(rest).data : rest).toString('utf8');
  try {
    return JSON.parse(body);
  } catch {
    return `(not a log) ${show(raw)}`;
  }
}

/**
 * The log of a request once it is whole: both 'close' events in it (a request's last: write callbacks and 'finish'
 * come before them), and the same at two reads in a row. After 3 s, whatever it holds then.
 */
async function settledLog(port: number, framework: Framework, id: string): Promise<unknown> {
  let log: unknown;
  let last = '';
  await waitUntil(
    async () => {
      log = await fetchLog(port, framework, id);
      const text = JSON.stringify(log);
      const whole = text.includes('"req close') && text.includes('"res close') && text === last;
      last = text;
      return whole;
    },
    3000,
    20,
  );
  return log;
}

type Side = 'http' | 'fastcgi';

/** One side's outcome: the normalised response, the echo's httpVersion before it, and for log cases the event log. */
interface Outcome {
  text: string;
  httpVersion: unknown;
}

/** requestEventTiming: req's events after 'res finish' behind the response's, req 'close' last (marked if early). */
function orderRequestEvents(events: unknown[]): unknown[] {
  const isRequestEvent = (event: unknown): boolean => typeof event === 'string' && event.startsWith('req ');
  const isClose = (event: unknown): boolean => typeof event === 'string' && event.startsWith('req close');
  const finish = events.findIndex((event) => typeof event === 'string' && event.startsWith('res finish'));
  if (finish >= 0) {
    const after = events.slice(finish + 1);
    events = [
      ...events.slice(0, finish + 1),
      ...after.filter((event) => !isRequestEvent(event)),
      ...after.filter(isRequestEvent),
    ];
  }
  const at = events.findIndex(isClose);
  if (at < 0) return events;
  const early = events.slice(at + 1).some(isRequestEvent);
  const closes = events.filter(isClose).map((event) => (early ? `${String(event)} (before other req events)` : event));
  return [...events.filter((event) => !isClose(event)), ...closes];
}

/** The per-case normalisations of the event log. */
function normaliseLog(log: unknown, side: Side, testCase: Case): unknown {
  if (!Array.isArray(log)) return log;
  let events = log as unknown[];
  const wanted = (name: Normalisation): boolean => testCase.normalise?.includes(name) === true;
  if (wanted('retriedOnKeptConnection') && side === 'http') {
    const second = events.indexOf('handler started', events.indexOf('handler started') + 1);
    if (second > 0) events = events.slice(0, second);
  }
  if (wanted('expectContinue') && side === 'fastcgi') {
    events = events[0] === 'checkContinue' ? events.slice(1) : ['(no checkContinue before the request)', ...events];
  }
  return orderRequestEvents(events);
}

/** DIFFERENTIAL_DUMP=DIR writes each side's raw response (.raw) and normalised text (.txt) there, named after the case. */
const fileName = (testCase: Case): string => testCase.name.replace(/[^\w]+/g, '-').slice(0, 80);

async function serve(
  port: number,
  testCase: Case,
  id: string,
  side: Side,
  label: string = side,
  front: Front = 'nginx',
): Promise<Outcome> {
  const framework = testCase.framework ?? 'plain';
  const wanted = (name: Normalisation): boolean => testCase.normalise?.includes(name) === true;
  const idParameter = side === 'http' && wanted('interimResponsesBehindProxy') ? `interim=no&id=${id}` : `id=${id}`;
  const withId = (step: Step): Step =>
    typeof step === 'string'
      ? step.replaceAll('id=@ID@', idParameter)
      : Buffer.isBuffer(step)
        ? Buffer.from(step.toString('latin1').replaceAll('id=@ID@', idParameter), 'latin1')
        : step;
  if (testCase.before) await exchange(port, get(testCase.before));
  let raw: Buffer;
  try {
    raw = await exchange(port, testCase.steps.map(withId));
  } finally {
    if (testCase.after) await exchange(port, get(testCase.after));
  }
  const dump = process.env.DIFFERENTIAL_DUMP;
  if (dump) writeFileSync(join(dump, `${fileName(testCase)}.${label}.raw`), raw);
  const normalised = normalise(raw, testCase, front);
  const echo = normalised.echo;
  let text = normalised.text;
  const httpVersion = echo?.httpVersion;
  if (echo && wanted('httpVersionBehindProxy')) {
    text = text.replace(/^( {2}"httpVersion": )"[^"]*"/m, '$1"(normalised: httpVersionBehindProxy)"');
  }
  if (side === 'http' && wanted('trailerHeader')) text = text.replace(/^Trailer: .*\\r\\n\n/im, '');
  if (testCase.log) {
    const log = normaliseLog(await settledLog(port, framework, id), side, testCase);
    text += `\n--- log ---\n${JSON.stringify(log, null, 2)}`;
  }
  return { text, httpVersion };
}

async function compare(testCase: Case): Promise<void> {
  const id = newId();
  // The lean parameter set must lose nothing an app sees: the same case through it, to app processes of its own.
  const [http, fastcgi, lean] = await Promise.all([
    serve(servers.httpPort, testCase, id, 'http'),
    serve(servers.fcgiPort, testCase, id, 'fastcgi'),
    serve(servers.leanPort, testCase, id, 'fastcgi', 'lean'),
  ]);
  const dump = process.env.DIFFERENTIAL_DUMP;
  if (dump) {
    const file = join(dump, fileName(testCase));
    writeFileSync(`${file}.http.txt`, http.text);
    writeFileSync(`${file}.fastcgi.txt`, fastcgi.text);
    writeFileSync(`${file}.lean.txt`, lean.text);
  }
  expect(fastcgi.text).toBe(http.text);
  expect(lean.text).toBe(http.text);
  testCase.fastcgiAlso?.(fastcgi);
  testCase.fastcgiAlso?.(lean);
}

const plain = (name: string): string => `/plain/case/${name}?id=@ID@`;
const echoPath = plain('echo');

const cases: Case[] = [
  // The response head.
  {
    name: 'setHeader, appendHeader, getHeader, removeHeader, hasHeader, getHeaderNames and getHeaders agree',
    steps: get(plain('headers-api')),
  },
  { name: 'writeHead with an object merges with headers set before', steps: get(plain('writehead-object')) },
  {
    name: 'writeHead with a flat array sends repeated names as separate lines',
    steps: get(plain('writehead-flat-array')),
  },
  {
    name: 'writeHead with an array of pairs sends repeated names as separate lines',
    steps: get(plain('writehead-nested-array')),
  },
  {
    name: 'flushHeaders sends the head before the body and sets headersSent',
    steps: get(plain('flush-headers')),
    log: true,
  },
  { name: 'headersSent turns true with the first write', steps: get(plain('headers-sent')), log: true },
  { name: 'statusCode 404 gets the standard reason phrase', steps: get(plain('status-404')) },
  { name: 'writeHead(500, reason) sends the custom reason phrase', steps: get(plain('status-500-reason')) },
  { name: 'an unknown status 599 gets the reason "unknown"', steps: get(plain('status-599')) },
  { name: 'statusMessage set by the handler is the reason phrase', steps: get(plain('status-message')) },
  { name: 'HEAD gets the Content-Length of the body it does not get', steps: [request('HEAD', plain('head'))] },
  { name: 'a 204 has no body even when the handler writes one', steps: get(plain('status-204')) },
  { name: 'a 304 has no body even when the handler writes one', steps: get(plain('status-304')) },
  { name: 'Set-Cookie given as an array is sent as one line per cookie', steps: get(plain('set-cookie-array')) },
  // The response body.
  { name: 'strings written in latin1, hex, base64 and utf8 become the same bytes', steps: get(plain('encodings')) },
  {
    name: 'end() with multibyte utf8 counts bytes, not characters, in Content-Length',
    steps: get(plain('encodings-length')),
  },
  { name: 'Buffers and Uint8Arrays (also views at an offset) are written as they are', steps: get(plain('buffers')) },
  { name: 'cork and uncork hold writes and keep their callbacks in order', steps: get(plain('cork')), log: true },
  {
    name: "write callbacks, end's callback, 'finish' and 'close' come in the same order",
    steps: get(plain('write-callbacks')),
    log: true,
  },
  { name: 'end(data, callback) calls the callback once finished', steps: get(plain('end-callback')), log: true },
  { name: 'end() with the whole body sets Content-Length', steps: get(plain('end-whole-body')) },
  {
    name: "an HTTP/1.0 client gets end()'s whole body with its Content-Length, which keeps it alive behind nginx",
    steps: [request('GET', plain('end-whole-body'), [], '', 'HTTP/1.0')],
  },
  {
    name: 'writes without a length are chunked by nginx to an HTTP/1.1 client',
    steps: get(plain('writes-without-length')),
  },
  {
    name: 'an HTTP/1.0 client gets a body without a length delimited by the end of the connection',
    steps: [request('GET', plain('writes-without-length'), [], '', 'HTTP/1.0')],
  },
  { name: 'a Transfer-Encoding: chunked header set by the app leaves a clean body', steps: get(plain('app-chunked')) },
  {
    name: 'trailers added with addTrailers() do not reach the client',
    steps: get(plain('trailers')),
    normalise: ['trailerHeader'],
  },
  {
    name: 'writeContinue() before the response leaves the response as it would be without it',
    steps: get(plain('write-continue')),
    normalise: ['interimResponsesBehindProxy'],
  },
  {
    name: 'writeProcessing() before the response leaves the response as it would be without it',
    steps: get(plain('write-processing')),
    normalise: ['interimResponsesBehindProxy'],
  },
  {
    name: 'writeEarlyHints() before the response leaves the response as it would be without it',
    steps: get(plain('write-early-hints')),
    normalise: ['interimResponsesBehindProxy'],
  },
  {
    name: 'stream.pipeline() of a Readable into res sends it all and calls back without error',
    steps: get(plain('pipeline')),
    log: true,
  },
  {
    name: 'a writeHead that throws on an invalid header value leaves the response to a fallback',
    steps: get(plain('writehead-invalid')),
    log: true,
  },
  // The request.
  {
    name: 'req.headers and req.rawHeaders hold what the client sent',
    echo: true,
    steps: get(echoPath, [
      'user-agent: differential/1.0',
      'X-Mixed-Case: Value With Spaces',
      'Accept: text/html, */*;q=0.1',
      'TE: trailers',
      'Keep-Alive: 300',
      'Proxy-Connection: keep-alive',
      'Upgrade: h2c',
    ]),
  },
  {
    name: 'req.httpVersion is 1.1 for an HTTP/1.1 client',
    echo: true,
    steps: get(echoPath),
  },
  {
    name: 'req.httpVersion is 1.0 for an HTTP/1.0 client (the proxied node:http sees 1.1)',
    echo: true,
    steps: [request('GET', echoPath, [], '', 'HTTP/1.0')],
    normalise: ['httpVersionBehindProxy'],
    fastcgiAlso: (outcome) => expect(outcome.httpVersion).toBe('1.0'),
  },
  {
    name: 'req.url keeps %-encoded bytes as sent',
    echo: true,
    steps: [request('GET', '/plain/case/echo/%41%2F%20x/caf%C3%A9;p=%3B?q=%E2%82%AC&r=a+b%26&id=@ID@')],
  },
  {
    name: 'two Cookie lines become one cookie header joined with "; "',
    echo: true,
    steps: get(echoPath, ['Cookie: a=1', 'Cookie: b=2']),
  },
  {
    name: 'two X-Forwarded-For lines become one header joined with ", "',
    echo: true,
    steps: get(echoPath, ['X-Forwarded-For: 203.0.113.7', 'X-Forwarded-For: 198.51.100.2']),
  },
  {
    name: 'of two User-Agent lines the first wins',
    echo: true,
    steps: get(echoPath, ['User-Agent: first/1', 'User-Agent: second/2']),
  },
  {
    name: 'of two Authorization lines the first wins',
    echo: true,
    steps: get(echoPath, ['Authorization: Basic Zmlyc3Q6MQ==', 'Authorization: Basic c2Vjb25kOjI=']),
  },
  {
    name: 'two Set-Cookie request lines become an array',
    echo: true,
    steps: get(echoPath, ['Set-Cookie: x=1', 'Set-Cookie: y=2']),
  },
  {
    name: 'a Content-Length upload arrives whole with its Content-Length',
    echo: true,
    steps: [
      request('POST', echoPath, ['Content-Type: text/plain', 'Content-Length: 21'], 'an uploaded body\x00\xff\r\n!'),
    ],
  },
  {
    name: 'a chunked upload arrives de-chunked, with the Content-Length nginx counted and no Transfer-Encoding',
    echo: true,
    steps: [
      request(
        'POST',
        echoPath,
        ['Content-Type: text/plain', 'Transfer-Encoding: chunked'],
        '5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n',
      ),
    ],
  },
  {
    name: 'req.complete is false before the body is read and true after',
    log: true,
    steps: [request('POST', plain('req-complete'), ['Content-Length: 11'], 'eleven byte')],
  },
  {
    name: "Expect: 100-continue is answered by nginx and the body reaches the handler (with a 'checkContinue' listener)",
    log: true,
    steps: [
      request('POST', plain('expect-continue'), ['Content-Length: 5', 'Expect: 100-continue']),
      { waitFor: '100 Continue', timeoutMs: 1000 },
      'hello',
    ],
    normalise: ['expectContinue'],
  },
  // Timeouts.
  { name: "res.setTimeout's callback fires and answers", steps: get(plain('res-timeout')), log: true },
  {
    name: "req.setTimeout's callback fires while the body is still unread and answers",
    log: true,
    steps: [request('POST', plain('req-timeout'), ['Content-Length: 524288'], 'x'.repeat(524288))],
  },
  {
    name: "server.setTimeout's callback fires for a request that outlasts it and answers",
    log: true,
    before: plain('arm-server-timeout'),
    after: plain('disarm-server-timeout'),
    steps: get(plain('server-timeout')),
  },
  {
    name: 'a timeout without a callback destroys the socket and nginx answers 502',
    steps: get(plain('timeout-without-callback')),
    log: true,
    normalise: ['retriedOnKeptConnection'],
  },
  // Frameworks.
  {
    name: 'Express res.sendFile sends the file with its type, length, ETag and Last-Modified',
    framework: 'express',
    steps: get('/express/send-file'),
  },
  {
    name: 'Express res.download sends the file as an attachment',
    framework: 'express',
    steps: get('/express/download'),
  },
  { name: 'Express res.json sends JSON with its length and ETag', framework: 'express', steps: get('/express/json') },
  {
    name: 'Express res.redirect answers 302 with Location and a body',
    framework: 'express',
    steps: get('/express/redirect'),
  },
  {
    name: "Express with trust proxy reads req.ips, req.ip, req.protocol and req.hostname from the client's X-Forwarded headers",
    framework: 'express',
    steps: get('/express/proxy-facts', [
      'X-Forwarded-For: 203.0.113.7',
      'X-Forwarded-For: 198.51.100.2, 192.0.2.1',
      'X-Forwarded-Proto: https',
    ]),
  },
  {
    name: 'Express express.json() parses a chunked upload',
    framework: 'express',
    steps: [
      request(
        'POST',
        '/express/json-body',
        ['Content-Type: application/json', 'Transfer-Encoding: chunked'],
        '6\r\n{"a":[\r\n8\r\n1,"two"]}\r\n0\r\n\r\n',
      ),
    ],
  },
  { name: 'Koa ctx.body as a stream is sent whole', framework: 'koa', steps: get('/koa/stream') },
  { name: 'Koa ctx.body as a Buffer is sent with its length and type', framework: 'koa', steps: get('/koa/buffer') },
  { name: 'Koa ctx.body as an object is sent as JSON', framework: 'koa', steps: get('/koa/json') },
  { name: 'Koa answers 404 for a path no middleware serves', framework: 'koa', steps: get('/koa/nothing') },
  { name: 'Fastify serves a JSON route', framework: 'fastify', steps: get('/fastify/json') },
  { name: 'Fastify reply.header and reply.code set the head', framework: 'fastify', steps: get('/fastify/header') },
  { name: 'Fastify answers 404 for an unknown route', framework: 'fastify', steps: get('/fastify/nothing') },
];

describe('node:http behind proxy_pass and libfcgi behind fastcgi_pass', () => {
  it.each(cases)('$name', (testCase) => compare(testCase));

  it("a client that goes away mid-request gives req and res the same 'aborted' and 'close' events", async () => {
    const id = newId();
    const abort = async (port: number): Promise<unknown> => {
      const socket = createConnection(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(request('GET', plain('client-abort').replace('@ID@', id)));
      const started = async (): Promise<boolean> => {
        const log = await fetchLog(port, 'plain', id);
        return Array.isArray(log) && log.includes('handler started');
      };
      await waitUntil(started, 3000, 20);
      socket.destroy();
      return settledLog(port, 'plain', id);
    };
    const [http, fastcgi] = await Promise.all([abort(servers.httpPort), abort(servers.fcgiPort)]);
    expect(JSON.stringify(fastcgi, null, 2)).toBe(JSON.stringify(http, null, 2));
  });
});

// Apache's mod_proxy_fcgi, reached through the rule init writes into .htaccess, makes the parameters its own way
// (SCRIPT_NAME, PATH_INFO and SCRIPT_FILENAME unlike mod_fcgid's, REQUEST_URI as the client sent it): what the handler
// sees of the request must still be what node:http behind Apache's mod_proxy_http sees.
describe('node:http behind mod_proxy_http and libfcgi behind mod_proxy_fcgi as init routes it', () => {
  let apache: { httpPort: number; fcgiPort: number; server: WebServer };

  beforeAll(async () => {
    const site = lowercaseTempDir();
    chmodSync(site, 0o755);
    const folder = join(site, '.libfcgi-proxy');
    mkdirSync(join(site, 'public_html'), { mode: 0o755 });
    mkdirSync(folder, { mode: 0o711 });
    writeFileSync(join(site, 'public_html', '.htaccess'), htaccess('app.fcgi', site));
    const socket = join(folder, 'app.sock');
    await startListeningApp(app, { path: socket }, { MODE: 'fcgi', FRAMEWORK: 'plain', SOCKET: socket });
    chmodSync(socket, 0o666); // Apache's workers run as www-data
    writeFileSync(join(folder, 'live'), 'up\n');
    const fcgiPort = await freePort();
    const vars = { FCGI_PORT: String(fcgiPort), HTTP_PLAIN: servers.httpPlain, SITE: site };
    const server = await startWebServer('apache', 'apache-differential.conf', vars);
    apache = { httpPort: server.port, fcgiPort, server };
  }, 60_000);

  const echoCases = cases.filter((testCase) => testCase.echo === true);
  it.each(echoCases)('$name', async (testCase) => {
    const id = newId();
    const [http, fastcgi] = await Promise.all([
      serve(apache.httpPort, testCase, id, 'http', 'apache-http', 'apache'),
      serve(apache.fcgiPort, testCase, id, 'fastcgi', 'apache-fastcgi', 'apache'),
    ]);
    expect(fastcgi.text, apache.server.errorLog()).toBe(http.text);
    testCase.fastcgiAlso?.(fastcgi);
  });
});

describe('libfcgi alone behind fastcgi_pass (node:http has no catch: these would end its process)', () => {
  const statusLine = (raw: Buffer): string => raw.toString('latin1').split('\r\n')[0] ?? '';
  const stillServes = async (): Promise<void> => {
    const raw = await exchange(servers.fcgiPort, get(plain('end-whole-body')));
    expect(statusLine(raw)).toBe('HTTP/1.1 200 OK');
  };

  it("a raw UTF-8 byte in the URL reaches req.url as sent (node:http's own parser answers 400 to it)", async () => {
    const target = '/plain/case/echo/caf\xc3\xa9?r=\xe2\x82\xac';
    const [http, fastcgi] = await Promise.all([
      exchange(servers.httpPort, [request('GET', target)]),
      exchange(servers.fcgiPort, [request('GET', target)]),
    ]);
    expect(statusLine(http)).toBe('HTTP/1.1 400 Bad Request');
    expect(statusLine(fastcgi)).toBe('HTTP/1.1 200 OK');
    const { text } = normalise(fastcgi, { name: 'raw url', steps: [], echo: true });
    expect(text).toContain(`"urlHex": "${Buffer.from(target, 'latin1').toString('hex')}"`);
  });

  it('a handler that throws gets a 500 and the process keeps serving', async () => {
    const raw = await exchange(servers.fcgiPort, get(plain('throws')));
    expect(statusLine(raw)).toBe('HTTP/1.1 500 Internal Server Error');
    await stillServes();
  });

  it('a handler that rejects gets a 500 and the process keeps serving', async () => {
    const raw = await exchange(servers.fcgiPort, get(plain('rejects')));
    expect(statusLine(raw)).toBe('HTTP/1.1 500 Internal Server Error');
    await stillServes();
  });

  it('a handler whose writeHead throws on an invalid header gets a 500 Internal Server Error', async () => {
    const raw = await exchange(servers.fcgiPort, get(plain('throws-after-invalid-writehead')));
    expect(statusLine(raw)).toBe('HTTP/1.1 500 Internal Server Error');
    await stillServes();
  });
});
