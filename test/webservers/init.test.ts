// `libfcgi init`: the files it lays out (contents, modes, the #! line, never overwriting), the launcher run as a CGI
// program, and the layout served for real by Apache with mod_fcgid from its own .htaccess, node not on Apache's PATH:
// clean URLs, static files, refused files, NODE_ENV, and a redeploy by touching app.fcgi or restart.txt.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCgiResponse } from '../../lib/client/client';
import { fixture, lowercaseTempDir, repoRoot, stopAll, tempDir } from '../helpers/apps';
import { startCli, type RunningCli } from '../helpers/cli';
import { makeSite, runInit } from '../helpers/site';
import { httpGet, startWebServer, type WebServer } from '../helpers/webservers';
import { waitUntil } from '../helpers/wait';

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
const mode = (path: string): number => statSync(path).mode & 0o777;
/** The relay init's launchers name: this checkout's, which node_modules/libfcgi links to in these tests. */
const relay = join(repoRoot, 'build', 'Release', 'fcgi-relay');
const touch = (path: string): void => {
  const now = Date.now() / 1000;
  if (existsSync(path)) utimesSync(path, now, now);
  else writeFileSync(path, '');
};

afterAll(stopAll);

/**
 * A Next.js standalone build in dir, as far as init looks: its server (answering 'next-like'), BUILD_ID and a static
 * file. Returns how to write more of it.
 */
function fakeNextBuild(dir: string): (path: string, text: string) => void {
  const write = (path: string, text: string): void => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  write(
    '.next/standalone/server.js',
    "require('node:http').createServer((q, s) => s.end('next-like')).listen(3000);\n",
  );
  write('.next/BUILD_ID', 'one\n');
  write('.next/static/chunks/a1.js', 'chunk a\n');
  return write;
}

/** Runs a launcher the way a CGI server would, with the environment given: its one response. */
function runLauncher(launcher: string, env: Record<string, string> = {}) {
  const run = spawnSync(launcher, [], {
    env: { PATH: '/usr/bin:/bin', REQUEST_METHOD: 'GET', ...env },
    encoding: 'buffer',
    timeout: 10_000,
  });
  expect(run.status, run.stderr.toString()).toBe(0);
  return parseCgiResponse(run.stdout).body.toString();
}

