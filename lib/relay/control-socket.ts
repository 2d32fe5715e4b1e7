// The control socket that relays (native/relay/relay.c) hand their listening sockets over: where it is, and opening
// it so that only this account can reach it and a process replacing this one takes it over without a gap.
import { chmodSync, renameSync, rmSync } from 'node:fs';
import { native } from '../native';

/** Set by the relay for the Node process it starts: the control socket's path, from the launcher's relay-socket line. */
export const relaySocketVariable = 'LIBFCGI_RELAY_SOCKET';

/** The control socket to serve relays on, when a relay started this process; else undefined. */
export function relaySocketPath(): string | undefined {
  const path = process.env[relaySocketVariable];
  return path === undefined || path === '' ? undefined : path;
}

/**
 * Listens on the control socket: bound under a name of its own, made 0600, then renamed over the path, so relays never
 * find the path missing (a process being replaced keeps its old socket until this rename) and never reach a socket
 * another account could.
 */
export function openControlSocket(path: string): number {
  const bound = `${path}.${process.pid}`;
  rmSync(bound, { force: true });
  const fd = native.listenUnix(bound, 128, true);
  try {
    chmodSync(bound, 0o600);
    renameSync(bound, path);
  } catch (error) {
    native.closeFd(fd);
    rmSync(bound, { force: true });
    throw error;
  }
  return fd;
}
