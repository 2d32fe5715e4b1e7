// The processes running on this machine, found in /proc by their command lines, as a user would look for them with
// ps: which of a site's processes (apps, relays, checks of new code) are left.
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  /** The command line, argument by argument. */
  args: string[];
  /** The real user id. */
  uid: number;
}

/** The processes whose command line matches; one that exits meanwhile is left out. */
export function findProcesses(matches: (args: string[]) => boolean): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const name of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (!matches(args)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]);
      found.push({ pid: Number(name), args, uid });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The pids of the processes that run this script (one of their arguments is it). */
export const pidsRunning = (script: string): number[] =>
  findProcesses((args) => args.includes(script)).map((process) => process.pid);

/** Whether the process is an fcgi-relay (which runs the launcher it names), not the Node process it starts. */
export const isRelay = (process: ProcessInfo): boolean => (process.args[0] ?? '').endsWith('fcgi-relay');
