// `libfcgi serve`'s arguments: what each option becomes, its defaults (mod_fcgid's), and the message a mistake gets.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../lib/cli/args';
import { defaultMaxRequestLen, parseServeArgs } from '../../lib/cli/serve-args';
import { tempDir } from '../helpers/apps';

describe('libfcgi serve arguments', () => {
  it("defaults to mod_fcgid's: 4 processes, one request each, 300 s idle, a 131072-byte body, port 8080", () => {
    const options = parseServeArgs(['serve', '/srv/app.fcgi']);
    expect(options).toMatchObject({
      app: '/srv/app.fcgi',
      port: 8080,
      procs: 4,
      concurrency: 1,
      maxRequests: 0,
      idleTimeout: 300,
      env: {},
      wrapper: undefined,
      base: '',
      documentRoot: '/srv',
      root: undefined,
      maxRequestLen: defaultMaxRequestLen,
    });
    expect(defaultMaxRequestLen).toBe(131072);
  });

  it('reads every option', () => {
    const options = parseServeArgs(
      ['serve', '/srv/app.fcgi', '--port', '0', '--procs', '2', '--concurrency', '8', '--max-requests', '100']
        .concat(['--idle-timeout', '0', '--env', 'A=1', '--env', 'B=x=y', '--wrapper', 'php-cgi  -q'])
        .concat(['--base', '/mount/', '--document-root', '/var/www', '--max-request-len', '0']),
    );
    expect(options).toMatchObject({
      port: 0,
      procs: 2,
      concurrency: 8,
      maxRequests: 100,
      idleTimeout: 0,
      env: { A: '1', B: 'x=y' },
      wrapper: ['php-cgi', '-q'],
      base: '/mount',
      documentRoot: '/var/www',
      maxRequestLen: 0,
    });
  });

  it.each([
    [['serve', 'a', '--procs', '0'], "--procs takes a whole number from 1, got '0'"],
    [['serve', 'a', '--port', '70000'], '--port must be at most 65535, got 70000'],
    [['serve', 'a', '--port=-1'], "--port takes a whole number from 0, got '-1'"],
    [['serve', 'a', '--env', 'NOEQUALS'], "--env takes NAME=VALUE, got 'NOEQUALS'"],
    [['serve', 'a', '--base', 'relative'], "--base must start with /, got 'relative'"],
    [['serve', 'a', 'b'], 'unexpected arguments: b'],
    [['run', 'a'], "unknown command 'run'"],
    [[], 'no command given'],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parseServeArgs(argv)).toThrow(new UsageError(message));
  });

  it('serves a document root with its script as SCRIPT_NAME, and refuses --base with it or a script outside it', () => {
    const dir = tempDir();
    const root = join(dir, 'public_html');
    mkdirSync(root);
    writeFileSync(join(root, 'site.fcgi'), '');
    const options = parseServeArgs(['serve', '--docroot', root]);
    expect(options.root).toEqual({ dir: root, script: 'site.fcgi' });
    expect(options.base).toBe('/site.fcgi');
    expect(options.app).toBe(join(root, 'site.fcgi'));
    expect(() => parseServeArgs(['serve', '--docroot', root, '--base', '/x'])).toThrow(/--base does not go with/);
    expect(() => parseServeArgs(['serve', join(dir, 'elsewhere.fcgi'), '--docroot', root])).toThrow(
      /is not in the document root/,
    );
  });
});
