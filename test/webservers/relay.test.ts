// fcgi-relay (native/relay/relay.c, lib/relay) under the spawners besides mod_fcgid (test/webservers/shared-hosting.test.ts has
// Apache): lighttpd bin-path with several processes and spawn-fcgi -F, which hand one Node process their sockets;
// requests served at once; a crash, and the spawner stopping; and whatever else knocks on the control socket.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { freePort, nodeCommand, stopAll, stopWithAll, tempDir } from '../helpers/apps';
import { waitUntil } from '../helpers/wait';
import { cgiParams, slowdown } from '../helpers/raw-fastcgi';
import { makeSite } from '../helpers/site';
import { httpGet, startWebServer, type WebServer } from '../helpers/webservers';
import { findProcesses, isRelay } from '../helpers/processes';
import { collectOutput } from '../helpers/output';

afterAll(stopAll);

/** The account H2O runs what it spawns as. */
const nobody = 65534;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Answers its pid and version; ?slow after 300 ms; ?crash answers, then throws outside any handler; ?tunables answers
 * the glibc tunables it was started with.
 */
const app = (version = 'v1'): string => `'use strict';
const { createServer } = require('libfcgi');
createServer((req, res) => {
  const query = new URL(req.url, 'http://x').searchParams;
  const answer = process.pid + ' ${version}';
  if (query.has('tunables')) return res.end(String(process.env.GLIBC_TUNABLES));
  if (query.has('crash')) {
    res.end(answer, () => setTimeout(() => { throw new Error('crashed on purpose'); }, 50));
    return;
  }
  setTimeout(() => res.end(answer), query.has('slow') ? 300 : 0);
}).listen();
`;

/**
 * A site from libfcgi init (the relayed launcher), with the app above. Under scripts/valgrind.sh the relay starts node
 * under valgrind: the launcher's relay-node line names the whole command.
 */
function relayedSite(): { dir: string; launcher: string } {
  const dir = tempDir();
  makeSite(dir);
  writeFileSync(join(dir, 'app.js'), app());
  const launcher = join(dir, 'public_html', 'app.fcgi');
  const node = nodeCommand('').slice(0, -1).join(' ');
  writeFileSync(launcher, readFileSync(launcher, 'utf8').replace(/^\/\/ relay-node: .*$/m, `// relay-node: ${node}`));
  return { dir, launcher };
}

/** The site's relays and Node processes, found in /proc by the launcher on their command lines. */
function processesOf(launcher: string): { relays: number[]; nodes: number[] } {
  const found = findProcesses((args) => args.includes(launcher));
  return {
    relays: found.filter(isRelay).map((process) => process.pid),
    nodes: found.filter((process) => !isRelay(process)).map((process) => process.pid),
  };
}

/** How many times the site's app has crashed on purpose, by its log. */
const crashesIn = (dir: string): number =>
  readFileSync(join(dir, 'logs', 'app.log'), 'utf8').split('Error: crashed on purpose').length - 1;

interface Answer {
  status: number;
  retryAfter: string | string[] | undefined;
  body: string;
}

/**
 * Waits until the site's Node process has crashed (the app throws 50 ms after its ?crash answer), then asks until `pid`
 * answers 200 again (restarted in place after its back-off), at most 10 s; returns every answer, the 503s of its
 * stand-in included.
 */
async function untilServedBy(dir: string, crashesBefore: number, pid: number, ask: () => Promise<Answer>) {
  expect(await waitUntil(() => crashesIn(dir) > crashesBefore, 5000 * slowdown)).toBe(true);
  const answers: Answer[] = [];
  const served = await waitUntil(
    async () => {
      const answer = await ask();
      answers.push(answer);
      return answer.status === 200 && Number(answer.body.split(' ')[0]) === pid;
    },
    10_000 * slowdown,
    50,
  );
  if (!served) throw new Error(`not served by ${pid} again; the answers: ${JSON.stringify(answers.slice(-5))}`);
  return answers;
}

const noneLeft = (launcher: string) => (): boolean => {
  const { relays, nodes } = processesOf(launcher);
  return relays.length + nodes.length === 0;
};

