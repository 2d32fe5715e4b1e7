// The blocking accept loop: a listening socket (see serving/source.ts for which) served one request at a time.
import { CgiRequest } from './cgi-request';
import { FcgiError } from '../addon/errors';
import { FastCgiRequest } from './fastcgi-request';
import { type Lifecycle, type LifecycleOptions, resolveLifecycle } from '../lifecycle/options';
import { type Observed, observed, stopEnds, type StopReason, stopReason } from '../lifecycle/policy';
import { parentToWatch, reportFailedStart, startLifecycle } from '../lifecycle/process';
import { ScriptWatch, watchInterval } from '../restart/script-watch';
import { setCrashGuard, startedListening } from '../restart/crash-guard';
import { restartInPlace } from '../restart/replace';
import { checkStartSync, reportStartedIfChecking } from '../restart/start-check';
import { type RequestLimits, reportRefusal, resolveLimits } from '../request/limits';
import { type AcceptedRequest, native, type NativeAcceptLoop, type WaitEnd } from '../addon/native';
import type { Request } from './request';
import {
  addressList,
  type AdmissionOptions,
  FCGI_LISTENSOCK_FILENO,
  openSocket,
  type SocketOptions,
} from '../serving/socket';
import { servingSource } from '../serving/source';
import { noEager } from '../request/packed-params';

export interface ListenOptions extends RequestLimits, LifecycleOptions, SocketOptions, AdmissionOptions {}

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
    const addresses = addressList(options.webServerAddrs);
    this.#native = new (native().AcceptLoop)(fd, addresses, resolveLimits(options), noEager);
  }

  /**
   * Finishes the previous request if it is still open, then blocks (the whole JS thread) until the next request
   * arrives. Returns null once the listener is closed.
   */
  accept(): Request | null {
    this.#current?.finish();
    this.#current = null;
    if (this.#closed) return null;
    let reason = this.#decide({});
    if (reason === null && this.#scriptChanged(false) && this.#newCodeStarts()) reason = 'scriptChanged';
    if (reason !== null) return this.#stop(reason);
    if (this.#parent === -1) this.#startWatching();
    let idleSince = performance.now();
    for (;;) {
      const idleMs = performance.now() - idleSince;
      reason = this.#decide({ idleMs });
      if (reason !== null) return this.#stop(reason);
      const { idleTimeout } = this.#lifecycle;
      let waitMs = idleTimeout > 0 ? Math.ceil(idleTimeout - idleMs) : 0;
      // The wait is cut into ticks of a second to look at the script (as the native wait looks at the parent), but
      // not while a kept connection is waited on, which a wait that ends early closes: the script is then looked at
      // when the next request is done.
      const tick = this.#script !== null && !this.#keptConnection;
      if (tick) waitMs = waitMs === 0 ? watchInterval : Math.min(waitMs, watchInterval);
      let waited: AcceptedRequest | WaitEnd;
      try {
        waited = this.#native.accept(waitMs, this.#parent);
      } catch (error) {
        this.#keptConnection = false;
        // A request the record guard refused has had its answer; the loop goes on to the next one.
        if (!(error instanceof FcgiError && error.syscall === 'accept' && refusedCodes.has(error.code))) throw error;
        reportRefusal(error);
        idleSince = performance.now();
        continue;
      }
      if (typeof waited === 'object') return this.#began(waited);
      this.#keptConnection = false;
      if (waited === 'timedOut') {
        if (tick && this.#scriptChanged(true) && this.#newCodeStarts()) return this.#stop('scriptChanged');
        continue; // idleness is weighed above
      }
      const seen = waited === 'SIGTERM' ? { signal: waited } : { parentGone: true };
      return this.#stop(this.#decide(seen) ?? 'SIGTERM');
    }
  }

  /** The first accept: from here the loop owns the process, and SIGTERM becomes a request to stop after this one. */
  #startWatching(): void {
    const { handleSignals, shutdownTimeout } = this.#lifecycle;
    this.#parent = parentToWatch(this.#lifecycle);
    // The loop never returns to the event loop, so a JS listener would never run; one the app added wins anyway.
    if (handleSignals && process.listenerCount('SIGTERM') === 0) native().watchStopSignal(shutdownTimeout);
  }

  #began(accepted: AcceptedRequest): Request {
    this.#served++;
    const request = new FastCgiRequest(this.#native, accepted);
    this.#keptConnection = request.keepConn;
    this.#current = request;
    return request;
  }

  /** Asks the lifecycle policy (lib/lifecycle/policy.ts) with what the loop has just seen. */
  #decide(seen: Partial<Observed>): StopReason | null {
    return stopReason(this.#lifecycle, observed(this.#served, seen));
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
    if (stopEnds(this.#lifecycle, reason) === 'replace') {
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

/** The accept loop where serving/source.ts says requests come from, or the one CGI request. */
class DefaultSource {
  #listener: Listener | null = null;
  #cgi: 'pending' | 'served' | null = null;
  #cgiRequest: CgiRequest | null = null;

  accept(): Request | null {
    if (this.#listener === null && this.#cgi === null) this.#open();
    if (this.#listener !== null) return this.#listener.accept();
    if (this.#cgi === 'pending') {
      this.#cgi = 'served';
      this.#cgiRequest = new CgiRequest();
      return this.#cgiRequest;
    }
    this.#cgiRequest?.finish();
    return null;
  }

  #open(): void {
    reportStartedIfChecking();
    const source = servingSource({}, false);
    switch (source.kind) {
      case 'relay':
        // An exit the start guard must not turn into a restart: the relay then serves its socket with this app itself.
        startedListening();
        setCrashGuard(false);
        throw new Error(
          'libfcgi: this launcher runs through fcgi-relay (its #! line), which only createServer() apps can serve; ' +
            'for the accept() loop, write the launcher with `libfcgi init --no-relay`',
        );
      case 'systemd':
        if (source.fds.length > 1) {
          // One request at a time cannot wait on several sockets: the first is served, and the unit should pass one.
          process.stderr.write(
            `libfcgi: systemd passed ${source.fds.length} sockets; accept() serves the first only\n`,
          );
        }
        this.#listener = new Listener(source.fds[0] as number);
        return;
      case 'cgi':
        this.#cgi = 'pending';
        return;
      default:
        this.#listener = new Listener(FCGI_LISTENSOCK_FILENO);
    }
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
