// The CGI parameters the dev server sends with each HTTP request, built as Apache's mod_fcgid builds them
// (RFC 3875's meta-variables plus Apache's REQUEST_URI, DOCUMENT_ROOT, SCRIPT_FILENAME and friends).
import type { IncomingMessage } from 'node:http';

export interface Site {
  /** SCRIPT_FILENAME: the program, or the script a wrapper runs. */
  scriptFilename: string;
  /** DOCUMENT_ROOT. */
  documentRoot: string;
  /** SCRIPT_NAME: the URL path the app is mounted at, '' for the root. */
  scriptName: string;
  /** SERVER_SOFTWARE. */
  software: string;
}

export type ParamList = Array<[string, Buffer]>;

const PERCENT_ESCAPE = /%[0-9a-f]{2}/i;

/** Percent-decodes a URL path into the bytes it stands for (not necessarily UTF-8), as Apache does for PATH_INFO. */
export function decodePath(path: string): Buffer {
  const raw = Buffer.from(path, 'latin1');
  if (!PERCENT_ESCAPE.test(path)) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const hex = path.slice(i + 1, i + 3);
    if (raw[i] === 0x25 && /^[0-9a-f]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(raw[i] as number);
    }
  }
  return Buffer.from(bytes);
}

/** The path below SCRIPT_NAME, or undefined when the request is not for the app. */
export function pathInfo(url: string, scriptName: string): string | undefined {
  const path = url.split('?', 1)[0] as string;
  if (scriptName === '') return path;
  if (path === scriptName) return '';
  return path.startsWith(`${scriptName}/`) ? path.slice(scriptName.length) : undefined;
}

/**
 * HTTP_* parameters from the request headers. As Apache and nginx do, names with an underscore are left out (they
 * would pass for a dash), and Content-Type / Content-Length go in CONTENT_TYPE / CONTENT_LENGTH instead.
 */
function headerParams(req: IncomingMessage): ParamList {
  const params: ParamList = [];
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.includes('_') || name === 'content-type' || name === 'content-length') continue;
    const joined = Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value;
    params.push([`HTTP_${name.toUpperCase().replaceAll('-', '_')}`, Buffer.from(joined, 'latin1')]);
  }
  return params;
}

/** Where a request reached the script, when a rewrite decided it (see dev-site.ts) rather than the mount path. */
export interface ScriptTarget {
  pathInfo: Buffer;
  /** The decoded path of a URL rewritten to the script: Apache then adds REDIRECT_URL and REDIRECT_STATUS. */
  redirectUrl: Buffer | undefined;
}

/**
 * Every parameter for one request. `bodyLength` is the CONTENT_LENGTH to declare, undefined for a request without a
 * body.
 */
export function cgiParams(
  req: IncomingMessage,
  site: Site,
  bodyLength: number | undefined,
  target?: ScriptTarget,
): ParamList {
  const url = req.url ?? '/';
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  const info = target?.pathInfo ?? decodePath(pathInfo(url, site.scriptName) ?? '');
  const socket = req.socket;
  const host = (req.headers.host ?? '').replace(/:\d+$/, '') || (socket.localAddress ?? '127.0.0.1');
  const text: Array<[string, string]> = [
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_NAME', host],
    ['SERVER_ADDR', socket.localAddress ?? ''],
    ['SERVER_PORT', String(socket.localPort ?? '')],
    ['SERVER_PROTOCOL', `HTTP/${req.httpVersion}`],
    ['REQUEST_SCHEME', 'http'],
    ['REQUEST_METHOD', req.method ?? 'GET'],
    ['REQUEST_URI', url],
    ['QUERY_STRING', query],
    ['REMOTE_ADDR', socket.remoteAddress ?? ''],
    ['REMOTE_PORT', String(socket.remotePort ?? '')],
  ];
  if (bodyLength !== undefined) {
    text.push(['CONTENT_LENGTH', String(bodyLength)]);
    if (req.headers['content-type'] !== undefined) text.push(['CONTENT_TYPE', req.headers['content-type']]);
  }
  // What came in the request is bytes (node:http gives them as latin1 strings); the site's paths are UTF-8.
  const params: ParamList = text.map(([name, value]) => [name, Buffer.from(value, 'latin1')]);
  const documentRoot = Buffer.from(site.documentRoot.replace(/\/$/, ''));
  params.push(
    ['SERVER_SOFTWARE', Buffer.from(site.software)],
    ['DOCUMENT_ROOT', documentRoot],
    ['SCRIPT_FILENAME', Buffer.from(site.scriptFilename)],
    ['SCRIPT_NAME', Buffer.from(site.scriptName)],
  );
  if (info.length > 0) params.push(['PATH_INFO', info], ['PATH_TRANSLATED', Buffer.concat([documentRoot, info])]);
  if (target?.redirectUrl !== undefined) {
    params.push(['REDIRECT_STATUS', Buffer.from('200')], ['REDIRECT_URL', target.redirectUrl]);
    if (query !== '') params.push(['REDIRECT_QUERY_STRING', Buffer.from(query, 'latin1')]);
  }
  return [...params, ...headerParams(req)];
}
