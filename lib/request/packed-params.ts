// A request's facts and parameters as the addon copies them into JS, the same for both serving modes
// (native/params/param_copy.h): the facts in one number, the parameters in two strings, the eager ones (what the caller asked
// for at every request: for the HTTP layer, the header lines and the CGI variables it reads) and the rest.
import { type EagerParams, native } from '../addon/native';

/** None eager: every parameter in the rest (the accept loop hands the app all of them). */
export const noEager: EagerParams = { names: [], prefix: '' };

export interface RequestFacts {
  role: number;
  keepConn: boolean;
  requestId: number;
}

/** The facts number: role | keepConn << 2 | requestId << 3. */
export function unpackFacts(code: number): RequestFacts {
  return { role: code & 3, keepConn: (code & 4) !== 0, requestId: code >>> 3 };
}

/** A parameter's kind character: its name travels inline, or (from firstKnownKind on) as known name kind - 2. */
export const ownNameKind = 1;
export const firstKnownKind = 2;

/**
 * One packed string, eager or rest: name NUL value NUL… with known names left empty, then one character per parameter
 * saying whose name it is (1: its own; 2 + n: knownNames[n]). Returns name, value, name, value…
 * The known names come from the one array made at startup, so no request cuts and hashes them anew.
 */
export function pairsOf(params: string, knownNames: readonly string[] = knownParamNames()): string[] {
  const pairs = params.split('\0');
  const kinds = pairs.pop() as string; // what follows the last value's NUL
  for (let i = 0; i < kinds.length; i++) {
    const kind = kinds.charCodeAt(i);
    if (kind >= firstKnownKind) pairs[2 * i] = knownNames[kind - firstKnownKind] as string;
  }
  return pairs;
}

/**
 * The same names as V8's internalized strings, the kind property keys and string literals are: the HTTP layer
 * compares each parameter's name with literals (lib/cgi/cgi-head.ts), and two internalized strings compare by
 * identity, not character by character. The addon's strings are not internalized; a property key made of one is.
 */
export function internalized(names: readonly string[]): string[] {
  return names.map((name) => Object.keys({ [name]: 0 })[0] as string);
}

let known: string[] | null = null;

/** The addon's known parameter names (native/params/param_names.h), internalized, read once. */
export function knownParamNames(): string[] {
  return (known ??= internalized(native().knownParamNames));
}
