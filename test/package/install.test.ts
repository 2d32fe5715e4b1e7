// Installing the packed package as a shared-hosting user would: unprivileged, with the system libfcgi hidden, with and
// without a compiler, against a libfcgi of their own in ~/.local; and the error when the addon cannot load.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { repoRoot, stopAll, tempDir } from '../helpers/apps';
import {
  canPlayUser,
  hidingScript,
  libfcgiFiles,
  nodeHeadersDir,
  packageFiles,
  packPackage,
  pathWithoutCompiler,
  UnprivilegedUser,
} from '../helpers/unprivileged';

const prebuilt = join(repoRoot, 'prebuilds', 'linux-x64', 'fcgi.node');

let base = '';
let tarball = '';
let user: UnprivilegedUser;
let nodedir = '';
/** The files to hide: libfcgi-dev's (headers, .pc, .so, .a), and libfcgi0ldbl's (libfcgi.so.0). */
let devFiles: string[] = [];
let runtimeFiles: string[] = [];
const children = new Set<ChildProcess>();

/** The argv that runs command with files hidden, as the test user with only env as its environment. */
const hiddenAsUser = (files: string[], env: Record<string, string>, command: string[]): string[] =>
  user.argv(files, env, command);

interface Install {
  status: number | null;
  output: string;
  seconds: number;
  project: string;
}

