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

/** "HTTP_USER_AGENT" → "User-Agent", as a browser would have spelled it. */
function headerName(cgiName: string): string {
  return cgiName
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('-');
}

/** The request headers, as node:http gives them: rawHeaders in pairs, and headers keyed by lower-case name. */
function headersOf(params: Params): { raw: string[]; headers: Record<string, string> } {
  const raw: string[] = [];
  const headers: Record<string, string> = {};
  for (const name in params) {
    const value = params[name] as string;
    let header: string;
    if (name.startsWith('HTTP_')) header = headerName(name.slice(5));
    else if ((name === 'CONTENT_TYPE' || name === 'CONTENT_LENGTH') && value !== '') header = headerName(name);
    else continue;
    raw.push(header, value);
    headers[header.toLowerCase()] = value;
  }
  return { raw, headers };
}

function numberOrUndefined(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

export function socketFor(io: RequestIO): FcgiSocket {
  const params = io.params;
  return new FcgiSocket(io, {
    remoteAddress: params.REMOTE_ADDR,
    remotePort: numberOrUndefined(params.REMOTE_PORT),
    localAddress: params.SERVER_ADDR,
    localPort: numberOrUndefined(params.SERVER_PORT),
    encrypted: params.HTTPS !== undefined && params.HTTPS !== '' && params.HTTPS.toLowerCase() !== 'off',
  });
}

/** True when the request can have no body, so no read needs to reach the worker. */
function hasNoBody(params: Params, method: string): boolean {
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

export function createRequest(io: RequestIO, socket: FcgiSocket): IncomingMessage {
  const params = io.params;
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
  const { raw, headers } = headersOf(params);
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
    params,
    role: roleName(io.role),
    requestId: io.requestId,
    keepConn: io.keepConn,
    data,
    writeStderr: (chunk) => socket.writeStderr(chunk),
  };
  return req;
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
