// Where requests come from, for both serving modes: the listening socket a web server passed on fd 0, one the app
// opens itself on a Unix path or a TCP port, or none at all (plain CGI); and which web servers may connect.
import { chmodSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { fcgiErrorFromNode } from '../addon/errors';
import { hasAddon } from '../addon/addon-binary';
import { native } from '../addon/native';

/** The fd a web server passes the listening socket on (FCGI_LISTENSOCK_FILENO). */
export const FCGI_LISTENSOCK_FILENO = 0;

/**
 * True when the program was not started by a FastCGI server: fd 0 is not a socket in the listening state. A pipe, a
 * terminal or a connected socket on stdin (Apache mod_cgid) means CGI; so does a socket that neither listens nor is
 * connected, which libfcgi's own test (getpeername() failing with ENOTCONN) would take for FastCGI.
 */
export function isCGI(): boolean {
  // Where the package has no addon for the machine (a laptop on macOS or Windows), no web server can have started it
  // as FastCGI: the app runs as it is, and only an attempt to serve says why not.
  if (!hasAddon()) return true;
  if (systemdSockets().length > 0) return false; // started by systemd's socket activation, fd 0 aside
  return !native().isListeningSocket(FCGI_LISTENSOCK_FILENO);
}

export interface OpenedSocket {
  fd: number;
  /** For TCP: the address bound and the port (also when the kernel picked it). */
  host?: string;
  port?: number;
  path?: string;
}

/** Where to listen, as listen() and createServer().listen() take it. */
export interface SocketOptions {
  /** A Unix socket path to listen on. */
  path?: string;
  /** A TCP port to listen on (0 picks a free one). */
  port?: number;
  /** The address to bind for TCP: an IP address or 'localhost'. Default '127.0.0.1'. */
  host?: string;
  /** The listen() backlog. Default 511, as node:net. */
  backlog?: number;
  /**
   * For TCP: bind with SO_REUSEPORT, as node:net's option, so that several processes listen on the port and the
   * kernel spreads connections over them. In a node:cluster worker (PM2's cluster mode runs those), createServer()
   * shares the primary's socket as node:http does unless this or `exclusive` is set; there the accept loop, which
   * cannot take connections from the primary, and an exclusive listen bind with SO_REUSEPORT unless this is false.
   */
  reusePort?: boolean;
  /**
   * As node:net's: in a node:cluster worker, listen on a socket of this worker's own (SO_REUSEPORT unless reusePort
   * is false) instead of sharing the primary's. Default false.
   */
  exclusive?: boolean;
  /** For a Unix socket: make it readable by all users, as node:net's option (default: as the umask allows). */
  readableAll?: boolean;
  /**
   * For a Unix socket: make it writable by all users, as node:net's option, so that a web server running as another
   * user (www-data) may connect (default: as the umask allows).
   */
  writableAll?: boolean;
}

/** The first socket systemd passes (SD_LISTEN_FDS_START). */
const systemdFirstFd = 3;
/** systemdSockets(), once read: the variables are gone after that. */
let activated: number[] | undefined;

/**
 * The listening sockets systemd's socket activation passed this process (a `.socket` unit, or systemd-socket-activate):
 * fds 3, 4, … as LISTEN_FDS counts them, when LISTEN_PID names this process; none otherwise. The variables are removed
 * once read, as sd_listen_fds(1) does, so that a child process does not take the sockets for its own.
 */
export function systemdSockets(): number[] {
  if (activated !== undefined) return activated;
  const { LISTEN_PID: pid, LISTEN_FDS: count } = process.env;
  if (pid === undefined || count === undefined || Number(pid) !== process.pid) return (activated = []);
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  const fds = Array.from({ length: Math.max(0, Number(count) || 0) }, (_, i) => systemdFirstFd + i);
  return (activated = fds.filter((fd) => native().isListeningSocket(fd)));
}

/**
 * Whether this process is a node:cluster worker. (Node removes NODE_UNIQUE_ID, which tells one, from the environment
 * at start; node:cluster is loaded already there, and only a listen asks, never a process a web server spawned.)
 */
export const inClusterWorker = (): boolean =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('node:cluster') as typeof import('node:cluster').default).isWorker;

/** The address a TCP listen binds: host as given, '127.0.0.1' for none or 'localhost'. */
export const bindAddress = (host: string | undefined): string =>
  host === undefined || host === 'localhost' ? '127.0.0.1' : host;

/** Opens a listening socket on a Unix path or a TCP port; listen() and createServer().listen() share it. */
export function openSocket(options: SocketOptions): OpenedSocket {
  const backlog = options.backlog ?? 511;
  if (options.path !== undefined) {
    if (options.port !== undefined) throw new TypeError('listen: give either path or port, not both');
    const fd = native().listenUnix(options.path, backlog);
    const extra = (options.readableAll ? 0o444 : 0) | (options.writableAll ? 0o222 : 0);
    if (extra !== 0) {
      try {
        chmodSync(options.path, statSync(options.path).mode | extra);
      } catch (error) {
        native().closeFd(fd);
        throw fcgiErrorFromNode('chmod', error);
      }
    }
    return { fd, path: options.path };
  }
  if (options.port === undefined || !Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new TypeError('listen: give a path, or a port from 0 to 65535');
  }
  const host = bindAddress(options.host);
  if (isIP(host) === 0) throw new TypeError(`listen: host must be an IP address or 'localhost', got '${host}'`);
  const { fd, port } = native().listenTcp(host, options.port, backlog, options.reusePort ?? inClusterWorker());
  return { fd, host, port };
}

/** Which web servers may connect. */
export interface AdmissionOptions {
  /**
   * Web server addresses allowed to connect over TCP, as FCGI_WEB_SERVER_ADDRS does. Default: that environment
   * variable as the process started with it, or anyone.
   */
  webServerAddrs?: string | readonly string[];
}

/** webServerAddrs as the addon takes it: one comma-separated string; FCGI_WEB_SERVER_ADDRS when not given. */
export function addressList(addrs: string | readonly string[] | undefined): string {
  if (addrs === undefined) return process.env.FCGI_WEB_SERVER_ADDRS ?? '';
  return typeof addrs === 'string' ? addrs : addrs.join(',');
}
