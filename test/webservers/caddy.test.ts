// An Express app on createServer() behind Caddy, as users deploy it: JSON POSTs parsed by express.json(), sent with a
// Content-Length and chunked (for which Caddy sends CONTENT_LENGTH=-1).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startListeningApp, stopAll, tempDir } from '../helpers/apps';
import { httpGet, startWebServer, type WebServer } from '../helpers/webservers';

describe('an Express app on createServer() behind Caddy', () => {
  let server: WebServer;
  beforeAll(async () => {
    const socket = join(tempDir(), 'app.sock');
    await startListeningApp(fixture('express-json-app.js'), { path: socket }, { LISTEN: `unix:${socket}` });
    server = await startWebServer('caddy', 'caddy.conf', { UPSTREAM: `unix/${socket}` });
  }, 60_000);
  afterAll(stopAll);

  it('parses a JSON POST sent with a Content-Length', async () => {
    const reply = await httpGet(server.port, '/json', {
      method: 'POST',
      body: JSON.stringify({ n: 1, text: 'with a length' }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(reply.status, reply.body.toString()).toBe(200);
    expect(JSON.parse(reply.body.toString())).toMatchObject({
      received: { n: 1, text: 'with a length' },
      contentLength: '30',
      transferEncoding: null,
    });
  });

  it('parses a chunked JSON POST, seen by the app as chunked with no Content-Length as node:http shows it', async () => {
    const reply = await httpGet(server.port, '/json', {
      method: 'POST',
      chunks: ['{"n": 2, "text": ', '"in two chunks"}'],
      headers: { 'Content-Type': 'application/json' },
    });
    expect(reply.status, reply.body.toString()).toBe(200);
    expect(JSON.parse(reply.body.toString())).toMatchObject({
      received: { n: 2, text: 'in two chunks' },
      contentLength: null,
      transferEncoding: 'chunked',
    });
  });
});
