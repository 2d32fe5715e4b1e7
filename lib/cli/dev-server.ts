// The dev server's HTTP side: forwards each HTTP request to a process of the pool as a FastCGI request, streaming
// the body both ways, turns the app's CGI response into the HTTP one, and logs a line per request. Given a document
// root, it serves it as Apache does under init's .htaccess (dev-site.ts); it refuses bodies over mod_fcgid's limit.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FcgiConnection, parseCgiHead } from '../client/client';
import { cgiParams, pathInfo, type ScriptTarget, type Site } from './dev-params';
import { type DocumentRoot, route, sendFile } from './dev-site';
import type { Lease, ProcessPool } from './process-pool';

export interface DevServerOptions {
  site: Site;
  pool: ProcessPool;
  /** Serve this document root: its files, and the other URLs rewritten to its script. Otherwise every URL is the app's. */
  root?: DocumentRoot;
  /** The longest request body passed on, as FcgidMaxRequestLen (longer ones get 500); 0 for no limit. */
  maxRequestLen: number;
  /** Gets one line per request. */
  log: (line: string) => void;
  /** Gets what went wrong with the app. */
  warn: (line: string) => void;
}

/** Largest header block accepted from the app before its blank line, as Apache's 8 KiB lines add up to. */
const MAX_HEAD_BYTES = 64 * 1024;

/** What one request did, for its log line. */
interface Outcome {
  status: number;
  bytes: number;
  pid: number | undefined;
}

function sendError(res: ServerResponse, outcome: Outcome, status: number, message: string): void {
  outcome.status = status;
  if (res.headersSent) {
    res.destroy(); // the client sees a truncated response rather than a whole one that is wrong
    return;
  }
  const body = `${status} ${message}\n`;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
  outcome.bytes = Buffer.byteLength(body);
}

/** The request body to send and the CONTENT_LENGTH to declare. */
interface Body {
  stdin: IncomingMessage | Buffer | null;
  length: number | undefined;
}

/** A body over the limit: its declared length, or what had come when it went over. */
interface TooLong {
  tooLong: number;
  soFar: boolean;
}

/**
 * The request body; a chunked one is read whole first, as mod_fcgid does. Over maxLength (when not 0), what is left of
 * it is drained unread, so that the 500 can still be sent.
 */
function requestBody(req: IncomingMessage, maxLength: number): Promise<Body | TooLong> {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    const length = Number(declared);
    if (maxLength > 0 && length > maxLength) return Promise.resolve({ tooLong: length, soFar: false });
    return Promise.resolve({ stdin: req, length });
  }
  if (req.headers['transfer-encoding'] === undefined) return Promise.resolve({ stdin: null, length: undefined });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      length += chunk.length;
      if (maxLength > 0 && length > maxLength) {
        over = true;
        resolve({ tooLong: length, soFar: true });
      } else {
        chunks.push(chunk);
      }
    });
    req.once('end', () => over || resolve({ stdin: Buffer.concat(chunks), length }));
    req.once('error', reject);
  });
}

/**
 * Writes the app's stdout to the HTTP response: the CGI header block becomes the status line and headers (Status:
 * sets the status; Location: alone means 302, as in Apache), and what follows is the body, streamed.
 */
class CgiResponseWriter {
  private head: Buffer | undefined = Buffer.alloc(0);

  constructor(
    private readonly res: ServerResponse,
    private readonly outcome: Outcome,
  ) {}

  /** Writes a chunk; returns false when the client is not keeping up. Throws when the header block is malformed. */
  write(chunk: Buffer): boolean {
    if (this.head === undefined) return this.writeBody(chunk);
    this.head = Buffer.concat([this.head, chunk]);
    const parsed = parseCgiHead(this.head);
    if (!parsed) {
      if (this.head.length > MAX_HEAD_BYTES) throw new Error(`no blank line in the first ${MAX_HEAD_BYTES} bytes`);
      return true;
    }
    const rest = this.head.subarray(parsed.bodyStart);
    this.head = undefined;
    for (const [name, value] of parsed.headers) {
      if (name.toLowerCase() !== 'status') this.res.appendHeader(name, value);
    }
    this.outcome.status = parsed.status;
    this.res.writeHead(parsed.status, parsed.statusText || undefined);
    return rest.length === 0 || this.writeBody(rest);
  }

  /** Ends the response; throws when the app's output ended before its header block did. */
  end(): void {
    if (this.head !== undefined) {
      const shown = JSON.stringify(this.head.subarray(0, 80).toString('latin1'));
      throw new Error(`its output ended without a blank line after the headers (${this.head.length} bytes: ${shown})`);
    }
    this.res.end();
  }

