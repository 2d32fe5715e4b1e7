// What `libfcgi init` finds before it writes anything: the app's entry in the project, whether the app serves on the
// synchronous accept() loop, whether it is an ES module, and the relay binary the launcher's #! line names.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { addonCandidates, commandLine, hasAddon, platform } from '../../addon/addon-binary';
import { builtFramework } from '../../site/framework-assets';
import { packageRoot } from '../package-info';

/** Files in the way, or a machine that cannot run the layout (exit status 1): the message says which and what to do. */
export class InitError extends Error {}

/**
 * The app's entry in an existing project: package.json's main, else the file its start script runs with node, else
 * the server entry of a framework's build (lib/site/framework-assets.ts), else the first of app.js, server.js, index.js
 * that exists; app.js for a new project.
 */
export function projectEntry(dir: string): string {
  let manifest: { main?: unknown; scripts?: { start?: unknown } } = {};
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof manifest;
  } catch {
    // no package.json, or not JSON: a new project
  }
  if (typeof manifest.main === 'string' && manifest.main !== '') return manifest.main;
  const start = typeof manifest.scripts?.start === 'string' ? manifest.scripts.start : '';
  const started = /(?:^|[\s;&|])node\s+(?:-\S+\s+)*([^\s;&|-][^\s;&|]*)/.exec(start)?.[1];
  if (started !== undefined) return started;
  const framework = builtFramework(dir);
  if (framework !== undefined) return framework.entry;
  return ['app.js', 'server.js', 'index.js'].find((file) => existsSync(join(dir, file))) ?? 'app.js';
}

/** Whether the project's package.json names libfcgi as a dependency. */
export function dependsOnLibfcgi(dir: string): boolean {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    return manifest.dependencies?.libfcgi !== undefined;
  } catch {
    return false;
  }
}

/**
 * Whether the app serves with libfcgi's synchronous accept() loop, which a relay cannot feed (it serves fd 0 itself):
 * it names accept from libfcgi and never calls createServer() or listen().
 */
export function usesAcceptLoop(appFile: string): boolean {
  let source: string;
  try {
    source = readFileSync(appFile, 'utf8');
  } catch {
    return false; // a new app: init writes one on createServer()
  }
  return /['"]libfcgi['"]/.test(source) && /\baccept\b/.test(source) && !/\bcreateServer\b|\.listen\(/.test(source);
}

/**
 * Whether Node loads file as an ES module: .mjs, or .js where the nearest package.json says "type": "module" (a
 * SvelteKit or Nuxt build's entry). require() cannot load one with top-level await, nor any on Node 20.
 */
export function isEsModule(file: string): boolean {
  if (file.endsWith('.mjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let folder = dirname(file); ; folder = dirname(folder)) {
    try {
      return (JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { type?: unknown }).type === 'module';
    } catch {
      if (dirname(folder) === folder) return false; // no package.json (or none readable) up to the root
    }
  }
}

/** Kernels before Linux 5.1 (CloudLinux 7 and 8 among them) read only the first 127 bytes of a #! line. */
const maxShebangPath = 125;

/**
 * The relay binary for a launcher in dir: the one beside the addon that loads (a source build's, else the prebuilt
 * one) of the libfcgi that the project's node_modules holds (dir's or a parent's), else of the libfcgi running init.
 * It must be a file by then: a #! line naming a missing program fails where nobody sees why.
 */
export function relayFor(dir: string): string {
  const relay = [installedLibfcgi(dir), packageRoot]
    .filter((root) => root !== undefined)
    .flatMap((root) => addonCandidates(root).map((addon) => join(root, dirname(addon), 'fcgi-relay')))
    .find((file) => existsSync(file));
  if (relay === undefined) {
    throw new InitError(
      hasAddon()
        ? `the relay (fcgi-relay, beside the addon) is missing from libfcgi: run \`${commandLine('build')}\`, or ` +
            'write a launcher that runs node for every process with --no-relay'
        : `libfcgi has no binaries for ${platform}: run init on the Linux host that will serve the site`,
    );
  }
  if (/\s/.test(relay) || relay.length > maxShebangPath) {
    throw new InitError(
      `the relay is at '${relay}': a #! line cannot name a path with spaces or longer than ${maxShebangPath} ` +
        'characters; move the project, or use --no-relay',
    );
  }
  return relay;
}

/**
 * The project's node_modules/libfcgi (dir's or a parent's) as it is named, not its real path: under pnpm that is a
 * symlink into the store, whose folder changes name with every update, while the symlink follows it.
 */
function installedLibfcgi(dir: string): string | undefined {
  for (let folder = resolve(dir); ; folder = dirname(folder)) {
    const installed = join(folder, 'node_modules', 'libfcgi');
    if (existsSync(join(installed, 'package.json'))) return installed;
    if (dirname(folder) === folder) return undefined;
  }
}

/** Where a relayed site's control socket and the relays' lock live: a folder of the app's, 0700. */
export function relaySocketOf(dir: string): string {
  return join(dir, '.libfcgi', 'relay.sock');
}
