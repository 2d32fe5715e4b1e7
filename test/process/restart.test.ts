// Restarting in place: a redeploy (the script rewritten, restart.txt touched), maxRequests and crashes replace the
// process with a fresh image of itself, same pid and same listening socket on fd 0, so that no request is refused or
// lost, whoever spawned the app. A new version that does not start never replaces one that serves. The apps run under
// spawn-fcgi as web servers spawn them, and are driven over FastCGI from outside.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type FcgiAddress, fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { watchInterval } from '../../lib/restart/script-watch';
import { freePort, spawnFcgiApp, stopAll, stopWithAll, tempDir } from '../helpers/apps';
import { type Ask, cpuSeconds, deploy, type Deployment, Poller } from '../helpers/deploy';
import { cgiParams } from '../helpers/raw-fastcgi';
import { pidsRunning } from '../helpers/processes';
import { collectOutput } from '../helpers/output';
import { waitUntil } from '../helpers/wait';

afterAll(stopAll);

/** How many processes run this script (the app, and a check of its new code). */
const processesRunning = (script: string): number => pidsRunning(script).length;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const modes = [
  { mode: 'createServer', env: {} as Record<string, string> },
  { mode: 'accept() loop', env: { DEPLOY_APP_MODE: 'sync' } as Record<string, string> },
] as const;

/** One FastCGI request, given up after 5 s (a hang is a failure too). */
function asker(address: FcgiAddress, query = ''): Ask {
  return async () => {
    const request = fcgiRequest(address, cgiParams({ QUERY_STRING: query, REQUEST_URI: `/?${query}` }));
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer in 5 s')), 5000));
    const response = parseCgiResponse((await Promise.race([request, timeout])).stdout);
    return { status: response.status, body: response.body.toString() };
  };
}

/**
 * The new code was refused: the poller, asking since before it was deployed, gets answers from v1 and nothing else,
 * and at least one of them after the refusal (an every() over no answers would say nothing).
 */
async function expectServingOn(poller: Poller): Promise<void> {
  const refusedAt = poller.now();
  await poller.until((answer) => answer.at > refusedAt, 5000);
  expect(
    poller.answers.every((answer) => answer.status === 200 && answer.version === 'v1'),
    poller.summary(),
  ).toBe(true);
}

async function startDeployed(env: Record<string, string>, options: object = {}, initial: Partial<Deployment> = {}) {
  const dir = tempDir();
  const script = join(dir, 'app.fcgi');
  deploy(script, { version: 'v1', ...initial });
  const app = await spawnFcgiApp(script, { tcp: true, env: { ...env, DEPLOY_APP_OPTIONS: JSON.stringify(options) } });
  const ask = asker(app.address);
  // spawn-fcgi listens before node has even read the script: a rewrite before the first answer would be its first code.
  expect((await ask()).body).toMatch(/^v1 /);
  return { app, script, dir, ask };
}

