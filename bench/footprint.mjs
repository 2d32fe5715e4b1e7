#!/usr/bin/env node
// npm run bench:footprint: what one app process costs where a web server runs one process per concurrent request
// (Apache mod_fcgid). Each app is spawned as mod_fcgid does it, with a listening socket on fd 0 and a minimal
// environment; the time from spawn() to the first full response (wall clock, and the CPU time the process used), then
// the idle resident size, threads and private memory after that first request, and again after more requests sent
// one at a time, as mod_fcgid sends them. Runs are interleaved and medians taken; then a cold burst sends 20 parallel
// first requests to 15 new processes. Writes bench/results/footprint.json and the tables in bench/README.md.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  describeMachine,
  median,
  ratio,
  replaceReadmeSection,
  round1,
  runMain,
  sleep,
  writeResults,
} from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const native = require('../dist/addon/native.js').native(); // the addon, loaded on first use
const { FcgiConnection, fcgiRequest, parseCgiResponse } = require('../dist/client/client.js');

const runs = Number(process.env.FOOTPRINT_RUNS ?? 5);
const settleMs = Number(process.env.FOOTPRINT_SETTLE_MS ?? 2000);
const laterRequests = Number(process.env.FOOTPRINT_REQUESTS ?? 1000);
const burst = { processes: 15, requests: 20, runs: Number(process.env.FOOTPRINT_BURST_RUNS ?? 3) };
const node = process.execPath;
const helloPhp = join(here, 'apps', 'hello.php');

// What Apache passes a mod_fcgid process: PATH and little else (no HOME, no NODE_ENV).
const environment = { PATH: process.env.PATH };

const kinds = [
  // The baseline: the same Node doing nothing, with no module loaded and no request served.
  { name: 'bare node', command: [node, '-e', 'setInterval(() => {}, 1 << 30)'], serves: false },
  { name: 'libfcgi accept()', command: [node, join(here, '..', 'examples', 'hello.js')] },
  { name: 'libfcgi createServer', command: [node, join(here, 'apps', 'create-server.js')] },
  { name: 'Express on createServer', command: [node, join(here, 'apps', 'express.js')] },
  // What a shared host runs for PHP under mod_fcgid: php-cgi serving FastCGI itself, without its own children.
  { name: 'php-cgi', command: ['php-cgi'], env: { PHP_FCGI_CHILDREN: '0', PHP_FCGI_MAX_REQUESTS: '0' } },
];

const params = {
  GATEWAY_INTERFACE: 'CGI/1.1',
  REQUEST_METHOD: 'GET',
  REQUEST_URI: '/hello',
  SCRIPT_NAME: '',
  PATH_INFO: '/hello',
  QUERY_STRING: '',
  SCRIPT_FILENAME: helloPhp,
  SERVER_PROTOCOL: 'HTTP/1.1',
  SERVER_NAME: 'localhost',
  SERVER_PORT: '80',
  REMOTE_ADDR: '127.0.0.1',
  HTTP_HOST: 'localhost',
};

/** Spawns the app with a new listening socket on its fd 0, as mod_fcgid does; the socket's port and the time. */
function spawnApp(kind) {
  const { fd, port } = native.listenTcp('127.0.0.1', 0, 128);
  const spawnedAt = performance.now();
  const child = spawn(kind.command[0], kind.command.slice(1), {
    stdio: [fd, 'ignore', 'inherit'],
    env: { ...environment, ...kind.env },
  });
  native.closeFd(fd); // the child has its own copy
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, port, spawnedAt, exited };
}

async function firstResponse(port) {
  const response = await fcgiRequest({ port }, params);
  const { status, body } = parseCgiResponse(response.stdout);
  if ((status !== 200 && status !== undefined) || !/Hello/.test(body.toString())) {
    throw new Error(`unexpected answer: ${response.stdout.toString().slice(0, 200)}`);
  }
}

async function stop(app) {
  if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGTERM');
  const timer = setTimeout(() => app.child.kill('SIGKILL'), 3000);
  await app.exited;
  clearTimeout(timer);
}

/**
 * Milliseconds from SIGTERM to the app's exit, as a web server stops an idle app, here with a connection it keeps open
 * (nginx's fastcgi_keep_conn) on which the app has just served a request. test/process/lifecycle.test.ts checks that
 * the app exits 0 without waiting for that connection to close; this is how soon. null: it was still running 5 s
 * later (php-cgi waits for the connection), and was killed.
 */
async function sigtermToExitMs(app) {
  const connection = await FcgiConnection.connect({ port: app.port });
  await connection.request(params, { keepConn: true });
  const signalled = performance.now();
  app.child.kill('SIGTERM');
  let killed = false;
  const timer = setTimeout(() => (killed = app.child.kill('SIGKILL')), 5000);
  await app.exited;
  clearTimeout(timer);
  connection.close();
  return killed ? null : performance.now() - signalled;
}

/** The CPU time a process's threads have used so far, in ms (schedstat counts nanoseconds). */
function cpuMs(pid) {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  }
  return total / 1e6;
}

