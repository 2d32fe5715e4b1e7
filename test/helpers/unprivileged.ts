// Playing a shared-hosting user: an unprivileged account made for the test, the package packed as npm would ship it,
// and commands run as that user with the system's libfcgi hidden.
//
// Hiding is per command: `unshare -m`, then an overlay on each directory holding a file of libfcgi-dev or libfcgi0ldbl
// (as `dpkg -L` lists them) whose top layer has a whiteout for it, so that the file is not there at all.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { repoRoot } from './apps';

/** Whether this machine can play the user: root on linux-x64 (useradd, unshare, overlays, the prebuilt binary). */
export const canPlayUser = process.platform === 'linux' && process.arch === 'x64' && process.getuid?.() === 0;

/** The files of a Debian package under /usr/include and /usr/lib, to hide. */
export function packageFiles(pkg: string): string[] {
  const result = spawnSync('dpkg', ['-L', pkg], { encoding: 'utf8' });
  if (result.status !== 0) return [];
  return result.stdout
    .split('\n')
    .filter((file) => /^\/usr\/(include|lib)\//.test(file))
    .filter((file) => existsSync(file) && !statSync(file).isDirectory());
}

/** libfcgi-dev's files (headers, .pc, .so, .a) and libfcgi0ldbl's (libfcgi.so.0). */
export const libfcgiFiles = (): { dev: string[]; runtime: string[] } => ({
  dev: packageFiles('libfcgi-dev'),
  runtime: packageFiles('libfcgi0ldbl'),
});

/**
 * Packs the package into dir as `npm pack` would, prebuilt binary included, and returns the tarball's path. The
 * prepack step runs here so that the pack can skip prepare, whose tsc would rewrite dist/ under the feet of the
 * tests running beside this one (npm test has just built it).
 */
export function packPackage(dir: string, buildArgs: string[] = ['--if-stale']): string {
  execFileSync('bash', [join(repoRoot, 'scripts', 'build-prebuilt.sh'), ...buildArgs], { stdio: 'pipe' });
  const pack = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return join(dir, pack.trim().split('\n').pop() ?? '');
}

/**
 * Where npm finds Node's headers (its nodedir setting, here /usr/etc/npmrc: nodedir=/usr); without one, node-gyp
 * downloads them. The user gets the same, explicitly, so that a build needs no network for them.
 */
export function nodeHeadersDir(): string {
  const configured = execFileSync('npm', ['config', 'get', 'nodedir'], { encoding: 'utf8' }).trim();
  return [configured, dirname(dirname(process.execPath))].find((dir) =>
    existsSync(join(dir, 'include', 'node', 'node_api.h')),
  ) as string;
}

let layerCount = 0;

/** A shell script that hides files in a new mount namespace (whiteout layers go in scratch), then runs "$@". */
export function hidingScript(files: string[], scratch: string): string {
  const layers = new Map<string, string[]>();
  for (const file of files) layers.set(dirname(file), [...(layers.get(dirname(file)) ?? []), basename(file)]);
  const lines = ['set -e'];
  [...layers.keys()]
    .sort((a, b) => a.length - b.length)
    .forEach((dir) => {
      const layer = join(scratch, 'whiteouts', String(layerCount++));
      mkdirSync(layer, { recursive: true });
      for (const name of layers.get(dir) ?? []) {
        if (!existsSync(join(layer, name))) execFileSync('mknod', [join(layer, name), 'c', '0', '0']);
      }
      lines.push(`mount -t overlay overlay -o lowerdir=${layer}:${dir} ${dir}`);
    });
  lines.push('exec "$@"');
  return lines.join('\n');
}

export class UnprivilegedUser {
  private constructor(
    readonly name: string,
    readonly home: string,
    readonly uid: number,
    readonly gid: number,
    /** Where the whiteout layers go (root's, outside the home). */
    readonly scratch: string,
  ) {}

  /** A new account (and group) named name with home as its home, which it owns; remove() deletes the account. */
  static create(name: string, home: string, scratch: string): UnprivilegedUser {
    execFileSync('useradd', ['--no-create-home', '--home-dir', home, '--user-group', name]);
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }));
    mkdirSync(home, { recursive: true });
    execFileSync('chown', ['-R', `${uid}:${gid}`, home]);
    return new UnprivilegedUser(name, home, uid, gid, scratch);
  }

  remove(): void {
    spawnSync('pkill', ['-KILL', '-u', this.name]);
    spawnSync('userdel', [this.name]);
  }

  /** Gives the user what root made in their home. */
  own(...paths: string[]): void {
    execFileSync('chown', ['-R', `${this.uid}:${this.gid}`, ...paths]);
  }

  /**
   * The argv that runs command with files hidden, as this user with only env as its environment, plus how this
   * machine reaches the npm registry (its proxy and certificate authorities, which a node installed elsewhere than
   * /usr would not find in /usr/etc/npmrc).
   */
  argv(files: string[], env: Record<string, string>, command: string[]): string[] {
    const environment = [...Object.entries(registryAccess()), ...Object.entries(env)].map(
      ([name, value]) => `${name}=${value}`,
    );
    return [
      'unshare',
      '-m',
      'sh',
      '-c',
      hidingScript(files, this.scratch),
      'sh',
      ...[
        '/usr/bin/setpriv',
        `--reuid=${this.uid}`,
        `--regid=${this.gid}`,
        '--clear-groups',
        '/usr/bin/env',
        '-i',
        ...environment,
        ...command,
      ],
    ];
  }
}

let registry: Record<string, string> | undefined;
function registryAccess(): Record<string, string> {
  if (registry) return registry;
  registry = Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined && /^((https?|no)_proxy|NODE_EXTRA_CA_CERTS)$/i.test(entry[0]),
    ),
  );
  const cafile = execFileSync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' }).trim();
  if (cafile !== '' && cafile !== 'null' && cafile !== 'undefined') registry.npm_config_cafile = cafile;
  return registry;
}

/** A PATH of symlinks to node, npm and everyday tools, but no compiler and no make; node may be another binary. */
export function pathWithoutCompiler(bin: string, node = process.execPath): string {
  if (existsSync(bin)) return bin;
  mkdirSync(bin, { recursive: true });
  symlinkSync(node, join(bin, 'node'));
  const tools = ['sh', 'bash', 'env', 'cat', 'ls', 'cp', 'mv', 'rm', 'mkdir', 'chmod', 'uname', 'grep', 'sed', 'touch'];
  for (const tool of ['npm', 'npx', 'python3', 'pkg-config', ...tools]) {
    const found = spawnSync('sh', ['-c', `PATH=/usr/local/bin:/usr/bin:/bin command -v ${tool}`], { encoding: 'utf8' });
    if (found.status === 0) symlinkSync(found.stdout.trim(), join(bin, tool));
  }
  return bin;
}

/** suexec (Debian's apache2-suexec-pristine) runs only scripts under the document root it was built with. */
export const suexecRoot = '/var/www';
export const hasSuexec = existsSync('/usr/lib/apache2/suexec') && existsSync('/usr/lib/apache2/modules/mod_suexec.so');
