#!/usr/bin/env node
// npm run soak:faults: for SOAK_MINUTES (default 30), SOAK_CLIENTS concurrent clients (default 8) send a createServer
// app (or, with --app accept, the accept() loop) a mix of valid requests, checked byte for byte, aborted requests,
// peers that go away mid-request or mid-response, and malformed input; with --include-known-crashers (the default)
// also, every SOAK_CRASHER_SECONDS (default 20), one of the two inputs that abort libfcgi 2.4.2 itself. A dead app is
// counted as a crash with the inputs that preceded it, and restarted. Samples the app's RSS each second. Writes
// bench/results/fault-soak.json, prints a summary, and fails on any crash or wrong answer.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FcgiConnection, fcgiRequest, parseCgiResponse } from '../dist/client/client.js';
import {
  FCGI_KEEP_CONN,
  FCGI_NULL_REQUEST_ID,
  RecordParser,
  RecordType,
  Role,
  decodeEndRequestBody,
  encodeBeginRequestBody,
  encodeNameValuePairs,
  encodeRecord,
  encodeStream,
} from '../dist/client/protocol.js';
import {
  describeMachine,
  freePort,
  round1,
  rssMb,
  runMain,
  sleep,
  spawnFcgi,
  waitForPort,
  writeResults,
} from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const minutes = Number(process.env.SOAK_MINUTES ?? 30);
const clients = Number(process.env.SOAK_CLIENTS ?? 8);
const crasherSeconds = Number(process.env.SOAK_CRASHER_SECONDS ?? 20);
const includeKnownCrashers = !args.includes('--no-known-crashers') && !args.includes('--include-known-crashers=false');
// --cases valid,truncated: only the kinds whose names start with one of these (the known crashers aside).
const only = args.includes('--cases') ? args[args.indexOf('--cases') + 1].split(',') : null;
const appKind = args.includes('--app') ? args[args.indexOf('--app') + 1] : 'create-server';
if (!['create-server', 'accept'].includes(appKind)) throw new Error('--app takes create-server or accept');
const warmupSeconds = Math.min(60, (minutes * 60) / 3);
// The accept() loop serves one connection at a time, so a valid request may wait behind every stalled peer.
const validTimeoutMs = appKind === 'accept' ? 60_000 : 15_000;
const faultWaitMs = 3000;

// ---- the app, restarted when it dies ----

const app = { child: null, port: 0, generation: 0, ready: null, stopping: false, stderrTail: '' };
const crashes = [];
const recent = []; // { kind, at } of the last few seconds' cases, for naming what preceded a crash
const inFlight = new Map(); // case id -> kind
const startedAt = Date.now();
const elapsed = () => (Date.now() - startedAt) / 1000;

function startApp() {
  app.generation++;
  app.stderrTail = '';
  app.ready = (async () => {
    app.port = await freePort();
    const command = [process.execPath, join(here, 'apps', 'fault-app.js'), appKind];
    const child = spawnFcgi(app.port, command, { stdio: ['ignore', 'ignore', 'pipe'] });
    app.child = child;
    child.stderr.on('data', (chunk) => (app.stderrTail = (app.stderrTail + chunk).slice(-2000)));
    child.once('exit', (code, signal) => onAppExit(child, code, signal));
    await waitForPort(app.port, 'fault-app');
  })();
  return app.ready;
}

function onAppExit(child, code, signal) {
  if (app.stopping || child !== app.child) return;
  const at = elapsed();
  const lastCrasher = [...recent].reverse().find((entry) => entry.kind.includes('known crasher'));
  const lastFault = [...recent].reverse().find((entry) => !entry.kind.startsWith('valid'));
  const preceding = lastCrasher && at - lastCrasher.at < 3 ? lastCrasher : lastFault;
  const flying = {};
  for (const kind of inFlight.values()) flying[kind] = (flying[kind] ?? 0) + 1;
  crashes.push({
    atSeconds: round1(at),
    generation: app.generation,
    signal,
    exitCode: code,
    precedingInput: preceding ? `${preceding.kind} (${round1(at - preceding.at)} s before)` : 'none',
    inFlight: flying,
    stderr: app.stderrTail.trim().split('\n').slice(-3),
  });
  console.error(`  crash at ${round1(at)} s (${signal ?? `exit ${code}`}) after ${crashes.at(-1).precedingInput}`);
  startApp().catch((error) => console.error(`  restart failed: ${error.message}`));
}

