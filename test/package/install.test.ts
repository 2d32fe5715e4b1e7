// Installing the packed package as a new user would, with every package manager: unprivileged, with no libfcgi and no
// compiler (the prebuilt binary loads as installed); building from source as a choice; a laptop where no binary fits;
// and the error when the addon cannot load.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { repoRoot, stopAll, tempDir } from '../helpers/apps';
import {
  canPlayUser,
  hidingScript,
  libfcgiFiles,
  packageFiles,
  packPackage,
  pathWithoutCompiler,
  UnprivilegedUser,
} from '../helpers/unprivileged';

const platformDir = join('prebuilds', 'linux-x64');

let base = '';
let tarball = '';
let user: UnprivilegedUser;
/** libfcgi-dev's files (headers, .pc, .so, .a) and libfcgi0ldbl's (libfcgi.so.0). */
let devFiles: string[] = [];
let runtimeFiles: string[] = [];
/** A PATH with node, npm, npx, pnpm, yarn, bun and bunx, but no compiler and no make. */
let bin = '';
const children = new Set<ChildProcess>();

/** How a package manager installs a project, and how it runs the package's command. */
interface Route {
  name: string;
  install: string[];
  run: string[];
  env?: Record<string, string>;
}

const npmInstall = ['npm', 'install', '--no-audit', '--no-fund'];
const routes: Route[] = [
  { name: 'npm', install: npmInstall, run: ['npx', 'libfcgi'] },
  { name: 'npm --ignore-scripts', install: [...npmInstall, '--ignore-scripts'], run: ['npx', 'libfcgi'] },
  {
    name: 'npm strict-allow-scripts',
    install: [...npmInstall, '--strict-allow-scripts=true'],
    run: ['npx', 'libfcgi'],
  },
  { name: 'pnpm 10', install: ['pnpm', 'install'], run: ['pnpm', 'exec', 'libfcgi'] },
  {
    name: 'yarn 4 (node-modules linker)',
    install: ['yarn', 'install'],
    run: ['yarn', 'libfcgi'],
    env: { YARN_NODE_LINKER: 'node-modules', YARN_ENABLE_TELEMETRY: '0' },
  },
  { name: 'bun', install: ['bun', 'install'], run: ['bunx', 'libfcgi'] },
];

/** The package managers from this repository's node_modules, beside a PATH without a compiler. */
function managersPath(dir: string): string {
  const path = pathWithoutCompiler(dir);
  const modules = join(repoRoot, 'node_modules');
  const tools: Record<string, string> = {
    pnpm: join(modules, 'pnpm', 'bin', 'pnpm.cjs'),
    yarn: join(modules, '@yarnpkg', 'cli-dist', 'bin', 'yarn.js'),
    bun: join(modules, 'bun', 'bin', 'bun.exe'),
    bunx: join(modules, 'bun', 'bin', 'bunx.exe'),
  };
  for (const [name, file] of Object.entries(tools)) {
    if (!existsSync(join(path, name))) symlinkSync(file, join(path, name));
  }
  // What the managers' own shims call (pnpm's node_modules/.bin scripts run dirname).
  for (const tool of ['dirname', 'basename', 'readlink', 'realpath', 'uname', 'tr']) {
    if (!existsSync(join(path, tool))) symlinkSync(`/usr/bin/${tool}`, join(path, tool));
  }
  return path;
}

interface Run {
  status: number | null;
  output: string;
  stdout: string;
}