describe('fcgi-relay under lighttpd bin-path with max-procs 4', () => {
  let site: { dir: string; launcher: string };
  let server: WebServer;
  const pidOf = async (path: string): Promise<number> => {
    const reply = await httpGet(server.port, path);
    expect(reply.status, reply.body.toString()).toBe(200);
    return Number(reply.body.toString().split(' ')[0]);
  };

  beforeAll(async () => {
    site = relayedSite();
    const backend = `"socket" => "@RUN@/check.sock", "bin-path" => "${site.launcher}", "check-local" => "disable", "max-procs" => 4`;
    server = await startWebServer('lighttpd', 'lighttpd-check.conf', { BACKEND: backend });
  });

  it('serves 16 requests of 300 ms at once from one Node process, with the four processes lighttpd runs as relays', async () => {
    const started = Date.now();
    const pids = await Promise.all(Array.from({ length: 16 }, () => pidOf('/check?slow')));
    expect(Date.now() - started).toBeLessThan(2400); // one at a time per process: 16 / 4 × 300 ms = 1.2 s at best
    expect(new Set(pids).size).toBe(1);
    expect(await waitUntil(() => processesOf(site.launcher).relays.length === 4, 5000)).toBe(true);
    expect(processesOf(site.launcher).nodes).toEqual([pids[0]]);
  });

  it('restarts a crashed Node process in place after its back-off, answering 503 meanwhile, and starts no other', async () => {
    const before = crashesIn(site.dir);
    const crashed = await pidOf('/check?crash');
    const answers = await untilServedBy(site.dir, before, crashed, async () => {
      const reply = await httpGet(server.port, '/check');
      return { status: reply.status, retryAfter: reply.headers['retry-after'], body: reply.body.toString() };
    });
    expect(answers.at(-1)?.status).toBe(200);
    expect(answers.filter(({ status }) => status === 503).length).toBeGreaterThan(0);
    for (const { status, retryAfter } of answers) if (status === 503) expect(retryAfter).toMatch(/^\d+$/);
    expect(processesOf(site.launcher).nodes).toEqual([crashed]);
  });

  it('serves the new code after a redeploy (touch app.fcgi) from a new Node process, failing no request', async () => {
    const before = await pidOf('/check');
    writeFileSync(join(site.dir, 'app.js'), app('v2'));
    const now = new Date();
    utimesSync(site.launcher, now, now);
    const answers: string[] = [];
    const deadline = Date.now() + 10_000;
    while (!answers.some((answer) => answer.endsWith(' v2')) && Date.now() < deadline) {
      const replies = await Promise.all(Array.from({ length: 4 }, () => httpGet(server.port, '/check?slow')));
      answers.push(...replies.map((reply) => `${reply.status} ${reply.body.toString()}`));
    }
    expect(answers.filter((answer) => !answer.startsWith('200 '))).toEqual([]);
    const last = answers[answers.length - 1] as string;
    expect(last).toMatch(/ v2$/);
    expect(last).not.toContain(` ${before} `);
    expect(await waitUntil(() => processesOf(site.launcher).nodes.length === 1, 5000)).toBe(true);
  });

  it('leaves no process of the site 5 s after lighttpd stops', async () => {
    await server.stop();
    expect(await waitUntil(noneLeft(site.launcher), 5000)).toBe(true);
  });
});

