// Every ```js block of the README and the API reference runs: as CGI, it must exit 0 and answer with a CGI response.
// The deployment pages embed the configurations the tests run, and docs/architecture.md names only files that exist.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCgiResponse } from '../../lib/client/client';
import { repoRoot } from '../helpers/apps';

// Inside the package, so that require('libfcgi') resolves to this package as it would for a user.
const snippetDir = join(repoRoot, 'build', 'doc-snippets');

function runnableBlocks(file: string): Array<{ name: string; code: string }> {
  const text = readFileSync(join(repoRoot, file), 'utf8');
  const blocks = [...text.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? '');
  return blocks.map((code, index) => ({ name: `${file} block ${index + 1}`, code }));
}

const blocks = [...runnableBlocks('README.md'), ...runnableBlocks('docs/api.md')];

describe('documentation examples', () => {
  mkdirSync(snippetDir, { recursive: true });
  afterAll(() => rmSync(snippetDir, { recursive: true, force: true }));

  it('finds examples to run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
  });

  it.each(blocks)('$name runs as a CGI program', ({ name, code }) => {
    const file = join(snippetDir, name.replace(/[^a-z0-9]+/gi, '-') + '.js');
    writeFileSync(file, code);
    const result = spawnSync(process.execPath, [file], {
      env: { PATH: process.env.PATH ?? '', REQUEST_METHOD: 'GET', REQUEST_URI: '/doc', PATH_INFO: '/caf\u00e9' },
      input: '',
      timeout: 10_000,
    });
    expect(result.stderr.toString()).not.toMatch(/Error:|TypeError/);
    expect(result.status === 0 || /exitStatus = 1/.test(code)).toBe(true);
    if (/fcgi\.accept\(\)/.test(code)) expect(parseCgiResponse(result.stdout).headers.length).toBeGreaterThan(0);
  });
});

describe('deployment pages', () => {
  const pages = [
    'docs/apache.md',
    'docs/caddy.md',
    'docs/frameworks.md',
    'docs/h2o.md',
    'docs/lighttpd.md',
    'docs/nginx.md',
    'docs/scaling.md',
    'docs/systemd.md',
  ];
  const embedded = pages.flatMap((page) =>
    [...readFileSync(join(repoRoot, page), 'utf8').matchAll(/^<!-- file: (\S+) -->\n\n?```\w*\n([\s\S]*?)^```$/gm)].map(
      (match) => ({ page, file: match[1] as string, text: match[2] as string }),
    ),
  );

  it('embed the configuration files the tests run', () => {
    expect(new Set(embedded.map((block) => block.file)).size).toBeGreaterThanOrEqual(8);
  });

  it.each(embedded)('$page shows $file exactly as the tests use it', ({ file, text }) => {
    expect(text).toBe(readFileSync(join(repoRoot, file), 'utf8'));
  });
});

describe('docs/architecture.md', () => {
  const text = readFileSync(join(repoRoot, 'docs', 'architecture.md'), 'utf8');
  const named = [...text.matchAll(/`([^`\s]+)`/g)].map((match) => match[1] as string);
  const paths = named.filter((name) => /^(lib|native|test)\/[\w./-]+$/.test(name));
  const sourceFiles = [...listFiles('lib'), ...listFiles('native')];
  const fileNames = named.filter((name) => /^[\w-]+\.(ts|cc|c|h)$/.test(name));

  it('names files and folders', () => {
    expect(paths.length).toBeGreaterThan(40);
    expect(fileNames.length).toBeGreaterThan(40);
  });

  it.each(paths)('names %s, which exists', (path) => {
    expect(existsSync(join(repoRoot, path))).toBe(true);
  });

  it.each(fileNames)('names %s, a file of lib/ or native/', (name) => {
    expect(sourceFiles.some((file) => basename(file) === name)).toBe(true);
  });

  it('names every folder of lib/ and native/', () => {
    const folders = ['lib', 'native'].flatMap((top) =>
      readdirSync(join(repoRoot, top), { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && entry.name !== 'build')
        .map((entry) => `${top}/${entry.name}/`),
    );
    expect(folders.filter((folder) => !paths.includes(folder))).toEqual([]);
  });
});

/** The source files under a folder of the repository, as paths from its root (build output left out). */
function listFiles(top: string): string[] {
  return readdirSync(join(repoRoot, top), { recursive: true, encoding: 'utf8' })
    .filter((path) => !path.startsWith('build') && /\.(ts|cc|c|h)$/.test(path))
    .map((path) => `${top}/${path}`);
}
