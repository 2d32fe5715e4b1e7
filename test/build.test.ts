// Finding the system libfcgi at build time, and saying how to install it when it is missing.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, stopAll, tempDir } from './helpers/apps';

const findLibfcgi = join(repoRoot, 'scripts', 'find-libfcgi.js');

function run(what: string, sysroot?: string) {
  return spawnSync(process.execPath, [findLibfcgi, what], {
    encoding: 'utf8',
    env: { ...process.env, ...(sysroot === undefined ? {} : { LIBFCGI_SYSROOT: sysroot }) },
  });
}

describe('finding libfcgi for the build', () => {
  afterAll(stopAll);

  it('links -lfcgi when the library is installed', () => {
    const result = run('libs');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('-lfcgi');
  });

  it('fails with what it looked for and the install command when libfcgi is missing', () => {
    const result = run('libs', tempDir());
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('libfcgi: the C FastCGI library was not found');
    expect(result.stderr).toContain('fcgiapp.h');
    expect(result.stderr).toContain('apt-get install libfcgi-dev');
  });

  it('finds a header and library installed under another prefix', () => {
    const root = tempDir();
    mkdirSync(join(root, 'usr/local/include'), { recursive: true });
    mkdirSync(join(root, 'usr/local/lib'), { recursive: true });
    writeFileSync(join(root, 'usr/local/include/fcgiapp.h'), '');
    writeFileSync(join(root, 'usr/local/lib/libfcgi.so'), '');
    expect(run('libs', root)).toMatchObject({ status: 0, stdout: '-lfcgi' });
  });
});
