// The .env parser the launcher falls back on where Node has no process.loadEnvFile (before 20.12): it must read a file
// as Node's own parser does, compared here case by case with util.parseEnv.
import { parseEnv } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseEnvFile } from '../../lib/env-file';

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
];

describe('parseEnvFile', () => {
  it.each(cases)('reads %s as Node does', (_, text) => {
    expect(parseEnvFile(text)).toEqual(parseEnv(text));
  });
});
