// Input that crashes a plain libfcgi program, or that a careless server would let through: each case is sent over a
// real connection to an app spawned as web servers spawn it, and afterwards the same process must answer a valid
// request correctly.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { FcgiConnection, fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { createServer } from '../../lib/index';
import { encodeNameValuePairs, encodeRecord, RecordType, decodeNameValuePairs } from '../../lib/client/protocol';
import { stopAll, type RunningApp } from '../helpers/apps';
import { waitUntil, waitUntilWaiting } from '../helpers/wait';
import {
  abort,
  begin,
  cgiParams,
  exchange,
  expectServedCorrectly,
  params,
  stdin,
  stdoutOf,
  wholeRequest,
  type Report,
  reportAppModes,
  startReportApp,
} from '../helpers/raw-fastcgi';

afterAll(stopAll);

/**
 * What each mode answers for FCGI_MAX_CONNS, as a range: with no concurrency limit, createServer takes as many
 * connections as it may open files (valgrind keeps a few of them for itself, so the app sees a slightly lower limit
 * than /proc shows); the loop serves one connection.
 */
const modesWithMaxConns = reportAppModes.map((mode) => ({
  ...mode,
  maxConns: (pid: number): [number, number] => {
    if (mode.mode !== 'createServer') return [1, 1];
    const limit = openFilesLimit(pid);
    return [limit - 32, limit];
  },
}));

function openFilesLimit(pid: number): number {
  return Number(/Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1]);
}

const MB = 1024 * 1024;
/** Tests that bound time are left out under valgrind (scripts/valgrind.sh), which slows the app ~30 times. */
const itFast = process.env.LIBFCGI_TEST_VALGRIND ? it.skip : it;
function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

async function waitForOutput(app: RunningApp, text: string): Promise<void> {
  expect(await waitUntil(() => app.output().includes(text), 5000), app.output()).toBe(true);
}