/** Runs command in cwd as the user, with files hidden and HOME, PATH and env set. */
function runAsUser(cwd: string, command: string[], files: string[], env: Record<string, string> = {}): Run {
  const argv = user.argv(files, { HOME: join(base, 'home'), PATH: bin, ...env }, command);
  const result = spawnSync(argv[0] as string, argv.slice(1), { cwd, encoding: 'utf8', timeout: 150_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}`, stdout: result.stdout };
}

const systemPath = { PATH: '/usr/bin:/bin' };

const createServerApp =
  "const { createServer } = require('libfcgi');\n" +
  'createServer((req, res) => res.end(`hello from ${req.url}`)).listen();\n';

/** A new project in the user's home that depends on the packed package and on ms, with a createServer app. */
function newProject(name: string): string {
  const project = join(base, 'home', name);
  mkdirSync(project);
  const dependencies = { libfcgi: `file:${tarball}`, ms: '^2.1.3' };
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name, private: true, dependencies }));
  writeFileSync(join(project, 'app.js'), createServerApp);
  user.own(project);
  return project;
}

/** Runs the project's app.js under spawn-fcgi as the user, with files hidden, and sends it one request. */
async function request(project: string, files: string[]): Promise<{ status: number; body: string }> {
  const socket = join(project, 'app.sock');
  const argv = user.argv(files, { HOME: join(base, 'home'), PATH: '/usr/bin:/bin' }, [
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

/** The installed package's folder in a project (a symlink into pnpm's store is followed). */
const installed = (project: string): string => join(project, 'node_modules', 'libfcgi');

beforeAll(() => {
  if (!canPlayUser) return;
  base = tempDir();
  chmodSync(base, 0o755);
  // The ~/.local test builds libfcgi from the source and fcgi_config.h that scripts/build-prebuilt.sh leaves in
  // build/prebuilt, so that must be there.
  const fresh = !existsSync(join(work, 'libfcgi', 'include', 'fcgi_config.h')) || libfcgiSource() === undefined;
  tarball = packPackage(base, fresh ? [] : ['--if-stale']);
  user = UnprivilegedUser.create(`libfcgi-t${process.pid}`, join(base, 'home'), base);
  user.own(tarball);
  ({ dev: devFiles, runtime: runtimeFiles } = libfcgiFiles());
  bin = managersPath(join(base, 'bin'));
}, 240_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  user?.remove();
  await stopAll();
});

describe.skipIf(!canPlayUser)(
  'installing the packed package with each package manager, without libfcgi or a compiler',
  () => {
    const hidden = (): string[] => [...devFiles, ...runtimeFiles];

    it('packs both prebuilt binaries and the relays, no install script, and hides libfcgi and the compiler', () => {
      const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
      for (const platform of ['linux-x64', 'linux-arm64']) {
        expect(files).toContain(`package/prebuilds/${platform}/fcgi.node`);
        expect(files).toContain(`package/prebuilds/${platform}/fcgi-relay`);
      }
      expect(files.filter((file) => /^package\/(binding\.gyp|build\/|native\/build\/)/.test(file))).toEqual([]);
      const manifest = JSON.parse(
        execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }),
      );
      expect(Object.keys(manifest.scripts ?? {}).filter((name) => /install|prepare/.test(name))).toEqual([]);
      expect(devFiles).toContain('/usr/include/fcgiapp.h');
      const listed = runAsUser(base, ['ls', ...hidden()], hidden());
      expect(listed.output.match(/No such file or directory/g)).toHaveLength(hidden().length);
      for (const tool of ['cc', 'gcc', 'c++', 'g++', 'make']) {
        expect(spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: bin } }).status).not.toBe(0);
      }
    });

    it.each(routes)(
      '$name: installs with exit 0, loads the prebuilt binary with require and import, runs --help and init, and serves',
      async (route) => {
        const project = newProject(route.name.replace(/\W+/g, '-'));
        const started = process.hrtime.bigint();
        const install = runAsUser(project, route.install, hidden(), route.env);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        console.log(`${route.name}: install ${install.status === 0 ? 'exit 0' : 'FAILED'} in ${seconds.toFixed(1)} s`);
        expect(install.status, install.output).toBe(0);
        // Nothing asks to be built, so no manager holds the package back or warns about it.
        expect(install.output).not.toMatch(/Ignored build scripts|Blocked \d+ postinstall|ESTRICTALLOWSCRIPTS/);
        expect(existsSync(join(installed(project), 'build'))).toBe(false);

        const load =
          "require('libfcgi'); import('libfcgi').then((m) => console.log(typeof m.createServer, require('ms')('1s')))";
        expect(runAsUser(project, ['node', '-e', load], hidden())).toMatchObject({
          status: 0,
          stdout: 'function 1000\n',
        });

        const help = runAsUser(project, [...route.run, '--help'], hidden(), route.env);
        expect(help.status, help.output).toBe(0);
        expect(help.stdout).toContain('Usage: libfcgi serve');
        const version = runAsUser(project, [...route.run, '--version'], hidden(), route.env);
        expect(version.stdout).toContain(`addon: ${join(platformDir, 'fcgi.node')} (prebuilt: libfcgi 2.4.2`);

        const init = runAsUser(project, [...route.run, 'init', 'site'], hidden(), route.env);
        expect(init.status, init.output).toBe(0);
        const launcher = readFileSync(join(project, 'site', 'public_html', 'app.fcgi'), 'utf8');
        expect(launcher.split('\n')[0]).toMatch(
          new RegExp(`^#!/\\S+/node_modules/\\S*libfcgi/${platformDir}/fcgi-relay$`),
        );

        expect(await request(project, hidden())).toEqual({ status: 200, body: 'hello from /installed' });
      },
    );
  },
);

