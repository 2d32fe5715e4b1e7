// The packed parameters and facts the addon hands JS (lib/request/packed-params.ts), as the C++ side packs them
// (native/params/param_copy.cc) and numbers the known names (native/params/param_names.cc): unit tables, and a
// request's facts packed by the real server. The dispatch kinds are held against their header by
// boundary-constants.test.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FcgiConnection, parseCgiResponse } from '../../lib/client/client';
import { Role } from '../../lib/client/protocol';
import { internalized, knownParamNames, pairsOf } from '../../lib/request/packed-params';
import { native } from '../../lib/addon/native';
import { repoRoot, spawnFcgiApp, stopAll, tempDir, type RunningApp } from '../helpers/apps';

afterAll(stopAll);

// V8's own answer to "is this string internalized?", which only code compiled with natives syntax may ask.
setFlagsFromString('--allow-natives-syntax');
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- %IsInternalizedString is not JavaScript syntax
const isInternalized = new Function('name', 'return %IsInternalizedString(name);') as (name: string) => boolean;

/**
 * An app that answers every request, whatever its role, with the facts of its FCGI_BEGIN_REQUEST as JS sees them;
 * it reads all the web server sends first, so that a closing connection never cuts the web server's writes short.
 */
const factsApp = `const { createServer } = require(${JSON.stringify(join(repoRoot, 'dist', 'index.js'))});
createServer(async (req, res) => {
  for await (const chunk of req);
  if (req.fcgi.data) for await (const chunk of req.fcgi.data);
  const { role, keepConn, requestId } = req.fcgi;
  res.end(JSON.stringify({ role, keepConn, requestId }));
}).listen();
`;

describe("the event-loop server's messages", () => {
  describe("a request's facts, packed by the server into the request dispatch's code", () => {
    let app: RunningApp;
    beforeAll(async () => {
      const script = join(tempDir(), 'facts-app.js');
      writeFileSync(script, factsApp);
      app = await spawnFcgiApp(script);
    });

    // Each bit of role, keepConn and requestId set in one case and clear in another, up to the largest requestId.
    it.each([
      { role: 'responder', keepConn: false, requestId: 1 },
      { role: 'responder', keepConn: true, requestId: 2 },
      { role: 'authorizer', keepConn: true, requestId: 300 },
      { role: 'filter', keepConn: false, requestId: 0x5555 },
      { role: 'filter', keepConn: true, requestId: 65535 },
    ] as const)('reach the app as sent: $role, keepConn $keepConn, requestId $requestId', async (facts) => {
      const connection = await FcgiConnection.connect(app.address);
      try {
        const params = { REQUEST_METHOD: 'GET', REQUEST_URI: '/', SERVER_PROTOCOL: 'HTTP/1.1' };
        const reply = await connection.request(params, { ...facts, role: Role[facts.role], data: Buffer.alloc(0) });
        expect(JSON.parse(parseCgiResponse(reply.stdout).body.toString())).toEqual(facts);
      } finally {
        connection.close();
      }
    });
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

  it("internalizes the addon's names without changing them", () => {
    const names = native().knownParamNames;
    expect(names.some(isInternalized), 'the addon already hands over internalized names').toBe(false);
    const made = internalized(names);
    expect(made).toEqual(names);
    expect(made.filter((name) => !isInternalized(name))).toEqual([]);
    expect(
      knownParamNames().filter((name) => !isInternalized(name)),
      'the names the servers use',
    ).toEqual([]);
  });

  it('takes the known names from the addon, which numbers them as it sends them', () => {
    expect(native().knownParamNames.length).toBeGreaterThan(10);
    expect(native().knownParamNames).toContain('REQUEST_METHOD');
    expect(new Set(native().knownParamNames).size).toBe(native().knownParamNames.length);
  });
});
