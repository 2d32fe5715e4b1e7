// The acceptance checks every way of serving the check app must pass (test/fixtures/check-app.js under each web
// server in the matrix, and under the dev server): the same requests, the same assertions.
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { httpGet, type HttpResult } from './webservers';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export function pattern(size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
  return bytes;
}

/** How a setup serves the check app. */
export interface CheckSetup {
  name: string;
  /** The app runs as www-data, not as the root that started the server. */
  nonRoot?: boolean;
  /** How many app processes the server spawns and spreads requests over. */
  processes?: number;
  /** The path prefix under which the check app answers. */
  base: string;
  concurrent: boolean;
  /** false: the server drops the app's stderr records instead of logging them (Caddy before 2.7). */
  logsStderr?: boolean;
}

/** What the checks need of the running server: its port, and where the app's stderr ends up. */
export interface CheckedServer {
  name: string;
  port: number;
  errorLog(): string;
}

/** Registers the checks (call it inside a describe); `current()` gives the server its beforeAll started. */
export function acceptanceChecks(setup: CheckSetup, current: () => CheckedServer): void {
  const check = (what: string, assertion: (server: CheckedServer) => Promise<void>) => async () => {
    const server = current();
    try {
      await assertion(server);
    } catch (error) {
      throw new Error(
        `${setup.name}, ${what}: ${(error as Error).message}\n--- ${server.name} error log, last lines ---\n${server.errorLog()}`,
      );
    }
  };
  const url = (route: string): string => setup.base + route;
  const json = (result: HttpResult) => JSON.parse(result.body.toString());

  it(
    'passes a GET with a query string, the request headers and REMOTE_ADDR',
    check('GET', async (server) => {
      const reply = json(await httpGet(server.port, url('query?a=1&b=two'), { headers: { 'X-Check': 'yes' } }));
      expect(reply).toMatchObject({ method: 'GET', query: 'a=1&b=two', remoteAddr: '127.0.0.1' });
      expect(reply.headers['x-check']).toBe('yes');
      if (setup.nonRoot) expect(reply.uid).not.toBe(0);
    }),
  );

  it.each([1, 64 * 1024, 8 * 1024 * 1024])('echoes a POST body of %i random bytes byte-exact', (size) =>
    check(`POST ${size} B`, async (server) => {
      const body = randomBytes(size);
      const reply = await httpGet(server.port, url('echo'), { method: 'POST', body });
      expect(reply.status).toBe(200);
      expect(reply.body.length).toBe(size);
      expect(sha256(reply.body)).toBe(sha256(body));
    })(),
  );

  it(
    'answers a 1 MiB POST whose body the app never reads, and the next request',
    check('unread body', async (server) => {
      const reply = await httpGet(server.port, url('ignore-body'), { method: 'POST', body: randomBytes(1024 * 1024) });
      expect([reply.status, reply.body.toString()]).toEqual([200, 'ignored\n']);
      const next = await httpGet(server.port, url('query?after=unread'));
      expect(json(next)).toMatchObject({ method: 'GET', query: 'after=unread' });
    }),
  );

  it(
    'sends a 16 MiB response and a binary one with NUL bytes byte-exact',
    check('large and binary responses', async (server) => {
      const size = 16 * 1024 * 1024;
      const big = await httpGet(server.port, url(`big?bytes=${size}`));
      expect(big.body.length).toBe(size);
      expect(sha256(big.body)).toBe(sha256(Buffer.concat(Array.from({ length: 256 }, () => pattern(65536)))));
      const binary = await httpGet(server.port, url('binary'));
      // As hex, with the length first: a wrong body of megabytes then fails in a line, not in a diff of an array per byte.
      expect(binary.body.length).toBe(9);
      expect(binary.body.toString('hex')).toBe('000100ff00000a0d00');
    }),
  );

  it(
    'passes status codes and redirects',
    check('status', async (server) => {
      expect((await httpGet(server.port, url('status?code=404'))).status).toBe(404);
      expect((await httpGet(server.port, url('status?code=201'))).status).toBe(201);
      const redirect = await httpGet(server.port, url('redirect'));
      expect(redirect.status).toBe(302);
      expect(redirect.headers.location).toMatch(/\/elsewhere$/);
    }),
  );

  it.skipIf(setup.logsStderr === false)(
    "writes a line of the app's stderr stream to the server's error log",
    check('stderr', async (server) => {
      const token = randomBytes(6).toString('hex');
      expect((await httpGet(server.port, url(`stderr?token=${token}`))).status).toBe(200);
      const deadline = Date.now() + 3000;
      while (!server.errorLog().includes(token) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(server.errorLog()).toContain(`check-app stderr line ${token}`);
    }),
  );

  it(
    'never shows a request a header sent with the one before',
    check('isolation', async (server) => {
      const first = json(await httpGet(server.port, url('query'), { headers: { 'X-Secret': 'first only' } }));
      expect(first.headers['x-secret']).toBe('first only');
      const second = json(await httpGet(server.port, url('query')));
      expect(second.headers).not.toHaveProperty('x-secret');
    }),
  );

  it.skipIf(!setup.concurrent)(
    'serves 16 concurrent requests concurrently',
    check('concurrency', async (server) => {
      // Each is held until all 16 are in the app's hands at once (check-app.js): one after another, they never are.
      const token = randomBytes(8).toString('hex');
      try {
        const together = url(`together?n=16&token=${token}`);
        const replies = await Promise.all(Array.from({ length: 16 }, () => httpGet(server.port, together)));
        expect(replies.map((reply) => reply.status)).toEqual(Array(16).fill(200));
        expect(replies.map((reply) => json(reply).met)).toEqual(Array(16).fill(true));
        const pids = new Set(replies.map((reply) => json(reply).pid));
        expect(pids.size).toBe(setup.processes ?? 1);
      } finally {
        try {
          rmSync(join(tmpdir(), `check-app-together-${token}`), { recursive: true, force: true });
        } catch {
          // the app's user made it, and only that user may remove it: /tmp is cleaned anyway
        }
      }
    }),
  );
}
