// Seeded protocol fuzzing: thousands of conversations, valid and mutated, sent concurrently to an app spawned as web
// servers spawn it. The app must never die, never send anything but well-formed records, and answer every request
// that was valid (or valid once split oddly) with exactly what it sent. FUZZ_CASES sets the count per app (default
// 1500; `npm run fuzz` runs 50,000 per app), FUZZ_SEED the seed; a failure names the seed and the case to replay.
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  encodeBeginRequestBody,
  encodeNameValueLength,
  encodeNameValuePairs,
  encodeRecord,
  RecordType,
  Role,
} from '../../lib/client/protocol';
import { stopAll } from '../helpers/apps';
import {
  abort,
  begin,
  cgiParams,
  exchange,
  expectServedCorrectly,
  params,
  reportAppModes,
  slowdown,
  startReportApp,
  stdin,
  stdoutOf,
  wholeRequest,
  type Report,
} from '../helpers/raw-fastcgi';

afterAll(stopAll);

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const cases = Number(process.env.FUZZ_CASES ?? 1500);
const seed = Number(process.env.FUZZ_SEED ?? 20261126);
const parallel = 16;
/** Record types an app may send: STDOUT, STDERR, END_REQUEST, GET_VALUES_RESULT, UNKNOWN_TYPE. */
const appRecordTypes = new Set([6, 7, 3, 10, 11]);

/** mulberry32: a small seeded generator, so a failing case can be replayed. */
function generator(start: number): () => number {
  let state = start >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  kind: string;
  chunks: Buffer[];
  closeAfterSend?: boolean;
  /** When set, the answer to request 1 must report these: the request was valid. */
  expect?: { marker: string; body?: Buffer };
}

function makeCase(random: () => number, index: number): Case {
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const marker = `m${index}-${int(1e9)}`;
  const body = bytes(pick([0, 1, 100, 5000, 70_000]));
  const valid = wholeRequest({ HTTP_X_MARKER: marker }, body);
  const splitAnywhere = (buffer: Buffer): Buffer[] => {
    const cut = int(buffer.length + 1);
    return [buffer.subarray(0, cut), buffer.subarray(cut)].filter((b) => b.length > 0);
  };

  const kinds: Array<() => Case> = [
    () => ({ kind: 'valid', chunks: splitAnywhere(valid), expect: { marker, body } }),
    () => {
      // The same request with its PARAMS cut into records at random places, names and values split across them.
      const pairs = encodeNameValuePairs(
        cgiParams({ HTTP_X_MARKER: marker, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }),
      );
      const records: Buffer[] = [];
      for (let at = 0; at < pairs.length;) {
        const size = 1 + int(40);
        records.push(encodeRecord(RecordType.params, 1, pairs.subarray(at, at + size)));
        at += size;
      }
      records.push(encodeRecord(RecordType.params, 1));
      return { kind: 'split-params', chunks: [begin(), ...records, stdin(body)], expect: { marker, body } };
    },
    () => {
      // Any padding on every record, the empty ones that end BEGIN_REQUEST's, PARAMS and STDIN included.
      const pad = () => ({ paddingLength: int(256) });
      const head = cgiParams({ HTTP_X_MARKER: marker, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) });
      const records = [
        encodeRecord(RecordType.beginRequest, 1, encodeBeginRequestBody(Role.responder, 0), pad()),
        encodeRecord(RecordType.params, 1, encodeNameValuePairs(head), pad()),
        encodeRecord(RecordType.params, 1, undefined, pad()),
      ];
      for (let at = 0; at < body.length; at += 65535) {
        records.push(encodeRecord(RecordType.stdin, 1, body.subarray(at, at + 65535), pad()));
      }
      records.push(encodeRecord(RecordType.stdin, 1, undefined, pad()));
      return { kind: 'padded', chunks: splitAnywhere(Buffer.concat(records)), expect: { marker, body } };
    },
    () => {
      const extra = bytes(1 + int(3000));
      const head = cgiParams({ HTTP_X_MARKER: marker, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) });
      const chunks = [begin(), params(head), stdin(Buffer.concat([body, extra]))];
      return { kind: 'stdin-beyond-length', chunks, expect: { marker } };
    },
    () => ({ kind: 'truncated', chunks: [valid.subarray(0, int(valid.length))] }),
    () => {
      const mutated = Buffer.from(valid);
      for (let n = 1 + int(8); n > 0; n--) mutated[int(mutated.length)] = int(256);
      return { kind: 'bit-flips', chunks: splitAnywhere(mutated) };
    },
    () => {
      const mutated = Buffer.from(valid);
      mutated[0] = pick([0, 2, 3, 71, 255]);
      return { kind: 'wrong-version', chunks: [mutated] };
    },
    () => ({
      kind: 'unknown-type',
      chunks: [encodeRecord(12 + int(244), pick([0, 1]), bytes(int(100))), valid],
    }),
    () => {
      const length = pick([0x7fffffff, 0x7ffffff0, 0x40000000, 3 * 1024 * 1024, 65536 + int(1e6)]);
      const pair = Buffer.concat([encodeNameValueLength(pick([1, length])), encodeNameValueLength(length), bytes(10)]);
      return { kind: 'huge-length', chunks: [begin(), encodeRecord(RecordType.params, 1, pair)] };
    },
    () => ({
      kind: 'endless-params',
      chunks: [begin(), encodeRecord(RecordType.params, 1, encodeNameValuePairs(cgiParams()))],
    }),
    () => {
      const second = encodeRecord(RecordType.beginRequest, pick([1, 2]), encodeBeginRequestBody(Role.responder, 0));
      const at = 16 + int(valid.length - 16);
      return { kind: 'second-begin', chunks: [valid.subarray(0, at), second, valid.subarray(at)] };
    },
    () => {
      // A web server multiplexing: a second request's whole head (its empty PARAMS too) among the first's records.
      // It is refused (FCGI_CANT_MPX_CONN), and the first is answered exactly, its body whole.
      const head = cgiParams({ HTTP_X_MARKER: marker, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) });
      const first = [begin(), params(head), stdin(body)];
      const second = Buffer.concat([begin(2), params(cgiParams({ HTTP_X_MARKER: 'second' }), 2)]);
      first.splice(1 + int(2), 0, second);
      return { kind: 'multiplexed-head', chunks: splitAnywhere(Buffer.concat(first)), expect: { marker, body } };
    },
    () => {
      const names = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'X', ''];
      const query = encodeNameValuePairs(Array.from({ length: int(400) }, () => [pick(names), ''] as const));
      const padding = { paddingLength: int(256) };
      return { kind: 'get-values', chunks: [encodeRecord(RecordType.getValues, 0, query.subarray(0, 65535), padding)] };
    },
    () => {
      const at = int(valid.length);
      return { kind: 'abort', chunks: [valid.subarray(0, at), abort(), valid.subarray(at)] };
    },
    () => ({ kind: 'close-mid-request', chunks: [valid.subarray(0, int(valid.length))], closeAfterSend: true }),
    () => ({ kind: 'close-mid-response', chunks: [valid], closeAfterSend: true }),
    () => ({ kind: 'garbage', chunks: [bytes(1 + int(2000))] }),
    () => {
      // A record whose header promises more content than ever comes.
      const header = Buffer.from([1, RecordType.stdin, 0, 1, 0xff, 0xff, 0, 0]);
      return { kind: 'short-record', chunks: [valid.subarray(0, valid.length - 8), header, bytes(int(1000))] };
    },
  ];
  return pick(kinds)();
}

