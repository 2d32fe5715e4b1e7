// Builds node:http's own request and response objects for a FastCGI request, so that code written for node:http —
// Express, Koa, Fastify — runs unchanged: headers from the CGI parameters, the body as a stream, a CGI response.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { RequestIO } from './engine';
import { FcgiSocket } from './http-socket';
import type { Params } from './params';
import { roleName, type Role } from './request';

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

const readSize = 64 * 1024;

/** "USER_AGENT" → ["User-Agent", "user-agent"], as a browser would have spelled it and as node:http keys it. */
const headerNames = new Map<string, [string, string]>();
function headerName(cgiName: string): [string, string] {
  let names = headerNames.get(cgiName);
  if (names === undefined) {
    const raw = cgiName
      .toLowerCase()
      .split('_')
      .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
      .join('-');
    names = [raw, raw.toLowerCase()];
    // Header names come from a small set; a hostile stream of distinct ones must not grow the cache without bound.
    if (headerNames.size < 1000) headerNames.set(cgiName, names);
  }
  return names;
}

/** The request headers, as node:http gives them: rawHeaders in pairs, and headers keyed by lower-case name. */
/** The CGI parameters the HTTP layer itself needs. */
const cgiFacts = [
  'REQUEST_METHOD',
  'REQUEST_URI',
  'SCRIPT_NAME',
  'PATH_INFO',
  'QUERY_STRING',
  'SERVER_PROTOCOL',
  'CONTENT_LENGTH',
  'REMOTE_ADDR',
  'REMOTE_PORT',
  'SERVER_ADDR',
  'SERVER_PORT',
  'HTTPS',
] as const;
type CgiFacts = Partial<Record<(typeof cgiFacts)[number], string>>;
const isCgiFact = new Set<string>(cgiFacts);

/**
 * One pass over the parameters as they came (no params object built per request): the headers, as node:http gives
 * them (rawHeaders in pairs, headers keyed by lower-case name), and the CGI facts above.
 */
function readPairs(pairs: readonly string[]): { raw: string[]; headers: Record<string, string>; cgi: CgiFacts } {
  const raw: string[] = [];
  const headers: Record<string, string> = {};
  const cgi: CgiFacts = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = pairs[i] as string;
    const value = pairs[i + 1] as string;
    if (isCgiFact.has(name)) cgi[name as keyof CgiFacts] = value;
    let header: [string, string];
    if (name.startsWith('HTTP_')) header = headerName(name.slice(5));
    else if ((name === 'CONTENT_TYPE' || name === 'CONTENT_LENGTH') && value !== '') header = headerName(name);
    else continue;
    raw.push(header[0], value);
    headers[header[1]] = value;
  }
  return { raw, headers, cgi };
}

function numberOrUndefined(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

function socketFor(io: RequestIO, params: CgiFacts): FcgiSocket {
  return new FcgiSocket(io, {
    remoteAddress: params.REMOTE_ADDR,
    remotePort: numberOrUndefined(params.REMOTE_PORT),
    localAddress: params.SERVER_ADDR,
    localPort: numberOrUndefined(params.SERVER_PORT),
    encrypted: params.HTTPS !== undefined && params.HTTPS !== '' && params.HTTPS.toLowerCase() !== 'off',
  });
}

/** True when the request can have no body, so no read needs to reach the worker. */
function hasNoBody(params: CgiFacts, method: string): boolean {
  const length = params.CONTENT_LENGTH;
  if (length === '0') return true;
  // Apache sends no CONTENT_LENGTH for a chunked upload, so only methods without a body may skip reading.
  return (length === undefined || length === '') && (method === 'GET' || method === 'HEAD');
}

/** A readable stream over one of the request's input streams, pulled from the worker as the consumer asks. */
function pullFrom(stream: Readable, io: RequestIO, onEnd: () => void): void {
  stream._read = () => {
    // IncomingMessage starts with readingMore set, which stops Readable from asking for more after an async push;
    // node:http clears it on the first read, and so must this.
    (stream as unknown as { _readableState: { readingMore: boolean } })._readableState.readingMore = false;
    io.read(readSize, (error, chunk) => {
      if (error) {
        io.onAbort?.();
        return;
      }
      if (chunk === null) {
        onEnd();
        stream.push(null);
        return;
      }
      stream.push(chunk);
    });
  };
}

/** The request and the socket its response will write to. */
export function createRequest(io: RequestIO): { req: IncomingMessage; socket: FcgiSocket } {
  const { raw, headers, cgi: params } = readPairs(io.pairs);
  const socket = socketFor(io, params);
  const req = new IncomingMessage(socket as never);
  const method = params.REQUEST_METHOD ?? 'GET';
  req.method = method;
  req.url =
    params.REQUEST_URI ??
    (params.SCRIPT_NAME ?? '') + (params.PATH_INFO ?? '') + (params.QUERY_STRING ? `?${params.QUERY_STRING}` : '');
  const version = /^HTTP\/(\d+)\.(\d+)$/.exec(params.SERVER_PROTOCOL ?? '');
  req.httpVersionMajor = version ? Number(version[1]) : 1;
  req.httpVersionMinor = version ? Number(version[2]) : 1;
  req.httpVersion = `${req.httpVersionMajor}.${req.httpVersionMinor}`;
  req.rawHeaders = raw;
  req.headers = headers;

  if (hasNoBody(params, method)) {
    req._read = () => {
      req.complete = true;
      req.push(null);
    };
  } else {
    pullFrom(req, io, () => (req.complete = true));
  }

  let data: Readable | null = null;
  if (io.role === 3) {
    data = new Readable();
    const dataStream = data;
    let started = false;
    pullFrom(dataStream, io, () => undefined);
    const pull = dataStream._read.bind(dataStream);
    dataStream._read = (size: number) => {
      if (started) return pull(size);
      started = true;
      // FCGI_DATA follows FCGI_STDIN: the worker skips what is left of the body first.
      io.startData((error) => (error ? dataStream.destroy(error) : pull(size)));
    };
  }
  req.fcgi = {
    get params() {
      return io.params;
    },
    role: roleName(io.role),
    requestId: io.requestId,
    keepConn: io.keepConn,
    data,
    writeStderr: (chunk) => socket.writeStderr(chunk),
  };
  return { req, socket };
}

export function createResponse(req: IncomingMessage, socket: FcgiSocket): ServerResponse {
  const res = new ServerResponse(req);
  // The web server owns the HTTP connection: it adds Date, decides keep-alive and frames the body.
  res.sendDate = false;
  res.shouldKeepAlive = false;
  res.useChunkedEncodingByDefault = false;
  res.assignSocket(socket as never);
  return res;
}
