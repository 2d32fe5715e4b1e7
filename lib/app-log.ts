// The app log of a shared-hosting account: under Apache mod_fcgid, what a process prints lands in the server-wide
// error log, which the account cannot read. Started by init's launcher before the app loads, this points stdout and
// stderr at a file in the app's folder (so console.*, stream writes, stack traces of a crash and Node's own fatal
// reports all land there), keeps it under a size with one older file beside it, and also sends what is written to
// stderr while a request is served as that request's FCGI_STDERR, which the web server writes to the site's own log.
import { closeSync, mkdirSync, openSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { currentRequestSocket, trackRequests } from './http/request-context';
import { isCGI } from './socket';
import { native } from './native';
import { relaySocketPath } from './relay/control-socket';

export interface AppLogOptions {
  /** Past this size the log becomes FILE.1 (replacing the one there) and a new one starts. Default 10 MiB. */
  maxBytes?: number;
  /** Also send stderr written while a request is served as that request's FCGI_STDERR. Default true. */
  copyToRequest?: boolean;
}

/** How often the size is looked at: a log may pass maxBytes by what the app writes in that time. */
const sizeCheckInterval = 5000;

let started = false;

export function startAppLog(file: string, options: AppLogOptions = {}): void {
  if (started) return;
  started = true;
  const maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
  // Run as plain CGI, stdout is the response: only stderr goes to the log then. (Started by a relay, fd 0 is no
  // socket either, but requests come through the relays.)
  const targets = isCGI() && relaySocketPath() === undefined ? [2] : [1, 2];
  const openLog = (): void => {
    const fd = openSync(file, 'a', 0o600);
    for (const target of targets) native.dup2(fd, target);
    closeSync(fd);
  };
  const rotateIfFull = (): void => {
    try {
      if (statSync(file).size < maxBytes) return;
      renameSync(file, `${file}.1`);
      openLog();
    } catch {
      // another process rotated it first, or the folder went away: keep writing where we are
    }
  };
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    rotateIfFull();
    openLog();
  } catch (error) {
    // Not the app's own folder (a web server running it as another user): output stays where it was.
    process.stderr.write(`libfcgi: no app log at ${file}: ${(error as Error).message}\n`);
    return;
  }
  setInterval(rotateIfFull, sizeCheckInterval).unref();
  process.stderr.write(`${new Date().toISOString()} libfcgi: process ${process.pid} starts ${process.argv[1] ?? ''}\n`);
  if (options.copyToRequest !== false) copyStderrToRequests();
}

function copyStderrToRequests(): void {
  trackRequests();
  const write = process.stderr.write;
  process.stderr.write = function writeAlsoToRequest(this: NodeJS.WriteStream, ...args: unknown[]): boolean {
    const [chunk] = args;
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) currentRequestSocket()?.writeStderr(chunk);
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as NodeJS.WriteStream['write'];
}
