// fcgid-concurrency.mjs: what a shared host's Apache + mod_fcgid (its defaults) does with 20 concurrent requests of
// 1 s (a slow API call) from cold: an Express app from `libfcgi init --no-relay` (one Node process per mod_fcgid
// process, the model before fcgi-relay) and from `libfcgi init` (fcgi-relay, one Node process for the site), php-cgi
// with usleep(1 s), and a C libfcgi app that sleeps 1 s (mod_fcgid's own floor: its spawn throttle and one request
// per process). Each round starts a fresh Apache per site; the processes are counted, and their RSS and PSS summed,
// right after the last answer. Then fcgi-relay alone (relay-spawn.c): its RSS, and the time from spawning one to its
// socket handed over. Prints a table and writes results/fcgid-concurrency.json and .md.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import {
  apacheBase,
  expressApp,
  expressSite as initSite,
  fcgidModule,
  get,
  siteProcesses,
  startApache as startApacheWith,
  stopApache,
  webGroup,
  webUser,
} from './apache.mjs';
import { interleavedRounds, median, writeResults } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const concurrency = Number(process.env.BENCH_FCGID_CONCURRENCY ?? 20);
const rounds = Number(process.env.BENCH_FCGID_ROUNDS ?? 3);
const handovers = 30;
const run = mkdtempSync(join(tmpdir(), 'libfcgi-fcgid-'));
chmodSync(run, 0o755);

function expressSite(name, initArgs) {
  const site = initSite(run, name, expressApp, initArgs);
  return { docroot: site.docroot, path: '/slow', launcher: site.launcher };
}

function phpSite() {
  const docroot = join(run, 'php');
  mkdirSync(docroot);
  copyFileSync(join(here, 'apps', 'sleep.php'), join(docroot, 'sleep.php'));
  return {
    docroot,
    path: '/sleep.php',
    directives: 'AddHandler fcgid-script .php\n  FcgidWrapper /usr/bin/php-cgi .php',
  };
}

function cSite() {
  const docroot = join(run, 'c');
  mkdirSync(docroot);
  copyFileSync(join(here, 'build', 'c-sleep-app'), join(docroot, 'sleep.fcgi'));
  chmodSync(join(docroot, 'sleep.fcgi'), 0o755);
  return { docroot, path: '/sleep.fcgi', directives: 'AddHandler fcgid-script .fcgi' };
}

const sites = [
  {
    name: 'Express, init --no-relay (a Node process per mod_fcgid process)',
    ...expressSite('express', ['--no-relay']),
  },
  { name: 'Express, init (fcgi-relay, one Node process)', relay: true, ...expressSite('express-relay', []) },
  { name: 'php-cgi, usleep(1 s)', ...phpSite() },
  { name: 'C libfcgi app, sleep(1 s)', ...cSite() },
];

function apacheConfig(site, port, dir) {
  return `${apacheBase(port, dir)}${fcgidModule(dir)}DocumentRoot "${site.docroot}"
<Directory "${site.docroot}">
  Require all granted
  AllowOverride FileInfo Options
  Options +ExecCGI
  ${site.directives ?? ''}
</Directory>
`;
}

const startApache = (site) => startApacheWith(run, (port, dir) => apacheConfig(site, port, dir));

/** fcgi-relay spawned as a process manager spawns it, timed to its socket handed over (build/relay-spawn, relay-spawn.c). */
function relayHandover(launcher) {
  const dir = join(run, 'relay-spawn');
  mkdirSync(dir, { recursive: true, mode: 0o777 });
  chmodSync(dir, 0o777);
  const args = [launcher, String(webUser), String(webGroup), String(handovers), dir];
  return JSON.parse(execFileSync(join(here, 'build', 'relay-spawn'), args, { encoding: 'utf8' }));
}