// ---- a raw peer, for input the client library would never send ----

class RawPeer {
  records = [];
  closed = false;
  #parser = new RecordParser();
  #waiters = new Set();

  /** One exchange, as most faults are: connect, send bytes, wait as waitFor does, close; returns what waitFor did. */
  static async exchange(port, bytes, match, ms) {
    const peer = await RawPeer.connect(port);
    peer.write(bytes);
    const result = await peer.waitFor(match, ms);
    peer.destroy();
    return result;
  }

  static connect(port) {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      socket.once('error', reject);
      socket.connect(port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket));
      });
    });
  }

  constructor(socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      try {
        this.records.push(...this.#parser.push(chunk));
      } catch {
        this.records.push({ type: -1 }); // bytes that are not records
      }
      this.#wake();
    });
    socket.once('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  write(bytes) {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Waits for a record `match` accepts, the app closing the connection, or the time running out. */
  waitFor(match, ms = faultWaitMs) {
    return new Promise((resolve) => {
      const finish = (result) => {
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(result);
      };
      const check = () => {
        const record = this.records.find(match);
        if (record) finish(record);
        else if (this.closed) finish('closed');
      };
      const timer = setTimeout(() => finish('timeout'), ms);
      this.#waiters.add(check);
      check();
    });
  }

  destroy() {
    this.socket.destroy();
  }

  #wake() {
    for (const check of [...this.#waiters]) check();
  }
}

const endOf = (requestId) => (record) => record.type === RecordType.endRequest && record.requestId === requestId;

/** How the app answered a fault: END_REQUEST with its protocol status, a closed connection, or nothing in time. */
function describe(result) {
  if (typeof result === 'string') return result === 'closed' ? 'closed by app' : 'no answer in time';
  if (result.type === -1) return 'answered with bytes that are not records';
  if (result.type === RecordType.endRequest)
    return `END_REQUEST status ${decodeEndRequestBody(result.content).protocolStatus}`;
  return `record type ${result.type}`;
}

/** Aborts request 1 on the peer's connection, then describes how the app ended it. */
async function abortAndDescribe(peer) {
  peer.write(encodeRecord(RecordType.abortRequest, 1));
  const result = await peer.waitFor(endOf(1));
  peer.destroy();
  return describe(result);
}

// ---- requests ----

const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

function randomBody() {
  const roll = Math.random();
  const size = roll < 0.7 ? randomInt(0, 2048) : roll < 0.95 ? randomInt(2048, 65536) : randomInt(65536, 1 << 20);
  return randomBytes(size);
}

function paramsFor(method, body, token, query = '') {
  return {
    REQUEST_METHOD: method,
    REQUEST_URI: query ? `/echo?${query}` : '/echo',
    SCRIPT_NAME: '/echo',
    QUERY_STRING: query,
    CONTENT_LENGTH: body.length ? String(body.length) : '',
    CONTENT_TYPE: body.length ? 'application/octet-stream' : '',
    SERVER_PROTOCOL: 'HTTP/1.1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: String(randomInt(1024, 65536)),
    HTTP_HOST: 'localhost',
    HTTP_X_TOKEN: token,
  };
}

function requestBytes({ requestId = 1, keepConn = true, role = Role.responder, version, params, stdin }) {
  const begin = encodeBeginRequestBody(role, keepConn ? FCGI_KEEP_CONN : 0);
  return Buffer.concat([
    encodeRecord(RecordType.beginRequest, requestId, begin, version === undefined ? {} : { version }),
    encodeStream(RecordType.params, requestId, encodeNameValuePairs(params)),
    ...(stdin ? [encodeStream(RecordType.stdin, requestId, stdin)] : []),
  ]);
}

function randomRequest() {
  const method = methods[randomInt(methods.length)];
  const body = method === 'GET' ? Buffer.alloc(0) : randomBody();
  const token = randomBytes(randomInt(4, 30)).toString('base64url');
  return { method, body, token, params: paramsFor(method, body, token) };
}

/** What is wrong with the answer to a valid request, or null when it is right to the byte. */
function checkAnswer(request, response) {
  if (response.protocolStatus !== 0) return `protocolStatus ${response.protocolStatus}`;
  if (response.appStatus !== 0) return `appStatus ${response.appStatus}`;
  const cgi = parseCgiResponse(response.stdout);
  if (cgi.status !== 200) return `status ${cgi.status}`;
  if (cgi.header('x-method') !== request.method) return `X-Method ${cgi.header('x-method')} for ${request.method}`;
  if (cgi.header('x-token') !== request.token) return `X-Token ${cgi.header('x-token')} for ${request.token}`;
  const sha = createHash('sha256').update(request.body).digest('hex');
  if (cgi.header('x-body-sha256') !== sha) return `X-Body-Sha256 differs (${request.body.length}-byte body)`;
  if (!cgi.body.equals(request.body)) return `body differs (${cgi.body.length} bytes for ${request.body.length})`;
  return null;
}

function withTimeout(promise, ms, onTimeout) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`no answer in ${ms / 1000} s`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Throws when the answer is wrong; runCase counts that as a wrong answer unless the app died meanwhile. */
async function checkValid(request, responsePromise) {
  const response = await responsePromise;
  const wrong = checkAnswer(request, response);
  if (wrong) throw new Error(wrong);
}

// ---- the cases ----

const cases = {
  async 'valid, kept connection'(port) {
    const connection = await FcgiConnection.connect({ port });
    try {
      for (let i = randomInt(1, 7); i > 0; i--) {
        const request = randomRequest();
        const answer = connection.request(request.params, { keepConn: true, stdin: request.body });
        await withTimeout(checkValid(request, answer), validTimeoutMs, () => connection.close());
      }
    } finally {
      connection.close();
    }
    return 'right';
  },

  async 'valid, new connection'(port) {
    const request = randomRequest();
    const answer = fcgiRequest({ port }, request.params, { stdin: request.body });
    await withTimeout(checkValid(request, answer), validTimeoutMs);
    return 'right';
  },

  async 'abort before body'(port) {
    const peer = await RawPeer.connect(port);
    const { params } = randomRequest();
    peer.write(requestBytes({ params: { ...params, CONTENT_LENGTH: '1000' } }));
    return abortAndDescribe(peer);
  },

  async 'abort during body'(port) {
    const peer = await RawPeer.connect(port);
    const body = randomBytes(200_000);
    const { params } = randomRequest();
    peer.write(requestBytes({ params: { ...params, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) } }));
    const sent = randomInt(0, 4) * 16384;
    for (let offset = 0; offset < sent; offset += 16384) {
      peer.write(encodeRecord(RecordType.stdin, 1, body.subarray(offset, offset + 16384)));
    }
    await sleep(randomInt(0, 5));
    return abortAndDescribe(peer);
  },

  async 'abort after body'(port) {
    const peer = await RawPeer.connect(port);
    const request = randomRequest();
    peer.write(requestBytes({ params: request.params, stdin: request.body }));
    await sleep(randomInt(0, 3));
    return abortAndDescribe(peer);
  },

  async 'peer closes mid-request'(port) {
    const peer = await RawPeer.connect(port);
    const body = randomBytes(randomInt(1, 100_000));
    const { params } = randomRequest();
    const bytes = requestBytes({ params: { ...params, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) } });
    const stdin = encodeStream(RecordType.stdin, 1, body, 8192);
    const all = Buffer.concat([bytes, stdin]);
    peer.write(all.subarray(0, randomInt(1, all.length - 8))); // never the final empty STDIN record
    await sleep(randomInt(0, 20));
    peer.destroy();
    return 'peer closed';
  },

  async 'peer closes mid-response'(port) {
    const params = paramsFor('GET', Buffer.alloc(0), 'big', `size=${randomInt(1 << 20, 8 << 20)}`);
    const bytes = requestBytes({ params, stdin: Buffer.alloc(0) });
    const result = await RawPeer.exchange(port, bytes, (record) => record.type === RecordType.stdout);
    return typeof result === 'string' ? describe(result) : 'closed after the first STDOUT record';
  },

  async 'wrong version byte'(port) {
    const request = randomRequest();
    const version = [0, 2, 3, 255][randomInt(4)];
    const bytes = requestBytes({ version, params: request.params, stdin: request.body });
    return describe(await RawPeer.exchange(port, bytes, endOf(1)));
  },

  async 'truncated record'(port) {
    const peer = await RawPeer.connect(port);
    const request = randomRequest();
    const bytes = requestBytes({ params: request.params, stdin: request.body });
    // Cut inside a record: somewhere past the BEGIN_REQUEST record, or inside a header.
    peer.write(bytes.subarray(0, randomInt(1, Math.max(2, bytes.length - 8))));
    if (Math.random() < 0.5) peer.socket.end(); // half-close: the app reads EOF mid-record
    const result = await peer.waitFor(endOf(1), 1000);
    peer.destroy();
    return describe(result);
  },

  async 'unknown record type'(port) {
    const peer = await RawPeer.connect(port);
    const type = randomInt(12, 256);
    if (Math.random() < 0.5) {
      peer.write(encodeRecord(type, FCGI_NULL_REQUEST_ID, randomBytes(randomInt(0, 64)), { paddingLength: 1 }));
      const result = await peer.waitFor((record) => record.type === RecordType.unknownType);
      peer.destroy();
      return typeof result === 'string' ? describe(result) : 'UNKNOWN_TYPE';
    }
    const request = randomRequest();
    const bytes = requestBytes({ params: request.params });
    peer.write(Buffer.concat([bytes, encodeRecord(type, 1, randomBytes(randomInt(0, 64)))]));
    peer.write(encodeStream(RecordType.stdin, 1, request.body));
    const result = await peer.waitFor(endOf(1));
    peer.destroy();
    return `in a request: ${describe(result)}`;
  },

  async 'oversize name-value length'(port) {
    // A name that claims 64 KB to 16 MB, then a PARAMS stream that ends long before.
    const header = Buffer.alloc(8);
    header.writeUInt32BE((0x80000000 | randomInt(1 << 16, 1 << 24)) >>> 0, 0);
    header.writeUInt32BE((0x80000000 | randomInt(0, 1 << 16)) >>> 0, 4);
    const pairs = Buffer.concat([header, randomBytes(randomInt(0, 200))]);
    const bytes = Buffer.concat([
      encodeRecord(RecordType.beginRequest, 1, encodeBeginRequestBody(Role.responder, FCGI_KEEP_CONN)),
      encodeStream(RecordType.params, 1, pairs),
      encodeStream(RecordType.stdin, 1, Buffer.alloc(0)),
    ]);
    return describe(await RawPeer.exchange(port, bytes, endOf(1)));
  },

  async 'garbage bytes'(port) {
    return describe(await RawPeer.exchange(port, randomBytes(randomInt(1, 4096)), () => false, 1000));
  },

  async 'GET_VALUES, 1 to 3 names'(port) {
    const connection = await FcgiConnection.connect({ port });
    const names = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'].slice(0, randomInt(1, 4));
    try {
      const values = await withTimeout(connection.getValues(names), faultWaitMs, () => connection.close());
      return `GET_VALUES_RESULT with ${values.size} values`;
    } catch {
      return connection.isClosed ? 'closed by app' : 'no answer in time';
    } finally {
      connection.close();
    }
  },

  async 'unknown role'(port) {
    const request = randomRequest();
    const bytes = requestBytes({ role: randomInt(4, 65536), params: request.params, stdin: request.body });
    return describe(await RawPeer.exchange(port, bytes, endOf(1)));
  },
};

