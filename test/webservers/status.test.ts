// `libfcgi status` and the slow-request log, as a site's owner uses them: a site laid out by init, its relays run by
// spawn-fcgi -F 3, and the command run from the shell in the app's folder while requests are in flight.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll, tempDir } from '../helpers/apps';
import { cliPath } from '../helpers/cli';
import { askSite, type RelayedSite, relayedSite, spawnRelays } from '../helpers/relayed-site';
import { makeSite } from '../helpers/site';
import { waitUntil } from '../helpers/wait';

afterAll(stopAll);

/** Answers its pid after ?ms=N milliseconds; ?crash answers, then throws outside any handler. */
const app = `require('libfcgi').createServer((req, res) => {
  const query = new URL(req.url, 'http://x').searchParams;
  if (query.has('crash')) {
    res.end('bye', () => setTimeout(() => { throw new TypeError('crashed on purpose'); }, 20));
    return;
  }
  setTimeout(() => res.end(String(process.pid)), Number(query.get('ms') ?? 0));
}).listen();
`;

function status(cwd: string, ...args: string[]): { code: number | null; out: string } {
  const run = spawnSync(process.execPath, [cliPath, 'status', ...args], { cwd, encoding: 'utf8', timeout: 10_000 });
  return { code: run.status, out: run.stdout + run.stderr };
}

it('says so, and exits 3, for a site whose Node process does not run', () => {
  const dir = tempDir();
  makeSite(dir);
  const { code, out } = status(dir);
  expect(code).toBe(3);
  expect(out).toBe(`${dir}: not running (no Node process runs for it); the next request starts it\n`);
  expect(JSON.parse(status(dir, '--json').out)).toMatchObject({ running: false });
});

describe('libfcgi status, for a site under spawn-fcgi -F 3', () => {
  let site: RelayedSite;
  let dir = '';
  let port = 0;
  const ask = async (query: string): Promise<string> => (await askSite(port, `/?${query}`)).body;
  const log = (): string => site.log();

  beforeAll(async () => {
    site = relayedSite(app);
    dir = site.dir;
    port = await spawnRelays(site, 3);
  });

  it('lists three slow requests in flight with their method, URL and age, and the log names each past 5 s', async () => {
    const pid = Number(await ask('ms=0'));
    const slow = ['ms=5600', 'ms=5700', 'ms=5800'].map((query) => ask(query));
    const inFlight = (): number => {
      const answer = status(dir, '--json');
      return answer.code === 0
        ? (JSON.parse(answer.out) as { requests: { inFlight: unknown[] } }).requests.inFlight.length
        : 0;
    };
    expect(await waitUntil(() => inFlight() === 3, 5000)).toBe(true);

    const { code, out } = status(dir);
    expect(code, out).toBe(0);
    expect(out).toMatch(new RegExp(`process +${pid}, started `));
    expect(out).toMatch(/sockets +3 /); // each relay handed its socket over
    // spawn-fcgi runs the relays as this account: no other user to open a direct path for.
    expect(out).toMatch(/direct +not open: the web server runs as this account, and reaches the relays\n/);
    for (const query of ['ms=5600', 'ms=5700', 'ms=5800'])
      expect(out).toMatch(new RegExp(`\\d+\\.\\d s  GET /\\?${query}`));
    expect(out).toMatch(/requests +1 served, 3 in flight/);
    expect(out).toMatch(/memory +RSS \d+\.\d MB/);
    const json = JSON.parse(status(join(dir, 'public_html'), '--json').out) as {
      pid: number;
      requests: { inFlight: Array<{ method: string; url: string; ageMs: number }> };
    };
    expect(json.pid).toBe(pid);
    expect(json.requests.inFlight.map(({ url }) => url).sort()).toEqual(['/?ms=5600', '/?ms=5700', '/?ms=5800']);
    for (const request of json.requests.inFlight) expect(request.ageMs).toBeGreaterThan(0);

    expect((await Promise.all(slow)).map(Number)).toEqual([pid, pid, pid]);
    for (const query of ['ms=5600', 'ms=5700', 'ms=5800']) {
      expect(log()).toMatch(new RegExp(`libfcgi: slow request: GET /\\?${query} has run 5\\.\\d s`));
    }
    expect(log()).not.toMatch(/slow request: GET \/\?ms=0 /);
    const after = status(dir).out;
    expect(after).toMatch(/requests +4 served, 0 in flight/);
    expect(after).toMatch(/slowest +GET \/\?ms=5800, 5\.\d s \(in the last minute\)/);
  });

  it('after a crash, reports the new process, how many came before it and why the last one ended', async () => {
    const before = JSON.parse(status(dir, '--json').out) as { pid: number; restarts: number };
    expect(await ask('crash')).toBe('bye');
    expect(await waitUntil(async () => Number(await ask('ms=0')) !== before.pid, 10_000)).toBe(true);
    const { out } = status(dir);
    expect(out).toMatch(
      new RegExp(`restarts +${before.restarts + 1}; last crash \\S+ \\(.*\\): TypeError: crashed on purpose`),
    );
  });
});
