// What createServer() and server.listen() take: their options, resolved and checked, and listen()'s signatures.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LifecycleOptions } from '../lifecycle/options';
import { type RequestLimits, resolveLimits } from '../request/limits';
import { addressList, type AdmissionOptions, type SocketOptions } from '../serving/socket';
import { defaultSlowRequestMs } from './request-activity';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => unknown;

export interface ServerOptions extends RequestLimits, LifecycleOptions, AdmissionOptions {
  /**
   * How many requests may be in flight at once; beyond it, new connections wait in the listen queue. Default Infinity
   * (no limit, as node:http).
   */
  concurrency?: number;
  /** As node:http's: join every repeated request header with ', ' instead of keeping the first of some. Default false. */
  joinDuplicateHeaders?: boolean;
  /**
   * A request still running after this many milliseconds gets one line on stderr (the app log under init's launcher)
   * with its method, URL and age, as PHP-FPM's request_slowlog_timeout. Default 0 (none); logSlowRequests() of
   * libfcgi/launch, which init's launcher calls with 5000, sets the default.
   */
  slowRequestMs?: number;
  /**
   * The user ids a process connecting over a Unix socket may run as (SO_PEERCRED): the web server's, so that no other
   * local user reaches the app through a socket others can open. A connection from another user is closed before it
   * is read and reported as a clientError (EACCES). Default: any user the socket's permissions let in.
   */
  webServerUids?: readonly number[];
}

/** Where to listen, and lifecycle options that override createServer()'s for this listen(). */
export interface ListenOptions extends SocketOptions, LifecycleOptions {
  /** An already listening socket; 0 is what web servers that spawn apps pass. */
  fd?: number;
}

/** node:http's listen() signatures: (), (port[, host][, backlog]), (path), (options), each with a callback last. */
export function parseListenArguments(args: unknown[]): { options: ListenOptions; callback: (() => void) | undefined } {
  const callback = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
  const [first, second, third] = args;
  if (first === undefined || first === null) return { options: {}, callback };
  if (typeof first === 'object') return { options: first as ListenOptions, callback };
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { options: { path: first }, callback };
  const options: ListenOptions = { port: Number(first) };
  if (typeof second === 'string') options.host = second;
  if (typeof second === 'number') options.backlog = second;
  if (typeof third === 'number') options.backlog = third;
  return { options, callback };
}

/** The server's own options with their defaults, checked (the lifecycle's are resolved at listen()). */
export function resolveServerOptions(options: ServerOptions): {
  concurrency: number;
  joinDuplicateHeaders: boolean;
  limits: Required<RequestLimits>;
  webServerAddrs: string;
  webServerUids: readonly number[];
  slowRequestMs: number;
} {
  const concurrency = options.concurrency ?? Infinity;
  if (!(Number.isInteger(concurrency) || concurrency === Infinity) || concurrency < 1)
    throw new TypeError('concurrency must be a positive integer or Infinity');
  const uids = options.webServerUids ?? [];
  if (!Array.isArray(uids) || !uids.every((uid) => Number.isInteger(uid) && uid >= 0 && uid <= 0xffffffff)) {
    throw new TypeError('webServerUids must be an array of user ids (whole numbers from 0)');
  }
  const slowRequestMs = options.slowRequestMs ?? defaultSlowRequestMs();
  if (!(slowRequestMs >= 0)) throw new TypeError('slowRequestMs must be a number of milliseconds, 0 for none');
  return {
    concurrency,
    joinDuplicateHeaders: options.joinDuplicateHeaders === true,
    limits: resolveLimits(options),
    webServerAddrs: addressList(options.webServerAddrs),
    webServerUids: [...uids],
    slowRequestMs,
  };
}
