// The package's public API.
import './restart/crash-guard'; // first: armed at once where a crash must restart the app in place
import { native } from './addon/native';

// Loaded now, so that require('libfcgi') itself says when no addon fits this machine, not the first call.
native();

export { accept, listen, Listener, type ListenOptions } from './accept-loop/listener';
export { isCGI, FCGI_LISTENSOCK_FILENO } from './serving/socket';
export { Request, type Role } from './accept-loop/request';
export { FcgiError } from './addon/errors';
export { paramToUtf8, type Params } from './request/params';
export {
  createServer,
  Server,
  type ServerOptions,
  type ListenOptions as ServerListenOptions,
  type RequestListener,
} from './http/http';
export type { FcgiRequestInfo } from './http/http-message';
