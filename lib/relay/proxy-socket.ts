// Apache's direct way to the site's one Node process: where mod_proxy_fcgi is loaded, init's .htaccess sends each
// request to this socket while the flag beside it names a live Node process, and through mod_fcgid's relays (which
// start that process) otherwise. Only the web server's user may connect (webServerUids); the folder lets Apache's
// workers pass through, and nobody list it.
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FcgiError } from '../addon/errors';
import { native } from '../addon/native';
import { listenByRename, socketFolderRefusal } from './control-socket';

/** The folder beside the app's .libfcgi (which is 0700, so Apache's workers cannot enter it). */
export const proxyFolderOf = (appDir: string): string => join(appDir, '.libfcgi-proxy');
/** The socket mod_proxy_fcgi connects to. */
export const proxySocketOf = (appDir: string): string => join(proxyFolderOf(appDir), 'app.sock');
/** A regular file naming the Node process that serves the socket; .htaccess tests it with -s. */
export const proxyFlagOf = (appDir: string): string => join(proxyFolderOf(appDir), 'live');

const folderMode = 0o711;

/**
 * The web server's user, from a listening socket a relay handed over: mod_fcgid binds it in its FcgidIPCDir as
 * Apache's User. undefined when it is this account's own (spawn-fcgi or lighttpd running as the account), which needs
 * no direct path.
 */
export function webServerUidOf(relayFd: number): number | undefined {
  const path = native().unixSocketPath(relayFd);
  if (path === null) return undefined;
  try {
    const { uid } = statSync(path);
    return uid === process.getuid?.() ? undefined : uid;
  } catch {
    return undefined;
  }
}

/**
 * Why no rewrite rule can send Apache to this app's socket, or undefined. mod_proxy lowercases the whole
 * `unix:/path|fcgi://host` name of a socket it has no worker for, as it does a host name, and then connects to that
 * path: a capital letter anywhere in it makes every request a 503.
 */
export function directPathRefusal(appDir: string): string | undefined {
  if (/[\s"'|\]]/.test(appDir)) return 'its path holds a space, a quote, | or ], which a rewrite rule cannot name';
  if (appDir !== appDir.toLowerCase()) return 'its path holds capital letters, which mod_proxy lowercases';
  return undefined;
}

/** Why the folder may not hold the socket, or undefined: a real directory of this account's, mode 0711 (made so). */
function folderRefusal(folder: string): string | undefined {
  try {
    mkdirSync(folder, { mode: folderMode });
    chmodSync(folder, folderMode); // whatever the umask took away
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return (error as Error).message;
  }
  return socketFolderRefusal(folder, folderMode);
}

/**
 * Listens on the proxy socket: bound under a name of its own, opened to all (the uid check does the refusing), then
 * renamed over the path, so that a successor takes it over without a gap and a stale socket never blocks the bind.
 */
export function openProxySocket(appDir: string): number {
  const folder = proxyFolderOf(appDir);
  const unnamable = directPathRefusal(appDir);
  if (unnamable !== undefined) {
    throw new FcgiError('listen on the proxy socket', 'ENOTSUP', -95, `${appDir}: ${unnamable}`);
  }
  const refusal = folderRefusal(folder);
  if (refusal !== undefined) {
    throw new FcgiError('listen on the proxy socket', 'EACCES', -13, `${folder}: ${refusal}`);
  }
  return listenByRename(proxySocketOf(appDir), 0o666, false);
}

/** From now on Apache sends requests to the socket: the flag names this process (written whole, by rename). */
export function raiseProxyFlag(appDir: string): void {
  const flag = proxyFlagOf(appDir);
  const written = `${flag}.${process.pid}`;
  try {
    writeFileSync(written, `${process.pid}\n`, { mode: 0o644 });
    renameSync(written, flag);
  } catch (error) {
    rmSync(written, { force: true }); // an empty file -s would not take for a flag, but it is litter
    throw error;
  }
}

/** From now on Apache sends requests through the relays again, unless the flag names another process by now. */
export function lowerProxyFlag(appDir: string): void {
  const flag = proxyFlagOf(appDir);
  try {
    if (Number(readFileSync(flag, 'utf8')) === process.pid) unlinkSync(flag);
  } catch {
    // gone already
  }
}
