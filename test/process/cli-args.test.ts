// Every `libfcgi` command's command line, run as the real command: --help prints the usage and does nothing else, and
// an option the command does not have, an option without its value, or a stray argument is refused with exit status 2,
// node:util's sentence (or ours) and the usage, before the command does anything.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { usage } from '../../lib/cli/usage';
import { stopAll, tempDir } from '../helpers/apps';
import { cliPath } from '../helpers/cli';

afterAll(stopAll);

/** `libfcgi ARGS…` in an empty folder: what it printed and exited with, and what it left in the folder. */
function libfcgi(...args: string[]): { status: number | null; stdout: string; stderr: string; left: string[] } {
  const cwd = tempDir();
  const run = spawnSync(process.execPath, [cliPath, ...args], { cwd, encoding: 'utf8', timeout: 10_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, left: readdirSync(cwd) };
}

const commands = ['serve', 'serve app.fcgi', 'init', 'status', 'build', '--version'];

describe('the libfcgi command line', () => {
  it.each(commands)('prints the usage and exits 0 for `libfcgi %s … --help`, and does nothing else', (command) => {
    for (const help of ['--help', '-h']) {
      const run = libfcgi(...command.split(' '), '--bogus', help);
      expect(run).toEqual({ status: 0, stdout: usage, stderr: '', left: [] });
    }
  });

  it.each(commands)('refuses an option `libfcgi %s` does not have: exit 2, what was wrong, the usage', (command) => {
    const run = libfcgi(...command.split(' '), '--bogus');
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `libfcgi: Unknown option '--bogus'. To specify a positional argument starting with a '-', place it at the end ` +
        `of the command after '--', as in '-- "--bogus"\n\n${usage}`,
    );
    expect(run.left).toEqual([]);
  });

  it.each([
    ['init --docroot', "Option '--docroot <value>' argument missing"],
    ['serve app.fcgi --port', "Option '--port <value>' argument missing"],
    ['status --json=yes', "Option '--json' does not take an argument"],
    ['init --force=yes', "Option '--force' does not take an argument"],
    ['init site more', 'unexpected arguments: more'],
    ['status site more again', 'unexpected arguments: more again'],
    ['build now', 'unexpected arguments: now'],
    ['--version now', 'unexpected arguments: now'],
    ['run', "unknown command 'run'"],
  ])('refuses `libfcgi %s` with exit status 2: %s', (args, message) => {
    const run = libfcgi(...args.split(' '));
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(`libfcgi: ${message}\n\n${usage}`);
    expect(run.left).toEqual([]);
  });

  it('prints the usage and exits 0 when given nothing', () => {
    expect(libfcgi()).toEqual({ status: 0, stdout: usage, stderr: '', left: [] });
  });
});
