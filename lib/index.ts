// The package's public API.
export { accept, isCGI, listen, Listener, FCGI_LISTENSOCK_FILENO, type ListenOptions } from './listener';
export { Request, type Role } from './request';
export { FcgiError } from './errors';
export { paramToUtf8, type Params } from './params';
export {
  createServer,
  Server,
  type ServerOptions,
  type ListenOptions as ServerListenOptions,
  type RequestListener,
} from './http';
export type { FcgiRequestInfo } from './http-message';
