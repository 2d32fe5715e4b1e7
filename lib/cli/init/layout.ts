// What `libfcgi init` writes where: a document root that holds only an .htaccess and the launcher app.fcgi, and the
// app's own code (package.json, app.js) beside it, where the web server does not serve it. On an existing project it
// never changes the project's files; run again, it updates only what it owns.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { builtFramework } from '../../site/framework-assets';
import { directPathRefusal } from '../../relay/proxy-socket';
import type { InitOptions } from './args';
import { InitError } from './project';
import { exampleApp, htaccess, launcher, launcherPackageJson, packageJson, posix } from './texts';

/**
 * A file init writes: where, what, and the mode suexec accepts (not writable by group or others). `project` files (the
 * app, package.json) are the user's: written only when missing. `owned` ones are init's: written again on every run,
 * unless one that init did not write is there. The .htaccess gets init's block, the rest of it left as it is.
 */
export interface ScaffoldFile {
  path: string;
  text: string;
  mode: number;
  kind: 'project' | 'owned' | 'htaccess';
  /** What it is, for the list init prints. */
  about: string;
}

/** What init does to each file of the layout: write it, add its block, or leave the project's own one alone. */
export type Outcome = 'written' | 'updated' | 'kept';

/** The mark of what init wrote: in the launcher, the document root's package.json, and its .htaccess block. */
const writtenByInit = 'libfcgi init';
/** The lines around init's .htaccess block, as templates/htaccess.tmpl has them. */
const blockStart = '# BEGIN libfcgi init';
const blockEnd = '# END libfcgi init';

/** The files of the layout, in the order they are written. */
export function scaffold(options: InitOptions): ScaffoldFile[] {
  const docroot = resolve(options.dir, options.docroot);
  const appDir = options.relay === null ? null : resolve(options.dir);
  const app = posix(options.app);
  const file = (path: string, text: string, kind: ScaffoldFile['kind'], about: string, mode = 0o644) => ({
    path,
    text,
    mode,
    kind,
    about,
  });
  return [
    file(
      join(docroot, '.htaccess'),
      htaccess(options.script, appDir, builtFramework(options.dir) !== undefined),
      'htaccess',
      `runs ${options.script} with mod_fcgid, sends it the URLs that are not files${directPath(appDir)}, refuses the app's files`,
    ),
    file(
      join(docroot, options.script),
      launcher(options),
      'owned',
      options.relay === null
        ? `what Apache runs: #!${options.node}, NODE_ENV=production, loads ${app}`
        : `what Apache runs: through fcgi-relay, one Node process (${options.node}) for the site, NODE_ENV=production, loads ${app}`,
      0o755,
    ),
    file(
      resolve(options.dir, options.app),
      exampleApp(options.app.endsWith('.mjs')),
      'project',
      'your app (outside the document root)',
    ),
    file(
      join(docroot, 'package.json'),
      launcherPackageJson(options.script),
      'owned',
      `keeps ${options.script} CommonJS even if package.json says "type": "module"`,
    ),
    file(join(options.dir, 'package.json'), packageJson(options), 'project', 'its dependencies: libfcgi'),
  ];
}

/** For the .htaccess's line in the list: whether a relayed site is also reached through mod_proxy_fcgi, or why not. */
function directPath(appDir: string | null): string {
  if (appDir === null) return '';
  const unnamable = directPathRefusal(appDir);
  return unnamable === undefined
    ? ', and where Apache has mod_proxy_fcgi, straight to the running Node process'
    : ` (not through mod_proxy_fcgi where Apache has it: ${unnamable})`;
}

/** An .htaccess with init's block in it: in place of the one there, else first, before the rules that were there. */
export function withInitBlock(existing: string, block: string): string {
  const start = existing.indexOf(blockStart);
  const end = existing.indexOf(blockEnd, start);
  if (start >= 0 && end > start) {
    const after = existing.indexOf('\n', end);
    return existing.slice(0, start) + block + (after >= 0 ? existing.slice(after + 1) : '');
  }
  return `${block}\n${existing}`;
}

/** Makes dir and its missing parents with mode 755 (whatever the umask), leaving existing ones as they are. */
function makeDirectory(dir: string): void {
  if (existsSync(dir)) return;
  makeDirectory(dirname(dir));
  mkdirSync(dir);
  chmodSync(dir, 0o755);
}

/**
 * Writes the layout: the project's own files only where missing, init's own (the launcher, the document root's
 * package.json) again, and its block into an .htaccess that exists. Refuses, naming them, a launcher or document-root
 * package.json that init did not write, unless force is set.
 */
export function writeLayout(options: InitOptions): Array<ScaffoldFile & { outcome: Outcome }> {
  const files = scaffold(options);
  const foreign = files.filter(
    (file) =>
      file.kind === 'owned' && existsSync(file.path) && !readFileSync(file.path, 'utf8').includes(writtenByInit),
  );
  if (foreign.length > 0 && !options.force) {
    const names = foreign.map((file) => `  ${relative(process.cwd(), file.path) || file.path}`).join('\n');
    throw new InitError(`these files exist and were not written by libfcgi init (--force replaces them):\n${names}`);
  }
  return files.map((file) => {
    const exists = existsSync(file.path);
    if (file.kind === 'project' && exists) return { ...file, outcome: 'kept' as const };
    makeDirectory(dirname(file.path));
    const text =
      file.kind === 'htaccess' && exists ? withInitBlock(readFileSync(file.path, 'utf8'), file.text) : file.text;
    writeFileSync(file.path, text);
    chmodSync(file.path, file.mode); // exactly: a umask of 077 would hide .htaccess from an Apache without suexec
    return { ...file, outcome: exists ? ('updated' as const) : ('written' as const) };
  });
}
