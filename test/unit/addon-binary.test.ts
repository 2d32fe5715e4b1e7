// Finding the addon binary in a package folder (a source build before the prebuilt one), and naming the fix for the
// package manager the project uses.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  addonCandidates,
  addonSummary,
  commandLine,
  hasAddon,
  packageManager,
  platform,
} from '../../lib/addon/addon-binary';
import { stopAll, tempDir } from '../helpers/apps';

afterAll(stopAll);

/** A project with a lockfile and libfcgi in its node_modules holding the given files. */
function project(lockfile: string | null, files: string[] = []): string {
  const root = tempDir();
  if (lockfile !== null) writeFileSync(join(root, lockfile), '');
  const pkg = join(root, 'node_modules', 'libfcgi');
  for (const file of files) {
    mkdirSync(join(pkg, file, '..'), { recursive: true });
    writeFileSync(join(pkg, file), '');
  }
  mkdirSync(pkg, { recursive: true });
  return pkg;
}

describe('the addon binary of a package folder', () => {
  const built = join('build', 'Release', 'fcgi.node');
  const prebuilt = join('prebuilds', platform, 'fcgi.node');

  it.each([
    ['none', [], []],
    ['only the prebuilt one', [prebuilt], [prebuilt]],
    ['a source build first, then the prebuilt one', [prebuilt, built], [built, prebuilt]],
    ["not another platform's", [join('prebuilds', 'freebsd-riscv64', 'fcgi.node')], []],
  ])('tries %s', (_what, files, expected) => {
    const pkg = project(null, files);
    expect(addonCandidates(pkg)).toEqual(expected);
    expect(hasAddon(pkg)).toBe(expected.length > 0);
  });

  it('says which binary loads, and what a prebuilt one carries', () => {
    const pkg = project(null, [prebuilt]);
    writeFileSync(join(pkg, 'prebuilds', platform, 'libfcgi.txt'), 'libfcgi 2.4.2-2+deb12u1 linked in\nmore\n');
    expect(addonSummary(pkg)).toBe(`${prebuilt} (prebuilt: libfcgi 2.4.2-2+deb12u1 linked in)`);
    expect(addonSummary(project(null))).toBe(`no addon for ${platform}`);
    expect(addonSummary(project(null, [built]))).toBe(`${built} (built from source)`);
  });
});

describe("the project's package manager, for the commands a message names", () => {
  const saved = process.env.npm_config_user_agent;
  afterAll(() => {
    if (saved === undefined) delete process.env.npm_config_user_agent;
    else process.env.npm_config_user_agent = saved;
  });

  it.each([
    ['package-lock.json', 'npm', 'npx libfcgi build'],
    ['pnpm-lock.yaml', 'pnpm', 'pnpm exec libfcgi build'],
    ['yarn.lock', 'yarn', 'yarn libfcgi build'],
    ['bun.lock', 'bun', 'bunx libfcgi build'],
    ['bun.lockb', 'bun', 'bunx libfcgi build'],
    [null, 'npm', 'npx libfcgi build'],
  ])('reads %s as %s', (lockfile, manager, command) => {
    delete process.env.npm_config_user_agent;
    const pkg = project(lockfile);
    expect(packageManager(pkg)).toBe(manager);
    expect(commandLine('build', packageManager(pkg))).toBe(command);
  });

  it("knows pnpm by its store's folder, whatever lockfile is there", () => {
    delete process.env.npm_config_user_agent;
    const root = tempDir();
    writeFileSync(join(root, 'package-lock.json'), '');
    expect(packageManager(join(root, 'node_modules', '.pnpm', 'libfcgi@1.0.0', 'node_modules', 'libfcgi'))).toBe(
      'pnpm',
    );
  });

  it('takes the manager that runs the command over the lockfile', () => {
    process.env.npm_config_user_agent = 'yarn/4.18.1 npm/? node/v20.20.2 linux x64';
    expect(packageManager(project('package-lock.json'))).toBe('yarn');
  });
});