describe('libfcgi init', () => {
  it('lays out the document root with .htaccess and app.fcgi, and app.js and package.json outside it', () => {
    const dir = join(tempDir(), 'My Site');
    const run = runInit([dir]);
    expect(run.status, run.stderr).toBe(0);
    const docroot = join(dir, 'public_html');

    const launcher = readFileSync(join(docroot, 'app.fcgi'), 'utf8');
    expect(launcher.split('\n')[0]).toBe(`#!${relay}`);
    expect(launcher.split('\n')).toContain(`// relay-node: ${process.execPath}`);
    expect(launcher.split('\n')).toContain(`// relay-socket: ${join(dir, '.libfcgi', 'relay.sock')}`);
    expect(launcher).toContain("if (!process.env.NODE_ENV) process.env.NODE_ENV = 'production';");
    expect(launcher).toContain("enableCompileCache(path.join(appDir, '.cache', 'node-compile'))");
    expect(launcher).toContain("require(path.join(__dirname, '../app.js'));");

    const htaccess = readFileSync(join(docroot, '.htaccess'), 'utf8');
    for (const line of [
      'AddHandler fcgid-script .fcgi',
      'Options +ExecCGI',
      'RewriteEngine On',
      'RewriteCond %{REQUEST_FILENAME} !-f',
      'RewriteRule ^ app.fcgi [L]',
      'RewriteRule (^|/)node_modules(/|$) - [F]',
    ]) {
      expect(htaccess.split('\n')).toContain(line);
    }

    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({ name: 'my-site', private: true, dependencies: { libfcgi: `^${version}` } });
    expect(Object.keys(manifest.dependencies)).toEqual(['libfcgi']);
    expect(JSON.parse(readFileSync(join(docroot, 'package.json'), 'utf8')).type).toBe('commonjs');
    expect(readFileSync(join(dir, 'app.js'), 'utf8')).toContain('createServer(handler).listen();');
    expect(existsSync(join(dir, 'node_modules'))).toBe(false);

    expect(run.stdout).toContain('npm install');
    expect(run.stdout).toContain('chmod 755 public_html/app.fcgi && chmod go-w . public_html');
    expect(run.stdout).toContain('touch public_html/app.fcgi   (or public_html/restart.txt)');
  });

  it('routes through mod_proxy_fcgi only from a folder whose path mod_proxy keeps as it is, and says so', () => {
    const named = join(lowercaseTempDir(), 'site');
    const run = runInit([named]);
    expect(run.status, run.stderr).toBe(0);
    const rule = `RewriteRule ^ - [H=proxy:unix:${named}/.libfcgi-proxy/app.sock|fcgi://localhost/,L]`;
    expect(readFileSync(join(named, 'public_html', '.htaccess'), 'utf8').split('\n')).toContain(rule);
    expect(run.stdout).toContain('where Apache has mod_proxy_fcgi, straight to the running Node process');
    for (const [name, why] of [
      ['MySite', 'its path holds capital letters, which mod_proxy lowercases'],
      ['my site', 'its path holds a space, a quote, | or ], which a rewrite rule cannot name'],
    ]) {
      const dir = join(lowercaseTempDir(), name as string);
      const refused = runInit([dir]);
      expect(refused.status, refused.stderr).toBe(0);
      expect(readFileSync(join(dir, 'public_html', '.htaccess'), 'utf8')).not.toContain('proxy:unix');
      expect(refused.stdout).toContain(`not through mod_proxy_fcgi where Apache has it: ${why}`);
    }
  });

  it('has libfcgi serve say which way a host will send requests: by mod_proxy_fcgi too, or why not', async () => {
    const named = join(lowercaseTempDir(), 'site');
    const capitals = join(lowercaseTempDir(), 'MySite');
    const noRelay = join(lowercaseTempDir(), 'site');
    for (const [dir, args] of [
      [named, []],
      [capitals, []],
      [noRelay, ['--no-relay']],
    ] as const) {
      expect(runInit([dir, ...args]).status).toBe(0);
    }
    const said = async (dir: string): Promise<string> => {
      const cli = await startCli('', [], dir);
      await cli.stop();
      return cli.output();
    };
    const relays = 'on a host, through mod_fcgid, whose relays start one Node process for the site';
    expect(await said(named)).toContain(
      `libfcgi: ${relays}, and where Apache has mod_proxy_fcgi, straight to that process ` +
        `(${named}/.libfcgi-proxy/app.sock)\n`,
    );
    expect(await said(capitals)).toContain(
      `libfcgi: ${relays}, only: not through mod_proxy_fcgi, as its path holds capital letters, which mod_proxy lowercases\n`,
    );
    expect(await said(noRelay)).toContain(
      'libfcgi: on a host, through mod_fcgid: a Node process for each of its processes\n',
    );
  });

  it('writes a launcher that is node itself with --no-relay, and for an app on the synchronous accept() loop', () => {
    const dir = tempDir();
    expect(runInit([dir, '--no-relay']).status).toBe(0);
    const launcher = readFileSync(join(dir, 'public_html', 'app.fcgi'), 'utf8');
    expect(launcher.split('\n')[0]).toBe(`#!${process.execPath}`);
    expect(launcher).not.toContain('relay-socket');

    const loop = tempDir();
    writeFileSync(
      join(loop, 'app.js'),
      "const { accept } = require('libfcgi');\nfor (let req; (req = accept()); ) req.finish();\n",
    );
    const run = runInit([loop]);
    expect(run.status, run.stderr).toBe(0);
    expect(readFileSync(join(loop, 'public_html', 'app.fcgi'), 'utf8').split('\n')[0]).toBe(`#!${process.execPath}`);
  });

  it('gives directories and the launcher mode 755, other files 644, whatever the umask', () => {
    const dir = join(tempDir(), 'site');
    expect(runInit([dir], { umask: '077' }).status).toBe(0);
    expect(mode(dir)).toBe(0o755);
    expect(mode(join(dir, 'public_html'))).toBe(0o755);
    expect(mode(join(dir, 'public_html', 'app.fcgi'))).toBe(0o755);
    for (const file of ['public_html/.htaccess', 'public_html/package.json', 'app.js', 'package.json']) {
      expect(mode(join(dir, file)), file).toBe(0o644);
    }
  });

  it("never changes a project's own files, adds its block to an .htaccess there, and updates only its own on a re-run", () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'public_html'));
    writeFileSync(join(dir, 'public_html', '.htaccess'), '# mine\nOptions -Indexes\n');
    writeFileSync(join(dir, 'app.js'), '// mine\n');
    writeFileSync(join(dir, 'package.json'), '{ "name": "mine", "dependencies": { "express": "^5.0.0" } }\n');
    const first = runInit(['.'], { cwd: dir });
    expect(first.status, first.stderr).toBe(0);
    expect(readFileSync(join(dir, 'app.js'), 'utf8')).toBe('// mine\n');
    expect(readFileSync(join(dir, 'package.json'), 'utf8')).toContain('"mine"');
    expect(first.stdout).toContain('(yours, left as it is)');
    expect(first.stdout).toContain('npm install libfcgi');
    const htaccessText = readFileSync(join(dir, 'public_html', '.htaccess'), 'utf8');
    expect(htaccessText).toContain('# mine\nOptions -Indexes\n');
    expect(htaccessText.indexOf('# BEGIN libfcgi init')).toBe(0);
    expect(existsSync(join(dir, 'public_html', 'app.fcgi'))).toBe(true);

    // A re-run, as after a Node upgrade: init's own files again, one block, the project's untouched.
    writeFileSync(join(dir, 'public_html', 'app.fcgi'), '#!/old/node\n// Written by `libfcgi init`.\n');
    const again = runInit(['.'], { cwd: dir });
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(join(dir, 'public_html', 'app.fcgi'), 'utf8').split('\n')[0]).toBe(`#!${relay}`);
    expect(readFileSync(join(dir, 'public_html', '.htaccess'), 'utf8')).toBe(htaccessText);
    expect(readFileSync(join(dir, 'app.js'), 'utf8')).toBe('// mine\n');
  });

  it('refuses a launcher it did not write, naming it, and replaces it with --force', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'public_html'));
    writeFileSync(join(dir, 'public_html', 'app.fcgi'), '#!/bin/sh\n# mine\n');
    const refused = runInit(['.'], { cwd: dir });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('public_html/app.fcgi');
    expect(refused.stderr).toContain('--force');
    expect(readFileSync(join(dir, 'public_html', 'app.fcgi'), 'utf8')).toBe('#!/bin/sh\n# mine\n');
    expect(runInit(['.', '--force'], { cwd: dir }).status).toBe(0);
    expect(readFileSync(join(dir, 'public_html', 'app.fcgi'), 'utf8')).toContain('libfcgi init');
  });

  it.each([
    [{ main: 'server.js' }, 'server.js'],
    [{ scripts: { start: 'NODE_ENV=production node --enable-source-maps dist/main.js' } }, 'dist/main.js'],
    [{}, 'index.js'],
  ])("finds an existing project's entry from package.json %j: %s", (manifest, entry) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));
    if (entry === 'index.js') writeFileSync(join(dir, 'index.js'), '// mine\n');
    const run = runInit(['.'], { cwd: dir });
    expect(run.status, run.stderr).toBe(0);
    expect(readFileSync(join(dir, 'public_html', 'app.fcgi'), 'utf8')).toContain(`'../${entry}'`);
  });

  it("writes into a document root outside the app's folder, such as the host's ~/public_html", () => {
    const home = tempDir();
    const app = join(home, 'myapp');
    mkdirSync(app);
    mkdirSync(join(home, 'public_html'));
    writeFileSync(join(app, 'server.js'), '// mine\n');
    const run = runInit([app, '--docroot', join(home, 'public_html')]);
    expect(run.status, run.stderr).toBe(0);
    const launcherText = readFileSync(join(home, 'public_html', 'app.fcgi'), 'utf8');
    expect(launcherText).toContain("path.join(__dirname, '../myapp')");
    expect(launcherText).toContain("'../myapp/server.js'");
    const inside = runInit([join(home, 'public_html', 'app'), '--docroot', join(home, 'public_html')]);
    expect(inside.stderr).toContain("must not hold the app's folder");
  });

  it('takes --docroot, --script and --app, and loads an .mjs app with import()', () => {
    const dir = tempDir();
    const run = runInit([dir, '--docroot', 'www', '--script', 'site.fcgi', '--app', 'server/main.mjs']);
    expect(run.status, run.stderr).toBe(0);
    const launcher = readFileSync(join(dir, 'www', 'site.fcgi'), 'utf8');
    expect(launcher).toContain("pathToFileURL(path.join(__dirname, '../server/main.mjs'))");
    expect(readFileSync(join(dir, 'server', 'main.mjs'), 'utf8')).toContain("import { createServer } from 'libfcgi';");
    expect(readFileSync(join(dir, 'www', '.htaccess'), 'utf8')).toContain('RewriteRule ^ site.fcgi [L]');
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).scripts.start).toBe(
      'libfcgi serve --docroot www',
    );
    expect(run.stdout).toContain('npx libfcgi serve --docroot www');
  });

  it.each([
    [['--app', 'public_html/app.js'], '--app must be outside the document root'],
    [['--script', 'app.js'], '--script takes a file name ending in .fcgi'],
    [['--docroot', '.'], "--docroot must not hold the app's folder"],
  ])('refuses %j with exit status 2', (args, message) => {
    const run = runInit([tempDir(), ...args]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(message);
  });

  it.each([
    ['app.js', {}],
    ['app.mjs', { type: 'module' }],
  ])('makes a launcher that runs the %s app, even under "type": "module"', (app, extra) => {
    const dir = tempDir();
    makeSite(dir);
    if (app !== 'app.js') expect(runInit([dir, '--app', app, '--force']).status).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...manifest, ...extra }));
    const page = runLauncher(join(dir, 'public_html', 'app.fcgi'));
    expect(page).toContain('<p>Path: <code>/</code></p>'); // run as CGI without REQUEST_URI: req.url is '/'
    expect(page).toContain('NODE_ENV=production');
    expect(runLauncher(join(dir, 'public_html', 'app.fcgi'), { NODE_ENV: 'staging' })).toContain('NODE_ENV=staging');
  });

  it('makes a launcher that imports a .js entry of a "type": "module" project (a SvelteKit build), top-level await and all', () => {
    const dir = tempDir();
    makeSite(dir);
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'esm-site', type: 'module', main: 'build/index.js' }),
    );
    mkdirSync(join(dir, 'build'));
    writeFileSync(
      join(dir, 'build', 'index.js'),
      `import { createServer } from 'node:http';\nconst greeting = await Promise.resolve('an ES module');\n` +
        `createServer((req, res) => res.end(greeting)).listen(3000);\n`,
    );
    expect(runInit([dir, '--force']).status).toBe(0);
    const launcher = readFileSync(join(dir, 'public_html', 'app.fcgi'), 'utf8');
    expect(launcher).toContain("pathToFileURL(path.join(__dirname, '../build/index.js'))");
    const page = runLauncher(join(dir, 'public_html', 'app.fcgi'), { GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_URI: '/' });
    expect(page).toBe('an ES module');
  });

  it("copies a framework build's static files, not its dotfiles or links, and serves on when the disk is full", () => {
    const dir = tempDir();
    const write = fakeNextBuild(dir);
    write('public/robots.txt', 'User-agent: *\n');
    write('public/.htaccess', 'Require all denied\n');
    write('public/.well-known/security.txt', 'Contact: mailto:me@example.com\n');
    write('secret.txt', 'not for the web\n');
    symlinkSync(join(dir, 'secret.txt'), join(dir, 'public', 'leak.txt'));
    const docroot = makeSite(dir);
    expect(readFileSync(join(docroot, '_next', 'static', 'chunks', 'a1.js'), 'utf8')).toBe('chunk a\n');
    expect(readFileSync(join(docroot, '_next', 'static', '.htaccess'), 'utf8')).toContain(
      'Header set Cache-Control "public, max-age=31536000, immutable"',
    );
    expect(readFileSync(join(docroot, 'robots.txt'), 'utf8')).toBe('User-agent: *\n');
    expect(readFileSync(join(docroot, '.well-known', 'security.txt'), 'utf8')).toContain('Contact:');
    expect(existsSync(join(docroot, 'leak.txt'))).toBe(false);
    expect(readFileSync(join(docroot, '.htaccess'), 'utf8')).toContain('# BEGIN libfcgi init'); // init's, not public/'s
    expect(mode(join(docroot, '_next', 'static', 'chunks', 'a1.js'))).toBe(0o644);
    // Run again (as the launcher does at every start), nothing has changed: nothing is copied.
    expect(runInit([dir]).stdout).toMatch(/Next\.js's static files \(\.next\/static, public\): 0 copied/);

    // A new build, and no room left where its files go: the launcher says why in the log and starts the app anyway.
    write('.next/static/chunks/b2.js', 'chunk b\n'.repeat(10_000));
    const full = join(docroot, '_next', 'static', 'chunks');
    spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', full]);
    try {
      writeFileSync(join(full, 'filler'), Buffer.alloc(60 * 1024));
      expect(runLauncher(join(docroot, 'app.fcgi'), { GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_URI: '/' })).toBe(
        'next-like',
      );
    } finally {
      spawnSync('umount', ['-l', full]);
    }
    expect(readFileSync(join(dir, 'logs', 'app.log'), 'utf8')).toMatch(
      /libfcgi: could not copy the build's static files into .*public_html: ENOSPC/,
    );
  });

  it("copies nothing into a document-root folder others may write to, where another user's link would send a copy onto the owner's files", () => {
    const dir = tempDir();
    chmodSync(dir, 0o755); // the other user can reach the folder its owner left open
    const write = fakeNextBuild(dir);
    const docroot = makeSite(dir);
    const chunks = join(docroot, '_next', 'static', 'chunks');
    chmodSync(chunks, 0o777);
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, "the owner's\n");
    // A new build brings b2.js, and another local user has put a link of that name to the owner's file first.
    write('.next/static/chunks/b2.js', 'chunk b\n');
    const link = spawnSync('runuser', ['-u', 'nobody', '--', 'ln', '-s', victim, join(chunks, 'b2.js')], {
      encoding: 'utf8',
    });
    expect(link.status, link.stderr).toBe(0);
    expect(runLauncher(join(docroot, 'app.fcgi'), { GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_URI: '/' })).toBe(
      'next-like',
    );
    expect(readFileSync(victim, 'utf8')).toBe("the owner's\n");
    expect(readFileSync(join(dir, 'logs', 'app.log'), 'utf8')).toMatch(
      /could not copy the build's static files into .*: not copying into it: others may write to .*chunks \(chmod go-w\)/,
    );
  });

  it("makes a launcher that loads the app's .env first, where the process's own variables win", () => {
    const dir = tempDir();
    makeSite(dir);
    writeFileSync(join(dir, '.env'), '# settings\nNODE_ENV=staging\n');
    expect(runLauncher(join(dir, 'public_html', 'app.fcgi'))).toContain('NODE_ENV=staging');
    expect(runLauncher(join(dir, 'public_html', 'app.fcgi'), { NODE_ENV: 'test' })).toContain('NODE_ENV=test');
  });

  it('makes a launcher that serves an Express app ending in its own app.listen(PORT), unchanged', () => {
    const dir = tempDir();
    makeSite(dir);
    symlinkSync(join(repoRoot, 'node_modules', 'express'), join(dir, 'node_modules', 'express'));
    writeFileSync(
      join(dir, 'app.js'),
      `const app = require('express')();\napp.get('/', (req, res) => res.send('express as written'));\n` +
        `app.listen(process.env.PORT || 3000);\n`,
    );
    const page = runLauncher(join(dir, 'public_html', 'app.fcgi'), { GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_URI: '/' });
    expect(page).toBe('express as written');
  });
});

