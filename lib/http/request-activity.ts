// What a server's requests are doing, for its owner: how many were served, which are in flight and for how long, the
// slowest of the last minute (`libfcgi status`), and a line in the log for each request that runs past
// slowRequestMs, as PHP-FPM's request_slowlog_timeout gives one. Kept only where asked for: a map entry per request.
import type { IncomingMessage } from 'node:http';
import type { RequestActivitySnapshot, RequestDone } from '../relay/status-socket';
import type { FcgiSocket } from './http-socket';

interface Entry {
  method: string;
  url: string;
  started: number;
  toldSlow: boolean;
}

let slowRequestMsDefault = 0;

/** For init's launcher (logSlowRequests of libfcgi/launch): the slowRequestMs of servers that do not set their own. */
export function logSlowRequests(ms: number): void {
  if (!(ms >= 0)) throw new TypeError('logSlowRequests takes a number of milliseconds, 0 for none');
  slowRequestMsDefault = ms;
}

export const defaultSlowRequestMs = (): number => slowRequestMsDefault;

/** The slowest request of each 10-second stretch, six of them making the last minute. */
const stretchMs = 10_000;
const stretches = 6;

export class RequestActivity {
  #served = 0;
  readonly #inFlight = new Map<FcgiSocket, Entry>();
  readonly #slowest: Array<(RequestDone & { stretch: number }) | undefined> = new Array(stretches);
  readonly #slowRequestMs: number;
  #timer: NodeJS.Timeout | undefined;

  /** slowRequestMs: past it a request gets a line on stderr (the app log); 0 for none. */
  constructor(slowRequestMs: number) {
    this.#slowRequestMs = slowRequestMs;
  }

  /** A request began; it ends when its socket closes. */
  began(req: IncomingMessage, socket: FcgiSocket): void {
    this.#inFlight.set(socket, { method: req.method ?? '', url: req.url ?? '', started: Date.now(), toldSlow: false });
    socket.once('close', () => this.#ended(socket));
    if (this.#slowRequestMs > 0 && this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tellSlow(), Math.min(250, Math.max(20, this.#slowRequestMs / 4)));
      this.#timer.unref();
    }
  }

  snapshot(): RequestActivitySnapshot {
    const now = Date.now();
    const inFlight = [...this.#inFlight.values()]
      .map(({ method, url, started }) => ({ method, url, ageMs: now - started }))
      .sort((a, b) => b.ageMs - a.ageMs);
    const current = Math.floor(now / stretchMs);
    let slowest: RequestDone | null = null;
    for (const done of this.#slowest) {
      if (done === undefined || current - done.stretch >= stretches) continue;
      if (slowest === null || done.ms > slowest.ms) slowest = { method: done.method, url: done.url, ms: done.ms };
    }
    return { served: this.#served, inFlight, slowestLastMinute: slowest };
  }

  /** Stops the slow-request timer (the server closed). */
  dispose(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #ended(socket: FcgiSocket): void {
    const entry = this.#inFlight.get(socket);
    if (entry === undefined) return;
    this.#inFlight.delete(socket);
    this.#served++;
    const now = Date.now();
    const stretch = Math.floor(now / stretchMs);
    const slot = stretch % stretches;
    const kept = this.#slowest[slot];
    const ms = now - entry.started;
    if (kept === undefined || kept.stretch !== stretch || ms > kept.ms) {
      this.#slowest[slot] = { method: entry.method, url: entry.url, ms, stretch };
    }
  }

  #tellSlow(): void {
    const now = Date.now();
    for (const entry of this.#inFlight.values()) {
      if (entry.toldSlow || now - entry.started < this.#slowRequestMs) continue;
      entry.toldSlow = true;
      const seconds = ((now - entry.started) / 1000).toFixed(1);
      process.stderr.write(
        `${new Date(now).toISOString()} libfcgi: slow request: ${entry.method} ${entry.url} has run ${seconds} s (slowRequestMs ${this.#slowRequestMs})\n`,
      );
    }
  }
}
