// `libfcgi init [DIR]`: lays out an app the way a shared host runs it under Apache's mod_fcgid: a document root that
// holds only an .htaccess and the launcher app.fcgi, and the app's own code (package.json, app.js) beside it, where
// the web server does not serve it. On an existing project it never changes the project's files: it finds the app's
// entry, writes the launcher, and adds its block to an .htaccess that exists; run again, it updates only what it owns.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { addonCandidates, commandLine, hasAddon, platform } from '../addon-binary';
import { builtFramework, publishAssets, type Published } from '../framework-assets';
import { directPathRefusal } from '../relay/proxy-socket';
import { packageRoot, packageVersion } from './package-info';

export interface InitOptions {
  /** The app's directory (made when missing). */
  dir: string;
  /** The document root, relative to dir. */
  docroot: string;
  /** The launcher's file name in the document root; ends in .fcgi, which the .htaccess maps to mod_fcgid. */
  script: string;
  /** The app's main file, relative to dir, outside the document root. */
  app: string;
  /** Replace a launcher (or the document root's package.json) that init did not write. */
  force: boolean;
  /** The node that runs the app: the one running init. */
  node: string;
  /**
   * The relay the launcher's #! line names (lib/relay): mod_fcgid's processes are then relays, and the site has one
   * Node process. null for a launcher that is node itself (--no-relay, or an app on the synchronous accept() loop).
   */
  relay: string | null;
}

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

/** The mark of what init wrote: in the launcher, the document root's package.json, and its .htaccess block. */
const writtenByInit = 'libfcgi init';
const blockStart = '# BEGIN libfcgi init';
const blockEnd = '# END libfcgi init';

/** A mistake in the command line, or files that are in the way: the message says which. */
export class InitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export function parseInitArgs(argv: string[]): InitOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      docroot: { type: 'string' },
      script: { type: 'string' },
      app: { type: 'string' },
      force: { type: 'boolean' },
      'no-relay': { type: 'boolean' },
    },
  });
  const [command, dir = '.', ...extra] = positionals;
  if (command !== 'init') throw new InitError(`unknown command '${command}'`, 2);
  if (extra.length > 0) throw new InitError(`unexpected arguments: ${extra.join(' ')}`, 2);
  const options: InitOptions = {
    dir: resolve(dir),
    docroot: values.docroot ?? 'public_html',
    script: values.script ?? 'app.fcgi',
    app: values.app ?? projectEntry(resolve(dir)),
    force: values.force ?? false,
    node: process.execPath,
    relay: null,
  };
  if (!/^[^/\s]+\.fcgi$/.test(options.script)) {
    throw new InitError(
      `--script takes a file name ending in .fcgi (what the .htaccess maps to mod_fcgid), got '${options.script}'`,
      2,
    );
  }
  const docroot = resolve(options.dir, options.docroot);
  const app = resolve(options.dir, options.app);
  if (docroot === options.dir || isInside(docroot, options.dir)) {
    throw new InitError(
      `--docroot must not hold the app's folder ${options.dir}, which it would serve to anyone: got '${options.docroot}'`,
      2,
    );
  }
  if (app === docroot || isInside(docroot, app)) {
    throw new InitError(
      `--app must be outside the document root, which the web server serves to anyone: got '${options.app}'`,
      2,
    );
  }
  if (/\s/.test(options.node)) {
    throw new InitError(
      `node is at '${options.node}': a #! line cannot name a path with spaces; install node elsewhere`,
      1,
    );
  }
  if (values['no-relay'] !== true && !usesAcceptLoop(app)) options.relay = relayFor(options.dir);
  return options;
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
 * The relay binary for a launcher in dir: the one beside the addon that loads (a source build's, else the prebuilt
 * one) of the libfcgi that the project's node_modules holds (dir's or a parent's), else of the libfcgi running init. It must be a file by
 * then: a #! line naming a missing program fails where nobody sees why.
 */