const weights = {
  'valid, kept connection': 25,
  'valid, new connection': 15,
  'abort before body': 4,
  'abort during body': 4,
  'abort after body': 4,
  'peer closes mid-request': 4,
  'peer closes mid-response': 3,
  'wrong version byte': 3,
  'truncated record': 3,
  'unknown record type': 3,
  'oversize name-value length': 3,
  'garbage bytes': 3,
  'GET_VALUES, 1 to 3 names': 2,
  'unknown role': 2,
};

// The two inputs that abort libfcgi 2.4.2 itself (the native layer is to guard against them).
const knownCrashers = {
  async 'GET_VALUES with 4+ known names (known crasher)'(port) {
    const known = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'];
    const names = Array.from({ length: randomInt(4, 9) }, (_, i) => [known[i % 3], '']);
    const query = encodeNameValuePairs(names);
    const bytes = encodeRecord(RecordType.getValues, FCGI_NULL_REQUEST_ID, query, {
      paddingLength: 8 - (query.length % 8),
    });
    const result = await RawPeer.exchange(port, bytes, (record) => record.type === RecordType.getValuesResult);
    return typeof result === 'string' ? describe(result) : 'GET_VALUES_RESULT';
  },

  async 'PARAMS length near 2^31 (known crasher)'(port) {
    const lengths = Buffer.alloc(8);
    // Name 2^31 - 2 bytes, value 4: this pair aborted libfcgi 2.4.2 (Debian) every time in a probe, where a name of
    // 2^31 - 1 with a value of 1, 7 or 64 bytes, or 2^31 - 4 with 1, did not.
    lengths.writeUInt32BE((0x80000000 | 0x7ffffffe) >>> 0, 0);
    lengths.writeUInt32BE((0x80000000 | 4) >>> 0, 4);
    const bytes = Buffer.concat([
      encodeRecord(RecordType.beginRequest, 1, encodeBeginRequestBody(Role.responder, FCGI_KEEP_CONN)),
      encodeRecord(RecordType.params, 1, Buffer.concat([lengths, randomBytes(1000)])),
      encodeStream(RecordType.params, 1, Buffer.alloc(0)),
      encodeStream(RecordType.stdin, 1, Buffer.alloc(0)),
    ]);
    return describe(await RawPeer.exchange(port, bytes, endOf(1)));
  },
};

