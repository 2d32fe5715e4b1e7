// The package as npm users get it: what the tarball carries, and types that resolve under every TypeScript setting.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  describe('as packed', () => {
    let dir = '';
    let tarball = '';
    beforeAll(() => {
      dir = tempDir();
      // --ignore-scripts: prepack would build the prebuilt binaries, which these checks do not look inside.
      const name = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], {
        cwd: repoRoot,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      tarball = join(dir, name.trim().split('\n').pop() ?? '');
      execFileSync('tar', ['-xzf', tarball, '-C', dir]);
    });

    it('is clean to publint --strict', () => {
      const publint = join(repoRoot, 'node_modules', '.bin', 'publint');
      const result = spawnSync(publint, ['--strict', '--pack', 'false', join(dir, 'package')], { encoding: 'utf8' });
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('All good!');
    });

    it('resolves the types of every entry point in every module mode, as @arethetypeswrong/cli checks them', () => {
      const attw = join(repoRoot, 'node_modules', '.bin', 'attw');
      const result = spawnSync(attw, [tarball, '--format', 'json'], { encoding: 'utf8' });
      const report = JSON.parse(result.stdout) as { problems: object; analysis: { entrypoints: object } };
      expect(report.problems).toEqual({});
      expect(Object.keys(report.analysis.entrypoints)).toEqual(
        expect.arrayContaining(['.', './client', './protocol', './adopt', './launch']),
      );
      expect(result.status).toBe(0);
    });

    it('carries a license, the repository, and says its modules are CommonJS', () => {
      const manifest = JSON.parse(readFileSync(join(dir, 'package', 'package.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(readFileSync(join(dir, 'package', 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
      expect(manifest).toMatchObject({ license: 'MIT', type: 'commonjs', repository: { type: 'git' } });
    });
  });
});
