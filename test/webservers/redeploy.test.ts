// Redeploys and crashes under the real spawners, as a site's visitors see them over HTTP: Apache mod_fcgid and
// lighttpd bin-path (which start a new process when one exits), spawn-fcgi, also with -F 2, and H2O's fastcgi.spawn
// (which never do). A client asks every 50 ms while the app's script is rewritten in place.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { freePort, stopAll, stopWithAll, tempDir } from '../helpers/apps';
import { type Ask, cpuSeconds, deploy, Poller } from '../helpers/deploy';
import { cgiParams } from '../helpers/raw-fastcgi';
import { httpGet, startWebServer, type WebServer } from '../helpers/webservers';
import { pidsRunning } from '../helpers/processes';
import { collectOutput } from '../helpers/output';
import { waitUntil } from '../helpers/wait';

afterAll(stopAll);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const withinFiveSeconds = <T>(promise: Promise<T>): Promise<T> =>
  Promise.race([promise, sleep(5000).then(() => Promise.reject(new Error('no answer in 5 s')))]);

/** A site: the script to rewrite, how to ask it, and where what the app writes to stderr ends up (if anywhere). */
interface Site {
  script: string;
  ask: Ask;
  /** Asks with ?crash: the app answers, then throws outside any handler. */
  askCrash: Ask;
  log(): string;
  /** The app's pids, when the spawner says them. */
  pids?: number[];
  /** Stops the web server that spawned the app (none for spawn-fcgi). */
  stopServer?: () => Promise<void>;
}

interface Spawner {
  name: string;
  /** Whether the spawner starts a new process when one exits (else the app restarts in place after a crash). */
  restarts: boolean;
  /** How many app processes serve the site. */
  processes: number;
  /** Where the app's stderr goes, when a test can read it. */
  logsStderr: boolean;
  start(script: string): Promise<Site>;
}

function httpAsk(port: number, path: string): Ask {
  return async () => {
    const got = await withinFiveSeconds(httpGet(port, path));
    return { status: got.status, body: got.body.toString() };
  };
}

/** A site behind a web server the test started: asked over HTTP at `path`, logged in the server's log. */
function behind(server: WebServer, script: string, path: string): Site {
  return {
    script,
    ask: httpAsk(server.port, path),
    askCrash: httpAsk(server.port, `${path}?crash`),
    log: () => server.fullLog(),
    stopServer: () => server.stop(),
  };
}

/** spawn-fcgi as users run it: it forks the app(s) on a TCP port, says their pids, and exits. */
async function spawnFcgi(script: string, children: number): Promise<Site> {
  const port = await freePort();
  const args = ['-a', '127.0.0.1', '-p', String(port), '-F', String(children), '--', process.execPath, script];
  const child = spawn('spawn-fcgi', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectOutput([child.stdout, child.stderr], 'spawn-fcgi and the apps it forked');
  await new Promise((resolve) => child.once('exit', resolve));
  const said = output.text();
  const pids = [...said.matchAll(/PID: (\d+)/g)].map((match) => Number(match[1]));
  expect(pids.length, said).toBe(children);
  stopWithAll(async () => {
    for (const pid of pids) if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 60 && pids.some((pid) => existsSync(`/proc/${pid}`)); i++) await sleep(50);
  });
  const ask =
    (query: string): Ask =>
    async () => {
      const params = cgiParams({ QUERY_STRING: query, REQUEST_URI: `/?${query}` });
      const response = parseCgiResponse((await withinFiveSeconds(fcgiRequest({ port }, params))).stdout);
      return { status: response.status, body: response.body.toString() };
    };
  return { script, ask: ask(''), askCrash: ask('crash'), log: () => '', pids }; // spawn-fcgi points the app's stdout and stderr at /dev/null
}

