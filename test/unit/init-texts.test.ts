// The files `libfcgi init` writes, made from the templates in lib/cli/init/templates: every placeholder filled for
// every kind of launcher, a whole-line placeholder with nothing to put in leaving no line, and the site's own paths
// put in as they are, however they are spelled.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { InitOptions } from '../../lib/cli/init/args';
import { scaffold } from '../../lib/cli/init/layout';
import { fill, htaccess, launcher } from '../../lib/cli/init/texts';
import { tempDir } from '../helpers/apps';

const options = (overrides: Partial<InitOptions>): InitOptions => ({
  dir: join(tempDir(), 'site'),
  docroot: 'public_html',
  script: 'app.fcgi',
  app: 'app.js',
  force: false,
  node: '/usr/bin/node',
  relay: '/opt/libfcgi/fcgi-relay',
  ...overrides,
});

describe("libfcgi init's templates", () => {
  it.each([
    ['a relayed launcher and a CommonJS app', {}],
    ['a launcher that is node and an ES module app', { relay: null, app: 'server/main.mjs' }],
  ])('fills every placeholder of every file for %s', (_, overrides) => {
    const site = options(overrides);
    const texts = scaffold(site).map((file) => file.text);
    texts.push(htaccess(site.script, site.dir, true)); // with a framework's static files
    expect(texts).toHaveLength(6);
    for (const text of texts) expect(text).not.toMatch(/\{\{|\}\}/);
  });

  it('leaves no line where a whole-line placeholder has nothing to put in', () => {
    const lines = htaccess('app.fcgi').split('\n');
    const authorization = lines.indexOf('RewriteRule ^ - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]');
    expect(lines[authorization + 1]).toMatch(/^# Clean URLs/);
    expect(htaccess('app.fcgi', '/home/site').split('\n')[authorization + 1]).toMatch(/^# Where Apache has/);
  });

  it("puts the site's paths in as they are, never reading them as placeholders or replacement patterns", () => {
    const text = launcher(options({ app: "{{preamble}}$&$'.js", relay: null }));
    expect(text).toContain(`require(path.join(__dirname, '../{{preamble}}$&$\\'.js'));\n`);
    expect(text.startsWith('#!/usr/bin/node\n')).toBe(true);
  });

  it('refuses a template whose placeholder nothing fills, naming both', () => {
    expect(() => fill('launcher-preamble-node', {})).toThrow('the template launcher-preamble-node.tmpl has {{node}}');
  });
});
