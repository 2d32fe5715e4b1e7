// How an app stops: SIGTERM with a grace period (how mod_fcgid and lighttpd stop apps), maxRequests and
// PHP_FCGI_MAX_REQUESTS, idleTimeout, and the death of the web server that spawned it. Each app is spawned with its
// listening socket on fd 0, as web servers do, and watched from outside.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { fcgiRequest, parseCgiResponse } from '../lib/client';
import { fixture, freePort, stopAll, stopWithAll, type RunningApp } from './helpers/apps';
import { cgiParams, expectServedCorrectly, type Report, reportAppModes, startReportApp } from './helpers/raw-fastcgi';

afterAll(stopAll);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a request that takes ms in the app, and resolves `started` once the app has it in hand. */
function slowRequest(app: RunningApp, ms: number): { started: Promise<void>; answer: Promise<Report> } {
  const answer = fcgiRequest(app.address, cgiParams({ QUERY_STRING: `sleep=${ms}` })).then(
    (response) => JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Report,
  );
  const started = (async () => {
    for (let i = 0; i < 200 && !app.output().includes(`sleeping ${ms} ms`); i++) await sleep(25);
    expect(app.output()).toContain(`sleeping ${ms} ms`);
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

  it('on a second SIGTERM exits at once, without waiting for the request in flight', async () => {
    const app = await startReportApp(env);
    const inFlight = slowRequest(app, 5000);
    const failure = inFlight.answer.catch((error: Error) => error);
    await inFlight.started;
    const started = Date.now();
    process.kill(app.pid, 'SIGTERM');
    await sleep(100);
    process.kill(app.pid, 'SIGTERM');
    const exit = await app.exited;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(exit.code === 143 || exit.signal === 'SIGTERM').toBe(true);
    expect(await failure).toBeInstanceOf(Error);
  });

  it('exits when the grace period (shutdownTimeout) ends with a request still in flight', async () => {
    const app = await startReportApp(env, { shutdownTimeout: 300 });
    const inFlight = slowRequest(app, 5000);
    const failure = inFlight.answer.catch((error: Error) => error);
    await inFlight.started;
    const started = Date.now();
    process.kill(app.pid, 'SIGTERM');
    const exit = await app.exited;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(exit.code === 143 || exit.signal === 'SIGALRM').toBe(true);
    expect(await failure).toBeInstanceOf(Error);
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

  it('exits 0 when the web server that spawned it is killed with SIGKILL', async () => {
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
    for (let i = 0; i < 100; i++) {
      try {
        await expectServedCorrectly({ port }, appPid);
        break;
      } catch {
        await sleep(50);
      }
    }
    server.kill('SIGKILL');
    unregister();
    const started = Date.now();
    while (existsSync(`/proc/${appPid}`) && Date.now() - started < 5000) await sleep(50);
    const lingering = existsSync(`/proc/${appPid}`);
    if (lingering) process.kill(appPid, 'SIGKILL');
    expect(lingering, `${mode} app still running 5 s after its parent died`).toBe(false);
  });
});
