#!/usr/bin/env node
// Finds the libfcgi to build the addon against: prints its compiler or linker flags for binding.gyp, or says what was
// looked at and every way to get libfcgi. scripts/build-addon.js (`libfcgi build`) uses it as a module.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const systemHeaderDirs = ['/usr/include', '/usr/local/include', '/opt/homebrew/include'];
const systemLibDirs = [
  '/usr/lib',
  '/usr/lib64',
  '/usr/local/lib',
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
];

/** The platforms that have a prebuilt binary in prebuilds/, as process.platform-process.arch. */
function prebuiltPlatforms() {
  const dir = path.join(__dirname, '..', 'prebuilds');
  try {
    return fs.readdirSync(dir).filter((name) => fs.existsSync(path.join(dir, name, 'fcgi.node')));
  } catch {
    return [];
  }
}

function pkgConfig(args, env) {
  try {
    const stdout = execFileSync('pkg-config', args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
    return { ok: true, stdout: stdout.trim() };
  } catch (error) {
    return { ok: false, missing: error.code === 'ENOENT' };
  }
}

/** A library directory outside the loader's default path needs an rpath, so that the addon finds libfcgi.so.0. */
function rpathFor(libDir) {
  return systemLibDirs.includes(path.resolve(libDir)) ? [] : [`-Wl,-rpath,${libDir}`];
}

/**
 * Looks for libfcgi: under LIBFCGI_PREFIX when it is set (and only there), else with pkg-config (which honours
 * PKG_CONFIG_PATH), else in the system directories. LIBFCGI_SYSROOT (for tests) puts the system directories under
 * another root and skips pkg-config.
 *
 * Returns { found: true, via, cflags, libs } or { found: false, looked } with one line per place looked at.
 */
function findLibfcgi(env = process.env) {
  const looked = [];

  // A quoted ~ reaches us unexpanded.
  const prefix = env.LIBFCGI_PREFIX?.replace(/^~(?=\/|$)/, os.homedir());
  if (prefix) {
    const includeDir = path.join(prefix, 'include');
    const libDir = ['lib', 'lib64'].map((dir) => path.join(prefix, dir)).find((dir) => fs.existsSync(dir));
    const hasHeader = fs.existsSync(path.join(includeDir, 'fcgiapp.h'));
    const hasShared = libDir !== undefined && fs.existsSync(path.join(libDir, 'libfcgi.so'));
    if (hasHeader && hasShared) {
      return { found: true, via: `LIBFCGI_PREFIX=${prefix}`, cflags: [`-I${includeDir}`], libs: libsIn(libDir) };
    }
    const missing = [
      hasHeader ? null : `${includeDir}/fcgiapp.h`,
      hasShared ? null : `libfcgi.so in ${path.join(prefix, 'lib')} or ${path.join(prefix, 'lib64')}`,
    ].filter(Boolean);
    looked.push(`LIBFCGI_PREFIX=${prefix}: no ${missing.join(', no ')} (only this prefix is searched while it is set)`);
    return { found: false, looked };
  }
  looked.push('LIBFCGI_PREFIX: not set');

  const root = env.LIBFCGI_SYSROOT ?? '';
  const pkgConfigPath = env.PKG_CONFIG_PATH ? `PKG_CONFIG_PATH=${env.PKG_CONFIG_PATH}` : 'PKG_CONFIG_PATH not set';
  if (root) {
    looked.push('pkg-config: not run (LIBFCGI_SYSROOT is set)');
  } else {
    const exists = pkgConfig(['--exists', 'fcgi'], env);
    if (exists.missing) {
      looked.push('pkg-config: not installed, so not run');
    } else if (!exists.ok) {
      looked.push(`pkg-config: no package "fcgi" (${pkgConfigPath})`);
    } else {
      const variable = (name) => pkgConfig([`--variable=${name}`, 'fcgi'], env).stdout ?? '';
      const words = (flag) => (pkgConfig([flag, 'fcgi'], env).stdout ?? '').split(/\s+/).filter(Boolean);
      const cflags = words('--cflags');
      const libDir = variable('libdir');
      // libfcgi's own fcgi.pc has neither Cflags nor includedir: its headers are in the prefix's include/.
      const includeDirs = [
        ...cflags.filter((flag) => flag.startsWith('-I')).map((flag) => flag.slice(2)),
        variable('includedir'),
        variable('prefix') && path.join(variable('prefix'), 'include'),
      ].filter(Boolean);
      const includeDir = includeDirs.find((dir) => fs.existsSync(path.join(dir, 'fcgiapp.h')));
      if (includeDir !== undefined) {
        const libs = words('--libs');
        if (!libs.includes('-lfcgi')) libs.push('-lfcgi');
        const needsInclude = !cflags.includes(`-I${includeDir}`) && !systemHeaderDirs.includes(includeDir);
        return {
          found: true,
          via: `pkg-config (fcgi.pc, libdir ${libDir})`,
          cflags: [...cflags, ...(needsInclude ? [`-I${includeDir}`] : [])],
          libs: [...libs, ...(libDir ? rpathFor(libDir) : [])],
        };
      }
      looked.push(`pkg-config: package "fcgi" found (${pkgConfigPath}), but no fcgiapp.h in ${includeDirs.join(', ')}`);
    }
  }

  const exists = (file) => fs.existsSync(root + file);
  const headerDir = systemHeaderDirs.find((dir) => exists(`${dir}/fcgiapp.h`));
  const libDir = systemLibDirs.find((dir) => exists(`${dir}/libfcgi.so`) || exists(`${dir}/libfcgi.a`));
  if (headerDir !== undefined && libDir !== undefined) {
    return { found: true, via: `${headerDir}/fcgiapp.h and ${libDir}`, cflags: [], libs: ['-lfcgi'] };
  }
  looked.push(`fcgiapp.h in ${systemHeaderDirs.join(', ')}: ${headerDir === undefined ? 'not found' : 'found'}`);
  looked.push(`libfcgi.so or .a in ${systemLibDirs.join(', ')}: ${libDir === undefined ? 'not found' : 'found'}`);
  return { found: false, looked };
}

function libsIn(libDir) {
  return [`-L${libDir}`, ...rpathFor(libDir), '-lfcgi'];
}

/** Every way to get libfcgi, those without root first; prebuilt lists the platforms that have a prebuilt binary. */
function routes(prebuilt = prebuiltPlatforms()) {
  const here = `${process.platform}-${process.arch}`;
  return [
    'Without root: build libfcgi (2.4.5 or newer: https://github.com/FastCGI-Archives/fcgi2/releases) into ~/.local,',
    'then build the addon against it (needs a C compiler, autoconf, automake and libtool):',
    '    tar xf fcgi2-2.4.*.tar.gz && cd fcgi2-2.4.*',
    '    ./autogen.sh && ./configure --prefix="$HOME/.local" && make && make install',
    '    LIBFCGI_PREFIX="$HOME/.local" npx libfcgi build',
    '  (or PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig" in place of LIBFCGI_PREFIX).',
    'Without a compiler: nothing to build where the package has a prebuilt binary (libfcgi linked in, glibc 2.28 or',
    '  newer), ' +
      (prebuilt.length > 0 ? `for ${prebuilt.join(', ')}` : 'which this copy of the package lacks') +
      (prebuilt.length > 0 && !prebuilt.includes(here) ? ` (not ${here})` : '') +
      ': it loads as installed.',
    'As root: apt-get install libfcgi-dev     (Debian, Ubuntu)',
    '         dnf install fcgi-devel          (Fedora, RHEL)',
    '         brew install fcgi               (macOS)',
  ];
}

/** What was looked at and every way to get libfcgi, for a message. */
function missingMessage(looked, prebuilt) {
  return [
    'libfcgi: the C FastCGI library was not found.',
    ...looked.map((line, index) => (index === 0 ? '  Looked at: ' : '             ') + line),
    '',
    ...routes(prebuilt).map((line) => '  ' + line),
  ].join('\n');
}

module.exports = { findLibfcgi, missingMessage, prebuiltPlatforms, routes };

if (require.main === module) {
  const what = process.argv[2]; // "cflags" or "libs"
  const result = findLibfcgi();
  if (result.found) {
    process.stdout.write((what === 'libs' ? result.libs : result.cflags).join(' '));
  } else {
    process.stderr.write('\n' + missingMessage(result.looked) + '\n\n');
    process.exit(1);
  }
}
