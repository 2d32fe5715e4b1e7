// The files whose change means a redeploy: the script the process runs (process.argv[1]) and restart.txt beside it
// (the Passenger convention). Compared with what they were when this process image started, not with the clock, so
// that a file server's clock cannot make it fire and a deploy during a slow start is not missed.
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** How often the parent and the script are looked at, in milliseconds. */
export const watchInterval = 1000;

/** What a file looks like now: inode, modification and change times ('' when it is missing). */
function fileStamp(path: string): string {
  try {
    const stats = statSync(path);
    return `${stats.ino}:${stats.mtimeMs}:${stats.ctimeMs}`;
  } catch {
    return '';
  }
}

const watchedPaths = (script: string): string[] => [script, join(dirname(script), 'restart.txt')];

/** The script's files as they were when libfcgi was loaded, early in the image's start (preloaded after a restart). */
const atStart: string[] | null = process.argv[1] ? watchedPaths(process.argv[1]).map(fileStamp) : null;

export class ScriptWatch {
  readonly #paths: string[];
  readonly #stamps: string[];

  /** Watches the script at this path and the restart.txt beside it, from `stamps` (default: as they are now). */
  constructor(script: string, stamps?: readonly string[]) {
    this.#paths = watchedPaths(script);
    this.#stamps = stamps ? [...stamps] : this.#paths.map(fileStamp);
  }

  /** The process's own script, from when this image started; null when it runs none (node -e). */
  static ofThisProcess(): ScriptWatch | null {
    const script = process.argv[1];
    return script && atStart ? new ScriptWatch(script, atStart) : null;
  }

  /** What the files were like when the watch began, or was last rebased. */
  get stamps(): readonly string[] {
    return this.#stamps;
  }

  /** Two stat() calls: call it at most once per watchInterval. */
  changed(): boolean {
    return this.#paths.some((path, index) => fileStamp(path) !== this.#stamps[index]);
  }

  /** Takes the files as they are now as the ones to compare with: a change that was refused is not seen again. */
  rebase(): void {
    this.#paths.forEach((path, index) => (this.#stamps[index] = fileStamp(path)));
  }
}
