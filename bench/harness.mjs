// What the bench scripts share: the machine's description, a free loopback port, waiting for an app to listen on it, starting a FastCGI app on it
// with spawn-fcgi (which execs the app, so the child's pid is the app's, or forks several that share the socket) and
// reading a process's RSS and thread count.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { createServer, Socket } from 'node:net';

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
