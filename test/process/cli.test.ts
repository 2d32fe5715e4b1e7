// `libfcgi serve`, the dev server, run as a real command on a loopback port: the matrix's acceptance checks through
// it, the process pool's lifecycle (one request per process at a time, recycling, restarts, SIGTERM), its messages
// about broken apps, and apps that are not ours: a C libfcgi program and Debian's php-cgi.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example, fixture, repoRoot, stopAll, tempDir } from '../helpers/apps';
import { acceptanceChecks } from '../helpers/checks';
import { alive, cliPath, startCli, withCli, type RunningCli } from '../helpers/cli';
import { waitUntil } from '../helpers/wait';
import { makeSite } from '../helpers/site';
import { httpGet } from '../helpers/webservers';

const checkApp = fixture('check-app.js');
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const pidOf = async (cli: RunningCli, route = '/query'): Promise<number> => {
  const reply = await httpGet(cli.port, route);
  expect(reply.status, reply.body.toString()).toBe(200);
  return JSON.parse(reply.body.toString()).pid;
};

afterAll(stopAll);

describe('the acceptance checks through libfcgi serve (2 processes, 8 requests each at once)', () => {
  let cli: RunningCli;
  beforeAll(async () => {
    // The checks post 8 MiB: over mod_fcgid's default FcgidMaxRequestLen, as in test/servers/apache-fcgid.conf.
    cli = await startCli(checkApp, [
      '--procs',
      '2',
      '--concurrency',
      '8',
      '--base',
      '/check',
      '--max-request-len',
      '20000000',
    ]);
  });
  afterAll(() => cli?.stop());

  acceptanceChecks({ name: 'libfcgi serve', base: '/check/', processes: 2, concurrent: true }, () => cli);

  it('passes SCRIPT_NAME from --base and the rest of the path as PATH_INFO', async () => {
    const reply = JSON.parse((await httpGet(cli.port, '/check/sub/query?x=1')).body.toString());
    expect(reply).toMatchObject({ scriptName: '/check', pathInfo: '/sub/query', url: '/check/sub/query?x=1' });
  });

  it('answers 404 outside --base without bothering the app', async () => {
    expect((await httpGet(cli.port, '/elsewhere/query')).status).toBe(404);
  });

  it('declares the length of a chunked request body, which it reads whole first as mod_fcgid does', async () => {
    const body = randomBytes(100_000);
    const reply = await httpGet(cli.port, '/check/echo', {
      method: 'POST',
      body,
      headers: { 'Transfer-Encoding': 'chunked' },
    });
    expect(sha256(reply.body)).toBe(sha256(body));
  });
});

describe('libfcgi serve with examples/hello.js', () => {
  it('serves the example and logs method, path, status, bytes, time and pid for each request', async () => {
    await withCli(example('hello.js'), [], async (cli) => {
      const first = await httpGet(cli.port, '/hello?x=1');
      const second = await httpGet(cli.port, '/hello');
      expect(first.status).toBe(200);
      expect(first.body.toString()).toContain('<h1>CGI Hello!</h1><body>0</body>');
      expect(second.body.toString()).toContain('<body>1</body>');
      expect(await waitUntil(() => /^GET \/hello 200/m.test(cli.output()))).toBe(true);
      const lines = cli.output().match(/^GET \/hello.*$/gm) ?? [];
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^GET \/hello\?x=1 200 \d+B \d+\.\dms pid=\d+$/);
      expect(lines[0]).toContain(`${first.body.length}B`);
    });
  });
});

