// The FastCGI wire format: record headers, name-value pairs and the bodies of BEGIN_REQUEST / END_REQUEST / UNKNOWN_TYPE, encoded and decoded from the spec.

export const FCGI_VERSION_1 = 1;
export const FCGI_HEADER_LEN = 8;
export const FCGI_MAX_CONTENT_LENGTH = 65535;
export const FCGI_KEEP_CONN = 1;
export const FCGI_NULL_REQUEST_ID = 0;

const MAX_REQUEST_ID = 0xffff;
const MAX_PADDING_LENGTH = 0xff;
const MAX_NAME_VALUE_LENGTH = 0x7fffffff;
const SHORT_LENGTH_LIMIT = 0x80;
const LONG_LENGTH_FLAG = 0x80000000;
const BODY_LEN = 8;

export const RecordType = {
  beginRequest: 1,
  abortRequest: 2,
  endRequest: 3,
  params: 4,
  stdin: 5,
  stdout: 6,
  stderr: 7,
  data: 8,
  getValues: 9,
  getValuesResult: 10,
  unknownType: 11,
} as const;
export type RecordTypeValue = (typeof RecordType)[keyof typeof RecordType];

export const Role = { responder: 1, authorizer: 2, filter: 3 } as const;
export type RoleValue = (typeof Role)[keyof typeof Role];

export const ProtocolStatus = { requestComplete: 0, cantMpxConn: 1, overloaded: 2, unknownRole: 3 } as const;
export type ProtocolStatusValue = (typeof ProtocolStatus)[keyof typeof ProtocolStatus];

export interface FcgiRecord {
  version: number;
  type: number;
  requestId: number;
  content: Buffer;
  paddingLength: number;
}

export interface EncodeRecordOptions {
  paddingLength?: number;
  version?: number;
}

export type NameValueInput =
  Iterable<readonly [string | Uint8Array, string | Uint8Array]> | Record<string, string | Uint8Array>;

const EMPTY = Buffer.alloc(0);

