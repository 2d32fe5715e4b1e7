// What the bench scripts share: the machine's description, a free loopback port, waiting for an app to listen on it, starting a FastCGI app on it
// with spawn-fcgi (which execs the app, so the child's pid is the app's, or forks several that share the socket),
// reading a process's RSS and thread count, an nginx configuration, wrk and ab with their output parsed, medians and
// ratios, and where results go (bench/results/, a section of bench/README.md) and how a script ends.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { createServer, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port, what) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const socket = new Socket();
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
      socket.connect(port, '127.0.0.1');
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${what} did not listen on ${port}`);
}

/** Starts `command` as a FastCGI app listening on 127.0.0.1:port (its fd 0), as a web server's spawner would. */
export function spawnFcgi(port, command, options = {}) {
  return spawn('spawn-fcgi', ['-n', '-a', '127.0.0.1', '-p', String(port), '--', ...command], {
    stdio: ['ignore', 'ignore', 'inherit'],
    ...options,
  });
}

/**
 * Starts `count` processes of `command` on one socket, 127.0.0.1:port (their fd 0), as `spawn-fcgi -F` does; they are
 * not our children, so this returns their pids, read from spawn-fcgi's pid file.
 */
export function spawnFcgiChildren(port, count, command, pidFile) {
  execFileSync(
    'spawn-fcgi',
    ['-F', String(count), '-P', pidFile, '-a', '127.0.0.1', '-p', String(port), '--', ...command],
    {
      stdio: ['ignore', 'ignore', 'ignore'],
    },
  );
  const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
  rmSync(pidFile, { force: true });
  return pids;
}

function statusField(pid, field) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  } catch {
    return null;
  }
}

/** A process's resident set size in MB (VmRSS), or null once it has gone. */
export function rssMb(pid) {
  const kb = statusField(pid, 'VmRSS');
  return kb === null ? null : kb / 1024;
}

/** A process's thread count, or null once it has gone. */
export function threadCount(pid) {
  return statusField(pid, 'Threads');
}

export const round1 = (value) => (value === null ? null : Math.round(value * 10) / 10);

/** An nginx configuration for the foreground, its pid, logs and temp files in run, with these http-level lines. */
export function nginxConfig(run, httpLines) {
  return [
    'daemon off;',
    'worker_processes 1;',
    'user root root;',
    `pid ${run}/nginx.pid;`,
    `error_log ${run}/nginx-error.log warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'fastcgi', 'proxy', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${run}/${kind};`),
    ...httpLines.map((line) => `  ${line}`),
    '}',
  ].join('\n');
}

export function describeMachine() {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, kernel: release(), node: process.version };
}

/** nginx's version as `nginx -v` gives it on stderr, without its prefix: `nginx/1.22.1`. */
export function nginxVersion() {
  return spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '') || 'nginx';
}

/** The median of the values that are not null (the mean of the middle two for an even count), or null for none. */
export function median(values) {
  const sorted = values.filter((value) => value !== null).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** value / base to two decimals, or null where either is missing or base is 0. */
export function ratio(value, base) {
  return value === null || base === null || base === 0 ? null : Math.round((value / base) * 100) / 100;
}

/**
 * `wrk -t2 -c16` on GET /hello for `seconds`: requests a second and non-2xx/3xx answers, and with latency the 50th and
 * 99th percentiles in µs (null where wrk printed none).
 */
export function wrk(port, seconds, { latency = false } = {}) {
  const args = ['-t2', '-c16', `-d${seconds}s`, ...(latency ? ['--latency'] : []), `http://127.0.0.1:${port}/hello`];
  const out = execFileSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  if (!latency) return { rps, errors };
  const toUs = (value, unit) => Number(value) * { us: 1, ms: 1000, s: 1e6 }[unit];
  const percentile = (p) => {
    const match = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return match ? Math.round(toUs(match[1], match[2])) : null;
  };
  return { rps, p50: percentile(50), p99: percentile(99), errors };
}

/** `ab -q -k -c16` for `requests` GETs of path: requests a second, failed and non-2xx requests, and ab's output. */
export function ab(port, path, requests) {
  const output = execFileSync(
    'ab',
    ['-q', '-k', '-c', '16', '-n', String(requests), `http://127.0.0.1:${port}${path}`],
    { encoding: 'utf8' },
  );
  return {
    rps: Number(/^Requests per second:\s+([\d.]+)/m.exec(output)?.[1]),
    failed: Number(/^Failed requests:\s+(\d+)/m.exec(output)?.[1] ?? NaN),
    non2xx: Number(/^Non-2xx responses:\s+(\d+)/m.exec(output)?.[1] ?? 0),
    output,
  };
}

/** Writes bench/results/<name>.json (the data, with a trailing newline) and, given one, <name>.md (a table). */
export function writeResults(name, data, markdown) {
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', `${name}.json`), JSON.stringify(data, null, 2) + '\n');
  if (markdown !== undefined) writeFileSync(join(here, 'results', `${name}.md`), markdown + '\n');
}

/** Puts body between the `<!-- marker:start -->` and `<!-- marker:end -->` lines of bench/README.md, if it has them. */
export function replaceReadmeSection(marker, body) {
  const path = join(here, 'README.md');
  const readme = readFileSync(path, 'utf8');
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  if (!readme.includes(start)) return;
  writeFileSync(path, readme.replace(new RegExp(`${start}[\\s\\S]*${end}`), `${start}\n${body}\n${end}`));
}

/**
 * Measures each item (which has a name) once a round, for `rounds` rounds, so that a slow spell of the machine falls on
 * all of them; report(round, item, result) follows each measurement. Returns [{ name, rounds: [result, …] }].
 */
export async function interleavedRounds(rounds, items, measure, report) {
  const results = items.map((item) => ({ name: item.name, rounds: [] }));
  for (let round = 0; round < rounds; round++) {
    for (const [index, item] of items.entries()) {
      const result = await measure(item);
      results[index].rounds.push(result);
      report(round, item, result);
    }
  }
  return results;
}

/** Runs a script's main(): an error is printed and sets the exit code; cleanup runs either way. */
export function runMain(main, cleanup = () => {}) {
  return main()
    .catch((error) => {
      console.error(error);
      process.exitCode = 1;
    })
    .finally(cleanup);
}
