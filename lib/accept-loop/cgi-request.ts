// The one request of an accept loop run as plain CGI: the process environment, real stdin, stdout and stderr, read and
// written synchronously as the accept loop's requests are (lib/cgi/cgi-stdio.ts does the I/O).
import { CgiStdio, stderrFd, stdoutFd } from '../cgi/cgi-stdio';
import type { FcgiError } from '../addon/errors';
import type { Params } from '../request/params';
import { Request, type Role } from './request';

export class CgiRequest extends Request {
  readonly #stdio = new CgiStdio();
  readonly params: Params = this.#stdio.params;
  readonly role: Role = 'responder';
  readonly requestId = 0;
  readonly keepConn = false;
  readonly isCGI = true;
  #exitCode = 0;

  protected readInto(buffer: Buffer): number {
    let count = 0;
    while (count < buffer.length) {
      const got = this.#stdio.readSync(buffer.subarray(count));
      if (got === 0) break;
      count += got;
    }
    return count;
  }

  protected writeOutput(chunk: string | Uint8Array, toStderr: boolean): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.#stdio.writeSync(toStderr ? stderrFd : stdoutFd, bytes, toStderr ? 'writeStderr' : 'write');
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
    this.#stdio.drainBodySync();
    process.exitCode = this.#exitCode;
    return undefined;
  }
}
