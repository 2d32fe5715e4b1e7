// Every constant that crosses a boundary, held against its other side's source: native C++ and TypeScript (the
// event-loop server's dispatch kinds, the accept loop's wait ends, the packed parameters), the relay's C and the
// addon's relay listener (the greeting), and the relay and TypeScript (the control socket's variable, the relay
// listener's kinds). Each side is read from its own file, so neither can change unseen.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Dispatch } from '../../lib/event-loop/messages';
import { waitEnds } from '../../lib/addon/native';
import { firstKnownKind, ownNameKind, unpackFacts } from '../../lib/request/packed-params';
import { RelayDispatch } from '../../lib/relay/relay-hub';
import { chunkSize } from '../../lib/request/request-io';
import { relaySocketVariable } from '../../lib/serving/source';
import { repoRoot } from '../helpers/apps';

const source = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');

/** An enum's members as { camelCaseWithoutPrefix: value }: kLoopStartData = 3 → startData: 3. */
function enumOf(text: string, name: string, prefix: string): Record<string, number> {
  const body = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(text)?.[1] ?? '';
  return Object.fromEntries(
    [...body.matchAll(new RegExp(`${prefix}(\\w+) = (\\d+)`, 'g'))].map(([, member, value]) => [
      (member as string).charAt(0).toLowerCase() + (member as string).slice(1),
      Number(value),
    ]),
  );
}

/** The value of a C string constant: `static const char kName[] = "…"` or `constexpr char kName[] = "…"`. */
const cString = (text: string, name: string): string | undefined =>
  new RegExp(`char ${name}\\[\\] = "([^"]*)"`).exec(text)?.[1];

describe('constants across the native boundary', () => {
  it("the event-loop server's dispatch kinds are loop_server.h's LoopDispatch", () => {
    const kinds = enumOf(source('native/event_loop/loop_server.h'), 'LoopDispatch', 'kLoop');
    expect(Object.keys(kinds).length).toBeGreaterThan(5);
    expect(kinds).toEqual(Dispatch);
  });

  it("the relay listener's kinds are relay_listener.h's RelayDispatch", () => {
    expect(enumOf(source('native/relay/relay_listener.h'), 'RelayDispatch', 'kRelay')).toEqual(RelayDispatch);
  });

  it("the accept loop's wait ends are the names accept_loop.cc returns", () => {
    const text = source('native/accept_loop/accept_loop.cc');
    const returned = [...text.matchAll(/return Napi::String::New\(env, "(\w+)"\)/g)].map((match) => match[1]);
    expect(returned).toEqual([...waitEnds]);
  });

  it("a request's facts unpack as param_copy.cc packs them", () => {
    const packing =
      /return request\.role \| \(request\.keepConnection != 0 \? (\d+) : 0\) \| \(request\.requestId << (\d+)\);/.exec(
        source('native/params/param_copy.cc'),
      );
    expect(packing).not.toBeNull();
    const [keepConnBit, idShift] = [Number(packing?.[1]), Number(packing?.[2])];
    for (const [role, keepConn, requestId] of [
      [1, false, 0],
      [3, true, 1],
      [2, true, 65535],
    ] as const) {
      const code = role | (keepConn ? keepConnBit : 0) | (requestId << idShift);
      expect(unpackFacts(code)).toEqual({ role, keepConn, requestId });
    }
  });

  it("the chunk size is connection.h's", () => {
    const size = /constexpr size_t kChunk = (\d+) \* (\d+);/.exec(source('native/event_loop/connection.h'));
    expect(Number(size?.[1]) * Number(size?.[2])).toBe(chunkSize);
  });

  it("a parameter's kind characters are param_copy.cc's", () => {
    const kinds = /known < 0 \? (\d+) : (\d+) \+ known/.exec(source('native/params/param_copy.cc'));
    expect([Number(kinds?.[1]), Number(kinds?.[2])]).toEqual([ownNameKind, firstKnownKind]);
  });
});

describe('constants between the relay and the rest', () => {
  it('the greeting a relay sends is the one the relay listener expects', () => {
    const sent = cString(source('native/relay/relay.c'), 'kHello');
    expect(sent).toMatch(/^libfcgi-relay \d+$/);
    expect(cString(source('native/relay/relay_listener.cc'), 'kHello')).toBe(sent);
  });

  it('the variable the relay sets for the Node process is the one lib/ reads', () => {
    expect(cString(source('native/relay/relay.c'), 'kSocketVariable')).toBe(relaySocketVariable);
  });
});
