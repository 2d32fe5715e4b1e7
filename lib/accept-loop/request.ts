// One request of the synchronous accept loop: its parameters, its body, and its output streams.
import { format } from 'node:util';
import { FcgiError } from '../addon/errors';
import type { Params } from '../request/params';
import { chunkSize } from '../request/request-io';

export type Role = 'responder' | 'authorizer' | 'filter';

const roleNames: Record<number, Role> = { 1: 'responder', 2: 'authorizer', 3: 'filter' };

export function roleName(role: number): Role {
  return roleNames[role] ?? 'responder';
}

/**
 * A request accepted by `accept()`. Every call blocks until done, like libfcgi's FCGX_* calls.
 *
 * Output goes to the web server: `write()`/`puts()`/`printf()` to FCGI_STDOUT, `writeStderr()` to FCGI_STDERR (the
 * server's error log). Writes never throw when the web server went away: they return false and `error` says why.
 * Reading the body throws an FcgiError if the request was aborted, since a truncated body must not pass for a whole one.
 */
export abstract class Request {
  /** The CGI parameters (see `Params`). */
  abstract readonly params: Params;
  abstract readonly role: Role;
  /** The FastCGI request id (1 for every mainstream web server; 0 in CGI mode). */
  abstract readonly requestId: number;
  /** Whether the web server asked to keep the connection open after this request (FCGI_KEEP_CONN). */
  abstract readonly keepConn: boolean;
  /** True when the program runs as plain CGI (not started by a FastCGI server). */
  abstract readonly isCGI: boolean;

  /** The first error met while writing, e.g. EPIPE when the web server closed the connection. */
  error: FcgiError | null = null;
  #finished = false;
  #exitStatus = 0;
  #readingData = false;

  get finished(): boolean {
    return this.#finished;
  }

  /** The exit status sent in FCGI_END_REQUEST (in CGI mode, the process exit code). */
  get exitStatus(): number {
    return this.#exitStatus;
  }

  set exitStatus(status: number) {
    if (!Number.isInteger(status)) throw new TypeError('exitStatus must be an integer');
    this.assertOpen('set exitStatus');
    this.#exitStatus = status;
    this.sendExitStatus(status);
  }

  /** Reads up to `size` bytes of the body; an empty Buffer means the body has ended. */
  read(size = chunkSize): Buffer {
    if (!Number.isInteger(size) || size <= 0) throw new TypeError('read(size) expects a positive integer');
    this.assertOpen('read');
    const buffer = Buffer.allocUnsafe(size);
    const count = this.readInto(buffer);
    return count === size ? buffer : buffer.subarray(0, count);
  }

  /** Reads the whole (rest of the) body. */
  readAll(): Buffer {
    const chunks: Buffer[] = [];
    for (let chunk = this.read(); chunk.length > 0; chunk = this.read()) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /** For the filter role: reads up to `size` bytes of the file data (FCGI_DATA); the rest of the body is skipped. */
  readData(size = chunkSize): Buffer {
    this.enterFilterData('readData');
    return this.read(size);
  }

  /** For the filter role: the whole (rest of the) file data. */
  readAllData(): Buffer {
    this.enterFilterData('readAllData');
    return this.readAll();
  }

  /** Writes a string (as UTF-8) or bytes to FCGI_STDOUT. */
  write(chunk: string | Uint8Array): boolean {
    return this.send('write', chunk, false);
  }

  /** Writes a line: the text and a newline, as C's puts() does. */
  puts(text: string): boolean {
    return this.write(text + '\n');
  }

  /** Writes `util.format(format, ...args)`: printf-style %s, %d, %i, %f, %j, %o placeholders. */
  printf(formatString: string, ...args: unknown[]): boolean {
    return this.write(format(formatString, ...args));
  }

  /** Writes to FCGI_STDERR, which web servers copy into their error log. */
  writeStderr(chunk: string | Uint8Array): boolean {
    return this.send('writeStderr', chunk, true);
  }

  /** Sends what is buffered now instead of when the buffer fills or the request finishes. */
  flush(): boolean {
    this.assertOpen('flush');
    return this.attempt(() => this.flushOutput());
  }

  /**
   * Ends the request: skips the unread body, sends the output and the exit status, and lets the connection serve the
   * next request. `accept()` calls it for a request left open.
   */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    const error = this.end();
    if (error && !this.error) this.error = error;
  }

  protected abstract readInto(buffer: Buffer): number;
  protected abstract writeOutput(chunk: string | Uint8Array, toStderr: boolean): void;
  protected abstract flushOutput(): void;
  protected abstract sendExitStatus(status: number): void;
  protected abstract beginFilterData(): void;
  protected abstract end(): FcgiError | undefined;

  private enterFilterData(operation: string): void {
    if (this.role !== 'filter') throw new Error(`${operation}: only a filter request has data; this is a ${this.role}`);
    this.assertOpen(operation);
    if (this.#readingData) return;
    this.beginFilterData();
    this.#readingData = true;
  }

  private send(operation: string, chunk: string | Uint8Array, toStderr: boolean): boolean {
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
      throw new TypeError(`${operation} expects a string or a Uint8Array, got ${typeof chunk}`);
    }
    this.assertOpen(operation);
    if (this.error) return false;
    return this.attempt(() => this.writeOutput(chunk, toStderr));
  }

  private attempt(action: () => void): boolean {
    try {
      action();
      return true;
    } catch (error) {
      if (!(error instanceof FcgiError)) throw error;
      this.error ??= error;
      return false;
    }
  }

  private assertOpen(operation: string): void {
    if (this.#finished) throw new Error(`${operation} after finish(): this request is over`);
  }
}
