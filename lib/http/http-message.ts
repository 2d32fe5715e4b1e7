// Builds node:http's own request and response objects for a FastCGI request, so that code written for node:http —
// Express, Koa, Fastify — runs unchanged: headers from the CGI parameters, the body as a stream, a CGI response.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { chunkSize, type RequestIO } from '../request/request-io';
import { type CgiVariables, headFromPairs } from '../cgi/cgi-head';
import { FcgiSocket } from './http-socket';
import type { Params } from '../request/params';
import { roleName, type Role } from '../accept-loop/request';

/** What `req.fcgi` holds: the FastCGI side of the request. */
export interface FcgiRequestInfo {
  /** All CGI parameters (SCRIPT_NAME, PATH_INFO, DOCUMENT_ROOT…), latin1 strings as in `Params`. */
  params: Params;
  role: Role;
  requestId: number;
  keepConn: boolean;
  /** For the filter role, the file data (FCGI_DATA) as a stream; null for other roles. */
  data: Readable | null;
  /** Writes to FCGI_STDERR, which web servers copy into their error log. False once the request has ended. */
  writeStderr(chunk: string | Uint8Array): boolean;
}

declare module 'node:http' {
  interface IncomingMessage {
    /** Set on requests served by libfcgi's createServer(). */
    fcgi?: FcgiRequestInfo;
  }
}

/**
 * node:http builds req.headers from rawHeaders on first use (a getter that reads how many raw header lines there are
 * from this symbol, which its parser sets). Setting it lets the getter do the same here, so that a handler that never
 * reads a header never pays for merging them; without it (a Node that changed this), they are merged at once.
 */
const kHeadersCount = Object.getOwnPropertySymbols(new IncomingMessage(null as never)).find(
  (symbol) => symbol.description === 'kHeadersCount',
);

/** req.headers from rawHeaders, merged by node:http's own rules (cookie with '; ', set-cookie as an array…). */
function mergeHeaders(req: IncomingMessage, raw: readonly string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const addHeaderLine = (req as unknown as HeaderLineAdder)._addHeaderLine;
  for (let i = 0; i + 1 < raw.length; i += 2) addHeaderLine.call(req, raw[i] as string, raw[i + 1] as string, headers);
  return headers;
}
interface HeaderLineAdder {
  _addHeaderLine(name: string, value: string, headers: Record<string, string | string[]>): void;
}

/** True when the request can have no body, so nothing needs to be read. */
function hasNoBody(params: CgiVariables, method: string): boolean {
  const length = params.CONTENT_LENGTH;
  if (length === '0') return true;
  // Apache sends no CONTENT_LENGTH for a chunked upload, so only methods without a body may skip reading.
  return (length === undefined || length === '') && (method === 'GET' || method === 'HEAD');
}

/** IncomingMessage's own state that node:http's server reads, and so does this adapter. */
interface RequestState {
  _consuming: boolean;
  _readableState: { readingMore: boolean; resumeScheduled: boolean };
}

/** A readable stream over one of the request's input streams, pulled from the server as the consumer asks. */
function pullFrom(stream: Readable, io: RequestIO, socket: FcgiSocket, onEnd: () => void): void {
  stream._read = () => {
    (stream as unknown as RequestState)._consuming = true;
    // IncomingMessage starts with readingMore set, which stops Readable from asking for more after an async push;
    // node:http clears it on the first read, and so must this.
    (stream as unknown as RequestState)._readableState.readingMore = false;
    io.read(chunkSize, (error, chunk) => {
      if (error) {
        io.onAbort?.();
        return;
      }
      if (chunk === null) {
        onEnd();
        stream.push(null);
        return;
      }
      socket.touch();
      stream.push(chunk);
    });
  };
}

/**
 * When the response has finished, as node:http does: a body nobody started reading is dumped, so that req still
 * ends ('end', then 'close'). Here the server drains those bytes itself, so the stream ends without reading them.
 */
