// `libfcgi build`: builds the addon from source with the package's own script (scripts/build-addon.js), the one way
// a build happens: no install step runs it, so installs never need a compiler.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readCommand } from './args';
import { packageRoot } from './package-info';

/**
 * Reads `libfcgi build`, which takes nothing more, then runs the build in this package's folder with the output on the
 * terminal; returns its exit status.
 */
export function build(argv: string[]): number {
  readCommand(argv, 'build', {}, 0);
  const script = join(packageRoot, 'scripts', 'build-addon.js');
  const result = spawnSync(process.execPath, [script], { stdio: 'inherit' });
  return result.status ?? 1;
}
