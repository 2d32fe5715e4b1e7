// Where requests come from: fd 0 as a web server hands it over, a socket the app opens itself, or plain CGI.
import { relaySocketPath } from '../relay/control-socket';
import { CgiRequest } from './cgi-request';
import { FcgiError } from '../errors';
import { FastCgiRequest } from './fastcgi-request';
import {
  type Lifecycle,
  type LifecycleOptions,
  parentToWatch,
  replacesProcess,
  reportFailedStart,
  resolveLifecycle,
  startLifecycle,
  type StopReason,
} from '../lifecycle';
import { ScriptWatch, watchInterval } from '../restart/script-watch';
import { setCrashGuard, startedListening } from '../restart/crash-guard';
import { restartInPlace } from '../restart/replace';
import { checkStartSync, reportStartedIfChecking } from '../restart/start-check';
import { type RequestLimits, reportRefusal, resolveLimits } from '../limits';
import { native, type NativeAcceptLoop } from '../native';
import type { Request } from './request';
import {
  addressList,
  type AdmissionOptions,
  FCGI_LISTENSOCK_FILENO,
  isCGI,
  openSocket,
  type SocketOptions,
  systemdSockets,
} from '../socket';

export interface ListenOptions extends RequestLimits, LifecycleOptions, SocketOptions, AdmissionOptions {}

/** What the native accept() returns instead of a request when the loop should stop (see native/accept_loop/waits.h). */
const stopReasons: Record<number, StopReason> = { 1: 'idleTimeout', 2: 'parentExited', 3: 'SIGTERM' };

/** The codes with which accept() reports a request the record guard refused and answered itself. */
const refusedCodes = new Set(['FCGI_PARAMS_TOO_LARGE', 'ETIMEDOUT', 'FCGX_UNSUPPORTED_VERSION']);

/** A listening socket and the synchronous accept loop on it. */
export class Listener {
  /** The listening socket's file descriptor. */
  readonly fd: number;
  /** The TCP port listened on, when listening on TCP. */
  readonly port: number | undefined;
  /** The Unix socket path, when listening on one. */
  readonly path: string | undefined;
  readonly #native: NativeAcceptLoop;
  #current: Request | null = null;
  #closed = false;

  readonly #lifecycle: Lifecycle;
  readonly #script: ScriptWatch | null;
  #scriptCheckedAt = performance.now();
  /** Whether the last request asked to keep its connection, which the native wait would close if it ended early. */
  #keptConnection = false;
  #parent = -1;
  #served = 0;
  /** Why accept() returned null, when the listener stopped by itself (see LifecycleOptions); null otherwise. */
  stopReason: StopReason | null = null;

  constructor(
    fd: number,
    options: RequestLimits & LifecycleOptions & AdmissionOptions & { port?: number; path?: string } = {},
  ) {
    reportStartedIfChecking();
    this.fd = fd;
    this.port = options.port;
    this.path = options.path;
    this.#lifecycle = startLifecycle(resolveLifecycle(options, fd === FCGI_LISTENSOCK_FILENO));
    this.#script = this.#lifecycle.watchScript ? ScriptWatch.ofThisProcess() : null;
    this.#native = new (native().AcceptLoop)(fd, addressList(options.webServerAddrs), resolveLimits(options));
  }

