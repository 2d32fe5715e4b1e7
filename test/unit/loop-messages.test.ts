// The format the event-loop server and JS talk in (lib/event-loop/messages.ts), as the C++ side defines it
// (native/event_loop/loop_server.h) and as its parameter names are numbered (native/params/param_names.cc): unit tables, and the
// numbers read out of the header, so the two definitions cannot drift apart unseen.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Dispatch } from '../../lib/event-loop/messages';
import { internalized, pairsOf, unpackFacts } from '../../lib/request/packed-params';
import { native } from '../../lib/addon/native';
import { repoRoot } from '../helpers/apps';

describe("the event-loop server's messages", () => {
  it("numbers dispatch kinds as native/event_loop/loop_server.h's LoopDispatch does", () => {
    const header = readFileSync(join(repoRoot, 'native', 'event_loop', 'loop_server.h'), 'utf8');
    const numbered = Object.fromEntries(
      [...header.matchAll(/^\s+kLoop(\w+) = (\d+),/gm)].map(([, name, value]) => [
        (name as string).charAt(0).toLowerCase() + (name as string).slice(1),
        Number(value),
      ]),
    );
    expect(numbered).toEqual(Dispatch);
  });

  it.each([
    { code: 1, facts: { role: 1, keepConn: false, requestId: 0 } },
    { code: 1 | 4 | (1 << 3), facts: { role: 1, keepConn: true, requestId: 1 } },
    { code: 3 | (65535 << 3), facts: { role: 3, keepConn: false, requestId: 65535 } },
    { code: 2 | 4 | (300 << 3), facts: { role: 2, keepConn: true, requestId: 300 } },
  ])('unpacks the facts code $code', ({ code, facts }) => {
    expect(unpackFacts(code)).toEqual(facts);
  });

  it('unpacks parameters: own names inline, known names by number, empty values and NUL-free latin1 kept', () => {
    const known = ['REQUEST_METHOD', 'HTTP_HOST'];
    const kinds = String.fromCharCode(2, 1, 3, 1);
    const payload = `\0GET\0X_OWN\0v\xe9\0\0example.org\0EMPTY\0\0${kinds}`;
    expect(pairsOf(payload, known)).toEqual([
      'REQUEST_METHOD',
      'GET',
      'X_OWN',
      'v\xe9',
      'HTTP_HOST',
      'example.org',
      'EMPTY',
      '',
    ]);
    expect(pairsOf('', known)).toEqual([]);
    expect(pairsOf(`\0\0${String.fromCharCode(1)}`, known)).toEqual(['', '']); // a parameter with an empty name
  });

  it('internalizes names without changing them', () => {
    const names = ['REQUEST_METHOD', `HTTP_${'X'.repeat(3)}`, 'EMPTY_VALUE'];
    expect(internalized(names)).toEqual(names);
  });

  it('takes the known names from the addon, which numbers them as it sends them', () => {
    expect(native().knownParamNames.length).toBeGreaterThan(10);
    expect(native().knownParamNames).toContain('REQUEST_METHOD');
    expect(new Set(native().knownParamNames).size).toBe(native().knownParamNames.length);
  });
});
