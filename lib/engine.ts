// The asynchronous engine: worker threads in the addon accept and do all blocking I/O (started as requests need them,
// up to `concurrency`); this file keeps each request's pending callbacks and turns the addon's dispatch calls into them.
import type { FcgiError } from './errors';
import type { RequestLimits } from './limits';
import { native, type NativeAsyncRequest } from './native';
import { paramsFromPairs, type Params } from './params';

const Dispatch = { request: 0, read: 1, write: 2, startData: 3, aborted: 4, exited: 5, refused: 6 } as const;

function toError(syscall: string, code: number): FcgiError {
  return native.errorFor(syscall, code);
}

export type ReadCallback = (error: FcgiError | null, chunk: Buffer | null) => void;
export type DoneCallback = (error: FcgiError | null) => void;

/** What the HTTP layer needs of a request: its facts, and ordered asynchronous I/O. */
export interface RequestIO {
  readonly role: number;
  readonly requestId: number;
  readonly keepConn: boolean;
  readonly params: Params;
  /** The parameters in the order they came: name, value, name, value… */
  readonly pairs: readonly string[];
  aborted: boolean;
  onAbort: (() => void) | null;
  read(size: number, callback: ReadCallback): void;
  write(chunk: string | Uint8Array | null, end: boolean, exitStatus: number, callback: DoneCallback): void;
  writeStderr(chunk: string | Uint8Array, callback: DoneCallback): void;
  startData(callback: DoneCallback): void;
}

/** One request in flight on a worker thread. Orders are carried out in the order given. */
export class EngineRequest implements RequestIO {
  readonly role: number;
  readonly requestId: number;
  readonly keepConn: boolean;
  /** The parameters as the addon delivered them: name, value, name, value… */
  readonly pairs: string[];
  #params: Params | null = null;
  /** Called once if the web server gives up on the request (FCGI_ABORT_REQUEST or a closed connection). */
  onAbort: (() => void) | null = null;
  aborted = false;
  finished = false;
  readonly #native: NativeAsyncRequest;
  readonly #reads: ReadCallback[] = [];
  readonly #writes: DoneCallback[] = [];
  readonly #dataStarts: DoneCallback[] = [];

  constructor(handle: NativeAsyncRequest, role: number, requestId: number, keepConn: boolean, params: string[]) {
    this.#native = handle;
    this.role = role;
    this.requestId = requestId;
    this.keepConn = keepConn;
    this.pairs = params;
  }

  /** Built on first use: the HTTP layer reads headers straight from the pairs. */
  get params(): Params {
    return (this.#params ??= paramsFromPairs(this.pairs));
  }

  /** Reads what has arrived of FCGI_STDIN (FCGI_DATA after startData), at most size bytes; null at the end. */
  read(size: number, callback: ReadCallback): void {
    this.#reads.push(callback);
    this.#native.read(size);
  }

  /** Writes to FCGI_STDOUT; with end, then sends FCGI_END_REQUEST with exitStatus and ends the request. */
  write(chunk: string | Uint8Array | null, end: boolean, exitStatus: number, callback: DoneCallback): void {
    if (this.finished) throw new Error('write after the request was finished');
    this.#writes.push(callback);
    if (end) this.finished = true;
    this.#native.write(chunk, end, exitStatus);
  }

  writeStderr(chunk: string | Uint8Array, callback: DoneCallback): void {
    if (this.finished) throw new Error('writeStderr after the request was finished');
    this.#writes.push(callback);
    this.#native.writeStderr(chunk);
  }

  /** For the filter role: skips the rest of FCGI_STDIN; reads then return FCGI_DATA. */
  startData(callback: DoneCallback): void {
    this.#dataStarts.push(callback);
    this.#native.startData();
  }

  /** @internal */
  settle(kind: number, code: number, payload: unknown): void {
    if (kind === Dispatch.read) {
      this.#reads.shift()?.(code === 0 ? null : toError('read', code), (payload as Buffer | null) ?? null);
    } else if (kind === Dispatch.write) {
      this.#writes.shift()?.(code === 0 ? null : toError('write', code));
    } else if (kind === Dispatch.startData) {
      this.#dataStarts.shift()?.(code === 0 ? null : toError('startData', code));
    } else if (kind === Dispatch.aborted && !this.aborted) {
      this.aborted = true;
      this.onAbort?.();
    }
  }
}

export interface EngineOptions {
  fd: number;
  webServerAddrs: string;
  /**
   * How many requests may be in flight at once, one worker thread each. Threads start as requests need them: one waits
   * for connections, and another starts when it takes one, so a process given one request at a time has two.
   */
  concurrency: number;
  limits: Required<RequestLimits>;
  onRequest: (request: EngineRequest) => void;
  /** A request the record guard refused and answered before it began (too large, too slow, not FastCGI). */
  onRefused: (error: FcgiError) => void;
  onClose: () => void;
}

const requestsByHandle = new WeakMap<NativeAsyncRequest, EngineRequest>();

export class Engine {
  readonly #native: InstanceType<typeof native.AsyncServer>;
  #closing = false;

  constructor(options: EngineOptions) {
    const dispatch = (kind: number, handle: NativeAsyncRequest | undefined, code: number, payload: unknown): void => {
      if (kind === Dispatch.exited) {
        options.onClose();
        return;
      }
      if (kind === Dispatch.refused) {
        options.onRefused(native.errorFor('accept', code, payload as string));
        return;
      }
      if (handle === undefined) return;
      if (kind === Dispatch.request) {
        const [role, requestId, keepConn, params] = payload as [number, number, boolean, string[]];
        const request = new EngineRequest(handle, role, requestId, keepConn, params);
        requestsByHandle.set(handle, request);
        options.onRequest(request);
        return;
      }
      requestsByHandle.get(handle)?.settle(kind, code, payload);
    };
    this.#native = new native.AsyncServer(
      options.fd,
      options.webServerAddrs,
      options.concurrency,
      options.limits,
      dispatch,
    );
  }

  start(): void {
    this.#native.start();
  }

  /** Stops accepting; in-flight requests go on. onClose runs once every worker has exited. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#native.close();
  }

  ref(): void {
    this.#native.ref();
  }

  unref(): void {
    this.#native.unref();
  }
}