export function relayFor(dir: string): string {
  const roots: string[] = [];
  // The project's node_modules/libfcgi as it is named, not its real path: under pnpm that is a symlink into the
  // store, whose folder changes name with every update, while the symlink follows it.
  for (let folder = resolve(dir); ; folder = dirname(folder)) {
    const installed = join(folder, 'node_modules', 'libfcgi');
    if (existsSync(join(installed, 'package.json'))) {
      roots.push(installed);
      break;
    }
    if (dirname(folder) === folder) break;
  }
  roots.push(packageRoot);
  const relay = roots
    .flatMap((root) => addonCandidates(root).map((addon) => join(root, dirname(addon), 'fcgi-relay')))
    .find((file) => existsSync(file));
  if (relay === undefined) {
    throw new InitError(
      hasAddon()
        ? `the relay (fcgi-relay, beside the addon) is missing from libfcgi: run \`${commandLine('build')}\`, or ` +
            'write a launcher that runs node for every process with --no-relay'
        : `libfcgi has no binaries for ${platform}: run init on the Linux host that will serve the site`,
      1,
    );
  }
  if (/\s/.test(relay) || relay.length > maxShebangPath) {
    throw new InitError(
      `the relay is at '${relay}': a #! line cannot name a path with spaces or longer than ${maxShebangPath} ` +
        'characters; move the project, or use --no-relay',
      1,
    );
  }
  return relay;
}

/** Kernels before Linux 5.1 (CloudLinux 7 and 8 among them) read only the first 127 bytes of a #! line. */
const maxShebangPath = 125;

/**
 * The app's entry in an existing project: package.json's main, else the file its start script runs with node, else
 * the server entry of a framework's build (lib/framework-assets.ts), else the first of app.js, server.js, index.js
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

function isInside(parent: string, child: string): boolean {
  const path = relative(parent, child);
  return path !== '' && !path.startsWith('..') && !isAbsolute(path);
}

/** The npm package name for a directory name: lower case, URL-safe, not starting with a dot or an underscore. */
function packageName(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, '-')
    .replace(/^[._-]+|-+$/g, '');
  return name || 'app';
}

/** A relative path for code, with forward slashes. */
const posix = (path: string): string => path.split(sep).join('/');

/** A JavaScript string literal in single quotes. */
const quote = (text: string): string => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The paths the .htaccess refuses with [F] (node_modules, package files, restart.txt, dotfiles but .well-known), as
 * patterns that mean the same to mod_rewrite and to JavaScript, so that `libfcgi serve` refuses exactly these.
 */
export const refusedPaths = [
  String.raw`(^|/)node_modules(/|$)`,
  String.raw`(^|/)(package(-lock)?\.json|npm-shrinkwrap\.json|restart\.txt)$`,
  String.raw`(^|/)\.(?!well-known(/|$))`,
] as const;

/**
 * Where Apache has mod_proxy_fcgi, requests skip mod_fcgid for the site's Node process while one runs (the flag that
 * lib/relay/proxy-socket.ts keeps names it). Only for a relayed launcher in a folder whose path a rule can name.
 */
function proxyRules(appDir: string | null): string {
  if (appDir === null || directPathRefusal(appDir) !== undefined) return '';
  const folder = `${appDir}/.libfcgi-proxy`;
  return `# Where Apache has mod_proxy_fcgi (hosts that run PHP-FPM load it), a URL that is not a file goes straight to the
# site's Node process while one runs, as the flag file names: no mod_fcgid process slot, no wait for one. Otherwise,
# and while none runs, the next rule sends it to the launcher, whose relay starts the Node process.
<IfModule mod_proxy_fcgi.c>
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond ${folder}/live -s
RewriteRule ^ - [H=proxy:unix:${folder}/app.sock|fcgi://localhost/,L]
</IfModule>
`;
}

/**
 * For a framework's build: the static files the launcher copies here are revalidated at every use (public,
 * max-age=0, as Next.js's and Astro's servers send them); the hashed folders' own .htaccess says a year. Files only:
 * the app's responses (the request's file is then the launcher) keep the headers the app gave.
 */
