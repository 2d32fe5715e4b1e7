// Where requests come from: the one answer that createServer().listen() and the accept loop's accept() both ask for.
// Each then serves what it is told; neither looks at the environment itself.
import { sharesClusterSocket } from './cluster-socket';
import { FCGI_LISTENSOCK_FILENO, isCGI, type SocketOptions, systemdSockets } from './socket';

/** Set by the relay for the Node process it starts: the control socket's path, from the launcher's relay-socket line. */
export const relaySocketVariable = 'LIBFCGI_RELAY_SOCKET';

/** The control socket to serve relays on, when a relay started this process; else undefined. */
export function relaySocketPath(): string | undefined {
  const path = process.env[relaySocketVariable];
  return path === undefined || path === '' ? undefined : path;
}

/** Whether this process answers one plain CGI request: fd 0 is no listening socket, and no relay started it. */
export function startedAsCgi(): boolean {
  return isCGI() && relaySocketPath() === undefined;
}

export type ServingSource =
  /** A port or a path the app opens itself. */
  | { kind: 'ownSocket' }
  /** A port or a path in a node:cluster worker: the primary's socket, whose connections it hands over. */
  | { kind: 'clusterPrimary' }
  /** The sockets of systemd's socket activation (a .socket unit), in the order the unit lists them. */
  | { kind: 'systemd'; fds: number[] }
  /** Started by fcgi-relay (init's launcher): the relays hand their sockets over through the control socket. */
  | { kind: 'relay'; controlSocket: string }
  /** fd 0 is no listening socket: started as plain CGI, with one request on stdin and stdout. */
  | { kind: 'cgi' }
  /** A listening socket already open: fd 0 as a web server passes it (mod_fcgid, spawn-fcgi), or the fd given. */
  | { kind: 'fd'; fd: number };

/**
 * Where `listen(options)` takes its requests from. `cluster`: whether a node:cluster worker shares its primary's
 * socket (createServer does; the blocking accept loop, which cannot take handed-over connections, does not).
 */
export function servingSource(options: SocketOptions & { fd?: number }, cluster: boolean): ServingSource {
  if (cluster && sharesClusterSocket(options)) return { kind: 'clusterPrimary' };
  if (options.path !== undefined || options.port !== undefined) return { kind: 'ownSocket' };
  if (options.fd === undefined) {
    const fds = systemdSockets();
    if (fds.length > 0) return { kind: 'systemd', fds };
  }
  const fd = options.fd ?? FCGI_LISTENSOCK_FILENO;
  if (fd === FCGI_LISTENSOCK_FILENO) {
    const controlSocket = relaySocketPath();
    if (controlSocket !== undefined) return { kind: 'relay', controlSocket };
    if (isCGI()) return { kind: 'cgi' };
  }
  return { kind: 'fd', fd };
}
