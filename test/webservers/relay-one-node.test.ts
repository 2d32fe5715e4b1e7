// One Node process per relayed site, whatever state it is in: a crash loop, an app that cannot start, a process
// stopped for longer than a relay waits for an answer. Relays never start a second process while one lives (its pid in
// .libfcgi/node.pid, still running the launcher); a crash restarts the one process in place after a back-off, its
// stand-in answering 503 through the relays meanwhile. Under spawn-fcgi, whose relays are the site's only spawner.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { askStatus } from '../../lib/cli/status';
import { stopAll } from '../helpers/apps';
import { cpuSeconds } from '../helpers/deploy';
import { askSite, relayedSite, type SiteAnswer, spawnRelays } from '../helpers/relayed-site';
import { waitUntil } from '../helpers/wait';

afterAll(stopAll);

const touch = (path: string): void => {
  const now = new Date();
  utimesSync(path, now, now);
};

const fixed = `require('libfcgi').createServer((req, res) => res.end('fixed ' + process.pid)).listen();\n`;

/** Asks with `clients` clients, each every 50 ms, until stop() (or 20 s); notes the site's Node processes as it goes. */
function poll(site: ReturnType<typeof relayedSite>, port: number, clients: number) {
  const answers: SiteAnswer[] = [];
  const nodesSeen = new Set<number>();
  let mostAtOnce = 0;
  let running = true;
  const deadline = Date.now() + 20_000;
  const client = async (): Promise<void> => {
    while (running && Date.now() < deadline) {
      answers.push(
        await askSite(port).catch((error: Error) => ({ status: 0, retryAfter: undefined, body: error.message })),
      );
      const { nodes } = site.processes();
      for (const pid of nodes) nodesSeen.add(pid);
      mostAtOnce = Math.max(mostAtOnce, nodes.length);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const done = Promise.all(Array.from({ length: clients }, client));
  return {
    answers,
    nodesSeen,
    mostAtOnce: () => mostAtOnce,
    stop: async (): Promise<void> => {
      running = false;
      await done;
    },
  };
}

describe('a relayed site under spawn-fcgi -F 4', () => {
  it('in a crash loop answers 503 with a growing Retry-After from one Node process at little CPU, and serves the fix once deployed', async () => {
    const crashing = `require('libfcgi').createServer((req, res) => {
  res.end('about to crash');
  setTimeout(() => { throw new Error('crashes at every request'); }, 10);
}).listen();\n`;
    const site = relayedSite(crashing);
    const port = await spawnRelays(site, 4);
    const polling = poll(site, port, 4);
    expect(await waitUntil(() => polling.answers.some(({ status }) => status === 503), 10_000)).toBe(true);
    const [node] = site.processes().nodes;
    const cpuBefore = cpuSeconds(node ?? 0);
    const started = Date.now();
    expect(await waitUntil(() => /restarting it in place in 4 s/.test(site.log()), 15_000), site.log()).toBe(true);
    const share = (cpuSeconds(node ?? 0) - cpuBefore) / ((Date.now() - started) / 1000);

    site.deploy(fixed);
    touch(site.launcher);
    const deployedAt = Date.now();
    expect(await waitUntil(() => polling.answers.at(-1)?.body === `fixed ${node}`, 10_000)).toBe(true);
    const tookFix = Date.now() - deployedAt;
    await polling.stop();

    const statuses = new Set(polling.answers.map(({ status }) => status));
    expect([...statuses].sort(), JSON.stringify(polling.answers.filter(({ status }) => status === 0))).toEqual([
      200, 503,
    ]);
    const retryAfters = polling.answers
      .filter(({ status }) => status === 503)
      .map(({ retryAfter }) => Number(retryAfter));
    expect(retryAfters.every((seconds) => seconds >= 1)).toBe(true);
    expect(Math.max(...retryAfters)).toBeGreaterThanOrEqual(2); // the back-off grew (1, 2, 4 s… by the log)
    expect(polling.mostAtOnce()).toBe(1);
    expect([...polling.nodesSeen]).toEqual([node]);
    // A loop without the back-off takes most of a core (each start costs 100-200 ms of it); this one measured
    // 0.15-0.20 here, more on a machine busy with other suites.
    expect(share, 'share of a core the crash loop used').toBeLessThan(0.35);
    expect(tookFix).toBeLessThan(4000);
    console.log(`crash loop under relays: ${share.toFixed(3)} of a core; the fix served ${tookFix} ms after the touch`);
  });

  it('whose app cannot start answers 503 through its relays from one Node process, and serves the fix once deployed', async () => {
    const site = relayedSite(`throw new Error('this deploy is broken');\n`);
    const port = await spawnRelays(site, 4);
    const broken = await askSite(port);
    expect(broken.status).toBe(503);
    expect(broken.body).not.toContain('this deploy is broken');
    expect(site.log()).toContain('this deploy is broken');
    expect(site.processes()).toMatchObject({ nodes: [expect.any(Number)] });
    expect(site.processes().relays).toHaveLength(4); // none became a Node process of its own

    site.deploy(fixed);
    touch(site.launcher);
    let answer = broken;
    expect(await waitUntil(async () => (answer = await askSite(port)).status === 200, 10_000)).toBe(true);
    const { nodes, relays } = site.processes();
    expect(answer.body).toBe(`fixed ${nodes[0]}`);
    expect(nodes).toHaveLength(1);
    expect(relays).toHaveLength(4);
  });
});

it("a relay that comes while the site's Node process is stopped waits for it, and no second one starts", async () => {
  const site = relayedSite(`require('libfcgi').createServer((req, res) => res.end(String(process.pid))).listen();\n`);
  const first = await spawnRelays(site, 2);
  const node = Number((await askSite(first)).body);
  // Both relays have handed their socket over (one still waiting for its answer would hold the relays' lock).
  const folder = join(site.dir, '.libfcgi');
  expect(await waitUntil(async () => (await askStatus(folder)).sockets === 2, 5000)).toBe(true);
  process.kill(node, 'SIGSTOP');
  try {
    // A relay waits 10 s for the answer to its greeting, then once more under the relays' lock; stopped past both,
    // the process is found alive by its pid and waited for (up to 30 s, when it is taken for hung and replaced).
    const second = await spawnRelays(site, 1);
    const stoppedUntil = Date.now() + 22_000;
    const mostAtOnce = { nodes: 1 };
    await waitUntil(
      () => {
        mostAtOnce.nodes = Math.max(mostAtOnce.nodes, site.processes().nodes.length);
        return Date.now() > stoppedUntil;
      },
      25_000,
      100,
    );
    process.kill(node, 'SIGCONT');
    expect(Number((await askSite(second)).body)).toBe(node);
    expect(Number((await askSite(first)).body)).toBe(node);
    expect(mostAtOnce.nodes).toBe(1);
    expect(site.processes().nodes).toEqual([node]);
    expect(site.processes().relays).toHaveLength(3);
  } finally {
    process.kill(node, 'SIGCONT');
  }
});

it('leaves nothing of the site 5 s after its relays are stopped while a crash is waited out', async () => {
  const site = relayedSite(`require('libfcgi').createServer((req, res) => {
  res.end(String(process.pid), () => setTimeout(() => { throw new Error('crashed on purpose'); }, 20));
}).listen();\n`);
  const port = await spawnRelays(site, 2);
  await askSite(port);
  expect(await waitUntil(() => site.log().includes('restarting it in place'), 5000), site.log()).toBe(true);
  for (const pid of site.processes().relays) process.kill(pid, 'SIGTERM');
  const gone = await waitUntil(() => site.processes().nodes.length + site.processes().relays.length === 0, 5000);
  expect(gone, JSON.stringify(site.processes())).toBe(true);
});

it('a Node process stopped past the hung bound is killed and replaced by one other, never joined by it', async () => {
  // A bound of 2 s instead of 30 (LIBFCGI_RELAY_HUNG_MS, read by the relays): the same path, in a test's time.
  const env = { LIBFCGI_RELAY_HUNG_MS: '2000' };
  const site = relayedSite(`require('libfcgi').createServer((req, res) => res.end(String(process.pid))).listen();\n`);
  const first = await spawnRelays(site, 2, env);
  const hung = Number((await askSite(first)).body);
  expect(await waitUntil(async () => (await askStatus(join(site.dir, '.libfcgi'))).sockets === 2, 5000)).toBe(true);
  process.kill(hung, 'SIGSTOP');
  const second = await spawnRelays(site, 1, env);
  const replacement = Number((await askSite(second)).body);
  expect(replacement).not.toBe(hung);
  expect(await waitUntil(() => !existsSync(`/proc/${hung}`), 5000)).toBe(true);
  expect(site.processes().nodes).toEqual([replacement]);
  expect(Number((await askSite(first)).body)).toBe(replacement);
  expect(site.log()).toMatch(
    new RegExp(`Node process takes no socket, so it is hung or stopped: replacing it: process ${hung}, for 2000 ms`),
  );
});

describe("a relayed site whose .libfcgi is deleted while its Node process runs (a clean-up, a deploy tool's rsync --delete)", () => {
  const app = `require('libfcgi').createServer((req, res) => res.end(String(process.pid))).listen();\n`;

  it('gets it back from that process within a second or so, and a relay that comes then finds that process', async () => {
    const site = relayedSite(app);
    const first = await spawnRelays(site, 2);
    const node = Number((await askSite(first)).body);
    rmSync(join(site.dir, '.libfcgi'), { recursive: true });
    expect(await waitUntil(() => existsSync(join(site.dir, '.libfcgi', 'relay.sock')), 5000)).toBe(true);
    const second = await spawnRelays(site, 1);
    expect(Number((await askSite(second)).body)).toBe(node);
    expect(Number((await askSite(first)).body)).toBe(node);
    expect(site.processes().nodes).toEqual([node]);
    expect(site.log()).toContain('was gone; made it anew');
  });

  it('ends up with one Node process when a relay comes first and starts another', async () => {
    const site = relayedSite(app);
    const first = await spawnRelays(site, 2);
    const node = Number((await askSite(first)).body);
    rmSync(join(site.dir, '.libfcgi'), { recursive: true });
    const second = await spawnRelays(site, 1); // before the old process looks: it finds no process, and starts one
    const successor = Number((await askSite(second)).body);
    expect(successor).not.toBe(node);
    expect(await waitUntil(() => site.processes().nodes.length === 1, 5000), JSON.stringify(site.processes())).toBe(
      true,
    );
    expect(site.processes().nodes).toEqual([successor]);
    expect(Number((await askSite(first)).body)).toBe(successor);
    expect(site.log()).toContain(`process ${successor} serves this site now`);
  });
});
