#!/usr/bin/env node
// npm run soak: a long run of valid requests (SOAK_REQUESTS, default 1,000,000) against the accept() loop, the async
// engine and createServer, one app at a time, driven by the C load generator in chunks that alternate kept and new
// connections; every answer is checked; the app's RSS is sampled each second and after each chunk. Writes
// bench/results/soak.json, prints a summary, and fails when an app's RSS grew 10 MB or more after warm-up or any
// request went wrong.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, freePort, round1, rssMb, runMain, spawnFcgi, waitForPort, writeResults } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const node = process.execPath;
const loadgen = join(here, 'build', 'loadgen');
const total = Number(process.env.SOAK_REQUESTS ?? 1_000_000);
const chunkSize = Number(process.env.SOAK_CHUNK ?? 50_000);
const warmupRequests = Math.min(50_000, total);
const growthLimitMb = 10;
const expectBody = 'Hello, world!\n';

// The accept() loop serves one connection at a time, so it gets one kept connection (more would only queue).
const apps = [
  { name: 'libfcgi accept()', script: 'sync-loop.js', keptConnections: 1, newConnections: 4 },
  { name: 'libfcgi engine', script: 'engine.js', keptConnections: 16, newConnections: 16 },
  { name: 'libfcgi createServer', script: 'create-server.js', keptConnections: 16, newConnections: 16 },
];

/** Runs loadgen for `requests` requests; resolves with its JSON result. */
function drive(port, requests, { connections, keepAlive }) {
  const args = ['--connect', `127.0.0.1:${port}`, '--connections', String(connections)];
  // The duration only caps a run whose app stopped answering; then fewer requests than asked for count as a failure.
  args.push('--requests', String(requests), '--duration', String(Math.max(120, requests / 100)));
  args.push('--expect-body', expectBody);
  if (keepAlive) args.push('--keep-alive');
  return new Promise((resolve, reject) => {
    const child = spawn(loadgen, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line) reject(new Error(`loadgen exited with ${code}`));
      else resolve(JSON.parse(line));
    });
  });
}

async function soak(app) {
  const port = await freePort();
  const child = spawnFcgi(port, [node, join(here, 'apps', app.script)]);
  let exit = null;
  child.once('exit', (code, signal) => (exit = signal ?? `exit code ${code}`));
  await waitForPort(port, app.name);

  const result = { app: app.name, requests: 0, errors: 0, wrongAnswers: 0, seconds: 0, chunks: [], rssEverySecond: [] };
  const sampler = setInterval(() => {
    const rss = rssMb(child.pid);
    if (rss !== null) result.rssEverySecond.push(round1(rss));
  }, 1000);
  result.rssStartMb = round1(rssMb(child.pid));
  try {
    for (let done = 0, index = 0; done < total && exit === null; index++) {
      const size = index === 0 ? warmupRequests : Math.min(chunkSize, total - done);
      const keepAlive = index % 2 === 0;
      const connections = keepAlive ? app.keptConnections : app.newConnections;
      const run = await drive(port, size, { connections, keepAlive }).catch((error) => {
        console.error(`  ${app.name}: ${error.message}`);
        return { requests: 0, errors: size, wrong_answers: 0, seconds: 0, rps: 0 };
      });
      done += size;
      result.requests += run.requests;
      result.errors += run.errors;
      result.wrongAnswers += run.wrong_answers;
      result.seconds += run.seconds;
      const rss = round1(rssMb(child.pid));
      result.chunks.push({ requests: done, keepAlive, connections, rps: Math.round(run.rps), errors: run.errors, rss });
      if (index === 0) result.rssWarmupMb = rss;
      console.error(`  ${app.name}: ${done} requests, ${Math.round(run.rps)} req/s, ${run.errors} errors, ${rss} MB`);
    }
  } finally {
    clearInterval(sampler);
  }
  result.rssEndMb = round1(rssMb(child.pid));
  const afterWarmup = result.chunks.map((chunk) => chunk.rss).filter((rss) => rss !== null);
  result.rssMaxMb = Math.max(...result.rssEverySecond, ...afterWarmup);
  result.growthMb = round1(result.rssEndMb - result.rssWarmupMb);
  result.rps = Math.round(result.requests / result.seconds);
  const rate = (keepAlive) => {
    const chunks = result.chunks.filter((chunk) => chunk.keepAlive === keepAlive);
    return chunks.length ? Math.round(chunks.reduce((sum, chunk) => sum + chunk.rps, 0) / chunks.length) : null;
  };
  result.rpsKeptConnections = rate(true);
  result.rpsNewConnections = rate(false);
  result.died = exit;
  result.pass = exit === null && result.requests === total && result.errors === 0 && result.growthMb < growthLimitMb;
  child.kill('SIGTERM');
  return result;
}

async function main() {
  const machine = describeMachine();
  console.error(`soak: ${total} requests per app, chunks of ${chunkSize}, warm-up ${warmupRequests}`);
  const results = [];
  for (const app of apps) results.push(await soak(app));
  const report = { date: new Date().toISOString(), machine, requestsPerApp: total, warmupRequests, chunkSize, results };
  writeResults('soak', report);

  console.log(
    [
      `${total} requests per app (chunks of ${chunkSize} alternating kept and new connections, every answer checked); ` +
        `${machine.cores} × ${machine.cpu}, Node ${machine.node}, ${report.date}.`,
      '',
      '| app | requests | errors | wrong answers | req/s kept | req/s new | RSS after warm-up MB | RSS end MB | RSS max MB | growth MB | verdict |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...results.map(
        (r) =>
          `| ${r.app} | ${r.requests} | ${r.errors} | ${r.wrongAnswers} | ${r.rpsKeptConnections} | ${r.rpsNewConnections} | ` +
          `${r.rssWarmupMb} | ${r.rssEndMb} | ${r.rssMaxMb} | ${r.growthMb} | ` +
          `${r.pass ? 'pass' : `FAIL${r.died ? ` (app died: ${r.died})` : ''}`} |`,
      ),
      '',
      ...results.map((r) => `RSS after each chunk, ${r.app}: ${r.chunks.map((chunk) => chunk.rss).join(' ')}`),
    ].join('\n'),
  );
  if (!results.every((r) => r.pass)) process.exitCode = 1;
}

runMain(main);
