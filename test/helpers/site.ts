// Lays out an app with `libfcgi init` (this checkout's dist/cli/cli.js) for tests, with the package resolvable from it as
// `npm install` would make it: node_modules/libfcgi, a link to this checkout.
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './apps';
import { cliPath } from './cli';

export interface InitRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `libfcgi init ARGS…` with the given node (its #! line names that node), in cwd. */
export function runInit(args: string[], options: { node?: string; cwd?: string; umask?: string } = {}): InitRun {
  const node = options.node ?? process.execPath;
  const command = options.umask
    ? spawnSync('sh', ['-c', `umask ${options.umask} && exec "$0" "$@"`, node, cliPath, 'init', ...args], {
        cwd: options.cwd,
        encoding: 'utf8',
        timeout: 10_000,
      })
    : spawnSync(node, [cliPath, 'init', ...args], { cwd: options.cwd, encoding: 'utf8', timeout: 10_000 });
  return { status: command.status, stdout: command.stdout, stderr: command.stderr };
}

/** `libfcgi init dir`, then node_modules/libfcgi linked to this checkout; returns the document root. */
export function makeSite(dir: string, node?: string): string {
  const run = runInit([dir], { node });
  if (run.status !== 0) throw new Error(`libfcgi init failed:\n${run.stderr}`);
  mkdirSync(join(dir, 'node_modules'), { mode: 0o755 });
  symlinkSync(repoRoot, join(dir, 'node_modules', 'libfcgi'));
  return join(dir, 'public_html');
}