export function dumpRequest(req: IncomingMessage): void {
  const state = req as unknown as RequestState;
  if (state._consuming || state._readableState.resumeScheduled) return;
  req.complete = true;
  req.removeAllListeners('data');
  req.push(null); // no read is in flight: nothing has called _read
  req.resume();
}

/**
 * The FastCGI request is over (the socket's 'close'). Before the response finished, the connection was lost (the web
 * server gave up, or a timeout or the app destroyed the socket): req is destroyed as node:http destroys it, 'aborted'
 * now if its body was not read to the end, an 'error' only for those listening, 'close' a tick later.
 */
export function closeRequest(req: IncomingMessage, responseFinished: boolean): void {
  if (req.destroyed) return; // read to the end: closed already
  if (!responseFinished) {
    req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    return;
  }
  if (req.readableEnded || !(req as unknown as RequestState)._consuming) return; // dumped: ends by itself
  // Read in part and left: the server drained the rest, so the body is complete, and a read still in flight
  // must not find the stream ended under it.
  req.complete = true;
  req.destroyed = true;
  req.emit('close');
}

/** The request, the socket its response will write to, and its Expect header (which decides its event). */
export function createRequest(
  io: RequestIO,
  joinDuplicateHeaders = false,
): { req: IncomingMessage; socket: FcgiSocket; expect: string | undefined } {
  const { raw, cgi: params } = headFromPairs(io.pairs);
  const socket = new FcgiSocket(io, params);
  const req = new IncomingMessage(socket as never);
  socket.request = req;
  const method = params.REQUEST_METHOD ?? 'GET';
  req.method = method;
  req.url =
    params.REQUEST_URI ??
    ((params.SCRIPT_NAME ?? '') + (params.PATH_INFO ?? '') || '/') +
      (params.QUERY_STRING ? `?${params.QUERY_STRING}` : '');
  const protocol = params.SERVER_PROTOCOL;
  if (protocol === 'HTTP/1.1' || protocol === undefined) {
    req.httpVersionMajor = 1; // the protocol of nearly every request: no regular expression, no new string
    req.httpVersionMinor = 1;
    req.httpVersion = '1.1';
  } else {
    const version = /^HTTP\/(\d+)\.(\d+)$/.exec(protocol);
    req.httpVersionMajor = version ? Number(version[1]) : 1;
    req.httpVersionMinor = version ? Number(version[2]) : 1;
    req.httpVersion = `${req.httpVersionMajor}.${req.httpVersionMinor}`;
  }
  req.rawHeaders = raw;
  (req as unknown as { joinDuplicateHeaders: boolean }).joinDuplicateHeaders = joinDuplicateHeaders;
  if (kHeadersCount !== undefined) (req as unknown as Record<symbol, number>)[kHeadersCount] = raw.length;
  else req.headers = mergeHeaders(req, raw);

  if (hasNoBody(params, method)) {
    // As node:http's parser does when the message has no body: complete from the start, the stream already ended.
    req.complete = true;
    req.push(null);
    req._read = () => ((req as unknown as RequestState)._consuming = true);
  } else {
    pullFrom(req, io, socket, () => (req.complete = true));
  }

  let data: Readable | null = null;
  if (io.role === 3) {
    data = new Readable();
    const dataStream = data;
    let started = false;
    pullFrom(dataStream, io, socket, () => undefined);
    const pull = dataStream._read.bind(dataStream);
    dataStream._read = (size: number) => {
      if (started) return pull(size);
      started = true;
      // FCGI_DATA follows FCGI_STDIN: the server skips what is left of the body first.
      io.startData((error) => (error ? dataStream.destroy(error) : pull(size)));
    };
  }
  req.fcgi = new RequestInfo(io, socket, data);
  return { req, socket, expect: params.expect };
}

