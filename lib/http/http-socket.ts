// The socket a ServerResponse writes to: sends the response, its head in CGI form (cgi-head.ts), through the request's
// FastCGI streams, batching what is written in one tick into one call to the server, and ends the request.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { chunkSize, type RequestIO } from '../request/request-io';
import type { FcgiError } from '../addon/errors';
import { type CgiVariables, isDecimal, isInterimHead, withCgiHead } from '../cgi/cgi-head';

/** Bytes queued for the server above which write() asks the writer to wait for 'drain'. */
const highWaterMark = chunkSize;

type Chunk = string | Buffer;
type WriteCallback = ((error?: Error | null) => void) | undefined;

/**
 * Where the socket is in its life. The FastCGI request ends in steps: the end is asked for (endRequest(), or the
 * response ended this tick), sent with the next flush, and taken by the server, which closes the socket. destroy() may
 * come at any step: writes are refused from then on, 'close' comes on the next tick, and an end not yet sent still goes
 * out, with what was written before it, on the next flush.
 *
 *   open ─endRequest()→ ending ─flush→ sent ─taken→ ended
 *   open ─flush, the response ended→ sent
 *   open, ending ─destroy()→ destroyed ─flush→ ended
 *   sent ─destroy()→ ended
 */
type SocketState = 'open' | 'ending' | 'sent' | 'destroyed' | 'ended';

const moves: Readonly<Record<SocketState, readonly SocketState[]>> = {
  open: ['ending', 'sent', 'destroyed'],
  ending: ['sent', 'destroyed'],
  sent: ['ended'],
  destroyed: ['ended'],
  ended: [],
};

/** The part of ServerResponse that says whether its final head has been stored: node:http's _header. */
type WithStoredHead = { _header?: string | null };

const nonAscii = /[^\u0000-\u007f]/; // eslint-disable-line no-control-regex -- the ASCII range starts at NUL

/**
 * Whether a string in this encoding is the same bytes as in UTF-8, the server's encoding for strings: so for ASCII in
 * latin1, which node:http writes heads in, and ends every response with (an empty write). No Buffer is made for them.
 */
function sameBytesAsUtf8(data: string, encoding: BufferEncoding): boolean {
  return (encoding === 'latin1' || encoding === 'binary' || encoding === 'ascii') && !nonAscii.test(data);
}

function familyOf(address: string | undefined): string | undefined {
  if (address === undefined || address === '') return undefined;
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

function toBuffer(chunk: Chunk): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
}

function portOf(value: string | undefined): number | undefined {
  return isDecimal(value) ? Number(value) : undefined;
}

/** HTTPS as CGI sends it: "on" (or "1") when the client used TLS; absent, empty or "off" when not. */
function isHttps(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value.toLowerCase() !== 'off';
}

export class FcgiSocket extends EventEmitter {
  /** True when the web server says the client used HTTPS; absent otherwise, as on a plain net.Socket. */
  declare readonly encrypted?: true;
  readonly readableHighWaterMark = chunkSize;
  /** The cork count, where OutgoingMessage.end() resets it (net.Socket's Writable state). */
  readonly _writableState = { corked: 0 };
  timeout = 0;
  /** The response using this socket (ServerResponse.assignSocket sets it). */
  _httpMessage: ServerResponse | null = null;
  /**
   * The server's own handlers, called before the 'timeout' and 'close' listeners, as node:http's server adds its
   * listeners first: plain fields, so that no request pays for a closure and a listener of its own.
   */
  onTimeout: ((socket: FcgiSocket) => void) | null = null;
  onClose: ((socket: FcgiSocket) => void) | null = null;
  /** The request this socket carries (createRequest sets it), for the server's handlers above. */
  request: IncomingMessage | null = null;
  /** Set when the response has finished ('finish'), which tells a lost connection from a request done. */
  responseFinished = false;

