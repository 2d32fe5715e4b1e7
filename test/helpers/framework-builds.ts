// The framework apps of test/frameworks/ (each a project of its own with pinned versions): installed once with npm ci,
// built with its own build script, and copied the way a user uploads a build to a host.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './apps';

export const frameworkFixture = (name: string): string => join(repoRoot, 'test', 'frameworks', name);

function run(command: string, args: string[], cwd: string, env: Record<string, string>): void {
  const result = spawnSync(command, args, {
    cwd,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ASTRO_TELEMETRY_DISABLED: '1', ...env },
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} in ${cwd} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
}

/** Installs the fixture's dependencies (once) and runs its build script with env; returns its folder. */
export function buildFramework(name: string, env: Record<string, string> = {}): string {
  const dir = frameworkFixture(name);
  if (!existsSync(join(dir, 'node_modules'))) run('npm', ['ci', '--no-audit', '--no-fund'], dir, {});
  run('npm', ['run', 'build'], dir, env);
  return dir;
}

/**
 * Uploads a build's output (paths, relative to the fixture) into a site's folder as a deploy should: each copied beside
 * (PATH.upload), then swapped in with two renames, so that the running process never reads a half-copied build. The
 * build's cache stays behind.
 */
export function uploadBuild(fixtureDir: string, paths: string[], siteDir: string): void {
  const cache = join(fixtureDir, '.next', 'cache');
  for (const path of paths) {
    const [target, upload, old] = [join(siteDir, path), join(siteDir, `${path}.upload`), join(siteDir, `${path}.old`)];
    rmSync(upload, { recursive: true, force: true });
    cpSync(join(fixtureDir, path), upload, { recursive: true, filter: (source) => !source.startsWith(cache) });
    if (existsSync(target)) renameSync(target, old);
    renameSync(upload, target);
    rmSync(old, { recursive: true, force: true });
  }
}
