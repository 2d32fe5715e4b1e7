// What held connections and requests cost createServer (part of `npm run bench`, or `node bench/connections.mjs` on
// its own): 1,000 connections that send nothing, then 1,000 slow peers that send half a BEGIN_REQUEST record and stop,
// each time the latency of one valid request on a new connection and the app's RSS growth and threads; and 1,000
// requests in flight at once on their own connections, whose handlers await a 200 ms timer.
import { Socket } from 'node:net';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FcgiConnection } from '../dist/client/client.js';
import { RecordType, Role, encodeBeginRequestBody, encodeRecord } from '../dist/client/protocol.js';
import { freePort, round1, rssMb, sleep, spawnFcgi, threadCount, waitForPort } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const node = process.execPath;
const held = Number(process.env.BENCH_HELD_CONNECTIONS ?? 1000);
const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? 1000);
// How long the valid request behind the held connections may take before it counts as unanswered.
const requestTimeoutMs = Number(process.env.BENCH_HELD_TIMEOUT_MS ?? 10_000);
const inFlightTimeoutMs = Number(process.env.BENCH_IN_FLIGHT_TIMEOUT_MS ?? 60_000);

const params = {
  GATEWAY_INTERFACE: 'CGI/1.1',
  REQUEST_METHOD: 'GET',
  SCRIPT_NAME: '/hello',
  REQUEST_URI: '/hello',
  QUERY_STRING: '',
  SERVER_PROTOCOL: 'HTTP/1.1',
  SERVER_NAME: '127.0.0.1',
  SERVER_PORT: '80',
  REMOTE_ADDR: '127.0.0.1',
  HTTP_HOST: '127.0.0.1',
};

// What a slow peer sends: the 8-byte header of a BEGIN_REQUEST record, whose 8 bytes of content never come.
const halfBeginRequest = encodeRecord(RecordType.beginRequest, 1, encodeBeginRequestBody(Role.responder, 0)).subarray(
  0,
  8,
);

/** Both processes (the bench and the app) need a descriptor per held connection; Node raises its soft limit to this. */
function assertFdLimit(needed) {
  const hard = /Max open files\s+\S+\s+(\S+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
  if (hard !== 'unlimited' && Number(hard) < needed) {
    throw new Error(
      `bench/connections.mjs needs ${needed} open files, the hard limit is ${hard}: raise it (ulimit -Hn)`,
    );
  }
}

/** How many sockets a process has open: its connections, its listening socket and the few node opens. */
function socketCount(pid) {
  const fds = readdirSync(`/proc/${pid}/fd`);
  return fds.filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false; // closed since it was listed
    }
  }).length;
}

async function startApp(script) {
  const port = await freePort();
  const child = spawnFcgi(port, [node, join(here, 'apps', script)]);
  await waitForPort(port, script);
  return { port, child };
}

function stopApp(app) {
  if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGTERM');
}

/** One request on a new connection: its latency in ms, or null if no right answer came within timeoutMs. */
async function timedRequest(port, timeoutMs) {
  const start = performance.now();
  let connection;
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  const answer = (async () => {
    connection = await FcgiConnection.connect({ port });
    const response = await connection.request(params);
    return response.stdout.includes('Hello, world!') ? performance.now() - start : null;
  })().catch(() => null);
  try {
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
    connection?.close();
  }
}

function openHeld(port, count, firstBytes) {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const socket = new Socket();
          socket.on('error', () => {}); // the app may close a held connection; that is what it should do.
          socket.once('connect', () => {
            if (firstBytes) socket.write(firstBytes);
            resolve(socket);
          });
          socket.once('close', () => reject(new Error('a held connection closed before it connected')));
          socket.connect(port, '127.0.0.1');
        }),
    ),
  );
}

