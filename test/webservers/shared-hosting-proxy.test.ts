// The shared host of shared-hosting.test.ts with mod_proxy_fcgi loaded, as hosts that run PHP-FPM have it: init's
// .htaccess sends requests straight to the site's one Node process while it runs (no mod_fcgid slot, no wait for
// one), and through mod_fcgid's relays, which start it, otherwise. Only Apache's user reaches that socket.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/apps';
import { hostingAccount, type HostingAccount } from '../helpers/hosting-account';
import { waitUntil } from '../helpers/wait';
import { canPlayUser, UnprivilegedUser, hasSuexec } from '../helpers/unprivileged';
import { httpGet, type WebServer } from '../helpers/webservers';
import { findProcesses, isRelay } from '../helpers/processes';

const hasProxyFcgi = existsSync('/usr/lib/apache2/modules/mod_proxy_fcgi.so');

/**
 * The app: says which way the request came (mod_fcgid runs app.fcgi, mod_proxy_fcgi names the path), who served it,
 * and what it got (the Authorization header, an upload's length and hash). /stream writes 64 KiB and holds the rest of
 * its response until /release; /crash answers, then throws outside any handler.
 */
function app(version: string): string {
  return `'use strict';
const { createHash } = require('node:crypto');
const { createServer } = require('libfcgi');
let release = null;
const started = Date.now();
createServer((req, res) => {
  const hash = createHash('sha256');
  let bytes = 0;
  const answer = () =>
    res.end(JSON.stringify({
      version: ${JSON.stringify(version)},
      pid: process.pid,
      started,
      url: req.url,
      via: req.fcgi.params.SCRIPT_NAME === '/app.fcgi' ? 'mod_fcgid' : 'mod_proxy_fcgi',
      authorization: req.headers.authorization ?? null,
      bytes,
      sha256: hash.digest('hex'),
    }));
  if (req.url === '/stream') {
    res.write('a'.repeat(65536));
    release = () => res.end('the end');
    return;
  }
  if (req.url === '/release') release?.();
  if (req.url === '/crash') setTimeout(() => { throw new Error('crashed on purpose'); }, 20);
  const sleep = Number(new URL(req.url, 'http://x').searchParams.get('sleep') || 0);
  req.on('data', (chunk) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => (sleep > 0 ? setTimeout(answer, sleep) : answer()));
}).listen();
`;
}

interface Served {
  version: string;
  pid: number;
  /** When the process's code was loaded: a crash restarts the same pid in place. */
  started: number;
  url: string;
  via: 'mod_fcgid' | 'mod_proxy_fcgi';
  authorization: string | null;
  bytes: number;
  sha256: string;
}