const spawners: Spawner[] = [
  {
    name: 'Apache mod_fcgid (.htaccess, app.fcgi)',
    restarts: true,
    processes: 1,
    logsStderr: true,
    async start(script) {
      const server = await startWebServer(
        'apache',
        'apache-fcgid.conf',
        { MAX_REQUESTS: '0', IDLE_TIMEOUT: '300' },
        (run) => {
          mkdirSync(join(run, 'fcgid'));
          chmodSync(join(run, 'fcgid'), 0o777); // mod_fcgid binds the apps' sockets there as www-data
          mkdirSync(join(run, 'htdocs', 'check'));
          writeFileSync(join(run, 'htdocs', 'check', '.htaccess'), 'AddHandler fcgid-script .fcgi\nOptions +ExecCGI\n');
          writeFileSync(join(run, 'htdocs', 'check', 'app.fcgi'), readFileSync(script), { mode: 0o755 });
        },
      );
      return behind(server, join(server.run, 'htdocs', 'check', 'app.fcgi'), '/check/app.fcgi');
    },
  },
  {
    name: 'lighttpd bin-path (max-procs 2)',
    restarts: true,
    processes: 2,
    logsStderr: true,
    async start(script) {
      const backend = `"socket" => "@RUN@/check.sock", "bin-path" => "${script}", "check-local" => "disable", "max-procs" => 2`;
      const server = await startWebServer('lighttpd', 'lighttpd-check.conf', { BACKEND: backend });
      return behind(server, script, '/check');
    },
  },
  { name: 'spawn-fcgi', restarts: false, processes: 1, logsStderr: false, start: (script) => spawnFcgi(script, 1) },
  {
    name: 'spawn-fcgi -F 2',
    restarts: false,
    processes: 2,
    logsStderr: false,
    start: (script) => spawnFcgi(script, 2),
  },
  {
    name: 'H2O fastcgi.spawn',
    restarts: false,
    processes: 1,
    logsStderr: true,
    async start(script) {
      const server = await startWebServer('h2o', 'h2o-spawn.conf', { COMMAND: `${process.execPath} ${script}` });
      return behind(server, script, '/check');
    },
  },
];

/** CPU seconds the whole machine has spent busy (not idle, not waiting for I/O), from /proc/stat. */
function machineBusySeconds(): number {
  const [, ...ticks] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = ticks.map(Number);
  return (user + nice + system + irq + softirq) / 100;
}

/** A fresh site on v1, answered at least once by every process it has. */
async function startSite(spawner: Spawner): Promise<{ site: Site; pids: Set<number> }> {
  const dir = tempDir();
  chmodSync(dir, 0o755); // H2O's app runs as nobody
  const script = join(dir, 'app.fcgi');
  deploy(script, { version: 'v1' });
  const site = await spawner.start(script);
  const { status, body } = await site.ask();
  expect(status, body).toBe(200);
  // spawn-fcgi says its children's pids; the web servers' are the processes running the script.
  let pids = new Set<number>(site.pids ?? pidsRunning(site.script));
  await waitUntil(() => (pids = new Set(site.pids ?? pidsRunning(site.script))).size >= spawner.processes, 5000, 100);
  expect(pids.size).toBe(spawner.processes);
  // spawn-fcgi listens before its children have even started node: wait until each has read v1 and answers. (The web
  // servers wait for their processes; lighttpd sends one request at a time to the same one.) By the clock, not by a
  // count of requests: on a loaded machine a node may take seconds to start, while its sibling answers in a millisecond.
  if (site.pids) {
    const answered = new Set<number>();
    const deadline = Date.now() + 15_000;
    while (answered.size < pids.size && Date.now() < deadline) {
      answered.add(Number((await site.ask()).body.split(' ')[1]));
      await sleep(20);
    }
    expect(answered).toEqual(pids);
  }
  return { site, pids };
}

