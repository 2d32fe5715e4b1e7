// Tests the FastCGI wire format byte for byte, and the client against a small FastCGI server written here.
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FcgiConnection, type FcgiAddress, fcgiRequest, parseCgiHead, parseCgiResponse } from '../../lib/client/client';
import {
  FCGI_HEADER_LEN,
  FCGI_KEEP_CONN,
  FCGI_MAX_CONTENT_LENGTH,
  FCGI_NULL_REQUEST_ID,
  type FcgiRecord,
  ProtocolStatus,
  RecordParser,
  RecordType,
  Role,
  decodeBeginRequestBody,
  decodeEndRequestBody,
  decodeNameValuePairs,
  decodeUnknownTypeBody,
  encodeBeginRequestBody,
  encodeEndRequestBody,
  encodeNameValueLength,
  encodeNameValuePairs,
  encodeRecord,
  encodeStream,
  encodeUnknownTypeBody,
} from '../../lib/client/protocol';

/** Concatenates byte lists, strings (as UTF-8) and buffers into one Buffer, for writing expected bytes inline. */
function bytes(...parts: Array<number[] | string | Uint8Array>): Buffer {
  return Buffer.concat(
    parts.map((part) => (typeof part === 'string' || Array.isArray(part) ? Buffer.from(part) : part)),
  );
}

/** The 8 header bytes of a version-1 record, spelled out as the spec lays them out. */
function header(type: number, requestId: number, contentLength: number, paddingLength: number): number[] {
  return [1, type, requestId >> 8, requestId & 0xff, contentLength >> 8, contentLength & 0xff, paddingLength, 0];
}

function zeros(n: number): Buffer {
  return Buffer.alloc(n);
}

function parseAll(stream: Uint8Array): FcgiRecord[] {
  return new RecordParser().push(stream);
}

function pairsAsStrings(pairs: Array<[Buffer, Buffer]>): Array<[string, string]> {
  return pairs.map(([name, value]) => [name.toString(), value.toString()]);
}

describe('record headers', () => {
  it('writes version, type, request id, content length, padding length and a zero reserved byte', () => {
    expect(encodeRecord(RecordType.stdout, 0x0102, Buffer.from('hello'))).toEqual(
      bytes(header(RecordType.stdout, 0x0102, 5, 3), 'hello', zeros(3)),
    );
  });

  it('writes an empty record as a bare 8-byte header', () => {
    expect(encodeRecord(RecordType.stdin, 1)).toEqual(bytes([1, 5, 0, 1, 0, 0, 0, 0]));
  });

  it.each([
    [0, 0],
    [1, 7],
    [7, 1],
    [8, 0],
    [9, 7],
    [65535, 1],
  ])('pads %i content bytes with %i zero bytes so the record is a multiple of 8 long', (length, padding) => {
    const record = encodeRecord(RecordType.stdout, 1, Buffer.alloc(length, 0xaa));
    expect(record[6]).toBe(padding);
    expect(record.length).toBe(FCGI_HEADER_LEN + length + padding);
    expect(record.length % 8).toBe(0);
    expect(record.subarray(FCGI_HEADER_LEN + length)).toEqual(zeros(padding));
  });

  it('uses the padding length and version it is given', () => {
    expect(encodeRecord(RecordType.stderr, 3, Buffer.from('x'), { paddingLength: 2, version: 9 })).toEqual(
      bytes([9, 7, 0, 3, 0, 1, 2, 0], 'x', zeros(2)),
    );
  });

  it('refuses content longer than 65535 bytes with a RangeError', () => {
    expect(() => encodeRecord(RecordType.stdout, 1, Buffer.alloc(FCGI_MAX_CONTENT_LENGTH + 1))).toThrow(RangeError);
  });

  it('refuses request ids that do not fit in 16 bits', () => {
    expect(() => encodeRecord(RecordType.stdout, 0x10000)).toThrow(RangeError);
  });
});

