// fcgi-relay against another account on the same host. A relay hands the site's listening socket, and so every request
// of the site (cookies, bodies), to whatever listens on its control socket: it must be this account's process, in a
// folder only this account can enter. Each attack is planted as the attacker would plant it, as another user
// (nobody) in a site whose owner (daemon, as suexec runs it) left it open to all (chmod -R 777); the site runs under
// spawn-fcgi -F 2 as its owner. The attacker's listener notes every connection it gets; none may come.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fcgiRequest, parseCgiResponse } from '../../lib/client/client';
import { freePort, repoRoot, stopAll, stopWithAll, tempDir } from '../helpers/apps';
import { collectOutput } from '../helpers/output';
import { findProcesses } from '../helpers/processes';
import { cgiParams } from '../helpers/raw-fastcgi';
import { makeSite } from '../helpers/site';
import { waitUntil } from '../helpers/wait';

afterAll(stopAll);

const owner = { uid: 1, gid: 1 }; // daemon
const attacker = { uid: 65534, gid: 65534 }; // nobody
const canPlay = process.getuid?.() === 0;

/** Runs a command as the attacker; throws with what it said if it fails. */
function asAttacker(command: string, args: string[]): void {
  const run = spawnSync(command, args, { ...attacker, encoding: 'utf8', timeout: 10_000 });
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} as nobody: ${run.stderr}`);
}

/**
 * The attacker's listener, a SOCK_SEQPACKET socket at `path` as a relay expects, open to all, run as nobody: it
 * answers each relay that sends something as Node would ('k') and writes a line to `notes` for what it was sent (a
 * relay that only connects and leaves has given nothing away).
 */
async function listenAsAttacker(path: string, notes: string): Promise<void> {
  const script = `
import os, socket, sys
path, notes = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
server.bind(path)
os.chmod(path, 0o777)
server.listen(16)
print('listening', flush=True)
while True:
    connection, _ = server.accept()
    data, fds, _, _ = socket.recv_fds(connection, 100, 4)
    if fds or data:
        with open(notes, 'a') as f:
            f.write('handed %d socket(s) with %r\\n' % (len(fds), data))
        connection.send(b'k')
