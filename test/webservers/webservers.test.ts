// The Express example under a real web server: lighttpd spawns it (bin-path, two processes) and proxies HTTP to it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/apps';
import { httpGet, startLighttpd, type WebServer } from '../helpers/webservers';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const bigFile = randomBytes(20 * 1024 * 1024);

describe('examples/express-app.js under lighttpd', () => {
  let server: WebServer;
  beforeAll(async () => {
    server = await startLighttpd('lighttpd-express.conf', (run) => {
      mkdirSync(join(run, 'static'));
      writeFileSync(join(run, 'static', 'big.bin'), bigFile);
    });
  });
  afterAll(async () => {
    await server?.stop();
    await stopAll();
  });

  const check = async (what: string, assertion: () => Promise<void>): Promise<void> => {
    try {
      await assertion();
    } catch (error) {
      throw new Error(`lighttpd, ${what}: ${(error as Error).message}\n--- error log tail ---\n${server.errorLog()}`);
    }
  };

  it('answers JSON routes and parses JSON bodies', () =>
    check('JSON', async () => {
      const got = await httpGet(server.port, '/json');
      expect(got.status).toBe(200);
      expect(String(got.headers['content-type'])).toContain('application/json');
      const posted = await httpGet(server.port, '/json', {
        method: 'POST',
        body: JSON.stringify({ a: [1, 2, 3] }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(JSON.parse(posted.body.toString())).toEqual({ received: { a: [1, 2, 3] } });
    }));

  it('redirects with a 302 and a Location header', () =>
    check('redirect', async () => {
      const got = await httpGet(server.port, '/redirect');
      expect(got.status).toBe(302);
      expect(got.headers.location).toBe('/json');
    }));

  it('serves a 20 MiB static file byte-exact', () =>
    check('express.static', async () => {
      const got = await httpGet(server.port, '/static/big.bin');
      expect(got.status).toBe(200);
      expect(got.body.length).toBe(bigFile.length);
      expect(sha256(got.body)).toBe(sha256(bigFile));
    }));

  it('answers 500 from the error middleware', () =>
    check('error middleware', async () => {
      const got = await httpGet(server.port, '/error');
      expect(got.status).toBe(500);
    }));

  it('serves 16 concurrent slow requests concurrently', () =>
    check('concurrency', async () => {
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 16 }, () => httpGet(server.port, '/slow')));
      const elapsed = Date.now() - started;
      expect(results.map((result) => result.status)).toEqual(Array(16).fill(200));
      expect(elapsed).toBeLessThan(16 * 300 * 0.5);
    }));
});