describe.each(reportAppModes)('fuzzing $mode', ({ mode, env }) => {
  it(`survives ${cases} seeded conversations and answers every valid request exactly (seed ${seed})`, async () => {
    const limits = { headersTimeout: 2000 * slowdown, requestTimeout: 4000 * slowdown };
    const app = await startReportApp(env, limits);
    const random = generator(seed + (mode === 'createServer' ? 0 : 1));
    const counts = new Map<string, number>();
    const wrong: string[] = [];
    let next = 0;

    const worker = async (): Promise<void> => {
      while (next < cases && wrong.length === 0) {
        const index = next++;
        const fuzzCase = makeCase(random, index);
        counts.set(fuzzCase.kind, (counts.get(fuzzCase.kind) ?? 0) + 1);
        const reply = await exchange(app.address, fuzzCase.chunks, {
          quietMs: fuzzCase.expect ? 3000 : 40,
          closeAfterSend: fuzzCase.closeAfterSend,
        });
        const where = `case ${index} (${fuzzCase.kind}, seed ${seed})`;
        const badRecord = reply.records.find((r) => r.version !== 1 || !appRecordTypes.has(r.type));
        if (badRecord) wrong.push(`${where}: the app sent a record of type ${badRecord.type}`);
        if (fuzzCase.expect) {
          try {
            const report = JSON.parse(stdoutOf(reply).body.toString()) as Report;
            const { marker, body } = fuzzCase.expect;
            if (report.params.HTTP_X_MARKER !== marker || (body && report.bodySha !== sha256(body))) {
              wrong.push(`${where}: answered ${JSON.stringify(report).slice(0, 200)}`);
            }
          } catch {
            wrong.push(
              `${where}: no valid answer, got ${JSON.stringify(reply.received.toString('latin1').slice(0, 200))}`,
            );
          }
        }
        if (index % 100 === 99) await expectServedCorrectly(app.address, app.pid);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));

    expect(wrong).toEqual([]);
    expect(app.child.exitCode).toBeNull();
    expect(app.child.signalCode).toBeNull();
    await expectServedCorrectly(app.address, app.pid);
    const summary = [...counts].map(([kind, n]) => `${kind} ${n}`).join(', ');
    console.log(`fuzz ${mode}: ${cases} cases, 0 crashes, 0 wrong answers (seed ${seed}): ${summary}`);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(cases);
  }, 600_000);
});
