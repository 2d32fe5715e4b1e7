// A FastCGI client: connects to an app over TCP or a Unix socket and runs requests on it, with keep-alive. The
// parsing of the CGI response an app writes to FCGI_STDOUT is cgi-response.ts's, exported from here too, so that
// libfcgi/client offers both.
import * as net from 'node:net';
import {
  FCGI_HEADER_LEN,
  FCGI_KEEP_CONN,
  FCGI_MAX_CONTENT_LENGTH,
  FCGI_NULL_REQUEST_ID,
  FCGI_VERSION_1,
  type FcgiRecord,
  type NameValueInput,
  RecordParser,
  RecordType,
  Role,
  decodeEndRequestBody,
  decodeNameValuePairs,
  decodeUnknownTypeBody,
  encodeBeginRequestBody,
  encodeNameValuePairs,
  encodeRecord,
  streamRecords,
} from './protocol';

export { type CgiHead, type CgiResponse, parseCgiHead, parseCgiResponse } from './cgi-response';

export interface FcgiAddress {
  port?: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** A Unix socket path; used instead of port/host when given. */
  path?: string;
  /** The local address a TCP connection binds to, for apps that check the peer address. */
  localAddress?: string;
}

export interface FcgiResponse {
  requestId: number;
  stdout: Buffer;
  stderr: Buffer;
  appStatus: number;
  protocolStatus: number;
}

export interface RequestOptions {
  /** Defaults to Role.responder. */
  role?: number;
  /** Sets FCGI_KEEP_CONN so the app keeps the connection open after the request; defaults to false. */
  keepConn?: boolean;
  /** Defaults to 1. */
  requestId?: number;
  /**
   * The request body; null or undefined sends only the empty STDIN record. An async iterable (an
   * http.IncomingMessage, say) is sent as it arrives, each chunk as soon as the socket takes it.
   */
  stdin?: Uint8Array | AsyncIterable<Uint8Array> | null;
  /** FCGI_DATA for the filter role, sent after stdin. */
  data?: Uint8Array;
  /** Largest STDIN/DATA record content; defaults to 65535. */
  chunkSize?: number;
  /** Called with each non-empty STDOUT record's content as it arrives. */
  onStdout?: (chunk: Buffer) => void;
  /** Called with each non-empty STDERR record's content as it arrives (it is collected too). */
  onStderr?: (chunk: Buffer) => void;
  /** Whether to collect stdout into the response; defaults to true. */
  collect?: boolean;
}

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_REQUEST_ID = 1;

interface PendingRequest {
  requestId: number;
  stdoutChunks: Buffer[];
  stdoutBytes: number;
  stderrChunks: Buffer[];
  stderrBytes: number;
  collectStdout: boolean;
  onStdout: ((chunk: Buffer) => void) | undefined;
  onStderr: ((chunk: Buffer) => void) | undefined;
  resolve: (response: FcgiResponse) => void;
  reject: (error: Error) => void;
}

interface PendingValues {
  resolve: (values: Map<string, string>) => void;
  reject: (error: Error) => void;
}

function socketOptions(address: FcgiAddress): net.NetConnectOpts {
  if (address.path !== undefined) return { path: address.path };
  if (address.port === undefined) throw new TypeError('FcgiAddress needs a port or a path');
  const tcp: net.TcpNetConnectOpts = { port: address.port, host: address.host ?? DEFAULT_HOST };
  if (address.localAddress !== undefined) tcp.localAddress = address.localAddress;
  return tcp;
}

// libfcgi answers a GET_VALUES record only once it has read a byte past the record's content, so a record without
// padding (content a multiple of 8 bytes, as when asking for FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS)
// goes unanswered until another record arrives. Padding of 1 to 8 bytes, never 0, keeps it aligned and answered.
function getValuesPadding(query: Buffer): { paddingLength: number } {
  return { paddingLength: FCGI_HEADER_LEN - (query.length % FCGI_HEADER_LEN) };
}

export class FcgiConnection {
  /** Record types the app reported as unknown, in FCGI_UNKNOWN_TYPE replies. */
  readonly unknownTypeReplies: number[] = [];
  /** Resolves when the socket has closed, for whatever reason. */
  readonly closed: Promise<void>;

