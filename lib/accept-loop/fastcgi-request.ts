// A request that came over a FastCGI connection: the Request calls mapped onto the native libfcgi request.
import type { FcgiError } from '../addon/errors';
import type { AcceptedRequest, NativeAcceptLoop } from '../addon/native';
import { pairsOf, unpackFacts } from '../request/packed-params';
import { paramsFromPairs, type Params } from '../request/params';
import { Request, roleName, type Role } from './request';

export class FastCgiRequest extends Request {
  readonly params: Params;
  readonly role: Role;
  readonly requestId: number;
  readonly keepConn: boolean;
  readonly isCGI = false;
  readonly #handle: NativeAcceptLoop;

  constructor(handle: NativeAcceptLoop, accepted: AcceptedRequest) {
    super();
    this.#handle = handle;
    const { role, requestId, keepConn } = unpackFacts(accepted.facts);
    this.params = paramsFromPairs(pairsOf(accepted.rest)); // the accept loop asks for none eager: all are here
    this.role = roleName(role);
    this.requestId = requestId;
    this.keepConn = keepConn;
  }

  protected readInto(buffer: Buffer): number {
    return this.#handle.read(buffer, 0, buffer.length);
  }

  protected writeOutput(chunk: string | Uint8Array, toStderr: boolean): void {
    if (toStderr) this.#handle.writeStderr(chunk);
    else this.#handle.write(chunk);
  }

  protected flushOutput(): void {
    this.#handle.flush();
  }

  protected sendExitStatus(status: number): void {
    this.#handle.setExitStatus(status);
  }

  protected beginFilterData(): void {
    this.#handle.startFilterData();
  }

  protected end(): FcgiError | undefined {
    return this.#handle.finish();
  }
}
