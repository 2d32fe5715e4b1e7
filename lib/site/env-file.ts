// Loads an app's .env into process.env before the app starts, as Passenger and Next.js users expect: on a shared host
// the process environment cannot be set otherwise (SetEnv in .htaccess sets request parameters, FcgidInitialEnv is
// server configuration). Variables the process already has win, as with node --env-file.
import { readFileSync } from 'node:fs';
import * as util from 'node:util';

const spaces = (text: string): string => text.replace(/^ +| +$/g, '');
const quotes = new Set(['"', "'", '`']);

/**
 * The NAME=value pairs of a .env file, read as Node's own parser (util.parseEnv, process.loadEnvFile) reads them, for
 * Node 20 before 20.12, which has neither: `export ` prefixes, # comment lines, values in single, double or back
 * quotes (a double-quoted one may span lines and turns \n into a newline; an unterminated quote keeps the rest of its
 * line, quote included), unquoted values cut at a # and stripped of spaces. Its oddities too (only spaces are
 * stripped, a line without = joins the next one's name), since an app must see the same values on every Node.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const variables: Record<string, string> = {};
  let rest = text.replace(/\r\n?/g, '\n');
  while (rest.length > 0) {
    if (rest[0] === '\n' || rest.replace(/^ +/, '')[0] === '#') {
      const newline = rest.indexOf('\n');
      if (newline !== -1) {
        rest = rest.slice(newline + 1);
        continue;
      }
    }
    const equal = rest.indexOf('=');
    if (equal === -1) break;
    let name = spaces(rest.slice(0, equal));
    rest = rest.slice(equal + 1);
    if (name === '') break;
    if (name.startsWith('export ')) name = name.slice('export '.length);
    if (rest.length === 0) {
      variables[name] = '';
      break;
    }
    rest = rest.replace(/^ +/, '');
    const quote = rest[0] ?? '';
    const quoted = quotes.has(quote);
    const closing = quoted ? rest.indexOf(quote, 1) : -1;
    if (closing !== -1) {
      const value = rest.slice(1, closing);
      variables[name] = quote === '"' ? value.replace(/\\n/g, '\n') : value;
      const newline = rest.indexOf('\n', closing + 1);
      rest = newline === -1 ? '' : rest.slice(newline + 1);
      continue;
    }
    const newline = rest.indexOf('\n');
    if (quoted) {
      // An unterminated quote: the rest of the line as it is, quote included; on the last line, nothing.
      if (newline === -1) continue;
      variables[name] = rest.slice(0, newline);
      rest = rest.slice(newline + 1);
      continue;
    }
    let value = newline === -1 ? rest : rest.slice(0, newline);
    rest = newline === -1 ? '' : rest.slice(newline + 1);
    if (value.includes('#')) value = value.slice(0, value.indexOf('#'));
    variables[name] = spaces(value);
  }
  return variables;
}

/** Node's own parser where it has one (20.12 and later), else the same rules above. */
const parse: (text: string) => Record<string, string | undefined> =
  typeof (util as { parseEnv?: unknown }).parseEnv === 'function'
    ? (util as unknown as { parseEnv: (text: string) => Record<string, string> }).parseEnv
    : parseEnvFile;

/**
 * Sets the variables of the .env at `path` that process.env does not have yet. A file that cannot be read (no
 * permission, a link to another account's file) is said on stderr, with its code, and skipped: the app starts
 * without it rather than not at all.
 */
export function loadEnvFile(path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    process.stderr.write(`${new Date().toISOString()} libfcgi: ${path} not loaded (${code}): ${message}\n`);
    return;
  }
  for (const [name, value] of Object.entries(parse(text))) {
    if (process.env[name] === undefined && value !== undefined) process.env[name] = value;
  }
}