describe.skipIf(!canPlayUser)('running the package without a project: pnpm dlx', () => {
  it('fetches the tarball into a throwaway store and runs libfcgi --version on the prebuilt binary', () => {
    const scratch = join(base, 'home', 'dlx');
    mkdirSync(scratch);
    user.own(scratch);
    const dlx = runAsUser(scratch, ['pnpm', 'dlx', `file:${tarball}`, '--version'], [...devFiles, ...runtimeFiles]);
    expect(dlx.status, dlx.output).toBe(0);
    expect(dlx.stdout).toContain(`addon: ${join(platformDir, 'fcgi.node')} (prebuilt: libfcgi 2.4.2`);
  });
});

describe.skipIf(!canPlayUser)('building from source, a choice: libfcgi build', () => {
  it('builds against the system libfcgi with the local Node headers, leaves only its two products, and serves', async () => {
    const project = newProject('source');
    expect(runAsUser(project, npmInstall, []).status).toBe(0);
    const build = runAsUser(project, ['npx', 'libfcgi', 'build'], [], { PATH: `${bin}:/usr/bin:/bin` });
    expect(build.status, build.output).toBe(0);
    expect(build.output).toContain('building the addon against libfcgi from pkg-config');
    expect(build.output).toMatch(/with Node's headers from \/\S+\n/);
    expect(build.output).not.toContain('nodejs.org');
    expect(readdirSync(join(installed(project), 'build', 'Release')).sort()).toEqual(['fcgi-relay', 'fcgi.node']);
    expect(existsSync(join(installed(project), 'native', 'build'))).toBe(false);
    const version = runAsUser(project, ['npx', 'libfcgi', '--version'], []);
    expect(version.stdout).toContain(`addon: ${join('build', 'Release', 'fcgi.node')} (built from source)`);
    const ldd = runAsUser(project, ['ldd', join(installed(project), 'build', 'Release', 'fcgi.node')], [], systemPath);
    expect(ldd.stdout).toMatch(/libfcgi\.so\.0 => \/(usr\/)?lib\//);
    expect(await request(project, [])).toEqual({ status: 200, body: 'hello from /installed' });
  });

  it('builds against a libfcgi in ~/.local named by LIBFCGI_PREFIX, and it serves a request', async () => {
    const hidden = [...devFiles, ...runtimeFiles];
    const local = join(base, 'home', '.local');
    // libfcgi's two C files, from the Debian source scripts/build-prebuilt.sh fetched, built as the user would.
    const source = join(base, 'home', 'libfcgi-src');
    execFileSync('cp', ['-r', libfcgiSource() as string, source]);
    execFileSync('cp', [join(work, 'libfcgi', 'include', 'fcgi_config.h'), join(source, 'include')]);
    user.own(source);
    const steps = [
      `mkdir -p ${local}/include ${local}/lib`,
      `cp ${source}/include/fastcgi.h ${source}/include/fcgiapp.h ${source}/include/fcgimisc.h ${source}/include/fcgios.h ${local}/include/`,
      `cp ${source}/include/fcgi_config.h ${local}/include/`,
      `cc -O2 -fPIC -shared -Wl,-soname,libfcgi.so.0 -I${local}/include -o ${local}/lib/libfcgi.so.0 ` +
        `${source}/libfcgi/fcgiapp.c ${source}/libfcgi/os_unix.c -w`,
      `ln -s libfcgi.so.0 ${local}/lib/libfcgi.so`,
    ].join(' && ');
    expect(runAsUser(base, ['sh', '-c', steps], hidden, { PATH: '/usr/bin:/bin' }).status).toBe(0);

    const project = newProject('prefix');
    expect(runAsUser(project, npmInstall, hidden).status).toBe(0);
    const env = { PATH: `${bin}:/usr/bin:/bin`, LIBFCGI_PREFIX: local };
    const started = process.hrtime.bigint();
    const build = runAsUser(project, ['npx', 'libfcgi', 'build'], hidden, env);
    console.log(`libfcgi build against ~/.local: ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
    expect(build.status, build.output).toBe(0);
    expect(build.output).toContain(`building the addon against libfcgi from LIBFCGI_PREFIX=${local}`);
    const ldd = runAsUser(
      project,
      ['ldd', join(installed(project), 'build', 'Release', 'fcgi.node')],
      hidden,
      systemPath,
    );
    expect(ldd.stdout).toContain(`libfcgi.so.0 => ${local}/lib/libfcgi.so.0`);
    expect(await request(project, hidden)).toEqual({ status: 200, body: 'hello from /installed' });
  });

  it("prints the compiler's own errors when the build fails, and the prebuilt binary still serves", async () => {
    const broken = join(base, 'home', 'broken-libfcgi');
    mkdirSync(join(broken, 'include'), { recursive: true });
    mkdirSync(join(broken, 'lib'));
    // A libfcgi whose header was cut short, as a full disk leaves a make install.
    writeFileSync(join(broken, 'include', 'fcgiapp.h'), readFileSync('/usr/include/fcgiapp.h').subarray(0, 2000));
    execFileSync('cp', ['/usr/include/fastcgi.h', join(broken, 'include')]);
    writeFileSync(join(broken, 'lib', 'libfcgi.so'), '');
    user.own(broken);
    const project = newProject('broken');
    expect(runAsUser(project, npmInstall, devFiles).status).toBe(0);
    const env = { PATH: `${bin}:/usr/bin:/bin`, LIBFCGI_PREFIX: broken };
    const build = runAsUser(project, ['npx', 'libfcgi', 'build'], devFiles, env);
    expect(build.status).toBe(1);
    expect(build.output).toContain('libfcgi: the build failed:');
    expect(build.output).toMatch(/broken-libfcgi\/include\/fcgiapp\.h:\d+: error: unterminated #ifndef/);
    expect(build.output).not.toContain('gyp ERR!');
    expect(existsSync(join(installed(project), 'build', 'Release', 'fcgi.node'))).toBe(false);
    expect(await request(project, devFiles)).toEqual({ status: 200, body: 'hello from /installed' });
  });

  it('says what is missing when there is no compiler', () => {
    const project = newProject('no-make');
    expect(runAsUser(project, npmInstall, []).status).toBe(0);
    const build = runAsUser(project, ['npx', 'libfcgi', 'build'], []);
    expect(build.status).toBe(1);
    expect(build.output).toMatch(/libfcgi: the build failed:\n {2}node-gyp: Error: not found: make\n/);
  });
});

describe.skipIf(!canPlayUser)('on a laptop, where no binary fits (the platform faked as macOS and Windows)', () => {
  it.each([
    ['darwin', 'arm64'],
    ['win32', 'x64'],
  ])(
    '%s-%s: installs with the other dependency, require says what works there, and the app runs as it is',
    async (os, cpu) => {
      const project = newProject(`laptop-${os}`);
      const fake = join(project, 'platform.js');
      writeFileSync(
        fake,
        `Object.defineProperty(process, 'platform', { value: '${os}' });\n` +
          `Object.defineProperty(process, 'arch', { value: '${cpu}' });\n`,
      );
      user.own(project);
      const install = runAsUser(project, [...npmInstall, `--os=${os}`, `--cpu=${cpu}`], []);
      expect(install.status, install.output).toBe(0);
      expect(existsSync(join(project, 'node_modules', 'ms', 'package.json'))).toBe(true);

      const env = { NODE_OPTIONS: `--require ${fake}` };
      const loaded = runAsUser(project, ['node', '-e', "require('libfcgi')"], [], env);
      expect(loaded.status).toBe(1);
      expect(loaded.output).toContain(
        `FcgiError: load addon failed: ENOTSUP (libfcgi serves FastCGI on Linux, and has no binary for ${os}-${cpu}`,
      );
      expect(loaded.output).toContain('npx libfcgi build');
      // The commands that need no addon run; init says where it belongs unless asked for a launcher without the relay.
      const cli = ['node', join('node_modules', 'libfcgi', 'dist', 'cli', 'cli.js')];
      const help = runAsUser(project, [...cli, '--help'], [], env);
      expect(help.status, help.output).toBe(0);
      expect(help.stdout).toContain('Usage: libfcgi serve');
      const relayed = runAsUser(project, [...cli, 'init', 'elsewhere'], [], env);
      expect(relayed).toMatchObject({ status: 1 });
      expect(relayed.output).toContain(`libfcgi has no binaries for ${os}-${cpu}: run init on the Linux host`);

      // The launcher init writes, and an app that ends in its own listen(): on the laptop, it takes its port.
      writeFileSync(
        join(project, 'server.js'),
        "require('node:http').createServer((req, res) => res.end('plain http on ' + process.platform))\n" +
          "  .listen(0, '127.0.0.1', function () { require('node:fs').writeFileSync('port', String(this.address().port)); });\n",
      );
      user.own(project);
      // init itself runs on the host (it names the host's node): here it only writes the files the laptop runs.
      const init = runAsUser(project, ['npx', 'libfcgi', 'init', '--no-relay', '--app', 'server.js'], []);
      expect(init.status, init.output).toBe(0);
      const argv = user.argv([], { HOME: join(base, 'home'), PATH: bin, ...env }, ['node', 'public_html/app.fcgi']);
      const child = spawn(argv[0] as string, argv.slice(1), { cwd: project, stdio: 'ignore' });
      children.add(child);
      try {
        const portFile = join(project, 'port');
        const deadline = Date.now() + 10_000;
        while (!existsSync(portFile)) {
          if (child.exitCode !== null || Date.now() > deadline) throw new Error('the app did not listen');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const response = await fetch(`http://127.0.0.1:${readFileSync(portFile, 'utf8')}/`);
        expect(await response.text()).toBe(`plain http on ${os}`);
      } finally {
        child.kill('SIGKILL');
        children.delete(child);
      }
    },
  );
});

describe.skipIf(!canPlayUser)('loading an addon built against a shared libfcgi that is not there', () => {
  const addon = join(repoRoot, 'build', 'Release', 'fcgi.node');
  const linkedShared =
    existsSync(addon) && /libfcgi\.so\.0/.test(spawnSync('ldd', [addon], { encoding: 'utf8' }).stdout);
  const runtime = packageFiles('libfcgi0ldbl');
  const real = runtime.find((file) => /libfcgi\.so\.0\.\d/.test(file));
  const prebuilt = join(repoRoot, platformDir, 'fcgi.node');
  let scratch = '';
  beforeAll(() => {
    scratch = tempDir();
  });

  /** Requires the package in a new mount namespace after script has hidden or broken files. */
  function load(script: string): { status: number | null; stderr: string } {
    const requirePackage = `require(${JSON.stringify(join(repoRoot, 'dist', 'index.js'))})`;
    const argv = ['-m', 'sh', '-c', script, 'sh', process.execPath, '-e', requirePackage];
    return spawnSync('unshare', argv, { encoding: 'utf8' });
  }

  it.skipIf(!linkedShared || real === undefined)(
    'falls back to the prebuilt binary, saying so in one line, when the build lost its libfcgi.so.0',
    () => {
      const { status, stderr } = load(hidingScript(runtime, scratch));
      expect(status, stderr).toBe(0);
      expect(stderr).toBe(
        'libfcgi: build/Release/fcgi.node does not load (it was built against a shared libfcgi (libfcgi.so.0) that ' +
          `is missing or broken); using ${join(platformDir, 'fcgi.node')}\n`,
      );
    },
  );

  it.skipIf(!linkedShared || real === undefined)(
    'throws an FcgiError that says libfcgi.so.0 is missing and how to fix it when there is no prebuilt either',
    () => {
      const { status, stderr } = load(hidingScript([...runtime, prebuilt], scratch));
      expect(status).not.toBe(0);
      expect(stderr).toContain(
        'FcgiError: load addon failed: ERR_DLOPEN_FAILED (build/Release/fcgi.node does not load',
      );
      expect(stderr).toContain('built against a shared libfcgi (libfcgi.so.0) that is missing or broken');
      expect(stderr).toContain('libfcgi.so.0: cannot open shared object file');
      expect(stderr).toContain('apt-get install libfcgi0ldbl');
      expect(stderr).toContain('npx libfcgi build, or remove build/ to use the prebuilt binary');
    },
  );

  it.skipIf(!linkedShared || real === undefined)('says the same when libfcgi.so.0 is broken', () => {
    const empty = join(scratch, 'empty');
    writeFileSync(empty, '');
    const { stderr } = load(`set -e\nmount --bind ${empty} ${real}\n${hidingScript([prebuilt], scratch)}`);
    expect(stderr).toContain('built against a shared libfcgi (libfcgi.so.0) that is missing or broken');
    expect(stderr).toContain('npx libfcgi build');
  });
});
