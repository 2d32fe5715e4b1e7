// createServer serves every connection on Node's event loop: no thread per request or connection, so neither
// connections that send nothing nor requests that wait on a timer hold anything but memory, and `concurrency` is a
// limit the app chooses, not a thread count.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fcgiRequest } from '../../lib/client/client';
import { repoRoot, spawnFcgiApp, stopAll, tempDir, type RunningApp } from '../helpers/apps';
import { cgiParams, slowdown } from '../helpers/raw-fastcgi';

afterAll(stopAll);

// Under valgrind, thread counts and memory say nothing about the addon, and 1,000 of anything is too slow.
const itNative = process.env.LIBFCGI_TEST_VALGRIND ? it.skip : it;

/** A createServer app on fd 0 that answers /slow?ms=N after N ms, with no other thread-starting work. */
function appScript(options: string): string {
  const script = join(tempDir(), 'connections-app.js');
  writeFileSync(
    script,
    `const { createServer } = require(${JSON.stringify(repoRoot)});
createServer(${options}, (req, res) => {
  const ms = Number(/ms=(\\d+)/.exec(req.url)?.[1] ?? 0);
  setTimeout(() => res.end('done'), ms);
}).listen();
`,
  );
  return script;
}

/** User and system CPU time the app has used, from /proc/PID/stat (in clock ticks of 1/100 s). */
function cpuSecondsOf(app: RunningApp): number {
  const fields = readFileSync(`/proc/${app.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const threadsOf = (app: RunningApp): number => readdirSync(`/proc/${app.pid}/task`).length;
const rssOf = (app: RunningApp): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${app.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

async function get(app: RunningApp, uri: string): Promise<void> {
  const response = await fcgiRequest(app.address, cgiParams({ REQUEST_URI: uri, SCRIPT_NAME: '', PATH_INFO: uri }));
  expect(response.stdout.toString('latin1')).toMatch(/done$/);
}

/** Opens count connections to the app that send nothing, each established before this resolves. */
async function idleConnections(app: RunningApp, count: number): Promise<Socket[]> {
  const path = app.address.path;
  const port = app.address.port;
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = path !== undefined ? createConnection(path) : createConnection(port as number, '127.0.0.1');
          socket.once('connect', () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
}

describe('createServer on the event loop', () => {
  itNative('starts no thread to serve requests, one at a time or many at once', async () => {
    const app = await spawnFcgiApp(appScript('{}'));
    await get(app, '/warm');
    const idle = threadsOf(app);
    for (let i = 0; i < 20; i++) await get(app, '/fast');
    await Promise.all(Array.from({ length: 32 }, () => get(app, '/slow?ms=100')));
    expect(threadsOf(app)).toBe(idle);
  });

  itNative('answers a new connection at once while 1,000 others send nothing, at a small cost in memory', async () => {
    const app = await spawnFcgiApp(appScript('{}'));
    await get(app, '/warm');
    const threads = threadsOf(app);
    const rssBefore = rssOf(app);
    const sockets = await idleConnections(app, 1000);
    try {
      const started = Date.now();
      await get(app, '/fast');
      const elapsed = Date.now() - started;
      const growth = rssOf(app) - rssBefore;
      console.log(
        `1,000 idle connections: a new request answered in ${elapsed} ms, RSS +${(growth / 2 ** 20).toFixed(1)} MB`,
      );
      expect(elapsed).toBeLessThan(2000); // answered while the 1,000 idle connections stay open, not after they time out
      expect(growth).toBeLessThan(30 * 2 ** 20);
      expect(threadsOf(app)).toBe(threads);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  itNative('answers 1,000 requests in flight at once, each waiting on a timer', async () => {
    const app = await spawnFcgiApp(appScript('{}'));
    await get(app, '/warm');
    const started = Date.now();
    await Promise.all(Array.from({ length: 1000 }, () => get(app, '/slow?ms=300')));
    const elapsed = Date.now() - started;
    console.log(`1,000 requests of 300 ms in flight: all answered in ${elapsed} ms`);
    // 32 threads served them in 32 rounds (9.6 s); one event loop serves them side by side.
    expect(elapsed).toBeLessThan(5000);
  });

  itNative('waits for a file descriptor to free up, without spinning, when it runs out of them', async () => {
    // The app takes every descriptor it may open but a few, so that the 40 connections below exhaust them.
    const script = join(tempDir(), 'fd-starved-app.js');
    writeFileSync(
      script,
      `const { openSync, closeSync } = require('node:fs');
const held = [];
try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
for (const fd of held.splice(0, 12)) closeSync(fd);
const { createServer } = require(${JSON.stringify(repoRoot)});
createServer((req, res) => res.end('done')).listen();
`,
    );
    const app = await spawnFcgiApp(script);
    await get(app, '/warm');
    const sockets = await idleConnections(app, 40);
    try {
      const cpuBefore = cpuSecondsOf(app);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      // accept() failing with EMFILE on a listening socket that stays readable would take a whole core.
      expect(cpuSecondsOf(app) - cpuBefore).toBeLessThan(0.3);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    await get(app, '/after'); // alive, and accepting again
  });

  it('holds requests beyond concurrency back until one finishes', async () => {
    const app = await spawnFcgiApp(appScript('{ concurrency: 4 }'));
    const started = Date.now();
    await Promise.all(Array.from({ length: 8 }, () => get(app, '/slow?ms=300')));
    // Four at a time: two rounds of 300 ms, and not eight.
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(8 * 300 * slowdown);
  });
});
