// FcgiSocket, the socket node:http's request and response write through, over a RequestIO written here: what reaches
// the web server (the writes, the end of the request, FCGI_STDERR), in what order, and when the socket says 'close'
// and 'timeout', as the response and the server see them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FcgiSocket } from '../../lib/http/http-socket';
import { createRequest, createResponse, responseFinished, socketClosed } from '../../lib/http/http-message';
import { CgiVariables } from '../../lib/cgi/cgi-head';
import { FcgiError } from '../../lib/addon/errors';
import type { DoneCallback, ReadCallback, RequestIO } from '../../lib/request/request-io';

/** One call the socket made to the server: a write to FCGI_STDOUT (with end, the end of the request) or FCGI_STDERR. */
interface Sent {
  stream: 'stdout' | 'stderr';
  text: string;
  end: boolean;
}

/**
 * A request whose server takes nothing until the test says so (take()), as a web server that reads slowly: each write
 * waits, in order, and its callback runs on a later tick, as RequestIO promises.
 */
class HeldIO implements RequestIO {
  readonly role = 1;
  readonly requestId = 1;
  readonly keepConn = false;
  readonly params = { REQUEST_METHOD: 'GET', SERVER_PROTOCOL: 'HTTP/1.1' };
  readonly pairs = ['REQUEST_METHOD', 'GET', 'SERVER_PROTOCOL', 'HTTP/1.1'];
  aborted = false;
  onAbort: (() => void) | null = null;
  readonly sent: Sent[] = [];
  readonly #held: DoneCallback[] = [];

  read(_size: number, callback: ReadCallback): void {
    process.nextTick(callback, null, null);
  }

  write(chunk: string | Uint8Array | null, end: boolean, _exitStatus: number, callback: DoneCallback): void {
    if (this.sent.some((sent) => sent.end)) throw new Error('write after the request was finished');
    this.sent.push({ stream: 'stdout', text: chunk === null ? '' : Buffer.from(chunk).toString('latin1'), end });
    this.#held.push(callback);
  }

  writeStderr(chunk: string | Uint8Array, callback: DoneCallback): void {
    if (this.sent.some((sent) => sent.end)) throw new Error('writeStderr after the request was finished');
    this.sent.push({ stream: 'stderr', text: Buffer.from(chunk).toString('latin1'), end: false });
    process.nextTick(callback, null);
  }

  startData(callback: DoneCallback): void {
    process.nextTick(callback, null);
  }

  /** The server takes the oldest write waiting (or fails it), and its callback runs on the next tick. */
  take(error: FcgiError | null = null): void {
    const callback = this.#held.shift();
    if (callback === undefined) throw new Error('no write is waiting');
    process.nextTick(callback, error);
  }

  /** What went to FCGI_STDOUT, and whether the request was ended, as one line per call. */
  get stdout(): string[] {
    return this.sent.filter((s) => s.stream === 'stdout').map((s) => (s.end ? `${s.text}<end>` : s.text));
  }
}

/** Lets what the socket queued this tick run: its flush (a microtask), its 'close' (next tick), the callbacks. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Records 'close' events with their hadError argument. */
function closes(socket: FcgiSocket): boolean[] {
  const seen: boolean[] = [];
  socket.on('close', (hadError: boolean) => seen.push(hadError));
  return seen;
}

/** A socket over a HeldIO, and the 'close' events it emits (hadError each). */
function held(): { io: HeldIO; socket: FcgiSocket; closed: boolean[] } {
  const io = new HeldIO();
  const socket = new FcgiSocket(io, new CgiVariables());
  return { io, socket, closed: closes(socket) };
}

