// The guard every suite runs under (test/helpers/large-values.ts and setup.ts): an assertion about megabytes
// fails as a short line, fast, instead of taking the test worker's heap down with every result of its file.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/apps';
import { firstDifference, shorten } from '../helpers/large-values';

const MiB16 = 16 * 1024 * 1024;

describe('shorten', () => {
  it.each<[string, unknown]>([
    ['a small Buffer', Buffer.from('ab')],
    ['a short string', 'x'.repeat(1024)],
    ['a plain object of small values', { a: 1, b: 'two', c: [1, 2, 3] }],
    ['an array of 1024 numbers', Array.from({ length: 1024 }, (_, i) => i)],
    ['null', null],
  ])('returns %s itself', (_, value) => {
    expect(shorten(value)).toBe(value);
  });

  it('replaces a 16 MiB Buffer inside a response by its length and hash, leaving the response unchanged', () => {
    class Response {
      constructor(
        readonly status: number,
        readonly body: Buffer,
      ) {}
    }
    const response = new Response(200, Buffer.alloc(MiB16, 1));
    const short = shorten({ response }) as { response: Response };
    expect(short.response).toBeInstanceOf(Response);
    expect(short.response.status).toBe(200);
    expect(short.response.body).toMatch(/^Buffer\(16777216\) sha256:[0-9a-f]{12}$/);
    expect(response.body.length).toBe(MiB16);
  });

  it('tells two large values apart by their hash and a long string or array by its length', () => {
    const one = shorten(Buffer.alloc(2048, 1));
    expect(one).not.toBe(shorten(Buffer.alloc(2048, 2)));
    expect(shorten('y'.repeat(5000))).toMatch(/^string\(5000\) sha256:/);
    expect(shorten(new Array(5000).fill(0))).toMatch(/^Array\(5000\) \[0,0,0\]…$/);
    expect(shorten(new Uint16Array(1000))).toMatch(/^Uint16Array\(2000\) sha256:/);
  });

  it('ends on an object that holds itself, and leaves alone one whose getter throws', () => {
    const cyclic: Record<string, unknown> = { big: Buffer.alloc(4096) };
    cyclic.self = cyclic;
    expect((shorten(cyclic) as Record<string, unknown>).big).toMatch(/^Buffer\(4096\)/);
    const throwing = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get() {
        throw new Error('getter');
      },
    });
    expect(shorten(throwing)).toBe(throwing);
  });
});

describe('firstDifference', () => {
  const big = Buffer.alloc(MiB16, 7);
  it.each<[string, Buffer, string]>([
    ['one byte near the end', Buffer.concat([big.subarray(1), Buffer.from([8])]), 'byte 16777215: 0x7 where 0x8'],
    ['one byte in the middle', Buffer.from(big).fill(9, 12_345_678, 12_345_679), 'byte 12345678: 0x7 where 0x9'],
    ['a shorter array', big.subarray(100), 'the first 16777116 bytes agree'],
    ['the same bytes', Buffer.from(big), 'the bytes are the same'],
  ])('says where 16 MiB and %s first differ', (_, other, said) => {
    expect(firstDifference(big, other)).toContain(said);
  });

  it('says nothing of small arrays or of values that are not bytes', () => {
    expect(firstDifference(Buffer.from('a'), Buffer.from('b'))).toBe('');
    expect(firstDifference(big, 'text')).toBe('');
  });
});

describe('a failing assertion about megabytes', () => {
  it('compares two 16 MiB buffers as bytes: equal ones pass, different ones fail, each in well under a second', () => {
    const a = Buffer.alloc(MiB16, 1);
    const started = performance.now();
    expect(a).toEqual(Buffer.from(a));
    expect(a).not.toEqual(Buffer.concat([a.subarray(1), Buffer.from([2])]));
    expect(new Uint8Array(a)).not.toEqual(a); // a Buffer is not a Uint8Array of the same bytes, as in Vitest
    expect(performance.now() - started).toBeLessThan(500);
  });

  describe('as Vitest reports it, in a run of tests that fail on purpose', () => {
    const dir = mkdtempSync(join(tmpdir(), 'large-failures-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('fails each test in well under a second and a few MB, and the run ends as a run with failures', async () => {
      const measures = join(dir, 'measures.jsonl');
      const report = join(dir, 'report.json');
      const config = join(repoRoot, 'test', 'fixtures', 'large-failures', 'vitest.config.mts');
      const vitest = join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');
      const args = [vitest, 'run', '--config', config, '--reporter=json', `--outputFile=${report}`];
      // A heap of 256 MB: without the guard a worker then dies in seconds where it took a minute at 4 GB.
      const env = { ...process.env, LARGE_FAILURES_REPORT: measures, NODE_OPTIONS: '--max-old-space-size=256' };
      const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      // A worker that ran out of heap leaves no report, and Vitest exits 1 as it does for failed tests.
      expect(existsSync(report), `the run ended without a report:\n${stderr}`).toBe(true);
      expect(code, stderr).toBe(1);

      const results = (JSON.parse(readFileSync(report, 'utf8')) as JsonReport).testResults.flatMap(
        (file) => file.assertionResults,
      );
      expect(results.map((result) => result.status)).toEqual(Array(4).fill('failed'));
      for (const result of results) expect(result.failureMessages.join('').length).toBeLessThan(2000);
      expect(results[0]?.failureMessages[0]).toContain('first difference at byte 12345678: 0x61 where 0x62');
      const lines = readFileSync(measures, 'utf8').trim().split('\n');
      for (const line of lines.map((text) => JSON.parse(text) as Measure)) {
        expect(line.ms, line.name).toBeLessThan(500);
        expect(line.peakGrowthKiB, line.name).toBeLessThan(8 * 1024);
      }
      expect(lines).toHaveLength(4);
    });
  });
});

interface JsonReport {
  testResults: Array<{ assertionResults: Array<{ status: string; failureMessages: string[] }> }>;
}

interface Measure {
  name: string;
  ms: number;
  peakGrowthKiB: number;
}
