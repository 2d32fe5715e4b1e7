// The command line and environment that start this process's image again, for a restart in place.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The module every restarted image preloads, so that even a crash before the app loads libfcgi is caught. */
export const crashGuardModule = join(__dirname, 'crash-guard.js');

/** Set in the images a crash starts, to count crashes in a row for the back-off. */
export const crashCountVariable = 'LIBFCGI_CRASH_COUNT';

/** A string of bytes, one char per byte, as the addon takes them. */
export const bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

/**
 * The environment this image started with, NAME=value as bytes: /proc/self/environ, not process.env, which the app may
 * have changed (dotenv fills it from a .env that the new version may have changed too).
 */
export function startEnvironment(): string[] {
  try {
    return readFileSync('/proc/self/environ', 'latin1')
      .split('\0')
      .filter((entry) => entry.includes('='));
  } catch {
    return Object.entries(process.env).map(([name, value]) => bytes(`${name}=${value ?? ''}`));
  }
}

/** NAME=value entries with `changes` applied: a value replaces, null removes. */
export function withEnvironment(environment: string[], changes: Record<string, string | null>): string[] {
  const kept = environment.filter((entry) => !(entry.slice(0, entry.indexOf('=')) in changes));
  for (const [name, value] of Object.entries(changes)) if (value !== null) kept.push(`${name}=${value}`);
  return kept;
}

export interface Command {
  /** The executable (node), as bytes. */
  file: string;
  /** argv, as bytes, argv[0] first. */
  args: string[];
}

/** node, its options with the crash guard preloaded, the script and its arguments: what started this image. */
export function restartCommand(): Command {
  const execArgv = process.execArgv.some((arg) => arg.includes(crashGuardModule))
    ? process.execArgv
    : [`--require=${crashGuardModule}`, ...process.execArgv];
  const args = [process.execPath, ...execArgv, ...process.argv.slice(1)];
  return { file: bytes(process.execPath), args: args.map(bytes) };
}
