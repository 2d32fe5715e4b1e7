// `libfcgi serve [APP] [options]`'s command line: what each option becomes, with mod_fcgid's defaults, and which
// document root and script to serve when APP is not given (init's layout).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { readCommand, UsageError } from './args';
import type { DocumentRoot } from './dev-site';

export interface ServeOptions {
  app: string;
  port: number;
  procs: number;
  concurrency: number;
  maxRequests: number;
  idleTimeout: number;
  env: Record<string, string>;
  wrapper: string[] | undefined;
  base: string;
  documentRoot: string;
  /** Served as Apache serves it with init's .htaccess (--docroot, or public_html found). */
  root: DocumentRoot | undefined;
  maxRequestLen: number;
}

/** mod_fcgid's default FcgidMaxRequestLen. */
export const defaultMaxRequestLen = 131072;

const serveOptions = {
  port: { type: 'string' },
  procs: { type: 'string' },
  concurrency: { type: 'string' },
  'max-requests': { type: 'string' },
  'idle-timeout': { type: 'string' },
  env: { type: 'string', multiple: true },
  wrapper: { type: 'string' },
  base: { type: 'string' },
  'document-root': { type: 'string' },
  docroot: { type: 'string' },
  'max-request-len': { type: 'string' },
} as const;

function count(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new UsageError(`--${name} takes a whole number from ${min}, got '${value}'`);
  }
  return Number(value);
}

function environment(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new UsageError(`--env takes NAME=VALUE, got '${pair}'`);
    env[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return env;
}

export function parseServeArgs(argv: string[]): ServeOptions {
  const { values, operands } = readCommand(argv, 'serve', serveOptions, 1);
  const [app] = operands;
  const port = count('port', values.port, 8080, 0);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const base = (values.base ?? '').replace(/\/+$/, '');
  if (base !== '' && !base.startsWith('/')) throw new UsageError(`--base must start with /, got '${values.base}'`);
  const root = app === undefined || values.docroot !== undefined ? documentRoot(app, values.docroot) : undefined;
  if (root !== undefined && values.base !== undefined) {
    throw new UsageError('--base does not go with a document root: SCRIPT_NAME is where the script is in it');
  }
  if (root !== undefined && values['document-root'] !== undefined) {
    throw new UsageError(
      'give --docroot (served as Apache serves it) or --document-root (DOCUMENT_ROOT only), not both',
    );
  }
  const appPath = root === undefined ? resolve(app as string) : join(root.dir, root.script);
  return {
    app: appPath,
    port,
    procs: count('procs', values.procs, 4, 1),
    concurrency: count('concurrency', values.concurrency, 1, 1),
    maxRequests: count('max-requests', values['max-requests'], 0, 0),
    idleTimeout: count('idle-timeout', values['idle-timeout'], 300, 0),
    env: environment(values.env ?? []),
    wrapper: values.wrapper?.split(' ').filter(Boolean),
    base: root === undefined ? base : `/${root.script}`,
    documentRoot: root?.dir ?? resolve(values['document-root'] ?? dirname(appPath)),
    root,
    maxRequestLen: count('max-request-len', values['max-request-len'], defaultMaxRequestLen, 0),
  };
}

/**
 * The document root to serve and its script: --docroot DIR, or public_html when it holds app.fcgi (init's layout);
 * the script is APP, else DIR's app.fcgi, else the one .fcgi file in DIR.
 */
function documentRoot(app: string | undefined, docroot: string | undefined): DocumentRoot {
  const dir = resolve(docroot ?? 'public_html');
  if (docroot === undefined && !existsSync(join(dir, 'app.fcgi'))) {
    throw new UsageError('serve needs the app to run, or a public_html/app.fcgi here, as `libfcgi init` makes');
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--docroot ${docroot}: not a directory`);
  if (app !== undefined) {
    const script = relative(dir, resolve(app));
    if (script.startsWith('..') || resolve(app) === dir) {
      throw new UsageError(`${app} is not in the document root ${dir}: Apache runs only what is in it`);
    }
    return { dir, script: script.split(sep).join('/') };
  }
  if (existsSync(join(dir, 'app.fcgi'))) return { dir, script: 'app.fcgi' };
  const scripts = readdirSync(dir).filter((name) => name.endsWith('.fcgi'));
  if (scripts.length !== 1) {
    throw new UsageError(
      `${dir} holds ${scripts.length === 0 ? 'no .fcgi script' : 'several .fcgi scripts'}: name one`,
    );
  }
  return { dir, script: scripts[0] as string };
}
