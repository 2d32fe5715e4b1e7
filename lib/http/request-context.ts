// Which request the code running now serves, so that what an app writes to stderr while serving it can also go out as
// that request's FCGI_STDERR (lib/app-log.ts). Off until something asks for it: an AsyncLocalStorage costs on every
// request.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FcgiSocket } from './http-socket';

let requests: AsyncLocalStorage<FcgiSocket> | null = null;

export function trackRequests(): void {
  requests ??= new AsyncLocalStorage();
}

/** Runs a request's handlers with args; what they start asynchronously knows the request too. */
export function runInRequest<A extends unknown[]>(
  socket: FcgiSocket,
  handlers: (...args: A) => void,
  ...args: A
): void {
  if (requests === null) handlers(...args);
  else requests.run(socket, handlers, ...args);
}

/** The socket of the request being served here, when trackRequests() was called and there is one. */
export function currentRequestSocket(): FcgiSocket | undefined {
  return requests?.getStore();
}
