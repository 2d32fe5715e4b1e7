// The one request of a program run as plain CGI: the process environment, real stdin, stdout and stderr.
import { readSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { FcgiError, fcgiErrorFromNode } from '../errors';
import { native } from '../native';
import { declaredBodyLength, paramsFromPairs, type Params } from '../params';
import { Request, type Role } from './request';

const stdinFd = 0;
const stdoutFd = 1;
const stderrFd = 2;
const retryPause = new Int32Array(new SharedArrayBuffer(4));

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/** Writes all of data to fd, waiting out EAGAIN: libuv may have made a pipe non-blocking. */
function writeAllSync(fd: number, data: Uint8Array): void {
  for (let offset = 0; offset < data.length;) {
    try {
      offset += writeSync(fd, data, offset, data.length - offset);
    } catch (error) {
      if (errorCode(error) !== 'EAGAIN') throw error;
      Atomics.wait(retryPause, 0, 0, 1);
    }
  }
}

function readSomeSync(fd: number, buffer: Buffer, length: number): number {
  for (;;) {
    try {
      return readSync(fd, buffer, 0, length, null);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EOF') return 0;
      if (code !== 'EAGAIN') throw error;
      Atomics.wait(retryPause, 0, 0, 1);
    }
  }
}

export class CgiRequest extends Request {
  readonly params: Params = paramsFromPairs(native.environ());
  readonly role: Role = 'responder';
  readonly requestId = 0;
  readonly keepConn = false;
  readonly isCGI = true;
  /** Bytes of body left to read: CONTENT_LENGTH, or unbounded (read to EOF) when the server sent none. */
  #remaining: number;
  #exitCode = 0;

  constructor() {
    super();
    this.#remaining = declaredBodyLength(this.params);
  }

  protected readInto(buffer: Buffer): number {
    let count = 0;
    while (count < buffer.length && this.#remaining > 0) {
      const want = Math.min(buffer.length - count, this.#remaining);
      let got: number;
      try {
        got = readSomeSync(stdinFd, buffer.subarray(count), want);
      } catch (error) {
        throw fcgiErrorFromNode('read', error);
      }
      if (got === 0) {
        this.#remaining = 0;
        break;
      }
      count += got;
      this.#remaining -= got;
    }
    return count;
  }

  protected writeOutput(chunk: string | Uint8Array, toStderr: boolean): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    try {
      writeAllSync(toStderr ? stderrFd : stdoutFd, bytes);
    } catch (error) {
      throw fcgiErrorFromNode(toStderr ? 'writeStderr' : 'write', error);
    }
  }

  protected flushOutput(): void {
    // Writes go straight to the file descriptors; there is no buffer to flush.
  }

  protected sendExitStatus(status: number): void {
    this.#exitCode = status;
  }

  protected beginFilterData(): void {
    throw new Error('a CGI request has no filter data');
  }

  protected end(): FcgiError | undefined {
    // Apache's mod_cgid fails the request when the program exits without reading the body. From a terminal there is
    // nobody to send EOF, so the body is only drained when stdin is not a TTY.
    if (this.#remaining > 0 && !isatty(stdinFd)) {
      const scratch = Buffer.allocUnsafe(65536);
      try {
        while (this.readInto(scratch) > 0);
      } catch (error) {
        if (!(error instanceof FcgiError)) throw error;
      }
    }
    process.exitCode = this.#exitCode;
    return undefined;
  }
}
