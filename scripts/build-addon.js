#!/usr/bin/env node
// Builds the addon and the relay from source against the libfcgi that scripts/find-libfcgi.js finds, and puts them in
// build/Release/, where the package looks before its prebuilt binaries (lib/addon/native.ts). A choice, never an install
// step: `npx libfcgi build` in a project, `npm run build` in this repository.
//
// Node's headers come from the Node running this when it has them (no download); node-gyp's own output is kept in
// build/node-gyp.log, and a failed build prints the compiler's or linker's error lines rather than gyp's stack.
// --keep-objects keeps node-gyp's work in native/build for the next build (the repository's); without it only the two
// products are left.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { findLibfcgi, missingMessage } = require('./find-libfcgi');

const root = path.join(__dirname, '..');
const gypDir = path.join(root, 'native');
const products = ['fcgi.node', 'fcgi-relay'];
const out = path.join(root, 'build', 'Release');
const log = path.join(root, 'build', 'node-gyp.log');
const say = (line) => process.stderr.write(`libfcgi: ${line}\n`);

/** node-gyp as npm gives it to scripts, else this package's or the project's, else the one on PATH. */
function nodeGyp() {
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js', { paths: [root, process.cwd()] })];
  } catch {
    return ['node-gyp'];
  }
}

/** A folder holding include/node/node_api.h for the Node running this (npm's nodedir, else Node's own prefix). */
function localHeaders() {
  const candidates = [process.env.npm_config_nodedir, path.dirname(path.dirname(process.execPath))];
  return candidates.find((dir) => dir && fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')));
}

/** The lines of a failed build that say why: the compiler's and linker's, else node-gyp's own reason, not its stack. */
function causeLines(output) {
  const lines = output.split('\n');
  const compiler = lines.filter(
    (line) =>
      /\b(error|Error)\b|undefined reference|cannot find -l|No such file|fatal/.test(line) &&
      !/^gyp (ERR|info|http)|make(\[\d+\])?: \*\*\*|^npm (ERR|error)/.test(line),
  );
  if (compiler.length > 0) return [...new Set(compiler)].slice(0, 20);
  const gyp = lines.find((line) => /^gyp ERR! stack \w*Error: /.test(line));
  return [gyp ? gyp.replace(/^gyp ERR! stack /, 'node-gyp: ') : (lines.filter(Boolean).pop() ?? 'no output')];
}

/** Whether file loads in a fresh Node; the loader's last lines otherwise. */
function loadError(file) {
  const result = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  return result.status === 0 ? null : (result.stderr || `exit status ${result.status}`).trim().split('\n').slice(-3);
}

function build(args) {
  const keepObjects = args.includes('--keep-objects');
  const found = findLibfcgi();
  if (!found.found) {
    process.stderr.write(`\n${missingMessage(found.looked)}\n\n`);
    return 1;
  }
  const headers = localHeaders();
  say(`building the addon against libfcgi from ${found.via}, with Node's headers from ${headers ?? 'nodejs.org'}`);
  const [command, ...gypArgs] = nodeGyp();
  const incremental = keepObjects && fs.existsSync(path.join(gypDir, 'build', 'Makefile'));
  const gyp = [...gypArgs, incremental ? 'build' : 'rebuild', '--jobs=max', `--directory=${gypDir}`];
  if (headers) gyp.push(`--nodedir=${headers}`);
  const result = spawnSync(command, gyp, { cwd: root, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  fs.mkdirSync(path.dirname(log), { recursive: true });
  fs.writeFileSync(log, `${result.stdout ?? ''}${result.stderr ?? ''}`);
  if (result.error || result.status !== 0) {
    const why = result.error
      ? [`could not run node-gyp: ${result.error.message}`]
      : causeLines(fs.readFileSync(log, 'utf8'));
    process.stderr.write(`\nlibfcgi: the build failed:\n${why.map((line) => `  ${line}`).join('\n')}\n`);
    process.stderr.write(`  (node-gyp's whole output: ${log})\n\n`);
    return 1;
  }
  fs.mkdirSync(out, { recursive: true });
  for (const product of products) {
    const target = path.join(out, product);
    // Unlink first: a running relay keeps its old file (copying over it fails with ETXTBSY).
    fs.rmSync(target, { force: true });
    fs.copyFileSync(path.join(gypDir, 'build', 'Release', product), target);
  }
  if (!keepObjects) fs.rmSync(path.join(gypDir, 'build'), { recursive: true, force: true });
  const error = loadError(path.join(out, 'fcgi.node'));
  if (error) {
    process.stderr.write(`\nlibfcgi: the addon was built but does not load:\n  ${error.join('\n  ')}\n\n`);
    return 1;
  }
  say(`built ${path.relative(process.cwd(), out) || '.'}/fcgi.node and fcgi-relay: they are used from now on`);
  return 0;
}

module.exports = { build };

if (require.main === module) process.exitCode = build(process.argv.slice(2));