// ---- running them ----

const tally = {}; // kind -> { count, outcomes: { outcome: n } }
const wrongAnswers = [];
let lostToCrash = 0;
let nextCaseId = 0;

function count(kind, outcome) {
  const entry = (tally[kind] ??= { count: 0, outcomes: {} });
  entry.count++;
  entry.outcomes[outcome] = (entry.outcomes[outcome] ?? 0) + 1;
}

async function runCase(kind, run) {
  await app.ready;
  const generation = app.generation;
  const id = nextCaseId++;
  inFlight.set(id, kind);
  recent.push({ kind, at: elapsed() });
  while (recent.length > 0 && elapsed() - recent[0].at > 5) recent.shift();
  try {
    count(kind, await run(app.port));
  } catch (error) {
    // Give the app's exit a moment to be seen: a request cut off by a crash is not a wrong answer.
    if (app.generation === generation) await sleep(500);
    if (app.generation !== generation) {
      lostToCrash++;
      count(kind, 'cut off by a crash');
    } else if (kind.startsWith('valid')) {
      count(kind, 'WRONG');
      const others = [...inFlight.values()].filter((other) => !other.startsWith('valid'));
      wrongAnswers.push({ atSeconds: round1(elapsed()), kind, error: error.message, faultsInFlight: others });
      if (wrongAnswers.length <= 10) console.error(`  wrong answer (${kind}): ${error.message}`);
    } else {
      count(kind, `client error: ${error.code ?? error.message}`);
    }
  } finally {
    inFlight.delete(id);
  }
}

