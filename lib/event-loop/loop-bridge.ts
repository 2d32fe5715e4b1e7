// The bridge to the event-loop server: the addon accepts connections and serves them on Node's own event loop, with
// libfcgi as the codec (native/event_loop/loop_server.h); this file gives each request its ordered, callback-style I/O
// (RequestIO) over the addon's serial-numbered calls, and turns the addon's dispatch calls (messages.ts) into those
// callbacks.
import type { FcgiError } from '../addon/errors';
import type { RequestLimits } from '../request/limits';
import { native, type NativeLoopServer } from '../addon/native';
import { paramsFromPairs, type Params } from '../request/params';
import { eagerParams } from '../cgi/cgi-head';
import type { DoneCallback, ReadCallback, RequestIO } from '../request/request-io';
import { Dispatch } from './messages';
import { knownParamNames, pairsOf, unpackFacts } from '../request/packed-params';
import { RequestTable } from './request-table';

function toError(syscall: string, code: number): FcgiError {
  return native().errorFor(syscall, code);
}

/**
 * One request in flight. The addon answers at once when it can (bytes already here, output taken); callbacks still
 * run on a later tick, as a socket's do, and in the order the calls were made.
 */
export class LoopRequest implements RequestIO {
  readonly role: number;
  readonly requestId: number;
  readonly keepConn: boolean;
  /** The parameters the HTTP layer reads (cgi-head.ts eagerParams) as they came: name, value, name, value… */
  readonly pairs: string[];
  /** The other parameters, as the addon packed them (lib/request/packed-params.ts): split only if the app asks for all. */
  readonly #rest: string;
  #params: Params | null = null;
  /** Called once if the web server gives up on the request (FCGI_ABORT_REQUEST or a closed connection). */
  onAbort: (() => void) | null = null;
  aborted = false;
  finished = false;
  readonly #server: NativeLoopServer;
  /** The addon's number for the request. */
  readonly serial: number;
  #read: { size: number; callback: ReadCallback } | null = null;
  /** Writes whose output waits for the socket, oldest first. */
  #writes: DoneCallback[] = [];
  #dataStart: DoneCallback | null = null;
  readonly #onFinished: (request: LoopRequest) => void;

  constructor(
    server: NativeLoopServer,
    serial: number,
    facts: number,
    eager: string,
    rest: string,
    onFinished: (request: LoopRequest) => void,
  ) {
    this.#server = server;
    this.serial = serial;
    this.#onFinished = onFinished;
    ({ role: this.role, keepConn: this.keepConn, requestId: this.requestId } = unpackFacts(facts));
    this.pairs = pairsOf(eager);
    this.#rest = rest;
  }

  /** Built on first use: the HTTP layer reads headers straight from the pairs. */
  get params(): Params {
    return (this.#params ??= paramsFromPairs(this.pairs.concat(pairsOf(this.#rest))));
  }

  /** Reads what has arrived of FCGI_STDIN (FCGI_DATA after startData), at most size bytes; null at the end. */
  read(size: number, callback: ReadCallback): void {
    const result = this.#server.read(this.serial, size);
    if (result === undefined) {
      this.#read = { size, callback };
    } else if (typeof result === 'number') {
      process.nextTick(callback, toError('read', result), null);
    } else {
      process.nextTick(callback, null, result);
    }
  }

  /** Writes to FCGI_STDOUT; with end, then sends FCGI_END_REQUEST with exitStatus and ends the request. */
  write(chunk: string | Uint8Array | null, end: boolean, exitStatus: number, callback: DoneCallback): void {
    if (this.finished) throw new Error('write after the request was finished');
    if (end) this.finished = true;
    this.#settleWrite(this.#server.write(this.serial, chunk, end, exitStatus), 'write', callback, end);
    if (end) this.#onFinished(this); // the addon has forgotten the serial: nothing more comes for it
  }

  writeStderr(chunk: string | Uint8Array, callback: DoneCallback): void {
    if (this.finished) throw new Error('writeStderr after the request was finished');
    this.#settleWrite(this.#server.writeStderr(this.serial, chunk), 'writeStderr', callback, false);
  }

  /** For the filter role: skips the rest of FCGI_STDIN; reads then return FCGI_DATA. */
  startData(callback: DoneCallback): void {
    const code = this.#server.startData(this.serial);
    if (code === undefined) this.#dataStart = callback;
    else process.nextTick(callback, code === 0 ? null : toError('startData', code));
  }

  #settleWrite(result: boolean | number, syscall: string, callback: DoneCallback, end: boolean): void {
    if (result === false && !end) {
      this.#writes.push(callback);
      return;
    }
    // Taken (or failed): the writes still waiting went out before it.
    const waiting = this.#writes;
    this.#writes = [];
    const error = typeof result === 'number' ? toError(syscall, result) : null;
    process.nextTick(() => {
      for (const earlier of waiting) earlier(null);
      callback(error);
    });
  }

  /** @internal */
  settle(kind: number, code: number): void {
    if (kind === Dispatch.readable) {
      const pending = this.#read;
      this.#read = null;
      if (pending) this.read(pending.size, pending.callback);
    } else if (kind === Dispatch.drained) {
      for (const callback of this.#writes.splice(0)) callback(null);
    } else if (kind === Dispatch.startData) {
      const callback = this.#dataStart;
      this.#dataStart = null;
      callback?.(code === 0 ? null : toError('startData', code));
    } else if (kind === Dispatch.aborted && !this.aborted) {
      this.aborted = true;
      this.onAbort?.();
    }
  }
}

export interface LoopBridgeOptions {
  fd: number;
  webServerAddrs: string;
  /** The user ids a Unix peer may run as; empty for any. */
  webServerUids: readonly number[];
  /** How many requests may be in flight at once before new connections wait; Infinity for no limit. */
  concurrency: number;
  limits: Required<RequestLimits>;
  onRequest: (request: LoopRequest) => void;
  /** A request the record guard refused and answered before it began (too large, too slow, not FastCGI). */
  onRefused: (error: FcgiError) => void;
  onClose: () => void;
}

export class LoopBridge {
  readonly #native: NativeLoopServer;
  readonly #requests = new RequestTable<LoopRequest>();
  #closing = false;

  constructor(options: LoopBridgeOptions) {
    const forget = (request: LoopRequest): void => this.#requests.delete(request);
    const dispatch = (kind: number, serial: number, code: number, payload: unknown, rest: unknown): void => {
      if (kind === Dispatch.request) {
        const request = new LoopRequest(this.#native, serial, code, payload as string, rest as string, forget);
        this.#requests.add(request);
        options.onRequest(request);
      } else if (kind === Dispatch.closed) {
        options.onClose();
      } else if (kind === Dispatch.refused) {
        options.onRefused(native().errorFor('accept', code, payload as string));
      } else {
        this.#requests.get(serial)?.settle(kind, code);
      }
    };
    const maxInFlight = Number.isFinite(options.concurrency) ? options.concurrency : 0;
    knownParamNames(); // made once, before the first request
    this.#native = new (native().LoopServer)(
      options.fd,
      options.webServerAddrs,
      maxInFlight,
      options.limits,
      eagerParams,
      dispatch,
      options.webServerUids,
    );
  }

  start(): void {
    this.#native.start();
  }

  /** Serves a connection accepted elsewhere (lib/serving/cluster-socket.ts); the caller closes its own fd. */
  adopt(fd: number): void {
    this.#native.adopt(fd);
  }

  /** Stops accepting and closes idle connections; requests in flight finish. onClose runs once all are gone. */
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