  readonly #io: RequestIO;
  /** Where the addresses come from, read when asked for: few apps read the ports, so no request parses them. */
  readonly #cgi: CgiVariables;
  #state: SocketState = 'open';
  /** Set once 'close' is emitted: destroy()'s next tick and the server taking the end both close, whichever first. */
  #closed = false;
  #headTranslated = false;
  #pending: Chunk[] = [];
  #pendingCallbacks: WriteCallback[] = [];
  #pendingBytes = 0;
  #inFlightBytes = 0;
  #flushScheduled = false;
  #needDrain = false;
  #firstError: FcgiError | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(io: RequestIO, cgi: CgiVariables) {
    super();
    this.#io = io;
    this.#cgi = cgi;
    if (isHttps(cgi.HTTPS)) this.encrypted = true;
  }

  // Getters, as on net.Socket.
  get remoteAddress(): string | undefined {
    return this.#cgi.REMOTE_ADDR;
  }

  get remotePort(): number | undefined {
    return portOf(this.#cgi.REMOTE_PORT);
  }

  get localAddress(): string | undefined {
    return this.#cgi.SERVER_ADDR;
  }

  get localPort(): number | undefined {
    return portOf(this.#cgi.SERVER_PORT);
  }

  get remoteFamily(): string | undefined {
    return familyOf(this.remoteAddress);
  }

  /** As net.Socket's: true once destroy() was called or the server took the end of the request. */
  get destroyed(): boolean {
    return this.#state === 'destroyed' || this.#state === 'ended';
  }

  /** Both as net.Socket's: false once destroyed. */
  get readable(): boolean {
    return !this.destroyed;
  }

  get writable(): boolean {
    return !this.destroyed;
  }

  write(data: Chunk | Uint8Array, encoding?: BufferEncoding | WriteCallback, callback?: WriteCallback): boolean {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    let chunk: Chunk =
      typeof data === 'string'
        ? encoding && encoding !== 'utf8' && encoding !== 'utf-8' && !sameBytesAsUtf8(data, encoding)
          ? Buffer.from(data, encoding)
          : data
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (!this.#headTranslated) {
      // A CGI response has one head, the final one: interim responses cannot be carried, so they are dropped. An
      // interim head is written before the response has stored its own (_header); a final head may have a 1xx status
      // too (res.status(101).end()), and goes out as one.
      if (isInterimHead(chunk) && !this.#finalHeadStored()) {
        if (callback) process.nextTick(callback);
        return true;
      }
      this.#headTranslated = true;
      chunk = withCgiHead(chunk);
    }
    this.#refreshTimeout();
    if (this.#state !== 'open' && this.#state !== 'ending') {
      // Destroyed, or the end has gone: nothing more can be sent.
      if (callback) process.nextTick(callback);
      return false;
    }
    this.#pending.push(chunk);
    this.#pendingCallbacks.push(callback);
    this.#pendingBytes += chunk.length;
    this.#scheduleFlush();
    const below = this.#inFlightBytes + this.#pendingBytes < highWaterMark;
    if (!below) this.#needDrain = true;
    return below;
  }

  #finalHeadStored(): boolean {
    const stored = (this._httpMessage as WithStoredHead | null)?._header;
    return typeof stored === 'string' && stored.length > 0;
  }

  /** Ends the FastCGI request after what has been written (the response finished, or was destroyed). */
  endRequest(): void {
    if (this.#state !== 'open') return;
    this.#moveTo('ending');
    this.#scheduleFlush();
  }

  /** Writes to FCGI_STDERR while the request is open. Returns false once it has ended. */
  writeStderr(chunk: string | Uint8Array): boolean {
    if (this.#endSent()) return false;
    this.#io.writeStderr(chunk, () => undefined);
    return true;
  }

  /** Bytes written and not yet sent (OutgoingMessage.writableLength and writableFinished read it). */
  get writableLength(): number {
    return this.#pendingBytes + this.#inFlightBytes;
  }

  get writableCorked(): number {
    return this._writableState.corked;
  }

  /** The web server gave up, or the response was destroyed: end the request with the next flush, 'close' next tick. */
  destroy(): this {
    if (this.destroyed) return this;
    if (this.#state === 'sent') this.#moveTo('ended');
    else {
      this.#moveTo('destroyed');
      this.#scheduleFlush(); // the end still goes out
    }
    process.nextTick(() => this.#close());
    return this;
  }

  end(): this {
    this.endRequest();
    return this;
  }

  destroySoon(): void {
    this.endRequest();
  }

  /**
   * As net.Socket's: 'timeout' after ms without activity (the response writing, the body being read); 0 turns it off.
   * The server decides what a timeout does (see Server), as node:http's does.
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeout = ms;
    this.#stopTimer();
    if (callback) {
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    this.#refreshTimeout();
    return this;
  }

  /** Something was read or written: the idle timeout starts again. */
  touch(): void {
    this.#refreshTimeout();
  }

  address(): { address: string | undefined; port: number | undefined; family: string } {
    return { address: this.localAddress, port: this.localPort, family: familyOf(this.localAddress) ?? 'IPv4' };
  }

  /** As net.Socket's: writes are held until as many uncork() calls, then sent as one. */
  cork(): void {
    this._writableState.corked++;
  }

  uncork(): void {
    if (this._writableState.corked > 0) this._writableState.corked--;
    if (this._writableState.corked === 0 && this.#pending.length > 0) this.#scheduleFlush();
  }

  // net.Socket methods that have no meaning here: the web server owns the HTTP connection.
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  /** The one place the state changes: a move the diagram above does not draw is a bug here, and throws. */
  #moveTo(to: SocketState): void {
    if (!moves[this.#state].includes(to)) throw new Error(`FcgiSocket cannot move from ${this.#state} to ${to}`);
    this.#state = to;
    if (to === 'destroyed' || to === 'ended') this.#stopTimer(); // as net.Socket's: no 'timeout' once destroyed
  }

  /** Whether the end of the request has gone to the server, after which nothing more can be sent. */
  #endSent(): boolean {
    return this.#state === 'sent' || this.#state === 'ended';
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#endSent()) return;
    this.#flushScheduled = true;
    queueMicrotask(() => this.#flush());
  }

  /** Sends everything written since the last flush as one order; with the end when it was asked for. */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#endSent()) return;
    const chunks = this.#pending;
    const callbacks = this.#pendingCallbacks;
    const bytes = this.#pendingBytes;
    // res.end(body) writes the body, then an empty chunk whose callback emits 'finish', and marks the response
    // ended, all in one tick: seeing that here sends the body and the end of the request as one order (one hop).
    const end = this.#state !== 'open' || this._httpMessage?.writableEnded === true;
    if ((chunks.length === 0 || this._writableState.corked > 0) && !end) return;
    this.#pending = [];
    this.#pendingCallbacks = [];
    this.#pendingBytes = 0;
    this.#inFlightBytes += bytes;
    if (end) this.#moveTo(this.#state === 'destroyed' ? 'ended' : 'sent');

    // Most responses are one chunk and an empty end (res.end(body)): that chunk goes as it is, without a copy.
    let chunk: Chunk | null = null;
    let several = false;
    for (const written of chunks) {
      if (written.length === 0) continue;
      if (chunk === null) chunk = written;
      else several = true;
    }
    if (several) chunk = Buffer.concat(chunks.map(toBuffer));
    this.#io.write(chunk, end, 0, (error) => {
      this.#inFlightBytes -= bytes;
      if (error && !this.#firstError) this.#firstError = error;
      // ServerResponse would turn a callback error into an 'error' event; a vanished peer is reported by 'close'.
      for (const callback of callbacks) callback?.();
      if (error && !end) this.#io.onAbort?.();
      if (this.#needDrain && this.#inFlightBytes + this.#pendingBytes < highWaterMark) {
        this.#needDrain = false;
        this._httpMessage?.emit('drain');
      }
      if (end) this.#taken();
    });
  }

  #refreshTimeout(): void {
    const live = this.timeout > 0 && !this.destroyed;
    if (!live) this.#stopTimer();
    else if (this.#timer) this.#timer.refresh();
    else {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.onTimeout?.(this);
        this.emit('timeout');
      }, this.timeout);
      this.#timer.unref(); // as net.Socket's: a timeout never keeps the process alive
    }
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** The server has taken the end of the request: the socket is done, if destroy() has not said so already. */
  #taken(): void {
    if (this.#state === 'sent') this.#moveTo('ended');
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose?.(this);
    this.emit('close', this.#firstError !== null);
  }
}
