#!/usr/bin/env node
// npm run bench: starts every hello-world app side by side on loopback, drives each with the direct FastCGI load
// generator and with wrk through nginx, in interleaved rounds, then what held connections and requests in flight cost
// createServer (connections.mjs), and writes medians, ratios to the C program, latency and RSS to bench/results/ and
// bench/README.md, with a chart.
import { execFileSync, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart } from './chart.mjs';
import { connectionTables, measureConnections } from './connections.mjs';
import {
  describeMachine,
  freePort,
  median,
  nginxConfig,
  nginxVersion,
  replaceReadmeSection,
  rssMb as processRssMb,
  runMain,
  sleep,
  spawnFcgi,
  spawnFcgiChildren,
  waitForPort,
  wrk,
  writeResults,
} from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const warmup = 0.5;
const run = mkdtempSync(join(tmpdir(), 'libfcgi-bench-'));
const node = process.execPath;
const loadgen = join(here, 'build', 'loadgen');
const started = [];
const startedPids = []; // processes that are not our children (spawn-fcgi -F forks them and exits)

function launch(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], ...options });
  started.push(child);
  return child;
}

function stopAll() {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  for (const pid of startedPids.splice(0)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

// The apps, all answering GET /hello with "Hello, world!".
const apps = [
  { name: 'C libfcgi loop', command: [join(here, 'build', 'c-app')], baseline: true },
  { name: 'libfcgi accept()', command: [node, join(here, 'apps', 'sync-loop.js')] },
  { name: 'libfcgi engine', command: [node, join(here, 'apps', 'engine.js')] },
  { name: 'libfcgi createServer', command: [node, join(here, 'apps', 'create-server.js')] },
  { name: 'Express on createServer', command: [node, join(here, 'apps', 'express.js')] },
  { name: 'node-fastcgi 2.0', command: [node, join(here, 'apps', 'node-fastcgi.js')] },
  { name: 'php-fpm (2 children)', phpFpm: true },
  { name: 'libfcgi createServer ×2', processes: 2, command: [node, join(here, 'apps', 'create-server.js')] },
];
// What a Node user would do instead of FastCGI, behind the same nginx with proxy_pass (the fastcgi_keep_conn scenario).
const httpApps = [
  { name: 'node:http via proxy_pass', http: true, command: [node, join(here, 'apps', 'node-http.js')] },
  { name: 'Express on node:http', http: true, command: [node, join(here, 'apps', 'express-http.js')] },
  {
    name: 'node:http cluster of 2',
    http: true,
    cluster: true,
    command: [node, join(here, 'apps', 'node-http-cluster.js')],
  },
];

async function startApp(app) {
  app.port = await freePort();
  if (app.phpFpm) {
    const config = join(run, 'php-fpm.conf');
    writeFileSync(
      config,
      [
        '[global]',
        `pid = ${run}/php-fpm.pid`,
        `error_log = ${run}/php-fpm.log`,
        'daemonize = no',
        '[www]',
        'user = www-data',
        'group = www-data',
        `listen = 127.0.0.1:${app.port}`,
        'pm = static',
        'pm.max_children = 2',
        '',
      ].join('\n'),
    );
    app.child = launch('php-fpm8.2', ['-F', '-y', config]);
  } else if (app.http) {
    app.child = launch(app.command[0], app.command.slice(1), { env: { ...process.env, PORT: String(app.port) } });
  } else if (app.processes) {
    app.pids = spawnFcgiChildren(app.port, app.processes, app.command, join(run, `spawn-fcgi-${app.port}.pid`));
    startedPids.push(...app.pids);
  } else {
    app.child = spawnFcgi(app.port, app.command);
    started.push(app.child);
  }
  await waitForPort(app.port, app.name);
}

/** The processes that make up an app (php-fpm's master and children, the cluster's primary and workers). */
function pidsOf(app) {
  if (app.pids) return app.pids;
  const root = app.child.pid;
  if (!app.phpFpm && !app.cluster) return [root];
  const children = execFileSync('pgrep', ['-P', String(root)], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map(Number);
  return [root, ...children];
}

function rssMb(app) {
  return pidsOf(app).reduce((sum, pid) => sum + (processRssMb(pid) ?? 0), 0);
}

function pin(app, cpuList) {
  for (const pid of pidsOf(app)) execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

const fcgiParams = (app) => (app.phpFpm ? ['--param', `SCRIPT_FILENAME=${join(here, 'apps', 'hello.php')}`] : []);

function direct(app, { connections, keepAlive, sameCpu }) {
  const args = ['--connect', `127.0.0.1:${app.port}`, '--connections', String(connections)];
  args.push('--duration', String(seconds), '--warmup', String(warmup), ...fcgiParams(app));
  if (keepAlive) args.push('--keep-alive');
  if (sameCpu) pin(app, '0');
  try {
    const command = sameCpu ? ['taskset', ['-c', '0', loadgen, ...args]] : [loadgen, args];
    const out = execFileSync(command[0], command[1], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
    const result = JSON.parse(out.trim().split('\n').pop());
    return {
      rps: result.rps,
      p50: result.p50_us,
      p99: result.p99_us,
      errors: result.errors,
      served: result.served_connections,
    };
  } finally {
    if (sameCpu) pin(app, `0-${cpus().length - 1}`);
  }
}

const viaWrk = (port) => wrk(port, seconds, { latency: true });

function startNginx(fcgiApps) {
  const blocks = [];
  for (const app of fcgiApps) {
    for (const keep of [false, true]) {
      const port = keep ? app.nginxKeepPort : app.nginxPort;
      const name = `app_${app.port}_${keep ? 'keep' : 'new'}`;
      blocks.push(
        // Idle kept connections are dropped after 1 s: a one-connection-at-a-time app (C, php-fpm, accept()) stays stuck
        // on them until then, which would starve the scenarios that follow.
        `upstream ${name} { server 127.0.0.1:${app.port}; ${keep ? 'keepalive 32; keepalive_timeout 1s;' : ''} }`,
        `server { listen 127.0.0.1:${port}; location / { include /etc/nginx/fastcgi_params;`,
        `  fastcgi_param SCRIPT_FILENAME ${join(here, 'apps', 'hello.php')};`,
        `  fastcgi_keep_conn ${keep ? 'on' : 'off'}; fastcgi_pass ${name}; } }`,
      );
    }
  }
  for (const app of httpApps) {
    blocks.push(
      `upstream http_${app.port} { server 127.0.0.1:${app.port}; keepalive 32; }`,
      `server { listen 127.0.0.1:${app.nginxPort}; location / { proxy_pass http://http_${app.port};`,
      '  proxy_http_version 1.1; proxy_set_header Connection ""; } }',
    );
  }
  const config = nginxConfig(run, blocks);
  writeFileSync(join(run, 'nginx.conf'), config);
  launch('nginx', ['-p', run, '-c', join(run, 'nginx.conf')]);
}

async function main() {
  const machine = {
    ...describeMachine(),
    nginx: nginxVersion(),
  };
  console.error(
    `bench: ${apps.length} FastCGI apps + ${httpApps.length} node:http ones, ${rounds} rounds of ${seconds} s, on ${machine.cpu}`,
  );
  for (const app of [...apps, ...httpApps]) await startApp(app);
  for (const app of apps) {
    app.nginxPort = await freePort();
    app.nginxKeepPort = await freePort();
  }
  for (const app of httpApps) app.nginxPort = await freePort();
  startNginx(apps);
  await waitForPort(httpApps[0].nginxPort, 'nginx');

  const scenarios = [
    {
      name: 'direct, 1 kept connection, same CPU',
      run: (app) => direct(app, { connections: 1, keepAlive: true, sameCpu: true }),
    },
    { name: 'direct, 16 new connections', run: (app) => direct(app, { connections: 16, keepAlive: false }) },
    { name: 'direct, 16 kept connections', run: (app) => direct(app, { connections: 16, keepAlive: true }) },
    { name: 'nginx + wrk, new connection per request', run: (app) => viaWrk(app.nginxPort), withHttp: false },
    { name: 'nginx + wrk, fastcgi_keep_conn', run: (app) => viaWrk(app.nginxKeepPort), withHttp: true },
  ];

  // The FastCGI apps warm up in the direct scenarios; the node:http ones serve only the last scenario, so warm them here.
  for (const app of httpApps) wrk(app.nginxPort, Math.max(1, Math.ceil(warmup)));

  const samples = new Map(); // "scenario|app" -> [{rps, p50, p99, ...}]
  for (let round = 1; round <= rounds; round++) {
    for (const scenario of scenarios) {
      const roundApps = scenario.withHttp ? [...apps, ...httpApps] : apps;
      for (const app of roundApps) {
        const result = app.http ? viaWrk(app.nginxPort) : scenario.run(app);
        const key = `${scenario.name}|${app.name}`;
        samples.set(key, [...(samples.get(key) ?? []), result]);
        console.error(`  round ${round} ${scenario.name} ${app.name}: ${Math.round(result.rps)} req/s`);
      }
      if (scenario.withHttp) await sleep(2000); // let nginx drop its idle kept connections (keepalive_timeout 1s)
    }
  }

  const rss = Object.fromEntries([...apps, ...httpApps].map((app) => [app.name, Math.round(rssMb(app) * 10) / 10]));
  // The held connections and requests in flight start apps of their own, with the throughput apps left idle.
  console.error('  held connections and requests in flight (createServer)');
  const connections = await measureConnections();
  const rows = [];
  for (const scenario of scenarios) {
    const baseline = median(samples.get(`${scenario.name}|${apps[0].name}`).map((s) => s.rps));
    for (const app of scenario.withHttp ? [...apps, ...httpApps] : apps) {
      const runs = samples.get(`${scenario.name}|${app.name}`);
      const rps = median(runs.map((s) => s.rps));
      rows.push({
        scenario: scenario.name,
        app: app.name,
        rps: Math.round(rps),
        ratioToC: Math.round((rps / baseline) * 100) / 100,
        p50_us: median(runs.map((s) => s.p50 ?? 0)),
        p99_us: median(runs.map((s) => s.p99 ?? 0)),
        errors: runs.reduce((sum, s) => sum + (s.errors ?? 0), 0),
        served_connections: runs[0].served ?? null,
        rounds: runs.map((s) => Math.round(s.rps)),
      });
    }
  }
  const results = { date: new Date().toISOString(), machine, seconds, rounds, rows, rssAfterLoadMb: rss, connections };
  writeResults('latest', results);
  writeFileSync(join(here, 'results', 'chart.svg'), renderChart(results));
  const table = [
    '| scenario | app | req/s | × C | p50 µs | p99 µs | errors | connections served |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.app} | ${r.rps} | ${r.ratioToC} | ${r.p50_us} | ${r.p99_us} | ${r.errors} | ${r.served_connections ?? ''} |`,
    ),
    '',
    '| app | RSS after load (MB) |',
    '| --- | ---: |',
    ...Object.entries(rss).map(([name, mb]) => `| ${name} | ${mb} |`),
    '',
    connectionTables(connections),
  ].join('\n');
  replaceReadmeSection(
    'results',
    `${rounds} rounds of ${seconds} s each, interleaved, medians; ${machine.cores} × ${machine.cpu}, ` +
      `Linux ${machine.kernel}, Node ${machine.node}, ${machine.nginx}, libfcgi 2.4.2, ${results.date}.\n\n${table}\n\n` +
      '![req/s per app and scenario](results/chart.svg)',
  );
  console.log(table);
}

runMain(main, () => {
  stopAll();
  setTimeout(() => rmSync(run, { recursive: true, force: true }), 500);
});
