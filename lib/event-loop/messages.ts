// The format the event-loop server (native/event_loop/loop_server.h, LoopDispatch and OnRequest) and JS talk in, read in one
// place: dispatch(kind, serial, code, payload) with these kinds, a request's facts packed into code, and its
// parameters packed into one string. test/unit/loop-messages.test.ts checks these against the C++ header.

/** dispatch()'s kinds, as native/event_loop/loop_server.h's LoopDispatch numbers them. */
export const Dispatch = {
  request: 0,
  readable: 1,
  drained: 2,
  startData: 3,
  aborted: 4,
  closed: 5,
  refused: 6,
} as const;

export interface RequestFacts {
  role: number;
  keepConn: boolean;
  requestId: number;
}

/** A request dispatch's code: role | keepConn << 2 | requestId << 3. */
export function unpackFacts(code: number): RequestFacts {
  return { role: code & 3, keepConn: (code & 4) !== 0, requestId: code >>> 3 };
}

/**
 * A request dispatch's payload (the head: the header lines and the parameters the HTTP layer reads) and its rest (the
 * other parameters), each packed alike: name NUL value NUL… with known names left empty, then one character per
 * parameter saying whose name it is (1: its own; 2 + n: knownNames[n]). Returns name, value, name, value…
 * The known names come from the one array made at startup, so no request cuts and hashes them anew.
 */
export function pairsOf(params: string, knownNames: readonly string[]): string[] {
  const pairs = params.split('\0');
  const kinds = pairs.pop() as string; // what follows the last value's NUL
  for (let i = 0; i < kinds.length; i++) {
    const kind = kinds.charCodeAt(i);
    if (kind > 1) pairs[2 * i] = knownNames[kind - 2] as string;
  }
  return pairs;
}

/**
 * The same names as V8's internalized strings, the kind property keys and string literals are: the HTTP layer
 * compares each parameter's name with literals (lib/http/cgi-head.ts), and two internalized strings compare by
 * identity, not character by character. The addon's strings are not internalized; a property key made of one is.
 */
export function internalized(names: readonly string[]): string[] {
  return names.map((name) => Object.keys({ [name]: 0 })[0] as string);
}
