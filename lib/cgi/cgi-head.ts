// The heads in CGI form, both ways. In: the HTTP head of a FastCGI request from its CGI parameters as they came (the
// header lines as node:http's rawHeaders gives them, and the CGI variables the HTTP layer needs: method, URI, addresses,
// body length). Out: node:http's response head as the CGI head a FastCGI app writes (a Status line, no connection
// headers). Pure: pairs in, head out; bytes in, bytes out.
import type { EagerParams } from '../addon/native';

/**
 * "HTTP_USER_AGENT" → "User-Agent", as a browser would have spelled it. Keyed by the whole parameter name, which for
 * the known names is the same string every request (lib/request/packed-params.ts), its hash already made.
 */
const headerNames = new Map<string, string>();
function headerName(paramName: string): string {
  let name = headerNames.get(paramName);
  if (name === undefined) {
    name = paramName
      .slice(5)
      .toLowerCase()
      .split('_')
      .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
      .join('-');
    // Header names come from a small set; a hostile stream of distinct ones must not grow the cache without bound.
    if (headerNames.size < 1000) headerNames.set(paramName, name);
  }
  return name;
}

/** The CGI parameters the HTTP layer itself needs, and the Expect header, which decides the request's event. */
export class CgiVariables {
  REQUEST_METHOD: string | undefined = undefined;
  REQUEST_URI: string | undefined = undefined;
  SCRIPT_NAME: string | undefined = undefined;
  PATH_INFO: string | undefined = undefined;
  QUERY_STRING: string | undefined = undefined;
  SERVER_PROTOCOL: string | undefined = undefined;
  CONTENT_LENGTH: string | undefined = undefined;
  REMOTE_ADDR: string | undefined = undefined;
  REMOTE_PORT: string | undefined = undefined;
  SERVER_ADDR: string | undefined = undefined;
  SERVER_PORT: string | undefined = undefined;
  HTTPS: string | undefined = undefined;
  /** The Expect lines joined with ', ', as req.headers.expect gives them. */
  expect: string | undefined = undefined;

  /**
   * Takes the parameter if it is a fact: the first of a repeated one, as libfcgi's FCGX_GetParam() and so the addon
   * take it. A switch of named stores, not variables[name]: a keyed store with a different name each time is V8's slowest
   * property access, and this runs for every parameter of every request.
   */
  take(name: string, value: string): void {
    switch (name) {
      case 'REQUEST_METHOD':
        this.REQUEST_METHOD ??= value;
        break;
      case 'REQUEST_URI':
        this.REQUEST_URI ??= value;
        break;
      case 'SCRIPT_NAME':
        this.SCRIPT_NAME ??= value;
        break;
      case 'PATH_INFO':
        this.PATH_INFO ??= value;
        break;
      case 'QUERY_STRING':
        this.QUERY_STRING ??= value;
        break;
      case 'SERVER_PROTOCOL':
        this.SERVER_PROTOCOL ??= value;
        break;
      case 'CONTENT_LENGTH':
        this.CONTENT_LENGTH ??= value;
        break;
      case 'REMOTE_ADDR':
        this.REMOTE_ADDR ??= value;
        break;
      case 'REMOTE_PORT':
        this.REMOTE_PORT ??= value;
        break;
      case 'SERVER_ADDR':
        this.SERVER_ADDR ??= value;
        break;
      case 'SERVER_PORT':
        this.SERVER_PORT ??= value;
        break;
      case 'HTTPS':
        this.HTTPS ??= value;
        break;
    }
  }
}

/**
 * The parameters headFromPairs() reads besides the HTTP_ header lines: the only ones a serving mode has to hand over
 * before the app asks for all of them (the event-loop server sends the rest as one string, split on demand).
 */
export const eagerParamNames: readonly string[] = Object.keys(new CgiVariables())
  .filter((name) => name !== 'expect')
  .concat('CONTENT_TYPE');

/**
 * HTTP_HOST sent twice was set twice in the web server's configuration (nginx's `fastcgi_param HTTP_HOST $http_host;`
 * after a line that sets it from $host): nginx refuses a request with two Host lines, and hides the client's Host when
 * the configuration sets HTTP_HOST. So the later is an override and wins, as PHP-FPM reads it. Other repeated header
 * parameters are repeated client lines (nginx 1.22 sends each as a parameter), merged by node:http's rules.
 */
const overriddenParam = 'HTTP_HOST';

/** A whole non-negative decimal number: a CONTENT_LENGTH or a port as CGI sends them. */
export function isDecimal(value: string | undefined): value is string {
  if (value === undefined || value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 48 || code > 57) return false;
  }
  return true;
}

