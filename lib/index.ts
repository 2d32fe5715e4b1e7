// The package's public API.
export { accept, isCGI, listen, Listener, FCGI_LISTENSOCK_FILENO, type ListenOptions } from './listener';
export { Request, type Role } from './request';
export { FcgiError } from './errors';
export { paramToUtf8, type Params } from './params';