describe.each(modes)('$mode redeployed', ({ env, mode }) => {
  it('replaces itself with the new code when its script is rewritten, same pid, every request answered', async () => {
    const { app, script, ask } = await startDeployed(env);
    const poller = new Poller(ask);
    await poller.until((answer) => answer.version === 'v1', 3000);
    const editedAt = poller.now();
    deploy(script, { version: 'v2' });
    const first = await poller.until((answer) => answer.version === 'v2', 5000);
    // Five answers more, to see that none comes from the old code once the new one has answered.
    await poller.until((answer) => poller.answers.indexOf(answer) >= poller.answers.indexOf(first) + 5, 5000);
    const answers = await poller.stop();
    expect(first.at - editedAt, `${mode}: the new code came too late`).toBeLessThan(3000);
    expect(
      answers.filter((answer) => answer.status !== 200),
      poller.summary(),
    ).toEqual([]);
    expect(new Set(answers.map((answer) => answer.pid))).toEqual(new Set([app.pid]));
    expect(answers.slice(answers.indexOf(first)).every((answer) => answer.version === 'v2')).toBe(true);
    expect(app.child.exitCode).toBeNull();
  });

  it('starts afresh when restart.txt beside the script is touched', async () => {
    const { app, dir, ask } = await startDeployed(env);
    const before = await ask();
    writeFileSync(join(dir, 'restart.txt'), '');
    const poller = new Poller(ask);
    const bootBefore = before.body.trim().split(' ')[2];
    const after = await poller.until((answer) => answer.boot !== undefined && answer.boot !== bootBefore, 4000);
    await poller.stop();
    expect(after.pid).toBe(app.pid);
    expect(poller.answers.every((answer) => answer.status === 200)).toBe(true);
  });

  it('keeps serving the old code when the new one throws at start-up, says why, and takes the next good one', async () => {
    const { app, script, ask } = await startDeployed(env);
    const poller = new Poller(ask);
    deploy(script, { version: 'broken', throwAtStart: 'the deploy forgot a module' });
    const refused = (): boolean => app.output().includes('does not start, so the running one goes on serving');
    expect(await waitUntil(refused, 10_000), app.output()).toBe(true);
    await expectServingOn(poller);
    expect(app.output()).toContain('does not start, so the running one goes on serving');
    expect(app.output()).toContain('the deploy forgot a module');
    deploy(script, { version: 'v3' });
    const fixed = await poller.until((answer) => answer.version === 'v3', 5000);
    await poller.stop();
    expect(fixed.pid).toBe(app.pid);
    expect(
      poller.answers.filter((answer) => answer.status !== 200),
      poller.summary(),
    ).toEqual([]);
  });

  it('keeps serving the old code when the new one does not reach listen() within startTimeout', async () => {
    const { app, script, ask } = await startDeployed(env, { startTimeout: 1000 });
    deploy(script, { version: 'stuck', neverListens: true });
    const poller = new Poller(ask);
    expect(await waitUntil(() => app.output().includes('within 1000 ms'), 4000), app.output()).toBe(true);
    await expectServingOn(poller);
    await poller.stop();
    expect(app.output()).toContain('did not reach listen() or accept() within 1000 ms');
  });

  it('on SIGTERM while the new code is being checked, exits 0 and leaves no check behind', async () => {
    // The accept() loop blocks while it checks (it has no event loop to wait on), so it hears SIGTERM after the check.
    const startTimeout = 5000; // long enough that the check is seen running on a busy machine
    const { app, script } = await startDeployed(env, { startTimeout });
    deploy(script, { version: 'stuck', neverListens: true });
    const checking = (): boolean => processesRunning(script) > 1;
    // deploy() truncates, then writes: a poll between the two checks an empty script, which exits at once, and the
    // write is a change of its own that the next poll checks. Wait for a check that stays.
    const checkStays = async (): Promise<boolean> => {
      if (!checking()) return false;
      await sleep(300);
      return checking();
    };
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(await checkStays())) await sleep(50);
    expect(checking(), `${mode}: no check started; the app printed:\n${app.output()}`).toBe(true);
    const signalled = Date.now();
    process.kill(app.pid, 'SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(mode === 'createServer' ? 1500 : startTimeout + 1500);
    await waitUntil(() => processesRunning(script) === 0, 2000);
    expect(processesRunning(script)).toBe(0);
  });

  it('keeps serving the old code after a rewrite with watchScript: false', async () => {
    await expectRewriteIgnored(env, await startDeployed(env, { watchScript: false }));
  });
});

it('createServer keeps serving the old code after a rewrite with listen({ watchScript: false })', async () => {
  const env = { DEPLOY_APP_LISTEN_OPTIONS: JSON.stringify({ watchScript: false }) };
  await expectRewriteIgnored({}, await startDeployed(env));
});

/**
 * Rewrites the script of an app that was told not to watch it, and of one that watches its own. The time the
 * watching app took to serve the new code, plus a poll of its watcher, is how long a watcher needs on this machine:
 * once the other has had that long, it must still serve the old code.
 */
async function expectRewriteIgnored(
  env: Record<string, string>,
  unwatched: Awaited<ReturnType<typeof startDeployed>>,
): Promise<void> {
  const watched = await startDeployed(env);
  const rewrittenAt = Date.now();
  deploy(unwatched.script, { version: 'v2' });
  deploy(watched.script, { version: 'v2' });
  const poller = new Poller(watched.ask);
  await poller.until((answer) => answer.version === 'v2', 5000);
  await poller.stop();
  const tookWatcher = Date.now() - rewrittenAt;
  await sleep(Math.max(0, rewrittenAt + tookWatcher + watchInterval - Date.now()));
  expect((await unwatched.ask()).body).toMatch(new RegExp(`^v1 ${unwatched.app.pid} `));
}

