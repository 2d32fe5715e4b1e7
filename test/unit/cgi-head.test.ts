// The head translation: CGI parameters as a web server sends them, in order, to node:http's rawHeaders and the facts
// the HTTP layer reads. Tables of what nginx, Apache, lighttpd and Caddy really send.
import { describe, expect, it } from 'vitest';
import { headFromPairs } from '../../lib/cgi/cgi-head';

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
