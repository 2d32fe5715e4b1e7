// A program run as plain CGI (no FastCGI server started it): its one request's parameters are the process
// environment, its body is on stdin (CONTENT_LENGTH bytes of it, or up to EOF) and its response goes to stdout, its log
// to stderr. Both serving modes fall back to this: the accept loop reads and writes synchronously, createServer
// asynchronously. Either way EAGAIN means "try again shortly": libuv may have made the pipes non-blocking.
import { read, readSync, write, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { fcgiErrorFromNode, type FcgiError } from '../addon/errors';
import { native } from '../addon/native';
import { declaredBodyLength, paramsFromPairs, type Params } from '../request/params';
import { chunkSize } from '../request/request-io';

export const stdinFd = 0;
export const stdoutFd = 1;
export const stderrFd = 2;

const retryPause = new Int32Array(new SharedArrayBuffer(4));
const retryMs = 1;

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

export class CgiStdio {
  /** The parameters in the order the environment lists them: name, value, name, value… */
  readonly pairs: readonly string[] = native().environ();
  readonly params: Params = paramsFromPairs(this.pairs);
  /** Body bytes left to read: CONTENT_LENGTH, or unbounded (read to EOF) when the server sent none. */
  #remaining = declaredBodyLength(this.params);

  /** Reads what one read(2) gives of the body into buffer: 0 at its end. Throws an FcgiError. */
  readSync(buffer: Buffer): number {
    if (this.#remaining <= 0 || buffer.length === 0) return 0;
    const want = Math.min(buffer.length, this.#remaining);
    for (;;) {
      try {
        return this.#count(readSync(stdinFd, buffer, 0, want, null));
      } catch (error) {
        if (errorCode(error) === 'EOF') return this.#count(0);
        if (errorCode(error) !== 'EAGAIN') throw fcgiErrorFromNode('read', error);
        Atomics.wait(retryPause, 0, 0, retryMs);
      }
    }
  }

  /** Reads up to size bytes of the body with fs.read (libuv's thread pool): null at its end. */
  read(size: number, callback: (error: FcgiError | null, chunk: Buffer | null) => void): void {
    if (this.#remaining <= 0) return callback(null, null);
    const buffer = Buffer.allocUnsafe(Math.min(size, this.#remaining));
    read(stdinFd, buffer, 0, buffer.length, null, (error, count) => {
      if (error?.code === 'EAGAIN') return setTimeout(() => this.read(size, callback), retryMs);
      if (error && error.code !== 'EOF') return callback(fcgiErrorFromNode('read', error), null);
      const got = this.#count(error ? 0 : count);
      callback(null, got === 0 ? null : buffer.subarray(0, got));
    });
  }

  /** Writes all of data to stdout or stderr. Throws an FcgiError for syscall. */
  writeSync(fd: number, data: Uint8Array, syscall: string): void {
    for (let offset = 0; offset < data.length;) {
      try {
        offset += writeSync(fd, data, offset, data.length - offset);
      } catch (error) {
        if (errorCode(error) !== 'EAGAIN') throw fcgiErrorFromNode(syscall, error);
        Atomics.wait(retryPause, 0, 0, retryMs);
      }
    }
  }

  /** Writes all of data to stdout or stderr with fs.write (libuv's thread pool). */
  write(fd: number, data: Uint8Array, syscall: string, callback: (error: FcgiError | null) => void): void {
    if (data.length === 0) return callback(null);
    write(fd, data, 0, data.length, null, (error, written) => {
      if (error?.code === 'EAGAIN') return setTimeout(() => this.write(fd, data, syscall, callback), retryMs);
      if (error) return callback(fcgiErrorFromNode(syscall, error));
      this.write(fd, data.subarray(written), syscall, callback);
    });
  }

  /**
   * Apache's mod_cgid fails the request when the program exits without reading the body, so what is left of it is
   * read and dropped at the end. From a terminal nobody would send EOF: then it is left alone.
   */
  get mustDrainBody(): boolean {
    return this.#remaining > 0 && !isatty(stdinFd);
  }

  /** Reads and drops the rest of the body (see mustDrainBody); a read error ends it quietly: the response is out. */
  drainBodySync(): void {
    if (!this.mustDrainBody) return;
    const scratch = Buffer.allocUnsafe(chunkSize);
    try {
      while (this.readSync(scratch) > 0);
    } catch {
      // Nothing more can be read.
    }
  }

  drainBody(done: () => void): void {
    if (!this.mustDrainBody) return done();
    this.read(chunkSize, (error, chunk) => (error || chunk === null ? done() : this.drainBody(done)));
  }

  #count(got: number): number {
    this.#remaining = got === 0 ? 0 : this.#remaining - got;
    return got;
  }
}