`;
  const child = spawn('python3', ['-c', script, path, notes], { ...attacker, stdio: ['ignore', 'pipe', 'pipe'] });
  stopWithAll(async () => void child.kill('SIGKILL'));
  const output = collectOutput([child.stdout, child.stderr], "the attacker's listener");
  expect(await waitUntil(() => output.text().includes('listening'), 5000), output.text()).toBe(true);
}

/**
 * A site of the owner's made by libfcgi init, left writable by all; its app answers its pid. `olderLauncher`: its
 * launcher as an init before the relay-log line wrote it (the relay finds the log beside .libfcgi then).
 */
function openSite(olderLauncher = false): { dir: string; launcher: string } {
  const dir = tempDir();
  makeSite(dir);
  writeFileSync(
    join(dir, 'app.js'),
    `require('libfcgi').createServer((req, res) => res.end(String(process.pid))).listen();\n`,
  );
  const launcher = join(dir, 'public_html', 'app.fcgi');
  if (olderLauncher) writeFileSync(launcher, readFileSync(launcher, 'utf8').replace(/^\/\/ relay-log: .*\n/m, ''));
  spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
  spawnSync('chmod', ['-R', 'a+rwX', dir]); // the owner's chmod -R 777
  return { dir, launcher };
}

/** The attacker's own folder, open to all as the attack needs, with the file its listener notes connections in. */
function attackerFolder(): { folder: string; notes: string } {
  const folder = join(tempDir(), 'evil');
  mkdirSync(folder, { mode: 0o777 });
  chmodSync(folder, 0o777);
  chmodSync(join(folder, '..'), 0o755);
  chownSync(folder, attacker.uid, attacker.gid);
  return { folder, notes: join(folder, 'notes') };
}

/** The site's .libfcgi as its owner would leave it after a chmod -R 777: theirs, open to all. Returns its path. */
function openControlFolder(site: string): string {
  const control = join(site, '.libfcgi');
  mkdirSync(control);
  chownSync(control, owner.uid, owner.gid);
  chmodSync(control, 0o777);
  return control;
}

const attacks: Array<{ name: string; plant: (site: string) => Promise<string>; olderLauncher?: boolean }> = [
  {
    name: ".libfcgi is the attacker's symbolic link to a folder of theirs, open to all",
    async plant(site) {
      const { folder, notes } = attackerFolder();
      await listenAsAttacker(join(folder, 'relay.sock'), notes);
      asAttacker('ln', ['-s', folder, join(site, '.libfcgi')]);
      return notes;
    },
  },
  {
    name: ".libfcgi is the owner's but open to all (mode 0777), and the attacker listens at relay.sock in it",
    async plant(site) {
      const { notes } = attackerFolder();
      const control = openControlFolder(site);
      await listenAsAttacker(join(control, 'relay.sock'), notes);
      return notes;
    },
  },
  {
    name: "relay.sock is the attacker's symbolic link to a socket of theirs",
    async plant(site) {
      const { folder, notes } = attackerFolder();
      const control = openControlFolder(site);
      await listenAsAttacker(join(folder, 'relay.sock'), notes);
      asAttacker('ln', ['-s', join(folder, 'relay.sock'), join(control, 'relay.sock')]);
      return notes;
    },
  },
  {
    // The folder passes every check now: only the listener's user (SO_PEERCRED) tells the relay whose it is.
    name: 'that link is left in .libfcgi after the owner closed it again (chmod 700)',
    async plant(site) {
      const { folder, notes } = attackerFolder();
      const control = openControlFolder(site);
      await listenAsAttacker(join(folder, 'relay.sock'), notes);
      asAttacker('ln', ['-s', join(folder, 'relay.sock'), join(control, 'relay.sock')]);
      chmodSync(control, 0o700);
      return notes;
    },
  },
];

const uidOf = (pid: number): number =>
  Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? -1);

describe.skipIf(!canPlay)("fcgi-relay and the control socket, against another account's plants", () => {
  const cases = [
    ...attacks,
    { ...attacks[0]!, name: `${attacks[0]!.name}, for a launcher of an older init`, olderLauncher: true },
  ];
  for (const { name, plant, olderLauncher } of cases) {
    it(`${name}: the site is served by its owner alone, and says why`, async () => {
      const site = openSite(olderLauncher);
      const notes = await plant(site.dir);
      const port = await freePort();
      const args = [
        '-a',
        '127.0.0.1',
        '-p',
        String(port),
        '-F',
        '2',
        '-u',
        'daemon',
        '-g',
        'daemon',
        '--',
        site.launcher,
      ];
      const spawner = spawn('spawn-fcgi', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const said = collectOutput([spawner.stdout, spawner.stderr], 'spawn-fcgi');
      await new Promise((resolve) => spawner.once('exit', resolve));
      stopWithAll(async () => {
        for (const { pid } of findProcesses((args) => args.includes(site.launcher))) process.kill(pid, 'SIGKILL');
      });
      expect(said.text()).toMatch(/PID: \d+/);

      const log = (): string => {
        const file = join(site.dir, 'logs', 'app.log');
        return existsSync(file) ? readFileSync(file, 'utf8') : '';
      };
      const answers = [];
      for (let i = 0; i < 4; i++) {
        const request = fcgiRequest({ port }, cgiParams({ REQUEST_URI: `/?${i}` }));
        const timeout = new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`no answer in 10 s; the app log:\n${log()}`)), 10_000),
        );
        answers.push(parseCgiResponse((await Promise.race([request, timeout])).stdout));
      }
      const notesNow = existsSync(notes) ? readFileSync(notes, 'utf8') : '';
      expect(notesNow, 'what the attacker was handed').toBe('');
      for (const answer of answers) {
        expect(answer.status, answer.body.toString()).toBe(200);
        expect(uidOf(Number(answer.body.toString())), 'the uid of the process that answered').toBe(owner.uid);
      }
      expect(log()).toMatch(/fcgi-relay\[\d+\]: .*(not this account's alone|held by uid 65534)/);
    });
  }
});

describe.skipIf(!canPlay)("the Node process's control socket, where another account could reach it", () => {
  it.each([
    ['.libfcgi is a symbolic link to a folder of theirs', 'it is a symbolic link'],
    ['.libfcgi is open to all (mode 0777)', 'its mode is not 0700'],
  ])('is not bound where %s: listen() fails with EACCES and says why', (plant, why) => {
    const site = openSite();
    const { folder } = attackerFolder();
    const control = join(site.dir, '.libfcgi');
    if (plant.includes('symbolic link')) {
      asAttacker('ln', ['-s', folder, control]);
    } else {
      openControlFolder(site.dir);
    }
    const module = join(repoRoot, 'dist', 'relay', 'control-socket.js');
    const script = `require(${JSON.stringify(module)}).openControlSocket(process.argv[1]);`;
    const run = spawnSync(process.execPath, ['-e', script, join(control, 'relay.sock')], {
      ...owner,
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(new RegExp(`EACCES \\(${control}: ${why}`));
    expect(readdirSync(folder).filter((name) => name.startsWith('relay.sock'))).toEqual([]);
    expect(readdirSync(control).filter((name) => name.startsWith('relay.sock'))).toEqual([]);
  });
});