describe("libfcgi init's layout served by Apache mod_fcgid, node not on Apache's PATH", () => {
  let server: WebServer;
  let site: string;
  let docroot: string;
  let node: string;
  const page = async (path: string): Promise<{ text: string; pid: number; started: string }> => {
    const reply = await httpGet(server.port, path);
    expect(reply.status, `${path}: ${reply.body.toString()}\n${server.errorLog()}`).toBe(200);
    const text = reply.body.toString();
    return { text, pid: Number(/Process (\d+),/.exec(text)?.[1]), started: /started (\S+),/.exec(text)?.[1] ?? '' };
  };

  beforeAll(async () => {
    server = await startWebServer('apache', 'apache-fcgid-site.conf', {}, (run) => {
      mkdirSync(join(run, 'fcgid'));
      chmodSync(join(run, 'fcgid'), 0o777); // mod_fcgid binds the apps' sockets there as www-data
      // node where a user's own install is (~/.local/bin, /opt/...): a link to this node, outside every PATH.
      const bin = join(run, 'opt', 'node', 'bin');
      mkdirSync(bin, { recursive: true, mode: 0o755 });
      node = join(bin, 'node');
      try {
        linkSync(process.execPath, node);
      } catch {
        copyFileSync(process.execPath, node);
        chmodSync(node, 0o755);
      }
      site = join(run, 'site');
      docroot = makeSite(site, node);
      // The app's folder is the account's own (here www-data's, with no suexec): its relays keep their control
      // socket there, and the app its logs.
      chownSync(site, 33, 33);
      writeFileSync(join(docroot, 'hello.txt'), 'a static file\n');
      chmodSync(join(docroot, 'hello.txt'), 0o644);
      mkdirSync(join(docroot, 'node_modules', 'x'), { recursive: true });
      writeFileSync(join(docroot, 'node_modules', 'x', 'index.js'), 'secret');
      chmodSync(join(docroot, 'node_modules'), 0o755);
      chmodSync(join(docroot, 'node_modules', 'x'), 0o755);
      chmodSync(join(docroot, 'node_modules', 'x', 'index.js'), 0o644);
    });
  });
  afterAll(() => server?.stop());

  it('runs app.fcgi through fcgi-relay with the node it names, which is on no PATH Apache has', async () => {
    const { text, pid } = await page('/');
    expect(text).toContain('<p>Path: <code>/</code></p>');
    const launcher = readFileSync(join(docroot, 'app.fcgi'), 'utf8').split('\n');
    expect(launcher[0]).toBe(`#!${relay}`);
    expect(launcher).toContain(`// relay-node: ${node}`);
    expect(readlinkSync(`/proc/${pid}/exe`)).toBe(node);
    expect(basename(node)).toBe('node');
    expect('/usr/local/bin:/usr/bin:/bin'.split(':')).not.toContain(join(node, '..'));
  });

  it('sends clean URLs to the app, whose req.url is the URL as requested', async () => {
    expect((await page('/users/42')).text).toContain('<p>Path: <code>/users/42</code></p>');
    expect((await page('/search?q=fcgi')).text).toContain('<p>Path: <code>/search?q=fcgi</code></p>');
    expect((await page('/a%23b%25c%3Fd')).text).toContain('<p>Path: <code>/a%23b%25c%3Fd</code></p>');
  });

  it('runs the app with NODE_ENV=production', async () => {
    expect((await page('/')).text).toContain('NODE_ENV=production');
  });

  it('serves a real file as a file', async () => {
    const reply = await httpGet(server.port, '/hello.txt');
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('a static file\n');
  });

  it.each(['/node_modules/x/index.js', '/node_modules/', '/package.json', '/.htaccess', '/.env', '/restart.txt'])(
    'refuses %s',
    async (path) => {
      expect([403, 404]).toContain((await httpGet(server.port, path)).status);
    },
  );

  it.each(['app.fcgi', 'restart.txt'])(
    "starts the new code after a touch of %s: a new Node process takes the relays' sockets",
    async (file) => {
      const before = await page('/before');
      touch(join(docroot, file));
      let after = before;
      await waitUntil(async () => (after = await page('/after')).started !== before.started, 4000, 100);
      expect(after.started).not.toBe(before.started);
      expect(after.pid).not.toBe(before.pid);
    },
  );

  describe('and by libfcgi serve, on the same directory', () => {
    let cli: RunningCli;
    beforeAll(async () => {
      // New code for both: an app that reports what it got, deployed as the next steps say.
      copyFileSync(fixture('site-app.js'), join(site, 'app.js'));
      touch(join(docroot, 'app.fcgi'));
      const siteApp = async (): Promise<boolean> => {
        const reply = await httpGet(server.port, '/');
        return reply.status === 200 && reply.body.toString().startsWith('{"url":');
      };
      expect(await waitUntil(siteApp, 10_000, 100), 'Apache never served the new app.js').toBe(true);
      cli = await startCli('', [], site);
    });
    afterAll(() => cli?.stop());

    it.each(['/users/42?tab=a%20b', '/', '/app.fcgi/direct?x=1'])(
      'sends the parameters Apache sends for %s',
      async (path) => {
        const names = ['SCRIPT_NAME', 'PATH_INFO', 'REQUEST_URI', 'QUERY_STRING', 'REDIRECT_URL', 'REDIRECT_STATUS'];
        const pick = (reply: { body: Buffer }) => {
          const { url, params } = JSON.parse(reply.body.toString());
          const picked: Record<string, string> = { url };
          for (const name of names) if (params[name] !== undefined) picked[name] = params[name];
          picked.SCRIPT_FILENAME = params.SCRIPT_FILENAME.replace(docroot, 'DOCROOT');
          picked.DOCUMENT_ROOT = params.DOCUMENT_ROOT.replace(docroot, 'DOCROOT');
          return picked;
        };
        const apache = pick(await httpGet(server.port, path));
        expect(pick(await httpGet(cli.port, path))).toEqual(apache);
      },
    );
  });
});
