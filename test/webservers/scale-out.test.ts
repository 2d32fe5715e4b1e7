// More than one machine: app "hosts" on addresses of their own (127.0.0.2 and 127.0.0.3 of this machine) behind one
// nginx upstream (test/servers/nginx-hosts.conf, shown in docs/scaling.md), each taking connections only from the web
// server's address, as FCGI_WEB_SERVER_ADDRS says.
import { afterAll, describe, expect, it } from 'vitest';
import { fcgiRequest } from '../../lib/client/client';
import { fixture, freePort, type RunningApp, startListeningApp, stopAll } from '../helpers/apps';
import { waitUntil } from '../helpers/wait';
import { httpGet, startWebServer, type WebServer } from '../helpers/webservers';

afterAll(stopAll);

interface Answer {
  host: string;
  pid: number;
}

describe('app hosts behind one nginx upstream', () => {
  let port = 0;
  let hosts: RunningApp[] = [];
  let nginx: WebServer;

  const startHosts = async (): Promise<void> => {
    port = await freePort();
    // nginx connects from 127.0.0.1 (the loopback route's source address): the only address the hosts take.
    const env = (host: string) => ({ HOST: host, PORT: String(port), FCGI_WEB_SERVER_ADDRS: '127.0.0.1' });
    hosts = await Promise.all(
      ['127.0.0.2', '127.0.0.3'].map((host) => startListeningApp(fixture('host-app.js'), { host, port }, env(host))),
    );
    nginx = await startWebServer('nginx', 'nginx-hosts.conf', { APP_PORT: String(port) });
  };

  it('spreads GETs over both hosts, and loses none when one is killed under load', async () => {
    await startHosts();
    const answers: Array<{ status: number; answer?: Answer; at: number }> = [];
    let killedAt = Infinity;
    let stop = false;
    const client = async (): Promise<void> => {
      while (!stop) {
        const reply = await httpGet(nginx.port, `/load/${answers.length}`);
        const at = Date.now();
        answers.push(
          reply.status === 200
            ? { status: 200, answer: JSON.parse(reply.body.toString()), at }
            : { status: reply.status, at },
        );
      }
    };
    const clients = Array.from({ length: 4 }, () => client());
    expect(await waitUntil(() => new Set(answers.map((a) => a.answer?.host)).size === 2, 10_000)).toBe(true);
    const [victim, survivor] = hosts as [RunningApp, RunningApp];
    process.kill(victim.pid, 'SIGKILL');
    killedAt = Date.now();
    await victim.exited;
    const countAtKill = answers.length;
    expect(await waitUntil(() => answers.length >= countAtKill + 200, 20_000)).toBe(true);
    stop = true;
    await Promise.all(clients);

    expect(
      answers.filter(({ status }) => status !== 200),
      nginx.errorLog(),
    ).toEqual([]);
    const later = answers.filter(({ at }) => at > killedAt + 50);
    expect(new Set(later.map(({ answer }) => answer?.pid))).toEqual(new Set([survivor.pid]));
  });

  it('closes, and logs, a connection from an address outside FCGI_WEB_SERVER_ADDRS', async () => {
    const [, host] = hosts as [RunningApp, RunningApp];
    await expect(
      fcgiRequest({ host: '127.0.0.3', port, localAddress: '127.0.0.9' }, { REQUEST_URI: '/from-elsewhere' }),
    ).rejects.toThrow();
    const line = 'a connection from 127.0.0.9, which webServerAddrs (FCGI_WEB_SERVER_ADDRS) does not list';
    expect(await waitUntil(() => host.output().includes(line), 5_000), host.output()).toBe(true);
    expect((await httpGet(nginx.port, '/still')).status).toBe(200);
  });
});