async function measureHeld(name, firstBytes) {
  const app = await startApp('create-server.js');
  try {
    const pid = app.child.pid;
    // The first requests start what the app starts lazily and warm it up; the next ones are its unloaded latency.
    for (let i = 0; i < 20; i++) await timedRequest(app.port, requestTimeoutMs);
    const unloaded = [];
    for (let i = 0; i < 5; i++) unloaded.push(await timedRequest(app.port, requestTimeoutMs));
    await sleep(500);
    const rssBefore = rssMb(pid);
    const threadsBefore = threadCount(pid);
    const socketsBefore = socketCount(pid);
    const sockets = await openHeld(app.port, held, firstBytes);
    await sleep(1000);
    const threadsHeld = threadCount(pid);
    const accepted = socketCount(pid) - socketsBefore;
    const latencyMs = await timedRequest(app.port, requestTimeoutMs);
    const rssHeld = rssMb(pid);
    const stillOpen = sockets.filter((socket) => !socket.destroyed).length;
    for (const socket of sockets) socket.destroy();
    return {
      name,
      connections: held,
      unloadedLatencyMs: round1(unloaded.sort((a, b) => a - b)[2]),
      latencyMs: round1(latencyMs),
      timeoutMs: requestTimeoutMs,
      rssBeforeMb: round1(rssBefore),
      rssGrowthMb: round1(rssHeld - rssBefore),
      threadsBefore,
      threadsHeld,
      accepted,
      heldStillOpen: stillOpen,
    };
  } finally {
    stopApp(app);
  }
}

async function measureInFlight() {
  const app = await startApp('timer.js');
  try {
    const pid = app.child.pid;
    let maxThreads = threadCount(pid);
    const sampler = setInterval(() => (maxThreads = Math.max(maxThreads, threadCount(pid) ?? 0)), 50);
    const start = performance.now();
    const latencies = await Promise.all(
      Array.from({ length: inFlight }, () => timedRequest(app.port, inFlightTimeoutMs)),
    );
    const totalMs = performance.now() - start;
    clearInterval(sampler);
    const answered = latencies.filter((ms) => ms !== null).sort((a, b) => a - b);
    return {
      requests: inFlight,
      handlerMs: 200,
      answered: answered.length,
      totalMs: Math.round(totalMs),
      p50Ms: Math.round(answered[Math.floor(answered.length / 2)] ?? 0),
      maxMs: Math.round(answered.at(-1) ?? 0),
      timeoutMs: inFlightTimeoutMs,
      maxThreads,
      rssAfterMb: round1(rssMb(pid)),
    };
  } finally {
    stopApp(app);
  }
}

export async function measureConnections() {
  assertFdLimit(Math.max(held, inFlight) + 100);
  const idle = await measureHeld('connections that send nothing', null);
  const slow = await measureHeld('slow peers (half a BEGIN_REQUEST)', halfBeginRequest);
  const flight = await measureInFlight();
  return { held: [idle, slow], inFlight: flight };
}

export function connectionTables({ held: heldRows, inFlight: flight }) {
  const ms = (value, timeout) => (value === null ? `none in ${timeout / 1000} s` : value);
  return [
    `| createServer, ${heldRows[0].connections} held connections | valid request on a new connection ms | unloaded ms | RSS growth MB | threads before → held | of them accepted by the app |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...heldRows.map(
      (r) =>
        `| ${r.name} | ${ms(r.latencyMs, r.timeoutMs)} | ${r.unloadedLatencyMs} | ${r.rssGrowthMb} | ${r.threadsBefore} → ${r.threadsHeld} | ${r.accepted} |`,
    ),
    '',
    `| createServer, requests in flight (handler awaits ${flight.handlerMs} ms) | answered | total ms | p50 ms | max ms | threads at most |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    `| ${flight.requests} at once, each on a new connection | ${flight.answered} | ${flight.totalMs} | ${flight.p50Ms} | ${flight.maxMs} | ${flight.maxThreads} |`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await measureConnections();
  console.log(JSON.stringify(results, null, 2));
  console.log(connectionTables(results));
}
