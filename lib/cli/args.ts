// The one way every `libfcgi` command reads its command line: node:util's parseArgs, strict, with the command word and
// its operands checked alike, and every mistake a UsageError, which cli.ts prints with the usage (exit status 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in the command line: its message is printed with the usage. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/** argv as parseArgs reads it, strictly: an option this command does not have, or one without its value, is refused. */
export function readArgs<O extends Options>(argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    // node:util's own sentence ("Unknown option '--x'", "Option '--port <value>' argument missing") says it well
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message);
    throw error;
  }
}

/**
 * Reads `libfcgi COMMAND [OPERAND…] [options]`: the options wherever they stand, then the first positional argument,
 * which must be `command`, and at most `operands` more after it.
 */
export function readCommand<O extends Options>(
  argv: string[],
  command: string,
  options: O,
  operands: number,
): { values: Parsed<O>['values']; operands: string[] } {
  const { values, positionals } = readArgs(argv, options);
  const [word, ...rest] = positionals;
  if (word !== command) throw new UsageError(word === undefined ? 'no command given' : `unknown command '${word}'`);
  return { values, operands: atMost(operands, rest) };
}

/** The operands, when there are no more than count of them. */
export function atMost(count: number, operands: string[]): string[] {
  if (operands.length > count) throw new UsageError(`unexpected arguments: ${operands.slice(count).join(' ')}`);
  return operands;
}

/** Whether the command line asks for the usage: nothing at all, or --help (-h) anywhere before a `--`. */
export function asksForHelp(argv: string[]): boolean {
  const { values } = parseArgs({
    args: argv,
    options: { help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: false, // whatever else is there, wrong or not: --help wins
  });
  return argv.length === 0 || values.help === true;
}