describe('what a FcgiSocket sends', () => {
  it('sends what is written in one tick as one write, and the end of the request with the last of it', async () => {
    const { io, socket } = held();
    expect(socket.write('a')).toBe(true);
    socket.write(Buffer.from('b'));
    await turn();
    socket.write('c');
    socket.endRequest();
    await turn();
    expect(io.stdout).toEqual(['ab', 'c<end>']);
  });

  it('ends the request once, however often end() or endRequest() is called', async () => {
    const { io, socket, closed } = held();
    socket.write('x');
    socket.end();
    socket.endRequest();
    socket.destroySoon();
    await turn();
    socket.end();
    io.take();
    await turn();
    socket.endRequest();
    await turn();
    expect(io.stdout).toEqual(['x<end>']);
    expect(closed).toEqual([false]);
  });

  it('refuses a write once the end has gone, calling its callback all the same', async () => {
    const { io, socket } = held();
    socket.endRequest();
    await turn();
    const callback = vi.fn();
    expect(socket.write('late', callback)).toBe(false);
    await turn();
    expect(callback).toHaveBeenCalledOnce();
    expect(io.stdout).toEqual(['<end>']);
  });

  it('stays open until the server has taken the end, then closes once, as destroyed', async () => {
    const { io, socket, closed } = held();
    socket.write('body');
    socket.endRequest();
    await turn();
    expect(io.stdout).toEqual(['body<end>']);
    expect([socket.destroyed, socket.writable, socket.readable, closed]).toEqual([false, true, true, []]);
    expect(socket.writableLength).toBe(4);
    io.take();
    await turn();
    expect([socket.destroyed, socket.writable, socket.readable, closed]).toEqual([true, false, false, [false]]);
    expect(socket.writableLength).toBe(0);
  });

  it('calls the server before the listeners on close (onClose), once', async () => {
    const { io, socket } = held();
    const order: string[] = [];
    socket.onClose = (closing) => order.push(closing === socket ? 'onClose' : 'another socket');
    socket.on('close', () => order.push('close'));
    socket.destroy();
    await turn();
    io.take();
    await turn();
    expect(order).toEqual(['onClose', 'close']);
  });

  it('holds writes while corked and sends them as one when uncorked as often', async () => {
    const { io, socket } = held();
    socket.cork();
    socket.cork();
    socket.write('a');
    socket.write('b');
    await turn();
    socket.uncork();
    await turn();
    expect(io.stdout).toEqual([]);
    socket.uncork();
    await turn();
    expect(io.stdout).toEqual(['ab']);
    expect(socket.writableCorked).toBe(0);
  });

  it('sends FCGI_STDERR while the request is open, and says false once its end has gone', async () => {
    const { io, socket } = held();
    expect(socket.writeStderr('warning\n')).toBe(true);
    socket.endRequest();
    expect(socket.writeStderr('still open\n')).toBe(true);
    await turn();
    expect(socket.writeStderr('after the end\n')).toBe(false);
    expect(io.sent.map((s) => `${s.stream}:${s.text}`)).toEqual(['stderr:warning\n', 'stderr:still open\n', 'stdout:']);
  });
});

describe('destroying a FcgiSocket', () => {
  it('refuses writes at once, still sends what was written before with the end, and closes on the next tick', async () => {
    const { io, socket, closed } = held();
    socket.write('before');
    socket.destroy();
    expect([socket.destroyed, socket.writable, socket.readable]).toEqual([true, false, false]);
    const callback = vi.fn();
    expect(socket.write('after', callback)).toBe(false);
    await turn();
    expect(io.stdout).toEqual(['before<end>']);
    expect(closed).toEqual([false]);
    expect(callback).toHaveBeenCalledOnce();
    io.take();
    await turn();
    expect(closed).toEqual([false]);
  });

  it('sends nothing more for end() or endRequest() after destroy()', async () => {
    const { io, socket } = held();
    socket.destroy();
    socket.end();
    socket.endRequest();
    await turn();
    socket.endRequest();
    socket.destroy();
    await turn();
    expect(io.stdout).toEqual(['<end>']);
  });

  it('closes once when destroyed while the server still holds the end, and again destroyed', async () => {
    const { io, socket, closed } = held();
    socket.endRequest();
    await turn();
    socket.destroy();
    socket.destroy();
    expect(socket.destroyed).toBe(true);
    await turn();
    expect(closed).toEqual([false]);
    io.take();
    await turn();
    expect(closed).toEqual([false]);
    expect(io.stdout).toEqual(['<end>']);
  });

  it('lets the close listeners log to FCGI_STDERR when the web server gives up: the end goes after them', async () => {
    const { io, socket } = held();
    const logged: boolean[] = [];
    socket.on('close', () => logged.push(socket.writeStderr('closing\n')));
    setImmediate(() => socket.destroy()); // from an I/O callback, as the server's abort comes
    await turn();
    await turn();
    expect(logged).toEqual([true]);
    expect(io.sent.map((s) => s.stream)).toEqual(['stderr', 'stdout']);
  });
});

describe('when the server fails a write or gives up', () => {
  it('reports a failed write as the web server giving up (onAbort), and closes with hadError', async () => {
    const { io, socket, closed } = held();
    io.onAbort = () => socket.destroy(); // as the server wires it
    const callback = vi.fn();
    socket.write('lost', callback);
    await turn();
    io.take(new FcgiError('write', 'EPIPE', -32));
    await turn();
    expect(callback).toHaveBeenCalledWith(); // no error for ServerResponse to turn into an 'error' event
    expect(closed).toEqual([true]);
    expect(io.stdout).toEqual(['lost', '<end>']);
  });

  it('does not call onAbort when the write that failed carried the end', async () => {
    const { io, socket, closed } = held();
    const onAbort = vi.fn();
    io.onAbort = onAbort;
    socket.endRequest();
    await turn();
    io.take(new FcgiError('write', 'EPIPE', -32));
    await turn();
    expect(onAbort).not.toHaveBeenCalled();
    expect(closed).toEqual([true]);
  });
});

