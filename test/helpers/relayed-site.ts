// A site laid out by `libfcgi init` (relayed launcher) with an app of the test's, and spawn-fcgi running its relays
// as mod_fcgid would run them: for the tests of what the site's one Node process does across crashes and restarts.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { freePort, stopWithAll, tempDir } from './apps';
import { collectOutput } from './output';
import { findProcesses, isRelay } from './processes';
import { cgiParams } from './raw-fastcgi';
import { makeSite } from './site';

export interface RelayedSite {
  dir: string;
  launcher: string;
  /** What logs/app.log holds now. */
  log(): string;
  /** Replaces app.js (a deploy; touch the launcher to start it). */
  deploy(code: string): void;
  /** The site's relays and Node processes, found in /proc by the launcher on their command lines. */
  processes(): { relays: number[]; nodes: number[] };
}

export function relayedSite(code: string): RelayedSite {
  const dir = tempDir();
  makeSite(dir);
  const launcher = join(dir, 'public_html', 'app.fcgi');
  const site: RelayedSite = {
    dir,
    launcher,
    log: () => {
      const file = join(dir, 'logs', 'app.log');
      return existsSync(file) ? readFileSync(file, 'utf8') : '';
    },
    deploy: (next) => writeFileSync(join(dir, 'app.js'), next),
    processes: () => {
      const found = findProcesses((args) => args.includes(launcher));
      return {
        relays: found.filter(isRelay).map(({ pid }) => pid),
        nodes: found.filter((process) => !isRelay(process)).map(({ pid }) => pid),
      };
    },
  };
  site.deploy(code);
  stopWithAll(async () => {
    for (const { pid } of findProcesses((args) => args.includes(launcher))) process.kill(pid, 'SIGKILL');
  });
  return site;
}

/**
 * Starts `count` relays of the site with spawn-fcgi on a free port, with `env` added to their environment; returns
 * the port.
 */
export async function spawnRelays(site: RelayedSite, count: number, env: Record<string, string> = {}): Promise<number> {
  const port = await freePort();
  const args = ['-a', '127.0.0.1', '-p', String(port), '-F', String(count), '--', site.launcher];
  const spawner = spawn('spawn-fcgi', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const said = collectOutput([spawner.stdout, spawner.stderr], 'spawn-fcgi');
  await new Promise((resolve) => spawner.once('exit', resolve));
  expect(said.text().match(/PID: \d+/g) ?? [], said.text()).toHaveLength(count);
  return port;
}

export interface SiteAnswer {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

/** One request for `uri` on the relays' port, given up after 10 s (a hang is a failure too). */
export async function askSite(port: number, uri = '/'): Promise<SiteAnswer> {
  const [path = '/', query = ''] = uri.split('?');
  const request = fcgiRequest({ port }, cgiParams({ REQUEST_URI: uri, SCRIPT_NAME: path, QUERY_STRING: query }));
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`no answer to ${uri} in 10 s`)), 10_000),
  );
  const response = parseCgiResponse((await Promise.race([request, timeout])).stdout);
  return { status: response.status, retryAfter: response.header('retry-after'), body: response.body.toString() };
}