describe.skipIf(!canPlayUser || !hasSuexec || !hasProxyFcgi)('a shared host with mod_proxy_fcgi loaded', () => {
  let account: HostingAccount;
  let user: UnprivilegedUser;
  let home = '';
  let site = '';
  let server: WebServer;

  const get = async (path: string, options: Parameters<typeof httpGet>[2] = {}): Promise<Served> => {
    const reply = await httpGet(server.port, path, options);
    expect(reply.status, `${reply.body.toString()}\n${server.errorLog()}`).toBe(200);
    return JSON.parse(reply.body.toString()) as Served;
  };
  const flag = (): string => join(site, '.libfcgi-proxy', 'live');
  /** Kills the site's Node process (its relays lower the flag) and removes the direct path's folder; returns it. */
  const killNodeAndClearFolder = async (path: string): Promise<string> => {
    const alive = await get(path);
    process.kill(alive.pid, 'SIGKILL');
    expect(await waitUntil(() => !existsSync(flag()), 5_000)).toBe(true);
    const folder = join(site, '.libfcgi-proxy');
    rmSync(folder, { recursive: true, force: true });
    return folder;
  };
  const nodesOfSite = (): number[] =>
    findProcesses((args) => args.some((arg) => arg.endsWith('app.fcgi')))
      .filter((process) => process.uid === user.uid && !isRelay(process))
      .map((process) => process.pid);

  beforeAll(async () => {
    account = hostingAccount('proxy');
    ({ user, home } = account);
    site = join(home, 'site');
    mkdirSync(site);
    writeFileSync(join(site, 'package.json'), JSON.stringify({ name: 'site', private: true }));
    writeFileSync(join(site, 'app.js'), app('v1'));
    user.own(site);
    for (const command of ['npm install --no-audit --no-fund ../libfcgi.tgz', 'node_modules/.bin/libfcgi init .']) {
      account.shell(site, command);
    }
    server = await account.startApache('apache-suexec-proxy.conf', site);
  }, 400_000);

  afterAll(async () => {
    await stopAll();
    account?.remove();
  });

  it('serves through mod_proxy_fcgi once the Node process the relays started runs, in that one process', async () => {
    // startWebServer's first request went through mod_fcgid, whose relay started the Node process.
    expect(await waitUntil(() => existsSync(flag()), 5_000)).toBe(true);
    const next = await get('/next?x=1');
    expect(next).toMatchObject({ version: 'v1', url: '/next?x=1', via: 'mod_proxy_fcgi' });
    expect(nodesOfSite()).toEqual([next.pid]);
    expect(readFileSync(flag(), 'utf8')).toBe(`${next.pid}\n`);
    expect(statSync(join(site, '.libfcgi-proxy')).mode & 0o777).toBe(0o711);
    expect(statSync(join(site, '.libfcgi-proxy', 'app.sock')).uid).toBe(user.uid);
  });

  it('hands the app the Authorization header, which Apache keeps from FastCGI programs unless told', async () => {
    const served = await get('/private', { headers: { Authorization: 'Bearer abc.def' } });
    expect(served).toMatchObject({ via: 'mod_proxy_fcgi', authorization: 'Bearer abc.def' });
    expect((await get('/public')).authorization).toBeNull();
  });

  it("takes an upload past mod_fcgid's 128 KiB request limit, whole", async () => {
    const body = randomBytes(1 << 20);
    const served = await get('/upload', { method: 'POST', body });
    expect(served).toMatchObject({ via: 'mod_proxy_fcgi', bytes: body.length });
    expect(served.sha256).toBe(createHash('sha256').update(body).digest('hex'));
  });

  // Apache's core output filter keeps back a tail under 4 KiB until more comes or a flush, and mod_proxy_fcgi flushes
  // only where the host set flushpackets=on: of the 64 KiB written, all but that tail must arrive before the end.
  it('sends what a streamed response has written before the response ends, but a tail under 4 KiB', async () => {
    let ended = false;
    const { received, rest } = await new Promise<{ received: number; rest: Promise<string> }>((resolve, reject) => {
      const request = httpRequest({ host: '127.0.0.1', port: server.port, path: '/stream', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let told = false;
        const whole = new Promise<string>((done) =>
          res.on('end', () => {
            ended = true;
            done(Buffer.concat(chunks).toString());
          }),
        );
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          const length = chunks.reduce((sum, c) => sum + c.length, 0);
          if (!told && length > 65536 - 4096) {
            told = true;
            resolve({ received: length, rest: whole });
          }
        });
      });
      request.on('error', reject);
      request.end();
    });
    expect(received).toBeLessThanOrEqual(65536);
    expect(ended).toBe(false); // the app holds the end until /release
    await get('/release');
    expect(await rest).toBe(`${'a'.repeat(65536)}the end`);
  });

  it('answers 20 concurrent one-second requests at once, in one Node process', async () => {
    await get('/warm');
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => get(`/slow/${i}?sleep=1000`)));
    const seconds = (Date.now() - started) / 1000;
    console.log(`mod_proxy_fcgi: 20 concurrent 1-s requests in ${seconds.toFixed(2)} s`);
    expect(new Set(replies.map((reply) => reply.via))).toEqual(new Set(['mod_proxy_fcgi']));
    expect(new Set(replies.map((reply) => reply.pid)).size).toBe(1);
    expect(seconds).toBeLessThan(1.5);
  });

  it('shows the direct path open in `libfcgi status`, with the requests that came that way', async () => {
    await get('/counted');
    const argv = user.argv([], { HOME: home, PATH: '/usr/bin:/bin' }, [
      'sh',
      '-c',
      `cd ${site} && ${join(home, '.local', 'bin', 'node')} node_modules/.bin/libfcgi status`,
    ]);
    const run = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    const served = Number(/direct +open: (\d+) requests came through mod_proxy_fcgi/.exec(run.stdout)?.[1]);
    expect(served, run.stdout).toBeGreaterThanOrEqual(1);
  });

  it("refuses another local user at the site's socket, and says so in the app's log", () => {
    const socket = join(site, '.libfcgi-proxy', 'app.sock');
    const client = join(site, 'node_modules', 'libfcgi', 'dist', 'client', 'client.js');
    const script =
      `require(${JSON.stringify(client)}).fcgiRequest({ path: ${JSON.stringify(socket)} }, ` +
      "{ REQUEST_METHOD: 'GET', REQUEST_URI: '/secret', SCRIPT_NAME: '/secret' })" +
      '.then((r) => console.log(String(r.stdout)), (e) => console.log("refused: " + e.message))';
    const output = execFileSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script],
      { encoding: 'utf8' },
    );
    expect(output).toMatch(/^refused: /);
    const log = join(site, 'logs', 'app.log');
    expect(readFileSync(log, 'utf8')).toContain(
      'a local process of uid 65534 connected, and webServerUids does not list it',
    );
  });

  it('serves a redeploy with no failed request, the new code through mod_proxy_fcgi again', async () => {
    const before = await get('/before');
    writeFileSync(join(site, 'app.js'), app('v2'));
    user.own(join(site, 'app.js'));
    const launcher = join(site, 'public_html', 'app.fcgi');
    const now = new Date();
    utimesSync(launcher, now, now);
    const seen: Served[] = [];
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const reply = await get(`/during/${seen.length}`);
      seen.push(reply);
      if (reply.version === 'v2' && reply.via === 'mod_proxy_fcgi') break;
    }
    const last = seen[seen.length - 1] as Served;
    expect(last).toMatchObject({ version: 'v2', via: 'mod_proxy_fcgi' });
    expect(last.pid).not.toBe(before.pid);
    expect(await waitUntil(() => !nodesOfSite().includes(before.pid), 10_000)).toBe(true);
  });

  it('sends requests through the relays again, never to a dead socket, when the Node process is killed', async () => {
    const served = await get('/alive');
    expect(served.via).toBe('mod_proxy_fcgi');
    process.kill(served.pid, 'SIGKILL');
    expect(await waitUntil(() => !existsSync(flag()), 5_000)).toBe(true);
    const after = await get('/after', { headers: { Authorization: 'Basic dTpw' } });
    expect(after).toMatchObject({ via: 'mod_fcgid', authorization: 'Basic dTpw' });
    expect(after.pid).not.toBe(served.pid);
  });

  it('serves every request through a crash: the flag is lowered, the relays carry on, then the direct path again', async () => {
    const before = await get('/crash');
    expect(before.via).toBe('mod_proxy_fcgi');
    const outcomes: string[] = [];
    let last: Served | undefined;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const reply = await httpGet(server.port, `/after-crash/${outcomes.length}`);
      // Apache's own 503 page is what a connection to a closed socket gets.
      const apache = /temporarily unable to service your/.test(reply.body.toString());
      outcomes.push(`${reply.status}${apache ? ' from Apache' : ''}`);
      if (reply.status !== 200) continue;
      last = JSON.parse(reply.body.toString()) as Served;
      if (last.via === 'mod_proxy_fcgi' && last.started !== before.started) break;
    }
    // 503 is the crash guard's stand-in during its back-off. A request Apache sent the direct way the instant before
    // the process ended finds its socket closed and gets Apache's 503 instead: one or two, at that instant, never a
    // run of them (which a flag left up would give, every request failing until the deadline).
    const fromApache = outcomes.flatMap((outcome, at) => (outcome === '503 from Apache' ? [at] : []));
    const summary = `${outcomes.join(', ')}\n${server.errorLog()}`;
    expect(
      outcomes.filter((outcome) => !['200', '503', '503 from Apache'].includes(outcome)),
      summary,
    ).toEqual([]);
    expect(fromApache.length, summary).toBeLessThanOrEqual(2);
    expect(
      fromApache.every((at, i) => i === 0 || at === (fromApache[i - 1] as number) + 1),
      summary,
    ).toBe(true);
    expect(last).toMatchObject({ via: 'mod_proxy_fcgi' });
    expect(last?.started).not.toBe(before.started);
    expect(readFileSync(join(site, 'logs', 'app.log'), 'utf8')).toContain('crashed on purpose');
  });

  it("opens no direct path in a folder another local user made first, where the owner's 777 let them", async () => {
    const folder = await killNodeAndClearFolder('/before-squat');
    chmodSync(site, 0o777);
    try {
      execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'mkdir', '-m', '777', folder]);
      const replies = [await get('/squat/1'), await get('/squat/2')];
      expect(replies.map((reply) => reply.via)).toEqual(['mod_fcgid', 'mod_fcgid']);
      expect(existsSync(join(folder, 'app.sock'))).toBe(false);
      expect(readFileSync(join(site, 'logs', 'app.log'), 'utf8')).toContain(
        `libfcgi: no direct path for the web server (mod_proxy_fcgi): listen on the proxy socket failed: EACCES`,
      );
    } finally {
      chmodSync(site, 0o755);
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('serves through the relays as before when a full disk keeps its flag from being written', async () => {
    const folder = await killNodeAndClearFolder('/before-full');
    mkdirSync(folder);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=16k,mode=0711,uid=${user.uid},gid=${user.gid}`, 'tmpfs', folder]);
    try {
      try {
        writeFileSync(join(folder, 'filler'), Buffer.alloc(1 << 20));
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      const replies = [await get('/full/1'), await get('/full/2'), await get('/full/3')];
      expect(replies.map((reply) => reply.via)).toEqual(['mod_fcgid', 'mod_fcgid', 'mod_fcgid']);
      expect(new Set(replies.map((reply) => reply.pid)).size).toBe(1);
      expect(existsSync(flag())).toBe(false);
      expect(readFileSync(join(site, 'logs', 'app.log'), 'utf8')).toContain(
        'libfcgi: no direct path for the web server (mod_proxy_fcgi): its flag: ENOSPC',
      );
    } finally {
      spawnSync('umount', ['-l', folder]);
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('leaves no process of the site a few seconds after Apache stops', async () => {
    expect((await get('/last')).via).toMatch(/mod_/);
    await server.stop();
    const gone = await waitUntil(
      () => findProcesses(() => true).filter((process) => process.uid === user.uid).length === 0,
      15_000,
    );
    expect(gone).toBe(true);
  });
});