describe("a FcgiSocket's timeout", () => {
  afterEach(() => void vi.useRealTimers());

  it("emits 'timeout' after that long without a write, calling the server (onTimeout) first", () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { socket } = held();
    const order: string[] = [];
    socket.onTimeout = () => order.push('onTimeout');
    socket.setTimeout(1000, () => order.push('callback'));
    vi.advanceTimersByTime(600);
    socket.write('activity');
    vi.advanceTimersByTime(600);
    expect(order).toEqual([]);
    socket.touch();
    vi.advanceTimersByTime(999);
    expect(order).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(order).toEqual(['onTimeout', 'callback']);
    expect(socket.timeout).toBe(1000);
  });

  it('turns off with setTimeout(0), which also removes the callback given with it', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { socket } = held();
    const callback = vi.fn();
    socket.setTimeout(100, callback);
    socket.setTimeout(0, callback);
    vi.advanceTimersByTime(1000);
    socket.setTimeout(100);
    vi.advanceTimersByTime(100);
    expect(callback).not.toHaveBeenCalled();
    expect(socket.listenerCount('timeout')).toBe(0);
  });

  it('does not time out once destroyed, nor after setTimeout() on a destroyed socket', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { socket } = held();
    const timeout = vi.fn();
    socket.on('timeout', timeout);
    socket.setTimeout(100);
    socket.destroy();
    vi.advanceTimersByTime(1000);
    socket.setTimeout(100);
    vi.advanceTimersByTime(1000);
    expect(timeout).not.toHaveBeenCalled();
  });

  it('still times out while the server holds the end of the request', async () => {
    const { io, socket } = held();
    socket.endRequest();
    await turn();
    expect(io.stdout).toEqual(['<end>']); // sent, and not yet taken
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const timeout = vi.fn();
    socket.setTimeout(100, timeout);
    vi.advanceTimersByTime(100);
    expect(timeout).toHaveBeenCalledOnce();
  });
});

/** A request and its response over a HeldIO, wired as the server wires them (http.ts). */
function exchange(): { io: HeldIO; req: IncomingMessage; res: ServerResponse; socket: FcgiSocket } {
  const io = new HeldIO();
  const { req, socket } = createRequest(io);
  socket.onClose = socketClosed;
  const res = createResponse(req, socket);
  res.on('finish', responseFinished);
  io.onAbort = () => socket.destroy();
  return { io, req, res, socket };
}

describe('a response written through a FcgiSocket', () => {
  it('sends res.end(body) as one write: the CGI head, the body and the end of the request', async () => {
    const { io, res, socket } = exchange();
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    res.end('hi');
    await turn();
    expect(io.stdout).toEqual([
      'Status: 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nhi<end>',
    ]);
    const closed = closes(socket);
    io.take();
    await turn();
    expect(closed).toEqual([false]);
    expect(socket.responseFinished).toBe(true);
  });

  it('drops an interim head (writeContinue) and sends the final one', async () => {
    const { io, res } = exchange();
    res.writeContinue();
    res.writeHead(204);
    res.end();
    await turn();
    expect(io.stdout).toEqual(['Status: 204 No Content\r\n\r\n<end>']);
  });

  it('refuses a header with a line break before anything is sent, as node:http does', async () => {
    const { io, res } = exchange();
    expect(() => res.setHeader('X-Bad', 'a\r\nInjected: 1')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_CHAR' }),
    );
    res.end('ok');
    await turn();
    expect(io.stdout).toEqual(['Status: 200 OK\r\nContent-Length: 2\r\n\r\nok<end>']);
  });

  it("asks the response to wait for 'drain' above 64 KiB queued, and says 'drain' once the server took it", async () => {
    const { io, res } = exchange();
    const drained = vi.fn();
    res.on('drain', drained);
    expect(res.write(Buffer.alloc(40 * 1024))).toBe(true);
    expect(res.write(Buffer.alloc(40 * 1024))).toBe(false);
    await turn();
    expect(drained).not.toHaveBeenCalled();
    io.take();
    await turn();
    expect(drained).toHaveBeenCalledOnce();
  });

  it('tells the request the connection was lost when the web server gives up before the response finished', async () => {
    const { io, req, socket } = exchange();
    const errors: string[] = [];
    req.on('error', (error: NodeJS.ErrnoException) => errors.push(`${error.message} ${error.code}`));
    const closed = vi.fn();
    req.on('close', closed);
    io.onAbort?.();
    await turn();
    expect(closed).toHaveBeenCalledOnce();
    expect(errors).toEqual(['aborted ECONNRESET']);
    expect(socket.responseFinished).toBe(false);
    expect(io.stdout).toEqual(['<end>']);
  });

  it('closes the request without an error when the response finished before the socket closed', async () => {
    const { io, req, res, socket } = exchange();
    const errors = vi.fn();
    req.on('error', errors);
    res.end('done');
    await turn();
    const closed = closes(socket);
    io.take();
    await turn();
    expect(closed).toEqual([false]);
    expect(errors).not.toHaveBeenCalled();
    expect(req.complete).toBe(true);
  });
});
