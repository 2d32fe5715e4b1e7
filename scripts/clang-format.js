#!/usr/bin/env node
// Checks (--check) or applies (--fix) clang-format on the C++ sources in native/ and its folders.
'use strict';
const { execFileSync } = require('node:child_process');
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

const dir = join(__dirname, '..', 'native');
const files = readdirSync(dir, { recursive: true })
  .filter((name) => /\.(cc|h)$/.test(name))
  .map((name) => join(dir, name));
const mode = process.argv[2] === '--fix' ? ['-i'] : ['--dry-run', '--Werror'];
try {
  execFileSync('clang-format', [...mode, ...files], { stdio: 'inherit' });
} catch (error) {
  if (error.code === 'ENOENT') {
    console.error('clang-format not found: apt-get install clang-format');
  }
  process.exit(1);
}