describe.each(modes)('$mode with restartInPlace', ({ env, mode }) => {
  it('replaces itself after maxRequests instead of exiting, refusing nothing', async () => {
    const { app, ask } = await startDeployed({ ...env, PHP_FCGI_MAX_REQUESTS: '3' }, { restartInPlace: true });
    const boots = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const { status, body } = await ask();
      expect(status).toBe(200);
      const [, pid, boot] = body.trim().split(' ');
      expect(Number(pid)).toBe(app.pid);
      boots.add(boot as string);
    }
    expect(boots.size, `${mode}: 10 requests at 3 a process`).toBeGreaterThanOrEqual(4);
  });

  it('after a crash answers 503 with Retry-After, then serves again in the same process', async () => {
    const { app, ask } = await startDeployed(env, { restartInPlace: true });
    const bootBefore = (await ask()).body.trim().split(' ')[2];
    await asker(app.address, 'crash')();
    const poller = new Poller(async () => {
      const response = parseCgiResponse((await fcgiRequest(app.address, cgiParams())).stdout);
      return { status: response.status, body: `${response.header('retry-after') ?? ''}|${response.body.toString()}` };
    });
    const back = await poller.until(
      (answer) => answer.status === 200 && !answer.text.includes(bootBefore ?? '?'),
      6000,
    );
    await poller.stop();
    const unavailable = poller.answers.filter((answer) => answer.status === 503);
    expect(unavailable.length, poller.summary()).toBeGreaterThan(0);
    expect(unavailable[0]?.text).toMatch(/^[12]\|.*Service Unavailable/s);
    expect(poller.answers.filter((answer) => answer.status !== 200 && answer.status !== 503)).toEqual([]);
    expect(Number(back.text.split('|')[1]?.split(' ')[1])).toBe(app.pid);
    expect(app.output()).toContain('crash asked for by a request');
    expect(app.output()).toMatch(/restarting it in place in 1 s/);
    expect(app.child.exitCode).toBeNull();
  });

  it('in a crash loop answers 503s quickly, costs little CPU, and serves the fixed code as soon as it is deployed', async () => {
    const { app, script, ask } = await startDeployed(env, { restartInPlace: true });
    deploy(script, { version: 'crashing', crashAfterMs: 300 });
    const poller = new Poller(ask);
    await poller.until((answer) => answer.status === 503, 6000);
    const cpuBefore = cpuSeconds(app.pid);
    const looped = Date.now();
    // Two more crashes, the back-off doubling each time: 1 s, 2 s, then 4 s.
    expect(await waitUntil(() => app.output().includes('in place in 4 s'), 15_000), app.output()).toBe(true);
    const cpu = (cpuSeconds(app.pid) - cpuBefore) / ((Date.now() - looped) / 1000);
    deploy(script, { version: 'fixed' });
    const fixedAt = poller.now();
    const fixed = await poller.until((answer) => answer.version === 'fixed', 6000);
    await poller.stop();
    expect(cpu, `${mode}: share of a core used while crash-looping`).toBeLessThan(0.5);
    expect(fixed.at - fixedAt).toBeLessThan(4000);
    expect(fixed.pid).toBe(app.pid);
    const statuses = new Set(poller.answers.map((answer) => answer.status));
    expect([...statuses].sort(), poller.summary()).toEqual([200, 503]);
    expect(Math.max(...poller.answers.map((answer) => answer.ms))).toBeLessThan(2000);
    expect(app.output()).toContain('crash loop: crashing dies 300 ms after start');
    expect(app.output()).toMatch(/restarting it in place in 2 s/); // the back-off doubles
  });

  it('still exits 0 on SIGTERM', async () => {
    const { app, ask } = await startDeployed(env, { restartInPlace: true });
    await ask();
    process.kill(app.pid, 'SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it('ignores idleTimeout with a warning, since nobody would start it again', async () => {
    const { app, ask } = await startDeployed(env, { restartInPlace: true, idleTimeout: 500 });
    await sleep(1500);
    expect((await ask()).status).toBe(200);
    expect(app.output()).toContain('idleTimeout is ignored');
  });
});

describe('under spawn-fcgi, which forks the app and never starts it again', () => {
  /** spawn-fcgi without -n: it forks the app, says its pid, and exits; the app is left to init. */
  async function forked(script: string): Promise<{ pid: number; address: FcgiAddress }> {
    const port = await freePort();
    const child = spawn('spawn-fcgi', ['-a', '127.0.0.1', '-p', String(port), '--', process.execPath, script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = collectOutput([child.stdout, child.stderr], 'spawn-fcgi and the app it forked');
    await new Promise((resolve) => child.once('exit', resolve));
    const said = output.text();
    const pid = Number(/PID: (\d+)/.exec(said)?.[1]);
    expect(pid, said).toBeGreaterThan(0);
    stopWithAll(async () => {
      if (!existsSync(`/proc/${pid}`)) return;
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 60 && existsSync(`/proc/${pid}`); i++) await sleep(50);
    });
    return { pid, address: { host: '127.0.0.1', port } };
  }

  it('restarts in place after a crash by default', async () => {
    const script = join(tempDir(), 'app.fcgi');
    deploy(script, { version: 'v1' });
    const { pid, address } = await forked(script);
    const ask = asker(address);
    const first = await ask();
    expect(first.body).toMatch(new RegExp(`^v1 ${pid} `));
    await asker(address, 'crash')();
    const poller = new Poller(ask);
    const back = await poller.until(
      (answer) => answer.status === 200 && answer.boot !== first.body.trim().split(' ')[2],
      6000,
    );
    await poller.stop();
    expect(back.pid).toBe(pid);
    expect(poller.answers.some((answer) => answer.status === 503)).toBe(true);
  });
});
