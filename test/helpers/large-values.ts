// Keeps a failing assertion about megabytes a short line. Vitest compares buffers element by element, and a failure
// formats its values whole (chai's message lists every index of a typed array; Vitest's diff prints a 16 MiB Buffer
// as sixteen million lines): any of them fills the test worker's heap until V8 aborts it, which loses every result
// of the file and hides which test it was. Byte arrays are compared as bytes here, and large values in a failure are
// replaced by their size and hash before chai and Vitest see them (test/helpers/setup.ts, for every suite).
import { createHash } from 'node:crypto';

/** Larger than this, a byte array, string or array is shown as its size, hash and first bytes. */
export const SHOWN_WHOLE_LIMIT = 1024;
/** How deep into objects large values are looked for (a response object holding a Buffer is two levels). */
const SEARCH_DEPTH = 6;

/** The first hex digits of a SHA-256: enough to tell two values apart, short enough for chai's 40-character cut. */
function shortHash(parts: Iterable<Uint8Array | string>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex').slice(0, 12);
}

const asBytes = (view: ArrayBufferView): Buffer => Buffer.from(view.buffer, view.byteOffset, view.byteLength);

function* slices(text: string, size = 65536): Generator<string> {
  // A slice at a time, so that hashing 16 MiB of text never holds a second copy of it as UTF-8.
  for (let start = 0; start < text.length; start += size) yield text.slice(start, start + size);
}

/** One line that tells a large byte array from another: its type, length and hash. */
export const describeBytes = (view: ArrayBufferView): string =>
  `${view.constructor.name}(${view.byteLength}) sha256:${shortHash([asBytes(view)])}`;

const describeString = (text: string): string => `string(${text.length}) sha256:${shortHash(slices(text))}`;

function describeArray(items: unknown[]): string {
  // The items themselves may be large: only their count and the first few, each shortened, are shown.
  const first = items.slice(0, 3).map((item) => (typeof item === 'object' ? shorten(item) : item));
  return `Array(${items.length}) ${JSON.stringify(first).slice(0, 40)}…`;
}

/**
 * Equality of two byte arrays of the same type, in one memcmp; undefined for anything else, so that Vitest's own
 * comparison goes on (registered with expect.addEqualityTesters by test/helpers/setup.ts).
 */
export function byteArrayEquality(a: unknown, b: unknown): boolean | undefined {
  if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a instanceof DataView || b instanceof DataView)
    return undefined;
  return a.constructor === b.constructor && asBytes(a).equals(asBytes(b));
}

/**
 * `value` with every large byte array, string and array inside it (to a few levels) replaced by a line describing
 * it; the value itself when there is none. Objects on the way are copied with their prototype, never changed.
 */
export function shorten(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return value.length > SHOWN_WHOLE_LIMIT ? describeString(value) : value;
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  if (ArrayBuffer.isView(value)) return value.byteLength > SHOWN_WHOLE_LIMIT ? describeBytes(value) : value;
  if (Array.isArray(value) && value.length > SHOWN_WHOLE_LIMIT) return describeArray(value);
  if (depth >= SEARCH_DEPTH) return value;
  seen.add(value);
  const fields: Array<[string, unknown]> = [];
  let changed = false;
  for (const key of Object.keys(value)) {
    let field: unknown;
    try {
      field = (value as Record<string, unknown>)[key];
    } catch {
      return value; // a getter that throws: the value is left for Vitest to show as it does
    }
    const short = shorten(field, depth + 1, seen);
    changed ||= short !== field;
    fields.push([key, short]);
  }
  if (!changed) return value;
  return Object.assign(
    Object.create(Object.getPrototypeOf(value) as object | null) as object,
    Object.fromEntries(fields),
  );
}

/**
 * Where two large byte arrays first differ, for the message of their failed comparison; '' unless both values are
 * byte arrays and one of them is too large to be shown whole.
 */
export function firstDifference(actual: unknown, expected: unknown): string {
  if (!ArrayBuffer.isView(actual) || !ArrayBuffer.isView(expected)) return '';
  if (Math.max(actual.byteLength, expected.byteLength) <= SHOWN_WHOLE_LIMIT) return '';
  const a = asBytes(actual);
  const b = asBytes(expected);
  const length = Math.min(a.length, b.length);
  // Compare in blocks, so a difference near the end of 16 MiB costs a few hundred memcmps, not a loop per byte.
  const block = 65536;
  let start = 0;
  const agree = (from: number, to: number): boolean => a.subarray(from, to).equals(b.subarray(from, to));
  while (start < length && agree(start, Math.min(start + block, length))) start += block;
  for (let i = start; i < Math.min(start + block, length); i++) {
    if (a[i] !== b[i])
      return `first difference at byte ${i}: 0x${a[i]?.toString(16)} where 0x${b[i]?.toString(16)} was expected`;
  }
  if (a.length === b.length) return 'the bytes are the same';
  return `the first ${length} bytes agree, then one has ${a.length} bytes and the other ${b.length}`;
}