  // A version check catches an app that writes text instead of records on its first byte.
  private readonly parser = new RecordParser({ version: FCGI_VERSION_1 });
  private readonly pendingRequests = new Map<number, PendingRequest>();
  private readonly pendingValues: PendingValues[] = [];
  /** The writes still under way for each request id; a request reusing an id waits for them. */
  private readonly sending = new Map<number, Promise<void>>();
  private bytesReceived = 0;
  private socketClosed = false;
  private socketError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => {
      this.socketError ??= error;
    });
    socket.once('close', () => this.onClose());
  }

  static connect(address: FcgiAddress): Promise<FcgiConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketOptions(address));
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        if (address.path === undefined) socket.setNoDelay(true);
        resolve(new FcgiConnection(socket));
      });
    });
  }

  get isClosed(): boolean {
    return this.socketClosed || this.socket.destroyed;
  }

  request(params: NameValueInput, options: RequestOptions = {}): Promise<FcgiResponse> {
    const requestId = options.requestId ?? DEFAULT_REQUEST_ID;
    if (!Number.isInteger(requestId) || requestId < 1 || requestId > 0xffff) {
      return Promise.reject(new RangeError(`FastCGI request id must be from 1 to 65535, got ${requestId}`));
    }
    if (this.isClosed) return Promise.reject(this.closedError(`before request ${requestId} was sent`));
    if (this.pendingRequests.has(requestId)) {
      return Promise.reject(new Error(`FastCGI request ${requestId} is already in progress on this connection`));
    }
    return new Promise<FcgiResponse>((resolve, reject) => {
      const request: PendingRequest = {
        requestId,
        stdoutChunks: [],
        stdoutBytes: 0,
        stderrChunks: [],
        stderrBytes: 0,
        collectStdout: options.collect ?? true,
        onStdout: options.onStdout,
        onStderr: options.onStderr,
        resolve,
        reject,
      };
      this.pendingRequests.set(requestId, request);
      this.sendAfterPreviousUseOfId(request, params, options);
    });
  }

  getValues(names: string[]): Promise<Map<string, string>> {
    if (this.isClosed) return Promise.reject(this.closedError('before GET_VALUES was sent'));
    const values = new Promise<Map<string, string>>((resolve, reject) => {
      this.pendingValues.push({ resolve, reject });
    });
    const query = encodeNameValuePairs(names.map((name) => [name, ''] as const));
    this.socket.write(encodeRecord(RecordType.getValues, FCGI_NULL_REQUEST_ID, query, getValuesPadding(query)));
    return values;
  }

  abort(requestId = DEFAULT_REQUEST_ID): void {
    this.writeRaw(encodeRecord(RecordType.abortRequest, requestId));
  }

  /** Writes bytes as they are, for tests that send malformed records. */
  writeRaw(bytes: Uint8Array): void {
    if (!this.isClosed) this.socket.write(bytes);
  }

  /** Stops reading the app's records until resume(), so a slow reader of stdout holds the app back. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  // An app may end a request before reading all its input. The rest of the input is still sent, so an app that
  // drains it finds the end of the stream, and a new request with the same id waits so the two never interleave.
  private sendAfterPreviousUseOfId(request: PendingRequest, params: NameValueInput, options: RequestOptions): void {
    const { requestId } = request;
    const previous = this.sending.get(requestId);
    const send = () => this.sendRequest(request, params, options);
    // Without a previous use, start at once so BEGIN_REQUEST goes out before anything written after this call.
    const sent = (previous ? previous.then(send) : send())
      .catch((error: Error) => this.failRequest(request, error))
      .finally(() => {
        if (this.sending.get(requestId) === sent) this.sending.delete(requestId);
      });
    this.sending.set(requestId, sent);
  }

  private async sendRequest(request: PendingRequest, params: NameValueInput, options: RequestOptions): Promise<void> {
    const { requestId } = request;
    const role = options.role ?? Role.responder;
    const flags = options.keepConn ? FCGI_KEEP_CONN : 0;
    const chunkSize = options.chunkSize ?? FCGI_MAX_CONTENT_LENGTH;
    await this.write(encodeRecord(RecordType.beginRequest, requestId, encodeBeginRequestBody(role, flags)));
    await this.writeStream(RecordType.params, requestId, encodeNameValuePairs(params), FCGI_MAX_CONTENT_LENGTH);
    const stdin = options.stdin ?? Buffer.alloc(0);
    if (stdin instanceof Uint8Array) await this.writeStream(RecordType.stdin, requestId, stdin, chunkSize);
    else await this.writeAsyncStream(RecordType.stdin, requestId, stdin, chunkSize);
    if (role === Role.filter || options.data !== undefined) {
      await this.writeStream(RecordType.data, requestId, options.data ?? Buffer.alloc(0), chunkSize);
    }
  }

  private async writeStream(type: number, requestId: number, data: Uint8Array, chunkSize: number): Promise<void> {
    for (const record of streamRecords(type, requestId, data, chunkSize)) {
      await this.write(record);
    }
  }

  /** Sends each chunk as records as it arrives, then the empty record that ends the stream. */
  private async writeAsyncStream(
    type: number,
    requestId: number,
    chunks: AsyncIterable<Uint8Array>,
    chunkSize: number,
  ): Promise<void> {
    for await (const chunk of chunks) {
      for (const record of streamRecords(type, requestId, chunk, chunkSize)) {
        // Each chunk's empty end record is left out: only the whole stream ends.
        if (record.length > FCGI_HEADER_LEN) await this.write(record);
      }
    }
    await this.write(encodeRecord(type, requestId));
  }

  /** Writes and, when the socket's buffer is full, waits for it to drain so large bodies don't pile up in memory. */
  private write(bytes: Buffer): Promise<void> {
    if (this.isClosed) return Promise.reject(this.closedError('while sending'));
    if (this.socket.write(bytes)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        this.socket.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        this.socket.off('drain', onDrain);
        reject(this.closedError('while sending'));
      };
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
    });
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    try {
      for (const record of this.parser.push(chunk)) this.onRecord(record);
    } catch (error) {
      this.socket.destroy(error as Error);
    }
  }

  private onRecord(record: FcgiRecord): void {
    if (record.requestId === FCGI_NULL_REQUEST_ID) {
      this.onManagementRecord(record);
      return;
    }
    const pending = this.pendingRequests.get(record.requestId);
    if (!pending) return;
    switch (record.type) {
      case RecordType.stdout:
        this.onStdout(pending, record.content);
        break;
      case RecordType.stderr:
        pending.stderrChunks.push(record.content);
        pending.stderrBytes += record.content.length;
        if (record.content.length > 0) pending.onStderr?.(record.content);
        break;
      case RecordType.endRequest:
        this.onEndRequest(pending, record.content);
        break;
    }
  }

  private onStdout(pending: PendingRequest, content: Buffer): void {
    if (content.length === 0) return;
    pending.stdoutBytes += content.length;
    if (pending.collectStdout) pending.stdoutChunks.push(content);
    pending.onStdout?.(content);
  }

  private onEndRequest(pending: PendingRequest, content: Buffer): void {
    const { appStatus, protocolStatus } = decodeEndRequestBody(content);
    this.pendingRequests.delete(pending.requestId);
    pending.resolve({
      requestId: pending.requestId,
      stdout: Buffer.concat(pending.stdoutChunks),
      stderr: Buffer.concat(pending.stderrChunks),
      appStatus,
      protocolStatus,
    });
  }

  private onManagementRecord(record: FcgiRecord): void {
    if (record.type === RecordType.unknownType) {
      this.unknownTypeReplies.push(decodeUnknownTypeBody(record.content).type);
    } else if (record.type === RecordType.getValuesResult) {
      const values = new Map<string, string>();
      for (const [name, value] of decodeNameValuePairs(record.content)) values.set(name.toString(), value.toString());
      this.pendingValues.shift()?.resolve(values);
    }
  }

  private failRequest(pending: PendingRequest, error: Error): void {
    if (this.pendingRequests.get(pending.requestId) !== pending) return;
    this.pendingRequests.delete(pending.requestId);
    pending.reject(error);
  }

  private onClose(): void {
    this.socketClosed = true;
    for (const pending of [...this.pendingRequests.values()]) {
      this.failRequest(pending, this.closedError(`before END_REQUEST for request ${pending.requestId}`, pending));
    }
    for (const waiter of this.pendingValues.splice(0)) {
      waiter.reject(this.closedError('before GET_VALUES_RESULT'));
    }
  }

  private closedError(when: string, pending?: PendingRequest): Error {
    const received = pending
      ? `received ${pending.stdoutBytes} bytes of stdout, ${pending.stderrBytes} bytes of stderr, ` +
        `${this.bytesReceived} bytes in all`
      : `received ${this.bytesReceived} bytes`;
    const unparsed =
      this.parser.pendingBytes > 0 ? `, ${this.parser.pendingBytes} of them in an incomplete record` : '';
    const cause = this.socketError ? `: ${this.socketError.message}` : '';
    return new Error(`FastCGI connection closed ${when} (${received}${unparsed})${cause}`, {
      cause: this.socketError,
    });
  }
}

export async function fcgiRequest(
  address: FcgiAddress,
  params: NameValueInput,
  options: RequestOptions = {},
): Promise<FcgiResponse> {
  const connection = await FcgiConnection.connect(address);
  try {
    return await connection.request(params, { ...options, keepConn: false });
  } finally {
    connection.close();
  }
}