const mix = Object.entries(weights).filter(([kind]) => !only || only.some((prefix) => kind.startsWith(prefix)));
if (mix.length === 0) throw new Error(`--cases matches none of: ${Object.keys(weights).join('; ')}`);

function pickKind() {
  const total = mix.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = Math.random() * total;
  for (const [kind, weight] of mix) if ((roll -= weight) < 0) return kind;
  return mix[0][0];
}

async function client(until) {
  while (Date.now() < until) {
    const kind = pickKind();
    await runCase(kind, cases[kind]);
  }
}

async function crasherLoop(until) {
  const kinds = Object.keys(knownCrashers);
  for (let i = 0; Date.now() + crasherSeconds * 1000 < until; i++) {
    await sleep(crasherSeconds * 1000);
    const kind = kinds[i % kinds.length];
    await runCase(kind, knownCrashers[kind]);
  }
}

function rssSummary(samples) {
  const first = samples[0];
  // After a restart the new app needs a few seconds before its RSS means anything.
  const bornAt = new Map();
  for (const sample of samples) if (!bornAt.has(sample.generation)) bornAt.set(sample.generation, sample.atSeconds);
  const settled = (sample) => sample.atSeconds - bornAt.get(sample.generation) >= 5;
  const afterWarmup = samples.find((sample) => sample.atSeconds >= warmupSeconds && settled(sample)) ?? samples.at(-1);
  const perMinute = [];
  for (const sample of samples) perMinute[Math.floor(sample.atSeconds / 60)] = sample;
  return {
    startMb: first?.rssMb ?? null,
    afterWarmupMb: afterWarmup?.rssMb ?? null,
    endMb: samples.at(-1)?.rssMb ?? null,
    maxMb: Math.max(...samples.map((sample) => sample.rssMb)),
    lives: [...new Set(samples.map((sample) => sample.generation))].map((generation) => {
      const life = samples.filter((sample) => sample.generation === generation);
      return {
        app: generation,
        seconds: round1(life.at(-1).atSeconds - life[0].atSeconds),
        startMb: life[0].rssMb,
        endMb: life.at(-1).rssMb,
        maxMb: Math.max(...life.map((sample) => sample.rssMb)),
      };
    }),
    perMinute: perMinute.filter(Boolean).map((sample) => ({
      minute: Math.ceil(sample.atSeconds / 60),
      rssMb: sample.rssMb,
      generation: sample.generation,
    })),
  };
}

