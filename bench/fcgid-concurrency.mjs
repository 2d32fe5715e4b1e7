// fcgid-concurrency.mjs: what a shared host's Apache + mod_fcgid (its defaults) does with 20 concurrent requests of
// 1 s (a slow API call) from cold: an Express app from `libfcgi init --no-relay` (one Node process per mod_fcgid
// process, the model before fcgi-relay) and from `libfcgi init` (fcgi-relay, one Node process for the site), php-cgi
// with usleep(1 s), and a C libfcgi app that sleeps 1 s (mod_fcgid's own floor: its spawn throttle and one request
// per process). Each round starts a fresh Apache per site; the processes are counted, and their RSS and PSS summed,
// right after the last answer. Then fcgi-relay alone (relay-spawn.c): its RSS, and the time from spawning one to its
// socket handed over. Prints a table and writes results/fcgid-concurrency.json and .md.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
} from 'node:fs';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { freePort, sleep } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');

const concurrency = Number(process.env.BENCH_FCGID_CONCURRENCY ?? 20);
const rounds = Number(process.env.BENCH_FCGID_ROUNDS ?? 3);
const handovers = 30;
const run = mkdtempSync(join(tmpdir(), 'libfcgi-fcgid-'));
chmodSync(run, 0o755);
const webUser = Number(execFileSync('id', ['-u', 'www-data'], { encoding: 'utf8' }));
const webGroup = Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }));

const expressApp = `'use strict';
const express = require('express');
const app = express();
app.get('/slow', (req, res) => setTimeout(() => res.send('pid ' + process.pid + '\\n'), 1000));
app.get('/hello', (req, res) => res.send('Hello, world!\\n'));
app.listen(process.env.PORT || 3000);
`;

/** A project as a user has it (package.json, server.js, node_modules), laid out by libfcgi init. */
function expressSite(name, initArgs) {
  const dir = join(run, name);
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, main: 'server.js' }));
  writeFileSync(join(dir, 'server.js'), expressApp);
  symlinkSync(repo, join(dir, 'node_modules', 'libfcgi'));
  symlinkSync(join(repo, 'node_modules', 'express'), join(dir, 'node_modules', 'express'));
  execFileSync(process.execPath, [join(repo, 'dist', 'cli', 'cli.js'), 'init', dir, ...initArgs], { stdio: 'ignore' });
  execFileSync('chown', ['-R', 'www-data:www-data', dir]); // the site's account (no suexec here: www-data)
  return { docroot: join(dir, 'public_html'), path: '/slow', launcher: join(dir, 'public_html', 'app.fcgi') };
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
  return `ServerRoot "/etc/apache2"
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile "${dir}/apache.pid"
DefaultRuntimeDir "${dir}"
ErrorLog "${dir}/error.log"
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
LoadModule fcgid_module /usr/lib/apache2/modules/mod_fcgid.so
TypesConfig /etc/mime.types
FcgidIPCDir "${dir}/fcgid"
FcgidProcessTableFile "${dir}/fcgid/shm"
DocumentRoot "${site.docroot}"
<Directory "${site.docroot}">
  Require all granted
  AllowOverride FileInfo Options
  Options +ExecCGI
  ${site.directives ?? ''}
</Directory>
`;
}

async function startApache(site, attempts = 3) {
  const dir = mkdtempSync(join(run, 'apache-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'fcgid'));
  chownSync(join(dir, 'fcgid'), webUser, webGroup);
  const port = await freePort();
  writeFileSync(join(dir, 'apache.conf'), apacheConfig(site, port, dir));
  const child = spawn('apache2', ['-f', join(dir, 'apache.conf'), '-DFOREGROUND'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Apache reports a bad configuration on stderr before it opens its error log; both are kept for the message.
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let exited = null;
  child.on('exit', (code, signal) => (exited = signal ?? `exit code ${code}`));
  // 15 s: on a busy 2-core host Apache has taken more than 5 s to answer its first request.
  const deadline = performance.now() + 15_000;
  while (exited === null && performance.now() < deadline) {
    try {
      await get(port, '/nothing-here.txt');
      return { child, port, dir };
    } catch {
      await sleep(50);
    }
  }
  child.kill('SIGKILL');
  // Taken between freePort() and Apache's bind (a client's ephemeral port): another port.
  if (exited !== null && /Address already in use/.test(stderr) && attempts > 1) return startApache(site, attempts - 1);
  const errorLog = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '(no error.log)';
  const why = exited === null ? 'no answer within 15 s' : `apache2 ended (${exited})`;
  throw new Error(`apache did not start: ${why}\nstderr: ${stderr.trim() || '(empty)'}\nerror.log: ${errorLog.trim()}`);
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 120_000 }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode, ms: performance.now() - started }));
    });
    request.on('error', reject);
    request.on('timeout', () => request.destroy(new Error('timed out')));
  });
}

/** The site's processes: www-data's, but Apache's own. */
function siteProcesses() {
  const found = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '';
      if (uid !== webUser || name === 'apache2') continue;
      const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const pssKb = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
      found.push({ pid: Number(pid), rssKb, pssKb, relay: command.endsWith('fcgi-relay') });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function stopApache(apache) {
  const exited = new Promise((resolve) => apache.child.once('exit', resolve));
  apache.child.kill('SIGTERM');
  await exited;
  const stopped = performance.now();
  while (siteProcesses().length > 0 && performance.now() - stopped < 5000) await sleep(50);
  const left = siteProcesses();
  for (const process_ of left) process.kill(process_.pid, 'SIGKILL');
  return left.length;
}

/** fcgi-relay spawned as a process manager spawns it, timed to its socket handed over (build/relay-spawn, relay-spawn.c). */
function relayHandover(launcher) {
  const dir = join(run, 'relay-spawn');
  mkdirSync(dir, { recursive: true, mode: 0o777 });
  chmodSync(dir, 0o777);
  const args = [launcher, String(webUser), String(webGroup), String(handovers), dir];
  return JSON.parse(execFileSync(join(here, 'build', 'relay-spawn'), args, { encoding: 'utf8' }));
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

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

const results = sites.map((site) => ({ name: site.name, rounds: [] }));
for (let round = 0; round < rounds; round++) {
  for (const [index, site] of sites.entries()) {
    const result = await measure(site);
    results[index].rounds.push(result);
    process.stderr.write(
      `round ${round + 1} ${site.name}: ${(result.wallMs / 1000).toFixed(2)} s, ${result.answered}/${concurrency}\n`,
    );
  }
}

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
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', 'fcgid-concurrency.json'),
  `${JSON.stringify({ date: new Date().toISOString(), concurrency, rounds, summary }, null, 2)}\n`,
);
writeFileSync(join(here, 'results', 'fcgid-concurrency.md'), `${lines.join('\n')}\n`);
rmSync(run, { recursive: true, force: true });
