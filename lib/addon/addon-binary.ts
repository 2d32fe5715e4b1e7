// Where the addon binary is: one built from source in build/Release/ (`libfcgi build`), else the prebuilt one the
// package ships for this platform in prebuilds/. No install step copies anything, so every package manager's install,
// with or without scripts, ends with a package that loads; where none fits, the error says what works there.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import bindings from 'bindings';
import { FcgiError } from './errors';

/** The package's folder: lib/ (tests) and dist/ (published) are both one level below it. */
export const packageRoot = join(__dirname, '..', '..'); // dist/addon/ → the package

/** The platforms a prebuilt binary is made for (scripts/build-prebuilt.sh), with the libc they need. */
export const prebuiltPlatforms = ['linux-x64', 'linux-arm64'];

/** This machine as prebuilds/ names it: process.platform-process.arch. */
export const platform = `${process.platform}-${process.arch}`;

/** The addon binaries to try, in order, as paths inside the package: a source build's first. */
export function addonCandidates(root = packageRoot): string[] {
  return [join('build', 'Release', 'fcgi.node'), join('prebuilds', platform, 'fcgi.node')].filter((file) =>
    existsSync(join(root, file)),
  );
}

/**
 * Whether this package has an addon for this machine at all (a file, not yet loaded). Where it has none (a laptop on
 * macOS or Windows), nothing can be served over FastCGI, so adopt and the launcher leave the app to itself.
 */
export function hasAddon(root = packageRoot): boolean {
  return addonCandidates(root).length > 0;
}

/** glibc's version when this process runs on glibc; undefined on musl (Alpine) and on other systems. */
function glibcVersion(): string | undefined {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime;
}

type Manager = 'npm' | 'pnpm' | 'yarn' | 'bun';

/** The package manager of the project this package is installed in: by its folder layout, else by its lockfile. */
export function packageManager(root = packageRoot): Manager {
  if (root.includes(`${sep}node_modules${sep}.pnpm${sep}`)) return 'pnpm';
  const agent = process.env.npm_config_user_agent?.split('/')[0];
  if (agent === 'pnpm' || agent === 'yarn' || agent === 'bun') return agent;
  for (let dir = root; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-lock.yaml'))) return 'pnpm';
    if (existsSync(join(dir, 'yarn.lock'))) return 'yarn';
    if (existsSync(join(dir, 'bun.lock')) || existsSync(join(dir, 'bun.lockb'))) return 'bun';
    if (existsSync(join(dir, 'package-lock.json'))) return 'npm';
  }
  return 'npm';
}

/** How the project's manager runs this package's command: `npx libfcgi build` and the like. */
export function commandLine(args: string, manager = packageManager()): string {
  const runner = { npm: 'npx', pnpm: 'pnpm exec', yarn: 'yarn', bun: 'bunx' }[manager];
  return `${runner} libfcgi ${args}`;
}

/** Why no addon fits this machine, as the FcgiError that require('libfcgi') throws. */
function noAddon(): FcgiError {
  const linux = process.platform === 'linux' && prebuiltPlatforms.includes(platform);
  const what = linux
    ? `this copy of libfcgi lacks its prebuilt binary for ${platform} (prebuilds/${platform}/fcgi.node): ` +
      'install the package again from the registry, or build one'
    : `libfcgi serves FastCGI on Linux, and has no binary for ${platform} ` +
      `(its prebuilt ones are for ${prebuiltPlatforms.join(' and ')}, glibc 2.28 or newer)`;
  return new FcgiError(
    'load addon',
    'ENOTSUP',
    0,
    [
      `${what}.`,
      '  On a laptop, run the app as it is (node server.js: its listen() takes a port as usual; libfcgi/adopt and the',
      `  launcher stand aside), and deploy it to a Linux host, where \`${commandLine('init')}\` lays out the site.`,
      `  To build from source here (a C++ compiler and libfcgi: apt-get install libfcgi-dev, dnf install fcgi-devel,`,
      `  brew install fcgi): ${commandLine('build')}. See docs/install.md.`,
    ].join('\n'),
  );
}

/** Why the binary at file (inside the package) did not load, in a sentence, from the loader's message. */
function whyNotLoaded(file: string, reason: string): string {
  if (/libfcgi\.so/.test(reason))
    return 'it was built against a shared libfcgi (libfcgi.so.0) that is missing or broken';
  if (/GLIBC_/.test(reason)) return `it needs a newer glibc than this system's ${glibcVersion() ?? ''}`.trimEnd();
  if (file.startsWith('prebuilds') && process.platform === 'linux' && glibcVersion() === undefined) {
    return 'it needs glibc, and this system has another C library (musl, as Alpine)';
  }
  return 'the system loader refused it';
}

function loadFile(root: string, file: string): unknown {
  return bindings({ bindings: 'fcgi.node', module_root: root, try: [['module_root', dirname(file), 'bindings']] });
}

/**
 * The addon: the first candidate that loads. A source build that stopped loading (its shared libfcgi removed) gives
 * way to the prebuilt binary, with one line on stderr saying so; when nothing loads, an FcgiError says why and what to
 * do with the project's own package manager.
 */
export function loadAddon(root = packageRoot): unknown {
  const candidates = addonCandidates(root);
  if (candidates.length === 0) throw noAddon();
  const failures: { file: string; reason: string }[] = [];
  for (const file of candidates) {
    try {
      const addon = loadFile(root, file);
      if (failures.length > 0) {
        const [first] = failures as [{ file: string; reason: string }];
        process.stderr.write(
          `libfcgi: ${first.file} does not load (${whyNotLoaded(first.file, first.reason)}); using ${file}\n`,
        );
      }
      return addon;
    } catch (error) {
      failures.push({ file, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  const last = failures[failures.length - 1] as { file: string; reason: string };
  const built = candidates[0]?.startsWith('build');
  throw new FcgiError(
    'load addon',
    'ERR_DLOPEN_FAILED',
    0,
    [
      `${failures.map(({ file, reason }) => `${file} does not load: ${whyNotLoaded(file, reason)}`).join('; ')}.`,
      `  The loader said: ${last.reason.split('\n')[0]}`,
      built
        ? '  Install the shared library again (apt-get install libfcgi0ldbl, dnf install fcgi) and build again with'
        : '  Build one for this system instead (a C++ compiler and libfcgi: apt-get install libfcgi-dev) with',
      `  ${commandLine('build')}${built ? `, or remove ${relative(root, join(root, 'build'))}/ to use the prebuilt binary` : ''}. See docs/install.md.`,
    ].join('\n'),
  );
}

/** Which binary loads here and where it comes from, for `libfcgi --version`: no loading, only files. */
export function addonSummary(root = packageRoot): string {
  const [file] = addonCandidates(root);
  if (file === undefined) return `no addon for ${platform}`;
  if (file.startsWith('build')) return `${file} (built from source)`;
  const about = join(root, 'prebuilds', platform, 'libfcgi.txt');
  const version = existsSync(about) ? readFileSync(about, 'utf8').split('\n')[0] : 'libfcgi linked in';
  return `${file} (prebuilt: ${version})`;
}