describe.each(modesWithMaxConns)('$mode, against input that crashes libfcgi alone', ({ env, maxConns }) => {
  let app: RunningApp;

  it('starts', async () => {
    app = await startReportApp(env);
    await expectServedCorrectly(app.address, app.pid); // spawn-fcgi listens before the app is up: wait for it
  });

  it('answers FCGI_GET_VALUES naming the known variables 30 times once per name (libfcgi alone smashes its stack)', async () => {
    const names = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'FCGI_UNKNOWN_NAME'];
    const query = encodeNameValuePairs(Array.from({ length: 30 }, (_, i) => [names[i % 4] ?? '', ''] as const));
    const reply = await exchange(app.address, encodeRecord(RecordType.getValues, 0, query), { quietMs: 300 });
    const results = reply.records.filter((r) => r.type === RecordType.getValuesResult);
    expect(results).toHaveLength(1);
    const answer = Object.fromEntries(
      decodeNameValuePairs(results[0]?.content ?? Buffer.alloc(0)).map(([n, v]) => [n.toString(), v.toString()]),
    );
    const [least, most] = maxConns(app.pid);
    expect(Object.keys(answer)).toEqual(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']);
    expect(Number(answer.FCGI_MAX_CONNS)).toBeGreaterThanOrEqual(least);
    expect(Number(answer.FCGI_MAX_CONNS)).toBeLessThanOrEqual(most);
    expect(answer.FCGI_MAX_REQS).toBe(answer.FCGI_MAX_CONNS);
    expect(answer.FCGI_MPXS_CONNS).toBe('0');
    await expectServedCorrectly(app.address, app.pid);
  });

  itFast('answers an unpadded FCGI_GET_VALUES at once, where libfcgi waits for the next record', async () => {
    const query = encodeNameValuePairs([['FCGI_MPXS_CONNS', '']]); // 17 bytes: sent with no padding
    const record = encodeRecord(RecordType.getValues, 0, query, { paddingLength: 0 });
    const reply = await exchange(app.address, record, { quietMs: 2000 });
    expect(reply.records.map((r) => r.type)).toContain(RecordType.getValuesResult);
    expect(reply.firstByteMs).toBeLessThan(1000);
  });

  it('refuses a parameter declaring a length near 2^31 with 431 and a stderr line (libfcgi alone aborts)', async () => {
    const hugeValue = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xf0, 0x41]); // name 1 byte, value 2^31 - 16 bytes
    const reply = await exchange(app.address, [begin(), encodeRecord(RecordType.params, 1, hugeValue)]);
    expect(stdoutOf(reply).status).toBe(431);
    expect(reply.records.at(-1)?.type).toBe(RecordType.endRequest);
    await waitForOutput(app, 'FCGI_PARAMS_TOO_LARGE');
    expect(app.output()).toMatch(/libfcgi: refused a request: .*maxParamsSize \(2097152 bytes\)/);
    await expectServedCorrectly(app.address, app.pid);
  });

  it('serves 10,000 parameters and a 1 MB value within the default maxParamsSize', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 10_000; i++) many[`HTTP_X_H${i}`] = `value-${i}`;
    const big = 'v'.repeat(1_000_000);
    const response = await fcgiRequest(app.address, cgiParams({ ...many, HTTP_X_BIG: big }));
    const report = JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Report;
    expect(report.params.HTTP_X_H9999).toBe('value-9999');
    expect(Object.keys(report.params).filter((n) => n.startsWith('HTTP_X_H'))).toHaveLength(10_000);
    expect(report.params.HTTP_X_BIG).toBe(big);
  });

  it('refuses 3 MB of parameters with 431, and the kept connection is closed after the answer', async () => {
    const reply = await exchange(app.address, wholeRequest({ HTTP_X_BIG: 'v'.repeat(3 * MB) }));
    expect(stdoutOf(reply).status).toBe(431);
    expect(reply.closedByApp).toBe(true);
    await expectServedCorrectly(app.address, app.pid);
  });

  it('keeps parameters named __proto__ and constructor as plain data', async () => {
    const response = await fcgiRequest(app.address, [
      ...Object.entries(cgiParams()),
      ['__proto__', 'polluted'],
      ['constructor', 'x'],
    ]);
    const report = JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Report;
    expect(Object.getOwnPropertyDescriptor(report.params, '__proto__')?.value).toBe('polluted');
    expect(report.params.constructor).toBe('x');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('gives every parameter back as sent: empty and one-control-character names, bytes above 127, known names', async () => {
    // The event-loop server sends the names web servers use most as numbers (native/params/param_names.h); none of these may be taken
    // for one, nor lose a byte.
    const sent: Record<string, string> = {
      ...cgiParams({ HTTP_HOST: 'example.test', SERVER_NAME: '' }),
      '': 'empty name',
      '\x01': 'one',
      '\x02': 'two',
      '\x7f': 'delete',
      http_host: 'lower case is not HTTP_HOST',
      HTTP_HOST_: 'nor is this',
      'N\u00e9\u00ff': 'v\u00e9\u00ff\x01', // sent as UTF-8, seen as its bytes, one character each
    };
    const response = await fcgiRequest(app.address, Object.entries(sent));
    const report = JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Report;
    const asBytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
    const expected = Object.fromEntries(Object.entries(sent).map(([name, value]) => [asBytes(name), asBytes(value)]));
    expect({ ...report.params }).toEqual({ ...expected, FCGI_ROLE: 'RESPONDER' }); // libfcgi adds FCGI_ROLE
  });

  it('closes a connection speaking HTTP to the FastCGI port, with a stderr line that says so', async () => {
    const reply = await exchange(app.address, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(reply.closedByApp).toBe(true);
    await waitForOutput(app, 'FastCGI version 71');
    await expectServedCorrectly(app.address, app.pid);
  });

  it('answers an unknown management record with FCGI_UNKNOWN_TYPE and keeps serving', async () => {
    const reply = await exchange(app.address, [encodeRecord(200, 0), wholeRequest({})], { quietMs: 500 });
    const unknown = reply.records.find((r) => r.type === RecordType.unknownType);
    expect(unknown?.content[0]).toBe(200);
    expect(stdoutOf(reply).status).toBe(200);
  });

  it('ignores FCGI_STDIN beyond CONTENT_LENGTH and records for other request ids, and answers correctly', async () => {
    const body = Buffer.from('hello');
    const reply = await exchange(app.address, [
      begin(),
      params(cgiParams({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: '2' })),
      encodeRecord(RecordType.params, 7, encodeNameValuePairs([['HTTP_X_OTHER', 'leak']])),
      stdin(body),
    ]);
    const report = JSON.parse(stdoutOf(reply).body.toString()) as Report;
    expect(report.params.HTTP_X_OTHER).toBeUndefined();
    expect(report.bodyLength).toBeGreaterThanOrEqual(2);
    await expectServedCorrectly(app.address, app.pid);
  });

  it('ends requests aborted before, during and after the body, and loses none of the next', async () => {
    const body = Buffer.alloc(200_000, 7);
    const post = params(cgiParams({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }));
    const cases = [
      [begin(1, true), abort(), post, stdin(body)],
      [begin(1, true), post, stdin(body).subarray(0, 70_000), abort()],
      [begin(1, true), post, stdin(body), abort()],
    ];
    for (const chunks of cases) {
      await exchange(app.address, chunks, { quietMs: 300 });
      await expectServedCorrectly(app.address, app.pid);
    }
  });

  it('survives peers that vanish mid-request and mid-response', async () => {
    const body = Buffer.alloc(1 * MB, 1);
    for (let i = 0; i < 5; i++) {
      // mid-request: half the body, then gone
      const request = wholeRequest({}, body);
      await exchange(app.address, request.subarray(0, request.length / 2), { closeAfterSend: true });
      // mid-response: the whole request, then gone before reading the answer
      await exchange(app.address, wholeRequest({ QUERY_STRING: 'sleep=20' }, body), { closeAfterSend: true });
    }
    await waitUntilWaiting(app.pid); // every vanished peer dealt with
    await expectServedCorrectly(app.address, app.pid);
  });

  itFast('answers every valid request exactly while other clients vanish mid-request and mid-response', async () => {
    // A count of requests, not a time: how many fit in a few seconds depends on the machine and what else runs.
    const body = Buffer.alloc(300_000, 3);
    let serving = true;
    let vanished = 0;
    let served = 0;
    const vanish = async (): Promise<void> => {
      for (let i = 0; serving; i++) {
        const request = wholeRequest({ QUERY_STRING: i % 2 ? 'sleep=1' : '' }, body);
        const cut = i % 2 ? request.length : Math.floor(request.length / 3);
        await exchange(app.address, request.subarray(0, cut), { closeAfterSend: true });
        vanished++;
      }
    };
    const serve = async (): Promise<void> => {
      for (let i = 0; i < 10; i++) {
        await expectServedCorrectly(app.address, app.pid);
        served++;
      }
    };
    const serving6 = Promise.all(Array.from({ length: 6 }, serve)).finally(() => (serving = false));
    await Promise.all([...Array.from({ length: 6 }, vanish), serving6]);
    expect(served).toBe(60);
    expect(vanished).toBeGreaterThan(6); // the vanishing clients kept coming while the valid requests were served
  });

  it('streams a body declared as 2 GB and ends the request cleanly when the peer vanishes, with memory bounded', async () => {
    const before = rssOf(app.pid);
    const head = [begin(), params(cgiParams({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(2 * 1024 * MB) }))];
    const chunk = encodeRecord(RecordType.stdin, 1, Buffer.alloc(65535, 9));
    await exchange(app.address, [...head, ...Array.from({ length: 256 }, () => chunk)], { closeAfterSend: true });
    await waitUntilWaiting(app.pid); // the 16 MiB that came read or dropped, and the request ended
    await expectServedCorrectly(app.address, app.pid);
    expect(rssOf(app.pid) - before).toBeLessThan(64 * MB);
  });
});

describe.each(reportAppModes)('$mode, with a peer that stalls', ({ env }) => {
  itFast('answers 408 when PARAMS never end within headersTimeout, and then serves the next request', async () => {
    const app = await startReportApp(env, { headersTimeout: 400 });
    const started = Date.now();
    const stalled = exchange(
      app.address,
      [begin(), encodeRecord(RecordType.params, 1, encodeNameValuePairs(cgiParams()))],
      {
        quietMs: 5000,
      },
    );
    const reply = await stalled;
    expect(stdoutOf(reply).status).toBe(408);
    expect(reply.closedByApp).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    await waitForOutput(app, 'headersTimeout (400 ms)');
    await expectServedCorrectly(app.address, app.pid);
  });
});

describe('createServer, with a peer that stalls', () => {
  itFast('serves other connections while one stalls mid-PARAMS', async () => {
    const app = await startReportApp({}, { headersTimeout: 3000 });
    const stalled = exchange(app.address, begin(), { quietMs: 5000 });
    const started = Date.now();
    await expectServedCorrectly(app.address, app.pid);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(stdoutOf(await stalled).status).toBe(408);
  });

  it("emits 'clientError' for a refused request instead of writing to stderr when the app listens for it", async () => {
    const server = createServer({ maxParamsSize: 1000 }, (_req, res) => res.end('ok'));
    const errors: Error[] = [];
    server.on('clientError', (error: Error) => errors.push(error));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const reply = await exchange({ port }, wholeRequest({ HTTP_X_BIG: 'v'.repeat(2000) }));
      expect(stdoutOf(reply).status).toBe(431);
      await waitUntil(() => errors.length > 0, 2000);
      expect(errors[0]).toMatchObject({ name: 'FcgiError', code: 'FCGI_PARAMS_TOO_LARGE' });
      const connection = await FcgiConnection.connect({ port });
      const ok = await connection.request(cgiParams(), { keepConn: true });
      expect(parseCgiResponse(ok.stdout).body.toString()).toBe('ok');
      connection.close();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
