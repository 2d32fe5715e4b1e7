// The one request of a createServer() program run as plain CGI: environment, stdin and stdout, asynchronously.
import { read, write } from 'node:fs';
import { isatty } from 'node:tty';
import type { DoneCallback, ReadCallback, RequestIO } from './request-io';
import { FcgiError, fcgiErrorFromNode } from '../errors';
import { native } from '../native';
import { declaredBodyLength, paramsFromPairs, type Params } from '../params';

/** Writes all of data to fd with fs.write (libuv's thread pool), retrying EAGAIN on a non-blocking pipe. */
function writeAll(fd: number, data: Buffer, callback: (error: NodeJS.ErrnoException | null) => void): void {
  if (data.length === 0) return callback(null);
  write(fd, data, 0, data.length, null, (error, written) => {
    if (error?.code === 'EAGAIN') return setTimeout(() => writeAll(fd, data, callback), 1);
    if (error) return callback(error);
    writeAll(fd, data.subarray(written), callback);
  });
}

export class CgiIO implements RequestIO {
  readonly role = 1;
  readonly requestId = 0;
  readonly keepConn = false;
  readonly pairs: readonly string[] = native.environ();
  readonly params: Params = paramsFromPairs(this.pairs);
  aborted = false;
  onAbort: (() => void) | null = null;
  /** Body bytes left: CONTENT_LENGTH, or unbounded (to EOF) when the server sent none. */
  #remaining: number;
  /** Writes go out one after another, in order. */
  #tail: Promise<void> = Promise.resolve();
  readonly #onEnd: (exitStatus: number) => void;

  constructor(onEnd: (exitStatus: number) => void) {
    this.#onEnd = onEnd;
    this.#remaining = declaredBodyLength(this.params);
  }

  read(size: number, callback: ReadCallback): void {
    if (this.#remaining <= 0) return callback(null, null);
    const buffer = Buffer.allocUnsafe(Math.min(size, this.#remaining));
    read(0, buffer, 0, buffer.length, null, (error, count) => {
      if (error?.code === 'EAGAIN') return setTimeout(() => this.read(size, callback), 1);
      if (error?.code === 'EOF' || (!error && count === 0)) {
        this.#remaining = 0;
        return callback(null, null);
      }
      if (error) return callback(fcgiErrorFromNode('read', error), null);
      this.#remaining -= count;
      callback(null, buffer.subarray(0, count));
    });
  }

  write(chunk: string | Uint8Array | null, end: boolean, exitStatus: number, callback: DoneCallback): void {
    this.#queue(1, chunk, (error) => {
      if (!end) return callback(error);
      this.#drainBody(() => {
        this.#onEnd(exitStatus);
        callback(error);
      });
    });
  }

  writeStderr(chunk: string | Uint8Array, callback: DoneCallback): void {
    this.#queue(2, chunk, callback);
  }

  startData(callback: DoneCallback): void {
    callback(new FcgiError('startData', 'FCGX_CALL_SEQ_ERROR', -5));
  }

  #queue(fd: number, chunk: string | Uint8Array | null, callback: DoneCallback): void {
    const data = chunk === null ? Buffer.alloc(0) : typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    this.#tail = this.#tail.then(
      () =>
        new Promise<void>((resolve) =>
          writeAll(fd, data, (error) => {
            callback(error ? fcgiErrorFromNode('write', error) : null);
            resolve();
          }),
        ),
    );
  }

  /** Apache's mod_cgid fails the request if the program exits without reading the body (not from a terminal). */
  #drainBody(done: () => void): void {
    if (this.#remaining <= 0 || isatty(0)) return done();
    this.read(65536, (error, chunk) => (error || chunk === null ? done() : this.#drainBody(done)));
  }
}