/**
 * req.fcgi. A class, not an object literal with a getter: each such literal gets a hidden class of its own, which V8
 * keeps in old space, and its getter's closure then kept every request's objects alive past the young-generation GC
 * (a third of createServer's time went to collecting them).
 */
class RequestInfo implements FcgiRequestInfo {
  readonly role: Role;
  readonly requestId: number;
  readonly keepConn: boolean;
  readonly data: Readable | null;
  readonly #io: RequestIO;
  readonly #socket: FcgiSocket;

  constructor(io: RequestIO, socket: FcgiSocket, data: Readable | null) {
    this.#io = io;
    this.#socket = socket;
    this.role = roleName(io.role);
    this.requestId = io.requestId;
    this.keepConn = io.keepConn;
    this.data = data;
  }

  get params(): Params {
    return this.#io.params;
  }

  writeStderr(chunk: string | Uint8Array): boolean {
    return this.#socket.writeStderr(chunk);
  }
}

export function createResponse(req: IncomingMessage, socket: FcgiSocket): ServerResponse {
  const res = new ServerResponse(req);
  // The web server owns the HTTP connection: it adds Date and decides keep-alive.
  res.sendDate = false;
  res.shouldKeepAlive = false;
  // Let node:http choose its framing as for an HTTP/1.1 client, so that end(body) announces a Content-Length (which
  // lets the web server keep its client's connection without chunking), then unframe the body below.
  res.useChunkedEncodingByDefault = true;
  sendBodiesUnframed(res);
  res.assignSocket(socket as never);
  return res;
}

interface HeadStore {
  _storeHeader(firstLine: string, headers: unknown): void;
}

/**
 * FastCGI carries the body in records, so there is no chunked framing to add: node:http chooses chunked encoding when
 * the length is unknown, or the app sets `Transfer-Encoding: chunked`, and then frames each write; turning it off once
 * the head is built sends the bytes clean (the header itself is dropped with the other connection headers), and
 * drops trailers. An own property, so it survives frameworks that swap the response's prototype (Express).
 */
function sendBodiesUnframed(res: ServerResponse): void {
  (res as unknown as HeadStore)._storeHeader = storeHeaderUnframed;
}

/** One function for every response (a closure per response would be garbage per request). */
function storeHeaderUnframed(this: ServerResponse, firstLine: string, headers: unknown): void {
  storeHeader.call(this, firstLine, headers);
  this.chunkedEncoding = false;
}
const storeHeader = (ServerResponse.prototype as unknown as HeadStore)._storeHeader;

/** The response has finished: its FastCGI request ends once what it wrote has gone. Called on the response. */
export function responseFinished(this: ServerResponse): void {
  const socket = this.req.socket as unknown as FcgiSocket;
  socket.responseFinished = true;
  dumpRequest(this.req);
  socket.endRequest();
}

/** The FastCGI request is over: req hears of it (closeRequest) before the response and the app's listeners. */
export function socketClosed(socket: FcgiSocket): void {
  closeRequest(socket.request as IncomingMessage, socket.responseFinished);
}

/**
 * node:http reports a write after end() as an 'error' only until the response's socket closes, and silently after.
 * Here the socket closes as soon as the server has taken the response, so the report would depend on timing: make it
 * always an 'error' (which the server reports as 'handlerError'). An own property, so it survives frameworks that swap
 * the response's prototype (Express).
 */
export function reportWritesAfterEnd(res: ServerResponse): void {
  res.write = writeReportingAfterEnd;
}

/** One function for every response (a closure per response would be garbage per request). */
const writeReportingAfterEnd = function (this: ServerResponse, ...args: Parameters<ServerResponse['write']>): boolean {
  if (!this.writableEnded) return write.apply(this, args);
  const error = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
  const callback = args.find((arg) => typeof arg === 'function') as ((error: Error) => void) | undefined;
  process.nextTick(() => {
    this.emit('error', error);
    callback?.(error);
  });
  return false;
} as ServerResponse['write'];
const write = ServerResponse.prototype.write;
