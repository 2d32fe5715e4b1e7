// Finding libfcgi at build time (system, LIBFCGI_PREFIX, pkg-config), and saying every way to get it when it is missing.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, stopAll, tempDir } from '../helpers/apps';

const findLibfcgi = join(repoRoot, 'scripts', 'find-libfcgi.js');

function run(what: string, sysroot?: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [findLibfcgi, what], {
    encoding: 'utf8',
    env: { ...process.env, ...(sysroot === undefined ? {} : { LIBFCGI_SYSROOT: sysroot }), ...env },
  });
}

/** A libfcgi installed under a prefix, as `make install --prefix` leaves it (the files only need to exist). */
function prefixWithLibfcgi(): string {
  const prefix = tempDir();
  mkdirSync(join(prefix, 'include'));
  mkdirSync(join(prefix, 'lib', 'pkgconfig'), { recursive: true });
  writeFileSync(join(prefix, 'include', 'fcgiapp.h'), '');
  writeFileSync(join(prefix, 'lib', 'libfcgi.so'), '');
  writeFileSync(
    join(prefix, 'lib', 'pkgconfig', 'fcgi.pc'),
    // As libfcgi's make install writes it: no Cflags, no includedir.
    `prefix=${prefix}\nexec_prefix=\${prefix}\nlibdir=\${exec_prefix}/lib\n\n` +
      'Name: fcgi\nDescription: FastCGI\nVersion: 2.4.2\nLibs: -L${libdir} -lfcgi\n',
  );
  return prefix;
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

  it('builds against LIBFCGI_PREFIX, with an rpath so that the addon finds libfcgi.so.0 there', () => {
    const prefix = prefixWithLibfcgi();
    const env = { LIBFCGI_PREFIX: prefix };
    expect(run('cflags', undefined, env)).toMatchObject({ status: 0, stdout: `-I${prefix}/include` });
    expect(run('libs', undefined, env)).toMatchObject({
      status: 0,
      stdout: `-L${prefix}/lib -Wl,-rpath,${prefix}/lib -lfcgi`,
    });
  });

  it('searches only LIBFCGI_PREFIX while it is set, and says what is missing there', () => {
    const prefix = tempDir();
    const result = run('libs', undefined, { LIBFCGI_PREFIX: prefix });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`LIBFCGI_PREFIX=${prefix}: no ${prefix}/include/fcgiapp.h, no libfcgi.so in`);
    expect(result.stderr).not.toContain('pkg-config:');
  });

  it('finds a libfcgi in any directory through PKG_CONFIG_PATH', () => {
    const prefix = prefixWithLibfcgi();
    const result = run('libs', undefined, { PKG_CONFIG_PATH: join(prefix, 'lib', 'pkgconfig') });
    expect(result).toMatchObject({ status: 0, stdout: `-L${prefix}/lib -lfcgi -Wl,-rpath,${prefix}/lib` });
    expect(run('cflags', undefined, { PKG_CONFIG_PATH: join(prefix, 'lib', 'pkgconfig') }).stdout).toBe(
      `-I${prefix}/include`,
    );
  });

  it('says pkg-config was not run when it was not, and names every route, those without root first', () => {
    const { stderr } = run('libs', tempDir());
    expect(stderr).toContain('Looked at: LIBFCGI_PREFIX: not set');
    expect(stderr).toContain('pkg-config: not run (LIBFCGI_SYSROOT is set)');
    const order = ['LIBFCGI_PREFIX="$HOME/.local" npx libfcgi build', 'Without a compiler', 'apt-get install'];
    const positions = order.map((text) => stderr.indexOf(text));
    expect(positions.every((position) => position > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });
});
