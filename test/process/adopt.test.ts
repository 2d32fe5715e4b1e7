// libfcgi/adopt: apps that end in their own listen() (Express, Koa, Fastify, NestJS, a second server on a port of
// its own) served unchanged on the FastCGI socket a web server passes as fd 0, with `node -r libfcgi/adopt app.js`.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type FcgiAddress, fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { fixture, freePort, repoRoot, spawnFcgiApp, stopAll, stopWithAll, tempDir } from '../helpers/apps';
import { cgiParams } from '../helpers/raw-fastcgi';
import { httpGet } from '../helpers/webservers';

afterAll(stopAll);

const adoptArgs = ['-r', 'libfcgi/adopt'];

async function getJson(address: FcgiAddress, uri: string, extra: Record<string, string> = {}, body?: Buffer) {
  const response = parseCgiResponse(
    (await fcgiRequest(address, cgiParams({ REQUEST_URI: uri, SCRIPT_NAME: '', ...extra }), { stdin: body })).stdout,
  );
  return { status: response.status, json: JSON.parse(response.body.toString()) as Record<string, unknown> };
}

const refused = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

describe.each(['express', 'koa', 'fastify', 'nestjs'])(
  '%s, ending in its own listen(), under -r libfcgi/adopt',
  (framework) => {
    it('is served on the FastCGI socket, binding no port', async () => {
      const port = await freePort();
      const app = await spawnFcgiApp(fixture(`own-listen/${framework}.js`), {
        tcp: true,
        nodeArgs: adoptArgs,
        env: { PORT: String(port) },
      });
      const { status, json } = await getJson(app.address, '/hello/world');
      expect(status).toBe(200);
      expect(json).toEqual({ framework, hello: 'world', pid: app.pid });
      expect(await refused(port), `${framework} bound its own port`).toBe(true);
    });
  },
);

describe('-r libfcgi/adopt', () => {
  it('passes Express its JSON bodies, and its listen() callback runs', async () => {
    const app = await spawnFcgiApp(fixture('own-listen/express.js'), { tcp: true, nodeArgs: adoptArgs });
    const body = Buffer.from(JSON.stringify({ n: 1 }));
    const { json } = await getJson(
      app.address,
      '/echo',
      { REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/json', CONTENT_LENGTH: String(body.length) },
      body,
    );
    expect(json).toEqual({ received: { n: 1 } });
    expect(app.output()).toContain('listening on 3000');
  });

  it('serves the first server on FastCGI and lets a second one bind its own port', async () => {
    const metricsPort = await freePort();
    const app = await spawnFcgiApp(fixture('own-listen/two-servers.js'), {
      tcp: true,
      nodeArgs: adoptArgs,
      env: { METRICS_PORT: String(metricsPort) },
    });
    const response = parseCgiResponse((await fcgiRequest(app.address, cgiParams({ REQUEST_URI: '/x' }))).stdout);
    expect(response.body.toString()).toBe('app /x');
    let metrics = '';
    for (let i = 0; i < 50 && metrics === ''; i++) {
      metrics = await httpGet(metricsPort, '/').then(
        (reply) => reply.body.toString(),
        () => new Promise<string>((resolve) => setTimeout(() => resolve(''), 50)),
      );
    }
    expect(metrics).toBe('metrics');
  });

  it('restarts an adopted app in place with its new code when its script is rewritten', async () => {
    const script = join(tempDir(), 'server.js');
    const write = (version: string): void =>
      writeFileSync(
        script,
        `const app = require('express')();\napp.get('/v', (req, res) => res.json({ version: '${version}', pid: process.pid }));\napp.listen(3000);\n`,
      );
    write('v1');
    const app = await spawnFcgiApp(script, {
      tcp: true,
      nodeArgs: adoptArgs,
      env: { NODE_PATH: join(repoRoot, 'node_modules') },
    });
    expect((await getJson(app.address, '/v')).json).toEqual({ version: 'v1', pid: app.pid });
    write('v2');
    let json: Record<string, unknown> = {};
    for (let i = 0; i < 60 && json.version !== 'v2'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      json = (await getJson(app.address, '/v')).json;
    }
    expect(json).toEqual({ version: 'v2', pid: app.pid });
  });

  it('does nothing when the app is not started by a web server: its listen() binds its port', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [...adoptArgs, fixture('own-listen/express.js')], {
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    stopWithAll(async () => void child.kill());
    let reply = null;
    for (let i = 0; i < 100 && reply === null; i++) {
      reply = await httpGet(port, '/hello/laptop').catch(() => null);
      if (reply === null) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(JSON.parse(reply?.body.toString() ?? '{}')).toMatchObject({ framework: 'express', hello: 'laptop' });
    child.kill();
  });
});
