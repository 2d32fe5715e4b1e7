// createServer's worker threads start as requests need them: a process that gets one request at a time (mod_fcgid)
// has two, and concurrent requests grow them up to `concurrency`, never beyond.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fcgiRequest } from '../lib/client';
import { repoRoot, spawnFcgiApp, stopAll, tempDir, type RunningApp } from './helpers/apps';
import { cgiParams } from './helpers/raw-fastcgi';

afterAll(stopAll);

// Under valgrind, thread counts say nothing about the addon.
const itNative = process.env.LIBFCGI_TEST_VALGRIND ? it.skip : it;

/** A createServer app on fd 0 that answers /slow?ms=N after N ms, with no other thread-starting work. */
function appScript(concurrency: number): string {
  const script = join(tempDir(), 'threads-app.js');
  writeFileSync(
    script,
    `const { createServer } = require(${JSON.stringify(repoRoot)});
createServer({ concurrency: ${concurrency} }, (req, res) => {
  const ms = Number(/ms=(\\d+)/.exec(req.url)?.[1] ?? 0);
  setTimeout(() => res.end('done'), ms);
}).listen();
`,
  );
  return script;
}

/** The addon's worker threads, by the name they give themselves. */
const workersOf = (app: RunningApp): number =>
  readdirSync(`/proc/${app.pid}/task`).filter(
    (tid) => readFileSync(`/proc/${app.pid}/task/${tid}/comm`, 'utf8').trim() === 'libfcgi-worker',
  ).length;

async function get(app: RunningApp, uri: string): Promise<void> {
  const response = await fcgiRequest(app.address, cgiParams({ REQUEST_URI: uri, SCRIPT_NAME: '', PATH_INFO: uri }));
  expect(response.stdout.toString('latin1')).toMatch(/done$/);
}

describe("createServer's worker threads", () => {
  itNative('keep two workers while requests come one at a time, however many', async () => {
    const app = await spawnFcgiApp(appScript(32));
    for (let i = 0; i < 50; i++) await get(app, '/fast');
    // One serves, the other waits for the next connection.
    expect(workersOf(app)).toBe(2);
  });

  itNative('grow with concurrent requests up to concurrency, and never beyond', async () => {
    const app = await spawnFcgiApp(appScript(4));
    const started = Date.now();
    await Promise.all(Array.from({ length: 8 }, () => get(app, '/slow?ms=300')));
    // Four at a time: two rounds of 300 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(workersOf(app)).toBe(4);
  });
});
