// The dev server's document root, served as Apache serves it under the .htaccess that `libfcgi init` writes: the
// app's own files refused with 403, existing files sent as they are, and every other URL rewritten to the script
// (SCRIPT_NAME=/app.fcgi, the URL as requested in REQUEST_URI, REDIRECT_URL and REDIRECT_STATUS), as mod_rewrite does.
import { readFile, readFileSync, statSync, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { directPathRefusal } from '../relay/proxy-socket';
import { decodePath } from './dev-params';
import { refusedPaths } from './init/texts';

/** A document root and the FastCGI script in it that gets the URLs that are not files. */
export interface DocumentRoot {
  dir: string;
  /** The script's path in dir, with forward slashes: 'app.fcgi'. */
  script: string;
}

/** Where a request goes, as Apache decides it. */
export type Route =
  | { kind: 'error'; status: number; reason: string }
  | { kind: 'file'; path: string; stats: Stats }
  | {
      kind: 'script';
      /** The path below the script when it was requested by name (/app.fcgi/x), as bytes; empty otherwise. */
      pathInfo: Buffer;
      /** For a rewritten URL: the decoded path, which Apache passes as REDIRECT_URL. */
      redirectUrl: Buffer | undefined;
    };

/** What the .htaccess of `libfcgi init` refuses with [F]. */
const refused = refusedPaths.map((path) => new RegExp(path));

/** The URL path decoded and without dot segments, as Apache maps it to a file; null when it climbs above the root. */
function normalizedPath(urlPath: string): Buffer | null {
  const segments: string[] = [];
  for (const segment of decodePath(urlPath).toString('latin1').split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.pop() === undefined) return null;
    } else {
      segments.push(segment);
    }
  }
  return Buffer.from(segments.join('/'), 'latin1');
}

export function route(url: string, root: DocumentRoot): Route {
  const urlPath = url.split('?', 1)[0] as string;
  // Apache refuses encoded slashes and NUL bytes (AllowEncodedSlashes Off) before looking at any file.
  if (/%2f|%00/i.test(urlPath)) return { kind: 'error', status: 404, reason: 'Not Found' };
  const path = normalizedPath(urlPath);
  if (path === null) return { kind: 'error', status: 400, reason: 'Bad Request' };
  const relative = path.toString('latin1');
  if (refused.some((pattern) => pattern.test(relative))) {
    return { kind: 'error', status: 403, reason: 'Forbidden: refused by the .htaccess' };
  }
  if (relative === root.script || relative.startsWith(`${root.script}/`)) {
    return {
      kind: 'script',
      pathInfo: path.subarray(Buffer.byteLength(root.script, 'latin1')),
      redirectUrl: undefined,
    };
  }
  const file = join(root.dir, path.toString('utf8'));
  try {
    const stats = statSync(file);
    if (stats.isFile()) return { kind: 'file', path: file, stats };
  } catch (error) {
    // A path below a file (/style.css/x) is a file with a PATH_INFO, which Apache's file handler answers 404.
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return { kind: 'error', status: 404, reason: 'Not Found' };
  }
  return { kind: 'script', pathInfo: Buffer.alloc(0), redirectUrl: Buffer.concat([Buffer.from('/'), path]) };
}

/** Content types of the files a site usually has; others go without one, as Apache's do without a mime.types entry. */
const contentTypes: Record<string, string> = {
  '.html': 'text/html',
  '.htm': 'text/html',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/vnd.microsoft.icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.pdf': 'application/pdf',
  '.wasm': 'application/wasm',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mp3': 'audio/mpeg',
};

/** Sends a file as Apache's default handler does: GET, HEAD and POST (which it answers alike), 405 for others. */
export function sendFile(req: IncomingMessage, res: ServerResponse, path: string, stats: Stats): number {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') {
    const body = '405 Method Not Allowed\n';
    res.writeHead(405, { Allow: 'GET, HEAD, POST', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(body);
    return Buffer.byteLength(body);
  }
  const type = contentTypes[extname(path).toLowerCase()];
  res.writeHead(200, {
    ...(type === undefined ? {} : { 'Content-Type': type }),
    'Content-Length': stats.size,
    'Last-Modified': stats.mtime.toUTCString(),
  });
  if (method === 'HEAD') {
    res.end();
    return 0;
  }
  // Read whole, then sent with end(): a body streamed in pieces lets the client have all of it, and close, before
  // end() is called, which would make the response look aborted.
  readFile(path, (error, data) => (error ? res.destroy() : res.end(data)));
  return stats.size;
}

/**
 * Which way a shared host's Apache will send requests to this site, from its launcher and .htaccess: through mod_fcgid
 * (a relayed launcher: its relays and one Node process; else a Node process per mod_fcgid process) and, where the
 * .htaccess has init's mod_proxy_fcgi rule, straight to the Node process where Apache has that module.
 */
export function hostRoute(root: DocumentRoot): string {
  let launcher = '';
  let htaccess = '';
  try {
    launcher = readFileSync(join(root.dir, root.script), 'utf8').slice(0, 4096);
    htaccess = readFileSync(join(root.dir, '.htaccess'), 'utf8');
  } catch {
    // what is missing is said by htaccessWarning
  }
  const relaySocket = /^\/\/ relay-socket: (.+)$/m.exec(launcher)?.[1];
  if (relaySocket === undefined) return `on a host, through mod_fcgid: a Node process for each of its processes`;
  const relays = 'through mod_fcgid, whose relays start one Node process for the site';
  const socket = /\[H=proxy:unix:([^|]+)\|/.exec(htaccess)?.[1];
  if (socket !== undefined) {
    return `on a host, ${relays}, and where Apache has mod_proxy_fcgi, straight to that process (${socket})`;
  }
  const why = directPathRefusal(dirname(dirname(relaySocket)));
  return `on a host, ${relays}, only${why === undefined ? ' (this .htaccess has no mod_proxy_fcgi rule)' : `: not through mod_proxy_fcgi, as ${why}`}`;
}

/**
 * Why the host might not do what this server does with the document root: no .htaccess, or one that does not rewrite
 * URLs to the script. Undefined when it looks like the one init writes.
 */
export function htaccessWarning(root: DocumentRoot): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(root.dir, '.htaccess'), 'utf8');
  } catch {
    return `${root.dir} has no .htaccess: Apache will neither run ${root.script} nor send it clean URLs (libfcgi init writes one)`;
  }
  const script = root.script.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (!new RegExp(`^\\s*RewriteRule\\s+\\S+\\s+/?${script}\\b`, 'm').test(text)) {
    return `${join(root.dir, '.htaccess')} does not rewrite URLs to ${root.script}: this server does, as libfcgi init's does, Apache will not`;
  }
  return undefined;
}
