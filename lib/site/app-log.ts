// The app log of a shared-hosting account: under Apache mod_fcgid, what a process prints lands in the server-wide
// error log, which the account cannot read. Started by init's launcher before the app loads, this points stdout and
// stderr at a file in the app's folder (so console.*, stream writes, stack traces of a crash and Node's own fatal
// reports all land there), keeps it under a size with one older file beside it, and also sends what is written to
// stderr while a request is served as that request's FCGI_STDERR, which the web server writes to the site's own log.
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { currentRequestSocket, tellNextRequest, trackRequests } from '../http/request-context';
import { startedAsCgi } from '../serving/source';
import { native } from '../addon/native';

export interface AppLogOptions {
  /**
   * Past this size the log becomes FILE.1 (replacing the one there) and a new one starts: counted as the process
   * writes, so a fast logger keeps the two files within twice this. Default 10 MiB.
   */
  maxBytes?: number;
  /** Also send stderr written while a request is served as that request's FCGI_STDERR. Default true. */
  copyToRequest?: boolean;
}

/** How often the size is looked at, for what other processes and native code write to the same file. */
const sizeCheckInterval = 5000;

let started = false;

export function startAppLog(file: string, options: AppLogOptions = {}): void {
  if (started) return;
  started = true;
  const copyToRequest = options.copyToRequest !== false;
  if (copyToRequest) trackRequests();
  // Run as plain CGI, stdout is the response: only stderr goes to the log then. (Started by a relay, fd 0 is no
  // socket either, but requests come through the relays.)
  const targets = startedAsCgi() ? [2] : [1, 2];
  const log = new AppLog(file, options.maxBytes ?? 10 * 1024 * 1024, targets);
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    log.open();
  } catch (error) {
    // Not the app's own folder (a web server running it as another user), or a read-only one: output stays where
    // it was, and the site's own error log hears why with the next request (the account may not read this one).
    const why = `${new Date().toISOString()} libfcgi: no app log at ${file}: ${(error as Error).message}\n`;
    process.stderr.write(why);
    if (copyToRequest) {
      tellNextRequest(why);
      copyStderrToRequests();
    }
    return;
  }
  for (const fd of targets) guardWrites(fd === 1 ? process.stdout : process.stderr, fd, log);
  setInterval(() => log.rotateIfFull(), sizeCheckInterval).unref();
  process.stderr.write(`${new Date().toISOString()} libfcgi: process ${process.pid} starts ${process.argv[1] ?? ''}\n`);
  if (copyToRequest) copyStderrToRequests();
}

/**
 * The log file behind fds 1 and 2. A write that fails (a full disk or quota, a folder made read-only) is dropped and
 * counted, never thrown: the app goes on answering, and the first write that succeeds again is preceded by a line
 * saying how much was lost.
 */
class AppLog {
  /** The file's size as this process knows it: its own writes counted, the file looked at now and then. */
  #size = 0;
  #lost = { writes: 0, bytes: 0, code: '' };

  constructor(
    readonly file: string,
    readonly maxBytes: number,
    readonly targets: number[],
  ) {}

  /** Opens the file (rotating it first when full) onto the target fds. Throws when it cannot be opened. */
  open(): void {
    this.rotateIfFull();
    this.#reopen();
  }

  #reopen(): void {
    const fd = openSync(this.file, 'a', 0o600);
    for (const target of this.targets) native().dup2(fd, target);
    closeSync(fd);
    this.#size = fstatSync(this.targets[0] ?? 2).size;
  }

  /** Moves a full log to FILE.1 and starts a new one; another process of the site may have done it first. */
  rotateIfFull(): void {
    try {
      if (Math.max(this.#size, statSync(this.file).size) < this.maxBytes) return;
      renameSync(this.file, `${this.file}.1`);
      this.#reopen();
    } catch {
      // another process rotated it first, or the folder went away: keep writing where we are
    }
  }

  write(fd: number, bytes: Uint8Array): void {
    try {
      if (this.#lost.writes > 0) {
        const { writes, bytes: lostBytes, code } = this.#lost;
        writeAll(
          fd,
          `${new Date().toISOString()} libfcgi: ${writes} writes to this log (${lostBytes} bytes) were lost: ${code}\n`,
        );
        this.#lost = { writes: 0, bytes: 0, code: '' };
      }
      writeAll(fd, bytes);
    } catch (error) {
      if (this.#lost.writes === 0) {
        tellNextRequest(
          `${new Date().toISOString()} libfcgi: writes to ${this.file} fail (${(error as NodeJS.ErrnoException).code}); they are dropped and counted until it takes them again\n`,
        );
      }
      this.#lost.writes++;
      this.#lost.bytes += bytes.length;
      this.#lost.code = (error as NodeJS.ErrnoException).code ?? String(error);
      return;
    }
    this.#size += bytes.length;
    if (this.#size >= this.maxBytes) this.rotateIfFull();
  }
}

function writeAll(fd: number, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  for (let offset = 0; offset < bytes.length;) offset += writeSync(fd, bytes, offset);
}

type WriteCallback = (error?: Error | null) => void;

/**
 * Makes a stream of the process (stdout or stderr) write to its fd through the log: Node's own would emit the first
 * failed write as an 'error' nobody listens for, ending the process, and refuse every write after it.
 */
function guardWrites(stream: NodeJS.WriteStream, fd: number, log: AppLog): void {
  const writable = stream as unknown as {
    _write: (chunk: Buffer | string, encoding: BufferEncoding, callback: WriteCallback) => void;
    _writev: (chunks: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>, callback: WriteCallback) => void;
  };
  const bytesOf = (chunk: Buffer | string, encoding: BufferEncoding): Uint8Array =>
    typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
  writable._write = (chunk, encoding, callback) => {
    log.write(fd, bytesOf(chunk, encoding));
    callback();
  };
  writable._writev = (chunks, callback) => {
    log.write(fd, Buffer.concat(chunks.map(({ chunk, encoding }) => bytesOf(chunk, encoding))));
    callback();
  };
}

function copyStderrToRequests(): void {
  const write = process.stderr.write;
  process.stderr.write = function writeAlsoToRequest(this: NodeJS.WriteStream, ...args: unknown[]): boolean {
    const [chunk] = args;
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) currentRequestSocket()?.writeStderr(chunk);
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as NodeJS.WriteStream['write'];
}
