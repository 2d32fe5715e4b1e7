// The HTTP head of a FastCGI request, from its CGI parameters as they came: the header lines as node:http's rawHeaders
// gives them, and the CGI facts the HTTP layer needs (method, URI, addresses, body length). Pure: pairs in, head out.

/** "USER_AGENT" → "User-Agent", as a browser would have spelled it. */
const headerNames = new Map<string, string>();
function headerName(cgiName: string): string {
  let name = headerNames.get(cgiName);
  if (name === undefined) {
    name = cgiName
      .toLowerCase()
      .split('_')
      .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
      .join('-');
    // Header names come from a small set; a hostile stream of distinct ones must not grow the cache without bound.
    if (headerNames.size < 1000) headerNames.set(cgiName, name);
  }
  return name;
}

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
export type CgiFacts = Partial<Record<(typeof cgiFacts)[number], string>>;
const isCgiFact = new Set<string>(cgiFacts);

/**
 * HTTP_HOST sent twice was set twice in the web server's configuration (nginx's `fastcgi_param HTTP_HOST $http_host;`
 * after a line that sets it from $host): nginx refuses a request with two Host lines, and hides the client's Host when
 * the configuration sets HTTP_HOST. So the later is an override and wins, as PHP-FPM reads it. Other repeated header
 * parameters are repeated client lines (nginx 1.22 sends each as a parameter), merged by node:http's rules.
 */
const overriddenParam = 'HTTP_HOST';

/** A whole non-negative decimal number: a CONTENT_LENGTH or a port as CGI sends them. */
export const isDecimal = (value: string | undefined): value is string => value !== undefined && /^\d+$/.test(value);

/**
 * One pass over the parameters as they came (no params object built per request): the header lines as node:http's
 * rawHeaders gives them, every repeated line kept, and the CGI facts above.
 *
 * The body headers describe the body the app will read, which the web server has already unframed: with a valid
 * CONTENT_LENGTH it is that many bytes, and a Transfer-Encoding the client sent is dropped (node:http never shows both);
 * with none, or one that is not a length (Caddy sends -1 for a chunked upload), the body runs to the end of FCGI_STDIN,
 * which is what `transfer-encoding: chunked` without a content-length tells node:http's users.
 */
export function headFromPairs(pairs: readonly string[]): { raw: string[]; cgi: CgiFacts } {
  const raw: string[] = [];
  const cgi: CgiFacts = {};
  let transferEncodingAt = -1;
  let hostAt = -1; // where the Host line is, once one has come
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = pairs[i] as string;
    const value = pairs[i + 1] as string;
    // The first of a repeated parameter, as libfcgi's FCGX_GetParam() and so the addon take it.
    if (isCgiFact.has(name)) cgi[name as keyof CgiFacts] ??= value;
    // CONTENT_LENGTH and CONTENT_TYPE are the body's headers; an HTTP_ copy of them (no server should send one) is not.
    if (name.startsWith('HTTP_') && name !== 'HTTP_CONTENT_LENGTH' && name !== 'HTTP_CONTENT_TYPE') {
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
      raw.push(headerName(name.slice(5)), value);
    } else if (name === 'CONTENT_TYPE' && value !== '') {
      raw.push('Content-Type', value);
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
