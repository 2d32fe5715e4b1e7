// Loading the addon leaves Node's signal handling as it was: libfcgi's FCGX_Init installs handlers of its own.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/apps';

const loadAddon = `require(${JSON.stringify(join(repoRoot, 'dist', 'index.js'))});`;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a script that prints "ready", sends it the signal (if any), and reports how it ended. */
function signalScript(script: string, signal: NodeJS.Signals | null, nodeArgs: string[] = []): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, '-e', script]);
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!signalled && stdout.includes('ready')) {
        signalled = true;
        if (signal) child.kill(signal);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('Debugger listening')) child.kill('SIGKILL');
    });
    const deadline = setTimeout(() => child.kill('SIGKILL'), 10_000); // never leave a stuck script behind
    child.on('error', reject);
    child.on('close', (code, closeSignal) => {
      clearTimeout(deadline);
      resolve({ code, signal: closeSignal, stdout, stderr });
    });
  });
}

/** What a user sees of how a script ended. */
interface Seen {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** Whether the inspector said it listens. */
  inspector: boolean;
}

const seen = (outcome: Outcome): Seen => ({
  code: outcome.code,
  signal: outcome.signal,
  stdout: outcome.stdout,
  inspector: outcome.stderr.includes('Debugger listening'),
});

// Each case runs without and with the addon loaded: the outcomes must be the same, and the one the case expects.
const cases: Array<{
  name: string;
  script: string;
  signal: NodeJS.Signals | null;
  nodeArgs?: string[];
  expected: Partial<Record<keyof Seen, unknown>>;
}> = [
  {
    name: "process.on('SIGTERM') still receives SIGTERM",
    script: `process.on('SIGTERM', () => { console.log('handled SIGTERM'); process.exit(0); }); console.log('ready'); setInterval(() => {}, 1000);`,
    signal: 'SIGTERM',
    expected: { code: 0, signal: null, stdout: 'ready\nhandled SIGTERM\n' },
  },
  {
    name: 'SIGTERM without a listener still terminates the process',
    script: `console.log('ready'); setInterval(() => {}, 1000);`,
    signal: 'SIGTERM',
    expected: { code: null, signal: 'SIGTERM', stdout: 'ready\n' },
  },
  {
    name: 'SIGUSR1 still starts the inspector',
    script: `console.log('ready'); setInterval(() => {}, 1000);`,
    signal: 'SIGUSR1',
    nodeArgs: ['--inspect-port=127.0.0.1:0'],
    expected: { inspector: true, signal: 'SIGKILL' }, // signalScript kills it once the inspector listens
  },
  {
    // The child closes its stdin, says so, and stays: a write to that pipe then has no reader.
    name: 'SIGPIPE stays ignored, so writing to a closed pipe is an EPIPE error, not death',
    script: `const { spawn } = require('node:child_process');
      const child = spawn('sh', ['-c', 'exec 0<&-; echo closed; exec sleep 10'], { stdio: ['pipe', 'pipe', 'ignore'] });
      child.stdin.on('error', (e) => { console.log('write failed ' + e.code); child.kill(); process.exit(0); });
      child.stdout.once('data', () => child.stdin.write(Buffer.alloc(1 << 20)));
      console.log('ready');`,
    signal: null,
    expected: { code: 0, signal: null, stdout: 'ready\nwrite failed EPIPE\n' },
  },
  {
    name: 'the process ignores and catches the same signals as before',
    script: `const status = require('node:fs').readFileSync('/proc/self/status', 'utf8');
      console.log(status.split('\\n').filter((line) => /^Sig(Ign|Cgt):/.test(line)).join(' '));
      console.log('ready');`,
    signal: null,
    expected: { code: 0, stdout: expect.stringMatching(/^SigIgn:\s+\w+ SigCgt:\s+\w+\nready\n$/) },
  },
];

describe('signals after loading the addon', () => {
  it.each(cases)('$name', async ({ script, signal, nodeArgs, expected }) => {
    const without = seen(await signalScript(script, signal, nodeArgs));
    const withAddon = seen(await signalScript(loadAddon + script, signal, nodeArgs));
    expect(withAddon).toMatchObject(expected);
    expect(withAddon, 'with the addon, unlike without').toEqual(without);
  });
});
