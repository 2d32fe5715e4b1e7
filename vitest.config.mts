import { defineConfig } from 'vitest/config';

// The tests that pack the package and install it as a new user compile a C library and the addon, which takes both
// cores for a while: they run after the others, so that the suites that bound time (concurrency, timeouts) never
// share the machine with a compiler.
const installs = ['test/package/install.test.ts', 'test/webservers/shared-hosting.test.ts'];

const common = { testTimeout: 60_000, hookTimeout: 60_000, pool: 'forks' } as const;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...common,
          name: 'suites',
          include: ['test/**/*.test.ts'],
          exclude: installs,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: { ...common, name: 'installs', include: installs, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
