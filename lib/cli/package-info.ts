// This package as the CLI finds it on disk: its folder and its version.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../addon/addon-binary';

export { packageRoot };

export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}
