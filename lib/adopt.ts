// Serves an app's own listen() on the FastCGI socket: an Express, Koa, Fastify or NestJS app that ends in
// `app.listen(process.env.PORT || 3000)` runs unchanged under mod_fcgid. Loaded before the app (the launcher of
// `libfcgi init` requires it; elsewhere `node -r libfcgi/adopt server.js`), it makes the first node:http or node:https
// server that calls listen() serve the socket the web server passed on fd 0, with that server's own 'request'
// listeners, instead of binding a port. Later listen() calls (a second server, a metrics port) behave as usual. It does
// nothing when the process was not started by a FastCGI server (or as CGI), so the same file still runs on a laptop.
import { Server as HttpServer } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import { Server as NetServer } from 'node:net';
import { createServer, type Server } from './http/http';
import { startedAsCgi } from './serving/source';
import { isStartCheck } from './restart/start-check';

type Listen = NetServer['listen'];

/**
 * Whether this process serves a web server: FastCGI on fd 0 or from relays, or one CGI request (GATEWAY_INTERFACE is set); or checks
 * a redeploy's new code for one, which must then report at the app's listen() instead of binding its port.
 */
function startedByWebServer(): boolean {
  return !startedAsCgi() || process.env.GATEWAY_INTERFACE !== undefined || isStartCheck();
}

/** The port the app asked for, for address(): frameworks log it, and some read it back. */
function requestedPort(args: unknown[]): number {
  const [first] = args;
  if (typeof first === 'number') return first;
  if (typeof first === 'string' && /^\d+$/.test(first)) return Number(first);
  if (first !== null && typeof first === 'object' && 'port' in first)
    return Number((first as { port: unknown }).port) || 0;
  return 0;
}

/** Makes `server` serve FastCGI through `fcgi`: its requests, its events, its listening state. */
function adopt(server: HttpServer | HttpsServer, fcgi: Server, args: unknown[]): void {
  const port = requestedPort(args);
  const callback = args.find((arg) => typeof arg === 'function') as (() => void) | undefined;
  fcgi.on('request', (req, res) => server.emit('request', req, res));
  fcgi.on('clientError', (error) => server.emit('clientError', error, null));
  fcgi.once('listening', () => {
    listening = true;
    callback?.call(server);
    server.emit('listening');
  });
  fcgi.once('close', () => {
    listening = false;
    server.emit('close');
  });
  fcgi.on('error', (error) => server.emit('error', error));
  let listening = false;
  Object.defineProperty(server, 'listening', { configurable: true, get: () => listening });
  server.address = () => ({ address: '127.0.0.1', family: 'IPv4', port });
  server.close = function close(this: HttpServer | HttpsServer, done?: (error?: Error) => void) {
    fcgi.close(done);
    return this;
  };
  server.ref = function ref(this: HttpServer | HttpsServer) {
    fcgi.ref();
    return this;
  };
  server.unref = function unref(this: HttpServer | HttpsServer) {
    fcgi.unref();
    return this;
  };
  fcgi.listen();
}

let adopted = false;
const originalListen: Listen = NetServer.prototype.listen;

if (startedByWebServer()) {
  NetServer.prototype.listen = function listen(this: NetServer, ...args: unknown[]) {
    const web = this instanceof HttpServer || this instanceof HttpsServer;
    if (adopted || !web) return (originalListen as (...a: unknown[]) => NetServer).apply(this, args);
    adopted = true;
    adopt(this, createServer(), args);
    return this;
  } as Listen;
}
