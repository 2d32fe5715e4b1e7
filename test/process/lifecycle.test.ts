// How an app stops: SIGTERM with a grace period (how mod_fcgid and lighttpd stop apps), maxRequests and
// PHP_FCGI_MAX_REQUESTS, idleTimeout, and the death of the web server that spawned it; and that a redeploy lets the
// request in flight finish (test/process/restart.test.ts has the rest of redeploys). Each app is spawned with its listening
// socket on fd 0, as web servers do, and watched from outside.
import { spawn } from 'node:child_process';
import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createConnection } from 'node:net';
import { FcgiConnection, fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { RecordParser, RecordType } from '../../lib/client/protocol';
import {
  canConnect,
  fixture,
  freePort,
  spawnFcgiApp,
  stopAll,
  stopWithAll,
  tempDir,
  type RunningApp,
} from '../helpers/apps';
import { signalTaken, waitUntil, waitUntilWaiting, waitUntilWokenWaiting } from '../helpers/wait';
import {
  begin,
  cgiParams,
  params,
  stdin,
  expectServedCorrectly,
  type Report,
  reportAppModes,
  startReportApp,
  wholeRequest,
} from '../helpers/raw-fastcgi';

afterAll(stopAll);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a request that takes ms in the app, and resolves `started` once the app has it in hand. */
function slowRequest(app: RunningApp, ms: number): { started: Promise<void>; answer: Promise<Report> } {
  const answer = fcgiRequest(app.address, cgiParams({ QUERY_STRING: `sleep=${ms}` })).then(
    (response) => JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Report,
  );
  const started = (async () => {
    expect(await waitUntil(() => app.output().includes(`sleeping ${ms} ms`), 5000), app.output()).toBe(true);
  })();
  return { started, answer };
}

describe.each(reportAppModes)('$mode stopping by itself', ({ env, mode }) => {
  it('on SIGTERM finishes the request in flight, then exits 0', async () => {
    const app = await startReportApp(env);
    const inFlight = slowRequest(app, 800);
    await inFlight.started;
    process.kill(app.pid, 'SIGTERM');
    const report = await inFlight.answer;
    expect(report.pid).toBe(app.pid);
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it('on a second SIGTERM exits without waiting for the request in flight', async () => {
    const app = await startReportApp(env);
    const inFlight = slowRequest(app, 5000);
    const failure = inFlight.answer.catch((error: Error) => error);
    await inFlight.started;
    await signalTaken(app.pid, 'SIGTERM');
    process.kill(app.pid, 'SIGTERM');
    const exit = await app.exited;
    expect(exit.code === 143 || exit.signal === 'SIGTERM').toBe(true);
    expect(await failure).toBeInstanceOf(Error); // had it waited, the request would have been answered
  });

  it('exits when the grace period (shutdownTimeout) ends with a request still in flight', async () => {
    const app = await startReportApp(env, { shutdownTimeout: 300 });
    const inFlight = slowRequest(app, 5000);
    const failure = inFlight.answer.catch((error: Error) => error);
    await inFlight.started;
    process.kill(app.pid, 'SIGTERM');
    const exit = await app.exited;
    expect(exit.code === 143 || exit.signal === 'SIGALRM').toBe(true);
    expect(await failure).toBeInstanceOf(Error); // had it waited, the request would have been answered
  });

  it('serves PHP_FCGI_MAX_REQUESTS requests, then exits 0', async () => {
    const app = await startReportApp({ ...env, PHP_FCGI_MAX_REQUESTS: '3' });
    for (let i = 0; i < 3; i++) await expectServedCorrectly(app.address, app.pid);
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it('exits 0 after idleTimeout without a request, and not before', async () => {
    const app = await startReportApp(env, { idleTimeout: 600 });
    for (let i = 0; i < 4; i++) {
      await sleep(300); // each request restarts the idle time
      await expectServedCorrectly(app.address, app.pid);
    }
    const started = Date.now();
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it.each([
    ['with no connection open', false],
    ['while it keeps a connection open', true],
  ])('exits 0 when the web server that spawned it is killed with SIGKILL, %s', async (_, keepConnection) => {
    // A stand-in web server: a shell that spawns the app with a listening socket on fd 0 and waits for it.
    const port = await freePort();
    const app = fixture('report-app.js');
    const server = spawn(
      'sh',
      ['-c', `spawn-fcgi -n -a 127.0.0.1 -p ${port} -- "${process.execPath}" "${app}" & echo $!; wait`],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const unregister = stopWithAll(async () => void server.kill('SIGKILL'));
    const appPid = await new Promise<number>((resolve) =>
      server.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
    );
    // spawn-fcgi listens before it becomes the app: from then on a request waits for the app, and must be served.
    expect(await waitUntil(() => canConnect({ port }), 5000), 'spawn-fcgi never listened').toBe(true);
    await expectServedCorrectly({ port }, appPid);
    // A web server that keeps connections (nginx with fastcgi_keep_conn) dies with one open, and its kernel keeps it.
    const kept = keepConnection ? await FcgiConnection.connect({ port }) : null;
    if (kept) expect(await servedOn(kept)).toBe(appPid);
    server.kill('SIGKILL');
    unregister();
    const lingering = !(await waitUntil(() => !existsSync(`/proc/${appPid}`), 5000));
    if (lingering) process.kill(appPid, 'SIGKILL');
    kept?.close();
    expect(lingering, `${mode} app still running 5 s after its parent died`).toBe(false);
  });
});

/** Serves one request on a connection the app is asked to keep (FCGI_KEEP_CONN); returns the serving process. */
async function servedOn(connection: FcgiConnection): Promise<number> {
  const response = await connection.request(cgiParams(), { keepConn: true });
  return (JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Report).pid;
}

// Between two requests on a kept connection the app waits on that connection, not on its listening socket; the
// reasons to stop must reach it there too.
describe.each(reportAppModes)('$mode waiting on a kept connection', ({ env }) => {
  it('serves the next request on it after its wait there has timed out and gone on', async () => {
    const app = await startReportApp(env);
    const connection = await FcgiConnection.connect(app.address);
    expect(await servedOn(connection)).toBe(app.pid);
    // The accept() loop waits in slices of a second; createServer wakes for its watch timer.
    await waitUntilWokenWaiting(app.pid, 2);
    expect(await servedOn(connection)).toBe(app.pid);
    expect(connection.isClosed).toBe(false);
    connection.close();
  });

  it('on SIGTERM exits 0 without waiting for the web server to close it', async () => {
    const app = await startReportApp(env);
    const connection = await FcgiConnection.connect(app.address);
    expect(await servedOn(connection)).toBe(app.pid);
    await waitUntilWaiting(app.pid);
    process.kill(app.pid, 'SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
    await connection.closed; // by the app's exit: the web server still holds it open
  });

  it('exits 0 after idleTimeout without waiting for the web server to close it', async () => {
    const app = await startReportApp(env, { idleTimeout: 1500 });
    const connection = await FcgiConnection.connect(app.address);
    expect(await servedOn(connection)).toBe(app.pid);
    expect(await servedOn(connection)).toBe(app.pid); // a request does not end it: idleness does
    expect(await app.exited).toEqual({ code: 0, signal: null });
    await connection.closed; // by the app's exit: the web server still holds it open
  });
});

/** The report app behind a script of its own in a fresh directory, as app.fcgi is: the script a redeploy touches. */
async function startDeployedApp(env: Record<string, string>, options: object = {}) {
  const dir = tempDir();
  const script = join(dir, 'app.fcgi');
  writeFileSync(script, `require(${JSON.stringify(fixture('report-app.js'))});\n`);
  const app = await spawnFcgiApp(script, { tcp: true, env: { ...env, REPORT_APP_OPTIONS: JSON.stringify(options) } });
  return { app, script, restartTxt: join(dir, 'restart.txt') };
}

const touch = (path: string): void => {
  const now = Date.now() / 1000;
  try {
    utimesSync(path, now, now);
  } catch {
    writeFileSync(path, '');
  }
};

describe.each(reportAppModes)('$mode redeployed by touching its script', ({ env }) => {
  it('finishes the request in flight, then goes on serving in the same process', async () => {
    const { app, script } = await startDeployedApp(env);
    const before = await expectServedCorrectly(app.address, app.pid);
    const inFlight = slowRequest(app, 1500);
    await inFlight.started;
    touch(script);
    const answer = await inFlight.answer;
    expect(answer).toMatchObject({ pid: app.pid, started: before.started });
    // Then the new code starts in place: the same process, started anew.
    let after = before;
    await waitUntil(async () => (after = await expectServedCorrectly(app.address, app.pid)).started !== before.started);
    expect(after.started).not.toBe(before.started);
    expect(app.child.exitCode).toBeNull();
  });

  it('exits after idleTimeout still when it watches its script', async () => {
    const { app } = await startDeployedApp(env, { idleTimeout: 1500 });
    await expectServedCorrectly(app.address, app.pid);
    const started = Date.now();
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1300);
  });
});

// A web server writes its request right after connecting; a server that stops (SIGTERM, or a restart in place) in
// between must not lose it.
describe('createServer stopping while a request is on its way', () => {
  /** Connects, runs `between` once connected, then sends `later` and collects the answer until the app closes. */
  function converse(app: RunningApp, first: Buffer, between: () => Promise<void>, later: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(app.address.port ?? 0, '127.0.0.1');
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(received)));
      socket.once('connect', async () => {
        if (first.length > 0) socket.write(first);
        await between();
        socket.write(later);
      });
    });
  }

  const request = wholeRequest(cgiParams());
  const reportOf = (answer: Buffer, requestId = 1): Report => {
    const stdout = Buffer.concat(
      new RecordParser()
        .push(answer)
        .filter((record) => record.type === RecordType.stdout && record.requestId === requestId)
        .map((record) => record.content),
    );
    return JSON.parse(parseCgiResponse(stdout).body.toString()) as Report;
  };

  it('serves the next request on a kept connection when its first record came before SIGTERM', async () => {
    const app = await startReportApp({});
    await expectServedCorrectly(app.address, app.pid);
    const socket = createConnection(app.address.port ?? 0, '127.0.0.1');
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const ended = (requestId: number): boolean =>
      new RecordParser()
        .push(received)
        .some((record) => record.type === RecordType.endRequest && record.requestId === requestId);
    // A first request on a connection the web server keeps, answered.
    socket.write(Buffer.concat([begin(1, true), params(cgiParams(), 1), stdin(Buffer.alloc(0), 1)]));
    expect(await waitUntil(() => ended(1), 2000)).toBe(true);
    // The next one's first record, then SIGTERM, then the rest.
    socket.write(begin(2));
    await waitUntilWaiting(app.pid);
    await signalTaken(app.pid, 'SIGTERM');
    await waitUntilWaiting(app.pid);
    socket.write(Buffer.concat([params(cgiParams(), 2), stdin(Buffer.alloc(0), 2)]));
    await closed;
    expect(ended(2)).toBe(true);
    expect(reportOf(received, 2).pid).toBe(app.pid);
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it("serves a new connection's first request when it comes within a second of SIGTERM", async () => {
    const app = await startReportApp({});
    await expectServedCorrectly(app.address, app.pid);
    const answer = await converse(
      app,
      Buffer.alloc(0),
      async () => {
        await waitUntilWaiting(app.pid);
        await signalTaken(app.pid, 'SIGTERM');
        await waitUntilWaiting(app.pid);
      },
      request,
    );
    expect(reportOf(answer).pid).toBe(app.pid);
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it('closes a new connection that sends nothing, and exits, about a second after SIGTERM', async () => {
    const app = await startReportApp({});
    await expectServedCorrectly(app.address, app.pid);
    const socket = createConnection(app.address.port ?? 0, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    await waitUntilWaiting(app.pid);
    const signalled = Date.now();
    process.kill(app.pid, 'SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(2500);
    socket.destroy();
  });
});
