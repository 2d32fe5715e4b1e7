// The launcher of `libfcgi init` on a site: what the app prints goes to logs/app.log in its folder (the account cannot
// read Apache's server-wide log), stderr written during a request also goes out as FCGI_STDERR (the site's own log),
// and an app that fails at start-up answers 503 and stays, rather than exiting into a loop of new processes.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type FcgiAddress, fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { repoRoot, spawnFcgiApp, stopAll, tempDir, type RunningApp } from '../helpers/apps';
import { cgiParams } from '../helpers/raw-fastcgi';
import { makeSite } from '../helpers/site';
import { waitUntil } from '../helpers/wait';

afterAll(stopAll);

/** A site from init whose app.js is `code`, run by its launcher as mod_fcgid would (fd 0 a listening socket). */
async function startSite(code: string): Promise<{ app: RunningApp; log: () => string; dir: string }> {
  const dir = tempDir();
  makeSite(dir);
  writeFileSync(join(dir, 'app.js'), code);
  const app = await spawnFcgiApp(join(dir, 'public_html', 'app.fcgi'), { tcp: true });
  const file = join(dir, 'logs', 'app.log');
  return { app, dir, log: () => (existsSync(file) ? readFileSync(file, 'utf8') : '') };
}

async function get(address: FcgiAddress, query = '') {
  const raw = await fcgiRequest(address, cgiParams({ QUERY_STRING: query, REQUEST_URI: `/?${query}` }));
  const response = parseCgiResponse(raw.stdout);
  return { status: response.status, body: response.body.toString(), stderr: raw.stderr.toString() };
}

const chatty = `const { createServer } = require('libfcgi');
console.log('starting up');
createServer((req, res) => {
  console.log('serving ' + req.url);
  console.error('warning from ' + req.url);
  if (req.url.includes('crash')) setTimeout(() => { throw new Error('crashed outside a handler'); });
  res.end('ok');
}).listen();
`;

describe("the launcher's app log", () => {
  it('holds what the app prints, and a request gets its own stderr lines as FCGI_STDERR', async () => {
    const { app, log } = await startSite(chatty);
    const reply = await get(app.address, 'x=1');
    expect(reply.body).toBe('ok');
    expect(reply.stderr).toBe('warning from /?x=1\n');
    // The request's own stderr line is the last the app writes for it; the log has it once the write reached the file.
    expect(await waitUntil(() => log().includes('warning from /?x=1\n')), log()).toBe(true);
    expect(log()).toMatch(/libfcgi: process \d+ starts .*app\.fcgi\n/);
    expect(log()).toContain('starting up\n');
    expect(log()).toContain('serving /?x=1\n');
    expect(log()).toContain('warning from /?x=1\n');
    expect(app.output()).not.toContain('serving /?x=1'); // no longer in the web server's log
  });

  it("holds a crash's stack", async () => {
    const { app, log } = await startSite(chatty);
    await get(app.address, 'crash');
    expect(await waitUntil(() => log().includes('Error: crashed outside a handler')), log()).toBe(true);
  });
});

describe('the launcher, when the app fails at start-up', () => {
  it('answers 503 at once, keeps the error in the log, and stays instead of exiting', async () => {
    const { app, log } = await startSite(`require('a-module-that-is-not-installed');\n`);
    const started = Date.now();
    const reply = await get(app.address);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(reply.status).toBe(503);
    expect(reply.body).not.toContain('a-module-that-is-not-installed'); // no error, no path for visitors
    expect(log()).toContain("Cannot find module 'a-module-that-is-not-installed'");
    expect(log()).toMatch(/restarting it in place in 1 s/);
    // The next start in place fails the same way and says so: then the launcher has stayed through a restart.
    const failures = (): number => log().split("Cannot find module 'a-module-that-is-not-installed'").length - 1;
    expect(await waitUntil(() => failures() >= 2), log()).toBe(true);
    expect(app.child.exitCode).toBeNull();
    expect((await get(app.address)).status).toBe(503);
  });

  it('serves the fixed app once it is deployed and the launcher touched', async () => {
    const { app, dir } = await startSite(`throw new Error('not yet');\n`);
    expect((await get(app.address)).status).toBe(503);
    writeFileSync(join(dir, 'app.js'), chatty);
    const now = new Date();
    utimesSync(join(dir, 'public_html', 'app.fcgi'), now, now);
    let reply = await get(app.address);
    await waitUntil(async () => (reply = await get(app.address)).status === 200, 4000, 100);
    expect(reply).toMatchObject({ status: 200, body: 'ok' });
  });
});

describe('guardStart', () => {
  it('answers 503 once an app has not reached listen() within its bound, and says so', async () => {
    const script = join(tempDir(), 'app.fcgi');
    writeFileSync(
      script,
      `require(${JSON.stringify(join(repoRoot, 'dist', 'launch.js'))}).guardStart(500);\nsetInterval(() => {}, 1000);\n`,
    );
    const app = await spawnFcgiApp(script, { tcp: true });
    const started = Date.now();
    const reply = await get(app.address);
    expect(reply.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(app.output()).toContain('did not reach listen() or accept() within 500 ms');
    expect(app.child.exitCode).toBeNull();
  });
});

describe('startAppLog', () => {
  it('moves a log past maxBytes to FILE.1 and starts a new one, keeping one older file', () => {
    const dir = tempDir();
    const file = join(dir, 'logs', 'app.log');
    const run = (): void => {
      const code = `require(${JSON.stringify(join(repoRoot, 'dist', 'launch.js'))}).startAppLog(${JSON.stringify(file)}, { maxBytes: 2000 });
process.stderr.write('x'.repeat(2500) + '\\n');`;
      const result = spawnSync(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
    };
    run();
    expect(readFileSync(file, 'utf8')).toContain('x'.repeat(2500));
    run(); // the log is past 2000 bytes when this one starts: rotated
    expect(readFileSync(`${file}.1`, 'utf8')).toContain('x'.repeat(2500));
    expect(readFileSync(file, 'utf8').length).toBeLessThan(2700);
    run();
    expect(existsSync(`${file}.2`)).toBe(false);
  });
});