function staticFileRules(script: string): string {
  const launcher = script.replace(/[.]/g, '[.]');
  return `# The build's static files, copied here: revalidated at every use, as its own server sends them; its hashed files
# are kept a year (the .htaccess in their folder). The app's own responses keep their headers.
<IfModule mod_headers.c>
Header set Cache-Control "public, max-age=0" "expr=-f %{REQUEST_FILENAME} && %{REQUEST_FILENAME} !~ m#/${launcher}$#"
</IfModule>
`;
}

/**
 * init's .htaccess block; appDir (absolute) for a relayed launcher, which the web server may reach directly; builtApp
 * when the project holds a framework's build, whose static files are copied here.
 */
export function htaccess(script: string, appDir: string | null = null, builtApp = false): string {
  return `${blockStart}
# Written by \`libfcgi init\`: Apache runs ${script} with mod_fcgid and sends it every URL that is not a file here.
# It needs \`AllowOverride FileInfo Options\`, which shared hosts give. A site under a sub-path (an Alias, ~user/)
# may need \`RewriteBase /that/path/\` after RewriteEngine.

# ${script} is a FastCGI program: mod_fcgid starts it and keeps it running between requests.
AddHandler fcgid-script .fcgi
Options +ExecCGI

RewriteEngine On
# Never serve the app's own files, should they land here: node_modules, package files, restart.txt, and dotfiles
# (.env, .git, this file) but .well-known, which certificate checks use. [F] answers 403.
${refusedPaths.map((path) => `RewriteRule ${path} - [F]\n`).join('')}# Apache gives FastCGI programs no Authorization header (CGIPassAuth, which would, needs AllowOverride AuthConfig):
# copied here, req.headers.authorization holds it, as on node:http ([NV]: no Vary: Authorization line for it).
RewriteCond %{HTTP:Authorization} . [NV]
RewriteRule ^ - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
${proxyRules(appDir)}${builtApp ? staticFileRules(script) : ''}# Clean URLs: what is not a file here goes to the app, which gets the URL as the visitor typed it in REQUEST_URI
# (req.url), with SCRIPT_NAME=/${script}. Rewriting to "${script}" rather than "${script}/$1" keeps URLs with %23, %25
# or %3F working.
RewriteCond %{REQUEST_FILENAME} !-f
RewriteRule ^ ${script} [L]
${blockEnd}
`;
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

export function launcher(options: InitOptions): string {
  const docroot = resolve(options.dir, options.docroot);
  const appDir = posix(relative(docroot, options.dir));
  const appFile = posix(relative(docroot, resolve(options.dir, options.app)));
  const load = isEsModule(resolve(options.dir, options.app))
    ? `// An ES module, loaded with import(): this file itself must stay CommonJS.
import(require('node:url').pathToFileURL(path.join(__dirname, ${quote(appFile)})).href).catch((error) => {
  console.error(error);
  process.exit(1);
});`
    : `require(path.join(__dirname, ${quote(appFile)}));`;
  return `${options.relay === null ? unrelayedHead(options) : relayedHead(options)}'use strict';
const path = require('node:path');
const appDir = path.join(__dirname, ${quote(appDir)});
const launch = require(require.resolve('libfcgi/launch', { paths: [appDir] }));

// All the app prints (console.*, a crash's stack) goes to logs/app.log in its folder, which you can read: Apache's own
// error log is the server's. What it writes to stderr while serving a request also reaches the site's error log.
launch.startAppLog(path.join(appDir, 'logs', 'app.log'));
// Until the app listens, a failure to start answers visitors with a 503 page and retries after a growing pause.
launch.guardStart();
// A request still running after 5 s gets a line in the log with its method, URL and age.
launch.logSlowRequests(5000);

// The app's .env, as with node --env-file: the one place a shared-hosting account can set the process's environment
// (SetEnv in .htaccess sets request parameters only). Variables the process has already win.
const envFile = path.join(appDir, '.env');
if (require('node:fs').existsSync(envFile)) launch.loadEnvFile(envFile);

// Express and others hide stack traces from visitors only in production.
if (!process.env.NODE_ENV) process.env.NODE_ENV = 'production';

// Node.js 22.8 and later can keep compiled code between processes, so that each starts faster.
const { enableCompileCache } = require('node:module');
if (typeof enableCompileCache === 'function') {
  try {
    enableCompileCache(path.join(appDir, '.cache', 'node-compile'));
  } catch {
    // no cache: slower starts, nothing else
  }
}

// A framework's build (Next.js, Nuxt, SvelteKit, Astro) has its static files copied here, where Apache serves them
// itself: again at each start, so that a redeploy's new files are here before its pages are served.
launch.publishFrameworkAssets(appDir, __dirname);

// Relative paths in the app mean its own folder, as with \`node ${basename(options.app)}\`, not the document root.
process.chdir(appDir);
// An app that ends in its own listen() (Express's app.listen(PORT), Koa, Fastify, NestJS) is served unchanged (loading
// libfcgi/launch did it): its first server's listen() takes the FastCGI socket instead of a port.
${load}
`;
}

/** Where a relayed site's control socket and the relays' lock live: a folder of the app's, 0700. */
export function relaySocketOf(dir: string): string {
  return join(dir, '.libfcgi', 'relay.sock');
}

function relayedHead(options: InitOptions): string {
  return `#!${options.relay}
// Written by \`libfcgi init\`. Apache's mod_fcgid runs this file through fcgi-relay (the line above), a program of a
// few hundred kilobytes: each process mod_fcgid starts is a relay, which hands its socket to the site's one Node
// process (started with this file by the first relay, and ended when the last one goes). One Node process serves all
// requests at once, however many relays mod_fcgid runs. \`libfcgi init --no-relay\` writes a launcher without it.
// relay-node: ${options.node}
// relay-socket: ${relaySocketOf(options.dir)}
// relay-log: ${join(options.dir, 'logs', 'app.log')}
// After a deploy, touch this file or restart.txt beside it: the Node process tries the new code and, if it starts,
// finishes its requests and exits, and the relays start the new one; if it does not, the old code serves on and the
// error is logged.
`;
}

function unrelayedHead(options: InitOptions): string {
  return `#!${options.node}
// Written by \`libfcgi init\`. Apache's mod_fcgid runs this file (so the line above names node by its full path: node
// is not on the web server's PATH); it prepares the process and loads the app from outside the document root.
// After a deploy, touch this file or restart.txt beside it: each process tries the new code and, if it starts,
// finishes its requests and restarts in place with it; if it does not, the old code serves on and the error is logged.
`;
}

export function exampleApp(esm: boolean): string {
  const imports = esm
    ? `import { createServer } from 'libfcgi';`
    : `'use strict';\nconst { createServer } = require('libfcgi');`;
  const express = esm ? `//   import express from 'express';` : `//   const express = require('express');`;
  return `// The app: a request handler (req, res) as node:http has them, served by libfcgi's createServer() in each process
// that Apache's mod_fcgid starts. It answers every path with a page that shows the path, the process and when it
// started: a clean URL should reach it, and after a redeploy the start time changes.
${imports}

const startedAt = new Date();
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (char) => \`&#\${char.charCodeAt(0)};\`);

function handler(req, res) {
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(\`<!doctype html>
<html><head><meta charset="utf-8"><title>It works</title></head>
<body>
<h1>It works</h1>
<p>Path: <code>\${escapeHtml(req.url)}</code></p>
<p>Process \${process.pid}, started \${startedAt.toISOString()}, Node.js \${process.version}, NODE_ENV=\${escapeHtml(process.env.NODE_ENV)}</p>
</body></html>
\`);
}

// With Express instead (npm install express):
${express}
//   const app = express();
//   app.get('/', (req, res) => res.send('Hello from Express'));
//   createServer(app).listen();
createServer(handler).listen();
`;
}

export function packageJson(options: InitOptions): string {
  const manifest = {
    name: packageName(options.dir),
    version: '1.0.0',
    private: true,
    description: `Run by Apache mod_fcgid through ${posix(join(options.docroot, options.script))}`,
    main: posix(options.app),
    scripts: {
      start: options.docroot === 'public_html' ? 'libfcgi serve' : `libfcgi serve --docroot ${posix(options.docroot)}`,
    },
    dependencies: { libfcgi: `^${packageVersion()}` },
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/**
 * The document root's own package.json: Node reads a file with an unknown extension (.fcgi) as CommonJS only, and
 * fails with ERR_UNKNOWN_FILE_EXTENSION when the nearest package.json says "type": "module", as the app's may.
 */
export function launcherPackageJson(script: string): string {
  return `${JSON.stringify({ description: `${script} is CommonJS (written by libfcgi init)`, type: 'commonjs' }, null, 2)}\n`;
}

/** The files of the layout, in the order they are written. */
export function scaffold(options: InitOptions): ScaffoldFile[] {
  const docroot = resolve(options.dir, options.docroot);
  const appDir = options.relay === null ? null : resolve(options.dir);
  const unnamable = appDir === null ? undefined : directPathRefusal(appDir);
  const direct =
    appDir === null
      ? ''
      : unnamable === undefined
        ? ', and where Apache has mod_proxy_fcgi, straight to the running Node process'
        : ` (not through mod_proxy_fcgi where Apache has it: ${unnamable})`;
  return [
    {
      path: join(docroot, '.htaccess'),
      text: htaccess(options.script, appDir, builtFramework(options.dir) !== undefined),
      mode: 0o644,
      kind: 'htaccess',
      about: `runs ${options.script} with mod_fcgid, sends it the URLs that are not files${direct}, refuses the app's files`,
    },
    {
      path: join(docroot, options.script),
      text: launcher(options),
      mode: 0o755,
      kind: 'owned',
      about:
        options.relay === null
          ? `what Apache runs: #!${options.node}, NODE_ENV=production, loads ${posix(options.app)}`
          : `what Apache runs: through fcgi-relay, one Node process (${options.node}) for the site, NODE_ENV=production, loads ${posix(options.app)}`,
    },
    {
      path: resolve(options.dir, options.app),
      text: exampleApp(options.app.endsWith('.mjs')),
      mode: 0o644,
      kind: 'project',
      about: 'your app (outside the document root)',
    },
    {
      path: join(docroot, 'package.json'),
      text: launcherPackageJson(options.script),
      mode: 0o644,
      kind: 'owned',
      about: `keeps ${options.script} CommonJS even if package.json says "type": "module"`,
    },
    {
      path: join(options.dir, 'package.json'),
      text: packageJson(options),
      mode: 0o644,
      kind: 'project',
      about: 'its dependencies: libfcgi',
    },
  ];
}

/** Makes dir and its missing parents with mode 755 (whatever the umask), leaving existing ones as they are. */
function makeDirectory(dir: string): void {
  if (existsSync(dir)) return;
  makeDirectory(dirname(dir));
  mkdirSync(dir);
  chmodSync(dir, 0o755);
}

/** What init does to each file of the layout: write it, add its block, or leave the project's own one alone. */
export type Outcome = 'written' | 'updated' | 'kept';

/**
 * Writes the layout: the project's own files only where missing, init's own (the launcher, the document root's
 * package.json) again, and its block into an .htaccess that exists. Refuses, naming them, a launcher or document-root
 * package.json that init did not write, unless force is set.
 */
export function init(options: InitOptions): Array<ScaffoldFile & { outcome: Outcome }> {
  const files = scaffold(options);
  const foreign = files.filter(
    (file) =>
      file.kind === 'owned' && existsSync(file.path) && !readFileSync(file.path, 'utf8').includes(writtenByInit),
  );
  if (foreign.length > 0 && !options.force) {
    const names = foreign.map((file) => `  ${relative(process.cwd(), file.path) || file.path}`).join('\n');
    throw new InitError(`these files exist and were not written by libfcgi init (--force replaces them):\n${names}`, 1);
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

/** Whether the project's package.json names libfcgi as a dependency. */
function dependsOnLibfcgi(dir: string): boolean {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    return manifest.dependencies?.libfcgi !== undefined;
  } catch {
    return false;
  }
}

/** What to do next, as init prints it. */
export function nextSteps(
  options: InitOptions,
  files: Array<ScaffoldFile & { outcome: Outcome }>,
  published: Published | null = null,
): string {
  const shown = (path: string): string => relative(options.dir, path);
  const width = Math.max(...files.map((file) => shown(file.path).length));
  const done = { written: '', updated: '(updated) ', kept: '(yours, left as it is) ' };
  const assets =
    published === null
      ? ''
      : `\n  ${posix(options.docroot).padEnd(width)}  ${published.framework.name}'s static files (${published.framework.assets
          .map((asset) => asset.from)
          .join(', ')}): ${published.copied} copied, for Apache to serve; copied again at each start`;
  const list =
    files.map((file) => `  ${shown(file.path).padEnd(width)}  ${done[file.outcome]}${file.about}`).join('\n') + assets;
  const app = files.find((file) => file.kind === 'project' && file.path === resolve(options.dir, options.app));
  const visit =
    app?.outcome === 'written'
      ? 'Visit your site at / and at any other path: the page shows the path, the process id and when it started.'
      : `Visit your site: ${posix(options.app)} answers every URL that is not a file in ${posix(options.docroot)}.`;
  const rebuild =
    published === null ? '' : ` (a new ${published.framework.name} build: its static files are copied at the start)`;
  const install = dependsOnLibfcgi(options.dir) ? 'npm install' : 'npm install libfcgi';
  const where = relative(process.cwd(), options.dir);
  const cd = where === '' ? '' : `cd ${where.includes(' ') ? JSON.stringify(where) : where} && `;
  const docroot = posix(options.docroot);
  const script = posix(join(options.docroot, options.script));
  const serve = docroot === 'public_html' ? 'npx libfcgi serve' : `npx libfcgi serve --docroot ${docroot}`;
  return `Created in ${options.dir}:
${list}

Next:
  1. ${cd}${install}
  2. Try it here, run the way Apache runs it: ${serve}   (then open http://127.0.0.1:8080/anything)
  3. On the host, ${docroot} must be the site's document root (on cPanel, ~/public_html is the main domain's).
     suexec runs only files that are yours and not writable by others:
       chmod 755 ${script} && chmod go-w . ${docroot} && chmod 644 ${docroot}/.htaccess package.json ${posix(options.app)}
     (go-w keeps your host's 711 or 750 on the folders: suexec only asks that nobody else may write there)
     ${script} ${options.relay === null ? `starts ${options.node}` : `names fcgi-relay and ${options.node}`}: made on another machine, run init again on the host.
  4. ${visit}
  5. To redeploy: upload the new code (npm install if dependencies changed)${rebuild}, then
       touch ${script}   (or ${docroot}/restart.txt)
${
  options.relay === null
    ? `     Each process tries the new code and, if it starts, restarts in place with it (a new start time, the same
     process id); if it does not start, the old code serves on and logs/app.log says why.`
    : `     The Node process tries the new code and, if it starts, hands over to a new process running it (a new start
     time and process id); if it does not start, the old code serves on and logs/app.log says why.`
}
`;
}

export function runInit(argv: string[]): void {
  const options = parseInitArgs(argv);
  const files = init(options);
  let published: Published | null;
  try {
    published = publishAssets(resolve(options.dir), resolve(options.dir, options.docroot));
  } catch (error) {
    // The layout is written; the launcher tries again at every start.
    throw new InitError(
      `could not copy the build's static files into ${options.docroot}: ${(error as Error).message}`,
      1,
    );
  }
  process.stdout.write(nextSteps(options, files, published));
}