describe('streams', () => {
  it('splits 65536 bytes into a 65535-byte record, a 1-byte record and the empty terminator', () => {
    const data = Buffer.alloc(65536, 0x61);
    // Compared as hex because a deep equality check over 131 KiB of array elements is slow.
    expect(encodeStream(RecordType.stdin, 1, data).toString('hex')).toBe(
      bytes(
        header(RecordType.stdin, 1, 65535, 1),
        data.subarray(0, 65535),
        zeros(1),
        header(RecordType.stdin, 1, 1, 7),
        'a',
        zeros(7),
        header(RecordType.stdin, 1, 0, 0),
      ).toString('hex'),
    );
  });

  it('sends only the terminator for empty data', () => {
    expect(encodeStream(RecordType.params, 2, Buffer.alloc(0))).toEqual(bytes(header(RecordType.params, 2, 0, 0)));
  });

  it('splits at the chunk size it is given', () => {
    const records = parseAll(encodeStream(RecordType.stdout, 1, Buffer.from('abcdefg'), 3));
    expect(records.map((record) => record.content.toString())).toEqual(['abc', 'def', 'g', '']);
  });

  it.each([
    [0, 1],
    [-5, 1],
    [100_000, 65535],
  ])('clamps chunk size %i to %i', (chunkSize, expectedRecordLength) => {
    const records = parseAll(encodeStream(RecordType.stdout, 1, Buffer.alloc(70_000), chunkSize));
    expect(records[0]?.content.length).toBe(expectedRecordLength);
  });
});

describe('name-value pairs', () => {
  it.each([
    [0, [0x00]],
    [1, [0x01]],
    [127, [0x7f]],
    [128, [0x80, 0x00, 0x00, 0x80]],
    [65535, [0x80, 0x00, 0xff, 0xff]],
    [0x7fffffff, [0xff, 0xff, 0xff, 0xff]],
  ])('encodes length %i as %j', (length, expected) => {
    expect(encodeNameValueLength(length)).toEqual(bytes(expected));
  });

  it('refuses lengths that do not fit in 31 bits', () => {
    expect(() => encodeNameValueLength(0x80000000)).toThrow(RangeError);
  });

  it('uses a 1-byte length for a 127-byte value', () => {
    const value = 'v'.repeat(127);
    expect(encodeNameValuePairs([['NAME', value]])).toEqual(bytes([4, 127], 'NAME', value));
  });

  it('uses a 4-byte length with the high bit set for a 128-byte value', () => {
    const value = 'v'.repeat(128);
    expect(encodeNameValuePairs([['NAME', value]])).toEqual(bytes([4, 0x80, 0, 0, 128], 'NAME', value));
  });

  it('uses a 4-byte length for a 128-byte name', () => {
    const name = 'N'.repeat(128);
    expect(encodeNameValuePairs([[name, '']])).toEqual(bytes([0x80, 0, 0, 128, 0], name));
  });

  it('encodes strings as UTF-8 and byte arrays as they are', () => {
    expect(encodeNameValuePairs([['é', Uint8Array.from([0xff, 0x00])]])).toEqual(bytes([2, 2, 0xc3, 0xa9, 0xff, 0x00]));
  });

  it('accepts an object, a Map or an array of pairs, keeping their order', () => {
    const expected = bytes([1, 1], 'ab', [1, 1], 'cd');
    expect(encodeNameValuePairs({ a: 'b', c: 'd' })).toEqual(expected);
    expect(
      encodeNameValuePairs(
        new Map([
          ['a', 'b'],
          ['c', 'd'],
        ]),
      ),
    ).toEqual(expected);
    expect(
      encodeNameValuePairs([
        ['a', 'b'],
        ['c', 'd'],
      ]),
    ).toEqual(expected);
  });

  it('decodes what it encodes, short and long lengths alike', () => {
    const pairs: Array<[string, string]> = [
      ['SCRIPT_NAME', '/index'],
      ['EMPTY', ''],
      ['LONG_VALUE', 'x'.repeat(300)],
      ['L'.repeat(200), 'long name'],
    ];
    expect(pairsAsStrings(decodeNameValuePairs(encodeNameValuePairs(pairs)))).toEqual(pairs);
  });

  it('decodes pairs carried in a PARAMS stream fed to the parser one byte at a time', () => {
    const pairs: Array<[string, string]> = [
      ['QUERY_STRING', 'a=1'],
      ['HTTP_COOKIE', 'c'.repeat(128)],
    ];
    const stream = encodeStream(RecordType.params, 1, encodeNameValuePairs(pairs), 5);
    const parser = new RecordParser();
    const records = [...stream].flatMap((byte) => parser.push(Uint8Array.of(byte)));
    const content = Buffer.concat(records.map((record) => record.content));
    expect(pairsAsStrings(decodeNameValuePairs(content))).toEqual(pairs);
    expect(parser.pendingBytes).toBe(0);
  });

  it('throws a clear error for every truncation of a pair', () => {
    const encoded = encodeNameValuePairs([['NAME', 'v'.repeat(200)]]);
    for (let length = 1; length < encoded.length; length++) {
      expect(() => decodeNameValuePairs(encoded.subarray(0, length)), `cut at ${length}`).toThrow(/Truncated/);
    }
  });
});