/** What /proc says about a process's memory (kB fields of smaps_rollup, in MB) and its threads (by name). */
function inspect(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (text, name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) / 1024;
  const threads = readdirSync(`/proc/${pid}/task`).map((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(),
  );
  const names = {};
  for (const name of threads) names[name] = (names[name] ?? 0) + 1;
  return {
    rss: field(status, 'VmRSS'),
    pss: field(rollup, 'Pss'),
    anonymous: field(rollup, 'Anonymous'),
    fileBacked: field(status, 'RssFile'),
    threads: threads.length,
    threadNames: names,
  };
}

async function measureOnce(kind) {
  const app = spawnApp(kind);
  try {
    if (kind.serves === false) {
      await sleep(settleMs);
      return {
        spawnToResponseMs: null,
        cpuToResponseMs: null,
        ...inspect(app.child.pid),
        later: null,
        sigtermMs: null,
      };
    }
    await firstResponse(app.port);
    const spawnToResponseMs = performance.now() - app.spawnedAt;
    const cpuToResponseMs = cpuMs(app.child.pid);
    await sleep(settleMs);
    const first = inspect(app.child.pid);
    for (let i = 0; i < laterRequests; i++) await firstResponse(app.port);
    await sleep(settleMs);
    const later = inspect(app.child.pid);
    return { spawnToResponseMs, cpuToResponseMs, ...first, later, sigtermMs: await sigtermToExitMs(app) };
  } finally {
    await stop(app);
  }
}

/** 20 parallel first requests to 15 processes spawned at once: the time until the last answer, and their memory. */
async function coldBurst(kind) {
  const apps = Array.from({ length: burst.processes }, () => spawnApp(kind));
  try {
    const started = apps[0].spawnedAt;
    const answers = Array.from({ length: burst.requests }, (_, i) => firstResponse(apps[i % apps.length].port));
    await Promise.all(answers);
    const lastAnswerMs = performance.now() - started;
    await sleep(settleMs);
    const memory = apps.map((app) => inspect(app.child.pid));
    return {
      lastAnswerMs,
      rssTotal: memory.reduce((sum, m) => sum + m.rss, 0),
      pssTotal: memory.reduce((sum, m) => sum + m.pss, 0),
      anonymousTotal: memory.reduce((sum, m) => sum + m.anonymous, 0),
    };
  } finally {
    await Promise.all(apps.map(stop));
  }
}

async function main() {
  const machine = { ...describeMachine(), php: phpVersion() };
  if (machine.php === null) {
    console.error('footprint: php-cgi is not installed (apt-get install php-cgi): leaving it out');
    kinds.splice(
      kinds.findIndex((kind) => kind.name === 'php-cgi'),
      1,
    );
  }
  console.error(`footprint: ${kinds.length} apps, ${runs} runs, ${settleMs} ms idle before measuring`);
  const samples = new Map(kinds.map((kind) => [kind.name, []]));
  for (let run = 1; run <= runs; run++) {
    for (const kind of kinds) {
      const sample = await measureOnce(kind);
      samples.get(kind.name).push(sample);
      const time =
        sample.spawnToResponseMs === null
          ? ''
          : `, first response after ${Math.round(sample.spawnToResponseMs)} ms (${Math.round(sample.cpuToResponseMs)} ms CPU)` +
            `; after ${laterRequests} more: ${round1(sample.later.rss)} MB, ${sample.later.threads} threads` +
            `; SIGTERM to exit ${sample.sigtermMs === null ? 'over 5 s' : `${Math.round(sample.sigtermMs)} ms`}`;
      console.error(`  run ${run} ${kind.name}: ${round1(sample.rss)} MB, ${sample.threads} threads${time}`);
    }
  }

  const bursts = new Map(kinds.filter((kind) => kind.serves !== false).map((kind) => [kind.name, []]));
  for (let run = 1; run <= burst.runs; run++) {
    for (const [name, results] of bursts) {
      const result = await coldBurst(kinds.find((kind) => kind.name === name));
      results.push(result);
      console.error(`  burst ${run} ${name}: last answer after ${Math.round(result.lastAnswerMs)} ms`);
    }
  }

  const bare = samples.get('bare node');
  const php = samples.get('php-cgi') ?? [];
  const bareRss = median(bare.map((s) => s.rss));
  const phpRss = median(php.map((s) => s.rss));
  const phpMs = median(php.map((s) => s.spawnToResponseMs));
  const phpCpuMs = median(php.map((s) => s.cpuToResponseMs));
  const rows = kinds.map((kind) => {
    const runsOf = samples.get(kind.name);
    const rss = median(runsOf.map((s) => s.rss));
    const spawnMs = median(runsOf.map((s) => s.spawnToResponseMs));
    const cpuMsToResponse = median(runsOf.map((s) => s.cpuToResponseMs));
    const later = runsOf.map((s) => s.later).filter((l) => l !== null);
    const burstRuns = bursts.get(kind.name) ?? [];
    return {
      app: kind.name,
      idleRssMb: round1(rss),
      overBareNodeMb: kind.command[0] === node ? round1(rss - bareRss) : null,
      rssToPhpCgi: ratio(rss, phpRss),
      anonymousMb: round1(median(runsOf.map((s) => s.anonymous))),
      fileBackedMb: round1(median(runsOf.map((s) => s.fileBacked))),
      threads: median(runsOf.map((s) => s.threads)),
      threadNames: runsOf[0].threadNames,
      spawnToFirstResponseMs: spawnMs === null ? null : Math.round(spawnMs * 10) / 10,
      spawnToPhpCgi: ratio(spawnMs, phpMs),
      cpuToFirstResponseMs: cpuMsToResponse === null ? null : Math.round(cpuMsToResponse),
      cpuToPhpCgi: ratio(cpuMsToResponse, phpCpuMs),
      laterRssMb: later.length ? round1(median(later.map((l) => l.rss))) : null,
      laterAnonymousMb: later.length ? round1(median(later.map((l) => l.anonymous))) : null,
      laterThreads: later.length ? median(later.map((l) => l.threads)) : null,
      sigtermToExitMs: runsOf.every((s) => s.sigtermMs !== null)
        ? Math.round(median(runsOf.map((s) => s.sigtermMs)))
        : null,
      burstLastAnswerMs: burstRuns.length ? Math.round(median(burstRuns.map((b) => b.lastAnswerMs))) : null,
      burstRssTotalMb: burstRuns.length ? Math.round(median(burstRuns.map((b) => b.rssTotal))) : null,
      burstPssTotalMb: burstRuns.length ? Math.round(median(burstRuns.map((b) => b.pssTotal))) : null,
      burstAnonymousTotalMb: burstRuns.length ? Math.round(median(burstRuns.map((b) => b.anonymousTotal))) : null,
      runs: runsOf.map((s) => ({
        ...s,
        threadNames: undefined,
        later: s.later && { ...s.later, threadNames: undefined },
      })),
    };
  });

  const results = { date: new Date().toISOString(), machine, runs, settleMs, laterRequests, burst, rows };
  writeResults('footprint', results);

  const cell = (value) => (value === null || value === undefined ? '' : String(value));
  // A Markdown table laid out as Prettier lays it out, so the README stays formatted: the first column to the left,
  // the others to the right.
  const tableOf = (head, align, values) => {
    const rows = [head, ...values].map((cells) => cells.map(cell));
    const widths = head.map((_, i) => Math.max(3, ...rows.map((cells) => cells[i].length)));
    const line = (cells) =>
      `| ${cells.map((text, i) => (i === 0 ? text.padEnd(widths[i]) : text.padStart(widths[i]))).join(' | ')} |`;
    const rule = `| ${widths.map((width, i) => (align[i].endsWith(':') ? '-'.repeat(width - 1) + ':' : '-'.repeat(width))).join(' | ')} |`;
    return [line(rows[0]), rule, ...rows.slice(1).map(line)].join('\n');
  };
  const table = [
    tableOf(
      [
        'app',
        'idle RSS MB',
        'over bare node MB',
        '× php-cgi',
        'anonymous MB',
        'threads',
        'spawn to first response ms',
        '× php-cgi',
        'its CPU ms',
        '× php-cgi',
        `after ${laterRequests} more requests: RSS MB`,
        'anonymous MB',
        'threads',
      ],
      ['---', ...Array(12).fill('---:')],
      rows.map((r) => [
        r.app,
        r.idleRssMb,
        r.overBareNodeMb,
        r.rssToPhpCgi,
        r.anonymousMb,
        r.threads,
        r.spawnToFirstResponseMs,
        r.spawnToPhpCgi,
        r.cpuToFirstResponseMs,
        r.cpuToPhpCgi,
        r.laterRssMb,
        r.laterAnonymousMb,
        r.laterThreads,
      ]),
    ),
    '',
    tableOf(
      [
        'app',
        `${burst.requests} requests to ${burst.processes} new processes: last answer ms`,
        'RSS sum MB',
        'PSS sum MB',
        'anonymous sum MB',
      ],
      ['---', '---:', '---:', '---:', '---:'],
      rows
        .filter((r) => r.burstLastAnswerMs !== null)
        .map((r) => [r.app, r.burstLastAnswerMs, r.burstRssTotalMb, r.burstPssTotalMb, r.burstAnonymousTotalMb]),
    ),
  ].join('\n');
  replaceReadmeSection(
    'footprint',
    `\n${runs} runs, interleaved, medians; idle = ${settleMs / 1000} s after the last response; ` +
      `${machine.cores} × ${machine.cpu}, Linux ${machine.kernel}, Node ${machine.node}, ${machine.php ?? 'no php-cgi'}, ${results.date}.\n\n${table}\n`,
  );
  console.log(table);
}

/** php-cgi's version, or null when it is not installed (`apt-get install php-cgi`); its row is then left out. */
function phpVersion() {
  try {
    const version = /PHP (\S+)/.exec(execFileSync('php-cgi', ['-v'], { encoding: 'utf8' }));
    return version ? `php-cgi ${version[1]}` : 'php-cgi';
  } catch {
    return null;
  }
}

runMain(main);