function assertIntegerInRange(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what} must be an integer from 0 to ${max}, got ${value}`);
  }
}

/** Padding that makes a record with this much content end on an 8-byte boundary, as the spec recommends. */
function alignedPaddingLength(contentLength: number): number {
  return (FCGI_HEADER_LEN - (contentLength % FCGI_HEADER_LEN)) % FCGI_HEADER_LEN;
}

export function encodeRecord(
  type: number,
  requestId: number,
  content: Uint8Array = EMPTY,
  options: EncodeRecordOptions = {},
): Buffer {
  const paddingLength = options.paddingLength ?? alignedPaddingLength(content.length);
  const version = options.version ?? FCGI_VERSION_1;
  assertIntegerInRange('record type', type, 0xff);
  assertIntegerInRange('version', version, 0xff);
  assertIntegerInRange('request id', requestId, MAX_REQUEST_ID);
  assertIntegerInRange('content length', content.length, FCGI_MAX_CONTENT_LENGTH);
  assertIntegerInRange('padding length', paddingLength, MAX_PADDING_LENGTH);

  // alloc (not allocUnsafe) so padding and the reserved byte are zero.
  const record = Buffer.alloc(FCGI_HEADER_LEN + content.length + paddingLength);
  record.writeUInt8(version, 0);
  record.writeUInt8(type, 1);
  record.writeUInt16BE(requestId, 2);
  record.writeUInt16BE(content.length, 4);
  record.writeUInt8(paddingLength, 6);
  record.set(content, FCGI_HEADER_LEN);
  return record;
}

function clampChunkSize(chunkSize: number): number {
  const whole = Math.floor(chunkSize);
  if (!(whole >= 1)) return 1;
  return Math.min(whole, FCGI_MAX_CONTENT_LENGTH);
}

/** Yields the records of a stream (PARAMS, STDIN, STDOUT, STDERR, DATA): the data split into records, then the empty one that ends it. */
export function* streamRecords(
  type: number,
  requestId: number,
  data: Uint8Array,
  chunkSize = FCGI_MAX_CONTENT_LENGTH,
): Generator<Buffer> {
  const size = clampChunkSize(chunkSize);
  for (let offset = 0; offset < data.length; offset += size) {
    yield encodeRecord(type, requestId, data.subarray(offset, offset + size));
  }
  yield encodeRecord(type, requestId);
}

export function encodeStream(
  type: number,
  requestId: number,
  data: Uint8Array,
  chunkSize = FCGI_MAX_CONTENT_LENGTH,
): Buffer {
  return Buffer.concat([...streamRecords(type, requestId, data, chunkSize)]);
}

export function encodeNameValueLength(n: number): Buffer {
  assertIntegerInRange('name-value length', n, MAX_NAME_VALUE_LENGTH);
  if (n < SHORT_LENGTH_LIMIT) return Buffer.from([n]);
  const bytes = Buffer.alloc(4);
  // `>>> 0` keeps the flagged value unsigned for writeUInt32BE.
  bytes.writeUInt32BE((n | LONG_LENGTH_FLAG) >>> 0, 0);
  return bytes;
}

function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

function isIterable(value: object): value is Iterable<unknown> {
  return typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}

function nameValueEntries(pairs: NameValueInput): Iterable<readonly [string | Uint8Array, string | Uint8Array]> {
  return isIterable(pairs) ? pairs : Object.entries(pairs);
}

export function encodeNameValuePairs(pairs: NameValueInput): Buffer {
  const parts: Uint8Array[] = [];
  for (const [name, value] of nameValueEntries(pairs)) {
    const nameBytes = toBytes(name);
    const valueBytes = toBytes(value);
    parts.push(
      encodeNameValueLength(nameBytes.length),
      encodeNameValueLength(valueBytes.length),
      nameBytes,
      valueBytes,
    );
  }
  return Buffer.concat(parts);
}

/** Reads one name or value length at `offset`; returns it and where the next field starts. */
function readNameValueLength(bytes: Buffer, offset: number, what: string): [length: number, next: number] {
  const first = bytes[offset];
  if (first === undefined) {
    throw new Error(`Truncated name-value pair: missing the ${what} length at byte ${offset} of ${bytes.length}`);
  }
  if (first < SHORT_LENGTH_LIMIT) return [first, offset + 1];
  if (offset + 4 > bytes.length) {
    throw new Error(
      `Truncated name-value pair: the 4-byte ${what} length at byte ${offset} runs past the end (${bytes.length} bytes)`,
    );
  }
  return [bytes.readUInt32BE(offset) & MAX_NAME_VALUE_LENGTH, offset + 4];
}

export function decodeNameValuePairs(content: Uint8Array): Array<[Buffer, Buffer]> {
  const bytes = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  const pairs: Array<[Buffer, Buffer]> = [];
  let offset = 0;
  while (offset < bytes.length) {
    const [nameLength, afterNameLength] = readNameValueLength(bytes, offset, 'name');
    const [valueLength, dataStart] = readNameValueLength(bytes, afterNameLength, 'value');
    const end = dataStart + nameLength + valueLength;
    if (end > bytes.length) {
      throw new Error(
        `Truncated name-value pair at byte ${offset}: needs ${nameLength} name and ${valueLength} value bytes ` +
          `but only ${bytes.length - dataStart} remain`,
      );
    }
    const name = Buffer.from(bytes.subarray(dataStart, dataStart + nameLength));
    const value = Buffer.from(bytes.subarray(dataStart + nameLength, end));
    pairs.push([name, value]);
    offset = end;
  }
  return pairs;
}

export function encodeBeginRequestBody(role: number, flags: number): Buffer {
  assertIntegerInRange('role', role, 0xffff);
  assertIntegerInRange('flags', flags, 0xff);
  const body = Buffer.alloc(BODY_LEN);
  body.writeUInt16BE(role, 0);
  body.writeUInt8(flags, 2);
  return body;
}

export function decodeBeginRequestBody(content: Uint8Array): { role: number; flags: number } {
  const body = bodyOfLength(content, 'BEGIN_REQUEST');
  return { role: body.readUInt16BE(0), flags: body.readUInt8(2) };
}

export function encodeEndRequestBody(appStatus: number, protocolStatus: number): Buffer {
  // Apps report exit codes as C ints, so accept negative statuses and store their two's complement.
  if (!Number.isInteger(appStatus) || appStatus < -0x80000000 || appStatus > 0xffffffff) {
    throw new RangeError(`app status must be a 32-bit integer, got ${appStatus}`);
  }
  assertIntegerInRange('protocol status', protocolStatus, 0xff);
  const body = Buffer.alloc(BODY_LEN);
  body.writeUInt32BE(appStatus >>> 0, 0);
  body.writeUInt8(protocolStatus, 4);
  return body;
}

export function decodeEndRequestBody(content: Uint8Array): { appStatus: number; protocolStatus: number } {
  const body = bodyOfLength(content, 'END_REQUEST');
  return { appStatus: body.readUInt32BE(0), protocolStatus: body.readUInt8(4) };
}

export function encodeUnknownTypeBody(type: number): Buffer {
  assertIntegerInRange('record type', type, 0xff);
  const body = Buffer.alloc(BODY_LEN);
  body.writeUInt8(type, 0);
  return body;
}

export function decodeUnknownTypeBody(content: Uint8Array): { type: number } {
  const body = bodyOfLength(content, 'UNKNOWN_TYPE');
  return { type: body.readUInt8(0) };
}

function bodyOfLength(content: Uint8Array, recordName: string): Buffer {
  if (content.length < BODY_LEN) {
    throw new Error(`${recordName} body must be ${BODY_LEN} bytes, got ${content.length}`);
  }
  return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
}

/**
 * Bytes received but not yet parsed, kept as the chunks they arrived in so a
 * record fed one byte at a time is copied once, not once per byte.
 */
class ByteQueue {
  private chunks: Uint8Array[] = [];
  private headIndex = 0;
  private headOffset = 0;
  private queued = 0;

  get length(): number {
    return this.queued;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
  }

  /** Copies the first `n` bytes into a new Buffer, leaving them queued. */
  peek(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    let offset = this.headOffset;
    for (let i = this.headIndex; copied < n && i < this.chunks.length; i++) {
      const piece = (this.chunks[i] as Uint8Array).subarray(offset, offset + n - copied);
      out.set(piece, copied);
      copied += piece.length;
      offset = 0;
    }
    return out;
  }

  /** Removes and returns a copy of the first `n` bytes. */
  take(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  skip(n: number): void {
    let remaining = Math.min(n, this.queued);
    this.queued -= remaining;
    while (remaining > 0) {
      const available = (this.chunks[this.headIndex] as Uint8Array).length - this.headOffset;
      if (remaining < available) {
        this.headOffset += remaining;
        break;
      }
      remaining -= available;
      this.headIndex++;
      this.headOffset = 0;
    }
    this.dropConsumedChunks();
  }

  // Dropping chunks in batches rather than with shift() keeps many tiny chunks from costing quadratic time.
  private dropConsumedChunks(): void {
    if (this.headIndex === this.chunks.length) {
      this.chunks = [];
      this.headIndex = 0;
    } else if (this.headIndex >= 1024 && this.headIndex * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.headIndex);
      this.headIndex = 0;
    }
  }
}

interface RecordHeader {
  version: number;
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
}

function decodeHeader(header: Buffer): RecordHeader {
  return {
    version: header.readUInt8(0),
    type: header.readUInt8(1),
    requestId: header.readUInt16BE(2),
    contentLength: header.readUInt16BE(4),
    paddingLength: header.readUInt8(6),
  };
}

export interface RecordParserOptions {
  /**
   * The only version byte to accept. Given it, the parser throws as soon as a record starts with another byte, even
   * before its header is whole, so a peer writing something other than records is caught on its first byte.
   */
  version?: number;
}

/** Turns a byte stream, in chunks of any size, into whole records. */
export class RecordParser {
  private readonly queue = new ByteQueue();

  constructor(private readonly options: RecordParserOptions = {}) {}

  get pendingBytes(): number {
    return this.queue.length;
  }

  push(chunk: Uint8Array): FcgiRecord[] {
    this.queue.push(chunk);
    const records: FcgiRecord[] = [];
    for (let record = this.nextRecord(); record; record = this.nextRecord()) {
      records.push(record);
    }
    return records;
  }

  private nextRecord(): FcgiRecord | undefined {
    const { version } = this.options;
    if (version !== undefined && this.queue.length > 0 && this.queue.peek(1)[0] !== version) {
      const start = this.queue.peek(Math.min(this.queue.length, 32)).toString('latin1');
      throw new Error(`not a FastCGI record: expected version ${version}, got the bytes ${JSON.stringify(start)}`);
    }
    if (this.queue.length < FCGI_HEADER_LEN) return undefined;
    const header = decodeHeader(this.queue.peek(FCGI_HEADER_LEN));
    if (this.queue.length < FCGI_HEADER_LEN + header.contentLength + header.paddingLength) return undefined;
    this.queue.skip(FCGI_HEADER_LEN);
    const content = this.queue.take(header.contentLength);
    this.queue.skip(header.paddingLength);
    return {
      version: header.version,
      type: header.type,
      requestId: header.requestId,
      content,
      paddingLength: header.paddingLength,
    };
  }
}
