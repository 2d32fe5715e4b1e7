// The shared-hosting user, end to end, following docs/shared-hosting.md: an unprivileged account whose node is in its
// home (on no PATH Apache has), with no libfcgi and no compiler, brings an existing Express project (ending in its own
// app.listen(PORT)), installs the packed package, runs `libfcgi init` in the project, and is served by Apache with
// mod_fcgid through suexec (Debian's apache2-suexec-pristine) with the overrides and the defaults of a shared host:
// clean URLs, static files, what must not be served, uploads, errors, where console output goes, a redeploy, and a
// start-up that fails.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/apps';
import { hostingAccount, type HostingAccount } from '../helpers/hosting-account';
import { waitUntil } from '../helpers/wait';
import { canPlayUser, UnprivilegedUser, hasSuexec } from '../helpers/unprivileged';
import { httpGet, type HttpResult, type WebServer } from '../helpers/webservers';
import { findProcesses, isRelay } from '../helpers/processes';

/** The user's Express app as they wrote it for node:http (server.js, ending in its own listen); VERSION tells a deploy. */
function expressApp(version: string): string {
  return `'use strict';
const { createHash } = require('node:crypto');
const express = require('express');

console.log('server.js ${version} loading');
const app = express();
app.get('/hello/:name', (req, res) => {
  console.log('served ' + req.url);
  console.error('warned about ' + req.url);
  res.json({
    version: ${JSON.stringify(version)},
    name: req.params.name,
    url: req.url,
    pid: process.pid,
    uid: process.getuid(),
    execPath: process.execPath,
    nodeEnv: process.env.NODE_ENV,
    path: process.env.PATH,
  });
});
app.post('/upload', express.raw({ type: () => true, limit: '10mb' }), (req, res) =>
  res.json({ bytes: req.body.length, sha256: createHash('sha256').update(req.body).digest('hex') }),
);
app.get('/slow', (req, res) => setTimeout(() => res.json({ pid: process.pid, version: ${JSON.stringify(version)} }), 1000));
app.get('/boom', () => {
  throw new Error('boom in ' + __dirname);
});
const port = process.env.PORT || 3000;
app.listen(port, () => console.log('listening on ' + port));
`;
}

/**
 * The processes of this user running an app.fcgi (suexec may name it by a relative path), found in /proc: relays
 * (fcgi-relay app.fcgi), Node processes (node app.fcgi), or both.
 */
function appProcessesOf(uid: number, kind: 'relay' | 'node' | 'any' = 'any'): number[] {
  return findProcesses((args) => args.some((arg) => arg === 'app.fcgi' || arg.endsWith('/app.fcgi')))
    .filter((process) => process.uid === uid && (kind === 'any' || (kind === 'relay') === isRelay(process)))
    .map((process) => process.pid);
}

/**
 * Connects to a relay control socket as this process (root, so another user than the site's) and sends what a relay
 * sends, its listening socket: python3, since node:net has no SOCK_SEQPACKET or SCM_RIGHTS. Returns what it read back.
 */
function knockAsAnotherUser(path: string): string {
  const script = [
    'import socket, sys',
    'listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); listener.bind(""); listener.listen(1)',
    'control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); control.connect(sys.argv[1])',
    'try:',
    '    socket.send_fds(control, [b"libfcgi-relay 1"], [listener.fileno()])',
    '    control.settimeout(5); print(repr(control.recv(1)))',
    'except ConnectionError:',
    '    print("closed")',
  ].join('\n');
  return execFileSync('python3', ['-c', script, path], { encoding: 'utf8' }).trim();
}

const json = (reply: HttpResult): Record<string, unknown> =>
  JSON.parse(reply.body.toString()) as Record<string, unknown>;