  private writeBody(chunk: Buffer): boolean {
    this.outcome.bytes += chunk.length;
    return this.res.write(chunk);
  }
}

/** Runs one request on a process: connects to its socket, sends the request and streams the response back. */
async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  site: Site,
  target: ScriptTarget | undefined,
  { stdin, length }: Body,
  lease: Lease,
  outcome: Outcome,
) {
  const { pid } = lease;
  let connection: FcgiConnection;
  try {
    connection = await FcgiConnection.connect({ path: lease.socketPath });
  } catch (error) {
    throw Object.assign(new Error(`cannot connect to app pid ${pid}: ${(error as Error).message}`), { status: 503 });
  }
  // A client that goes away takes its request with it, as in a web server: the app sees FCGI_ABORT_REQUEST.
  const onClientGone = () => {
    if (!res.writableFinished) {
      connection.abort();
      connection.close();
    }
  };
  res.once('close', onClientGone);
  try {
    const writer = new CgiResponseWriter(res, outcome);
    await connection.request(cgiParams(req, site, length, target), {
      stdin,
      collect: false,
      // A malformed header block throws here, which ends the connection with that error as the request's failure.
      onStdout: (chunk) => {
        if (!writer.write(chunk)) {
          connection.pause();
          res.once('drain', () => connection.resume());
        }
      },
      onStderr: (chunk) => process.stderr.write(chunk),
    });
    writer.end();
  } finally {
    res.off('close', onClientGone);
    connection.close();
  }
}

/**
 * A request for the app: its body read whole first, as mod_fcgid reads it, then a process of the pool, then the app's
 * answer, or the status Apache gives when one of these fails.
 */
async function toApp(
  req: IncomingMessage,
  res: ServerResponse,
  { site, pool, maxRequestLen, warn }: DevServerOptions,
  target: ScriptTarget | undefined,
  outcome: Outcome,
): Promise<void> {
  const body = await requestBody(req, maxRequestLen).catch(() => null);
  if (body === null) return; // the client went away while sending it
  if ('tooLong' in body) {
    const length = `${body.tooLong}${body.soFar ? ' (so far)' : ''}`;
    warn(
      `${req.method} ${req.url}: HTTP request length ${length} exceeds FcgidMaxRequestLen (${maxRequestLen}): ` +
        'answered 500 as mod_fcgid does; --max-request-len raises the limit',
    );
    sendError(res, outcome, 500, 'Internal Server Error');
    return;
  }
  let lease: Lease;
  try {
    lease = await pool.acquire();
  } catch (error) {
    sendError(res, outcome, 503, `Service Unavailable: ${(error as Error).message}`);
    return;
  }
  if (res.destroyed) {
    lease.release(false); // the client left while the request waited for a process
    return;
  }
  outcome.pid = lease.pid;
  let answered = false;
  try {
    await forward(req, res, site, target, body, lease, outcome);
    answered = true;
  } catch (error) {
    const status = (error as { status?: number }).status ?? 502;
    // A client that went away is not the app's failure.
    if (!res.destroyed) warn(`app pid ${lease.pid} failed ${req.method} ${req.url}: ${(error as Error).message}`);
    sendError(res, outcome, status, status === 503 ? 'Service Unavailable' : 'Bad Gateway');
  } finally {
    lease.release(answered);
  }
}

export function createDevServer(options: DevServerOptions): Server {
  const { site, root, log } = options;
  return createServer((req, res) => {
    const started = process.hrtime.bigint();
    const outcome: Outcome = { status: 0, bytes: 0, pid: undefined };
    res.once('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const status = res.writableFinished ? outcome.status : `${outcome.status || '-'} (aborted)`;
      log(`${req.method} ${req.url} ${status} ${outcome.bytes}B ${ms.toFixed(1)}ms pid=${outcome.pid ?? '-'}`);
    });
    let target: ScriptTarget | undefined;
    if (root !== undefined) {
      const routed = route(req.url ?? '/', root);
      if (routed.kind === 'error') return sendError(res, outcome, routed.status, routed.reason);
      if (routed.kind === 'file') {
        outcome.bytes = sendFile(req, res, routed.path, routed.stats);
        outcome.status = res.statusCode;
        return;
      }
      target = routed;
    } else if (pathInfo(req.url ?? '/', site.scriptName) === undefined) {
      sendError(res, outcome, 404, `Not Found: the app is mounted at ${site.scriptName}/`);
      return;
    }
    void toApp(req, res, options, target, outcome);
  });
}
