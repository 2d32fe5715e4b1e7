// Loads an app's .env into process.env before the app starts, as Passenger and Next.js users expect: on a shared host
// the process environment cannot be set otherwise (SetEnv in .htaccess sets request parameters, FcgidInitialEnv is
// server configuration). Variables the process already has win, as with node --env-file.
import { readFileSync } from 'node:fs';

/**
 * The NAME=value pairs of a .env file, read as Node's --env-file reads them: `export ` prefixes, # comments, values in
 * single, double or back quotes (double-quoted ones may span lines and turn \n into a newline), and unquoted values
 * cut at a # and trimmed.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const variables: Record<string, string> = {};
  const source = text.replace(/\r\n?/g, '\n');
  const line =
    /^\s*(?:export\s+)?([\w.-]+)\s*=[ \t]*('(?:[^'])*'|"(?:\\.|[^"\\])*"|`(?:[^`])*`|[^\n#]*)[^\n]*(?:\n|$)/gm;
  for (const match of source.matchAll(line)) {
    const [, name = '', raw = ''] = match;
    const quote = raw[0];
    let value = raw.trim();
    if ((quote === '"' || quote === "'" || quote === '`') && raw.length >= 2 && raw.endsWith(quote as string)) {
      value = raw.slice(1, -1);
      if (quote === '"') value = value.replace(/\\n/g, '\n');
    }
    variables[name] = value;
  }
  return variables;
}

/** Sets the variables of the .env at `path` that process.env does not have yet: with Node's own loader where it has one. */
export function loadEnvFile(path: string): void {
  const nodeLoader = (process as { loadEnvFile?: (path: string) => void }).loadEnvFile;
  if (typeof nodeLoader === 'function') return nodeLoader.call(process, path);
  const variables = parseEnvFile(readFileSync(path, 'utf8'));
  for (const [name, value] of Object.entries(variables)) if (process.env[name] === undefined) process.env[name] = value;
}
