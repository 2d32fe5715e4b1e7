#!/usr/bin/env node
// npm's install step: builds the addon against libfcgi when one is found (scripts/find-libfcgi.js), else puts the
// prebuilt binary for this platform where `bindings` finds it, else says every way to get libfcgi.
//
// LIBFCGI_BUILD=source builds or fails, LIBFCGI_BUILD=prebuilt takes the prebuilt binary or fails; unset, both are
// tried in that order. See docs/install.md.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { findLibfcgi, missingMessage, prebuiltPlatforms, routes } = require('./find-libfcgi');

const root = path.join(__dirname, '..');
const addon = path.join(root, 'build', 'Release', 'fcgi.node');
const platform = `${process.platform}-${process.arch}`;
const prebuilt = path.join(root, 'prebuilds', platform, 'fcgi.node');
// The relay init's launchers name (lib/relay): node-gyp builds it beside the addon; the prebuilt set has one.
const relay = path.join(root, 'build', 'Release', 'fcgi-relay');
const prebuiltRelay = path.join(root, 'prebuilds', platform, 'fcgi-relay');
const say = (line) => process.stderr.write(`libfcgi: ${line}\n`);

/** node-gyp as npm runs it for addons (npm_config_node_gyp), else a local one, else the one on PATH. */
function nodeGyp() {
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    return ['node-gyp'];
  }
}

/** Whether the addon at file loads in a fresh Node; returns the loader's error otherwise. */
function loadError(file) {
  const result = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  if (result.status === 0) return null;
  return (result.stderr || result.error?.message || 'exit status ' + result.status).trim().split('\n').slice(-3);
}

/** Builds against the libfcgi found; returns null, or why it failed (the output's last lines when it was hidden). */
function buildFromSource(found, showOutput) {
  say(`building the addon against libfcgi from ${found.via}`);
  const [command, ...args] = nodeGyp();
  const result = spawnSync(command, [...args, 'rebuild'], {
    cwd: root,
    encoding: 'utf8',
    stdio: showOutput ? 'inherit' : 'pipe',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) return [`could not run node-gyp: ${result.error.message}`];
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n');
    return ['node-gyp rebuild failed' + (showOutput ? ' (its output is above)' : ':'), ...output.slice(-12)];
  }
  const error = loadError(addon);
  return error && ['the addon was built but does not load:', ...error];
}

/** Copies the prebuilt binary where `bindings` looks; returns null, or why it cannot be used. */
function usePrebuilt() {
  if (!fs.existsSync(prebuilt)) {
    return [`no prebuilt binary for ${platform} (there are for: ${prebuiltPlatforms().join(', ') || 'none'})`];
  }
  fs.rmSync(path.join(root, 'build'), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(addon), { recursive: true });
  fs.copyFileSync(prebuilt, addon);
  if (fs.existsSync(prebuiltRelay)) {
    fs.copyFileSync(prebuiltRelay, relay);
    fs.chmodSync(relay, 0o755);
  }
  const error = loadError(addon);
  if (error) {
    fs.rmSync(addon);
    return [`the prebuilt binary for ${platform} does not load here (it needs glibc 2.28 or newer):`, ...error];
  }
  return null;
}

function fail(lines) {
  process.stderr.write('\n' + lines.join('\n') + '\n\n');
  process.exit(1);
}

const mode = process.env.LIBFCGI_BUILD || 'auto';
if (!['auto', 'source', 'prebuilt'].includes(mode)) {
  fail([`libfcgi: LIBFCGI_BUILD must be "source" or "prebuilt" (or unset to try both), not "${mode}".`]);
}

if (mode === 'prebuilt') {
  const problem = usePrebuilt();
  if (problem) fail([`libfcgi: LIBFCGI_BUILD=prebuilt, but ${problem[0]}`, ...problem.slice(1)]);
  say(`using the prebuilt binary for ${platform} (libfcgi 2.4.2 linked in), as LIBFCGI_BUILD=prebuilt asks`);
  process.exit(0);
}

const found = findLibfcgi();
if (mode === 'source') {
  if (!found.found) fail([missingMessage(found.looked)]);
  const problem = buildFromSource(found, true);
  if (problem) fail([`libfcgi: ${problem.join('\n  ')}`, '  Without a compiler: LIBFCGI_BUILD=prebuilt npm install']);
  process.exit(0);
}

// auto: a build against a libfcgi that is there, else the prebuilt binary.
if (found.found) {
  const buildProblem = buildFromSource(found, false);
  if (!buildProblem) process.exit(0);
  say(buildProblem.join('\n  '));
}
const prebuiltProblem = usePrebuilt();
if (!prebuiltProblem) {
  const why = found.found ? 'the build failed' : `no libfcgi was found (${found.looked.join('; ')})`;
  say(`using the prebuilt binary for ${platform} (libfcgi 2.4.2 linked in), as ${why}`);
  process.exit(0);
}
if (!found.found) fail([missingMessage([...found.looked, `prebuilt binary: ${prebuiltProblem.join('\n  ')}`])]);
fail([
  `libfcgi: building against libfcgi from ${found.via} failed (above), and ${prebuiltProblem.join('\n  ')}`,
  '',
  ...routes().map((line) => '  ' + line),
]);
