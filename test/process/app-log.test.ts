// The launcher of `libfcgi init` on a site: what the app prints goes to logs/app.log in its folder (the account cannot
// read Apache's server-wide log), stderr written during a request also goes out as FCGI_STDERR (the site's own log),
// and an app that fails at start-up answers 503 and stays, rather than exiting into a loop of new processes.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type FcgiAddress, fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { repoRoot, spawnFcgiApp, stopAll, stopWithAll, tempDir, type RunningApp } from '../helpers/apps';
import { cgiParams } from '../helpers/raw-fastcgi';
import { makeSite } from '../helpers/site';
import { waitUntil } from '../helpers/wait';

afterAll(stopAll);

/**
 * A site from init whose app.js is `code`, run by its launcher as mod_fcgid would (fd 0 a listening socket);
 * `beforeStart` prepares its folder first.
 */
async function startSite(
  code: string,
  beforeStart: (dir: string) => void = () => undefined,
): Promise<{ app: RunningApp; log: () => string; dir: string }> {
  const dir = tempDir();
  makeSite(dir);
  writeFileSync(join(dir, 'app.js'), code);
  beforeStart(dir);
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

/** Mounts a tmpfs of `size` (with `options`) at the site's logs/, unmounted when the tests end. */
function mountLogs(dir: string, size: string, options = ''): string {
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700${options}`, 'tmpfs', logs]);
  stopWithAll(async () => void spawnSync('umount', ['-l', logs]));
  return logs;
}

/** Fills the file system of `folder` with one file, returned. */
function fill(folder: string): string {
  const filler = join(folder, 'filler');
  const fd = openSync(filler, 'w');
  try {
    for (;;) writeSync(fd, Buffer.alloc(4096, 1));
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
  } finally {
    closeSync(fd);
  }
  return filler;
}

const canMount = process.getuid?.() === 0;

describe.skipIf(!canMount)('the launcher, when its log cannot be written', () => {
  it('goes on answering on a full disk, and says how many writes were lost once the log takes them again', async () => {
    let filler = '';
    const { app, log } = await startSite(chatty, (dir) => (filler = fill(mountLogs(dir, '64k'))));
    const first = await get(app.address, 'x=1');
    expect(first.body).toBe('ok');
    // The site's own error log (FCGI_STDERR) hears of it, since the account cannot see its log grow.
    expect(first.stderr).toMatch(/libfcgi: writes to \S+app\.log fail \(ENOSPC\)/);
    for (let i = 2; i <= 5; i++) expect((await get(app.address, `x=${i}`)).body).toBe('ok');
    expect(app.child.exitCode).toBeNull();
    rmSync(filler);
    expect((await get(app.address, 'x=after')).body).toBe('ok');
    expect(await waitUntil(() => log().includes('serving /?x=after'), 5000), log()).toBe(true);
    // What was lost: the start line, the app's own "starting up", and each of the five requests' two lines.
    expect(log()).toMatch(
      /libfcgi: 12 writes to this log \(\d+ bytes\) were lost: ENOSPC\n(.*\n)*serving \/\?x=after\n/,
    );
    expect(log()).not.toContain('serving /?x=1\n');
  });

  it('says on the next request, where the owner can read it, that its log folder is read-only, and answers', async () => {
    const { app } = await startSite(chatty, (dir) => void mountLogs(dir, '64k', ',ro'));
    const first = await get(app.address, 'x=1');
    expect(first.body).toBe('ok');
    expect(first.stderr).toMatch(/libfcgi: no app log at \S+app\.log: EROFS/);
    expect(first.stderr).toContain('warning from /?x=1\n');
    const second = await get(app.address, 'x=2');
    expect(second.stderr).toBe('warning from /?x=2\n'); // said once
  });
});

describe('the launcher, with a .env it cannot read', () => {
  it('starts the app without it, and says why in the log', async () => {
    const { app, log } = await startSite(chatty, (dir) => mkdirSync(join(dir, '.env')));
    const reply = await get(app.address, 'x=1');
    expect(reply).toMatchObject({ status: 200, body: 'ok' });
    expect(log()).toMatch(/libfcgi: \S+\.env not loaded \(EISDIR\)/);
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
  it('moves the log to FILE.1 as soon as a write takes it past maxBytes, keeping one older file', () => {
    const dir = tempDir();
    const file = join(dir, 'logs', 'app.log');
    const run = (): void => {
      const code = `require(${JSON.stringify(join(repoRoot, 'dist', 'launch.js'))}).startAppLog(${JSON.stringify(file)}, { maxBytes: 2000 });
process.stderr.write('x'.repeat(2500) + '\\n');`;
      const result = spawnSync(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
    };
    run();
    expect(readFileSync(`${file}.1`, 'utf8')).toMatch(/libfcgi: process (\d+) starts .*\nx{2500}\n$/);
    expect(readFileSync(file, 'utf8')).toBe('');
    const first = readFileSync(`${file}.1`, 'utf8');
    run();
    expect(readFileSync(`${file}.1`, 'utf8')).not.toBe(first); // the second run's, replacing the first's
    expect(readFileSync(`${file}.1`, 'utf8')).toMatch(/x{2500}\n$/);
    expect(existsSync(`${file}.2`)).toBe(false);
  });

  it('keeps the log and its older file within twice maxBytes however fast the app writes', () => {
    const dir = tempDir();
    const file = join(dir, 'logs', 'app.log');
    const maxBytes = 100_000;
    const code = `require(${JSON.stringify(join(repoRoot, 'dist', 'launch.js'))}).startAppLog(${JSON.stringify(file)}, { maxBytes: ${maxBytes} });
for (let i = 0; i < 2500; i++) process.stderr.write('y'.repeat(998) + '\\n');`;
    const result = spawnSync(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const size = (path: string): number => statSync(path).size;
    // 2.5 MB written: the two files hold the last of it, each at most one line past maxBytes.
    expect(size(file)).toBeLessThanOrEqual(maxBytes + 999);
    expect(size(`${file}.1`)).toBeLessThanOrEqual(maxBytes + 999);
    expect(size(`${file}.1`)).toBeGreaterThanOrEqual(maxBytes); // rotated when full, not before
  });
});
