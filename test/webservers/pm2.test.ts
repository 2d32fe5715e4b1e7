// PM2's cluster mode, the real PM2 (a dev dependency) with a PM2_HOME of the test's own: `pm2 start app.js -i 2` runs
// the app as two node:cluster workers that both serve, and `pm2 reload` behind nginx replaces them one by one with no
// failed request. The daemon is stopped by its pid.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { fixture, freePort, repoRoot, stopAll, stopWithAll, tempDir } from '../helpers/apps';
import { waitUntil } from '../helpers/wait';
import { httpGet, startWebServer } from '../helpers/webservers';

afterAll(stopAll);

const pm2Bin = join(repoRoot, 'node_modules', 'pm2', 'bin', 'pm2');

interface Answer {
  pid: number;
}

/** A PM2 daemon of the test's own, and its CLI. */
function pm2Home(env: Record<string, string>) {
  const home = tempDir();
  const run = async (...args: string[]): Promise<string> => {
    const { stdout } = await promisify(execFile)(process.execPath, [pm2Bin, ...args], {
      env: { ...process.env, ...env, PM2_HOME: home },
    });
    return stdout;
  };
  const daemonPid = (): number => Number(readFileSync(join(home, 'pm2.pid'), 'utf8'));
  stopWithAll(async () => {
    await run('kill').catch(() => undefined);
    try {
      process.kill(daemonPid(), 'SIGKILL'); // what `pm2 kill` left, if anything
    } catch {
      // gone, or never started
    }
  });
  /** The pids of app's instances, as `pm2 jlist` lists them. */
  const pids = async (): Promise<number[]> =>
    (JSON.parse(await run('jlist')) as Array<{ pid: number; name: string }>).map((proc) => proc.pid).sort();
  const log = (): string => readFileSync(join(home, 'pm2.log'), 'utf8');
  return { run, pids, log };
}

describe("PM2's cluster mode (pm2 start -i 2)", () => {
  it('runs two instances that both serve, each answering with the pid pm2 lists', async () => {
    const port = await freePort();
    const pm2 = pm2Home({ PORT: String(port), HOST: '127.0.0.1' });
    await pm2.run('start', fixture('host-app.js'), '--name', 'app', '-i', '2');
    const listed = await pm2.pids();
    expect(listed).toHaveLength(2);
    const answered = new Set<number>();
    const ask = async (): Promise<number> => {
      const response = await fcgiRequest({ host: '127.0.0.1', port }, { REQUEST_URI: '/' });
      return (JSON.parse(parseCgiResponse(response.stdout).body.toString()) as Answer).pid;
    };
    const both = await waitUntil(async () => answered.add(await ask()).size === 2, 10_000, 0);
    expect(both, `answered: ${[...answered].join(', ')}\n${pm2.log()}`).toBe(true);
    expect([...answered].sort()).toEqual(listed);
  });

  it('replaces both instances on `pm2 reload` behind nginx with no failed request, each old one ending gracefully', async () => {
    const port = await freePort();
    const pm2 = pm2Home({ PORT: String(port), HOST: '127.0.0.1' });
    await pm2.run('start', fixture('host-app.js'), '--name', 'app', '-i', '2');
    const before = await pm2.pids();
    const nginx = await startWebServer('nginx', 'nginx.conf', {
      PASS: 'app_keepalive',
      APP_ADDRESS: `127.0.0.1:${port}`,
      KEEP_CONN: 'on',
    });

    const statuses: number[] = [];
    const pidsSeen = new Set<number>();
    let stop = false;
    const client = async (): Promise<void> => {
      while (!stop) {
        const reply = await httpGet(nginx.port, `/check/${statuses.length}`);
        statuses.push(reply.status);
        if (reply.status === 200) pidsSeen.add((JSON.parse(reply.body.toString()) as Answer).pid);
      }
    };
    const clients = Array.from({ length: 4 }, () => client());
    expect(await waitUntil(() => before.every((pid) => pidsSeen.has(pid)), 10_000)).toBe(true);
    const atReload = statuses.length;
    await pm2.run('reload', 'app');
    const after = await pm2.pids();
    // Load goes on a moment after the reload, to the new instances.
    const countAfter = statuses.length;
    expect(await waitUntil(() => statuses.length >= countAfter + 200, 20_000)).toBe(true);
    stop = true;
    await Promise.all(clients);

    expect(statuses.length - atReload).toBeGreaterThan(200);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(after).toHaveLength(2);
    expect(after.filter((pid) => before.includes(pid))).toEqual([]);
    expect(after.every((pid) => pidsSeen.has(pid))).toBe(true);
    // PM2 stopped each old instance once the new one's 'listening' came (not after its listen_timeout guess)...
    expect(pm2.log().match(/-reload- New worker listening/g), pm2.log()).toHaveLength(2);
    // ...with SIGINT, and it finished its requests and exited 0, not killed by the signal.
    const exits = [...pm2.log().matchAll(/App \[app:_old_\d+\] exited with code \[(\d+)\]/g)].map((match) => match[1]);
    expect(exits, pm2.log()).toEqual(['0', '0']);
  });
});
