// This package as the CLI finds it on disk: its folder (dist/cli/ is two levels below) and its version.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const packageRoot = join(__dirname, '..', '..');

export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}