/**
 * One pass over the parameters as they came (no params object built per request): the header lines as node:http's
 * rawHeaders gives them, every repeated line kept, and the CGI variables above.
 *
 * The body headers describe the body the app will read, which the web server has already unframed: with a valid
 * CONTENT_LENGTH it is that many bytes, and a Transfer-Encoding the client sent is dropped (node:http never shows both);
 * with none, or one that is not a length (Caddy sends -1 for a chunked upload), the body runs to the end of FCGI_STDIN,
 * which is what `transfer-encoding: chunked` without a content-length tells node:http's users.
 */
export function headFromPairs(pairs: readonly string[]): { raw: string[]; cgi: CgiVariables } {
  const raw: string[] = [];
  const cgi = new CgiVariables();
  let transferEncodingAt = -1;
  let hostAt = -1; // where the Host line is, once one has come
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = pairs[i] as string;
    const value = pairs[i + 1] as string;
    if (!name.startsWith('HTTP_')) {
      cgi.take(name, value);
      if (name === 'CONTENT_TYPE' && value !== '') raw.push('Content-Type', value);
      continue;
    }
    // CONTENT_LENGTH and CONTENT_TYPE are the body's headers; an HTTP_ copy of them (no server should send one) is not.
    if (name !== 'HTTP_CONTENT_LENGTH' && name !== 'HTTP_CONTENT_TYPE') {
      if (name === 'HTTP_TRANSFER_ENCODING') {
        if (transferEncodingAt >= 0) continue;
        transferEncodingAt = raw.length;
      }
      if (name === overriddenParam) {
        if (hostAt >= 0) {
          raw[hostAt + 1] = value; // set again by the configuration: the later wins
          continue;
        }
        hostAt = raw.length;
      }
      if (name === 'HTTP_EXPECT') cgi.expect = cgi.expect === undefined ? value : `${cgi.expect}, ${value}`;
      raw.push(headerName(name), value);
    }
  }
  const length = cgi.CONTENT_LENGTH;
  if (isDecimal(length)) {
    if (transferEncodingAt >= 0) raw.splice(transferEncodingAt, 2);
    raw.push('Content-Length', length);
  } else if (transferEncodingAt < 0 && length !== undefined && length !== '') {
    raw.push('Transfer-Encoding', 'chunked');
  }
  return { raw, cgi };
}

/** What the HTTP layer asks the addon to copy into a request's head string: those names and the header lines. */
export const eagerParams: EagerParams = { names: eagerParamNames, prefix: 'HTTP_' };

/**
 * Header lines that belong to the HTTP connection, which the web server owns; and Trailer, since a CGI response has
 * no trailers to announce (addTrailers() is dropped). Each with the line break before it.
 */
const connectionHeaderLines = /\r\n(?:connection|transfer-encoding|keep-alive|trailer):[^\r]*/gi;
/** An interim (1xx) head from writeContinue(), writeProcessing() or writeEarlyHints(). */
const interimHead = /^HTTP\/1\.[01] 1\d\d /;

/** "HTTP/1.1 404 Not Found\r\nA: b" → "Status: 404 Not Found\r\nA: b\r\n\r\n" */
export function toCgiHead(httpHead: string): string {
  const lines = httpHead.replace(connectionHeaderLines, '');
  return `Status: ${lines.slice(lines.indexOf(' ') + 1)}\r\n\r\n`;
}

/** Whether what node:http writes starts with an interim (1xx) head, which a CGI response cannot carry. */
export function isInterimHead(chunk: string | Buffer): boolean {
  // "HTTP/1.1 1": most heads are not interim, and one character says so without cutting a string to test.
  const statusStart = typeof chunk === 'string' ? chunk.charCodeAt(9) : chunk[9];
  if (statusStart !== 0x31) return false;
  return interimHead.test(typeof chunk === 'string' ? chunk.slice(0, 16) : chunk.toString('latin1', 0, 16));
}

/**
 * The first chunk of a response (node:http writes its head in latin1, often with the body after it) with the head in
 * CGI form. A chunk that does not start with a whole HTTP head is returned as it is.
 */
export function withCgiHead(chunk: string | Buffer): string | Buffer {
  const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  if (!text.startsWith('HTTP/') || headEnd < 0) return chunk;
  const head = toCgiHead(text.slice(0, headEnd));
  if (typeof chunk === 'string') return head + chunk.slice(headEnd + 4);
  return Buffer.concat([Buffer.from(head, 'latin1'), chunk.subarray(headEnd + 4)]);
}
