// The text of each file `libfcgi init` writes: a template of templates/ with this site's paths in its placeholders,
// or, for the package.json files, JSON. The templates ship in the package beside this code's source (package.json's
// "files" has lib/) and are read from there at run time: tsc copies no .tmpl file into dist/.
import { readFileSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { directPathRefusal } from '../../relay/proxy-socket';
import { packageRoot, packageVersion } from '../package-info';
import type { InitOptions } from './args';
import { isEsModule, relaySocketOf } from './project';

const templates = join(packageRoot, 'lib', 'cli', 'init', 'templates');

/**
 * templates/NAME.tmpl with its {{placeholders}} filled from values: one alone on its line stands for whole lines (none
 * when its value is empty), any other for text within a line. Values are put in as they are, never read as templates.
 */
export function fill(name: string, values: Record<string, string>): string {
  const text = readFileSync(join(templates, `${name}.tmpl`), 'utf8');
  const value = (key: string): string => {
    const filled = values[key];
    if (filled === undefined) throw new Error(`the template ${name}.tmpl has {{${key}}}, which nothing fills`);
    return filled;
  };
  return text.replace(/^\{\{(\w+)\}\}\n|\{\{(\w+)\}\}/gm, (_, line?: string, inline?: string) => {
    if (inline !== undefined) return value(inline);
    const lines = value(line as string);
    return lines === '' || lines.endsWith('\n') ? lines : `${lines}\n`;
  });
}

/** A relative path for code, with forward slashes. */
export const posix = (path: string): string => path.split(sep).join('/');

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
 * init's .htaccess block; appDir (absolute) for a relayed launcher, which the web server may reach directly; builtApp
 * when the project holds a framework's build, whose static files are copied here.
 */
export function htaccess(script: string, appDir: string | null = null, builtApp = false): string {
  return fill('htaccess', {
    script,
    refusals: refusedPaths.map((path) => `RewriteRule ${path} - [F]`).join('\n'),
    // Where Apache has mod_proxy_fcgi, requests skip mod_fcgid for the site's Node process while one runs (the flag
    // that lib/relay/proxy-socket.ts keeps names it): only for a relayed launcher in a folder a rule can name.
    proxyRules:
      appDir === null || directPathRefusal(appDir) !== undefined
        ? ''
        : fill('htaccess-proxy', { folder: `${appDir}/.libfcgi-proxy` }),
    // A framework's static files are revalidated at every use; the app's own responses keep the headers it gave.
    staticFileRules: builtApp ? fill('htaccess-static-files', { launcher: script.replace(/[.]/g, '[.]') }) : '',
  });
}

/** The launcher Apache runs: through the relay, or node itself; it prepares the process and loads the app. */
export function launcher(options: InitOptions): string {
  const docroot = resolve(options.dir, options.docroot);
  const app = resolve(options.dir, options.app);
  const preamble =
    options.relay === null
      ? fill('launcher-preamble-node', { node: options.node })
      : fill('launcher-preamble-relay', {
          relay: options.relay,
          node: options.node,
          relaySocket: relaySocketOf(options.dir),
          relayLog: join(options.dir, 'logs', 'app.log'),
        });
  const appFile = quote(posix(relative(docroot, app)));
  return fill('launcher', {
    preamble,
    appDir: quote(posix(relative(docroot, options.dir))),
    appName: basename(options.app),
    load: fill(isEsModule(app) ? 'launcher-load-import' : 'launcher-load-require', { appFile }),
  });
}

/** The example app, an ES module or CommonJS. */
export function exampleApp(esm: boolean): string {
  return fill(
    'example-app',
    esm
      ? { imports: `import { createServer } from 'libfcgi';`, expressImport: `//   import express from 'express';` }
      : {
          imports: `'use strict';\nconst { createServer } = require('libfcgi');`,
          expressImport: `//   const express = require('express');`,
        },
  );
}

/** The npm package name for a directory name: lower case, URL-safe, not starting with a dot or an underscore. */
function packageName(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, '-')
    .replace(/^[._-]+|-+$/g, '');
  return name || 'app';
}

/** The project's package.json, for a new project. */
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
