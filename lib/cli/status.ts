// `libfcgi status [DIR|LAUNCHER] [--json]`: what the site's Node process is doing, asked over its status socket
// (lib/relay/status-socket.ts), for the account that owns it, as passenger-status or PHP-FPM's status page give.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { SiteStatus } from '../relay/status-socket';
import { statusSocketIn } from '../relay/status-socket';
import { readCommand } from './args';
import { relaySocketOf } from './init/project';

/** The exit code when no Node process runs for the site (as `systemctl status` says "inactive"). */
export const notRunningExitCode = 3;

/** The relay-socket line of a launcher's preamble (its first lines), or undefined. */
function relaySocketOfLauncher(launcher: string): string | undefined {
  const preamble = readFileSync(launcher, 'utf8').slice(0, 4096);
  return /^\/\/ relay-socket: (.+)$/m.exec(preamble)?.[1];
}

/**
 * The control socket's folder of the site at `target`: a launcher (its relay-socket line), an app folder made by
 * init (its .libfcgi), or its document root (the launcher in it).
 */
export function controlFolderOf(target: string): string {
  const path = resolve(target);
  if (existsSync(path) && statSync(path).isFile()) {
    const socket = relaySocketOfLauncher(path);
    if (socket === undefined) throw new Error(`${path} has no '// relay-socket:' line: it is not a relayed launcher`);
    return dirname(socket);
  }
  const own = dirname(relaySocketOf(path));
  if (existsSync(own)) return own;
  for (const launcher of [join(path, 'app.fcgi'), join(path, 'public_html', 'app.fcgi')]) {
    const socket = existsSync(launcher) ? relaySocketOfLauncher(launcher) : undefined;
    if (socket !== undefined) return dirname(socket);
  }
  return own;
}

/** Asks the status socket in `folder`; resolves with the answer, or rejects with the connection's error. */
export function askStatus(folder: string, timeoutMs = 5000): Promise<SiteStatus> {
  return new Promise((done, fail) => {
    const socket = createConnection(statusSocketIn(folder));
    let text = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', fail);
    socket.on('end', () => {
      try {
        done(JSON.parse(text) as SiteStatus);
      } catch {
        fail(new Error(`not a status: ${text.slice(0, 200)}`));
      }
    });
  });
}

const megabytes = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** The web server's direct path (mod_proxy_fcgi), as a person reads it; a process older than it reports none. */
function directPath(direct: SiteStatus['direct'] | undefined): string {
  if (direct === undefined) return 'unknown (the process predates the direct path)';
  if (direct.open) return `open: ${direct.served} requests came through mod_proxy_fcgi, the others through the relays`;
  return direct.why === null ? 'not open yet: it opens with the first relay' : `not open: ${direct.why}`;
}

/** The status as a person reads it. */
export function formatStatus(folder: string, status: SiteStatus): string {
  const { requests, code, memory } = status;
  const lines = [
    `${dirname(folder)}: running`,
    `  process    ${status.pid}, started ${status.startedAt} (${ago(status.startedAt)}), Node ${status.node}`,
    `  code       ${code.script}${code.scriptChangedAt ? `, changed ${code.scriptChangedAt}` : ''}` +
      (code.version ? `; version ${code.version}` : ''),
    `  sockets    ${status.sockets} (one per relay the web server runs)`,
    `  direct     ${directPath(status.direct)}`,
    `  requests   ${requests.served} served, ${requests.inFlight.length} in flight`,
    ...requests.inFlight.map(
      (request) => `               ${seconds(request.ageMs).padStart(8)}  ${request.method} ${request.url}`,
    ),
    `  slowest    ${
      requests.slowestLastMinute
        ? `${requests.slowestLastMinute.method} ${requests.slowestLastMinute.url}, ${seconds(requests.slowestLastMinute.ms)} (in the last minute)`
        : 'none ended in the last minute'
    }`,
    `  memory     RSS ${megabytes(memory.rss)}, heap ${megabytes(memory.heapUsed)} of ${megabytes(memory.heapTotal)}`,
    `  restarts   ${status.restarts}` +
      (status.lastCrash
        ? `; last crash ${status.lastCrash.at} (${ago(status.lastCrash.at)}): ${status.lastCrash.reason}`
        : '; no crash recorded'),
  ];
  return `${lines.join('\n')}\n`;
}

export interface StatusOptions {
  /** The site's folder, its document root, or its launcher. */
  target: string;
  json: boolean;
}

export function parseStatusArgs(argv: string[]): StatusOptions {
  const { values, operands } = readCommand(argv, 'status', { json: { type: 'boolean' } }, 1);
  return { target: operands[0] ?? '.', json: values.json === true };
}

/** Runs `libfcgi status`; sets the exit code (3 when no Node process runs). */
export async function runStatus({ target, json }: StatusOptions): Promise<void> {
  const folder = controlFolderOf(target);
  let status: SiteStatus;
  try {
    status = await askStatus(folder);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const why = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'no Node process runs for it' : message;
    if (json) process.stdout.write(`${JSON.stringify({ running: false, reason: why })}\n`);
    else process.stdout.write(`${dirname(folder)}: not running (${why}); the next request starts it\n`);
    process.exitCode = notRunningExitCode;
    return;
  }
  process.stdout.write(json ? `${JSON.stringify({ running: true, ...status })}\n` : formatStatus(folder, status));
}