async function measure(site) {
  const apache = await startApache(site);
  const started = performance.now();
  const replies = await Promise.all(
    Array.from({ length: concurrency }, () => get(apache.port, site.path).catch(() => ({ status: 0, ms: NaN }))),
  );
  const wallMs = performance.now() - started;
  const processes = siteProcesses();
  let handover;
  if (site.relay) handover = relayHandover(site.launcher);
  const leftAfterStop = await stopApache(apache);
  return {
    wallMs,
    medianMs: median(replies.map((reply) => reply.ms)),
    answered: replies.filter((reply) => reply.status === 200).length,
    processes: processes.length,
    relays: processes.filter((p) => p.relay).length,
    rssMb: processes.reduce((sum, p) => sum + p.rssKb, 0) / 1024,
    pssMb: processes.reduce((sum, p) => sum + p.pssKb, 0) / 1024,
    leftAfterStop,
    handover,
  };
}

const results = await interleavedRounds(rounds, sites, measure, (round, site, result) =>
  process.stderr.write(
    `round ${round + 1} ${site.name}: ${(result.wallMs / 1000).toFixed(2)} s, ${result.answered}/${concurrency}\n`,
  ),
);

const summary = results.map(({ name, rounds: measured }) => {
  const pick = (key) => median(measured.map((result) => result[key]));
  const handover = measured.map((result) => result.handover).filter((h) => h !== undefined);
  return {
    name,
    wallMs: pick('wallMs'),
    medianMs: pick('medianMs'),
    answered: Math.min(...measured.map((result) => result.answered)),
    processes: pick('processes'),
    relays: pick('relays'),
    rssMb: pick('rssMb'),
    pssMb: pick('pssMb'),
    leftAfterStop: Math.max(...measured.map((result) => result.leftAfterStop)),
    handoverMs: handover.length > 0 ? median(handover.map((h) => h.spawnToAnswerMs - h.requestMs)) : undefined,
    spawnToAnswerMs: handover.length > 0 ? median(handover.map((h) => h.spawnToAnswerMs)) : undefined,
    requestMs: handover.length > 0 ? median(handover.map((h) => h.requestMs)) : undefined,
    relayRssKb: handover.length > 0 ? Math.max(...handover.map((h) => h.relayRssKb)) : undefined,
  };
});
const floor = summary.find((row) => row.name.startsWith('C libfcgi')).wallMs;

const lines = [
  `${concurrency} concurrent requests of 1 s from cold, Apache + mod_fcgid defaults; medians of ${rounds} rounds`,
  '',
  '| | wall for all | × C app | median latency | answered | processes | summed RSS | summed PSS | left 5 s after stop |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...summary.map(
    (row) =>
      `| ${row.name} | ${(row.wallMs / 1000).toFixed(2)} s | ${(row.wallMs / floor).toFixed(2)} | ` +
      `${(row.medianMs / 1000).toFixed(2)} s | ${row.answered}/${concurrency} | ${row.processes}` +
      `${row.relays > 0 ? ` (${row.relays} relays)` : ''} | ${row.rssMb.toFixed(0)} MB | ${row.pssMb.toFixed(0)} MB | ` +
      `${row.leftAfterStop} |`,
  ),
];
const relayRow = summary.find((row) => row.handoverMs !== undefined);
if (relayRow) {
  lines.push(
    '',
    `fcgi-relay: spawn to socket handed over ${relayRow.handoverMs.toFixed(2)} ms (spawn to a request answered ` +
      `through it ${relayRow.spawnToAnswerMs.toFixed(2)} ms, less the same request asked again ` +
      `${relayRow.requestMs.toFixed(2)} ms; medians of ${handovers} spawns a round); RSS at most ${relayRow.relayRssKb} KiB`,
  );
}
process.stdout.write(`\n${lines.join('\n')}\n`);
writeResults('fcgid-concurrency', { date: new Date().toISOString(), concurrency, rounds, summary }, lines.join('\n'));
rmSync(run, { recursive: true, force: true });
