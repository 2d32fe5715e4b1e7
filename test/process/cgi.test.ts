// The CGI fallback: started without a FastCGI socket on fd 0, the same loop serves one request on stdin/stdout.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCgiResponse } from '../../lib/client/client';
import { example, fixture, repoRoot, stopAll, tempDir } from '../helpers/apps';

afterAll(stopAll);

interface Run {
  stdout: Buffer;
  stderr: string;
  code: number | null;
  /** Set when writing the body failed (EPIPE: the program exited without reading it). */
  stdinError?: string;
}

/** Runs a script as a CGI server would: environment variables, the body on stdin (a socketpair, like mod_cgid). */
function runCgi(script: string, env: Record<string, string>, body?: Buffer, closeStdin = true): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? '', ...env } });
    const stdout: Buffer[] = [];
    let stderr = '';
    let stdinError: string | undefined;
    child.stdin.on('error', (error: NodeJS.ErrnoException) => (stdinError = error.code));
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout: Buffer.concat(stdout), stderr, code, stdinError }));
    if (body) child.stdin.write(body);
    if (closeStdin) child.stdin.end();
  });
}

describe('the CGI fallback', () => {
  it('runs the loop once as CGI when stdin is a connected socket, not a listening one', async () => {
    const run = await runCgi(example('hello.js'), { REQUEST_METHOD: 'GET', REQUEST_URI: '/hello' });
    expect(run.code).toBe(0);
    const response = parseCgiResponse(run.stdout);
    expect(response.body.toString()).toContain('<h1>CGI Hello!</h1><body>0</body>');
  });

  it('reads the body up to CONTENT_LENGTH', async () => {
    const body = randomBytes(100_000);
    const run = await runCgi(
      fixture('sync-app.js'),
      { REQUEST_METHOD: 'POST', REQUEST_URI: '/sha', CONTENT_LENGTH: '70000' },
      body,
      false,
    );
    const reply = JSON.parse(parseCgiResponse(run.stdout).body.toString());
    expect(reply).toEqual({
      length: 70_000,
      sha256: createHash('sha256').update(body.subarray(0, 70_000)).digest('hex'),
    });
  });

  it('reads the body to EOF when there is no CONTENT_LENGTH (chunked uploads through Apache)', async () => {
    const body = randomBytes(50_000);
    const run = await runCgi(fixture('sync-app.js'), { REQUEST_METHOD: 'POST', REQUEST_URI: '/sha' }, body);
    expect(JSON.parse(parseCgiResponse(run.stdout).body.toString()).length).toBe(50_000);
  });

  it('takes the parameters from the environment, byte for byte', async () => {
    const run = await runCgi(fixture('sync-app.js'), { REQUEST_URI: '/params', HTTP_X_TEST: 'caf\u00e9' });
    const params = JSON.parse(parseCgiResponse(run.stdout).body.toString('utf8'));
    expect(Buffer.from(params.HTTP_X_TEST, 'latin1').toString('utf8')).toBe('caf\u00e9');
  });

  it('reports itself as a CGI request and makes the exit status the process exit code', async () => {
    const role = await runCgi(fixture('sync-app.js'), { REQUEST_URI: '/role' });
    expect(JSON.parse(parseCgiResponse(role.stdout).body.toString())).toEqual({
      role: 'responder',
      requestId: 0,
      keepConn: false,
      cgi: true,
    });
    const exit = await runCgi(fixture('sync-app.js'), { REQUEST_URI: '/exit', QUERY_STRING: 'status=3' });
    expect(exit.code).toBe(3);
  });

  it('drains an unread body before exiting, so the server can finish sending it', async () => {
    const run = await runCgi(
      fixture('sync-app.js'),
      { REQUEST_METHOD: 'POST', REQUEST_URI: '/unread', CONTENT_LENGTH: '300000' },
      randomBytes(300_000),
    );
    expect(run.code).toBe(0);
    expect(run.stdinError).toBeUndefined();
    expect(parseCgiResponse(run.stdout).body.toString()).toBe('body left unread');
  });
});

describe('the CGI fallback of createServer()', () => {
  const serverApp = (): string => {
    const script = join(tempDir(), 'server-app.js');
    const code = `const { createHash } = require('node:crypto');
require(${JSON.stringify(repoRoot)}).createServer((req, res) => {
  if (req.url === '/unread') return res.end('body left unread');
  if (req.url === '/big') return res.end(Buffer.alloc(2 * 1024 * 1024, 'x'));
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (chunk) => { hash.update(chunk); length += chunk.length; });
  req.on('end', () => res.end(JSON.stringify({ length, sha256: hash.digest('hex') })));
}).listen();
`;
    writeFileSync(script, code);
    return script;
  };

  it('reads the body up to CONTENT_LENGTH, and to EOF without one', async () => {
    const body = randomBytes(100_000);
    const app = serverApp();
    const declared = await runCgi(app, { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '70000' }, body, false);
    expect(JSON.parse(parseCgiResponse(declared.stdout).body.toString())).toEqual({
      length: 70_000,
      sha256: createHash('sha256').update(body.subarray(0, 70_000)).digest('hex'),
    });
    const toEof = await runCgi(app, { REQUEST_METHOD: 'POST' }, body);
    expect(JSON.parse(parseCgiResponse(toEof.stdout).body.toString()).length).toBe(100_000);
  });

  it('drains an unread body before exiting, so the server can finish sending it', async () => {
    const run = await runCgi(
      serverApp(),
      { REQUEST_METHOD: 'POST', REQUEST_URI: '/unread', CONTENT_LENGTH: '300000' },
      randomBytes(300_000),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdinError).toBeUndefined();
    expect(parseCgiResponse(run.stdout).body.toString()).toBe('body left unread');
  });

  it('writes a response larger than the pipe holds, whole', async () => {
    const run = await runCgi(serverApp(), { REQUEST_METHOD: 'GET', REQUEST_URI: '/big' });
    expect(run.code, run.stderr).toBe(0);
    expect(parseCgiResponse(run.stdout).body.length).toBe(2 * 1024 * 1024);
  });
});

describe("createServer()'s req.url without REQUEST_URI", () => {
  const urlApp = (): string => {
    const script = join(tempDir(), 'url-app.js');
    const code = `require(${JSON.stringify(repoRoot)}).createServer((req, res) => res.end(req.url)).listen();\n`;
    writeFileSync(script, code);
    return script;
  };

  it.each([
    [{}, '/'],
    [{ QUERY_STRING: 'a=1' }, '/?a=1'],
    [{ SCRIPT_NAME: '/app.fcgi', PATH_INFO: '/x', QUERY_STRING: 'a=1' }, '/app.fcgi/x?a=1'],
    [{ SCRIPT_NAME: '', PATH_INFO: '/only/path' }, '/only/path'],
    [{ REQUEST_URI: '/clean?a=1', SCRIPT_NAME: '/app.fcgi' }, '/clean?a=1'],
  ])('with %j is %s', async (params, url) => {
    const run = await runCgi(urlApp(), { REQUEST_METHOD: 'GET', ...params });
    expect(run.code, run.stderr).toBe(0);
    expect(parseCgiResponse(run.stdout).body.toString()).toBe(url);
  });
});