describe.skipIf(!canPlayUser || !hasSuexec)('a shared-hosting user, from npm install to a live Express app', () => {
  let account: HostingAccount;
  let user: UnprivilegedUser;
  let home = '';
  let site = '';
  let node = '';
  let server: WebServer;
  let installOutput = '';
  let initOutput = '';

  beforeAll(async () => {
    account = hostingAccount('user');
    ({ user, home, node } = account);
    mkdirSync(join(home, 'tools'));
    user.own(join(home, 'tools'));
    // Their shell: their node first, no compiler; and no libfcgi anywhere on the system.
    const shell = account.shell;
    const npmInstall = 'npm install --no-audit --no-fund';
    // docs/shared-hosting.md: `npx libfcgi init ~/myapp`, then `npm install` in it. npx would fetch the package from
    // the registry; here it comes from the tarball, installed once into a folder of tools.
    installOutput = shell(join(home, 'tools'), `${npmInstall} ../libfcgi.tgz`);
    // Their existing project, as it ran on node:http: package.json, server.js, Express.
    site = join(home, 'myapp');
    mkdirSync(site);
    writeFileSync(
      join(site, 'package.json'),
      JSON.stringify({ name: 'myapp', private: true, scripts: { start: 'node server.js' } }),
    );
    writeFileSync(join(site, 'server.js'), expressApp('v1'));
    user.own(site);
    installOutput += shell(site, `${npmInstall} express`);
    // docs/shared-hosting.md: in the project, `npx libfcgi init`, then `npm install libfcgi` as it says.
    initOutput = shell(site, '../tools/node_modules/.bin/libfcgi init .');
    installOutput += shell(site, `${npmInstall} ../libfcgi.tgz`);
    installOutput += shell(site, 'node_modules/.bin/libfcgi --version');
    writeFileSync(join(site, 'public_html', 'robots.txt'), 'User-agent: *\n');
    user.own(site);
    shell(site, 'chmod 644 server.js public_html/robots.txt');

    server = await account.startApache('apache-suexec.conf', site);
  }, 400_000);

  afterAll(async () => {
    await stopAll();
    account?.remove();
  });

  it('installs without root, a compiler or libfcgi, from the prebuilt binary', () => {
    expect(installOutput).toContain('addon: prebuilds/linux-x64/fcgi.node (prebuilt: libfcgi 2.4.2');
  });

  it('serves a clean URL to the Express app, run as the user by their own node with NODE_ENV=production', async () => {
    const reply = await httpGet(server.port, '/hello/world?x=1');
    expect(reply.status, reply.body.toString()).toBe(200);
    expect(json(reply)).toMatchObject({
      name: 'world',
      url: '/hello/world?x=1',
      uid: user.uid,
      execPath: node,
      nodeEnv: 'production',
      path: '/usr/local/bin:/usr/bin:/bin', // suexec's: the user's node is on no PATH here
    });
  });

  it("leaves the project's files as they were, and finds server.js from its start script", () => {
    expect(initOutput).toContain('server.js');
    expect(initOutput).toContain('(yours, left as it is)');
    expect(initOutput).toContain('npm install libfcgi');
  });

  it("writes what the app prints to logs/app.log, and its stderr during a request to the site's own log too", async () => {
    await httpGet(server.port, '/hello/logs');
    const appLog = (): string => readFileSync(join(site, 'logs', 'app.log'), 'utf8');
    await waitUntil(() => appLog().includes('served /hello/logs'), 2000);
    expect(appLog()).toContain('server.js v1 loading');
    expect(appLog()).toContain('listening on 3000');
    expect(appLog()).toContain('served /hello/logs');
    expect(appLog()).toContain('warned about /hello/logs');
    expect(readFileSync(join(server.run, 'site-error.log'), 'utf8')).toContain('warned about /hello/logs');
    expect(readFileSync(join(server.run, 'error.log'), 'utf8')).not.toContain('served /hello/logs');
  });

  it('serves a real file in the document root as a file', async () => {
    const reply = await httpGet(server.port, '/robots.txt');
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('User-agent: *\n');
  });

  it.each(['/package.json', '/node_modules/express/package.json', '/.htaccess', '/restart.txt'])(
    'does not serve %s',
    async (path) => {
      const reply = await httpGet(server.port, path);
      expect(reply.status).toBe(403);
      expect(reply.body.toString()).not.toMatch(/"dependencies"|"type"|RewriteRule/);
    },
  );

  it("takes an upload within mod_fcgid's default 128 KiB whole, and Apache refuses a larger one", async () => {
    const body = randomBytes(100 * 1024);
    const reply = await httpGet(server.port, '/upload', { method: 'POST', body });
    expect(reply.status, reply.body.toString()).toBe(200);
    expect(json(reply)).toEqual({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    const tooLarge = await httpGet(server.port, '/upload', { method: 'POST', body: randomBytes(200 * 1024) });
    expect(tooLarge.status).toBe(500);
    expect(readFileSync(join(server.run, 'site-error.log'), 'utf8')).toContain('exceeds MaxRequestLen');
  });

  it('answers a throwing route with a 500 that shows visitors no stack trace and no path', async () => {
    const reply = await httpGet(server.port, '/boom');
    expect(reply.status).toBe(500);
    expect(reply.body.toString()).not.toContain('boom');
    expect(reply.body.toString()).not.toContain(home);
    expect((await httpGet(server.port, '/hello/again')).status).toBe(200);
  });

  it('serves 20 concurrent requests of 1 s at once from one Node process, with relays as mod_fcgid processes', async () => {
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 20 }, () => httpGet(server.port, '/slow')));
    const wall = Date.now() - started;
    expect(replies.map((reply) => reply.status)).toEqual(Array(20).fill(200));
    expect(new Set(replies.map((reply) => json(reply).pid)).size).toBe(1);
    // One request per process, as without the relay, would take 20 starts of Node; one after another, 20 s.
    expect(wall).toBeLessThan(10_000);
    expect(appProcessesOf(user.uid, 'node')).toHaveLength(1);
    const relays = appProcessesOf(user.uid, 'relay');
    expect(relays.length).toBeGreaterThan(1);
    for (const pid of relays) {
      const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      expect(rssKiB).toBeLessThanOrEqual(1024);
    }
  });

  it("keeps the relays' control socket to the user: mode 0600 in the app's folder, another uid refused and logged", () => {
    const control = join(site, '.libfcgi', 'relay.sock');
    const stats = statSync(control);
    expect(stats.isSocket()).toBe(true);
    expect(stats.uid).toBe(user.uid);
    expect(stats.mode & 0o777).toBe(0o600);
    expect(statSync(join(site, '.libfcgi')).mode & 0o777).toBe(0o700);
    expect(knockAsAnotherUser(control)).toMatch(/^(?:b''|closed)$/); // closed without the answer a relay gets
    expect(readFileSync(join(site, 'logs', 'app.log'), 'utf8')).toContain(
      `libfcgi: refused a connection from uid ${process.getuid?.()} on the relay control socket ${control}`,
    );
  });

  it('runs the new code after an upload and a touch of app.fcgi, without root, failing no request meanwhile', async () => {
    const before = json(await httpGet(server.port, '/hello/deploy'));
    expect(before.version).toBe('v1');
    writeFileSync(join(site, 'server.js'), expressApp('v2'));
    const now = new Date();
    utimesSync(join(site, 'public_html', 'app.fcgi'), now, now); // touch public_html/app.fcgi
    const statuses: number[] = [];
    let after = before;
    const deadline = Date.now() + 15_000;
    while (after.version !== 'v2' && Date.now() < deadline) {
      // Four at a time, as visitors would come, while the old process finishes and the relays start the new one.
      const replies = await Promise.all(Array.from({ length: 4 }, () => httpGet(server.port, '/slow')));
      statuses.push(...replies.map((reply) => reply.status));
      after = json(replies[replies.length - 1] as HttpResult);
    }
    expect(after.version).toBe('v2');
    expect(after.pid).not.toBe(before.pid); // the relays started a new Node process with the new code
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(await waitUntil(() => appProcessesOf(user.uid, 'node').length === 1, 5_000)).toBe(true);
    expect(execFileSync('tail', ['-n', '50', '/var/log/apache2/suexec.log'], { encoding: 'utf8' })).toContain(
      `uid: (${user.uid}/${user.name})`,
    );
  });

  it('starts another Node process at the next request after one crashes', async () => {
    const [crashed] = appProcessesOf(user.uid, 'node');
    process.kill(crashed as number, 'SIGKILL');
    const reply = await httpGet(server.port, '/hello/after-crash');
    expect(reply.status).toBe(200);
    expect(json(reply).pid).not.toBe(crashed);
  });

  it('answers 503 with no stack when a fresh process cannot start, logs why, and serves the fix after a touch', async () => {
    writeFileSync(join(site, 'server.js'), "require('a-module-not-installed');\n");
    // A fresh process, as after mod_fcgid's idle timeout (or the user stopping their own processes).
    const killed = appProcessesOf(user.uid);
    for (const pid of killed) process.kill(pid, 'SIGKILL');
    await waitUntil(() => killed.every((pid) => !existsSync(`/proc/${pid}`)), 5000);
    const failed = await httpGet(server.port, '/hello/broken');
    expect(failed.status).toBe(503);
    expect(failed.body.toString()).not.toContain('a-module-not-installed');
    expect(failed.body.toString()).not.toContain(home);
    expect(readFileSync(join(site, 'logs', 'app.log'), 'utf8')).toContain(
      "Cannot find module 'a-module-not-installed'",
    );
    writeFileSync(join(site, 'server.js'), expressApp('v3'));
    const now = new Date();
    utimesSync(join(site, 'public_html', 'app.fcgi'), now, now);
    let reply = await httpGet(server.port, '/hello/fixed');
    await waitUntil(async () => (reply = await httpGet(server.port, '/hello/fixed')).status === 200, 15_000, 250);
    expect(json(reply).version).toBe('v3');
    // The process that could not start became the fixed one: the relays (suexec names the launcher relative to the
    // document root) started no other meanwhile.
    expect(appProcessesOf(user.uid, 'node')).toEqual([json(reply).pid]);
  });

  it("leaves no process of the site 5 s after Apache's graceful restart, and after it stops", async () => {
    expect((await httpGet(server.port, '/hello/before-restart')).status).toBe(200);
    const before = appProcessesOf(user.uid);
    expect(before.length).toBeGreaterThan(0);
    process.kill(server.child.pid as number, 'SIGUSR1'); // apache2 -k graceful
    expect(await waitUntil(() => before.every((pid) => !existsSync(`/proc/${pid}`)), 5_000)).toBe(true);
    let reply = await httpGet(server.port, '/hello/after-restart');
    await waitUntil(async () => (reply = await httpGet(server.port, '/hello/after-restart')).status === 200, 5000, 250);
    expect(reply.status).toBe(200);
    await server.stop('SIGTERM'); // apache2 -k stop
    expect(await waitUntil(() => appProcessesOf(user.uid).length === 0, 5_000)).toBe(true);
  });
});