async function main() {
  const until = Date.now() + minutes * 60_000;
  console.error(
    `fault soak: ${minutes} min, ${clients} clients, app ${appKind}, known crashers ` +
      (includeKnownCrashers ? `every ${crasherSeconds} s` : 'off'),
  );
  await startApp();
  const samples = [];
  const sampler = setInterval(() => {
    const rss = app.child && rssMb(app.child.pid);
    if (rss) samples.push({ atSeconds: round1(elapsed()), generation: app.generation, rssMb: round1(rss) });
  }, 1000);
  const progress = setInterval(() => {
    const done = Object.values(tally).reduce((sum, entry) => sum + entry.count, 0);
    console.error(
      `  ${Math.round(elapsed())} s: ${done} cases, ${crashes.length} crashes, ${wrongAnswers.length} wrong`,
    );
  }, 30_000);
  const loops = Array.from({ length: clients }, () => client(until));
  if (includeKnownCrashers) loops.push(crasherLoop(until));
  await Promise.all(loops);
  clearInterval(sampler);
  clearInterval(progress);
  app.stopping = true;
  app.child.kill('SIGTERM');

  const caseCount = Object.values(tally).reduce((sum, entry) => sum + entry.count, 0);
  const report = {
    date: new Date().toISOString(),
    machine: describeMachine(),
    minutes,
    clients,
    app: appKind,
    includeKnownCrashers,
    crasherEverySeconds: includeKnownCrashers ? crasherSeconds : null,
    cases: caseCount,
    casesByKind: tally,
    crashes,
    wrongAnswers,
    lostToCrash,
    rss: { ...rssSummary(samples), warmupSeconds },
    rssSamples: samples.map((sample) => [sample.atSeconds, sample.generation, sample.rssMb]),
  };
  writeResults('fault-soak', report);

  const rss = report.rss;
  const outcomes = (entry) =>
    Object.entries(entry.outcomes)
      .map(([outcome, n]) => `${outcome} ${n}`)
      .join(', ');
  console.log(
    [
      `${minutes} min, ${clients} clients, ${appKind === 'accept' ? 'accept() loop' : 'createServer'} app, ` +
        `${caseCount} cases, known crashers ${includeKnownCrashers ? `every ${crasherSeconds} s` : 'off'}; ` +
        `${report.machine.cores} × ${report.machine.cpu}, Node ${report.machine.node}, ${report.date}.`,
      '',
      '| case | count | outcomes |',
      '| --- | ---: | --- |',
      ...Object.entries(tally).map(([kind, entry]) => `| ${kind} | ${entry.count} | ${outcomes(entry)} |`),
      '',
      `Crashes: ${crashes.length}; wrong answers: ${wrongAnswers.length}; cases cut off by a crash: ${lostToCrash}.`,
      ...crashes.map(
        (crash) =>
          `- at ${crash.atSeconds} s, ${crash.signal ?? `exit code ${crash.exitCode}`}, after ${crash.precedingInput}` +
          `${crash.stderr.length ? `; stderr: ${crash.stderr.join(' / ')}` : ''}`,
      ),
      '',
      `RSS (MB): start ${rss.startMb}, after ${warmupSeconds} s warm-up ${rss.afterWarmupMb}, end ${rss.endMb}, ` +
        `max ${rss.maxMb}; per minute: ${rss.perMinute.map((m) => `${m.minute}: ${m.rssMb}${crashes.length ? ` (app ${m.generation})` : ''}`).join(', ')}`,
      ...(crashes.length
        ? [
            `RSS per life of the app (MB, start → end, max): ` +
              rss.lives.map((life) => `${life.startMb} → ${life.endMb}, ${life.maxMb} in ${life.seconds} s`).join('; '),
          ]
        : []),
    ].join('\n'),
  );
  if (crashes.length > 0 || wrongAnswers.length > 0) process.exitCode = 1;
}

runMain(main);
