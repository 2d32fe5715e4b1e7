// The head translations. In: CGI parameters as a web server sends them, in order, to node:http's rawHeaders and the
// variables the HTTP layer reads (tables of what nginx, Apache, lighttpd and Caddy really send). Out: the heads node:http
// writes to the CGI head a FastCGI app writes, byte for byte.
import { describe, expect, it } from 'vitest';
import { headFromPairs, isInterimHead, toCgiHead, withCgiHead } from '../../lib/cgi/cgi-head';

const head = (pairs: Record<string, string> | [string, string][]) =>
  headFromPairs((Array.isArray(pairs) ? pairs : Object.entries(pairs)).flat());

describe('the HTTP head from CGI parameters', () => {
  it.each([
    ['HTTP_USER_AGENT', 'User-Agent'],
    ['HTTP_X_FORWARDED_FOR', 'X-Forwarded-For'],
    ['HTTP_ACCEPT', 'Accept'],
    ['HTTP_DNT', 'Dnt'],
  ])('spells %s as a browser would: %s', (param, header) => {
    expect(head({ [param]: 'v' }).raw).toEqual([header, 'v']);
  });

  it('keeps the header lines in the order they came, repeated ones too, and leaves out what is not a header', () => {
    const { raw } = head([
      ['REQUEST_METHOD', 'GET'],
      ['HTTP_ACCEPT', 'text/html'],
      ['SCRIPT_NAME', '/app'],
      ['HTTP_COOKIE', 'a=1'],
      ['HTTP_COOKIE', 'b=2'],
      ['DOCUMENT_ROOT', '/srv'],
    ]);
    expect(raw).toEqual(['Accept', 'text/html', 'Cookie', 'a=1', 'Cookie', 'b=2']);
  });

  it('takes the body headers from CONTENT_TYPE and CONTENT_LENGTH, not from HTTP_ copies of them', () => {
    const { raw } = head({
      HTTP_CONTENT_LENGTH: '999',
      HTTP_CONTENT_TYPE: 'text/evil',
      CONTENT_TYPE: 'application/json',
      CONTENT_LENGTH: '12',
    });
    expect(raw).toEqual(['Content-Type', 'application/json', 'Content-Length', '12']);
  });

  it('reads Expect as req.headers.expect would give it: repeated lines joined, absent when none came', () => {
    expect(head({ HTTP_EXPECT: '100-continue' }).cgi.expect).toBe('100-continue');
    const twice = head([
      ['HTTP_EXPECT', '100-continue'],
      ['HTTP_EXPECT', 'x-other'],
    ]);
    expect(twice.cgi.expect).toBe('100-continue, x-other');
    expect(twice.raw).toEqual(['Expect', '100-continue', 'Expect', 'x-other']);
    expect(head({ HTTP_ACCEPT: '*/*' }).cgi.expect).toBeUndefined();
  });

  it('takes the first of a repeated CGI fact, as libfcgi does', () => {
    const { cgi } = head([
      ['REQUEST_METHOD', 'GET'],
      ['REQUEST_METHOD', 'POST'],
      ['SERVER_PORT', '443'],
    ]);
    expect(cgi).toMatchObject({ REQUEST_METHOD: 'GET', SERVER_PORT: '443', REMOTE_ADDR: undefined });
  });

  it('leaves out an empty CONTENT_TYPE, as Apache sends for a GET', () => {
    expect(head({ CONTENT_TYPE: '', CONTENT_LENGTH: '' }).raw).toEqual([]);
  });

  it('drops the client Transfer-Encoding when the web server gave a length (the body is unframed already)', () => {
    expect(head({ HTTP_TRANSFER_ENCODING: 'chunked', CONTENT_LENGTH: '5' }).raw).toEqual(['Content-Length', '5']);
  });

  it.each([
    ['-1', 'Caddy, for a chunked upload'],
    ['abc', 'a value that is not a length'],
  ])('reads a CONTENT_LENGTH of %j (%s) as a body to the end of FCGI_STDIN: chunked', (length) => {
    expect(head({ CONTENT_LENGTH: length }).raw).toEqual(['Transfer-Encoding', 'chunked']);
  });

  it('keeps one Transfer-Encoding line when the client sent it and no length came', () => {
    const { raw } = head([
      ['HTTP_TRANSFER_ENCODING', 'chunked'],
      ['HTTP_TRANSFER_ENCODING', 'gzip'],
      ['CONTENT_LENGTH', ''],
    ]);
    expect(raw).toEqual(['Transfer-Encoding', 'chunked']);
  });

  it("takes the later HTTP_HOST when the configuration sets it again (nginx's fastcgi_param after the default)", () => {
    const { raw } = head([
      ['HTTP_HOST', 'client.example'],
      ['HTTP_ACCEPT', '*/*'],
      ['HTTP_HOST', 'configured.example'],
    ]);
    expect(raw).toEqual(['Host', 'configured.example', 'Accept', '*/*']);
  });

  it('gives the first of a repeated CGI fact, as libfcgi does', () => {
    const { cgi } = head([
      ['REQUEST_METHOD', 'POST'],
      ['REQUEST_METHOD', 'GET'],
      ['REQUEST_URI', '/a?b'],
      ['REMOTE_PORT', '5555'],
    ]);
    expect(cgi).toEqual({ REQUEST_METHOD: 'POST', REQUEST_URI: '/a?b', REMOTE_PORT: '5555' });
  });

  it('ignores a trailing name without a value', () => {
    expect(headFromPairs(['HTTP_ACCEPT', 'a', 'HTTP_DANGLING'])).toEqual({ raw: ['Accept', 'a'], cgi: {} });
  });
});