/** `npm install <tarball>` into a new project in the user's home, with files hidden. */
function npmInstall(name: string, files: string[], env: Record<string, string>): Install {
  const project = join(base, 'home', name);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name, private: true }));
  writeFileSync(
    join(project, 'app.js'),
    "const fcgi = require('libfcgi');\n" +
      'for (let request; (request = fcgi.accept()); ) {\n' +
      "  request.write('Content-Type: text/plain\\r\\n\\r\\nhello from ' + request.params.REQUEST_URI);\n" +
      '}\n',
  );
  user.own(project);
  const npm = ['npm', 'install', '--foreground-scripts', '--no-audit', '--no-fund', tarball];
  // Each install starts with an empty npm cache, as a new account's would.
  const npmEnv = { HOME: join(base, 'home'), npm_config_nodedir: nodedir, npm_config_cache: join(project, '.npm') };
  const argv = hiddenAsUser(files, { ...npmEnv, ...env }, npm);
  const started = process.hrtime.bigint();
  const result = spawnSync(argv[0] as string, argv.slice(1), { cwd: project, encoding: 'utf8', timeout: 150_000 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { status: result.status, output: `${result.stdout}${result.stderr}`, seconds, project };
}

/** Runs the project's app.js under spawn-fcgi as the user, with files hidden, and sends it one request. */
async function request(project: string, files: string[]): Promise<{ status: number; body: string }> {
  const socket = join(project, 'app.sock');
  const argv = hiddenAsUser(files, { HOME: join(base, 'home'), PATH: '/usr/bin:/bin' }, [
    process.execPath,
    join(project, 'app.js'),
  ]);
  // spawn-fcgi makes the socket as root and runs the app with it as fd 0; the user only needs fd 0.
  const setpriv = argv.indexOf('/usr/bin/setpriv');
  const command = [...argv.slice(0, setpriv), 'spawn-fcgi', '-n', '-s', socket, '--', ...argv.slice(setpriv)];
  const child = spawn(command[0] as string, command.slice(1), { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const deadline = Date.now() + 10_000;
    while (!existsSync(socket)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the app did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const response = await fcgiRequest(
      { path: socket },
      { REQUEST_METHOD: 'GET', REQUEST_URI: '/installed', SCRIPT_NAME: '/installed' },
    );
    const cgi = parseCgiResponse(response.stdout);
    return { status: cgi.status, body: cgi.body.toString() };
  } catch (error) {
    throw new Error(`${(error as Error).message}\napp output:\n${output}`, { cause: error });
  } finally {
    child.kill('SIGKILL');
    children.delete(child);
  }
}

const work = join(repoRoot, 'build', 'prebuilt');

/** The unpacked libfcgi source that scripts/build-prebuilt.sh used. */
function libfcgiSource(): string | undefined {
  if (process.env.LIBFCGI_SOURCE) return process.env.LIBFCGI_SOURCE;
  const name =
    existsSync(join(work, 'src')) && readdirSync(join(work, 'src')).find((entry) => entry.startsWith('libfcgi-'));
  return name ? join(work, 'src', name) : undefined;
}

const installedAddon = (install: Install): string =>
  join(install.project, 'node_modules', 'libfcgi', 'build', 'Release', 'fcgi.node');

describe.skipIf(!canPlayUser)('installing the packed package as an unprivileged user without libfcgi-dev', () => {
  beforeAll(() => {
    base = tempDir();
    chmodSync(base, 0o755);
    // The ~/.local test builds libfcgi from the source and fcgi_config.h that scripts/build-prebuilt.sh leaves in
    // build/prebuilt, so that must be there.
    const fresh = !existsSync(join(work, 'libfcgi', 'include', 'fcgi_config.h')) || libfcgiSource() === undefined;
    tarball = packPackage(base, fresh ? [] : ['--if-stale']);
    user = UnprivilegedUser.create(`libfcgi-t${process.pid}`, join(base, 'home'), base);
    user.own(tarball);
    nodedir = nodeHeadersDir();
    ({ dev: devFiles, runtime: runtimeFiles } = libfcgiFiles());
  }, 180_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    user.remove();
    await stopAll();
  });

  it('packs the prebuilt linux-x64 binary and the install script, and hides libfcgi from the installs', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(files).toContain('package/prebuilds/linux-x64/fcgi.node');
    expect(files).toContain('package/scripts/install.js');
    expect(nodedir).toBeTruthy();
    expect(devFiles).toContain('/usr/include/fcgiapp.h');
    const hidden = [...devFiles, ...runtimeFiles];
    const check = hiddenAsUser(hidden, { PATH: '/usr/bin:/bin' }, ['ls', ...hidden]);
    const listed = spawnSync(check[0] as string, check.slice(1), { encoding: 'utf8' });
    expect(listed.stdout).toBe('');
    expect(listed.stderr.match(/No such file or directory/g)).toHaveLength(hidden.length);
  });

  it('installs the prebuilt binary when the compiler is there but libfcgi-dev is not, and it serves a request', async () => {
    const install = npmInstall('with-cc', devFiles, { PATH: '/usr/local/bin:/usr/bin:/bin' });
    console.log(`npm install without libfcgi-dev, compiler on PATH: ${install.seconds.toFixed(1)} s`);
    expect(install.status, install.output).toBe(0);
    expect(install.output).toContain('libfcgi: using the prebuilt binary for linux-x64');
    expect(readFileSync(installedAddon(install)).equals(readFileSync(prebuilt))).toBe(true);
    expect(await request(install.project, devFiles)).toEqual({ status: 200, body: 'hello from /installed' });
  });

  it('installs the prebuilt binary with no compiler and no system libfcgi at all, and it serves a request', async () => {
    const bin = pathWithoutCompiler(join(base, 'bin-no-cc'));
    for (const tool of ['cc', 'gcc', 'c++', 'g++', 'make']) {
      expect(spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: bin } }).status).not.toBe(0);
    }
    const hidden = [...devFiles, ...runtimeFiles];
    const install = npmInstall('no-cc', hidden, { PATH: bin });
    console.log(`npm install with no system libfcgi and no compiler: ${install.seconds.toFixed(1)} s`);
    expect(install.status, install.output).toBe(0);
    expect(install.output).toContain('libfcgi: using the prebuilt binary for linux-x64');
    expect(readFileSync(installedAddon(install)).equals(readFileSync(prebuilt))).toBe(true);
    expect(await request(install.project, hidden)).toEqual({ status: 200, body: 'hello from /installed' });
  });

  it('falls back to the prebuilt binary when libfcgi-dev is there but nothing can compile', async () => {
    const install = npmInstall('dev-no-cc', [], { PATH: pathWithoutCompiler(join(base, 'bin-no-cc')) });
    expect(install.status, install.output).toBe(0);
    expect(install.output).toContain('libfcgi: building the addon against libfcgi from pkg-config');
    expect(install.output).toContain(
      'libfcgi: using the prebuilt binary for linux-x64 (libfcgi 2.4.2 linked in), as the build failed',
    );
    expect(readFileSync(installedAddon(install)).equals(readFileSync(prebuilt))).toBe(true);
    expect(await request(install.project, [])).toEqual({ status: 200, body: 'hello from /installed' });
  });

  it('builds from source against a libfcgi in ~/.local named by LIBFCGI_PREFIX, and it serves a request', async () => {
    const hidden = [...devFiles, ...runtimeFiles];
    const local = join(base, 'home', '.local');
    // libfcgi's two C files, from the Debian source scripts/build-prebuilt.sh fetched, built as the user would.
    const source = join(base, 'home', 'libfcgi-src');
    execFileSync('cp', ['-r', libfcgiSource() as string, source]);
    execFileSync('cp', [join(work, 'libfcgi', 'include', 'fcgi_config.h'), join(source, 'include')]);
    user.own(source);
    const build = [
      `mkdir -p ${local}/include ${local}/lib`,
      `cp ${source}/include/fastcgi.h ${source}/include/fcgiapp.h ${source}/include/fcgimisc.h ${source}/include/fcgios.h ${local}/include/`,
      `cp ${source}/include/fcgi_config.h ${local}/include/`,
      `cc -O2 -fPIC -shared -Wl,-soname,libfcgi.so.0 -I${local}/include -o ${local}/lib/libfcgi.so.0 ` +
        `${source}/libfcgi/fcgiapp.c ${source}/libfcgi/os_unix.c -w`,
      `ln -s libfcgi.so.0 ${local}/lib/libfcgi.so`,
    ].join(' && ');
    const argv = hiddenAsUser(hidden, { HOME: join(base, 'home'), PATH: '/usr/bin:/bin' }, ['sh', '-c', build]);
    execFileSync(argv[0] as string, argv.slice(1), { stdio: 'pipe' });

    const install = npmInstall('prefix', hidden, { PATH: '/usr/local/bin:/usr/bin:/bin', LIBFCGI_PREFIX: local });
    console.log(`npm install building against ~/.local/lib/libfcgi.so: ${install.seconds.toFixed(1)} s`);
    expect(install.status, install.output).toBe(0);
    expect(install.output).toContain(`building the addon against libfcgi from LIBFCGI_PREFIX=${local}`);
    expect(install.output).not.toContain('prebuilt binary for');
    const ldd = hiddenAsUser(hidden, { PATH: '/usr/bin:/bin' }, ['ldd', installedAddon(install)]);
    expect(execFileSync(ldd[0] as string, ldd.slice(1), { encoding: 'utf8' })).toContain(
      `libfcgi.so.0 => ${local}/lib/libfcgi.so.0`,
    );
    expect(await request(install.project, hidden)).toEqual({ status: 200, body: 'hello from /installed' });
  });
});

