// Redeploys as users do them: the app's script (test/fixtures/deploy-app.js behind a versioned app.fcgi) rewritten in
// place while a client keeps asking, and what that client saw, request by request.
import { readFileSync, writeFileSync } from 'node:fs';
import { fixture } from './apps';

export interface Deployment {
  /** What the script sets as globalThis.deployVersion: every answer starts with it. */
  version: string;
  /** The new code dies this long after it starts (a crash loop). */
  crashAfterMs?: number;
  /** The new code throws this at start-up, before it listens (a broken deploy). */
  throwAtStart?: string;
  /** The new code never reaches listen(). */
  neverListens?: boolean;
}

/** Writes the script in place (same inode, as an editor or an upload does), with node's absolute path on its #! line. */
export function deploy(script: string, deployment: Deployment): void {
  const lines = [`#!${process.execPath}`, `globalThis.deployVersion = ${JSON.stringify(deployment.version)};`];
  if (deployment.crashAfterMs !== undefined) lines.push(`globalThis.crashAfterMs = ${deployment.crashAfterMs};`);
  if (deployment.throwAtStart !== undefined) lines.push(`throw new Error(${JSON.stringify(deployment.throwAtStart)});`);
  if (deployment.neverListens) lines.push('setInterval(() => {}, 1000);');
  else lines.push(`require(${JSON.stringify(fixture('deploy-app.js'))});`);
  writeFileSync(script, `${lines.join('\n')}\n`, { mode: 0o755 });
}

export interface Answer {
  /** Milliseconds since the poller started. */
  at: number;
  /** The HTTP status, or 0 when the request failed (refused, reset, timed out). */
  status: number;
  /** The body, or the error's message. */
  text: string;
  version?: string;
  pid?: number;
  boot?: string;
  ms: number;
}

/** Asks once: resolves to the status and the body, rejects when the request fails. */
export type Ask = () => Promise<{ status: number; body: string }>;

/** Sends a request every intervalMs (after the previous answer) until stopped, and keeps every answer. */
export class Poller {
  readonly answers: Answer[] = [];
  readonly #started = Date.now();
  #running = true;
  readonly #done: Promise<void>;

  constructor(ask: Ask, intervalMs = 50) {
    this.#done = (async () => {
      while (this.#running) {
        const sent = Date.now();
        const answer: Answer = { at: sent - this.#started, status: 0, text: '', ms: 0 };
        try {
          const { status, body } = await ask();
          answer.status = status;
          answer.text = body;
          const [version, pid, boot] = body.trim().split(' ');
          if (status === 200 && boot !== undefined) Object.assign(answer, { version, pid: Number(pid), boot });
        } catch (error) {
          answer.text = error instanceof Error ? error.message : String(error);
        }
        answer.ms = Date.now() - sent;
        this.answers.push(answer);
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
  }

  /** Milliseconds since the poller started. */
  now(): number {
    return Date.now() - this.#started;
  }

  /** Resolves once an answer comes from this version (or rejects after timeoutMs); returns it. */
  async until(predicate: (answer: Answer) => boolean, timeoutMs: number): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.answers.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`not seen within ${timeoutMs} ms; answers:\n${this.summary()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async stop(): Promise<Answer[]> {
    this.#running = false;
    await this.#done;
    return this.answers;
  }

  /** The answers, a line per run of equal ones, for failure messages. */
  summary(): string {
    const lines: string[] = [];
    let last = '';
    let count = 0;
    let from = 0;
    const flush = (): void => void (count > 0 && lines.push(`${count} × [${from} ms…] ${last}`));
    for (const answer of this.answers) {
      const line = `${answer.status} ${answer.text.trim().slice(0, 80)}`;
      if (line === last) count++;
      else {
        flush();
        last = line;
        count = 1;
        from = answer.at;
      }
    }
    flush();
    return lines.join('\n');
  }
}

/** CPU seconds (user + system) a process has used since it started, exec()s included. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ, 100 on Linux)
}