describe('the CGI head from the head node:http writes', () => {
  it.each([
    [
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2',
      'Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n',
    ],
    ['HTTP/1.0 404 Not Found', 'Status: 404 Not Found\r\n\r\n'],
    ['HTTP/1.1 299 \r\nA: b', 'Status: 299 \r\nA: b\r\n\r\n'], // statusMessage '': no reason phrase
    ['HTTP/1.1 599 unknown', 'Status: 599 unknown\r\n\r\n'], // a code node:http has no reason for
    ['HTTP/1.1 302 Found\r\nLocation: /a b?c=d:e', 'Status: 302 Found\r\nLocation: /a b?c=d:e\r\n\r\n'],
  ])('turns %j into a Status line with the same header lines', (httpHead, cgiHead) => {
    expect(toCgiHead(httpHead)).toBe(cgiHead);
  });

  it('keeps repeated Set-Cookie lines, each as it was and in order', () => {
    expect(toCgiHead('HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nX: y\r\nSet-Cookie: b=2')).toBe(
      'Status: 200 OK\r\nSet-Cookie: a=1; Path=/\r\nX: y\r\nSet-Cookie: b=2\r\n\r\n',
    );
  });

  it('leaves out the connection headers the web server owns, and Trailer, in any case', () => {
    const head = [
      'HTTP/1.1 200 OK',
      'Connection: keep-alive',
      'A: 1',
      'keep-alive: timeout=5',
      'TRANSFER-ENCODING: chunked',
      'Trailer: X-Sum',
      'B: 2',
    ].join('\r\n');
    expect(toCgiHead(head)).toBe('Status: 200 OK\r\nA: 1\r\nB: 2\r\n\r\n');
  });

  it('keeps headers whose names only begin or end like a connection header', () => {
    const head = 'HTTP/1.1 200 OK\r\nConnection-Id: 7\r\nX-Connection: close\r\nProxy-Connection: x';
    expect(toCgiHead(head)).toBe(
      'Status: 200 OK\r\nConnection-Id: 7\r\nX-Connection: close\r\nProxy-Connection: x\r\n\r\n',
    );
  });

  it('drops a connection line whole, up to the next CRLF, a bare line feed in it included', () => {
    // node:http refuses a header value with CR or LF (ERR_INVALID_CHAR), so only a hand-made head has one.
    expect(toCgiHead('HTTP/1.1 200 OK\r\nConnection: close\nX-Smuggled: 1\r\nA: b')).toBe(
      'Status: 200 OK\r\nA: b\r\n\r\n',
    );
    expect(toCgiHead('HTTP/1.1 200 OK\r\nA: b\nX-Kept: 1')).toBe('Status: 200 OK\r\nA: b\nX-Kept: 1\r\n\r\n');
  });

  it('translates the head at the start of a chunk and keeps the body after it byte for byte', () => {
    const body = Buffer.from('é\r\n\r\nHTTP/1.1 500 x', 'utf8');
    const written = Buffer.concat([Buffer.from('HTTP/1.1 201 Created\r\nConnection: close\r\n\r\n', 'latin1'), body]);
    const chunk = withCgiHead(written);
    expect(Buffer.isBuffer(chunk)).toBe(true);
    expect(chunk).toEqual(Buffer.concat([Buffer.from('Status: 201 Created\r\n\r\n'), body]));
    expect(withCgiHead('HTTP/1.1 204 No Content\r\n\r\n')).toBe('Status: 204 No Content\r\n\r\n');
    expect(withCgiHead('HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody')).toBe('Status: 200 OK\r\nA: b\r\n\r\nbody');
  });

  it('returns a chunk that does not start with a whole HTTP head as it is', () => {
    const partial = Buffer.from('HTTP/1.1 200 OK\r\nA: b\r\n');
    expect(withCgiHead(partial)).toBe(partial);
    expect(withCgiHead('body\r\n\r\n')).toBe('body\r\n\r\n');
    expect(withCgiHead('')).toBe('');
  });

  it.each([
    ['HTTP/1.1 100 Continue\r\n\r\n', true],
    ['HTTP/1.1 102 Processing\r\n\r\n', true],
    ['HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n', true],
    ['HTTP/1.0 101 Switching Protocols\r\n\r\n', true],
    ['HTTP/1.1 200 OK\r\n\r\n', false],
    ['HTTP/1.1 199\r\n\r\n', false], // no space after the code: not a status line node:http writes
    ['HTTP/2.0 100 Continue\r\n\r\n', false],
    ['1xx is a body, not a head', false],
    ['', false],
  ])('tells an interim head: %j → %s', (chunk, interim) => {
    expect(isInterimHead(chunk)).toBe(interim);
    expect(isInterimHead(Buffer.from(chunk, 'latin1'))).toBe(interim);
  });
});
