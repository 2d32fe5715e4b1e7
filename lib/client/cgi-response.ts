// The CGI response an app writes to FCGI_STDOUT, parsed: its header block (Status and Location give the status, as a
// web server reads them) and the body after it. Bytes in, a verdict out: no socket.
export interface CgiResponse {
  status: number;
  statusText: string;
  /** Every header line in order, Status included, names as the app wrote them. */
  headers: Array<[string, string]>;
  /** The first header with this name, compared case-insensitively. */
  header(name: string): string | undefined;
  body: Buffer;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** Splits the header block into lines; returns them and where the body starts, or undefined if no blank line ends it yet. */
function splitHeaderLines(stdout: Buffer): { lines: string[]; bodyStart: number } | undefined {
  const lines: string[] = [];
  let lineStart = 0;
  for (;;) {
    const newline = stdout.indexOf(NEWLINE, lineStart);
    if (newline === -1) return undefined;
    const lineEnd = newline > lineStart && stdout[newline - 1] === CARRIAGE_RETURN ? newline - 1 : newline;
    if (lineEnd === lineStart) return { lines, bodyStart: newline + 1 };
    lines.push(stdout.toString('utf8', lineStart, lineEnd));
    lineStart = newline + 1;
  }
}

function parseHeaderLine(line: string): [string, string] {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new Error(`Malformed CGI header line: ${JSON.stringify(line)}`);
  return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
}

function findHeader(headers: Array<[string, string]>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return headers.find(([headerName]) => headerName.toLowerCase() === wanted)?.[1];
}

function parseStatusHeader(value: string): { status: number; statusText: string } {
  const match = /^(\d{3})(?:\s+(.*))?$/.exec(value);
  if (!match) throw new Error(`Malformed CGI Status header: ${JSON.stringify(value)}`);
  return { status: Number(match[1]), statusText: match[2] ?? '' };
}

function responseStatus(headers: Array<[string, string]>): { status: number; statusText: string } {
  const status = findHeader(headers, 'status');
  if (status !== undefined) return parseStatusHeader(status);
  if (findHeader(headers, 'location') !== undefined) return { status: 302, statusText: 'Found' };
  return { status: 200, statusText: 'OK' };
}

export interface CgiHead {
  status: number;
  statusText: string;
  /** Every header line in order, Status included, names as the app wrote them. */
  headers: Array<[string, string]>;
  /** Where the body starts in the bytes given. */
  bodyStart: number;
}

/**
 * Parses the header block at the start of an app's stdout, for a caller that streams the body: undefined while the
 * blank line that ends the headers has not arrived; throws on a malformed header line.
 */
export function parseCgiHead(stdout: Buffer): CgiHead | undefined {
  const split = splitHeaderLines(stdout);
  if (!split) return undefined;
  const headers = split.lines.map(parseHeaderLine);
  return { ...responseStatus(headers), headers, bodyStart: split.bodyStart };
}

export function parseCgiResponse(stdout: Buffer): CgiResponse {
  const head = parseCgiHead(stdout);
  if (!head) throw new Error(`CGI response has no blank line ending its headers (${stdout.length} bytes of stdout)`);
  const { status, statusText, headers, bodyStart } = head;
  return {
    status,
    statusText,
    headers,
    header: (name) => findHeader(headers, name),
    body: stdout.subarray(bodyStart),
  };
}
