#!/usr/bin/env node
// Finds the system libfcgi for binding.gyp: prints compiler or linker flags, or explains what is missing.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');

const what = process.argv[2]; // "cflags" or "libs"
// LIBFCGI_SYSROOT (for tests of this script) looks under another root and skips pkg-config.
const root = process.env.LIBFCGI_SYSROOT ?? '';

function pkgConfig(flag) {
  if (root) return null;
  try {
    return execFileSync('pkg-config', [flag, 'fcgi'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const headerDirs = ['/usr/include', '/usr/local/include', '/opt/homebrew/include'];
const libDirs = ['/usr/lib', '/usr/lib64', '/usr/local/lib', '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu'];
const exists = (path) => fs.existsSync(root + path);
const hasHeader = headerDirs.some((dir) => exists(`${dir}/fcgiapp.h`));
const hasLibrary = libDirs.some((dir) => exists(`${dir}/libfcgi.so`) || exists(`${dir}/libfcgi.a`));

const fromPkgConfig = pkgConfig(what === 'libs' ? '--libs' : '--cflags');
if (fromPkgConfig !== null && hasHeader) {
  process.stdout.write(fromPkgConfig + (what === 'libs' && !fromPkgConfig.includes('-lfcgi') ? ' -lfcgi' : ''));
} else if (hasHeader && hasLibrary) {
  process.stdout.write(what === 'libs' ? '-lfcgi' : '');
} else {
  process.stderr.write(
    [
      '',
      'libfcgi: the C FastCGI library was not found.',
      '  Looked for: pkg-config package "fcgi", fcgiapp.h in ' + headerDirs.join(', ') + ',',
      '              and libfcgi.so in ' + libDirs.join(', ') + '.',
      '  Install it with:  apt-get install libfcgi-dev     (Debian, Ubuntu)',
      '                    dnf install fcgi-devel          (Fedora, RHEL)',
      '                    brew install fcgi               (macOS)',
      '',
    ].join('\n'),
  );
  process.exit(1);
}
