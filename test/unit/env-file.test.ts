// The .env parser the launcher falls back on where Node has no util.parseEnv (before 20.12): it must read a file as
// Node's own parser does, compared here case by case with util.parseEnv; and loadEnvFile, which must not stop an app
// whose .env cannot be read.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseEnvFile } from '../../lib/site/env-file';
import { repoRoot, stopAll, tempDir } from '../helpers/apps';

afterAll(stopAll);

const cases: Array<[string, string]> = [
  ['plain', 'A=1\nB=two words\n'],
  ['export prefix and spaces around =', 'export A = 1\n  B=2\n'],
  ['comments and blank lines', '# a comment\n\nA=1 # trailing\nB=#not a value\n'],
  ['single, double and back quotes', `A='single # kept'\nB="double # kept"\nC=\`back\`\n`],
  ['a double-quoted \\n becomes a newline, a single-quoted one does not', `A="x\\ny"\nB='x\\ny'\n`],
  ['a double-quoted value over several lines', 'A="line one\nline two"\nB=after\n'],
  ['CRLF line ends', 'A=1\r\nB=2\r\n'],
  ['an empty value, and a repeated name', 'A=\nB=1\nB=2\n'],
  ['dots and dashes in names', 'my.var=1\nmy-var=2\n'],
  ['a URL with = and :', 'DATABASE_URL=postgres://u:p@h:5432/db?ssl=true\n'],
  ['an unterminated double quote, then a line', 'A="unterminated\nB=2\n'],
  ['an unterminated single quote with a # and trailing spaces', "A='open # not a comment  \nB=2\n"],
  ['an unterminated back quote on the last line', 'A=1\nB=`open'],
  ['an unterminated quote holding an =, on the last line', 'A="x=y'],
  ['text after a closing quote', 'A="x" y # z\nB="a""b"\n'],
  ['a backslash before a quote, which does not escape it', 'A="a\\"b"\nB=2\n'],
  ['tabs around a value, which stay', 'A=\tx\t\n'],
  ['a line without =, which joins the next name', 'EMPTY\nA=1\n'],
  ['blank lines of spaces before a name', '\n\n  \nA=1\n'],
  ['an indented comment', '  # c\nA=1\n'],
  ['an empty name', '=1\nB=2\n'],
  ['a # inside an unquoted value', 'A=x#y\nB=x # y\n'],
  ['a name at the very end with no value', 'A=1\nB='],
];

describe('parseEnvFile', () => {
  it.each(cases)('reads %s as Node does', (_, text) => {
    expect(parseEnvFile(text)).toEqual(parseEnv(text));
  });
});

describe.skipIf(process.getuid?.() !== 0)('loadEnvFile', () => {
  it("says why a .env it cannot read was skipped (a link to another account's file), and the app goes on", () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const secret = join(tempDir(), 'shadow');
    writeFileSync(secret, 'STOLEN=yes\n', { mode: 0o600 }); // root's, as /etc/shadow is
    const app = join(dir, 'app');
    mkdirSync(app, { mode: 0o755 });
    symlinkSync(secret, join(app, '.env'));
    const launch = JSON.stringify(join(repoRoot, 'dist', 'launch.js'));
    const script = `require(${launch}).loadEnvFile(process.argv[1]); console.log('started', process.env.STOLEN ?? 'unset');`;
    const run = spawnSync(process.execPath, ['-e', script, join(app, '.env')], {
      uid: 1,
      gid: 1,
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe('started unset\n');
    expect(run.stderr).toMatch(/libfcgi: \S+\.env not loaded \(EACCES\): EACCES: permission denied/);
  });
});