describe('record parser', () => {
  const stream = bytes(
    encodeRecord(RecordType.stdout, 1, Buffer.from('first')),
    encodeRecord(RecordType.stderr, 2, Buffer.from('second'), { paddingLength: 0 }),
    encodeRecord(RecordType.endRequest, 1, encodeEndRequestBody(0, ProtocolStatus.requestComplete)),
  );
  const summarize = (records: FcgiRecord[]) =>
    records.map(({ type, requestId, content }) => [type, requestId, content.toString('hex')]);

  it('returns the same records wherever the stream is split in two', () => {
    const expected = summarize(parseAll(stream));
    expect(expected).toHaveLength(3);
    for (let split = 0; split <= stream.length; split++) {
      const parser = new RecordParser();
      const records = [...parser.push(stream.subarray(0, split)), ...parser.push(stream.subarray(split))];
      expect(summarize(records), `split at ${split}`).toEqual(expected);
    }
  });

  it('reports the bytes of an incomplete record as pending', () => {
    const parser = new RecordParser();
    expect(parser.push(stream.subarray(0, 20))).toHaveLength(1);
    expect(parser.pendingBytes).toBe(4);
  });

  it('gives each record its own copy of the content', () => {
    const input = Buffer.from(encodeRecord(RecordType.stdout, 1, Buffer.from('abc')));
    const [record] = parseAll(input);
    input.fill(0);
    expect(record?.content.toString()).toBe('abc');
  });

  it('reports the version and padding length it read', () => {
    const [record] = parseAll(encodeRecord(RecordType.data, 4, Buffer.from('z'), { paddingLength: 3, version: 2 }));
    expect(record).toEqual({
      version: 2,
      type: RecordType.data,
      requestId: 4,
      content: Buffer.from('z'),
      paddingLength: 3,
    });
  });

  it('throws on the first byte that is not the version it was told to expect, showing the bytes', () => {
    const parser = new RecordParser({ version: 1 });
    expect(parser.push(encodeRecord(RecordType.stdout, 1, Buffer.from('ok')))).toHaveLength(1);
    expect(() => parser.push(bytes('hel'))).toThrow('not a FastCGI record: expected version 1, got the bytes "hel"');
  });
});

describe('record bodies', () => {
  it('encodes a BEGIN_REQUEST body as role, flags and five reserved bytes', () => {
    expect(encodeBeginRequestBody(Role.responder, FCGI_KEEP_CONN)).toEqual(bytes([0, 1, 1, 0, 0, 0, 0, 0]));
    expect(decodeBeginRequestBody(bytes([0, 3, 0, 0, 0, 0, 0, 0]))).toEqual({ role: Role.filter, flags: 0 });
  });

  it('decodes an END_REQUEST app status of 0xFFFFFFFF as an unsigned number', () => {
    expect(decodeEndRequestBody(bytes([0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0]))).toEqual({
      appStatus: 0xffffffff,
      protocolStatus: ProtocolStatus.unknownRole,
    });
  });

  it('encodes an END_REQUEST app status of -1 as its 32-bit two’s complement', () => {
    expect(encodeEndRequestBody(-1, ProtocolStatus.overloaded)).toEqual(bytes([0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0]));
  });

  it('refuses an END_REQUEST body shorter than 8 bytes', () => {
    expect(() => decodeEndRequestBody(bytes([0, 0, 0, 0]))).toThrow(/8 bytes/);
  });

  it('encodes and decodes the type carried by an UNKNOWN_TYPE body', () => {
    expect(encodeUnknownTypeBody(42)).toEqual(bytes([42, 0, 0, 0, 0, 0, 0, 0]));
    expect(decodeUnknownTypeBody(bytes([42, 0, 0, 0, 0, 0, 0, 0]))).toEqual({ type: 42 });
  });
});

