// createServer(): the node:http-style server over the event-loop server (lib/event-loop). Requests are served concurrently on Node's
// own event loop; handlers get node:http's own IncomingMessage and ServerResponse.
import { EventEmitter } from 'node:events';
import { unlinkSync } from 'node:fs';
import { STATUS_CODES, type IncomingMessage, ServerResponse } from 'node:http';
import { isIP, type Server as NetServer } from 'node:net';
import { CgiIO } from '../cgi/cgi-io';
import { LoopBridge } from '../event-loop/loop-bridge';
import type { RequestIO } from '../request/request-io';
import { createRequest, createResponse, reportWritesAfterEnd, responseFinished, socketClosed } from './http-message';
import {
  parseListenArguments,
  type ListenOptions,
  type RequestListener,
  resolveServerOptions,
  type ServerOptions,
} from './options';
import { requestIterator } from './request-iterator';
import type { FcgiSocket } from './http-socket';
import { runInRequest } from './request-context';
import type { FcgiError } from '../addon/errors';
import { type LifecycleOptions, lifecycleOptionsIn, resolveLifecycle } from '../lifecycle/options';
import { ServerLifecycle } from '../lifecycle/server-lifecycle';
import { type RequestLimits, reportRefusal } from '../request/limits';
import { FCGI_LISTENSOCK_FILENO, openSocket } from '../serving/socket';
import { native } from '../addon/native';
import { listenShared } from '../serving/cluster-socket';
import { servingSource } from '../serving/source';
import { reportStartedIfChecking } from '../restart/start-check';
import { releaseNodeName } from '../relay/control-socket';
import { type DirectAdmission, RelayedServing } from '../relay/relayed-serving';
import { RequestActivity } from './request-activity';

export type { ListenOptions, RequestListener, ServerOptions } from './options';

type Address = { address: string; family: string; port: number } | string | null;

/**
 * A FastCGI server with node:http's interface. Events: 'request' (req, res), 'listening', 'close', 'error',
 * 'handlerError' (error, req, res) when a request handler throws or rejects, or a response is misused, and
 * 'clientError' (error) when a request was refused before it began (see RequestLimits; without a listener, a line on
 * stderr). It stops by itself, finishing the requests in flight and exiting the process, as LifecycleOptions say.
 */
export class Server extends EventEmitter {
  listening = false;
  /**
   * As node:http's server.timeout: milliseconds a request may go without activity (the response writing, the body
   * being read) before 'timeout'; 0, the default, never. See setTimeout().
   */
  timeout = 0;
  readonly #concurrency: number;
  readonly #joinDuplicateHeaders: boolean;
  readonly #webServerAddrs: string;
  readonly #webServerUids: readonly number[];
  readonly #limits: Required<RequestLimits>;
  readonly #lifecycleOptions: LifecycleOptions;
  #lifecycle: ServerLifecycle | null = null;
  /** One loop per listening socket: one, or each that systemd passed. */
  #loops: LoopBridge[] = [];
  /** Started by fcgi-relay (lib/relay): the relays' sockets and the web server's direct path. */
  #relayed: RelayedServing | null = null;
  #fd = -1;
  #ownsFd = false;
  /** The sockets systemd passed (lib/serving/socket.ts), when it started the process. */
  #activated: number[] = [];
  #path: string | undefined;
  #address: Address = null;
  #closing = false;
  readonly #slowRequestMs: number;
  /** What requests are doing, where someone asks (slowRequestMs, `libfcgi status` under relays); else null. */
  #activity: RequestActivity | null = null;
  /** In a node:cluster worker: node:net's server over the primary's socket, which hands connections over. */
  #shared: NetServer | null = null;

