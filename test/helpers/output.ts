// What a child process prints, kept for the test to read, within a bound: a process that floods its output (a loop
// that logs) must fail its test with the flood in view, not grow the test worker's heap until V8 aborts it, which
// hides which test and which process it was.
import type { Readable } from 'node:stream';

/** Kept from the start of the output, where a process says what it is and why it failed at start-up. */
const HEAD_LIMIT = 4 * 1024 * 1024;
/** Kept from the end, where the flood is. */
const TAIL_LIMIT = 256 * 1024;

export interface CollectedOutput {
  /** What was printed: all of it, or its first 4 MiB, a line saying how much was printed in all, and its last 256 KiB. */
  text(): string;
}

/** Collects what `streams` print (decoded as `encoding`); says once on the test's stderr when `label` floods. */
export function collectOutput(
  streams: Array<Readable | null | undefined>,
  label: string,
  encoding: BufferEncoding = 'utf8',
): CollectedOutput {
  let head = '';
  let tail = '';
  let bytes = 0;
  const add = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (head.length < HEAD_LIMIT) {
      head += chunk.toString(encoding);
      return;
    }
    if (tail === '') console.error(`${label}: printed more than ${HEAD_LIMIT >> 20} MiB; keeping its last lines only`);
    tail = (tail + chunk.toString(encoding)).slice(-TAIL_LIMIT);
  };
  for (const stream of streams) stream?.on('data', add);
  return {
    text: () => (tail === '' ? head : `${head}\n[… ${bytes} bytes printed in all, the middle left out …]\n${tail}`),
  };
}
