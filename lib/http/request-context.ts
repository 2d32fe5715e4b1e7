// Which request the code running now serves, so that what an app writes to stderr while serving it can also go out as
// that request's FCGI_STDERR (lib/site/app-log.ts). Off until something asks for it: an AsyncLocalStorage costs on every
// request.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FcgiSocket } from './http-socket';

let requests: AsyncLocalStorage<FcgiSocket> | null = null;
/** A line for the next request's FCGI_STDERR: what the site's owner must hear where they can read it. */
let notice: string | null = null;

export function trackRequests(): void {
  requests ??= new AsyncLocalStorage();
}

/** Runs a request's handlers with args; what they start asynchronously knows the request too. */
export function runInRequest<A extends unknown[]>(
  socket: FcgiSocket,
  handlers: (...args: A) => void,
  ...args: A
): void {
  if (notice !== null) {
    socket.writeStderr(notice);
    notice = null;
  }
  if (requests === null) handlers(...args);
  else requests.run(socket, handlers, ...args);
}

/**
 * Sends text once, as FCGI_STDERR of the next request served, which the web server writes to the site's own error
 * log: for what an account whose app log fails must still hear (the server-wide log is not theirs to read).
 */
export function tellNextRequest(text: string): void {
  notice = text;
}

/** The socket of the request being served here, when trackRequests() was called and there is one. */
export function currentRequestSocket(): FcgiSocket | undefined {
  return requests?.getStore();
}
