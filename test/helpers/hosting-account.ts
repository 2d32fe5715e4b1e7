// A shared-hosting account as the suexec tests play it: a user of its own with a home under suexec's document root,
// its node in ~/.local/bin (on no PATH Apache has), the packed package in its home, a shell with its node first, no
// compiler and no libfcgi anywhere on the system; and Apache with mod_fcgid serving its site through suexec.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './apps';
import {
  libfcgiFiles,
  nodeHeadersDir,
  packPackage,
  pathWithoutCompiler,
  suexecRoot,
  UnprivilegedUser,
} from './unprivileged';
import { startWebServer, type WebServer } from './webservers';

export interface HostingAccount {
  user: UnprivilegedUser;
  home: string;
  /** The account's node, ~/.local/bin/node. */
  node: string;
  /** Runs command in cwd as the account, from its shell; throws with the output when it fails, else returns it. */
  shell(cwd: string, command: string): string;
  /** Apache (test/servers/CONFIG) serving site, the account's app folder, through suexec as the account. */
  startApache(config: string, site: string): Promise<WebServer>;
  /** Removes the user and its home. */
  remove(): void;
}

/** Makes the account libfcgi-NAME-PID (its user libfcgi-N PID), with libfcgi.tgz, the packed package, in its home. */
export function hostingAccount(name: string): HostingAccount {
  const scratch = tempDir();
  chmodSync(scratch, 0o755);
  const tarball = packPackage(scratch);
  const home = join(suexecRoot, `libfcgi-${name}-${process.pid}`);
  rmSync(home, { recursive: true, force: true });
  const user = UnprivilegedUser.create(`libfcgi-${name.slice(0, 1)}${process.pid}`, home, scratch);
  const node = join(home, '.local', 'bin', 'node');
  mkdirSync(join(home, '.local', 'bin'), { recursive: true });
  copyFileSync(process.execPath, node);
  chmodSync(node, 0o755);
  copyFileSync(tarball, join(home, 'libfcgi.tgz'));
  user.own(home);
  chmodSync(home, 0o755);

  const { dev, runtime } = libfcgiFiles();
  const hidden = [...dev, ...runtime];
  const path = pathWithoutCompiler(join(scratch, 'bin'), node);
  const env = { HOME: home, PATH: path, npm_config_nodedir: nodeHeadersDir(), npm_config_cache: join(home, '.npm') };
  return {
    user,
    home,
    node,
    shell(cwd, command) {
      const argv = user.argv(hidden, env, ['sh', '-c', `cd ${cwd} && ${command}`]);
      const result = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 240_000 });
      const output = `${result.stdout}${result.stderr}`;
      if (result.status !== 0) throw new Error(`'${command}' failed (${result.status}):\n${output}`);
      return output;
    },
    startApache(config, site) {
      return startWebServer('apache', config, { SITE: site, USER: user.name }, (run) => {
        mkdirSync(join(run, 'fcgid'));
        chmodSync(join(run, 'fcgid'), 0o777); // mod_fcgid binds the apps' sockets there as www-data
      });
    },
    remove() {
      user.remove();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
