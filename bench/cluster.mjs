// cluster.mjs: every core of one machine. Express hello world behind nginx, in a node:cluster of 1 and of 2 workers,
// on libfcgi's createServer (fastcgi_pass, kept connections, and a new connection per request; sharing the primary's
// socket, the default, and with a socket per worker, `exclusive`) and on node:http (proxy_pass, kept connections), in
// interleaved rounds of wrk in one run. Prints the table with each setup's ratio
// to its own 1-worker run, createServer's to node:http's with as many workers, and the cores the app's processes
// used (the rest of the machine's went to nginx and wrk), and writes results/cluster.json and .md.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  describeMachine,
  freePort,
  median,
  nginxConfig,
  nginxVersion,
  ratio,
  runMain,
  sleep,
  waitForPort,
  wrk as wrkFor,
  writeResults,
} from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const run = mkdtempSync(join(tmpdir(), 'libfcgi-bench-cluster-'));
const children = [];

const setups = [
  { name: 'createServer, fastcgi_keep_conn', app: 'fastcgi', keep: true },
  { name: 'createServer, new connection per request', app: 'fastcgi', keep: false },
  { name: 'createServer exclusive, fastcgi_keep_conn', app: 'exclusive', keep: true },
  { name: 'createServer exclusive, new connection per request', app: 'exclusive', keep: false },
  { name: 'node:http, proxy_pass keepalive', app: 'http', keep: true },
];
const apps = {
  fastcgi: { SERVER: 'fastcgi' },
  exclusive: { SERVER: 'fastcgi', EXCLUSIVE: '1' },
  http: { SERVER: 'http' },
};
const workerCounts = [1, 2];

const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** CPU seconds used so far by pid and its children (the cluster's primary and workers). */
function cpuSeconds(pid) {
  const children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .trim()
    .split('\n');
  let ticks = 0;
  for (const each of [String(pid), ...children]) {
    const fields = readFileSync(`/proc/${each}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return ticks / ticksPerSecond;
}

async function startApp(app, workers) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(here, 'apps', 'express-cluster.js')], {
    env: { ...process.env, ...apps[app], WORKERS: String(workers), PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  await waitForPort(port, `${app} ×${workers}`);
  return { port, pid: child.pid };
}

function nginxBlock(target, appPort, frontPort) {
  const upstream = `up_${frontPort}`;
  if (target.app === 'http') {
    return [
      `upstream ${upstream} { server 127.0.0.1:${appPort}; keepalive 32; }`,
      `server { listen 127.0.0.1:${frontPort}; location / { proxy_pass http://${upstream};`,
      '  proxy_http_version 1.1; proxy_set_header Connection ""; } }',
    ];
  }
  return [
    `upstream ${upstream} { server 127.0.0.1:${appPort}; ${target.keep ? 'keepalive 32;' : ''} }`,
    `server { listen 127.0.0.1:${frontPort}; location / { include /etc/nginx/fastcgi_params;`,
    `  fastcgi_keep_conn ${target.keep ? 'on' : 'off'}; fastcgi_pass ${upstream}; } }`,
  ];
}

const wrk = (port) => wrkFor(port, seconds);

async function main() {
  const machine = {
    ...describeMachine(),
    nginx: nginxVersion(),
  };
  // One app per kind and worker count; the FastCGI ones serve both nginx setups.
  const appPorts = new Map();
  for (const app of Object.keys(apps)) {
    for (const workers of workerCounts) appPorts.set(`${app}×${workers}`, await startApp(app, workers));
  }
  const targets = [];
  for (const setup of setups) {
    for (const workers of workerCounts) {
      const { port: appPort, pid: appPid } = appPorts.get(`${setup.app}×${workers}`);
      targets.push({ ...setup, workers, appPort, appPid, port: await freePort() });
    }
  }
  const config = nginxConfig(
    run,
    targets.flatMap((target) => nginxBlock(target, target.appPort, target.port)),
  );
  writeFileSync(join(run, 'nginx.conf'), config);
  const nginx = spawn('nginx', ['-p', run, '-c', join(run, 'nginx.conf')], { stdio: 'inherit' });
  children.push(nginx);
  await waitForPort(targets[0].port, 'nginx');

  for (const target of targets) wrk(target.port); // warm-up: JIT, connections
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const cpuBefore = cpuSeconds(target.appPid);
      const result = { ...wrk(target.port), appCores: (cpuSeconds(target.appPid) - cpuBefore) / seconds };
      (target.samples ??= []).push(result);
      console.error(`  round ${round} ${target.name} ×${target.workers}: ${Math.round(result.rps)} req/s`);
      await sleep(500);
    }
  }

  const rps = (target) => median(target.samples.map((sample) => sample.rps));
  const find = (name, workers) => targets.find((target) => target.name === name && target.workers === workers);
  const rows = targets.map((target) => {
    const http = find(setups.find((setup) => setup.app === 'http').name, target.workers);
    return {
      setup: target.name,
      workers: target.workers,
      rps: Math.round(rps(target)),
      toOneWorker: ratio(rps(target), rps(find(target.name, 1))),
      toNodeHttp: target.app === 'http' ? null : ratio(rps(target), rps(http)),
      appCores: Math.round(median(target.samples.map((sample) => sample.appCores)) * 100) / 100,
      errors: target.samples.reduce((sum, sample) => sum + sample.errors, 0),
      rounds: target.samples.map((sample) => Math.round(sample.rps)),
    };
  });
  const results = { date: new Date().toISOString(), machine, seconds, rounds, rows };
  const table = [
    `${rounds} rounds of ${seconds} s, interleaved, medians; wrk -t2 -c16 through nginx; ${machine.cores} × ${machine.cpu}, Node ${machine.node}, ${results.date}.`,
    '',
    '| setup | workers | req/s | × 1 worker | × node:http, same workers | cores the app used | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.setup} | ${r.workers} | ${r.rps} | ${r.toOneWorker} | ${r.toNodeHttp ?? ''} | ${r.appCores} | ${r.errors} |`,
    ),
  ].join('\n');
  writeResults('cluster', results, table);
  console.log(table);
}

runMain(main, () => {
  for (const child of children) child.kill('SIGTERM');
  setTimeout(() => rmSync(run, { recursive: true, force: true }), 500);
});
