#!/usr/bin/env node
// The `libfcgi` command: runs the command its first word names (serve's options may come before `serve`, so any other
// word is read as serve's command line), and turns what goes wrong into a message and an exit status: 2 with the
// usage for a mistake in the command line (args.ts), 1 for init's files in the way or a machine without the addon.
import { addonSummary } from '../addon/addon-binary';
import { FcgiError } from '../addon/errors';
import { asksForHelp, atMost, readArgs, UsageError } from './args';
import { build } from './build';
import { runInit } from './init/run';
import { InitError } from './init/project';
import { packageVersion } from './package-info';
import { serve } from './serve';
import { parseServeArgs } from './serve-args';
import { parseStatusArgs, runStatus } from './status';
import { usage } from './usage';

/** `libfcgi --version`: the package's version, and which addon binary this machine loads. */
function version(argv: string[]): void {
  atMost(0, readArgs(argv, { version: { type: 'boolean', short: 'v' } }).positionals);
  process.stdout.write(`libfcgi ${packageVersion()}\naddon: ${addonSummary()}\n`);
}

/** `libfcgi status`: a target it cannot ask (a file that is no launcher) exits 2, as a wrong command line does. */
function status(argv: string[]): void {
  runStatus(parseStatusArgs(argv)).catch((error: Error) => {
    process.stderr.write(`libfcgi status: ${error.message}\n`);
    process.exitCode = 2;
  });
}

/** The commands by the first word of the command line. */
const commands = new Map<string, (argv: string[]) => void>([
  ['--version', version],
  ['-v', version],
  ['build', (argv) => (process.exitCode = build(argv))],
  ['init', runInit],
  ['status', status],
]);

const runServe = (argv: string[]): void => serve(parseServeArgs(argv));

/** Says what went wrong and sets the exit status; rethrows what is a bug rather than a user's mistake. */
function report(error: unknown): void {
  if (error instanceof UsageError) {
    process.stderr.write(`libfcgi: ${error.message}\n\n${usage}`);
    process.exitCode = 2;
  } else if (error instanceof InitError) {
    process.stderr.write(`libfcgi init: ${error.message}\n`);
    process.exitCode = 1;
  } else if (error instanceof FcgiError && error.syscall === 'load addon') {
    process.stderr.write(`libfcgi: ${error.message}\n`);
    process.exitCode = 1;
  } else throw error;
}

export function main(argv: string[]): void {
  try {
    if (asksForHelp(argv)) process.stdout.write(usage);
    else (commands.get(argv[0] as string) ?? runServe)(argv);
  } catch (error) {
    report(error);
  }
}

if (require.main === module) main(process.argv.slice(2));
