// The built output of the full-stack frameworks `libfcgi init` knows: where each puts its server entry and its static
// files. The static files are copied into the document root, where Apache serves them itself (thousands of requests a
// second, without waking Node), and their content-hashed ones get a year's immutable Cache-Control, as the framework's
// own server would send. The launcher copies them again at each start, so that a redeploy's new assets are in place
// before its pages are served; old ones stay, since pages already open in browsers still ask for them.
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  fchmodSync,
  futimesSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
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
 * Why the copy may not write in folder: only a real folder of this user's that no one else may write to is safe to
 * write in (others could plant a link there that sends a copy onto any file of this user's: suexec asks the same of
 * the document root). undefined when it is safe.
 */
export function assetFolderRefusal(folder: string): string | undefined {
  const stat = lstatSync(folder);
  if (stat.isSymbolicLink()) return `${folder} is a symbolic link, not a folder`;
  if (!stat.isDirectory()) return `${folder} is not a folder`;
  if (process.getuid !== undefined && stat.uid !== process.getuid()) return `${folder} belongs to another user`;
  if ((stat.mode & 0o022) !== 0) return `others may write to ${folder} (chmod go-w)`;
  return undefined;
}

/**
 * Copies the static files of the framework built in appDir into docroot, each file only when missing or changed (size
 * or modification time), with modes Apache can read; writes the immutable folders' .htaccess. Returns null for a
 * project with no framework build. Writes only in folders assetFolderRefusal() finds safe, and replaces, never
 * follows, a link in the place of a file. Throws what the file system threw (ENOSPC), or why a folder is unsafe: the
 * caller says so and serves on.
 */
export function publishAssets(appDir: string, docroot: string): Published | null {
  const framework = builtFramework(appDir);
  if (framework === undefined) return null;
  let count = 0;
  const copyTree = (from: string, to: string, top: boolean): void => {
    makeFolder(to, docroot);
    // Symbolic links in the build are not followed: a link in public/ must not publish what it points to.
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      if (!copied(entry.name) || (top && docrootOwn.test(entry.name))) continue;
      const source = join(from, entry.name);
      const target = join(to, entry.name);
      if (entry.isDirectory()) {
        copyTree(source, target, false);
      } else if (entry.isFile() && !sameFile(source, target)) {
        const { atime, mtime } = statSync(source);
        writeFile(target, readFileSync(source), { atime, mtime }); // the times: the next start sees it is there
        count++;
      }
    }
  };
  for (const { from, to } of framework.assets) {
    const source = join(appDir, from);
    if (existsSync(source)) copyTree(source, join(docroot, to), to === '');
  }
  for (const folder of framework.immutable) {
    if (!existsSync(join(docroot, folder))) continue;
    writeFile(join(docroot, folder, '.htaccess'), immutableHtaccess);
  }
  return { framework, copied: count };
}

function sameFile(source: string, target: string): boolean {
  try {
    const [a, b] = [statSync(source), lstatSync(target)];
    // Within a millisecond: utimes() keeps less of a time than the file system holds.
    return b.isFile() && a.size === b.size && Math.abs(a.mtimeMs - b.mtimeMs) < 1;
  } catch {
    return false;
  }
}

/**
 * A new file at path, mode 644 whatever the umask: what was there (a file, or a link) is removed first, and the file
 * is made with O_EXCL, which never follows a link. Its folder is this user's alone (makeFolder checked it).
 */
function writeFile(path: string, bytes: Buffer | string, times?: { atime: Date; mtime: Date }): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    fchmodSync(fd, 0o644);
    writeFileSync(fd, bytes);
    if (times !== undefined) futimesSync(fd, times.atime, times.mtime);
  } finally {
    closeSync(fd);
  }
}

/**
 * A folder of the document root and its missing parents, 755 whatever the umask (Apache reads them as another user);
 * each, made or found, must be safe to write in (assetFolderRefusal), the document root included.
 */
function makeFolder(dir: string, docroot: string): void {
  if (dir !== docroot && dirname(dir) !== dir) {
    makeFolder(dirname(dir), docroot); // each folder on the way: one others may write to could be swapped for a link
    if (!existsSync(dir)) {
      mkdirSync(dir, { mode: 0o755 });
      chmodSync(dir, 0o755); // its parent is this user's alone: no one can have put a link in its place
    }
  }
  const why = assetFolderRefusal(dir);
  if (why !== undefined) throw new Error(`not copying into it: ${why}`); // nothing more is copied
}
