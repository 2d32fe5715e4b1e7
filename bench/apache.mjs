// What the Apache benches share: a throwaway Apache in the foreground with a config of the caller's, a plain GET timed,
// the site's processes (www-data's, Apache's own aside) and their memory, and stopping it all.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from './harness.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
export const webUser = Number(execFileSync('id', ['-u', 'www-data'], { encoding: 'utf8' }));
export const webGroup = Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }));

/** The modules and settings every bench Apache has; the caller adds its site. */
export function apacheBase(port, dir) {
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
TypesConfig /etc/mime.types
`;
}

/** mod_fcgid as Debian's package sets it up, its IPC files in dir. */
export function fcgidModule(dir) {
  return `LoadModule fcgid_module /usr/lib/apache2/modules/mod_fcgid.so
FcgidIPCDir "${dir}/fcgid"
FcgidProcessTableFile "${dir}/fcgid/shm"
`;
}

/** A GET on a new connection, timed to the end of its body. */
export function get(port, path) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 120_000 }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode,
          ms: performance.now() - started,
          body: Buffer.concat(chunks).toString(),
          headers: response.headers,
        }),
      );
    });
    request.on('error', reject);
    request.on('timeout', () => request.destroy(new Error('timed out')));
  });
}

/**
 * Starts Apache with config(port, dir) + what it needs to run, and waits for it to answer /ready.txt: a static file
 * where the site has one (a URL that is no file would start the app of a site that sends those to it), else a 404.
 */
export async function startApache(run, config, attempts = 3) {
  const dir = mkdtempSync(join(run, 'apache-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'fcgid'));
  chownSync(join(dir, 'fcgid'), webUser, webGroup);
  const port = await freePort();
  writeFileSync(join(dir, 'apache.conf'), config(port, dir));
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
      await get(port, '/ready.txt');
      return { child, port, dir };
    } catch {
      await sleep(50);
    }
  }
  child.kill('SIGKILL');
  // Taken between freePort() and Apache's bind (a client's ephemeral port): another port.
  if (exited !== null && /Address already in use/.test(stderr) && attempts > 1) {
    return startApache(run, config, attempts - 1);
  }
  const errorLog = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '(no error.log)';
  const why = exited === null ? 'no answer within 15 s' : `apache2 ended (${exited})`;
  throw new Error(`apache did not start: ${why}\nstderr: ${stderr.trim() || '(empty)'}\nerror.log: ${errorLog.trim()}`);
}

/** The site's processes: uid's (www-data's) but Apache's own, and those whose name matches also (a module's helpers). */
export function siteProcesses(also = /^$/, uid = webUser) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '';
      const owner = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      if (!(owner === uid && name !== 'apache2') && !also.test(name)) continue;
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

/** Stops Apache; returns how many of the site's processes were still there graceMs later (then killed). */
export async function stopApache(apache, also, uid, graceMs = 5000) {
  const exited = new Promise((resolve) => apache.child.once('exit', resolve));
  apache.child.kill('SIGTERM');
  await exited;
  const stopped = performance.now();
  while (siteProcesses(also, uid).length > 0 && performance.now() - stopped < graceMs) await sleep(50);
  const left = siteProcesses(also, uid);
  for (const process_ of left) process.kill(process_.pid, 'SIGKILL');
  return left.length;
}

/** The Express app both Apache benches serve: a route that awaits 1 s (a slow API call), and hello world. */
export const expressApp = `'use strict';
const express = require('express');
const app = express();
app.get('/slow', (req, res) => setTimeout(() => res.send('pid ' + process.pid + '\\n'), 1000));
app.get('/hello', (req, res) => res.send('Hello, world!\\n'));
app.listen(process.env.PORT || 3000);
`;

/**
 * A project as a user has it (package.json, server.js, node_modules), laid out by libfcgi init unless initArgs is
 * null, and given to owner (www-data: no suexec).
 */
export function expressSite(run, name, app, initArgs, owner = 'www-data') {
  const dir = join(run, name);
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, main: 'server.js' }));
  writeFileSync(join(dir, 'server.js'), app);
  symlinkSync(repo, join(dir, 'node_modules', 'libfcgi'));
  symlinkSync(join(repo, 'node_modules', 'express'), join(dir, 'node_modules', 'express'));
  if (initArgs !== null) {
    const cli = join(repo, 'dist', 'cli', 'cli.js');
    execFileSync(process.execPath, [cli, 'init', dir, ...initArgs], { stdio: 'ignore' });
    writeFileSync(join(dir, 'public_html', 'ready.txt'), 'ready\n'); // what startApache asks for
  }
  execFileSync('chown', ['-R', `${owner}:${owner}`, dir]); // the site's account
  return { dir, docroot: join(dir, 'public_html'), launcher: join(dir, 'public_html', 'app.fcgi') };
}
