// The control socket that relays (native/relay/relay.c) hand their listening sockets over: where it is, and opening
// it so that only this account can reach it and a process replacing this one takes it over without a gap.
import { chmodSync, lstatSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FcgiError } from '../addon/errors';
import { native } from '../addon/native';

/** node.pid beside the control socket: which process is the site's Node process (see openControlSocket). */
const nodePidFile = (path: string): string => join(dirname(path), 'node.pid');

/**
 * Why a folder of the site's sockets is not as this account made it, or undefined when it is: a real directory (not a
 * symbolic link another account could point elsewhere) owned by this uid, with exactly mode (0700 for the control
 * socket's, which fcgi-relay checks the same way; 0711 for the web server's direct path).
 */
export function socketFolderRefusal(folder: string, mode: number): string | undefined {
  let info;
  try {
    info = lstatSync(folder);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
  if (info.isSymbolicLink()) return 'it is a symbolic link';
  if (!info.isDirectory()) return 'it is not a directory';
  if (info.uid !== process.getuid?.()) return 'it belongs to another user';
  const octal = (bits: number): string => `0${bits.toString(8)}`;
  if ((info.mode & 0o7777) !== mode) {
    return `its mode is not ${octal(mode)} (it is ${octal(info.mode & 0o7777)}), so other users may reach into it`;
  }
  return undefined;
}

/**
 * Listens on the control socket: bound under a name of its own, made 0600, then renamed over the path, so relays never
 * find the path missing (a process being replaced keeps its old socket until this rename) and never reach a socket
 * another account could. Refused (EACCES) where the folder is not this account's alone. Names this process in
 * node.pid beside it: a relay that finds it alive waits for it (restarting in place, in a crash's back-off) rather
 * than start a second one.
 */
export function openControlSocket(path: string): number {
  const refusal = socketFolderRefusal(dirname(path), 0o700);
  if (refusal !== undefined) {
    throw new FcgiError('listen on the relay control socket', 'EACCES', -13, `${dirname(path)}: ${refusal}`);
  }
  return listenByRename(path, 0o600, true, () => {
    writeFileSync(nodePidFile(path), `${process.pid}\n`, { mode: 0o600 });
  });
}

/**
 * Listens on a Unix socket at path with no moment where the path is missing or a stale socket blocks the bind: bound
 * under a name of its own, given mode, then renamed over the path (a process being replaced keeps its old socket
 * until this rename). then, if given, runs after the rename; on any failure nothing is left listening.
 */
export function listenByRename(path: string, mode: number, seqpacket: boolean, then?: () => void): number {
  const bound = `${path}.${process.pid}`;
  rmSync(bound, { force: true });
  const fd = native().listenUnix(bound, seqpacket ? 128 : 511, seqpacket);
  try {
    chmodSync(bound, mode);
    renameSync(bound, path);
    then?.();
  } catch (error) {
    native().closeFd(fd);
    rmSync(bound, { force: true });
    throw error;
  }
  return fd;
}

/**
 * This process stops being the site's Node process (a redeploy, maxRequests, idleness, SIGTERM): node.pid no longer
 * names it, so relays start the next one at once instead of waiting for this one to finish its requests. A crash
 * keeps the name, since the same process comes back after its back-off.
 */
export function releaseNodeName(path: string): void {
  try {
    if (namedNode(path) === process.pid) unlinkSync(nodePidFile(path));
  } catch {
    // gone already
  }
}

/** The pid that node.pid beside the control socket names, when that process is alive; else 0. */
export function namedNode(path: string): number {
  try {
    const pid = Number(readFileSync(nodePidFile(path), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 1) return 0;
    process.kill(pid, 0);
    return pid;
  } catch {
    return 0;
  }
}
