// The examples, spawned as a web server spawns them.
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { example, spawnFcgiApp, stopAll } from '../helpers/apps';

afterEach(stopAll);

describe('examples', () => {
  it.each(['hello.js', 'echo.js'])('%s is an executable with a node shebang', (name) => {
    accessSync(example(name), constants.X_OK);
    expect(readFileSync(example(name), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('hello counts the requests it has served', async () => {
    const app = await spawnFcgiApp(example('hello.js'));
    const bodies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = parseCgiResponse((await fcgiRequest(app.address, { REQUEST_URI: '/' })).stdout);
      expect(response.header('content-type')).toBe('text/html');
      bodies.push(response.body.toString());
    }
    expect(bodies).toEqual([0, 1, 2].map((n) => `<title>CGI Hello!</title><h1>CGI Hello!</h1><body>${n}</body>\n`));
  });

  it("echo reports the method, URI, parameters and the body's length and SHA-256", async () => {
    const app = await spawnFcgiApp(example('echo.js'), { tcp: true });
    const body = randomBytes(10_000);
    const response = await fcgiRequest(
      app.address,
      { REQUEST_METHOD: 'PUT', REQUEST_URI: '/things/1?x=y', CONTENT_LENGTH: String(body.length), HTTP_X_A: 'b' },
      { stdin: body },
    );
    const reply = JSON.parse(parseCgiResponse(response.stdout).body.toString());
    expect(reply).toMatchObject({
      method: 'PUT',
      uri: '/things/1?x=y',
      bodyLength: body.length,
      bodySha256: createHash('sha256').update(body).digest('hex'),
    });
    expect(reply.params.HTTP_X_A).toBe('b');
  });
});