describe.skipIf(!canPlayUser)('loading an addon built against a shared libfcgi that is not there', () => {
  const addon = join(repoRoot, 'build', 'Release', 'fcgi.node');
  const linkedShared =
    existsSync(addon) && /libfcgi\.so\.0/.test(spawnSync('ldd', [addon], { encoding: 'utf8' }).stdout);
  const runtime = packageFiles('libfcgi0ldbl');
  const real = runtime.find((file) => /libfcgi\.so\.0\.\d/.test(file));
  beforeAll(() => {
    base = tempDir();
  });
  afterAll(stopAll);

  /** Requires the package in a new mount namespace after script has hidden or broken files; returns stderr. */
  function load(script: string): string {
    const requirePackage = `require(${JSON.stringify(join(repoRoot, 'dist', 'index.js'))})`;
    const argv = ['-m', 'sh', '-c', script, 'sh', process.execPath, '-e', requirePackage];
    const result = spawnSync('unshare', argv, { encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    return result.stderr;
  }

  it.skipIf(!linkedShared || real === undefined)(
    'throws an Error that says libfcgi.so.0 is missing and how to fix it',
    () => {
      const stderr = load(hidingScript(runtime, base));
      expect(stderr).toContain('libfcgi: the native addon (fcgi.node) does not load');
      expect(stderr).toContain('built against a shared libfcgi (libfcgi.so.0) that is missing or broken');
      expect(stderr).toContain('libfcgi.so.0: cannot open shared object file');
      expect(stderr).toContain('LIBFCGI_BUILD=prebuilt npm rebuild libfcgi');
      expect(stderr).toContain('apt-get install libfcgi0ldbl');
    },
  );

  it.skipIf(!linkedShared || real === undefined)('says the same when libfcgi.so.0 is broken', () => {
    const empty = join(tempDir(), 'empty');
    writeFileSync(empty, '');
    const stderr = load(`set -e\nmount --bind ${empty} ${real}\nexec "$@"`);
    expect(stderr).toContain('built against a shared libfcgi (libfcgi.so.0) that is missing or broken');
    expect(stderr).toContain('LIBFCGI_BUILD=prebuilt npm rebuild libfcgi');
  });
});