describe("libfcgi serve's process pool", () => {
  it('gives each process one request at a time and spreads concurrent ones over --procs processes', async () => {
    await withCli(checkApp, ['--procs', '2'], async (cli) => {
      const started = Date.now();
      const replies = await Promise.all(Array.from({ length: 4 }, () => httpGet(cli.port, '/slow?ms=400')));
      const elapsed = Date.now() - started;
      expect(replies.map((reply) => reply.status)).toEqual([200, 200, 200, 200]);
      expect(new Set(replies.map((reply) => JSON.parse(reply.body.toString()).pid)).size).toBe(2);
      // Two processes, each taking one request at a time: two rounds of 400 ms, never one.
      expect(elapsed).toBeGreaterThanOrEqual(790);
    });
  });

  it('replaces a process after --max-requests requests without losing a request', async () => {
    await withCli(checkApp, ['--procs', '1', '--max-requests', '3'], async (cli) => {
      const pids: number[] = [];
      for (let i = 0; i < 9; i++) pids.push(await pidOf(cli));
      expect(new Set(pids).size, `pids seen: ${pids.join(' ')}`).toBe(3);
      expect(pids[0]).toBe(pids[2]);
      expect(pids[3]).not.toBe(pids[2]);
      expect(await waitUntil(() => !alive(pids[0] as number))).toBe(true);
      expect(cli.output()).toContain(`app pid ${pids[0]} served its 3 requests (--max-requests): replacing it`);
    });
  });

  it('starts another process when one is killed, and the next request succeeds', async () => {
    await withCli(checkApp, ['--procs', '1'], async (cli) => {
      const first = await pidOf(cli);
      process.kill(first, 'SIGKILL');
      expect(await waitUntil(() => cli.output().includes(`app pid ${first} was killed by SIGKILL`))).toBe(true);
      const second = await pidOf(cli);
      expect(second).not.toBe(first);
    });
  });

  it('stops an idle process after --idle-timeout and starts one again on demand', async () => {
    await withCli(checkApp, ['--idle-timeout', '1'], async (cli) => {
      const first = await pidOf(cli);
      expect(await waitUntil(() => !alive(first), 10_000), `app ${first} still running`).toBe(true);
      expect(cli.output()).toContain(`app pid ${first} idle for 1 s (--idle-timeout): stopping it`);
      expect(await pidOf(cli)).not.toBe(first);
    });
  });

  it('stops every app process with SIGTERM when it gets SIGTERM itself', async () => {
    const cli = await startCli(checkApp, ['--procs', '3']);
    const replies = await Promise.all(Array.from({ length: 3 }, () => httpGet(cli.port, '/slow?ms=300')));
    const pids = replies.map((reply) => JSON.parse(reply.body.toString()).pid as number);
    expect(new Set(pids).size).toBe(3);
    process.kill(cli.pid, 'SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(pids.filter(alive)).toEqual([]);
  });

  it("hands the app its --env variables and suexec's PATH as its whole initial environment", async () => {
    const dir = tempDir();
    const app = join(dir, 'env-app.js');
    writeFileSync(
      app,
      `#!/usr/bin/env node\nconst { createServer } = require(${JSON.stringify(repoRoot)});\n` +
        `createServer((req, res) => res.end(JSON.stringify(process.env))).listen();\n`,
    );
    chmodSync(app, 0o755);
    await withCli(app, ['--env', 'GREETING=hi there', '--env', 'EMPTY='], async (cli) => {
      const env = JSON.parse((await httpGet(cli.port, '/')).body.toString());
      expect(Object.keys(env).sort()).toEqual(['EMPTY', 'GREETING', 'PATH']);
      expect(env.GREETING).toBe('hi there');
      expect(env.PATH).toBe('/usr/local/bin:/usr/bin:/bin');
    });
  });
});

describe("libfcgi serve on libfcgi init's layout, as Apache serves it with the .htaccess", () => {
  let site: string;
  let docroot: string;
  let cli: RunningCli;
  const get = async (path: string, options: Parameters<typeof httpGet>[2] = {}) => {
    const reply = await httpGet(cli.port, path, options);
    expect(reply.status, reply.body.toString()).toBe(200);
    return JSON.parse(reply.body.toString());
  };
  beforeAll(async () => {
    site = tempDir();
    docroot = makeSite(site);
    copyFileSync(fixture('site-app.js'), join(site, 'app.js'));
    writeFileSync(join(docroot, 'style.css'), 'body { color: teal }\n');
    cli = await startCli('', [], site); // run in the app's directory without APP, as its next steps say
  });
  afterAll(() => cli?.stop());

  it('finds public_html/app.fcgi by itself and serves public_html', () => {
    expect(cli.output()).toContain(`serving ${docroot} (the other URLs to app.fcgi)`);
    expect(cli.output()).not.toContain('.htaccess'); // init's .htaccess raises no warning
  });

  it('rewrites a URL that is not a file to app.fcgi with the parameters Apache sends after the rewrite', async () => {
    const reply = await get('/users/42?tab=a%20b');
    expect(reply.url).toBe('/users/42?tab=a%20b');
    expect(reply.params).toMatchObject({
      SCRIPT_NAME: '/app.fcgi',
      REQUEST_URI: '/users/42?tab=a%20b',
      QUERY_STRING: 'tab=a%20b',
      SCRIPT_FILENAME: join(docroot, 'app.fcgi'),
      DOCUMENT_ROOT: docroot,
      REDIRECT_STATUS: '200',
      REDIRECT_URL: '/users/42',
      REDIRECT_QUERY_STRING: 'tab=a%20b',
    });
    expect(reply.params.PATH_INFO).toBeUndefined();
  });

  it('runs the launcher as on the host: NODE_ENV=production, in the app directory', async () => {
    const reply = await get('/');
    expect(reply.url).toBe('/');
    expect(reply.env.NODE_ENV).toBe('production');
    expect(reply.cwd).toBe(site);
  });

  it('keeps %23, %25 and %3F in the path the app sees', async () => {
    expect((await get('/a%23b%25c%3Fd')).url).toBe('/a%23b%25c%3Fd');
  });

  it('passes /app.fcgi/x straight to the script, with PATH_INFO and without REDIRECT_URL', async () => {
    const reply = await get('/app.fcgi/x?y=1');
    expect(reply.params).toMatchObject({ SCRIPT_NAME: '/app.fcgi', PATH_INFO: '/x', REQUEST_URI: '/app.fcgi/x?y=1' });
    expect(reply.params.REDIRECT_URL).toBeUndefined();
  });

  it('serves an existing file as a file, without the app', async () => {
    const reply = await httpGet(cli.port, '/style.css');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/css');
    expect(reply.body.toString()).toBe('body { color: teal }\n');
    expect(await waitUntil(() => /^GET \/style\.css 200 21B \S+ pid=-$/m.test(cli.output())), cli.output()).toBe(true);
  });

  it.each(['/package.json', '/node_modules/libfcgi/package.json', '/.env', '/.htaccess', '/restart.txt', '/a/.git/x'])(
    'refuses %s with 403, as the .htaccess does',
    async (path) => {
      expect((await httpGet(cli.port, path)).status).toBe(403);
    },
  );

  it('answers 404 below a file and 400 above the document root, as Apache does', async () => {
    expect((await httpGet(cli.port, '/style.css/more')).status).toBe(404);
    expect((await httpGet(cli.port, '/../app.js')).status).toBe(400);
  });

  it("answers 500 to a body over mod_fcgid's 131072 bytes, and says it is FcgidMaxRequestLen", async () => {
    expect((await get('/upload', { method: 'POST', body: Buffer.alloc(131072) })).bodyLength).toBe(131072);
    expect((await httpGet(cli.port, '/upload', { method: 'POST', body: Buffer.alloc(131073) })).status).toBe(500);
    const chunks = [Buffer.alloc(100_000), Buffer.alloc(100_000)];
    expect((await httpGet(cli.port, '/chunked', { method: 'POST', chunks })).status).toBe(500);
    const message = 'HTTP request length 131073 exceeds FcgidMaxRequestLen (131072)';
    expect(await waitUntil(() => cli.output().includes(message)), cli.output()).toBe(true);
    expect(cli.output()).toMatch(/POST \/chunked: HTTP request length \d+ \(so far\) exceeds FcgidMaxRequestLen/);
  });

  it('passes a longer body with --max-request-len', async () => {
    await withCli(
      '',
      ['--max-request-len', '200000'],
      async (raised) => {
        const reply = await httpGet(raised.port, '/upload', { method: 'POST', body: Buffer.alloc(131073) });
        expect(JSON.parse(reply.body.toString()).bodyLength).toBe(131073);
      },
      site,
    );
  });

  it("starts the new code after app.fcgi is touched: a new Node process takes the relays' sockets", async () => {
    const before = await get('/');
    const now = Date.now() / 1000;
    utimesSync(join(docroot, 'app.fcgi'), now, now);
    let after = before;
    for (let i = 0; i < 40 && after.boot === before.boot; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await get('/');
    }
    expect(after.boot).not.toBe(before.boot);
    expect(after.pid).not.toBe(before.pid);
  });

  it('says what is missing when run without APP outside an app directory', () => {
    const empty = tempDir();
    mkdirSync(join(empty, 'public_html'));
    const result = spawnSync(process.execPath, [cliPath, 'serve'], { cwd: empty, encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('serve needs the app to run, or a public_html/app.fcgi here');
  });
});

describe('libfcgi serve with a broken app', () => {
  it('says clearly when the app exits at start, and answers 502 or 503', async () => {
    await withCli(fixture('exit-app.js'), [], async (cli) => {
      expect(await waitUntil(() => cli.output().includes('exited with code 3'))).toBe(true);
      expect(cli.output()).toContain('exit-app: cannot start, no configuration');
      expect(cli.output()).toMatch(
        /app pid \d+ exited with code 3 before answering any request: check that it starts on its own and serves FastCGI on fd 0/,
      );
      const reply = await httpGet(cli.port, '/');
      expect([502, 503]).toContain(reply.status);
      expect(await waitUntil(() => /^GET \/ 50[23] \d+B/m.test(cli.output())), cli.output()).toBe(true);
    });
  });

  it('says clearly when the app writes something other than FastCGI records, and answers 502', async () => {
    await withCli(fixture('garbage-app.js'), [], async (cli) => {
      const reply = await httpGet(cli.port, '/page');
      expect(reply.status).toBe(502);
      expect(
        await waitUntil(() => cli.output().includes('not a FastCGI record: expected version 1, got the bytes "hello"')),
        cli.output(),
      ).toBe(true);
      expect(cli.output()).toMatch(/app pid \d+ failed GET \/page: /);
    });
  });

  it('answers 502 and shows the first bytes when the output has no blank line after the headers', async () => {
    await withCli(fixture('no-headers-app.js'), [], async (cli) => {
      expect((await httpGet(cli.port, '/')).status).toBe(502);
      const message = 'its output ended without a blank line after the headers (22 bytes: "just text, no headers\\n")';
      expect(await waitUntil(() => cli.output().includes(message)), cli.output()).toBe(true);
    });
  });

  it('says so when the --wrapper cannot be started, and answers 503', async () => {
    await withCli(fixture('params.php'), ['--wrapper', '/nonexistent/php-cgi'], async (cli) => {
      expect((await httpGet(cli.port, '/')).status).toBe(503);
      expect(cli.output()).toContain('cannot start /nonexistent/php-cgi: spawn /nonexistent/php-cgi ENOENT');
    });
  });

  it('refuses an app that is neither executable nor JavaScript, saying what to do', () => {
    const dir = tempDir();
    const script = join(dir, 'index.php');
    writeFileSync(script, '<?php echo 1;');
    const result = spawnSync(process.execPath, [cliPath, 'serve', script], { encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`${script} is not executable: chmod +x it, or give --wrapper`);
  });

  it('prints its usage for a wrong command line', () => {
    const result = spawnSync(process.execPath, [cliPath, 'serve', checkApp, '--procs', 'many'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("--procs takes a whole number from 1, got 'many'");
    expect(result.stderr).toContain('Usage: libfcgi serve [APP] [options]');
  });
});

describe('libfcgi serve with a C libfcgi program', () => {
  let app: string;
  beforeAll(() => {
    app = join(tempDir(), 'c-echo');
    execFileSync('cc', ['-O2', '-o', app, fixture('c-echo.c'), '-lfcgi']);
  });

  it('serves it, echoes an 8 MiB body byte-exact, and starts it again after it is killed', async () => {
    await withCli(app, ['--procs', '1', '--max-request-len', '0'], async (cli) => {
      const body = randomBytes(8 * 1024 * 1024);
      const reply = await httpGet(cli.port, '/echo', { method: 'POST', body });
      expect(reply.status).toBe(200);
      expect(reply.body.length).toBe(body.length);
      expect(sha256(reply.body)).toBe(sha256(body));
      const pid = Number(reply.headers['x-pid']);
      process.kill(pid, 'SIGKILL');
      expect(await waitUntil(() => cli.output().includes(`app pid ${pid} was killed by SIGKILL`))).toBe(true);
      const again = await httpGet(cli.port, '/echo', { method: 'POST', body: 'again' });
      expect(again.body.toString()).toBe('again');
      expect(Number(again.headers['x-pid'])).not.toBe(pid);
    });
  });

  it('recycles it after --max-requests', async () => {
    await withCli(app, ['--max-requests', '2'], async (cli) => {
      const pids: string[] = [];
      for (let i = 0; i < 6; i++) pids.push(String((await httpGet(cli.port, '/')).headers['x-pid']));
      expect(new Set(pids).size, pids.join(' ')).toBe(3);
    });
  });
});

describe("libfcgi serve with Debian's php-cgi (--wrapper php-cgi)", () => {
  let cli: RunningCli;
  let script: string;
  beforeAll(async () => {
    const dir = tempDir();
    script = join(dir, 'index.php');
    copyFileSync(fixture('params.php'), script);
    cli = await startCli(script, ['--wrapper', 'php-cgi']);
  });
  afterAll(() => cli?.stop());

  it('sends the CGI parameters a real web server sends', async () => {
    const reply = await httpGet(cli.port, '/some/path?a=1&b=%20', {
      method: 'POST',
      body: 'x=1',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Check': 'yes', Host: 'dev.example' },
    });
    expect(reply.status, reply.body.toString()).toBe(200);
    const { server, body } = JSON.parse(reply.body.toString());
    expect(body).toBe('x=1');
    expect(server).toMatchObject({
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'POST',
      REQUEST_URI: '/some/path?a=1&b=%20',
      QUERY_STRING: 'a=1&b=%20',
      SCRIPT_FILENAME: script,
      SCRIPT_NAME: '',
      PATH_INFO: '/some/path',
      DOCUMENT_ROOT: join(script, '..'),
      SERVER_NAME: 'dev.example',
      SERVER_ADDR: '127.0.0.1',
      SERVER_PORT: String(cli.port),
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: '127.0.0.1',
      CONTENT_TYPE: 'application/x-www-form-urlencoded',
      CONTENT_LENGTH: '3',
      HTTP_X_CHECK: 'yes',
      HTTP_HOST: 'dev.example',
    });
    expect(server.SERVER_SOFTWARE).toMatch(/^libfcgi\/\d+\.\d+\.\d+ \(dev server\)$/);
    expect(Number(server.REMOTE_PORT)).toBeGreaterThan(0);
  });

  it("turns PHP's Location header into a 302, as Apache does", async () => {
    const reply = await httpGet(cli.port, '/?redirect=1');
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe('/elsewhere');
  });

  it('keeps one php-cgi process serving request after request', async () => {
    const pids = new Set<number>();
    for (let i = 0; i < 5; i++) pids.add(JSON.parse((await httpGet(cli.port, '/')).body.toString()).pid);
    expect(pids.size).toBe(1);
  });
});