describe('fcgi-relay run as CGI, where it becomes Node', () => {
  it.each([
    [undefined, 'glibc.malloc.tcache_count=32'],
    ['glibc.malloc.mxfast=0', 'glibc.malloc.mxfast=0:glibc.malloc.tcache_count=32'],
    ['glibc.malloc.tcache_count=8', 'glibc.malloc.tcache_count=8'],
  ])('starts Node with GLIBC_TUNABLES %s as %s, keeping what the user set', (own, expected) => {
    const site = relayedSite();
    const env: Record<string, string | undefined> = {
      ...process.env,
      GLIBC_TUNABLES: own,
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'GET',
      REQUEST_URI: '/?tunables',
      QUERY_STRING: 'tunables',
      SERVER_PROTOCOL: 'HTTP/1.1',
    };
    const run = spawnSync(site.launcher, [], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    expect(run.status, run.stderr.toString()).toBe(0);
    expect(parseCgiResponse(run.stdout).body.toString()).toBe(expected);
  });
});

describe('fcgi-relay under spawn-fcgi -F 3', () => {
  let site: { dir: string; launcher: string };
  let port = 0;
  let relays: number[] = [];
  const pidOf = async (query = ''): Promise<number> => {
    const params = cgiParams({ QUERY_STRING: query, REQUEST_URI: `/?${query}` });
    const response = parseCgiResponse((await fcgiRequest({ port }, params)).stdout);
    expect(response.status, response.body.toString()).toBe(200);
    return Number(response.body.toString().split(' ')[0]);
  };

  beforeAll(async () => {
    site = relayedSite();
    port = await freePort();
    const args = ['-a', '127.0.0.1', '-p', String(port), '-F', '3', '--', site.launcher];
    const child = spawn('spawn-fcgi', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collectOutput([child.stdout, child.stderr], 'spawn-fcgi and the relays it forked');
    await new Promise((resolve) => child.once('exit', resolve));
    const said = output.text();
    relays = [...said.matchAll(/PID: (\d+)/g)].map((match) => Number(match[1]));
    expect(relays, said).toHaveLength(3);
    stopWithAll(async () => {
      for (const pid of processesOf(site.launcher).relays) process.kill(pid, 'SIGTERM');
      await waitUntil(noneLeft(site.launcher), 5000);
    });
  });

  it('serves 12 requests of 300 ms at once from one Node process that all three relays handed the socket', async () => {
    const first = await pidOf(); // spawn-fcgi's relays start Node at their first request
    const started = Date.now();
    const pids = await Promise.all(Array.from({ length: 12 }, () => pidOf('slow')));
    expect(Date.now() - started).toBeLessThan(1500 * slowdown);
    expect(new Set(pids)).toEqual(new Set([first]));
    expect(processesOf(site.launcher)).toEqual({ relays: expect.arrayContaining(relays), nodes: [first] });
  });

  it("starts Node with glibc's cache of small blocks raised to a request's worth of libfcgi's allocations", async () => {
    const response = parseCgiResponse((await fcgiRequest({ port }, cgiParams({ REQUEST_URI: '/?tunables' }))).stdout);
    expect(response.body.toString()).toBe('glibc.malloc.tcache_count=32');
  });

  // Not under valgrind (scripts/valgrind.sh): the image a crash restarts in place runs without it, so the tests after
  // this one would check the relay listener's memory no more.
  it.skipIf(process.env.LIBFCGI_TEST_VALGRIND)(
    'serves again from the crashed Node process, restarted in place, though spawn-fcgi never restarts anything',
    async () => {
      const before = crashesIn(site.dir);
      const crashed = await pidOf('crash');
      const answers = await untilServedBy(site.dir, before, crashed, async () => {
        const response = parseCgiResponse((await fcgiRequest({ port }, cgiParams({ REQUEST_URI: '/' }))).stdout);
        return { status: response.status, retryAfter: response.header('retry-after'), body: response.body.toString() };
      }).catch((error: Error) => {
        throw new Error(`${error.message}\n${readFileSync(join(site.dir, 'logs', 'app.log'), 'utf8')}`);
      });
      expect(answers.at(-1)?.status).toBe(200);
      expect(processesOf(site.launcher).nodes).toEqual([crashed]);
    },
  );

  it('keeps serving whatever else connects to the control socket, and logs what it refused', async () => {
    const node = await pidOf();
    const control = join(site.dir, '.libfcgi', 'relay.sock');
    // Each knock on its own connection: garbage, a greeting with no socket, one with a socket that is not listening,
    // one with three sockets, a connection that sends nothing, and a flood of 1,500 connections at once.
    const script = `
import socket, sys, os
path = sys.argv[1]
def knock(data, fds):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    try:
        socket.send_fds(s, [data], fds) if fds else s.send(data)
        s.settimeout(2)
        return s.recv(1)
    except (ConnectionError, socket.timeout):
        return b'closed'
    finally:
        s.close()
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); listener.bind(''); listener.listen(1)
connected, _ = socket.socketpair()
r, w = os.pipe()
answers = [
    knock(os.urandom(200), None),
    knock(b'libfcgi-relay 1', None),
    knock(b'libfcgi-relay 1', [connected.fileno()]),
    knock(b'libfcgi-relay 1', [listener.fileno(), r, w]),
    knock(b'libfcgi-relay 9', [listener.fileno()]),
]
silent = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); silent.connect(path)
flood = []
for i in range(1500):
    try:
        f = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); f.setblocking(False); f.connect_ex(path); flood.append(f)
    except OSError:
        break
try:
    half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); half.connect(path)
except OSError as error:
    answers.append(error.strerror.encode())
for f in flood: f.close()
print(answers)
`;
    const answers = execFileSync('python3', ['-c', script, control], { encoding: 'utf8', timeout: 30_000 });
    expect(answers).not.toContain("b'k'"); // none was taken for a relay
    expect(await pidOf()).toBe(node);
    const log = readFileSync(join(site.dir, 'logs', 'app.log'), 'utf8');
    expect(log).toContain('on the relay control socket');
    expect(log).toMatch(/something other than a relay's greeting|other than one socket|not a listening socket/);
    await sleep(5500); // the silent connection is dropped after 5 s (valgrind slows the process, not the clock)
    expect(await pidOf()).toBe(node);
  });

  it('leaves no process of the site 5 s after its relays are stopped', async () => {
    for (const pid of processesOf(site.launcher).relays) process.kill(pid, 'SIGTERM');
    expect(await waitUntil(noneLeft(site.launcher), 5000 * slowdown)).toBe(true);
  });
});

describe('fcgi-relay with an app on the synchronous accept() loop', () => {
  it('says the loop cannot serve under a relay, and serves the socket without it', async () => {
    const site = relayedSite();
    writeFileSync(
      join(site.dir, 'app.js'),
      "const fcgi = require('libfcgi');\nfor (let req; (req = fcgi.accept()); ) { req.puts('Content-Type: text/plain\\r\\n\\r\\nloop ' + process.pid); req.finish(); }\n",
    );
    const port = await freePort();
    const child = spawn('spawn-fcgi', ['-a', '127.0.0.1', '-p', String(port), '--', site.launcher], {
      stdio: 'ignore',
    });
    await new Promise((resolve) => child.once('exit', resolve));
    stopWithAll(async () => {
      for (const pid of [...processesOf(site.launcher).relays, ...processesOf(site.launcher).nodes])
        process.kill(pid, 'SIGTERM');
      await waitUntil(noneLeft(site.launcher), 5000);
    });
    const response = parseCgiResponse((await fcgiRequest({ port }, cgiParams())).stdout);
    expect(response.body.toString()).toMatch(/^loop \d+\n?$/);
    expect(readFileSync(join(site.dir, 'logs', 'app.log'), 'utf8')).toContain(
      'only createServer() apps can serve; for the accept() loop, write the launcher with `libfcgi init --no-relay`',
    );
  });
});

/** Whether nobody can run this node (not so for a Node line kept in root's home by scripts/test-node-lines.sh). */
const nobodyRunsNode =
  spawnSync(process.execPath, ['-e', ''], { uid: nobody, gid: nobody, stdio: 'ignore' }).status === 0;

describe.skipIf(!nobodyRunsNode)('fcgi-relay under H2O fastcgi.spawn', () => {
  it('serves 8 requests of 300 ms at once from one Node process, and leaves nothing once H2O stops', async () => {
    const site = relayedSite();
    // H2O runs what it spawns as nobody: the app's folder is that account's, as a site's is its owner's.
    chmodSync(site.dir, 0o755);
    chownSync(site.dir, nobody, nobody);
    const server = await startWebServer('h2o', 'h2o-spawn.conf', { COMMAND: site.launcher });
    expect((await httpGet(server.port, '/check')).status).toBe(200);
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 8 }, () => httpGet(server.port, '/check?slow')));
    expect(Date.now() - started).toBeLessThan(1500); // one after another: 2.4 s
    expect(replies.map((reply) => reply.status)).toEqual(Array(8).fill(200));
    expect(new Set(replies.map((reply) => reply.body.toString().split(' ')[0])).size).toBe(1);
    expect(processesOf(site.launcher).nodes).toHaveLength(1);
    await server.stop();
    expect(await waitUntil(noneLeft(site.launcher), 5000)).toBe(true);
  });
});