  constructor(options: ServerOptions = {}, listener?: RequestListener) {
    super();
    ({
      concurrency: this.#concurrency,
      joinDuplicateHeaders: this.#joinDuplicateHeaders,
      limits: this.#limits,
      webServerAddrs: this.#webServerAddrs,
      webServerUids: this.#webServerUids,
      slowRequestMs: this.#slowRequestMs,
    } = resolveServerOptions(options));
    resolveLifecycle(options, false); // validated now; applied at listen(), which knows whether fd 0 is served
    this.#lifecycleOptions = options;
    if (this.#slowRequestMs > 0) this.#activity = new RequestActivity(this.#slowRequestMs);
    if (listener) this.on('request', listener);
  }

  /**
   * listen() takes the socket a web server passed on fd 0 (or, when fd 0 is not a listening socket, serves the one
   * CGI request); listen(port[, host]), listen(path) or listen({ port, host, path, fd, backlog }) open one.
   */
  listen(...args: unknown[]): this {
    const { options, callback } = parseListenArguments(args);
    if (callback) this.once('listening', callback);
    if (this.listening) throw new Error('listen: the server is already listening');
    reportStartedIfChecking();
    let listeningNow: boolean;
    try {
      listeningNow = this.#open(options);
    } catch (error) {
      process.nextTick(() => this.emit('error', error));
      return this;
    }
    this.listening = true;
    if (listeningNow) process.nextTick(() => this.emit('listening'));
    return this;
  }

  /** Stops accepting; requests in flight finish; then 'close'. */
  close(callback?: (error?: Error) => void): this {
    if (!this.listening || this.#closing) {
      if (callback) {
        const error = Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' });
        process.nextTick(callback, error);
      }
      return this;
    }
    if (callback) this.once('close', callback);
    this.#closing = true;
    this.#shared?.close(); // the primary hands this worker no more connections
    for (const loop of this.#loops) loop.close();
    this.#relayed?.close(); // new requests go through the relays, to whichever process serves next
    return this;
  }

  /**
   * As node:http's: sets `timeout`, and listens for 'timeout' (socket), emitted when a request has been idle that
   * long. A timeout that nothing listens for (on the server, the request or the response) ends the request.
   */
  setTimeout(ms = 0, callback?: (socket: FcgiSocket) => void): this {
    this.timeout = ms;
    if (callback) this.on('timeout', callback);
    return this;
  }

  address(): Address {
    return this.#address;
  }

  /** Whether waiting for requests keeps the process alive (it does by default, as with net.Server). */
  ref(): this {
    for (const loop of this.#loops) loop.ref();
    this.#shared?.ref();
    this.#relayed?.ref();
    return this;
  }

  unref(): this {
    for (const loop of this.#loops) loop.unref();
    this.#shared?.unref();
    this.#relayed?.unref();
    return this;
  }

  /** `for await (const { req, res } of server)`: the requests, until the server closes. */
  [Symbol.asyncIterator](): AsyncIterableIterator<{ req: IncomingMessage; res: ServerResponse }> {
    return requestIterator(this);
  }

  /** Opens where requests come from; true when it listens already, false when 'listening' is emitted later. */
  #open(options: ListenOptions): boolean {
    const lifecycleOptions = { ...this.#lifecycleOptions, ...lifecycleOptionsIn(options) };
    resolveLifecycle(lifecycleOptions, false); // validated before any socket is opened
    const source = servingSource(options, true);
    switch (source.kind) {
      case 'clusterPrimary':
        this.#openShared(options, lifecycleOptions);
        return false;
      case 'relay':
        this.#openRelayed(source.controlSocket, lifecycleOptions);
        return true;
      case 'cgi':
        this.#serveCgi();
        return true;
      case 'ownSocket':
        this.#openOwnSocket(options);
        break;
      case 'systemd':
        this.#activated = source.fds; // socket activation: the .socket unit's, not the web server's
        this.#fd = source.fds[0] as number;
        break;
      case 'fd':
        this.#fd = source.fd;
    }
    this.#lifecycle = new ServerLifecycle(
      resolveLifecycle(lifecycleOptions, this.#fd === FCGI_LISTENSOCK_FILENO),
      (then) => this.close(then),
    );
    this.#lifecycle.start();
    const fds = this.#activated.length > 0 ? this.#activated : [this.#fd];
    let open = fds.length;
    this.#loops = fds.map((fd) =>
      this.#newLoop(fd, () => {
        if (--open === 0) this.#closed();
      }),
    );
    for (const loop of this.#loops) loop.start();
    return true;
  }

  #openOwnSocket(options: ListenOptions): void {
    const opened = openSocket(options);
    this.#fd = opened.fd;
    this.#ownsFd = true;
    this.#path = opened.path;
    this.#address =
      opened.host !== undefined && opened.port !== undefined
        ? { address: opened.host, family: isIP(opened.host) === 6 ? 'IPv6' : 'IPv4', port: opened.port }
        : (opened.path ?? null);
  }

  /**
   * In a node:cluster worker (lib/serving/cluster-socket.ts): one loop with no listener of its own serves the connections the
   * primary hands over. 'listening', the address and a failure to listen come from node:net.
   */
  #openShared(options: ListenOptions, lifecycleOptions: LifecycleOptions): void {
    this.#lifecycle = new ServerLifecycle(resolveLifecycle(lifecycleOptions, false), (then) => this.close(then));
    this.#lifecycle.start();
    let failed = false;
    const loop = this.#newLoop(-1, () => {
      if (!failed) this.#closed();
    });
    this.#loops = [loop];
    loop.start();
    this.#shared = listenShared(options, {
      connection: (fd) => {
        try {
          loop.adopt(fd);
        } catch (error) {
          this.#refused(error as FcgiError); // out of descriptors, say: that connection only
        }
      },
      listening: (address) => {
        this.#address = address;
        this.emit('listening');
      },
      error: (error) => {
        // As net.Server: a listen that failed leaves the server not listening (listen() may be called again) and
        // emits 'error' only. No connection came, so the loop closes at once.
        failed = true;
        this.#lifecycle?.dispose();
        this.#lifecycle = null;
        this.#shared = null;
        this.#loops = [];
        this.listening = false;
        loop.close();
        this.emit('error', error);
      },
    });
  }

  /**
   * Started by a relay (lib/relay): serves the listening socket of every relay the web server spawned, and stops when
   * none is left. Redeploys, maxRequests and crashes end the process; the relays start the next one.
   */
  #openRelayed(controlSocket: string, lifecycleOptions: LifecycleOptions): void {
    const lifecycle = new ServerLifecycle(
      resolveLifecycle({ watchScript: true, ...lifecycleOptions }, false),
      (then) => {
        releaseNodeName(controlSocket);
        this.close(then);
      },
    );
    this.#lifecycle = lifecycle;
    lifecycle.start();
    this.#activity ??= new RequestActivity(this.#slowRequestMs);
    const activity = this.#activity;
    this.#relayed = new RelayedServing(controlSocket, {
      serve: (fd, onClose, direct) => {
        const loop = this.#newLoop(fd, onClose, direct);
        loop.start();
        return loop;
      },
      snapshot: () => activity.snapshot(),
      stop: () => lifecycle.stopWith('relaysGone'),
      closed: () => this.#closed(),
    });
  }

  /** Serves a listening socket; `direct`: the web server's direct path under relays, with its own admission. */
  #newLoop(fd: number, onClose: () => void, direct?: DirectAdmission): LoopBridge {
    return new LoopBridge({
      fd,
      webServerAddrs: direct === undefined ? this.#webServerAddrs : '',
      webServerUids: direct?.webServerUids ?? this.#webServerUids,
      concurrency: this.#concurrency,
      limits: this.#limits,
      onRequest:
        direct === undefined
          ? (io) => this.#serve(io)
          : (io) => {
              direct.onRequest();
              this.#serve(io);
            },
      onRefused: (error) => this.#refused(error),
      onClose,
    });
  }

  #refused(error: FcgiError): void {
    if (this.listenerCount('clientError') > 0) this.emit('clientError', error);
    else reportRefusal(error);
  }

  /** Started as plain CGI: the one request, then the server closes. */
  #serveCgi(): void {
    const io = new CgiIO((exitStatus) => {
      if (exitStatus !== 0) process.exitCode = exitStatus;
      this.#closed();
    });
    process.nextTick(() => this.#serve(io));
  }

  #closed(): void {
    if (this.#ownsFd) native().closeFd(this.#fd);
    if (this.#path !== undefined) {
      try {
        unlinkSync(this.#path); // as net.Server does for its Unix socket
      } catch {
        // already gone
      }
    }
    this.#lifecycle?.dispose();
    this.#lifecycle = null;
    this.#activity?.dispose();
    this.#shared = null;
    this.#loops = [];
    this.#activated = [];
    this.#relayed = null;
    this.listening = false;
    this.#closing = false;
    this.emit('close');
  }

  #serve(io: RequestIO): void {
    this.#lifecycle?.requestArrived();
    const { req, socket, expect } = createRequest(io, this.#joinDuplicateHeaders);
    // Before the response's own 'close' listener, so that req hears of a lost connection first, as on node:http.
    socket.onClose = socketClosed;
    const res = createResponse(req, socket);
    this.#activity?.began(req, socket);
    res.on('finish', responseFinished);
    res.on('error', this.#responseFailed);
    reportWritesAfterEnd(res);
    io.onAbort = () => socket.destroy(); // the web server gave up: end the FastCGI request, then 'close'
    socket.onTimeout = this.#socketTimedOut;
    if (this.timeout > 0) socket.setTimeout(this.timeout);

    const event = this.#eventFor(req, res, expect);
    if (event === null) return;
    runInRequest(socket, this.#callListeners, event, req, res, socket);
  }

  /**
   * node:http's timeout dispatch: the request while its body is still coming, the response, the server; unheard, the
   * request ends. One function for every socket.
   */
  readonly #socketTimedOut = (socket: FcgiSocket): void => {
    const req = socket.request as IncomingMessage;
    const reqTimeout = !req.complete && req.emit('timeout', socket);
    const resTimeout = socket._httpMessage?.emit('timeout', socket) === true;
    const serverTimeout = this.emit('timeout', socket);
    if (!reqTimeout && !resTimeout && !serverTimeout) socket.destroy();
  };

  /** A response's 'error' (a misuse): one function for every response, which it is called on. */
  readonly #responseFailed = ((server: Server) =>
    function (this: ServerResponse, error: Error): void {
      server.#handlerFailed(error, this.req, this, this.req.socket as unknown as FcgiSocket);
    })(this);

  /** One function for every request (a closure per request would be garbage per request). */
  readonly #callListeners = (event: string, req: IncomingMessage, res: ServerResponse, socket: FcgiSocket): void => {
    for (const listener of this.listeners(event)) {
      try {
        const result = (listener as RequestListener).call(this, req, res);
        if (result instanceof Promise) result.catch((error: unknown) => this.#handlerFailed(error, req, res, socket));
      } catch (error) {
        this.#handlerFailed(error, req, res, socket);
      }
    }
  };

  /**
   * node:http's rules for Expect: 'checkContinue' for 100-continue when someone listens (writeContinue() is then
   * dropped: a CGI response has no interim heads, and the web server has already asked the client for the body),
   * 'checkExpectation' for other expectations, which without a listener get node:http's 417.
   */
  #eventFor(
    req: IncomingMessage,
    res: ServerResponse,
    expect: string | undefined,
  ): 'request' | 'checkContinue' | 'checkExpectation' | null {
    if (expect === undefined || req.httpVersion !== '1.1') return 'request';
    if (/(?:^|\W)100-continue(?:$|\W)/i.test(expect)) {
      return this.listenerCount('checkContinue') > 0 ? 'checkContinue' : 'request';
    }
    if (this.listenerCount('checkExpectation') > 0) return 'checkExpectation';
    res.writeHead(417);
    res.end();
    return null;
  }

  /** A handler threw or rejected, or misused the response: log it where the web server logs, and end with a 500. */
  #handlerFailed(error: unknown, req: IncomingMessage, res: ServerResponse, socket: FcgiSocket): void {
    const text = `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`;
    if (!socket.writeStderr(text)) process.stderr.write(text);
    if (this.listenerCount('handlerError') > 0) this.emit('handlerError', error, req, res);
    if (res.writableEnded) return;
    if (!res.headersSent) {
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.statusCode = 500;
      res.statusMessage = STATUS_CODES[500] as string; // not the reason of a writeHead() that failed
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end('Internal Server Error\n');
    } else {
      res.end();
    }
  }
}

export function createServer(listener?: RequestListener): Server;
export function createServer(options: ServerOptions, listener?: RequestListener): Server;
export function createServer(first?: ServerOptions | RequestListener, listener?: RequestListener): Server {
  if (typeof first === 'function') return new Server({}, first);
  return new Server(first ?? {}, listener);
}
