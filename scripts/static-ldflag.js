#!/usr/bin/env node
// Prints -static when the C compiler can link a static executable here (glibc's libc.a: Debian's libc6-dev has it,
// Fedora's glibc-static is not installed by default), else nothing: binding.gyp links fcgi-relay statically when it
// can, so that it starts faster and costs less memory, and dynamically rather than failing the build.
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const dir = mkdtempSync(join(tmpdir(), 'libfcgi-static-'));
try {
  writeFileSync(join(dir, 'probe.c'), 'int main(void) { return 0; }\n');
  const compiler = process.env.CC || 'cc';
  const result = spawnSync(compiler, ['-static', '-o', join(dir, 'probe'), join(dir, 'probe.c')], { stdio: 'ignore' });
  if (result.status === 0) process.stdout.write('-static');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