describe.each(spawners)('under $name', (spawner) => {
  it('serves a rewritten script within 3 s, answering every request meanwhile, in the same processes', async () => {
    const { site, pids } = await startSite(spawner);
    const poller = new Poller(site.ask);
    await sleep(300);
    const editedAt = poller.now();
    deploy(site.script, { version: 'v2' });
    const first = await poller.until((answer) => answer.version === 'v2', 8000);
    // Every process has switched once v2 has answered as many times in a row as there are processes, and more.
    const lastAnswers = () => poller.answers.slice(-spawner.processes * 3);
    await waitUntil(() => lastAnswers().every((answer) => answer.version === 'v2'), 5000);
    const answers = await poller.stop();
    const failed = answers.filter((answer) => answer.status !== 200);
    console.log(
      `${spawner.name}: new code after ${first.at - editedAt} ms; ${answers.length} requests, ${failed.length} failed`,
    );
    expect(failed, poller.summary()).toEqual([]);
    expect(first.at - editedAt, poller.summary()).toBeLessThan(3000);
    expect(
      answers.slice(-spawner.processes * 3).every((answer) => answer.version === 'v2'),
      poller.summary(),
    ).toBe(true);
    for (const answer of answers) expect(pids, `pid ${answer.pid}`).toContain(answer.pid);
  });

  it('keeps the old code serving when the new one throws at start-up, and logs why', async () => {
    const { site } = await startSite(spawner);
    const poller = new Poller(site.ask);
    deploy(site.script, { version: 'broken', throwAtStart: 'this deploy is broken' });
    // Where the spawner keeps the app's stderr, the app says when it has refused the new code; elsewhere the
    // check of new code is a process of its own that comes and goes, and the old code must serve throughout.
    if (spawner.logsStderr) {
      const refused = (): boolean => site.log().includes('does not start, so the running one goes on serving');
      expect(await waitUntil(refused, 10_000), site.log()).toBe(true);
    } else {
      await sleep(3000);
    }
    await poller.stop();
    expect(
      poller.answers.every((answer) => answer.status === 200 && answer.version === 'v1'),
      poller.summary(),
    ).toBe(true);
    if (spawner.logsStderr) {
      expect(site.log()).toContain('does not start, so the running one goes on serving');
      expect(site.log()).toContain('this deploy is broken');
    }
  });

  it.runIf(!spawner.restarts)(
    'in a crash loop answers 503s quickly with little CPU, and serves the fixed code soon after it is deployed',
    async () => {
      const { site, pids } = await startSite(spawner);
      deploy(site.script, { version: 'crashing', crashAfterMs: 300 });
      const poller = new Poller(site.ask);
      await poller.until((answer) => answer.status === 503, 8000);
      const cpuBefore = [...pids].map(cpuSeconds);
      const started = Date.now();
      await sleep(6000);
      const seconds = (Date.now() - started) / 1000;
      const cpu = [...pids].map((pid, index) => (cpuSeconds(pid) - (cpuBefore[index] ?? 0)) / seconds);
      deploy(site.script, { version: 'fixed' });
      const fixedAt = poller.now();
      await poller.until((answer) => answer.version === 'fixed', 8000);
      await waitUntil(() => poller.answers.slice(-3).every((answer) => answer.version === 'fixed'), 5000);
      await poller.stop();
      const recovered = poller.answers.find((answer) => answer.version === 'fixed');
      console.log(
        `${spawner.name}: crash loop CPU ${cpu.map((share) => share.toFixed(2)).join(', ')} of a core; fixed after ${(recovered?.at ?? 0) - fixedAt} ms`,
      );
      for (const share of cpu) expect(share).toBeLessThan(0.5);
      expect(new Set(poller.answers.map((answer) => answer.status)), poller.summary()).toEqual(new Set([200, 503]));
      expect(Math.max(...poller.answers.map((answer) => answer.ms))).toBeLessThan(2000);
      expect((recovered?.at ?? Infinity) - fixedAt).toBeLessThan(4000);
      expect(
        poller.answers.slice(-3).every((answer) => answer.version === 'fixed'),
        poller.summary(),
      ).toBe(true);
      expect(pids.has(recovered?.pid ?? 0)).toBe(true);
    },
  );

  it.runIf(spawner.restarts)(
    'in a crash loop is restarted by the spawner, and serves the fixed code soon after it is deployed',
    async () => {
      const { site } = await startSite(spawner);
      deploy(site.script, { version: 'crashing', crashAfterMs: 300 });
      const poller = new Poller(site.ask);
      await poller.until((answer) => answer.version === 'crashing', 8000);
      const busyBefore = machineBusySeconds();
      const started = Date.now();
      await sleep(6000);
      const cores = (machineBusySeconds() - busyBefore) / ((Date.now() - started) / 1000);
      deploy(site.script, { version: 'fixed' });
      const fixedAt = poller.now();
      const recovered = await poller.until((answer) => answer.version === 'fixed', 8000);
      await poller.stop();
      const statuses = [...new Set(poller.answers.map((answer) => answer.status))].join(', ');
      console.log(
        `${spawner.name}: crash loop: the machine busy ${cores.toFixed(2)} cores; statuses ${statuses}; ` +
          `fixed after ${recovered.at - fixedAt} ms`,
      );
      // The spawner, not the app, decides how long a request waits for a new process here (mod_fcgid's spawn score).
      expect(recovered.at - fixedAt).toBeLessThan(4000);
    },
  );

  it.runIf(spawner.name !== 'spawn-fcgi' && spawner.name !== 'spawn-fcgi -F 2')(
    'leaves no process behind when the web server stops, even while a crashed app waits out its back-off',
    async () => {
      const { site } = await startSite(spawner);
      if (!spawner.restarts) {
        await site.askCrash();
        const poller = new Poller(site.ask);
        await poller.until((answer) => answer.status === 503, 5000); // the stand-in answers
        await poller.stop();
      }
      expect(pidsRunning(site.script).length).toBeGreaterThan(0);
      await site.stopServer?.();
      await waitUntil(() => pidsRunning(site.script).length === 0, 5000);
      expect(pidsRunning(site.script)).toEqual([]);
    },
  );

  it.runIf(spawner.restarts)('after a crash is served again by a new process that the spawner starts', async () => {
    const { site, pids } = await startSite(spawner);
    await site.askCrash();
    const poller = new Poller(site.ask);
    const fresh = await poller.until((answer) => answer.status === 200 && !pids.has(answer.pid ?? 0), 8000);
    await poller.stop();
    console.log(`${spawner.name}: after a crash, a new process answered in ${fresh.at} ms: ${poller.summary()}`);
    expect(Math.max(...poller.answers.map((answer) => answer.ms))).toBeLessThan(5000);
  });
});
