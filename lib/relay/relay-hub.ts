// The site's one Node process under relays: takes the listening socket of every relay the web server spawned
// (native/relay/relay_listener.h), serves each until its relay goes, and says when none is left, which is when the process
// should finish its requests and exit: nothing of the site outlives the web server's own processes.
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { native, type NativeRelayListener } from '../addon/native';
import { namedNode, openControlSocket } from './control-socket';

/** The relay listener's calls into JS, as native/relay/relay_listener.h's RelayDispatch numbers them. */
export const RelayDispatch = { socket: 0, gone: 1, refused: 2 } as const;

/** A process no relay reaches within this long was started for a relay that went away: it exits. */
const defaultFirstRelayTimeoutMs = 30_000;
/** How often the control socket's path is looked at: deleted with its folder, new relays would find no process. */
const pathCheckIntervalMs = 1_000;
/** Refused connections are reported at most once per this long, with a count of the others. */
const refusalReportIntervalMs = 1_000;

/** What serving one handed socket gives back: closing it stops accepting; onClose comes once its requests are done. */
export interface ServedSocket {
  close(): void;
  ref(): void;
  unref(): void;
}

export interface RelayHubOptions {
  path: string;
  /** Serves a listening socket until close(); calls onClose once it is closed and its requests are done. */
  serve: (fd: number, onClose: () => void) => ServedSocket;
  /** No relay is left (or none came): the process has nothing to serve. */
  onIdle: () => void;
  /** After close(): every socket is closed. */
  onClose: () => void;
  /** How long to wait for the first relay before onIdle; default 30 s. */
  firstRelayTimeoutMs?: number;
}

export class RelayHub {
  readonly #options: RelayHubOptions;
  readonly #listener: NativeRelayListener;
  /** Sockets being served, by relay id, and sockets closing (their relay went) until their requests are done. */
  readonly #served = new Map<number, ServedSocket>();
  readonly #closing = new Set<ServedSocket>();
  #closed = false;
  #closeTold = false;
  #idleTold = false;
  #refed = true;
  readonly #firstRelayTimer: NodeJS.Timeout;
  readonly #pathCheck: NodeJS.Timeout;
  /** The control socket's inode: another one at the path, or none, means it was deleted or taken over. */
  #socketInode: number;
  #remakeFailed = false;
  #refusals = { reported: 0, unreported: 0 };

  constructor(options: RelayHubOptions) {
    this.#options = options;
    const fd = openControlSocket(options.path);
    this.#listener = new (native().RelayListener)(fd, (kind, id, value, why) => {
      if (kind === RelayDispatch.socket) this.#adopt(id, value);
      else if (kind === RelayDispatch.gone) this.#relayGone(id);
      else this.#refused(value, why ?? 'unknown');
    });
    this.#socketInode = statSync(options.path).ino;
    this.#firstRelayTimer = setTimeout(
      () => this.#tellIdle(),
      options.firstRelayTimeoutMs ?? defaultFirstRelayTimeoutMs,
    );
    this.#firstRelayTimer.unref();
    this.#pathCheck = setInterval(() => this.#checkPath(), pathCheckIntervalMs);
    this.#pathCheck.unref();
  }

  /** Whether onIdle was told and no relay has come since. */
  get idle(): boolean {
    return this.#idleTold;
  }

  /** How many listening sockets relays have handed over and this process serves. */
  get sockets(): number {
    return this.#served.size;
  }

  /** Stops taking relays and lets every one go (each finds or starts another process); then onClose. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#firstRelayTimer);
    clearInterval(this.#pathCheck);
    this.#listener.close();
    for (const [id, socket] of this.#served) {
      this.#served.delete(id);
      this.#closeSocket(socket);
    }
    this.#closedIfDone();
  }

  ref(): void {
    this.#refed = true;
    for (const socket of this.#served.values()) socket.ref();
  }

  unref(): void {
    this.#refed = false;
    for (const socket of this.#served.values()) socket.unref();
  }

  /**
   * The control socket's path no longer leads here (its folder was deleted, say): relays that come would find no
   * process and start a second. Another live process named in node.pid has taken the site over: this one lets its
   * relays go and ends. Else the socket is made anew, the relays connected so far staying on.
   */
  #checkPath(): void {
    const { path } = this.#options;
    let inode = 0;
    try {
      inode = statSync(path).ino;
    } catch {
      // gone
    }
    if (this.#closed || inode === this.#socketInode) return;
    const successor = namedNode(path);
    if (successor !== 0 && successor !== process.pid) {
      process.stderr.write(`libfcgi: process ${successor} serves this site now; this one lets its relays go\n`);
      this.#tellIdle();
      return;
    }
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      this.#listener.listen(openControlSocket(path));
      this.#socketInode = statSync(path).ino;
      this.#remakeFailed = false;
      process.stderr.write(`libfcgi: the relay control socket ${path} was gone; made it anew\n`);
    } catch (error) {
      if (this.#remakeFailed) return; // said once; tried again every second
      this.#remakeFailed = true;
      process.stderr.write(`libfcgi: cannot make the relay control socket ${path} anew: ${(error as Error).message}\n`);
    }
  }

  #adopt(id: number, fd: number): void {
    if (this.#closed) {
      native().closeFd(fd);
      return;
    }
    clearTimeout(this.#firstRelayTimer);
    this.#idleTold = false; // told before, and the process served on (the direct path): a relay's going tells again
    let socket: ServedSocket | null = null;
    try {
      socket = this.#options.serve(fd, () => {
        native().closeFd(fd);
        if (socket !== null) this.#closing.delete(socket);
        this.#closedIfDone();
      });
    } catch (error) {
      // Not servable after all (out of memory or descriptors): the relay's requests wait for another process.
      native().closeFd(fd);
      process.stderr.write(`libfcgi: cannot serve the socket a relay handed over: ${(error as Error).message}\n`);
      return;
    }
    if (!this.#refed) socket.unref();
    this.#served.set(id, socket);
  }

  #relayGone(id: number): void {
    const socket = this.#served.get(id);
    if (socket === undefined) return;
    this.#served.delete(id);
    this.#closeSocket(socket);
    if (this.#served.size === 0) this.#tellIdle();
  }

  #closeSocket(socket: ServedSocket): void {
    this.#closing.add(socket);
    socket.close();
  }

  #tellIdle(): void {
    if (this.#idleTold || this.#closed) return;
    this.#idleTold = true;
    this.#options.onIdle();
  }

  #closedIfDone(): void {
    if (!this.#closed || this.#closeTold || this.#served.size > 0 || this.#closing.size > 0) return;
    this.#closeTold = true;
    this.#options.onClose();
  }

  /** Someone other than a relay of this account knocked: say so where the app's errors go, not once per attempt. */
  #refused(uid: number, why: string): void {
    const now = Date.now();
    if (now - this.#refusals.reported < refusalReportIntervalMs) {
      this.#refusals.unreported++;
      return;
    }
    const others =
      this.#refusals.unreported > 0 ? ` (and ${this.#refusals.unreported} more since the last report)` : '';
    this.#refusals = { reported: now, unreported: 0 };
    const who = uid >= 0 ? ` from uid ${uid}` : '';
    process.stderr.write(
      `libfcgi: refused a connection${who} on the relay control socket ${this.#options.path}: ${why}${others}\n`,
    );
  }
}
