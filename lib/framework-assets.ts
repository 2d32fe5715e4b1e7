// The built output of the full-stack frameworks `libfcgi init` knows: where each puts its server entry and its static
// files. The static files are copied into the document root, where Apache serves them itself (thousands of requests a
// second, without waking Node), and their content-hashed ones get a year's immutable Cache-Control, as the framework's
// own server would send. The launcher copies them again at each start, so that a redeploy's new assets are in place
// before its pages are served; old ones stay, since pages already open in browsers still ask for them.
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

export interface Framework {
  name: string;
  /** The server entry of the build, relative to the project: what the launcher loads. */
  entry: string;
  /** Other files or folders of a build that tell this framework's output from any project's file of that name. */
  alsoThere: string[];
  /** Folders of the build copied into the document root: from (relative to the project), to (to the docroot). */
  assets: Array<{ from: string; to: string }>;
  /** Folders of the document root whose files are content-hashed: cached for a year, immutable. */
  immutable: string[];
}

export const frameworks: readonly Framework[] = [
  {
    name: 'Next.js',
    entry: '.next/standalone/server.js',
    alsoThere: ['.next/BUILD_ID'],
    assets: [
      { from: '.next/static', to: '_next/static' },
      { from: 'public', to: '' },
    ],
    immutable: ['_next/static'],
  },
  {
    name: 'Nuxt',
    entry: '.output/server/index.mjs',
    alsoThere: ['.output/nitro.json'],
    assets: [{ from: '.output/public', to: '' }],
    immutable: ['_nuxt'],
  },
  {
    name: 'SvelteKit',
    entry: 'build/index.js',
    alsoThere: ['build/handler.js', 'build/client'],
    assets: [{ from: 'build/client', to: '' }],
    immutable: ['_app/immutable'],
  },
  {
    name: 'Astro',
    entry: 'dist/server/entry.mjs',
    alsoThere: ['dist/client'],
    assets: [{ from: 'dist/client', to: '' }],
    immutable: ['_astro'],
  },
];

/** The framework whose build is in the project dir, if any. */
export function builtFramework(dir: string): Framework | undefined {
  return frameworks.find((framework) =>
    [framework.entry, ...framework.alsoThere].every((path) => existsSync(join(dir, path))),
  );
}

/** What the .htaccess in each immutable folder says: its files never change under their names. */
export const immutableHtaccess = `# Written by \`libfcgi init\`: the files here are named after their content, so browsers may keep them a year.
<IfModule mod_headers.c>
Header set Cache-Control "public, max-age=31536000, immutable"
</IfModule>
`;

/** Names the document root keeps for its own: the copy never puts a file of the build there. */
const docrootOwn = /^(package\.json|.*\.fcgi|restart\.txt)$/;

/**
 * Dotfiles are not copied (the .htaccess refuses them all the same, and one named .htaccess would configure Apache),
 * but .well-known, which certificate checks and security.txt use.
 */
const copied = (name: string): boolean => !name.startsWith('.') || name === '.well-known';

export interface Published {
  framework: Framework;
  /** Files copied (new or changed); the others were there already. */
  copied: number;
}

/**
 * Copies the static files of the framework built in appDir into docroot, each file only when missing or changed (size
 * or modification time), with modes Apache can read; writes the immutable folders' .htaccess. Returns null for a
 * project with no framework build. Throws what the file system threw (ENOSPC): the caller says so and serves on.
 */
export function publishAssets(appDir: string, docroot: string): Published | null {
  const framework = builtFramework(appDir);
  if (framework === undefined) return null;
  let count = 0;
  const copyTree = (from: string, to: string, top: boolean): void => {
    makeFolder(to);
    // Symbolic links are not followed: a link in public/ must not publish what it points to.
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      if (!copied(entry.name) || (top && docrootOwn.test(entry.name))) continue;
      const source = join(from, entry.name);
      const target = join(to, entry.name);
      if (entry.isDirectory()) {
        copyTree(source, target, false);
      } else if (entry.isFile() && !sameFile(source, target)) {
        copyFileSync(source, target);
        chmodSync(target, 0o644);
        const { atime, mtime } = statSync(source);
        utimesSync(target, atime, mtime); // so that the next start sees it is there already
        count++;
      }
    }
  };
  for (const { from, to } of framework.assets) {
    const source = join(appDir, from);
    if (existsSync(source)) copyTree(source, join(docroot, to), to === '');
  }
  for (const folder of framework.immutable) {
    const htaccess = join(docroot, folder, '.htaccess');
    if (!existsSync(join(docroot, folder))) continue;
    writeFileSync(htaccess, immutableHtaccess);
    chmodSync(htaccess, 0o644);
  }
  return { framework, copied: count };
}

function sameFile(source: string, target: string): boolean {
  try {
    const [a, b] = [statSync(source), statSync(target)];
    // Within a millisecond: utimes() keeps less of a time than the file system holds.
    return a.size === b.size && Math.abs(a.mtimeMs - b.mtimeMs) < 1;
  } catch {
    return false;
  }
}

/** A folder and its missing parents, 755 whatever the umask: Apache reads them as another user. */
function makeFolder(dir: string): void {
  if (existsSync(dir)) return;
  makeFolder(dirname(dir));
  mkdirSync(dir);
  chmodSync(dir, 0o755);
}