  /**
   * Finishes the previous request if it is still open, then blocks (the whole JS thread) until the next request
   * arrives. Returns null once the listener is closed.
   */
  accept(): Request | null {
    this.#current?.finish();
    this.#current = null;
    if (this.#closed) return null;
    const { maxRequests, idleTimeout, handleSignals, shutdownTimeout } = this.#lifecycle;
    if (maxRequests > 0 && this.#served >= maxRequests) return this.#stop('maxRequests');
    if (this.#scriptChanged(false) && this.#newCodeStarts()) return this.#stop('scriptChanged');
    if (this.#parent === -1) {
      // The first accept: from here the loop owns the process, and SIGTERM becomes a request to stop after this one.
      this.#parent = parentToWatch(this.#lifecycle);
      // The loop never returns to the event loop, so a JS listener would never run; one the app added wins anyway.
      if (handleSignals && process.listenerCount('SIGTERM') === 0) native().watchStopSignal(shutdownTimeout);
    }
    let idleSince = performance.now();
    for (;;) {
      let waitMs = idleTimeout;
      if (idleTimeout > 0) {
        waitMs = Math.ceil(idleTimeout - (performance.now() - idleSince));
        if (waitMs <= 0) return this.#stop('idleTimeout');
      }
      // The wait is cut into ticks of a second to look at the script (as the native wait looks at the parent), but
      // not while a kept connection is waited on, which a wait that ends early closes: the script is then looked at
      // when the next request is done.
      const tick = this.#script !== null && !this.#keptConnection;
      if (tick) waitMs = waitMs === 0 ? watchInterval : Math.min(waitMs, watchInterval);
      try {
        const accepted = this.#native.accept(waitMs, this.#parent);
        if (typeof accepted === 'number') this.#keptConnection = false;
        if (accepted === 1 && tick) {
          if (this.#scriptChanged(true) && this.#newCodeStarts()) return this.#stop('scriptChanged');
          continue; // the idle time, if any, is counted above
        }
        if (typeof accepted === 'number') return this.#stop(stopReasons[accepted] ?? 'SIGTERM');
        this.#served++;
        this.#keptConnection = accepted.keepConn;
        this.#current = new FastCgiRequest(this.#native, accepted);
        return this.#current;
      } catch (error) {
        this.#keptConnection = false;
        // A request the record guard refused has had its answer; the loop goes on to the next one.
        if (!(error instanceof FcgiError && error.syscall === 'accept' && refusedCodes.has(error.code))) throw error;
        reportRefusal(error);
        idleSince = performance.now();
      }
    }
  }

  /** Whether the script was touched (see LifecycleOptions.watchScript); unless `now`, looked at once a second. */
  #scriptChanged(now: boolean): boolean {
    if (this.#script === null) return false;
    const at = performance.now();
    if (!now && at - this.#scriptCheckedAt < watchInterval) return false;
    this.#scriptCheckedAt = at;
    return this.#script.changed();
  }

  /** Whether the changed script starts (see LifecycleOptions.watchScript); if not, says why and serves on. */
  #newCodeStarts(): boolean {
    const failed = checkStartSync(this.#lifecycle.startTimeout);
    if (failed === null) return true;
    reportFailedStart(failed);
    this.#script?.rebase();
    return false;
  }

  #stop(reason: StopReason): null {
    if (replacesProcess(this.#lifecycle, reason)) {
      // The listening socket stays open on fd 0 for the new image; only the kept connection, if any, is dropped.
      this.#current?.finish();
      this.#native.close();
      restartInPlace();
    }
    setCrashGuard(false); // a stop that was asked for: the process ends when the loop does
    this.stopReason = reason;
    this.close();
    return null;
  }

  /** Finishes an open request, drops a kept connection and closes the listening socket. */
  close(): void {
    if (this.#closed) return;
    this.#current?.finish();
    this.#current = null;
    this.#closed = true;
    this.#native.close();
    native().closeFd(this.fd);
  }
}

/** Opens a listening socket on a Unix path or a TCP port. A failed bind throws an FcgiError (`EADDRINUSE`, …). */
export function listen(options: ListenOptions): Listener {
  reportStartedIfChecking();
  const { fd, port } = openSocket(options);
  return new Listener(fd, { ...options, port });
}

/** The accept loop on fd 0, falling back to one CGI request when fd 0 is not a listening socket. */
class DefaultSource {
  #listener: Listener | null = null;
  #cgi: 'pending' | 'served' | null = null;
  #cgiRequest: CgiRequest | null = null;

  accept(): Request | null {
    if (this.#listener === null && this.#cgi === null) {
      reportStartedIfChecking();
      if (relaySocketPath() !== undefined) {
        // An exit the start guard must not turn into a restart: the relay then serves its socket with this app itself.
        startedListening();
        setCrashGuard(false);
        throw new Error(
          'libfcgi: this launcher runs through fcgi-relay (its #! line), which only createServer() apps can serve; ' +
            'for the accept() loop, write the launcher with `libfcgi init --no-relay`',
        );
      }
      const activated = systemdSockets();
      if (activated.length > 1) {
        // One request at a time cannot wait on several sockets: the first is served, and the unit should pass one.
        process.stderr.write(`libfcgi: systemd passed ${activated.length} sockets; accept() serves the first only\n`);
      }
      if (activated.length > 0) this.#listener = new Listener(activated[0] as number);
      else if (isCGI()) this.#cgi = 'pending';
      else this.#listener = new Listener(FCGI_LISTENSOCK_FILENO);
    }
    if (this.#listener !== null) return this.#listener.accept();
    if (this.#cgi === 'pending') {
      this.#cgi = 'served';
      this.#cgiRequest = new CgiRequest();
      return this.#cgiRequest;
    }
    this.#cgiRequest?.finish();
    return null;
  }
}

const defaultSource = new DefaultSource();

/**
 * Accepts the next request on the socket the web server passed as fd 0 (mod_fcgid, lighttpd bin-path, spawn-fcgi),
 * finishing the previous one. Started as plain CGI, it returns that one request, then null. Blocks the JS thread.
 */
export function accept(): Request | null {
  return defaultSource.accept();
}
