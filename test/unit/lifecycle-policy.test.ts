// The lifecycle as a table: the options a user gives, resolved with what the process finds around it, and what the
// policy says to do with what the drivers have seen. The drivers themselves run for real in test/process.
import { describe, expect, it } from 'vitest';
import { type HostTraits, type LifecycleOptions, resolveLifecycle } from '../../lib/lifecycle/options';
import { type Observed, stopEnds, type StopReason, stopReason, stopSignals } from '../../lib/lifecycle/policy';

/** A host where nothing special holds: no PHP_FCGI_MAX_REQUESTS, a spawner that restarts the app, a script. */
const host = (traits: Partial<HostTraits> = {}): HostTraits => ({
  maxRequestsVariable: undefined,
  spawnerRestartsApp: () => true,
  canRestartInPlace: true,
  ...traits,
});

describe('lifecycle resolution', () => {
  it.each<[string, LifecycleOptions, boolean, Partial<HostTraits>, Record<string, unknown>]>([
    [
      'own socket: nothing watched',
      {},
      false,
      {},
      { exitWithParent: false, watchScript: false, restartInPlace: false },
    ],
    ['fd 0 under mod_fcgid', {}, true, {}, { exitWithParent: true, watchScript: true, restartInPlace: false }],
    ['fd 0 under spawn-fcgi', {}, true, { spawnerRestartsApp: () => false }, { restartInPlace: true }],
    [
      'spawn-fcgi, but node -e',
      {},
      true,
      { spawnerRestartsApp: () => false, canRestartInPlace: false },
      { restartInPlace: false },
    ],
    ['asked for on an own socket', { restartInPlace: true }, false, {}, { restartInPlace: true }],
    ['PHP_FCGI_MAX_REQUESTS', {}, true, { maxRequestsVariable: '500' }, { maxRequests: 500 }],
    ['a bad PHP_FCGI_MAX_REQUESTS', {}, true, { maxRequestsVariable: 'many' }, { maxRequests: 0 }],
    ['the option over the variable', { maxRequests: 3 }, true, { maxRequestsVariable: '500' }, { maxRequests: 3 }],
    ['defaults', {}, false, {}, { handleSignals: true, shutdownTimeout: 10_000, startTimeout: 30_000, idleTimeout: 0 }],
    ['startTimeout 0 means the default', { startTimeout: 0 }, false, {}, { startTimeout: 30_000 }],
  ])('%s', (_name, options, webServerSocket, traits, expected) => {
    expect(resolveLifecycle(options, webServerSocket, host(traits))).toMatchObject(expected);
  });

  it('asks the spawner only when the answer matters', () => {
    let asked = 0;
    const counting = host({ spawnerRestartsApp: () => (asked++, true) });
    resolveLifecycle({}, false, counting);
    resolveLifecycle({ restartInPlace: false }, true, counting);
    expect(asked).toBe(0);
    resolveLifecycle({}, true, counting);
    expect(asked).toBe(1);
  });

  it.each<[LifecycleOptions, string]>([
    [{ maxRequests: -1 }, 'maxRequests must be an integer'],
    [{ idleTimeout: 1.5 }, 'idleTimeout must be an integer'],
    [{ shutdownTimeout: 2 ** 31 }, 'shutdownTimeout must be an integer'],
    [{ watchScript: 'yes' as unknown as boolean }, 'watchScript must be a boolean'],
  ])('refuses %j', (options, message) => {
    expect(() => resolveLifecycle(options, false, host())).toThrow(message);
  });
});

describe('lifecycle policy', () => {
  const lifecycle = resolveLifecycle({ maxRequests: 10, idleTimeout: 1000 }, true, host());
  const none: Observed = { served: 0, idleMs: 0, signal: null, parentGone: false, newCodeStarts: false };

  it.each<[string, Partial<Observed>, StopReason | null]>([
    ['nothing seen', {}, null],
    ['under maxRequests', { served: 9 }, null],
    ['maxRequests reached', { served: 10 }, 'maxRequests'],
    ['idle not long enough', { idleMs: 999 }, null],
    ['idle long enough', { idleMs: 1000 }, 'idleTimeout'],
    ['the new code starts', { newCodeStarts: true }, 'scriptChanged'],
    ['the parent is gone', { parentGone: true }, 'parentExited'],
    ['SIGTERM', { signal: 'SIGTERM' }, 'SIGTERM'],
    ['SIGINT under PM2', { signal: 'SIGINT' }, 'SIGINT'],
    ['a signal wins over everything', { signal: 'SIGTERM', parentGone: true, served: 10, idleMs: 5000 }, 'SIGTERM'],
    ['a dead parent wins over maxRequests', { parentGone: true, served: 10 }, 'parentExited'],
    ['maxRequests wins over a redeploy', { served: 10, newCodeStarts: true }, 'maxRequests'],
    ['a redeploy wins over idleness', { newCodeStarts: true, idleMs: 5000 }, 'scriptChanged'],
  ])('%s', (_name, seen, expected) => {
    expect(stopReason(lifecycle, { ...none, ...seen })).toBe(expected);
  });

  it('never stops for limits that are 0', () => {
    const unlimited = resolveLifecycle({}, false, host());
    expect(stopReason(unlimited, { ...none, served: 1e9, idleMs: 1e9 })).toBeNull();
  });

  it.each<[string, LifecycleOptions, boolean, Partial<HostTraits>, StopReason, 'exit' | 'replace']>([
    ['a redeploy on fd 0 keeps the socket', {}, true, {}, 'scriptChanged', 'replace'],
    ['a redeploy on an own socket exits', { watchScript: true }, false, {}, 'scriptChanged', 'exit'],
    ['a redeploy of node -e exits', {}, true, { canRestartInPlace: false }, 'scriptChanged', 'exit'],
    ['maxRequests where the spawner restarts', {}, true, {}, 'maxRequests', 'exit'],
    ['maxRequests under spawn-fcgi', {}, true, { spawnerRestartsApp: () => false }, 'maxRequests', 'replace'],
    ['SIGTERM under spawn-fcgi', {}, true, { spawnerRestartsApp: () => false }, 'SIGTERM', 'exit'],
    ['idleness', {}, true, {}, 'idleTimeout', 'exit'],
  ])('%s: %s', (_name, options, webServerSocket, traits, reason, expected) => {
    expect(stopEnds(resolveLifecycle(options, webServerSocket, host(traits)), reason)).toBe(expected);
  });

  it('hears SIGINT only under PM2', () => {
    expect(stopSignals({})).toEqual(['SIGTERM']);
    expect(stopSignals({ PM2_HOME: '/x', pm_id: '0' })).toEqual(['SIGTERM', 'SIGINT']);
  });
});
