// `libfcgi init [DIR] [options]`'s command line: where the layout goes, what it names, and the launcher's kind,
// checked so that the document root never serves the app's own files.
import { isAbsolute, relative, resolve } from 'node:path';
import { readCommand, UsageError } from '../args';
import { InitError, projectEntry, relayFor, usesAcceptLoop } from './project';

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

const initOptions = {
  docroot: { type: 'string' },
  script: { type: 'string' },
  app: { type: 'string' },
  force: { type: 'boolean' },
  'no-relay': { type: 'boolean' },
} as const;

export function parseInitArgs(argv: string[]): InitOptions {
  const { values, operands } = readCommand(argv, 'init', initOptions, 1);
  const dir = resolve(operands[0] ?? '.');
  const options: InitOptions = {
    dir,
    docroot: values.docroot ?? 'public_html',
    script: values.script ?? 'app.fcgi',
    app: values.app ?? projectEntry(dir),
    force: values.force ?? false,
    node: process.execPath,
    relay: null,
  };
  checkPlaces(options);
  if (/\s/.test(options.node)) {
    throw new InitError(
      `node is at '${options.node}': a #! line cannot name a path with spaces; install node elsewhere`,
    );
  }
  if (values['no-relay'] !== true && !usesAcceptLoop(resolve(dir, options.app))) options.relay = relayFor(dir);
  return options;
}

/** Refuses a launcher that .htaccess would not map, and a document root that would serve the app's files. */
function checkPlaces(options: InitOptions): void {
  if (!/^[^/\s]+\.fcgi$/.test(options.script)) {
    throw new UsageError(
      `--script takes a file name ending in .fcgi (what the .htaccess maps to mod_fcgid), got '${options.script}'`,
    );
  }
  const docroot = resolve(options.dir, options.docroot);
  const app = resolve(options.dir, options.app);
  if (docroot === options.dir || isInside(docroot, options.dir)) {
    throw new UsageError(
      `--docroot must not hold the app's folder ${options.dir}, which it would serve to anyone: got '${options.docroot}'`,
    );
  }
  if (app === docroot || isInside(docroot, app)) {
    throw new UsageError(
      `--app must be outside the document root, which the web server serves to anyone: got '${options.app}'`,
    );
  }
}

function isInside(parent: string, child: string): boolean {
  const path = relative(parent, child);
  return path !== '' && !path.startsWith('..') && !isAbsolute(path);
}
