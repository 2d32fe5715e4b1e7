// What `libfcgi status` reads: the site's Node process answers a connection to .libfcgi/status.sock, beside the relays'
// control socket and as private (0600 in the account's own 0700 folder, checked before the control socket opens),
// with one line of JSON about itself; and the record of its last crash, kept in that folder for the next process.
import { chmodSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';

export interface RequestInFlight {
  method: string;
  url: string;
  /** Milliseconds since the request began. */
  ageMs: number;
}

export interface RequestDone {
  method: string;
  url: string;
  ms: number;
}

export interface RequestActivitySnapshot {
  served: number;
  inFlight: RequestInFlight[];
  /** The slowest request that ended in the last minute, or null. */
  slowestLastMinute: RequestDone | null;
}

/** The status socket in the control socket's folder. */
export const statusSocketIn = (folder: string): string => join(folder, 'status.sock');

/** How the process that crashed last ended, as the next one reports it. */
export interface LastCrash {
  at: string;
  code: number;
  reason: string;
}

export interface DirectPathStatus {
  open: boolean;
  served: number;
  why: string | null;
}

export interface SiteStatus {
  pid: number;
  startedAt: string;
  node: string;
  /** The launcher this process runs, when it was last changed (a deploy touches it), and the app's package version. */
  code: { script: string; scriptChangedAt: string | null; version: string | null };
  /** Listening sockets held, one per relay the web server runs. */
  sockets: number;
  /**
   * The web server's direct path through mod_proxy_fcgi (lib/relay/proxy-socket.ts): whether it is open, the requests
   * that came that way, and why it is not open (null while open, or before the first relay came).
   */
  direct: DirectPathStatus;
  requests: RequestActivitySnapshot;
  memory: { rss: number; heapUsed: number; heapTotal: number };
  /** Node processes the site started before this one (a count kept in the folder), and how the last crash ended. */
  restarts: number;
  lastCrash: LastCrash | null;
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

function changedAt(path: string): string | null {
  try {
    return statSync(path).mtime.toISOString();
  } catch {
    return null;
  }
}

/**
 * Opens the status socket in `folder` (the control socket's) and answers each connection with status(). Counts this
 * start in the folder, and records how the process ends if it crashes. Returns the server, to close with the site.
 */
export function openStatusSocket(
  folder: string,
  status: () => Pick<SiteStatus, 'sockets' | 'direct' | 'requests'>,
): Server {
  const startsFile = join(folder, 'starts');
  const restarts = readJson<number>(startsFile) ?? 0;
  writeFileSync(startsFile, String(restarts + 1), { mode: 0o600 });
  const lastCrash = readJson<LastCrash>(join(folder, 'last-crash.json'));
  recordCrashes(join(folder, 'last-crash.json'));
  const script = process.argv[1] ?? '';
  const version = readJson<{ version?: string }>(join(dirname(folder), 'package.json'))?.version ?? null;
  const startedAt = new Date(Date.now() - process.uptime() * 1000).toISOString();

  const path = statusSocketIn(folder);
  const bound = `${path}.${process.pid}`;
  rmSync(bound, { force: true });
  const server = createServer((socket) => {
    const { rss, heapUsed, heapTotal } = process.memoryUsage();
    const answer: SiteStatus = {
      pid: process.pid,
      startedAt,
      node: process.version,
      code: { script, scriptChangedAt: changedAt(script), version },
      ...status(),
      memory: { rss, heapUsed, heapTotal },
      restarts,
      lastCrash,
    };
    socket.on('error', () => undefined); // a reader that went away
    socket.end(`${JSON.stringify(answer)}\n`);
  });
  server.on('error', (error) => process.stderr.write(`libfcgi: no status socket at ${path}: ${error.message}\n`));
  // Bound under a name of its own, made private, then renamed over the path, as the control socket is.
  server.listen(bound, () => {
    try {
      chmodSync(bound, 0o600);
      renameSync(bound, path);
    } catch (error) {
      process.stderr.write(`libfcgi: no status socket at ${path}: ${(error as Error).message}\n`);
      server.close();
    }
  });
  server.unref();
  return server;
}

let recording = false;

/** Writes how the process ended to `file` when it ends with an error: what status shows as the last crash. */
function recordCrashes(file: string): void {
  if (recording) return;
  recording = true;
  let uncaught: unknown = null;
  process.on('uncaughtExceptionMonitor', (error) => (uncaught = error));
  process.on('exit', (code) => {
    if (code === 0) return;
    const reason = uncaught instanceof Error ? `${uncaught.name}: ${uncaught.message}` : `exit code ${code}`;
    try {
      writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), code, reason }), { mode: 0o600 });
    } catch {
      // the folder went away: nothing to keep it in
    }
  });
}
