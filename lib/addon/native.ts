// The typed contract of the C++ addon (native/), loaded once, when first used.
import { loadAddon } from './addon-binary';
import { FcgiError } from './errors';

/** The record guard's limits, resolved (lib/request/limits.ts gives them with node:http's names and defaults). */
export interface GuardLimits {
  maxParamsSize: number;
  headersTimeout: number;
  requestTimeout: number;
}

/** Which parameters the addon copies into a request's eager string: known names, and any name with the prefix. */
export interface EagerParams {
  names: readonly string[];
  prefix: string;
}

/** A request as the accept loop's accept() copies it (native/params/param_copy.h; lib/request/packed-params.ts). */
export interface AcceptedRequest {
  facts: number;
  eager: string;
  rest: string;
}

/**
 * How an accept loop's wait ended without a request: idleMs passed, the parent (when not 0) is no longer parentPid,
 * or SIGTERM arrived (after watchStopSignal).
 */
export const waitEnds = ['timedOut', 'parentExited', 'SIGTERM'] as const;
export type WaitEnd = (typeof waitEnds)[number];

export interface NativeAcceptLoop {
  /** The next request, or how the wait ended without one. */
  accept(idleMs: number, parentPid: number): AcceptedRequest | WaitEnd;
  read(buffer: Uint8Array, offset: number, length: number): number;
  write(chunk: string | Uint8Array): void;
  writeStderr(chunk: string | Uint8Array): void;
  flush(): void;
  setExitStatus(status: number): void;
  startFilterData(): void;
  /** Returns the error the request met, if any; a finished request cannot fail any more. */
  finish(): FcgiError | undefined;
  close(): void;
}

/**
 * (kind, serial, code, payload, rest): see native/event_loop/loop_server.h LoopDispatch. rest: a request's parameters
 * besides the eager ones (lib/request/packed-params.ts); undefined for other kinds.
 */
export type DispatchCallback = (kind: number, serial: number, code: number, payload: unknown, rest: unknown) => void;

/** The event-loop server (native/event_loop/loop_server.h): requests are named by serial numbers; results are values, or error codes as numbers. */
export interface NativeLoopServer {
  start(): void;
  close(): void;
  ref(): void;
  unref(): void;
  /** A Buffer, null at the end, undefined for "not yet" (then a readable dispatch), or an error code. */
  read(serial: number, size: number): Buffer | null | undefined | number;
  /** true; false for "wait for the drained dispatch"; or an error code. */
  write(serial: number, chunk: string | Uint8Array | null, end: boolean, exitStatus: number): boolean | number;
  writeStderr(serial: number, chunk: string | Uint8Array): boolean | number;
  /** 0, undefined for "not yet" (then a startData dispatch with the code), or an error code. */
  startData(serial: number): number | undefined;
  /** Serves a connection another listener accepted (a node:cluster primary's): takes a duplicate of fd. */
  adopt(fd: number): void;
}

/**
 * (kind, id, value, why): 0 relay id handed over the listening socket value (an fd, the receiver's to close); 1 relay
 * id's connection closed; 2 a connection was refused, value the peer's uid or -1, why the reason.
 */
export type RelayDispatchCallback = (kind: number, id: number, value: number, why: string | undefined) => void;

export interface NativeRelayListener {
  /** Stops accepting relays and closes their connections. */
  close(): void;
  /** Accepts relays on this listening socket from now on, closing the one it had; connected relays stay. */
  listen(listenFd: number): void;
}

export interface ScanVerdict {
  /** What libfcgi would be shown. */
  shown: Buffer;
  consumed: number;
  /** The records the scanner owes the peer (GET_VALUES_RESULT, UNKNOWN_TYPE). */
  replies: Buffer;
  violation: 'unsupportedVersion' | 'paramsTooLarge' | null;
  message: string;
  requestId: number;
  paramsEnded: boolean;
  inputEnded: boolean;
  abortSeen: boolean;
  /** Whether the bytes left unconsumed begin with FCGI_ABORT_REQUEST for the request. */
  abortFollows: boolean;
  heldHeaderBytes: number;
}

export interface NativeAddon {
  setErrorClass(errorClass: typeof FcgiError): void;
  listenTcp(host: string, port: number, backlog: number, reusePort?: boolean): { fd: number; port: number };
  /** seqpacket: a SOCK_SEQPACKET socket, as relays' control socket is (native/relay/relay_listener.h). */
  listenUnix(path: string, backlog: number, seqpacket?: boolean): number;
  isListeningSocket(fd: number): boolean;
  /** The path a Unix socket is bound to; null for another kind of socket, an unnamed or an abstract one. */
  unixSocketPath(fd: number): string | null;
  closeFd(fd: number): void;
  /** The process environment as name, value… latin1 strings. */
  environ(): string[];
  /**
   * execve(file, args, env) after marking every fd above 2 close-on-exec: the process becomes a new image with the same
   * pid and fds 0 to 2. Returns only by throwing an FcgiError (syscall 'execve').
   */
  replaceProcess(file: string, args: string[], env: string[]): never;
  /** dup2(from, to): fd `to` refers to what `from` does from now on. */
  dup2(from: number, to: number): void;
  /** Takes SIGTERM for the synchronous loop (native/accept_loop/stop_signal.h); only when no JS listener wants it. */
  watchStopSignal(graceMs: number): void;
  AcceptLoop: new (
    listenFd: number,
    webServerAddrs: string,
    limits: GuardLimits,
    eagerParams: EagerParams,
  ) => NativeAcceptLoop;
  /** maxInFlight: requests in flight before new connections wait; 0 for no limit (not lifecycle's maxRequests). */
  LoopServer: new (
    listenFd: number,
    webServerAddrs: string,
    maxInFlight: number,
    limits: GuardLimits,
    /** The parameters sent in the request's eager string; the rest come apart. */
    eagerParams: EagerParams,
    dispatch: DispatchCallback,
    /** The user ids a Unix peer may run as (SO_PEERCRED); empty for any. Others are refused (Dispatch.refused). */
    webServerUids: readonly number[],
  ) => NativeLoopServer;
  /** Takes relays' sockets on a listening control socket (native/relay/relay_listener.h); owns listenFd. */
  RelayListener: new (listenFd: number, dispatch: RelayDispatchCallback) => NativeRelayListener;
  /** The parameter names the event-loop server sends as numbers (native/params/param_names.h). */
  knownParamNames: string[];
  /** The record scanner's verdict on bytes (native/protocol/record_scanner.h), for its byte-table tests only. */
  scanRecords(bytes: Uint8Array, maxParamsSize: number, maxConns: number, stopAtInputEnd: boolean): ScanVerdict;
  /** The FcgiError for a result code (errno or FCGX_*), as the addon names it; detail replaces the description. */
  errorFor(syscall: string, code: number, detail?: string): FcgiError;
}

let loaded: NativeAddon | undefined;

/**
 * The addon, loaded on first use (addon-binary.ts finds it), so that what needs none (adopt off a web server, the
 * CLI's help and init) runs where no addon fits. Throws the FcgiError that says why it does not load.
 */
export function native(): NativeAddon {
  if (loaded === undefined) {
    const addon = loadAddon() as NativeAddon;
    addon.setErrorClass(FcgiError);
    loaded = addon;
  }
  return loaded;
}
