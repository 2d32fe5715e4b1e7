// The package as npm users get it: what the tarball carries, and types that resolve under every TypeScript setting.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, stopAll, tempDir } from '../helpers/apps';

afterAll(stopAll);

describe('the npm package', () => {
  it('carries every file the README links to, so the links work on npm', () => {
    const [pack] = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8' }),
    ) as Array<{ files: Array<{ path: string }> }>;
    const packed = new Set(pack?.files.map((file) => file.path));
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const linked = [...readme.matchAll(/\]\(((?:docs|examples)\/[^)#]+)/g)].map((match) => match[1] as string);
    expect(linked.length).toBeGreaterThan(5);
    expect(linked.filter((path) => !packed.has(path))).toEqual([]);
  });

  it.each(['node10', 'node16', 'bundler'])(
    "gives TypeScript the types of 'libfcgi', 'libfcgi/client' and 'libfcgi/protocol' with moduleResolution %s",
    (resolution) => {
      const project = tempDir();
      mkdirSync(join(project, 'node_modules'));
      symlinkSync(repoRoot, join(project, 'node_modules', 'libfcgi'));
      symlinkSync(join(repoRoot, 'node_modules', '@types'), join(project, 'node_modules', '@types'));
      const module = resolution === 'node16' ? 'node16' : resolution === 'bundler' ? 'esnext' : 'commonjs';
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module,
            moduleResolution: resolution,
            strict: true,
            noEmit: true,
            types: ['node'],
          },
          files: ['app.ts'],
        }),
      );
      writeFileSync(
        join(project, 'app.ts'),
        [
          "import { createServer } from 'libfcgi';",
          "import { fcgiRequest } from 'libfcgi/client';",
          "import { encodeNameValuePairs } from 'libfcgi/protocol';",
          "const reply: Promise<{ stdout: Buffer }> = fcgiRequest({ path: '/run/app.sock' }, { REQUEST_METHOD: 'GET' });",
          "const pairs: Buffer = encodeNameValuePairs({ A: 'b' });",
          'void [createServer, reply, pairs];',
          '',
        ].join('\n'),
      );
      const result = spawnSync(
        process.execPath,
        [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
        {
          cwd: project,
          encoding: 'utf8',
        },
      );
      expect(result.stdout + result.stderr).toBe('');
      expect(result.status).toBe(0);
    },
  );
});
