// Serving a site whose process fcgi-relay started (init's launcher): every relay's listening socket, handed over
// through the control socket (relay-hub.ts), and, where Apache's workers run as another user, its direct path through
// mod_proxy_fcgi (proxy-socket.ts). The process stops once no relay is left and the direct path has been quiet a
// while: nothing of the site outlives the web server. The server (lib/http) only says how to serve one socket.
import type { Server as NetServer } from 'node:net';
import { dirname } from 'node:path';
import { setCrashGuard } from '../restart/crash-guard';
import { crashCountVariable } from '../restart/command';
import { whenReplaced } from '../restart/replace';
import { native } from '../addon/native';
import { lowerProxyFlag, openProxySocket, raiseProxyFlag, webServerUidOf } from './proxy-socket';
import { RelayHub, type ServedSocket } from './relay-hub';
import { openStatusSocket, type RequestActivitySnapshot } from './status-socket';

/** How long the direct path still takes connections after its flag is lowered: Apache's in-flight connects. */
const proxyDrainMs = 1_000;

/** With no relay left, how long the web server's direct path must be quiet before the process ends. */
const proxyQuietMs = 5_000;

/** Who may connect to the direct path, and what to do for each request that comes that way. */
export interface DirectAdmission {
  webServerUids: number[];
  onRequest: () => void;
}

/** What the server gives: serving one listening socket (started), what requests are doing, and its own end. */
export interface RelayedHost {
  /** Serves a listening socket until close(); onClose once it is closed and its requests are done. */
  serve(fd: number, onClose: () => void, direct?: DirectAdmission): ServedSocket;
  snapshot(): RequestActivitySnapshot;
  /** No relay is left and the direct path is quiet: the site's process should stop (lifecycle 'relaysGone'). */
  stop(): void;
  /** Every socket is closed and its requests are done. */
  closed(): void;
}

/** The web server's direct path to the site's process: its socket, and when it last brought a request. */
interface DirectPath {
  socket: ServedSocket;
  appDir: string;
  lastRequest: number;
  served: number;
  closed: boolean;
}

export class RelayedServing {
  readonly #host: RelayedHost;
  readonly #hub: RelayHub;
  readonly #statusSocket: NetServer;
  readonly #appDir: string;
  #direct: DirectPath | null = null;
  #directTried = false;
  /** Why the direct path is not open, for `libfcgi status`. */
  #directWhyNot: string | null = null;
  #relaysClosed = false;
  #closing = false;
  #closed = false;

  constructor(controlSocket: string, host: RelayedHost) {
    this.#host = host;
    this.#appDir = dirname(dirname(controlSocket));
    this.#hub = new RelayHub({
      path: controlSocket,
      serve: (fd, onClose) => {
        const socket = host.serve(fd, onClose);
        try {
          this.#openDirect(fd);
        } catch (error) {
          // Whatever the direct path met (out of descriptors, say), the relay's socket is served as ever.
          this.#noDirectPath((error as Error).message);
        }
        return socket;
      },
      onIdle: () => this.#stopWhenUnused(),
      onClose: () => {
        this.#relaysClosed = true;
        this.#closedIfDone();
      },
      // Restarted in place after a crash (this image, or its stand-in), the process lost its relays' connections:
      // those that live come back with their next request, at once; none in 2 s means the web server stopped them,
      // and nothing of the site may outlive it. (The next request then starts a fresh process.)
      firstRelayTimeoutMs: process.env[crashCountVariable] === undefined ? undefined : 2000,
    });
    // A crash restarts this process in place after a back-off, its stand-in answering 503 through the relays meanwhile
    // (restart/crash-guard.ts): relays that started a new process at every request would make a crash loop of it.
    setCrashGuard(true);
    this.#statusSocket = openStatusSocket(dirname(controlSocket), () => ({
      sockets: this.#hub.sockets,
      direct: {
        open: this.#direct !== null && !this.#direct.closed,
        served: this.#direct?.served ?? 0,
        why: this.#directWhyNot,
      },
      requests: host.snapshot(),
    }));
  }

  /** Stops accepting: new requests go through the relays, to whichever process serves next. */
  close(): void {
    this.#closing = true;
    const direct = this.#direct;
    if (direct !== null) {
      // Requests Apache sent the direct way just before may sit in the socket's queue, which closing it would reset
      // (a 503): they are taken a moment longer.
      lowerProxyFlag(direct.appDir);
      setTimeout(() => direct.socket.close(), proxyDrainMs);
    }
    this.#hub.close();
  }

  ref(): void {
    this.#hub.ref();
  }

  unref(): void {
    this.#hub.unref();
  }

  /**
   * Opens the web server's direct path once the first relay's socket shows the web server's user (mod_fcgid binds it
   * as Apache's): a socket only that user may reach, and the flag that makes init's .htaccess use it.
   */
  #openDirect(relayFd: number): void {
    if (this.#directTried || this.#closing) return;
    this.#directTried = true;
    const uid = webServerUidOf(relayFd);
    if (uid === undefined) {
      this.#directWhyNot = 'the web server runs as this account, and reaches the relays';
      return;
    }
    let fd: number;
    try {
      fd = openProxySocket(this.#appDir);
    } catch (error) {
      this.#noDirectPath((error as Error).message);
      return;
    }
    const direct = { appDir: this.#appDir, lastRequest: 0, served: 0, closed: false } as DirectPath;
    const onClose = (): void => {
      native().closeFd(fd);
      direct.closed = true;
      if (this.#direct === direct) this.#closedIfDone();
    };
    // And this account's own processes: where Apache's workers run as the account (mpm-itk, mod_ruid2), they are.
    const webServerUids = [uid, process.getuid?.() ?? uid];
    direct.socket = this.#host.serve(fd, onClose, {
      webServerUids,
      onRequest: () => {
        direct.lastRequest = Date.now();
        direct.served++;
      },
    });
    try {
      raiseProxyFlag(this.#appDir);
    } catch (error) {
      // A full disk or quota: the relays serve on as they did, and nothing sends Apache the direct way.
      this.#noDirectPath(`its flag: ${(error as Error).message}`);
      direct.socket.close();
      return;
    }
    this.#direct = direct;
    this.#directWhyNot = null;
    // A crash restarts the process in place, and its listening socket does not survive the exec.
    whenReplaced(() => lowerProxyFlag(this.#appDir));
  }

  /** Says in the app's log, and in `libfcgi status`, why Apache cannot come the direct way. */
  #noDirectPath(why: string): void {
    this.#directWhyNot = why;
    process.stderr.write(`libfcgi: no direct path for the web server (mod_proxy_fcgi): ${why}\n`);
  }

  /**
   * No relay is left (or another process took the site over). The web server stopped them, or mod_fcgid ended them as
   * idle while requests came the direct way: the process ends once the direct path too has been quiet a while, so it
   * never outlives the web server long.
   */
  #stopWhenUnused(): void {
    if (this.#closing || !this.#hub.idle) return; // closed meanwhile, or a relay came while the direct path was busy
    const quietMs = this.#direct === null ? Infinity : Date.now() - this.#direct.lastRequest;
    if (quietMs < proxyQuietMs) {
      setTimeout(() => this.#stopWhenUnused(), proxyQuietMs - quietMs);
      return;
    }
    this.#host.stop();
  }

  /** The relays' sockets and the direct path are closed, and their requests done. */
  #closedIfDone(): void {
    if (this.#closed || !this.#relaysClosed || (this.#direct !== null && !this.#direct.closed)) return;
    this.#closed = true;
    this.#statusSocket.close();
    this.#host.closed();
  }
}
