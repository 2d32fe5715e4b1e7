// The one request of a createServer() program run as plain CGI: environment, stdin and stdout, asynchronously
// (lib/cgi/cgi-stdio.ts does the I/O).
import type { DoneCallback, ReadCallback, RequestIO } from '../request/request-io';
import { CgiStdio, stderrFd, stdoutFd } from './cgi-stdio';
import { FcgiError } from '../addon/errors';
import type { Params } from '../request/params';

export class CgiIO implements RequestIO {
  readonly role = 1;
  readonly requestId = 0;
  readonly keepConn = false;
  readonly #stdio = new CgiStdio();
  readonly pairs: readonly string[] = this.#stdio.pairs;
  readonly params: Params = this.#stdio.params;
  aborted = false;
  onAbort: (() => void) | null = null;
  /** Writes go out one after another, in order. */
  #tail: Promise<void> = Promise.resolve();
  readonly #onEnd: (exitStatus: number) => void;

  constructor(onEnd: (exitStatus: number) => void) {
    this.#onEnd = onEnd;
  }

  read(size: number, callback: ReadCallback): void {
    this.#stdio.read(size, callback);
  }

  write(chunk: string | Uint8Array | null, end: boolean, exitStatus: number, callback: DoneCallback): void {
    this.#queue(stdoutFd, chunk, (error) => {
      if (!end) return callback(error);
      this.#stdio.drainBody(() => {
        this.#onEnd(exitStatus);
        callback(error);
      });
    });
  }

  writeStderr(chunk: string | Uint8Array, callback: DoneCallback): void {
    this.#queue(stderrFd, chunk, callback);
  }

  startData(callback: DoneCallback): void {
    callback(new FcgiError('startData', 'FCGX_CALL_SEQ_ERROR', -5));
  }

  #queue(fd: number, chunk: string | Uint8Array | null, callback: DoneCallback): void {
    // A copy: the caller may reuse its buffer once write() returns, before the write's turn comes.
    const data = chunk === null ? Buffer.alloc(0) : typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    this.#tail = this.#tail.then(
      () =>
        new Promise<void>((resolve) =>
          this.#stdio.write(fd, data, 'write', (error) => {
            callback(error);
            resolve();
          }),
        ),
    );
  }
}
