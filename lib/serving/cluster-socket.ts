// In a node:cluster worker (PM2's cluster mode runs its instances as such), createServer().listen(port) or
// listen(path) goes through node:net, as node:http's does: the primary holds the one listening socket and hands each
// connection to a worker over IPC. The socket outlives any worker (one that dies or is reloaded takes no queued
// connection with it), the primary sees each worker's 'listening' (what `pm2 reload` waits for before it stops the old
// worker), and the event-loop server takes each connection's descriptor over.
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { bindAddress, inClusterWorker, type SocketOptions } from './socket';

/** Whether listen(options) shares the cluster primary's socket rather than opening one of the worker's own. */
export function sharesClusterSocket(options: SocketOptions & { fd?: number }): boolean {
  if (options.fd !== undefined || options.exclusive === true || options.reusePort === true) return false;
  return (options.path !== undefined || options.port !== undefined) && inClusterWorker();
}

export interface SharedSocketEvents {
  /** A connection the primary handed over: serve a duplicate of fd (the socket is destroyed after). */
  connection(fd: number): void;
  listening(address: ReturnType<NetServer['address']>): void;
  error(error: Error): void;
}

/** The descriptor of a node:net socket's handle (Unix: TCPWrap and PipeWrap have one); -1 when there is none. */
function descriptorOf(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: number } | null })._handle;
  return typeof handle?.fd === 'number' ? handle.fd : -1;
}

/**
 * Listens through node:cluster's primary. Connections arrive paused (pauseOnConnect), so nothing of the request has
 * been read from them when the event-loop server takes them over.
 */
export function listenShared(options: SocketOptions, events: SharedSocketEvents): NetServer {
  const server = createNetServer({ pauseOnConnect: true });
  server.on('connection', (socket: Socket) => {
    try {
      events.connection(descriptorOf(socket));
    } finally {
      socket.destroy(); // closes the worker's descriptor only: the event-loop server holds its duplicate
    }
  });
  server.on('error', (error) => events.error(error));
  server.on('listening', () => events.listening(server.address()));
  const { path, port, host, backlog, readableAll, writableAll } = options;
  server.listen(
    path !== undefined ? { path, backlog, readableAll, writableAll } : { port, host: bindAddress(host), backlog },
  );
  return server;
}
