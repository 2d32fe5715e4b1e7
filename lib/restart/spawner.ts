// Whether the process that spawned the app starts it again when it exits. mod_fcgid (apache2, httpd) and lighttpd's
// bin-path do, on the next request; spawn-fcgi (which forks the app and exits, leaving it to init) and H2O's
// fastcgi.spawn (which runs it once under its kill-on-close helper) never do: an app that exits there is gone until
// someone starts it by hand, so it restarts in place instead (see replace.ts).
import { readFileSync } from 'node:fs';

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch {
    return '';
  }
}

let decided: boolean | undefined;

/**
 * Decided once, at the first call: spawn-fcgi is the parent for a moment after the fork, then init is. An unknown
 * parent (a supervisor, systemd, a test harness running spawn-fcgi -n) is taken to restart the app, as supervisors do.
 */
export function spawnerRestartsApp(): boolean {
  if (decided !== undefined) return decided;
  const parent = process.ppid;
  const comm = readProc(parent, 'comm').trim();
  const commandLine = readProc(parent, 'cmdline');
  decided = !(parent <= 1 || comm === 'spawn-fcgi' || commandLine.includes('kill-on-close'));
  return decided;
}