describe('parseCgiResponse', () => {
  it('takes the status code and text from a Status header', () => {
    const response = parseCgiResponse(bytes('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nmissing'));
    expect(response.status).toBe(404);
    expect(response.statusText).toBe('Not Found');
    expect(response.header('content-type')).toBe('text/plain');
    expect(response.body.toString()).toBe('missing');
  });

  it('defaults to 200 OK without a Status header', () => {
    const response = parseCgiResponse(bytes('Content-Type: text/html\r\n\r\n<p>'));
    expect([response.status, response.statusText]).toEqual([200, 'OK']);
  });

  it('answers 302 when only a Location header is given', () => {
    const response = parseCgiResponse(bytes('Location: https://example.com/\r\n\r\n'));
    expect(response.status).toBe(302);
    expect(response.header('LOCATION')).toBe('https://example.com/');
    expect(response.body.length).toBe(0);
  });

  it('accepts bare \\n line ends and keeps repeated headers in order', () => {
    const response = parseCgiResponse(bytes('Set-Cookie: a=1\nset-cookie: b=2\n\nbody\r\n\r\nmore'));
    expect(response.headers).toEqual([
      ['Set-Cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
    expect(response.header('Set-Cookie')).toBe('a=1');
    expect(response.body.toString()).toBe('body\r\n\r\nmore');
  });

  it('throws when no blank line ends the headers', () => {
    expect(() => parseCgiResponse(bytes('Content-Type: text/plain\r\nbody'))).toThrow(/blank line/);
  });
});

describe('parseCgiHead', () => {
  it('waits for the blank line, then gives the status, the headers and where the body starts', () => {
    expect(parseCgiHead(bytes('Status: 201 Created\r\nX-A: 1\r\n'))).toBeUndefined();
    const stdout = bytes('Status: 201 Created\r\nX-A: 1\r\n\r\nbody');
    expect(parseCgiHead(stdout)).toEqual({
      status: 201,
      statusText: 'Created',
      headers: [
        ['Status', '201 Created'],
        ['X-A', '1'],
      ],
      bodyStart: stdout.length - 4,
    });
  });
});

const APP_STATUS = 7;
const SERVER_VALUES: Record<string, string> = { FCGI_MAX_CONNS: '10', FCGI_MAX_REQS: '20', FCGI_MPXS_CONNS: '1' };

interface ServerRequest {
  keepConn: boolean;
  params: Buffer[];
  stdin: Buffer[];
}

function paramsText(request: ServerRequest): string {
  return pairsAsStrings(decodeNameValuePairs(Buffer.concat(request.params)))
    .map(([name, value]) => `${name}=${value}\n`)
    .join('');
}

/**
 * A minimal FastCGI app. For each request it echoes stdin to stdout, writes the params it got to stderr as
 * NAME=VALUE lines and ends with app status 7; it answers GET_VALUES and unknown record types. Some params
 * change what it does: CLOSE=1 closes the connection instead of answering, WAIT_FOR_ABORT=1 answers only an
 * ABORT_REQUEST, and ANSWER_EARLY=1 answers "early" on the first stdin record, ignoring the rest. Like libfcgi,
 * it never answers a GET_VALUES record that has no padding.
 */
function serveEchoApp(socket: net.Socket): void {
  const parser = new RecordParser();
  const requests = new Map<number, ServerRequest>();

  const finish = (requestId: number, request: ServerRequest, stdout: Buffer, appStatus: number) => {
    socket.write(encodeStream(RecordType.stdout, requestId, stdout));
    socket.write(encodeStream(RecordType.stderr, requestId, Buffer.from(paramsText(request))));
    socket.write(encodeRecord(RecordType.endRequest, requestId, encodeEndRequestBody(appStatus, 0)));
    requests.delete(requestId);
    if (!request.keepConn) socket.end();
  };

  const onStdin = (requestId: number, request: ServerRequest, content: Buffer) => {
    const params = paramsText(request);
    if (content.length > 0) request.stdin.push(content);
    if (params.includes('ANSWER_EARLY=1\n')) {
      finish(requestId, request, Buffer.from('early'), APP_STATUS);
    } else if (content.length > 0 || params.includes('WAIT_FOR_ABORT=1\n')) {
      return;
    } else if (params.includes('CLOSE=1\n')) {
      socket.destroy();
    } else {
      finish(requestId, request, Buffer.concat(request.stdin), APP_STATUS);
    }
  };

  const onManagementRecord = (record: FcgiRecord) => {
    if (record.type === RecordType.getValues && record.paddingLength === 0) return;
    if (record.type === RecordType.getValues) {
      const known = decodeNameValuePairs(record.content)
        .map(([name]) => name.toString())
        .filter((name) => name in SERVER_VALUES)
        .map((name) => [name, SERVER_VALUES[name] ?? ''] as const);
      socket.write(encodeRecord(RecordType.getValuesResult, FCGI_NULL_REQUEST_ID, encodeNameValuePairs(known)));
    } else {
      socket.write(encodeRecord(RecordType.unknownType, FCGI_NULL_REQUEST_ID, encodeUnknownTypeBody(record.type)));
    }
  };

  const onRecord = (record: FcgiRecord) => {
    if (record.requestId === FCGI_NULL_REQUEST_ID) return onManagementRecord(record);
    if (record.type === RecordType.beginRequest) {
      const { flags } = decodeBeginRequestBody(record.content);
      requests.set(record.requestId, { keepConn: (flags & FCGI_KEEP_CONN) !== 0, params: [], stdin: [] });
      return;
    }
    // Records of a request that is over (or never began) are ignored, as the spec asks.
    const request = requests.get(record.requestId);
    if (!request) return;
    if (record.type === RecordType.params) request.params.push(record.content);
    if (record.type === RecordType.stdin) onStdin(record.requestId, request, record.content);
    if (record.type === RecordType.abortRequest) finish(record.requestId, request, Buffer.from('aborted'), 0);
  };

  socket.on('data', (chunk: Buffer) => parser.push(chunk).forEach(onRecord));
  socket.on('error', () => socket.destroy());
}

function listen(server: net.Server, target: { port: number; host: string } | string): Promise<void> {
  return new Promise((resolve) => server.listen(target, resolve));
}

describe('FcgiConnection against an echo app', () => {
  const server = net.createServer(serveEchoApp);
  const socketPath = path.join(os.tmpdir(), `fcgi-echo-${process.pid}.sock`);
  const unixServer = net.createServer(serveEchoApp);
  let address: FcgiAddress;

  beforeAll(async () => {
    await listen(server, { port: 0, host: '127.0.0.1' });
    await listen(unixServer, socketPath);
    address = { port: (server.address() as net.AddressInfo).port };
  });

  afterAll(async () => {
    await Promise.all([
      new Promise((resolve) => server.close(resolve)),
      new Promise((resolve) => unixServer.close(resolve)),
    ]);
  });

  it('sends params and stdin and resolves with stdout, stderr and the app status', async () => {
    const response = await fcgiRequest(
      address,
      { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5' },
      { stdin: bytes('hello') },
    );
    expect(response).toMatchObject({ requestId: 1, appStatus: APP_STATUS, protocolStatus: 0 });
    expect(response.stdout.toString()).toBe('hello');
    expect(response.stderr.toString()).toBe('REQUEST_METHOD=POST\nCONTENT_LENGTH=5\n');
  });

  it('sends params larger than one record split across PARAMS records', async () => {
    const big = 'p'.repeat(100_000);
    const response = await fcgiRequest(address, { BIG: big });
    expect(response.stderr.toString()).toBe(`BIG=${big}\n`);
  });

  it('works over a Unix socket', async () => {
    const response = await fcgiRequest({ path: socketPath }, {}, { stdin: bytes('over unix') });
    expect(response.stdout.toString()).toBe('over unix');
  });

  it('runs two requests one after the other on a kept-alive connection', async () => {
    const connection = await FcgiConnection.connect(address);
    const first = await connection.request({}, { keepConn: true, stdin: bytes('one') });
    const second = await connection.request({}, { keepConn: true, stdin: bytes('two') });
    expect([first.stdout.toString(), second.stdout.toString()]).toEqual(['one', 'two']);
    expect(connection.isClosed).toBe(false);
    connection.close();
    await connection.closed;
    expect(connection.isClosed).toBe(true);
  });

  it('lets the app close the connection after a request without keepConn', async () => {
    const connection = await FcgiConnection.connect(address);
    await connection.request({}, { stdin: bytes('x') });
    await connection.closed;
    expect(connection.isClosed).toBe(true);
  });

  it('routes interleaved records of concurrent requests by request id', async () => {
    const connection = await FcgiConnection.connect(address);
    const bodyA = Buffer.alloc(200_000, 'a');
    const bodyB = Buffer.alloc(150_000, 'b');
    const [a, b] = await Promise.all([
      connection.request({ ID: 'a' }, { keepConn: true, requestId: 1, stdin: bodyA, chunkSize: 1000 }),
      connection.request({ ID: 'b' }, { keepConn: true, requestId: 2, stdin: bodyB, chunkSize: 1000 }),
    ]);
    connection.close();
    expect([a.requestId, a.stdout.equals(bodyA), a.stderr.toString()]).toEqual([1, true, 'ID=a\n']);
    expect([b.requestId, b.stdout.equals(bodyB), b.stderr.toString()]).toEqual([2, true, 'ID=b\n']);
  });

  it('round-trips an 8 MiB body', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 13)) & 0xff;
    const response = await fcgiRequest(address, {}, { stdin: body });
    expect(response.stdout.length).toBe(body.length);
    expect(response.stdout.equals(body)).toBe(true);
  });

  it('streams stdout chunks to onStdout and skips collecting them when collect is false', async () => {
    const chunks: Buffer[] = [];
    const body = Buffer.alloc(100_000, 'z');
    const response = await fcgiRequest(
      address,
      {},
      { stdin: body, onStdout: (chunk) => chunks.push(chunk), collect: false },
    );
    expect(response.stdout.length).toBe(0);
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
  });

  it('sends a body given as an async iterable as its chunks arrive, and streams stderr to onStderr', async () => {
    async function* chunks() {
      for (let i = 0; i < 50; i++) yield Buffer.alloc(10_000, i);
    }
    const stderr: Buffer[] = [];
    const response = await fcgiRequest(
      address,
      { NAME: 'value' },
      { stdin: chunks(), onStderr: (chunk) => stderr.push(chunk) },
    );
    expect(response.stdout.length).toBe(500_000);
    expect(response.stdout[499_999]).toBe(49);
    expect(response.stderr.length).toBeGreaterThan(0);
    expect(Buffer.concat(stderr)).toEqual(response.stderr);
  });

  it('asks for values with GET_VALUES and gets back the ones the app knows', async () => {
    const connection = await FcgiConnection.connect(address);
    const values = await connection.getValues(['FCGI_MAX_CONNS', 'FCGI_MPXS_CONNS', 'NOT_A_VARIABLE']);
    connection.close();
    expect(values).toEqual(
      new Map([
        ['FCGI_MAX_CONNS', '10'],
        ['FCGI_MPXS_CONNS', '1'],
      ]),
    );
  });

  it('pads a GET_VALUES query whose content is a multiple of 8 bytes, so libfcgi answers it', async () => {
    const connection = await FcgiConnection.connect(address);
    const names = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'];
    expect(encodeNameValuePairs(names.map((name) => [name, ''])).length % 8).toBe(0);
    const values = await connection.getValues(names);
    connection.close();
    expect(Object.fromEntries(values)).toEqual(SERVER_VALUES);
  });

  it('records the types the app reports in UNKNOWN_TYPE replies', async () => {
    const connection = await FcgiConnection.connect(address);
    connection.writeRaw(encodeRecord(99, FCGI_NULL_REQUEST_ID));
    await connection.getValues([]);
    connection.close();
    expect(connection.unknownTypeReplies).toEqual([99]);
  });

  it('sends the rest of an early-answered body before reusing its request id', async () => {
    const connection = await FcgiConnection.connect(address);
    const first = await connection.request(
      { ANSWER_EARLY: '1' },
      { keepConn: true, stdin: Buffer.alloc(8 * 1024 * 1024, 'x') },
    );
    const second = await connection.request({}, { keepConn: true, stdin: bytes('second') });
    connection.close();
    expect([first.stdout.toString(), second.stdout.toString()]).toEqual(['early', 'second']);
  });

  it('ends a request the app holds open by sending ABORT_REQUEST', async () => {
    const connection = await FcgiConnection.connect(address);
    const response = connection.request({ WAIT_FOR_ABORT: '1' }, { keepConn: true, requestId: 5 });
    connection.abort(5);
    expect((await response).stdout.toString()).toBe('aborted');
    connection.close();
  });

  it('rejects, saying how much was received, when the app closes before END_REQUEST', async () => {
    await expect(fcgiRequest(address, { CLOSE: '1' })).rejects.toThrow(
      /closed before END_REQUEST for request 1 \(received 0 bytes of stdout, 0 bytes of stderr, 0 bytes in all\)/,
    );
  });

  it('rejects a request on a connection that is already closed', async () => {
    const connection = await FcgiConnection.connect(address);
    connection.close();
    await expect(connection.request({})).rejects.toThrow(/closed/);
  });

  it('rejects connecting to a port nobody listens on', async () => {
    const unused = net.createServer();
    await listen(unused, { port: 0, host: '127.0.0.1' });
    const { port } = unused.address() as net.AddressInfo;
    await new Promise((resolve) => unused.close(resolve));
    await expect(FcgiConnection.connect({ port })).rejects.toThrow(/ECONNREFUSED/);
  });
});
